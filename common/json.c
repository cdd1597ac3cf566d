/* common/json.c — a minimal JSON reader (see json.h). */
#include "common/json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static char *jstring(jparser *p);

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

void jws(jparser *p) { while (isspace((unsigned char)*p->s)) p->s++; }

static char *jstring(jparser *p) {
    if (*p->s != '"') { p->err = "expected a string"; return NULL; }
    p->s++;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    while (*p->s && *p->s != '"') {
        char c = *p->s++;
        if (c == '\\') {
            c = *p->s++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '"': case '\\': case '/': break;
            case 'u': {
                unsigned v = 0;
                for (int k = 0; k < 4; k++) {
                    if (!isxdigit((unsigned char)*p->s)) { free(out); p->err = "bad \\u escape"; return NULL; }
                    char h = *p->s++;
                    v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                }
                c = v < 128 ? (char)v : '?';
                break;
            }
            default: free(out); p->err = "bad escape in string"; return NULL;
            }
        }
        if (n + 2 > cap) out = realloc(out, cap *= 2);
        out[n++] = c;
    }
    if (*p->s != '"') { free(out); p->err = "unterminated string"; return NULL; }
    p->s++;
    out[n] = 0;
    return out;
}

static jval *jnew(jtype t) {
    jval *v = calloc(1, sizeof *v);
    v->t = t;
    return v;
}

jval *jparse(jparser *p, int depth) {
    if (depth > 32) { p->err = "nesting too deep"; return NULL; }
    jws(p);
    char c = *p->s;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        jval *v = jnew(obj ? J_OBJ : J_ARR);
        p->s++;
        jws(p);
        if (*p->s == (obj ? '}' : ']')) { p->s++; return v; }
        for (;;) {
            char *key = NULL;
            if (obj) {
                jws(p);
                key = jstring(p);
                if (!key) { jfree(v); return NULL; }
                jws(p);
                if (*p->s != ':') { free(key); jfree(v); p->err = "expected ':'"; return NULL; }
                p->s++;
            }
            jval *item = jparse(p, depth + 1);
            if (!item) { free(key); jfree(v); return NULL; }
            v->items = realloc(v->items, (size_t)(v->n + 1) * sizeof *v->items);
            if (obj) v->keys = realloc(v->keys, (size_t)(v->n + 1) * sizeof *v->keys);
            v->items[v->n] = item;
            if (obj) v->keys[v->n] = key;
            v->n++;
            jws(p);
            if (*p->s == ',') { p->s++; continue; }
            if (*p->s == (obj ? '}' : ']')) { p->s++; return v; }
            jfree(v);
            p->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
            return NULL;
        }
    }
    if (c == '"') {
        char *s = jstring(p);
        if (!s) return NULL;
        jval *v = jnew(J_STR);
        v->str = s;
        return v;
    }
    if (strncmp(p->s, "true", 4) == 0 || strncmp(p->s, "false", 5) == 0) {
        jval *v = jnew(J_BOOL);
        v->num = c == 't';
        p->s += c == 't' ? 4 : 5;
        return v;
    }
    if (strncmp(p->s, "null", 4) == 0) { p->s += 4; return jnew(J_NULL); }
    char *end;
    double x = strtod(p->s, &end);
    if (end == p->s) { p->err = "unexpected character"; return NULL; }
    p->s = end;
    jval *v = jnew(J_NUM);
    v->num = x;
    return v;
}

const jval *jget(const jval *o, const char *key) {
    if (!o || o->t != J_OBJ) return NULL;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0) return o->items[i];
    return NULL;
}

