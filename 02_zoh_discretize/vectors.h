/* 02_zoh_discretize/vectors.h — the stage's golden vectors (docs/vectors.md).
 *
 * One set holds three independent problems; a set may hold any of them:
 *   dense     inputs A (N, N), B (N, 1), C (N), D (1), dt (ndt), x (L)
 *             outputs Abar_<m> (ndt, N, N), Bbar_<m> (ndt, N, 1), y_<m> (ndt, L) for the
 *             methods m = zoh, bilinear, euler_fwd, euler_bwd, mamba          (2.1–2.9)
 *   diagonal  inputs A_diag (Nd), B_diag (Nd) complex, dt (ndt)
 *             outputs Abar_zoh_diag, Bbar_zoh_diag, Abar_bilinear_diag,
 *             Bbar_bilinear_diag (ndt, Nd) complex                            (2.11)
 *   phi1      input z (K) complex, output phi1 (K) complex                    (2.10)
 * Complex tensors are (re, im) pairs: a last dimension of 2 in the files. */
#ifndef ZOH_VECTORS_H
#define ZOH_VECTORS_H

/* dumping = 1: write the seeded set to DIR (--dump-vectors); 0: grade the set in DIR
 * (--check). Returns the exit code; exits 2 with one line on a malformed set. */
int zoh_vectors(const char *dir, int dumping);

#endif
