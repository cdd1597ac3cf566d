/* 06_hw_aware_cuda/scan/backward_v6.cu — the backward pass in v6's style (section 6.11).
 *
 * The fused backward (backward_fused.cu) is v4's design: block scans, now three per state
 * per chunk (chapter 6.11 times it against the v6 forward). This one is v6 run backwards.
 * A block holds CPB
 * channels of one batch element; thread (channel c, lane g) owns the S states
 * n = g·S … g·S+S−1, as in v6. For each chunk of SCAN_CHUNK steps, last chunk first:
 *
 *   F. forward over the chunk in tiles of TB steps, from the chunk's saved start state:
 *      the state at each tile start goes to a workspace (checkpoints: batch·D·N floats per
 *      tile of a chunk, 1/TB of the chunk's states); with the z gate, y is recomputed
 *      (as in v6: partial sums, reduce-scatter over the G lanes) for
 *          dz = dout·ỹ·SiLU′(z),  ỹ = C·h + D·u                                   (6.6)
 *   R. backward over the chunk's tiles, last first. A tile's inputs are staged as in v6,
 *      with dy = dout·SiLU(z). The thread recomputes its states through the tile from the
 *      tile's checkpoint, keeping h_{l−1} of every step in shared memory, then walks the
 *      steps backwards with the adjoint of its states, carried from tile to tile in μ
 *      (μ = Ā_{l+1}·λ_{l+1}, dh_last at the very end):
 *          λ_l = μ + C_l·dy_l                                                     (6.5)
 *          dC_l += dy_l·h_l,   dB_l += λ_l·Δ_l·u_l         (sums over channels)
 *          du_l += λ_l·Δ_l·B_l,   dΔ_l += λ_l·(B_l·u_l + h_{l−1}·Ā_l·A)   (sums over states)
 *          dA += λ_l·h_{l−1}·Ā_l·Δ_l,   μ ← Ā_l·λ_l
 *      The sums over states are v6's reduce-scatter over the G lanes. The sums over
 *      channels (dB, dC) go through shared memory: every thread leaves its terms of the
 *      tile there, then each (step, state) is summed over the block's CPB channels by one
 *      thread and added to global memory by one atomic — CPB times fewer atomics than one
 *      per channel. du, dδ (through the softplus) leave coalesced; dD, dbias are summed per
 *      channel (in registers, then shared memory), dA per thread, one atomic each at the end.
 * Needs the chunk states of any fused forward (v3–v6) and a workspace of
 * scan_v6_backward_workspace_bytes(). Any dtype; N a power of two ≤ 64; fp32 arithmetic. */
#include "06_hw_aware_cuda/scan/state_groups.cuh"
#include "06_hw_aware_cuda/scan/backward_sums.cuh"

namespace {
constexpr float LOG2E = 1.4426950408889634f;
/* channels per block: 32, fewer at N = 32 and 64 so that each per-step buffer (TB·CPB·N
 * floats) stays at 16 KB and all shared memory under the 48 KB of a static allocation */
__host__ __device__ constexpr int bwd6_channels(int N) { return N >= 64 ? 4 : N >= 32 ? 16 : 32; }
/* steps per tile: 8, or G when a channel has more lanes (each lane finishes TB/G steps of
 * the sums over states) */
__host__ __device__ constexpr int bwd6_tile(int G) { return G > 8 ? G : 8; }
}

