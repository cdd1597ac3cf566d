/* 05_selective_s6/s6_problem.h — the selective-scan problem, defined once: every tensor the
 * scan takes and gives, a seeded maker with the ranges a Mamba layer sees, and the table
 * that names, shapes and describes each tensor. Stage 05's tests, golden vectors and
 * program use it, and so do stage 06's program, benchmark and tests (which add only the
 * upload to the device).
 *
 * The names are the arguments of mamba_ssm's
 *     selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
 *                       return_last_state)  ->  out, last_state
 * plus what a backward needs and gives: the initial state h0 (our extension; zero in the
 * reference), the upstream gradients dout and dlast_state, and the gradients du, ddelta,
 * dA, dB, dC, dD, dz, ddelta_bias, dh0. In a vector set each tensor is "scan.<name>".
 *
 * Shapes, as s6.h (selective case: B and C vary with time), with the size names the
 * vector sets use:
 *   u, delta, z, dout, out, du, ddelta, dz          (batch, D, L)
 *   A, dA                                           (D, N)
 *   B, C, dB, dC                                    (batch, N, L)
 *   D, delta_bias, dD, ddelta_bias                  (D)
 *   h0, dlast_state, last_state, dh0                (batch, D, N) */
#ifndef S6_PROBLEM_H
#define S6_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include "05_selective_s6/s6.h"
#include "common/real.h"
#include "common/vectors.h"

/* Which optional parts a made problem has. */
enum {
    S6P_Z = 1,       /* the gate z: out = y · SiLU(z) */
    S6P_D = 2,       /* the skip D: y += D u */
    S6P_BIAS = 4,    /* delta_bias, inside the softplus (delta_softplus on) */
    S6P_H0 = 8,      /* an initial state h0 */
    S6P_ALL = 15,
    S6P_LTI = 16     /* B and C (D, N), fixed in time (tests of the LTI case only) */
};

typedef struct {
    int batch, D, L, N, opts;
    /* inputs (optional ones NULL when absent) */
    real *u, *delta, *A, *B, *C, *Dskip, *z, *delta_bias, *h0;
    int delta_softplus;
    real *dout, *dlast_state;   /* upstream gradients (NULL: no backward) */
    /* outputs: s6_problem_solve fills them, stage 06 downloads into them */
    real *out, *last_state;
    real *du, *ddelta, *dA, *dB, *dC, *dDskip, *dz, *ddelta_bias, *dh0;
} s6_problem;

/* One tensor of the problem: its name in the sets ("scan." + name), the shape pattern in
 * the size names above, whether it is an input (and optional) or an output, where it lives
 * in s6_problem, the uniform range the maker draws an input from, and what it means. */
typedef struct {
    const char *name, *pattern;
    int output, optional;
    size_t offset;              /* of the real * in s6_problem */
    double lo, hi;              /* the maker's range (inputs drawn uniformly) */
    int terms;                  /* outputs: which error growth applies, S6_ERR_* */
    const char *meaning;
} s6_tensor;

enum { S6_ERR_SCAN, S6_ERR_BACKWARD, S6_ERR_SUM_BL, S6_ERR_SUM_D };
enum { S6_NIN = 11, S6_NOUT = 11, S6_NTENSORS = S6_NIN + S6_NOUT };
/* Inputs first (u … dlast_state), then outputs (out … dh0). */
extern const s6_tensor S6_TENSORS[S6_NTENSORS];

/* The array of tensor t in p (a real * inside p). */
real **s6_slot(s6_problem *p, const s6_tensor *t);
/* Its shape (3 dimensions or fewer) from p's sizes; returns ndim. */
int s6_shape(const s6_problem *p, const s6_tensor *t, size_t shape[3]);
size_t s6_numel(const s6_problem *p, const s6_tensor *t);

/* A random problem from `seed`: the ranges a Mamba layer sees. A = −(n+1)·U(0.5, 1.5)
 * (S4D-Real, jittered per channel); with S6P_BIAS, delta_bias = softplus⁻¹(Δ₀) with Δ₀
 * log-uniform in [1e-3, 0.1] (Mamba's dt initialisation) and delta ~ U(−0.5, 0.5) before
 * the softplus; without it delta is Δ itself, U(1e-3, 0.1). The other inputs uniform in
 * their table range. Upstream gradients always; outputs unallocated. */
void s6_problem_make(s6_problem *p, uint64_t seed, int batch, int D, int L, int N, int opts);
/* The scan's arguments, pointing into p. */
s6_args s6_problem_args(const s6_problem *p);
/* Allocates the outputs p lacks, zeroed: out and last_state, and the gradient of each input
 * that exists when dout is given. */
void s6_problem_alloc_outputs(s6_problem *p);
/* The outputs (allocated as above) by stage 05's CPU scan: (5.1)–(5.6) and its backward. */
void s6_problem_solve(s6_problem *p);
/* Frees every array (inputs and outputs) and zeroes p. */
void s6_problem_free(s6_problem *p);

/* The problem in a vector set, every tensor as "scan.<name>" and the flag as the set's
 * config entry "delta_softplus". Dumping: writes p's inputs. Checking: reads them, sizes
 * from the set (any valid shape), every input optional to the set; returns 0 when the set
 * holds no scan (block or model only), 1 when it does (then u, delta, A, B, C and
 * delta_softplus are required, A < 0, and Δ > 0 without the softplus: else exit 2). */
int s6_problem_vec_inputs(vec_set *v, s6_problem *p);
/* Every output of p (NULL: not computed) with a norm-wise tolerance from
 * s6_error_terms(per_step) = n roundings of size `unit`: the worst case n·unit·max|want|
 * when lambda = 0, else the probabilistic bound lambda·√n·unit·max|want| (s6_problem.c);
 * `why` names the arithmetic (e.g. "float32 CPU scan"). */
void s6_problem_vec_outputs(vec_set *v, const s6_problem *p, double per_step, double unit, double lambda,
                            const char *why);

/* The rounding-error growth of output t, in units of the implementation's roundoff per
 * operation: a norm-wise bound |got − exact| ≤ terms · u · max|exact| (see s6_problem.c). */
double s6_error_terms(const s6_problem *p, const s6_tensor *t, double per_step);

#endif
