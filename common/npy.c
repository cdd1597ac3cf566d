/* common/npy.c — .npy v1.0 reader and writer.
 *
 * The format: the magic "\x93NUMPY", version bytes 1 0, a little-endian uint16
 * header length, then an ASCII Python dict such as
 *     {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline so the data starts on a 64-byte boundary, then
 * the raw data in C order. We read version 1.0 only (what numpy.save writes for
 * headers under 64 KiB) and reject everything we cannot read faithfully. */
#include "common/npy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

/* The largest array we will read or write: 2^34 bytes (16 GiB). Beyond that a
 * header is far more likely corrupt than honest. */
#define NPY_MAX_BYTES ((size_t)1 << 34)

size_t npy_dtype_size(npy_dtype t) { return (t == NPY_F64 || t == NPY_I64) ? 8 : 4; }

const char *npy_dtype_name(npy_dtype t) {
    static const char *names[] = {"float64", "float32", "int32", "int64"};
    return names[t];
}

const char *npy_dtype_descr(npy_dtype t) {
    static const char *descr[] = {"<f8", "<f4", "<i4", "<i8"};
    return descr[t];
}

static int fail(char *err, size_t len, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t len, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, len, "%s: %s", path, msg);
    return -1;
}

/* Find the value text after 'key': in the header dict. */
static const char *dict_value(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static int parse_header(const char *path, const char *hdr, npy_array *a, char *err, size_t len) {
    if (hdr[0] != '{') return fail(err, len, path, "header is not a dict");
    const char *d = dict_value(hdr, "descr");
    if (!d || (*d != '\'' && *d != '"')) return fail(err, len, path, "header has no 'descr'");
    char descr[16] = {0};
    size_t k = 0;
    for (d++; *d && *d != '\'' && *d != '"' && k < sizeof descr - 1; d++) descr[k++] = *d;
    if (descr[0] == '>') return fail(err, len, path, "big-endian data ('%s') is not supported; save little-endian", descr);
    int found = 0;
    for (int t = NPY_F64; t <= NPY_I64; t++) {
        const char *want = npy_dtype_descr((npy_dtype)t);
        /* '|' and '=' mean native order; on the little-endian hosts we support that is '<'. */
        if (strcmp(descr, want) == 0 || ((descr[0] == '=' || descr[0] == '|') && strcmp(descr + 1, want + 1) == 0)) {
            a->dtype = (npy_dtype)t;
            found = 1;
        }
    }
    if (!found) return fail(err, len, path, "unsupported dtype '%s' (expected <f8, <f4, <i4 or <i8)", descr);

    const char *f = dict_value(hdr, "fortran_order");
    if (!f) return fail(err, len, path, "header has no 'fortran_order'");
    if (strncmp(f, "True", 4) == 0) return fail(err, len, path, "Fortran order is not supported; save in C order");
    if (strncmp(f, "False", 5) != 0) return fail(err, len, path, "malformed 'fortran_order'");

    const char *s = dict_value(hdr, "shape");
    if (!s || *s != '(') return fail(err, len, path, "header has no 'shape' tuple");
    s++;
    a->ndim = 0;
    a->size = 1;
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        if (!isdigit((unsigned char)*s)) return fail(err, len, path, "malformed 'shape'");
        if (a->ndim == NPY_MAX_DIMS) return fail(err, len, path, "more than %d dimensions", NPY_MAX_DIMS);
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || v > NPY_MAX_BYTES) return fail(err, len, path, "absurd dimension %s", s);
        a->shape[a->ndim++] = (size_t)v;
        if (v && a->size > NPY_MAX_BYTES / v) return fail(err, len, path, "absurd shape (too many elements)");
        a->size *= (size_t)v;
        s = end;
    }
    if (a->size > NPY_MAX_BYTES / npy_dtype_size(a->dtype)) return fail(err, len, path, "absurd shape (over 16 GiB)");
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(err, errlen, path, "cannot open: %s", strerror(errno));
    unsigned char pre[10];
    if (fread(pre, 1, 10, fp) != 10) { fclose(fp); return fail(err, errlen, path, "truncated (no .npy preamble)"); }
    if (memcmp(pre, "\x93NUMPY", 6) != 0) { fclose(fp); return fail(err, errlen, path, "not a .npy file (bad magic)"); }
    if (pre[6] != 1 || pre[7] != 0) { fclose(fp); return fail(err, errlen, path, "unsupported .npy version %d.%d (expected 1.0)", pre[6], pre[7]); }
    size_t hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    char *hdr = malloc(hlen + 1);
    if (!hdr) { fclose(fp); return fail(err, errlen, path, "out of memory"); }
    if (fread(hdr, 1, hlen, fp) != hlen) { free(hdr); fclose(fp); return fail(err, errlen, path, "truncated header"); }
    hdr[hlen] = 0;
    int rc = parse_header(path, hdr, out, err, errlen);
    free(hdr);
    if (rc) { fclose(fp); return rc; }

    size_t bytes = out->size * npy_dtype_size(out->dtype);
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data) { fclose(fp); return fail(err, errlen, path, "out of memory for %zu bytes", bytes); }
    size_t got = fread(out->data, 1, bytes, fp);
    int extra = fgetc(fp) != EOF;
    fclose(fp);
    if (got != bytes) {
        npy_free(out);
        return fail(err, errlen, path, "truncated data: header promises %zu bytes, file has %zu", bytes, got);
    }
    if (extra) {
        npy_free(out);
        return fail(err, errlen, path, "header/shape mismatch: bytes remain after the %zu data bytes", bytes);
    }
    return 0;
}

