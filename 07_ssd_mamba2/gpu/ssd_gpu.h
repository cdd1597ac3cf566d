/* 07_ssd_mamba2/gpu/ssd_gpu.h — the chunked SSD algorithm on an NVIDIA GPU, forward and
 * backward, callable from C. Equation numbers refer to chapters/07_ssd_mamba2.md; the
 * semantics are the CPU forms' (../ssd.h, (7.1)–(7.9)): per head h a scalar decay A_h,
 * a_t = Δ_t A_h, chunks of Q steps, B and C shared by the H/G heads of a group.
 *
 * The four steps, one kernel each (the backward adds four more, see ssd_gpu.cu):
 *   cumsum        a_t summed inside each chunk: cs_t = a_{t0} + … + a_t (fp32)
 *   chunk states  (7.7) S_c = Σ_s e^{cs_end − cs_s} Δ_s x_s B_sᵀ     (P × N per chunk)
 *   state passing (7.8) H_c = e^{cs_end} H_{c−1} + S_c               (sequential over chunks)
 *   chunk output  (7.6)+(7.9) y_t = Σ_{s≤t} e^{cs_t − cs_s} (C_t·B_s) Δ_s x_s
 *                                 + e^{cs_t} H_{c−1} C_t + D_h x_t
 * Every product is a tile product between shared-memory tiles of 64 rows. The versions run
 * the SAME kernels and differ only in that product and the tiles' type (v3 also in how a tile
 * is loaded):
 *   v1  fp32 tiles, each product on the CUDA cores (one thread per output element): the
 *       float32 path, the teaching baseline;
 *   v2  bf16 tiles, each product on the tensor cores through WMMA (16×16×16 bf16 → fp32);
 *       the masks, decays, segment sums and every accumulator stay fp32;
 *   v3  v2 with its tiles loaded by 16-byte loads, four in flight per thread before any is
 *       used (v1 and v2 load one element per thread per loop iteration, each load waiting on
 *       the previous one's use: latency-bound, see chapter 7.7). NOT YET RUN ON A GPU: its
 *       tests are the same suite; no time of it is quoted anywhere.
 *   v4  the same steps on raw `mma.sync.m16n8k16` (ssd_mma.cuh): 4 warps per 64-row tile,
 *       16 rows each; the decay mask is applied to the accumulators in registers and the
 *       masked block, packed to bf16, is the A operand of the next product; tiles arrive by
 *       cp.async. Takes P ≤ 64 (else SSD_GPU_ESHAPE).
 *   v5  v4's forward; its backward fuses v4's two tile kernels into one kernel per source
 *       tile (the target side's products were recomputations): dC and ∂/∂cs_t by atomics.
 *   v6  v5 with each thread's global loads issued before its stores where v5 waited a memory
 *       latency per element pair (a store the compiler cannot tell from a later load): the
 *       outputs' epilogues, the state tiles, the running sums; one atomic per warp, not per
 *       block after two barriers, in the backward pass over chunks; the entering states also
 *       in bf16 (written by the pass, the same rounding) for the tile kernels. Same arithmetic
 *       as v5.
 *   v7  (ssd_v7.cuh) the state path as one walk over the sequence per direction — running sums,
 *       chunk states and the pass over chunks in one kernel that keeps the state in the mma
 *       accumulators and writes each entering state once (v4–v6 stored the chunk states and
 *       read them back, as many bytes as x at N = 64) — and the output kernel's decay mask as
 *       2^{c_t + ℓ_s}, one ex2 per element, with double-buffered source tiles; v6's backward
 *       tile kernel.
 *   v8  v7 with C_t B_sᵀ of every tile pair computed once per group (the heads of a group share
 *       B and C), stored in fp32 and read by the output kernel instead of the B tiles and the
 *       product; in the backward the gradient of C_t B_sᵀ summed over the group's heads first,
 *       then dB's and dC's intra-chunk products once per group; the tile kernels' shared memory
 *       no longer grows with N (C, H and G pass through 64-column slices where only a product
 *       over N needs them).
 *   v9  v8 with both walks cut into segments of whole chunks, so that ~3× as many blocks walk
 *       at once (v7's walk ran 2 blocks per SM at N = 64, latency-bound): each segment past the
 *       first starts from 0, a pass over the segments' end states gives each the state entering
 *       it, and a fix-up adds that state, decayed, to the chunk states the segment wrote (fp32,
 *       rounded to bf16 once); the backward's adjoint walk the same way from the right. The
 *       number of segments comes from the walk's occupancy on the device (ssd_v7.cuh).
 *   v10 v9 whose forward leaves the segments' states incomplete (bf16, the part from inside the
 *       segment) and lets the output kernel add the entering state where it loads H_{c−1} — v9's
 *       fix-up pass reads and writes every state again (fp32); the backward is v9's.
 *       Measured (H200, round RB of the third session, chapter 7.7): the walks got faster, the added
 *       kernels cost more (v10's fold most); v9 is the fastest forward at L = 32768, N = 64 only,
 *       v8 the fastest version elsewhere.
 * WMMA (v2, v3), not raw `mma.sync`/`wgmma`: its fragments hide the register layout, so the
 * kernel reads as the algorithm; the price is a round trip of each accumulator through
 * shared memory (chapter 7.7) — which v4 removes.
 *
 * All pointers are DEVICE pointers. Shapes (row-major, as ../ssd.h and mamba_ssm):
 *   x, y, dy   (batch, L, H, P)   in `dtype` (SCAN_F32 or SCAN_BF16; v2 and v3 round fp32 to
 *                                 bf16 when they stage tiles)
 *   B, C       (batch, L, G, N)   in `dtype`
 *   dt         (batch, L, H)      float32, Δ already positive (no softplus here)
 *   A, D       (H)                float32; D may be NULL
 *   h0, h_last, dh_last, dh0  (batch, H, P, N) float32, each may be NULL
 * Limits: Q a multiple of 64, P and N multiples of 16, P ≤ 256, N ≤ 256, and the tiles of a
 * kernel must fit the device's shared memory (else SSD_GPU_ESMEM: v2 takes P = 64 up to
 * N = 256 (v3 too), v1 up to N = 128 for the backward).
 * The backward OVERWRITES every non-NULL gradient, all float32: dx (batch, L, H, P),
 * ddt (batch, L, H), dA (H), dB, dC (batch, L, G, N), dD (H; needs D), dh0 (needs h0).
 * dA, dD, dB, dC are sums of atomics (their rounding order varies from run to run).
 * Every function returns 0 or a negative SSD_GPU_E* code (ssd_gpu_strerror names it).
 * Launches are asynchronous on the default stream. */
