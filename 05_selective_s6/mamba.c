/* 05_selective_s6/mamba.c — the Mamba block and language model: parameters, forward,
 * backward (side by side), recurrent step, AdamW training step, checkpoints. */
#include "05_selective_s6/mamba.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "05_selective_s6/s6.h"
#include "common/nn.h"
#include "common/safetensors.h"
#include "common/util.h"


/* =====================================================================================
 * Configuration and parameter table */

void mamba_config_finish(mamba_config *c)
{
    if (c->d_conv <= 0) c->d_conv = 4;
    if (c->expand <= 0) c->expand = 2;
    if (c->d_state <= 0) c->d_state = 16;
    if (c->dt_rank <= 0) c->dt_rank = (c->d_model + 15) / 16;     /* ⌈d_model/16⌉ */
    if (c->norm_eps == 0) c->norm_eps = 1e-5;                      /* MambaConfig's default */
    if (!(c->norm_eps > 0 && c->norm_eps < 1)) die(2, "mamba config: layer_norm_epsilon must be in (0, 1), got %g", c->norm_eps);
    if (c->vocab < 2) die(2, "mamba config: vocab must be >= 2, got %d", c->vocab);
    if (c->d_model < 1 || c->d_model > 65536) die(2, "mamba config: d_model must be in [1, 65536], got %d", c->d_model);
    if (c->n_layer < 1 || c->n_layer > 64) die(2, "mamba config: n_layer must be in [1, 64], got %d", c->n_layer);
    if (c->d_state > 1024) die(2, "mamba config: d_state must be <= 1024, got %d", c->d_state);
    if (c->d_conv > 16) die(2, "mamba config: d_conv must be <= 16, got %d", c->d_conv);
    if (c->kind != MAMBA_S6 && c->kind != MAMBA_LTI) die(2, "mamba config: unknown kind %d", c->kind);
    c->d_inner = c->expand * c->d_model;
}

static int in_proj_out(const mamba_config *c) { return (c->no_gate ? 1 : 2) * c->d_inner; }
static void lm_wire(mamba_model *m);

static real *add_tensor(mamba_model *m, const char *name, int ndim, size_t s0, size_t s1,
                        size_t s2, int decay)
{
    const size_t o = nn_tensor_add(m->t, &m->n_tensors, MAMBA_MAX_PARAMS, &m->n_params, name, ndim,
                                   (size_t[]){s0, s1, s2}, decay);
    return (real *)(uintptr_t)o;  /* an offset for now; made a pointer below */
}

/* Lay out the table (HF MambaForCausalLM names) and point the per-layer structs into
 * params and grads. */
