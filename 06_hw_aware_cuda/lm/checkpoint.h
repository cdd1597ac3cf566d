/* 06_hw_aware_cuda/lm/checkpoint.h — the model as a Hugging Face checkpoint directory
 * (config.json + model.safetensors, HF names, float32) plus optimizer.safetensors. */
#ifndef LM_CHECKPOINT_H
#define LM_CHECKPOINT_H

#include "06_hw_aware_cuda/lm/model.h"

/* Write DIR (replacing it atomically); with_optimizer adds AdamW's moments and the step. */
void lm_save_checkpoint(const lm_model *m, const char *dir, int with_optimizer);
/* Load the weights (and with_optimizer the moments and step) of DIR into a model built from
 * DIR/config.json. A missing, truncated or mismatched file or tensor, or a non-finite value,
 * exits 2 naming the file and the tensor. */
void lm_load_checkpoint(lm_model *m, const char *dir, int with_optimizer);

#endif
