/* 04_hippo_s4/tests/test_hippo_s4.c — HiPPO, NPLR, the S4 and S4D kernels against the
 * naive ones of stages 02/03, every backward against finite differences, training,
 * checkpoints, bad input, golden vectors. float64 (the stage builds real = double). */
#include <check.h>
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "03_recurrent_conv/recconv.h"
#include "04_hippo_s4/hippo.h"
#include "04_hippo_s4/s4.h"
#include "04_hippo_s4/s4d_model.h"
#include "common/rng.h"
#include "common/npy.h"
#include "common/testutil.h"
#include "common/util.h"

/* ------------------------------------------------------------------ HiPPO */

START_TEST(test_hippo_matrices)
{
    double A[25], B[5];
    th_poison_f64(A, 25); th_poison_f64(B, 5);
    hippo_legs(5, A, B);
    /* (4.3) entry by entry; sqrt is correctly rounded, so equality to 1 ulp */
    for (int n = 0; n < 5; n++) {
        ck_assert_double_eq_tol(B[n], sqrt(2.0 * n + 1), 1e-15);
        for (int k = 0; k < 5; k++) {
            double want = n > k ? sqrt((2.0 * n + 1) * (2.0 * k + 1)) : n == k ? n + 1 : 0;
            ck_assert_double_eq_tol(A[n * 5 + k], want, 4e-15);
        }
    }
    th_poison_f64(A, 25);
    hippo_legt(5, A, B);
    ck_assert_double_eq_tol(A[0 * 5 + 1], -sqrt(3.0), 4e-15); /* n < k, n - k odd */
    ck_assert_double_eq_tol(A[0 * 5 + 2], sqrt(5.0), 4e-15);  /* n < k, n - k even */
    ck_assert_double_eq_tol(A[3 * 5 + 1], sqrt(21.0), 4e-15); /* n ≥ k */
}
END_TEST

/* The triangular LegS step equals stage 02's bilinear discretization of -A/k, B/k. */
START_TEST(test_legs_step_is_bilinear)
{
    enum { N = 8 };
    double A[N * N], B[N], mA[N * N], Ab[N * N], Bb[N], c[N], want[N];
    rng_t r;
    rng_seed(&r, 41);
    hippo_legs(N, A, B);
    for (int i = 0; i < N * N; i++) mA[i] = -A[i];
    rng_fill_normal(&r, c, N, 0, 1);
    double f = rng_normal(&r);
    int k = 7;
    bilinear_dense(N, 1, mA, B, 1.0 / k, Ab, Bb);
    for (int n = 0; n < N; n++) {
        want[n] = Bb[n] * f;
        for (int m = 0; m < N; m++) want[n] += Ab[n * N + m] * c[m];
    }
    hippo_legs_step(N, A, B, k, f, c);
    /* two backward-stable solves of the same well-conditioned system (κ(I + A/2k) ≈ 5):
     * agreement to a few ε·N·‖A‖ */
    ck_assert_allclose(c, want, N, 1e-13, 1e-13);
}
END_TEST

START_TEST(test_legs_constant_and_legt_polynomial)
{
    enum { L = 2000, N = 8 };
    double f[L], c[N], s[200], rec[200], want[200];
    for (int i = 0; i < L; i++) f[i] = 0.7;
    int at = L - 1;
    th_poison_f64(c, N);
    hippo_online_legs(N, f, L, 1, &at, c);
    double e0[N] = {0.7};
    /* A e_0 = B, so c = f e_0 is a fixed point of (4.5): only rounding, ~L·ε */
    ck_assert_allclose(c, e0, N, 1e-12, 1e-12);
    /* LegT on a cubic, run for 8 windows so that the start (f jumps from 0) has been
     * forgotten: a cubic is exactly representable with N = 8 Legendre terms, so the
     * remaining error is the bilinear rule's O((Δ/θ)²) = (1/500)² times derivative
     * constants */
    for (int i = 0; i < L; i++) {
        double t = 4.0 * (i + 0.5) / L; /* the midpoints: see main.c §4.1 */
        f[i] = 1 - 0.5 * t + 0.1 * t * t * t;
    }
    th_poison_f64(c, N);
    hippo_online_legt(N, 0.5, 4.0 / L, f, L, 1, &at, c);
    for (int j = 0; j < 200; j++) {
        s[j] = 3.5 + (j + 0.5) / 400.0;
        want[j] = 1 - 0.5 * s[j] + 0.1 * s[j] * s[j] * s[j];
    }
    hippo_reconstruct_legt(N, c, 4.0, 0.5, 200, s, rec);
    fprintf(stderr, "legt cubic max err %.3e\n", max_abs_diff(rec, want, 200));
    ck_assert_allclose(rec, want, 200, 0, 1e-4);
}
END_TEST

