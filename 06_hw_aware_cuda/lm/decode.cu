/* 06_hw_aware_cuda/lm/decode.cu — the recurrent O(1)-per-token step of the language model on
 * the GPU (chapter 6, part 3, §G.4): the kernels one generated token runs through, all on
 * one explicit stream so that the whole step can be captured in a CUDA graph (the layer
 * kernels of training launch on the legacy default stream, which cannot be captured).
 *
 * Per layer, for B sequences (row-major (B, ·) activations, float32):
 *   h  = RMSNorm(x)                                   dec_rmsnorm           (6.9)
 *   xz = h W_inᵀ                      (B, 2D)         dec_gemv              (6.12)
 *   u  = SiLU(b + Σ_k w_k s_k)  with the conv state s shifted by one     dec_conv_step (6.11)
 *   [δ_low | B | C] = u W_xᵀ          (B, R + 2N)     dec_gemv
 *   δ = softplus(W_dt δ_low + b_dt);  h_n ← e^{δ A_n} h_n + δ B_n u;
 *   y = (Σ_n C_n h_n + D u) · SiLU(z)                 dec_ssm_step          (5.1)–(5.6)
 *   x ← x + y W_outᵀ                                  dec_gemv (β = 1)      (6.12)
 * and at the end logits = RMSNorm_f(x) Eᵀ (dec_gemv over the vocabulary) and the greedy
 * choice (dec_argmax). The matmuls at one token per sequence are matrix-vector products
 * whose cost is reading the weights once: dec_gemv streams each weight row once for up to
 * 8 sequences, with the weights in float32 or bfloat16 (activations and states stay float32). */
#include <cuda_bf16.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/decode.h"
#include "06_hw_aware_cuda/lm/device.cuh"

#define S(stream) ((cudaStream_t)(stream))

/* ---- weights in float32 or bfloat16, read as float ---- */
__device__ __forceinline__ float ld_w(const float *w, size_t i) { return w[i]; }
__device__ __forceinline__ float ld_w(const __nv_bfloat16 *w, size_t i) { return __bfloat162float(w[i]); }

/* 8 consecutive weights from a 16-byte-aligned address, as loaded (raw8: float two 16-byte
 * loads, bf16 one) and as floats (unpack8); ld_w8 both at once. Loading the raw words first lets
 * a loop put several rows' loads in flight before it converts any. */
template <typename WT> struct raw8;
template <> struct raw8<float> { float4 a, b; };
template <> struct raw8<__nv_bfloat16> { uint4 q; };
__device__ __forceinline__ void ld_raw8(raw8<float> &r, const float *w)
{
    r.a = reinterpret_cast<const float4 *>(w)[0];
    r.b = reinterpret_cast<const float4 *>(w)[1];
}
__device__ __forceinline__ void ld_raw8(raw8<__nv_bfloat16> &r, const __nv_bfloat16 *w)
{
    r.q = *reinterpret_cast<const uint4 *>(w);
}
__device__ __forceinline__ void unpack8(const raw8<float> &r, float v[8])
{
    v[0] = r.a.x; v[1] = r.a.y; v[2] = r.a.z; v[3] = r.a.w; v[4] = r.b.x; v[5] = r.b.y; v[6] = r.b.z; v[7] = r.b.w;
}
__device__ __forceinline__ void unpack8(const raw8<__nv_bfloat16> &r, float v[8])
{
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&r.q);
    for (int i = 0; i < 4; i++) {
        const float2 f = __bfloat1622float2(h[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
    }
}
template <typename WT>
__device__ __forceinline__ void ld_w8(const WT *w, float v[8])
{
    raw8<WT> r;
    ld_raw8(r, w);
    unpack8(r, v);
}

#define DEC_BT 8
/* The 8-wide step of every matrix-vector product here: acc[b] += Σ_{i<8} w[i] x_b[8 k8 + i] for
 * the nb ≤ DEC_BT inputs x_b = x + b·ldx (16-byte aligned) */
template <int NBT = DEC_BT>   /* NBT: the accumulators (nb ≤ NBT) */
__device__ __forceinline__ void dot8_acc(float *acc, const float w[8], const float *x, size_t ldx, int k8, int nb)
{
#pragma unroll
    for (int b = 0; b < NBT; b++) {
        if (b >= nb) break;
        const float4 a = reinterpret_cast<const float4 *>(x + b * ldx)[2 * k8];
        const float4 c = reinterpret_cast<const float4 *>(x + b * ldx)[2 * k8 + 1];
        acc[b] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w + w[4] * c.x + w[5] * c.y + w[6] * c.z + w[7] * c.w;
    }
}

/* =====================================================================================
 * Embedding and RMSNorm for B tokens */

template <typename WT>
__global__ void dec_embed_kernel(float *x, const WT *E, const int *tok, int dm)
{
    const int b = blockIdx.y;
    const size_t row = (size_t)tok[b] * dm;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < dm; c += gridDim.x * blockDim.x)
        x[(size_t)b * dm + c] = ld_w(E, row + c);
}

void dec_embed(float *x, const void *E, int bf16, const int *tok, int B, int dm, void *stream)
{
    dim3 grid(lm_blocks((size_t)dm, 256), B);
    if (bf16) dec_embed_kernel<<<grid, 256, 0, S(stream)>>>(x, (const __nv_bfloat16 *)E, tok, dm);
    else dec_embed_kernel<<<grid, 256, 0, S(stream)>>>(x, (const float *)E, tok, dm);
    LM_LAUNCH_CHECK();
}

/* (6.9) one block per token: y = x · (mean(x²) + ε)^−½ · w */
__global__ void dec_rmsnorm_kernel(float *y, const float *x, const float *w, int dm, float eps)
{
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * dm;
    float ss = 0.f;
    for (int c = threadIdx.x; c < dm; c += blockDim.x) ss += xr[c] * xr[c];
    const float r = rsqrtf(block_sum(ss, sh) / (float)dm + eps);
    for (int c = threadIdx.x; c < dm; c += blockDim.x) y[(size_t)blockIdx.x * dm + c] = xr[c] * r * w[c];
}

void dec_rmsnorm(float *y, const float *x, const float *w, int B, int dm, float eps, void *stream)
{
    dec_rmsnorm_kernel<<<B, 256, 0, S(stream)>>>(y, x, w, dm, eps);
    LM_LAUNCH_CHECK();
}

/* =====================================================================================
 * y[b, r] = β·y[b, r] + Σ_k W[r, k] x[b, k] for b < B, r < rows: the matmul of one token.
 * A block is 8 warps; sequences go in groups of DEC_BT (each group's block reads the same
 * weight rows; the group index varies fastest over the grid, so the groups of one row range
 * run side by side and share those rows through L2). Two shapes:
 *   row per warp   each warp owns rows_per_warp rows and walks K with 16-byte loads, then a
 *                  shuffle sum: for the wide matrices (in_proj, out_proj, the vocabulary);
 *   split K        the whole block shares one row (each warp a slice of K, then a block
 *                  sum): for x_proj, whose R + 2N rows are too few to fill the GPU. */
#define DEC_MAX_K 8   /* the conv width the step kernels take */

/* acc[b] = this thread's part of row wr · x_b for the group's nb sequences: the terms k0, k0 + kstep, …
 * (in pieces of 8 with VEC); the caller sums the parts over the warp or the block */
template <typename WT, bool VEC>
__device__ __forceinline__ void dot_rows(float acc[DEC_BT], const WT *wr, const float *x, int ldx,
                                         int nb, int k0, int K, int kstep)
{
#pragma unroll
    for (int b = 0; b < DEC_BT; b++) acc[b] = 0.f;
    if (VEC) {
        for (int k = k0 * 8; k < K; k += kstep * 8) {
            float w[8];
            ld_w8(wr + k, w);
            dot8_acc(acc, w, x, (size_t)ldx, k / 8, nb);
        }
    } else {
        for (int k = k0; k < K; k += kstep) {
            const float w = ld_w(wr, (size_t)k);
#pragma unroll
            for (int b = 0; b < DEC_BT; b++) {
                if (b >= nb) break;
                acc[b] += w * x[(size_t)b * ldx + k];
            }
        }
    }
}

template <typename WT, bool VEC>
__global__ void __launch_bounds__(256) dec_gemv_warp_kernel(float *y, int ldy, const WT *W, const float *x,
                                                            int ldx, int B, int rows, int K, float beta,
                                                            int rows_per_warp, int ngroups)
{
    const int group = blockIdx.x % ngroups, rblock = blockIdx.x / ngroups;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int b0 = group * DEC_BT, nb = min(DEC_BT, B - b0);
    const float *xg = x + (size_t)b0 * ldx;
    float *yg = y + (size_t)b0 * ldy;
    for (int i = 0; i < rows_per_warp; i++) {
        const int r = (rblock * 8 + warp) * rows_per_warp + i;
        if (r >= rows) return;
        float acc[DEC_BT];
        dot_rows<WT, VEC>(acc, W + (size_t)r * K, xg, ldx, nb, lane, K, 32);
#pragma unroll
        for (int b = 0; b < DEC_BT; b++) {
            if (b >= nb) break;
            const float s = warp_sum(acc[b]);
            if (lane == b) {
                float *o = yg + (size_t)b * ldy + r;
                *o = beta != 0.f ? beta * *o + s : s;
            }
        }
    }
}

template <typename WT, bool VEC>
__global__ void __launch_bounds__(256) dec_gemv_splitk_kernel(float *y, int ldy, const WT *W, const float *x,
                                                              int ldx, int B, int K, float beta, int ngroups)
{
    __shared__ float sh[32];
    const int group = blockIdx.x % ngroups, r = blockIdx.x / ngroups;
    const int b0 = group * DEC_BT, nb = min(DEC_BT, B - b0);
    float acc[DEC_BT];
    dot_rows<WT, VEC>(acc, W + (size_t)r * K, x + (size_t)b0 * ldx, ldx, nb, threadIdx.x, K, blockDim.x);
#pragma unroll
    for (int b = 0; b < DEC_BT; b++) {
        if (b >= nb) break;   /* nb is the same for the whole block: the barriers inside agree */
        const float s = block_sum(acc[b], sh);
        if (threadIdx.x == 0) {
            float *o = y + (size_t)(b0 + b) * ldy + r;
            *o = beta != 0.f ? beta * *o + s : s;
        }
    }
}

template <typename WT>
static void gemv_launch(float *y, int ldy, const WT *W, const float *x, int ldx, int B, int rows,
                        int K, float beta, cudaStream_t st)
{
    const int ngroups = (B + DEC_BT - 1) / DEC_BT;
    /* 16-byte loads need every row of W and of x to start on a 16-byte boundary */
    const bool vec = K % 8 == 0 && ldx % 4 == 0 && ((size_t)W % 16) == 0 && ((size_t)x % 16) == 0;
    if (rows < 256) {
        const unsigned grid = (unsigned)rows * ngroups;
        if (vec) dec_gemv_splitk_kernel<WT, true><<<grid, 256, 0, st>>>(y, ldy, W, x, ldx, B, K, beta, ngroups);
        else dec_gemv_splitk_kernel<WT, false><<<grid, 256, 0, st>>>(y, ldy, W, x, ldx, B, K, beta, ngroups);
    } else {
        const int rpw = rows >= 16384 ? 4 : 1;
        const unsigned grid = (unsigned)((rows + 8 * rpw - 1) / (8 * rpw)) * ngroups;
        if (vec) dec_gemv_warp_kernel<WT, true><<<grid, 256, 0, st>>>(y, ldy, W, x, ldx, B, rows, K, beta, rpw, ngroups);
        else dec_gemv_warp_kernel<WT, false><<<grid, 256, 0, st>>>(y, ldy, W, x, ldx, B, rows, K, beta, rpw, ngroups);
    }
    LM_LAUNCH_CHECK();
}

void dec_gemv(float *y, int ldy, const void *W, int bf16, const float *x, int ldx, int B, int rows,
              int K, float beta, void *stream)
{
    if (bf16) gemv_launch(y, ldy, (const __nv_bfloat16 *)W, x, ldx, B, rows, K, beta, S(stream));
    else gemv_launch(y, ldy, (const float *)W, x, ldx, B, rows, K, beta, S(stream));
}

