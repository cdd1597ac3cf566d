/* 07_ssd_mamba2/gpu/ssd_gpu.cu — the chunked SSD algorithm, forward and backward, on the
 * GPU (chapter 7.7). See ssd_gpu.h for the equations, shapes and the two versions. */
#include <mma.h>
#include <stdint.h>
#include <stdlib.h>
#include <type_traits>

#include "06_hw_aware_cuda/scan/scan_device.cuh"
#include "07_ssd_mamba2/gpu/ssd_gpu.h"

#define TT SSD_GPU_TILE   /* tile rows */
#define NT 256            /* threads per tile kernel: 8 warps */

#define SSD_CUDA(call)                                        \
    do {                                                      \
        if ((call) != cudaSuccess) return SSD_GPU_ECUDA;      \
    } while (0)
#define SSD_LAUNCHED() SSD_CUDA(cudaGetLastError())

typedef __nv_bfloat16 bf16;

/* ======================= the tile product, two ways =======================
 * Cs (M × Nc, fp32, leading dimension ldc) = [Cs +] op(A) · op(B), with
 *   op(A)(i, k) = TA ? A[k·lda + i] : A[i·lda + k]     (M × K)
 *   op(B)(k, j) = TB ? B[j·ldb + k] : B[k·ldb + j]     (K × Nc)
 * all in shared memory; M, Nc, K multiples of 16. Called by the whole block. */

/* v1: fp32 on the CUDA cores, one output element per thread per pass. */
template <bool TA, bool TB, bool ACC>
__device__ void tile_mm(float *Cs, int ldc, const float *A, int lda, const float *B, int ldb, int M,
                        int Nc, int K)
{
    for (int idx = threadIdx.x; idx < M * Nc; idx += blockDim.x) {
        const int i = idx / Nc, j = idx % Nc;
        float s = ACC ? Cs[i * ldc + j] : 0.f;
        for (int k = 0; k < K; k++)
            s += (TA ? A[k * lda + i] : A[i * lda + k]) * (TB ? B[j * ldb + k] : B[k * ldb + j]);
        Cs[i * ldc + j] = s;
    }
}

/* v2: bf16 on the tensor cores; each warp owns 16 × 16 output tiles, the accumulator
 * fragment loaded from and stored back to Cs (fp32). A transposed operand is the same
 * memory read as column-major, so no transpose is ever materialized. */
template <bool TA, bool TB, bool ACC>
__device__ void tile_mm(float *Cs, int ldc, const bf16 *A, int lda, const bf16 *B, int ldb, int M,
                        int Nc, int K)
{
    using namespace nvcuda;
    using LA = typename std::conditional<TA, wmma::col_major, wmma::row_major>::type;
    using LB = typename std::conditional<TB, wmma::col_major, wmma::row_major>::type;
    const int warp = threadIdx.x >> 5, nw = blockDim.x >> 5, tn = Nc / 16;
    for (int tile = warp; tile < (M / 16) * tn; tile += nw) {
        const int ti = tile / tn, tj = tile % tn;
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
        float *cp = Cs + ti * 16 * ldc + tj * 16;
        if (ACC) wmma::load_matrix_sync(c, cp, ldc, wmma::mem_row_major);
        else wmma::fill_fragment(c, 0.f);
        for (int k = 0; k < K; k += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LA> a;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LB> b;
            wmma::load_matrix_sync(a, TA ? A + k * lda + ti * 16 : A + ti * 16 * lda + k, lda);
            wmma::load_matrix_sync(b, TB ? B + tj * 16 * ldb + k : B + k * ldb + tj * 16, ldb);
            wmma::mma_sync(c, a, b, c);
        }
        wmma::store_matrix_sync(cp, c, ldc, wmma::mem_row_major);
    }
}

/* ======================= shared-memory layouts =======================
 * One function per kernel lists its buffers; the host runs the same function on a null base
 * to learn the size. Every buffer starts on a 128-byte boundary (WMMA needs 32). */
struct Carver {
    char *base;
    size_t off;
    template <typename U> __host__ __device__ U *take(size_t n)
    {
        U *p = (U *)(base + off);
        off += (n * sizeof(U) + 127) & ~(size_t)127;
        return p;
    }
};
__host__ __device__ static inline int imax(int a, int b) { return a > b ? a : b; }

template <typename T> struct StateSmem {   /* chunk states (7.7) and their adjoint Z */
    T *U, *V;
    float *acc, *w;
    __host__ __device__ StateSmem(Carver &c, int P, int N)
    {
        U = c.take<T>((size_t)TT * P); V = c.take<T>((size_t)TT * N);
        acc = c.take<float>((size_t)P * N); w = c.take<float>(TT);
    }
};
template <typename T> struct OutSmem {     /* chunk output (7.6) + (7.9) */
    T *Ct, *Bs, *Xs, *Mb;
    float *S, *Y, *cs_t, *cs_s, *dt_s;
    __host__ __device__ OutSmem(Carver &c, int P, int N)
    {
        Ct = c.take<T>((size_t)TT * N); Bs = c.take<T>((size_t)imax(TT, P) * N);
        Xs = c.take<T>((size_t)TT * P); Mb = c.take<T>((size_t)TT * TT);
        S = c.take<float>((size_t)TT * TT); Y = c.take<float>((size_t)TT * P);
        cs_t = c.take<float>(TT); cs_s = c.take<float>(TT); dt_s = c.take<float>(TT);
    }
};
template <typename T> struct BwdSSmem {    /* backward over source rows s: dx, dB, ddt */
    T *Bs, *Xs, *Ct, *dyt, *Mb, *Db;
    float *S1, *S2, *dX, *dB, *cs_s, *dt_s, *cs_t, *colsum, *red;
    __host__ __device__ BwdSSmem(Carver &c, int P, int N)
    {
        Bs = c.take<T>((size_t)TT * N); Xs = c.take<T>((size_t)TT * P);
        Ct = c.take<T>((size_t)imax(TT, P) * N); dyt = c.take<T>((size_t)TT * P);
        Mb = c.take<T>((size_t)TT * TT); Db = c.take<T>((size_t)TT * TT);
        S1 = c.take<float>((size_t)TT * imax(TT, P)); S2 = c.take<float>((size_t)TT * TT);
        dX = c.take<float>((size_t)TT * P); dB = c.take<float>((size_t)TT * N);
        cs_s = c.take<float>(TT); dt_s = c.take<float>(TT); cs_t = c.take<float>(TT);
        colsum = c.take<float>(TT); red = c.take<float>(2 * NT / 32);
    }
};
template <typename T> struct BwdTSmem {    /* backward over target rows t: dC */
    T *Ct, *dyt, *Bs, *Xs, *Db;
    float *S1, *S2, *dC, *cs_t, *cs_s, *dt_s, *rowsum, *U;
    __host__ __device__ BwdTSmem(Carver &c, int P, int N)
    {
        Ct = c.take<T>((size_t)TT * N); dyt = c.take<T>((size_t)TT * P);
        Bs = c.take<T>((size_t)imax(TT, P) * N); Xs = c.take<T>((size_t)TT * P);
        Db = c.take<T>((size_t)TT * TT);
        S1 = c.take<float>((size_t)TT * TT); S2 = c.take<float>((size_t)TT * TT);
        dC = c.take<float>((size_t)TT * N);
        cs_t = c.take<float>(TT); cs_s = c.take<float>(TT); dt_s = c.take<float>(TT);
        rowsum = c.take<float>(TT); U = c.take<float>(TT);
    }
};
template <template <typename> class S, typename T> static size_t smem_bytes(int P, int N)
{
    Carver c{nullptr, 0};
    S<T> s(c, P, N);
    (void)s;
    return c.off;
}

