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

/* §6.24 One variant's run: its model, the copy it is evaluated on (a model with a step graph
 * runs no other shape), its graph, log and checkpoint, its batch */
typedef struct {
    const char *name;
    lm_model m, ev;
    lm_model *evm;               /* &ev (graphed) or &m */
    lm_step_graph *g;
    FILE *log;
    char out[1024];
    int step0, done;
    double loss_sum;
    int nsum;
    int *tok, *tgt;
} task_run;

/* the evaluation model, its weights those of the trained one now */
static lm_model *eval_model(task_run *r)
{
    if (r->evm == &r->m) return r->evm;
    LM_CUDA(cudaMemcpy(r->ev.params, r->m.params, r->m.n_params * sizeof(float),
                       cudaMemcpyDeviceToDevice));
    r->ev.wbf16_valid = 0;
    return &r->ev;
}

int lm_task(const lm_task_opts *o)
{
    hf_config cfg;
    hf_config_read(o->config, &cfg);
    task_cfg t;
    lm_task_setup(o, cfg.vocab_size, cfg.intermediate_size, &t);
    int kinds[LM_TASK_MAX_VARIANTS], gates[LM_TASK_MAX_VARIANTS];
    const int nv = lm_variant_list(o->variant, kinds, gates);
    lm_set_matmul_bf16(o->bf16);
    const int B = o->batch, L = t.L, copy = t.kind == TASK_COPY;
    const int counted = B * (copy ? t.K : 1);
    const int maxL = copy ? L : (1 << o->eval_max_log2) > L ? (1 << o->eval_max_log2) : L;
    /* tokens of the largest batch: training's, or an evaluation batch (<= LM_TASK_EVAL_BATCH
     * tokens, or one sequence when longer) */
    size_t cap = (size_t)B * L > (size_t)LM_TASK_EVAL_BATCH ? (size_t)B * L : (size_t)LM_TASK_EVAL_BATCH;
    if ((size_t)maxL > cap) cap = (size_t)maxL;
    int *tok = xmalloc(cap * sizeof(int)), *tgt = xmalloc(cap * sizeof(int));
    float *rows = xmalloc((size_t)o->eval_seqs * (copy ? t.K : 1) * cfg.vocab_size * sizeof(float));
    lm_train_cfg tc = {.lr = o->lr, .lr_min = o->lr_min, .weight_decay = o->weight_decay,
                       .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .clip = o->clip,
                       .warmup = o->warmup, .steps = o->steps};
    const uint64_t eval_seed = (uint64_t)o->data_seed + 1;   /* a set apart from training's */
    const int stop = o->stop_at > 0 && o->stop_at < o->steps ? o->stop_at : o->steps;
    task_run *run = xcalloc((size_t)nv, sizeof *run);
    for (int i = 0; i < nv; i++) {
        task_run *r = &run[i];
        r->name = lm_variant_label(kinds[i], gates[i]);
        lm_build_variant(&r->m, &cfg, (uint64_t)o->seed, kinds[i], gates[i]);
        int resumed = 0;
        if (o->out) {
            lm_task_path(o->out, r->name, r->out, sizeof r->out);
            if ((resumed = access(r->out, F_OK) == 0)) {
                task_load(&r->m, r->out);
                printf("task: %s resumed from %s at step %d\n", r->name, r->out, r->m.step);
            }
        }
        r->step0 = r->m.step;
        r->done = r->m.step >= stop;
        r->evm = &r->m;
        if (o->graph && !r->done) {
            lm_build_variant(&r->ev, &cfg, (uint64_t)o->seed, kinds[i], gates[i]);
            r->evm = &r->ev;
        }
        if (o->log) {
            char p[1024];
            lm_task_path(o->log, r->name, p, sizeof p);
            r->log = fopen(p, resumed ? "a" : "w");
            if (!r->log) die(2, "%s: cannot open for writing", p);
            if (!resumed) fprintf(r->log, "step\tloss\taccuracy\tms_per_step\n");
        }
        r->tok = xmalloc((size_t)B * L * sizeof(int));
        r->tgt = xmalloc((size_t)B * L * sizeof(int));
    }
    if (copy)
        printf("task copy, %s: context %d, %d tokens from %d colours (L = %d, vocab %d)", o->variant,
               t.L_ctx, t.K, t.M, L, cfg.vocab_size);
    else
        printf("task induction, %s: trained at L = %d, vocab %d, evaluated at 2^6 … 2^%d", o->variant,
               L, cfg.vocab_size, o->eval_max_log2);
    printf("; %d layers, d_model %d, N %d, %zu parameters (%s); batch %d, %d steps, lr %g -> %g "
           "(warm-up %d), weight decay %g, clip %g, %s, %s%s\n", run[0].m.n_layer, run[0].m.dm,
           run[0].m.N, run[0].m.n_params, run[0].name, B, o->steps, o->lr, o->lr_min, o->warmup,
           o->weight_decay, o->clip, o->bf16 ? "bf16" : "fp32",
           o->graph ? "the step as a CUDA graph" : "the step op by op",
           nv > 1 ? (o->graph ? ", the variants' graphs at once" : ", the variants in turn") : "");
    fflush(stdout);
    /* the training loop: each variant at its own step (batches are a function of the step);
     * graphed, every variant's step is launched, the next batches made, then all waited for */
    const double t_start = now_seconds();
    int iters = 0, active = 0;
    for (int i = 0; i < nv; i++) {
        task_run *r = &run[i];
        if (r->done) continue;
        active++;
        task_batch(&t, L, (uint64_t)o->data_seed, r->m.step, B, r->tok, r->tgt);
        if (o->graph) r->g = lm_graph_build(&r->m, r->tok, r->tgt, B, L, 1.f / (float)counted, &tc);
    }
    double t_mark = now_seconds();   /* the graphs' building is not a step's time */
    while (active > 0) {
        double loss[LM_TASK_MAX_VARIANTS] = {0};
        for (int i = 0; i < nv; i++) {
            task_run *r = &run[i];
            if (r->done) continue;
            if (o->graph) {
                lm_graph_launch(r->g, r->tok, r->tgt);
            } else {
                lm_zero_grad(&r->m);
                loss[i] = lm_forward(&r->m, r->tok, r->tgt, B, L, 1.f / (float)counted);
                lm_backward(&r->m);
                lm_opt_step(&r->m, &tc);
            }
            if (r->m.step < stop)   /* the next batch, while the GPU runs this step */
                task_batch(&t, L, (uint64_t)o->data_seed, r->m.step, B, r->tok, r->tgt);
        }
        for (int i = 0; i < nv; i++)
            if (!run[i].done && o->graph) loss[i] = lm_graph_wait(run[i].g);
        iters++;
        const double now = now_seconds(), ms = 1e3 * (now - t_mark) / iters;
        const int time_up = o->max_seconds > 0 && now - t_start > o->max_seconds;
        int logged = 0;
        for (int i = 0; i < nv; i++) {
            task_run *r = &run[i];
            if (r->done) continue;
            const int step = r->m.step;
            if (!isfinite(loss[i])) die(1, "task: %s: loss is %g at step %d", r->name, loss[i], step);
            r->loss_sum += loss[i];
            r->nsum++;
            const int last = step >= stop || time_up;
            if (step % o->log_every == 0 || last) {
                double acc = NAN;
                char accs[32] = "   -  ";
                if (o->eval_every > 0 && (step % o->eval_every == 0 || last)) {
                    acc = task_eval(eval_model(r), &t, L, o->eval_seqs, eval_seed, tok, tgt, rows);
                    snprintf(accs, sizeof accs, "%.2f%%", 100 * acc);
                }
                printf("step %6d | %-10s | loss %.4f | acc %s | %.2f ms/step | %.0f s\n", step,
                       r->name, r->loss_sum / r->nsum, accs, ms, now - t_start);
                /* the loss with 17 digits: equal logs mean equal bits (the resume test) */
                if (r->log) {
                    fprintf(r->log, "%d\t%.17g\t%.6g\t%.3f\n", step, r->loss_sum / r->nsum, acc, ms);
                    fflush(r->log);
                }
                fflush(stdout);
                r->loss_sum = 0;
                r->nsum = 0;
                logged = 1;
            }
            if (last) {
                r->done = 1;
                active--;
            }
        }
        if (logged) {   /* ms/step: one step of every variant, evaluation time excluded */
            iters = 0;
            t_mark = now_seconds();
        }
    }
    const double train_s = now_seconds() - t_start;
    for (int i = 0; i < nv; i++) {
        task_run *r = &run[i];
        if (r->log) fclose(r->log);
        printf("task: %s at step %d of %d (%d trained in this run, %.1f s)\n", r->name, r->m.step,
               o->steps, r->m.step - r->step0, train_s);
        if (o->out) {
            task_save(&r->m, r->out);
            printf("task: %s checkpoint %s written at step %d\n", r->name, r->out, r->m.step);
        }
    }
    fflush(stdout);
    /* the evaluation at the lengths, each variant in turn */
    const int k0 = copy ? 0 : 6, k1 = copy ? 0 : o->eval_max_log2;
    for (int i = 0; i < nv; i++) {
        task_run *r = &run[i];
        lm_model *em = eval_model(r);
        FILE *ev = NULL;
        if (o->eval_out) {
            char p[1024];
            lm_task_path(o->eval_out, r->name, p, sizeof p);
            ev = fopen(p, "a");
            if (!ev) die(2, "%s: cannot open for appending", p);
        }
        for (int k = k0; k <= k1; k++) {
            const int Le = copy ? L : 1 << k;
            const double te = now_seconds();
            const int ns = lm_task_eval_seqs(Le, o->eval_seqs);
            const double acc = task_eval(em, &t, Le, ns, eval_seed, tok, tgt, rows);
            printf("eval %s %s L = %7d: accuracy %6.2f%% over %d sequences (%.1f s)\n", o->task,
                   r->name, Le, 100 * acc, ns, now_seconds() - te);
            if (ev) {
                fprintf(ev, "%s\t%s\t%d\t%d\t%.6f\t%d\n", o->task, r->name, r->m.step, Le, acc, ns);
                fflush(ev);
            }
            fflush(stdout);
        }
        if (ev) fclose(ev);
    }
    for (int i = 0; i < nv; i++) {
        if (run[i].evm == &run[i].ev) lm_free(&run[i].ev);
        lm_free(&run[i].m);
        free(run[i].tok);
        free(run[i].tgt);
    }
    free(run);
    free(tok); free(tgt); free(rows);
    return 0;
}
