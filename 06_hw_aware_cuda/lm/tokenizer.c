/* 06_hw_aware_cuda/lm/tokenizer.c — byte-level BPE from tokenizer.json (see tokenizer.h).
 * Chapter 6, part 3, §T: equations (T.1)–(T.6). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- growable buffers */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

int tok_ids_push(tok_ids *v, int32_t id)
{
    if (grow((void **)&v->ids, &v->cap, v->n + 1, sizeof *v->ids)) return -1;
    v->ids[v->n++] = id;
    return 0;
}

int tok_bytes_append(tok_bytes *b, const void *p, size_t n)
{
    if (grow((void **)&b->bytes, &b->cap, b->n + n + 1, 1)) return -1;
    if (n) memcpy(b->bytes + b->n, p, n);
    b->n += n;
    b->bytes[b->n] = 0;   /* always NUL-terminated for convenience */
    return 0;
}

void tok_ids_free(tok_ids *v) { free(v->ids); *v = (tok_ids){0}; }
void tok_bytes_free(tok_bytes *b) { free(b->bytes); *b = (tok_bytes){0}; }

/* ---------------------------------------------------------------- (T.1) UTF-8 repair */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid; *bad is then the
 * length of the maximal subpart to replace by one U+FFFD (Unicode §3.9, as Rust's
 * from_utf8_lossy and Python's errors="replace"). */
static int utf8_seq(const uint8_t *s, size_t n, int *bad)
{
    uint8_t b = s[0];
    int need;
    uint8_t lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b == 0xE0) { need = 2; lo = 0xA0; }
    else if (b >= 0xE1 && b <= 0xEC) need = 2;
    else if (b == 0xED) { need = 2; hi = 0x9F; }        /* no surrogates */
    else if (b >= 0xEE && b <= 0xEF) need = 2;
    else if (b == 0xF0) { need = 3; lo = 0x90; }
    else if (b >= 0xF1 && b <= 0xF3) need = 3;
    else if (b == 0xF4) { need = 3; hi = 0x8F; }        /* ≤ U+10FFFF */
    else { *bad = 1; return 0; }
    for (int k = 1; k <= need; k++) {
        uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if ((size_t)k >= n || s[k] < l || s[k] > h) { *bad = k; return 0; }
    }
    return need + 1;
}

long utf8_make_valid(const char *text, size_t len, tok_bytes *out)
{
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    const uint8_t *s = (const uint8_t *)text;
    long repl = 0;
    size_t i = 0, run = 0;   /* run: start of the current valid stretch */
    while (i < len) {
        int bad = 0, k = utf8_seq(s + i, len - i, &bad);
        if (k) { i += (size_t)k; continue; }
        if (tok_bytes_append(out, text + run, i - run) || tok_bytes_append(out, fffd, 3)) return -1;
        repl++;
        i += (size_t)bad;
        run = i;
    }
    if (tok_bytes_append(out, text + run, len - run)) return -1;
    return repl;
}

/* Decode the code point at s (valid UTF-8 assumed); returns its length. */
static int utf8_decode(const uint8_t *s, uint32_t *cp)
{
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if (s[0] < 0xE0) { *cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F); return 2; }
    if (s[0] < 0xF0) {
        *cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
          (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    return 4;
}

static int utf8_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Unicode White_Space (what Rust's char::is_whitespace and the regex's \s mean). */
static int is_white(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* ---------------------------------------------------------------- (T.4) byte ↔ char */

uint32_t byte_level_char(uint8_t b)
{
    /* printable: '!'..'~', '¡'..'¬', '®'..'ÿ' keep their code point; the other 68 bytes
     * get 256, 257, … in byte order, so every byte becomes a visible character. */
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    uint32_t k = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) k++;
    return 256 + k;
}

/* ---------------------------------------------------------------- hash maps */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* token string → id */
typedef struct { const char *key; size_t len; int32_t id; } str_slot;
typedef struct { str_slot *slot; size_t cap, n; } str_map;

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

static int str_map_init(str_map *m, size_t n)
{
    m->cap = pow2_at_least(2 * n + 16);
    m->n = 0;
    m->slot = calloc(m->cap, sizeof *m->slot);
    return m->slot ? 0 : -1;
}

static str_slot *str_map_find(const str_map *m, const char *k, size_t len)
{
    size_t i = hash_bytes(k, len) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        str_slot *s = &m->slot[i];
        if (!s->key || (s->len == len && memcmp(s->key, k, len) == 0)) return s;
    }
}

