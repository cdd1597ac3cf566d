/* 04_hippo_s4/tests/test_bad_input.c — a checkpoint with values no training makes, or of
 * another run, is refused on load with exit 2 and one line naming the file and the
 * tensor or key (it used to load, or to fail "training diverged" steps later); and
 * s4_kernel refuses modes whose kernel is not real. */
#include <check.h>
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "04_hippo_s4/s4.h"
#include "04_hippo_s4/s4d_model.h"
#include "common/testutil.h"

static const s4d_config CFG = {2, 2, 1};
#define RUN_META "\"init\":\"lin\",\"seed\":\"1\",\"tau\":\"20\",\"L\":\"64\""

typedef struct { const char *path, *run_meta; } load_job;

static void load_run(void *p)
{
    const load_job *j = p;
    s4d_model m;
    s4d_model_init(&m, CFG, S4D_LIN, 1e-3, 1e-1, 2);
    s4d_load_run(&m, j->path, j->run_meta);
}

/* Load path with s4d_load_run(run_meta) in a child: want exit 2, one line naming path and text. */
static void expect_refused(const char *path, const char *run_meta, const char *text)
{
    char msg[2048];
    load_job j = {path, run_meta};
    int rc = th_run_child(load_run, &j, msg, sizeof msg), lines = 0;
    for (const char *p = msg; *p; p++) lines += *p == '\n';
    ck_assert_msg(rc == 2, "%s: exit %d, want 2 (%s)", text, rc, msg);
    ck_assert_msg(lines == 1 && strstr(msg, path) && strstr(msg, text), "want one line naming %s and '%s': %s", path, text, msg);
}

START_TEST(test_spoiled_checkpoints_refused)
{
    char dir[256], ck[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/c.safetensors", dir);
    /* which array, which flat index, what value, what the message must say */
    struct { int which; double value; const char *text; } cases[] = {
        {0, 1e30, "element 1 is 1e+30"}, {0, NAN, "element 1 is nan"}, {1, NAN, "tensor 'adam_m."},
        {2, -1e-9, "tensor 'adam_v."}, {2, INFINITY, "is inf"}, {2, NAN, "tensor 'adam_v."}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        s4d_model m;
        s4d_model_init(&m, CFG, S4D_LIN, 1e-3, 1e-1, 1);
        ck_assert(m.t[0].n > 1);
        double *arr[3] = {m.params, m.adam_m, m.adam_v};
        arr[cases[k].which][m.t[0].off + 1] = cases[k].value;
        s4d_save(&m, ck, RUN_META);
        s4d_model_free(&m);
        expect_refused(ck, RUN_META, cases[k].text);
    }
    /* another run's checkpoint: its metadata differs from this run's */
    s4d_model m;
    s4d_model_init(&m, CFG, S4D_LIN, 1e-3, 1e-1, 1);
    s4d_save(&m, ck, RUN_META);
    expect_refused(ck, "\"init\":\"legs\",\"seed\":\"1\",\"tau\":\"20\",\"L\":\"64\"", "metadata \"init\" = \"lin\", this run has \"legs\"");
    expect_refused(ck, "\"init\":\"lin\",\"seed\":\"1\",\"tau\":\"100\",\"L\":\"64\"", "metadata \"tau\"");
    /* and the unspoiled one loads */
    s4d_model b;
    s4d_model_init(&b, CFG, S4D_LIN, 1e-3, 1e-1, 2);
    s4d_load_run(&b, ck, RUN_META);
    ck_assert(memcmp(b.params, m.params, m.nparams * sizeof(double)) == 0);
    s4d_model_free(&b);
    s4d_model_free(&m);
}
END_TEST

typedef struct { double complex *Lam, *P, *B, *C; double *K; } kernel_job;

static void kernel_run(void *p)
{
    const kernel_job *j = p;
    s4_kernel(2, j->Lam, j->P, j->P, j->B, j->C, 0.1, 16, j->K);
}

/* s4_kernel on modes that are not closed under conjugation: exit 2, not a wrong kernel. */
START_TEST(test_s4_kernel_unpaired_modes_exit2)
{
    /* one pair λ, conj λ with conjugate numerators: accepted, and the kernel is finite */
    double complex Lam[2] = {-0.5 + 2.0 * I, -0.5 - 2.0 * I}, P[2] = {0.3 + 0.1 * I, 0.3 - 0.1 * I},
                   B[2] = {1.0 - 0.5 * I, 1.0 + 0.5 * I}, C[2] = {0.7 + 0.2 * I, 0.7 - 0.2 * I};
    double K[16];
    s4_kernel(2, Lam, P, P, B, C, 0.1, 16, K);
    for (int j = 0; j < 16; j++) ck_assert(isfinite(K[j]));
    C[1] = 0.7 + 0.2 * I;   /* the partner's C~ no longer conjugate: the kernel would be complex */
    kernel_job j = {Lam, P, B, C, K};
    char msg[1024];
    int rc = th_run_child(kernel_run, &j, msg, sizeof msg);
    ck_assert_msg(rc == 2 && strstr(msg, "not closed under conjugation"), "exit %d: %s", rc, msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("s4d checkpoints");
    TCase *tc = tcase_create("refused");
    tcase_add_test(tc, test_spoiled_checkpoints_refused);
    tcase_add_test(tc, test_s4_kernel_unpaired_modes_exit2);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
