/* 06_hw_aware_cuda/lm/conv1d.cu — the mixer's causal depthwise convolution with its bias,
 * fused with the SiLU after it, on the channel-major (batch, D, L) layout.
 *   (6.11) p_t = b + Σ_{k<K} w_k x_{t−K+1+k}   (x_s = 0 for s < 0),   u_t = p_t σ(p_t)
 * Backward: g_t = ∂L/∂u_t · (σ(p_t) + p_t σ(p_t)(1 − σ(p_t))) at the SiLU's input (p is
 * recomputed, not stored), then ∂L/∂x_s = Σ_k w_k g_{s+K−1−k}, ∂L/∂w_k = Σ_{b,t} g_t x_{t−K+1+k},
 * ∂L/∂b = Σ_{b,t} g_t (partial sums per channel and block of tokens, then added in order).
 *
 * Every kernel is compiled for K = 4 (mamba's conv_kernel: the loops over k unrolled, the
 * weight-gradient sums in registers) and for any K ≤ LM_MAX_K (KT = 0). */
#include <cuda_bf16.h>

#include "06_hw_aware_cuda/lm/device.cuh"

#define LM_MAX_K 16

template <int KT>
__device__ __forceinline__ float conv_at(const float *xr, const float *wd, float bias, int t, int Krt)
{
    const int K = KT ? KT : Krt;
    float p = bias;
#pragma unroll
    for (int k = 0; k < (KT ? KT : LM_MAX_K); k++) {
        if (!KT && k >= K) break;
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

template <int KT, typename Out>
__global__ void conv1d_silu_forward_kernel(float *u, Out *u_ct, const float *x, const float *w,
                                           const float *b, int D, int L, int K, size_t T)
{
    CONV_ROW_SETUP;
    const float p = conv_at<KT>(x + r0, w + (size_t)d * K, b ? b[d] : 0.f, t, K);
    const float v = p * sigmoid(p);
    u[i] = v;
    if (u_ct) put_ct(u_ct, v, bb, t, d, L, T);
}

template <int KT>
__global__ void conv1d_silu_grad_kernel(float *g, const float *du, const float *x, const float *w,
                                        const float *b, int D, int L, int K)
{
    CONV_ROW_SETUP;
    const float p = conv_at<KT>(x + r0, w + (size_t)d * K, b ? b[d] : 0.f, t, K);
    const float s = sigmoid(p);
    g[i] = du[i] * (s + p * s * (1.f - s));
}

template <int KT, typename Out>
__global__ void conv1d_dx_kernel(float *dx, Out *dx_ct, const float *g, const float *w, int D,
                                 int L, int Krt, size_t T)
{
    CONV_ROW_SETUP;
    const int K = KT ? KT : Krt;
    const float *gr = g + r0, *wd = w + (size_t)d * K;
    float acc = 0.f;
#pragma unroll
    for (int k = 0; k < (KT ? KT : LM_MAX_K); k++) {
        if (!KT && k >= K) break;
        const int tt = t + K - 1 - k;
        if (tt < L) acc += wd[k] * gr[tt];
    }
    if (dx) dx[i] = acc;
    if (dx_ct) put_ct(dx_ct, acc, bb, t, d, L, T);
}

/* ∂L/∂w and ∂L/∂b, stage 1: block (d, c) sums the K + 1 products of channel d over tokens
 * c·CONV_DW_TOKENS … (c+1)·CONV_DW_TOKENS − 1 of the batch·L (sequence-major) into
 * part[(c·D + d)·(K+1) + k]. The first version gave each channel ONE block for all T tokens,
 * its sums in an array indexed by a run-time k (local memory): 1536 blocks at the 130m shape,
 * each walking 16 384 tokens or more. */
#define CONV_DW_TOKENS 2048
template <int KT>
__global__ void conv1d_dw_partial_kernel(float *part, const float *g, const float *x, int D,
                                         int L, int Krt, int T)
{
    __shared__ float shared[32];
    const int K = KT ? KT : Krt;
    const int d = blockIdx.x, c = blockIdx.y;
    float acc[(KT ? KT : LM_MAX_K) + 1];
#pragma unroll
    for (int k = 0; k <= (KT ? KT : LM_MAX_K); k++) acc[k] = 0.f;
    const int j1 = min(T, (c + 1) * CONV_DW_TOKENS);
    for (int j = c * CONV_DW_TOKENS + threadIdx.x; j < j1; j += blockDim.x) {
        const int b = j / L, t = j - b * L;
        const size_t r0 = ((size_t)b * D + d) * L;
        const float gt = g[r0 + t];
        const float *xr = x + r0;
#pragma unroll
        for (int k = 0; k < (KT ? KT : LM_MAX_K); k++) {
            if (!KT && k >= K) break;
            const int s = t - K + 1 + k;
            if (s >= 0) acc[k] += gt * xr[s];
        }
        acc[KT ? KT : LM_MAX_K] += gt;
    }
    float *pp = part + ((size_t)c * D + d) * (K + 1);
#pragma unroll
    for (int k = 0; k < (KT ? KT : LM_MAX_K); k++) {
        if (!KT && k >= K) break;
        const float s = block_sum(acc[k], shared);
        if (threadIdx.x == 0) pp[k] = s;
    }
    const float s = block_sum(acc[KT ? KT : LM_MAX_K], shared);
    if (threadIdx.x == 0) pp[K] = s;
}

/* stage 2: one thread per (d, k) adds the blocks' partials in block order */
__global__ void conv1d_dw_sum_kernel(float *dw, float *db, const float *part, int nchunks, int D,
                                     int K)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= D * (K + 1)) return;
    const int d = i / (K + 1), k = i % (K + 1);
    float s = 0.f;
    for (int c = 0; c < nchunks; c++) s += part[((size_t)c * D + d) * (K + 1) + k];
    if (k < K) dw[(size_t)d * K + k] += s;
    else if (db) db[d] += s;
}

