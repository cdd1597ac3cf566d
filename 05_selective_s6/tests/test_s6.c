/* tests/test_s6.c — the selective scan in float32 against a float64 reference written
 * straight from the equations; the parallel scan against the sequential one; bad
 * arguments. (Gradient checks are in test_s6_grad.c, built in double.) */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/s6.h"
#include "02_zoh_discretize/zoh.h"
#include "common/rng.h"
#include "05_selective_s6/s6_problem.h"
#include "common/testutil.h"
#include "common/util.h"

/* The float64 reference: selective_scan_ref's loop, from the equations (5.1)–(5.6). */
static void ref_scan(const s6_problem *p, int zoh, double *out, double *hl)
{
    const int D = p->D, L = p->L, N = p->N;
    const int var = !(p->opts & S6P_LTI);
    double *h = malloc((size_t)N * sizeof(double));
    for (int b = 0; b < p->batch; b++)
        for (int d = 0; d < D; d++) {
            size_t bd = (size_t)b * D + d;
            for (int n = 0; n < N; n++) h[n] = p->h0 ? p->h0[bd * N + n] : 0.0;
            for (int t = 0; t < L; t++) {
                size_t i = bd * L + t;
                double v = (double)p->delta[i] + (p->delta_bias ? p->delta_bias[d] : 0.0);
                double dt = !p->delta_softplus ? v : v > 20 ? v : log1p(exp(v));
                double y = 0;
                for (int n = 0; n < N; n++) {
                    double A = p->A[d * N + n];
                    double Bn = var ? p->B[((size_t)b * N + n) * L + t] : p->B[d * N + n];
                    double Cn = var ? p->C[((size_t)b * N + n) * L + t] : p->C[d * N + n];
                    double bbar = zoh ? expm1(dt * A) / A * Bn : dt * Bn;
                    h[n] = exp(dt * A) * h[n] + bbar * p->u[i];
                    y += Cn * h[n];
                }
                if (p->Dskip) y += p->Dskip[d] * p->u[i];
                if (p->z) { double z = p->z[i]; y *= z / (1 + exp(-z)); }
                out[i] = y;
            }
            for (int n = 0; n < N; n++) hl[bd * N + n] = h[n];
        }
    free(h);
}

