/* 06_hw_aware_cuda/lm/generate_main.c — `generate`: prompt text in, text out, on the CPU
 * through stage 05's recurrent step (chapter 6, part 3, §G).
 *
 *   generate --model DIR [--tokenizer FILE] [--prompt TEXT]... [--prompts FILE]
 *            [--max-new N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
 *            [--greedy] [--no-eos]
 *
 * DIR holds config.json and model.safetensors as transformers writes them (fp32; the names
 * of MambaForCausalLM) and, unless --tokenizer names one, tokenizer.json. One prompt: the
 * text streams as it is produced. Several (repeat --prompt, or one per line of --prompts):
 * one batch, each completion printed after the run. Bad input: exit 2, one line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "06_hw_aware_cuda/lm/corpus.h"
#include "06_hw_aware_cuda/lm/generate.h"
#include "06_hw_aware_cuda/lm/hf_config.h"
#include "06_hw_aware_cuda/lm/tokenizer.h"
#include "common/util.h"

typedef struct { tokenizer *tk; int eos; } stream_ctx;

static void stream(int b, int32_t id, void *ctx)
{
    (void)b;
    stream_ctx *s = ctx;
    size_t n;
    const char *p = tokenizer_token_bytes(s->tk, id, &n);
    if (id == s->eos || !p) return;
    fwrite(p, 1, n, stdout);   /* raw token bytes: a character split over tokens completes later */
    fflush(stdout);
}

static double arg_num(const char *flag, const char *v, double lo, double hi)
{
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi)) die(2, "generate: %s %s: expected a number in [%g, %g]", flag, v, lo, hi);
    return x;
}

/* Stage 05's configuration from config.json (the fields it runs). */
static mamba_config config_from_hf(const hf_config *h, const char *path)
{
    if (fabs(h->layer_norm_epsilon - 1e-5) > 1e-12)
        die(2, "%s: layer_norm_epsilon %g: the CPU path runs 1e-5 only", path, h->layer_norm_epsilon);
    if (!h->use_conv_bias) die(2, "%s: use_conv_bias false is not supported by the CPU path", path);
    mamba_config c = {0};
    c.vocab = h->vocab_size;
    c.d_model = h->hidden_size;
    c.n_layer = h->num_hidden_layers;
    c.d_state = h->state_size;
    c.d_conv = h->conv_kernel;
    c.expand = h->expand;
    c.dt_rank = h->time_step_rank;
    c.kind = MAMBA_S6;
    mamba_config_finish(&c);
    return c;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *tok_path = NULL, *prompts_file = NULL;
    const char **prompt = xmalloc((size_t)argc * sizeof *prompt);
    int np = 0, no_eos = 0;
    gen_opts o = {.max_new = 64, .temperature = 1.0, .top_k = 0, .top_p = 1.0, .seed = 1, .eos = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--greedy") && strcmp(a, "--no-eos");
        if (takes && !v) die(2, "generate: %s needs a value", a);
        if (!strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--prompt")) prompt[np++] = v;
        else if (!strcmp(a, "--prompts")) prompts_file = v;
        else if (!strcmp(a, "--max-new")) o.max_new = (int)arg_num(a, v, 1, 1 << 20);
        else if (!strcmp(a, "--temperature")) o.temperature = arg_num(a, v, 0, 100);
        else if (!strcmp(a, "--top-k")) o.top_k = (int)arg_num(a, v, 0, 1 << 24);
        else if (!strcmp(a, "--top-p")) o.top_p = arg_num(a, v, 1e-9, 1);
        else if (!strcmp(a, "--seed")) o.seed = (uint64_t)arg_num(a, v, 0, 9007199254740992.0);
        else if (!strcmp(a, "--greedy")) o.temperature = 0;
        else if (!strcmp(a, "--no-eos")) no_eos = 1;
        else die(2, "generate: unknown argument %s (see the head of generate_main.c)", a);
        i += takes;
    }
    if (!dir) die(2, "generate: --model DIR is required (config.json + model.safetensors)");
    char cfg_path[4096], st_path[4096], tk_default[4096], err[512];
    path_join(cfg_path, sizeof cfg_path, dir, "config.json");
    path_join(st_path, sizeof st_path, dir, "model.safetensors");
    path_join(tk_default, sizeof tk_default, dir, "tokenizer.json");
    tokenizer *tk = tokenizer_load(tok_path ? tok_path : tk_default, err, sizeof err);
    if (!tk) die(2, "generate: %s", err);
    hf_config h;
    hf_config_read(cfg_path, &h);
    mamba_config c = config_from_hf(&h, cfg_path);
    if (tokenizer_vocab_size(tk) > c.vocab)
        die(2, "generate: %s has %d tokens, the model's vocab_size is %d", tok_path ? tok_path : tk_default,
            tokenizer_vocab_size(tk), c.vocab);
    mamba_model m;
    mamba_init(&m, &c, 0);
    mamba_load(&m, NULL, st_path, NULL, 0);   /* exits 2 naming file and tensor */
    o.eos = no_eos ? -1 : tokenizer_eos_id(tk);
    o.n_valid = tokenizer_vocab_size(tk);

    /* prompts: --prompt flags, then the lines of --prompts */
    char *file = NULL;
    if (prompts_file) {
        size_t len;
        file = corpus_read_file(prompts_file, &len, err, sizeof err);
        if (!file) die(2, "generate: %s", err);
        prompt = realloc(prompt, ((size_t)np + len + 1) * sizeof *prompt);
        for (char *s = file; *s;) {
            char *e = strchr(s, '\n');
            if (e) *e = 0;
            prompt[np++] = s;
            s = e ? e + 1 : s + strlen(s);
        }
    }
    if (np == 0) prompt[np++] = "";
    int32_t **ids = xmalloc((size_t)np * sizeof *ids);
    int *plen = xmalloc((size_t)np * sizeof *plen), *n_out = xmalloc((size_t)np * sizeof *n_out);
    for (int b = 0; b < np; b++) {
        tok_ids v = {0};
        if (tokenizer_encode(tk, prompt[b], strlen(prompt[b]), &v)) die(2, "generate: out of memory");
        ids[b] = v.ids;
        plen[b] = (int)v.n;
    }
    int32_t *out = xmalloc((size_t)np * o.max_new * sizeof *out);
    stream_ctx sc = {tk, o.eos};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (np == 1) fputs(prompt[0], stdout);
    gen_generate(&m, (const int32_t *const *)ids, plen, np, &o, out, n_out, np == 1 ? stream : NULL, &sc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long total = 0, fed = 0;
    for (int b = 0; b < np; b++) {
        total += n_out[b];
        fed = plen[b] + n_out[b] > fed ? plen[b] + n_out[b] : fed;
        if (np == 1) { putchar('\n'); continue; }
        tok_bytes text = {0};
        int n = n_out[b] - (n_out[b] && out[(size_t)b * o.max_new + n_out[b] - 1] == o.eos);
        tokenizer_decode(tk, out + (size_t)b * o.max_new, (size_t)n, 1, &text);
        printf("=== %d: %s%s\n", b, prompt[b], text.bytes ? text.bytes : "");
        tok_bytes_free(&text);
    }
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr, "generate: %d prompt(s), %ld tokens generated in %.2f s (%ld steps of batch %d: %.0f steps/s)\n",
            np, total, s, fed, np, (double)fed / s);
    for (int b = 0; b < np; b++) free(ids[b]);
    free(ids); free(plen); free(n_out); free(out); free(file); free(prompt);
    mamba_free(&m);
    tokenizer_free(tk);
    return 0;
}
