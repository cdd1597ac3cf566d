/* common/safetensors.c — checkpoints in the safetensors format (see safetensors.h).
 * Layout: u64 little-endian N, then N bytes of JSON header
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the data buffer; offsets are relative to its start. */
#include "common/safetensors.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"

static const char *st_dtype_name(npy_dtype t) {
    static const char *n[] = {"F64", "F32", "I32", "I64"};
    return n[t];
}

static size_t tensor_bytes(const st_tensor *t) {
    size_t n = npy_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

void st_save(const char *path, const st_tensor *tensors, int n, const char *metadata) {
    /* Build the header text. */
    size_t cap = 4096 + (size_t)n * 256 + (metadata ? strlen(metadata) : 0), len = 0;
    char *hdr = xmalloc(cap);
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    if (metadata && *metadata) len += (size_t)snprintf(hdr + len, cap - len, "\"__metadata__\":{%s},", metadata);
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *t = &tensors[i];
        len += (size_t)snprintf(hdr + len, cap - len, "\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name, st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) len += (size_t)snprintf(hdr + len, cap - len, "%s%zu", d ? "," : "", t->shape[d]);
        size_t b = tensor_bytes(t);
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%zu,%zu]}%s", offset, offset + b, i + 1 < n ? "," : "");
        offset += b;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    if (len >= cap) die(EXIT_BAD_INPUT, "%s: checkpoint header too large", path);
    while (len % 8) hdr[len++] = ' ';   /* align the data buffer to 8 bytes, as the reference writer does */

    char tmp[4200];
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    unsigned char n8[8];
    for (int k = 0; k < 8; k++) n8[k] = (unsigned char)((uint64_t)len >> (8 * k));
    fwrite(n8, 1, 8, f);
    fwrite(hdr, 1, len, f);
    for (int i = 0; i < n; i++) fwrite(tensors[i].data, 1, tensor_bytes(&tensors[i]), f);
    free(hdr);
    atomic_fclose(f, tmp, path);
}

