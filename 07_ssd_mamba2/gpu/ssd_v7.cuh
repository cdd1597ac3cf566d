/* 07_ssd_mamba2/gpu/ssd_v7.cuh — v7 of the chunked SSD (chapter 7.7): what the profile of v6
 * said was in the way, changed. Included by ssd_gpu.cu after ssd_mma.cuh (whose instructions,
 * fragments and tile loads it uses).
 *
 * 1. The state path in ONE kernel per direction. v6 ran three: the running sums (k4_cumsum), the
 *    chunk states S_c into fp32 global memory (k4_state) and the pass over chunks that read them
 *    back and wrote the entering states twice (k4_pass, fp32 and bf16): per token and head
 *    4·P·N/Q bytes written and read two and a half times, as many bytes as x itself at N = 64,
 *    Q = 128, four times as many at N = 256. k7_states walks the sequence in 64-row tiles, one
 *    block per (W7 = 32 state columns, head, batch), the state H (P × 32) in the warps' mma
 *    accumulators: per tile H ← e^{Σ a} H + Σ_s e^{cs_end − cs_s} Δ_s x_s B_sᵀ (the recurrence
 *    (7.8) with the tile as the step: the chunk states (7.7) are never stored), and at each
 *    chunk start it writes the entering state once, in bf16 (fp32 too when the backward needs
 *    it). Its running sums come from a warp scan per tile. The tiles arrive by cp.async three
 *    deep, so the sequential walk waits on memory only at its start. k7_states_bwd does (7.22)
 *    the same way backwards: G ← e^{cs_end} G + Σ_t e^{cs_t} dy_t C_tᵀ, never storing Z_c, and
 *    writes each G_c once, in bf16 (the only form the tile kernel reads).
 * 2. The output tile kernel with a cheaper decay mask. E_ts Δ_s = 2^{c_t + ℓ_s} with
 *    c_t = cs_t·log₂e per row and ℓ_s = log₂Δ_s − cs_s·log₂e per column, both computed once per
 *    tile: per element one add, one ex2 and one multiply (v6: a subtraction, exp, two multiplies
 *    and the mask's three comparisons per element — most of k6_out's instructions). Off the
 *    diagonal tile s < t always, so c_t + ℓ_s ≤ log₂Δ_s: nothing overflows; on it the causal
 *    select covers the two n8 column blocks that cross the diagonal only. The source tiles are
 *    double-buffered: the next one's copies are in flight while this one is multiplied.
 * 3. The backward's fused tile kernel (v6's k_bwd_src, OPT = 2) with the same mask:
 *    E_ts = 2^{τ_t − σ_s}, one ex2 per element, no comparisons off the diagonal.
 * Same limits as v4–v6 (P ≤ 64). */

__device__ __forceinline__ void cp4(void *dst, const void *src)   /* one float, 4-byte cp.async */
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(s_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
/* wait until at most NPEND of this thread's committed groups are still in flight */
template <int NPEND> __device__ __forceinline__ void cp_wait_n()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(NPEND) : "memory");
}

/* ---------- the state walks (k7_states, k7_states_bwd) ----------
 * A block owns columns n0 … n0 + nw − 1 (nw = min(W7, N − n0)) of the P × N state of one (head,
 * batch); warp w holds rows 16w … 16w + 15 of it in an mma accumulator, so the block has
 * P/16 warps. Per 64-row tile of the sequence a stage holds U (64 × P: x or dy), V (64 × nw:
 * B or C columns) and one float per row (Δ forward, cs backward). */
#define S7 3   /* stages in flight */
#define W7 64   /* state columns per walk block. Round 2 ran 32 (twice the blocks): no faster
                  at N = 64, slower at N ≥ 128 — every block rebuilds the A fragments w ⊙ x of
                  its 16-row strips, so narrower blocks repeat that work (ncu, N = 256: the walk
                  2.1 ms, SM 60 % busy) */
__host__ __device__ static inline int m7_ldv(int N) { return (N < W7 ? N : W7) + 8; }
__host__ __device__ static inline size_t m7_stage(int P, int N)
{
    return m4_tile(P) + (size_t)TT * m7_ldv(N) * sizeof(bf16) + TT * sizeof(float);
}
__host__ __device__ static inline size_t m7_walk_smem(int P, int N, int NS = S7)
{
    return NS * m7_stage(P, N) + (TT + 32) * sizeof(float);
}

/* v9: the walk cut into segments of whole chunks (Seg, ssd_gpu.cu), blockIdx.z = batch · nseg +
 * segment. Every segment but the first starts from 0; k9_seg_pass runs (7.8) over the
 * segments (their end states and total decays) and k9_fix adds the state entering each
 * segment, decayed, to the states its walk wrote. v7, v8: one segment. */

struct Walk {   /* where this block and thread are in the state */
    int slice, h, b, seg, n0, nw, nj, m0, g, q;
};
__device__ __forceinline__ Walk walk_at(const Dims &d, int nseg)
{
    const int slice = blockIdx.x, n0 = W7 * slice, nw = min(W7, d.N - n0), l = threadIdx.x & 31;
    return Walk{slice, (int)blockIdx.y, (int)blockIdx.z / nseg, (int)blockIdx.z % nseg, n0, nw, nw / 8,
                16 * (int)(threadIdx.x >> 5), l >> 2, l & 3};
}
/* the stage buffers of stage st */
struct Stage {
    bf16 *U, *V;
    float *f;
};
__device__ __forceinline__ Stage stage_at(char *smem, const Dims &d, int st)
{
    char *p = smem + st * m7_stage(d.P, d.N);
    return Stage{(bf16 *)p, (bf16 *)(p + m4_tile(d.P)), (float *)(p + m4_tile(d.P) + (size_t)TT * m7_ldv(d.N) * sizeof(bf16))};
}
/* tile k's rows into a stage: u rows (64 × P), v columns n0 … (64 × nw), f one float per row
 * (row stride fs); rows past the end are zero */
template <typename In>
__device__ __forceinline__ void walk_in(const Dims &d, const Walk &w, Stage s, int k, const In *u, const In *v,
                                        const float *f, size_t fs)
{
    const int k0 = k * TT, valid = min(TT, d.L - k0);
    tile_in(s.U, d.P + 8, u + xo(d, w.b, k0, w.h), (size_t)d.H * d.P, TT, d.P, valid);
    tile_in(s.V, m7_ldv(d.N), v + bco(d, w.b, k0, w.h) + w.n0, (size_t)d.G * d.N, TT, w.nw, valid);
    for (int r = threadIdx.x; r < TT; r += blockDim.x) {
        if (r < valid) cp4(s.f + r, f + (size_t)r * fs);
        else s.f[r] = 0.f;
    }
}
/* this thread's part of a P × N fp32 state (rows m0 + g, + 8; columns n0 + 8j + 2q, + 1) */
__device__ __forceinline__ void state_ld(float (&a)[8][4], const float *src, const Dims &d, const Walk &w)
{
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= w.nj) break;
        const int n = w.n0 + 8 * j + 2 * w.q;
        const float2 u = *(const float2 *)(src + (size_t)(w.m0 + w.g) * d.N + n);
        const float2 v = *(const float2 *)(src + (size_t)(w.m0 + w.g + 8) * d.N + n);
        a[j][0] = u.x; a[j][1] = u.y; a[j][2] = v.x; a[j][3] = v.y;
    }
}
template <typename T>
__device__ __forceinline__ void state_st(T *dst, const float (&a)[8][4], const Dims &d, const Walk &w)
{
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= w.nj) break;
        const int n = w.n0 + 8 * j + 2 * w.q;
        st2(dst + (size_t)(w.m0 + w.g) * d.N + n, a[j][0], a[j][1]);
        st2(dst + (size_t)(w.m0 + w.g + 8) * d.N + n, a[j][2], a[j][3]);
    }
}

