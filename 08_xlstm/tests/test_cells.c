/* 08_xlstm/tests/test_cells.c — the cells in float64 (REAL = double, TESTS_F64).
 *
 *   forms       mLSTM recurrent (8.8), parallel (8.9), chunkwise (8.10)–(8.11) agree to
 *               1e-12 relative for L ∈ {1, 7, 64, 65, 1000}, chunk ∈ {1, 16, 64, L},
 *               head dims {1, 8, 64}
 *   stabilizer  sLSTM: pre-activations driven to ±80, the unstabilized (8.4) overflows,
 *               the stabilized (8.6) stays finite and equals it wherever both are finite;
 *               mLSTM: the same for its three forms against a direct (8.7)
 *   heads       the block-diagonal R mixes units only within a head
 *   grads       mLSTM parallel backward and sLSTM BPTT against finite differences; the
 *               chunkwise backward (8.15)–(8.17) against the parallel backward
 *   gpu sizes   the GPU entry points refuse sizes their kernels cannot take with exit code 2
 *               and one line; the checks run on the host before any CUDA call, so these
 *               run without a GPU wherever the CUDA parts are built */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "08_xlstm/gpu/xlstm_gpu.h"
#include "08_xlstm/mlstm.h"
#include "08_xlstm/slstm.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

static double *rnd(rng_t *r, size_t n, double mean, double std)
{
    double *x = xmalloc_f64(n);
    rng_fill_normal(r, x, n, mean, std);
    return x;
}

/* One random mLSTM problem: q, k, v (L, d) with k scaled by 1/√d as the block does,
 * ĩ ~ N(0, 1), f̃ ~ N(3, 1) (forget gates mostly open, as xLSTM initialises them). */
typedef struct { int L, d; double *q, *k, *v, *ig, *fg; mlstm_args a; } mprob;

static void mprob_make(mprob *p, int L, int d, uint64_t seed, double ig_std, double fg_mean)
{
    rng_t r;
    rng_seed(&r, seed);
    p->L = L; p->d = d;
    p->q = rnd(&r, (size_t)L * d, 0, 1);
    p->k = rnd(&r, (size_t)L * d, 0, 1 / sqrt((double)d));
    p->v = rnd(&r, (size_t)L * d, 0, 1);
    p->ig = rnd(&r, (size_t)L, 0, ig_std);
    p->fg = rnd(&r, (size_t)L, fg_mean, 1);
    p->a = (mlstm_args){.L = L, .d_qk = d, .d_v = d, .ld = d, .ldg = 1, .q = p->q, .k = p->k,
                        .v = p->v, .ig = p->ig, .fg = p->fg};
}

static void mprob_free(mprob *p) { free(p->q); free(p->k); free(p->v); free(p->ig); free(p->fg); }

/* ---- forms ---- */

START_TEST(mlstm_three_forms_agree)
{
    const int Ls[] = {1, 7, 64, 65, 1000}, ds[] = {1, 8, 64};
    double worst = 0;
    for (int li = 0; li < 5; li++)
        for (int di = 0; di < 3; di++) {
            const int L = Ls[li], d = ds[di];
            mprob p;
            mprob_make(&p, L, d, 100 + li * 7 + di, 1, 3);
            size_t n = (size_t)L * d;
            double *hr = xmalloc_f64(n), *hp = xmalloc_f64(n), *hc = xmalloc_f64(n);
            th_poison_f64(hr, n);
            th_poison_f64(hp, n);
            mlstm_recurrent(&p.a, hr);
            mlstm_parallel(&p.a, hp);
            double scale = max_abs(hr, n);
            /* rounding only: each output is a sum of ≤ L terms through exp of cumulative
             * log gates (|F| ≲ 0.05·L), error ≲ (L + |F|)·ε·scale ≈ 3e-13 at L = 1000;
             * 1e-12 is the bound and holds with that margin */
            ck_assert_allclose(hp, hr, n, 0, 1e-12 * scale);
            worst = fmax(worst, max_abs_diff(hp, hr, n) / scale);
            const int chunks[] = {1, 16, 64, L};
            for (int ci = 0; ci < 4; ci++) {
                th_poison_f64(hc, n);
                mlstm_chunkwise(&p.a, chunks[ci], hc);
                ck_assert_allclose(hc, hr, n, 0, 1e-12 * scale);
                worst = fmax(worst, max_abs_diff(hc, hr, n) / scale);
            }
            free(hr); free(hp); free(hc);
            mprob_free(&p);
        }
    printf("mLSTM forms: worst max|diff|/max|h| over L x chunk x d = %.2e\n", worst);
}
END_TEST

