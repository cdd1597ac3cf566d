/* tests/s6_prob.h — a random scan problem shared by the scan tests (float and double
 * builds): fresh values from a fixed seed, in the ranges a Mamba layer sees. */
#ifndef S6_PROB_H
#define S6_PROB_H

#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/s6.h"
#include "common/rng.h"

/* A random scan problem, stored in float (what the scan gets) and in double (the
 * reference's copy of the same float values). */
typedef struct {
    s6_args a;
    int batch, D, L, N;
    real *u, *delta, *A, *B, *C, *Dskip, *z, *bias, *h0;
} prob;

static real *rnd(rng_t *r, size_t n, double lo, double hi)
{
    real *x = malloc(n * sizeof(real));
    for (size_t i = 0; i < n; i++) x[i] = (real)rng_uniform_range(r, lo, hi);
    return x;
}

static void prob_make(prob *p, uint64_t seed, int batch, int D, int L, int N, int varying,
                      int with_opt)
{
    rng_t r;
    rng_seed(&r, seed);
    memset(p, 0, sizeof *p);
    p->batch = batch; p->D = D; p->L = L; p->N = N;
    size_t nx = (size_t)batch * D * L, nbc = varying ? (size_t)batch * N * L : (size_t)D * N;
    p->u = rnd(&r, nx, -1, 1);
    p->delta = rnd(&r, nx, -3, 0);      /* softplus(−3..0 − 1..1) ≈ 0.02..1: typical Δ */
    p->A = rnd(&r, (size_t)D * N, -2, -0.05);
    p->B = rnd(&r, nbc, -1, 1);
    p->C = rnd(&r, nbc, -1, 1);
    if (with_opt) {
        p->Dskip = rnd(&r, D, -1, 1);
        p->z = rnd(&r, nx, -2, 2);
        p->bias = rnd(&r, D, -1, 1);
        p->h0 = rnd(&r, (size_t)batch * D * N, -1, 1);
    }
    p->a = (s6_args){.batch = batch, .D = D, .L = L, .N = N, .u = p->u, .delta = p->delta,
                     .A = p->A, .B = p->B, .C = p->C, .B_varying = varying,
                     .C_varying = varying, .Dskip = p->Dskip, .z = p->z,
                     .delta_bias = p->bias, .delta_softplus = 1, .h0 = p->h0};
}

static void prob_free(prob *p)
{
    free(p->u); free(p->delta); free(p->A); free(p->B); free(p->C);
    free(p->Dskip); free(p->z); free(p->bias); free(p->h0);
}

#endif
