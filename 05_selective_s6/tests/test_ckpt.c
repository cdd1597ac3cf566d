/* 05_selective_s6/tests/test_ckpt.c — a checkpoint that is not this run's, or that holds
 * values no training makes, is refused on load with exit 2 and one line naming the file
 * and the tensor or metadata key — never used, never "training diverged" steps later.
 * Each case saves a real checkpoint with one thing wrong, then loads it in a child. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "common/safetensors.h"
#include "common/testutil.h"

static const mamba_config SMALL = {.vocab = 10, .d_model = 16, .n_layer = 2, .d_state = 8};
enum { NH = 3 };   /* steps "taken" in the saved run */

/* Save a checkpoint of `cfg` (seed 1, NH steps, loss history NH values) after `spoil`
 * changed the model, the moments or the history. */
static void save_spoiled(const char *path, const mamba_config *cfg, void (*spoil)(mamba_model *, mamba_opt *, real *))
{
    mamba_model m;
    mamba_opt o;
    mamba_init(&m, cfg, 1);
    mamba_opt_init(&o, &m);
    o.step = NH;
    real hist[NH] = {2.3f, 2.2f, 2.1f};
    for (size_t i = 0; i < m.n_params; i++) o.v[i] = 1e-6f;
    if (spoil) spoil(&m, &o, hist);
    mamba_save(&m, &o, path, NULL, hist, NH);
    mamba_opt_free(&o);
    mamba_free(&m);
}

static void load_small(void *path)
{
    mamba_model m;
    mamba_opt o;
    mamba_init(&m, &SMALL, 2);
    mamba_opt_init(&o, &m);
    real hist[100];
    mamba_load(&m, &o, path, hist, 100);
}

/* Load `path` into a SMALL model in a child; want exit 2 and one line holding `text`. */
static void expect_refused(const char *path, const char *text)
{
    char msg[2048];
    int rc = th_run_child(load_small, (void *)path, msg, sizeof msg), lines = 0;
    for (const char *p = msg; *p; p++) lines += *p == '\n';
    ck_assert_msg(rc == 2, "%s: exit %d, want 2 (%s)", text, rc, msg);
    ck_assert_msg(lines == 1 && strstr(msg, path) && strstr(msg, text), "want one line naming %s and '%s': %s", path, text, msg);
}

static void nan_m(mamba_model *m, mamba_opt *o, real *h) { (void)m; (void)h; o->m[5] = NAN; }
static void neg_v(mamba_model *m, mamba_opt *o, real *h) { (void)m; (void)h; o->v[7] = -1e-8f; }
static void inf_v(mamba_model *m, mamba_opt *o, real *h) { (void)m; (void)h; o->v[7] = INFINITY; }
static void nan_v(mamba_model *m, mamba_opt *o, real *h) { (void)m; (void)h; o->v[7] = NAN; }
static void huge_w(mamba_model *m, mamba_opt *o, real *h) { (void)o; (void)h; m->params[m->t[1].offset] = 1e30f; }
static void w_3e38(mamba_model *m, mamba_opt *o, real *h) { (void)o; (void)h; m->params[m->t[1].offset + 3] = 3e38f; }
static void nan_loss(mamba_model *m, mamba_opt *o, real *h) { (void)m; (void)o; h[1] = NAN; }
static void neg_loss(mamba_model *m, mamba_opt *o, real *h) { (void)m; (void)o; h[2] = -1; }

