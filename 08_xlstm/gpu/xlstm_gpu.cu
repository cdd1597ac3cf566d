/* 08_xlstm/gpu/xlstm_gpu.cu — the mLSTM (naive parallel, chunkwise) and the fused sLSTM
 * forward on the GPU, fp32 with the cumulative log gates in float64. See xlstm_gpu.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include "08_xlstm/gpu/xlstm_gpu.h"

#define CK(call)                                                                              \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            fprintf(stderr, "xlstm_gpu: %s:%d: %s: %s\n", __FILE__, __LINE__, #call,          \
                    cudaGetErrorString(e_));                                                  \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static void bad(const char *what)
{
    fprintf(stderr, "xlstm_gpu: %s\n", what);
    exit(2);
}

__device__ __forceinline__ double log_sigmoid_d(double x)
{
    return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x));
}

/* max or sum over the block (blockDim a multiple of 32); red holds 32 floats */
__device__ float block_reduce(float v, float *red, bool is_max)
{
    for (int o = 16; o; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, u) : v + u;
    }
    const int w = threadIdx.x / 32, lane = threadIdx.x % 32, nw = (blockDim.x + 31) / 32;
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    if (w == 0) {
        v = lane < nw ? red[lane] : (is_max ? -INFINITY : 0.f);
        for (int o = 16; o; o >>= 1) {
            float u = __shfl_xor_sync(0xffffffffu, v, o);
            v = is_max ? fmaxf(v, u) : v + u;
        }
        if (lane == 0) red[0] = v;
    }
    __syncthreads();
    return red[0];
}

/* Exclusive prefix sum of one double per thread over the block (blockDim a multiple of 32,
 * at most 1024): the sum of the lower threads' x, without subtracting x back (no cancellation).
 * ws holds 32 doubles. Warp shuffles, then the warps' totals. */
__device__ double block_scan_d(double x, double *ws)
{
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32, nw = blockDim.x / 32;
    for (int o = 1; o < 32; o <<= 1) {
        const double y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
    }
    __syncthreads();                             /* ws free from a previous call */
    if (lane == 31) ws[w] = x;
    __syncthreads();
    if (w == 0) {
        double t = lane < nw ? ws[lane] : 0;
        for (int o = 1; o < 32; o <<= 1) {
            const double y = __shfl_up_sync(0xffffffffu, t, o);
            if (lane >= o) t += y;
        }
        if (lane < nw) ws[lane] = t;
    }
    __syncthreads();
    double ex = __shfl_up_sync(0xffffffffu, x, 1);
    if (lane == 0) ex = 0;
    return w ? ex + ws[w - 1] : ex;
}

/* F[bh][0] = 0, F[bh][t+1] = F[bh][t] + log σ(f̃_t), in float64. One block per head: thread i
 * sums its own segment of L/blockDim steps, a block scan gives each segment's start, then each
 * thread writes its segment. (The first version, one thread per head walking all L steps, was a
 * chain of 64K dependent float64 steps on 16 threads at L = 64K.) */
__global__ void cum_log_forget_kernel(int L, const float *fg, double *F)
{
    __shared__ double ws[32];
    const int bh = blockIdx.x, seg = (L + blockDim.x - 1) / blockDim.x;
    const int t0 = min(L, (int)threadIdx.x * seg), t1 = min(L, t0 + seg);
    const float *f = fg + (size_t)bh * L;
    double *Fb = F + (size_t)bh * (L + 1);
    double own = 0;
    for (int t = t0; t < t1; t++) own += log_sigmoid_d((double)f[t]);
    double acc = block_scan_d(own, ws);          /* F at the segment's start */
    if (threadIdx.x == 0) Fb[0] = 0;
    for (int t = t0; t < t1; t++) {
        acc += log_sigmoid_d((double)f[t]);
        Fb[t + 1] = acc;
    }
}

/* ---- (8.9) naive: one block per row (t, bh) ---- */
__global__ void mlstm_naive_kernel(int L, int d, const float *q, const float *k, const float *v,
                                   const float *ig, const double *F, float *h)
{
    extern __shared__ float sm[];
    float *p = sm, *qs = p + L, *red = qs + d;
    const int t = blockIdx.x, bh = blockIdx.y;
    const size_t row = (size_t)bh * L;
    const double *Fb = F + (size_t)bh * (L + 1), Ft = Fb[t + 1];
    for (int i = threadIdx.x; i < d; i += blockDim.x) qs[i] = q[(row + t) * d + i];
    float mloc = -INFINITY;
    for (int s = threadIdx.x; s <= t; s += blockDim.x) {
        float w = (float)(Ft - Fb[s + 1] + (double)ig[row + s]);      /* D̃_ts */
        p[s] = w;
        mloc = fmaxf(mloc, w);
    }
    const float m = block_reduce(mloc, red, true);                      /* also syncs qs */
    float dl = 0;
    for (int s = threadIdx.x; s <= t; s += blockDim.x) {
        const float *ks = k + (row + s) * d;
        float sc = 0;
        for (int i = 0; i < d; i++) sc += qs[i] * ks[i];
        float ps = expf(p[s] - m) * sc;
        p[s] = ps;
        dl += ps;
    }
    const float den = fmaxf(fabsf(block_reduce(dl, red, false)), expf(-m));
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float acc = 0;
        for (int s = 0; s <= t; s++) acc += p[s] * v[(row + s) * d + i];
        h[(row + t) * d + i] = acc / den;
    }
}

/* ---- (8.11) chunkwise, step 1: each chunk's own outer-product sum with its own stabilizer ----
 *   X̄ = Σ_s e^{a_s − μ} x_s y_sᵀ,  z̄ = Σ_s e^{a_s − μ} z_s y_s,  μ = max_s a_s,  bc = F_end − F_start
 * forward (8.11): x = v, y = k, z = 1,     a_s = F_end − F_{s+1} + ĩ_s  (weights to the chunk's END)
 * backward:       x = dnum, y = q, z = dden, a_t = F_{t+1} − F_start − m_t (weights to its START:
 *                 the rows of this chunk as the earlier chunks' keys see them; see the backward) */
__global__ void chunk_state_kernel(int L, int d, int c, int backward, const float *x, const float *y,
                                   const float *z, const float *ig_or_m, const double *F, float *Cl,
                                   float *nl, double *ml, double *bc)
{
    extern __shared__ float sm[];
    float *w = sm, *red = w + c;
    const int kc = blockIdx.x, bh = blockIdx.y, NC = gridDim.x;
    const int t0 = kc * c, cl = min(c, L - t0);
    const size_t row = (size_t)bh * L;
    const double *Fb = F + (size_t)bh * (L + 1), Fs = Fb[t0], Fe = Fb[t0 + cl];
    float mloc = -INFINITY;
    for (int s = threadIdx.x; s < cl; s += blockDim.x) {
        const double g = ig_or_m[row + t0 + s];
        float a = backward ? (float)(Fb[t0 + s + 1] - Fs - g) : (float)(Fe - Fb[t0 + s + 1] + g);
        w[s] = a;
        mloc = fmaxf(mloc, a);
    }
    const float m = block_reduce(mloc, red, true);
    for (int s = threadIdx.x; s < cl; s += blockDim.x) w[s] = expf(w[s] - m);
    __syncthreads();
    const size_t o = (size_t)bh * NC + kc;
    for (int idx = threadIdx.x; idx < d * d; idx += blockDim.x) {
        const int i = idx / d, j = idx % d;
        float acc = 0;
        for (int s = 0; s < cl; s++) acc += w[s] * x[(row + t0 + s) * d + i] * y[(row + t0 + s) * d + j];
        Cl[o * d * d + idx] = acc;
    }
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float acc = 0;
        for (int s = 0; s < cl; s++) acc += w[s] * (z ? z[row + t0 + s] : 1.f) * y[(row + t0 + s) * d + j];
        nl[o * d + j] = acc;
    }
    if (threadIdx.x == 0) {
        ml[o] = m;
        bc[o] = Fe - Fs;
    }
}

/* step 2: the sequential pass over chunks carries (C̄, n̄, m); writes the state BEFORE
 * each chunk in the pass's order (zero, m = −∞, for the first). m' = max(bc + m, ml),
 * C̄ ← e^{bc + m − m'} C̄ + e^{ml − m'} Cl. Forward: chunk 0 → NC−1, the state of the chunks
 * before; reverse (the backward's): NC−1 → 0, the state of the chunks after.
 * The update is entry by entry with the same two scalar weights for all d² + d entries of
 * (C̄, n̄): so one thread per entry, its running value in a register, grid (heads, entries/256);
 * every thread recomputes the scalar m' chain (float64, two exp per chunk). (The first version,
 * one block per head looping over the entries, read each entry back from memory every chunk
 * and ran 16 blocks on 132 SMs for batch 2 × 8 heads.) */
__global__ void chunk_scan_kernel(int NC, int d, int reverse, const float *Cl, const float *nl,
                                  const double *ml, const double *bc, float *Cp, float *np,
                                  double *mp)
{
    const int bh = blockIdx.x, e = blockIdx.y * blockDim.x + threadIdx.x, nC = d * d;
    const bool active = e < nC + d, isC = e < nC;
    const size_t stride = isC ? nC : d, idx = isC ? e : e - nC;
    const float *src = isC ? Cl : nl;
    float *dst = isC ? Cp : np;
    double m = -INFINITY;
    float cur = 0.f;
    for (int it = 0; it < NC; it++) {
        const int kc = reverse ? NC - 1 - it : it;
        const size_t o = (size_t)bh * NC + kc;
        if (active) dst[o * stride + idx] = cur;
        if (e == 0) mp[o] = m;
        const double mn = fmax(bc[o] + m, ml[o]);
        const float alpha = (float)exp(bc[o] + m - mn), beta = (float)exp(ml[o] - mn);
        if (active) cur = alpha * cur + beta * src[o * stride + idx];
        m = mn;
    }
}

