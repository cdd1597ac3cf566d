/* 06_hw_aware_cuda/lm/hf_config.h — a Mamba model's configuration as Hugging Face writes it
 * (config.json of MambaForCausalLM), with transformers' MambaConfig defaults for every
 * field the file leaves out. Read and written with cJSON.
 *
 *   vocab_size 50280, hidden_size 768, state_size 16, num_hidden_layers 32, expand 2,
 *   conv_kernel 4, time_step_rank "auto" = ⌈hidden_size/16⌉, layer_norm_epsilon 1e-5,
 *   use_bias false, use_conv_bias true, hidden_act "silu", initializer_range 0.1,
 *   residual_in_fp32 true, time_step_scale 1, time_step_min 1e-3, time_step_max 0.1,
 *   time_step_init_scheme "random", time_step_floor 1e-4, rescale_prenorm_residual false,
 *   tie_word_embeddings true, pad/bos/eos_token_id 0; intermediate_size = expand·hidden_size.
 *
 * Fields this implementation cannot run (use_bias true, an untied head, an activation other
 * than SiLU) are rejected by name rather than silently ignored. */
#ifndef LM_HF_CONFIG_H
#define LM_HF_CONFIG_H

#include <stddef.h>

typedef struct {
    int vocab_size, hidden_size, state_size, num_hidden_layers, expand, conv_kernel;
    int time_step_rank;            /* resolved: "auto" becomes ⌈hidden_size/16⌉ */
    int intermediate_size;         /* derived: expand · hidden_size */
    double layer_norm_epsilon, initializer_range;
    double time_step_scale, time_step_min, time_step_max, time_step_floor;
    int use_bias, use_conv_bias, residual_in_fp32, rescale_prenorm_residual;
    int tie_word_embeddings;
    int pad_token_id, bos_token_id, eos_token_id;
    char hidden_act[16], time_step_init_scheme[16];
} hf_config;

/* transformers' MambaConfig() defaults (the 130m shape but 32 layers, as HF has it). */
void hf_config_defaults(hf_config *c);
/* Parse config.json text; fields absent keep their defaults. Returns 0, or -1 with one line
 * in err naming `path` and the field ("config.json: hidden_size: expected an integer >= 1,
 * got -3"). Never exits. */
int hf_config_parse(const char *text, const char *path, hf_config *c, char *err, size_t errlen);
/* Read the file; exit 2 with that line on any problem. */
void hf_config_read(const char *path, hf_config *c);
/* Write config.json as transformers' save_pretrained does (model_type "mamba",
 * architectures ["MambaForCausalLM"], every field), atomically. */
void hf_config_write(const char *path, const hf_config *c);

#endif