int npy_write(const char *path, npy_dtype dtype, int ndim, const size_t *shape, const void *data,
              char *err, size_t errlen) {
    if (ndim < 0 || ndim > NPY_MAX_DIMS) return fail(err, errlen, path, "cannot write %d dimensions", ndim);
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", npy_dtype_descr(dtype));
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%zu%s", shape[i], (ndim == 1 || i < ndim - 1) ? ", " : "");
        count *= shape[i];
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Pad with spaces so magic(6)+version(2)+len(2)+dict+'\n' is a multiple of 64. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;

    char tmp[4200];
    FILE *fp = atomic_fopen(path, tmp, sizeof tmp);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, 10, fp);
    fwrite(dict, 1, (size_t)n, fp);
    for (size_t i = 0; i < pad; i++) fputc(' ', fp);
    fputc('\n', fp);
    size_t bytes = count * npy_dtype_size(dtype);
    if (bytes && fwrite(data, 1, bytes, fp) != bytes) {
        fclose(fp);
        remove(tmp);
        return fail(err, errlen, path, "write failed");
    }
    atomic_fclose(fp, tmp, path);
    return 0;
}

void npy_free(npy_array *a) {
    free(a->data);
    a->data = NULL;
    a->size = 0;
    a->ndim = 0;
}

void npy_read_or_die(const char *path, npy_array *out) {
    char err[1024];
    if (npy_read(path, out, err, sizeof err)) die(EXIT_BAD_INPUT, "%s", err);
}

void npy_write_or_die(const char *path, npy_dtype dtype, int ndim, const size_t *shape, const void *data) {
    char err[1024];
    if (npy_write(path, dtype, ndim, shape, data, err, sizeof err)) die(EXIT_BAD_INPUT, "%s", err);
}

double *npy_to_f64(const npy_array *a) {
    double *x = xmalloc_f64(a->size);
    for (size_t i = 0; i < a->size; i++) {
        switch (a->dtype) {
        case NPY_F64: x[i] = ((const double *)a->data)[i]; break;
        case NPY_F32: x[i] = ((const float *)a->data)[i]; break;
        case NPY_I32: x[i] = ((const int32_t *)a->data)[i]; break;
        case NPY_I64: x[i] = (double)((const int64_t *)a->data)[i]; break;
        }
    }
    return x;
}

double *npy_load_f64(const char *path, const char *what, int ndim, size_t *shape) {
    npy_array a;
    npy_read_or_die(path, &a);
    if (ndim >= 0 && a.ndim != ndim) {
        int nd = a.ndim;
        npy_free(&a);
        die(EXIT_BAD_INPUT, "%s (%s): expected %d dimensions, got %d", what, path, ndim, nd);
    }
    for (int i = 0; i < a.ndim; i++) shape[i] = a.shape[i];
    double *x = npy_to_f64(&a);
    size_t n = a.size;
    npy_free(&a);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            double v = x[i];
            free(x);
            die(EXIT_BAD_INPUT, "%s (%s): element %zu is %g (expected finite values)", what, path, i, v);
        }
    return x;
}

/* ======================= typed elements ======================= */

size_t elem_size(elem_type t) {
    static const size_t bytes[] = {8, 4, 16, 8, 8, 4};
    return bytes[t];
}

npy_dtype elem_dtype(elem_type t) {
    static const npy_dtype d[] = {NPY_F64, NPY_F32, NPY_F64, NPY_F32, NPY_I64, NPY_I32};
    return d[t];
}

int elem_is_complex(elem_type t) { return t == ELEM_C128 || t == ELEM_C64; }
int elem_is_float(elem_type t) { return t <= ELEM_C64; }

