/* 06_hw_aware_cuda/lm/adamw.cu — AdamW exactly as torch.optim.AdamW (decoupled decay first,
 * bias corrections folded into the step size and the denominator, in that order), on fp32
 * master weights; and the sum of squares for global-norm clipping.
 *   (6.16) p ← p·(1 − η λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *          p ← p − (η / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
 * g is the stored gradient times grad_scale (the clipping factor). */
#include <cuda_bf16.h>

#include "06_hw_aware_cuda/lm/device.cuh"

/* one element's update; returns the new weight */
__device__ __forceinline__ float adamw_one(float *p, float *m, float *v, const float *g, size_t i,
                                           float lr, float beta1, float beta2, float eps, float wd,
                                           float grad_scale, float bc1, float sqrt_bc2)
{
    const float gi = g[i] * grad_scale;
    float pi = p[i] * (1.f - lr * wd);
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    pi = pi - (lr / bc1) * mi / (sqrtf(vi) / sqrt_bc2 + eps);
    p[i] = pi;
    return pi;
}

__global__ void adamw_kernel(float *p, float *m, float *v, const float *g, size_t n, float lr,
                             float beta1, float beta2, float eps, float wd, float grad_scale,
                             float bc1, float sqrt_bc2)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) adamw_one(p, m, v, g, i, lr, beta1, beta2, eps, wd, grad_scale, bc1, sqrt_bc2);
}

/* The same update over the whole flat parameter buffer in one launch: element i's weight
 * decay is wd where its tensor decays (segment j with seg_end[j−1] <= i < seg_end[j], found
 * by bisection), else 0; with p16, the new weight also as bf16 (the matmuls' mirror,
 * §6.18). One launch instead of one per tensor (242 at the 130m shape, each too small to
 * fill the GPU), and the mirror without a pass of its own. */
__global__ void adamw_flat_kernel(float *p, float *m, float *v, const float *g,
                                  __nv_bfloat16 *p16, size_t n, const unsigned long long *seg_end,
                                  const unsigned char *seg_decay, int nseg, float lr, float beta1,
                                  float beta2, float eps, float wd, float grad_scale, float bc1,
                                  float sqrt_bc2, const lm_opt_scalars *sc)
{
    if (sc) {                                      /* §6.24 the step's values from the device */
        lr = sc->lr; bc1 = sc->bc1; sqrt_bc2 = sc->sqrt_bc2; grad_scale = sc->grad_scale;
    }
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int lo = 0, hi = nseg - 1;                 /* the first segment whose end is > i */
        while (lo < hi) {
            const int mid = (lo + hi) / 2;
            if (seg_end[mid] > i) hi = mid; else lo = mid + 1;
        }
        const float pi = adamw_one(p, m, v, g, i, lr, beta1, beta2, eps, seg_decay[lo] ? wd : 0.f,
                                   grad_scale, bc1, sqrt_bc2);
        if (p16) p16[i] = __float2bfloat16_rn(pi);
    }
}

__global__ void sumsq_kernel(float *partials, const float *g, size_t n)
{
    __shared__ float shared[32];
    float s = 0.f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += g[i] * g[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

extern "C" void lm_adamw(float *p, float *m, float *v, const float *g, size_t n, float lr,
                         float beta1, float beta2, float eps, float weight_decay,
                         float grad_scale, int t)
{
    lm_prof_begin();
    /* the bias corrections in double, as torch computes them in Python floats */
    const double bc1 = 1.0 - pow((double)beta1, t), bc2 = 1.0 - pow((double)beta2, t);
    adamw_kernel<<<lm_blocks(n, 256), 256, 0, LM_STREAM>>>(p, m, v, g, n, lr, beta1, beta2, eps, weight_decay,
                                             grad_scale, (float)bc1, (float)sqrt(bc2));
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OPTIMIZER);
}

extern "C" void lm_adamw_flat(float *p, float *m, float *v, const float *g, void *p16, size_t n,
                              const unsigned long long *seg_end, const unsigned char *seg_decay,
                              int nseg, float lr, float beta1, float beta2, float eps,
                              float weight_decay, float grad_scale, int t)
{
    lm_prof_begin();
    const double bc1 = 1.0 - pow((double)beta1, t), bc2 = 1.0 - pow((double)beta2, t);
    const unsigned blocks = lm_blocks(n, 256) < 132u * 64 ? lm_blocks(n, 256) : 132u * 64;
    adamw_flat_kernel<<<blocks, 256, 0, LM_STREAM>>>(p, m, v, g, (__nv_bfloat16 *)p16, n, seg_end, seg_decay,
                                       nseg, lr, beta1, beta2, eps, weight_decay, grad_scale,
                                       (float)bc1, (float)sqrt(bc2), NULL);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OPTIMIZER);
}

