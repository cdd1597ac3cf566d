/* common/cli.h — command-line flags for every program.
 *
 * Flags are --name VALUE or --name=VALUE; --help prints the usage and exits 0.
 * An unknown flag, a missing or malformed value, or a stray positional argument
 * prints one line naming it and exits 2. Options are described by a table:
 *
 *     int n = 16; double dt = 0.01; const char *out = "out"; int quiet = 0;
 *     cli_opt opts[] = {
 *         {"N",     CLI_INT,    &n,     "state size"},
 *         {"dt",    CLI_DOUBLE, &dt,    "step"},
 *         {"out",   CLI_STRING, &out,   "output directory"},
 *         {"quiet", CLI_FLAG,   &quiet, "print less"},
 *         {0}};
 *     cli_parse(argc, argv, "summary line", opts);
 */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

typedef enum { CLI_END = 0, CLI_FLAG, CLI_INT, CLI_DOUBLE, CLI_STRING } cli_type;

typedef struct {
    const char *name;   /* without the leading "--" */
    cli_type type;
    void *dest;         /* int* (FLAG, INT), double*, const char** */
    const char *help;
} cli_opt;

/* Parses argv into the table's destinations; also sets the program name used by
 * die(). Integers must fit in int; doubles must parse completely (NaN/Inf are
 * rejected). */
void cli_parse(int argc, char **argv, const char *summary, const cli_opt *opts);

/* A flag's documented range (say it in the help text too): exit 2 with one line
 * "--flag: expected a value in [lo, hi], got v" when v is outside. Ranges keep the
 * work a flag can ask for bounded (steps, memory, output size). */
void cli_range(const char *flag, double v, double lo, double hi);

#endif
