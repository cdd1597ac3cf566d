/* 01_ssm_continuous/main.c — the lesson program of chapter 1: the continuous SSM
 *
 *     h'(t) = A h(t) + B x(t),   y(t) = C h(t) + D x(t)                (1.1), (1.2)
 *
 * Reads top to bottom in the chapter's order:
 *   1. the matrix exponential, checked against a closed form            (1.5)
 *   2. the systems, their eigenvalues and stability                     (1.3), (1.8)
 *   3. each solver against the exact response                           (1.6)–(1.11)
 *   4. error against step size: the measured orders
 *   5. the spring's phase portrait
 * and the golden vectors (--dump-vectors DIR, --check DIR: vectors.c). */
#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "01_ssm_continuous/vectors.h"
#include "common/cli.h"
#include "common/npy.h"
#include "common/plot.h"
#include "common/rng.h"
#include "common/util.h"

#define MAX_SYS 3

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *system, *Afile, *Bfile, *Cfile, *Dfile, *input, *signal_file;
    const char *out, *dump, *check;
    int N, seed, levels;
    double signal_dt, amp, omega, width, T, dt, rtol, atol, mass, damping, stiffness, tau;
} options;

static const char *shape_str(const npy_array *a)
{
    static char buf[128];
    int p = snprintf(buf, sizeof buf, "(");
    for (int d = 0; d < a->ndim; d++)
        p += snprintf(buf + p, sizeof buf - p, d ? ", %zu" : "%zu", a->shape[d]);
    snprintf(buf + p, sizeof buf - p, a->ndim == 1 ? ",)" : ")");
    return buf;
}

/* Loaded inputs stay reachable from here until the end, so a later die() on bad
 * input exits 2 cleanly under LeakSanitizer too (it would count them as leaks). */
static void *kept[32];
static int nkept;

static void *keep(void *p)
{
    if (nkept < (int)(sizeof kept / sizeof kept[0])) kept[nkept++] = p;
    return p;
}

static void free_kept(void)
{
    while (nkept > 0) free(kept[--nkept]);
}

/* Read a .npy as double, rejecting NaN/Inf (exit 2 naming the file). The array
 * header (shape) stays in *a; the data is converted and owned by `kept`. */
static double *load_f64(const char *path, npy_array *a)
{
    npy_read_or_die(path, a);
    double *x = keep(npy_to_f64(a));
    free(a->data);
    a->data = NULL;
    require_finite(path, x, a->size);
    return x;
}

/* A vector of n entries stored as (n,), (n, 1) or (1, n). */
static int is_vector_shape(const npy_array *a, size_t n)
{
    if (a->size != n) return 0;
    if (a->ndim == 1) return 1;
    return a->ndim == 2 && (a->shape[0] == 1 || a->shape[1] == 1);
}

/* The system from --A/--B/--C/--D files: A (N, N), B (N,) or (N, 1), C (N,) or
 * (1, N), D one number (default 0). Any mismatch exits 2 with one line. */
static void load_system(const options *o, ssm_sys *s)
{
    if (!o->Bfile || !o->Cfile) die(2, "--A needs --B and --C as well (D defaults to 0)");
    npy_array a;
    double *A = load_f64(o->Afile, &a);
    if (a.ndim != 2 || a.shape[0] != a.shape[1])
        die(2, "%s: expected a square matrix A (N, N), got shape %s", o->Afile, shape_str(&a));
    int N = (int)a.shape[0];
    if (N < 1 || N > 2048) die(2, "%s: expected 1 <= N <= 2048, got N = %d", o->Afile, N);
    ssm_sys_alloc(s, N, "file");
    memcpy(s->A, A, (size_t)N * N * sizeof *A);
    const char *files[2] = {o->Bfile, o->Cfile};
    double *dst[2] = {s->B, s->C};
    for (int k = 0; k < 2; k++) {
        double *v = load_f64(files[k], &a);
        if (!is_vector_shape(&a, (size_t)N))
            die(2, "%s: expected %c of shape (%d,) or %s%d%s to match A, got %s", files[k], "BC"[k], N,
                k ? "(1, " : "(", N, k ? ")" : ", 1)", shape_str(&a));
        memcpy(dst[k], v, (size_t)N * sizeof *v);
    }
    if (o->Dfile) {
        double *v = load_f64(o->Dfile, &a);
        if (a.size != 1) die(2, "%s: expected D with one element (SISO), got shape %s", o->Dfile, shape_str(&a));
        s->D = v[0];
    }
}

/* ------------------------------------------------------------------------ */
/* 1. The matrix exponential against a closed form (§1.3)                   */
/* ------------------------------------------------------------------------ */

/* A = [[a, w], [-w, a]] has eigenvalues a ± i w and e^A = e^a [[cos w, sin w], [-sin w, cos w]]. */
static double rotation_expm_error(double a, double w, int *squarings)
{
    double A[4] = {a, w, -w, a}, E[4];
    double want[4] = {exp(a) * cos(w), exp(a) * sin(w), -exp(a) * sin(w), exp(a) * cos(w)};
    expm(2, A, E);
    *squarings = expm_squarings(2, A);
    return max_abs_diff(E, want, 4) / exp(a);
}

