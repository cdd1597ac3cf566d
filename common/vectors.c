/* common/vectors.c — golden vector sets: writing, checking, comparing (see vectors.h).
*/
#include "common/vectors.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"

/* A regular file (a FIFO would block) of at most max bytes and no NUL byte (the JSON
 * reader would stop there and ignore the rest), or NULL. */
static char *read_text(const char *path, long max) {
    char err[600];
    size_t n;
    FILE *f = fopen_regular(path, (size_t)max, &n, err, sizeof err);
    if (!f) return NULL;
    char *buf = xmalloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    buf[got] = 0;
    if (got != n || strlen(buf) != n) { free(buf); return NULL; }
    return buf;
}

/* ======================= the manifest ======================= */

typedef struct {
    char name[128], file[160], meaning[256], why[256];
    int has_dtype, has_shape, has_role, has_rtol, has_atol;   /* what the manifest gave */
    npy_dtype dtype;
    int ndim;                        /* the FILE's shape (complex: with its pair axis) */
    size_t shape[NPY_MAX_DIMS];
    vec_role role;
    double rtol, atol;
    int compared;                    /* read as an input, or graded */
} vec_entry;

#define VEC_MAX_CONFIG 64

typedef struct {
    char dir[2048];
    char stage[128];
    int n;
    vec_entry *e;
    int nconfig;                     /* "config": the set's scalar settings (numbers, booleans) */
    struct { char key[64]; double value; int is_number; } config[VEC_MAX_CONFIG];
} manifest;

/* Parse DIR/manifest.json into m. Only "name" is required of a tensor: "file" defaults
 * to NAME.npy; "dtype", "shape" (if given) must match the file; "role", "rtol", "atol"
 * are optional (the typed API takes roles and tolerances from the stage; a manifest
 * may only tighten). Returns 0, or -1 with a one-line reason. */