/* =====================================================================================
 * Step version 2 (fewer, fuller kernels): RMSNorm folded into the matmul that follows it.
 * RMSNorm(x)·W_inᵀ = r · (x · (W_in diag(w))ᵀ) with r = (mean(x²) + ε)^−½ per sequence, so with
 * W' = W_in diag(w) precomputed once (dec_scale_cols) a block recomputes r for its sequences
 * (a dm-long sum, from L2) and scales each dot product after the sum. For in_proj the conv
 * step rides along: the warp that computes row d < D of [x | z] (the conv input of channel d)
 * shifts that channel's conv state and writes u = SiLU(conv) (6.11) at once; rows D ≤ r < 2D
 * (z) are stored for the state step. Without conv_w it is RMSNorm + matmul (the head). */
template <typename WT, bool VEC>
__global__ void __launch_bounds__(256) dec_norm_gemv_kernel(float *y, int ldy, const WT *W, const float *x, int dm,
                                                            int B, int rows, float eps, int rows_per_warp,
                                                            int ngroups, int D, float *u, float *conv_state,
                                                            const float *conv_w, const float *conv_b, int K)
{
    __shared__ float sh[32];
    __shared__ float rs[DEC_BT];
    const int group = blockIdx.x % ngroups, rblock = blockIdx.x / ngroups;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int b0 = group * DEC_BT, nb = min(DEC_BT, B - b0);
    const float *xg = x + (size_t)b0 * dm;
    for (int b = 0; b < nb; b++) {   /* (6.9) r per sequence; nb is the same for the whole block */
        float ss = 0.f;
        for (int c = threadIdx.x; c < dm; c += blockDim.x) ss += xg[(size_t)b * dm + c] * xg[(size_t)b * dm + c];
        ss = block_sum(ss, sh);
        if (threadIdx.x == 0) rs[b] = rsqrtf(ss / (float)dm + eps);
    }
    __syncthreads();
    for (int i = 0; i < rows_per_warp; i++) {
        const int r = (rblock * 8 + warp) * rows_per_warp + i;
        if (r >= rows) return;
        float acc[DEC_BT];
        dot_rows<WT, VEC>(acc, W + (size_t)r * dm, xg, dm, nb, lane, dm, 32);
#pragma unroll
        for (int b = 0; b < DEC_BT; b++) {
            if (b >= nb) break;
            const float v = warp_sum(acc[b]) * rs[b];
            if (lane != b) continue;
            if (conv_w && r < D) {   /* (6.11) channel r of sequence b0 + b */
                const size_t ch = (size_t)(b0 + b) * D + r;
                float *st = conv_state + ch * (K - 1);
                const float *wd = conv_w + (size_t)r * K;
                float c = conv_b ? conv_b[r] : 0.f;
                for (int k = 0; k < K - 1; k++) c += wd[k] * st[k];
                c += wd[K - 1] * v;
                for (int k = 0; k < K - 2; k++) st[k] = st[k + 1];
                if (K > 1) st[K - 2] = v;
                u[ch] = c * sigmoid(c);
            } else {
                y[(size_t)(b0 + b) * ldy + r] = v;
            }
        }
    }
}

template <typename WT>
static void norm_gemv_launch(float *y, int ldy, const WT *W, const float *x, int dm, int B, int rows, float eps,
                             int D, float *u, float *conv_state, const float *conv_w, const float *conv_b, int K,
                             cudaStream_t st)
{
    const int ngroups = (B + DEC_BT - 1) / DEC_BT;
    const bool vec = dm % 8 == 0 && ((size_t)W % 16) == 0 && ((size_t)x % 16) == 0;
    const int rpw = rows >= 16384 ? 4 : 1;
    const unsigned grid = (unsigned)((rows + 8 * rpw - 1) / (8 * rpw)) * ngroups;
    if (vec)
        dec_norm_gemv_kernel<WT, true><<<grid, 256, 0, st>>>(y, ldy, W, x, dm, B, rows, eps, rpw, ngroups, D, u,
                                                             conv_state, conv_w, conv_b, K);
    else
        dec_norm_gemv_kernel<WT, false><<<grid, 256, 0, st>>>(y, ldy, W, x, dm, B, rows, eps, rpw, ngroups, D, u,
                                                              conv_state, conv_w, conv_b, K);
    LM_LAUNCH_CHECK();
}

void dec_norm_gemv(float *y, int ldy, const void *W, int bf16, const float *x, int dm, int B, int rows, float eps,
                   int D, float *u, float *conv_state, const float *conv_w, const float *conv_b, int K, void *stream)
{
    if (conv_w && (K < 1 || K > DEC_MAX_K)) { fprintf(stderr, "dec_norm_gemv: conv kernel %d outside 1..%d\n", K, DEC_MAX_K); exit(2); }
    if (bf16) norm_gemv_launch(y, ldy, (const __nv_bfloat16 *)W, x, dm, B, rows, eps, D, u, conv_state, conv_w, conv_b, K, S(stream));
    else norm_gemv_launch(y, ldy, (const float *)W, x, dm, B, rows, eps, D, u, conv_state, conv_w, conv_b, K, S(stream));
}

/* W' = W diag(w) (rows × cols, row-major), in float32 or rounded to bfloat16 */
__global__ void dec_scale_cols_kernel(float *dst32, __nv_bfloat16 *dst16, const float *W, const float *w, size_t n,
                                      int cols)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = W[i] * w[i % cols];
    if (dst16) dst16[i] = __float2bfloat16_rn(v);
    else dst32[i] = v;
}

void dec_scale_cols(void *dst, int bf16, const float *W, const float *w, size_t rows, int cols, void *stream)
{
    const size_t n = rows * (size_t)cols;
    if (n == 0) return;
    dec_scale_cols_kernel<<<lm_blocks(n, 256), 256, 0, S(stream)>>>(bf16 ? NULL : (float *)dst,
                                                                    bf16 ? (__nv_bfloat16 *)dst : NULL, W, w, n, cols);
    LM_LAUNCH_CHECK();
}

/* =====================================================================================
 * (6.11) the causal depthwise convolution at one new position: the state s holds the last
 * K − 1 inputs of each channel; out = b + Σ_{k<K−1} w_k s_k + w_{K−1} x_new, then the state
 * moves up by one. One thread per (sequence, channel). */

__global__ void dec_conv_step_kernel(float *u, float *state, const float *xz, int ldxz, const float *w,
                                     const float *bias, int B, int D, int K)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B * D) return;
    const int b = i / D, d = i % D;
    float *s = state + (size_t)i * (K - 1);
    const float *wd = w + (size_t)d * K;
    const float xn = xz[(size_t)b * ldxz + d];
    float win[DEC_MAX_K];
    for (int k = 0; k < K - 1; k++) win[k] = s[k];
    win[K - 1] = xn;
    float acc = bias ? bias[d] : 0.f;
    for (int k = 0; k < K; k++) acc += wd[k] * win[k];
    for (int k = 0; k < K - 1; k++) s[k] = win[k + 1];
    u[i] = acc * sigmoid(acc);
}

void dec_conv_step(float *u, float *state, const float *xz, int ldxz, const float *w, const float *bias,
                   int B, int D, int K, void *stream)
{
    if (K < 1 || K > DEC_MAX_K) { fprintf(stderr, "dec_conv_step: conv kernel %d outside 1..%d\n", K, DEC_MAX_K); exit(2); }
    dec_conv_step_kernel<<<lm_blocks((size_t)B * D, 128), 128, 0, S(stream)>>>(u, state, xz, ldxz, w, bias, B, D, K);
    LM_LAUNCH_CHECK();
}

/* =====================================================================================
 * (5.1)–(5.6) at one position, one thread per (sequence, channel) with its N states:
 *   δ = softplus(W_dt[d] · δ_low + b_dt[d])   (PyTorch's softplus: x itself above 20)
 *   h_n ← exp(δ A_n) h_n + δ B_n u,  A_n = −exp(A_log[d, n])
 *   y = (Σ_n C_n h_n + D_d u) · SiLU(z)
 * dbc is x_proj's output row [δ_low (R) | B (N) | C (N)] per sequence. */
__global__ void dec_ssm_step_kernel(float *y, float *h, const float *u, const float *dbc, int lddbc,
                                    const float *xz, int ldxz, const float *dt_w, const float *dt_b,
                                    const float *A_log, const float *Dskip, int B, int D, int N, int R)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B * D) return;
    const int b = i / D, d = i % D;
    const float *row = dbc + (size_t)b * lddbc, *Bn = row + R, *Cn = row + R + N;
    float raw = dt_b ? dt_b[d] : 0.f;
    for (int r = 0; r < R; r++) raw += dt_w[(size_t)d * R + r] * row[r];
    const float delta = raw <= 20.f ? log1pf(expf(raw)) : raw;
    const float ud = u[i], du = delta * ud;
    float *hd = h + (size_t)i * N;
    float acc = 0.f;
    for (int n = 0; n < N; n++) {
        const float a = -expf(A_log[(size_t)d * N + n]);
        const float hn = expf(delta * a) * hd[n] + du * Bn[n];
        hd[n] = hn;
        acc += hn * Cn[n];
    }
    const float z = xz[(size_t)b * ldxz + D + d];
    y[i] = (acc + Dskip[d] * ud) * (z * sigmoid(z));
}

void dec_ssm_step(float *y, float *h, const float *u, const float *dbc, int lddbc, const float *xz,
                  int ldxz, const float *dt_w, const float *dt_b, const float *A_log, const float *Dskip,
                  int B, int D, int N, int R, void *stream)
{
    dec_ssm_step_kernel<<<lm_blocks((size_t)B * D, 128), 128, 0, S(stream)>>>(
        y, h, u, dbc, lddbc, xz, ldxz, dt_w, dt_b, A_log, Dskip, B, D, N, R);
    LM_LAUNCH_CHECK();
}

/* =====================================================================================
 * Greedy choice: tok[b] = argmax_{v < Vs} logits[b·ld + v], the smallest id among equal
 * maxima (as torch.argmax). One block per sequence. */
__global__ void dec_argmax_kernel(int *tok, const float *logits, long long ld, int Vs)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const float *l = logits + (size_t)blockIdx.x * ld;
    float best = -INFINITY;
    int bi = 0x7fffffff;
    for (int v = threadIdx.x; v < Vs; v += blockDim.x)
        if (l[v] > best) { best = l[v]; bi = v; }   /* ascending v: the first maximum stays */
    for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ob > best || (ob == best && oi < bi)) { best = ob; bi = oi; }
    }
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    if (lane == 0) { sv[warp] = best; si[warp] = bi; }
    __syncthreads();
    if (warp == 0) {
        best = lane < nw ? sv[lane] : -INFINITY;
        bi = lane < nw ? si[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            const float ob = __shfl_xor_sync(0xffffffffu, best, o);
            const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (ob > best || (ob == best && oi < bi)) { best = ob; bi = oi; }
        }
        if (lane == 0) tok[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;   /* all NaN: token 0 */
    }
}

void dec_argmax(int *tok, const float *logits, long long ld, int B, int Vs, void *stream)
{
    dec_argmax_kernel<<<B, 1024, 0, S(stream)>>>(tok, logits, ld, Vs);
    LM_LAUNCH_CHECK();
}

/* =====================================================================================
 * After the parallel prefill over L positions (lm_forward), one layer's decode state:
 * the SSM state is the scan's last saved chunk-end state (the state after position L − 1),
 * the conv state the last K − 1 conv inputs (zeros before the sequence start). */
__global__ void dec_from_prefill_kernel(float *conv_state, float *ssm_state, const float *xin,
                                        const float *chunk, int B, int D, int N, int K, int L, int nchunks)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B * D) return;
    for (int k = 0; k < K - 1; k++) {
        const int t = L - (K - 1) + k;
        conv_state[(size_t)i * (K - 1) + k] = t >= 0 ? xin[(size_t)i * L + t] : 0.f;
    }
    for (int n = 0; n < N; n++)
        ssm_state[(size_t)i * N + n] = chunk[((size_t)i * nchunks + nchunks - 1) * N + n];
}

