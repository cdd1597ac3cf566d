/* 06_hw_aware_cuda/lm/generate.h — text generation on the CPU through stage 05's recurrent
 * step (chapter 6, part 3, §G): O(1) work and memory per token.
 *
 *   (G.1)  prefill: the prompt's tokens go through mamba_step one by one, building the
 *          conv and SSM states (the CPU path has no parallel prefill);
 *   (G.2)  sample: logits/T → keep the top k → keep the smallest set of most probable
 *          tokens whose probability sums to at least p → draw (T = 0: argmax);
 *   (G.3)  feed the drawn token back; stop at the end-of-text id or after N tokens.
 * A batch of prompts runs in lock-step: sequence b prefills while len(prompt_b) lasts,
 * then samples; finished sequences idle (their steps are computed and discarded). */
#ifndef LM_GENERATE_H
#define LM_GENERATE_H

#include <stdint.h>

#include "05_selective_s6/mamba.h"
#include "common/rng.h"

typedef struct {
    int max_new;          /* N: tokens generated per prompt at most */
    double temperature;   /* T; 0 = greedy */
    int top_k;            /* 0 = off */
    double top_p;         /* 1 = off */
    uint64_t seed;
    int eos;              /* stop token; −1 = none */
    int n_valid;          /* sample only ids < n_valid (the tokenizer's vocabulary inside a
                             padded embedding); 0 = the model's vocabulary */
} gen_opts;

/* Scratch for gen_sample over V logits. */
typedef struct {
    int V;
    double *p;
    int *idx;
} gen_scratch;
void gen_scratch_init(gen_scratch *s, int V);
void gen_scratch_free(gen_scratch *s);

/* (G.2) one draw from logits[0..V). */
int gen_sample(const real *logits, int V, double temperature, int top_k, double top_p, rng_t *rng,
               gen_scratch *s);
/* The distribution gen_sample draws from (for tests): writes prob[0..V). */
void gen_distribution(const real *logits, int V, double temperature, int top_k, double top_p,
                      gen_scratch *s, double *prob);

/* Called for each generated token (b = sequence, id); may be NULL. */
typedef void (*gen_emit_fn)(int b, int32_t id, void *ctx);

/* (G.1)–(G.3) for B prompts (prompts[b][0..plen[b]); an empty prompt starts from eos, or
 * from token 0 when there is none). out[b·max_new + i] gets the generated ids, n_out[b] their
 * number (the eos that stopped a sequence is included). */
void gen_generate(const mamba_model *m, const int32_t *const *prompts, const int *plen, int B,
                  const gen_opts *o, int32_t *out, int *n_out, gen_emit_fn emit, void *ctx);

#endif
