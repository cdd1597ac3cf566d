/* 08_xlstm/tests/test_xlstm_grad.c — the xLSTM LM's hand-written backward against
 * central finite differences, every parameter tensor, in float64 (TESTS_F64).
 *
 * Models: xLSTM[1:1] with 2 blocks (one mLSTM, one sLSTM) and each forget-gate kind of
 * the sLSTM; xLSTM[1:0] (mLSTM only), with block-diagonal q/k/v (blocks of 4) and dense. All parameters are perturbed from their
 * initialisation (R, gate weights are 0 there) so that every path carries gradient.
 * Tolerance: step h = 1e-5; truncation ~h²|ℓ'''| ≈ 1e-10, rounding of the loss
 * ~ε·|ℓ|/h ≈ 1e-10 absolute. Entries whose gradient is below 1e-3 of the tensor's
 * largest are compared against that floor, where the absolute noise would otherwise be a
 * large relative error. With the smallest tensors' largest gradients ~1e-2 the noise is
 * then ≤ 1e-10/1e-5 = 1e-5·…: measured worst 1.6e-6, so the bound is 1e-5; a wrong term
 * in a backward shows as O(1). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "08_xlstm/xlstm.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

typedef struct { xlstm_model m; int *tok, *tgt; int B, L; } gctx;

static double loss_fn(void *v)
{
    gctx *c = v;
    return xlstm_forward(&c->m, c->tok, c->tgt, c->B, c->L);
}

static void run(int ratio_m, int ratio_s, int expf, int qkv_block)
{
    gctx c;
    xlstm_config cfg = {.vocab = 11, .d_model = 8, .n_layer = 2, .ratio_m = ratio_m,
                        .ratio_s = ratio_s, .n_heads = 2, .d_conv = 3, .m_expand = 2,
                        .s_exp_forget = expf, .qkv_block = qkv_block};
    xlstm_init(&c.m, &cfg, 5);
    rng_t r;
    rng_seed(&r, 6 + expf);
    for (size_t i = 0; i < c.m.n_params; i++) c.m.params[i] += (real)(0.3 * rng_normal(&r));
    c.B = 2;
    c.L = 7;
    c.tok = malloc(sizeof(int) * 14);
    c.tgt = malloc(sizeof(int) * 14);
    for (int i = 0; i < 14; i++) {
        c.tok[i] = (int)rng_below(&r, 11);
        c.tgt[i] = i % 5 == 4 ? -1 : (int)rng_below(&r, 11);   /* some masked targets */
    }
    memset(c.m.grads, 0, c.m.n_params * sizeof(real));
    xlstm_forward(&c.m, c.tok, c.tgt, c.B, c.L);
    xlstm_backward(&c.m, c.tok, c.tgt);
    real *g = malloc(c.m.n_params * sizeof(real));
    memcpy(g, c.m.grads, c.m.n_params * sizeof(real));
    double worst = 0;
    for (int k = 0; k < c.m.n_tensors; k++) {
        const xlstm_tensor *t = &c.m.t[k];
        double gmax = max_abs(g + t->offset, t->size);
        ck_assert_msg(gmax > 0, "%s: gradient is identically zero", t->name);
        double e = gradcheck(loss_fn, &c, c.m.params + t->offset, g + t->offset, t->size, 1e-5,
                             40, 1e-3 * gmax);
        if (e > worst) worst = e;
        ck_assert_msg(e <= 1e-5, "xLSTM[%d:%d] d%s: rel err %.3e", ratio_m, ratio_s, t->name, e);
    }
    printf("xLSTM[%d:%d] (%s forget, q/k/v blocks of %d) LM gradcheck over %d tensors: worst rel err %.2e\n",
           ratio_m, ratio_s, expf ? "exp" : "sigmoid", c.m.cfg.qkv_block, c.m.n_tensors, worst);
    free(g); free(c.tok); free(c.tgt);
    xlstm_free(&c.m);
}

