/* common/json.h — JSON for manifests, safetensors headers and config.json.
 *
 * The parsing is cJSON's (Debian libcjson); this layer holds it to strict RFC 8259
 * and hands callers a small typed tree:
 *   - numbers in JSON's grammar only (no nan/inf/0x10/+1/01/.5/1.), finite as doubles;
 *   - no duplicate keys in any object, no \u0000 escapes, no NUL bytes in the text,
 *     nothing but white space after the value, at most JSON_MAX_BYTES of text;
 *   - jint() for the places where an integer belongs (shapes, offsets): a whole
 *     number in [0, max] with max <= 2^53, where a double still counts exactly.
 * Parse with jparse(&(jparser){text}, 0); NULL and p.err (p.s at the error) on error. */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stdint.h>

#define JSON_MAX_BYTES ((size_t)64 << 20)   /* a bigger header or manifest is an error */
#define JSON_MAX_INT   ((uint64_t)1 << 53)  /* the largest integer a double holds exactly */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jval {
    jtype t;
    double num;           /* J_NUM; J_BOOL: 0 or 1 */
    char *str;            /* J_STR */
    int n;                /* J_ARR / J_OBJ: number of items */
    char **keys;          /* J_OBJ */
    struct jval **items;  /* J_ARR / J_OBJ */
} jval;

typedef struct { const char *s; const char *err; } jparser;

/* Parse the whole NUL-terminated text at p->s; on success p->s points at its end.
 * depth: pass 0 (kept for the callers; cJSON limits nesting itself). */
jval *jparse(jparser *p, int depth);
void jws(jparser *p);                           /* skip white space */
const jval *jget(const jval *obj, const char *key);
/* 0 and *out if v is a number that is a whole number in [0, max] (max <= JSON_MAX_INT), else -1. */
int jint(const jval *v, uint64_t max, uint64_t *out);
void jfree(jval *v);
/* 1 if the string has no control character (< 0x20 or 0x7f): safe to print as it is. */
int jprintable(const char *s);

#endif