static float *dw_part;
static size_t dw_part_cap;

/* threads along L: 256, or fewer (a multiple of 32) for short sequences */
#define CONV_THREADS (L >= 256 ? 256 : (L + 31) / 32 * 32)
static dim3 conv_grid(int batch, int D, int L)
{
    return dim3((unsigned)(batch * D), (unsigned)((L + CONV_THREADS - 1) / CONV_THREADS));
}

/* K = 4 compiled with the loops unrolled; any other K through the general instantiation */
#define CONV_DISPATCH(K, call4, callK) do { if ((K) == 4) { call4; } else { callK; } } while (0)

extern "C" void lm_conv1d_silu_forward_ct(float *u, void *u_ct, int ct_bf16, const float *x,
                                          const float *w, const float *b, int batch, int D,
                                          int L, int K)
{
    lm_prof_begin();
    if (K > LM_MAX_K) { fprintf(stderr, "lm: conv kernel %d > %d\n", K, LM_MAX_K); exit(1); }
    const dim3 grid = conv_grid(batch, D, L);
    const size_t T = (size_t)batch * L;
    __nv_bfloat16 *h = ct_bf16 ? (__nv_bfloat16 *)u_ct : NULL;
    float *f = ct_bf16 ? NULL : (float *)u_ct;
    if (h)
        CONV_DISPATCH(K, (conv1d_silu_forward_kernel<4><<<grid, CONV_THREADS, 0, LM_STREAM>>>(u, h, x, w, b, D, L, K, T)),
                      (conv1d_silu_forward_kernel<0><<<grid, CONV_THREADS, 0, LM_STREAM>>>(u, h, x, w, b, D, L, K, T)));
    else
        CONV_DISPATCH(K, (conv1d_silu_forward_kernel<4><<<grid, CONV_THREADS, 0, LM_STREAM>>>(u, f, x, w, b, D, L, K, T)),
                      (conv1d_silu_forward_kernel<0><<<grid, CONV_THREADS, 0, LM_STREAM>>>(u, f, x, w, b, D, L, K, T)));
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CONV);
}

