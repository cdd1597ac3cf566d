/* common/tests/test_nn.c — the training plumbing, built with real = double:
 * every backward against central finite differences, AdamW against its formula. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/nn.h"
#include "common/rng.h"
#include "common/testutil.h"

/* Central differences have truncation error O(h²·f''') ≈ 1e-10 at h = 1e-5 and
 * rounding error O(ε·|f|/h) ≈ 1e-11, so analytic gradients must agree to 1e-6
 * relative (the project's bar); a wrong backward is off by O(1). */
#define GC_H 1e-5
#define GC_TOL 1e-6
#define GC_FLOOR 1e-8

enum { T = 5, IN = 7, OUT = 4, V = 6 };

typedef struct {
    real x[T * IN], W[OUT * IN], b[OUT], y[T * OUT], dy[T * OUT];  /* dy: fixed upstream gradient */
    real w[IN], nb[IN], mean[T], rstd[T], ny[T * IN], dny[T * IN];
    real logits[T * V], probs[T * V];
    int targets[T];
} ctx_t;

static void fill(rng_t *r, real *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (real)rng_normal(r); }

static ctx_t *make_ctx(void) {
    ctx_t *c = calloc(1, sizeof *c);
    rng_t r;
    rng_seed(&r, 2024);
    fill(&r, c->x, T * IN); fill(&r, c->W, OUT * IN); fill(&r, c->b, OUT); fill(&r, c->dy, T * OUT);
    fill(&r, c->w, IN); fill(&r, c->nb, IN); fill(&r, c->dny, T * IN); fill(&r, c->logits, T * V);
    for (int t = 0; t < T; t++) c->targets[t] = (int)rng_below(&r, V);
    c->targets[2] = -1;   /* one masked row */
    return c;
}

/* Scalar losses: L = Σ dy ⊙ f(x), so dL/dy_out = dy. */
static double loss_linear(void *p) {
    ctx_t *c = p;
    linear_forward(c->y, c->x, c->W, c->b, T, IN, OUT);
    double s = 0;
    for (int i = 0; i < T * OUT; i++) s += c->y[i] * c->dy[i];
    return s;
}
static double loss_rms(void *p) {
    ctx_t *c = p;
    rmsnorm_forward(c->ny, c->rstd, c->x, c->w, T, IN, 1e-5);
    double s = 0;
    for (int i = 0; i < T * IN; i++) s += c->ny[i] * c->dny[i];
    return s;
}
static double loss_ln(void *p) {
    ctx_t *c = p;
    layernorm_forward(c->ny, c->mean, c->rstd, c->x, c->w, c->nb, T, IN, 1e-5);
    double s = 0;
    for (int i = 0; i < T * IN; i++) s += c->ny[i] * c->dny[i];
    return s;
}
static double loss_xent(void *p) {
    ctx_t *c = p;
    return softmax_xent_forward(c->probs, c->logits, c->targets, T, V);
}

START_TEST(linear_grads) {
    ctx_t *c = make_ctx();
    real dx[T * IN] = {0}, dW[OUT * IN] = {0}, db[OUT] = {0};
    loss_linear(c);
    linear_backward(dx, dW, db, c->dy, c->x, c->W, T, IN, OUT);
    ck_assert_double_lt(gradcheck(loss_linear, c, c->x, dx, T * IN, GC_H, 0, GC_FLOOR), GC_TOL);
    ck_assert_double_lt(gradcheck(loss_linear, c, c->W, dW, OUT * IN, GC_H, 0, GC_FLOOR), GC_TOL);
    ck_assert_double_lt(gradcheck(loss_linear, c, c->b, db, OUT, GC_H, 0, GC_FLOOR), GC_TOL);
    free(c);
}
END_TEST

START_TEST(rmsnorm_grads) {
    ctx_t *c = make_ctx();
    real dx[T * IN] = {0}, dw[IN] = {0};
    loss_rms(c);
    rmsnorm_backward(dx, dw, c->dny, c->x, c->w, c->rstd, T, IN);
    ck_assert_double_lt(gradcheck(loss_rms, c, c->x, dx, T * IN, GC_H, 0, GC_FLOOR), GC_TOL);
    ck_assert_double_lt(gradcheck(loss_rms, c, c->w, dw, IN, GC_H, 0, GC_FLOOR), GC_TOL);
    free(c);
}
END_TEST

START_TEST(layernorm_grads) {
    ctx_t *c = make_ctx();
    real dx[T * IN] = {0}, dw[IN] = {0}, db[IN] = {0};
    loss_ln(c);
    layernorm_backward(dx, dw, db, c->dny, c->x, c->w, c->mean, c->rstd, T, IN);
    ck_assert_double_lt(gradcheck(loss_ln, c, c->x, dx, T * IN, GC_H, 0, GC_FLOOR), GC_TOL);
    ck_assert_double_lt(gradcheck(loss_ln, c, c->w, dw, IN, GC_H, 0, GC_FLOOR), GC_TOL);
    ck_assert_double_lt(gradcheck(loss_ln, c, c->nb, db, IN, GC_H, 0, GC_FLOOR), GC_TOL);
    free(c);
}
END_TEST

