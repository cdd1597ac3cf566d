/* 06_hw_aware_cuda/scan/v5_per_state.cu — version 5: one thread per state (section 6.9).
 *
 * v4 spends its instructions on the block scan: per element a combine and a replay, plus
 * shuffles and two barriers per state per chunk. v5 goes back to v2's sequential walk
 * through time, but gives every STATE its own thread instead of every channel: thread
 * (b, d, n) keeps h_n in a register and runs the whole sequence,
 *     h = 2^(Δ_l·A_n·log₂e)·h + (Δ_l·u_l)·B_{n,l},    y_l += C_{n,l}·h
 * which per (b, d, l, n) element is one exp2, two multiplies and two FMAs, with no barrier
 * at all. Parallelism is batch·D·N threads, whatever L is.
 *
 * The threads of one channel are a group of G = min(N, 32) consecutive lanes of a warp (a
 * warp holds 32/G channels; N = 64 gives each lane S = 2 states). A lane walks time in runs
 * of R = 16 steps:
 *   1. u of the run for its channel (the same addresses in every lane of the group: one
 *      broadcast load), B and C of the run for its own state n (16-byte loads);
 *   2. Δ = softplus(δ + bias) for the run, each lane computing R/G of the steps and the
 *      group sharing them by shuffles (why: see the comment at step 2 in the kernel);
 *   3. the recurrence, keeping the partial outputs C_{n,l}·h_l of the R steps in registers;
 *   4. a butterfly reduce-scatter sums those partials over the group's N states: after it
 *      each lane holds the finished y of R/G consecutive steps (about one shuffle and one add
 *      per element, where a full reduction of every step would take log₂G);
 *   5. those lanes add D·u, apply the z gate and write y — the group writes R consecutive
 *      outputs.
 * The state after every SCAN_CHUNK steps goes to chunk_states in v4's layout, so the fused
 * backward runs from v5's forward too. Any dtype; state and arithmetic in fp32. */
#include "06_hw_aware_cuda/scan/step_vectors.cuh"
#include "06_hw_aware_cuda/scan/state_groups.cuh"

namespace {
constexpr int NT = 128;   /* threads per block: small blocks leave a short last wave */
constexpr int R = 16;     /* time steps per run */
static_assert(SCAN_CHUNK % R == 0, "a run never straddles a chunk end");
constexpr float LOG2E = 1.4426950408889634f;
}

