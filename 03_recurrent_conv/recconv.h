/* 03_recurrent_conv/recconv.h — one discrete SSM, two views: recurrence and convolution.
 *
 * The discrete single-input single-output SSM of stage 02 (float64, row-major),
 *
 *     h_k = Ā h_{k−1} + B̄ x_k,      y_k = C h_k + D x_k,      h_{−1} = 0,   (3.1)
 *
 * unrolls into a causal convolution with the SSM kernel K̄:
 *
 *     y_k = Σ_{j=0}^{k} C Ā^{k−j} B̄ x_j + D x_k                             (3.2)
 *     K̄   = (C B̄, C Ā B̄, C Ā² B̄, …, C Ā^{L−1} B̄)                          (3.3)
 *     y   = K̄ ∗ x + D x,   (K̄ ∗ x)_k = Σ_{j=0}^{k} K̄_{k−j} x_j              (3.4)
 *
 * Diagonal systems (S4D, Mamba) keep complex Ā = diag(λ_1 … λ_N), B̄, C and the
 * output convention of this header is
 *
 *     y_k = Re( Σ_n C_n h_{n,k} ) + D x_k,   so   K̄_k = Re Σ_n C_n B̄_n λ_n^k,  (3.5)
 *
 * a Vandermonde matrix (λ_n^k) times the vector (C_n B̄_n). A real system whose
 * eigenvalues come in conjugate pairs is represented by keeping one of each pair
 * and doubling its C_n (Re(z) + Re(z̄) = 2 Re z), as S4D does. ssm_diag_to_dense()
 * gives the equivalent real dense system, so the two forms can be compared.
 *
 * The convolution (3.4) is computed directly, O(L²), or through the FFT:
 *
 *     y = IFFT_n( FFT_n(K̄, 0…) · FFT_n(x, 0…) )[0, L) + D x,  n ≥ 2L − 1    (3.6)
 *
 * — the padding with zeros to n ≥ 2L − 1 is what turns the FFT's circular
 * convolution into the causal linear one (no wrap-around of x's end onto its start).
 *
 * Autoregressive generation (3.7): each new input is a function of the last output,
 * x_{k+1} = tanh(y_k); the recurrent view emits a token in O(N), the convolutional
 * view must sum over the whole past, O(k) for token k.
 *
 * Multi-channel (_multi) versions run H independent SISO systems, as one S4 layer
 * does, in parallel over channels with OpenMP. Arrays are channel-major: x, y, K are
 * H×L, dense Ā is H×N×N, B̄ and C are H×N, D is H.
 *
 * Every function checks its sizes (N ≥ 1, L ≥ 1, H ≥ 1) and pointers and exits 2
 * with one line naming the argument otherwise — except the per-token steps
 * ssm_step_diag and conv_step, which sit in the inner loop of generation and trust
 * their caller. Equation numbers refer to
 * chapters/03_recurrent_conv.md. */
#ifndef RECCONV_H
#define RECCONV_H

#include <complex.h>

/* ---- 1. The recurrent view ------------------------------------------------ */
/* (The dense recurrence (3.1) is stage 02's ssm_recurrence_dense.)            */

/* One step of the diagonal recurrence (3.1), in place on h (N complex):
 * h ← Ā ⊙ h + B̄ x, returns y = Re(C·h) + D x.  O(N). */
double ssm_step_diag(int N, const double complex *Abar, const double complex *Bbar,
                     const double complex *C, double D, double complex *h, double x);

/* The diagonal recurrence (3.1) over x[0, L) from h_{−1} = 0, into y (L). O(L·N). */
void ssm_recurrence_diag(int N, const double complex *Abar, const double complex *Bbar,
                         const double complex *C, double D, const double *x, int L,
                         double *y);

/* The real dense system (2N states) equal to a diagonal one under (3.5): mode n with
 * λ = a + ib, B̄_n = p + iq, C_n = c + id becomes the block
 *     Ā = [[a, −b], [b, a]],  B̄ = [p, q],  C = [c, −d]
 * on the state (Re h_n, Im h_n). Ad is 2N×2N, Bd and Cd are 2N. */
void ssm_diag_to_dense(int N, const double complex *Abar, const double complex *Bbar,
                       const double complex *C, double *Ad, double *Bd, double *Cd);

/* ---- 2. The kernel -------------------------------------------------------- */

