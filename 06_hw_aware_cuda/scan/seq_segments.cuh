/* 06_hw_aware_cuda/scan/seq_segments.cuh — the sequence cut into segments that run in
 * parallel (chapter 6, §V.1): what v7's forward and v7's backward share.
 *
 * The recurrence h_l = Ā_l·h_{l−1} + B̄_l·u_l (5.3) is an affine map per step, and a segment of
 * steps [s0, s1) composes into one affine map (6.4), the segment map of §V.1: h_{s1−1} = P·h_{s0−1} + h^loc, where
 * P = Π Ā_l = 2^{A·log₂e·ΣΔ} (the decay over the segment, a function of ΣΔ alone) and h^loc is
 * the state the segment reaches from zero. The backward's adjoint (6.5) runs the other way,
 * λ_l = C_l·dy_l + Ā_{l+1}·λ_{l+1}, also affine: what leaves a segment to the left is
 * μ_out = P·μ_in + μ^loc with μ^loc = Σ_l (Π_{k=s0..l} Ā_k)·C_l·dy_l — a running product
 * that a FORWARD walk can keep, so one forward walk per segment gives both local maps.
 *
 *   walk:    one block per (batch, 32 channels, segment): the segment's local maps from
 *            zero (h^loc, ΣΔ; for the backward also μ^loc and a checkpoint of the local
 *            state and of ΣΔ every SEG_TB steps);
 *   combine: one thread per (batch, channel, state) runs over the segments in order: the
 *            true start state of each (from h0) and, for the backward, the true adjoint
 *            entering each from the right (from dh_last);
 *   then each segment runs its real pass from its true boundary values (v6 forward; the v7
 *   backward, which also corrects every checkpoint: h = h^loc + 2^{A·log₂e·ΣΔ}·h_start).
 * The extra work is the walk: one more exponential per element where it runs. */
#ifndef SEQ_SEGMENTS_CUH
#define SEQ_SEGMENTS_CUH

#include "06_hw_aware_cuda/scan/scan_device.cuh"
#include "06_hw_aware_cuda/scan/state_groups.cuh"

/* v6's third pass (defined in v6_state_tiles.cu): v6 over nseg segments of seg_len steps,
 * segment k starting from row k of seg_h (batch, D, nseg, N). */
int scan_v6_segments(const scan_params *p, void *out, float *h_last, float *chunk_states,
                     int seg_len, int nseg, const float *seg_h);
/* How many of v6's blocks for p one SM holds at once (cudaOccupancy…; SCAN_EN/… give 1). */
int scan_v6_blocks_per_sm(const scan_params *p);

/* Steps between the backward's checkpoints (its register tile) and the shortest segment
 * (a multiple of every tile length of v6 and the v7 backward; long enough that a segment's
 * fixed costs, the combine and the boundary traffic, stay small). */
#define SEG_TB 8
#define SEG_MIN 256
/* The forward's shortest segment where SEG_MIN caps its count (v7_shape): at batch 1, D 1024,
 * L 2048 eight segments of 256 steps left each pass a 256-step walk per block, latency-bound
 * (0.080 ms in bf16 against the official 0.059, round 2) */
#define SEG_MIN_FWD 128

/* The segments' boundary values, (batch, D, nseg, ·) each. */
struct seg_ws {
    int nseg, seg_len;
    float *h_loc;     /* (batch, D, nseg, N): the state a segment reaches from zero */
    float *sum_dt;    /* (batch, D, nseg): ΣΔ over the segment */
    float *h_start;   /* (batch, D, nseg, N): the true state before the segment */
    float *mu_loc;    /* backward: (batch, D, nseg, N) μ^loc; NULL in the forward */
    float *mu_end;    /* backward: the true adjoint entering the segment from the right */
    float *ck;        /* backward: (batch, D, ceil(L/SEG_TB), N) local checkpoints */
    float *ck_dt;     /* backward: (batch, D, ceil(L/SEG_TB)) ΣΔ from the segment start */
};

/* Where a block of the segmented kernels works: batch element b and channels d0 … d0+CPB−1
 * (block x = b·nblk + blk), segment blockIdx.y = steps [l_begin, l_end); thread c·G + g: channel
 * d = d0 + c, lane g. Threads of channels past D run as channel D−1 on zeros (active false). */
