/* 04_hippo_s4/s4d_model.h — a small deep S4D model trained in C (chapter §4.4).
 *
 *   x (batch, L)  →  encoder: u = x W_encᵀ + b_enc                      (T = batch·L rows, H)
 *   each layer ℓ:   v = K_h ∗ u_h + D_h u_h      per channel h (S4D kernel, FFT conv)
 *                   g = gelu(v);  z = g Wᵀ + b;  r = u + z;  u ← LayerNorm(r)
 *   decoder:        y = u W_decᵀ + b_dec                                  (T, 1)
 *   loss:           mean (y - target)²
 *
 * Every parameter is learned: per layer and channel log Δ (H), the eigenvalues
 * λ = -exp(A_re_log) + i A_im (Re λ < 0 always), B and C (complex, as re/im pairs),
 * D; the mixing linear W, b; LayerNorm's w, b; the encoder and decoder. The backward of
 * every operation is written out below, including through the kernel (4.14) with ZOH
 * and through the FFT convolution. float64: this stage builds `real` as double. */
#ifndef HIPPO_S4_S4D_MODEL_H
#define HIPPO_S4_S4D_MODEL_H

#include <complex.h>
#include <stddef.h>

#include "common/nn.h"

#ifndef REAL_F64
#error "04_hippo_s4 is float64 throughout: build with REAL=double (its Makefile sets it)"
#endif

/* ---- single operations and their backward passes (each gradient-checked) ---- */

/* (4.14) with ZOH: K_j = 2 Re Σ_n C_n B_n φ_n e^{jΔλ_n}, φ_n = (e^{Δλ_n} - 1)/λ_n,
 * Δ = exp(log_dt), λ_n = -exp(A_re_log[n]) + i A_im[n]. Forward through stage 02's
 * zoh_diag and stage 03's Vandermonde kernel (s4d_kernel). */
void s4d_channel_kernel(int Nh, double log_dt, const double *A_re_log, const double *A_im,
                        const double *B_re, const double *B_im, const double *C_re,
                        const double *C_im, int L, double *K);
/* (4.16) Backward: from dK (L) accumulate (+=) into the gradients of every input. */
void s4d_channel_kernel_backward(int Nh, double log_dt, const double *A_re_log,
                                 const double *A_im, const double *B_re, const double *B_im,
                                 const double *C_re, const double *C_im, int L,
                                 const double *dK, double *dlog_dt, double *dA_re_log,
                                 double *dA_im, double *dB_re, double *dB_im, double *dC_re,
                                 double *dC_im);

/* (4.17) Backward of y = K ∗ x + D x (stage 03's conv_causal_fft): both gradients are
 * correlations, computed as convolutions of reversed sequences,
 *     dx = rev(K ∗ rev(dy)) + D dy,   dK = rev(x ∗ rev(dy)),   dD = Σ dy·x.
 * Accumulates (+=) into dK, dx, dD; any may be NULL. */
void conv_causal_fft_backward(const double *K, const double *x, int L, double D,
                              const double *dy, double *dK, double *dx, double *dD);

/* ---- the model ---- */
enum { LT_LOGDT, LT_ARE, LT_AIM, LT_BRE, LT_BIM, LT_CRE, LT_CIM, LT_D, LT_W, LT_B, LT_NW,
       LT_NB, LT_N };

typedef struct {
    char name[64];
    size_t off, n;
    int ndim;
    size_t shape[2];
    int ssm;     /* Λ or Δ: smaller learning rate, no weight decay */
    int decay;   /* weight decay applies (the linear weights) */
} s4d_tensor;

typedef struct { int H, Nh, nlayers; } s4d_config;

typedef struct {
    s4d_config cfg;
    int ntensors;
    s4d_tensor *t;
    size_t nparams;
    double *params, *grads, *adam_m, *adam_v;   /* AdamW moments */
    int step;                          /* optimizer steps taken */
    /* activations of the last forward (sized for batch·L = T) */
    int T, L, batch;
    double *x, *act;                   /* one arena for everything below */
    double **u, **K, **v, **g, **r, **mean, **rstd;   /* per layer; u[nlayers] = last output */
    double *y;
} s4d_model;

/* Tensor index of layer l's tensor k (LT_*), of the encoder/decoder. */
int s4d_tidx(const s4d_model *m, int l, int k);
#define S4D_ENC_W 0
#define S4D_ENC_B 1
int s4d_dec_w(const s4d_model *m);
double *s4d_param(s4d_model *m, int tidx);
double *s4d_grad(s4d_model *m, int tidx);

/* Allocate and initialize: eigenvalues from `init` (s4d_init_kind), log Δ log-uniform in
 * [log dt_min, log dt_max], B = 1, C ~ N(0, ½) per part, D ~ N(0, 1), linear layers
 * U(±1/√in), LayerNorm w = 1, b = 0. Seeded. */
void s4d_model_init(s4d_model *m, s4d_config cfg, int init, double dt_min, double dt_max,
                    unsigned long seed);
void s4d_model_free(s4d_model *m);

/* Size the activation buffers for batch·L rows (forward does this itself). */
void s4d_model_prepare(s4d_model *m, int batch, int L);

/* Forward on x (batch, L); returns the MSE against target (batch, L), or 0 if target is
 * NULL; y (T) is in m->y. */
double s4d_forward(s4d_model *m, const double *x, const double *target, int batch, int L);
/* Backward of the last forward's loss; grads are zeroed first. */
void s4d_backward(s4d_model *m, const double *target);

/* The pieces of one layer, exposed for the gradient checks: forward of layer l on
 * u (T, H) into out (T, H) and its backward (accumulating into du and m->grads). */
void s4d_layer_forward(s4d_model *m, int l);
void s4d_layer_backward(s4d_model *m, int l, const double *dout, double *du);

/* One AdamW step on the current grads (after clipping the global norm to clip > 0):
 * the SSM tensors (log Δ, A_re_log, A_im) use lr·ssm_lr_scale and no weight decay. */
void s4d_adamw_step(s4d_model *m, const adamw_cfg *cfg, double lr, double ssm_lr_scale,
                    double clip);

/* ---- the long-memory task: reproduce the input delayed by tau steps ----
 * x: band-limited noise (sum of 16 random sines with frequencies in (0, fmax] cycles
 * per step, unit variance); target_t = x_{t-τ} (0 for t < τ). The batch of step s is
 * drawn from seed and s only, so a resumed run sees the same data. */
void delay_task_batch(unsigned long seed, int step, int batch, int L, int tau, double fmax,
                      double *x, double *target);

/* Checkpoints (safetensors): every parameter by name, the AdamW moments
 * ("adam_m.<name>", "adam_v.<name>") and metadata {step, H, Nh, nlayers, extra...}.
 * Load exits 2 naming the file if the configuration differs. */
void s4d_save(const s4d_model *m, const char *path, const char *extra_meta);
void s4d_load(s4d_model *m, const char *path);
/* s4d_load, and the checkpoint's metadata must hold each "key":"value" pair of run_meta
 * (the extra_meta this run passes to s4d_save): a checkpoint of another run exits 2. */
void s4d_load_run(s4d_model *m, const char *path, const char *run_meta);

#endif
