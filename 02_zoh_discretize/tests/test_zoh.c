/* 02_zoh_discretize/tests/test_zoh.c — Check suite for the discretizations.
 *
 *   exactness   ZOH against stage 01's continuous solution (RK45 and the exact (1.6))
 *   orders      measured orders of bilinear (2), Euler and Mamba's pair (1), within ±0.1
 *   singular    singular and nearly singular A against closed forms
 *   diag        the diagonal complex path against the dense path
 *   phi1        (e^z − 1)/z to 1e-14 relative where the naive formula loses every digit
 *   recurrence  the recurrence against powers of e^{ΔA} from expm
 *   cli         bad inputs exit 2 with one line
 *   vectors     the standard golden-vector tests */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "02_zoh_discretize/zoh.h"
#include "common/npy.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

#define EPS 2.220446049250313e-16

/* The continuous output at t = (k+1)Δ for samples x held on each step: y = C h + D x_k. */
static void continuous_held(const ssm_sys *s, const double *x, int L, double dt, int exact,
                            double *yref)
{
    signal_t u = signal_samples(x, L, dt);
    double *ts = xmalloc_f64((size_t)L), *H = xmalloc_f64((size_t)L * s->N);
    for (int k = 0; k < L; k++) ts[k] = (k + 1) * dt;
    if (exact) ssm_exact(s, &u, NULL, ts, L, H, NULL);
    else ck_assert_int_eq(ssm_rk45(s, &u, NULL, ts, L, 1e-13, 1e-15, H, NULL, NULL), 0);
    for (int k = 0; k < L; k++) {
        yref[k] = s->D * x[k];
        for (int i = 0; i < s->N; i++) yref[k] += s->C[i] * H[(size_t)k * s->N + i];
    }
    free(H);
    free(ts);
}

static void run_method(discretize_fn fn, const ssm_sys *s, double dt, const double *x, int L,
                       double *y)
{
    int N = s->N;
    double *Abar = xmalloc_f64((size_t)N * N), *Bbar = xmalloc_f64((size_t)N);
    th_poison_f64(Abar, (size_t)N * N);
    th_poison_f64(Bbar, (size_t)N);
    fn(N, 1, s->A, s->B, dt, Abar, Bbar);
    th_poison_f64(y, (size_t)L);
    ssm_recurrence_dense(N, Abar, Bbar, s->C, s->D, NULL, x, L, y);
    free(Bbar);
    free(Abar);
}

/* ---- exactness ---- */

START_TEST(zoh_exact_against_stage01)
{
    rng_t r;
    rng_seed(&r, 21);
    ssm_sys sys[2];
    ssm_spring(&sys[0], 1.0, 0.7, 3.0);
    ssm_random_stable(&sys[1], 5, 22);   /* D = 0.5: the feedthrough is tested too */
    const double dts[3] = {0.05, 0.3, 1.7};
    for (int q = 0; q < 2; q++)
        for (int d = 0; d < 3; d++) {
            int L = 24;
            double x[24], y[24], yrk[24], yex[24];
            rng_fill_normal(&r, x, (size_t)L, 0.0, 1.0);
            run_method(zoh_dense, &sys[q], dts[d], x, L, y);
            continuous_held(&sys[q], x, L, dts[d], 0, yrk);
            continuous_held(&sys[q], x, L, dts[d], 1, yex);
            /* RK45 at rtol 1e-13 accumulates to ~1e-12 over the run: allow 1e-10 of max|y| */
            double scale = max_abs(yrk, (size_t)L);
            ck_assert_allclose(y, yrk, (size_t)L, 0.0, 1e-10 * scale);
            /* stage 01's exact response is the same exponential, piece by piece: rounding
             * only, L steps of ~10 ε each → 1e-12 */
            ck_assert_allclose(y, yex, (size_t)L, 0.0, 1e-12 * scale);
        }
    ssm_sys_free(&sys[1]);
    ssm_sys_free(&sys[0]);
}
END_TEST

/* ---- measured orders ---- */