static int manifest_read(const char *dir, manifest *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[4096];
    path_join(path, sizeof path, dir, "manifest.json");
    char *text = read_text(path, 1 << 22);
    if (!text) { snprintf(err, errlen, "%s: cannot read (missing, not a regular file, unreadable, over 4 MiB or holding a NUL byte)", path); return -1; }
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
    if (root->t != J_OBJ || (st && st->t != J_STR) || !ts || ts->t != J_ARR || ts->n == 0) {
        snprintf(err, errlen, "%s: expected an object with \"tensors\" (a non-empty array) and optionally \"stage\" (a string)", path);
        jfree(root);
        return -1;
    }
    snprintf(m->stage, sizeof m->stage, "%s", st ? st->str : "");
    const jval *cf = jget(root, "config");   /* optional; keys of other types are kept as non-numbers */
    if (cf && (cf->t != J_OBJ || cf->n > VEC_MAX_CONFIG)) {
        snprintf(err, errlen, "%s: \"config\" must be an object of at most %d entries", path, VEC_MAX_CONFIG);
        jfree(root);
        return -1;
    }
    for (int i = 0; cf && i < cf->n; i++) {
        snprintf(m->config[i].key, sizeof m->config[i].key, "%s", cf->keys[i]);
        m->config[i].is_number = cf->items[i]->t == J_NUM || cf->items[i]->t == J_BOOL;
        m->config[i].value = cf->items[i]->num;
        m->nconfig++;
    }
    m->e = calloc((size_t)ts->n, sizeof *m->e);
    m->n = ts->n;
    for (int i = 0; i < ts->n; i++) {
        const jval *t = ts->items[i];
        vec_entry *e = &m->e[i];
        const jval *name = jget(t, "name"), *file = jget(t, "file"), *dtype = jget(t, "dtype"),
                   *shape = jget(t, "shape"), *role = jget(t, "role"), *rtol = jget(t, "rtol"),
                   *atol = jget(t, "atol"), *meaning = jget(t, "meaning"), *why = jget(t, "why");
        const char *bad = NULL;
        if (t->t != J_OBJ) bad = "object";
        else if (!name || name->t != J_STR || !name->str[0] || strlen(name->str) >= sizeof e->name - 8) bad = "name";
        else if (!jprintable(name->str)) bad = "name (a control character: it would be printed raw)";
        else if (file && (file->t != J_STR || !file->str[0] || strlen(file->str) >= sizeof e->file ||
                          strchr(file->str, '/') || strcmp(file->str, "..") == 0 || !jprintable(file->str))) bad = "file";
        else if ((meaning && meaning->t == J_STR && !jprintable(meaning->str)) ||
                 (why && why->t == J_STR && !jprintable(why->str))) bad = "meaning/why (a control character)";
        else if (dtype && dtype->t != J_STR) bad = "dtype";
        else if (shape && (shape->t != J_ARR || shape->n > NPY_MAX_DIMS)) bad = "shape";
        else if (role && (role->t != J_STR || (strcmp(role->str, "input") && strcmp(role->str, "output")))) bad = "role";
        else if (rtol && (rtol->t != J_NUM || !(rtol->num >= 0))) bad = "rtol (a number >= 0)";
        else if (atol && (atol->t != J_NUM || !(atol->num >= 0))) bad = "atol (a number >= 0)";
        if (!bad && dtype) {
            int ok = 0;
            for (int d = NPY_F64; d <= NPY_I64; d++)
                if (strcmp(dtype->str, npy_dtype_name((npy_dtype)d)) == 0) { e->dtype = (npy_dtype)d; ok = 1; }
            if (!ok) bad = "dtype (float64, float32, int32 or int64)";
        }
        for (int d = 0; !bad && shape && d < shape->n; d++) {
            const jval *x = shape->items[d];
            if (x->t != J_NUM || !(x->num >= 0) || x->num != floor(x->num) || x->num > 1e15) bad = "shape";
            else e->shape[d] = (size_t)x->num;
        }
        if (bad) {
            snprintf(err, errlen, "%s: tensor %d has a missing or invalid \"%s\"", path, i, bad);
            jfree(root);
            free(m->e);
            return -1;
        }
        snprintf(e->name, sizeof e->name, "%s", name->str);
        if (file) snprintf(e->file, sizeof e->file, "%s", file->str);
        else snprintf(e->file, sizeof e->file, "%s.npy", name->str);
        snprintf(e->meaning, sizeof e->meaning, "%s", meaning && meaning->t == J_STR ? meaning->str : "");
        snprintf(e->why, sizeof e->why, "%s", why && why->t == J_STR ? why->str : "");
        e->has_dtype = dtype != NULL;
        e->has_shape = shape != NULL;
        e->ndim = shape ? shape->n : 0;
        e->has_role = role != NULL;
        e->role = role && strcmp(role->str, "output") == 0 ? VEC_OUTPUT : VEC_INPUT;
        e->has_rtol = rtol != NULL;
        e->has_atol = atol != NULL;
        e->rtol = rtol ? rtol->num : 0;
        e->atol = atol ? atol->num : 0;
        for (int k = 0; k < i; k++)
            if (strcmp(m->e[k].name, e->name) == 0) {
                snprintf(err, errlen, "%s: tensor '%s' is listed twice", path, e->name);
                jfree(root);
                free(m->e);
                return -1;
            }
    }
    jfree(root);
    return 0;
}

static vec_entry *manifest_find(manifest *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->e[i].name, name) == 0) return &m->e[i];
    return NULL;
}

/* Read an entry's .npy, checking it against what the manifest says of it. */
static int entry_read(const manifest *m, const vec_entry *e, npy_array *a, char *err, size_t errlen) {
    char path[4096];
    path_join(path, sizeof path, m->dir, e->file);
    if (npy_read(path, a, err, errlen)) return -1;
    int same = !e->has_shape || a->ndim == e->ndim;
    for (int d = 0; same && e->has_shape && d < a->ndim; d++) same = a->shape[d] == e->shape[d];
    if (!same || (e->has_dtype && a->dtype != e->dtype)) {
        snprintf(err, errlen, "%s: dtype/shape differ from manifest.json's entry for '%s'", path, e->name);
        npy_free(a);
        return -1;
    }
    return 0;
}