struct seg_block {
    int b, blk, d0, c, g, d, seg, l_begin, l_end;
    bool active;
    size_t bd;   /* b·D + d */
};
static __device__ __forceinline__ seg_block seg_block_of(const scan_params &p, int CPB, int G, int seg_len)
{
    seg_block k;
    const int nblk = (p.D + CPB - 1) / CPB;
    k.b = (int)(blockIdx.x / nblk), k.blk = (int)(blockIdx.x % nblk), k.d0 = k.blk * CPB;
    k.c = (int)threadIdx.x / G, k.g = (int)threadIdx.x % G;
    k.active = k.d0 + k.c < p.D;
    k.d = k.active ? k.d0 + k.c : p.D - 1;
    k.bd = (size_t)k.b * p.D + k.d;
    k.seg = (int)blockIdx.y, k.l_begin = k.seg * seg_len;
    k.l_end = min(p.L, k.l_begin + seg_len);
    return k;
}

namespace seg_detail {
constexpr float LOG2E = 1.4426950408889634f;
constexpr int TT = 16, TP = TT + 4;
/* channels per block of the walk: 32, 16 at N = 64 (G = 16 lanes each: 256 threads) */
__host__ __device__ constexpr int walk_channels(int G) { return G >= 16 ? 16 : 32; }
}

/* A tile's inputs in registers, the data path the walk and K3 share: thread (jt, kt) =
 * (tid mod TT, tid / TT) holds step l0 + jt of channels d0 + kt + i·KS (u, the raw δ and,
 * with DY, dout and z) and of states kt + i·KS of B (and, with DY, C); zeros past l_end, D
 * or N. Loading a tile into registers ahead of the barrier that stages it lets a kernel
 * prefetch the next tile while the current one runs (PF below, v6's data path). */
template <typename T, int CPB, int N, int NT>
struct tile_inputs {
    static constexpr int TT = seg_detail::TT, KS = NT / TT;
    static constexpr int PK = (CPB * TT + NT - 1) / NT, PB = (N * TT + NT - 1) / NT;
    float u[PK], raw[PK], g[PK], z[PK], B[PB], C[PB];
    template <bool DY>
    __device__ __forceinline__ void fetch(const scan_params &p, const T *dout, int b, int d0,
                                          int l0, int l_end, bool dy_on = true)
    {
        const int jt = (int)threadIdx.x % TT, kt = (int)threadIdx.x / TT, L = p.L, D = p.D;
        const T *Bg = (const T *)p.B + (size_t)b * N * L + l0 + jt;
        const T *Cg = (const T *)p.C + (size_t)b * N * L + l0 + jt;
        const bool in_L = l0 + jt < l_end;
#pragma unroll
        for (int i = 0; i < PK; i++) {
            const int kc = kt + i * KS;
            const bool ok = (PK * KS == CPB || kc < CPB) && in_L && d0 + kc < D;
            const size_t at = ((size_t)b * D + d0 + kc) * L + l0 + jt;
            u[i] = ok ? to_f(((const T *)p.u)[at]) : 0.f;
            raw[i] = ok ? to_f(((const T *)p.delta)[at]) : 0.f;
            if (DY && dy_on) {
                g[i] = ok ? to_f(dout[at]) : 0.f;
                z[i] = ok && p.z ? to_f(((const T *)p.z)[at]) : 0.f;
            }
        }
#pragma unroll
        for (int i = 0; i < PB; i++) {
            const int n = kt + i * KS;
            B[i] = n < N && in_L ? to_f(Bg[(size_t)n * L]) : 0.f;
            if (DY && dy_on) C[i] = n < N && in_L ? to_f(Cg[(size_t)n * L]) : 0.f;
        }
    }
};