/* (8.7) directly, unstabilized: the definition the three forms compute. */
static void mlstm_direct(const mprob *p, double *h)
{
    const int d = p->d;
    double *C = calloc((size_t)d * d, sizeof(double)), *n = calloc((size_t)d, sizeof(double));
    for (int t = 0; t < p->L; t++) {
        double f = 1 / (1 + exp(-p->fg[t])), i = exp(p->ig[t]);
        const double *q = p->q + (size_t)t * d, *k = p->k + (size_t)t * d, *v = p->v + (size_t)t * d;
        double den = 0;
        for (int a = 0; a < d; a++) {
            for (int b = 0; b < d; b++) C[a * d + b] = f * C[a * d + b] + i * v[a] * k[b];
            n[a] = f * n[a] + i * k[a];
        }
        for (int b = 0; b < d; b++) den += n[b] * q[b];
        den = fmax(fabs(den), 1);
        for (int a = 0; a < d; a++) {
            double s = 0;
            for (int b = 0; b < d; b++) s += C[a * d + b] * q[b];
            h[(size_t)t * d + a] = s / den;
        }
    }
    free(C);
    free(n);
}

START_TEST(mlstm_forms_equal_definition)
{
    /* moderate gates (ĩ ~ N(0,1)): (8.7) computed directly does not overflow */
    mprob p;
    mprob_make(&p, 50, 8, 5, 1, 3);
    size_t n = 50 * 8;
    double *h0 = xmalloc_f64(n), *h1 = xmalloc_f64(n);
    mlstm_direct(&p, h0);
    th_poison_f64(h1, n);
    mlstm_recurrent(&p.a, h1);
    /* same arithmetic up to the e^{m} scaling: rounding, L·ε·scale with margin */
    ck_assert_allclose(h1, h0, n, 0, 1e-12 * max_abs(h0, n));
    free(h0); free(h1);
    mprob_free(&p);
}
END_TEST

START_TEST(mlstm_stabilizer_80)
{
    /* ĩ = ±80 alternating, f̃ = +80: e^{ĩ} = 5.5e34 per step; the direct form's
     * C and n grow as Σ e^{80}… and its ratio stays finite in float64 for these L,
     * but e^{ĩ} at ĩ = 800 overflows: drive one step to 800 and compare */
    mprob p;
    const int L = 40, d = 8;
    mprob_make(&p, L, d, 9, 1, 3);
    for (int t = 0; t < L; t++) { p.ig[t] = (t % 2) ? -80 : 80; p.fg[t] = 80; }
    p.ig[20] = 800;
    size_t n = (size_t)L * d;
    double *h0 = xmalloc_f64(n), *hr = xmalloc_f64(n), *hp = xmalloc_f64(n), *hc = xmalloc_f64(n);
    mlstm_direct(&p, h0);
    mlstm_recurrent(&p.a, hr);
    mlstm_parallel(&p.a, hp);
    mlstm_chunkwise(&p.a, 16, hc);
    int nonfinite_direct = 0;
    for (size_t i = 0; i < n; i++) {
        nonfinite_direct += !isfinite(h0[i]);
        ck_assert_msg(isfinite(hr[i]) && isfinite(hp[i]) && isfinite(hc[i]),
                      "stabilized mLSTM produced a non-finite value at %zu", i);
    }
    ck_assert_msg(nonfinite_direct > 0, "expected the unstabilized (8.7) to overflow at ĩ = 800");
    /* before step 20 both are finite: equal up to rounding (20 steps, ε·20·scale ≪ 1e-12) */
    size_t n20 = (size_t)20 * d;
    double sc = max_abs(h0, n20);
    ck_assert_allclose(hr, h0, n20, 0, 1e-12 * sc);
    ck_assert_allclose(hp, hr, n, 0, 1e-12 * max_abs(hr, n));
    ck_assert_allclose(hc, hr, n, 0, 1e-12 * max_abs(hr, n));
    printf("mLSTM at i~=800: direct form %d of %zu outputs non-finite; stabilized forms finite\n",
           nonfinite_direct, n);
    free(h0); free(hr); free(hp); free(hc);
    mprob_free(&p);
}
END_TEST

