/* 05_selective_s6/mamba.h — the Mamba block and a Mamba language model on the CPU,
 * forward and hand-written backward side by side (as llm.c), in `real`.
 *
 *   block(x):  [x | z] = in_proj(x)                               (5.9)
 *              u = SiLU(conv1d_causal(x) + b_conv)                (5.10) depthwise, width 4
 *              [δ_low | B | C] = x_proj(u)                         (5.11)
 *              δ = dt_proj(δ_low)   (its bias goes inside the softplus of the scan)
 *              y = S6(u, δ, A = −exp(A_log), B, C, D, z, dt_bias)  (5.1)–(5.6)
 *              out = out_proj(y)                                  (5.12)
 *   model:     x₀ = E[tokens];  x_{l+1} = x_l + block_l(RMSNorm_l(x_l));
 *              logits = RMSNorm_f(x_n) Eᵀ  (head tied to the embedding)   (5.13)
 *
 * Variants for the synthetic tasks, same block otherwise:
 *   MAMBA_S6       the selective SSM (Mamba)
 *   MAMBA_LTI      Δ, B, C independent of the input: Δ = softplus(dt_bias) per channel,
 *                  B and C parameters (d_inner, N); no x_proj/dt_proj. That is S4D-Real
 *                  (A = −(1..N), Euler B̄) inside the same gated block.
 * and the flag `no_gate`: out_proj(y) without the SiLU(z) gate (in_proj then gives only x).
 *
 * Parameters live in one flat buffer described by a table (name, shape, offset), with
 * the Hugging Face MambaForCausalLM names, so AdamW, clipping and checkpoints treat
 * them uniformly and a checkpoint opens in transformers. */
#ifndef MAMBA_H
#define MAMBA_H

#include <stddef.h>
#include "common/nn.h"
#include "common/real.h"
#include "common/residual_lm.h"
#include "common/rng.h"

enum { MAMBA_S6 = 0, MAMBA_LTI = 1 };

typedef struct {
    int vocab, d_model, n_layer;
    int d_state;        /* N (16 in the paper) */
    int d_conv;         /* 4 */
    int expand;         /* 2: d_inner = expand · d_model */
    int dt_rank;        /* ⌈d_model/16⌉ when 0 is given */
    int kind;           /* MAMBA_S6 or MAMBA_LTI */
    int no_gate;        /* 1: drop the SiLU(z) gate */
    double norm_eps;    /* RMSNorm ε (HF layer_norm_epsilon); 1e-5 when 0 is given */
    int d_inner;        /* derived */
} mamba_config;

/* Fill the derived sizes; exits 2 naming the field on an invalid configuration. */
void mamba_config_finish(mamba_config *c);

#define MAMBA_MAX_PARAMS 256

/* a parameter tensor (common/nn.h); decay: not on A_log, D, biases, norms */
typedef nn_tensor mamba_tensor;

typedef struct {
    mamba_config cfg;
    int n_tensors;
    mamba_tensor t[MAMBA_MAX_PARAMS];
    size_t n_params;
    real *params, *grads;
    /* pointers into params per layer (NULL when the variant has no such tensor) */
    struct mamba_layer_params {
        real *norm_w, *in_proj_w, *conv_w, *conv_b, *x_proj_w, *dt_proj_w, *dt_proj_b;
        real *A_log, *D, *out_proj_w, *B, *C;   /* B, C only for MAMBA_LTI */
    } *layer, *glayer;  /* parameters and their gradients */
    real *emb, *norm_f_w, *gemb, *gnorm_f_w;
    /* the LM around the blocks (5.13) and its activations (common/residual_lm.h) */
    residual_lm lm;
} mamba_model;

