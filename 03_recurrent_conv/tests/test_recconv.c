/* 03_recurrent_conv/tests/test_recconv.c — the recurrent and convolutional views.
 *
 * Every system is drawn fresh from a fixed seed (stable, complex, nonzero B̄, C, D);
 * every output is poisoned with NaN before the function under test writes it.
 * Bounds are componentwise rounding-error bounds (Higham, "Accuracy and Stability of
 * Numerical Algorithms", ch. 3): a sum of m products computed in floating point is
 * within γ_m Σ|terms| of the exact one, γ_m = mε/(1 − mε) ≈ mε. */
#include <check.h>
#include <complex.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "02_zoh_discretize/zoh.h"
#include "03_recurrent_conv/recconv.h"
#include "common/npy.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

#define EPS 2.220446049250313e-16
#define EPS32 1.1920928955078125e-07

typedef struct {
    int N;
    double complex Abar[16], Bbar[16], C[16];
    double D;
} dsys;

/* Random stable diagonal system: continuous a = −r + iw, r ∈ [0.02, 1], |w| ≤ 10,
 * ZOH with Δ = 0.05 through stage 02. */
static dsys random_dsys(rng_t *r, int N)
{
    dsys s;
    s.N = N;
    double complex a[16], b[16];
    for (int n = 0; n < N; n++) {
        a[n] = -rng_uniform_range(r, 0.02, 1.0) + I * rng_uniform_range(r, -10, 10);
        b[n] = rng_normal(r) + I * rng_normal(r);
        s.C[n] = rng_normal(r) + I * rng_normal(r);
    }
    zoh_diag(N, a, b, 0.05, s.Abar, s.Bbar);
    s.D = rng_normal(r);
    return s;
}

static double *fresh(size_t n)
{
    double *p = xmalloc_f64(n);
    th_poison_f64(p, n);
    return p;
}

static double *rand_x(rng_t *r, int L)
{
    double *x = xmalloc_f64((size_t)L);
    rng_fill_normal(r, x, (size_t)L, 0, 1);
    return x;
}

/* The absolute kernel of a diagonal system, Σ_n |C_n||B̄_n||λ_n|^k: it bounds every
 * intermediate |term| the recurrence and the kernel produce. */
static void abs_kernel(const dsys *s, int L, double *Ka)
{
    double complex Aa[16], Ba[16], Ca[16];
    for (int n = 0; n < s->N; n++) {
        Aa[n] = cabs(s->Abar[n]);
        Ba[n] = cabs(s->Bbar[n]);
        Ca[n] = cabs(s->C[n]);
    }
    ssm_kernel_diag(s->N, Aa, Ba, Ca, L, Ka);
}

/* Componentwise bound for two views of (3.4): |y_a − y_b|_k ≤ c (N + k + 2) ε S_k with
 * S_k = (|K| ∗ |x|)_k + |D x_k|. The recurrence commits ≈ (N+1) rounding errors per step
 * on terms of size S (each of the k steps' errors is carried by powers of Ā, at most
 * |λ|^m ≤ 1); the direct sum commits γ_{k+1}; the kernel itself γ_{k+N}. c = 4 covers
 * the complex multiplications (each a few real operations). */
static void view_bound(const dsys *s, const double *x, int L, double *bound)
{
    double *Ka = xmalloc_f64((size_t)L), *xa = xmalloc_f64((size_t)L);
    abs_kernel(s, L, Ka);
    for (int k = 0; k < L; k++) xa[k] = fabs(x[k]);
    conv_causal_direct(Ka, xa, L, fabs(s->D), bound);
    /* + the kernel's flush to zero below DBL_MIN: < DBL_MIN per term and step */
    for (int k = 0; k < L; k++) bound[k] = bound[k] * 4.0 * (s->N + k + 2) * EPS + 2.0 * s->N * DBL_MIN;
    free(Ka);
    free(xa);
}

static void assert_within(const double *got, const double *want, const double *bound, int L,
                          const char *what)
{
    for (int k = 0; k < L; k++)
        ck_assert_msg(fabs(got[k] - want[k]) <= bound[k],
                      "%s: k = %d: got %.17g, want %.17g, |diff| %.3e > bound %.3e", what, k,
                      got[k], want[k], fabs(got[k] - want[k]), bound[k]);
}

