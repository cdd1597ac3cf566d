/* 05_selective_s6/s6.h — the selective scan (S6) of the Mamba paper, on the CPU.
 *
 * Semantics are exactly those of `selective_scan_ref` in state-spaces/mamba
 * (mamba_ssm/ops/selective_scan_interface.py), for one group of B/C:
 *
 *   (5.1)  Δ_t   = softplus(δ_t + δ_bias)          if delta_softplus, else δ_t (+ δ_bias)
 *   (5.2)  Ā_t   = exp(Δ_t · A)                    per channel d and state n (A diagonal)
 *   (5.3)  B̄_t u_t = Δ_t · B_t · u_t               ("Euler" B̄, as the reference)
 *          or  (e^{Δ_t A} − 1)/A · B_t · u_t       (exact zero-order hold, bbar_zoh = 1)
 *   (5.4)  h_t   = Ā_t ⊙ h_{t−1} + B̄_t u_t
 *   (5.5)  y_t   = C_t · h_t + D · u_t
 *   (5.6)  out_t = y_t · SiLU(z_t)                 if z is given
 *
 * Shapes (all row-major, `real` = float by default, double with REAL_F64):
 *   u, delta, z, out    (batch, D, L)      D = channels ("d_inner" in the block)
 *   A                   (D, N)             A = −exp(A_log): negative real
 *   B, C                (batch, N, L) if B_varying / C_varying (selective), else (D, N)
 *   Dskip, delta_bias   (D) or NULL
 *   h0, h_last          (batch, D, N) or NULL (zero initial state / not wanted)
 * Pointers to optional inputs may be NULL; the scalar flags default to the reference
 * behaviour when the struct is zero-initialised. */
#ifndef S6_H
#define S6_H

#include "common/real.h"

typedef struct {
    int batch, D, L, N;
    const real *u, *delta;      /* (batch, D, L) */
    const real *A;              /* (D, N) */
    const real *B, *C;          /* (batch, N, L) if *_varying else (D, N) */
    int B_varying, C_varying;
    const real *Dskip, *z, *delta_bias;   /* (D), (batch, D, L), (D); each may be NULL */
    int delta_softplus;
    const real *h0;             /* (batch, D, N) or NULL */
    int bbar_zoh;               /* 0: B̄ = ΔB (reference); 1: exact ZOH B̄ = (e^{ΔA}−1)/A·B */
} s6_args;

/* Gradients of a scalar loss with respect to each input. Every pointer may be NULL
 * (not wanted). As everywhere in this project (common/nn.h), the backward ACCUMULATES
 * (+=) into each gradient: zero them first. Shapes match the inputs; dA is with respect
 * to A (a caller holding A_log multiplies by A: dA_log = dA ⊙ A). */
typedef struct {
    real *du, *ddelta, *dA, *dB, *dC, *dDskip, *dz, *ddelta_bias, *dh0;
} s6_grads;

/* Validate sizes and required pointers; exits 2 with one line naming the problem. */
void s6_check_args(const s6_args *a);

/* Δ after bias and softplus, (5.1): what the scan actually uses as the step. */
real s6_dt(const s6_args *a, int d, real delta_raw);

/* Sequential scan (5.1)–(5.6): one pass over t per (batch, channel), state in
 * registers; OpenMP-parallel over channels. out (batch, D, L); h_last may be NULL. */
void s6_scan_forward(const s6_args *a, real *out, real *h_last);

/* The same result through a parallel associative scan over time: the pairs
 * (Ā_t, B̄_t u_t) combine as (a₂, b₂) ∘ (a₁, b₁) = (a₂a₁, a₂b₁ + b₂), a Blelloch
 * up-sweep / down-sweep of O(L) work and O(log L) depth, OpenMP-parallel within each
 * level. Equal to s6_scan_forward within rounding (a different summation order). */
void s6_scan_forward_parallel(const s6_args *a, real *out, real *h_last);

/* Backward of the scan for an upstream gradient dout (batch, D, L) and, optionally,
 * dh_last (batch, D, N): recomputes the states forward, then runs the reverse scan for
 * the state adjoint  dh_{t−1} = Ā_t ⊙ (dh_t + C_t dy_t). */
void s6_scan_backward(const s6_args *a, const real *dout, const real *dh_last, s6_grads *g);

/* The (a, b) pair combination of the parallel scan (exposed for the tests and
 * the CUDA stage): returns (a2·a1, a2·b1 + b2) through *a_out, *b_out. */
static inline void s6_combine(real a1, real b1, real a2, real b2, real *a_out, real *b_out)
{
    *a_out = a2 * a1;
    *b_out = a2 * b1 + b2;
}

/* The Blelloch scan itself, over n pairs in place (n need not be a power of two):
 * on return (a[t], b[t]) = (a_t ⋯ a_0, the state h_t with h_{−1} = 0). Scratch
 * of 2·pow2ceil(n) reals is allocated inside. Exposed for tests and the bench. */
void s6_blelloch_scan(int n, real *a, real *b);

/* y[i] = e^{x[i]} for i < n, as the scans compute it (float: range reduction + polynomial
 * in a vector loop, relative error below 2^-22; float64 build: exp). y may equal x.
 * Exposed for its test and the benchmark. */
void s6_exp_n(int n, const real *x, real *y);

#endif
