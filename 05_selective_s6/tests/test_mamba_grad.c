/* tests/test_mamba_grad.c — the block's and the whole language model's hand-written
 * backward against central finite differences, built with real = double (TESTS_F64),
 * for the three variants of the chapter: S6, LTI (S4D in the same block), S6 without
 * the gate. Tolerance: symmetric relative error ≤ 1e-6, with step h = 1e-5 (truncation
 * ~h²/6 ≈ 2e-11 relative). The difference quotient also carries the loss's rounding,
 * ~4ε·S/h where S is the sum of the magnitudes the loss adds up; a gradient entry far
 * below that noise cannot be resolved to 1e-6, so gradcheck's floor is set to
 * noise/1e-6: such entries are held to the noise level in absolute terms instead. Some
 * entries are that small for a reason: Δ ≈ 1e-3…1e-1 at init, so every dt-path gradient
 * carries a factor softplus'(bias) ≈ Δ. A wrong backward term shows up as O(1). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/testutil.h"

#define GC_H 1e-5
static double gc_floor(double S) { return 1e6 * 4 * REAL_EPS * S / GC_H; }

static mamba_config tiny(int kind, int no_gate)
{
    mamba_config c = {.vocab = 11, .d_model = 8, .n_layer = 2, .d_state = 4, .kind = kind,
                      .no_gate = no_gate};
    return c;
}

/* Move the parameters away from their init (D = 1, norms = 1, a symmetric A_log) so that
 * no gradient term is hidden by a special value. */
static void perturb(mamba_model *m, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] += (real)(0.1 * rng_normal(&r));
}

/* ---------------- the block ---------------- */
typedef struct {
    mamba_model *m;
    int layer, B, L;
    real *x, *r, *out, *acts;
} bctx;

static double block_loss(void *v)
{
    bctx *c = v;
    mamba_block_forward(c->m, c->layer, c->x, c->B, c->L, c->out, c->acts);
    double l = 0;
    for (size_t i = 0; i < (size_t)c->B * c->L * c->m->cfg.d_model; i++) l += (double)c->r[i] * c->out[i];
    return l;
}

static void check_block(int kind, int no_gate)
{
    mamba_config cfg = tiny(kind, no_gate);
    mamba_model m;
    mamba_init(&m, &cfg, 1);
    perturb(&m, 2);
    bctx c = {.m = &m, .layer = 1, .B = 2, .L = 6};
    size_t n = (size_t)c.B * c.L * m.cfg.d_model;
    rng_t r;
    rng_seed(&r, 3);
    c.x = malloc(n * sizeof(real));
    c.r = malloc(n * sizeof(real));
    c.out = malloc(n * sizeof(real));
    c.acts = malloc(mamba_block_acts_size(&m.cfg, c.B, c.L) * sizeof(real));
    for (size_t i = 0; i < n; i++) { c.x[i] = (real)rng_normal(&r); c.r[i] = (real)rng_normal(&r); }
    real *dx = calloc(n, sizeof(real));
    memset(m.grads, 0, m.n_params * sizeof(real));
    block_loss(&c);
    mamba_block_backward(&m, c.layer, c.x, c.r, c.B, c.L, dx, c.acts);
    double S = 0;
    for (size_t i = 0; i < n; i++) S += fabs((double)c.r[i] * c.out[i]);
    double e = gradcheck(block_loss, &c, c.x, dx, n, GC_H, 100, gc_floor(S));
    printf("block kind=%d no_gate=%d  dx: %.2e\n", kind, no_gate, e);
    ck_assert_msg(e <= 1e-6, "block dx: relative error %.3e", e);
    for (int i = 0; i < m.n_tensors; i++) {
        const mamba_tensor *t = &m.t[i];
        if (!strstr(t->name, "layers.1.mixer")) continue;   /* the block's own parameters */
        e = gradcheck(block_loss, &c, m.params + t->offset, m.grads + t->offset, t->size, GC_H, 40, gc_floor(S));
        printf("block kind=%d no_gate=%d  %-40s %.2e\n", kind, no_gate, t->name, e);
        ck_assert_msg(e <= 1e-6, "block %s: relative error %.3e", t->name, e);
    }
    free(c.x); free(c.r); free(c.out); free(c.acts); free(dx);
    mamba_free(&m);
}

START_TEST(test_block_s6) { check_block(MAMBA_S6, 0); }
END_TEST
START_TEST(test_block_lti) { check_block(MAMBA_LTI, 0); }
END_TEST
START_TEST(test_block_nogate) { check_block(MAMBA_S6, 1); }
END_TEST

/* ---------------- the whole model ---------------- */
typedef struct {
    mamba_model *m;
    int *tok, *tgt, B, L;
} mctx;

static double model_loss(void *v)
{
    mctx *c = v;
    return mamba_forward(c->m, c->tok, c->tgt, c->B, c->L, NULL);
}

static void check_model(int kind, int no_gate)
{
    mamba_config cfg = tiny(kind, no_gate);
    mamba_model m;
    mamba_init(&m, &cfg, 4);
    perturb(&m, 5);
    mctx c = {.m = &m, .B = 2, .L = 7};
    c.tok = malloc(sizeof(int) * 14);
    c.tgt = malloc(sizeof(int) * 14);
    rng_t r;
    rng_seed(&r, 6);
    for (int i = 0; i < 14; i++) {
        c.tok[i] = (int)rng_below(&r, 11);
        c.tgt[i] = i % 5 == 3 ? -1 : (int)rng_below(&r, 11);   /* some masked targets */
    }
    memset(m.grads, 0, m.n_params * sizeof(real));
    double S = fabs(model_loss(&c)) + 1;
    mamba_backward(&m, c.tok, c.tgt);
    double worst = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const mamba_tensor *t = &m.t[i];
        double e = gradcheck(model_loss, &c, m.params + t->offset, m.grads + t->offset, t->size, GC_H, 30, gc_floor(S));
        printf("model kind=%d no_gate=%d  %-40s %.2e\n", kind, no_gate, t->name, e);
        ck_assert_msg(e <= 1e-6, "model %s: relative error %.3e", t->name, e);
        if (e > worst) worst = e;
    }
    printf("model kind=%d no_gate=%d  worst over all tensors: %.2e\n", kind, no_gate, worst);
    free(c.tok); free(c.tgt);
    mamba_free(&m);
}

START_TEST(test_model_s6) { check_model(MAMBA_S6, 0); }
END_TEST
START_TEST(test_model_lti) { check_model(MAMBA_LTI, 0); }
END_TEST
START_TEST(test_model_nogate) { check_model(MAMBA_S6, 1); }
END_TEST

int main(void)
{
    Suite *s = suite_create("mamba_grad");
    TCase *tc = tcase_create("backward");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_block_s6);
    tcase_add_test(tc, test_block_lti);
    tcase_add_test(tc, test_block_nogate);
    tcase_add_test(tc, test_model_s6);
    tcase_add_test(tc, test_model_lti);
    tcase_add_test(tc, test_model_nogate);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
