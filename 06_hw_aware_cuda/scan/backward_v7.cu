/* 06_hw_aware_cuda/scan/backward_v7.cu — the backward pass, parallel over the sequence and
 * deterministic (chapter 6, §V.2).
 *
 * The v6 backward (backward_v6.cu) paid three exponentials per element (a forward pass over
 * each chunk for checkpoints, the tile's recompute, and the backward step again), summed dB
 * and dC through shared memory with CPB loads per output, added with float atomics (so two
 * runs differ in the last bits), and ran one block per (batch, channels): at batch 1 most of
 * the GPU idles. v7's backward:
 *   K1 (seq_segments.cuh) one forward walk per segment, all segments at once, from zero: a
 *      checkpoint of the local state every SEG_TB = 8 steps, and the segment's local maps
 *      (h^loc, μ^loc, ΣΔ); then the combine gives each segment its true start state and the
 *      true adjoint entering it from the right;
 *   K3 per segment, its tiles last first (16 steps staged as v6 stages them, Δ, Δ·u, u,
 *      dy = dout·SiLU(z), dout·SiLU′(z) and dΔ/dδ computed once per step), each sub-tile of
 *      SEG_TB steps: the checkpoint corrected, h = h^loc + 2^{A·log₂e·ΣΔ}·h_start, the states
 *      recomputed through the sub-tile KEEPING Ā and every h in registers, then the steps
 *      backwards without another exponential:
 *          λ_l = μ + C_l·dy_l                                                       (6.5)
 *          dC_l += dy_l·h_l,  dB_l += λ_l·Δ_l·u_l                     (sums over channels)
 *          du_l = Σ_n λ_l·Δ_l·B_l + dy_l·D,  dΔ_l = Σ_n λ_l·(B_l·u_l + h_{l−1}·Ā_l·A)
 *          dz_l = dout_l·SiLU′(z_l)·(Σ_n C_l·h_l + D·u_l)                 (sums over states)
 *          dA += λ_l·h_{l−1}·Ā_l·Δ_l,   μ ← Ā_l·λ_l
 *      so an element costs two exponentials in all (K1 and the recompute). The sums over
 *      states are v6's reduce-scatter over a channel's G lanes. The sums over channels go
 *      first through shuffles (a reduce-scatter over the channels of a warp), then through
 *      shared memory over the block's warps, in a fixed order;
 *   K4 the block partials of dB, dC (one row per block of channels), dA, dD and dΔ-bias (one
 *      row per (batch, segment)) summed in a fixed order by one thread per output.
 * No float atomics anywhere: two runs give bit-identical gradients (the LM resumes bit-exactly;
 * tests/ checks it). Needs only the inputs (the chunk states of the forward are not read: the
 * combine rebuilds every boundary state from h0) and a workspace of
 * scan_v7_backward_workspace_bytes(). Any dtype; N a power of two ≤ 64; fp32 arithmetic. */
#include <stdlib.h>

#include <type_traits>

#include "06_hw_aware_cuda/scan/seq_segments.cuh"
#include "06_hw_aware_cuda/scan/state_groups.cuh"

namespace {
constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;
constexpr int TB = SEG_TB;        /* steps per register sub-tile (= checkpoint distance) */
constexpr int TT = 16, TP = TT + 4;   /* steps per staged tile, its row stride */
/* channels per block: 32 up to N = 16, fewer above so that the block stays 128 threads and
 * the per-step channel sums (NW·TB·N floats each) stay small */
__host__ __device__ constexpr int bwd7_channels(int N) { return N <= 16 ? 32 : N == 32 ? 16 : 8; }
}

/* The sums over the channels of a warp (lanes c·G + g: the channel is lane bits G … 16) of S
 * values per lane are v6's reduce-scatter with the masks 16 … G (reduce_scatter's MLO = G):
 * a lane splits its values with its partner while it has more than one, then adds the one
 * left. Afterwards y[0 .. K) hold the warp's sums of states base … base+K−1 (K = max(1, S·G/32));
 * where values ran out before the masks did, lanes differing only in the later masks (DUP
 * below) hold the same sums. */

struct bwd7_partials {
    float *dB, *dC;          /* (batch, nblk, N, L): one row per block of channels */
    float *dA;               /* (batch, nseg, D, N) */
    float *dD, *dbias;       /* (batch, nseg, D) */
};

/* MINB: the blocks per SM asked of the register allocator (__launch_bounds__' second
 * argument): 1 lets ptxas take 255 registers at N = 16 (two blocks, 8 warps per SM), 3 caps it
 * at 168, 4 at 128 (spills); HT: each checkpoint's TB steps as two register tiles of TB/2
 * (half the registers of Ā and h, TB/2 more exponentials); see bwd7_variant below. */