START_TEST(measured_orders)
{
    ssm_sys s;
    ssm_spring(&s, 1.0, 1.0, 4.0);
    signal_t u = signal_sine(1.0, 1.3);
    const double T = 4.0;
    enum { NDT = 4 };
    double dts[NDT], err[DISC_NMETHODS][NDT];
    for (int j = 0; j < NDT; j++) {
        dts[j] = 0.02 / (double)(1 << j);   /* 0.02 … 0.0025: the asymptotic range */
        int L = (int)lround(T / dts[j]);
        double *x = xmalloc_f64((size_t)L), *y = xmalloc_f64((size_t)L), *yref = xmalloc_f64((size_t)L);
        for (int k = 0; k < L; k++) x[k] = signal_eval(&u, k * dts[j]);
        /* the reference: ZOH, exact for the held input (tested above against RK45) */
        run_method(zoh_dense, &s, dts[j], x, L, yref);
        for (int m = 1; m < DISC_NMETHODS; m++) {
            run_method(DISC_METHODS[m].fn, &s, dts[j], x, L, y);
            err[m][j] = rel_err(y, yref, (size_t)L);
        }
        free(yref);
        free(y);
        free(x);
    }
    for (int m = 1; m < DISC_NMETHODS; m++) {
        double p = loglog_slope(dts, err[m], NDT);
        /* the acceptance band: the theoretical order ± 0.1 */
        ck_assert_msg(fabs(p - DISC_METHODS[m].order) <= 0.1, "%s: measured order %.3f, want %d ± 0.1",
                      DISC_METHODS[m].name, p, DISC_METHODS[m].order);
    }
    ssm_sys_free(&s);
}
END_TEST

/* ---- singular A ---- */

START_TEST(singular_A)
{
    const double dt = 0.37;
    double Abar[9], Bbar[3];
    /* the double integrator q'' = x: A nilpotent, e^{ΔA} = I + ΔA, B̄ = (Δ²/2, Δ) */
    const double A2[4] = {0, 1, 0, 0}, B2[2] = {0, 1};
    const double wantA2[4] = {1, dt, 0, 1}, wantB2[2] = {dt * dt / 2, dt};
    th_poison_f64(Abar, 4), th_poison_f64(Bbar, 2);
    zoh_dense(2, 1, A2, B2, dt, Abar, Bbar);
    /* exact polynomials; Padé is exact on a nilpotent matrix up to rounding: 4 ε */
    ck_assert_allclose(Abar, wantA2, 4, 4 * EPS, 4 * EPS);
    ck_assert_allclose(Bbar, wantB2, 2, 4 * EPS, 0);

    /* A = 0: Ā = I, B̄ = ΔB */
    const double A0[9] = {0}, B0[3] = {0.3, -1.2, 2.5};
    const double I3[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, wantB0[3] = {dt * 0.3, dt * -1.2, dt * 2.5};
    th_poison_f64(Abar, 9), th_poison_f64(Bbar, 3);
    zoh_dense(3, 1, A0, B0, dt, Abar, Bbar);
    ck_assert_allclose(Abar, I3, 9, 0, 2 * EPS);
    ck_assert_allclose(Bbar, wantB0, 3, 2 * EPS, 0);

    /* A = V diag(0, −2) V⁻¹ with V = [[1, 1], [1, 2]], V⁻¹ = [[2, −1], [−1, 1]]:
     * B̄ = V diag(Δ, (1 − e^{−2Δ})/2) V⁻¹ B, Ā = V diag(1, e^{−2Δ}) V⁻¹ */
    const double V[4] = {1, 1, 1, 2}, Vi[4] = {2, -1, -1, 1}, B[2] = {0.8, -0.6};
    double A[4], wantA[4], wantB[2];
    double lam[2] = {0, -2}, ea[2] = {1, exp(-2 * dt)}, g[2] = {dt, -expm1(-2 * dt) / 2};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            A[i * 2 + j] = wantA[i * 2 + j] = 0;
            for (int k = 0; k < 2; k++) {
                A[i * 2 + j] += V[i * 2 + k] * lam[k] * Vi[k * 2 + j];
                wantA[i * 2 + j] += V[i * 2 + k] * ea[k] * Vi[k * 2 + j];
            }
        }
    for (int i = 0; i < 2; i++) {
        wantB[i] = 0;
        for (int k = 0; k < 2; k++) wantB[i] += V[i * 2 + k] * g[k] * (Vi[k * 2] * B[0] + Vi[k * 2 + 1] * B[1]);
    }
    th_poison_f64(Abar, 4), th_poison_f64(Bbar, 2);
    zoh_dense(2, 1, A, B, dt, Abar, Bbar);
    /* cond(V) ≈ 18 times a few ε from expm */
    ck_assert_allclose(Abar, wantA, 4, 0, 1e-14);
    ck_assert_allclose(Bbar, wantB, 2, 0, 1e-14);

    /* nearly singular: a = −1e-12, B̄ = Δ φ₁(Δa) b. A⁻¹(e^{ΔA} − I) in floating point
     * loses ~12 digits here (relative error 1e-4); the augmented exponential none: 4 ε */
    const double a1 = -1e-12, b1 = 1.7;
    double want1 = dt * phi1_real(dt * a1) * b1, got1[1], gotA1[1];
    zoh_dense(1, 1, &a1, &b1, dt, gotA1, got1);
    ck_assert_allclose(got1, &want1, 1, 4 * EPS, 0);
}
END_TEST