/* ------------------------------------------------------------------- NPLR */

START_TEST(test_jacobi_hermitian)
{
    enum { n = 10 };
    double complex H[n * n], H0[n * n], V[n * n];
    double w[n];
    rng_t r;
    rng_seed(&r, 42);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double complex z = rng_normal(&r) + (i == j ? 0 : I * rng_normal(&r));
            H0[i * n + j] = z;
            H0[j * n + i] = conj(z);
        }
    memcpy(H, H0, sizeof H);
    ck_assert_int_gt(herm_eig_jacobi(n, H, w, V), 0);
    double res = 0, orth = 0, nrm = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double complex hv = 0, vv = 0;
            for (int k = 0; k < n; k++) {
                hv += H0[i * n + k] * V[k * n + j];
                vv += conj(V[k * n + i]) * V[k * n + j];
            }
            res = fmax(res, cabs(hv - V[i * n + j] * w[j]));
            orth = fmax(orth, cabs(vv - (i == j)));
            nrm = fmax(nrm, cabs(H0[i * n + j]));
        }
    for (int i = 1; i < n; i++) ck_assert(w[i - 1] <= w[i]);
    /* Jacobi is backward stable: residual ~ n ε ‖H‖, VᴴV = I to ~n ε; 100× margin */
    ck_assert_double_le(res, 100 * n * 2.2e-16 * nrm * n);
    ck_assert_double_le(orth, 100 * n * 2.2e-16);
}
END_TEST

START_TEST(test_nplr_reconstructs_legs)
{
    enum { N = 32 };
    double complex Lam[N], V[N * N], Pt[N], Bt[N];
    double P[N], A[N * N], B[N], Ar[N * N];
    nplr_legs(N, Lam, V, P, Pt, Bt);
    hippo_legs(N, A, B);
    for (int i = 0; i < N * N; i++) A[i] = -A[i];
    th_poison_f64(Ar, N * N);
    double im = nplr_reconstruct(N, Lam, V, Pt, Pt, Ar);
    /* a unitary V and backward-stable Jacobi: error ~ N ε ‖A‖ (‖A‖ ~ 2N); 100× margin */
    double tol = 100 * N * 2.2e-16 * max_abs(A, N * N);
    ck_assert_allclose(Ar, A, N * N, 0, tol);
    ck_assert_double_le(im, tol);
    for (int n = 0; n < N; n++) ck_assert_double_eq_tol(creal(Lam[n]), -0.5, tol);
    /* B̃ = Vᴴ B consistent with B = V B̃ */
    for (int n = 0; n < N; n++) {
        double complex s = 0;
        for (int k = 0; k < N; k++) s += V[n * N + k] * Bt[k];
        ck_assert_double_le(cabs(s - B[n]), tol);
    }
}
END_TEST

/* -------------------------------------------------------------- S4 kernel */

static void s4_vs_naive(int N, int L, double dt)
{
    double complex *Lam = malloc(N * sizeof *Lam), *V = malloc((size_t)N * N * sizeof *V);
    double complex *Pt = malloc(N * sizeof *Pt), *Bt = malloc(N * sizeof *Bt), *Ct = malloc(N * sizeof *Ct);
    double *A = malloc((size_t)N * N * 8), *B = malloc(N * 8), *C = malloc(N * 8);
    double *Ab = malloc((size_t)N * N * 8), *Bb = malloc(N * 8), *K = malloc(L * 8), *Kn = malloc(L * 8);
    rng_t r;
    rng_seed(&r, 43);
    rng_fill_normal(&r, C, N, 0, 1);
    nplr_legs(N, Lam, V, NULL, Pt, Bt);
    hippo_legs(N, A, B);
    for (int i = 0; i < N * N; i++) A[i] = -A[i];
    s4_ctilde(N, A, C, V, dt, L, Ct);
    th_poison_f64(K, L);
    s4_kernel(N, Lam, Pt, Pt, Bt, Ct, dt, L, K);
    bilinear_dense(N, 1, A, B, dt, Ab, Bb);
    ssm_kernel_dense(N, Ab, Bb, C, L, Kn);
    /* both are backward stable with a unitary change of basis; the naive powers carry
     * ~L·ε relative error, the FFT ~log L·ε: 1e-10 is > 100× that for L ≤ 4096 */
    ck_assert_double_le(rel_err(K, Kn, L), 1e-10);
    free(Lam); free(V); free(Pt); free(Bt); free(Ct); free(A); free(B); free(C);
    free(Ab); free(Bb); free(K); free(Kn);
}

