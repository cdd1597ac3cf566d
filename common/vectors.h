/* common/vectors.h — golden vectors: manifest.json + .npy files, --dump-vectors and --check.
 *
 * A vector set is a directory:
 *     manifest.json   {"stage", "description", "seed", "config": {...}, "tensors": [
 *                        {"name", "file", "dtype", "shape", "role": "input"|"output",
 *                         "rtol", "atol", "meaning", "why"}, ...]}
 *                     (checking needs only each tensor's "name"; see manifest_read)
 *     <name>.npy      one file per tensor (complex tensors as (re, im) pairs: a last
 *                     dimension of 2)
 * docs/vectors.md is the reader's guide; this header is the contract.
 *
 * ---- The typed API (vec_set) ----
 * A stage writes ONE function that computes every output from the inputs and hands each
 * to vec_output() with the tolerance an independent implementation must meet and the
 * reason for it; the same function serves --dump-vectors (the outputs are written, the
 * manifest records the tolerances) and --check (the outputs in the set are graded), as
 * vec_set_open(dir, dumping, ...) opened the set. The pattern, as in
 * 02_zoh_discretize/vectors.c:
 *
 *     static void compute(vec_set *v, const inputs *in) {
 *         ...
 *         vec_output(v, "y", ELEM_F64, 2, (size_t[]){ndt, L}, y,
 *                    VEC_TOL(1e-9, 1e-10, "L steps of rounding growth on a stable A"),
 *                    "the recurrence's output for each dt (ndt, L)");
 *     }
 *
 * Inputs go through vec_input() with a shape PATTERN of named sizes ("N N", "ndt L",
 * "Nd" ...; a number is a fixed size): when dumping the sizes come from vec_dim_set and
 * the data is written; when checking the data is read, the first tensor that has a size
 * binds it and every later one must agree (else exit 2: "FILE: tensor 'B' dimension 0
 * (N): expected 4 as in 'A', got 5"). vec_dim() then gives the size, so --check works at
 * any valid shape. Alternatives are separated by '|': "N 1|N" takes a column (N, 1) or
 * a vector (N,), whichever rank the file has (dumping writes the first).
 *
 * The grading rule for an output (element by element, complex by modulus):
 *     |got - want| <= atol_eff + rtol_eff * |want|,   want = this stage's recomputation,
 *     rtol_eff = min(stage rtol, manifest rtol),
 *     atol_eff = min(stage atol + atol_max * max|want|, manifest atol),
 * the manifest's values counting only when present. A manifest may TIGHTEN a tolerance,
 * never loosen it: a looser (e.g. 1e308) value is ignored, with a note on the tensor's
 * line when it is more than 1% looser; a negative or non-number value makes the manifest malformed (exit 2; JSON has no
 * inf or nan). NaN or Inf in a graded output, or a wrong shape, is a FAIL.
 *
 * A set may hold any subset of the stage's outputs: the tally lists the missing ones as
 * "not in this set" and counts them as skipped; the run exits 0 when every present
 * output passes, 1 when one fails (an output-role tensor the stage does not know is a
 * FAIL: a misspelt name must not pass), and 2 with one line when the set is malformed,
 * names another stage, holds none of the stage's outputs, or lacks an input that an
 * output in it needs. The tally's last line is "P passed, F failed[, S skipped]". */
#ifndef COMMON_VECTORS_H
#define COMMON_VECTORS_H

#include <stddef.h>
#include <stdint.h>
#include "common/npy.h"

typedef enum { VEC_INPUT, VEC_OUTPUT } vec_role;

/* ======================= the typed API ======================= */

/* The tolerance of one output, in its dtype's precision, with the reason from the
 * math (error order, eps x conditioning). atol_max scales with the tensor: it adds
 * atol_max * max|want| to atol (a norm-wise bound for sums and recurrences). */
typedef struct {
    double rtol, atol, atol_max;
    const char *why;
} vec_tol;
#define VEC_TOL(rtol, atol, why) ((vec_tol){(rtol), (atol), 0.0, (why)})
#define VEC_TOL_MAX(rtol, atol_max, why) ((vec_tol){(rtol), 0.0, (atol_max), (why)})

