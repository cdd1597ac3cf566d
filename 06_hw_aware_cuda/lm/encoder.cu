/* 06_hw_aware_cuda/lm/encoder.cu — the embedding (6.8) and the small element-wise steps
 * around the scan: A = −exp(A_log) (6.13) and the chain rule back through it. */
#include "06_hw_aware_cuda/lm/device.cuh"

__global__ void embedding_forward_kernel(float *x, const float *E, const int *tokens, int C,
                                         size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const size_t t = i / C, c = i % C;
    x[i] = E[(size_t)tokens[t] * C + c];
}

/* One block per distinct token v, one thread per channel: dE[v] += dx[t] over the positions
 * t of v in increasing order (order[starts[j] … starts[j+1]−1], a stable sort of the
 * positions by token, made on the host). The sum is the same on every run — the first
 * version was one thread walking all T tokens (C threads, T dependent steps each, 5–9 ms a
 * step at 16 384 tokens). A token that fills most of the batch (the noise token of selective
 * copying: 4 080 of 4 112 positions, 261 000 in a batch of 64) made its block walk all of
 * them, ~75 ms a step: such tokens are first summed in segments of LM_EMB_SEG positions by
 * many blocks (embedding_segment_kernel), and their block adds the segments in order. */
/* counts (device, may be NULL): the distinct tokens and segments of this batch when the grid
 * is only their upper bound (a graph's launch, §6.24: its grid is fixed when captured) */
__global__ void embedding_segment_kernel(float *part, const float *dx, const int *order,
                                         const int *seg_lo, const int *seg_hi, int C,
                                         const int *counts)
{
    if (counts && (int)blockIdx.x >= counts[1]) return;
    const int s = blockIdx.x, k0 = seg_lo[s], k1 = seg_hi[s];
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = 0.f;
        for (int k = k0; k < k1; k++) acc += dx[(size_t)order[k] * C + c];
        part[(size_t)s * C + c] = acc;
    }
}

__global__ void embedding_backward_kernel(float *dE, const float *dx, const int *order,
                                          const int *rows, const int *starts, const int *segs,
                                          const float *part, int C, const int *counts)
{
    if (counts && (int)blockIdx.x >= counts[0]) return;
    const int j = blockIdx.x, t0 = starts[j], t1 = starts[j + 1], s0 = segs[j], s1 = segs[j + 1];
    float *de = dE + (size_t)rows[j] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = de[c];
        if (s1 > s0)
            for (int s = s0; s < s1; s++) acc += part[(size_t)s * C + c];
        else
            for (int k = t0; k < t1; k++) acc += dx[(size_t)order[k] * C + c];
        de[c] = acc;
    }
}

__global__ void neg_exp_kernel(float *A, const float *A_log, size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) A[i] = -expf(A_log[i]);
}

/* ∂L/∂A_log = ∂L/∂A · ∂A/∂A_log = ∂L/∂A · A */
__global__ void dA_log_kernel(float *dA_log, const float *dA, const float *A, size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dA_log[i] += dA[i] * A[i];
}

/* y += Σ_k x[k·n + i], k = 0 … nparts−1 in that order (the same bits on every run) */
__global__ void add_parts_kernel(float *y, const float *x, int nparts, size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float acc = y[i];
    for (int k = 0; k < nparts; k++) acc += x[(size_t)k * n + i];
    y[i] = acc;
}

__global__ void fill_uniform_kernel(float *x, size_t n, unsigned long long seed, float lo, float hi)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned long long h = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31; h *= 0x94D049BB133111EBull; h ^= h >> 29;
    x[i] = lo + (hi - lo) * (float)((h >> 40) * (1.0 / 16777216.0));
}

extern "C" void lm_fill_uniform(float *x, size_t n, unsigned long long seed, float lo, float hi)
{
    fill_uniform_kernel<<<lm_blocks(n, 256), 256, 0, LM_STREAM>>>(x, n, seed, lo, hi);
    LM_LAUNCH_CHECK();
}

extern "C" void lm_embedding_forward(float *x, const float *E, const int *tokens, int T, int C)
{
    lm_prof_begin();
    const size_t n = (size_t)T * C;
    embedding_forward_kernel<<<lm_blocks(n, 256), 256, 0, LM_STREAM>>>(x, E, tokens, C, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OTHER);
}

extern "C" void lm_embedding_backward(float *dE, const float *dx, const int *order,
                                      const int *rows, const int *starts, const int *segs,
                                      const int *seg_lo, const int *seg_hi, float *part, int U,
                                      int nseg, int C, const int *counts)
{
    lm_prof_begin();
    if (nseg > 0) {
        embedding_segment_kernel<<<nseg, 128, 0, LM_STREAM>>>(part, dx, order, seg_lo, seg_hi, C, counts);
        LM_LAUNCH_CHECK();
    }
    if (U > 0) embedding_backward_kernel<<<U, 128, 0, LM_STREAM>>>(dE, dx, order, rows, starts, segs, part, C, counts);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OTHER);
}

extern "C" void lm_neg_exp(float *A, const float *A_log, size_t n)
{
    lm_prof_begin();
    neg_exp_kernel<<<lm_blocks(n, 256), 256, 0, LM_STREAM>>>(A, A_log, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OTHER);
}

extern "C" void lm_dA_log_accumulate(float *dA_log, const float *dA, const float *A, size_t n)
{
    lm_prof_begin();
    dA_log_kernel<<<lm_blocks(n, 256), 256, 0, LM_STREAM>>>(dA_log, dA, A, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_OTHER);
}

extern "C" void lm_add_parts(float *y, const float *x, int nparts, size_t n, int kind)
{
    lm_prof_begin();
    add_parts_kernel<<<lm_blocks(n, 256), 256, 0, LM_STREAM>>>(y, x, nparts, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(kind);
}

extern "C" void lm_add(float *y, const float *x, size_t n) { lm_add_parts(y, x, 1, n, LM_K_OTHER); }
