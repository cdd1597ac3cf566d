/* 01_ssm_continuous/tests/test_ssm_continuous.c — the chapter's claims as tests.
 *
 * Every input is drawn from a seeded rng_t (never zeros), every output is poisoned
 * with NaN before the function under test writes it, and every tolerance says where
 * it comes from. u = DBL_EPSILON = 2.2e-16 is the unit roundoff (times 2). */
#include <complex.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "common/npy.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

#define U DBL_EPSILON

static double norm1(int n, const double *A)
{
    double best = 0.0;
    for (int j = 0; j < n; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += fabs(A[i * n + j]);
        best = fmax(best, s);
    }
    return best;
}

static void matmul(int n, const double *X, const double *Y, double *Z)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int k = 0; k < n; k++) acc += X[i * n + k] * Y[k * n + j];
            Z[i * n + j] = acc;
        }
}

/* ---------------------------------------------------------------- LU */

START_TEST(lu_solves_random_system)
{
    rng_t r;
    rng_seed(&r, 101);
    enum { n = 7, m = 3 };
    double A[n * n], LU[n * n], X[n * m], Bm[n * m], R[n * m];
    int piv[n];
    rng_fill_normal(&r, A, n * n, 0.0, 1.0);
    rng_fill_normal(&r, Bm, n * m, 0.0, 1.0);
    memcpy(LU, A, sizeof A);
    memcpy(X, Bm, sizeof Bm);
    ck_assert_int_eq(lu_factor(n, LU, piv), 0);
    lu_solve(n, LU, piv, m, X);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double acc = 0.0;
            for (int k = 0; k < n; k++) acc += A[i * n + k] * X[k * m + j];
            R[i * m + j] = acc;
        }
    /* Partial pivoting is backward stable: the residual A X - B is a few n·u·‖A‖‖X‖
     * (growth factor of a random 7×7 is O(1)); 100 n u ‖A‖₁ max|X| covers it. */
    double xmax = 0.0;
    for (int i = 0; i < n * m; i++) xmax = fmax(xmax, fabs(X[i]));
    ck_assert_allclose(R, Bm, n * m, 0.0, 100 * n * U * norm1(n, A) * xmax);
}
END_TEST

START_TEST(lu_reports_singular)
{
    double A[9] = {1, 2, 3, 2, 4, 6, 0, 1, 5};   /* row 2 = 2 · row 1 */
    int piv[3];
    ck_assert_int_ne(lu_factor(3, A, piv), 0);
}
END_TEST

/* ---------------------------------------------------------------- expm */

START_TEST(expm_diagonal)
{
    rng_t r;
    rng_seed(&r, 202);
    /* two scales: ‖A‖ < θ13 (no squaring) and ‖A‖ ≈ 20 (2 squarings) */
    const double scale[2] = {3.0, 20.0};
    for (int c = 0; c < 2; c++) {
        enum { n = 5 };
        double A[n * n] = {0}, E[n * n], want[n * n] = {0};
        for (int i = 0; i < n; i++) {
            A[i * n + i] = rng_uniform_range(&r, -scale[c], scale[c]);
            want[i * n + i] = exp(A[i * n + i]);
        }
        th_poison_f64(E, n * n);
        expm(n, A, E);
        /* On a diagonal the algorithm is the scalar Padé + s squarings per entry; each
         * squaring doubles the relative error, and r13 itself is accurate to ~u for
         * |a| ≤ θ13, so the relative error is ≲ 2^s·few u ≈ ‖A‖ u. Off-diagonal entries
         * are exact zeros (products and LU of diagonal matrices). */
        ck_assert_allclose(E, want, n * n, 50 * (1 + scale[c]) * U, 0.0);
    }
}
END_TEST

START_TEST(expm_nilpotent)
{
    rng_t r;
    rng_seed(&r, 303);
    enum { n = 6 };
    double Nm[n * n] = {0}, E[n * n], want[n * n] = {0}, P[n * n], Q[n * n];
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) Nm[i * n + j] = rng_normal(&r);
    /* N strictly upper triangular: N^n = 0, so e^N = Σ_{k<n} N^k / k! exactly */
    for (int i = 0; i < n * n; i++) P[i] = (i % (n + 1) == 0) ? 1.0 : 0.0;
    double fact = 1.0;
    for (int k = 0; k < n; k++) {
        if (k) fact *= k;
        for (int i = 0; i < n * n; i++) want[i] += P[i] / fact;
        matmul(n, P, Nm, Q);
        memcpy(P, Q, sizeof P);
    }
    th_poison_f64(E, n * n);
    expm(n, Nm, E);
    /* Both sides are sums of products of N: their rounding is ~ n u ‖N‖₁^k / k! per term,
     * bounded by n u e^{‖N‖₁}; with s squarings another 2^s. 100·n·u·e^{‖N‖₁} max|want|
     * is the allowance (the entries themselves are up to ~ e^{‖N‖₁}). */
    double wmax = 0.0;
    for (int i = 0; i < n * n; i++) wmax = fmax(wmax, fabs(want[i]));
    double nr = norm1(n, Nm);
    ck_assert_allclose(E, want, n * n, 100 * n * U * (1 + nr), 100 * n * U * (1 + nr) * wmax);
    /* below the diagonal nothing may appear */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) ck_assert(E[i * n + j] == 0.0);
}
END_TEST