static double norms(const double *K, const double *x, int L)   /* ‖K‖₂ ‖x‖₂ */
{
    double k2 = 0, x2 = 0;
    for (int i = 0; i < L; i++) { k2 += K[i] * K[i]; x2 += x[i] * x[i]; }
    return sqrt(k2) * sqrt(x2);
}

/* FFT convolution error bound: each output of the length-n FFT convolution is within
 * c ε log2(n) ‖K‖₂ ‖x‖₂ of the exact one (the FFT is backward stable with error
 * O(ε log n) in the 2-norm; Higham §24.1). c = 8 covers the three transforms and the
 * product. */
static double fft_bound(const double *K, const double *x, int L, int n)
{
    return 8.0 * EPS * (log2((double)n) + 1) * norms(K, x, L);
}

/* ---- the three views agree -------------------------------------------------- */

START_TEST(views_agree)
{
    rng_t r;
    rng_seed(&r, 301);
    const int L = 1000;
    dsys s = random_dsys(&r, 8);
    double *x = rand_x(&r, L), *bound = xmalloc_f64(L);
    double *y_rec = fresh(L), *y_dense = fresh(L), *y_dir = fresh(L), *y_fft = fresh(L);
    double *K = fresh(L);
    /* the reference: stage 02's dense recurrence on the real twin (3.1) */
    double Ad[16 * 16], Bd[16], Cd[16];
    ssm_diag_to_dense(s.N, s.Abar, s.Bbar, s.C, Ad, Bd, Cd);
    ssm_recurrence_dense(2 * s.N, Ad, Bd, Cd, s.D, NULL, x, L, y_dense);
    ssm_recurrence_diag(s.N, s.Abar, s.Bbar, s.C, s.D, x, L, y_rec);
    ssm_kernel_diag(s.N, s.Abar, s.Bbar, s.C, L, K);
    conv_causal_direct(K, x, L, s.D, y_dir);
    conv_causal_fft(K, x, L, s.D, y_fft);
    view_bound(&s, x, L, bound);
    assert_within(y_rec, y_dense, bound, L, "diagonal vs dense recurrence");
    assert_within(y_dir, y_dense, bound, L, "direct convolution vs recurrence");
    /* FFT: its own bound on top of the kernel's */
    double fb = fft_bound(K, x, L, conv_fft_size(L));
    for (int k = 0; k < L; k++) bound[k] += fb;
    assert_within(y_fft, y_dense, bound, L, "FFT convolution vs recurrence");
    free(x); free(bound); free(y_rec); free(y_dense); free(y_dir); free(y_fft); free(K);
}
END_TEST

/* The dense kernel (3.3) of the real twin equals the Vandermonde kernel (3.5):
 * both sum ≈ (2N + k) rounded terms bounded by the absolute kernel. */
START_TEST(kernels_dense_diag_agree)
{
    rng_t r;
    rng_seed(&r, 302);
    const int L = 700;
    dsys s = random_dsys(&r, 6);
    double Ad[12 * 12], Bd[12], Cd[12];
    ssm_diag_to_dense(s.N, s.Abar, s.Bbar, s.C, Ad, Bd, Cd);
    double *Kd = fresh(L), *Kg = fresh(L), *Ka = xmalloc_f64(L), *Kr = fresh(L);
    ssm_kernel_dense(2 * s.N, Ad, Bd, Cd, L, Kd);
    ssm_kernel_diag(s.N, s.Abar, s.Bbar, s.C, L, Kg);
    ssm_kernel_diag_ref(s.N, s.Abar, s.Bbar, s.C, L, Kr);
    abs_kernel(&s, L, Ka);
    for (int k = 0; k < L; k++) Ka[k] = Ka[k] * 4.0 * (2 * s.N + k + 2) * EPS + 4.0 * s.N * DBL_MIN;
    assert_within(Kd, Kg, Ka, L, "dense vs Vandermonde kernel");
    assert_within(Kg, Kr, Ka, L, "Vandermonde vs long double reference kernel");
    /* K_0 = Re Σ C B̄ exactly as defined (one rounding per term) */
    double complex k0 = 0;
    for (int n = 0; n < s.N; n++) k0 += s.C[n] * s.Bbar[n];
    ck_assert_double_eq_tol(Kg[0], creal(k0), 1e-14 * cabs(k0));   /* N roundings */
    free(Kd); free(Kg); free(Ka); free(Kr);
}
END_TEST

