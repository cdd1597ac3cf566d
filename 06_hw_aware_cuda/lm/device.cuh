/* 06_hw_aware_cuda/lm/device.cuh — device helpers the layer kernels share: reductions over a
 * warp and a block in a fixed order (so every run adds in the same order), SiLU. */
#ifndef LM_DEVICE_CUH
#define LM_DEVICE_CUH

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "06_hw_aware_cuda/lm/kernels.h"

#define LM_LAUNCH_CHECK() LM_CUDA(cudaGetLastError())
/* every launch of this folder enqueues on the model's current stream (lm_set_stream) */
#define LM_STREAM ((cudaStream_t)lm_get_stream())

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result.
 * `shared` holds 32 floats. Ends with a barrier, so it may be called again at once. */
__device__ __forceinline__ float block_sum(float v, float *shared)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_sum(v);
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < nwarps ? shared[lane] : 0.f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}

__device__ __forceinline__ float block_max(float v, float *shared)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_max(v);
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < nwarps ? shared[lane] : -INFINITY;
    v = warp_max(v);
    __syncthreads();
    return v;
}

__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

static inline unsigned lm_blocks(size_t n, int threads)
{
    return (unsigned)((n + (size_t)threads - 1) / (size_t)threads);
}

#endif