static void build_table(mamba_model *m)
{
    const mamba_config *c = &m->cfg;
    const int di = c->d_inner, N = c->d_state, R = c->dt_rank, dm = c->d_model;
    char nm[96];
    m->n_tensors = 0;
    m->n_params = 0;
    size_t o_emb = (size_t)add_tensor(m, "backbone.embeddings.weight", 2, c->vocab, dm, 0, 1);
    struct mamba_layer_params *off = xcalloc((size_t)c->n_layer, sizeof *off);
#define T(field, suffix, nd, a, b, cc, dec)                                          \
    snprintf(nm, sizeof nm, "backbone.layers.%d.%s", l, suffix);                   \
    off[l].field = add_tensor(m, nm, nd, a, b, cc, dec)
    for (int l = 0; l < c->n_layer; l++) {
        T(norm_w, "norm.weight", 1, dm, 0, 0, 0);
        T(in_proj_w, "mixer.in_proj.weight", 2, in_proj_out(c), dm, 0, 1);
        T(conv_w, "mixer.conv1d.weight", 3, di, 1, c->d_conv, 1);
        T(conv_b, "mixer.conv1d.bias", 1, di, 0, 0, 0);
        if (c->kind == MAMBA_S6) {
            T(x_proj_w, "mixer.x_proj.weight", 2, R + 2 * N, di, 0, 1);
            T(dt_proj_w, "mixer.dt_proj.weight", 2, di, R, 0, 1);
        } else {
            T(B, "mixer.B", 2, di, N, 0, 0);     /* the LTI variant's fixed B, C (not HF names) */
            T(C, "mixer.C", 2, di, N, 0, 0);
        }
        T(dt_proj_b, "mixer.dt_proj.bias", 1, di, 0, 0, 0);
        T(A_log, "mixer.A_log", 2, di, N, 0, 0);
        T(D, "mixer.D", 1, di, 0, 0, 0);
        T(out_proj_w, "mixer.out_proj.weight", 2, dm, di, 0, 1);
    }
#undef T
    size_t o_nf = (size_t)add_tensor(m, "backbone.norm_f.weight", 1, dm, 0, 0, 0);
    m->params = xcalloc(m->n_params, sizeof(real));
    m->grads = xcalloc(m->n_params, sizeof(real));
    m->layer = xcalloc((size_t)c->n_layer, sizeof *m->layer);
    m->glayer = xcalloc((size_t)c->n_layer, sizeof *m->glayer);
    for (int l = 0; l < c->n_layer; l++) {
        real **src = (real **)&off[l], **p = (real **)&m->layer[l], **g = (real **)&m->glayer[l];
        for (size_t k = 0; k < sizeof off[l] / sizeof(real *); k++) {
            /* a NULL field means "absent in this variant"; offset 0 is the embedding,
             * never a layer tensor, so NULL is unambiguous */
            size_t o = (size_t)(uintptr_t)src[k];
            int has = o != 0;
            p[k] = has ? m->params + o : NULL;
            g[k] = has ? m->grads + o : NULL;
        }
    }
    free(off);
    m->emb = m->params + o_emb;
    m->gemb = m->grads + o_emb;
    m->norm_f_w = m->params + o_nf;
    m->gnorm_f_w = m->grads + o_nf;
    lm_wire(m);
}

const mamba_tensor *mamba_find(const mamba_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->t[i].name, name)) return &m->t[i];
    return NULL;
}

real mamba_dt_bias_init(rng_t *r)
{
    double dt = exp(rng_uniform_range(r, log(1e-3), log(1e-1)));
    if (dt < 1e-4) dt = 1e-4;
    return (real)(dt + log(-expm1(-dt)));
}

void mamba_init(mamba_model *m, const mamba_config *cfg, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    mamba_config_finish(&m->cfg);
    const mamba_config *c = &m->cfg;
    const int di = c->d_inner, N = c->d_state, R = c->dt_rank, dm = c->d_model;
    build_table(m);
    rng_t r;
    rng_seed(&r, seed);
    residual_lm_init_weights(&m->lm, &r);   /* embedding N(0, 0.02²), norms 1 */
    for (int l = 0; l < c->n_layer; l++) {
        struct mamba_layer_params *p = &m->layer[l];
        nn_fill_uniform(&r, p->in_proj_w, (size_t)in_proj_out(c) * dm, 1 / sqrt((double)dm));
        /* Conv1d default: fan_in = (in_channels/groups)·kernel = d_conv */
        nn_fill_uniform(&r, p->conv_w, (size_t)di * c->d_conv, 1 / sqrt((double)c->d_conv));
        nn_fill_uniform(&r, p->conv_b, di, 1 / sqrt((double)c->d_conv));
        if (c->kind == MAMBA_S6) {
            nn_fill_uniform(&r, p->x_proj_w, (size_t)(R + 2 * N) * di, 1 / sqrt((double)di));
            nn_fill_uniform(&r, p->dt_proj_w, (size_t)di * R, 1 / sqrt((double)R));
        } else {
            /* S4D-style: B = 1; C ~ N(0, 1/N) so that y = C·h keeps unit scale */
            for (size_t i = 0; i < (size_t)di * N; i++) {
                p->B[i] = 1;
                p->C[i] = (real)(rng_normal(&r) / sqrt((double)N));
            }
        }
        for (int d = 0; d < di; d++) {
            p->dt_proj_b[d] = mamba_dt_bias_init(&r);
            for (int n = 0; n < N; n++) p->A_log[(size_t)d * N + n] = (real)log((double)(n + 1));
            p->D[d] = 1;
        }
        /* out_proj: default init, then ÷ √n_layer (prenorm residual rescaling) */
        nn_fill_uniform(&r, p->out_proj_w, (size_t)dm * di, 1 / sqrt((double)di) / sqrt((double)c->n_layer));
    }
}