/* (7.1), (7.7), (7.8) in one walk over the sequence (v9: over one segment of it). Writes cs
 * (the in-chunk running sums; the blocks of columns 0 do), st16[c] = H_{c−1} in bf16 for every
 * chunk c, states[c] the same in fp32 (keep: the backward's (7.24) needs them), h_last (if
 * given). v9, segments past the first: only states[c], the part of H_{c−1} from inside the
 * segment (k9_fix completes it and writes st16), and the segment's end and Σ a (Seg); v10
 * (loc16): that part in st16, bf16, completed by the output kernel where it loads it. NS: the
 * stages in flight; SEG: segments (v9; v7 and v8 compile without their bookkeeping). */
template <typename In, int NS, int SEG>
__global__ void __launch_bounds__(128) k7_states(Dims d, Seg sg, const In *x, const In *B, const float *dt,
                                                 const float *A, const float *h0, float *cs, float *states,
                                                 int keep, int loc16, bf16 *st16, float *h_last)
{
    extern __shared__ __align__(128) char smem[];
    const int nseg = SEG ? sg.nseg : 1;
    const Walk w = walk_at(d, nseg);
    float *wts = (float *)(smem + NS * m7_stage(d.P, d.N)), *red = wts + TT;
    const int ntl = (d.L + TT - 1) / TT, lane = threadIdx.x & 31, ldu = d.P + 8, ldv = m7_ldv(d.N);
    const int k_lo = SEG ? w.seg * sg.cps * (d.Q / TT) : 0;   /* its tiles */
    const int k_hi = SEG ? min(ntl, k_lo + sg.cps * (d.Q / TT)) : ntl;
    const float Ah = A[w.h];
    const size_t bh = (size_t)w.b * d.H + w.h, bhPN = bh * d.P * d.N;
    auto issue = [&](int k) {
        if (k < k_hi) walk_in(d, w, stage_at(smem, d, (k - k_lo) % NS), k, x, B, dt + dto(d, w.b, k * TT, w.h), (size_t)d.H);
        cp_commit();
    };
    float H[8][4];
    if (h0 && w.seg == 0) state_ld(H, h0 + bhPN, d, w);
    else zero_acc(H);
#pragma unroll
    for (int k = 0; k < NS - 1; k++) issue(k_lo + k);
    float base = 0.f;   /* the running sum at the end of the previous tile of the chunk */
    float run = 0.f;    /* … of the segment */
    for (int k = k_lo; k < k_hi; k++) {
        const int k0 = k * TT, valid = min(TT, d.L - k0);
        cp_wait_n<NS - 2>();
        __syncthreads();   /* tile k is in; every warp is done with tile k − 1 */
        issue(k + NS - 1);
        const Stage s = stage_at(smem, d, (k - k_lo) % NS);
        if (k0 % d.Q == 0) {   /* chunk c starts: H is the state entering it */
            const int c = k0 / d.Q;
            base = 0.f;
            if (SEG && w.seg > 0) {
                if (loc16) state_st(st16 + sto(d, w.b, c, w.h), H, d, w);   /* v10: k7_out completes it */
                else state_st(states + sto(d, w.b, c, w.h), H, d, w);
                if (w.slice == 0 && threadIdx.x == 0) sg.gam[bh * d.nc + c] = run;
            } else {
                state_st(st16 + sto(d, w.b, c, w.h), H, d, w);
                if (keep) state_st(states + sto(d, w.b, c, w.h), H, d, w);
            }
        }
        if (threadIdx.x < 32) {   /* warp 0: the running sums of the tile, two rows per lane */
            const int r = 2 * lane;
            const float a0 = s.f[r] * Ah, a1 = s.f[r + 1] * Ah;
            float v = a0 + a1;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const float u = __shfl_up_sync(0xffffffffu, v, o);
                if (lane >= o) v += u;
            }
            const float tot = __shfl_sync(0xffffffffu, v, 31), c1 = base + v, c0 = c1 - a1, end = base + tot;
            wts[r] = __expf(end - c0) * s.f[r];   /* e^{cs_end − cs_s} Δ_s (0 past the end: Δ = 0) */
            wts[r + 1] = __expf(end - c1) * s.f[r + 1];
            if (w.slice == 0) {
                float *o = cs + cso(d, w.b, w.h, k0);
                if (r < valid) o[r] = c0;
                if (r + 1 < valid) o[r + 1] = c1;
            }
            if (lane == 0) red[0] = tot;
        }
        __syncthreads();
        const float tot = red[0], decay = __expf(tot);
        base += tot;
        if (SEG) run += tot;
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) H[j][e] *= decay;
        warp_mm_kn<true>(H, s.U, ldu, w.m0, TT, s.V, ldv, 0, w.nj, 1.f, 1.f, wts);   /* A(p, s) = x_s[p] w_s */
    }
    if (SEG && nseg > 1) {
        state_st(sg.end + (bh * sg.nseg + w.seg) * d.P * d.N, H, d, w);
        if (w.slice == 0 && threadIdx.x == 0) sg.dec[bh * sg.nseg + w.seg] = run;
    } else if (h_last) {
        state_st(h_last + bhPN, H, d, w);
    }
}

/* v9: (7.8) over the segments, one thread per (b, h, state element): end[j] ← the state entering
 * segment j (in place), h_last ← the state after the last. Segment 0's walk started from h0.
 * REV (the backward's (7.22)): from the last segment down, the adjoint entering each from the
 * right; h_last ← dh0. */
template <int REV>
__global__ void k9_seg_pass(Dims d, Seg sg, float *h_last)
{
    const size_t PN = (size_t)d.P * d.N, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, bh = blockIdx.y;
    if (i >= PN) return;
    float H = 0.f;
    for (int jj = 0; jj < sg.nseg; jj++) {
        const int j = REV ? sg.nseg - 1 - jj : jj;
        float *e = sg.end + (bh * sg.nseg + j) * PN + i;
        const float v = *e;
        *e = H;
        H = __expf(sg.dec[bh * sg.nseg + j]) * H + v;
    }
    if (h_last) h_last[bh * PN + i] = H;
}

/* v9: H_{c−1} ← H_{c−1} + e^{γ_c} H_in(segment of c) for the chunks past the first segment (one
 * block per (c, h, b)), rounded to bf16 once into st16; states keeps the fp32 sum if keep */
