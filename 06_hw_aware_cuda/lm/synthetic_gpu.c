/* 06_hw_aware_cuda/lm/synthetic_gpu.c — `lm --task`: the Mamba paper's synthetic tasks trained
 * and evaluated on the GPU model (§6.23). Batches are stage 05's (task_batch: a function of
 * the data seed and the step only); the evaluation sets are fixed per length (steps 10⁹ + k
 * of the data seed, never trained on), as the paper's "fixed validation sets". */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "06_hw_aware_cuda/lm/hf_config.h"
#include "06_hw_aware_cuda/lm/kernels.h"
#include "06_hw_aware_cuda/lm/model.h"
#include "06_hw_aware_cuda/lm/synthetic.h"
#include "common/util.h"

/* The task checkpoint: stage 05's safetensors file (mamba_save: parameters, AdamW's moments and
 * step, the variant in its metadata; written atomically), through the host copy. A resumed
 * run sees the batches of its steps (task_batch is a function of the step) and, with the
 * deterministic scan backwards (v7, LTI), continues as the uninterrupted run would. */
static void task_save(lm_model *m, const char *path)
{
    lm_download(m);
    adamw_state o;
    adamw_init(&o, m->n_params);
    float *f = xmalloc(m->n_params * sizeof(float));
    LM_CUDA(cudaMemcpy(f, m->opt_m, m->n_params * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < m->n_params; i++) o.m[i] = f[i];
    LM_CUDA(cudaMemcpy(f, m->opt_v, m->n_params * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < m->n_params; i++) o.v[i] = f[i];
    o.step = m->step;
    mamba_save(&m->host, &o, path, NULL, NULL, 0);
    free(f);
    adamw_free(&o);
}

static void task_load(lm_model *m, const char *path)
{
    adamw_state o;
    adamw_init(&o, m->n_params);
    mamba_load(&m->host, &o, path, NULL, 0);
    lm_upload(m);
    float *f = xmalloc(m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_params; i++) f[i] = (float)o.m[i];
    LM_CUDA(cudaMemcpy(m->opt_m, f, m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    for (size_t i = 0; i < m->n_params; i++) f[i] = (float)o.v[i];
    LM_CUDA(cudaMemcpy(m->opt_v, f, m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    m->step = o.step;
    free(f);
    adamw_free(&o);
}

/* Accuracy at length L over nseq fresh sequences: the argmax at every scored position
 * (selective copying: the K answers; induction heads: the last position). Only the scored
 * rows (the last `tail` of each sequence) come back from the device. */
static double task_eval(lm_model *m, const task_cfg *t, int L, int nseq, uint64_t seed,
                        int *tok, int *tgt, float *rows)
{
    const int V = m->V, eb = lm_task_eval_batch(L, nseq);
    const int tail = t->kind == TASK_COPY ? t->K : 1;
    long hit = 0, tot = 0;
    int *tt = xmalloc((size_t)eb * tail * sizeof(int));
    for (int done = 0, k = 0; done < nseq; done += eb, k++) {
        const int b = nseq - done < eb ? nseq - done : eb;
        task_batch(t, L, seed, 1000000000L + k, b, tok, tgt);
        lm_forward(m, tok, NULL, b, L, 0);
        LM_CUDA(cudaMemcpy2D(rows, (size_t)tail * V * sizeof(float),
                             m->a.logits + (size_t)(L - tail) * V, (size_t)L * V * sizeof(float),
                             (size_t)tail * V * sizeof(float), (size_t)b, cudaMemcpyDeviceToHost));
        for (int s = 0; s < b; s++)
            memcpy(tt + (size_t)s * tail, tgt + (size_t)s * L + (L - tail), (size_t)tail * sizeof(int));
        lm_task_hits(rows, tt, (size_t)b * tail, V, &hit, &tot);
    }
    free(tt);
    return tot ? (double)hit / tot : 0;
}

int lm_task(const lm_task_opts *o)
{
    hf_config cfg;
    hf_config_read(o->config, &cfg);
    task_cfg t;
    lm_task_setup(o, cfg.vocab_size, cfg.intermediate_size, &t);
    int kind, no_gate;
    lm_variant_find(o->variant, &kind, &no_gate);
    lm_model m;
    lm_build_variant(&m, &cfg, (uint64_t)o->seed, kind, no_gate);
    const int resumed = o->out && access(o->out, F_OK) == 0;
    if (resumed) {
        task_load(&m, o->out);
        printf("task: resumed from %s at step %d\n", o->out, m.step);
    }
    lm_set_matmul_bf16(o->bf16);
    const int B = o->batch, L = t.L, copy = t.kind == TASK_COPY;
    const int counted = B * (copy ? t.K : 1);
    const int maxL = copy ? L : (1 << o->eval_max_log2) > L ? (1 << o->eval_max_log2) : L;
    /* tokens of the largest batch: training's, or an evaluation batch (<= 2^20 tokens, or one
     * sequence when longer) */
    size_t cap = (size_t)B * L > ((size_t)1 << 20) ? (size_t)B * L : (size_t)1 << 20;
    if ((size_t)maxL > cap) cap = (size_t)maxL;
    int *tok = xmalloc(cap * sizeof(int)), *tgt = xmalloc(cap * sizeof(int));
    float *rows = xmalloc((size_t)o->eval_seqs * (copy ? t.K : 1) * m.V * sizeof(float));
    lm_train_cfg tc = {.lr = o->lr, .lr_min = o->lr_min, .weight_decay = o->weight_decay,
                       .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .clip = o->clip,
                       .warmup = o->warmup, .steps = o->steps};
    const char *vname = lm_variant_label(kind, no_gate);
    const uint64_t eval_seed = (uint64_t)o->data_seed + 1;   /* a set apart from training's */
    if (copy)
        printf("task copy, %s: context %d, %d tokens from %d colours (L = %d, vocab %d)", vname,
               t.L_ctx, t.K, t.M, L, m.V);
    else
        printf("task induction, %s: trained at L = %d, vocab %d, evaluated at 2^6 … 2^%d", vname,
               L, m.V, o->eval_max_log2);
    printf("; %d layers, d_model %d, N %d, %zu parameters; batch %d, %d steps, lr %g -> %g "
           "(warm-up %d), weight decay %g, clip %g, %s\n", m.n_layer, m.dm, m.N, m.n_params, B,
           o->steps, o->lr, o->lr_min, o->warmup, o->weight_decay, o->clip, o->bf16 ? "bf16" : "fp32");
    fflush(stdout);
    FILE *log = NULL;
    if (o->log) {
        log = fopen(o->log, resumed ? "a" : "w");
        if (!log) die(2, "%s: cannot open for writing", o->log);
        if (!resumed) fprintf(log, "step\tloss\taccuracy\tms_per_step\n");
    }
    const double t_start = now_seconds();
    double t_mark = t_start, loss_sum = 0;
    const int step0 = m.step;
    int nsum = 0, step = step0;
    const int stop = o->stop_at > 0 && o->stop_at < o->steps ? o->stop_at : o->steps;
    for (; step < stop; step++) {
        task_batch(&t, L, (uint64_t)o->data_seed, step, B, tok, tgt);
        lm_zero_grad(&m);
        const double loss = lm_forward(&m, tok, tgt, B, L, 1.f / (float)counted);
        if (!isfinite(loss)) die(1, "task: loss is %g at step %d", loss, step);
        lm_backward(&m);
        lm_opt_step(&m, &tc);
        loss_sum += loss;
        nsum++;
        const int last = step + 1 == stop ||
                         (o->max_seconds > 0 && now_seconds() - t_start > o->max_seconds);
        if ((step + 1) % o->log_every == 0 || last) {
            LM_CUDA(cudaDeviceSynchronize());
            const double now = now_seconds(), ms = 1e3 * (now - t_mark) / nsum;
            double acc = NAN;
            char accs[32] = "   -  ";
            if (o->eval_every > 0 && ((step + 1) % o->eval_every == 0 || last)) {
                acc = task_eval(&m, &t, L, o->eval_seqs, eval_seed, tok, tgt, rows);
                snprintf(accs, sizeof accs, "%.2f%%", 100 * acc);
            }
            printf("step %6d | loss %.4f | acc %s | %.2f ms/step | %.0f s\n", step + 1,
                   loss_sum / nsum, accs, ms, now - t_start);
            /* the loss with 17 digits: equal logs mean equal bits (the resume test) */
            if (log) fprintf(log, "%d\t%.17g\t%.6g\t%.3f\n", step + 1, loss_sum / nsum, acc, ms);
            fflush(stdout);
            loss_sum = 0;
            nsum = 0;
            t_mark = now_seconds();   /* evaluation time is not training time */
        }
        if (last) { step++; break; }
    }
    if (log) fclose(log);
    const double train_s = now_seconds() - t_start;
    printf("task: at step %d of %d (%d trained in this run, %.1f s)\n", step, o->steps,
           step - step0, train_s);
    if (o->out) {
        task_save(&m, o->out);
        printf("task: checkpoint %s written at step %d\n", o->out, m.step);
    }
    FILE *ev = NULL;
    if (o->eval_out) {
        ev = fopen(o->eval_out, "a");
        if (!ev) die(2, "%s: cannot open for appending", o->eval_out);
    }
    const int k0 = copy ? 0 : 6, k1 = copy ? 0 : o->eval_max_log2;
    for (int k = k0; k <= k1; k++) {
        const int Le = copy ? L : 1 << k;
        const double te = now_seconds();
        const int ns = lm_task_eval_seqs(Le, o->eval_seqs);
        const double acc = task_eval(&m, &t, Le, ns, eval_seed, tok, tgt, rows);
        printf("eval %s %s L = %7d: accuracy %6.2f%% over %d sequences (%.1f s)\n", o->task, vname,
               Le, 100 * acc, ns, now_seconds() - te);
        if (ev) fprintf(ev, "%s\t%s\t%d\t%d\t%.6f\t%d\n", o->task, vname, step, Le, acc, ns);
        fflush(stdout);
    }
    if (ev) fclose(ev);
    free(tok); free(tgt); free(rows);
    lm_free(&m);
    return 0;
}