template <typename T, int G, int S, int MINB, bool PF, bool HT>
__global__ void __launch_bounds__(bwd7_channels(G *S) * G, MINB)
    bwd7_kernel(scan_params p, const T *dout, seg_ws w, bwd7_partials q, scan_grads gr)
{
    constexpr int N = G * S, CPB = bwd7_channels(N), NT = CPB * G, NW = NT / 32;
    constexpr int BP = N + 4, KS = NT / TT, PK = CPB * TT / NT, PB = tile_inputs<T, CPB, N, NT>::PB;
    constexpr int K = S * G >= 32 ? S * G / 32 : 1;                 /* channel sums per lane */
    constexpr int DUP = 32 / S > G ? (32 / S - 1) ^ (G - 1) : 0;    /* lanes holding copies */
    static_assert(NT % 32 == 0 && (CPB * TT) % NT == 0 && TT % TB == 0 && (TT / TB) % 2 == 0 &&
                  TB % 2 == 0, "block shape; an even count of register tiles a tile (s_rb, s_rc alternate)");
    __shared__ __align__(16) float s_dt[CPB][TP], s_du[CPB][TP], s_u[CPB][TP], s_dy[CPB][TP];
    __shared__ __align__(16) float s_ddt[CPB][TP], s_dzg[CPB][TP];   /* dΔ/dδ, dout·SiLU′(z) */
    __shared__ __align__(16) float s_gu[CPB][TP], s_gdt[CPB][TP], s_y[CPB][TP];   /* state sums */
    __shared__ __align__(16) float s_B[TT][BP], s_C[TT][BP];
    /* the warps' channel sums of a sub-tile, in two buffers used by alternate sub-tiles: a
     * thread writes buffer k&1 in sub-tile k only after the barrier of sub-tile k−1, which no
     * thread passes before its flush of sub-tile k−2 (the same buffer) is done; so one barrier
     * per sub-tile instead of two (3 a tile instead of 5) */
    __shared__ __align__(16) float s_rb[2][NW][TB][N], s_rc[2][NW][TB][N];
    __shared__ float s_bias[CPB], s_D[CPB], s_pD[CPB][TT], s_pbias[CPB][TT];

    const int L = p.L, D = p.D, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int nblk = (D + CPB - 1) / CPB;   /* blocks of channels per batch element */
    const seg_block at_ = seg_block_of(p, CPB, G, w.seg_len);
    const int b = at_.b, blk = at_.blk, d0 = at_.d0, c = at_.c, g = at_.g, d = at_.d;
    const int seg = at_.seg, l_begin = at_.l_begin, l_end = at_.l_end;
    const bool active = at_.active;
    const size_t bd = at_.bd;
    const int ntck = (L + TB - 1) / TB;
    const T *z = (const T *)p.z;

    for (int k = tid; k < CPB; k += NT) {
        const int dk = d0 + k < D ? d0 + k : D - 1;
        s_bias[k] = p.delta_bias ? p.delta_bias[dk] : 0.f;
        s_D[k] = p.Dskip ? p.Dskip[dk] : 0.f;
    }
    /* A itself is not kept: Σ_n ∂/∂(Δ·A)·A of dΔ is Σ_n ∂/∂(Δ·A)·A·log₂e, times ln 2 */
    float A2[S], mu[S], dA[S];
    const size_t r = bd * w.nseg + seg;
    /* the true state before the segment, read again at each checkpoint (an L1 hit) rather
     * than held in S registers through the whole segment */
    const float *hs_at = &w.h_start[r * N + g * S];
#pragma unroll
    for (int s = 0; s < S; s++) {
        A2[s] = p.A[(size_t)d * N + g * S + s] * LOG2E;
        mu[s] = w.mu_end[r * N + g * S + s];   /* the adjoint entering from the right */
        dA[s] = 0.f;
    }
    const int jt = tid % TT, kt = tid / TT;
    /* dD and dΔ-bias: thread (jt, kt) sums its steps of channels kt + i·KS in its own slots
     * (shared memory, not 2·PK registers held through the segment) */
#pragma unroll
    for (int i = 0; i < PK; i++) s_pD[kt + i * KS][jt] = s_pbias[kt + i * KS][jt] = 0.f;
    /* the checkpoints are read one sub-tile ahead (their load's latency hides behind the
     * sub-tile's arithmetic): t_next counts them down from the segment's last */
    int t_next = (l_end - 1) / TB;
    float ckn[S], cdtn = 0.f;
    auto fetch_ck = [&](int t) {
        const size_t at = bd * ntck + t;
        cdtn = w.ck_dt[at];
        load_states<S>(&w.ck[at * N + g * S], ckn);   /* one 16-byte load at S = 4 */
    };
    fetch_ck(t_next);

    /* a tile's inputs in registers: loaded at the top of the tile (PF false), or one tile
     * ahead, while the tile before runs (PF: v6's data path; ptxas: ~20 more registers) */
    tile_inputs<T, CPB, N, NT> in;
    auto fetch = [&](int l0) { in.template fetch<true>(p, dout, b, d0, l0, l_end); };
    const int last = l_begin + (l_end - l_begin - 1) / TT * TT;
    if (PF) fetch(last);
    for (int l0 = last; l0 >= l_begin; l0 -= TT) {
        __syncthreads();   /* the previous tile's drain has read its values */
        if (!PF) fetch(l0);
        {   /* stage the tile (zeros past the segment or D) */
            const bool in_L = l0 + jt < l_end;
#pragma unroll
            for (int i = 0; i < PK; i++) {
                const int kc = kt + i * KS;
                const bool ok = in_L && d0 + kc < D;
                const float uk = in.u[i], raw = in.raw[i], gk = in.g[i], zk = in.z[i];
                const float dtk = ok ? dt_of(raw, s_bias[kc], p.delta_softplus) : 0.f;
                s_dt[kc][jt] = dtk;
                s_du[kc][jt] = dtk * uk;
                s_u[kc][jt] = uk;
                s_dy[kc][jt] = z ? gk * silu_f(zk) : gk;
                s_dzg[kc][jt] = z ? gk * silu_grad_f(zk) : 0.f;
                s_ddt[kc][jt] = dt_grad(raw, s_bias[kc], p.delta_softplus);
            }
#pragma unroll
            for (int i = 0; i < PB; i++) {
                const int n = kt + i * KS;
                if (n < N) {
                    s_B[jt][n] = in.B[i];
                    s_C[jt][n] = in.C[i];
                }
            }
        }
        if (PF && l0 - TT >= l_begin) fetch(l0 - TT);
        __syncthreads();

        /* One register tile: R steps from tile step j0, from the state h_in before it (R = TB,
         * or TB/2 with HT). The recompute keeps Ā and every h of the R steps in registers, then
         * the steps run backwards without another exponential; the state sums go to shared
         * memory, the channel sums of dB, dC through s_rb/s_rc (buffer (j0/R) & 1) to a row. */
        auto reg_tile = [&](auto Rc, int j0, const float (&h_in)[S]) {
            constexpr int R = decltype(Rc)::value;
            constexpr int VV = R >= G ? R / G : 1, GS = G > R ? G / R : 1;   /* state sums' outputs */
            const int lt = l0 + j0;
            /* the buffer: register tiles alternate (an even count a tile), and only the very
             * first ones (the segment's last steps) can be skipped, so successive ones alternate */
            const int pb = (j0 / R) & 1;
            float hq[R + 1][S], ea[R][S], yp[R];
#pragma unroll
            for (int s = 0; s < S; s++) hq[0][s] = h_in[s];
#pragma unroll
            for (int j = 0; j < R; j++) {
                float Bv[S], Cv[S];
                load_states<S>(&s_B[j0 + j][g * S], Bv);
                load_states<S>(&s_C[j0 + j][g * S], Cv);
                const float dt = s_dt[c][j0 + j], du = s_du[c][j0 + j];
                float y = 0.f;
#pragma unroll
                for (int s = 0; s < S; s++) {
                    ea[j][s] = ex2_approx(dt * A2[s]);
                    hq[j + 1][s] = ea[j][s] * hq[j][s] + du * Bv[s];
                    y += Cv[s] * hq[j + 1][s];
                }
                yp[j] = y;
            }
            /* the steps backwards */
            float gu[R], gdt[R];
#pragma unroll
            for (int j = R - 1; j >= 0; j--) {
                float Bv[S], Cv[S], tB[S], tC[S];
                load_states<S>(&s_B[j0 + j][g * S], Bv);
                load_states<S>(&s_C[j0 + j][g * S], Cv);
                const float dt = s_dt[c][j0 + j], du = s_du[c][j0 + j];
                const float uu = s_u[c][j0 + j], dy = s_dy[c][j0 + j];
                float pu = 0.f, pdt = 0.f, pa = 0.f;
#pragma unroll
                for (int s = 0; s < S; s++) {
                    const float lam = mu[s] + Cv[s] * dy;          /* (6.5) */
                    const float gA = lam * hq[j][s] * ea[j][s];    /* ∂/∂(Δ·A) */
                    tC[s] = dy * hq[j + 1][s];
                    tB[s] = lam * du;
                    pu += lam * Bv[s];
                    pdt += lam * Bv[s] * uu;
                    pa += gA * A2[s];
                    dA[s] += gA * dt;
                    mu[s] = ea[j][s] * lam;
                }
                gu[j] = pu * dt;
                gdt[j] = pdt + pa * LN2;
                int bb = 0, bc = 0;
                reduce_scatter<S, 16, S, G>(tB, lane, &bb);
                reduce_scatter<S, 16, S, G>(tC, lane, &bc);
                if ((lane & DUP) == 0) {
#pragma unroll
                    for (int k = 0; k < K; k++) {
                        s_rb[pb][warp][j][g * S + bb + k] = tB[k];
                        s_rc[pb][warp][j][g * S + bc + k] = tC[k];
                    }
                }
            }
            reduce_scatter<R, G / 2, R>(gu, lane);
            reduce_scatter<R, G / 2, R>(gdt, lane);
            reduce_scatter<R, G / 2, R>(yp, lane);
            if (g % GS == 0) {
#pragma unroll
                for (int v = 0; v < VV; v++) {
                    const int jj = j0 + (g / GS) * VV + v;
                    s_gu[c][jj] = gu[v];
                    s_gdt[c][jj] = gdt[v];
                    s_y[c][jj] = yp[v];
                }
            }
            __syncthreads();
            /* dB, dC of the register tile: the warps' sums added in warp order, one row per block */
            for (int k = tid; k < R * N; k += NT) {
                const int j = k % R, n = k / R;
                if (lt + j >= l_end) continue;
                float sb = 0.f, sc = 0.f;
#pragma unroll
                for (int ww = 0; ww < NW; ww++) {
                    sb += s_rb[pb][ww][j][n];
                    sc += s_rc[pb][ww][j][n];
                }
                const size_t o = (((size_t)b * nblk + blk) * N + n) * L + lt + j;
                q.dB[o] = sb;
                q.dC[o] = sc;
            }
        };

#pragma unroll 1
        for (int j0 = TT - TB; j0 >= 0; j0 -= TB) {
            const int lt = l0 + j0;
            if (lt >= l_end) continue;   /* the same for the whole block */
            /* the checkpoint (t_next is lt / TB here), corrected by the true start state */
            float h0[S];
#pragma unroll
            for (int s = 0; s < S; s++) h0[s] = ckn[s];
            if (seg > 0 || p.h0) {
                float hs[S];
                load_states<S>(hs_at, hs);
#pragma unroll
                for (int s = 0; s < S; s++) h0[s] += exp2f(A2[s] * cdtn) * hs[s];
            }
            if (--t_next >= l_begin / TB) fetch_ck(t_next);
            if constexpr (HT) {
                /* two register tiles of TB/2 steps, the upper one first, from the state at its
                 * start: the lower half's steps run forward once more to reach it (TB/2 more
                 * exponentials a checkpoint, half the registers of Ā and h) */
                constexpr int H = TB / 2;
                if (lt + H < l_end) {
                    float hm[S];
#pragma unroll
                    for (int s = 0; s < S; s++) hm[s] = h0[s];
#pragma unroll
                    for (int j = 0; j < H; j++) {
                        float Bv[S];
                        load_states<S>(&s_B[j0 + j][g * S], Bv);
                        const float dt = s_dt[c][j0 + j], du = s_du[c][j0 + j];
#pragma unroll
                        for (int s = 0; s < S; s++) hm[s] = ex2_approx(dt * A2[s]) * hm[s] + du * Bv[s];
                    }
                    reg_tile(std::integral_constant<int, H>(), j0 + H, hm);
                }
                reg_tile(std::integral_constant<int, H>(), j0, h0);
            } else {
                reg_tile(std::integral_constant<int, TB>(), j0, h0);
            }
        }
        /* du, dδ, dz out in the loads' layout; dD, dΔ-bias summed per thread in step order */
        if (l0 + jt < l_end) {
#pragma unroll
            for (int i = 0; i < PK; i++) {
                const int kc = kt + i * KS;
                if (d0 + kc >= D) continue;
                const size_t at = ((size_t)b * D + d0 + kc) * L + l0 + jt;
                const float dy = s_dy[kc][jt], uk = s_u[kc][jt];
                const float ddraw = s_gdt[kc][jt] * s_ddt[kc][jt];   /* through the softplus */
                if (gr.du) ((T *)gr.du)[at] = from_f<T>(s_gu[kc][jt] + dy * s_D[kc]);
                if (gr.ddelta) ((T *)gr.ddelta)[at] = from_f<T>(ddraw);
                if (gr.dz && z)
                    ((T *)gr.dz)[at] = from_f<T>(s_dzg[kc][jt] * (s_y[kc][jt] + s_D[kc] * uk));
                s_pD[kc][jt] += dy * uk;
                s_pbias[kc][jt] += ddraw;
            }
        }
    }
    /* the block's per-channel sums in a fixed order: thread k adds channel k's TT slots */
    __syncthreads();
    const size_t prow = ((size_t)b * w.nseg + seg) * D;
    for (int k = tid; k < CPB; k += NT) {
        if (d0 + k >= D) continue;
        float sD = 0.f, sb = 0.f;
        for (int j = 0; j < TT; j++) {
            sD += s_pD[k][j];
            sb += s_pbias[k][j];
        }
        q.dD[prow + d0 + k] = sD;
        q.dbias[prow + d0 + k] = sb;
    }
    if (active) {
#pragma unroll
        for (int s = 0; s < S; s++) {
            q.dA[(prow + d) * N + g * S + s] = dA[s];
            if (seg == 0 && gr.dh0 && p.h0) gr.dh0[bd * N + g * S + s] = mu[s];   /* Ā_0·λ_0 */
        }
    }
}

