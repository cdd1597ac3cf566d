/* 07_ssd_mamba2/mamba2.c — the Mamba-2 block and language model: parameters, forward,
 * backward (side by side), AdamW step. The SSD layer itself is ssd.c. */
#include "07_ssd_mamba2/mamba2.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "05_selective_s6/mamba.h"
#include "07_ssd_mamba2/ssd.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/util.h"

#define RMS_EPS ((real)1e-5)   /* Mamba2Config.layer_norm_epsilon */

/* =====================================================================================
 * Configuration and parameter table */

void mamba2_config_finish(mamba2_config *c)
{
    if (c->d_conv <= 0) c->d_conv = 4;
    if (c->expand <= 0) c->expand = 2;
    if (c->n_groups <= 0) c->n_groups = 1;
    if (c->chunk <= 0) c->chunk = SSD_CHUNK;
    if (c->vocab < 2) die(2, "mamba2 config: vocab must be >= 2, got %d", c->vocab);
    if (c->d_model < 1 || c->d_model > 65536) die(2, "mamba2 config: d_model must be in [1, 65536], got %d", c->d_model);
    if (c->n_layer < 1 || c->n_layer > 64) die(2, "mamba2 config: n_layer must be in [1, 64], got %d", c->n_layer);
    if (c->d_state < 1 || c->d_state > 1024) die(2, "mamba2 config: d_state must be in [1, 1024], got %d", c->d_state);
    if (c->d_conv > 16) die(2, "mamba2 config: d_conv must be <= 16, got %d", c->d_conv);
    c->d_inner = c->expand * c->d_model;
    if (c->head_dim < 1 || c->d_inner % c->head_dim)
        die(2, "mamba2 config: head_dim must divide d_inner = %d, got %d", c->d_inner, c->head_dim);
    c->n_heads = c->d_inner / c->head_dim;
    if (c->n_heads % c->n_groups)
        die(2, "mamba2 config: n_groups must divide n_heads = %d, got %d", c->n_heads, c->n_groups);
    if (c->norm_group <= 0) c->norm_group = c->d_inner / c->n_groups;
    if (c->d_inner % c->norm_group)
        die(2, "mamba2 config: norm_group must divide d_inner = %d, got %d", c->d_inner, c->norm_group);
    c->conv_dim = c->d_inner + 2 * c->n_groups * c->d_state;
    c->proj_dim = c->d_inner + c->conv_dim + c->n_heads;      /* [z | xBC | δ] */
}

static void lm_wire(mamba2_model *m);

static size_t add_tensor(mamba2_model *m, const char *name, int ndim, size_t s0, size_t s1,
                         size_t s2, int decay)
{
    return nn_tensor_add(m->t, &m->n_tensors, MAMBA2_MAX_PARAMS, &m->n_params, name, ndim, (size_t[]){s0, s1, s2},
                         decay);
}

/* The table in HF Mamba2ForCausalLM's order and names; then point the per-layer
 * structs into params and grads. */
