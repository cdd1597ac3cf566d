/* 08_xlstm/gpu/xlstm_gpu.h — the xLSTM cells on the GPU (CUDA C), fp32, host API.
 *
 *   xgpu_mlstm_naive      the parallel form (8.9): one thread block per output row (bh, t),
 *                         scores p_s = e^{D̃_ts − m_t} q_t·k_s in shared memory, then
 *                         h̃_t = Σ p_s v_s / max(|Σ p_s|, e^{−m_t}). O(L² d) work.
 *   xgpu_mlstm_chunkwise  (8.10)–(8.11) in three kernels: per chunk its local state
 *                         (Σ e^{…} v kᵀ, its own stabilizer); a sequential pass over chunks
 *                         per head that carries (C̄, n̄, m); per chunk the outputs, intra-chunk
 *                         parallel + the carried state. CUDA cores, fp32 (no tensor cores yet).
 *   xgpu_slstm_fused      (8.2)–(8.6) in one persistent kernel: one block per (batch, head),
 *                         one thread per unit, the head's R block in shared memory, the loop
 *                         over time inside the kernel.
 * Cumulative log forget gates are summed in float64 (in fp32 their rounding grows with L: §8.2).
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
double xgpu_slstm_fused(int B, int L, int NH, int dh, int exp_forget, const float *wx,
                        const float *R, float *h);

#ifdef __cplusplus
}
#endif
#endif
