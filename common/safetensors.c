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

/* A tensor's byte count, or SIZE_MAX if it overflows. */
static size_t tensor_bytes_checked(const st_tensor *t) {
    size_t n = npy_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] && n > SIZE_MAX / t->shape[d]) return SIZE_MAX;
        n *= t->shape[d];
    }
    return n;
}

/* half: 0, or the 16-bit float kind of the file's data (ST_F16, ST_BF16), widened to F32 on reading */
enum { ST_F16 = 1, ST_BF16 = 2 };
typedef struct { uint64_t begin, end; int i, half; } st_span;

/* IEEE binary16 and bfloat16 to float32: exact (every 16-bit value is a float32 value). */
static float half_to_f32(uint16_t h, int kind) {
    uint32_t u;
    if (kind == ST_BF16) u = (uint32_t)h << 16;
    else {
        uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023;
        if (e == 31) u = sign | 0x7f800000u | (m << 13);                  /* inf, nan */
        else if (e) u = sign | ((e + 112) << 23) | (m << 13);              /* normal: bias 15 -> 127 */
        else if (!m) u = sign;                                             /* zero */
        else {                                                             /* subnormal: normalise */
            e = 113;
            while (!(m & 1024)) { m <<= 1; e--; }
            u = sign | (e << 23) | ((m & 1023) << 13);
        }
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int span_cmp(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Check one header entry against the format; fill t and its byte range. NULL, or why not. */
static const char *st_entry(const char *key, const jval *v, uint64_t data_len, st_tensor *t, st_span *sp) {
    if (strlen(key) >= sizeof t->name) return "name too long";
    if (!v || v->t != J_OBJ) return "entry is not an object";
    for (int k = 0; k < v->n; k++)
        if (strcmp(v->keys[k], "dtype") && strcmp(v->keys[k], "shape") && strcmp(v->keys[k], "data_offsets"))
            return "entry has a key other than dtype, shape, data_offsets";
    const jval *dt = jget(v, "dtype"), *sh = jget(v, "shape"), *off = jget(v, "data_offsets");
    if (!dt || dt->t != J_STR) return "dtype missing or not a string";
    int found = 0;
    for (int d = NPY_F64; d <= NPY_I64; d++)
        if (strcmp(dt->str, st_dtype_name((npy_dtype)d)) == 0) { t->dtype = (npy_dtype)d; found = 1; }
    sp->half = !strcmp(dt->str, "F16") ? ST_F16 : !strcmp(dt->str, "BF16") ? ST_BF16 : 0;
    if (sp->half) { t->dtype = NPY_F32; found = 1; }   /* read as float32 (checkpoints in fp16/bf16) */
    if (!found) return "unsupported dtype (F64, F32, F16, BF16, I32, I64 are read)";
    if (!sh || sh->t != J_ARR || sh->n > NPY_MAX_DIMS) return "shape missing, not an array or of more than 8 dimensions";
    snprintf(t->name, sizeof t->name, "%s", key);
    t->ndim = sh->n;
    for (int d = 0; d < sh->n; d++) {
        uint64_t x;
        if (jint(sh->items[d], data_len, &x) != 0) return "shape entry is not a whole number that fits the file";
        t->shape[d] = (size_t)x;
    }
    if (!off || off->t != J_ARR || off->n != 2 || jint(off->items[0], data_len, &sp->begin) != 0 ||
        jint(off->items[1], data_len, &sp->end) != 0)
        return "data_offsets is not [begin, end] in whole numbers inside the file";
    size_t bytes = tensor_bytes_checked(t);
    if (bytes != SIZE_MAX && sp->half) bytes /= 2;   /* 2 bytes per element in the file */
    if (sp->end < sp->begin || bytes == SIZE_MAX || sp->end - sp->begin != bytes)
        return "data_offsets do not span the tensor's dtype x shape bytes";
    return NULL;
}

/* st_read's failure: the message into err, everything allocated released. */
#define ST_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

int st_read(const char *path, st_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    char *hdr = NULL;
    jval *root = NULL;
    st_span *sp = NULL;
    /* Everything the header claims is checked against the file's length before any
     * allocation sized by it: a forged length costs nothing. */
    size_t file_len = 0;
    FILE *fp = fopen_regular(path, (size_t)1 << 40, &file_len, err, errlen);
    if (!fp) return -1;
    unsigned char n8[8];
    if (fread(n8, 1, 8, fp) != 8) ST_FAIL("%s: corrupt checkpoint: truncated before the header length", path);
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)n8[k] << (8 * k);
    if (hlen < 2 || hlen > file_len - 8 || hlen > JSON_MAX_BYTES)
        ST_FAIL("%s: corrupt checkpoint: header length %llu does not fit the file (%zu bytes) or the %zu-byte limit",
                path, (unsigned long long)hlen, file_len, JSON_MAX_BYTES);
    hdr = xmalloc((size_t)hlen + 1);
    if (fread(hdr, 1, (size_t)hlen, fp) != hlen) ST_FAIL("%s: corrupt checkpoint: truncated header", path);
    hdr[hlen] = 0;
    if (strlen(hdr) != hlen) ST_FAIL("%s: corrupt checkpoint: NUL byte in the header", path);
    const uint64_t data_len = file_len - 8 - hlen;

    jparser p = {hdr, NULL};
    root = jparse(&p, 0);
    if (!root || root->t != J_OBJ)
        ST_FAIL("%s: corrupt checkpoint: header is not a JSON object (%s, at byte %ld)", path,
                p.err ? p.err : "not an object", (long)(p.s - hdr));
    free(hdr);
    hdr = NULL;
    sp = xcalloc((size_t)root->n + 1, sizeof *sp);
    f->t = xcalloc((size_t)root->n + 1, sizeof *f->t);
    f->used = xcalloc((size_t)root->n + 1, 1);
    size_t meta_len = 1;
    const jval *md = NULL;
    for (int i = 0; i < root->n; i++) {
        const char *key = root->keys[i];
        const jval *v = root->items[i];
        if (strcmp(key, "__metadata__") == 0) {   /* an object of string values, kept for st_meta */
            md = v;
            if (v->t != J_OBJ) ST_FAIL("%s: corrupt checkpoint: __metadata__ is not an object", path);
            for (int k = 0; k < v->n; k++) {
                if (v->items[k]->t != J_STR) ST_FAIL("%s: corrupt checkpoint: __metadata__ \"%s\" is not a string", path, v->keys[k]);
                if (strpbrk(v->keys[k], "\x1e\x1f") || strpbrk(v->items[k]->str, "\x1e\x1f"))
                    ST_FAIL("%s: corrupt checkpoint: __metadata__ \"%s\" holds control characters", path, v->keys[k]);
                meta_len += strlen(v->keys[k]) + strlen(v->items[k]->str) + 2;
            }
            continue;
        }
        if (f->n == ST_MAX_TENSORS) ST_FAIL("%s: corrupt checkpoint: more than %d tensors", path, ST_MAX_TENSORS);
        const char *bad = st_entry(key, v, data_len, &f->t[f->n], &sp[f->n]);
        if (bad) ST_FAIL("%s: corrupt checkpoint: tensor '%.160s': %s", path, key, bad);
        sp[f->n].i = f->n;
        f->n++;
    }
    /* The byte ranges must tile the data buffer: sorted, no gap, no overlap, no tail. */
    qsort(sp, (size_t)f->n, sizeof *sp, span_cmp);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        if (sp[i].begin != at)
            ST_FAIL("%s: corrupt checkpoint: tensor '%s': data_offsets %s", path, f->t[sp[i].i].name,
                    sp[i].begin < at ? "overlap another tensor's" : "leave a gap before it");
        at = sp[i].end;
    }
    if (at != data_len)
        ST_FAIL("%s: corrupt checkpoint: tensors cover %llu bytes, the file holds %llu after the header",
                path, (unsigned long long)at, (unsigned long long)data_len);
    /* Metadata as "key\x1fvalue\x1e" records for st_meta. */
    if (md) {
        f->metadata = xmalloc(meta_len);
        size_t w = 0;
        for (int k = 0; k < md->n; k++)
            w += (size_t)snprintf(f->metadata + w, meta_len - w, "%s\x1f%s\x1e", md->keys[k], md->items[k]->str);
        f->metadata[w] = 0;
    }
    jfree(root);
    root = NULL;
    /* The data: each tensor at an 8-byte aligned place of one buffer, so a float64
     * tensor at an odd offset of the file is still read through an aligned pointer. */
    size_t total = 0;
    for (int i = 0; i < f->n; i++) total += (tensor_bytes(&f->t[sp[i].i]) + 7) & ~(size_t)7;
    f->blob = xmalloc(total ? total : 1);
    size_t w = 0;
    for (int i = 0; i < f->n; i++) {
        st_tensor *t = &f->t[sp[i].i];
        size_t b = tensor_bytes(t), fb = sp[i].half ? b / 2 : b;
        /* a 16-bit tensor goes into the upper half of its float32 slot, then widens in place
         * front to back (element k's 4 bytes end where element k+1's 2 bytes begin) */
        char *slot = (char *)f->blob + w, *src = slot + (b - fb);
        if (fseeko(fp, (off_t)(8 + hlen + sp[i].begin), SEEK_SET) != 0 || fread(src, 1, fb, fp) != fb)
            ST_FAIL("%s: read failed at tensor '%s' (file changed while reading?)", path, t->name);
        for (size_t k = 0; sp[i].half && k < b / 4; k++) {
            uint16_t h;
            memcpy(&h, src + 2 * k, 2);
            const float x = half_to_f32(h, sp[i].half);
            memcpy(slot + 4 * k, &x, 4);
        }
        t->data = slot;
        w += (b + 7) & ~(size_t)7;
    }
    free(sp);
    fclose(fp);
    return 0;
fail:
    free(hdr);
    jfree(root);
    free(sp);
    fclose(fp);
    st_free(f);
    return -1;
}

void st_load(const char *path, st_file *f) {
    char err[1024];
    if (st_read(path, f, err, sizeof err) != 0) die(EXIT_BAD_INPUT, "%s", err);
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
        f->used[i] = 1;
        return t->data;
    }
    die(EXIT_BAD_INPUT, "%s: checkpoint has no tensor '%s'", f->path, name);
}

