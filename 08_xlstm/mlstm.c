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

/* (8.10) outputs inside a chunk: the carried state's contribution decayed by e^{bₜ}
 * (bₜ the chunk's cumulative log forget) plus the chunk's own parallel form;
 * (8.11) the state at the chunk's end from the same weights at its last step. */
void mlstm_chunkwise(const mlstm_args *a, int chunk, real *h)
{
    check_args(a, "mlstm_chunkwise");
    if (chunk < 1) die(2, "mlstm_chunkwise: chunk must be >= 1, got %d", chunk);
    const int L = a->L, dqk = a->d_qk, dv = a->d_v;
    if (chunk > L) chunk = L;
    real *C = xcalloc((size_t)dv * dqk, sizeof(real)), *n = xcalloc((size_t)dqk, sizeof(real));
    real *b = xmalloc((size_t)(chunk + 1) * sizeof(real)), *w = xmalloc((size_t)chunk * sizeof(real));
    real mC = -INFINITY;                            /* true state = (C̄, n̄) e^{mC}; empty */
    for (int t0 = 0; t0 < L; t0 += chunk) {
        const int c = t0 + chunk <= L ? chunk : L - t0;
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
