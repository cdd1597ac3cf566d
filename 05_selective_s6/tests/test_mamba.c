/* tests/test_mamba.c — the Mamba model in float32: initialisation as the reference,
 * recurrent step = full forward, training lowers the loss, checkpoints round-trip and a
 * resumed run reproduces the uninterrupted loss curve, bad inputs exit 2, the CLI, and
 * the standard golden-vector tests. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "05_selective_s6/mamba.h"
#include "05_selective_s6/tasks.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/safetensors.h"
#include "common/testutil.h"

static const mamba_config SMALL = {.vocab = 10, .d_model = 16, .n_layer = 2, .d_state = 8};

START_TEST(test_init_as_reference)
{
    mamba_model m;
    mamba_init(&m, &SMALL, 1);
    const int di = m.cfg.d_inner, N = m.cfg.d_state;
    ck_assert_int_eq(di, 32);                           /* expand 2 */
    ck_assert_int_eq(m.cfg.dt_rank, 1);                 /* ⌈16/16⌉ */
    const mamba_tensor *cw = mamba_find(&m, "backbone.layers.0.mixer.conv1d.weight");
    ck_assert_ptr_nonnull(cw);
    ck_assert(cw->ndim == 3 && cw->shape[0] == (size_t)di && cw->shape[1] == 1 && cw->shape[2] == 4);
    ck_assert_ptr_nonnull(mamba_find(&m, "backbone.embeddings.weight"));
    ck_assert_ptr_nonnull(mamba_find(&m, "backbone.norm_f.weight"));
    ck_assert_ptr_nonnull(mamba_find(&m, "backbone.layers.1.mixer.x_proj.weight"));
    for (int l = 0; l < 2; l++) {
        const struct mamba_layer_params *p = &m.layer[l];
        for (int d = 0; d < di; d++) {
            ck_assert(p->D[d] == 1);
            for (int n = 0; n < N; n++)   /* A_log = log(n+1), exact up to float rounding */
                ck_assert(fabs(p->A_log[d * N + n] - log(n + 1.0)) <= 2 * REAL_EPS * log(n + 1.0));
            /* Δ = softplus(bias) drawn in [1e-3, 1e-1] (float rounding of the inverse: 1e-5 rel) */
            double dt = softplus(p->dt_proj_b[d]);
            ck_assert_msg(dt >= 1e-3 * (1 - 1e-5) && dt <= 1e-1 * (1 + 1e-5), "dt = %g", dt);
        }
    }
    mamba_free(&m);
}
END_TEST

/* The recurrent step and the full forward do the same arithmetic in different orders
 * (BLAS blocking over B·L rows or B rows; the conv from a shifted window): per layer the
 * difference is bounded by the dot-product lengths (d_model + d_inner) and the scan
 * length L, times 4ε, relative to the logits' scale; over n_layer layers it adds up. */
static void check_step(int kind, int no_gate)
{
    mamba_config c = SMALL;
    c.kind = kind;
    c.no_gate = no_gate;
    mamba_model m;
    mamba_init(&m, &c, 2);
    rng_t r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] += (real)(0.1 * rng_normal(&r));
    const int B = 3, L = 40, V = c.vocab;
    int tok[3 * 40];
    for (int i = 0; i < B * L; i++) tok[i] = (int)rng_below(&r, V);
    real *full = malloc(sizeof(real) * B * L * V), *st = malloc(sizeof(real) * B * V);
    double *got = malloc(sizeof(double) * B * L * V), *want = malloc(sizeof(double) * B * L * V);
    mamba_forward(&m, tok, NULL, B, L, full);
    mamba_step_state s;
    mamba_step_init(&m, &s, B);
    for (int t = 0; t < L; t++) {
        int tk[3];
        for (int b = 0; b < B; b++) tk[b] = tok[b * L + t];
        th_poison_f32(st, (size_t)B * V);
        mamba_step(&m, &s, tk, st);
        for (int b = 0; b < B; b++)
            for (int v = 0; v < V; v++) {
                got[((size_t)b * L + t) * V + v] = st[b * V + v];
                want[((size_t)b * L + t) * V + v] = full[((size_t)b * L + t) * V + v];
            }
    }
    double scale = 0;
    for (int i = 0; i < B * L * V; i++) scale = fmax(scale, fabs(want[i]));
    double tol = c.n_layer * 4.0 * (c.d_model + 2 * c.d_model + L) * REAL_EPS * (scale + 1);
    ck_assert_allclose(got, want, (size_t)B * L * V, 0, tol);
    mamba_step_free(&s);
    mamba_free(&m);
    free(full); free(st); free(got); free(want);
}

