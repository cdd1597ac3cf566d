/* 06_hw_aware_cuda/lm/synthetic.h — the Mamba paper's synthetic tasks on the GPU model (§6.23):
 * selective copying and induction heads (Gu & Dao 2023, §4.1, Tables 1 and 2, Appendix E.1),
 * with stage 05's generators (05_selective_s6/tasks.h: the same sequences for a (seed, step))
 * and stage 05's variants (S6, LTI, no gate) built by lm_build_variant.
 *
 * This file's functions run on the CPU (the command line checked, accuracy scored) and are
 * tested without a GPU; lm_task (synthetic_gpu.c) trains and evaluates on the GPU. */
#ifndef LM_SYNTHETIC_H
#define LM_SYNTHETIC_H

#include <stddef.h>

#include "05_selective_s6/tasks.h"

typedef struct {
    const char *task;           /* "copy" | "induction" */
    const char *variant;        /* "s6" | "lti" | "nogate" | "lti-nogate", or several of them
                                 * comma-separated: trained side by side (§6.24) */
    const char *config;         /* config.json of the model (its vocab_size must fit the task) */
    const char *log;            /* TSV: step, loss, accuracy at the training length, ms */
    const char *eval_out;       /* TSV rows appended: task, variant, L, accuracy, sequences */
    const char *out;            /* checkpoint FILE (stage 05's format: variants included);
                                 * resumed from when it exists, written at the end or stop.
                                 * With several variants, log and out need "{v}" in the path
                                 * (replaced by each variant's name; eval_out may have it) */
    int batch, L, steps, seed, data_seed, bf16;
    int graph;                  /* §6.24 1: the training step as a CUDA graph (0: launched op by op) */
    int stop_at;                /* stop (with the checkpoint) after this step; 0: at --steps */
    int log_every;              /* steps between log rows (mean loss over them) */
    int eval_every;             /* steps between accuracy evaluations at the training length */
    int eval_seqs;              /* sequences per evaluated length */
    int copy_context, copy_tokens, copy_colours;
    int eval_max_log2;          /* induction heads: test lengths 2^6 … 2^eval_max_log2 */
    double lr, lr_min, weight_decay, clip, max_seconds;
    int warmup;
} lm_task_opts;

/* The largest tokens × vocabulary (and tokens × d_inner) one forward may hold: the kernels
 * index within one sequence batch in 32-bit ints. */
#define LM_TASK_MAX_ELEMS 2147483647LL

/* "s6", "lti", "nogate" (S6 without the gate), "lti-nogate" -> stage 05's kind and no_gate;
 * 0 if the name is none of them. */
int lm_variant_find(const char *name, int *kind, int *no_gate);
const char *lm_variant_label(int kind, int no_gate);
/* A comma-separated list of variant names -> their kinds and no_gate flags (at most
 * LM_TASK_MAX_VARIANTS, each once); the count, or 0 if the list is not such a list. */
#define LM_TASK_MAX_VARIANTS 4
int lm_variant_list(const char *spec, int kind[LM_TASK_MAX_VARIANTS], int no_gate[LM_TASK_MAX_VARIANTS]);
/* pattern with every "{v}" replaced by variant, into buf (exit 2 if it does not fit) */
void lm_task_path(const char *pattern, const char *variant, char *buf, size_t len);

/* Check the options against the model (vocab_size, d_inner) and fill stage 05's task_cfg;
 * exit 2 with one line naming the flag or field on anything it cannot run. */
void lm_task_setup(const lm_task_opts *o, int vocab, int d_inner, task_cfg *t);

/* Sequences per evaluation batch at length L: at most eval_seqs, at most LM_TASK_EVAL_BATCH
 * tokens (2^22: 4 sequences at 2^20, ~55 GB of the task model's buffers; the scans walk the
 * sequences of a batch side by side, so a 2^20 sequence costs less in a batch of 4 than alone) */
#define LM_TASK_EVAL_BATCH (1 << 22)
int lm_task_eval_batch(int L, int eval_seqs);
/* Sequences evaluated at length L: eval_seqs, but at most LM_TASK_EVAL_TOKENS tokens in all
 * (at least one sequence): 16 at 2^20 — the long lengths' forwards are what the evaluation
 * costs (a forward of one 2^20-token sequence of the task model took ~0.2 s on the H200). */
#define LM_TASK_EVAL_TOKENS (1 << 24)
int lm_task_eval_seqs(int L, int eval_seqs);

/* Count the scored positions (tgt >= 0) among T rows of logits (T, V) and those whose argmax
 * (the first maximum) is the target. */
void lm_task_hits(const float *logits, const int *tgt, size_t T, int V, long *hit, long *tot);

/* Train and evaluate on the GPU (synthetic_gpu.c); returns the exit code. */
int lm_task(const lm_task_opts *o);

#endif