/* ---- diagonal vs dense ----
 * A complex number p + iq acts on (re, im) like the real block [[p, −q], [q, p]], and
 * this map respects sums, products, inverses and exponentials. So the dense methods on
 * the block-diagonal real matrix must give, block by block, the diagonal results. */
static void diag_vs_dense(discretize_fn dense,
                          void (*diag)(int, const double complex *, const double complex *, double,
                                       double complex *, double complex *),
                          double rtol)
{
    rng_t r;
    rng_seed(&r, 31);
    enum { ND = 5, N = 2 * ND };
    double complex a[ND], b[ND], ab[ND], bb[ND];
    for (int n = 0; n < ND; n++) {
        a[n] = CMPLX(-rng_uniform_range(&r, 0.05, 3.0), rng_uniform_range(&r, -10, 10));
        b[n] = CMPLX(rng_normal(&r), rng_normal(&r));
    }
    a[0] = CMPLX(-0.8, 0.0);   /* a real mode */
    double A[N * N] = {0}, B[N], Abar[N * N], Bbar[N], gotA[N * N] = {0}, gotB[N];
    for (int n = 0; n < ND; n++) {
        int o = 2 * n;
        A[o * N + o] = creal(a[n]), A[o * N + o + 1] = -cimag(a[n]);
        A[(o + 1) * N + o] = cimag(a[n]), A[(o + 1) * N + o + 1] = creal(a[n]);
        B[o] = creal(b[n]), B[o + 1] = cimag(b[n]);
    }
    const double dts[3] = {0.01, 0.2, 1.5};
    for (int d = 0; d < 3; d++) {
        th_poison_f64(Abar, N * N), th_poison_f64(Bbar, N);
        dense(N, 1, A, B, dts[d], Abar, Bbar);
        diag(ND, a, b, dts[d], ab, bb);
        for (int n = 0; n < ND; n++) {
            int o = 2 * n;
            gotA[o * N + o] = creal(ab[n]), gotA[o * N + o + 1] = -cimag(ab[n]);
            gotA[(o + 1) * N + o] = cimag(ab[n]), gotA[(o + 1) * N + o + 1] = creal(ab[n]);
            gotB[o] = creal(bb[n]), gotB[o + 1] = cimag(bb[n]);
        }
        ck_assert_allclose(gotA, Abar, N * N, rtol, rtol);
        ck_assert_allclose(gotB, Bbar, N, rtol, rtol * max_abs(Bbar, N));
    }
}

START_TEST(zoh_diag_vs_dense)
{
    /* expm of ‖ΔA‖ up to 15: relative accuracy ~1e-15 times a few squarings → 1e-12 */
    diag_vs_dense(zoh_dense, zoh_diag, 1e-12);
}
END_TEST

START_TEST(bilinear_diag_vs_dense)
{
    /* one LU solve of a 10×10 block-diagonal, well-conditioned matrix: 1e-13 */
    diag_vs_dense(bilinear_dense, bilinear_diag, 1e-13);
}
END_TEST

START_TEST(mamba_diag_vs_dense)
{
    diag_vs_dense(mamba_dense, mamba_diag, 1e-12);
}
END_TEST

/* ---- phi1 ---- */