static void section_expm(const char *out)
{
    printf("\n1. The matrix exponential e^A (Padé [13/13], scaling and squaring)  (1.5)\n");
    printf("   %-28s %10s %10s %14s\n", "A = [[a, w], [-w, a]]", "||A||_1", "squarings", "max error/e^a");
    const double ws[3] = {1.0, 30.0, 1000.0};
    for (int i = 0; i < 3; i++) {
        int s;
        double err = rotation_expm_error(-0.5, ws[i], &s);
        printf("   a = -0.5, w = %-15g %10.4g %10d %14.2e\n", ws[i], 0.5 + ws[i], s, err);
        if (ws[i] == 1000.0) summary_add(out, "expm error, rotation w=1e3 (rel)", "%.2e", err);
    }
}

/* ------------------------------------------------------------------------ */
/* 2. Systems and stability (§1.2, §1.4)                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    ssm_sys sys;
    double complex *lambda;
    double abscissa, dc_gain;
} sys_run;

/* DC gain y∞/x for a constant input: h∞ = -A⁻¹ B x, so y∞ = (D - C A⁻¹ B) x. */
static double dc_gain(const ssm_sys *s)
{
    int N = s->N;
    double *LU = xmalloc_f64((size_t)N * N), *z = xmalloc_f64((size_t)N);
    int *piv = xmalloc((size_t)N * sizeof *piv);
    memcpy(LU, s->A, (size_t)N * N * sizeof *LU);
    memcpy(z, s->B, (size_t)N * sizeof *z);
    double g = NAN;
    if (lu_factor(N, LU, piv) == 0) {
        lu_solve(N, LU, piv, 1, z);
        g = s->D;
        for (int i = 0; i < N; i++) g -= s->C[i] * z[i];
    }
    free(LU); free(z); free(piv);
    return g;
}

static void write_vars(const char *out, const char *name, const char *text);

static void section_stability(sys_run *runs, int nsys, const char *out)
{
    printf("\n2. Systems and stability: eigenvalues of A  (1.8)\n");
    printf("   %-10s %4s %-50s %10s %7s %9s\n", "system", "N", "eigenvalues (first 4, by real part)", "max Re",
           "stable", "DC gain");
    size_t rows[MAX_SYS];
    double *cols_store[MAX_SYS][2];
    const double *const *cols[MAX_SYS];
    for (int k = 0; k < nsys; k++) {
        sys_run *r = &runs[k];
        int N = r->sys.N;
        r->lambda = xmalloc((size_t)N * sizeof *r->lambda);
        if (eig_general(N, r->sys.A, r->lambda) != 0) die(2, "%s: eigenvalues of A did not converge", r->sys.name);
        r->abscissa = creal(r->lambda[0]);
        r->dc_gain = dc_gain(&r->sys);
        char buf[256] = "";
        int p = 0;
        for (int i = 0; i < N && i < 4; i++)
            p += snprintf(buf + p, sizeof buf - p, "%s%.3g%+.3gi", i ? " " : "", creal(r->lambda[i]),
                          cimag(r->lambda[i]));
        char gain[32];
        if (isfinite(r->dc_gain)) snprintf(gain, sizeof gain, "%.4g", r->dc_gain);
        else snprintf(gain, sizeof gain, "none (A singular)");
        printf("   %-10s %4d %-50s %10.4g %7s %9s\n", r->sys.name, N, buf, r->abscissa,
               r->abscissa < 0 ? "yes" : "NO", gain);
        char key[64];
        snprintf(key, sizeof key, "max Re lambda, %s", r->sys.name);
        summary_add(out, key, "%.4g", r->abscissa);
        cols_store[k][0] = xmalloc_f64((size_t)N);
        cols_store[k][1] = xmalloc_f64((size_t)N);
        for (int i = 0; i < N; i++) {
            cols_store[k][0][i] = creal(r->lambda[i]);
            cols_store[k][1][i] = cimag(r->lambda[i]);
        }
        rows[k] = (size_t)N;
        cols[k] = (const double *const *)cols_store[k];
    }
    char path[4096];
    path_join(path, sizeof path, out, "eigenvalues.dat");
    dat_write_blocks(path, "re_lambda im_lambda (one block per system)", nsys, rows, 2, cols);
    char vars[512], names[256] = "";
    for (int k = 0; k < nsys; k++) {
        strcat(names, k ? " " : "");
        strcat(names, runs[k].sys.name);
    }
    /* x range: all eigenvalues plus a strip of the unstable half-plane Re λ > 0 */
    double lo = 0.0, hi = 0.0, im = 0.0;
    for (int k = 0; k < nsys; k++)
        for (int i = 0; i < runs[k].sys.N; i++) {
            lo = fmin(lo, creal(runs[k].lambda[i]));
            hi = fmax(hi, creal(runs[k].lambda[i]));
            im = fmax(im, fabs(cimag(runs[k].lambda[i])));
        }
    double span = hi - lo > 0 ? hi - lo : 1.0;
    if (im == 0.0) im = 0.5 * span;
    snprintf(vars, sizeof vars, "nsys = %d\nsysnames = '%s'\nxlo = %g\nxhi = %g\nyhi = %g\n", nsys,
             names, lo - 0.1 * span, hi + 0.25 * span, 1.15 * im);
    write_vars(out, "eigenvalues", vars);
    plot_run(STAGE_DIR, "eigenvalues", out);
    for (int k = 0; k < nsys; k++) { free(cols_store[k][0]); free(cols_store[k][1]); }
}

