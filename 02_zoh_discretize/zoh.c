/* 02_zoh_discretize/zoh.c — discretizations of the continuous SSM and the discrete
 * recurrence. Equation numbers refer to chapters/02_zoh_discretize.md. */
#include "02_zoh_discretize/zoh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "01_ssm_continuous/ssm_continuous.h"
#include "common/util.h"

static void check_dt(const char *who, double dt)
{
    if (!(dt > 0.0) || !isfinite(dt))
        die(EXIT_BAD_INPUT, "%s: dt must be > 0 and finite, got %g", who, dt);
}

/* (2.3) Zero-order hold, exact for an input held constant over each step of (2.2):
 *   Ā = e^{ΔA},  B̄ = ∫₀^Δ e^{As} ds B  (= A⁻¹(e^{ΔA} − I)B when A is invertible),
 * both read off ONE exponential of the augmented matrix [[A, B], [0, 0]]Δ  (2.4). */
void zoh_dense(int N, int M, const double *A, const double *B, double dt,
               double *Abar, double *Bbar)
{
    check_dt("zoh_dense", dt);
    expm_augmented(N, M, A, B, dt, Abar, Bbar);
}

/* (2.5) The generalized bilinear transform: integrate h' = Ah + Bx over one step
 * with the weighted rule  h_k − h_{k-1} = Δ A (α h_k + (1−α) h_{k-1}) + Δ B x_k,
 * i.e. (I − αΔA) h_k = (I + (1−α)ΔA) h_{k-1} + ΔB x_k:
 *   Ā = (I − αΔA)⁻¹ (I + (1−α)ΔA),   B̄ = (I − αΔA)⁻¹ ΔB.
 * One LU factorization of I − αΔA, solved for N + M right-hand sides. */
void gbt_dense(int N, int M, const double *A, const double *B, double dt, double alpha,
               double *Abar, double *Bbar)
{
    check_dt("gbt_dense", dt);
    /* LAB 2.1 BEGIN: The generalized bilinear transform (2.5) */
    const int W = N + M;
    double *LU = xmalloc_f64((size_t)N * N);
    double *R = xmalloc_f64((size_t)N * W);   /* [I + (1−α)ΔA | ΔB] */
    int *piv = xmalloc(sizeof(int) * (size_t)N);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            double a = dt * A[i * N + j], id = (i == j);
            LU[i * N + j] = id - alpha * a;
            R[i * W + j] = id + (1.0 - alpha) * a;
        }
        for (int j = 0; j < M; j++) R[i * W + N + j] = dt * B[i * M + j];
    }
    if (lu_factor(N, LU, piv) != 0)
        die(EXIT_BAD_INPUT, "gbt_dense: I - %g*dt*A is singular at dt = %g "
            "(dt*A has the eigenvalue %g): choose another dt", alpha, dt, 1.0 / alpha);
    lu_solve(N, LU, piv, W, R);
    for (int i = 0; i < N; i++) {
        memcpy(Abar + (size_t)i * N, R + (size_t)i * W, sizeof(double) * (size_t)N);
        memcpy(Bbar + (size_t)i * M, R + (size_t)i * W + N, sizeof(double) * (size_t)M);
    }
    free(piv);
    free(R);
    free(LU);
    /* LAB END */
}

/* (2.8) Bilinear (Tustin), α = 1/2: the trapezoidal rule, second order. */
void bilinear_dense(int N, int M, const double *A, const double *B, double dt,
                    double *Abar, double *Bbar)
{
    gbt_dense(N, M, A, B, dt, 0.5, Abar, Bbar);
}

/* (2.6) Forward Euler, α = 0: Ā = I + ΔA, B̄ = ΔB. First order, stable only
 * while every |1 + Δλ| ≤ 1. */
void euler_forward_dense(int N, int M, const double *A, const double *B, double dt,
                         double *Abar, double *Bbar)
{
    gbt_dense(N, M, A, B, dt, 0.0, Abar, Bbar);
}

/* (2.7) Backward Euler, α = 1: Ā = (I − ΔA)⁻¹, B̄ = (I − ΔA)⁻¹ΔB. First order. */
void euler_backward_dense(int N, int M, const double *A, const double *B, double dt,
                          double *Abar, double *Bbar)
{
    gbt_dense(N, M, A, B, dt, 1.0, Abar, Bbar);
}

/* (2.9) Mamba's pair: the exact Ā = e^{ΔA}, the simplified B̄ = ΔB (the first
 * term of B̄'s series ΔB + Δ²AB/2 + …). */
void mamba_dense(int N, int M, const double *A, const double *B, double dt,
                 double *Abar, double *Bbar)
{
    check_dt("mamba_dense", dt);
    expm_augmented(N, 0, A, NULL, dt, Abar, NULL);
    for (int i = 0; i < N * M; i++) Bbar[i] = dt * B[i];
}

