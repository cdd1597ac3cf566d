/* 02_zoh_discretize/main.c — the lesson program of chapters/02_zoh_discretize.md.
 *
 * It reads top to bottom in the chapter's order:
 *   1. ZOH is exact: discrete outputs against stage 01's continuous solution
 *   2. error versus Δ: measured orders of bilinear, Euler and Mamba's pair; ZOH's floor
 *   3. stability: spectral radius of Ā versus Δ; forward Euler blowing up
 *   4. Δ as resolution: one system at several Δ; how Δ trades state for input
 *   5. frequency response of the discrete systems against the continuous one
 *   6. Mamba's ΔB against the exact ZOH B̄, as a function of Δ·|A|
 *   7. your system and input (--A/--B/--C/--D, --x, --dt): y for every method as .npy
 * plus --dump-vectors DIR and --check DIR (golden vectors, vectors.c).
 *
 * Every number printed here is computed here; the chapter quotes them. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "02_zoh_discretize/vectors.h"
#include "02_zoh_discretize/zoh.h"
#include "common/cli.h"
#include "common/npy.h"
#include "common/plot.h"
#include "common/rng.h"
#include "common/util.h"

/* Stage 01's RK45 as the continuous reference: tolerances far below every error we
 * measure, so what we see is the discretization, not the reference. */
#define RK_RTOL 1e-13
#define RK_ATOL 1e-15

static const char *g_out = "out";

static void outpath(char *buf, size_t len, const char *name)
{
    path_join(buf, len, g_out, name);
}

static void plot(const char *name)
{
    plot_run(STAGE_DIR, name, g_out);   /* prints one line itself if gnuplot fails */
}

/* ------------------------------------------------------------------------ */
/* Shared steps                                                             */
/* ------------------------------------------------------------------------ */

/* The samples the discrete system sees: x_k = x(kΔ), held on [kΔ, (k+1)Δ). */
static void sample(const signal_t *u, double dt, int L, double *x)
{
    for (int k = 0; k < L; k++) x[k] = signal_eval(u, k * dt);
}

/* The continuous system driven by the held samples (stage 01), read at the sample
 * times t = (k+1)Δ: y_ref_k = C h((k+1)Δ) + D x_k. exact = 1 uses stage 01's exact
 * response (1.6); exact = 0 its adaptive RK45, an independent method. */
static void continuous_held(const ssm_sys *s, const double *x, int L, double dt, int exact,
                            double *yref)
{
    signal_t u = signal_samples(x, L, dt);
    double *ts = xmalloc_f64((size_t)L), *H = xmalloc_f64((size_t)L * s->N);
    for (int k = 0; k < L; k++) ts[k] = (k + 1) * dt;
    if (exact)
        ssm_exact(s, &u, NULL, ts, L, H, NULL);
    else if (ssm_rk45(s, &u, NULL, ts, L, RK_RTOL, RK_ATOL, H, NULL, NULL) != 0)
        die(1, "RK45 reference failed (step size underflow) at dt = %g", dt);
    for (int k = 0; k < L; k++) {
        double yk = s->D * x[k];
        for (int i = 0; i < s->N; i++) yk += s->C[i] * H[(size_t)k * s->N + i];
        yref[k] = yk;
    }
    free(H);
    free(ts);
}

/* Discretize with `fn` at step dt (2.3–2.9), then run the recurrence (2.1). */
static void discrete_run(discretize_fn fn, const ssm_sys *s, double dt, const double *x,
                         int L, double *y)
{
    int N = s->N;
    double *Abar = xmalloc_f64((size_t)N * N), *Bbar = xmalloc_f64((size_t)N);
    fn(N, 1, s->A, s->B, dt, Abar, Bbar);
    ssm_recurrence_dense(N, Abar, Bbar, s->C, s->D, NULL, x, L, y);
    free(Bbar);
    free(Abar);
}

/* Spectral radius max |λ(M)| (stage 01's eigenvalues). */
static double spectral_radius(int n, const double *M)
{
    double complex *lam = xmalloc(sizeof(double complex) * (size_t)n);
    if (eig_general(n, M, lam) != 0) die(1, "eigenvalue iteration did not converge");
    double r = 0;
    for (int i = 0; i < n; i++) r = fmax(r, cabs(lam[i]));
    free(lam);
    return r;
}

/* C (sI − M)⁻¹ B for complex s: the resolvent solved as the real system of twice
 * the size, [[Re, −Im], [Im, Re]], with stage 01's LU. */
static double complex resolvent_gain(int N, const double *M, const double *B, const double *C,
                                     double complex s)
{
    int n2 = 2 * N;
    double *K = xmalloc_f64((size_t)n2 * n2), *rhs = xmalloc_f64((size_t)n2);
    int *piv = xmalloc(sizeof(int) * (size_t)n2);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            double re = (i == j ? creal(s) : 0.0) - M[i * N + j], im = (i == j ? cimag(s) : 0.0);
            K[i * n2 + j] = re;
            K[i * n2 + N + j] = -im;
            K[(N + i) * n2 + j] = im;
            K[(N + i) * n2 + N + j] = re;
        }
        rhs[i] = B[i];
        rhs[N + i] = 0.0;
    }
    double complex g = NAN;
    if (lu_factor(n2, K, piv) == 0) {
        lu_solve(n2, K, piv, 1, rhs);
        g = 0;
        for (int i = 0; i < N; i++) g += C[i] * CMPLX(rhs[i], rhs[N + i]);
    }
    free(piv);
    free(rhs);
    free(K);
    return g;
}

