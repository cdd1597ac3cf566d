/* 07_ssd_mamba2/mqar.h — multi-query associative recall (MQAR), the synthetic task of
 * Zoology (Arora et al. 2023) and the Mamba-2 paper (§9.1): a sequence starts with K
 * key–value pairs, then holds queries — keys seen before — at which the model must
 * output the value paired with that key in the context.
 *
 *   tokens   k_1 v_1 k_2 v_2 … k_K v_K | 0 0 k_{π1} 0 … k_{π2} 0 …      (length L)
 *   targets  −1 everywhere except at each query position, where it is the key's value
 *
 * Vocabulary (V tokens): 0 the filler between queries, keys 1 … V/2 − 1, values
 * V/2 … V − 1. The K keys of a sequence are distinct (drawn without replacement),
 * values are drawn with replacement (as Zoology); Q ≤ K distinct keys are queried, at
 * distinct positions drawn uniformly from the query section [2K, L) (Zoology draws the
 * gaps from a power law; uniform positions keep the task as hard at every distance).
 * Solving it for every K needs a state that stores K associations: the paper's test of
 * state size N.
 *
 * Conventions as stage 05's tasks (05_selective_s6/tasks.h): tokens and targets are
 * (B, L) row-major int32, −1 = not scored, and a batch is a function of (seed, step)
 * only, so a resumed run sees the data an uninterrupted one would. Scaled for 2 CPU
 * cores: e.g. V = 64, K = 8, L = 64 (Zoology: V = 8192, K up to 64, L up to 512). */
#ifndef MQAR_H
#define MQAR_H

#include <stddef.h>
#include <stdint.h>
#include "common/real.h"

typedef struct {
    int vocab;      /* V ≥ 4, even: keys 1 … V/2−1, values V/2 … V−1, filler 0 */
    int n_pairs;    /* K ≥ 1 key–value pairs, K ≤ V/2 − 1 (distinct keys) */
    int n_queries;  /* Q in [1, K] keys queried; 0 means Q = K */
    int L;          /* sequence length ≥ 2K + Q */
} mqar_cfg;

/* Validate (and fill n_queries = K if 0); exits 2 with one line naming the field. */
void mqar_check(mqar_cfg *c);

/* Fill tok and tgt (B, L) with batch number `step` of the stream `seed`. */
void mqar_batch(const mqar_cfg *c, uint64_t seed, long step, int B, int32_t *tok, int32_t *tgt);

/* The first value token (V/2) and the number of value tokens: chance accuracy is
 * 1 / mqar_n_values for a model that knows only that a value comes next. */
static inline int mqar_first_value(const mqar_cfg *c) { return c->vocab / 2; }
static inline int mqar_n_values(const mqar_cfg *c) { return c->vocab - c->vocab / 2; }

/* Accuracy bookkeeping for any model: over the n positions of tgt (−1 skipped), count
 * where the argmax of the logits row (V entries) equals the target. Adds to *hits and
 * *scored, so a caller can sum over batches. */
void mqar_score(const int32_t *tgt, size_t n, const real *logits, int V, long *hits, long *scored);

#endif
