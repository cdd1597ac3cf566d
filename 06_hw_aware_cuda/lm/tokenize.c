/* 06_hw_aware_cuda/lm/tokenize.c — the tokenizer's command line (chapter 6, part 3).
 *
 *   tokenize encode TOKENIZER.json [FILE|-] [--nul]    ids, space-separated; with --nul the
 *                                                      input is NUL-separated texts, one
 *                                                      line of ids each
 *   tokenize decode TOKENIZER.json [FILE|-] [--nul]    ids (whitespace-separated) → text;
 *                                                      with --nul each input line is one
 *                                                      text, written NUL-terminated
 *   tokenize train --vocab N CORPUS OUT.json           learn a byte-level BPE (§T.7)
 *   tokenize convert-gpt2 ENCODER.json VOCAB.bpe OUT.json   GPT-2's files → tokenizer.json
 *   tokenize split-fortunes TRAIN.txt VAL.txt FILE...  the corpus split (corpus.h)
 *   tokenize tokens TOKENIZER.json TEXT OUT.bin        text → uint16 token file (llm.c)
 *   tokenize bench TOKENIZER.json FILE [SECONDS]       encode and decode tokens/s, one thread
 *
 * Bad input (a file, a tokenizer, an id): exit 2 with one line naming it. */
#include "corpus.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tokenize: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void usage(void)
{
    die("usage: tokenize encode|decode|train|convert-gpt2|split-fortunes|tokens|bench ... "
        "(see the head of tokenize.c)");
}

static char *read_input(const char *path, size_t *len)
{
    char err[512];
    if (strcmp(path, "-") == 0) {
        tok_bytes b = {0};
        char chunk[1 << 16];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            if (tok_bytes_append(&b, chunk, n)) die("stdin: out of memory");
        if (!b.bytes && tok_bytes_append(&b, "", 0)) die("stdin: out of memory");
        *len = b.n;
        return b.bytes;
    }
    char *p = corpus_read_file(path, len, err, sizeof err);
    if (!p) die("%s", err);
    return p;
}

static tokenizer *load(const char *path)
{
    char err[512];
    tokenizer *t = tokenizer_load(path, err, sizeof err);
    if (!t) die("%s", err);
    return t;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_ids(const tok_ids *v)
{
    for (size_t i = 0; i < v->n; i++) printf(i ? " %d" : "%d", v->ids[i]);
    putchar('\n');
}

/* encode/decode arguments: TOKENIZER.json [FILE|-] [--nul]; both loaded. */
typedef struct { tokenizer *t; const char *in; int nul; char *text; size_t len; } io_t;

static io_t io_args(int argc, char **argv)
{
    const char *tok = NULL;
    io_t io = {.in = "-"};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--nul") == 0) io.nul = 1;
        else if (!tok) tok = argv[i];
        else io.in = argv[i];
    }
    if (!tok) usage();
    io.t = load(tok);
    io.text = read_input(io.in, &io.len);
    return io;
}

static int cmd_encode(int argc, char **argv)
{
    io_t io = io_args(argc, argv);
    tok_ids ids = {0};
    size_t start = 0;
    for (size_t i = 0; i <= io.len; i++) {
        if (i < io.len && !(io.nul && io.text[i] == 0)) continue;
        ids.n = 0;
        if (tokenizer_encode(io.t, io.text + start, i - start, &ids)) die("%s: out of memory", io.in);
        print_ids(&ids);
        start = i + 1;
        if (!io.nul) break;
        if (i + 1 == io.len) break;   /* a trailing NUL ends the last text */
    }
    tok_ids_free(&ids);
    free(io.text);
    tokenizer_free(io.t);
    return 0;
}

/* Parse whitespace-separated ids of s[0..n); every id must be in 0..V−1. */
static void parse_ids(const char *s, size_t n, int V, const char *name, long line, tok_ids *out)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        if (i == n) break;
        long v = 0;
        size_t j = i;
        while (j < n && s[j] >= '0' && s[j] <= '9' && v <= 1L << 31) v = 10 * v + (s[j++] - '0');
        if (j == i || (j < n && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r')) {
            size_t e = i;
            while (e < n && e - i < 20 && s[e] != ' ' && s[e] != '\t' && s[e] != '\n' && s[e] != '\r') e++;
            die("%s:%ld: \"%.*s\" is not a token id", name, line, (int)(e - i), s + i);
        }
        if (v >= V) die("%s:%ld: id %ld outside the vocabulary (0..%d)", name, line, v, V - 1);
        if (tok_ids_push(out, (int32_t)v)) die("%s: out of memory", name);
        i = j;
    }
}

