/* 02_zoh_discretize/vectors.c — golden vectors of stage 02 (see vectors.h): one function,
 * zoh_outputs, computes every output from the inputs, for --dump-vectors and --check. */
#include "02_zoh_discretize/vectors.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "02_zoh_discretize/zoh.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define VEC_SEED 2

typedef struct {
    double *A, *B, *C, *D, *dt, *x;       /* dense problem */
    double complex *A_diag, *B_diag;      /* diagonal problem (with dt) */
    double complex *z;                    /* phi1 */
} zoh_inputs;

/* Every input, in both directions: written when dumping, read (sizes bound) when checking. */
static void zoh_inputs_io(vec_set *v, zoh_inputs *in)
{
    vec_input(v, "A", ELEM_F64, "N N", &in->A, VEC_OPTIONAL, "state matrix");
    vec_input(v, "B", ELEM_F64, "N 1", &in->B, VEC_OPTIONAL, "input matrix");
    vec_input(v, "C", ELEM_F64, "N", &in->C, VEC_OPTIONAL, "output row");
    vec_input(v, "D", ELEM_F64, "1", &in->D, VEC_OPTIONAL, "feedthrough");
    vec_input(v, "dt", ELEM_F64, "ndt", &in->dt, VEC_OPTIONAL, "steps, each > 0");
    vec_input(v, "x", ELEM_F64, "L", &in->x, VEC_OPTIONAL, "input samples, held on each step");
    vec_input(v, "A_diag", ELEM_C128, "Nd", &in->A_diag, VEC_OPTIONAL, "diagonal of complex A, (re, im)");
    vec_input(v, "B_diag", ELEM_C128, "Nd", &in->B_diag, VEC_OPTIONAL, "complex B, (re, im)");
    vec_input(v, "z", ELEM_C128, "K", &in->z, VEC_OPTIONAL, "arguments of phi1, (re, im)");
    for (size_t d = 0; in->dt && d < vec_dim(v, "ndt"); d++)
        if (!(in->dt[d] > 0)) vec_reject(v, "dt", "dt[%zu]: expected > 0, got %g", d, in->dt[d]);
}

/* The one function: every output of the set from its inputs. Tolerances are for an
 * independent float64 implementation of a well-conditioned problem (docs/vectors.md). */
static void zoh_outputs(vec_set *v, const zoh_inputs *in)
{
    const size_t N = vec_dim(v, "N"), ndt = vec_dim(v, "ndt"), L = vec_dim(v, "L"),
                 Nd = vec_dim(v, "Nd"), K = vec_dim(v, "K");
    char name[64], meaning[256];

    /* dense: (2.3)–(2.9), then the recurrence (2.1) on x */
    const int dense = in->A && in->B && in->C && in->D && in->dt && in->x;
    double *Abar = dense ? xmalloc_f64(ndt * N * N) : NULL, *Bbar = dense ? xmalloc_f64(ndt * N) : NULL,
           *y = dense ? xmalloc_f64(ndt * L) : NULL;
    for (int m = 0; m < DISC_NMETHODS; m++) {
        const char *mn = DISC_METHODS[m].name;
        for (size_t d = 0; dense && d < ndt; d++) {
            DISC_METHODS[m].fn((int)N, 1, in->A, in->B, in->dt[d], Abar + d * N * N, Bbar + d * N);
            ssm_recurrence_dense((int)N, Abar + d * N * N, Bbar + d * N, in->C, in->D[0], NULL, in->x, (int)L,
                                 y + d * L);
        }
        snprintf(name, sizeof name, "Abar_%s", mn);
        snprintf(meaning, sizeof meaning, "Abar of method %s for each dt (ndt, N, N)", mn);
        vec_output(v, name, ELEM_F64, 3, (size_t[]){ndt, N, N}, Abar,
                   VEC_TOL(1e-10, 1e-12, "expm (scaling and squaring) or an LU solve of a well-conditioned "
                                         "matrix: ~1e-14 relative in float64, allowed 1e-10"),
                   meaning);
        snprintf(name, sizeof name, "Bbar_%s", mn);
        snprintf(meaning, sizeof meaning, "Bbar of method %s for each dt (ndt, N, 1)", mn);
        vec_output(v, name, ELEM_F64, 3, (size_t[]){ndt, N, 1}, Bbar,
                   VEC_TOL(1e-10, 1e-12, "as Abar: one expm of the augmented matrix, or one solve"), meaning);
        snprintf(name, sizeof name, "y_%s", mn);
        snprintf(meaning, sizeof meaning,
                 "y_k = C h_k + D x_k of the recurrence h_k = Abar h_{k-1} + Bbar x_k, h_{-1} = 0, "
                 "method %s, for each dt (ndt, L)", mn);
        vec_output(v, name, ELEM_F64, 2, (size_t[]){ndt, L}, y,
                   VEC_TOL(1e-9, 1e-10, "Abar's error carried through L steps of a contraction "
                                        "(rho(Abar) < 1): grows at most ~1/(1 - rho), allowed 10x Abar's"),
                   meaning);
    }
    free(y), free(Bbar), free(Abar);

    /* diagonal complex A: (2.11) and the bilinear pair, elementwise */
    const int diag = in->A_diag && in->B_diag && in->dt;
    double complex *ab = diag ? xmalloc(sizeof *ab * ndt * Nd) : NULL, *bb = diag ? xmalloc(sizeof *bb * ndt * Nd) : NULL;
    static const char *DIAG_NAMES[2] = {"zoh", "bilinear"};
    static void (*const DIAG_FNS[2])(int, const double complex *, const double complex *, double, double complex *,
                                     double complex *) = {zoh_diag, bilinear_diag};
    for (int f = 0; f < 2; f++) {
        for (size_t d = 0; diag && d < ndt; d++)
            DIAG_FNS[f]((int)Nd, in->A_diag, in->B_diag, in->dt[d], ab + d * Nd, bb + d * Nd);
        const vec_tol closed_form = VEC_TOL(1e-12, 1e-14, "an elementwise closed form (exp, phi1, one division): "
                                                          "a few ulps in float64, allowed 1e-12");
        snprintf(name, sizeof name, "Abar_%s_diag", DIAG_NAMES[f]);
        snprintf(meaning, sizeof meaning, "Abar of diagonal %s for each dt, complex (ndt, Nd)", DIAG_NAMES[f]);
        vec_output(v, name, ELEM_C128, 2, (size_t[]){ndt, Nd}, ab, closed_form, meaning);
        snprintf(name, sizeof name, "Bbar_%s_diag", DIAG_NAMES[f]);
        snprintf(meaning, sizeof meaning, "Bbar of diagonal %s for each dt, complex (ndt, Nd)", DIAG_NAMES[f]);
        vec_output(v, name, ELEM_C128, 2, (size_t[]){ndt, Nd}, bb, closed_form, meaning);
    }
    free(bb), free(ab);

    /* phi1 (2.10) */
    double complex *p = in->z ? xmalloc(sizeof *p * (K ? K : 1)) : NULL;
    for (size_t k = 0; p && k < K; k++) p[k] = phi1(in->z[k]);
    vec_output(v, "phi1", ELEM_C128, 1, (size_t[]){K}, p,
               VEC_TOL(1e-14, 1e-16, "phi1 without cancellation is good to a few ulps; the naive "
                                     "(e^z - 1)/z fails this on the tiny z of the set"),
               "phi1(z) = (e^z - 1)/z for each z, complex: accurate also for tiny |z|");
    free(p);
}