/* ------------------------------------------------------------------------ */
/* 1. ZOH is exact for piecewise-constant input (§2.2)                      */
/* ------------------------------------------------------------------------ */

/* Returns the largest relative error of ZOH against RK45 over the Δ list. */
static double section_exactness(const ssm_sys *s, const signal_t *u, const double *xfile,
                                int Lfile, const double *dts, int ndt, double T)
{
    printf("\n1. ZOH is exact: discrete y_k against stage 01's continuous solution at t = (k+1)Δ\n"
           "   (system %s, N = %d; input held on each step; error = max_k |y_k - y(t_k)| / max|y|)\n",
           s->name, s->N);
    printf("   %-8s %6s | %-10s %-10s %-10s %-10s %-10s | %s\n", "dt", "L", "zoh", "bilinear",
           "euler_fwd", "euler_bwd", "mamba", "zoh vs exact (1.6)");
    double worst = 0;
    int plot_i = ndt - 1;   /* the coarsest step makes the clearest picture */
    for (int d = 0; d < ndt; d++) {
        double dt = dts[d];
        int L = xfile ? Lfile : (int)lround(T / dt);
        if (L < 1) L = 1;
        double *x = xmalloc_f64((size_t)L), *yref = xmalloc_f64((size_t)L),
               *yex = xmalloc_f64((size_t)L), *y = xmalloc_f64((size_t)L * DISC_NMETHODS);
        if (xfile) memcpy(x, xfile, sizeof(double) * (size_t)L);
        else sample(u, dt, L, x);
        continuous_held(s, x, L, dt, 0, yref);
        continuous_held(s, x, L, dt, 1, yex);
        printf("   %-8g %6d |", dt, L);
        for (int m = 0; m < DISC_NMETHODS; m++) {
            discrete_run(DISC_METHODS[m].fn, s, dt, x, L, y + (size_t)m * L);
            printf(" %-10.2e", rel_err(y + (size_t)m * L, yref, (size_t)L));
        }
        double ez = rel_err(y, yref, (size_t)L);
        worst = fmax(worst, ez);
        printf(" | %.2e\n", rel_err(y, yex, (size_t)L));
        if (d == plot_i) {
            /* the continuous curve on a fine grid, and the discrete samples on it */
            int F = 40 * L;
            double *tf = xmalloc_f64((size_t)F), *yf = xmalloc_f64((size_t)F),
                   *tk = xmalloc_f64((size_t)L);
            for (int i = 0; i < F; i++) tf[i] = (i + 1) * (L * dt) / F;
            signal_t held = signal_samples(x, L, dt);
            ssm_exact(s, &held, NULL, tf, F, NULL, yf);
            for (int k = 0; k < L; k++) tk[k] = (k + 1) * dt;
            char p[4096];
            outpath(p, sizeof p, "exactness_cont.dat");
            dat_write(p, "t y_continuous", (size_t)F, 2, (const double *const[]){tf, yf});
            outpath(p, sizeof p, "exactness_disc.dat");
            dat_write(p, "t zoh bilinear euler_fwd euler_bwd mamba x", (size_t)L, 7,
                      (const double *const[]){tk, y, y + L, y + 2 * (size_t)L,
                                              y + 3 * (size_t)L, y + 4 * (size_t)L, x});
            free(tk);
            free(yf);
            free(tf);
        }
        free(y);
        free(yex);
        free(yref);
        free(x);
    }
    plot("exactness");
    printf("   -> ZOH matches the continuous solution to %.1e relative for every dt; the others\n"
           "      are approximations whose error grows with dt.\n", worst);
    return worst;
}

/* ------------------------------------------------------------------------ */
/* 2. Error versus Δ: measured orders (§2.3)                                */
/* ------------------------------------------------------------------------ */

