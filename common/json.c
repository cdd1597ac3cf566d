/* common/json.c — strict JSON through cJSON (see json.h).
 *
 * cJSON parses; two checks around it make it strict. Before: a scan of the text
 * outside strings holds every number to JSON's grammar (cJSON hands "+1", "01",
 * ".5" and "1." to strtod, which takes them), refuses \u0000 and raw control
 * characters (cJSON skips any byte <= 32 as white space).
 * After: copying cJSON's tree into jval (arrays of items, not linked lists) checks
 * that numbers are finite (1e999 overflows to inf) and that no object repeats a key. */
#include "common/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The length of a JSON number at s (RFC 8259 §6: -? int frac? exp?), or 0. */
static size_t number_len(const char *s) {
    const char *p = s;
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (is_digit(*p)) while (is_digit(*p)) p++;
    else return 0;
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) return 0;
        while (is_digit(*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!is_digit(*p)) return 0;
        while (is_digit(*p)) p++;
    }
    /* what cJSON would still read as part of the number makes it malformed ("01", "1.2.3") */
    if (is_digit(*p) || *p == '.' || *p == '+' || *p == '-' || *p == 'e' || *p == 'E') return 0;
    return (size_t)(p - s);
}

/* Scan text[0..len) outside strings; NULL if every number is well-formed, else a
 * reason, with *at the offending byte. */
static const char *lex_check(const char *text, size_t len, size_t *at) {
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        *at = i;
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++) {
                if ((unsigned char)text[i] < 0x20) { *at = i; return "control character in a string (JSON wants it escaped)"; }
                if (text[i] == '\\') {
                    if (i + 5 < len && strncmp(text + i + 1, "u0000", 5) == 0) { *at = i; return "\\u0000 in a string"; }
                    i++;
                }
            }
            continue;
        }
        if ((unsigned char)c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return "control character outside a string";
        if (c == '-' || c == '+' || c == '.' || is_digit(c)) {
            size_t n = number_len(text + i);
            if (n == 0) return "malformed number (JSON numbers only: no nan/inf, hex, leading +, 0 or .)";
            i += n - 1;
        }
    }
    return NULL;
}

static int key_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Copy cJSON's tree into a jval; NULL and *err on a non-finite number or a repeated key. */
static jval *convert(const cJSON *c, const char **err) {
    jval *v = calloc(1, sizeof *v);
    if (!v) { *err = "out of memory"; return NULL; }
    if (cJSON_IsNull(c)) v->t = J_NULL;
    else if (cJSON_IsBool(c)) { v->t = J_BOOL; v->num = cJSON_IsTrue(c); }
    else if (cJSON_IsNumber(c)) {
        v->t = J_NUM;
        v->num = c->valuedouble;
        if (!isfinite(v->num)) { *err = "number out of range of a double"; free(v); return NULL; }
    } else if (cJSON_IsString(c)) {
        v->t = J_STR;
        v->str = strdup(c->valuestring);
        if (!v->str) { *err = "out of memory"; free(v); return NULL; }
    } else if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
        int obj = cJSON_IsObject(c);
        v->t = obj ? J_OBJ : J_ARR;
        int n = cJSON_GetArraySize(c);
        v->items = calloc((size_t)n + 1, sizeof *v->items);
        if (obj) v->keys = calloc((size_t)n + 1, sizeof *v->keys);
        if (!v->items || (obj && !v->keys)) { *err = "out of memory"; jfree(v); return NULL; }
        for (const cJSON *ch = c->child; ch; ch = ch->next) {
            jval *item = convert(ch, err);
            if (!item) { jfree(v); return NULL; }
            v->items[v->n] = item;
            if (obj && !(v->keys[v->n] = strdup(ch->string))) { *err = "out of memory"; jfree(item); jfree(v); return NULL; }
            v->n++;
        }
        if (obj && n > 1) {   /* repeated keys: sort a copy of the key list, compare neighbours */
            char **k = malloc((size_t)n * sizeof *k);
            if (!k) { *err = "out of memory"; jfree(v); return NULL; }
            memcpy(k, v->keys, (size_t)n * sizeof *k);
            qsort(k, (size_t)n, sizeof *k, key_cmp);
            int dup = 0;
            for (int i = 1; i < n && !dup; i++) dup = strcmp(k[i - 1], k[i]) == 0;
            free(k);
            if (dup) { *err = "duplicate key in an object"; jfree(v); return NULL; }
        }
    } else {
        *err = "unexpected JSON value";
        free(v);
        return NULL;
    }
    return v;
}

void jws(jparser *p) {
    while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r') p->s++;
}

jval *jparse(jparser *p, int depth) {
    (void)depth;
    const char *text = p->s;
    size_t len = strnlen(text, JSON_MAX_BYTES + 1);
    if (len > JSON_MAX_BYTES) { p->err = "JSON text over 64 MiB"; return NULL; }
    size_t at = 0;
    if ((p->err = lex_check(text, len, &at))) { p->s = text + at; return NULL; }
    const char *end = NULL;
    cJSON *c = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!c) {
        p->err = "malformed JSON";
        p->s = end && end >= text && end <= text + len ? end : text;
        return NULL;
    }
    jval *v = convert(c, &p->err);
    cJSON_Delete(c);
    p->s = v ? text + len : text;
    return v;
}

const jval *jget(const jval *o, const char *key) {
    if (!o || o->t != J_OBJ) return NULL;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0) return o->items[i];
    return NULL;
}

int jint(const jval *v, uint64_t max, uint64_t *out) {
    if (max > JSON_MAX_INT) max = JSON_MAX_INT;
    if (!v || v->t != J_NUM || !(v->num >= 0) || v->num > (double)max || v->num != floor(v->num)) return -1;
    *out = (uint64_t)v->num;
    return 0;
}

void jfree(jval *v) {
    if (!v) return;
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        if (v->keys) free(v->keys[i]);
        jfree(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v);
}

int jprintable(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}