/* The walk: G lanes per channel, S states per lane, 32 channels per block (16 at N = 64), tiles of TT = 16
 * steps staged in shared memory as v6 stages them (coalesced rows; Δ, Δ·u and, for μ^loc,
 * dy = dout·SiLU(z) computed once per step). BWD: the checkpoints; MU: μ^loc, which carries
 * the adjoint across a segment's left edge — an unsegmented backward has none to carry, and
 * its walk skips dout, z, C and the running product (half the walk's input bytes). MU0: so
 * does the first segment of a cut one, whose μ^loc the combine never reads (the adjoint leaving
 * the sequence's left edge is μ itself, carried by K3); SCAN_WALK_MU0=1 picks it (§V.3). */
template <typename T, int G, int S, bool BWD, bool PF, bool MU, bool MU0 = false>
__global__ void __launch_bounds__(seg_detail::walk_channels(G) * G)
    seg_walk_kernel(scan_params p, const T *dout, seg_ws w)
{
    using namespace seg_detail;
    constexpr int CPB = walk_channels(G), N = G * S, NT = CPB * G, BP = N + 4, KS = NT / TT;
    constexpr int PK = tile_inputs<T, CPB, N, NT>::PK, PB = tile_inputs<T, CPB, N, NT>::PB;
    static_assert(TT % SEG_TB == 0 && SEG_MIN % TT == 0, "checkpoints inside tiles");
    __shared__ __align__(16) float s_dt[CPB][TP], s_du[CPB][TP], s_dy[CPB][TP];
    __shared__ __align__(16) float s_B[TT][BP], s_C[TT][BP];
    __shared__ float s_bias[CPB];
    const int L = p.L, D = p.D, tid = threadIdx.x;
    const seg_block k = seg_block_of(p, CPB, G, w.seg_len);
    const int b = k.b, d0 = k.d0, c = k.c, g = k.g, d = k.d, seg = k.seg;
    const int l_begin = k.l_begin, l_end = k.l_end;
    const bool active = k.active;
    const size_t bd = k.bd;
    const int ntiles_ck = (L + SEG_TB - 1) / SEG_TB;
    const T *z = (const T *)p.z;
    const bool mu_on = MU && (!MU0 || seg > 0);   /* the same for the whole block */

    for (int kc = tid; kc < CPB; kc += NT)
        s_bias[kc] = p.delta_bias ? p.delta_bias[d0 + kc < D ? d0 + kc : D - 1] : 0.f;
    float h[S], A2[S], P[S], mu[S];
#pragma unroll
    for (int s = 0; s < S; s++) {
        A2[s] = p.A[(size_t)d * N + g * S + s] * LOG2E;
        h[s] = mu[s] = 0.f;
        P[s] = 1.f;
    }
    float cum_dt = 0.f;   /* ΣΔ from the segment start (the same in every lane of a channel) */
    const int jt = tid % TT, kt = tid / TT;
    /* PF: v6's data path, the next tile's inputs loaded into registers while this tile's steps
     * run, so that their latency hides behind the arithmetic (the first version loaded each
     * tile between two barriers, and the walk cost ~1.8x what v6 costs per element; ptxas at
     * N = 16, fp32: 72 registers without, 128 with for the backward's walk) */
    tile_inputs<T, CPB, N, NT> in;
    auto fetch = [&](int l0) { in.template fetch<MU>(p, dout, b, d0, l0, l_end, mu_on); };
    if (PF) fetch(l_begin);
    for (int l0 = l_begin; l0 < l_end; l0 += TT) {
        __syncthreads();   /* the previous tile's steps have read the staged values */
        if (!PF) fetch(l0);
        const bool in_L = l0 + jt < l_end;
#pragma unroll
        for (int i = 0; i < PK; i++) {
            const int kc = kt + i * KS;
            if (kc >= CPB) continue;
            const bool ok = in_L && d0 + kc < D;
            const float dtk = ok ? dt_of(in.raw[i], s_bias[kc], p.delta_softplus) : 0.f;
            s_dt[kc][jt] = dtk;
            s_du[kc][jt] = dtk * in.u[i];
            if (mu_on) s_dy[kc][jt] = z ? in.g[i] * silu_f(in.z[i]) : in.g[i];
        }
#pragma unroll
        for (int i = 0; i < PB; i++) {
            const int n = kt + i * KS;
            if (n < N) {
                s_B[jt][n] = in.B[i];
                if (mu_on) s_C[jt][n] = in.C[i];
            }
        }
        if (PF && l0 + TT < l_end) fetch(l0 + TT);
        __syncthreads();
#pragma unroll
        for (int j = 0; j < TT; j++) {
            if (BWD && j % SEG_TB == 0 && active && l0 + j < l_end) {
                const size_t t = bd * ntiles_ck + (l0 + j) / SEG_TB;   /* local checkpoint */
                store_states<S>(&w.ck[t * N + g * S], h);   /* one 16-byte store at S = 4 */
                if (g == 0) w.ck_dt[t] = cum_dt;
            }
            const float dt = s_dt[c][j], du = s_du[c][j], dy = mu_on ? s_dy[c][j] : 0.f;
            cum_dt += dt;
            /* the lane's S states of B and C as one 16-byte shared load each (S = 4): the
             * scalar loads were 11 of the step's shared-memory instructions, now 5 */
            float Bv[S], Cv[S];
            load_states<S>(&s_B[j][g * S], Bv);
            if (mu_on) load_states<S>(&s_C[j][g * S], Cv);
#pragma unroll
            for (int s = 0; s < S; s++) {
                const float a = ex2_approx(dt * A2[s]);   /* (5.2) Ā */
                h[s] = a * h[s] + du * Bv[s];              /* (5.3) from zero */
                if (mu_on) {
                    P[s] *= a;                              /* Π Ā from the segment start */
                    mu[s] += P[s] * Cv[s] * dy;
                }
            }
        }
    }
    if (active) {
        const size_t r = bd * w.nseg + seg;
#pragma unroll
        for (int s = 0; s < S; s++) {
            w.h_loc[r * N + g * S + s] = h[s];
            if (MU) w.mu_loc[r * N + g * S + s] = mu[s];
        }
        if (g == 0) w.sum_dt[r] = cum_dt;
    }
}

