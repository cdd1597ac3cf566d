/* 07_ssd_mamba2/mamba2.h — the Mamba-2 block and a Mamba-2 language model on the CPU,
 * forward and hand-written backward side by side, in `real`.
 *
 *   block(u):  [z | xBC | δ] = in_proj(u)                 one matmul             (7.13)
 *              xBC = SiLU(conv1d_causal(xBC) + b_conv)    depthwise, width K     (7.14)
 *              [x | B | C] = xBC                          x: (H, P); B, C: (G, N)
 *              Δ = softplus(δ + dt_bias),  A = −exp(A_log)  per head             (7.15)
 *              y = SSD(x, Δ, A, B, C, D)                  ssd.h, chunked form    (7.1)–(7.9)
 *              n = RMSNorm_g(y ⊙ SiLU(z)) · w_norm        gated, per norm group  (7.16)
 *              out = out_proj(n)                                                 (7.17)
 *   model:     h₀ = E[tokens];  h_{l+1} = h_l + block_l(RMSNorm_l(h_l));
 *              logits = RMSNorm_f(h_n) Eᵀ   (head tied to the embedding)         (7.18)
 *
 * Compared with Mamba-1 (05_selective_s6/mamba.h): Δ, B, C come from the same in_proj
 * as x and z (no x_proj/dt_proj, computed in parallel: "parallel projections"), A is a
 * scalar per head (that is what makes the layer a semiseparable matrix), B and C pass
 * through the conv too, and a norm sits before out_proj.
 *
 * Parameters live in one flat buffer described by a table with the names of Hugging
 * Face's Mamba2ForCausalLM (backbone.embeddings.weight, backbone.layers.{i}.norm.weight,
 * backbone.layers.{i}.mixer.{in_proj.weight, conv1d.weight, conv1d.bias, dt_bias, A_log,
 * D, norm.weight, out_proj.weight}, backbone.norm_f.weight; lm_head tied), so a debug
 * state written by transformers grades this code (reference/hf_mamba2_debug_state.py). */
#ifndef MAMBA2_H
#define MAMBA2_H

#include <stddef.h>
#include <stdint.h>
#include "common/nn.h"
#include "common/real.h"
#include "common/residual_lm.h"

typedef struct {
    int vocab, d_model, n_layer;
    int d_state;        /* N */
    int head_dim;       /* P (64 in the paper; small here) */
    int n_groups;       /* G: B, C shared by H/G heads */
    int d_conv;         /* K = 4 */
    int expand;         /* 2: d_inner = expand · d_model */
    int chunk;          /* Q of the chunked SSD (SSD_CHUNK when 0) */
    int norm_group;     /* size of the gated norm's groups: d_inner/G when 0 (mamba_ssm);
                           d_inner normalizes the whole row (older transformers) */
    /* derived */
    int d_inner, n_heads, conv_dim, proj_dim;
} mamba2_config;

/* Fill the derived sizes; exits 2 naming the field on an invalid configuration. */
void mamba2_config_finish(mamba2_config *c);

#define MAMBA2_MAX_PARAMS 256

/* a parameter tensor (common/nn.h); decay: matrices and the embedding only */
typedef nn_tensor mamba2_tensor;

struct mamba2_layer_params {
    real *norm_w, *in_proj_w, *conv_w, *conv_b, *dt_bias, *A_log, *D, *gnorm_w, *out_proj_w;
};

typedef struct {
    mamba2_config cfg;
    int n_tensors;
    mamba2_tensor t[MAMBA2_MAX_PARAMS];
    size_t n_params;
    real *params, *grads;
    struct mamba2_layer_params *layer, *glayer;   /* into params and grads */
    real *emb, *norm_f_w, *gemb, *gnorm_f_w;
    residual_lm lm;   /* the LM around the blocks (7.18) and its activations: stage 05's */
} mamba2_model;

/* Initialise as mamba_ssm's Mamba2 / transformers: linear layers U(±1/√fan_in), conv
 * U(±1/√K); out_proj ÷ √n_layer; dt_bias = softplus⁻¹(Δ), Δ log-uniform in
 * [1e-3, 1e-1] floored at 1e-4; A_log = log(U[1, 16]) per head; D = 1; embedding
 * N(0, 0.02); norms 1. */
void mamba2_init(mamba2_model *m, const mamba2_config *cfg, uint64_t seed);
void mamba2_free(mamba2_model *m);
const mamba2_tensor *mamba2_find(const mamba2_model *m, const char *name);
real *mamba2_param(const mamba2_model *m, const mamba2_tensor *t);
real *mamba2_grad(const mamba2_model *m, const mamba2_tensor *t);

/* Forward over tokens (B, L). With targets (−1 = ignored) returns the mean
 * cross-entropy, else 0. logits (B·L, vocab) may be NULL. */
double mamba2_forward(mamba2_model *m, const int *tokens, const int *targets, int B, int L,
                      real *logits);
/* Backward of the last forward (with targets): ACCUMULATES into m->grads. */
void mamba2_backward(mamba2_model *m, const int *tokens, const int *targets);
const real *mamba2_logits(const mamba2_model *m);

/* ---- one block (for tests and vectors): u, out (B, L, d_model) ---- */
size_t mamba2_block_acts_size(const mamba2_config *c, int B, int L);
void mamba2_block_forward(const mamba2_model *m, int layer, const real *u, int B, int L,
                          real *out, real *acts);
/* du ACCUMULATES; parameter gradients go to m->glayer[layer]. */
void mamba2_block_backward(mamba2_model *m, int layer, const real *u, const real *dout, int B,
                           int L, real *du, real *acts);

/* ---- training: AdamW with warm-up + cosine, clipping (common/nn.h) ---- */
typedef train_cfg mamba2_train_cfg;
typedef adamw_state mamba2_opt;
void mamba2_opt_init(mamba2_opt *o, const mamba2_model *m);
void mamba2_opt_free(mamba2_opt *o);
/* clip → AdamW at the schedule's rate for step o->step; returns the gradient norm. */
double mamba2_opt_step(mamba2_model *m, mamba2_opt *o, const mamba2_train_cfg *tc);

#endif