/* The reference in long double (64-bit mantissa): the Taylor series with 40 terms for
 * |z| ≤ 1 (remainder < 1/41! ≈ 1e-50), and (e^z − 1)/z for |z| > 1 where the
 * subtraction loses at most one bit. */
static long double complex phi1_ref(long double complex z)
{
    if (cabsl(z) <= 1.0L) {
        long double complex s = 1.0L;
        for (int k = 41; k >= 2; k--) s = 1.0L + z / (long double)k * s;
        return s;
    }
    return (cexpl(z) - 1.0L) / z;
}

START_TEST(phi1_small_z)
{
    const double complex zs[] = {
        CMPLX(1e-300, 0), CMPLX(1e-20, 0), CMPLX(-3e-17, 0), CMPLX(1e-12, -1e-12),
        CMPLX(0, 1e-9),   CMPLX(-2e-7, 5e-8), CMPLX(1e-5, 0), CMPLX(-0.003, 0.004),
        CMPLX(0.2499, 0), CMPLX(0.2501, 0), CMPLX(0, -0.2499), CMPLX(0, 0.2501),
        CMPLX(-0.1, 0.24), CMPLX(0.7, -0.3), CMPLX(-3.0, 20.0), CMPLX(-700, 1), CMPLX(5, 5),
        CMPLX(0.1306, 0.5)};   /* expm1(x) cos y ≈ 2 sin²(y/2): the real part's terms cancel */
    const int n = (int)(sizeof zs / sizeof zs[0]);
    for (int i = 0; i < n; i++) {
        double complex got = phi1(zs[i]);
        long double complex want = phi1_ref(zs[i]);
        double err = (double)(cabsl((long double complex)got - want) / cabsl(want));
        /* 13 Horner steps or 5 roundings in the expm1 path, each ≤ ε: ~1.5e-15; 1e-14 is
         * the bound */
        ck_assert_msg(err <= 1e-14, "phi1(%g%+gi): relative error %.2e", creal(zs[i]), cimag(zs[i]), err);
    }
    /* the naive formula on the same tiny z loses every digit: the test above bites */
    double complex z = CMPLX(1e-17, 0);
    double complex naive = (cexp(z) - 1.0) / z;
    ck_assert_msg(cabs(naive - 1.0) > 0.5, "naive (e^z-1)/z at z = 1e-17 was %g, expected total loss",
                  creal(naive));
    ck_assert_msg(cabs(phi1(z) - 1.0) <= EPS, "phi1(1e-17) = %.17g", creal(phi1(z)));
    /* and at z = 1e-10 the naive formula keeps only ~7 digits */
    z = 1e-10;
    naive = (cexp(z) - 1.0) / z;
    ck_assert(cabs(naive - (1.0 + 5e-11)) > 1e-9);

    /* phi1_real against expm1l(z)/z in long double */
    const double zr[] = {1e-300, -1e-18, 3e-9, -0.2, 0.26, 1.0, -40.0, 30.0};
    for (size_t i = 0; i < sizeof zr / sizeof zr[0]; i++) {
        long double w = expm1l((long double)zr[i]) / (long double)zr[i];
        double err = (double)fabsl(((long double)phi1_real(zr[i]) - w) / w);
        ck_assert_msg(err <= 1e-14, "phi1_real(%g): relative error %.2e", zr[i], err);   /* expm1: < 1 ulp */
    }
    ck_assert(phi1_real(0.0) == 1.0);
    ck_assert(phi1(0.0) == 1.0);
}
END_TEST

/* ---- the recurrence ---- */

