/* common/fuzz/readers.c — see readers.h. */
#include "common/fuzz/readers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/npy.h"
#include "common/safetensors.h"
#include "common/util.h"

int fuzz_read_npy(const char *path, char *err, size_t errlen) {
    npy_array a;
    if (npy_read(path, &a, err, errlen) != 0) return -1;
    npy_free(&a);
    return 0;
}

/* A JSON file as the manifest reader takes it: a regular file of at most
 * JSON_MAX_BYTES, no NUL byte, one strict JSON value. */
int fuzz_read_json(const char *path, char *err, size_t errlen) {
    size_t n = 0;
    FILE *f = fopen_regular(path, JSON_MAX_BYTES, &n, err, errlen);
    if (!f) return -1;
    char *text = xmalloc(n + 1);
    size_t got = fread(text, 1, n, f);
    fclose(f);
    text[got] = 0;
    int rc = -1;
    if (got != n) snprintf(err, errlen, "%s: read failed", path);
    else if (strlen(text) != n) snprintf(err, errlen, "%s: NUL byte at %zu", path, strlen(text));
    else {
        jparser p = {text, NULL};
        jval *v = jparse(&p, 0);
        if (!v) snprintf(err, errlen, "%s: malformed JSON at byte %ld: %s", path, (long)(p.s - text), p.err);
        rc = v ? 0 : -1;
        jfree(v);
    }
    free(text);
    return rc;
}

int fuzz_read_safetensors(const char *path, char *err, size_t errlen) {
    st_file f;
    if (st_read(path, &f, err, errlen) != 0) return -1;
    st_free(&f);
    return 0;
}

int fuzz_read(const char *kind, const char *path, char *err, size_t errlen) {
    if (!strcmp(kind, "npy")) return fuzz_read_npy(path, err, errlen);
    if (!strcmp(kind, "json")) return fuzz_read_json(path, err, errlen);
    if (!strcmp(kind, "safetensors")) return fuzz_read_safetensors(path, err, errlen);
    snprintf(err, errlen, "unknown kind '%s' (npy, json, safetensors)", kind);
    return -2;
}
