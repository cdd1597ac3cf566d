/* 04_hippo_s4/vectors.c — golden vectors of stage 04 (see vectors.h): one function,
 * hippo_outputs, computes every output from the inputs, for --dump-vectors and --check. */
#include "04_hippo_s4/vectors.h"

#include <complex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "04_hippo_s4/hippo.h"
#include "04_hippo_s4/s4.h"
#include "04_hippo_s4/s4d_model.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define VEC_SEED 4

/* The layer's parameters, in the model's tensor order (LT_*), and their shapes. */
static const char *const LAYER_PARAMS[LT_N] = {"log_dt", "A_re_log", "A_im", "B_re", "B_im", "C_re",
                                               "C_im", "D", "W", "b", "norm_w", "norm_b"};
static const char *layer_param_pattern(int k)
{
    if (k >= LT_ARE && k <= LT_CIM) return "H Nh";
    return k == LT_W ? "H H" : "H";
}

typedef struct {
    int64_t *hippo_N;                                      /* HiPPO and NPLR */
    double complex *s4_Lambda, *s4_Ptil, *s4_Btil, *s4_Ctil;
    double *s4_dt;
    int64_t *s4_L;                                         /* S4 */
    double complex *s4d_Lambda, *s4d_B, *s4d_C;
    double *s4d_dt;
    int64_t *s4d_L;                                        /* S4D */
    double *layer_u, *layer_dout, *layer[LT_N];            /* one layer */
} hippo_inputs;

/* A positive step and a length in [lo, hi], when present. */
static void require_step_and_length(vec_set *v, const char *dt_name, const double *dt, const char *L_name,
                                    const int64_t *L, int64_t lo, int64_t hi)
{
    if (dt && !(dt[0] > 0)) vec_reject(v, dt_name, "expected a positive step, got %g", dt[0]);
    if (L && (L[0] < lo || L[0] > hi))
        vec_reject(v, L_name, "expected a length in %lld..%lld, got %lld", (long long)lo, (long long)hi, (long long)L[0]);
}

/* Every input, in both directions: written when dumping, read (sizes bound) when checking. */
static void hippo_inputs_io(vec_set *v, hippo_inputs *in)
{
    vec_input(v, "hippo_N", ELEM_I64, "1", &in->hippo_N, VEC_OPTIONAL, "HiPPO / NPLR state size N");
    if (in->hippo_N && (in->hippo_N[0] < 1 || in->hippo_N[0] > 4096))
        vec_reject(v, "hippo_N", "expected 1..4096, got %lld", (long long)in->hippo_N[0]);
    vec_input(v, "s4_Lambda", ELEM_C128, "N4", &in->s4_Lambda, VEC_OPTIONAL, "S4: diagonal part Lambda");
    vec_input(v, "s4_Ptil", ELEM_C128, "N4", &in->s4_Ptil, VEC_OPTIONAL, "S4: low-rank Ptil (= Qtil)");
    vec_input(v, "s4_Btil", ELEM_C128, "N4", &in->s4_Btil, VEC_OPTIONAL, "S4: Btil");
    vec_input(v, "s4_Ctil", ELEM_C128, "N4", &in->s4_Ctil, VEC_OPTIONAL, "S4: Ctil = C (I - Abar^L) V");
    vec_input(v, "s4_dt", ELEM_F64, "1", &in->s4_dt, VEC_OPTIONAL, "S4: step");
    vec_input(v, "s4_L", ELEM_I64, "1", &in->s4_L, VEC_OPTIONAL, "S4: kernel length");
    require_step_and_length(v, "s4_dt", in->s4_dt, "s4_L", in->s4_L, 2, 1 << 24);
    vec_input(v, "s4d_Lambda", ELEM_C128, "Ns", &in->s4d_Lambda, VEC_OPTIONAL, "S4D-Lin eigenvalues");
    vec_input(v, "s4d_B", ELEM_C128, "Ns", &in->s4d_B, VEC_OPTIONAL, "S4D B");
    vec_input(v, "s4d_C", ELEM_C128, "Ns", &in->s4d_C, VEC_OPTIONAL, "S4D C");
    vec_input(v, "s4d_dt", ELEM_F64, "1", &in->s4d_dt, VEC_OPTIONAL, "S4D step");
    vec_input(v, "s4d_L", ELEM_I64, "1", &in->s4d_L, VEC_OPTIONAL, "S4D kernel length");
    require_step_and_length(v, "s4d_dt", in->s4d_dt, "s4d_L", in->s4d_L, 1, 1 << 24);
    vec_input(v, "layer_u", ELEM_F64, "batch L H", &in->layer_u, VEC_OPTIONAL, "layer input");
    vec_input(v, "layer_dout", ELEM_F64, "batch L H", &in->layer_dout, VEC_OPTIONAL, "upstream gradient of the layer output");
    char name[64];
    for (int k = 0; k < LT_N; k++) {
        snprintf(name, sizeof name, "layer_%s", LAYER_PARAMS[k]);
        vec_input(v, name, ELEM_F64, layer_param_pattern(k), &in->layer[k], VEC_OPTIONAL, "layer parameter");
    }
    if (in->layer_u && vec_dim(v, "batch") * vec_dim(v, "L") * vec_dim(v, "H") > ((size_t)1 << 26))
        vec_reject(v, "layer_u", "expected at most 2^26 elements");
}

