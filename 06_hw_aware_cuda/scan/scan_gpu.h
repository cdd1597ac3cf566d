/* 06_hw_aware_cuda/scan/scan_gpu.h — the selective scan (S6) on an NVIDIA GPU, in teaching
 * versions, callable from C. Equation numbers refer to chapters/06_hw_aware_cuda.md; the
 * semantics are stage 05's (05_selective_s6/s6.h, equations 5.1–5.6), for the selective
 * case (B and C vary with time) with the reference's Euler B̄ = Δ·B.
 *
 *   v1  unfused: discretize into GPU memory (Ā and B̄u, batch × D × L × N each), scan them,
 *       then contract with C: the baseline whose memory traffic the paper removes.
 *   v2  fused, sequential: one thread per (batch, channel) keeps its N states in registers,
 *       reads u, Δ, B, C once (through shared-memory tiles) and writes only y.
 *   v3  fused, parallel over time: one block per (batch, channel) walks the sequence in
 *       chunks; inside a chunk a block-wide scan over (a, b) pairs (warp shuffles + shared
 *       memory) for each state; the carry passes from chunk to chunk; chunk-end states are
 *       saved for the backward pass.
 *   v4  v3 tuned: fp32, bf16 or fp16 inputs and outputs with fp32 state, 16-byte loads,
 *       exp2 with A pre-scaled by log₂e, the block shape chosen by L.
 *   v5  one thread per state: thread (b, d, n) walks the whole sequence with h_n in a
 *       register (no block scan, no barrier); the N threads of a channel share u and Δ and
 *       sum their C·h parts with a butterfly reduce-scatter of shuffles. Any dtype, N a
 *       power of two <= 64; chunk-end states saved as v3/v4 save them.
 *   v6  v5 with its data path fixed: a block of 32 channels stages each tile of 32 steps
 *       in shared memory (coalesced loads, Δ and the gate computed once per step), and
 *       each thread walks S = 4 states (N/4 threads per channel), so the reduction over
 *       states costs two shuffle rounds per 32 steps at N = 16. Any dtype, N a power of
 *       two <= 64; chunk-end states as v3/v4.
 *   backward in v6's style (any dtype, N a power of two): per state group, walking each
 *       chunk forward (tile checkpoints) then backward, dB and dC summed over the block's
 *       channels in shared memory before one atomic.
 *   backward of the fused kernel (v3–v6, any dtype): recomputes each chunk from its saved
 *       start state, reverse scan for the state adjoint, block reductions before atomics.
 *   backward of v1 (fp32): from the materialized states, for the memory comparison.
 *
 * All pointers are DEVICE pointers. Shapes (row-major):
 *   u, delta, z, out, dout, du, ddelta, dz   (batch, D, L)    in `dtype`
 *   B, C                                     (batch, N, L)    in `dtype`
 *   A (D, N); Dskip, delta_bias (D); h0, h_last, dh_last, dh0 (batch, D, N): float32
 *   chunk_states (batch, D, nchunks, N) float32, nchunks = ceil(L / SCAN_CHUNK): the state
 *   at the end of every chunk, written by the fused forward (v3–v6), read by its backward.
 * Every function returns 0, or a negative SCAN_E* code (scan_strerror names it); a CUDA
 * error is SCAN_ECUDA and cudaGetLastError() tells which. Launches are asynchronous on
 * the default stream. */
#ifndef SCAN_GPU_H
#define SCAN_GPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Chunk length of the fused kernels: the granularity of the saved states. */
#define SCAN_CHUNK 2048
/* Largest state size the fused kernels are built for (N ∈ 1..64). */
#define SCAN_MAX_N 64

typedef enum { SCAN_F32 = 0, SCAN_BF16 = 1, SCAN_F16 = 2 } scan_dtype;

enum {
    SCAN_OK = 0,
    SCAN_EARGS = -1,    /* a size out of range or a required pointer NULL */
    SCAN_EDTYPE = -2,   /* this version does not take this dtype */
    SCAN_EN = -3,       /* N not supported by this version */
    SCAN_ECUDA = -4     /* a CUDA call or launch failed */
};

typedef struct {
    int batch, D, L, N;
    scan_dtype dtype;                  /* of u, delta, z, B, C, out and their gradients */
    const void *u, *delta;             /* (batch, D, L) */
    const float *A;                    /* (D, N) */
    const void *B, *C;                 /* (batch, N, L) */
    const float *Dskip;                /* (D) or NULL */
    const void *z;                     /* (batch, D, L) or NULL */
    const float *delta_bias;           /* (D) or NULL */
    int delta_softplus;
    const float *h0;                   /* (batch, D, N) or NULL */
} scan_params;

/* Gradients. Unlike stage 05's CPU backward (which accumulates), the GPU backward
 * OVERWRITES every non-NULL gradient (it zeroes the reduced ones itself). du, ddelta, dz in `dtype`; the rest float32. */
typedef struct {
    void *du, *ddelta, *dz;            /* (batch, D, L) */
    float *dA;                         /* (D, N) */
    float *dB, *dC;                    /* (batch, N, L) */
    float *dDskip, *ddelta_bias;       /* (D); need Dskip / delta_bias */
    float *dh0;                        /* (batch, D, N); needs h0 (dz needs z) */
} scan_grads;

