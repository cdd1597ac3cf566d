/* common/fuzz/readers.h — the file readers, one entry point each, as the fuzz harnesses
 * and the regression tests drive them. Each returns 0 for a valid file, or -1 with one
 * line "FILE: problem" in err, and leaves nothing allocated either way. Never exits. */
#ifndef COMMON_FUZZ_READERS_H
#define COMMON_FUZZ_READERS_H

#include <stddef.h>

int fuzz_read_npy(const char *path, char *err, size_t errlen);          /* common/npy.c */
int fuzz_read_json(const char *path, char *err, size_t errlen);         /* common/json.c */
int fuzz_read_safetensors(const char *path, char *err, size_t errlen);  /* common/safetensors.c */
/* kind: "npy", "json" or "safetensors"; -2 for an unknown kind. */
int fuzz_read(const char *kind, const char *path, char *err, size_t errlen);

#endif
