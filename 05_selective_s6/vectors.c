/* 05_selective_s6/vectors.c — the stage's golden vectors (see vectors.h): the inputs of each
 * problem read or written in one place, and one function, s6_outputs, that computes every
 * output from them for both --dump-vectors and --check.
 *
 * Tolerances are what an independent implementation, in float64 or float32, must meet
 * against this stage's float32 recomputation: norm-wise bounds
 *     |got − want| ≤ λ·√n · 2^-23 · max|want|,   λ = 8,
 * where n counts the roundings an error can accumulate through (derived next to each
 * output below), 2^-23 covers the unit roundoff 2^-24 of both sides, and λ√n (not n) is
 * the probabilistic model of rounding error (Higham & Mary 2019; 05_selective_s6/
 * s6_problem.c states it and its failure probability). Measured on the committed set
 * (float32 outputs against a float64 recomputation, 46 outputs): errors sit 9× (scan.
 * ddelta_bias, a sum over batch·L that partly cancels) to 190× below these bounds, median
 * ~70×; the worst-case bounds n·2^-23 were 18–670× above them (median 210×). */
#include "05_selective_s6/vectors.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "05_selective_s6/s6_problem.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define SEED 505
/* the unit of the bounds: two float32 implementations' roundoff, 2 · 2^-24 */
#define UNIT REAL_EPS
/* the probabilistic model's λ (s6_problem.c): n roundings give at most λ√n·UNIT */
#define LAMBDA 8.0
static double bound(double n) { return LAMBDA * sqrt(n) * UNIT; }
/* the debug model: vocab 32, hidden 16, 2 layers, N 8 (conv 4, expand 2, dt_rank 1 by default) */
static const mamba_config DEBUG_CFG = {.vocab = 32, .d_model = 16, .n_layer = 2, .d_state = 8};

typedef struct {
    s6_problem scan;
    int has_scan, has_block, has_model;
    mamba_model m;
    int B, L, bB, bL;                 /* model batch and length, block batch and length */
    int32_t *tok, *tgt;
    real *bx, *bdout;
} s6_inputs;

/* ---- the model's inputs ---- */

/* One tensor in either direction: dumping writes src, checking returns a malloc'ed copy. */
static real *io(vec_set *v, const char *name, const char *pattern, real *src, int required,
                const char *meaning)
{
    real *x = vec_dumping(v) ? src : NULL;
    vec_input(v, name, ELEM_REAL, pattern, &x, required, meaning);
    return x;
}

/* A size from the tensors' shapes, and the manifest's config entry for it: recorded when
 * dumping; when checking, one that disagrees with the shapes is malformed. */
static void config_size(vec_set *v, const char *key, double value, const char *tensor)
{
    double c = value;
    if (vec_config(v, key, &c) && c != value)
        vec_reject(v, tensor, "config %s = %g, but the tensors' shapes give %g", key, c, value);
}

/* A setting this implementation has one way only: the config may state it, not change it. */
static void config_fixed(vec_set *v, const char *key, double value)
{
    double c = value;
    if (vec_config(v, key, &c) && c != value)
        die(2, "%s/manifest.json: config %s = %g: this implementation supports only %g", vec_dir(v),
            key, c, value);
}

static int is_layer0_mixer(const char *name) { return strstr(name, "layers.0.mixer.") != NULL; }

/* The parameters (model: all; block only: layer 0's mixer), the block's input and upstream
 * gradient, the tokens. Checking builds the model from the shapes: hidden_size from the
 * embedding (or block.x), d_inner and state_size from layer 0's A_log, conv_kernel from its
 * conv1d, time_step_rank from its dt_proj, num_hidden_layers by counting layers. */