/* The general (non-diagonal, non-normal) dense system of stage 01: kernel + direct and
 * FFT convolution against stage 02's recurrence. Bound as above, with the absolute
 * kernel |C| |Ā|^k |B̄| of the dense matrices. */
START_TEST(dense_system_views_agree)
{
    rng_t r;
    rng_seed(&r, 303);
    const int N = 6, L = 500;
    ssm_sys c;
    ssm_random_stable(&c, N, 303);
    double Ab[36], Bb[6], Aa[36], Ba[6], Ca[6];
    zoh_dense(N, 1, c.A, c.B, 0.05, Ab, Bb);
    double *x = rand_x(&r, L), *K = fresh(L), *Ka = xmalloc_f64(L), *xa = xmalloc_f64(L);
    double *yr = fresh(L), *yd = fresh(L), *yf = fresh(L), *bound = xmalloc_f64(L);
    ssm_recurrence_dense(N, Ab, Bb, c.C, c.D, NULL, x, L, yr);
    ssm_kernel_dense(N, Ab, Bb, c.C, L, K);
    conv_causal_direct(K, x, L, c.D, yd);
    conv_causal_fft(K, x, L, c.D, yf);
    for (int i = 0; i < N * N; i++) Aa[i] = fabs(Ab[i]);
    for (int i = 0; i < N; i++) { Ba[i] = fabs(Bb[i]); Ca[i] = fabs(c.C[i]); }
    ssm_kernel_dense(N, Aa, Ba, Ca, L, Ka);
    for (int k = 0; k < L; k++) xa[k] = fabs(x[k]);
    conv_causal_direct(Ka, xa, L, fabs(c.D), bound);
    for (int k = 0; k < L; k++) bound[k] *= 4.0 * (N + k + 2) * EPS;
    assert_within(yd, yr, bound, L, "dense: direct convolution vs recurrence");
    double fb = fft_bound(K, x, L, conv_fft_size(L));
    for (int k = 0; k < L; k++) bound[k] += fb;
    assert_within(yf, yr, bound, L, "dense: FFT convolution vs recurrence");
    ssm_sys_free(&c);
    free(x); free(K); free(Ka); free(xa); free(yr); free(yd); free(yf); free(bound);
}
END_TEST

/* ---- padding at the end of the sequence ------------------------------------- */

static const int PAD_L[] = {1, 3, 1000, 4097};

START_TEST(fft_padding_lengths)
{
    const int L = PAD_L[_i];
    rng_t r;
    rng_seed(&r, 310 + (uint64_t)L);
    double *K = rand_x(&r, L), *x = rand_x(&r, L);
    const double D = rng_normal(&r);
    double *yd = fresh(L), *yf = fresh(L), *yp = fresh(L);
    conv_causal_direct(K, x, L, D, yd);
    conv_causal_fft(K, x, L, D, yf);
    const int n = conv_fft_size(L);
    ck_assert_int_ge(n, 2 * L - 1);           /* enough zeros: no wrap-around */
    ck_assert_int_eq(n & (n - 1), 0);         /* a power of two */
    /* direct: γ_{L}·Σ|K||x| ≤ L ε ‖K‖₂‖x‖₂ (Cauchy–Schwarz); plus the FFT's bound */
    double tol = fft_bound(K, x, L, n) + L * EPS * norms(K, x, L);
    ck_assert_allclose(yf, yd, (size_t)L, 0, tol);
    /* the last output sums every input: the one most exposed to a padding error */
    ck_assert_double_eq_tol(yf[L - 1], yd[L - 1], tol);
    /* the exact minimum 2L−1 (not a power of two) works too ... */
    conv_fft_padded(K, x, L, 2 * L - 1, D, yp);
    ck_assert_allclose(yp, yd, (size_t)L, 0, tol);
    /* ... and one zero fewer wraps x_{L-1} K_{L-1} onto y_0: the test can see it. */
    if (L >= 2) {
        conv_fft_padded(K, x, L, 2 * L - 2, D, yp);
        double want0 = yd[0] + K[L - 1] * x[L - 1];
        ck_assert_double_eq_tol(yp[0], want0, tol);
        ck_assert(fabs(yp[0] - yd[0]) > 100 * tol);
    }
    free(K); free(x); free(yd); free(yf); free(yp);
}
END_TEST

