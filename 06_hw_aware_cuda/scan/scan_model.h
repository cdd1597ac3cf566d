/* 06_hw_aware_cuda/scan/scan_model.h — the floor model of chapter 6: how many bytes and
 * exponentials each scan must at least cost, (6.1)–(6.3). Pure C, no GPU needed. */
#ifndef SCAN_MODEL_H
#define SCAN_MODEL_H

#include <stddef.h>

/* elem: bytes per element of u, Δ, z, B, C, out (4 for fp32, 2 for bf16/fp16). */
double scan_model_fwd_bytes(int batch, int D, int L, int N, int with_z, size_t elem);
double scan_model_bwd_bytes(int batch, int D, int L, int N, int with_z, size_t elem);
double scan_model_v1_bytes(int batch, int D, int L, int N, int with_z, size_t elem);
double scan_model_fwd_exps(int batch, int D, int L, int N, int with_z);

#endif
