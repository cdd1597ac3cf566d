/* 08_xlstm/tests/test_oracle.c — the cells against the NumPy oracle's golden set
 * (reference/oracle.py wrote reference/golden/ with NumPy; `make oracle` regenerates it).
 * The oracle computes mLSTM by the unstabilized definition (8.7) and sLSTM by (8.4) with
 * R as a full matrix: independent code, so agreement checks our math, not our rounding. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "08_xlstm/mlstm.h"
#include "08_xlstm/slstm.h"
#include "common/npy.h"
#include "common/testutil.h"
#include "common/util.h"

static double *load(const char *tag, const char *name, int ndim, size_t *shape)
{
    char p[512];
    snprintf(p, sizeof p, "%s/reference/golden/%s_%s.npy", STAGE_DIR, tag, name);
    return npy_load_f64(p, name, ndim, shape);
}

START_TEST(mlstm_against_numpy)
{
    const int Ls[] = {1, 7, 65, 200}, ds[] = {1, 8, 8, 16};
    for (int c = 0; c < 4; c++) {
        char tag[64];
        snprintf(tag, sizeof tag, "mlstm_L%d_d%d", Ls[c], ds[c]);
        size_t s2[2], s1[1];
        double *q = load(tag, "q", 2, s2), *k = load(tag, "k", 2, s2), *v = load(tag, "v", 2, s2);
        double *ig = load(tag, "ig", 1, s1), *fg = load(tag, "fg", 1, s1), *h = load(tag, "h", 2, s2);
        const int L = (int)s2[0], d = (int)s2[1];
        ck_assert_int_eq(L, Ls[c]);
        mlstm_args a = {.L = L, .d_qk = d, .d_v = d, .ld = d, .ldg = 1, .q = q, .k = k, .v = v,
                        .ig = ig, .fg = fg};
        size_t n = (size_t)L * d;
        double *got = xmalloc_f64(n);
        double sc = max_abs(h, n);
        for (int form = 0; form < 3; form++) {
            th_poison_f64(got, n);
            if (form == 0) mlstm_recurrent(&a, got);
            else if (form == 1) mlstm_parallel(&a, got);
            else mlstm_chunkwise(&a, 16, got);
            /* two float64 evaluations of the same sums in different orders: L·ε·scale;
             * 1e-12 relative to max|h| covers L = 200 with margin */
            ck_assert_allclose(got, h, n, 0, 1e-12 * sc);
        }
        free(got); free(q); free(k); free(v); free(ig); free(fg); free(h);
    }
}
END_TEST

START_TEST(slstm_against_numpy)
{
    for (int expf = 0; expf <= 1; expf++) {
        char tag[32];
        snprintf(tag, sizeof tag, "slstm_exp%d", expf);
        size_t s2[2], s4[4];
        double *wx = load(tag, "wx", 2, s2), *R = load(tag, "R", 4, s4), *h = load(tag, "h", 2, s2);
        slstm_cfg c = {.d = (int)s2[1], .n_heads = (int)s4[1], .exp_forget = expf};
        const int L = (int)s2[0];
        size_t n = (size_t)L * c.d;
        double *got = xmalloc_f64(n);
        th_poison_f64(got, n);
        slstm_forward(&c, L, wx, R, 1, got, NULL);
        /* a 40-step recurrence through R (norm ~1): error grows ~L·ε → 1e-12 of max|h| */
        ck_assert_allclose(got, h, n, 0, 1e-12 * max_abs(h, n));
        free(got); free(wx); free(R); free(h);
    }
}
END_TEST

START_TEST(lstm_against_numpy)
{
    size_t s[1];
    double *pre = load("lstm", "pre", 1, s), *cp = load("lstm", "c_prev", 1, s);
    double *c = load("lstm", "c", 1, s), *h = load("lstm", "h", 1, s);
    double gc[6], gh[6];
    lstm_cell(6, pre, cp, gc, gh);
    ck_assert_allclose(gc, c, 6, 1e-14, 0);   /* a few flops each: a few ε */
    ck_assert_allclose(gh, h, 6, 1e-14, 0);
    free(pre); free(cp); free(c); free(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xlstm_oracle");
    TCase *tc = tcase_create("numpy");
    tcase_add_test(tc, mlstm_against_numpy);
    tcase_add_test(tc, slstm_against_numpy);
    tcase_add_test(tc, lstm_against_numpy);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
