/* 05_selective_s6/s6_problem.c — the selective-scan problem: table, maker, CPU solution. */
#include "05_selective_s6/s6_problem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define AT(f) offsetof(s6_problem, f)
/* name, pattern, output, optional, offset, range, error growth, meaning */
const s6_tensor S6_TENSORS[S6_NTENSORS] = {
    {"u", "batch D L", 0, 0, AT(u), -1, 1, 0, "input u (batch, D, L)"},
    {"delta", "batch D L", 0, 0, AT(delta), -0.5, 0.5, 0,
     "step before bias and softplus: Delta = softplus(delta + delta_bias)"},
    {"A", "D N", 0, 0, AT(A), 0, 0, 0, "A = -exp(A_log) (D, N), negative"},
    {"B", "batch N L", 0, 0, AT(B), -1, 1, 0, "input-dependent B (batch, N, L)"},
    {"C", "batch N L", 0, 0, AT(C), -1, 1, 0, "input-dependent C (batch, N, L)"},
    {"D", "D", 0, 1, AT(Dskip), -1, 1, 0, "skip: y += D u"},
    {"z", "batch D L", 0, 1, AT(z), -2, 2, 0, "gate: out = y * silu(z)"},
    {"delta_bias", "D", 0, 1, AT(delta_bias), 0, 0, 0, "bias of delta, inside the softplus"},
    {"h0", "batch D N", 0, 1, AT(h0), -0.5, 0.5, 0, "initial state (zero when absent)"},
    {"dout", "batch D L", 0, 1, AT(dout), -1, 1, 0, "upstream gradient of out"},
    {"dlast_state", "batch D N", 0, 1, AT(dlast_state), -0.5, 0.5, 0,
     "upstream gradient of last_state"},
    {"out", "batch D L", 1, 0, AT(out), 0, 0, S6_ERR_SCAN, "out = (C h + D u) * silu(z)"},
    {"last_state", "batch D N", 1, 0, AT(last_state), 0, 0, S6_ERR_SCAN, "the state h_{L-1}"},
    {"du", "batch D L", 1, 0, AT(du), 0, 0, S6_ERR_BACKWARD, "d loss / d u"},
    {"ddelta", "batch D L", 1, 0, AT(ddelta), 0, 0, S6_ERR_BACKWARD, "d loss / d delta (raw)"},
    {"dA", "D N", 1, 0, AT(dA), 0, 0, S6_ERR_SUM_BL, "d loss / d A"},
    {"dB", "batch N L", 1, 0, AT(dB), 0, 0, S6_ERR_SUM_D, "d loss / d B"},
    {"dC", "batch N L", 1, 0, AT(dC), 0, 0, S6_ERR_SUM_D, "d loss / d C"},
    {"dD", "D", 1, 0, AT(dDskip), 0, 0, S6_ERR_SUM_BL, "d loss / d D"},
    {"dz", "batch D L", 1, 0, AT(dz), 0, 0, S6_ERR_BACKWARD, "d loss / d z"},
    {"ddelta_bias", "D", 1, 0, AT(ddelta_bias), 0, 0, S6_ERR_SUM_BL, "d loss / d delta_bias"},
    {"dh0", "batch D N", 1, 0, AT(dh0), 0, 0, S6_ERR_BACKWARD, "d loss / d h0"}};
#undef AT

real **s6_slot(s6_problem *p, const s6_tensor *t) { return (real **)((char *)p + t->offset); }

int s6_shape(const s6_problem *p, const s6_tensor *t, size_t shape[3])
{
    if ((p->opts & S6P_LTI) && !strcmp(t->pattern, "batch N L")) {   /* B, C fixed in time */
        shape[0] = (size_t)p->D, shape[1] = (size_t)p->N;
        return 2;
    }
    int n = 0;
    char buf[32], *save = NULL;
    snprintf(buf, sizeof buf, "%s", t->pattern);
    for (char *s = strtok_r(buf, " ", &save); s; s = strtok_r(NULL, " ", &save))
        shape[n++] = !strcmp(s, "batch") ? (size_t)p->batch : !strcmp(s, "D") ? (size_t)p->D
                   : !strcmp(s, "L")     ? (size_t)p->L     : (size_t)p->N;
    return n;
}

size_t s6_numel(const s6_problem *p, const s6_tensor *t)
{
    size_t s[3], n = 1;
    const int nd = s6_shape(p, t, s);
    for (int k = 0; k < nd; k++) n *= s[k];
    return n;
}

