/* 06_hw_aware_cuda/scan/items.cuh — loading and storing a thread's K consecutive time steps,
 * as 16-byte vectors where the row is aligned and whole, element by element otherwise
 * (the tail of the sequence, or rows whose length breaks the alignment). Values are
 * converted to float on the way in and back to T on the way out. Used by v4, v5 and the
 * fused backward; below them, the pieces of a thread's group of states that v5, v6 and the
 * v6 backward share (the reduce-scatter over lanes, S-state loads and stores). */
#ifndef ITEMS_CUH
#define ITEMS_CUH

#include "06_hw_aware_cuda/scan/scan_device.cuh"

/* 16-byte loads need the row start (row = base of a (b,d) or (b,n) row, length L) aligned:
 * L a multiple of 16/sizeof(T) elements and the allocation 16-byte aligned. The callers'
 * l0 is a multiple of K, so a row that is aligned keeps every K-step piece aligned. */
template <typename T>
__host__ __device__ inline bool rows_vectorizable(int L, const void *const *ptrs, int nptrs)
{
    if (L % (int)(16 / sizeof(T)) != 0) return false;
    for (int i = 0; i < nptrs; i++)
        if (ptrs[i] && ((size_t)ptrs[i] & 15) != 0) return false;
    return true;
}

/* K steps that do not fill whole 16-byte vectors (v5's few steps per lane) always go
 * element by element. */
template <typename T, int K> constexpr bool fills_vectors = (K * sizeof(T)) % 16 == 0;

template <typename T, int K>
__device__ __forceinline__ void load_items(const T *row, int l0, int L, bool vec, float (&x)[K])
{
    if constexpr (fills_vectors<T, K>) {
        if (vec && l0 + K <= L) {
            constexpr int NV = K * sizeof(T) / 16;
            const uint4 *src = reinterpret_cast<const uint4 *>(row + l0);
            uint4 v[NV];
#pragma unroll
            for (int j = 0; j < NV; j++) v[j] = src[j];
            const T *t = reinterpret_cast<const T *>(v);
#pragma unroll
            for (int i = 0; i < K; i++) x[i] = to_f(t[i]);
            return;
        }
    }
#pragma unroll
    for (int i = 0; i < K; i++) x[i] = l0 + i < L ? to_f(row[l0 + i]) : 0.f;
}

template <typename T, int K>
__device__ __forceinline__ void store_items(T *row, int l0, int L, bool vec, const float (&x)[K])
{
    if constexpr (fills_vectors<T, K>) {
        if (vec && l0 + K <= L) {
            constexpr int NV = K * sizeof(T) / 16;
            uint4 v[NV];
            T *t = reinterpret_cast<T *>(v);
#pragma unroll
            for (int i = 0; i < K; i++) t[i] = from_f<T>(x[i]);
            uint4 *dst = reinterpret_cast<uint4 *>(row + l0);
#pragma unroll
            for (int j = 0; j < NV; j++) dst[j] = v[j];
            return;
        }
    }
#pragma unroll
    for (int i = 0; i < K; i++)
        if (l0 + i < L) row[l0 + i] = from_f<T>(x[i]);
}

/* (6.7) Reduce-scatter over the G lanes of a group (v5, v6), each holding R partial sums of
 * consecutive steps, by rounds of shuffle-xor with the masks M = G/2, G/4, …, 1. A lane
 * enters a round holding CNT partial sums y[0..CNT) (consecutive steps); the lane whose bit
 * M is set keeps the upper half, its partner the lower half;
 * each sends the half it drops and adds what its partner sent for the half it keeps. After
 * the round it holds CNT/2 sums, each over twice the lanes. Taking the masks from the top
 * down, lane g ends with the steps from g·R/G on. When G > R the values run out first:
 * the remaining rounds add the one value left, and pairs of lanes hold the same sum. */
template <int R, int M, int CNT>
__device__ __forceinline__ void reduce_scatter(float (&y)[R], int lane)
{
    if constexpr (M >= 1) {
        const unsigned full = 0xffffffffu;
        if constexpr (CNT > 1) {
            constexpr int H = CNT / 2;
            const bool upper = lane & M;
#pragma unroll
            for (int j = 0; j < H; j++) {
                const float send = upper ? y[j] : y[j + H];
                const float keep = upper ? y[j + H] : y[j];
                y[j] = keep + __shfl_xor_sync(full, send, M);
            }
            reduce_scatter<R, M / 2, H>(y, lane);
        } else {
            y[0] += __shfl_xor_sync(full, y[0], M);
            reduce_scatter<R, M / 2, 1>(y, lane);
        }
    }
}

/* S consecutive floats of a shared-memory row (16-byte aligned when S = 4): a thread's
 * group of states in v6 and its backward. */
template <int S>
__device__ __forceinline__ void load_states(const float *src, float (&x)[S])
{
    if constexpr (S == 4) {
        const float4 v = *reinterpret_cast<const float4 *>(src);
        x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    } else {
#pragma unroll
        for (int s = 0; s < S; s++) x[s] = src[s];
    }
}

template <int S>
__device__ __forceinline__ void store_states(float *dst, const float (&x)[S])
{
    if constexpr (S == 4) {
        *reinterpret_cast<float4 *>(dst) = make_float4(x[0], x[1], x[2], x[3]);
    } else {
#pragma unroll
        for (int s = 0; s < S; s++) dst[s] = x[s];
    }
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