void dec_from_prefill(float *conv_state, float *ssm_state, const float *xin, const float *chunk, int B,
                      int D, int N, int K, int L, int nchunks, void *stream)
{
    dec_from_prefill_kernel<<<lm_blocks((size_t)B * D, 128), 128, 0, S(stream)>>>(
        conv_state, ssm_state, xin, chunk, B, D, N, K, L, nchunks);
    LM_LAUNCH_CHECK();
}

/* dst (cols × rows) = srcᵀ (src rows × cols, row-major), float32 or bfloat16 (bf16 ≠ 0): W_outᵀ
 * for step 3's two-barrier layout */
template <typename T>
__global__ void dec_transpose_kernel(T *dst, const T *src, int rows, int cols)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)rows * cols) return;
    const int r = (int)(i / cols), c = (int)(i % cols);
    dst[(size_t)c * rows + r] = src[i];
}

void dec_transpose(void *dst, const void *src, int rows, int cols, int bf16, void *stream)
{
    const size_t n = (size_t)rows * cols;
    if (n == 0) return;
    if (bf16) dec_transpose_kernel<<<lm_blocks(n, 256), 256, 0, S(stream)>>>((__nv_bfloat16 *)dst, (const __nv_bfloat16 *)src, rows, cols);
    else dec_transpose_kernel<<<lm_blocks(n, 256), 256, 0, S(stream)>>>((float *)dst, (const float *)src, rows, cols);
    LM_LAUNCH_CHECK();
}

/* float32 → bfloat16 (round to nearest even): the weights of the bf16 decode */
__global__ void dec_to_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __float2bfloat16_rn(src[i]);
}

void dec_to_bf16(void *dst, const float *src, size_t n, void *stream)
{
    if (n == 0) return;
    dec_to_bf16_kernel<<<lm_blocks(n, 256), 256, 0, S(stream)>>>((__nv_bfloat16 *)dst, src, n);
    LM_LAUNCH_CHECK();
}

/* =====================================================================================
 * Step version 3 (§G.5): the whole step in one persistent kernel.
 *
 * Versions 1 and 2 launch 6 or 4 kernels a layer, ~99 for the 130m shape, and at batch 1 a
 * step costs ~6 µs per kernel whatever the kernel reads: launch, ramp-up, a tail where most
 * SMs wait for the last block, and a cold start of the memory pipeline (each kernel begins
 * by waiting a full HBM round trip for its first weights). bf16 weights (half the bytes)
 * barely changed the step time: the step was latency-bound, not bandwidth-bound.
 *
 * Here one cooperative launch runs the step with one block per SM; the phases that need all
 * of the previous phase's output are separated by grid-wide barriers (cg::grid_group::sync,
 * ~1 µs: an atomic and a spin, no launch):
 *   1  x → RMSNorm folded into in_proj (W_in diag(w), as version 2), conv step + SiLU → u, z
 *   2  u → x_proj → [δ_low | B | C]
 *   3  δ = softplus(W_dt δ_low + b), the state update, y = (C·h + D u)·SiLU(z)
 *   4  y → out_proj, added to x (the residual)
 * four barriers a layer, then the head (logits and each block's argmax; the last block to
 * finish turns the per-sequence maxima into tokens: no barrier). The weights do not depend on
 * the activations, so while layer l computes, every block asks the L2 for its share of layer
 * l + 1's weights and states (cp.async.bulk.prefetch.L2: nothing waits for it); the barriers
 * and the phases then read from the L2 while HBM streams ahead.
 *
 * Each block owns a fixed contiguous row range of every matrix (the same every step); with
 * fewer rows than warps (out_proj, x_proj), several warps share a row, each a slice of K, and
 * their sums meet in shared memory in slice order — a fixed order, so a run is repeatable bit
 * for bit. The activations that cross blocks (x, u, z, dbc, y) are read with __ldcg (L2, not
 * the SM's L1, which is not kept coherent with other SMs' writes). Sequences go in groups of
 * DEC_BT (8) through each phase. */
#include <cooperative_groups.h>
#include <utility>
namespace cg = cooperative_groups;

#define D3_THREADS 768                 /* 24 warps: in_proj's 3072 rows (130m) in one pass on 132 SMs */
#define D3_WARPS (D3_THREADS / 32)

/* A hint to the L2: this block's 1/gridDim share of [p, p + bytes), in pieces of 4 KiB, one
 * piece per thread. The instruction wants 16-byte aligned addresses and sizes: the start is
 * rounded down (a cudaMalloc'd block starts 256-aligned, so this stays inside it), the end
 * rounded down (a tail under 16 bytes is not prefetched). */
__device__ __forceinline__ void l2_prefetch_range(const void *p, size_t b, size_t e)   /* bytes [b, e) of p */
{
    const size_t g = (size_t)__cvta_generic_to_global(p);
    const size_t lo = (g + b) & ~(size_t)15, hi = (g + e) & ~(size_t)15;
    for (size_t q = lo + (size_t)threadIdx.x * 4096; q < hi; q += (size_t)blockDim.x * 4096) {
        const unsigned n = (unsigned)min((size_t)4096, hi - q);
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(q), "r"(n) : "memory");
    }
}
__device__ __forceinline__ void l2_prefetch_share(const void *p, size_t bytes, size_t cap)
{
    if (!p || !bytes) return;
    const size_t per = (bytes + gridDim.x - 1) / gridDim.x, b = per * blockIdx.x;
    if (b >= bytes) return;
    size_t e = min(bytes, b + per);
    if (e - b > cap) e = b + cap;
    l2_prefetch_range(p, b, e);
}

/* Sum over the 16 lanes of a half warp (every lane of the warp takes part) */
__device__ __forceinline__ float half_sum(float v)
{
    for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* The argmax as one 64-bit key, so that atomicMax picks it: the float's bits in an order that
 * sorts like the float (negative: all bits flipped; positive: the sign bit set) above, the
 * complement of the index below (equal values: the smaller index, torch.argmax's first
 * maximum). 0 is below every key: "no candidate" (all NaN → token 0, as dec_argmax). */
__device__ __forceinline__ unsigned long long argmax_key(float v, int idx)
{
    unsigned u = __float_as_uint(v);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((unsigned long long)u << 32) | (0xffffffffu - (unsigned)idx);
}

/* This block's rows [r0, r1) of W (rows × K row-major, K % 8 == 0) times the nbt inputs xs in
 * shared memory (nbt × K floats); the sum for row r, sequence b goes to epi(r, b, v). wpr warps
 * per row (D3_WARPS / rows, at least 1), each a contiguous slice of K in 8-wide loads; partial
 * sums added in slice order. More than DEC_BT sequences go in groups of DEC_BT inside each pass
 * over the rows, so a row is fetched from memory once and re-read from L1/L2 by the next groups.
 * Every thread of the block calls it (barriers inside). */
template <int NBT, typename WT, typename Epi>   /* NBT: accumulators per warp (nbt ≤ NBT; 1 at B = 1: less code) */
__device__ __forceinline__ void block_gemv(const WT *W, int wrow0, int r0, int r1, int K, const float *xs_all, int nbt,
                                           float *part, Epi epi)   /* W's first row is row wrow0 */
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nr = r1 - r0;
    if (nr <= 0) return;   /* the same for the whole block */
    const int wpr = max(1, D3_WARPS / nr), rpp = D3_WARPS / wpr, n8 = K / 8;
    const int i = warp / wpr, s = warp % wpr, k0 = s * n8 / wpr, k1 = (s + 1) * n8 / wpr;
    if (wpr == 1 && nbt <= DEC_BT) {
        /* a warp per row and one group: the warp's own sum is the row's (the same additions as
         * below with one slice), so no shared memory and no barrier per pass — the next row's
         * loads can start while this row's shuffles run (the head: 16 rows a warp) */
#pragma unroll 1
        for (int r = r0 + warp; r < r1; r += D3_WARPS) {
            float acc[NBT];
#pragma unroll
            for (int b = 0; b < NBT; b++) acc[b] = 0.f;
            const WT *wr = W + (size_t)(r - wrow0) * K;
#pragma unroll 4
            for (int k8 = lane; k8 < n8; k8 += 32) {
                float w[8];
                ld_w8(wr + (size_t)k8 * 8, w);
                dot8_acc<NBT>(acc, w, xs_all, (size_t)K, k8, nbt);
            }
#pragma unroll
            for (int b = 0; b < NBT; b++) {
                if (b >= nbt) break;
                const float v = warp_sum(acc[b]);
                if (lane == b) epi(r, b, v);
            }
        }
        __syncthreads();
        return;
    }
    for (int p0 = 0; p0 < nr; p0 += rpp)
    for (int g0 = 0; g0 < nbt; g0 += DEC_BT) {
        const int r = r0 + p0 + i, nb = min(DEC_BT, nbt - g0);
        const float *xs = xs_all + (size_t)g0 * K;
        float acc[NBT];
#pragma unroll
        for (int b = 0; b < NBT; b++) acc[b] = 0.f;
        if (i < rpp && r < r1) {
            const WT *wr = W + (size_t)(r - wrow0) * K;
#pragma unroll 2
            for (int k8 = k0 + lane; k8 < k1; k8 += 32) {
                float w[8];
                ld_w8(wr + (size_t)k8 * 8, w);
                dot8_acc<NBT>(acc, w, xs, (size_t)K, k8, nb);
            }
        }
#pragma unroll
        for (int b = 0; b < NBT; b++) {
            if (b >= nb) break;
            const float v = warp_sum(acc[b]);
            if (lane == 0) part[warp * DEC_BT + b] = v;
        }
        __syncthreads();
        const int nrow = min(rpp, nr - p0);
        for (int t = threadIdx.x; t < nrow * nb; t += blockDim.x) {
            const int ri = t / nb, b = t % nb;
            float v = 0.f;
            for (int q = 0; q < wpr; q++) v += part[(ri * wpr + q) * DEC_BT + b];
            epi(r0 + p0 + ri, g0 + b, v);
        }
        __syncthreads();
    }
}

/* The head at one sequence: this block's rows [r0, r1) of W (K % 8 == 0) times x (shared memory),
 * scaled by r (the final RMSNorm's), logit of row r to out[r]. Each warp has RU rows' 16-byte loads
 * in flight at once (all issued before the first is used): the head is the one part of the step
 * that moves enough bytes (77 MB in bf16) to be bandwidth-bound, and its bandwidth is bytes in
 * flight over latency. Returns lane 0's argmax key over its rows < Vs (other lanes: 0). */
template <int RU, typename WT>
__device__ __forceinline__ unsigned long long head_rows1(const WT *W, int r0, int r1, int K, const float *xs, float r,
                                                         float *out, int Vs)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n8 = K / 8;
    unsigned long long key = 0;
#pragma unroll 1
    for (int rb = r0 + warp * RU; rb < r1; rb += D3_WARPS * RU) {
        float acc[RU][1];
#pragma unroll
        for (int i = 0; i < RU; i++) acc[i][0] = 0.f;
#pragma unroll 1
        for (int kb = lane; kb < n8; kb += 3 * 32) {   /* 3 loads a row: K = 768 in one pass */
            raw8<WT> q[RU][3];
#pragma unroll
            for (int i = 0; i < RU; i++)
#pragma unroll
                for (int j = 0; j < 3; j++)
                    if (rb + i < r1 && kb + 32 * j < n8) ld_raw8(q[i][j], W + (size_t)(rb + i) * K + (size_t)(kb + 32 * j) * 8);
#pragma unroll
            for (int i = 0; i < RU; i++)
#pragma unroll
                for (int j = 0; j < 3; j++)
                    if (rb + i < r1 && kb + 32 * j < n8) {
                        float w[8];
                        unpack8(q[i][j], w);
                        dot8_acc<1>(acc[i], w, xs, 0, kb + 32 * j, 1);
                    }
        }
#pragma unroll
        for (int i = 0; i < RU; i++) {
            const float v = warp_sum(acc[i][0]) * r;
            if (lane == 0 && rb + i < r1) {
                out[rb + i] = v;
                if (rb + i < Vs && v == v) key = max(key, argmax_key(v, rb + i));   /* NaN is never a maximum */
            }
        }
    }
    return key;
}

/* rows [r0, r1): this block's contiguous share of `rows` */
__device__ __forceinline__ void own_rows(int rows, int &r0, int &r1)
{
    const int per = (rows + gridDim.x - 1) / gridDim.x;
    r0 = min(rows, per * (int)blockIdx.x);
    r1 = min(rows, r0 + per);
}

