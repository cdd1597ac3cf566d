/* 06_hw_aware_cuda/lm/tests/test_tokenizer.c — the byte-level BPE tokenizer (§T).
 *
 * Oracles: golden ids written by Hugging Face `tokenizers` 0.23 (reference/
 * check_tokenizer.py on the GPU machine) for three tokenizer.json files; a quadratic
 * textbook BPE written here against the priority-queue one; Python's errors="replace"
 * byte counts (hand-derived from Unicode §3.9) for the UTF-8 repair; hand-computed merges
 * on tiny vocabularies. Plus bad files (exit 2 / an error string, never a crash), the
 * trainer's round trip, token files and the command line. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "06_hw_aware_cuda/lm/corpus.h"
#include "06_hw_aware_cuda/lm/tokenizer.h"

#define LM STAGE_DIR
#define GPT2 LM "/reference/gpt2_tokenizer.json"
#define TRAINED LM "/corpus_tokenizer.json"
#define GOLDEN LM "/tests/test_tokenizer_golden.json"

static char errbuf[512];

static tokenizer *must_load(const char *path)
{
    tokenizer *t = tokenizer_load(path, errbuf, sizeof errbuf);
    ck_assert_msg(t != NULL, "%s", errbuf);
    return t;
}

static char *slurp(const char *path, size_t *len)
{
    char *p = corpus_read_file(path, len, errbuf, sizeof errbuf);
    ck_assert_msg(p != NULL, "%s", errbuf);
    return p;
}

/* ---------------------------------------------------------------- (T.4), (T.1) */

START_TEST(test_byte_map)
{
    /* GPT-2's table: printable bytes are themselves; space → U+0120 'Ġ', '\n' → U+010A 'Ċ',
     * 0x00 → U+0100, 0xAD (soft hyphen) → U+0143; a bijection onto 256 characters */
    ck_assert_uint_eq(byte_level_char('a'), 'a');
    ck_assert_uint_eq(byte_level_char(' '), 0x120);
    ck_assert_uint_eq(byte_level_char('\n'), 0x10A);
    ck_assert_uint_eq(byte_level_char(0), 0x100);
    ck_assert_uint_eq(byte_level_char(0xAD), 0x143);
    ck_assert_uint_eq(byte_level_char(0xFF), 0xFF);
    int seen[324] = {0};
    for (int b = 0; b < 256; b++) {
        uint32_t c = byte_level_char((uint8_t)b);
        ck_assert_uint_lt(c, 324);
        ck_assert_int_eq(seen[c]++, 0);
    }
}
END_TEST

/* Number of U+FFFD and the repaired bytes, as Python's bytes.decode(errors="replace"). */
static void check_repair(const char *in, size_t n, long want_repl, const char *want)
{
    tok_bytes out = {0};
    long r = utf8_make_valid(in, n, &out);
    ck_assert_int_eq(r, want_repl);
    ck_assert_uint_eq(out.n, strlen(want));
    ck_assert_int_eq(memcmp(out.bytes, want, out.n), 0);
    tok_bytes_free(&out);
}

START_TEST(test_utf8_repair)
{
#define FFFD "\xEF\xBF\xBD"
    check_repair("abc", 3, 0, "abc");
    check_repair("\xE2\x82\xAC", 3, 0, "\xE2\x82\xAC");       /* € intact */
    check_repair("\x80", 1, 1, FFFD);                          /* lone continuation */
    check_repair("\xE2\x82", 2, 1, FFFD);                      /* truncated: one maximal subpart */
    check_repair("\xE2\x82x", 3, 1, FFFD "x");
    check_repair("\xC0\xAF", 2, 2, FFFD FFFD);                 /* overlong lead: each byte */
    check_repair("\xED\xA0\x80", 3, 3, FFFD FFFD FFFD);        /* surrogate: ED then A0 out of range */
    check_repair("\xF0\x9F\x98", 3, 1, FFFD);                  /* emoji cut short */
    check_repair("\xF4\x90\x80\x80", 4, 4, FFFD FFFD FFFD FFFD); /* > U+10FFFF */
    check_repair("\xF5\x80", 2, 2, FFFD FFFD);
    check_repair("a\xFF" "b\xC3", 4, 2, "a" FFFD "b" FFFD);
}
END_TEST

/* ---------------------------------------------------------------- tiny vocabularies */

/* tokenizer.json text: the 256 byte symbols (ids 0..255 = bytes) + extra tokens; merges,
 * added tokens, pre-tokenizer and normalizer as given (JSON fragments). */