__global__ void k9_fix(Dims d, Seg sg, float *states, int keep, bf16 *st16)
{
    const int c = blockIdx.x, h = blockIdx.y, b = blockIdx.z, j = c / sg.cps;
    if (j == 0) return;
    const size_t bh = (size_t)b * d.H + h, PN4 = (size_t)d.P * d.N / 4;
    const float gm = __expf(sg.gam[bh * d.nc + c]);
    const float4 *hin = (const float4 *)(sg.end + (bh * sg.nseg + j) * 4 * PN4);
    float4 *st = (float4 *)(states + sto(d, b, c, h));
    bf16 *o = st16 + sto(d, b, c, h);
    for (size_t i = threadIdx.x; i < PN4; i += blockDim.x) {
        float4 v = st[i];
        const float4 u = hin[i];
        v.x += gm * u.x; v.y += gm * u.y; v.z += gm * u.z; v.w += gm * u.w;
        if (keep) st[i] = v;
        st2(o + 4 * i, v.x, v.y);
        st2(o + 4 * i + 2, v.z, v.w);
    }
}

/* v9, backward: G_c ← G_c + e^{γ_c} G_in(segment of c) for the chunks before the last segment,
 * into zg16 (bf16, once), and dcs_end[c] += e^{cs_end(c)} e^{γ_c} ⟨G_in, H_{c−1}⟩, the part of
 * (7.24)'s term the walk could not see */
__global__ void k9_fix_bwd(Dims d, Seg sg, const float *cs, const float *states, const float *zg, bf16 *zg16,
                           float *dcs_end)
{
    __shared__ float red[32];
    const int c = blockIdx.x, h = blockIdx.y, b = blockIdx.z, j = c / sg.cps;
    if (j == sg.nseg - 1) return;
    const size_t bh = (size_t)b * d.H + h, PN4 = (size_t)d.P * d.N / 4;
    const float gm = __expf(sg.gam[bh * d.nc + c]);
    const float4 *gin = (const float4 *)(sg.end + (bh * sg.nseg + j) * 4 * PN4);
    const float4 *z = (const float4 *)(zg + sto(d, b, c, h)), *hv = (const float4 *)(states + sto(d, b, c, h));
    bf16 *o = zg16 + sto(d, b, c, h);
    float dot = 0.f;
    for (size_t i = threadIdx.x; i < PN4; i += blockDim.x) {
        const float4 u = gin[i], v = z[i], H = hv[i];
        st2(o + 4 * i, v.x + gm * u.x, v.y + gm * u.y);
        st2(o + 4 * i + 2, v.z + gm * u.z, v.w + gm * u.w);
        dot += u.x * H.x + u.y * H.y + u.z * H.z + u.w * H.w;
    }
    dot = warp_sum(dot);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = dot;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.f;
        for (int k = 0; k < (int)(blockDim.x >> 5); k++) t += red[k];
        dcs_end[bh * d.nc + c] += __expf(cs[cso(d, b, h, chunk_end(d, c))]) * gm * t;
    }
}

/* (7.22) walked backwards: zg16[c] ← G_c in bf16 (the adjoint of the state at the END of chunk c;
 * the tile kernel reads nothing else of it),
 * dcs_end[b, h, c] += e^{cs_end} ⟨G_c, H_{c−1}⟩ (states: the fp32 entering states), dh0 ← G_{−1}.
 * v9, segments but the last (walked from 0): zg[c] ← the part of G_c from inside the segment,
 * fp32, and its share of dcs_end; k9_fix_bwd adds the rest. */
template <typename In, int NS, int SEG>
__global__ void __launch_bounds__(128) k7_states_bwd(Dims d, Seg sg, const In *dy, const In *C, const float *cs,
                                                     const float *states, const float *dh_last, bf16 *zg16,
                                                     float *zg, float *dh0, float *dcs_end)
{
    extern __shared__ __align__(128) char smem[];
    const int nseg = SEG ? sg.nseg : 1;
    const Walk w = walk_at(d, nseg);
    float *wts = (float *)(smem + NS * m7_stage(d.P, d.N));
    const int ntl = (d.L + TT - 1) / TT, ldu = d.P + 8, ldv = m7_ldv(d.N);
    const int k_lo = SEG ? w.seg * sg.cps * (d.Q / TT) : 0, k_hi = SEG ? min(ntl, k_lo + sg.cps * (d.Q / TT)) : ntl,
              n = k_hi - k_lo;
    const bool tail = !SEG || w.seg == nseg - 1;   /* the last segment: G_c complete */
    const size_t bh = (size_t)w.b * d.H + w.h, bhPN = bh * d.P * d.N;
    /* the i-th tile walked is tile k_hi − 1 − i */
    auto issue = [&](int i) {
        if (i < n) {
            const int k = k_hi - 1 - i;
            walk_in(d, w, stage_at(smem, d, i % NS), k, dy, C, cs + cso(d, w.b, w.h, k * TT), (size_t)1);
        }
        cp_commit();
    };
    float G[8][4];
    if (dh_last && tail) state_ld(G, dh_last + bhPN, d, w);
    else zero_acc(G);
#pragma unroll
    for (int i = 0; i < NS - 1; i++) issue(i);
    float run = 0.f;   /* Σ cs_end of the chunks walked: G_c's factor on the adjoint entering the segment */
    for (int i = 0; i < n; i++) {
        const int k = k_hi - 1 - i, k0 = k * TT, valid = min(TT, d.L - k0), c = k0 / d.Q;
        const bool last = k == ntl - 1 || (k0 + TT) % d.Q == 0;   /* the last tile of chunk c */
        float Hv[8][4];
        if (last) state_ld(Hv, states + sto(d, w.b, c, w.h), d, w);   /* H_{c−1}, in flight during the wait */
        cp_wait_n<NS - 2>();
        __syncthreads();
        issue(i + NS - 1);
        const Stage s = stage_at(smem, d, i % NS);
        for (int r = threadIdx.x; r < TT; r += blockDim.x) wts[r] = r < valid ? __expf(s.f[r]) : 0.f;   /* e^{cs_t} */
        if (last) {
            if (tail) {
                state_st(zg16 + sto(d, w.b, c, w.h), G, d, w);
            } else {
                state_st(zg + sto(d, w.b, c, w.h), G, d, w);
                if (w.slice == 0 && threadIdx.x == 0) sg.gam[bh * d.nc + c] = run;
            }
            if (SEG) run += s.f[valid - 1];
            const float ed = __expf(s.f[valid - 1]);   /* e^{cs_end(c)} */
            float dot = 0.f;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                if (j >= w.nj) break;
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    dot += G[j][e] * Hv[j][e];
                    G[j][e] *= ed;
                }
            }
            dot = warp_sum(dot);
            if ((threadIdx.x & 31) == 0) atomicAdd(dcs_end + bh * d.nc + c, ed * dot);
        }
        __syncthreads();   /* the weights */
        warp_mm_kn<true>(G, s.U, ldu, w.m0, TT, s.V, ldv, 0, w.nj, 1.f, 1.f, wts);   /* A(p, t) = dy_t[p] e^{cs_t} */
    }
    if (SEG && nseg > 1) {
        state_st(sg.end + (bh * sg.nseg + w.seg) * d.P * d.N, G, d, w);
        if (w.slice == 0 && threadIdx.x == 0) sg.dec[bh * sg.nseg + w.seg] = run;
    } else if (dh0) {
        state_st(dh0 + bhPN, G, d, w);
    }
}