/* G lanes per channel, S states per lane (N = G·S). */
template <typename T, int G, int S>
__global__ void __launch_bounds__(NT) v5_kernel(scan_params p, T *out, float *h_last,
                                                float *chunk_states, bool vec)
{
    constexpr int N = G * S;
    constexpr int CPB = NT / G;               /* channels per block */
    constexpr int V = R >= G ? R / G : 1;     /* finished steps per lane after step 4 */
    const unsigned full = 0xffffffffu;
    const int L = p.L, D = p.D, tid = threadIdx.x, lane = tid & 31;
    const int dblocks = (D + CPB - 1) / CPB;
    const int b = (int)(blockIdx.x / dblocks), d0 = (int)(blockIdx.x % dblocks) * CPB;
    /* A warp whose channels all lie past D leaves (the whole warp: no shuffle waits for
     * it). A partly filled warp runs its idle groups on channel D − 1 and writes nothing:
     * every lane must take part in the shuffles. */
    if (d0 + (tid & ~31) / G >= D) return;
    const bool active = d0 + tid / G < D;
    const int d = active ? d0 + tid / G : D - 1;
    const int g = tid % G;                    /* this lane's place in its channel's group */
    const size_t bd = (size_t)b * D + d;
    const int nchunks = (L + SCAN_CHUNK - 1) / SCAN_CHUNK;
    const T *u = (const T *)p.u + bd * L, *delta = (const T *)p.delta + bd * L;
    const T *z = p.z ? (const T *)p.z + bd * L : nullptr;
    const T *Bg = (const T *)p.B + (size_t)b * N * L, *Cg = (const T *)p.C + (size_t)b * N * L;
    const float bias = p.delta_bias ? p.delta_bias[d] : 0.f;
    const float Dd = p.Dskip ? p.Dskip[d] : 0.f;
    /* step 4 leaves lane g the steps step0 … step0+V−1 of each run; when G > R, G/R lanes
     * share them and the first of those writes */
    const int step0 = g * R / G;
    const bool writer = active && (g * R) % G == 0;

    float h[S], A2[S];   /* lane g holds the states n = g + s·G */
#pragma unroll
    for (int s = 0; s < S; s++) {
        const int n = g + s * G;
        A2[s] = p.A[(size_t)d * N + n] * LOG2E;   /* e^{ΔA} = 2^{Δ·A·log₂e} */
        h[s] = p.h0 ? p.h0[bd * N + n] : 0.f;
    }

    for (int l0 = 0; l0 < L; l0 += R) {
        /* 1. u for the whole run (the group reads the same addresses: a broadcast) */
        float uu[R], dt[R], y[R];
        load_items<T, R>(u, l0, L, vec, uu);
        /* 2. (5.1) Δ. The softplus (an exp and a log1p, some twenty instructions) is the
         * same for the G lanes of a channel. Computed redundantly it would cost that much
         * per lane per step, i.e. per element, several times the recurrence itself; split,
         * each lane computes it for the V steps it will finish anyway and a shuffle per
         * step hands it round. Past L, Δ = 0 (and u = 0): the identity step. */
        float dt_own[V];
        load_items<T, V>(delta, l0 + step0, L, vec, dt_own);
#pragma unroll
        for (int j = 0; j < V; j++)
            dt_own[j] = l0 + step0 + j < L ? dt_of(dt_own[j], bias, p.delta_softplus) : 0.f;
#pragma unroll
        for (int i = 0; i < R; i++) {
            if constexpr (G == 1) dt[i] = dt_own[i];
            else dt[i] = __shfl_sync(full, dt_own[i % V], i * G / R, G);   /* from its lane */
            y[i] = 0.f;
            uu[i] *= dt[i];   /* Δ·u */
        }
        /* 3. the recurrence for this lane's states */
#pragma unroll
        for (int s = 0; s < S; s++) {
            const int n = g + s * G;
            float Bv[R], Cv[R];
            load_items<T, R>(Bg + (size_t)n * L, l0, L, vec, Bv);
            load_items<T, R>(Cg + (size_t)n * L, l0, L, vec, Cv);
#pragma unroll
            for (int i = 0; i < R; i++) {
                const float a = ex2_approx(dt[i] * A2[s]);   /* (5.2) Ā */
                h[s] = a * h[s] + uu[i] * Bv[i];             /* (5.3)–(5.4) */
                y[i] += Cv[i] * h[s];                        /* (5.5), this state's part */
            }
        }
        /* the state at the end of each chunk (and of the sequence), as v4 saves it */
        if (active && chunk_states && ((l0 + R) % SCAN_CHUNK == 0 || l0 + R >= L)) {
            const int c = l0 / SCAN_CHUNK;
#pragma unroll
            for (int s = 0; s < S; s++) chunk_states[(bd * nchunks + c) * N + g + s * G] = h[s];
        }
        /* 4. y summed over the channel's states */
        reduce_scatter<R, G / 2, R>(y, lane);
        /* 5. (5.6) D·u and the gate, and y out. The lane's own u comes again from memory (a
         * cache hit): picking it out of uu[] would index registers by lane. */
        if (writer) {
            float yo[V];
            load_items<T, V>(u, l0 + step0, L, vec, yo);
#pragma unroll
            for (int j = 0; j < V; j++) yo[j] = y[j] + Dd * yo[j];
            if (z) {
                float zz[V];
                load_items<T, V>(z, l0 + step0, L, vec, zz);
#pragma unroll
                for (int j = 0; j < V; j++) yo[j] *= silu_f(zz[j]);
            }
            store_items<T, V>(out + bd * L, l0 + step0, L, vec, yo);
        }
    }
    if (active && h_last) {
#pragma unroll
        for (int s = 0; s < S; s++) h_last[bd * N + g + s * G] = h[s];
    }
}

template <typename T, int N>
static int v5_launch(const scan_params *p, void *out, float *h_last, float *chunk_states)
{
    constexpr int G = N < 32 ? N : 32, S = N / G, CPB = NT / G;
    const void *ptrs[6] = {p->u, p->delta, p->z, p->B, p->C, out};
    const bool vec = rows_vectorizable<T>(p->L, ptrs, 6);
    /* one block per CPB channels of one batch element, batch elements slowest: blocks
     * that run together share B and C in L2 */
    const size_t blocks = (size_t)p->batch * ((p->D + CPB - 1) / CPB);
    v5_kernel<T, G, S><<<(unsigned)blocks, NT>>>(*p, (T *)out, h_last, chunk_states, vec);
    SCAN_LAUNCHED();
    return SCAN_OK;
}

extern "C" int scan_v5_forward(const scan_params *p, void *out, float *h_last,
                               float *chunk_states)
{
    int rc = scan_check_params(p);
    if (rc) return rc;
    if (!out) return SCAN_EARGS;
    /* N a power of two (the groups tile a warp); others get SCAN_EN */
    SCAN_DISPATCH_T(p->dtype, TC, {
        SCAN_DISPATCH_N(p->N, NC, return v5_launch<TC, NC>(p, out, h_last, chunk_states));
    });
    return SCAN_OK;
}
