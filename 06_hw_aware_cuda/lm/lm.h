/* 06_hw_aware_cuda/lm/lm.h — the program's commands (main.c parses the flags). Each returns
 * the exit code; bad input exits 2 with one line. */
#ifndef LM_LM_H
#define LM_LM_H

/* --check DIR: the model against transformers' debug state (0 all pass, 1 a mismatch). */
int lm_check(const char *dir, int bf16);

typedef struct {
    const char *config, *train, *val, *out, *resume, *log;
    int batch, L, accum, steps, warmup, val_every, val_batches, save_every, seed, bf16;
    int stop_at;                /* stop (with a checkpoint) after this step; 0: run to steps */
    int scan_bwd;               /* LM_SCAN_BWD_* of model.h; -1: as lm_build chose it */
    int kind, no_gate;          /* --bench: §6.23 stage 05's variant (MAMBA_S6, 0: the LM) */
    double lr, lr_min, weight_decay, clip, max_seconds;
} lm_train_opts;
int lm_train(const lm_train_opts *o);

/* Training steps at one shape on random tokens: time, tok/s, MFU, memory, the time split;
 * one TSV row appended to csv (if not NULL). */
int lm_bench(const lm_train_opts *o, const char *csv);

/* Logits of checkpoint DIR for the token ids in ids.npy (batch, L) -> out.npy (float32). */
int lm_logits(const char *dir, const char *ids_path, const char *out_path, int bf16);
/* A checkpoint of a model built from config.json and initialised with seed. */
int lm_init_checkpoint(const char *config, const char *dir, int seed);

#endif