/* ---- sLSTM ---- */

typedef struct { slstm_cfg c; int L; double *wx, *R, *dh; } sprob;

static void sprob_make(sprob *p, int L, int d, int heads, int expf, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    p->c = (slstm_cfg){.d = d, .n_heads = heads, .exp_forget = expf};
    p->L = L;
    p->wx = rnd(&r, (size_t)L * 4 * d, 0, 1);
    int dh = d / heads;
    p->R = rnd(&r, (size_t)4 * heads * dh * dh, 0, 1 / sqrt((double)dh));
    p->dh = rnd(&r, (size_t)L * d, 0, 1);
}
static void sprob_free(sprob *p) { free(p->wx); free(p->R); free(p->dh); }

START_TEST(slstm_stabilizer_80)
{
    /* pre-activations ±80 (random signs): exp(80) = 5.5e34 per step, so the unstabilized
     * states multiply by up to e^{80} per step and overflow float64 (1.8e308 ≈ e^{709})
     * after ~9 steps; the stabilized form never exponentiates a positive number */
    for (int expf = 0; expf <= 1; expf++) {
        sprob p;
        const int L = 30, d = 8;
        sprob_make(&p, L, d, 2, expf, 11);
        for (size_t i = 0; i < (size_t)L * 4 * d; i++) p.wx[i] = p.wx[i] > 0 ? 80 : -80;
        for (size_t i = 0; i < (size_t)L * d; i++) {   /* f̃ = +80 mostly: the gate stays open */
            size_t t = i / d, j = i % d;
            p.wx[t * 4 * d + d + j] = 80;
        }
        memset(p.R, 0, (size_t)4 * 2 * 4 * 4 * sizeof(double));  /* R = 0: pre = ±80 exactly */
        size_t n = (size_t)L * d;
        double *hu = xmalloc_f64(n), *hs = xmalloc_f64(n);
        slstm_forward(&p.c, L, p.wx, p.R, 0, hu, NULL);
        slstm_forward(&p.c, L, p.wx, p.R, 1, hs, NULL);
        int bad_u = 0, both = 0;
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(isfinite(hs[i]), "stabilized sLSTM non-finite at %zu", i);
            if (!isfinite(hu[i])) { bad_u++; continue; }
            both++;
            /* one step of rounding per state update, relative: 1e-12 ≫ L·ε */
            ck_assert_msg(fabs(hu[i] - hs[i]) <= 1e-12 * fmax(1, fabs(hs[i])),
                          "h[%zu]: unstabilized %.17g vs stabilized %.17g", i, hu[i], hs[i]);
        }
        if (expf) ck_assert_msg(bad_u > 0, "expected the unstabilized sLSTM to overflow");
        printf("sLSTM +-80 (%s forget): unstabilized non-finite %d of %zu, equal on the %d finite\n",
               expf ? "exp" : "sigmoid", bad_u, n, both);
        free(hu); free(hs);
        sprob_free(&p);
    }
}
END_TEST

START_TEST(slstm_stabilized_equals_unstabilized)
{
    sprob p;
    const int L = 100, d = 12;
    sprob_make(&p, L, d, 3, 1, 12);
    for (size_t t = 0; t < (size_t)L; t++)      /* f̃ around 0 with exp forget: no overflow */
        for (int j = 0; j < d; j++) p.wx[t * 4 * d + d + j] *= 0.1;
    size_t n = (size_t)L * d;
    double *hu = xmalloc_f64(n), *hs = xmalloc_f64(n);
    slstm_forward(&p.c, L, p.wx, p.R, 0, hu, NULL);
    slstm_forward(&p.c, L, p.wx, p.R, 1, hs, NULL);
    /* a recurrence of L steps through R (spectral radius ~1): L·ε growth ≈ 2e-14 */
    ck_assert_allclose(hs, hu, n, 0, 1e-11 * max_abs(hu, n));
    free(hu); free(hs);
    sprob_free(&p);
}
END_TEST

