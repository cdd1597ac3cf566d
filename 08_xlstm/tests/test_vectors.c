/* 08_xlstm/tests/test_vectors.c — golden vectors, the NumPy-written set at another shape,
 * the program's bad-input paths, and the task data.
 *
 *   vectors     th_vectors_tcase: regeneration matches vectors/08_xlstm, --check passes,
 *               a tampered output fails (exit 1), a malformed set exits 2
 *   numpy_set   reference/oracle.py writes a set at L = 33, d = 5, Ls = 17, 3 heads of 2,
 *               outputs computed by NumPy (unstabilized definitions); --check passes it
 *               (skipped with one line where /usr/bin/python3 has no NumPy)
 *   cli         bad flags, a bad chunk, a wrong R shape, a missing corpus: exit 2, one line
 *   tasks       parity targets are the running parity; corpus batches are next bytes */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#include "08_xlstm/xtasks.h"
#include "common/npy.h"
#include "common/testutil.h"
#include "common/util.h"

START_TEST(numpy_set_at_another_shape)
{
    char err[512], tmp[256], cmd[2048];
    if (th_run("/usr/bin/python3 -c 'import numpy' 2>/dev/null", err, sizeof err) != 0) {
        printf("numpy_set: skipped (no /usr/bin/python3 with NumPy: apt-get install python3-numpy)\n");
        return;
    }
    th_tmpdir(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/reference/oracle.py' vectors '%s/s' >/dev/null", STAGE_DIR, tmp);
    ck_assert_int_eq(th_run(cmd, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s/s' >/dev/null", PROG_PATH, tmp);
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--check on the NumPy set exited %d: %s", rc, err);
    /* a smaller shape too, chunk 1 */
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/reference/oracle.py' vectors '%s/t' 3 1 2 1 1 1 >/dev/null && '%s' --check '%s/t' >/dev/null",
             STAGE_DIR, tmp, PROG_PATH, tmp);
    rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--check on the small NumPy set exited %d: %s", rc, err);
}
END_TEST

START_TEST(cli_bad_inputs)
{
    char cmd[2048], tmp[256];
    snprintf(cmd, sizeof cmd, "'%s' --no-such-flag", PROG_PATH);
    ck_assert_exit2(cmd, "no-such-flag");
    snprintf(cmd, sizeof cmd, "'%s' --check /nonexistent/dir", PROG_PATH);
    ck_assert_exit2(cmd, "/nonexistent/dir");
    snprintf(cmd, sizeof cmd, "'%s' --corpus /nonexistent/text --out /tmp/xlstm-cli-%d", PROG_PATH, (int)getpid());
    ck_assert_exit2(cmd, "/nonexistent/text");
    /* a set whose chunk is 0 */
    th_tmpdir(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s/vectors/08_xlstm/.' '%s/'", ROOT_DIR, tmp);
    char err[256], path[400];
    ck_assert_int_eq(th_run(cmd, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/chunk.npy", tmp);
    int32_t zero = 0;
    npy_save(path, ELEM_I32, 1, (size_t[]){1}, &zero);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", PROG_PATH, tmp);
    ck_assert_exit2(cmd, "chunk");
    /* R with 3 heads of 3 where wx has ds = 6 */
    zero = 1;
    npy_save(path, ELEM_I32, 1, (size_t[]){1}, &zero);
    snprintf(path, sizeof path, "%s/R.npy", tmp);
    float R[4 * 3 * 3 * 3];
    for (int i = 0; i < 4 * 27; i++) R[i] = 0.1f * (float)(i % 7);
    npy_save(path, ELEM_F32, 4, (size_t[]){4, 3, 3, 3}, R);
    char sed[600];
    snprintf(sed, sizeof sed, "sed -i 's/\"shape\": \\[4, 2, 3, 3\\]/\"shape\": [4, 3, 3, 3]/' '%s/manifest.json'", tmp);
    ck_assert_int_eq(th_run(sed, err, sizeof err), 0);
    ck_assert_exit2(cmd, "must equal ds");
}
END_TEST

START_TEST(parity_targets)
{
    int tok[3 * 50], tgt[3 * 50];
    parity_batch(5, 17, 3, 50, tok, tgt);
    int ones = 0;
    for (int b = 0; b < 3; b++) {
        int p = 0;
        for (int t = 0; t < 50; t++) {
            int x = tok[b * 50 + t];
            ck_assert(x == 0 || x == 1);
            ones += x;
            p ^= x;
            ck_assert_int_eq(tgt[b * 50 + t], 2 + p);
        }
    }
    ck_assert(ones > 40 && ones < 110);   /* fair bits: 75 ± 4σ (σ ≈ 6.1) */
    int tok2[3 * 50], tgt2[3 * 50];
    parity_batch(5, 17, 3, 50, tok2, tgt2);
    ck_assert(!memcmp(tok, tok2, sizeof tok));   /* a function of (seed, step) */
}
END_TEST

START_TEST(corpus_next_bytes)
{
    char tmp[256], path[300];
    th_tmpdir(tmp, sizeof tmp);
    snprintf(path, sizeof path, "%s/text", tmp);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 3000; i++) fputc('a' + i % 26, f);
    fputc(0xE9, f);   /* a non-ASCII byte becomes '?' */
    fclose(f);
    corpus c;
    corpus_load(&c, path, 0.2, 100);
    ck_assert_int_eq((int)c.n, 3001);
    ck_assert_int_eq(c.text[3000], '?');
    int tok[4 * 20], tgt[4 * 20];
    for (int val = 0; val <= 1; val++) {
        corpus_batch(&c, val, 1, 3, 4, 20, tok, tgt);
        for (int i = 0; i < 80; i++) {
            ck_assert(tok[i] >= 0 && tok[i] < CORPUS_VOCAB);
            if (i % 20 < 19) ck_assert_int_eq(tgt[i], tok[i + 1]);
        }
    }
    corpus_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xlstm_vectors");
    suite_add_tcase(s, th_vectors_tcase());
    TCase *tc = tcase_create("program");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, numpy_set_at_another_shape);
    tcase_add_test(tc, cli_bad_inputs);
    tcase_add_test(tc, parity_targets);
    tcase_add_test(tc, corpus_next_bytes);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
