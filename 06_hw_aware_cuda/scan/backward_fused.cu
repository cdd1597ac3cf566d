/* 06_hw_aware_cuda/scan/backward_fused.cu — the backward pass of the fused scan (section 6.6).
 *
 * Nothing of size batch × D × L × N was stored by the forward: only the state at the end
 * of every chunk. One block of NT threads per (batch, channel) walks the chunks from the
 * last to the first; thread t owns K consecutive steps. In each chunk:
 *   pass 1 (only with the z gate): recompute y from the chunk's start state (the saved
 *     end state of the previous chunk) — the gate's gradient needs y before the gate:
 *         dy = dout·SiLU(z),   dz = dout·ỹ·SiLU'(z)                              (6.6)
 *   pass 2, for each state n:
 *     the forward scan again (block_scan_pairs), keeping h_{l−1} and h_l in registers;
 *     the reverse scan for the state adjoint (the same block scan, in reverse order)
 *         λ_l = Ā_{l+1} λ_{l+1} + C_l dy_l,   λ past the chunk = the next chunk's carry (6.5)
 *     and from λ every gradient:
 *         dC_l += dy_l h_l            dB_l += λ_l Δ_l u_l        (sums over channels: atomics)
 *         du_l += λ_l Δ_l B_l         dΔ_l += λ_l (B_l u_l + h_{l−1} Ā_l A)
 *         dA   += Σ_l λ_l h_{l−1} Ā_l Δ_l                      (block sum, then one atomic)
 *   then dδ = dΔ·σ(δ + bias) through the softplus, du += dy·D, and dD, dbias by block sums.
 * dB and dC are sums over channels, which live in different blocks: atomics. To halve
 * them, a block holds G = 2 channels of the same batch element (two groups of NT threads,
 * when D is even): the second group hands its dB, dC contributions to the first through
 * shared memory, which adds them before its one atomic.
 * Any dtype (the gradients du, dΔ, dz in it; everything reduced in fp32). */
#include "06_hw_aware_cuda/scan/step_vectors.cuh"
#include "06_hw_aware_cuda/scan/backward_sums.cuh"

namespace {
constexpr int NT = 256, K = 8;
static_assert(NT * K == SCAN_CHUNK, "the backward walks the forward's chunks");
constexpr float LOG2E = 1.4426950408889634f;
}

/* dB or dC for K consecutive steps of row `row`: 16-byte atomics where possible. */
__device__ __forceinline__ void add_items(float *row, int l0, int L, bool vec, const float (&x)[K])
{
    if (vec && l0 + K <= L) {
#pragma unroll
        for (int j = 0; j < K; j += 4)
            atomicAdd(reinterpret_cast<float4 *>(row + l0 + j),
                      make_float4(x[j], x[j + 1], x[j + 2], x[j + 3]));
    } else {
#pragma unroll
        for (int i = 0; i < K; i++)
            if (l0 + i < L) atomicAdd(row + l0 + i, x[i]);
    }
}

/* dB or dC of the block's G channels (same batch element, same steps l0 … l0+K−1): with
 * G = 2 group 1 parks its values in x (NT·K floats), group 0 adds them, then one atomic.
 * Callers alternate two x buffers (dC, then dB), so a write never meets a pending read. */
template <int G>
__device__ __forceinline__ void add_pair(float *row, int l0, int L, bool vec, float (&v)[K],
                                         float *x, int grp, int tid)
{
    if (G == 1) {
        add_items(row, l0, L, vec, v);
        return;
    }
    if (grp == 1) {
#pragma unroll
        for (int i = 0; i < K; i++) x[i * NT + tid] = v[i];   /* conflict-free: stride 1 in tid */
    }
    __syncthreads();
    if (grp == 0) {
#pragma unroll
        for (int i = 0; i < K; i++) v[i] += x[i * NT + tid];
        add_items(row, l0, L, vec, v);
    }
}

/* G channels of one batch element per block; tid is the thread's index in its channel's
 * group of NT threads, grp the group. */