/* Load an entry's .npy as double, checking it against the manifest. NULL + err. */
static double *entry_load(const manifest *m, const vec_entry *e, char *err, size_t errlen) {
    npy_array a;
    if (entry_read(m, e, &a, err, errlen)) return NULL;
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

/* ======================= writing the manifest ======================= */

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

static vec_entry *manifest_add(manifest *m, int *cap, const char *name) {
    if (m->n == *cap) {
        *cap = *cap ? 2 * *cap : 32;
        m->e = realloc(m->e, (size_t)*cap * sizeof *m->e);
        if (!m->e) die(EXIT_BAD_INPUT, "out of memory");
    }
    vec_entry *e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    if (strlen(name) >= sizeof e->name - 8) die(EXIT_BAD_INPUT, "vector name too long: %s", name);
    for (int k = 0; k < m->n - 1; k++)
        if (strcmp(m->e[k].name, name) == 0) die(EXIT_BAD_INPUT, "vector '%s' written twice", name);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->file, sizeof e->file, "%s.npy", name);
    e->has_dtype = e->has_shape = e->has_role = e->has_rtol = e->has_atol = 1;
    return e;
}

/* Tolerances are written with 17 digits: a value rounded down on the way would make
 * the committed manifest tighter than the stage. */
static void manifest_write(const manifest *m, const char *description, unsigned long long seed) {
    char path[4096], tmp[4200];
    path_join(path, sizeof path, m->dir, "manifest.json");
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    fprintf(f, "{\n  \"stage\": ");
    json_string(f, m->stage);
    fprintf(f, ",\n  \"description\": ");
    json_string(f, description);
    fprintf(f, ",\n  \"seed\": %llu,\n  \"tolerance_rule\": \"|got - want| <= atol + rtol * |want| elementwise "
               "(complex pairs by modulus); the stage's own tolerances, which this manifest may only tighten\",\n"
               "  \"tensors\": [\n", seed);
    for (int i = 0; i < m->n; i++) {
        const vec_entry *e = &m->e[i];
        char shp[256];
        shape_str(shp, sizeof shp, e->ndim, e->shape);
        for (char *c = shp; *c; c++) if (*c == '(') *c = '['; else if (*c == ')') *c = ']';
        fprintf(f, "    {\"name\": ");
        json_string(f, e->name);
        fprintf(f, ", \"file\": ");
        json_string(f, e->file);
        fprintf(f, ", \"dtype\": \"%s\", \"shape\": %s, \"role\": \"%s\", \"rtol\": %.17g, \"atol\": %.17g, \"meaning\": ",
                npy_dtype_name(e->dtype), shp, e->role == VEC_INPUT ? "input" : "output", e->rtol, e->atol);
        json_string(f, e->meaning);
        if (e->why[0]) {
            fprintf(f, ", \"why\": ");
            json_string(f, e->why);
        }
        fprintf(f, "}%s\n", i + 1 < m->n ? "," : "");
    }
    fprintf(f, "  ]");
    for (int i = 0; i < m->nconfig; i++) {
        fprintf(f, i ? ",\n    " : ",\n  \"config\": {\n    ");
        json_string(f, m->config[i].key);
        fprintf(f, ": %.17g", m->config[i].value);
    }
    fprintf(f, "%s\n}\n", m->nconfig ? "\n  }" : "");
    atomic_fclose(f, tmp, path);
}

/* ======================= the typed API ======================= */

#define VEC_MAX_DIMS_NAMED 32
#define VEC_MAX_DECLARED 512