/* ======================= shared helpers ======================= */
struct Dims {
    int batch, L, H, P, G, N, Q, nc;
};
/* the block's dynamic shared memory carved as layout S (what the host sized with smem_bytes) */
__device__ __forceinline__ char *dyn_smem()
{
    extern __shared__ __align__(128) char smem_[];
    return smem_;
}
template <template <typename> class S, typename T> __device__ __forceinline__ S<T> carve(const Dims &d)
{
    Carver c{dyn_smem(), 0};
    return S<T>(c, d.P, d.N);
}
/* element offsets: x (b, L, H, P); dt (b, L, H); B, C (b, L, G, N); cs (b, H, L);
 * chunk states (b, nc, H, P, N) */
__device__ __forceinline__ size_t xo(const Dims &d, int b, int t, int h) { return (((size_t)b * d.L + t) * d.H + h) * d.P; }
__device__ __forceinline__ size_t dto(const Dims &d, int b, int t, int h) { return ((size_t)b * d.L + t) * d.H + h; }
__device__ __forceinline__ size_t bco(const Dims &d, int b, int t, int h) { return (((size_t)b * d.L + t) * d.G + h / (d.H / d.G)) * d.N; }
__device__ __forceinline__ size_t cso(const Dims &d, int b, int h, int t) { return ((size_t)b * d.H + h) * d.L + t; }
__device__ __forceinline__ size_t sto(const Dims &d, int b, int c, int h) { return (((size_t)b * d.nc + c) * d.H + h) * (size_t)d.P * d.N; }
/* the last step of chunk c (the chunk may be short at the sequence's end) */
__device__ __forceinline__ int chunk_end(const Dims &d, int c) { return min(d.L, (c + 1) * d.Q) - 1; }

/* where a tile block is: head h, tile index within the chunk, chunk c, batch b, its first
 * row (blockIdx.x = head × tiles per chunk + tile) */
struct TileAt {
    int h, tile, c, b, row0, valid;   /* valid: its rows inside the sequence (≤ 0: none) */
};
__device__ __forceinline__ TileAt tile_at(const Dims &d)
{
    const int ntile = d.Q / TT, tile = blockIdx.x % ntile, c = blockIdx.y, row0 = c * d.Q + tile * TT;
    return TileAt{(int)blockIdx.x / ntile, tile, c, (int)blockIdx.z, row0, min(TT, d.L - row0)};
}

/* f(r, k, a) for each run of W columns [k, k + W) of rows r < valid of NS slabs of the same
 * shape (cols columns, row stride ld), a[s][j] the fp32 value of src[s] at (r, k + j).
 *   !VEC (v1, v2): W = 1, one element per thread per iteration: each iteration's load waits
 *                  for the previous iteration's use of it (a latency-bound loop);
 *   VEC (v3):      W = 16 bytes / sizeof(In), 16-byte loads, U = 4 of them per thread issued
 *                  before any is used (cols is a multiple of 16, rows start 32-byte aligned). */
template <bool VEC, int NS, typename In, typename F>
__device__ __forceinline__ void for_rows(const In *const (&src)[NS], size_t ld, int cols, int valid, F f)
{
    constexpr int W = VEC ? 16 / sizeof(In) : 1, U = VEC ? 4 : 1;
    const int vc = cols / W, nv = valid * vc;
    for (int base = threadIdx.x; base < nv; base += U * blockDim.x) {
        float a[U][NS][W];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int i = base + u * blockDim.x;
            if (i >= nv) continue;
            const size_t o = (size_t)(i / vc) * ld + (i % vc) * W;
#pragma unroll
            for (int q = 0; q < NS; q++) {
                if (VEC) {
                    const uint4 v = __ldg((const uint4 *)(src[q] + o));
                    const In *e = (const In *)&v;
#pragma unroll
                    for (int j = 0; j < W; j++) a[u][q][j] = to_f(e[j]);
                } else {
                    a[u][q][0] = to_f(src[q][o]);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int i = base + u * blockDim.x;
            if (i < nv) f(i / vc, (i % vc) * W, a[u]);
        }
    }
}

/* rows [t0, t0 + TT) of a (·, cols) slab with row stride ld into a TT × cols tile, each row
 * times scale[r] if scale is given; rows at or past `valid` are zero (the sequence's end). */
template <bool VEC, typename T, typename In>
__device__ void load_tile(T *dst, const In *src, size_t ld, int cols, int valid, const float *scale)
{
    constexpr int W = VEC ? 16 / sizeof(In) : 1;
    for (int i = valid * cols + threadIdx.x; i < TT * cols; i += blockDim.x) dst[i] = from_f<T>(0.f);
    const In *const srcs[1] = {src};
    for_rows<VEC>(srcs, ld, cols, valid, [&](int r, int k, const float (&a)[1][W]) {
        const float sc = scale ? scale[r] : 1.f;
#pragma unroll
        for (int j = 0; j < W; j++) dst[r * cols + k + j] = from_f<T>(a[0][j] * sc);
    });
}
/* a contiguous fp32 matrix (n elements, n a multiple of 4) into a tile of type T */
template <bool VEC, typename T> __device__ void load_dense(T *dst, const float *src, int n)
{
    const float *const srcs[1] = {src};
    constexpr int W = VEC ? 4 : 1;
    for_rows<VEC>(srcs, (size_t)n, n, 1, [&](int, int k, const float (&a)[1][W]) {
#pragma unroll
        for (int j = 0; j < W; j++) dst[k + j] = from_f<T>(a[0][j]);
    });
}
/* the source tile s0 … s0 + svalid − 1 of the intra-chunk products: its running sums, steps,
 * B rows and x rows (rows past the end: zero) */
template <bool VEC, typename T, typename In>
__device__ void load_source(const Dims &d, int b, int h, int s0, int svalid, const float *cs, const float *dt,
                            const In *B, const In *x, float *cs_s, float *dt_s, T *Bs, T *Xs)
{
    for (int r = threadIdx.x; r < TT; r += blockDim.x) {
        cs_s[r] = r < svalid ? cs[cso(d, b, h, s0 + r)] : 0.f;
        dt_s[r] = r < svalid ? dt[dto(d, b, s0 + r, h)] : 0.f;
    }
    load_tile<VEC>(Bs, B + bco(d, b, s0, h), (size_t)d.G * d.N, d.N, svalid, (const float *)nullptr);
    load_tile<VEC>(Xs, x + xo(d, b, s0, h), (size_t)d.H * d.P, d.P, svalid, (const float *)nullptr);
}
/* the loop over source tiles of k_chunk_out and k_bwd_t: once the block is done with the
 * previous tile, the tile at s0 (returns its rows inside the sequence) */
template <bool VEC, typename T, typename In>
__device__ int next_source(const Dims &d, int b, int h, int s0, const float *cs, const float *dt, const In *B,
                           const In *x, float *cs_s, float *dt_s, T *Bs, T *Xs)
{
    const int svalid = min(TT, d.L - s0);
    __syncthreads();
    load_source<VEC>(d, b, h, s0, svalid, cs, dt, B, x, cs_s, dt_s, Bs, Xs);
    __syncthreads();
    return svalid;
}
/* Sum of v over the block (every thread gets it; warp_sum is stage 06's); red holds NT/32
 * floats. */
__device__ float block_sum(float v, float *red)
{
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.f;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) s += red[w];
    __syncthreads();
    return s;
}