#define NCONV 7
static void section_convergence(const ssm_sys *s, double T, double orders[DISC_NMETHODS])
{
    printf("\n2. Error versus dt for a smooth input x(t) = sin(t), sampled and held (system %s)\n"
           "   reference: stage 01's RK45 (rtol %g) driven by the same held samples\n", s->name,
           RK_RTOL);
    printf("   %-10s | %-10s %-10s %-10s %-10s %-10s | %s\n", "dt", "zoh", "bilinear", "euler_fwd",
           "euler_bwd", "mamba", "zoh vs smooth x(t)");
    signal_t u = signal_sine(1.0, 1.0);
    double dts[NCONV], err[DISC_NMETHODS + 1][NCONV];
    for (int j = 0; j < NCONV; j++) {
        double dt = 0.1 / (double)(1 << j);
        int L = (int)lround(T / dt);
        dts[j] = dt;
        double *x = xmalloc_f64((size_t)L), *yref = xmalloc_f64((size_t)L),
               *ys = xmalloc_f64((size_t)L), *y = xmalloc_f64((size_t)L), *ts = xmalloc_f64((size_t)L);
        sample(&u, dt, L, x);
        continuous_held(s, x, L, dt, 0, yref);
        /* the response to the smooth sine itself (not held), stage 01's exact (1.7) */
        for (int k = 0; k < L; k++) ts[k] = (k + 1) * dt;
        ssm_exact(s, &u, NULL, ts, L, NULL, ys);
        printf("   %-10.5f |", dt);
        for (int m = 0; m < DISC_NMETHODS; m++) {
            discrete_run(DISC_METHODS[m].fn, s, dt, x, L, y);
            err[m][j] = rel_err(y, yref, (size_t)L);
            printf(" %-10.2e", err[m][j]);
            if (m == 0) err[DISC_NMETHODS][j] = rel_err(y, ys, (size_t)L);   /* the spring has D = 0 */
        }
        printf(" | %.2e\n", err[DISC_NMETHODS][j]);
        free(ts);
        free(y);
        free(ys);
        free(yref);
        free(x);
    }
    printf("   fitted slopes of log(error) against log(dt):\n");
    for (int m = 0; m < DISC_NMETHODS; m++) {
        orders[m] = loglog_slope(dts, err[m], NCONV);
        if (DISC_METHODS[m].order == 0)
            printf("     %-10s floor: max error %.1e over all dt (no slope: it is exact)\n",
                   DISC_METHODS[m].name, max_abs(err[m], NCONV));
        else
            printf("     %-10s %.3f  (theory %d)\n", DISC_METHODS[m].name, orders[m],
                   DISC_METHODS[m].order);
    }
    double os = loglog_slope(dts, err[DISC_NMETHODS], NCONV);
    printf("     %-10s %.3f  (the hold itself: x(t) replaced by x(kΔ) on each step, order 1)\n",
           "zoh/smooth", os);
    char p[4096];
    outpath(p, sizeof p, "convergence.dat");
    dat_write(p, "dt zoh bilinear euler_fwd euler_bwd mamba zoh_vs_smooth", NCONV, 7,
              (const double *const[]){dts, err[0], err[1], err[2], err[3], err[4], err[5]});
    plot("convergence");
}

/* ------------------------------------------------------------------------ */
/* 3. Stability (§2.4)                                                      */
/* ------------------------------------------------------------------------ */

static double fe_radius(const ssm_sys *s, double dt)
{
    int N = s->N;
    double *Abar = xmalloc_f64((size_t)N * N), *Bbar = xmalloc_f64((size_t)N);
    euler_forward_dense(N, 1, s->A, s->B, dt, Abar, Bbar);
    double r = spectral_radius(N, Abar);
    free(Bbar);
    free(Abar);
    return r;
}

#define NSTAB 161
/* Returns the measured critical Δ of forward Euler divided by 2/|λ|max. */
static double section_stability(const ssm_sys *s, const char *tag)
{
    int N = s->N;
    double complex lam[8];
    if (N > 8 || eig_general(N, s->A, lam) != 0) die(1, "stability: eigenvalues of %s", s->name);
    double lmax = 0;
    printf("   %s: eigenvalues of A:", s->name);
    for (int i = 0; i < N; i++) {
        lmax = fmax(lmax, cabs(lam[i]));
        printf(" %g%+gi", creal(lam[i]), cimag(lam[i]));
    }
    double pred = 2.0 / lmax;
    /* spectral radius of Ā for every method on a log grid of Δ|λ|max in [1e-2, 1e3] */
    double dts[NSTAB], rho[DISC_NMETHODS][NSTAB];
    double *Abar = xmalloc_f64((size_t)N * N), *Bbar = xmalloc_f64((size_t)N);
    for (int j = 0; j < NSTAB; j++) {
        dts[j] = pow(10.0, -2.0 + 5.0 * j / (NSTAB - 1)) / lmax;
        for (int m = 0; m < DISC_NMETHODS; m++) {
            DISC_METHODS[m].fn(N, 1, s->A, s->B, dts[j], Abar, Bbar);
            rho[m][j] = spectral_radius(N, Abar);
        }
    }
    /* the measured threshold: bisection on ρ(I + ΔA) = 1 */
    double lo = 0.01 / lmax, hi = 100.0 / lmax;
    for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        if (fe_radius(s, mid) > 1.0) hi = mid;
        else lo = mid;
    }
    printf("\n     forward Euler: stable up to dt = %.10g (measured), 2/|lambda|max = %.10g\n", lo,
           pred);
    printf("     dt values (of %d, dt|lambda|max in [1e-2, 1e3]) with spectral radius >= 1:", NSTAB);
    for (int m = 0; m < DISC_NMETHODS; m++) {
        int n1 = 0;
        for (int j = 0; j < NSTAB; j++) n1 += rho[m][j] >= 1.0;
        printf(" %s %d", DISC_METHODS[m].name, n1);
    }
    printf("\n     at the largest dt: ZOH %.2e, backward Euler %.2e, bilinear %.6f (stiff modes map to\n"
           "     near -1: bilinear never blows up, but it no longer damps them)\n",
           rho[0][NSTAB - 1], rho[3][NSTAB - 1], rho[1][NSTAB - 1]);
    char p[4096], name[64];
    snprintf(name, sizeof name, "stability_%s.dat", tag);
    outpath(p, sizeof p, name);
    double lm[NSTAB];
    for (int j = 0; j < NSTAB; j++) lm[j] = 2.0 / lmax;   /* the threshold, as a column */
    dat_write(p, "dt zoh bilinear euler_fwd euler_bwd mamba fe_threshold", NSTAB, 7,
              (const double *const[]){dts, rho[0], rho[1], rho[2], rho[3], rho[4], lm});
    /* the step response at 0.9 and 1.1 times the threshold */
    int L = 60;
    double *x = xmalloc_f64((size_t)L), *t = xmalloc_f64((size_t)L), *yb = xmalloc_f64((size_t)L),
           *ya = xmalloc_f64((size_t)L), *yz = xmalloc_f64((size_t)L);
    for (int k = 0; k < L; k++) x[k] = 1.0;
    for (int k = 0; k < L; k++) t[k] = (k + 1);
    discrete_run(euler_forward_dense, s, 0.9 * pred, x, L, yb);
    discrete_run(euler_forward_dense, s, 1.1 * pred, x, L, ya);
    discrete_run(zoh_dense, s, 1.1 * pred, x, L, yz);
    double yss = creal(resolvent_gain(N, s->A, s->B, s->C, 0.0)) + s->D;   /* −CA⁻¹B + D */
    printf("     unit step, %d steps (steady state %.4g): forward Euler at 0.9*2/|lambda| ends at %.4g;\n"
           "     at 1.1*2/|lambda| it reaches |y| = %.3g (%.0fx the steady state); ZOH there ends at %.4g\n",
           L, yss, yb[L - 1], max_abs(ya, (size_t)L), max_abs(ya, (size_t)L) / fabs(yss), yz[L - 1]);
    snprintf(name, sizeof name, "diverge_%s.dat", tag);
    outpath(p, sizeof p, name);
    dat_write(p, "k fe_0.9 fe_1.1 zoh_1.1", (size_t)L, 4, (const double *const[]){t, yb, ya, yz});
    free(yz);
    free(ya);
    free(yb);
    free(t);
    free(x);
    free(Bbar);
    free(Abar);
    return lo / pred;
}