struct vec_set {
    int dumping;
    manifest m;
    int cap;                                   /* dumping: capacity of m.e */
    char description[1024];
    unsigned long long seed;
    struct { char name[32], from[128]; size_t value; } dims[VEC_MAX_DIMS_NAMED];
    int ndims;
    char missing[1024];                        /* checking: optional inputs the set lacks */
    char *skipped[VEC_MAX_DECLARED];           /* checking: declared outputs not in the set */
    int nskipped, pass, fail;
    int own_tol;                               /* checking: ignore the manifest's tolerances */
};

vec_set *vec_set_dump(const char *dir, const char *stage, const char *description, uint64_t seed) {
    mkdir_p(dir);
    vec_set *v = xcalloc(1, sizeof *v);
    v->dumping = 1;
    snprintf(v->m.dir, sizeof v->m.dir, "%s", dir);
    snprintf(v->m.stage, sizeof v->m.stage, "%s", stage);
    snprintf(v->description, sizeof v->description, "%s", description);
    v->seed = (unsigned long long)seed;
    return v;
}

/* The .npy files in DIR that the manifest does not list: a common slip (writing
 * `zoh_Abar.npy` for `Abar_zoh`) that would otherwise grade the old files silently. */
static void note_unlisted_files(const manifest *m) {
    DIR *d = opendir(m->dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".npy") != 0) continue;
        int listed = 0;
        for (int i = 0; i < m->n && !listed; i++) listed = strcmp(m->e[i].file, de->d_name) == 0;
        if (!listed) printf("note: %s is in the directory but not in manifest.json: not graded\n", de->d_name);
    }
    closedir(d);
}

vec_set *vec_set_check(const char *dir, const char *stage) {
    vec_set *v = xcalloc(1, sizeof *v);
    char err[4600];
    if (manifest_read(dir, &v->m, err, sizeof err)) die(EXIT_BAD_INPUT, "%s", err);
    if (v->m.stage[0] && strcmp(v->m.stage, stage) != 0)
        die(EXIT_BAD_INPUT, "%s/manifest.json: the set is for stage '%s', this program checks '%s'", dir, v->m.stage, stage);
    printf("checking %s (stage %s, %d tensors)\n", dir, stage, v->m.n);
    note_unlisted_files(&v->m);
    return v;
}

vec_set *vec_set_open(const char *dir, int dumping, const char *stage, const char *description, uint64_t seed) {
    return dumping ? vec_set_dump(dir, stage, description, seed) : vec_set_check(dir, stage);
}

int vec_dumping(const vec_set *v) { return v->dumping; }

void vec_own_tolerances(vec_set *v, const char *why) {
    v->own_tol = 1;
    printf("note: the manifest's tolerances are not applied, only this program's: %s\n", why);
}
const char *vec_dir(const vec_set *v) { return v->m.dir; }

static int dim_find(const vec_set *v, const char *dim) {
    for (int i = 0; i < v->ndims; i++)
        if (strcmp(v->dims[i].name, dim) == 0) return i;
    return -1;
}

static void dim_bind(vec_set *v, const char *dim, size_t value, const char *from) {
    int i = dim_find(v, dim);
    if (i < 0) {
        if (v->ndims == VEC_MAX_DIMS_NAMED || strlen(dim) >= sizeof v->dims[0].name)
            die(EXIT_BAD_INPUT, "vectors: too many or too long size names (%s)", dim);
        i = v->ndims++;
        snprintf(v->dims[i].name, sizeof v->dims[i].name, "%s", dim);
    }
    v->dims[i].value = value;
    snprintf(v->dims[i].from, sizeof v->dims[i].from, "%s", from);
}

void vec_dim_set(vec_set *v, const char *dim, size_t value) { dim_bind(v, dim, value, "the program"); }

size_t vec_dim(const vec_set *v, const char *dim) {
    int i = dim_find(v, dim);
    return i < 0 ? 0 : v->dims[i].value;
}

void vec_reject(const vec_set *v, const char *name, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const vec_entry *e = manifest_find((manifest *)&v->m, name);
    die(EXIT_BAD_INPUT, "%s/%s: tensor '%s': %s", v->m.dir, e ? e->file : "manifest.json", name, msg);
}