START_TEST(test_step_equals_forward_s6) { check_step(MAMBA_S6, 0); }
END_TEST
START_TEST(test_step_equals_forward_lti) { check_step(MAMBA_LTI, 0); }
END_TEST
START_TEST(test_step_equals_forward_nogate) { check_step(MAMBA_S6, 1); }
END_TEST

static const task_cfg COPY = {.kind = TASK_COPY, .L_ctx = 24, .K = 4, .M = 8, .vocab = 10};
static const mamba_train_cfg TC = {.lr = 3e-3, .lr_min = 3e-4, .weight_decay = 0.1, .beta1 = 0.9,
                                   .beta2 = 0.95, .clip = 1.0, .warmup = 2, .steps = 30};

/* Copying's scored targets are the 8 colours of a 10-token vocabulary: from the uniform
 * initial prediction (loss ≈ ln 10 = 2.30) the model can reach ln 8 = 2.08 from the
 * token statistics alone, a 10% drop; require at least 5% over 30 steps. */
START_TEST(test_training_lowers_loss)
{
    mamba_model m;
    mamba_init(&m, &SMALL, 4);
    mamba_opt o;
    mamba_opt_init(&o, &m);
    real loss[30];
    train_opts to = {.B = 16, .seed = 5};
    ck_assert_int_eq(train_run(&m, &o, &COPY, &TC, &to, loss), 30);
    double first = (loss[0] + loss[1] + loss[2]) / 3, last = (loss[27] + loss[28] + loss[29]) / 3;
    ck_assert_msg(first > 2.2 && last < 0.95 * first, "loss %g -> %g", first, last);
    mamba_opt_free(&o);
    mamba_free(&m);
}
END_TEST

/* Data depend only on (seed, step) and the checkpoint holds parameters, AdamW moments,
 * the step and the loss history: the resumed run must reproduce the uninterrupted one
 * bit for bit (same thread count, deterministic reductions). */
