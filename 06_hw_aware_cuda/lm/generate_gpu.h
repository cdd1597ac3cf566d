/* 06_hw_aware_cuda/lm/generate_gpu.h — generation on the GPU (chapter 6, part 3, §G.4):
 *   prefill   the prompt through the training forward (lm_forward: the fused chunked scan over
 *             all positions at once); the conv and SSM states are read off its activations;
 *   step      the recurrent O(1) step of decode.cu for B sequences, captured once in a CUDA
 *             graph and replayed per token: 6 kernels per layer (RMSNorm, in_proj, conv step,
 *             x_proj, the fused δ/state/gate step, out_proj with the residual) + head + argmax;
 *   sampling  greedy on the GPU (the graph's argmax feeds the next step without the host);
 *             temperature / top-k / top-p on the GPU too (dec_sample: gen_sample's distribution,
 *             its own random stream; GEN_HOST_SAMPLE=1 draws on the host with gen_sample).
 * Weights: float32, or (bf16 = 1) the matrices (in_proj, x_proj, out_proj, the tied
 * embedding/head) in bfloat16, read at half the bytes; activations and states stay float32. */
#ifndef LM_GENERATE_GPU_H
#define LM_GENERATE_GPU_H

#include <stdint.h>

#include "06_hw_aware_cuda/lm/generate.h"
#include "06_hw_aware_cuda/lm/model.h"

typedef struct {
    lm_model *m;
    int B, bf16, Vs, use_graph;
    int version;                       /* the step: 1 = six kernels a layer (measured on the H200),
                                          2 = four (RMSNorm folded into in_proj / the head, the conv
                                          step into in_proj's epilogue: dec_norm_gemv),
                                          3 = the whole step in one persistent cooperative kernel
                                          (dec_step3: grid barriers between its phases, the next
                                          layer's weights prefetched into L2; no graph: one launch) */
    void *wscaled;                     /* versions 2, 3: W_in diag(norm_w) per layer, E diag(norm_f_w) */
    void *step3;                       /* version 3: its dec3_args (host), layers3 on the device */
    void *layers3, *best3, *xpart3, *flags3;
    void *w_outT;                      /* step 3 with two barriers a layer: W_outᵀ per layer */
    const void **w_in2, *w_head2;
    int prefill_bf16;                  /* the prefill's matmuls on the bf16 tensor cores (default: = bf16) */
    void *stream;                      /* cudaStream_t */
    void *wbf16;                       /* the bfloat16 copies (NULL in float32) */
    const void **w_in, **w_x, **w_out; /* per layer: the matrices the step reads */
    const void *w_emb;
    float *conv, *ssm;                 /* (n_layer, B, D, K − 1), (n_layer, B, D, N) */
    float *x, *hn, *xz, *u, *dbc, *y, *logits;
    int *tok;                          /* (B): the tokens the next step feeds */
    int *tok_h;                        /* pinned host copies */
    float *logits_h;
    void *graph, *exec;                /* cudaGraph_t, cudaGraphExec_t */
    void *ev;                          /* cudaEvent_t: the greedy loop's token copy (run ahead) */
    double bytes_weights, bytes_state; /* HBM traffic of one step (see gpu_decoder_init) */
} gpu_decoder;

void gpu_decoder_init(gpu_decoder *d, lm_model *m, int B, int bf16, int Vs, int use_graph);
/* the same with the step version (1, 2 or 3) */
void gpu_decoder_init_v(gpu_decoder *d, lm_model *m, int B, int bf16, int Vs, int use_graph, int version);
void gpu_decoder_free(gpu_decoder *d);
/* tokens (B, L), L ≥ 1: states and the last position's logits (d->logits), greedy choice in d->tok */
void gpu_prefill(gpu_decoder *d, const int *tokens, int L);
/* feed d->tok: states advance, d->logits and d->tok (greedy) replaced */
void gpu_step(gpu_decoder *d);
/* d->tok (and with logits ≠ 0 d->logits) to the host copies; waits for the GPU */
void gpu_fetch(gpu_decoder *d, int logits);
/* host tokens (B) into d->tok for the next step */
void gpu_set_tokens(gpu_decoder *d, const int *tok);

/* gen_generate's contract (generate.h) on the GPU */
void gpu_generate(gpu_decoder *d, const int32_t *const *prompts, const int *plen, const gen_opts *o,
                  int32_t *out, int *n_out, gen_emit_fn emit, void *ctx);

/* Decode benchmark at config's shape with random weights, float32 then bf16 weights: the
 * prefill rate at prefill_len (batch 1), then for each batch size S greedy steps after a
 * 16-token prompt (batch 1 also without the graph; with positions > S, batch 1 runs that many
 * steps and writes the time per step every 256 positions to pos_csv). Rows appended to csv
 * (header when new); the floor is the step's bytes over the measured copy bandwidth. */
int gpu_decode_bench(const char *config, const int *batches, int nb, int S, int prefill_len, int positions,
                     const char *csv, const char *pos_csv, int version);
/* The step (version 1, 2 or 3) against the parallel forward: logits of prefill + forced steps vs
 * lm_forward's at every position; returns 0 when all are within the bound. */
int gpu_decode_selfcheck(const char *config, int B, int L, int bf16, int version);
/* The GPU sampler (dec_sample) against gen_sample's distribution on V random logits: the kept set
 * exact, the draws' χ², the seed's reproducibility; prints one line per setting, returns 0 when
 * all pass. */
int gpu_sample_check(int V);

#endif