/* Allocate and initialise as the reference implementation (mamba_ssm):
 * in_proj, x_proj, out_proj, conv: PyTorch's default U(±1/√fan_in) (biases of linear
 * layers zero); out_proj then ÷ √n_layer; dt_proj.weight U(±dt_rank^−½); dt bias =
 * softplus⁻¹(Δ), Δ log-uniform in [1e-3, 1e-1] floored at 1e-4; A_log = log(1..N);
 * D = 1; embedding N(0, 0.02); norms 1. LTI: B ~ N(0,1)·, C ~ N(0, 1/N) (see .c). */
void mamba_init(mamba_model *m, const mamba_config *cfg, uint64_t seed);
/* One channel's Δ bias as mamba_ssm initialises it (Mamba and Mamba-2 alike): Δ log-uniform
 * in [1e-3, 1e-1], floored at 1e-4; returns softplus⁻¹(Δ) = Δ + log(−expm1(−Δ)). */
real mamba_dt_bias_init(rng_t *r);
void mamba_free(mamba_model *m);
/* The table entry with this name, or NULL. */
const mamba_tensor *mamba_find(const mamba_model *m, const char *name);

/* Forward over a batch of token sequences tokens (B, L). If targets is non-NULL
 * (B, L; −1 = ignored) returns the mean cross-entropy, else 0. logits (B·L, vocab)
 * may be NULL (then they are kept only internally). */
double mamba_forward(mamba_model *m, const int *tokens, const int *targets, int B, int L,
                     real *logits);
/* Backward of the last forward (with targets): ACCUMULATES into m->grads. */
void mamba_backward(mamba_model *m, const int *tokens, const int *targets);
/* Internal logits of the last forward, (B·L, vocab). */
const real *mamba_logits(const mamba_model *m);

/* ---- one block on its own (for tests and vectors): x, out (B, L, d_model) ---- */
void mamba_block_forward(const mamba_model *m, int layer, const real *x, int B, int L,
                         real *out, real *acts);
void mamba_block_backward(mamba_model *m, int layer, const real *x, const real *dout, int B,
                          int L, real *dx, real *acts);
/* Size of the activation buffer one block needs for B × L. */
size_t mamba_block_acts_size(const mamba_config *c, int B, int L);

/* ---- recurrent inference: O(1) work and memory per token ---- */
typedef struct {
    int B;
    real *conv_state;   /* (n_layer, B, d_inner, d_conv − 1): the last inputs of the conv */
    real *ssm_state;    /* (n_layer, B, d_inner, N) */
    real *scratch;
} mamba_step_state;
void mamba_step_init(const mamba_model *m, mamba_step_state *s, int B);
void mamba_step_free(mamba_step_state *s);
/* Feed one token per sequence (tokens (B)); writes logits (B, vocab). */
void mamba_step(const mamba_model *m, mamba_step_state *s, const int *tokens, real *logits);

/* ---- training: common/nn.h's AdamW over the table ---- */
typedef train_cfg mamba_train_cfg;
typedef adamw_state mamba_opt;
void mamba_opt_init(mamba_opt *o, const mamba_model *m);
void mamba_opt_free(mamba_opt *o);
/* grads → clip → AdamW with the schedule at o->step (adamw_step); returns the gradient norm. */
double mamba_opt_step(mamba_model *m, mamba_opt *o, const mamba_train_cfg *tc);

/* ---- checkpoints: safetensors with HF names, written atomically; with o != NULL also
 * the AdamW moments ("optimizer.m.<name>", "optimizer.v.<name>"), the step count, and
 * the loss history hist[0..nhist) ("train.loss") so a resumed run continues its curve. */
void mamba_save(const mamba_model *m, const mamba_opt *o, const char *path, const char *meta,
                const real *hist, int nhist);
/* Load into an initialised model of the same configuration (exit 2 on any mismatch,
 * missing tensor, non-finite value or corrupt file). Returns the number of loss-history
 * entries copied into hist (at most cap; 0 if hist is NULL). */
int mamba_load(mamba_model *m, mamba_opt *o, const char *path, real *hist, int cap);

#endif
