/* 05_selective_s6/vectors05.c — the stage's golden vectors (--dump-vectors, --check):
 *   scan.*   one selective scan: inputs, output, final state, every gradient for a given
 *            upstream gradient (dout, dh_last)
 *   block.*  layer 0's mixer of the debug model on its own: input, output, dx, param grads
 *   model: the debug state, as llm.c: parameters under Hugging Face MambaForCausalLM names
 *          (backbone.embeddings.weight, backbone.layers.0.mixer.in_proj.weight, …), a
 *          batch of tokens and targets, the logits, the loss and every gradient
 *          ("grad.<name>"). Load the same weights into transformers' MambaForCausalLM
 *          (vocab 32, hidden 16, 2 layers, state 8, conv 4, expand 2, dt_rank 1,
 *          rms eps 1e-5, tied embeddings) to compare.
 * Outputs carry float32 tolerances: rtol 1e-4 plus atol 1e-4 × the tensor's max |value|
 * (norm-wise; a float64 implementation differs from ours by float32 rounding, a few
 * 1e-7 relative, grown at most by the length of a 24-step recurrence and the sums of
 * the backward). */
#include "05_selective_s6/vectors05.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "05_selective_s6/s6.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define SEED 505
enum { SB = 2, SD = 4, SL = 24, SN = 8 };                 /* scan sizes */
enum { MB = 2, ML = 12 };                                  /* model batch, length */
static const mamba_config DEBUG_CFG = {.vocab = 32, .d_model = 16, .n_layer = 2, .d_state = 8};

/* ---- writing and reading `real` tensors ---- */
static void put(vec_writer *w, const char *name, vec_role role, int ndim, const size_t *shape,
                const real *x, const char *meaning)
{
    size_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    double *d = xmalloc(n * sizeof(double)), mx = 0;
    for (size_t i = 0; i < n; i++) { d[i] = x[i]; mx = fmax(mx, fabs(d[i])); }
    vec_put(w, name, role, NPY_F32, ndim, shape, d, role == VEC_OUTPUT ? 1e-4 : 0,
            role == VEC_OUTPUT ? 1e-4 * mx + 1e-30 : 0, meaning);
    free(d);
}

static void put_int(vec_writer *w, const char *name, int ndim, const size_t *shape, const int *x,
                    const char *meaning)
{
    size_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    double *d = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    vec_put(w, name, VEC_INPUT, NPY_I32, ndim, shape, d, 0, 0, meaning);
    free(d);
}

/* Load an input as `real`, exiting 2 unless its shape is exactly `shape`. */
static real *get(vec_checker *c, const char *name, int ndim, const size_t *shape)
{
    size_t got[8], n = 1;
    double *d = vec_get(c, name, ndim, got);
    for (int k = 0; k < ndim; k++) {
        if (got[k] != shape[k])
            die(2, "vectors: '%s' dimension %d: expected %zu, got %zu", name, k, shape[k], got[k]);
        n *= shape[k];
    }
    real *x = xmalloc(n * sizeof(real));
    for (size_t i = 0; i < n; i++) x[i] = (real)d[i];
    free(d);
    return x;
}

static int *get_int(vec_checker *c, const char *name, int ndim, const size_t *shape, int lo, int hi)
{
    real *x = get(c, name, ndim, shape);
    size_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    int *y = xmalloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
        if (x[i] != floor(x[i]) || x[i] < lo || x[i] >= hi)
            die(2, "vectors: '%s'[%zu] = %g: expected an integer in [%d, %d)", name, i, (double)x[i], lo, hi);
        y[i] = (int)x[i];
    }
    free(x);
    return y;
}

static void cmp(vec_checker *c, const char *name, int ndim, const size_t *shape, const real *x)
{
    size_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    double *d = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    vec_compare(c, name, ndim, shape, d);
    free(d);
}

/* =====================================================================================
 * The scan set: one table drives writing, reading and comparing. */
typedef struct {
    const char *name;
    int ndim;
    size_t shape[3];
    const char *meaning;
} tdesc;