static double *to_f64(const real *x, size_t n)
{
    double *y = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

/* Tolerance of a float32 scan of length L with N states against float64: each step
 * rounds ~4 times (exp, two products, a sum) relative to |h|, and errors made at step s
 * are still present (decayed by Ā ≤ 1) at every later step, so the state error is at most
 * 4·L·ε·max|h|; the readout adds N·ε·Σ|C h|. Norm-wise: (4L + 2N)·ε·max|y|. */
static double scan_tol(int L, int N, const double *y, size_t n)
{
    return (4.0 * L + 2.0 * N) * REAL_EPS * max_abs(y, n);
}

static void check_against_ref(int L, int N, int varying, int with_opt, int zoh, int parallel)
{
    s6_problem p;
    s6_problem_make(&p, 1000 + L * 7 + N, 2, 3, L, N, (varying ? 0 : S6P_LTI) | (with_opt ? S6P_ALL : 0));
    s6_args a = s6_problem_args(&p);
    a.bbar_zoh = zoh;
    size_t nx = (size_t)p.batch * p.D * L, nh = (size_t)p.batch * p.D * N;
    real *out = malloc(nx * sizeof(real)), *hl = malloc(nh * sizeof(real));
    th_poison_f32(out, nx);
    th_poison_f32(hl, nh);
    if (parallel) s6_scan_forward_parallel(&a, out, hl);
    else s6_scan_forward(&a, out, hl);
    double *ro = malloc(nx * sizeof(double)), *rh = malloc(nh * sizeof(double));
    ref_scan(&p, zoh, ro, rh);
    double *o64 = to_f64(out, nx), *h64 = to_f64(hl, nh);
    ck_assert_allclose(o64, ro, nx, 0, scan_tol(L, N, ro, nx));
    ck_assert_allclose(h64, rh, nh, 0, scan_tol(L, N, rh, nh));
    free(out); free(hl); free(ro); free(rh); free(o64); free(h64);
    s6_problem_free(&p);
}

static const int Ls[] = {1, 7, 128, 1000};
static const int Ns[] = {1, 16};

/* _i runs over (L, N) pairs: 4 lengths × 2 state sizes */
START_TEST(test_scan_selective_ref)
{
    check_against_ref(Ls[_i / 2], Ns[_i % 2], 1, 1, 0, 0);
}
END_TEST

START_TEST(test_scan_lti_ref)
{
    check_against_ref(Ls[_i / 2], Ns[_i % 2], 0, 0, 0, 0);
}
END_TEST

START_TEST(test_scan_zoh_ref)
{
    check_against_ref(Ls[_i / 2], Ns[_i % 2], 1, 1, 1, 0);
}
END_TEST

START_TEST(test_parallel_ref)
{
    check_against_ref(Ls[_i / 2], Ns[_i % 2], _i % 2, 1, 0, 1);
}
END_TEST

/* parallel = sequential directly: both are float32, with different summation orders
 * (a tree of depth log₂L instead of a chain), so they agree to the same L·ε bound. */
START_TEST(test_parallel_equals_sequential)
{
    s6_problem p;
    s6_problem_make(&p, 77, 2, 5, 300, 16, S6P_ALL);
    const s6_args a = s6_problem_args(&p);
    size_t nx = (size_t)2 * 5 * 300, nh = (size_t)2 * 5 * 16;
    real *o1 = malloc(nx * sizeof(real)), *o2 = malloc(nx * sizeof(real));
    real *h1 = malloc(nh * sizeof(real)), *h2 = malloc(nh * sizeof(real));
    th_poison_f32(o2, nx);
    th_poison_f32(h2, nh);
    s6_scan_forward(&a, o1, h1);
    s6_scan_forward_parallel(&a, o2, h2);
    double *a1 = to_f64(o1, nx), *a2 = to_f64(o2, nx), *b1 = to_f64(h1, nh), *b2 = to_f64(h2, nh);
    ck_assert_allclose(a2, a1, nx, 0, scan_tol(300, 16, a1, nx));
    ck_assert_allclose(b2, b1, nh, 0, scan_tol(300, 16, b1, nh));
    free(o1); free(o2); free(h1); free(h2); free(a1); free(a2); free(b1); free(b2);
    s6_problem_free(&p);
}
END_TEST

/* The Blelloch scan of scalar pairs against the plain recurrence, for lengths that are
 * and are not powers of two. */
START_TEST(test_blelloch_pairs)
{
    static const int ns[] = {1, 2, 3, 8, 13, 64, 100};
    rng_t r;
    rng_seed(&r, 5);
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        int n = ns[k];
        real *a = xmalloc(n * sizeof(real)), *b = xmalloc(n * sizeof(real));
        for (int t = 0; t < n; t++) {
            a[t] = (real)rng_uniform_range(&r, 0.5, 1.0);
            b[t] = (real)rng_uniform_range(&r, -1, 1);
        }
        double *want = malloc(n * sizeof(double)), *got = malloc(n * sizeof(double));
        double h = 0, maxh = 0;
        for (int t = 0; t < n; t++) {
            h = a[t] * h + b[t];
            want[t] = h;
            maxh = fmax(maxh, fabs(h));
        }
        s6_blelloch_scan(n, a, b);
        for (int t = 0; t < n; t++) got[t] = b[t];
        /* 2 roundings per combine, log₂n + 2 combines on any path, each error carried
         * with a factor ≤ 1; but the products a₂a₁ also round: ≤ 4(n)ε·max|h| */
        ck_assert_allclose(got, want, n, 0, 4.0 * n * REAL_EPS * maxh + 1e-30);
        free(a); free(b); free(want); free(got);
    }
}
END_TEST

/* Selectivity in one line: with Δ → large at one step, e^{ΔA} → 0 and the state is
 * reset to that step's input: h_t = B̄u_t alone (the "forget" gate of the chapter). */
START_TEST(test_large_delta_resets_state)
{
    s6_problem p;
    s6_problem_make(&p, 9, 1, 2, 6, 4, 0);      /* no bias, no softplus: Δ = delta */
    p.delta[5] = 60;                            /* channel 0, t = 5: Δ = 60 */
    for (int n = 0; n < 4; n++) p.A[n] = -1;    /* e^{60·A} = e^{−60} ≈ 1e-26 */
    real hl[2 * 4], out[2 * 6];
    const s6_args a = s6_problem_args(&p);
    s6_scan_forward(&a, out, hl);
    for (int n = 0; n < 4; n++) {
        double want = 60.0 * p.B[n * 6 + 5] * p.u[5];
        /* the surviving old state is ≤ e^{−60}·|h| ≈ 1e-26: only float rounding remains */
        ck_assert_msg(fabs(hl[n] - want) <= 4 * REAL_EPS * fabs(want) + 1e-20,
                      "state %d not reset: %g vs %g", n, (double)hl[n], want);
    }
    s6_problem_free(&p);
}
END_TEST

/* The scans' e^x (range reduction + degree-7 polynomial, written to vectorize) against
 * exp in double over the whole range it serves, [−87, 88], on a dense grid and at random
 * points. Bound: 2·2^-23 relative ("2 ulp"): the polynomial's truncation is < 5e-9
 * (0.04 ulp), the two-part reduction r = x − k·ln2 is exact to ~2^-30, and Horner's
 * steps in float add rounding of order one ulp in total (|r| ≤ 0.35 damps the early
 * ones) — measured worst 0.85. Below −87 it
 * clamps to e^−87 (a normal float): nonnegative, tiny, never NaN or negative. */
