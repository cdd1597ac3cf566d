/* 06_hw_aware_cuda/lm/main.c — the Mamba language model on the GPU (chapter 6, part 2).
 *
 *   lm --check DIR [--dtype bf16]      reproduce transformers' debug state (logits, loss,
 *                                      every gradient, AdamW losses): vectors/06_hw_aware_cuda_lm
 *   lm --train TOKENS --config config.json [--val TOKENS] [--out DIR] [--resume DIR] ...
 *                                      train on a token file (llm.c's format), checkpoints as
 *                                      Hugging Face writes them
 *   lm --logits DIR --ids ids.npy --out-npy logits.npy    logits of a checkpoint
 *   lm --init config.json --out DIR [--seed S]            an initialised checkpoint
 *   lm --bench --config config.json --batch B --seq L [--dtype bf16] [--bench-out f.tsv]
 *                                      training throughput, MFU, memory, time split
 *   lm --task copy|induction --variant s6|lti|nogate|lti-nogate[,...] --config config.json ...
 *                                      the Mamba paper's synthetic tasks (§6.23): train on
 *                                      generated batches, report accuracy (induction heads at
 *                                      2^6 … 2^--eval-max-log2)
 *   [--scan-bwd auto|fused|v6|v7]      part 1's scan backward (auto = v7, deterministic; fused
 *                                      and v6 add with atomics); or LM_SCAN_BWD=...
 * Without a usable GPU (or built without CUDA) it says why and exits 2. */
#include <stdio.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/checkpoint.h"
#include "06_hw_aware_cuda/lm/lm.h"
#include "06_hw_aware_cuda/lm/model.h"
#include "06_hw_aware_cuda/lm/synthetic.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "common/cli.h"
#include "common/util.h"