/* ------------------------------------------------------------------------ */
/* 4. Δ as resolution (§2.5)                                                */
/* ------------------------------------------------------------------------ */

#define NRES 4
#define NGATE 121
static void section_resolution(const ssm_sys *s)
{
    printf("\n4. dt as resolution: %s, unit step input, sampled by ZOH at several dt\n", s->name);
    const double dts[NRES] = {0.1, 0.25, 0.5, 1.0};
    const double T = 10.0;
    int F = 1000;
    double *tf = xmalloc_f64((size_t)F), *yf = xmalloc_f64((size_t)F);
    signal_t step = signal_step(1.0);
    for (int i = 0; i < F; i++) tf[i] = (i + 1) * T / F;
    ssm_exact(s, &step, NULL, tf, F, NULL, yf);
    char p[4096];
    outpath(p, sizeof p, "resolution_cont.dat");
    dat_write(p, "t y_continuous", (size_t)F, 2, (const double *const[]){tf, yf});
    size_t nrows[NRES];
    double *cols[NRES][2];
    double worst = 0;
    for (int d = 0; d < NRES; d++) {
        int L = (int)lround(T / dts[d]);
        double *x = xmalloc_f64((size_t)L), *yc = xmalloc_f64((size_t)L);
        cols[d][0] = xmalloc_f64((size_t)L);
        cols[d][1] = xmalloc_f64((size_t)L);
        for (int k = 0; k < L; k++) x[k] = 1.0, cols[d][0][k] = (k + 1) * dts[d];
        discrete_run(zoh_dense, s, dts[d], x, L, cols[d][1]);
        ssm_exact(s, &step, NULL, cols[d][0], L, NULL, yc);
        double e = rel_err(cols[d][1], yc, (size_t)L);
        worst = fmax(worst, e);
        printf("   dt = %-5g L = %4d steps cover the same %g s; max deviation from the continuous "
               "curve %.1e\n", dts[d], L, T, e);
        nrows[d] = (size_t)L;
        free(yc);
        free(x);
    }
    const double *const *blocks[NRES];
    for (int d = 0; d < NRES; d++) blocks[d] = (const double *const *)cols[d];
    outpath(p, sizeof p, "resolution_disc.dat");
    dat_write_blocks(p, "t y_zoh", NRES, nrows, 2, blocks);
    for (int d = 0; d < NRES; d++) free(cols[d][0]), free(cols[d][1]);
    free(yf);
    free(tf);
    plot("resolution");

    /* The gate: one diagonal mode a = -1 (2.11). Ā = e^{Δa} is what the state keeps,
     * |a|·B̄ = 1 − e^{Δa} what the new input gets (they add up to 1). */
    printf("   one mode a = -1: h_k = Abar h_{k-1} + Bbar x_k\n");
    printf("   %-8s %-12s %-14s %s\n", "dt", "Abar (keep)", "|a| Bbar (take)",
           "memory: steps until Abar^k < 1/e");
    double dg[NGATE], keep[NGATE], take[NGATE], mem[NGATE];
    double complex a = -1.0, b = 1.0, Ab, Bb;
    for (int j = 0; j < NGATE; j++) {
        dg[j] = pow(10.0, -3.0 + 5.0 * j / (NGATE - 1));
        zoh_diag(1, &a, &b, dg[j], &Ab, &Bb);
        keep[j] = creal(Ab);
        take[j] = cabs(a) * creal(Bb);
        mem[j] = 1.0 / (dg[j] * cabs(a));
        if (j % 24 == 0)
            printf("   %-8g %-12.6f %-14.6f %.4g\n", dg[j], keep[j], take[j], mem[j]);
    }
    outpath(p, sizeof p, "resolution_gate.dat");
    dat_write(p, "dt keep take memory_steps", NGATE, 4, (const double *const[]){dg, keep, take, mem});
    plot("resolution_gate");
}

