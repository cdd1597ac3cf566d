/* 07_ssd_mamba2/tests/test_ssd.c — Check suite for the SSD layer's four forms.
 *
 *   forms agree     scan, quadratic, chunked (Q ∈ {1, 16, 64, L}) in float64, ≤ 1e-12
 *                   relative, for L ∈ {1, 63, 64, 65, 1000, 4096} and N ∈ {1, 16, 64, 128}
 *   limits          Q = 1 passes the scan's states bit for bit; Q = L is step 1 alone
 *                   bit for bit (steps 2–4 add nothing from a zero state) = the quadratic form
 *   steps           the state entering each chunk (steps 2–3) is the scan's state there
 *   segsum          running segment sums keep full relative accuracy where cs_t − cs_s
 *                   loses it
 *   numpy oracle    reference/golden/ written by reference/ssd_numpy.py (NumPy, products
 *                   of exponentials pair by pair) against every form
 *   float32         the _f32 forms against float64
 *   backward        ssd_backward against central differences of the float64 forms
 *   bad input       dims and chunk size exit 2 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "07_ssd_mamba2/ssd.h"
#include "common/npy.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

#define EPS 2.220446049250313e-16

typedef struct {
    ssd_dims d;
    double *x, *dt, *A, *B, *C, *D, *h0;
    ssd_args_f64 a;
} problem;

/* Random inputs as the layer sees them at initialisation: x, B, C ~ N(0, 1); Δ
 * log-uniform in [1e-3, 1e-1] (mamba's dt init); A_h ∈ −[0.5, 16] (−exp(A_log)). */
static void problem_make(problem *pb, ssd_dims d, uint64_t seed, int with_h0)
{
    rng_t r;
    rng_seed(&r, seed);
    pb->d = d;
    const size_t nx = (size_t)d.batch * d.L * d.H * d.P, nt = (size_t)d.batch * d.L * d.H,
                 nb = (size_t)d.batch * d.L * d.G * d.N, ns = (size_t)d.batch * d.H * d.P * d.N;
    pb->x = xmalloc_f64(nx);
    pb->dt = xmalloc_f64(nt);
    pb->A = xmalloc_f64((size_t)d.H);
    pb->B = xmalloc_f64(nb);
    pb->C = xmalloc_f64(nb);
    pb->D = xmalloc_f64((size_t)d.H);
    pb->h0 = with_h0 ? xmalloc_f64(ns) : NULL;
    rng_fill_normal(&r, pb->x, nx, 0, 1);
    for (size_t i = 0; i < nt; i++) pb->dt[i] = exp(rng_uniform_range(&r, log(1e-3), log(1e-1)));
    for (int h = 0; h < d.H; h++) pb->A[h] = -rng_uniform_range(&r, 0.5, 16);
    rng_fill_normal(&r, pb->B, nb, 0, 1);
    rng_fill_normal(&r, pb->C, nb, 0, 1);
    rng_fill_normal(&r, pb->D, (size_t)d.H, 0, 1);
    if (with_h0) rng_fill_normal(&r, pb->h0, ns, 0, 1);
    pb->a = (ssd_args_f64){d, pb->x, pb->dt, pb->A, pb->B, pb->C, pb->D, pb->h0};
}

static void problem_free(problem *pb)
{
    free(pb->x); free(pb->dt); free(pb->A); free(pb->B); free(pb->C); free(pb->D); free(pb->h0);
}

static size_t ny(const ssd_dims *d) { return (size_t)d->batch * d->L * d->H * d->P; }
static size_t nstate(const ssd_dims *d) { return (size_t)d->batch * d->H * d->P * d->N; }

/* ---- the four forms agree ----
 * Tolerance 1e-12, norm-wise (max|err| / max|y|): each y_t sums ≤ L terms, but the
 * decay e^{a} with a ≈ −ΔA ≲ −0.01 per step cuts the effective length to a few hundred
 * steps, and each term carries O(N + P) roundings, so the error is ≲ (300 + N)·ε ≈ 1e-13
 * (worst case, growing like √ for random signs) — 1e-12 leaves a factor of 10. */
