/* 03_recurrent_conv/recconv.c — the recurrent and convolutional views of one SSM.
 * Read with chapters/03_recurrent_conv.md; equation numbers (3.x) refer to it. */
#include "03_recurrent_conv/recconv.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "common/util.h"

/* Library functions validate their arguments like programs validate files: a
 * caller's bug is reported in one line (exit 2), never a crash. */
static void need_size(const char *fn, const char *what, int v)
{
    if (v < 1) die(EXIT_BAD_INPUT, "%s: %s must be >= 1, got %d", fn, what, v);
}
static void need_ptr(const char *fn, const char *what, const void *p)
{
    if (!p) die(EXIT_BAD_INPUT, "%s: %s must not be NULL", fn, what);
}

/* ------------------------------------------------------------------------- */
/* 1. The recurrent view                                                     */
/* ------------------------------------------------------------------------- */

double ssm_step_diag(int N, const double complex *Abar, const double complex *Bbar,
                     const double complex *C, double D, double complex *h, double x)
{
    /* LAB 3.2 BEGIN: One step of the diagonal recurrence (3.1), (3.5) */
    double y = D * x;
    for (int n = 0; n < N; n++) {
        h[n] = Abar[n] * h[n] + Bbar[n] * x;          /* (3.1) h ← Ā h + B̄ x  */
        y += creal(C[n] * h[n]);                       /* (3.5) y = Re(C h) + D x */
    }
    return y;
    /* LAB END */
}

void ssm_recurrence_diag(int N, const double complex *Abar, const double complex *Bbar,
                         const double complex *C, double D, const double *x, int L,
                         double *y)
{
    static const char fn[] = "ssm_recurrence_diag";
    need_size(fn, "N", N);
    need_size(fn, "L", L);
    need_ptr(fn, "Abar", Abar); need_ptr(fn, "Bbar", Bbar); need_ptr(fn, "C", C);
    need_ptr(fn, "x", x); need_ptr(fn, "y", y);
    double complex *h = xcalloc((size_t)N, sizeof *h);  /* h_{−1} = 0 */
    for (int k = 0; k < L; k++)
        y[k] = ssm_step_diag(N, Abar, Bbar, C, D, h, x[k]);
    free(h);
}

void ssm_diag_to_dense(int N, const double complex *Abar, const double complex *Bbar,
                       const double complex *C, double *Ad, double *Bd, double *Cd)
{
    static const char fn[] = "ssm_diag_to_dense";
    need_size(fn, "N", N);
    need_ptr(fn, "Abar", Abar); need_ptr(fn, "Bbar", Bbar); need_ptr(fn, "C", C);
    need_ptr(fn, "Ad", Ad); need_ptr(fn, "Bd", Bd); need_ptr(fn, "Cd", Cd);
    const int M = 2 * N;
    memset(Ad, 0, (size_t)M * (size_t)M * sizeof *Ad);
    for (int n = 0; n < N; n++) {
        const int r = 2 * n;                  /* rows/cols of (Re h_n, Im h_n) */
        const double a = creal(Abar[n]), b = cimag(Abar[n]);
        /* λ h = (a + ib)(u + iv) = (a u − b v) + i (b u + a v) */
        Ad[r * M + r] = a;        Ad[r * M + r + 1] = -b;
        Ad[(r + 1) * M + r] = b;  Ad[(r + 1) * M + r + 1] = a;
        Bd[r] = creal(Bbar[n]);   Bd[r + 1] = cimag(Bbar[n]);
        /* Re((c + id)(u + iv)) = c u − d v */
        Cd[r] = creal(C[n]);      Cd[r + 1] = -cimag(C[n]);
    }
}

/* ------------------------------------------------------------------------- */
/* 2. The kernel                                                             */
/* ------------------------------------------------------------------------- */

/* A decaying kernel eventually falls below the smallest normal double, DBL_MIN ≈
 * 2.2e-308 (for |λ| = e^{-0.05}: after k ≈ 14 000 steps). Arithmetic on such
 * subnormal numbers is one to two orders of magnitude slower on common CPUs (the
 * program measures it), for every later multiplication and for every product with
 * the kernel in the convolution. The kernels therefore flush what has decayed below
 * DBL_MIN to exactly zero: the change is < DBL_MIN per term, far below rounding. */
