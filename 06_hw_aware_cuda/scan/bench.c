/* 06_hw_aware_cuda/scan/bench.c — host-side GPU harness of the lesson program: run the
 * kernels on host arrays, time them with CUDA events, sweep L for the benchmark.
 * Built only with CUDA (HAVE_CUDA); every CUDA call is checked. */
#ifdef HAVE_CUDA
#include "06_hw_aware_cuda/scan/bench.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "06_hw_aware_cuda/scan/scan_problem_dev.h"
#include "06_hw_aware_cuda/scan/scan_model.h"
#include "common/plot.h"
#include "common/util.h"

/* A CUDA failure in the harness is fatal for the program (exit 1: the run failed). */
#define CK(call)                                                                         \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) die(1, "%s:%d: %s: %s", __FILE__, __LINE__, #call,        \
                                   cudaGetErrorString(e_));                              \
    } while (0)
#define SK(call)                                                                         \
    do {                                                                                 \
        int r_ = (call);                                                                 \
        if (r_ != SCAN_OK) die(1, "%s:%d: %s: %s (%s)", __FILE__, __LINE__, #call,       \
                               scan_strerror(r_), cudaGetErrorString(cudaGetLastError())); \
    } while (0)

/* ---- timing ---- */
static int cmp_f(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* What one timed call runs: version v on d, or (part) the fused backward with a piece left
 * out, to see what each costs: without dB and dC (their atomics), and without the z gate
 * (no recompute pass for ỹ). */
enum { PART_ALL, PART_NO_DBDC, PART_NO_Z };
typedef struct {
    scan_dev *d;
    scan_version v;
    int part;
} timed;

static int run_timed(const timed *t)
{
    if (t->part == PART_ALL) return scan_dev_run(t->d, t->v);
    scan_dev *d = t->d;
    scan_params p = d->p;
    scan_grads g = d->g;
    if (t->part == PART_NO_DBDC) g.dB = g.dC = NULL;
    else p.z = NULL;
    return scan_fused_backward(&p, d->dout, NULL, d->chunk_states, &g);
}

/* Median time (ms) of reps calls, one warm-up first; a backward's forward runs before each
 * call, outside the timed region. */
static double time_ms(const timed *t, int reps, double *min_ms)
{
    const scan_version fwd = scan_version_forward(t->v);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    if (fwd != t->v) SK(scan_dev_run(t->d, fwd));
    SK(run_timed(t));
    CK(cudaDeviceSynchronize());
    float *ts = xmalloc_f32((size_t)reps);
    for (int r = 0; r < reps; r++) {
        if (fwd != t->v) SK(scan_dev_run(t->d, fwd));
        CK(cudaEventRecord(e0, 0));
        SK(run_timed(t));
        CK(cudaEventRecord(e1, 0));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ts[r], e0, e1));
    }
    qsort(ts, (size_t)reps, sizeof *ts, cmp_f);
    const double med = reps % 2 ? ts[reps / 2] : 0.5 * (ts[reps / 2 - 1] + ts[reps / 2]);
    if (min_ms) *min_ms = ts[0];
    free(ts);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return med;
}

static void *dmalloc(size_t bytes)
{
    void *p = NULL;
    CK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

double gpu_copy_bandwidth(size_t bytes)
{
    void *a = dmalloc(bytes), *b = dmalloc(bytes);
    SK(scan_fill_uniform(a, SCAN_F32, bytes / 4, 1, -1.f, 1.f));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    float t[10];
    for (int r = 0; r < 10; r++) {
        CK(cudaEventRecord(e0, 0));
        CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0));
        CK(cudaEventRecord(e1, 0));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&t[r], e0, e1));
    }
    qsort(t, 10, sizeof *t, cmp_f);
    CK(cudaFree(a));
    CK(cudaFree(b));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return 2.0 * (double)bytes / (0.5e-3 * (t[4] + t[5]));
}