#ifndef SSD_GPU_H
#define SSD_GPU_H

#include <stddef.h>

#include "06_hw_aware_cuda/scan/scan_gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSD_GPU_TILE 64     /* rows of every shared-memory tile; Q is a multiple of it */

typedef enum { SSD_GPU_V1 = 0, SSD_GPU_V2 = 1, SSD_GPU_V3 = 2, SSD_GPU_V4 = 3, SSD_GPU_V5 = 4, SSD_GPU_V6 = 5, SSD_GPU_V7 = 6,
               SSD_GPU_V8 = 7, SSD_GPU_V9 = 8, SSD_GPU_V10 = 9, SSD_GPU_NVERSIONS } ssd_gpu_version;
extern const char *const ssd_gpu_version_name[SSD_GPU_NVERSIONS];

enum {
    SSD_GPU_OK = 0,
    SSD_GPU_EARGS = -1,   /* a size below 1 or a required pointer NULL */
    SSD_GPU_ESHAPE = -2,  /* Q, P or N not a multiple of its tile, or too large */
    SSD_GPU_ESMEM = -3,   /* the tiles need more shared memory than the device has */
    SSD_GPU_ECUDA = -4,   /* a CUDA call or launch failed */
    SSD_GPU_EDTYPE = -5   /* dtype not fp32 or bf16 */
};

typedef struct {
    int batch, L, H, P, G, N, Q;
    scan_dtype dtype;              /* of x, B, C, y and dy */
    const void *x, *B, *C;
    const float *dt, *A, *D, *h0;
} ssd_gpu_params;

typedef struct {
    float *dx, *ddt, *dA, *dB, *dC, *dD, *dh0;
} ssd_gpu_grads;

const char *ssd_gpu_strerror(int code);
/* Sizes, pointers and dtype, checked without touching the GPU. */
int ssd_gpu_check(const ssd_gpu_params *p);
/* Device workspace the forward (backward = 0) or the backward (1) needs, in bytes. */
size_t ssd_gpu_workspace_bytes(const ssd_gpu_params *p, int backward);
/* v9's plan on this device: the number of segments its walks are cut into (1: none) and, in
 * *chunks_per_segment, their length; a negative SSD_GPU_E* code for bad parameters. */
int ssd_gpu_v9_segments(const ssd_gpu_params *p, int *chunks_per_segment);
/* y = SSD(x) (7.6)–(7.9); h_last may be NULL. */
int ssd_gpu_forward(ssd_gpu_version v, const ssd_gpu_params *p, void *y, float *h_last,
                    void *workspace);
/* Gradients of Σ dy·y (+ Σ dh_last·h_last); recomputes the forward's chunk states. */
int ssd_gpu_backward(ssd_gpu_version v, const ssd_gpu_params *p, const void *dy,
                     const float *dh_last, void *workspace, ssd_gpu_grads *g);

#ifdef __cplusplus
}
#endif

#endif
