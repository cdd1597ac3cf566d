/* 08_xlstm/tests/test_gpu.c — the GPU kernels (gpu/xlstm_gpu.cu) against the CPU float64
 * reference (this file builds with real = double, TESTS_F64): the forwards (fp32 naive and
 * chunkwise mLSTM, bf16 tensor-core chunkwise mLSTM, fused sLSTM) and the backwards (chunkwise
 * mLSTM, sLSTM BPTT). Without CUDA or a GPU it prints why, in one line, and passes.
 * XGPU_QUICK=1 (compute-sanitizer) runs small shapes.
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

/* ---- backward: the chunkwise mLSTM backward against the CPU float64 backward of the
 * parallel form (mlstm_parallel_backward), dh random.
 * Tolerance: every gradient is a sum of ≤ L terms, each a product of d-term dot products,
 * accumulated in fp32 (the gate sums in float64): rounding ≤ (L + d)·ε₃₂ of the scale in the
 * worst case. Bound for dq, dk, dv: δ·max|grad| with δ = 2e-5 + 4e-7·L (twice the forward's:
 * two levels of sums). dĩ_s = k_s·dk_s: δ·max_s Σ_j |k_sj dk_sj|. df̃_j = σ(−f̃_j) Σ_{t≥j}
 * (q_t·dq_t − k_t·dk_t) is a running sum whose terms cancel (its total over all t is
 * exactly 0), so its error is the sum of the terms' errors: δ·Σ_t (Σ_j |q_tj dq_tj| +
 * |k_tj dk_tj|). A missing term or a wrong index is O(max|grad|). */
static void grad_err(const char *name, const float *got, const double *want, size_t n, double bound_scale,
                     double delta, const char *shape)
{
    double e = 0, sc = 0;
    for (size_t i = 0; i < n; i++) {
        e = isfinite(got[i]) ? fmax(e, fabs((double)got[i] - want[i])) : INFINITY;
        sc = fmax(sc, fabs(want[i]));
    }
    const double bound = delta * (bound_scale > 0 ? bound_scale : sc);
    printf("  %-4s max err %.2e (max|ref| %.2e, bound %.2e)\n", name, e, sc, bound);
    ck_assert_msg(e <= bound, "GPU backward %s at %s: error %.3e > %.3e", name, shape, e, bound);
}