/* step 3 (8.10): outputs of one chunk: carried state decayed by e^{b_t} + the chunk's
 * parallel form. One block per (chunk, bh); rows t of the chunk one after another.
 * For the backward (when mrow is not NULL) each row's stabilizer m_t and signed
 * denominator den_t (before the max with e^{−m_t}) are kept. */
__global__ void chunk_out_kernel(int L, int d, int c, const float *q, const float *k, const float *v,
                                 const float *ig, const double *F, const float *Cp, const float *np,
                                 const double *mp, float *h, float *mrow, float *denrow)
{
    extern __shared__ float sm[];
    float *Cs = sm, *ns = Cs + d * d, *qs = ns + d, *p = qs + d, *red = p + c;
    const int kc = blockIdx.x, bh = blockIdx.y, NC = gridDim.x;
    const int t0 = kc * c, cl = min(c, L - t0);
    const size_t row = (size_t)bh * L, o = (size_t)bh * NC + kc;
    const double *Fb = F + (size_t)bh * (L + 1), mprev = mp[o];
    for (int idx = threadIdx.x; idx < d * d; idx += blockDim.x) Cs[idx] = kc ? Cp[o * d * d + idx] : 0.f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) ns[j] = kc ? np[o * d + j] : 0.f;
    for (int tt = 0; tt < cl; tt++) {
        const int t = t0 + tt;
        __syncthreads();
        for (int i = threadIdx.x; i < d; i += blockDim.x) qs[i] = q[(row + t) * d + i];
        const double inter = Fb[t + 1] - Fb[t0] + mprev;   /* log weight of the carried state */
        float mloc = (float)inter;
        for (int s = threadIdx.x; s <= tt; s += blockDim.x) {
            float a = (float)(Fb[t + 1] - Fb[t0 + s + 1] + (double)ig[row + t0 + s]);
            p[s] = a;
            mloc = fmaxf(mloc, a);
        }
        const float m = block_reduce(mloc, red, true);
        float dl = 0;
        for (int s = threadIdx.x; s <= tt; s += blockDim.x) {
            const float *ks = k + (row + t0 + s) * d;
            float sc = 0;
            for (int i = 0; i < d; i++) sc += qs[i] * ks[i];
            float ps = expf(p[s] - m) * sc;
            p[s] = ps;
            dl += ps;
        }
        const float g = (float)exp(inter - (double)m);
        for (int j = threadIdx.x; j < d; j += blockDim.x) dl += g * ns[j] * qs[j];
        const float dsum = block_reduce(dl, red, false), den = fmaxf(fabsf(dsum), expf(-m));
        if (mrow && threadIdx.x == 0) {
            mrow[row + t] = m;
            denrow[row + t] = dsum;
        }
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            float acc = 0;
            for (int j = 0; j < d; j++) acc += Cs[i * d + j] * qs[j];
            acc *= g;
            for (int s = 0; s <= tt; s++) acc += p[s] * v[(row + t0 + s) * d + i];
            h[(row + t) * d + i] = acc / den;
        }
    }
}

/* ---- (8.10)–(8.11) with bf16 q, k, v on the tensor cores ----
 * WMMA 16×16×16 tiles, bf16 × bf16 → fp32 accumulate. What goes to the tensor cores is
 * rounded to bf16 once: the inputs q, k, v, the chunk-state weights times k (w_s k_s, w ≤ 1)
 * and the intra-chunk weights P_ts (|P| ≤ |q·k|). The states C̄, n̄, their pass over chunks,
 * the carried state's product with q, m and the denominators stay fp32/float64. */
typedef __nv_bfloat16 bf16;
namespace wm = nvcuda::wmma;
typedef wm::fragment<wm::matrix_a, 16, 16, 16, bf16, wm::row_major> frag_a_row;
typedef wm::fragment<wm::matrix_a, 16, 16, 16, bf16, wm::col_major> frag_a_col;
typedef wm::fragment<wm::matrix_b, 16, 16, 16, bf16, wm::row_major> frag_b_row;
typedef wm::fragment<wm::matrix_b, 16, 16, 16, bf16, wm::col_major> frag_b_col;
typedef wm::fragment<wm::accumulator, 16, 16, 16, float> frag_acc;

__host__ __device__ static inline size_t align128(size_t b) { return (b + 127) & ~(size_t)127; }

/* acc += Σ_{kk ≤ ti} A[16ti.., 16kk..] B[16kk.., 16tj..]: A (c×c, row-major, zero above the
 * diagonal, so its tiles right of the diagonal are skipped) times B (c×d, row-major) */
__device__ __forceinline__ void mma_lower(frag_acc *acc, const bf16 *A, int lda, const bf16 *B, int ldb, int ti, int tj)
{
    for (int kk = 0; kk <= ti; kk++) {
        frag_a_row a;
        frag_b_row b;
        wm::load_matrix_sync(a, A + 16 * ti * lda + 16 * kk, lda);
        wm::load_matrix_sync(b, B + 16 * kk * ldb + 16 * tj, ldb);
        wm::mma_sync(*acc, a, b, *acc);
    }
}

/* acc += Σ_{kk ≥ ti} A[16kk.., 16ti..]ᵀ B[16kk.., 16tj..]: Aᵀ (A read column-major; its tiles
 * above the diagonal are zero) times B; nt = c/16 */
__device__ __forceinline__ void mma_lower_t(frag_acc *acc, const bf16 *A, int lda, const bf16 *B, int ldb, int ti,
                                            int tj, int nt)
{
    for (int kk = ti; kk < nt; kk++) {
        frag_a_col a;
        frag_b_row b;
        wm::load_matrix_sync(a, A + 16 * kk * lda + 16 * ti, lda);
        wm::load_matrix_sync(b, B + 16 * kk * ldb + 16 * tj, ldb);
        wm::mma_sync(*acc, a, b, *acc);
    }
}

/* The carried state's products on the CUDA cores, fp32: acc[a][b] = Σ_i X[r0+a][i] M(i, j0 + dj·b)
 * for a 4×4 register tile per thread (4 rows of the chunk, 4 columns dj apart: consecutive
 * threads read consecutive columns of M), 8 loads per 16 FMAs instead of 2 per FMA. X's rows
 * (row + r) from global memory, fp32 (xf) or bf16 (xb); rows r ≥ nrows read as 0. M in shared
 * memory: M(i, j) = Ms[i·ldm + j], or Ms[j·ldm + i] when trans. */
__device__ __forceinline__ void rows_times_state(float acc[4][4], const float *xf, const bf16 *xb, size_t row, int r0,
                                                 int nrows, int d, const float *Ms, int ldm, int trans, int j0, int dj)
{
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) acc[a][b] = 0.f;
    for (int i = 0; i < d; i++) {
        float x[4], mv[4];
        for (int a = 0; a < 4; a++) {
            const size_t e = (row + r0 + a) * d + i;
            x[a] = r0 + a < nrows ? (xf ? xf[e] : __bfloat162float(xb[e])) : 0.f;
        }
        for (int b = 0; b < 4; b++) mv[b] = trans ? Ms[(j0 + dj * b) * ldm + i] : Ms[i * ldm + j0 + dj * b];
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++) acc[a][b] += x[a] * mv[b];
    }
}

/* step 1 on tensor cores: Cl = Xᵀ diag(w) Y (d×d) as (d×c)(c×d) tiles; nl = Σ_s w_s z_s y_s.
 * The weights as chunk_state_kernel's: forward x = v, y = k, z = 1, a_s = F_end − F_{s+1} + ĩ_s;
 * backward x = dnum (rounded to bf16), y = q, z = dden, a_t = F_{t+1} − F_start − m_t. */
__global__ void chunk_state_tc_kernel(int L, int d, int c, int backward, const bf16 *x, const bf16 *y,
                                      const float *z, const float *ig_or_m, const double *F, float *Cl,
                                      float *nl, double *ml, double *bc)
{
    extern __shared__ __align__(128) unsigned char smraw[];
    float *w = (float *)smraw, *red = w + c;
    const int ldw = d + 8;
    bf16 *WY = (bf16 *)(smraw + align128((size_t)(c + 32) * sizeof(float)));
    const int kc = blockIdx.x, bh = blockIdx.y, NC = gridDim.x;
    const int t0 = kc * c, cl = min(c, L - t0);
    const size_t row = (size_t)bh * L + t0;
    const double *Fb = F + (size_t)bh * (L + 1) + t0, Fe = Fb[cl];
    float mloc = -INFINITY;
    for (int s = threadIdx.x; s < cl; s += blockDim.x) {
        const double g = ig_or_m[row + s];
        const float a = backward ? (float)(Fb[s + 1] - Fb[0] - g) : (float)(Fe - Fb[s + 1] + g);
        w[s] = a;
        mloc = fmaxf(mloc, a);
    }
    const float m = block_reduce(mloc, red, true);
    for (int s = threadIdx.x; s < c; s += blockDim.x) w[s] = s < cl ? expf(w[s] - m) : 0.f;
    __syncthreads();
    for (int idx = threadIdx.x; idx < c * d; idx += blockDim.x) {
        const int s = idx / d, j = idx % d;
        WY[s * ldw + j] = __float2bfloat16(w[s] * __bfloat162float(y[(row + s) * d + j]));
    }
    __syncthreads();
    const size_t o = (size_t)bh * NC + kc;
    const int nt = d / 16, warp = threadIdx.x / 32, nwarp = blockDim.x / 32;
    for (int tix = warp; tix < nt * nt; tix += nwarp) {
        const int ti = tix / nt, tj = tix % nt;
        frag_acc acc;
        wm::fill_fragment(acc, 0.f);
        for (int kk = 0; kk < c / 16; kk++) {
            frag_a_col a;       /* Xᵀ rows 16ti.., columns (steps) 16kk..: X read column-major */
            frag_b_row b;
            wm::load_matrix_sync(a, x + (row + 16 * kk) * d + 16 * ti, d);
            wm::load_matrix_sync(b, WY + 16 * kk * ldw + 16 * tj, ldw);
            wm::mma_sync(acc, a, b, acc);
        }
        wm::store_matrix_sync(Cl + o * d * d + (size_t)16 * ti * d + 16 * tj, acc, d, wm::mem_row_major);
    }
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float acc = 0;
        for (int s = 0; s < cl; s++) acc += w[s] * (z ? z[row + s] : 1.f) * __bfloat162float(y[(row + s) * d + j]);
        nl[o * d + j] = acc;
    }
    if (threadIdx.x == 0) {
        ml[o] = m;
        bc[o] = Fe - Fb[0];
    }
}