/* The combine: thread (b, d, n) runs over the segments, the state forwards from h0 and (BWD)
 * the adjoint backwards from dh_last, each through the segments' affine maps. The forward
 * walk skips the last segment (its end state is not needed): nwalk = nseg − 1 there.
 * The boundary values of CU segments are loaded (and their decays 2^{A·log₂e·ΣΔ} computed)
 * before any is used: they do not depend on the running state, and loading them one segment
 * at a time, each behind the previous store, made the combine a chain of nseg memory
 * latencies (9.4 µs at 15 segments, results/ncu/bwd7_durations_h200.csv). */
template <bool BWD>
__global__ void seg_combine_kernel(scan_params p, const float *dh_last, seg_ws w, int nwalk)
{
    constexpr int CU = 8;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int N = p.N, K = w.nseg;
    if (i >= (size_t)p.batch * p.D * N) return;
    const size_t bd = i / N, row = bd * K;
    const int n = (int)(i % N), d = (int)(bd % p.D);
    const float A2 = p.A[(size_t)d * N + n] * seg_detail::LOG2E;
    float h = p.h0 ? p.h0[i] : 0.f;
    for (int k0 = 0; k0 < K; k0 += CU) {
        float P[CU], x[CU];
#pragma unroll
        for (int j = 0; j < CU; j++) {
            const bool in = k0 + j < nwalk;
            P[j] = in ? exp2f(A2 * w.sum_dt[row + k0 + j]) : 1.f;
            x[j] = in ? w.h_loc[(row + k0 + j) * N + n] : 0.f;
        }
#pragma unroll
        for (int j = 0; j < CU; j++) {
            if (k0 + j >= K) break;
            w.h_start[(row + k0 + j) * N + n] = h;
            h = P[j] * h + x[j];
        }
    }
    if (BWD) {
        float mu = dh_last ? dh_last[i] : 0.f;
        for (int k0 = K - 1; k0 >= 0; k0 -= CU) {   /* segments k0, k0 − 1, … */
            float P[CU], x[CU];
#pragma unroll
            for (int j = 0; j < CU; j++) {
                const bool in = k0 - j >= 1;   /* the first segment's μ^loc is not walked */
                P[j] = in ? exp2f(A2 * w.sum_dt[row + k0 - j]) : 1.f;
                x[j] = in ? w.mu_loc[(row + k0 - j) * N + n] : 0.f;
            }
#pragma unroll
            for (int j = 0; j < CU; j++) {
                if (k0 - j < 0) break;
                w.mu_end[(row + k0 - j) * N + n] = mu;
                mu = P[j] * mu + x[j];
            }
        }
    }
}

