/* 07_ssd_mamba2/gpu/ssd_mma.cuh — v4 of the chunked SSD (chapter 7.7): the same four steps
 * and the same backward as v1–v3 (ssd_gpu.cu; cumsum, state passing and the final ∂/∂cs sum
 * are their kernels), with every tile product written for the tensor cores' own instruction,
 * `mma.sync.m16n8k16` (bf16 in, fp32 accumulate), instead of WMMA. Included by ssd_gpu.cu.
 *
 * Why raw mma: its accumulator layout is documented (thread `lane` holds rows lane/4 and
 * lane/4 + 8, columns 2·(lane%4) + {0, 1} of each 16 × 8 tile), so the decay mask
 * e^{cs_t − cs_s} Δ_s and the causal cut are applied in REGISTERS, and the masked 16 × 64
 * block, packed to bf16, is already the A operand of the next product (the FlashAttention
 * trick: two n8 accumulator tiles = one k16 A fragment). v2 sends every accumulator through
 * shared memory and back (a store, a barrier, a load per product).
 * The tiles reach shared memory by cp.async (16-byte copies that bypass the registers), rows
 * padded by 8 bf16 so that the 8 row addresses of each ldmatrix fall in distinct banks.
 *
 * Work split: a block of 4 warps per (64-row tile, head, chunk, batch); warp w owns 16 rows.
 * Limits (checked by the host): P ≤ 64 (one 16 × 64 fp32 accumulator per warp for y and dx),
 * N ≤ 256 (dB and dC are accumulated in fp32 shared memory, 64 columns at a time). */

/* ---------- the instructions ---------- */
__device__ __forceinline__ uint32_t s_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
/* four 8 × 8 bf16 matrices, row addresses from lanes 8j … 8j + 7 for matrix j */
__device__ __forceinline__ void ldsm4(uint32_t (&r)[4], const bf16 *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s_addr(p)) : "memory");
}
__device__ __forceinline__ void ldsm4_t(uint32_t (&r)[4], const bf16 *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s_addr(p)) : "memory");
}
/* c (16 × 8, fp32) += a (16 × 16) · b (16 × 8) */
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void cp16(void *dst, const void *src)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_wait()
{
    asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);   /* .x (low half) = the lower column */
    return *(uint32_t *)&v;
}
__device__ __forceinline__ uint32_t scale2(uint32_t v, float s)
{
    const float2 f = __bfloat1622float2(*(__nv_bfloat162 *)&v);
    return pack2(f.x * s, f.y * s);
}
__device__ __forceinline__ uint32_t scale2x(uint32_t v, float2 s)   /* low half × s.x, high × s.y */
{
    const float2 f = __bfloat1622float2(*(__nv_bfloat162 *)&v);
    return pack2(f.x * s.x, f.y * s.y);
}

__device__ __forceinline__ float ex2(float x)   /* 2^x (MUFU); 2^−∞ = 0 */
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#define LOG2E 1.4426950408889634f

/* ---------- fragments from shared memory (bf16, row stride ld elements) ----------
 * A operand (16 rows m × 16 k):  frag_a: stored M[m][k];  frag_a_t: stored M[k][m]
 * B operand, two n8 tiles (16 k × 16 n): r[0], r[1] for columns n0 … n0 + 7, r[2], r[3] for
 *   n0 + 8 … n0 + 15;  frag_b_nk: stored M[n][k] (e.g. B_s when the product is C Bᵀ);
 *   frag_b_kn: stored M[k][n] (e.g. X_s when the product is (C Bᵀ) X). */
__device__ __forceinline__ void frag_a(uint32_t (&r)[4], const bf16 *M, int ld, int m0, int k0)
{
    const int l = threadIdx.x & 31;
    ldsm4(r, M + (m0 + (l & 15)) * ld + k0 + (l >> 4) * 8);
}
__device__ __forceinline__ void frag_a_t(uint32_t (&r)[4], const bf16 *M, int ld, int m0, int k0)
{
    const int l = threadIdx.x & 31;
    ldsm4_t(r, M + (k0 + (l & 7) + (l >> 4) * 8) * ld + m0 + ((l >> 3) & 1) * 8);
}
__device__ __forceinline__ void frag_b_nk(uint32_t (&r)[4], const bf16 *M, int ld, int k0, int n0)
{
    const int l = threadIdx.x & 31;
    ldsm4(r, M + (n0 + (l & 7) + (l >> 4) * 8) * ld + k0 + ((l >> 3) & 1) * 8);
}
__device__ __forceinline__ void frag_b_kn(uint32_t (&r)[4], const bf16 *M, int ld, int k0, int n0)
{
    const int l = threadIdx.x & 31;
    ldsm4_t(r, M + (k0 + (l & 7) + ((l >> 3) & 1) * 8) * ld + n0 + (l >> 4) * 8);
}
/* acc[j] (16 × 8 tile j of a 16 × 64 block) += A (16 × K at rows m0 of Am) · op(B) for the
 * first nj (even) tiles; B_NK: B stored [n][k] (frag_b_nk), else [k][n] (frag_b_kn). */
template <bool B_NK>
__device__ __forceinline__ void warp_mm(float (&acc)[8][4], const bf16 *Am, int lda, int m0, int K,
                                        const bf16 *Bm, int ldb, int n0, int nj)
{
    for (int k0 = 0; k0 < K; k0 += 16) {
        uint32_t a[4];
        frag_a(a, Am, lda, m0, k0);
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
            if (j >= nj) break;
            uint32_t b[4];
            if (B_NK) frag_b_nk(b, Bm, ldb, k0, n0 + j * 8);
            else frag_b_kn(b, Bm, ldb, k0, n0 + j * 8);
            mma16816(acc[j], a, b[0], b[1]);
            mma16816(acc[j + 1], a, b[2], b[3]);
        }
    }
}
/* the same with A given as register fragments pa[kk] for k = 16·kk … (K = 64), skipping the
 * k16 steps at or past kmax (the causal cut: those A columns are zero) */
__device__ __forceinline__ void warp_mm_reg(float (&acc)[8][4], const uint32_t (&pa)[4][4], int kmax,
                                            const bf16 *Bm, int ldb, int n0, int nj)
{
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        if (kk * 16 >= kmax) break;
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
            if (j >= nj) break;
            uint32_t b[4];
            frag_b_kn(b, Bm, ldb, kk * 16, n0 + j * 8);
            mma16816(acc[j], pa[kk], b[0], b[1]);
            mma16816(acc[j + 1], pa[kk], b[2], b[3]);
        }
    }
}
/* acc[j] += op(A) (16 × K, rows m0 …) · B (K × 64 columns n0 …, stored [k][n]) for the first
 * nj (even) n8 tiles; A stored [m][k] (A_T = 0; this thread's rows scaled by sc0 / sc1 after
 * the load, rounded to bf16 again) or [k][m] (A_T = 1; its columns k scaled by wk[k] the same
 * way when wk is given) */