/* ---- causality ---------------------------------------------------------------- */

/* Change the inputs after position j: outputs before j must not move. The
 * recurrence and the direct sum do not touch x_m for m > k at all (bit-identical);
 * the FFT mixes all positions, so its earlier outputs may move by rounding only,
 * within the FFT bound for the change δx — a wrap-around would move them by O(1). */
START_TEST(causality)
{
    rng_t r;
    rng_seed(&r, 320);
    const int L = 777, j = 400;
    dsys s = random_dsys(&r, 5);
    double *x = rand_x(&r, L), *x2 = xmalloc_f64(L), *dx = xmalloc_f64(L), *K = fresh(L);
    memcpy(x2, x, (size_t)L * sizeof *x);
    for (int m = j; m < L; m++) x2[m] += 10 * rng_normal(&r);
    for (int m = 0; m < L; m++) dx[m] = x2[m] - x[m];
    ssm_kernel_diag(s.N, s.Abar, s.Bbar, s.C, L, K);
    double *a = fresh(L), *b = fresh(L);
    ssm_recurrence_diag(s.N, s.Abar, s.Bbar, s.C, s.D, x, L, a);
    ssm_recurrence_diag(s.N, s.Abar, s.Bbar, s.C, s.D, x2, L, b);
    ck_assert_allclose(b, a, (size_t)j, 0, 0);               /* bit-identical before j */
    ck_assert(fabs(b[j] - a[j]) > 0);                         /* and it does react at j */
    conv_causal_direct(K, x, L, s.D, a);
    conv_causal_direct(K, x2, L, s.D, b);
    ck_assert_allclose(b, a, (size_t)j, 0, 0);
    conv_causal_fft(K, x, L, s.D, a);
    conv_causal_fft(K, x2, L, s.D, b);
    double fb = fft_bound(K, x, L, conv_fft_size(L)) + fft_bound(K, x2, L, conv_fft_size(L));
    ck_assert_allclose(b, a, (size_t)j, 0, fb);
    /* impulse response: x = e_j gives y_k = K_{k−j} for k ≥ j (+ D at k = j) */
    double *e = xcalloc((size_t)L, sizeof *e);
    e[j] = 1;
    ssm_recurrence_diag(s.N, s.Abar, s.Bbar, s.C, s.D, e, L, a);
    for (int k = 0; k < j; k++) ck_assert(a[k] == 0);         /* h stays exactly 0 */
    ck_assert_double_eq_tol(a[j], K[0] + s.D, 1e-13 * (fabs(K[0]) + fabs(s.D)) + 1e-300);
    free(x); free(x2); free(dx); free(K); free(a); free(b); free(e);
}
END_TEST

/* ---- many channels = one channel at a time ---------------------------------- */

/* Each _multi function runs the single-channel function on each channel's slice;
 * the arithmetic is identical, so results must be bit-identical (tolerance 0). */
