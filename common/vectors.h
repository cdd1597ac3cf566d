/* common/vectors.h — golden vectors: manifest.json + .npy files, and --check.
 *
 * A vector set is a directory:
 *     manifest.json   {"stage", "description", "seed", "tensors": [
 *                        {"name", "file", "dtype", "shape", "role": "input"|"output",
 *                         "rtol", "atol", "meaning"}, ...]}
 *     <name>.npy      one file per tensor
 * An output passes when every element satisfies |got - want| <= atol + rtol*|want|
 * (numpy.allclose), and shapes are equal. */
#ifndef COMMON_VECTORS_H
#define COMMON_VECTORS_H

#include <stddef.h>
#include <stdint.h>
#include "common/npy.h"

typedef enum { VEC_INPUT, VEC_OUTPUT } vec_role;

/* ---- writing (--dump-vectors DIR) ---- */
typedef struct vec_writer vec_writer;
vec_writer *vec_writer_open(const char *dir, const char *stage, const char *description,
                            uint64_t seed);
/* Store `data` (given as double) on disk as `dtype`. */
void vec_put(vec_writer *w, const char *name, vec_role role, npy_dtype dtype, int ndim,
             const size_t *shape, const double *data, double rtol, double atol,
             const char *meaning);
/* Writes manifest.json last and atomically; frees w. */
void vec_writer_close(vec_writer *w);

/* ---- checking (--check DIR) ---- */
typedef struct vec_checker vec_checker;
/* Parse DIR/manifest.json; exit 2 with one line if it is missing or malformed. */
vec_checker *vec_check_open(const char *dir);
int vec_has(const vec_checker *c, const char *name);
/* Load tensor `name` as double (exit 2 if missing, malformed, wrong rank or has
 * NaN/Inf). ndim < 0 accepts any rank. shape[] receives the dimensions. */
double *vec_get(vec_checker *c, const char *name, int ndim, size_t *shape);
/* Compare a recomputed output with the stored one; prints one PASS/FAIL line. */
void vec_compare(vec_checker *c, const char *name, int ndim, const size_t *shape,
                 const double *computed);
/* Prints the tally. Every output in the manifest must have been compared (one that
 * was not counts as FAIL). Returns the exit code: 0 all pass, 1 any fail. Frees c. */
int vec_check_close(vec_checker *c);

/* Compare two vector sets tensor by tensor (inputs and outputs) within the first
 * set's tolerances: used by the tests that regenerate the committed vectors.
 * Returns the number of mismatching tensors (prints each). */
int vec_compare_dirs(const char *committed, const char *fresh);

/* For tests of --check itself: perturb element 0 of the first output tensor in DIR
 * (a copy!) by far more than its tolerance. Returns 0, or -1 if there is none. */
int vec_tamper(const char *dir);

#endif