void mamba_free(mamba_model *m)
{
    free(m->params);
    free(m->grads);
    free(m->layer);
    free(m->glayer);
    residual_lm_free(&m->lm);
    memset(m, 0, sizeof *m);
}

/* =====================================================================================
 * The block's activations, carved from one buffer */

typedef struct {
    real *xz;       /* (T, P)       in_proj output: [x | z] */
    real *xc;       /* (B, di, L)   conv output before SiLU */
    real *u;        /* (B, di, L)   SiLU(xc): the scan's input */
    real *u_td;     /* (T, di)      the same, token-major, for x_proj */
    real *xdbl;     /* (T, R+2N)    x_proj output [δ_low | B | C]       (S6) */
    real *dtlow;    /* (T, R)       δ_low, contiguous                     (S6) */
    real *dtl;      /* (T, di)      dt_proj(δ_low), no bias               (S6) */
    real *delta;    /* (B, di, L)   δ for the scan (0 for LTI: Δ = softplus(bias)) */
    real *Bs, *Cs;  /* (B, N, L)                                          (S6) */
    real *z;        /* (B, di, L)                                         (gate) */
    real *A;        /* (di, N)      −exp(A_log) */
    real *y;        /* (B, di, L)   scan output */
    real *y_td;     /* (T, di) */
} block_acts;

static size_t carve(const mamba_config *c, int B, int L, real *base, block_acts *a)
{
    const size_t T = (size_t)B * L, di = c->d_inner, N = c->d_state, R = c->dt_rank;
    const int s6 = c->kind == MAMBA_S6;
    size_t sizes[] = {T * in_proj_out(c), T * di, T * di, T * di, s6 ? T * (R + 2 * N) : 0,
                      s6 ? T * R : 0, s6 ? T * di : 0, T * di, s6 ? T * N : 0, s6 ? T * N : 0,
                      c->no_gate ? 0 : T * di, di * N, T * di, T * di};
    real **ptrs[] = {&a->xz, &a->xc, &a->u, &a->u_td, &a->xdbl, &a->dtlow, &a->dtl, &a->delta,
                     &a->Bs, &a->Cs, &a->z, &a->A, &a->y, &a->y_td};
    size_t off = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        if (a) *ptrs[k] = (base && sizes[k]) ? base + off : NULL;
        off += sizes[k];
    }
    return off;
}

size_t mamba_block_acts_size(const mamba_config *c, int B, int L)
{
    block_acts a;
    return carve(c, B, L, NULL, &a);
}

/* (B, L, C) token-major with row stride ld (columns c0..c0+C) → (B, C, L) channel-major */
static void to_bcl(const real *src, int ld, int c0, int B, int L, int C, real *dst)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int t = 0; t < L; t++)
                dst[((size_t)b * C + c) * L + t] = src[((size_t)b * L + t) * ld + c0 + c];
}

/* (B, C, L) → token-major columns c0.. of a (B·L, ld) matrix; accumulate if acc */
static void from_bcl(const real *src, int B, int L, int C, real *dst, int ld, int c0, int acc)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < C; c++) {
                real v = src[((size_t)b * C + c) * L + t];
                real *d = &dst[((size_t)b * L + t) * ld + c0 + c];
                *d = acc ? *d + v : v;
            }
}

static s6_args scan_args(const mamba_config *c, const struct mamba_layer_params *p,
                         const block_acts *a, int B, int L)
{
    const int s6 = c->kind == MAMBA_S6;
    return (s6_args){.batch = B, .D = c->d_inner, .L = L, .N = c->d_state, .u = a->u,
                     .delta = a->delta, .A = a->A, .B = s6 ? a->Bs : p->B,
                     .C = s6 ? a->Cs : p->C, .B_varying = s6, .C_varying = s6, .Dskip = p->D,
                     .z = a->z, .delta_bias = p->dt_proj_b, .delta_softplus = 1};
}

/* =====================================================================================
 * The block: forward */

