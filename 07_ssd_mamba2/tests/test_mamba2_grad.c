/* 07_ssd_mamba2/tests/test_mamba2_grad.c — the Mamba-2 block's and language model's
 * hand-written backward against central finite differences, built with real = double
 * (TESTS_F64): every parameter tensor of the model, the block input, for one and two
 * groups, the gated norm over the whole row and per group, and chunk sizes that split
 * the sequence unevenly.
 *
 * Tolerance: symmetric relative error ≤ 1e-6 (common/nn.h gradcheck) with h = 1e-5:
 * truncation ~h²/6 ≈ 2e-11 relative. The quotient also carries the loss's rounding,
 * ~4ε·S/h with S the sum of the magnitudes the loss adds up; an entry far below that
 * cannot be resolved to 1e-6, so gradcheck's floor is noise/1e-6 (such entries are held
 * to the noise level in absolute terms). A wrong backward term shows up as O(1). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "07_ssd_mamba2/mamba2.h"
#include "07_ssd_mamba2/vectors07.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

#define GC_H 1e-5
static double gc_floor(double S) { return 1e6 * 4 * REAL_EPS * S / GC_H; }

/* d_inner 16 = 4 heads of P = 4; chunk 3 splits L = 7 as 3 + 3 + 1 */
static mamba2_config tiny(int G, int norm_group)
{
    mamba2_config c = {.vocab = 11, .d_model = 8, .n_layer = 2, .d_state = 4, .head_dim = 4,
                       .n_groups = G, .chunk = 3, .norm_group = norm_group};
    return c;
}

/* Move the parameters off their init (D = 1, norms = 1) so no term hides behind a
 * special value; Δ stays at its init scale (dt_bias is perturbed like the rest). */
static void perturb(mamba2_model *m, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] += (real)(0.1 * rng_normal(&r));
}

/* ---------------- the block ---------------- */
typedef struct {
    mamba2_model *m;
    int layer, B, L;
    real *x, *r, *out, *acts;
} bctx;

static double block_loss(void *v)
{
    bctx *c = v;
    mamba2_block_forward(c->m, c->layer, c->x, c->B, c->L, c->out, c->acts);
    double l = 0;
    for (size_t i = 0; i < (size_t)c->B * c->L * c->m->cfg.d_model; i++) l += (double)c->r[i] * c->out[i];
    return l;
}

static void check_block(int G, int norm_group)
{
    mamba2_config cfg = tiny(G, norm_group);
    mamba2_model m;
    mamba2_init(&m, &cfg, 1);
    perturb(&m, 2);
    bctx c = {.m = &m, .layer = 1, .B = 2, .L = 7};
    const size_t n = (size_t)c.B * c.L * m.cfg.d_model;
    rng_t r;
    rng_seed(&r, 3);
    c.x = xmalloc(n * sizeof(real));
    c.r = xmalloc(n * sizeof(real));
    c.out = xmalloc(n * sizeof(real));
    c.acts = xmalloc(mamba2_block_acts_size(&m.cfg, c.B, c.L) * sizeof(real));
    for (size_t i = 0; i < n; i++) { c.x[i] = (real)rng_normal(&r); c.r[i] = (real)rng_normal(&r); }
    real *dx = xcalloc(n, sizeof(real));
    memset(m.grads, 0, m.n_params * sizeof(real));
    block_loss(&c);
    mamba2_block_backward(&m, c.layer, c.x, c.r, c.B, c.L, dx, c.acts);
    double S = 0;
    for (size_t i = 0; i < n; i++) S += fabs((double)c.r[i] * c.out[i]);
    double e = gradcheck(block_loss, &c, c.x, dx, n, GC_H, 200, gc_floor(S));
    printf("block G=%d norm_group=%d  du: %.2e\n", G, m.cfg.norm_group, e);
    ck_assert_msg(e <= 1e-6, "block du: relative error %.3e", e);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "backbone.layers.%d.mixer.", c.layer);
    int checked = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const mamba2_tensor *t = &m.t[i];
        if (strncmp(t->name, prefix, strlen(prefix))) continue;
        e = gradcheck(block_loss, &c, mamba2_param(&m, t), mamba2_grad(&m, t), t->size, GC_H, 200, gc_floor(S));
        printf("  %-40s %.2e\n", t->name, e);
        ck_assert_msg(e <= 1e-6, "%s: relative error %.3e", t->name, e);
        checked++;
    }
    ck_assert_int_eq(checked, 8);   /* in_proj, conv w/b, dt_bias, A_log, D, norm, out_proj */
    free(dx); free(c.x); free(c.r); free(c.out); free(c.acts);
    mamba2_free(&m);
}