static void model_inputs_io(vec_set *v, s6_inputs *in)
{
    const int dumping = vec_dumping(v);
    mamba_model *m = &in->m;
    in->has_model = dumping || vec_wants(v, "backbone.embeddings.weight");
    in->has_block = dumping || vec_wants(v, "block.x");
    if (!in->has_model && !in->has_block) {   /* the debug model's names, to list as not in this set */
        mamba_init(m, &DEBUG_CFG, SEED);
        return;
    }
    if (dumping) {
        const mamba_config *c = &m->cfg;
        vec_dim_set(v, "vocab_size", (size_t)c->vocab), vec_dim_set(v, "hidden_size", (size_t)c->d_model);
        vec_dim_set(v, "d_inner", (size_t)c->d_inner), vec_dim_set(v, "state_size", (size_t)c->d_state);
        vec_dim_set(v, "conv_kernel", (size_t)c->d_conv), vec_dim_set(v, "time_step_rank", (size_t)c->dt_rank);
        vec_dim_set(v, "model.batch", (size_t)in->B), vec_dim_set(v, "model.L", (size_t)in->L);
        vec_dim_set(v, "block.batch", (size_t)in->bB), vec_dim_set(v, "block.L", (size_t)in->bL);
    }
    const struct mamba_layer_params *l0 = dumping ? &m->layer[0] : NULL;
    if (in->has_block) {
        in->bx = io(v, "block.x", "block.batch block.L hidden_size", in->bx, VEC_REQUIRED,
                    "input of layer 0's mixer (batch, L, hidden_size)");
        in->bdout = io(v, "block.dout", "block.batch block.L hidden_size", in->bdout, VEC_REQUIRED,
                       "upstream gradient of the mixer's output");
    }
    real *emb = !in->has_model ? NULL
              : io(v, "backbone.embeddings.weight", "vocab_size hidden_size", dumping ? m->emb : NULL,
                   VEC_REQUIRED, "parameter (HF name)");
    real *A_log = io(v, "backbone.layers.0.mixer.A_log", "d_inner state_size", l0 ? l0->A_log : NULL,
                     VEC_REQUIRED, "parameter (HF name)");
    real *conv = io(v, "backbone.layers.0.mixer.conv1d.weight", "d_inner 1 conv_kernel",
                    l0 ? l0->conv_w : NULL, VEC_REQUIRED, "parameter (HF name)");
    real *dtw = io(v, "backbone.layers.0.mixer.dt_proj.weight", "d_inner time_step_rank",
                   l0 ? l0->dt_proj_w : NULL, VEC_REQUIRED, "parameter (HF name)");

    /* the configuration: from the shapes, checked against the manifest's config */
    const size_t hidden = vec_dim(v, "hidden_size"), d_inner = vec_dim(v, "d_inner");
    int n_layer = 1;
    if (dumping) n_layer = m->cfg.n_layer;
    else if (in->has_model) {
        char nm[96];
        for (n_layer = 1; n_layer < 64; n_layer++) {
            snprintf(nm, sizeof nm, "backbone.layers.%d.mixer.A_log", n_layer);
            if (!vec_wants(v, nm)) break;
        }
    }
    if (d_inner % hidden)
        vec_reject(v, "backbone.layers.0.mixer.A_log", "d_inner %zu is not a multiple of hidden_size %zu",
                   d_inner, hidden);
    const char *size_from = in->has_model ? "backbone.embeddings.weight" : "block.x";
    config_size(v, "hidden_size", (double)hidden, size_from);
    config_size(v, "state_size", (double)vec_dim(v, "state_size"), "backbone.layers.0.mixer.A_log");
    config_size(v, "expand", (double)(d_inner / hidden), "backbone.layers.0.mixer.A_log");
    config_size(v, "conv_kernel", (double)vec_dim(v, "conv_kernel"), "backbone.layers.0.mixer.conv1d.weight");
    config_size(v, "time_step_rank", (double)vec_dim(v, "time_step_rank"), "backbone.layers.0.mixer.dt_proj.weight");
    if (in->has_model) {
        config_size(v, "num_hidden_layers", n_layer, "backbone.layers.*");
        config_size(v, "vocab_size", (double)vec_dim(v, "vocab_size"), "backbone.embeddings.weight");
    }
    double eps = dumping ? m->cfg.norm_eps : 1e-5;   /* MambaConfig's default */
    vec_config(v, "layer_norm_epsilon", &eps);
    if (!(eps > 0 && eps < 1)) die(2, "%s/manifest.json: config layer_norm_epsilon = %g: expected in (0, 1)", vec_dir(v), eps);
    config_fixed(v, "use_bias", 0);
    config_fixed(v, "use_conv_bias", 1);
    config_fixed(v, "tie_word_embeddings", 1);

    if (!dumping) {
        mamba_config c = {.vocab = in->has_model ? (int)vec_dim(v, "vocab_size") : 2,
                          .d_model = (int)hidden, .n_layer = n_layer,
                          .d_state = (int)vec_dim(v, "state_size"), .d_conv = (int)vec_dim(v, "conv_kernel"),
                          .expand = (int)(d_inner / hidden), .dt_rank = (int)vec_dim(v, "time_step_rank"),
                          .norm_eps = eps};
        mamba_init(m, &c, SEED);
        struct mamba_layer_params *p0 = &m->layer[0];
        if (emb) memcpy(m->emb, emb, (size_t)c.vocab * c.d_model * sizeof(real));
        memcpy(p0->A_log, A_log, d_inner * c.d_state * sizeof(real));
        memcpy(p0->conv_w, conv, d_inner * c.d_conv * sizeof(real));
        memcpy(p0->dt_proj_w, dtw, d_inner * c.dt_rank * sizeof(real));
        free(emb), free(A_log), free(conv), free(dtw);
    }
    /* every other parameter, its shape now known */
    static const char *shape_defining[] = {"backbone.embeddings.weight", "backbone.layers.0.mixer.A_log",
                                           "backbone.layers.0.mixer.conv1d.weight",
                                           "backbone.layers.0.mixer.dt_proj.weight"};
    for (int i = 0; i < m->n_tensors; i++) {
        const mamba_tensor *t = &m->t[i];
        int skip = !in->has_model && !is_layer0_mixer(t->name);
        for (int k = 0; k < 4; k++) skip |= !strcmp(t->name, shape_defining[k]);
        if (skip) continue;
        char pattern[64];
        snprintf(pattern, sizeof pattern, t->ndim == 1 ? "%zu" : t->ndim == 2 ? "%zu %zu" : "%zu %zu %zu",
                 t->shape[0], t->shape[1], t->shape[2]);
        real *x = io(v, t->name, pattern, m->params + t->offset, VEC_REQUIRED, "parameter (HF name)");
        if (!dumping) memcpy(m->params + t->offset, x, t->size * sizeof(real)), free(x);
    }
    if (in->has_block) in->bB = (int)vec_dim(v, "block.batch"), in->bL = (int)vec_dim(v, "block.L");
    if (!in->has_model) return;
    vec_input(v, "input_ids", ELEM_I32, "model.batch model.L", &in->tok, VEC_REQUIRED, "tokens (batch, L)");
    vec_input(v, "targets", ELEM_I32, "model.batch model.L", &in->tgt, VEC_REQUIRED,
              "next-token targets aligned with the logits, -1 = ignored");
    in->B = (int)vec_dim(v, "model.batch"), in->L = (int)vec_dim(v, "model.L");
    size_t scored = 0;
    for (size_t i = 0; i < (size_t)in->B * in->L; i++) {
        if (in->tok[i] < 0 || in->tok[i] >= m->cfg.vocab)
            vec_reject(v, "input_ids", "input_ids[%zu] = %d: expected in [0, %d)", i, in->tok[i], m->cfg.vocab);
        if (in->tgt[i] < -1 || in->tgt[i] >= m->cfg.vocab)
            vec_reject(v, "targets", "targets[%zu] = %d: expected -1 or in [0, %d)", i, in->tgt[i], m->cfg.vocab);
        scored += in->tgt[i] >= 0;
    }
    if (!scored) vec_reject(v, "targets", "every target is -1: the loss would be 0/0");
}