static void tiny_json(tok_bytes *j, const char *extra_vocab, const char *merges, const char *added,
                      const char *pre, const char *normalizer)
{
    char s[64];
    const char *parts[] = {"{\"model\":{\"type\":\"BPE\",\"vocab\":{", NULL, extra_vocab, "},\"merges\":", merges,
                           "},\"added_tokens\":", added, ",\"pre_tokenizer\":", pre, ",\"normalizer\":", normalizer,
                           ",\"decoder\":{\"type\":\"ByteLevel\"}}"};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        if (parts[k]) { tok_bytes_append(j, parts[k], strlen(parts[k])); continue; }
        for (int b = 0; b < 256; b++) {   /* the byte symbols, JSON-escaped */
            uint32_t c = byte_level_char((uint8_t)b);
            int n = c == '"' || c == '\\' ? snprintf(s, sizeof s, "%s\"\\%c\":%d", b ? "," : "", (char)c, b)
                    : c < 0x80 ? snprintf(s, sizeof s, "%s\"%c\":%d", b ? "," : "", (char)c, b)
                               : snprintf(s, sizeof s, "%s\"\\u%04x\":%d", b ? "," : "", c, b);
            tok_bytes_append(j, s, (size_t)n);
        }
    }
}

static tokenizer *tiny(const char *extra_vocab, const char *merges, const char *added, const char *pre,
                       const char *normalizer)
{
    tok_bytes j = {0};
    tiny_json(&j, extra_vocab, merges, added, pre, normalizer);
    tokenizer *t = tokenizer_load_from_memory(j.bytes, j.n, "tiny", errbuf, sizeof errbuf);
    ck_assert_msg(t != NULL, "%s", errbuf);
    tok_bytes_free(&j);
    return t;
}

#define BL "{\"type\":\"ByteLevel\",\"add_prefix_space\":false}"

static void check_ids(tokenizer *t, const char *text, const int32_t *want, size_t n)
{
    tok_ids v = {0};
    ck_assert_int_eq(tokenizer_encode(t, text, strlen(text), &v), 0);
    ck_assert_msg(v.n == n, "\"%s\": %zu ids, want %zu", text, v.n, n);
    for (size_t i = 0; i < n; i++) ck_assert_msg(v.ids[i] == want[i], "\"%s\" id %zu: %d, want %d", text, i, v.ids[i], want[i]);
    tok_bytes d = {0};
    ck_assert_int_eq(tokenizer_decode(t, v.ids, v.n, 0, &d), 0);
    ck_assert_str_eq(d.bytes, text);
    tok_bytes_free(&d);
    tok_ids_free(&v);
}

START_TEST(test_merge_ranks)
{
    /* "abc": with "b c" ranked before "a b" the word becomes a+bc then abc; the other
     * way round ab+c, and "ab c" is no merge, so it stays [ab, c]. Both merge forms. */
    const char *v = ",\"ab\":256,\"bc\":257,\"abc\":258";
    tokenizer *t = tiny(v, "[\"b c\",\"a b\",\"a bc\"]", "[]", BL, "null");
    check_ids(t, "abc", (int32_t[]){258}, 1);
    check_ids(t, "abcabc", (int32_t[]){258, 258}, 2);   /* one pre-token: bc, bc, then abc, abc */
    tokenizer_free(t);
}
END_TEST

START_TEST(test_merge_ranks_pairs)
{
    const char *v = ",\"ab\":256,\"bc\":257,\"abc\":258";
    tokenizer *t = tiny(v, "[[\"a\",\"b\"],[\"b\",\"c\"],[\"a\",\"bc\"]]", "[]", BL, "null");
    check_ids(t, "abc", (int32_t[]){256, 'c'}, 2);
    /* "bbc": b+bc (rank 1); "aab": a+ab? no such merge → [a, ab] */
    check_ids(t, "bbc", (int32_t[]){'b', 257}, 2);
    check_ids(t, "aab", (int32_t[]){'a', 256}, 2);
    /* the pre-tokenizer splits "ab bc" into "ab" and " bc": space is Ġ (id 32) */
    check_ids(t, "ab bc", (int32_t[]){256, ' ', 257}, 3);
    tokenizer_free(t);
}
END_TEST

