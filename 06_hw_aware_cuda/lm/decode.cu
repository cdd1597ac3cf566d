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

#include "06_hw_aware_cuda/lm/decode.h"
#include "06_hw_aware_cuda/lm/device.cuh"

#define S(stream) ((cudaStream_t)(stream))

/* ---- weights in float32 or bfloat16, read as float ---- */
__device__ __forceinline__ float ld_w(const float *w, size_t i) { return w[i]; }
__device__ __forceinline__ float ld_w(const __nv_bfloat16 *w, size_t i) { return __bfloat162float(w[i]); }

/* 8 consecutive weights from a 16-byte-aligned address (float: two 16-byte loads) */
__device__ __forceinline__ void ld_w8(const float *w, float v[8])
{
    const float4 a = reinterpret_cast<const float4 *>(w)[0], b = reinterpret_cast<const float4 *>(w)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ __forceinline__ void ld_w8(const __nv_bfloat16 *w, float v[8])
{
    const uint4 q = *reinterpret_cast<const uint4 *>(w);
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&q);
    for (int i = 0; i < 4; i++) {
        const float2 f = __bfloat1622float2(h[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
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
#define DEC_BT 8
#define DEC_MAX_K 8   /* the conv width the step kernels take */

template <typename WT, bool VEC>
__device__ __forceinline__ void dot_rows(float acc[DEC_BT], const WT *wr, const float *x, int ldx,
                                         int nb, int k0, int K, int kstep)
{
    if (VEC) {
        for (int k = k0 * 8; k < K; k += kstep * 8) {
            float w[8];
            ld_w8(wr + k, w);
#pragma unroll
            for (int b = 0; b < DEC_BT; b++) {
                if (b >= nb) break;
                const float4 a = *reinterpret_cast<const float4 *>(x + (size_t)b * ldx + k);
                const float4 c = *reinterpret_cast<const float4 *>(x + (size_t)b * ldx + k + 4);
                acc[b] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w +
                          w[4] * c.x + w[5] * c.y + w[6] * c.z + w[7] * c.w;
            }
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
#pragma unroll
        for (int b = 0; b < DEC_BT; b++) acc[b] = 0.f;
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
#pragma unroll
    for (int b = 0; b < DEC_BT; b++) acc[b] = 0.f;
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
#pragma unroll
        for (int b = 0; b < DEC_BT; b++) acc[b] = 0.f;
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
