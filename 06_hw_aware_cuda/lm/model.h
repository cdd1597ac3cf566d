/* 06_hw_aware_cuda/lm/model.h — the Mamba language model (transformers' MambaForCausalLM) on
 * one NVIDIA GPU: parameters, activations, forward, backward, AdamW. Equation numbers refer
 * to chapters/06_hw_aware_cuda_lm.md.
 *
 *   x₀ = E[tokens]                                                   (6.8)
 *   per layer l:  h = RMSNorm(x_l)                                      (6.9)
 *                 [x | z] = in_proj(h)        x, z: (batch, D, L)        (6.12)
 *                 u = SiLU(conv1d(x) + b)                                (6.11)
 *                 [δ_low | B | C] = x_proj(u);  δ = dt_proj(δ_low)        (6.12)
 *                 y = S6(u, δ, A = −exp(A_log), B, C, D, z, dt bias)     part 1, (5.1)–(5.6)
 *                 x_{l+1} = x_l + out_proj(y)                            (6.12)
 *   logits = RMSNorm_f(x_n) Eᵀ;  loss = mean cross-entropy               (6.14)
 *
 * Parameters: one flat float32 buffer on the device in the order of stage 05's table
 * (05_selective_s6/mamba.h: Hugging Face names, shapes, offsets, which tensors decay), so
 * checkpoints, AdamW and clipping walk one table. The host keeps stage 05's model as the
 * table and the initialiser (mamba_ssm's initialisation).
 *
 * Activations (float32, device), carved from one allocation; T = batch · L, D = d_inner.
 * Kept for the backward, per layer:
 *   x       (n_layer+1, T, d_model)  residual stream entering each layer (the last: norm_f)
 *   rstd    (n_layer+1, T)           1/RMS of each
 *   xin, z  (n_layer, batch, D, L)     conv input, gate
 *   y_op    (n_layer, D, T)          gated scan output, as out_proj's operand (bf16 in bf16
 *                                    mode: §6.18; the scan's backward does not read it)
 *   dtl     (n_layer, batch, R, L);  Bm, Cm (n_layer, batch, N, L)
 *   chunk   (n_layer, batch, D, nchunks, N)  the scan's saved chunk-end states
 * One layer's worth only, recomputed by the backward from the kept ones (§6.13: cheap ops
 * that save 15.4 KB of the 37.2 KB a token and layer held at the 130m shape):
 *   hn (T, d_model) = RMSNorm(x_l);  u (batch, D, L) = SiLU(conv1d(xin_l));
 *   delta (batch, D, L) = dt_proj(dtl_l) (δ before its bias and softplus)
 *   hf (T, d_model), losses (T); logits: a separate buffer of logits_rows × V, the head's
 *   chunk of tokens (the whole T only for a forward without targets, whose logits are read)
 * and one layer's worth of gradient buffers for the backward, and of the matmuls' staged
 * operands (§6.18: bf16 copies in bf16 mode, and the (C, T) regrouping in both modes). */
#ifndef LM_MODEL_H
#define LM_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "06_hw_aware_cuda/lm/hf_config.h"
#include "06_hw_aware_cuda/lm/kernels.h"

struct lm_layer {
    float *norm_w, *in_proj_w, *conv_w, *conv_b, *x_proj_w, *dt_proj_w, *dt_proj_b, *A_log,
        *Dskip, *out_proj_w;
    float *B, *C;              /* the LTI variant's fixed B, C (D, N); NULL for S6 */
};

typedef struct {
    float *x, *rstd, *hn, *xin, *z, *u, *delta, *y, *dtl, *Bm, *Cm, *chunk;
    float *hf, *logits, *losses;
    /* backward, one layer at a time */
    float *dx, *dhn;                               /* (T, d_model) */
    float *dy, *du, *ddelta, *dz, *g;              /* (batch, D, L) (conv's dx: in o_big) */
    float *ddtl, *dB, *dC;                         /* (batch, R, L), (batch, N, L) ×2 */
    float *dA, *dDskip, *ddt_b;                    /* (D, N), (D), (D): the scan's, per layer */
    /* §6.18 the matmuls' operands, staged (lm_stage_*) in the operand type: bf16 in bf16
     * mode, else float32; the (C, T) ones regrouped from (batch, C, L), all tokens of a
     * channel in one row. One layer's worth, reused: */
    void *o_hn, *o_dx;                             /* (T, d_model), bf16 mode only */
    void *o_u, *o_dtl, *o_p;                       /* (D, T), (R, T), (R + 2N, T) */
    void *o_big;                                   /* (2D, T): dδ, then [dxin; dz] */
    void *y_op;                                    /* (n_layer, D, T): y, KEPT for dW_out */
    void *o_dl;                                    /* (logits_rows, V) bf16: the head's dℓ */
    int *tokens, *targets;                         /* (T) */
    int *emb_order, *emb_rows, *emb_starts;        /* (T), (T), (T + 1): the tokens sorted */
    int *emb_segs, *emb_seg_lo, *emb_seg_hi;       /* (T + 1), (NS), (NS): the segments of */
    float *emb_part;                               /* frequent tokens, their sums (NS, d_model) */
    int *emb_counts;                               /* {distinct tokens, segments} (device) */
    int emb_unique, emb_nseg;                      /* ... of the last forward (host) */
    float *norm_ws, *conv_ws;                      /* RMSNorm's and conv1d's dw partial sums */
    float *lti_ck, *lti_ws;                        /* §6.23 LTI: kept states, backward sums */
} lm_acts;