const disc_method DISC_METHODS[DISC_NMETHODS] = {
    {"zoh", zoh_dense, 0},
    {"bilinear", bilinear_dense, 2},
    {"euler_fwd", euler_forward_dense, 1},
    {"euler_bwd", euler_backward_dense, 1},
    {"mamba", mamba_dense, 1},
};

const disc_method *disc_method_find(const char *name)
{
    for (int i = 0; i < DISC_NMETHODS; i++)
        if (strcmp(DISC_METHODS[i].name, name) == 0) return &DISC_METHODS[i];
    return NULL;
}

/* (2.10) φ₁(z) = (e^z − 1)/z. The naive formula subtracts two numbers close to 1
 * when |z| is small and loses about log10(1/|z|) digits (all of them below 1e-16).
 * Two cancellation-free paths:
 *   |z| < 1/4:  the Taylor series 1 + z/2 + z²/6 + … = 1 + z/2 (1 + z/3 (1 + z/4 (…))),
 *               13 terms: the first one dropped is below 0.25¹³/14! ≈ 7e-19;
 *   otherwise:  e^z − 1 = e^x(cos y + i sin y) − 1 with z = x + iy, whose real part
 *               e^x cos y − 1 = expm1(x) cos y − 2 sin²(y/2) never subtracts 1. */
double complex phi1(double complex z)
{
    /* LAB 2.2 BEGIN: φ₁(z) = (e^z − 1)/z without losing digits (2.10) */
    if (cabs(z) < 0.25) {
        double complex s = 1.0;
        for (int k = 13; k >= 2; k--) s = 1.0 + z / k * s;
        return s;
    }
    double x = creal(z), y = cimag(z), sh = sin(0.5 * y);
    double complex em1 = CMPLX(expm1(x) * cos(y) - 2.0 * sh * sh, exp(x) * sin(y));
    return em1 / z;
    /* LAB END */
}

double phi1_real(double z)
{
    return z == 0.0 ? 1.0 : expm1(z) / z;   /* expm1 is accurate to < 1 ulp */
}

/* (2.11) ZOH for diagonal A, elementwise: Ā = e^{Δa}, B̄ = (e^{Δa} − 1)/a · b = Δ φ₁(Δa) b. */
void zoh_diag(int N, const double complex *A, const double complex *B, double dt,
              double complex *Abar, double complex *Bbar)
{
    check_dt("zoh_diag", dt);
    for (int n = 0; n < N; n++) {
        double complex z = dt * A[n];
        Abar[n] = cexp(z);
        Bbar[n] = dt * phi1(z) * B[n];
    }
}

/* (2.8) bilinear for diagonal A: Ā = (1 + Δa/2)/(1 − Δa/2), B̄ = Δb/(1 − Δa/2). */
void bilinear_diag(int N, const double complex *A, const double complex *B, double dt,
                   double complex *Abar, double complex *Bbar)
{
    check_dt("bilinear_diag", dt);
    for (int n = 0; n < N; n++) {
        double complex half = 0.5 * dt * A[n];
        Abar[n] = (1.0 + half) / (1.0 - half);
        Bbar[n] = dt * B[n] / (1.0 - half);
    }
}

/* (2.9) Mamba's pair for diagonal A: Ā = e^{Δa}, B̄ = Δb. */
void mamba_diag(int N, const double complex *A, const double complex *B, double dt,
                double complex *Abar, double complex *Bbar)
{
    check_dt("mamba_diag", dt);
    for (int n = 0; n < N; n++) {
        Abar[n] = cexp(dt * A[n]);
        Bbar[n] = dt * B[n];
    }
}

/* (2.1) The discrete recurrence: h_k = Ā h_{k-1} + B̄ x_k, y_k = C h_k + D x_k. */
void ssm_recurrence_dense(int N, const double *Abar, const double *Bbar, const double *C,
                          double D, const double *h0, const double *x, int L, double *y)
{
    double *h = xmalloc_f64((size_t)N), *hn = xmalloc_f64((size_t)N);
    for (int i = 0; i < N; i++) h[i] = h0 ? h0[i] : 0.0;
    /* LAB 2.3 BEGIN: The discrete recurrence (2.1) */
    for (int k = 0; k < L; k++) {
        double yk = D * x[k];
        for (int i = 0; i < N; i++) {
            double s = Bbar[i] * x[k];
            for (int j = 0; j < N; j++) s += Abar[i * N + j] * h[j];
            hn[i] = s;
            yk += C[i] * s;
        }
        double *t = h; h = hn; hn = t;
        y[k] = yk;
    }
    /* LAB END */
    free(hn);
    free(h);
}