/* Quarter q (0 … 3) of this block's share of the vocabulary head (V rows of row_bytes, its own
 * rows [h0, h1)), at most mb MB over the grid, into the L2: one quarter during each of the last
 * four layers, so the head's first bytes are near when the layers end */
__device__ __forceinline__ void l2_prefetch_head_quarter(const void *w_head, int V, size_t row_bytes, int mb, int q)
{
    int h0, h1;
    own_rows(V, h0, h1);
    const size_t lo = (size_t)h0 * row_bytes, cap = min((size_t)(h1 - h0) * row_bytes, ((size_t)mb << 20) / gridDim.x);
    l2_prefetch_range(w_head, lo + cap * q / 4, lo + cap * (q + 1) / 4);
}

/* xs (nb × n floats) = rows b0 … b0 + nb − 1 of src (row stride n), through the L2 */
__device__ __forceinline__ void load_group(float *xs, const float *src, int b0, int nb, int n)
{
    const float *s = src + (size_t)b0 * n;
    for (int i0 = 0; i0 < nb * n; i0 += 4 * blockDim.x) {   /* 4 loads in flight before any store */
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = i0 + j * blockDim.x + threadIdx.x;
            v[j] = i < nb * n ? __ldcg(s + i) : 0.f;
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = i0 + j * blockDim.x + threadIdx.x;
            if (i < nb * n) xs[i] = v[j];
        }
    }
    __syncthreads();
}

/* rs[b] = (mean(xs_b²) + ε)^−½ for the group (6.9) */
__device__ __forceinline__ void group_rstd(float *rs, const float *xs, int nb, int dm, float eps, float *red)
{
    for (int b = 0; b < nb; b++) {
        float ss = 0.f;
        for (int c = threadIdx.x; c < dm; c += blockDim.x) ss += xs[(size_t)b * dm + c] * xs[(size_t)b * dm + c];
        ss = block_sum(ss, red);
        if (threadIdx.x == 0) rs[b] = rsqrtf(ss / (float)dm + eps);
    }
    __syncthreads();
}