/* ======================= forward kernels ======================= */

/* (7.1) cs_t = a_{t0} + … + a_t inside each chunk, a_t = Δ_t A_h. A running sum, so each
 * later difference cs_t − cs_s is of sums over at most Q terms, all ≤ 0 (fp32: an error
 * of about Q·eps·|a| in the exponent). One thread per (b, c, h). */
__global__ void k_cumsum(Dims d, const float *dt, const float *A, float *cs)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)d.batch * d.nc * d.H) return;
    const int h = i % d.H, c = (i / d.H) % d.nc, b = i / ((size_t)d.H * d.nc);
    float r = 0.f;
    for (int t = c * d.Q; t <= chunk_end(d, c); t++) {
        r += dt[dto(d, b, t, h)] * A[h];
        cs[cso(d, b, h, t)] = r;
    }
}

/* (7.7) and its adjoint: out_c[p, n] = Σ_{s∈c} w_s u_s[p] v_s[n] = (w ⊙ U)ᵀ V, a (P × Q)·(Q × N)
 * product per (b, c, h).
 *   ADJ = 0: u = x, v = B, w_s = e^{cs_end − cs_s} Δ_s  → S_c, the state chunk c builds from 0
 *   ADJ = 1: u = dy, v = C, w_t = e^{cs_t}              → Z_c = Σ_t e^{cs_t} dy_t C_tᵀ, what
 *            the outputs of chunk c send back to the state entering it (7.22) */
/* the tile type and loads of each version */
template <int V> struct tile_of { typedef bf16 type; };
template <> struct tile_of<SSD_GPU_V1> { typedef float type; };
#define VERSION_TYPES                                      \
    typedef typename tile_of<V>::type T;                   \
    constexpr bool VEC = V >= SSD_GPU_V3;                  \
    (void)VEC

template <int V, typename In, int ADJ>
__global__ void __launch_bounds__(NT) k_chunk_state(Dims d, const In *u, const In *v, const float *dt,
                                                    const float *cs, float *out)
{
    VERSION_TYPES;
    extern __shared__ __align__(128) char smem[];
    Carver cv{smem, 0};
    StateSmem<T> s(cv, d.P, d.N);
    const int h = blockIdx.x, c = blockIdx.y, b = blockIdx.z, P = d.P, N = d.N;
    const int end = chunk_end(d, c);
    const float cs_end = cs[cso(d, b, h, end)];
    for (int k0 = c * d.Q; k0 <= end; k0 += TT) {
        const int valid = min(TT, end + 1 - k0);
        for (int r = threadIdx.x; r < TT; r += blockDim.x)
            s.w[r] = r >= valid ? 0.f
                     : ADJ ? __expf(cs[cso(d, b, h, k0 + r)])
                           : __expf(cs_end - cs[cso(d, b, h, k0 + r)]) * dt[dto(d, b, k0 + r, h)];
        __syncthreads();
        load_tile<VEC>(s.U, u + xo(d, b, k0, h), (size_t)d.H * P, P, valid, s.w);
        load_tile<VEC>(s.V, v + bco(d, b, k0, h), (size_t)d.G * N, N, valid, (const float *)nullptr);
        __syncthreads();
        if (k0 == c * d.Q) tile_mm<true, false, false>(s.acc, N, s.U, P, s.V, N, P, N, TT);
        else tile_mm<true, false, true>(s.acc, N, s.U, P, s.V, N, P, N, TT);
        __syncthreads();
    }
    float *o = out + sto(d, b, c, h);
    for (int i = threadIdx.x; i < P * N; i += blockDim.x) o[i] = s.acc[i];
}

/* (7.8) state passing, in place: states[c] ← the state ENTERING chunk c; one thread per
 * (b, h, element of P × N), sequential over the chunks. */
__global__ void k_pass(Dims d, float *states, const float *cs, const float *h0, float *h_last)
{
    const size_t PN = (size_t)d.P * d.N, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int bh = blockIdx.y, b = bh / d.H, h = bh % d.H;
    if (i >= PN) return;
    float carry = h0 ? h0[(size_t)bh * PN + i] : 0.f;
    for (int c = 0; c < d.nc; c++) {
        const float decay = __expf(cs[cso(d, b, h, chunk_end(d, c))]);
        float *st = states + sto(d, b, c, h) + i;
        const float s = *st;
        *st = carry;
        carry = decay * carry + s;
    }
    if (h_last) h_last[(size_t)bh * PN + i] = carry;
}

/* (7.6) + (7.9): one block per (b, c, h, tile of TT output rows t):
 *   Y = diag(e^{cs_t}) C_t H_{c−1}ᵀ                             the entering state (7.9)
 *   Y += Σ_{source tiles s ≤ t} (E ∘ C_t B_sᵀ · diag(Δ_s)) X_s    the diagonal block (7.6)
 * with E_ts = e^{cs_t − cs_s} for s ≤ t, else 0 (the 1-semiseparable mask of (7.5));
 *   y = Y + D x. */
