/* 08_xlstm/xlstm.c — xLSTM blocks and LM: parameters, forward and backward side by side,
 * AdamW step. Equations in xlstm.h. */
#include "08_xlstm/xlstm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "08_xlstm/mlstm.h"
#include "08_xlstm/slstm.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/util.h"

#define LN_EPS ((real)1e-5)

/* =====================================================================================
 * Configuration and parameter table */

void xlstm_config_finish(xlstm_config *c)
{
    if (c->n_heads <= 0) c->n_heads = 4;
    if (c->d_conv <= 0) c->d_conv = 4;
    if (c->m_expand <= 0) c->m_expand = 2;
    if (c->qkv_block <= 0) c->qkv_block = 4;
    if (c->vocab < 2) die(2, "xlstm config: vocab must be >= 2, got %d", c->vocab);
    if (c->n_layer < 1 || c->n_layer > XLSTM_MAX_LAYERS)
        die(2, "xlstm config: n_layer must be in [1, %d], got %d", XLSTM_MAX_LAYERS, c->n_layer);
    if (c->d_model < 1 || c->d_model > 16384 || c->d_model % c->n_heads)
        die(2, "xlstm config: d_model = %d must be in [1, 16384] and a multiple of n_heads = %d",
            c->d_model, c->n_heads);
    if (c->ratio_m < 0 || c->ratio_s < 0 || c->ratio_m + c->ratio_s < 1)
        die(2, "xlstm config: ratio [%d:%d] needs non-negative parts, not both 0", c->ratio_m, c->ratio_s);
    if (c->d_conv > 16) die(2, "xlstm config: d_conv must be <= 16, got %d", c->d_conv);
    if (c->m_expand > 8) die(2, "xlstm config: m_expand must be <= 8, got %d", c->m_expand);
    c->d_inner = c->m_expand * c->d_model;
    if (c->d_inner % c->qkv_block)
        die(2, "xlstm config: qkv_block = %d must divide d_inner = %d", c->qkv_block, c->d_inner);
    c->d_ff = (4 * c->d_model + 2) / 3;
    const int n = c->n_layer;
    int ns = (int)lround((double)n * c->ratio_s / (c->ratio_m + c->ratio_s));
    if (c->ratio_s > 0 && ns < 1) ns = 1;
    c->n_slstm = ns;
    memset(c->is_slstm, 0, sizeof c->is_slstm);
    for (int j = 0; j < ns; j++) c->is_slstm[((j + 1) * n + ns - 1) / ns - 1] = 1;
}

static size_t add_tensor(xlstm_model *m, const char *name, int ndim, size_t s0, size_t s1,
                         size_t s2, size_t s3, int decay)
{
    const size_t o = nn_tensor_add(m->t, &m->n_tensors, XLSTM_MAX_TENSORS, &m->n_params, name, ndim,
                                   (size_t[]){s0, s1, s2, s3}, decay);
    return o + 1;   /* +1: 0 means "absent" until the buffers exist */
}