/* K4: the partials summed in a fixed order. Threads [0, batch·N·L) make dB and dC, the next
 * D·N dA, the next D dD and dΔ-bias. */
__global__ void bwd7_reduce_kernel(scan_params p, int nblk, int nseg, bwd7_partials q,
                                   scan_grads gr)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int N = p.N, L = p.L, D = p.D;
    const size_t nbc = (size_t)p.batch * N * L, ndn = (size_t)D * N;
    if (i < nbc) {
        const size_t b = i / ((size_t)N * L), nl = i % ((size_t)N * L);
        float sb = 0.f, sc = 0.f;
        for (int k = 0; k < nblk; k++) {
            const size_t o = (b * nblk + k) * N * L + nl;
            sb += q.dB[o];
            sc += q.dC[o];
        }
        if (gr.dB) gr.dB[i] = sb;
        if (gr.dC) gr.dC[i] = sc;
    } else if (i < nbc + ndn) {
        const size_t dn = i - nbc;
        float s = 0.f;
        for (size_t r = 0; r < (size_t)p.batch * nseg; r++) s += q.dA[r * ndn + dn];
        if (gr.dA) gr.dA[dn] = s;
    } else if (i < nbc + ndn + D) {
        const size_t dd = i - nbc - ndn;
        float sD = 0.f, sb = 0.f;
        for (size_t r = 0; r < (size_t)p.batch * nseg; r++) {
            sD += q.dD[r * D + dd];
            sb += q.dbias[r * D + dd];
        }
        if (gr.dDskip && p.Dskip) gr.dDskip[dd] = sD;
        if (gr.ddelta_bias && p.delta_bias) gr.ddelta_bias[dd] = sb;
    }
}