/* Both kernels flush entries of Ā^k B̄ that decay below the smallest normal number
 * (DBL_MIN, FLT_MIN for float32) to zero: subnormal arithmetic is very slow, and the
 * change is below DBL_MIN per term.                                             */

/* K̄ (3.3) of a dense system: v_0 = B̄, v_{k+1} = Ā v_k, K̄_k = C v_k. O(L·N²). */
void ssm_kernel_dense(int N, const double *Abar, const double *Bbar, const double *C,
                      int L, double *K);

/* K̄ (3.5) of a diagonal system by the Vandermonde product: powers λ_n^k by repeated
 * multiplication, K̄_k = Re Σ_n (C_n B̄_n) λ_n^k. O(L·N). */
void ssm_kernel_diag(int N, const double complex *Abar, const double complex *Bbar,
                     const double complex *C, int L, double *K);

/* The same kernel in float32 (the numerics lesson: error growth with L). */
void ssm_kernel_diag_f32(int N, const float complex *Abar, const float complex *Bbar,
                         const float complex *C, int L, float *K);

/* A reference for the lesson: (3.5) in long double with λ^k = exp(k log λ) for each
 * k separately (no error carried from k to k+1). */
void ssm_kernel_diag_ref(int N, const double complex *Abar, const double complex *Bbar,
                         const double complex *C, int L, double *K);

/* ---- 3. The convolutional view -------------------------------------------- */

/* y = K̄ ∗ x + D x (3.4), summed directly. O(L²). */
void conv_causal_direct(const double *K, const double *x, int L, double D, double *y);

/* The FFT size conv_causal_fft uses: the smallest power of two ≥ 2L − 1. */
int conv_fft_size(int L);

/* y = K̄ ∗ x + D x through (3.6) with FFTW (real-to-complex transforms of size
 * conv_fft_size(L)). Plans are made once per size (FFTW_ESTIMATE) and cached; the
 * function is safe to call from several threads at once. O(L log L). */
void conv_causal_fft(const double *K, const double *x, int L, double D, double *y);

/* (3.6) with an explicit transform size n ≥ L (n need not be a power of two). For
 * n ≥ 2L − 1 this equals conv_causal_fft; for smaller n it returns the CIRCULAR
 * convolution, in which x's tail wraps around onto y's start — the lesson on
 * padding. Plans are made for this call and destroyed. */
void conv_fft_padded(const double *K, const double *x, int L, int n, double D, double *y);

/* Destroy the cached FFTW plans (optional, at exit). Not thread-safe. */
void conv_fft_cache_clear(void);

/* ---- 4. Many channels (H independent SISO systems), OpenMP over channels --- */

/* Stage 02's dense recurrence for each channel. */
void ssm_recurrence_dense_multi(int H, int N, const double *Abar, const double *Bbar,
                                const double *C, const double *D, const double *x,
                                int L, double *y);
void ssm_recurrence_diag_multi(int H, int N, const double complex *Abar,
                               const double complex *Bbar, const double complex *C,
                               const double *D, const double *x, int L, double *y);
void ssm_kernel_dense_multi(int H, int N, const double *Abar, const double *Bbar,
                            const double *C, int L, double *K);
void ssm_kernel_diag_multi(int H, int N, const double complex *Abar,
                           const double complex *Bbar, const double complex *C, int L,
                           double *K);
void conv_causal_direct_multi(int H, const double *K, const double *x, int L,
                              const double *D, double *y);
void conv_causal_fft_multi(int H, const double *K, const double *x, int L,
                           const double *D, double *y);

/* ---- 5. Autoregressive generation (3.7) ----------------------------------- */

/* The feedback from output to next input: x_{k+1} = tanh(y_k). */
double gen_feedback(double y);

/* y_k of the convolutional view from x[0..k]: Σ_{j≤k} K̄_{k−j} x_j + D x_k. O(k). */
double conv_step(const double *K, const double *x, int k, double D);

/* Generate L tokens from x_0: x (L) receives the inputs x_0 … x_{L−1} (x_{k+1} =
 * gen_feedback(y_k)), y (L) the outputs. Recurrent: O(N) per token, state h only.
 * Convolutional: O(k) per token, needs K̄ (L) and the whole past x. */
void generate_recurrent_diag(int N, const double complex *Abar,
                             const double complex *Bbar, const double complex *C,
                             double D, double x0, int L, double *x, double *y);
void generate_conv(const double *K, double D, double x0, int L, double *x, double *y);

#endif
