/* 08_xlstm/mlstm.h — the mLSTM cell (matrix memory) of xLSTM, in three forms, in `real`.
 *
 * One head, one sequence. With log fₜ = log σ(f̃ₜ) and iₜ = exp(ĩₜ):
 *
 *   (8.7)  Cₜ = fₜ Cₜ₋₁ + iₜ vₜ kₜᵀ      nₜ = fₜ nₜ₋₁ + iₜ kₜ      C₀ = 0, n₀ = 0
 *          h̃ₜ = Cₜ qₜ / max(|nₜᵀ qₜ|, 1)          (the block multiplies by its output gate)
 *
 * and three ways to compute exactly the same h̃ (they differ only in rounding):
 *
 *   (8.8)  recurrent: the stabilized states C̄ = C e^{−m}, n̄ = n e^{−m}, m as sLSTM's (8.5);
 *          h̃ₜ = C̄ₜ qₜ / max(|n̄ₜᵀ qₜ|, e^{−mₜ}).  O(L d²) work, O(d²) memory.
 *   (8.9)  parallel: Fₜ = Σ_{j≤t} log fⱼ,  D̃ₜₛ = Fₜ − Fₛ + ĩₛ (s ≤ t),  mₜ = maxₛ D̃ₜₛ,
 *          h̃ₜ = Σₛ e^{D̃ₜₛ−mₜ}(qₜ·kₛ) vₛ / max(|Σₛ e^{D̃ₜₛ−mₜ} qₜ·kₛ|, e^{−mₜ}):
 *          masked attention with the decay matrix D in place of softmax. O(L² d).
 *   (8.10) chunkwise: chunks of c steps; inside a chunk the parallel form, plus the state
 *   (8.11) (C̄, n̄, m) carried from chunk to chunk by the recurrence. O(L c d + L d²).
 *
 * Shapes: q, k (L rows of d_qk), v and h̃ (L rows of d_v), every row `ld` apart (so a head
 * can be a column slice of a token-major (T, heads·d) matrix); ĩ, f̃ one value per step,
 * `ldg` apart. The caller scales k by 1/√d_qk (the paper puts the scale in kₜ). */
#ifndef MLSTM_H
#define MLSTM_H

#include "common/real.h"

typedef struct {
    int L, d_qk, d_v;
    int ld, ldg;                 /* row strides of q, k, v, h and of ĩ, f̃ */
    const real *q, *k, *v;
    const real *ig, *fg;         /* pre-activations ĩ, f̃ */
} mlstm_args;

/* Gradients, each ACCUMULATED (+=), same strides as the inputs; any may be NULL. */
typedef struct {
    real *dq, *dk, *dv, *dig, *dfg;
} mlstm_grads;

/* log σ(x) without overflow for any x. */
real log_sigmoid(real x);

void mlstm_recurrent(const mlstm_args *a, real *h);               /* (8.8) */
void mlstm_parallel(const mlstm_args *a, real *h);                /* (8.9) */
void mlstm_chunkwise(const mlstm_args *a, int chunk, real *h);    /* (8.10), (8.11) */

/* Backward of the parallel form (8.9) given dh (same layout as h). The stabilizer m is
 * held fixed: h̃ does not depend on it (it cancels exactly), so this is the exact
 * gradient. O(L² d) work and an L×L scratch. */
void mlstm_parallel_backward(const mlstm_args *a, const real *dh, mlstm_grads *g);

/* (8.15)–(8.17) backward of the chunkwise form: the same gradients in O(L c d + L d²) work,
 * through the forward state before each chunk and a reverse state after it (mlstm.c). The
 * structure the GPU backward (gpu/xlstm_gpu.cu) runs chunk by chunk. */
void mlstm_chunkwise_backward(const mlstm_args *a, int chunk, const real *dh, mlstm_grads *g);

#endif