#define FORMS_RTOL 1e-12

static void check_forms(ssd_dims d, int with_quadratic, const int *Qs, int nQ, uint64_t seed)
{
    problem pb;
    problem_make(&pb, d, seed, 0);
    const size_t n = ny(&d);
    double *y_scan = xmalloc_f64(n), *y = xmalloc_f64(n), *hs = xmalloc_f64(nstate(&d)),
           *hc = xmalloc_f64(nstate(&d));
    th_poison_f64(y_scan, n);
    ssd_scan_f64(&pb.a, y_scan, hs);
    if (with_quadratic) {
        th_poison_f64(y, n);
        ssd_quadratic_f64(&pb.a, y);
        double e = rel_err(y, y_scan, n);
        ck_assert_msg(e <= FORMS_RTOL, "L=%d N=%d: quadratic vs scan rel err %.2e", d.L, d.N, e);
    }
    for (int i = 0; i < nQ; i++) {
        const int Q = Qs[i] > 0 ? Qs[i] : d.L;     /* 0 stands for Q = L */
        th_poison_f64(y, n);
        th_poison_f64(hc, nstate(&d));
        ssd_chunked_f64(&pb.a, Q, y, hc);
        double e = rel_err(y, y_scan, n), eh = rel_err(hc, hs, nstate(&d));
        ck_assert_msg(e <= FORMS_RTOL, "L=%d N=%d Q=%d: chunked vs scan rel err %.2e", d.L, d.N, Q, e);
        ck_assert_msg(eh <= FORMS_RTOL, "L=%d N=%d Q=%d: final state rel err %.2e", d.L, d.N, Q, eh);
    }
    free(hc); free(hs); free(y); free(y_scan);
    problem_free(&pb);
}

static const int QS[] = {1, 16, 64, 0};

START_TEST(forms_agree_short)
{
    /* L around the chunk boundary 64, every N; two groups of two heads */
    const int Ls[] = {1, 63, 64, 65}, Ns[] = {1, 16, 64, 128};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            check_forms((ssd_dims){2, Ls[i], 4, 3, 2, Ns[j]}, 1, QS, 4, 100 + 10 * i + j);
}
END_TEST

START_TEST(forms_agree_1000)
{
    const int Ns[] = {1, 16, 64, 128};
    for (int j = 0; j < 4; j++) check_forms((ssd_dims){1, 1000, 2, 2, 1, Ns[j]}, 1, QS, 4, 200 + j);
}
END_TEST

START_TEST(forms_agree_4096)
{
    /* the quadratic form materializes 4096² per head: once, at N = 16 */
    check_forms((ssd_dims){1, 4096, 1, 2, 1, 16}, 1, QS, 4, 300);
    /* the other N without the O(L²) form */
    const int Ns[] = {1, 64, 128};
    for (int j = 0; j < 3; j++) check_forms((ssd_dims){1, 4096, 1, 2, 1, Ns[j]}, 0, QS, 4, 301 + j);
}
END_TEST

