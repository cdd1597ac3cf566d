/* 06_hw_aware_cuda/lm/matmul.cu — every linear layer of the model: in_proj, x_proj, dt_proj,
 * out_proj and the tied head (6.12), forward and backward, through cuBLAS. cuBLAS is
 * column-major; a row-major C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the
 * call swaps the operands and keeps the transpose flags. Float32 math (no TF32: the default
 * math mode), so the fp32 model is checked tightly against transformers.
 *
 * (6.18) bf16: the operands are bf16 COPIES (lm_stage_*, below, and the model's bf16 mirror
 * of the weights), the products float32 in float32 accumulation. The first version handed
 * cuBLAS the float32 arrays with COMPUTE_32F_FAST_16BF (the same rounding of the inputs to
 * bf16), which ran the model's matmuls at ~120 TFLOP/s on the H200: the library has no
 * TMA-fed tensor-core kernel for float32 inputs. Staging costs one pass over each operand. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>

#include "06_hw_aware_cuda/lm/device.cuh"
#include "06_hw_aware_cuda/scan/scan_gpu.h"

static cublasHandle_t handle;
static int use_bf16;
/* §6.24 the stream and cuBLAS workspace of the launches (kernels.h), and what the handle was
 * last given: cublasSetStream resets the workspace, so both are set together, when either
 * changed */
static cudaStream_t cur_stream;
static void *ws_default, *ws_cur, *handle_ws;
static cudaStream_t handle_stream;
static int handle_set;

static void apply_stream(void);
/* both applied to the handle at once (not at the next matmul, which may be inside a capture) */
extern "C" void lm_set_stream(void *stream)
{
    cur_stream = (cudaStream_t)stream;
    apply_stream();
}
extern "C" void *lm_get_stream(void) { return cur_stream; }
extern "C" void lm_matmul_set_workspace(void *ws)
{
    ws_cur = ws;
    apply_stream();
}

void lm_cuda_check(int err, const char *what, const char *file, int line)
{
    if (err == 0) return;
    fprintf(stderr, "lm: %s:%d: %s failed: %s\n", file, line, what,
            cudaGetErrorString((cudaError_t)err));
    exit(1);
}

static void cublas_check(cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return;
    fprintf(stderr, "lm: %s failed: cuBLAS status %d\n", what, (int)s);
    exit(1);
}

/* The handle (made on first use, with its default workspace), on the current stream and
 * workspace. An explicit workspace of cuBLAS's own default size for Hopper (32 MiB) keeps
 * its choice of algorithms the same whichever workspace a step names. */
static void apply_stream(void)
{
    if (!handle) return;
    void *ws = ws_cur ? ws_cur : ws_default;
    if (!handle_set || handle_stream != cur_stream || handle_ws != ws) {
        cublas_check(cublasSetStream(handle, cur_stream), "cublasSetStream");
        cublas_check(cublasSetWorkspace(handle, ws, LM_CUBLAS_WS), "cublasSetWorkspace");
        handle_stream = cur_stream;
        handle_ws = ws;
        handle_set = 1;
    }
}

static cublasHandle_t get_handle(void)
{
    if (!handle) {
        cublas_check(cublasCreate(&handle), "cublasCreate");
        LM_CUDA(cudaMalloc(&ws_default, LM_CUBLAS_WS));
        handle_set = 0;
    }
    apply_stream();
    return handle;
}

extern "C" void lm_gemm(int transA, int transB, int M, int N, int K, const void *A, int lda,
                        long long strideA, const void *B, int ldb, long long strideB, float *C,
                        int ldc, long long strideC, int batch, float alpha, float beta,
                        int bf16_operands)
{
    lm_prof_begin();
    const cublasHandle_t h = get_handle();
    const cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cudaDataType_t in = bf16_operands ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t ct = !bf16_operands && use_bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF
                                                              : CUBLAS_COMPUTE_32F;
    cublas_check(cublasGemmStridedBatchedEx(h, opB, opA, N, M, K, &alpha, B, in, ldb,
                                            strideB, A, in, lda, strideA, &beta, C,
                                            CUDA_R_32F, ldc, strideC, batch, ct,
                                            CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx");
    lm_prof_end(LM_K_MATMUL);
}

extern "C" void lm_matmul(int transA, int transB, int M, int N, int K, const float *A, int lda,
                          long long strideA, const float *B, int ldb, long long strideB,
                          float *C, int ldc, long long strideC, int batch, float alpha,
                          float beta)
{
    lm_gemm(transA, transB, M, N, K, A, lda, strideA, B, ldb, strideB, C, ldc, strideC, batch,
            alpha, beta, 0);
}

/* ---- operand staging ---- */

/* float32 -> bf16, round to nearest even (as cuBLAS's FAST_16BF rounded its inputs): four
 * elements a thread where the count and alignment allow, else one */
__global__ void to_bf16x4_kernel(__nv_bfloat16 *dst, const float *src, size_t n4)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n4) return;
    const float4 v = reinterpret_cast<const float4 *>(src)[i];
    __nv_bfloat162 *d = reinterpret_cast<__nv_bfloat162 *>(dst) + 2 * i;
    d[0] = __floats2bfloat162_rn(v.x, v.y);
    d[1] = __floats2bfloat162_rn(v.z, v.w);
}