void mamba_block_forward(const mamba_model *m, int layer, const real *x, int B, int L,
                         real *out, real *acts)
{
    const mamba_config *c = &m->cfg;
    const struct mamba_layer_params *p = &m->layer[layer];
    const int T = B * L, di = c->d_inner, N = c->d_state, R = c->dt_rank, K = c->d_conv;
    const int P = in_proj_out(c), dm = c->d_model;
    block_acts a;
    carve(c, B, L, acts, &a);

    linear_forward(a.xz, x, p->in_proj_w, NULL, T, dm, P);                     /* (5.9) */
    /* (5.10) depthwise causal conv: xc_t = b + Σ_k w_k x_{t−K+1+k}, then SiLU */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int d = 0; d < di; d++)
            for (int t = 0; t < L; t++) {
                real s = p->conv_b[d];
                for (int k = 0; k < K; k++) {
                    int tt = t - K + 1 + k;
                    if (tt >= 0) s += p->conv_w[(size_t)d * K + k] * a.xz[((size_t)b * L + tt) * P + d];
                }
                size_t i = ((size_t)b * di + d) * L + t;
                a.xc[i] = s;
                a.u[i] = silu(s);
            }
    from_bcl(a.u, B, L, di, a.u_td, di, 0, 0);
    if (c->kind == MAMBA_S6) {
        linear_forward(a.xdbl, a.u_td, p->x_proj_w, NULL, T, di, R + 2 * N);     /* (5.11) */
        for (int t = 0; t < T; t++)
            memcpy(a.dtlow + (size_t)t * R, a.xdbl + (size_t)t * (R + 2 * N), (size_t)R * sizeof(real));
        linear_forward(a.dtl, a.dtlow, p->dt_proj_w, NULL, T, R, di);
        to_bcl(a.dtl, di, 0, B, L, di, a.delta);
        to_bcl(a.xdbl, R + 2 * N, R, B, L, N, a.Bs);
        to_bcl(a.xdbl, R + 2 * N, R + N, B, L, N, a.Cs);
    } else {
        memset(a.delta, 0, (size_t)T * di * sizeof(real));   /* Δ = softplus(0 + dt_bias) */
    }
    if (!c->no_gate) to_bcl(a.xz, P, di, B, L, di, a.z);
    for (size_t i = 0; i < (size_t)di * N; i++) a.A[i] = -exp(p->A_log[i]);     /* A = −e^{A_log} */
    s6_args sa = scan_args(c, p, &a, B, L);
    s6_scan_forward(&sa, a.y, NULL);                                            /* (5.1)–(5.6) */
    from_bcl(a.y, B, L, di, a.y_td, di, 0, 0);
    linear_forward(out, a.y_td, p->out_proj_w, NULL, T, di, dm);               /* (5.12) */
}