/* ---- the one function: every output from the inputs ---- */

/* Roundings through one Mamba block, forward, per output element: in_proj's sums over
 * hidden_size, the conv's d_conv taps, x_proj's and out_proj's sums over d_inner, dt_proj's
 * over time_step_rank, the scan's 4L + 2N (s6_error_terms), and a few pointwise maps. */
static double block_terms(const mamba_config *c, int L)
{
    return c->d_model + c->d_conv + 2.0 * c->d_inner + c->dt_rank + 4.0 * L + 2.0 * c->d_state + 10;
}

static void s6_outputs(vec_set *v, s6_inputs *in)
{
    /* the scan: float32, 4 roundings per step (e^{ΔA} to 2 ulp, two products, a sum) */
    if (in->has_scan) s6_problem_solve(&in->scan);
    s6_problem_vec_outputs(v, &in->scan, 4, UNIT, LAMBDA,
                           "float32 scan (4 roundings a step) against float64 or float32; holds when "
                           "the gradient sums are not ill-conditioned (s6_problem.c)");

    mamba_model *m = &in->m;
    const mamba_config *c = &m->cfg;
    char name[200], why[400];
    /* the block: forward bounded by block_terms; its backward runs the same sums again, and
     * the parameter gradients sum over batch·L tokens on top */
    real *bo = NULL, *bdx = NULL, *bg = NULL;
    if (in->has_block) {
        const size_t nx = (size_t)in->bB * in->bL * c->d_model;
        bo = xmalloc(nx * sizeof(real)), bdx = xcalloc(nx, sizeof(real));
        real *acts = xmalloc(mamba_block_acts_size(c, in->bB, in->bL) * sizeof(real));
        memset(m->grads, 0, m->n_params * sizeof(real));
        mamba_block_forward(m, 0, in->bx, in->bB, in->bL, bo, acts);
        mamba_block_backward(m, 0, in->bx, in->bdout, in->bB, in->bL, bdx, acts);
        bg = xmalloc(m->n_params * sizeof(real));
        memcpy(bg, m->grads, m->n_params * sizeof(real));
        free(acts);
    }
    const double tb = in->has_block ? block_terms(c, in->bL) : 0;
    const size_t sx[3] = {(size_t)in->bB, (size_t)in->bL, (size_t)c->d_model};
    snprintf(why, sizeof why, "float32 block: n = %.0f roundings (in_proj, conv, x_proj, dt_proj, scan, out_proj "
             "sums), bound 8*sqrt(n)*2^-23*max; assumes the block is not ill-conditioned at these weights", tb);
    vec_output(v, "block.out", ELEM_REAL, 3, sx, bo, VEC_TOL_MAX(0, bound(tb), why),
               "the mixer's output (no norm, no residual)");
    snprintf(why, sizeof why, "backward through the block: twice the forward's %.0f roundings", tb);
    vec_output(v, "block.dx", ELEM_REAL, 3, sx, bdx, VEC_TOL_MAX(0, bound(2 * tb), why), "d block / d x for block.dout");
    const double tbg = 2 * tb + (double)in->bB * in->bL;
    snprintf(why, sizeof why, "the backward's %.0f roundings plus a sum over batch*L = %d tokens", 2 * tb,
             in->bB * in->bL);
    for (int i = 0; i < m->n_tensors; i++) {
        const mamba_tensor *t = &m->t[i];
        if (!is_layer0_mixer(t->name)) continue;
        snprintf(name, sizeof name, "block.grad.%s", t->name);
        vec_output(v, name, ELEM_REAL, t->ndim, t->shape, bg ? bg + t->offset : NULL,
                   VEC_TOL_MAX(0, bound(tbg), why), "mixer parameter gradient for block.dout");
    }
    free(bo), free(bdx), free(bg);

    /* the model: n_layer blocks with their RMSNorms, the final norm and the tied head (a sum
     * over hidden_size); the residual stream adds, it does not multiply, the blocks' errors */
    real *logits = NULL, loss = 0;
    if (in->has_model) {
        logits = xmalloc((size_t)in->B * in->L * c->vocab * sizeof(real));
        memset(m->grads, 0, m->n_params * sizeof(real));
        loss = (real)mamba_forward(m, in->tok, in->tgt, in->B, in->L, logits);
        mamba_backward(m, in->tok, in->tgt);
    }
    const double tm = c->n_layer * (block_terms(c, in->L) + c->d_model + 5) + c->d_model + 5;
    const size_t sl[3] = {(size_t)in->B, (size_t)in->L, (size_t)c->vocab};
    snprintf(why, sizeof why, "float32 model: n = %.0f roundings (%d blocks with their norms, the head), bound "
             "8*sqrt(n)*2^-23*max; assumes no layer amplifies its input's error", tm, c->n_layer);
    vec_output(v, "logits", ELEM_REAL, 3, sl, logits, VEC_TOL_MAX(0, bound(tm), why),
               "logits (batch, L, vocab_size), aligned with targets");
    double maxlogit = 0;
    for (size_t i = 0; logits && i < (size_t)in->B * in->L * c->vocab; i++) maxlogit = fmax(maxlogit, fabs(logits[i]));
    snprintf(why, sizeof why, "the mean of logsumexp - logit: at most twice the logits' error (8*sqrt(n)*2^-23, "
             "n = %.0f) of max|logits|", tm);
    vec_output(v, "loss", ELEM_REAL, 1, (size_t[]){1}, in->has_model ? &loss : NULL,
               VEC_TOL(0, 2 * bound(tm) * maxlogit, why),
               "mean cross-entropy over the scored positions (targets != -1)");
    const double tg = 2 * tm + (double)in->B * in->L;
    snprintf(why, sizeof why, "the backward's %.0f roundings plus a sum over batch*L = %d tokens", 2 * tm,
             in->B * in->L);
    for (int i = 0; i < m->n_tensors; i++) {
        const mamba_tensor *t = &m->t[i];
        snprintf(name, sizeof name, "grad.%s", t->name);
        vec_output(v, name, ELEM_REAL, t->ndim, t->shape, in->has_model ? m->grads + t->offset : NULL,
                   VEC_TOL_MAX(0, bound(tg), why), "gradient of the loss");
    }
    free(logits);
}

