/* 03_recurrent_conv/vectors.h — the stage's golden vectors (docs/vectors.md).
 *
 * H channels, each one SISO system, in two independent problems (a set may hold
 * either or both):
 *   dense     inputs Abar_dense (H, N, N), Bbar_dense (H, N), C_dense (H, N), D (H), x (H, L)
 *             outputs K_dense (H, L)  K_k = C Abar^k Bbar                      (3.3)
 *                     y_dense (H, L)  the recurrence h_k = Abar h_{k-1} + Bbar x_k,
 *                                     y_k = C h_k + D x_k, h_{-1} = 0          (3.1)
 *   diagonal  inputs Abar_diag, Bbar_diag, C_diag (H, Ng) complex, D (H), x (H, L)
 *             outputs K_diag (H, L)   K_k = Re sum_n C_n Bbar_n Abar_n^k       (3.5)
 *                     y_diag (H, L)   y = K * x + D x, the causal convolution   (3.4)
 * Complex tensors are (re, im) pairs: a last dimension of 2 in the files. */
#ifndef RECCONV_VECTORS_H
#define RECCONV_VECTORS_H

/* dumping = 1: write the seeded set to DIR (--dump-vectors); 0: grade the set in DIR
 * (--check). Returns the exit code; exits 2 with one line on a malformed set. */
int recconv_vectors(const char *dir, int dumping);

#endif
