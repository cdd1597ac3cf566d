/* common/fuzz/fuzz_tokenizer.c — libFuzzer harness for tokenizer.json
 * (06_hw_aware_cuda/lm/tokenizer.c): tokenizer_load_from_memory on the input bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    tokenizer *t = tokenizer_load_from_memory((const char *)data, size, "tokenizer.json", err, sizeof err);
    if (t) tokenizer_free(t);
    return 0;
}
