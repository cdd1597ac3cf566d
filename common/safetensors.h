/* common/safetensors.h — checkpoints in the safetensors format (Hugging Face):
 * 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian data. Written atomically
 * (temporary name, then rename), so a crash never leaves a half-written file.
 * Reading validates everything and exits 2 with one line on a corrupt file. */
#ifndef COMMON_SAFETENSORS_H
#define COMMON_SAFETENSORS_H

#include <stddef.h>
#include "common/npy.h"

#define ST_MAX_TENSORS 4096

typedef struct {
    char name[160];
    npy_dtype dtype;        /* NPY_F32, NPY_F64, NPY_I32 or NPY_I64 */
    int ndim;
    size_t shape[NPY_MAX_DIMS];
    const void *data;       /* when writing: caller's buffer; when reading: into st_file.blob */
} st_tensor;

/* Write tensors[0..n) to path; `metadata` is an optional JSON object body of string
 * pairs, e.g. "\"step\":\"120\"" (may be NULL). */
void st_save(const char *path, const st_tensor *tensors, int n, const char *metadata);

typedef struct {
    int n;
    st_tensor *t;           /* n entries, allocated by st_load */
    char *metadata;         /* raw "__metadata__" JSON object text, or NULL */
    void *blob;             /* owns the data */
    char path[512];         /* the file it came from, for error messages */
} st_file;

/* Load and validate; exit 2 naming the file and problem on any error. */
void st_load(const char *path, st_file *f);
/* Find a tensor by name; exit 2 (naming the file and the tensor) if absent, or if
 * dtype/shape differ from the expected (ndim < 0 skips the shape check). Returns its data. */
const void *st_get(const st_file *f, const char *name, npy_dtype dtype, int ndim,
                   const size_t *shape);
/* Value of a metadata key into buf; returns 0 if found. */
int st_meta(const st_file *f, const char *key, char *buf, size_t len);
void st_free(st_file *f);

#endif