/* Layer 0 of a one-layer model with the given parameters, on u (batch, L, H) with the
 * upstream gradient dout: out, du and the parameter gradients of sum(dout * out). */
static void layer_outputs(int H, int Nh, int batch, int L, double *const *par, const double *u,
                          const double *dout, double *out, double *du, double **grad)
{
    s4d_model m;
    s4d_model_init(&m, (s4d_config){H, Nh, 1}, S4D_LIN, 1e-3, 1e-1, 1);
    for (int k = 0; k < LT_N; k++)
        memcpy(s4d_param(&m, s4d_tidx(&m, 0, k)), par[k], m.t[s4d_tidx(&m, 0, k)].n * sizeof(double));
    s4d_model_prepare(&m, batch, L);
    const size_t TH = (size_t)batch * L * H;
    memcpy(m.u[0], u, TH * sizeof *u);
    s4d_layer_forward(&m, 0);
    memcpy(out, m.u[1], TH * sizeof *out);
    memset(m.grads, 0, m.nparams * sizeof *m.grads);
    memset(du, 0, TH * sizeof *du);
    s4d_layer_backward(&m, 0, dout, du);
    for (int k = 0; k < LT_N; k++)
        memcpy(grad[k], s4d_grad(&m, s4d_tidx(&m, 0, k)), m.t[s4d_tidx(&m, 0, k)].n * sizeof(double));
    s4d_model_free(&m);
}

/* The one function: every output of the set from its inputs. Tolerances are for an
 * independent float64 implementation. */