static void build_table(mamba2_model *m)
{
    const mamba2_config *c = &m->cfg;
    const int nl = c->n_layer, dm = c->d_model;
    char nm[96];
    size_t (*off)[9] = xcalloc((size_t)nl, sizeof *off);
    size_t o_emb = add_tensor(m, "backbone.embeddings.weight", 2, c->vocab, dm, 0, 1);
    for (int l = 0; l < nl; l++) {
#define T(k, suffix, nd, a, b, cc, dec)                                              \
    snprintf(nm, sizeof nm, "backbone.layers.%d.%s", l, suffix);                   \
    off[l][k] = add_tensor(m, nm, nd, a, b, cc, dec)
        T(0, "norm.weight", 1, dm, 0, 0, 0);
        T(1, "mixer.in_proj.weight", 2, c->proj_dim, dm, 0, 1);
        T(2, "mixer.conv1d.weight", 3, c->conv_dim, 1, c->d_conv, 1);
        T(3, "mixer.conv1d.bias", 1, c->conv_dim, 0, 0, 0);
        T(4, "mixer.dt_bias", 1, c->n_heads, 0, 0, 0);
        T(5, "mixer.A_log", 1, c->n_heads, 0, 0, 0);
        T(6, "mixer.D", 1, c->n_heads, 0, 0, 0);
        T(7, "mixer.norm.weight", 1, c->d_inner, 0, 0, 0);
        T(8, "mixer.out_proj.weight", 2, dm, c->d_inner, 0, 1);
#undef T
    }
    size_t o_nf = add_tensor(m, "backbone.norm_f.weight", 1, dm, 0, 0, 0);
    m->params = xcalloc(m->n_params, sizeof(real));
    m->grads = xcalloc(m->n_params, sizeof(real));
    m->layer = xcalloc((size_t)nl, sizeof *m->layer);
    m->glayer = xcalloc((size_t)nl, sizeof *m->glayer);
    for (int pass = 0; pass < 2; pass++) {
        real *base = pass ? m->grads : m->params;
        struct mamba2_layer_params *L = pass ? m->glayer : m->layer;
        for (int l = 0; l < nl; l++) {
            real **f[9] = {&L[l].norm_w, &L[l].in_proj_w, &L[l].conv_w, &L[l].conv_b, &L[l].dt_bias,
                           &L[l].A_log, &L[l].D, &L[l].gnorm_w, &L[l].out_proj_w};
            for (int k = 0; k < 9; k++) *f[k] = base + off[l][k];
        }
    }
    m->emb = m->params + o_emb;
    m->gemb = m->grads + o_emb;
    m->norm_f_w = m->params + o_nf;
    m->gnorm_f_w = m->grads + o_nf;
    free(off);
    lm_wire(m);
}

const mamba2_tensor *mamba2_find(const mamba2_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->t[i].name, name)) return &m->t[i];
    return NULL;
}
real *mamba2_param(const mamba2_model *m, const mamba2_tensor *t) { return m->params + t->offset; }
real *mamba2_grad(const mamba2_model *m, const mamba2_tensor *t) { return m->grads + t->offset; }

void mamba2_init(mamba2_model *m, const mamba2_config *cfg, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    mamba2_config_finish(&m->cfg);
    const mamba2_config *c = &m->cfg;
    const int dm = c->d_model, H = c->n_heads;
    build_table(m);
    rng_t r;
    rng_seed(&r, seed);
    residual_lm_init_weights(&m->lm, &r);   /* embedding N(0, 0.02²), norms 1 */
    for (int l = 0; l < c->n_layer; l++) {
        struct mamba2_layer_params *p = &m->layer[l];
        for (int i = 0; i < c->d_inner; i++) p->gnorm_w[i] = 1;
        nn_fill_uniform(&r, p->in_proj_w, (size_t)c->proj_dim * dm, 1 / sqrt((double)dm));
        nn_fill_uniform(&r, p->conv_w, (size_t)c->conv_dim * c->d_conv, 1 / sqrt((double)c->d_conv));
        nn_fill_uniform(&r, p->conv_b, (size_t)c->conv_dim, 1 / sqrt((double)c->d_conv));
        for (int h = 0; h < H; h++) {
            p->dt_bias[h] = mamba_dt_bias_init(&r);                 /* stage 05's: softplus⁻¹(Δ) */
            p->A_log[h] = (real)log(rng_uniform_range(&r, 1, 16));  /* A ∈ −[1, 16] */
            p->D[h] = 1;
        }
        nn_fill_uniform(&r, p->out_proj_w, (size_t)dm * c->d_inner,
                        1 / sqrt((double)c->d_inner) / sqrt((double)c->n_layer));
    }
}

void mamba2_free(mamba2_model *m)
{
    free(m->params); free(m->grads); free(m->layer); free(m->glayer);
    residual_lm_free(&m->lm);
    memset(m, 0, sizeof *m);
}

/* =====================================================================================
 * The block's activations, carved from one buffer (T = B·L rows each) */

typedef struct {
    real *zxd;      /* (T, proj)      in_proj output [z | xBC | δ] */
    real *xc;       /* (T, conv_dim)  conv output before SiLU */
    real *x;        /* (T, d_inner)   = (B, L, H, P), the SSD input */
    real *Bm, *Cm;  /* (T, G·N)       = (B, L, G, N) */
    real *dt;       /* (T, H)         Δ after softplus */
    real *A;        /* (H)            −exp(A_log) */
    real *y;        /* (T, d_inner)   SSD output */
    real *v;        /* (T, d_inner)   y ⊙ SiLU(z), the norm's input */
    real *rstd;     /* (T, d_inner / norm_group) */
    real *n;        /* (T, d_inner)   the norm's output, out_proj's input */
} block_acts;

