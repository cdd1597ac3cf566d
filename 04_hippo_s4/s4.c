/* 04_hippo_s4/s4.c — the S4 kernel and S4D (chapter §4.2–§4.3). */
#include "04_hippo_s4/s4.h"

#include <cblas.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "03_recurrent_conv/recconv.h"
#include "04_hippo_s4/hippo.h"
#include "common/rng.h"
#include "common/util.h"

int herm_eig_jacobi(int n, double complex *H, double *w, double complex *V)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) V[i * n + j] = i == j;
    int sweep;
    for (sweep = 1; sweep <= 60; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double a2 = creal(H[i * n + j]) * creal(H[i * n + j]) +
                            cimag(H[i * n + j]) * cimag(H[i * n + j]);
                if (i == j) diag += a2; else off += a2;
            }
        if (off <= 1e-30 * (diag + off) || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double complex hpq = H[p * n + q];
                double r = cabs(hpq);
                if (r == 0) continue;
                /* J = diag(1, e^{-iφ}) · [[c, s], [-s, c]] makes (JᴴHJ)_pq = 0: the phase
                 * turns h_pq real, then a real Jacobi rotation (tan 2θ = 2r/(h_qq - h_pp)). */
                double complex e = conj(hpq) / r; /* e^{-iφ} */
                double tau = (creal(H[q * n + q]) - creal(H[p * n + p])) / (2 * r);
                double t = (tau >= 0 ? 1.0 : -1.0) / (fabs(tau) + sqrt(1 + tau * tau));
                double c = 1 / sqrt(1 + t * t), s = t * c;
                for (int k = 0; k < n; k++) { /* columns: H ← H J */
                    double complex hp = H[k * n + p], hq = H[k * n + q];
                    H[k * n + p] = c * hp - s * e * hq;
                    H[k * n + q] = s * hp + c * e * hq;
                    double complex vp = V[k * n + p], vq = V[k * n + q];
                    V[k * n + p] = c * vp - s * e * vq;
                    V[k * n + q] = s * vp + c * e * vq;
                }
                for (int k = 0; k < n; k++) { /* rows: H ← Jᴴ H */
                    double complex hp = H[p * n + k], hq = H[q * n + k];
                    H[p * n + k] = c * hp - s * conj(e) * hq;
                    H[q * n + k] = s * hp + c * conj(e) * hq;
                }
                H[p * n + q] = H[q * n + p] = 0;
            }
    }
    /* sort ascending (selection sort swaps eigenvector columns too) */
    for (int i = 0; i < n; i++) w[i] = creal(H[i * n + i]);
    for (int i = 0; i < n; i++) {
        int m = i;
        for (int j = i + 1; j < n; j++) if (w[j] < w[m]) m = j;
        if (m == i) continue;
        double tw = w[i]; w[i] = w[m]; w[m] = tw;
        for (int k = 0; k < n; k++) {
            double complex tv = V[k * n + i]; V[k * n + i] = V[k * n + m]; V[k * n + m] = tv;
        }
    }
    return sweep <= 60 ? sweep : -1;
}

void nplr_legs(int N, double complex *Lambda, double complex *V, double *P,
               double complex *Ptil, double complex *Btil)
{
    double *A = xmalloc_f64((size_t)N * N), *B = xmalloc_f64(N), *Pr = xmalloc_f64(N);
    double complex *H = xmalloc((size_t)N * N * sizeof *H), *Vm = xmalloc((size_t)N * N * sizeof *Vm);
    double *w = xmalloc_f64(N);
    hippo_legs(N, A, B);
    for (int n = 0; n < N; n++) Pr[n] = sqrt(n + 0.5);
    /* (4.6) S = A_ssm + P Pᵀ + ½ I with A_ssm = -A_LegS: skew-symmetric; H = iS Hermitian */
    for (int n = 0; n < N; n++)
        for (int k = 0; k < N; k++) {
            double s = -A[n * N + k] + Pr[n] * Pr[k] + (n == k ? 0.5 : 0.0);
            H[n * N + k] = I * s;
        }
    if (herm_eig_jacobi(N, H, w, Vm) < 0) die(1, "nplr_legs: Jacobi did not converge (N=%d)", N);
    for (int n = 0; n < N; n++) Lambda[n] = -0.5 - I * w[n]; /* iS = V w Vᴴ ⇒ S = V(-iw)Vᴴ */
    for (int k = 0; k < N; k++) { /* P̃ = Vᴴ P, B̃ = Vᴴ B */
        double complex sp = 0, sb = 0;
        for (int n = 0; n < N; n++) {
            sp += conj(Vm[n * N + k]) * Pr[n];
            sb += conj(Vm[n * N + k]) * B[n];
        }
        if (Ptil) Ptil[k] = sp;
        if (Btil) Btil[k] = sb;
    }
    if (V) memcpy(V, Vm, (size_t)N * N * sizeof *V);
    if (P) memcpy(P, Pr, N * sizeof *P);
    free(A); free(B); free(Pr); free(H); free(Vm); free(w);
}

