/* common/rng.h — a seeded random number generator that gives the same numbers on
 * every machine (xoshiro256** seeded through splitmix64), so golden vectors
 * regenerate bit for bit. Normals use the Marsaglia polar method (sqrt and log
 * only); uniforms use the top 53 bits. */
#ifndef COMMON_RNG_H
#define COMMON_RNG_H

#include <stdint.h>
#include <stddef.h>

typedef struct { uint64_t s[4]; double spare; int has_spare; } rng_t;

void     rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_u64(rng_t *r);
double   rng_uniform(rng_t *r);                    /* [0, 1) */
double   rng_uniform_range(rng_t *r, double lo, double hi);
double   rng_normal(rng_t *r);                     /* N(0, 1) */
uint64_t rng_below(rng_t *r, uint64_t n);          /* integer in [0, n), unbiased */
void     rng_fill_normal(rng_t *r, double *x, size_t n, double mean, double std);
void     rng_fill_uniform(rng_t *r, double *x, size_t n, double lo, double hi);
void     rng_fill_normal_f32(rng_t *r, float *x, size_t n, float mean, float std);
void     rng_fill_uniform_f32(rng_t *r, float *x, size_t n, float lo, float hi);

#endif