/* Dumping: write one tensor of type t (complex: with its pair axis) and add its manifest
 * entry (tolerances 0: an output's are set by the caller). */
static vec_entry *dump_tensor(vec_set *v, const char *name, vec_role role, elem_type t, int ndim,
                              const size_t *shape, const void *data, const char *meaning) {
    vec_entry *e = manifest_add(&v->m, &v->cap, name);
    snprintf(e->meaning, sizeof e->meaning, "%s", meaning);
    e->role = role;
    e->dtype = elem_dtype(t);
    e->ndim = ndim + elem_is_complex(t);
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    if (elem_is_complex(t)) e->shape[ndim] = 2;
    char path[4096];
    path_join(path, sizeof path, v->m.dir, e->file);
    npy_save(path, t, ndim, shape, data);
    return e;
}

/* Split a shape pattern ("N N", "dt L", "Nd 2") into tokens. Returns the count. */
static int pattern_split(const char *pattern, char tok[NPY_MAX_DIMS][32]) {
    int n = 0;
    for (const char *p = pattern; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t k = 0;
        if (n == NPY_MAX_DIMS) die(EXIT_BAD_INPUT, "vectors: pattern '%s' has too many sizes", pattern);
        while (*p && *p != ' ') {
            if (k + 1 < 32) tok[n][k++] = *p;
            p++;
        }
        tok[n++][k] = 0;
    }
    return n;
}

static int is_number(const char *s) {
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c)) return 0;
    return *s != 0;
}

static void pattern_str(char *buf, size_t len, char tok[NPY_MAX_DIMS][32], int n) {
    int k = snprintf(buf, len, "(");
    for (int d = 0; d < n && (size_t)k < len; d++)
        k += snprintf(buf + k, len - (size_t)k, "%s%s", tok[d], d + 1 < n ? ", " : "");
    if ((size_t)k < len) snprintf(buf + k, len - (size_t)k, ")");
}

/* The alternatives of a pattern ("N 1|N": a column or a vector), each split into
 * tokens; returns their count. */
#define VEC_MAX_ALTS 4
static int pattern_alternatives(const char *pattern, char tok[VEC_MAX_ALTS][NPY_MAX_DIMS][32], int nd[VEC_MAX_ALTS],
                                char *pat, size_t patlen) {
    int n = 0;
    size_t k = 0;
    pat[0] = 0;
    for (const char *p = pattern; n < VEC_MAX_ALTS;) {
        const char *bar = strchr(p, '|');
        char one[256];
        snprintf(one, sizeof one, "%.*s", (int)(bar ? (size_t)(bar - p) : strlen(p)), p);
        nd[n] = pattern_split(one, tok[n]);
        if (k < patlen) k += (size_t)snprintf(pat + k, patlen - k, "%s", n ? " or " : "");
        if (k < patlen) pattern_str(pat + k, patlen - k, tok[n], nd[n]);
        k = strlen(pat);
        n++;
        if (!bar) break;
        p = bar + 1;
    }
    return n;
}