__global__ void to_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" void lm_stage_bf16(void *dst, const float *src, size_t n)
{
    lm_prof_begin();
    if (n % 4 == 0 && ((size_t)src | (size_t)dst) % 16 == 0)
        to_bf16x4_kernel<<<lm_blocks(n / 4, 256), 256, 0, LM_STREAM>>>((__nv_bfloat16 *)dst, src, n / 4);
    else
        to_bf16_kernel<<<lm_blocks(n, 256), 256, 0, LM_STREAM>>>((__nv_bfloat16 *)dst, src, n);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CAST);
}

/* (batch, C, L) -> rows c0 … c0+C−1 of a (Ctot, batch·L) array: dst[c0+c][b·L + l] =
 * src[b][c][l]. Both sides contiguous in l, so both are read and written in order. A grid of
 * (batch·C rows) × (blocks along L): one 32-bit division per thread (the first version's flat
 * index needed four 64-bit ones per element, and took 9.5 ms of a step at 8 × 2048). */
template <typename Out>
__global__ void regroup_kernel(Out *dst, const float *src, int C, int L, int c0, size_t T)
{
    const int row = blockIdx.x, l = blockIdx.y * blockDim.x + threadIdx.x;
    if (l >= L) return;
    const int c = row % C, b = row / C;
    const float v = src[(size_t)row * L + l];
    Out *o = dst + (size_t)(c0 + c) * T + (size_t)b * L + l;
    if constexpr (sizeof(Out) == 2) *o = __float2bfloat16_rn(v);
    else *o = v;
}

extern "C" void lm_stage_regroup(void *dst, int bf16, const float *src, int batch, int C, int L,
                                 int c0)
{
    lm_prof_begin();
    const size_t T = (size_t)batch * L;
    const int threads = L >= 256 ? 256 : (L + 31) / 32 * 32;
    const dim3 grid((unsigned)(batch * C), (unsigned)((L + threads - 1) / threads));
    if (bf16) regroup_kernel<<<grid, threads, 0, LM_STREAM>>>((__nv_bfloat16 *)dst, src, C, L, c0, T);
    else regroup_kernel<<<grid, threads, 0, LM_STREAM>>>((float *)dst, src, C, L, c0, T);
    LM_LAUNCH_CHECK();
    lm_prof_end(LM_K_CAST);
}

extern "C" void lm_set_matmul_bf16(int on) { use_bf16 = on; }
extern "C" int lm_matmul_bf16(void) { return use_bf16; }

/* §6.19 The nominal peak of the matmuls' arithmetic: SMs × the largest SM clock × the FLOPs
 * per clock per SM of that arithmetic on sm_90 (Hopper): 128 float32 FMA units (256 FLOP/clk,
 * no tensor cores: the fp32 mode is exact float32, not TF32) or the dense bf16 tensor cores
 * (4 × 512 FMA = 4096 FLOP/clk). On the H200 (132 SMs, 1.98 GHz) that is 66.9 and 1070 TFLOP/s
 * (NVIDIA's sheet gives 67 and 989: its bf16 figure assumes the 1.83 GHz clock the tensor
 * cores hold under load, so an MFU against ours is the lower one). 0 on other architectures. */
extern "C" double lm_nominal_peak_tflops(int bf16)
{
    int dev, sms, khz, major, minor;
    LM_CUDA(cudaGetDevice(&dev));
    LM_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    LM_CUDA(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev));
    LM_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    LM_CUDA(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    if (major != 9 || minor != 0) return 0;
    return (double)sms * khz * 1e3 * (bf16 ? 4096.0 : 256.0) / 1e12;
}

extern "C" void lm_matmul_destroy(void)
{
    if (handle) cublasDestroy(handle);
    if (ws_default) cudaFree(ws_default);
    handle = NULL;
    ws_default = NULL;
    handle_set = 0;
}

/* The bf16 ceiling for MFU: an 8192³ product of bf16 matrices (random, not zeros), float32
 * accumulation, bf16 output — what the tensor cores give this library on this GPU. */
extern "C" double lm_measure_bf16_peak_tflops(void)
{
    const int n = 8192;
    const size_t nn = (size_t)n * n;
    get_handle();
    float *f;
    void *a, *c;
    LM_CUDA(cudaMalloc((void **)&f, nn * sizeof(float)));
    LM_CUDA(cudaMalloc(&a, nn * 2));
    LM_CUDA(cudaMalloc(&c, nn * 2));
    lm_fill_uniform(f, nn, 9, -1.f, 1.f);
    if (scan_convert(f, SCAN_F32, a, SCAN_BF16, nn) != SCAN_OK) { fprintf(stderr, "lm: convert failed\n"); exit(1); }
    const float one = 1, zero = 0;
    cudaEvent_t e0, e1;
    LM_CUDA(cudaEventCreate(&e0));
    LM_CUDA(cudaEventCreate(&e1));
    float ms[7];
    for (int r = -2; r < 7; r++) {
        LM_CUDA(cudaEventRecord(e0));
        cublas_check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16BF, n,
                                  a, CUDA_R_16BF, n, &zero, c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT), "cublasGemmEx bf16");
        LM_CUDA(cudaEventRecord(e1));
        LM_CUDA(cudaEventSynchronize(e1));
        if (r >= 0) LM_CUDA(cudaEventElapsedTime(&ms[r], e0, e1));
    }
    for (int i = 0; i < 7; i++)
        for (int j = i + 1; j < 7; j++)
            if (ms[j] < ms[i]) { float t = ms[i]; ms[i] = ms[j]; ms[j] = t; }
    cudaEventDestroy(e0); cudaEventDestroy(e1);
    cudaFree(f); cudaFree(a); cudaFree(c);
    return 2.0 * n * (double)n * n / (ms[3] * 1e-3) / 1e12;
}
