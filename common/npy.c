/* common/npy.c — .npy v1.0 reader and writer.
 *
 * The format: the magic "\x93NUMPY", version bytes 1 0, a little-endian uint16
 * header length, then an ASCII Python dict such as
 *     {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline so the data starts on a 64-byte boundary, then
 * the raw data in C order. We read versions 1.0-3.0 (numpy.save writes 1.0 for
 * headers under 64 KiB) with the header grammar NumPy accepts (below) and reject
 * everything we cannot read faithfully. */
#include "common/npy.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
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

/* ---- the header: a Python dict literal, read as numpy.lib.format does ----
 * NumPy evaluates the header with ast.literal_eval and then requires a dict whose keys
 * are exactly 'descr', 'fortran_order' and 'shape' (a repeated key: the last one wins,
 * as in any Python dict), 'fortran_order' a bool and 'shape' a tuple of ints; headers
 * over 10000 bytes are refused (its max_header_size). We parse that grammar — quotes
 * of either kind, any white space, keys in any order, trailing commas, "(3,)" a tuple
 * but "(3)" an int — and reject the rest. Python literal forms NumPy would also take
 * but no writer produces (hex or signed dimensions, comments, escapes or prefixes in
 * strings) are rejected too: never more than NumPy accepts. Checked against NumPy 1.24
 * on 43 headers (common/tests/test_harden.c, npy_header_matches_numpy). */
#define NPY_MAX_HEADER 10000

static const char *py_ws(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f') s++;
    return s;
}

/* A plain string literal 'x' or "x" (no backslash) into buf; NULL if not one. */
static const char *py_str(const char *s, char *buf, size_t len) {
    char q = *s;
    if (q != '\'' && q != '"') return NULL;
    size_t n = 0;
    for (s++; *s && *s != q; s++) {
        if (*s == '\\' || *s == '\n' || n + 1 >= len) return NULL;
        buf[n++] = *s;
    }
    if (*s != q) return NULL;
    buf[n] = 0;
    return s + 1;
}

/* A decimal int: digits, no leading zero unless all zeros ("03" is a SyntaxError in
 * Python 3; NumPy 1.24 also refuses "1_1"). */
static const char *py_uint(const char *s, unsigned long long *v) {
    if (!isdigit((unsigned char)*s)) return NULL;
    int zero_lead = *s == '0';
    unsigned long long x = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (zero_lead && *s != '0') return NULL;
        unsigned d = (unsigned)(*s - '0');
        if (x > (ULLONG_MAX - d) / 10) return NULL;
        x = x * 10 + d;
    }
    *v = x;
    return s;
}

/* The shape tuple: "()", "(n,)", "(n, m)", "(n, m,)". */
static const char *py_shape(const char *s, npy_array *a) {
    if (*s != '(') return NULL;
    s = py_ws(s + 1);
    int n = 0, comma = 0;
    while (*s != ')') {
        unsigned long long v;
        if (n == NPY_MAX_DIMS || !(s = py_uint(s, &v))) return NULL;
        a->shape[n++] = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
        s = py_ws(s);
        comma = *s == ',';
        if (comma) s = py_ws(s + 1);
        else if (*s != ')') return NULL;
    }
    if (n == 1 && !comma) return NULL;   /* "(3)" is the int 3, not a tuple */
    a->ndim = n;
    return s + 1;
}