START_TEST(slstm_heads_block_diagonal)
{
    /* perturb the input of head 0 at t = 0: heads 1.. must not change at any time */
    sprob p;
    const int L = 20, d = 12, H = 3, dh = 4;
    sprob_make(&p, L, d, H, 0, 13);
    size_t n = (size_t)L * d;
    double *h1 = xmalloc_f64(n), *h2 = xmalloc_f64(n);
    slstm_forward(&p.c, L, p.wx, p.R, 1, h1, NULL);
    for (int g = 0; g < 4; g++) p.wx[g * d + 1] += 0.5;
    slstm_forward(&p.c, L, p.wx, p.R, 1, h2, NULL);
    int moved0 = 0;
    for (int t = 0; t < L; t++)
        for (int j = 0; j < d; j++) {
            double diff = fabs(h1[t * d + j] - h2[t * d + j]);
            if (j < dh) moved0 += diff > 1e-6;
            else ck_assert_msg(diff == 0, "head %d unit %d changed at t=%d", j / dh, j, t);
        }
    ck_assert_msg(moved0 > dh, "head 0 should mix the perturbation across its units");
    free(h1); free(h2);
    sprob_free(&p);
}
END_TEST

START_TEST(lstm_cell_equations)
{
    /* (8.1) at chosen values: i=f=o=σ(0)=½, z=tanh(0)=0 → c = ½c₋₁, h = ½ tanh(c) */
    double pre[8] = {0, 0, 0, 0, 0, 0, 0, 0}, cp[2] = {1, -2}, c[2], h[2];
    lstm_cell(2, pre, cp, c, h);
    ck_assert_double_eq_tol(c[0], 0.5, 1e-15);
    ck_assert_double_eq_tol(c[1], -1.0, 1e-15);
    ck_assert_double_eq_tol(h[1], 0.5 * tanh(-1.0), 1e-15);
}
END_TEST

/* ---- gradients: ℓ = Σ dh ⊙ h with fixed random dh. Central differences with step
 * 1e-5: truncation ~h²|ℓ'''| ≈ 1e-10, rounding ~ε|ℓ|/h ≈ 1e-10 absolute. Some entries
 * have gradients of 1e-7 (an early q barely moves a late output), where that noise alone
 * is 1e-3 relative; so the relative error is measured against a floor of 1e-3 of the
 * tensor's largest gradient (noise/floor ≈ 1e-7). 1e-6 then leaves an order of margin,
 * and a wrong term anywhere above the floor shows as O(1). ---- */
static double gfloor(const double *g, size_t n) { return 1e-3 * max_abs(g, n); }

typedef struct { mprob p; double *dh, *h; } mctx;
static double mloss(void *v)
{
    mctx *c = v;
    mlstm_parallel(&c->p.a, c->h);
    double l = 0;
    for (size_t i = 0; i < (size_t)c->p.L * c->p.d; i++) l += c->dh[i] * c->h[i];
    return l;
}

START_TEST(mlstm_parallel_grad)
{
    for (int big = 0; big <= 1; big++) {
        mctx c;
        /* big = 1: ĩ ~ N(0, 8) makes |n·q| win the max in (8.9) for most rows (the
         * max's other branch); big = 0 mostly the e^{−m} floor */
        mprob_make(&c.p, 13, 5, 21 + big, big ? 8 : 1, 2);
        rng_t r;
        rng_seed(&r, 3);
        size_t n = 13 * 5;
        c.dh = rnd(&r, n, 0, 1);
        c.h = xmalloc_f64(n);
        double *dq = calloc(n, 8), *dk = calloc(n, 8), *dv = calloc(n, 8), *di = calloc(13, 8), *df = calloc(13, 8);
        mlstm_grads g = {dq, dk, dv, di, df};
        mlstm_parallel_backward(&c.p.a, c.dh, &g);
        struct { const char *nm; double *p, *g; size_t n; } t[] = {
            {"q", c.p.q, dq, n}, {"k", c.p.k, dk, n}, {"v", c.p.v, dv, n},
            {"ig", c.p.ig, di, 13}, {"fg", c.p.fg, df, 13}};
        for (int k = 0; k < 5; k++) {
            double e = gradcheck(mloss, &c, t[k].p, t[k].g, t[k].n, 1e-5, 100, gfloor(t[k].g, t[k].n));
            printf("mLSTM parallel d%-2s (ig std %d): rel err %.2e\n", t[k].nm, big ? 8 : 1, e);
            ck_assert_msg(e <= 1e-6, "d%s rel err %.3e", t[k].nm, e);
        }
        free(dq); free(dk); free(dv); free(di); free(df); free(c.dh); free(c.h);
        mprob_free(&c.p);
    }
}
END_TEST

