/* 06_hw_aware_cuda/lm/kernels.h — the layer kernels of the GPU language model, one file per
 * layer kind as llm.c's llmc/: matmul.cu (cuBLAS), rmsnorm.cu, conv1d.cu, classifier.cu,
 * adamw.cu, encoder.cu (embedding, the A = −exp(A_log) map, small element-wise steps). The
 * selective scan is part 1's (06_hw_aware_cuda/scan/scan_gpu.h), called by model.c.
 * Equation numbers refer to chapters/06_hw_aware_cuda_lm.md.
 *
 * All pointers are DEVICE pointers, float32, row-major. T = batch · L tokens. The residual
 * stream and everything the matmuls read token by token is (T, d_model); inside the mixer
 * the activations are channel-major (batch, channels, L), the scan's layout. Forward and
 * backward of each op sit side by side. Every launcher checks the launch and exits 1 with
 * the CUDA error (a failed kernel is a bug, not bad input). Backward launchers ACCUMULATE
 * into parameter gradients (+=), so gradient accumulation over micro-batches is free. */
#ifndef LM_KERNELS_H
#define LM_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit 1 naming the call site if the last CUDA call or launch failed. */
void lm_cuda_check(int err, const char *what, const char *file, int line);
#define LM_CUDA(call) lm_cuda_check((int)(call), #call, __FILE__, __LINE__)

/* §6.24 The stream every launcher of this folder (and cuBLAS) enqueues on: NULL, the legacy
 * default stream, except while a training step is captured into a CUDA graph (model.c:
 * cudaStreamPerThread, the stream part 1's scan kernels run on — this folder compiles them
 * with --default-stream per-thread — and the one stream a capture may not be is the legacy). */
void lm_set_stream(void *stream);
void *lm_get_stream(void);
/* cuBLAS's workspace: NULL gives back the default one (LM_CUBLAS_WS bytes, made with the
 * handle); a captured step names its own, so graphs of several models may run at once. */
#define LM_CUBLAS_WS ((size_t)32 << 20)
void lm_matmul_set_workspace(void *ws);

/* ---- matmul.cu: C = α·op(A)·op(B) + β·C, row-major, batched with strides (stride 0: the
 * same matrix for every batch entry). op(X) = Xᵀ when transX. lda etc. are row strides. */
void lm_matmul(int transA, int transB, int M, int N, int K, const float *A, int lda,
               long long strideA, const float *B, int ldb, long long strideB, float *C,
               int ldc, long long strideC, int batch, float alpha, float beta);
/* The same with the operands' type stated: bf16_operands = 1: A and B are bf16 arrays
 * (float32 accumulation and output, the tensor cores); 0: float32, as lm_matmul. */
void lm_gemm(int transA, int transB, int M, int N, int K, const void *A, int lda,
             long long strideA, const void *B, int ldb, long long strideB, float *C, int ldc,
             long long strideC, int batch, float alpha, float beta, int bf16_operands);
/* (6.18) Operand staging for lm_gemm. lm_stage_bf16: n floats -> bf16 (round to nearest).
 * lm_stage_regroup: a (batch, C, L) array -> rows c0 … c0+C−1 of a (Ctot, batch·L) array
 * (bf16 or float32): the channel-major layout of the mixer with all tokens of a channel in
 * one row, so a weight gradient is ONE matmul over the batch·L tokens and a per-sequence
 * product a strided batch of them (row stride batch·L, stride L). Timed as "cast". */
void lm_stage_bf16(void *dst, const float *src, size_t n);
void lm_stage_regroup(void *dst, int bf16, const float *src, int batch, int C, int L, int c0);
void lm_matmul_destroy(void);
/* (6.18) Mixed precision of the matmuls: 0 = float32 arithmetic (the default, no TF32);
 * 1 = bf16 on the tensor cores (inputs rounded to bf16, float32 accumulation, cuBLAS's
 * COMPUTE_32F_FAST_16BF). Applies to every later lm_matmul. */
void lm_set_matmul_bf16(int on);
int lm_matmul_bf16(void);                /* the mode set last */
/* The nominal peak of the matmuls' arithmetic (bf16 tensor cores, or float32 CUDA cores),
 * TFLOP/s, from the SM count and clock (sm_90; 0 elsewhere): what the progress line's MFU is
 * against, since a measurement on a shared GPU is not a ceiling. */
double lm_nominal_peak_tflops(int bf16);
/* The bf16 tensor-core ceiling: an 8192³ bf16 × bf16 product (median of 7), TFLOP/s. */
double lm_measure_bf16_peak_tflops(void);

/* ---- rmsnorm.cu: (6.9) y = x · r · w, r = (mean(x²) + ε)^−½ per token ---- */
void lm_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int T, int C,
                        float eps);
