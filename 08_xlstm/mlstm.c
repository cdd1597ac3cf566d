/* 08_xlstm/mlstm.c — the mLSTM cell: recurrent, parallel and chunkwise forms, and the
 * backward of the parallel form. See mlstm.h for the equations. */
#include "08_xlstm/mlstm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "common/util.h"

real log_sigmoid(real x)
{
    /* log σ(x) = −log(1 + e^{−x}); for x < 0 write it as x − log(1 + e^{x}) so that the
     * exponential never overflows */
    return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x));
}

static real dot(const real *a, const real *b, int n)
{
    real s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void check_args(const mlstm_args *a, const char *who)
{
    if (a->L < 1 || a->d_qk < 1 || a->d_v < 1)
        die(2, "%s: L, d_qk, d_v must be >= 1, got %d, %d, %d", who, a->L, a->d_qk, a->d_v);
    if (a->ld < a->d_qk || a->ld < a->d_v || a->ldg < 1)
        die(2, "%s: row stride %d is smaller than a row (d_qk %d, d_v %d) or ldg %d < 1", who,
            a->ld, a->d_qk, a->d_v, a->ldg);
}

/* (8.8) h̃ₜ = C̄ₜ qₜ / max(|n̄ₜᵀ qₜ|, e^{−mₜ}) for one step, from the stabilized state. */
static void readout(const real *C, const real *n, real m, const real *q, int dqk, int dv,
                    real *h)
{
    real den = fmax(fabs(dot(n, q, dqk)), exp(-m));
    for (int i = 0; i < dv; i++) h[i] = dot(C + (size_t)i * dqk, q, dqk) / den;
}

/* (8.8) recurrent form: per step, m as in (8.5), then C̄ ← f′C̄ + i′ v kᵀ, n̄ ← f′n̄ + i′k. */
void mlstm_recurrent(const mlstm_args *a, real *h)
{
    check_args(a, "mlstm_recurrent");
    const int dqk = a->d_qk, dv = a->d_v;
    real *C = xcalloc((size_t)dv * dqk, sizeof(real)), *n = xcalloc((size_t)dqk, sizeof(real));
    real m = -INFINITY;                             /* C₀ = 0, n₀ = 0, m₀ = −∞ (slstm.h) */
    for (int t = 0; t < a->L; t++) {
        const real *q = a->q + (size_t)t * a->ld, *k = a->k + (size_t)t * a->ld;
        const real *v = a->v + (size_t)t * a->ld;
        real ig = a->ig[(size_t)t * a->ldg], lf = log_sigmoid(a->fg[(size_t)t * a->ldg]);
        real m_new = fmax(lf + m, ig);              /* (8.5) */
        real fp = exp(lf + m - m_new), ip = exp(ig - m_new);
        for (int i = 0; i < dv; i++)
            for (int j = 0; j < dqk; j++)
                C[(size_t)i * dqk + j] = fp * C[(size_t)i * dqk + j] + ip * v[i] * k[j];
        for (int j = 0; j < dqk; j++) n[j] = fp * n[j] + ip * k[j];
        m = m_new;
        readout(C, n, m, q, dqk, dv, h + (size_t)t * a->ld);
    }
    free(C);
    free(n);
}

/* Cumulative log forget gates F[0] = 0, F[t+1] = F[t] + log σ(f̃ₜ) over n steps. */
static void cumulative_log_forget(const real *fg, int ldg, int n, real *F)
{
    F[0] = 0;
    for (int t = 0; t < n; t++) F[t + 1] = F[t] + log_sigmoid(fg[(size_t)t * ldg]);
}

/* Row t of the parallel form over steps s0..t of a window whose cumulative log forget
 * gates are F (F[s+1−s0] after step s): writes w[s−s0] = e^{D̃ₜₛ − m}(qₜ·kₛ) and returns
 * m = max(extra, maxₛ D̃ₜₛ). `extra` is the log weight of a carried-in state (−∞ if none). */
static real decay_row(const mlstm_args *a, const real *F, int s0, int t, real extra, real *w)
{
    const real *q = a->q + (size_t)t * a->ld;
    const real Ft = F[t + 1 - s0];
    real m = extra;
    for (int s = s0; s <= t; s++) {
        w[s - s0] = Ft - F[s + 1 - s0] + a->ig[(size_t)s * a->ldg];   /* D̃ₜₛ (8.9) */
        if (w[s - s0] > m) m = w[s - s0];
    }
    for (int s = s0; s <= t; s++)
        w[s - s0] = exp(w[s - s0] - m) * dot(q, a->k + (size_t)s * a->ld, a->d_qk);
    return m;
}

/* (8.9) parallel form: the decay matrix D̃ row by row, like causal attention. */
void mlstm_parallel(const mlstm_args *a, real *h)
{
    check_args(a, "mlstm_parallel");
    const int L = a->L, dv = a->d_v;
    real *F = xmalloc((size_t)(L + 1) * sizeof(real));
    cumulative_log_forget(a->fg, a->ldg, L, F);
#pragma omp parallel
    {
        real *w = xmalloc((size_t)L * sizeof(real));
#pragma omp for schedule(dynamic, 8)
        for (int t = 0; t < L; t++) {
            real m = decay_row(a, F, 0, t, -INFINITY, w);
            real den = 0, *ht = h + (size_t)t * a->ld;
            for (int i = 0; i < dv; i++) ht[i] = 0;
            for (int s = 0; s <= t; s++) {
                den += w[s];
                const real *v = a->v + (size_t)s * a->ld;
                for (int i = 0; i < dv; i++) ht[i] += w[s] * v[i];
            }
            den = fmax(fabs(den), exp(-m));
            for (int i = 0; i < dv; i++) ht[i] /= den;
        }
        free(w);
    }
    free(F);
}

/* What the chunkwise backward keeps from its forward: per row the stabilizer mₜ and the
 * signed denominator denₜ (before the max with e^{−mₜ}); per chunk the state before it
 * (C̄ (d_v × d_qk), n̄, m). */
typedef struct {
    real *m, *den;          /* (L) */
    real *C, *n, *mC;       /* (NC, d_v·d_qk), (NC, d_qk), (NC) */
} chunk_saved;

/* (8.10) outputs inside a chunk: the carried state's contribution decayed by e^{bₜ}
 * (bₜ the chunk's cumulative log forget) plus the chunk's own parallel form;
 * (8.11) the state at the chunk's end from the same weights at its last step. */
static void chunkwise_forward(const mlstm_args *a, int chunk, real *h, chunk_saved *sv)
{
    const int L = a->L, dqk = a->d_qk, dv = a->d_v;
    real *C = xcalloc((size_t)dv * dqk, sizeof(real)), *n = xcalloc((size_t)dqk, sizeof(real));
    real *b = xmalloc((size_t)(chunk + 1) * sizeof(real)), *w = xmalloc((size_t)chunk * sizeof(real));
    real mC = -INFINITY;                            /* true state = (C̄, n̄) e^{mC}; empty */
    for (int t0 = 0; t0 < L; t0 += chunk) {
        const int c = t0 + chunk <= L ? chunk : L - t0;
        if (sv) {
            const int kc = t0 / chunk;
            memcpy(sv->C + (size_t)kc * dv * dqk, C, (size_t)dv * dqk * sizeof(real));
            memcpy(sv->n + (size_t)kc * dqk, n, (size_t)dqk * sizeof(real));
            sv->mC[kc] = mC;
        }
        cumulative_log_forget(a->fg + (size_t)t0 * a->ldg, a->ldg, c, b);
        for (int t = t0; t < t0 + c; t++) {        /* (8.10) */
            const real *q = a->q + (size_t)t * a->ld;
            const real inter = b[t + 1 - t0] + mC;  /* log weight of the carried state */
            real m = decay_row(a, b, t0, t, inter, w);
            real g = exp(inter - m), den = g * dot(n, q, dqk), *ht = h + (size_t)t * a->ld;
            for (int i = 0; i < dv; i++) ht[i] = g * dot(C + (size_t)i * dqk, q, dqk);
            for (int s = t0; s <= t; s++) {
                den += w[s - t0];
                const real *v = a->v + (size_t)s * a->ld;
                for (int i = 0; i < dv; i++) ht[i] += w[s - t0] * v[i];
            }
            if (sv) {
                sv->m[t] = m;
                sv->den[t] = den;
            }
            den = fmax(fabs(den), exp(-m));
            for (int i = 0; i < dv; i++) ht[i] /= den;
        }
        /* (8.11) state after the chunk: m_new = max(b_c + mC, maxₛ b_c − bₛ + ĩₛ) */
        const real inter = b[c] + mC;
        real m_new = inter;
        for (int s = 0; s < c; s++) {
            w[s] = b[c] - b[s + 1] + a->ig[(size_t)(t0 + s) * a->ldg];
            if (w[s] > m_new) m_new = w[s];
        }
        const real g = exp(inter - m_new);
        for (int s = 0; s < c; s++) w[s] = exp(w[s] - m_new);
        for (int i = 0; i < dv; i++)
            for (int j = 0; j < dqk; j++) {
                real acc = g * C[(size_t)i * dqk + j];
                for (int s = 0; s < c; s++)
                    acc += w[s] * a->v[(size_t)(t0 + s) * a->ld + i] * a->k[(size_t)(t0 + s) * a->ld + j];
                C[(size_t)i * dqk + j] = acc;
            }
        for (int j = 0; j < dqk; j++) {
            real acc = g * n[j];
            for (int s = 0; s < c; s++) acc += w[s] * a->k[(size_t)(t0 + s) * a->ld + j];
            n[j] = acc;
        }
        mC = m_new;
    }
    free(C); free(n); free(b); free(w);
}

void mlstm_chunkwise(const mlstm_args *a, int chunk, real *h)
{
    check_args(a, "mlstm_chunkwise");
    if (chunk < 1) die(2, "mlstm_chunkwise: chunk must be >= 1, got %d", chunk);
    chunkwise_forward(a, chunk > a->L ? a->L : chunk, h, NULL);
}

/* (8.15)–(8.17) the chunkwise backward. Per row (m held fixed, as in the parallel backward):
 *   βₜ = max(|denₜ|, e^{−mₜ}),  dnumₜ = dh̃ₜ/βₜ,  ddenₜ = −sign(denₜ)(dh̃ₜ·h̃ₜ)/βₜ if |denₜ| wins;
 * with Wₜₛ = e^{Fₜ − Fₛ + ĩₛ − mₜ} and dPₜₛ = dnumₜ·vₛ + ddenₜ, the gradients are sums over
 * the pairs s ≤ t, split three ways:
 *   s, t in the same chunk      the chunk's c×c matrices Aₜₛ = Wₜₛ dPₜₛ, Pₜₛ = Wₜₛ (qₜ·kₛ):
 *                               dqₜ += Σₛ Aₜₛ kₛ,  dkₛ += Σₜ Aₜₛ qₜ,  dvₛ += Σₜ Pₜₛ dnumₜ
 *   s in an earlier chunk       through the forward state before t's chunk (8.11):
 *                               dqₜ += gₜ (C̄ᵀ dnumₜ + ddenₜ n̄),  gₜ = e^{Fₜ − F_start + m_C − mₜ}
 *   t in a later chunk          through the REVERSE state after s's chunk,
 *                               dC̄ = Σ_{t later} e^{Fₜ − F_end − mₜ − μ} dnumₜ qₜᵀ (dn̄: ddenₜ qₜ),
 *                               carried from the last chunk back with its own stabilizer μ:
 *                               dkₛ += γₛ (dC̄ᵀ vₛ + dn̄),  dvₛ += γₛ dC̄ kₛ,  γₛ = e^{F_end − Fₛ + ĩₛ + μ}
 * (every weight ≤ 1: γₛ = maxₜ Wₜₛ over the later t). The gates need no pairs at all:
 *   dĩₛ = kₛ·dkₛ (the column sums of dD̃),  dFₜ = qₜ·dqₜ − kₜ·dkₜ (row minus column sums),
 *   d log fⱼ = Σ_{t≥j} dFₜ,  df̃ⱼ = σ(−f̃ⱼ) d log fⱼ.
 * O(L c d + L d²) like the forward; the GPU backward is this function, chunk by chunk. */
void mlstm_chunkwise_backward(const mlstm_args *a, int chunk, const real *dh, mlstm_grads *g)
{
    check_args(a, "mlstm_chunkwise_backward");
    if (chunk < 1) die(2, "mlstm_chunkwise_backward: chunk must be >= 1, got %d", chunk);
    const int L = a->L, dqk = a->d_qk, dv = a->d_v, ld = a->ld;
    if (chunk > L) chunk = L;
    const int NC = (L + chunk - 1) / chunk;
    const size_t S = (size_t)dv * dqk;
    chunk_saved sv = {xmalloc((size_t)L * sizeof(real)), xmalloc((size_t)L * sizeof(real)),
                      xmalloc(NC * S * sizeof(real)), xmalloc((size_t)NC * dqk * sizeof(real)),
                      xmalloc((size_t)NC * sizeof(real))};
    real *h = xmalloc((size_t)L * ld * sizeof(real)), *F = xmalloc((size_t)(L + 1) * sizeof(real));
    chunkwise_forward(a, chunk, h, &sv);
    cumulative_log_forget(a->fg, a->ldg, L, F);
    /* per row: dnum (L × d_v), dden */
    real *dnum = xmalloc((size_t)L * dv * sizeof(real)), *dden = xmalloc((size_t)L * sizeof(real));
    for (int t = 0; t < L; t++) {
        const real *dht = dh + (size_t)t * ld, *ht = h + (size_t)t * ld;
        const real beta = fmax(fabs(sv.den[t]), exp(-sv.m[t]));
        for (int i = 0; i < dv; i++) dnum[(size_t)t * dv + i] = dht[i] / beta;
        const real dhh = dot(dht, ht, dv) / beta;
        dden[t] = fabs(sv.den[t]) >= exp(-sv.m[t]) ? (sv.den[t] >= 0 ? -dhh : dhh) : 0;
    }
    /* (8.16) the reverse state after each chunk: dC (NC, d_v·d_qk), dn (NC, d_qk), mu (NC) */
    real *dC = xmalloc(NC * S * sizeof(real)), *dn = xmalloc((size_t)NC * dqk * sizeof(real));
    real *mu = xmalloc((size_t)NC * sizeof(real)), *wt = xmalloc((size_t)chunk * sizeof(real));
    {
        real *C = xcalloc(S, sizeof(real)), *n = xcalloc((size_t)dqk, sizeof(real)), m = -INFINITY;
        for (int kc = NC - 1; kc >= 0; kc--) {
            memcpy(dC + kc * S, C, S * sizeof(real));
            memcpy(dn + (size_t)kc * dqk, n, (size_t)dqk * sizeof(real));
            mu[kc] = m;
            const int t0 = kc * chunk, c = t0 + chunk <= L ? chunk : L - t0;
            const real bc = F[t0 + c] - F[t0];
            real mn = bc + m;                      /* the carried state, decayed over this chunk */
            for (int t = 0; t < c; t++) {
                wt[t] = F[t0 + t + 1] - F[t0] - sv.m[t0 + t];
                if (wt[t] > mn) mn = wt[t];
            }
            const real al = exp(bc + m - mn);
            for (int t = 0; t < c; t++) wt[t] = exp(wt[t] - mn);
            for (int i = 0; i < dv; i++)
                for (int j = 0; j < dqk; j++) {
                    real acc = al * C[(size_t)i * dqk + j];
                    for (int t = 0; t < c; t++)
                        acc += wt[t] * dnum[(size_t)(t0 + t) * dv + i] * a->q[(size_t)(t0 + t) * ld + j];
                    C[(size_t)i * dqk + j] = acc;
                }
            for (int j = 0; j < dqk; j++) {
                real acc = al * n[j];
                for (int t = 0; t < c; t++) acc += wt[t] * dden[t0 + t] * a->q[(size_t)(t0 + t) * ld + j];
                n[j] = acc;
            }
            m = mn;
        }
        free(C);
        free(n);
    }
    /* (8.15) per chunk: dq, dk, dv into local buffers (the gate gradients need them whole) */
    real *gq = xcalloc((size_t)L * dqk, sizeof(real)), *gk = xcalloc((size_t)L * dqk, sizeof(real));
    real *gv = xcalloc((size_t)L * dv, sizeof(real));
    real *A = xmalloc((size_t)chunk * chunk * sizeof(real)), *P = xmalloc((size_t)chunk * chunk * sizeof(real));
    for (int kc = 0; kc < NC; kc++) {
        const int t0 = kc * chunk, c = t0 + chunk <= L ? chunk : L - t0;
        const real *C = sv.C + kc * S, *n = sv.n + (size_t)kc * dqk, *Cr = dC + kc * S, *nr = dn + (size_t)kc * dqk;
        for (int t = 0; t < c; t++)
            for (int s = 0; s <= t; s++) {
                const real W = exp(F[t0 + t + 1] - F[t0 + s + 1] + a->ig[(size_t)(t0 + s) * a->ldg] - sv.m[t0 + t]);
                const real *qt = a->q + (size_t)(t0 + t) * ld, *ks = a->k + (size_t)(t0 + s) * ld;
                A[t * chunk + s] = W * (dot(dnum + (size_t)(t0 + t) * dv, a->v + (size_t)(t0 + s) * ld, dv) + dden[t0 + t]);
                P[t * chunk + s] = W * dot(qt, ks, dqk);
            }
        for (int r = 0; r < c; r++) {
            const int t = t0 + r;
            const real gt = exp(F[t + 1] - F[t0] + sv.mC[kc] - sv.m[t]);
            const real gs = exp(F[t0 + c] - F[t + 1] + a->ig[(size_t)t * a->ldg] + mu[kc]);
            const real *dnt = dnum + (size_t)t * dv, *vt = a->v + (size_t)t * ld, *kt = a->k + (size_t)t * ld;
            for (int j = 0; j < dqk; j++) {
                real aq = 0, ak = 0, iq = dden[t] * n[j], ik = nr[j];
                for (int s = 0; s <= r; s++) aq += A[r * chunk + s] * a->k[(size_t)(t0 + s) * ld + j];
                for (int u = r; u < c; u++) ak += A[u * chunk + r] * a->q[(size_t)(t0 + u) * ld + j];
                for (int i = 0; i < dv; i++) {
                    iq += C[(size_t)i * dqk + j] * dnt[i];
                    ik += Cr[(size_t)i * dqk + j] * vt[i];
                }
                gq[(size_t)t * dqk + j] = aq + (gt > 0 ? gt * iq : 0);
                gk[(size_t)t * dqk + j] = ak + (gs > 0 ? gs * ik : 0);
            }
            for (int i = 0; i < dv; i++) {
                real av = 0;
                for (int u = r; u < c; u++) av += P[u * chunk + r] * dnum[(size_t)(t0 + u) * dv + i];
                gv[(size_t)t * dv + i] = av + (gs > 0 ? gs * dot(Cr + (size_t)i * dqk, kt, dqk) : 0);
            }
        }
    }
    real acc = 0;                    /* (8.17) gates, from the end: d log fⱼ = Σ_{t≥j} dFₜ */
    for (int t = L - 1; t >= 0; t--) {
        const real kdk = dot(a->k + (size_t)t * ld, gk + (size_t)t * dqk, dqk);
        acc += dot(a->q + (size_t)t * ld, gq + (size_t)t * dqk, dqk) - kdk;
        if (g->dig) g->dig[(size_t)t * a->ldg] += kdk;
        if (g->dfg) g->dfg[(size_t)t * a->ldg] += acc / (1 + exp(a->fg[(size_t)t * a->ldg]));
    }
    for (int t = 0; t < L; t++) {
        for (int j = 0; j < dqk; j++) {
            if (g->dq) g->dq[(size_t)t * ld + j] += gq[(size_t)t * dqk + j];
            if (g->dk) g->dk[(size_t)t * ld + j] += gk[(size_t)t * dqk + j];
        }
        if (g->dv)
            for (int i = 0; i < dv; i++) g->dv[(size_t)t * ld + i] += gv[(size_t)t * dv + i];
    }
    free(sv.m); free(sv.den); free(sv.C); free(sv.n); free(sv.mC); free(h); free(F); free(dnum);
    free(dden); free(dC); free(dn); free(mu); free(wt); free(gq); free(gk); free(gv); free(A); free(P);
}

/* Backward of (8.9). With Pₜₛ = e^{D̃ₜₛ−mₜ} Sₜₛ, Sₜₛ = qₜ·kₛ, numₜ = Σₛ Pₜₛ vₛ,
 * denₜ = Σₛ Pₜₛ, βₜ = max(|denₜ|, e^{−mₜ}), h̃ₜ = numₜ/βₜ:
 *   dnumₜ = dh̃ₜ/βₜ,  dβₜ = −dh̃ₜ·numₜ/βₜ²,  ddenₜ = dβₜ sign(denₜ) where |denₜ| wins the max,
 *   dPₜₛ = dnumₜ·vₛ + ddenₜ,  dvₛ += Σₜ Pₜₛ dnumₜ,
 *   dSₜₛ = dPₜₛ e^{D̃ₜₛ−mₜ} → dqₜ += Σₛ dSₜₛ kₛ, dkₛ += Σₜ dSₜₛ qₜ,
 *   dD̃ₜₛ = dPₜₛ Pₜₛ → dĩₛ += Σₜ dD̃ₜₛ, dFₜ += Σₛ dD̃ₜₛ, dFₛ −= Σₜ dD̃ₜₛ,
 *   d log fⱼ = Σ_{t≥j} dFₜ,  df̃ⱼ = d log fⱼ · σ(−f̃ⱼ). */
void mlstm_parallel_backward(const mlstm_args *a, const real *dh, mlstm_grads *g)
{
    check_args(a, "mlstm_parallel_backward");
    const int L = a->L, dqk = a->d_qk, dv = a->d_v;
    real *F = xmalloc((size_t)(L + 1) * sizeof(real)), *w = xmalloc((size_t)L * sizeof(real));
    real *E = xmalloc((size_t)L * sizeof(real)), *dS = xmalloc((size_t)L * L * sizeof(real));
    real *dF = xcalloc((size_t)L + 1, sizeof(real)), *num = xmalloc((size_t)dv * sizeof(real));
    cumulative_log_forget(a->fg, a->ldg, L, F);
    for (int t = 0; t < L; t++) {
        const real *q = a->q + (size_t)t * a->ld, *dht = dh + (size_t)t * a->ld;
        real m = decay_row(a, F, 0, t, -INFINITY, w);       /* w = P row t */
        real den = 0;
        for (int i = 0; i < dv; i++) num[i] = 0;
        for (int s = 0; s <= t; s++) {
            E[s] = exp(F[t + 1] - F[s + 1] + a->ig[(size_t)s * a->ldg] - m);
            den += w[s];
            for (int i = 0; i < dv; i++) num[i] += w[s] * a->v[(size_t)s * a->ld + i];
        }
        const real beta = fmax(fabs(den), exp(-m));
        real dbeta = -dot(dht, num, dv) / (beta * beta);
        real dden = fabs(den) >= exp(-m) ? (den >= 0 ? dbeta : -dbeta) : 0;
        for (int s = 0; s <= t; s++) {
            const real *v = a->v + (size_t)s * a->ld;
            real dP = dot(dht, v, dv) / beta + dden;
            if (g->dv)
                for (int i = 0; i < dv; i++) g->dv[(size_t)s * a->ld + i] += w[s] * dht[i] / beta;
            dS[(size_t)t * L + s] = dP * E[s];
            real dD = dP * w[s];
            dF[t + 1] += dD;
            dF[s + 1] -= dD;
            if (g->dig) g->dig[(size_t)s * a->ldg] += dD;
        }
        if (g->dq)
            for (int s = 0; s <= t; s++)
                for (int j = 0; j < dqk; j++)
                    g->dq[(size_t)t * a->ld + j] += dS[(size_t)t * L + s] * a->k[(size_t)s * a->ld + j];
        (void)q;
    }
    if (g->dk)
        for (int s = 0; s < L; s++)
            for (int t = s; t < L; t++) {
                const real *q = a->q + (size_t)t * a->ld;
                for (int j = 0; j < dqk; j++) g->dk[(size_t)s * a->ld + j] += dS[(size_t)t * L + s] * q[j];
            }
    if (g->dfg) {
        real acc = 0;                               /* reverse cumulative sum of dF */
        for (int j = L - 1; j >= 0; j--) {
            acc += dF[j + 1];
            g->dfg[(size_t)j * a->ldg] += acc * (1 / (1 + exp(a->fg[(size_t)j * a->ldg])));
        }
    }
    free(F); free(w); free(E); free(dS); free(dF); free(num);
}