static int parse_header(const char *path, const char *hdr, npy_array *a, char *err, size_t len) {
    char descr[32] = "", key[32];
    int fortran = -1, have_shape = 0;
    npy_array shape_of = {0};
    const char *s = py_ws(hdr);
    if (*s != '{') return fail(err, len, path, "header is not a dict");
    s = py_ws(s + 1);
    while (*s != '}') {
        if (!(s = py_str(s, key, sizeof key))) return fail(err, len, path, "malformed header dict (a key is not a plain string)");
        s = py_ws(s);
        if (*s != ':') return fail(err, len, path, "malformed header dict (expected ':' after '%s')", key);
        s = py_ws(s + 1);
        if (!strcmp(key, "descr")) {
            if (!(s = py_str(s, descr, sizeof descr))) return fail(err, len, path, "'descr' is not a plain string");
        } else if (!strcmp(key, "fortran_order")) {
            if (!strncmp(s, "True", 4)) fortran = 1, s += 4;
            else if (!strncmp(s, "False", 5)) fortran = 0, s += 5;
            else return fail(err, len, path, "'fortran_order' is not True or False");
            if (isalnum((unsigned char)*s) || *s == '_') return fail(err, len, path, "'fortran_order' is not True or False");
        } else if (!strcmp(key, "shape")) {
            if (!(s = py_shape(s, &shape_of))) return fail(err, len, path, "'shape' is not a tuple of non-negative decimal integers (at most %d)", NPY_MAX_DIMS);
            have_shape = 1;
        } else {
            return fail(err, len, path, "header has the key '%s' (NumPy allows only descr, fortran_order, shape)", key);
        }
        s = py_ws(s);
        if (*s == ',') s = py_ws(s + 1);
        else if (*s != '}') return fail(err, len, path, "malformed header dict (expected ',' or '}')");
    }
    s = py_ws(s + 1);
    if (*s) return fail(err, len, path, "bytes after the header dict");
    if (!*descr || fortran < 0 || !have_shape) return fail(err, len, path, "header lacks '%s'", !*descr ? "descr" : fortran < 0 ? "fortran_order" : "shape");

    if (descr[0] == '>') return fail(err, len, path, "big-endian data ('%s') is not supported; save little-endian", descr);
    int found = 0;
    for (int t = NPY_F64; t <= NPY_I64; t++) {
        const char *want = npy_dtype_descr((npy_dtype)t);
        /* '|', '=' and no order character mean native order; on the little-endian hosts
         * we support that is '<'. */
        if (strcmp(descr, want) == 0 || strcmp(descr, want + 1) == 0 ||
            ((descr[0] == '=' || descr[0] == '|') && strcmp(descr + 1, want + 1) == 0)) {
            a->dtype = (npy_dtype)t;
            found = 1;
        }
    }
    if (!found) return fail(err, len, path, "unsupported dtype '%s' (expected <f8, <f4, <i4 or <i8)", descr);
    if (fortran) return fail(err, len, path, "Fortran order is not supported; save in C order");

    a->ndim = shape_of.ndim;
    a->size = 1;
    for (int d = 0; d < a->ndim; d++) {
        size_t v = shape_of.shape[d];
        a->shape[d] = v;
        if (v && a->size > NPY_MAX_BYTES / v) return fail(err, len, path, "absurd shape (too many elements)");
        a->size *= v;
    }
    if (a->size > NPY_MAX_BYTES / npy_dtype_size(a->dtype)) return fail(err, len, path, "absurd shape (over 16 GiB)");
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    /* a regular file only (a FIFO would block), its length known before any allocation */
    size_t file_len = 0;
    FILE *fp = fopen_regular(path, NPY_MAX_BYTES + (1 << 20), &file_len, err, errlen);
    if (!fp) return -1;
    unsigned char pre[12];
    if (fread(pre, 1, 10, fp) != 10) { fclose(fp); return fail(err, errlen, path, "truncated (no .npy preamble)"); }
    if (memcmp(pre, "\x93NUMPY", 6) != 0) { fclose(fp); return fail(err, errlen, path, "not a .npy file (bad magic)"); }
    /* versions 2.0 and 3.0 differ from 1.0 only in a 4-byte header length (3.0: UTF-8 text) */
    if (!((pre[6] == 1 || pre[6] == 2 || pre[6] == 3) && pre[7] == 0)) { fclose(fp); return fail(err, errlen, path, "unsupported .npy version %d.%d (expected 1.0, 2.0 or 3.0)", pre[6], pre[7]); }
    size_t hlen = (size_t)pre[8] | ((size_t)pre[9] << 8), pre_len = 10;
    if (pre[6] > 1) {
        if (fread(pre + 10, 1, 2, fp) != 2) { fclose(fp); return fail(err, errlen, path, "truncated (no .npy preamble)"); }
        hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        pre_len = 12;
    }
    if (hlen > file_len - pre_len) {
        fclose(fp);
        return fail(err, errlen, path, "truncated header: its length %zu is past the file's end (%zu bytes)", hlen, file_len);
    }
    if (hlen > NPY_MAX_HEADER) { fclose(fp); return fail(err, errlen, path, "header of %zu bytes is over NumPy's %d-byte limit", hlen, NPY_MAX_HEADER); }
    char hdr[NPY_MAX_HEADER + 1];
    if (fread(hdr, 1, hlen, fp) != hlen) { fclose(fp); return fail(err, errlen, path, "truncated header"); }
    hdr[hlen] = 0;
    if (strlen(hdr) != hlen) { fclose(fp); return fail(err, errlen, path, "NUL byte in the header"); }
    int rc = parse_header(path, hdr, out, err, errlen);
    if (rc) { fclose(fp); return rc; }
    size_t bytes = out->size * npy_dtype_size(out->dtype), have = file_len - pre_len - hlen;
    if (bytes != have) {
        fclose(fp);
        return bytes > have ? fail(err, errlen, path, "truncated data: header promises %zu bytes, file has %zu", bytes, have)
                            : fail(err, errlen, path, "header/shape mismatch: %zu bytes remain after the %zu data bytes", have - bytes, bytes);
    }
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