static size_t carve(const mamba2_config *c, int B, int L, real *base, block_acts *a)
{
    const size_t T = (size_t)B * L, di = c->d_inner, GN = (size_t)c->n_groups * c->d_state;
    size_t sizes[] = {T * c->proj_dim, T * c->conv_dim, T * di, T * GN, T * GN, T * c->n_heads,
                      (size_t)c->n_heads, T * di, T * di, T * (di / c->norm_group), T * di};
    real **ptrs[] = {&a->zxd, &a->xc, &a->x, &a->Bm, &a->Cm, &a->dt, &a->A, &a->y, &a->v, &a->rstd, &a->n};
    size_t off = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        *ptrs[k] = base ? base + off : NULL;
        off += sizes[k];
    }
    return off;
}

size_t mamba2_block_acts_size(const mamba2_config *c, int B, int L)
{
    block_acts a;
    return carve(c, B, L, NULL, &a);
}

static SSD_REAL(ssd_args) ssd_of(const mamba2_config *c, const struct mamba2_layer_params *p,
                                 const block_acts *a, int B, int L)
{
    ssd_dims d = {B, L, c->n_heads, c->head_dim, c->n_groups, c->d_state};
    return (SSD_REAL(ssd_args)){d, a->x, a->dt, a->A, a->Bm, a->Cm, p->D, NULL};
}

/* (7.16) gated RMSNorm, per group of g = norm_group channels:
 * v = y ⊙ SiLU(z);  n = v / √(mean_g(v²) + ε) ⊙ w */
static void gated_norm_forward(const mamba2_config *c, const real *w, const real *zxd, block_acts *a, int T)
{
    const int di = c->d_inner, g = c->norm_group, ng = di / g;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const real *z = zxd + (size_t)t * c->proj_dim;
        real *v = a->v + (size_t)t * di, *n = a->n + (size_t)t * di;
        const real *y = a->y + (size_t)t * di;
        for (int i = 0; i < di; i++) v[i] = y[i] * silu(z[i]);
        for (int k = 0; k < ng; k++) {
            real ss = 0;
            for (int i = k * g; i < (k + 1) * g; i++) ss += v[i] * v[i];
            const real r = 1 / sqrt(ss / g + RMS_EPS);
            a->rstd[(size_t)t * ng + k] = r;
            for (int i = k * g; i < (k + 1) * g; i++) n[i] = v[i] * r * w[i];
        }
    }
}

/* backward of (7.16): with dn̂ = dn ⊙ w, dv = r (dn̂ − v r² mean_g(dn̂ ⊙ v));
 * dy = dv ⊙ SiLU(z), dz = dv ⊙ y ⊙ SiLU'(z), dw = Σ_t dn ⊙ v r */
static void gated_norm_backward(const mamba2_config *c, const real *w, real *dw, const real *zxd,
                                const block_acts *a, const real *dn, real *dy, real *dzxd, int T)
{
    const int di = c->d_inner, g = c->norm_group, ng = di / g;
    real *dw_t = xcalloc((size_t)T * di, sizeof(real));   /* per-row terms, summed below */
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const real *z = zxd + (size_t)t * c->proj_dim, *v = a->v + (size_t)t * di;
        const real *y = a->y + (size_t)t * di, *dnt = dn + (size_t)t * di;
        real *dyt = dy + (size_t)t * di, *dzt = dzxd + (size_t)t * c->proj_dim;
        for (int k = 0; k < ng; k++) {
            const real r = a->rstd[(size_t)t * ng + k];
            real s = 0;
            for (int i = k * g; i < (k + 1) * g; i++) s += dnt[i] * w[i] * v[i];
            s /= g;
            for (int i = k * g; i < (k + 1) * g; i++) {
                const real dv = r * (dnt[i] * w[i] - v[i] * r * r * s);
                dw_t[(size_t)t * di + i] = dnt[i] * v[i] * r;
                dyt[i] = dv * silu(z[i]);
                dzt[i] += dv * y[i] * silu_grad(z[i]);
            }
        }
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < di; i++) dw[i] += dw_t[(size_t)t * di + i];
    free(dw_t);
}

