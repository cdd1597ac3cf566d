/* 02_zoh_discretize/zoh.h — from the continuous SSM to a discrete one.
 *
 * The continuous system of stage 01,
 *     h'(t) = A h(t) + B x(t),   y(t) = C h(t) + D x(t),                 (1.1, 1.2)
 * becomes, for a step Δ (`dt`), the discrete recurrence
 *     h_k = Ā h_{k-1} + B̄ x_k,   y_k = C h_k + D x_k.                    (2.1)
 * Convention (the same as stage 01's SIG_SAMPLES): the sample x_k is held
 * constant on [kΔ, (k+1)Δ), h_{-1} = h(0), so h_k is the state at t = (k+1)Δ.
 *
 * Each method is one way to choose (Ā, B̄); the chapter (chapters/02_zoh_discretize.md)
 * derives them in this order:
 *   zoh_dense             (2.3)  exact for piecewise-constant input:
 *                                Ā = e^{ΔA}, B̄ = ∫₀^Δ e^{As} ds B = A⁻¹(e^{ΔA} − I)B,
 *                                from ONE exponential of [[A, B], [0, 0]]Δ (stage 01),
 *                                so singular A works;
 *   gbt_dense             (2.5)  the generalized bilinear transform with parameter α:
 *                                Ā = (I − αΔA)⁻¹(I + (1−α)ΔA), B̄ = (I − αΔA)⁻¹ΔB;
 *   euler_forward_dense   (2.6)  α = 0:   Ā = I + ΔA,          B̄ = ΔB
 *   euler_backward_dense  (2.7)  α = 1:   Ā = (I − ΔA)⁻¹,      B̄ = (I − ΔA)⁻¹ΔB
 *   bilinear_dense        (2.8)  α = 1/2: Tustin, as S4 uses it
 *   mamba_dense           (2.9)  Mamba's pair: Ā = e^{ΔA} exact, B̄ = ΔB simplified.
 * All dense functions: A is N×N, B is N×M (row-major), Abar N×N, Bbar N×M, dt > 0
 * and finite; outputs may not alias inputs.
 *
 * Diagonal A (S4D, Mamba), elementwise with complex entries:
 *   phi1(z) = (e^z − 1)/z                 (2.10)  accurate for every z, also tiny |z|
 *   zoh_diag:      Ā = e^{Δa}, B̄ = Δ φ₁(Δa) b           (2.11)
 *   bilinear_diag: Ā = (1 + Δa/2)/(1 − Δa/2), B̄ = Δb/(1 − Δa/2)
 *   mamba_diag:    Ā = e^{Δa}, B̄ = Δ b
 * The relative gap between Mamba's ΔB and the exact B̄ is |1/φ₁(Δa) − 1| ≈ Δ|a|/2.  (2.12) */
#ifndef ZOH_DISCRETIZE_H
#define ZOH_DISCRETIZE_H

#include <complex.h>

/* ---- dense A: one function per method, all with the same signature ---- */
typedef void (*discretize_fn)(int N, int M, const double *A, const double *B, double dt,
                              double *Abar, double *Bbar);

void zoh_dense(int N, int M, const double *A, const double *B, double dt,
               double *Abar, double *Bbar);
void gbt_dense(int N, int M, const double *A, const double *B, double dt, double alpha,
               double *Abar, double *Bbar);
void bilinear_dense(int N, int M, const double *A, const double *B, double dt,
                    double *Abar, double *Bbar);
void euler_forward_dense(int N, int M, const double *A, const double *B, double dt,
                         double *Abar, double *Bbar);
void euler_backward_dense(int N, int M, const double *A, const double *B, double dt,
                          double *Abar, double *Bbar);
void mamba_dense(int N, int M, const double *A, const double *B, double dt,
                 double *Abar, double *Bbar);

/* The methods in the chapter's order, for tables and loops: name ("zoh", "bilinear",
 * "euler_fwd", "euler_bwd", "mamba"), function, and the order of its global error
 * for piecewise-constant input (0 = exact). */
typedef struct { const char *name; discretize_fn fn; int order; } disc_method;
#define DISC_NMETHODS 5
extern const disc_method DISC_METHODS[DISC_NMETHODS];
/* The method called `name`, or NULL. */
const disc_method *disc_method_find(const char *name);

/* ---- diagonal complex A (the form S4D and Mamba use) ---- */
double complex phi1(double complex z);   /* (e^z − 1)/z, phi1(0) = 1            (2.10) */
double phi1_real(double z);              /* the same for real z                         */

void zoh_diag(int N, const double complex *A, const double complex *B, double dt,
              double complex *Abar, double complex *Bbar);
void bilinear_diag(int N, const double complex *A, const double complex *B, double dt,
                   double complex *Abar, double complex *Bbar);
void mamba_diag(int N, const double complex *A, const double complex *B, double dt,
                double complex *Abar, double complex *Bbar);

/* ---- the discrete recurrence (2.1), single input, single output ----
 * h_k = Ā h_{k-1} + B̄ x_k, y_k = C h_k + D x_k for k = 0..L-1; Abar N×N, Bbar, C,
 * h0 of length N (h0 = h_{-1}, NULL = zero); x and y of length L. */
void ssm_recurrence_dense(int N, const double *Abar, const double *Bbar, const double *C,
                          double D, const double *h0, const double *x, int L, double *y);

#endif
