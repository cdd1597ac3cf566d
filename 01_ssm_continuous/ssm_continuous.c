/* 01_ssm_continuous/ssm_continuous.c — the continuous SSM, step by step.
 * Read with chapters/01_ssm_continuous.md; equation numbers refer to it. */
#include "01_ssm_continuous/ssm_continuous.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"

/* ======================================================================== */
/* 1. The matrix exponential                                                */
/* ======================================================================== */

int lu_factor(int n, double *LU, int *piv)
{
    int info = 0;
    for (int k = 0; k < n; k++) {
        /* partial pivoting: the largest |entry| of column k on or below the diagonal */
        int p = k;
        double best = fabs(LU[(size_t)k * n + k]);
        for (int i = k + 1; i < n; i++) {
            double v = fabs(LU[(size_t)i * n + k]);
            if (v > best) { best = v; p = i; }
        }
        piv[k] = p;
        if (p != k)
            for (int j = 0; j < n; j++) {
                double t = LU[(size_t)k * n + j];
                LU[(size_t)k * n + j] = LU[(size_t)p * n + j];
                LU[(size_t)p * n + j] = t;
            }
        double ukk = LU[(size_t)k * n + k];
        if (ukk == 0.0) { if (!info) info = k + 1; continue; }
        for (int i = k + 1; i < n; i++) {
            double lik = LU[(size_t)i * n + k] /= ukk;
            if (lik == 0.0) continue;
            for (int j = k + 1; j < n; j++) LU[(size_t)i * n + j] -= lik * LU[(size_t)k * n + j];
        }
    }
    return info;
}

void lu_solve(int n, const double *LU, const int *piv, int nrhs, double *Bm)
{
    for (int k = 0; k < n; k++)          /* apply P */
        if (piv[k] != k)
            for (int j = 0; j < nrhs; j++) {
                double t = Bm[(size_t)k * nrhs + j];
                Bm[(size_t)k * nrhs + j] = Bm[(size_t)piv[k] * nrhs + j];
                Bm[(size_t)piv[k] * nrhs + j] = t;
            }
    for (int i = 0; i < n; i++)          /* L Z = P B, L unit lower */
        for (int k = 0; k < i; k++) {
            double l = LU[(size_t)i * n + k];
            for (int j = 0; j < nrhs; j++) Bm[(size_t)i * nrhs + j] -= l * Bm[(size_t)k * nrhs + j];
        }
    for (int i = n - 1; i >= 0; i--) {   /* U X = Z */
        for (int k = i + 1; k < n; k++) {
            double u = LU[(size_t)i * n + k];
            for (int j = 0; j < nrhs; j++) Bm[(size_t)i * nrhs + j] -= u * Bm[(size_t)k * nrhs + j];
        }
        double d = LU[(size_t)i * n + i];
        for (int j = 0; j < nrhs; j++) Bm[(size_t)i * nrhs + j] /= d;
    }
}

/* Z = X Y for n×n matrices (a product that is not the lesson: CBLAS). */
static void matmul(int n, const double *X, const double *Y, double *Z)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, X, n, Y, n, 0.0, Z, n);
}

static double norm1(int n, const double *A)
{
    double best = 0.0;
    for (int j = 0; j < n; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += fabs(A[(size_t)i * n + j]);
        if (!(s <= best)) best = s;      /* also lets a NaN through */
    }
    return best;
}

/* Coefficients b_0..b_13 of the [13/13] Padé approximant of e^x (Higham 2005,
 * Table 10.4 of "Functions of Matrices"): r13(x) = q(-x)... written p(x)/p(-x) with
 * p(x) = Σ b_j x^j. θ13: the largest ‖A‖₁ for which r13 is accurate to unit
 * roundoff in double precision (backward error ≤ 2^-53). */
static const double pade13_b[14] = {
    64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
    129060195264000.0,   10559470521600.0,    670442572800.0,     33522128640.0,
    1323241920.0,        40840800.0,          960960.0,           16380.0,
    182.0,               1.0};
static const double theta13 = 5.371920351148152;

int expm_squarings(int n, const double *A)
{
    /* (1.5a) scaling: the smallest s ≥ 0 with ‖A/2^s‖₁ ≤ θ13 */
    double nrm = norm1(n, A);
    return (isfinite(nrm) && nrm > theta13) ? (int)ceil(log2(nrm / theta13)) : 0;
}