__device__ __forceinline__ void cp_async16(void *smem, const void *gmem)
{
    const unsigned sa = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async4(void *smem, const void *gmem)
{
    const unsigned sa = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(sa), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit(void) { asm volatile("cp.async.commit_group;" ::: "memory"); }
/* this thread's copies done, then everyone's (the barrier) */
__device__ __forceinline__ void cp_async_wait_all(void)
{
    asm volatile("cp.async.wait_all;" ::: "memory");
    __syncthreads();
}
/* the same for all but the two most recent groups */
__device__ __forceinline__ void cp_async_wait2(void)
{
    asm volatile("cp.async.wait_group 2;" ::: "memory");
    __syncthreads();
}
/* the same for all but the most recent group of copies */
__device__ __forceinline__ void cp_async_wait1(void)
{
    asm volatile("cp.async.wait_group 1;" ::: "memory");
    __syncthreads();
}

__device__ __forceinline__ unsigned long long gtimer(void)
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

template <typename WT, bool TWO, int NBT>   /* TWO: a.two's layout; NBT: sequences a warp accumulates (1 at B = 1)
                                            — each its own instantiation: less code and fewer registers */
__global__ void __launch_bounds__(D3_THREADS, 1) dec_step3_kernel(dec3_args a)
{
    cg::grid_group grid = cg::this_grid();
    /* the barrier, with the profile's two timestamps of slot i when a.prof is set: the last
     * block's arrival (max over blocks) and block 0's release */
    /* between(): work that needs nothing from the other blocks (issuing the next copies): with
     * a.split it runs after this block has arrived and before it waits — the grid barrier in two
     * halves (cg's barrier_arrive / barrier_wait) — so that the issue does not delay the arrival */
    auto barrier_with = [&](int i, auto &&between) {
        if (a.prof) {
            __syncthreads();
            if (threadIdx.x == 0) atomicMax(a.prof + 2 * i, gtimer());
        }
        if (a.split && !a.flags) {
            auto token = grid.barrier_arrive();
            between();
            grid.barrier_wait(std::move(token));
            if (a.prof && blockIdx.x == 0 && threadIdx.x == 0) a.prof[2 * i + 1] = gtimer();
            return;
        }
        between();
        if (a.flags) {   /* DEC3_BARRIER=flags: each block publishes "reached barrier i of step
                          * epoch" in its own slot (no atomic, no contention), and thread t < gridDim
                          * of every block waits for block t's slot; the fences as cg's own */
            const unsigned long long want = (a.epoch << 16) | (unsigned long long)i;
            __syncthreads();
            if (threadIdx.x == 0) {
                __threadfence();
                *(volatile unsigned long long *)(a.flags + blockIdx.x) = want;
            }
            if (threadIdx.x < gridDim.x)
                while (*(volatile unsigned long long *)(a.flags + threadIdx.x) < want) {
                }
            __threadfence();
            __syncthreads();
        } else {
            grid.sync();
        }
        if (a.prof && blockIdx.x == 0 && threadIdx.x == 0) a.prof[2 * i + 1] = gtimer();
    };
    auto barrier = [&](int i) { barrier_with(i, [] {}); };
    if (a.prof && blockIdx.x == 0 && threadIdx.x == 0) a.prof[0] = a.prof[1] = gtimer();   /* slot 0: the start */
    /* the fine profile: every block's time at mark c of layer n_layer / 2, after its threads all got
     * there (the extra block barrier only in the profiled step) */
    auto mark = [&](int l, int c) {
        if (!a.fine || l != a.n_layer / 2) return;
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned long long *f = a.fine + 2 * ((size_t)blockIdx.x * DEC3_MARKS + c);
            f[0] = gtimer();
            f[1] = (unsigned long long)clock64();
        }
    };
    extern __shared__ __align__(16) float sm3[];
    const int B = a.B, dm = a.dm, D = a.D, N = a.N, R = a.R, K = a.K, V = a.V, nx = R + 2 * N;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int ngroups = (B + DEC_BT - 1) / DEC_BT;
    float *xs = sm3;                        /* DEC_BT × kin: the group's input vectors (head_all: B × dm) */
    float *part = xs + a.xs_floats;         /* D3_WARPS × DEC_BT: per-warp partial sums */
    float *rs = part + D3_WARPS * DEC_BT;   /* DEC_BT (head_all: B): RMSNorm's r per sequence */
    float *red = rs + a.rs_floats;          /* 32: block_sum's scratch */
    unsigned long long *keys = reinterpret_cast<unsigned long long *>(red + 32);   /* 32 */
    float *us = reinterpret_cast<float *>(keys + 32);   /* with fuse: DEC_BT × rpb, this block's u */
    float *dbs = us + DEC_BT * a.rpb;                    /* with fuse: B × nx, [δ_low | B | C] */
    float *xo = dbs + DEC_BT * (a.R + 2 * a.N);          /* DEC_BT × rpb_out: phase 4's old x */
    char *wsA = reinterpret_cast<char *>(xo + a.xo_floats);   /* with smemw: this block's W_in rows */
    char *wsB = wsA + a.wsA_bytes;                             /* ... and its W_out rows */
    /* with smemw: copy this block's rows of a matrix into shared memory with cp.async (16 bytes
     * per instruction, nothing waits) — issued before the barrier in front of the phase that
     * reads them, so that the copy runs while the blocks wait for each other */
    auto stage_rows = [&](char *dst, const void *W, int q0, int q1, int K_) {   /* rows [q0, q1) */
        const size_t rb = (size_t)K_ * sizeof(WT), n16 = (size_t)max(0, q1 - q0) * rb / 16;
        const char *src = (const char *)W + (size_t)q0 * rb;
        for (size_t i = tid; i < n16; i += blockDim.x) cp_async16(dst + 16 * i, src + 16 * i);
    };
    auto stage = [&](char *dst, const void *W, int rows, int K_) {
        int q0, q1;
        own_rows(rows, q0, q1);
        stage_rows(dst, W, q0, q1, K_);
    };
    /* two (two barriers a layer): this block's channels [c0, c0 + nc) — its rows of W_in are
     * those channels' u rows and z rows, its rows of W_outᵀ the same channels */
    const int cpb = a.rpb, c0 = min(D, (int)blockIdx.x * cpb), nc = min(D, c0 + cpb) - c0;
    /* stage2 (with fuse and smemw): phase 1's other operands of this block's conv channels —
     * their conv states, conv weights and bias, and their columns of W_x — also copied before
     * the barrier (4-byte cp.async: any alignment; bf16 W_x in pairs, so an odd channel count
     * reads W_x from global memory instead) */
    float *cv = reinterpret_cast<float *>(wsB + a.wsB_bytes);   /* nown × (B (K − 1) + K + 1) */
    WT *wsX = reinterpret_cast<WT *>(cv + a.rpb * (DEC_BT * (K - 1) + K + 1));   /* nx × nown */
    /* scan_pre: phase 3's operands of this block's (sequence, channel) pairs t ∈ [t0, t1), copied
     * during phase 1 (the pairs are contiguous: a half warp each, 2 · D3_WARPS a block) */
    const int t0 = min(B * D, 2 * (int)blockIdx.x * D3_WARPS), t1 = min(B * D, t0 + 2 * D3_WARPS), npre = t1 - t0;
    float *sph = reinterpret_cast<float *>(reinterpret_cast<char *>(sm3) + a.sp_off);   /* npre × N states */
    float *spa = sph + 2 * D3_WARPS * N, *spw = spa + 2 * D3_WARPS * N;                 /* A_log, W_dt rows */
    float *spd = spw + 2 * D3_WARPS * R, *spb = spd + 2 * D3_WARPS;                      /* D, b_dt */
    auto scan_copy = [&](int l) {
        if (!a.scan_pre || npre <= 0) return;
        const dec3_layer *pl = &a.layer[l];
        for (int i = tid; i < npre * N; i += blockDim.x) {
            const int d = (t0 + i / N) % D, n = i % N;
            cp_async4(sph + i, pl->ssm + (size_t)t0 * N + i);
            cp_async4(spa + i, pl->A_log + (size_t)d * N + n);
        }
        for (int i = tid; i < npre * R; i += blockDim.x)
            cp_async4(spw + i, pl->dt_w + (size_t)((t0 + i / R) % D) * R + i % R);
        for (int i = tid; i < npre; i += blockDim.x) {
            const int d = (t0 + i) % D;
            cp_async4(spd + i, pl->Dskip + d);
            if (pl->dt_b) cp_async4(spb + i, pl->dt_b + d);
            else spb[i] = 0.f;
        }
        cp_async_commit();
    };
    /* the same for two: pair ip = b · nc + ci ↔ (sequence b, channel c0 + ci) */
    auto scan_copy2 = [&](int l) {
        const dec3_layer *pl = &a.layer[l];
        const int np = B * nc;
        for (int i = tid; i < np * N; i += blockDim.x) {
            const int ip = i / N, n = i % N, b = ip / nc, c = c0 + ip % nc;
            cp_async4(sph + i, pl->ssm + ((size_t)b * D + c) * N + n);
            cp_async4(spa + i, pl->A_log + (size_t)c * N + n);
        }
        for (int i = tid; i < np * R; i += blockDim.x)
            cp_async4(spw + i, pl->dt_w + (size_t)(c0 + (i / R) % nc) * R + i % R);
        for (int i = tid; i < np; i += blockDim.x) {
            const int c = c0 + i % nc;
            cp_async4(spd + i, pl->Dskip + c);
            if (pl->dt_b) cp_async4(spb + i, pl->dt_b + c);
            else spb[i] = 0.f;
        }
        cp_async_commit();
    };
    int own0, own1;
    own_rows(2 * D, own0, own1);
    if (TWO) { own0 = c0; own1 = c0 + nc; }
    const int nown_ = min(own1, D) - own0;
    const bool xst = a.stage2 && nown_ > 0 && (sizeof(WT) == 4 || (nown_ % 2 == 0 && own0 % 2 == 0 && D % 2 == 0));
    auto stage2 = [&](int l) {
        if (!a.stage2 || nown_ <= 0) return;
        const dec3_layer *pl = &a.layer[l];
        const int ns = K - 1, per = B * ns + K + 1;
        for (int i = tid; i < nown_ * per; i += blockDim.x) {
            const int c = i / per, j = i % per, ch = own0 + c;
            const float *src;
            if (j < B * ns) src = pl->conv + ((size_t)(j / ns) * D + ch) * ns + j % ns;   /* state (b, k) */
            else if (j < B * ns + K) src = pl->conv_w + (size_t)ch * K + (j - B * ns);
            else src = pl->conv_b ? pl->conv_b + ch : NULL;
            if (src) cp_async4(cv + i, src);
            else cv[i] = 0.f;
        }
        if (xst) {
            const int epw = 4 / (int)sizeof(WT), nw4 = nown_ / epw;   /* elements per 4-byte copy */
            for (int i = tid; i < nx * nw4; i += blockDim.x) {
                const int q = i / nw4, c = (i % nw4) * epw;
                cp_async4(wsX + (size_t)q * nown_ + c, (const WT *)pl->w_x + (size_t)q * D + own0 + c);
            }
        }
    };
    /* The copies go in two alternating groups, each issued as soon as its buffer is free:
     * A(l) = W_in rows + stage2 of layer l, issued at the end of phase 1 of layer l − 1;
     * B(l) = W_out rows of layer l, issued at the end of phase 4 of layer l − 1. Phase 1 waits
     * for all but the newest group (B(l) may still be in flight), phase 4 likewise (A(l + 1)). */
    /* two: group A(l) = this block's u and z rows of W_in + stage2, B(l) = its rows of W_outᵀ */
    auto stageA2 = [&](int l) {
        stage_rows(wsA, a.layer[l].w_in, c0, c0 + nc, dm);
        stage_rows(wsA + (size_t)nc * dm * sizeof(WT), a.layer[l].w_in, D + c0, D + c0 + nc, dm);
        stage2(l);
        cp_async_commit();
    };
    auto stageB2 = [&](int l) {
        stage_rows(wsB, a.layer[l].w_outT, c0, c0 + nc, dm);
        cp_async_commit();
    };
    if (TWO) {
        stageA2(0);
        stageB2(0);
        scan_copy2(0);
    } else if (a.smemw) {
        stage(wsA, a.layer[0].w_in, 2 * D, dm);
        stage2(0);
        cp_async_commit();
        stage(wsB, a.layer[0].w_out, dm, D);
        cp_async_commit();
    }
    const size_t es = sizeof(WT);
    auto prefetch_layer = [&](int l) {      /* weights and states of layer l, this block's share */
        const dec3_layer *p = &a.layer[l];
        const size_t all = ~(size_t)0;
        l2_prefetch_share(p->w_in, (size_t)2 * D * dm * es, all);
        l2_prefetch_share(p->w_x, (size_t)nx * D * es, all);
        l2_prefetch_share(p->w_out, (size_t)dm * D * es, all);
        l2_prefetch_share(p->dt_w, (size_t)D * R * 4, all);
        l2_prefetch_share(p->A_log, (size_t)D * N * 4, all);
        l2_prefetch_share(p->ssm, (size_t)B * D * N * 4, all);
        l2_prefetch_share(p->conv, (size_t)B * D * (K - 1) * 4, all);
        l2_prefetch_share(p->conv_w, (size_t)D * K * 4, all);   /* the small per-channel tensors too: */
        l2_prefetch_share(p->conv_b, (size_t)D * 4, all);       /* a miss on any of them costs a full */
        l2_prefetch_share(p->dt_b, (size_t)D * 4, all);         /* HBM round trip inside a phase */
        l2_prefetch_share(p->Dskip, (size_t)D * 4, all);
    };
    if (a.prefetch) prefetch_layer(0);
    int r0, r1;
    /* (6.11) channel c (the block's ci-th): the conv state shifts by one, returns u = SiLU(conv);
     * v is the new conv input (in_proj's row c, normalised) */
    auto conv_u = [&](const dec3_layer *p, int c, int ci, size_t bb, float v) -> float {
        float *st = p->conv + (bb * D + c) * (K - 1);
        const int per = B * (K - 1) + K + 1;
        const float *cs = cv + ci * per;   /* stage2: [states (B, K − 1) | w (K) | b] */
        const float *sv = a.stage2 ? cs + bb * (K - 1) : st;
        const float *wd = a.stage2 ? cs + B * (K - 1) : p->conv_w + (size_t)c * K;
        float q = a.stage2 ? cs[B * (K - 1) + K] : p->conv_b ? p->conv_b[c] : 0.f;
        for (int k = 0; k < K - 1; k++) q += wd[k] * sv[k];
        q += wd[K - 1] * v;
        for (int k = 0; k < K - 2; k++) st[k] = sv[k + 1];   /* sv = st without stage2 */
        if (K > 1) st[K - 2] = v;
        return q * sigmoid(q);
    };
    /* fused x_proj: the share of u W_xᵀ of this block's nown channels from cbase, Σ over them of
     * W_x[q, c] u_c (split over K = the channels: the sum over all blocks comes in phase 3), for
     * sequences b0 … b0 + nb − 1 (u in us). 8 lanes per (b, q), each every 8th channel (independent
     * loads, not one long chain), then a fixed shuffle tree. */
    auto xproj_share = [&](const dec3_layer *p, int cbase, int nown, int b0, int nb, float *acc_to) {
        const int n8 = (nx * nb * 8 + 31) / 32 * 32;   /* whole warps: the shuffles need them */
        for (int t = tid; t < n8; t += blockDim.x) {
            const int e = t / 8, sub = t % 8, q = e % nx, b = e / nx;
            float acc = 0.f;
            if (e < nx * nb) {
                const WT *wq = xst ? wsX + (size_t)q * nown : (const WT *)p->w_x + (size_t)q * D + cbase;
                for (int c = sub; c < nown; c += 8) acc += ld_w(wq, (size_t)c) * us[b * a.rpb + c];
            }
            for (int o = 4; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
            if (e < nx * nb && sub == 0) {
                if (acc_to) atomicAdd(acc_to + (size_t)(b0 + b) * nx + q, acc);   /* two: summed in L2 */
                else a.xpart[((size_t)blockIdx.x * B + b0 + b) * nx + q] = acc;
            }
        }
        __syncthreads();
    };
    /* the fused x_proj's sums: dbs[b, q] = Σ_j xpart[j, b, q] over the nparts blocks j that own
     * channels, in slices of j (each thread a few independent loads), the slices then added in
     * order: the same sum every run */
    auto xproj_sums = [&](int nparts) {
        const int m = nx * B, ns = max(1, (int)blockDim.x / m);
        for (int t = tid; t < m * ns; t += blockDim.x) {
            const int e = t % m, sl = t / m;
            float v = 0.f;
#pragma unroll 8
            for (int j = sl; j < nparts; j += ns) v += __ldcg(a.xpart + (size_t)j * m + e);
            xs[t] = v;
        }
        __syncthreads();
        for (int e = tid; e < m; e += blockDim.x) {
            float v = 0.f;
            for (int sl = 0; sl < ns; sl++) v += xs[sl * m + e];
            dbs[e] = v;
        }
        __syncthreads();
    };
    /* ---- two barriers a layer (a.two, §G.7): block j owns channels [c0, c0 + nc) through the
     * whole layer — their u and z rows of in_proj, the conv, their share of x_proj, their scan
     * step, and their columns of out_proj, whose contributions to every output of x it adds into
     * the next layer's x with atomics (the sum's order, and so its last bits, vary from run to
     * run). x alternates between two buffers: phase 1 of layer l reads x_l and writes its
     * residual share into x_{l+1}, which phase 2's atomics then add to; nothing reads x_{l+1}
     * before the barrier after them.
     *   phase 1: x_l → RMSNorm → u, z rows → conv → u → x_proj partial sums; x_{l+1} ← x_l
     *   phase 2: Σ partials → δ, the state update, y (own channels) → x_{l+1} += W_out[:, own] y */
    float *zs = xo, *ys = xo + DEC_BT * cpb;   /* two: this block's z and y (B × cpb) */
    auto layer_two = [&](int l) {
        const dec3_layer *p = &a.layer[l];
        float *xcur = (l & 1) ? a.x2 : a.x, *xnxt = (l & 1) ? a.x : a.x2;
        mark(l, 0);
        /* ---- phase 1 */
        if (l == 0) {   /* (6.8) x = E[tok] */
            for (int i = tid; i < B * dm; i += blockDim.x)
                xs[i] = ld_w((const WT *)a.emb, (size_t)__ldcg(a.tok + i / dm) * dm + i % dm);
            __syncthreads();
        } else {
            load_group(xs, xcur, 0, B, dm);
        }
        mark(l, 1);
        group_rstd(rs, xs, B, dm, a.eps, red);   /* (6.9) (round 2: each warp computing r for itself
                                                  * was 0.19 µs slower a layer than the block's sum) */
        {   /* the residual: this block's rows of x_l start the sum x_{l+1} */
            int q0, q1;
            own_rows(dm, q0, q1);
            for (int i = tid; i < B * (q1 - q0); i += blockDim.x) {
                const int b = i / (q1 - q0), q = q0 + i % (q1 - q0);
                xnxt[(size_t)b * dm + q] = xs[(size_t)b * dm + q];
            }
        }
        mark(l, 2);
        cp_async_wait2();   /* group A(l) (B(l) and S(l) may be in flight) */
        mark(l, 3);
        if (nc > 0)
            block_gemv<NBT>((const WT *)wsA, 0, 0, 2 * nc, dm, xs, B, part, [&](int i, int b, float v) {
                v *= rs[b];
                if (i < nc) us[b * cpb + i] = conv_u(p, c0 + i, i, (size_t)b, v);
                else zs[b * cpb + i - nc] = v;
            });
        mark(l, 4);
        /* x_proj's outputs summed in L2 (atomics) into buffer l mod 2; block 0 clears the other one,
         * last read in phase 2 of layer l − 1 and next added to in phase 1 of layer l + 1 */
        float *xacc = a.xpart + (size_t)(l & 1) * B * nx;
        if (blockIdx.x == 0 && l > 0)
            for (int i = tid; i < B * nx; i += blockDim.x) a.xpart[(size_t)((l - 1) & 1) * B * nx + i] = 0.f;
        if (nc > 0) xproj_share(p, c0, nc, 0, B, xacc);
        mark(l, 5);
        auto after1 = [&] {
            if (l + 1 < a.n_layer) stageA2(l + 1);
            if (a.head_pf && l >= a.n_layer - 4) l2_prefetch_head_quarter(a.w_head, V, (size_t)dm * es, a.head_pf, l - (a.n_layer - 4));
        };
        if (!a.split) after1();
        mark(l, 6);
        barrier_with(1 + 4 * l, [&] { if (a.split) after1(); });
        mark(l, 7);
        if (a.prof && blockIdx.x == 0 && tid == 0)   /* no phases 2 and 3 of four: their slots take this release */
            for (int i = 2; i <= 3; i++) a.prof[2 * (i + 4 * l)] = a.prof[2 * (i + 4 * l) + 1] = a.prof[2 * (1 + 4 * l) + 1];
        /* ---- phase 2 */
        const float *yd = NULL;
        if (nc > 0) {
            for (int i = tid; i < B * nx; i += blockDim.x) dbs[i] = __ldcg(xacc + i);
            __syncthreads();
            mark(l, 8);
            if (l + 1 < a.n_layer) cp_async_wait1();   /* groups B(l), S(l) (A(l + 1) may be in flight) */
            else cp_async_wait_all();
            /* (5.1)–(5.6): a half warp per pair ip = b · nc + ci, lane n ↔ state n (N ≤ 16) */
            const int ip = 2 * warp + (lane >> 4), hl = lane & 15;
            if (2 * warp < B * nc) {   /* uniform per warp */
                const bool ok = ip < B * nc, one = ok && hl < N;
                const int b = ok ? ip / nc : 0, ci = ok ? ip % nc : 0;
                const float *row = dbs + (size_t)b * nx;
                const float h0 = one ? sph[ip * N + hl] : 0.f, alog0 = one ? spa[ip * N + hl] : 0.f;
                const float ud = ok ? us[b * cpb + ci] : 0.f, z = ok ? zs[b * cpb + ci] : 0.f;
                const float dsk = ok ? spd[ip] : 0.f, dtb = ok ? spb[ip] : 0.f;
                float raw = 0.f;
                if (ok)
                    for (int r = hl; r < R; r += 16) raw += spw[(size_t)ip * R + r] * row[r];
                raw = half_sum(raw) + dtb;
                const float delta = raw <= 20.f ? log1pf(expf(raw)) : raw;
                const float du = delta * ud;
                float acc = 0.f;
                if (one) {
                    const float hn = expf(delta * -expf(alog0)) * h0 + du * row[R + hl];
                    p->ssm[((size_t)b * D + c0 + ci) * N + hl] = hn;
                    acc = hn * row[R + N + hl];
                }
                acc = half_sum(acc);
                if (ok && hl == 0) ys[b * cpb + ci] = (acc + dsk * ud) * (z * sigmoid(z));
            }
            __syncthreads();
            mark(l, 9);
            yd = ys;
        }
        /* (6.12) x_{l+1} += W_out[:, own] y_own: 4 outputs a thread, its rows of W_outᵀ from
         * shared memory, one 16-byte atomic add (sm_90) per 4 outputs */
        if (yd)
            for (int t = tid; t < B * (dm / 4); t += blockDim.x) {
                const int b = t / (dm / 4), r4 = 4 * (t % (dm / 4));
                float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
                for (int ci = 0; ci < nc; ci++) {
                    const WT *w = (const WT *)wsB + (size_t)ci * dm + r4;
                    const float yv = yd[b * cpb + ci];
                    o.x += ld_w(w, 0) * yv;
                    o.y += ld_w(w, 1) * yv;
                    o.z += ld_w(w, 2) * yv;
                    o.w += ld_w(w, 3) * yv;
                }
                atomicAdd(reinterpret_cast<float4 *>(xnxt + (size_t)b * dm + r4), o);
            }
        __syncthreads();   /* wsB free: B(l + 1) may overwrite it */
        mark(l, 12);
        auto after2 = [&] {   /* groups B(l + 1), S(l + 1): nothing in them depends on layer l */
            if (l + 1 < a.n_layer) {
                stageB2(l + 1);
                scan_copy2(l + 1);
            }
        };
        if (!a.split) after2();
        mark(l, 13);
        barrier_with(4 + 4 * l, [&] { if (a.split) after2(); });
        mark(l, 14);
    };
    for (int l = 0; l < a.n_layer; l++) {
        const dec3_layer *p = &a.layer[l];
        if (TWO) {
            layer_two(l);
            continue;
        }
        if (!a.prefetch) {
        } else if (l + 1 < a.n_layer) prefetch_layer(l + 1);
        else   /* the head's first rows (its whole matrix is larger than the L2): ≤ 16 MB */
            l2_prefetch_share(a.w_head, (size_t)V * dm * es, ((size_t)16 << 20) / gridDim.x);
        mark(l, 0);
        /* ---- phase 1 (6.9), (6.12), (6.11): in_proj rows, conv step on rows < D */
        own_rows(2 * D, r0, r1);
        for (int g = 0; g < ngroups; g++) {
            const int b0 = g * DEC_BT, nb = min(DEC_BT, B - b0);
            if (l == 0) {   /* (6.8) x = E[tok]; block 0 also stores it for the residual */
                for (int i = tid; i < nb * dm; i += blockDim.x) {
                    const int b = i / dm, c = i % dm;
                    const float v = ld_w((const WT *)a.emb, (size_t)__ldcg(a.tok + b0 + b) * dm + c);
                    xs[i] = v;
                    if (blockIdx.x == 0) a.x[(size_t)(b0 + b) * dm + c] = v;
                }
                __syncthreads();
            } else {
                load_group(xs, a.x, b0, nb, dm);
            }
            mark(l, 1);
            group_rstd(rs, xs, nb, dm, a.eps, red);
            mark(l, 2);
            if (a.smemw && g == 0) cp_async_wait1();   /* group A(l): W_in's rows (B(l) may be in flight) */
            if (g == 0) scan_copy(l);   /* group S(l), after the wait: phase 1 does not wait for it */
            mark(l, 3);
            block_gemv<NBT>(a.smemw ? (const WT *)wsA : (const WT *)p->w_in, a.smemw ? r0 : 0, r0, r1, dm, xs, nb, part,
                       [&](int r, int b, float v) {
                v *= rs[b];
                const size_t bb = (size_t)(b0 + b);
                if (r < D) {   /* (6.11) channel r: the state shifts by one, u = SiLU(conv) */
                    const float uv = conv_u(p, r, r - r0, bb, v);
                    a.u[bb * D + r] = uv;
                    if (a.fuse) us[b * a.rpb + (r - r0)] = uv;
                } else {
                    a.xz[bb * 2 * D + r] = v;   /* z */
                }
            });
            mark(l, 4);
            /* fused x_proj: this block's channels' share of u W_xᵀ, Σ over its own c of W_x[q, c] u_c
             * (split over K = the channels: the sum over all blocks comes in phase 3) */
            const int nown = min(r1, D) - r0;
            if (a.fuse && nown > 0) xproj_share(p, r0, nown, b0, nb, NULL);
        }
        mark(l, 5);
        auto after1 = [&] {
        if (a.smemw && l + 1 < a.n_layer) {   /* group A(l + 1): phase 1's buffers are free now */
            stage(wsA, a.layer[l + 1].w_in, 2 * D, dm);
            stage2(l + 1);
            cp_async_commit();
        }
        if (a.head_pf && l >= a.n_layer - 4)   /* while HBM has little else to do */
            l2_prefetch_head_quarter(a.w_head, V, (size_t)dm * es, a.head_pf, l - (a.n_layer - 4));
        };
        if (!a.split) after1();
        mark(l, 6);
        barrier_with(1 + 4 * l, [&] { if (a.split) after1(); });
        mark(l, 7);
        /* ---- phase 2: [δ_low | B | C] = u W_xᵀ (without fuse) */
        own_rows(nx, r0, r1);
        if (a.fuse) {
            if (a.prof && blockIdx.x == 0 && tid == 0)   /* no phase 2: its slot takes phase 1's release */
                a.prof[2 * (2 + 4 * l)] = a.prof[2 * (2 + 4 * l) + 1] = a.prof[2 * (1 + 4 * l) + 1];
        } else if (r1 > r0)
            for (int g = 0; g < ngroups; g++) {
                const int b0 = g * DEC_BT, nb = min(DEC_BT, B - b0);
                load_group(xs, a.u, b0, nb, D);
                block_gemv<NBT>((const WT *)p->w_x, 0, r0, r1, D, xs, nb, part,
                           [&](int r, int b, float v) { a.dbc[(size_t)(b0 + b) * nx + r] = v; });
            }
        if (!a.fuse) barrier(2 + 4 * l);
        /* scan_pre: this thread's u and z asked for now, in flight with the partial sums' loads */
        const int tpre = t0 + 2 * warp + (lane >> 4);
        float ud_pre = 0.f, z_pre = 0.f;
        if (a.scan_pre && tpre < t1) {
            ud_pre = __ldcg(a.u + tpre);   /* (b, d) = (tpre / D, tpre % D): u (B, D), z at xz[b, D + d] */
            z_pre = __ldcg(a.xz + (size_t)(tpre / D) * 2 * D + D + tpre % D);
        }
        if (a.fuse && 2 * (int)blockIdx.x * D3_WARPS < B * D)   /* (blocks with channels to step) */
            xproj_sums((D + a.rpb - 1) / a.rpb);
        mark(l, 8);
        if (a.scan_pre) {   /* group S(l) (A(l + 1) may be in flight) */
            if (a.smemw && l + 1 < a.n_layer) cp_async_wait1();
            else cp_async_wait_all();
        }
        /* ---- phase 3 (5.1)–(5.6): a half warp per (sequence, channel), lane n ↔ state n */
        {
            const int nw = gridDim.x * D3_WARPS, half = lane >> 4, hl = lane & 15, nt = B * D;
            for (int t2 = 2 * (blockIdx.x * D3_WARPS + warp); t2 < nt; t2 += 2 * nw) {   /* uniform per warp */
                const int t = t2 + half;
                const bool ok = t < nt;
                const int b = ok ? t / D : 0, d = ok ? t % D : 0;
                const float *row = (a.fuse ? dbs : a.dbc) + (size_t)b * nx;
                auto dbc = [&](int i) { return a.fuse ? row[i] : __ldcg(row + i); };   /* shared or L2 */
                /* every load that does not wait for δ first, so that they are in flight together
                 * (one memory round trip, not one per use); N ≤ 16 states: one per lane */
                float *hd = p->ssm + ((size_t)b * D + d) * N;
                const bool one = N <= 16 && hl < N && ok, pre = a.scan_pre != 0;   /* pre: t = tpre */
                const int ip = t - t0;   /* scan_pre: the pair's index in this block's copies */
                const float h0 = !one ? 0.f : pre ? sph[ip * N + hl] : hd[hl];
                const float alog0 = !one ? 0.f : pre ? spa[ip * N + hl] : p->A_log[(size_t)d * N + hl];
                const float ud = !ok ? 0.f : pre ? ud_pre : __ldcg(a.u + (size_t)b * D + d);
                const float z = !ok ? 0.f : pre ? z_pre : __ldcg(a.xz + (size_t)b * 2 * D + D + d);
                const float dsk = !ok ? 0.f : pre ? spd[ip] : p->Dskip[d];
                const float dtb = pre ? (ok ? spb[ip] : 0.f) : p->dt_b ? p->dt_b[d] : 0.f;
                const float *dtw = pre ? spw + (size_t)ip * R : p->dt_w + (size_t)d * R;
                float raw = 0.f;
                if (ok)
                    for (int r = hl; r < R; r += 16) raw += dtw[r] * dbc(r);
                raw = half_sum(raw) + dtb;
                const float delta = raw <= 20.f ? log1pf(expf(raw)) : raw;
                const float du = delta * ud;
                float acc = 0.f;
                if (one) {
                    const float hn = expf(delta * -expf(alog0)) * h0 + du * dbc(R + hl);
                    hd[hl] = hn;
                    acc = hn * dbc(R + N + hl);
                } else if (ok && N > 16) {
                    for (int n = hl; n < N; n += 16) {
                        const float an = -expf(p->A_log[(size_t)d * N + n]);
                        const float hn = expf(delta * an) * hd[n] + du * dbc(R + n);
                        hd[n] = hn;
                        acc += hn * dbc(R + N + n);
                    }
                }
                acc = half_sum(acc);
                if (ok && hl == 0) a.y[(size_t)b * D + d] = (acc + dsk * ud) * (z * sigmoid(z));
            }
        }
        mark(l, 9);
        barrier(3 + 4 * l);
        mark(l, 10);
        /* ---- phase 4 (6.12): x += y W_outᵀ */
        own_rows(dm, r0, r1);
        if (r1 > r0)
            for (int g = 0; g < ngroups; g++) {
                const int b0 = g * DEC_BT, nb = min(DEC_BT, B - b0);
                /* the residual's old values of this block's rows, in flight with y's loads (one
                 * round trip); stored after (block_gemv's barrier comes before its epilogue) */
                const int nxo = (r1 - r0) * nb;
                float xov = 0.f;
                if (tid < nxo) xov = __ldcg(a.x + (size_t)(b0 + tid % nb) * dm + r0 + tid / nb);
                load_group(xs, a.y, b0, nb, D);
                if (tid < nxo) xo[tid] = xov;
                for (int i = tid + blockDim.x; i < nxo; i += blockDim.x)
                    xo[i] = __ldcg(a.x + (size_t)(b0 + i % nb) * dm + r0 + i / nb);
                if (a.smemw && g == 0) {   /* group B(l): W_out's rows (A(l + 1) may be in flight) */
                    if (l + 1 < a.n_layer) cp_async_wait1();
                    else cp_async_wait_all();
                } else {
                    __syncthreads();   /* xo before the epilogue (block_gemv's warp-per-row path has no barrier before it) */
                }
                if (g == 0) mark(l, 11);
                block_gemv<NBT>(a.smemw ? (const WT *)wsB : (const WT *)p->w_out, a.smemw ? r0 : 0, r0, r1, D, xs, nb, part,
                           [&](int r, int b, float v) {
                    a.x[(size_t)(b0 + b) * dm + r] = xo[(r - r0) * nb + b] + v;
                });
            }
        mark(l, 12);
        auto after4 = [&] {
            if (a.smemw && l + 1 < a.n_layer) {   /* group B(l + 1): phase 4's buffer is free now */
                stage(wsB, a.layer[l + 1].w_out, dm, D);
                cp_async_commit();
            }
        };
        if (!a.split) after4();
        mark(l, 13);
        barrier_with(4 + 4 * l, [&] { if (a.split) after4(); });
        mark(l, 14);
    }
    /* ---- the head (6.14): logits = RMSNorm_f(x) Eᵀ for this block's vocabulary rows, and
     * their argmax per sequence into a.best (atomicMax of the keys) */
    own_rows(V, r0, r1);
    /* head_all: every sequence's x in shared memory at once, so each vocabulary row is fetched
     * from HBM once for all groups (the head's 77 MB in bf16 do not stay in the L2 between
     * groups); otherwise one group at a time */
    const int hg = a.head_all ? 1 : ngroups;
    const float *xf = TWO && (a.n_layer & 1) ? a.x2 : a.x;   /* the last layer's output */
    if (TWO && blockIdx.x == 0)   /* the last layer's x_proj sums: cleared for the next step */
        for (int i = tid; i < B * nx; i += blockDim.x) a.xpart[(size_t)((a.n_layer - 1) & 1) * B * nx + i] = 0.f;
    if (B == 1 && a.head_ru > 0) {   /* one sequence: head_rows1, the key kept on the way */
        if (r1 > r0) {
            load_group(xs, xf, 0, 1, dm);
            group_rstd(rs, xs, 1, dm, a.eps, red);
            /* two rows a warp (float32: in the one-sequence kernel only; elsewhere they spill, at 80
             * registers a thread for 768 threads; four bf16 rows spilled too) */
            constexpr int RU2 = sizeof(WT) == 2 || NBT == 1 ? 2 : 1;
            unsigned long long k = a.head_ru >= 2 ? head_rows1<RU2>((const WT *)a.w_head, r0, r1, dm, xs, rs[0], a.logits, a.Vs)
                                                  : head_rows1<1>((const WT *)a.w_head, r0, r1, dm, xs, rs[0], a.logits, a.Vs);
            if (lane == 0) keys[warp] = k;
            __syncthreads();
            if (tid == 0) {
                for (int w = 1; w < D3_WARPS; w++) k = max(k, keys[w]);
                if (k) atomicMax(a.best, k);
            }
        }
    } else
    for (int g = 0; g < hg; g++) {
        const int b0 = g * DEC_BT, nb = a.head_all ? B : min(DEC_BT, B - b0);
        if (r1 <= r0) break;
        load_group(xs, xf, b0, nb, dm);
        group_rstd(rs, xs, nb, dm, a.eps, red);
        block_gemv<NBT>((const WT *)a.w_head, 0, r0, r1, dm, xs, nb, part, [&](int r, int b, float v) {
            a.logits[(size_t)(b0 + b) * V + r] = v * rs[b];
        });
        for (int b = 0; b < nb; b++) {   /* this block's rows < Vs (its own writes: visible after the barrier) */
            unsigned long long k = 0;
            const float *lg = a.logits + (size_t)(b0 + b) * V;
            for (int r = r0 + tid; r < min(r1, a.Vs); r += blockDim.x) {
                const float v = lg[r];
                if (v == v) k = max(k, argmax_key(v, r));   /* NaN is never a maximum */
            }
            for (int o = 16; o > 0; o >>= 1) k = max(k, __shfl_xor_sync(0xffffffffu, k, o));
            if (lane == 0) keys[warp] = k;
            __syncthreads();
            if (tid == 0) {
                for (int w = 1; w < D3_WARPS; w++) k = max(k, keys[w]);
                k = max(k, keys[0]);
                if (k) atomicMax(a.best + b0 + b, k);
            }
            __syncthreads();
        }
    }
    /* the last block to get here turns the keys into tokens and clears them for the next step */
    if (tid == 0) {
        if (a.prof) atomicMax(a.prof + 2 * (4 * a.n_layer + 1), gtimer());   /* the last slot: the head done */
        __threadfence();
        if (atomicAdd(a.arrived, 1u) == gridDim.x - 1) {
            __threadfence();
            for (int b = 0; b < B; b++) {
                const unsigned long long k = atomicExch(a.best + b, 0ull);
                a.tok[b] = k ? (int)(0xffffffffu - (unsigned)(k & 0xffffffffu)) : 0;
            }
            atomicExch(a.arrived, 0u);
        }
    }
}

static const void *step3_fn(int bf16, int two, int nbt1)
{
    if (bf16) {
        if (nbt1) return two ? (const void *)dec_step3_kernel<__nv_bfloat16, true, 1> : (const void *)dec_step3_kernel<__nv_bfloat16, false, 1>;
        return two ? (const void *)dec_step3_kernel<__nv_bfloat16, true, DEC_BT> : (const void *)dec_step3_kernel<__nv_bfloat16, false, DEC_BT>;
    }
    if (nbt1) return two ? (const void *)dec_step3_kernel<float, true, 1> : (const void *)dec_step3_kernel<float, false, 1>;
    return two ? (const void *)dec_step3_kernel<float, true, DEC_BT> : (const void *)dec_step3_kernel<float, false, DEC_BT>;
}

int dec_step3_supported(int dm, int D, int K)
{
    int dev, coop = 0;
    if (dm % 8 || D % 8 || K < 1 || K > DEC_MAX_K) return 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev) != cudaSuccess)
        return 0;
    return coop;
}

