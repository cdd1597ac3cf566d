/* 06_hw_aware_cuda/lm/check.c — --check DIR: the GPU model against a debug state written by
 * Hugging Face transformers (reference/hf_debug_state.py): the same weights and batch must
 * give the same logits, loss, every parameter's gradient, and the losses of the AdamW steps.
 *
 * The set (vectors/06_hw_aware_cuda_lm/): config.json; inputs input_ids, targets (batch, L),
 * param.<HF name> for every tensor, train_hparams = [lr, lr_min, weight_decay, beta1, beta2,
 * eps, clip, warmup, steps]; outputs logits (batch, L, V), loss, grad.<HF name>,
 * adamw_losses (steps): the loss before each of `steps` optimizer steps on the same batch.
 *
 * float32 (default): the manifest's tolerances. --dtype bf16 (matmuls on the tensor cores):
 * the norm-wise error max|got − want| / max|want| of each tensor against a bound stated
 * before the run (BF16_BOUND): bf16 keeps 8 significant bits (unit roundoff u = 2⁻⁹ ≈ 2e-3);
 * a dot product of K terms with rounded inputs errs by ~√K·u relative in the worst
 * directions, and the backward chains several of them, so 3e-2 for logits and gradients,
 * 1e-2 for the loss (an average), 3e-2 for the ten AdamW losses. */
#include "06_hw_aware_cuda/lm/lm.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/kernels.h"
#include "06_hw_aware_cuda/lm/model.h"
#include "common/util.h"
#include "common/vectors.h"

typedef struct { vec_checker *c; int bf16, fails, passes; } checker;

static const struct { const char *prefix; double bound; } BF16_BOUND[] = {
    {"logits", 3e-2}, {"loss", 1e-2}, {"grad.", 3e-2}, {"adamw_losses", 3e-2}};

static void compare(checker *k, const char *name, int ndim, const size_t *shape, const double *got)
{
    if (!k->bf16) { vec_compare(k->c, name, ndim, shape, got); return; }
    double bound = 0;
    for (size_t i = 0; i < sizeof BF16_BOUND / sizeof BF16_BOUND[0]; i++)
        if (!strncmp(name, BF16_BOUND[i].prefix, strlen(BF16_BOUND[i].prefix))) bound = BF16_BOUND[i].bound;
    size_t sh[NPY_MAX_DIMS], n = 1;
    double *want = vec_get(k->c, name, ndim, sh);
    for (int d = 0; d < ndim; d++) n *= shape[d];
    const double e = rel_err(got, want, n);
    const int ok = e <= bound;
    printf("%s %-44s norm-wise rel err %.3e (bf16 bound %.0e)\n", ok ? "PASS" : "FAIL", name, e, bound);
    k->fails += !ok;
    k->passes += ok;
    free(want);
}

static int *get_ids(vec_checker *c, const char *name, int *batch, int *L)
{
    size_t sh[NPY_MAX_DIMS];
    double *v = vec_get(c, name, 2, sh);
    int *ids = xmalloc(sh[0] * sh[1] * sizeof(int));
    for (size_t i = 0; i < sh[0] * sh[1]; i++) ids[i] = (int)v[i];
    free(v);
    *batch = (int)sh[0];
    *L = (int)sh[1];
    return ids;
}