/* merge (left id, right id) → (rank, merged id) */
typedef struct { uint64_t key; int32_t rank, id; } pair_slot;   /* key 0 = empty */
typedef struct { pair_slot *slot; size_t cap; } pair_map;

static uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;   /* +1: never 0 */
}

static pair_slot *pair_map_find(const pair_map *m, uint64_t key)
{
    size_t i = hash_u64(key) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1))
        if (m->slot[i].key == key || m->slot[i].key == 0) return &m->slot[i];
}

/* ---------------------------------------------------------------- the tokenizer */

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int special, lstrip, rstrip, single_word, normalized;
} added_token;

/* A set of added tokens matched together, indexed by first byte (T.2). */
typedef struct {
    int n;
    added_token **tok;        /* sorted by length, longest first */
    int first[257];           /* tok[first[b] .. first[b+1]) start with byte b, after sorting */
} added_set;

struct tok_splitter {
    pcre2_code *re;
    pcre2_match_data *md;
};

/* BPE result cache for frequent words: direct-mapped (speed only, never changes results). */
#define CACHE_SLOTS 16384
#define CACHE_WORD 24
#define CACHE_IDS 12
typedef struct {
    uint64_t h;
    uint8_t len, nids;
    char word[CACHE_WORD];
    int32_t ids[CACHE_IDS];
} cache_slot;

struct tokenizer {
    int vocab_size;
    str_map vocab;            /* model.vocab and added tokens: string → id */
    char *arena;              /* token strings and decoded token bytes */
    pair_map merges;
    int32_t byte_id[256];     /* id of each byte's symbol */
    char **tok_bytes;         /* per id: decoded bytes (T.6), NULL if unused id */
    size_t *tok_len;
    uint8_t *is_special;
    int n_added;
    added_token *added;
    added_set set_raw, set_norm;   /* normalized = false / true */
    int add_prefix_space, use_regex, ignore_merges, nfc;
    int eos;
    tok_splitter *split;
    cache_slot *cache;
    /* scratch for BPE */
    int32_t *sym_c, *sym_prev, *sym_next;
    uint8_t *sym_dead;
    size_t sym_cap;
    struct merge_item { int32_t rank, pos, id; } *heap;
    size_t heap_cap;
    tok_bytes tmp, word;
};

int tokenizer_vocab_size(const tokenizer *t) { return t->vocab_size; }
int tokenizer_eos_id(const tokenizer *t) { return t->eos; }

int tokenizer_token_id(const tokenizer *t, const char *token)
{
    str_slot *s = str_map_find(&t->vocab, token, strlen(token));
    return s->key ? s->id : -1;
}

const char *tokenizer_token_bytes(const tokenizer *t, int id, size_t *len)
{
    if (id < 0 || id >= t->vocab_size || !t->tok_bytes[id]) return NULL;
    *len = t->tok_len[id];
    return t->tok_bytes[id];
}

/* ---------------------------------------------------------------- (T.3) the split pattern */

/* GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with \s spelled out as Unicode White_Space: PCRE2's \s under UCP leaves out U+0085,
 * which the Oniguruma regex of `tokenizers` counts as space. */
#define WS "\\t-\\r\\x{85}\\p{Z}"
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS
    "])|[" WS "]+";

tok_splitter *tok_splitter_new(char *err, size_t errcap)
{
    int ec;
    PCRE2_SIZE off;
    tok_splitter *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errcap, "out of memory"); return NULL; }
    s->re = pcre2_compile((PCRE2_SPTR)gpt2_pattern, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec, &off, NULL);
    if (!s->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errcap, "split pattern: %s at %zu", (char *)msg, (size_t)off);
        free(s);
        return NULL;
    }
    pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE);   /* falls back to the interpreter */
    s->md = pcre2_match_data_create_from_pattern(s->re, NULL);
    if (!s->md) { pcre2_code_free(s->re); free(s); snprintf(err, errcap, "out of memory"); return NULL; }
    return s;
}

void tok_splitter_free(tok_splitter *s)
{
    if (!s) return;
    pcre2_match_data_free(s->md);
    pcre2_code_free(s->re);
    free(s);
}