static int cmd_decode(int argc, char **argv)
{
    io_t io = io_args(argc, argv);
    tok_ids ids = {0};
    tok_bytes out = {0};
    long line = 1;
    size_t start = 0;
    for (size_t i = 0; i <= io.len; i++) {
        if (i < io.len && !(io.nul && io.text[i] == '\n')) continue;
        ids.n = 0;
        out.n = 0;
        parse_ids(io.text + start, i - start, tokenizer_vocab_size(io.t), io.in, line++, &ids);
        if (tokenizer_decode(io.t, ids.ids, ids.n, 0, &out) < 0) die("%s: out of memory", io.in);
        fwrite(out.bytes ? out.bytes : "", 1, out.n, stdout);
        if (io.nul) putchar(0);
        start = i + 1;
        if (!io.nul || i + 1 >= io.len) break;
    }
    tok_ids_free(&ids);
    tok_bytes_free(&out);
    free(io.text);
    tokenizer_free(io.t);
    return 0;
}

static int cmd_train(int argc, char **argv)
{
    long vocab = 0;
    const char *in = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc) {
            char *end;
            vocab = strtol(argv[++i], &end, 10);
            if (*end || vocab < 257 || vocab > 65536) die("--vocab %s: expected an integer in 257..65536", argv[i]);
        } else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else usage();
    }
    if (!vocab || !in || !out) usage();
    size_t len;
    char *text = read_input(in, &len), err[512];
    double t0 = now_s();
    if (tokenizer_train(text, len, (int)vocab, out, 1, err, sizeof err)) die("%s", err);
    fprintf(stderr, "train: %s (%zu bytes) → %s in %.1f s\n", in, len, out, now_s() - t0);
    free(text);
    return 0;
}

/* GPT-2's encoder.json (token → id) and vocab.bpe (a "#version" line, then one merge
 * "a b" per line, rank order) → tokenizer.json. */
static int cmd_convert_gpt2(int argc, char **argv)
{
    if (argc != 3) usage();
    size_t len, blen;
    char *js = read_input(argv[0], &len), *bpe = read_input(argv[1], &blen), err[512];
    cJSON *enc = cJSON_ParseWithLength(js, len);
    if (!cJSON_IsObject(enc)) die("%s: not a JSON object", argv[0]);
    int n = cJSON_GetArraySize(enc);
    char **vocab = calloc((size_t)n, sizeof *vocab);
    if (!vocab) die("out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, enc) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= n ||
            it->valuedouble != (int)it->valuedouble || vocab[(int)it->valuedouble])
            die("%s: \"%.40s\": id not a distinct integer in 0..%d", argv[0], it->string, n - 1);
        vocab[(int)it->valuedouble] = it->string;
    }
    int eos = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(vocab[i], "<|endoftext|>") == 0) eos = i;
    int cap = 1024, nm = 0;
    char **ma = malloc((size_t)cap * sizeof *ma), **mb = malloc((size_t)cap * sizeof *mb);
    long line = 0;
    for (char *s = bpe, *e; s < bpe + blen; s = e + 1) {
        e = memchr(s, '\n', (size_t)(bpe + blen - s));
        if (!e) e = bpe + blen;
        *e = 0;
        line++;
        if (e > s && e[-1] == '\r') e[-1] = 0;
        if (!*s || (line == 1 && s[0] == '#')) continue;
        char *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ')) die("%s:%ld: expected two tokens separated by one space", argv[1], line);
        *sp = 0;
        if (nm == cap) {
            cap *= 2;
            ma = realloc(ma, (size_t)cap * sizeof *ma);
            mb = realloc(mb, (size_t)cap * sizeof *mb);
            if (!ma || !mb) die("out of memory");
        }
        ma[nm] = s;
        mb[nm++] = sp + 1;
    }
    if (tokenizer_write_json(argv[2], vocab, n, ma, mb, nm, eos, err, sizeof err)) die("%s", err);
    /* what we wrote must load: the same checks as every reader */
    tokenizer_free(load(argv[2]));
    fprintf(stderr, "convert-gpt2: %d tokens, %d merges, <|endoftext|> = %d → %s\n", n, nm, eos, argv[2]);
    free(ma); free(mb); free(vocab);
    cJSON_Delete(enc);
    free(js); free(bpe);
    return 0;
}