extern "C" void lm_conv1d_silu_forward(float *u, const float *x, const float *w, const float *b,
                                       int batch, int D, int L, int K)
{
    lm_conv1d_silu_forward_ct(u, NULL, 0, x, w, b, batch, D, L, K);
}

extern "C" size_t lm_conv1d_workspace_floats(int batch, int D, int L, int K)
{
    const size_t T = (size_t)batch * L;
    return (T + CONV_DW_TOKENS - 1) / CONV_DW_TOKENS * D * (K + 1);
}

extern "C" void lm_conv1d_silu_backward_ct(float *dx, void *dx_ct, int ct_bf16, float *dw,
                                           float *db, float *g, const float *du, const float *x,
                                           const float *w, const float *b, int batch, int D,
                                           int L, int K, float *ws)
{
    lm_prof_begin();
    if (K > LM_MAX_K) { fprintf(stderr, "lm: conv kernel %d > %d\n", K, LM_MAX_K); exit(1); }
    const dim3 grid = conv_grid(batch, D, L);
    const size_t T = (size_t)batch * L;
    CONV_DISPATCH(K, (conv1d_silu_grad_kernel<4><<<grid, CONV_THREADS, 0, LM_STREAM>>>(g, du, x, w, b, D, L, K)),
                  (conv1d_silu_grad_kernel<0><<<grid, CONV_THREADS, 0, LM_STREAM>>>(g, du, x, w, b, D, L, K)));
    LM_LAUNCH_CHECK();
    __nv_bfloat16 *h = ct_bf16 ? (__nv_bfloat16 *)dx_ct : NULL;
    float *f = ct_bf16 ? NULL : (float *)dx_ct;
    if (h)
        CONV_DISPATCH(K, (conv1d_dx_kernel<4><<<grid, CONV_THREADS, 0, LM_STREAM>>>(dx, h, g, w, D, L, K, T)),
                      (conv1d_dx_kernel<0><<<grid, CONV_THREADS, 0, LM_STREAM>>>(dx, h, g, w, D, L, K, T)));
    else
        CONV_DISPATCH(K, (conv1d_dx_kernel<4><<<grid, CONV_THREADS, 0, LM_STREAM>>>(dx, f, g, w, D, L, K, T)),
                      (conv1d_dx_kernel<0><<<grid, CONV_THREADS, 0, LM_STREAM>>>(dx, f, g, w, D, L, K, T)));
    LM_LAUNCH_CHECK();
    const int nchunks = (int)((T + CONV_DW_TOKENS - 1) / CONV_DW_TOKENS);
    const size_t need = (size_t)nchunks * D * (K + 1);
    if (!ws && need > dw_part_cap) {               /* grown once, kept for the run */
        if (dw_part) LM_CUDA(cudaFree(dw_part));
        dw_part_cap = need;
        LM_CUDA(cudaMalloc((void **)&dw_part, need * sizeof(float)));
    }
    float *part = ws ? ws : dw_part;
    const dim3 pg((unsigned)D, (unsigned)nchunks);
    CONV_DISPATCH(K, (conv1d_dw_partial_kernel<4><<<pg, 256, 0, LM_STREAM>>>(part, g, x, D, L, K, (int)T)),
                  (conv1d_dw_partial_kernel<0><<<pg, 256, 0, LM_STREAM>>>(part, g, x, D, L, K, (int)T)));
    LM_LAUNCH_CHECK();
    conv1d_dw_sum_kernel<<<lm_blocks((size_t)D * (K + 1), 256), 256, 0, LM_STREAM>>>(dw, db, part, nchunks, D, K);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CONV);
}

extern "C" void lm_conv1d_silu_backward(float *dx, float *dw, float *db, float *g, const float *du,
                                        const float *x, const float *w, const float *b, int batch,
                                        int D, int L, int K)
{
    lm_conv1d_silu_backward_ct(dx, NULL, 0, dw, db, g, du, x, w, b, batch, D, L, K, NULL);
}

extern "C" void lm_conv1d_release(void)
{
    if (dw_part) cudaFree(dw_part);
    dw_part = NULL;
    dw_part_cap = 0;
}
