/* tests/test_s6_grad.c — the hand-written backward of the selective scan against
 * central finite differences, built with real = double (TESTS_F64).
 *
 * The scalar loss is ℓ = Σ dout ⊙ out + Σ dh_last ⊙ h_last with fixed random dout,
 * dh_last, so ∂ℓ/∂out = dout and ∂ℓ/∂h_last = dh_last are exactly the upstream
 * gradients the backward gets. Tolerance: gradcheck's symmetric relative error ≤ 1e-6
 * (above the noise floor set in run_gradcheck).
 * With step h = 1e-5 the central difference has truncation error ~h²·|ℓ'''|/6 ≈ 1e-11
 * and rounding error ~ε·|ℓ|/h ≈ 1e-11 relative to gradients of order 1: 1e-6 leaves
 * five orders of margin, and a wrong term in the backward shows up as O(1). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/s6.h"
#include "05_selective_s6/s6_problem.h"
#include "common/testutil.h"

typedef struct {
    s6_problem p;
    s6_args a;
    real *out, *hl;
    size_t nx, nh;
} gctx;

static double scan_loss(void *vc)
{
    gctx *c = vc;
    s6_scan_forward(&c->a, c->out, c->hl);
    double l = 0;
    for (size_t i = 0; i < c->nx; i++) l += (double)c->p.dout[i] * c->out[i];
    for (size_t i = 0; i < c->nh; i++) l += (double)c->p.dlast_state[i] * c->hl[i];
    return l;
}

static void run_gradcheck(int varying, int zoh, int softplus_on)
{
    gctx c;
    const int batch = 2, D = 3, L = 9, N = 4;
    s6_problem_make(&c.p, 42 + varying + 2 * zoh, batch, D, L, N, S6P_ALL | (varying ? 0 : S6P_LTI));
    c.p.delta_softplus = softplus_on;
    if (!softplus_on)   /* Δ = δ + bias must stay positive without the softplus: set δ so
                           that Δ = 0.06 + 0.1·δ₀ ∈ [0.01, 0.11] (δ₀ the drawn δ ∈ [−0.5, 0.5]) */
        for (size_t i = 0; i < (size_t)batch * D * L; i++)
            c.p.delta[i] = (real)(0.06 + 0.1 * c.p.delta[i] - c.p.delta_bias[i / L % D]);
    c.a = s6_problem_args(&c.p);
    c.a.bbar_zoh = zoh;
    c.nx = (size_t)batch * D * L;
    c.nh = (size_t)batch * D * N;
    c.out = malloc(c.nx * sizeof(real));
    c.hl = malloc(c.nh * sizeof(real));

    /* the problem's own backward (zeroed gradients), then each against finite differences */
    s6_problem_solve(&c.p);
    s6_grads g = {.du = c.p.du, .ddelta = c.p.ddelta, .dA = c.p.dA, .dB = c.p.dB, .dC = c.p.dC,
                  .dDskip = c.p.dDskip, .dz = c.p.dz, .ddelta_bias = c.p.ddelta_bias,
                  .dh0 = c.p.dh0};
    if (zoh) {   /* s6_problem_solve runs the reference's Euler B̄: redo with exact ZOH */
        for (int k = S6_NIN + 2; k < S6_NTENSORS; k++)
            memset(*s6_slot(&c.p, &S6_TENSORS[k]), 0, s6_numel(&c.p, &S6_TENSORS[k]) * sizeof(real));
        s6_scan_backward(&c.a, c.p.dout, c.p.dlast_state, &g);
    }

    /* Below the finite differences' rounding noise a relative error means nothing. ℓ is a
     * sum of terms of total size S = Σ|dout·out| + Σ|dlast_state·h_last|, each rounded
     * with relative error ≲ ε, so (ℓ(p+h) − ℓ(p−h))/2h carries noise of about ε·S/h; at
     * ten times that, the floor is the gradient size at which the noise is 1e-6 relative.
     * (Entries of du far below it occur where small Δ makes B̄ small: measured 1.6e-6.) */
    scan_loss(&c);
    double S = 0;
    for (size_t i = 0; i < c.nx; i++) S += fabs((double)c.p.dout[i] * c.out[i]);
    for (size_t i = 0; i < c.nh; i++) S += fabs((double)c.p.dlast_state[i] * c.hl[i]);
    const double h = 1e-5, floor = 10 * REAL_EPS * S / h / 1e-6;
    for (int k = 0; k < 9; k++) {   /* the inputs u … h0 and their gradients du … dh0 */
        const s6_tensor *in = &S6_TENSORS[k], *gr = &S6_TENSORS[S6_NIN + 2 + k];
        const size_t n = s6_numel(&c.p, in);
        double err = gradcheck(scan_loss, &c, *s6_slot(&c.p, in), *s6_slot(&c.p, gr), n, h, 200, floor);
        printf("scan grad %-10s varying=%d zoh=%d softplus=%d: max rel err %.2e\n", in->name,
               varying, zoh, softplus_on, err);
        ck_assert_msg(err <= 1e-6, "d%s: relative error %.3e > 1e-6", in->name, err);
    }
    free(c.out); free(c.hl);
    s6_problem_free(&c.p);
}

START_TEST(test_grad_selective) { run_gradcheck(1, 0, 1); }
END_TEST
START_TEST(test_grad_lti) { run_gradcheck(0, 0, 1); }
END_TEST
START_TEST(test_grad_zoh) { run_gradcheck(1, 1, 1); }
END_TEST
START_TEST(test_grad_no_softplus) { run_gradcheck(1, 0, 0); }
END_TEST

int main(void)
{
    Suite *s = suite_create("s6_grad");
    TCase *tc = tcase_create("scan_backward");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_grad_selective);
    tcase_add_test(tc, test_grad_lti);
    tcase_add_test(tc, test_grad_zoh);
    tcase_add_test(tc, test_grad_no_softplus);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