START_TEST(mlstm_gpu_backward_against_cpu)
{
    const int quick = getenv("XGPU_QUICK") != NULL;
    const struct { int BH, L, d, chunk; double ig_sd; } cs[] = {
        {2, 1, 8, 16, 2}, {2, 7, 8, 4, 2}, {3, 64, 16, 16, 2}, {2, 65, 64, 64, 6}, {1, 300, 1, 16, 2},
        {2, 1000, 32, 64, 3}, {1, 777, 64, 128, 8}, {2, 513, 48, 32, 2}};
    const int nc = quick ? 3 : (int)(sizeof cs / sizeof *cs);
    for (int c = 0; c < nc; c++) {
        const int BH = cs[c].BH, L = cs[c].L, d = cs[c].d;
        rng_t r;
        rng_seed(&r, 1900 + c);
        const size_t n = (size_t)BH * L * d, ng = (size_t)BH * L;
        float *q = rndf(&r, n, 0, 1), *k = rndf(&r, n, 0, 1 / sqrt(d)), *v = rndf(&r, n, 0, 1);
        float *ig = rndf(&r, ng, 0, cs[c].ig_sd), *fg = rndf(&r, ng, 3, 1.5), *dh = rndf(&r, n, 0, 1);
        double *X = xmalloc_f64(4 * n + 2 * ng), *G = xcalloc(3 * n + 2 * ng, sizeof(double));
        double *qd = X, *kd = qd + n, *vd = kd + n, *dhd = vd + n, *igd = dhd + n, *fgd = igd + ng;
        double *gq = G, *gk = gq + n, *gv = gk + n, *gi = gv + n, *gf = gi + ng;
        for (size_t i = 0; i < n; i++) { qd[i] = q[i]; kd[i] = k[i]; vd[i] = v[i]; dhd[i] = dh[i]; }
        for (size_t i = 0; i < ng; i++) { igd[i] = ig[i]; fgd[i] = fg[i]; }
        for (int bh = 0; bh < BH; bh++) {
            const size_t o = (size_t)bh * L * d, og = (size_t)bh * L;
            mlstm_args a = {.L = L, .d_qk = d, .d_v = d, .ld = d, .ldg = 1, .q = qd + o, .k = kd + o,
                            .v = vd + o, .ig = igd + og, .fg = fgd + og};
            mlstm_grads g = {gq + o, gk + o, gv + o, gi + og, gf + og};
            mlstm_parallel_backward(&a, dhd + o, &g);
        }
        float *out = xmalloc_f32(3 * n + 2 * ng);
        th_poison_f32(out, 3 * n + 2 * ng);
        xgpu_mlstm_chunkwise_backward(BH, L, d, cs[c].chunk, q, k, v, ig, fg, dh, NULL, out, out + n,
                                      out + 2 * n, out + 3 * n, out + 3 * n + ng, NULL);
        double kdk = 0, sum_r = 0;   /* the running sum is per head: the largest head's */
        for (int bh = 0; bh < BH; bh++) {
            double head = 0;
            for (size_t row = (size_t)bh * L; row < (size_t)(bh + 1) * L; row++) {
                double a = 0, b = 0;
                for (int j = 0; j < d; j++) {
                    a += fabs(qd[row * d + j] * gq[row * d + j]);
                    b += fabs(kd[row * d + j] * gk[row * d + j]);
                }
                kdk = fmax(kdk, b);
                head += a + b;
            }
            sum_r = fmax(sum_r, head);
        }
        const double delta = 2e-5 + 4e-7 * L;
        char shape[96];
        snprintf(shape, sizeof shape, "BH=%d L=%d d=%d chunk=%d", BH, L, d, cs[c].chunk);
        printf("GPU mLSTM chunkwise backward %s (ĩ sd %.0f):\n", shape, cs[c].ig_sd);
        grad_err("dq", out, gq, n, 0, delta, shape);
        grad_err("dk", out + n, gk, n, 0, delta, shape);
        grad_err("dv", out + 2 * n, gv, n, 0, delta, shape);
        grad_err("dĩ", out + 3 * n, gi, ng, kdk, delta, shape);
        grad_err("df̃", out + 3 * n + ng, gf, ng, sum_r, delta, shape);
        free(q); free(k); free(v); free(ig); free(fg); free(dh); free(X); free(G); free(out);
    }
}
END_TEST

/* sLSTM BPTT against slstm_backward (float64). dwx: the forward's bound form, doubled (the
 * backward runs the same recurrence in reverse). dR = Σ_{b,t} dpre_t h_{t−1}ᵀ sums B·L
 * products: element bound δ·Σ_{b,t} |dpre||h_{t−1}| from the reference (the rounding of each
 * product adds at most δ of its magnitude). */