/* ------------------------------------------------------------------------ */
/* 5. Frequency response (§2.6)                                             */
/* ------------------------------------------------------------------------ */

#define NFREQ 600
static void section_frequency(const ssm_sys *s, double dt)
{
    int N = s->N;
    printf("\n5. Frequency response, %s, dt = %g (Nyquist pi/dt = %.4f rad/s)\n", s->name, dt,
           M_PI / dt);
    /* H(iω) = C (iωI − A)⁻¹ B + D;  the recurrence (2.1) has H_d(z) = z C (zI − Ā)⁻¹ B̄ + D
     * at z = e^{iωΔ} (the factor z: y_k is read after x_k entered the state). */
    const int meth[] = {0, 1, 3, 4};   /* forward Euler is unstable here (section 3): left out */
    const int nm = 4;
    double w[NFREQ], mag[5][NFREQ], warp[NFREQ];
    double *Abar = xmalloc_f64((size_t)N * N * nm), *Bbar = xmalloc_f64((size_t)N * nm);
    for (int m = 0; m < nm; m++)
        DISC_METHODS[meth[m]].fn(N, 1, s->A, s->B, dt, Abar + (size_t)m * N * N, Bbar + (size_t)m * N);
    double fe_rho = fe_radius(s, dt), warp_dev = 0;
    for (int i = 0; i < NFREQ; i++) {
        w[i] = (M_PI / dt) * (i + 1) / NFREQ;
        mag[0][i] = cabs(resolvent_gain(N, s->A, s->B, s->C, I * w[i]) + s->D);
        double complex z = cexp(I * w[i] * dt);
        for (int m = 0; m < nm; m++)
            mag[m + 1][i] = cabs(z * resolvent_gain(N, Abar + (size_t)m * N * N, Bbar + (size_t)m * N,
                                                     s->C, z) + s->D);
        /* bilinear's prediction: H_d(e^{iθ}) = e^{iθ/2}/cos(θ/2) · G(i (2/Δ) tan(θ/2)) + D,
         * G(s) = C(sI − A)⁻¹B: frequency warping ω → (2/Δ) tan(ωΔ/2). */
        double th = w[i] * dt;
        double complex pred = cexp(0.5 * I * th) / cos(0.5 * th) *
                              resolvent_gain(N, s->A, s->B, s->C, I * (2.0 / dt) * tan(0.5 * th)) + s->D;
        warp[i] = cabs(pred);
        if (i < NFREQ - 1) warp_dev = fmax(warp_dev, fabs(mag[2][i] - warp[i]) / warp[i]);
    }
    const char *names[5] = {"continuous", "zoh", "bilinear", "euler_bwd", "mamba"};
    double peak[5];
    for (int m = 0; m < 5; m++) {
        int im = 0;
        for (int i = 1; i < NFREQ; i++) if (mag[m][i] > mag[m][im]) im = i;
        peak[m] = w[im];
    }
    double complex dc_c = resolvent_gain(N, s->A, s->B, s->C, 0.0) + s->D;
    printf("   forward Euler: spectral radius %.3f > 1 at this dt, so no frequency response\n", fe_rho);
    printf("   %-11s %-12s %-12s %s\n", "system", "peak w", "|H| at peak", "DC gain rel. error");
    for (int m = 0; m < 5; m++) {
        double dcerr = 0;
        if (m > 0) {
            double complex dcd = resolvent_gain(N, Abar + (size_t)(m - 1) * N * N,
                                                Bbar + (size_t)(m - 1) * N, s->C, 1.0) + s->D;
            dcerr = cabs(dcd - dc_c) / cabs(dc_c);
        }
        printf("   %-11s %-12.4f %-12.4f %.1e\n", names[m], peak[m],
               mag[m][(int)lround(peak[m] / (M_PI / dt) * NFREQ) - 1], dcerr);
    }
    printf("   bilinear's warping predicts its peak at (2/dt) atan(w_c dt/2) = %.4f (grid spacing %.4f)\n",
           (2.0 / dt) * atan(peak[0] * dt / 2.0), M_PI / dt / NFREQ);
    printf("   |H_bilinear| against the warping formula: max rel. deviation %.1e\n", warp_dev);
    char p[4096];
    outpath(p, sizeof p, "frequency.dat");
    dat_write(p, "w continuous zoh bilinear euler_bwd mamba bilinear_warp_formula", NFREQ, 7,
              (const double *const[]){w, mag[0], mag[1], mag[2], mag[3], mag[4], warp});
    plot("frequency");
    free(Bbar);
    free(Abar);
}