template <typename T, int G>
__global__ void __launch_bounds__(G * NT, 2 / G) bwd_kernel(scan_params p, const T *dout,
                                                     const float *dh_last,
                                                     const float *chunk_states, scan_grads g,
                                                     bool vec)
{
    __shared__ float2 scan_sms[G][2][NT / 32 + 1];
    __shared__ float rcarrys[G][2][SCAN_MAX_N];
    __shared__ float dA_accs[G][SCAN_MAX_N];
    __shared__ float red_sms[G][2][32];
    __shared__ float xch[G > 1 ? 2 : 1][G > 1 ? NT * K : 1];   /* group 1 → group 0 */
    const int grp = threadIdx.x / NT, tid = threadIdx.x % NT;
    float2(*scan_sm)[NT / 32 + 1] = scan_sms[grp];
    float(*rcarry)[SCAN_MAX_N] = rcarrys[grp];
    float *dA_acc = dA_accs[grp];
    float(*red_sm)[32] = red_sms[grp];
    const int L = p.L, N = p.N, D = p.D;
    const size_t bd = (size_t)blockIdx.x * G + grp;
    const int d = (int)(bd % D), b = (int)(bd / D);
    const int nchunks = (L + SCAN_CHUNK - 1) / SCAN_CHUNK;
    const T *u = (const T *)p.u + bd * L, *delta = (const T *)p.delta + bd * L;
    const T *z = p.z ? (const T *)p.z + bd * L : nullptr;
    const T *go_row = dout + bd * L;
    const T *Bg = (const T *)p.B + (size_t)b * N * L, *Cg = (const T *)p.C + (size_t)b * N * L;
    const float bias = p.delta_bias ? p.delta_bias[d] : 0.f;
    const float Dd = p.Dskip ? p.Dskip[d] : 0.f;
    const float *A = p.A + (size_t)d * N;
    for (int n = tid; n < N; n += NT) {
        rcarry[(nchunks - 1) & 1][n] = dh_last ? dh_last[bd * N + n] : 0.f;
        dA_acc[n] = 0.f;
    }
    __syncthreads();
    int k = 0;
    float dD_part = 0.f, dbias_part = 0.f;

    for (int c = nchunks - 1; c >= 0; c--) {
        const int l0 = c * SCAN_CHUNK + tid * K;
        float uu[K], dt[K], gy[K], du[K], ddt[K];
        load_items<T, K>(u, l0, L, vec, uu);
        load_items<T, K>(delta, l0, L, vec, dt);
        load_items<T, K>(go_row, l0, L, vec, gy);
#pragma unroll
        for (int i = 0; i < K; i++)
            dt[i] = l0 + i < L ? dt_of(dt[i], bias, p.delta_softplus) : 0.f;
        /* Δ of the step after this thread's last: Ā_{l+1} links its last λ to the next */
        const float dt_next =
            l0 + K < L ? dt_of(to_f(delta[l0 + K]), bias, p.delta_softplus) : 0.f;
        const float *hstart = c > 0 ? chunk_states + (bd * nchunks + c - 1) * N
                                    : (p.h0 ? p.h0 + bd * N : nullptr);

        if (z) {   /* pass 1: ỹ = C·h + D·u over this chunk, then (6.6) */
            float y[K], zz[K];
#pragma unroll
            for (int i = 0; i < K; i++) y[i] = 0.f;
            for (int n = 0; n < N; n++) {
                const float An2 = A[n] * LOG2E;
                float a[K], bu[K], Cv[K];
                load_items<T, K>(Bg + (size_t)n * L, l0, L, vec, bu);
                load_items<T, K>(Cg + (size_t)n * L, l0, L, vec, Cv);
#pragma unroll
                for (int i = 0; i < K; i++) {
                    a[i] = ex2_approx(dt[i] * An2);
                    bu[i] *= dt[i] * uu[i];
                }
                float pa, pb;
                combine_items<K>(a, bu, pa, pb);
                float ea, eb, ta, tb;
                block_scan_pairs<NT, false>(pa, pb, ea, eb, ta, tb, scan_sm[k++ & 1], tid);
                float h = ea * (hstart ? hstart[n] : 0.f) + eb;
#pragma unroll
                for (int i = 0; i < K; i++) {
                    h = a[i] * h + bu[i];
                    y[i] += Cv[i] * h;
                }
            }
            load_items<T, K>(z, l0, L, vec, zz);
#pragma unroll
            for (int i = 0; i < K; i++) {
                const float yt = y[i] + Dd * uu[i];
                y[i] = gy[i] * yt * silu_grad_f(zz[i]);   /* dz */
                gy[i] *= silu_f(zz[i]);                   /* dy */
            }
            if (g.dz) store_items<T, K>((T *)g.dz + bd * L, l0, L, vec, y);
        }
#pragma unroll
        for (int i = 0; i < K; i++) {
            du[i] = gy[i] * Dd;   /* (5.5) through D·u */
            ddt[i] = 0.f;
            dD_part += gy[i] * uu[i];
        }

        for (int n = 0; n < N; n++) {   /* pass 2 */
            const float An = A[n], An2 = An * LOG2E;
            float a[K], bu[K], Bv[K], Cv[K], hp[K];
            load_items<T, K>(Bg + (size_t)n * L, l0, L, vec, Bv);
            load_items<T, K>(Cg + (size_t)n * L, l0, L, vec, Cv);
#pragma unroll
            for (int i = 0; i < K; i++) {
                a[i] = ex2_approx(dt[i] * An2);
                bu[i] = Bv[i] * dt[i] * uu[i];
            }
            float pa, pb;
            combine_items<K>(a, bu, pa, pb);
            const float a_next = ex2_approx(dt_next * An2);
            float ea, eb, ta, tb;
            block_scan_pairs<NT, false>(pa, pb, ea, eb, ta, tb, scan_sm[k++ & 1], tid);
            float h = ea * (hstart ? hstart[n] : 0.f) + eb;
#pragma unroll
            for (int i = 0; i < K; i++) {
                hp[i] = h;                      /* h_{l−1} */
                h = a[i] * h + bu[i];           /* h_l */
                bu[i] = gy[i] * h;              /* dC_l (bu is free now) */
                Cv[i] *= gy[i];                 /* C_l dy_l, the input of (6.5) */
            }
            if (g.dC)
                add_pair<G>(g.dC + ((size_t)b * N + n) * L, l0, L, vec, bu, xch[0], grp, tid);
            /* (6.5) reverse: this thread's K steps as one pair, last step first */
            float ra = 1.f, rb = 0.f;
#pragma unroll
            for (int i = K - 1; i >= 0; i--) {
                const float al = i < K - 1 ? a[i + 1] : a_next;
                rb = al * rb + Cv[i];
                ra = al * ra;
            }
            block_scan_pairs<NT, true>(ra, rb, ea, eb, ta, tb, scan_sm[k++ & 1], tid);
            float lam = ea * rcarry[c & 1][n] + eb;   /* λ just after this thread's steps */
            float dAp = 0.f;
#pragma unroll
            for (int i = K - 1; i >= 0; i--) {
                const float al = i < K - 1 ? a[i + 1] : a_next;
                lam = al * lam + Cv[i];                 /* λ_l */
                const float gA = lam * hp[i] * a[i];    /* ∂/∂(ΔA) */
                du[i] += lam * dt[i] * Bv[i];
                ddt[i] += lam * Bv[i] * uu[i] + gA * An;
                dAp += gA * dt[i];
                bu[i] = lam * dt[i] * uu[i];            /* dB_l */
            }
            if (g.dB)
                add_pair<G>(g.dB + ((size_t)b * N + n) * L, l0, L, vec, bu, xch[G > 1 ? 1 : 0],
                            grp, tid);
            if (tid == 0) {
                rcarry[(c + 1) & 1][n] = lam;           /* the carry for chunk c − 1 */
                if (c == 0 && g.dh0 && p.h0) g.dh0[bd * N + n] = a[0] * lam;
            }
            dAp = warp_sum(dAp);
            if ((tid & 31) == 0) atomicAdd_block(&dA_acc[n], dAp);
        }
        /* through the softplus and the bias (5.1) */
        float draw[K];
        load_items<T, K>(delta, l0, L, vec, draw);
#pragma unroll
        for (int i = 0; i < K; i++) {
            ddt[i] *= dt_grad(draw[i], bias, p.delta_softplus);
            if (l0 + i < L) dbias_part += ddt[i];
        }
        if (g.du) store_items<T, K>((T *)g.du + bd * L, l0, L, vec, du);
        if (g.ddelta) store_items<T, K>((T *)g.ddelta + bd * L, l0, L, vec, ddt);
    }
    /* block reductions, then one atomic per block (the batch shares each channel) */
    dD_part = block_sum<NT>(dD_part, red_sm[0], tid);
    dbias_part = block_sum<NT>(dbias_part, red_sm[1], tid);
    if (tid == 0) {
        if (g.dDskip && p.Dskip) atomicAdd(&g.dDskip[d], dD_part);
        if (g.ddelta_bias && p.delta_bias) atomicAdd(&g.ddelta_bias[d], dbias_part);
    }
    for (int n = tid; n < N; n += NT)
        if (g.dA) atomicAdd(&g.dA[(size_t)d * N + n], dA_acc[n]);
}