/* Max relative difference of the device output against a host float reference. */
static double diff_vs(const scan_dev *d, const float *ref)
{
    float *h = xmalloc_f32(d->nx);
    SK(scan_download(d->out, d->p.dtype, d->nx, h));
    double num = 0, den = 0;
    for (size_t i = 0; i < d->nx; i++) {
        num = fmax(num, fabs((double)h[i] - ref[i]));
        den = fmax(den, fabs((double)ref[i]));
    }
    free(h);
    return den > 0 ? num / den : num;
}

static double floor_ms(double bytes, double exps, double bw, double sfu)
{
    return 1e3 * fmax(bytes / bw, exps / sfu);
}

static int fits(size_t bytes)
{
    size_t fr = 0, tot = 0;
    CK(cudaMemGetInfo(&fr, &tot));
    return bytes + ((size_t)1 << 30) < fr;   /* keep 1 GiB spare */
}

int gpu_time_versions(int batch, int D, int L, int N, int reps, version_time *rows,
                      double bw, double sfu)
{
    int n = 0;
    const double ex = scan_model_fwd_exps(batch, D, L, N, 1);
    scan_params probe = {.batch = batch, .D = D, .L = L, .N = N};
    const size_t v1ws = scan_v1_workspace_bytes(&probe);
    const size_t need = (size_t)batch * D * L * 4 * 9 + (size_t)batch * N * L * 4 * 4;
    /* the rows: fp32 then bf16; a backward runs after its forward (v4's chunk states for
     * the fused one: v5 and v6 save the same ones) */
    static const struct { const char *name; scan_version v; int part, kind, bf16; } rs[] = {
        {"v1 unfused", SCAN_V1, PART_ALL, VT_FWD, 0},
        {"v2 fused sequential", SCAN_V2, PART_ALL, VT_FWD, 0},
        {"v3 fused chunked", SCAN_V3, PART_ALL, VT_FWD, 0},
        {"v4 tuned fp32", SCAN_V4, PART_ALL, VT_FWD, 0},
        {"v5 per state fp32", SCAN_V5, PART_ALL, VT_FWD, 0},
        {"v6 state tiles fp32", SCAN_V6, PART_ALL, VT_FWD, 0},
        {"backward fused fp32", SCAN_BWD_FUSED, PART_ALL, VT_BWD, 0},
        {"  … without dB, dC", SCAN_BWD_FUSED, PART_NO_DBDC, VT_BWD_PART, 0},
        {"  … without z (1 pass)", SCAN_BWD_FUSED, PART_NO_Z, VT_BWD_PART, 0},
        {"backward v6 fp32", SCAN_BWD_V6, PART_ALL, VT_BWD, 0},
        {"v7 seq-parallel fp32", SCAN_V7, PART_ALL, VT_FWD, 0},
        {"backward v7 fp32", SCAN_BWD_V7, PART_ALL, VT_BWD, 0},
        {"v4 tuned bf16", SCAN_V4, PART_ALL, VT_FWD, 1},
        {"v5 per state bf16", SCAN_V5, PART_ALL, VT_FWD, 1},
        {"v6 state tiles bf16", SCAN_V6, PART_ALL, VT_FWD, 1},
        {"backward fused bf16", SCAN_BWD_FUSED, PART_ALL, VT_BWD, 1},
        {"backward v6 bf16", SCAN_BWD_V6, PART_ALL, VT_BWD, 1},
        {"v7 seq-parallel bf16", SCAN_V7, PART_ALL, VT_FWD, 1},
        {"backward v7 bf16", SCAN_BWD_V7, PART_ALL, VT_BWD, 1}};
    scan_dev P;
    float *ref = NULL;
    for (int half = 0; half <= 1; half++) {
        const scan_dtype dt = half ? SCAN_BF16 : SCAN_F32;
        const int v1 = !half && fits(need + v1ws);
        SK(scan_dev_fill(&P, batch, D, L, N, dt, 1, v1 ? SCAN_DEV_V1 : 0, 42));
        if (!half) {   /* the fp32 rows are compared with v3's output */
            SK(scan_dev_run(&P, SCAN_V3));
            CK(cudaDeviceSynchronize());
            ref = xmalloc_f32(P.nx);
            SK(scan_download(P.out, SCAN_F32, P.nx, ref));
        }
        const size_t es = scan_dtype_size(dt);
        const double fb = scan_model_fwd_bytes(batch, D, L, N, 1, es);
        for (size_t i = 0; i < sizeof rs / sizeof *rs; i++) {
            if (rs[i].bf16 != half) continue;
            version_time *r = &rows[n++];
            memset(r, 0, sizeof *r);
            r->name = rs[i].name;
            r->kind = rs[i].kind;
            r->bf16 = half;
            if (rs[i].v == SCAN_V1 && !v1) continue;   /* does not fit: ran = 0 */
            if (!scan_version_takes(rs[i].v, N)) continue;
            const timed t = {&P, rs[i].v, rs[i].part};
            r->ms = time_ms(&t, reps, NULL);
            r->ran = 1;
            const int bwd = rs[i].kind != VT_FWD;
            const double bytes = bwd ? scan_model_bwd_bytes(batch, D, L, N, 1, es) : fb;
            r->floor_ms = floor_ms(bytes, ex, bw, sfu);
            r->gbps = (rs[i].v == SCAN_V1 ? scan_model_v1_bytes(batch, D, L, N, 1, es) : bytes) /
                      (r->ms * 1e-3) / 1e9;
            r->max_rel_diff = bwd || half ? NAN : diff_vs(&P, ref);
        }
        scan_dev_free(&P);
    }
    free(ref);
    return n;
}

