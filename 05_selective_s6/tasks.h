/* 05_selective_s6/tasks.h — the Mamba paper's synthetic tasks, and the training loop.
 *
 * Selective copying (Mamba paper, Sec. 4.1.1, Table 1): a context of L_ctx tokens, K of them data
 * tokens (from M "colours") at random positions, the rest noise; then K marker tokens,
 * at which the model must output the K data tokens in order. Vocabulary: 0 noise,
 * 1 marker, 2…M+1 data. Solving it needs content-aware skipping of the noise: an LTI
 * model's fixed kernel cannot, since the data positions move from sample to sample.
 *
 * Induction heads (Mamba paper, Sec. 4.1.2, Table 2): random tokens 2…V−1, a trigger token 1 placed once
 * at a random position followed by a value token; the sequence ends with the trigger
 * again and the model must output the value. Trained at one length, evaluated at
 * longer ones (extrapolation). Only the last position is scored.
 *
 * Batches are a function of (seed, step) only, so a resumed run sees exactly the data
 * an uninterrupted one would. */
#ifndef TASKS_H
#define TASKS_H

#include <stdint.h>
#include "05_selective_s6/mamba.h"

enum { TASK_COPY = 0, TASK_INDUCTION = 1 };

typedef struct {
    int kind;       /* TASK_COPY or TASK_INDUCTION */
    int L_ctx, K, M;    /* selective copying: context length, tokens to copy, colours */
    int L;          /* induction heads: training length; copying: L_ctx + K */
    int vocab;      /* induction heads: vocabulary (incl. the trigger); copying: M + 2 */
} task_cfg;

/* Fill tokens and targets (B, L) for one batch; targets −1 where not scored. */
void task_batch(const task_cfg *t, int L, uint64_t seed, long step, int B, int *tok, int *tgt);
int task_length(const task_cfg *t);

/* Accuracy (fraction of scored positions whose argmax is the target) over n_batches
 * fresh batches of B sequences of length L (L ≥ 4 for induction heads). */
double task_accuracy(mamba_model *m, const task_cfg *t, int L, int n_batches, int B,
                     uint64_t seed);

typedef struct {
    int B;              /* sequences per batch */
    uint64_t seed;      /* data seed */
    const char *ckpt;   /* checkpoint path or NULL; resumed from if it exists */
    int ckpt_every;     /* steps between checkpoints (0: only at the end) */
    int stop_after;     /* stop (after checkpointing) once this many steps are done; 0: never */
    double max_seconds; /* stop (after checkpointing) once training took this long; 0: never */
    int resumed_at;     /* set by train_run: the step the checkpoint resumed from (0: fresh) */
    const char *label;  /* progress bar label */
} train_opts;

/* Train m with AdamW per tc for tc->steps steps (or until stop_after), writing the
 * loss of step s into loss[s] (tc->steps entries). Returns the number of steps done. */
int train_run(mamba_model *m, mamba_opt *o, const task_cfg *t, const mamba_train_cfg *tc,
              train_opts *opt, real *loss);

#endif