/* Matches and the gaps between them are pre-tokens (tokenizers' "Isolated" split). */
int tok_split(tok_splitter *s, const char *text, size_t len, tok_piece_fn fn, void *ctx)
{
    size_t at = 0;
    while (at < len) {
        int rc = pcre2_match(s->re, (PCRE2_SPTR)text, len, at, PCRE2_NO_UTF_CHECK, s->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return -1;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        if (ov[0] > at && fn(text + at, ov[0] - at, ctx)) return -1;
        if (ov[1] == ov[0]) return -1;   /* the pattern never matches empty */
        if (fn(text + ov[0], ov[1] - ov[0], ctx)) return -1;
        at = ov[1];
    }
    if (at < len && fn(text + at, len - at, ctx)) return -1;
    return 0;
}

/* ---------------------------------------------------------------- loading */

typedef struct { char *msg; size_t cap; const char *name; } errbuf;

static void *fail(errbuf *e, const char *fmt, ...)
{
    va_list ap;
    int k = snprintf(e->msg, e->cap, "%s: ", e->name);
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < e->cap) vsnprintf(e->msg + k, e->cap - (size_t)k, fmt, ap);
    va_end(ap);
    return NULL;
}

/* Token string (byte-level alphabet) → the bytes it stands for (T.6). A token with a
 * character outside the alphabet stands for its own UTF-8 bytes, as tokenizers does. */
static size_t token_to_bytes(const char *s, size_t n, char *out, const int16_t *char_byte)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)utf8_decode((const uint8_t *)s + i, &cp);
        if (cp >= 512 || char_byte[cp] < 0) { memcpy(out, s, n); return n; }
        out[o++] = (char)char_byte[cp];
    }
    return o;
}

static int is_valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        int bad, k = utf8_seq((const uint8_t *)s + i, n - i, &bad);
        if (!k) return 0;
        i += (size_t)k;
    }
    return 1;
}

static int json_bool(const cJSON *o, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

static int json_id(const cJSON *v, int32_t *id)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 16777215.0 ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    *id = (int32_t)v->valuedouble;
    return 0;
}

static int cmp_added_len(const void *a, const void *b)
{
    const added_token *x = *(added_token *const *)a, *y = *(added_token *const *)b;
    unsigned char cx = (unsigned char)x->content[0], cy = (unsigned char)y->content[0];
    if (cx != cy) return cx < cy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id - y->id;
}

static int added_set_build(added_set *s, added_token *all, int n, int normalized)
{
    s->n = 0;
    s->tok = malloc(sizeof *s->tok * (size_t)(n ? n : 1));
    if (!s->tok) return -1;
    for (int i = 0; i < n; i++)
        if (all[i].len && all[i].normalized == normalized) s->tok[s->n++] = &all[i];
    qsort(s->tok, (size_t)s->n, sizeof *s->tok, cmp_added_len);
    int k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < s->n && (unsigned char)s->tok[k]->content[0] < b) k++;
        s->first[b] = k;
    }
    return 0;
}

/* The parts of tokenizer.json we do not implement must be absent or trivial: we refuse
 * a file rather than encode it differently from tokenizers. */
static int check_component(errbuf *e, const cJSON *root, const char *key, const char *ok1,
                           const char *ok2)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!c || cJSON_IsNull(c)) return 0;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(c, "type");
    const char *t = cJSON_IsString(ty) ? ty->valuestring : "?";
    if ((ok1 && strcmp(t, ok1) == 0) || (ok2 && strcmp(t, ok2) == 0)) return 0;
    fail(e, "%s of type %s is not supported (byte-level BPE only)", key, t);
    return -1;
}

/* The ByteLevel pre-tokenizer, alone or as the only member of a Sequence. */
static const cJSON *find_byte_level(const cJSON *pre)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (!cJSON_IsString(ty)) return NULL;
    if (strcmp(ty->valuestring, "ByteLevel") == 0) return pre;
    if (strcmp(ty->valuestring, "Sequence") == 0) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
        if (cJSON_IsArray(seq) && cJSON_GetArraySize(seq) == 1)
            return find_byte_level(cJSON_GetArrayItem(seq, 0));
    }
    return NULL;
}