template <int V, typename In>
__global__ void __launch_bounds__(NT) k_chunk_out(Dims d, const In *x, const In *B, const In *C,
                                                  const float *dt, const float *D, const float *cs,
                                                  const float *states, int has_state, In *y)
{
    VERSION_TYPES;
    OutSmem<T> s = carve<OutSmem, T>(d);
    const TileAt at = tile_at(d);
    if (at.row0 >= d.L) return;
    const int h = at.h, tt = at.tile, c = at.c, b = at.b, P = d.P, N = d.N, t0 = at.row0, tvalid = at.valid;
    for (int r = threadIdx.x; r < TT; r += blockDim.x) s.cs_t[r] = r < tvalid ? cs[cso(d, b, h, t0 + r)] : 0.f;
    load_tile<VEC>(s.Ct, C + bco(d, b, t0, h), (size_t)d.G * N, N, tvalid, (const float *)nullptr);
    if (has_state || c > 0) {
        load_dense<VEC>(s.Bs, states + sto(d, b, c, h), P * N);       /* H_{c−1} (P × N) */
        __syncthreads();
        tile_mm<false, true, false>(s.Y, P, s.Ct, N, s.Bs, N, TT, P, N);
        __syncthreads();
        for (int i = threadIdx.x; i < TT * P; i += blockDim.x) s.Y[i] *= __expf(s.cs_t[i / P]);
    } else {
        for (int i = threadIdx.x; i < TT * P; i += blockDim.x) s.Y[i] = 0.f;
    }
    for (int ss = 0; ss <= tt; ss++) {
        const int svalid = next_source<VEC>(d, b, h, c * d.Q + ss * TT, cs, dt, B, x, s.cs_s, s.dt_s, s.Bs, s.Xs);
        tile_mm<false, true, false>(s.S, TT, s.Ct, N, s.Bs, N, TT, TT, N);   /* C_t B_sᵀ */
        __syncthreads();
        for (int i = threadIdx.x; i < TT * TT; i += blockDim.x) {
            const int t = i / TT, sr = i % TT;
            const bool on = t < tvalid && sr < svalid && (ss < tt || sr <= t);
            s.Mb[i] = from_f<T>(on ? __expf(s.cs_t[t] - s.cs_s[sr]) * s.S[i] * s.dt_s[sr] : 0.f);
        }
        __syncthreads();
        tile_mm<false, false, true>(s.Y, P, s.Mb, TT, s.Xs, P, TT, P, TT);
    }
    __syncthreads();
    const float Dh = D ? D[h] : 0.f;
    const In *const xs[1] = {x + xo(d, b, t0, h)};
    constexpr int W = VEC ? 16 / sizeof(In) : 1;
    for_rows<VEC>(xs, (size_t)d.H * P, P, tvalid, [&](int t, int p, const float (&a)[1][W]) {
        In *yo = y + xo(d, b, t0 + t, h) + p;
#pragma unroll
        for (int j = 0; j < W; j++) yo[j] = from_f<In>(s.Y[t * P + p + j] + Dh * a[0][j]);
    });
}

/* ======================= backward kernels =======================
 * With G_c = ∂loss/∂(the state at the END of chunk c) and T_ts = E_ts (C_t·B_s) Δ_s (dy_t·x_s),
 * the scalar each intra-chunk pair contributes to Σ dy·y:
 *   (7.22) G_{c−1} = e^{cs_end(c)} G_c + Z_c,   G_{nc−1} = dh_last,  dh0 = G_{−1}
 *   (7.23) dx_s = Δ_s Σ_t E_ts (C_t·B_s) dy_t + e^{cs_end − cs_s} Δ_s G_c B_s + D dy_s
 *          dB_s = Σ_t E_ts Δ_s (dy_t·x_s) C_t   + e^{cs_end − cs_s} Δ_s G_cᵀ x_s
 *          dC_t = Σ_s E_ts Δ_s (dy_t·x_s) B_s   + e^{cs_t} H_{c−1}ᵀ dy_t
 *   (7.24) ∂/∂cs_t += Σ_s T_ts + U_t,  ∂/∂cs_s −= Σ_t T_ts + V_s,  ∂/∂cs_end += Σ_s V_s
 *          + e^{cs_end} ⟨G_c, H_{c−1}⟩, with U_t = e^{cs_t} dy_tᵀ H_{c−1} C_t and
 *          V_s = e^{cs_end − cs_s} Δ_s x_sᵀ G_c B_s; then da_k = Σ_{t ≥ k in the chunk} ∂/∂cs_t,
 *          dΔ_k = (its direct terms) + A_h da_k, dA_h = Σ_k Δ_k da_k. */

/* (7.22) the reverse pass over chunks, in place: zg[c] holds Z_c on entry and G_c on exit.
 * It also adds e^{cs_end} ⟨G_c, H_{c−1}⟩ to dcs_end[b, h, c] (one atomic per block). */
__global__ void __launch_bounds__(NT) k_pass_bwd(Dims d, float *zg, const float *states, const float *cs,
                                                 const float *dh_last, float *dh0, float *dcs_end)
{
    __shared__ float red[NT / 32];
    const size_t PN = (size_t)d.P * d.N, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int bh = blockIdx.y, b = bh / d.H, h = bh % d.H;
    const bool in = i < PN;
    float G = in && dh_last ? dh_last[(size_t)bh * PN + i] : 0.f;
    for (int c = d.nc - 1; c >= 0; c--) {
        const float decay = __expf(cs[cso(d, b, h, chunk_end(d, c))]);
        float z = 0.f, hv = 0.f;
        if (in) {
            float *p = zg + sto(d, b, c, h) + i;
            z = *p;
            *p = G;
            hv = states[sto(d, b, c, h) + i];
        }
        const float dot = block_sum(decay * G * hv, red);
        if (threadIdx.x == 0) atomicAdd(dcs_end + (size_t)bh * d.nc + c, dot);
        G = decay * G + z;
    }
    if (in && dh0) dh0[(size_t)bh * PN + i] = G;
}

/* (7.23)–(7.24), the terms indexed by the SOURCE step s: one block per (b, c, h, tile of
 * TT rows s), looping over the target tiles t ≥ s of the chunk. Writes dx, ddt's direct
 * part, the column part of ∂/∂cs; adds dB (shared by the group's heads), dD and
 * ∂/∂cs_end with atomics. */