typedef struct {
    hf_config hf;
    int kind, no_gate;         /* §6.23 stage 05's variant: MAMBA_S6 | MAMBA_LTI; 1: no SiLU(z) */
    mamba_model host;          /* stage 05's table and initialiser; host copy of the weights */
    int n_layer, dm, D, N, R, K, V;
    float eps;
    size_t n_params;
    float *params, *grads, *opt_m, *opt_v;       /* device, n_params each */
    float *A;                                    /* (n_layer, D, N): −exp(A_log) */
    struct lm_layer *layer, *glayer;             /* pointers into params / grads */
    float *emb, *norm_f_w, *gemb, *gnorm_f_w;
    float *partials;                             /* LM_NORM_BLOCKS per tensor for the norm */
    int batch, L;                                /* the activations' shape (0: none yet) */
    void *act_base;
    int op_bf16;                                 /* the last forward's operand type (1: bf16) */
    void *wbf16;                                 /* bf16 mirror of params (bf16 mode) */
    int wbf16_valid;                             /* ... equal to params (AdamW writes both) */
    unsigned long long *seg_end;                 /* AdamW's decay segments (device), */
    unsigned char *seg_decay;                    /* made on its first step */
    int nseg;
    int logits_rows;                             /* tokens the logits buffer holds */
    int dl_rows;                                 /* ... and the bf16 dℓ buffer (a.o_dl) */
    int scan_bwd;                                /* LM_SCAN_BWD_*: which scan backward */
    int scan_bwd_used;                           /* ... and the one this shape uses */
    void *scan_ws;                               /* the v6 backward's checkpoints */
    size_t scan_ws_bytes;
    lm_acts a;
    int *ints_h;                                 /* host mirror of the batch's int block */
    lm_opt_scalars *opt_sc;                      /* §6.24 the optimizer step's values (device) */
    struct lm_step_graph *graph;                 /* §6.24 the captured step, if any */
    int step;                                    /* optimizer steps taken */
} lm_model;

/* The scan backward the model calls (part 1's). AUTO is v7: parallel over the sequence,
 * its sums over blocks in a fixed order, so two runs give the same bits (the bit-exact
 * --resume of §6.20 rests on it) — and on the H200 the fastest at 8 × 2048 and 4 × 8192
 * (results/lm/bench_lm_v7.tsv). FUSED (the fused kernel's, whole chunks per block: 3/4 of its
 * threads idle at L = 512) and V6 add dB, dC, dA, dD and the δ bias over blocks with float
 * atomics, in whatever order the blocks finish: two runs differ in the last bits. v6 and v7
 * need N a power of two; for any other N every choice is FUSED.
 * lm_build takes the choice from the environment variable LM_SCAN_BWD (auto, fused, v6,
 * v7), so every command can run with any of them; a caller may set m->scan_bwd after. */
enum { LM_SCAN_BWD_AUTO = 0, LM_SCAN_BWD_FUSED = 1, LM_SCAN_BWD_V6 = 2, LM_SCAN_BWD_V7 = 3 };
/* Their names, and the LM_SCAN_BWD_* of a name or -1 (header-only: main.c parses the flag
 * in builds without CUDA too). */
static inline const char *lm_scan_bwd_label(int k)
{
    static const char *const names[] = {"auto", "fused", "v6", "v7"};
    return k >= 0 && k < 4 ? names[k] : "?";
}
static inline int lm_scan_bwd_find(const char *name)
{
    for (int k = 0; k < 4; k++)
        if (!strcmp(name, lm_scan_bwd_label(k))) return k;
    return -1;
}
/* The global gradient norm's partial sums (one launch over the flat gradient buffer) */
#define LM_OPT_NORM_BLOCKS 1024
/* The head's chunk: the logits of this many tokens at a time during training (§6.14). */
#define LM_HEAD_ROWS 4096

