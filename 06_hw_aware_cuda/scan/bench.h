/* 06_hw_aware_cuda/scan/bench.h — the host side of the lesson program on a GPU: running the
 * kernels on host arrays (for --check), timing them, and the benchmark sweep.
 * Compiled only where the build has CUDA (HAVE_CUDA). */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>

/* A scan problem in host memory (float32), shapes as scan_gpu.h. Optional pointers NULL. */
typedef struct {
    int batch, D, L, N, delta_softplus;
    const float *u, *delta, *A, *B, *C, *Dskip, *z, *delta_bias, *h0, *dout, *dh_last;
} host_scan;

/* Outputs in host memory; each may be NULL (not wanted). */
typedef struct {
    float *out, *h_last, *du, *ddelta, *dz, *dA, *dB, *dC, *dDskip, *ddelta_bias, *dh0;
} host_scan_out;

/* v4 forward (fp32) and the fused backward on the GPU, for host arrays. 0 or an error. */
int gpu_scan_host(const host_scan *h, host_scan_out *o);

/* Device-to-device copy bandwidth, bytes read + written per second (median of 10). */
double gpu_copy_bandwidth(size_t bytes);

/* One row of the lesson's table: each version at one size, timed (median of reps). */
enum { VT_FWD, VT_BWD, VT_BWD_PART };   /* a forward, the full backward, a part of it */
typedef struct {
    const char *name;
    double ms, floor_ms, gbps;
    int ran, kind, bf16;   /* kind: VT_*; bf16: 1 for the bf16 rows, 0 for fp32 */
    double max_rel_diff;   /* against v3's output at the same inputs */
} version_time;

/* The most rows gpu_time_versions fills. */
#define GPU_TIME_MAX_ROWS 16

/* Times v1 (if it fits), v2, v3, v4, v5, v6 fp32, v4, v5, v6 bf16 forward and the fused backward
 * at one size; fills rows (at most GPU_TIME_MAX_ROWS) and returns how many. */
int gpu_time_versions(int batch, int D, int L, int N, int reps, version_time *rows,
                      double copy_bw, double sfu_rate);

/* The full benchmark sweep (make bench-gpu): CSV, .dat, plots into outdir. */
int gpu_bench(const char *outdir, int batch, int D, int N, int lmin, int lmax);

#endif