/* =====================================================================================
 * The block: forward */

void mamba2_block_forward(const mamba2_model *m, int layer, const real *u, int B, int L,
                          real *out, real *acts)
{
    const mamba2_config *c = &m->cfg;
    const struct mamba2_layer_params *p = &m->layer[layer];
    const int T = B * L, di = c->d_inner, K = c->d_conv, CD = c->conv_dim, PD = c->proj_dim;
    const int H = c->n_heads, GN = c->n_groups * c->d_state;
    block_acts a;
    carve(c, B, L, acts, &a);

    linear_forward(a.zxd, u, p->in_proj_w, NULL, T, c->d_model, PD);              /* (7.13) */
    /* (7.14) depthwise causal conv over the xBC columns, then SiLU, split into x, B, C */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            const size_t row = (size_t)b * L + t;
            for (int ch = 0; ch < CD; ch++) {
                real s = p->conv_b[ch];
                for (int k = 0; k < K; k++) {
                    const int tt = t - K + 1 + k;
                    if (tt >= 0) s += p->conv_w[(size_t)ch * K + k] * a.zxd[((size_t)b * L + tt) * PD + di + ch];
                }
                a.xc[row * CD + ch] = s;
                const real act = silu(s);
                if (ch < di) a.x[row * di + ch] = act;
                else if (ch < di + GN) a.Bm[row * GN + ch - di] = act;
                else a.Cm[row * GN + ch - di - GN] = act;
            }
            for (int h = 0; h < H; h++)                                                 /* (7.15) */
                a.dt[row * H + h] = softplus(a.zxd[row * PD + di + CD + h] + p->dt_bias[h]);
        }
    for (int h = 0; h < H; h++) a.A[h] = -exp(p->A_log[h]);
    SSD_REAL(ssd_args) sa = ssd_of(c, p, &a, B, L);
    SSD_REAL(ssd_chunked)(&sa, c->chunk, a.y, NULL);                                   /* (7.1)–(7.9) */
    gated_norm_forward(c, p->gnorm_w, a.zxd, &a, T);                                  /* (7.16) */
    linear_forward(out, a.n, p->out_proj_w, NULL, T, di, c->d_model);                 /* (7.17) */
}

/* The block: backward, in the reverse order of the forward. du ACCUMULATES. */
void mamba2_block_backward(mamba2_model *m, int layer, const real *u, const real *dout, int B,
                           int L, real *du, real *acts)
{
    const mamba2_config *c = &m->cfg;
    const struct mamba2_layer_params *p = &m->layer[layer];
    struct mamba2_layer_params *g = &m->glayer[layer];
    const int T = B * L, di = c->d_inner, K = c->d_conv, CD = c->conv_dim, PD = c->proj_dim;
    const int H = c->n_heads, GN = c->n_groups * c->d_state;
    block_acts a;
    carve(c, B, L, acts, &a);
    real *dn = xcalloc((size_t)T * di, sizeof(real)), *dy = xmalloc((size_t)T * di * sizeof(real));
    real *dzxd = xcalloc((size_t)T * PD, sizeof(real));
    real *dx = xcalloc((size_t)T * di, sizeof(real)), *ddt = xcalloc((size_t)T * H, sizeof(real));
    real *dB = xcalloc((size_t)T * GN, sizeof(real)), *dC = xcalloc((size_t)T * GN, sizeof(real));
    real *dA = xcalloc((size_t)H, sizeof(real));

    linear_backward(dn, g->out_proj_w, NULL, dout, a.n, p->out_proj_w, T, di, c->d_model);   /* (7.17) */
    gated_norm_backward(c, p->gnorm_w, g->gnorm_w, a.zxd, &a, dn, dy, dzxd, T);            /* (7.16) */
    SSD_REAL(ssd_args) sa = ssd_of(c, p, &a, B, L);                                         /* (7.19)–(7.21) */
    SSD_REAL(ssd_grads) sg = {dx, ddt, dA, dB, dC, g->D, NULL};
    SSD_REAL(ssd_backward)(&sa, dy, NULL, &sg);
    for (int h = 0; h < H; h++) g->A_log[h] += dA[h] * a.A[h];          /* dA/dA_log = A */
    /* (7.15) Δ = softplus(δ + dt_bias) */
    for (int row = 0; row < T; row++)
        for (int h = 0; h < H; h++) {
            const real dd = ddt[(size_t)row * H + h] * softplus_grad(a.zxd[(size_t)row * PD + di + CD + h] + p->dt_bias[h]);
            dzxd[(size_t)row * PD + di + CD + h] += dd;
            g->dt_bias[h] += dd;
        }
    /* (7.14) back through SiLU and the conv, channel by channel (one writer per channel) */
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < CD; ch++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                const size_t row = (size_t)b * L + t;
                const real dact = ch < di ? dx[row * di + ch]
                                  : ch < di + GN ? dB[row * GN + ch - di] : dC[row * GN + ch - di - GN];
                const real dxc = dact * silu_grad(a.xc[row * CD + ch]);
                g->conv_b[ch] += dxc;
                for (int k = 0; k < K; k++) {
                    const int tt = t - K + 1 + k;
                    if (tt < 0) continue;
                    const size_t j = ((size_t)b * L + tt) * PD + di + ch;
                    g->conv_w[(size_t)ch * K + k] += dxc * a.zxd[j];
                    dzxd[j] += dxc * p->conv_w[(size_t)ch * K + k];
                }
            }
    linear_backward(du, g->in_proj_w, NULL, dzxd, u, p->in_proj_w, T, c->d_model, PD);     /* (7.13) */
    free(dn); free(dy); free(dzxd); free(dx); free(ddt); free(dB); free(dC); free(dA);
}