/* The v7 backward's segments: any multiple of TT steps (K3's and the walk's tile; the
 * checkpoints every TB steps then fall on the same steps in both), at most bwd7_most(L) of
 * them (the workspace holds that many rows), so at least about SEG_MIN_BWD steps each. */
#define SEG_MIN_BWD 128
static int bwd7_most(int L) { return (L + SEG_MIN_BWD - 1) / SEG_MIN_BWD; }
static int bwd7_length(int L, int k) { return ((L + k - 1) / k + TT - 1) / TT * TT; }

/* The workspace, in floats: the segment rows (for the most segments), the checkpoints, the
 * partials. Each piece starts 16-byte aligned. */
struct bwd7_layout {
    size_t h_loc, sum_dt, h_start, mu_loc, mu_end, ck, ck_dt, dB, dC, dA, dD, dbias, total;
};
static bwd7_layout bwd7_plan(const scan_params *p)
{
    const size_t most = (size_t)bwd7_most(p->L), bd = (size_t)p->batch * p->D;
    const size_t ntck = (size_t)(p->L + TB - 1) / TB, N = (size_t)p->N;
    const size_t nblk = (size_t)(p->D + bwd7_channels(p->N) - 1) / bwd7_channels(p->N);
    const size_t sizes[12] = {bd * most * N, bd * most, bd * most * N, bd * most * N, bd * most * N,
                              bd * ntck * N, bd * ntck, (size_t)p->batch * nblk * N * p->L,
                              (size_t)p->batch * nblk * N * p->L, (size_t)p->batch * most * p->D * N,
                              (size_t)p->batch * most * p->D, (size_t)p->batch * most * p->D};
    size_t at[12], off = 0;
    for (int k = 0; k < 12; k++) {
        at[k] = off;
        off += (sizes[k] + 3) / 4 * 4;
    }
    return {at[0], at[1], at[2], at[3], at[4], at[5], at[6], at[7], at[8], at[9], at[10], at[11], off};
}