/* ---- one version by itself ---- */

/* The version's answer on one small problem against stage 05's CPU scan in float32, every
 * output it computes (a forward: out, last_state; a backward: the gradients). Each must
 * meet both sides' rounding bound: s6_error_terms with 4 roundings a step on the CPU, 6 on
 * the GPU (ex2.approx, 2 ulp, and A·log₂e rounded), in units of 2^-24, norm-wise; outputs
 * stored in bf16/fp16 add that format's unit roundoff, element-wise. Returns the largest
 * error / tolerance. */
static double version_answer(scan_version v, int L, int N, scan_dtype dt)
{
    const scan_version fwd = scan_version_forward(v);
    s6_problem h;
    s6_problem_make(&h, 600 + (uint64_t)L, 2, 8, L, N, S6P_ALL);
    scan_dev d;
    SK(scan_dev_upload(&d, &h, dt, fwd == SCAN_V1 ? SCAN_DEV_V1 : 0));   /* h rounded to dt */
    s6_problem_solve(&h);
    SK(scan_dev_poison(&d, 0));
    SK(scan_dev_run(&d, fwd));
    if (v != fwd) SK(scan_dev_run(&d, v));
    CK(cudaDeviceSynchronize());
    double worst = 0;
    for (int k = S6_NIN; k < S6_NTENSORS; k++) {
        const s6_tensor *t = &S6_TENSORS[k];
        if ((v == fwd) != (k < S6_NIN + 2)) continue;   /* a forward's outputs, or a backward's */
        scan_dtype odt;
        const void *dev = scan_dev_output(&d, t, &odt);
        const real *want = *s6_slot(&h, t);
        if (!dev || !want) continue;
        const size_t n = s6_numel(&h, t);
        float *got = xmalloc_f32(n);
        SK(scan_download(dev, odt, n, got));
        double mx = 0;
        for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)want[i]));
        const double atol = (s6_error_terms(&h, t, 4) + s6_error_terms(&h, t, 6)) * 0x1p-24 * mx + 1e-30;
        double rtol, eta;   /* rounding to the stored dtype, subnormals included */
        scan_dtype_rounding(odt, &rtol, &eta);
        for (size_t i = 0; i < n; i++) {
            const double e = fabs((double)got[i] - want[i]) / (atol + eta + rtol * fabs((double)want[i]));
            worst = isfinite(got[i]) ? fmax(worst, e) : INFINITY;
        }
        free(got);
    }
    scan_dev_free(&d);
    s6_problem_free(&h);
    return worst;
}

