/* 06_hw_aware_cuda/lm/corpus_demo.c — the CPU demo of text in, text out (chapter 6, part 3):
 * train a small Mamba (stage 05's model) on the fortunes token files for --seconds (20 in make demo-text),
 * report validation loss against a unigram baseline on the same split, save the model as
 * transformers lays it out, and generate a few lines from it.
 *
 *   corpus_demo [--data DIR] [--tokenizer FILE] [--out DIR] [--seconds S] [--seed N]
 *   corpus_demo --unigram [--data DIR] [--tokenizer FILE]   only the baseline, on the whole validation split
 *
 * DIR holds train.bin and val.bin (make corpus). Writes OUT/demo_train.dat (step, training
 * loss), OUT/demo_val.dat (step, validation loss, unigram baseline), the plot
 * OUT/corpus_demo_loss.{png,svg} and OUT/model/{config.json, model.safetensors, tokenizer.json}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "06_hw_aware_cuda/lm/corpus.h"
#include "06_hw_aware_cuda/lm/generate.h"
#include "06_hw_aware_cuda/lm/hf_config.h"
#include "06_hw_aware_cuda/lm/tokenizer.h"
#include "common/plot.h"
#include "common/util.h"

enum { B = 8, L = 64, VAL_WINDOWS = 48 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint16_t *read_tokens(const char *dir, const char *name, size_t *n)
{
    char path[4096], err[512];
    path_join(path, sizeof path, dir, name);
    uint16_t *t = corpus_read_tokens(path, n, err, sizeof err);
    if (!t) die(2, "corpus_demo: %s (make corpus writes it)", err);
    if (*n < (size_t)L + 2) die(2, "corpus_demo: %s: %zu tokens, fewer than one window", path, *n);
    return t;
}

/* Window w of VAL_WINDOWS evenly spaced ones: inputs x[0..L), targets y = x shifted by one. */
static void window(const uint16_t *tok, size_t start, int *x, int *y)
{
    for (int i = 0; i < L; i++) {
        x[i] = tok[start + (size_t)i];
        y[i] = tok[start + (size_t)i + 1];
    }
}

/* Mean cross-entropy (nats) of the model on the validation windows. */
static double val_loss(mamba_model *m, const uint16_t *val, size_t nval, int *x, int *y)
{
    double s = 0;
    for (int w = 0; w < VAL_WINDOWS; w += B) {
        for (int b = 0; b < B; b++) {
            size_t start = (size_t)(w + b) * (nval - L - 1) / VAL_WINDOWS;
            window(val, start, x + b * L, y + b * L);
        }
        s += mamba_forward(m, x, y, B, L, NULL);
    }
    return s / (VAL_WINDOWS / B);
}

/* The unigram baseline: −mean log p(y) with p the add-one-smoothed token frequencies of the
 * training split, on the same validation targets (all: every target of the split, the windows
 * of the GPU model's validation included). */
static double unigram_loss(const uint16_t *tr, size_t ntr, const uint16_t *val, size_t nval, int V, int all)
{
    double *cnt = xcalloc((size_t)V, sizeof *cnt), s = 0;
    for (size_t i = 0; i < ntr; i++) cnt[tr[i]] += 1;
    if (all) {
        for (size_t i = 1; i < nval; i++) s -= log((cnt[val[i]] + 1) / ((double)ntr + V));
        free(cnt);
        return s / (double)(nval - 1);
    }
    for (int w = 0; w < VAL_WINDOWS; w++) {
        size_t start = (size_t)w * (nval - L - 1) / VAL_WINDOWS;
        for (int i = 0; i < L; i++) s -= log((cnt[val[start + (size_t)i + 1]] + 1) / ((double)ntr + V));
    }
    free(cnt);
    return s / (VAL_WINDOWS * L);
}

