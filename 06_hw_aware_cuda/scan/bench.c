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

#include "06_hw_aware_cuda/scan/scan_gpu.h"
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

static void *dmalloc(size_t bytes)
{
    void *p = NULL;
    CK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

static void *up(const float *h, size_t n)
{
    if (!h) return NULL;
    void *d = dmalloc(n * sizeof(float));
    CK(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

static void down(float *h, const void *d, size_t n)
{
    if (h && d) CK(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
}

int gpu_scan_host(const host_scan *h, host_scan_out *o)
{
    const size_t nx = (size_t)h->batch * h->D * h->L, nbc = (size_t)h->batch * h->N * h->L;
    const size_t nh = (size_t)h->batch * h->D * h->N, nA = (size_t)h->D * h->N;
    scan_params p = {.batch = h->batch, .D = h->D, .L = h->L, .N = h->N, .dtype = SCAN_F32,
                     .u = up(h->u, nx), .delta = up(h->delta, nx), .A = up(h->A, nA),
                     .B = up(h->B, nbc), .C = up(h->C, nbc), .Dskip = up(h->Dskip, h->D),
                     .z = up(h->z, nx), .delta_bias = up(h->delta_bias, h->D),
                     .delta_softplus = h->delta_softplus, .h0 = up(h->h0, nh)};
    void *out = dmalloc(nx * 4);
    float *hl = dmalloc(nh * 4);
    float *cs = dmalloc((size_t)h->batch * h->D * scan_nchunks(h->L) * h->N * 4);
    int rc = scan_v4_forward(&p, out, hl, cs);
    void *dout = up(h->dout, nx), *dhl = up(h->dh_last, nh);
    scan_grads g = {.du = dmalloc(nx * 4), .ddelta = dmalloc(nx * 4),
                    .dz = h->z ? dmalloc(nx * 4) : NULL, .dA = dmalloc(nA * 4),
                    .dB = dmalloc(nbc * 4), .dC = dmalloc(nbc * 4),
                    .dDskip = h->Dskip ? dmalloc(h->D * 4) : NULL,
                    .ddelta_bias = h->delta_bias ? dmalloc(h->D * 4) : NULL,
                    .dh0 = h->h0 ? dmalloc(nh * 4) : NULL};
    if (!rc && dout) rc = scan_fused_backward(&p, dout, dhl, cs, &g);
    if (!rc && cudaDeviceSynchronize() != cudaSuccess) rc = SCAN_ECUDA;
    if (!rc) {
        down(o->out, out, nx), down(o->h_last, hl, nh);
        down(o->du, g.du, nx), down(o->ddelta, g.ddelta, nx), down(o->dz, g.dz, nx);
        down(o->dA, g.dA, nA), down(o->dB, g.dB, nbc), down(o->dC, g.dC, nbc);
        down(o->dDskip, g.dDskip, h->D), down(o->ddelta_bias, g.ddelta_bias, h->D);
        down(o->dh0, g.dh0, nh);
    }
    const void *all[] = {p.u, p.delta, p.A, p.B, p.C, p.Dskip, p.z, p.delta_bias, p.h0, out, hl,
                         cs, dout, dhl, g.du, g.ddelta, g.dz, g.dA, g.dB, g.dC, g.dDskip,
                         g.ddelta_bias, g.dh0};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) CK(cudaFree((void *)all[i]));
    return rc;
}

/* ---- timing ---- */
static int cmp_f(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef int (*scan_call)(void *ctx);

/* Median time (ms) of reps calls of f, one warm-up first; pre (may be NULL) runs before
 * each call outside the timed region. */
static double time_ms(scan_call f, scan_call pre, void *ctx, int reps, double *min_ms)
{
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    if (pre) SK(pre(ctx));
    SK(f(ctx));
    CK(cudaDeviceSynchronize());
    float *t = xmalloc_f32((size_t)reps);
    for (int r = 0; r < reps; r++) {
        if (pre) SK(pre(ctx));
        CK(cudaEventRecord(e0, 0));
        SK(f(ctx));
        CK(cudaEventRecord(e1, 0));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&t[r], e0, e1));
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_f);
    const double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    if (min_ms) *min_ms = t[0];
    free(t);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return med;
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

/* ---- one problem on the device ---- */
typedef struct {
    scan_params p;
    void *out, *ws, *dout;
    float *hl, *cs, *ws6;   /* ws6: the v6 backward's checkpoints */
    scan_grads g;
    size_t nx, nbc;
} dev_problem;

static void dev_problem_make(dev_problem *P, int batch, int D, int L, int N, scan_dtype dt,
                             int with_grads, int with_v1, unsigned long long seed)
{
    memset(P, 0, sizeof *P);
    const size_t es = scan_dtype_size(dt);
    P->nx = (size_t)batch * D * L, P->nbc = (size_t)batch * N * L;
    const size_t nh = (size_t)batch * D * N;
    void *u = dmalloc(P->nx * es), *de = dmalloc(P->nx * es), *z = dmalloc(P->nx * es);
    void *B = dmalloc(P->nbc * es), *C = dmalloc(P->nbc * es);
    float *A = dmalloc((size_t)D * N * 4), *Ds = dmalloc((size_t)D * 4), *bi = dmalloc((size_t)D * 4);
    /* the realistic setting of the issue: z, D, Δ bias + softplus all on; random inputs */
    SK(scan_fill_uniform(u, dt, P->nx, seed + 1, -1.f, 1.f));
    SK(scan_fill_uniform(de, dt, P->nx, seed + 2, -1.f, 1.f));
    SK(scan_fill_uniform(z, dt, P->nx, seed + 3, -2.f, 2.f));
    SK(scan_fill_uniform(B, dt, P->nbc, seed + 4, -1.f, 1.f));
    SK(scan_fill_uniform(C, dt, P->nbc, seed + 5, -1.f, 1.f));
    SK(scan_fill_uniform(A, SCAN_F32, (size_t)D * N, seed + 6, -8.f, -0.5f));
    SK(scan_fill_uniform(Ds, SCAN_F32, (size_t)D, seed + 7, -1.f, 1.f));
    SK(scan_fill_uniform(bi, SCAN_F32, (size_t)D, seed + 8, -6.f, -2.f));   /* Δ ≈ 0.002..0.13 */
    P->p = (scan_params){.batch = batch, .D = D, .L = L, .N = N, .dtype = dt, .u = u,
                         .delta = de, .A = A, .B = B, .C = C, .Dskip = Ds, .z = z,
                         .delta_bias = bi, .delta_softplus = 1, .h0 = NULL};
    P->out = dmalloc(P->nx * es);
    P->hl = dmalloc(nh * 4);
    P->cs = dmalloc((size_t)batch * D * scan_nchunks(L) * N * 4);
    if (with_grads) {
        P->dout = dmalloc(P->nx * es);
        SK(scan_fill_uniform(P->dout, dt, P->nx, seed + 9, -1.f, 1.f));
        P->g = (scan_grads){.du = dmalloc(P->nx * es), .ddelta = dmalloc(P->nx * es),
                            .dz = dmalloc(P->nx * es), .dA = dmalloc((size_t)D * N * 4),
                            .dB = dmalloc(P->nbc * 4), .dC = dmalloc(P->nbc * 4),
                            .dDskip = dmalloc((size_t)D * 4), .ddelta_bias = dmalloc((size_t)D * 4)};
        P->ws6 = dmalloc(scan_v6_backward_workspace_bytes(&P->p));
    }
    if (with_v1) P->ws = dmalloc(scan_v1_workspace_bytes(&P->p));
    CK(cudaDeviceSynchronize());
}

static void dev_problem_free(dev_problem *P)
{
    const void *all[] = {P->p.u, P->p.delta, P->p.z, P->p.B, P->p.C, P->p.A, P->p.Dskip,
                         P->p.delta_bias, P->out, P->hl, P->cs, P->dout, P->ws, P->ws6, P->g.du,
                         P->g.ddelta, P->g.dz, P->g.dA, P->g.dB, P->g.dC, P->g.dDskip,
                         P->g.ddelta_bias};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) CK(cudaFree((void *)all[i]));
}

static int call_v1(void *c) { dev_problem *P = c; return scan_v1_forward(&P->p, P->out, P->hl, P->ws); }
static int call_v2(void *c) { dev_problem *P = c; return scan_v2_forward(&P->p, P->out, P->hl); }
static int call_v3(void *c) { dev_problem *P = c; return scan_v3_forward(&P->p, P->out, P->hl, P->cs); }
static int call_v4(void *c) { dev_problem *P = c; return scan_v4_forward(&P->p, P->out, P->hl, P->cs); }
static int call_v5(void *c) { dev_problem *P = c; return scan_v5_forward(&P->p, P->out, P->hl, P->cs); }
static int call_v6(void *c) { dev_problem *P = c; return scan_v6_forward(&P->p, P->out, P->hl, P->cs); }
static int call_bwd(void *c)
{
    dev_problem *P = c;
    return scan_fused_backward(&P->p, P->dout, NULL, P->cs, &P->g);
}
static int call_bwd6(void *c)
{
    dev_problem *P = c;
    return scan_v6_backward(&P->p, P->dout, NULL, P->cs, P->ws6, &P->g);
}
/* The backward with parts left out, to see what each costs: without dB and dC (their
 * atomics), and without the z gate (no recompute pass for ỹ). */
static int call_bwd_no_dBdC(void *c)
{
    dev_problem *P = c;
    scan_grads g = P->g;
    g.dB = g.dC = NULL;
    return scan_fused_backward(&P->p, P->dout, NULL, P->cs, &g);
}
static int call_bwd_no_z(void *c)
{
    dev_problem *P = c;
    scan_params p = P->p;
    p.z = NULL;
    return scan_fused_backward(&p, P->dout, NULL, P->cs, &P->g);
}
static int call_v1_bwd(void *c)
{
    dev_problem *P = c;
    return scan_v1_backward(&P->p, P->dout, NULL, P->ws, &P->g);
}
/* The versions that keep a channel's states in lanes or registers take N a power of two. */
static int needs_pow2_N(scan_call f)
{
    return f == call_v2 || f == call_v5 || f == call_v6 || f == call_bwd6;
}

/* Max relative difference of a device fp32/bf16 output against a host float reference. */
static double diff_vs(const dev_problem *P, const float *ref)
{
    float *tmp = dmalloc(P->nx * 4), *h = xmalloc_f32(P->nx);
    SK(scan_convert(P->out, P->p.dtype, tmp, SCAN_F32, P->nx));
    CK(cudaMemcpy(h, tmp, P->nx * 4, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (size_t i = 0; i < P->nx; i++) {
        num = fmax(num, fabs((double)h[i] - ref[i]));
        den = fmax(den, fabs((double)ref[i]));
    }
    CK(cudaFree(tmp));
    free(h);
    return den > 0 ? num / den : num;
}

static float *download_out(const dev_problem *P)
{
    float *tmp = dmalloc(P->nx * 4), *h = xmalloc_f32(P->nx);
    SK(scan_convert(P->out, P->p.dtype, tmp, SCAN_F32, P->nx));
    CK(cudaMemcpy(h, tmp, P->nx * 4, cudaMemcpyDeviceToHost));
    CK(cudaFree(tmp));
    return h;
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
    const double fb32 = scan_model_fwd_bytes(batch, D, L, N, 1, 4);
    const double fb16 = scan_model_fwd_bytes(batch, D, L, N, 1, 2);
    const double ex = scan_model_fwd_exps(batch, D, L, N, 1);
    scan_params probe = {.batch = batch, .D = D, .L = L, .N = N};
    const size_t v1ws = scan_v1_workspace_bytes(&probe);
    const size_t need = (size_t)batch * D * L * 4 * 9 + (size_t)batch * N * L * 4 * 4;
    dev_problem P;
    dev_problem_make(&P, batch, D, L, N, SCAN_F32, 1, fits(need + v1ws), 42);
    SK(call_v3(&P));
    CK(cudaDeviceSynchronize());
    float *ref = download_out(&P);
    /* the backward runs from v4's chunk states (v5 and v6 save the same ones) */
    struct { const char *name; scan_call f, pre; int kind; } vs[] = {
        {"v1 unfused", call_v1, NULL, VT_FWD}, {"v2 fused sequential", call_v2, NULL, VT_FWD},
        {"v3 fused chunked", call_v3, NULL, VT_FWD}, {"v4 tuned fp32", call_v4, NULL, VT_FWD},
        {"v5 per state fp32", call_v5, NULL, VT_FWD}, {"v6 state tiles fp32", call_v6, NULL, VT_FWD},
        {"backward fused fp32", call_bwd, call_v4, VT_BWD},
        {"  … without dB, dC", call_bwd_no_dBdC, call_v4, VT_BWD_PART},
        {"  … without z (1 pass)", call_bwd_no_z, call_v4, VT_BWD_PART},
        {"backward v6 fp32", call_bwd6, call_v6, VT_BWD}};
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) {
        version_time *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->name = vs[i].name;
        r->kind = vs[i].kind;
        if (vs[i].f == call_v1 && !P.ws) continue;   /* does not fit: ran = 0 */
        if (needs_pow2_N(vs[i].f) && (N & (N - 1))) continue;
        r->ms = time_ms(vs[i].f, vs[i].pre, &P, reps, NULL);
        r->ran = 1;
        const int bwd = vs[i].pre != NULL;
        const double bytes = bwd ? scan_model_bwd_bytes(batch, D, L, N, 1, 4) : fb32;
        r->floor_ms = floor_ms(bytes, ex, bw, sfu);
        r->gbps = bytes / (r->ms * 1e-3) / 1e9;
        r->max_rel_diff = bwd ? NAN : diff_vs(&P, ref);
        if (vs[i].f == call_v1) r->gbps = scan_model_v1_bytes(batch, D, L, N, 1, 4) / (r->ms * 1e-3) / 1e9;
    }
    dev_problem_free(&P);
    /* bf16: v4, v5, v6 and the fused backward */
    dev_problem Q;
    dev_problem_make(&Q, batch, D, L, N, SCAN_BF16, 1, 0, 42);
    struct { const char *name; scan_call f, pre; int kind; } bs[] = {
        {"v4 tuned bf16", call_v4, NULL, VT_FWD}, {"v5 per state bf16", call_v5, NULL, VT_FWD},
        {"v6 state tiles bf16", call_v6, NULL, VT_FWD},
        {"backward fused bf16", call_bwd, call_v4, VT_BWD},
        {"backward v6 bf16", call_bwd6, call_v6, VT_BWD}};
    for (size_t i = 0; i < sizeof bs / sizeof *bs; i++) {
        version_time *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->name = bs[i].name;
        r->kind = bs[i].kind;
        r->bf16 = 1;
        if (needs_pow2_N(bs[i].f) && (N & (N - 1))) continue;
        r->ms = time_ms(bs[i].f, bs[i].pre, &Q, reps, NULL);
        r->ran = 1;
        const double bytes = bs[i].pre ? scan_model_bwd_bytes(batch, D, L, N, 1, 2) : fb16;
        r->floor_ms = floor_ms(bytes, ex, bw, sfu);
        r->gbps = bytes / (r->ms * 1e-3) / 1e9;
        r->max_rel_diff = NAN;
    }
    dev_problem_free(&Q);
    free(ref);
    return n;
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
            dev_problem P;
            dev_problem_make(&P, batch, D, L, N, dt, 1, v1, 1000 + li);
            const size_t work = (size_t)batch * D * L;
            const int reps = work > ((size_t)1 << 30) ? 5 : work > ((size_t)1 << 27) ? 9 : 21;
            const double fb = scan_model_fwd_bytes(batch, D, L, N, 1, es);
            const double bb = scan_model_bwd_bytes(batch, D, L, N, 1, es);
            const double ex = scan_model_fwd_exps(batch, D, L, N, 1);
            const double ff = floor_ms(fb, ex, bw, sfu), fbw = floor_ms(bb, ex, bw, sfu);
            cols[t][C_FLOOR_F][li] = ff;
            cols[t][C_FLOOR_B][li] = fbw;
            struct { int col; const char *name; scan_call f, pre; double bytes, fl; } ks[] = {
                {C_V1, "v1", call_v1, NULL, scan_model_v1_bytes(batch, D, L, N, 1, es), ff},
                {C_V2, "v2", call_v2, NULL, fb, ff},
                {C_V3, "v3", call_v3, NULL, fb, ff},
                {C_V4, "v4", call_v4, NULL, fb, ff},
                {C_V5, "v5", call_v5, NULL, fb, ff},
                {C_V6, "v6", call_v6, NULL, fb, ff},
                {C_BWD_V1, "bwd_v1", call_v1_bwd, call_v1, bb, fbw},
                {C_BWD, "bwd_fused", call_bwd, call_v4, bb, fbw},
                {C_BWD6, "bwd_v6", call_bwd6, call_v6, bb, fbw}};
            for (size_t k = 0; k < sizeof ks / sizeof *ks; k++) {
                const int c = ks[k].col;
                if ((c == C_V1 || c == C_BWD_V1) && !v1) continue;
                if ((c == C_V2 || c == C_V3) && dt != SCAN_F32) continue;
                if (needs_pow2_N(ks[k].f) && (N & (N - 1))) continue;
                double mn;
                const double ms = time_ms(ks[k].f, ks[k].pre, &P, reps, &mn);
                cols[t][c][li] = ms;
                const double gbps = ks[k].bytes / (ms * 1e-3) / 1e9;
                fprintf(csv, "%s,%s,%d,%.5f,%.5f,%.0f,%.1f,%.5f,%.3f\n", scan_dtype_name(dt),
                        ks[k].name, L, ms, mn, ks[k].bytes, gbps, ks[k].fl, ms / ks[k].fl);
                printf("%-6s %-9s %8d %10.4f %10.4f %8.2f\n", scan_dtype_name(dt), ks[k].name, L,
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
            dev_problem_free(&P);
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
            dev_problem P;
            dev_problem_make(&P, batch, D, L, N, SCAN_F32, 1, withv1, 7);
            if (withv1) {
                SK(call_v1(&P));
                SK(call_v1_bwd(&P));
            } else {
                SK(call_v4(&P));
                SK(call_bwd(&P));
            }
            CK(cudaDeviceSynchronize());
            CK(cudaMemGetInfo(&f1, &tot));
            dev_problem_free(&P);
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
