/* common/nn.c — the training toolkit (see nn.h). Written in `real`, so one source
 * serves float builds (training) and double builds (gradient checks). */
#include "common/nn.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "common/util.h"

#ifdef REAL_F64
#define GEMM cblas_dgemm
#else
#define GEMM cblas_sgemm
#endif

/* ---------------- linear ---------------- */

void linear_forward(real *y, const real *x, const real *W, const real *b, int T, int in, int out) {
    /* y = x Wᵀ: (T×in)(in×out) */
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1, x, in, W, in, 0, y, out);
    if (b)
        for (int t = 0; t < T; t++)
            for (int o = 0; o < out; o++) y[(size_t)t * out + o] += b[o];
}

void linear_backward(real *dx, real *dW, real *db, const real *dy, const real *x, const real *W, int T, int in,
                     int out) {
    if (dx) GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1, dy, out, W, in, 1, dx, in);   /* dx += dy W */
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, T, 1, dy, out, x, in, 1, dW, in);             /* dW += dyᵀ x */
    if (db)
        for (int t = 0; t < T; t++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)t * out + o];
}

/* ---------------- RMSNorm ---------------- */

void rmsnorm_forward(real *y, real *rstd, const real *x, const real *w, int T, int C, real eps) {
    for (int t = 0; t < T; t++) {
        const real *xt = x + (size_t)t * C;
        real ss = 0;
        for (int c = 0; c < C; c++) ss += xt[c] * xt[c];
        real r = 1 / sqrt(ss / C + eps);
        rstd[t] = r;
        for (int c = 0; c < C; c++) y[(size_t)t * C + c] = xt[c] * r * w[c];
    }
}

/* With x̂ = x·r, r = (mean(x²)+eps)^(-1/2):  dx = r·(g − x̂·mean(g·x̂)),  g = dy ⊙ w. */
void rmsnorm_backward(real *dx, real *dw, const real *dy, const real *x, const real *w, const real *rstd, int T,
                      int C) {
    for (int t = 0; t < T; t++) {
        const real *xt = x + (size_t)t * C, *dyt = dy + (size_t)t * C;
        real r = rstd[t], dot = 0;
        for (int c = 0; c < C; c++) dot += dyt[c] * w[c] * xt[c] * r;
        dot /= C;
        for (int c = 0; c < C; c++) {
            real xhat = xt[c] * r;
            dw[c] += dyt[c] * xhat;
            dx[(size_t)t * C + c] += r * (dyt[c] * w[c] - xhat * dot);
        }
    }
}

/* ---------------- LayerNorm ---------------- */

void layernorm_forward(real *y, real *mean, real *rstd, const real *x, const real *w, const real *b, int T, int C,
                       real eps) {
    for (int t = 0; t < T; t++) {
        const real *xt = x + (size_t)t * C;
        real m = 0, v = 0;
        for (int c = 0; c < C; c++) m += xt[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (xt[c] - m) * (xt[c] - m);
        v /= C;
        real r = 1 / sqrt(v + eps);
        mean[t] = m;
        rstd[t] = r;
        for (int c = 0; c < C; c++) y[(size_t)t * C + c] = (xt[c] - m) * r * w[c] + (b ? b[c] : 0);
    }
}

/* dx = r·(g − mean(g) − x̂·mean(g·x̂)),  g = dy ⊙ w. */
void layernorm_backward(real *dx, real *dw, real *db, const real *dy, const real *x, const real *w,
                        const real *mean, const real *rstd, int T, int C) {
    for (int t = 0; t < T; t++) {
        const real *xt = x + (size_t)t * C, *dyt = dy + (size_t)t * C;
        real m = mean[t], r = rstd[t], gmean = 0, gxmean = 0;
        for (int c = 0; c < C; c++) {
            real g = dyt[c] * w[c], xhat = (xt[c] - m) * r;
            gmean += g;
            gxmean += g * xhat;
        }
        gmean /= C;
        gxmean /= C;
        for (int c = 0; c < C; c++) {
            real xhat = (xt[c] - m) * r;
            dw[c] += dyt[c] * xhat;
            if (db) db[c] += dyt[c];
            dx[(size_t)t * C + c] += r * (dyt[c] * w[c] - gmean - xhat * gxmean);
        }
    }
}

/* ---------------- pointwise ---------------- */

real sigmoid(real x) { return 1 / (1 + exp(-x)); }
real silu(real x) { return x * sigmoid(x); }
real silu_grad(real x) { real s = sigmoid(x); return s * (1 + x * (1 - s)); }
real softplus(real x) { return x > 20 ? x : log1p(exp(x)); }
real softplus_grad(real x) { return x > 20 ? 1 : sigmoid(x); }

#define GELU_K 0.7978845608028654   /* sqrt(2/π) */
real gelu(real x) { return (real)0.5 * x * (1 + tanh((real)GELU_K * (x + (real)0.044715 * x * x * x))); }
real gelu_grad(real x) {
    real u = (real)GELU_K * (x + (real)0.044715 * x * x * x), th = tanh(u);
    real du = (real)GELU_K * (1 + 3 * (real)0.044715 * x * x);
    return (real)0.5 * (1 + th) + (real)0.5 * x * (1 - th * th) * du;
}

/* ---------------- losses ---------------- */

double softmax_xent_forward(real *probs, const real *logits, const int *targets, int T, int V) {
    double loss = 0;
    int n = 0;
    for (int t = 0; t < T; t++) {
        const real *l = logits + (size_t)t * V;
        real *p = probs + (size_t)t * V;
        real mx = l[0];
        for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;   /* subtract the max: no overflow */
        real s = 0;
        for (int v = 0; v < V; v++) s += (p[v] = exp(l[v] - mx));
        for (int v = 0; v < V; v++) p[v] /= s;
        if (targets[t] >= 0) {
            loss -= (double)(l[targets[t]] - mx) - log((double)s);
            n++;
        }
    }
    return n ? loss / n : 0.0;
}

void softmax_xent_backward(real *dlogits, const real *probs, const int *targets, int T, int V) {
    int n = 0;
    for (int t = 0; t < T; t++) n += targets[t] >= 0;
    if (!n) return;
    real inv = (real)1 / n;
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue;
        for (int v = 0; v < V; v++)
            dlogits[(size_t)t * V + v] += (probs[(size_t)t * V + v] - (v == targets[t])) * inv;
    }
}