int main(int argc, char **argv)
{
    const char *check = NULL, *dtype = "fp32", *scan_bwd = NULL, *logits = NULL, *ids = NULL,
               *out_npy = NULL, *init = NULL, *bench = NULL;
    int do_bench = 0;
    /* §6.23 the synthetic tasks (the shared flags — config, batch, seq, steps, lr … — from t) */
    lm_task_opts tk = {.variant = "s6", .copy_context = 4096, .copy_tokens = 16, .copy_colours = 14,
                       .eval_max_log2 = 20, .eval_seqs = 64, .log_every = 100, .data_seed = 99,
                       .graph = 1};
    lm_train_opts t = {.batch = 8, .L = 256, .accum = 1, .steps = 100, .warmup = 10,
                       .val_every = 25, .val_batches = 8, .save_every = 0, .seed = 1,
                       .lr = 1e-3, .lr_min = 1e-4, .weight_decay = 0.1, .clip = 1.0};
    cli_opt opts[] = {
        {"check", CLI_STRING, &check, "reproduce a transformers debug state in DIR"},
        {"dtype", CLI_STRING, &dtype, "fp32 | bf16 (matmuls on the tensor cores in bf16)"},
        {"scan-bwd", CLI_STRING, &scan_bwd, "auto | fused | v6 | v7: part 1's scan backward (default: $LM_SCAN_BWD or auto)"},
        {"train", CLI_STRING, &t.train, "train on this token file (llm.c format)"},
        {"val", CLI_STRING, &t.val, "validation token file"},
        {"config", CLI_STRING, &t.config, "config.json of the model to train"},
        {"out", CLI_STRING, &t.out, "checkpoint directory (written atomically)"},
        {"resume", CLI_STRING, &t.resume, "continue from this checkpoint directory"},
        {"log", CLI_STRING, &t.log, "loss log (TSV: step, loss, val_loss, lr, norm, ms, tok/s)"},
        {"batch", CLI_INT, &t.batch, "sequences per micro-batch"},
        {"seq", CLI_INT, &t.L, "sequence length L"},
        {"accum", CLI_INT, &t.accum, "micro-batches per optimizer step"},
        {"steps", CLI_INT, &t.steps, "optimizer steps in total"},
        {"warmup", CLI_INT, &t.warmup, "linear warm-up steps"},
        {"lr", CLI_DOUBLE, &t.lr, "peak learning rate"},
        {"lr-min", CLI_DOUBLE, &t.lr_min, "learning rate at the end of the cosine"},
        {"weight-decay", CLI_DOUBLE, &t.weight_decay, "AdamW weight decay (matrices, conv, embedding)"},
        {"clip", CLI_DOUBLE, &t.clip, "global gradient-norm clip (0: none)"},
        {"val-every", CLI_INT, &t.val_every, "validation every K steps"},
        {"val-batches", CLI_INT, &t.val_batches, "micro-batches of the validation split"},
        {"save-every", CLI_INT, &t.save_every, "checkpoint every K steps (0: at the end only)"},
        {"max-seconds", CLI_DOUBLE, &t.max_seconds, "stop (with a checkpoint) after this long"},
        {"stop-at", CLI_INT, &t.stop_at, "stop (with a checkpoint) after this step"},
        {"seed", CLI_INT, &t.seed, "initialisation seed"},
        {"logits", CLI_STRING, &logits, "checkpoint directory whose logits to write"},
        {"ids", CLI_STRING, &ids, "token ids (batch, L) .npy for --logits"},
        {"out-npy", CLI_STRING, &out_npy, "where --logits writes (float32 .npy)"},
        {"bench", CLI_FLAG, &do_bench, "time training steps at --config, --batch, --seq (random tokens; --variant: one of the task variants)"},
        {"bench-out", CLI_STRING, &bench, "append the benchmark row to this TSV"},
        {"init", CLI_STRING, &init, "write an initialised checkpoint of this config.json to --out"},
        {"task", CLI_STRING, &tk.task, "copy | induction: train on a synthetic task, report accuracy (--out FILE: its checkpoint, resumed from when it exists)"},
        {"variant", CLI_STRING, &tk.variant, "s6 | lti | nogate | lti-nogate: the block's SSM (--task); several comma-separated train side by side ({v} in --log/--out: each one's name)"},
        {"graph", CLI_INT, &tk.graph, "1: the task's training step as a CUDA graph (default); 0: op by op"},
        {"copy-context", CLI_INT, &tk.copy_context, "selective copying: context length (4096)"},
        {"copy-tokens", CLI_INT, &tk.copy_tokens, "selective copying: tokens to copy (16)"},
        {"copy-colours", CLI_INT, &tk.copy_colours, "selective copying: data token values (14; vocab = colours + 2)"},
        {"eval-max-log2", CLI_INT, &tk.eval_max_log2, "induction heads: evaluate at 2^6 ... 2^this (6 ... 20)"},
        {"eval-seqs", CLI_INT, &tk.eval_seqs, "sequences per evaluated length"},
        {"eval-every", CLI_INT, &tk.eval_every, "accuracy at the training length every K steps (0: at the end)"},
        {"eval-out", CLI_STRING, &tk.eval_out, "append the accuracy rows to this TSV"},
        {"log-every", CLI_INT, &tk.log_every, "steps per progress row (--task)"},
        {"data-seed", CLI_INT, &tk.data_seed, "seed of the generated batches (--task)"},
        {0}};
    cli_parse(argc, argv, "chapter 6, part 2: the Mamba language model on the GPU", opts);
    if (strcmp(dtype, "fp32") && strcmp(dtype, "bf16"))
        die(2, "--dtype: expected fp32 or bf16, got \"%s\"", dtype);
    t.bf16 = !strcmp(dtype, "bf16");
    t.scan_bwd = -1;                      /* -1: as lm_build found it (LM_SCAN_BWD or auto) */
    if (scan_bwd && (t.scan_bwd = lm_scan_bwd_find(scan_bwd)) < 0)
        die(2, "--scan-bwd: expected auto, fused, v6 or v7, got \"%s\"", scan_bwd);
    if (t.val_every < 1) die(2, "--val-every: expected >= 1, got %d", t.val_every);
    if (t.val_batches < 1) die(2, "--val-batches: expected >= 1, got %d", t.val_batches);
    if (!check && !t.train && !logits && !init && !do_bench && !tk.task)
        die(2, "nothing to do: give --check, --train, --task, --bench, --logits or --init (see --help)");
    if (do_bench && !lm_variant_find(tk.variant, &t.kind, &t.no_gate))
        die(2, "--variant: --bench times one of s6, lti, nogate, lti-nogate, got \"%s\"", tk.variant);
    if (tk.task) {   /* checked on the CPU first: bad input is named with or without a GPU */
        if (!t.config) die(2, "--task needs --config config.json");
        if (tk.graph != 0 && tk.graph != 1) die(2, "--graph: expected 0 or 1, got %d", tk.graph);
        tk.config = t.config; tk.log = t.log; tk.batch = t.batch; tk.L = t.L; tk.steps = t.steps;
        tk.seed = t.seed; tk.bf16 = t.bf16; tk.lr = t.lr; tk.lr_min = t.lr_min;
        tk.weight_decay = t.weight_decay; tk.clip = t.clip; tk.max_seconds = t.max_seconds;
        tk.warmup = t.warmup; tk.out = t.out; tk.stop_at = t.stop_at;
        hf_config cfg;
        hf_config_read(t.config, &cfg);
        task_cfg tc;
        lm_task_setup(&tk, cfg.vocab_size, cfg.intermediate_size, &tc);
    }
    if (logits && (!ids || !out_npy)) die(2, "--logits needs --ids and --out-npy");
    if (init && !t.out) die(2, "--init needs --out DIR");
    /* checkpoints are read and checked on the CPU first: a bad file is named with or
     * without a GPU */
    if (logits) lm_checkpoint_check(logits, 0);
    if (t.resume && !check) lm_checkpoint_check(t.resume, 1);
#ifndef HAVE_CUDA
    die(2, "built without CUDA (%s): the GPU model cannot run here", NO_CUDA_REASON);
#else
    char why[256];
    if (!scan_gpu_available(why, sizeof why)) die(2, "no usable GPU: %s", why);
    if (check) return lm_check(check, t.bf16);
    if (tk.task) return lm_task(&tk);
    if (logits) return lm_logits(logits, ids, out_npy, t.bf16);
    if (init) return lm_init_checkpoint(init, t.out, t.seed);
    if (do_bench) return lm_bench(&t, bench);
    return lm_train(&t);
#endif
}
