/* 06_hw_aware_cuda/lm/adamw.cu — AdamW exactly as torch.optim.AdamW (decoupled decay first,
 * bias corrections folded into the step size and the denominator, in that order), on fp32
 * master weights; and the sum of squares for global-norm clipping.
 *   (6.16) p ← p·(1 − η λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *          p ← p − (η / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
 * g is the stored gradient times grad_scale (the clipping factor). */
#include "06_hw_aware_cuda/lm/device.cuh"

__global__ void adamw_kernel(float *p, float *m, float *v, const float *g, size_t n, float lr,
                             float beta1, float beta2, float eps, float wd, float grad_scale,
                             float bc1, float sqrt_bc2)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float gi = g[i] * grad_scale;
    float pi = p[i] * (1.f - lr * wd);
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (lr / bc1) * mi / (sqrtf(vi) / sqrt_bc2 + eps);
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
    adamw_kernel<<<lm_blocks(n, 256), 256>>>(p, m, v, g, n, lr, beta1, beta2, eps, weight_decay,
                                             grad_scale, (float)bc1, (float)sqrt(bc2));
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OPTIMIZER);
}

extern "C" void lm_sumsq_partials(float *partials, const float *g, size_t n)
{
    lm_prof_begin();
    sumsq_kernel<<<LM_NORM_BLOCKS, 256>>>(partials, g, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OPTIMIZER);
}
