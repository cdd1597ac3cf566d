/* 06_hw_aware_cuda/main.c — the lesson program of chapter 6 (first half): the selective
 * scan on the GPU. It reads top to bottom in the chapter's order:
 *   6.1  the GPU's memory hierarchy, with its measured copy bandwidth and exp rate
 *   6.2  why materializing Ā is the bottleneck: the bytes v1 moves against the fused floor
 *   6.3–6.9  every version timed at one size, checked against v3, as a fraction of the floor;
 *            the backward against the fastest forward
 * Where there is no GPU (or the build has no CUDA) it says so, prints the byte counts
 * (arithmetic, no GPU needed) and runs stage 05's CPU scan on a small problem instead.
 *   --version NAME      one version by itself, as llm.c's dev/cuda: its answer against the
 *                       CPU scan, then its time over the lengths that pick its launch shapes
 *   --bench             the benchmark sweep (make bench-gpu): CSV, .dat and plots
 *   --dump-vectors DIR  a golden vector set (scan/vectors.c)
 *   --check DIR         grade a set (any valid shapes): on the GPU (v4 + fused backward)
 *                       where there is one, else with stage 05's CPU scan */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/s6_problem.h"
#include "06_hw_aware_cuda/scan/bench.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "06_hw_aware_cuda/scan/scan_model.h"
#include "06_hw_aware_cuda/scan/vectors.h"
#include "common/cli.h"
#include "common/plot.h"
#include "common/util.h"

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

/* ---------------------------------------------------------------- the lesson */
#ifdef HAVE_CUDA
/* 6.6, 6.11 the backward's cost in forwards: the fastest full backward (fused or v6) over
 * the fastest forward of the same dtype (v4, v5 or v6, whichever ran fastest in this run). */
static void report_bwd_ratio(const version_time *rows, int n, int L, const char *out)
{
    for (int half = 0; half <= 1; half++) {
        const version_time *bwd = NULL, *fwd = NULL;
        for (int i = 0; i < n; i++) {
            if (!rows[i].ran || rows[i].bf16 != half) continue;
            if (rows[i].kind == VT_BWD && (!bwd || rows[i].ms < bwd->ms)) bwd = &rows[i];
            if (rows[i].kind == VT_FWD && (!fwd || rows[i].ms < fwd->ms)) fwd = &rows[i];
        }
        if (!bwd || !fwd) continue;
        const char *dt = half ? "bf16" : "fp32";
        printf("  fastest backward / fastest forward (%s): %.4f ms (%s) / %.4f ms (%s) = %.2f\n",
               dt, bwd->ms, bwd->name, fwd->ms, fwd->name, bwd->ms / fwd->ms);
        char metric[96];
        snprintf(metric, sizeof metric, "backward / fastest forward %s (L=%d)", dt, L);
        summary_add(out, metric, "%.2f", bwd->ms / fwd->ms);
    }
}
#endif