void vec_input(vec_set *v, const char *name, elem_type t, const char *pattern, void *data, int required,
               const char *meaning) {
    char alts[VEC_MAX_ALTS][NPY_MAX_DIMS][32], pat[300];
    int alt_nd[VEC_MAX_ALTS];
    const int nalt = pattern_alternatives(pattern, alts, alt_nd, pat, sizeof pat);
    char (*tok)[32] = alts[0];   /* dumping: the first alternative */
    int nd = alt_nd[0];
    size_t shape[NPY_MAX_DIMS];
    if (v->dumping) {
        void *x;
        memcpy(&x, data, sizeof x);
        for (int d = 0; d < nd; d++) {
            int i = dim_find(v, tok[d]);
            if (is_number(tok[d])) shape[d] = strtoull(tok[d], NULL, 10);
            else if (i >= 0) shape[d] = v->dims[i].value;
            else die(EXIT_BAD_INPUT, "vectors: size '%s' of '%s' is not set (vec_dim_set)", tok[d], name);
        }
        char described[256];
        snprintf(described, sizeof described, "%.150s %.100s", meaning, pat);
        dump_tensor(v, name, VEC_INPUT, t, nd, shape, x, described);
        return;
    }
    vec_entry *e = manifest_find(&v->m, name);
    if (!e) {
        if (required) die(EXIT_BAD_INPUT, "%s/manifest.json: no input tensor '%s' %s (%s)", v->m.dir, name, pat, meaning);
        size_t len = strlen(v->missing);
        snprintf(v->missing + len, sizeof v->missing - len, "%s%s", len ? ", " : "", name);
        void *null = NULL;
        memcpy(data, &null, sizeof null);
        return;
    }
    e->compared = 1;
    char err[4600], path[4096];
    path_join(path, sizeof path, v->m.dir, e->file);
    npy_array a;   /* the manifest's own dtype/shape, where given, must describe the file */
    if (entry_read(&v->m, e, &a, err, sizeof err)) die(EXIT_BAD_INPUT, "%s", err);
    npy_free(&a);
    int got_nd;
    void *x;
    if (npy_read_elems(path, t, &got_nd, shape, &x, err, sizeof err)) die(EXIT_BAD_INPUT, "%s (tensor '%s')", err, name);
    for (int k = 0; k < nalt; k++)   /* the first alternative of the file's rank */
        if (alt_nd[k] == got_nd) {
            tok = alts[k];
            nd = alt_nd[k];
            break;
        }
    if (got_nd != nd) {
        char got[256];
        shape_str(got, sizeof got, got_nd, shape);
        free(x);
        die(EXIT_BAD_INPUT, "%s: tensor '%s': expected shape %s%s, got %s", path, name, pat,
            elem_is_complex(t) ? " of (re, im) pairs" : "", got);
    }
    for (int d = 0; d < nd; d++) {
        if (is_number(tok[d])) {
            size_t want = strtoull(tok[d], NULL, 10);
            if (shape[d] != want) {
                free(x);
                die(EXIT_BAD_INPUT, "%s: tensor '%s' %s dimension %d: expected %zu, got %zu", path, name, pat, d, want, shape[d]);
            }
            continue;
        }
        int i = dim_find(v, tok[d]);
        if (i < 0) {
            char from[160];
            snprintf(from, sizeof from, "'%s'", name);
            dim_bind(v, tok[d], shape[d], from);
        } else if (v->dims[i].value != shape[d]) {
            size_t want = v->dims[i].value;
            free(x);
            die(EXIT_BAD_INPUT, "%s: tensor '%s' %s dimension %d (%s): expected %zu as in %s, got %zu", path, name, pat,
                d, tok[d], want, v->dims[i].from, shape[d]);
        }
    }
    memcpy(data, &x, sizeof x);
}

int vec_config(vec_set *v, const char *key, double *value) {
    manifest *m = &v->m;
    for (int i = 0; i < m->nconfig; i++) {
        if (strcmp(m->config[i].key, key) != 0) continue;
        if (v->dumping) die(EXIT_BAD_INPUT, "vec_config: '%s' recorded twice", key);
        if (!m->config[i].is_number)
            die(EXIT_BAD_INPUT, "%s/manifest.json: config '%s': expected a number or true/false", m->dir, key);
        *value = m->config[i].value;
        return 1;
    }
    if (!v->dumping) return 0;
    if (m->nconfig >= VEC_MAX_CONFIG || strlen(key) >= sizeof m->config[0].key)
        die(EXIT_BAD_INPUT, "vec_config: too many entries or key '%s' too long", key);
    snprintf(m->config[m->nconfig].key, sizeof m->config[0].key, "%s", key);
    m->config[m->nconfig].value = *value;
    m->config[m->nconfig++].is_number = 1;
    return 1;
}