static const tdesc SCAN_IN[] = {
    {"scan.u", 3, {SB, SD, SL}, "input u (batch, D, L)"},
    {"scan.delta", 3, {SB, SD, SL}, "raw step delta before bias and softplus"},
    {"scan.A", 2, {SD, SN}, "A = -exp(A_log) (D, N)"},
    {"scan.B", 3, {SB, SN, SL}, "input-dependent B (batch, N, L)"},
    {"scan.C", 3, {SB, SN, SL}, "input-dependent C (batch, N, L)"},
    {"scan.D", 1, {SD}, "skip D (D)"},
    {"scan.z", 3, {SB, SD, SL}, "gate z: out = y * silu(z)"},
    {"scan.delta_bias", 1, {SD}, "delta bias, inside the softplus (delta_softplus = true)"},
    {"scan.h0", 3, {SB, SD, SN}, "initial state"},
    {"scan.dout", 3, {SB, SD, SL}, "upstream gradient of out"},
    {"scan.dh_last", 3, {SB, SD, SN}, "upstream gradient of the final state"}};
static const tdesc SCAN_OUT[] = {
    {"scan.out", 3, {SB, SD, SL}, "out = (C h + D u) * silu(z)"},
    {"scan.h_last", 3, {SB, SD, SN}, "final state h_{L-1}"},
    {"scan.du", 3, {SB, SD, SL}, "d loss / d u"},
    {"scan.ddelta", 3, {SB, SD, SL}, "d loss / d delta (raw)"},
    {"scan.dA", 2, {SD, SN}, "d loss / d A"},
    {"scan.dB", 3, {SB, SN, SL}, "d loss / d B"},
    {"scan.dC", 3, {SB, SN, SL}, "d loss / d C"},
    {"scan.dD", 1, {SD}, "d loss / d D"},
    {"scan.dz", 3, {SB, SD, SL}, "d loss / d z"},
    {"scan.ddelta_bias", 1, {SD}, "d loss / d delta_bias"},
    {"scan.dh0", 3, {SB, SD, SN}, "d loss / d h0"}};
enum { NSI = sizeof SCAN_IN / sizeof *SCAN_IN, NSO = sizeof SCAN_OUT / sizeof *SCAN_OUT };

static size_t numel(const tdesc *t) { return t->shape[0] * (t->ndim > 1 ? t->shape[1] : 1) * (t->ndim > 2 ? t->shape[2] : 1); }

static void scan_compute(real *const in[NSI], real *const o[NSO])
{
    s6_args a = {.batch = SB, .D = SD, .L = SL, .N = SN, .u = in[0], .delta = in[1], .A = in[2],
                 .B = in[3], .C = in[4], .B_varying = 1, .C_varying = 1, .Dskip = in[5],
                 .z = in[6], .delta_bias = in[7], .delta_softplus = 1, .h0 = in[8]};
    s6_scan_forward(&a, o[0], o[1]);
    for (int k = 2; k < NSO; k++) memset(o[k], 0, numel(&SCAN_OUT[k]) * sizeof(real));
    s6_grads g = {.du = o[2], .ddelta = o[3], .dA = o[4], .dB = o[5], .dC = o[6], .dDskip = o[7],
                  .dz = o[8], .ddelta_bias = o[9], .dh0 = o[10]};
    s6_scan_backward(&a, in[9], in[10], &g);
}

/* =====================================================================================
 * The model set */
static void model_compute(mamba_model *m, const int *tok, const int *tgt, real *logits, real *loss,
                          real *block_x, real *block_dout, real *block_out, real *block_dx,
                          real *block_grads)
{
    memset(m->grads, 0, m->n_params * sizeof(real));
    *loss = (real)mamba_forward(m, tok, tgt, MB, ML, logits);
    mamba_backward(m, tok, tgt);
    /* the block alone, on its own input and upstream gradient; grads saved apart */
    real *saved = xmalloc(m->n_params * sizeof(real));
    memcpy(saved, m->grads, m->n_params * sizeof(real));
    memset(m->grads, 0, m->n_params * sizeof(real));
    real *acts = xmalloc(mamba_block_acts_size(&m->cfg, MB, ML) * sizeof(real));
    size_t nx = (size_t)MB * ML * m->cfg.d_model;
    mamba_block_forward(m, 0, block_x, MB, ML, block_out, acts);
    memset(block_dx, 0, nx * sizeof(real));
    mamba_block_backward(m, 0, block_x, block_dout, MB, ML, block_dx, acts);
    memcpy(block_grads, m->grads, m->n_params * sizeof(real));
    memcpy(m->grads, saved, m->n_params * sizeof(real));
    free(saved);
    free(acts);
}