/* The element type of `real` (common/real.h): float, or double under REAL_F64. */
#ifdef REAL_F64
#define ELEM_REAL ELEM_F64
#else
#define ELEM_REAL ELEM_F32
#endif

typedef struct vec_set vec_set;

/* --dump-vectors DIR: creates DIR; outputs and inputs are written as they come,
 * manifest.json last, atomically, by vec_set_close. */
vec_set *vec_set_dump(const char *dir, const char *stage, const char *description, uint64_t seed);
/* --check DIR: parses DIR/manifest.json (exit 2 with one line if it is missing,
 * malformed, or names another stage than `stage`). Prints "checking DIR ...". */
vec_set *vec_set_check(const char *dir, const char *stage);
/* The two above as one call: dumping ? vec_set_dump(...) : vec_set_check(dir, stage). */
vec_set *vec_set_open(const char *dir, int dumping, const char *stage, const char *description, uint64_t seed);
int vec_dumping(const vec_set *v);
const char *vec_dir(const vec_set *v);

/* Named sizes for the shape patterns. vec_dim_set binds (dumping: before the inputs);
 * vec_dim returns a bound size, 0 if unbound. */
void vec_dim_set(vec_set *v, const char *dim, size_t value);
size_t vec_dim(const vec_set *v, const char *dim);

/* An input. Dumping: writes *data (shape from the pattern's bound sizes). Checking:
 * reads it into *data (malloc'ed, caller frees) in type t — float32/float64 files are
 * converted, values must be finite — binding or checking the pattern's sizes; exit 2
 * with one line on any problem. When the set lacks the tensor: with VEC_REQUIRED exit 2,
 * with VEC_OPTIONAL *data = NULL (the outputs that need it must then be absent too). */
enum { VEC_REQUIRED = 1, VEC_OPTIONAL = 0 };
void vec_input(vec_set *v, const char *name, elem_type t, const char *pattern, void *data,
               int required, const char *meaning);
/* A scalar setting of the set, under "config" in manifest.json (e.g. a model's Hugging Face
 * config names: hidden_size, layer_norm_epsilon, ...). Dumping: records key = *value,
 * returns 1. Checking: if the manifest's config has the key, *value = its value (a
 * number; true/false as 1/0; another type exits 2) and returns 1; else leaves *value
 * and returns 0. */
int vec_config(vec_set *v, const char *key, double *value);
/* 1 when dumping, or when checking a set that holds `name`: lets a stage skip work. */
int vec_wants(const vec_set *v, const char *name);
/* An output, declared ONCE with the stage's tolerance. Dumping: written with it.
 * Checking: graded if the set holds it (one PASS/FAIL line), else listed as not in
 * this set. data may be NULL when the inputs it needs are absent (VEC_OPTIONAL); if the
 * set nevertheless holds the output, exit 2 naming the missing inputs. */
void vec_output(vec_set *v, const char *name, elem_type t, int ndim, const size_t *shape,
                const void *data, vec_tol tol, const char *meaning);
/* Checking at another precision than the one the set's tolerances were written for (e.g.
 * a bf16 run against a set for float32): the manifest's tolerances are not applied, only
 * the stage's own for this run; prints one note line with `why`. */
void vec_own_tolerances(vec_set *v, const char *why);
/* Exit 2 with one line "DIR/FILE: tensor 'name': <message>" (for value checks the
 * shape pattern cannot express, e.g. dt > 0). */
void vec_reject(const vec_set *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* Dumping: writes manifest.json, returns 0. Checking: prints the tally (see above) and
 * returns the exit code, 0 or 1 (or exits 2 if the set held none of the outputs).
 * Frees v. */
int vec_set_close(vec_set *v);

/* ======================= for the tests ======================= */

/* Compare two vector sets tensor by tensor (inputs and outputs) within the first
 * set's tolerances: used by the tests that regenerate the committed vectors.
 * Returns the number of mismatching tensors (prints each). */
int vec_compare_dirs(const char *committed, const char *fresh);

/* For tests of --check itself: perturb element 0 of the first output tensor in DIR
 * (a copy!) by far more than its tolerance. Returns 0, or -1 if there is none. */
int vec_tamper(const char *dir);

#endif