int lm_check(const char *dir, int bf16)
{
    char path[1024];
    path_join(path, sizeof path, dir, "config.json");
    hf_config cfg;
    hf_config_read(path, &cfg);
    vec_checker *c = vec_check_open(dir);
    checker k = {.c = c, .bf16 = bf16};
    lm_model m;
    lm_build(&m, &cfg, 1);
    lm_set_matmul_bf16(bf16);
    /* the transformers weights into stage 05's table (names and shapes must match) */
    char nm[256];
    for (int i = 0; i < m.host.n_tensors; i++) {
        const mamba_tensor *t = &m.host.t[i];
        snprintf(nm, sizeof nm, "param.%s", t->name);
        size_t sh[NPY_MAX_DIMS];
        double *v = vec_get(c, nm, t->ndim, sh);
        for (int k = 0; k < t->ndim; k++)
            if (sh[k] != t->shape[k])
                die(2, "%s: %s: dimension %d is %zu, the config gives %zu", dir, nm, k, sh[k],
                    t->shape[k]);
        for (size_t j = 0; j < t->size; j++) m.host.params[t->offset + j] = (real)v[j];
        free(v);
    }
    lm_upload(&m);
    int batch, L, b2, L2;
    int *tokens = get_ids(c, "input_ids", &batch, &L);
    int *targets = get_ids(c, "targets", &b2, &L2);
    if (b2 != batch || L2 != L) die(2, "%s: targets are %dx%d, input_ids %dx%d", dir, b2, L2, batch, L);
    size_t hs[NPY_MAX_DIMS];
    double *hp = vec_get(c, "train_hparams", 1, hs);
    if (hs[0] != 9) die(2, "%s: train_hparams has %zu entries, expected 9", dir, hs[0]);
    lm_train_cfg tc = {.lr = hp[0], .lr_min = hp[1], .weight_decay = hp[2], .beta1 = hp[3],
                       .beta2 = hp[4], .eps = hp[5], .clip = hp[6], .warmup = (int)hp[7],
                       .steps = (int)hp[8]};
    free(hp);
    if (tc.steps < 1 || tc.steps > 10000 || tc.warmup < 0)
        die(2, "%s: train_hparams: steps %d / warmup %d out of range", dir, tc.steps, tc.warmup);
    const size_t T = (size_t)batch * L, V = (size_t)m.V;

    /* logits and loss: a forward without gradient, then with */
    lm_forward(&m, tokens, NULL, batch, L, 0);
    float *lf = xmalloc(T * V * sizeof(float));
    lm_get_logits(&m, lf);
    double *ld = xmalloc(T * V * sizeof(double));
    for (size_t i = 0; i < T * V; i++) ld[i] = lf[i];
    compare(&k, "logits", 3, (size_t[]){(size_t)batch, (size_t)L, V}, ld);
    free(lf); free(ld);

    int counted = 0;
    for (size_t t = 0; t < T; t++) counted += targets[t] >= 0;
    lm_zero_grad(&m);
    double loss = lm_forward(&m, tokens, targets, batch, L, 1.f / (float)(counted ? counted : 1));
    compare(&k, "loss", 1, (size_t[]){1}, &loss);
    lm_backward(&m);
    float *gf = xmalloc(m.n_params * sizeof(float));
    LM_CUDA(cudaMemcpy(gf, m.grads, m.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < m.host.n_tensors; i++) {
        const mamba_tensor *t = &m.host.t[i];
        double *g = xmalloc(t->size * sizeof(double));
        for (size_t j = 0; j < t->size; j++) g[j] = gf[t->offset + j];
        snprintf(nm, sizeof nm, "grad.%s", t->name);
        compare(&k, nm, t->ndim, t->shape, g);
        free(g);
    }
    free(gf);

    /* AdamW steps on the same batch (the first loss is the one above) */
    double *losses = xmalloc((size_t)tc.steps * sizeof(double));
    losses[0] = loss;
    lm_opt_step(&m, &tc);
    for (int s = 1; s < tc.steps; s++) {
        lm_zero_grad(&m);
        losses[s] = lm_forward(&m, tokens, targets, batch, L, 1.f / (float)(counted ? counted : 1));
        lm_backward(&m);
        lm_opt_step(&m, &tc);
    }
    compare(&k, "adamw_losses", 1, (size_t[]){(size_t)tc.steps}, losses);
    free(losses);
    free(tokens);
    free(targets);
    lm_free(&m);
    if (!bf16) return vec_check_close(c);
    printf("bf16: %d passed, %d failed (norm-wise bounds)\n", k.passes, k.fails);
    return k.fails ? 1 : 0;
}