START_TEST(multi_equals_per_channel)
{
    rng_t r;
    rng_seed(&r, 330);
    enum { H = 5, N = 4, L = 300 };
    double complex A[H * N], B[H * N], C[H * N];
    double D[H], Ad[H * 4 * N * N], Bd[H * 2 * N], Cd[H * 2 * N];
    for (int h = 0; h < H; h++) {
        dsys s = random_dsys(&r, N);
        memcpy(A + h * N, s.Abar, sizeof s.Abar[0] * N);
        memcpy(B + h * N, s.Bbar, sizeof s.Bbar[0] * N);
        memcpy(C + h * N, s.C, sizeof s.C[0] * N);
        D[h] = s.D;
        ssm_diag_to_dense(N, s.Abar, s.Bbar, s.C, Ad + h * 4 * N * N, Bd + h * 2 * N,
                          Cd + h * 2 * N);
    }
    double *x = rand_x(&r, H * L), *K = fresh(H * L), *Km = fresh(H * L), *y = fresh(H * L);
    double *one = fresh(L);
    ssm_kernel_diag_multi(H, N, A, B, C, L, Km);
    for (int h = 0; h < H; h++) {
        ssm_kernel_diag(N, A + h * N, B + h * N, C + h * N, L, one);
        ck_assert_allclose(Km + h * L, one, L, 0, 0);
    }
    ssm_kernel_dense_multi(H, 2 * N, Ad, Bd, Cd, L, K);
    for (int h = 0; h < H; h++) {
        ssm_kernel_dense(2 * N, Ad + h * 4 * N * N, Bd + h * 2 * N, Cd + h * 2 * N, L, one);
        ck_assert_allclose(K + h * L, one, L, 0, 0);
    }
    ssm_recurrence_diag_multi(H, N, A, B, C, D, x, L, y);
    for (int h = 0; h < H; h++) {
        ssm_recurrence_diag(N, A + h * N, B + h * N, C + h * N, D[h], x + h * L, L, one);
        ck_assert_allclose(y + h * L, one, L, 0, 0);
    }
    ssm_recurrence_dense_multi(H, 2 * N, Ad, Bd, Cd, D, x, L, y);
    for (int h = 0; h < H; h++) {
        ssm_recurrence_dense(2 * N, Ad + h * 4 * N * N, Bd + h * 2 * N, Cd + h * 2 * N, D[h],
                             NULL, x + h * L, L, one);
        ck_assert_allclose(y + h * L, one, L, 0, 0);
    }
    conv_causal_direct_multi(H, Km, x, L, D, y);
    for (int h = 0; h < H; h++) {
        conv_causal_direct(Km + h * L, x + h * L, L, D[h], one);
        ck_assert_allclose(y + h * L, one, L, 0, 0);
    }
    conv_causal_fft_multi(H, Km, x, L, D, y);
    for (int h = 0; h < H; h++) {
        conv_causal_fft(Km + h * L, x + h * L, L, D[h], one);
        ck_assert_allclose(y + h * L, one, L, 0, 0);
    }
    free(x); free(K); free(Km); free(y); free(one);
}
END_TEST

/* ---- generation ---------------------------------------------------------------- */

/* Both views generate the same tokens: y_k differs by at most the view bound of its
 * inputs; tanh is 1-Lipschitz, so the difference carried into x_{k+1} is no larger —
 * but it feeds back, so allow the bound times a growth factor of 10 over L = 300
 * (the system is contractive: |λ| < 1 damps old differences). */
START_TEST(generation_views_agree)
{
    rng_t r;
    rng_seed(&r, 340);
    const int L = 300;
    dsys s = random_dsys(&r, 6);
    double *K = fresh(L), *xr = fresh(L), *yr = fresh(L), *xc = fresh(L), *yc = fresh(L);
    double *y2 = fresh(L), *bound = xmalloc_f64(L);
    ssm_kernel_diag(s.N, s.Abar, s.Bbar, s.C, L, K);
    generate_recurrent_diag(s.N, s.Abar, s.Bbar, s.C, s.D, 0.7, L, xr, yr);
    generate_conv(K, s.D, 0.7, L, xc, yc);
    ck_assert_double_eq(xr[0], 0.7);
    for (int k = 0; k + 1 < L; k++) ck_assert_double_eq(xr[k + 1], tanh(yr[k]));
    /* the recurrent generation is exactly the recurrence on the inputs it produced */
    ssm_recurrence_diag(s.N, s.Abar, s.Bbar, s.C, s.D, xr, L, y2);
    ck_assert_allclose(y2, yr, (size_t)L, 0, 0);
    view_bound(&s, xr, L, bound);
    for (int k = 0; k < L; k++) bound[k] *= 10;
    assert_within(yc, yr, bound, L, "generation: convolutional vs recurrent");
    free(K); free(xr); free(yr); free(xc); free(yc); free(y2); free(bound);
}
END_TEST

/* ---- precision of the kernel ------------------------------------------------ */