void expm(int n, const double *A, double *E)
{
    if (n <= 0) return;
    size_t nn = (size_t)n * n;
    double nrm = norm1(n, A);
    if (!isfinite(nrm)) {                 /* no exponential of NaN/Inf: say so with NaN */
        for (size_t i = 0; i < nn; i++) E[i] = NAN;
        return;
    }
    /* LAB 1.1 BEGIN: The matrix exponential by scaling and squaring (1.5a)–(1.5d) */
    int s = expm_squarings(n, A);
    double *w = xmalloc_f64(8 * nn);
    double *As = w, *A2 = w + nn, *A4 = w + 2 * nn, *A6 = w + 3 * nn;
    double *U = w + 4 * nn, *V = w + 5 * nn, *T = w + 6 * nn, *P = w + 7 * nn;
    double sc = ldexp(1.0, -s);
    for (size_t i = 0; i < nn; i++) As[i] = A[i] * sc;
    matmul(n, As, As, A2);
    matmul(n, A2, A2, A4);
    matmul(n, A4, A2, A6);
    const double *b = pade13_b;
    /* (1.5b) odd part  U = As [A6 (b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I]
     *        even part V = A6 (b12 A6 + b10 A4 + b8 A2) + b6 A6 + b4 A4 + b2 A2 + b0 I   */
    for (size_t i = 0; i < nn; i++) T[i] = b[13] * A6[i] + b[11] * A4[i] + b[9] * A2[i];
    matmul(n, A6, T, P);
    for (size_t i = 0; i < nn; i++) P[i] += b[7] * A6[i] + b[5] * A4[i] + b[3] * A2[i];
    for (int i = 0; i < n; i++) P[(size_t)i * n + i] += b[1];
    matmul(n, As, P, U);
    for (size_t i = 0; i < nn; i++) T[i] = b[12] * A6[i] + b[10] * A4[i] + b[8] * A2[i];
    matmul(n, A6, T, V);
    for (size_t i = 0; i < nn; i++) V[i] += b[6] * A6[i] + b[4] * A4[i] + b[2] * A2[i];
    for (int i = 0; i < n; i++) V[(size_t)i * n + i] += b[0];
    /* (1.5c) r13 = (V - U)⁻¹ (V + U): one LU solve with n right-hand sides */
    for (size_t i = 0; i < nn; i++) { P[i] = V[i] + U[i]; T[i] = V[i] - U[i]; }
    int *piv = xmalloc((size_t)n * sizeof *piv);
    if (lu_factor(n, T, piv) != 0) {      /* cannot happen for ‖As‖₁ ≤ θ13 */
        for (size_t i = 0; i < nn; i++) E[i] = NAN;
        free(piv); free(w);
        return;
    }
    lu_solve(n, T, piv, n, P);
    /* (1.5d) squaring: e^A = (e^{A/2^s})^(2^s) */
    for (int k = 0; k < s; k++) {
        matmul(n, P, P, T);
        memcpy(P, T, nn * sizeof *P);
    }
    memcpy(E, P, nn * sizeof *E);
    free(piv);
    free(w);
    /* LAB END */
}

void expm_augmented(int N, int M, const double *A, const double *B, double t,
                    double *Phi, double *Gamma)
{
    if (!Gamma) M = 0;
    int n = N + M;
    size_t nn = (size_t)n * n;
    double *Mt = xcalloc(nn, sizeof *Mt), *E = xmalloc_f64(nn);
    /* (1.6) [[A t, B t], [0, 0]]: its exponential is [[e^{At}, ∫₀ᵗ e^{As} ds B], [0, I]] */
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) Mt[(size_t)i * n + j] = A[(size_t)i * N + j] * t;
        for (int j = 0; j < M; j++) Mt[(size_t)i * n + N + j] = B[(size_t)i * M + j] * t;
    }
    expm(n, Mt, E);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) Phi[(size_t)i * N + j] = E[(size_t)i * n + j];
        for (int j = 0; j < M; j++) Gamma[(size_t)i * M + j] = E[(size_t)i * n + N + j];
    }
    free(Mt);
    free(E);
}

/* ======================================================================== */
/* 2. Input signals                                                         */
/* ======================================================================== */

signal_t signal_step(double amp)
{
    return (signal_t){.kind = SIG_STEP, .amp = amp};
}
signal_t signal_impulse(double amp, double width)
{
    return (signal_t){.kind = SIG_IMPULSE, .amp = amp, .width = width};
}
signal_t signal_sine(double amp, double omega)
{
    return (signal_t){.kind = SIG_SINE, .amp = amp, .omega = omega};
}
signal_t signal_samples(const double *x, int L, double dt)
{
    return (signal_t){.kind = SIG_SAMPLES, .amp = 1.0, .x = x, .L = L, .dt = dt};
}

const char *signal_name(signal_kind k)
{
    switch (k) {
    case SIG_STEP: return "step";
    case SIG_IMPULSE: return "impulse";
    case SIG_SINE: return "sine";
    case SIG_SAMPLES: return "samples";
    }
    return "?";
}

