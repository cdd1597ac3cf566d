/* 03_recurrent_conv/vectors.c — golden vectors of stage 03 (see vectors.h): one function,
 * recconv_outputs, computes every output from the inputs, for --dump-vectors and --check. */
#include "03_recurrent_conv/vectors.h"

#include <complex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "03_recurrent_conv/recconv.h"
#include "03_recurrent_conv/systems.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define VEC_SEED 20260303

typedef struct {
    double *Abar_dense, *Bbar_dense, *C_dense;           /* dense problem */
    double complex *Abar_diag, *Bbar_diag, *C_diag;      /* diagonal problem */
    double *D, *x;                                       /* both */
} recconv_inputs;

/* Every input, in both directions: written when dumping, read (sizes bound) when checking. */
static void recconv_inputs_io(vec_set *v, recconv_inputs *in)
{
    vec_input(v, "x", ELEM_F64, "H L", &in->x, VEC_REQUIRED, "input sequence per channel");
    vec_input(v, "D", ELEM_F64, "H", &in->D, VEC_REQUIRED, "skip (feed-through) per channel, shared by both systems");
    vec_input(v, "Abar_dense", ELEM_F64, "H N N", &in->Abar_dense, VEC_OPTIONAL,
              "dense state matrix per channel (ZOH of a random stable A, dt 0.1)");
    vec_input(v, "Bbar_dense", ELEM_F64, "H N", &in->Bbar_dense, VEC_OPTIONAL, "dense input vector per channel");
    vec_input(v, "C_dense", ELEM_F64, "H N", &in->C_dense, VEC_OPTIONAL, "dense output vector per channel");
    vec_input(v, "Abar_diag", ELEM_C128, "H Ng", &in->Abar_diag, VEC_OPTIONAL,
              "diagonal of the complex state matrix per channel, (re, im)");
    vec_input(v, "Bbar_diag", ELEM_C128, "H Ng", &in->Bbar_diag, VEC_OPTIONAL, "complex input vector per channel, (re, im)");
    vec_input(v, "C_diag", ELEM_C128, "H Ng", &in->C_diag, VEC_OPTIONAL, "complex output vector per channel, (re, im)");
    if (vec_dim(v, "H") < 1 || vec_dim(v, "L") < 1)
        vec_reject(v, "x", "expected shape (H >= 1, L >= 1), got (%zu, %zu)", vec_dim(v, "H"), vec_dim(v, "L"));
    if (in->Abar_dense && vec_dim(v, "N") < 1) vec_reject(v, "Abar_dense", "expected N >= 1, got 0");
    if (in->Abar_diag && vec_dim(v, "Ng") < 1) vec_reject(v, "Abar_diag", "expected Ng >= 1, got 0");
}

/* The one function: every output of the set from its inputs. Both views are computed
 * the other way round from the lesson's check (dense: y by the recurrence; diagonal:
 * y by the FFT convolution of the kernel), so each y also tests a kernel. */
static void recconv_outputs(vec_set *v, const recconv_inputs *in)
{
    const size_t H = vec_dim(v, "H"), L = vec_dim(v, "L"), N = vec_dim(v, "N"), Ng = vec_dim(v, "Ng");
    /* the views agree to ~1e-14 of max|y| in float64 (the lesson's section 1); a norm-wise
     * atol of 1e-11 max|out| and rtol 1e-9 leave room for any summation order, FFT size
     * or power method (repeated products or exp(k log lambda)) */
    const vec_tol views = VEC_TOL_MAX(1e-9, 1e-11, "L-term sums of a contracting system: ~1e-14 of max|out| "
                                                   "in float64, allowed 1e-11 of max|out| plus 1e-9 relative");
    double *Kd = NULL, *yd = NULL;
    if (in->Abar_dense && in->Bbar_dense && in->C_dense) {
        Kd = xmalloc_f64(H * L), yd = xmalloc_f64(H * L);
        ssm_kernel_dense_multi((int)H, (int)N, in->Abar_dense, in->Bbar_dense, in->C_dense, (int)L, Kd);   /* (3.3) */
        ssm_recurrence_dense_multi((int)H, (int)N, in->Abar_dense, in->Bbar_dense, in->C_dense, in->D, in->x,
                                   (int)L, yd);                                                            /* (3.1) */
    }
    vec_output(v, "K_dense", ELEM_F64, 2, (size_t[]){H, L}, Kd, views,
               "kernel of the dense systems, K_k = C Abar^k Bbar (H, L)");
    vec_output(v, "y_dense", ELEM_F64, 2, (size_t[]){H, L}, yd, views, "output of the dense systems (H, L)");
    double *Kg = NULL, *yg = NULL;
    if (in->Abar_diag && in->Bbar_diag && in->C_diag) {
        Kg = xmalloc_f64(H * L), yg = xmalloc_f64(H * L);
        ssm_kernel_diag_multi((int)H, (int)Ng, in->Abar_diag, in->Bbar_diag, in->C_diag, (int)L, Kg);   /* (3.5) */
        conv_causal_fft_multi((int)H, Kg, in->x, (int)L, in->D, yg);                                   /* (3.6) */
    }
    vec_output(v, "K_diag", ELEM_F64, 2, (size_t[]){H, L}, Kg, views,
               "kernel of the diagonal systems, Re sum C Bbar Abar^k (H, L)");
    vec_output(v, "y_diag", ELEM_F64, 2, (size_t[]){H, L}, yg, views, "output of the diagonal systems (H, L)");
    free(Kd), free(yd), free(Kg), free(yg);
}