void dec_step3_setup(dec3_args *a, int bf16)
{
    if (a->dm % 8 || a->D % 8) { fprintf(stderr, "dec_step3: d_model %d and d_inner %d must be multiples of 8\n", a->dm, a->D); exit(2); }
    if (a->K < 1 || a->K > DEC_MAX_K) { fprintf(stderr, "dec_step3: conv kernel %d outside 1..%d\n", a->K, DEC_MAX_K); exit(2); }
    a->bf16 = bf16;
    const char *n1 = getenv("DEC3_NBT1");
    a->nbt1 = a->B == 1 && !(n1 && *n1 == '0');
    /* the L2 prefetch measured slower on the H200 (round 2: 0.546 vs 0.512 ms at bf16 batch 1):
     * off unless DEC3_PREFETCH=1 */
    const char *np = getenv("DEC3_PREFETCH");
    a->prefetch = np && *np == '1';
    int dev, sms, per_sm = 0, coop = 0;
    LM_CUDA(cudaGetDevice(&dev));
    LM_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    a->grid = sms;   /* one block per SM: every block resident, as the grid barrier needs */
    const char *fb = getenv("DEC3_BARRIER");
    a->flagbar = fb && !strcmp(fb, "flags");
    const char *fz = getenv("DEC3_FUSE");
    a->fuse = fz && (*fz == '0' || *fz == '1') ? *fz == '1' : a->B <= 4;
    if (a->B > DEC_BT) a->fuse = 0;   /* phase 3 would sum B·(R + 2N) partials per block */
    /* two barriers a layer (DEC3_TWO=1): B ≤ 4, the fused x_proj, a half warp per (sequence,
     * channel) of a block with N ≤ 16, everything staged in shared memory (else the four phases) */
    const char *tw = getenv("DEC3_TWO");
    const int cpb = (a->D + a->grid - 1) / a->grid;
    int two = !(tw && *tw == '0') && a->B <= 4 && a->fuse && !a->flagbar && a->N <= 16 && a->B * cpb <= 2 * D3_WARPS;
    int optin = 0;
    LM_CUDA(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
again:
    a->two = two;
    a->rpb = two ? cpb : (2 * a->D + a->grid - 1) / a->grid;
    const int nx = a->R + 2 * a->N;
    const size_t kin = (size_t)(a->dm > a->D ? a->dm : a->D), tail = (D3_WARPS * DEC_BT + 32) * sizeof(float) +
        32 * sizeof(unsigned long long) + ((size_t)DEC_BT * a->rpb + (size_t)DEC_BT * nx) * sizeof(float);
    /* the head with all B sequences' x in shared memory when there is more than one group and
     * it fits in 200 KB (of the 227 KB a block may have) */
    a->head_all = a->B > DEC_BT && ((size_t)a->B * a->dm + a->B) * sizeof(float) + tail <= (size_t)200 << 10;
    a->xs_floats = (int)(a->head_all && (size_t)a->B * a->dm > DEC_BT * kin ? (size_t)a->B * a->dm : DEC_BT * kin);
    a->rs_floats = a->head_all ? (a->B + 3) / 4 * 4 : DEC_BT;   /* a multiple of 4: what follows stays 16-byte aligned */
    a->smem = ((size_t)a->xs_floats + a->rs_floats) * sizeof(float) + tail;
    /* phase 4's old x, then (smemw) the two staged weight slices */
    const int rpb_out = (a->dm + a->grid - 1) / a->grid;
    a->xo_floats = (DEC_BT * (two ? 2 * cpb : rpb_out) + 3) / 4 * 4;   /* two: z and y of the block's channels */
    const size_t es = bf16 ? 2 : 4;
    a->wsA_bytes = (size_t)(two ? 2 * cpb : a->rpb) * a->dm * es;
    const size_t wsB = two ? (size_t)cpb * a->dm * es : (size_t)rpb_out * a->D * es;   /* two: rows of W_outᵀ */
    a->smem += (size_t)a->xo_floats * sizeof(float);
    const char *sw = getenv("DEC3_SMEMW");
    a->smemw = !(sw && *sw == '0') && a->smem + a->wsA_bytes + wsB <= (size_t)220 << 10;
    if (two && !a->smemw) { two = 0; goto again; }
    if (a->smemw) a->smem += a->wsA_bytes + wsB;
    a->wsB_bytes = wsB;
    const char *s2 = getenv("DEC3_STAGE2");
    a->stage2 = a->smemw && a->fuse && !(s2 && *s2 == '0');
    if (a->stage2) a->smem += (size_t)a->rpb * (DEC_BT * (a->K - 1) + a->K + 1) * sizeof(float) + (size_t)nx * a->rpb * es;
    /* scan_pre: one pass of phase 3 (a half warp per pair covers all B·D pairs) and N ≤ 16 */
    const char *sp = getenv("DEC3_SCANPRE");
    a->scan_pre = two || (!(sp && *sp == '0') && a->N <= 16 && (size_t)a->B * a->D <= (size_t)2 * a->grid * D3_WARPS);
    a->sp_off = (a->smem + 15) / 16 * 16;
    if (a->scan_pre && a->sp_off + (size_t)2 * D3_WARPS * (2 * a->N + a->R + 2) * sizeof(float) <= (size_t)optin)
        a->smem = a->sp_off + (size_t)2 * D3_WARPS * (2 * a->N + a->R + 2) * sizeof(float);
    else if (two) {
        two = 0;
        goto again;
    } else
        a->scan_pre = 0;
    /* the head at B = 1: rows in flight per warp (float32: at most 2, for the registers) */
    const char *hr = getenv("DEC3_HEAD_RU");
    const int ru_max = bf16 || a->nbt1 ? 2 : 1;
    a->head_ru = hr ? atoi(hr) : ru_max;   /* 0: block_gemv, as at B > 1 */
    if (a->head_ru < 0) a->head_ru = 1;
    if (a->head_ru > ru_max) a->head_ru = ru_max;
    const char *spl = getenv("DEC3_SPLIT");
    a->split = !(spl && *spl == '0');   /* on unless DEC3_SPLIT=0 (§G.7: it measured faster) */
    const char *hp = getenv("DEC3_HEADPF");
    a->head_pf = hp ? atoi(hp) : 0;
    if (a->head_pf < 0) a->head_pf = 0;
    const void *fn = step3_fn(bf16, a->two, a->nbt1);
    LM_CUDA(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)a->smem));
    LM_CUDA(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev));
    LM_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, D3_THREADS, a->smem));
    if (!coop || per_sm < 1) {
        fprintf(stderr, "dec_step3: no cooperative launch here (support %d, blocks per SM %d)\n", coop, per_sm);
        exit(2);
    }
}

