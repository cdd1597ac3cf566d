/* 06_hw_aware_cuda/lm/rmsnorm.cu — RMSNorm (MambaRMSNorm), one warp per token.
 *   (6.20) y_i = w_i · x_i · r,   r = (Σ_j x_j² / C + ε)^−½
 *   (6.21) ∂L/∂x_i = r·w_i·g_i − x_i · r³/C · Σ_j w_j g_j x_j ;  ∂L/∂w_i = Σ_t g_i x_i r
 * The block's output is added to the residual by out_proj's matmul (β = 1), and in the
 * backward the residual's gradient passes through unchanged, so dx is accumulated (+=):
 * that is the fused residual add of both passes. */
#include "06_hw_aware_cuda/lm/device.cuh"

__global__ void rmsnorm_forward_kernel(float *y, float *rstd, const float *x, const float *w,
                                       int T, int C, float eps)
{
    const int t = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32), lane = threadIdx.x % 32;
    if (t >= T) return;
    const float *xt = x + (size_t)t * C;
    float ss = 0.f;
    for (int i = lane; i < C; i += 32) ss += xt[i] * xt[i];
    const float r = rsqrtf(warp_sum(ss) / C + eps);
    if (lane == 0) rstd[t] = r;
    float *yt = y + (size_t)t * C;
    for (int i = lane; i < C; i += 32) yt[i] = w[i] * (xt[i] * r);
}

/* (6.21), the part per token: dx += r·w·g − x·r³/C·Σ w g x */
__global__ void rmsnorm_backward_dx_kernel(float *dx, const float *dy, const float *x,
                                           const float *w, const float *rstd, int T, int C)
{
    const int t = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32), lane = threadIdx.x % 32;
    if (t >= T) return;
    const float *xt = x + (size_t)t * C, *gt = dy + (size_t)t * C;
    float s = 0.f;
    for (int i = lane; i < C; i += 32) s += w[i] * gt[i] * xt[i];
    s = warp_sum(s);
    const float r = rstd[t], c = s * r * r * r / C;
    float *dxt = dx + (size_t)t * C;
    for (int i = lane; i < C; i += 32) dxt[i] += r * w[i] * gt[i] - xt[i] * c;
}

/* (6.21), the weight: one thread per channel walks the tokens in order (deterministic). */
__global__ void rmsnorm_backward_dw_kernel(float *dw, const float *dy, const float *x,
                                           const float *rstd, int T, int C)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= C) return;
    float s = 0.f;
    for (int t = 0; t < T; t++) s += dy[(size_t)t * C + i] * x[(size_t)t * C + i] * rstd[t];
    dw[i] += s;
}

extern "C" void lm_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int T,
                                   int C, float eps)
{
    rmsnorm_forward_kernel<<<lm_blocks((size_t)T * 32, 256), 256>>>(y, rstd, x, w, T, C, eps);
    LM_LAUNCH_CHECK();
}

extern "C" void lm_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                                    const float *w, const float *rstd, int T, int C)
{
    rmsnorm_backward_dx_kernel<<<lm_blocks((size_t)T * 32, 256), 256>>>(dx, dy, x, w, rstd, T, C);
    LM_LAUNCH_CHECK();
    rmsnorm_backward_dw_kernel<<<lm_blocks((size_t)C, 128), 128>>>(dw, dy, x, rstd, T, C);
    LM_LAUNCH_CHECK();
}