template <bool A_T>
__device__ __forceinline__ void warp_mm_kn(float (&acc)[8][4], const bf16 *Am, int lda, int m0, int K,
                                           const bf16 *Bm, int ldb, int n0, int nj, float sc0 = 1.f,
                                           float sc1 = 1.f, const float *wk = nullptr)
{
    const int q = threadIdx.x & 3;
    for (int k0 = 0; k0 < K; k0 += 16) {
        uint32_t a[4];
        if (A_T) {
            frag_a_t(a, Am, lda, m0, k0);
            if (wk) {   /* a0, a1: columns k0 + 2q, + 1; a2, a3: those + 8 */
                const float2 w0 = *(const float2 *)(wk + k0 + 2 * q), w8 = *(const float2 *)(wk + k0 + 8 + 2 * q);
                a[0] = scale2x(a[0], w0); a[1] = scale2x(a[1], w0);
                a[2] = scale2x(a[2], w8); a[3] = scale2x(a[3], w8);
            }
        } else {
            frag_a(a, Am, lda, m0, k0);
            a[0] = scale2(a[0], sc0); a[2] = scale2(a[2], sc0);
            a[1] = scale2(a[1], sc1); a[3] = scale2(a[3], sc1);
        }
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
            if (j >= nj) break;
            uint32_t bb[4];
            frag_b_kn(bb, Bm, ldb, k0, n0 + j * 8);
            mma16816(acc[j], a, bb[0], bb[1]);
            mma16816(acc[j + 1], a, bb[2], bb[3]);
        }
    }
}
/* a 16 × 64 fp32 accumulator block (columns = k of the next product) as bf16 A fragments */
__device__ __forceinline__ void to_afrag(uint32_t (&pa)[4][4], const float (&v)[8][4])
{
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        pa[kk][0] = pack2(v[2 * kk][0], v[2 * kk][1]);
        pa[kk][1] = pack2(v[2 * kk][2], v[2 * kk][3]);
        pa[kk][2] = pack2(v[2 * kk + 1][0], v[2 * kk + 1][1]);
        pa[kk][3] = pack2(v[2 * kk + 1][2], v[2 * kk + 1][3]);
    }
}
__device__ __forceinline__ void zero_acc(float (&a)[8][4])
{
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) a[j][e] = 0.f;
}
/* sum over the 4 lanes of a quad (the 4 threads that hold one accumulator row) */
__device__ __forceinline__ float quad_sum(float v)
{
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

/* this thread's place in its warp:
 * g = lane / 4, q = lane % 4, rows r0 = 16·warp + g and r0 + 8 of the 64-row tile */
struct LaneAt {
    int warp, g, q, m0, r0, r1;
};
__device__ __forceinline__ LaneAt lane_at()
{
    const int warp = threadIdx.x >> 5, l = threadIdx.x & 31;
    return LaneAt{warp, l >> 2, l & 3, 16 * warp, 16 * warp + (l >> 2), 16 * warp + (l >> 2) + 8};
}

/* ---------- tiles into shared memory ---------- */
/* rows × cols of src (row stride lds) into dst (row stride ldd, bf16); rows at or past valid
 * are zero. bf16 sources go by cp.async (the caller waits with cp_wait + a barrier), fp32
 * sources are converted on the way. cols is a multiple of 8, rows start 16-byte aligned. */
template <typename In>
__device__ void tile_in(bf16 *dst, int ldd, const In *src, size_t lds, int rows, int cols, int valid)
{
    /* (r, k): the row and 16-byte column of copy i, stepped by blockDim without dividing
     * (an integer division per copy cost more than the copy's own instructions) */
    const int cpr = cols / 8, bd = blockDim.x, dr = bd / cpr, dk = bd % cpr;
    int r = threadIdx.x / cpr, k = threadIdx.x % cpr;
    for (; r < rows; r += dr) {
        bf16 *o = dst + r * ldd + k * 8;
        if (r >= valid) {
            *(uint4 *)o = make_uint4(0, 0, 0, 0);
        } else {
            const In *s = src + r * lds + k * 8;
            if constexpr (sizeof(In) == 2) {
                cp16(o, s);
            } else {
                const float4 a = __ldg((const float4 *)s), b = __ldg((const float4 *)s + 1);
                *(uint4 *)o = make_uint4(pack2(a.x, a.y), pack2(a.z, a.w), pack2(b.x, b.y), pack2(b.z, b.w));
            }
        }
        k += dk;
        if (k >= cpr) {
            k -= cpr;
            r++;
        }
    }
}
/* the source tile s0 … s0 + svalid − 1 of the intra-chunk products: B rows, x rows (cp.async),
 * running sums and steps (0 past the end); the caller waits (cp_wait) and syncs */
template <typename In>
__device__ __forceinline__ void source_in(const Dims &d, int b, int h, int s0, int svalid, const In *B, const In *x,
                                          const float *cs, const float *dt, bf16 *Bs, bf16 *Xs, float *cs_s,
                                          float *dt_s)
{
    tile_in(Bs, d.N + 8, B + bco(d, b, s0, h), (size_t)d.G * d.N, TT, d.N, svalid);
    tile_in(Xs, d.P + 8, x + xo(d, b, s0, h), (size_t)d.H * d.P, TT, d.P, svalid);
    for (int r = threadIdx.x; r < TT; r += blockDim.x) {
        cs_s[r] = r < svalid ? cs[cso(d, b, h, s0 + r)] : 0.f;
        dt_s[r] = r < svalid ? dt[dto(d, b, s0 + r, h)] : 0.f;
    }
}
/* v[t][s] ← E_ts Δ_s v[t][s] inside the causal mask, else 0, with E_ts = e^{cs_t − cs_s} (7.5),
 * on a 16 × 64 accumulator block whose rows are targets t (this thread's: r0, r0 + 8) and
 * whose columns are sources s; diag: the two tiles are the same rows, so s ≤ t is needed */
__device__ __forceinline__ void decay_mask(float (&v)[8][4], const float *cs_t, const float *cs_s, const float *dt_s,
                                           int r0, int tvalid, int svalid, bool diag)
{
    const int q = threadIdx.x & 3;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int t = e < 2 ? r0 : r0 + 8, s = j * 8 + 2 * q + (e & 1);
            const bool on = t < tvalid && s < svalid && (!diag || s <= t);
            v[j][e] = on ? __expf(cs_t[t] - cs_s[s]) * v[j][e] * dt_s[s] : 0.f;
        }
}
/* a P × N fp32 state (contiguous) into dst[p][n] (row stride ldd, bf16).
 * OPT = 0 (v4, v5): one load per loop iteration — and each iteration's load is ordered after
 *   the previous iteration's store (the compiler cannot prove the two pointers apart), so the
 *   loop waits one memory latency per 16 bytes a thread moves;
 * OPT = k > 0 (v6): k loads issued before any store (fewer where registers are short). */
template <int OPT = 0>
__device__ void state_in(bf16 *dst, int ldd, const float *src, int P, int N)
{
    const int cpr = N / 4, n = P * cpr;
    constexpr int U = OPT ? OPT : 1;
    for (int base = threadIdx.x; base < n; base += U * blockDim.x) {
        float4 a[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int i = base + u * blockDim.x;
            if (i < n) a[u] = __ldg((const float4 *)(src + (size_t)(i / cpr) * N + (i % cpr) * 4));
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int i = base + u * blockDim.x;
            if (i < n)
                *(uint2 *)(dst + (i / cpr) * ldd + (i % cpr) * 4) =
                    make_uint2(pack2(a[u].x, a[u].y), pack2(a[u].z, a[u].w));
        }
    }
}
/* acc (16 × 64 columns n0 … of a fp32 shared matrix, rows m0 …, row stride ld) += v */
__device__ __forceinline__ void acc_to_smem(float *S, int ld, int m0, int n0, int nj, const float (&v)[8][4])
{
    const int l = threadIdx.x & 31, g = l >> 2, q = l & 3;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= nj) break;
        float2 *a = (float2 *)(S + (m0 + g) * ld + n0 + j * 8 + 2 * q), *b = (float2 *)((float *)a + 8 * ld);
        float2 x = *a, y = *b;
        x.x += v[j][0]; x.y += v[j][1]; y.x += v[j][2]; y.y += v[j][3];
        *a = x;
        *b = y;
    }
}
/* float2 atomics of a 16 × 64 accumulator block into rows r (< valid) of a global slab */
__device__ __forceinline__ void acc_atomics(float *dst, size_t ld, int r0, int valid, int n0, int nj, const float (&v)[8][4])
{
    const int l = threadIdx.x & 31, g = l >> 2, q = l & 3;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= nj) break;
        const int n = n0 + j * 8 + 2 * q;
        if (r0 + g < valid) atomicAdd((float2 *)(dst + (size_t)(r0 + g) * ld + n), make_float2(v[j][0], v[j][1]));
        if (r0 + g + 8 < valid) atomicAdd((float2 *)(dst + (size_t)(r0 + g + 8) * ld + n), make_float2(v[j][2], v[j][3]));
    }
}

/* dst (rows r < valid of a (·, N) fp32 global slab, row stride ldg) += S (row stride lds):
 * 16-byte atomics (sm_90), one per 4 columns. dB and dC are shared by the heads of a group. */
__device__ void atomics_out(float *dst, size_t ldg, const float *S, int lds, int valid, int N)
{
    const int cpr = N / 4;
    for (int i = threadIdx.x; i < valid * cpr; i += blockDim.x) {
        const int r = i / cpr, k = (i % cpr) * 4;
        atomicAdd((float4 *)(dst + r * ldg + k), *(const float4 *)(S + r * lds + k));
    }
}
template <typename In> __device__ __forceinline__ float2 ld2(const In *p)
{
    if constexpr (sizeof(In) == 2) return __bfloat1622float2(*(const __nv_bfloat162 *)p);
    else return *(const float2 *)p;
}
template <typename In> __device__ __forceinline__ void st2(In *p, float a, float b)
{
    if constexpr (sizeof(In) == 2) *(__nv_bfloat162 *)p = __floats2bfloat162_rn(a, b);
    else *(float2 *)p = make_float2(a, b);
}

/* shared-memory sizes: bf16 tiles of 64 rows padded to cols + 8, fp32 scratch padded to
 * N + 8 (float2 accesses of a half warp then hit 32 distinct banks) */
#define M4_THREADS 128
__host__ __device__ static inline size_t m4_tile(int cols) { return (size_t)TT * (cols + 8) * sizeof(bf16); }
__host__ __device__ static inline size_t m4_state_smem(int P, int N) { return m4_tile(P) + m4_tile(N) + TT * sizeof(float); }
__host__ __device__ static inline size_t m4_out_smem(int P, int N) { return 3 * m4_tile(N) + m4_tile(P) + 3 * TT * sizeof(float); }
__host__ __device__ static inline size_t m4_bwd_smem(int P, int N)
{
    return 2 * m4_tile(N) + 2 * m4_tile(P) + (size_t)TT * (N + 8) * sizeof(float) + 3 * TT * sizeof(float) +
           2 * (M4_THREADS / 32) * sizeof(float);
}
__host__ __device__ static inline int m4_state_threads(int P, int N) { return 32 * (P / 16) * ((N + 63) / 64); }