static int cmd_split(int argc, char **argv)
{
    if (argc < 3) usage();
    char err[512];
    long n_val;
    long k = corpus_split_fortunes(argv + 2, argc - 2, argv[0], argv[1], &n_val, err, sizeof err);
    if (k < 0) die("%s", err);
    fprintf(stderr, "split-fortunes: %d files, %ld documents: %ld train → %s, %ld validation → %s\n",
            argc - 2, k, k - n_val, argv[0], n_val, argv[1]);
    return 0;
}

static int cmd_tokens(int argc, char **argv)
{
    if (argc != 3) usage();
    tokenizer *t = load(argv[0]);
    if (tokenizer_vocab_size(t) > 65536) die("%s: %d tokens do not fit uint16", argv[0], tokenizer_vocab_size(t));
    size_t len;
    char *text = read_input(argv[1], &len), err[512];
    tok_ids ids = {0};
    if (tokenizer_encode(t, text, len, &ids)) die("%s: out of memory", argv[1]);
    uint16_t *u = malloc((ids.n ? ids.n : 1) * sizeof *u);
    if (!u) die("out of memory");
    for (size_t i = 0; i < ids.n; i++) u[i] = (uint16_t)ids.ids[i];
    if (corpus_write_tokens(argv[2], u, ids.n, err, sizeof err)) die("%s", err);
    fprintf(stderr, "tokens: %s: %zu bytes → %zu tokens (%.2f bytes/token) → %s\n", argv[1], len, ids.n,
            ids.n ? (double)len / (double)ids.n : 0.0, argv[2]);
    free(u);
    tok_ids_free(&ids);
    free(text);
    tokenizer_free(t);
    return 0;
}

/* Encode and decode the whole file repeatedly for at least `seconds`, one thread. */
static int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || argc > 3) usage();
    double seconds = argc == 3 ? atof(argv[2]) : 2.0;
    tokenizer *t = load(argv[0]);
    size_t len;
    char *text = read_input(argv[1], &len);
    tok_ids ids = {0};
    tok_bytes out = {0};
    double t0 = now_s(), te;
    long reps = 0;
    do {
        ids.n = 0;
        if (tokenizer_encode(t, text, len, &ids)) die("out of memory");
        reps++;
    } while ((te = now_s() - t0) < seconds);
    long dreps = 0;
    double t1 = now_s(), td;
    do {
        out.n = 0;
        if (tokenizer_decode(t, ids.ids, ids.n, 0, &out) < 0) die("out of memory");
        dreps++;
    } while ((td = now_s() - t1) < seconds);
    printf("file\tbytes\ttokens\tencode_tok_per_s\tencode_MB_per_s\tdecode_tok_per_s\n");
    printf("%s\t%zu\t%zu\t%.0f\t%.2f\t%.0f\n", argv[1], len, ids.n, (double)ids.n * (double)reps / te,
           (double)len * (double)reps / te / 1e6, (double)ids.n * (double)dreps / td);
    tok_ids_free(&ids);
    tok_bytes_free(&out);
    free(text);
    tokenizer_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    const char *c = argv[1];
    if (strcmp(c, "encode") == 0) return cmd_encode(argc - 2, argv + 2);
    if (strcmp(c, "decode") == 0) return cmd_decode(argc - 2, argv + 2);
    if (strcmp(c, "train") == 0) return cmd_train(argc - 2, argv + 2);
    if (strcmp(c, "convert-gpt2") == 0) return cmd_convert_gpt2(argc - 2, argv + 2);
    if (strcmp(c, "split-fortunes") == 0) return cmd_split(argc - 2, argv + 2);
    if (strcmp(c, "tokens") == 0) return cmd_tokens(argc - 2, argv + 2);
    if (strcmp(c, "bench") == 0) return cmd_bench(argc - 2, argv + 2);
    usage();
    return 2;
}