extern "C" size_t scan_v7_backward_workspace_bytes(const scan_params *p)
{
    return bwd7_plan(p).total * sizeof(float);
}

/* Segments of the v7 backward for p, given how many K3 blocks one SM holds (per_sm): W = SMs ×
 * per_sm blocks run at once. The count is the one with the least modelled time: the waves of
 * K3 blocks times the steps a block walks plus a fixed cost of ~24 steps,
 *     cost(k) = waves(blocks·k / W) · (len(k) + 24),   waves(w) = ⌊w⌋ + (1 + frac(w)) / 2,
 * a partial last wave costing half a wave plus half its fill (its blocks share the SMs with
 * fewer others and run faster, but not in proportion); × 1.1 when everything fits one wave,
 * × 1.05 for any cut (the walk then also builds μ^loc, reading dout, z and C). Fitted on the
 * H200's sweeps (chapter 6, §V.2): round 1 of 2026-12-02 (results/vs_official_r1_h200.json,
 * W = 396) at the lesson's size 1.99 ms unsegmented, 1.80 / 1.79 / 1.82 at 3 / 6 / 8 segments;
 * batch 32, D 1024, L 512 0.89 unsegmented, 0.95 at 3; batch 8, D 2048, L 512 0.55 / 0.50 / 0.49
 * at 1 / 2 / 3; and the earlier round 2 (W = 264) at batch 1, D 2048, L 16 384 2.30 / 2.12 /
 * 2.14 at 4 / 8 / 16 (one full wave lost to two). The first rule (no segments once the
 * unsegmented grid filled a wave) left the lesson's size at 1.29 waves, the second 29 % full;
 * the second (whole waves, ⌈w⌉) over-cut batch 32, D 1024, L 512. Segment lengths are
 * multiples of TT (16) steps, not of 256, so that counts in between (3 segments of 688 steps at
 * L 2048) exist. Up to N = 32 each launch also pays a quarter wave of tail (waves + 0.25):
 * measured side by side in round A of the session after (results/vs_official_ra_variants_h200.md,
 * bf16) it took batch 1, D 2048, L 32 768 from 3.94 to 3.60 ms, L 16 384 from 1.99 to 1.85,
 * batch 2, L 8192 from 1.96 to 1.88 (more segments: with few blocks per segment, more waves
 * balance better than the model says) and cost 0.004-0.005 ms at the two smallest sizes; at
 * N = 64 it cut L 4096 in two, 4 % slower, so N = 64 keeps the model without it.
 * SCAN_BWD7_TAIL=0 or 1 forces it either way. */