const char *scan_strerror(int code);
/* Sizes, pointers and dtype checked without touching the GPU (also used on the CPU). */
int scan_check_params(const scan_params *p);
size_t scan_dtype_size(scan_dtype t);
/* Rounding a real x to storage dtype t (round to nearest, gradual underflow) moves it by at
 * most u·|x| + eta: u the unit roundoff (2^-8 bf16, 2^-11 fp16) for x in the normal range,
 * eta half the spacing of the subnormals (2^-134 bf16, 2^-25 fp16) below it, where the
 * spacing stops shrinking with |x|. fp32 gives 0, 0: those outputs are not rounded after
 * the fp32 arithmetic, whose own error the tests model separately. */
void scan_dtype_rounding(scan_dtype t, double *u, double *eta);
const char *scan_dtype_name(scan_dtype t);
int scan_nchunks(int L);

/* Bytes of GPU workspace v1 needs: Ā and B̄u (then h), batch·D·L·N floats each. */
size_t scan_v1_workspace_bytes(const scan_params *p);

/* ---- the versions (float32 unless the dtype is named) ---- */
int scan_v1_forward(const scan_params *p, void *out, float *h_last, void *workspace);
/* v1's backward reads the workspace its forward left (the materialized Ā and h) and
 * overwrites it: run the forward again before another backward. */
int scan_v1_backward(const scan_params *p, const void *dout, const float *dh_last,
                     const void *workspace, scan_grads *g);
int scan_v2_forward(const scan_params *p, void *out, float *h_last);
int scan_v3_forward(const scan_params *p, void *out, float *h_last, float *chunk_states);
int scan_v4_forward(const scan_params *p, void *out, float *h_last, float *chunk_states);
/* N must be a power of two (1, 2, 4, … 64), else SCAN_EN. */
int scan_v5_forward(const scan_params *p, void *out, float *h_last, float *chunk_states);
/* N must be a power of two (1, 2, 4, … 64), else SCAN_EN. */
int scan_v6_forward(const scan_params *p, void *out, float *h_last, float *chunk_states);
/* Backward of the fused forward (v3, v4, v5 or v6: the same chunk_states). */
int scan_fused_backward(const scan_params *p, const void *dout, const float *dh_last,
                        const float *chunk_states, scan_grads *g);
/* The backward in v6's style, from the same chunk_states; N a power of two (else SCAN_EN);
 * workspace: scan_v6_backward_workspace_bytes() of device memory (state checkpoints). */
size_t scan_v6_backward_workspace_bytes(const scan_params *p);
int scan_v6_backward(const scan_params *p, const void *dout, const float *dh_last,
                     const float *chunk_states, float *workspace, scan_grads *g);

/* v7 (chapter 6, §V.1): v6 parallel over the sequence as well — segments of L walked from zero
 * (their end states), combined into each segment's true start state, then v6 over all
 * segments at once; the segment count chosen from (batch, D, L, N) and the SM count (1: v6
 * itself). N a power of two; workspace: scan_v7_forward_workspace_bytes() of device memory
 * (may be NULL when scan_v7_segments() is 1). The same chunk states as v3–v6. */
size_t scan_v7_forward_workspace_bytes(const scan_params *p);
int scan_v7_forward(const scan_params *p, void *out, float *h_last, float *chunk_states,
                    float *workspace);
int scan_v7_segments(const scan_params *p);
/* The v7 backward (chapter 6, §V.2): parallel over the sequence, two exponentials per element,
 * no float atomics (bit-identical gradients from run to run). It needs only the inputs: any
 * forward may precede it (chunk_states is not read and may be NULL). N a power of two;
 * workspace: scan_v7_backward_workspace_bytes() (checkpoints every 8 steps, N/8 floats per
 * (batch, channel, step), and the block partials of dB, dC). */
size_t scan_v7_backward_workspace_bytes(const scan_params *p);
int scan_v7_backward(const scan_params *p, const void *dout, const float *dh_last,
                     const float *chunk_states, float *workspace, scan_grads *g);
int scan_v7_backward_segments(const scan_params *p);

/* The versions by name, for programs that pick one: "v1" … "v6", "bwd_v1", "bwd_fused",
 * "bwd_v6", "v7", "bwd_v7" (host-side, no GPU needed). */
typedef enum { SCAN_V1, SCAN_V2, SCAN_V3, SCAN_V4, SCAN_V5, SCAN_V6, SCAN_BWD_V1, SCAN_BWD_FUSED,
               SCAN_BWD_V6, SCAN_V7, SCAN_BWD_V7, SCAN_NVERSIONS } scan_version;
extern const char *const scan_version_name[SCAN_NVERSIONS];
/* The index of a name, or -1. */
int scan_version_find(const char *name);
/* The forward a backward runs after (v1 for bwd_v1, v4 for bwd_fused, v6 for bwd_v6, v7 for
 * bwd_v7), or v itself for a forward. */
scan_version scan_version_forward(scan_version v);
/* Whether v takes state size N (v2, v5, v6, v7 and the v6, v7 backwards: powers of two only). */
int scan_version_takes(scan_version v, int N);

/* Element-wise dtype conversion on the device, n elements from src (dtype st) to dst. */
int scan_convert(const void *src, scan_dtype st, void *dst, scan_dtype dt, size_t n);

/* Uniform random values in [lo, hi) on the device (a hash of index and seed). */
int scan_fill_uniform(void *dst, scan_dtype dt, size_t n, unsigned long long seed, float lo,
                      float hi);
/* Exponentials per second the special-function units sustain (ex2.approx), measured. */
double scan_measure_sfu_rate(void);

/* Whether a CUDA device is usable; on 0, why (e.g. "no CUDA-capable device"). */
int scan_gpu_available(char *why, size_t len);
/* The device's name, memory bandwidth facts and SM count for benchmark CSVs. */
void scan_gpu_name(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