void st_load(const char *path, st_file *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) die(EXIT_BAD_INPUT, "%s: cannot open checkpoint: %s", path, strerror(errno));
    unsigned char n8[8];
    if (fread(n8, 1, 8, fp) != 8) { fclose(fp); die(EXIT_BAD_INPUT, "%s: corrupt checkpoint: truncated before the header length", path); }
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)n8[k] << (8 * k);
    if (hlen < 2 || hlen > (1u << 26)) { fclose(fp); die(EXIT_BAD_INPUT, "%s: corrupt checkpoint: header length %llu is absurd", path, (unsigned long long)hlen); }
    char *hdr = xmalloc((size_t)hlen + 1);
    if (fread(hdr, 1, (size_t)hlen, fp) != hlen) { free(hdr); fclose(fp); die(EXIT_BAD_INPUT, "%s: corrupt checkpoint: truncated header", path); }
    hdr[hlen] = 0;
    long data_start = ftell(fp);
    fseek(fp, 0, SEEK_END);
    long file_end = ftell(fp);
    size_t data_len = (size_t)(file_end - data_start);
    fseek(fp, data_start, SEEK_SET);
    f->blob = xmalloc(data_len ? data_len : 1);
    if (fread(f->blob, 1, data_len, fp) != data_len) { fclose(fp); die(EXIT_BAD_INPUT, "%s: read failed", path); }
    fclose(fp);

    f->t = xcalloc(ST_MAX_TENSORS, sizeof *f->t);
    jparser p = {hdr, NULL};
    jval *root = jparse(&p, 0);
    if (!root || root->t != J_OBJ) { free(hdr); die(EXIT_BAD_INPUT, "%s: corrupt checkpoint: header is not a JSON object (%s)", path, p.err ? p.err : "not an object"); }
    size_t covered = 0;
    for (int i = 0; i < root->n; i++) {
        const char *key = root->keys[i];
        const jval *v = root->items[i];
        if (strcmp(key, "__metadata__") == 0) {
            /* Keep the raw text of the metadata object for st_meta. */
            size_t m = 2;
            for (int k = 0; k < v->n; k++) m += strlen(v->keys[k]) + (v->items[k]->str ? strlen(v->items[k]->str) : 0) + 8;
            f->metadata = xmalloc(m + 1);
            size_t w = 0;
            for (int k = 0; k < v->n; k++)
                if (v->items[k]->t == J_STR) w += (size_t)snprintf(f->metadata + w, m + 1 - w, "%s\x1f%s\x1e", v->keys[k], v->items[k]->str);
            f->metadata[w] = 0;
            continue;
        }
        if (f->n == ST_MAX_TENSORS) die(EXIT_BAD_INPUT, "%s: more than %d tensors", path, ST_MAX_TENSORS);
        st_tensor *t = &f->t[f->n];
        const jval *dt = jget(v, "dtype"), *sh = jget(v, "shape"), *off = jget(v, "data_offsets");
        if (strlen(key) >= sizeof t->name || !dt || dt->t != J_STR || !sh || sh->t != J_ARR || sh->n > NPY_MAX_DIMS || !off ||
            off->t != J_ARR || off->n != 2 || off->items[0]->t != J_NUM || off->items[1]->t != J_NUM)
            die(EXIT_BAD_INPUT, "%s: corrupt checkpoint: bad entry for tensor '%s'", path, key);
        int found = 0;
        for (int d = NPY_F64; d <= NPY_I64; d++)
            if (strcmp(dt->str, st_dtype_name((npy_dtype)d)) == 0) { t->dtype = (npy_dtype)d; found = 1; }
        if (!found) die(EXIT_BAD_INPUT, "%s: tensor '%s' has unsupported dtype %s", path, key, dt->str);
        snprintf(t->name, sizeof t->name, "%s", key);
        t->ndim = sh->n;
        for (int d = 0; d < sh->n; d++) {
            if (sh->items[d]->t != J_NUM || sh->items[d]->num < 0 || sh->items[d]->num > 1e12)
                die(EXIT_BAD_INPUT, "%s: tensor '%s' has a bad shape", path, key);
            t->shape[d] = (size_t)sh->items[d]->num;
        }
        double b = off->items[0]->num, e = off->items[1]->num;
        if (b < 0 || e < b || e > (double)data_len || (size_t)(e - b) != tensor_bytes(t))
            die(EXIT_BAD_INPUT, "%s: corrupt checkpoint: tensor '%s' data_offsets [%.0f, %.0f] do not fit its shape or the file (%zu data bytes)",
                path, key, b, e, data_len);
        t->data = (const char *)f->blob + (size_t)b;
        covered += (size_t)(e - b);
        f->n++;
    }
    jfree(root);
    free(hdr);
    if (covered != data_len)
        die(EXIT_BAD_INPUT, "%s: corrupt checkpoint: tensors cover %zu bytes, the file holds %zu", path, covered, data_len);
}

const void *st_get(const st_file *f, const char *name, npy_dtype dtype, int ndim, const size_t *shape) {
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->t[i];
        if (strcmp(t->name, name) != 0) continue;
        if (t->dtype != dtype) die(EXIT_BAD_INPUT, "%s: tensor '%s': expected dtype %s, got %s", f->path, name, st_dtype_name(dtype), st_dtype_name(t->dtype));
        if (ndim >= 0) {
            int same = t->ndim == ndim;
            for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
            if (!same) {
                char a[128] = "", b[128] = "";
                for (int d = 0; d < ndim; d++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%zu", d ? "," : "", shape[d]);
                for (int d = 0; d < t->ndim; d++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%zu", d ? "," : "", t->shape[d]);
                die(EXIT_BAD_INPUT, "%s: tensor '%s': expected shape (%s), got (%s)", f->path, name, a, b);
            }
        }
        return t->data;
    }
    die(EXIT_BAD_INPUT, "%s: checkpoint has no tensor '%s'", f->path, name);
}

int st_meta(const st_file *f, const char *key, char *buf, size_t len) {
    if (!f->metadata) return -1;
    size_t kl = strlen(key);
    for (const char *p = f->metadata; *p;) {
        const char *sep = strchr(p, '\x1f'), *end = strchr(p, '\x1e');
        if (!sep || !end) break;
        if ((size_t)(sep - p) == kl && strncmp(p, key, kl) == 0) {
            snprintf(buf, len, "%.*s", (int)(end - sep - 1), sep + 1);
            return 0;
        }
        p = end + 1;
    }
    return -1;
}

void st_free(st_file *f) {
    free(f->blob);
    free(f->metadata);
    free(f->t);
    f->t = NULL;
    f->blob = NULL;
    f->metadata = NULL;
    f->n = 0;
}
