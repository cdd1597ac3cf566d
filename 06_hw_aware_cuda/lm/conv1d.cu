/* 06_hw_aware_cuda/lm/conv1d.cu — the mixer's causal depthwise convolution with its bias,
 * fused with the SiLU after it, on the channel-major (batch, D, L) layout.
 *   (6.11) p_t = b + Σ_{k<K} w_k x_{t−K+1+k}   (x_s = 0 for s < 0),   u_t = p_t σ(p_t)
 * Backward: g_t = ∂L/∂u_t · (σ(p_t) + p_t σ(p_t)(1 − σ(p_t))) at the SiLU's input (p is
 * recomputed, not stored), then ∂L/∂x_s = Σ_k w_k g_{s+K−1−k}, ∂L/∂w_k = Σ_{b,t} g_t x_{t−K+1+k},
 * ∂L/∂b = Σ_{b,t} g_t (one block per channel, a fixed-order reduction). */
#include <cuda_bf16.h>

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

/* (§6.18) The (D, batch·L) copy a matmul reads, written by the kernel that makes the value
 * instead of a staging pass over it: element (b, d, t) of a (batch, D, L) array goes to
 * ct[d·batch·L + b·L + t], as bf16 or float32. */
template <typename Out>
__device__ __forceinline__ void put_ct(Out *ct, float v, int b, int t, int d, int L, size_t T)
{
    Out *o = ct + (size_t)d * T + (size_t)b * L + t;
    if constexpr (sizeof(Out) == 2) *o = __float2bfloat16_rn(v);
    else *o = v;
}

/* The element-wise kernels run on a grid of (batch·D rows) × (blocks along L): the row's
 * channel and sequence by one 32-bit division per thread, where a flat index needed two
 * 64-bit ones (a few dozen instructions each, as much time as the memory traffic). */
#define CONV_ROW_SETUP                                                              \
    const int row = blockIdx.x, t = blockIdx.y * blockDim.x + threadIdx.x;          \
    if (t >= L) return;                                                             \
    const int d = row % D, bb = row / D;                                            \
    const size_t r0 = (size_t)row * L, i = r0 + t;                                  \
    (void)bb; (void)i

template <typename Out>
__global__ void conv1d_silu_forward_kernel(float *u, Out *u_ct, const float *x, const float *w,
                                           const float *b, int D, int L, int K, size_t T)
{
    CONV_ROW_SETUP;
    const float p = conv_at(x + r0, w + (size_t)d * K, b ? b[d] : 0.f, t, K);
    const float v = p * sigmoid(p);
    u[i] = v;
    if (u_ct) put_ct(u_ct, v, bb, t, d, L, T);
}

__global__ void conv1d_silu_grad_kernel(float *g, const float *du, const float *x, const float *w,
                                        const float *b, int D, int L, int K)
{
    CONV_ROW_SETUP;
    const float p = conv_at(x + r0, w + (size_t)d * K, b ? b[d] : 0.f, t, K);
    const float s = sigmoid(p);
    g[i] = du[i] * (s + p * s * (1.f - s));
}

template <typename Out>
__global__ void conv1d_dx_kernel(float *dx, Out *dx_ct, const float *g, const float *w, int D,
                                 int L, int K, size_t T)
{
    CONV_ROW_SETUP;
    const int s = t;
    const float *gr = g + r0, *wd = w + (size_t)d * K;
    float acc = 0.f;
    for (int k = 0; k < K; k++) {
        const int tt = s + K - 1 - k;
        if (tt < L) acc += wd[k] * gr[tt];
    }
    if (dx) dx[i] = acc;
    if (dx_ct) put_ct(dx_ct, acc, bb, s, d, L, T);
}

/* threads along L: 256, or fewer (a multiple of 32) for short sequences */
#define CONV_THREADS (L >= 256 ? 256 : (L + 31) / 32 * 32)
static dim3 conv_grid(int batch, int D, int L)
{
    return dim3((unsigned)(batch * D), (unsigned)((L + CONV_THREADS - 1) / CONV_THREADS));
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

extern "C" void lm_conv1d_silu_forward_ct(float *u, void *u_ct, int ct_bf16, const float *x,
                                          const float *w, const float *b, int batch, int D,
                                          int L, int K)
{
    lm_prof_begin();
    const dim3 grid = conv_grid(batch, D, L);
    const size_t T = (size_t)batch * L;
    if (ct_bf16)
        conv1d_silu_forward_kernel<<<grid, CONV_THREADS>>>(u, (__nv_bfloat16 *)u_ct, x, w, b, D, L,
                                                          K, T);
    else
        conv1d_silu_forward_kernel<<<grid, CONV_THREADS>>>(u, (float *)u_ct, x, w, b, D, L, K, T);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CONV);
}

extern "C" void lm_conv1d_silu_forward(float *u, const float *x, const float *w, const float *b,
                                       int batch, int D, int L, int K)
{
    lm_conv1d_silu_forward_ct(u, NULL, 0, x, w, b, batch, D, L, K);
}

extern "C" void lm_conv1d_silu_backward_ct(float *dx, void *dx_ct, int ct_bf16, float *dw,
                                           float *db, float *g, const float *du, const float *x,
                                           const float *w, const float *b, int batch, int D,
                                           int L, int K)
{
    lm_prof_begin();
    if (K > LM_MAX_K) { fprintf(stderr, "lm: conv kernel %d > %d\n", K, LM_MAX_K); exit(1); }
    const dim3 grid = conv_grid(batch, D, L);
    const size_t T = (size_t)batch * L;
    conv1d_silu_grad_kernel<<<grid, CONV_THREADS>>>(g, du, x, w, b, D, L, K);
    LM_LAUNCH_CHECK();
    if (ct_bf16)
        conv1d_dx_kernel<<<grid, CONV_THREADS>>>(dx, (__nv_bfloat16 *)dx_ct, g, w, D, L, K, T);
    else
        conv1d_dx_kernel<<<grid, CONV_THREADS>>>(dx, (float *)dx_ct, g, w, D, L, K, T);
    LM_LAUNCH_CHECK();
    conv1d_dw_kernel<<<D, 256>>>(dw, db, g, x, batch, D, L, K);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CONV);
}

extern "C" void lm_conv1d_silu_backward(float *dx, float *dw, float *db, float *g, const float *du,
                                        const float *x, const float *w, const float *b, int batch,
                                        int D, int L, int K)
{
    lm_conv1d_silu_backward_ct(dx, NULL, 0, dw, db, g, du, x, w, b, batch, D, L, K);
}