static inline double flush(double v) { return fabs(v) < DBL_MIN ? 0.0 : v; }
static inline float flushf(float v) { return fabsf(v) < FLT_MIN ? 0.0f : v; }

void ssm_kernel_dense(int N, const double *Abar, const double *Bbar, const double *C,
                      int L, double *K)
{
    static const char fn[] = "ssm_kernel_dense";
    need_size(fn, "N", N);
    need_size(fn, "L", L);
    need_ptr(fn, "Abar", Abar); need_ptr(fn, "Bbar", Bbar); need_ptr(fn, "C", C);
    need_ptr(fn, "K", K);
    double *v = xmalloc_f64((size_t)N), *w = xmalloc_f64((size_t)N);
    memcpy(v, Bbar, (size_t)N * sizeof *v);               /* v_0 = B̄ */
    for (int k = 0; k < L; k++) {
        double s = 0;
        for (int i = 0; i < N; i++) s += C[i] * v[i];     /* (3.3) K̄_k = C Ā^k B̄ */
        K[k] = s;
        if (k + 1 == L) break;
        for (int i = 0; i < N; i++) {                     /* v_{k+1} = Ā v_k */
            const double *row = Abar + (size_t)i * (size_t)N;
            double t = 0;
            for (int j = 0; j < N; j++) t += row[j] * v[j];
            w[i] = flush(t);
        }
        double *tmp = v; v = w; w = tmp;
    }
    free(v);
    free(w);
}

void ssm_kernel_diag(int N, const double complex *Abar, const double complex *Bbar,
                     const double complex *C, int L, double *K)
{
    static const char fn[] = "ssm_kernel_diag";
    need_size(fn, "N", N);
    need_size(fn, "L", L);
    need_ptr(fn, "Abar", Abar); need_ptr(fn, "Bbar", Bbar); need_ptr(fn, "C", C);
    need_ptr(fn, "K", K);
    /* LAB 3.1 BEGIN: The SSM kernel of a diagonal system (Vandermonde) (3.5) */
    /* p_n = (C_n B̄_n) λ_n^k, advanced by one multiplication per step. */
    double complex *p = xmalloc((size_t)N * sizeof *p);
    for (int n = 0; n < N; n++) p[n] = C[n] * Bbar[n];
    for (int k = 0; k < L; k++) {
        double s = 0;
        for (int n = 0; n < N; n++) {
            s += creal(p[n]);                          /* (3.5) K̄_k = Re Σ C B̄ λ^k */
            const double complex q = p[n] * Abar[n];
            p[n] = CMPLX(flush(creal(q)), flush(cimag(q)));
        }
        K[k] = s;
    }
    free(p);
    /* LAB END */
}

void ssm_kernel_diag_f32(int N, const float complex *Abar, const float complex *Bbar,
                         const float complex *C, int L, float *K)
{
    static const char fn[] = "ssm_kernel_diag_f32";
    need_size(fn, "N", N);
    need_size(fn, "L", L);
    need_ptr(fn, "Abar", Abar); need_ptr(fn, "Bbar", Bbar); need_ptr(fn, "C", C);
    need_ptr(fn, "K", K);
    float complex *p = xmalloc((size_t)N * sizeof *p);
    for (int n = 0; n < N; n++) p[n] = C[n] * Bbar[n];
    for (int k = 0; k < L; k++) {
        float s = 0;
        for (int n = 0; n < N; n++) {
            s += crealf(p[n]);                         /* (3.5) in float32 */
            const float complex q = p[n] * Abar[n];
            p[n] = CMPLXF(flushf(crealf(q)), flushf(cimagf(q)));
        }
        K[k] = s;
    }
    free(p);
}

