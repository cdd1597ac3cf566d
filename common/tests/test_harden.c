/* common/tests/test_harden.c — bad input gets exit 2 and one line, never a crash, a
 * hang, a leak or a read of what the file only claims to hold.
 *   - strict JSON: what RFC 8259 forbids is rejected (cJSON alone takes some of it);
 *   - every regression input in common/fuzz/regress/KIND/ makes read_input exit 2 with
 *     one line naming the file (under SAN=1 also with leak checks on: a report changes
 *     the exit code and adds lines);
 *   - a FIFO is refused at once, control characters are escaped in messages. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/json.h"
#include "common/npy.h"
#include "common/testutil.h"
#include "common/util.h"
#include "common/vectors.h"

#define REGRESS ROOT_DIR "/common/fuzz/regress"

/* ---------------- JSON ---------------- */

START_TEST(json_strict_rejects) {
    /* each is accepted by a lenient reader: strtod, cJSON's number scan, or a last-key-wins map */
    const char *bad[] = {"[nan]", "[NaN]", "[inf]", "[-Infinity]", "[0x10]", "[+1]", "[01]", "[-01]", "[.5]",
                         "[1.]", "[1e]", "[1e+]", "[--1]", "[1e999]", "[-1e999]", "{\"a\":1,\"a\":2}",
                         "[{\"k\":[{\"x\":0,\"y\":1,\"x\":2}]}]", "{} x", "[1]]", "[\"a\\u0000\"]",
                         "[\"a\tb\"]", "[1,\x0b" "2]", "", " ", "{'a':1}", "[1,]", "[1 /* c */]"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        jparser p = {bad[k], NULL};
        jval *v = jparse(&p, 0);
        ck_assert_msg(v == NULL && p.err, "'%s' should not parse", bad[k]);
    }
}
END_TEST

START_TEST(json_accepts_and_types) {
    jparser p = {" {\"shape\": [0, 3, 9007199254740992], \"x\": -0.5e-3, \"s\": \"\\u00e9\\n\", \"o\": {}, "
                 "\"z\": -0, \"big\": 9007199254740993, \"f\": 2.5} ", NULL};
    jval *v = jparse(&p, 0);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(*p.s, 0);   /* consumed the whole text */
    uint64_t x;
    const jval *sh = jget(v, "shape");
    ck_assert_int_eq(jint(sh->items[0], 10, &x), 0);
    ck_assert_int_eq(x, 0);
    ck_assert_int_eq(jint(sh->items[2], JSON_MAX_INT, &x), 0);   /* 2^53 is still exact */
    ck_assert(x == JSON_MAX_INT);
    ck_assert_int_eq(jint(sh->items[1], 2, &x), -1);             /* over the caller's max */
    ck_assert_int_eq(jint(jget(v, "x"), 10, &x), -1);            /* negative, fractional */
    ck_assert_int_eq(jint(jget(v, "f"), 10, &x), -1);            /* fractional */
    ck_assert_int_eq(jint(jget(v, "z"), 10, &x), 0);             /* -0 is 0 */
    /* 2^53 + 1 rounds to 2^53 as a double; any max is capped at 2^53 so nothing past it
     * that a double could have rounded is taken as exact */
    ck_assert_int_eq(jint(jget(v, "big"), UINT64_MAX, &x), 0);
    ck_assert(x == JSON_MAX_INT);
    ck_assert_str_eq(jget(v, "s")->str, "\xc3\xa9\n");          /* \u escapes become UTF-8 */
    ck_assert_int_eq(jget(v, "o")->t, J_OBJ);
    jfree(v);
}
END_TEST

/* 1.9 M numbers: the old reader grew arrays one element at a time (over a minute). */
START_TEST(json_big_array_is_linear) {
    const size_t n = 1900000;
    char *text = malloc(2 * n + 2);
    size_t w = 0;
    text[w++] = '[';
    for (size_t i = 0; i < n; i++) { text[w++] = (char)('0' + i % 10); text[w++] = ','; }
    text[w - 1] = ']';
    text[w] = 0;
    /* CPU time, not wall time: on a loaded machine the wall clock measures the others */
    clock_t c0 = clock();
    jparser p = {text, NULL};
    jval *v = jparse(&p, 0);
    double t = (double)(clock() - c0) / CLOCKS_PER_SEC;
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->n, (int)n);
    /* a linear parse takes ~0.5 s of CPU (~3 s under ASan); quadratic growth takes minutes */
    ck_assert_msg(t < 20, "parsing %zu numbers took %.1f s of CPU", n, t);
    jfree(v);
    free(text);
}
END_TEST