/* A = [[a, w], [-w, a]]: eigenvalues a ± i w; e^A = e^a [[cos w, sin w], [-sin w, cos w]]. */
static void rotation_case(double a, double w, double *err, double *tol)
{
    double A[4] = {a, w, -w, a}, E[4];
    double want[4] = {exp(a) * cos(w), exp(a) * sin(w), -exp(a) * sin(w), exp(a) * cos(w)};
    th_poison_f64(E, 4);
    expm(2, A, E);
    *err = max_abs_diff(E, want, 4);
    /* exp is well conditioned on a normal matrix: its relative condition number is
     * ‖A‖ (Higham, Functions of Matrices, Thm 10.30), so even a backward-stable method
     * errs by ~‖A‖ u relative to ‖e^A‖ = e^a. We allow 50 ‖A‖₁ u e^a (+ a few u). */
    *tol = 50 * (1 + norm1(2, A)) * U * exp(a);
}

START_TEST(expm_rotation)
{
    rng_t r;
    rng_seed(&r, 404);
    for (int c = 0; c < 8; c++) {
        double a = rng_uniform_range(&r, -1.0, 0.5), w = rng_uniform_range(&r, 0.5, 3.0), err, tol;
        rotation_case(a, w, &err, &tol);
        ck_assert_msg(err <= tol, "rotation a=%g w=%g: error %.3e > tol %.3e", a, w, err, tol);
    }
}
END_TEST

START_TEST(expm_large_norm)
{
    rng_t r;
    rng_seed(&r, 505);
    /* (a) a rotation with ‖A‖₁ ≥ 1e3: 8–9 squarings */
    for (int c = 0; c < 4; c++) {
        double w = rng_uniform_range(&r, 1000.0, 1500.0), err, tol;
        rotation_case(-0.5, w, &err, &tol);
        ck_assert_msg(err <= tol, "rotation w=%g: error %.3e > tol %.3e", w, err, tol);
    }
    /* (b) a non-normal triangular matrix with a 1e3-sized coupling:
     * e^{[[l1, c], [0, l2]]} = [[e^{l1}, c (e^{l1} - e^{l2})/(l1 - l2)], [0, e^{l2}]] */
    double l1 = rng_uniform_range(&r, -2.0, -1.0), l2 = rng_uniform_range(&r, -0.5, 0.5);
    double cpl = rng_uniform_range(&r, 1500.0, 3000.0);
    double A[4] = {l1, cpl, 0.0, l2}, E[4];
    double want[4] = {exp(l1), cpl * (exp(l1) - exp(l2)) / (l1 - l2), 0.0, exp(l2)};
    ck_assert(norm1(2, A) >= 1e3);
    th_poison_f64(E, 4);
    expm(2, A, E);
    /* Here the condition number is ~‖A‖ as well (the divided difference is benign for
     * l1 - l2 = O(1)); each of the ~9 squarings adds ~u relative to the largest entry. */
    ck_assert_allclose(E, want, 4, 0.0, 50 * norm1(2, A) * U * fabs(want[1]));
}
END_TEST