int signal_is_piecewise_constant(const signal_t *s) { return s->kind != SIG_SINE; }

/* The sample grid k·dt: t/dt within a relative 1e-9 of an integer counts as ON the
 * breakpoint, so k·dt computed in floating point lands on sample k, not k-1. */
static double grid_pos(double t, double dt, int *on_break)
{
    double r = t / dt, k = nearbyint(r);
    *on_break = fabs(r - k) <= 1e-9 * fmax(1.0, fabs(r));
    return *on_break ? k : floor(r);
}

static double sample_at(const signal_t *s, double k)
{
    if (k < 0) return 0.0;
    if (k > s->L - 1) k = s->L - 1;
    return s->x[(long)k];
}

double signal_eval(const signal_t *s, double t)
{
    switch (s->kind) {
    case SIG_STEP: return t >= 0 ? s->amp : 0.0;
    case SIG_IMPULSE: return (t >= 0 && t < s->width) ? s->amp / s->width : 0.0;
    case SIG_SINE: return s->amp * sin(s->omega * t);
    case SIG_SAMPLES: {
        int on;
        return sample_at(s, grid_pos(t, s->dt, &on));
    }
    }
    return 0.0;
}

double signal_eval_left(const signal_t *s, double t)
{
    switch (s->kind) {
    case SIG_STEP: return t > 0 ? s->amp : 0.0;
    case SIG_IMPULSE: return (t > 0 && t <= s->width) ? s->amp / s->width : 0.0;
    case SIG_SINE: return signal_eval(s, t);
    case SIG_SAMPLES: {
        int on;
        double k = grid_pos(t, s->dt, &on);
        return sample_at(s, on ? k - 1 : k);
    }
    }
    return 0.0;
}

double signal_next_break(const signal_t *s, double t)
{
    switch (s->kind) {
    case SIG_STEP: return t < 0 ? 0.0 : INFINITY;
    case SIG_IMPULSE: return t < 0 ? 0.0 : (t < s->width ? s->width : INFINITY);
    case SIG_SINE: return INFINITY;
    case SIG_SAMPLES: {
        if (t < 0) return 0.0;
        int on;
        double k = grid_pos(t, s->dt, &on) + 1;   /* the next grid point after t */
        return k <= s->L - 1 ? k * s->dt : INFINITY;
    }
    }
    return INFINITY;
}

/* ======================================================================== */
/* 3. Systems                                                               */
/* ======================================================================== */

void ssm_sys_alloc(ssm_sys *s, int N, const char *name)
{
    memset(s, 0, sizeof *s);
    s->N = N;
    s->A = xcalloc((size_t)N * N, sizeof *s->A);
    s->B = xcalloc((size_t)N, sizeof *s->B);
    s->C = xcalloc((size_t)N, sizeof *s->C);
    s->owned = 1;
    snprintf(s->name, sizeof s->name, "%s", name);
}

void ssm_sys_free(ssm_sys *s)
{
    if (s->owned) { free(s->A); free(s->B); free(s->C); }
    memset(s, 0, sizeof *s);
}

void ssm_spring(ssm_sys *s, double m, double c, double k)
{
    ssm_sys_alloc(s, 2, "spring");
    /* (1.3)  q'' = (F - c q' - k q)/m  with h = (q, q'):  h' = A h + B F */
    s->A[0] = 0.0;     s->A[1] = 1.0;
    s->A[2] = -k / m;  s->A[3] = -c / m;
    s->B[0] = 0.0;     s->B[1] = 1.0 / m;
    s->C[0] = 1.0;     s->C[1] = 0.0;    /* we observe the position q */
    s->D = 0.0;
}

void ssm_rc(ssm_sys *s, double R, double Cap)
{
    ssm_sys_alloc(s, 1, "rc");
    double tau = R * Cap;                /* the time constant */
    s->A[0] = -1.0 / tau;
    s->B[0] = 1.0 / tau;
    s->C[0] = 1.0;
    s->D = 0.0;
}

void ssm_random_stable(ssm_sys *s, int N, uint64_t seed)
{
    char name[32];
    snprintf(name, sizeof name, "random%d", N);
    ssm_sys_alloc(s, N, name);
    rng_t r;
    rng_seed(&r, seed);
    const double omega = 3.0, delta = 0.1;
    double *G = xmalloc_f64((size_t)N * N), *P = xmalloc_f64((size_t)N * N);
    rng_fill_normal(&r, G, (size_t)N * N, 0.0, 1.0);
    rng_fill_normal(&r, P, (size_t)N * N, 0.0, 1.0);
    /* A = ω (G - Gᵀ)/(2√N) - P Pᵀ/N - δ I: skew part rotates, the rest damps */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, N, -1.0 / N, P, N, P, N, 0.0,
                s->A, N);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++)
            s->A[(size_t)i * N + j] +=
                omega * (G[(size_t)i * N + j] - G[(size_t)j * N + i]) / (2.0 * sqrt((double)N));
        s->A[(size_t)i * N + i] -= delta;
    }
    rng_fill_normal(&r, s->B, (size_t)N, 0.0, 1.0);
    rng_fill_normal(&r, s->C, (size_t)N, 0.0, 1.0);
    s->D = 0.5;
    free(G);
    free(P);
}