/* ------------------------------------------------------------------------ */
/* 6. Mamba's ΔB against the exact ZOH B̄ (§2.7)                             */
/* ------------------------------------------------------------------------ */

#define NGAP 121
/* Relative gap ‖ΔB − B̄‖₂/‖B̄‖₂ of a dense system at step dt. */
static double dense_gap(const ssm_sys *s, double dt)
{
    int N = s->N;
    double *Az = xmalloc_f64((size_t)N * N), *Bz = xmalloc_f64((size_t)N),
           *Am = xmalloc_f64((size_t)N * N), *Bm = xmalloc_f64((size_t)N);
    zoh_dense(N, 1, s->A, s->B, dt, Az, Bz);
    mamba_dense(N, 1, s->A, s->B, dt, Am, Bm);
    double num = 0, den = 0;
    for (int i = 0; i < N; i++) num += (Bm[i] - Bz[i]) * (Bm[i] - Bz[i]), den += Bz[i] * Bz[i];
    free(Bm);
    free(Am);
    free(Bz);
    free(Az);
    return sqrt(num / den);
}

static double diag_gap(double complex a, double dt)
{
    double complex b = 1.0, Az, Bz, Am, Bm;
    zoh_diag(1, &a, &b, dt, &Az, &Bz);
    mamba_diag(1, &a, &b, dt, &Am, &Bm);
    return cabs(Bm - Bz) / cabs(Bz);
}

static void section_mamba_gap(double gaps_out[3])
{
    printf("\n6. Mamba's Bbar = dt B against the exact ZOH Bbar (both with Abar = e^{dt A})\n"
           "   relative gap |dt B - Bbar| / |Bbar| = |1/phi1(dt a) - 1| for a diagonal mode\n");
    ssm_sys R;
    ssm_random_stable(&R, 8, 7);
    double rho = spectral_radius(R.N, R.A);
    const double complex a_real = -1.0, a_cplx = -0.5 + 4.0 * M_PI * I;
    double x[NGAP], g_real[NGAP], g_cplx[NGAP], g_dense[NGAP], lead[NGAP];
    for (int j = 0; j < NGAP; j++) {
        x[j] = pow(10.0, -4.0 + 6.0 * j / (NGAP - 1));   /* Δ·|A| from 1e-4 to 1e2 */
        g_real[j] = diag_gap(a_real, x[j] / cabs(a_real));
        g_cplx[j] = diag_gap(a_cplx, x[j] / cabs(a_cplx));
        g_dense[j] = dense_gap(&R, x[j] / rho);
        lead[j] = x[j] / 2.0;
    }
    printf("   %-8s %-12s %-14s %-16s %-10s %s\n", "dt|A|", "a = -1", "a = -0.5+4pi i",
           "dense N=8 (|A|=rho)", "dt|A|/2", "absolute gap/(dt^2|a||b|/2), a = -1");
    const double probe[] = {0.01, 0.1, 1.0, 10.0};
    for (int q = 0; q < 4; q++) {
        double dt = probe[q];
        double gr = diag_gap(a_real, dt);
        /* the absolute gap of a = −1, b = 1 against its leading term Δ²|a||b|/2 */
        double complex b = 1.0, Az, Bz, Am, Bm, ar = a_real;
        zoh_diag(1, &ar, &b, dt, &Az, &Bz);
        mamba_diag(1, &ar, &b, dt, &Am, &Bm);
        printf("   %-8g %-12.6f %-14.6f %-16.6f %-10.4f %.4f\n", probe[q], gr,
               diag_gap(a_cplx, probe[q] / cabs(a_cplx)), dense_gap(&R, probe[q] / rho),
               probe[q] / 2.0, cabs(Bm - Bz) / (0.5 * dt * dt));
        if (q < 3) gaps_out[q] = gr;
    }
    /* Mamba's initialization: Δ ∈ [1e-3, 1e-1], A = −(n+1) for n = 0..15 (S4D-real) */
    double gmin = INFINITY, gmax = 0;
    for (int n = 0; n < 16; n++)
        for (int e = 0; e <= 20; e++) {
            double dt = pow(10.0, -3.0 + 2.0 * e / 20.0);
            double g = diag_gap(-(double)(n + 1), dt);
            gmin = fmin(gmin, g), gmax = fmax(gmax, g);
        }
    printf("   over Mamba's init (dt in [1e-3, 1e-1], A_n = -(n+1), n < 16): gap from %.2e to %.2e\n",
           gmin, gmax);
    char p[4096];
    outpath(p, sizeof p, "mamba_gap.dat");
    dat_write(p, "dtA real_a complex_a dense_N8 leading_dtA_over_2", NGAP, 5,
              (const double *const[]){x, g_real, g_cplx, g_dense, lead});
    plot("mamba_gap");
    ssm_sys_free(&R);
}

/* ------------------------------------------------------------------------ */
/* 7. Your system: the recurrence for every method, as .npy (§2.1)          */
/* ------------------------------------------------------------------------ */

