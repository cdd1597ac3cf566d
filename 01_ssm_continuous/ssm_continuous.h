/* 01_ssm_continuous/ssm_continuous.h — the continuous state space model
 *
 *     h'(t) = A h(t) + B x(t)          (1.1)  state equation
 *     y(t)  = C h(t) + D x(t)          (1.2)  output equation
 *
 * in float64, row-major, N the state size. This header holds what the chapter
 * (chapters/01_ssm_continuous.md) builds step by step and what later stages call:
 *
 *   1. the matrix exponential e^A (scaling and squaring, Padé [13/13]),   (1.5)
 *      and the pair (e^{At}, ∫₀ᵗ e^{As} ds B) from one exponential of an
 *      augmented matrix — the exact response to an input held constant;   (1.6)
 *   2. input signals x(t): step, impulse, sine, samples from a .npy file;
 *   3. the built-in systems: mass–spring–damper, RC circuit, random stable;
 *   4. the exact response (1.6) and three numerical solvers: forward Euler,
 *      classic RK4 and adaptive Dormand–Prince RK45;
 *   5. the eigenvalues of A, whose real parts decide stability.          (1.8)
 *
 * Equation numbers refer to the chapter. */
#ifndef SSM_CONTINUOUS_H
#define SSM_CONTINUOUS_H

#include <complex.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* 1. The matrix exponential                                                */
/* ------------------------------------------------------------------------ */

/* LU factorization with partial pivoting, in place: P A = L U with L unit lower
 * triangular (below the diagonal of LU) and U upper (on and above it); piv[k] is
 * the row swapped with row k at step k. Returns 0, or k+1 if U[k][k] == 0. */
int lu_factor(int n, double *LU, int *piv);
/* Solve A X = Bm for nrhs right-hand sides (Bm row-major n×nrhs, overwritten by X)
 * with the factors from lu_factor. */
void lu_solve(int n, const double *LU, const int *piv, int nrhs, double *Bm);

/* E = e^A for an n×n matrix A (row-major).                            (1.5)
 * Scaling and squaring with the [13/13] Padé approximant (Higham 2005):
 * s = max(0, ⌈log2(‖A‖₁ / θ₁₃)⌉), R = r₁₃(A / 2^s), E = R^(2^s).
 * A and E may not alias. */
void expm(int n, const double *A, double *E);
/* The s that expm uses: the number of squarings. */
int expm_squarings(int n, const double *A);

/* Phi = e^{At} (N×N) and Gamma = (∫₀ᵗ e^{As} ds) B (N×M), from ONE exponential of
 * the (N+M)×(N+M) matrix                                               (1.6)
 *        exp( [[A, B], [0, 0]] t ) = [[e^{At}, ∫₀ᵗ e^{As} ds B], [0, I]],
 * so no inverse of A is needed (A may be singular). Gamma may be NULL when
 * M == 0 or when only Phi is wanted (B is then ignored). */
void expm_augmented(int N, int M, const double *A, const double *B, double t,
                    double *Phi, double *Gamma);

/* ------------------------------------------------------------------------ */
/* 2. Input signals x(t)                                                    */
/* ------------------------------------------------------------------------ */

typedef enum { SIG_STEP, SIG_IMPULSE, SIG_SINE, SIG_SAMPLES } signal_kind;

/* One scalar input x(t), t ≥ 0, right-continuous at its breakpoints:
 *   SIG_STEP     amp for t ≥ 0
 *   SIG_IMPULSE  a unit-area pulse scaled by amp: amp/width on [0, width), else 0
 *                (the impulse δ(t) as width → 0; exact response is still exact)
 *   SIG_SINE     amp · sin(omega t)
 *   SIG_SAMPLES  x[k] on [k dt, (k+1) dt) for k < L, x[L-1] after (zero-order hold)
 * `x` is not owned by the signal. */
typedef struct {
    signal_kind kind;
    double amp;     /* step height, impulse area, sine amplitude */
    double width;   /* impulse: pulse width (> 0) */
    double omega;   /* sine: angular frequency, rad/s */
    const double *x;/* samples */
    int L;          /* number of samples */
    double dt;      /* sample spacing */
} signal_t;

signal_t signal_step(double amp);
signal_t signal_impulse(double amp, double width);
signal_t signal_sine(double amp, double omega);
signal_t signal_samples(const double *x, int L, double dt);

/* x(t) (right-continuous: at a breakpoint, the value of the piece that starts there). */
double signal_eval(const signal_t *s, double t);
/* lim x(τ) as τ → t from below: what a solver step that ENDS at t sees. */
double signal_eval_left(const signal_t *s, double t);
/* The first breakpoint strictly after t (INFINITY if none). The sine has none. */
double signal_next_break(const signal_t *s, double t);
/* 1 if x(t) is constant between breakpoints (so the exact response is (1.6)). */
int signal_is_piecewise_constant(const signal_t *s);
const char *signal_name(signal_kind k);

/* ------------------------------------------------------------------------ */
/* 3. Systems: single input, single output (B a column, C a row, D a scalar) */
/* ------------------------------------------------------------------------ */