START_TEST(test_added_tokens)
{
    /* leftmost-longest among added tokens, matched before BPE; lstrip/rstrip take the
     * whitespace next to the token with it; add_prefix_space per piece between them */
    const char *v = ",\"ab\":256";
    const char *added =
        "[{\"id\":300,\"content\":\"<s>\",\"special\":true,\"normalized\":false},"
        "{\"id\":301,\"content\":\"<s><s>\",\"special\":true,\"normalized\":false},"
        "{\"id\":302,\"content\":\"<m>\",\"special\":true,\"lstrip\":true,\"rstrip\":true,\"normalized\":false},"
        "{\"id\":303,\"content\":\"  \",\"special\":false,\"normalized\":true}]";
    tokenizer *t = tiny(v, "[\"a b\"]", added, BL, "null");
    ck_assert_int_eq(tokenizer_vocab_size(t), 304);
    ck_assert_int_eq(tokenizer_eos_id(t), 300);   /* no <|endoftext|>: the first special */
    check_ids(t, "ab<s>ab", (int32_t[]){256, 300, 256}, 3);
    check_ids(t, "<s><s><s>", (int32_t[]){301, 300}, 2);
    tok_ids ids = {0};
    ck_assert_int_eq(tokenizer_encode(t, "a \t<m>  b", 9, &ids), 0);
    ck_assert_int_eq((int)ids.n, 3);   /* "a", <m> (with " \t" and "  "), "b" */
    ck_assert_int_eq(ids.ids[0], 'a');
    ck_assert_int_eq(ids.ids[1], 302);
    ck_assert_int_eq(ids.ids[2], 'b');
    ids.n = 0;
    ck_assert_int_eq(tokenizer_encode(t, "a  b", 4, &ids), 0);   /* "  " is an added token */
    ck_assert_int_eq((int)ids.n, 3);
    ck_assert_int_eq(ids.ids[1], 303);
    tok_ids_free(&ids);
    tok_bytes d = {0};
    ck_assert_int_eq(tokenizer_decode(t, (int32_t[]){256, 300, 256}, 3, 1, &d), 0);
    ck_assert_str_eq(d.bytes, "abab");   /* special tokens skipped */
    d.n = 0;
    ck_assert_int_eq(tokenizer_decode(t, (int32_t[]){256, 9999, -1}, 3, 0, &d), 2);   /* unknown ids counted */
    tok_bytes_free(&d);
    tokenizer_free(t);

    t = tiny(v, "[\"a b\"]", added, "{\"type\":\"ByteLevel\",\"add_prefix_space\":true}", "null");
    check_ids(t, " ab<s> ab", (int32_t[]){' ', 256, 300, ' ', 256}, 5);
    tok_ids_free(&ids);
    ck_assert_int_eq(tokenizer_encode(t, "ab<s>ab", 7, &ids), 0);   /* a space before each piece */
    ck_assert_int_eq((int)ids.n, 5);
    ck_assert_int_eq(ids.ids[0], ' ');
    ck_assert_int_eq(ids.ids[3], ' ');
    tok_ids_free(&ids);
    tokenizer_free(t);
}
END_TEST

START_TEST(test_nfc)
{
    /* the NFC normalizer (GPT-NeoX's): encode(x) with it = encode(NFC(x)) without it.
     * NFC(x) from Python's unicodedata 14.0 (an independent implementation):
     * e+◌́ → é, A+◌̊ → Å, Å (Angstrom sign) → Å, ᄀ+ᅡ+ᆨ → 각, ﬁ stays, ǫ+◌́ → ǫ́ (ǫ, ◌́),
     * क+◌़ → क़ stays decomposed (a composition exclusion) */
    static const char *pairs[][2] = {
        {"e\xCC\x81", "\xC3\xA9"}, {"A\xCC\x8A", "\xC3\x85"}, {"\xE2\x84\xAB", "\xC3\x85"},
        {"\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81"}, {"\xEF\xAC\x81", "\xEF\xAC\x81"},
        {"o\xCC\xA8\xCC\x81", "\xC7\xAB\xCC\x81"}, {"\xE0\xA5\x98", "\xE0\xA4\x95\xE0\xA4\xBC"},
        {"caf\x65\xCC\x81 ok", "caf\xC3\xA9 ok"}};
    const char *added = "[{\"id\":300,\"content\":\"\xC3\xA9\",\"special\":false,\"normalized\":true}]";
    tokenizer *n = tiny("", "[]", "[]", BL, "{\"type\":\"NFC\"}"), *p = tiny("", "[]", "[]", BL, "null");
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        tok_ids a = {0}, b = {0};
        tokenizer_encode(n, pairs[i][0], strlen(pairs[i][0]), &a);
        tokenizer_encode(p, pairs[i][1], strlen(pairs[i][1]), &b);
        ck_assert_msg(a.n == b.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0, "pair %zu", i);
        tok_ids_free(&a);
        tok_ids_free(&b);
    }
    tokenizer_free(n);
    tokenizer_free(p);
    /* a normalized added token matches the composed form of decomposed input */
    n = tiny("", "[]", added, BL, "{\"type\":\"NFC\"}");
    for (int k = 0; k < 2; k++) {   /* (no round trip: "é" as a token string decodes as byte E9,
                                       in tokenizers too, since é is in the byte alphabet) */
        tok_ids a = {0};
        tokenizer_encode(n, k ? "xe\xCC\x81" : "x\xC3\xA9", k ? 4 : 3, &a);
        ck_assert_int_eq((int)a.n, 2);
        ck_assert_int_eq(a.ids[0], 'x');
        ck_assert_int_eq(a.ids[1], 300);
        tok_ids_free(&a);
    }
    tokenizer_free(n);
}
END_TEST