static void build_table(xlstm_model *m)
{
    const xlstm_config *c = &m->cfg;
    const size_t dm = c->d_model, di = c->d_inner, K = c->d_conv, NH = c->n_heads;
    const size_t dh = dm / NH, ff = c->d_ff, bs = c->qkv_block;
    xlstm_layer *off = xcalloc(XLSTM_MAX_LAYERS, sizeof *off);   /* offsets + 1 for now */
    char nm[64];
    size_t o_emb = add_tensor(m, "embedding.weight", 2, c->vocab, dm, 0, 0, 1);
    for (int l = 0; l < c->n_layer; l++) {
        xlstm_layer *L = &off[l];
#define T(field, suffix, nd, a, b, cc, d4, dec)                                       \
    snprintf(nm, sizeof nm, "blocks.%d.%s", l, suffix);                              \
    L->field = (real *)(uintptr_t)add_tensor(m, nm, nd, a, b, cc, d4, dec)
        T(norm_w, "norm.weight", 1, dm, 0, 0, 0, 0);
        if (!c->is_slstm[l]) {
            T(up_w, "mlstm.proj_up.weight", 2, 2 * di, dm, 0, 0, 1);
            T(conv_w, "mlstm.conv1d.weight", 2, di, K, 0, 0, 1);
            T(conv_b, "mlstm.conv1d.bias", 1, di, 0, 0, 0, 0);
            T(q_w, "mlstm.q_proj.weight", 3, di / bs, bs, bs, 0, 1);     /* block-diagonal */
            T(k_w, "mlstm.k_proj.weight", 3, di / bs, bs, bs, 0, 1);
            T(v_w, "mlstm.v_proj.weight", 3, di / bs, bs, bs, 0, 1);
            T(gate_w, "mlstm.gates.weight", 2, 2 * NH, 3 * di, 0, 0, 1);
            T(gate_b, "mlstm.gates.bias", 1, 2 * NH, 0, 0, 0, 0);
            T(gn_w, "mlstm.outnorm.weight", 1, di, 0, 0, 0, 0);
            T(skip, "mlstm.learnable_skip", 1, di, 0, 0, 0, 0);
            T(down_w, "mlstm.proj_down.weight", 2, dm, di, 0, 0, 1);
        } else {
            T(conv_w, "slstm.conv1d.weight", 2, dm, K, 0, 0, 1);
            T(conv_b, "slstm.conv1d.bias", 1, dm, 0, 0, 0, 0);
            T(if_w, "slstm.if_proj.weight", 2, 2 * dm, dm, 0, 0, 1);
            T(zo_w, "slstm.zo_proj.weight", 2, 2 * dm, dm, 0, 0, 1);
            T(bias, "slstm.bias", 1, 4 * dm, 0, 0, 0, 0);
            T(R, "slstm.recurrent_kernel", 4, 4, NH, dh, dh, 1);
            T(gn_w, "slstm.group_norm.weight", 1, dm, 0, 0, 0, 0);
            T(ffn_norm_w, "ffn_norm.weight", 1, dm, 0, 0, 0, 0);
            T(ffn_up_w, "ffn.proj_up.weight", 2, 2 * ff, dm, 0, 0, 1);
            T(ffn_down_w, "ffn.proj_down.weight", 2, dm, ff, 0, 0, 1);
        }
#undef T
    }
    size_t o_nf = add_tensor(m, "post_blocks_norm.weight", 1, dm, 0, 0, 0, 0);
    m->params = xcalloc(m->n_params, sizeof(real));
    m->grads = xcalloc(m->n_params, sizeof(real));
    for (int l = 0; l < c->n_layer; l++) {
        real **p = (real **)&m->layer[l], **g = (real **)&m->glayer[l];
        real **src = (real **)&off[l];
        for (size_t k = 0; k < sizeof(xlstm_layer) / sizeof(real *); k++) {
            size_t o = (size_t)(uintptr_t)src[k];
            p[k] = o ? m->params + o - 1 : NULL;
            g[k] = o ? m->grads + o - 1 : NULL;
        }
    }
    free(off);
    m->emb = m->params + o_emb - 1;
    m->gemb = m->grads + o_emb - 1;
    m->norm_f_w = m->params + o_nf - 1;
    m->gnorm_f_w = m->grads + o_nf - 1;
}

static void fill_uniform(rng_t *r, real *x, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++) x[i] = (real)rng_uniform_range(r, -bound, bound);
}

