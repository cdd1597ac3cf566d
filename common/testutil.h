/* common/testutil.h — helpers for the Check test suites.
 *
 *   ck_assert_allclose(got, want, n, rtol, atol)
 *       fails unless |got-want| <= atol + rtol*|want| everywhere; on failure the
 *       message names the first mismatching index, both values and the max errors.
 *   th_run(cmd, err, len)        run a shell command, capture stderr, return its exit code
 *   ck_assert_exit2(cmd, text)   the command exits 2 with one stderr line containing text
 *   th_poison_f64/f32            fill outputs with NaN before a function writes them
 *   th_run_suite(suite)          run a suite (CK_NORMAL) and return the process exit code
 *   th_vectors_tcase()           the standard golden-vector tests of a stage: regenerate
 *                                and compare with vectors/STAGE, --check passes on the
 *                                committed set, fails (exit 1) on a tampered output, and
 *                                exits 2 on a malformed directory. */
#ifndef COMMON_TESTUTIL_H
#define COMMON_TESTUTIL_H

#include <check.h>
#include <stddef.h>

void th_allclose(const char *file, int line, const char *expr, const double *got,
                 const double *want, size_t n, double rtol, double atol);
void th_allclose_f32(const char *file, int line, const char *expr, const float *got,
                     const double *want, size_t n, double rtol, double atol);
#define ck_assert_allclose(got, want, n, rtol, atol) \
    th_allclose(__FILE__, __LINE__, #got, (got), (want), (n), (rtol), (atol))
#define ck_assert_allclose_f32(got, want, n, rtol, atol) \
    th_allclose_f32(__FILE__, __LINE__, #got, (got), (want), (n), (rtol), (atol))

int th_run(const char *cmd, char *err, size_t errlen);
void th_assert_exit2(const char *file, int line, const char *cmd, const char *text);
#define ck_assert_exit2(cmd, text) th_assert_exit2(__FILE__, __LINE__, (cmd), (text))

void th_poison_f64(double *x, size_t n);
void th_poison_f32(float *x, size_t n);

/* A fresh temporary directory under /tmp (caller may leave it; tests clean up). */
void th_tmpdir(char *buf, size_t len);

int th_run_suite(Suite *s);

TCase *th_vectors_tcase_impl(const char *prog, const char *stage, const char *root);
#ifdef PROG_PATH
#define th_vectors_tcase() th_vectors_tcase_impl(PROG_PATH, STAGE_NAME, ROOT_DIR)
#endif

#endif