/* ---- the seeded set ---- */
static void s6_inputs_make(s6_inputs *in)
{
    /* the scan: batch 2, D 4, L 24, N 8, everything on (z, D, delta bias + softplus, h0) */
    s6_problem_make(&in->scan, SEED, 2, 4, 24, 8, S6P_ALL);
    in->has_scan = 1;
    /* the debug model (vocab 32, hidden 16, 2 layers, N 8, conv 4, expand 2, dt_rank 1),
     * initialised as the reference and then perturbed, so that D = 1 and norms = 1 hide no
     * gradient term */
    const mamba_config cfg = DEBUG_CFG;
    mamba_init(&in->m, &cfg, SEED);
    rng_t r;
    rng_seed(&r, SEED + 1);
    for (size_t i = 0; i < in->m.n_params; i++) in->m.params[i] += (real)(0.05 * rng_normal(&r));
    in->B = 2, in->L = 12, in->bB = 2, in->bL = 12;
    const size_t T = (size_t)in->B * in->L, nx = (size_t)in->bB * in->bL * cfg.d_model;
    in->tok = xmalloc(T * sizeof(int32_t)), in->tgt = xmalloc(T * sizeof(int32_t));
    for (size_t i = 0; i < T; i++) {
        in->tok[i] = (int32_t)rng_below(&r, (uint64_t)cfg.vocab);
        in->tgt[i] = i % in->L == 0 ? -1 : (int32_t)rng_below(&r, (uint64_t)cfg.vocab);   /* first ignored */
    }
    in->bx = xmalloc(nx * sizeof(real)), in->bdout = xmalloc(nx * sizeof(real));
    for (size_t i = 0; i < nx; i++) in->bx[i] = (real)rng_normal(&r), in->bdout[i] = (real)rng_normal(&r);
}

