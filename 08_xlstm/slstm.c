/* 08_xlstm/slstm.c — the LSTM cell, the sLSTM cell (unstabilized and stabilized), and
 * the sLSTM's backpropagation through time. Equations in slstm.h. */
#include "08_xlstm/slstm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "08_xlstm/mlstm.h"
#include "common/nn.h"
#include "common/util.h"

/* (8.1) */
void lstm_cell(int d, const real *pre, const real *c_prev, real *c, real *h)
{
    for (int j = 0; j < d; j++) {
        real i = sigmoid(pre[j]), f = sigmoid(pre[d + j]), z = tanh(pre[2 * d + j]);
        real o = sigmoid(pre[3 * d + j]);
        c[j] = f * c_prev[j] + i * z;
        h[j] = o * tanh(c[j]);
    }
}

void slstm_check(const slstm_cfg *c)
{
    if (c->d < 1 || c->n_heads < 1 || c->d % c->n_heads)
        die(2, "slstm: d = %d must be a positive multiple of n_heads = %d", c->d, c->n_heads);
}

/* (8.2) the recurrent part, head by head: unit r of head hd sees only its head's hₜ₋₁ */
void slstm_preact(const slstm_cfg *c, const real *wx, const real *R, const real *h_prev,
                  real *pre)
{
    const int d = c->d, NH = c->n_heads, dh = d / NH;
    for (int g = 0; g < 4; g++)
        for (int hd = 0; hd < NH; hd++)
            for (int r = 0; r < dh; r++) {
                const real *row = R + (((size_t)g * NH + hd) * dh + r) * dh;
                real s = wx[(size_t)g * d + hd * dh + r];
                for (int k = 0; k < dh; k++) s += row[k] * h_prev[hd * dh + k];
                pre[(size_t)g * d + hd * dh + r] = s;
            }
}

/* log fₜ for either forget gate (8.3) */
static real log_forget(const slstm_cfg *c, real fpre)
{
    return c->exp_forget ? fpre : log_sigmoid(fpre);
}

/* (8.3) + (8.4) */
void slstm_step_unstabilized(const slstm_cfg *c, const real *pre, real *cs, real *ns, real *h)
{
    const int d = c->d;
    for (int j = 0; j < d; j++) {
        real i = exp(pre[j]), f = exp(log_forget(c, pre[d + j]));
        real z = tanh(pre[2 * d + j]), o = sigmoid(pre[3 * d + j]);
        cs[j] = f * cs[j] + i * z;
        ns[j] = f * ns[j] + i;
        h[j] = o * cs[j] / ns[j];
    }
}

/* (8.3) + (8.5) + (8.6) */
void slstm_step(const slstm_cfg *c, const real *pre, real *cs, real *ns, real *ms, real *h)
{
    const int d = c->d;
    for (int j = 0; j < d; j++) {
        real ig = pre[j], lf = log_forget(c, pre[d + j]);
        real z = tanh(pre[2 * d + j]), o = sigmoid(pre[3 * d + j]);
        real m = fmax(lf + ms[j], ig);                              /* (8.5) */
        real ip = exp(ig - m), fp = exp(lf + ms[j] - m);
        cs[j] = fp * cs[j] + ip * z;                                /* (8.6) */
        ns[j] = fp * ns[j] + ip;
        ms[j] = m;
        h[j] = o * cs[j] / ns[j];
    }
}

size_t slstm_cache_size(const slstm_cfg *c, int L) { return (size_t)7 * L * c->d; }

void slstm_forward(const slstm_cfg *c, int L, const real *wx, const real *R, int stabilized,
                   real *h, real *cache)
{
    slstm_check(c);
    const int d = c->d;
    real *st = xcalloc((size_t)3 * d + 4 * (size_t)d + d, sizeof(real));
    real *cs = st, *ns = cs + d, *ms = ns + d, *pre = ms + d, *h0 = pre + 4 * d;  /* h0 = 0 */
    for (int j = 0; j < d; j++) ms[j] = -INFINITY;   /* m₀ = −∞: the first step sets m₁ = ĩ₁ */
    for (int t = 0; t < L; t++) {
        const real *hp = t ? h + (size_t)(t - 1) * d : h0;
        slstm_preact(c, wx + (size_t)t * 4 * d, R, hp, pre);
        if (stabilized) slstm_step(c, pre, cs, ns, ms, h + (size_t)t * d);
        else slstm_step_unstabilized(c, pre, cs, ns, h + (size_t)t * d);
        if (cache) {
            memcpy(cache + (size_t)t * 4 * d, pre, (size_t)4 * d * sizeof(real));
            real *tail = cache + (size_t)4 * L * d;
            memcpy(tail + (size_t)t * d, cs, (size_t)d * sizeof(real));
            memcpy(tail + (size_t)(L + t) * d, ns, (size_t)d * sizeof(real));
            memcpy(tail + (size_t)(2 * L + t) * d, ms, (size_t)d * sizeof(real));
        }
    }
    free(st);
}