/* ------------------------------------------------------------------------ */
/* 3.–4. Solvers against the exact response; error against step size (§1.5) */
/* ------------------------------------------------------------------------ */

/* The spacing of the input's breakpoints (0 for a smooth input): fixed steps must
 * divide it to keep their order. */
static double break_spacing(const signal_t *u)
{
    return u->kind == SIG_SAMPLES ? u->dt : u->kind == SIG_IMPULSE ? u->width : 0.0;
}

/* The largest step ≤ h that divides the breakpoint spacing g (h itself if g = 0). */
static double aligned_step(double h, double g)
{
    return g > 0 ? g / ceil(g / h - 1e-9) : h;
}

static int steps_for(double T, double h, const char *what)
{
    double n = T / h;
    long k = lround(n);
    if (k < 1 || fabs(n - k) > 1e-9 * n)
        die(2, "%s %g: expected a step that divides --T %g, got T/step = %.6g", what, h, T, n);
    if (k > 2000000L) die(2, "%s %g: expected at most 2e6 steps over --T, got %ld (raise the step or lower --T)", what, h, k);
    return (int)k;
}

typedef void (*fixed_solver)(const ssm_sys *, const signal_t *, const double *, double, int,
                             double *, double *);

/* max |h - h_exact| over the grid t_i = i·h0 (i = 0..n0), all state components, for
 * the solver run with step h0/2^k. */
static double fixed_error(fixed_solver f, const ssm_sys *s, const signal_t *u, double h0, int n0,
                          int k, const double *Hex)
{
    int N = s->N, ns = n0 << k;
    double *H = xmalloc_f64((size_t)(ns + 1) * N);
    f(s, u, NULL, h0 / (1 << k), ns, H, NULL);
    double e = 0.0;
    for (int i = 0; i <= n0; i++)
        for (int j = 0; j < N; j++) e = fmax(e, fabs(H[((size_t)i << k) * N + j] - Hex[(size_t)i * N + j]));
    free(H);
    return e;
}

typedef struct {   /* one convergence curve */
    int n;
    double step[16], err[16], slope;
} curve;

static void print_row(const char *sys, const char *solver, const char *stepcol, double err,
                      double order, const char *steps)
{
    char ord[32], errs[32] = "";
    if (isfinite(err)) snprintf(errs, sizeof errs, "%.3e", err);
    if (isfinite(order)) snprintf(ord, sizeof ord, "%.3f", order);
    else snprintf(ord, sizeof ord, "-");
    printf("   %-10s %-7s %-14s %12s %8s  %s\n", sys, solver, stepcol, errs, ord, steps);
}

static void sweep_fixed(const char *solver_name, fixed_solver f, const ssm_sys *s, const signal_t *u,
                        double T, double h_nominal, int levels, curve *c)
{
    double h0 = aligned_step(h_nominal, break_spacing(u));
    int n0 = steps_for(T, h0, "sweep step");
    double *ts = xmalloc_f64((size_t)n0 + 1), *Hex = xmalloc_f64((size_t)(n0 + 1) * s->N);
    for (int i = 0; i <= n0; i++) ts[i] = i * h0;
    ssm_exact(s, u, NULL, ts, n0 + 1, Hex, NULL);
    c->n = levels;
    for (int k = 0; k < levels; k++) {
        c->step[k] = h0 / (1 << k);
        c->err[k] = fixed_error(f, s, u, h0, n0, k, Hex);
        char stepcol[32], steps[32];
        snprintf(stepcol, sizeof stepcol, "%.4e", c->step[k]);
        snprintf(steps, sizeof steps, "%d", n0 << k);
        print_row(s->name, solver_name, stepcol, c->err[k],
                  k ? log2(c->err[k - 1] / c->err[k]) : NAN, steps);
    }
    c->slope = loglog_slope(c->step, c->err, (size_t)levels);
    print_row(s->name, solver_name, "fit (slope)", NAN, c->slope, "");
    free(ts); free(Hex);
}