START_TEST(expm_augmented_matches_integral)
{
    rng_t r;
    rng_seed(&r, 606);
    enum { N = 5, M = 2 };
    ssm_sys s;
    ssm_random_stable(&s, N, 17);
    double B[N * M], Phi[N * N], Gam[N * M], At[N * N], want_phi[N * N];
    rng_fill_normal(&r, B, N * M, 0.0, 1.0);
    double t = rng_uniform_range(&r, 0.3, 1.2);
    th_poison_f64(Phi, N * N);
    th_poison_f64(Gam, N * M);
    expm_augmented(N, M, s.A, B, t, Phi, Gam);
    for (int i = 0; i < N * N; i++) At[i] = s.A[i] * t;
    expm(N, At, want_phi);
    /* Phi is the top-left block of one bigger exponential: same method, ‖·‖ differs by
     * ‖B t‖, so agreement to ~100 u ‖[A B] t‖ is expected. */
    ck_assert_allclose(Phi, want_phi, N * N, 1e-13, 100 * U * (1 + t * (norm1(N, s.A) + 3)));
    /* Γ = A⁻¹ (e^{At} - I) B for invertible A: computed here by LU. The subtraction
     * e^{At} - I and the solve cost ~κ(A) u; κ(A) ≤ ‖A‖‖A⁻¹‖ ≲ 50 for this system. */
    double LU[N * N], want_g[N * M];
    int piv[N];
    memcpy(LU, s.A, sizeof LU);
    ck_assert_int_eq(lu_factor(N, LU, piv), 0);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            double acc = 0.0;
            for (int k = 0; k < N; k++) acc += (want_phi[i * N + k] - (i == k)) * B[k * M + j];
            want_g[i * M + j] = acc;
        }
    lu_solve(N, LU, piv, M, want_g);
    ck_assert_allclose(Gam, want_g, N * M, 1e-11, 1e-12);
    ssm_sys_free(&s);

    /* A singular (a double integrator): Γ = ∫₀ᵗ e^{As} ds B = [[t, t²/2], [0, t]] B, no A⁻¹ */
    double A2[4] = {0.0, 1.0, 0.0, 0.0}, B2[2] = {rng_normal(&r), rng_normal(&r)}, P2[4], G2[2];
    th_poison_f64(P2, 4);
    th_poison_f64(G2, 2);
    expm_augmented(2, 1, A2, B2, t, P2, G2);
    double wp[4] = {1.0, t, 0.0, 1.0}, wg[2] = {t * B2[0] + 0.5 * t * t * B2[1], t * B2[1]};
    /* polynomial entries: the Padé approximant is exact to ~u on a nilpotent matrix */
    ck_assert_allclose(P2, wp, 4, 10 * U, 10 * U);
    ck_assert_allclose(G2, wg, 2, 10 * U, 10 * U);
}
END_TEST

/* ---------------------------------------------------------------- signals */

START_TEST(signal_breakpoints)
{
    rng_t r;
    rng_seed(&r, 707);
    double x[12];
    rng_fill_normal(&r, x, 12, 0.0, 1.0);
    double dt = 0.1;   /* k·0.1 is inexact in binary: the grid must still be found */
    signal_t s = signal_samples(x, 12, dt);
    for (int k = 1; k < 12; k++) {
        double t = k * dt;
        ck_assert_double_eq(signal_eval(&s, t), x[k]);
        ck_assert_double_eq(signal_eval_left(&s, t), x[k - 1]);
        ck_assert_double_eq(signal_eval(&s, t + 0.5 * dt), x[k]);
        if (k < 11) ck_assert_double_eq_tol(signal_next_break(&s, t), (k + 1) * dt, 1e-15);
    }
    ck_assert(isinf(signal_next_break(&s, 11 * dt)));
    ck_assert_double_eq(signal_eval(&s, 50.0), x[11]);   /* held after the last sample */
    signal_t p = signal_impulse(2.0, 0.25);
    ck_assert_double_eq(signal_eval(&p, 0.0), 8.0);
    ck_assert_double_eq(signal_eval(&p, 0.25), 0.0);
    ck_assert_double_eq(signal_eval_left(&p, 0.25), 8.0);
    ck_assert_double_eq(signal_next_break(&p, 0.1), 0.25);
    signal_t q = signal_sine(1.5, 2.0);
    ck_assert_double_eq_tol(signal_eval(&q, 0.3), 1.5 * sin(0.6), 1e-15);
    ck_assert(isinf(signal_next_break(&q, 0.3)));
}
END_TEST

/* ---------------------------------------------------------------- exact response */

START_TEST(exact_rc_step_and_sine)
{
    rng_t r;
    rng_seed(&r, 808);
    double tau = rng_uniform_range(&r, 0.5, 2.0), amp = rng_uniform_range(&r, 0.5, 2.0);
    double w = rng_uniform_range(&r, 1.0, 4.0);
    ssm_sys s;
    ssm_rc(&s, tau, 1.0);
    enum { nt = 40 };
    double ts[nt], y[nt], want[nt];
    ts[0] = 0.0;
    for (int k = 1; k < nt; k++) ts[k] = ts[k - 1] + rng_uniform_range(&r, 0.05, 0.4);
    /* step: v(t) = amp (1 - e^{-t/τ}) */
    signal_t st = signal_step(amp);
    th_poison_f64(y, nt);
    ssm_exact(&s, &st, NULL, ts, nt, NULL, y);
    for (int k = 0; k < nt; k++) want[k] = amp * (1 - exp(-ts[k] / tau));
    /* each of the nt intervals adds ~ a few u (one 2×2 exponential): 10 u per step */
    ck_assert_allclose(y, want, nt, 0.0, 10.0 * nt * U * amp);
    /* sine: v(t) = amp [sin ωt - ωτ cos ωt + ωτ e^{-t/τ}] / (1 + ω²τ²) */
    signal_t sn = signal_sine(amp, w);
    th_poison_f64(y, nt);
    ssm_exact(&s, &sn, NULL, ts, nt, NULL, y);
    for (int k = 0; k < nt; k++) {
        double wt = w * tau;
        want[k] = amp * (sin(w * ts[k]) - wt * cos(w * ts[k]) + wt * exp(-ts[k] / tau)) / (1 + wt * wt);
    }
    /* the 3×3 augmented exponential has norm ~ω + 1/τ ≲ 6; 100 u ‖M‖ per interval */
    ck_assert_allclose(y, want, nt, 0.0, 100.0 * nt * U * (w + 1 / tau) * amp);
    ssm_sys_free(&s);
}
END_TEST

