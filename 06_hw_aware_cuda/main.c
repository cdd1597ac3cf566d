/* 06_hw_aware_cuda/main.c — the lesson program of chapter 6 (first half): the selective
 * scan on the GPU. It reads top to bottom in the chapter's order:
 *   6.1  the GPU's memory hierarchy, with its measured copy bandwidth and exp rate
 *   6.2  why materializing Ā is the bottleneck: the bytes v1 moves against the fused floor
 *   6.3–6.9  every version timed at one size, checked against v3, as a fraction of the floor;
 *            the backward against the fastest forward
 * Where there is no GPU (or the build has no CUDA) it says so, prints the byte counts
 * (arithmetic, no GPU needed) and runs stage 05's CPU scan on a small problem instead.
 *   --bench             the benchmark sweep (make bench-gpu): CSV, .dat and plots
 *   --dump-vectors DIR  a golden vector set (inputs, outputs and gradients of the scan)
 *   --check DIR         recompute them: on the GPU (v4 + fused backward) where there is
 *                       one, else with stage 05's CPU scan */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/s6.h"
#include "06_hw_aware_cuda/scan/bench.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "06_hw_aware_cuda/scan/scan_model.h"
#include "common/cli.h"
#include "common/plot.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

/* ---------------------------------------------------------------- golden vectors */
/* The vector set: batch 2, D 4, L 300 (not a multiple of the 16-byte vector width, so the
 * kernels' scalar tails run), N 16, with z, D skip, Δ bias + softplus, h0 and dh_last. */
enum { VB = 2, VD = 4, VL = 300, VN = 16 };
static const uint64_t VSEED = 0x06c0da;

typedef struct {
    float *u, *delta, *A, *B, *C, *Dskip, *z, *bias, *h0, *dout, *dhl;
} vec_inputs;

static const char *in_names[] = {"u", "delta", "A", "B", "C", "Dskip", "z", "delta_bias",
                                 "h0", "dout", "dh_last"};
static const char *out_names[] = {"out", "h_last", "du", "ddelta", "dA", "dB", "dC",
                                  "dDskip", "dz", "ddelta_bias", "dh0"};
/* shape of each tensor: 0 (b,D,L) 1 (D,N) 2 (b,N,L) 3 (D) 4 (b,D,N) */
static const int in_kind[] = {0, 0, 1, 2, 2, 3, 0, 3, 4, 0, 4};
static const int out_kind[] = {0, 4, 0, 0, 1, 2, 2, 3, 0, 3, 4};

static int kind_shape(int kind, size_t *s)
{
    switch (kind) {
    case 0: s[0] = VB, s[1] = VD, s[2] = VL; return 3;
    case 1: s[0] = VD, s[1] = VN; return 2;
    case 2: s[0] = VB, s[1] = VN, s[2] = VL; return 3;
    case 3: s[0] = VD; return 1;
    default: s[0] = VB, s[1] = VD, s[2] = VN; return 3;
    }
}