void s6_problem_make(s6_problem *p, uint64_t seed, int batch, int D, int L, int N, int opts)
{
    memset(p, 0, sizeof *p);
    p->batch = batch, p->D = D, p->L = L, p->N = N, p->opts = opts;
    p->delta_softplus = (opts & S6P_BIAS) != 0;
    rng_t r;
    rng_seed(&r, seed);
    for (int k = 0; k < S6_NIN; k++) {
        const s6_tensor *t = &S6_TENSORS[k];
        real **x = s6_slot(p, t);
        if ((x == &p->Dskip && !(opts & S6P_D)) || (x == &p->z && !(opts & S6P_Z)) ||
            (x == &p->delta_bias && !(opts & S6P_BIAS)) || (x == &p->h0 && !(opts & S6P_H0)))
            continue;
        const size_t n = s6_numel(p, t);
        *x = xmalloc(n * sizeof(real));
        if (x == &p->A) {   /* S4D-Real, A_n = −(n+1), jittered per channel */
            for (size_t i = 0; i < n; i++)
                (*x)[i] = (real)(-(double)(i % (size_t)N + 1) * rng_uniform_range(&r, 0.5, 1.5));
        } else if (x == &p->delta_bias) {   /* softplus⁻¹(Δ₀), Δ₀ log-uniform in [1e-3, 0.1] */
            for (size_t i = 0; i < n; i++)
                (*x)[i] = (real)log(expm1(exp(rng_uniform_range(&r, log(1e-3), log(0.1)))));
        } else if (x == &p->delta && !(opts & S6P_BIAS)) {   /* Δ itself: positive */
            for (size_t i = 0; i < n; i++) (*x)[i] = (real)rng_uniform_range(&r, 1e-3, 0.1);
        } else {
            for (size_t i = 0; i < n; i++) (*x)[i] = (real)rng_uniform_range(&r, t->lo, t->hi);
        }
    }
}

s6_args s6_problem_args(const s6_problem *p)
{
    const int varying = !(p->opts & S6P_LTI);
    return (s6_args){.batch = p->batch, .D = p->D, .L = p->L, .N = p->N, .u = p->u,
                     .delta = p->delta, .A = p->A, .B = p->B, .C = p->C, .B_varying = varying,
                     .C_varying = varying, .Dskip = p->Dskip, .z = p->z,
                     .delta_bias = p->delta_bias, .delta_softplus = p->delta_softplus,
                     .h0 = p->h0};
}

/* The input a gradient belongs to (NULL for out and last_state). */
static real *const *grad_of(const s6_problem *p, real *const *g)
{
    real *const *in[] = {&p->u, &p->delta, &p->A, &p->B, &p->C, &p->Dskip, &p->z,
                         &p->delta_bias, &p->h0};
    real *const *gr[] = {&p->du, &p->ddelta, &p->dA, &p->dB, &p->dC, &p->dDskip, &p->dz,
                         &p->ddelta_bias, &p->dh0};
    for (int k = 0; k < 9; k++)
        if (g == gr[k]) return in[k];
    return NULL;
}

void s6_problem_alloc_outputs(s6_problem *p)
{
    for (int k = S6_NIN; k < S6_NTENSORS; k++) {
        real **x = s6_slot(p, &S6_TENSORS[k]);
        real *const *in = grad_of(p, x);
        if (!*x && (!in || (*in && p->dout)))   /* a gradient needs its input and dout */
            *x = xcalloc(s6_numel(p, &S6_TENSORS[k]), sizeof(real));
    }
}

void s6_problem_solve(s6_problem *p)
{
    s6_problem_alloc_outputs(p);
    const s6_args a = s6_problem_args(p);
    s6_scan_forward(&a, p->out, p->last_state);
    if (!p->dout) return;
    /* the backward accumulates: start from zero (buffers may hold an earlier solution) */
    s6_grads g = {.du = p->du, .ddelta = p->ddelta, .dA = p->dA, .dB = p->dB, .dC = p->dC,
                  .dDskip = p->dDskip, .dz = p->dz, .ddelta_bias = p->ddelta_bias, .dh0 = p->dh0};
    for (int k = S6_NIN + 2; k < S6_NTENSORS; k++) {
        real **x = s6_slot(p, &S6_TENSORS[k]);
        if (*x) memset(*x, 0, s6_numel(p, &S6_TENSORS[k]) * sizeof(real));
    }
    s6_scan_backward(&a, p->dout, p->dlast_state, &g);
}

void s6_problem_free(s6_problem *p)
{
    for (int k = 0; k < S6_NTENSORS; k++) free(*s6_slot(p, &S6_TENSORS[k]));
    memset(p, 0, sizeof *p);
}

/* Rounding-error growth, counted in roundings of relative size u (the implementation's
 * unit roundoff), norm-wise against the output's largest value:
 *   forward (out, last_state): each step rounds `per_step` times relative to |h| (e^{ΔA},
 *     the two products, the sum: 4 for a CPU float32 scan), and an error made at step s is
 *     still present at every later step (decayed by Ā ≤ 1, never grown): per_step·L; the
 *     readout C·h adds N, the skip and gate a few more: per_step·L + 2N;
 *   backward (du, ddelta, dz, dh0): the states recomputed forward and the adjoint run
 *     backward, each as long: 2·per_step·L + 2N;
 *   dA, dD, ddelta_bias sum batch·L such terms, dB and dC sum D of them: add that count.
 * A bound of this kind holds when the sums are not ill-conditioned (Σ|terms| of the order
 * of |Σ terms|, as for inputs of random sign); a set built so that a gradient cancels to
 * nearly zero can exceed it in any float32 implementation.
 *
 * n·u is the worst case: every rounding at its largest, all of one sign. Rounding errors
 * behave as independent, mean-zero variables (Higham & Mary, "A new approach to
 * probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019, Thm 2.4): n of
 * them accumulate to at most λ√n·u with probability ≥ 1 − 2n·exp(−λ²/2). With λ = 8 an
 * element fails by chance with probability ≤ 2n·e^−32 ≈ 2.5e-14·n: a set of 10⁶ elements
 * with n ~ 10³ with probability ≤ 3e-5 (a union bound). Measured on stage 05's committed
 * set (its float32 outputs against a float64 recomputation): the worst case n·u sits 18–670×
 * above the errors (median 210×), λ√n·u 9–190× (vectors.c has the table's summary). */