/* ---------- v8: C_t B_sᵀ once per group (k8_cb) ----------
 * The heads of a group share B and C, so the raw products C_t B_sᵀ of the tile pairs s ≤ t of a
 * chunk are the same for all of them: k8_cb computes each once, in fp32, and stores it in the
 * order the output kernel's threads hold it (warp w, n8 block j, lane: one float4 per thread per
 * block j, so a warp's loads are 512 contiguous bytes). Pair (tt, ss) of a chunk has index
 * tt(tt + 1)/2 + ss. */
/* ROWS_S = 1 (the backward's Sᵀ = B_s C_tᵀ, rows s): the same products transposed */
template <typename In, int ROWS_S>
__global__ void __launch_bounds__(M4_THREADS) k8_cb(Dims d, const In *B, const In *C, float4 *cb)
{
    extern __shared__ __align__(128) char smem[];
    const int N = d.N, ldn = N + 8, c = blockIdx.y, b = blockIdx.z / d.G, g = blockIdx.z % d.G;
    int tt = 0;
    while ((tt + 1) * (tt + 2) / 2 <= (int)blockIdx.x) tt++;
    const int ss = blockIdx.x - tt * (tt + 1) / 2, t0 = c * d.Q + tt * TT, s0 = c * d.Q + ss * TT;
    if (t0 >= d.L) return;
    bf16 *Ct = (bf16 *)smem, *Bs = (bf16 *)(smem + m4_tile(N));
    const int h = g * (d.H / d.G);   /* any head of the group: bco reads its group's columns */
    tile_in(Ct, ldn, C + bco(d, b, t0, h), (size_t)d.G * N, TT, N, min(TT, d.L - t0));
    tile_in(Bs, ldn, B + bco(d, b, s0, h), (size_t)d.G * N, TT, N, min(TT, d.L - s0));
    cp_wait();
    __syncthreads();
    const int warp = threadIdx.x >> 5, jmax = tt == ss && !ROWS_S ? 2 * warp + 2 : 8;
    float S[8][4];
    zero_acc(S);
    if (ROWS_S) warp_mm<true>(S, Bs, ldn, 16 * warp, N, Ct, ldn, 0, 8);
    else warp_mm<true>(S, Ct, ldn, 16 * warp, N, Bs, ldn, 0, jmax);
    float4 *dst = cb + cb_at(d, b, h, c, tt, ss, warp);
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= jmax) break;
        dst[32 * j] = make_float4(S[j][0], S[j][1], S[j][2], S[j][3]);
    }
}

/* ---------- (7.6) + (7.9), v7: k6_out with the 2^{c_t + ℓ_s} mask and two source buffers ----------
 * NB = 2: the buffers are Ct | B0 | X0 | B1 | X1 and H_{c−1} waits in B1 until C Hᵀ is done;
 * NB = 1 (large N, where a second buffer would halve the blocks per SM): Ct | B0 | X0 | H. */
__host__ __device__ static inline size_t m7_out_smem(int P, int N, int NB, int GCB = 0)
{
    return GCB ? 2 * m4_tile(N > 128 ? TT : N) + 2 * m4_tile(P) + 3 * TT * sizeof(float)
               : 3 * m4_tile(N) + NB * m4_tile(P) + 3 * TT * sizeof(float);
}
/* SEGF (v10): st16 holds, for chunks past the first segment, only the part of H_{c−1} from inside
 * the segment (k7_states with loc16); each loaded slice of H gets e^{γ_c} H_in(segment) added
 * in shared memory before C Hᵀ — v9's k9_fix pass over all the states, folded into the load */