START_TEST(exact_samples_is_zoh_recurrence)
{
    rng_t r;
    rng_seed(&r, 909);
    double tau = rng_uniform_range(&r, 0.5, 2.0), dt = 0.1;
    enum { L = 30 };
    double x[L];
    rng_fill_normal(&r, x, L, 0.0, 1.0);
    ssm_sys s;
    ssm_rc(&s, tau, 1.0);
    signal_t u = signal_samples(x, L, dt);
    /* output times every half step: half of them fall inside a piece */
    double ts[2 * L + 1], y[2 * L + 1], want[2 * L + 1];
    for (int k = 0; k <= 2 * L; k++) ts[k] = k * dt / 2;
    th_poison_f64(y, 2 * L + 1);
    ssm_exact(&s, &u, NULL, ts, 2 * L + 1, NULL, y);
    /* v_{k+1/2} = e^{-dt/2τ} v_k + (1 - e^{-dt/2τ}) x_k, twice per sample */
    double a = exp(-dt / (2 * tau)), v = 0.0;
    for (int k = 0; k <= 2 * L; k++) {
        want[k] = v;
        v = a * v + (1 - a) * x[k / 2 < L ? k / 2 : L - 1];
    }
    /* both are the same contracting recurrence; rounding ~ 2L · few u · max|x| */
    ck_assert_allclose(y, want, 2 * L + 1, 0.0, 20.0 * L * U * 3.0);
    ssm_sys_free(&s);
}
END_TEST

/* ---------------------------------------------------------------- orders */

typedef void (*fixed_solver)(const ssm_sys *, const signal_t *, const double *, double, int,
                             double *, double *);

/* Measured order: least-squares slope of log(max error on the coarse grid) against
 * log(step) over `levels` halvings starting at n0 steps. */
static double measured_order(fixed_solver f, const ssm_sys *s, const signal_t *u, double T, int n0,
                             int levels)
{
    int N = s->N;
    double *ts = xmalloc_f64((size_t)n0 + 1), *Hex = xmalloc_f64((size_t)(n0 + 1) * N);
    double hs[8], es[8];
    for (int i = 0; i <= n0; i++) ts[i] = i * T / n0;
    ssm_exact(s, u, NULL, ts, n0 + 1, Hex, NULL);
    for (int k = 0; k < levels; k++) {
        int ns = n0 << k;
        double *H = xmalloc_f64((size_t)(ns + 1) * N);
        th_poison_f64(H, (size_t)(ns + 1) * N);
        f(s, u, NULL, T / ns, ns, H, NULL);
        double e = 0.0;
        for (int i = 0; i <= n0; i++)
            for (int j = 0; j < N; j++) e = fmax(e, fabs(H[((size_t)i << k) * N + j] - Hex[(size_t)i * N + j]));
        ck_assert(isfinite(e));
        hs[k] = T / ns;
        es[k] = e;
        free(H);
    }
    free(ts);
    free(Hex);
    return loglog_slope(hs, es, (size_t)levels);
}

/* The order over 4 halvings from n0 steps on [0, 5] must lie in [lo, hi]. */
static void check_order(const char *solver, fixed_solver f, const ssm_sys *s, const signal_t *u,
                        int n0, double lo, double hi)
{
    double o = measured_order(f, s, u, 5.0, n0, 4);
    ck_assert_msg(o >= lo && o <= hi, "%s order on %s (%s input): %.3f, want [%g, %g]", solver,
                  s->name, signal_name(u->kind), o, lo, hi);
}

/* A spring with random m, c, k and a random stable system of size 5. */
static void fresh_systems(rng_t *r, ssm_sys *sp, ssm_sys *rs)
{
    ssm_spring(sp, rng_uniform_range(r, 0.5, 2.0), rng_uniform_range(r, 0.1, 1.0),
               rng_uniform_range(r, 1.0, 5.0));
    ssm_random_stable(rs, 5, rng_u64(r));
}