/* The chunkwise backward (8.15)–(8.17) against the parallel backward: the same gradients
 * by another route (states carried forwards and backwards instead of the L×L matrix), so
 * in float64 they agree to rounding. The weights e^{Fₜ − Fₛ + …} come from differences of
 * cumulative log gates of size |F| ≲ L·|log f| (≈ 130 at L = 1000 here), so each carries a
 * relative error ≈ |F|·ε₆₄ ≈ 3e-14, and a gradient sums many of them: bound 1e-12 of the
 * tensor's largest entry (measured ≤ 5e-13 at L = 1000), df̃ against the sum its running
 * total is made of (it cancels to exactly 0 at j = 0). Chunks 1, 7, 64, L; ĩ spread to
 * ±8σ so that chunks disagree about the stabilizer. */
static double rel_err_vs(const double *a, const double *b, size_t n, double scale)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(a[i] - b[i]));
    return e / scale;
}

START_TEST(mlstm_chunkwise_backward_equals_parallel)
{
    const struct { int L, d; double ig; } cs[] = {{1, 3, 1}, {7, 8, 2}, {64, 8, 8}, {65, 16, 1}, {300, 4, 8}, {1000, 8, 3}};
    const int chunks[] = {1, 7, 64, 0};
    for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
        mprob p;
        mprob_make(&p, cs[c].L, cs[c].d, 700 + c, cs[c].ig, 2);
        const size_t n = (size_t)cs[c].L * cs[c].d, L = (size_t)cs[c].L;
        rng_t r;
        rng_seed(&r, 9 + c);
        double *dh = rnd(&r, n, 0, 1), *G[2];
        for (int k = 0; k < 2; k++) G[k] = xcalloc(3 * n + 2 * L, sizeof(double));
        mlstm_grads gp = {G[0], G[0] + n, G[0] + 2 * n, G[0] + 3 * n, G[0] + 3 * n + L};
        mlstm_parallel_backward(&p.a, dh, &gp);
        double sum_r = 0;
        for (size_t t = 0; t < L; t++)
            for (int j = 0; j < cs[c].d; j++)
                sum_r += fabs(p.q[t * cs[c].d + j] * gp.dq[t * cs[c].d + j]) + fabs(p.k[t * cs[c].d + j] * gp.dk[t * cs[c].d + j]);
        for (int ci = 0; ci < 4; ci++) {
            const int chunk = chunks[ci] ? chunks[ci] : cs[c].L;
            memset(G[1], 0, (3 * n + 2 * L) * sizeof(double));
            mlstm_grads gc = {G[1], G[1] + n, G[1] + 2 * n, G[1] + 3 * n, G[1] + 3 * n + L};
            mlstm_chunkwise_backward(&p.a, chunk, dh, &gc);
            double e = 0;
            for (int k = 0; k < 3; k++) e = fmax(e, rel_err_vs(G[1] + k * n, G[0] + k * n, n, max_abs(G[0] + k * n, n)));
            e = fmax(e, rel_err_vs(gc.dig, gp.dig, L, max_abs(gp.dig, L) + 1e-300));
            const double ef = rel_err_vs(gc.dfg, gp.dfg, L, sum_r);
            printf("mLSTM chunkwise backward L=%-4d d=%-2d chunk=%-4d: dq,dk,dv,dĩ rel err %.1e, df̃ %.1e\n", cs[c].L,
                   cs[c].d, chunk, e, ef);
            ck_assert_msg(e <= 1e-12 && ef <= 1e-12, "chunkwise backward L=%d chunk=%d: %.3e / %.3e", cs[c].L, chunk, e, ef);
        }
        free(dh); free(G[0]); free(G[1]);
        mprob_free(&p);
    }
}
END_TEST

typedef struct { sprob p; double *h; } sctx;
static double sloss(void *v)
{
    sctx *c = v;
    slstm_forward(&c->p.c, c->p.L, c->p.wx, c->p.R, 1, c->h, NULL);
    double l = 0;
    for (size_t i = 0; i < (size_t)c->p.L * c->p.c.d; i++) l += c->p.dh[i] * c->h[i];
    return l;
}