static void fill_const(real *x, size_t n, real v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* Initialisation after the reference implementation (NX-AI/xlstm), simplified:
 * linear layers PyTorch's default U(±1/√fan_in), output projections further ÷ √n_layer;
 * embedding N(0, 2/(5d)) ("small init"); mLSTM gate weights 0, ĩ bias N(0, 0.1²),
 * f̃ bias linspace(3, 6) over heads (forget gates open: long memory at the start);
 * sLSTM f̃ bias linspace(3, 6) over heads, R = 0 (the reference's "zeros"); skip 1. */
void xlstm_init(xlstm_model *m, const xlstm_config *cfg, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    xlstm_config_finish(&m->cfg);
    const xlstm_config *c = &m->cfg;
    const int dm = c->d_model, di = c->d_inner, K = c->d_conv, NH = c->n_heads, ff = c->d_ff;
    build_table(m);
    rng_t r;
    rng_seed(&r, seed);
    const double out_scale = 1 / sqrt((double)c->n_layer);
    for (size_t i = 0; i < (size_t)c->vocab * dm; i++) m->emb[i] = (real)(sqrt(2.0 / (5 * dm)) * rng_normal(&r));
    fill_const(m->norm_f_w, dm, 1);
    for (int l = 0; l < c->n_layer; l++) {
        xlstm_layer *p = &m->layer[l];
        fill_const(p->norm_w, dm, 1);
        if (!c->is_slstm[l]) {
            fill_uniform(&r, p->up_w, (size_t)2 * di * dm, 1 / sqrt((double)dm));
            fill_uniform(&r, p->conv_w, (size_t)di * K, 1 / sqrt((double)K));
            fill_uniform(&r, p->conv_b, di, 1 / sqrt((double)K));
            const int bs = c->qkv_block;                /* fan-in of a block-diagonal row */
            fill_uniform(&r, p->q_w, (size_t)di * bs, 1 / sqrt((double)bs));
            fill_uniform(&r, p->k_w, (size_t)di * bs, 1 / sqrt((double)bs));
            fill_uniform(&r, p->v_w, (size_t)di * bs, 1 / sqrt((double)bs));
            for (int h = 0; h < NH; h++) {
                p->gate_b[h] = (real)(0.1 * rng_normal(&r));
                p->gate_b[NH + h] = (real)(NH > 1 ? 3 + 3.0 * h / (NH - 1) : 3);
            }
            fill_const(p->gn_w, di, 1);
            fill_const(p->skip, di, 1);
            fill_uniform(&r, p->down_w, (size_t)dm * di, out_scale / sqrt((double)di));
        } else {
            const int dh = dm / NH;
            fill_uniform(&r, p->conv_w, (size_t)dm * K, 1 / sqrt((double)K));
            fill_uniform(&r, p->conv_b, dm, 1 / sqrt((double)K));
            fill_uniform(&r, p->if_w, (size_t)2 * dm * dm, 1 / sqrt((double)dm));
            fill_uniform(&r, p->zo_w, (size_t)2 * dm * dm, 1 / sqrt((double)dm));
            for (int j = 0; j < dm; j++) {
                int h = j / dh;
                p->bias[dm + j] = (real)(NH > 1 ? 3 + 3.0 * h / (NH - 1) : 3);
            }
            fill_const(p->gn_w, dm, 1);
            fill_const(p->ffn_norm_w, dm, 1);
            fill_uniform(&r, p->ffn_up_w, (size_t)2 * ff * dm, 1 / sqrt((double)dm));
            fill_uniform(&r, p->ffn_down_w, (size_t)dm * ff, out_scale / sqrt((double)ff));
        }
    }
}

/* =====================================================================================
 * Activations: one buffer per block, carved in a fixed order */

struct xlstm_acts {
    real *block[XLSTM_MAX_LAYERS];
    real *x;            /* (n_layer + 1, T, dm) residual stream */
    real *xf, *mean_f, *rstd_f, *logits, *probs;
};

typedef struct {        /* the saved tensors of one block, token-major (T rows) */
    real *xn, *mean, *rstd;             /* LN(x) and its statistics */
    real *up;                           /* mLSTM (T, 2di): [x_m | z] */
    real *xcp, *xc;                     /* conv output before / after SiLU */
    real *q, *k, *ks, *v, *g;           /* mLSTM: q, k, k/√dh, v (T, di); gates (T, 2NH) */
    real *hc, *gmean, *grstd, *hn;      /* cell output, per-head norm stats (T·NH), normalized */
    real *hs, *out;                     /* mLSTM: GN·w + skip ⊙ x_c; ⊙ SiLU(z) */
    real *wx, *cache;                   /* sLSTM: pre-activations without R h (T, 4dm), BPTT cache */
    real *x1, *x1n, *mean1, *rstd1, *ffu, *ffa;   /* sLSTM FFN: x₁, LN(x₁), stats, up (T, 2ff), GeLU(a)⊙g */
} block_acts;

static size_t carve(const xlstm_config *c, int sl, int B, int L, real *base, block_acts *a)
{
    const size_t T = (size_t)B * L, dm = c->d_model, di = c->d_inner, NH = c->n_heads;
    const size_t ff = c->d_ff;
    slstm_cfg sc = {.d = c->d_model, .n_heads = c->n_heads};
    const size_t w = sl ? dm : di;   /* width of the cell */
    size_t sizes[] = {T * dm, T, T,
                      sl ? 0 : T * 2 * di,
                      T * w, T * w,
                      sl ? 0 : T * di, sl ? 0 : T * di, sl ? 0 : T * di, sl ? 0 : T * di, sl ? 0 : T * 2 * NH,
                      T * w, T * NH, T * NH, T * w,
                      sl ? 0 : T * di, sl ? 0 : T * di,
                      sl ? T * 4 * dm : 0, sl ? (size_t)B * slstm_cache_size(&sc, L) : 0,
                      sl ? T * dm : 0, sl ? T * dm : 0, sl ? T : 0, sl ? T : 0, sl ? T * 2 * ff : 0, sl ? T * ff : 0};
    real **ptrs[] = {&a->xn, &a->mean, &a->rstd, &a->up, &a->xcp, &a->xc, &a->q, &a->k, &a->ks,
                     &a->v, &a->g, &a->hc, &a->gmean, &a->grstd, &a->hn, &a->hs, &a->out, &a->wx,
                     &a->cache, &a->x1, &a->x1n, &a->mean1, &a->rstd1, &a->ffu, &a->ffa};
    size_t off = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        *ptrs[k] = (base && sizes[k]) ? base + off : NULL;
        off += sizes[k];
    }
    return off;
}

/* =====================================================================================
 * Shared pieces: the causal depthwise conv and the per-head norm (forward | backward) */

/* y[b,t,c] = b_c + Σ_k w[c,k] x[b, t−K+1+k, c]  (x, y token-major with C columns) */
static void conv_forward(const real *x, const real *w, const real *bias, int B, int L, int C,
                         int K, real *y)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int ch = 0; ch < C; ch++) {
                real s = bias[ch];
                for (int k = 0; k < K; k++) {
                    int tt = t - K + 1 + k;
                    if (tt >= 0) s += w[(size_t)ch * K + k] * x[((size_t)b * L + tt) * C + ch];
                }
                y[((size_t)b * L + t) * C + ch] = s;
            }
}

static void conv_backward(const real *x, const real *w, const real *dy, int B, int L, int C,
                          int K, real *dx, real *dw, real *db)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < C; ch++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                real g = dy[((size_t)b * L + t) * C + ch];
                db[ch] += g;
                for (int k = 0; k < K; k++) {
                    int tt = t - K + 1 + k;
                    if (tt < 0) continue;
                    size_t j = ((size_t)b * L + tt) * C + ch;
                    dw[(size_t)ch * K + k] += g * x[j];
                    dx[j] += g * w[(size_t)ch * K + k];
                }
            }
}

