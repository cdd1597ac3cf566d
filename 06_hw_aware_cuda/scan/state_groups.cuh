/* 06_hw_aware_cuda/scan/state_groups.cuh — the pieces of a thread's group of states that v5,
 * v6 and the v6 backward share: the reduce-scatter of partial sums over the lanes of a
 * channel (6.7), and S-state loads and stores from shared memory. */
#ifndef STATE_GROUPS_CUH
#define STATE_GROUPS_CUH

#include "06_hw_aware_cuda/scan/scan_device.cuh"

/* (6.7) Reduce-scatter over the G lanes of a group (v5, v6), each holding R partial sums of
 * consecutive steps, by rounds of shuffle-xor with the masks M = G/2, G/4, …, 1. A lane
 * enters a round holding CNT partial sums y[0..CNT) (consecutive steps); the lane whose bit
 * M is set keeps the upper half, its partner the lower half;
 * each sends the half it drops and adds what its partner sent for the half it keeps. After
 * the round it holds CNT/2 sums, each over twice the lanes. Taking the masks from the top
 * down, lane g ends with the steps from g·R/G on. When G > R the values run out first:
 * the remaining rounds add the one value left, and pairs of lanes hold the same sum.
 * MLO stops the rounds at that mask (the v7 backward sums over the channels of a warp, lane
 * bits MLO … 16, and not over a channel's own lanes); *base, if given, counts where the lane's
 * block of values starts. */
template <int R, int M, int CNT, int MLO = 1>
__device__ __forceinline__ void reduce_scatter(float (&y)[R], int lane, int *base = nullptr)
{
    if constexpr (M >= MLO && M >= 1) {
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
            if (base && upper) *base += H;
            reduce_scatter<R, M / 2, H, MLO>(y, lane, base);
        } else {
            y[0] += __shfl_xor_sync(full, y[0], M);
            reduce_scatter<R, M / 2, 1, MLO>(y, lane, base);
        }
    }
}

/* S consecutive floats of a row in shared or global memory (16-byte aligned when S = 4): a
 * thread's group of states in v6 and its backward, the v7 walk's checkpoints. */
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

#endif