START_TEST(slstm_gpu_backward_against_cpu)
{
    const struct { int B, L, NH, dh; } cs[] = {{3, 1, 1, 1}, {2, 50, 2, 8}, {1, 200, 4, 64}, {2, 300, 3, 33}, {4, 97, 2, 17}};
    const int nc = getenv("XGPU_QUICK") ? 2 : (int)(sizeof cs / sizeof *cs);
    for (int c = 0; c < nc; c++)
        for (int expf = 0; expf <= 1; expf++) {
            const int B = cs[c].B, L = cs[c].L, NH = cs[c].NH, dh = cs[c].dh, d = NH * dh;
            rng_t r;
            rng_seed(&r, 1950 + c);
            const size_t nw = (size_t)B * L * 4 * d, nh = (size_t)B * L * d, nr = (size_t)4 * NH * dh * dh;
            float *wx = rndf(&r, nw, 0, 1), *R = rndf(&r, nr, 0, 1 / sqrt(dh)), *dy = rndf(&r, nh, 0, 1);
            float *gw = xmalloc_f32(nw), *gR = xmalloc_f32(nr);
            double *wxd = xmalloc_f64(nw), *Rd = xmalloc_f64(nr), *dyd = xmalloc_f64(nh), *h = xmalloc_f64(nh);
            double *rw = xcalloc(nw, sizeof(double)), *rR = xcalloc(nr, sizeof(double)), *absR = xcalloc(nr, sizeof(double));
            for (size_t i = 0; i < nw; i++) wxd[i] = wx[i];
            for (size_t i = 0; i < nr; i++) Rd[i] = R[i];
            for (size_t i = 0; i < nh; i++) dyd[i] = dy[i];
            slstm_cfg sc_ = {.d = d, .n_heads = NH, .exp_forget = expf};
            double *cache = xmalloc_f64(slstm_cache_size(&sc_, L));
            for (int b = 0; b < B; b++) {
                slstm_forward(&sc_, L, wxd + (size_t)b * L * 4 * d, Rd, 1, h + (size_t)b * L * d, cache);
                slstm_backward(&sc_, L, Rd, h + (size_t)b * L * d, cache, dyd + (size_t)b * L * d,
                               rw + (size_t)b * L * 4 * d, rR);
                for (int t = 1; t < L; t++)
                    for (int g = 0; g < 4; g++)
                        for (int hd = 0; hd < NH; hd++)
                            for (int i = 0; i < dh; i++)
                                for (int k = 0; k < dh; k++)
                                    absR[(((size_t)g * NH + hd) * dh + i) * dh + k] +=
                                        fabs(rw[((size_t)b * L + t) * 4 * d + (size_t)g * d + hd * dh + i]) *
                                        fabs(h[((size_t)b * L + t - 1) * d + hd * dh + k]);
            }
            th_poison_f32(gw, nw);
            th_poison_f32(gR, nr);
            xgpu_slstm_backward(B, L, NH, dh, expf, wx, R, dy, NULL, gw, gR, NULL);
            const double delta = 2 * (1e-5 + 2e-7 * L * (1 + dh / 8.0));
            char shape[96];
            snprintf(shape, sizeof shape, "B=%d L=%d %dx%d %s", B, L, NH, dh, expf ? "exp" : "sig");
            printf("GPU sLSTM backward %s:\n", shape);
            grad_err("dwx", gw, rw, nw, 0, delta, shape);
            double e = 0, worst = 0;
            for (size_t i = 0; i < nr; i++) {
                const double err = isfinite(gR[i]) ? fabs(gR[i] - rR[i]) : INFINITY;
                e = fmax(e, err);
                worst = fmax(worst, err / (delta * absR[i] + 1e-30));
                ck_assert_msg(err <= delta * absR[i] + 1e-30, "GPU sLSTM dR[%zu] at %s: error %.3e > %.3e", i,
                              shape, err, delta * absR[i]);
            }
            printf("  dR   max err %.2e (largest err/bound %.2f)\n", e, worst);
            free(wx); free(R); free(dy); free(gw); free(gR); free(wxd); free(Rd); free(dyd); free(h);
            free(rw); free(rR); free(absR); free(cache);
        }
}
END_TEST

/* ---- bf16 tensor cores: xgpu_mlstm_chunkwise_bf16 against the float64 parallel form on the
 * same bf16-rounded inputs (input rounding is then no error). What is rounded to bf16 inside:
 * P_ts (relative ≤ u = 2⁻⁸) and w_s k_s in the chunk state (relative ≤ u). Each changes h_ti
 * by at most u·M_ti, M_ti = Σ_s W_ts (Σ_j |q_tj||k_sj|) |v_si| / β_t (h with every product in
 * absolute value), so |err_ti| ≤ 2u·M_ti = 2⁻⁷·M_ti, plus the fp32 bound of the fp32 path. */
static void abs_magnitude(int L, int d, const double *q, const double *k, const double *v, const double *ig,
                          const double *fg, double *M)
{
    double *F = xmalloc_f64((size_t)L + 1), *W = xmalloc_f64((size_t)L);
    F[0] = 0;
    for (int t = 0; t < L; t++) F[t + 1] = F[t] + log_sigmoid(fg[t]);
    for (int t = 0; t < L; t++) {
        double m = -INFINITY, den = 0;
        for (int s = 0; s <= t; s++) m = fmax(m, F[t + 1] - F[s + 1] + ig[s]);
        for (int s = 0; s <= t; s++) {
            double S = 0;
            for (int j = 0; j < d; j++) S += q[(size_t)t * d + j] * k[(size_t)s * d + j];
            W[s] = exp(F[t + 1] - F[s + 1] + ig[s] - m);
            den += W[s] * S;
        }
        const double beta = fmax(fabs(den), exp(-m));
        for (int i = 0; i < d; i++) M[(size_t)t * d + i] = 0;
        for (int s = 0; s <= t; s++) {
            double Sa = 0;
            for (int j = 0; j < d; j++) Sa += fabs(q[(size_t)t * d + j] * k[(size_t)s * d + j]);
            for (int i = 0; i < d; i++) M[(size_t)t * d + i] += W[s] * Sa * fabs(v[(size_t)s * d + i]) / beta;
        }
    }
    free(F);
    free(W);
}