/* ---------- (7.7) and its adjoint Z (as k_chunk_state): out = (w ⊙ U)ᵀ V per (h, c, b) ----------
 * Warps tile the P × N output in 16 × 64 blocks (warp w: rows 16·(w / nwn), columns
 * 64·(w % nwn)); the chunk passes through shared memory 64 rows at a time; K = the rows s. */
template <typename In, int ADJ, int OPT>
__global__ void __launch_bounds__(512) k4_state(Dims d, const In *u, const In *v, const float *dt,
                                                const float *cs, float *out)
{
    extern __shared__ __align__(128) char smem[];
    const int P = d.P, N = d.N, ldu = P + 8, ldv = N + 8;
    bf16 *U = (bf16 *)smem, *V = (bf16 *)(smem + m4_tile(P));
    float *w = (float *)(smem + m4_tile(P) + m4_tile(N));
    const int h = blockIdx.x, c = blockIdx.y, b = blockIdx.z, warp = threadIdx.x >> 5;
    const int nwn = (N + 63) / 64, m0 = 16 * (warp / nwn), n0 = 64 * (warp % nwn), nj = min(8, (N - n0) / 8);
    const int end = chunk_end(d, c);
    const float cs_end = cs[cso(d, b, h, end)];
    float acc[8][4];
    zero_acc(acc);
    for (int k0 = c * d.Q; k0 <= end; k0 += TT) {
        const int valid = min(TT, end + 1 - k0);
        __syncthreads();   /* the previous tile is consumed */
        tile_in(U, ldu, u + xo(d, b, k0, h), (size_t)d.H * P, TT, P, valid);
        tile_in(V, ldv, v + bco(d, b, k0, h), (size_t)d.G * N, TT, N, valid);
        for (int r = threadIdx.x; r < TT; r += blockDim.x)
            w[r] = r >= valid ? 0.f
                   : ADJ ? __expf(cs[cso(d, b, h, k0 + r)])
                         : __expf(cs_end - cs[cso(d, b, h, k0 + r)]) * dt[dto(d, b, k0 + r, h)];
        cp_wait();
        __syncthreads();
        if (OPT) {   /* v6: w_s applied to the A fragments in registers (the same roundings) */
            warp_mm_kn<true>(acc, U, ldu, m0, TT, V, ldv, n0, nj, 1.f, 1.f, w);
        } else {
            /* U rows times w_s, rounded to bf16 once (as v2 rounds w_s x_s) */
            for (int i = threadIdx.x; i < TT * P / 2; i += blockDim.x) {
                const int r = i / (P / 2), k = (i % (P / 2)) * 2;
                uint32_t *e = (uint32_t *)(U + r * ldu + k);
                *e = scale2(*e, w[r]);
            }
            __syncthreads();
            warp_mm_kn<true>(acc, U, ldu, m0, TT, V, ldv, n0, nj);   /* A(p, s) = U[s][p]: the transposed load */
        }
    }
    float *o = out + sto(d, b, c, h);
    const int l = threadIdx.x & 31, g = l >> 2, q = l & 3;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= nj) break;
        const int n = n0 + j * 8 + 2 * q;
        *(float2 *)(o + (size_t)(m0 + g) * N + n) = make_float2(acc[j][0], acc[j][1]);
        *(float2 *)(o + (size_t)(m0 + g + 8) * N + n) = make_float2(acc[j][2], acc[j][3]);
    }
}

/* y = Y + D x for a warp's 16 × P accumulator block (rows r0, r1 of the tile at t0).
 * PRELOAD (v6, v7): all of this thread's x loads before any y store (a y store may alias a
 * later x load as far as the compiler knows, so v4 waits a memory latency per pair). */
template <int PRELOAD, typename In>
__device__ __forceinline__ void store_y(const Dims &d, int b, int h, int t0, int tvalid, int r0, int r1, int nP,
                                        float Dh, const In *x, const float (&Y)[8][4], In *y)
{
    const int q = threadIdx.x & 3;
    float2 xv[8][2];
    if (PRELOAD) {
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int t = e ? r1 : r0;
                if (j < nP && t < tvalid) xv[j][e] = ld2(x + xo(d, b, t0 + t, h) + j * 8 + 2 * q);
            }
    }
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= nP) break;
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int t = e ? r1 : r0;
            if (t >= tvalid) continue;
            const size_t o = xo(d, b, t0 + t, h) + j * 8 + 2 * q;
            const float2 xw = PRELOAD ? xv[j][e] : ld2(x + o);
            st2(y + o, Y[j][2 * e] + Dh * xw.x, Y[j][2 * e + 1] + Dh * xw.y);
        }
    }
}

/* ---------- (7.6) + (7.9), as k_chunk_out: one block per (tile of 64 rows t, h, c, b) ----------
 *   Y_w = diag(e^{cs_t}) C_w H_{c−1}ᵀ;  for each source tile s ≤ t:
 *   S = C_w B_sᵀ (16 × 64, registers) → masked and scaled in place → bf16 A fragments → Y_w += S X_s */
template <typename In, int OPT>
__device__ __forceinline__ void out_body(const Dims &d, const In *x, const In *B, const In *C, const float *dt,
                                         const float *D, const float *cs, const float *states, const bf16 *st16,
                                         int has_state, In *y)
{
    extern __shared__ __align__(128) char smem[];
    const int P = d.P, N = d.N, ldn = N + 8, ldp = P + 8;
    bf16 *Ct = (bf16 *)smem, *Bs = (bf16 *)(smem + m4_tile(N)), *Hs = (bf16 *)(smem + 2 * m4_tile(N)),
         *Xs = (bf16 *)(smem + 3 * m4_tile(N));
    float *cs_t = (float *)(smem + 3 * m4_tile(N) + m4_tile(P)), *cs_s = cs_t + TT, *dt_s = cs_s + TT;
    const TileAt at = tile_at(d);
    const LaneAt la = lane_at();
    const int h = at.h, tt = at.tile, c = at.c, b = at.b, t0 = at.row0;
    if (t0 >= d.L) return;
    const int warp = la.warp, m0 = la.m0, r0 = la.r0, r1 = la.r1;
    const int tvalid = min(TT, d.L - t0), nP = P / 8;
    const bool state = has_state || c > 0;
    tile_in(Ct, ldn, C + bco(d, b, t0, h), (size_t)d.G * N, TT, N, tvalid);
    /* v6: the first source tile's copies start now, with C_t's: one wait for both */
    if (OPT) source_in(d, b, h, c * d.Q, min(TT, d.L - c * d.Q), B, x, cs, dt, Bs, Xs, cs_s, dt_s);
    if (state && OPT)   /* v6: H_{c−1} already in bf16, by cp.async */
        tile_in(Hs, ldn, st16 + sto(d, b, c, h), (size_t)N, P, N, P);
    else if (state)
        state_in<0>(Hs, ldn, states + sto(d, b, c, h), P, N);   /* H_{c−1}[p][n] */
    for (int r = threadIdx.x; r < TT; r += blockDim.x) cs_t[r] = r < tvalid ? cs[cso(d, b, h, t0 + r)] : 0.f;
    cp_wait();
    __syncthreads();
    float Y[8][4];
    zero_acc(Y);
    if (state) {
        warp_mm<true>(Y, Ct, ldn, m0, N, Hs, ldn, 0, nP);   /* C_w H_{c−1}ᵀ: B(n, p) = H[p][n] */
        const float e0 = __expf(cs_t[r0]), e1 = __expf(cs_t[r1]);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            Y[j][0] *= e0; Y[j][1] *= e0; Y[j][2] *= e1; Y[j][3] *= e1;
        }
    }
    for (int ss = 0; ss <= tt; ss++) {
        const int s0 = c * d.Q + ss * TT, svalid = min(TT, d.L - s0);
        const bool diag = ss == tt;
        if (!OPT || ss > 0) {   /* (v6 loaded source tile 0 with C_t) */
            __syncthreads();   /* the previous source tile is consumed */
            source_in(d, b, h, s0, svalid, B, x, cs, dt, Bs, Xs, cs_s, dt_s);
            cp_wait();
            __syncthreads();
        }
        /* on the diagonal tile, warp w's rows see columns s < 16 (w + 1) only */
        const int jmax = diag ? 2 * warp + 2 : 8;
        float S[8][4];
        zero_acc(S);
        warp_mm<true>(S, Ct, ldn, m0, N, Bs, ldn, 0, jmax);   /* C_w B_sᵀ */
        decay_mask(S, cs_t, cs_s, dt_s, r0, tvalid, svalid, diag);
        uint32_t pa[4][4];
        to_afrag(pa, S);
        warp_mm_reg(Y, pa, jmax * 8, Xs, ldp, 0, nP);   /* += (E ∘ C Bᵀ Δ) X_s */
    }
    store_y<OPT>(d, b, h, t0, tvalid, r0, r1, nP, D ? D[h] : 0.f, x, Y, y);
}
/* the kernels: v4 and v5 let ptxas choose the registers (128: 4 blocks of 4 warps per SM);
 * v6 asks for 5 blocks per SM (≤ 102 registers; ptxas spills 28 bytes) */
