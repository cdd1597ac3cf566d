/* 08_xlstm/gpu/xlstm_gpu.h — the xLSTM cells on the GPU (CUDA C), fp32, host API.
 *
 *   xgpu_mlstm_naive      the parallel form (8.9): one thread block per output row (bh, t),
 *                         scores p_s = e^{D̃_ts − m_t} q_t·k_s in shared memory, then
 *                         h̃_t = Σ p_s v_s / max(|Σ p_s|, e^{−m_t}). O(L² d) work.
 *   xgpu_mlstm_chunkwise  (8.10)–(8.11) in three kernels: per chunk its local state
 *                         (Σ e^{…} v kᵀ, its own stabilizer); a pass over chunks that carries
 *                         (C̄, n̄, m), sequential in the chunks, one thread per state entry; per
 *                         chunk the outputs, intra-chunk parallel + the carried state. CUDA
 *                         cores, fp32.
 *   xgpu_mlstm_chunkwise_bf16  the same three steps with bf16 q, k, v on the tensor cores
 *                         (WMMA 16×16×16, fp32 accumulate): the chunk state Vᵀ diag(w) K and,
 *                         per chunk, S = Q Kᵀ and P V; the state carried between chunks and
 *                         its product with q stay fp32 (CUDA cores).
 *   xgpu_mlstm_chunkwise_backward  forward (keeping each row's m and denominator and the
 *                         state before each chunk) then the backward: the same chunk/pass/
 *                         chunk structure run in reverse for the state's adjoint, per chunk
 *                         dq, dk, dv from two c×c matrices in shared memory, and the gate
 *                         gradients from row dot products (dĩ = k·dk, dF = q·dq − k·dk).
 *   xgpu_mlstm_chunkwise_bf16_backward  the backward's next step: the bf16 forward (keeping
 *                         m, den and the states), then the backward's chunk products on the
 *                         tensor cores — the reverse chunk state dNumᵀ diag(w) Q and, per chunk,
 *                         S = Q Kᵀ, dNum Vᵀ, dq = A K, dk = Aᵀ Q, dv = Pᵀ dNum (bf16 in, fp32
 *                         accumulate); the carried states and their products stay fp32.
 *   xgpu_slstm_fused      (8.2)–(8.6) in one persistent kernel: one block per (batch, head),
 *                         one thread per unit, the head's R block in shared memory, the loop
 *                         over time inside the kernel.
 *   xgpu_slstm_backward   the fused forward keeping pre-activations and c̄, n̄, m, then BPTT in
 *                         one persistent kernel of the same shape walking time backwards.
 * Cumulative log forget gates are summed in float64 (in fp32 their rounding grows with L: §8.2),
 * one block scan per head. XGPU_PROFILE=1 prints each chunkwise kernel's time on stderr.
 *
 * Layouts: q, k, v, h (BH, L, d); ig, fg (BH, L) — BH = batch × heads, k already scaled.
 * sLSTM: wx (B, L, 4, NH·dh) = W x + b, R (4, NH, dh, dh), h (B, L, NH·dh).
 * Each returns the kernels' time in milliseconds (CUDA events), or exits 2 naming a bad
 * size and 1 naming a failed CUDA call. */
#ifndef XLSTM_GPU_H
#define XLSTM_GPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if a usable GPU is present; else 0 and the reason in why. (06's runtime check.) */
int scan_gpu_available(char *why, size_t len);
void scan_gpu_name(char *buf, size_t len);

double xgpu_mlstm_naive(int BH, int L, int d, const float *q, const float *k, const float *v,
                        const float *ig, const float *fg, float *h);
double xgpu_mlstm_chunkwise(int BH, int L, int d, int chunk, const float *q, const float *k,
                            const float *v, const float *ig, const float *fg, float *h);
/* (8.10)–(8.11) with bf16 q, k, v (rounded from the given floats); d a multiple of 16
 * (<= 128), chunk 16, 32 or 64. */
double xgpu_mlstm_chunkwise_bf16(int BH, int L, int d, int chunk, const float *q, const float *k,
                                 const float *v, const float *ig, const float *fg, float *h);
/* The chunkwise functions (fp32 and bf16, forward and backward) run their kernels `reps` times
 * (1..15, default 1) on one upload and return the median time (for --bench-gpu). */
void xgpu_bench_reps(int reps);
/* Round x to bf16 and back in place, as xgpu_mlstm_chunkwise_bf16 rounds its inputs. */
void xgpu_round_bf16(float *x, size_t n);
/* Gradients of Σ dh·h̃ (all OVERWRITTEN) of the chunkwise forward; h (may be NULL) gets h̃.
 * chunk <= 128. Returns the backward's milliseconds; *ms_forward (may be NULL) the forward's. */
double xgpu_mlstm_chunkwise_backward(int BH, int L, int d, int chunk, const float *q,
                                     const float *k, const float *v, const float *ig,
                                     const float *fg, const float *dh, float *h, float *dq,
                                     float *dk, float *dv, float *dig, float *dfg,
                                     double *ms_forward);
/* The same gradients with bf16 q, k, v (rounded from the given floats; dh stays fp32) on the
 * tensor cores; d a multiple of 16 (<= 128), chunk 16, 32 or 64. */
double xgpu_mlstm_chunkwise_bf16_backward(int BH, int L, int d, int chunk, const float *q,
                                          const float *k, const float *v, const float *ig,
                                          const float *fg, const float *dh, float *h, float *dq,
                                          float *dk, float *dv, float *dig, float *dfg,
                                          double *ms_forward);
double xgpu_slstm_fused(int B, int L, int NH, int dh, int exp_forget, const float *wx,
                        const float *R, float *h);
/* BPTT of the fused forward: dwx (B, L, 4, d) and dR (4, NH, dh, dh) OVERWRITTEN; h (may be
 * NULL) gets the forward's output. dh <= 64. Returns ms as the mLSTM backward does. */
double xgpu_slstm_backward(int B, int L, int NH, int dh, int exp_forget, const float *wx,
                           const float *R, const float *dh_out, float *h, float *dwx, float *dR,
                           double *ms_forward);

#ifdef __cplusplus
}
#endif
#endif
