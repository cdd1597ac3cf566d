/* 06_hw_aware_cuda/scan/v6_state_tiles.cu — version 6: groups of states per thread, inputs staged
 * in shared memory (section 6.10).
 *
 * Why (chapter 6.10 has the profiles): v4 and v5 are not short of DRAM bandwidth; they are
 * held by the L1 cache (every thread reloads its steps of B and C for each n, with loads far
 * apart across the warp) and by latency (many registers, few warps ready to issue), and v5
 * adds a shuffle for every Δ.
 *
 * v6 keeps v5's idea, a sequential walk per state with no block scan, and fixes the data
 * path. A block holds CPB = 32 channels of one batch element and walks time in tiles of
 * TT = 32 steps (fewer below N = 16):
 *   A. the tile's inputs go to shared memory: coalesced loads (a warp reads consecutive
 *      steps of a row), issued one tile AHEAD into registers so that their latency hides
 *      behind the previous tile's arithmetic; then each step's per-channel values are
 *      computed once: Δ = softplus(δ + bias), Δ·u, u and the gate SiLU(z); B and C of the
 *      tile (N × TT, the same for all 32 channels) are stored transposed, [step][n];
 *   B. thread (channel c, lane g of G) owns the S = N/G states n = g·S … g·S+S−1 and walks the
 *      tile: per step one 16-byte shared load of its S values of B and one of C (float4
 *      when S = 4), then for each state
 *          h = 2^(Δ·A·log₂e)·h + (Δ·u)·B_n,   y_l += C_n·h
 *      — per (b, d, l, n) element one exp2, two multiplies and two FMAs, as v5;
 *   C. every R = 8 steps the G partial sums of each step meet by v5's reduce-scatter (G = 4
 *      at N = 16: two rounds, about 0.2 shuffles per element) into shared memory;
 *   D. the finished tile goes out the way it came in, coalesced: y + D·u, times the gate.
 * S = 4 states per thread (N ≥ 4) is the compromise of the chapter's count: v2 (S = N) has
 * the fewest instructions but batch·D threads; v5 (S = 1) has batch·D·N threads but pays a
 * reduction for every step. At N = 16, batch 8, D 2048: 65 536 threads, 4 per channel.
 * N a power of two ≤ 64; any dtype; state and arithmetic in fp32. The state at the end of
 * every SCAN_CHUNK steps goes to chunk_states in v4's layout, so the fused backward runs
 * from v6's forward too. */
#include "06_hw_aware_cuda/scan/state_groups.cuh"
#include "06_hw_aware_cuda/scan/seq_segments.cuh"

namespace {
constexpr int CPB = 32;   /* channels per block */
/* Time steps per tile: 32 with G ≥ 4 lanes per channel; fewer with fewer lanes, so that
 * each thread's share of a tile's loads stays at TT/G = 8 elements per input (the
 * registers of the prefetch, step A). */
__host__ __device__ constexpr int tile_steps(int G) { return G >= 4 ? 32 : 8 * G; }
constexpr float LOG2E = 1.4426950408889634f;
}

/* One thread's share of a tile's inputs, in registers. Thread t loads step jt = t mod TT of
 * the channels kt + i·KS (kt = t / TT, KS = NT / TT channels apart) of u, δ, z, and of the
 * states kt + i·KS of B and C: a warp reads consecutive steps of a row. Loaded one tile
 * ahead (the prefetch), stored to shared memory when that tile's turn comes. The values stay
 * in their storage type until then: converting at load time would make the thread wait
 * for the load right there, undoing the prefetch (chapter 6.10 measures it in bf16). */
template <typename T, int PK, int PB>
struct tile_regs {
    T u[PK], delta[PK], z[PK], B[PB], C[PB];
};

/* G lanes per channel, S states per lane (N = G·S); CPB·G threads. */
/* Segments (v7, chapter 6, §V.1): blockIdx.y picks a segment of seg_len steps (a multiple of
 * every tile length; seg_len ≥ L with one segment is v6 itself) that starts from its row
 * of seg_h, (batch, D, nseg, N), instead of h0. Only the segment that reaches L writes
 * h_last; chunk_states are written by whichever segment holds a chunk's end. */
