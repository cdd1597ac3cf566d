/* common/nn.h — the training toolkit of the trainable stages (04 onward): the layers
 * around the SSMs (linear, RMSNorm, LayerNorm), their pointwise maps (SiLU, softplus,
 * GELU), losses (softmax cross-entropy, MSE), and the optimizer side (AdamW, gradient
 * clipping, learning-rate schedules), forward and backward side by side. No SSM math
 * lives here; the finite-difference gradient checker is a test helper (common/testutil.h).
 *
 * Conventions (as llm.c): activations are row-major (T rows of C features);
 * weights use PyTorch's layout, W is (out, in), y = x Wᵀ + b. Every backward
 * ACCUMULATES (+=) into the parameter gradients and into dx, so a caller zeroes
 * gradients once per step and branches that fan out simply add up. */
#ifndef COMMON_NN_H
#define COMMON_NN_H

#include <stddef.h>
#include "common/real.h"
#include "common/rng.h"

/* ---- linear: y (T, out) = x (T, in) Wᵀ + b;  b may be NULL.  Uses CBLAS. ---- */
void linear_forward(real *y, const real *x, const real *W, const real *b,
                    int T, int in, int out);
/* dx += dy W;  dW += dyᵀ x;  db += Σ_t dy.  dx, db may be NULL. */
void linear_backward(real *dx, real *dW, real *db, const real *dy, const real *x,
                     const real *W, int T, int in, int out);

/* ---- RMSNorm: y = x / sqrt(mean(x²) + eps) * w;  rstd (T) saved for backward ---- */
void rmsnorm_forward(real *y, real *rstd, const real *x, const real *w, int T, int C, real eps);
void rmsnorm_backward(real *dx, real *dw, const real *dy, const real *x, const real *w,
                      const real *rstd, int T, int C);

/* ---- LayerNorm: y = (x - mean) * rstd * w + b;  mean, rstd (T) saved ---- */
void layernorm_forward(real *y, real *mean, real *rstd, const real *x, const real *w,
                       const real *b, int T, int C, real eps);
void layernorm_backward(real *dx, real *dw, real *db, const real *dy, const real *x,
                        const real *w, const real *mean, const real *rstd, int T, int C);

/* ---- pointwise ---- */
real silu(real x);                 /* x σ(x) */
real silu_grad(real x);            /* d silu / dx */
real softplus(real x);             /* log(1 + e^x), and x itself for x > 20 (as PyTorch) */
real softplus_grad(real x);        /* σ(x) */
real sigmoid(real x);
real gelu(real x);                 /* tanh approximation */
real gelu_grad(real x);

/* ---- softmax cross-entropy over V classes for T rows ----
 * probs (T, V) is written for the backward. Targets < 0 are ignored (masked).
 * Returns the mean loss over the unmasked rows. */
double softmax_xent_forward(real *probs, const real *logits, const int *targets, int T, int V);
/* dlogits += (probs - onehot) / n_unmasked */
void softmax_xent_backward(real *dlogits, const real *probs, const int *targets, int T, int V);

/* ---- mean squared error: returns mean (y - t)²; backward dy += 2 (y - t) / n ---- */
double mse_forward(const real *y, const real *t, size_t n);
void mse_backward(real *dy, const real *y, const real *t, size_t n);

/* ---- a parameter table: named tensors in one flat buffer (Hugging Face names), so that
 * AdamW, clipping, checkpoints and gradient checks treat a model's tensors uniformly.
 * Stages 05 (mamba_tensor), 07 (mamba2_tensor) and 08 (xlstm_tensor) use this one. ---- */
#define NN_TENSOR_MAX_DIMS 4
typedef struct {
    char name[96];
    int ndim;
    size_t shape[NN_TENSOR_MAX_DIMS];
    size_t offset, size;   /* into the model's params / grads */
    int decay;             /* AdamW weight decay on this tensor (matrices, embeddings) */
} nn_tensor;
/* Append tensor `name` of shape[0..ndim) to the table t[0..*n) (capacity max: exit 2 when
 * full) at offset *n_params, which grows by its size; returns that offset. */
size_t nn_tensor_add(nn_tensor *t, int *n, int max, size_t *n_params, const char *name, int ndim,
                     const size_t *shape, int decay);

/* PyTorch's default initialisation of linear and conv layers: U(−bound, bound), bound =
 * 1/√fan_in. */
void nn_fill_uniform(rng_t *r, real *x, size_t n, double bound);

/* ---- AdamW (Loshchilov & Hutter), bias-corrected; t counts from 1 ---- */
typedef struct { real lr, beta1, beta2, eps, weight_decay; } adamw_cfg;
void adamw_update(real *p, const real *g, real *m, real *v, size_t n, int t,
                  const adamw_cfg *cfg, real lr_scale, int decay);

/* A training run's optimizer settings: AdamW's, the global-norm clip, and the schedule
 * (lr_schedule: `warmup` steps up to lr, cosine down to lr_min at `steps`). */
typedef struct {
    double lr, lr_min, weight_decay, beta1, beta2, clip;
    int warmup, steps;
} train_cfg;
/* AdamW's state for n_params parameters: the moments and the steps taken. */
typedef struct {
    real *m, *v;
    int step;
} adamw_state;
void adamw_init(adamw_state *o, size_t n_params);
void adamw_free(adamw_state *o);
/* One optimizer step over a parameter table t[0..n_tensors): clip grads (all n_params of
 * them) to global norm tc->clip, then AdamW (ε = 1e-8) at the schedule's rate for step
 * o->step, decaying the tensors marked so. Returns the gradient norm before clipping. */
double adamw_step(adamw_state *o, const nn_tensor *t, int n_tensors, real *params, real *grads,
                  size_t n_params, const train_cfg *tc);

/* Scale grads so their global L2 norm is at most max_norm; returns the norm before. */
double grad_clip(real *g, size_t n, double max_norm);

/* Linear warm-up to lr_max over `warmup` steps, then cosine decay to lr_min at `total`. */
double lr_schedule(int step, int warmup, int total, double lr_max, double lr_min);

#endif