/* Per-head norm (GroupNorm with one group per head): the (T, NH·dh) matrix is the
 * (T·NH, dh) matrix of head rows, layer-normalized without weight, then scaled by w. */
static void headnorm_forward(const real *x, const real *w, int T, int NH, int dh, real *mean,
                             real *rstd, real *xhat, real *y)
{
    real *ones = xmalloc((size_t)dh * sizeof(real));
    for (int j = 0; j < dh; j++) ones[j] = 1;
    layernorm_forward(xhat, mean, rstd, x, ones, NULL, T * NH, dh, LN_EPS);
    for (size_t i = 0; i < (size_t)T * NH * dh; i++) y[i] = xhat[i] * w[i % ((size_t)NH * dh)];
    free(ones);
}

static void headnorm_backward(const real *x, const real *w, const real *mean, const real *rstd,
                              const real *xhat, const real *dy, int T, int NH, int dh, real *dx,
                              real *dw)
{
    const size_t C = (size_t)NH * dh, n = (size_t)T * C;
    real *dxhat = xmalloc(n * sizeof(real)), *ones = xmalloc((size_t)dh * sizeof(real));
    real *dummy = xcalloc((size_t)dh, sizeof(real));
    for (int j = 0; j < dh; j++) ones[j] = 1;
    for (size_t i = 0; i < n; i++) {
        dxhat[i] = dy[i] * w[i % C];
        dw[i % C] += dy[i] * xhat[i];
    }
    layernorm_backward(dx, dummy, NULL, dxhat, x, ones, mean, rstd, T * NH, dh);
    free(dxhat); free(ones); free(dummy);
}

/* =====================================================================================
 * Block-diagonal projection (the mLSTM block's W_q, W_k, W_v, paper Appendix: "block-diagonal
 * projection matrices", block size 4 in its models): y = x Wᵀ with W = diag(W_1, …, W_nb),
 * each W_b (bs × bs) acting on its own bs channels. W stored (nb, bs, bs), row o of block b
 * = output channel b·bs + o. bs = n is a dense matrix (linear_forward's case). */
static void blockdiag_forward(real *y, const real *x, const real *W, int T, int n, int bs)
{
    if (bs == n) {
        linear_forward(y, x, W, NULL, T, n, n);
        return;
    }
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) {
            const int b0 = j - j % bs;
            const real *w = W + (size_t)j * bs, *xt = x + (size_t)t * n + b0;
            real s = 0;
            for (int i = 0; i < bs; i++) s += w[i] * xt[i];
            y[(size_t)t * n + j] = s;
        }
}

/* dx += dy W, dW += dyᵀ x, block by block (dx, dW ACCUMULATE) */
static void blockdiag_backward(real *dx, real *dW, const real *dy, const real *x, const real *W, int T,
                               int n, int bs)
{
    if (bs == n) {
        linear_backward(dx, dW, NULL, dy, x, W, T, n, n);
        return;
    }
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) {
            const int b0 = j - j % bs;
            const real g = dy[(size_t)t * n + j], *xt = x + (size_t)t * n + b0, *w = W + (size_t)j * bs;
            real *dw = dW + (size_t)j * bs, *dxt = dx + (size_t)t * n + b0;
            for (int i = 0; i < bs; i++) {
                dw[i] += g * xt[i];
                dxt[i] += g * w[i];
            }
        }
}

/* =====================================================================================
 * mLSTM block (8.12): forward */

static mlstm_args head_args(const xlstm_config *c, const block_acts *a, int b, int h, int L)
{
    const int di = c->d_inner, NH = c->n_heads, dh = di / NH;
    const size_t r0 = (size_t)b * L;
    return (mlstm_args){.L = L, .d_qk = dh, .d_v = dh, .ld = di, .ldg = 2 * NH,
                        .q = a->q + r0 * di + h * dh, .k = a->ks + r0 * di + h * dh,
                        .v = a->v + r0 * di + h * dh, .ig = a->g + r0 * 2 * NH + h,
                        .fg = a->g + r0 * 2 * NH + NH + h};
}