/* The block: backward, in the reverse order of the forward. dx ACCUMULATES. */
void mamba_block_backward(mamba_model *m, int layer, const real *x, const real *dout, int B,
                          int L, real *dx, real *acts)
{
    const mamba_config *c = &m->cfg;
    const struct mamba_layer_params *p = &m->layer[layer];
    struct mamba_layer_params *g = &m->glayer[layer];
    const int T = B * L, di = c->d_inner, N = c->d_state, R = c->dt_rank, K = c->d_conv;
    const int P = in_proj_out(c), dm = c->d_model, s6 = c->kind == MAMBA_S6;
    block_acts a;
    carve(c, B, L, acts, &a);
    const size_t nx = (size_t)T * di;
    real *dy_td = xcalloc(nx, sizeof(real)), *dy = xmalloc(nx * sizeof(real));
    real *du = xcalloc(nx, sizeof(real)), *ddelta = xcalloc(nx, sizeof(real));
    real *dz = c->no_gate ? NULL : xcalloc(nx, sizeof(real));
    real *dA = xcalloc((size_t)di * N, sizeof(real));
    real *dBs = s6 ? xcalloc((size_t)T * N, sizeof(real)) : NULL;
    real *dCs = s6 ? xcalloc((size_t)T * N, sizeof(real)) : NULL;
    real *dxz = xcalloc((size_t)T * P, sizeof(real)), *du_td = xcalloc(nx, sizeof(real));

    /* (5.12) */
    linear_backward(dy_td, g->out_proj_w, NULL, dout, a.y_td, p->out_proj_w, T, di, dm);
    to_bcl(dy_td, di, 0, B, L, di, dy);
    /* (5.1)–(5.6) */
    s6_args sa = scan_args(c, p, &a, B, L);
    s6_grads sg = {.du = du, .ddelta = ddelta, .dA = dA, .dB = s6 ? dBs : g->B,
                   .dC = s6 ? dCs : g->C, .dDskip = g->D, .dz = dz,
                   .ddelta_bias = g->dt_proj_b};
    s6_scan_backward(&sa, dy, NULL, &sg);
    for (size_t i = 0; i < (size_t)di * N; i++) g->A_log[i] += dA[i] * a.A[i];  /* dA/dA_log = A */
    if (!c->no_gate) from_bcl(dz, B, L, di, dxz, P, di, 1);
    if (s6) {
        /* (5.11) back through dt_proj and x_proj */
        real *ddtl = xcalloc(nx, sizeof(real)), *ddtlow = xcalloc((size_t)T * R, sizeof(real));
        real *dxdbl = xcalloc((size_t)T * (R + 2 * N), sizeof(real));
        from_bcl(ddelta, B, L, di, ddtl, di, 0, 0);
        linear_backward(ddtlow, g->dt_proj_w, NULL, ddtl, a.dtlow, p->dt_proj_w, T, R, di);
        for (int t = 0; t < T; t++)
            memcpy(dxdbl + (size_t)t * (R + 2 * N), ddtlow + (size_t)t * R, (size_t)R * sizeof(real));
        from_bcl(dBs, B, L, N, dxdbl, R + 2 * N, R, 0);
        from_bcl(dCs, B, L, N, dxdbl, R + 2 * N, R + N, 0);
        linear_backward(du_td, g->x_proj_w, NULL, dxdbl, a.u_td, p->x_proj_w, T, di, R + 2 * N);
        free(ddtl);
        free(ddtlow);
        free(dxdbl);
    }
    /* LAB 5.4 BEGIN: The Mamba block's backward through SiLU and the causal conv1d (5.10) */
    /* (5.10) back through SiLU and the conv; du (B,di,L) + du_td (token-major) */
#pragma omp parallel for schedule(static)
    for (int d = 0; d < di; d++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                size_t i = ((size_t)b * di + d) * L + t;
                real dxc = (du[i] + du_td[((size_t)b * L + t) * di + d]) * silu_grad(a.xc[i]);
                g->conv_b[d] += dxc;
                for (int k = 0; k < K; k++) {
                    int tt = t - K + 1 + k;
                    if (tt < 0) continue;
                    size_t j = ((size_t)b * L + tt) * P + d;
                    g->conv_w[(size_t)d * K + k] += dxc * a.xz[j];
                    dxz[j] += dxc * p->conv_w[(size_t)d * K + k];
                }
            }
    /* LAB END */
    /* (5.9) */
    linear_backward(dx, g->in_proj_w, NULL, dxz, x, p->in_proj_w, T, dm, P);
    free(dy_td); free(dy); free(du); free(ddelta); free(dz); free(dA); free(dBs); free(dCs);
    free(dxz); free(du_td);
}

/* =====================================================================================
 * The model (5.13): common/residual_lm around this stage's block */

/* this stage's block as the residual LM calls it (through void *: the LM knows no SSM) */
#define M(m) ((mamba_model *)(m))
static size_t lm_block_acts(const void *m, int B, int L) { return mamba_block_acts_size(&M(m)->cfg, B, L); }
static void lm_block_forward(const void *m, int l, const real *x, int B, int L, real *y, real *acts)
{
    mamba_block_forward(m, l, x, B, L, y, acts);
}
static void lm_block_backward(void *m, int l, const real *x, const real *dy, int B, int L, real *dx, real *acts)
{
    mamba_block_backward(m, l, x, dy, B, L, dx, acts);
}
static real *lm_block_norm(const void *m, int l, int grad) { return (grad ? M(m)->glayer : M(m)->layer)[l].norm_w; }
#undef M
static const residual_block MAMBA_BLOCK = {lm_block_acts, lm_block_forward, lm_block_backward, lm_block_norm};