static void bwd7_shape(const scan_params *p, int per_sm, int *nseg, int *seg_len)
{
    const int CPB = bwd7_channels(p->N), L = p->L, most = bwd7_most(L);
    const size_t blocks = (size_t)p->batch * ((p->D + CPB - 1) / CPB);
    const size_t W = (size_t)seg_sm_count() * (per_sm > 0 ? per_sm : 1);
    const char *e = getenv("SCAN_BWD7_SEGS");
    int k = e && atoi(e) > 0 ? (atoi(e) < most ? atoi(e) : most) : 0;
    const char *te = getenv("SCAN_BWD7_TAIL");
    const bool tail = te && (te[0] == '0' || te[0] == '1') ? te[0] == '1' : p->N <= 32;
    /* a grid that fills 0.9 of a wave unsegmented is not cut: with K3 at four blocks per SM
     * (s4m4h) the model's cut cost was too low there — round B's sweep (chapter 6 §V.3) at batch 8,
     * D 2048, L 2048: 1.656 ms fp32 and 1.715 bf16 unsegmented against 1.812 and 1.888 at the 4
     * segments the model chose; at batch 8, L 512 0.442 and 0.460 against 0.490 and 0.509 at 2 */
    if (!k && blocks * 10 >= W * 9) k = 1;
    if (!k) {
        double best = 0.;
        for (int c = 1; c <= most; c++) {
            const int len = bwd7_length(L, c), n = (L + len - 1) / len;
            if (n != c) continue;   /* the same cut as a smaller count */
            const size_t grid = blocks * (size_t)n, full = grid / W, part = grid % W;
            double waves = (double)full + (part ? 0.5 + 0.5 * (double)part / (double)W : 0.);
            if (tail) waves += 0.25;
            double cost = waves * (len + 24);
            if (grid <= W) cost *= 1.1;
            if (n > 1) cost *= 1.05;
            if (!k || cost < best) best = cost, k = c;
        }
    }
    const int len = bwd7_length(L, k);
    *nseg = (L + len - 1) / len;
    *seg_len = len;
}

