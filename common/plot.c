/* common/plot.c — .dat files and the gnuplot driver (see plot.h). */
#include "common/plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/util.h"

static void write_rows(FILE *f, size_t nrows, int ncols, const double *const *cols) {
    for (size_t r = 0; r < nrows; r++) {
        for (int c = 0; c < ncols; c++) fprintf(f, c ? " %.17g" : "%.17g", cols[c][r]);
        fputc('\n', f);
    }
}

void dat_write(const char *path, const char *header, size_t nrows, int ncols, const double *const *cols) {
    char tmp[4200];
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    fprintf(f, "# %s\n", header);
    write_rows(f, nrows, ncols, cols);
    atomic_fclose(f, tmp, path);
}

void dat_write_blocks(const char *path, const char *header, int nblocks, const size_t *nrows, int ncols,
                      const double *const *const *cols) {
    char tmp[4200];
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    fprintf(f, "# %s\n", header);
    for (int b = 0; b < nblocks; b++) {
        if (b) fprintf(f, "\n\n");
        write_rows(f, nrows[b], ncols, cols[b]);
    }
    atomic_fclose(f, tmp, path);
}

/* Quote a path for a gnuplot string literal inside a shell double-quoted -e argument. */
static int safe_path(const char *s) {
    for (; *s; s++)
        if (*s == '\'' || *s == '"' || *s == '\\' || *s == '$' || *s == '`') return 0;
    return 1;
}

int plot_run(const char *stage_dir, const char *name, const char *outdir) {
    static int have_gnuplot = -1;
    if (have_gnuplot < 0) {
        have_gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
        if (!have_gnuplot) fprintf(stderr, "%s: gnuplot not found; skipping plots (install gnuplot-nox)\n", progname());
    }
    if (!have_gnuplot) return -1;
    if (!safe_path(stage_dir) || !safe_path(outdir) || !safe_path(ROOT_DIR)) {
        fprintf(stderr, "%s: plot %s: path has quote characters; skipping\n", progname(), name);
        return -1;
    }
    static const char *exts[] = {"png", "svg"};
    for (int i = 0; i < 2; i++) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd,
                 "gnuplot -e \"outdir='%s'; ext='%s'; root='%s'; name='%s'\" '%s/plots/%s.gp' 2>&1",
                 outdir, exts[i], ROOT_DIR, name, stage_dir, name);
        FILE *p = popen(cmd, "r");
        if (!p) { fprintf(stderr, "%s: plot %s: cannot run gnuplot\n", progname(), name); return -1; }
        char line[1024], first[1024] = "";
        while (fgets(line, sizeof line, p))
            if (!first[0]) snprintf(first, sizeof first, "%s", line);
        int st = pclose(p);
        if (st != 0 || first[0]) {
            first[strcspn(first, "\n")] = 0;
            fprintf(stderr, "%s: plot %s.%s: gnuplot %s%s\n", progname(), name, exts[i],
                    st ? "failed: " : "warned: ", first[0] ? first : "(no message)");
            if (st) return -1;
        }
    }
    return 0;
}
