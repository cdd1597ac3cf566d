/* 04_hippo_s4/hippo.c — HiPPO-LegS/LegT and online function approximation (chapter §4.1). */
#include "04_hippo_s4/hippo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "common/util.h"

void hippo_legs(int N, double *A, double *B)
{
    /* LAB 4.1 BEGIN: The HiPPO-LegS matrices (4.3) */
    for (int n = 0; n < N; n++) {
        B[n] = sqrt(2.0 * n + 1.0);
        for (int k = 0; k < N; k++) /* (4.3) */
            A[n * N + k] = n > k ? sqrt(2.0 * n + 1.0) * sqrt(2.0 * k + 1.0)
                         : n == k ? n + 1.0 : 0.0;
    }
    /* LAB END */
}

void hippo_legt(int N, double *A, double *B)
{
    for (int n = 0; n < N; n++) {
        B[n] = sqrt(2.0 * n + 1.0);
        for (int k = 0; k < N; k++) { /* (4.4) */
            double sgn = (n >= k || (k - n) % 2 == 0) ? 1.0 : -1.0;
            A[n * N + k] = sgn * sqrt(2.0 * n + 1.0) * sqrt(2.0 * k + 1.0);
        }
    }
}

void legendre_eval(int N, double x, double *P)
{
    if (N > 0) P[0] = 1.0;
    if (N > 1) P[1] = x;
    for (int n = 1; n + 1 < N; n++) /* (n+1) P_{n+1} = (2n+1) x P_n - n P_{n-1} */
        P[n + 1] = ((2.0 * n + 1.0) * x * P[n] - n * P[n - 1]) / (n + 1.0);
}

void hippo_legs_step(int N, const double *A, const double *B, int k, double f, double *c)
{
    /* (4.5) right-hand side r = (I - A/2k) c + (B/k) f, computed from the bottom row up
     * so that c can be overwritten in place (row n only reads c_0..c_n). */
    double h = 0.5 / k;
    for (int n = N - 1; n >= 0; n--) {
        double s = c[n];
        for (int m = 0; m <= n; m++) s -= h * A[n * N + m] * c[m];
        c[n] = s + B[n] * f / k;
    }
    /* forward substitution with the lower-triangular (I + A/2k) */
    for (int n = 0; n < N; n++) {
        double s = c[n];
        for (int m = 0; m < n; m++) s -= h * A[n * N + m] * c[m];
        c[n] = s / (1.0 + h * A[n * N + n]);
    }
}

void hippo_online_legs(int N, const double *f, int L, int nat, const int *at, double *coef)
{
    double *A = xmalloc_f64((size_t)N * N), *B = xmalloc_f64(N), *c = xcalloc(N, sizeof *c);
    hippo_legs(N, A, B);
    int next = 0;
    for (int i = 0; i < L && next < nat; i++) {
        if (i == 0) c[0] = f[0]; /* the exact LegS coefficients of a constant */
        else hippo_legs_step(N, A, B, i + 1, f[i], c);
        while (next < nat && at[next] == i) memcpy(coef + (size_t)N * next++, c, N * sizeof *c);
    }
    free(A); free(B); free(c);
}

void hippo_online_legt(int N, double theta, double dt, const double *f, int L, int nat,
                       const int *at, double *coef)
{
    double *A = xmalloc_f64((size_t)N * N), *B = xmalloc_f64(N);
    double *Ab = xmalloc_f64((size_t)N * N), *Bb = xmalloc_f64(N);
    double *c = xcalloc(N, sizeof *c), *t = xmalloc_f64(N);
    hippo_legt(N, A, B);
    for (int i = 0; i < N * N; i++) A[i] = -A[i] / theta; /* (4.2) as x' = A x + B f */
    for (int i = 0; i < N; i++) B[i] /= theta;
    bilinear_dense(N, 1, A, B, dt, Ab, Bb);
    int next = 0;
    for (int i = 0; i < L && next < nat; i++) {
        for (int n = 0; n < N; n++) { /* c ← Ā c + B̄ f */
            double s = Bb[n] * f[i];
            for (int m = 0; m < N; m++) s += Ab[n * N + m] * c[m];
            t[n] = s;
        }
        memcpy(c, t, N * sizeof *c);
        while (next < nat && at[next] == i) memcpy(coef + (size_t)N * next++, c, N * sizeof *c);
    }
    free(A); free(B); free(Ab); free(Bb); free(c); free(t);
}

static void reconstruct(int N, const double *c, int M, const double *x, double *out)
{
    double *P = xmalloc_f64(N);
    for (int j = 0; j < M; j++) {
        legendre_eval(N, x[j], P);
        double s = 0;
        for (int n = 0; n < N; n++) s += c[n] * sqrt(2.0 * n + 1.0) * P[n];
        out[j] = s;
    }
    free(P);
}

void hippo_reconstruct_legs(int N, const double *c, double t, int M, const double *s,
                            double *out)
{
    double *x = xmalloc_f64(M);
    for (int j = 0; j < M; j++) x[j] = 2.0 * s[j] / t - 1.0; /* [0, t] → [-1, 1] */
    reconstruct(N, c, M, x, out);
    free(x);
}

void hippo_reconstruct_legt(int N, const double *c, double t, double theta, int M,
                            const double *s, double *out)
{
    double *x = xmalloc_f64(M);
    for (int j = 0; j < M; j++) x[j] = 2.0 * (s[j] - t) / theta + 1.0; /* [t-θ, t] → [-1, 1] */
    reconstruct(N, c, M, x, out);
    free(x);
}

double hippo_legs_eigvec_max(int N)
{
    double *A = xmalloc_f64((size_t)N * N), *B = xmalloc_f64(N), *v = xmalloc_f64(N);
    hippo_legs(N, A, B);
    double mx = 0;
    for (int k = 0; k < N; k++) {
        /* (A - (k+1) I) v = 0 with v_k = 1, v_n = 0 for n < k: rows n > k give
         * v_n = -Σ_{k≤m<n} A_nm v_m / (n - k). */
        v[k] = 1.0;
        for (int n = k + 1; n < N; n++) {
            double s = 0;
            for (int m = k; m < n; m++) s += A[n * N + m] * v[m];
            v[n] = -s / (n - k);
        }
        for (int n = k; n < N; n++) if (fabs(v[n]) > mx) mx = fabs(v[n]);
    }
    free(A); free(B); free(v);
    return mx;
}
