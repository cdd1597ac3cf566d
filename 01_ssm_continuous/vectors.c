/* 01_ssm_continuous/vectors.c — golden vectors of stage 01 (see vectors.h): one function,
 * ssm_outputs, computes every output from the inputs, for --dump-vectors and --check. */
#include "01_ssm_continuous/vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define VEC_SEED 2026

typedef struct {
    double *A, *B, *C, *D, *t, *dt, *x, *h0;
} ssm_inputs;

/* Every input, in both directions: written when dumping, read (sizes bound) when checking. */
static void ssm_inputs_io(vec_set *v, ssm_inputs *in)
{
    vec_input(v, "A", ELEM_F64, "N N", &in->A, VEC_REQUIRED, "state matrix");
    vec_input(v, "B", ELEM_F64, "N 1|N", &in->B, VEC_OPTIONAL, "input matrix");
    vec_input(v, "C", ELEM_F64, "1 N|N", &in->C, VEC_OPTIONAL, "output matrix");
    vec_input(v, "D", ELEM_F64, "1 1|1", &in->D, VEC_OPTIONAL, "feed-through");
    vec_input(v, "t", ELEM_F64, "1", &in->t, VEC_OPTIONAL, "time for e^{At}");
    vec_input(v, "dt", ELEM_F64, "1", &in->dt, VEC_OPTIONAL, "sample spacing and RK4 step, > 0");
    vec_input(v, "x", ELEM_F64, "L", &in->x, VEC_OPTIONAL, "input samples x_k, held constant on [k dt, (k+1) dt)");
    vec_input(v, "h0", ELEM_F64, "N", &in->h0, VEC_OPTIONAL, "initial state h(0) (absent: zero)");
    if (in->dt && !(in->dt[0] > 0)) vec_reject(v, "dt", "expected dt > 0, got %g", in->dt[0]);
    if (in->x && vec_dim(v, "L") < 1) vec_reject(v, "x", "expected at least one sample, got 0");
}

/* The one function: every output of the set from its inputs. Tolerances are for an
 * independent float64 implementation, for a well-conditioned A (docs/vectors.md says
 * where a non-normal stiff A exceeds them in any float64 implementation). */