/* ---------------------------------------------------------------- bad files */

START_TEST(test_bad_files)
{
    static const char *bad[][2] = {
        {"", "invalid JSON"},
        {"[1,2]", "not a JSON object"},
        {"{}", "\"model\""},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "expected BPE"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":[],\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":" BL "}", "vocab is not an object"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", "not ByteLevel"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":" BL "}", "id is not an integer"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0.5},\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":" BL "}", "id is not an integer"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":" BL "}", "used twice"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":" BL "}", "lacks the symbol of byte"},
        {"{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{\"a\":0},\"merges\":[]}}", "dropout"},
        {"{\"normalizer\":{\"type\":\"Lowercase\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}", "normalizer"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":{\"type\":\"WordPiece\"}}", "decoder of type WordPiece"},
        {"{\"added_tokens\":{},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":" BL "}", "added_tokens is not an array"},
        {"{\"added_tokens\":[{\"content\":\"x\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":" BL "}", "added_tokens[0]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tokenizer *t = tokenizer_load_from_memory(bad[i][0], strlen(bad[i][0]), "bad.json", errbuf, sizeof errbuf);
        ck_assert_msg(t == NULL, "case %zu loaded", i);
        ck_assert_msg(strstr(errbuf, bad[i][1]) && strncmp(errbuf, "bad.json: ", 10) == 0,
                      "case %zu: \"%s\" lacks \"%s\"", i, errbuf, bad[i][1]);
    }
    /* merges naming tokens that are not there */
    const char *v = ",\"ab\":256";
    const char *ms[][2] = {{"[\"a c\"]", "merged token"}, {"[\"a x y\"]", "one space"}, {"[\"ab\"]", "one space"},
                           {"[[\"a\"]]", "neither"}, {"[\"q \\u0100\"]", "merged token"}, {"[\"zz b\"]", "not in model.vocab"}};
    for (size_t i = 0; i < 6; i++) {
        tok_bytes j = {0};
        tiny_json(&j, v, ms[i][0], "[]", BL, "null");
        tokenizer *t = tokenizer_load_from_memory(j.bytes, j.n, "m.json", errbuf, sizeof errbuf);
        ck_assert_msg(t == NULL && strstr(errbuf, ms[i][1]), "merges %s: \"%s\"", ms[i][0], errbuf);
        /* every truncation of this file is refused (or loads), never crashes */
        for (size_t cut = 0; i == 0 && cut < j.n; cut += 97) {
            tokenizer *u = tokenizer_load_from_memory(j.bytes, cut, "cut.json", errbuf, sizeof errbuf);
            ck_assert_msg(u == NULL, "a file cut at %zu loaded", cut);
        }
        tok_bytes_free(&j);
    }
    /* a post-processor template is not an error: encode is add_special_tokens=False */
    tok_bytes j = {0};
    tiny_json(&j, "", "[]", "[]", BL, "null");
    j.n--;   /* drop the closing brace */
    const char *pp = ",\"post_processor\":{\"type\":\"TemplateProcessing\"}}";
    tok_bytes_append(&j, pp, strlen(pp));
    tokenizer *t = tokenizer_load_from_memory(j.bytes, j.n, "pp.json", errbuf, sizeof errbuf);
    ck_assert_msg(t != NULL, "%s", errbuf);
    tokenizer_free(t);
    tok_bytes_free(&j);
    ck_assert_ptr_null(tokenizer_load("/nonexistent/tokenizer.json", errbuf, sizeof errbuf));
    ck_assert_ptr_nonnull(strstr(errbuf, "/nonexistent/tokenizer.json: cannot open"));
}
END_TEST

/* ---------------------------------------------------------------- HF goldens */

/* The NeoX-like variant of GPT-2's file, built as check_tokenizer.py's neox_like() does. */
static tokenizer *neox_like(void)
{
    size_t n;
    char *s = slurp(GPT2, &n);
    cJSON *j = cJSON_ParseWithLength(s, n);
    ck_assert_ptr_nonnull(j);
    cJSON *pre = cJSON_GetObjectItem(j, "pre_tokenizer");
    cJSON_ReplaceItemInObject(pre, "add_prefix_space", cJSON_CreateTrue());
    cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
    int id = 50257;
    char sp[32];
    for (int k = 24; k > 1; k--, id++) {
        memset(sp, ' ', (size_t)k);
        sp[k] = 0;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", id);
        cJSON_AddStringToObject(a, "content", sp);
        cJSON_AddBoolToObject(a, "normalized", 1);
        cJSON_AddBoolToObject(a, "special", 0);
        cJSON_AddItemToArray(added, a);
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "id", id);
    cJSON_AddStringToObject(m, "content", "<mask>");
    cJSON_AddBoolToObject(m, "lstrip", 1);
    cJSON_AddBoolToObject(m, "rstrip", 1);
    cJSON_AddBoolToObject(m, "normalized", 0);
    cJSON_AddBoolToObject(m, "special", 1);
    cJSON_AddItemToArray(added, m);
    char *out = cJSON_PrintUnformatted(j);
    tokenizer *t = tokenizer_load_from_memory(out, strlen(out), "neox-like", errbuf, sizeof errbuf);
    ck_assert_msg(t != NULL, "%s", errbuf);
    free(out);
    cJSON_Delete(j);
    free(s);
    return t;
}

