/* tests/test_synthetic.c — the synthetic tasks' CPU side (§6.23), without a GPU: the variant
 * names, the options checked against the model (bad input exits 2 with one line naming the flag
 * or field — by function and through the lm program), the evaluation batches, the accuracy
 * count, and stage 05's generators as the GPU command uses them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "05_selective_s6/mamba.h"
#include "06_hw_aware_cuda/lm/synthetic.h"
#include "common/testutil.h"

/* the paper's settings (Appendix E.1) */
static lm_task_opts paper(const char *task)
{
    return (lm_task_opts){.task = task, .variant = "s6", .config = "c.json", .batch = 64, .L = 256,
                          .steps = 10, .seed = 1, .data_seed = 2, .log_every = 1, .eval_seqs = 64,
                          .copy_context = 4096, .copy_tokens = 16, .copy_colours = 14,
                          .eval_max_log2 = 20, .lr = 1e-4, .lr_min = 1e-4};
}

START_TEST(test_variant_names)
{
    const char *names[] = {"s6", "lti", "nogate", "lti-nogate"};
    const int kinds[] = {MAMBA_S6, MAMBA_LTI, MAMBA_S6, MAMBA_LTI}, gates[] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        int k = -1, g = -1;
        ck_assert(lm_variant_find(names[i], &k, &g));
        ck_assert_int_eq(k, kinds[i]);
        ck_assert_int_eq(g, gates[i]);
        ck_assert_str_eq(lm_variant_label(k, g), names[i]);
    }
    int k, g;
    ck_assert(!lm_variant_find("S6", &k, &g));
    ck_assert(!lm_variant_find("", &k, &g));
    ck_assert(!lm_variant_find(NULL, &k, &g));
}
END_TEST

/* §6.24 several variants side by side: the list, and the paths each one's name goes into */
START_TEST(test_variant_list)
{
    int k[LM_TASK_MAX_VARIANTS], g[LM_TASK_MAX_VARIANTS];
    ck_assert_int_eq(lm_variant_list("s6", k, g), 1);
    ck_assert_int_eq(lm_variant_list("s6,nogate,lti", k, g), 3);
    ck_assert_int_eq(k[0], MAMBA_S6);
    ck_assert_int_eq(g[1], 1);
    ck_assert_int_eq(k[2], MAMBA_LTI);
    ck_assert_int_eq(g[2], 0);
    ck_assert_int_eq(lm_variant_list("s6,lti,nogate,lti-nogate", k, g), 4);
    const char *bad[] = {"", ",", "s6,", ",s6", "s6,,lti", "s6,s6", "s6,S6", "s6 lti", NULL};
    for (int i = 0; bad[i]; i++) ck_assert_msg(lm_variant_list(bad[i], k, g) == 0, "\"%s\" accepted", bad[i]);
    ck_assert_int_eq(lm_variant_list(NULL, k, g), 0);
    char p[64];
    lm_task_path("r/induction_{v}.tsv", "lti", p, sizeof p);
    ck_assert_str_eq(p, "r/induction_lti.tsv");
    lm_task_path("{v}/{v}.st", "nogate", p, sizeof p);
    ck_assert_str_eq(p, "nogate/nogate.st");
    lm_task_path("plain.tsv", "s6", p, sizeof p);
    ck_assert_str_eq(p, "plain.tsv");
}
END_TEST

START_TEST(test_setup_paper_shapes)
{
    lm_task_opts o = paper("copy");
    task_cfg t;
    lm_task_setup(&o, 16, 128, &t);
    ck_assert_int_eq(t.kind, TASK_COPY);
    ck_assert_int_eq(t.L, 4096 + 16);
    ck_assert_int_eq(t.K, 16);
    ck_assert_int_eq(t.M, 14);
    o = paper("induction");
    o.batch = 8;
    lm_task_setup(&o, 16, 128, &t);
    ck_assert_int_eq(t.kind, TASK_INDUCTION);
    ck_assert_int_eq(t.L, 256);
    ck_assert_int_eq(t.vocab, 16);
}
END_TEST