/* K3's launch shape: S states per lane (G = N/S lanes per channel, CPB·G threads a block),
 * MINB, and PF (the next tile's inputs loaded a tile ahead). The default is S = min(N, 4),
 * MINB = bwd7_minb and HT = bwd7_ht (below), no PF; SCAN_BWD7_VARIANT="s<S>m<MINB>[p|h]" picks
 * another among those built (N = 16: s4m1 — the first default —, s4m3 — the second —, s4m4,
 * s2m2, s2m3, s4m3p, s2m2p, s4m3h, s4m4h — the default now —; N = 64: s4m1, s4m3, s4m4 — the
 * earlier default —, s4m3p, s4m4h) for the measurements of chapter 6 §V.2 (ptxas at
 * N = 16, fp32, before the third session's register trims: s4m1 255 registers, s4m3 168, s4m4
 * 128 + 384 bytes of spills, s2m1 197, s2m2 128, s2m3 80 + 208 bytes of spills; after them s4m4h
 * 128 + 8). h: HT, half register tiles. Returns S·10 + MINB (+ 100 with p, + 200 with h), or 0
 * for the default. */
static int bwd7_variant(void)
{
    const char *e = getenv("SCAN_BWD7_VARIANT");
    if (!e || e[0] != 's' || e[2] != 'm' || e[1] < '1' || e[1] > '9' || e[3] < '1' || e[3] > '9')
        return 0;
    return (e[1] - '0') * 10 + (e[3] - '0') + (e[4] == 'p' ? 100 : e[4] == 'h' ? 200 : 0);
}

/* K3's blocks per SM (the occupancy calculator; cached per kernel) */
template <typename T, int G, int S, int MINB, bool PF, bool HT = false>
static int bwd7_per_sm(void)
{
    static int k = 0;
    if (!k && cudaOccupancyMaxActiveBlocksPerMultiprocessor(&k, bwd7_kernel<T, G, S, MINB, PF, HT>,
                                                            bwd7_channels(G * S) * G, 0) != cudaSuccess)
        k = 1;
    return k > 0 ? k : 1;
}

/* The default shape. N = 16 and 64: half register tiles at four blocks per SM (s4m4h: 128
 * registers, 8 bytes of spills at N = 16, none at 64), which round M of 2026-12-02's third
 * session measured side by side against the earlier defaults (chapter 6 §V.3): at N = 64 8-9 %
 * faster in every configuration (batch 8, D 2048, L 2048: 6.72 against 7.30 ms fp32), at N = 16
 * 1-10 % (the lesson's size 1.847 against 1.872 ms fp32, 1.931 against 1.953 bf16). N = 4, 8,
 * 32: MINB = 3 (168 registers, three blocks per SM), the round-2 choice of §V.2 for N = 16,
 * unmeasured there; N < 4 as before. */
template <int N> constexpr int bwd7_minb = N == 16 || N == 64 ? 4 : N >= 4 ? 3 : 1;
template <int N> constexpr bool bwd7_ht = N == 16 || N == 64;

template <typename T, int N, int S = (N < 4 ? N : 4), int MINB = bwd7_minb<N>, bool PF = false,
          bool HT = bwd7_ht<N>>
