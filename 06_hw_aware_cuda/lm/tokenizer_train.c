/* 06_hw_aware_cuda/lm/tokenizer_train.c — learning a byte-level BPE vocabulary (§T.7) and
 * writing it as a tokenizer.json that Hugging Face `tokenizers` loads.
 *
 *   (T.7)  count the pre-tokens of the corpus (the same split as encoding, T.3);
 *          repeat: the most frequent adjacent pair (a, b) over all pre-tokens, weighted by
 *          their counts, becomes a new token ab and merge number r; every occurrence of
 *          a b is replaced, left to right; until the vocabulary has its size.
 *
 * Pair counts are kept up to date incrementally (a word containing the merged pair gives
 * back its pair counts before the merge and adds them after), and the best pair comes
 * from a max-heap whose stale entries are skipped on the way out. */
#define _GNU_SOURCE /* memmem */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EOT "<|endoftext|>"

/* ---------------------------------------------------------------- writing tokenizer.json */

static cJSON *added_token_json(int id, const char *content)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", id);
    cJSON_AddStringToObject(a, "content", content);
    cJSON_AddBoolToObject(a, "single_word", 0);
    cJSON_AddBoolToObject(a, "lstrip", 0);
    cJSON_AddBoolToObject(a, "rstrip", 0);
    cJSON_AddBoolToObject(a, "normalized", 0);
    cJSON_AddBoolToObject(a, "special", 1);
    return a;
}

static cJSON *byte_level_json(void)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "ByteLevel");
    cJSON_AddBoolToObject(b, "add_prefix_space", 0);
    cJSON_AddBoolToObject(b, "trim_offsets", 1);
    cJSON_AddBoolToObject(b, "use_regex", 1);
    return b;
}