int main(int argc, char **argv)
{
    const char *out = "out", *dump = NULL, *check = NULL, *dtype = "fp32", *replot = NULL;
    const char *version = NULL;
    int bench = 0, batch = 8, D = 2048, L = 2048, N = 16, lmin = 9, lmax = 17, reps = 10;
    cli_opt opts[] = {
        {"out", CLI_STRING, &out, "output directory (tables, .dat, plots)"},
        {"dump-vectors", CLI_STRING, &dump, "write a golden vector set to DIR"},
        {"check", CLI_STRING, &check, "grade the vector set in DIR (any valid shapes); exit 1 on a mismatch"},
        {"version", CLI_STRING, &version, "run one version by itself: v1 … v7, bwd_v1, bwd_fused, bwd_v6, bwd_v7 (needs a GPU)"},
        {"bench", CLI_FLAG, &bench, "run the benchmark sweep over L (needs a GPU)"},
        {"plot", CLI_STRING, &replot, "draw the benchmark plots from the .dat files in DIR"},
        {"batch", CLI_INT, &batch, "batch size (default 8)"},
        {"D", CLI_INT, &D, "channels (default 2048)"},
        {"L", CLI_INT, &L, "sequence length of the lesson's timing (default 2048)"},
        {"N", CLI_INT, &N, "state size, 1..64 (default 16)"},
        {"dtype", CLI_STRING, &dtype, "fp32, bf16 or fp16 for --version (the lesson's table times both fp32 and bf16)"},
        {"lmin", CLI_INT, &lmin, "benchmark: smallest L is 2^lmin (default 9)"},
        {"lmax", CLI_INT, &lmax, "benchmark: largest L is 2^lmax (default 17)"},
        {"reps", CLI_INT, &reps, "timed repetitions (median), default 10"},
        {0}};
    cli_parse(argc, argv, "the selective scan on the GPU: v1 unfused … v6 state tiles, and the fused backward",
              opts);
    if (batch < 1) die(2, "--batch: expected >= 1, got %d", batch);
    if (D < 1) die(2, "--D: expected >= 1, got %d", D);
    if (L < 1) die(2, "--L: expected >= 1, got %d", L);
    if (N < 1 || N > SCAN_MAX_N) die(2, "--N: expected 1..%d, got %d", SCAN_MAX_N, N);
    if (strcmp(dtype, "fp32") && strcmp(dtype, "bf16") && strcmp(dtype, "fp16"))
        die(2, "--dtype: expected fp32, bf16 or fp16, got '%s'", dtype);
    if (lmin < 1 || lmax > 24 || lmin > lmax)
        die(2, "--lmin/--lmax: expected 1 <= lmin <= lmax <= 24, got %d and %d", lmin, lmax);
    if (reps < 1 || reps > 1000) die(2, "--reps: expected 1..1000, got %d", reps);

    if (version && scan_version_find(version) < 0)
        die(2, "--version: expected v1 … v7, bwd_v1, bwd_fused, bwd_v6 or bwd_v7, got '%s'", version);
    if (dump) return scan_vectors(dump, 1);
    if (check) return scan_vectors(check, 0);
    if (replot) {   /* the GPU machine may have no gnuplot: plot its results here */
        const char *names[] = {"bench_time", "bench_time_bwd", "bench_bandwidth"};
        /* the .dat files the three plots read (their scripts in plots/) */
        const char *dats[] = {"bench_time_fp32.dat", "bench_time_bf16.dat", "bench_bandwidth.dat"};
        int rc = 0;
        for (int i = 0; i < 3; i++) {   /* bad input (no such folder, no data): exit 2 */
            char dat[4096], err[512];
            size_t len;
            path_join(dat, sizeof dat, replot, dats[i]);
            FILE *f = fopen_regular(dat, (size_t)1 << 30, &len, err, sizeof err);
            if (!f) die(EXIT_BAD_INPUT, "--plot: %s (expected the .dat files that make bench-gpu writes)", err);
            fclose(f);
        }
        for (int i = 0; i < 3; i++) rc |= plot_run(STAGE_DIR, names[i], replot) != 0;
        return rc;
    }

    char why[256] = "this build has no CUDA";
    int gpu = 0;
#ifdef HAVE_CUDA
    gpu = scan_gpu_available(why, sizeof why);
#endif
    if (version) {   /* one version alone needs the GPU: without one that is a failure */
#ifdef HAVE_CUDA
        if (gpu) return gpu_run_version(version, batch, D, N, !strcmp(dtype, "bf16") ? SCAN_BF16
                                                              : !strcmp(dtype, "fp16") ? SCAN_F16 : SCAN_F32, reps);
#endif
        die(1, "--version %s: no GPU (%s)", version, why);
    }
    if (bench) {   /* `make bench` on a machine without a GPU: say so, not a failure */
#ifdef HAVE_CUDA
        if (gpu) return gpu_bench(out, batch, D, N, lmin, lmax);
#endif
        printf("%s: benchmark skipped: no GPU (%s); results/ holds the committed H200 run\n",
               STAGE_NAME, why);
        return 0;
    }
    mkdir_p(out);
    summary_reset(out);

    /* 6.1 the memory hierarchy */
    printf("6.1  The GPU\n");
#ifdef HAVE_CUDA
    double bw = 0, sfu = 0;
    if (gpu) {
        char name[256];
        scan_gpu_name(name, sizeof name);
        struct cudaDeviceProp pr;
        if (cudaGetDeviceProperties(&pr, 0) != cudaSuccess) die(1, "cudaGetDeviceProperties failed");
        bw = gpu_copy_bandwidth((size_t)1 << 30);
        sfu = scan_measure_sfu_rate();
        printf("  %s\n", name);
        printf("  registers per SM          %8d × 4 B = %d KiB\n", pr.regsPerMultiprocessor,
               pr.regsPerMultiprocessor * 4 / 1024);
        printf("  shared memory per SM      %8zu KiB\n", pr.sharedMemPerMultiprocessor / 1024);
        printf("  L2 cache                  %8d MiB\n", pr.l2CacheSize >> 20);
        printf("  global memory             %8.1f GiB\n", pr.totalGlobalMem / 1073741824.0);
        printf("  measured copy bandwidth   %8.0f GB/s (read + write)\n", bw / 1e9);
        printf("  measured exp rate (MUFU)  %8.2f T exp/s\n", sfu / 1e12);
        summary_add(out, "copy bandwidth (GB/s)", "%.0f", bw / 1e9);
    }
#endif
    if (!gpu) printf("  no GPU: %s — the timed part below is skipped\n", why);

    /* 6.2 bytes counted */
    printf("\n6.2  Bytes moved at batch %d, D %d, L %d, N %d, fp32 (z, D, Δ bias on)\n", batch, D,
           L, N);
    const double fb = scan_model_fwd_bytes(batch, D, L, N, 1, 4);
    const double v1b = scan_model_v1_bytes(batch, D, L, N, 1, 4);
    const double ex = scan_model_fwd_exps(batch, D, L, N, 1);
    printf("  fused floor (u, Δ, z, B, C read once, y written)   %10.3f GB\n", fb / 1e9);
    printf("  v1 (Ā, B̄u, h through memory)                       %10.3f GB  (%.1f× the floor)\n",
           v1b / 1e9, v1b / fb);
    printf("  exponentials e^{ΔA} + softplus + SiLU               %10.3f G\n", ex / 1e9);
    summary_add(out, "v1 bytes / fused bytes (L=2048, N=16)", "%.1f", v1b / fb);

    /* 6.3–6.6 every version, timed */
#ifdef HAVE_CUDA
    if (gpu) {
        printf("\n6.3–6.9  Each version at this size (median of %d; floor = max(bytes/bandwidth, "
               "exps/exp rate))\n", reps);
        version_time rows[GPU_TIME_MAX_ROWS];
        const int n = gpu_time_versions(batch, D, L, N, reps, rows, bw, sfu);
        printf("  %-22s %10s %10s %10s %9s %12s\n", "version", "ms", "floor ms", "x floor",
               "GB/s", "vs v3 (rel)");
        for (int i = 0; i < n; i++) {
            if (!rows[i].ran) {
                printf("  %-22s   (not run: does not fit or N unsupported)\n", rows[i].name);
                continue;
            }
            printf("  %-22s %10.4f %10.4f %10.2f %9.0f %12.2e\n", rows[i].name, rows[i].ms,
                   rows[i].floor_ms, rows[i].ms / rows[i].floor_ms, rows[i].gbps,
                   rows[i].max_rel_diff);
            char metric[96];
            snprintf(metric, sizeof metric, "%s ms (L=%d)", rows[i].name, L);
            summary_add(out, metric, "%.4f", rows[i].ms);
        }
        report_bwd_ratio(rows, n, L, out);
        return 0;
    }
#endif
    /* No GPU: the CPU reference on a small problem, so the program still computes. */
    {
        s6_problem p;
        s6_problem_make(&p, 6, 1, 4, 1024, 16, 0);   /* Δ given directly, no options */
        free(p.dout), p.dout = NULL;                   /* the forward only */
        const double t0 = now_seconds();
        s6_problem_solve(&p);
        const double t = now_seconds() - t0;
        const size_t nx = (size_t)p.batch * p.D * p.L;
        double s = 0;
        for (size_t i = 0; i < nx; i++) s += fabs(p.out[i]);
        printf("\n  CPU reference (stage 05) instead: batch %d, D %d, L %d, N %d in %.3f ms, "
               "mean |y| = %.4f\n", p.batch, p.D, p.L, p.N, 1e3 * t, s / nx);
        s6_problem_free(&p);
    }
    return 0;
}