double nplr_reconstruct(int N, const double complex *Lambda, const double complex *V,
                        const double complex *Ptil, const double complex *Qtil, double *A)
{
    double im = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double complex s = 0; /* Σ_k V_ik (Λ_k δ_kl - P̃_k conj Q̃_l) conj V_jl */
            double complex vq = 0;
            for (int l = 0; l < N; l++) vq += conj(Qtil[l]) * conj(V[j * N + l]);
            for (int k = 0; k < N; k++)
                s += V[i * N + k] * (Lambda[k] * conj(V[j * N + k]) - Ptil[k] * vq);
            A[i * N + j] = creal(s);
            if (fabs(cimag(s)) > im) im = fabs(cimag(s));
        }
    return im;
}

void s4_ctilde(int N, const double *A, const double *C, const double complex *V, double dt,
               int L, double complex *Ctil)
{
    double *Ab = xmalloc_f64((size_t)N * N), *Bd = xcalloc(N, sizeof(double)), *Bb = xmalloc_f64(N);
    double *Pw = xmalloc_f64((size_t)N * N), *T = xmalloc_f64((size_t)N * N);
    bilinear_dense(N, 1, A, Bd, dt, Ab, Bb);
    /* Ā^L by repeated squaring over the bits of L */
    for (int i = 0; i < N * N; i++) Pw[i] = (i / N == i % N);
    for (int e = L; e > 0; e >>= 1) {
        if (e & 1) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, Pw, N, Ab, N, 0.0, T, N);
            memcpy(Pw, T, (size_t)N * N * sizeof *T);
        }
        if (e > 1) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, Ab, N, Ab, N, 0.0, T, N);
            memcpy(Ab, T, (size_t)N * N * sizeof *T);
        }
    }
    for (int k = 0; k < N; k++) { /* (4.9) C̃ = C (I - Ā^L), then C̃ V */
        double complex s = 0;
        for (int n = 0; n < N; n++) {
            double ct = C[n];
            for (int m = 0; m < N; m++) ct -= C[m] * Pw[m * N + n];
            s += ct * V[n * N + k];
        }
        Ctil[k] = s;
    }
    free(Ab); free(Bd); free(Bb); free(Pw); free(T);
}

/* The kernel is real, and only then is it half of its spectrum (the c2r transform below),
 * when the modes come in conjugate pairs: for each n an m with λ_m = conj λ_n and the
 * numerators (C̃B̃, C̃P̃, Q̃*B̃, Q̃*P̃ — products, so the eigenvectors' phases cancel) conjugate
 * too. A set that is not (a forged vector file, half of a pair dropped) has a complex
 * kernel this function cannot return: exit 2 rather than a wrong real one. Tolerance
 * 1e-6 of each quantity's scale: eigen-decomposed pairs agree to ~1e-12, a broken pair
 * is off by O(1). */
static void require_conjugate_pairs(int N, const double complex *Lambda, const double complex *num[4])
{
    double sl = 0, sn[4] = {0};
    for (int n = 0; n < N; n++) {
        sl = fmax(sl, cabs(Lambda[n]));
        for (int q = 0; q < 4; q++) sn[q] = fmax(sn[q], cabs(num[q][n]));
    }
    for (int n = 0; n < N; n++) {
        int ok = 0;
        for (int m = 0; m < N && !ok; m++) {
            ok = cabs(Lambda[m] - conj(Lambda[n])) <= 1e-6 * sl;
            for (int q = 0; q < 4 && ok; q++) ok = cabs(num[q][m] - conj(num[q][n])) <= 1e-6 * sn[q];
        }
        if (!ok)
            die(EXIT_BAD_INPUT, "s4_kernel: mode %d (lambda = %g%+gi) has no conjugate partner with conjugate "
                "C~B~, C~P~, Q~*B~, Q~*P~: the modes are not closed under conjugation, so the kernel is not real",
                n, creal(Lambda[n]), cimag(Lambda[n]));
    }
}