static void hippo_outputs(vec_set *v, const hippo_inputs *in)
{
    /* NPLR and the kernels agree to ~1e-13 of their scale between different algorithms
     * (eigen-solver, Cauchy vs Vandermonde, FFT size: the lesson's section 4.2), so a
     * norm-wise atol of 1e-11 max|out| and rtol 1e-9 leave room for any of them */
    const vec_tol algorithms = VEC_TOL_MAX(1e-9, 1e-11, "different algorithms agree to ~1e-13 of max|out| in "
                                                        "float64: allowed 1e-11 of max|out| plus 1e-9 relative");
    /* HiPPO (4.2), (4.3): square roots and products of integers, exact to an ulp */
    const size_t N = in->hippo_N ? (size_t)in->hippo_N[0] : 0;
    double *A = in->hippo_N ? xmalloc_f64(N * N) : NULL, *B = in->hippo_N ? xmalloc_f64(N) : NULL;
    const vec_tol sqrt_exact = VEC_TOL_MAX(1e-9, 1e-11, "square roots of integers: exact to an ulp; allowed as "
                                                        "the other outputs");
    if (A) hippo_legs((int)N, A, B);
    vec_output(v, "hippo_legs_A", ELEM_F64, 2, (size_t[]){N, N}, A, sqrt_exact, "HiPPO-LegS A (N, N)");
    vec_output(v, "hippo_legs_B", ELEM_F64, 1, (size_t[]){N}, B, sqrt_exact, "HiPPO-LegS B (N)");
    if (A) hippo_legt((int)N, A, B);
    vec_output(v, "hippo_legt_A", ELEM_F64, 2, (size_t[]){N, N}, A, sqrt_exact, "HiPPO-LegT A (theta = 1) (N, N)");
    vec_output(v, "hippo_legt_B", ELEM_F64, 1, (size_t[]){N}, B, sqrt_exact, "HiPPO-LegT B (N)");
    free(A), free(B);

    /* NPLR (4.6): the factors that do not depend on the eigenvectors' phases */
    double complex *lam = NULL, *Pt = NULL, *Bt = NULL, *pb = NULL;
    double *P = NULL, *pabs = NULL;
    if (in->hippo_N) {
        lam = xmalloc(N * sizeof *lam), Pt = xmalloc(N * sizeof *Pt), Bt = xmalloc(N * sizeof *Bt);
        pb = xmalloc(N * sizeof *pb), P = xmalloc_f64(N), pabs = xmalloc_f64(N);
        nplr_legs((int)N, lam, NULL, P, Pt, Bt);
        for (size_t n = 0; n < N; n++) {
            pabs[n] = creal(Pt[n] * conj(Pt[n]));
            pb[n] = conj(Pt[n]) * Bt[n];
        }
    }
    vec_output(v, "nplr_Lambda", ELEM_C128, 1, (size_t[]){N}, lam, algorithms,
               "eigenvalues of the normal part, Im descending (N) complex");
    vec_output(v, "nplr_P", ELEM_F64, 1, (size_t[]){N}, P, algorithms, "low-rank factor P_n = sqrt(n + 1/2) (N)");
    vec_output(v, "nplr_Ptil_abs2", ELEM_F64, 1, (size_t[]){N}, pabs, algorithms, "|V^H P|^2 per eigenvalue (N)");
    vec_output(v, "nplr_conjPtil_Btil", ELEM_C128, 1, (size_t[]){N}, pb, algorithms,
               "conj(V^H P) (V^H B) per eigenvalue (N) complex");
    free(lam), free(Pt), free(Bt), free(pb), free(P), free(pabs);

    /* S4 (4.8)–(4.12) */
    double *K = NULL;
    size_t L = in->s4_L ? (size_t)in->s4_L[0] : 0;
    if (in->s4_Lambda && in->s4_Ptil && in->s4_Btil && in->s4_Ctil && in->s4_dt && in->s4_L) {
        K = xmalloc_f64(L);
        s4_kernel((int)vec_dim(v, "N4"), in->s4_Lambda, in->s4_Ptil, in->s4_Ptil, in->s4_Btil, in->s4_Ctil,
                  in->s4_dt[0], (int)L, K);
    }
    vec_output(v, "s4_K", ELEM_F64, 1, (size_t[]){L}, K, algorithms, "S4 kernel (L)");
    free(K);

    /* S4D (4.14) */
    double *Kz = NULL, *Kb = NULL;
    L = in->s4d_L ? (size_t)in->s4d_L[0] : 0;
    if (in->s4d_Lambda && in->s4d_B && in->s4d_C && in->s4d_dt && in->s4d_L) {
        const int Ns = (int)vec_dim(v, "Ns");
        Kz = xmalloc_f64(L), Kb = xmalloc_f64(L);
        s4d_kernel(Ns, in->s4d_Lambda, in->s4d_B, in->s4d_C, in->s4d_dt[0], DISC_ZOH, (int)L, Kz);
        s4d_kernel(Ns, in->s4d_Lambda, in->s4d_B, in->s4d_C, in->s4d_dt[0], DISC_BILINEAR, (int)L, Kb);
    }
    vec_output(v, "s4d_K_zoh", ELEM_F64, 1, (size_t[]){L}, Kz, algorithms, "S4D kernel, ZOH (L)");
    vec_output(v, "s4d_K_bilinear", ELEM_F64, 1, (size_t[]){L}, Kb, algorithms, "S4D kernel, bilinear (L)");
    free(Kz), free(Kb);

    /* one layer (4.15): forward and backward */
    const size_t batch = vec_dim(v, "batch"), LL = vec_dim(v, "L"), H = vec_dim(v, "H"), Nh = vec_dim(v, "Nh");
    int have = in->layer_u && in->layer_dout;
    for (int k = 0; k < LT_N; k++) have = have && in->layer[k];
    double *out = NULL, *du = NULL, *grad[LT_N] = {0};
    if (have) {
        out = xmalloc_f64(batch * LL * H), du = xmalloc_f64(batch * LL * H);
        for (int k = 0; k < LT_N; k++) grad[k] = xmalloc_f64(k >= LT_ARE && k <= LT_CIM ? H * Nh : k == LT_W ? H * H : H);
        layer_outputs((int)H, (int)Nh, (int)batch, (int)LL, in->layer, in->layer_u, in->layer_dout, out, du, grad);
    }
    /* the layer adds an FFT convolution, GELU, a linear map and LayerNorm to the kernel:
     * each loses no more than a few ulps relative to its scale */
    vec_output(v, "layer_out", ELEM_F64, 3, (size_t[]){batch, LL, H}, out, algorithms, "layer output (batch, L, H)");
    vec_output(v, "layer_du", ELEM_F64, 3, (size_t[]){batch, LL, H}, du, algorithms,
               "gradient of sum(dout * out) w.r.t. u (batch, L, H)");
    char name[64];
    for (int k = 0; k < LT_N; k++) {
        snprintf(name, sizeof name, "layer_grad_%s", LAYER_PARAMS[k]);
        const int two = k == LT_W || (k >= LT_ARE && k <= LT_CIM);
        vec_output(v, name, ELEM_F64, two ? 2 : 1, (size_t[]){H, k == LT_W ? H : Nh}, grad[k], algorithms,
                   "gradient of sum(dout * out)");
        free(grad[k]);
    }
    free(out), free(du);
}