/* RK45 at several tolerances: error at its own accepted steps; "step" is T/accepted. */
static void sweep_rk45(const ssm_sys *s, const signal_t *u, double T, curve *c, rk45_stats *st6,
                       double *err6)
{
    const double rtols[3] = {1e-3, 1e-6, 1e-9};
    c->n = 3;
    for (int k = 0; k < 3; k++) {
        int np;
        double *tp, *Hp;
        rk45_stats st;
        double atol = rtols[k] * 1e-3;
        int rc = ssm_rk45_path(s, u, NULL, T, rtols[k], atol, &np, &tp, &Hp, &st);
        if (rc == -2)
            die(2, "%s: RK45 at rtol %g needs more than %ld steps over --T %g (the system is too stiff or fast for it: lower --stiffness, --damping, --T or raise --mass, --tau)", s->name, rtols[k], SSM_RK45_MAX_STEPS, T);
        if (rc != 0)
            die(2, "%s: RK45 failed at rtol %g: the state overflowed or the step underflowed (expected a system that stays finite up to --T)", s->name, rtols[k]);
        double *Hx = xmalloc_f64((size_t)np * s->N);
        ssm_exact(s, u, NULL, tp, np, Hx, NULL);
        c->err[k] = max_abs_diff(Hp, Hx, (size_t)np * s->N);
        c->step[k] = T / (double)st.accepted;
        char stepcol[32], steps[64];
        snprintf(stepcol, sizeof stepcol, "rtol %.0e", rtols[k]);
        snprintf(steps, sizeof steps, "%ld accepted / %ld rejected, %ld f-evals", st.accepted,
                 st.rejected, st.nfev);
        print_row(s->name, "rk45", stepcol, c->err[k], NAN, steps);
        if (k == 1) { *st6 = st; *err6 = c->err[k]; }
        free(tp); free(Hp); free(Hx);
    }
    c->slope = loglog_slope(c->step, c->err, 3);
    print_row(s->name, "rk45", "fit vs T/steps", NAN, c->slope, "");
}

/* Section 3 for one system: y(t) of each solver at step dt and the exact y(t). */
typedef struct {
    int nfine, nfix, n45;
    double *tf, *yf, *tx, *ye, *yr, *t45, *y45;
} traces;

static void solver_traces(const ssm_sys *s, const signal_t *u, double T, double dt, double rtol,
                          double atol, traces *tr, const char *out)
{
    int N = s->N;
    tr->nfine = 2001;
    tr->tf = xmalloc_f64((size_t)tr->nfine);
    tr->yf = xmalloc_f64((size_t)tr->nfine);
    for (int i = 0; i < tr->nfine; i++) tr->tf[i] = T * i / (tr->nfine - 1);
    ssm_exact(s, u, NULL, tr->tf, tr->nfine, NULL, tr->yf);
    int n = steps_for(T, dt, "--dt");
    tr->nfix = n + 1;
    tr->tx = xmalloc_f64((size_t)n + 1);
    tr->ye = xmalloc_f64((size_t)n + 1);
    tr->yr = xmalloc_f64((size_t)n + 1);
    double *yx = xmalloc_f64((size_t)n + 1);
    for (int i = 0; i <= n; i++) tr->tx[i] = i * dt;
    ssm_euler(s, u, NULL, dt, n, NULL, tr->ye);
    ssm_rk4(s, u, NULL, dt, n, NULL, tr->yr);
    ssm_exact(s, u, NULL, tr->tx, n + 1, NULL, yx);
    double *Hp;
    rk45_stats st;
    int rc = ssm_rk45_path(s, u, NULL, T, rtol, atol, &tr->n45, &tr->t45, &Hp, &st);
    if (rc == -2)
        die(2, "%s: RK45 at --rtol %g --atol %g needs more than %ld steps over --T %g (the system is too stiff or fast for it: lower --stiffness, --damping, --T or raise --mass, --tau, --atol)", s->name, rtol, atol, SSM_RK45_MAX_STEPS, T);
    if (rc != 0)
        die(2, "%s: RK45 failed at --rtol %g: the state overflowed or the step underflowed (expected a system that stays finite up to --T)", s->name, rtol);
    tr->y45 = xmalloc_f64((size_t)tr->n45);
    double *y45x = xmalloc_f64((size_t)tr->n45);
    for (int i = 0; i < tr->n45; i++)
        tr->y45[i] = ssm_output(s, Hp + (size_t)i * N, signal_eval(u, tr->t45[i]));
    ssm_exact(s, u, NULL, tr->t45, tr->n45, NULL, y45x);
    double ee = max_abs_diff(tr->ye, yx, (size_t)n + 1), er = max_abs_diff(tr->yr, yx, (size_t)n + 1);
    double e45 = max_abs_diff(tr->y45, y45x, (size_t)tr->n45);
    printf("   %-10s dt = %-6g max|y - y_exact|: euler %.3e  rk4 %.3e  rk45 (rtol %g, %ld steps) %.3e\n",
           s->name, dt, ee, er, rtol, st.accepted, e45);
    char key[96];
    snprintf(key, sizeof key, "%s: max |y-y_exact| euler / rk4 at dt=%g", s->name, dt);
    summary_add(out, key, "%.2e / %.2e", ee, er);
    free(yx); free(Hp); free(y45x);
}