template <typename In>
__global__ void __launch_bounds__(M4_THREADS) k4_out(Dims d, const In *x, const In *B, const In *C, const float *dt,
                                                     const float *D, const float *cs, const float *states,
                                                     int has_state, In *y)
{
    out_body<In, 0>(d, x, B, C, dt, D, cs, states, nullptr, has_state, y);
}
template <typename In>
__global__ void __launch_bounds__(M4_THREADS, 5) k6_out(Dims d, const In *x, const In *B, const In *C, const float *dt,
                                                        const float *D, const float *cs, const bf16 *st16,
                                                        int has_state, In *y)
{
    out_body<In, 1>(d, x, B, C, dt, D, cs, nullptr, st16, has_state, y);
}

/* The source block's last part (k_bwd_src, v4 and v5): the chunk-end state's adjoint
 * G_c. BG = B_w G_cᵀ gives V_s (→ ddt_dir, dcs_col, dcs_end) and a term of dx; dB gets
 * (e ⊙ X_w) G_c; then dB (shared memory dBs, all warps' rows) goes out by atomics, dD and
 * ∂/∂cs_end by one atomic each. dX and col0/col1 are this thread's sums over the targets t. */
template <typename In, int OPT>
__device__ __forceinline__ void bwd_source_end(const Dims &d, int b, int h, int c, int s0, int svalid, float cs_end,
                                               const In *x, const In *dy, const float *D, const float *zg,
                                               const bf16 *zg16, const bf16 *Bs, const bf16 *Xs, bf16 *Gs, float *dBs,
                                               const float *cs_s, const float *dt_s, float *red, float col0,
                                               float col1, const float (&dX)[8][4], float *dx, float *dB, float *dD,
                                               float *ddt_dir, float *dcs_col, float *dcs_end)
{
    const int P = d.P, N = d.N, ldn = N + 8, ldp = P + 8, ldf = N + 8, nP = P / 8;
    const int warp = threadIdx.x >> 5, l = threadIdx.x & 31, q = l & 3, m0 = 16 * warp;
    const int r0 = m0 + (l >> 2), r1 = r0 + 8;
    __syncthreads();
    if (OPT >= 2) {   /* v7: G_c written in bf16 by the backward walk, copied by cp.async */
        tile_in(Gs, ldn, zg16 + sto(d, b, c, h), (size_t)N, P, N, P);
        cp_wait();
    } else {
        state_in<OPT ? 2 : 0>(Gs, ldn, zg + sto(d, b, c, h), P, N);   /* G_c, the adjoint of the chunk-end state */
    }
    __syncthreads();
    float BG[8][4];
    zero_acc(BG);
    warp_mm<true>(BG, Bs, ldn, m0, N, Gs, ldn, 0, nP);   /* B_w G_cᵀ (16 × P) */
    float q0 = 0.f, q1 = 0.f;                             /* x_s · (G_c B_s) */
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (j >= nP) break;
        const int p = j * 8 + 2 * q;
        const float2 xa = __bfloat1622float2(*(const __nv_bfloat162 *)(Xs + r0 * ldp + p));
        const float2 xb = __bfloat1622float2(*(const __nv_bfloat162 *)(Xs + r1 * ldp + p));
        q0 += xa.x * BG[j][0] + xa.y * BG[j][1];
        q1 += xb.x * BG[j][2] + xb.y * BG[j][3];
    }
    q0 = quad_sum(q0);
    q1 = quad_sum(q1);
    col0 = quad_sum(col0);
    col1 = quad_sum(col1);
    const float Dh = D ? D[h] : 0.f;
    float vsum = 0.f, dsum = 0.f;
    /* e^{cs_end − cs_s} of this thread's two rows (0 past the end) */
    const float ed0 = r0 < svalid ? __expf(cs_end - cs_s[r0]) : 0.f, ed1 = r1 < svalid ? __expf(cs_end - cs_s[r1]) : 0.f;
#pragma unroll
    for (int e = 0; e < 2; e++) {
        const int s = e ? r1 : r0;
        if (s >= svalid) continue;
        const float qq = e ? q1 : q0, col = e ? col1 : col0, eds = e ? ed1 : ed0;
        const float Vs = eds * dt_s[s] * qq;
        if (q == 0) {
            vsum += Vs;
            ddt_dir[cso(d, b, h, s0 + s)] = col + eds * qq;
            dcs_col[cso(d, b, h, s0 + s)] = -dt_s[s] * col - Vs;
        }
        /* v6 (OPT): the row's dy loads before its dx stores; x from the tile in shared memory
         * (the same bf16 values when the input is bf16) */
        constexpr bool XS = OPT && sizeof(In) == 2;
        float2 dvs[8];
        if (OPT) {
#pragma unroll
            for (int j = 0; j < 8; j++)
                if (j < nP) dvs[j] = ld2(dy + xo(d, b, s0 + s, h) + j * 8 + 2 * q);
        }
#pragma unroll
        for (int j = 0; j < 8; j++) {
            if (j >= nP) break;
            const int p = j * 8 + 2 * q;
            const size_t o = xo(d, b, s0 + s, h) + p;
            const float2 dv = OPT ? dvs[j] : ld2(dy + o);
            const float2 xv = XS ? __bfloat1622float2(*(const __nv_bfloat162 *)(Xs + s * ldp + p)) : ld2(x + o);
            const float e2 = eds * dt_s[s];
            *(float2 *)(dx + o) = make_float2(dt_s[s] * dX[j][2 * e] + e2 * BG[j][2 * e] + Dh * dv.x,
                                              dt_s[s] * dX[j][2 * e + 1] + e2 * BG[j][2 * e + 1] + Dh * dv.y);
            dsum += xv.x * dv.x + xv.y * dv.y;
        }
    }
    /* dB_w += (e ⊙ X_w) G_c, e_s = e^{cs_end − cs_s} Δ_s: A fragments of X rows, scaled */
    const float e0 = ed0 * dt_s[r0], e1 = ed1 * dt_s[r1];
    for (int n0 = 0; n0 < N; n0 += 64) {
        float T[8][4];
        zero_acc(T);
        const int nj = min(8, (N - n0) / 8);
        warp_mm_kn<false>(T, Xs, ldp, m0, P, Gs, ldn, n0, nj, e0, e1);   /* B(p, n) = G[p][n] */
        if (OPT == 3)   /* v8: the only term of dB left here, straight to dB (no dBs tile) */
            acc_atomics(dB + bco(d, b, s0, h), (size_t)d.G * N, m0, svalid, n0, nj, T);
        else
            acc_to_smem(dBs, ldf, m0, n0, nj, T);
    }
    vsum = block_sum(vsum, red);   /* block_sum's barriers also order dBs for the atomics */
    dsum = block_sum(dsum, red + M4_THREADS / 32);
    if (threadIdx.x == 0) {
        atomicAdd(dcs_end + ((size_t)b * d.H + h) * d.nc + c, vsum);
        if (dD) atomicAdd(dD + h, dsum);
    }
    if (OPT != 3) atomics_out(dB + bco(d, b, s0, h), (size_t)d.G * N, dBs, ldf, svalid, N);
}

/* One pair (the block's source tile, a target tile) of the source-major backward, for a
 * warp's 16 rows s (m0 …): Sᵀ = B_w C_tᵀ and Gᵀ = X_w dY_tᵀ in registers; M = E ∘ Sᵀ and
 * Db = E ∘ Gᵀ Δ_s; col += Σ_t M·G (this thread's part of Σ_t T_ts / Δ_s); with ROWS also
 * rs[j][k] = Σ over this thread's two rows s of T_ts for its columns t = 8j + 2q + k; then
 * dX += M dY_t, dB (rows s, in dBs) += Db C_t. pd returns Db as bf16 A fragments. */
