/* 08_xlstm/slstm.h — from the classic LSTM cell to the sLSTM cell of xLSTM, in `real`.
 *
 *   (8.1)  LSTM: c = σ(f̃) c₋₁ + σ(ĩ) tanh(z̃),  h = σ(õ) tanh(c)
 *   (8.2)  sLSTM pre-activations [ĩ f̃ z̃ õ]ₜ = W xₜ + R hₜ₋₁ + b, R block-diagonal: one
 *          dh×dh block per head and gate, so units mix only within their head
 *   (8.3)  iₜ = exp(ĩₜ),  fₜ = exp(f̃ₜ) or σ(f̃ₜ),  zₜ = tanh(z̃ₜ),  oₜ = σ(õₜ)
 *   (8.4)  cₜ = fₜ cₜ₋₁ + iₜ zₜ,  nₜ = fₜ nₜ₋₁ + iₜ,  hₜ = oₜ cₜ / nₜ     (unstabilized)
 *   (8.5)  mₜ = max(log fₜ + mₜ₋₁, ĩₜ),  i′ₜ = exp(ĩₜ − mₜ),  f′ₜ = exp(log fₜ + mₜ₋₁ − mₜ)
 *   (8.6)  c̄ₜ = f′ₜ c̄ₜ₋₁ + i′ₜ zₜ,  n̄ₜ = f′ₜ n̄ₜ₋₁ + i′ₜ,  hₜ = oₜ c̄ₜ / n̄ₜ   (stabilized)
 *
 * (8.6) is (8.4) exactly: by induction c̄ₜ = cₜ e^{−mₜ} and n̄ₜ = nₜ e^{−mₜ} (from zero
 * states, any m₀), so the ratio is unchanged, while i′, f′ ≤ 1 never overflow.
 * States start at c = n = h = 0 and m₀ = −∞, so m₁ = ĩ₁ (the reference kernels do the
 * same: "if n = 0, m = ĩ"). m₀ = 0 would also be exact in real numbers, but a first step
 * with f̃ = +80, ĩ = −80 then gives i′ = e^{−160}, which is 0 in float32: n̄ = 0, h = 0/0. Pre-activation vectors are [ĩ | f̃ | z̃ | õ],
 * 4d values; R is (4, heads, dh, dh) with d = heads · dh. */
#ifndef SLSTM_H
#define SLSTM_H

#include <stddef.h>
#include "common/real.h"

/* (8.1) one step of the classic LSTM cell for d units: pre (4d) → c, h (d). */
void lstm_cell(int d, const real *pre, const real *c_prev, real *c, real *h);

typedef struct {
    int d, n_heads;     /* d = n_heads · dh */
    int exp_forget;     /* 1: fₜ = exp(f̃ₜ); 0: fₜ = σ(f̃ₜ) */
} slstm_cfg;

/* Exit 2 naming the field if d or n_heads are invalid. */
void slstm_check(const slstm_cfg *c);

/* (8.2) pre = wx + R h_prev, wx = W x + b already computed (4d). */
void slstm_preact(const slstm_cfg *c, const real *wx, const real *R, const real *h_prev,
                  real *pre);
/* (8.3)+(8.4) one unstabilized step on the true states c, n. */
void slstm_step_unstabilized(const slstm_cfg *c, const real *pre, real *cs, real *ns, real *h);
/* (8.3)+(8.5)+(8.6) one stabilized step on c̄, n̄, m. */
void slstm_step(const slstm_cfg *c, const real *pre, real *cs, real *ns, real *ms, real *h);

/* A whole sequence: wx (L, 4d) → h (L, d). With stabilized = 1 the cache (size
 * slstm_cache_size) keeps what the backward needs: pre (L, 4d), c̄, n̄, m (L, d each);
 * cache may be NULL. */
size_t slstm_cache_size(const slstm_cfg *c, int L);
void slstm_forward(const slstm_cfg *c, int L, const real *wx, const real *R, int stabilized,
                   real *h, real *cache);
/* Backpropagation through time of the stabilized forward. dh (L, d) → dwx (L, 4d) and
 * dR, both ACCUMULATED. m is held fixed: hₜ does not depend on it (it cancels in c̄/n̄),
 * so the gradient is exact. */
void slstm_backward(const slstm_cfg *c, int L, const real *R, const real *h, const real *cache,
                    const real *dh, real *dwx, real *dR);

#endif
