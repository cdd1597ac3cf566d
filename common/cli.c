/* common/cli.c — --flags for every program (see cli.h). */
#include "common/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static void usage(const char *summary, const cli_opt *opts) {
    printf("usage: %s [flags]\n%s\n\nflags:\n", progname(), summary);
    for (const cli_opt *o = opts; o->name; o++) {
        char left[64];
        const char *arg = o->type == CLI_INT ? " N" : o->type == CLI_DOUBLE ? " X" : o->type == CLI_STRING ? " S" : "";
        snprintf(left, sizeof left, "--%s%s", o->name, arg);
        printf("  %-24s %s", left, o->help);
        /* the help text may state the default itself (when 0 means "the computed one") */
        if (strstr(o->help, "(default")) { printf("\n"); continue; }
        if (o->type == CLI_INT) printf(" (default %d)", *(int *)o->dest);
        if (o->type == CLI_DOUBLE) printf(" (default %g)", *(double *)o->dest);
        if (o->type == CLI_STRING && *(const char **)o->dest) printf(" (default %s)", *(const char **)o->dest);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "print this help and exit");
}

static void set_value(const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->type) {
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end != 0 || errno || x < INT_MIN || x > INT_MAX)
            die(EXIT_BAD_INPUT, "--%s: expected an integer, got '%s'", o->name, v);
        *(int *)o->dest = (int)x;
        break;
    }
    case CLI_DOUBLE: {
        double x = strtod(v, &end);
        if (*v == 0 || *end != 0 || errno == ERANGE || !isfinite(x))
            die(EXIT_BAD_INPUT, "--%s: expected a finite number, got '%s'", o->name, v);
        *(double *)o->dest = x;
        break;
    }
    case CLI_STRING:
        if (*v == 0) die(EXIT_BAD_INPUT, "--%s: expected a non-empty value", o->name);
        *(const char **)o->dest = v;
        break;
    default:
        break;
    }
}

void cli_parse(int argc, char **argv, const char *summary, const cli_opt *opts) {
    set_progname(argv[0]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(summary, opts);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) die(EXIT_BAD_INPUT, "unexpected argument '%s' (flags start with --; see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = opts;
        for (; o->name; o++)
            if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) break;
        if (!o->name) die(EXIT_BAD_INPUT, "unknown flag '--%.*s' (see --help)", (int)len, name);
        if (o->type == CLI_FLAG) {
            if (eq) die(EXIT_BAD_INPUT, "--%s takes no value", o->name);
            *(int *)o->dest = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) die(EXIT_BAD_INPUT, "--%s: missing value", o->name);
        set_value(o, v);
    }
}

void cli_range(const char *flag, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) die(EXIT_BAD_INPUT, "--%s: expected a value in [%g, %g], got %g", flag, lo, hi, v);
}
