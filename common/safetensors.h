/* common/safetensors.h — checkpoints in the safetensors format (Hugging Face):
 * 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian data. Written atomically
 * (temporary name, then rename), so a crash never leaves a half-written file.
 * Reading validates the whole file against the format before allocating anything
 * sized by it (a regular file; header length, shapes and data_offsets as whole
 * numbers inside the file; ranges tiling the data without gap or overlap; metadata
 * an object of strings) and exits 2 with one line naming the file and tensor. */
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
    char *metadata;         /* "__metadata__" as key\x1fvalue\x1e records, or NULL */
    unsigned char *used;    /* n flags: st_get asked for the tensor (st_done rejects the others) */
    void *blob;             /* owns the data */
    char path[512];         /* the file it came from, for error messages */
} st_file;

/* Read and validate: 0, or -1 with one line "FILE: problem" in err (nothing left
 * allocated). Never exits: the fuzz harness calls it. */
int st_read(const char *path, st_file *f, char *err, size_t errlen);
/* st_read, exiting 2 with its line on any error. */
void st_load(const char *path, st_file *f);
/* Find a tensor by name; exit 2 (naming the file and the tensor) if absent, or if
 * dtype/shape differ from the expected (ndim < 0 skips the shape check). Returns its data. */
const void *st_get(const st_file *f, const char *name, npy_dtype dtype, int ndim,
                   const size_t *shape);
/* st_get, and every element finite and in [lo, hi]; exit 2 naming the file, the tensor,
 * the index and the value otherwise (a NaN moment, a 1e30 weight, a negative variance). */
const void *st_get_range(const st_file *f, const char *name, npy_dtype dtype, int ndim,
                         const size_t *shape, double lo, double hi);
/* After the st_get calls: exit 2 naming a tensor no one asked for (an extra tensor
 * means the file is another model's). */
void st_done(const st_file *f);
/* Metadata `key` as a whole number in [lo, hi], or equal to `want`; exit 2 naming
 * the file, the key and both values otherwise. */
long st_meta_int(const st_file *f, const char *key, long lo, long hi);
void st_meta_expect(const st_file *f, const char *key, const char *want);
/* Value of a metadata key into buf; returns 0 if found. */
int st_meta(const st_file *f, const char *key, char *buf, size_t len);
void st_free(st_file *f);

#endif