/* step 3 on tensor cores: S = Q Kᵀ (c×c), then per row m_t, P_ts = e^{D̃_ts − m_t} S_ts
 * (bf16) and den_t, then P V (c×d) plus the carried state's fp32 product g_t C̄ q_t.
 * For the backward (mrow not NULL) each row's m_t and signed den_t are kept, as chunk_out_kernel. */
__global__ void chunk_out_tc_kernel(int L, int d, int c, const bf16 *q, const bf16 *k, const bf16 *v,
                                    const float *ig, const double *F, const float *Cp, const float *np,
                                    const double *mp, float *h, float *mrow, float *denrow)
{
    extern __shared__ __align__(128) unsigned char smraw[];
    const int lds = c + 4, ldp = c + 8, ldh = d + 4, ldc = d + 1;
    size_t off = 0;
    float *Sf = (float *)(smraw + off);  off += align128((size_t)c * lds * sizeof(float));
    bf16 *Pb = (bf16 *)(smraw + off);    off += align128((size_t)c * ldp * sizeof(bf16));
    float *Hf = (float *)(smraw + off);  off += align128((size_t)c * ldh * sizeof(float));
    float *Cs = (float *)(smraw + off);  off += align128((size_t)d * ldc * sizeof(float));
    float *ns = (float *)(smraw + off), *rm = ns + d, *rg = rm + c, *rden = rg + c;
    const int kc = blockIdx.x, bh = blockIdx.y, NC = gridDim.x;
    const int t0 = kc * c, cl = min(c, L - t0);
    const size_t row = (size_t)bh * L + t0, o = (size_t)bh * NC + kc;
    const double *Fb = F + (size_t)bh * (L + 1) + t0, mprev = mp[o];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarp = blockDim.x / 32, nc16 = c / 16;
    for (int idx = threadIdx.x; idx < d * d; idx += blockDim.x) Cs[(idx / d) * ldc + idx % d] = Cp[o * d * d + idx];
    for (int j = threadIdx.x; j < d; j += blockDim.x) ns[j] = np[o * d + j];
    for (int tix = warp; tix < nc16 * nc16; tix += nwarp) {       /* S = Q Kᵀ, lower blocks */
        const int ti = tix / nc16, tj = tix % nc16;
        if (tj > ti) continue;
        frag_acc acc;
        wm::fill_fragment(acc, 0.f);
        for (int kk = 0; kk < d / 16; kk++) {
            frag_a_row a;
            frag_b_col b;       /* Kᵀ: K's rows read column-major */
            wm::load_matrix_sync(a, q + (row + 16 * ti) * d + 16 * kk, d);
            wm::load_matrix_sync(b, k + (row + 16 * tj) * d + 16 * kk, d);
            wm::mma_sync(acc, a, b, acc);
        }
        wm::store_matrix_sync(Sf + 16 * ti * lds + 16 * tj, acc, lds, wm::mem_row_major);
    }
    __syncthreads();
    for (int t = warp; t < c; t += nwarp) {                        /* one warp per row */
        if (t >= cl) {
            for (int s = lane; s < c; s += 32) Pb[t * ldp + s] = __float2bfloat16(0.f);
            continue;
        }
        const double Ft = Fb[t + 1], inter = Ft - Fb[0] + mprev;
        float mloc = (float)inter;
        for (int s = lane; s <= t; s += 32) mloc = fmaxf(mloc, (float)(Ft - Fb[s + 1] + (double)ig[row + s]));
        for (int x = 16; x; x >>= 1) mloc = fmaxf(mloc, __shfl_xor_sync(0xffffffffu, mloc, x));
        const float m = mloc, g = (float)exp(inter - (double)m);
        float dl = 0;
        for (int s = lane; s < c; s += 32) {
            const float p = s <= t ? expf((float)(Ft - Fb[s + 1] + (double)ig[row + s]) - m) * Sf[t * lds + s] : 0.f;
            Pb[t * ldp + s] = __float2bfloat16(p);
            dl += p;
        }
        for (int j = lane; j < d; j += 32) dl += g * ns[j] * __bfloat162float(q[(row + t) * d + j]);
        for (int x = 16; x; x >>= 1) dl += __shfl_xor_sync(0xffffffffu, dl, x);
        if (lane == 0) {
            rm[t] = m;
            rg[t] = g;
            rden[t] = dl;
            if (mrow) {
                mrow[row + t] = m;
                denrow[row + t] = dl;
            }
        }
    }
    __syncthreads();
    const int nd16 = d / 16;
    for (int tix = warp; tix < nc16 * nd16; tix += nwarp) {       /* P V */
        const int ti = tix / nd16, tj = tix % nd16;
        frag_acc acc;
        wm::fill_fragment(acc, 0.f);
        mma_lower(&acc, Pb, ldp, v + row * d, d, ti, tj);
        wm::store_matrix_sync(Hf + 16 * ti * ldh + 16 * tj, acc, ldh, wm::mem_row_major);
    }
    __syncthreads();
    const int dj = d / 4;                                          /* + g_t C̄ q_t, 4×4 tiles (t, i) */
    for (int tile = threadIdx.x; tile < (c / 4) * dj; tile += blockDim.x) {
        const int t0r = (tile / dj) * 4, i0 = tile % dj;
        if (t0r >= cl) continue;
        float acc[4][4];
        rows_times_state(acc, NULL, q, row, t0r, cl, d, Cs, ldc, 1, i0, dj);
        for (int a = 0; a < 4 && t0r + a < cl; a++) {
            const int t = t0r + a;
            const float inv = 1.f / fmaxf(fabsf(rden[t]), expf(-rm[t]));
            for (int b = 0; b < 4; b++) {
                const int i = i0 + dj * b;
                h[(row + t) * d + i] = (Hf[t * ldh + i] + rg[t] * acc[a][b]) * inv;
            }
        }
    }
}

/* ---- (8.2)–(8.6) fused sLSTM: one block per (head, batch), one thread per unit ----
 * With cache != NULL the forward keeps what the backward reads: the pre-activations
 * (B, L, 4, d) in wx's layout, then c̄, n̄, m (B, L, d each). */
__global__ void slstm_fused_kernel(int L, int NH, int dh, int expf_, const float *wx, const float *R,
                                   float *h, float *cache)
{
    extern __shared__ float sm[];
    const int ld = dh + 1;                       /* padded rows: no bank conflicts over k */
    float *Rs = sm, *hs = Rs + 4 * dh * ld;
    const int j = threadIdx.x, hd = blockIdx.x, b = blockIdx.y, d = NH * dh, B = gridDim.y;
    for (int idx = threadIdx.x; idx < 4 * dh * dh; idx += blockDim.x) {
        const int g = idx / (dh * dh), r = (idx / dh) % dh, kk = idx % dh;
        Rs[(g * dh + r) * ld + kk] = R[(((size_t)g * NH + hd) * dh + r) * dh + kk];
    }
    hs[j] = 0;
    for (int p = j; p < 4; p += blockDim.x) hs[dh + p] = 0;   /* the pad (see xgpu_slstm_fused) */
    float c = 0, n = 0, m = -INFINITY;
    const size_t nwx = (size_t)B * L * 4 * d, nh = (size_t)B * L * d;
    __syncthreads();
    for (int t = 0; t < L; t++) {
        const size_t bt = (size_t)b * L + t;
        const float *w = wx + bt * 4 * d + hd * dh + j;
        float pre[4];
        for (int g = 0; g < 4; g++) {
            float s = w[(size_t)g * d];
            const float *row = Rs + (g * dh + j) * ld;
            for (int kk = 0; kk < dh; kk++) s += row[kk] * hs[kk];
            pre[g] = s;
        }
        const float lf = expf_ ? pre[1] : (pre[1] >= 0 ? -log1pf(expf(-pre[1])) : pre[1] - log1pf(expf(pre[1])));
        const float mn = fmaxf(lf + m, pre[0]);
        const float ip = expf(pre[0] - mn), fp = expf(lf + m - mn);
        const float z = tanhf(pre[2]), o = 1.f / (1.f + expf(-pre[3]));
        c = fp * c + ip * z;
        n = fp * n + ip;
        m = mn;
        const float ht = o * c / n;
        if (cache) {
            for (int g = 0; g < 4; g++) cache[bt * 4 * d + (size_t)g * d + hd * dh + j] = pre[g];
            cache[nwx + bt * d + hd * dh + j] = c;
            cache[nwx + nh + bt * d + hd * dh + j] = n;
            cache[nwx + 2 * nh + bt * d + hd * dh + j] = m;
        }
        __syncthreads();                         /* every thread has read hs */
        hs[j] = ht;
        h[bt * d + hd * dh + j] = ht;
        __syncthreads();
    }
}