/* ---------------- .npy header: NumPy's grammar ---------------- */

/* Each header below was written as a .npy v1.0 file with 16 data bytes and loaded with
 * numpy.load (NumPy 1.24.2, Debian python3-numpy); `numpy` is its verdict, dtype/ndim/
 * last dimension what it read. We accept what NumPy accepts, nothing more; the four
 * headers NumPy takes and we refuse are Python literal forms no writer produces: a
 * negative dimension (NumPy 1.24 then reads a wrong shape), 0x2, +2 and a comment. */
START_TEST(npy_header_matches_numpy) {
    struct { const char *hdr; int numpy, ours; npy_dtype dtype; int ndim; size_t last; } cases[] = {
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", 1, 1, NPY_F64, 1, 2},
        {"{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2,)}", 1, 1, NPY_F64, 1, 2},
        {"{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}", 1, 1, NPY_F64, 1, 2},
        {"{'descr':'<f8','fortran_order':False,'shape':(2,)}", 1, 1, NPY_F64, 1, 2},
        {"{ 'descr' : '<f8' ,\t'fortran_order' : False , 'shape' : ( 2 , ) , }", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", 1, 1, NPY_F64, 2, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2,), }", 1, 1, NPY_F64, 2, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': [2], }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }", 1, 0, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (02,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (0_2,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1_1,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': false, 'shape': (2,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'shape': (2,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 1, 1, NPY_F32, 1, 4},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } garbage", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), },", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,),, }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8' 'fortran_order': False, 'shape': (2,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2 3,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,2,1,1), }", 1, 1, NPY_F64, 4, 1},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, ), }\n", 1, 1, NPY_F64, 1, 2},
        {"  {'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2,), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': 'f8', 'fortran_order': False, 'shape': (2,), }", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '=f8', 'fortran_order': False, 'shape': (2,), }", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '|f8', 'fortran_order': False, 'shape': (2,), }", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (0x2,), }", 1, 0, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (True, 2), }", 0, 0, NPY_F64, -1, 0},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (+2,), }", 1, 0, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } # c", 1, 0, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'descr': '<f8'}", 1, 1, NPY_F64, 1, 2},
        {"{'descr': '<f8', 'fortran_order': True, 'shape': (2,), 'fortran_order': False}", 1, 1, NPY_F64, 1, 2},
        {"{}", 0, 0, NPY_F64, -1, 0},
        {"", 0, 0, NPY_F64, -1, 0},
    };
    char dir[256];
    th_tmpdir(dir, sizeof dir);
    const double data[2] = {1.5, -2.5};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char path[512], err[512], hdr[256];
        size_t n = strlen(cases[k].hdr), pad = (64 - (10 + n + 1) % 64) % 64;
        snprintf(hdr, sizeof hdr, "%s%*s\n", cases[k].hdr, (int)pad, "");
        size_t hlen = strlen(hdr);
        snprintf(path, sizeof path, "%s/h%02zu.npy", dir, k);
        FILE *f = fopen(path, "wb");
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hlen, (unsigned char)(hlen >> 8)};
        fwrite(pre, 1, 10, f);
        fwrite(hdr, 1, hlen, f);
        fwrite(data, 1, sizeof data, f);
        fclose(f);
        npy_array a;
        int ok = npy_read(path, &a, err, sizeof err) == 0;
        ck_assert_msg(ok == cases[k].ours, "header %zu <%s>: NumPy %s it, we %s it (%s)", k, cases[k].hdr,
                      cases[k].numpy ? "reads" : "rejects", ok ? "read" : "reject", ok ? "" : err);
        if (ok) {
            ck_assert_msg(a.dtype == cases[k].dtype && a.ndim == cases[k].ndim && a.shape[a.ndim - 1] == cases[k].last,
                          "header %zu <%s>: read differently from NumPy", k, cases[k].hdr);
            npy_free(&a);
        }
    }
}
END_TEST

/* ---------------- regression inputs, through the program ---------------- */

/* Run read_input KIND FILE with leak checks ON; want exit 2, exactly one stderr line
 * that names the file. */