START_TEST(test_s4_kernel_equals_naive)
{
    s4_vs_naive(32, 1000, 0.05); /* even L: includes the node z = -1 */
    s4_vs_naive(24, 777, 0.01);  /* odd L */
    s4_vs_naive(64, 4096, 0.01); /* the chapter's case: the issue asks for ≤ 1e-8 */
}
END_TEST

/* S4D through stage 02/03's diagonal path = the real dense 2Nh system discretized by
 * stage 02's dense functions, kernel by stage 03's powers of Ā. */
START_TEST(test_s4d_kernel_equals_dense)
{
    enum { NH = 6, N2 = 2 * NH, L = 200 };
    double complex lam[NH], B[NH], C[NH];
    double A[N2 * N2] = {0}, Bd[N2], Cd[N2], Ab[N2 * N2], Bb[N2], K[L], Kn[L];
    rng_t r;
    rng_seed(&r, 44);
    for (int n = 0; n < NH; n++) {
        lam[n] = -rng_uniform_range(&r, 0.1, 2) + I * rng_normal(&r) * 5;
        B[n] = rng_normal(&r) + I * rng_normal(&r);
        C[n] = rng_normal(&r) + I * rng_normal(&r);
        double a = creal(lam[n]), b = cimag(lam[n]);
        int i = 2 * n; /* (Re h, Im h): [[a, -b], [b, a]], output 2 Re(C h) */
        A[i * N2 + i] = a; A[i * N2 + i + 1] = -b;
        A[(i + 1) * N2 + i] = b; A[(i + 1) * N2 + i + 1] = a;
        Bd[i] = creal(B[n]); Bd[i + 1] = cimag(B[n]);
        Cd[i] = 2 * creal(C[n]); Cd[i + 1] = -2 * cimag(C[n]);
    }
    double dt = 0.1;
    for (int disc = 0; disc < 2; disc++) {
        th_poison_f64(K, L);
        s4d_kernel(NH, lam, B, C, dt, disc ? DISC_BILINEAR : DISC_ZOH, L, K);
        if (disc) bilinear_dense(N2, 1, A, Bd, dt, Ab, Bb);
        else zoh_dense(N2, 1, A, Bd, dt, Ab, Bb);
        ssm_kernel_dense(N2, Ab, Bb, Cd, L, Kn);
        /* expm (Padé, ~1e-15 relative) vs complex exp; L powers add ~L·ε */
        ck_assert_double_le(rel_err(K, Kn, L), 1e-11);
    }
}
END_TEST

/* ------------------------------------------------------- gradient checks */
/* Central differences with h = 1e-5: truncation h²f'''/6 ~ 1e-11, rounding ε|ℓ|/h
 * ~ 1e-11·|ℓ|; against gradients of order 1e-2..1 that is well under the 1e-6
 * relative bound the conventions ask for. Entries with |g| below FLOOR are measured
 * against FLOOR (their absolute error is the same rounding). */
#define GH 1e-5
#define FLOOR 1e-3
#define GTOL 1e-6

/* the worst relative error of a gradient check, printed for the chapter */
static double worst(const char *op, double e, double acc)
{
    if (op) fprintf(stderr, "gradcheck %-8s max rel err %.2e\n", op, fmax(e, acc));
    return fmax(e, acc);
}

typedef struct {
    int Nh, L;
    double log_dt, *p[6], *w;
} kctx;

static double kernel_loss(void *v)
{
    kctx *c = v;
    double *K = malloc(c->L * sizeof *K), s = 0;
    s4d_channel_kernel(c->Nh, c->log_dt, c->p[0], c->p[1], c->p[2], c->p[3], c->p[4], c->p[5], c->L, K);
    for (int j = 0; j < c->L; j++) s += c->w[j] * K[j];
    free(K);
    return s;
}

