/* 08_xlstm/tests/test_stab32.c — the stabilizer in float32 (the models' precision).
 * exp(80) = 5.5e34 is finite in float32 (max 3.4e38) but two steps of an exponential
 * forget gate at +80 multiply the state by e^{80} again and overflow; the stabilized
 * (8.6) only ever exponentiates numbers ≤ 0. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "08_xlstm/mlstm.h"
#include "08_xlstm/slstm.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

START_TEST(slstm_80_float32)
{
    const int L = 30, d = 8;
    slstm_cfg c = {.d = d, .n_heads = 2, .exp_forget = 1};
    rng_t r;
    rng_seed(&r, 80);
    float *wx = xmalloc_f32((size_t)L * 4 * d), *R = calloc((size_t)4 * 2 * 4 * 4, sizeof(float));
    rng_fill_normal_f32(&r, wx, (size_t)L * 4 * d, 0, 1);
    for (int i = 0; i < L * 4 * d; i++) wx[i] = wx[i] > 0 ? 80.f : -80.f;
    float *hu = xmalloc_f32((size_t)L * d), *hs = xmalloc_f32((size_t)L * d);
    slstm_forward(&c, L, wx, R, 0, hu, NULL);
    slstm_forward(&c, L, wx, R, 1, hs, NULL);
    int bad = 0;
    for (int i = 0; i < L * d; i++) {
        ck_assert_msg(isfinite(hs[i]), "stabilized float32 sLSTM non-finite at %d", i);
        if (!isfinite(hu[i])) { bad++; continue; }
        /* a few float32 roundings per step: 1e-5 relative (≈ 100 ε₃₂) */
        ck_assert_msg(fabsf(hu[i] - hs[i]) <= 1e-5f * fmaxf(1, fabsf(hs[i])), "h[%d] %g vs %g", i,
                      hu[i], hs[i]);
    }
    ck_assert_msg(bad > 0, "expected the float32 unstabilized sLSTM to overflow at +-80");
    printf("float32 sLSTM +-80: unstabilized non-finite %d of %d, stabilized all finite\n", bad, L * d);
    free(wx); free(R); free(hu); free(hs);
}
END_TEST

START_TEST(mlstm_80_float32)
{
    const int L = 64, d = 8;
    rng_t r;
    rng_seed(&r, 81);
    float *q = xmalloc_f32((size_t)L * d), *k = xmalloc_f32((size_t)L * d), *v = xmalloc_f32((size_t)L * d);
    float *ig = xmalloc_f32(L), *fg = xmalloc_f32(L);
    rng_fill_normal_f32(&r, q, (size_t)L * d, 0, 1);
    rng_fill_normal_f32(&r, k, (size_t)L * d, 0, 0.35f);
    rng_fill_normal_f32(&r, v, (size_t)L * d, 0, 1);
    for (int t = 0; t < L; t++) { ig[t] = (t % 3) ? -80.f : 80.f; fg[t] = 80.f; }
    mlstm_args a = {.L = L, .d_qk = d, .d_v = d, .ld = d, .ldg = 1, .q = q, .k = k, .v = v, .ig = ig, .fg = fg};
    float *h[3];
    for (int f = 0; f < 3; f++) h[f] = xmalloc_f32((size_t)L * d);
    mlstm_recurrent(&a, h[0]);
    mlstm_parallel(&a, h[1]);
    mlstm_chunkwise(&a, 16, h[2]);
    double *ref = xmalloc_f64((size_t)L * d);
    for (int i = 0; i < L * d; i++) ref[i] = h[0][i];
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < L * d; i++) ck_assert_msg(isfinite(h[f][i]), "form %d non-finite at %d", f, i);
    /* float32 forms agree to float32 rounding of sums of ≤ L terms: 1e-4 of the scale */
    ck_assert_allclose_f32(h[1], ref, (size_t)L * d, 0, 1e-4 * max_abs(ref, (size_t)L * d));
    ck_assert_allclose_f32(h[2], ref, (size_t)L * d, 0, 1e-4 * max_abs(ref, (size_t)L * d));
    for (int f = 0; f < 3; f++) free(h[f]);
    free(q); free(k); free(v); free(ig); free(fg); free(ref);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xlstm_stab32");
    TCase *tc = tcase_create("float32");
    tcase_add_test(tc, slstm_80_float32);
    tcase_add_test(tc, mlstm_80_float32);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
