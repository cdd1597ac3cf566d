/* common/json.h — a minimal JSON reader for manifests and safetensors headers:
 * objects, arrays, strings, numbers, true/false/null (\\u escapes above ASCII
 * become '?'). Parse with jparse(&(jparser){text}, 0); NULL and p.err on error. */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jval {
    jtype t;
    double num;
    char *str;            /* J_STR */
    int n;                /* J_ARR / J_OBJ: number of items */
    char **keys;          /* J_OBJ */
    struct jval **items;  /* J_ARR / J_OBJ */
} jval;

typedef struct { const char *s; const char *err; } jparser;

jval *jparse(jparser *p, int depth);            /* depth: pass 0 */
void jws(jparser *p);                           /* skip white space */
const jval *jget(const jval *obj, const char *key);
void jfree(jval *v);

#endif