static void section_custom(const ssm_sys *s, const double *x, int L, double dt)
{
    printf("\n7. The recurrence (2.1) for %s at dt = %g on %d input samples: y written as .npy\n",
           s->name, dt, L);
    double *y = xmalloc_f64((size_t)L), *yref = xmalloc_f64((size_t)L);
    continuous_held(s, x, L, dt, 0, yref);
    char p[4096], name[64];
    size_t shape[1] = {(size_t)L};
    outpath(p, sizeof p, "x.npy");
    npy_write_or_die(p, NPY_F64, 1, shape, x);
    for (int m = 0; m < DISC_NMETHODS; m++) {
        discrete_run(DISC_METHODS[m].fn, s, dt, x, L, y);
        snprintf(name, sizeof name, "y_%s.npy", DISC_METHODS[m].name);
        outpath(p, sizeof p, name);
        npy_write_or_die(p, NPY_F64, 1, shape, y);
        printf("   %-10s -> %s   (rel. error against the continuous solution %.2e)\n",
               DISC_METHODS[m].name, p, rel_err(y, yref, (size_t)L));
    }
    outpath(p, sizeof p, "y_continuous.npy");
    npy_write_or_die(p, NPY_F64, 1, shape, yref);
    free(yref);
    free(y);
}

/* ------------------------------------------------------------------------ */
/* Inputs from flags                                                        */
/* ------------------------------------------------------------------------ */

/* A vector of length N from a .npy of shape (N,), (N, 1) or (1, N). */
static double *load_vector(const char *path, const char *what, size_t N)
{
    npy_array a;
    npy_read_or_die(path, &a);
    int ok = (a.ndim == 1 && a.shape[0] == N) ||
             (a.ndim == 2 && ((a.shape[0] == N && a.shape[1] == 1) || (a.shape[0] == 1 && a.shape[1] == N)));
    if (!ok) {
        char got[128] = "";
        size_t o = 0;
        for (int i = 0; i < a.ndim && o < sizeof got - 24; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, i ? ", %zu" : "%zu", a.shape[i]);
        die(2, "%s: %s: expected shape (%zu,) or (%zu, 1) to match A, got (%s)", path, what, N, N, got);
    }
    double *v = npy_to_f64(&a);
    npy_free(&a);
    char label[4200];
    snprintf(label, sizeof label, "%s: %s", path, what);
    require_finite(label, v, N);
    return v;
}

static void system_from_flags(ssm_sys *s, const char *name, int N, const char *fA, const char *fB,
                              const char *fC, double D)
{
    if (fA || fB || fC) {
        if (!fA || !fB || !fC) die(2, "--A, --B and --C go together: give all three .npy files");
        size_t sh[2];
        double *A = npy_load_f64(fA, "A", 2, sh);
        if (sh[0] != sh[1] || sh[0] < 1)
            die(2, "%s: A: expected a square matrix, got shape (%zu, %zu)", fA, sh[0], sh[1]);
        double *B = load_vector(fB, "B", sh[0]), *C = load_vector(fC, "C", sh[0]);
        ssm_sys_alloc(s, (int)sh[0], "from .npy");
        memcpy(s->A, A, sizeof(double) * sh[0] * sh[0]);
        memcpy(s->B, B, sizeof(double) * sh[0]);
        memcpy(s->C, C, sizeof(double) * sh[0]);
        s->D = 0.0;
        free(C), free(B), free(A);
    } else if (strcmp(name, "spring") == 0) {
        ssm_spring(s, 1.0, 1.0, 4.0);
    } else if (strcmp(name, "rc") == 0) {
        ssm_rc(s, 1.0, 1.0);
    } else if (strcmp(name, "random") == 0) {
        ssm_random_stable(s, N, 1);
    } else {
        die(2, "--system: expected spring, rc or random, got '%s'", name);
    }
    if (!isnan(D)) s->D = D;   /* --D given: it replaces the built-in feedthrough */
}

