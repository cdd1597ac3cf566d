/* 06_hw_aware_cuda/lm/generate.c — sampling and the generation loop (see generate.h, §G). */
#include "06_hw_aware_cuda/lm/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void gen_scratch_init(gen_scratch *s, int V)
{
    s->V = V;
    s->p = xmalloc((size_t)V * sizeof *s->p);
    s->idx = xmalloc((size_t)V * sizeof *s->idx);
}

void gen_scratch_free(gen_scratch *s)
{
    free(s->p);
    free(s->idx);
    memset(s, 0, sizeof *s);
}

static const double *sort_p;   /* qsort has no context argument */
static int by_prob_desc(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_p[i] != sort_p[j]) return sort_p[i] > sort_p[j] ? -1 : 1;
    return i - j;   /* ties: the smaller id first, so draws are reproducible */
}

static int argmax(const real *x, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* (G.2): the kept tokens s->idx[0..kept) with their renormalised probabilities in s->p. */
static int filter(const real *logits, int V, double T, int top_k, double top_p, gen_scratch *s)
{
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < V; i++) mx = fmax(mx, (double)logits[i] / T);
    for (int i = 0; i < V; i++) {
        s->p[i] = exp((double)logits[i] / T - mx);
        z += s->p[i];
        s->idx[i] = i;
    }
    for (int i = 0; i < V; i++) s->p[i] /= z;
    sort_p = s->p;
    qsort(s->idx, (size_t)V, sizeof *s->idx, by_prob_desc);
    int kept = top_k > 0 && top_k < V ? top_k : V;
    double mass = 0;
    for (int i = 0; i < kept; i++) mass += s->p[s->idx[i]];
    if (top_p < 1) {   /* on the top-k distribution, as transformers applies them in turn */
        double cum = 0;
        int k = 0;
        while (k < kept && cum < top_p * mass) cum += s->p[s->idx[k++]];
        kept = k > 0 ? k : 1;
        mass = cum > 0 ? cum : s->p[s->idx[0]];
    }
    for (int i = 0; i < kept; i++) s->p[s->idx[i]] /= mass;
    return kept;
}

void gen_distribution(const real *logits, int V, double temperature, int top_k, double top_p,
                      gen_scratch *s, double *prob)
{
    memset(prob, 0, (size_t)V * sizeof *prob);
    if (temperature <= 0) { prob[argmax(logits, V)] = 1; return; }
    int kept = filter(logits, V, temperature, top_k, top_p, s);
    for (int i = 0; i < kept; i++) prob[s->idx[i]] = s->p[s->idx[i]];
}

int gen_sample(const real *logits, int V, double temperature, int top_k, double top_p, rng_t *rng,
               gen_scratch *s)
{
    if (temperature <= 0) return argmax(logits, V);
    int kept = filter(logits, V, temperature, top_k, top_p, s);
    double u = rng_uniform(rng), cum = 0;
    for (int i = 0; i < kept; i++) {
        cum += s->p[s->idx[i]];
        if (u < cum) return s->idx[i];
    }
    return s->idx[kept - 1];   /* u within rounding of 1 */
}

void gen_generate(const mamba_model *m, const int32_t *const *prompts, const int *plen, int B,
                  const gen_opts *o, int32_t *out, int *n_out, gen_emit_fn emit, void *ctx)
{
    const int V = m->cfg.vocab, Vs = o->n_valid > 0 && o->n_valid < V ? o->n_valid : V;
    mamba_step_state st;
    mamba_step_init(m, &st, B);
    real *logits = xmalloc((size_t)B * V * sizeof *logits);
    int *tok = xmalloc((size_t)B * sizeof *tok), *done = xcalloc((size_t)B, sizeof *done);
    gen_scratch sc;
    gen_scratch_init(&sc, Vs);
    rng_t rng;
    rng_seed(&rng, o->seed);
    int longest = 0, start = o->eos >= 0 ? o->eos : 0;
    for (int b = 0; b < B; b++) {
        n_out[b] = 0;
        longest = plen[b] > longest ? plen[b] : longest;
        done[b] = o->max_new <= 0;
    }
    if (longest == 0) longest = 1;
    /* step t feeds token t of every sequence: its prompt (G.1), then its own samples (G.3) */
    for (int t = 0;; t++) {
        int active = 0;
        for (int b = 0; b < B; b++) {
            int len = plen[b] > 0 ? plen[b] : 1;
            if (t < len) tok[b] = plen[b] > 0 ? prompts[b][t] : start;
            else if (!done[b]) tok[b] = out[(size_t)b * o->max_new + n_out[b] - 1];
            else tok[b] = start;   /* idle */
            active += !done[b];
        }
        if (!active) break;
        mamba_step(m, &st, tok, logits);
        for (int b = 0; b < B; b++) {
            int len = plen[b] > 0 ? plen[b] : 1;
            if (done[b] || t + 1 < len) continue;   /* still prefilling */
            int id = gen_sample(logits + (size_t)b * V, Vs, o->temperature, o->top_k, o->top_p, &rng, &sc);
            out[(size_t)b * o->max_new + n_out[b]++] = id;
            if (emit) emit(b, id, ctx);
            if (id == o->eos || n_out[b] == o->max_new) done[b] = 1;
        }
    }
    gen_scratch_free(&sc);
    free(logits);
    free(tok);
    free(done);
    mamba_step_free(&st);
}