/* ---- sLSTM backward through time, fused like the forward: one block per (head, batch),
 * thread j = unit j of the head, walking t = L−1 … 0 (slstm.c's slstm_backward, step for
 * step). Thread j keeps dc̄_j, dn̄_j and its share of R's transposed product (dh_{t−1})_j in
 * registers; the head's dpre (4·dh) goes through shared memory once per step, and so does
 * dR: thread k owns column k of the head's four dh×dh blocks (dR[g][r][k] += dpre[g][r]
 * h_{t−1}[k]) and adds it to global memory once at the end (atomics across the batch). */
__global__ void slstm_backward_kernel(int L, int NH, int dh, int expf_, const float *R, const float *h,
                                      const float *cache, const float *dhout, float *dwx, float *dR)
{
    extern __shared__ float sm[];
    const int ld = dh + 1;
    float *Rs = sm, *dRs = Rs + 4 * dh * ld, *dps = dRs + 4 * dh * ld;
    const int j = threadIdx.x, hd = blockIdx.x, b = blockIdx.y, d = NH * dh, B = gridDim.y;
    for (int idx = threadIdx.x; idx < 4 * dh * dh; idx += blockDim.x) {
        const int g = idx / (dh * dh), r = (idx / dh) % dh, kk = idx % dh;
        Rs[(g * dh + r) * ld + kk] = R[(((size_t)g * NH + hd) * dh + r) * dh + kk];
        dRs[(g * dh + r) * ld + kk] = 0;
    }
    const size_t nwx = (size_t)B * L * 4 * d, nh = (size_t)B * L * d;
    const float *cbar = cache + nwx, *nbar = cbar + nh, *mm = nbar + nh;
    float dc = 0, dn = 0, dhr = 0;
    for (int t = L - 1; t >= 0; t--) {
        const size_t bt = (size_t)b * L + t, u = bt * d + hd * dh + j;
        const float *pre = cache + bt * 4 * d + hd * dh + j;
        const float ig = pre[0], fpre = pre[(size_t)d];
        const float z = tanhf(pre[2 * (size_t)d]), o = 1.f / (1.f + expf(-pre[3 * (size_t)d]));
        const float ct = cbar[u], nt = nbar[u], mt = mm[u];
        const float cp = t ? cbar[u - d] : 0.f, np = t ? nbar[u - d] : 0.f;
        const float mp = t ? mm[u - d] : -INFINITY;
        const float lf = expf_ ? fpre : (fpre >= 0 ? -log1pf(expf(-fpre)) : fpre - log1pf(expf(fpre)));
        const float ip = expf(ig - mt), fp = expf(lf + mp - mt);
        const float g = dhout[u] + dhr;
        const float dout = g * ct / nt;
        dc += g * o / nt;
        dn -= g * o * ct / (nt * nt);
        const float dip = dc * z + dn, dz = dc * ip, dfp = dc * cp + dn * np;
        float dp[4];
        dp[0] = dip * ip;
        dp[1] = dfp * fp * (expf_ ? 1.f : 1.f / (1.f + expf(fpre)));   /* d log σ(x)/dx = σ(−x) */
        dp[2] = dz * (1 - z * z);
        dp[3] = dout * o * (1 - o);
        dc *= fp;
        dn *= fp;
        for (int q = 0; q < 4; q++) dwx[bt * 4 * d + (size_t)q * d + hd * dh + j] = dp[q];
        __syncthreads();                         /* the previous step's dps are read */
        for (int q = 0; q < 4; q++) dps[q * dh + j] = dp[q];
        __syncthreads();
        /* thread j now acts as column k = j: (Rᵀ dpre)_k and dR[·][·][k] */
        const float hp = t ? h[u - d] : 0.f;
        float acc = 0;
        for (int q = 0; q < 4; q++)
            for (int r = 0; r < dh; r++) {
                const float gp = dps[q * dh + r];
                acc += Rs[(q * dh + r) * ld + j] * gp;
                dRs[(q * dh + r) * ld + j] += gp * hp;
            }
        dhr = acc;
    }
    __syncthreads();                             /* every column of dRs is complete */
    for (int idx = threadIdx.x; idx < 4 * dh * dh; idx += blockDim.x) {
        const int g = idx / (dh * dh), r = (idx / dh) % dh, kk = idx % dh;
        atomicAdd(&dR[(((size_t)g * NH + hd) * dh + r) * dh + kk], dRs[(g * dh + r) * ld + kk]);
    }
}

/* ---- mLSTM chunkwise backward (8.15)–(8.17); the reverse state (8.16) ----
 * Per row t (m_t held fixed: h̃ does not depend on it, mlstm.h):
 *   β_t = max(|den_t|, e^{−m_t}),  dnum_t = dh̃_t/β_t,
 *   dden_t = −sign(den_t) (dh̃_t·h̃_t)/β_t where |den_t| wins the max, else 0,
 * and with W_ts = e^{F_{t+1} − F_{s+1} + ĩ_s − m_t} (s ≤ t), dP_ts = dnum_t·v_s + dden_t:
 *   dq_t = Σ_s W_ts dP_ts k_s,  dk_s = Σ_t W_ts dP_ts q_t,  dv_s = Σ_t W_ts (q_t·k_s) dnum_t,
 *   dĩ_s = k_s·dk_s (the column sums of dD̃),  dF_{t+1} = q_t·dq_t − k_t·dk_t (row − column
 *   sums), d log f_j = Σ_{t≥j} dF_{t+1},  df̃_j = σ(−f̃_j) d log f_j.
 * Chunkwise: s and t in the same chunk → the chunk's c×c matrices; t in an earlier chunk
 * than s → the carried forward state (C̄, n̄) as in the forward; t in a later chunk → the
 * reverse state dC̄ = Σ_{t later} e^{F_{t+1} − F_end − m_t − μ} dnum_t q_tᵀ, dn̄ likewise
 * with dden_t, carried from the last chunk backwards with its own stabilizer μ (steps 1 and
 * 2 of the forward, run in reverse). Every weight is ≤ 1: e^{a_s + μ} = max_t W_ts. */

/* dnum (BH, L, d) and dden (BH, L) from dh, h, m, den: one warp per row, lanes along d
 * (coalesced; one thread per row read 32 rows 4·d bytes apart per load); dnb (may be NULL) gets
 * dnum rounded to bf16 for the tensor-core backward */