static void lm_wire(mamba_model *m)
{
    const mamba_config *c = &m->cfg;
    m->lm = (residual_lm){.name = "mamba", .vocab = c->vocab, .d_model = c->d_model, .n_layer = c->n_layer,
                          .eps = (real)c->norm_eps, .emb = m->emb, .gemb = m->gemb, .norm_f_w = m->norm_f_w,
                          .gnorm_f_w = m->gnorm_f_w, .block = &MAMBA_BLOCK, .model = m};
}

static void check_tokens(const mamba_model *m, const int *tok, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= m->cfg.vocab)
            die(2, "mamba: %s[%zu] = %d is outside the vocabulary [0, %d)", what, i, tok[i], m->cfg.vocab);
}

/* m->lm.model = m at each call: a model struct may have been copied since lm_wire */
double mamba_forward(mamba_model *m, const int *tokens, const int *targets, int B, int L,
                     real *logits)
{
    m->lm.model = m;
    return residual_lm_forward(&m->lm, tokens, targets, B, L, logits);
}

const real *mamba_logits(const mamba_model *m) { return residual_lm_logits(&m->lm); }

void mamba_backward(mamba_model *m, const int *tokens, const int *targets)
{
    m->lm.model = m;
    residual_lm_backward(&m->lm, tokens, targets);
}

/* =====================================================================================
 * Recurrent inference: per token, each layer keeps the last d_conv − 1 conv inputs and
 * the N-dimensional SSM state per channel — constant memory and work per token. The SSM
 * update is the scan itself with L = 1 and the state passed in and out. */

void mamba_step_init(const mamba_model *m, mamba_step_state *s, int B)
{
    const mamba_config *c = &m->cfg;
    s->B = B;
    s->conv_state = xcalloc((size_t)c->n_layer * B * c->d_inner * (c->d_conv - 1) + 1, sizeof(real));
    s->ssm_state = xcalloc((size_t)c->n_layer * B * c->d_inner * c->d_state, sizeof(real));
    s->scratch = xmalloc(mamba_block_acts_size(c, B, 1) * sizeof(real) +
                         (size_t)B * (3 * c->d_model + c->d_inner * c->d_state + 1) * sizeof(real));
}

void mamba_step_free(mamba_step_state *s)
{
    free(s->conv_state);
    free(s->ssm_state);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}