extern "C" int scan_fused_backward(const scan_params *p, const void *dout, const float *dh_last,
                                   const float *chunk_states, scan_grads *g)
{
    int rc = scan_check_params(p);
    if (rc) return rc;
    if (!dout || !g || !chunk_states) return SCAN_EARGS;
    SCAN_CUDA(scan_zero_sums(p, g));
    SCAN_DISPATCH_T(p->dtype, TC, {
        const void *ptrs[10] = {p->u, p->delta, p->z, p->B, p->C, dout,
                                g->du, g->ddelta, g->dz, g->dB};
        const void *more[1] = {g->dC};
        const bool vec = rows_vectorizable<TC>(p->L, ptrs, 10) &&
                         rows_vectorizable<float>(p->L, more, 1);
        /* two channels per block when they share a batch element (D even) */
        if (p->D % 2 == 0)
            bwd_kernel<TC, 2><<<(unsigned)((size_t)p->batch * p->D / 2), 2 * NT>>>(
                *p, (const TC *)dout, dh_last, chunk_states, *g, vec);
        else
            bwd_kernel<TC, 1><<<(unsigned)((size_t)p->batch * p->D), NT>>>(
                *p, (const TC *)dout, dh_last, chunk_states, *g, vec);
        SCAN_LAUNCHED();
    });
    return SCAN_OK;
}