START_TEST(test_resume_reproduces_curve)
{
    char dir[256], ck[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    real full[30], part[30];
    mamba_model m;
    mamba_opt o;
    train_opts to = {.B = 8, .seed = 6};
    mamba_init(&m, &SMALL, 7);
    mamba_opt_init(&o, &m);
    train_run(&m, &o, &COPY, &TC, &to, full);
    real *pfull = malloc(m.n_params * sizeof(real));
    memcpy(pfull, m.params, m.n_params * sizeof(real));
    mamba_opt_free(&o);
    mamba_free(&m);

    to.ckpt = ck;
    to.ckpt_every = 4;
    to.stop_after = 13;                               /* interrupted after step 13 */
    mamba_init(&m, &SMALL, 7);
    mamba_opt_init(&o, &m);
    ck_assert_int_eq(train_run(&m, &o, &COPY, &TC, &to, part), 13);
    mamba_opt_free(&o);
    mamba_free(&m);
    th_poison_f32(part, 30);
    to.stop_after = 0;
    mamba_init(&m, &SMALL, 99);                       /* a different init: all must come from the file */
    mamba_opt_init(&o, &m);
    ck_assert_int_eq(train_run(&m, &o, &COPY, &TC, &to, part), 30);
    ck_assert_int_eq(to.resumed_at, 13);
    for (int s = 0; s < 30; s++) ck_assert_msg(part[s] == full[s], "step %d: %g vs %g", s, part[s], full[s]);
    ck_assert(memcmp(pfull, m.params, m.n_params * sizeof(real)) == 0);
    mamba_opt_free(&o);
    mamba_free(&m);
    free(pfull);
    unlink(ck);
    rmdir(dir);
}
END_TEST

START_TEST(test_checkpoint_round_trip)
{
    char dir[256], ck[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/m.safetensors", dir);
    mamba_model a, b;
    mamba_config c = SMALL;
    c.kind = MAMBA_LTI;
    mamba_init(&a, &c, 8);
    mamba_init(&b, &c, 9);
    mamba_save(&a, NULL, ck, "\"note\":\"test\"", NULL, 0);
    ck_assert_int_eq(mamba_load(&b, NULL, ck, NULL, 0), 0);
    ck_assert(memcmp(a.params, b.params, a.n_params * sizeof(real)) == 0);
    st_file *f = malloc(sizeof *f);
    st_load(ck, f);
    char buf[32];
    ck_assert_int_eq(st_meta(f, "hidden_size", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "16");
    st_free(f);
    free(f);
    mamba_free(&a);
    mamba_free(&b);
    unlink(ck);
    rmdir(dir);
}
END_TEST

/* ---- bad input: each of these exits 2 (Check's exit tests) ---- */
static char g_dir[256], g_ck[512];
static void make_ckpt(void)
{
    th_tmpdir(g_dir, sizeof g_dir);
    snprintf(g_ck, sizeof g_ck, "%s/m.safetensors", g_dir);
    mamba_model a;
    mamba_init(&a, &SMALL, 1);
    mamba_save(&a, NULL, g_ck, NULL, NULL, 0);
    mamba_free(&a);
}

START_TEST(test_truncated_checkpoint_exit2)
{
    make_ckpt();
    ck_assert_int_eq(truncate(g_ck, 200), 0);
    mamba_model m;
    mamba_init(&m, &SMALL, 1);
    mamba_load(&m, NULL, g_ck, NULL, 0);
}
END_TEST

START_TEST(test_nan_checkpoint_exit2)
{
    make_ckpt();
    mamba_model m;
    mamba_init(&m, &SMALL, 1);
    m.layer[1].D[3] = NAN;
    mamba_save(&m, NULL, g_ck, NULL, NULL, 0);
    mamba_load(&m, NULL, g_ck, NULL, 0);
}
END_TEST

START_TEST(test_shape_mismatch_checkpoint_exit2)
{
    make_ckpt();
    mamba_config c = SMALL;
    c.d_state = 4;                                   /* A_log is (32, 8) in the file */
    mamba_model m;
    mamba_init(&m, &c, 1);
    mamba_load(&m, NULL, g_ck, NULL, 0);
}
END_TEST

START_TEST(test_bad_token_exit2)
{
    mamba_model m;
    mamba_init(&m, &SMALL, 1);
    int tok[4] = {1, 2, 10, 3};                      /* 10 is outside vocab 10 */
    mamba_forward(&m, tok, NULL, 1, 4, NULL);
}
END_TEST

START_TEST(test_cli_errors)
{
    ck_assert_exit2(PROG_PATH " --tasks bogus", "--tasks");
    ck_assert_exit2(PROG_PATH " --variants s6,s7", "s7");
    ck_assert_exit2(PROG_PATH " --lr -1", "--lr");
    ck_assert_exit2(PROG_PATH " --batch -3", "--batch");
    ck_assert_exit2(PROG_PATH " --d-model 5000", "--d-model");
    ck_assert_exit2(PROG_PATH " --max-seconds -1", "--max-seconds");
    ck_assert_exit2(PROG_PATH " --warmup-length 2", "--warmup-length");
    ck_assert_exit2(PROG_PATH " --warmup-steps -5", "--warmup-steps");
    ck_assert_exit2(PROG_PATH " --no-such-flag", "no-such-flag");
}
END_TEST

/* --check on parts of the committed set: the scan alone, the block alone, the model alone
 * each pass (the rest listed as not in this set); a config that contradicts the tensors'
 * shapes, or a scan without its delta_softplus flag, is a malformed set (exit 2). */
START_TEST(test_check_subsets)
{
    static const struct { const char *prefixes, *extra; int rc; const char *text; } cases[] = {
        {"scan.", "", 0, NULL},
        {"block. backbone.layers.0.mixer.", "", 0, NULL},
        {"backbone. input_ids targets logits loss grad.", "", 0, NULL},
        {"backbone. input_ids targets logits loss grad.", "--set hidden_size=17", 2, "hidden_size"},
        {"backbone. input_ids targets logits loss grad.", "--set use_bias=1", 2, "use_bias"},
        {"scan.", "--drop delta_softplus", 2, "delta_softplus"}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char dir[64], cmd[4096], err[4096];
        th_tmpdir(dir, sizeof dir);
        snprintf(cmd, sizeof cmd, TH_PYTHON " " STAGE_DIR "/tests/subset_set.py " ROOT_DIR
                 "/vectors/05_selective_s6 %s/set %s %s", dir, cases[k].prefixes, cases[k].extra);
        ck_assert_int_eq(th_run(cmd, err, sizeof err), 0);
        snprintf(cmd, sizeof cmd, PROG_PATH " --check %s/set", dir);
        if (cases[k].rc == 2) {
            ck_assert_exit2(cmd, cases[k].text);
        } else {
            const int rc = th_run(cmd, err, sizeof err);
            ck_assert_msg(rc == 0, "%s (%s): exit %d: %s", cmd, cases[k].prefixes, rc, err);
        }
    }
}
END_TEST

/* The CPU model against transformers itself: stage 06's debug state of MambaForCausalLM
 * (vectors/06_hw_aware_cuda_lm, float64, written by transformers, hidden 64, 2 layers, N 16,
 * dt_rank 4, vocab 96, batch 2 x L 64), converted to this stage's names by
 * tests/hf_set_to_05.py: the logits, the loss and every parameter gradient pass --check
 * with this stage's own tolerances. */
START_TEST(test_check_transformers_debug_state)
{
    char dir[64], cmd[4096], err[4096];
    th_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, TH_PYTHON " " STAGE_DIR "/tests/hf_set_to_05.py " ROOT_DIR
             "/vectors/06_hw_aware_cuda_lm %s/set", dir);
    ck_assert_msg(th_run(cmd, err, sizeof err) == 0, "%s: %s", cmd, err);
    snprintf(cmd, sizeof cmd, PROG_PATH " --check %s/set", dir);
    const int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mamba");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_init_as_reference);
    tcase_add_test(tc, test_step_equals_forward_s6);
    tcase_add_test(tc, test_step_equals_forward_lti);
    tcase_add_test(tc, test_step_equals_forward_nogate);
    tcase_add_test(tc, test_training_lowers_loss);
    tcase_add_test(tc, test_resume_reproduces_curve);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_exit_test(tc, test_truncated_checkpoint_exit2, 2);
    tcase_add_exit_test(tc, test_nan_checkpoint_exit2, 2);
    tcase_add_exit_test(tc, test_shape_mismatch_checkpoint_exit2, 2);
    tcase_add_exit_test(tc, test_bad_token_exit2, 2);
    tcase_add_test(tc, test_cli_errors);
    tcase_add_test(tc, test_check_subsets);
    tcase_add_test(tc, test_check_transformers_debug_state);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, th_vectors_tcase());
    return th_run_suite(s);
}
