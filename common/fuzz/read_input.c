/* common/fuzz/read_input.c — `read_input KIND FILE...`: run one reader on files, as a
 * program would (exit 2 and one line on the first bad file, 0 when all are valid).
 * The regression tests run it on every input in common/fuzz/regress/KIND/. */
#include <stdio.h>
#include <string.h>

#include "common/fuzz/readers.h"
#include "common/util.h"

int main(int argc, char **argv) {
    set_progname(argv[0]);
    if (argc < 3 || !strcmp(argv[1], "--help")) {
        printf("usage: read_input npy|json|safetensors FILE...\n"
               "Reads each file as the project's reader of that kind does; exit 2 and one line on the first bad one.\n");
        return argc < 3 ? 2 : 0;
    }
    char err[1024];
    for (int i = 2; i < argc; i++)
        if (fuzz_read(argv[1], argv[i], err, sizeof err) != 0) die(EXIT_BAD_INPUT, "%s", err);
    printf("%d file(s) valid\n", argc - 2);
    return 0;
}