void ssm_kernel_diag_ref(int N, const double complex *Abar, const double complex *Bbar,
                         const double complex *C, int L, double *K)
{
    static const char fn[] = "ssm_kernel_diag_ref";
    need_size(fn, "N", N);
    need_size(fn, "L", L);
    need_ptr(fn, "Abar", Abar); need_ptr(fn, "Bbar", Bbar); need_ptr(fn, "C", C);
    need_ptr(fn, "K", K);
    long double complex *w = xmalloc((size_t)N * sizeof *w);
    long double complex *lg = xmalloc((size_t)N * sizeof *lg);
    for (int n = 0; n < N; n++) {
        w[n] = (long double complex)C[n] * (long double complex)Bbar[n];
        lg[n] = clogl((long double complex)Abar[n]);   /* λ^k = e^{k log λ} */
    }
    for (int k = 0; k < L; k++) {
        long double s = 0;
        for (int n = 0; n < N; n++)
            s += creall(w[n] * cexpl((long double)k * lg[n]));
        K[k] = (double)s;
    }
    free(w);
    free(lg);
}

/* ------------------------------------------------------------------------- */
/* 3. The convolutional view                                                 */
/* ------------------------------------------------------------------------- */

double conv_step(const double *K, const double *x, int k, double D)
{
    double s = D * x[k];
    for (int j = 0; j <= k; j++) s += K[k - j] * x[j];   /* (3.4) (K̄ ∗ x)_k */
    return s;
}

void conv_causal_direct(const double *K, const double *x, int L, double D, double *y)
{
    static const char fn[] = "conv_causal_direct";
    need_size(fn, "L", L);
    need_ptr(fn, "K", K); need_ptr(fn, "x", x); need_ptr(fn, "y", y);
    for (int k = 0; k < L; k++) y[k] = conv_step(K, x, k, D);
}

int conv_fft_size(int L)
{
    need_size("conv_fft_size", "L", L);
    if (L > (1 << 29)) die(EXIT_BAD_INPUT, "conv_fft_size: L = %d is too long (max 2^29)", L);
    int n = 1;
    while (n < 2 * L - 1) n *= 2;                /* no wrap-around: n ≥ 2L − 1 */
    return n;
}

/* A pair of FFTW plans for real transforms of size n: forward r2c (n reals →
 * n/2+1 complex) and inverse c2r. Made on fftw_malloc'ed arrays, so they can be
 * executed on any other fftw_malloc'ed arrays (fftw_execute_dft_*: thread-safe). */
typedef struct { int n; fftw_plan fwd, inv; } fft_pair;

/* FFTW's planner is not thread-safe: every plan is made or destroyed inside this
 * one named critical section. */
static fft_pair fft_pair_make(int n)
{
    fft_pair p = {n, NULL, NULL};
    double *r = fftw_malloc((size_t)n * sizeof *r);
    fftw_complex *c = fftw_malloc(((size_t)n / 2 + 1) * sizeof *c);
    if (!r || !c) die(EXIT_BAD_INPUT, "conv_causal_fft: out of memory for n = %d", n);
#pragma omp critical(recconv_fftw_planner)
    {
        p.fwd = fftw_plan_dft_r2c_1d(n, r, c, FFTW_ESTIMATE);
        p.inv = fftw_plan_dft_c2r_1d(n, c, r, FFTW_ESTIMATE);
    }
    fftw_free(r);
    fftw_free(c);
    if (!p.fwd || !p.inv) die(EXIT_BAD_INPUT, "conv_causal_fft: FFTW could not plan n = %d", n);
    return p;
}

static void fft_pair_destroy(fft_pair *p)
{
#pragma omp critical(recconv_fftw_planner)
    {
        if (p->fwd) fftw_destroy_plan(p->fwd);
        if (p->inv) fftw_destroy_plan(p->inv);
    }
    p->fwd = p->inv = NULL;
}

/* The cache: conv_causal_fft only uses powers of two, so one slot per log2(n). */
#define FFT_CACHE_SLOTS 32
static fft_pair fft_cache[FFT_CACHE_SLOTS];

static const fft_pair *fft_cached(int n)
{
    int s = 0;
    while ((1 << s) < n) s++;
    const fft_pair *p = NULL;
#pragma omp critical(recconv_fft_cache)
    {
        if (!fft_cache[s].fwd) fft_cache[s] = fft_pair_make(n);
        p = &fft_cache[s];
    }
    return p;
}

void conv_fft_cache_clear(void)
{
    for (int s = 0; s < FFT_CACHE_SLOTS; s++)
        if (fft_cache[s].fwd) fft_pair_destroy(&fft_cache[s]);
}