static size_t unhex(const char *h, char *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

START_TEST(test_hf_golden)
{
    size_t n;
    char *s = slurp(GOLDEN, &n);
    cJSON *g = cJSON_ParseWithLength(s, n);
    ck_assert_ptr_nonnull(g);
    tokenizer *tk[3] = {must_load(TRAINED), must_load(GPT2), neox_like()};
    const char *names[3] = {"corpus_tokenizer.json", "gpt2_tokenizer.json", "neox_like_tokenizer.json"};
    int checked[3] = {0};
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "cases")) {
        const char *tn = cJSON_GetObjectItem(c, "tokenizer")->valuestring;
        int k = 0;
        while (k < 3 && strcmp(tn, names[k])) k++;
        ck_assert_int_lt(k, 3);
        const char *hex = cJSON_GetObjectItem(c, "text_hex")->valuestring;
        char *text = malloc(strlen(hex) / 2 + 1);
        size_t len = unhex(hex, text);
        tok_ids v = {0};
        ck_assert_int_eq(tokenizer_encode(tk[k], text, len, &v), 0);
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        ck_assert_msg((int)v.n == cJSON_GetArraySize(want), "%s, text %s: %zu ids, HF %d", tn, hex, v.n, cJSON_GetArraySize(want));
        int i = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, want) {
            ck_assert_msg(v.ids[i] == w->valueint, "%s, text %s, id %d: %d, HF %d", tn, hex, i, v.ids[i], w->valueint);
            i++;
        }
        /* decode(encode(x)) = x after the U+FFFD repair (not with a prefix space) */
        if (k < 2) {
            tok_bytes d = {0}, x = {0};
            tokenizer_decode(tk[k], v.ids, v.n, 0, &d);
            utf8_make_valid(text, len, &x);
            ck_assert_uint_eq(d.n, x.n);
            ck_assert_int_eq(memcmp(d.bytes ? d.bytes : "", x.bytes ? x.bytes : "", d.n), 0);
            tok_bytes_free(&d);
            tok_bytes_free(&x);
        }
        tok_ids_free(&v);
        free(text);
        checked[k]++;
    }
    for (int k = 0; k < 3; k++) {
        ck_assert_int_ge(checked[k], 40);
        tokenizer_free(tk[k]);
    }
    ck_assert_int_eq(tokenizer_eos_id(tk[1] = must_load(GPT2)), 50256);
    ck_assert_int_eq(tokenizer_vocab_size(tk[1]), 50257);
    tokenizer_free(tk[1]);
    cJSON_Delete(g);
    free(s);
}
END_TEST

/* ---------------------------------------------------------------- queue vs quadratic */

typedef struct { char *key; int rank; } merge_key;   /* key "a\x01b" */

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const merge_key *)a)->key, ((const merge_key *)b)->key);
}

typedef struct { merge_key *m; int nm; tokenizer *t; long words; } naive_ctx;

/* The textbook loop: find the lowest-ranked adjacent pair (leftmost on ties), merge it,
 * repeat — O(n²) per word, written independently of tokenizer.c. */
static int naive_word(const char *p, size_t n, void *ctx)
{
    naive_ctx *c = ctx;
    char *sym[256];
    int k = 0;
    if (n > 200) return 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = byte_level_char((uint8_t)p[i]);
        char s[4] = {0};
        if (cp < 0x80) s[0] = (char)cp;
        else { s[0] = (char)(0xC0 | cp >> 6); s[1] = (char)(0x80 | (cp & 0x3F)); }
        sym[k++] = strdup(s);
    }
    for (;;) {
        int best = -1, best_rank = 1 << 30;
        for (int i = 0; i + 1 < k; i++) {
            char key[512];
            snprintf(key, sizeof key, "%s\x01%s", sym[i], sym[i + 1]);
            merge_key q = {key, 0}, *f = bsearch(&q, c->m, (size_t)c->nm, sizeof q, cmp_key);
            if (f && f->rank < best_rank) { best_rank = f->rank; best = i; }
        }
        if (best < 0) break;
        char *j = malloc(strlen(sym[best]) + strlen(sym[best + 1]) + 1);
        strcpy(j, sym[best]);
        strcat(j, sym[best + 1]);
        free(sym[best]);
        free(sym[best + 1]);
        sym[best] = j;
        memmove(sym + best + 1, sym + best + 2, (size_t)(k - best - 2) * sizeof *sym);
        k--;
    }
    tok_ids v = {0};
    tokenizer_encode(c->t, p, n, &v);
    ck_assert_msg((int)v.n == k, "word \"%.*s\": %zu ids, textbook BPE %d", (int)n, p, v.n, k);
    for (int i = 0; i < k; i++) {
        ck_assert_msg(v.ids[i] == tokenizer_token_id(c->t, sym[i]), "word \"%.*s\" symbol %d", (int)n, p, i);
        free(sym[i]);
    }
    tok_ids_free(&v);
    c->words++;
    return 0;
}