template <typename In, int NB, int GCB, int SEGF = 0>
__global__ void __launch_bounds__(M4_THREADS, 4) k7_out(Dims d, const In *x, const In *B, const In *C,
                                                        const float *dt, const float *D, const float *cs,
                                                        const bf16 *st16, const float4 *cb, int has_state, In *y,
                                                        Seg sg)
{
    extern __shared__ __align__(128) char smem[];
    const int P = d.P, N = d.N, ldn = N + 8, ldp = P + 8;
    /* buffer st's B and X tiles (no arrays: an indexed array would live in local memory);
     * GCB (v8): no B tiles, the layout Ct | H | X0 | X1; at N > 128 C_t and H_{c−1} pass through
     * 64-column slices (C Hᵀ is all they are needed for), so it does not grow with N */
    const bool sl = GCB && N > 128;   /* the slices pay only where they raise the blocks per SM */
    const size_t bx = GCB ? m4_tile(P) : m4_tile(N) + m4_tile(P), cn = sl ? m4_tile(TT) : m4_tile(N);
    auto Bb = [&](int st) { return (bf16 *)(smem + m4_tile(N) + st * bx); };
    auto Xb = [&](int st) { return (bf16 *)(smem + 2 * cn + st * bx); };
    bf16 *Ct = (bf16 *)smem, *Hs = (bf16 *)(smem + (GCB ? cn : 2 * m4_tile(N) + m4_tile(P)));
    float *csb = (float *)(smem + (GCB ? 2 * cn + 2 * m4_tile(P) : 3 * m4_tile(N) + NB * m4_tile(P))),
          *dtb = csb + TT, *ell = dtb + TT;
    const TileAt at = tile_at(d);
    if (at.row0 >= d.L) return;
    const int h = at.h, tt = at.tile, c = at.c, b = at.b, t0 = at.row0, tvalid = at.valid, nP = P / 8;
    const bool state = has_state || c > 0;
    const LaneAt la = lane_at();   /* rows r0, r1 of warp w's 16 (m0 …) */
    const int warp = la.warp, q = la.q, r0 = la.r0, r1 = la.r1;
    /* source tile ss into buffer st: B and x rows, and the raw cs, Δ for its ℓ */
    auto issue = [&](int ss, int st) {
        const int s0 = c * d.Q + ss * TT, svalid = min(TT, d.L - s0);
        if (!GCB) tile_in(Bb(st), ldn, B + bco(d, b, s0, h), (size_t)d.G * N, TT, N, svalid);
        tile_in(Xb(st), ldp, x + xo(d, b, s0, h), (size_t)d.H * P, TT, P, svalid);
        for (int r = threadIdx.x; r < TT; r += blockDim.x) {
            if (r < svalid) {
                cp4(csb + r, cs + cso(d, b, h, s0 + r));
                cp4(dtb + r, dt + dto(d, b, s0 + r, h));
            } else {
                csb[r] = 0.f;
                dtb[r] = 0.f;   /* → ℓ = −∞: the column is off */
            }
        }
        cp_commit();
    };
    auto make_ell = [&]() {   /* ℓ_s = log₂Δ_s − cs_s log₂e */
        for (int r = threadIdx.x; r < TT; r += blockDim.x) ell[r] = __log2f(dtb[r]) - csb[r] * LOG2E;
    };
    /* GCB at N > 128: C Hᵀ over 64-column slices k0 … of N (the first one's copies with source
     * tile 0's); else all of C_t and H_{c−1} at once */
    const int ldc = sl ? TT + 8 : ldn, kw0 = sl ? TT : N;
    const int seg = SEGF ? c / sg.cps : 0;   /* the same for the whole block */
    auto fix_h = [&](int k0, int kw) {       /* SEGF: Hs (P × kw, columns k0 …) += e^{γ_c} H_in */
        if (!SEGF || seg == 0) return;
        const size_t bh = (size_t)b * d.H + h;
        const float gm = __expf(sg.gam[bh * d.nc + c]);
        const float *hin = sg.end + (bh * sg.nseg + seg) * P * N + k0;
        for (int i = threadIdx.x; i < P * kw; i += blockDim.x) {
            const int pr = i / kw, n = i % kw;
            bf16 *e = Hs + pr * ldc + n;
            *e = __float2bfloat16(__bfloat162float(*e) + gm * hin[(size_t)pr * N + n]);
        }
        __syncthreads();
    };
    if (state || !GCB) tile_in(Ct, ldc, C + bco(d, b, t0, h), (size_t)d.G * N, TT, kw0, tvalid);   /* v7: C B_sᵀ too */
    if (state) tile_in(Hs, ldc, st16 + sto(d, b, c, h), (size_t)N, P, kw0, P);
    issue(0, 0);
    /* this thread's rows: c_t = cs_t log₂e (−∞ past the end: those rows are never stored) */
    const float ct0 = r0 < tvalid ? cs[cso(d, b, h, t0 + r0)] * LOG2E : -INFINITY;
    const float ct1 = r1 < tvalid ? cs[cso(d, b, h, t0 + r1)] * LOG2E : -INFINITY;
    cp_wait_n<0>();
    __syncthreads();
    make_ell();
    float Y[8][4];
    zero_acc(Y);
    if (state) {
        fix_h(0, kw0);
        warp_mm<true>(Y, Ct, ldc, la.m0, kw0, Hs, ldc, 0, nP);   /* C_w H_{c−1}ᵀ (GCB: its first slice) */
        for (int k0 = kw0; k0 < N; k0 += TT) {   /* GCB, N > 128: the other slices */
            const int kw = min(TT, N - k0);
            __syncthreads();   /* the previous slice is consumed */
            tile_in(Ct, ldc, C + bco(d, b, t0, h) + k0, (size_t)d.G * N, TT, kw, tvalid);
            tile_in(Hs, ldc, st16 + sto(d, b, c, h) + k0, (size_t)N, P, kw, P);
            cp_wait();
            __syncthreads();
            fix_h(k0, kw);
            warp_mm<true>(Y, Ct, ldc, la.m0, kw, Hs, ldc, 0, nP);
        }
        const float e0 = ex2(ct0), e1 = ex2(ct1);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            Y[j][0] *= e0; Y[j][1] *= e0; Y[j][2] *= e1; Y[j][3] *= e1;
        }
    }
    __syncthreads();   /* ℓ complete; H consumed (v7: its buffer is B1) */
    for (int ss = 0; ss <= tt; ss++) {
        const int cur = NB == 2 ? (ss & 1) : 0;
        if (NB == 2 && ss < tt) issue(ss + 1, cur ^ 1);   /* in flight during this tile's products */
        const bool diag = ss == tt;
        const int jmax = diag ? 2 * warp + 2 : 8;
        float S[8][4];
        zero_acc(S);
        if (GCB) {   /* v8: C_w B_sᵀ as k8_cb stored it, once per group */
            const float4 *src = cb + cb_at(d, b, h, c, tt, ss, warp);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                if (j >= jmax) break;
                const float4 v = src[32 * j];
                S[j][0] = v.x; S[j][1] = v.y; S[j][2] = v.z; S[j][3] = v.w;
            }
        } else {
            warp_mm<true>(S, Ct, ldn, la.m0, N, Bb(cur), ldn, 0, jmax);   /* C_w B_sᵀ */
        }
#pragma unroll
        for (int j = 0; j < 8; j++) {
            if (j >= jmax) break;
            const float2 l2 = *(const float2 *)(ell + 8 * j + 2 * q);
            const int s = 8 * j + 2 * q;
            S[j][0] *= ex2(ct0 + l2.x);
            S[j][1] *= ex2(ct0 + l2.y);
            S[j][2] *= ex2(ct1 + l2.x);
            S[j][3] *= ex2(ct1 + l2.y);
            if (diag && j >= 2 * warp) {   /* the causal cut: s ≤ t */
                if (s > r0) S[j][0] = 0.f;
                if (s + 1 > r0) S[j][1] = 0.f;
                if (s > r1) S[j][2] = 0.f;
                if (s + 1 > r1) S[j][3] = 0.f;
            }
        }
        uint32_t pa[4][4];
        to_afrag(pa, S);
        warp_mm_reg(Y, pa, jmax * 8, Xb(cur), ldp, 0, nP);   /* += (E ∘ C Bᵀ Δ) X_s */
        if (ss < tt) {
            if (NB == 1) {
                __syncthreads();   /* the buffer is consumed */
                issue(ss + 1, 0);
            }
            cp_wait_n<0>();
            __syncthreads();   /* tile ss + 1 is in; every warp is done with ℓ */
            make_ell();
            __syncthreads();
        }
    }
    store_y<1>(d, b, h, t0, tvalid, r0, r1, nP, D ? D[h] : 0.f, x, Y, y);
}

/* ---------- host side of v7 ---------- */
static inline int m7_nb(int N) { return N <= 128 ? 2 : 1; }

/* stages in flight of the forward walk: v9 two (its smem then admits 6 blocks per SM, not 4) */
constexpr int walk_ns(int v9) { return v9 ? 2 : S7; }

/* v9: how many segments the walk is cut into (and *cps, chunks per segment). base = ⌈N/W7⌉·H·batch
 * blocks walk the whole sequence; at most conc blocks run at once; nseg segments take
 * ⌈base·nseg/conc⌉ rounds of ⌈tiles/nseg⌉ + 2 tile steps (2: the pipeline's start). The
 * cheapest nseg, segments at least 4 tiles long, one segment unless that costs 15 % more.
 * SSD_V9_SEGMENTS=n forces n (the benchmark's sweep of the choice). */