static tokenizer *load_json(tokenizer *t, const cJSON *root, errbuf *e)
{
    if (!cJSON_IsObject(root)) return fail(e, "not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return fail(e, "no \"model\" object");
    const cJSON *mty = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (mty && !(cJSON_IsString(mty) && strcmp(mty->valuestring, "BPE") == 0))
        return fail(e, "model.type is %s, expected BPE",
                    cJSON_IsString(mty) ? mty->valuestring : "not a string");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0))
        return fail(e, "model.dropout is set (BPE dropout is not supported)");
    if (json_bool(model, "byte_fallback", 0)) return fail(e, "model.byte_fallback is not supported");
    for (const char *k = "continuing_subword_prefix"; k; k = k[0] == 'c' ? "end_of_word_suffix" : NULL) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, k);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
            return fail(e, "model.%s is not supported", k);
    }
    t->ignore_merges = json_bool(model, "ignore_merges", 0);

    /* normalizer: none, or NFC (GPT-NeoX's, so Mamba's checkpoints') */
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (norm && !cJSON_IsNull(norm)) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(norm, "type");
        if (!(cJSON_IsString(ty) && strcmp(ty->valuestring, "NFC") == 0))
            return fail(e, "normalizer of type %s is not supported",
                        cJSON_IsString(ty) ? ty->valuestring : "?");
        t->nfc = 1;
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *bl = pre ? find_byte_level(pre) : NULL;
    if (!bl) return fail(e, "pre_tokenizer is not ByteLevel");
    t->add_prefix_space = json_bool(bl, "add_prefix_space", 1);
    t->use_regex = json_bool(bl, "use_regex", 1);
    /* post_processor (ByteLevel offsets, or a template adding special tokens) is not applied:
     * encode is tokenizers' encode(text, add_special_tokens=False) */
    if (check_component(e, root, "decoder", "ByteLevel", NULL)) return NULL;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (!dec || cJSON_IsNull(dec)) return fail(e, "no ByteLevel decoder");

    /* model.vocab */
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return fail(e, "model.vocab is not an object");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return fail(e, "added_tokens is not an array");
    int nv = cJSON_GetArraySize(vocab), na = cJSON_IsArray(added) ? cJSON_GetArraySize(added) : 0;
    if (nv == 0) return fail(e, "model.vocab is empty");
    size_t strbytes = 0;
    int32_t maxid = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        int32_t id;
        if (json_id(it, &id)) return fail(e, "model.vocab[\"%.40s\"]: id is not an integer in 0..2^24", it->string);
        if (id > maxid) maxid = id;
        strbytes += strlen(it->string) + 1;
    }
    t->n_added = na;
    t->added = calloc((size_t)(na ? na : 1), sizeof *t->added);
    if (!t->added) return fail(e, "out of memory");
    for (int i = 0; i < na; i++) {
        const cJSON *a = cJSON_GetArrayItem(added, i);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
        added_token *at = &t->added[i];
        if (!cJSON_IsObject(a) || !cJSON_IsString(c) || json_id(cJSON_GetObjectItemCaseSensitive(a, "id"), &at->id))
            return fail(e, "added_tokens[%d]: needs an integer \"id\" and a string \"content\"", i);
        at->len = strlen(c->valuestring);
        at->content = c->valuestring;   /* repointed into the arena below */
        at->special = json_bool(a, "special", 0);
        at->lstrip = json_bool(a, "lstrip", 0);
        at->rstrip = json_bool(a, "rstrip", 0);
        at->single_word = json_bool(a, "single_word", 0);
        at->normalized = json_bool(a, "normalized", !at->special);
        if (at->id > maxid) maxid = at->id;
        strbytes += at->len + 1;
    }
    t->vocab_size = maxid + 1;
    size_t V = (size_t)t->vocab_size;
    /* each token string once, plus its decoded bytes (never longer than the string) */
    t->arena = malloc(2 * strbytes + 1);
    t->tok_bytes = calloc(V, sizeof *t->tok_bytes);
    t->tok_len = calloc(V, sizeof *t->tok_len);
    t->is_special = calloc(V, 1);
    char **tok_str = calloc(V, sizeof *tok_str);
    if (!t->arena || !t->tok_bytes || !t->tok_len || !t->is_special || !tok_str ||
        str_map_init(&t->vocab, (size_t)(nv + na))) {
        free(tok_str);
        return fail(e, "out of memory");
    }
    char *ap = t->arena;
    int16_t char_byte[512];
    for (int c = 0; c < 512; c++) char_byte[c] = -1;
    for (int b = 0; b < 256; b++) char_byte[byte_level_char((uint8_t)b)] = (int16_t)b;

    tokenizer *ok = t;
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = (int32_t)it->valuedouble;
        size_t n = strlen(it->string);
        if (!is_valid_utf8(it->string, n)) { ok = fail(e, "model.vocab: a key is not valid UTF-8"); break; }
        if (tok_str[id]) { ok = fail(e, "model.vocab: id %d is used twice (\"%.40s\" and \"%.40s\")", id, tok_str[id], it->string); break; }
        str_slot *s = str_map_find(&t->vocab, it->string, n);
        if (s->key) { ok = fail(e, "model.vocab: \"%.40s\" appears twice", it->string); break; }
        memcpy(ap, it->string, n + 1);
        tok_str[id] = ap;
        *s = (str_slot){ap, n, id};
        t->vocab.n++;
        ap += n + 1;
    }
    for (int i = 0; ok && i < na; i++) {
        added_token *at = &t->added[i];
        if (!is_valid_utf8(at->content, at->len)) { ok = fail(e, "added_tokens[%d]: content is not valid UTF-8", i); break; }
        memcpy(ap, at->content, at->len + 1);
        at->content = ap;
        ap += at->len + 1;
        if (tok_str[at->id] && strcmp(tok_str[at->id], at->content) != 0) {
            ok = fail(e, "added_tokens[%d]: id %d is \"%.40s\" in model.vocab", i, at->id, tok_str[at->id]);
            break;
        }
        if (!tok_str[at->id]) {
            tok_str[at->id] = at->content;
            str_slot *s = str_map_find(&t->vocab, at->content, at->len);
            if (!s->key) { *s = (str_slot){at->content, at->len, at->id}; t->vocab.n++; }
        }
        t->is_special[at->id] = (uint8_t)at->special;
    }
    /* (T.6) decoded bytes per id */
    for (size_t id = 0; ok && id < V; id++) {
        if (!tok_str[id]) continue;
        t->tok_bytes[id] = ap;
        t->tok_len[id] = token_to_bytes(tok_str[id], strlen(tok_str[id]), ap, char_byte);
        ap += t->tok_len[id];
    }
    /* (T.4) the 256 byte symbols */
    for (int b = 0; ok && b < 256; b++) {
        char s[4];
        int n = utf8_encode(byte_level_char((uint8_t)b), s);
        str_slot *sl = str_map_find(&t->vocab, s, (size_t)n);
        if (!sl->key) { ok = fail(e, "model.vocab lacks the symbol of byte 0x%02X", b); break; }
        t->byte_id[b] = sl->id;
    }
    free(tok_str);
    if (!ok) return NULL;

    /* model.merges: rank = position; "a b" strings or [a, b] pairs */
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return fail(e, "model.merges is not an array");
    int nm = cJSON_GetArraySize(merges);
    t->merges.cap = pow2_at_least(2 * (size_t)nm + 16);
    t->merges.slot = calloc(t->merges.cap, sizeof *t->merges.slot);
    if (!t->merges.slot) return fail(e, "out of memory");
    tok_bytes cat = {0};
    int rank = 0;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(it)) {
            const char *sp = strchr(it->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) { ok = fail(e, "model.merges[%d]: \"%.60s\" is not two tokens separated by one space", rank, it->valuestring); break; }
            a = it->valuestring; la = (size_t)(sp - a);
            b = sp + 1; lb = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) && cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring; la = strlen(a);
            b = cJSON_GetArrayItem(it, 1)->valuestring; lb = strlen(b);
        } else { ok = fail(e, "model.merges[%d]: neither a string nor a pair of strings", rank); break; }
        str_slot *sa = str_map_find(&t->vocab, a, la), *sb = str_map_find(&t->vocab, b, lb);
        if (!sa->key || !sb->key) { ok = fail(e, "model.merges[%d]: \"%.*s\" is not in model.vocab", rank, (int)(sa->key ? lb : la) > 40 ? 40 : (int)(sa->key ? lb : la), sa->key ? b : a); break; }
        cat.n = 0;
        if (tok_bytes_append(&cat, a, la) || tok_bytes_append(&cat, b, lb)) { ok = fail(e, "out of memory"); break; }
        str_slot *sc = str_map_find(&t->vocab, cat.bytes, cat.n);
        if (!sc->key) { ok = fail(e, "model.merges[%d]: the merged token \"%.40s\" is not in model.vocab", rank, cat.bytes); break; }
        pair_slot *ps = pair_map_find(&t->merges, pair_key(sa->id, sb->id));
        /* a repeated pair: the later rank wins, as in tokenizers (a HashMap built in order) */
        *ps = (pair_slot){pair_key(sa->id, sb->id), rank, sc->id};
        rank++;
    }
    tok_bytes_free(&cat);
    if (!ok) return NULL;

    if (added_set_build(&t->set_raw, t->added, na, 0) || added_set_build(&t->set_norm, t->added, na, 1))
        return fail(e, "out of memory");
    t->eos = -1;
    for (int i = 0; i < na; i++)
        if (strcmp(t->added[i].content, "<|endoftext|>") == 0) t->eos = t->added[i].id;
    for (int i = 0; t->eos < 0 && i < na; i++)
        if (t->added[i].special) t->eos = t->added[i].id;
    char msg[200];
    t->split = tok_splitter_new(msg, sizeof msg);
    t->cache = calloc(CACHE_SLOTS, sizeof *t->cache);
    if (!t->split || !t->cache) return fail(e, "%s", t->split ? "out of memory" : msg);
    return t;
}