START_TEST(test_queue_vs_quadratic)
{
    size_t n;
    char *s = slurp(GPT2, &n);
    cJSON *j = cJSON_ParseWithLength(s, n);
    cJSON *model = cJSON_GetObjectItem(j, "model"), *merges = cJSON_GetObjectItem(model, "merges");
    naive_ctx c = {malloc(sizeof(merge_key) * (size_t)cJSON_GetArraySize(merges)), 0, must_load(GPT2), 0};
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        char *k = strdup(m->valuestring);
        *strchr(k, ' ') = '\x01';
        c.m[c.nm] = (merge_key){k, c.nm};
        c.nm++;
    }
    qsort(c.m, (size_t)c.nm, sizeof *c.m, cmp_key);
    /* words: every pre-token of the golden texts and of random letter strings (seed 5) */
    size_t gn;
    char *g = slurp(GOLDEN, &gn);
    cJSON *gj = cJSON_ParseWithLength(g, gn);
    tok_splitter *sp = tok_splitter_new(errbuf, sizeof errbuf);
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(gj, "cases")) {
        const char *hex = cJSON_GetObjectItem(cs, "text_hex")->valuestring;
        char *text = malloc(strlen(hex) / 2 + 1);
        size_t len = unhex(hex, text);
        tok_bytes x = {0};
        utf8_make_valid(text, len, &x);
        if (x.n && !strstr(x.bytes, "<|endoftext|>")) tok_split(sp, x.bytes, x.n, naive_word, &c);
        tok_bytes_free(&x);
        free(text);
    }
    uint64_t r = 5;
    for (int w = 0; w < 3000; w++) {
        char word[24];
        int len = 1 + (int)(r % 20);
        word[0] = ' ';
        for (int i = 1; i < len; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            word[i] = "etaoinshrdlucmfwypvbgkjqxz"[(r >> 33) % (i % 3 ? 10 : 26)];
        }
        naive_word(word, (size_t)len, &c);
    }
    ck_assert_int_gt(c.words, 3500);
    for (int i = 0; i < c.nm; i++) free(c.m[i].key);
    free(c.m);
    tok_splitter_free(sp);
    tokenizer_free(c.t);
    cJSON_Delete(gj);
    cJSON_Delete(j);
    free(g);
    free(s);
}
END_TEST

/* ---------------------------------------------------------------- random inputs */

static uint64_t lcg(uint64_t *r)
{
    *r = *r * 6364136223846793005ULL + 1442695040888963407ULL;
    return *r >> 33;
}