static void mlstm_block_forward(const xlstm_model *m, int l, const real *x, int B, int L,
                                real *y, block_acts *a)
{
    const xlstm_config *c = &m->cfg;
    const xlstm_layer *p = &m->layer[l];
    const int T = B * L, dm = c->d_model, di = c->d_inner, NH = c->n_heads, dh = di / NH;
    real *qkv = xmalloc((size_t)T * 3 * di * sizeof(real)), *xm = xmalloc((size_t)T * di * sizeof(real));
    layernorm_forward(a->xn, a->mean, a->rstd, x, p->norm_w, NULL, T, dm, LN_EPS);
    linear_forward(a->up, a->xn, p->up_w, NULL, T, dm, 2 * di);                 /* [x_m | z] */
    for (int t = 0; t < T; t++) memcpy(xm + (size_t)t * di, a->up + (size_t)t * 2 * di, (size_t)di * sizeof(real));
    conv_forward(xm, p->conv_w, p->conv_b, B, L, di, c->d_conv, a->xcp);
    for (size_t i = 0; i < (size_t)T * di; i++) a->xc[i] = silu(a->xcp[i]);
    blockdiag_forward(a->q, a->xc, p->q_w, T, di, c->qkv_block);
    blockdiag_forward(a->k, a->xc, p->k_w, T, di, c->qkv_block);
    blockdiag_forward(a->v, xm, p->v_w, T, di, c->qkv_block);
    const real kscale = 1 / sqrt((real)dh);
    for (size_t i = 0; i < (size_t)T * di; i++) a->ks[i] = a->k[i] * kscale;
    for (int t = 0; t < T; t++) {
        memcpy(qkv + (size_t)t * 3 * di, a->q + (size_t)t * di, (size_t)di * sizeof(real));
        memcpy(qkv + (size_t)t * 3 * di + di, a->k + (size_t)t * di, (size_t)di * sizeof(real));
        memcpy(qkv + (size_t)t * 3 * di + 2 * di, a->v + (size_t)t * di, (size_t)di * sizeof(real));
    }
    linear_forward(a->g, qkv, p->gate_w, p->gate_b, T, 3 * di, 2 * NH);          /* [ĩ | f̃] */
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            mlstm_args ar = head_args(c, a, b, h, L);
            mlstm_parallel(&ar, a->hc + (size_t)b * L * di + h * dh);               /* (8.9) */
        }
    headnorm_forward(a->hc, p->gn_w, T, NH, dh, a->gmean, a->grstd, a->hn, a->hs);
    for (size_t i = 0; i < (size_t)T * di; i++) {
        size_t j = i % di;
        a->hs[i] += p->skip[j] * a->xc[i];                                      /* learnable skip */
        real z = a->up[(i / di) * 2 * di + di + j];
        a->out[i] = a->hs[i] * silu(z);                                         /* output gate */
    }
    linear_forward(y, a->out, p->down_w, NULL, T, di, dm);
    for (size_t i = 0; i < (size_t)T * dm; i++) y[i] += x[i];                   /* residual */
    free(qkv);
    free(xm);
}

/* mLSTM block: backward, the forward read from the bottom up. dx ACCUMULATES. */
static void mlstm_block_backward(xlstm_model *m, int l, const real *x, const real *dy, int B,
                                 int L, real *dx, const block_acts *a)
{
    const xlstm_config *c = &m->cfg;
    const xlstm_layer *p = &m->layer[l];
    xlstm_layer *g = &m->glayer[l];
    const int T = B * L, dm = c->d_model, di = c->d_inner, NH = c->n_heads, dh = di / NH;
    const size_t n = (size_t)T * di;
    real *dout = xcalloc(n, sizeof(real)), *dhs = xmalloc(n * sizeof(real));
    real *dup = xcalloc((size_t)T * 2 * di, sizeof(real)), *dxc = xcalloc(n, sizeof(real));
    real *dhc = xcalloc(n, sizeof(real)), *dq = xcalloc(n, sizeof(real)), *dks = xcalloc(n, sizeof(real));
    real *dv = xcalloc(n, sizeof(real)), *dg = xcalloc((size_t)T * 2 * NH, sizeof(real));
    real *dqkv = xcalloc((size_t)T * 3 * di, sizeof(real)), *qkv = xmalloc((size_t)T * 3 * di * sizeof(real));
    real *xm = xmalloc(n * sizeof(real)), *dxm = xcalloc(n, sizeof(real)), *dxn = xcalloc((size_t)T * dm, sizeof(real));

    for (size_t i = 0; i < (size_t)T * dm; i++) dx[i] += dy[i];                 /* residual */
    linear_backward(dout, g->down_w, NULL, dy, a->out, p->down_w, T, di, dm);
    for (size_t i = 0; i < n; i++) {                                            /* ⊙ SiLU(z), skip */
        size_t j = i % di, iz = (i / di) * 2 * di + di + j;
        real z = a->up[iz];
        dhs[i] = dout[i] * silu(z);
        dup[iz] = dout[i] * a->hs[i] * silu_grad(z);
        g->skip[j] += dhs[i] * a->xc[i];
        dxc[i] += dhs[i] * p->skip[j];
    }
    headnorm_backward(a->hc, p->gn_w, a->gmean, a->grstd, a->hn, dhs, T, NH, dh, dhc, g->gn_w);
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {                                          /* (8.9) backward */
            mlstm_args ar = head_args(c, a, b, h, L);
            const size_t o = (size_t)b * L * di + h * dh, og = (size_t)b * L * 2 * NH + h;
            mlstm_grads gr = {.dq = dq + o, .dk = dks + o, .dv = dv + o, .dig = dg + og,
                              .dfg = dg + og + NH};
            mlstm_parallel_backward(&ar, dhc + o, &gr);
        }
    for (int t = 0; t < T; t++) {
        memcpy(qkv + (size_t)t * 3 * di, a->q + (size_t)t * di, (size_t)di * sizeof(real));
        memcpy(qkv + (size_t)t * 3 * di + di, a->k + (size_t)t * di, (size_t)di * sizeof(real));
        memcpy(qkv + (size_t)t * 3 * di + 2 * di, a->v + (size_t)t * di, (size_t)di * sizeof(real));
        memcpy(xm + (size_t)t * di, a->up + (size_t)t * 2 * di, (size_t)di * sizeof(real));
    }
    linear_backward(dqkv, g->gate_w, g->gate_b, dg, qkv, p->gate_w, T, 3 * di, 2 * NH);
    const real kscale = 1 / sqrt((real)dh);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < di; j++) {
            size_t i = (size_t)t * di + j;
            dq[i] += dqkv[(size_t)t * 3 * di + j];
            dks[i] = dks[i] * kscale + dqkv[(size_t)t * 3 * di + di + j];       /* now dk */
            dv[i] += dqkv[(size_t)t * 3 * di + 2 * di + j];
        }
    blockdiag_backward(dxc, g->q_w, dq, a->xc, p->q_w, T, di, c->qkv_block);
    blockdiag_backward(dxc, g->k_w, dks, a->xc, p->k_w, T, di, c->qkv_block);
    blockdiag_backward(dxm, g->v_w, dv, xm, p->v_w, T, di, c->qkv_block);
    for (size_t i = 0; i < n; i++) dxc[i] *= silu_grad(a->xcp[i]);
    conv_backward(xm, p->conv_w, dxc, B, L, di, c->d_conv, dxm, g->conv_w, g->conv_b);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < di; j++) dup[(size_t)t * 2 * di + j] += dxm[(size_t)t * di + j];
    linear_backward(dxn, g->up_w, NULL, dup, a->xn, p->up_w, T, dm, 2 * di);
    layernorm_backward(dx, g->norm_w, NULL, dxn, x, p->norm_w, a->mean, a->rstd, T, dm);
    free(dout); free(dhs); free(dup); free(dxc); free(dhc); free(dq); free(dks); free(dv);
    free(dg); free(dqkv); free(qkv); free(xm); free(dxm); free(dxn);
}

