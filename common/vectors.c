/* common/vectors.c — golden vector sets: writing, checking, comparing (see vectors.h).
*/
#include "common/vectors.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"

static char *read_text(const char *path, long max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc((size_t)max + 1);
    size_t n = fread(buf, 1, (size_t)max + 1, f);
    fclose(f);
    if (n > (size_t)max) { free(buf); return NULL; }
    buf[n] = 0;
    return buf;
}

/* ======================= the manifest ======================= */

typedef struct {
    char name[128], file[160], meaning[256];
    npy_dtype dtype;
    int ndim;
    size_t shape[NPY_MAX_DIMS];
    vec_role role;
    double rtol, atol;
    int compared;
} vec_entry;

typedef struct {
    char dir[2048];
    char stage[128];
    int n;
    vec_entry *e;
} manifest;

/* Parse DIR/manifest.json into m. Returns 0, or -1 with a one-line reason. */
static int manifest_read(const char *dir, manifest *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[4096];
    path_join(path, sizeof path, dir, "manifest.json");
    char *text = read_text(path, 1 << 22);
    if (!text) { snprintf(err, errlen, "%s: cannot read (missing, unreadable or over 4 MiB)", path); return -1; }
    jparser p = {text, NULL};
    jval *root = jparse(&p, 0);
    if (root) { jws(&p); if (*p.s) { p.err = "trailing characters"; jfree(root); root = NULL; } }
    if (!root) {
        snprintf(err, errlen, "%s: malformed JSON at byte %ld: %s", path, (long)(p.s - text), p.err);
        free(text);
        return -1;
    }
    free(text);
    const jval *st = jget(root, "stage"), *ts = jget(root, "tensors");
    if (!st || st->t != J_STR || !ts || ts->t != J_ARR || ts->n == 0) {
        snprintf(err, errlen, "%s: expected an object with \"stage\" (string) and \"tensors\" (non-empty array)", path);
        jfree(root);
        return -1;
    }
    snprintf(m->stage, sizeof m->stage, "%s", st->str);
    m->e = calloc((size_t)ts->n, sizeof *m->e);
    m->n = ts->n;
    for (int i = 0; i < ts->n; i++) {
        const jval *t = ts->items[i];
        vec_entry *e = &m->e[i];
        const jval *name = jget(t, "name"), *file = jget(t, "file"), *dtype = jget(t, "dtype"),
                   *shape = jget(t, "shape"), *role = jget(t, "role"), *rtol = jget(t, "rtol"),
                   *atol = jget(t, "atol"), *meaning = jget(t, "meaning");
        const char *bad = NULL;
        if (!name || name->t != J_STR || strlen(name->str) >= sizeof e->name) bad = "name";
        else if (!file || file->t != J_STR || strlen(file->str) >= sizeof e->file || strchr(file->str, '/')) bad = "file";
        else if (!dtype || dtype->t != J_STR) bad = "dtype";
        else if (!shape || shape->t != J_ARR || shape->n > NPY_MAX_DIMS) bad = "shape";
        else if (!role || role->t != J_STR || (strcmp(role->str, "input") && strcmp(role->str, "output"))) bad = "role";
        else if (!rtol || rtol->t != J_NUM || !(rtol->num >= 0)) bad = "rtol";
        else if (!atol || atol->t != J_NUM || !(atol->num >= 0)) bad = "atol";
        if (!bad) {
            int ok = 0;
            for (int d = NPY_F64; d <= NPY_I64; d++)
                if (strcmp(dtype->str, npy_dtype_name((npy_dtype)d)) == 0) { e->dtype = (npy_dtype)d; ok = 1; }
            if (!ok) bad = "dtype";
            for (int d = 0; d < shape->n && !bad; d++) {
                if (shape->items[d]->t != J_NUM || shape->items[d]->num < 0) bad = "shape";
                else e->shape[d] = (size_t)shape->items[d]->num;
            }
        }
        if (bad) {
            snprintf(err, errlen, "%s: tensor %d has a missing or invalid \"%s\"", path, i, bad);
            jfree(root);
            free(m->e);
            return -1;
        }
        snprintf(e->name, sizeof e->name, "%s", name->str);
        snprintf(e->file, sizeof e->file, "%s", file->str);
        snprintf(e->meaning, sizeof e->meaning, "%s", meaning && meaning->t == J_STR ? meaning->str : "");
        e->ndim = shape->n;
        e->role = strcmp(role->str, "input") == 0 ? VEC_INPUT : VEC_OUTPUT;
        e->rtol = rtol->num;
        e->atol = atol->num;
    }
    jfree(root);
    return 0;
}