template <typename T, int G, int S>
__global__ void __launch_bounds__(bwd6_channels(G *S) * G)
    bwd6_kernel(scan_params p, const T *dout, const float *dh_last, const float *chunk_states,
                float *ck, scan_grads gr)
{
    constexpr int N = G * S, CPB = bwd6_channels(N), NT = CPB * G, TB = bwd6_tile(G);
    constexpr int V = TB / G;                  /* finished steps per lane of a sum over states */
    constexpr int TP = TB + 4, BP = N + 4;     /* row strides (16-byte rows, fewer conflicts) */
    constexpr int KS = NT / TB;                /* channels apart of one thread's loads */
    constexpr int PK = CPB * TB / NT, PB = (N * TB + NT - 1) / NT;
    constexpr int TPC = SCAN_CHUNK / TB;       /* tiles per chunk */
    static_assert(NT % TB == 0 && TB % G == 0 && SCAN_CHUNK % TB == 0, "tile shape");
    /* the tile of per-channel values: [channel][step] */
    __shared__ __align__(16) float s_dt[CPB][TP], s_du[CPB][TP], s_u[CPB][TP];
    __shared__ __align__(16) float s_a[CPB][TP];   /* F: dout,  R: dy */
    __shared__ __align__(16) float s_b[CPB][TP];   /* F: SiLU′(z),  R: dΔ/dδ */
    __shared__ __align__(16) float s_s1[CPB][TP], s_s2[CPB][TP];   /* sums over states */
    __shared__ __align__(16) float s_B[TB][BP], s_C[TB][BP];
    /* per step, channel and state: h_{l−1}, then the dC term; the dB term */
    __shared__ __align__(16) float s_h[TB][CPB][N], s_db[TB][CPB][N];
    __shared__ float s_bias[CPB], s_D[CPB], s_dD[CPB], s_dbias[CPB];

    const int L = p.L, D = p.D, tid = threadIdx.x;
    const int dblocks = (D + CPB - 1) / CPB;
    const int b = (int)(blockIdx.x / dblocks), d0 = (int)(blockIdx.x % dblocks) * CPB;
    const int c = tid / G, g = tid % G;
    const bool active = d0 + c < D;
    const int d = active ? d0 + c : D - 1;
    const size_t bd = (size_t)b * D + d;
    const int nchunks = (L + SCAN_CHUNK - 1) / SCAN_CHUNK;
    const T *u = (const T *)p.u, *delta = (const T *)p.delta, *z = (const T *)p.z;
    const T *Bg = (const T *)p.B + (size_t)b * N * L, *Cg = (const T *)p.C + (size_t)b * N * L;
    float *dBg = gr.dB ? gr.dB + (size_t)b * N * L : nullptr;
    float *dCg = gr.dC ? gr.dC + (size_t)b * N * L : nullptr;

    for (int k = tid; k < CPB; k += NT) {
        const int dk = d0 + k < D ? d0 + k : D - 1;
        s_bias[k] = p.delta_bias ? p.delta_bias[dk] : 0.f;
        s_D[k] = p.Dskip ? p.Dskip[dk] : 0.f;
        s_dD[k] = s_dbias[k] = 0.f;
    }
    float A[S], A2[S], mu[S], dA[S];
#pragma unroll
    for (int s = 0; s < S; s++) {
        A[s] = p.A[(size_t)d * N + g * S + s];
        A2[s] = A[s] * LOG2E;
        mu[s] = dh_last ? dh_last[bd * N + g * S + s] : 0.f;
        dA[s] = 0.f;
    }

    /* this thread's loads (as v6): step jt of channels kt + i·KS, states kt + i·KS */
    const int jt = tid % TB, kt = tid / TB;
    const size_t row0 = ((size_t)b * D + d0 + kt) * L + jt;
    const T *B_t = Bg + (size_t)kt * L + jt, *C_t = Cg + (size_t)kt * L + jt;

    /* Stage tile l0: Δ, Δ·u, u and B, C (transposed) as in v6; s_a, s_b as the pass needs
     * (fwd: dout and SiLU′(z); bwd: dy = dout·SiLU(z) and dΔ/dδ). Zeros past L or D. */
    auto stage = [&](int l0, bool fwd) {
        const bool in_L = l0 + jt < L;
#pragma unroll
        for (int i = 0; i < PK; i++) {
            const int kc = kt + i * KS;
            const bool ok = in_L && d0 + kc < D;
            const size_t at = row0 + (size_t)i * KS * L + l0;
            const float uk = ok ? to_f(u[at]) : 0.f, raw = ok ? to_f(delta[at]) : 0.f;
            const float gk = ok ? to_f(dout[at]) : 0.f, zk = ok && z ? to_f(z[at]) : 0.f;
            const float dtk = ok ? dt_of(raw, s_bias[kc], p.delta_softplus) : 0.f;
            s_dt[kc][jt] = dtk;
            s_du[kc][jt] = dtk * uk;
            s_u[kc][jt] = uk;
            if (fwd) {
                s_a[kc][jt] = gk;
                s_b[kc][jt] = z ? silu_grad_f(zk) : 0.f;
            } else {
                s_a[kc][jt] = z ? gk * silu_f(zk) : gk;                     /* dy */
                s_b[kc][jt] = dt_grad(raw, s_bias[kc], p.delta_softplus);   /* dΔ/dδ */
            }
        }
#pragma unroll
        for (int i = 0; i < PB; i++) {
            const int n = kt + i * KS;
            if (n < N) {
                const bool ok = in_L;
                s_B[jt][n] = ok ? to_f(B_t[(size_t)i * KS * L + l0]) : 0.f;
                s_C[jt][n] = ok ? to_f(C_t[(size_t)i * KS * L + l0]) : 0.f;
            }
        }
    };
    /* the start state of chunk ch: the previous chunk's saved end state, or h0 */
    auto chunk_start = [&](int ch, float (&h)[S]) {
        const float *src = ch > 0 ? chunk_states + (bd * nchunks + ch - 1) * N
                                  : (p.h0 ? p.h0 + bd * N : nullptr);
#pragma unroll
        for (int s = 0; s < S; s++) h[s] = src ? src[g * S + s] : 0.f;
    };
    /* the checkpoint of tile t of the current chunk: (b, d, t, n) */
    float *ck_t = ck + bd * (size_t)TPC * N + g * S;
    /* dD and dbias of the channels this thread drains, summed over its steps in registers
     * (a running fp32 sum over all L·batch steps of a channel loses ~√L·ε of its largest
     * partial sums, beyond the test's tolerance at L = 65536: chapter 6.11) */
    float pD[PK], pbias[PK];
#pragma unroll
    for (int i = 0; i < PK; i++) pD[i] = pbias[i] = 0.f;

    for (int ch = nchunks - 1; ch >= 0; ch--) {
        const int c0 = ch * SCAN_CHUNK, c1 = min(L, c0 + SCAN_CHUNK);
        const int ntiles = (c1 - c0 + TB - 1) / TB;

        /* F. forward through the chunk: checkpoints, and dz */
        float h[S];
        chunk_start(ch, h);
        for (int t = 0; t < ntiles; t++) {
            const int l0 = c0 + t * TB;
            __syncthreads();
            stage(l0, true);
            if (active)   /* idle threads share channel D−1's slots: they must not write */
#pragma unroll
                for (int s = 0; s < S; s++) ck_t[(size_t)t * N + s] = h[s];
            __syncthreads();
            float y[TB];
#pragma unroll
            for (int j = 0; j < TB; j++) {
                float Bv[S], Cv[S];
                load_states<S>(&s_B[j][g * S], Bv);
                load_states<S>(&s_C[j][g * S], Cv);
                const float dt = s_dt[c][j], du = s_du[c][j];
                float yp = 0.f;
#pragma unroll
                for (int s = 0; s < S; s++) {
                    h[s] = ex2_approx(dt * A2[s]) * h[s] + du * Bv[s];
                    yp += Cv[s] * h[s];
                }
                y[j] = yp;
            }
            if (!z) continue;   /* the same for every thread of the block */
            reduce_scatter<TB, G / 2, TB>(y, tid & 31);
#pragma unroll
            for (int v = 0; v < V; v++) s_s1[c][g * V + v] = y[v];
            __syncthreads();
            if (gr.dz && l0 + jt < L) {   /* dz out, in the loads' layout */
#pragma unroll
                for (int i = 0; i < PK; i++) {
                    const int kc = kt + i * KS;
                    if (d0 + kc >= D) continue;
                    const float yt = s_s1[kc][jt] + s_D[kc] * s_u[kc][jt];
                    ((T *)gr.dz)[row0 + (size_t)i * KS * L + l0] =
                        from_f<T>(s_a[kc][jt] * yt * s_b[kc][jt]);
                }
            }
        }

        /* R. backward through the chunk, last tile first */
        for (int t = ntiles - 1; t >= 0; t--) {
            const int l0 = c0 + t * TB;
            __syncthreads();
            stage(l0, false);
            __syncthreads();
            /* the states through the tile from its checkpoint: h_{l−1} of each step */
#pragma unroll
            for (int s = 0; s < S; s++) h[s] = ck_t[(size_t)t * N + s];
#pragma unroll
            for (int j = 0; j < TB; j++) {
                float Bv[S];
                load_states<S>(&s_B[j][g * S], Bv);
                store_states<S>(&s_h[j][c][g * S], h);
                const float dt = s_dt[c][j], du = s_du[c][j];
#pragma unroll
                for (int s = 0; s < S; s++) h[s] = ex2_approx(dt * A2[s]) * h[s] + du * Bv[s];
            }
            /* the steps backwards */
            float gu[TB], gdt[TB];
#pragma unroll
            for (int j = TB - 1; j >= 0; j--) {
                float Bv[S], Cv[S], hp[S], tC[S], tB[S];
                load_states<S>(&s_B[j][g * S], Bv);
                load_states<S>(&s_C[j][g * S], Cv);
                load_states<S>(&s_h[j][c][g * S], hp);   /* h_{l−1} */
                const float dt = s_dt[c][j], du = s_du[c][j], uu = s_u[c][j], dy = s_a[c][j];
                float pu = 0.f, pdt = 0.f;
#pragma unroll
                for (int s = 0; s < S; s++) {
                    const float a = ex2_approx(dt * A2[s]);
                    const float lam = mu[s] + Cv[s] * dy;   /* (6.5) */
                    const float gA = lam * hp[s] * a;       /* ∂/∂(Δ·A) */
                    tC[s] = dy * (a * hp[s] + du * Bv[s]);  /* dC term: dy·h_l */
                    tB[s] = lam * du;                       /* dB term */
                    pu += lam * dt * Bv[s];
                    pdt += lam * Bv[s] * uu + gA * A[s];
                    dA[s] += gA * dt;
                    mu[s] = a * lam;
                }
                store_states<S>(&s_h[j][c][g * S], tC);   /* h_{l−1} is no longer needed */
                store_states<S>(&s_db[j][c][g * S], tB);
                gu[j] = pu;
                gdt[j] = pdt;
            }
            reduce_scatter<TB, G / 2, TB>(gu, tid & 31);
            reduce_scatter<TB, G / 2, TB>(gdt, tid & 31);
#pragma unroll
            for (int v = 0; v < V; v++) {
                s_s1[c][g * V + v] = gu[v];
                s_s2[c][g * V + v] = gdt[v];
            }
            __syncthreads();
            /* dB, dC: each (step, state) summed over the block's channels, one atomic */
            for (int k = tid; k < TB * N; k += NT) {
                const int j = k / N, n = k % N;
                if (l0 + j >= L) continue;
                float sb = 0.f, sc = 0.f;
                for (int cc = 0; cc < CPB; cc++) {   /* channels past D hold zeros */
                    sb += s_db[j][cc][n];
                    sc += s_h[j][cc][n];
                }
                if (dBg) atomicAdd(dBg + (size_t)n * L + l0 + j, sb);
                if (dCg) atomicAdd(dCg + (size_t)n * L + l0 + j, sc);
            }
            /* du, dδ out in the loads' layout; dD, dbias summed per channel */
            if (l0 + jt < L) {
#pragma unroll
                for (int i = 0; i < PK; i++) {
                    const int kc = kt + i * KS;
                    if (d0 + kc >= D) continue;
                    const size_t at = row0 + (size_t)i * KS * L + l0;
                    const float dy = s_a[kc][jt];
                    const float ddraw = s_s2[kc][jt] * s_b[kc][jt];   /* through the softplus */
                    if (gr.du) ((T *)gr.du)[at] = from_f<T>(s_s1[kc][jt] + dy * s_D[kc]);
                    if (gr.ddelta) ((T *)gr.ddelta)[at] = from_f<T>(ddraw);
                    pD[i] += dy * s_u[kc][jt];
                    pbias[i] += ddraw;
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < PK; i++) {
        if (d0 + kt + i * KS >= D) continue;
        atomicAdd_block(&s_dD[kt + i * KS], pD[i]);
        atomicAdd_block(&s_dbias[kt + i * KS], pbias[i]);
    }
    __syncthreads();
    if (active) {
#pragma unroll
        for (int s = 0; s < S; s++) {
            if (gr.dA) atomicAdd(&gr.dA[(size_t)d * N + g * S + s], dA[s]);
            if (gr.dh0 && p.h0) gr.dh0[bd * N + g * S + s] = mu[s];   /* Ā_0·λ_0 */
        }
    }
    for (int k = tid; k < CPB; k += NT) {
        if (d0 + k >= D) continue;
        if (gr.dDskip && p.Dskip) atomicAdd(&gr.dDskip[d0 + k], s_dD[k]);
        if (gr.ddelta_bias && p.delta_bias) atomicAdd(&gr.ddelta_bias[d0 + k], s_dbias[k]);
    }
}

extern "C" size_t scan_v6_backward_workspace_bytes(const scan_params *p)
{
    /* checkpoints of one chunk's tiles (the largest TB, 16, gives the fewest; use 8) */
    const size_t tiles = SCAN_CHUNK / 8;
    return (size_t)p->batch * p->D * tiles * p->N * sizeof(float);
}

template <typename T, int N>
static int bwd6_launch(const scan_params *p, const void *dout, const float *dh_last,
                       const float *chunk_states, float *ws, scan_grads *g)
{
    constexpr int S = N < 4 ? N : 4, G = N / S, CPB = bwd6_channels(N);
    const size_t blocks = (size_t)p->batch * ((p->D + CPB - 1) / CPB);
    bwd6_kernel<T, G, S><<<(unsigned)blocks, CPB * G>>>(*p, (const T *)dout, dh_last,
                                                        chunk_states, ws, *g);
    SCAN_LAUNCHED();
    return SCAN_OK;
}

extern "C" int scan_v6_backward(const scan_params *p, const void *dout, const float *dh_last,
                                const float *chunk_states, float *workspace, scan_grads *g)
{
    int rc = scan_check_params(p);
    if (rc) return rc;
    if (!dout || !g || !chunk_states || !workspace) return SCAN_EARGS;
    if (p->N < 1 || (p->N & (p->N - 1))) return SCAN_EN;
    SCAN_CUDA(scan_zero_sums(p, g));
    SCAN_DISPATCH_T(p->dtype, TC, {
        SCAN_DISPATCH_N(p->N, NC,
                        return bwd6_launch<TC, NC>(p, dout, dh_last, chunk_states, workspace, g));
    });
    return SCAN_OK;
}