template <int V, typename In>
__global__ void __launch_bounds__(NT) k_bwd_s(Dims d, const In *x, const In *B, const In *C, const In *dy,
                                              const float *dt, const float *D, const float *cs,
                                              const float *zg, float *dx, float *dB, float *dD,
                                              float *ddt_dir, float *dcs_col, float *dcs_end)
{
    VERSION_TYPES;
    BwdSSmem<T> s = carve<BwdSSmem, T>(d);
    const TileAt at = tile_at(d);
    if (at.row0 >= d.L) return;
    const int ntile = d.Q / TT, h = at.h, ss = at.tile, c = at.c, b = at.b, P = d.P, N = d.N, s0 = at.row0, svalid = at.valid;
    const int end = chunk_end(d, c);
    const float cs_end = cs[cso(d, b, h, end)];
    for (int r = threadIdx.x; r < TT; r += blockDim.x) s.colsum[r] = 0.f;
    load_source<VEC>(d, b, h, s0, svalid, cs, dt, B, x, s.cs_s, s.dt_s, s.Bs, s.Xs);
    for (int i = threadIdx.x; i < TT * P; i += blockDim.x) s.dX[i] = 0.f;
    for (int i = threadIdx.x; i < TT * N; i += blockDim.x) s.dB[i] = 0.f;
    for (int tt = ss; tt < ntile && c * d.Q + tt * TT <= end; tt++) {
        const int t0 = c * d.Q + tt * TT, tvalid = min(TT, end + 1 - t0);
        __syncthreads();
        for (int r = threadIdx.x; r < TT; r += blockDim.x) s.cs_t[r] = r < tvalid ? cs[cso(d, b, h, t0 + r)] : 0.f;
        load_tile<VEC>(s.Ct, C + bco(d, b, t0, h), (size_t)d.G * N, N, tvalid, (const float *)nullptr);
        load_tile<VEC>(s.dyt, dy + xo(d, b, t0, h), (size_t)d.H * P, P, tvalid, (const float *)nullptr);
        __syncthreads();
        tile_mm<false, true, false>(s.S1, TT, s.Ct, N, s.Bs, N, TT, TT, N);     /* C_t·B_s */
        tile_mm<false, true, false>(s.S2, TT, s.dyt, P, s.Xs, P, TT, TT, P);    /* dy_t·x_s */
        __syncthreads();
        for (int i = threadIdx.x; i < TT * TT; i += blockDim.x) {
            const int t = i / TT, sr = i % TT;
            const bool on = t < tvalid && sr < svalid && (tt > ss || sr <= t);
            const float E = on ? __expf(s.cs_t[t] - s.cs_s[sr]) : 0.f, m = E * s.S1[i], g = s.S2[i];
            s.Mb[i] = from_f<T>(m);                       /* E ∘ CB: dx's matrix */
            s.Db[i] = from_f<T>(E * g * s.dt_s[sr]);      /* ∂loss/∂(C_t·B_s): dB's and dC's */
            s.S2[i] = m * g;                              /* T_ts / Δ_s */
        }
        __syncthreads();
        for (int sr = threadIdx.x; sr < TT; sr += blockDim.x) {
            float a = 0.f;
            for (int t = 0; t < TT; t++) a += s.S2[t * TT + sr];
            s.colsum[sr] += a;
        }
        tile_mm<true, false, true>(s.dX, P, s.Mb, TT, s.dyt, P, TT, P, TT);     /* (E∘CB)ᵀ dy */
        tile_mm<true, false, true>(s.dB, N, s.Db, TT, s.Ct, N, TT, N, TT);      /* Dbᵀ C */
    }
    __syncthreads();
    /* the chunk-end state's adjoint G_c: BG = B_s G_cᵀ (TT × P), then dB += (e ⊙ X) G_c */
    load_dense<VEC>(s.Ct, zg + sto(d, b, c, h), P * N);
    __syncthreads();
    tile_mm<false, true, false>(s.S1, P, s.Bs, N, s.Ct, N, TT, P, N);
    __syncthreads();
    float vsum = 0.f, dsum = 0.f;
    const float Dh = D ? D[h] : 0.f;
    for (int sr = threadIdx.x; sr < TT; sr += blockDim.x) {   /* per row s: V_s, ddt, dcs */
        if (sr >= svalid) continue;
        float q = 0.f;
        for (int p = 0; p < P; p++) q += to_f(s.Xs[sr * P + p]) * s.S1[sr * P + p];
        const float ed = __expf(cs_end - s.cs_s[sr]), Vs = ed * s.dt_s[sr] * q;   /* V_s */
        vsum += Vs;
        ddt_dir[cso(d, b, h, s0 + sr)] = s.colsum[sr] + ed * q;
        dcs_col[cso(d, b, h, s0 + sr)] = -s.dt_s[sr] * s.colsum[sr] - Vs;
    }
    const In *const dyx[2] = {dy + xo(d, b, s0, h), x + xo(d, b, s0, h)};   /* dx, and x·dy for dD */
    constexpr int W = VEC ? 16 / sizeof(In) : 1;
    for_rows<VEC>(dyx, (size_t)d.H * P, P, svalid, [&](int sr, int p, const float (&a)[2][W]) {
        const float e = __expf(cs_end - s.cs_s[sr]) * s.dt_s[sr];
        float *o = dx + xo(d, b, s0 + sr, h) + p;
#pragma unroll
        for (int j = 0; j < W; j++) {
            const int i = sr * P + p + j;
            o[j] = s.dt_s[sr] * s.dX[i] + e * s.S1[i] + Dh * a[0][j];
            dsum += a[1][j] * a[0][j];
        }
    });
    __syncthreads();
    for (int i = threadIdx.x; i < TT * P; i += blockDim.x) {   /* X_s ← e ⊙ X_s */
        const int sr = i / P;
        s.Xs[i] = from_f<T>(sr < svalid ? to_f(s.Xs[i]) * __expf(cs_end - s.cs_s[sr]) * s.dt_s[sr] : 0.f);
    }
    __syncthreads();
    tile_mm<false, false, true>(s.dB, N, s.Xs, P, s.Ct, N, TT, N, P);
    vsum = block_sum(vsum, s.red);
    dsum = block_sum(dsum, s.red + NT / 32);
    if (threadIdx.x == 0) {
        atomicAdd(dcs_end + ((size_t)b * d.H + h) * d.nc + c, vsum);
        if (dD) atomicAdd(dD + h, dsum);
    }
    for (int i = threadIdx.x; i < svalid * N; i += blockDim.x)
        atomicAdd(dB + bco(d, b, s0 + i / N, h) + i % N, s.dB[i]);
}

/* (7.23)–(7.24), the terms indexed by the TARGET step t: one block per (b, c, h, tile of TT
 * rows t), looping over the source tiles s ≤ t. Writes the row part of ∂/∂cs (with U_t);
 * adds dC (shared by the group's heads) with atomics. */
