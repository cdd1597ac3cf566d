/* 03_recurrent_conv/systems.h — the random systems of the lesson program and of its
 * golden vectors: a diagonal system (S4D-like, complex) and a dense one (stage 01's
 * random stable A), both discretized by stage 02's ZOH. */
#ifndef RECCONV_SYSTEMS_H
#define RECCONV_SYSTEMS_H

#include <complex.h>
#include <stdint.h>

#include "common/rng.h"

/* A diagonal system: complex Ā, B̄, C (N each) and D. */
typedef struct {
    int N;
    double complex *Abar, *Bbar, *C;
    double D;
} diag_sys;

/* A dense system: Ā, B̄, C (N×N, N, N) and D. */
typedef struct { int N; double *Abar, *Bbar, *C, D; } dense_sys;

/* Continuous a_n = −r_n + i w_n, r_n uniform in [rlo, rhi], w_n uniform in
 * [−wmax, wmax], b_n, c_n complex normal (c_n / √N), D = 0.5, then ZOH at step dt. */
diag_sys diag_random(rng_t *r, int N, double rlo, double rhi, double wmax, double dt);
void diag_free(diag_sys *s);
/* The real dense twin (2N states) of a diagonal system under (3.5). */
dense_sys dense_from_diag(const diag_sys *d);
/* Stage 01's random stable system of size N (its seed), discretized by ZOH at dt. */
dense_sys dense_random_stable(int N, uint64_t seed, double dt);
void dense_free(dense_sys *s);

#endif