/* The seeded set: N = 16 for HiPPO/NPLR/S4 (a random C through s4_ctilde), L = 256;
 * S4D-Lin with 8 modes; one layer with H = 4, Nh = 4, batch 2, L = 32 whose parameters
 * are the initialization plus noise (so no parameter sits at a special value). */
static void hippo_inputs_make(vec_set *v, hippo_inputs *in)
{
    enum { VN = 16, VL = 256, VNH = 8, VH = 4, VLN = 4, VB = 2, VLL = 32 };
    vec_dim_set(v, "N4", VN), vec_dim_set(v, "Ns", VNH);
    rng_t r;
    rng_seed(&r, VEC_SEED);
    in->hippo_N = xmalloc(sizeof(int64_t)), in->hippo_N[0] = VN;
    /* S4 on the LegS NPLR with a random C */
    legs_nplr s = nplr_make(VN);
    double C[VN];
    rng_fill_normal(&r, C, VN, 0, 1);
    in->s4_dt = xmalloc_f64(1), in->s4_dt[0] = 0.05;
    in->s4_L = xmalloc(sizeof(int64_t)), in->s4_L[0] = VL;
    in->s4_Ctil = xmalloc(VN * sizeof(double complex));
    s4_ctilde(VN, s.A, C, s.V, in->s4_dt[0], VL, in->s4_Ctil);
    in->s4_Lambda = s.Lambda, in->s4_Ptil = s.Ptil, in->s4_Btil = s.Btil;   /* taken over from s */
    s.Lambda = s.Ptil = s.Btil = NULL;
    nplr_free(&s);
    /* S4D */
    in->s4d_Lambda = xmalloc(VNH * sizeof(double complex)), in->s4d_B = xmalloc(VNH * sizeof(double complex));
    in->s4d_C = xmalloc(VNH * sizeof(double complex));
    s4d_init(S4D_LIN, VNH, 0, in->s4d_Lambda);
    for (int n = 0; n < VNH; n++) {   /* imaginary part drawn first: the committed set's order */
        const double bi = rng_normal(&r), br = rng_normal(&r);
        in->s4d_B[n] = CMPLX(br, bi);
        const double ci = rng_normal(&r), cr = rng_normal(&r);
        in->s4d_C[n] = CMPLX(cr, ci);
    }
    in->s4d_dt = xmalloc_f64(1), in->s4d_dt[0] = 0.1;
    in->s4d_L = xmalloc(sizeof(int64_t)), in->s4d_L[0] = VL;
    /* one layer */
    vec_dim_set(v, "batch", VB), vec_dim_set(v, "L", VLL), vec_dim_set(v, "H", VH);
    vec_dim_set(v, "Nh", VLN);
    s4d_model m0;
    s4d_model_init(&m0, (s4d_config){VH, VLN, 1}, S4D_LIN, 1e-2, 1e-1, VEC_SEED);
    for (int k = 0; k < LT_N; k++) {
        const size_t n = m0.t[s4d_tidx(&m0, 0, k)].n;
        in->layer[k] = xmalloc_f64(n);
        memcpy(in->layer[k], s4d_param(&m0, s4d_tidx(&m0, 0, k)), n * sizeof(double));
        for (size_t i = 0; i < n; i++) in->layer[k][i] += 0.1 * rng_normal(&r);
    }
    s4d_model_free(&m0);
    const size_t TH = (size_t)VB * VLL * VH;
    in->layer_u = xmalloc_f64(TH), in->layer_dout = xmalloc_f64(TH);
    rng_fill_normal(&r, in->layer_u, TH, 0, 1);
    rng_fill_normal(&r, in->layer_dout, TH, 0, 1);
}

