/* 06_hw_aware_cuda/lm/matmul.cu — every linear layer of the model: in_proj, x_proj, dt_proj,
 * out_proj and the tied head (6.12), forward and backward, through cuBLAS. cuBLAS is
 * column-major; a row-major C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the
 * call swaps the operands and keeps the transpose flags. Float32 math (no TF32: the default
 * math mode), so the fp32 model is checked tightly against transformers. */
#include <cublas_v2.h>
#include <stdio.h>
#include <stdlib.h>

#include "06_hw_aware_cuda/lm/device.cuh"
#include "06_hw_aware_cuda/scan/scan_gpu.h"

static cublasHandle_t handle;
static int use_bf16;

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

extern "C" void lm_matmul(int transA, int transB, int M, int N, int K, const float *A, int lda,
                          long long strideA, const float *B, int ldb, long long strideB,
                          float *C, int ldc, long long strideC, int batch, float alpha,
                          float beta)
{
    lm_prof_begin();
    if (!handle) cublas_check(cublasCreate(&handle), "cublasCreate");
    const cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasComputeType_t ct = use_bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
    cublas_check(cublasGemmStridedBatchedEx(handle, opB, opA, N, M, K, &alpha, B, CUDA_R_32F, ldb,
                                            strideB, A, CUDA_R_32F, lda, strideA, &beta, C,
                                            CUDA_R_32F, ldc, strideC, batch, ct,
                                            CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx");
    lm_prof_end(LM_K_MATMUL);
}

extern "C" void lm_set_matmul_bf16(int on) { use_bf16 = on; }

extern "C" double lm_measure_matmul_tflops(int bf16)
{
    const int n = 4096, saved = use_bf16;
    use_bf16 = bf16;
    float *a, *c;
    LM_CUDA(cudaMalloc(&a, (size_t)n * n * sizeof(float)));
    LM_CUDA(cudaMalloc(&c, (size_t)n * n * sizeof(float)));
    lm_fill_uniform(a, (size_t)n * n, 7, -1.f, 1.f);    /* random, not zeros: zeros run faster */
    cudaEvent_t e0, e1;
    LM_CUDA(cudaEventCreate(&e0));
    LM_CUDA(cudaEventCreate(&e1));
    float ms[5];
    for (int r = -1; r < 5; r++) {
        LM_CUDA(cudaEventRecord(e0));
        lm_matmul(0, 1, n, n, n, a, n, 0, a, n, 0, c, n, 0, 1, 1, 0);
        LM_CUDA(cudaEventRecord(e1));
        LM_CUDA(cudaEventSynchronize(e1));
        if (r >= 0) LM_CUDA(cudaEventElapsedTime(&ms[r], e0, e1));
    }
    for (int i = 0; i < 5; i++)           /* median of five */
        for (int j = i + 1; j < 5; j++)
            if (ms[j] < ms[i]) { float t = ms[i]; ms[i] = ms[j]; ms[j] = t; }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(c);
    use_bf16 = saved;
    return 2.0 * n * n * (double)n / (ms[2] * 1e-3) / 1e12;
}

extern "C" void lm_matmul_destroy(void)
{
    if (handle) cublasDestroy(handle);
    handle = NULL;
}

/* The bf16 ceiling for MFU: an 8192³ product of bf16 matrices (random, not zeros), float32
 * accumulation, bf16 output — what the tensor cores give this library on this GPU. */
extern "C" double lm_measure_bf16_peak_tflops(void)
{
    const int n = 8192;
    const size_t nn = (size_t)n * n;
    if (!handle) cublas_check(cublasCreate(&handle), "cublasCreate");
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