int vec_wants(const vec_set *v, const char *name) {
    return v->dumping || manifest_find((manifest *)&v->m, name) != NULL;
}

/* max |a_i| of n elements; complex by modulus (pairs). */
static double max_mag(const double *a, size_t n, int complex_pairs) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, complex_pairs ? hypot(a[2 * i], a[2 * i + 1]) : fabs(a[i]));
    return m;
}

/* The stage's values as double: pairs for complex. */
static double *elems_to_f64(elem_type t, const void *data, size_t n) {
    size_t m = elem_is_complex(t) ? 2 * n : n;
    double *x = xmalloc_f64(m ? m : 1);
    for (size_t i = 0; i < m; i++) {
        switch (t) {
        case ELEM_F64: case ELEM_C128: x[i] = ((const double *)data)[i]; break;
        case ELEM_F32: case ELEM_C64: x[i] = ((const float *)data)[i]; break;
        case ELEM_I64: x[i] = (double)((const int64_t *)data)[i]; break;
        case ELEM_I32: x[i] = ((const int32_t *)data)[i]; break;
        }
    }
    return x;
}

static void grade(vec_set *v, vec_entry *e, elem_type t, int ndim, const size_t *shape, const double *want,
                  size_t n, vec_tol tol) {
    const int cplx = elem_is_complex(t);
    char err[4600], want_s[256], got_s[256];
    npy_array a;
    if (entry_read(&v->m, e, &a, err, sizeof err)) die(EXIT_BAD_INPUT, "%s", err);
    /* the candidate's logical shape: without the pair axis for complex */
    int gnd = a.ndim - (cplx && a.ndim && a.shape[a.ndim - 1] == 2);
    size_t full[NPY_MAX_DIMS + 1];
    for (int d = 0; d < ndim; d++) full[d] = shape[d];
    if (cplx) full[ndim] = 2;
    shape_str(want_s, sizeof want_s, ndim + cplx, full);
    shape_str(got_s, sizeof got_s, a.ndim, a.shape);
    int same = a.ndim == ndim + cplx && gnd == ndim;
    for (int d = 0; same && d < a.ndim; d++) same = a.shape[d] == full[d];
    if (!same) {
        printf("FAIL %-28s shape: file has %s, expected %s\n", e->name, got_s, want_s);
        v->fail++;
        npy_free(&a);
        return;
    }
    double *got = npy_to_f64(&a);
    npy_free(&a);
    /* the stage's tolerance, tightened (never loosened) by the manifest's */
    const double stage_atol = tol.atol + tol.atol_max * max_mag(want, n, cplx);
    double rtol = tol.rtol, atol = stage_atol;
    char note[256] = "";
    if (e->has_rtol && !v->own_tol) rtol = fmin(rtol, e->rtol);
    if (e->has_atol && !v->own_tol) atol = fmin(atol, e->atol);
    /* a note when the manifest asked for more than 1% more (manifests written with 3
     * digits round the stage's own values up by less) */
    if (!v->own_tol && e->has_rtol && e->rtol > 1.01 * tol.rtol)
        snprintf(note, sizeof note, " [manifest's rtol %.3g looser than the stage's: ignored]", e->rtol);
    if (!v->own_tol && e->has_atol && e->atol > 1.01 * stage_atol) {
        size_t k = strlen(note);
        snprintf(note + k, sizeof note - k, " [manifest's atol %.3g looser than the stage's: ignored]", e->atol);
    }
    size_t bad = 0, first = n;
    double mabs = 0, mrel = 0;
    for (size_t i = 0; i < n; i++) {
        double d, w;
        if (cplx) {
            d = hypot(got[2 * i] - want[2 * i], got[2 * i + 1] - want[2 * i + 1]);
            w = hypot(want[2 * i], want[2 * i + 1]);
        } else {
            d = fabs(got[i] - want[i]);
            w = fabs(want[i]);
        }
        if (isnan(d)) d = INFINITY;   /* a NaN in the file is as wrong as it gets */
        double r = d / (w > 0 ? w : 1.0);
        mabs = fmax(mabs, d);
        mrel = fmax(mrel, r);
        if (!(d <= atol + rtol * w)) {
            if (!bad) first = i;
            bad++;
        }
    }
    if (bad) {
        size_t k = cplx ? 2 * first : first;
        printf("FAIL %-28s max abs err %.3e  max rel err %.3e  (%zu of %zu elements off; first at %zu: file %.17g%s, "
               "recomputed %.17g%s; rtol %.1e atol %.1e)%s\n",
               e->name, mabs, mrel, bad, n, first, got[k], cplx ? " (re)" : "", want[k], cplx ? " (re)" : "", rtol, atol, note);
        v->fail++;
    } else {
        printf("PASS %-28s max abs err %.3e  max rel err %.3e  (rtol %.1e atol %.1e)%s\n", e->name, mabs, mrel, rtol,
               atol, note);
        v->pass++;
    }
    free(got);
}