START_TEST(recurrence_free_response)
{
    /* x = 0 and h_{-1} = h0: y_k = C Ā^{k+1} h0, and with ZOH Ā^{k+1} = e^{(k+1)ΔA} */
    ssm_sys s;
    ssm_random_stable(&s, 6, 41);
    rng_t r;
    rng_seed(&r, 42);
    const int N = 6, L = 30;
    const double dt = 0.2;
    double h0[6], x[30] = {0}, y[30], want[30], Abar[36], Bbar[6], At[36], E[36];
    rng_fill_normal(&r, h0, N, 0, 1);
    zoh_dense(N, 1, s.A, s.B, dt, Abar, Bbar);
    th_poison_f64(y, L);
    ssm_recurrence_dense(N, Abar, Bbar, s.C, s.D, h0, x, L, y);
    for (int k = 0; k < L; k++) {
        for (int i = 0; i < N * N; i++) At[i] = (k + 1) * dt * s.A[i];
        expm(N, At, E);
        want[k] = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) want[k] += s.C[i] * E[i * N + j] * h0[j];
    }
    /* L steps of rounding, each ~N ε relative to the state's size: L·N·ε·‖C‖‖h0‖ ≈ 1e-12 */
    ck_assert_allclose(y, want, L, 0, 1e-12 * max_abs(want, L));

    /* linearity in x with h0 = NULL, and the feedthrough: y(x1 + 2 x2) = y(x1) + 2 y(x2) */
    double x1[30], x2[30], x3[30], y1[30], y2[30], y3[30], y12[30];
    rng_fill_normal(&r, x1, L, 0, 1), rng_fill_normal(&r, x2, L, 0, 1);
    for (int k = 0; k < L; k++) x3[k] = x1[k] + 2 * x2[k];
    ssm_recurrence_dense(N, Abar, Bbar, s.C, s.D, NULL, x1, L, y1);
    ssm_recurrence_dense(N, Abar, Bbar, s.C, s.D, NULL, x2, L, y2);
    ssm_recurrence_dense(N, Abar, Bbar, s.C, s.D, NULL, x3, L, y3);
    for (int k = 0; k < L; k++) y12[k] = y1[k] + 2 * y2[k];
    ck_assert_allclose(y3, y12, L, 1e-12, 1e-12 * max_abs(y12, L));   /* rounding only */
    ssm_sys_free(&s);
}
END_TEST

START_TEST(gbt_family)
{
    /* forward/backward Euler and bilinear are the GBT at α = 0, 1, 1/2: check the
     * closed forms on a scalar a: Ā = (1 + (1−α)Δa)/(1 − αΔa), B̄ = Δb/(1 − αΔa) */
    const double a = -2.3, b = 0.9, dt = 0.15;
    const double alpha[3] = {0.0, 1.0, 0.5};
    discretize_fn fns[3] = {euler_forward_dense, euler_backward_dense, bilinear_dense};
    for (int i = 0; i < 3; i++) {
        double Ab, Bb, wA = (1 + (1 - alpha[i]) * dt * a) / (1 - alpha[i] * dt * a),
                       wB = dt * b / (1 - alpha[i] * dt * a);
        fns[i](1, 1, &a, &b, dt, &Ab, &Bb);
        ck_assert_allclose(&Ab, &wA, 1, 4 * EPS, 0);   /* a handful of roundings */
        ck_assert_allclose(&Bb, &wB, 1, 4 * EPS, 0);
    }
    ck_assert_ptr_eq(disc_method_find("bilinear")->fn, bilinear_dense);
    ck_assert_ptr_null(disc_method_find("nope"));
}
END_TEST

/* ---- the program: bad inputs exit 2 with one line ---- */

static void write_npy(const char *dir, const char *name, int ndim, const size_t *shape,
                      const double *data, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    char err[512];
    ck_assert_msg(npy_write(path, NPY_F64, ndim, shape, data, err, sizeof err) == 0, "%s", err);
}