/* The seeded set: H = 3 channels, N = 4, L = 300; per channel stage 01's random stable
 * system and a random diagonal one, both ZOH at dt 0.1. */
static void recconv_inputs_make(vec_set *v, recconv_inputs *in)
{
    const size_t H = 3, N = 4, L = 300;
    vec_dim_set(v, "H", H), vec_dim_set(v, "N", N), vec_dim_set(v, "Ng", N), vec_dim_set(v, "L", L);
    rng_t r;
    rng_seed(&r, VEC_SEED);
    in->Abar_dense = xmalloc_f64(H * N * N), in->Bbar_dense = xmalloc_f64(H * N), in->C_dense = xmalloc_f64(H * N);
    in->Abar_diag = xmalloc(H * N * sizeof(double complex)), in->Bbar_diag = xmalloc(H * N * sizeof(double complex));
    in->C_diag = xmalloc(H * N * sizeof(double complex));
    in->D = xmalloc_f64(H);
    for (size_t h = 0; h < H; h++) {
        dense_sys g = dense_random_stable((int)N, VEC_SEED + h, 0.1);
        memcpy(in->Abar_dense + h * N * N, g.Abar, N * N * sizeof(double));
        memcpy(in->Bbar_dense + h * N, g.Bbar, N * sizeof(double));
        memcpy(in->C_dense + h * N, g.C, N * sizeof(double));
        dense_free(&g);
        diag_sys s = diag_random(&r, (int)N, 0.02, 1.0, 10.0, 0.1);
        memcpy(in->Abar_diag + h * N, s.Abar, N * sizeof(double complex));
        memcpy(in->Bbar_diag + h * N, s.Bbar, N * sizeof(double complex));
        memcpy(in->C_diag + h * N, s.C, N * sizeof(double complex));
        diag_free(&s);
        in->D[h] = rng_normal(&r);
    }
    in->x = xmalloc_f64(H * L);
    rng_fill_normal(&r, in->x, H * L, 0, 1);
}

int recconv_vectors(const char *dir, int dumping)
{
    vec_set *v = vec_set_open(dir, dumping, STAGE_NAME,
        "One discrete SISO SSM per channel (H channels), recurrent and convolutional views: "
        "h_k = Abar h_{k-1} + Bbar x_k, y_k = C h_k + D x_k, h_{-1} = 0; K_k = C Abar^k Bbar, "
        "y = K * x + D x (causal). Diagonal: complex values stored with a last axis (re, im), "
        "y_k = Re(sum_n C_n h_n,k) + D x_k, K_k = Re sum_n C_n Bbar_n Abar_n^k.", VEC_SEED);
    recconv_inputs in = {0};
    if (dumping) recconv_inputs_make(v, &in);
    recconv_inputs_io(v, &in);
    recconv_outputs(v, &in);
    free(in.Abar_dense), free(in.Bbar_dense), free(in.C_dense), free(in.Abar_diag), free(in.Bbar_diag);
    free(in.C_diag), free(in.D), free(in.x);
    if (dumping) printf("vectors written to %s\n", dir);
    return vec_set_close(v);
}