int gpu_run_version(const char *name, int batch, int D, int N, int dtype, int reps)
{
    const int vi = scan_version_find(name);
    if (vi < 0) die(2, "--version: expected v1 … v7, bwd_v1, bwd_fused, bwd_v6 or bwd_v7, got '%s'", name);
    const scan_version v = (scan_version)vi, fwd = scan_version_forward(v);
    const scan_dtype dt = (scan_dtype)dtype;
    if (!scan_version_takes(v, N)) die(2, "--version %s: N = %d: %s", name, N, scan_strerror(SCAN_EN));
    if (dt != SCAN_F32 && (fwd == SCAN_V1 || fwd == SCAN_V2 || fwd == SCAN_V3))
        die(2, "--version %s: --dtype %s: this version takes fp32 only", name, scan_dtype_name(dt));
    char gpu[256];
    scan_gpu_name(gpu, sizeof gpu);
    printf("%s, %s, on %s\n", name, scan_dtype_name(dt), gpu);
    printf("  answer against stage 05's CPU scan (batch 2, D 8, N %d; z, D, delta bias + softplus, h0):\n", N);
    int ok = 1;
    static const int check_L[] = {7, 300, 2049};   /* a partial tile, the vector tails, two chunks */
    for (int i = 0; i < 3; i++) {
        const double w = version_answer(v, check_L[i], N, dt);
        printf("    L %-6d worst error / tolerance %.3g  %s\n", check_L[i], w, w <= 1 ? "ok" : "FAIL");
        ok &= w <= 1;
    }
    const double bw = gpu_copy_bandwidth((size_t)1 << 30), sfu = scan_measure_sfu_rate();
    const size_t es = scan_dtype_size(dt);
    printf("  time at batch %d, D %d, N %d (median of %d; the lengths choose its launch shapes):\n", batch, D,
           N, reps);
    printf("    %8s %10s %10s %8s %9s\n", "L", "ms", "floor ms", "x floor", "GB/s");
    static const int time_L[] = {512, 1024, 2048, 8192};
    for (int i = 0; i < 4; i++) {
        const int L = time_L[i];
        scan_params probe = {.batch = batch, .D = D, .L = L, .N = N};
        const size_t need = (size_t)batch * D * L * es * 8 + (size_t)batch * N * L * 16 +
                            (fwd == SCAN_V1 ? scan_v1_workspace_bytes(&probe) : 0);
        if (!fits(need)) {
            printf("    %8d   (does not fit in GPU memory)\n", L);
            continue;
        }
        scan_dev P;
        SK(scan_dev_fill(&P, batch, D, L, N, dt, v != fwd, fwd == SCAN_V1 ? SCAN_DEV_V1 : 0, 77));
        const timed t = {&P, v, PART_ALL};
        const double ms = time_ms(&t, reps, NULL);
        const double bytes = v != fwd ? scan_model_bwd_bytes(batch, D, L, N, 1, es)
                           : v == SCAN_V1 ? scan_model_v1_bytes(batch, D, L, N, 1, es)
                                          : scan_model_fwd_bytes(batch, D, L, N, 1, es);
        const double fl = floor_ms(v != fwd ? scan_model_bwd_bytes(batch, D, L, N, 1, es)
                                            : scan_model_fwd_bytes(batch, D, L, N, 1, es),
                                   scan_model_fwd_exps(batch, D, L, N, 1), bw, sfu);
        printf("    %8d %10.4f %10.4f %8.2f %9.0f\n", L, ms, fl, ms / fl, bytes / (ms * 1e-3) / 1e9);
        scan_dev_free(&P);
    }
    return ok ? 0 : 1;
}

