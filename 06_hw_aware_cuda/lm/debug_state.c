/* 06_hw_aware_cuda/lm/debug_state.c — transformers' debug state read and graded (see
 * debug_state.h). */
#include "06_hw_aware_cuda/lm/debug_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Tolerances, |got − want| ≤ rtol·|want| + atol_max·max|want| elementwise (want: the
 * grader's recomputation, got: the set's float64 values from transformers).
 *
 * float32 (a float32 implementation against float64):
 *  logits: 2 layers of float32 matmuls (K ≤ 128) and a 64-step scan err by ~1e-6 of the
 *          largest logit; norm-wise 1e-5 leaves a 10× margin, rtol 1e-4 on top.
 *  loss:   a mean of 128 float32 per-token losses, summed in double: ~1e-7 relative; 2e-5.
 *  grads:  the backward chains ~20 float32 ops per layer plus scan sums in any order; tiny
 *          entries (dA_log of slow states) carry only absolute error: norm-wise 1e-4 of
 *          max|grad|, rtol 1e-3.
 *  adamw_losses: Adam normalises m/√v, so ten steps amplify gradient rounding only where
 *          |g| is at its own rounding level; the loss moves by < 1e-5 relative: 1e-4.
 * bf16 (matmuls on the tensor cores in bf16, norm-wise max|got − want| ≤ bound·max|want|):
 *  bf16 keeps 8 significant bits (unit roundoff u = 2⁻⁸ ≈ 3.9e-3); a dot product of K terms
 *  with rounded inputs errs by ~√K·u relative in its worst directions and the backward
 *  chains several: 3e-2 for logits, gradients and the AdamW losses, 1e-2 for the loss (a
 *  mean of 128 terms whose errors partly cancel). The set's own tolerances are written for
 *  float32, so in this mode they are not applied (vec_own_tolerances). */
static const struct {
    const char *prefix;
    double rtol, atol_max, bf16;
    const char *why;
} TOL[] = {
    {"logits", 1e-4, 1e-5, 3e-2, "float32 matmuls (K <= 128) and a 64-step scan: ~1e-6 of max|logit|, 10x margin"},
    {"loss", 2e-5, 0, 1e-2, "a mean of 128 float32 per-token losses: ~1e-7 relative"},
    {"grad.", 1e-3, 1e-4, 3e-2, "~20 float32 ops per layer and scan sums in any order; tiny entries absolute only"},
    {"adamw_losses", 1e-4, 0, 3e-2, "Adam's m/sqrt(v) amplifies rounding only where |g| is at its rounding level"},
};

vec_set *lm_debug_open(const char *dir, hf_config *cfg)
{
    char path[4096];
    path_join(path, sizeof path, dir, "config.json");
    hf_config_read(path, cfg);
    return vec_set_check(dir, LM_DEBUG_STAGE);
}

void lm_debug_inputs(vec_set *v, mamba_model *tab, lm_debug_batch *b)
{
    memset(b, 0, sizeof *b);
    char nm[160], pattern[64];
    for (int i = 0; i < tab->n_tensors; i++) {   /* the shapes config.json gives, as fixed sizes */
        const mamba_tensor *t = &tab->t[i];
        snprintf(nm, sizeof nm, "param.%s", t->name);
        snprintf(pattern, sizeof pattern, t->ndim == 1 ? "%zu" : t->ndim == 2 ? "%zu %zu" : "%zu %zu %zu",
                 t->shape[0], t->shape[1], t->shape[2]);
        real *x = NULL;
        vec_input(v, nm, ELEM_REAL, pattern, &x, VEC_REQUIRED, "parameter (HF name)");
        memcpy(tab->params + t->offset, x, t->size * sizeof(real));
        free(x);
    }
    vec_input(v, "input_ids", ELEM_I32, "batch L", &b->tokens, VEC_REQUIRED, "token ids (batch, L)");
    vec_input(v, "targets", ELEM_I32, "batch L", &b->targets, VEC_REQUIRED,
              "next-token targets aligned with the logits, -1 = ignored");
    b->batch = (int)vec_dim(v, "batch"), b->L = (int)vec_dim(v, "L");
    const int V = tab->cfg.vocab;
    for (size_t i = 0; i < (size_t)b->batch * b->L; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= V)
            vec_reject(v, "input_ids", "input_ids[%zu] = %d: expected in [0, %d)", i, b->tokens[i], V);
        if (b->targets[i] < -1 || b->targets[i] >= V)
            vec_reject(v, "targets", "targets[%zu] = %d: expected -1 or in [0, %d)", i, b->targets[i], V);
        b->counted += b->targets[i] >= 0;
    }
    if (!b->counted) vec_reject(v, "targets", "every target is -1: the loss would be 0/0");
    double *hp = NULL;
    vec_input(v, "train_hparams", ELEM_F64, "9", &hp, VEC_REQUIRED,
              "lr, lr_min, weight_decay, beta1, beta2, eps, clip, warmup, steps");
    b->lr = hp[0], b->lr_min = hp[1], b->weight_decay = hp[2], b->beta1 = hp[3], b->beta2 = hp[4];
    b->eps = hp[5], b->clip = hp[6], b->warmup = (int)hp[7], b->steps = (int)hp[8];
    const int bad = !(hp[8] >= 1 && hp[8] <= 10000 && hp[8] == b->steps) || !(hp[7] >= 0 && hp[7] <= 10000);
    free(hp);
    if (bad) vec_reject(v, "train_hparams", "steps %d / warmup %d: expected integers, steps in [1, 10000]",
                        b->steps, b->warmup);
}

void lm_debug_batch_free(lm_debug_batch *b)
{
    free(b->tokens);
    free(b->targets);
}

void lm_debug_output(vec_set *v, const char *name, elem_type t, int ndim, const size_t *shape,
                     const void *data, int bf16)
{
    for (size_t i = 0; i < sizeof TOL / sizeof TOL[0]; i++) {
        if (strncmp(name, TOL[i].prefix, strlen(TOL[i].prefix)) != 0) continue;
        const vec_tol tol = bf16 ? VEC_TOL_MAX(0, TOL[i].bf16, "bf16 matmuls: norm-wise, ~sqrt(K) u, u = 2^-8")
                                 : (vec_tol){TOL[i].rtol, 0, TOL[i].atol_max, TOL[i].why};
        vec_output(v, name, t, ndim, shape, data, tol, TOL[i].prefix);
        return;
    }
    die(2, "lm_debug_output: no tolerance for '%s'", name);
}