/* one bad option per case: exit 2, one line naming it */
static const struct { const char *task, *variant; int field, value, vocab; const char *want; } BAD[] = {
    {"sort", "s6", 0, 0, 16, "--task"},
    {NULL, "s6", 0, 0, 16, "--task"},
    {"copy", "s4", 0, 0, 16, "--variant"},
    {"copy", "s6", 1, 5000, 16, "--copy-tokens"},       /* more tokens than the context */
    {"copy", "s6", 2, 0, 16, "--copy-colours"},
    {"copy", "s6", 0, 0, 12, "vocab_size 12"},          /* 14 colours need 16 */
    {"induction", "s6", 3, 3, 16, "--seq"},
    {"induction", "s6", 4, 21, 16, "--eval-max-log2"},
    {"induction", "s6", 0, 0, 2, "vocab_size 2"},
    {"copy", "s6", 5, 0, 16, "--batch"},
    {"copy", "s6", 5, 40000, 16, "overflows"},          /* 40000 x 4112 x 16 > 2^31 */
    {"induction", "lti", 6, 0, 16, "--eval-seqs"},
    {"induction", "s6,s6", 0, 0, 16, "--variant"},      /* §6.24 a variant twice */
    {"induction", "s6,lti", 7, 0, 16, "{v}"},           /* two logs into one file */
    {"induction", "s6,lti", 8, 0, 16, "--out"},         /* two checkpoints into one file */
};

static int bad_i;
static void run_bad(void *arg)
{
    (void)arg;
    lm_task_opts o = paper(BAD[bad_i].task);
    o.variant = BAD[bad_i].variant;
    const int v = BAD[bad_i].value;
    switch (BAD[bad_i].field) {
    case 1: o.copy_tokens = v; break;
    case 2: o.copy_colours = v; break;
    case 3: o.L = v; break;
    case 4: o.eval_max_log2 = v; break;
    case 5: o.batch = v; break;
    case 6: o.eval_seqs = v; break;
    case 7: o.log = "log.tsv"; break;
    case 8: o.out = "ck.st"; break;
    }
    task_cfg t;
    lm_task_setup(&o, BAD[bad_i].vocab, 128, &t);
    exit(0);
}

START_TEST(test_setup_bad_input)
{
    bad_i = _i;
    char err[512] = "";
    const int rc = th_run_child(run_bad, NULL, err, sizeof err);
    ck_assert_msg(rc == 2, "case %d: exit %d, stderr \"%s\"", _i, rc, err);
    ck_assert_msg(strstr(err, BAD[_i].want), "case %d: \"%s\" does not name \"%s\"", _i, err, BAD[_i].want);
    ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n'), "case %d: more than one line: %s", _i, err);
}
END_TEST

/* the same through the program: checked before it looks for a GPU */
START_TEST(test_program_bad_input)
{
    ck_assert_exit2(PROG_PATH " --task copy --config " STAGE_DIR "/configs/synthetic_d64.json "
                    "--copy-colours 10", "vocab_size 16");
    ck_assert_exit2(PROG_PATH " --task induction --variant s5 --config " STAGE_DIR
                    "/configs/synthetic_d64.json", "--variant");
    ck_assert_exit2(PROG_PATH " --task induction", "--config");
    ck_assert_exit2(PROG_PATH " --task induction --graph 2 --config " STAGE_DIR
                    "/configs/synthetic_d64.json", "--graph");
    ck_assert_exit2(PROG_PATH " --task induction --variant s6,lti --log x.tsv --config " STAGE_DIR
                    "/configs/synthetic_d64.json", "{v}");
    ck_assert_exit2(PROG_PATH " --task induction --config " STAGE_DIR
                    "/configs/synthetic_d64.json --eval-max-log2 5", "--eval-max-log2");
}
END_TEST