START_TEST(rk4_order_four)
{
    rng_t r;
    rng_seed(&r, 1001);
    ssm_sys sp, rs;
    fresh_systems(&r, &sp, &rs);
    signal_t st = signal_step(rng_uniform_range(&r, 0.5, 2.0));
    signal_t sn = signal_sine(1.0, rng_uniform_range(&r, 1.0, 3.0));
    /* RK4's global error is C h⁴ + O(h⁵). With |λ| h ≤ 0.5 (|λ| ≲ 4, h ≤ 5/40)
     * the h⁵ term shifts the fitted slope by well under 0.2, and the errors (≥ 1e-10)
     * stay far above rounding (~1e-14): the slope must lie in [3.8, 4.2]. The sine
     * input also checks that stages 2–3 see x(t + h/2) — a wrong stage time would
     * drop the order to 1 or 2. */
    check_order("RK4", ssm_rk4, &sp, &st, 40, 3.8, 4.2);
    check_order("RK4", ssm_rk4, &rs, &st, 40, 3.8, 4.2);
    check_order("RK4", ssm_rk4, &rs, &sn, 40, 3.8, 4.2);
    ssm_sys_free(&sp);
    ssm_sys_free(&rs);
}
END_TEST

START_TEST(euler_order_one)
{
    rng_t r;
    rng_seed(&r, 1102);
    ssm_sys sp, rs;
    fresh_systems(&r, &sp, &rs);
    signal_t st = signal_step(rng_uniform_range(&r, 0.5, 2.0));
    /* Euler's global error is C h + O(h²); with |λ| h ≤ 0.01 (h ≤ 5/2000) the h² term
     * moves the slope by ~|λ|h ≈ 0.01, inside [0.9, 1.1]. */
    check_order("Euler", ssm_euler, &sp, &st, 2000, 0.9, 1.1);
    check_order("Euler", ssm_euler, &rs, &st, 2000, 0.9, 1.1);
    ssm_sys_free(&sp);
    ssm_sys_free(&rs);
}
END_TEST

/* The fixed-step solvers record h0 and the right number of rows, and use h0. */
START_TEST(fixed_step_initial_state)
{
    rng_t r;
    rng_seed(&r, 1203);
    ssm_sys s;
    ssm_random_stable(&s, 3, 5);
    double h0[3], H[11 * 3], y[11];
    rng_fill_normal(&r, h0, 3, 0.0, 1.0);
    signal_t st = signal_step(0.0);
    fixed_solver fs[2] = {ssm_euler, ssm_rk4};
    for (int m = 0; m < 2; m++) {
        th_poison_f64(H, 33);
        th_poison_f64(y, 11);
        fs[m](&s, &st, h0, 0.01, 10, H, y);
        ck_assert_allclose(H, h0, 3, 0.0, 0.0);   /* row 0 is h0 itself */
        for (int k = 0; k < 33; k++) ck_assert(isfinite(H[k]));
        /* y = C h + D x, x = 0 */
        double want = s.C[0] * H[30] + s.C[1] * H[31] + s.C[2] * H[32];
        ck_assert_double_eq_tol(y[10], want, 1e-14);
    }
    ssm_sys_free(&s);
}
END_TEST

/* ---------------------------------------------------------------- RK45 */

START_TEST(rk45_meets_tolerance)
{
    rng_t r;
    rng_seed(&r, 1304);
    ssm_sys s;
    ssm_random_stable(&s, 5, rng_u64(&r));
    signal_t ins[3] = {signal_step(rng_uniform_range(&r, 0.5, 2.0)),
                       signal_sine(1.0, rng_uniform_range(&r, 1.0, 3.0)),
                       signal_impulse(1.0, 0.3)};
    const double rtols[3] = {1e-4, 1e-7, 1e-10};
    const double T = 8.0;
    for (int c = 0; c < 3; c++) {
        long prev_steps = 0;
        for (int q = 0; q < 3; q++) {
            double rtol = rtols[q], atol = rtol * 1e-2;
            int np;
            double *tp, *Hp;
            rk45_stats st;
            ck_assert_int_eq(ssm_rk45_path(&s, &ins[c], NULL, T, rtol, atol, &np, &tp, &Hp, &st), 0);
            ck_assert_int_eq(np, st.accepted + 1);
            ck_assert_double_eq(tp[np - 1], T);
            double *Hx = xmalloc_f64((size_t)np * 5);
            ssm_exact(&s, &ins[c], NULL, tp, np, Hx, NULL);
            double err = max_abs_diff(Hp, Hx, (size_t)np * 5), hmax = max_abs(Hx, (size_t)np * 5);
            /* The controller keeps each step's local error ≤ atol + rtol |h| (RMS). For a
             * stable (contracting) system local errors are damped, not amplified, so the
             * global error stays within a small multiple of the tolerance; we allow 10×. */
            double tol = 10 * (atol + rtol * hmax);
            ck_assert_msg(err <= tol, "%s rtol %g: global error %.3e > %.3e", signal_name(ins[c].kind), rtol, err, tol);
            /* tighter tolerance → more steps (about tol^{-1/5} each) */
            ck_assert_msg(st.accepted > prev_steps, "%s rtol %g: %ld steps, not more than %ld",
                          signal_name(ins[c].kind), rtol, st.accepted, prev_steps);
            prev_steps = st.accepted;
            /* the output-time interface agrees with the path at the same times */
            double *Ho = xmalloc_f64((size_t)np * 5);
            th_poison_f64(Ho, (size_t)np * 5);
            ck_assert_int_eq(ssm_rk45(&s, &ins[c], NULL, tp, np, rtol, atol, Ho, NULL, NULL), 0);
            ck_assert_allclose(Ho, Hx, (size_t)np * 5, 0.0, tol);
            free(tp); free(Hp); free(Hx); free(Ho);
        }
    }
    ssm_sys_free(&s);
}
END_TEST