/* ---- the limits: Q = 1 is the recurrence, Q = L the quadratic form ---- */
START_TEST(chunk_limits)
{
    ssd_dims d = {2, 50, 4, 3, 2, 8};
    problem pb;
    problem_make(&pb, d, 7, 0);
    const size_t n = ny(&d), ns = nstate(&d);
    double *y1 = xmalloc_f64(n), *y2 = xmalloc_f64(n), *h1 = xmalloc_f64(ns), *h2 = xmalloc_f64(ns);
    /* Q = 1: step 2 makes S_t = Δ_t x_t B_tᵀ and step 3 runs h_t = e^{a_t} h_{t−1} + S_t,
     * the very operations of the scan (7.2): the states agree bit for bit. */
    ssd_scan_f64(&pb.a, y1, h1);
    th_poison_f64(h2, ns);
    ssd_chunked_f64(&pb.a, 1, y2, h2);
    ck_assert_mem_eq(h1, h2, ns * sizeof(double));
    /* the outputs differ only in how C_tᵀ h_t is split (diagonal term + entering state) */
    ck_assert_msg(rel_err(y2, y1, n) <= 20 * EPS, "Q=1 y rel err %.2e", rel_err(y2, y1, n));
    /* Q = L, no D: one chunk entered from h0 = 0, so steps 2–4 add exactly nothing (y is
     * step 1's output bit for bit), and step 1 is the quadratic form (7.4) itself, up to
     * the summation order of the product M X (BLAS): ≤ L·ε norm-wise. */
    pb.a.D = NULL;
    ssd_quadratic_f64(&pb.a, y1);
    th_poison_f64(y2, n);
    ssd_chunked_f64(&pb.a, d.L, y2, NULL);
    ck_assert_msg(rel_err(y2, y1, n) <= d.L * EPS, "Q=L vs quadratic rel err %.2e", rel_err(y2, y1, n));
    double *y3 = xmalloc_f64(n);
    th_poison_f64(y3, n);
    ssd_chunk_diag_f64(&pb.a, d.L, y3);
    ck_assert_mem_eq(y2, y3, n * sizeof(double));
    free(y3);
    free(h2); free(h1); free(y2); free(y1);
    problem_free(&pb);
}
END_TEST

/* ---- steps 2–3 give the scan's state at every chunk boundary ---- */
START_TEST(steps_states_at_boundaries)
{
    ssd_dims d = {2, 70, 4, 3, 2, 6};
    const int Q = 16, nc = ssd_nchunks(d.L, Q);
    problem pb;
    problem_make(&pb, d, 11, 1);
    const size_t PN = (size_t)d.P * d.N, ns = nstate(&d);
    double *st = xmalloc_f64((size_t)d.batch * nc * d.H * PN), *hl = xmalloc_f64(ns), *ref = xmalloc_f64(ns);
    th_poison_f64(st, (size_t)d.batch * nc * d.H * PN);
    ssd_chunk_states_f64(&pb.a, Q, st);
    ssd_state_passing_f64(&pb.a, Q, st, hl);
    for (int c = 0; c < nc; c++) {
        /* the state entering chunk c is the scan's state after c·Q steps from h0 */
        if (c == 0) memcpy(ref, pb.h0, ns * sizeof(double));
        else {
            /* the scan over the first cQ steps reads x, Δ, B, C with the full L's strides:
             * copy the prefix into a problem of length cQ */
            ssd_dims dp = d;
            dp.L = c * Q;
            size_t nxp = ny(&dp), ntp = (size_t)d.batch * dp.L * d.H, nbp = (size_t)d.batch * dp.L * d.G * d.N;
            double *x = xmalloc_f64(nxp), *dt = xmalloc_f64(ntp), *B = xmalloc_f64(nbp), *C = xmalloc_f64(nbp), *y = xmalloc_f64(nxp);
            for (int b = 0; b < d.batch; b++) {
                memcpy(x + (size_t)b * dp.L * d.H * d.P, pb.x + (size_t)b * d.L * d.H * d.P, (size_t)dp.L * d.H * d.P * sizeof(double));
                memcpy(dt + (size_t)b * dp.L * d.H, pb.dt + (size_t)b * d.L * d.H, (size_t)dp.L * d.H * sizeof(double));
                memcpy(B + (size_t)b * dp.L * d.G * d.N, pb.B + (size_t)b * d.L * d.G * d.N, (size_t)dp.L * d.G * d.N * sizeof(double));
                memcpy(C + (size_t)b * dp.L * d.G * d.N, pb.C + (size_t)b * d.L * d.G * d.N, (size_t)dp.L * d.G * d.N * sizeof(double));
            }
            ssd_args_f64 a = {dp, x, dt, pb.A, B, C, pb.D, pb.h0};
            ssd_scan_f64(&a, y, ref);
            free(x); free(dt); free(B); free(C); free(y);
        }
        for (int b = 0; b < d.batch; b++)
            for (int h = 0; h < d.H; h++) {
                /* c·Q ≤ 64 steps of a recurrence with O(N) roundings each: 1e-13 */
                ck_assert_allclose(st + (((size_t)b * nc + c) * d.H + h) * PN, ref + ((size_t)b * d.H + h) * PN, PN, 1e-13, 1e-14);
            }
    }
    /* and h_last is the scan's final state */
    double *y = xmalloc_f64(ny(&d));
    ssd_scan_f64(&pb.a, y, ref);
    ck_assert_allclose(hl, ref, ns, 1e-13, 1e-14);
    free(y); free(ref); free(hl); free(st);
    problem_free(&pb);
}
END_TEST

