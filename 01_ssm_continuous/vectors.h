/* 01_ssm_continuous/vectors.h — the stage's golden vectors (docs/vectors.md).
 *
 * inputs   A (N, N), B (N, 1) or (N,), C (1, N) or (N,), D (1, 1) or (1,), t (1),
 *          dt (1), x (L), h0 (N) (optional: zero)
 * outputs  eAt (N, N)                      e^{At}                                   (1.5)
 *          h_exact (L+1, N), y_exact (L)   the exact response, x_k held on
 *                                          [k dt, (k+1) dt)                         (1.6)
 *          h_rk4 (L+1, N), y_rk4 (L)       classic RK4 at step dt, all four stages
 *                                          of step k reading x_k                   (1.10)
 * A set may hold eAt alone (inputs A, t) or the responses alone. */
#ifndef SSM_CONTINUOUS_VECTORS_H
#define SSM_CONTINUOUS_VECTORS_H

/* dumping = 1: write the seeded set to DIR (--dump-vectors); 0: grade the set in DIR
 * (--check). Returns the exit code; exits 2 with one line on a malformed set. */
int ssm_vectors(const char *dir, int dumping);

#endif