START_TEST(rk45_rejects_steps)
{
    /* A stiff-ish start: from the fast RC (τ = 0.01) with a large initial state, the
     * first guesses are too long and must be rejected; the result still meets the tolerance. */
    ssm_sys s;
    ssm_rc(&s, 0.01, 1.0);
    signal_t u = signal_sine(1.0, 50.0);
    double ts[2] = {0.0, 1.0}, H[2], h0 = 5.0;
    rk45_stats st;
    ck_assert_int_eq(ssm_rk45(&s, &u, &h0, ts, 2, 1e-8, 1e-10, H, NULL, &st), 0);
    double He[2];
    ssm_exact(&s, &u, &h0, ts, 2, He, NULL);
    ck_assert_msg(st.rejected > 0, "no step was rejected (accepted %ld)", st.accepted);
    ck_assert_allclose(H, He, 2, 0.0, 10 * (1e-10 + 1e-8 * 5.0));
    ssm_sys_free(&s);
}
END_TEST

START_TEST(rk45_reports_overflow)
{
    /* h' = 800 h overflows double (e^{800 t} > 1.8e308 for t > 0.89): RK45 must say so
     * (return -1) and leave NaN, never a finite-looking answer */
    ssm_sys s;
    ssm_rc(&s, 1.0, 1.0);
    s.A[0] = 800.0;
    signal_t u = signal_step(1.0);
    double ts[3] = {0.0, 0.5, 2.0}, y[3];
    th_poison_f64(y, 3);
    ck_assert_int_eq(ssm_rk45(&s, &u, NULL, ts, 3, 1e-6, 1e-9, NULL, y, NULL), -1);
    ck_assert(isfinite(y[0]) && isfinite(y[1]));   /* 0 and e^{400}-sized: still finite */
    ck_assert(isnan(y[2]));
    ssm_sys_free(&s);
}
END_TEST

/* ---------------------------------------------------------------- eigenvalues */

START_TEST(eigenvalues_known_spectrum)
{
    rng_t r;
    rng_seed(&r, 1405);
    enum { n = 6 };
    /* Λ = blockdiag([[a1, w1], [-w1, a1]], [[a2, w2], [-w2, a2]], d1, d2): eigenvalues
     * a1 ± i w1, a2 ± i w2, d1, d2; A = V Λ V⁻¹ hides them behind a random basis V. */
    double a1 = rng_uniform_range(&r, -2, -1), w1 = rng_uniform_range(&r, 1, 3);
    double a2 = rng_uniform_range(&r, 0.2, 1), w2 = rng_uniform_range(&r, 0.5, 2);
    double d1 = rng_uniform_range(&r, -4, -3), d2 = rng_uniform_range(&r, 1.5, 2.5);
    double Lm[n * n] = {0}, V[n * n], Vi[n * n] = {0}, T[n * n], A[n * n], LU[n * n];
    Lm[0] = a1; Lm[1] = w1; Lm[n] = -w1; Lm[n + 1] = a1;
    Lm[2 * n + 2] = a2; Lm[2 * n + 3] = w2; Lm[3 * n + 2] = -w2; Lm[3 * n + 3] = a2;
    Lm[4 * n + 4] = d1; Lm[5 * n + 5] = d2;
    rng_fill_normal(&r, V, n * n, 0.0, 1.0);
    for (int i = 0; i < n; i++) V[i * n + i] += 3.0;   /* keep κ(V) moderate */
    int piv[n];
    memcpy(LU, V, sizeof LU);
    ck_assert_int_eq(lu_factor(n, LU, piv), 0);
    for (int i = 0; i < n; i++) Vi[i * n + i] = 1.0;
    lu_solve(n, LU, piv, n, Vi);
    matmul(n, V, Lm, T);
    matmul(n, T, Vi, A);
    double complex lam[n], want[n] = {a1 + I * w1, a1 - I * w1, a2 + I * w2, a2 - I * w2, d1, d2};
    for (int i = 0; i < n; i++) lam[i] = NAN;
    ck_assert_int_eq(eig_general(n, A, lam), 0);
    /* Simple eigenvalues move by ≤ κ(V) ‖δA‖ (Bauer–Fike); the QR iteration is
     * backward stable, ‖δA‖ ≈ c n u ‖A‖. Allow 100 n u κ₁(V) ‖A‖₁. */
    double tol = 100 * n * U * norm1(n, V) * norm1(n, Vi) * norm1(n, A);
    for (int k = 0; k < n; k++) {
        double best = INFINITY;
        for (int i = 0; i < n; i++) best = fmin(best, cabs(lam[i] - want[k]));
        ck_assert_msg(best <= tol, "eigenvalue %g%+gi: nearest computed is %.3e away (tol %.3e)",
                      creal(want[k]), cimag(want[k]), best, tol);
    }
    for (int i = 1; i < n; i++) ck_assert(creal(lam[i - 1]) >= creal(lam[i]));   /* sorted */
    ck_assert_double_eq_tol(spectral_abscissa(n, A), d2, tol);
}
END_TEST