double s6_error_terms(const s6_problem *p, const s6_tensor *t, double per_step)
{
    const double fwd = per_step * p->L + 2.0 * p->N, bwd = 2.0 * per_step * p->L + 2.0 * p->N;
    switch (t->terms) {
    case S6_ERR_SCAN: return fwd;
    case S6_ERR_BACKWARD: return bwd;
    case S6_ERR_SUM_BL: return bwd + (double)p->batch * p->L;
    default: return bwd + p->D;
    }
}

/* ---- the problem in a vector set ---- */
int s6_problem_vec_inputs(vec_set *v, s6_problem *p)
{
    const int dumping = vec_dumping(v);
    if (dumping) {
        vec_dim_set(v, "batch", (size_t)p->batch), vec_dim_set(v, "D", (size_t)p->D);
        vec_dim_set(v, "L", (size_t)p->L), vec_dim_set(v, "N", (size_t)p->N);
    } else {
        memset(p, 0, sizeof *p);
    }
    char name[64];
    for (int k = 0; k < S6_NIN; k++) {
        const s6_tensor *t = &S6_TENSORS[k];
        snprintf(name, sizeof name, "scan.%s", t->name);
        /* every input optional to the set: a set without the scan (block or model only) */
        vec_input(v, name, ELEM_REAL, t->pattern, s6_slot(p, t), VEC_OPTIONAL, t->meaning);
    }
    if (!p->u && !p->delta && !p->A && !p->B && !p->C) return 0;   /* no scan in this set */
    p->batch = (int)vec_dim(v, "batch"), p->D = (int)vec_dim(v, "D");
    p->L = (int)vec_dim(v, "L"), p->N = (int)vec_dim(v, "N");
    for (int k = 0; k < 5; k++)   /* u, delta, A, B, C */
        if (!*s6_slot(p, &S6_TENSORS[k])) {
            snprintf(name, sizeof name, "scan.%s", S6_TENSORS[k].name);
            vec_reject(v, name, "missing: the scan needs u, delta, A, B and C");
        }
    double softplus = p->delta_softplus;
    if (!vec_config(v, "delta_softplus", &softplus))
        vec_reject(v, "scan.delta", "config 'delta_softplus' missing from manifest.json (selective_scan_fn's "
                                    "argument: true as Mamba uses it, or false)");
    p->delta_softplus = softplus != 0;
    for (size_t i = 0; i < (size_t)p->D * p->N; i++)
        if (!(p->A[i] < 0)) vec_reject(v, "scan.A", "A[%zu] = %g: expected < 0 (A = -exp(A_log))", i, (double)p->A[i]);
    if (!p->delta_softplus)
        for (size_t i = 0; i < (size_t)p->batch * p->D * p->L; i++) {
            const double dt = p->delta[i] + (p->delta_bias ? p->delta_bias[i / p->L % p->D] : 0.0);
            if (!(dt > 0)) vec_reject(v, "scan.delta", "delta[%zu] + delta_bias = %g: expected > 0 without the softplus", i, dt);
        }
    return 1;
}

void s6_problem_vec_outputs(vec_set *v, const s6_problem *p, double per_step, double unit, double lambda,
                            const char *why)
{
    char name[64], reason[512];
    for (int k = S6_NIN; k < S6_NTENSORS; k++) {
        const s6_tensor *t = &S6_TENSORS[k];
        size_t shape[3] = {0, 0, 0};
        const int nd = s6_shape(p, t, shape);
        const double terms = s6_error_terms(p, t, per_step);
        snprintf(name, sizeof name, "scan.%s", t->name);
        snprintf(reason, sizeof reason, "%s; growth %s: n = %.0f roundings of %.2g at this shape, %s",
                 why, t->terms == S6_ERR_SCAN       ? "per_step*L + 2N (forward)"
                      : t->terms == S6_ERR_BACKWARD ? "2*per_step*L + 2N (forward + adjoint)"
                      : t->terms == S6_ERR_SUM_BL   ? "2*per_step*L + 2N + batch*L (summed over batch, L)"
                                                    : "2*per_step*L + 2N + D (summed over channels)",
                 terms, unit, lambda > 0 ? "probabilistic lambda*sqrt(n)" : "worst case n");
        const double factor = lambda > 0 ? lambda * sqrt(terms) : terms;
        vec_output(v, name, ELEM_REAL, nd, shape, *s6_slot((s6_problem *)p, t),
                   VEC_TOL_MAX(0, factor * unit, reason), t->meaning);
    }
}