template <int V, typename In>
__global__ void __launch_bounds__(NT) k_bwd_t(Dims d, const In *x, const In *B, const In *C, const In *dy,
                                              const float *dt, const float *cs, const float *states,
                                              int has_state, float *dC, float *dcs_row)
{
    VERSION_TYPES;
    BwdTSmem<T> s = carve<BwdTSmem, T>(d);
    const TileAt at = tile_at(d);
    if (at.row0 >= d.L) return;
    const int h = at.h, tt = at.tile, c = at.c, b = at.b, P = d.P, N = d.N, t0 = at.row0, tvalid = at.valid;
    for (int r = threadIdx.x; r < TT; r += blockDim.x) {
        s.cs_t[r] = r < tvalid ? cs[cso(d, b, h, t0 + r)] : 0.f;
        s.rowsum[r] = 0.f;
        s.U[r] = 0.f;
    }
    load_tile<VEC>(s.Ct, C + bco(d, b, t0, h), (size_t)d.G * N, N, tvalid, (const float *)nullptr);
    load_tile<VEC>(s.dyt, dy + xo(d, b, t0, h), (size_t)d.H * P, P, tvalid, (const float *)nullptr);
    if (has_state || c > 0) {   /* dC_t = e^{cs_t} H_{c−1}ᵀ dy_t, and U_t = C_t·dC_t */
        load_dense<VEC>(s.Bs, states + sto(d, b, c, h), P * N);
        __syncthreads();
        tile_mm<false, false, false>(s.dC, N, s.dyt, P, s.Bs, N, TT, N, P);
        __syncthreads();
        for (int i = threadIdx.x; i < TT * N; i += blockDim.x) s.dC[i] *= __expf(s.cs_t[i / N]);
        __syncthreads();
        for (int t = threadIdx.x; t < tvalid; t += blockDim.x) {
            float u = 0.f;
            for (int n = 0; n < N; n++) u += to_f(s.Ct[t * N + n]) * s.dC[t * N + n];
            s.U[t] = u;
        }
    } else {
        for (int i = threadIdx.x; i < TT * N; i += blockDim.x) s.dC[i] = 0.f;
    }
    for (int ss = 0; ss <= tt; ss++) {
        const int svalid = next_source<VEC>(d, b, h, c * d.Q + ss * TT, cs, dt, B, x, s.cs_s, s.dt_s, s.Bs, s.Xs);
        tile_mm<false, true, false>(s.S1, TT, s.Ct, N, s.Bs, N, TT, TT, N);
        tile_mm<false, true, false>(s.S2, TT, s.dyt, P, s.Xs, P, TT, TT, P);
        __syncthreads();
        for (int i = threadIdx.x; i < TT * TT; i += blockDim.x) {
            const int t = i / TT, sr = i % TT;
            const bool on = t < tvalid && sr < svalid && (ss < tt || sr <= t);
            const float g = on ? __expf(s.cs_t[t] - s.cs_s[sr]) * s.S2[i] * s.dt_s[sr] : 0.f;
            s.Db[i] = from_f<T>(g);
            s.S2[i] = g * s.S1[i];                          /* T_ts */
        }
        __syncthreads();
        for (int t = threadIdx.x; t < TT; t += blockDim.x) {
            float a = 0.f;
            for (int sr = 0; sr < TT; sr++) a += s.S2[t * TT + sr];
            s.rowsum[t] += a;
        }
        tile_mm<false, false, true>(s.dC, N, s.Db, TT, s.Bs, N, TT, N, TT);    /* Db B_s */
    }
    __syncthreads();
    for (int t = threadIdx.x; t < tvalid; t += blockDim.x) dcs_row[cso(d, b, h, t0 + t)] = s.rowsum[t] + s.U[t];
    for (int i = threadIdx.x; i < tvalid * N; i += blockDim.x)
        atomicAdd(dC + bco(d, b, t0 + i / N, h) + i % N, s.dC[i]);
}

/* (7.24) from ∂/∂cs to da by a reverse running sum inside each chunk, then dΔ and dA;
 * one thread per (b, c, h). */
__global__ void k_bwd_fin(Dims d, const float *dt, const float *A, const float *dcs_row,
                          const float *dcs_col, const float *dcs_end, const float *ddt_dir, float *ddt,
                          float *dA)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)d.batch * d.nc * d.H) return;
    const int h = i % d.H, c = (i / d.H) % d.nc, b = i / ((size_t)d.H * d.nc);
    const int end = chunk_end(d, c);
    float acc = dcs_end[((size_t)b * d.H + h) * d.nc + c], dAh = 0.f;
    for (int t = end; t >= c * d.Q; t--) {
        acc += dcs_row[cso(d, b, h, t)] + dcs_col[cso(d, b, h, t)];   /* da_t */
        const size_t k = dto(d, b, t, h);
        ddt[k] = ddt_dir[cso(d, b, h, t)] + A[h] * acc;
        dAh += dt[k] * acc;
    }
    atomicAdd(dA + h, dAh);
}

/* ======================= host side ======================= */
extern "C" const char *const ssd_gpu_version_name[SSD_GPU_NVERSIONS] = {"v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10"};

extern "C" const char *ssd_gpu_strerror(int code)
{
    switch (code) {
    case SSD_GPU_OK: return "ok";
    case SSD_GPU_EARGS: return "bad arguments (a size below 1, G not dividing H, or a required pointer NULL)";
    case SSD_GPU_ESHAPE: return "Q must be a multiple of 64, P and N multiples of 16 and at most 256";
    case SSD_GPU_ESMEM: return "the tiles need more shared memory than the device has (a smaller N or P, or v2)";
    case SSD_GPU_ECUDA: return "a CUDA call or kernel launch failed";
    case SSD_GPU_EDTYPE: return "dtype must be fp32 or bf16";
    default: return "unknown error";
    }
}

extern "C" int ssd_gpu_check(const ssd_gpu_params *p)
{
    if (!p || p->batch < 1 || p->L < 1 || p->H < 1 || p->P < 1 || p->G < 1 || p->N < 1 || p->Q < 1 ||
        p->H % p->G || !p->x || !p->B || !p->C || !p->dt || !p->A)
        return SSD_GPU_EARGS;
    if (p->dtype != SCAN_F32 && p->dtype != SCAN_BF16) return SSD_GPU_EDTYPE;
    if (p->Q % TT || p->P % 16 || p->N % 16 || p->P > 256 || p->N > 256) return SSD_GPU_ESHAPE;
    if ((int64_t)p->batch * p->L * p->H * p->P > ((int64_t)1 << 40)) return SSD_GPU_EARGS;
    return SSD_GPU_OK;
}

static Dims dims_of(const ssd_gpu_params *p)
{
    return Dims{p->batch, p->L, p->H, p->P, p->G, p->N, p->Q, (p->L + p->Q - 1) / p->Q};
}

/* the workspace, carved in order: cs (b, H, L), states and (backward) zg (b, nc, H, P, N),
 * dcs_row, dcs_col, ddt_dir (b, H, L), dcs_end (b, H, nc); st16 (b, nc, H, P, N) bf16 (v6); zg16 (backward, the same shape, v7) */
/* v9: the forward and backward walks cut into nseg segments of cps whole chunks (ssd_v7.cuh) */
struct Seg {
    int cps, nseg;
    float *end;   /* (b, h, segment, P, N): the state (adjoint) at the segment's end, walked from 0 */
    float *dec;   /* (b, h, segment): Σ a over the segment (backward: Σ cs_end of its chunks) */
    float *gam;   /* (b, h, c): the same sum from the segment's start (backward: end) to chunk c */
};
static int v9_segments(const ssd_gpu_params *p, int *cps);   /* ssd_v7.cuh */