START_TEST(random_system_is_stable)
{
    /* A + Aᵀ = -2 P Pᵀ/N - 2δ I ≤ -2δ I, so every eigenvalue has Re λ ≤ -δ = -0.1 */
    const int sizes[3] = {1, 7, 24};
    for (int c = 0; c < 3; c++) {
        ssm_sys s;
        ssm_random_stable(&s, sizes[c], 1500 + c);
        double alpha = spectral_abscissa(s.N, s.A);
        /* eigenvalue error ≲ n u ‖A‖ (normal part dominates): 1e-10 is generous */
        ck_assert_msg(alpha <= -0.1 + 1e-10, "N=%d: max Re λ = %g", s.N, alpha);
        double tr = 0.0;
        double complex *lam = xmalloc((size_t)s.N * sizeof *lam);
        ck_assert_int_eq(eig_general(s.N, s.A, lam), 0);
        double complex sum = 0.0;
        for (int i = 0; i < s.N; i++) { tr += s.A[i * s.N + i]; sum += lam[i]; }
        /* Σλ = trace(A), to n u ‖A‖ per eigenvalue */
        ck_assert_double_eq_tol(creal(sum), tr, 1e-10 * s.N * (1 + norm1(s.N, s.A)));
        ck_assert_double_eq_tol(cimag(sum), 0.0, 1e-10 * s.N * (1 + norm1(s.N, s.A)));
        free(lam);
        ssm_sys_free(&s);
    }
}
END_TEST

/* ---------------------------------------------------------------- the program: bad inputs */

static char g_dir[256];

static void write_npy(const char *name, int ndim, const size_t *shape, const double *x)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    npy_write_or_die(path, NPY_F64, ndim, shape, x);
}

static void cli_setup(void)
{
    th_tmpdir(g_dir, sizeof g_dir);
    rng_t r;
    rng_seed(&r, 1606);
    double v[16];
    rng_fill_normal(&r, v, 16, 0.0, 1.0);
    size_t s33[2] = {3, 3}, s34[2] = {3, 4}, s3[1] = {3}, s4[1] = {4}, s1[1] = {1};
    double A[9] = {-1.0, 0.5, 0.0, -0.5, -1.2, 0.3, 0.0, -0.3, -0.7};
    write_npy("A.npy", 2, s33, A);
    write_npy("A34.npy", 2, s34, v);
    write_npy("B.npy", 1, s3, v);
    write_npy("B4.npy", 1, s4, v);
    write_npy("C.npy", 1, s3, v + 4);
    write_npy("D.npy", 1, s1, v + 8);
    double An[9];
    memcpy(An, A, sizeof A);
    An[4] = NAN;
    write_npy("Anan.npy", 2, s33, An);
}

static void cli_teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
}

static void exit2(const char *args, const char *text)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s --out '%s/out'", g_dir, PROG_PATH, args, g_dir);
    ck_assert_exit2(cmd, text);
}

START_TEST(cli_bad_inputs)
{
    exit2("--A A34.npy --B B.npy --C C.npy", "expected a square matrix");
    exit2("--A A.npy --B B4.npy --C C.npy", "B4.npy: expected B of shape (3,) or (3, 1)");
    exit2("--A A.npy --B B.npy --C B4.npy", "expected C of shape (3,)");
    exit2("--A Anan.npy --B B.npy --C C.npy", "Anan.npy: element 4 is nan");
    exit2("--A missing.npy --B B.npy --C C.npy", "missing.npy");
    exit2("--A A.npy", "--B and --C");
    exit2("--dt 0", "--dt");
    exit2("--dt -0.1", "--dt");
    exit2("--dt 0.3", "divides --T");
    exit2("--T -1", "--T");
    exit2("--rtol 0", "--rtol");
    exit2("--input chirp", "--input");
    exit2("--input file", "--signal");
    exit2("--signal A.npy", "1-D signal");
    exit2("--signal missing.npy", "missing.npy");
    exit2("--system pendulum", "--system");
    exit2("--N 0", "--N");
    exit2("--input impulse --width 0.3", "breakpoint spacing");
    exit2("--bogus 1", "bogus");
}
END_TEST

