/* 07_ssd_mamba2/tests/test_mqar.c — Check suite for the MQAR task.
 *
 *   layout        K distinct keys and their values, filler 0, Q queries of context keys at
 *                 distinct positions, targets = the queried key's value there, −1 elsewhere
 *   solvable      a dictionary lookup (an independent solver) scores 100% through
 *                 mqar_score; a constant guess scores about chance
 *   streams       a batch is a function of (seed, step); different steps differ
 *   coverage      every value and every query position occurs
 *   learning      a small Mamba-2 (mamba2.h) trained on MQAR batches lowers its loss
 *   bad input     each invalid field exits 2 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "07_ssd_mamba2/mamba2.h"
#include "07_ssd_mamba2/mqar.h"
#include "common/testutil.h"
#include "common/util.h"

static const mqar_cfg CFGS[] = {
    {64, 8, 0, 64}, {64, 8, 3, 40}, {16, 7, 7, 21}, {8192, 64, 0, 512}, {4, 1, 1, 3}};

START_TEST(layout)
{
    for (size_t ci = 0; ci < sizeof CFGS / sizeof CFGS[0]; ci++) {
        mqar_cfg c = CFGS[ci];
        mqar_check(&c);
        const int B = 16, L = c.L, K = c.n_pairs, half = c.vocab / 2;
        int32_t *tok = xmalloc((size_t)B * L * 4), *tgt = xmalloc((size_t)B * L * 4);
        mqar_batch(&c, 5, 3, B, tok, tgt);
        for (int b = 0; b < B; b++) {
            const int32_t *x = tok + (size_t)b * L, *y = tgt + (size_t)b * L;
            for (int i = 0; i < K; i++) {
                ck_assert(x[2 * i] >= 1 && x[2 * i] < half);                      /* a key */
                ck_assert(x[2 * i + 1] >= half && x[2 * i + 1] < c.vocab);        /* a value */
                ck_assert(y[2 * i] == -1 && y[2 * i + 1] == -1);
                for (int j = 0; j < i; j++) ck_assert(x[2 * j] != x[2 * i]);      /* distinct keys */
            }
            int nq = 0;
            for (int t = 2 * K; t < L; t++) {
                if (x[t] == 0) { ck_assert(y[t] == -1); continue; }
                int k = -1;
                for (int i = 0; i < K; i++)
                    if (x[2 * i] == x[t]) k = i;
                ck_assert_msg(k >= 0, "query token %d at %d is not a context key", x[t], t);
                ck_assert_int_eq(y[t], x[2 * k + 1]);
                for (int u = 2 * K; u < t; u++) ck_assert(x[u] != x[t]);           /* asked once */
                nq++;
            }
            ck_assert_int_eq(nq, c.n_queries);
        }
        free(tgt); free(tok);
    }
}
END_TEST

/* The task is solvable from the context alone: a lookup table built from the pairs
 * answers every query (checks the targets against an independent reading of the
 * tokens, and mqar_score's bookkeeping). A constant guess of one value scores ≈ 1/#values. */
START_TEST(solvable_and_chance)
{
    mqar_cfg c = {64, 8, 0, 64};
    mqar_check(&c);
    const int B = 256, L = c.L, V = c.vocab;
    int32_t *tok = xmalloc((size_t)B * L * 4), *tgt = xmalloc((size_t)B * L * 4);
    real *lg = xmalloc((size_t)B * L * V * sizeof(real));
    mqar_batch(&c, 9, 0, B, tok, tgt);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < (size_t)B * L * V; i++) lg[i] = 0;
        for (int b = 0; b < B; b++) {
            int table[64];
            for (int v = 0; v < V; v++) table[v] = -1;
            const int32_t *x = tok + (size_t)b * L;
            for (int i = 0; i < c.n_pairs; i++) table[x[2 * i]] = x[2 * i + 1];
            for (int t = 0; t < L; t++) {
                int guess = pass == 0 ? (x[t] > 0 && t >= 2 * c.n_pairs ? table[x[t]] : 0) : mqar_first_value(&c);
                lg[((size_t)b * L + t) * V + guess] = 1;
            }
        }
        long hits = 0, scored = 0;
        mqar_score(tgt, (size_t)B * L, lg, V, &hits, &scored);
        ck_assert_int_eq(scored, (long)B * c.n_queries);
        if (pass == 0) ck_assert_int_eq(hits, scored);
        else {
            /* binomial: p = 1/32, n = 2048 → mean 64, sd 7.9; allow ±5 sd */
            const double p = 1.0 / mqar_n_values(&c), mean = p * scored, sd = sqrt(scored * p * (1 - p));
            ck_assert_msg(fabs(hits - mean) <= 5 * sd, "constant guess: %ld hits, expected %.0f ± %.0f", hits, mean, 5 * sd);
        }
    }
    free(lg); free(tgt); free(tok);
}
END_TEST