/* ---- segment sums: running sums against the difference of cumulative sums ---- */
START_TEST(segsum_stable)
{
    /* a_k = −0.3 − 0.1·k/n: cs_t ≈ −n/3 grows, while S_{t,t−1} = a_t is O(1). The running
     * sum gives a_t exactly; cs_t − cs_{t−1} carries the rounding of cs (≈ ε·|cs_t|). */
    const int n = 2000;
    double *a = xmalloc_f64(n), *S = xmalloc_f64((size_t)n * n), cs = 0, worst_cs = 0, worst_run = 0;
    for (int k = 0; k < n; k++) a[k] = -0.3 - 0.1 * k / n;
    ssd_segsum_f64(n, a, S);
    double prev = 0;
    for (int t = 0; t < n; t++) {
        cs += a[t];
        if (t > 0) {
            double naive = cs - prev, run = S[(size_t)t * n + t - 1];
            worst_cs = fmax(worst_cs, fabs(naive - a[t]) / fabs(a[t]));
            worst_run = fmax(worst_run, fabs(run - a[t]) / fabs(a[t]));
        }
        prev = cs;
        ck_assert(S[(size_t)t * n + t] == 0);
        if (t + 1 < n) ck_assert(isinf(S[(size_t)t * n + t + 1]) && S[(size_t)t * n + t + 1] < 0);
    }
    ck_assert_msg(worst_run == 0, "running segsum of one term must be exact, got %.2e", worst_run);
    ck_assert_msg(worst_cs > 1e-14, "the naive difference should lose digits here (got %.2e)", worst_cs);
    free(S); free(a);
}
END_TEST

/* ---- the independent oracle: NumPy, the definition with products of exponentials ---- */
START_TEST(numpy_oracle)
{
    char p[1024];
    const char *names[8] = {"x", "dt", "A", "B", "C", "D", "y", "h_last"};
    double *v[8];
    size_t sh[8][NPY_MAX_DIMS];
    const int nd[8] = {4, 3, 1, 4, 4, 1, 4, 4};
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "%s/07_ssd_mamba2/reference/golden/%s.npy", ROOT_DIR, names[i]);
        v[i] = npy_load_f64(p, names[i], nd[i], sh[i]);
    }
    ssd_dims d = {(int)sh[0][0], (int)sh[0][1], (int)sh[0][2], (int)sh[0][3], (int)sh[3][2], (int)sh[3][3]};
    ssd_args_f64 a = {d, v[0], v[1], v[2], v[3], v[4], v[5], NULL};
    const size_t n = ny(&d), ns = nstate(&d);
    double *y = xmalloc_f64(n), *h = xmalloc_f64(ns);
    /* NumPy multiplies the decays, we add their logs: ≤ L roundings either way → 1e-12 */
    th_poison_f64(y, n);
    ssd_scan_f64(&a, y, h);
    ck_assert_allclose(y, v[6], n, 1e-12, 1e-13);
    ck_assert_allclose(h, v[7], ns, 1e-12, 1e-13);
    th_poison_f64(y, n);
    ssd_quadratic_f64(&a, y);
    ck_assert_allclose(y, v[6], n, 1e-12, 1e-13);
    const int Qs[] = {1, 7, 16, 64, 100};
    for (int i = 0; i < 5; i++) {
        th_poison_f64(y, n);
        th_poison_f64(h, ns);
        ssd_chunked_f64(&a, Qs[i], y, h);
        ck_assert_allclose(y, v[6], n, 1e-12, 1e-13);
        ck_assert_allclose(h, v[7], ns, 1e-12, 1e-13);
    }
    free(h); free(y);
    for (int i = 0; i < 8; i++) free(v[i]);
}
END_TEST