template <typename T, int G, int S>
__global__ void __launch_bounds__(CPB *G, 16 / G) v6_kernel(scan_params p, T *out, float *h_last,
                                                    float *chunk_states, int seg_len,
                                                    const float *seg_h)
{
    constexpr int N = G * S, NT = CPB * G, BP = N + 4;   /* BP: row stride of [step][n] */
    constexpr int TT = tile_steps(G);
    /* R: steps per run (at least G, so that each lane finishes V = R/G ≥ 1 of them) */
    constexpr int R = G > 8 ? G : 8, V = R / G;
    /* TP: row stride of the [channel][step] tiles: rows stay 16-byte aligned, and the 8
     * channels a quarter-warp reads at one step fall in different banks */
    constexpr int TP = TT + 4;
    constexpr int PK = CPB * TT / NT, PB = (N * TT + NT - 1) / NT;
    static_assert(SCAN_CHUNK % TT == 0 && TT % R == 0 && R % 4 == 0,
                  "tiles of whole runs, runs of whole float4s, tiles within chunks");
    __shared__ __align__(16) float s_dt[CPB][TP], s_du[CPB][TP], s_u[CPB][TP], s_gate[CPB][TP];
    __shared__ __align__(16) float s_y[CPB][TP];   /* C·h summed over the states */
    __shared__ __align__(16) float s_B[TT][BP], s_C[TT][BP];
    __shared__ float s_bias[CPB], s_D[CPB];
    const int L = p.L, D = p.D, tid = threadIdx.x;
    const int dblocks = (D + CPB - 1) / CPB;
    const int b = (int)(blockIdx.x / dblocks), d0 = (int)(blockIdx.x % dblocks) * CPB;
    const int c = tid / G, g = tid % G;   /* this thread's channel in the block, lane in it */
    const bool active = d0 + c < D;       /* channels past D run on zeros, write nothing */
    const int d = active ? d0 + c : D - 1;
    const size_t bd = (size_t)b * D + d;
    const int nchunks = (L + SCAN_CHUNK - 1) / SCAN_CHUNK;
    const T *u = (const T *)p.u, *delta = (const T *)p.delta, *z = (const T *)p.z;
    const T *Bg = (const T *)p.B + (size_t)b * N * L, *Cg = (const T *)p.C + (size_t)b * N * L;
    const int seg = (int)blockIdx.y, l_begin = seg * seg_len;
    const int l_end = min(L, l_begin + seg_len);   /* this block's steps: [l_begin, l_end) */
    const float *h_start = seg_h ? seg_h + (bd * gridDim.y + seg) * N : p.h0 ? p.h0 + bd * N : nullptr;

    for (int k = tid; k < CPB; k += NT) {
        const int dk = d0 + k < D ? d0 + k : D - 1;
        s_bias[k] = p.delta_bias ? p.delta_bias[dk] : 0.f;
        s_D[k] = p.Dskip ? p.Dskip[dk] : 0.f;
    }
    float h[S], A2[S];
#pragma unroll
    for (int s = 0; s < S; s++) {
        const int n = g * S + s;
        A2[s] = p.A[(size_t)d * N + n] * LOG2E;   /* e^{ΔA} = 2^{Δ·A·log₂e} */
        h[s] = h_start ? h_start[n] : 0.f;
    }

    /* A. the loads of a tile (zeros past L or D, which make Δ = 0 and u = 0 below, the
     * identity step) ... */
    constexpr int KS = NT / TT;
    const int jt = tid % TT, kt = tid / TT;
    const T *u_t = u + ((size_t)b * D + d0 + kt) * L + jt, *delta_t = delta + (u_t - u);
    const T *z_t = z ? z + (u_t - u) : nullptr;
    const T *B_t = Bg + (size_t)kt * L + jt, *C_t = Cg + (size_t)kt * L + jt;
    const T zero = from_f<T>(0.f);
    auto fetch = [&](int l0, tile_regs<T, PK, PB> &r) {
        const bool in_L = l0 + jt < l_end;
#pragma unroll
        for (int i = 0; i < PK; i++) {
            const bool ok = in_L && d0 + kt + i * KS < D;
            const size_t at = (size_t)i * KS * L + l0;
            r.u[i] = r.delta[i] = r.z[i] = zero;
            if (ok) {
                r.u[i] = u_t[at];
                r.delta[i] = delta_t[at];
                if (z) r.z[i] = z_t[at];
            }
        }
#pragma unroll
        for (int i = 0; i < PB; i++) {
            const bool ok = in_L && kt + i * KS < N;
            const size_t at = (size_t)i * KS * L + l0;
            r.B[i] = r.C[i] = zero;
            if (ok) {
                r.B[i] = B_t[at];
                r.C[i] = C_t[at];
            }
        }
    };
    /* ... and their values into shared memory, with each step's per-channel values
     * computed once: Δ (5.1), Δ·u, u and the gate SiLU(z) (5.6); B and C transposed */
    auto stash = [&](int l0, const tile_regs<T, PK, PB> &r) {
        const bool in_L = l0 + jt < l_end;
#pragma unroll
        for (int i = 0; i < PK; i++) {
            const int kc = kt + i * KS;
            const float uk = to_f(r.u[i]);
            const float dtk =
                in_L && d0 + kc < D ? dt_of(to_f(r.delta[i]), s_bias[kc], p.delta_softplus) : 0.f;
            s_dt[kc][jt] = dtk;
            s_du[kc][jt] = dtk * uk;
            s_u[kc][jt] = uk;
            s_gate[kc][jt] = z ? silu_f(to_f(r.z[i])) : 1.f;
        }
#pragma unroll
        for (int i = 0; i < PB; i++) {
            if (kt + i * KS < N) {
                s_B[jt][kt + i * KS] = to_f(r.B[i]);
                s_C[jt][kt + i * KS] = to_f(r.C[i]);
            }
        }
    };

    /* D. a finished tile out, in the loads' layout (a warp writes consecutive steps of a
     * row): y + D·u, times the gate (5.6). Each thread reads exactly the cells its own
     * stash wrote, so it may stash the next tile right after. */
    auto drain = [&](int l0) {
        if (l0 + jt >= l_end) return;
        T *out_t = out + ((size_t)b * D + d0 + kt) * L + jt + l0;
#pragma unroll
        for (int i = 0; i < PK; i++) {
            const int kc = kt + i * KS;
            if (d0 + kc < D)
                out_t[(size_t)i * KS * L] =
                    from_f<T>((s_y[kc][jt] + s_D[kc] * s_u[kc][jt]) * s_gate[kc][jt]);
        }
    };

    tile_regs<T, PK, PB> next;
    fetch(l_begin, next);
    for (int l0 = l_begin; l0 < l_end; l0 += TT) {
        __syncthreads();   /* the previous tile is finished (and s_bias, s_D are written) */
        if (l0 > l_begin) drain(l0 - TT);
        stash(l0, next);
        /* the next tile's loads go out now and arrive while this tile is walked (B, C): the
         * latency of global memory hides behind the arithmetic */
        if (l0 + TT < l_end) fetch(l0 + TT, next);
        __syncthreads();

        /* B. the walk through the tile for this thread's S states, in runs of R steps whose
         * partial outputs stay in registers; C. after each run, y summed over the channel's
         * G lanes (lane g finishes steps g·V … g·V+V−1 of the run), D·u, the gate, out */
#pragma unroll 1
        for (int r0 = 0; r0 < TT; r0 += R) {
            float y[R];
#pragma unroll
            for (int j = 0; j < R; j += 4) {
                const float4 dt4 = *reinterpret_cast<const float4 *>(&s_dt[c][r0 + j]);
                const float4 du4 = *reinterpret_cast<const float4 *>(&s_du[c][r0 + j]);
                const float dts[4] = {dt4.x, dt4.y, dt4.z, dt4.w};
                const float dus[4] = {du4.x, du4.y, du4.z, du4.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    float Bv[S], Cv[S];
                    load_states<S>(&s_B[r0 + j + i][g * S], Bv);
                    load_states<S>(&s_C[r0 + j + i][g * S], Cv);
                    float yp = 0.f;
#pragma unroll
                    for (int s = 0; s < S; s++) {
                        const float a = ex2_approx(dts[i] * A2[s]);   /* (5.2) Ā */
                        h[s] = a * h[s] + dus[i] * Bv[s];             /* (5.3)–(5.4) */
                        yp += Cv[s] * h[s];                           /* (5.5), this lane's part */
                    }
                    y[j + i] = yp;
                }
            }
            reduce_scatter<R, G / 2, R>(y, tid & 31);
#pragma unroll
            for (int v = 0; v < V; v++) s_y[c][r0 + g * V + v] = y[v];
        }
        /* the state at the end of each chunk (and of the sequence), as v4 saves it */
        if (active && chunk_states && ((l0 + TT) % SCAN_CHUNK == 0 || l0 + TT >= L)) {
            const int ch = l0 / SCAN_CHUNK;
#pragma unroll
            for (int s = 0; s < S; s++) chunk_states[(bd * nchunks + ch) * N + g * S + s] = h[s];
        }
    }
    __syncthreads();
    drain(l_begin + (l_end - l_begin - 1) / TT * TT);   /* the last tile */
    if (active && h_last && l_end == L) {
#pragma unroll
        for (int s = 0; s < S; s++) h_last[bd * N + g * S + s] = h[s];
    }
}