START_TEST(cli_bad_inputs)
{
    char cmd[8192], dir[256], pA[512], pA34[512], pB[512], pB3[512], pC[512], px[512], pxnan[512];
    th_tmpdir(dir, sizeof dir);
    const double A[4] = {0, 1, -4, -1}, A34[12] = {1}, B[2] = {0, 1}, B3[3] = {1, 2, 3}, C[2] = {1, 0};
    double x[5] = {1, 2, 3, 4, 5}, xnan[5] = {1, 2, NAN, 4, 5};
    write_npy(dir, "A.npy", 2, (size_t[]){2, 2}, A, pA, sizeof pA);
    write_npy(dir, "A34.npy", 2, (size_t[]){3, 4}, A34, pA34, sizeof pA34);
    write_npy(dir, "B.npy", 1, (size_t[]){2}, B, pB, sizeof pB);
    write_npy(dir, "B3.npy", 1, (size_t[]){3}, B3, pB3, sizeof pB3);
    write_npy(dir, "C.npy", 1, (size_t[]){2}, C, pC, sizeof pC);
    write_npy(dir, "x.npy", 1, (size_t[]){5}, x, px, sizeof px);
    write_npy(dir, "xnan.npy", 1, (size_t[]){5}, xnan, pxnan, sizeof pxnan);
    const char *P = PROG_PATH;
    /* each case: the program's flags and a word the one-line error must contain */
    char files[5][2200];
    snprintf(files[0], sizeof files[0], "--A '%s' --B '%s' --C '%s'", pA34, pB, pC);
    snprintf(files[1], sizeof files[1], "--A '%s' --B '%s' --C '%s'", pA, pB3, pC);
    snprintf(files[2], sizeof files[2], "--A '%s' --B '%s' --C '%s'", pA, pB, pB3);
    snprintf(files[3], sizeof files[3], "--A '%s' --B '%s'", pA, pB);
    snprintf(files[4], sizeof files[4], "--x '%s'", pxnan);
    const char *cases[][2] = {
        {"--dt 0", "--dt"}, {"--dt -0.1", "--dt"}, {"--dt inf", "dt"}, {"--dt nan", "dt"},
        {files[0], "square"}, {files[1], "B: expected shape (2,)"}, {files[2], "C: expected shape (2,)"},
        {files[3], "--A, --B and --C"}, {files[4], "x"}, {"--x /nonexistent/missing.npy", "missing.npy"},
        {"--system pendulum", "--system"}, {"--signal chirp", "--signal"}, {"--bogus 1", "bogus"},
        {"--T 0", "--T"}, {"--N 0 --system random", "--N"}, {"--omega -1", "--omega"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' --out '%s/o' %s", P, dir, cases[i][0]);
        ck_assert_exit2(cmd, cases[i][1]);
    }

    /* --check on a set whose dt holds a non-positive step, or whose B does not match A */
    char vdir[600], path[700];
    snprintf(vdir, sizeof vdir, "%s/v", dir);
    snprintf(cmd, sizeof cmd, "'%s' --dump-vectors '%s' >/dev/null", P, vdir);
    ck_assert_int_eq(system(cmd), 0);
    const double dtbad[3] = {0.1, 0.0, 1.0};
    snprintf(path, sizeof path, "%s/dt.npy", vdir);
    char err[512];
    ck_assert_int_eq(npy_write(path, NPY_F64, 1, (size_t[]){3}, dtbad, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", P, vdir);
    ck_assert_exit2(cmd, "dt[1]");
    snprintf(path, sizeof path, "%s/B.npy", vdir);
    ck_assert_int_eq(npy_write(path, NPY_F64, 2, (size_t[]){3, 1}, B3, err, sizeof err), 0);
    ck_assert_exit2(cmd, "B.npy");   /* the manifest pins the shape */

    /* a good custom run works and writes y for every method */
    snprintf(cmd, sizeof cmd, "'%s' --out '%s/o' --A '%s' --B '%s' --C '%s' --D 0.5 --x '%s' --dt 0.2 >/dev/null 2>&1",
             P, dir, pA, pB, pC, px);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/o/y_bilinear.npy", dir);
    npy_array a;
    ck_assert_int_eq(npy_read(path, &a, err, sizeof err), 0);
    ck_assert_int_eq((int)a.shape[0], 5);
    npy_free(&a);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *zoh_suite(void)
{
    Suite *s = suite_create("02_zoh_discretize");
    TCase *t = tcase_create("math");
    tcase_add_test(t, zoh_exact_against_stage01);
    tcase_add_test(t, measured_orders);
    tcase_add_test(t, singular_A);
    tcase_add_test(t, zoh_diag_vs_dense);
    tcase_add_test(t, bilinear_diag_vs_dense);
    tcase_add_test(t, mamba_diag_vs_dense);
    tcase_add_test(t, phi1_small_z);
    tcase_add_test(t, recurrence_free_response);
    tcase_add_test(t, gbt_family);
    suite_add_tcase(s, t);
    TCase *c = tcase_create("cli");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, cli_bad_inputs);
    suite_add_tcase(s, c);
    suite_add_tcase(s, th_vectors_tcase());
    return s;
}

int main(void)
{
    return th_run_suite(zoh_suite());
}