template <bool ROWS, bool FAST, bool DB = true>
__device__ __forceinline__ void bwd_pair(const Dims &d, const bf16 *Bs, const bf16 *Xs, const bf16 *Ct,
                                         const bf16 *dYt, const float *cs_s, const float *dt_s, const float *cs_t,
                                         const float *tau, int svalid, int tvalid, bool diag, float (&dX)[8][4],
                                         float *dBs, float &col0, float &col1, uint32_t (&pd)[4][4],
                                         float (&rs)[8][2], const float4 *stg = nullptr)
{
    const int P = d.P, N = d.N, ldn = N + 8, ldp = P + 8, ldf = N + 8, nP = P / 8;
    const int warp = threadIdx.x >> 5, l = threadIdx.x & 31, q = l & 3, m0 = 16 * warp;
    const int r0 = m0 + (l >> 2), r1 = r0 + 8;
    /* on the diagonal tile, rows s see columns t ≥ s only; the products below still run over
     * all 64 columns and the mask zeroes the rest (the saving would be one k step in four) */
    float St[8][4], Gt[8][4];
    zero_acc(St);
    zero_acc(Gt);
    if (stg) {   /* v8: B_w C_tᵀ as k8_cb<·, 1> stored it, once per group */
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const float4 v = stg[32 * j];
            St[j][0] = v.x; St[j][1] = v.y; St[j][2] = v.z; St[j][3] = v.w;
        }
    } else {
        warp_mm<true>(St, Bs, ldn, m0, N, Ct, ldn, 0, 8);    /* B_w C_tᵀ */
    }
    warp_mm<true>(Gt, Xs, ldp, m0, P, dYt, ldp, 0, 8);   /* X_w dY_tᵀ */
    /* FAST (v7): E_ts = 2^{τ_t − σ_s}, τ_t = cs_t log₂e per column (−∞ past the end, in tau),
     * σ_s = cs_s log₂e per row (0 past the end: those rows' products are 0, E ≤ 1); off the
     * diagonal tile τ_t ≤ σ_s, on it the select covers the two column blocks crossing it */
    const float sg0 = cs_s[r0] * LOG2E, sg1 = cs_s[r1] * LOG2E;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        rs[j][0] = rs[j][1] = 0.f;
        const float2 tj = FAST ? *(const float2 *)(tau + j * 8 + 2 * q) : make_float2(0.f, 0.f);
        const bool none = diag && j < 2 * warp, cut = diag && (j >> 1) == warp;
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int s = e < 2 ? r0 : r1, t = j * 8 + 2 * q + (e & 1);
            float E;
            if (FAST) {
                E = ex2((e & 1 ? tj.y : tj.x) - (e < 2 ? sg0 : sg1));
                if (none || (cut && t < s)) E = 0.f;
            } else {
                const bool on = t < tvalid && s < svalid && (!diag || s <= t);
                E = on ? __expf(cs_t[t] - cs_s[s]) : 0.f;
            }
            const float m = E * St[j][e], gg = Gt[j][e];
            if (e < 2) col0 += m * gg;
            else col1 += m * gg;
            if (ROWS) rs[j][e & 1] += m * gg * dt_s[s];   /* T_ts */
            St[j][e] = m;                                   /* E ∘ C B: dx's matrix */
            Gt[j][e] = E * gg * dt_s[s];                    /* Db = ∂loss/∂(C_t·B_s) */
        }
    }
    uint32_t pm[4][4];
    to_afrag(pm, St);
    to_afrag(pd, Gt);
    warp_mm_reg(dX, pm, 64, dYt, ldp, 0, nP);   /* (E ∘ C B)ᵀ dy */
    /* Db C_t, 64 columns of dB at a time (v8, !DB: Db is summed over the group first, k8_dcb) */
    for (int n0 = 0; n0 < (DB ? N : 0); n0 += 64) {
        float T[8][4];
        zero_acc(T);
        const int nj = min(8, (N - n0) / 8);
        warp_mm_reg(T, pd, 64, Ct, ldn, n0, nj);
        acc_to_smem(dBs, ldf, m0, n0, nj, T);
    }
}

/* The entering state's part of dC_t and U_t for a warp's 16 rows t (m0 …):
 * dC_t = e^{cs_t} H_{c−1}ᵀ dy_t (handed to sink(n0, nj, block) 64 columns at a time) and
 * U_t = C_t · dC_t (this thread's part, summed by the caller over the quad). */
/* SLICED (v8): Hs is a P × 64 buffer that receives H's columns n0 … n0 + 63 from hsrc (bf16,
 * row stride N) one slice at a time, so the kernel's shared memory does not grow with N; called
 * by the whole block then */
template <bool SLICED = false, typename Sink>
__device__ __forceinline__ void dc_state(const Dims &d, const bf16 *dYt, bf16 *Hs, const bf16 *Ct,
                                         const float *cs_t, int m0, float &u0, float &u1, Sink sink,
                                         const bf16 *hsrc = nullptr)
{
    const int P = d.P, N = d.N, ldn = N + 8, ldp = P + 8, l = threadIdx.x & 31, q = l & 3;
    const int r0 = m0 + (l >> 2), r1 = r0 + 8;
    const float e0 = __expf(cs_t[r0]), e1 = __expf(cs_t[r1]);
    for (int n0 = 0; n0 < N; n0 += 64) {
        float T[8][4];
        zero_acc(T);
        const int nj = min(8, (N - n0) / 8);
        if (SLICED) {
            __syncthreads();   /* the previous slice is consumed */
            tile_in(Hs, TT + 8, hsrc + n0, (size_t)N, P, nj * 8, P);
            cp_wait();
            __syncthreads();
            warp_mm<false>(T, dYt, ldp, m0, P, Hs, TT + 8, 0, nj);   /* dY_w H[:, n0 …] */
        } else {
            warp_mm<false>(T, dYt, ldp, m0, P, Hs, ldn, n0, nj);   /* dY_w H (B(p, n) = H[p][n]) */
        }
#pragma unroll
        for (int j = 0; j < 8; j++) {
            if (j >= nj) break;
            const int n = n0 + j * 8 + 2 * q;
            T[j][0] *= e0; T[j][1] *= e0; T[j][2] *= e1; T[j][3] *= e1;
            const float2 ca = __bfloat1622float2(*(const __nv_bfloat162 *)(Ct + r0 * ldn + n));
            const float2 cb = __bfloat1622float2(*(const __nv_bfloat162 *)(Ct + r1 * ldn + n));
            u0 += ca.x * T[j][0] + ca.y * T[j][1];
            u1 += cb.x * T[j][2] + cb.y * T[j][3];
        }
        sink(n0, nj, T);
    }
}

/* ---------- backward over target rows t (as k_bwd_t): dC and the row part of ∂/∂cs ----------
 * One block per (tile of 64 rows t, h, c, b), looping over the source tiles s ≤ t:
 * S = C_w B_sᵀ, dM = dY_w X_sᵀ (registers); Db = E ∘ dM Δ_s → dC_w += Db B_s. */
template <typename In>
__global__ void __launch_bounds__(M4_THREADS) k4_bwd_t(Dims d, const In *x, const In *B, const In *C,
                                                       const In *dy, const float *dt, const float *cs,
                                                       const float *states, int has_state, float *dC,
                                                       float *dcs_row)
{
    extern __shared__ __align__(128) char smem[];
    const int P = d.P, N = d.N, ldn = N + 8, ldp = P + 8, ldf = N + 8;
    bf16 *Ct = (bf16 *)smem, *Bs = (bf16 *)(smem + m4_tile(N)), *dYt = (bf16 *)(smem + 2 * m4_tile(N)),
         *Xs = (bf16 *)(smem + 2 * m4_tile(N) + m4_tile(P));
    float *dCs = (float *)(smem + 2 * m4_tile(N) + 2 * m4_tile(P)), *cs_t = dCs + TT * ldf, *cs_s = cs_t + TT,
          *dt_s = cs_s + TT;
    bf16 *Hs = Bs;   /* H_{c−1}[p][n] before the loop over s (P ≤ 64 rows) */
    const TileAt at = tile_at(d);
    const LaneAt la = lane_at();
    const int h = at.h, tt = at.tile, c = at.c, b = at.b, t0 = at.row0;
    if (t0 >= d.L) return;
    const int tvalid = min(TT, d.L - t0), warp = la.warp, q = la.q, m0 = la.m0, r0 = la.r0, r1 = la.r1;
    const bool state = has_state || c > 0;
    tile_in(Ct, ldn, C + bco(d, b, t0, h), (size_t)d.G * N, TT, N, tvalid);
    tile_in(dYt, ldp, dy + xo(d, b, t0, h), (size_t)d.H * P, TT, P, tvalid);
    if (state) state_in(Hs, ldn, states + sto(d, b, c, h), P, N);
    for (int r = threadIdx.x; r < TT; r += blockDim.x) cs_t[r] = r < tvalid ? cs[cso(d, b, h, t0 + r)] : 0.f;
    for (int i = threadIdx.x; i < TT * ldf; i += blockDim.x) dCs[i] = 0.f;
    cp_wait();
    __syncthreads();
    float u0 = 0.f, u1 = 0.f;   /* U_t = C_t · (e^{cs_t} H_{c−1}ᵀ dy_t), this thread's part */
    if (state)
        dc_state(d, dYt, Hs, Ct, cs_t, m0, u0, u1,
                 [&](int n0, int nj, const float (&T)[8][4]) { acc_to_smem(dCs, ldf, m0, n0, nj, T); });
    float row0 = 0.f, row1 = 0.f;   /* Σ_s T_ts, this thread's part */
    for (int ss = 0; ss <= tt; ss++) {
        const int s0 = c * d.Q + ss * TT, svalid = min(TT, d.L - s0);
        const bool diag = ss == tt;
        __syncthreads();   /* the previous source tile (first: H) is consumed */
        source_in(d, b, h, s0, svalid, B, x, cs, dt, Bs, Xs, cs_s, dt_s);
        cp_wait();
        __syncthreads();
        const int jmax = diag ? 2 * warp + 2 : 8;
        float S[8][4], Gm[8][4];
        zero_acc(S);
        zero_acc(Gm);
        warp_mm<true>(S, Ct, ldn, m0, N, Bs, ldn, 0, jmax);     /* C_w B_sᵀ */
        warp_mm<true>(Gm, dYt, ldp, m0, P, Xs, ldp, 0, jmax);   /* dY_w X_sᵀ */
        decay_mask(Gm, cs_t, cs_s, dt_s, r0, tvalid, svalid, diag);   /* Db = E ∘ dM Δ */
#pragma unroll
        for (int j = 0; j < 8; j++) {   /* T_ts = Db_ts (C_t·B_s) */
            row0 += Gm[j][0] * S[j][0] + Gm[j][1] * S[j][1];
            row1 += Gm[j][2] * S[j][2] + Gm[j][3] * S[j][3];
        }
        uint32_t pd[4][4];
        to_afrag(pd, Gm);
        for (int n0 = 0; n0 < N; n0 += 64) {   /* Db B_s, 64 columns of dC at a time */
            float T[8][4];
            zero_acc(T);
            const int nj = min(8, (N - n0) / 8);
            warp_mm_reg(T, pd, jmax * 8, Bs, ldn, n0, nj);
            acc_to_smem(dCs, ldf, m0, n0, nj, T);
        }
    }
    row0 = quad_sum(row0);
    row1 = quad_sum(row1);
    u0 = quad_sum(u0);
    u1 = quad_sum(u1);
    if (q == 0) {
        if (r0 < tvalid) dcs_row[cso(d, b, h, t0 + r0)] = row0 + u0;
        if (r1 < tvalid) dcs_row[cso(d, b, h, t0 + r1)] = row1 + u1;
    }
    __syncthreads();
    atomics_out(dC + bco(d, b, t0, h), (size_t)d.G * N, dCs, ldf, tvalid, N);
}