START_TEST(test_grad_kernel)
{
    enum { NH = 5, L = 64 };
    double p[6][NH], g[6][NH] = {{0}}, w[L], gdt = 0;
    rng_t r;
    rng_seed(&r, 45);
    for (int n = 0; n < NH; n++) {
        p[0][n] = log(0.5) + 0.3 * rng_normal(&r);
        p[1][n] = 3 * rng_normal(&r);
        for (int k = 2; k < 6; k++) p[k][n] = rng_normal(&r);
    }
    rng_fill_normal(&r, w, L, 0, 1);
    kctx c = {NH, L, log(0.05), {p[0], p[1], p[2], p[3], p[4], p[5]}, w};
    s4d_channel_kernel_backward(NH, c.log_dt, p[0], p[1], p[2], p[3], p[4], p[5], L, w, &gdt,
                                g[0], g[1], g[2], g[3], g[4], g[5]);
    double e = 0;
    for (int k = 0; k < 6; k++) e = worst(NULL, gradcheck(kernel_loss, &c, p[k], g[k], NH, GH, 0, FLOOR), e);
    e = worst("kernel", gradcheck(kernel_loss, &c, &c.log_dt, &gdt, 1, GH, 0, FLOOR), e);
    ck_assert_double_le(e, GTOL);
    /* small Δλ: the series branch of dφ/dλ */
    c.log_dt = log(1e-3);
    memset(g, 0, sizeof g);
    gdt = 0;
    s4d_channel_kernel_backward(NH, c.log_dt, p[0], p[1], p[2], p[3], p[4], p[5], L, w, &gdt,
                                g[0], g[1], g[2], g[3], g[4], g[5]);
    for (int k = 0; k < 2; k++)
        ck_assert_double_le(gradcheck(kernel_loss, &c, p[k], g[k], NH, 1e-4, 0, 1e-5), GTOL);
    ck_assert_double_le(gradcheck(kernel_loss, &c, &c.log_dt, &gdt, 1, 1e-5, 0, 1e-5), GTOL);
}
END_TEST

typedef struct { int L; double *K, *x, D, *w; } cctx;

static double conv_loss(void *v)
{
    cctx *c = v;
    double *y = malloc(c->L * sizeof *y), s = 0;
    conv_causal_fft(c->K, c->x, c->L, c->D, y);
    for (int t = 0; t < c->L; t++) s += c->w[t] * y[t];
    free(y);
    return s;
}

START_TEST(test_grad_conv)
{
    enum { L = 50 };
    double K[L], x[L], w[L], dK[L] = {0}, dx[L] = {0}, dD = 0;
    rng_t r;
    rng_seed(&r, 46);
    rng_fill_normal(&r, K, L, 0, 1);
    rng_fill_normal(&r, x, L, 0, 1);
    rng_fill_normal(&r, w, L, 0, 1);
    cctx c = {L, K, x, rng_normal(&r), w};
    conv_causal_fft_backward(K, x, L, c.D, w, dK, dx, &dD);
    double e = gradcheck(conv_loss, &c, K, dK, L, GH, 0, FLOOR);
    e = worst(NULL, gradcheck(conv_loss, &c, x, dx, L, GH, 0, FLOOR), e);
    e = worst("fft_conv", gradcheck(conv_loss, &c, &c.D, &dD, 1, GH, 0, FLOOR), e);
    ck_assert_double_le(e, GTOL);
}
END_TEST

static void perturb(s4d_model *m, unsigned long seed)
{
    rng_t r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->nparams; i++) m->params[i] += 0.1 * rng_normal(&r);
}

typedef struct { s4d_model *m; double *w; } lctx;

static double layer_loss(void *v)
{
    lctx *c = v;
    s4d_layer_forward(c->m, 0);
    double s = 0;
    for (size_t i = 0; i < (size_t)c->m->T * c->m->cfg.H; i++) s += c->w[i] * c->m->u[1][i];
    return s;
}