void ssm_rhs(const ssm_sys *s, const double *h, double x, double *f)
{
    int N = s->N;
    for (int i = 0; i < N; i++) {        /* (1.1) h' = A h + B x */
        double acc = s->B[i] * x;
        for (int j = 0; j < N; j++) acc += s->A[(size_t)i * N + j] * h[j];
        f[i] = acc;
    }
}

double ssm_output(const ssm_sys *s, const double *h, double x)
{
    double y = s->D * x;                 /* (1.2) y = C h + D x */
    for (int i = 0; i < s->N; i++) y += s->C[i] * h[i];
    return y;
}

/* Store the state h at output k into H and y (either may be NULL). */
static void record(const ssm_sys *s, const double *h, double x, int k, double *H, double *y)
{
    if (H) memcpy(H + (size_t)k * s->N, h, (size_t)s->N * sizeof *h);
    if (y) y[k] = ssm_output(s, h, x);
}

/* ======================================================================== */
/* 4. The exact response and the solvers                                    */
/* ======================================================================== */

/* Two interval lengths are the same if they differ by no more than the rounding of
 * the time values they come from (a few ulps of the end time t_end): then the cached
 * e^{Aτ} is reused, as for a uniform grid t_k = k dt whose differences wobble by ulps. */
static int same_interval(double tau, double tau_cached, double t_end)
{
    return fabs(tau - tau_cached) <= 8 * DBL_EPSILON * fmax(fabs(t_end), tau);
}

/* Piecewise-constant input (1.6): on a piece of length τ with constant x,
 *     h(t+τ) = e^{Aτ} h(t) + (∫₀^τ e^{As} ds B) x.
 * Phi and Gamma are recomputed only when τ changes. */
static void exact_pwc(const ssm_sys *s, const signal_t *u, const double *h0,
                      const double *ts, int nt, double *H, double *y)
{
    int N = s->N;
    double *h = xcalloc((size_t)N, sizeof *h), *hn = xmalloc_f64((size_t)N);
    double *Phi = xmalloc_f64((size_t)N * N), *Gam = xmalloc_f64((size_t)N);
    if (h0) memcpy(h, h0, (size_t)N * sizeof *h);
    double t = 0.0, tau_cached = -1.0;
    for (int k = 0; k < nt; k++) {
        while (t < ts[k]) {
            double tb = signal_next_break(u, t), te = fmin(tb, ts[k]), tau = te - t;
            double x = signal_eval(u, 0.5 * (t + te));   /* the value on this piece */
            if (!same_interval(tau, tau_cached, te)) {
                expm_augmented(N, 1, s->A, s->B, tau, Phi, Gam);
                tau_cached = tau;
            }
            for (int i = 0; i < N; i++) {
                double acc = Gam[i] * x;
                for (int j = 0; j < N; j++) acc += Phi[(size_t)i * N + j] * h[j];
                hn[i] = acc;
            }
            memcpy(h, hn, (size_t)N * sizeof *h);
            t = te;
        }
        record(s, h, signal_eval(u, ts[k]), k, H, y);
    }
    free(h); free(hn); free(Phi); free(Gam);
}

/* Sine input (1.7): x = amp·sin(ωt) is itself the output of the oscillator
 * σ' = ω γ, γ' = -ω σ (σ = sin ωt, γ = cos ωt), so w = (h, σ, γ) solves the
 * homogeneous system w' = M w with M = [[A, amp·B, 0], [0, 0, ω], [0, -ω, 0]],
 * w(0) = (h0, 0, 1), and w(t+τ) = e^{Mτ} w(t) exactly. */