__global__ void mlstm_bwd_rows_kernel(int rows, int d, const float *dh, const float *h,
                                      const float *mrow, const float *denrow, float *dnum, float *dden,
                                      __nv_bfloat16 *dnb)
{
    const size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (r >= (size_t)rows) return;               /* whole warps leave together */
    const float den = denrow[r], floor_ = expf(-mrow[r]), beta = fmaxf(fabsf(den), floor_);
    float dot = 0;
    for (int i = lane; i < d; i += 32) {
        const size_t e = r * d + i;
        dot += dh[e] * h[e];
        dnum[e] = dh[e] / beta;
        if (dnb) dnb[e] = __float2bfloat16(dnum[e]);
    }
    for (int o = 16; o; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    if (lane == 0) dden[r] = fabsf(den) >= floor_ ? (den >= 0 ? -dot / beta : dot / beta) : 0.f;
}

/* step 3 of the backward, (8.15) with (8.16): dq, dk, dv of one chunk (one block per (chunk, bh)).
 * Shared: A_ts = W_ts dP_ts and P_ts = W_ts (q_t·k_s), c×c each (zero above the diagonal),
 * g_t = e^{F_{t+1} − F_start + m_prev − m_t} (the forward state's weight) and
 * γ_s = e^{F_end − F_{s+1} + ĩ_s + μ} (the reverse state's). */
__global__ void chunk_grad_kernel(int L, int d, int c, const float *q, const float *k, const float *v,
                                  const float *ig, const double *F, const float *mrow,
                                  const float *dnum, const float *dden, const float *Cp,
                                  const float *np, const double *mp, const float *dCp,
                                  const float *dnp, const double *dmp, float *dq, float *dk, float *dv)
{
    extern __shared__ float sm[];
    float *A = sm, *P = A + c * c, *gt = P + c * c, *gs = gt + c;
    const int kc = blockIdx.x, bh = blockIdx.y, NC = gridDim.x;
    const int t0 = kc * c, cl = min(c, L - t0);
    const size_t row = (size_t)bh * L + t0, o = (size_t)bh * NC + kc;
    const double *Fb = F + (size_t)bh * (L + 1) + t0;          /* Fb[i] = F at step t0 + i */
    const double mprev = mp[o], mu = dmp[o];
    for (int i = threadIdx.x; i < cl; i += blockDim.x) {
        gt[i] = (float)exp(Fb[i + 1] - Fb[0] + mprev - (double)mrow[row + i]);
        gs[i] = (float)exp(Fb[cl] - Fb[i + 1] + (double)ig[row + i] + mu);
    }
    for (int idx = threadIdx.x; idx < c * c; idx += blockDim.x) {
        const int t = idx / c, s = idx % c;
        float a = 0, p = 0;
        if (t < cl && s <= t) {
            const float W = expf((float)(Fb[t + 1] - Fb[s + 1] + (double)ig[row + s]) - mrow[row + t]);
            const float *qt = q + (row + t) * d, *ks = k + (row + s) * d;
            const float *dnt = dnum + (row + t) * d, *vs = v + (row + s) * d;
            float S = 0, dPv = 0;
            for (int i = 0; i < d; i++) {
                S += qt[i] * ks[i];
                dPv += dnt[i] * vs[i];
            }
            a = W * (dPv + dden[row + t]);
            p = W * S;
        }
        A[idx] = a;
        P[idx] = p;
    }
    __syncthreads();
    const float *C = Cp + o * d * d, *n = np + o * d, *dC = dCp + o * d * d, *dn = dnp + o * d;
    for (int idx = threadIdx.x; idx < cl * d; idx += blockDim.x) {
        const int r = idx / d, j = idx % d;              /* row r of the chunk, column j */
        /* dq_r[j]: this chunk's s ≤ r, then the carried state C̄ᵀ dnum_r + dden_r n̄ */
        float aq = 0;
        for (int s = 0; s <= r; s++) aq += A[r * c + s] * k[(row + s) * d + j];
        float iq = dden[row + r] * n[j];
        for (int i = 0; i < d; i++) iq += C[i * d + j] * dnum[(row + r) * d + i];
        dq[(row + r) * d + j] = aq + gt[r] * iq;
        /* dk_r[j] and dv_r[j]: this chunk's t ≥ r, then the reverse state */
        float ak = 0, av = 0;
        for (int t = r; t < cl; t++) {
            ak += A[t * c + r] * q[(row + t) * d + j];
            av += P[t * c + r] * dnum[(row + t) * d + j];
        }
        float ik = dn[j], iv = 0;
        for (int i = 0; i < d; i++) {
            ik += dC[i * d + j] * v[(row + r) * d + i];
            iv += dC[j * d + i] * k[(row + r) * d + i];
        }
        dk[(row + r) * d + j] = ak + gs[r] * ik;
        dv[(row + r) * d + j] = av + gs[r] * iv;
    }
}

/* step 3 of the backward on tensor cores: chunk_grad_kernel's products, with bf16 q, k, v, dnum
 * (WMMA 16×16×16, fp32 accumulate). One block per (chunk, bh), 8 warps:
 *   S = Q Kᵀ and dPv = dNum Vᵀ (c×c, the lower tiles)          tensor cores
 *   A_ts = W_ts (dPv_ts + dden_t), P_ts = W_ts S_ts, s ≤ t        fp32, then rounded to bf16
 *   dq = A K,  dk = Aᵀ Q,  dv = Pᵀ dNum (c×d)                     tensor cores
 * and the carried states' parts, fp32 on the CUDA cores from the fp32 states in shared memory:
 *   dq_t += g_t (C̄ᵀ dnum_t + dden_t n̄),  dk_s += γ_s (dC̄ᵀ v_s + dn̄),  dv_s += γ_s dC̄ k_s.
 * Shared: S and dPv share their space with the c×d output tile (dead once A and P are made). */
__host__ __device__ static size_t grad_tc_smem(int c, int d, size_t *o_ab, size_t *o_pb, size_t *o_cs, size_t *o_dcs, size_t *o_small)
{
    const size_t lds = c + 4, ldp = c + 8, ldo = d + 4, ldc = d + 1;
    size_t off = align128(sizeof(float) * (2 * c * lds > c * ldo ? 2 * c * lds : c * ldo));
    *o_ab = off;  off += align128(sizeof(bf16) * c * ldp);
    *o_pb = off;  off += align128(sizeof(bf16) * c * ldp);
    *o_cs = off;  off += align128(sizeof(float) * d * ldc);
    *o_dcs = off; off += align128(sizeof(float) * d * ldc);
    *o_small = off;
    return off + sizeof(float) * (2 * (size_t)d + 3 * (size_t)c);
}

__global__ void chunk_grad_tc_kernel(int L, int d, int c, const bf16 *q, const bf16 *k, const bf16 *v,
                                     const bf16 *dnb, const float *ig, const double *F, const float *mrow,
                                     const float *dnum, const float *dden, const float *Cp, const float *np,
                                     const double *mp, const float *dCp, const float *dnp, const double *dmp,
                                     float *dq, float *dk, float *dv)
{
    extern __shared__ __align__(128) unsigned char smraw[];
    const int lds = c + 4, ldp = c + 8, ldo = d + 4, ldc = d + 1;
    size_t o_ab, o_pb, o_cs, o_dcs, o_small;
    grad_tc_smem(c, d, &o_ab, &o_pb, &o_cs, &o_dcs, &o_small);
    float *S = (float *)smraw, *Dv = S + c * lds, *O = S;
    bf16 *Ab = (bf16 *)(smraw + o_ab), *Pb = (bf16 *)(smraw + o_pb);
    float *Cs = (float *)(smraw + o_cs), *dCs = (float *)(smraw + o_dcs);
    float *ns = (float *)(smraw + o_small), *dns = ns + d, *gt = dns + d, *gs = gt + c, *dd = gs + c;
    const int kc = blockIdx.x, bh = blockIdx.y, NC = gridDim.x;
    const int t0 = kc * c, cl = min(c, L - t0);
    const size_t row = (size_t)bh * L + t0, o = (size_t)bh * NC + kc;
    const double *Fb = F + (size_t)bh * (L + 1) + t0;          /* Fb[i] = F at step t0 + i */
    const double mprev = mp[o], mu = dmp[o];
    const int warp = threadIdx.x / 32, nwarp = blockDim.x / 32, nc16 = c / 16, nd16 = d / 16;
    for (int idx = threadIdx.x; idx < d * d; idx += blockDim.x) {
        Cs[(idx / d) * ldc + idx % d] = Cp[o * d * d + idx];
        dCs[(idx / d) * ldc + idx % d] = dCp[o * d * d + idx];
    }
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        ns[j] = np[o * d + j];
        dns[j] = dnp[o * d + j];
    }
    for (int i = threadIdx.x; i < c; i += blockDim.x) {
        const bool in = i < cl;
        gt[i] = in ? (float)exp(Fb[i + 1] - Fb[0] + mprev - (double)mrow[row + i]) : 0.f;
        gs[i] = in ? (float)exp(Fb[cl] - Fb[i + 1] + (double)ig[row + i] + mu) : 0.f;
        dd[i] = in ? dden[row + i] : 0.f;
    }
    /* S = Q Kᵀ and dPv = dNum Vᵀ, the tiles on and below the diagonal */
    const int ntri = nc16 * (nc16 + 1) / 2;
    for (int tix = warp; tix < 2 * ntri; tix += nwarp) {
        const int which = tix / ntri;
        int ti = 0, rem = tix % ntri;
        while (rem > ti) rem -= ++ti;                      /* (ti, tj = rem), tj ≤ ti */
        const int tj = rem;
        const bf16 *X = which ? dnb : q, *Y = which ? v : k;
        frag_acc acc;
        wm::fill_fragment(acc, 0.f);
        for (int kk = 0; kk < nd16; kk++) {
            frag_a_row a;
            frag_b_col b;       /* Yᵀ: Y's rows read column-major */
            wm::load_matrix_sync(a, X + (row + 16 * ti) * d + 16 * kk, d);
            wm::load_matrix_sync(b, Y + (row + 16 * tj) * d + 16 * kk, d);
            wm::mma_sync(acc, a, b, acc);
        }
        wm::store_matrix_sync((which ? Dv : S) + 16 * ti * lds + 16 * tj, acc, lds, wm::mem_row_major);
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < c * c; idx += blockDim.x) {
        const int t = idx / c, s = idx % c;
        float a = 0, p = 0;
        if (t < cl && s <= t) {
            const float W = expf((float)(Fb[t + 1] - Fb[s + 1] + (double)ig[row + s]) - mrow[row + t]);
            a = W * (Dv[t * lds + s] + dd[t]);
            p = W * S[t * lds + s];
        }
        Ab[t * ldp + s] = __float2bfloat16(a);
        Pb[t * ldp + s] = __float2bfloat16(p);
    }
    /* the three c×d products, one after another through the output tile O */
    for (int which = 0; which < 3; which++) {
        __syncthreads();                                   /* A, P made; O's previous use read */
        for (int tix = warp; tix < nc16 * nd16; tix += nwarp) {
            const int ti = tix / nd16, tj = tix % nd16;
            frag_acc acc;
            wm::fill_fragment(acc, 0.f);
            if (which == 0) mma_lower(&acc, Ab, ldp, k + row * d, d, ti, tj);          /* dq = A K */
            else                                           /* dk = Aᵀ Q, dv = Pᵀ dNum */
                mma_lower_t(&acc, which == 1 ? Ab : Pb, ldp, (which == 1 ? q : dnb) + row * d, d, ti, tj, nc16);
            wm::store_matrix_sync(O + 16 * ti * ldo + 16 * tj, acc, ldo, wm::mem_row_major);
        }
        __syncthreads();
        const int dj = d / 4;                              /* the states' parts, 4×4 tiles (r, j) */
        for (int tile = threadIdx.x; tile < (c / 4) * dj; tile += blockDim.x) {
            const int r0 = (tile / dj) * 4, j0 = tile % dj;
            if (r0 >= cl) continue;
            float acc[4][4];
            if (which == 0) rows_times_state(acc, dnum, NULL, row, r0, cl, d, Cs, ldc, 0, j0, dj);   /* C̄ᵀ dnum_r */
            else if (which == 1) rows_times_state(acc, NULL, v, row, r0, cl, d, dCs, ldc, 0, j0, dj);  /* dC̄ᵀ v_r */
            else rows_times_state(acc, NULL, k, row, r0, cl, d, dCs, ldc, 1, j0, dj);                 /* dC̄ k_r */
            for (int a = 0; a < 4 && r0 + a < cl; a++) {
                const int r = r0 + a;
                const size_t e = (row + r) * d;
                for (int b = 0; b < 4; b++) {
                    const int j = j0 + dj * b;
                    if (which == 0) dq[e + j] = O[r * ldo + j] + gt[r] * (dd[r] * ns[j] + acc[a][b]);
                    else if (which == 1) dk[e + j] = O[r * ldo + j] + gs[r] * (dns[j] + acc[a][b]);
                    else dv[e + j] = O[r * ldo + j] + gs[r] * acc[a][b];
                }
            }
        }
    }
}