tokenizer *tokenizer_load_from_memory(const char *json, size_t len, const char *name, char *err,
                                      size_t errcap)
{
    errbuf e = {err, errcap, name ? name : "tokenizer.json"};
    if (errcap) err[0] = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json && at <= json + len ? (long)(at - json) : -1;
        fail(&e, "invalid JSON near byte %ld", off);
        return NULL;
    }
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) { cJSON_Delete(root); fail(&e, "out of memory"); return NULL; }
    tokenizer *r = load_json(t, root, &e);
    cJSON_Delete(root);   /* every string we keep was copied into the arena */
    if (!r) tokenizer_free(t);
    return r;
}

tokenizer *tokenizer_load(const char *path, char *err, size_t errcap)
{
    errbuf e = {err, errcap, path};
    FILE *f = fopen(path, "rb");
    if (!f) { fail(&e, "cannot open (%s)", strerror(errno)); return NULL; }
    tok_bytes b = {0};
    char chunk[1 << 16];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (tok_bytes_append(&b, chunk, n)) { fclose(f); tok_bytes_free(&b); fail(&e, "out of memory"); return NULL; }
    int bad = ferror(f);
    fclose(f);
    if (bad) { tok_bytes_free(&b); fail(&e, "read error"); return NULL; }
    tokenizer *t = tokenizer_load_from_memory(b.bytes ? b.bytes : "", b.n, path, err, errcap);
    tok_bytes_free(&b);
    return t;
}

