/* 06_hw_aware_cuda/scan/scan_gpu_host.c — the parts of the GPU scan's interface that need no
 * GPU: argument checks, error names, sizes, and the byte and exponential counts of the
 * floor model (6.1)–(6.3). Built on every machine, with or without CUDA. */
#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "06_hw_aware_cuda/scan/scan_model.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

const char *scan_strerror(int code)
{
    switch (code) {
    case SCAN_OK: return "ok";
    case SCAN_EARGS: return "bad arguments (a size below 1 or a required pointer NULL)";
    case SCAN_EDTYPE: return "this version does not take this dtype";
    case SCAN_EN: return "state size N not supported (v2, v5, v6: a power of two <= 64; others: 1..64)";
    case SCAN_ECUDA: return "a CUDA call or kernel launch failed";
    default: return "unknown error";
    }
}

size_t scan_dtype_size(scan_dtype t) { return t == SCAN_F32 ? 4 : 2; }

void scan_dtype_rounding(scan_dtype t, double *u, double *eta)
{
    /* p significant bits, smallest normal exponent emin: u = 2^-p, subnormal spacing
     * 2^(emin - p + 1), eta half of it. bf16: p 8, emin -126; fp16: p 11, emin -14. */
    *u = t == SCAN_BF16 ? 0x1p-8 : t == SCAN_F16 ? 0x1p-11 : 0;
    *eta = t == SCAN_BF16 ? 0x1p-134 : t == SCAN_F16 ? 0x1p-25 : 0;
}

const char *scan_dtype_name(scan_dtype t)
{
    return t == SCAN_F32 ? "fp32" : t == SCAN_BF16 ? "bf16" : t == SCAN_F16 ? "fp16" : "?";
}

int scan_nchunks(int L) { return (L + SCAN_CHUNK - 1) / SCAN_CHUNK; }

int scan_check_params(const scan_params *p)
{
    if (!p) return SCAN_EARGS;
    if (p->batch < 1 || p->D < 1 || p->L < 1 || p->N < 1) return SCAN_EARGS;
    if (p->N > SCAN_MAX_N) return SCAN_EN;
    if (p->dtype != SCAN_F32 && p->dtype != SCAN_BF16 && p->dtype != SCAN_F16)
        return SCAN_EDTYPE;
    /* the grid has one block per (batch, channel); element counts stay in size_t */
    if ((int64_t)p->batch * p->D > INT_MAX) return SCAN_EARGS;
    if (!p->u || !p->delta || !p->A || !p->B || !p->C) return SCAN_EARGS;
    return SCAN_OK;
}

size_t scan_v1_workspace_bytes(const scan_params *p)
{
    const size_t bdl = (size_t)p->batch * p->D * p->L;
    /* Ā and B̄u (the latter overwritten by h), batch·D·L·N floats each, + dy (batch·D·L)
     * for the backward */
    return (2 * bdl * (size_t)p->N + bdl) * sizeof(float);
}

/* (6.1) the fewest bytes the forward moves: u, Δ, z read, out written (batch·D·L each),
 * B and C read (batch·N·L each); A, D, bias, chunk states are O(D·N) and left out. */
double scan_model_fwd_bytes(int batch, int D, int L, int N, int with_z, size_t elem)
{
    const double bdl = (double)batch * D * L, bnl = (double)batch * N * L;
    return ((3.0 + (with_z ? 1.0 : 0.0)) * bdl + 2.0 * bnl) * (double)elem;
}

/* (6.1') the backward: u, Δ, z, dout read, du, dΔ, dz written; B, C read and dB, dC
 * written in float32 (they are sums over channels). */
double scan_model_bwd_bytes(int batch, int D, int L, int N, int with_z, size_t elem)
{
    const double bdl = (double)batch * D * L, bnl = (double)batch * N * L;
    return ((5.0 + (with_z ? 2.0 : 0.0)) * bdl) * (double)elem + 2.0 * bnl * (double)elem +
           2.0 * bnl * 4.0;
}

/* (6.2) what v1 moves: writes Ā and B̄u (4 bytes each per (b,d,l,n)), the scan reads
 * both and writes h, the contraction reads h: 6 passes over batch·D·L·N floats, plus the
 * fused version's own traffic. */
double scan_model_v1_bytes(int batch, int D, int L, int N, int with_z, size_t elem)
{
    const double bdln = (double)batch * D * L * N;
    return 6.0 * bdln * 4.0 + scan_model_fwd_bytes(batch, D, L, N, with_z, elem) +
           (double)batch * D * L * 4.0 /* the scan kernel re-reads u and Δ */;
}

/* (6.3) exponentials of the forward: Ā = e^{ΔA} for each (b, d, l, n), plus the softplus
 * and the SiLU gate once per (b, d, l). */
double scan_model_fwd_exps(int batch, int D, int L, int N, int with_z)
{
    const double bdl = (double)batch * D * L;
    return bdl * N + bdl * (1.0 + (with_z ? 1.0 : 0.0));
}

/* ---- the versions ---- */
const char *const scan_version_name[SCAN_NVERSIONS] = {"v1",     "v2",        "v3",     "v4",
                                                       "v5",     "v6",        "bwd_v1", "bwd_fused",
                                                       "bwd_v6", "v7",        "bwd_v7"};

int scan_version_find(const char *name)
{
    for (int v = 0; v < SCAN_NVERSIONS; v++)
        if (!strcmp(name, scan_version_name[v])) return v;
    return -1;
}

scan_version scan_version_forward(scan_version v)
{
    return v == SCAN_BWD_V1      ? SCAN_V1
           : v == SCAN_BWD_FUSED ? SCAN_V4
           : v == SCAN_BWD_V6    ? SCAN_V6
           : v == SCAN_BWD_V7    ? SCAN_V7
                                 : v;
}

int scan_version_takes(scan_version v, int N)
{
    const int pow2 = N >= 1 && N <= SCAN_MAX_N && !(N & (N - 1));
    return v == SCAN_V2 || v == SCAN_V5 || v == SCAN_V6 || v == SCAN_BWD_V6 || v == SCAN_V7 ||
                   v == SCAN_BWD_V7
               ? pow2
               : N >= 1 && N <= SCAN_MAX_N;
}
