/* common/util.h — small plumbing: errors, memory, time, progress, files, fits. */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes: 0 ok, 1 a check failed, 2 bad input (one line on stderr). */
#define EXIT_BAD_INPUT 2

void set_progname(const char *argv0);
const char *progname(void);
/* Print "prog: message" (one line; control characters escaped) on stderr and exit with `code`. */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

void *xmalloc(size_t bytes);             /* dies (exit 2) if the size is absurd or memory runs out */
void *xcalloc(size_t n, size_t size);    /* zeroed; checks n*size for overflow */
double *xmalloc_f64(size_t n);
float *xmalloc_f32(size_t n);

double now_seconds(void);                /* monotonic clock */

/* Progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct { const char *label; long total; double t0, last; int tty; } progress_t;
void progress_start(progress_t *p, const char *label, long total);
void progress_update(progress_t *p, long done, const char *extra);
void progress_end(progress_t *p);

/* Open a REGULAR file (not a FIFO, device or directory: those would block or never
 * end) of at most max_bytes for reading; *size gets its length, to check a format's
 * claims against before allocating. NULL and one line "PATH: problem" in err. */
FILE *fopen_regular(const char *path, size_t max_bytes, size_t *size, char *err, size_t errlen);

/* Create a directory and its parents; exit 2 with a message on failure. */
void mkdir_p(const char *path);
/* Join into a static-free buffer: snprintf that dies on truncation. */
void path_join(char *buf, size_t len, const char *dir, const char *name);

/* Atomic text output: write to "path.tmp.PID", then rename onto path. */
FILE *atomic_fopen(const char *path, char *tmp, size_t tmplen);
void atomic_fclose(FILE *f, const char *tmp, const char *path);  /* dies on error */

/* Exit 2 naming `what` and the index if any value is NaN or Inf. */
void require_finite(const char *what, const double *x, size_t n);

/* Least-squares slope of log(y) against log(x): the measured order of a method. */
double loglog_slope(const double *x, const double *y, size_t n);

/* Relative error measures: max|a-b| / max|b| (a "norm-wise" relative error). */
double max_abs_diff(const double *a, const double *b, size_t n);
double max_abs(const double *a, size_t n);
double rel_err(const double *a, const double *b, size_t n);

/* A stage's headline numbers for `make demo`: appends "stage\tmetric\tvalue" to
 * OUTDIR/summary.tsv (the program truncates it once at start with summary_reset). */
void summary_reset(const char *outdir);
void summary_add(const char *outdir, const char *metric, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The machine, for benchmark CSVs: "model name" of the CPU, core count. */
void machine_name(char *buf, size_t len);

#endif
