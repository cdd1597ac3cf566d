/* 06_hw_aware_cuda/lm/generate_main.c — `generate`: prompt text in, text out, on the GPU
 * (prefill + the graph-captured step of generate_gpu.c) or on the CPU through stage 05's
 * recurrent step (chapter 6, part 3, §G).
 *
 *   generate --model DIR [--tokenizer FILE] [--prompt TEXT]... [--prompts FILE]
 *            [--max-new N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
 *            [--greedy] [--no-eos] [--vocab-all] [--device auto|cpu|gpu] [--dtype fp32|bf16] [--ids-out FILE]
 *   generate --bench CONFIG [--batches 1,8,64] [--steps S] [--prefill-len L] [--positions N]
 *            [--bench-out CSV] [--positions-out CSV]      decode benchmark (random weights, GPU)
 *   generate --self-check CONFIG [--batch B] [--len L]    the GPU step (all versions, or --step's) against the
 *                                                         parallel forward
 *   generate --sample-check V                              the GPU sampler against gen_sample's distribution
 *                                                         over V random logits
 * --step 1|2|3 (GPU): the step's version (generate_gpu.h); by default 3 (one persistent kernel, the
 * fastest at batch 1 on the H200) for one prompt where the shape and the GPU allow it, else 1.
 *
 * --device auto: the GPU when there is one (and the build has CUDA), else the CPU. --dtype
 * bf16 (GPU): the weight matrices read as bfloat16. --ids-out: the generated ids, one line
 * per prompt (the equality test against transformers reads them). --vocab-all: choose among
 * all the model's ids, as transformers does, also the padding rows past the tokenizer's
 * vocabulary (they print as nothing); by default only ids the tokenizer has are drawn.
 * DIR holds config.json and model.safetensors as transformers writes them (fp32; the names
 * of MambaForCausalLM) and, unless --tokenizer names one, tokenizer.json. One prompt: the
 * text streams as it is produced. Several (repeat --prompt, or one per line of --prompts):
 * one batch, each completion printed after the run. Bad input: exit 2, one line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "06_hw_aware_cuda/lm/checkpoint.h"
#include "06_hw_aware_cuda/lm/corpus.h"
#ifdef HAVE_CUDA
#include "06_hw_aware_cuda/lm/generate_gpu.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"
#endif
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
static mamba_config config_from_hf(const hf_config *h, const char *path, int gpu)
{
    if (!gpu && fabs(h->layer_norm_epsilon - 1e-5) > 1e-12)
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
    const char *dir = NULL, *tok_path = NULL, *prompts_file = NULL, *device = "auto", *dtype = "fp32";
    const char *ids_out = NULL, *bench = NULL, *bench_out = NULL, *pos_out = NULL, *selfcheck = NULL;
    const char *batches = "1,8,64";
    int steps = 512, prefill_len = 2048, positions = 0, sc_batch = 3, sc_len = 40, version = 0;
    const char **prompt = xmalloc((size_t)argc * sizeof *prompt);
    int np = 0, no_eos = 0, vocab_all = 0, step_given = 0, sample_check = 0;
    gen_opts o = {.max_new = 64, .temperature = 1.0, .top_k = 0, .top_p = 1.0, .seed = 1, .eos = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--greedy") && strcmp(a, "--no-eos") && strcmp(a, "--vocab-all");
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
        else if (!strcmp(a, "--vocab-all")) vocab_all = 1;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--dtype")) dtype = v;
        else if (!strcmp(a, "--ids-out")) ids_out = v;
        else if (!strcmp(a, "--bench")) bench = v;
        else if (!strcmp(a, "--bench-out")) bench_out = v;
        else if (!strcmp(a, "--positions-out")) pos_out = v;
        else if (!strcmp(a, "--batches")) batches = v;
        else if (!strcmp(a, "--steps")) steps = (int)arg_num(a, v, 1, 1 << 24);
        else if (!strcmp(a, "--prefill-len")) prefill_len = (int)arg_num(a, v, 0, 1 << 20);
        else if (!strcmp(a, "--positions")) positions = (int)arg_num(a, v, 0, 1 << 24);
        else if (!strcmp(a, "--self-check")) selfcheck = v;
        else if (!strcmp(a, "--sample-check")) sample_check = (int)arg_num(a, v, 16, 1 << 22);
        else if (!strcmp(a, "--step")) version = (int)arg_num(a, v, 1, 3), step_given = 1;
        else if (!strcmp(a, "--batch")) sc_batch = (int)arg_num(a, v, 1, 4096);
        else if (!strcmp(a, "--len")) sc_len = (int)arg_num(a, v, 2, 1 << 16);
        else die(2, "generate: unknown argument %s (see the head of generate_main.c)", a);
        i += takes;
    }
    if (strcmp(device, "auto") && strcmp(device, "cpu") && strcmp(device, "gpu"))
        die(2, "generate: --device %s: expected auto, cpu or gpu", device);
    if (strcmp(dtype, "fp32") && strcmp(dtype, "bf16")) die(2, "generate: --dtype %s: expected fp32 or bf16", dtype);
    const int bf16 = !strcmp(dtype, "bf16");
    int gpu = 0;
#ifdef HAVE_CUDA
    char why[256] = "";
    const int have_gpu = strcmp(device, "cpu") && scan_gpu_available(why, sizeof why);
    if (!strcmp(device, "gpu") && !have_gpu) die(2, "generate: --device gpu: no usable GPU: %s", why);
    gpu = have_gpu;
#else
    if (!strcmp(device, "gpu") || bench || selfcheck || sample_check)
        die(2, "generate: built without CUDA: the GPU path cannot run here (use --device cpu)");
    (void)steps; (void)prefill_len; (void)positions; (void)sc_batch; (void)sc_len; (void)version; (void)step_given;   /* GPU flags */
    (void)bench_out; (void)pos_out; (void)batches; (void)sample_check;
