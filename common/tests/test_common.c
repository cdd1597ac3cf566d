/* common/tests/test_common.c — tests of the plumbing: .npy I/O and its rejections,
 * the RNG's reproducibility and moments, CLI parsing and its exit codes, the JSON
 * reader, golden-vector sets (write, check, tamper), safetensors, fits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/npy.h"
#include "common/rng.h"
#include "common/safetensors.h"
#include "common/testutil.h"
#include "common/util.h"
#include "common/vectors.h"

static char tmp[256];
static void setup(void) { th_tmpdir(tmp, sizeof tmp); }
static void teardown(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A hand-made .npy with the given header dict and data bytes. */
static void write_npy_raw(const char *path, const char *dict, const void *data, size_t n) {
    char buf[4096];
    size_t dl = strlen(dict), total = 10 + dl + 1, pad = (64 - total % 64) % 64, hl = dl + pad + 1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', pad);
    buf[10 + dl + pad] = '\n';
    memcpy(buf + 10 + hl, data, n);
    write_bytes(path, buf, 10 + hl + n);
}

/* ---------------- npy ---------------- */

START_TEST(npy_roundtrip_all_dtypes) {
    rng_t r;
    rng_seed(&r, 1);
    size_t shape[3] = {2, 3, 5};
    double x[30];
    rng_fill_normal(&r, x, 30, 0, 10);
    npy_dtype types[] = {NPY_F64, NPY_F32, NPY_I32, NPY_I64};
    for (int k = 0; k < 4; k++) {
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/a%d.npy", tmp, k);
        /* Convert to the dtype, write, read back: values must be identical. */
        char buf[30 * 8];
        for (int i = 0; i < 30; i++) {
            if (types[k] == NPY_F64) ((double *)buf)[i] = x[i];
            if (types[k] == NPY_F32) ((float *)buf)[i] = (float)x[i];
            if (types[k] == NPY_I32) ((int *)buf)[i] = (int)x[i];
            if (types[k] == NPY_I64) ((long long *)buf)[i] = (long long)x[i];
        }
        ck_assert_int_eq(npy_write(path, types[k], 3, shape, buf, err, sizeof err), 0);
        npy_array a;
        ck_assert_msg(npy_read(path, &a, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(a.dtype, types[k]);
        ck_assert_int_eq(a.ndim, 3);
        ck_assert_uint_eq(a.shape[2], 5);
        ck_assert_uint_eq(a.size, 30);
        ck_assert_int_eq(memcmp(a.data, buf, 30 * npy_dtype_size(types[k])), 0);
        npy_free(&a);
    }
}
END_TEST

START_TEST(npy_scalar_and_empty) {
    char path[512], err[512];
    double v = 3.5;
    snprintf(path, sizeof path, "%s/s.npy", tmp);
    ck_assert_int_eq(npy_write(path, NPY_F64, 0, NULL, &v, err, sizeof err), 0);
    npy_array a;
    ck_assert_int_eq(npy_read(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(a.ndim, 0);
    ck_assert_uint_eq(a.size, 1);
    ck_assert(((double *)a.data)[0] == 3.5);
    npy_free(&a);
    size_t zero[1] = {0};
    ck_assert_int_eq(npy_write(path, NPY_F32, 1, zero, &v, err, sizeof err), 0);
    ck_assert_int_eq(npy_read(path, &a, err, sizeof err), 0);
    ck_assert_uint_eq(a.size, 0);
    npy_free(&a);
}
END_TEST

/* Each malformed file must be rejected with a message naming the problem. */
START_TEST(npy_rejects_malformed) {
    double d[4] = {1, 2, 3, 4};
    struct { const char *dict; size_t bytes; const char *want; } cases[] = {
        {"{'descr': '>f8', 'fortran_order': False, 'shape': (4,), }", 32, "big-endian"},
        {"{'descr': '<f8', 'fortran_order': True, 'shape': (4,), }", 32, "Fortran"},
        {"{'descr': '<c16', 'fortran_order': False, 'shape': (4,), }", 32, "unsupported dtype"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", 32, "truncated data"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 32, "mismatch"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000, 4000000000), }", 32, "absurd"},
        {"{'descr': '<f8', 'fortran_order': False, }", 32, "shape"},
        {"['descr']", 32, "not a dict"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/bad%zu.npy", tmp, k);
        write_npy_raw(path, cases[k].dict, d, cases[k].bytes);
        npy_array a;
        ck_assert_int_eq(npy_read(path, &a, err, sizeof err), -1);
        ck_assert_msg(strstr(err, cases[k].want) && strstr(err, path), "case %zu: '%s' lacks '%s'", k, err, cases[k].want);
    }
    char path[512], err[512];
    npy_array a;
    snprintf(path, sizeof path, "%s/magic.npy", tmp);
    write_bytes(path, "\x93NUMPX\x01\x00\x10\x00{}", 12);
    ck_assert_int_eq(npy_read(path, &a, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "bad magic"));
    write_bytes(path, "\x93NUMPY\x04\x00\x10\x00{}", 12);   /* NumPy knows 1.0, 2.0, 3.0 */
    ck_assert_int_eq(npy_read(path, &a, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "version 4.0"));
    write_bytes(path, "\x93NUM", 4);
    ck_assert_int_eq(npy_read(path, &a, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "truncated"));
    snprintf(path, sizeof path, "%s/none.npy", tmp);
    ck_assert_int_eq(npy_read(path, &a, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
}
END_TEST

/* npy_load_f64 exits 2 on NaN (run in a forked test, expecting exit code 2). */
START_TEST(npy_load_rejects_nan) {
    char path[512];
    snprintf(path, sizeof path, "%s/nan.npy", tmp);
    double x[2] = {1, NAN};
    size_t shape[1] = {2};
    npy_write_or_die(path, NPY_F64, 1, shape, x);
    size_t got[NPY_MAX_DIMS];
    npy_load_f64(path, "x", 1, got);
}
END_TEST

/* ---------------- rng ---------------- */

START_TEST(rng_reproducible_and_moments) {
    rng_t a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(rng_u64(&a), rng_u64(&b));
    /* The first output for seed 42 is fixed forever: golden vectors depend on it. */
    rng_seed(&a, 42);
    uint64_t first = rng_u64(&a);
    rng_seed(&b, 42);
    ck_assert_uint_eq(first, rng_u64(&b));
    /* Moments of 10^5 normals: the sample mean has std 1/sqrt(n) ≈ 0.0032, so
     * |mean| < 0.02 is a 6-sigma bound; the variance's std is sqrt(2/n) ≈ 0.0045. */
    int n = 100000;
    double s = 0, ss = 0, u = 0;
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&a);
        s += z;
        ss += z * z;
        u += rng_uniform(&b);
    }
    ck_assert_double_lt(fabs(s / n), 0.02);
    ck_assert_double_lt(fabs(ss / n - 1), 0.03);
    ck_assert_double_lt(fabs(u / n - 0.5), 0.01);   /* uniform mean: std sqrt(1/12n) ≈ 0.0009 */
    for (int i = 0; i < 1000; i++) ck_assert_uint_lt(rng_below(&a, 7), 7);
}
END_TEST

/* ---------------- cli ---------------- */

static int opt_n = 3;
static double opt_x = 0.5;
static const char *opt_s = "out";
static int opt_f = 0;
static const cli_opt opts[] = {
    {"n", CLI_INT, &opt_n, "count"},
    {"x", CLI_DOUBLE, &opt_x, "value"},
    {"s", CLI_STRING, &opt_s, "name"},
    {"f", CLI_FLAG, &opt_f, "flag"},
    {0, CLI_END, 0, 0},
};

START_TEST(cli_parses_forms) {
    char *argv[] = {"prog", "--n", "7", "--x=2.5", "--s", "dir", "--f", NULL};
    cli_parse(7, argv, "test", opts);
    ck_assert_int_eq(opt_n, 7);
    ck_assert(opt_x == 2.5);
    ck_assert_str_eq(opt_s, "dir");
    ck_assert_int_eq(opt_f, 1);
}
END_TEST

/* Each of these must exit 2 (forked tests expecting exit code 2). */
START_TEST(cli_unknown_flag) { char *argv[] = {"prog", "--nope", NULL}; cli_parse(2, argv, "t", opts); }
END_TEST
START_TEST(cli_bad_int) { char *argv[] = {"prog", "--n", "3x", NULL}; cli_parse(3, argv, "t", opts); }
END_TEST
START_TEST(cli_nan_double) { char *argv[] = {"prog", "--x", "nan", NULL}; cli_parse(3, argv, "t", opts); }
END_TEST
START_TEST(cli_missing_value) { char *argv[] = {"prog", "--x", NULL}; cli_parse(2, argv, "t", opts); }
END_TEST
START_TEST(cli_positional) { char *argv[] = {"prog", "stray", NULL}; cli_parse(2, argv, "t", opts); }
END_TEST
START_TEST(cli_help_exits_0) { char *argv[] = {"prog", "--help", NULL}; cli_parse(2, argv, "t", opts); }
END_TEST

/* ---------------- json ---------------- */

START_TEST(json_parses_and_rejects) {
    jparser p = {"{\"a\": [1, 2.5e3, -3], \"b\": \"x\\\"y\", \"c\": true, \"d\": null}", NULL};
    jval *v = jparse(&p, 0);
    ck_assert_ptr_nonnull(v);
    const jval *a = jget(v, "a");
    ck_assert_int_eq(a->n, 3);
    ck_assert(a->items[1]->num == 2500);
    ck_assert_str_eq(jget(v, "b")->str, "x\"y");
    ck_assert_int_eq(jget(v, "c")->t, J_BOOL);
    jfree(v);
    const char *bad[] = {"{\"a\": }", "[1, 2", "{\"a\" 1}", "\"open", "{\"a\": tru}"};
    for (size_t k = 0; k < 5; k++) {
        jparser q = {bad[k], NULL};
        jval *w = jparse(&q, 0);
        ck_assert_msg(w == NULL && q.err, "'%s' should not parse", bad[k]);
    }
}
END_TEST

/* ---------------- vectors ---------------- */

/* ---------------- vectors: the typed API ----------------
 * A toy stage in the pattern every stage follows: one function computes the outputs
 * from the inputs and serves both --dump-vectors and --check.
 *   inputs  x (M, K) float64, z (K) complex, s (K) float32 (optional)
 *   outputs y = 2x (float64), w = z^2 (complex), f = 3s (float32) */
#include <complex.h>

typedef struct { double *x; double complex *z; float *s; } toy_in;

static void toy_compute(vec_set *v, const toy_in *in, double bias) {
    const size_t M = vec_dim(v, "M"), K = vec_dim(v, "K");
    double *y = xmalloc_f64(M * K + 1);
    for (size_t i = 0; i < M * K; i++) y[i] = 2 * in->x[i] + bias;
    /* an exact doubling: an independent float64 implementation gets the same bits */
    vec_output(v, "y", ELEM_F64, 2, (size_t[]){M, K}, y, VEC_TOL(1e-15, 1e-300, "exact in float64"), "2x");
    double complex *w = xmalloc(K * sizeof *w + 1);
    for (size_t k = 0; k < K; k++) w[k] = in->z[k] * in->z[k] + bias;
    vec_output(v, "w", ELEM_C128, 1, (size_t[]){K}, w, VEC_TOL(1e-14, 1e-300, "one complex product: a few ulps"), "z^2");
    float *f = NULL;
    if (in->s) {
        f = xmalloc_f32(K + 1);
        for (size_t k = 0; k < K; k++) f[k] = 3 * in->s[k] + (float)bias;
    }
    vec_output(v, "f", ELEM_F32, 1, (size_t[]){K}, f, VEC_TOL_MAX(1e-6, 1e-7, "float32 rounding of 3s"), "3s");
    free(f);
    free(w);
    free(y);
}

static void toy_inputs(vec_set *v, toy_in *in, int s_required) {
    vec_input(v, "x", ELEM_F64, "M K", &in->x, VEC_REQUIRED, "x");
    vec_input(v, "z", ELEM_C128, "K", &in->z, VEC_REQUIRED, "z");
    vec_input(v, "s", ELEM_F32, "K", &in->s, s_required, "s");
}

static void toy_dump(const char *dir, size_t M, size_t K) {
    rng_t r;
    rng_seed(&r, 3);
    toy_in in = {xmalloc_f64(M * K), xmalloc(K * sizeof(double complex)), xmalloc_f32(K)};
    rng_fill_normal(&r, in.x, M * K, 0, 1);
    for (size_t k = 0; k < K; k++) in.z[k] = CMPLX(rng_normal(&r), rng_normal(&r)), in.s[k] = (float)rng_normal(&r);
    vec_set *v = vec_set_dump(dir, "toy", "a toy set", 3);
    vec_dim_set(v, "M", M);
    vec_dim_set(v, "K", K);
    toy_inputs(v, &in, VEC_REQUIRED);
    toy_compute(v, &in, 0);
    ck_assert_int_eq(vec_set_close(v), 0);
    free(in.x), free(in.z), free(in.s);
}

/* --check DIR for the toy stage; bias shifts our recomputation (a wrong "reference"). */
static int toy_check(const char *dir, double bias) {
    vec_set *v = vec_set_check(dir, "toy");
    toy_in in;
    toy_inputs(v, &in, VEC_OPTIONAL);
    toy_compute(v, &in, bias);
    free(in.x), free(in.z), free(in.s);
    return vec_set_close(v);
}

/* Replace the first occurrence of `from` in DIR/manifest.json by `to`. */
static void manifest_edit(const char *dir, const char *from, const char *to) {
    char path[512], text[16384];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *p = strstr(text, from);
    ck_assert_msg(p != NULL, "'%s' not in the manifest", from);
    char out[16384];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
    write_bytes(path, out, strlen(out));
}

static void write_manifest(const char *dir, const char *json) {
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    write_bytes(path, json, strlen(json));
}

START_TEST(typed_roundtrip_and_pairs) {
    toy_dump(tmp, 3, 5);
    ck_assert_int_eq(toy_check(tmp, 0), 0);
    /* complex on disk: float64 pairs, shape (K, 2) */
    char path[512];
    snprintf(path, sizeof path, "%s/w.npy", tmp);
    npy_array a;
    char err[1024];
    ck_assert_msg(npy_read(path, &a, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(a.dtype, NPY_F64);
    ck_assert_int_eq(a.ndim, 2);
    ck_assert_uint_eq(a.shape[0], 5);
    ck_assert_uint_eq(a.shape[1], 2);
    npy_free(&a);
    /* and read back as complex with the logical shape (K) */
    size_t sh[NPY_MAX_DIMS];
    double complex *w = npy_load(path, "w", ELEM_C128, 1, sh);
    ck_assert_uint_eq(sh[0], 5);
    free(w);
    snprintf(path, sizeof path, "%s/f.npy", tmp);
    ck_assert_msg(npy_read(path, &a, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(a.dtype, NPY_F32);
    npy_free(&a);
    ck_assert_int_eq(vec_compare_dirs(tmp, tmp), 0);
}
END_TEST

/* The stage's reference moved by 1e-9 (a wrong answer, or a candidate that is off):
 * FAIL, exit 1. */
START_TEST(typed_wrong_answer_fails) {
    toy_dump(tmp, 2, 4);
    printf("(FAIL lines below are expected: a recomputation 1e-9 off)\n");
    ck_assert_int_eq(toy_check(tmp, 1e-9), 1);
}
END_TEST

/* A loosened manifest cannot rescue garbage; NaN fails; a tightened one is obeyed. */
START_TEST(typed_manifest_only_tightens) {
    toy_dump(tmp, 2, 4);
    /* garbage y, with the manifest's tolerances blown up for every tensor */
    char path[512];
    snprintf(path, sizeof path, "%s/y.npy", tmp);
    double junk[8] = {1e3, -7, 5, 0, 1, 2, 3, 4};
    npy_save(path, ELEM_F64, 2, (size_t[]){2, 4}, junk);
    write_manifest(tmp, "{\"stage\": \"toy\", \"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"s\"},"
                        " {\"name\": \"y\", \"role\": \"output\", \"rtol\": 1e308, \"atol\": 1e308},"
                        " {\"name\": \"w\", \"role\": \"output\", \"rtol\": 1e308, \"atol\": 1e308},"
                        " {\"name\": \"f\", \"role\": \"output\", \"rtol\": 1e308, \"atol\": 1e308}]}");
    printf("(a FAIL line below is expected: garbage under a loosened manifest)\n");
    ck_assert_int_eq(toy_check(tmp, 0), 1);
    /* nor does calling the garbage an input: the stage, not the manifest, says what is graded */
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"y\", \"role\": \"input\"}]}");
    printf("(a FAIL line below is expected: garbage declared an input)\n");
    ck_assert_int_eq(toy_check(tmp, 0), 1);
    /* NaN in a graded output: FAIL, not exit 2 */
    junk[0] = NAN;
    toy_dump(tmp, 2, 4);
    npy_save(path, ELEM_F64, 2, (size_t[]){2, 4}, junk);
    ck_assert_int_eq(toy_check(tmp, 0), 1);
    /* tightening: rtol = atol = 0 on f, whose stage tolerance would accept 1 ulp */
    toy_dump(tmp, 2, 4);
    snprintf(path, sizeof path, "%s/f.npy", tmp);
    size_t sh[NPY_MAX_DIMS];
    float *f = npy_load(path, "f", ELEM_F32, 1, sh);
    f[1] = nextafterf(f[1], INFINITY);
    npy_save(path, ELEM_F32, 1, sh, f);
    free(f);
    ck_assert_int_eq(toy_check(tmp, 0), 0);   /* within the stage's tolerance */
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"s\"},"
                        " {\"name\": \"f\", \"role\": \"output\", \"rtol\": 0, \"atol\": 0}]}");
    printf("(a FAIL line below is expected: 1 ulp under a manifest tightened to 0)\n");
    ck_assert_int_eq(toy_check(tmp, 0), 1);
}
END_TEST

/* Sets at another shape, and subsets: outputs left out are "not in this set". */
START_TEST(typed_any_shape_and_subsets) {
    toy_dump(tmp, 7, 2);
    ck_assert_int_eq(toy_check(tmp, 0), 0);
    /* a hand-written minimal manifest: names only; y alone, s absent (optional) */
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"y\", \"role\": \"output\"}]}");
    ck_assert_int_eq(toy_check(tmp, 0), 0);
    /* an output the stage does not know (a misspelling) is a FAIL */
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"y\", \"role\": \"output\"},"
                        " {\"name\": \"Y\", \"file\": \"y.npy\", \"role\": \"output\"}]}");
    printf("(a FAIL line below is expected: an output this stage does not know)\n");
    ck_assert_int_eq(toy_check(tmp, 0), 1);
}
END_TEST

/* vec_compare_dirs (the regenerate-and-compare test of every stage) and vec_tamper (the
 * tampered set --check must fail). */
START_TEST(typed_tamper_and_compare_dirs) {
    toy_dump(tmp, 2, 3);
    char fresh[4096];
    snprintf(fresh, sizeof fresh, "%s/fresh", tmp);
    toy_dump(fresh, 2, 3);
    ck_assert_int_eq(vec_compare_dirs(tmp, fresh), 0);
    ck_assert_int_eq(vec_tamper(tmp), 0);
    printf("(FAIL lines below are expected: a tampered set)\n");
    ck_assert_int_eq(vec_compare_dirs(tmp, fresh), 1);
    ck_assert_int_eq(toy_check(tmp, 0), 1);
}
END_TEST

/* vec_own_tolerances: a run at another precision than the set's grades by the stage's own
 * tolerances only (a manifest tightened to 0 no longer applies), and still fails garbage. */
static int toy_check_own(const char *dir) {
    vec_set *v = vec_set_check(dir, "toy");
    vec_own_tolerances(v, "test");
    toy_in in;
    toy_inputs(v, &in, VEC_OPTIONAL);
    toy_compute(v, &in, 0);
    free(in.x), free(in.z), free(in.s);
    return vec_set_close(v);
}

START_TEST(typed_own_tolerances) {
    toy_dump(tmp, 2, 4);
    char path[512];
    snprintf(path, sizeof path, "%s/f.npy", tmp);
    size_t sh[NPY_MAX_DIMS];
    float *f = npy_load(path, "f", ELEM_F32, 1, sh);
    f[1] = nextafterf(f[1], INFINITY);
    npy_save(path, ELEM_F32, 1, sh, f);
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"s\"},"
                        " {\"name\": \"f\", \"role\": \"output\", \"rtol\": 0, \"atol\": 0}]}");
    ck_assert_int_eq(toy_check_own(tmp), 0);
    f[1] += 1;   /* far outside the stage's own tolerance */
    npy_save(path, ELEM_F32, 1, sh, f);
    free(f);
    printf("(a FAIL line below is expected: garbage under the stage's own tolerances)\n");
    ck_assert_int_eq(toy_check_own(tmp), 1);
}
END_TEST

START_TEST(typed_no_outputs_exit2) {
    toy_dump(tmp, 2, 2);
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}]}");
    toy_check(tmp, 0);
}
END_TEST

START_TEST(typed_negative_tolerance_exit2) {
    toy_dump(tmp, 2, 2);
    manifest_edit(tmp, "\"atol\": 0", "\"atol\": -1");
    toy_check(tmp, 0);
}
END_TEST

START_TEST(typed_wrong_stage_exit2) {
    toy_dump(tmp, 2, 2);
    manifest_edit(tmp, "\"stage\": \"toy\"", "\"stage\": \"02_zoh_discretize\"");
    toy_check(tmp, 0);
}
END_TEST

/* z's K disagrees with x's K */
START_TEST(typed_inconsistent_dims_exit2) {
    toy_dump(tmp, 2, 3);
    char path[512];
    snprintf(path, sizeof path, "%s/z.npy", tmp);
    double z[8] = {0};
    npy_save(path, ELEM_F64, 2, (size_t[]){4, 2}, z);
    manifest_edit(tmp, "\"shape\": [3, 2], \"role\": \"input\"", "\"role\": \"input\"");
    toy_check(tmp, 0);
}
END_TEST

/* f is in the set but its input s is not */
START_TEST(typed_output_without_input_exit2) {
    toy_dump(tmp, 2, 3);
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"f\", \"role\": \"output\"}]}");
    toy_check(tmp, 0);
}
END_TEST