/* ---- the sweep ---- */
/* The .dat columns; later additions go at the end, so the plots' column numbers (and
 * older result files) stay valid. bwd_over_fastest_fwd: the faster backward (fused or v6) over
 * the fastest of v4, v5 and v6 at the same L. */
enum { C_V1, C_V2, C_V3, C_V4, C_BWD_V1, C_BWD, C_FLOOR_F, C_FLOOR_B, C_V5, C_BWD_RATIO, C_V6,
       C_BWD6, NCOL };
static const char *col_name[NCOL] = {"v1", "v2", "v3", "v4", "bwd_v1", "bwd_fused",
                                     "floor_fwd", "floor_bwd", "v5", "bwd_over_fastest_fwd",
                                     "v6", "bwd_v6"};

int gpu_bench(const char *outdir, int batch, int D, int N, int lmin, int lmax)
{
    mkdir_p(outdir);
    char gpu[256], cpu[256], path[1024], tmp[1100];
    scan_gpu_name(gpu, sizeof gpu);
    machine_name(cpu, sizeof cpu);
    const double bw = gpu_copy_bandwidth((size_t)2 << 30);
    const double sfu = scan_measure_sfu_rate();
    printf("GPU: %s\nmeasured: device-to-device copy %.0f GB/s (read + write), "
           "ex2 %.2f Texp/s\n", gpu, bw / 1e9, sfu / 1e12);

    path_join(path, sizeof path, outdir, "bench_scan.csv");
    FILE *csv = atomic_fopen(path, tmp, sizeof tmp);
    fprintf(csv, "# GPU: %s; host: %s\n# copy_GBps %.1f; sfu_Texp_per_s %.3f; batch %d, D %d, "
                 "N %d; z, D skip, delta bias + softplus on\n",
            gpu, cpu, bw / 1e9, sfu / 1e12, batch, D, N);
    fprintf(csv, "dtype,kernel,L,ms_median,ms_min,model_bytes,GBps,floor_ms,time_over_floor\n");
    const int nL = lmax - lmin + 1;
    double *cols[2][NCOL + 1];
    for (int t = 0; t < 2; t++)
        for (int c = 0; c <= NCOL; c++) {
            cols[t][c] = xmalloc_f64((size_t)nL);
            for (int i = 0; i < nL; i++) cols[t][c][i] = NAN;
        }
    /* achieved GB/s of the fused kernels, for the bandwidth plot: v3 fp32, v4 fp32, v4
     * bf16, backward fp32, backward bf16, v5 fp32, v5 bf16, v6 fp32, v6 bf16 */
    double *bwcol[9];
    for (int c = 0; c < 9; c++) {
        bwcol[c] = xmalloc_f64((size_t)nL);
        for (int i = 0; i < nL; i++) bwcol[c][i] = NAN;
    }
    printf("\n%-6s %-9s %8s %10s %10s %8s\n", "dtype", "kernel", "L", "ms", "floor ms", "x floor");
    for (int t = 0; t < 2; t++) {
        const scan_dtype dt = t ? SCAN_BF16 : SCAN_F32;
        const size_t es = scan_dtype_size(dt);
        for (int li = 0; li < nL; li++) {
            const int L = 1 << (lmin + li);
            cols[t][NCOL][li] = L;
            const size_t need = (size_t)batch * D * L * es * 8 + (size_t)batch * N * L * 16;
            if (!fits(need)) {
                printf("%-6s L=%d: skipped, %.1f GB do not fit in GPU memory\n",
                       scan_dtype_name(dt), L, need / 1e9);
                continue;
            }
            scan_params probe = {.batch = batch, .D = D, .L = L, .N = N};
            const int v1 = dt == SCAN_F32 && fits(need + scan_v1_workspace_bytes(&probe));
            scan_dev P;
            SK(scan_dev_fill(&P, batch, D, L, N, dt, 1, v1 ? SCAN_DEV_V1 : 0, 1000 + li));
            const size_t work = (size_t)batch * D * L;
            const int reps = work > ((size_t)1 << 30) ? 5 : work > ((size_t)1 << 27) ? 9 : 21;
            const double fb = scan_model_fwd_bytes(batch, D, L, N, 1, es);
            const double bb = scan_model_bwd_bytes(batch, D, L, N, 1, es);
            const double ex = scan_model_fwd_exps(batch, D, L, N, 1);
            const double ff = floor_ms(fb, ex, bw, sfu), fbw = floor_ms(bb, ex, bw, sfu);
            cols[t][C_FLOOR_F][li] = ff;
            cols[t][C_FLOOR_B][li] = fbw;
            struct { int col; scan_version v; double bytes, fl; } ks[] = {
                {C_V1, SCAN_V1, scan_model_v1_bytes(batch, D, L, N, 1, es), ff},
                {C_V2, SCAN_V2, fb, ff},
                {C_V3, SCAN_V3, fb, ff},
                {C_V4, SCAN_V4, fb, ff},
                {C_V5, SCAN_V5, fb, ff},
                {C_V6, SCAN_V6, fb, ff},
                {C_BWD_V1, SCAN_BWD_V1, bb, fbw},
                {C_BWD, SCAN_BWD_FUSED, bb, fbw},
                {C_BWD6, SCAN_BWD_V6, bb, fbw}};
            for (size_t k = 0; k < sizeof ks / sizeof *ks; k++) {
                const int c = ks[k].col;
                const char *name = scan_version_name[ks[k].v];
                if ((c == C_V1 || c == C_BWD_V1) && !v1) continue;
                if ((c == C_V2 || c == C_V3) && dt != SCAN_F32) continue;
                if (!scan_version_takes(ks[k].v, N)) continue;
                double mn;
                const timed tk = {&P, ks[k].v, PART_ALL};
                const double ms = time_ms(&tk, reps, &mn);
                cols[t][c][li] = ms;
                const double gbps = ks[k].bytes / (ms * 1e-3) / 1e9;
                fprintf(csv, "%s,%s,%d,%.5f,%.5f,%.0f,%.1f,%.5f,%.3f\n", scan_dtype_name(dt),
                        name, L, ms, mn, ks[k].bytes, gbps, ks[k].fl, ms / ks[k].fl);
                printf("%-6s %-9s %8d %10.4f %10.4f %8.2f\n", scan_dtype_name(dt), name, L,
                       ms, ks[k].fl, ms / ks[k].fl);
                if (c == C_V3) bwcol[0][li] = gbps;
                if (c == C_V4) bwcol[t ? 2 : 1][li] = gbps;
                if (c == C_BWD) bwcol[t ? 4 : 3][li] = gbps;
                if (c == C_V5) bwcol[t ? 6 : 5][li] = gbps;
                if (c == C_V6) bwcol[t ? 8 : 7][li] = gbps;
            }
            /* fmin skips a forward that did not run (NaN) */
            const double fastest = fmin(fmin(cols[t][C_V4][li], cols[t][C_V5][li]), cols[t][C_V6][li]);
            /* the fastest backward over the fastest forward */
            cols[t][C_BWD_RATIO][li] = fmin(cols[t][C_BWD][li], cols[t][C_BWD6][li]) / fastest;
            printf("%-6s %-9s %8d   fastest backward / fastest forward (%s) = %.2f\n",
                   scan_dtype_name(dt), "ratio", L,
                   fastest == cols[t][C_V6][li]   ? "v6"
                   : fastest == cols[t][C_V5][li] ? "v5"
                                                  : "v4",
                   cols[t][C_BWD_RATIO][li]);
            scan_dev_free(&P);
            fflush(stdout);
        }
    }
    atomic_fclose(csv, tmp, path);

    /* .dat files and plots */
    for (int t = 0; t < 2; t++) {
        char name[64], hdr[256] = "L";
        snprintf(name, sizeof name, "bench_time_%s.dat", t ? "bf16" : "fp32");
        for (int c = 0; c < NCOL; c++) {
            strcat(hdr, " ");
            strcat(hdr, col_name[c]);
        }
        const double *cc[NCOL + 1] = {cols[t][NCOL]};
        for (int c = 0; c < NCOL; c++) cc[c + 1] = cols[t][c];
        path_join(path, sizeof path, outdir, name);
        dat_write(path, hdr, (size_t)nL, NCOL + 1, cc);
    }
    double *ceil_col = xmalloc_f64((size_t)nL);
    for (int i = 0; i < nL; i++) ceil_col[i] = bw / 1e9;
    const double *bc[11] = {cols[0][NCOL], bwcol[0], bwcol[1], bwcol[2], bwcol[3], bwcol[4],
                            ceil_col,      bwcol[5], bwcol[6], bwcol[7], bwcol[8]};
    path_join(path, sizeof path, outdir, "bench_bandwidth.dat");
    dat_write(path,
              "L v3_fp32 v4_fp32 v4_bf16 bwd_fp32 bwd_bf16 copy_ceiling v5_fp32 v5_bf16 v6_fp32 "
              "v6_bf16",
              (size_t)nL, 11, bc);
    plot_run(STAGE_DIR, "bench_time", outdir);
    plot_run(STAGE_DIR, "bench_time_bwd", outdir);
    plot_run(STAGE_DIR, "bench_bandwidth", outdir);

    /* peak GPU memory of forward + backward: v1 (materialized) against the fused kernel,
     * at L = 2048, measured as the device memory the allocations took */
    path_join(path, sizeof path, outdir, "bench_memory.csv");
    FILE *mem = atomic_fopen(path, tmp, sizeof tmp);
    fprintf(mem, "# GPU: %s; fp32, batch %d, D %d, N %d, forward + backward buffers\n", gpu,
            batch, D, N);
    fprintf(mem, "kernel,L,peak_bytes\n");
    printf("\npeak GPU memory of forward + backward (fp32, batch %d, D %d, N %d):\n", batch, D, N);
    for (int L = 1 << lmin; L <= (1 << (lmax < 15 ? lmax : 15)); L *= 2) {
        scan_params probe = {.batch = batch, .D = D, .L = L, .N = N};
        const size_t need = (size_t)batch * D * L * 4 * 8 + scan_v1_workspace_bytes(&probe);
        for (int withv1 = 1; withv1 >= 0; withv1--) {
            if (withv1 && !fits(need)) continue;
            if (!withv1 && !fits((size_t)batch * D * L * 4 * 8)) continue;
            size_t f0, f1, tot;
            CK(cudaDeviceSynchronize());
            CK(cudaMemGetInfo(&f0, &tot));
            scan_dev P;
            SK(scan_dev_fill(&P, batch, D, L, N, SCAN_F32, 1, withv1 ? SCAN_DEV_V1 : 0, 7));
            SK(scan_dev_run(&P, withv1 ? SCAN_V1 : SCAN_V4));
            SK(scan_dev_run(&P, withv1 ? SCAN_BWD_V1 : SCAN_BWD_FUSED));
            CK(cudaDeviceSynchronize());
            CK(cudaMemGetInfo(&f1, &tot));
            scan_dev_free(&P);
            fprintf(mem, "%s,%d,%zu\n", withv1 ? "v1" : "fused", L, f0 - f1);
            printf("  %-6s L=%-7d %8.2f GB\n", withv1 ? "v1" : "fused", L, (f0 - f1) / 1e9);
        }
    }
    atomic_fclose(mem, tmp, path);
    for (int t = 0; t < 2; t++)
        for (int c = 0; c <= NCOL; c++) free(cols[t][c]);
    for (int c = 0; c < 7; c++) free(bwcol[c]);
    free(ceil_col);
    return 0;
}
#else
/* Without CUDA this file is empty; ISO C wants at least one declaration. */
typedef int bench_c_needs_cuda;
#endif