struct Work {
    float *cs, *states, *zg, *dcs_row, *dcs_col, *ddt_dir, *dcs_end;
    bf16 *st16;   /* v6: the entering states again, in bf16 (what the tile kernels read) */
    bf16 *zg16;   /* v7 (backward): G_c in bf16, instead of zg */
    float *cb;    /* v8: C_t B_sᵀ (forward) or its gradient dCB (backward) per (b, group, chunk, tile pair), 64 × 64 */
    float *cb2;   /* v8 (backward): B_s C_tᵀ, the same products transposed */
    Seg seg;      /* v9 */
};
static size_t work_layout(const ssd_gpu_params *p, int backward, char *base, Work *w)
{
    const Dims d = dims_of(p);
    const size_t bhl = (size_t)d.batch * d.H * d.L, st = (size_t)d.batch * d.nc * d.H * d.P * d.N;
    Carver c{base, 0};
    Work k{};
    k.cs = c.take<float>(bhl);
    k.states = c.take<float>(st);
    if (backward) {
        k.zg = c.take<float>(st);
        k.dcs_row = c.take<float>(bhl);
        k.dcs_col = c.take<float>(bhl);
        k.ddt_dir = c.take<float>(bhl);
        k.dcs_end = c.take<float>((size_t)d.batch * d.H * d.nc);
    }
    k.st16 = c.take<bf16>(st);
    if (backward) k.zg16 = c.take<bf16>(st);
    const size_t ncb = (size_t)d.batch * d.G * d.nc * ((d.Q / TT) * (d.Q / TT + 1) / 2) * TT * TT;
    k.cb = c.take<float>(ncb);
    if (backward) k.cb2 = c.take<float>(ncb);
    k.seg.nseg = v9_segments(p, &k.seg.cps);
    const size_t bh = (size_t)d.batch * d.H, nseg = k.seg.nseg > 1 ? (size_t)k.seg.nseg : 0;   /* 1: unused */
    k.seg.end = c.take<float>(bh * nseg * d.P * d.N);
    k.seg.dec = c.take<float>(bh * nseg);
    k.seg.gam = c.take<float>(nseg ? bh * d.nc : 0);
    if (w) *w = k;
    return c.off;
}

extern "C" size_t ssd_gpu_workspace_bytes(const ssd_gpu_params *p, int backward)
{
    return ssd_gpu_check(p) ? 0 : work_layout(p, backward, nullptr, nullptr);
}