static void traces_free(traces *t)
{
    free(t->tf); free(t->yf); free(t->tx); free(t->ye); free(t->yr); free(t->t45); free(t->y45);
}

/* gnuplot variables for a plot: names of the systems and numbers for the keys. */
static void write_vars(const char *out, const char *name, const char *text)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s.vars", out, name);
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    fputs(text, f);
    atomic_fclose(f, tmp, path);
}

/* ------------------------------------------------------------------------ */
/* 5. The phase portrait (§1.5)                                             */
/* ------------------------------------------------------------------------ */

static void section_phase(const ssm_sys *s, const signal_t *u, double T, double dt, const char *out)
{
    printf("\n5. Phase portrait of %s: (h1, h2) from h(0) = (1, 0)\n", s->name);
    int N = s->N, nf = 4001, n = steps_for(T, dt, "--dt");
    double h0[64] = {0};
    h0[0] = 1.0;
    double *tf = xmalloc_f64((size_t)nf), *Hf = xmalloc_f64((size_t)nf * N);
    double *He = xmalloc_f64((size_t)(n + 1) * N), *Hr = xmalloc_f64((size_t)(n + 1) * N);
    for (int i = 0; i < nf; i++) tf[i] = T * i / (nf - 1);
    ssm_exact(s, u, h0, tf, nf, Hf, NULL);
    ssm_euler(s, u, h0, dt, n, He, NULL);
    ssm_rk4(s, u, h0, dt, n, Hr, NULL);
    double *c[3][2];
    const double *const *cols[3];
    size_t rows[3] = {(size_t)nf, (size_t)n + 1, (size_t)n + 1};
    double *src[3] = {Hf, He, Hr};
    for (int b = 0; b < 3; b++) {
        for (int d = 0; d < 2; d++) {
            c[b][d] = xmalloc_f64(rows[b]);
            for (size_t i = 0; i < rows[b]; i++) c[b][d][i] = src[b][i * N + d];
        }
        cols[b] = (const double *const *)c[b];
    }
    char path[4096], vars[512];
    path_join(path, sizeof path, out, "phase.dat");
    dat_write_blocks(path, "h1 h2 (blocks: exact, euler, rk4)", 3, rows, 2, cols);
    double x_end = signal_eval(u, T);
    printf("   end state: exact (%.4f, %.4f), euler (%.4f, %.4f), rk4 (%.4f, %.4f) at t = %g, x = %g\n",
           Hf[(size_t)(nf - 1) * N], Hf[(size_t)(nf - 1) * N + 1], He[(size_t)n * N],
           He[(size_t)n * N + 1], Hr[(size_t)n * N], Hr[(size_t)n * N + 1], T, x_end);
    snprintf(vars, sizeof vars, "sysname = '%s'\ndt = %g\n", s->name, dt);
    write_vars(out, "phase", vars);
    plot_run(STAGE_DIR, "phase", out);
    for (int b = 0; b < 3; b++) { free(c[b][0]); free(c[b][1]); }
    free(tf); free(Hf); free(He); free(Hr);
}

