/* common/rng.c — xoshiro256** (Blackman & Vigna) seeded by splitmix64.
 * Integer arithmetic only, so every machine draws the same bits; normals use the
 * polar method, whose sqrt is exactly rounded by IEEE 754 and whose log comes from
 * the C library (glibc's log is accurate to < 1 ulp), so golden vectors that depend
 * on normals agree to the last bit or two across libms — the manifests' tolerances
 * are far wider. */
#include "common/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(rng_t *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(rng_t *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(rng_t *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

double rng_uniform_range(rng_t *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

double rng_normal(rng_t *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * rng_uniform(r) - 1.0;
        v = 2.0 * rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

uint64_t rng_below(rng_t *r, uint64_t n) {
    if (n == 0) return 0;
    /* Rejection sampling removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_u64(r); while (x >= limit);
    return x % n;
}

void rng_fill_normal(rng_t *r, double *x, size_t n, double mean, double std) {
    for (size_t i = 0; i < n; i++) x[i] = mean + std * rng_normal(r);
}

void rng_fill_uniform(rng_t *r, double *x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform_range(r, lo, hi);
}

void rng_fill_normal_f32(rng_t *r, float *x, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + std * rng_normal(r));
}

void rng_fill_uniform_f32(rng_t *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_uniform_range(r, lo, hi);
}
