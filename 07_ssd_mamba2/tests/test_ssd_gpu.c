/* 07_ssd_mamba2/tests/test_ssd_gpu.c — the GPU chunked SSD (gpu/ssd_gpu.h) against the CPU
 * float64 forms (ssd.h), forward and backward.
 *
 *   against float64  v1 to v9, fp32 and bf16 inputs, on shapes drawn from a seed (L not a
 *                    multiple of Q, L = 1, several groups, Q ∈ {64, 128, 256}, with and
 *                    without D, h0, dh_last): y and h_last against ssd_scan_f64, every
 *                    gradient against ssd_backward_f64 (the reverse recurrence, a different
 *                    algorithm); every output poisoned with NaN first, so an element no
 *                    kernel wrote fails
 *   limits           shapes the kernels do not take return SSD_GPU_ESHAPE / ESMEM / EARGS
 *
 * Tolerances, as max|got − ref| / max|ref| per tensor (the inputs are rounded to the GPU's
 * dtype BEFORE the float64 reference sees them, so only the arithmetic differs):
 *   fp32 tiles (v1, either dtype): fp32 sums of ≤ Q + N + P terms and exponents that are
 *     differences of in-chunk running sums, |cs| ≤ Q·max|a| ≈ 256·1.6: an error of about
 *     400·6e-8 = 2.4e-5 in an exponent, ≈ 2e-5 relative. Bound 2e-4 forward, 1e-3 for the
 *     gradients (dΔ and dA are sums of ~L terms of both signs). With bf16 inputs y is STORED
 *     in bf16: one more rounding, ≤ 2^-9 ≈ 2e-3 of |y| (measured on the H200: 1.9e-3 and
 *     2.7e-3 max-relative), so y's bound is 4e-3 there; the fp32 gradients keep 1e-3.
 *   bf16 tiles (v2, v3, v4): every tile operand rounded to bf16 (relative 2^-9 ≈ 2e-3 each), the
 *     masked matrix E∘CB·Δ and the states included; a few such roundings per product:
 *     ≈ 5e-3 (measured 2e-3 to 5e-3). Bound 2e-2 forward. The gradients dΔ and dA are dot
 *     products C·B and dy·x of rounded factors that CANCEL (|Σ| ~ Σ|terms|/√N): at L = 1 with
 *     N = 16 dΔ measured 3.3e-2 max-relative over its two elements; bound 1e-1 for them, 5e-2
 *     for dx, dB, dC, dD, dh0. dA_h = Σ_k Δ_k da_k over the whole sequence cancels the most: at
 *     L = 1000 with h0 and dh_last (the second edge case) the float64 sum is ~600× smaller than its
 *     terms (v1's fp32 tiles: 3.8e-5 where their unit is 6e-8), so the bf16 tiles' 2^-9 become
 *     0.21 (v4–v10) and 0.23 (v2, v3), measured on the H200 in the third session's round M;
 *     bound 0.5 for dA with bf16 tiles. A missing term or a wrong index still gives O(1) there,
 *     and dΔ, which carries A_h·da_k element by element, keeps 1e-1.
 * A wrong index or a missing term gives errors of order 1.
 * SSD_GPU_QUICK=1 runs two small shapes (for compute-sanitizer); SSD_GPU_VERSIONS=v4,v5 only
 * the versions named. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "07_ssd_mamba2/ssd.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "07_ssd_mamba2/gpu/ssd_gpu.h"

#define CU(call)                                                                         \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        ck_assert_msg(e_ == cudaSuccess, "%s: %s", #call, cudaGetErrorString(e_));       \
    } while (0)

typedef struct {
    int batch, L, H, P, G, N, Q, with_D, with_h0, with_dhl;
} gcase;

/* round a double to the nearest bf16 (to nearest, ties to even), kept as a double */
static double round_bf16(double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t bits_bf16(double v)
{
    float f = (float)round_bf16(v);
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* a host tensor in float64 up to the device in dtype dt (rounded first) */
static void *upload(double *h, size_t n, scan_dtype dt)
{
    void *d = NULL;
    const size_t es = dt == SCAN_F32 ? 4 : 2;
    CU(cudaMalloc(&d, n * es + 16));
    if (dt == SCAN_F32) {
        float *tmp = xmalloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) tmp[i] = (float)h[i], h[i] = tmp[i];
        CU(cudaMemcpy(d, tmp, n * 4, cudaMemcpyHostToDevice));
        free(tmp);
    } else {
        uint16_t *tmp = xmalloc(n * sizeof(uint16_t));
        for (size_t i = 0; i < n; i++) tmp[i] = bits_bf16(h[i]), h[i] = round_bf16(h[i]);
        CU(cudaMemcpy(d, tmp, n * 2, cudaMemcpyHostToDevice));
        free(tmp);
    }
    return d;
}
static float *poisoned(size_t n)
{
    float *d = NULL;
    CU(cudaMalloc((void **)&d, n * sizeof(float) + 16));
    CU(cudaMemset(d, 0xff, n * sizeof(float)));   /* 0xffffffff is a NaN */
    return d;
}
/* a device tensor back as float64 (fp32 or bf16) */
static double *download(const void *d, size_t n, scan_dtype dt)
{
    double *h = xmalloc_f64(n);
    if (dt == SCAN_F32) {
        float *tmp = xmalloc(n * sizeof(float));
        CU(cudaMemcpy(tmp, d, n * 4, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n; i++) h[i] = tmp[i];
        free(tmp);
    } else {
        uint16_t *tmp = xmalloc(n * sizeof(uint16_t));
        CU(cudaMemcpy(tmp, d, n * 2, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n; i++) {
            const uint32_t u = (uint32_t)tmp[i] << 16;
            float f;
            memcpy(&f, &u, 4);
            h[i] = f;
        }
        free(tmp);
    }
    return h;
}

/* max|got − ref| / max|ref| (common/util.h's rel_err); a non-finite element (a poisoned
 * output no kernel wrote) gives +inf */
static void check(const char *what, const char *tensor, const double *got, const double *ref, size_t n,
                  double bound)
{
    double e = rel_err(got, ref, n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(got[i])) e = INFINITY;
    printf("  %-34s %-6s rel err %.2e (bound %.0e)\n", what, tensor, e, bound);
    ck_assert_msg(e <= bound, "%s %s: relative error %.3e > %.1e", what, tensor, e, bound);
}

/* One case: random inputs (fixed seed), the float64 references, then each version on the
 * device; fp32 inputs with v1, bf16 with v1 and v2, fp32 with v2. */
/* SSD_GPU_VERSIONS=v4,v2 runs only the named versions (default: all) */
static int version_wanted(int v)
{
    const char *e = getenv("SSD_GPU_VERSIONS");
    if (!e || !*e) return 1;
    const char *name = ssd_gpu_version_name[v];
    const size_t n = strlen(name);
    for (const char *p = e; (p = strstr(p, name)) != NULL; p += n)
        if ((p == e || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

static void run_case(const gcase *c, uint64_t seed)
{
    const ssd_dims d = {c->batch, c->L, c->H, c->P, c->G, c->N};
    const size_t nx = (size_t)d.batch * d.L * d.H * d.P, nt = (size_t)d.batch * d.L * d.H,
                 nb = (size_t)d.batch * d.L * d.G * d.N, ns = (size_t)d.batch * d.H * d.P * d.N;
    for (int dt_i = 0; dt_i < 2; dt_i++) {
        const scan_dtype dty = dt_i ? SCAN_BF16 : SCAN_F32;
        rng_t r;
        rng_seed(&r, seed);
        double *x = xmalloc_f64(nx), *dt = xmalloc_f64(nt), *A = xmalloc_f64(d.H), *B = xmalloc_f64(nb),
               *C = xmalloc_f64(nb), *D = xmalloc_f64(d.H), *h0 = xmalloc_f64(ns), *dy = xmalloc_f64(nx),
               *dhl = xmalloc_f64(ns);
        rng_fill_normal(&r, x, nx, 0, 1);
        for (size_t i = 0; i < nt; i++) dt[i] = exp(rng_uniform_range(&r, log(1e-3), log(1e-1)));
        for (int h = 0; h < d.H; h++) A[h] = -rng_uniform_range(&r, 0.5, 16);
        rng_fill_normal(&r, B, nb, 0, 1);
        rng_fill_normal(&r, C, nb, 0, 1);
        rng_fill_normal(&r, D, d.H, 0, 1);
        rng_fill_normal(&r, h0, ns, 0, 1);
        rng_fill_normal(&r, dy, nx, 0, 1);
        rng_fill_normal(&r, dhl, ns, 0, 1);
        /* device copies (rounding the host values to what the device holds) */
        void *xd = upload(x, nx, dty), *Bd = upload(B, nb, dty), *Cd = upload(C, nb, dty),
             *dyd = upload(dy, nx, dty);
        float *dtd = upload(dt, nt, SCAN_F32), *Ad = upload(A, d.H, SCAN_F32), *Dd = upload(D, d.H, SCAN_F32),
              *h0d = upload(h0, ns, SCAN_F32), *dhld = upload(dhl, ns, SCAN_F32);
        /* the float64 references: the scan forward, the reverse-recurrence backward */
        const ssd_args_f64 a = {d, x, dt, A, B, C, c->with_D ? D : NULL, c->with_h0 ? h0 : NULL};
        double *y_ref = xmalloc_f64(nx), *hl_ref = xmalloc_f64(ns);
        ssd_scan_f64(&a, y_ref, hl_ref);
        double *gx = xcalloc(nx, 8), *gdt = xcalloc(nt, 8), *gA = xcalloc(d.H, 8), *gB = xcalloc(nb, 8),
               *gC = xcalloc(nb, 8), *gD = xcalloc(d.H, 8), *gh0 = xcalloc(ns, 8);
        ssd_grads_f64 gr = {gx, gdt, gA, gB, gC, c->with_D ? gD : NULL, c->with_h0 ? gh0 : NULL};
        ssd_backward_f64(&a, dy, c->with_dhl ? dhl : NULL, &gr);

        for (int v = 0; v < SSD_GPU_NVERSIONS; v++) {
            if (!version_wanted(v)) continue;
            const int fp32_tiles = v == SSD_GPU_V1;
            const double bf = fp32_tiles ? (dty == SCAN_BF16 ? 4e-3 : 2e-4) : 2e-2, bb = fp32_tiles ? 1e-3 : 5e-2;
            const double bcancel = fp32_tiles ? 1e-3 : 1e-1;   /* dΔ (see the top) */
            const double bdA = fp32_tiles ? 1e-3 : 0.5;          /* dA: the longest cancelling sum */
            ssd_gpu_params p = {d.batch, d.L, d.H, d.P, d.G, d.N, c->Q, dty, xd, Bd, Cd, dtd, Ad,
                                c->with_D ? Dd : NULL, c->with_h0 ? h0d : NULL};
            char what[160];
            snprintf(what, sizeof what, "%s %s b%d L%d H%d P%d G%d N%d Q%d%s%s%s", ssd_gpu_version_name[v],
                     dty == SCAN_F32 ? "fp32" : "bf16", d.batch, d.L, d.H, d.P, d.G, d.N, c->Q, c->with_D ? " D" : "",
                     c->with_h0 ? " h0" : "", c->with_dhl ? " dhL" : "");
            void *ws = NULL, *yd = NULL;
            CU(cudaMalloc(&ws, ssd_gpu_workspace_bytes(&p, 1)));
            CU(cudaMalloc(&yd, nx * 4));
            CU(cudaMemset(yd, 0xff, nx * 4));
            float *hld = poisoned(ns);
            int rc = ssd_gpu_forward((ssd_gpu_version)v, &p, yd, hld, ws);
            if (rc == SSD_GPU_ESMEM) {
                printf("  %-34s forward: %s (skipped)\n", what, ssd_gpu_strerror(rc));
            } else {
                ck_assert_msg(rc == 0, "%s forward: %s", what, ssd_gpu_strerror(rc));
                CU(cudaDeviceSynchronize());
                double *y = download(yd, nx, dty), *hl = download(hld, ns, SCAN_F32);
                check(what, "y", y, y_ref, nx, bf);
                check(what, "h_last", hl, hl_ref, ns, fp32_tiles ? 2e-4 : bf);   /* fp32 output */
                free(y);
                free(hl);
            }
            ssd_gpu_grads g = {poisoned(nx), poisoned(nt), poisoned(d.H), poisoned(nb), poisoned(nb),
                               c->with_D ? poisoned(d.H) : NULL, c->with_h0 ? poisoned(ns) : NULL};
            rc = ssd_gpu_backward((ssd_gpu_version)v, &p, dyd, c->with_dhl ? dhld : NULL, ws, &g);
            if (rc == SSD_GPU_ESMEM) {
                printf("  %-34s backward: %s (skipped)\n", what, ssd_gpu_strerror(rc));
            } else {
                ck_assert_msg(rc == 0, "%s backward: %s", what, ssd_gpu_strerror(rc));
                CU(cudaDeviceSynchronize());
                const struct { const char *n; float *dev; const double *ref; size_t len; } t[] = {
                    {"dx", g.dx, gx, nx}, {"ddt", g.ddt, gdt, nt}, {"dA", g.dA, gA, (size_t)d.H},
                    {"dB", g.dB, gB, nb}, {"dC", g.dC, gC, nb}, {"dD", g.dD, gD, (size_t)d.H},
                    {"dh0", g.dh0, gh0, ns}};
                for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
                    if (!t[k].dev) continue;
                    double *got = download(t[k].dev, t[k].len, SCAN_F32);
                    check(what, t[k].n, got, t[k].ref, t[k].len, k == 1 ? bcancel : k == 2 ? bdA : bb);
                    free(got);
                }
            }
            float *gp[] = {g.dx, g.ddt, g.dA, g.dB, g.dC, g.dD, g.dh0};
            for (size_t k = 0; k < 7; k++) CU(cudaFree(gp[k]));
            CU(cudaFree(hld));
            CU(cudaFree(yd));
            CU(cudaFree(ws));
        }
        void *dev[] = {xd, Bd, Cd, dyd, dtd, Ad, Dd, h0d, dhld};
        for (size_t k = 0; k < 9; k++) CU(cudaFree(dev[k]));
        double *host[] = {x, dt, A, B, C, D, h0, dy, dhl, y_ref, hl_ref, gx, gdt, gA, gB, gC, gD, gh0};
        for (size_t k = 0; k < sizeof host / sizeof host[0]; k++) free(host[k]);
    }
}

static int quick(void)
{
    const char *q = getenv("SSD_GPU_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* fixed edge shapes: L = 1; L not a multiple of Q with h0, D and dh_last; G > 1; L = 1000 and
 * 1500, where v9 and v10 cut their walks into segments of several chunks (so a segment past
 * the first holds more than one chunk state to complete): on a GPU that runs ≥ 4 walk blocks
 * at once 4 segments of 4 chunks (Q = 64) and 6 of 2 (Q = 128, the last tile short). The
 * quick set (compute-sanitizer) is L = 1 and L = 1000. Each case keeps the seed it ran with
 * first (so the measurements quoted above stay those of these inputs) */
START_TEST(gpu_edges)
{
    const gcase cs[] = {
        {1, 1, 2, 16, 1, 16, 64, 1, 0, 0},
        {1, 1000, 2, 64, 1, 64, 64, 1, 1, 1},
        {2, 200, 4, 32, 2, 32, 64, 1, 1, 1},
        {1, 333, 6, 64, 3, 64, 128, 0, 1, 1},
        {1, 1500, 2, 32, 1, 32, 128, 0, 1, 1},
    };
    const uint64_t seed[] = {700, 701, 701, 702, 704};
    const int n = quick() ? 2 : 5;
    for (int i = 0; i < n; i++) run_case(&cs[i], seed[i]);
}
END_TEST

/* shapes drawn from a seed: no test names them in advance */
START_TEST(gpu_random_shapes)
{
    if (quick()) return;
    rng_t r;
    rng_seed(&r, 0x55d2);
    const int Ps[] = {16, 32, 64}, Qs[] = {64, 128, 256};
    for (int k = 0; k < 4; k++) {
        gcase c;
        c.G = 1 + (int)rng_below(&r, 3);
        c.H = c.G * (1 + (int)rng_below(&r, 3));
        c.batch = 1 + (int)rng_below(&r, 2);
        c.P = Ps[rng_below(&r, 3)];
        c.N = 16 * (1 + (int)rng_below(&r, 8));
        c.Q = Qs[rng_below(&r, 3)];
        c.L = 1 + (int)rng_below(&r, 900);
        c.with_D = (int)rng_below(&r, 2);
        c.with_h0 = (int)rng_below(&r, 2);
        c.with_dhl = (int)rng_below(&r, 2);
        run_case(&c, 900 + k);
    }
    /* the largest state the issue benchmarks, N = 256 (v1's backward tiles do not fit) */
    const gcase big = {1, 517, 2, 64, 1, 256, 256, 1, 0, 1};
    run_case(&big, 999);
}
END_TEST

START_TEST(gpu_limits)
{
    float dummy = 0;
    ssd_gpu_params p = {1, 100, 4, 64, 2, 64, 64, SCAN_BF16, &dummy, &dummy, &dummy, &dummy, &dummy, NULL, NULL};
    ck_assert_int_eq(ssd_gpu_check(&p), SSD_GPU_OK);
    p.Q = 48;
    ck_assert_int_eq(ssd_gpu_check(&p), SSD_GPU_ESHAPE);
    p.Q = 64, p.P = 24;
    ck_assert_int_eq(ssd_gpu_check(&p), SSD_GPU_ESHAPE);
    p.P = 64, p.N = 272;
    ck_assert_int_eq(ssd_gpu_check(&p), SSD_GPU_ESHAPE);
    p.N = 64, p.G = 3;
    ck_assert_int_eq(ssd_gpu_check(&p), SSD_GPU_EARGS);
    p.G = 2, p.x = NULL;
    ck_assert_int_eq(ssd_gpu_check(&p), SSD_GPU_EARGS);
    ck_assert_int_eq(ssd_gpu_forward(SSD_GPU_V2, &p, &dummy, NULL, &dummy), SSD_GPU_EARGS);
    p.x = &dummy, p.dtype = SCAN_F16;
    ck_assert_int_eq(ssd_gpu_check(&p), SSD_GPU_EDTYPE);
    ck_assert_str_eq(ssd_gpu_strerror(SSD_GPU_ESMEM),
                     "the tiles need more shared memory than the device has (a smaller N or P, or v2)");
}
END_TEST

static Suite *gpu_suite(void)
{
    Suite *s = suite_create("ssd_gpu");
    TCase *tc = tcase_create("gpu");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, gpu_limits);
    tcase_add_test(tc, gpu_edges);
    tcase_add_test(tc, gpu_random_shapes);
    suite_add_tcase(s, tc);
    return s;
}
#endif

/* --gpu: no GPU is a failure (make test skips with the reason) */
int main(int argc, char **argv)
{
    const int required = argc > 1 && strcmp(argv[1], "--gpu") == 0;
    return TH_GPU_SUITE("07_ssd_mamba2 GPU suite", required, scan_gpu_available, scan_gpu_name, gpu_suite);
}