/* Repeated multiplication in float32: λ_f32 = λ(1 + δ), |δ| ≤ ε₃₂, so λ^k carries a
 * relative error ≈ k·ε₃₂ from the rounded input alone, plus one rounding per step:
 * |K32_k − K_k| ≤ 4 (k + N + 2) ε₃₂ Σ|C||B̄||λ|^k. float64 obeys the same with ε₆₄. */
START_TEST(kernel_precision_f32)
{
    rng_t r;
    rng_seed(&r, 350);
    const int L = 3000, N = 8;
    dsys s = random_dsys(&r, N);
    float complex Af[8], Bf[8], Cf[8];
    for (int n = 0; n < N; n++) { Af[n] = s.Abar[n]; Bf[n] = s.Bbar[n]; Cf[n] = s.C[n]; }
    float *K32 = xmalloc_f32(L);
    th_poison_f32(K32, L);
    double *Kref = fresh(L), *K64 = fresh(L), *Ka = xmalloc_f64(L), *b = xmalloc_f64(L);
    ssm_kernel_diag_f32(N, Af, Bf, Cf, L, K32);
    ssm_kernel_diag_ref(N, s.Abar, s.Bbar, s.C, L, Kref);
    ssm_kernel_diag(N, s.Abar, s.Bbar, s.C, L, K64);
    abs_kernel(&s, L, Ka);
    for (int k = 0; k < L; k++) {
        b[k] = 4.0 * (k + N + 2) * EPS32 * Ka[k] + 2.0 * N * FLT_MIN;   /* + flush to zero */
        ck_assert_msg(fabs((double)K32[k] - Kref[k]) <= b[k], "float32 kernel k = %d: %.3e > %.3e",
                      k, fabs((double)K32[k] - Kref[k]), b[k]);
        b[k] = 4.0 * (k + N + 2) * EPS * Ka[k] + 2.0 * N * DBL_MIN;
    }
    assert_within(K64, Kref, b, L, "float64 kernel vs reference");
    free(K32); free(Kref); free(K64); free(Ka); free(b);
}
END_TEST

/* The flush to zero: λ = 1/2, B̄ = C = 1 gives K̄_k = 2^{-k}, exact in binary floating
 * point while normal (k ≤ 1022 in float64, k ≤ 126 in float32), and exactly 0 once
 * 2^{-k} would be subnormal — never a subnormal value. */
START_TEST(kernel_flushes_subnormals)
{
    const int L = 1100;
    double complex A[1] = {0.5}, B[1] = {1}, C[1] = {1};
    float complex Af[1] = {0.5f}, Bf[1] = {1}, Cf[1] = {1};
    double *K = fresh(L), *Kd = fresh(L), A1[1] = {0.5}, B1[1] = {1}, C1[1] = {1};
    float *Kf = xmalloc_f32(L);
    th_poison_f32(Kf, L);
    ssm_kernel_diag(1, A, B, C, L, K);
    ssm_kernel_dense(1, A1, B1, C1, L, Kd);
    ssm_kernel_diag_f32(1, Af, Bf, Cf, L, Kf);
    for (int k = 0; k < L; k++) {
        double want = k <= 1022 ? ldexp(1.0, -k) : 0.0;
        ck_assert_msg(K[k] == want, "diag k = %d: %g, want %g", k, K[k], want);
        ck_assert_msg(Kd[k] == want, "dense k = %d: %g, want %g", k, Kd[k], want);
        float wantf = k <= 126 ? ldexpf(1.0f, -k) : 0.0f;
        ck_assert_msg(Kf[k] == wantf, "float32 k = %d: %g, want %g", k, (double)Kf[k], (double)wantf);
    }
    free(K); free(Kd); free(Kf);
}
END_TEST

/* ---- bad inputs -------------------------------------------------------------- */

START_TEST(lib_bad_length_exits2)
{
    double K[2] = {1, 2}, x[2] = {3, 4}, y[2];
    conv_causal_fft(K, x, 0, 0.0, y);          /* L = 0: exit 2, one line */
}
END_TEST

START_TEST(lib_bad_state_size_exits2)
{
    double complex A[1] = {0.5}, B[1] = {1}, C[1] = {1};
    double K[4];
    ssm_kernel_diag(0, A, B, C, 4, K);
}
END_TEST