const void *st_get_range(const st_file *f, const char *name, npy_dtype dtype, int ndim, const size_t *shape,
                         double lo, double hi) {
    const void *d = st_get(f, name, dtype, ndim, shape);
    const st_tensor *t = NULL;
    for (int i = 0; i < f->n && !t; i++)
        if (strcmp(f->t[i].name, name) == 0) t = &f->t[i];
    size_t n = tensor_bytes(t) / npy_dtype_size(dtype);
    for (size_t i = 0; i < n; i++) {
        double x = dtype == NPY_F64 ? ((const double *)d)[i] : dtype == NPY_F32 ? ((const float *)d)[i]
                 : dtype == NPY_I32 ? ((const int32_t *)d)[i] : (double)((const int64_t *)d)[i];
        if (!(x >= lo && x <= hi))   /* NaN fails too */
            die(EXIT_BAD_INPUT, "%s: tensor '%s': element %zu is %g, expected a finite value in [%g, %g]",
                f->path, name, i, x, lo, hi);
    }
    return d;
}

void st_done(const st_file *f) {
    for (int i = 0; i < f->n; i++)
        if (!f->used[i])
            die(EXIT_BAD_INPUT, "%s: tensor '%s' is not part of this model (a checkpoint of another run?)", f->path, f->t[i].name);
}

long st_meta_int(const st_file *f, const char *key, long lo, long hi) {
    char buf[64], *end;
    if (st_meta(f, key, buf, sizeof buf) != 0) die(EXIT_BAD_INPUT, "%s: metadata has no \"%s\"", f->path, key);
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (end == buf || *end || errno || v < lo || v > hi)
        die(EXIT_BAD_INPUT, "%s: metadata \"%s\" = \"%s\", expected a whole number in [%ld, %ld]", f->path, key, buf, lo, hi);
    return v;
}

void st_meta_expect(const st_file *f, const char *key, const char *want) {
    char buf[256];
    if (st_meta(f, key, buf, sizeof buf) != 0) die(EXIT_BAD_INPUT, "%s: metadata has no \"%s\"", f->path, key);
    if (strcmp(buf, want) != 0)
        die(EXIT_BAD_INPUT, "%s: metadata \"%s\" = \"%s\", this run has \"%s\" (a checkpoint of another run?)", f->path, key, buf, want);
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
    free(f->used);
    f->t = NULL;
    f->used = NULL;
    f->blob = NULL;
    f->metadata = NULL;
    f->n = 0;
}