START_TEST(test_eval_batch)
{
    ck_assert_int_eq(lm_task_eval_batch(1 << 20, 64), 4);
    ck_assert_int_eq(lm_task_eval_batch(1 << 21, 64), 2);
    ck_assert_int_eq(lm_task_eval_batch(1 << 23, 64), 1);   /* one sequence when longer */
    ck_assert_int_eq(lm_task_eval_batch(256, 64), 64);
    ck_assert_int_eq(lm_task_eval_batch(4112, 2048), 1020);   /* 1020 x 4112 <= 2^22 */
    ck_assert_int_eq(lm_task_eval_seqs(1 << 20, 64), 16);   /* 2^24 tokens per length */
    ck_assert_int_eq(lm_task_eval_seqs(1 << 18, 64), 64);
    ck_assert_int_eq(lm_task_eval_seqs(1 << 19, 64), 32);
    ck_assert_int_eq(lm_task_eval_seqs(256, 64), 64);
}
END_TEST

START_TEST(test_hits)
{
    /* 4 rows of V = 3: argmax 2 (hit), ignored, a tie between 0 and 1 (the first: 0, target 1:
     * miss), argmax 1 (hit) */
    const float lg[] = {0.1f, 0.2f, 0.9f, 5, 5, 5, 0.7f, 0.7f, 0.1f, -1, 3, -2};
    const int tg[] = {2, -1, 1, 1};
    long hit = 0, tot = 0;
    lm_task_hits(lg, tg, 4, 3, &hit, &tot);
    ck_assert_int_eq(tot, 3);
    ck_assert_int_eq(hit, 2);
}
END_TEST

/* stage 05's generators at the paper's shapes, as lm --task calls them */
START_TEST(test_generators_as_used)
{
    task_cfg c = {.kind = TASK_COPY, .L_ctx = 4096, .K = 16, .M = 14, .vocab = 16};
    c.L = task_length(&c);
    const int B = 3, L = c.L;
    int *x = malloc(sizeof(int) * B * L), *y = malloc(sizeof(int) * B * L);
    task_batch(&c, L, 99, 7, B, x, y);
    for (int b = 0; b < B; b++) {
        int k = 0;
        for (int i = 0; i < 4096; i++) {
            const int v = x[b * L + i];
            ck_assert(v == 0 || (v >= 2 && v < 16));
            ck_assert_int_eq(y[b * L + i], -1);
            if (v) ck_assert_int_eq(y[b * L + 4096 + k++], v);   /* answers in context order */
        }
        ck_assert_int_eq(k, 16);
        for (int i = 4096; i < L; i++) ck_assert_int_eq(x[b * L + i], 1);
    }
    free(x); free(y);
    task_cfg ih = {.kind = TASK_INDUCTION, .L = 256, .vocab = 16};
    const int Le = 1 << 12;
    x = malloc(sizeof(int) * B * Le);
    y = malloc(sizeof(int) * B * Le);
    task_batch(&ih, Le, 99, 1000000000L, B, x, y);
    for (int b = 0; b < B; b++) {
        const int *xb = x + b * Le, *yb = y + b * Le;
        int p = -1, n1 = 0;
        for (int i = 0; i < Le - 1; i++)
            if (xb[i] == 1) { p = i; n1++; }
        ck_assert_int_eq(n1, 1);
        ck_assert_int_eq(xb[Le - 1], 1);
        ck_assert_int_eq(yb[Le - 1], xb[p + 1]);
        for (int i = 0; i < Le - 1; i++) ck_assert_int_eq(yb[i], -1);
    }
    free(x); free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("synthetic tasks (CPU side)");
    TCase *tc = tcase_create("setup and scoring");
    tcase_set_timeout(tc, 60);   /* the program runs four times on a loaded 2-core machine */
    tcase_add_test(tc, test_variant_names);
    tcase_add_test(tc, test_setup_paper_shapes);
    tcase_add_test(tc, test_variant_list);
    tcase_add_loop_test(tc, test_setup_bad_input, 0, sizeof BAD / sizeof BAD[0]);
    tcase_add_test(tc, test_program_bad_input);
    tcase_add_test(tc, test_eval_batch);
    tcase_add_test(tc, test_hits);
    tcase_add_test(tc, test_generators_as_used);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