/* =====================================================================================
 * sLSTM block (8.13): forward */

static slstm_cfg cell_cfg(const xlstm_config *c)
{
    return (slstm_cfg){.d = c->d_model, .n_heads = c->n_heads, .exp_forget = c->s_exp_forget};
}

static void slstm_block_forward(const xlstm_model *m, int l, const real *x, int B, int L,
                                real *y, block_acts *a)
{
    const xlstm_config *c = &m->cfg;
    const xlstm_layer *p = &m->layer[l];
    const int T = B * L, dm = c->d_model, NH = c->n_heads, dh = dm / NH, ff = c->d_ff;
    const slstm_cfg sc = cell_cfg(c);
    real *tmp = xmalloc((size_t)T * 2 * dm * sizeof(real));
    layernorm_forward(a->xn, a->mean, a->rstd, x, p->norm_w, NULL, T, dm, LN_EPS);
    conv_forward(a->xn, p->conv_w, p->conv_b, B, L, dm, c->d_conv, a->xcp);
    for (size_t i = 0; i < (size_t)T * dm; i++) a->xc[i] = silu(a->xcp[i]);
    linear_forward(tmp, a->xc, p->if_w, NULL, T, dm, 2 * dm);                   /* ĩ, f̃ from x_c */
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 2 * dm; j++) a->wx[(size_t)t * 4 * dm + j] = tmp[(size_t)t * 2 * dm + j] + p->bias[j];
    linear_forward(tmp, a->xn, p->zo_w, NULL, T, dm, 2 * dm);                   /* z̃, õ from x̂ */
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 2 * dm; j++)
            a->wx[(size_t)t * 4 * dm + 2 * dm + j] = tmp[(size_t)t * 2 * dm + j] + p->bias[2 * dm + j];
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)                                                 /* (8.2)–(8.6) */
        slstm_forward(&sc, L, a->wx + (size_t)b * L * 4 * dm, p->R, 1, a->hc + (size_t)b * L * dm,
                      a->cache + (size_t)b * slstm_cache_size(&sc, L));
    headnorm_forward(a->hc, p->gn_w, T, NH, dh, a->gmean, a->grstd, a->hn, a->x1);
    for (size_t i = 0; i < (size_t)T * dm; i++) a->x1[i] += x[i];              /* residual */
    /* post up-projection: the gated MLP */
    layernorm_forward(a->x1n, a->mean1, a->rstd1, a->x1, p->ffn_norm_w, NULL, T, dm, LN_EPS);
    linear_forward(a->ffu, a->x1n, p->ffn_up_w, NULL, T, dm, 2 * ff);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < ff; j++) {
            const real *u = a->ffu + (size_t)t * 2 * ff;
            a->ffa[(size_t)t * ff + j] = gelu(u[j]) * u[ff + j];
        }
    linear_forward(y, a->ffa, p->ffn_down_w, NULL, T, ff, dm);
    for (size_t i = 0; i < (size_t)T * dm; i++) y[i] += a->x1[i];              /* residual */
    free(tmp);
}