/* dx += ∂/∂x (the residual's gradient passes through, so the add is fused: (6.10));
 * dw += Σ_t dy·x·r. */
void lm_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         const float *rstd, int T, int C);
void lm_rmsnorm_release(void);   /* frees the backward's workspace */
/* §6.18 the same, y written as bf16 only (the matmul operand), and the backward also
 * writing the new dx as bf16 to dx16 (NULL: not) */
void lm_rmsnorm_forward_bf16(void *y, float *rstd, const float *x, const float *w, int T, int C,
                             float eps);
void lm_rmsnorm_backward_to(float *dx, void *dx16, float *dw, const float *dy, const float *x,
                            const float *w, const float *rstd, int T, int C, float *ws);
/* ws: the dw partial sums, lm_rmsnorm_workspace_floats(T, C) of them (NULL: this file's own
 * buffer; a model passes its own, so that graphs of several models may run at once) */
size_t lm_rmsnorm_workspace_floats(int T, int C);

/* ---- conv1d.cu: (6.11) u = SiLU(b + Σ_k w_k x_{t−K+1+k}), causal, depthwise, (batch, D, L) */
void lm_conv1d_silu_forward(float *u, const float *x, const float *w, const float *b, int batch,
                            int D, int L, int K);
/* dx (overwritten), dw (D, K) and db (D) accumulated (db may be NULL with b NULL);
 * g: (batch, D, L) workspace for the gradient at the SiLU's input. */
void lm_conv1d_silu_backward(float *dx, float *dw, float *db, float *g, const float *du,
                             const float *x, const float *w, const float *b, int batch, int D,
                             int L, int K);
void lm_conv1d_release(void);    /* frees the weight gradient's partial sums */
/* §6.18 the same, also writing u (forward) or dx (backward) in the (D, batch·L) layout of
 * lm_stage_regroup to *_ct (bf16 if ct_bf16, else float32; NULL: not). The backward's dx
 * may be NULL when only the copy is wanted. */
void lm_conv1d_silu_forward_ct(float *u, void *u_ct, int ct_bf16, const float *x, const float *w,
                               const float *b, int batch, int D, int L, int K);
void lm_conv1d_silu_backward_ct(float *dx, void *dx_ct, int ct_bf16, float *dw, float *db,
                                float *g, const float *du, const float *x, const float *w,
                                const float *b, int batch, int D, int L, int K, float *ws);
/* ws: the weight gradient's partial sums, lm_conv1d_workspace_floats() (NULL: this file's) */
size_t lm_conv1d_workspace_floats(int batch, int D, int L, int K);

/* ---- classifier.cu: (6.14) per token, loss_t = logsumexp(ℓ_t) − ℓ_t[y_t] (0 where y_t < 0);
 * with dscale ≠ 0 it then OVERWRITES the logits with their gradient dscale·(softmax − onehot),
 * so no probabilities are ever stored. ----  */
void lm_classifier(float *logits, float *losses, const int *targets, int T, int V, float dscale);
/* The same, the gradient written as bf16 to dlogits (T, V) instead (the logits are left as
 * they were): the head's backward matmuls read it as their bf16 operand. */
void lm_classifier_bf16(float *logits, float *losses, const int *targets, int T, int V,
                        float dscale, void *dlogits);

/* ---- encoder.cu ---- */
/* x[t] = E[tokens[t]] (6.8) and its backward dE[v] += Σ dx[t] over the positions t of token
 * v (deterministic: no atomics, a fixed order). order: the T positions sorted stably by
 * token; rows: the U distinct tokens; starts (U + 1): where each one's positions begin.
 * A token with more than LM_EMB_SEG positions is summed in segments of LM_EMB_SEG positions
 * (nseg of them, positions seg_lo[s] … seg_hi[s]−1 of order, into part (nseg, C)), then its
 * segments in order; segs (U + 1): token j's segments are segs[j] … segs[j+1]−1 (none: its
 * positions are summed directly, in increasing t). */
#define LM_EMB_SEG 256
void lm_embedding_forward(float *x, const float *E, const int *tokens, int T, int C);
void lm_embedding_backward(float *dE, const float *dx, const int *order, const int *rows,
                           const int *starts, const int *segs, const int *seg_lo,
                           const int *seg_hi, float *part, int U, int nseg, int C,
                           const int *counts);
/* counts: NULL, or (device) {U, nseg} of the batch, U and nseg above then only the grid's
 * upper bounds (§6.24: a captured launch cannot follow the batch's counts) */
