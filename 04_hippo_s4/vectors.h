/* 04_hippo_s4/vectors.h — the stage's golden vectors (docs/vectors.md). Four
 * independent problems; a set may hold any of them:
 *   HiPPO     input hippo_N (1) int64
 *             outputs hippo_legs_A (N, N), hippo_legs_B (N), hippo_legt_A, hippo_legt_B
 *             (A as in c' = -A c + B f; LegT with theta = 1)                     (4.2, 4.3)
 *   NPLR      input hippo_N; outputs nplr_Lambda (N) complex (Im descending),
 *             nplr_P (N), nplr_Ptil_abs2 (N), nplr_conjPtil_Btil (N) complex — the
 *             factors that do not depend on the eigenvectors' phases             (4.6)
 *   S4        inputs s4_Lambda, s4_Ptil (= Qtil), s4_Btil, s4_Ctil (N4) complex,
 *             s4_dt (1), s4_L (1) int64; output s4_K (L): the bilinear kernel
 *             through Cauchy + Woodbury                                     (4.8–4.12)
 *   S4D       inputs s4d_Lambda, s4d_B, s4d_C (Ns) complex, s4d_dt (1), s4d_L (1)
 *             int64; outputs s4d_K_zoh, s4d_K_bilinear (L):
 *             K_j = 2 Re sum_n C_n Bbar_n Abar_n^j                              (4.14)
 *   layer     one S4D layer (FFT conv + D skip, GELU (erf), linear, residual,
 *             LayerNorm eps 1e-5; lambda = -exp(A_re_log) + i A_im, dt = exp(log_dt)):
 *             inputs layer_u, layer_dout (batch, L, H) and the parameters layer_<p>;
 *             outputs layer_out, layer_du and layer_grad_<p> of sum(dout * out)
 * Complex tensors are (re, im) pairs: a last dimension of 2 in the files. */
#ifndef HIPPO_S4_VECTORS_H
#define HIPPO_S4_VECTORS_H

/* dumping = 1: write the seeded set to DIR (--dump-vectors); 0: grade the set in DIR
 * (--check). Returns the exit code; exits 2 with one line on a malformed set. */
int hippo_vectors(const char *dir, int dumping);

#endif