START_TEST(slstm_bptt_grad)
{
    for (int expf = 0; expf <= 1; expf++) {
        sctx c;
        const int L = 11, d = 6, H = 2, dh = 3;
        sprob_make(&c.p, L, d, H, expf, 31 + expf);
        size_t n = (size_t)L * d, nw = (size_t)L * 4 * d, nr = (size_t)4 * H * dh * dh;
        c.h = xmalloc_f64(n);
        double *cache = xmalloc_f64(slstm_cache_size(&c.p.c, L));
        slstm_forward(&c.p.c, L, c.p.wx, c.p.R, 1, c.h, cache);
        double *dwx = calloc(nw, 8), *dR = calloc(nr, 8);
        slstm_backward(&c.p.c, L, c.p.R, c.h, cache, c.p.dh, dwx, dR);
        double e1 = gradcheck(sloss, &c, c.p.wx, dwx, nw, 1e-5, 200, gfloor(dwx, nw));
        double e2 = gradcheck(sloss, &c, c.p.R, dR, nr, 1e-5, 200, gfloor(dR, nr));
        printf("sLSTM BPTT (%s forget): dwx %.2e, dR %.2e\n", expf ? "exp" : "sigmoid", e1, e2);
        ck_assert_msg(e1 <= 1e-6 && e2 <= 1e-6, "sLSTM grads rel err %.3e %.3e", e1, e2);
        free(cache); free(dwx); free(dR); free(c.h);
        sprob_free(&c.p);
    }
}
END_TEST

#ifdef HAVE_CUDA
/* One bad call per child: {BH, L, d, chunk, which} with which 0 = tensor-core backward,
 * 1 = fp32 backward, 2 = tensor-core forward. The pointers are never read: the size checks
 * come first. */
typedef struct { int BH, L, d, chunk, which; } gpu_call;

static void call_gpu(void *arg)
{
    const gpu_call *c = arg;
    if (c->which == 0)
        xgpu_mlstm_chunkwise_bf16_backward(c->BH, c->L, c->d, c->chunk, NULL, NULL, NULL, NULL, NULL,
                                           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    else if (c->which == 1)
        xgpu_mlstm_chunkwise_backward(c->BH, c->L, c->d, c->chunk, NULL, NULL, NULL, NULL, NULL, NULL,
                                      NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    else
        xgpu_mlstm_chunkwise_bf16(c->BH, c->L, c->d, c->chunk, NULL, NULL, NULL, NULL, NULL, NULL);
}

START_TEST(gpu_entry_points_reject_bad_sizes)
{
    const struct { gpu_call c; const char *says; } bad[] = {
        {{2, 64, 20, 16, 0}, "d must be a multiple of 16"},    /* WMMA tiles are 16 wide */
        {{2, 64, 144, 16, 0}, "at most 128"},                  /* shared-memory tiles sized for d <= 128 */
        {{2, 64, 64, 48, 0}, "chunk must be 16, 32 or 64"},
        {{2, 64, 72, 32, 2}, "d must be a multiple of 16"},    /* the forward shares the rule */
        {{2, 512, 64, 256, 1}, "chunk must be <= 128"},        /* two chunk x chunk tiles */
        {{0, 64, 64, 16, 1}, "mLSTM sizes"},
        {{2, (1 << 20) + 1, 64, 16, 2}, "mLSTM sizes"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gpu_call c = bad[i].c;
        const char *says = bad[i].says;
        const int rc = th_run_child(call_gpu, &c, err, sizeof err);
        ck_assert_msg(rc == 2, "case %zu: exit code %d, want 2 (stderr: %s)", i, rc, err);
        ck_assert_msg(strstr(err, says) != NULL, "case %zu: stderr '%s' does not say '%s'", i, err, says);
        ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n'), "case %zu: more than one line: %s", i, err);
    }
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("xlstm_cells");
    TCase *tc = tcase_create("cells");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mlstm_three_forms_agree);
    tcase_add_test(tc, mlstm_forms_equal_definition);
    tcase_add_test(tc, mlstm_stabilizer_80);
    tcase_add_test(tc, slstm_stabilizer_80);
    tcase_add_test(tc, slstm_stabilized_equals_unstabilized);
    tcase_add_test(tc, slstm_heads_block_diagonal);
    tcase_add_test(tc, lstm_cell_equations);
    tcase_add_test(tc, mlstm_parallel_grad);
    tcase_add_test(tc, mlstm_chunkwise_backward_equals_parallel);
    tcase_add_test(tc, slstm_bptt_grad);
#ifdef HAVE_CUDA
    tcase_add_test(tc, gpu_entry_points_reject_bad_sizes);
#endif
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
