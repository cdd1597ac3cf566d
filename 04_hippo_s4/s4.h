/* 04_hippo_s4/s4.h — the S4 kernel (normal plus low rank, Cauchy, Woodbury) and the
 * diagonal S4D kernels and initializations (chapter §4.2–§4.3). double / double complex. */
#ifndef HIPPO_S4_S4_H
#define HIPPO_S4_S4_H

#include <complex.h>

/* Eigen-decomposition of a Hermitian n×n matrix H (row-major, overwritten) by cyclic
 * complex Jacobi rotations: H = V diag(w) Vᴴ, w ascending, V unitary with the
 * eigenvectors as columns (V[i*n + j] = component i of vector j). Returns the number
 * of sweeps, or -1 if it did not converge in 60 sweeps. */
int herm_eig_jacobi(int n, double complex *H, double *w, double complex *V);

/* (4.7) The NPLR form of HiPPO-LegS. With the SSM matrix A = -A_LegS and P_n = √(n+½),
 *     A + P Pᵀ = -½ I + S,  S skew-symmetric  (the normal part),
 * and iS is Hermitian, so S = V diag(-i w) Vᴴ (herm_eig_jacobi on iS) and
 *     A = V (Λ - P̃ P̃ᴴ) Vᴴ,  Λ = -½ - i w,  P̃ = Vᴴ P,  B̃ = Vᴴ B.
 * Outputs: Lambda (N), V (N×N unitary), P (N, real), Ptil, Btil (N). Any may be NULL
 * except Lambda. */
void nplr_legs(int N, double complex *Lambda, double complex *V, double *P,
               double complex *Ptil, double complex *Btil);

/* The NPLR of LegS with the SSM matrix it factors: A = -A_LegS (N×N), B = B_LegS (N),
 * and nplr_legs' Lambda, V, P, Ptil, Btil. nplr_make allocates and fills, nplr_free frees. */
typedef struct {
    int N;
    double complex *Lambda, *V, *Ptil, *Btil;
    double *P, *A, *B;
} legs_nplr;
legs_nplr nplr_make(int N);
void nplr_free(legs_nplr *s);

/* Rebuild A = V (Λ - P̃ Q̃ᴴ) Vᴴ (real part; the imaginary part is the rounding error
 * returned as max |Im|). A is N×N real. */
double nplr_reconstruct(int N, const double complex *Lambda, const double complex *V,
                        const double complex *Ptil, const double complex *Qtil, double *A);

/* (4.9) C̃ = C (I - Ā^L) for the bilinear Ā of the real N×N matrix A with step dt
 * (stage 02's bilinear_dense; Ā^L by repeated squaring), returned in the eigenbasis:
 * Ctil = C̃ V (N complex). In S4, C̃ is the trained parameter; this converts a C. */
void s4_ctilde(int N, const double *A, const double *C, const double complex *V, double dt,
               int L, double complex *Ctil);

/* (4.8)–(4.12) The S4 kernel K (L reals) of the bilinear discretization (step dt) of
 *     A = Λ - P̃ Q̃ᴴ,  B = B̃,  C = C̃ (already C(I - Ā^L)):
 * the truncated generating function Σ_{j<L} K_j z^j at the roots of unity
 * z_k = e^{-2πik/L} is  2/(1+z) [k_CB - k_CP k_QB / (1 + k_QP)],  g(z) = (2/dt)(1-z)/(1+z),
 * with four Cauchy kernels (4.11) k_ab(g) = Σ_n a_n b_n / (g - λ_n), a ∈ {C̃, conj Q̃},
 * b ∈ {B̃, P̃}, sharing one resolvent 1/(g - λ_n); then an inverse FFT (FFTW, c2r: K is real).
 * The system must be real, i.e. its modes come in conjugate pairs (as the NPLR of a real A
 * does): only the nodes k ≤ L/2 are evaluated, the others are their conjugates. Modes
 * not closed under conjugation (their kernel is complex) exit 2 with one line. */
void s4_kernel(int N, const double complex *Lambda, const double complex *Ptil,
               const double complex *Qtil, const double complex *Btil,
               const double complex *Ctil, double dt, int L, double *K);

/* ---- S4D: diagonal state matrices (chapter §4.3) ----
 * An S4D channel has Nh complex modes; each stands for a conjugate pair, so the kernel is
 *     (4.14)  K_j = 2 Re Σ_n C_n B̄_n Ā_n^j
 * computed by stage 03's Vandermonde ssm_kernel_diag with 2C, after stage 02's
 * zoh_diag (Ā = e^{Δλ}, B̄ = (e^{Δλ}-1)/λ B) or bilinear_diag. */
typedef enum { S4D_LEGS, S4D_LIN, S4D_INV, S4D_REAL, S4D_RANDOM, S4D_NINIT } s4d_init_kind;
extern const char *const s4d_init_name[S4D_NINIT];   /* "legs", "lin", "inv", "real", "random" */
int s4d_init_parse(const char *name);                 /* index, or -1 */

/* (4.13) Nh eigenvalues of an init:
 *   legs   the diagonal part Λ of the NPLR of LegS with N = 2Nh (the Im > 0 half)
 *   lin    -½ + iπn          inv   -½ + i (2Nh/π)(2Nh/(2n+1) - 1)
 *   real   -(n+1)            random  -exp(N(0,1)) + i N(0,1) (seeded by `seed`) */
void s4d_init(s4d_init_kind kind, int Nh, unsigned long seed, double complex *Lambda);

typedef enum { DISC_ZOH, DISC_BILINEAR } s4d_disc;
void s4d_kernel(int Nh, const double complex *Lambda, const double complex *B,
                const double complex *C, double dt, s4d_disc disc, int L, double *K);

#endif