void vec_output(vec_set *v, const char *name, elem_type t, int ndim, const size_t *shape, const void *data,
                vec_tol tol, const char *meaning) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    if (v->dumping) {
        if (!data) die(EXIT_BAD_INPUT, "vectors: output '%s' was not computed", name);
        double *want = elems_to_f64(t, data, n);
        vec_entry *e = dump_tensor(v, name, VEC_OUTPUT, t, ndim, shape, data, meaning);
        snprintf(e->why, sizeof e->why, "%s", tol.why);
        e->rtol = tol.rtol;
        e->atol = tol.atol + tol.atol_max * max_mag(want, n, elem_is_complex(t));
        free(want);
        return;
    }
    vec_entry *e = manifest_find(&v->m, name);
    if (!e) {
        if (v->nskipped == VEC_MAX_DECLARED) die(EXIT_BAD_INPUT, "vectors: more than %d outputs", VEC_MAX_DECLARED);
        v->skipped[v->nskipped++] = strdup(name);
        return;
    }
    e->compared = 1;
    if (!data)
        die(EXIT_BAD_INPUT, "%s/manifest.json: output '%s' is in the set, but inputs it is computed from are not "
            "(missing: %s)", v->m.dir, name, v->missing[0] ? v->missing : "?");
    double *want = elems_to_f64(t, data, n);
    grade(v, e, t, ndim, shape, want, n, tol);
    free(want);
}

int vec_set_close(vec_set *v) {
    int rc = 0;
    if (v->dumping) {
        manifest_write(&v->m, v->description, v->seed);
    } else {
        int graded = v->pass + v->fail;
        for (int i = 0; i < v->m.n; i++) {
            const vec_entry *e = &v->m.e[i];
            if (e->compared) continue;
            if (e->has_role && e->role == VEC_OUTPUT) {
                printf("FAIL %-28s this stage has no output of that name\n", e->name);
                v->fail++;
            } else {
                printf("note: '%s' is neither an input nor an output of %s: ignored\n", e->name, v->m.stage[0] ? v->m.stage : "this stage");
            }
        }
        for (int i = 0; i < v->nskipped; i++) printf("-    %-28s not in this set\n", v->skipped[i]);
        if (graded == 0)
            die(EXIT_BAD_INPUT, "%s: the set holds none of this stage's outputs (%d of them are listed above as not in "
                "this set): nothing to grade", v->m.dir, v->nskipped);
        if (v->nskipped) printf("%d passed, %d failed, %d skipped\n", v->pass, v->fail, v->nskipped);
        else printf("%d passed, %d failed\n", v->pass, v->fail);
        rc = v->fail ? 1 : 0;
    }
    for (int i = 0; i < v->nskipped; i++) free(v->skipped[i]);
    free(v->m.e);
    free(v);
    return rc;
}

/* ======================= comparing sets, tampering ======================= */

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
