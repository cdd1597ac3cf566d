/* 06_hw_aware_cuda/scan/backward_sums.cuh — the helper the backward passes share (v1's in
 * v1_unfused.cu, backward_fused.cu, backward_v6.cu): the gradients their kernels add up with
 * atomics (dB, dC, dA, dD, dbias) are sums over blocks, so they start from zero. */
#ifndef BACKWARD_SUMS_CUH
#define BACKWARD_SUMS_CUH

#include "06_hw_aware_cuda/scan/scan_device.cuh"

/* Zero the atomically summed gradients, on the default stream, before the kernels run. */
static inline cudaError_t scan_zero_sums(const scan_params *p, const scan_grads *g)
{
    const size_t bnl = (size_t)p->batch * p->N * p->L, dn = (size_t)p->D * p->N;
    cudaError_t e = cudaSuccess;
    if (g->dB && e == cudaSuccess) e = cudaMemsetAsync(g->dB, 0, bnl * sizeof(float));
    if (g->dC && e == cudaSuccess) e = cudaMemsetAsync(g->dC, 0, bnl * sizeof(float));
    if (g->dA && e == cudaSuccess) e = cudaMemsetAsync(g->dA, 0, dn * sizeof(float));
    if (g->dDskip && e == cudaSuccess) e = cudaMemsetAsync(g->dDskip, 0, (size_t)p->D * sizeof(float));
    if (g->ddelta_bias && e == cudaSuccess)
        e = cudaMemsetAsync(g->ddelta_bias, 0, (size_t)p->D * sizeof(float));
    return e;
}

#endif
