/* 07_ssd_mamba2/tests/test_vectors07.c — the stage's golden vectors and its CLI.
 *
 *   standard        regeneration matches vectors/07_ssd_mamba2, --check passes, a tampered
 *                   output fails (exit 1), a malformed set exits 2 (th_vectors_tcase)
 *   transformers    --check grades vectors/07_ssd_mamba2/hf_mamba2, the debug state of
 *                   Hugging Face's Mamba2ForCausalLM (reference/hf_mamba2_debug_state.py),
 *                   at this build's float32 tolerances (test_mamba2_grad grades it in float64)
 *   numpy oracle    --check grades reference/golden, written by NumPy (reference/ssd_numpy.py)
 *                   at another shape than our set (L = 100, P = 3, N = 5): y and h_last
 *   bad input       dt <= 0, A >= 0, an inconsistent config, a bad flag: exit 2, one line */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/npy.h"
#include "common/testutil.h"
#include "common/util.h"

static void copy_set(const char *from, const char *to)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cp -r '%s/.' '%s/'", from, to);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(hf_debug_state_float32)
{
    char dir[4096], cmd[8192], err[4096];
    snprintf(dir, sizeof dir, "%s/vectors/07_ssd_mamba2/hf_mamba2", ROOT_DIR);
    if (access(dir, F_OK) != 0) {
        printf("hf_debug_state_float32: skipped: %s not committed yet (run the script on the GPU machine)\n", dir);
        return;
    }
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", PROG_PATH, dir);
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--check on transformers' debug state exited %d: %s", rc, err);
}
END_TEST

START_TEST(numpy_set_other_shape)
{
    char cmd[8192], err[4096];
    snprintf(cmd, sizeof cmd, "'%s' --check '%s/07_ssd_mamba2/reference/golden'", PROG_PATH, ROOT_DIR);
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--check on the NumPy set exited %d: %s", rc, err);
}
END_TEST

/* Overwrite one element of a float64 .npy in a copy of the set */
static void poke(const char *dir, const char *name, size_t i, double value)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    npy_array a;
    npy_read_or_die(path, &a);
    ck_assert(a.dtype == NPY_F64 && i < a.size);
    ((double *)a.data)[i] = value;
    npy_write_or_die(path, a.dtype, a.ndim, a.shape, a.data);
    npy_free(&a);
}

static void expect_exit2_after(const char *name, size_t i, double value, const char *text)
{
    char tmp[256], committed[4096], cmd[8192];
    th_tmpdir(tmp, sizeof tmp);
    snprintf(committed, sizeof committed, "%s/vectors/07_ssd_mamba2", ROOT_DIR);
    copy_set(committed, tmp);
    poke(tmp, name, i, value);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", PROG_PATH, tmp);
    ck_assert_exit2(cmd, text);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(bad_dt) { expect_exit2_after("dt", 3, -0.5, "expected > 0"); }
END_TEST
START_TEST(bad_A) { expect_exit2_after("A", 1, 0.25, "expected < 0"); }
END_TEST

START_TEST(bad_config)
{
    char tmp[256], committed[4096], cmd[8192], path[4200];
    th_tmpdir(tmp, sizeof tmp);
    snprintf(committed, sizeof committed, "%s/vectors/07_ssd_mamba2", ROOT_DIR);
    copy_set(committed, tmp);
    snprintf(path, sizeof path, "%s/config.npy", tmp);
    npy_array a;
    npy_read_or_die(path, &a);
    ((int64_t *)a.data)[4] = 5;      /* head_dim 5 does not divide d_inner 32 */
    npy_write_or_die(path, a.dtype, a.ndim, a.shape, a.data);
    npy_free(&a);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", PROG_PATH, tmp);
    ck_assert_exit2(cmd, "head_dim");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(bad_flags)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' --sections nope", PROG_PATH);
    ck_assert_exit2(cmd, "--sections");
    snprintf(cmd, sizeof cmd, "'%s' --d-model 17", PROG_PATH);
    ck_assert_exit2(cmd, "--d-model");
    snprintf(cmd, sizeof cmd, "'%s' --steps-mqar -3", PROG_PATH);
    ck_assert_exit2(cmd, "--steps-mqar");
}
END_TEST

static Suite *vectors_suite(void)
{
    Suite *s = suite_create("07_ssd_mamba2/vectors");
    TCase *t = tcase_create("cli");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, hf_debug_state_float32);
    tcase_add_test(t, numpy_set_other_shape);
    tcase_add_test(t, bad_dt);
    tcase_add_test(t, bad_A);
    tcase_add_test(t, bad_config);
    tcase_add_test(t, bad_flags);
    suite_add_tcase(s, t);
    suite_add_tcase(s, th_vectors_tcase());
    return s;
}

int main(void)
{
    return th_run_suite(vectors_suite());
}