static int v9_segments(const ssd_gpu_params *p, int *cps)
{
    const Dims d = dims_of(p);
    const int tpc = d.Q / TT, ntl = (d.L + TT - 1) / TT;
    const size_t sm = m7_walk_smem(d.P, d.N, walk_ns(1));
    int dev = 0, sms = 0, per = 0;
    *cps = d.nc;
    const char *force = getenv("SSD_V9_SEGMENTS");
    if (force && atoi(force) > 0) {
        *cps = (d.nc + atoi(force) - 1) / atoi(force);
        return (d.nc + *cps - 1) / *cps;
    }
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        (p->dtype == SCAN_BF16 ? cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, k7_states<bf16, walk_ns(1), 1>, 2 * d.P, sm)
                               : cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, k7_states<float, walk_ns(1), 1>, 2 * d.P, sm)) != cudaSuccess) {
        (void)cudaGetLastError();
        return 1;
    }
    const long base = (long)((d.N + W7 - 1) / W7) * d.H * d.batch, conc = (long)(per > 0 ? per : 1) * (sms > 0 ? sms : 1);
    const long one = ((base + conc - 1) / conc) * (ntl + 2);
    long best = one;
    int nseg = 1;
    for (int n = 2; n <= d.nc && n <= 64; n++) {
        const int c = (d.nc + n - 1) / n;
        if ((d.nc + c - 1) / c != n) continue;   /* the same plan as a smaller n */
        if (c * tpc < 4) break;
        const long cost = ((base * n + conc - 1) / conc) * (c * tpc + 2);
        if (cost < best) best = cost, nseg = n, *cps = c;
    }
    if (one * 100 <= best * 115) nseg = 1, *cps = d.nc;
    return nseg;
}

/* the state walk forward: cs, st16 (and states when keep), h_last; V9: in w.seg's segments,
 * then (7.8) over the segments and the states completed (fold, v10's forward: left to k7_out) */
template <typename In, int V9>
static int walk_states(const ssd_gpu_params *p, const Dims &d, const Work &w, int keep, float *h_last, int fold = 0)
{
    constexpr int NS = walk_ns(V9);
    const Seg sg = V9 ? w.seg : Seg{d.nc, 1, nullptr, nullptr, nullptr};
    k7_states<In, NS, V9><<<dim3((d.N + W7 - 1) / W7, d.H, d.batch * sg.nseg), 2 * d.P, m7_walk_smem(d.P, d.N, NS)>>>(
        d, sg, (const In *)p->x, (const In *)p->B, p->dt, p->A, p->h0, w.cs, w.states, keep, fold, w.st16, h_last);
    SSD_LAUNCHED();
    if (sg.nseg > 1) {
        const size_t PN = (size_t)d.P * d.N;
        k9_seg_pass<0><<<dim3((unsigned)((PN + 255) / 256), d.batch * d.H), 256>>>(d, sg, h_last);
        SSD_LAUNCHED();
        if (!fold) {   /* v10 (fold): the output kernel adds the entering states where it loads H */
            k9_fix<<<dim3(d.nc, d.H, d.batch), 256>>>(d, sg, w.states, keep, w.st16);
            SSD_LAUNCHED();
        }
    }
    return SSD_GPU_OK;
}

/* v7, v8 (V8: C_t B_sᵀ once per group, k8_cb, read by k7_out<·, 2, 1>), v9 (v8, the walk in
 * segments) and v10 (v9, the states completed by the output kernel) */
template <typename In, int V8, int V9 = 0, int V10 = 0>
static int forward_v7(const ssd_gpu_params *p, void *y, float *h_last, void *ws)
{
    const Dims d = dims_of(p);
    Work w;
    work_layout(p, 0, (char *)ws, &w);
    const int nb = V8 ? 2 : m7_nb(d.N);
    const size_t sout = m7_out_smem(d.P, d.N, nb, V8), scb = 2 * m4_tile(d.N);
    auto out = V10 ? k7_out<In, 2, 1, 1> : V8 ? k7_out<In, 2, 1> : nb == 2 ? k7_out<In, 2, 0> : k7_out<In, 1, 0>;
    SSD_TRY(smem_ok(k7_states<In, walk_ns(V9), V9>, m7_walk_smem(d.P, d.N, walk_ns(V9))));
    SSD_TRY(smem_ok(k8_cb<In, 0>, scb));
    SSD_TRY(smem_ok(out, sout));
    SSD_TRY(walk_states<In, V9>(p, d, w, 0, h_last, V10));
    if (V8) {
        k8_cb<In, 0><<<dim3(m8_npairs(d.Q), d.nc, d.batch * d.G), M4_THREADS, scb>>>(d, (const In *)p->B,
                                                                                      (const In *)p->C, (float4 *)w.cb);
        SSD_LAUNCHED();
    }
    out<<<dim3(d.H * (d.Q / TT), d.nc, d.batch), M4_THREADS, sout>>>(
        d, (const In *)p->x, (const In *)p->B, (const In *)p->C, p->dt, p->D, w.cs, w.st16, (const float4 *)w.cb,
        p->h0 != nullptr, (In *)y, V9 ? w.seg : Seg{d.nc, 1, nullptr, nullptr, nullptr});
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}

/* v7's backward: the two walks, then the fused tile kernel (its v7 mask) and v6's final sum */
template <typename In>
static int backward_v7(const ssd_gpu_params *p, const void *dy, const float *dh_last, void *ws, ssd_gpu_grads *g)
{
    const Dims d = dims_of(p);
    Work w;
    work_layout(p, 1, (char *)ws, &w);
    const size_t swk = m7_walk_smem(d.P, d.N), sbw = m5_bwd_smem(d.P, d.N);
    SSD_TRY(smem_ok(k7_states<In, S7, 0>, swk));
    SSD_TRY(smem_ok(k7_states_bwd<In, S7, 0>, swk));
    SSD_TRY(smem_ok(k_bwd_src<In, 1, 2>, sbw));
    const size_t nbch = (size_t)d.batch * d.nc * d.H;
    SSD_TRY(walk_states<In, 0>(p, d, w, 1, nullptr));
    SSD_TRY(zero_sums(d, w, 1, g));   /* the fused kernel adds to dcs_row */
    k7_states_bwd<In, S7, 0><<<dim3((d.N + W7 - 1) / W7, d.H, d.batch), 2 * d.P, swk>>>(
        d, Seg{d.nc, 1, nullptr, nullptr, nullptr}, (const In *)dy, (const In *)p->C, w.cs, w.states, dh_last, w.zg16,
        nullptr, p->h0 ? g->dh0 : nullptr, w.dcs_end);
    SSD_LAUNCHED();
    const dim3 grid(d.H * (d.Q / TT), d.nc, d.batch);
    k_bwd_src<In, 1, 2><<<grid, M4_THREADS, sbw>>>(d, (const In *)p->x, (const In *)p->B, (const In *)p->C,
                                                   (const In *)dy, p->dt, p->D, w.cs, w.states, w.st16,
                                                   p->h0 != nullptr, nullptr, w.zg16, nullptr, g->dx, g->dB, g->dC,
                                                   p->D ? g->dD : nullptr, w.ddt_dir, w.dcs_col, w.dcs_row,
                                                   w.dcs_end);
    SSD_LAUNCHED();
    k4_bwd_fin<<<(unsigned)((nbch + 255) / 256), 256>>>(d, p->dt, p->A, w.dcs_row, w.dcs_col, w.dcs_end, w.ddt_dir,
                                                        g->ddt, g->dA);
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}

