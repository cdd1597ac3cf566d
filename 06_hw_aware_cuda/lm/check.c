/* 06_hw_aware_cuda/lm/check.c — --check DIR: the GPU model against a debug state written by
 * Hugging Face transformers (reference/hf_debug_state.py; its format and tolerances:
 * debug_state.[ch]): the same weights and batch must give the same logits, loss, every
 * parameter's gradient, and the losses of the AdamW steps. A set may hold any subset of
 * the outputs (the rest are listed as not in this set).
 *
 * float32 (default): the tolerances a float32 implementation meets. --dtype bf16 (matmuls
 * on the tensor cores): norm-wise bounds for bf16, stated before the run (debug_state.c). */
#include "06_hw_aware_cuda/lm/lm.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

#include "06_hw_aware_cuda/lm/debug_state.h"
#include "06_hw_aware_cuda/lm/kernels.h"
#include "06_hw_aware_cuda/lm/model.h"
#include "common/util.h"
#include "common/vectors.h"

int lm_check(const char *dir, int bf16)
{
    hf_config cfg;
    vec_set *v = lm_debug_open(dir, &cfg);
    if (bf16) vec_own_tolerances(v, "--dtype bf16: the set's tolerances are for float32; bf16's are wider");
    lm_model m;
    lm_build(&m, &cfg, 1);
    lm_set_matmul_bf16(bf16);
    lm_debug_batch b;
    lm_debug_inputs(v, &m.host, &b);   /* the transformers weights into stage 05's table */
    lm_upload(&m);
    lm_train_cfg tc = {.lr = b.lr, .lr_min = b.lr_min, .weight_decay = b.weight_decay, .beta1 = b.beta1,
                       .beta2 = b.beta2, .eps = b.eps, .clip = b.clip, .warmup = b.warmup, .steps = b.steps};
    const size_t T = (size_t)b.batch * b.L, V = (size_t)m.V;
    const float inv_counted = 1.f / (float)b.counted;

    /* logits and loss: a forward without gradient, then with */
    float *logits = xmalloc(T * V * sizeof(float));
    lm_forward(&m, b.tokens, NULL, b.batch, b.L, 0);
    lm_get_logits(&m, logits);
    lm_debug_output(v, "logits", ELEM_F32, 3, (size_t[]){(size_t)b.batch, (size_t)b.L, V}, logits, bf16);
    free(logits);
    lm_zero_grad(&m);
    const double loss = lm_forward(&m, b.tokens, b.targets, b.batch, b.L, inv_counted);
    lm_debug_output(v, "loss", ELEM_F64, 1, (size_t[]){1}, &loss, bf16);
    lm_backward(&m);
    float *grads = xmalloc(m.n_params * sizeof(float));
    LM_CUDA(cudaMemcpy(grads, m.grads, m.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    char nm[160];
    for (int i = 0; i < m.host.n_tensors; i++) {
        const mamba_tensor *t = &m.host.t[i];
        snprintf(nm, sizeof nm, "grad.%s", t->name);
        lm_debug_output(v, nm, ELEM_F32, t->ndim, t->shape, grads + t->offset, bf16);
    }
    free(grads);

    /* AdamW steps on the same batch (the first loss is the one above) */
    double *losses = xmalloc((size_t)tc.steps * sizeof(double));
    losses[0] = loss;
    lm_opt_step(&m, &tc);
    for (int s = 1; s < tc.steps; s++) {
        lm_zero_grad(&m);
        losses[s] = lm_forward(&m, b.tokens, b.targets, b.batch, b.L, inv_counted);
        lm_backward(&m);
        lm_opt_step(&m, &tc);
    }
    lm_debug_output(v, "adamw_losses", ELEM_F64, 1, (size_t[]){(size_t)tc.steps}, losses, bf16);
    free(losses);
    lm_debug_batch_free(&b);
    lm_free(&m);
    return vec_set_close(v);
}