/* v6's (7.1): k_cumsum with 16 loads in flight per thread (k_cumsum's load of step t + 1 is
 * ordered after its store of step t: one memory latency per step, Q of them in a row) */
__global__ void k4_cumsum(Dims d, const float *dt, const float *A, float *cs)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)d.batch * d.nc * d.H) return;
    const int h = i % d.H, c = (i / d.H) % d.nc, b = i / ((size_t)d.H * d.nc), end = chunk_end(d, c);
    const float a = A[h];
    float r = 0.f;
    for (int t0 = c * d.Q; t0 <= end; t0 += 16) {
        float v[16];
#pragma unroll
        for (int u = 0; u < 16; u++)
            if (t0 + u <= end) v[u] = dt[dto(d, b, t0 + u, h)];
#pragma unroll
        for (int u = 0; u < 16; u++)
            if (t0 + u <= end) {
                r += v[u] * a;
                cs[cso(d, b, h, t0 + u)] = r;
            }
    }
}

/* v6's (7.24) finish: k_bwd_fin with 16 steps' loads in flight (k_bwd_fin's loads of step t − 1
 * are ordered after its store of ddt at step t) */
__global__ void k4_bwd_fin(Dims d, const float *dt, const float *A, const float *dcs_row, const float *dcs_col,
                           const float *dcs_end, const float *ddt_dir, float *ddt, float *dA)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)d.batch * d.nc * d.H) return;
    const int h = i % d.H, c = (i / d.H) % d.nc, b = i / ((size_t)d.H * d.nc);
    const int end = chunk_end(d, c), start = c * d.Q;
    const float Ah = A[h];
    float acc = dcs_end[((size_t)b * d.H + h) * d.nc + c], dAh = 0.f;
    for (int t1 = end; t1 >= start; t1 -= 16) {
        float rc[16], dd[16], dv[16];
#pragma unroll
        for (int u = 0; u < 16; u++) {
            const int t = t1 - u;
            if (t >= start) {
                rc[u] = dcs_row[cso(d, b, h, t)] + dcs_col[cso(d, b, h, t)];
                dd[u] = ddt_dir[cso(d, b, h, t)];
                dv[u] = dt[dto(d, b, t, h)];
            }
        }
#pragma unroll
        for (int u = 0; u < 16; u++) {
            const int t = t1 - u;
            if (t >= start) {
                acc += rc[u];   /* da_t */
                ddt[dto(d, b, t, h)] = dd[u] + Ah * acc;
                dAh += dv[u] * acc;
            }
        }
    }
    atomicAdd(dA + h, dAh);
}

/* ---------- (7.8) and (7.22), the passes over chunks (as k_pass, k_pass_bwd) ----------
 * The same recurrences, one thread per (b, h, state entry), with the loads of the next PF
 * chunks in flight while the current one is updated. In k_pass each iteration's load waits
 * for the previous iteration's store to the same array (the compiler cannot tell the
 * addresses apart), so a thread has ONE load in flight: about a DRAM latency per chunk,
 * nc of them in a row. */
#define PF 4
/* st16 (v6; may be NULL): a bf16 copy of each entering state, the same rounding state_in makes */
__global__ void __launch_bounds__(256) k4_pass(Dims d, float *states, const float *cs, const float *h0, float *h_last,
                                               bf16 *st16)
{
    const size_t PN = (size_t)d.P * d.N, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int bh = blockIdx.y, b = bh / d.H, h = bh % d.H;
    if (i >= PN) return;
    float carry = h0 ? h0[(size_t)bh * PN + i] : 0.f, sv[PF], dv[PF];
#pragma unroll
    for (int k = 0; k < PF; k++)
        if (k < d.nc) {
            sv[k] = states[sto(d, b, k, h) + i];
            dv[k] = __expf(cs[cso(d, b, h, chunk_end(d, k))]);
        }
    for (int c0 = 0; c0 < d.nc; c0 += PF)
#pragma unroll
        for (int k = 0; k < PF; k++) {
            const int c = c0 + k;
            if (c >= d.nc) break;
            const float s = sv[k], decay = dv[k];
            if (c + PF < d.nc) {   /* issued before this chunk's store */
                sv[k] = states[sto(d, b, c + PF, h) + i];
                dv[k] = __expf(cs[cso(d, b, h, chunk_end(d, c + PF))]);
            }
            states[sto(d, b, c, h) + i] = carry;
            if (st16) st16[sto(d, b, c, h) + i] = __float2bfloat16_rn(carry);
            carry = decay * carry + s;
        }
    if (h_last) h_last[(size_t)bh * PN + i] = carry;
}

/* zg[c]: Z_c in, G_c out; adds e^{cs_end} ⟨G_c, H_{c−1}⟩ to dcs_end: OPT = 0 (v4, v5) one atomic
 * per block and chunk after a block reduction (two barriers per chunk); OPT = 1 (v6) one atomic
 * per warp and chunk after a warp reduction (no barrier) */
template <int OPT>
__global__ void __launch_bounds__(256) k4_pass_bwd(Dims d, float *zg, const float *states, const float *cs,
                                                   const float *dh_last, float *dh0, float *dcs_end)
{
    __shared__ float red[256 / 32];
    const size_t PN = (size_t)d.P * d.N, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int bh = blockIdx.y, b = bh / d.H, h = bh % d.H;
    const bool in = i < PN;
    float G = in && dh_last ? dh_last[(size_t)bh * PN + i] : 0.f, zv[PF], hv[PF], dv[PF];
    auto fetch = [&](int k, int c) {
        zv[k] = in ? zg[sto(d, b, c, h) + i] : 0.f;
        hv[k] = in ? states[sto(d, b, c, h) + i] : 0.f;
        dv[k] = __expf(cs[cso(d, b, h, chunk_end(d, c))]);
    };
#pragma unroll
    for (int k = 0; k < PF; k++)
        if (d.nc - 1 - k >= 0) fetch(k, d.nc - 1 - k);
    for (int c0 = d.nc - 1; c0 >= 0; c0 -= PF)
#pragma unroll
        for (int k = 0; k < PF; k++) {
            const int c = c0 - k;
            if (c < 0) break;
            const float z = zv[k], hval = hv[k], decay = dv[k];
            if (c - PF >= 0) fetch(k, c - PF);
            if (in) zg[sto(d, b, c, h) + i] = G;
            if (OPT) {
                const float dot = warp_sum(decay * G * hval);
                if ((threadIdx.x & 31) == 0) atomicAdd(dcs_end + (size_t)bh * d.nc + c, dot);
            } else {
                const float dot = block_sum(decay * G * hval, red);
                if (threadIdx.x == 0) atomicAdd(dcs_end + (size_t)bh * d.nc + c, dot);
            }
            G = decay * G + z;
        }
    if (in && dh0) dh0[(size_t)bh * PN + i] = G;
}