int s6_vectors(const char *dir, int dumping)
{
    vec_set *v = dumping
                     ? vec_set_dump(dir, "05_selective_s6",
                                    "S6 selective scan (mamba_ssm selective_scan_fn semantics, one B/C group, "
                                    "float32) with every gradient, as scan.<argument>; layer 0's Mamba mixer "
                                    "(block.*); and the debug state of a MambaForCausalLM (vocab 32, hidden 16, "
                                    "2 layers, N 8, conv 4, expand 2, dt_rank 1, RMSNorm eps 1e-5, tied head) "
                                    "under Hugging Face names, grad.<name> the gradients of the mean "
                                    "cross-entropy (targets aligned with the logits, -1 ignored)", SEED)
                     : vec_set_check(dir, "05_selective_s6");
    s6_inputs in;
    memset(&in, 0, sizeof in);
    if (dumping) s6_inputs_make(&in);
    in.has_scan = s6_problem_vec_inputs(v, &in.scan) || dumping;
    model_inputs_io(v, &in);
    s6_outputs(v, &in);
    s6_problem_free(&in.scan);
    mamba_free(&in.m);
    free(in.tok), free(in.tgt), free(in.bx), free(in.bdout);
    if (dumping) printf("wrote golden vectors to %s\n", dir);
    return vec_set_close(v);
}