/* (8.17) dĩ_t = k_t·dk_t and the row's contribution to dF, q_t·dq_t − k_t·dk_t, in float64: one
 * warp per row as mlstm_bwd_rows_kernel. q, k fp32, or (q, k NULL) qb, kb bf16 (the tensor-core
 * path's inputs). */
__global__ void mlstm_gate_rows_kernel(int rows, int d, const float *q, const float *k, const __nv_bfloat16 *qb,
                                       const __nv_bfloat16 *kb, const float *dq, const float *dk, float *dig,
                                       double *rF)
{
    const size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (r >= (size_t)rows) return;
    double a = 0, b = 0;
    for (int i = lane; i < d; i += 32) {
        const size_t e = r * d + i;
        a += (double)(q ? q[e] : __bfloat162float(qb[e])) * dq[e];
        b += (double)(k ? k[e] : __bfloat162float(kb[e])) * dk[e];
    }
    for (int o = 16; o; o >>= 1) {
        a += __shfl_xor_sync(0xffffffffu, a, o);
        b += __shfl_xor_sync(0xffffffffu, b, o);
    }
    if (lane == 0) {
        dig[r] = (float)b;
        rF[r] = a - b;
    }
}

/* df̃_j = σ(−f̃_j) Σ_{t≥j} rF_t, the reverse cumulative sum in float64: one block per head as
 * cum_log_forget_kernel, thread i owning the i-th segment from the END, so that the block's
 * prefix sum is the suffix sum (no total minus prefix: the rF_t sum to ~0, that would cancel). */
__global__ void forget_grad_kernel(int L, const float *fg, const double *rF, float *dfg)
{
    __shared__ double ws[32];
    const int bh = blockIdx.x, seg = (L + blockDim.x - 1) / blockDim.x;
    const int t1 = max(0, L - (int)threadIdx.x * seg), t0 = max(0, t1 - seg);   /* [t0, t1) */
    const size_t o = (size_t)bh * L;
    double own = 0;
    for (int t = t0; t < t1; t++) own += rF[o + t];
    double acc = block_scan_d(own, ws);          /* Σ over the steps after t1 − 1 */
    for (int t = t1 - 1; t >= t0; t--) {
        acc += rF[o + t];
        dfg[o + t] = (float)(acc / (1.0 + exp((double)fg[o + t])));
    }
}

/* ---- host side ---- */

