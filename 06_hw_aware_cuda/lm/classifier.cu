/* 06_hw_aware_cuda/lm/classifier.cu — softmax, cross-entropy and their backward in one
 * kernel, one block per token, as llm.c's fused classifier: the probabilities are never
 * stored; the gradient overwrites the logits in place.
 *   (6.14) loss_t = log Σ_j e^{ℓ_j − m} + m − ℓ_{y_t},  m = max_j ℓ_j
 *   (6.15) ∂loss/∂ℓ_j = softmax_j − [j = y_t], scaled by dscale (1/(number of tokens ·
 *          micro-batches) for a mean). A target < 0 is ignored: loss 0, gradient 0. */
#include <cuda_bf16.h>

#include "06_hw_aware_cuda/lm/device.cuh"

/* (m1, s1) ⊕ (m2, s2): the pair of max and Σ e^{x − max} of the union of two sets */
__device__ __forceinline__ void max_sum_merge(float *m, float *s, float m2, float s2)
{
    const float M = fmaxf(*m, m2);
    *s = M == -INFINITY ? 0.f : *s * expf(*m - M) + s2 * expf(m2 - M);
    *m = M;
}

/* over the block (blockDim.x a multiple of 32), every thread gets the result */
__device__ __forceinline__ void block_max_sum(float *m, float *s, float *sh_m, float *sh_s)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    for (int o = 16; o > 0; o >>= 1)
        max_sum_merge(m, s, __shfl_xor_sync(0xffffffffu, *m, o), __shfl_xor_sync(0xffffffffu, *s, o));
    if (lane == 0) { sh_m[warp] = *m; sh_s[warp] = *s; }
    __syncthreads();
    *m = lane < nwarps ? sh_m[lane] : -INFINITY;
    *s = lane < nwarps ? sh_s[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1)
        max_sum_merge(m, s, __shfl_xor_sync(0xffffffffu, *m, o), __shfl_xor_sync(0xffffffffu, *s, o));
    __syncthreads();
}

/* Out = float: the gradient in place of the logits (dl == logits); Out = bf16: into dl. */
template <typename Out>
__global__ void classifier_kernel(float *logits, float *losses, const int *targets, int V,
                                  float dscale, Out *dl)
{
    __shared__ float shared[32], shared2[32];
    const int t = blockIdx.x, y = targets[t];
    const float *l = logits + (size_t)t * V;
    /* the maximum and the sum of e^{ℓ − max} in ONE pass over the row (the "online"
     * softmax: the sum rescaled whenever the maximum grows), then combined over the block
     * in a fixed order. A row is 201 KB at V = 50 280: each pass over it goes to DRAM. */
    float m = -INFINITY, s = 0.f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        const float v = l[j];
        if (v > m) { s = s * expf(m - v) + 1.f; m = v; }
        else s += expf(v - m);
    }
    block_max_sum(&m, &s, shared, shared2);
    const float lse = logf(s) + m;
    if (threadIdx.x == 0) losses[t] = y >= 0 ? lse - l[y] : 0.f;
    __syncthreads();                    /* l[y] is read before anyone overwrites it */
    if (dscale == 0.f) return;
    Out *d = dl + (size_t)t * V;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        const float g = y >= 0 ? dscale * (expf(l[j] - lse) - (j == y ? 1.f : 0.f)) : 0.f;
        if constexpr (sizeof(Out) == 2) d[j] = __float2bfloat16_rn(g);
        else d[j] = g;
    }
}

extern "C" void lm_classifier(float *logits, float *losses, const int *targets, int T, int V,
                              float dscale)
{
    lm_prof_begin();
    classifier_kernel<<<T, 512, 0, LM_STREAM>>>(logits, losses, targets, V, dscale, logits);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CLASSIFIER);
}

extern "C" void lm_classifier_bf16(float *logits, float *losses, const int *targets, int T, int V,
                                   float dscale, void *dlogits)
{
    lm_prof_begin();
    classifier_kernel<<<T, 512, 0, LM_STREAM>>>(logits, losses, targets, V, dscale, (__nv_bfloat16 *)dlogits);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CLASSIFIER);
}
