/* tests/test_lm_vectors.c — the third side of the three-way agreement, on the CPU (no GPU
 * needed, so it runs in every `make test`): stage 05's CPU language model, in float64, on
 * transformers' debug state (vectors/06_hw_aware_cuda_lm, written by
 * reference/hf_debug_state.py): the same weights and batch must give transformers' logits,
 * loss, every gradient and the losses of ten AdamW steps, within the set's own tolerances
 * (stated for a float32 implementation; float64 lands far inside them). The GPU side is
 * `lm --check` on the same set (make check-hf). Also: the configuration reader accepts
 * transformers' own config.json of the set. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "06_hw_aware_cuda/lm/hf_config.h"
#include "common/testutil.h"
#include "common/util.h"
#include "common/vectors.h"

#define SET ROOT_DIR "/vectors/06_hw_aware_cuda_lm"

static int *ids(vec_checker *c, const char *name, size_t *shape)
{
    double *v = vec_get(c, name, 2, shape);
    int *t = xmalloc(shape[0] * shape[1] * sizeof(int));
    for (size_t i = 0; i < shape[0] * shape[1]; i++) t[i] = (int)v[i];
    free(v);
    return t;
}

START_TEST(test_stage05_reproduces_transformers)
{
    hf_config hf;
    hf_config_read(SET "/config.json", &hf);
    mamba_config mc = {.vocab = hf.vocab_size, .d_model = hf.hidden_size,
                       .n_layer = hf.num_hidden_layers, .d_state = hf.state_size,
                       .d_conv = hf.conv_kernel, .expand = hf.expand,
                       .dt_rank = hf.time_step_rank, .kind = MAMBA_S6};
    mamba_model m;
    mamba_init(&m, &mc, 1);
    vec_checker *c = vec_check_open(SET);
    char nm[256];
    for (int i = 0; i < m.n_tensors; i++) {
        const mamba_tensor *t = &m.t[i];
        snprintf(nm, sizeof nm, "param.%s", t->name);
        size_t sh[NPY_MAX_DIMS];
        double *v = vec_get(c, nm, t->ndim, sh);
        for (int k = 0; k < t->ndim; k++) ck_assert_uint_eq(sh[k], t->shape[k]);
        memcpy(m.params + t->offset, v, t->size * sizeof(double));
        free(v);
    }
    size_t s1[2], s2[2], hs[1];
    int *tok = ids(c, "input_ids", s1), *tg = ids(c, "targets", s2);
    ck_assert(s1[0] == s2[0] && s1[1] == s2[1]);
    const int B = (int)s1[0], L = (int)s1[1], T = B * L, V = m.cfg.vocab;
    double *hp = vec_get(c, "train_hparams", 1, hs);
    ck_assert_uint_eq(hs[0], 9);
    mamba_train_cfg tc = {.lr = hp[0], .lr_min = hp[1], .weight_decay = hp[2], .beta1 = hp[3],
                          .beta2 = hp[4], .clip = hp[6], .warmup = (int)hp[7], .steps = (int)hp[8]};
    ck_assert(hp[5] == 1e-8);     /* stage 05's AdamW ε is 1e-8 */
    free(hp);

    double *logits = xmalloc((size_t)T * V * sizeof(double));
    double loss = mamba_forward(&m, tok, tg, B, L, logits);
    vec_compare(c, "logits", 3, (size_t[]){(size_t)B, (size_t)L, (size_t)V}, logits);
    vec_compare(c, "loss", 1, (size_t[]){1}, &loss);
    memset(m.grads, 0, m.n_params * sizeof(real));
    mamba_backward(&m, tok, tg);
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(nm, sizeof nm, "grad.%s", m.t[i].name);
        vec_compare(c, nm, m.t[i].ndim, m.t[i].shape, m.grads + m.t[i].offset);
    }
    mamba_opt o;
    mamba_opt_init(&o, &m);
    double *losses = xmalloc((size_t)tc.steps * sizeof(double));
    for (int s = 0; s < tc.steps; s++) {
        if (s > 0) {
            losses[s] = mamba_forward(&m, tok, tg, B, L, NULL);
            memset(m.grads, 0, m.n_params * sizeof(real));
            mamba_backward(&m, tok, tg);
        } else {
            losses[0] = loss;
        }
        mamba_opt_step(&m, &o, &tc);
    }
    vec_compare(c, "adamw_losses", 1, (size_t[]){(size_t)tc.steps}, losses);
    ck_assert_int_eq(vec_check_close(c), 0);
    free(losses); free(logits); free(tok); free(tg);
    mamba_opt_free(&o);
    mamba_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lm vectors (stage 05 CPU vs transformers)");
    TCase *tc = tcase_create("debug state");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stage05_reproduces_transformers);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