/* ---- float32 ---- */
START_TEST(float32_forms)
{
    ssd_dims d = {2, 300, 4, 8, 2, 32};
    problem pb;
    problem_make(&pb, d, 21, 0);
    const size_t n = ny(&d), nx = n, nt = (size_t)d.batch * d.L * d.H, nb = (size_t)d.batch * d.L * d.G * d.N;
    float *x = xmalloc_f32(nx), *dt = xmalloc_f32(nt), *A = xmalloc_f32((size_t)d.H), *B = xmalloc_f32(nb),
          *C = xmalloc_f32(nb), *D = xmalloc_f32((size_t)d.H), *y = xmalloc_f32(n);
    for (size_t i = 0; i < nx; i++) x[i] = (float)pb.x[i];
    for (size_t i = 0; i < nt; i++) dt[i] = (float)pb.dt[i];
    for (size_t i = 0; i < nb; i++) { B[i] = (float)pb.B[i]; C[i] = (float)pb.C[i]; }
    for (int h = 0; h < d.H; h++) { A[h] = (float)pb.A[h]; D[h] = (float)pb.D[h]; }
    ssd_args_f32 a = {d, x, dt, A, B, C, D, NULL};
    /* the float64 result of the float32-rounded inputs */
    for (size_t i = 0; i < nx; i++) pb.x[i] = x[i];
    for (size_t i = 0; i < nt; i++) pb.dt[i] = dt[i];
    for (size_t i = 0; i < nb; i++) { pb.B[i] = B[i]; pb.C[i] = C[i]; }
    for (int h = 0; h < d.H; h++) { pb.A[h] = A[h]; pb.D[h] = D[h]; }
    double *ref = xmalloc_f64(n);
    ssd_scan_f64(&pb.a, ref, NULL);
    /* float32: the same (300 + N)·ε bound with ε = 2^-23 → 4e-5 norm-wise; allow 2e-4 */
    const double tol = 2e-4;
    for (int form = 0; form < 4; form++) {
        th_poison_f32(y, n);
        if (form == 0) ssd_scan_f32(&a, y, NULL);
        else if (form == 1) ssd_quadratic_f32(&a, y);
        else ssd_chunked_f32(&a, form == 2 ? 16 : 64, y, NULL);
        double worst = 0;
        for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - ref[i]));
        worst /= max_abs(ref, n);
        ck_assert_msg(worst <= tol, "float32 form %d: rel err %.2e", form, worst);
    }
    free(ref); free(x); free(dt); free(A); free(B); free(C); free(D); free(y);
    problem_free(&pb);
}
END_TEST

/* ---- backward against central differences ---- */
typedef struct { problem *pb; const double *w, *wh; } fd_ctx;

/* the scalar loss Σ w ⊙ y + Σ wh ⊙ h_last through the chunked form (Q = 4); *scale
 * (if not NULL) receives Σ |w ⊙ y| + Σ |wh ⊙ h|, the size of its rounding error / ε */
static double fd_loss(fd_ctx *c, double *scale)
{
    const ssd_dims *d = &c->pb->d;
    const size_t n = ny(d), ns = nstate(d);
    double *y = xmalloc_f64(n), *h = xmalloc_f64(ns), s = 0, sa = 0;
    ssd_chunked_f64(&c->pb->a, 4, y, h);
    for (size_t i = 0; i < n; i++) { s += c->w[i] * y[i]; sa += fabs(c->w[i] * y[i]); }
    for (size_t i = 0; i < ns; i++) { s += c->wh[i] * h[i]; sa += fabs(c->wh[i] * h[i]); }
    if (scale) *scale = sa;
    free(h); free(y);
    return s;
}

