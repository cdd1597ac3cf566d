/* common/npy.h — .npy v1.0 files (NumPy's format): read and write.
 *
 * Supported: little-endian float64, float32, int32, int64, C order, up to
 * NPY_MAX_DIMS dimensions. Everything else is rejected with a message naming the
 * file and the problem: bad magic, version, dtype, Fortran order, big-endian,
 * truncated data, trailing bytes, a shape whose byte count overflows. */
#ifndef COMMON_NPY_H
#define COMMON_NPY_H

#include <stddef.h>

typedef enum { NPY_F64, NPY_F32, NPY_I32, NPY_I64 } npy_dtype;

#define NPY_MAX_DIMS 8

typedef struct {
    npy_dtype dtype;
    int ndim;
    size_t shape[NPY_MAX_DIMS];
    size_t size;   /* number of elements (1 for ndim == 0) */
    void *data;    /* size * npy_dtype_size(dtype) bytes */
} npy_array;

size_t npy_dtype_size(npy_dtype t);
const char *npy_dtype_name(npy_dtype t);   /* "float64", "float32", "int32", "int64" */
const char *npy_dtype_descr(npy_dtype t);  /* "<f8", "<f4", "<i4", "<i8" */

/* Read `path`. Returns 0 on success; otherwise fills err with one line
 * ("FILE: problem") and returns -1, leaving *out empty. Never exits. */
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);

/* Write atomically (temporary name, then rename). Returns 0 or -1 with err. */
int npy_write(const char *path, npy_dtype dtype, int ndim, const size_t *shape,
              const void *data, char *err, size_t errlen);

void npy_free(npy_array *a);

/* Conveniences for programs: on any problem print one line and exit(2). */
void npy_read_or_die(const char *path, npy_array *out);
void npy_write_or_die(const char *path, npy_dtype dtype, int ndim, const size_t *shape,
                      const void *data);
/* Copy of the array's values as double (any dtype); caller frees. */
double *npy_to_f64(const npy_array *a);
/* Load a tensor as double and check its rank; exit(2) naming `what` otherwise.
 * shape[] receives the dimensions. Rejects NaN/Inf with exit(2). */
double *npy_load_f64(const char *path, const char *what, int ndim, size_t *shape);

#endif
