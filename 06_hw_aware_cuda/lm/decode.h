/* 06_hw_aware_cuda/lm/decode.h — the kernels of the one-token step on the GPU (decode.cu,
 * chapter 6, part 3, §G.4). Device pointers, float32 activations (B, ·) row-major; weights
 * float32 or, with bf16 ≠ 0, bfloat16. `stream` is a cudaStream_t: every kernel goes on it,
 * so a step can be captured in a CUDA graph. Each launcher checks its launch. */
#ifndef LM_DECODE_H
#define LM_DECODE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* x[b] = E[tok[b]]  (6.8) */
void dec_embed(float *x, const void *E, int bf16, const int *tok, int B, int dm, void *stream);
/* (6.9) per row */
void dec_rmsnorm(float *y, const float *x, const float *w, int B, int dm, float eps, void *stream);
/* y[b, r] = β·y[b, r] + Σ_k W[r, k]·x[b, k]  (W: rows × K row-major; β = 1 adds the residual) */
void dec_gemv(float *y, int ldy, const void *W, int bf16, const float *x, int ldx, int B, int rows,
              int K, float beta, void *stream);
/* Step version 2: y[b, r] = r_b · Σ_k W'[r, k]·x[b, k] with r_b = (mean(x_b²) + ε)^−½ — RMSNorm
 * folded into the matmul, W' = W diag(norm weight) from dec_scale_cols; K = dm. With conv_w,
 * rows r < D go through the conv step instead ((6.11): state (B, D, K−1) shifted, u (B, D)
 * written) and only rows ≥ D are stored in y. */
void dec_norm_gemv(float *y, int ldy, const void *W, int bf16, const float *x, int dm, int B, int rows, float eps,
                   int D, float *u, float *conv_state, const float *conv_w, const float *conv_b, int K, void *stream);
/* dst = W diag(w) (rows × cols), float32 or (bf16 ≠ 0) rounded to bfloat16 */
void dec_scale_cols(void *dst, int bf16, const float *W, const float *w, size_t rows, int cols, void *stream);
/* (6.11) conv at one position + SiLU; state (B, D, K − 1) shifted in place; x_new = xz[b, d] */
void dec_conv_step(float *u, float *state, const float *xz, int ldxz, const float *w, const float *bias,
                   int B, int D, int K, void *stream);
/* (5.1)–(5.6) δ, the state update h (B, D, N) in place, y = (C·h + D u)·SiLU(z), z = xz[b, D + d] */
void dec_ssm_step(float *y, float *h, const float *u, const float *dbc, int lddbc, const float *xz,
                  int ldxz, const float *dt_w, const float *dt_b, const float *A_log, const float *Dskip,
                  int B, int D, int N, int R, void *stream);
/* tok[b] = argmax over the first Vs logits of row b (row stride ld); the first maximum */
void dec_argmax(int *tok, const float *logits, long long ld, int B, int Vs, void *stream);
/* (G.2) on the GPU: tok[b] drawn from softmax(logits_b / T) over the first Vs ids (row stride ld;
 * ld = 0: every b draws from the same row), kept to the top k (k ≤ 0 or ≥ Vs: all), then to the
 * smallest most-probable set of mass ≥ top_p (≥ 1: all) — gen_sample's distribution — with the
 * uniform number a hash of (seed, counter, b). temperature > 0 (else exit 2). dbg: NULL, or (B × 4)
 * per row the smallest kept key (argmax_key's order), the kept mass (2^40 = 1), the draw's target
 * and the drawn key. */
void dec_sample(int *tok, const float *logits, long long ld, int B, int Vs, float temperature, int top_k, float top_p,
                unsigned long long seed, unsigned long long counter, unsigned long long *dbg, void *stream);
/* one layer's conv and SSM states after a parallel prefill over L positions: xin (B, D, L)
 * the conv inputs, chunk (B, D, nchunks, N) the scan's chunk-end states */
void dec_from_prefill(float *conv_state, float *ssm_state, const float *xin, const float *chunk, int B,
                      int D, int N, int K, int L, int nchunks, void *stream);
/* dst (cols × rows) = srcᵀ (rows × cols), float32 or bfloat16 */
void dec_transpose(void *dst, const void *src, int rows, int cols, int bf16, void *stream);
/* dst (bfloat16, n) = src rounded to nearest even */
void dec_to_bf16(void *dst, const float *src, size_t n, void *stream);

/* Step version 3: the whole step in ONE persistent kernel (cooperative launch, one block per
 * SM), its phases separated by grid-wide barriers instead of kernel boundaries, the next
 * layer's weights prefetched into L2 while this one computes (decode.cu, §G.5). */
typedef struct {
    const void *w_in, *w_x, *w_out;    /* W_in diag(norm_w) (2D × dm), x_proj, out_proj: weight dtype */
    const void *w_outT;                /* W_outᵀ (D × dm), for two; NULL without it */
    const float *conv_w, *conv_b, *dt_w, *dt_b, *A_log, *Dskip;
    float *conv, *ssm;                 /* this layer's states (B, D, K − 1) and (B, D, N) */
} dec3_layer;