START_TEST(mlstm_gpu_bf16_against_cpu)
{
    const int quick = getenv("XGPU_QUICK") != NULL;
    const struct { int BH, L, d, chunk; } cs[] = {
        {2, 1, 16, 16}, {3, 64, 16, 16}, {2, 65, 64, 64}, {1, 333, 32, 32}, {2, 1000, 64, 64},
        {1, 777, 128, 64}, {2, 2048, 64, 64}, {1, 100, 48, 16}};
    const int nc = quick ? 3 : (int)(sizeof cs / sizeof *cs);
    for (int c = 0; c < nc; c++) {
        const int BH = cs[c].BH, L = cs[c].L, d = cs[c].d;
        rng_t r;
        rng_seed(&r, 2900 + c);
        const size_t n = (size_t)BH * L * d, ng = (size_t)BH * L;
        float *q = rndf(&r, n, 0, 1), *k = rndf(&r, n, 0, 1 / sqrt(d)), *v = rndf(&r, n, 0, 1);
        float *ig = rndf(&r, ng, 0, 2), *fg = rndf(&r, ng, 3, 1.5), *h = xmalloc_f32(n);
        xgpu_round_bf16(q, n);
        xgpu_round_bf16(k, n);
        xgpu_round_bf16(v, n);
        double *qd = xmalloc_f64(n), *kd = xmalloc_f64(n), *vd = xmalloc_f64(n), *ref = xmalloc_f64(n);
        double *M = xmalloc_f64(n), *igd = xmalloc_f64(ng), *fgd = xmalloc_f64(ng);
        for (size_t i = 0; i < n; i++) { qd[i] = q[i]; kd[i] = k[i]; vd[i] = v[i]; }
        for (size_t i = 0; i < ng; i++) { igd[i] = ig[i]; fgd[i] = fg[i]; }
        double hmax = 0;
        for (int bh = 0; bh < BH; bh++) {
            const size_t o = (size_t)bh * L * d, og = (size_t)bh * L;
            mlstm_args a = {.L = L, .d_qk = d, .d_v = d, .ld = d, .ldg = 1, .q = qd + o, .k = kd + o,
                            .v = vd + o, .ig = igd + og, .fg = fgd + og};
            mlstm_parallel(&a, ref + o);
            abs_magnitude(L, d, qd + o, kd + o, vd + o, igd + og, fgd + og, M + o);
        }
        for (size_t i = 0; i < n; i++) hmax = fmax(hmax, fabs(ref[i]));
        th_poison_f32(h, n);
        xgpu_mlstm_chunkwise_bf16(BH, L, d, cs[c].chunk, q, k, v, ig, fg, h);
        double e = 0, worst = 0, erel = 0;
        for (size_t i = 0; i < n; i++) {
            const double err = isfinite(h[i]) ? fabs(h[i] - ref[i]) : INFINITY;
            const double bound = 0x1p-7 * M[i] + (1e-5 + 2e-7 * L) * hmax;
            e = fmax(e, err);
            worst = fmax(worst, err / bound);
            ck_assert_msg(err <= bound, "GPU mLSTM bf16 BH=%d L=%d d=%d chunk=%d: h[%zu] error %.3e > %.3e", BH, L,
                          d, cs[c].chunk, i, err, bound);
        }
        erel = e / hmax;
        printf("GPU mLSTM bf16 tensor cores BH=%d L=%-4d d=%-3d chunk=%-2d: max err %.2e = %.1e of max|h| (largest err/bound %.2f)\n",
               BH, L, d, cs[c].chunk, e, erel, worst);
        free(q); free(k); free(v); free(ig); free(fg); free(h);
        free(qd); free(kd); free(vd); free(ref); free(M); free(igd); free(fgd);
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
    tcase_add_test(tc, mlstm_gpu_backward_against_cpu);
    tcase_add_test(tc, slstm_gpu_backward_against_cpu);
    tcase_add_test(tc, mlstm_gpu_bf16_against_cpu);
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