/* ---------- backward over source rows s (as k_bwd_s): dx, dB, ddt's direct part, ∂/∂cs ----------
 * One block per (tile of 64 rows s, h, c, b), looping over the target tiles t ≥ s (bwd_pair,
 * then bwd_source_end). v4 (FUSED = 0) leaves dC and the row sums to k4_bwd_t.
 * v5 (FUSED = 1): k4_bwd_t recomputes, for every pair of tiles (t, s), the two products
 * C_t B_sᵀ and dY_t X_sᵀ that the source side has just computed (transposed) — and reloads
 * the four tiles. Here the block of the source tile s does the target side too: dC_t += Db_tsᵀ-side product
 * Σ_s Db[s][t] B_s[n] (Db staged in shared memory as bf16, read transposed by ldmatrix: each
 * warp then owns 16 rows t), added to dC with float2 atomics (dC is shared by the heads of a
 * group and now also by the source tiles s ≤ t of a chunk); the row sums Σ_s T_ts and
 * U_t go to dcs_row by atomics (zeroed first). The terms of dC and U that come from the
 * entering state H_{c−1} are done by the diagonal block (t-tile = s-tile). */
__host__ __device__ static inline size_t m5_hdb(int P, int N)   /* H, then Db (64 × 72), then G */
{
    const size_t a = (size_t)P * (N + 8), b = (size_t)TT * (TT + 8);
    return (a > b ? a : b) * sizeof(bf16);
}
/* v8 (OPT = 3): no dBs tile, and H passes through a P × 64 buffer (dc_state<true>) */
__host__ __device__ static inline size_t m5_bwd_smem(int P, int N, int v8 = 0)
{
    return 2 * m4_tile(N) + 2 * m4_tile(P) + (v8 ? m4_tile(TT) : m5_hdb(P, N)) +
           (v8 ? 0 : (size_t)TT * (N + 8) * sizeof(float)) +
           (3 * TT + 4 * TT + 2 * (M4_THREADS / 32) + TT) * sizeof(float);
}
__host__ __device__ static inline int m8_npairs(int Q) { return (Q / TT) * (Q / TT + 1) / 2; }
/* v8 (ssd_v7.cuh): C_t B_sᵀ and dCB per (b, group, chunk, tile pair) in the fragment order of
 * the tile kernels' threads; the float4 index of lane 0's block j = 0 for warp w of pair (tt, ss) of chunk c, head h's group */
__device__ __forceinline__ size_t cb_at(const Dims &d, int b, int h, int c, int tt, int ss, int warp)
{
    const size_t blk = (((size_t)b * d.G + h / (d.H / d.G)) * d.nc + c) * m8_npairs(d.Q) + tt * (tt + 1) / 2 + ss;
    return ((blk * 4 + warp) * 8) * 32 + (threadIdx.x & 31);
}
template <typename In, int FUSED, int OPT>
__global__ void __launch_bounds__(M4_THREADS, 3) k_bwd_src(Dims d, const In *x, const In *B, const In *C, const In *dy,
                                                     const float *dt, const float *D, const float *cs,
                                                     const float *states, const bf16 *st16, int has_state,
                                                     const float *zg, const bf16 *zg16, const float4 *bc, float *dx,
                                                     float *dB, float *dC, float *dD, float *ddt_dir, float *dcs_col,
                                                     float *dcs_row, float *dcs_end)
{
    extern __shared__ __align__(128) char smem[];
    const int P = d.P, N = d.N, ldn = N + 8, ldp = P + 8, ldf = N + 8, ldd = TT + 8;
    char *base = smem;
    bf16 *Bs = (bf16 *)base, *Ct = (bf16 *)(base + m4_tile(N)), *Xs = (bf16 *)(base + 2 * m4_tile(N)),
         *dYt = (bf16 *)(base + 2 * m4_tile(N) + m4_tile(P)), *HDb = (bf16 *)(base + 2 * m4_tile(N) + 2 * m4_tile(P));
    float *dBs = (float *)(base + 2 * m4_tile(N) + 2 * m4_tile(P) + (OPT == 3 ? m4_tile(TT) : FUSED ? m5_hdb(P, N) : 0)),
          *cs_s = dBs + (OPT == 3 ? 0 : TT * ldf), *dt_s = cs_s + TT, *cs_t = dt_s + TT, *rowT = cs_t + TT,
          *red = rowT + (FUSED ? 4 * TT : 0), *tau = red + 2 * (M4_THREADS / 32);
    bf16 *Hs = HDb, *Dbs = HDb, *Gs = Ct;   /* H_{c−1} (first iteration), Db (each), G_c (after) */
    const TileAt at = tile_at(d);
    const LaneAt la = lane_at();
    const int h = at.h, ss = at.tile, c = at.c, b = at.b, s0 = at.row0;
    if (s0 >= d.L) return;
    const int warp = la.warp, g = la.g, q = la.q, m0 = la.m0, r0 = la.r0, r1 = la.r1;
    const int svalid = min(TT, d.L - s0), end = chunk_end(d, c), ntile = d.Q / TT;
    const bool state = FUSED && (has_state || c > 0);
    const float cs_end = cs[cso(d, b, h, end)];
    const size_t ldbc = (size_t)d.G * N;
    source_in(d, b, h, s0, svalid, B, x, cs, dt, Bs, Xs, cs_s, dt_s);
    auto target_in = [&](int t0, int tvalid) {   /* the target tile t0 …: C, dy, running sums */
        if (OPT != 3 || t0 == s0)   /* v8: C_t only for the entering state's U_t (diagonal tile) */
            tile_in(Ct, ldn, C + bco(d, b, t0, h), ldbc, TT, N, tvalid);
        tile_in(dYt, ldp, dy + xo(d, b, t0, h), (size_t)d.H * P, TT, P, tvalid);
        for (int r = threadIdx.x; r < TT; r += blockDim.x) {
            cs_t[r] = r < tvalid ? cs[cso(d, b, h, t0 + r)] : 0.f;
            if (OPT >= 2) tau[r] = r < tvalid ? cs_t[r] * LOG2E : -INFINITY;   /* v7's mask */
        }
    };
    if (OPT) target_in(s0, min(TT, end + 1 - s0));   /* v6: the first target tile (t = s) with the source's */
    if (state && OPT && OPT != 3)   /* v6: H_{c−1} already in bf16, by cp.async (v8: later, by slices) */
        tile_in(Hs, ldn, st16 + sto(d, b, c, h), (size_t)N, P, N, P);
    else if (state && !OPT)
        state_in<0>(Hs, ldn, states + sto(d, b, c, h), P, N);
    for (int i = threadIdx.x; i < (OPT == 3 ? 0 : TT * ldf); i += blockDim.x) dBs[i] = 0.f;
    float dX[8][4], col0 = 0.f, col1 = 0.f;
    zero_acc(dX);
    for (int tt = ss; tt < ntile && c * d.Q + tt * TT <= end; tt++) {
        const int t0 = c * d.Q + tt * TT, tvalid = min(TT, end + 1 - t0);
        const bool diag = tt == ss;
        __syncthreads();   /* the previous target tile, Db and rowT are consumed */
        if (!OPT || !diag) target_in(t0, tvalid);
        cp_wait();
        __syncthreads();
        if (FUSED && diag) {   /* the entering state's part of dC_t and U_t; warp w: rows t = m0 … m0 + 15 */
            float u0 = 0.f, u1 = 0.f;
            if (state)
                dc_state<OPT == 3>(d, dYt, Hs, Ct, cs_t, m0, u0, u1, [&](int n0, int nj, const float (&T)[8][4]) {
                    acc_atomics(dC + bco(d, b, t0, h), ldbc, m0, tvalid, n0, nj, T);
                }, st16 + sto(d, b, c, h));
            u0 = quad_sum(u0);
            u1 = quad_sum(u1);
            if (q == 0 && state) {
                if (r0 < tvalid) atomicAdd(dcs_row + cso(d, b, h, t0 + r0), u0);
                if (r1 < tvalid) atomicAdd(dcs_row + cso(d, b, h, t0 + r1), u1);
            }
            __syncthreads();   /* H is consumed: its buffer holds Db from here on */
        }
        uint32_t pd[4][4];
        float rs[8][2];   /* Σ over this thread's two rows s of T_ts */
        bwd_pair<FUSED, (OPT >= 2), (OPT != 3)>(d, Bs, Xs, Ct, dYt, cs_s, dt_s, cs_t, tau, svalid, tvalid, diag, dX, dBs, col0, col1, pd, rs,
                                                 OPT == 3 ? bc + cb_at(d, b, h, c, tt, ss, warp) : nullptr);
        if constexpr (FUSED == 1) {   /* the target side (v5) */
        /* Db (rows s, columns t) to shared memory as bf16, for the transposed product below:
         * the A fragments ARE those bf16 pairs (to_afrag's layout); v8 (OPT = 3) sums Db over
         * the group first (k8_dcb) and keeps only the row sums here */
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            if (OPT == 3) break;
            const int t = kk * 16 + 2 * q;
            *(uint32_t *)(Dbs + r0 * ldd + t) = pd[kk][0];
            *(uint32_t *)(Dbs + r1 * ldd + t) = pd[kk][1];
            *(uint32_t *)(Dbs + r0 * ldd + t + 8) = pd[kk][2];
            *(uint32_t *)(Dbs + r1 * ldd + t + 8) = pd[kk][3];
        }
        /* column sums of T over the warp's 16 rows s: lanes with the same q hold the same
         * columns (g = lane / 4 varies), so sum across lane bits 2–4 */
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int k = 0; k < 2; k++) {
                float v = rs[j][k];
                v += __shfl_xor_sync(0xffffffffu, v, 4);
                v += __shfl_xor_sync(0xffffffffu, v, 8);
                v += __shfl_xor_sync(0xffffffffu, v, 16);
                if (g == 0) rowT[warp * TT + j * 8 + 2 * q + k] = v;
            }
        __syncthreads();   /* Db and rowT complete */
        /* dC_t += Σ_s Db[s][t] B_s: warp w now owns rows t = m0 … m0 + 15; A(t, s) = Db[s][t]
         * (transposed load); on the diagonal tile only s ≤ t, so k steps up to 16 (w + 1) */
        const int kmax = diag ? m0 + 16 : TT;
        for (int n0 = 0; n0 < (OPT == 3 ? 0 : N); n0 += 64) {
            float T[8][4];
            zero_acc(T);
            const int nj = min(8, (N - n0) / 8);
            warp_mm_kn<true>(T, Dbs, ldd, m0, kmax, Bs, ldn, n0, nj);   /* B(s, n) = B_s[s][n] */
            acc_atomics(dC + bco(d, b, t0, h), ldbc, m0, tvalid, n0, nj, T);
        }
        for (int t = threadIdx.x; t < tvalid; t += blockDim.x)
            atomicAdd(dcs_row + cso(d, b, h, t0 + t), rowT[t] + rowT[TT + t] + rowT[2 * TT + t] + rowT[3 * TT + t]);
        }
    }
    bwd_source_end<In, OPT>(d, b, h, c, s0, svalid, cs_end, x, dy, D, zg, zg16, Bs, Xs, Gs, dBs, cs_s, dt_s, red, col0, col1, dX, dx,
                   dB, dD, ddt_dir, dcs_col, dcs_end);
}