/* ---------- v8's backward: the gradient of C_t B_sᵀ once per group ----------
 * (7.23)'s intra-chunk parts of dB and dC go through the products C_t·B_s, shared by the heads
 * of a group: with Db^h_st = E^h_ts Δ^h_s (dy^h_t · x^h_s) (the scalar's gradient for head h),
 *   dB_s ⊃ Σ_t (Σ_h Db^h_st) C_t,   dC_t ⊃ Σ_s (Σ_h Db^h_st) B_s,
 * so the sum over heads comes first (k8_dcb: dCB = Σ_h Db^h, fp32, per tile pair, in the
 * fragment order of rows s) and the two N-wide products run once per group (k8_dbdc), not once
 * per head and pair as in v5–v7 (whose fused kernel also added dC with 8-byte atomics from
 * every head). The fused tile kernel keeps dx, the row and column sums and the entering
 * state's terms (OPT = 3). */
__host__ __device__ static inline size_t m8_dcb_stage(int P) { return 2 * m4_tile(P) + 3 * TT * sizeof(float); }
template <typename In>
__global__ void __launch_bounds__(M4_THREADS) k8_dcb(Dims d, const In *x, const In *dy, const float *dt,
                                                     const float *cs, float4 *dcb)
{
    extern __shared__ __align__(128) char smem[];
    const int P = d.P, ldp = P + 8, c = blockIdx.y, b = blockIdx.z / d.G, g = blockIdx.z % d.G, HG = d.H / d.G;
    int tt = 0;
    while ((tt + 1) * (tt + 2) / 2 <= (int)blockIdx.x) tt++;
    const int ss = blockIdx.x - tt * (tt + 1) / 2, t0 = c * d.Q + tt * TT, s0 = c * d.Q + ss * TT;
    if (t0 >= d.L) return;
    const int tvalid = min(TT, d.L - t0), svalid = min(TT, d.L - s0);
    const LaneAt la = lane_at();
    const int warp = la.warp, q = la.q, r0 = la.r0, r1 = la.r1;
    const bool diag = tt == ss;
    struct St { bf16 *X, *dY; float *cs_s, *dt_s, *cs_t; };
    auto stage = [&](int st) {
        char *p = smem + st * m8_dcb_stage(P);
        float *f = (float *)(p + 2 * m4_tile(P));
        return St{(bf16 *)p, (bf16 *)(p + m4_tile(P)), f, f + TT, f + 2 * TT};
    };
    auto issue = [&](int k) {   /* head g·HG + k into stage k % 2 */
        if (k < HG) {
            const int h = g * HG + k;
            const St s = stage(k & 1);
            tile_in(s.X, ldp, x + xo(d, b, s0, h), (size_t)d.H * P, TT, P, svalid);
            tile_in(s.dY, ldp, dy + xo(d, b, t0, h), (size_t)d.H * P, TT, P, tvalid);
            for (int r = threadIdx.x; r < TT; r += blockDim.x) {
                if (r < svalid) {
                    cp4(s.cs_s + r, cs + cso(d, b, h, s0 + r));
                    cp4(s.dt_s + r, dt + dto(d, b, s0 + r, h));
                } else {
                    s.cs_s[r] = 0.f;   /* those rows of x are 0 */
                    s.dt_s[r] = 0.f;
                }
                if (r < tvalid) cp4(s.cs_t + r, cs + cso(d, b, h, t0 + r));
                else s.cs_t[r] = -INFINITY;   /* → E = 2^−∞ = 0 past the end */
            }
        }
        cp_commit();
    };
    float acc[8][4];
    zero_acc(acc);
    issue(0);
    for (int k = 0; k < HG; k++) {
        issue(k + 1);   /* head k + 1's copies in flight during head k's products */
        cp_wait_n<1>();
        __syncthreads();
        const St s = stage(k & 1);
        float Gt[8][4];
        zero_acc(Gt);
        warp_mm<true>(Gt, s.X, ldp, la.m0, P, s.dY, ldp, 0, 8);   /* X_w dY_tᵀ: rows s, columns t */
        const float sg0 = s.cs_s[r0] * LOG2E, sg1 = s.cs_s[r1] * LOG2E, dt0 = s.dt_s[r0], dt1 = s.dt_s[r1];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const float2 ct = *(const float2 *)(s.cs_t + 8 * j + 2 * q);
            const bool none = diag && j < 2 * warp, cut = diag && (j >> 1) == warp;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int sr = e < 2 ? r0 : r1, t = 8 * j + 2 * q + (e & 1);
                float E = ex2((e & 1 ? ct.y : ct.x) * LOG2E - (e < 2 ? sg0 : sg1));
                if (none || (cut && t < sr)) E = 0.f;
                acc[j][e] += E * Gt[j][e] * (e < 2 ? dt0 : dt1);
            }
        }
        __syncthreads();   /* stage k & 1 is consumed before head k + 2's copies */
    }
    float4 *dst = dcb + cb_at(d, b, g * HG, c, tt, ss, warp);
#pragma unroll
    for (int j = 0; j < 8; j++) dst[32 * j] = make_float4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]);
}

/* ROLE 0: dB_s += Σ_{t ≥ s} dCB_st C_t (a block per source tile; dCB's fragments are already the
 * A operand, rows s); ROLE 1: dC_t += Σ_{s ≤ t} dCB_stᵀ B_s (a block per target tile; dCB staged
 * in bf16 and read transposed by ldmatrix, as v5's target side). Once per group; the sums go out
 * with 16-byte atomics (the fused kernel adds the entering state's terms to the same rows). */