START_TEST(block_one_group) { check_block(1, 0); }
END_TEST
START_TEST(block_two_groups) { check_block(2, 0); }
END_TEST
START_TEST(block_two_groups_full_norm) { check_block(2, 16); }
END_TEST

/* ---------------- the language model: every tensor ---------------- */
typedef struct {
    mamba2_model *m;
    int *tok, *tgt, B, L;
} mctx;

static double model_loss(void *v)
{
    mctx *c = v;
    return mamba2_forward(c->m, c->tok, c->tgt, c->B, c->L, NULL);
}

START_TEST(model_all_tensors)
{
    mamba2_config cfg = tiny(2, 0);
    mamba2_model m;
    mamba2_init(&m, &cfg, 4);
    perturb(&m, 5);
    mctx c = {.m = &m, .B = 2, .L = 7};
    c.tok = xmalloc(sizeof(int) * 14);
    c.tgt = xmalloc(sizeof(int) * 14);
    rng_t r;
    rng_seed(&r, 6);
    for (int i = 0; i < 14; i++) {
        c.tok[i] = (int)rng_below(&r, 11);
        c.tgt[i] = i % 5 == 0 ? -1 : (int)rng_below(&r, 11);   /* some ignored */
    }
    memset(m.grads, 0, m.n_params * sizeof(real));
    double loss = model_loss(&c);
    mamba2_backward(&m, c.tok, c.tgt);
    /* the loss is a mean of log-probabilities of size ~log V: S ≈ loss */
    const double fl = gc_floor(fabs(loss));
    for (int i = 0; i < m.n_tensors; i++) {
        const mamba2_tensor *t = &m.t[i];
        double e = gradcheck(model_loss, &c, mamba2_param(&m, t), mamba2_grad(&m, t), t->size, GC_H, 60, fl);
        printf("  %-40s %.2e\n", t->name, e);
        ck_assert_msg(e <= 1e-6, "%s: relative error %.3e", t->name, e);
    }
    ck_assert_int_eq(m.n_tensors, 1 + 9 * 2 + 1);
    free(c.tok); free(c.tgt);
    mamba2_free(&m);
}
END_TEST

/* ---------------- transformers' Mamba2ForCausalLM, graded in float64 ----------------
 * vectors/07_ssd_mamba2/hf_mamba2 holds logits, loss and every gradient of a debug state
 * written by reference/hf_mamba2_debug_state.py (transformers, float64). In this float64
 * build the tolerances of vectors07.c are 1e3·eps (logits, loss) and 1e4·eps of each
 * gradient's largest entry: two float64 implementations of the same math. */
START_TEST(hf_debug_state_float64)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/vectors/07_ssd_mamba2/hf_mamba2", ROOT_DIR);
    if (access(dir, F_OK) != 0) {
        printf("hf_debug_state_float64: skipped: %s not committed yet\n", dir);
        return;
    }
    ck_assert_int_eq(ssd07_vectors(dir, 0), 0);
}
END_TEST

static Suite *grad_suite(void)
{
    Suite *s = suite_create("07_ssd_mamba2/mamba2_grad");
    TCase *t = tcase_create("grad");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, block_one_group);
    tcase_add_test(t, block_two_groups);
    tcase_add_test(t, block_two_groups_full_norm);
    tcase_add_test(t, model_all_tensors);
    tcase_add_test(t, hf_debug_state_float64);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return th_run_suite(grad_suite());
}
