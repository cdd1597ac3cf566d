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

/* ---- typed elements: what a program holds in memory ----
 * A program reads and writes its own element type; the file holds the matching dtype.
 * Complex numbers are stored as pairs (re, im): a trailing dimension of 2 in the file,
 * so NumPy writes them with np.stack([z.real, z.imag], -1) (or z.view(np.float64)
 * reshaped) and the program's logical shape is the file's shape without that 2. */
typedef enum {
    ELEM_F64,    /* double          <-> float64 */
    ELEM_F32,    /* float           <-> float32 */
    ELEM_C128,   /* double complex  <-> float64 pairs (..., 2) */
    ELEM_C64,    /* float complex   <-> float32 pairs (..., 2) */
    ELEM_I64,    /* int64_t         <-> int64 */
    ELEM_I32     /* int32_t         <-> int32 */
} elem_type;

size_t elem_size(elem_type t);            /* bytes per logical element (complex: both parts) */
npy_dtype elem_dtype(elem_type t);        /* the dtype written to disk */
int elem_is_complex(elem_type t);
int elem_is_float(elem_type t);           /* real or complex floating point */
const char *elem_name(elem_type t);       /* "float64", "complex128 as float64 pairs", ... */

/* Write n = prod(shape) elements of type t (complex: shape + (2,) on disk), atomically.
 * Returns 0, or -1 with err. */
int npy_write_elems(const char *path, elem_type t, int ndim, const size_t *shape, const void *data,
                    char *err, size_t errlen);
/* Read `path` as type t. Floating types accept a float32 or float64 file (converted;
 * float64 -> float32 rounds), integer types an int32 or int64 file (range-checked);
 * a complex type needs a trailing dimension of 2. On success *ndim and shape[] hold the
 * LOGICAL shape and *data a malloc'ed array; float data is checked finite.
 * Returns 0, or -1 with one line "FILE: problem" in err. Never exits. */
int npy_read_elems(const char *path, elem_type t, int *ndim, size_t shape[NPY_MAX_DIMS],
                   void **data, char *err, size_t errlen);
/* The same, exiting 2 with one line on any problem (and when the logical rank is not
 * `ndim`, unless ndim < 0). `what` names the tensor in the message. */
void *npy_load(const char *path, const char *what, elem_type t, int ndim, size_t *shape);
void npy_save(const char *path, elem_type t, int ndim, const size_t *shape, const void *data);

/* Conveniences for programs: on any problem print one line and exit(2). */
void npy_read_or_die(const char *path, npy_array *out);
void npy_write_or_die(const char *path, npy_dtype dtype, int ndim, const size_t *shape,
                      const void *data);
/* Copy of the array's values as double (any dtype); caller frees. Prefer npy_load. */
double *npy_to_f64(const npy_array *a);
/* Load a tensor as double and check its rank; exit(2) naming `what` otherwise.
 * shape[] receives the dimensions. Rejects NaN/Inf with exit(2). */
double *npy_load_f64(const char *path, const char *what, int ndim, size_t *shape);

#endif
