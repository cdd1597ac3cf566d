/* 06_hw_aware_cuda/scan/scan_problem_dev.h — stage 05's scan problem (s6_problem.h) on the
 * device: its upload (inputs converted to the kernels' dtype, the host copy rounded to
 * what the device holds, so a CPU reference sees the same numbers), a device-filled one of
 * the same ranges for the benchmark's gigabyte sizes, the outputs' download, and running one
 * forward version and one backward on it. Host code over the CUDA runtime, used by the
 * lesson program (--check, --version), the benchmark and the tests. Every function returns
 * SCAN_OK or a SCAN_E* code (scan_gpu.h). Compiled only where the build has CUDA. */
#ifndef SCAN_PROBLEM_DEV_H
#define SCAN_PROBLEM_DEV_H

#include <stddef.h>
#include <stdint.h>

#include "05_selective_s6/s6_problem.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"

typedef struct {
    scan_params p;                      /* the inputs, on the device */
    void *dout;                         /* (batch, D, L) in p.dtype, NULL: no backward */
    float *dlast_state;                 /* (batch, D, N) or NULL */
    void *out;                          /* (batch, D, L) in p.dtype */
    float *last_state, *chunk_states;   /* (batch, D, N), (batch, D, nchunks, N) */
    scan_grads g;                       /* a gradient per input that exists, if dout */
    void *v1_ws;                        /* v1's workspace (SCAN_DEV_V1) */
    float *v6_ws;                       /* the v6 backward's checkpoints (with dout) */
    float *v7_ws, *v7_bwd_ws;           /* v7's workspaces, allocated at their first run */
    size_t nx, nbc, nh;                 /* batch·D·L, batch·N·L, batch·D·N */
} scan_dev;

enum { SCAN_DEV_V1 = 1 };   /* also allocate v1's workspace */

/* The device image of h in dtype dt, with output buffers; h's inputs are rounded in place to
 * the dtype's values. flags: SCAN_DEV_V1. */
int scan_dev_upload(scan_dev *d, s6_problem *h, scan_dtype dt, int flags);
/* A problem made on the device, for timing: the per-channel parameters (A, D, delta_bias) from
 * s6_problem_make (batch 1, L 1: the same draws), the large tensors uniform in the ranges of
 * S6_TENSORS; z, D, delta bias + softplus on, no h0; dout if with_grads. */
int scan_dev_fill(scan_dev *d, int batch, int D, int L, int N, scan_dtype dt, int with_grads,
                  int flags, uint64_t seed);
/* NaN into the output buffers (all-ones bits: NaN in fp32, bf16 and fp16), so that an
 * element a kernel fails to write cannot pass: every one, or (grads_only) the gradients,
 * leaving the state a forward left for its backward. */
int scan_dev_poison(scan_dev *d, int grads_only);
/* The device buffer of output t of S6_TENSORS (out … dh0) and its dtype (out, du, ddelta,
 * dz in the problem's dtype, the rest float32); NULL where d does not compute it. */
const void *scan_dev_output(const scan_dev *d, const s6_tensor *t, scan_dtype *dt);
/* n device values of dtype dt into host reals. */
int scan_download(const void *dev, scan_dtype dt, size_t n, real *host);
void scan_dev_free(scan_dev *d);

/* Run version v on d (a backward: from the chunk states or workspace its forward left). */
int scan_dev_run(scan_dev *d, scan_version v);

/* h's outputs from the GPU: forward `fwd`, then (if h has dout) backward `bwd`, in float32;
 * the host outputs are allocated as s6_problem_solve allocates them. */
int scan_dev_solve(s6_problem *h, scan_version fwd, scan_version bwd);

#endif
