/* common/fuzz/fuzz_hf_config.c — libFuzzer harness for config.json of MambaForCausalLM
 * (06_hw_aware_cuda/lm/hf_config.c): hf_config_parse on the input as text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    hf_config c;
    hf_config_defaults(&c);
    char err[512];
    hf_config_parse(text, "config.json", &c, err, sizeof err);
    free(text);
    return 0;
}
