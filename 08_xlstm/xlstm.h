/* 08_xlstm/xlstm.h — the xLSTM residual blocks and the xLSTM language model on the CPU,
 * forward and hand-written backward side by side, in `real`.
 *
 * mLSTM block, pre up-projection (paper Fig. 10), (8.12):
 *     x̂ = LN(x);  [x_m | z] = x̂ W_upᵀ                       up-projection ×m_expand
 *     x_c = SiLU(conv_causal(x_m) + b_conv)                   depthwise, width d_conv
 *     q = x_c W_qᵀ,  k = x_c W_kᵀ,  v = x_m W_vᵀ              W_q, W_k, W_v block-diagonal:
 *                                                             blocks of qkv_block × qkv_block
 *     [ĩ | f̃] = [q k v] W_gᵀ + b_g                             one ĩ, f̃ per head
 *     h̃ = mLSTM(q, k/√dh, v, ĩ, f̃) per head                    (8.9), parallel form
 *     out = (GN(h̃) + s ⊙ x_c) ⊙ SiLU(z)                       GN: per-head norm; s: learnable skip
 *     y = x + out W_downᵀ
 * sLSTM block, post up-projection (paper Fig. 9), (8.13):
 *     x̂ = LN(x);  x_c = SiLU(conv_causal(x̂) + b_conv)
 *     [ĩ f̃ | z̃ õ] = [x_c W_ifᵀ | x̂ W_zoᵀ] + b,  then + R hₜ₋₁  (8.2)
 *     x₁ = x + GN(sLSTM(...))                                  (8.3)–(8.6)
 *     y = x₁ + (GeLU(a) ⊙ g) W_ffdownᵀ,  [a | g] = LN(x₁) W_ffupᵀ   gated MLP, width ≈ 4/3·d
 * LM (8.14): x₀ = E[tokens]; blocks; logits = LN(x_n) Eᵀ (head tied to the embedding).
 * xLSTM[a:b]: b of every a+b blocks are sLSTM; which ones: xlstm_config_finish.
 *
 * Parameters live in one flat buffer described by a table (name, shape, offset), so
 * AdamW, clipping and gradient checks treat them uniformly. */
#ifndef XLSTM_H
#define XLSTM_H

#include <stddef.h>
#include <stdint.h>
#include "common/nn.h"
#include "common/real.h"

#define XLSTM_MAX_LAYERS 64

typedef struct {
    int vocab, d_model, n_layer;
    int ratio_m, ratio_s;   /* xLSTM[ratio_m : ratio_s] */
    int n_heads;            /* heads of both cells (default 4) */
    int d_conv;             /* causal conv width (default 4) */
    int m_expand;           /* mLSTM up-projection factor (default 2) */
    int qkv_block;          /* mLSTM W_q, W_k, W_v: block-diagonal with square blocks of this
                               size (default 4, the paper's; d_inner = dense), stored
                               (d_inner/qkv_block, qkv_block, qkv_block) */
    int s_exp_forget;       /* sLSTM forget gate: 1 exp, 0 sigmoid (default 0 = sigmoid) */
    /* derived */
    int d_inner;            /* m_expand · d_model */
    int d_ff;               /* sLSTM block's gated MLP width ⌈4/3·d_model⌉ */
    int n_slstm;
    unsigned char is_slstm[XLSTM_MAX_LAYERS];
} xlstm_config;

/* Fill defaults and derived sizes, place the sLSTM blocks; exit 2 naming the field on
 * an invalid configuration. Placement: n_s = round(n_layer·b/(a+b)), at least 1 if b > 0;
 * block l is sLSTM iff it ends one of n_s equal spans: l = ⌈(j+1)·n_layer/n_s⌉ − 1. */
void xlstm_config_finish(xlstm_config *c);

#define XLSTM_MAX_TENSORS 1024

typedef nn_tensor xlstm_tensor;   /* a parameter tensor (common/nn.h) */

/* pointers into params (or grads) for one block; NULL where the block kind has none */
typedef struct {
    real *norm_w, *conv_w, *conv_b, *gn_w;
    /* mLSTM */
    real *up_w, *q_w, *k_w, *v_w, *gate_w, *gate_b, *skip, *down_w;
    /* sLSTM */
    real *if_w, *zo_w, *bias, *R, *ffn_norm_w, *ffn_up_w, *ffn_down_w;
} xlstm_layer;

typedef struct xlstm_acts xlstm_acts;

typedef struct {
    xlstm_config cfg;
    int n_tensors;
    xlstm_tensor t[XLSTM_MAX_TENSORS];
    size_t n_params;
    real *params, *grads;
    xlstm_layer layer[XLSTM_MAX_LAYERS], glayer[XLSTM_MAX_LAYERS];
    real *emb, *norm_f_w, *gemb, *gnorm_f_w;
    int act_B, act_L;
    xlstm_acts *acts;
} xlstm_model;

void xlstm_init(xlstm_model *m, const xlstm_config *cfg, uint64_t seed);
void xlstm_free(xlstm_model *m);

/* Forward over tokens (B, L); returns the mean cross-entropy over targets ≥ 0 (0 if
 * targets is NULL). Logits of the last forward: xlstm_logits, (B·L, vocab). */
double xlstm_forward(xlstm_model *m, const int *tokens, const int *targets, int B, int L);
const real *xlstm_logits(const xlstm_model *m);
/* Backward of the last forward: ACCUMULATES into m->grads. */
void xlstm_backward(xlstm_model *m, const int *tokens, const int *targets);

/* ---- training: AdamW with warm-up + cosine, clipping ---- */
typedef train_cfg xlstm_train_cfg;   /* common/nn.h's AdamW over the table */
typedef adamw_state xlstm_opt;
void xlstm_opt_init(xlstm_opt *o, const xlstm_model *m);
void xlstm_opt_free(xlstm_opt *o);
double xlstm_opt_step(xlstm_model *m, xlstm_opt *o, const xlstm_train_cfg *tc);

#endif