void mamba_step(const mamba_model *m, mamba_step_state *s, const int *tokens, real *logits)
{
    const mamba_config *c = &m->cfg;
    const int B = s->B, dm = c->d_model, di = c->d_inner, N = c->d_state, R = c->dt_rank;
    const int K = c->d_conv, P = in_proj_out(c), s6 = c->kind == MAMBA_S6;
    check_tokens(m, tokens, (size_t)B, "tokens");
    block_acts a;
    size_t bs = carve(c, B, 1, s->scratch, &a);
    real *x = s->scratch + bs, *xn = x + (size_t)B * dm, *o = xn + (size_t)B * dm;
    real *h0 = o + (size_t)B * dm;
    real *rs = xmalloc((size_t)B * sizeof(real));
    for (int b = 0; b < B; b++)
        memcpy(x + (size_t)b * dm, m->emb + (size_t)tokens[b] * dm, (size_t)dm * sizeof(real));
    for (int l = 0; l < c->n_layer; l++) {
        const struct mamba_layer_params *p = &m->layer[l];
        real *cs = s->conv_state + (size_t)l * B * di * (K - 1);
        real *hs = s->ssm_state + (size_t)l * B * di * N;
        rmsnorm_forward(xn, rs, x, p->norm_w, B, dm, (real)c->norm_eps);
        linear_forward(a.xz, xn, p->in_proj_w, NULL, B, dm, P);
        for (int b = 0; b < B; b++)
            for (int d = 0; d < di; d++) {
                real *w = cs + ((size_t)b * di + d) * (K - 1);   /* x_{t−K+1} … x_{t−1} */
                real xin = a.xz[(size_t)b * P + d], sum = p->conv_b[d];
                for (int k = 0; k < K - 1; k++) sum += p->conv_w[(size_t)d * K + k] * w[k];
                sum += p->conv_w[(size_t)d * K + K - 1] * xin;
                for (int k = 0; k < K - 2; k++) w[k] = w[k + 1];
                if (K > 1) w[K - 2] = xin;
                a.u[(size_t)b * di + d] = silu(sum);   /* (B, di, 1) = (B, di) */
            }
        if (s6) {
            linear_forward(a.xdbl, a.u, p->x_proj_w, NULL, B, di, R + 2 * N);
            for (int b = 0; b < B; b++) {
                memcpy(a.dtlow + (size_t)b * R, a.xdbl + (size_t)b * (R + 2 * N), (size_t)R * sizeof(real));
                memcpy(a.Bs + (size_t)b * N, a.xdbl + (size_t)b * (R + 2 * N) + R, (size_t)N * sizeof(real));
                memcpy(a.Cs + (size_t)b * N, a.xdbl + (size_t)b * (R + 2 * N) + R + N, (size_t)N * sizeof(real));
            }
            linear_forward(a.delta, a.dtlow, p->dt_proj_w, NULL, B, R, di);
        } else {
            memset(a.delta, 0, (size_t)B * di * sizeof(real));
        }
        if (!c->no_gate)
            for (int b = 0; b < B; b++)
                memcpy(a.z + (size_t)b * di, a.xz + (size_t)b * P + di, (size_t)di * sizeof(real));
        for (size_t i = 0; i < (size_t)di * N; i++) a.A[i] = -exp(p->A_log[i]);
        s6_args sa = scan_args(c, p, &a, B, 1);
        memcpy(h0, hs, (size_t)B * di * N * sizeof(real));
        sa.h0 = h0;
        s6_scan_forward(&sa, a.y, hs);                         /* one step: h ← Āh + B̄u */
        linear_forward(o, a.y, p->out_proj_w, NULL, B, di, dm);
        for (size_t i = 0; i < (size_t)B * dm; i++) x[i] += o[i];
    }
    rmsnorm_forward(xn, rs, x, m->norm_f_w, B, dm, (real)c->norm_eps);
    linear_forward(logits, xn, m->emb, NULL, B, dm, c->vocab);
    free(rs);
}

/* =====================================================================================
 * Training step and checkpoints */

void mamba_opt_init(mamba_opt *o, const mamba_model *m) { adamw_init(o, m->n_params); }

void mamba_opt_free(mamba_opt *o) { adamw_free(o); }

double mamba_opt_step(mamba_model *m, mamba_opt *o, const mamba_train_cfg *tc)
{
    return adamw_step(o, m->t, m->n_tensors, m->params, m->grads, m->n_params, tc);
}

static void st_fill(st_tensor *s, const char *name, const mamba_tensor *t, const real *data)
{
    snprintf(s->name, sizeof s->name, "%.150s", name);
    s->dtype = REAL_DTYPE;
    s->ndim = t->ndim;
    for (int k = 0; k < t->ndim; k++) s->shape[k] = t->shape[k];
    s->data = data;
}

void mamba_save(const mamba_model *m, const mamba_opt *o, const char *path, const char *meta,
                const real *hist, int nhist)
{
    int n = m->n_tensors * (o ? 3 : 1);
    st_tensor *ts = xcalloc((size_t)n + 1, sizeof *ts);
    char nm[200];
    for (int i = 0; i < m->n_tensors; i++) {
        const mamba_tensor *t = &m->t[i];
        st_fill(&ts[i], t->name, t, m->params + t->offset);
        if (o) {
            snprintf(nm, sizeof nm, "optimizer.m.%s", t->name);
            st_fill(&ts[m->n_tensors + 2 * i], nm, t, o->m + t->offset);
            snprintf(nm, sizeof nm, "optimizer.v.%s", t->name);
            st_fill(&ts[m->n_tensors + 2 * i + 1], nm, t, o->v + t->offset);
        }
    }
    const mamba_config *c = &m->cfg;
    char md[1024];
    snprintf(md, sizeof md,
             "\"vocab_size\":\"%d\",\"hidden_size\":\"%d\",\"num_hidden_layers\":\"%d\","
             "\"state_size\":\"%d\",\"conv_kernel\":\"%d\",\"expand\":\"%d\",\"time_step_rank\":\"%d\","
             "\"kind\":\"%s\",\"gate\":\"%d\",\"opt_step\":\"%d\"%s%s",
             c->vocab, c->d_model, c->n_layer, c->d_state, c->d_conv, c->expand, c->dt_rank,
             c->kind == MAMBA_S6 ? "s6" : "lti", !c->no_gate, o ? o->step : 0,
             meta && *meta ? "," : "", meta ? meta : "");
    if (hist && nhist > 0) {
        snprintf(ts[n].name, sizeof ts[n].name, "train.loss");
        ts[n].dtype = REAL_DTYPE;
        ts[n].ndim = 1;
        ts[n].shape[0] = (size_t)nhist;
        ts[n].data = hist;
        n++;
    }
    st_save(path, ts, n, md);
    free(ts);
}