static void hippo_inputs_free(hippo_inputs *in)
{
    free(in->hippo_N), free(in->s4_Lambda), free(in->s4_Ptil), free(in->s4_Btil), free(in->s4_Ctil);
    free(in->s4_dt), free(in->s4_L), free(in->s4d_Lambda), free(in->s4d_B), free(in->s4d_C), free(in->s4d_dt);
    free(in->s4d_L), free(in->layer_u), free(in->layer_dout);
    for (int k = 0; k < LT_N; k++) free(in->layer[k]);
}

int hippo_vectors(const char *dir, int dumping)
{
    vec_set *v = vec_set_open(dir, dumping, STAGE_NAME,
        "HiPPO matrices (LegS, LegT: A as in c' = -A c + B f); the NPLR of LegS (-A_LegS = "
        "V(Lambda - Pt Pt^H)V^H, Lambda sorted by Im descending, phase-free factors); the S4 kernel "
        "(bilinear, C given as Ctilde = C(I - Abar^L) in the eigenbasis); S4D kernels "
        "K_j = 2 Re sum_n C_n Bbar_n Abar_n^j (ZOH and bilinear); one S4D layer "
        "(FFT conv + D skip, GELU (tanh approximation), linear, residual, LayerNorm eps 1e-5; "
        "lambda = -exp(A_re_log) + i A_im, dt = exp(log_dt)) forward and backward. Complex values "
        "are (re, im) pairs on a last axis.", VEC_SEED);
    hippo_inputs in = {0};
    if (dumping) hippo_inputs_make(v, &in);
    hippo_inputs_io(v, &in);
    hippo_outputs(v, &in);
    hippo_inputs_free(&in);
    if (dumping) printf("vectors written to %s\n", dir);
    return vec_set_close(v);
}