static size_t kind_size(int kind)
{
    size_t s[3] = {1, 1, 1};
    const int nd = kind_shape(kind, s);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

/* Outputs through stage 05's CPU scan (the reference every kernel is tested against). */
static void cpu_outputs(const vec_inputs *in, float **o)
{
    s6_args a = {.batch = VB, .D = VD, .L = VL, .N = VN, .u = in->u, .delta = in->delta,
                 .A = in->A, .B = in->B, .C = in->C, .B_varying = 1, .C_varying = 1,
                 .Dskip = in->Dskip, .z = in->z, .delta_bias = in->bias, .delta_softplus = 1,
                 .h0 = in->h0};
    for (int k = 0; k < 11; k++) memset(o[k], 0, kind_size(out_kind[k]) * sizeof(float));
    s6_scan_forward(&a, o[0], o[1]);
    s6_grads g = {.du = o[2], .ddelta = o[3], .dA = o[4], .dB = o[5], .dC = o[6],
                  .dDskip = o[7], .dz = o[8], .ddelta_bias = o[9], .dh0 = o[10]};
    s6_scan_backward(&a, in->dout, in->dhl, &g);
}

/* The same on the GPU: v4 forward (fp32) and the fused backward. 0, or no GPU. */
static int gpu_outputs(const vec_inputs *in, float **o, char *why, size_t len)
{
#ifdef HAVE_CUDA
    if (!scan_gpu_available(why, len)) return -1;
    host_scan h = {.batch = VB, .D = VD, .L = VL, .N = VN, .delta_softplus = 1, .u = in->u,
                   .delta = in->delta, .A = in->A, .B = in->B, .C = in->C, .Dskip = in->Dskip,
                   .z = in->z, .delta_bias = in->bias, .h0 = in->h0, .dout = in->dout,
                   .dh_last = in->dhl};
    host_scan_out r = {.out = o[0], .h_last = o[1], .du = o[2], .ddelta = o[3], .dA = o[4],
                       .dB = o[5], .dC = o[6], .dDskip = o[7], .dz = o[8], .ddelta_bias = o[9],
                       .dh0 = o[10]};
    const int rc = gpu_scan_host(&h, &r);
    if (rc) die(1, "GPU scan failed: %s", scan_strerror(rc));
    return 0;
#else
    (void)in, (void)o;
    snprintf(why, len, "this build has no CUDA");
    return -1;
#endif
}

/* The eleven input arrays of vec_inputs, in in_names order, for loops over them. */
static float ***in_slots(vec_inputs *in)
{
    static float **s[11];
    float **p[11] = {&in->u, &in->delta, &in->A, &in->B, &in->C, &in->Dskip, &in->z,
                     &in->bias, &in->h0, &in->dout, &in->dhl};
    memcpy(s, p, sizeof p);
    return s;
}

static void dump_vectors(const char *dir)
{
    rng_t r;
    rng_seed(&r, VSEED);
    vec_inputs in;
    float ***slot = in_slots(&in);
    for (int k = 0; k < 11; k++) *slot[k] = xmalloc_f32(kind_size(in_kind[k]));
    rng_fill_normal_f32(&r, in.u, kind_size(0), 0, 1);
    rng_fill_uniform_f32(&r, in.delta, kind_size(0), -0.5f, 0.5f);
    for (int i = 0; i < VD * VN; i++)   /* A_n ≈ −(n+1), S4D-real-like */
        in.A[i] = (float)(-(i % VN + 1) * rng_uniform_range(&r, 0.5, 1.5));
    rng_fill_normal_f32(&r, in.B, kind_size(2), 0, 1);
    rng_fill_normal_f32(&r, in.C, kind_size(2), 0, 1);
    rng_fill_normal_f32(&r, in.Dskip, VD, 0, 1);
    rng_fill_normal_f32(&r, in.z, kind_size(0), 0, 1);
    for (int d = 0; d < VD; d++)   /* bias = softplus⁻¹(Δ₀), Δ₀ log-uniform in [1e-3, 0.1] */
        in.bias[d] = (float)log(expm1(exp(rng_uniform_range(&r, log(1e-3), log(0.1)))));
    rng_fill_normal_f32(&r, in.h0, kind_size(4), 0, 0.5f);
    rng_fill_normal_f32(&r, in.dout, kind_size(0), 0, 1);
    rng_fill_normal_f32(&r, in.dhl, kind_size(4), 0, 0.5f);
    float *o[11];
    for (int k = 0; k < 11; k++) o[k] = xmalloc_f32(kind_size(out_kind[k]));
    cpu_outputs(&in, o);   /* the committed set comes from the CPU reference */

    vec_writer *w = vec_writer_open(dir, STAGE_NAME,
                                    "selective scan (S6) forward and backward, as the GPU kernels "
                                    "compute it: batch 2, D 4, L 300, N 16, z, D, delta bias + "
                                    "softplus, h0, dh_last",
                                    VSEED);
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < 11; k++) {
            const int kind = pass ? out_kind[k] : in_kind[k];
            size_t shape[3];
            const int nd = kind_shape(kind, shape);
            const size_t n = kind_size(kind);
            double *x = xmalloc_f64(n);
            const float *src = pass ? o[k] : *slot[k];
            for (size_t i = 0; i < n; i++) x[i] = src[i];
            /* fp32 kernels: the tolerance of the tests (rtol 6e-4, atol 2e-3) */
            vec_put(w, pass ? out_names[k] : in_names[k], pass ? VEC_OUTPUT : VEC_INPUT, NPY_F32,
                    nd, shape, x, 6e-4, 2e-3, pass ? "output or gradient of the scan" : "input");
            free(x);
        }
    vec_writer_close(w);
    for (int k = 0; k < 11; k++) free(*slot[k]), free(o[k]);
    printf("wrote golden vectors to %s\n", dir);
}