static void slstm_block_backward(xlstm_model *m, int l, const real *x, const real *dy, int B,
                                 int L, real *dx, const block_acts *a)
{
    const xlstm_config *c = &m->cfg;
    const xlstm_layer *p = &m->layer[l];
    xlstm_layer *g = &m->glayer[l];
    const int T = B * L, dm = c->d_model, NH = c->n_heads, dh = dm / NH, ff = c->d_ff;
    const slstm_cfg sc = cell_cfg(c);
    const size_t n = (size_t)T * dm;
    real *dx1 = xmalloc(n * sizeof(real)), *dffa = xcalloc((size_t)T * ff, sizeof(real));
    real *dffu = xmalloc((size_t)T * 2 * ff * sizeof(real)), *dx1n = xcalloc(n, sizeof(real));
    real *dhc = xcalloc(n, sizeof(real)), *dwx = xcalloc((size_t)T * 4 * dm, sizeof(real));
    real *dtmp = xmalloc((size_t)T * 2 * dm * sizeof(real)), *dxn = xcalloc(n, sizeof(real));
    real *dxc = xcalloc(n, sizeof(real));

    memcpy(dx1, dy, n * sizeof(real));                                          /* residual */
    linear_backward(dffa, g->ffn_down_w, NULL, dy, a->ffa, p->ffn_down_w, T, ff, dm);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < ff; j++) {
            const real *u = a->ffu + (size_t)t * 2 * ff;
            real d = dffa[(size_t)t * ff + j];
            dffu[(size_t)t * 2 * ff + j] = d * u[ff + j] * gelu_grad(u[j]);
            dffu[(size_t)t * 2 * ff + ff + j] = d * gelu(u[j]);
        }
    linear_backward(dx1n, g->ffn_up_w, NULL, dffu, a->x1n, p->ffn_up_w, T, dm, 2 * ff);
    layernorm_backward(dx1, g->ffn_norm_w, NULL, dx1n, a->x1, p->ffn_norm_w, a->mean1, a->rstd1, T, dm);
    for (size_t i = 0; i < n; i++) dx[i] += dx1[i];                             /* residual */
    headnorm_backward(a->hc, p->gn_w, a->gmean, a->grstd, a->hn, dx1, T, NH, dh, dhc, g->gn_w);
    real *dR = xcalloc((size_t)B * 4 * dm * dh, sizeof(real));                  /* one per sequence */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        slstm_backward(&sc, L, p->R, a->hc + (size_t)b * L * dm,
                       a->cache + (size_t)b * slstm_cache_size(&sc, L), dhc + (size_t)b * L * dm,
                       dwx + (size_t)b * L * 4 * dm, dR + (size_t)b * 4 * dm * dh);
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < (size_t)4 * dm * dh; i++) g->R[i] += dR[(size_t)b * 4 * dm * dh + i];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 4 * dm; j++) g->bias[j] += dwx[(size_t)t * 4 * dm + j];
    for (int t = 0; t < T; t++)
        memcpy(dtmp + (size_t)t * 2 * dm, dwx + (size_t)t * 4 * dm + 2 * dm, (size_t)2 * dm * sizeof(real));
    linear_backward(dxn, g->zo_w, NULL, dtmp, a->xn, p->zo_w, T, dm, 2 * dm);
    for (int t = 0; t < T; t++)
        memcpy(dtmp + (size_t)t * 2 * dm, dwx + (size_t)t * 4 * dm, (size_t)2 * dm * sizeof(real));
    linear_backward(dxc, g->if_w, NULL, dtmp, a->xc, p->if_w, T, dm, 2 * dm);
    for (size_t i = 0; i < n; i++) dxc[i] *= silu_grad(a->xcp[i]);
    conv_backward(a->xn, p->conv_w, dxc, B, L, dm, c->d_conv, dxn, g->conv_w, g->conv_b);
    layernorm_backward(dx, g->norm_w, NULL, dxn, x, p->norm_w, a->mean, a->rstd, T, dm);
    free(dx1); free(dffa); free(dffu); free(dx1n); free(dhc); free(dwx); free(dtmp); free(dxn);
    free(dxc); free(dR);
}

/* =====================================================================================
 * The model (8.14) */

static void acts_free(xlstm_model *m)
{
    if (!m->acts) return;
    for (int l = 0; l < XLSTM_MAX_LAYERS; l++) free(m->acts->block[l]);
    free(m->acts->x); free(m->acts->xf); free(m->acts->mean_f); free(m->acts->rstd_f);
    free(m->acts->logits); free(m->acts->probs);
    free(m->acts);
    m->acts = NULL;
}

void xlstm_free(xlstm_model *m)
{
    acts_free(m);
    free(m->params);
    free(m->grads);
    memset(m, 0, sizeof *m);
}