#endif
    if ((bench || selfcheck || sample_check) && !gpu) die(2, "generate: --bench, --self-check and --sample-check need a GPU");
    if (bf16 && !gpu) die(2, "generate: --dtype bf16 is the GPU path's; the CPU runs float32");
#ifdef HAVE_CUDA
    if (sample_check) return gpu_sample_check(sample_check);
    if (selfcheck) {
        int rc = 0;
        for (int ver = step_given ? version : 1; ver <= (step_given ? version : 3); ver++)   /* all, or --step's */
            for (int b16 = 0; b16 <= 1; b16++) rc |= gpu_decode_selfcheck(selfcheck, sc_batch, sc_len, b16, ver);
        return rc;
    }
    if (bench) {
        int bs[16], nb = 0;
        for (const char *q = batches; *q && nb < 16;) {
            char *end;
            long x = strtol(q, &end, 10);
            if (end == q || x < 1 || x > 4096) die(2, "generate: --batches %s: expected numbers 1..4096, comma-separated", batches);
            bs[nb++] = (int)x;
            q = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') die(2, "generate: --batches %s: expected numbers 1..4096, comma-separated", batches);
        }
        return gpu_decode_bench(bench, bs, nb, steps, prefill_len, positions, bench_out, pos_out, version);
    }
#endif
    if (!dir) die(2, "generate: --model DIR is required (config.json + model.safetensors)");
    char cfg_path[4096], st_path[4096], tk_default[4096], err[512];
    path_join(cfg_path, sizeof cfg_path, dir, "config.json");
    path_join(st_path, sizeof st_path, dir, "model.safetensors");
    path_join(tk_default, sizeof tk_default, dir, "tokenizer.json");
    tokenizer *tk = tokenizer_load(tok_path ? tok_path : tk_default, err, sizeof err);
    if (!tk) die(2, "generate: %s", err);
    hf_config h;
    hf_config_read(cfg_path, &h);
    mamba_config c = config_from_hf(&h, cfg_path, gpu);
    if (tokenizer_vocab_size(tk) > c.vocab)
        die(2, "generate: %s has %d tokens, the model's vocab_size is %d", tok_path ? tok_path : tk_default,
            tokenizer_vocab_size(tk), c.vocab);
    mamba_model m = {0};
    if (!gpu) {   /* the checkpoint as transformers writes it (float32, fp16 or bf16; HF names) */
        mamba_init(&m, &c, 0);
        float *w = xmalloc(m.n_params * sizeof *w);
        lm_checkpoint_read(dir, &m, w, NULL, NULL, NULL);   /* exits 2 naming file and tensor */
        for (size_t i = 0; i < m.n_params; i++) m.params[i] = (real)w[i];
        free(w);
    }
    o.eos = no_eos ? -1 : tokenizer_eos_id(tk);
    o.n_valid = vocab_all ? 0 : tokenizer_vocab_size(tk);

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
#ifdef HAVE_CUDA
    if (gpu) {
        lm_model lm;
        lm_build(&lm, &h, 0);
        lm_load_checkpoint(&lm, dir, 0);   /* exits 2 naming file and tensor */
        gpu_decoder d;
        gpu_decoder_init_v(&d, &lm, np, bf16, o.n_valid, 1, version);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        gpu_generate(&d, (const int32_t *const *)ids, plen, &o, out, n_out, np == 1 ? stream : NULL, &sc);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        gpu_decoder_free(&d);
        lm_free(&lm);
    } else
#endif
        gen_generate(&m, (const int32_t *const *)ids, plen, np, &o, out, n_out, np == 1 ? stream : NULL, &sc);
    if (!gpu) clock_gettime(CLOCK_MONOTONIC, &t1);
    long total = 0, fed = 0;
    if (ids_out) {
        FILE *f = fopen(ids_out, "w");
        if (!f) die(2, "generate: %s: cannot open for writing", ids_out);
        for (int b = 0; b < np; b++) {
            for (int i = 0; i < n_out[b]; i++) fprintf(f, i ? " %d" : "%d", out[(size_t)b * o.max_new + i]);
            fputc('\n', f);
        }
        fclose(f);
    }
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
    fprintf(stderr, "generate (%s%s): %d prompt(s), %ld tokens generated in %.2f s (%ld steps of batch %d: %.0f steps/s)\n",
            gpu ? "GPU" : "CPU", gpu ? (bf16 ? ", bf16 weights" : ", fp32") : "", np, total, s, fed, np, (double)fed / s);
    for (int b = 0; b < np; b++) free(ids[b]);
    free(ids); free(plen); free(n_out); free(out); free(file); free(prompt);
    if (!gpu) mamba_free(&m);
    tokenizer_free(tk);
    return 0;
}
