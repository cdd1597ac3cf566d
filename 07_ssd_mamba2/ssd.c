/* 07_ssd_mamba2/ssd.c — the SSD layer: the forms of ssd.h in float64 and float32.
 * The bodies are written once in ssd_forms.h and instantiated here for both types.
 * The chunked form's products are BLAS calls (OpenBLAS): that the chunked algorithm is
 * made of matrix products is the point of §7.4. */
#include "07_ssd_mamba2/ssd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include <tgmath.h>

#include "common/util.h"

void ssd_check_dims(const ssd_dims *d)
{
    const int v[6] = {d->batch, d->L, d->H, d->P, d->G, d->N};
    const char *nm[6] = {"batch", "L", "H", "P", "G", "N"};
    for (int i = 0; i < 6; i++)
        if (v[i] < 1 || v[i] > (1 << 24)) die(2, "ssd: %s must be in [1, 2^24], got %d", nm[i], v[i]);
    if (d->H % d->G) die(2, "ssd: heads H = %d must be a multiple of groups G = %d", d->H, d->G);
}

/* Per (sequence, head), counting a multiply-add as 2 flops:
 *   scan       L·5NP                (state update 3NP, output 2NP)
 *   quadratic  L(L+1)/2 · (2N + 2P + 2)   (C_tᵀB_s, M x, mask and Δ)
 *   chunked    Σ_c n_c(n_c+1)/2 · (2N + 2P + 2)  (diagonal blocks)
 *              + L·3NP (chunk states) + nchunks·2NP (passing) + L·2NP (state to output) */
double ssd_flops(const ssd_dims *d, int form, int Q)
{
    const double L = d->L, N = d->N, P = d->P, per = 2 * N + 2 * P + 2;
    double f;
    if (form == 0) f = L * 5 * N * P;
    else if (form == 1) f = L * (L + 1) / 2 * per;
    else {
        const int nc = ssd_nchunks(d->L, Q);
        f = 0;
        for (int c = 0; c < nc; c++) {
            const double n = d->L - c * Q < Q ? d->L - c * Q : Q;
            f += n * (n + 1) / 2 * per;
        }
        f += L * 3 * N * P + nc * 2 * N * P + L * 2 * N * P;
    }
    return f * d->batch * d->H;
}

/* Bytes (float64) at the least: inputs x, Δ, B, C and output y once, plus what each form
 * materializes and reads back: the quadratic form its L × L matrix per head; the chunked
 * form a Q × Q block per chunk and head, and the chunk states (written, passed, read). */
double ssd_bytes(const ssd_dims *d, int form, int Q)
{
    const double L = d->L, H = d->H, P = d->P, G = d->G, N = d->N;
    double io = d->batch * L * (2 * H * P + H + 2 * G * N);
    if (form == 1) io += d->batch * H * 2 * L * L;
    else if (form == 2) {
        const double q = Q < d->L ? Q : d->L, nc = ssd_nchunks(d->L, Q);
        io += d->batch * H * nc * (2 * q * q + 3 * P * N);
    }
    return 8 * io;
}

#define T double
#define FN(name) name##_f64
#define GEMM cblas_dgemm
#define GEMV cblas_dgemv
#define GER cblas_dger
#define DOT cblas_ddot
#define SCAL cblas_dscal
#include "07_ssd_mamba2/ssd_forms.h"
#undef T
#undef FN
#undef GEMM
#undef GEMV
#undef GER
#undef DOT
#undef SCAL

#define T float
#define FN(name) name##_f32
#define GEMM cblas_sgemm
#define GEMV cblas_sgemv
#define GER cblas_sger
#define DOT cblas_sdot
#define SCAL cblas_sscal
#include "07_ssd_mamba2/ssd_forms.h"
#undef T
#undef FN
#undef GEMM
#undef GEMV
#undef GER
#undef DOT
#undef SCAL