void tokenizer_free(tokenizer *t)
{
    if (!t) return;
    free(t->vocab.slot);
    free(t->arena);
    free(t->merges.slot);
    free(t->tok_bytes);
    free(t->tok_len);
    free(t->is_special);
    free(t->added);
    free(t->set_raw.tok);
    free(t->set_norm.tok);
    tok_splitter_free(t->split);
    free(t->cache);
    free(t->sym_c); free(t->sym_prev); free(t->sym_next); free(t->sym_dead);
    free(t->heap);
    tok_bytes_free(&t->tmp);
    tok_bytes_free(&t->word);
    free(t);
}

/* ---------------------------------------------------------------- (T.5) BPE on one word */

static int heap_less(const struct merge_item *a, const struct merge_item *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(tokenizer *t, size_t *n, struct merge_item m)
{
    if (grow((void **)&t->heap, &t->heap_cap, *n + 1, sizeof *t->heap)) return -1;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&m, &t->heap[p])) break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = m;
    return 0;
}

static struct merge_item heap_pop(tokenizer *t, size_t *n)
{
    struct merge_item top = t->heap[0], last = t->heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&t->heap[c + 1], &t->heap[c])) c++;
        if (!heap_less(&t->heap[c], &last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (*n) t->heap[i] = last;
    return top;
}

/* Candidate merge of the symbol at pos with its right neighbour, if the pair is a merge. */
static int push_pair(tokenizer *t, size_t *nh, int32_t pos)
{
    if (pos < 0) return 0;
    int32_t r = t->sym_next[pos];
    if (r < 0) return 0;
    pair_slot *ps = pair_map_find(&t->merges, pair_key(t->sym_c[pos], t->sym_c[r]));
    if (!ps->key) return 0;
    return heap_push(t, nh, (struct merge_item){ps->rank, pos, ps->id});
}

/* Merge the lowest-ranked adjacent pair, leftmost first, until no pair is a merge.
 * A popped candidate is stale when its left symbol was absorbed or its neighbour
 * changed; then the pair's merge no longer yields the recorded id and it is skipped. */
static int bpe_word(tokenizer *t, const uint8_t *w, size_t n, tok_ids *out)
{
    if (n == 1) return tok_ids_push(out, t->byte_id[w[0]]);
    if (t->ignore_merges) {
        t->word.n = 0;
        for (size_t i = 0; i < n; i++) {
            char s[4];
            if (tok_bytes_append(&t->word, s, (size_t)utf8_encode(byte_level_char(w[i]), s))) return -1;
        }
        str_slot *s = str_map_find(&t->vocab, t->word.bytes, t->word.n);
        if (s->key) return tok_ids_push(out, s->id);
    }
    uint64_t h = hash_bytes(w, n);
    cache_slot *cs = &t->cache[h & (CACHE_SLOTS - 1)];
    if (n <= CACHE_WORD && cs->h == h && cs->len == n && memcmp(cs->word, w, n) == 0) {
        for (int i = 0; i < cs->nids; i++)
            if (tok_ids_push(out, cs->ids[i])) return -1;
        return 0;
    }
    if (t->sym_cap < n) {
        free(t->sym_c); free(t->sym_prev); free(t->sym_next); free(t->sym_dead);
        t->sym_c = malloc(n * sizeof(int32_t));
        t->sym_prev = malloc(n * sizeof(int32_t));
        t->sym_next = malloc(n * sizeof(int32_t));
        t->sym_dead = malloc(n);
        t->sym_cap = n;
        if (!t->sym_c || !t->sym_prev || !t->sym_next || !t->sym_dead) { t->sym_cap = 0; return -1; }
    }
    for (size_t i = 0; i < n; i++) {
        t->sym_c[i] = t->byte_id[w[i]];
        t->sym_prev[i] = (int32_t)i - 1;
        t->sym_next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        t->sym_dead[i] = 0;
    }
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (push_pair(t, &nh, (int32_t)i)) return -1;
    while (nh) {
        struct merge_item m = heap_pop(t, &nh);
        if (t->sym_dead[m.pos] || t->sym_next[m.pos] < 0) continue;
        int32_t r = t->sym_next[m.pos];
        pair_slot *ps = pair_map_find(&t->merges, pair_key(t->sym_c[m.pos], t->sym_c[r]));
        if (!ps->key || ps->id != m.id) continue;   /* stale */
        t->sym_c[m.pos] = m.id;
        t->sym_dead[r] = 1;
        t->sym_next[m.pos] = t->sym_next[r];
        if (t->sym_next[r] >= 0) t->sym_prev[t->sym_next[r]] = m.pos;
        if (push_pair(t, &nh, t->sym_prev[m.pos]) || push_pair(t, &nh, m.pos)) return -1;
    }
    size_t first = out->n;
    for (int32_t i = 0; i >= 0; i = t->sym_next[i])
        if (tok_ids_push(out, t->sym_c[i])) return -1;
    size_t k = out->n - first;
    if (n <= CACHE_WORD && k <= CACHE_IDS) {
        cs->h = h; cs->len = (uint8_t)n; cs->nids = (uint8_t)k;
        memcpy(cs->word, w, n);
        memcpy(cs->ids, out->ids + first, k * sizeof(int32_t));
    }
    return 0;
}

/* ---------------------------------------------------------------- (T.2)–(T.3) encode */

typedef struct { tokenizer *t; tok_ids *out; } word_ctx;

static int word_cb(const char *p, size_t n, void *ctx)
{
    word_ctx *c = ctx;
    return bpe_word(c->t, (const uint8_t *)p, n, c->out);
}

/* (T.3): one piece of text between added tokens. */
static int encode_piece(tokenizer *t, const char *s, size_t n, tok_ids *out)
{
    if (n == 0) return 0;
    word_ctx c = {t, out};
    if (t->add_prefix_space && s[0] != ' ') {
        /* the prefix space belongs to the first pre-token: split a copy */
        tok_bytes *b = &t->tmp;
        b->n = 0;
        if (tok_bytes_append(b, " ", 1) || tok_bytes_append(b, s, n)) return -1;
        return t->use_regex ? tok_split(t->split, b->bytes, b->n, word_cb, &c)
                            : word_cb(b->bytes, b->n, &c);
    }
    return t->use_regex ? tok_split(t->split, s, n, word_cb, &c) : word_cb(s, n, &c);
}

static int prev_char_is_word(const char *s, size_t at)
{
    if (at == 0) return 0;
    unsigned char c = (unsigned char)s[at - 1];
    return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
}

static int next_char_is_word(const char *s, size_t at, size_t n)
{
    if (at >= n) return 0;
    unsigned char c = (unsigned char)s[at];
    return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
}

/* Longest token of the set that starts at s[at] (NULL if none). */
static const added_token *added_at(const added_set *set, const char *s, size_t at, size_t n)
{
    unsigned char b = (unsigned char)s[at];
    for (int k = set->first[b]; k < set->first[b + 1]; k++) {
        const added_token *a = set->tok[k];
        if (a->len <= n - at && memcmp(s + at, a->content, a->len) == 0) return a;
    }
    return NULL;
}

/* (T.2): split s at the tokens of `set` (leftmost-longest, as an Aho-Corasick automaton in
 * that mode), honouring lstrip/rstrip/single_word; the gaps go on to `next`. */
typedef int (*gap_fn)(tokenizer *t, const char *s, size_t n, tok_ids *out);

static int gap_norm(tokenizer *t, const char *s, size_t n, tok_ids *out);

static int split_added(tokenizer *t, const added_set *set, const char *s, size_t n, gap_fn next,
                       tok_ids *out)
{
    size_t start = 0;   /* beginning of the text not yet emitted */
    for (size_t i = 0; i < n && set->n;) {
        const added_token *a = set->first[(unsigned char)s[i]] < set->first[(unsigned char)s[i] + 1]
                                   ? added_at(set, s, i, n) : NULL;
        if (!a) { i++; continue; }
        size_t b = i, e = i + a->len;
        if (a->single_word && (prev_char_is_word(s, b) || next_char_is_word(s, e, n))) { i++; continue; }
        if (a->lstrip)
            while (b > start) {
                size_t k = b - 1;
                while (k > start && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
                uint32_t cp;
                utf8_decode((const uint8_t *)s + k, &cp);
                if (!is_white(cp)) break;
                b = k;
            }
        if (a->rstrip)
            while (e < n) {
                uint32_t cp;
                int k = utf8_decode((const uint8_t *)s + e, &cp);
                if (!is_white(cp)) break;
                e += (size_t)k;
            }
        if (b > start && next(t, s + start, b - start, out)) return -1;
        if (tok_ids_push(out, a->id)) return -1;
        start = i = e;
    }
    return start < n ? next(t, s + start, n - start, out) : 0;
}

/* The normalizer runs on the text between the raw (normalized = false) added tokens, before
 * the normalized ones are matched: NFC through utf8proc (ASCII is already NFC). */
static int gap_norm(tokenizer *t, const char *s, size_t n, tok_ids *out)
{
    size_t i = 0;
    while (t->nfc && i < n && (unsigned char)s[i] < 0x80) i++;
    if (!t->nfc || i == n) return split_added(t, &t->set_norm, s, n, encode_piece, out);
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return -1;   /* only out of memory: the input is valid UTF-8 (T.1) */
    int rc = split_added(t, &t->set_norm, (const char *)nfc, (size_t)m, encode_piece, out);
    free(nfc);
    return rc;
}

int tokenizer_encode(tokenizer *t, const char *text, size_t len, tok_ids *out)
{
    /* (T.1) */
    const char *s = text;
    tok_bytes valid = {0};
    if (!is_valid_utf8(text, len)) {
        if (utf8_make_valid(text, len, &valid) < 0) return -1;
        s = valid.bytes;
        len = valid.n;
    }
    int rc = split_added(t, &t->set_raw, s, len, gap_norm, out);
    tok_bytes_free(&valid);
    return rc;
}

/* ---------------------------------------------------------------- (T.6) decode */

long tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                      tok_bytes *out)
{
    tok_bytes raw = {0};
    long unknown = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->vocab_size || !t->tok_bytes[id]) { unknown++; continue; }
        if (skip_special && t->is_special[id]) continue;
        if (tok_bytes_append(&raw, t->tok_bytes[id], t->tok_len[id])) { tok_bytes_free(&raw); return -1; }
    }
    long r = utf8_make_valid(raw.bytes ? raw.bytes : "", raw.n, out);
    tok_bytes_free(&raw);
    return r < 0 ? -1 : unknown;
}
