/* 06_hw_aware_cuda/scan/scan_device.cuh — device helpers shared by the kernel files: dtype
 * conversion, the pointwise maps of (5.1) and (5.6), and the block-wide scan over (a, b)
 * pairs (6.4). Included by the .cu files only. */
#ifndef SCAN_DEVICE_CUH
#define SCAN_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "06_hw_aware_cuda/scan/scan_gpu.h"

/* Every CUDA call and launch is checked; a failure returns SCAN_ECUDA to the caller. */
#define SCAN_CUDA(call)                                   \
    do {                                                  \
        if ((call) != cudaSuccess) return SCAN_ECUDA;     \
    } while (0)
#define SCAN_LAUNCHED() SCAN_CUDA(cudaGetLastError())

/* ---- dtype conversion: fp32 state and arithmetic whatever the storage type ---- */
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

/* ---- pointwise maps ---- */
__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + __expf(-x)); }
/* (5.1) Δ = softplus(δ + bias): log1p(e^v), v itself above 20 (as PyTorch and stage 05). */
__device__ __forceinline__ float dt_of(float raw, float bias, int softplus)
{
    const float v = raw + bias;
    return softplus ? (v <= 20.f ? log1pf(__expf(v)) : v) : v;
}
/* dΔ/dδ: σ(v) under the softplus (1 above the threshold), 1 without it. */
__device__ __forceinline__ float dt_grad(float raw, float bias, int softplus)
{
    const float v = raw + bias;
    return softplus ? (v <= 20.f ? sigmoidf_(v) : 1.f) : 1.f;
}
__device__ __forceinline__ float silu_f(float z) { return z * sigmoidf_(z); }
__device__ __forceinline__ float silu_grad_f(float z)
{
    const float s = sigmoidf_(z);
    return s * (1.f + z * (1.f - s));
}
/* 2^x on the special-function unit (one MUFU.EX2): exp(Δ·A) = 2^(Δ·A·log₂e). */
__device__ __forceinline__ float ex2_approx(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* ---- (6.4) the block-wide scan over (a, b) pairs ----
 * The pair (a, b) stands for the affine map h ↦ a·h + b; applying (a1, b1) and then
 * (a2, b2) is (a2·a1, a2·b1 + b2), an associative combination. Each of NT threads brings
 * the combination of its own items; on return (ea, eb) is the combination of every
 * thread before it in processing order (identity (1, 0) for the first), (ta, tb) that of
 * the whole block. Processing order is thread order, or its reverse when REV (the
 * backward pass scans time backwards). Steps: an inclusive scan inside each warp with
 * shuffles (log₂32 = 5 steps), each warp's total to shared memory, one warp scans those,
 * each thread combines its warp's prefix with its own exclusive value.
 * sm holds NT/32 + 1 pairs; callers alternate between two such buffers on successive
 * calls, so a fast warp starting the next scan never overwrites what a slow one reads. */
/* A block may hold several such groups of NT threads (the backward runs two channels per
 * block): t is the thread's index inside its group (default threadIdx.x), sm the group's own
 * buffer; the barriers are block-wide, so every group calls the scan together. */
template <int NT, bool REV>
__device__ __forceinline__ void block_scan_pairs(float a, float b, float &ea, float &eb,
                                                 float &ta, float &tb, float2 *sm, int t = -1)
{
    constexpr int NW = NT / 32;
    static_assert(NT % 32 == 0 && NW <= 32, "block of 32..1024 threads");
    const unsigned full = 0xffffffffu;
    if (t < 0) t = threadIdx.x;
    const int lane = t & 31, warp = t >> 5;
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
        const float pa = REV ? __shfl_down_sync(full, a, off) : __shfl_up_sync(full, a, off);
        const float pb = REV ? __shfl_down_sync(full, b, off) : __shfl_up_sync(full, b, off);
        if (REV ? lane + off < 32 : lane >= off) {   /* earlier (pa, pb), then ours */
            b = a * pb + b;
            a = a * pa;
        }
    }
    /* exclusive within the warp: the inclusive value of the previous lane */
    float xa = REV ? __shfl_down_sync(full, a, 1) : __shfl_up_sync(full, a, 1);
    float xb = REV ? __shfl_down_sync(full, b, 1) : __shfl_up_sync(full, b, 1);
    if (lane == (REV ? 31 : 0)) { xa = 1.f; xb = 0.f; }
    if (lane == (REV ? 0 : 31)) sm[warp] = make_float2(a, b);   /* the warp's total */
    __syncthreads();
    if (warp == 0) {
        /* lane j scans the j-th warp in processing order */
        const int w = REV ? NW - 1 - lane : lane;
        float2 t = lane < NW ? sm[w] : make_float2(1.f, 0.f);
        float wa = t.x, wb = t.y;
#pragma unroll
        for (int off = 1; off < 32; off *= 2) {
            const float pa = __shfl_up_sync(full, wa, off);
            const float pb = __shfl_up_sync(full, wb, off);
            if (lane >= off) {
                wb = wa * pb + wb;
                wa = wa * pa;
            }
        }
        float pa = __shfl_up_sync(full, wa, 1), pb = __shfl_up_sync(full, wb, 1);
        if (lane == 0) { pa = 1.f; pb = 0.f; }
        __syncwarp();
        if (lane < NW) sm[w] = make_float2(pa, pb);           /* exclusive prefix of warp w */
        if (lane == NW - 1) sm[NW] = make_float2(wa, wb);      /* the block total */
    }
    __syncthreads();
    const float2 wp = sm[warp], tot = sm[NW];
    ea = xa * wp.x;              /* the warp prefix first, then the lanes before us */
    eb = xa * wp.y + xb;
    ta = tot.x;
    tb = tot.y;
}