START_TEST(grad_m1_s1_sigmoid) { run(1, 1, 0, 0); }
END_TEST
START_TEST(grad_m1_s1_exp) { run(1, 1, 1, 0); }
END_TEST
START_TEST(grad_m1_s0) { run(1, 0, 0, 0); }
END_TEST
START_TEST(grad_m1_s0_dense_qkv) { run(1, 0, 0, 16); }   /* q/k/v one 16×16 block: dense */
END_TEST

/* The block-diagonal W_q is exactly a dense W_q with zeros off the blocks: the mLSTM block
 * with qkv_block 4 and the same block with those zeros written into a dense (16 × 16)
 * W_q, W_k, W_v give the same loss (to rounding). */
START_TEST(blockdiag_equals_dense_with_zeros)
{
    xlstm_config cb = {.vocab = 11, .d_model = 8, .n_layer = 1, .ratio_m = 1, .ratio_s = 0, .n_heads = 2,
                       .qkv_block = 4};
    xlstm_config cd = cb;
    cd.qkv_block = 16;
    xlstm_model mb, md;
    xlstm_init(&mb, &cb, 3);
    xlstm_init(&md, &cd, 3);
    ck_assert_int_eq(mb.n_tensors, md.n_tensors);
    for (int k = 0; k < mb.n_tensors; k++) {
        const xlstm_tensor *tb = &mb.t[k], *td = &md.t[k];
        if (tb->size == td->size) {
            memcpy(md.params + td->offset, mb.params + tb->offset, tb->size * sizeof(real));
            continue;
        }
        real *W = md.params + td->offset;                    /* (16, 16) from (4, 4, 4) */
        memset(W, 0, td->size * sizeof(real));
        for (int j = 0; j < 16; j++)
            for (int i = 0; i < 4; i++) W[j * 16 + (j / 4) * 4 + i] = mb.params[tb->offset + (size_t)j * 4 + i];
    }
    int tok[10], tgt[10];
    for (int i = 0; i < 10; i++) { tok[i] = (3 * i + 1) % 11; tgt[i] = (5 * i + 2) % 11; }
    const double lb = xlstm_forward(&mb, tok, tgt, 2, 5), ld = xlstm_forward(&md, tok, tgt, 2, 5);
    printf("block-diagonal q/k/v (blocks of 4) vs dense with zeros: loss %.15f vs %.15f\n", lb, ld);
    ck_assert_msg(fabs(lb - ld) <= 1e-12 * fabs(lb), "%.17g vs %.17g", lb, ld);
    xlstm_free(&mb);
    xlstm_free(&md);
}
END_TEST

START_TEST(ratio_placement)
{
    const struct { int n, a, b, want[8]; } cs[] = {
        {8, 7, 1, {0, 0, 0, 0, 0, 0, 0, 1}}, {4, 7, 1, {0, 0, 0, 1}}, {4, 1, 0, {0, 0, 0, 0}},
        {4, 1, 1, {0, 1, 0, 1}}, {3, 0, 1, {1, 1, 1}}, {6, 2, 1, {0, 0, 1, 0, 0, 1}}};
    for (size_t k = 0; k < sizeof cs / sizeof *cs; k++) {
        xlstm_config c = {.vocab = 4, .d_model = 8, .n_layer = cs[k].n, .ratio_m = cs[k].a, .ratio_s = cs[k].b};
        xlstm_config_finish(&c);
        for (int l = 0; l < cs[k].n; l++)
            ck_assert_msg(c.is_slstm[l] == cs[k].want[l], "[%d:%d] n=%d block %d", cs[k].a, cs[k].b, cs[k].n, l);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xlstm_grad");
    TCase *tc = tcase_create("lm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, ratio_placement);
    tcase_add_test(tc, grad_m1_s1_sigmoid);
    tcase_add_test(tc, grad_m1_s1_exp);
    tcase_add_test(tc, grad_m1_s0);
    tcase_add_test(tc, grad_m1_s0_dense_qkv);
    tcase_add_test(tc, blockdiag_equals_dense_with_zeros);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