static void acts_ensure(xlstm_model *m, int B, int L)
{
    if (m->acts && m->act_B == B && m->act_L == L) return;
    acts_free(m);
    const xlstm_config *c = &m->cfg;
    const size_t T = (size_t)B * L, dm = c->d_model;
    xlstm_acts *a = xcalloc(1, sizeof *a);
    block_acts ba;
    for (int l = 0; l < c->n_layer; l++)
        a->block[l] = xmalloc(carve(c, c->is_slstm[l], B, L, NULL, &ba) * sizeof(real));
    a->x = xmalloc(((size_t)c->n_layer + 1) * T * dm * sizeof(real));
    a->xf = xmalloc(T * dm * sizeof(real));
    a->mean_f = xmalloc(T * sizeof(real));
    a->rstd_f = xmalloc(T * sizeof(real));
    a->logits = xmalloc(T * c->vocab * sizeof(real));
    a->probs = xmalloc(T * c->vocab * sizeof(real));
    m->acts = a;
    m->act_B = B;
    m->act_L = L;
}

double xlstm_forward(xlstm_model *m, const int *tokens, const int *targets, int B, int L)
{
    const xlstm_config *c = &m->cfg;
    if (B < 1 || L < 1) die(2, "xlstm_forward: batch and length must be >= 1, got %d, %d", B, L);
    const int T = B * L, dm = c->d_model, V = c->vocab;
    for (int i = 0; i < T; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            die(2, "xlstm: tokens[%d] = %d is outside the vocabulary [0, %d)", i, tokens[i], V);
    acts_ensure(m, B, L);
    xlstm_acts *a = m->acts;
    for (int t = 0; t < T; t++)                                                 /* x₀ = E[tok] */
        memcpy(a->x + (size_t)t * dm, m->emb + (size_t)tokens[t] * dm, (size_t)dm * sizeof(real));
    for (int l = 0; l < c->n_layer; l++) {
        block_acts ba;
        carve(c, c->is_slstm[l], B, L, a->block[l], &ba);
        const real *xl = a->x + (size_t)l * T * dm;
        real *xo = a->x + (size_t)(l + 1) * T * dm;
        if (c->is_slstm[l]) slstm_block_forward(m, l, xl, B, L, xo, &ba);
        else mlstm_block_forward(m, l, xl, B, L, xo, &ba);
    }
    layernorm_forward(a->xf, a->mean_f, a->rstd_f, a->x + (size_t)c->n_layer * T * dm, m->norm_f_w,
                      NULL, T, dm, LN_EPS);
    linear_forward(a->logits, a->xf, m->emb, NULL, T, dm, V);                  /* tied head */
    if (!targets) return 0;
    for (int t = 0; t < T; t++)
        if (targets[t] >= V) die(2, "xlstm: targets[%d] = %d is outside the vocabulary [0, %d)", t, targets[t], V);
    return softmax_xent_forward(a->probs, a->logits, targets, T, V);
}

const real *xlstm_logits(const xlstm_model *m) { return m->acts->logits; }

void xlstm_backward(xlstm_model *m, const int *tokens, const int *targets)
{
    const xlstm_config *c = &m->cfg;
    const int B = m->act_B, L = m->act_L, T = B * L, dm = c->d_model, V = c->vocab;
    xlstm_acts *a = m->acts;
    real *dlogits = xcalloc((size_t)T * V, sizeof(real)), *dxf = xcalloc((size_t)T * dm, sizeof(real));
    real *dx = xcalloc((size_t)T * dm, sizeof(real)), *dxp = xmalloc((size_t)T * dm * sizeof(real));
    softmax_xent_backward(dlogits, a->probs, targets, T, V);
    linear_backward(dxf, m->gemb, NULL, dlogits, a->xf, m->emb, T, dm, V);
    layernorm_backward(dx, m->gnorm_f_w, NULL, dxf, a->x + (size_t)c->n_layer * T * dm, m->norm_f_w,
                       a->mean_f, a->rstd_f, T, dm);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        block_acts ba;
        carve(c, c->is_slstm[l], B, L, a->block[l], &ba);
        memset(dxp, 0, (size_t)T * dm * sizeof(real));
        const real *xl = a->x + (size_t)l * T * dm;
        if (c->is_slstm[l]) slstm_block_backward(m, l, xl, dx, B, L, dxp, &ba);
        else mlstm_block_backward(m, l, xl, dx, B, L, dxp, &ba);
        memcpy(dx, dxp, (size_t)T * dm * sizeof(real));
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < dm; i++) m->gemb[(size_t)tokens[t] * dm + i] += dx[(size_t)t * dm + i];
    free(dlogits); free(dxf); free(dx); free(dxp);
}

/* =====================================================================================
 * Training step */

void xlstm_opt_init(xlstm_opt *o, const xlstm_model *m) { adamw_init(o, m->n_params); }

void xlstm_opt_free(xlstm_opt *o) { adamw_free(o); }

double xlstm_opt_step(xlstm_model *m, xlstm_opt *o, const xlstm_train_cfg *tc)
{
    return adamw_step(o, m->t, m->n_tensors, m->params, m->grads, m->n_params, tc);
}
