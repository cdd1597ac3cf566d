/* 06_hw_aware_cuda/lm/conv1d.cu — the mixer's causal depthwise convolution with its bias,
 * fused with the SiLU after it, on the channel-major (batch, D, L) layout.
 *   (6.11) p_t = b + Σ_{k<K} w_k x_{t−K+1+k}   (x_s = 0 for s < 0),   u_t = p_t σ(p_t)
 * Backward: g_t = ∂L/∂u_t · (σ(p_t) + p_t σ(p_t)(1 − σ(p_t))) at the SiLU's input (p is
 * recomputed, not stored), then ∂L/∂x_s = Σ_k w_k g_{s+K−1−k}, ∂L/∂w_k = Σ_{b,t} g_t x_{t−K+1+k},
 * ∂L/∂b = Σ_{b,t} g_t (one block per channel, a fixed-order reduction). */
#include "06_hw_aware_cuda/lm/device.cuh"

#define LM_MAX_K 16

__device__ __forceinline__ float conv_at(const float *xr, const float *wd, float bias, int t, int K)
{
    float p = bias;
    for (int k = 0; k < K; k++) {
        const int s = t - K + 1 + k;
        if (s >= 0) p += wd[k] * xr[s];
    }
    return p;
}

__global__ void conv1d_silu_forward_kernel(float *u, const float *x, const float *w,
                                           const float *b, int D, int L, int K, size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int t = (int)(i % L), d = (int)(i / L % D);
    const float p = conv_at(x + (i - t), w + (size_t)d * K, b ? b[d] : 0.f, t, K);
    u[i] = p * sigmoid(p);
}

__global__ void conv1d_silu_grad_kernel(float *g, const float *du, const float *x, const float *w,
                                        const float *b, int D, int L, int K, size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int t = (int)(i % L), d = (int)(i / L % D);
    const float p = conv_at(x + (i - t), w + (size_t)d * K, b ? b[d] : 0.f, t, K);
    const float s = sigmoid(p);
    g[i] = du[i] * (s + p * s * (1.f - s));
}

__global__ void conv1d_dx_kernel(float *dx, const float *g, const float *w, int D, int L, int K,
                                 size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int s = (int)(i % L), d = (int)(i / L % D);
    const float *gr = g + (i - s), *wd = w + (size_t)d * K;
    float acc = 0.f;
    for (int k = 0; k < K; k++) {
        const int t = s + K - 1 - k;
        if (t < L) acc += wd[k] * gr[t];
    }
    dx[i] = acc;
}

/* one block per channel d: Σ over batch and time, K + 1 sums in one pass */
__global__ void conv1d_dw_kernel(float *dw, float *db, const float *g, const float *x, int batch,
                                 int D, int L, int K)
{
    __shared__ float shared[32];
    const int d = blockIdx.x;
    float acc[LM_MAX_K + 1];
    for (int k = 0; k <= K; k++) acc[k] = 0.f;
    for (int b = 0; b < batch; b++) {
        const float *gr = g + ((size_t)b * D + d) * L, *xr = x + ((size_t)b * D + d) * L;
        for (int t = threadIdx.x; t < L; t += blockDim.x) {
            const float gt = gr[t];
            for (int k = 0; k < K; k++) {
                const int s = t - K + 1 + k;
                if (s >= 0) acc[k] += gt * xr[s];
            }
            acc[K] += gt;
        }
    }
    for (int k = 0; k <= K; k++) {
        const float s = block_sum(acc[k], shared);
        if (threadIdx.x == 0) {
            if (k < K) dw[(size_t)d * K + k] += s;
            else if (db) db[d] += s;
        }
    }
}

extern "C" void lm_conv1d_silu_forward(float *u, const float *x, const float *w, const float *b,
                                       int batch, int D, int L, int K)
{
    lm_prof_begin();
    const size_t n = (size_t)batch * D * L;
    conv1d_silu_forward_kernel<<<lm_blocks(n, 256), 256>>>(u, x, w, b, D, L, K, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CONV);
}

extern "C" void lm_conv1d_silu_backward(float *dx, float *dw, float *db, float *g, const float *du,
                                        const float *x, const float *w, const float *b, int batch,
                                        int D, int L, int K)
{
    lm_prof_begin();
    if (K > LM_MAX_K) { fprintf(stderr, "lm: conv kernel %d > %d\n", K, LM_MAX_K); exit(1); }
    const size_t n = (size_t)batch * D * L;
    conv1d_silu_grad_kernel<<<lm_blocks(n, 256), 256>>>(g, du, x, w, b, D, L, K, n);
    LM_LAUNCH_CHECK();
    conv1d_dx_kernel<<<lm_blocks(n, 256), 256>>>(dx, g, w, D, L, K, n);
    LM_LAUNCH_CHECK();
    conv1d_dw_kernel<<<D, 256>>>(dw, db, g, x, batch, D, L, K);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CONV);
}
