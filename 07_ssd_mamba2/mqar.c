/* 07_ssd_mamba2/mqar.c — the MQAR task (see mqar.h). */
#include "07_ssd_mamba2/mqar.h"

#include <stdlib.h>

#include "common/rng.h"
#include "common/util.h"

void mqar_check(mqar_cfg *c)
{
    if (c->vocab < 4 || c->vocab % 2 || c->vocab > (1 << 24))
        die(2, "mqar: vocab must be even and in [4, 2^24], got %d", c->vocab);
    if (c->n_pairs < 1 || c->n_pairs > c->vocab / 2 - 1)
        die(2, "mqar: n_pairs must be in [1, vocab/2 - 1 = %d] (distinct keys), got %d", c->vocab / 2 - 1, c->n_pairs);
    if (c->n_queries == 0) c->n_queries = c->n_pairs;
    if (c->n_queries < 1 || c->n_queries > c->n_pairs)
        die(2, "mqar: n_queries must be in [1, n_pairs = %d], got %d", c->n_pairs, c->n_queries);
    if (c->L < 2 * c->n_pairs + c->n_queries || c->L > (1 << 24))
        die(2, "mqar: L must be in [2*n_pairs + n_queries = %d, 2^24], got %d", 2 * c->n_pairs + c->n_queries, c->L);
}

/* k distinct integers from [0, n), in random order (a partial Fisher–Yates shuffle of
 * pool, which holds n entries of scratch). */
static void draw_distinct(rng_t *r, int n, int k, int *pool, int *out)
{
    for (int i = 0; i < n; i++) pool[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)rng_below(r, (uint64_t)(n - i)), t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
        out[i] = pool[i];
    }
}

void mqar_batch(const mqar_cfg *c, uint64_t seed, long step, int B, int32_t *tok, int32_t *tgt)
{
    mqar_cfg cc = *c;
    mqar_check(&cc);
    if (B < 1) die(2, "mqar: batch size must be >= 1, got %d", B);
    const int V = cc.vocab, K = cc.n_pairs, Q = cc.n_queries, L = cc.L, half = V / 2;
    const int nq = L - 2 * K;                       /* length of the query section */
    const int npool = (half - 1 > nq ? half - 1 : nq);
    int *pool = xmalloc((size_t)npool * sizeof(int)), *key = xmalloc((size_t)K * sizeof(int)),
        *val = xmalloc((size_t)K * sizeof(int)), *which = xmalloc((size_t)Q * sizeof(int)),
        *pos = xmalloc((size_t)Q * sizeof(int));
    rng_t r;
    rng_seed(&r, seed * 0xD1B54A32D192ED03ull + (uint64_t)step);   /* (seed, step) → stream */
    for (int b = 0; b < B; b++) {
        int32_t *x = tok + (size_t)b * L, *y = tgt + (size_t)b * L;
        draw_distinct(&r, half - 1, K, pool, key);                 /* keys 1 … V/2−1 */
        for (int i = 0; i < K; i++) {
            key[i] += 1;
            val[i] = half + (int)rng_below(&r, (uint64_t)(V - half));
            x[2 * i] = key[i];
            x[2 * i + 1] = val[i];
            y[2 * i] = y[2 * i + 1] = -1;
        }
        for (int i = 2 * K; i < L; i++) { x[i] = 0; y[i] = -1; }
        draw_distinct(&r, K, Q, pool, which);                       /* which keys are asked */
        draw_distinct(&r, nq, Q, pool, pos);                        /* where */
        for (int i = 0; i < Q; i++) {
            x[2 * K + pos[i]] = key[which[i]];
            y[2 * K + pos[i]] = val[which[i]];
        }
    }
    free(pos); free(which); free(val); free(key); free(pool);
}

void mqar_score(const int32_t *tgt, size_t n, const real *logits, int V, long *hits, long *scored)
{
    for (size_t i = 0; i < n; i++) {
        if (tgt[i] < 0) continue;
        const real *row = logits + i * (size_t)V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        *hits += best == tgt[i];
        (*scored)++;
    }
}
