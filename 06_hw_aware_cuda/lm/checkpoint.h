/* 06_hw_aware_cuda/lm/checkpoint.h — the model as a Hugging Face checkpoint directory
 * (config.json + model.safetensors, HF names, float32) plus optimizer.safetensors (AdamW's
 * m and v per tensor, the step). Host side only: no GPU needed, so bad files are found (and
 * tested) before a GPU is touched. The tensors are those of stage 05's table. */
#ifndef LM_CHECKPOINT_H
#define LM_CHECKPOINT_H

#include <stdint.h>

#include "05_selective_s6/mamba.h"
#include "06_hw_aware_cuda/lm/hf_config.h"

/* Stage 05's table, with weights initialised from seed (mamba_ssm's scheme), for a
 * configuration; exit 2 on one it cannot run. */
void lm_checkpoint_table(const hf_config *cfg, uint64_t seed, mamba_model *tab);
/* The same for stage 05's variants (kind MAMBA_S6 | MAMBA_LTI, no_gate): model.h §6.23 */
void lm_checkpoint_table_variant(const hf_config *cfg, uint64_t seed, int kind, int no_gate,
                                 mamba_model *tab);
/* Write DIR, replacing it atomically: w (and, with mo and vo, the moments and step). */
void lm_checkpoint_write(const char *dir, const hf_config *hf, const mamba_model *tab,
                         const float *w, const float *mo, const float *vo, int step);
/* Read DIR's tensors into w (and mo, vo, step when mo and vo are given). A missing,
 * truncated or mismatched file or tensor, or a non-finite value, exits 2 naming the file and
 * the tensor. */
void lm_checkpoint_read(const char *dir, const mamba_model *tab, float *w, float *mo, float *vo,
                        int *step);
/* Read DIR/config.json and validate the whole directory that way (exit 2 on a problem). */
void lm_checkpoint_check(const char *dir, int with_optimizer);

#endif