static int check_vectors(const char *dir)
{
    vec_checker *c = vec_check_open(dir);
    vec_inputs in;
    float ***slot = in_slots(&in);
    for (int k = 0; k < 11; k++) {
        size_t shape[3], want[3];
        const int nd = kind_shape(in_kind[k], want);
        double *x = vec_get(c, in_names[k], nd, shape);
        for (int i = 0; i < nd; i++)
            if (shape[i] != want[i])
                die(2, "%s/%s.npy: expected dimension %d to be %zu, got %zu", dir, in_names[k], i,
                    want[i], shape[i]);
        const size_t n = kind_size(in_kind[k]);
        *slot[k] = xmalloc_f32(n);
        for (size_t i = 0; i < n; i++) (*slot[k])[i] = (float)x[i];
        free(x);
    }
    float *o[11];
    for (int k = 0; k < 11; k++) o[k] = xmalloc_f32(kind_size(out_kind[k]));
    char why[256];
    if (gpu_outputs(&in, o, why, sizeof why) == 0) {
        printf("checking with the GPU kernels (v4 forward + fused backward)\n");
    } else {
        printf("checking with stage 05's CPU scan (no GPU: %s)\n", why);
        cpu_outputs(&in, o);
    }
    for (int k = 0; k < 11; k++) {
        size_t shape[3];
        const int nd = kind_shape(out_kind[k], shape);
        const size_t n = kind_size(out_kind[k]);
        double *x = xmalloc_f64(n);
        for (size_t i = 0; i < n; i++) x[i] = o[k][i];
        vec_compare(c, out_names[k], nd, shape, x);
        free(x);
    }
    for (int k = 0; k < 11; k++) free(*slot[k]), free(o[k]);
    return vec_check_close(c);
}

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
    int bench = 0, batch = 8, D = 2048, L = 2048, N = 16, lmin = 9, lmax = 17, reps = 10;
    cli_opt opts[] = {
        {"out", CLI_STRING, &out, "output directory (tables, .dat, plots)"},
        {"dump-vectors", CLI_STRING, &dump, "write a golden vector set to DIR"},
        {"check", CLI_STRING, &check, "recompute a vector set in DIR; exit 1 on mismatch"},
        {"bench", CLI_FLAG, &bench, "run the benchmark sweep over L (needs a GPU)"},
        {"plot", CLI_STRING, &replot, "draw the benchmark plots from the .dat files in DIR"},
        {"batch", CLI_INT, &batch, "batch size (default 8)"},
        {"D", CLI_INT, &D, "channels (default 2048)"},
        {"L", CLI_INT, &L, "sequence length of the lesson's timing (default 2048)"},
        {"N", CLI_INT, &N, "state size, 1..64 (default 16)"},
        {"dtype", CLI_STRING, &dtype, "fp32, bf16 or fp16 (the lesson's table times both fp32 and bf16)"},
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

    if (dump) {
        dump_vectors(dump);
        return 0;
    }
    if (check) return check_vectors(check);
    if (replot) {   /* the GPU machine may have no gnuplot: plot its results here */
        const char *names[] = {"bench_time", "bench_time_bwd", "bench_bandwidth"};
        int rc = 0;
        for (int i = 0; i < 3; i++) rc |= plot_run(STAGE_DIR, names[i], replot) != 0;
        return rc;
    }

    char why[256] = "this build has no CUDA";
    int gpu = 0;
#ifdef HAVE_CUDA
    gpu = scan_gpu_available(why, sizeof why);
#endif
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
        const int b = 1, d = 4, l = 1024, nn = 16;
        rng_t r;
        rng_seed(&r, 6);
        const size_t nx = (size_t)b * d * l, nbc = (size_t)b * nn * l;
        float *u = xmalloc_f32(nx), *de = xmalloc_f32(nx), *A = xmalloc_f32((size_t)d * nn);
        float *B = xmalloc_f32(nbc), *C = xmalloc_f32(nbc), *y = xmalloc_f32(nx);
        rng_fill_normal_f32(&r, u, nx, 0, 1);
        rng_fill_uniform_f32(&r, de, nx, 1e-3f, 0.1f);
        for (int i = 0; i < d * nn; i++) A[i] = -(float)(i % nn + 1);
        rng_fill_normal_f32(&r, B, nbc, 0, 1);
        rng_fill_normal_f32(&r, C, nbc, 0, 1);
        s6_args a = {.batch = b, .D = d, .L = l, .N = nn, .u = u, .delta = de, .A = A, .B = B,
                     .C = C, .B_varying = 1, .C_varying = 1};
        const double t0 = now_seconds();
        s6_scan_forward(&a, y, NULL);
        const double t = now_seconds() - t0;
        double s = 0;
        for (size_t i = 0; i < nx; i++) s += fabs(y[i]);
        printf("\n  CPU reference (stage 05) instead: batch %d, D %d, L %d, N %d in %.3f ms, "
               "mean |y| = %.4f\n", b, d, l, nn, 1e3 * t, s / nx);
        free(u), free(de), free(A), free(B), free(C), free(y);
    }
    return 0;
}