static void ssm_outputs(vec_set *v, const ssm_inputs *in)
{
    const size_t N = vec_dim(v, "N"), L = vec_dim(v, "L");
    double *eAt = NULL;
    if (in->t) {   /* (1.5) */
        double *At = xmalloc_f64(N * N);
        eAt = xmalloc_f64(N * N);
        for (size_t i = 0; i < N * N; i++) At[i] = in->A[i] * in->t[0];
        expm((int)N, At, eAt);
        free(At);
    }
    vec_output(v, "eAt", ELEM_F64, 2, (size_t[]){N, N}, eAt,
               VEC_TOL(1e-10, 1e-12, "expm algorithms (Pade, Taylor, eigen) agree to ~10 u ||A t|| for "
                                     "well-conditioned A; ||A t||_1 ~ 10 here: allowed 1e-10"),
               "e^{A t}");
    free(eAt);

    double *he = NULL, *ye = NULL, *hr = NULL, *yr = NULL;
    if (in->B && in->C && in->D && in->dt && in->x) {
        ssm_sys s;
        ssm_sys_alloc(&s, (int)N, "vectors");
        memcpy(s.A, in->A, N * N * sizeof *s.A);
        memcpy(s.B, in->B, N * sizeof *s.B);
        memcpy(s.C, in->C, N * sizeof *s.C);
        s.D = in->D[0];
        const double dt = in->dt[0];
        signal_t u = signal_samples(in->x, (int)L, dt);
        double *ts = xmalloc_f64(L + 1), *yy = xmalloc_f64(L + 1);
        he = xmalloc_f64((L + 1) * N), hr = xmalloc_f64((L + 1) * N), ye = xmalloc_f64(L), yr = xmalloc_f64(L);
        for (size_t k = 0; k <= L; k++) ts[k] = (double)k * dt;
        ssm_exact(&s, &u, in->h0, ts, (int)L + 1, he, yy);   /* (1.6) */
        memcpy(ye, yy, L * sizeof *yy);
        ssm_rk4(&s, &u, in->h0, dt, (int)L, hr, yy);           /* (1.10) */
        memcpy(yr, yy, L * sizeof *yy);
        free(ts), free(yy);
        ssm_sys_free(&s);
    }
    /* the responses chain L steps of e^{A dt} through a contracting system; 1e-9 leaves
     * room for a different expm or summation order, while a wrong hold convention or a
     * k4 stage that reads x_{k+1} changes the answer by ~1e-2 */
    const vec_tol chained = VEC_TOL(1e-9, 1e-11, "L steps of expm-level error (~1e-14 each) through a "
                                                 "contraction: allowed 1e-9");
    vec_output(v, "h_exact", ELEM_F64, 2, (size_t[]){L + 1, N}, he, chained,
               "exact state h(k dt), k = 0..L, for x held constant on each step (L+1, N)");
    vec_output(v, "y_exact", ELEM_F64, 1, (size_t[]){L}, ye, chained,
               "exact output y_k = C h(k dt) + D x_k, k = 0..L-1 (L)");
    vec_output(v, "h_rk4", ELEM_F64, 2, (size_t[]){L + 1, N}, hr, chained,
               "classic RK4 with step dt, all four stages of step k using x_k; rows k = 0..L (L+1, N)");
    vec_output(v, "y_rk4", ELEM_F64, 1, (size_t[]){L}, yr, chained, "C h_rk4[k] + D x_k, k = 0..L-1 (L)");
    free(he), free(ye), free(hr), free(yr);
}

/* The seeded set: a random stable N=4 system, t = 1.5, dt = 0.1, 64 random samples. */
static void ssm_inputs_make(vec_set *v, ssm_inputs *in)
{
    const size_t N = 4, L = 64;
    vec_dim_set(v, "N", N), vec_dim_set(v, "L", L);
    ssm_sys s;
    ssm_random_stable(&s, (int)N, VEC_SEED);
    in->A = xmalloc_f64(N * N), in->B = xmalloc_f64(N), in->C = xmalloc_f64(N), in->D = xmalloc_f64(1);
    memcpy(in->A, s.A, N * N * sizeof *s.A);
    memcpy(in->B, s.B, N * sizeof *s.B);
    memcpy(in->C, s.C, N * sizeof *s.C);
    in->D[0] = s.D;
    ssm_sys_free(&s);
    in->t = xmalloc_f64(1), in->dt = xmalloc_f64(1);
    in->t[0] = 1.5, in->dt[0] = 0.1;
    rng_t r;
    rng_seed(&r, VEC_SEED + 1);
    in->x = xmalloc_f64(L), in->h0 = xmalloc_f64(N);
    rng_fill_normal(&r, in->x, L, 0.0, 1.0);
    rng_fill_normal(&r, in->h0, N, 0.0, 1.0);
}

int ssm_vectors(const char *dir, int dumping)
{
    vec_set *v = vec_set_open(dir, dumping, STAGE_NAME,
        "Continuous SISO SSM h' = A h + B x, y = C h + D x (float64): the matrix "
        "exponential, the exact response to a zero-order-hold input, and classic "
        "RK4 at a fixed step", VEC_SEED);
    ssm_inputs in = {0};
    if (dumping) ssm_inputs_make(v, &in);
    ssm_inputs_io(v, &in);
    ssm_outputs(v, &in);
    free(in.A), free(in.B), free(in.C), free(in.D), free(in.t), free(in.dt), free(in.x), free(in.h0);
    if (dumping) printf("vectors written to %s\n", dir);
    return vec_set_close(v);
}