int main(int argc, char **argv)
{
    const char *data = "data/fortunes", *tk_path = "corpus_tokenizer.json", *out = "out";
    double seconds = 60;
    uint64_t seed = 1;
    int unigram_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--unigram")) { unigram_only = 1; continue; }
        if (i + 1 >= argc) die(2, "corpus_demo: %s needs a value", argv[i]);
        if (!strcmp(argv[i], "--data")) data = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer")) tk_path = argv[++i];
        else if (!strcmp(argv[i], "--out")) out = argv[++i];
        else if (!strcmp(argv[i], "--seconds")) {
            seconds = atof(argv[++i]);
            if (!(seconds > 0 && seconds < 1e6)) die(2, "corpus_demo: --seconds %s: expected a positive number", argv[i]);
        } else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[++i], NULL, 10);
        else die(2, "corpus_demo: unknown argument %s", argv[i]);
    }
    char err[512];
    tokenizer *tk = tokenizer_load(tk_path, err, sizeof err);
    if (!tk) die(2, "corpus_demo: %s", err);
    size_t ntr, nval;
    uint16_t *tr = read_tokens(data, "train.bin", &ntr), *val = read_tokens(data, "val.bin", &nval);
    const int V = (tokenizer_vocab_size(tk) + 7) / 8 * 8;   /* padded to 8, as the HF checkpoints */
    for (size_t i = 0; i < ntr; i++)
        if (tr[i] >= tokenizer_vocab_size(tk)) die(2, "corpus_demo: train.bin token %zu = %d outside %s", i, tr[i], tk_path);

    mamba_config c = {.vocab = V, .d_model = 96, .n_layer = 2, .d_state = 16, .d_conv = 4, .expand = 2, .kind = MAMBA_S6};
    mamba_config_finish(&c);
    mamba_model m;
    mamba_init(&m, &c, seed);
    mamba_opt o;
    mamba_opt_init(&o, &m);
    /* the step count is unknown (a time budget): the schedule assumes 400 and the clock stops it */
    mamba_train_cfg tc = {.lr = 1e-2, .lr_min = 1e-3, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95,
                          .clip = 1.0, .warmup = 5, .steps = 400};
    int *x = xmalloc(sizeof(int) * B * L), *y = xmalloc(sizeof(int) * B * L);
    rng_t rng;
    rng_seed(&rng, seed);
    if (unigram_only) {   /* the GPU demo's baseline (make demo-text-gpu) */
        printf("unigram baseline on the whole validation split (%zu targets): %.4f nats/token (uniform: %.4f)\n",
               nval - 1, unigram_loss(tr, ntr, val, nval, tokenizer_vocab_size(tk), 1), log((double)tokenizer_vocab_size(tk)));
        return 0;
    }
    const double uni = unigram_loss(tr, ntr, val, nval, tokenizer_vocab_size(tk), 0);
    printf("corpus_demo: %zu train / %zu validation tokens (%s), vocabulary %d, model d_model %d, %d layers, "
           "%zu parameters, batch %d x %d, %.0f s\n", ntr, nval, data, tokenizer_vocab_size(tk), c.d_model,
           c.n_layer, m.n_params, B, L, seconds);
    printf("unigram baseline on the validation windows: %.4f nats/token (uniform: %.4f)\n", uni,
           log((double)tokenizer_vocab_size(tk)));
    char path[4096];
    snprintf(path, sizeof path, "%s", out);
    for (char *q = path + 1; *q; q++)   /* mkdir -p */
        if (*q == '/') { *q = 0; mkdir(path, 0777); *q = '/'; }
    mkdir(path, 0777);
    path_join(path, sizeof path, out, "demo_train.dat");
    FILE *f = fopen(path, "w");
    path_join(path, sizeof path, out, "demo_val.dat");
    FILE *fv = fopen(path, "w");
    if (!f || !fv) die(2, "corpus_demo: cannot write %s", path);
    fprintf(f, "# step train_loss\n");
    fprintf(fv, "# step val_loss unigram_val_loss\n");
    double t0 = now_s(), vl = val_loss(&m, val, nval, x, y);
    printf("%6s %10s %10s %8s\n", "step", "train", "val", "tok/s");
    printf("%6d %10s %10.4f %8s\n", 0, "-", vl, "-");
    fprintf(fv, "0 %.6f %.6f\n", vl, uni);
    int step = 0;
    double tl = 0;
    while (now_s() - t0 < seconds && step < tc.steps) {
        for (int b = 0; b < B; b++) window(tr, rng_below(&rng, ntr - L - 1), x + b * L, y + b * L);
        memset(m.grads, 0, m.n_params * sizeof(real));
        tl = mamba_forward(&m, x, y, B, L, NULL);
        mamba_backward(&m, x, y);
        mamba_opt_step(&m, &o, &tc);
        step++;
        int last = now_s() - t0 >= seconds || step == tc.steps;
        fprintf(f, "%d %.6f\n", step, tl);
        if (step % 10 == 0 || last) {
            vl = val_loss(&m, val, nval, x, y);
            printf("%6d %10.4f %10.4f %8.0f\n", step, tl, vl, (double)step * B * L / (now_s() - t0));
            fprintf(fv, "%d %.6f %.6f\n", step, vl, uni);
        }
        fflush(stdout);
    }
    fclose(f);
    fclose(fv);
    plot_run(STAGE_DIR, "corpus_demo_loss", out);   /* a missing gnuplot is one line, not an error */
    printf("validation loss %.4f vs unigram %.4f nats/token after %d steps (%.0f s)%s\n", vl, uni, step,
           now_s() - t0, vl < uni ? ": below the unigram baseline" : ": NOT below the unigram baseline");

    /* the model as transformers lays it out, beside its tokenizer */
    char dir[4096], cfg[4096], st[4096], tkc[4096];
    path_join(dir, sizeof dir, out, "model");
    mkdir(dir, 0777);
    path_join(cfg, sizeof cfg, dir, "config.json");
    path_join(st, sizeof st, dir, "model.safetensors");
    path_join(tkc, sizeof tkc, dir, "tokenizer.json");
    hf_config h;
    hf_config_defaults(&h);
    h.vocab_size = V; h.hidden_size = c.d_model; h.num_hidden_layers = c.n_layer; h.state_size = c.d_state;
    h.conv_kernel = c.d_conv; h.expand = c.expand; h.time_step_rank = c.dt_rank;
    h.intermediate_size = c.d_inner;
    h.eos_token_id = h.bos_token_id = h.pad_token_id = tokenizer_eos_id(tk);
    hf_config_write(cfg, &h);
    mamba_save(&m, NULL, st, NULL, NULL, 0);
    size_t n;
    char *tj = corpus_read_file(tk_path, &n, err, sizeof err);
    if (!tj || corpus_write_file(tkc, tj, n, err, sizeof err)) die(2, "corpus_demo: %s", err);
    free(tj);
    printf("saved %s (config.json, model.safetensors, tokenizer.json)\n\nsamples (T 0.8, top-k 40, 40 tokens):\n", dir);

    const char *prompts[] = {"The meaning of life", "A computer", "Love is", "Q: What"};
    const int np = 4;
    int32_t *ids[4], *gen = xmalloc(sizeof(int32_t) * np * 40);
    int plen[4], n_out[4];
    for (int b = 0; b < np; b++) {
        tok_ids v = {0};
        tok_ids_push(&v, tokenizer_eos_id(tk));   /* a document starts after <|endoftext|> */
        tokenizer_encode(tk, prompts[b], strlen(prompts[b]), &v);
        ids[b] = v.ids;
        plen[b] = (int)v.n;
    }
    gen_opts go = {.max_new = 40, .temperature = 0.8, .top_k = 40, .top_p = 1, .seed = seed,
                   .eos = tokenizer_eos_id(tk), .n_valid = tokenizer_vocab_size(tk)};
    gen_generate(&m, (const int32_t *const *)ids, plen, np, &go, gen, n_out, NULL, NULL);
    for (int b = 0; b < np; b++) {
        tok_bytes t = {0};
        tokenizer_decode(tk, gen + b * 40, (size_t)n_out[b], 1, &t);
        printf("--- %s%s\n", prompts[b], t.bytes ? t.bytes : "");
        tok_bytes_free(&t);
        free(ids[b]);
    }
    free(gen); free(x); free(y); free(tr); free(val);
    mamba_opt_free(&o);
    mamba_free(&m);
    tokenizer_free(tk);
    return 0;
}
