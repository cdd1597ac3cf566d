/* common/util.c — small plumbing: errors, memory, time, progress, files, fits. */
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_progname[64] = "ode-to-mamba";

void set_progname(const char *argv0) {
    const char *slash = strrchr(argv0, '/');
    snprintf(g_progname, sizeof g_progname, "%s", slash ? slash + 1 : argv0);
}

const char *progname(void) { return g_progname; }

void die(int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line, and no byte from a file may steer the terminal: control characters
     * (a '\r' read from a file, an escape sequence) are printed escaped. */
    char line[4 * sizeof msg];
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p >= 0x20 && *p != 0x7f) { line[w++] = (char)*p; continue; }
        const char *named = *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
        w += (size_t)(named ? snprintf(line + w, 4, "%s", named) : snprintf(line + w, 5, "\\x%02x", *p));
    }
    line[w] = 0;
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", g_progname, line);
    exit(code);
}

/* Allocations past 64 GiB are a shape error, not a request to honour. */
#define MAX_ALLOC ((size_t)64 << 30)

void *xmalloc(size_t bytes) {
    if (bytes > MAX_ALLOC) die(EXIT_BAD_INPUT, "refusing to allocate %zu bytes (absurd size)", bytes);
    void *p = malloc(bytes ? bytes : 1);
    if (!p) die(EXIT_BAD_INPUT, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    if (size && n > MAX_ALLOC / size) die(EXIT_BAD_INPUT, "refusing to allocate %zu x %zu bytes (absurd size)", n, size);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die(EXIT_BAD_INPUT, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

double *xmalloc_f64(size_t n) { return xcalloc(n, sizeof(double)); }
float *xmalloc_f32(size_t n) { return xcalloc(n, sizeof(float)); }

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress bar: stderr, only on a terminal, at most ~10 redraws a second ---- */

void progress_start(progress_t *p, const char *label, long total) {
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->t0 = p->last = now_seconds();
    p->tty = isatty(fileno(stderr));
}

void progress_update(progress_t *p, long done, const char *extra) {
    double t = now_seconds();
    if (!p->tty) {   /* a log file: one plain line every 30 s, so long runs can be followed */
        if (t - p->last < 30) return;
        p->last = t;
        fprintf(stderr, "%s %ld/%ld %.0fs %s\n", p->label, done, p->total, t - p->t0, extra ? extra : "");
        fflush(stderr);
        return;
    }
    if (done < p->total && t - p->last < 0.1) return;
    p->last = t;
    int width = 30, fill = (int)(width * (double)done / (double)p->total);
    if (fill > width) fill = width;
    double eta = done > 0 ? (t - p->t0) * (double)(p->total - done) / (double)done : 0.0;
    fprintf(stderr, "\r%-12s [", p->label);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %ld/%ld %5.1fs eta %5.1fs %s\033[K", done, p->total, t - p->t0, eta,
            extra ? extra : "");
    fflush(stderr);
}

void progress_end(progress_t *p) {
    if (p->tty) fprintf(stderr, "\r\033[K");
}

/* ---- files ---- */

FILE *fopen_regular(const char *path, size_t max_bytes, size_t *size, char *err, size_t errlen) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then says what it is. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        snprintf(err, errlen, "%s: file of %lld bytes is over the %zu this reader accepts", path, (long long)st.st_size, max_bytes);
        close(fd);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); close(fd); return NULL; }
    *size = (size_t)st.st_size;
    return f;
}

void mkdir_p(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) die(EXIT_BAD_INPUT, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) die(EXIT_BAD_INPUT, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) die(EXIT_BAD_INPUT, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) die(EXIT_BAD_INPUT, "%s: not a directory", buf);
}

void path_join(char *buf, size_t len, const char *dir, const char *name) {
    int n = snprintf(buf, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len) die(EXIT_BAD_INPUT, "path too long: %s/%s", dir, name);
}

FILE *atomic_fopen(const char *path, char *tmp, size_t tmplen) {
    int n = snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= tmplen) die(EXIT_BAD_INPUT, "path too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) die(EXIT_BAD_INPUT, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

void atomic_fclose(FILE *f, const char *tmp, const char *path) {
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        remove(tmp);
        die(EXIT_BAD_INPUT, "%s: write failed", path);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        die(EXIT_BAD_INPUT, "%s: cannot rename into place: %s", path, strerror(errno));
    }
}

void require_finite(const char *what, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) die(EXIT_BAD_INPUT, "%s: element %zu is %g (expected a finite number)", what, i, x[i]);
}

/* ---- fits and error measures ---- */

double loglog_slope(const double *x, const double *y, size_t n) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(x[i] > 0) || !(y[i] > 0)) continue;   /* log of a non-positive error is undefined */
        double lx = log(x[i]), ly = log(y[i]);
        sx += lx; sy += ly; sxx += lx * lx; sxy += lx * ly; m++;
    }
    if (m < 2) return NAN;
    double den = (double)m * sxx - sx * sx;
    return den != 0 ? ((double)m * sxy - sx * sy) / den : NAN;
}

double max_abs_diff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (d > m || isnan(d)) m = d;
    }
    return m;
}

double max_abs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m || isnan(a[i])) m = fabs(a[i]);
    return m;
}

double rel_err(const double *a, const double *b, size_t n) {
    double s = max_abs(b, n);
    return max_abs_diff(a, b, n) / (s > 0 ? s : 1.0);
}

/* ---- summary for make demo ---- */

void summary_reset(const char *outdir) {
    char path[4096];
    mkdir_p(outdir);
    path_join(path, sizeof path, outdir, "summary.tsv");
    FILE *f = fopen(path, "w");
    if (!f) die(EXIT_BAD_INPUT, "%s: cannot write: %s", path, strerror(errno));
    fclose(f);
}

void summary_add(const char *outdir, const char *metric, const char *fmt, ...) {
    char path[4096], value[512];
    path_join(path, sizeof path, outdir, "summary.tsv");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    FILE *f = fopen(path, "a");
    if (!f) die(EXIT_BAD_INPUT, "%s: cannot write: %s", path, strerror(errno));
#ifdef STAGE_NAME
    fprintf(f, "%s\t%s\t%s\n", STAGE_NAME, metric, value);
#else
    fprintf(f, "%s\t%s\t%s\n", g_progname, metric, value);
#endif
    fclose(f);
}

void machine_name(char *buf, size_t len) {
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    c++;
                    while (*c == ' ') c++;
                    c[strcspn(c, "\n")] = 0;
                    snprintf(model, sizeof model, "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    snprintf(buf, len, "%s, %ld cores", model, sysconf(_SC_NPROCESSORS_ONLN));
}