static void expect_rejected(const char *kind, const char *path, const char *text) {
    char cmd[2048], err[4096];
    snprintf(cmd, sizeof cmd, "timeout 20 %s %s '%s'", PROG_PATH, kind, path);
    int rc = th_run(cmd, err, sizeof err);
    size_t lines = 0;
    for (const char *p = err; *p; p++) lines += *p == '\n';
    ck_assert_msg(rc == 2, "`%s` exited %d, want 2 (stderr: %s)", cmd, rc, err);
    ck_assert_msg(lines == 1, "`%s` printed %zu lines on stderr, want 1: %s", cmd, lines, err);
    ck_assert_msg(strstr(err, path) != NULL, "`%s`: the message does not name the file: %s", cmd, err);
    if (text) ck_assert_msg(strstr(err, text) != NULL, "`%s`: the message lacks '%s': %s", cmd, text, err);
}

static void run_regress_dir(const char *kind) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", REGRESS, kind);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: missing", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        expect_rejected(kind, path, NULL);
        n++;
    }
    closedir(d);
    ck_assert_int_gt(n, 0);
    printf("regress/%s: %d inputs rejected with exit 2 and one line\n", kind, n);
}

START_TEST(regress_json) { run_regress_dir("json"); }
END_TEST
START_TEST(regress_safetensors) { run_regress_dir("safetensors"); }
END_TEST
START_TEST(regress_npy) { run_regress_dir("npy"); }
END_TEST

/* The particular messages the issue asked for. */
START_TEST(reproducers_name_the_problem) {
    expect_rejected("safetensors", REGRESS "/safetensors/metadata_array.safetensors", "__metadata__ is not an object");
    expect_rejected("safetensors", REGRESS "/safetensors/offsets_fractional.safetensors", "data_offsets");
    expect_rejected("safetensors", REGRESS "/safetensors/offsets_overlap.safetensors", "overlap");
    expect_rejected("safetensors", REGRESS "/safetensors/header_60MB_claimed.safetensors", "does not fit the file");
    expect_rejected("safetensors", REGRESS "/safetensors/shape_fractional.safetensors", "shape entry");
    expect_rejected("safetensors", REGRESS "/safetensors/header_duplicate_tensor.safetensors", "duplicate key");
    /* a '\r' and an ESC from the file are printed escaped, the line stays one line */
    expect_rejected("safetensors", REGRESS "/safetensors/dtype_unknown_control_chars.safetensors", "'a\\r\\x1b[2Kb'");
    expect_rejected("json", REGRESS "/json/nul_after.json", "NUL byte");
    expect_rejected("npy", REGRESS "/npy/claims_16GiB.npy", NULL);
}
END_TEST

/* A FIFO blocks a reader that opens it plainly (until a writer comes: forever). */
START_TEST(fifo_refused_at_once) {
    char dir[256], path[512];
    th_tmpdir(dir, sizeof dir);
    const char *kinds[] = {"safetensors", "npy", "json"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/fifo_%s", dir, kinds[k]);
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        expect_rejected(kinds[k], path, "not a regular file");   /* a blocked open: timeout's 124 */
    }
    snprintf(path, sizeof path, "%s", dir);   /* a directory is not a file either */
    expect_rejected("safetensors", path, "not a regular file");
}
END_TEST

/* A manifest's names are printed (PASS/FAIL and note lines): a control character in one
 * (a '\r', an escape sequence) is refused, not echoed raw to the terminal. */
static void check_dir(void *dir) { vec_set_check(dir, "test"); }

START_TEST(manifest_control_characters_refused) {
    char dir[256], path[512], msg[2048];
    th_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"stage\": \"test\", \"tensors\": [{\"name\": \"A\\r\\u001b[2J\", \"file\": \"A.npy\"}]}", f);
    fclose(f);
    int rc = th_run_child(check_dir, dir, msg, sizeof msg), lines = 0;
    for (const char *p = msg; *p; p++) lines += *p == '\n';
    ck_assert_msg(rc == 2 && lines == 1 && strstr(msg, "control character") && !strchr(msg, '\r') && !strchr(msg, 0x1b),
                  "exit %d: %s", rc, msg);
}
END_TEST

int main(void) {
    Suite *s = suite_create("harden");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, json_strict_rejects);
    tcase_add_test(tc, json_accepts_and_types);
    tcase_add_test(tc, json_big_array_is_linear);
    tcase_add_test(tc, npy_header_matches_numpy);
    suite_add_tcase(s, tc);
    tc = tcase_create("regress");
    tcase_add_test(tc, regress_json);
    tcase_add_test(tc, regress_safetensors);
    tcase_add_test(tc, regress_npy);
    tcase_add_test(tc, reproducers_name_the_problem);
    tcase_add_test(tc, fifo_refused_at_once);
    tcase_add_test(tc, manifest_control_characters_refused);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