/* ------------------------------------------------------------------------ */
/* main                                                                     */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    options o = {.system = "all", .input = "step", .out = "out", .N = 6, .seed = 1, .levels = 6,
                 .signal_dt = 0.1, .amp = 1.0, .omega = 2.0, .width = 0.1, .T = 0.0, .dt = 0.1,
                 .rtol = 1e-6, .atol = 1e-9, .mass = 1.0, .damping = 0.5, .stiffness = 4.0, .tau = 1.0};
    cli_opt opts[] = {
        {"system", CLI_STRING, &o.system, "spring | rc | random | all"},
        {"N", CLI_INT, &o.N, "state size of the random system [1, 512]"},
        {"seed", CLI_INT, &o.seed, "seed of the random system"},
        {"A", CLI_STRING, &o.Afile, "A from a .npy file (N, N); needs --B and --C"},
        {"B", CLI_STRING, &o.Bfile, "B from a .npy file (N,) or (N, 1)"},
        {"C", CLI_STRING, &o.Cfile, "C from a .npy file (N,) or (1, N)"},
        {"D", CLI_STRING, &o.Dfile, "D from a .npy file, one number (0 if not given)"},
        {"input", CLI_STRING, &o.input, "step | impulse | sine | file"},
        {"signal", CLI_STRING, &o.signal_file, "input samples from a 1-D .npy (implies --input file)"},
        {"signal-dt", CLI_DOUBLE, &o.signal_dt, "spacing of the --signal samples [1e-6, 1e3]"},
        {"amp", CLI_DOUBLE, &o.amp, "step height, impulse area, sine amplitude [-1e6, 1e6]"},
        {"omega", CLI_DOUBLE, &o.omega, "sine angular frequency, rad/s [0, 1e4]"},
        {"width", CLI_DOUBLE, &o.width, "impulse pulse width [1e-6, 1e3]"},
        {"T", CLI_DOUBLE, &o.T, "end time [0, 1e4]; 0 = 10 s, or the length of --signal"},
        {"dt", CLI_DOUBLE, &o.dt, "step of Euler and RK4 in the solver plot [1e-3, 10]; T/dt <= 2e6"},
        {"levels", CLI_INT, &o.levels, "step halvings in the order sweep [2, 12]"},
        {"rtol", CLI_DOUBLE, &o.rtol, "RK45 relative tolerance in the solver plot [1e-12, 0.1]"},
        {"atol", CLI_DOUBLE, &o.atol, "RK45 absolute tolerance in the solver plot [1e-15, 1]"},
        {"mass", CLI_DOUBLE, &o.mass, "spring: mass m [1e-3, 1e3]"},
        {"damping", CLI_DOUBLE, &o.damping, "spring: damping c [0, 1e3]"},
        {"stiffness", CLI_DOUBLE, &o.stiffness, "spring: stiffness k [1e-3, 1e4]"},
        {"tau", CLI_DOUBLE, &o.tau, "RC: time constant R C [1e-3, 1e3]"},
        {"out", CLI_STRING, &o.out, "output directory"},
        {"dump-vectors", CLI_STRING, &o.dump, "write golden vectors to DIR and exit"},
        {"check", CLI_STRING, &o.check, "recompute the outputs in DIR, PASS/FAIL per tensor"},
        {0}};
    cli_parse(argc, argv,
              "Chapter 1: the continuous state space model h' = A h + B x, y = C h + D x —\n"
              "matrix exponential, exact response, Euler / RK4 / RK45, stability.", opts);
    if (o.dump) return ssm_vectors(o.dump, 1);
    if (o.check) return ssm_vectors(o.check, 0);

    /* ---- validate the flags: each has a range (in --help) that keeps the work bounded:
     * fixed steps T/dt <= 2e6 (steps_for), RK45 <= SSM_RK45_MAX_STEPS steps, and
     * systems whose fastest mode |λ|·T a few 1e6 at most ---- */
    cli_range("dt", o.dt, 1e-3, 10);
    cli_range("T", o.T, 0, 1e4);
    cli_range("rtol", o.rtol, 1e-12, 0.1);
    cli_range("atol", o.atol, 1e-15, 1);   /* 0 or 1e-300: RK45 would chase rounding as h → 0 */
    cli_range("width", o.width, 1e-6, 1e3);
    cli_range("signal-dt", o.signal_dt, 1e-6, 1e3);
    cli_range("amp", o.amp, -1e6, 1e6);
    cli_range("omega", o.omega, 0, 1e4);
    cli_range("mass", o.mass, 1e-3, 1e3);
    cli_range("stiffness", o.stiffness, 1e-3, 1e4);
    cli_range("damping", o.damping, 0, 1e3);
    cli_range("tau", o.tau, 1e-3, 1e3);
    cli_range("N", o.N, 1, 512);
    cli_range("levels", o.levels, 2, 12);
    if (o.signal_file) o.input = "file";

    /* ---- the input x(t) ---- */
    signal_t u;
    const double *samples = NULL;
    if (!strcmp(o.input, "step")) u = signal_step(o.amp);
    else if (!strcmp(o.input, "impulse")) u = signal_impulse(o.amp, o.width);
    else if (!strcmp(o.input, "sine")) u = signal_sine(o.amp, o.omega);
    else if (!strcmp(o.input, "file")) {
        if (!o.signal_file) die(2, "--input file: expected --signal FILE.npy, got none");
        npy_array a;
        samples = load_f64(o.signal_file, &a);
        if (a.size < 1 || !is_vector_shape(&a, a.size))
            die(2, "%s: expected a 1-D signal (L,) with L >= 1, got shape %s", o.signal_file, shape_str(&a));
        u = signal_samples(samples, (int)a.size, o.signal_dt);
        if (o.T == 0) o.T = a.size * o.signal_dt;
    } else die(2, "--input: expected step, impulse, sine or file, got '%s'", o.input);
    if (o.T == 0) o.T = 10.0;
    double g = break_spacing(&u);
    if (g > 0 && fabs(o.T / g - nearbyint(o.T / g)) > 1e-9 * (o.T / g))
        die(2, "--T %g: expected a multiple of the input's breakpoint spacing %g (fixed steps must land on them)", o.T, g);

    /* ---- the systems ---- */
    sys_run runs[MAX_SYS];
    memset(runs, 0, sizeof runs);
    int nsys = 0;
    if (o.Afile) load_system(&o, &runs[nsys++].sys);
    else if (o.Bfile || o.Cfile || o.Dfile) die(2, "--B/--C/--D: expected --A as well");
    else {
        int all = !strcmp(o.system, "all");
        if (!all && strcmp(o.system, "spring") && strcmp(o.system, "rc") && strcmp(o.system, "random"))
            die(2, "--system: expected spring, rc, random or all, got '%s'", o.system);
        if (all || !strcmp(o.system, "spring")) ssm_spring(&runs[nsys++].sys, o.mass, o.damping, o.stiffness);
        if (all || !strcmp(o.system, "rc")) ssm_rc(&runs[nsys++].sys, o.tau, 1.0);
        if (all || !strcmp(o.system, "random")) ssm_random_stable(&runs[nsys++].sys, o.N, (uint64_t)o.seed);
    }

    double t0 = now_seconds();
    mkdir_p(o.out);
    summary_reset(o.out);
    printf("Chapter 1: the continuous SSM  h' = A h + B x,  y = C h + D x\n");
    printf("input: %s", signal_name(u.kind));
    if (u.kind == SIG_SINE) printf(" (amp %g, omega %g rad/s)", o.amp, o.omega);
    else if (u.kind == SIG_IMPULSE) printf(" (area %g, width %g)", o.amp, o.width);
    else if (u.kind == SIG_SAMPLES) printf(" (%d samples from %s, spacing %g)", u.L, o.signal_file, u.dt);
    else printf(" (height %g)", o.amp);
    printf(", T = %g, h(0) = 0\n", o.T);

    section_expm(o.out);
    section_stability(runs, nsys, o.out);

    /* ---- 3. each solver against the exact response ---- */
    printf("\n3. Solvers against the exact response (1.6): Euler (1.9), RK4 (1.10), RK45 (1.11)\n");
    traces tr[MAX_SYS];
    for (int k = 0; k < nsys; k++) {
        solver_traces(&runs[k].sys, &u, o.T, o.dt, o.rtol, o.atol, &tr[k], o.out);
        /* growth factor per step on each mode e^{λt}: Euler 1 + λ dt, RK4 the Taylor
         * polynomial of e^{λ dt} to degree 4; above 1 the solver blows up */
        double gx = 0.0, ge = 0.0, gr = 0.0;
        int bad_e = 0, bad_r = 0;   /* a decaying mode that the solver makes grow */
        for (int i = 0; i < runs[k].sys.N; i++) {
            double complex z = runs[k].lambda[i] * o.dt;
            double fe = cabs(1.0 + z), fr = cabs(1.0 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24);
            gx = fmax(gx, cabs(cexp(z)));
            ge = fmax(ge, fe);
            gr = fmax(gr, fr);
            bad_e |= creal(z) < 0 && fe > 1;
            bad_r |= creal(z) < 0 && fr > 1;
        }
        printf("   %-10s growth per step, max over λ: exact |e^{λ dt}| = %.4f, euler |1 + λ dt| = %.4f%s, "
               "rk4 |R4(λ dt)| = %.4f%s\n", "", gx, ge, bad_e ? " (a decaying mode grows: unstable)" : "",
               gr, bad_r ? " (a decaying mode grows: unstable)" : "");
    }
    {
        size_t r1[MAX_SYS], r2[MAX_SYS], r3[MAX_SYS];
        double *c1[MAX_SYS][2], *c2[MAX_SYS][3], *c3[MAX_SYS][2];
        const double *const *p1[MAX_SYS], *const *p2[MAX_SYS], *const *p3[MAX_SYS];
        char vars[1024], names[256] = "";
        for (int k = 0; k < nsys; k++) {
            r1[k] = (size_t)tr[k].nfine; c1[k][0] = tr[k].tf; c1[k][1] = tr[k].yf;
            r2[k] = (size_t)tr[k].nfix; c2[k][0] = tr[k].tx; c2[k][1] = tr[k].ye; c2[k][2] = tr[k].yr;
            r3[k] = (size_t)tr[k].n45; c3[k][0] = tr[k].t45; c3[k][1] = tr[k].y45;
            p1[k] = (const double *const *)c1[k];
            p2[k] = (const double *const *)c2[k];
            p3[k] = (const double *const *)c3[k];
            strcat(names, k ? " " : "");
            strcat(names, runs[k].sys.name);
        }
        char path[4096];
        path_join(path, sizeof path, o.out, "solvers_exact.dat");
        dat_write_blocks(path, "t y_exact (one block per system)", nsys, r1, 2, p1);
        path_join(path, sizeof path, o.out, "solvers_fixed.dat");
        dat_write_blocks(path, "t y_euler y_rk4 (one block per system)", nsys, r2, 3, p2);
        path_join(path, sizeof path, o.out, "solvers_rk45.dat");
        dat_write_blocks(path, "t y_rk45 (accepted steps; one block per system)", nsys, r3, 2, p3);
        snprintf(vars, sizeof vars, "nsys = %d\nsysnames = '%s'\ndt = %g\nrtol = %g\ninput = '%s'\n", nsys,
                 names, o.dt, o.rtol, signal_name(u.kind));
        write_vars(o.out, "solvers", vars);
        plot_run(STAGE_DIR, "solvers", o.out);
        /* the RK45 step sizes: accepted step h_i = t_{i+1} - t_i against its start t_i */
        double *c4[MAX_SYS][2];
        size_t r4[MAX_SYS];
        const double *const *p4[MAX_SYS];
        for (int k = 0; k < nsys; k++) {
            r4[k] = (size_t)tr[k].n45 - 1;
            c4[k][0] = tr[k].t45;
            c4[k][1] = xmalloc_f64(r4[k] ? r4[k] : 1);
            for (size_t i = 0; i < r4[k]; i++) c4[k][1][i] = tr[k].t45[i + 1] - tr[k].t45[i];
            p4[k] = (const double *const *)c4[k];
        }
        path_join(path, sizeof path, o.out, "rk45_steps.dat");
        dat_write_blocks(path, "t step (accepted RK45 steps; one block per system)", nsys, r4, 2, p4);
        write_vars(o.out, "rk45_steps", vars);
        plot_run(STAGE_DIR, "rk45_steps", o.out);
        for (int k = 0; k < nsys; k++) free(c4[k][1]);
    }

    /* ---- 4. error against step size ---- */
    printf("\n4. Error against step size: max |h - h_exact| over t = 0..T (order = log2 of successive ratios)\n");
    printf("   %-10s %-7s %-14s %12s %8s  %s\n", "system", "solver", "step", "max error", "order",
           "steps taken");
    curve ce[MAX_SYS], cr[MAX_SYS], c45[MAX_SYS];
    for (int k = 0; k < nsys; k++) {
        const ssm_sys *s = &runs[k].sys;
        rk45_stats st6 = {0, 0, 0, 0, 0};
        double err6 = NAN;
        sweep_fixed("euler", ssm_euler, s, &u, o.T, o.T / 500, o.levels, &ce[k]);
        sweep_fixed("rk4", ssm_rk4, s, &u, o.T, o.T / 50, o.levels, &cr[k]);
        sweep_rk45(s, &u, o.T, &c45[k], &st6, &err6);
        char key[96];
        snprintf(key, sizeof key, "%s: measured order euler / rk4", s->name);
        summary_add(o.out, key, "%.3f / %.3f", ce[k].slope, cr[k].slope);
        snprintf(key, sizeof key, "%s: rk45 rtol=1e-6 steps (acc/rej), error", s->name);
        summary_add(o.out, key, "%ld/%ld, %.2e", st6.accepted, st6.rejected, err6);
    }
    {
        size_t rows[3 * MAX_SYS];
        double *cc[3 * MAX_SYS][2];
        const double *const *pp[3 * MAX_SYS];
        char vars[2048], names[256] = "", slopes[512] = "";
        for (int k = 0; k < nsys; k++) {
            curve *cs[3] = {&ce[k], &cr[k], &c45[k]};
            for (int m = 0; m < 3; m++) {
                int b = 3 * k + m;
                rows[b] = (size_t)cs[m]->n;
                cc[b][0] = cs[m]->step;
                cc[b][1] = cs[m]->err;
                pp[b] = (const double *const *)cc[b];
            }
            strcat(names, k ? " " : "");
            strcat(names, runs[k].sys.name);
            char sl[96];
            snprintf(sl, sizeof sl, "%s%.2f %.2f %.2f", k ? " " : "", ce[k].slope, cr[k].slope, c45[k].slope);
            strcat(slopes, sl);
        }
        char path[4096];
        path_join(path, sizeof path, o.out, "convergence.dat");
        dat_write_blocks(path, "step max_error (blocks: per system euler, rk4, rk45 [step = T/accepted])",
                         3 * nsys, rows, 2, pp);
        snprintf(vars, sizeof vars, "nsys = %d\nsysnames = '%s'\nslopes = '%s'\n", nsys, names, slopes);
        write_vars(o.out, "convergence", vars);
        plot_run(STAGE_DIR, "convergence", o.out);
    }

    /* ---- 5. phase portrait: the spring if it is here, else the first system with N >= 2 ---- */
    int ph = -1;
    for (int k = 0; k < nsys && ph < 0; k++)
        if (!strcmp(runs[k].sys.name, "spring")) ph = k;
    for (int k = 0; k < nsys && ph < 0; k++)
        if (runs[k].sys.N >= 2 && runs[k].sys.N <= 64) ph = k;
    if (ph >= 0) section_phase(&runs[ph].sys, &u, o.T, o.dt, o.out);
    else printf("\n5. Phase portrait: skipped (no system with 2 <= N <= 64 states)\n");

    double secs = now_seconds() - t0;
    printf("\nplots and data in %s/ (solvers, rk45_steps, convergence, phase, eigenvalues .png/.svg); %.2f s\n",
           o.out, secs);
    for (int k = 0; k < nsys; k++) {
        traces_free(&tr[k]);
        free(runs[k].lambda);
        ssm_sys_free(&runs[k].sys);
    }
    free_kept();
    return 0;
}
