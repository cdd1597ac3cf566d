/* 06_hw_aware_cuda/scan/scan_runtime.cu — is there a GPU, and which. */
#include <stdio.h>

#include "06_hw_aware_cuda/scan/scan_device.cuh"

extern "C" int scan_gpu_available(char *why, size_t len)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        /* with no NVIDIA driver at all the runtime reports an "insufficient" driver too:
         * the driver's version (0 when there is none) tells the two apart */
        int drv = 0;
        if (e == cudaErrorInsufficientDriver && cudaDriverGetVersion(&drv) == cudaSuccess) {
            if (why && drv == 0) snprintf(why, len, "no NVIDIA GPU driver on this machine");
            else if (why)
                snprintf(why, len, "the NVIDIA driver supports CUDA %d.%d, older than this build's runtime",
                         drv / 1000, drv % 1000 / 10);
        } else if (why) {
            snprintf(why, len, "%s", cudaGetErrorString(e));
        }
        cudaGetLastError();   /* clear the sticky-free error so later checks start clean */
        return 0;
    }
    if (n < 1) {
        if (why) snprintf(why, len, "no CUDA device found");
        return 0;
    }
    if (why && len) why[0] = '\0';
    return 1;
}

extern "C" void scan_gpu_name(char *buf, size_t len)
{
    cudaDeviceProp pr;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&pr, dev) != cudaSuccess) {
        snprintf(buf, len, "unknown GPU");
        return;
    }
    snprintf(buf, len, "%s (sm_%d%d, %d SMs, %.0f GiB, L2 %d MB)", pr.name, pr.major, pr.minor,
             pr.multiProcessorCount, pr.totalGlobalMem / 1073741824.0, pr.l2CacheSize >> 20);
}

/* Element-wise dtype conversion on the device (n elements, src and dst may alias only if
 * the dtypes have the same size). Used by the tests and the benchmark to make bf16/fp16
 * inputs from float32 ones and to read results back as float32. */
template <typename S, typename D>
__global__ void convert_kernel(const S *src, D *dst, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = from_f<D>(to_f(src[i]));
}

template <typename S>
static int convert_from(const S *src, void *dst, scan_dtype dt, size_t n)
{
    const unsigned blocks = (unsigned)(n < 1024 * 256 ? (n + 255) / 256 : 1024);
    if (n == 0) return SCAN_OK;
    switch (dt) {
    case SCAN_F32: convert_kernel<<<blocks, 256>>>(src, (float *)dst, n); break;
    case SCAN_BF16: convert_kernel<<<blocks, 256>>>(src, (__nv_bfloat16 *)dst, n); break;
    case SCAN_F16: convert_kernel<<<blocks, 256>>>(src, (__half *)dst, n); break;
    default: return SCAN_EDTYPE;
    }
    SCAN_LAUNCHED();
    return SCAN_OK;
}

extern "C" int scan_convert(const void *src, scan_dtype st, void *dst, scan_dtype dt, size_t n)
{
    switch (st) {
    case SCAN_F32: return convert_from((const float *)src, dst, dt, n);
    case SCAN_BF16: return convert_from((const __nv_bfloat16 *)src, dst, dt, n);
    case SCAN_F16: return convert_from((const __half *)src, dst, dt, n);
    default: return SCAN_EDTYPE;
    }
}

/* Fill with uniform values in [lo, hi) from a counter-based hash (splitmix64 of the index
 * and seed): the same numbers for any launch shape, never zeros by accident, and fast
 * enough for the benchmark's gigabyte inputs. */
__device__ __forceinline__ unsigned long long mix64(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

template <typename T>
__global__ void fill_kernel(T *dst, size_t n, unsigned long long seed, float lo, float hi)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float r = (float)(mix64(seed * 0x100000001b3ull + i) >> 40) * (1.f / 16777216.f);
        dst[i] = from_f<T>(lo + (hi - lo) * r);
    }
}

extern "C" int scan_fill_uniform(void *dst, scan_dtype dt, size_t n, unsigned long long seed,
                                 float lo, float hi)
{
    if (n == 0) return SCAN_OK;
    const unsigned blocks = (unsigned)(n < 4096 * 256 ? (n + 255) / 256 : 4096);
    switch (dt) {
    case SCAN_F32: fill_kernel<<<blocks, 256>>>((float *)dst, n, seed, lo, hi); break;
    case SCAN_BF16: fill_kernel<<<blocks, 256>>>((__nv_bfloat16 *)dst, n, seed, lo, hi); break;
    case SCAN_F16: fill_kernel<<<blocks, 256>>>((__half *)dst, n, seed, lo, hi); break;
    default: return SCAN_EDTYPE;
    }
    SCAN_LAUNCHED();
    return SCAN_OK;
}

/* The special-function unit's rate: each thread runs 8 independent chains of
 * ex2.approx (so latency is hidden), iters times. Result in out so nothing is dead. */
__global__ void sfu_kernel(float *out, int iters)
{
    float x[8];
#pragma unroll
    for (int j = 0; j < 8; j++) x[j] = -1e-3f * (threadIdx.x + j);
    for (int it = 0; it < iters; it++) {
#pragma unroll
        for (int j = 0; j < 8; j++) x[j] = ex2_approx(x[j]) - 1.0f;
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++) s += x[j];
    if (s == 12345.f) out[0] = s;   /* never true; keeps the loop alive */
}

extern "C" double scan_measure_sfu_rate(void)
{
    cudaDeviceProp pr;
    if (cudaGetDeviceProperties(&pr, 0) != cudaSuccess) return 0;
    float *out;
    if (cudaMalloc((void **)&out, 4) != cudaSuccess) return 0;
    const int blocks = pr.multiProcessorCount * 8, threads = 256, iters = 4096;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    sfu_kernel<<<blocks, threads>>>(out, 64);   /* warm-up */
    float best = 1e30f;
    for (int r = 0; r < 5; r++) {
        cudaEventRecord(e0);
        sfu_kernel<<<blocks, threads>>>(out, iters);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (ms < best) best = ms;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(out);
    if (cudaGetLastError() != cudaSuccess) return 0;
    return (double)blocks * threads * iters * 8 / (best * 1e-3);
}