/* Sum over the block (or over the group of NT threads t belongs to, as above); the result
 * is valid in every thread. sm holds 33 floats; the same double-buffering rule applies. */
template <int NT>
__device__ __forceinline__ float block_sum(float v, float *sm, int t = -1)
{
    constexpr int NW = NT / 32;
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (t < 0) t = threadIdx.x;
    const int lane = t & 31, warp = t >> 5;
    if (lane == 0) sm[warp] = v;
    __syncthreads();
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < NW; w++) sum += sm[w];
    return sum;
}

/* Sum over a warp (all lanes get it). */
__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* (6.4) a thread's K steps as one pair: h ↦ pa·h + pb maps the state before its first step
 * to the state after its last. */
template <int K>
__device__ __forceinline__ void combine_items(const float (&a)[K], const float (&b)[K], float &pa,
                                              float &pb)
{
    pa = 1.f;
    pb = 0.f;
#pragma unroll
    for (int i = 0; i < K; i++) {
        pb = a[i] * pb + b[i];
        pa = a[i] * pa;
    }
}

/* Launch-side dispatch of the state size to a compile-time constant (v2 keeps the
 * state in registers, so N must be known when the kernel is compiled). */
#define SCAN_DISPATCH_N(N, NC, ...)                                              \
    switch (N) {                                                                 \
    case 1: { constexpr int NC = 1; __VA_ARGS__; } break;                        \
    case 2: { constexpr int NC = 2; __VA_ARGS__; } break;                        \
    case 4: { constexpr int NC = 4; __VA_ARGS__; } break;                        \
    case 8: { constexpr int NC = 8; __VA_ARGS__; } break;                        \
    case 16: { constexpr int NC = 16; __VA_ARGS__; } break;                      \
    case 32: { constexpr int NC = 32; __VA_ARGS__; } break;                      \
    case 64: { constexpr int NC = 64; __VA_ARGS__; } break;                      \
    default: return SCAN_EN;                                                     \
    }

/* Launch-side dtype dispatch. */
#define SCAN_DISPATCH_T(dtype, TC, ...)                                 \
    switch (dtype) {                                                    \
    case SCAN_F32: { typedef float TC; __VA_ARGS__; } break;            \
    case SCAN_BF16: { typedef __nv_bfloat16 TC; __VA_ARGS__; } break;   \
    case SCAN_F16: { typedef __half TC; __VA_ARGS__; } break;           \
    default: return SCAN_EDTYPE;                                        \
    }

#endif