START_TEST(backward_fd)
{
    ssd_dims d = {2, 13, 4, 3, 2, 5};
    problem pb;
    problem_make(&pb, d, 31, 1);
    const size_t n = ny(&d), ns = nstate(&d), nt = (size_t)d.batch * d.L * d.H,
                 nb = (size_t)d.batch * d.L * d.G * d.N;
    rng_t r;
    rng_seed(&r, 32);
    double *w = xmalloc_f64(n), *wh = xmalloc_f64(ns);
    rng_fill_normal(&r, w, n, 0, 1);
    rng_fill_normal(&r, wh, ns, 0, 1);
    ssd_grads_f64 g = {xcalloc(n, 8), xcalloc(nt, 8), xcalloc((size_t)d.H, 8), xcalloc(nb, 8),
                       xcalloc(nb, 8), xcalloc((size_t)d.H, 8), xcalloc(ns, 8)};
    ssd_backward_f64(&pb.a, w, wh, &g);
    fd_ctx c = {&pb, w, wh};
    double scale;
    fd_loss(&c, &scale);
    double *params[7] = {pb.x, pb.dt, pb.A, pb.B, pb.C, pb.D, pb.h0};
    double *grads[7] = {g.dx, g.ddt, g.dA, g.dB, g.dC, g.dD, g.dh0};
    const size_t sizes[7] = {n, nt, (size_t)d.H, nb, nb, (size_t)d.H, ns};
    const char *names[7] = {"x", "dt", "A", "B", "C", "D", "h0"};
    for (int k = 0; k < 7; k++) {
        const double hstep = 1e-5;   /* central difference: error O(h²·f''') ≈ 1e-10, rounding ε/h ≈ 2e-11 */
        for (size_t i = 0; i < sizes[k]; i += (sizes[k] > 40 ? sizes[k] / 40 : 1)) {
            double keep = params[k][i];
            params[k][i] = keep + hstep;
            double lp = fd_loss(&c, NULL);
            params[k][i] = keep - hstep;
            double lm = fd_loss(&c, NULL);
            params[k][i] = keep;
            double num = (lp - lm) / (2 * hstep), ana = grads[k][i];
            /* truncation O(h²) → 1e-7 relative; rounding of the two losses, each within
             * ~(L + N)·ε·scale, over 2h → an absolute floor of 100·ε·scale/h */
            ck_assert_msg(fabs(num - ana) <= 1e-7 * (fabs(num) + fabs(ana)) + 100 * EPS * scale / hstep,
                          "d%s[%zu]: analytic %.12g, finite differences %.12g", names[k], i, ana, num);
        }
        free(grads[k]);
    }
    free(wh); free(w);
    problem_free(&pb);
}
END_TEST

/* ---- bad input ---- */
START_TEST(bad_dims_exit2)
{
    problem pb;
    problem_make(&pb, (ssd_dims){1, 4, 2, 2, 1, 2}, 1, 0);
    double y[16];
    pb.a.d.G = 3;     /* H = 2 not a multiple of 3 */
    ssd_scan_f64(&pb.a, y, NULL);
}
END_TEST

START_TEST(bad_chunk_exit2)
{
    problem pb;
    problem_make(&pb, (ssd_dims){1, 4, 2, 2, 1, 2}, 1, 0);
    double y[16];
    ssd_chunked_f64(&pb.a, 0, y, NULL);
}
END_TEST

static Suite *ssd_suite(void)
{
    Suite *s = suite_create("07_ssd_mamba2/ssd");
    TCase *t = tcase_create("forms");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, forms_agree_short);
    tcase_add_test(t, forms_agree_1000);
    tcase_add_test(t, forms_agree_4096);
    tcase_add_test(t, chunk_limits);
    tcase_add_test(t, steps_states_at_boundaries);
    tcase_add_test(t, segsum_stable);
    tcase_add_test(t, numpy_oracle);
    tcase_add_test(t, float32_forms);
    tcase_add_test(t, backward_fd);
    tcase_add_exit_test(t, bad_dims_exit2, 2);
    tcase_add_exit_test(t, bad_chunk_exit2, 2);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return th_run_suite(ssd_suite());
}