static void exact_sine(const ssm_sys *s, const signal_t *u, const double *h0,
                       const double *ts, int nt, double *H, double *y)
{
    int N = s->N, n = N + 2;
    double *M = xcalloc((size_t)n * n, sizeof *M), *E = xmalloc_f64((size_t)n * n);
    double *w = xcalloc((size_t)n, sizeof *w), *wn = xmalloc_f64((size_t)n);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) M[(size_t)i * n + j] = s->A[(size_t)i * N + j];
        M[(size_t)i * n + N] = u->amp * s->B[i];
    }
    M[(size_t)N * n + N + 1] = u->omega;
    M[(size_t)(N + 1) * n + N] = -u->omega;
    if (h0) memcpy(w, h0, (size_t)N * sizeof *w);
    w[N + 1] = 1.0;
    double *Mt = xmalloc_f64((size_t)n * n);
    double t = 0.0, tau_cached = -1.0;
    for (int k = 0; k < nt; k++) {
        double tau = ts[k] - t;
        if (tau > 0) {
            if (!same_interval(tau, tau_cached, ts[k])) {
                for (size_t i = 0; i < (size_t)n * n; i++) Mt[i] = M[i] * tau;
                expm(n, Mt, E);
                tau_cached = tau;
            }
            for (int i = 0; i < n; i++) {
                double acc = 0.0;
                for (int j = 0; j < n; j++) acc += E[(size_t)i * n + j] * w[j];
                wn[i] = acc;
            }
            memcpy(w, wn, (size_t)n * sizeof *w);
            t = ts[k];
        }
        record(s, w, signal_eval(u, ts[k]), k, H, y);
    }
    free(M); free(E); free(Mt); free(w); free(wn);
}

/* (1.4) the solution formula, evaluated exactly for the two inputs it has a closed form for */
void ssm_exact(const ssm_sys *s, const signal_t *u, const double *h0,
               const double *ts, int nt, double *H, double *y)
{
    if (signal_is_piecewise_constant(u))
        exact_pwc(s, u, h0, ts, nt, H, y);
    else
        exact_sine(s, u, h0, ts, nt, H, y);
}

void ssm_euler(const ssm_sys *s, const signal_t *u, const double *h0, double dt,
               int nsteps, double *H, double *y)
{
    int N = s->N;
    double *h = xcalloc((size_t)N, sizeof *h), *f = xmalloc_f64((size_t)N);
    if (h0) memcpy(h, h0, (size_t)N * sizeof *h);
    for (int k = 0;; k++) {
        double t = k * dt, x = signal_eval(u, t);
        record(s, h, x, k, H, y);
        if (k == nsteps) break;
        ssm_rhs(s, h, x, f);             /* (1.9) h_{k+1} = h_k + dt (A h_k + B x(t_k)) */
        for (int i = 0; i < N; i++) h[i] += dt * f[i];
    }
    free(h);
    free(f);
}

void ssm_rk4(const ssm_sys *s, const signal_t *u, const double *h0, double dt,
             int nsteps, double *H, double *y)
{
    int N = s->N;
    double *w = xcalloc(6 * (size_t)N, sizeof *w);
    double *h = w, *k1 = w + N, *k2 = w + 2 * N, *k3 = w + 3 * N, *k4 = w + 4 * N, *g = w + 5 * N;
    if (h0) memcpy(h, h0, (size_t)N * sizeof *h);
    for (int k = 0;; k++) {
        double t = k * dt, x0 = signal_eval(u, t);
        record(s, h, x0, k, H, y);
        if (k == nsteps) break;
        double xm = signal_eval(u, t + 0.5 * dt), x1 = signal_eval_left(u, (k + 1) * dt);
        /* LAB 1.3 BEGIN: One step of the classic Runge–Kutta method (1.10) */
        /* (1.10) k1 = f(t, h), k2 = f(t+dt/2, h + dt/2 k1), k3 = f(t+dt/2, h + dt/2 k2),
         *        k4 = f(t+dt, h + dt k3),  h ← h + dt (k1 + 2 k2 + 2 k3 + k4)/6 */
        ssm_rhs(s, h, x0, k1);
        for (int i = 0; i < N; i++) g[i] = h[i] + 0.5 * dt * k1[i];
        ssm_rhs(s, g, xm, k2);
        for (int i = 0; i < N; i++) g[i] = h[i] + 0.5 * dt * k2[i];
        ssm_rhs(s, g, xm, k3);
        for (int i = 0; i < N; i++) g[i] = h[i] + dt * k3[i];
        ssm_rhs(s, g, x1, k4);
        for (int i = 0; i < N; i++) h[i] += dt * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) / 6.0;
        /* LAB END */
    }
    free(w);
}

/* Dormand–Prince RK5(4) tableau: nodes c, stages a, 5th-order weights b (= the last
 * row of a: "first same as last"), and e = b - b̂, the difference to the embedded
 * 4th-order weights, which estimates the local error. */
static const double dp_c[7] = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
static const double dp_a[7][6] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
static const double dp_e[7] = {71.0 / 57600,      0.0,           -71.0 / 16695, 71.0 / 1920,
                               -17253.0 / 339200, 22.0 / 525,    -1.0 / 40};