/* Build from a configuration; the weights initialised as mamba_ssm does (stage 05's
 * mamba_init with this seed). Exits 2 naming the field on a configuration it cannot run. */
void lm_build(lm_model *m, const hf_config *cfg, uint64_t seed);
/* §6.23 The same block with stage 05's variants for the synthetic tasks: kind MAMBA_LTI (Δ, B,
 * C input-independent learned parameters, S4D-Real in the block; N a power of two <= 32) and/or
 * no_gate (out_proj(y) without the SiLU(z) gate; in_proj then gives only x). Their parameter
 * tables are stage 05's (LTI: mixer.B, mixer.C, no x_proj/dt_proj), which are not Hugging Face
 * models: lm_save_checkpoint refuses them. lm_build is lm_build_variant(MAMBA_S6, 0). */
void lm_build_variant(lm_model *m, const hf_config *cfg, uint64_t seed, int kind, int no_gate);
void lm_free(lm_model *m);
/* Host weights (m->host.params, in `real`) to the device, and back. */
void lm_upload(lm_model *m);
void lm_download(lm_model *m);

/* Forward over tokens (batch, L) on the host. With targets (−1 = ignored) returns the mean
 * loss over the counted tokens; dscale ≠ 0 (pass 1/(counted tokens · micro-batches)) makes
 * the head's backward run here, chunk by chunk, as the classifier leaves dscale ·
 * ∂loss_sum/∂ℓ: the tied embedding's head gradient is ACCUMULATED into m->grads now and
 * ∂loss/∂h_f kept for lm_backward. */
double lm_forward(lm_model *m, const int *tokens, const int *targets, int batch, int L,
                  float dscale);
/* Backward of the last forward (run with dscale ≠ 0): ACCUMULATES into m->grads. */
void lm_backward(lm_model *m);
void lm_zero_grad(lm_model *m);
/* Copy the logits (T · V floats) of the last forward WITHOUT targets to the host (a forward
 * with targets keeps only the head's last chunk of tokens). */
void lm_get_logits(const lm_model *m, float *out);
/* §6.13 The device memory the model holds (GiB, returned); with a prefix also printed
 * buffer by buffer, one line each: "<prefix>mem<TAB>name (shape)<TAB>GiB", and the total. */
double lm_memory_report(const lm_model *m, const char *prefix);

/* DIR as a Hugging Face checkpoint (checkpoint.h), written atomically; with_optimizer adds
 * AdamW's moments and the step. Loading exits 2 naming file and tensor on a bad file. */
void lm_save_checkpoint(const lm_model *m, const char *dir, int with_optimizer);
void lm_load_checkpoint(lm_model *m, const char *dir, int with_optimizer);

typedef struct {
    double lr, lr_min, weight_decay, beta1, beta2, eps, clip;
    int warmup, steps;
} lm_train_cfg;
/* (6.16)–(6.17) Global-norm clipping, then AdamW at the scheduled learning rate; returns the
 * gradient norm before clipping. */
double lm_opt_step(lm_model *m, const lm_train_cfg *tc);

/* §6.24 The training step — zero the gradients, forward with the head's backward, backward,
 * clipping and AdamW at the schedule — captured once as a CUDA graph and replayed: the same
 * kernels with the same arguments as lm_zero_grad + lm_forward + lm_backward + lm_opt_step,
 * so the same losses and weights, bit for bit (tests/test_lm_gpu.c), without their ~100
 * launches and host round trips a step. Built on the first batch (run once ungraphed,
 * without changing the weights, so every buffer exists before the capture). While the model
 * has a graph its buffers are fixed: it runs no other shape (evaluate a copy of its weights).
 * lm_graph_launch stages a batch (tokens checked, exit 2 as lm_forward) and starts the step
 * on the graph's own stream, so the steps of several models' graphs run at once;
 * lm_graph_wait waits for it and returns its mean loss. A launch must be waited for before
 * the next. */
typedef struct lm_step_graph lm_step_graph;
lm_step_graph *lm_graph_build(lm_model *m, const int *tokens, const int *targets, int batch,
                              int L, float dscale, const lm_train_cfg *tc);
void lm_graph_launch(lm_step_graph *g, const int *tokens, const int *targets);
double lm_graph_wait(lm_step_graph *g);
void lm_graph_free(lm_step_graph *g);       /* also done by lm_free */

#endif
