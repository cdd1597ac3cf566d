/* 06_hw_aware_cuda/scan/step_vectors.cuh — loading and storing a thread's K consecutive time
 * steps, as 16-byte vectors where the row is aligned and whole, element by element otherwise
 * (the tail of the sequence, or rows whose length breaks the alignment). Values are
 * converted to float on the way in and back to T on the way out. Used by v4, v5 and the
 * fused backward. */
#ifndef STEP_VECTORS_CUH
#define STEP_VECTORS_CUH

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

#endif