int main(int argc, char **argv)
{
    const char *out = "out", *dump = NULL, *check = NULL, *system = "spring", *fA = NULL,
               *fB = NULL, *fC = NULL, *fx = NULL, *sig = "sine";
    double dt = 0.1, T = 10.0, D = NAN, omega = 1.0;
    int N = 4;
    cli_opt opts[] = {
        {"out", CLI_STRING, &out, "output directory"},
        {"dump-vectors", CLI_STRING, &dump, "write the golden vectors to DIR and exit"},
        {"check", CLI_STRING, &check, "recompute every output of the vector set in DIR; exit 0 if all pass"},
        {"system", CLI_STRING, &system, "built-in system of sections 1 and 7: spring | rc | random"},
        {"N", CLI_INT, &N, "state size of --system random (1..64)"},
        {"A", CLI_STRING, &fA, "your A (N, N) as .npy (with --B, --C)"},
        {"B", CLI_STRING, &fB, "your B (N,) or (N, 1) as .npy"},
        {"C", CLI_STRING, &fC, "your C (N,) or (1, N) as .npy"},
        {"D", CLI_DOUBLE, &D, "feedthrough D (nan: the system's own; 0 for .npy systems)"},
        {"signal", CLI_STRING, &sig, "input of sections 1 and 7: step | impulse | sine"},
        {"omega", CLI_DOUBLE, &omega, "sine frequency, rad/s"},
        {"x", CLI_STRING, &fx, "input samples (L,) as .npy, held on each step (overrides --signal)"},
        {"dt", CLI_DOUBLE, &dt, "step of section 7 (and of section 1 with --x)"},
        {"T", CLI_DOUBLE, &T, "duration of sections 1 and 2, seconds"},
        {0}};
    cli_parse(argc, argv,
              "Stage 02: discretize the continuous SSM (ZOH, bilinear, Euler, Mamba's pair) and "
              "show exactness, orders, stability, resolution, frequency response and Mamba's gap.",
              opts);
    if (!(dt > 0) || !isfinite(dt)) die(2, "--dt: expected a finite number > 0, got %g", dt);
    if (!(T > 0) || T > 1e4) die(2, "--T: expected 0 < T <= 1e4, got %g", T);
    if (!(omega > 0)) die(2, "--omega: expected > 0, got %g", omega);
    if (N < 1 || N > 64) die(2, "--N: expected 1..64, got %d", N);
    if (T / dt > 1e6) die(2, "--dt: T/dt = %g steps is too many (at most 1e6)", T / dt);
    if (dump) {
        return zoh_vectors(dump, 1);
    }
    if (check) return zoh_vectors(check, 0);

    ssm_sys S;
    system_from_flags(&S, system, N, fA, fB, fC, D);
    signal_t u;
    if (strcmp(sig, "step") == 0) u = signal_step(1.0);
    else if (strcmp(sig, "impulse") == 0) u = signal_impulse(1.0, 0.01);
    else if (strcmp(sig, "sine") == 0) u = signal_sine(1.0, omega);
    else die(2, "--signal: expected step, impulse or sine, got '%s'", sig);
    double *xfile = NULL;
    size_t Lx = 0;
    if (fx) {
        size_t sh[1];
        xfile = npy_load_f64(fx, "x", 1, sh);   /* exits 2 on a wrong rank or NaN/Inf */
        if (sh[0] < 1 || sh[0] > 1000000) die(2, "%s: x: expected 1..1e6 samples, got %zu", fx, sh[0]);
        Lx = sh[0];
    }

    g_out = out;
    mkdir_p(out);
    summary_reset(out);
    double t0 = now_seconds();
    printf("Stage 02 — from the continuous SSM to a discrete one (float64)\n");

    /* 1 */
    const double dts1[4] = {0.01, 0.1, 0.5, 1.0};
    double ex = fx ? section_exactness(&S, &u, xfile, (int)Lx, &dt, 1, T)
                   : section_exactness(&S, &u, NULL, 0, dts1, 4, T);
    summary_add(out, "ZOH vs continuous (RK45), max rel. error", "%.1e", ex);

    /* 2 */
    ssm_sys spring;
    ssm_spring(&spring, 1.0, 1.0, 4.0);
    double ord[DISC_NMETHODS];
    section_convergence(&spring, 10.0, ord);
    summary_add(out, "measured order bilinear / euler_fwd / euler_bwd / mamba", "%.3f / %.3f / %.3f / %.3f",
                ord[1], ord[2], ord[3], ord[4]);

    /* 3 */
    printf("\n3. Stability: spectral radius of Abar against dt (stable iff < 1)\n");
    ssm_sys od, stiff;
    ssm_spring(&od, 1.0, 5.0, 4.0);
    snprintf(od.name, sizeof od.name, "overdamped spring");
    ssm_spring(&stiff, 1.0, 1001.0, 1000.0);
    snprintf(stiff.name, sizeof stiff.name, "stiff spring");
    double r1 = section_stability(&od, "spring");
    double r2 = section_stability(&stiff, "stiff");
    plot("stability");
    plot("diverge");
    summary_add(out, "forward Euler critical dt / (2/|lambda|): spring, stiff", "%.6f, %.6f", r1, r2);

    /* 4 */
    section_resolution(&spring);

    /* 5 */
    ssm_sys lightly;
    ssm_spring(&lightly, 1.0, 0.4, 4.0);
    snprintf(lightly.name, sizeof lightly.name, "spring c=0.4");
    section_frequency(&lightly, 0.5);

    /* 6 */
    double gaps[3];
    section_mamba_gap(gaps);
    summary_add(out, "Mamba dtB vs ZOH Bbar rel. gap at dt|A| = 0.01, 0.1, 1", "%.4f, %.4f, %.4f",
                gaps[0], gaps[1], gaps[2]);

    /* 7 */
    {
        int L = fx ? (int)Lx : (int)lround(T / dt);
        double *x = xmalloc_f64((size_t)(L > 0 ? L : 1));
        if (L < 1) L = 1;
        if (fx) memcpy(x, xfile, sizeof(double) * (size_t)L);
        else sample(&u, dt, L, x);
        section_custom(&S, x, L, dt);
        free(x);
    }

    printf("\nplots and data in %s/ (%.1f s)\n", out, now_seconds() - t0);
    free(xfile);
    ssm_sys_free(&lightly);
    ssm_sys_free(&stiff);
    ssm_sys_free(&od);
    ssm_sys_free(&spring);
    ssm_sys_free(&S);
    return 0;
}