/* The walk and the combine for nseg segments (the forward walks all but the last). */
template <typename T, int N, bool BWD>
static int seg_prepass(const scan_params *p, const void *dout, const float *dh_last, seg_ws w)
{
    constexpr int S = N < 4 ? N : 4, G = N / S;
    const int nwalk = BWD ? w.nseg : w.nseg - 1;
    constexpr int CPB = seg_detail::walk_channels(G);
    const size_t blocks = (size_t)p->batch * ((p->D + CPB - 1) / CPB);
    if (nwalk > 0) {
        /* the prefetch in fp32 only: round 2 on the H200 (chapter 6 §V.1) measured it faster
         * there (backward at the lesson's size 2.12 against 2.18 ms) and slower in bf16 (2.33
         * against 2.27; the forward at batch 1, D 2048, L 32 768: 1.31 against 1.22 ms), where
         * the loads are half the bytes and the 128 registers cost occupancy instead;
         * SCAN_WALK_PREFETCH=0 or 1 forces it either way */
        const char *e = getenv("SCAN_WALK_PREFETCH");
        const bool pf = e && (e[0] == '0' || e[0] == '1') ? e[0] == '1' : sizeof(T) == 4;
        const dim3 grid((unsigned)blocks, (unsigned)nwalk);
        const char *e0 = getenv("SCAN_WALK_MU0");
        const bool mu0 = e0 && e0[0] == '1';   /* the first segment without μ^loc (MU0) */
        if (BWD && w.nseg > 1 && mu0) {
            if (!pf)
                seg_walk_kernel<T, G, S, BWD, false, BWD, true><<<grid, CPB * G>>>(*p, (const T *)dout, w);
            else
                seg_walk_kernel<T, G, S, BWD, true, BWD, true><<<grid, CPB * G>>>(*p, (const T *)dout, w);
        } else if (BWD && w.nseg > 1) {
            if (!pf)
                seg_walk_kernel<T, G, S, BWD, false, BWD><<<grid, CPB * G>>>(*p, (const T *)dout, w);
            else
                seg_walk_kernel<T, G, S, BWD, true, BWD><<<grid, CPB * G>>>(*p, (const T *)dout, w);
        } else {
            if (!pf)
                seg_walk_kernel<T, G, S, BWD, false, false><<<grid, CPB * G>>>(*p, (const T *)dout, w);
            else
                seg_walk_kernel<T, G, S, BWD, true, false><<<grid, CPB * G>>>(*p, (const T *)dout, w);
        }
        SCAN_LAUNCHED();
    }
    const size_t n = (size_t)p->batch * p->D * p->N;
    seg_combine_kernel<BWD><<<(unsigned)((n + 255) / 256), 256>>>(*p, dh_last, w, nwalk);
    SCAN_LAUNCHED();
    return SCAN_OK;
}

/* The device's SM count (cached: the launch shapes are chosen from it). */
static inline int seg_sm_count(void)
{
    static int sms = 0;
    if (!sms) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
            sms = 132;
    }
    return sms;
}

/* Segments for `blocks` blocks per segment so that the grid reaches `want` blocks, each at
 * least min_len steps and a multiple of it; env (if set and > 0) forces the count. */
static inline int seg_count(int L, size_t blocks, size_t want, const char *env, int min_len = SEG_MIN)
{
    const int most = (L + min_len - 1) / min_len;
    int k = (int)((want + blocks - 1) / blocks);
    const char *e = env ? getenv(env) : nullptr;
    if (e && atoi(e) > 0) k = atoi(e);
    return k < 1 ? 1 : k > most ? most : k;
}
static inline int seg_length(int L, int nseg, int min_len = SEG_MIN)
{
    const int per = (L + nseg - 1) / nseg;
    return (per + min_len - 1) / min_len * min_len;
}

#endif