START_TEST(test_random_bytes_roundtrip)
{
    /* 400 random byte strings (seed 3), biased towards UTF-8 lead and continuation bytes and
     * white space: encode never fails, ids are in the vocabulary, decode gives the repaired
     * input back, and encoding the repaired input gives the same ids */
    tokenizer *tk[2] = {must_load(TRAINED), must_load(GPT2)};
    static const unsigned char pool[] = {' ', ' ', '\n', '\t', 'a', 'e', 'Z', '0', '\'', '<', '|', 0x80,
                                         0xBF, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xED, 0xFF};
    uint64_t r = 3;
    char buf[300];
    for (int it = 0; it < 400; it++) {
        size_t n = lcg(&r) % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(lcg(&r) % 3 ? pool[lcg(&r) % sizeof pool] : (unsigned char)(1 + lcg(&r) % 255));
        for (int k = 0; k < 2; k++) {
            tok_ids a = {0}, b = {0};
            tok_bytes d = {0}, x = {0};
            ck_assert_int_eq(tokenizer_encode(tk[k], buf, n, &a), 0);
            for (size_t i = 0; i < a.n; i++) ck_assert(a.ids[i] >= 0 && a.ids[i] < tokenizer_vocab_size(tk[k]));
            ck_assert_int_eq(tokenizer_decode(tk[k], a.ids, a.n, 0, &d), 0);
            utf8_make_valid(buf, n, &x);
            ck_assert_uint_eq(d.n, x.n);
            ck_assert_int_eq(memcmp(d.bytes ? d.bytes : "", x.bytes ? x.bytes : "", x.n), 0);
            ck_assert_int_eq(tokenizer_encode(tk[k], x.bytes ? x.bytes : "", x.n, &b), 0);
            ck_assert_uint_eq(a.n, b.n);
            ck_assert(a.n == 0 || memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
            tok_ids_free(&a); tok_ids_free(&b); tok_bytes_free(&d); tok_bytes_free(&x);
        }
    }
    tokenizer_free(tk[0]);
    tokenizer_free(tk[1]);
}
END_TEST

START_TEST(test_mutated_files)
{
    /* 3000 copies of a small valid file with 1–4 bytes overwritten (seed 9): each loads or is
     * refused with a message; what loads encodes and decodes a text (ASan/UBSan watch) */
    tok_bytes j = {0};
    tiny_json(&j, ",\"ab\":256,\"abc\":257", "[\"a b\",[\"ab\",\"c\"]]",
              "[{\"id\":258,\"content\":\"<s>\",\"special\":true,\"lstrip\":true}]", BL, "{\"type\":\"NFC\"}");
    char *m = malloc(j.n);
    uint64_t r = 9;
    int loaded = 0, refused = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, j.bytes, j.n);
        static const char junk[] = "{}[]\",:0123456789 abc\\u-.e";
        for (int k = 1 + (int)(lcg(&r) % 4); k > 0; k--) m[lcg(&r) % j.n] = junk[lcg(&r) % (sizeof junk - 1)];
        tokenizer *t = tokenizer_load_from_memory(m, j.n, "mutant.json", errbuf, sizeof errbuf);
        if (!t) {
            ck_assert_msg(strncmp(errbuf, "mutant.json: ", 13) == 0 && strlen(errbuf) > 13, "%s", errbuf);
            refused++;
            continue;
        }
        loaded++;
        tok_ids v = {0};
        tok_bytes d = {0};
        ck_assert_int_eq(tokenizer_encode(t, "abc <s> \xC3\xA9 abcab", 17, &v), 0);
        tokenizer_decode(t, v.ids, v.n, 0, &d);
        tok_ids_free(&v);
        tok_bytes_free(&d);
        tokenizer_free(t);
    }
    ck_assert_int_gt(loaded, 20);     /* both outcomes occur, so both paths are exercised */
    ck_assert_int_gt(refused, 100);
    free(m);
    tok_bytes_free(&j);
}
END_TEST

/* ---------------------------------------------------------------- training, files, CLI */

static const char *sample =
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.\n"
    "It's a truth universally acknowledged, that a single man in possession of a good\n"
    "fortune, must be in want of a wife. Don't they? We'll see: 1, 22, 333, 4444.\n"
    "Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e \xF0\x9F\x8E\x89\xF0\x9F\x8E\x89   \t\n";

START_TEST(test_train_roundtrip)
{
    char dir[] = "/tmp/tok_testXXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.json", dir);
    tok_bytes text = {0};
    for (int i = 0; i < 30; i++) {
        tok_bytes_append(&text, "<|endoftext|>", 13);
        tok_bytes_append(&text, sample, strlen(sample));
    }
    ck_assert_int_eq(tokenizer_train(text.bytes, text.n, 400, path, 0, errbuf, sizeof errbuf), 0);
    tokenizer *t = must_load(path);
    ck_assert_int_eq(tokenizer_vocab_size(t), 400);
    ck_assert_int_eq(tokenizer_eos_id(t), 399);
    tok_ids v = {0};
    ck_assert_int_eq(tokenizer_encode(t, text.bytes, text.n, &v), 0);
    ck_assert_uint_lt(v.n, text.n / 2);   /* 143 merges of a repeated text compress it */
    ck_assert_int_eq(v.ids[0], 399);       /* the document marker is the special token */
    tok_bytes d = {0};
    tokenizer_decode(t, v.ids, v.n, 0, &d);
    ck_assert_uint_eq(d.n, text.n);
    ck_assert_int_eq(memcmp(d.bytes, text.bytes, d.n), 0);
    tok_bytes_free(&d);
    tok_ids_free(&v);
    tokenizer_free(t);
    /* deterministic: training again writes the same bytes */
    char path2[256];
    snprintf(path2, sizeof path2, "%s/t2.json", dir);
    ck_assert_int_eq(tokenizer_train(text.bytes, text.n, 400, path2, 0, errbuf, sizeof errbuf), 0);
    size_t n1, n2;
    char *a = slurp(path, &n1), *b = slurp(path2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(a, b, n1), 0);
    free(a); free(b);
    ck_assert_int_ne(tokenizer_train(text.bytes, text.n, 100, path2, 0, errbuf, sizeof errbuf), 0);
    ck_assert_ptr_nonnull(strstr(errbuf, "257..65536"));
    remove(path); remove(path2); rmdir(dir);
    tok_bytes_free(&text);
}
END_TEST