/* The seeded set: a random stable N=4 system, three steps, a random input, a diagonal
 * S4D-Lin-like A, and z for phi1 where the naive formula breaks. */
static void zoh_inputs_make(vec_set *v, zoh_inputs *in)
{
    const size_t N = 4, ndt = 3, L = 64, Nd = 6, K = 10;
    vec_dim_set(v, "N", N), vec_dim_set(v, "ndt", ndt), vec_dim_set(v, "L", L);
    vec_dim_set(v, "Nd", Nd), vec_dim_set(v, "K", K);
    ssm_sys s;
    ssm_random_stable(&s, (int)N, VEC_SEED);
    in->A = xmalloc_f64(N * N), in->B = xmalloc_f64(N), in->C = xmalloc_f64(N), in->D = xmalloc_f64(1);
    for (size_t i = 0; i < N * N; i++) in->A[i] = s.A[i];
    for (size_t i = 0; i < N; i++) in->B[i] = s.B[i], in->C[i] = s.C[i];
    in->D[0] = s.D;
    ssm_sys_free(&s);
    in->dt = xmalloc_f64(ndt);
    in->dt[0] = 0.01, in->dt[1] = 0.1, in->dt[2] = 1.0;
    rng_t r;
    rng_seed(&r, VEC_SEED);
    in->x = xmalloc_f64(L);
    rng_fill_normal(&r, in->x, L, 0.0, 1.0);
    in->A_diag = xmalloc(sizeof(double complex) * Nd), in->B_diag = xmalloc(sizeof(double complex) * Nd);
    for (size_t n = 0; n < Nd; n++) {
        const double re = -rng_uniform_range(&r, 0.1, 2.0);   /* stable: Re a < 0 */
        in->A_diag[n] = CMPLX(re, M_PI * (double)n);            /* S4D-Lin-like imaginary parts */
        const double br = rng_normal(&r);
        in->B_diag[n] = CMPLX(br, rng_normal(&r));
    }
    /* z for phi1: tiny (where the naive formula loses every digit), around the series
     * switch at |z| = 1/4, and large */
    static const double complex z[10] = {CMPLX(1e-20, 0),  CMPLX(-3e-17, 0),  CMPLX(1e-10, 1e-10), CMPLX(0, -2e-8),
                                         CMPLX(-1e-5, 3e-6), CMPLX(0.2499, 0), CMPLX(0.2501, 0),    CMPLX(-0.1, 0.2),
                                         CMPLX(-50, 3),      CMPLX(0.7, -12.0)};
    in->z = xmalloc(sizeof z);
    for (size_t k = 0; k < K; k++) in->z[k] = z[k];
}

int zoh_vectors(const char *dir, int dumping)
{
    vec_set *v = vec_set_open(dir, dumping, STAGE_NAME,
        "Discretizations of a random stable N=4 SISO system (zoh, bilinear, "
        "euler_fwd, euler_bwd, mamba) at three dt, the recurrence on a random "
        "input, the diagonal complex ZOH and bilinear, and phi1(z)", VEC_SEED);
    zoh_inputs in = {0};
    if (dumping) zoh_inputs_make(v, &in);
    zoh_inputs_io(v, &in);
    zoh_outputs(v, &in);
    free(in.A), free(in.B), free(in.C), free(in.D), free(in.dt), free(in.x);
    free(in.A_diag), free(in.B_diag), free(in.z);
    if (dumping) printf("vectors written to %s\n", dir);
    return vec_set_close(v);
}
