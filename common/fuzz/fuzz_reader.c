/* common/fuzz/fuzz_reader.c — a libFuzzer harness for one reader, chosen at build time
 * with -DFUZZ_KIND='"npy"' (or "json", "safetensors"). The input bytes go into a memfd
 * and the reader opens it by its /proc path, as it would open a file on disk: the same
 * code path as a program's, checks of the file's kind and length included. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fuzz/readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    char err[1024];
    if (fuzz_read(FUZZ_KIND, path, err, sizeof err) == -2) abort();
    return 0;
}