START_TEST(xent_grads_and_value) {
    ctx_t *c = make_ctx();
    real dl[T * V] = {0};
    double L = loss_xent(c);
    softmax_xent_backward(dl, c->probs, c->targets, T, V);
    ck_assert_double_lt(gradcheck(loss_xent, c, c->logits, dl, T * V, GC_H, 0, GC_FLOOR), GC_TOL);
    /* Value against the definition −mean log softmax, computed directly. */
    double ref = 0;
    int n = 0;
    for (int t = 0; t < T; t++) {
        if (c->targets[t] < 0) continue;
        double z = 0;
        for (int v = 0; v < V; v++) z += exp(c->logits[t * V + v]);
        ref -= c->logits[t * V + c->targets[t]] - log(z);
        n++;
    }
    ck_assert_double_lt(fabs(L - ref / n), 1e-12);   /* both O(1), a few roundings apart */
    /* The masked row gets no gradient. */
    for (int v = 0; v < V; v++) ck_assert(dl[2 * V + v] == 0);
    free(c);
}
END_TEST

START_TEST(pointwise_derivatives) {
    rng_t r;
    rng_seed(&r, 5);
    for (int i = 0; i < 50; i++) {
        double x = 6 * rng_normal(&r), h = 1e-6;
        /* Central difference error O(h²) ≈ 1e-12 relative; rounding ε/h ≈ 1e-10. */
        ck_assert_double_lt(fabs((silu(x + h) - silu(x - h)) / (2 * h) - silu_grad(x)), 1e-8);
        ck_assert_double_lt(fabs((softplus(x + h) - softplus(x - h)) / (2 * h) - softplus_grad(x)), 1e-8);
        ck_assert_double_lt(fabs((gelu(x + h) - gelu(x - h)) / (2 * h) - gelu_grad(x)), 1e-8);
    }
    ck_assert(softplus(30) == 30);   /* the reference's threshold: identity above 20 */
}
END_TEST

START_TEST(mse_grads) {
    rng_t r;
    rng_seed(&r, 9);
    real y[8], t[8], dy[8] = {0};
    fill(&r, y, 8);
    fill(&r, t, 8);
    mse_backward(dy, y, t, 8);
    for (int i = 0; i < 8; i++) ck_assert_double_lt(fabs(dy[i] - 2 * (y[i] - t[i]) / 8), 1e-15);
}
END_TEST

START_TEST(adamw_first_step) {
    /* After one step from m = v = 0 the bias-corrected update is lr·sign(g) (for
     * |g| ≫ eps) plus the decoupled decay lr·wd·p. */
    real p[3] = {1, -2, 0.5}, g[3] = {0.3, -4, 1e-3}, m[3] = {0}, v[3] = {0};
    adamw_cfg cfg = {0.01, 0.9, 0.999, 1e-8, 0.1};
    real p0[3];
    memcpy(p0, p, sizeof p);
    adamw_update(p, g, m, v, 3, 1, &cfg, 1, 1);
    for (int i = 0; i < 3; i++) {
        double want = p0[i] - 0.01 * (g[i] / (fabs(g[i]) + 1e-8) + 0.1 * p0[i]);
        ck_assert_double_lt(fabs(p[i] - want), 1e-12);
    }
}
END_TEST

START_TEST(clip_and_schedule) {
    real g[4] = {3, 4, 0, 0};
    ck_assert_double_eq_tol(grad_clip(g, 4, 1.0), 5.0, 1e-12);
    ck_assert_double_eq_tol(sqrt(g[0] * g[0] + g[1] * g[1]), 1.0, 1e-12);
    ck_assert_double_eq_tol(lr_schedule(0, 10, 100, 1.0, 0.1), 0.1, 1e-12);
    ck_assert_double_eq_tol(lr_schedule(9, 10, 100, 1.0, 0.1), 1.0, 1e-12);
    ck_assert_double_eq_tol(lr_schedule(10, 10, 100, 1.0, 0.1), 1.0, 1e-12);
    ck_assert_double_eq_tol(lr_schedule(100, 10, 100, 1.0, 0.1), 0.1, 1e-12);
    ck_assert_double_eq_tol(lr_schedule(55, 10, 100, 1.0, 0.1), 0.55, 1e-12);   /* cosine midpoint */
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn (real = double)");
    TCase *tc = tcase_create("backward_vs_finite_differences");
    tcase_add_test(tc, linear_grads);
    tcase_add_test(tc, rmsnorm_grads);
    tcase_add_test(tc, layernorm_grads);
    tcase_add_test(tc, xent_grads_and_value);
    tcase_add_test(tc, pointwise_derivatives);
    tcase_add_test(tc, mse_grads);
    suite_add_tcase(s, tc);
    tc = tcase_create("optimizer");
    tcase_add_test(tc, adamw_first_step);
    tcase_add_test(tc, clip_and_schedule);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
