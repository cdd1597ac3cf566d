/* common/residual_lm.c — the residual language model around a stage's block (see
 * residual_lm.h). */
#include "common/residual_lm.h"

#include <stdlib.h>
#include <string.h>

#include "common/nn.h"
#include "common/util.h"

typedef struct {
    real *h;        /* (n_layer + 1, T, d_model): the residual stream h_0 … h_n */
    real *hn;       /* (n_layer, T, d_model): RMSNorm_l(h_l), the blocks' inputs */
    real *rstd;     /* (n_layer, T) */
    real *hf, *rstd_f, *logits;   /* (T, d_model), (T), (T, vocab) */
    real *blocks;   /* n_layer × one block's activations */
    size_t block_size;
} lm_acts;

/* Carve base (NULL: only measure) into the activations for B × L; returns the size. */
static size_t layout(const residual_lm *r, int B, int L, real *base, lm_acts *a)
{
    const size_t T = (size_t)B * L, dm = r->d_model, nl = r->n_layer;
    const size_t bs = r->block->acts_size(r->model, B, L);
    const size_t sizes[] = {(nl + 1) * T * dm, nl * T * dm, nl * T, T * dm, T, T * r->vocab, nl * bs};
    real **ptrs[] = {&a->h, &a->hn, &a->rstd, &a->hf, &a->rstd_f, &a->logits, &a->blocks};
    size_t off = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        *ptrs[k] = base ? base + off : NULL;
        off += sizes[k];
    }
    a->block_size = bs;
    return off;
}

void residual_lm_init_weights(residual_lm *r, rng_t *rng)
{
    for (size_t i = 0; i < (size_t)r->vocab * r->d_model; i++) r->emb[i] = (real)(0.02 * rng_normal(rng));
    for (int i = 0; i < r->d_model; i++) r->norm_f_w[i] = 1;
    for (int l = 0; l < r->n_layer; l++) {
        real *w = r->block->norm_w(r->model, l, 0);
        for (int i = 0; i < r->d_model; i++) w[i] = 1;
    }
}

double residual_lm_forward(residual_lm *r, const int *tokens, const int *targets, int B, int L,
                           real *logits)
{
    if (B < 1 || L < 1) die(2, "%s_forward: batch and length must be >= 1, got %d, %d", r->name, B, L);
    const int T = B * L, dm = r->d_model, V = r->vocab;
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            die(2, "%s: tokens[%d] = %d is outside the vocabulary [0, %d)", r->name, t, tokens[t], V);
    lm_acts a;
    const size_t need = layout(r, B, L, NULL, &a);
    if (need > r->acts_size) {   /* need grows with T = B·L, so probs (T·V) fits too */
        free(r->acts);
        free(r->probs);
        r->acts = xmalloc(need * sizeof(real));
        r->probs = xmalloc((size_t)T * V * sizeof(real));
        r->acts_size = need;
    }
    r->act_B = B;
    r->act_L = L;
    layout(r, B, L, r->acts, &a);
    for (int t = 0; t < T; t++)                                                  /* h₀ = E[tok] */
        memcpy(a.h + (size_t)t * dm, r->emb + (size_t)tokens[t] * dm, (size_t)dm * sizeof(real));
    for (int l = 0; l < r->n_layer; l++) {
        real *hl = a.h + (size_t)l * T * dm, *hn = a.hn + (size_t)l * T * dm, *ho = hl + (size_t)T * dm;
        rmsnorm_forward(hn, a.rstd + (size_t)l * T, hl, r->block->norm_w(r->model, l, 0), T, dm, r->eps);
        r->block->forward(r->model, l, hn, B, L, ho, a.blocks + (size_t)l * a.block_size);
        for (size_t i = 0; i < (size_t)T * dm; i++) ho[i] += hl[i];              /* residual */
    }
    rmsnorm_forward(a.hf, a.rstd_f, a.h + (size_t)r->n_layer * T * dm, r->norm_f_w, T, dm, r->eps);
    linear_forward(a.logits, a.hf, r->emb, NULL, T, dm, V);                       /* tied head */
    if (logits) memcpy(logits, a.logits, (size_t)T * V * sizeof(real));
    if (!targets) return 0;
    for (int t = 0; t < T; t++)
        if (targets[t] >= V)
            die(2, "%s: targets[%d] = %d is outside the vocabulary [0, %d)", r->name, t, targets[t], V);
    return softmax_xent_forward(r->probs, a.logits, targets, T, V);
}

const real *residual_lm_logits(const residual_lm *r)
{
    lm_acts a;
    layout(r, r->act_B, r->act_L, r->acts, &a);
    return a.logits;
}

void residual_lm_backward(residual_lm *r, const int *tokens, const int *targets)
{
    const int B = r->act_B, L = r->act_L, T = B * L, dm = r->d_model, V = r->vocab;
    lm_acts a;
    layout(r, B, L, r->acts, &a);
    real *dlogits = xcalloc((size_t)T * V, sizeof(real)), *dhf = xcalloc((size_t)T * dm, sizeof(real));
    real *dh = xcalloc((size_t)T * dm, sizeof(real)), *dhn = xmalloc((size_t)T * dm * sizeof(real));
    softmax_xent_backward(dlogits, r->probs, targets, T, V);
    linear_backward(dhf, r->gemb, NULL, dlogits, a.hf, r->emb, T, dm, V);
    rmsnorm_backward(dh, r->gnorm_f_w, dhf, a.h + (size_t)r->n_layer * T * dm, r->norm_f_w, a.rstd_f, T, dm);
    for (int l = r->n_layer - 1; l >= 0; l--) {
        /* h_{l+1} = h_l + block(norm(h_l)): dh flows straight through, plus the branch */
        memset(dhn, 0, (size_t)T * dm * sizeof(real));
        r->block->backward(r->model, l, a.hn + (size_t)l * T * dm, dh, B, L, dhn, a.blocks + (size_t)l * a.block_size);
        rmsnorm_backward(dh, r->block->norm_w(r->model, l, 1), dhn, a.h + (size_t)l * T * dm,
                         r->block->norm_w(r->model, l, 0), a.rstd + (size_t)l * T, T, dm);
    }
    for (int t = 0; t < T; t++)                                                  /* embedding rows */
        for (int i = 0; i < dm; i++) r->gemb[(size_t)tokens[t] * dm + i] += dh[(size_t)t * dm + i];
    free(dlogits); free(dhf); free(dh); free(dhn);
}

void residual_lm_free(residual_lm *r)
{
    free(r->acts);
    free(r->probs);
    r->acts = r->probs = NULL;
    r->acts_size = 0;
}