START_TEST(test_exp_vec)
{
    rng_t r;
    rng_seed(&r, 2026);
    enum { NX = 2000003 };
    real *x = xmalloc(NX * sizeof(real)), *y = xmalloc(NX * sizeof(real));
    for (int i = 0; i < NX; i++)
        x[i] = i < 1000000 ? -87.0f + 175.0f * (float)i / 1e6f : (float)(-87.0 + 175.0 * rng_uniform(&r));
    x[NX - 3] = -1000.0f;      /* clamped */
    x[NX - 2] = 0.0f;
    x[NX - 1] = -86.99f;
    th_poison_f32(y, NX);
    s6_exp_n(NX, x, y);
    double worst = 0;
    for (int i = 0; i < NX - 3; i++) {
        const double want = exp((double)x[i]), e = fabs((double)y[i] - want) / want;
        if (e > worst) worst = e;
        if (e > 2 * 0x1p-23) ck_abort_msg("e^%.9g = %.9g, exp = %.9g: %.2f ulp", x[i], y[i], want, e / 0x1p-23);
    }
    printf("  s6_exp_n: worst error %.2f ulp over [-87, 88]\n", worst / 0x1p-23);
    ck_assert(y[NX - 3] > 0 && y[NX - 3] < 2e-38);
    ck_assert(y[NX - 2] == 1.0f);
    ck_assert(y[NX - 1] > 0 && isfinite(y[NX - 1]));
    free(x);
    free(y);
    /* Every float is an input (a Δ of 3e38 or a diverged weight reaches it as NaN or
     * ±inf): NaN in gives NaN out, ±inf and huge values clamp, and under UBSan (SAN=1)
     * no input overflows the exponent arithmetic. */
    const real sx[] = {NAN, -NAN, INFINITY, -INFINITY, 3e38f, -3e38f, FLT_MAX, -FLT_MAX, 0x1p-149f, -0.0f, 88.0f, 88.1f};
    enum { NS = sizeof sx / sizeof sx[0] };
    real sy[NS];
    s6_exp_n(NS, sx, sy);
    ck_assert(isnan(sy[0]) && isnan(sy[1]));
    for (int i = 2; i < NS; i++) ck_assert_msg(isfinite(sy[i]) && sy[i] > 0, "e^%g = %g", sx[i], sy[i]);
    ck_assert(sy[3] < 2e-38 && sy[2] > 1e38 && sy[9] == 1.0f);
}
END_TEST

START_TEST(test_bad_sizes_exit2)
{
    s6_problem p;
    s6_problem_make(&p, 3, 1, 1, 4, 2, 0);
    s6_args a = s6_problem_args(&p);
    a.L = 0;
    real out[4];
    s6_scan_forward(&a, out, NULL);   /* dies with exit code 2 */
}
END_TEST

START_TEST(test_null_input_exit2)
{
    s6_problem p;
    s6_problem_make(&p, 3, 1, 1, 4, 2, 0);
    s6_args a = s6_problem_args(&p);
    a.B = NULL;
    real out[4];
    s6_scan_forward_parallel(&a, out, NULL);
}
END_TEST

/* --check grades a set written by an independent NumPy implementation (float64, forward and
 * backward from the equations) at batch 3, D 5, L 257, N 7, a shape this project never uses,
 * and fails wrong outputs whatever tolerances their manifest asks for. */
START_TEST(test_check_independent_numpy)
{
    ck_assert_grades(PROG_PATH, TH_PYTHON " " STAGE_DIR "/tests/scan_numpy.py");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("s6_scan");
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_scan_selective_ref, 0, 8);
    tcase_add_loop_test(tc, test_scan_lti_ref, 0, 8);
    tcase_add_loop_test(tc, test_scan_zoh_ref, 0, 8);
    tcase_add_loop_test(tc, test_parallel_ref, 0, 8);
    tcase_add_test(tc, test_parallel_equals_sequential);
    tcase_add_test(tc, test_blelloch_pairs);
    tcase_add_test(tc, test_large_delta_resets_state);
    tcase_add_test(tc, test_exp_vec);
    tcase_add_exit_test(tc, test_bad_sizes_exit2, 2);
    tcase_add_exit_test(tc, test_null_input_exit2, 2);
    suite_add_tcase(s, tc);
    TCase *tv = tcase_create("vectors");
    tcase_set_timeout(tv, 120);
    tcase_add_test(tv, test_check_independent_numpy);
    suite_add_tcase(s, tv);
    return th_run_suite(s);
}