/* Opt a kernel into `bytes` of dynamic shared memory, if the device has them. */
template <typename K> static int smem_ok(K kernel, size_t bytes)
{
    int dev = 0, optin = 0;
    SSD_CUDA(cudaGetDevice(&dev));
    SSD_CUDA(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (bytes > (size_t)optin) return SSD_GPU_ESMEM;
    SSD_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return SSD_GPU_OK;
}
#define SSD_TRY(...)                    \
    do {                                \
        const int rc_ = (__VA_ARGS__);  \
        if (rc_) return rc_;            \
    } while (0)

/* cumsum, chunk states, state passing: what the forward and the backward both start with */
template <int V, typename In>
static int run_states(const ssd_gpu_params *p, const Dims &d, const Work &w, float *h_last)
{
    const size_t nbch = (size_t)d.batch * d.nc * d.H;
    k_cumsum<<<(unsigned)((nbch + 255) / 256), 256>>>(d, p->dt, p->A, w.cs);
    SSD_LAUNCHED();
    const size_t sm = smem_bytes<StateSmem, typename tile_of<V>::type>(d.P, d.N);   /* opted in by the caller */
    k_chunk_state<V, In, 0><<<dim3(d.H, d.nc, d.batch), NT, sm>>>(d, (const In *)p->x, (const In *)p->B,
                                                                  p->dt, w.cs, w.states);
    SSD_LAUNCHED();
    const size_t PN = (size_t)d.P * d.N;
    k_pass<<<dim3((unsigned)((PN + 255) / 256), d.batch * d.H), 256>>>(d, w.states, w.cs, p->h0, h_last);
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}

template <int V, typename In>
static int forward_t(const ssd_gpu_params *p, void *y, float *h_last, void *ws)
{
    const Dims d = dims_of(p);
    Work w;
    work_layout(p, 0, (char *)ws, &w);
    const size_t sm = smem_bytes<OutSmem, typename tile_of<V>::type>(d.P, d.N);   /* every size checked before any launch */
    SSD_TRY(smem_ok(k_chunk_state<V, In, 0>, smem_bytes<StateSmem, typename tile_of<V>::type>(d.P, d.N)));
    SSD_TRY(smem_ok(k_chunk_out<V, In>, sm));
    SSD_TRY(run_states<V, In>(p, d, w, h_last));
    k_chunk_out<V, In><<<dim3(d.H * (d.Q / TT), d.nc, d.batch), NT, sm>>>(
        d, (const In *)p->x, (const In *)p->B, (const In *)p->C, p->dt, p->D, w.cs, w.states, p->h0 != nullptr,
        (In *)y);
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}

/* zero what the backward's kernels add into: dA, dB, dC, dD (if asked for), dcs_end and, where a
 * fused tile kernel adds to it (v5 on), dcs_row */
static int zero_sums(const Dims &d, const Work &w, int row_sums, ssd_gpu_grads *g)
{
    const size_t bcN = (size_t)d.batch * d.L * d.G * d.N;
    SSD_CUDA(cudaMemsetAsync(w.dcs_end, 0, (size_t)d.batch * d.H * d.nc * sizeof(float)));
    if (row_sums) SSD_CUDA(cudaMemsetAsync(w.dcs_row, 0, (size_t)d.batch * d.H * d.L * sizeof(float)));
    SSD_CUDA(cudaMemsetAsync(g->dA, 0, d.H * sizeof(float)));
    SSD_CUDA(cudaMemsetAsync(g->dB, 0, bcN * sizeof(float)));
    SSD_CUDA(cudaMemsetAsync(g->dC, 0, bcN * sizeof(float)));
    if (g->dD) SSD_CUDA(cudaMemsetAsync(g->dD, 0, d.H * sizeof(float)));
    return SSD_GPU_OK;
}

template <int V, typename In>
static int backward_t(const ssd_gpu_params *p, const void *dy, const float *dh_last, void *ws,
                      ssd_gpu_grads *g)
{
    const Dims d = dims_of(p);
    Work w;
    work_layout(p, 1, (char *)ws, &w);
    const size_t sm0 = smem_bytes<StateSmem, typename tile_of<V>::type>(d.P, d.N);   /* every size checked before any launch */
    const size_t sms = smem_bytes<BwdSSmem, typename tile_of<V>::type>(d.P, d.N), smt = smem_bytes<BwdTSmem, typename tile_of<V>::type>(d.P, d.N);
    SSD_TRY(smem_ok(k_chunk_state<V, In, 0>, sm0));
    SSD_TRY(smem_ok(k_chunk_state<V, In, 1>, sm0));
    SSD_TRY(smem_ok(k_bwd_s<V, In>, sms));
    SSD_TRY(smem_ok(k_bwd_t<V, In>, smt));
    SSD_TRY(run_states<V, In>(p, d, w, nullptr));
    const size_t PN = (size_t)d.P * d.N;
    SSD_TRY(zero_sums(d, w, 0, g));
    k_chunk_state<V, In, 1><<<dim3(d.H, d.nc, d.batch), NT, sm0>>>(d, (const In *)dy, (const In *)p->C,
                                                                   p->dt, w.cs, w.zg);
    SSD_LAUNCHED();
    k_pass_bwd<<<dim3((unsigned)((PN + NT - 1) / NT), d.batch * d.H), NT>>>(d, w.zg, w.states, w.cs, dh_last,
                                                                          p->h0 ? g->dh0 : nullptr, w.dcs_end);
    SSD_LAUNCHED();
    const dim3 grid(d.H * (d.Q / TT), d.nc, d.batch);
    k_bwd_s<V, In><<<grid, NT, sms>>>(d, (const In *)p->x, (const In *)p->B, (const In *)p->C, (const In *)dy,
                                      p->dt, p->D, w.cs, w.zg, g->dx, g->dB, p->D ? g->dD : nullptr,
                                      w.ddt_dir, w.dcs_col, w.dcs_end);
    SSD_LAUNCHED();
    k_bwd_t<V, In><<<grid, NT, smt>>>(d, (const In *)p->x, (const In *)p->B, (const In *)p->C, (const In *)dy,
                                      p->dt, w.cs, w.states, p->h0 != nullptr, g->dC, w.dcs_row);
    SSD_LAUNCHED();
    const size_t nbch = (size_t)d.batch * d.nc * d.H;
    k_bwd_fin<<<(unsigned)((nbch + 255) / 256), 256>>>(d, p->dt, p->A, w.dcs_row, w.dcs_col, w.dcs_end,
                                                       w.ddt_dir, g->ddt, g->dA);
    SSD_LAUNCHED();
    return SSD_GPU_OK;
}

/* v4: the same steps on raw mma.sync tiles (ssd_mma.cuh) */
#include "07_ssd_mamba2/gpu/ssd_mma.cuh"
#include "07_ssd_mamba2/gpu/ssd_v7.cuh"

extern "C" int ssd_gpu_v9_segments(const ssd_gpu_params *p, int *chunks_per_segment)
{
    SSD_TRY(ssd_gpu_check(p));
    int cps = 0;
    const int nseg = v9_segments(p, &cps);
    if (chunks_per_segment) *chunks_per_segment = cps;
    return nseg;
}

extern "C" int ssd_gpu_forward(ssd_gpu_version v, const ssd_gpu_params *p, void *y, float *h_last,
                               void *workspace)
{
    SSD_TRY(ssd_gpu_check(p));
    if (!y || !workspace) return SSD_GPU_EARGS;
    if (v >= SSD_GPU_V4 && v < SSD_GPU_NVERSIONS && p->P > 64) return SSD_GPU_ESHAPE;   /* the mma.sync versions */
    const bool bf = p->dtype == SCAN_BF16;
    switch (v) {
    case SSD_GPU_V1: return bf ? forward_t<SSD_GPU_V1, bf16>(p, y, h_last, workspace) : forward_t<SSD_GPU_V1, float>(p, y, h_last, workspace);
    case SSD_GPU_V2: return bf ? forward_t<SSD_GPU_V2, bf16>(p, y, h_last, workspace) : forward_t<SSD_GPU_V2, float>(p, y, h_last, workspace);
    case SSD_GPU_V3: return bf ? forward_t<SSD_GPU_V3, bf16>(p, y, h_last, workspace) : forward_t<SSD_GPU_V3, float>(p, y, h_last, workspace);
    case SSD_GPU_V4:
    case SSD_GPU_V5:   /* v4's forward */
        return bf ? forward_m<bf16, 0>(p, y, h_last, workspace) : forward_m<float, 0>(p, y, h_last, workspace);
    case SSD_GPU_V6:
        return bf ? forward_m<bf16, 1>(p, y, h_last, workspace) : forward_m<float, 1>(p, y, h_last, workspace);
    case SSD_GPU_V7:
        return bf ? forward_v7<bf16, 0>(p, y, h_last, workspace) : forward_v7<float, 0>(p, y, h_last, workspace);
    case SSD_GPU_V8:
        return bf ? forward_v7<bf16, 1>(p, y, h_last, workspace) : forward_v7<float, 1>(p, y, h_last, workspace);
    case SSD_GPU_V9:
        return bf ? forward_v7<bf16, 1, 1>(p, y, h_last, workspace) : forward_v7<float, 1, 1>(p, y, h_last, workspace);
    case SSD_GPU_V10:
        return bf ? forward_v7<bf16, 1, 1, 1>(p, y, h_last, workspace) : forward_v7<float, 1, 1, 1>(p, y, h_last, workspace);
    default: return SSD_GPU_EARGS;
    }
}

extern "C" int ssd_gpu_backward(ssd_gpu_version v, const ssd_gpu_params *p, const void *dy,
                                const float *dh_last, void *workspace, ssd_gpu_grads *g)
{
    SSD_TRY(ssd_gpu_check(p));
    if (!dy || !workspace || !g || !g->dx || !g->ddt || !g->dA || !g->dB || !g->dC) return SSD_GPU_EARGS;
    if (v >= SSD_GPU_V4 && v < SSD_GPU_NVERSIONS && p->P > 64) return SSD_GPU_ESHAPE;
    const bool bf = p->dtype == SCAN_BF16;
    switch (v) {
    case SSD_GPU_V1: return bf ? backward_t<SSD_GPU_V1, bf16>(p, dy, dh_last, workspace, g) : backward_t<SSD_GPU_V1, float>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V2: return bf ? backward_t<SSD_GPU_V2, bf16>(p, dy, dh_last, workspace, g) : backward_t<SSD_GPU_V2, float>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V3: return bf ? backward_t<SSD_GPU_V3, bf16>(p, dy, dh_last, workspace, g) : backward_t<SSD_GPU_V3, float>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V4:
        return bf ? backward_m<bf16, 0, 0>(p, dy, dh_last, workspace, g) : backward_m<float, 0, 0>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V5:
        return bf ? backward_m<bf16, 1, 0>(p, dy, dh_last, workspace, g) : backward_m<float, 1, 0>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V6:
        return bf ? backward_m<bf16, 1, 1>(p, dy, dh_last, workspace, g) : backward_m<float, 1, 1>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V7:
        return bf ? backward_v7<bf16>(p, dy, dh_last, workspace, g) : backward_v7<float>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V8:
        return bf ? backward_v8<bf16>(p, dy, dh_last, workspace, g) : backward_v8<float>(p, dy, dh_last, workspace, g);
    case SSD_GPU_V9:
    case SSD_GPU_V10:   /* v9's backward: its walks need the fp32 states complete anyway */
        return bf ? backward_v8<bf16, 1>(p, dy, dh_last, workspace, g) : backward_v8<float, 1>(p, dy, dh_last, workspace, g);
    default: return SSD_GPU_EARGS;
    }
}
