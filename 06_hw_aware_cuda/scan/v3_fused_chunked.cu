/* 06_hw_aware_cuda/scan/v3_fused_chunked.cu — version 3: fused and parallel over time
 * (section 6.4), the design of Mamba's kernel.
 *
 * One block of NT threads per (batch, channel) walks the sequence in chunks of
 * SCAN_CHUNK = NT·K steps; thread t owns K consecutive steps of the chunk. For each
 * state n:
 *   1. each thread discretizes its K steps into pairs (a_i, b_i) = (e^{ΔA}, Δ·B·u) and
 *      combines them into one pair (the map h ↦ a·h + b across its K steps);
 *   2. a block-wide scan over those NT pairs (block_scan_pairs: warp shuffles + shared
 *      memory) gives each thread the combination of all the steps before it;
 *   3. applied to the carry (the state at the end of the previous chunk) that gives the
 *      thread's starting state, from which it replays its K steps and accumulates y;
 *   4. the last thread's final state is the next chunk's carry; it is also saved to
 *      chunk_states for the backward pass.
 * D skip and the z gate are applied before y leaves the chip. fp32, plain loads, __expf. */
#include "06_hw_aware_cuda/scan/scan_device.cuh"

namespace {
constexpr int NT = 128, K = 16;
static_assert(NT * K == SCAN_CHUNK, "a chunk is NT·K steps");
}

__global__ void __launch_bounds__(NT) v3_kernel(scan_params p, float *out, float *h_last,
                                                float *chunk_states)
{
    __shared__ float2 scan_sm[2][NT / 32 + 1];
    __shared__ float carry[2][SCAN_MAX_N];
    const int L = p.L, N = p.N, D = p.D, tid = threadIdx.x;
    const size_t bd = blockIdx.x;
    const int d = (int)(bd % D), b = (int)(bd / D);
    const int nchunks = (L + SCAN_CHUNK - 1) / SCAN_CHUNK;
    const float *u = (const float *)p.u + bd * L, *delta = (const float *)p.delta + bd * L;
    const float *z = p.z ? (const float *)p.z + bd * L : nullptr;
    const float *Bg = (const float *)p.B + (size_t)b * N * L;
    const float *Cg = (const float *)p.C + (size_t)b * N * L;
    const float bias = p.delta_bias ? p.delta_bias[d] : 0.f;
    const float Dd = p.Dskip ? p.Dskip[d] : 0.f;
    for (int n = tid; n < N; n += NT) carry[0][n] = p.h0 ? p.h0[bd * N + n] : 0.f;
    __syncthreads();
    int k = 0;   /* which scan buffer */

    for (int c = 0; c < nchunks; c++) {
        const int l0 = c * SCAN_CHUNK + tid * K;
        float uu[K], dt[K], y[K];
#pragma unroll
        for (int i = 0; i < K; i++) {
            const int l = l0 + i;
            /* past the end: Δ = 0, u = 0 make (a, b) = (1, 0), the identity map */
            uu[i] = l < L ? u[l] : 0.f;
            dt[i] = l < L ? dt_of(delta[l], bias, p.delta_softplus) : 0.f;   /* (5.1) */
            y[i] = 0.f;
        }
        for (int n = 0; n < N; n++) {
            const float An = p.A[(size_t)d * N + n];
            float a[K], bu[K];
#pragma unroll
            for (int i = 0; i < K; i++) {
                const int l = l0 + i;
                a[i] = __expf(dt[i] * An);                                    /* (5.2) */
                bu[i] = dt[i] * uu[i] * (l < L ? Bg[(size_t)n * L + l] : 0.f); /* (5.3) */
            }
            /* 1. this thread's K steps as one pair */
            float pa, pb;
            combine_items<K>(a, bu, pa, pb);
            /* 2. (6.4) block-wide exclusive scan */
            float ea, eb, ta, tb;
            block_scan_pairs<NT, false>(pa, pb, ea, eb, ta, tb, scan_sm[k++ & 1]);
            /* LAB 6.2 BEGIN: The chunked kernel's carry (v3) (6.4) */
            /* 3. starting state from the carry, then replay */
            float h = ea * carry[c & 1][n] + eb;
#pragma unroll
            for (int i = 0; i < K; i++) {
                const int l = l0 + i;
                h = a[i] * h + bu[i];                                          /* (5.4) */
                y[i] += (l < L ? Cg[(size_t)n * L + l] : 0.f) * h;             /* (5.5) */
            }
            /* 4. the carry for the next chunk (the other buffer: others may still read) */
            if (tid == NT - 1) {
                carry[(c + 1) & 1][n] = h;
                if (chunk_states) chunk_states[(bd * nchunks + c) * N + n] = h;
                if (h_last && c == nchunks - 1) h_last[bd * N + n] = h;
            }
            /* LAB END */
        }
#pragma unroll
        for (int i = 0; i < K; i++) {
            const int l = l0 + i;
            if (l < L) {
                float v = y[i] + Dd * uu[i];
                if (z) v *= silu_f(z[l]);                                      /* (5.6) */
                ((float *)out)[bd * L + l] = v;
            }
        }
    }
}

extern "C" int scan_v3_forward(const scan_params *p, void *out, float *h_last,
                               float *chunk_states)
{
    int rc = scan_check_params(p);
    if (rc) return rc;
    if (p->dtype != SCAN_F32) return SCAN_EDTYPE;
    if (!out) return SCAN_EARGS;
    v3_kernel<<<(unsigned)((size_t)p->batch * p->D), NT>>>(*p, (float *)out, h_last,
                                                          chunk_states);
    SCAN_LAUNCHED();
    return SCAN_OK;
}