START_TEST(lib_short_fft_exits2)
{
    double K[4] = {1, 2, 3, 4}, x[4] = {1, 1, 1, 1}, y[4];
    conv_fft_padded(K, x, 4, 3, 0.0, y);       /* n < L */
}
END_TEST

START_TEST(prog_bad_flags_exit2)
{
    ck_assert_exit2(PROG_PATH " --N 0", "--N");
    ck_assert_exit2(PROG_PATH " --N 5000", "--N");
    ck_assert_exit2(PROG_PATH " --Lmax 3", "--Lmax");
    ck_assert_exit2(PROG_PATH " --seed -1", "--seed");
    ck_assert_exit2(PROG_PATH " --N abc", "N");
    ck_assert_exit2(PROG_PATH " --bogus", "bogus");
}
END_TEST

/* A vector set whose Abar_dense is not square, or whose x disagrees with D. */
START_TEST(prog_bad_vector_shapes_exit2)
{
    char dir[256], cmd[1024], err[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "%s --dump-vectors %s/v > /dev/null", PROG_PATH, dir);
    ck_assert_int_eq(th_run(cmd, err, sizeof err), 0);
    /* replace D (H = 3) by a length-2 vector, in its file and in the manifest */
    char path[512];
    snprintf(path, sizeof path, "%s/v/D.npy", dir);
    double d2[2] = {1, 2};
    size_t sh[1] = {2};
    npy_write_or_die(path, NPY_F64, 1, sh, d2);
    snprintf(cmd, sizeof cmd, "sed -i '/\"name\": \"D\"/s/\\[3\\]/[2]/' %s/v/manifest.json", dir);
    ck_assert_int_eq(th_run(cmd, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "%s --check %s/v", PROG_PATH, dir);
    ck_assert_exit2(cmd, "tensor 'D' (H) dimension 0 (H): expected 3 as in 'x', got 2");
    /* a non-square Abar_dense */
    snprintf(cmd, sizeof cmd, "%s --dump-vectors %s/w > /dev/null", PROG_PATH, dir);
    ck_assert_int_eq(th_run(cmd, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/w/Abar_dense.npy", dir);
    double a[3 * 4 * 3] = {0};
    size_t sa[3] = {3, 4, 3};
    npy_write_or_die(path, NPY_F64, 3, sa, a);
    snprintf(cmd, sizeof cmd, "sed -i '/\"name\": \"Abar_dense\"/s/\\[3, 4, 4\\]/[3, 4, 3]/' %s/w/manifest.json", dir);
    ck_assert_int_eq(th_run(cmd, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "%s --check %s/w", PROG_PATH, dir);
    ck_assert_exit2(cmd, "tensor 'Abar_dense' (H, N, N) dimension 2 (N): expected 4 as in 'Abar_dense', got 3");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    th_run(cmd, err, sizeof err);
}
END_TEST

static Suite *recconv_suite(void)
{
    Suite *s = suite_create("recconv");
    TCase *tc = tcase_create("views");
    tcase_add_test(tc, views_agree);
    tcase_add_test(tc, kernels_dense_diag_agree);
    tcase_add_test(tc, dense_system_views_agree);
    tcase_add_loop_test(tc, fft_padding_lengths, 0, (int)(sizeof PAD_L / sizeof PAD_L[0]));
    tcase_add_test(tc, causality);
    tcase_add_test(tc, multi_equals_per_channel);
    tcase_add_test(tc, generation_views_agree);
    tcase_add_test(tc, kernel_precision_f32);
    tcase_add_test(tc, kernel_flushes_subnormals);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("bad_inputs");
    tcase_add_exit_test(bad, lib_bad_length_exits2, 2);
    tcase_add_exit_test(bad, lib_bad_state_size_exits2, 2);
    tcase_add_exit_test(bad, lib_short_fft_exits2, 2);
    tcase_add_test(bad, prog_bad_flags_exit2);
    tcase_add_test(bad, prog_bad_vector_shapes_exit2);
    suite_add_tcase(s, bad);
    suite_add_tcase(s, th_vectors_tcase());
    return s;
}

int main(void) { return th_run_suite(recconv_suite()); }