/* RMS of x_i / (atol + rtol max(|a_i|, |b_i|)) */
static double err_norm(int N, const double *x, const double *a, const double *b,
                       double rtol, double atol)
{
    double acc = 0.0;
    for (int i = 0; i < N; i++) {
        double sc = atol + rtol * fmax(fabs(a[i]), fabs(b[i]));
        acc += (x[i] / sc) * (x[i] / sc);
    }
    return sqrt(acc / N);
}

/* The adaptive integrator. Targets ts[0..nt) are landed on exactly; with
 * every_step the state is also appended after each accepted step (to *path). */
typedef struct { int n, cap; double *t, *H; } rk45_path;

static void path_push(rk45_path *p, int N, double t, const double *h)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        double *nt = xmalloc((size_t)p->cap * sizeof *nt);
        double *nH = xmalloc((size_t)p->cap * N * sizeof *nH);
        if (p->n) {
            memcpy(nt, p->t, (size_t)p->n * sizeof *nt);
            memcpy(nH, p->H, (size_t)p->n * N * sizeof *nH);
        }
        free(p->t); free(p->H);
        p->t = nt; p->H = nH;
    }
    p->t[p->n] = t;
    memcpy(p->H + (size_t)p->n * N, h, (size_t)N * sizeof *h);
    p->n++;
}

static int rk45_core(const ssm_sys *s, const signal_t *u, const double *h0, const double *ts,
                     int nt, double rtol, double atol, double *H, double *y, rk45_stats *st,
                     rk45_path *path)
{
    int N = s->N;
    if (nt <= 0) {
        if (st) *st = (rk45_stats){0, 0, 0, 0.0, 0.0};
        return 0;
    }
    double *w = xcalloc(11 * (size_t)N, sizeof *w);
    double *h = w, *k[7], *g = w + 8 * N, *hn = w + 9 * N, *e = w + 10 * N;
    for (int i = 0; i < 7; i++) k[i] = w + (size_t)(i + 1) * N;
    if (h0) memcpy(h, h0, (size_t)N * sizeof *h);
    rk45_stats stl = {0, 0, 0, INFINITY, 0.0};
    double t = 0.0, T = ts[nt - 1];
    int status = 0, j = 0;
    if (path) path_push(path, N, t, h);

    /* Initial step (Hairer, Nørsett & Wanner, II.4): from the sizes of h and f. */
    ssm_rhs(s, h, signal_eval(u, 0.0), k[0]);
    stl.nfev++;
    double d0 = err_norm(N, h, h, h, rtol, atol), d1 = err_norm(N, k[0], h, h, rtol, atol);
    double hstep = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    for (int i = 0; i < N; i++) g[i] = h[i] + hstep * k[0][i];
    ssm_rhs(s, g, signal_eval(u, hstep), k[1]);
    stl.nfev++;
    for (int i = 0; i < N; i++) e[i] = k[1][i] - k[0][i];
    double d2 = err_norm(N, e, h, h, rtol, atol) / hstep, dm = fmax(d1, d2);
    double h1 = dm <= 1e-15 ? fmax(1e-6, hstep * 1e-3) : pow(0.01 / dm, 1.0 / 5);
    hstep = fmin(100 * hstep, h1);
    if (T > 0) hstep = fmin(hstep, T);

    int k0_valid = 1, rejected_last = 0;
    while (j < nt) {
        if (t >= ts[j]) {               /* on an output time: record it */
            record(s, h, signal_eval(u, ts[j]), j, H, y);
            j++;
            continue;
        }
        double tb = signal_next_break(u, t), tstop = fmin(ts[j], tb);
        double hs = hstep;
        int clipped = 0;
        if (t + 1.01 * hs >= tstop) { hs = tstop - t; clipped = 1; }
        if (!k0_valid) { ssm_rhs(s, h, signal_eval(u, t), k[0]); stl.nfev++; k0_valid = 1; }
        /* (1.11) the seven stages; stage i sees the input at t + c_i hs (left limit at c = 1) */
        for (int st_i = 1; st_i < 7; st_i++) {
            for (int i = 0; i < N; i++) {
                double acc = h[i];
                for (int m = 0; m < st_i; m++) acc += hs * dp_a[st_i][m] * k[m][i];
                g[i] = acc;
            }
            double tc = t + dp_c[st_i] * hs;
            double x = dp_c[st_i] == 1.0 ? signal_eval_left(u, t + hs) : signal_eval(u, tc);
            ssm_rhs(s, g, x, k[st_i]);
            stl.nfev++;
        }
        /* the 5th-order solution is stage 7's argument (FSAL): g after st_i = 6 */
        memcpy(hn, g, (size_t)N * sizeof *g);
        for (int i = 0; i < N; i++) {
            double acc = 0.0;
            for (int m = 0; m < 7; m++) acc += dp_e[m] * k[m][i];
            e[i] = hs * acc;
        }
        double err = err_norm(N, e, h, hn, rtol, atol);
        double fac = err == 0.0 ? 5.0 : fmin(5.0, fmax(0.2, 0.9 * pow(err, -0.2)));
        if (err <= 1.0) {               /* accept */
            t = clipped ? tstop : t + hs;
            memcpy(h, hn, (size_t)N * sizeof *h);
            stl.accepted++;
            stl.h_min = fmin(stl.h_min, hs);
            stl.h_max = fmax(stl.h_max, hs);
            if (path) path_push(path, N, t, h);
            /* FSAL: k7 = f(t+hs, h_new) is the next k1, unless the input jumps at t */
            if (clipped && tstop == tb) k0_valid = 0;
            else memcpy(k[0], k[6], (size_t)N * sizeof *k[0]);
            if (rejected_last) fac = fmin(fac, 1.0);
            /* a step clipped to land on a time does not shrink the next proposal */
            double hnew = hs * fac;
            hstep = clipped ? fmax(hstep, hnew) : hnew;
            rejected_last = 0;
        } else {                        /* reject and retry smaller */
            stl.rejected++;
            hstep = hs * fac;
            rejected_last = 1;
        }
        /* give up when the step is lost in the rounding of t, or the state is NaN/Inf (-1),
         * or after SSM_RK45_MAX_STEPS steps: a system too stiff for an explicit method over
         * [0, T] would otherwise run (and grow its path) without bound (-2) */
        int too_many = stl.accepted + stl.rejected >= SSM_RK45_MAX_STEPS;
        if (!isfinite(err) || too_many || (rejected_last && !(hstep > 16 * DBL_EPSILON * fmax(1.0, fabs(t))))) {
            for (; j < nt; j++) {
                if (H) for (int i = 0; i < N; i++) H[(size_t)j * N + i] = NAN;
                if (y) y[j] = NAN;
            }
            status = too_many && isfinite(err) ? -2 : -1;
            break;
        }
    }
    if (stl.accepted == 0) stl.h_min = 0.0;
    if (st) *st = stl;
    free(w);
    return status;
}