START_TEST(cli_runs_on_files)
{
    /* a system from .npy files and a signal from a .npy file: the whole lesson runs */
    char cmd[2048], err[4096];
    rng_t r;
    rng_seed(&r, 1707);
    double x[40];
    rng_fill_normal(&r, x, 40, 0.0, 1.0);
    size_t s40[1] = {40};
    write_npy("x.npy", 1, s40, x);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' --A A.npy --B B.npy --C C.npy --D D.npy --signal x.npy --signal-dt 0.05 "
             "--dt 0.05 --levels 3 --out '%s/out' > '%s/stdout.txt'",
             g_dir, PROG_PATH, g_dir, g_dir);
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    char path[512];
    snprintf(path, sizeof path, "%s/out/convergence.dat", g_dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    fclose(f);
    snprintf(path, sizeof path, "%s/out/summary.tsv", g_dir);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    fclose(f);
}
END_TEST

/* --check reads any valid shapes: B as (N,) instead of (N, 1) still passes; a B of the
 * wrong length exits 2 naming it. */
START_TEST(check_accepts_vector_shapes)
{
    char cmd[2048], err[4096], path[512];
    snprintf(cmd, sizeof cmd, "cp -r '%s/vectors/%s/.' '%s/'", ROOT_DIR, STAGE_NAME, g_dir);
    ck_assert_int_eq(system(cmd), 0);
    npy_array a;
    snprintf(path, sizeof path, "%s/B.npy", g_dir);
    npy_read_or_die(path, &a);
    size_t n = a.size, s1[1] = {n}, s2[1] = {n + 1};
    npy_write_or_die(path, NPY_F64, 1, s1, a.data);
    /* the manifest must say the same shape as the file */
    snprintf(cmd, sizeof cmd, "sed -i 's/\\(\"file\": \"B.npy\", \"dtype\": \"float64\", \"shape\": \\)\\[4, 1\\]/\\1[4]/' '%s/manifest.json'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s' > /dev/null", PROG_PATH, g_dir);
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--check with B of shape (N,) exited %d: %s", rc, err);
    double *longer = xcalloc(n + 1, sizeof *longer);
    memcpy(longer, a.data, n * sizeof *longer);
    longer[n] = 1.0;
    npy_write_or_die(path, NPY_F64, 1, s2, longer);
    snprintf(cmd, sizeof cmd, "sed -i 's/\\(\"file\": \"B.npy\", \"dtype\": \"float64\", \"shape\": \\)\\[4\\]/\\1[5]/' '%s/manifest.json'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", PROG_PATH, g_dir);
    ck_assert_exit2(cmd, "dimension 0 (N): expected 4 as in 'A', got 5");
    free(longer);
    npy_free(&a);
}
END_TEST

/* ---------------------------------------------------------------- suite */

int main(void)
{
    Suite *s = suite_create("01_ssm_continuous");
    TCase *tc = tcase_create("math");
    tcase_add_test(tc, lu_solves_random_system);
    tcase_add_test(tc, lu_reports_singular);
    tcase_add_test(tc, expm_diagonal);
    tcase_add_test(tc, expm_nilpotent);
    tcase_add_test(tc, expm_rotation);
    tcase_add_test(tc, expm_large_norm);
    tcase_add_test(tc, expm_augmented_matches_integral);
    tcase_add_test(tc, signal_breakpoints);
    tcase_add_test(tc, exact_rc_step_and_sine);
    tcase_add_test(tc, exact_samples_is_zoh_recurrence);
    tcase_add_test(tc, rk4_order_four);
    tcase_add_test(tc, euler_order_one);
    tcase_add_test(tc, fixed_step_initial_state);
    tcase_add_test(tc, rk45_meets_tolerance);
    tcase_add_test(tc, rk45_rejects_steps);
    tcase_add_test(tc, rk45_reports_overflow);
    tcase_add_test(tc, eigenvalues_known_spectrum);
    tcase_add_test(tc, random_system_is_stable);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    TCase *cli = tcase_create("program");
    tcase_add_checked_fixture(cli, cli_setup, cli_teardown);
    tcase_add_test(cli, cli_bad_inputs);
    tcase_add_test(cli, cli_runs_on_files);
    tcase_add_test(cli, check_accepts_vector_shapes);
    tcase_set_timeout(cli, 120);
    suite_add_tcase(s, cli);
    suite_add_tcase(s, th_vectors_tcase());
    return th_run_suite(s);
}