static vec_entry *manifest_find(manifest *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->e[i].name, name) == 0) return &m->e[i];
    return NULL;
}

/* Load an entry's .npy, checking it against the manifest. Returns doubles or NULL + err. */
static double *entry_load(const manifest *m, const vec_entry *e, char *err, size_t errlen) {
    char path[4096];
    path_join(path, sizeof path, m->dir, e->file);
    npy_array a;
    if (npy_read(path, &a, err, errlen)) return NULL;
    int same = a.ndim == e->ndim && a.dtype == e->dtype;
    for (int d = 0; same && d < a.ndim; d++) same = a.shape[d] == e->shape[d];
    if (!same) {
        snprintf(err, errlen, "%s: dtype/shape differ from manifest.json's entry for '%s'", path, e->name);
        npy_free(&a);
        return NULL;
    }
    double *x = npy_to_f64(&a);
    npy_free(&a);
    return x;
}

static void shape_str(char *buf, size_t len, int ndim, const size_t *shape) {
    int n = snprintf(buf, len, "(");
    for (int d = 0; d < ndim && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, "%zu%s", shape[d], d + 1 < ndim ? ", " : "");
    if ((size_t)n < len) snprintf(buf + n, len - (size_t)n, ")");
}

/* numpy.allclose's rule; counts violations and the max abs / rel errors. */
static size_t allclose_count(const double *got, const double *want, size_t n, double rtol, double atol,
                             double *max_abs_err, double *max_rel_err, size_t *first_bad) {
    size_t bad = 0;
    *max_abs_err = *max_rel_err = 0;
    *first_bad = n;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        double r = d / (fabs(want[i]) > 0 ? fabs(want[i]) : 1.0);
        if (isnan(d)) d = r = INFINITY;
        if (d > *max_abs_err) *max_abs_err = d;
        if (r > *max_rel_err) *max_rel_err = r;
        if (!(d <= atol + rtol * fabs(want[i]))) {
            if (!bad) *first_bad = i;
            bad++;
        }
    }
    return bad;
}

/* ======================= writing ======================= */

struct vec_writer {
    manifest m;
    char description[1024];
    unsigned long long seed;
    int cap;
};

vec_writer *vec_writer_open(const char *dir, const char *stage, const char *description, uint64_t seed) {
    mkdir_p(dir);
    vec_writer *w = xcalloc(1, sizeof *w);
    snprintf(w->m.dir, sizeof w->m.dir, "%s", dir);
    snprintf(w->m.stage, sizeof w->m.stage, "%s", stage);
    snprintf(w->description, sizeof w->description, "%s", description);
    w->seed = (unsigned long long)seed;
    return w;
}

void vec_put(vec_writer *w, const char *name, vec_role role, npy_dtype dtype, int ndim, const size_t *shape,
             const double *data, double rtol, double atol, const char *meaning) {
    if (w->m.n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 32;
        w->m.e = realloc(w->m.e, (size_t)w->cap * sizeof *w->m.e);
    }
    vec_entry *e = &w->m.e[w->m.n++];
    memset(e, 0, sizeof *e);
    if (strlen(name) >= sizeof e->name - 8) die(EXIT_BAD_INPUT, "vector name too long: %s", name);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->file, sizeof e->file, "%s.npy", name);
    snprintf(e->meaning, sizeof e->meaning, "%s", meaning);
    e->dtype = dtype;
    e->ndim = ndim;
    e->role = role;
    e->rtol = rtol;
    e->atol = atol;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (e->shape[d] = shape[d]);
    void *buf = xmalloc(count * npy_dtype_size(dtype));
    for (size_t i = 0; i < count; i++) {
        switch (dtype) {
        case NPY_F64: ((double *)buf)[i] = data[i]; break;
        case NPY_F32: ((float *)buf)[i] = (float)data[i]; break;
        case NPY_I32: ((int32_t *)buf)[i] = (int32_t)data[i]; break;
        case NPY_I64: ((int64_t *)buf)[i] = (int64_t)data[i]; break;
        }
    }
    char path[4096];
    path_join(path, sizeof path, w->m.dir, e->file);
    npy_write_or_die(path, dtype, ndim, shape, buf);
    free(buf);
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if (*s == '\n') fputs("\\n", f);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

