/* 06_hw_aware_cuda/lm/debug_state.h — transformers' debug state as a vector set
 * (vectors/06_hw_aware_cuda_lm, written by reference/hf_debug_state.py): config.json; inputs
 * input_ids, targets (batch, L; −1 = ignored, aligned with the logits), param.<HF name> for
 * every tensor, train_hparams = [lr, lr_min, weight_decay, beta1, beta2, eps, clip, warmup,
 * steps]; outputs logits (batch, L, V), loss, grad.<HF name>, adamw_losses (steps): the loss
 * before each of `steps` AdamW steps on the same batch.
 *
 * Read in one place for its two graders: `lm --check` (the GPU model, check.c) and
 * tests/test_lm_vectors.c (stage 05's CPU model in float64). The tolerances are this
 * file's (lm_debug_output), a manifest may only tighten them (common/vectors.h). */
#ifndef LM_DEBUG_STATE_H
#define LM_DEBUG_STATE_H

#include <stdint.h>

#include "05_selective_s6/mamba.h"
#include "06_hw_aware_cuda/lm/hf_config.h"
#include "common/vectors.h"

#define LM_DEBUG_STAGE "06_hw_aware_cuda_lm"

typedef struct {
    int batch, L;
    int32_t *tokens, *targets;          /* (batch, L) */
    int counted;                        /* targets != −1 */
    double lr, lr_min, weight_decay, beta1, beta2, eps, clip;
    int warmup, steps;
} lm_debug_batch;

/* DIR/config.json into *cfg (exit 2 naming the field on a bad one), and the set opened
 * for checking (exit 2 on a malformed manifest or one of another stage). */
vec_set *lm_debug_open(const char *dir, hf_config *cfg);
/* Every param.<name> of tab's table into tab->params (its shape must be the table's, from
 * config.json), then the batch and the training hyperparameters (ids in [0, V), targets
 * −1 or in [0, V), steps in [1, 10000]); exit 2 with one line on any problem. */
void lm_debug_inputs(vec_set *v, mamba_model *tab, lm_debug_batch *b);
void lm_debug_batch_free(lm_debug_batch *b);
/* Grade output `name` (logits, loss, grad.<name>, adamw_losses) of type t: with bf16 = 0
 * at the tolerance a float32 implementation meets, with bf16 = 1 (matmuls in bf16) at the
 * norm-wise bf16 bounds. The reasons are next to the values in debug_state.c. */
void lm_debug_output(vec_set *v, const char *name, elem_type t, int ndim, const size_t *shape,
                     const void *data, int bf16);

#endif