START_TEST(test_token_files)
{
    char dir[] = "/tmp/tok_testXXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.bin", dir);
    uint16_t tok[1000];
    for (int i = 0; i < 1000; i++) tok[i] = (uint16_t)(i * 7919 % 65536);
    ck_assert_int_eq(corpus_write_tokens(path, tok, 1000, errbuf, sizeof errbuf), 0);
    size_t n;
    uint16_t *back = corpus_read_tokens(path, &n, errbuf, sizeof errbuf);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(n, 1000);
    ck_assert_int_eq(memcmp(back, tok, sizeof tok), 0);
    free(back);
    /* header: magic, version, count (little-endian int32) */
    FILE *f = fopen(path, "r+b");
    int32_t h[3];
    ck_assert_uint_eq(fread(h, 4, 3, f), 3);
    ck_assert_int_eq(h[0], CORPUS_MAGIC);
    ck_assert_int_eq(h[1], 1);
    ck_assert_int_eq(h[2], 1000);
    fseek(f, 8, SEEK_SET);
    int32_t wrong = 999;
    fwrite(&wrong, 4, 1, f);
    fclose(f);
    ck_assert_ptr_null(corpus_read_tokens(path, &n, errbuf, sizeof errbuf));
    ck_assert_ptr_nonnull(strstr(errbuf, "header says 999 tokens"));
    f = fopen(path, "r+b");
    fwrite("XXXX", 1, 4, f);
    fclose(f);
    ck_assert_ptr_null(corpus_read_tokens(path, &n, errbuf, sizeof errbuf));
    ck_assert_ptr_nonnull(strstr(errbuf, "not a token file"));
    remove(path);
    rmdir(dir);
}
END_TEST

/* Run a shell command; return its exit code and the first line of its stderr. */
static int run(const char *cmd, char *err, size_t cap)
{
    char full[2048];
    snprintf(full, sizeof full, "%s 2>/tmp/tok_test_err.%d", cmd, (int)getpid());
    int st = system(full);
    snprintf(full, sizeof full, "/tmp/tok_test_err.%d", (int)getpid());
    FILE *f = fopen(full, "r");
    err[0] = 0;
    if (f) {
        if (!fgets(err, (int)cap, f)) err[0] = 0;
        fclose(f);
    }
    remove(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_cli)
{
    char e[512];
    ck_assert_int_eq(run(TOKENIZE_PATH " encode /nonexistent.json </dev/null", e, sizeof e), 2);
    ck_assert_ptr_nonnull(strstr(e, "/nonexistent.json: cannot open"));
    ck_assert_int_eq(run(TOKENIZE_PATH " encode " LM "/tests/test_tokenizer.c </dev/null", e, sizeof e), 2);
    ck_assert_ptr_nonnull(strstr(e, "invalid JSON"));
    ck_assert_int_eq(run("echo 1 2 99999 | " TOKENIZE_PATH " decode " TRAINED, e, sizeof e), 2);
    ck_assert_ptr_nonnull(strstr(e, "id 99999 outside the vocabulary"));
    ck_assert_int_eq(run("echo 1 x2 | " TOKENIZE_PATH " decode " TRAINED, e, sizeof e), 2);
    ck_assert_ptr_nonnull(strstr(e, "not a token id"));
    ck_assert_int_eq(run(TOKENIZE_PATH " train --vocab 10 x y", e, sizeof e), 2);
    ck_assert_ptr_nonnull(strstr(e, "--vocab 10"));
    ck_assert_int_eq(run(TOKENIZE_PATH " frobnicate", e, sizeof e), 2);
    /* encode | decode gives the text back; GPT-2's ids of a known sentence */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "printf 'Hello world' | %s encode %s | %s decode %s | grep -qx 'Hello world'",
             TOKENIZE_PATH, GPT2, TOKENIZE_PATH, GPT2);
    ck_assert_int_eq(run(cmd, e, sizeof e), 0);
    snprintf(cmd, sizeof cmd, "printf 'Hello world' | %s encode %s | grep -qx '15496 995'", TOKENIZE_PATH, GPT2);
    ck_assert_int_eq(run(cmd, e, sizeof e), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_byte_map);
    tcase_add_test(tc, test_utf8_repair);
    tcase_add_test(tc, test_merge_ranks);
    tcase_add_test(tc, test_merge_ranks_pairs);
    tcase_add_test(tc, test_added_tokens);
    tcase_add_test(tc, test_nfc);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_hf_golden);
    tcase_add_test(tc, test_queue_vs_quadratic);
    tcase_add_test(tc, test_random_bytes_roundtrip);
    tcase_add_test(tc, test_mutated_files);
    tcase_add_test(tc, test_train_roundtrip);
    tcase_add_test(tc, test_token_files);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