/* =====================================================================================
 * The model (7.18): the residual LM of stage 05 (common/residual_lm) around this block */

/* this stage's block as the residual LM calls it (through void *: the LM knows no SSM) */
#define M(m) ((mamba2_model *)(m))
static size_t lm_block_acts(const void *m, int B, int L) { return mamba2_block_acts_size(&M(m)->cfg, B, L); }
static void lm_block_forward(const void *m, int l, const real *x, int B, int L, real *y, real *acts)
{
    mamba2_block_forward(m, l, x, B, L, y, acts);
}
static void lm_block_backward(void *m, int l, const real *x, const real *dy, int B, int L, real *dx, real *acts)
{
    mamba2_block_backward(m, l, x, dy, B, L, dx, acts);
}
static real *lm_block_norm(const void *m, int l, int grad) { return (grad ? M(m)->glayer : M(m)->layer)[l].norm_w; }
#undef M
static const residual_block MAMBA2_BLOCK = {lm_block_acts, lm_block_forward, lm_block_backward, lm_block_norm};

static void lm_wire(mamba2_model *m)
{
    const mamba2_config *c = &m->cfg;
    m->lm = (residual_lm){.name = "mamba2", .vocab = c->vocab, .d_model = c->d_model, .n_layer = c->n_layer,
                          .eps = RMS_EPS, .emb = m->emb, .gemb = m->gemb, .norm_f_w = m->norm_f_w,
                          .gnorm_f_w = m->gnorm_f_w, .block = &MAMBA2_BLOCK, .model = m};
}

double mamba2_forward(mamba2_model *m, const int *tokens, const int *targets, int B, int L,
                      real *logits)
{
    m->lm.model = m;   /* the struct may have been copied since lm_wire */
    return residual_lm_forward(&m->lm, tokens, targets, B, L, logits);
}

const real *mamba2_logits(const mamba2_model *m) { return residual_lm_logits(&m->lm); }

void mamba2_backward(mamba2_model *m, const int *tokens, const int *targets)
{
    m->lm.model = m;
    residual_lm_backward(&m->lm, tokens, targets);
}

/* =====================================================================================
 * Training step */

void mamba2_opt_init(mamba2_opt *o, const mamba2_model *m) { adamw_init(o, m->n_params); }

void mamba2_opt_free(mamba2_opt *o) { adamw_free(o); }

double mamba2_opt_step(mamba2_model *m, mamba2_opt *o, const mamba2_train_cfg *tc)
{
    return adamw_step(o, m->t, m->n_tensors, m->params, m->grads, m->n_params, tc);
}