START_TEST(test_grad_layer)
{
    s4d_model m;
    s4d_config cfg = {3, 4, 1};
    s4d_model_init(&m, cfg, S4D_LIN, 0.01, 0.1, 47);
    perturb(&m, 48);
    int batch = 2, L = 24;
    size_t TH = (size_t)batch * L * 3;
    s4d_model_prepare(&m, batch, L);
    double *w = malloc(TH * 8), *du = calloc(TH, 8);
    rng_t r;
    rng_seed(&r, 49);
    rng_fill_normal(&r, m.u[0], TH, 0, 1);
    rng_fill_normal(&r, w, TH, 0, 1);
    lctx c = {&m, w};
    layer_loss(&c);
    memset(m.grads, 0, m.nparams * 8);
    s4d_layer_backward(&m, 0, w, du);
    double e = 0;
    for (int k = 0; k < LT_N; k++) {
        int i = s4d_tidx(&m, 0, k);
        e = worst(NULL, gradcheck(layer_loss, &c, s4d_param(&m, i), s4d_grad(&m, i), m.t[i].n, GH, 0, FLOOR), e);
    }
    e = worst("layer", gradcheck(layer_loss, &c, m.u[0], du, TH, GH, 0, FLOOR), e);
    ck_assert_double_le(e, GTOL);
    free(w); free(du);
    s4d_model_free(&m);
}
END_TEST

typedef struct { s4d_model *m; double *x, *t; int batch, L; } mctx;

static double model_loss(void *v)
{
    mctx *c = v;
    return s4d_forward(c->m, c->x, c->t, c->batch, c->L);
}

START_TEST(test_grad_model)
{
    s4d_model m;
    s4d_config cfg = {3, 3, 2};
    s4d_model_init(&m, cfg, S4D_LEGS, 0.01, 0.1, 50);
    perturb(&m, 51);
    int batch = 2, L = 16;
    double x[32], t[32];
    rng_t r;
    rng_seed(&r, 52);
    rng_fill_normal(&r, x, 32, 0, 1);
    rng_fill_normal(&r, t, 32, 0, 1);
    mctx c = {&m, x, t, batch, L};
    model_loss(&c);
    s4d_backward(&m, t);
    double *g = malloc(m.nparams * 8);
    memcpy(g, m.grads, m.nparams * 8);
    double e = 0;
    for (int i = 0; i < m.ntensors; i++)
        e = worst(NULL, gradcheck(model_loss, &c, m.params + m.t[i].off, g + m.t[i].off, m.t[i].n, GH, 0, FLOOR), e);
    worst("model", e, 0);
    ck_assert_double_le(e, GTOL);
    free(g);
    s4d_model_free(&m);
}
END_TEST

/* ----------------------------------------------------- training, checkpoints */

static void train(s4d_model *m, int steps, int batch, int L, int tau)
{
    double *x = malloc((size_t)batch * L * 8), *t = malloc((size_t)batch * L * 8);
    adamw_cfg cfg = {0.01, 0.9, 0.999, 1e-8, 0.01};
    for (int i = 0; i < steps; i++) {
        int s = m->step;
        delay_task_batch(7, s, batch, L, tau, 1.0 / 16, x, t);
        s4d_forward(m, x, t, batch, L);
        s4d_backward(m, t);
        s4d_adamw_step(m, &cfg, 0.01, 0.1, 1.0);
    }
    free(x); free(t);
}

START_TEST(test_training_decreases_loss)
{
    enum { B = 2, L = 128, TAU = 8 };
    s4d_model m;
    s4d_config cfg = {4, 8, 1};
    s4d_model_init(&m, cfg, S4D_LIN, 1e-3, 1e-1, 53);
    double x[B * L], t[B * L];
    delay_task_batch(7, 999999, B, L, TAU, 1.0 / 16, x, t); /* held out */
    double before = s4d_forward(&m, x, t, B, L);
    train(&m, 60, B, L, TAU);
    double after = s4d_forward(&m, x, t, B, L);
    fprintf(stderr, "training: held-out loss %.4f -> %.4f\n", before, after);
    /* a delay of 8 steps of a signal that changes over ~16 steps is within reach of one
     * layer; a model that learned nothing stays near its initial loss. Require the
     * held-out loss to halve. */
    ck_assert_double_lt(after, 0.5 * before);
    s4d_model_free(&m);
}
END_TEST