/* Work arrays for one transform size n: the padded real signal and two spectra. */
typedef struct { double *r; fftw_complex *Kf, *Xf; } fft_work;

static fft_work fft_work_alloc(int n)
{
    fft_work w = {fftw_malloc((size_t)n * sizeof(double)),
                  fftw_malloc(((size_t)n / 2 + 1) * sizeof(fftw_complex)),
                  fftw_malloc(((size_t)n / 2 + 1) * sizeof(fftw_complex))};
    if (!w.r || !w.Kf || !w.Xf) die(EXIT_BAD_INPUT, "conv_causal_fft: out of memory for n = %d", n);
    return w;
}

static void fft_work_free(fft_work *w)
{
    fftw_free(w->r);
    fftw_free(w->Kf);
    fftw_free(w->Xf);
}

/* (3.6) with the plans p of size n and work arrays w of that size: pad K̄ and x with
 * zeros to n, multiply the spectra, transform back, keep [0, L), add D x. Several
 * threads may share p, each with its own w. */
static void conv_fft_with(const fft_pair *p, fft_work *w, const double *K, const double *x,
                          int L, double D, double *y)
{
    /* LAB 3.3 BEGIN: The causal convolution by FFT, with its padding (3.6) */
    const int n = p->n, nc = n / 2 + 1;
    double *r = w->r;
    memcpy(r, K, (size_t)L * sizeof *r);
    memset(r + L, 0, (size_t)(n - L) * sizeof *r);            /* K̄ padded with zeros */
    fftw_execute_dft_r2c(p->fwd, r, w->Kf);
    memcpy(r, x, (size_t)L * sizeof *r);
    memset(r + L, 0, (size_t)(n - L) * sizeof *r);            /* x padded with zeros */
    fftw_execute_dft_r2c(p->fwd, r, w->Xf);
    /* fftw_complex is C99's double complex here: <complex.h> comes before <fftw3.h>. */
    for (int f = 0; f < nc; f++) w->Xf[f] *= w->Kf[f];        /* spectra multiply */
    fftw_execute_dft_c2r(p->inv, w->Xf, r);                   /* FFTW: unnormalized */
    const double scale = 1.0 / n;
    for (int k = 0; k < L; k++) y[k] = r[k] * scale + D * x[k];
    /* LAB END */
}

void conv_causal_fft(const double *K, const double *x, int L, double D, double *y)
{
    static const char fn[] = "conv_causal_fft";
    need_size(fn, "L", L);
    need_ptr(fn, "K", K); need_ptr(fn, "x", x); need_ptr(fn, "y", y);
    const int n = conv_fft_size(L);
    fft_work w = fft_work_alloc(n);
    conv_fft_with(fft_cached(n), &w, K, x, L, D, y);
    fft_work_free(&w);
}

void conv_fft_padded(const double *K, const double *x, int L, int n, double D, double *y)
{
    static const char fn[] = "conv_fft_padded";
    need_size(fn, "L", L);
    need_ptr(fn, "K", K); need_ptr(fn, "x", x); need_ptr(fn, "y", y);
    if (n < L) die(EXIT_BAD_INPUT, "%s: FFT size n must be >= L = %d, got %d", fn, L, n);
    fft_pair p = fft_pair_make(n);
    fft_work w = fft_work_alloc(n);
    conv_fft_with(&p, &w, K, x, L, D, y);
    fft_work_free(&w);
    fft_pair_destroy(&p);
}

/* ------------------------------------------------------------------------- */
/* 4. Many channels                                                          */
/* ------------------------------------------------------------------------- */

static void need_multi(const char *fn, int H, int N, int L)
{
    need_size(fn, "H", H);
    need_size(fn, "N", N);
    need_size(fn, "L", L);
}

void ssm_recurrence_dense_multi(int H, int N, const double *Abar, const double *Bbar,
                                const double *C, const double *D, const double *x,
                                int L, double *y)
{
    need_multi("ssm_recurrence_dense_multi", H, N, L);
    need_ptr("ssm_recurrence_dense_multi", "D", D);
    const size_t NN = (size_t)N * (size_t)N;
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < H; c++)
        ssm_recurrence_dense(N, Abar + c * NN, Bbar + (size_t)c * N, C + (size_t)c * N,
                             D[c], NULL, x + (size_t)c * L, L, y + (size_t)c * L);
}