template <typename T, int N>
static int v6_launch(const scan_params *p, void *out, float *h_last, float *chunk_states,
                     int seg_len, int nseg, const float *seg_h)
{
    constexpr int S = N < 4 ? N : 4, G = N / S;
    /* batch elements slowest: the blocks running together share B and C in L2 */
    const size_t blocks = (size_t)p->batch * ((p->D + CPB - 1) / CPB);
    v6_kernel<T, G, S><<<dim3((unsigned)blocks, (unsigned)nseg), CPB * G>>>(
        *p, (T *)out, h_last, chunk_states, seg_len, seg_h);
    SCAN_LAUNCHED();
    return SCAN_OK;
}

/* How many of v6's blocks for p one SM holds at once (v7 sizes its grid by it). */
template <typename T, int N>
static int v6_occupancy()
{
    constexpr int S = N < 4 ? N : 4, G = N / S;
    int k = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&k, v6_kernel<T, G, S>, CPB * G, 0) != cudaSuccess)
        return 1;
    return k > 0 ? k : 1;
}
int scan_v6_blocks_per_sm(const scan_params *p)
{
    /* cached per (dtype, N): the launchers ask on every call */
    static int cache[3][SCAN_MAX_N + 1];
    const int t = (int)p->dtype, n = p->N;
    if (t >= 0 && t < 3 && n >= 1 && n <= SCAN_MAX_N && cache[t][n]) return cache[t][n];
    int k = 1;
    SCAN_DISPATCH_T(p->dtype, TC, { SCAN_DISPATCH_N(p->N, NC, k = v6_occupancy<TC, NC>()); });
    cache[t][n] = k;
    return k;
}

/* v7's third pass: v6 over nseg segments of seg_len steps, each from its row of seg_h. */
int scan_v6_segments(const scan_params *p, void *out, float *h_last, float *chunk_states,
                     int seg_len, int nseg, const float *seg_h)
{
    SCAN_DISPATCH_T(p->dtype, TC, {
        SCAN_DISPATCH_N(p->N, NC,
                        return v6_launch<TC, NC>(p, out, h_last, chunk_states, seg_len, nseg, seg_h));
    });
    return SCAN_OK;
}

extern "C" int scan_v6_forward(const scan_params *p, void *out, float *h_last,
                               float *chunk_states)
{
    int rc = scan_check_params(p);
    if (rc) return rc;
    if (!out) return SCAN_EARGS;
    /* N a power of two (the lane groups tile a warp); others get SCAN_EN */
    SCAN_DISPATCH_T(p->dtype, TC, {
        SCAN_DISPATCH_N(p->N, NC, return v6_launch<TC, NC>(p, out, h_last, chunk_states, p->L, 1, nullptr));
    });
    return SCAN_OK;
}