const char *elem_name(elem_type t) {
    static const char *names[] = {"float64", "float32", "complex128 as float64 pairs (..., 2)",
                                  "complex64 as float32 pairs (..., 2)", "int64", "int32"};
    return names[t];
}

int npy_write_elems(const char *path, elem_type t, int ndim, const size_t *shape, const void *data,
                    char *err, size_t errlen) {
    size_t fshape[NPY_MAX_DIMS];
    int fdim = ndim + elem_is_complex(t);
    if (ndim < 0 || fdim > NPY_MAX_DIMS) return fail(err, errlen, path, "cannot write %d dimensions", ndim);
    for (int d = 0; d < ndim; d++) fshape[d] = shape[d];
    if (elem_is_complex(t)) fshape[ndim] = 2;   /* a complex is its (re, im) pair, contiguous */
    return npy_write(path, elem_dtype(t), fdim, fshape, data, err, errlen);
}

int npy_read_elems(const char *path, elem_type t, int *ndim, size_t shape[NPY_MAX_DIMS], void **data,
                   char *err, size_t errlen) {
    *data = NULL;
    npy_array a;
    if (npy_read(path, &a, err, errlen)) return -1;
    const int file_float = a.dtype == NPY_F64 || a.dtype == NPY_F32;
    if (elem_is_float(t) != file_float) {
        int rc = fail(err, errlen, path, "dtype %s, expected %s", npy_dtype_name(a.dtype), elem_name(t));
        npy_free(&a);
        return rc;
    }
    if (elem_is_complex(t) && (a.ndim == 0 || a.shape[a.ndim - 1] != 2)) {
        int rc = fail(err, errlen, path, "expected complex numbers as (re, im) pairs: a last dimension of 2, got %s%zu",
                      a.ndim ? "" : "a scalar", a.ndim ? a.shape[a.ndim - 1] : (size_t)0);
        npy_free(&a);
        return rc;
    }
    *ndim = a.ndim - elem_is_complex(t);
    for (int d = 0; d < *ndim; d++) shape[d] = a.shape[d];
    const size_t n = a.size;   /* scalars: complex counts both parts */
    if (file_float) {
        for (size_t i = 0; i < n; i++) {
            double v = a.dtype == NPY_F64 ? ((const double *)a.data)[i] : ((const float *)a.data)[i];
            if (!isfinite(v)) {
                int rc = fail(err, errlen, path, "element %zu is %g (expected finite values)", i, v);
                npy_free(&a);
                return rc;
            }
        }
    }
    if (a.dtype == elem_dtype(t)) {   /* the file holds exactly our type: take its buffer */
        *data = a.data;
        return 0;
    }
    void *out = xmalloc(n ? n * npy_dtype_size(elem_dtype(t)) : 1);
    for (size_t i = 0; i < n; i++) {
        switch (a.dtype) {
        case NPY_F64: ((float *)out)[i] = (float)((const double *)a.data)[i]; break;   /* to f32 */
        case NPY_F32: ((double *)out)[i] = ((const float *)a.data)[i]; break;          /* to f64 */
        case NPY_I64: {
            int64_t v = ((const int64_t *)a.data)[i];
            if (v < INT32_MIN || v > INT32_MAX) {
                free(out);
                npy_free(&a);
                return fail(err, errlen, path, "element %zu = %lld does not fit int32", i, (long long)v);
            }
            ((int32_t *)out)[i] = (int32_t)v;
            break;
        }
        case NPY_I32: ((int64_t *)out)[i] = ((const int32_t *)a.data)[i]; break;
        }
    }
    npy_free(&a);
    *data = out;
    return 0;
}

void *npy_load(const char *path, const char *what, elem_type t, int ndim, size_t *shape) {
    char err[1200];
    int nd;
    size_t sh[NPY_MAX_DIMS];
    void *x;
    if (npy_read_elems(path, t, &nd, sh, &x, err, sizeof err)) die(EXIT_BAD_INPUT, "%s (%s)", err, what);
    if (ndim >= 0 && nd != ndim) {
        free(x);
        die(EXIT_BAD_INPUT, "%s (%s): expected %d dimensions%s, got %d", path, what, ndim,
            elem_is_complex(t) ? " plus the (re, im) pair" : "", nd);
    }
    for (int d = 0; d < nd; d++) shape[d] = sh[d];
    return x;
}

void npy_save(const char *path, elem_type t, int ndim, const size_t *shape, const void *data) {
    char err[1200];
    if (npy_write_elems(path, t, ndim, shape, data, err, sizeof err)) die(EXIT_BAD_INPUT, "%s", err);
}
