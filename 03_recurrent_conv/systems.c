/* 03_recurrent_conv/systems.c — the random systems of the lesson and its vector set
 * (see systems.h). */
#include "03_recurrent_conv/systems.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "02_zoh_discretize/zoh.h"
#include "03_recurrent_conv/recconv.h"
#include "common/util.h"

/* A random stable diagonal system, continuous a_n = −r_n + i w_n with r_n uniform in
 * [rlo, rhi] and w_n uniform in [−wmax, wmax], b_n, c_n complex normal, then ZOH
 * (stage 02). */
diag_sys diag_random(rng_t *r, int N, double rlo, double rhi, double wmax, double dt)
{
    diag_sys s = {N, xmalloc((size_t)N * sizeof(double complex)),
                  xmalloc((size_t)N * sizeof(double complex)),
                  xmalloc((size_t)N * sizeof(double complex)), 0.5};
    double complex *a = xmalloc((size_t)N * sizeof *a), *b = xmalloc((size_t)N * sizeof *b);
    for (int n = 0; n < N; n++) {
        a[n] = -rng_uniform_range(r, rlo, rhi) + I * rng_uniform_range(r, -wmax, wmax);
        b[n] = rng_normal(r) + I * rng_normal(r);
        s.C[n] = (rng_normal(r) + I * rng_normal(r)) / sqrt(N);
    }
    zoh_diag(N, a, b, dt, s.Abar, s.Bbar);
    free(a);
    free(b);
    return s;
}

void diag_free(diag_sys *s) { free(s->Abar); free(s->Bbar); free(s->C); }

dense_sys dense_from_diag(const diag_sys *d)
{
    int M = 2 * d->N;
    dense_sys s = {M, xmalloc_f64((size_t)M * M), xmalloc_f64(M), xmalloc_f64(M), d->D};
    ssm_diag_to_dense(d->N, d->Abar, d->Bbar, d->C, s.Abar, s.Bbar, s.C);
    return s;
}

/* Stage 01's random stable system, discretized by stage 02's ZOH. */
dense_sys dense_random_stable(int N, uint64_t seed, double dt)
{
    ssm_sys c;
    ssm_random_stable(&c, N, seed);
    dense_sys s = {N, xmalloc_f64((size_t)N * N), xmalloc_f64(N), xmalloc_f64(N), c.D};
    zoh_dense(N, 1, c.A, c.B, dt, s.Abar, s.Bbar);
    memcpy(s.C, c.C, (size_t)N * sizeof *s.C);
    ssm_sys_free(&c);
    return s;
}

void dense_free(dense_sys *s) { free(s->Abar); free(s->Bbar); free(s->C); }