static int bwd7_launch(const scan_params *p, const void *dout, const float *dh_last, float *ws,
                       scan_grads *g)
{
    constexpr int G = N / S, CPB = bwd7_channels(N);
    const bwd7_layout at = bwd7_plan(p);
    seg_ws w = {};
    /* the segment count from this kernel's own blocks per SM (until round M every variant took
     * the default's, so that §V.2's K3 shapes compared at one count; now the earlier defaults,
     * s4m3 at N = 16 and s4m4 at N = 64, run exactly as they did) */
    bwd7_shape(p, bwd7_per_sm<T, G, S, MINB, PF, HT>(), &w.nseg, &w.seg_len);
    w.h_loc = ws + at.h_loc, w.sum_dt = ws + at.sum_dt, w.h_start = ws + at.h_start;
    w.mu_loc = ws + at.mu_loc, w.mu_end = ws + at.mu_end, w.ck = ws + at.ck, w.ck_dt = ws + at.ck_dt;
    bwd7_partials q = {ws + at.dB, ws + at.dC, ws + at.dA, ws + at.dD, ws + at.dbias};
    int rc = seg_prepass<T, N, true>(p, dout, dh_last, w);
    if (rc) return rc;
    const int nblk = (p->D + CPB - 1) / CPB;
    bwd7_kernel<T, G, S, MINB, PF, HT><<<dim3((unsigned)((size_t)p->batch * nblk), (unsigned)w.nseg), CPB * G>>>(
        *p, (const T *)dout, w, q, *g);
    SCAN_LAUNCHED();
    const size_t n = (size_t)p->batch * N * p->L + (size_t)p->D * N + p->D;
    bwd7_reduce_kernel<<<(unsigned)((n + 255) / 256), 256>>>(*p, nblk, w.nseg, q, *g);
    SCAN_LAUNCHED();
    return SCAN_OK;
}

/* the variant asked for, where it is built for N; else the default */
template <typename T, int N>
static int bwd7_pick(const scan_params *p, const void *dout, const float *dh_last, float *ws,
                     scan_grads *g)
{
    const int v = bwd7_variant();
    if constexpr (N == 16) {
        switch (v) {
        case 41: return bwd7_launch<T, 16, 4, 1, false, false>(p, dout, dh_last, ws, g);
        case 43: return bwd7_launch<T, 16, 4, 3, false, false>(p, dout, dh_last, ws, g);
        case 44: return bwd7_launch<T, 16, 4, 4, false, false>(p, dout, dh_last, ws, g);
        case 22: return bwd7_launch<T, 16, 2, 2, false, false>(p, dout, dh_last, ws, g);
        case 23: return bwd7_launch<T, 16, 2, 3, false, false>(p, dout, dh_last, ws, g);
        case 143: return bwd7_launch<T, 16, 4, 3, true, false>(p, dout, dh_last, ws, g);
        case 122: return bwd7_launch<T, 16, 2, 2, true, false>(p, dout, dh_last, ws, g);
        case 243: return bwd7_launch<T, 16, 4, 3, false, true>(p, dout, dh_last, ws, g);
        case 244: return bwd7_launch<T, 16, 4, 4, false, true>(p, dout, dh_last, ws, g);
        default: break;
        }
    }
    if constexpr (N == 64) {
        if (v == 41) return bwd7_launch<T, 64, 4, 1, false, false>(p, dout, dh_last, ws, g);
        if (v == 43) return bwd7_launch<T, 64, 4, 3, false, false>(p, dout, dh_last, ws, g);
        if (v == 44) return bwd7_launch<T, 64, 4, 4, false, false>(p, dout, dh_last, ws, g);
        if (v == 143) return bwd7_launch<T, 64, 4, 3, true, false>(p, dout, dh_last, ws, g);
        if (v == 244) return bwd7_launch<T, 64, 4, 4, false, true>(p, dout, dh_last, ws, g);
    }
    return bwd7_launch<T, N>(p, dout, dh_last, ws, g);
}

extern "C" int scan_v7_backward_segments(const scan_params *p)
{
    if (scan_check_params(p) || (p->N & (p->N - 1))) return 1;
    int nseg = 1, len;
    SCAN_DISPATCH_T(p->dtype, TC, {
        SCAN_DISPATCH_N(p->N, NC, {
            constexpr int S = NC < 4 ? NC : 4;
            bwd7_shape(p, bwd7_per_sm<TC, NC / S, S, bwd7_minb<NC>, false, bwd7_ht<NC>>(), &nseg, &len);
        });
    });
    return nseg;
}

extern "C" int scan_v7_backward(const scan_params *p, const void *dout, const float *dh_last,
                                const float *chunk_states, float *workspace, scan_grads *g)
{
    (void)chunk_states;   /* the combine rebuilds every boundary state from h0 */
    int rc = scan_check_params(p);
    if (rc) return rc;
    if (!dout || !g || !workspace) return SCAN_EARGS;
    if (p->N < 1 || (p->N & (p->N - 1))) return SCAN_EN;
    SCAN_DISPATCH_T(p->dtype, TC, {
        SCAN_DISPATCH_N(p->N, NC, return bwd7_pick<TC, NC>(p, dout, dh_last, workspace, g));
    });
    return SCAN_OK;
}