/* ---------- host side of v4 ---------- */
/* v4, v5: OPT = 0; v6: OPT = 1 (k4_cumsum, the batched loads of state_in and the epilogue) */
template <typename In, int OPT>
static int forward_m(const ssd_gpu_params *p, void *y, float *h_last, void *ws)
{
    const Dims d = dims_of(p);
    Work w;
    work_layout(p, 0, (char *)ws, &w);
    const size_t sst = m4_state_smem(d.P, d.N), sout = m4_out_smem(d.P, d.N);
    SSD_TRY(smem_ok(k4_state<In, 0, OPT>, sst));
    SSD_TRY(OPT ? smem_ok(k6_out<In>, sout) : smem_ok(k4_out<In>, sout));
    const size_t nbch = (size_t)d.batch * d.nc * d.H, PN = (size_t)d.P * d.N;
    (OPT ? k4_cumsum : k_cumsum)<<<(unsigned)((nbch + 255) / 256), 256>>>(d, p->dt, p->A, w.cs);
    SSD_LAUNCHED();
    k4_state<In, 0, OPT><<<dim3(d.H, d.nc, d.batch), m4_state_threads(d.P, d.N), sst>>>(
        d, (const In *)p->x, (const In *)p->B, p->dt, w.cs, w.states);
    SSD_LAUNCHED();
    k4_pass<<<dim3((unsigned)((PN + 255) / 256), d.batch * d.H), 256>>>(d, w.states, w.cs, p->h0, h_last, OPT ? w.st16 : nullptr);
    SSD_LAUNCHED();
    const dim3 grid(d.H * (d.Q / TT), d.nc, d.batch);
    if (OPT)
        k6_out<In><<<grid, M4_THREADS, sout>>>(d, (const In *)p->x, (const In *)p->B, (const In *)p->C, p->dt, p->D,
                                               w.cs, w.st16, p->h0 != nullptr, (In *)y);
    else
        k4_out<In><<<grid, M4_THREADS, sout>>>(d, (const In *)p->x, (const In *)p->B, (const In *)p->C, p->dt, p->D,
                                               w.cs, w.states, p->h0 != nullptr, (In *)y);
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}

/* v4 (FUSED = 0): k_bwd_src + k4_bwd_t; v5 (FUSED = 1): k_bwd_src alone; v6: v5 with OPT = 1 */
template <typename In, int FUSED, int OPT>
static int backward_m(const ssd_gpu_params *p, const void *dy, const float *dh_last, void *ws, ssd_gpu_grads *g)
{
    const Dims d = dims_of(p);
    Work w;
    work_layout(p, 1, (char *)ws, &w);
    const size_t sst = m4_state_smem(d.P, d.N), sbw = FUSED ? m5_bwd_smem(d.P, d.N) : m4_bwd_smem(d.P, d.N);
    SSD_TRY(smem_ok(k4_state<In, 0, OPT>, sst));
    SSD_TRY(smem_ok(k4_state<In, 1, OPT>, sst));
    if (FUSED) {
        SSD_TRY(smem_ok(k_bwd_src<In, 1, OPT>, sbw));
    } else {
        SSD_TRY(smem_ok(k_bwd_src<In, 0, OPT>, sbw));
        SSD_TRY(smem_ok(k4_bwd_t<In>, sbw));
    }
    const size_t nbch = (size_t)d.batch * d.nc * d.H, PN = (size_t)d.P * d.N;
    const int nth = m4_state_threads(d.P, d.N);
    (OPT ? k4_cumsum : k_cumsum)<<<(unsigned)((nbch + 255) / 256), 256>>>(d, p->dt, p->A, w.cs);
    SSD_LAUNCHED();
    k4_state<In, 0, OPT><<<dim3(d.H, d.nc, d.batch), nth, sst>>>(d, (const In *)p->x, (const In *)p->B, p->dt, w.cs,
                                                            w.states);
    SSD_LAUNCHED();
    k4_pass<<<dim3((unsigned)((PN + 255) / 256), d.batch * d.H), 256>>>(d, w.states, w.cs, p->h0, nullptr, OPT ? w.st16 : nullptr);
    SSD_LAUNCHED();
    SSD_TRY(zero_sums(d, w, FUSED, g));
    k4_state<In, 1, OPT><<<dim3(d.H, d.nc, d.batch), nth, sst>>>(d, (const In *)dy, (const In *)p->C, p->dt, w.cs,
                                                            w.zg);
    SSD_LAUNCHED();
    k4_pass_bwd<OPT><<<dim3((unsigned)((PN + 255) / 256), d.batch * d.H), 256>>>(d, w.zg, w.states, w.cs, dh_last,
                                                                          p->h0 ? g->dh0 : nullptr, w.dcs_end);
    SSD_LAUNCHED();
    const dim3 grid(d.H * (d.Q / TT), d.nc, d.batch);
    const In *x = (const In *)p->x, *B = (const In *)p->B, *C = (const In *)p->C, *dY = (const In *)dy;
    float *dD = p->D ? g->dD : nullptr;
    if (FUSED) {
        k_bwd_src<In, 1, OPT><<<grid, M4_THREADS, sbw>>>(d, x, B, C, dY, p->dt, p->D, w.cs, w.states, w.st16,
                                                         p->h0 != nullptr, w.zg, nullptr, nullptr,
                                              g->dx, g->dB, g->dC, dD, w.ddt_dir, w.dcs_col, w.dcs_row, w.dcs_end);
        SSD_LAUNCHED();
    } else {
        k_bwd_src<In, 0, OPT><<<grid, M4_THREADS, sbw>>>(d, x, B, C, dY, p->dt, p->D, w.cs, w.states, w.st16, 0, w.zg, nullptr, nullptr,
                                                         g->dx,
                                                    g->dB, nullptr, dD, w.ddt_dir, w.dcs_col, nullptr, w.dcs_end);
        SSD_LAUNCHED();
        k4_bwd_t<In><<<grid, M4_THREADS, sbw>>>(d, x, B, C, dY, p->dt, w.cs, w.states, p->h0 != nullptr, g->dC,
                                                w.dcs_row);
        SSD_LAUNCHED();
    }
    (OPT ? k4_bwd_fin : k_bwd_fin)<<<(unsigned)((nbch + 255) / 256), 256>>>(d, p->dt, p->A, w.dcs_row, w.dcs_col,
                                                                          w.dcs_end, w.ddt_dir, g->ddt, g->dA);
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}
