/* 04_hippo_s4/hippo.h — HiPPO: memory as online function approximation (chapter §4.1).
 *
 * The HiPPO operators project the history of a signal f onto N Legendre polynomials and
 * keep the N coefficients c(t) up to date with a linear ODE
 *     (4.1)  LegS:  c'(t) = -(1/t) A c(t) + (1/t) B f(t)     (uniform measure on [0, t])
 *     (4.2)  LegT:  c'(t) = -(1/θ) A c(t) + (1/θ) B f(t)     (uniform on [t-θ, t])
 * so f(s) ≈ Σ_n c_n(t) √(2n+1) P_n(x(s)), x mapping the window onto [-1, 1].
 * Matrices are row-major double, N×N; B has N entries. */
#ifndef HIPPO_S4_HIPPO_H
#define HIPPO_S4_HIPPO_H

/* (4.3) HiPPO-LegS: A_nk = √(2n+1)√(2k+1) (n > k), n+1 (n = k), 0 (n < k); B_n = √(2n+1).
 * This is the matrix of (4.1), with the minus sign outside: the SSM matrix is -A. */
void hippo_legs(int N, double *A, double *B);
/* (4.4) HiPPO-LegT: A_nk = √(2n+1)√(2k+1) · (1 if n ≥ k, (-1)^{n-k} if n < k);
 * B_n = √(2n+1). The ODE is (4.2) with window length θ. */
void hippo_legt(int N, double *A, double *B);

/* Legendre polynomials P_0..P_{N-1} at x (three-term recurrence). */
void legendre_eval(int N, double x, double *P);

/* One step of the discretized LegS ODE (4.5), the bilinear (GBT ½) rule at step k ≥ 2
 * with step 1 and A/k, B/k:  (I + A/2k) c_k = (I - A/2k) c_{k-1} + (B/k) f_k.
 * A is lower triangular, so this is a triangular solve: O(N²) per step. c is in/out. */
void hippo_legs_step(int N, const double *A, const double *B, int k, double f, double *c);

/* Stream samples f[0..L) through the HiPPO ODE; store the coefficients after sample
 * index at[i] (0-based, ascending) into coef[i*N ..]. LegS starts from the exact coefficients of
 * the first sample (c = f_0 e_0) and then uses hippo_legs_step. LegT is LTI: stage
 * 02's bilinear_dense discretizes -A/θ, B/θ with step dt once, then the recurrence. */
void hippo_online_legs(int N, const double *f, int L, int nat, const int *at, double *coef);
void hippo_online_legt(int N, double theta, double dt, const double *f, int L, int nat,
                       const int *at, double *coef);

/* Reconstructions from coefficients c (N): LegS over the whole history, sampled at
 * positions s ∈ [0, t]; LegT over [t-θ, t]. out has M entries. */
void hippo_reconstruct_legs(int N, const double *c, double t, int M, const double *s,
                            double *out);
void hippo_reconstruct_legt(int N, const double *c, double t, double theta, int M,
                            const double *s, double *out);

/* Why S4 does not diagonalize A directly: A_LegS is lower triangular with eigenvalues
 * -(n+1); its eigenvectors (unit first nonzero entry) have entries that grow
 * exponentially in N. Returns max |V_nk| over the eigenvector matrix. */
double hippo_legs_eigvec_max(int N);

#endif