START_TEST(test_checkpoint_round_trip_and_resume)
{
    char dir[256], path[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    s4d_config cfg = {3, 4, 2};
    s4d_model a, b, c;
    s4d_model_init(&a, cfg, S4D_LEGS, 1e-3, 1e-1, 54);
    s4d_model_init(&c, cfg, S4D_LEGS, 1e-3, 1e-1, 54);
    train(&a, 2, 2, 32, 4);
    s4d_save(&a, path, "\"note\":\"test\"");
    s4d_model_init(&b, cfg, S4D_RANDOM, 1e-3, 1e-1, 99); /* different values everywhere */
    s4d_load(&b, path);
    ck_assert_int_eq(b.step, 2);
    /* the file holds float64 bit patterns: the round trip is exact */
    ck_assert_allclose(b.params, a.params, a.nparams, 0, 0);
    ck_assert_allclose(b.adam_m, a.adam_m, a.nparams, 0, 0);
    ck_assert_allclose(b.adam_v, a.adam_v, a.nparams, 0, 0);
    /* resume: 2 + 2 steps = 4 steps in one go, exactly (same data by step, same order) */
    train(&b, 2, 2, 32, 4);
    train(&c, 4, 2, 32, 4);
    ck_assert_allclose(b.params, c.params, c.nparams, 0, 0);
    s4d_model_free(&a); s4d_model_free(&b); s4d_model_free(&c);
    /* the program: interrupted at step 2 (--stop-at), resumed to 4, equals 4 in one go */
    char cmd[4096], p1[600], p2[600];
    const char *args = "--train-only --inits legs --H 2 --Nh 2 --layers 1 --train-L 32 --tau 4 "
                       "--batch 1 --steps 4";
    snprintf(cmd, sizeof cmd, PROG_PATH " --out %s/a %s --stop-at 2 >/dev/null && " PROG_PATH
             " --out %s/a %s --resume %s/a/ckpt_legs.safetensors >/dev/null && " PROG_PATH
             " --out %s/b %s >/dev/null", dir, args, dir, args, dir, dir, args);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(p1, sizeof p1, "%s/a/ckpt_legs.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/b/ckpt_legs.safetensors", dir);
    s4d_config c2 = {2, 2, 1};
    s4d_model_init(&a, c2, S4D_LIN, 1e-3, 1e-1, 1);
    s4d_model_init(&b, c2, S4D_LIN, 1e-3, 1e-1, 2);
    s4d_load(&a, p1);
    s4d_load(&b, p2);
    ck_assert_int_eq(a.step, 4);
    ck_assert_int_eq(b.step, 4);
    ck_assert_allclose(a.params, b.params, a.nparams, 0, 0);
    s4d_model_free(&a); s4d_model_free(&b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_bad_input_exit2)
{
    ck_assert_exit2(PROG_PATH " --N 0", "--N");
    ck_assert_exit2(PROG_PATH " --dt -1", "--dt");
    ck_assert_exit2(PROG_PATH " --tau 2000 --train-L 1024", "--tau");
    ck_assert_exit2(PROG_PATH " --inits lin,foo", "foo");
    ck_assert_exit2(PROG_PATH " --resume x.safetensors --inits lin,legs", "--resume");
    ck_assert_exit2(PROG_PATH " --bogus", "bogus");
    ck_assert_exit2(PROG_PATH " --stop-at -1", "--stop-at");
    ck_assert_exit2(PROG_PATH " --fmax 0.7", "--fmax");
    /* work bounds: the naive kernel's N² L, the HiPPO signal's length, the activations */
    ck_assert_exit2(PROG_PATH " --L 70000", "--L");
    ck_assert_exit2(PROG_PATH " --hippo-L 200000", "--hippo-L");
    ck_assert_exit2(PROG_PATH " --batch 4096 --train-L 100000", "GiB");
    char dir[256], cmd[1024], path[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, PROG_PATH " --out %s --train-only --inits lin --resume %s/none.safetensors", dir, dir);
    ck_assert_exit2(cmd, "none.safetensors");
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fputs("not a checkpoint at all", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, PROG_PATH " --out %s --train-only --inits lin --resume %s", dir, path);
    ck_assert_exit2(cmd, "bad.safetensors");
    /* a valid checkpoint of another configuration */
    s4d_model m;
    s4d_config cfg = {2, 2, 1};
    s4d_model_init(&m, cfg, S4D_LIN, 1e-3, 1e-1, 1);
    snprintf(path, sizeof path, "%s/other.safetensors", dir);
    s4d_save(&m, path, NULL);
    s4d_model_free(&m);
    snprintf(cmd, sizeof cmd, PROG_PATH " --out %s --train-only --inits lin --H 3 --resume %s", dir, path);
    ck_assert_exit2(cmd, "checkpoint is for");
    snprintf(cmd, sizeof cmd, PROG_PATH " --check %s/missing", dir);
    ck_assert_exit2(cmd, "missing");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The vector set's problems are independent: a set of the S4D kernels alone, at another
 * length, passes (the rest "not in this set"); a bad step or length exits 2 naming it. */
START_TEST(test_vectors_subset_and_values)
{
    char dir[256], cmd[1200], path[400], err[2048];
    th_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, PROG_PATH " --dump-vectors %s > /dev/null", dir);
    ck_assert_int_eq(system(cmd), 0);
    /* K for L = 100 from the same modes, by the library */
    size_t sh[NPY_MAX_DIMS];
    snprintf(path, sizeof path, "%s/s4d_Lambda.npy", dir);
    double complex *lam = npy_load(path, "s4d_Lambda", ELEM_C128, 1, sh);
    snprintf(path, sizeof path, "%s/s4d_B.npy", dir);
    double complex *B = npy_load(path, "s4d_B", ELEM_C128, 1, sh);
    snprintf(path, sizeof path, "%s/s4d_C.npy", dir);
    double complex *C = npy_load(path, "s4d_C", ELEM_C128, 1, sh);
    double K[100];
    s4d_kernel((int)sh[0], lam, B, C, 0.1, DISC_ZOH, 100, K);
    snprintf(path, sizeof path, "%s/s4d_K_zoh.npy", dir);
    npy_save(path, ELEM_F64, 1, (size_t[]){100}, K);
    int64_t L = 100;
    snprintf(path, sizeof path, "%s/s4d_L.npy", dir);
    npy_save(path, ELEM_I64, 1, (size_t[]){1}, &L);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"stage\": \"04_hippo_s4\", \"tensors\": [{\"name\": \"s4d_Lambda\"}, {\"name\": \"s4d_B\"}, "
          "{\"name\": \"s4d_C\"}, {\"name\": \"s4d_dt\"}, {\"name\": \"s4d_L\"}, {\"name\": \"s4d_K_zoh\"}]}", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, PROG_PATH " --check %s | tail -1 | grep -q '^1 passed, 0 failed, 24 skipped$'", dir);
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--check of an S4D-only set at L = 100: exit %d, %s", rc, err);
    double dt = -0.1;
    snprintf(path, sizeof path, "%s/s4d_dt.npy", dir);
    npy_save(path, ELEM_F64, 1, (size_t[]){1}, &dt);
    snprintf(cmd, sizeof cmd, PROG_PATH " --check %s", dir);
    ck_assert_exit2(cmd, "tensor 's4d_dt': expected a positive step, got -0.1");
    L = 0;
    dt = 0.1;
    npy_save(path, ELEM_F64, 1, (size_t[]){1}, &dt);
    snprintf(path, sizeof path, "%s/s4d_L.npy", dir);
    npy_save(path, ELEM_I64, 1, (size_t[]){1}, &L);
    ck_assert_exit2(cmd, "tensor 's4d_L': expected a length in 1..16777216, got 0");
    free(lam), free(B), free(C);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("04_hippo_s4");
    TCase *tc = tcase_create("hippo_s4");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_hippo_matrices);
    tcase_add_test(tc, test_legs_step_is_bilinear);
    tcase_add_test(tc, test_legs_constant_and_legt_polynomial);
    tcase_add_test(tc, test_jacobi_hermitian);
    tcase_add_test(tc, test_nplr_reconstructs_legs);
    tcase_add_test(tc, test_s4_kernel_equals_naive);
    tcase_add_test(tc, test_s4d_kernel_equals_dense);
    tcase_add_test(tc, test_grad_kernel);
    tcase_add_test(tc, test_grad_conv);
    tcase_add_test(tc, test_grad_layer);
    tcase_add_test(tc, test_grad_model);
    tcase_add_test(tc, test_training_decreases_loss);
    tcase_add_test(tc, test_checkpoint_round_trip_and_resume);
    tcase_add_test(tc, test_bad_input_exit2);
    tcase_add_test(tc, test_vectors_subset_and_values);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, th_vectors_tcase());
    return th_run_suite(s);
}