double mse_forward(const real *y, const real *t, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)y[i] - t[i]) * ((double)y[i] - t[i]);
    return n ? s / (double)n : 0.0;
}

void mse_backward(real *dy, const real *y, const real *t, size_t n) {
    for (size_t i = 0; i < n; i++) dy[i] += 2 * (y[i] - t[i]) / (real)n;
}

/* ---------------- optimizer ---------------- */

void adamw_update(real *p, const real *g, real *m, real *v, size_t n, int t, const adamw_cfg *cfg, real lr_scale,
                  int decay) {
    real lr = cfg->lr * lr_scale;
    real bc1 = 1 - pow(cfg->beta1, (real)t), bc2 = 1 - pow(cfg->beta2, (real)t);
    for (size_t i = 0; i < n; i++) {
        m[i] = cfg->beta1 * m[i] + (1 - cfg->beta1) * g[i];
        v[i] = cfg->beta2 * v[i] + (1 - cfg->beta2) * g[i] * g[i];
        real mhat = m[i] / bc1, vhat = v[i] / bc2;
        /* Decoupled weight decay: shrink the weight itself, not through the gradient. */
        p[i] -= lr * (mhat / (sqrt(vhat) + cfg->eps) + (decay ? cfg->weight_decay * p[i] : 0));
    }
}

void nn_fill_uniform(rng_t *r, real *x, size_t n, double bound) {
    for (size_t i = 0; i < n; i++) x[i] = (real)rng_uniform_range(r, -bound, bound);
}

size_t nn_tensor_add(nn_tensor *t, int *n, int max, size_t *n_params, const char *name, int ndim,
                     const size_t *shape, int decay) {
    if (*n >= max || ndim < 1 || ndim > NN_TENSOR_MAX_DIMS)
        die(2, "parameter table: no room for '%s' (%d of %d tensors) or rank %d", name, *n, max, ndim);
    nn_tensor *e = &t[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    e->size = 1;
    for (int k = 0; k < ndim; k++) e->size *= (e->shape[k] = shape[k]);
    e->offset = *n_params;
    e->decay = decay;
    *n_params += e->size;
    return e->offset;
}

void adamw_init(adamw_state *o, size_t n_params) {
    o->m = xcalloc(n_params ? n_params : 1, sizeof(real));
    o->v = xcalloc(n_params ? n_params : 1, sizeof(real));
    o->step = 0;
}

void adamw_free(adamw_state *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

double adamw_step(adamw_state *o, const nn_tensor *t, int n_tensors, real *params, real *grads, size_t n_params,
                  const train_cfg *tc) {
    const double norm = grad_clip(grads, n_params, tc->clip);
    o->step++;
    const double lr = lr_schedule(o->step - 1, tc->warmup, tc->steps, tc->lr, tc->lr_min);
    const adamw_cfg ac = {(real)lr, (real)tc->beta1, (real)tc->beta2, (real)1e-8, (real)tc->weight_decay};
    for (int i = 0; i < n_tensors; i++)
        adamw_update(params + t[i].offset, grads + t[i].offset, o->m + t[i].offset, o->v + t[i].offset, t[i].size,
                     o->step, &ac, 1, t[i].decay);
    return norm;
}

double grad_clip(real *g, size_t n, double max_norm) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        real s = (real)(max_norm / norm);
        for (size_t i = 0; i < n; i++) g[i] *= s;
    }
    return norm;
}

double lr_schedule(int step, int warmup, int total, double lr_max, double lr_min) {
    if (warmup > 0 && step < warmup) return lr_max * (step + 1) / warmup;
    if (step >= total) return lr_min;
    double progress = (double)(step - warmup) / (double)(total - warmup > 0 ? total - warmup : 1);
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + cos(3.141592653589793 * progress));
}