START_TEST(test_values_refused)
{
    char dir[256], ck[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/m.safetensors", dir);
    mamba_model m;
    mamba_init(&m, &SMALL, 1);
    char w1[200], m0[200], v0[200];
    snprintf(w1, sizeof w1, "tensor '%s': element 0 is 1e+30", m.t[1].name);
    /* element 5 / 7 of the flat moments lie in tensor 0 (the embedding, vocab x d_model) */
    ck_assert(m.t[0].offset == 0 && m.t[0].size > 7);
    snprintf(m0, sizeof m0, "tensor 'optimizer.m.%s': element 5 is nan", m.t[0].name);
    snprintf(v0, sizeof v0, "tensor 'optimizer.v.%s': element 7 is", m.t[0].name);
    mamba_free(&m);
    struct { void (*spoil)(mamba_model *, mamba_opt *, real *); const char *text; } cases[] = {
        {nan_m, m0}, {neg_v, v0}, {inf_v, v0}, {nan_v, v0}, {huge_w, w1}, {w_3e38, "is 3e+38"},
        {nan_loss, "tensor 'train.loss': element 1 is nan"}, {neg_loss, "tensor 'train.loss': element 2 is -1"}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        save_spoiled(ck, &SMALL, cases[k].spoil);
        expect_refused(ck, cases[k].text);
    }
    save_spoiled(ck, &SMALL, NULL);   /* and the unspoiled one loads */
    mamba_model b;
    mamba_opt o;
    mamba_init(&b, &SMALL, 2);
    mamba_opt_init(&o, &b);
    real hist[100];
    ck_assert_int_eq(mamba_load(&b, &o, ck, hist, 100), NH);
    ck_assert_int_eq(o.step, NH);
    mamba_opt_free(&o);
    mamba_free(&b);
}
END_TEST

/* A checkpoint of another configuration: refused by its metadata, before any tensor. */
START_TEST(test_other_run_refused)
{
    char dir[256], ck[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/m.safetensors", dir);
    mamba_config c = SMALL;
    c.kind = MAMBA_LTI;
    save_spoiled(ck, &c, NULL);
    expect_refused(ck, "metadata \"kind\" = \"lti\", this run has \"s6\"");
    c = SMALL;
    c.d_model = 32;
    save_spoiled(ck, &c, NULL);
    expect_refused(ck, "metadata \"hidden_size\" = \"32\", this run has \"16\"");
    c = SMALL;
    c.no_gate = 1;
    save_spoiled(ck, &c, NULL);
    expect_refused(ck, "metadata \"gate\"");
}
END_TEST

/* An extra tensor, and a step count that is not one: the file is rewritten with them. */
START_TEST(test_extra_tensor_and_bad_step_refused)
{
    char dir[256], ck[512], ck2[600];
    th_tmpdir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/m.safetensors", dir);
    snprintf(ck2, sizeof ck2, "%s/m2.safetensors", dir);
    save_spoiled(ck, &SMALL, NULL);
    for (int variant = 0; variant < 2; variant++) {
        st_file f;
        st_load(ck, &f);
        st_tensor *t = calloc((size_t)f.n + 1, sizeof *t);
        memcpy(t, f.t, (size_t)f.n * sizeof *t);
        float extra[2] = {1, 2};
        int n = f.n;
        if (variant == 0) {
            snprintf(t[n].name, sizeof t[n].name, "layers.9.extra");
            t[n].dtype = NPY_F32;
            t[n].ndim = 1;
            t[n].shape[0] = 2;
            t[n].data = extra;
            n++;
        }
        /* the metadata again as a JSON object body, opt_step spoiled in variant 1 */
        char md[2048] = "";
        for (const char *p = f.metadata; *p;) {
            const char *sep = strchr(p, '\x1f'), *end = strchr(p, '\x1e');
            int spoil = variant == 1 && !strncmp(p, "opt_step", 8);
            snprintf(md + strlen(md), sizeof md - strlen(md), "%s\"%.*s\":\"%.*s\"", *md ? "," : "", (int)(sep - p), p,
                     spoil ? 2 : (int)(end - sep - 1), spoil ? "-3" : sep + 1);
            p = end + 1;
        }
        st_save(ck2, t, n, md);
        free(t);
        st_free(&f);
        expect_refused(ck2, variant == 0 ? "tensor 'layers.9.extra' is not part of this model" : "metadata \"opt_step\" = \"-3\"");
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoints");
    TCase *tc = tcase_create("refused");
    tcase_add_test(tc, test_values_refused);
    tcase_add_test(tc, test_other_run_refused);
    tcase_add_test(tc, test_extra_tensor_and_bad_step_refused);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
