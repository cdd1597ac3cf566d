/* common/testutil.h — helpers for the Check test suites.
 *
 *   ck_assert_allclose(got, want, n, rtol, atol)
 *       fails unless |got-want| <= atol + rtol*|want| everywhere; on failure the
 *       message names the first mismatching index, both values and the max errors.
 *   th_run(cmd, err, len)        run a shell command, capture stderr, return its exit code
 *   th_run_child(fn, arg, err, len)  the same for a function, in a forked child
 *   ck_assert_exit2(cmd, text)   the command exits 2 with one stderr line containing text
 *   th_poison_f64/f32            fill outputs with NaN before a function writes them
 *   th_run_suite(suite)          run a suite (CK_NORMAL) and return the process exit code
 *   TH_GPU_SUITE(...)            a GPU suite: skipped (with why) without CUDA or a GPU
 *   gradcheck(loss, ctx, ...)    a hand-written backward against central differences
 *   ck_assert_grades(prog, w)    --check passes a set an independent writer made, fails garbage
 *   th_vectors_tcase()           the standard golden-vector tests of a stage: regenerate
 *                                and compare with vectors/STAGE, --check passes on the
 *                                committed set, fails (exit 1) on a tampered output, and
 *                                exits 2 on a malformed directory. */
#ifndef COMMON_TESTUTIL_H
#define COMMON_TESTUTIL_H

#include <check.h>
#include <stddef.h>

#include "common/real.h"

void th_allclose(const char *file, int line, const char *expr, const double *got,
                 const double *want, size_t n, double rtol, double atol);
void th_allclose_f32(const char *file, int line, const char *expr, const float *got,
                     const double *want, size_t n, double rtol, double atol);
#define ck_assert_allclose(got, want, n, rtol, atol) \
    th_allclose(__FILE__, __LINE__, #got, (got), (want), (n), (rtol), (atol))
#define ck_assert_allclose_f32(got, want, n, rtol, atol) \
    th_allclose_f32(__FILE__, __LINE__, #got, (got), (want), (n), (rtol), (atol))

int th_run(const char *cmd, char *err, size_t errlen);
/* Run fn(arg) in a forked child, its stderr into err; returns its exit code (-1 if it did
 * not exit): for functions that exit 2 on bad input (leak checks stay on in the child). */
int th_run_child(void (*fn)(void *), void *arg, char *err, size_t errlen);
void th_assert_exit2(const char *file, int line, const char *cmd, const char *text);
#define ck_assert_exit2(cmd, text) th_assert_exit2(__FILE__, __LINE__, (cmd), (text))

void th_poison_f64(double *x, size_t n);
void th_poison_f32(float *x, size_t n);

/* A fresh temporary directory under /tmp (caller may leave it; tests clean up). */
void th_tmpdir(char *buf, size_t len);

int th_run_suite(Suite *s);

/* The opening every GPU suite shares (06's scan, 06/lm, 08). TH_GPU_SUITE(label, required,
 * available, name, make): where the build has no CUDA or available(why, len) finds no
 * usable GPU, prints "<label>: SKIPPED: <why>" (FAILED when required: `make test-gpu`'s
 * --gpu) and returns 0 (1 when required); else prints "<label> on <name()>", builds the
 * suite with make() and runs it in this process (CK_NOFORK: a CUDA context does not
 * survive fork()); returns the exit code. available and name are the stage's probes
 * (scan_gpu_available, scan_gpu_name of 06_hw_aware_cuda/scan/scan_gpu.h), passed in so
 * that this file stays free of CUDA; without CUDA neither they nor make are referenced.
 * NO_CUDA_REASON comes from common/cuda.mk. */
typedef int (*th_gpu_probe_fn)(char *why, size_t len);
typedef void (*th_gpu_name_fn)(char *buf, size_t len);
int th_run_gpu_suite(const char *label, int required, th_gpu_probe_fn available,
                     th_gpu_name_fn name, Suite *(*make)(void));
int th_skip_gpu_suite(const char *label, int required, const char *why);
#ifdef HAVE_CUDA
#define TH_GPU_SUITE(label, required, available, name, make) \
    th_run_gpu_suite((label), (required), (available), (name), (make))
#else
#define TH_GPU_SUITE(label, required, available, name, make) \
    th_skip_gpu_suite((label), (required), "this build has no CUDA (" NO_CUDA_REASON ")")
#endif

/* finite-difference gradient check (in `real`, built with the test).
 * loss(ctx) recomputes the scalar loss from the current parameter values. For up to
 * `max_checks` entries of param (evenly spaced), compares the central difference
 * (loss(p+h) - loss(p-h)) / 2h with analytic[i]. Returns the largest
 * |num - ana| / max(|num| + |ana|, floor): a symmetric relative error that does
 * not blow up on entries whose gradient is ~0. Meaningful only in double builds. */
typedef double (*gradcheck_loss_fn)(void *ctx);
double gradcheck(gradcheck_loss_fn loss, void *ctx, real *param, const real *analytic,
                 size_t n, double h, size_t max_checks, double floor);

/* An independent implementation grades: `writer OUT` (e.g. a NumPy script) writes a vector
 * set into a fresh directory and `prog --check OUT` must exit 0; `writer OUT --garbage`
 * writes wrong outputs with a manifest asking for loose tolerances, and --check must exit
 * 1. The Python interpreter that has Debian's python3-numpy is TH_PYTHON. */
#define TH_PYTHON "/usr/bin/python3"
void th_assert_grades(const char *file, int line, const char *prog, const char *writer);
#define ck_assert_grades(prog, writer) th_assert_grades(__FILE__, __LINE__, (prog), (writer))

TCase *th_vectors_tcase_impl(const char *prog, const char *stage, const char *root);
#ifdef PROG_PATH
#define th_vectors_tcase() th_vectors_tcase_impl(PROG_PATH, STAGE_NAME, ROOT_DIR)
#endif

#endif