__host__ __device__ static inline size_t m8_dbdc_smem(int N)
{
    return m4_tile(N) + m4_tile(TT) + (size_t)TT * (N + 8) * sizeof(float);
}
template <typename In, int ROLE>
__global__ void __launch_bounds__(M4_THREADS) k8_dbdc(Dims d, const In *B, const In *C, const float4 *dcb, float *dBC)
{
    extern __shared__ __align__(128) char smem[];
    const int N = d.N, ldn = N + 8, ldd = TT + 8, ldf = N + 8, c = blockIdx.y, b = blockIdx.z / d.G,
              g = blockIdx.z % d.G, h = g * (d.H / d.G), nt = d.Q / TT, me = blockIdx.x;
    const int r0 = c * d.Q + me * TT;   /* this block's rows: s (ROLE 0) or t (ROLE 1) */
    if (r0 >= d.L) return;
    const int valid = min(TT, d.L - r0);
    bf16 *V = (bf16 *)smem, *Dbs = (bf16 *)(smem + m4_tile(N));
    float *acc = (float *)(smem + m4_tile(N) + m4_tile(TT));
    const LaneAt la = lane_at();
    const int warp = la.warp, q = la.q, m0 = la.m0;
    for (int i = threadIdx.x; i < TT * ldf; i += blockDim.x) acc[i] = 0.f;
    /* the other tiles: t ≥ s in the chunk (ROLE 0), s ≤ t (ROLE 1) */
    const int o_lo = ROLE ? 0 : me, o_hi = ROLE ? me : nt - 1;
    for (int o = o_lo; o <= o_hi; o++) {
        const int o0 = c * d.Q + o * TT;
        if (o0 >= d.L) break;
        const int tt = ROLE ? me : o, ss = ROLE ? o : me;
        __syncthreads();   /* V and Dbs are consumed */
        tile_in(V, ldn, (ROLE ? B : C) + bco(d, b, o0, h), (size_t)d.G * N, TT, N, min(TT, d.L - o0));
        float S[8][4];
        const float4 *src = dcb + cb_at(d, b, h, c, tt, ss, warp);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const float4 v = src[32 * j];
            S[j][0] = v.x; S[j][1] = v.y; S[j][2] = v.z; S[j][3] = v.w;
        }
        uint32_t pa[4][4];
        to_afrag(pa, S);   /* dCB rows s (this warp's 16), columns t, as bf16 A fragments */
        if (ROLE) {        /* staged [s][t] for the transposed read */
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                const int t = kk * 16 + 2 * q;
                *(uint32_t *)(Dbs + la.r0 * ldd + t) = pa[kk][0];
                *(uint32_t *)(Dbs + la.r1 * ldd + t) = pa[kk][1];
                *(uint32_t *)(Dbs + la.r0 * ldd + t + 8) = pa[kk][2];
                *(uint32_t *)(Dbs + la.r1 * ldd + t + 8) = pa[kk][3];
            }
        }
        cp_wait();
        __syncthreads();
        for (int n0 = 0; n0 < N; n0 += 64) {
            float T[8][4];
            zero_acc(T);
            const int nj = min(8, (N - n0) / 8);
            if (ROLE)   /* rows t = m0 …: A(t, s) = dCB[s][t]; on the diagonal tile s ≤ t only */
                warp_mm_kn<true>(T, Dbs, ldd, m0, tt == ss ? m0 + 16 : TT, V, ldn, n0, nj);
            else        /* rows s: A = dCB, B(t, n) = C_t[t][n] */
                warp_mm_reg(T, pa, TT, V, ldn, n0, nj);
            acc_to_smem(acc, ldf, m0, n0, nj, T);
        }
    }
    __syncthreads();
    atomics_out(dBC + bco(d, b, r0, h), (size_t)d.G * N, acc, ldf, valid, N);
}

/* v8's backward: v7's walks; dCB per group; the fused tile kernel without dB's and dC's
 * intra-chunk products; dB and dC from dCB; v6's final sum. V9: both walks in segments */
template <typename In, int V9 = 0>
static int backward_v8(const ssd_gpu_params *p, const void *dy, const float *dh_last, void *ws, ssd_gpu_grads *g)
{
    const Dims d = dims_of(p);
    Work w;
    work_layout(p, 1, (char *)ws, &w);
    constexpr int NS = walk_ns(V9);
    const size_t swk = m7_walk_smem(d.P, d.N, NS), sbw = m5_bwd_smem(d.P, d.N, 1), sdcb = 2 * m8_dcb_stage(d.P),
                 sbc = m8_dbdc_smem(d.N);
    SSD_TRY(smem_ok(k7_states<In, NS, V9>, swk));
    SSD_TRY(smem_ok(k7_states_bwd<In, NS, V9>, swk));
    SSD_TRY(smem_ok(k8_dcb<In>, sdcb));
    SSD_TRY(smem_ok(k8_cb<In, 1>, 2 * m4_tile(d.N)));
    SSD_TRY(smem_ok(k_bwd_src<In, 1, 3>, sbw));
    SSD_TRY(smem_ok(k8_dbdc<In, 0>, sbc));
    SSD_TRY(smem_ok(k8_dbdc<In, 1>, sbc));
    const size_t nbch = (size_t)d.batch * d.nc * d.H;
    SSD_TRY(walk_states<In, V9>(p, d, w, 1, nullptr));
    SSD_TRY(zero_sums(d, w, 1, g));   /* the fused kernel adds to dcs_row */
    const In *x = (const In *)p->x, *B = (const In *)p->B, *C = (const In *)p->C, *dY = (const In *)dy;
    /* SSD_V9_BWD_SEGMENTS=1: the adjoint walk in one piece (the benchmark's question whether its
     * segments pay for k9_fix_bwd's traffic) */
    const char *one = getenv("SSD_V9_BWD_SEGMENTS");
    const Seg sg = V9 && !(one && atoi(one) == 1) ? w.seg : Seg{d.nc, 1, nullptr, nullptr, nullptr};
    float *dh0 = p->h0 ? g->dh0 : nullptr;
    k7_states_bwd<In, NS, V9><<<dim3((d.N + W7 - 1) / W7, d.H, d.batch * sg.nseg), 2 * d.P, swk>>>(
        d, sg, dY, C, w.cs, w.states, dh_last, w.zg16, w.zg, dh0, w.dcs_end);
    SSD_LAUNCHED();
    if (sg.nseg > 1) {   /* v9: (7.22) over the segments, then G_c and dcs_end completed */
        const size_t PN = (size_t)d.P * d.N;
        k9_seg_pass<1><<<dim3((unsigned)((PN + 255) / 256), d.batch * d.H), 256>>>(d, sg, dh0);
        SSD_LAUNCHED();
        k9_fix_bwd<<<dim3(d.nc, d.H, d.batch), 256>>>(d, sg, w.cs, w.states, w.zg, w.zg16, w.dcs_end);
        SSD_LAUNCHED();
    }
    k8_dcb<In><<<dim3(m8_npairs(d.Q), d.nc, d.batch * d.G), M4_THREADS, sdcb>>>(d, x, dY, p->dt, w.cs,
                                                                                 (float4 *)w.cb);
    SSD_LAUNCHED();
    k8_cb<In, 1><<<dim3(m8_npairs(d.Q), d.nc, d.batch * d.G), M4_THREADS, 2 * m4_tile(d.N)>>>(d, B, C,
                                                                                             (float4 *)w.cb2);
    SSD_LAUNCHED();
    k_bwd_src<In, 1, 3><<<dim3(d.H * (d.Q / TT), d.nc, d.batch), M4_THREADS, sbw>>>(
        d, x, B, C, dY, p->dt, p->D, w.cs, w.states, w.st16, p->h0 != nullptr, nullptr, w.zg16, (const float4 *)w.cb2,
        g->dx, g->dB, g->dC,
        p->D ? g->dD : nullptr, w.ddt_dir, w.dcs_col, w.dcs_row, w.dcs_end);
    SSD_LAUNCHED();
    const dim3 gbc(d.Q / TT, d.nc, d.batch * d.G);
    k8_dbdc<In, 0><<<gbc, M4_THREADS, sbc>>>(d, B, C, (const float4 *)w.cb, g->dB);
    SSD_LAUNCHED();
    k8_dbdc<In, 1><<<gbc, M4_THREADS, sbc>>>(d, B, C, (const float4 *)w.cb, g->dC);
    SSD_LAUNCHED();
    k4_bwd_fin<<<(unsigned)((nbch + 255) / 256), 256>>>(d, p->dt, p->A, w.dcs_row, w.dcs_col, w.dcs_end, w.ddt_dir,
                                                        g->ddt, g->dA);
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}
