/* tests/test_lm_vectors.c — the third side of the three-way agreement, on the CPU (no GPU
 * needed, so it runs in every `make test`): stage 05's CPU language model, in float64, on
 * transformers' debug state (vectors/06_hw_aware_cuda_lm, written by
 * reference/hf_debug_state.py): the same weights and batch must give transformers' logits,
 * loss, every gradient and the losses of ten AdamW steps, within the set's own tolerances
 * (debug_state.c: stated for a float32 implementation; float64 lands far inside them). The GPU side is
 * `lm --check` on the same set (make check-hf). Also: the configuration reader accepts
 * transformers' own config.json of the set. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "06_hw_aware_cuda/lm/checkpoint.h"
#include "06_hw_aware_cuda/lm/debug_state.h"
#include "common/testutil.h"
#include "common/util.h"
#include "common/vectors.h"

#define SET ROOT_DIR "/vectors/06_hw_aware_cuda_lm"

START_TEST(test_stage05_reproduces_transformers)
{
    hf_config hf;
    vec_set *v = lm_debug_open(SET, &hf);
    mamba_model m;
    lm_checkpoint_table(&hf, 1, &m);
    lm_debug_batch b;
    lm_debug_inputs(v, &m, &b);
    mamba_train_cfg tc = {.lr = b.lr, .lr_min = b.lr_min, .weight_decay = b.weight_decay, .beta1 = b.beta1,
                          .beta2 = b.beta2, .clip = b.clip, .warmup = b.warmup, .steps = b.steps};
    ck_assert(b.eps == 1e-8);     /* stage 05's AdamW ε is 1e-8 */
    const int B = b.batch, L = b.L, T = B * L, V = m.cfg.vocab;

    double *logits = xmalloc((size_t)T * V * sizeof(double));
    double loss = mamba_forward(&m, b.tokens, b.targets, B, L, logits);
    lm_debug_output(v, "logits", ELEM_REAL, 3, (size_t[]){(size_t)B, (size_t)L, (size_t)V}, logits, 0);
    lm_debug_output(v, "loss", ELEM_F64, 1, (size_t[]){1}, &loss, 0);
    memset(m.grads, 0, m.n_params * sizeof(real));
    mamba_backward(&m, b.tokens, b.targets);
    char nm[160];
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(nm, sizeof nm, "grad.%s", m.t[i].name);
        lm_debug_output(v, nm, ELEM_REAL, m.t[i].ndim, m.t[i].shape, m.grads + m.t[i].offset, 0);
    }
    mamba_opt o;
    mamba_opt_init(&o, &m);
    double *losses = xmalloc((size_t)tc.steps * sizeof(double));
    for (int s = 0; s < tc.steps; s++) {
        if (s > 0) {
            losses[s] = mamba_forward(&m, b.tokens, b.targets, B, L, NULL);
            memset(m.grads, 0, m.n_params * sizeof(real));
            mamba_backward(&m, b.tokens, b.targets);
        } else {
            losses[0] = loss;
        }
        mamba_opt_step(&m, &o, &tc);
    }
    lm_debug_output(v, "adamw_losses", ELEM_F64, 1, (size_t[]){(size_t)tc.steps}, losses, 0);
    ck_assert_int_eq(vec_set_close(v), 0);
    free(losses); free(logits);
    lm_debug_batch_free(&b);
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