typedef struct {
    const dec3_layer *layer;           /* device array, n_layer entries */
    const void *emb, *w_head;          /* E (the input row) and E diag(norm_f_w) (the head) */
    float *x, *xz, *u, *dbc, *y, *logits;
    float *x2;                         /* two: the second x buffer (B × dm), layers alternate */
    int *tok;                          /* in: the tokens fed; out: the greedy choice */
    unsigned long long *best;          /* (B) argmax keys, zero between steps */
    unsigned *arrived;                 /* blocks done with the head, zero between steps */
    float *xpart;                      /* with fuse: x_proj's partial sums (grid, B, R + 2N) */
    int n_layer, B, dm, D, N, R, K, V, Vs;
    float eps;
    unsigned long long *prof;          /* NULL, or (4 n_layer + 2) × 2 timestamps (ns, %globaltimer) of
                                          one step: per phase the last block's arrival at its barrier
                                          (atomicMax) and block 0's release from it (dec_step3_profile) */
    unsigned long long *fine;          /* NULL, or grid × DEC3_MARKS × 2: every block's (%globaltimer,
                                          clock64) at the marks inside layer n_layer / 2 (with prof) */
    int two;                           /* two barriers a layer (B ≤ 4 unless DEC3_TWO=0; set by setup):
                                          the caller then gives every layer w_outT, x2, and xpart
                                          zeroed (x_proj's sums, two buffers of B·(R + 2N)) */
    int nbt1;                          /* B = 1: the kernel built for one sequence (DEC3_NBT1=0: off) */
    int split;                         /* the copies for the next phase issued between arriving at the
                                          barrier and waiting at it (DEC3_SPLIT=0: before arriving) */
    size_t sp_off;                     /* scan_pre's copies: their offset in shared memory (bytes) */
    int scan_pre;                      /* the scan's operands (its states, A_log, W_dt, D, b_dt) copied
                                          into shared memory during phase 1 (B·D ≤ 2 · grid · warps;
                                          DEC3_SCANPRE=0: off) */
    int head_ru, head_pf;              /* the head at B = 1: rows in flight per warp (DEC3_HEAD_RU: 1, 2
                                          with bf16; 0 the general block_gemv) and MB of it prefetched
                                          into the L2 over the last 4 layers (DEC3_HEADPF) */
    int grid, bf16, prefetch;          /* set by dec_step3_setup (prefetch: 0 with DEC3_NO_PREFETCH=1 set,
                                          to measure what the L2 prefetch is worth) */
    unsigned long long *flags, epoch;  /* DEC3_BARRIER=flags (flagbar set by setup): the caller allocates
                                          flags (grid entries, zeroed); dec_step3 sets epoch */
    int flagbar;
    int head_all, xs_floats, rs_floats; /* the head's x of all B in shared memory (B > 8, if it fits);
                                          the shared-memory layout (dec_step3_setup) */
    int smemw, xo_floats;              /* smemw: each block's rows of W_in and W_out copied into shared
                                          memory (cp.async) before the barrier in front of their phase;
                                          DEC3_SMEMW=0 turns it off; on when it fits */
    size_t wsA_bytes, wsB_bytes;
    int stage2;                        /* with smemw and fuse: phase 1's conv states/weights and W_x
                                          columns staged too (DEC3_STAGE2=0: off) */
    int fuse, rpb;                     /* fuse: x_proj split over channels into phase 1 (three barriers a
                                          layer, not four; B ≤ 4 by default, DEC3_FUSE=0|1 forces it,
                                          B ≤ 8); rpb: in_proj rows per block. The caller allocates xpart
                                          (grid · B · (R + 2N) floats) after setup when fuse is set. */
    size_t smem;
} dec3_args;

/* whether step 3 can run this shape here (dm, D multiples of 8, K ≤ 8, cooperative launch) */
int dec_step3_supported(int dm, int D, int K);
/* the launch shape (blocks that can all be resident: one per SM) and shared memory; exits 2
 * when the shape cannot run (dm or D not a multiple of 8, K > 8, nothing fits) */
void dec_step3_setup(dec3_args *a, int bf16);
/* the marks inside one layer of the fine profile (dec_step3_profile's fine_h) */
#define DEC3_MARKS 15
/* one step with a.prof set (zeroed first), the timestamps to the host: prof_h (4 n_layer + 2) × 2;
 * fine_h (NULL, or grid × DEC3_MARKS × 2) every block's marks in layer n_layer / 2 */
void dec_step3_profile(const dec3_args *a, unsigned long long *prof_h, unsigned long long *fine_h, void *stream);
/* one step; returns the launch's cudaError_t (0: launched) */
int dec_step3(const dec3_args *a, void *stream);

#ifdef __cplusplus
}
#endif

#endif