void s4_kernel(int N, const double complex *Lambda, const double complex *Ptil,
               const double complex *Qtil, const double complex *Btil,
               const double complex *Ctil, double dt, int L, double *K)
{
    int nk = L / 2 + 1; /* K is real: its generating function at conj z is the conjugate */
    double complex *Kh = fftw_malloc(nk * sizeof *Kh);
    double *out = fftw_malloc(L * sizeof *out);
    /* the numerators of the four Cauchy kernels k_ab = Σ_n a_n b_n / (g - λ_n) (4.11) */
    double complex *CB = xmalloc(4 * (size_t)N * sizeof *CB), *CP = CB + N, *QB = CP + N, *QP = QB + N;
    for (int n = 0; n < N; n++) {
        CB[n] = Ctil[n] * Btil[n];
        CP[n] = Ctil[n] * Ptil[n];
        QB[n] = conj(Qtil[n]) * Btil[n];
        QP[n] = conj(Qtil[n]) * Ptil[n];
    }
    require_conjugate_pairs(N, Lambda, (const double complex *[4]){CB, CP, QB, QP});
    fftw_plan plan;
#pragma omp critical(recconv_fftw_planner) /* FFTW's planner is not thread-safe (stage 03) */
    plan = fftw_plan_dft_c2r_1d(L, (fftw_complex *)Kh, out, FFTW_ESTIMATE);
    for (int k = 0; k < nk; k++) { /* one thread, as the naive kernel it is timed against */
        double complex z = cexp(-2.0 * M_PI * I * k / L);
        if (2 * k == L) { /* z = -1: [(1-z)I - (dt/2)(1+z)A]⁻¹ dt B = dt B / 2 exactly */
            double complex s = 0;
            for (int n = 0; n < N; n++) s += CB[n];
            Kh[k] = 0.5 * dt * s;
            continue;
        }
        /* LAB 4.2 BEGIN: The S4 kernel at one root of unity: Cauchy kernels and Woodbury (4.10)–(4.12) */
        double complex g = 2.0 / dt * (1.0 - z) / (1.0 + z); /* (4.10) */
        double complex k00 = 0, k01 = 0, k10 = 0, k11 = 0;
        for (int n = 0; n < N; n++) { /* (4.11) one resolvent 1/(g - λ_n), four kernels */
            double complex rn = 1.0 / (g - Lambda[n]);
            k00 += CB[n] * rn;
            k01 += CP[n] * rn;
            k10 += QB[n] * rn;
            k11 += QP[n] * rn;
        }
        Kh[k] = 2.0 / (1.0 + z) * (k00 - k01 * k10 / (1.0 + k11)); /* (4.12) Woodbury */
        /* LAB END */
    }
    fftw_execute(plan); /* out_j = Σ_k K̂_k e^{+2πijk/L} over all L nodes */
    for (int j = 0; j < L; j++) K[j] = out[j] / L;
#pragma omp critical(recconv_fftw_planner)
    fftw_destroy_plan(plan);
    fftw_free(Kh); fftw_free(out); free(CB);
}

const char *const s4d_init_name[S4D_NINIT] = {"legs", "lin", "inv", "real", "random"};

int s4d_init_parse(const char *name)
{
    for (int i = 0; i < S4D_NINIT; i++) if (strcmp(name, s4d_init_name[i]) == 0) return i;
    return -1;
}

void s4d_init(s4d_init_kind kind, int Nh, unsigned long seed, double complex *Lambda)
{
    int N = 2 * Nh;
    if (kind == S4D_LEGS) {
        double complex *Lf = xmalloc(N * sizeof *Lf);
        nplr_legs(N, Lf, NULL, NULL, NULL, NULL);
        /* w ascending ⇒ Im Λ = -w descending; the first Nh have Im > 0. List them by
         * increasing frequency. */
        for (int n = 0; n < Nh; n++) Lambda[n] = Lf[Nh - 1 - n];
        free(Lf);
        return;
    }
    rng_t r;
    rng_seed(&r, seed);
    for (int n = 0; n < Nh; n++) {
        switch (kind) { /* (4.13) */
        case S4D_LIN: Lambda[n] = -0.5 + I * M_PI * n; break;
        case S4D_INV: Lambda[n] = -0.5 + I * (N / M_PI) * (N / (2.0 * n + 1.0) - 1.0); break;
        case S4D_REAL: Lambda[n] = -(n + 1.0); break;
        default: {
            double re = -exp(rng_normal(&r));
            Lambda[n] = re + I * rng_normal(&r);
        }
        }
    }
}

void s4d_kernel(int Nh, const double complex *Lambda, const double complex *B,
                const double complex *C, double dt, s4d_disc disc, int L, double *K)
{
    double complex *Ab = xmalloc(Nh * sizeof *Ab), *Bb = xmalloc(Nh * sizeof *Bb);
    double complex *C2 = xmalloc(Nh * sizeof *C2);
    if (disc == DISC_ZOH) zoh_diag(Nh, Lambda, B, dt, Ab, Bb);
    else bilinear_diag(Nh, Lambda, B, dt, Ab, Bb);
    for (int n = 0; n < Nh; n++) C2[n] = 2.0 * C[n]; /* (4.14) the conjugate pairs */
    ssm_kernel_diag(Nh, Ab, Bb, C2, L, K);
    free(Ab); free(Bb); free(C2);
}

/* ---- the LegS NPLR bundled with the matrices it factors (see s4.h) ---- */

legs_nplr nplr_make(int N)
{
    legs_nplr s = {N, xmalloc(N * sizeof(double complex)), xmalloc((size_t)N * N * sizeof(double complex)),
                   xmalloc(N * sizeof(double complex)), xmalloc(N * sizeof(double complex)),
                   xmalloc_f64(N), xmalloc_f64((size_t)N * N), xmalloc_f64(N)};
    nplr_legs(N, s.Lambda, s.V, s.P, s.Ptil, s.Btil);
    hippo_legs(N, s.A, s.B);
    for (int i = 0; i < N * N; i++) s.A[i] = -s.A[i]; /* the SSM matrix is -A_LegS */
    return s;
}

void nplr_free(legs_nplr *s)
{
    free(s->Lambda); free(s->V); free(s->Ptil); free(s->Btil); free(s->P); free(s->A); free(s->B);
}