int tokenizer_write_json(const char *path, char **vocab, int n_vocab, char **merge_a,
                         char **merge_b, int n_merges, int eos_id, char *err, size_t errcap)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    if (eos_id >= 0) cJSON_AddItemToArray(added, added_token_json(eos_id, vocab[eos_id]));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", byte_level_json());
    cJSON_AddItemToObject(root, "post_processor", byte_level_json());
    cJSON_AddItemToObject(root, "decoder", byte_level_json());
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *v = cJSON_AddObjectToObject(model, "vocab");
    for (int i = 0; i < n_vocab; i++) cJSON_AddNumberToObject(v, vocab[i], i);
    cJSON *m = cJSON_AddArrayToObject(model, "merges");
    tok_bytes line = {0};
    for (int i = 0; i < n_merges; i++) {
        line.n = 0;
        tok_bytes_append(&line, merge_a[i], strlen(merge_a[i]));
        tok_bytes_append(&line, " ", 1);
        tok_bytes_append(&line, merge_b[i], strlen(merge_b[i]));
        cJSON_AddItemToArray(m, cJSON_CreateString(line.bytes));
    }
    tok_bytes_free(&line);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) { snprintf(err, errcap, "%s: out of memory", path); return -1; }
    /* temp file + rename: never a half-written tokenizer.json */
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) { free(text); snprintf(err, errcap, "%s: out of memory", path); return -1; }
    snprintf(tmp, pl + 16, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(text, 1, strlen(text), f) == strlen(text) && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    if (ok && rename(tmp, path)) ok = 0;
    if (!ok) {
        snprintf(err, errcap, "%s: cannot write (%s)", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    free(text);
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- counting pre-tokens */

typedef struct { uint64_t h; int32_t word; } word_slot;   /* word −1 = empty */

typedef struct {
    tok_splitter *split;
    const char *text;
    word_slot *slot;
    size_t cap;
    int n_words;
    /* word w: bytes text-range [off[w], off[w]+len[w]) is its first occurrence */
    size_t *off;
    int32_t *len;
    int64_t *count;
    size_t wcap;
} word_counter;

static uint64_t hash_word(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h ^ (h >> 31);
}

static int count_word(const char *p, size_t n, void *ctx)
{
    word_counter *c = ctx;
    if ((size_t)c->n_words * 2 + 2 >= c->cap) {   /* rehash at half full */
        size_t ncap = c->cap ? c->cap * 2 : 1 << 16;
        word_slot *ns = malloc(ncap * sizeof *ns);
        if (!ns) return -1;
        for (size_t i = 0; i < ncap; i++) ns[i].word = -1;
        for (size_t i = 0; i < c->cap; i++) {
            if (c->slot[i].word < 0) continue;
            size_t j = c->slot[i].h & (ncap - 1);
            while (ns[j].word >= 0) j = (j + 1) & (ncap - 1);
            ns[j] = c->slot[i];
        }
        free(c->slot);
        c->slot = ns;
        c->cap = ncap;
    }
    uint64_t h = hash_word(p, n);
    size_t j = h & (c->cap - 1);
    for (;; j = (j + 1) & (c->cap - 1)) {
        word_slot *s = &c->slot[j];
        if (s->word < 0) break;
        if (s->h == h && (size_t)c->len[s->word] == n && memcmp(c->text + c->off[s->word], p, n) == 0) {
            c->count[s->word]++;
            return 0;
        }
    }
    if ((size_t)c->n_words == c->wcap) {
        size_t nc = c->wcap ? 2 * c->wcap : 1 << 15;
        size_t *o = realloc(c->off, nc * sizeof *o);
        if (o) c->off = o;
        int32_t *l = realloc(c->len, nc * sizeof *l);
        if (l) c->len = l;
        int64_t *k = realloc(c->count, nc * sizeof *k);
        if (k) c->count = k;
        if (!o || !l || !k) return -1;
        c->wcap = nc;
    }
    int w = c->n_words++;
    c->off[w] = (size_t)(p - c->text);
    c->len[w] = (int32_t)n;
    c->count[w] = 1;
    c->slot[j] = (word_slot){h, w};
    return 0;
}

/* ---------------------------------------------------------------- pair counts and heap */

typedef struct { uint64_t key; int64_t count; } pc_slot;   /* key 0 = empty */
typedef struct { pc_slot *slot; size_t cap, used; } pair_counts;
typedef struct { int64_t count; int32_t a, b; } cand;

static uint64_t pkey(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static pc_slot *pc_find(pair_counts *p, uint64_t key)
{
    uint64_t x = key * 0x9E3779B97F4A7C15ULL;
    size_t i = (x ^ (x >> 32)) & (p->cap - 1);
    while (p->slot[i].key && p->slot[i].key != key) i = (i + 1) & (p->cap - 1);
    return &p->slot[i];
}

static int pc_add(pair_counts *p, int32_t a, int32_t b, int64_t d)
{
    if (p->used * 2 >= p->cap) {
        pair_counts q = {calloc(p->cap * 2, sizeof(pc_slot)), p->cap * 2, 0};
        if (!q.slot) return -1;
        for (size_t i = 0; i < p->cap; i++)
            if (p->slot[i].key) { *pc_find(&q, p->slot[i].key) = p->slot[i]; q.used++; }
        free(p->slot);
        *p = q;
    }
    pc_slot *s = pc_find(p, pkey(a, b));
    if (!s->key) { s->key = pkey(a, b); p->used++; }
    s->count += d;
    return 0;
}

static int64_t pc_get(pair_counts *p, int32_t a, int32_t b)
{
    pc_slot *s = pc_find(p, pkey(a, b));
    return s->key ? s->count : 0;
}

/* max count first; ties: the smaller (a, b) — deterministic */
static int cand_before(const cand *x, const cand *y)
{
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

typedef struct { cand *h; size_t n, cap; } cand_heap;

static int cheap_push(cand_heap *q, cand c)
{
    if (q->n == q->cap) {
        size_t nc = q->cap ? 2 * q->cap : 1 << 16;
        cand *h = realloc(q->h, nc * sizeof *h);
        if (!h) return -1;
        q->h = h;
        q->cap = nc;
    }
    size_t i = q->n++;
    while (i && cand_before(&c, &q->h[(i - 1) / 2])) { q->h[i] = q->h[(i - 1) / 2]; i = (i - 1) / 2; }
    q->h[i] = c;
    return 0;
}

static cand cheap_pop(cand_heap *q)
{
    cand top = q->h[0], last = q->h[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && cand_before(&q->h[c + 1], &q->h[c])) c++;
        if (!cand_before(&q->h[c], &last)) break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (q->n) q->h[i] = last;
    return top;
}

/* ---------------------------------------------------------------- (T.7) training */

typedef struct { tok_splitter *split; word_counter *wc; } split_ctx;

static int split_cb(const char *p, size_t n, void *ctx)
{
    return count_word(p, n, ((split_ctx *)ctx)->wc);
}

/* token string in the byte-level alphabet for the bytes p[0..n) */
static char *byte_level_string(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = byte_level_char(p[i]);   /* < 0x800: one or two UTF-8 bytes */
        if (c < 0x80) *o++ = (char)c;
        else { *o++ = (char)(0xC0 | c >> 6); *o++ = (char)(0x80 | (c & 0x3F)); }
    }
    *o = 0;
    return s;
}

int tokenizer_train(const char *text, size_t len, int vocab_size, const char *out_path,
                    int verbose, char *err, size_t errcap)
{
    if (vocab_size < 257 || vocab_size > 65536) {
        snprintf(err, errcap, "vocabulary size %d: expected 257..65536 (256 bytes + merges + %s)", vocab_size, EOT);
        return -1;
    }
    int rc = -1;
    tok_bytes valid = {0};
    word_counter wc = {0};
    pair_counts pc = {0};
    cand_heap heap = {0};
    int32_t *sym = NULL;
    size_t *woff = NULL;
    int32_t *wlen = NULL;
    uint8_t **tok = NULL;   /* token bytes per id */
    size_t *tlen = NULL;
    char **vstr = NULL, **ma = NULL, **mb = NULL;
    int n_tok = 0, n_merge = 0;
    int target = vocab_size - 1;   /* the last id is <|endoftext|> */

    if (utf8_make_valid(text, len, &valid) < 0) goto oom;
    wc.split = tok_splitter_new(err, errcap);
    if (!wc.split) goto done;
    wc.text = valid.bytes ? valid.bytes : "";
    split_ctx sc = {wc.split, &wc};
    /* documents separated by <|endoftext|> are split apart; the marker is not learnt */
    const char *s = wc.text, *end = wc.text + valid.n;
    while (s < end) {
        const char *e = memmem(s, (size_t)(end - s), EOT, strlen(EOT));
        const char *stop = e ? e : end;
        if (tok_split(wc.split, s, (size_t)(stop - s), split_cb, &sc)) goto oom;
        s = e ? e + strlen(EOT) : end;
    }
    /* symbols of every distinct word, bytes → ids 0..255 */
    size_t total = 0;
    for (int w = 0; w < wc.n_words; w++) total += (size_t)wc.len[w];
    sym = malloc((total ? total : 1) * sizeof *sym);
    woff = malloc(((size_t)wc.n_words + 1) * sizeof *woff);
    wlen = malloc(((size_t)wc.n_words + 1) * sizeof *wlen);
    tok = calloc((size_t)vocab_size, sizeof *tok);
    tlen = calloc((size_t)vocab_size, sizeof *tlen);
    ma = calloc((size_t)vocab_size * 2, sizeof *ma);
    mb = calloc((size_t)vocab_size * 2, sizeof *mb);
    pc.cap = 1 << 16;
    pc.slot = calloc(pc.cap, sizeof *pc.slot);
    if (!sym || !woff || !wlen || !tok || !tlen || !ma || !mb || !pc.slot) goto oom;
    size_t at = 0;
    for (int w = 0; w < wc.n_words; w++) {
        woff[w] = at;
        wlen[w] = wc.len[w];
        for (int i = 0; i < wc.len[w]; i++) sym[at + (size_t)i] = (uint8_t)wc.text[wc.off[w] + (size_t)i];
        for (int i = 0; i + 1 < wc.len[w]; i++)
            if (pc_add(&pc, sym[at + (size_t)i], sym[at + (size_t)i + 1], wc.count[w])) goto oom;
        at += (size_t)wc.len[w];
    }
    for (int b = 0; b < 256; b++) {
        tok[b] = malloc(1);
        if (!tok[b]) goto oom;
        tok[b][0] = (uint8_t)b;
        tlen[b] = 1;
    }
    n_tok = 256;
    for (size_t i = 0; i < pc.cap; i++)
        if (pc.slot[i].key && pc.slot[i].count > 0) {
            uint64_t k = pc.slot[i].key - 1;
            if (cheap_push(&heap, (cand){pc.slot[i].count, (int32_t)(k >> 32), (int32_t)(k & 0xFFFFFFFF)})) goto oom;
        }

    while (n_tok < target && heap.n && n_merge < 2 * vocab_size) {
        cand c = cheap_pop(&heap);
        int64_t now = pc_get(&pc, c.a, c.b);
        if (now != c.count) {   /* stale: requeue with the current count */
            if (now > 0 && cheap_push(&heap, (cand){now, c.a, c.b})) goto oom;
            continue;
        }
        if (c.count < 2) break;   /* a pair seen once teaches nothing */
        /* the new token's bytes; an existing token with the same bytes is reused */
        size_t nl = tlen[c.a] + tlen[c.b];
        uint8_t *nb = malloc(nl);
        if (!nb) goto oom;
        memcpy(nb, tok[c.a], tlen[c.a]);
        memcpy(nb + tlen[c.a], tok[c.b], tlen[c.b]);
        int32_t id = -1;
        for (int k = 256; k < n_tok && id < 0; k++)
            if (tlen[k] == nl && memcmp(tok[k], nb, nl) == 0) id = k;
        if (id < 0) { id = n_tok++; tok[id] = nb; tlen[id] = nl; }
        else free(nb);
        ma[n_merge] = byte_level_string(tok[c.a], tlen[c.a]);
        mb[n_merge] = byte_level_string(tok[c.b], tlen[c.b]);
        if (!ma[n_merge] || !mb[n_merge]) goto oom;
        n_merge++;
        /* replace a b by id in every word that holds the pair */
        for (int w = 0; w < wc.n_words; w++) {
            int32_t *x = sym + woff[w];
            int n = wlen[w], has = 0;
            for (int i = 0; i + 1 < n && !has; i++) has = x[i] == c.a && x[i + 1] == c.b;
            if (!has) continue;
            int64_t k = wc.count[w];
            for (int i = 0; i + 1 < n; i++)
                if (pc_add(&pc, x[i], x[i + 1], -k)) goto oom;
            int o = 0;
            for (int i = 0; i < n; i++) {
                if (i + 1 < n && x[i] == c.a && x[i + 1] == c.b) { x[o++] = id; i++; }
                else x[o++] = x[i];
            }
            wlen[w] = o;
            for (int i = 0; i + 1 < o; i++) {
                if (pc_add(&pc, x[i], x[i + 1], k)) goto oom;
                if ((x[i] == id || x[i + 1] == id) &&
                    cheap_push(&heap, (cand){pc_get(&pc, x[i], x[i + 1]), x[i], x[i + 1]}))
                    goto oom;
            }
        }
        if (verbose && n_merge % 500 == 0)
            fprintf(stderr, "train: %d merges, vocabulary %d, last pair count %lld\n", n_merge, n_tok, (long long)c.count);
    }
    /* vocabulary strings: ids 0..n_tok−1, then <|endoftext|> */
    vstr = calloc((size_t)n_tok + 1, sizeof *vstr);
    if (!vstr) goto oom;
    for (int k = 0; k < n_tok; k++)
        if (!(vstr[k] = byte_level_string(tok[k], tlen[k]))) goto oom;
    vstr[n_tok] = strdup(EOT);
    if (!vstr[n_tok]) goto oom;
    if (verbose)
        fprintf(stderr, "train: %d distinct pre-tokens, %d merges, vocabulary %d (+ %s)\n",
                wc.n_words, n_merge, n_tok, EOT);
    rc = tokenizer_write_json(out_path, vstr, n_tok + 1, ma, mb, n_merge, n_tok, err, errcap);
    goto done;
oom:
    snprintf(err, errcap, "train: out of memory");
done:
    tok_bytes_free(&valid);
    tok_splitter_free(wc.split);
    free(wc.slot); free(wc.off); free(wc.len); free(wc.count);
    free(pc.slot);
    free(heap.h);
    free(sym); free(woff); free(wlen);
    if (tok) for (int k = 0; k < vocab_size; k++) free(tok[k]);
    free(tok); free(tlen);
    if (vstr) for (int k = 0; k <= n_tok; k++) free(vstr[k]);
    free(vstr);
    if (ma) for (int k = 0; k < n_merge; k++) { free(ma[k]); free(mb[k]); }
    free(ma); free(mb);
    return rc;
}