int dec_step3(const dec3_args *a, void *stream)
{
    static unsigned long long epoch = 0;   /* the flag barrier's values only grow */
    dec3_args v = *a;
    v.epoch = ++epoch;
    void *args[] = {&v};
    const void *fn = step3_fn(a->bf16, a->two, a->nbt1);
    return (int)cudaLaunchCooperativeKernel(fn, a->grid, D3_THREADS, args, a->smem, S(stream));
}

void dec_step3_profile(const dec3_args *a, unsigned long long *prof_h, unsigned long long *fine_h, void *stream)
{
    const size_t n = (size_t)(4 * a->n_layer + 2) * 2, nf = (size_t)a->grid * DEC3_MARKS * 2;
    dec3_args v = *a;
    LM_CUDA(cudaMalloc((void **)&v.prof, n * sizeof *v.prof));
    LM_CUDA(cudaMemsetAsync(v.prof, 0, n * sizeof *v.prof, S(stream)));
    if (fine_h) {
        LM_CUDA(cudaMalloc((void **)&v.fine, nf * sizeof *v.fine));
        LM_CUDA(cudaMemsetAsync(v.fine, 0, nf * sizeof *v.fine, S(stream)));
    }
    LM_CUDA((cudaError_t)dec_step3(&v, stream));
    LM_CUDA(cudaMemcpyAsync(prof_h, v.prof, n * sizeof *v.prof, cudaMemcpyDeviceToHost, S(stream)));
    if (fine_h) LM_CUDA(cudaMemcpyAsync(fine_h, v.fine, nf * sizeof *v.fine, cudaMemcpyDeviceToHost, S(stream)));
    LM_CUDA(cudaStreamSynchronize(S(stream)));
    LM_CUDA(cudaFree(v.prof));
    if (fine_h) LM_CUDA(cudaFree(v.fine));
}