void ssm_recurrence_diag_multi(int H, int N, const double complex *Abar,
                               const double complex *Bbar, const double complex *C,
                               const double *D, const double *x, int L, double *y)
{
    need_multi("ssm_recurrence_diag_multi", H, N, L);
    need_ptr("ssm_recurrence_diag_multi", "D", D);
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < H; c++)
        ssm_recurrence_diag(N, Abar + (size_t)c * N, Bbar + (size_t)c * N,
                            C + (size_t)c * N, D[c], x + (size_t)c * L, L,
                            y + (size_t)c * L);
}

void ssm_kernel_dense_multi(int H, int N, const double *Abar, const double *Bbar,
                            const double *C, int L, double *K)
{
    need_multi("ssm_kernel_dense_multi", H, N, L);
    const size_t NN = (size_t)N * (size_t)N;
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < H; c++)
        ssm_kernel_dense(N, Abar + c * NN, Bbar + (size_t)c * N, C + (size_t)c * N, L,
                         K + (size_t)c * L);
}

void ssm_kernel_diag_multi(int H, int N, const double complex *Abar,
                           const double complex *Bbar, const double complex *C, int L,
                           double *K)
{
    need_multi("ssm_kernel_diag_multi", H, N, L);
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < H; c++)
        ssm_kernel_diag(N, Abar + (size_t)c * N, Bbar + (size_t)c * N, C + (size_t)c * N,
                        L, K + (size_t)c * L);
}

void conv_causal_direct_multi(int H, const double *K, const double *x, int L,
                              const double *D, double *y)
{
    need_multi("conv_causal_direct_multi", H, 1, L);
    need_ptr("conv_causal_direct_multi", "D", D);
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < H; c++)
        conv_causal_direct(K + (size_t)c * L, x + (size_t)c * L, L, D[c],
                           y + (size_t)c * L);
}

void conv_causal_fft_multi(int H, const double *K, const double *x, int L,
                           const double *D, double *y)
{
    need_multi("conv_causal_fft_multi", H, 1, L);
    need_ptr("conv_causal_fft_multi", "D", D);
    const int n = conv_fft_size(L);
    const fft_pair *p = fft_cached(n);            /* planned once, before the threads */
#pragma omp parallel
    {
        fft_work w = fft_work_alloc(n);           /* work arrays once per thread */
#pragma omp for schedule(dynamic)
        for (int c = 0; c < H; c++)
            conv_fft_with(p, &w, K + (size_t)c * L, x + (size_t)c * L, L, D[c],
                          y + (size_t)c * L);
        fft_work_free(&w);
    }
}

/* ------------------------------------------------------------------------- */
/* 5. Autoregressive generation                                              */
/* ------------------------------------------------------------------------- */

double gen_feedback(double y) { return tanh(y); }

void generate_recurrent_diag(int N, const double complex *Abar,
                             const double complex *Bbar, const double complex *C,
                             double D, double x0, int L, double *x, double *y)
{
    static const char fn[] = "generate_recurrent_diag";
    need_size(fn, "N", N);
    need_size(fn, "L", L);
    need_ptr(fn, "x", x); need_ptr(fn, "y", y);
    double complex *h = xcalloc((size_t)N, sizeof *h);   /* the only memory: O(N) */
    x[0] = x0;
    for (int k = 0; k < L; k++) {
        y[k] = ssm_step_diag(N, Abar, Bbar, C, D, h, x[k]);  /* (3.7) O(N) per token */
        if (k + 1 < L) x[k + 1] = gen_feedback(y[k]);
    }
    free(h);
}

void generate_conv(const double *K, double D, double x0, int L, double *x, double *y)
{
    static const char fn[] = "generate_conv";
    need_size(fn, "L", L);
    need_ptr(fn, "K", K); need_ptr(fn, "x", x); need_ptr(fn, "y", y);
    x[0] = x0;
    for (int k = 0; k < L; k++) {
        y[k] = conv_step(K, x, k, D);                     /* (3.7) O(k) per token */
        if (k + 1 < L) x[k + 1] = gen_feedback(y[k]);
    }
}