/* A = −exp(A_log), n elements (6.13) */
void lm_neg_exp(float *A, const float *A_log, size_t n);
/* dA_log += dA · A (the chain rule through A = −exp(A_log)); y += x */
void lm_dA_log_accumulate(float *dA_log, const float *dA, const float *A, size_t n);
void lm_add(float *y, const float *x, size_t n);
/* y += x_0 + x_1 + … + x_{nparts−1} (x_k = x + k·n), added in that order; timed as `kind` */
void lm_add_parts(float *y, const float *x, int nparts, size_t n, int kind);
/* Uniform values in [lo, hi) from a hash of (index, seed): test and benchmark inputs. */
void lm_fill_uniform(float *x, size_t n, unsigned long long seed, float lo, float hi);

/* ---- scan_lti.cu: §6.23 the LTI variant's SSM (stage 05's MAMBA_LTI): per channel
 * Δ = softplus(δ_bias), Ā = exp(ΔA), B̄ = ΔB fixed in time; h_t = Ā h_{t−1} + B̄ u_t,
 * y_t = (Σ_n C h_t + D u_t)·SiLU(z_t) (z NULL: no gate). u, z, y (batch, D, L); A, B, C (D, N);
 * Dskip, dt_b (D). N a power of two <= 32 (else exit 2). ck: lm_lti_checkpoint_floats() of
 * states kept by the forward for the backward. The backward overwrites du (and dz with z)
 * and ACCUMULATES dA_log (through A = −exp(A_log)), dB, dC, dDskip, ddt_b, with a workspace ws
 * of lm_lti_workspace_floats(); its sums are in a fixed order (the same bits every run). */
size_t lm_lti_checkpoint_floats(int batch, int D, int L, int N);
size_t lm_lti_workspace_floats(int batch, int D, int N);
void lm_lti_scan_forward(float *y, float *ck, const float *u, const float *z, const float *A,
                         const float *B, const float *C, const float *Dskip, const float *dt_b,
                         int batch, int D, int L, int N);
void lm_lti_scan_backward(float *du, float *dz, float *dA_log, float *dB, float *dC,
                          float *dDskip, float *ddt_b, float *ws, const float *dout,
                          const float *ck, const float *u, const float *z, const float *A,
                          const float *B, const float *C, const float *Dskip, const float *dt_b,
                          int batch, int D, int L, int N);

/* ---- adamw.cu: (6.16) torch.optim.AdamW's update, on one tensor of n parameters ---- */
void lm_adamw(float *p, float *m, float *v, const float *g, size_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, float grad_scale, int t);
/* Σ g² over n elements as fixed per-block partial sums (the host adds them in double, so
 * the norm is the same on every run); partials holds LM_NORM_BLOCKS floats. */
#define LM_NORM_BLOCKS 256
void lm_sumsq_partials(float *partials, const float *g, size_t n);
void lm_sumsq_partials_n(float *partials, const float *g, size_t n, int nblocks);
/* AdamW over a whole flat buffer in one launch: segment j covers [seg_end[j−1], seg_end[j])
 * (seg_end[−1] = 0, the last = n) and decays iff seg_decay[j]; p16 (may be NULL) receives
 * the new weights as bf16. */
void lm_adamw_flat(float *p, float *m, float *v, const float *g, void *p16, size_t n,
                   const unsigned long long *seg_end, const unsigned char *seg_decay, int nseg,
                   float lr, float beta1, float beta2, float eps, float weight_decay,
                   float grad_scale, int t);

/* §6.24 The same with the step's values in device memory (a captured step reads them there):
 * lr and the bias corrections written by the host (lm_opt_bias, as lm_adamw_flat computes
 * them), the clipping factor by the device from the norm's partial sums (lm_clip_scale: added
 * in double in block order, clip_grad_norm_'s max_norm / (norm + 1e-6) capped at 1; norm kept). */
typedef struct {
    float lr, bc1, sqrt_bc2, grad_scale;
    double norm;
} lm_opt_scalars;
void lm_opt_bias(lm_opt_scalars *s, double lr, float beta1, float beta2, int t);
void lm_clip_scale(lm_opt_scalars *s, const float *partials, int nparts, double clip);
void lm_adamw_flat_dev(float *p, float *m, float *v, const float *g, void *p16, size_t n,
                       const unsigned long long *seg_end, const unsigned char *seg_decay, int nseg,
                       float beta1, float beta2, float eps, float weight_decay,
                       const lm_opt_scalars *s);

/* ---- the time split by layer kind (model.c): off unless lm_profile(1) ---- */
enum { LM_K_MATMUL, LM_K_SCAN, LM_K_CONV, LM_K_NORM, LM_K_CLASSIFIER, LM_K_OPTIMIZER,
       LM_K_CAST, LM_K_OTHER, LM_NKINDS };
void lm_profile(int on);                 /* on: reset the sums and start bracketing */
void lm_profile_read(double ms[LM_NKINDS]);
const char *lm_kind_name(int kind);
void lm_prof_begin(void);                /* around one op; both no-ops when off */
void lm_prof_end(int kind);

#ifdef __cplusplus
}
#endif

#endif
