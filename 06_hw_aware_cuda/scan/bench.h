/* 06_hw_aware_cuda/scan/bench.h — the lesson program's timing on a GPU: each version at one
 * size (the lesson's table), one version by itself (--version, as llm.c's dev/cuda), and
 * the benchmark sweep. Compiled only where the build has CUDA (HAVE_CUDA). */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>

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
#define GPU_TIME_MAX_ROWS 24

/* Times v1 (if it fits), v2, v3, v4, v5, v6 fp32, v4, v5, v6 bf16 forward and the fused backward
 * at one size; fills rows (at most GPU_TIME_MAX_ROWS) and returns how many. */
int gpu_time_versions(int batch, int D, int L, int N, int reps, version_time *rows,
                      double copy_bw, double sfu_rate);

/* One version by itself (--version NAME): its answer against stage 05's CPU scan on small
 * problems (three lengths, every option on), then its time at batch, D, N over the lengths
 * that select its launch shapes. dtype: the kernels' storage type. Returns the exit code:
 * 0, 1 if the answer is off, 2 if the version does not take this N or dtype. */
int gpu_run_version(const char *name, int batch, int D, int N, int dtype, int reps);

/* The full benchmark sweep (make bench-gpu): CSV, .dat, plots into outdir. */
int gpu_bench(const char *outdir, int batch, int D, int N, int lmin, int lmax);

#endif