void vectors_dump(const char *dir)
{
    mkdir_p(dir);
    vec_writer *w = vec_writer_open(dir, "05_selective_s6",
        "S6 selective scan (semantics of mamba_ssm selective_scan_ref, one B/C group, "
        "delta_softplus, float32) with all gradients; layer 0's Mamba mixer (block.*); and the "
        "debug state of a Mamba LM (vocab 32, d_model 16, 2 layers, N 8, d_conv 4, expand 2, "
        "dt_rank 1, RMSNorm eps 1e-5, tied head) under Hugging Face MambaForCausalLM names, "
        "with grad.<name> the gradients of the mean cross-entropy (targets -1 ignored)", SEED);
    rng_t r;
    rng_seed(&r, SEED);
    /* scan */
    real *in[NSI], *o[NSO];
    static const double lo[NSI] = {-1, -3, -2, -1, -1, -1, -2, -1, -1, -1, -1};
    static const double hi[NSI] = {1, 0, -0.05, 1, 1, 1, 2, 1, 1, 1, 1};
    for (int k = 0; k < NSI; k++) {
        in[k] = xmalloc(numel(&SCAN_IN[k]) * sizeof(real));
        for (size_t i = 0; i < numel(&SCAN_IN[k]); i++) in[k][i] = (real)rng_uniform_range(&r, lo[k], hi[k]);
        put(w, SCAN_IN[k].name, VEC_INPUT, SCAN_IN[k].ndim, SCAN_IN[k].shape, in[k], SCAN_IN[k].meaning);
    }
    for (int k = 0; k < NSO; k++) o[k] = xmalloc(numel(&SCAN_OUT[k]) * sizeof(real));
    scan_compute(in, o);
    for (int k = 0; k < NSO; k++)
        put(w, SCAN_OUT[k].name, VEC_OUTPUT, SCAN_OUT[k].ndim, SCAN_OUT[k].shape, o[k], SCAN_OUT[k].meaning);
    for (int k = 0; k < NSI; k++) free(in[k]);
    for (int k = 0; k < NSO; k++) free(o[k]);

    /* model: init as the reference, then trained a little off it is not needed: perturb
     * the parameters so that D = 1 and norms = 1 hide no gradient term */
    mamba_model m;
    mamba_init(&m, &DEBUG_CFG, SEED);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] += (real)(0.05 * rng_normal(&r));
    for (int i = 0; i < m.n_tensors; i++)
        put(w, m.t[i].name, VEC_INPUT, m.t[i].ndim, m.t[i].shape, m.params + m.t[i].offset, "parameter (HF name)");
    int tok[MB * ML], tgt[MB * ML];
    for (int i = 0; i < MB * ML; i++) {
        tok[i] = (int)rng_below(&r, 32);
        tgt[i] = i % ML == 0 ? -1 : (int)rng_below(&r, 32);   /* first position ignored */
    }
    size_t st[2] = {MB, ML}, sl[2] = {(size_t)MB * ML, 32}, s1[1] = {1};
    size_t sx[3] = {MB, ML, (size_t)DEBUG_CFG.d_model};
    put_int(w, "input_ids", 2, st, tok, "tokens (batch, L)");
    put_int(w, "targets", 2, st, tgt, "next-token targets, -1 = ignored");
    size_t nx = (size_t)MB * ML * DEBUG_CFG.d_model;
    real *bx = xmalloc(nx * sizeof(real)), *bd = xmalloc(nx * sizeof(real));
    for (size_t i = 0; i < nx; i++) { bx[i] = (real)rng_normal(&r); bd[i] = (real)rng_normal(&r); }
    put(w, "block.x", VEC_INPUT, 3, sx, bx, "input of layer 0's mixer (batch, L, d_model)");
    put(w, "block.dout", VEC_INPUT, 3, sx, bd, "upstream gradient of the mixer's output");
    real *logits = xmalloc((size_t)MB * ML * 32 * sizeof(real)), loss;
    real *bo = xmalloc(nx * sizeof(real)), *bdx = xmalloc(nx * sizeof(real));
    real *bg = xmalloc(m.n_params * sizeof(real));
    model_compute(&m, tok, tgt, logits, &loss, bx, bd, bo, bdx, bg);
    put(w, "logits", VEC_OUTPUT, 2, sl, logits, "logits (batch*L, vocab)");
    put(w, "loss", VEC_OUTPUT, 1, s1, &loss, "mean cross-entropy over the scored positions");
    char nm[200];
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(nm, sizeof nm, "grad.%s", m.t[i].name);
        put(w, nm, VEC_OUTPUT, m.t[i].ndim, m.t[i].shape, m.grads + m.t[i].offset, "gradient of the loss");
    }
    put(w, "block.out", VEC_OUTPUT, 3, sx, bo, "mixer output (no norm, no residual)");
    put(w, "block.dx", VEC_OUTPUT, 3, sx, bdx, "d block / d x for block.dout");
    for (int i = 0; i < m.n_tensors; i++) {
        if (!strstr(m.t[i].name, "layers.0.mixer")) continue;
        snprintf(nm, sizeof nm, "block.grad.%s", m.t[i].name);
        put(w, nm, VEC_OUTPUT, m.t[i].ndim, m.t[i].shape, bg + m.t[i].offset, "mixer parameter gradient for block.dout");
    }
    vec_writer_close(w);
    free(bx); free(bd); free(logits); free(bo); free(bdx); free(bg);
    mamba_free(&m);
    printf("wrote golden vectors to %s\n", dir);
}