/* A checkpoint is checked whole against this run before any of it is used (exit 2 naming
 * the file and the tensor or key): its configuration must be the model's, every weight
 * finite and |θ| <= MAMBA_CKPT_MAX (far past anything training makes; a larger one is a
 * corrupt or forged file, and would overflow float32 in the forward), Adam's moments
 * finite with v >= 0, the loss history finite and >= 0, and no tensor beyond these. */
#define MAMBA_CKPT_MAX 1e6
int mamba_load(mamba_model *m, mamba_opt *o, const char *path, real *hist, int cap)
{
    int nh = 0;
    st_file *f = xmalloc(sizeof *f);
    st_load(path, f);
    const mamba_config *c = &m->cfg;
    const struct { const char *key; int want; } sizes[] = {
        {"vocab_size", c->vocab}, {"hidden_size", c->d_model}, {"num_hidden_layers", c->n_layer},
        {"state_size", c->d_state}, {"conv_kernel", c->d_conv}, {"expand", c->expand},
        {"time_step_rank", c->dt_rank}, {"gate", !c->no_gate}};
    char want[32];
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        snprintf(want, sizeof want, "%d", sizes[k].want);
        st_meta_expect(f, sizes[k].key, want);
    }
    st_meta_expect(f, "kind", c->kind == MAMBA_S6 ? "s6" : "lti");
    for (int i = 0; i < m->n_tensors; i++) {
        const mamba_tensor *t = &m->t[i];
        const void *d = st_get_range(f, t->name, REAL_DTYPE, t->ndim, t->shape, -MAMBA_CKPT_MAX, MAMBA_CKPT_MAX);
        memcpy(m->params + t->offset, d, t->size * sizeof(real));
        if (o) {
            char nm[200];
            snprintf(nm, sizeof nm, "optimizer.m.%s", t->name);
            memcpy(o->m + t->offset, st_get_range(f, nm, REAL_DTYPE, t->ndim, t->shape, -DBL_MAX, DBL_MAX),
                   t->size * sizeof(real));
            snprintf(nm, sizeof nm, "optimizer.v.%s", t->name);
            memcpy(o->v + t->offset, st_get_range(f, nm, REAL_DTYPE, t->ndim, t->shape, 0, DBL_MAX),
                   t->size * sizeof(real));
        }
    }
    if (o) o->step = (int)st_meta_int(f, "opt_step", 0, 1000000000);
    for (int i = 0; hist && i < f->n; i++) {
        const st_tensor *t = &f->t[i];
        if (strcmp(t->name, "train.loss")) continue;
        if (t->dtype != REAL_DTYPE || t->ndim != 1)
            die(2, "%s: train.loss: expected a 1-d %s tensor", path, REAL_NAME);
        st_get_range(f, "train.loss", REAL_DTYPE, 1, t->shape, 0, DBL_MAX);
        nh = t->shape[0] < (size_t)cap ? (int)t->shape[0] : cap;
        memcpy(hist, t->data, (size_t)nh * sizeof(real));
    }
    if (o && hist) st_done(f);   /* a resume: the file must hold this run and nothing else */
    st_free(f);
    free(f);
    return nh;
}
