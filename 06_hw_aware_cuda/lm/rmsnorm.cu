/* 06_hw_aware_cuda/lm/rmsnorm.cu — RMSNorm (MambaRMSNorm), one warp per token.
 *   (6.9) y_i = w_i · x_i · r,   r = (Σ_j x_j² / C + ε)^−½
 *   (6.10) ∂L/∂x_i = r·w_i·g_i − x_i · r³/C · Σ_j w_j g_j x_j ;  ∂L/∂w_i = Σ_t g_i x_i r
 * The block's output is added to the residual by out_proj's matmul (β = 1), and in the
 * backward the residual's gradient passes through unchanged, so dx is accumulated (+=):
 * that is the fused residual add of both passes. */
#include <cuda_bf16.h>

#include "06_hw_aware_cuda/lm/device.cuh"

/* Out = bf16 (§6.18): y straight as the bf16 operand of in_proj or the head, the same
 * rounding of the same float32 value as staging a float32 y would give */
template <typename Out>
__global__ void rmsnorm_forward_kernel(Out *y, float *rstd, const float *x, const float *w,
                                       int T, int C, float eps)
{
    const int t = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32), lane = threadIdx.x % 32;
    if (t >= T) return;
    const float *xt = x + (size_t)t * C;
    float ss = 0.f;
    for (int i = lane; i < C; i += 32) ss += xt[i] * xt[i];
    const float r = rsqrtf(warp_sum(ss) / C + eps);
    if (lane == 0) rstd[t] = r;
    Out *yt = y + (size_t)t * C;
    for (int i = lane; i < C; i += 32) {
        const float v = w[i] * (xt[i] * r);
        if constexpr (sizeof(Out) == 2) yt[i] = __float2bfloat16_rn(v);
        else yt[i] = v;
    }
}

/* (6.10), the part per token: dx += r·w·g − x·r³/C·Σ w g x; with dx16, also the new dx
 * as bf16 (the next out_proj backward's operand, §6.18) */
__global__ void rmsnorm_backward_dx_kernel(float *dx, __nv_bfloat16 *dx16, const float *dy,
                                           const float *x, const float *w, const float *rstd,
                                           int T, int C)
{
    const int t = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32), lane = threadIdx.x % 32;
    if (t >= T) return;
    const float *xt = x + (size_t)t * C, *gt = dy + (size_t)t * C;
    float s = 0.f;
    for (int i = lane; i < C; i += 32) s += w[i] * gt[i] * xt[i];
    s = warp_sum(s);
    const float r = rstd[t], c = s * r * r * r / C;
    float *dxt = dx + (size_t)t * C;
    for (int i = lane; i < C; i += 32) {
        const float v = dxt[i] + (r * w[i] * gt[i] - xt[i] * c);
        dxt[i] = v;
        if (dx16) dx16[(size_t)t * C + i] = __float2bfloat16_rn(v);
    }
}

/* (6.10), the weight, in two fixed-order stages (no atomics, so every run adds alike):
 * block (column tile, row chunk) sums its rows into partial[chunk][c]; then one thread per
 * channel adds the chunks in order. */
#define RMS_ROWS 256
__global__ void rmsnorm_dw_partial_kernel(float *partial, const float *dy, const float *x,
                                          const float *rstd, int T, int C)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (i >= C) return;
    const int t1 = min(T, (chunk + 1) * RMS_ROWS);
    float s = 0.f;
    for (int t = chunk * RMS_ROWS; t < t1; t++)
        s += dy[(size_t)t * C + i] * x[(size_t)t * C + i] * rstd[t];
    partial[(size_t)chunk * C + i] = s;
}

__global__ void rmsnorm_dw_sum_kernel(float *dw, const float *partial, int nchunks, int C)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= C) return;
    float s = 0.f;
    for (int k = 0; k < nchunks; k++) s += partial[(size_t)k * C + i];
    dw[i] += s;
}

static float *partial_buf;
static size_t partial_cap;

extern "C" void lm_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int T,
                                   int C, float eps)
{
    lm_prof_begin();
    rmsnorm_forward_kernel<<<lm_blocks((size_t)T * 32, 256), 256, 0, LM_STREAM>>>(y, rstd, x, w, T, C, eps);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_NORM);
}

extern "C" void lm_rmsnorm_forward_bf16(void *y, float *rstd, const float *x, const float *w,
                                        int T, int C, float eps)
{
    lm_prof_begin();
    rmsnorm_forward_kernel<<<lm_blocks((size_t)T * 32, 256), 256, 0, LM_STREAM>>>((__nv_bfloat16 *)y, rstd, x,
                                                                    w, T, C, eps);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_NORM);
}

extern "C" size_t lm_rmsnorm_workspace_floats(int T, int C)
{
    return (size_t)((T + RMS_ROWS - 1) / RMS_ROWS) * C;
}

extern "C" void lm_rmsnorm_backward_to(float *dx, void *dx16, float *dw, const float *dy,
                                       const float *x, const float *w, const float *rstd, int T,
                                       int C, float *ws)
{
    lm_prof_begin();
    rmsnorm_backward_dx_kernel<<<lm_blocks((size_t)T * 32, 256), 256, 0, LM_STREAM>>>(
        dx, (__nv_bfloat16 *)dx16, dy, x, w, rstd, T, C);
    LM_LAUNCH_CHECK();
    const int nchunks = (T + RMS_ROWS - 1) / RMS_ROWS;
    if (!ws && (size_t)nchunks * C > partial_cap) {   /* grown once, kept for the run */
        if (partial_buf) LM_CUDA(cudaFree(partial_buf));
        partial_cap = (size_t)nchunks * C;
        LM_CUDA(cudaMalloc((void **)&partial_buf, partial_cap * sizeof(float)));
    }
    float *part = ws ? ws : partial_buf;
    rmsnorm_dw_partial_kernel<<<dim3(lm_blocks((size_t)C, 128), nchunks), 128, 0, LM_STREAM>>>(part, dy, x, rstd, T, C);
    LM_LAUNCH_CHECK();
    rmsnorm_dw_sum_kernel<<<lm_blocks((size_t)C, 128), 128, 0, LM_STREAM>>>(dw, part, nchunks, C);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_NORM);
}

extern "C" void lm_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                                    const float *w, const float *rstd, int T, int C)
{
    lm_rmsnorm_backward_to(dx, NULL, dw, dy, x, w, rstd, T, C, NULL);
}

extern "C" void lm_rmsnorm_release(void)
{
    if (partial_buf) cudaFree(partial_buf);
    partial_buf = NULL;
    partial_cap = 0;
}