int vectors_check(const char *dir)
{
    vec_checker *c = vec_check_open(dir);
    real *in[NSI], *o[NSO];
    for (int k = 0; k < NSI; k++) in[k] = get(c, SCAN_IN[k].name, SCAN_IN[k].ndim, SCAN_IN[k].shape);
    for (int k = 0; k < NSO; k++) o[k] = xmalloc(numel(&SCAN_OUT[k]) * sizeof(real));
    scan_compute(in, o);
    for (int k = 0; k < NSO; k++) cmp(c, SCAN_OUT[k].name, SCAN_OUT[k].ndim, SCAN_OUT[k].shape, o[k]);
    for (int k = 0; k < NSI; k++) free(in[k]);
    for (int k = 0; k < NSO; k++) free(o[k]);

    mamba_model m;
    mamba_init(&m, &DEBUG_CFG, SEED);
    for (int i = 0; i < m.n_tensors; i++) {
        real *p = get(c, m.t[i].name, m.t[i].ndim, m.t[i].shape);
        memcpy(m.params + m.t[i].offset, p, m.t[i].size * sizeof(real));
        free(p);
    }
    size_t st[2] = {MB, ML}, sl[2] = {(size_t)MB * ML, 32}, s1[1] = {1};
    size_t sx[3] = {MB, ML, (size_t)DEBUG_CFG.d_model};
    int *tok = get_int(c, "input_ids", 2, st, 0, 32), *tgt = get_int(c, "targets", 2, st, -1, 32);
    real *bx = get(c, "block.x", 3, sx), *bd = get(c, "block.dout", 3, sx);
    size_t nx = (size_t)MB * ML * DEBUG_CFG.d_model;
    real *logits = xmalloc((size_t)MB * ML * 32 * sizeof(real)), loss;
    real *bo = xmalloc(nx * sizeof(real)), *bdx = xmalloc(nx * sizeof(real));
    real *bg = xmalloc(m.n_params * sizeof(real));
    model_compute(&m, tok, tgt, logits, &loss, bx, bd, bo, bdx, bg);
    cmp(c, "logits", 2, sl, logits);
    cmp(c, "loss", 1, s1, &loss);
    char nm[200];
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(nm, sizeof nm, "grad.%s", m.t[i].name);
        cmp(c, nm, m.t[i].ndim, m.t[i].shape, m.grads + m.t[i].offset);
    }
    cmp(c, "block.out", 3, sx, bo);
    cmp(c, "block.dx", 3, sx, bdx);
    for (int i = 0; i < m.n_tensors; i++) {
        if (!strstr(m.t[i].name, "layers.0.mixer")) continue;
        snprintf(nm, sizeof nm, "block.grad.%s", m.t[i].name);
        cmp(c, nm, m.t[i].ndim, m.t[i].shape, bg + m.t[i].offset);
    }
    free(tok); free(tgt); free(bx); free(bd); free(logits); free(bo); free(bdx); free(bg);
    mamba_free(&m);
    return vec_check_close(c);
}
