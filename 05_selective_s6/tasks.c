/* 05_selective_s6/tasks.c — synthetic tasks and the training loop. */
#include "05_selective_s6/tasks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rng.h"
#include "common/util.h"

int task_length(const task_cfg *t) { return t->kind == TASK_COPY ? t->L_ctx + t->K : t->L; }

static void batch_rng(rng_t *r, uint64_t seed, long step)
{
    rng_seed(r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)step);
}

void task_batch(const task_cfg *t, int L, uint64_t seed, long step, int B, int *tok, int *tgt)
{
    rng_t r;
    batch_rng(&r, seed, step);
    for (int b = 0; b < B; b++) {
        int *x = tok + (size_t)b * L, *y = tgt + (size_t)b * L;
        for (int i = 0; i < L; i++) y[i] = -1;
        if (t->kind == TASK_COPY) {
            const int Lc = t->L_ctx, K = t->K;
            for (int i = 0; i < Lc; i++) x[i] = 0;                       /* noise */
            /* K distinct positions in the context, in increasing order (selection sampling) */
            int need = K, j = 0;
            for (int i = 0; i < Lc && need > 0; i++)
                if (rng_below(&r, (uint64_t)(Lc - i)) < (uint64_t)need) {
                    int v = 2 + (int)rng_below(&r, (uint64_t)t->M);
                    x[i] = v;
                    y[Lc + j] = v;                 /* answer at the j-th marker */
                    j++;
                    need--;
                }
            for (int i = 0; i < K; i++) x[Lc + i] = 1;                   /* markers */
        } else {
            for (int i = 0; i < L; i++) x[i] = 2 + (int)rng_below(&r, (uint64_t)(t->vocab - 2));
            int p = (int)rng_below(&r, (uint64_t)(L - 2));              /* trigger in [0, L−3] */
            x[p] = 1;
            x[L - 1] = 1;
            y[L - 1] = x[p + 1];
        }
    }
}

double task_accuracy(mamba_model *m, const task_cfg *t, int L, int n_batches, int B,
                     uint64_t seed)
{
    const int V = m->cfg.vocab;
    int *tok = xmalloc((size_t)B * L * sizeof(int)), *tgt = xmalloc((size_t)B * L * sizeof(int));
    long hit = 0, tot = 0;
    for (int k = 0; k < n_batches; k++) {
        task_batch(t, L, seed, 1000000000L + k, B, tok, tgt);   /* held-out: steps never trained */
        mamba_forward(m, tok, NULL, B, L, NULL);
        const real *lg = mamba_logits(m);
        for (size_t i = 0; i < (size_t)B * L; i++) {
            if (tgt[i] < 0) continue;
            const real *row = lg + i * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (row[v] > row[best]) best = v;
            hit += best == tgt[i];
            tot++;
        }
    }
    free(tok);
    free(tgt);
    return tot ? (double)hit / tot : 0;
}

int train_run(mamba_model *m, mamba_opt *o, const task_cfg *t, const mamba_train_cfg *tc,
              train_opts *opt, real *loss)
{
    opt->resumed_at = 0;
    const int B = opt->B, L = task_length(t);
    if (opt->ckpt && access(opt->ckpt, F_OK) == 0) {
        int nh = mamba_load(m, o, opt->ckpt, loss, tc->steps);
        if (nh != o->step) die(2, "%s: loss history has %d entries for %d steps", opt->ckpt, nh, o->step);
        opt->resumed_at = o->step;
    }
    int *tok = xmalloc((size_t)B * L * sizeof(int)), *tgt = xmalloc((size_t)B * L * sizeof(int));
    progress_t pr;
    progress_start(&pr, opt->label ? opt->label : "train", tc->steps);
    char extra[64];
    const double t0 = now_seconds();
    while (o->step < tc->steps) {
        task_batch(t, L, opt->seed, o->step, B, tok, tgt);
        memset(m->grads, 0, m->n_params * sizeof(real));
        double l = mamba_forward(m, tok, tgt, B, L, NULL);
        if (!isfinite(l)) die(1, "training diverged: loss %g at step %d", l, o->step);
        mamba_backward(m, tok, tgt);
        loss[o->step] = (real)l;
        mamba_opt_step(m, o, tc);
        snprintf(extra, sizeof extra, "loss %.4f", l);
        progress_update(&pr, o->step, extra);
        int stop = (opt->stop_after > 0 && o->step >= opt->stop_after) ||
                   (opt->max_seconds > 0 && now_seconds() - t0 >= opt->max_seconds);
        if (opt->ckpt && ((opt->ckpt_every > 0 && o->step % opt->ckpt_every == 0) || stop ||
                          o->step == tc->steps))
            mamba_save(m, o, opt->ckpt, NULL, loss, o->step);
        if (stop) break;
    }
    progress_end(&pr);
    free(tok);
    free(tgt);
    return o->step;
}