int ssm_rk45(const ssm_sys *s, const signal_t *u, const double *h0, const double *ts,
             int nt, double rtol, double atol, double *H, double *y, rk45_stats *stats)
{
    return rk45_core(s, u, h0, ts, nt, rtol, atol, H, y, stats, NULL);
}

int ssm_rk45_path(const ssm_sys *s, const signal_t *u, const double *h0, double T,
                  double rtol, double atol, int *n_out, double **t_out, double **H_out,
                  rk45_stats *stats)
{
    rk45_path p = {0, 0, NULL, NULL};
    int rc = rk45_core(s, u, h0, &T, 1, rtol, atol, NULL, NULL, stats, &p);
    *n_out = p.n;
    *t_out = p.t;
    *H_out = p.H;
    return rc;
}

/* ======================================================================== */
/* 5. Stability: the eigenvalues of A                                       */
/* ======================================================================== */

static int cmp_lambda(const void *pa, const void *pb)
{
    double complex a = *(const double complex *)pa, b = *(const double complex *)pb;
    if (creal(a) != creal(b)) return creal(a) < creal(b) ? 1 : -1;
    return cimag(a) < cimag(b) ? 1 : (cimag(a) > cimag(b) ? -1 : 0);
}

int eig_general(int n, const double *A, double complex *lambda)
{
    if (n <= 0) return 0;
    /* LAB 1.2 BEGIN: Eigenvalues: Hessenberg reduction and the shifted QR iteration (1.8) */
    double *R = xmalloc_f64((size_t)n * n), *v = xmalloc_f64((size_t)n);
    memcpy(R, A, (size_t)n * n * sizeof *R);
    /* Householder reflections P = I - 2 v vᵀ/vᵀv zero column k below the subdiagonal;
     * R ← P R P keeps the eigenvalues and ends upper Hessenberg. */
    for (int k = 0; k + 2 < n; k++) {
        int m = n - k - 1;
        double nx = 0.0;
        for (int i = 0; i < m; i++) { v[i] = R[(size_t)(k + 1 + i) * n + k]; nx += v[i] * v[i]; }
        nx = sqrt(nx);
        if (nx == 0.0) continue;
        double alpha = v[0] > 0 ? -nx : nx;
        v[0] -= alpha;
        double vv = 0.0;
        for (int i = 0; i < m; i++) vv += v[i] * v[i];
        if (vv == 0.0) continue;
        for (int c = 0; c < n; c++) {    /* from the left, rows k+1.. */
            double sdot = 0.0;
            for (int i = 0; i < m; i++) sdot += v[i] * R[(size_t)(k + 1 + i) * n + c];
            sdot *= 2.0 / vv;
            for (int i = 0; i < m; i++) R[(size_t)(k + 1 + i) * n + c] -= sdot * v[i];
        }
        for (int r = 0; r < n; r++) {    /* from the right, columns k+1.. */
            double sdot = 0.0;
            for (int i = 0; i < m; i++) sdot += R[(size_t)r * n + k + 1 + i] * v[i];
            sdot *= 2.0 / vv;
            for (int i = 0; i < m; i++) R[(size_t)r * n + k + 1 + i] -= sdot * v[i];
        }
        for (int i = 1; i < m; i++) R[(size_t)(k + 1 + i) * n + k] = 0.0;
    }
    double complex *Hc = xmalloc((size_t)n * n * sizeof *Hc);
    double complex *cs = xmalloc((size_t)n * 2 * sizeof *cs);
    for (size_t i = 0; i < (size_t)n * n; i++) Hc[i] = R[i];
    double anorm = 0.0;
    for (size_t i = 0; i < (size_t)n * n; i++) anorm = fmax(anorm, cabs(Hc[i]));
#define HH(i, j) Hc[(size_t)(i) * n + (j)]
    int hi = n - 1, iter = 0, total = 0, status = 0;
    while (hi >= 0) {
        if (hi == 0) { lambda[0] = HH(0, 0); break; }
        int l = hi;                      /* find the active window [l, hi] */
        while (l > 0) {
            double sc = cabs(HH(l - 1, l - 1)) + cabs(HH(l, l));
            if (sc == 0.0) sc = anorm;
            if (cabs(HH(l, l - 1)) <= DBL_EPSILON * sc) { HH(l, l - 1) = 0.0; break; }
            l--;
        }
        if (l == hi) { lambda[hi] = HH(hi, hi); hi--; iter = 0; continue; }
        if (++total > 100 * n) { status = -1; break; }
        /* Wilkinson shift: the eigenvalue of the trailing 2×2 nearer to its corner */
        double complex a = HH(hi - 1, hi - 1), b = HH(hi - 1, hi), c = HH(hi, hi - 1),
                       d = HH(hi, hi);
        double complex mean = 0.5 * (a + d), disc = csqrt(0.25 * (a - d) * (a - d) + b * c);
        double complex mu = cabs(mean + disc - d) < cabs(mean - disc - d) ? mean + disc : mean - disc;
        if (++iter % 10 == 0) mu = d + 0.75 * cabs(c);   /* exceptional shift */
        /* one QR step on the window: H - μI = Q R (Givens), H ← R Q + μI */
        for (int i = l; i <= hi; i++) HH(i, i) -= mu;
        for (int kk = l; kk < hi; kk++) {
            double complex x0 = HH(kk, kk), x1 = HH(kk + 1, kk);
            double r = hypot(cabs(x0), cabs(x1));
            double complex gc = r == 0.0 ? 1.0 : x0 / r, gs = r == 0.0 ? 0.0 : x1 / r;
            cs[2 * kk] = gc;
            cs[2 * kk + 1] = gs;
            for (int col = kk; col <= hi; col++) {
                double complex p = HH(kk, col), q = HH(kk + 1, col);
                HH(kk, col) = conj(gc) * p + conj(gs) * q;
                HH(kk + 1, col) = -gs * p + gc * q;
            }
        }
        for (int kk = l; kk < hi; kk++) {
            double complex gc = cs[2 * kk], gs = cs[2 * kk + 1];
            int rmax = kk + 1;
            for (int row = l; row <= rmax; row++) {
                double complex p = HH(row, kk), q = HH(row, kk + 1);
                HH(row, kk) = gc * p + gs * q;
                HH(row, kk + 1) = -conj(gs) * p + conj(gc) * q;
            }
        }
        for (int i = l; i <= hi; i++) HH(i, i) += mu;
    }
#undef HH
    if (status == 0) qsort(lambda, (size_t)n, sizeof *lambda, cmp_lambda);
    free(R); free(v); free(Hc); free(cs);
    return status;
    /* LAB END */
}

double spectral_abscissa(int n, const double *A)
{
    double complex *lam = xmalloc((size_t)n * sizeof *lam);
    double best = NAN;
    if (eig_general(n, A, lam) == 0) {
        best = -INFINITY;
        for (int i = 0; i < n; i++) best = fmax(best, creal(lam[i]));
    }
    free(lam);
    return best;
}
