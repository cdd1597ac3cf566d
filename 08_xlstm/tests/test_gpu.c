/* 08_xlstm/tests/test_gpu.c — the GPU kernels (gpu/xlstm_gpu.cu) against the CPU float64
 * reference (this file builds with real = double, TESTS_F64). Without CUDA or a GPU it
 * prints why, in one line, and passes. XGPU_QUICK=1 (compute-sanitizer) runs small shapes.
 *
 * Tolerance: the kernels compute in fp32 with the cumulative log forget gates in float64,
 * so each output is a sum of ≤ L fp32 terms of size ≤ max|h|·(a few): rounding ≤ L·ε₃₂
 * relative to the scale in the worst case (≈ 1e-4 at L = 1000), √L·ε₃₂ typically. Bound:
 * (1e-5 + 2e-7·L)·max|h|. The sLSTM recurrence adds ~10 fp32 roundings per step through
 * R (norm ~1): the same form of bound. A wrong index or a missing term is O(max|h|). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "08_xlstm/mlstm.h"
#include "08_xlstm/slstm.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"
#ifdef HAVE_CUDA
#include "08_xlstm/gpu/xlstm_gpu.h"
#endif

#ifdef HAVE_CUDA
static float *rndf(rng_t *r, size_t n, double mean, double sd)
{
    float *x = xmalloc_f32(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + sd * rng_normal(r));
    return x;
}

static double max_err(const float *got, const double *want, size_t n, double *scale)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        e = fmax(e, fabs((double)got[i] - want[i]));
        s = fmax(s, fabs(want[i]));
    }
    *scale = s;
    return e;
}

START_TEST(mlstm_gpu_against_cpu)
{
    const int quick = getenv("XGPU_QUICK") != NULL;
    const struct { int BH, L, d, chunk; } cs[] = {
        {3, 1, 8, 16}, {2, 7, 8, 4}, {4, 64, 16, 16}, {2, 65, 64, 64}, {1, 300, 1, 16},
        {2, 1000, 64, 64}, {1, 777, 32, 128}, {2, 2048, 64, 64}};
    const int nc = quick ? 4 : (int)(sizeof cs / sizeof *cs);
    for (int c = 0; c < nc; c++) {
        const int BH = cs[c].BH, L = cs[c].L, d = cs[c].d;
        rng_t r;
        rng_seed(&r, 900 + c);
        const size_t n = (size_t)BH * L * d;
        float *q = rndf(&r, n, 0, 1), *k = rndf(&r, n, 0, 1 / sqrt(d)), *v = rndf(&r, n, 0, 1);
        float *ig = rndf(&r, (size_t)BH * L, 0, 2), *fg = rndf(&r, (size_t)BH * L, 3, 1.5);
        double *qd = xmalloc_f64(n), *kd = xmalloc_f64(n), *vd = xmalloc_f64(n), *ref = xmalloc_f64(n);
        double *igd = xmalloc_f64((size_t)BH * L), *fgd = xmalloc_f64((size_t)BH * L);
        for (size_t i = 0; i < n; i++) { qd[i] = q[i]; kd[i] = k[i]; vd[i] = v[i]; }
        for (size_t i = 0; i < (size_t)BH * L; i++) { igd[i] = ig[i]; fgd[i] = fg[i]; }
        for (int bh = 0; bh < BH; bh++) {
            const size_t o = (size_t)bh * L * d;
            mlstm_args a = {.L = L, .d_qk = d, .d_v = d, .ld = d, .ldg = 1, .q = qd + o, .k = kd + o,
                            .v = vd + o, .ig = igd + (size_t)bh * L, .fg = fgd + (size_t)bh * L};
            mlstm_recurrent(&a, ref + o);
        }
        float *h = xmalloc_f32(n);
        for (int form = 0; form < 2; form++) {
            th_poison_f32(h, n);
            if (form == 0) xgpu_mlstm_naive(BH, L, d, q, k, v, ig, fg, h);
            else xgpu_mlstm_chunkwise(BH, L, d, cs[c].chunk, q, k, v, ig, fg, h);
            double sc, e = max_err(h, ref, n, &sc);
            const double bound = (1e-5 + 2e-7 * L) * sc;
            printf("GPU mLSTM %-9s BH=%d L=%-4d d=%-2d chunk=%-3d: max err %.2e (bound %.2e)\n",
                   form ? "chunkwise" : "naive", BH, L, d, cs[c].chunk, e, bound);
            ck_assert_msg(e <= bound, "GPU mLSTM form %d case %d: error %.3e > %.3e", form, c, e, bound);
        }
        free(q); free(k); free(v); free(ig); free(fg); free(h);
        free(qd); free(kd); free(vd); free(ref); free(igd); free(fgd);
    }
}
END_TEST

START_TEST(slstm_gpu_against_cpu)
{
    const struct { int B, L, NH, dh; } cs[] = {{3, 1, 1, 1}, {2, 50, 2, 8}, {1, 200, 4, 64}, {2, 300, 3, 33}};
    const int nc = getenv("XGPU_QUICK") ? 2 : 4;
    for (int c = 0; c < nc; c++)
        for (int expf = 0; expf <= 1; expf++) {
            const int B = cs[c].B, L = cs[c].L, NH = cs[c].NH, dh = cs[c].dh, d = NH * dh;
            rng_t r;
            rng_seed(&r, 950 + c);
            const size_t nw = (size_t)B * L * 4 * d, nh = (size_t)B * L * d, nr = (size_t)4 * NH * dh * dh;
            float *wx = rndf(&r, nw, 0, 1), *R = rndf(&r, nr, 0, 1 / sqrt(dh)), *h = xmalloc_f32(nh);
            double *wxd = xmalloc_f64(nw), *Rd = xmalloc_f64(nr), *ref = xmalloc_f64(nh);
            for (size_t i = 0; i < nw; i++) wxd[i] = wx[i];
            for (size_t i = 0; i < nr; i++) Rd[i] = R[i];
            slstm_cfg sc_ = {.d = d, .n_heads = NH, .exp_forget = expf};
            for (int b = 0; b < B; b++)
                slstm_forward(&sc_, L, wxd + (size_t)b * L * 4 * d, Rd, 1, ref + (size_t)b * L * d, NULL);
            th_poison_f32(h, nh);
            xgpu_slstm_fused(B, L, NH, dh, expf, wx, R, h);
            double sc, e = max_err(h, ref, nh, &sc);
            const double bound = (1e-5 + 2e-7 * L * (1 + dh / 8.0)) * sc;   /* dh-term dot products per step */
            printf("GPU sLSTM fused B=%d L=%-3d %dx%-2d %s: max err %.2e (bound %.2e)\n", B, L, NH, dh,
                   expf ? "exp" : "sig", e, bound);
            ck_assert_msg(e <= bound, "GPU sLSTM case %d expf %d: error %.3e > %.3e", c, expf, e, bound);
            free(wx); free(R); free(h); free(wxd); free(Rd); free(ref);
        }
}
END_TEST
#endif

#ifdef HAVE_CUDA
static Suite *gpu_suite(void)
{
    Suite *s = suite_create("xlstm_gpu");
    TCase *tc = tcase_create("gpu");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, mlstm_gpu_against_cpu);
    tcase_add_test(tc, slstm_gpu_against_cpu);
    suite_add_tcase(s, tc);
    return s;
}
#endif

/* --gpu: no GPU is a failure (make test skips with the reason) */
int main(int argc, char **argv)
{
    const int required = argc > 1 && strcmp(argv[1], "--gpu") == 0;
    return TH_GPU_SUITE("08_xlstm GPU suite", required, scan_gpu_available, scan_gpu_name, gpu_suite);
}