typedef struct {
    int N;
    double *A;      /* N×N row-major */
    double *B;      /* N (column) */
    double *C;      /* N (row) */
    double D;
    char name[32];
    int owned;      /* 1 if A, B, C were allocated by ssm_sys_alloc */
} ssm_sys;

/* Allocate A, B, C of an N-state system (zeroed) with a name. */
void ssm_sys_alloc(ssm_sys *s, int N, const char *name);
void ssm_sys_free(ssm_sys *s);

/* Mass–spring–damper  m q'' + c q' + k q = F(t), rewritten as a first-order
 * system with state h = (q, q'):                                       (1.3)
 *     A = [[0, 1], [-k/m, -c/m]],  B = [0, 1/m],  C = [1, 0],  D = 0. */
void ssm_spring(ssm_sys *s, double m, double c, double k);
/* RC low-pass: capacitor voltage v, R Cap v' = -v + x(t):
 *     A = [-1/(R Cap)], B = [1/(R Cap)], C = [1], D = 0. */
void ssm_rc(ssm_sys *s, double R, double Cap);
/* A random stable system of size N: A = ω (G - Gᵀ)/(2√N) - P Pᵀ/N - δ I with
 * G, P standard normal, so A + Aᵀ = -2 P Pᵀ/N - 2δ I is negative definite and every
 * eigenvalue has Re λ ≤ -δ (δ = 0.1, ω = 3); B, C standard normal, D = 0.5. */
void ssm_random_stable(ssm_sys *s, int N, uint64_t seed);

/* dh/dt = A h + B x   (1.1), into f (N). */
void ssm_rhs(const ssm_sys *s, const double *h, double x, double *f);
/* y = C h + D x       (1.2) */
double ssm_output(const ssm_sys *s, const double *h, double x);

/* ------------------------------------------------------------------------ */
/* 4. The exact response and the solvers                                    */
/* ------------------------------------------------------------------------ */
/* All of them: initial state h0 (NULL = zero) at t = 0; H receives the state at
 * each output time (nt × N, row-major), y the output (nt), either may be NULL.  */

/* Exact response at increasing times ts[0..nt) (ts[0] ≥ 0): for piecewise-constant
 * inputs, h(t+τ) = e^{Aτ} h(t) + (∫₀^τ e^{As} ds B) x on each piece (1.6),
 * splitting at the signal's breakpoints; for the sine, the exponential of A
 * augmented with the 2×2 oscillator that generates the sine.          (1.7) */
void ssm_exact(const ssm_sys *s, const signal_t *u, const double *h0,
               const double *ts, int nt, double *H, double *y);

/* Fixed-step solvers on the grid t_k = k dt, k = 0..nsteps (nt = nsteps + 1).
 * Within a step [t, t+dt) stages at its end see signal_eval_left(t+dt), so a
 * step never borrows the next piece of a piecewise-constant input.
 * Forward Euler:  h_{k+1} = h_k + dt f(t_k, h_k)                      (1.9)
 * Classic RK4:    four stages, weights 1/6, 1/3, 1/3, 1/6              (1.10) */
void ssm_euler(const ssm_sys *s, const signal_t *u, const double *h0, double dt,
               int nsteps, double *H, double *y);
void ssm_rk4(const ssm_sys *s, const signal_t *u, const double *h0, double dt,
             int nsteps, double *H, double *y);

typedef struct {
    long accepted, rejected, nfev;   /* steps accepted, rejected, calls of (1.1) */
    double h_min, h_max;             /* smallest and largest accepted step */
} rk45_stats;

/* Adaptive Dormand–Prince RK5(4) with FSAL, error control per component
 * |e_i| ≤ atol + rtol·max(|h_i|, |h_new,i|) in the RMS norm, step rejection and
 * the usual step-size law h ← h·min(5, max(0.2, 0.9·err^{-1/5})).        (1.11)
 * Steps are shortened to land on every output time ts[k] and on every breakpoint
 * of the input. Returns 0, -1 if the step size underflowed, or -2 after
 * SSM_RK45_MAX_STEPS steps (too stiff for [0, T]); H, y then hold NaN from the failing
 * time on. stats may be NULL. */
#define SSM_RK45_MAX_STEPS 200000L
int ssm_rk45(const ssm_sys *s, const signal_t *u, const double *h0, const double *ts,
             int nt, double rtol, double atol, double *H, double *y, rk45_stats *stats);

/* The same integrator from 0 to T, returning its own accepted steps: *n_out points
 * (t = 0 first, t = T last) in *t_out (n) and *H_out (n × N), both malloc'ed. */
int ssm_rk45_path(const ssm_sys *s, const signal_t *u, const double *h0, double T,
                  double rtol, double atol, int *n_out, double **t_out, double **H_out,
                  rk45_stats *stats);

/* ------------------------------------------------------------------------ */
/* 5. Stability                                                             */
/* ------------------------------------------------------------------------ */

/* Eigenvalues of a real n×n matrix: Householder reduction to Hessenberg form, then
 * the shifted QR iteration (Wilkinson shifts, complex arithmetic) with deflation.
 * Sorted by real part, descending. Returns 0, or -1 if QR did not converge. */
int eig_general(int n, const double *A, double complex *lambda);
/* max Re λ(A): the system is asymptotically stable iff it is < 0.       (1.8) */
double spectral_abscissa(int n, const double *A);

#endif
