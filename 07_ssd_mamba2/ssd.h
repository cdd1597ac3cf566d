/* 07_ssd_mamba2/ssd.h — the SSD layer of Mamba-2 (state space duality), four ways.
 *
 * Per head h (H heads of dimension P), with a SCALAR decay A_h < 0 and a step Δ_t > 0
 * per head and time; B_t, C_t ∈ R^N shared by the H/G heads of a group g:
 *
 *   (7.1)  a_t   = Δ_t A_h                                   the log-decay, ≤ 0
 *   (7.2)  h_t   = e^{a_t} h_{t−1} + Δ_t B_t x_tᵀ            h_t ∈ R^{N×P}, h_{−1} = h0
 *   (7.3)  y_t   = h_tᵀ C_t + D_h x_t
 *
 * Unrolled, y_t = Σ_{s≤t} C_tᵀ (Π_{k=s+1..t} e^{a_k}) B_s Δ_s x_s + D_h x_t:
 *
 *   (7.4)  y = M x + D x,   M = L ∘ (C Bᵀ) · diag(Δ)   (L × L, lower triangular)
 *   (7.5)  L_{ts} = exp(segsum(a)_{ts}),  segsum(a)_{ts} = Σ_{k=s+1..t} a_k (s ≤ t), −∞ (s > t)
 *
 * M is 1-semiseparable: every submatrix below the diagonal has rank ≤ N. The four
 * forms computing the same y:
 *   ssd_scan        the recurrence (7.2)–(7.3): O(L N P) work, sequential in t
 *   ssd_quadratic   the materialized matrix (7.4)–(7.5): O(L² (N + P)), the
 *                   "attention" view (a causal mask L instead of a softmax)
 *   the four steps  of the chunked algorithm over chunks of Q steps (7.6)–(7.9):
 *                   ssd_chunk_diag, ssd_chunk_states, ssd_state_passing, ssd_chunk_output
 *   ssd_chunked     the four steps composed, chunk size Q a parameter (SSD_CHUNK by
 *                   default): Q = 1 is the recurrence, Q ≥ L the quadratic form.
 * Segment sums are running sums of the a_k (all ≤ 0, so no cancellation), never a
 * difference of cumulative sums and never a ratio of cumulative products.
 *
 * Shapes (row-major, the layout of mamba_ssm and transformers):
 *   x, y          (batch, L, H, P)          dt   (batch, L, H)   Δ, already positive
 *   B, C          (batch, L, G, N)          A, D (H)             D may be NULL
 *   h0, h_last    (batch, H, P, N) or NULL  chunk states (batch, nchunks, H, P, N)
 * Head h reads group g = h / (H/G).
 *
 * Every function exists in float64 (suffix _f64) and float32 (_f32); SSD_REAL(name)
 * picks the one of the build's `real` (common/real.h). */
#ifndef SSD_H
#define SSD_H

#include "common/real.h"

#define SSD_CHUNK 64    /* default chunk length Q (mamba_ssm uses 256 on a GPU) */

typedef struct {
    int batch, L, H, P, G, N;
} ssd_dims;

/* Validate sizes (H divisible by G, all ≥ 1); exits 2 with one line naming the field. */
void ssd_check_dims(const ssd_dims *d);
static inline int ssd_nchunks(int L, int Q) { return (L + Q - 1) / Q; }

/* Work counted as multiply-adds ×2 (flops) and the bytes each form touches at the
 * least (inputs, outputs, and the intermediates it materializes), in float64.
 * form: 0 scan, 1 quadratic, 2 chunked with chunk Q. */
double ssd_flops(const ssd_dims *d, int form, int Q);
double ssd_bytes(const ssd_dims *d, int form, int Q);

#define SSD_DECLARE(T, S)                                                                  \
    typedef struct {                                                                       \
        ssd_dims d;                                                                        \
        const T *x, *dt, *A, *B, *C, *D, *h0;                                              \
    } ssd_args##S;                                                                         \
    typedef struct {                                                                       \
        T *dx, *ddt, *dA, *dB, *dC, *dD, *dh0;                                             \
    } ssd_grads##S;                                                                        \
    void ssd_segsum##S(int n, const T *a, T *S_out);                                       \
    void ssd_scan##S(const ssd_args##S *a, T *y, T *h_last);                               \
    void ssd_matrix##S(const ssd_args##S *a, int b, int h, T *M);                          \
    void ssd_quadratic##S(const ssd_args##S *a, T *y);                                     \
    void ssd_chunk_diag##S(const ssd_args##S *a, int Q, T *y);                             \
    void ssd_chunk_states##S(const ssd_args##S *a, int Q, T *states);                      \
    void ssd_state_passing##S(const ssd_args##S *a, int Q, T *states, T *h_last);          \
    void ssd_chunk_output##S(const ssd_args##S *a, int Q, const T *states, T *y);          \
    void ssd_chunked##S(const ssd_args##S *a, int Q, T *y, T *h_last);                     \
    void ssd_backward##S(const ssd_args##S *a, const T *dy, const T *dh_last, ssd_grads##S *g);

/* What each declared function does (T = double or float):
 *   ssd_segsum(n, a, S)      (7.5) S (n × n): S_ts = Σ_{k=s+1..t} a_k for s ≤ t, −∞ above
 *   ssd_scan(a, y, h_last)   (7.2)–(7.3) the recurrence; h_last may be NULL
 *   ssd_matrix(a, b, h, M)   (7.4) M (L × L) of sequence b, head h, without the D term
 *   ssd_quadratic(a, y)      (7.4) y = M x + D x, M materialized per (b, h); h0 must be NULL
 *   ssd_chunk_diag(a, Q, y)  (7.6) step 1: y = the diagonal blocks of M applied to x
 *                            (each chunk on its own, as if its entering state were 0)
 *   ssd_chunk_states         (7.7) step 2: the state each chunk builds from zero by its end
 *   ssd_state_passing        (7.8) step 3: in place, chunk states → the state ENTERING each
 *                            chunk (a recurrence over chunks, from h0); h_last may be NULL
 *   ssd_chunk_output         (7.9) step 4: y += decayed contribution of the entering state
 *   ssd_chunked(a, Q, y, h_last)  steps 1–4 then + D x; Q ≥ 1 any (last chunk may be short)
 *   ssd_backward(a, dy, dh_last, g)  gradients of Σ dy·y (+ dh_last·h_last) by the reverse
 *                            recurrence (7.19)–(7.21); ACCUMULATES (+=) into every non-NULL
 *                            pointer of g; dh_last may be NULL. */
SSD_DECLARE(double, _f64)
SSD_DECLARE(float, _f32)

#ifdef REAL_F64
#define SSD_REAL(name) name##_f64
#else
#define SSD_REAL(name) name##_f32
#endif

#endif