static float *to_dev(const float *x, size_t n)
{
    float *d = NULL;
    CK(cudaMalloc(&d, n * sizeof(float) + 4));
    CK(cudaMemcpy(d, x, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

static void check_sizes(int BH, int L, int d)
{
    if (BH < 1 || L < 1 || d < 1 || d > 256 || BH > 65535 || L > 1 << 20)
        bad("mLSTM sizes: need 1 <= BH <= 65535, 1 <= L <= 2^20, 1 <= d <= 256");
}

static void set_smem(const void *kern, size_t bytes)
{
    if (bytes > 200 * 1024) bad("shared memory need above 200 KiB: L (naive) or d (chunkwise, sLSTM) too large");
    if (bytes > 48 * 1024) CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

/* Kernel timing with CUDA events: ev_begin before the launches, ev_end after (it checks the
 * launches, waits, and returns the milliseconds between). */
static void ev_begin(cudaEvent_t ev[2])
{
    CK(cudaEventCreate(&ev[0]));
    CK(cudaEventCreate(&ev[1]));
    CK(cudaEventRecord(ev[0]));
}

/* XGPU_PROFILE=1: the chunkwise paths mark each kernel's end (prof_mark) and ev_end prints the
 * time of each, one line per kernel on stderr — where the time goes, without a profiler. */
static int g_prof = -1, g_pn = 0;
static cudaEvent_t g_pev[32];
static const char *g_pname[32];

static void prof_mark(const char *name)
{
    if (g_prof < 0) g_prof = getenv("XGPU_PROFILE") != NULL;
    if (!g_prof || g_pn >= 32) return;
    CK(cudaEventCreate(&g_pev[g_pn]));
    CK(cudaEventRecord(g_pev[g_pn]));
    g_pname[g_pn++] = name;
}

static void prof_print(cudaEvent_t start)
{
    for (int i = 0; i < g_pn; i++) {
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, i ? g_pev[i - 1] : start, g_pev[i]));
        fprintf(stderr, "xgpu profile: %-28s %9.4f ms\n", g_pname[i], ms);
    }
    for (int i = 0; i < g_pn; i++) CK(cudaEventDestroy(g_pev[i]));
    g_pn = 0;
}

static double ev_end(cudaEvent_t ev[2])
{
    CK(cudaGetLastError());
    CK(cudaEventRecord(ev[1]));
    CK(cudaEventSynchronize(ev[1]));
    prof_print(ev[0]);
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    CK(cudaEventDestroy(ev[0]));
    CK(cudaEventDestroy(ev[1]));
    return ms;
}

extern "C" double xgpu_mlstm_naive(int BH, int L, int d, const float *q, const float *k, const float *v,
                                   const float *ig, const float *fg, float *h)
{
    check_sizes(BH, L, d);
    const size_t n = (size_t)BH * L * d;
    float *dq = to_dev(q, n), *dk = to_dev(k, n), *dv = to_dev(v, n), *di = to_dev(ig, (size_t)BH * L);
    float *df = to_dev(fg, (size_t)BH * L), *dh = NULL;
    double *dF = NULL;
    CK(cudaMalloc(&dh, n * sizeof(float)));
    CK(cudaMalloc(&dF, (size_t)BH * (L + 1) * sizeof(double)));
    const size_t smem = ((size_t)L + d + 32) * sizeof(float);
    set_smem((const void *)mlstm_naive_kernel, smem);
    cudaEvent_t ev[2];
    ev_begin(ev);
    cum_log_forget_kernel<<<BH, 256>>>(L, df, dF);
    mlstm_naive_kernel<<<dim3(L, BH), 128, smem>>>(L, d, dq, dk, dv, di, dF, dh);
    const double ms = ev_end(ev);
    CK(cudaMemcpy(h, dh, n * sizeof(float), cudaMemcpyDeviceToHost));
    cudaFree(dq); cudaFree(dk); cudaFree(dv); cudaFree(di); cudaFree(df); cudaFree(dh); cudaFree(dF);
    return ms;
}

/* to the device as bf16, with `pad` zero rows of d after the end: the last chunk's tiles
 * read whole 16-row blocks */
static bf16 *to_dev_bf16(const float *x, size_t n, size_t pad)
{
    bf16 *hb = (bf16 *)malloc((n + pad) * sizeof(bf16)), *db = NULL;
    if (!hb) bad("out of host memory");
    for (size_t i = 0; i < n; i++) hb[i] = __float2bfloat16(x[i]);
    for (size_t i = n; i < n + pad; i++) hb[i] = __float2bfloat16(0.f);
    CK(cudaMalloc(&db, (n + pad) * sizeof(bf16)));
    CK(cudaMemcpy(db, hb, (n + pad) * sizeof(bf16), cudaMemcpyHostToDevice));
    free(hb);
    return db;
}

/* Per (bh, chunk): a chunk's own state (Cl, nl, its stabilizer ml, its log decay bc) and the
 * carried state before it in the pass's order (Cp, np, mp): the forward's and the backward's. */
typedef struct {
    float *Cl, *nl, *Cp, *np;
    double *ml, *bc, *mp;
} chunk_states;

static void states_alloc(chunk_states *s, size_t ns, int d)
{
    CK(cudaMalloc(&s->Cl, ns * d * d * sizeof(float)));
    CK(cudaMalloc(&s->Cp, ns * d * d * sizeof(float)));
    CK(cudaMalloc(&s->nl, ns * d * sizeof(float)));
    CK(cudaMalloc(&s->np, ns * d * sizeof(float)));
    CK(cudaMalloc(&s->ml, ns * sizeof(double)));
    CK(cudaMalloc(&s->bc, ns * sizeof(double)));
    CK(cudaMalloc(&s->mp, ns * sizeof(double)));
}

static void states_free(chunk_states *s)
{
    cudaFree(s->Cl); cudaFree(s->Cp); cudaFree(s->nl); cudaFree(s->np); cudaFree(s->ml); cudaFree(s->bc);
    cudaFree(s->mp);
}

/* step 2 over every head: one thread per entry of (C̄, n̄), see chunk_scan_kernel */
static void states_pass(chunk_states *s, int BH, int NC, int d, int reverse)
{
    chunk_scan_kernel<<<dim3(BH, (d * d + d + 255) / 256), 256>>>(NC, d, reverse, s->Cl, s->nl, s->ml, s->bc, s->Cp,
                                                                  s->np, s->mp);
}

/* The chunkwise forward's device buffers; the backward keeps them (states before each
 * chunk, per-row m and den). tc: q, k, v as bf16 (qb, kb, vb; q, k, v NULL) for the
 * tensor-core kernels, which take chunk 16, 32 or 64 and d a multiple of 16 up to 128. */
typedef struct {
    int BH, L, d, chunk, NC, tc;
    float *q, *k, *v, *ig, *fg, *h, *mrow, *den;
    bf16 *qb, *kb, *vb;
    double *F;
    chunk_states s;
} chunk_fwd;

static void chunk_fwd_alloc(chunk_fwd *w, int BH, int L, int d, int chunk, const float *q, const float *k,
                            const float *v, const float *ig, const float *fg, int keep_rows, int tc)
{
    check_sizes(BH, L, d);
    if (tc) {
        if (d % 16 || d > 128) bad("mLSTM bf16: d must be a multiple of 16, at most 128");
        if (chunk != 16 && chunk != 32 && chunk != 64) bad("mLSTM bf16: chunk must be 16, 32 or 64");
    } else {
        if (chunk < 1 || chunk > 1024) bad("mLSTM chunk must be in [1, 1024]");
        if (chunk > L) chunk = L;
    }
    w->BH = BH; w->L = L; w->d = d; w->chunk = chunk; w->NC = (L + chunk - 1) / chunk; w->tc = tc;
    const size_t n = (size_t)BH * L * d, ns = (size_t)BH * w->NC;
    w->q = w->k = w->v = NULL;
    w->qb = w->kb = w->vb = NULL;
    if (tc) {
        w->qb = to_dev_bf16(q, n, (size_t)chunk * d);
        w->kb = to_dev_bf16(k, n, (size_t)chunk * d);
        w->vb = to_dev_bf16(v, n, (size_t)chunk * d);
    } else {
        w->q = to_dev(q, n); w->k = to_dev(k, n); w->v = to_dev(v, n);
    }
    w->ig = to_dev(ig, (size_t)BH * L); w->fg = to_dev(fg, (size_t)BH * L);
    w->mrow = w->den = NULL;
    CK(cudaMalloc(&w->h, n * sizeof(float)));
    CK(cudaMalloc(&w->F, (size_t)BH * (L + 1) * sizeof(double)));
    states_alloc(&w->s, ns, d);
    if (keep_rows) {
        CK(cudaMalloc(&w->mrow, (size_t)BH * L * sizeof(float)));
        CK(cudaMalloc(&w->den, (size_t)BH * L * sizeof(float)));
    }
}

static void chunk_fwd_free(chunk_fwd *w)
{
    cudaFree(w->q); cudaFree(w->k); cudaFree(w->v); cudaFree(w->ig); cudaFree(w->fg); cudaFree(w->h);
    cudaFree(w->F); cudaFree(w->mrow); cudaFree(w->den);
    states_free(&w->s);
    cudaFree(w->qb); cudaFree(w->kb); cudaFree(w->vb);
}

/* shared memory of the tensor-core kernels: step 1 (w, and w·y in bf16), step 3 (S, P, P V, C̄) */
static size_t state_tc_smem(int c, int d)
{
    return align128((size_t)(c + 32) * sizeof(float)) + (size_t)c * (d + 8) * sizeof(bf16);
}

static size_t out_tc_smem(int c, int d)
{
    return align128((size_t)c * (c + 4) * sizeof(float)) + align128((size_t)c * (c + 8) * sizeof(bf16)) +
           align128((size_t)c * (d + 4) * sizeof(float)) + align128((size_t)d * (d + 1) * sizeof(float)) +
           ((size_t)d + 3 * c) * sizeof(float);
}

/* (8.10)–(8.11): F, the chunks' own states, the pass over chunks, the outputs */
static void chunk_fwd_run(chunk_fwd *w)
{
    const int BH = w->BH, L = w->L, d = w->d, c = w->chunk, NC = w->NC;
    cum_log_forget_kernel<<<BH, 256>>>(L, w->fg, w->F);
    prof_mark("fwd cum_log_forget");
    /* step 1: each chunk's own state; fp32 on the CUDA cores, or Vᵀ diag(w) K on the tensor cores */
    const size_t smem1 = w->tc ? state_tc_smem(c, d) : ((size_t)c + 32) * sizeof(float);
    const size_t smem3 = w->tc ? out_tc_smem(c, d) : ((size_t)d * d + 2 * d + c + 32) * sizeof(float);
    set_smem(w->tc ? (const void *)chunk_state_tc_kernel : (const void *)chunk_state_kernel, smem1);
    set_smem(w->tc ? (const void *)chunk_out_tc_kernel : (const void *)chunk_out_kernel, smem3);
    if (w->tc)
        chunk_state_tc_kernel<<<dim3(NC, BH), 128, smem1>>>(L, d, c, 0, w->vb, w->kb, NULL, w->ig, w->F, w->s.Cl,
                                                             w->s.nl, w->s.ml, w->s.bc);
    else
        chunk_state_kernel<<<dim3(NC, BH), 256, smem1>>>(L, d, c, 0, w->v, w->k, NULL, w->ig, w->F, w->s.Cl, w->s.nl,
                                                          w->s.ml, w->s.bc);
    prof_mark(w->tc ? "fwd chunk_state_tc" : "fwd chunk_state");
    /* step 2: the pass over chunks (the same for both) */
    states_pass(&w->s, BH, NC, d, 0);
    prof_mark("fwd chunk_scan");
    /* step 3: the outputs */
    if (w->tc)
        chunk_out_tc_kernel<<<dim3(NC, BH), 128, smem3>>>(L, d, c, w->qb, w->kb, w->vb, w->ig, w->F, w->s.Cp, w->s.np,
                                                           w->s.mp, w->h, w->mrow, w->den);
    else
        chunk_out_kernel<<<dim3(NC, BH), 128, smem3>>>(L, d, c, w->q, w->k, w->v, w->ig, w->F, w->s.Cp, w->s.np, w->s.mp,
                                                       w->h, w->mrow, w->den);
    prof_mark(w->tc ? "fwd chunk_out_tc" : "fwd chunk_out");
}

/* --bench-gpu: the chunkwise kernels run this many times on one upload; the median is returned */
static int g_reps = 1;

extern "C" void xgpu_bench_reps(int reps) { g_reps = reps < 1 ? 1 : reps > 15 ? 15 : reps; }

static double median_ms(double *t, int n)
{
    for (int i = 1; i < n; i++)                  /* insertion sort: n <= 15 */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            const double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static double chunk_fwd_only(int BH, int L, int d, int chunk, const float *q, const float *k, const float *v,
                             const float *ig, const float *fg, float *h, int tc)
{
    chunk_fwd w;
    chunk_fwd_alloc(&w, BH, L, d, chunk, q, k, v, ig, fg, 0, tc);
    cudaEvent_t ev[2];
    double t[15];
    for (int r = 0; r < g_reps; r++) {
        ev_begin(ev);
        chunk_fwd_run(&w);
        t[r] = ev_end(ev);
    }
    const double ms = median_ms(t, g_reps);
    CK(cudaMemcpy(h, w.h, (size_t)BH * L * d * sizeof(float), cudaMemcpyDeviceToHost));
    chunk_fwd_free(&w);
    return ms;
}

extern "C" double xgpu_mlstm_chunkwise(int BH, int L, int d, int chunk, const float *q, const float *k,
                                       const float *v, const float *ig, const float *fg, float *h)
{
    return chunk_fwd_only(BH, L, d, chunk, q, k, v, ig, fg, h, 0);
}

extern "C" double xgpu_mlstm_chunkwise_bf16(int BH, int L, int d, int chunk, const float *q, const float *k,
                                            const float *v, const float *ig, const float *fg, float *h)
{
    return chunk_fwd_only(BH, L, d, chunk, q, k, v, ig, fg, h, 1);
}

/* The backward's device buffers: dh, dnum (+ its bf16 copy dnb for the tensor cores, with the
 * forward's zero pad), dden, the reverse states, the gradients. */
typedef struct {
    float *dh, *dnum, *dden, *gq, *gk, *gv, *gi, *gf;
    double *rF;
    bf16 *dnb;
    chunk_states s;                 /* the reverse states (8.16) */
} chunk_bwd;

static void chunk_bwd_alloc(chunk_bwd *b, const chunk_fwd *w, const float *dh)
{
    const int rows = w->BH * w->L, d = w->d;
    const size_t n = (size_t)rows * d, ns = (size_t)w->BH * w->NC;
    b->dh = to_dev(dh, n);
    b->dnb = NULL;
    if (w->tc) {
        const size_t nb = n + (size_t)w->chunk * d;
        CK(cudaMalloc(&b->dnb, nb * sizeof(bf16)));
        CK(cudaMemset(b->dnb, 0, nb * sizeof(bf16)));     /* the pad: 0 in bf16 is all-zero bits */
    }
    CK(cudaMalloc(&b->dnum, n * sizeof(float)));
    CK(cudaMalloc(&b->dden, (size_t)rows * sizeof(float)));
    states_alloc(&b->s, ns, d);
    CK(cudaMalloc(&b->rF, (size_t)rows * sizeof(double)));
    CK(cudaMalloc(&b->gq, n * sizeof(float)));
    CK(cudaMalloc(&b->gk, n * sizeof(float)));
    CK(cudaMalloc(&b->gv, n * sizeof(float)));
    CK(cudaMalloc(&b->gi, (size_t)rows * sizeof(float)));
    CK(cudaMalloc(&b->gf, (size_t)rows * sizeof(float)));
}

/* the results to the host, then every buffer of both passes freed */
static void chunk_bwd_finish(chunk_bwd *b, chunk_fwd *w, float *h, float *dq, float *dk, float *dv, float *dig,
                             float *dfg)
{
    const size_t rows = (size_t)w->BH * w->L, n = rows * w->d;
    if (h) CK(cudaMemcpy(h, w->h, n * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dq, b->gq, n * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dk, b->gk, n * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dv, b->gv, n * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dig, b->gi, rows * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dfg, b->gf, rows * sizeof(float), cudaMemcpyDeviceToHost));
    chunk_fwd_free(w);
    cudaFree(b->dh); cudaFree(b->dnum); cudaFree(b->dden); cudaFree(b->rF); cudaFree(b->gq); cudaFree(b->gk);
    cudaFree(b->gv); cudaFree(b->gi); cudaFree(b->gf); cudaFree(b->dnb);
    states_free(&b->s);
}

/* The forward (fp32 or tensor cores as w->tc says), timed into *ms_forward, then the backward
 * (8.15)–(8.17), timed into the return value; both through the same steps:
 * rows → reverse chunk states → reverse pass → per-chunk dq, dk, dv → gate gradients. */
static double chunk_fwd_bwd(chunk_fwd *w, chunk_bwd *b, double *ms_forward)
{
    const int BH = w->BH, L = w->L, d = w->d, c = w->chunk, NC = w->NC, rows = BH * L;
    cudaEvent_t ev[2];
    double tf[15], tb[15];
    for (int r = 0; r < g_reps; r++) {
        ev_begin(ev);
        chunk_fwd_run(w);
        tf[r] = ev_end(ev);
    }
    if (ms_forward) *ms_forward = median_ms(tf, g_reps);
    for (int r = 0; r < g_reps; r++) {           /* every step overwrites its outputs: repeatable */
        ev_begin(ev);
        mlstm_bwd_rows_kernel<<<(rows + 7) / 8, 256>>>(rows, d, b->dh, w->h, w->mrow, w->den, b->dnum, b->dden,
                                                           b->dnb);
        prof_mark("bwd rows");
        if (w->tc) {
            size_t o1, o2, o3, o4, o5;
            const size_t smem1 = state_tc_smem(c, d), smemg = grad_tc_smem(c, d, &o1, &o2, &o3, &o4, &o5);
            set_smem((const void *)chunk_state_tc_kernel, smem1);
            set_smem((const void *)chunk_grad_tc_kernel, smemg);
            chunk_state_tc_kernel<<<dim3(NC, BH), 128, smem1>>>(L, d, c, 1, b->dnb, w->qb, b->dden, w->mrow, w->F,
                                                                 b->s.Cl, b->s.nl, b->s.ml, b->s.bc);
            prof_mark("bwd chunk_state_tc");
            states_pass(&b->s, BH, NC, d, 1);
            prof_mark("bwd chunk_scan (reverse)");
            chunk_grad_tc_kernel<<<dim3(NC, BH), 256, smemg>>>(L, d, c, w->qb, w->kb, w->vb, b->dnb, w->ig, w->F,
                                                                w->mrow, b->dnum, b->dden, w->s.Cp, w->s.np, w->s.mp, b->s.Cp,
                                                                b->s.np, b->s.mp, b->gq, b->gk, b->gv);
            prof_mark("bwd chunk_grad_tc");
        } else {
            const size_t smem1 = ((size_t)c + 32) * sizeof(float), smemg = ((size_t)2 * c * c + 2 * c) * sizeof(float);
            set_smem((const void *)chunk_grad_kernel, smemg);
            chunk_state_kernel<<<dim3(NC, BH), 256, smem1>>>(L, d, c, 1, b->dnum, w->q, b->dden, w->mrow, w->F, b->s.Cl,
                                                              b->s.nl, b->s.ml, b->s.bc);
            prof_mark("bwd chunk_state");
            states_pass(&b->s, BH, NC, d, 1);
            prof_mark("bwd chunk_scan (reverse)");
            chunk_grad_kernel<<<dim3(NC, BH), 256, smemg>>>(L, d, c, w->q, w->k, w->v, w->ig, w->F, w->mrow, b->dnum,
                                                            b->dden, w->s.Cp, w->s.np, w->s.mp, b->s.Cp, b->s.np, b->s.mp, b->gq,
                                                            b->gk, b->gv);
            prof_mark("bwd chunk_grad");
        }
        mlstm_gate_rows_kernel<<<(rows + 7) / 8, 256>>>(rows, d, w->q, w->k, w->qb, w->kb, b->gq, b->gk, b->gi,
                                                            b->rF);
        prof_mark("bwd gate_rows");
        forget_grad_kernel<<<BH, 256>>>(L, w->fg, b->rF, b->gf);
        prof_mark("bwd forget_grad");
        tb[r] = ev_end(ev);
    }
    return median_ms(tb, g_reps);
}

static double chunk_backward(int BH, int L, int d, int chunk, const float *q, const float *k, const float *v,
                             const float *ig, const float *fg, const float *dh, float *h, float *dq, float *dk,
                             float *dv, float *dig, float *dfg, double *ms_forward, int tc)
{
    chunk_fwd w;
    chunk_bwd b;
    chunk_fwd_alloc(&w, BH, L, d, chunk, q, k, v, ig, fg, 1, tc);
    chunk_bwd_alloc(&b, &w, dh);
    const double ms = chunk_fwd_bwd(&w, &b, ms_forward);
    chunk_bwd_finish(&b, &w, h, dq, dk, dv, dig, dfg);
    return ms;
}

extern "C" double xgpu_mlstm_chunkwise_backward(int BH, int L, int d, int chunk, const float *q,
                                                const float *k, const float *v, const float *ig,
                                                const float *fg, const float *dh, float *h, float *dq,
                                                float *dk, float *dv, float *dig, float *dfg,
                                                double *ms_forward)
{
    if (chunk > 128 && L > 128) bad("mLSTM backward: chunk must be <= 128 (two chunk x chunk tiles in shared memory)");
    return chunk_backward(BH, L, d, chunk, q, k, v, ig, fg, dh, h, dq, dk, dv, dig, dfg, ms_forward, 0);
}

extern "C" double xgpu_mlstm_chunkwise_bf16_backward(int BH, int L, int d, int chunk, const float *q,
                                                     const float *k, const float *v, const float *ig,
                                                     const float *fg, const float *dh, float *h, float *dq,
                                                     float *dk, float *dv, float *dig, float *dfg,
                                                     double *ms_forward)
{
    return chunk_backward(BH, L, d, chunk, q, k, v, ig, fg, dh, h, dq, dk, dv, dig, dfg, ms_forward, 1);
}

static void slstm_check_sizes(int B, int L, int NH, int dh, int dh_max)
{
    if (B < 1 || L < 1 || NH < 1 || dh < 1 || dh > dh_max || B > 65535 || NH > 65535) {
        char msg[160];
        snprintf(msg, sizeof msg, "sLSTM sizes: need B, L, NH >= 1 and 1 <= dh <= %d, got B %d L %d NH %d dh %d",
                 dh_max, B, L, NH, dh);
        bad(msg);
    }
}

/* + 4 floats after h: compute-sanitizer (memcheck) on the H200 caught a 12-byte shared read
 * at the end of h for dh = 1 — ptxas merges the loop remainder's loads of h[k], h[k+1],
 * h[k+2] into one wide load ahead of the trip-count test. The pad keeps it inside. */
static size_t slstm_fwd_smem(int dh) { return ((size_t)4 * dh * (dh + 1) + dh + 4) * sizeof(float); }

extern "C" double xgpu_slstm_fused(int B, int L, int NH, int dh, int exp_forget, const float *wx,
                                   const float *R, float *h)
{
    slstm_check_sizes(B, L, NH, dh, 128);
    const size_t d = (size_t)NH * dh, nw = (size_t)B * L * 4 * d, nh = (size_t)B * L * d;
    float *dw = to_dev(wx, nw), *dR = to_dev(R, (size_t)4 * NH * dh * dh), *dhh = NULL;
    CK(cudaMalloc(&dhh, nh * sizeof(float)));
    const size_t smem = slstm_fwd_smem(dh);
    set_smem((const void *)slstm_fused_kernel, smem);
    cudaEvent_t ev[2];
    ev_begin(ev);
    slstm_fused_kernel<<<dim3(NH, B), dh, smem>>>(L, NH, dh, exp_forget, dw, dR, dhh, NULL);
    const double ms = ev_end(ev);
    CK(cudaMemcpy(h, dhh, nh * sizeof(float), cudaMemcpyDeviceToHost));
    cudaFree(dw); cudaFree(dR); cudaFree(dhh);
    return ms;
}

extern "C" double xgpu_slstm_backward(int B, int L, int NH, int dh, int exp_forget, const float *wx,
                                      const float *R, const float *dh_out, float *h, float *dwx,
                                      float *dR, double *ms_forward)
{
    slstm_check_sizes(B, L, NH, dh, 64);   /* R and dR of the head in shared memory */
    const size_t d = (size_t)NH * dh, nw = (size_t)B * L * 4 * d, nh = (size_t)B * L * d;
    const size_t nr = (size_t)4 * NH * dh * dh;
    float *dw = to_dev(wx, nw), *dRw = to_dev(R, nr), *ddh = to_dev(dh_out, nh), *dhh, *cache, *gw, *gR;
    CK(cudaMalloc(&dhh, nh * sizeof(float)));
    CK(cudaMalloc(&cache, (nw + 3 * nh) * sizeof(float)));
    CK(cudaMalloc(&gw, nw * sizeof(float)));
    CK(cudaMalloc(&gR, nr * sizeof(float)));
    const size_t smem = slstm_fwd_smem(dh), smemb = ((size_t)8 * dh * (dh + 1) + 4 * dh) * sizeof(float);
    set_smem((const void *)slstm_fused_kernel, smem);
    set_smem((const void *)slstm_backward_kernel, smemb);
    cudaEvent_t ev[2];
    ev_begin(ev);
    slstm_fused_kernel<<<dim3(NH, B), dh, smem>>>(L, NH, dh, exp_forget, dw, dRw, dhh, cache);
    const double msf = ev_end(ev);
    if (ms_forward) *ms_forward = msf;
    ev_begin(ev);
    CK(cudaMemsetAsync(gR, 0, nr * sizeof(float)));
    slstm_backward_kernel<<<dim3(NH, B), dh, smemb>>>(L, NH, dh, exp_forget, dRw, dhh, cache, ddh, gw, gR);
    const double ms = ev_end(ev);
    if (h) CK(cudaMemcpy(h, dhh, nh * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dwx, gw, nw * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dR, gR, nr * sizeof(float), cudaMemcpyDeviceToHost));
    cudaFree(dw); cudaFree(dRw); cudaFree(ddh); cudaFree(dhh); cudaFree(cache); cudaFree(gw); cudaFree(gR);
    return ms;
}

extern "C" void xgpu_round_bf16(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = __bfloat162float(__float2bfloat16(x[i]));
}
