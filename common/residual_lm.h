/* common/residual_lm.h — the language model around a sequence-mixing block, written once
 * for every stage whose model is "blocks in a pre-norm residual stream with a tied head"
 * (stage 05's Mamba, stage 07's Mamba-2). Part of the training toolkit: embedding,
 * RMSNorm, residual adds, the tied head and the loss; the block — the SSM — is the stage's,
 * reached through a small table of functions.
 *
 *   h₀ = E[tokens]                                   embedding (vocab, d_model)
 *   h_{l+1} = h_l + block_l(RMSNorm_l(h_l))          l = 0 … n_layer−1
 *   logits = RMSNorm_f(h_n) Eᵀ                        head tied to the embedding
 *   loss = mean cross-entropy over targets ≠ −1      targets aligned with the logits
 *
 * Forward and backward side by side (as llm.c); the backward of the last forward
 * ACCUMULATES into the parameter gradients (the block's through its own backward). */
#ifndef COMMON_RESIDUAL_LM_H
#define COMMON_RESIDUAL_LM_H

#include <stddef.h>

#include "common/real.h"
#include "common/rng.h"

/* A stage's block. model is the stage's model (passed back as given). */
typedef struct {
    /* activations one layer keeps for its backward, for B × L tokens (in reals) */
    size_t (*acts_size)(const void *model, int B, int L);
    /* out (B, L, d_model) = block_layer(x); acts filled for the backward */
    void (*forward)(const void *model, int layer, const real *x, int B, int L, real *out, real *acts);
    /* dx += ∂/∂x of <dout, block_layer(x)>; the block's parameter gradients accumulate */
    void (*backward)(void *model, int layer, const real *x, const real *dout, int B, int L, real *dx,
                     real *acts);
    /* layer's RMSNorm weight (d_model), or with grad = 1 its gradient */
    real *(*norm_w)(const void *model, int layer, int grad);
} residual_block;

typedef struct {
    /* set by the stage */
    const char *name;                 /* for messages: "mamba", "mamba2" */
    int vocab, d_model, n_layer;
    real eps;                         /* RMSNorm ε */
    real *emb, *gemb;                 /* (vocab, d_model) and its gradient */
    real *norm_f_w, *gnorm_f_w;       /* (d_model) */
    const residual_block *block;
    void *model;
    /* the activations of the last forward (owned; residual_lm_free releases them) */
    int act_B, act_L;
    real *acts, *probs;
    size_t acts_size;
} residual_lm;

/* The LM's own weights as mamba_ssm and transformers initialise them: the embedding
 * N(0, 0.02²) (drawn from rng, row-major), every RMSNorm weight 1. */
void residual_lm_init_weights(residual_lm *r, rng_t *rng);
/* Forward over tokens (B, L) (exit 2 naming the token outside [0, vocab)). With targets
 * returns the mean cross-entropy (exit 2 on a target ≥ vocab), else 0. logits (B·L, vocab)
 * may be NULL. */
double residual_lm_forward(residual_lm *r, const int *tokens, const int *targets, int B, int L,
                           real *logits);
/* Backward of the last forward (which had targets). */
void residual_lm_backward(residual_lm *r, const int *tokens, const int *targets);
/* The last forward's logits (B·L, vocab). */
const real *residual_lm_logits(const residual_lm *r);
void residual_lm_free(residual_lm *r);

#endif