void vec_writer_close(vec_writer *w) {
    char path[4096], tmp[4200];
    path_join(path, sizeof path, w->m.dir, "manifest.json");
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    fprintf(f, "{\n  \"stage\": ");
    json_string(f, w->m.stage);
    fprintf(f, ",\n  \"description\": ");
    json_string(f, w->description);
    fprintf(f, ",\n  \"seed\": %llu,\n  \"tolerance_rule\": \"|got - want| <= atol + rtol * |want| elementwise\",\n  \"tensors\": [\n", w->seed);
    for (int i = 0; i < w->m.n; i++) {
        vec_entry *e = &w->m.e[i];
        char shp[256];
        shape_str(shp, sizeof shp, e->ndim, e->shape);
        for (char *c = shp; *c; c++) if (*c == '(') *c = '['; else if (*c == ')') *c = ']';
        fprintf(f, "    {\"name\": ");
        json_string(f, e->name);
        fprintf(f, ", \"file\": ");
        json_string(f, e->file);
        fprintf(f, ", \"dtype\": \"%s\", \"shape\": %s, \"role\": \"%s\", \"rtol\": %.3g, \"atol\": %.3g, \"meaning\": ",
                npy_dtype_name(e->dtype), shp, e->role == VEC_INPUT ? "input" : "output", e->rtol, e->atol);
        json_string(f, e->meaning);
        fprintf(f, "}%s\n", i + 1 < w->m.n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    atomic_fclose(f, tmp, path);
    free(w->m.e);
    free(w);
}

/* ======================= checking ======================= */

struct vec_checker {
    manifest m;
    int pass, fail;
};

vec_checker *vec_check_open(const char *dir) {
    vec_checker *c = xcalloc(1, sizeof *c);
    char err[4600];
    if (manifest_read(dir, &c->m, err, sizeof err)) die(EXIT_BAD_INPUT, "%s", err);
    printf("checking %s (stage %s, %d tensors)\n", dir, c->m.stage, c->m.n);
    return c;
}

int vec_has(const vec_checker *c, const char *name) {
    return manifest_find((manifest *)&c->m, name) != NULL;
}

double *vec_get(vec_checker *c, const char *name, int ndim, size_t *shape) {
    vec_entry *e = manifest_find(&c->m, name);
    if (!e) die(EXIT_BAD_INPUT, "%s/manifest.json: no tensor named '%s'", c->m.dir, name);
    if (ndim >= 0 && e->ndim != ndim)
        die(EXIT_BAD_INPUT, "%s/%s: '%s' expected %d dimensions, got %d", c->m.dir, e->file, name, ndim, e->ndim);
    char err[4600];
    double *x = entry_load(&c->m, e, err, sizeof err);
    if (!x) die(EXIT_BAD_INPUT, "%s", err);
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (shape[d] = e->shape[d]);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) die(EXIT_BAD_INPUT, "%s/%s: element %zu is %g (expected finite values)", c->m.dir, e->file, i, x[i]);
    return x;
}

void vec_compare(vec_checker *c, const char *name, int ndim, const size_t *shape, const double *computed) {
    vec_entry *e = manifest_find(&c->m, name);
    if (!e) die(EXIT_BAD_INPUT, "%s/manifest.json: no tensor named '%s'", c->m.dir, name);
    e->compared = 1;
    char err[4600], want_s[256], got_s[256];
    shape_str(want_s, sizeof want_s, e->ndim, e->shape);
    shape_str(got_s, sizeof got_s, ndim, shape);
    int same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = e->shape[d] == shape[d];
    if (!same) {
        printf("FAIL %-28s shape: file has %s, recomputed %s\n", name, want_s, got_s);
        c->fail++;
        return;
    }
    double *want = entry_load(&c->m, e, err, sizeof err);
    if (!want) die(EXIT_BAD_INPUT, "%s", err);
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    double mabs, mrel;
    size_t first;
    /* The file is the candidate being graded, so its values are "got" and ours the
     * reference; allclose is taken relative to our recomputation. */
    size_t bad = allclose_count(want, computed, n, e->rtol, e->atol, &mabs, &mrel, &first);
    if (bad) {
        printf("FAIL %-28s max abs err %.3e  max rel err %.3e  (%zu of %zu elements off; first at %zu: file %.17g, recomputed %.17g; rtol %.1e atol %.1e)\n",
               name, mabs, mrel, bad, n, first, want[first], computed[first], e->rtol, e->atol);
        c->fail++;
    } else {
        printf("PASS %-28s max abs err %.3e  max rel err %.3e\n", name, mabs, mrel);
        c->pass++;
    }
    free(want);
}

int vec_check_close(vec_checker *c) {
    for (int i = 0; i < c->m.n; i++) {
        vec_entry *e = &c->m.e[i];
        if (e->role == VEC_OUTPUT && !e->compared) {
            printf("FAIL %-28s not recomputed: this stage has no rule for an output of that name\n", e->name);
            c->fail++;
        }
    }
    printf("%d passed, %d failed\n", c->pass, c->fail);
    int rc = c->fail ? 1 : 0;
    if (c->pass + c->fail == 0) {
        free(c->m.e);
        free(c);
        die(EXIT_BAD_INPUT, "no outputs to check in the manifest");
    }
    free(c->m.e);
    free(c);
    return rc;
}

int vec_compare_dirs(const char *committed, const char *fresh) {
    manifest a, b;
    char err[4600];
    if (manifest_read(committed, &a, err, sizeof err)) { printf("%s\n", err); return 1; }
    if (manifest_read(fresh, &b, err, sizeof err)) { printf("%s\n", err); free(a.e); return 1; }
    int mismatches = 0;
    for (int i = 0; i < a.n; i++) {
        vec_entry *ea = &a.e[i], *eb = manifest_find(&b, ea->name);
        if (!eb) { printf("%s: missing from the regenerated set\n", ea->name); mismatches++; continue; }
        double *xa = entry_load(&a, ea, err, sizeof err);
        double *xb = xa ? entry_load(&b, eb, err, sizeof err) : NULL;
        int same = xa && xb && ea->ndim == eb->ndim;
        for (int d = 0; same && d < ea->ndim; d++) same = ea->shape[d] == eb->shape[d];
        if (!same) {
            printf("%s: %s\n", ea->name, xa && xb ? "shape differs" : err);
            mismatches++;
        } else {
            size_t n = 1, first;
            for (int d = 0; d < ea->ndim; d++) n *= ea->shape[d];
            /* The fresh set comes from the same code, perhaps on another CPU, whose BLAS
             * kernels and libm round differently (seen: inputs built from matrix products
             * off by 1 ulp). Inputs carry rtol = atol = 0 in the manifest, so allow rounding:
             * 1e-13 of the tensor's largest magnitude, about 450 ulps, far below any change
             * of meaning. */
            double scale = 0, mabs, mrel;
            for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(xa[k]));
            const double rtol = fmax(ea->rtol, 1e-13), atol = fmax(ea->atol, 1e-13 * scale);
            if (allclose_count(xb, xa, n, rtol, atol, &mabs, &mrel, &first)) {
                printf("%s: regenerated values differ (max abs %.3e, max rel %.3e, first at %zu: %.17g vs %.17g)\n",
                       ea->name, mabs, mrel, first, xb[first], xa[first]);
                mismatches++;
            }
        }
        free(xa);
        free(xb);
    }
    if (a.n != b.n) { printf("tensor count differs: %d committed, %d regenerated\n", a.n, b.n); mismatches++; }
    free(a.e);
    free(b.e);
    return mismatches;
}

int vec_tamper(const char *dir) {
    manifest m;
    char err[4600], path[4096];
    if (manifest_read(dir, &m, err, sizeof err)) return -1;
    int rc = -1;
    for (int i = 0; i < m.n && rc; i++) {
        vec_entry *e = &m.e[i];
        if (e->role != VEC_OUTPUT) continue;
        path_join(path, sizeof path, dir, e->file);
        npy_array a;
        if (npy_read(path, &a, err, sizeof err) || a.size == 0) continue;
        /* Shift by 1 + 10% of the value: beyond any tolerance this project uses. */
        switch (a.dtype) {
        case NPY_F64: { double *x = a.data; x[0] += 1.0 + 0.1 * fabs(x[0]); break; }
        case NPY_F32: { float *x = a.data; x[0] += 1.0f + 0.1f * fabsf(x[0]); break; }
        case NPY_I32: ((int32_t *)a.data)[0] += 1; break;
        case NPY_I64: ((int64_t *)a.data)[0] += 1; break;
        }
        rc = npy_write(path, a.dtype, a.ndim, a.shape, a.data, err, sizeof err);
        npy_free(&a);
    }
    free(m.e);
    return rc;
}