/* a complex input stored without its pair axis */
START_TEST(typed_complex_without_pairs_exit2) {
    toy_dump(tmp, 2, 3);
    char path[512];
    snprintf(path, sizeof path, "%s/z.npy", tmp);
    double z[3] = {1, 2, 3};
    npy_save(path, ELEM_F64, 1, (size_t[]){3}, z);
    write_manifest(tmp, "{\"tensors\": [{\"name\": \"x\"}, {\"name\": \"z\"}, {\"name\": \"y\"}]}");
    toy_check(tmp, 0);
}
END_TEST

/* npy conversions: a float32 file read as float64 and back, int64 -> int32 range. */
START_TEST(npy_typed_conversions) {
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/a.npy", tmp);
    float f[3] = {1.5f, -2.25f, 3e-8f};
    npy_save(path, ELEM_F32, 1, (size_t[]){3}, f);
    int nd;
    size_t sh[NPY_MAX_DIMS];
    void *x;
    ck_assert_msg(npy_read_elems(path, ELEM_F64, &nd, sh, &x, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 3; i++) ck_assert(((double *)x)[i] == (double)f[i]);
    free(x);
    ck_assert_int_eq(npy_read_elems(path, ELEM_I32, &nd, sh, &x, err, sizeof err), -1);   /* float file, int wanted */
    int64_t big[2] = {1, (int64_t)1 << 40};
    npy_save(path, ELEM_I64, 1, (size_t[]){2}, big);
    ck_assert_int_eq(npy_read_elems(path, ELEM_I32, &nd, sh, &x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "does not fit int32"), "%s", err);
    /* complex64: float32 pairs on disk, the logical shape without the pair axis */
    float complex c[3] = {CMPLXF(1, -2), CMPLXF(0.5f, 3e-8f), CMPLXF(-7, 0)};
    npy_save(path, ELEM_C64, 1, (size_t[]){3}, c);
    npy_array raw;
    ck_assert_msg(npy_read(path, &raw, err, sizeof err) == 0, "%s", err);
    ck_assert(raw.dtype == NPY_F32 && raw.ndim == 2 && raw.shape[0] == 3 && raw.shape[1] == 2);
    npy_free(&raw);
    float complex *c2 = npy_load(path, "c", ELEM_C64, 1, sh);
    ck_assert(sh[0] == 3 && memcmp(c, c2, sizeof c) == 0);
    free(c2);
    int32_t i32[2] = {-5, 7};
    npy_save(path, ELEM_I32, 1, (size_t[]){2}, i32);
    int64_t *i64 = npy_load(path, "i", ELEM_I64, 1, sh);   /* widened */
    ck_assert(i64[0] == -5 && i64[1] == 7);
    free(i64);
    float inf[1] = {INFINITY};
    npy_save(path, ELEM_F32, 1, (size_t[]){1}, inf);
    ck_assert_int_eq(npy_read_elems(path, ELEM_F32, &nd, sh, &x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "finite"), "%s", err);
}
END_TEST

/* ---------------- safetensors ---------------- */

START_TEST(safetensors_roundtrip) {
    float w[6] = {1, 2, 3, 4, 5, 6};
    double b[2] = {-1, 0.25};
    st_tensor t[2] = {{"layer.weight", NPY_F32, 2, {2, 3}, w}, {"layer.bias", NPY_F64, 1, {2}, b}};
    char path[512], val[64];
    snprintf(path, sizeof path, "%s/m.safetensors", tmp);
    st_save(path, t, 2, "\"step\":\"12\"");
    st_file f;
    st_load(path, &f);
    ck_assert_int_eq(f.n, 2);
    size_t shw[2] = {2, 3};
    const float *w2 = st_get(&f, "layer.weight", NPY_F32, 2, shw);
    ck_assert_int_eq(memcmp(w, w2, sizeof w), 0);
    ck_assert_int_eq(st_meta(&f, "step", val, sizeof val), 0);
    ck_assert_str_eq(val, "12");
    st_free(&f);
}
END_TEST

/* A truncated checkpoint must exit 2 (forked test expecting exit 2). */
START_TEST(safetensors_truncated_exit2) {
    float w[6] = {1, 2, 3, 4, 5, 6};
    st_tensor t[1] = {{"w", NPY_F32, 1, {6}, w}};
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/m.safetensors", tmp);
    st_save(path, t, 1, NULL);
    snprintf(cmd, sizeof cmd, "truncate -s -4 '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    st_file f;
    st_load(path, &f);
}
END_TEST

/* A tensor of the wrong shape exits 2 with one line naming the file, the tensor and both
 * shapes (the child process does the load; the parent reads its stderr). */
START_TEST(safetensors_wrong_shape_names_file) {
    float w[6] = {1, 2, 3, 4, 5, 6};
    st_tensor t[1] = {{"w", NPY_F32, 1, {6}, w}};
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", tmp);
    st_save(path, t, 1, NULL);
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        st_file f;
        st_load(path, &f);
        size_t want[2] = {2, 3};
        st_get(&f, "w", NPY_F32, 2, want);
        _exit(0);   /* not reached: st_get exits 2 */
    }
    close(fd[1]);
    char msg[2048] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)r;
    msg[got] = 0;
    close(fd[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    ck_assert_msg(strstr(msg, path) && strstr(msg, "tensor 'w'") && strstr(msg, "expected shape (2,3), got (6)"),
                  "message: %s", msg);
}
END_TEST

/* ---------------- fits ---------------- */

START_TEST(loglog_slope_exact) {
    double x[5], y[5];
    for (int i = 0; i < 5; i++) { x[i] = pow(2, -i); y[i] = 3 * pow(x[i], 4); }
    /* An exact power law: the fitted slope is 4 up to rounding in log(). */
    ck_assert_double_lt(fabs(loglog_slope(x, y, 5) - 4), 1e-12);
}
END_TEST

int main(void) {
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("npy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, npy_roundtrip_all_dtypes);
    tcase_add_test(tc, npy_scalar_and_empty);
    tcase_add_test(tc, npy_rejects_malformed);
    tcase_add_exit_test(tc, npy_load_rejects_nan, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("rng_cli_json");
    tcase_add_test(tc, rng_reproducible_and_moments);
    tcase_add_test(tc, cli_parses_forms);
    tcase_add_exit_test(tc, cli_unknown_flag, 2);
    tcase_add_exit_test(tc, cli_bad_int, 2);
    tcase_add_exit_test(tc, cli_nan_double, 2);
    tcase_add_exit_test(tc, cli_missing_value, 2);
    tcase_add_exit_test(tc, cli_positional, 2);
    tcase_add_exit_test(tc, cli_help_exits_0, 0);
    tcase_add_test(tc, json_parses_and_rejects);
    tcase_add_test(tc, loglog_slope_exact);
    suite_add_tcase(s, tc);

    tc = tcase_create("vectors_safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, typed_roundtrip_and_pairs);
    tcase_add_test(tc, typed_wrong_answer_fails);
    tcase_add_test(tc, typed_manifest_only_tightens);
    tcase_add_test(tc, typed_any_shape_and_subsets);
    tcase_add_test(tc, typed_tamper_and_compare_dirs);
    tcase_add_test(tc, typed_own_tolerances);
    tcase_add_exit_test(tc, typed_no_outputs_exit2, 2);
    tcase_add_exit_test(tc, typed_negative_tolerance_exit2, 2);
    tcase_add_exit_test(tc, typed_wrong_stage_exit2, 2);
    tcase_add_exit_test(tc, typed_inconsistent_dims_exit2, 2);
    tcase_add_exit_test(tc, typed_output_without_input_exit2, 2);
    tcase_add_exit_test(tc, typed_complex_without_pairs_exit2, 2);
    tcase_add_test(tc, npy_typed_conversions);
    tcase_add_test(tc, safetensors_roundtrip);
    tcase_add_exit_test(tc, safetensors_truncated_exit2, 2);
    tcase_add_test(tc, safetensors_wrong_shape_names_file);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