/* Backpropagation through (8.2)–(8.6), step by step from the end:
 *   hₜ = oc̄/n̄:  do = dh c̄/n̄,  dc̄ += dh o/n̄,  dn̄ −= dh o c̄/n̄²
 *   c̄ₜ = f′c̄ₜ₋₁ + i′z, n̄ₜ = f′n̄ₜ₋₁ + i′:  di′ = dc̄ z + dn̄,  dz = dc̄ i′,
 *       df′ = dc̄ c̄ₜ₋₁ + dn̄ n̄ₜ₋₁,  dc̄ₜ₋₁ = dc̄ f′,  dn̄ₜ₋₁ = dn̄ f′
 *   i′ = e^{ĩ−m}: dĩ = di′ i′;  f′ = e^{log f + mₜ₋₁ − mₜ}: df̃ = df′ f′ (d log f/df̃)
 *   z = tanh z̃: dz̃ = dz (1 − z²);  o = σ(õ): dõ = do o (1 − o)
 *   pre = wx + R hₜ₋₁:  dwx += dpre,  dR += dpre hₜ₋₁ᵀ (per head),  dhₜ₋₁ += Rᵀ dpre */
void slstm_backward(const slstm_cfg *c, int L, const real *R, const real *h, const real *cache,
                    const real *dh, real *dwx, real *dR)
{
    slstm_check(c);
    const int d = c->d, NH = c->n_heads, dh_ = d / NH;
    const real *tail = cache + (size_t)4 * L * d;
    const real *cbar = tail, *nbar = tail + (size_t)L * d, *mm = tail + (size_t)2 * L * d;
    real *buf = xcalloc((size_t)8 * d, sizeof(real));
    real *dc = buf, *dn = dc + d, *dhr = dn + d, *dpre = dhr + d;   /* dpre: 4d */
    real *dhr_next = dpre + 4 * d;
    for (int t = L - 1; t >= 0; t--) {
        const real *pre = cache + (size_t)t * 4 * d;
        for (int j = 0; j < d; j++) {
            real ig = pre[j], fpre = pre[d + j];
            real z = tanh(pre[2 * d + j]), o = sigmoid(pre[3 * d + j]);
            real ct = cbar[(size_t)t * d + j], nt = nbar[(size_t)t * d + j], mt = mm[(size_t)t * d + j];
            real cp = t ? cbar[(size_t)(t - 1) * d + j] : 0, np = t ? nbar[(size_t)(t - 1) * d + j] : 0;
            real mp = t ? mm[(size_t)(t - 1) * d + j] : -INFINITY;
            real ip = exp(ig - mt), fp = exp(log_forget(c, fpre) + mp - mt);
            real g = dh[(size_t)t * d + j] + dhr[j];
            real dout = g * ct / nt;
            dc[j] += g * o / nt;
            dn[j] -= g * o * ct / (nt * nt);
            real dip = dc[j] * z + dn[j], dz = dc[j] * ip, dfp = dc[j] * cp + dn[j] * np;
            dpre[j] = dip * ip;
            dpre[d + j] = dfp * fp * (c->exp_forget ? 1 : sigmoid(-fpre));
            dpre[2 * d + j] = dz * (1 - z * z);
            dpre[3 * d + j] = dout * o * (1 - o);
            dc[j] *= fp;
            dn[j] *= fp;
        }
        const real *hp = t ? h + (size_t)(t - 1) * d : NULL;
        memset(dhr_next, 0, (size_t)d * sizeof(real));
        for (int gt = 0; gt < 4; gt++)
            for (int hd = 0; hd < NH; hd++)
                for (int r = 0; r < dh_; r++) {
                    real gp = dpre[(size_t)gt * d + hd * dh_ + r];
                    size_t ro = (((size_t)gt * NH + hd) * dh_ + r) * dh_;
                    for (int k = 0; k < dh_; k++) {
                        if (hp) dR[ro + k] += gp * hp[hd * dh_ + k];
                        dhr_next[hd * dh_ + k] += R[ro + k] * gp;
                    }
                }
        for (int j = 0; j < 4 * d; j++) dwx[(size_t)t * 4 * d + j] += dpre[j];
        memcpy(dhr, dhr_next, (size_t)d * sizeof(real));
    }
    free(buf);
}