/* §6.24 The optimizer with its step's values in device memory, so that a captured step needs
 * nothing from the host: the host writes lr and the bias corrections (lm_opt_bias: the same
 * floats lm_adamw_flat passes), the device the clipping factor (clip_scale_kernel: Σ g² of the
 * partial sums added in double in block order, the norm, clip_grad_norm_'s factor — the
 * arithmetic the host did, so the same bits). */
extern "C" void lm_opt_bias(lm_opt_scalars *s, double lr, float beta1, float beta2, int t)
{
    const double bc1 = 1.0 - pow((double)beta1, t), bc2 = 1.0 - pow((double)beta2, t);
    s->lr = (float)lr;
    s->bc1 = (float)bc1;
    s->sqrt_bc2 = (float)sqrt(bc2);
}

/* the partial sums staged in shared memory by the block (one thread adding from global memory
 * would wait for each load in turn), then added by one thread in order */
#define CLIP_MAX_PARTS 1024
__global__ void clip_scale_kernel(lm_opt_scalars *s, const float *partials, int nparts, double clip)
{
    __shared__ float part[CLIP_MAX_PARTS];
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) part[i] = partials[i];
    __syncthreads();
    if (threadIdx.x != 0) return;
    double ss = 0;
    for (int i = 0; i < nparts; i++) ss += part[i];
    const double norm = sqrt(ss);
    double scale = clip > 0 ? clip / (norm + 1e-6) : 1;
    if (scale > 1) scale = 1;
    s->norm = norm;
    s->grad_scale = (float)scale;
}

extern "C" void lm_clip_scale(lm_opt_scalars *s, const float *partials, int nparts, double clip)
{
    lm_prof_begin();
    if (nparts > CLIP_MAX_PARTS) { fprintf(stderr, "lm: %d norm partials > %d\n", nparts, CLIP_MAX_PARTS); exit(1); }
    clip_scale_kernel<<<1, 256, 0, LM_STREAM>>>(s, partials, nparts, clip);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OPTIMIZER);
}

extern "C" void lm_adamw_flat_dev(float *p, float *m, float *v, const float *g, void *p16, size_t n,
                                  const unsigned long long *seg_end, const unsigned char *seg_decay,
                                  int nseg, float beta1, float beta2, float eps,
                                  float weight_decay, const lm_opt_scalars *s)
{
    lm_prof_begin();
    const unsigned blocks = lm_blocks(n, 256) < 132u * 64 ? lm_blocks(n, 256) : 132u * 64;
    adamw_flat_kernel<<<blocks, 256, 0, LM_STREAM>>>(p, m, v, g, (__nv_bfloat16 *)p16, n, seg_end,
                                                     seg_decay, nseg, 0.f, beta1, beta2, eps,
                                                     weight_decay, 1.f, 1.f, 1.f, s);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OPTIMIZER);
}

extern "C" void lm_sumsq_partials_n(float *partials, const float *g, size_t n, int nblocks)
{
    lm_prof_begin();
    sumsq_kernel<<<nblocks, 256, 0, LM_STREAM>>>(partials, g, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OPTIMIZER);
}

extern "C" void lm_sumsq_partials(float *partials, const float *g, size_t n)
{
    lm_sumsq_partials_n(partials, g, n, LM_NORM_BLOCKS);
}
