/* tests/test_s6_grad.c — the hand-written backward of the selective scan against
 * central finite differences, built with real = double (TESTS_F64).
 *
 * The scalar loss is ℓ = Σ dout ⊙ out + Σ dh_last ⊙ h_last with fixed random dout,
 * dh_last, so ∂ℓ/∂out = dout and ∂ℓ/∂h_last = dh_last are exactly the upstream
 * gradients the backward gets. Tolerance: gradcheck's symmetric relative error ≤ 1e-6.
 * With step h = 1e-5 the central difference has truncation error ~h²·|ℓ'''|/6 ≈ 1e-11
 * and rounding error ~ε·|ℓ|/h ≈ 1e-11 relative to gradients of order 1: 1e-6 leaves
 * five orders of margin, and a wrong term in the backward shows up as O(1). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "05_selective_s6/s6.h"
#include "05_selective_s6/tests/s6_prob.h"
#include "common/nn.h"
#include "common/testutil.h"

typedef struct {
    prob p;
    real *dout, *dhl, *out, *hl;
    size_t nx, nh;
} gctx;

static double scan_loss(void *vc)
{
    gctx *c = vc;
    s6_scan_forward(&c->p.a, c->out, c->hl);
    double l = 0;
    for (size_t i = 0; i < c->nx; i++) l += (double)c->dout[i] * c->out[i];
    for (size_t i = 0; i < c->nh; i++) l += (double)c->dhl[i] * c->hl[i];
    return l;
}

static void run_gradcheck(int varying, int zoh, int softplus_on)
{
    gctx c;
    const int batch = 2, D = 3, L = 9, N = 4;
    prob_make(&c.p, 42 + varying + 2 * zoh, batch, D, L, N, varying, 1);
    c.p.a.bbar_zoh = zoh;
    c.p.a.delta_softplus = softplus_on;
    if (!softplus_on)   /* Δ = δ + bias must stay positive without the softplus: map δ from
                           [−3, 0] to [1.1, 1.5], so Δ ∈ [0.1, 2.5] (bias ∈ [−1, 1]) */
        for (size_t i = 0; i < (size_t)batch * D * L; i++)
            c.p.delta[i] = (real)(1.5 + 0.4 * c.p.delta[i] / 3);
    c.nx = (size_t)batch * D * L;
    c.nh = (size_t)batch * D * N;
    rng_t r;
    rng_seed(&r, 7);
    c.dout = rnd(&r, c.nx, -1, 1);
    c.dhl = rnd(&r, c.nh, -1, 1);
    c.out = malloc(c.nx * sizeof(real));
    c.hl = malloc(c.nh * sizeof(real));

    size_t nbc = varying ? (size_t)batch * N * L : (size_t)D * N;
    s6_grads g = {
        .du = calloc(c.nx, sizeof(real)), .ddelta = calloc(c.nx, sizeof(real)),
        .dA = calloc((size_t)D * N, sizeof(real)), .dB = calloc(nbc, sizeof(real)),
        .dC = calloc(nbc, sizeof(real)), .dDskip = calloc(D, sizeof(real)),
        .dz = calloc(c.nx, sizeof(real)), .ddelta_bias = calloc(D, sizeof(real)),
        .dh0 = calloc(c.nh, sizeof(real))};
    s6_scan_backward(&c.p.a, c.dout, c.dhl, &g);

    struct { const char *name; real *p, *g; size_t n; } t[] = {
        {"u", c.p.u, g.du, c.nx},         {"delta", c.p.delta, g.ddelta, c.nx},
        {"A", c.p.A, g.dA, (size_t)D * N}, {"B", c.p.B, g.dB, nbc},
        {"C", c.p.C, g.dC, nbc},          {"Dskip", c.p.Dskip, g.dDskip, D},
        {"z", c.p.z, g.dz, c.nx},         {"delta_bias", c.p.bias, g.ddelta_bias, D},
        {"h0", c.p.h0, g.dh0, c.nh}};
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        double err = gradcheck(scan_loss, &c, t[k].p, t[k].g, t[k].n, 1e-5, 200, 1e-8);
        printf("scan grad %-10s varying=%d zoh=%d softplus=%d: max rel err %.2e\n", t[k].name,
               varying, zoh, softplus_on, err);
        ck_assert_msg(err <= 1e-6, "d%s: relative error %.3e > 1e-6", t[k].name, err);
    }
    free(g.du); free(g.ddelta); free(g.dA); free(g.dB); free(g.dC); free(g.dDskip);
    free(g.dz); free(g.ddelta_bias); free(g.dh0);
    free(c.dout); free(c.dhl); free(c.out); free(c.hl);
    prob_free(&c.p);
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