/* =====================================================================================
 * (G.2) on the GPU: one draw per sequence from softmax(ℓ/T) over the first Vs logits, kept to
 * the k most probable, then to the smallest most-probable set of mass ≥ p of those, renormalised
 * — gen_sample's distribution (generate.c). No sort: each question the filter asks is "which
 * token has this rank, or this cumulative mass, in descending order?", answered by a radix
 * select over the 64-bit keys of argmax_key (the logit's bits in sortable order above the
 * complement of the id: gen_sample's order, probability descending, ties the smaller id first),
 * up to 8 passes of 8 bits, each a 256-bin histogram in shared memory (one per warp), ending as
 * soon as the chosen bin holds one key.
 * Masses are fixed point (2^40 = probability 1) and summed as integers: the same draw for the
 * same seed whatever order the atomics land in. The uniform number is a hash of (seed, counter,
 * sequence): nothing to keep on the GPU between draws. One block per sequence. */
#define SAMPLE_THREADS 512
#define SAMPLE_WARPS (SAMPLE_THREADS / 32)
#define SAMPLE_ONE 1099511627776.0   /* 2^40: probability 1 in the fixed-point masses */

__device__ __forceinline__ unsigned long long splitmix64(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct sample_row {
    const float *l;
    int Vs;
    float invT, mx, invZ;   /* p_i = exp(ℓ_i/T − mx) / Z */
};

/* token i's key (0 for NaN: never kept) and fixed-point probability */
__device__ __forceinline__ unsigned long long sample_key(const sample_row &s, int i, unsigned long long &q)
{
    const float v = s.l[i];
    if (v != v) { q = 0; return 0; }
    q = (unsigned long long)((double)(expf(v * s.invT - s.mx) * s.invZ) * SAMPLE_ONE);
    return argmax_key(v, i);
}

__device__ unsigned long long block_sum_u64(unsigned long long v, unsigned long long *sh)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % 32 == 0) sh[threadIdx.x / 32] = v;
    __syncthreads();
    unsigned long long t = 0;
    for (int w = 0; w < SAMPLE_WARPS; w++) t += sh[w];   /* integers: any order gives the same sum */
    __syncthreads();
    return t;
}

/* Σ over the keys ≥ lo of their weight (mass: q, else 1) */
__device__ unsigned long long sample_total(const sample_row &s, unsigned long long lo, bool mass, unsigned long long *sh)
{
    unsigned long long t = 0, q;
    for (int i = threadIdx.x; i < s.Vs; i += blockDim.x) {
        const unsigned long long k = sample_key(s, i, q);
        if (k && k >= lo) t += mass ? q : 1;
    }
    return block_sum_u64(t, sh);
}

/* The key K among the keys ≥ lo (lo ≥ 1) at which the weights summed in descending order pass
 * target: Σ_{key > K} w ≤ target < Σ_{key ≥ K} w, with w = q (mass) or 1 (then K is the
 * (target + 1)-th largest key). 0 when the total is ≤ target. hist: SAMPLE_WARPS × 256. */
__device__ unsigned long long sample_select(const sample_row &s, unsigned long long lo, bool mass,
                                            unsigned long long target, unsigned long long *hist,
                                            unsigned long long *bc)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    unsigned long long prefix = 0, above = 0;   /* the key's bits so far; the weight above them */
    for (int shift = 56; shift >= 0; shift -= 8) {
        const unsigned long long hmask = shift == 56 ? 0ull : ~0ull << (shift + 8);
        for (int j = threadIdx.x; j < SAMPLE_WARPS * 256; j += blockDim.x) hist[j] = 0;
        __syncthreads();
        for (int i0 = 0; i0 < s.Vs; i0 += blockDim.x) {   /* every lane of a warp in every trip */
            const int i = i0 + threadIdx.x;
            unsigned long long q = 0, k = 0;
            if (i < s.Vs) k = sample_key(s, i, q);
            const unsigned long long w = mass ? q : 1;
            const bool in = k && k >= lo && (k & hmask) == prefix && w;
            const unsigned act = __ballot_sync(0xffffffffu, in);
            if (in) {   /* the weight below bit 44, the count of keys above it (a bin's sum keeps both:
                         * Σ w ≤ 2^40 (1 + ε), at most 2^16 keys). The lanes with the same bin add
                         * theirs first (exactly, as two 20-bit halves), and one of them adds the sum:
                         * in the first passes most keys share a few bins, and 32 atomics on one word
                         * would queue */
                const unsigned long long wc = (1ull << 44) | w;
                const unsigned bin = (unsigned)(k >> shift) & 255u;
                const unsigned peers = __match_any_sync(act, bin);
                const unsigned hi = __reduce_add_sync(peers, (unsigned)(wc >> 20)),
                               lo20 = __reduce_add_sync(peers, (unsigned)(wc & 0xfffffu));
                if (__ffs(peers) - 1 == lane) atomicAdd(&hist[warp * 256 + (int)bin], ((unsigned long long)hi << 20) + lo20);
            }
        }
        __syncthreads();
        for (int j = threadIdx.x; j < 256; j += blockDim.x)   /* the warps' histograms into the first */
            for (int w = 1; w < SAMPLE_WARPS; w++) hist[j] += hist[w * 256 + j];
        __syncthreads();
        if (threadIdx.x == 0) {
            const unsigned long long wm = (1ull << 44) - 1;
            int bin = 255;
            for (; bin >= 0; bin--) {
                if (above + (hist[bin] & wm) > target) break;
                above += hist[bin] & wm;
            }
            bc[0] = bin < 0 ? 0ull : prefix | ((unsigned long long)bin << shift);
            bc[1] = bin < 0 ? 0ull : 1ull;
            bc[2] = above;
            bc[3] = bin < 0 ? 0ull : hist[bin] >> 44;   /* keys in the bin */
        }
        __syncthreads();
        const bool found = bc[1] != 0, unique = bc[3] == 1;
        prefix = bc[0];
        above = bc[2];
        __syncthreads();
        if (!found) return 0;
        if (unique && shift > 0) {   /* one key left: the pass that finds it ends the select */
            const unsigned long long m2 = ~0ull << shift;
            for (int i = threadIdx.x; i < s.Vs; i += blockDim.x) {
                unsigned long long q;
                const unsigned long long k = sample_key(s, i, q), w = mass ? q : 1;
                if (k && k >= lo && (k & m2) == prefix && w) bc[0] = k;
            }
            __syncthreads();
            prefix = bc[0];
            __syncthreads();
            return prefix;
        }
    }
    return prefix;
}

__global__ void __launch_bounds__(SAMPLE_THREADS) dec_sample_kernel(int *tok, const float *logits, long long ld, int Vs,
                                                                   float invT, int top_k, float top_p,
                                                                   unsigned long long seed, unsigned long long counter,
                                                                   unsigned long long *dbg)
{
    __shared__ unsigned long long hist[SAMPLE_WARPS * 256], sh[SAMPLE_WARPS], bc[4];
    __shared__ float shf[32];
    sample_row s;
    s.l = logits + (size_t)blockIdx.x * ld;
    s.Vs = Vs;
    s.invT = invT;
    s.mx = 0.f;
    s.invZ = 1.f;
    /* the softmax's max and sum (fixed thread order: the same floats every run) */
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < Vs; i += blockDim.x)
        if (s.l[i] == s.l[i]) mx = fmaxf(mx, s.l[i] * invT);
    mx = block_max(mx, shf);
    if (mx == -INFINITY) {   /* every logit NaN (or −∞): token 0, as dec_argmax */
        if (threadIdx.x == 0) tok[blockIdx.x] = 0;
        return;
    }
    s.mx = mx;
    float z = 0.f;
    for (int i = threadIdx.x; i < Vs; i += blockDim.x)
        if (s.l[i] == s.l[i]) z += expf(s.l[i] * invT - mx);
    s.invZ = 1.f / block_sum(z, shf);
    /* top k: the k-th largest key; the kept tokens are the keys ≥ it */
    unsigned long long lo = 1;
    if (top_k > 0 && top_k < Vs) {
        const unsigned long long kk = sample_select(s, 1, false, (unsigned long long)top_k - 1, hist, bc);
        if (kk) lo = kk;
    }
    /* top p on the top-k distribution: the first key (descending) whose cumulative mass reaches
     * p · (the top-k mass), as gen_sample's `while (cum < p · mass)`; at least one token */
    if (top_p < 1.f) {
        const unsigned long long mk = sample_total(s, lo, true, sh);
        const double P = ceil((double)top_p * (double)mk);
        const unsigned long long kp = sample_select(s, lo, true, P >= 1 ? (unsigned long long)P - 1 : 0, hist, bc);
        if (kp) lo = kp;
    }
    /* the draw: u ∈ [0, 1) (53 bits) times the kept mass */
    const unsigned long long mass = sample_total(s, lo, true, sh);
    const double u = (double)(splitmix64(seed ^ splitmix64(counter * 0x100000001b3ull + blockIdx.x)) >> 11) * 0x1.0p-53;
    unsigned long long T = (unsigned long long)(u * (double)mass);
    if (mass && T >= mass) T = mass - 1;
    const unsigned long long kd = sample_select(s, lo, true, T, hist, bc);
    if (threadIdx.x == 0) {
        tok[blockIdx.x] = kd ? (int)(0xffffffffu - (unsigned)(kd & 0xffffffffu)) : 0;
        if (dbg) {
            dbg[4 * blockIdx.x] = lo;
            dbg[4 * blockIdx.x + 1] = mass;
            dbg[4 * blockIdx.x + 2] = T;
            dbg[4 * blockIdx.x + 3] = kd;
        }
    }
}

void dec_sample(int *tok, const float *logits, long long ld, int B, int Vs, float temperature, int top_k, float top_p,
                unsigned long long seed, unsigned long long counter, unsigned long long *dbg, void *stream)
{
    if (!(temperature > 0.f)) { fprintf(stderr, "dec_sample: temperature %g must be > 0 (0: greedy, dec_argmax)\n", temperature); exit(2); }
    dec_sample_kernel<<<B, SAMPLE_THREADS, 0, S(stream)>>>(tok, logits, ld, Vs, 1.f / temperature, top_k,
                                                            top_p > 0.f ? top_p : 0.f, seed, counter, dbg);
    LM_LAUNCH_CHECK();
}