START_TEST(streams)
{
    mqar_cfg c = {64, 8, 0, 64};
    const int B = 4, n = B * c.L;
    int32_t *t1 = xmalloc(n * 4), *g1 = xmalloc(n * 4), *t2 = xmalloc(n * 4), *g2 = xmalloc(n * 4);
    mqar_batch(&c, 1, 17, B, t1, g1);
    mqar_batch(&c, 1, 17, B, t2, g2);
    ck_assert_mem_eq(t1, t2, n * 4);
    ck_assert_mem_eq(g1, g2, n * 4);
    mqar_batch(&c, 1, 18, B, t2, g2);
    ck_assert(memcmp(t1, t2, n * 4) != 0);
    mqar_batch(&c, 2, 17, B, t2, g2);
    ck_assert(memcmp(t1, t2, n * 4) != 0);
    free(t1); free(g1); free(t2); free(g2);
}
END_TEST

START_TEST(coverage)
{
    mqar_cfg c = {64, 8, 0, 64};
    const int B = 512, L = c.L;
    int32_t *tok = xmalloc((size_t)B * L * 4), *tgt = xmalloc((size_t)B * L * 4);
    mqar_batch(&c, 3, 0, B, tok, tgt);
    int seen_val[64] = {0}, seen_pos[64] = {0};
    for (size_t i = 0; i < (size_t)B * L; i++)
        if (tgt[i] >= 0) { seen_val[tgt[i]]++; seen_pos[i % L]++; }
    for (int v = mqar_first_value(&c); v < c.vocab; v++) ck_assert_msg(seen_val[v] > 0, "value %d never a target", v);
    for (int t = 2 * c.n_pairs; t < L; t++) ck_assert_msg(seen_pos[t] > 0, "no query at position %d", t);
    free(tgt); free(tok);
}
END_TEST

/* The task and the model together: 150 AdamW steps of a 1-layer Mamba-2 on a small MQAR
 * (V = 16, K = 2, L = 12) take the loss from near ln 16 ≈ 2.77 (uniform; > 2.3 asserted) to
 * below 1.5, under the ln 8 ≈ 2.08 of a model that only learned "one of the 8 values comes
 * next": it must have retrieved values from the context (measured: 2.56 -> 0.68). */
START_TEST(mamba2_learns)
{
    mqar_cfg c = {16, 2, 0, 12};
    mqar_check(&c);
    mamba2_config mc = {.vocab = 16, .d_model = 32, .n_layer = 1, .d_state = 16, .head_dim = 16};
    mamba2_model m;
    mamba2_init(&m, &mc, 3);
    mamba2_opt o;
    mamba2_opt_init(&o, &m);
    mamba2_train_cfg tc = {.lr = 1e-2, .lr_min = 1e-3, .weight_decay = 0, .beta1 = 0.9, .beta2 = 0.95, .clip = 1,
                           .warmup = 10, .steps = 150};
    const int B = 32, L = c.L;
    int32_t *tok = xmalloc((size_t)B * L * 4), *tgt = xmalloc((size_t)B * L * 4);
    double first = 0, last = 0;
    for (int s = 0; s < tc.steps; s++) {
        mqar_batch(&c, 1, s, B, tok, tgt);
        memset(m.grads, 0, m.n_params * sizeof(real));
        double l = mamba2_forward(&m, tok, tgt, B, L, NULL);
        mamba2_backward(&m, tok, tgt);
        mamba2_opt_step(&m, &o, &tc);
        if (s < 10) first += l / 10;
        if (s >= tc.steps - 10) last += l / 10;
    }
    printf("mamba2_learns: loss %.3f -> %.3f\n", first, last);
    ck_assert_msg(first > 2.3 && last < 1.5, "MQAR loss %.3f -> %.3f: expected from ~ln 16 to below 1.5", first, last);
    free(tok), free(tgt);
    mamba2_opt_free(&o);
    mamba2_free(&m);
}
END_TEST

#define BAD(name, ...)                                       \
    START_TEST(name)                                         \
    {                                                        \
        mqar_cfg c = __VA_ARGS__;                            \
        mqar_check(&c);                                      \
    }                                                        \
    END_TEST
BAD(bad_vocab_odd, {63, 8, 0, 64})
BAD(bad_too_many_pairs, {16, 8, 0, 64})
BAD(bad_queries, {64, 8, 9, 64})
BAD(bad_short, {64, 8, 0, 23})

static Suite *mqar_suite(void)
{
    Suite *s = suite_create("07_ssd_mamba2/mqar");
    TCase *t = tcase_create("mqar");
    tcase_add_test(t, layout);
    tcase_add_test(t, solvable_and_chance);
    tcase_add_test(t, streams);
    tcase_add_test(t, coverage);
    tcase_add_test(t, mamba2_learns);
    tcase_add_exit_test(t, bad_vocab_odd, 2);
    tcase_add_exit_test(t, bad_too_many_pairs, 2);
    tcase_add_exit_test(t, bad_queries, 2);
    tcase_add_exit_test(t, bad_short, 2);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return th_run_suite(mqar_suite());
}
