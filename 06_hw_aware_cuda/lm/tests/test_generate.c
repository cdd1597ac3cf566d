/* 06_hw_aware_cuda/lm/tests/test_generate.c — CPU generation (§G) through stage 05's step.
 *
 * Oracles: the parallel forward (mamba_forward over the whole sequence, a different code
 * path from the recurrent step) for greedy continuations and their logits; closed-form
 * softmax / top-k / top-p distributions and a χ² test of the sampler's draws against them;
 * single-prompt runs for the batch; the command line's outputs and exit codes; a checkpoint
 * in bfloat16 / float16 (as transformers writes them: 16-bit tensors, metadata only
 * {"format": "pt"}) against the same weights rounded and stored in float32. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/corpus.h"
#include "06_hw_aware_cuda/lm/generate.h"
#include "06_hw_aware_cuda/lm/hf_config.h"
#include "common/safetensors.h"
#include "common/testutil.h"
#include "common/util.h"

static void small_model(mamba_model *m, int vocab, real scale)
{
    mamba_config c = {.vocab = vocab, .d_model = 16, .n_layer = 2, .d_state = 8, .d_conv = 4, .expand = 2, .kind = MAMBA_S6};
    mamba_config_finish(&c);
    mamba_init(m, &c, 42);
    /* the reference init gives near-uniform logits; scale 40 makes argmaxes clear */
    for (size_t i = 0; i < (size_t)vocab * c.d_model; i++) m->emb[i] *= scale;
}

START_TEST(test_distribution)
{
    const real logits[6] = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 3.0f};
    double p[6], want[6], z = 0;
    gen_scratch s;
    gen_scratch_init(&s, 6);
    /* T = 0.5: softmax(2·logits) */
    for (int i = 0; i < 6; i++) z += want[i] = exp(2.0 * logits[i]);
    for (int i = 0; i < 6; i++) want[i] /= z;
    gen_distribution(logits, 6, 0.5, 0, 1, &s, p);
    for (int i = 0; i < 6; i++) ck_assert_double_eq_tol(p[i], want[i], 1e-12);   /* double math: rounding only */
    /* top-k 2 at T = 1: ids 5 and 0, in ratio e³ : e² */
    gen_distribution(logits, 6, 1, 2, 1, &s, p);
    ck_assert_double_eq_tol(p[5], exp(3.0) / (exp(3.0) + exp(2.0)), 1e-12);
    ck_assert_double_eq_tol(p[0], exp(2.0) / (exp(3.0) + exp(2.0)), 1e-12);
    ck_assert_double_eq(p[1] + p[2] + p[3] + p[4], 0);
    /* top-p 0.8 at T = 1: sorted probabilities .6285 .2312 .0851 …; .6285 < .8 so the
     * second joins (cum .8597 ≥ .8) and the set is {5, 0} */
    gen_distribution(logits, 6, 1, 0, 0.8, &s, p);
    ck_assert(p[5] > 0 && p[0] > 0 && p[1] == 0);
    ck_assert_double_eq_tol(p[5] + p[0], 1, 1e-12);
    /* top-p 0.5: the first alone already reaches it */
    gen_distribution(logits, 6, 1, 0, 0.5, &s, p);
    ck_assert_double_eq(p[5], 1);
    /* greedy */
    gen_distribution(logits, 6, 0, 0, 1, &s, p);
    ck_assert_double_eq(p[5], 1);
    gen_scratch_free(&s);
}
END_TEST

START_TEST(test_sampler_chi2)
{
    /* 200 000 draws at T = 0.7, top-k 5 against the closed-form distribution: χ² with 4
     * degrees of freedom exceeds 30 with probability ~5e-6, so a correct sampler passes */
    const real logits[6] = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 3.0f};
    double p[6];
    gen_scratch s;
    gen_scratch_init(&s, 6);
    gen_distribution(logits, 6, 0.7, 5, 1, &s, p);
    long cnt[6] = {0};
    const long n = 200000;
    rng_t r;
    rng_seed(&r, 11);
    for (long i = 0; i < n; i++) cnt[gen_sample(logits, 6, 0.7, 5, 1, &r, &s)]++;
    ck_assert_int_eq(cnt[4], 0);   /* the 6th most probable is outside the top 5 */
    double chi2 = 0;
    for (int i = 0; i < 6; i++)
        if (p[i] > 0) chi2 += pow((double)cnt[i] - n * p[i], 2) / (n * p[i]);
    ck_assert_msg(chi2 < 30, "chi2 = %g", chi2);
    gen_scratch_free(&s);
}
END_TEST

/* argmax of row t of (T, V) logits */
static int argmax_row(const real *l, int t, int V)
{
    int b = 0;
    for (int i = 1; i < V; i++)
        if (l[(size_t)t * V + i] > l[(size_t)t * V + b]) b = i;
    return b;
}

START_TEST(test_greedy_matches_forward)
{
    const int V = 37, P = 5, N = 24;
    mamba_model m;
    small_model(&m, V, 40);
    int32_t prompt[5] = {3, 17, 5, 30, 8}, out[24];
    int n_out;
    const int32_t *pp = prompt;
    gen_opts o = {.max_new = N, .temperature = 0, .top_p = 1, .eos = -1};
    gen_generate(&m, &pp, &P, 1, &o, out, &n_out, NULL, NULL);
    ck_assert_int_eq(n_out, N);
    /* the parallel forward over prompt + continuation: each generated token is the argmax
     * at the position before it, and the step's logits equal the forward's */
    int seq[29];
    for (int i = 0; i < P; i++) seq[i] = prompt[i];
    for (int i = 0; i < N; i++) seq[P + i] = out[i];
    real *lf = xmalloc(sizeof(real) * (P + N) * V), *ls = xmalloc(sizeof(real) * V);
    mamba_forward(&m, seq, NULL, 1, P + N, lf);
    for (int i = 0; i < N; i++) ck_assert_int_eq(out[i], argmax_row(lf, P - 1 + i, V));
    mamba_step_state st;
    mamba_step_init(&m, &st, 1);
    double worst = 0;
    for (int t = 0; t < P + N; t++) {
        mamba_step(&m, &st, &seq[t], ls);
        for (int v = 0; v < V; v++)
            worst = fmax(worst, fabs((double)ls[v] - lf[(size_t)t * V + v]) / (1 + fabs((double)lf[(size_t)t * V + v])));
    }
    /* float32, a few hundred operations per value in different orders: ~1e-6 each */
    ck_assert_msg(worst < 1e-4, "step vs forward logits: %g", worst);
    mamba_step_free(&st);
    free(lf);
    free(ls);
    mamba_free(&m);
}
END_TEST

START_TEST(test_batch_equals_single)
{
    const int V = 37, N = 12;
    mamba_model m;
    small_model(&m, V, 40);
    int32_t a[] = {1, 2, 3, 4, 5, 6, 7}, b[] = {9}, c[] = {0};
    const int32_t *pr[3] = {a, b, c};
    int pl[3] = {7, 1, 0};   /* an empty prompt starts from eos */
    int32_t out[3 * 12], one[12];
    int n_out[3], n1;
    gen_opts o = {.max_new = N, .temperature = 0, .top_p = 1, .eos = 36};
    gen_generate(&m, pr, pl, 3, &o, out, n_out, NULL, NULL);
    for (int k = 0; k < 3; k++) {
        gen_generate(&m, &pr[k], &pl[k], 1, &o, one, &n1, NULL, NULL);
        ck_assert_int_eq(n_out[k], n1);
        ck_assert_int_eq(memcmp(out + k * N, one, sizeof(int32_t) * (size_t)n1), 0);
    }
    /* the empty prompt equals the prompt {eos} */
    int32_t e[] = {36};
    const int32_t *pe = e;
    int one_len = 1;
    gen_generate(&m, &pe, &one_len, 1, &o, one, &n1, NULL, NULL);
    ck_assert_int_eq(memcmp(out + 2 * N, one, sizeof(int32_t) * (size_t)n1), 0);
    mamba_free(&m);
}
END_TEST

static void count_emit(int b, int32_t id, void *ctx)
{
    (void)id;
    ((int *)ctx)[b]++;
}

START_TEST(test_eos_and_seed)
{
    const int V = 37, N = 20;
    mamba_model m;
    small_model(&m, V, 1);   /* near-uniform logits: draws depend on the seed */
    int32_t p[] = {4, 4, 2};
    const int32_t *pp = p;
    int pl = 3, n1, n2, emitted[1] = {0};
    int32_t o1[20], o2[20];
    gen_opts o = {.max_new = N, .temperature = 1.0, .top_k = 0, .top_p = 1, .seed = 7, .eos = -1};
    gen_generate(&m, &pp, &pl, 1, &o, o1, &n1, count_emit, emitted);
    ck_assert_int_eq(emitted[0], N);
    gen_generate(&m, &pp, &pl, 1, &o, o2, &n2, NULL, NULL);
    ck_assert_int_eq(memcmp(o1, o2, sizeof o1), 0);   /* same seed, same text */
    o.seed = 8;
    gen_generate(&m, &pp, &pl, 1, &o, o2, &n2, NULL, NULL);
    ck_assert_int_ne(memcmp(o1, o2, sizeof o1), 0);   /* 37^20 sequences: a collision is no chance */
    /* stop at eos: the continuation is the prefix up to its first occurrence */
    o.seed = 7;
    o.eos = o1[6];
    int first = 0;
    while (o1[first] != o.eos) first++;
    gen_generate(&m, &pp, &pl, 1, &o, o2, &n2, NULL, NULL);
    ck_assert_int_eq(n2, first + 1);
    ck_assert_int_eq(memcmp(o1, o2, sizeof(int32_t) * (size_t)n2), 0);
    /* n_valid keeps draws inside the tokenizer's vocabulary */
    o.eos = -1;
    o.n_valid = 5;
    gen_generate(&m, &pp, &pl, 1, &o, o2, &n2, NULL, NULL);
    for (int i = 0; i < n2; i++) ck_assert_int_lt(o2[i], 5);
    mamba_free(&m);
}
END_TEST

/* A model directory: random weights of the trained tokenizer's vocabulary size. */
static void write_model_dir(const char *dir, int vocab)
{
    mamba_model m;
    small_model(&m, vocab, 40);
    char p[4096], err[512];
    hf_config h;
    hf_config_defaults(&h);
    h.vocab_size = vocab; h.hidden_size = 16; h.num_hidden_layers = 2; h.state_size = 8;
    h.conv_kernel = 4; h.expand = 2; h.time_step_rank = m.cfg.dt_rank; h.intermediate_size = 32;
    path_join(p, sizeof p, dir, "config.json");
    hf_config_write(p, &h);
    path_join(p, sizeof p, dir, "model.safetensors");
    mamba_save(&m, NULL, p, NULL, NULL, 0);
    size_t n;
    char *t = corpus_read_file(STAGE_DIR "/corpus_tokenizer.json", &n, err, sizeof err);
    ck_assert_ptr_nonnull(t);
    path_join(p, sizeof p, dir, "tokenizer.json");
    ck_assert_int_eq(corpus_write_file(p, t, n, err, sizeof err), 0);
    free(t);
    mamba_free(&m);
}

static char *run_out(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    ck_assert_int_eq(pclose(f), 0);
    return buf;
}

START_TEST(test_cli)
{
    char dir[256], cmd[8192];
    th_tmpdir(dir, sizeof dir);
    write_model_dir(dir, 4096);
    snprintf(cmd, sizeof cmd, GENERATE_PATH " --model %s --prompt 'The cat' --greedy --max-new 16 2>/dev/null", dir);
    char *a = strdup(run_out(cmd));
    ck_assert_msg(strncmp(a, "The cat", 7) == 0 && strlen(a) > 8, "output: %s", a);
    ck_assert_str_eq(run_out(cmd), a);   /* greedy: deterministic */
    free(a);
    snprintf(cmd, sizeof cmd, GENERATE_PATH " --model %s --prompt 'A' --prompt 'B b' --temperature 0.9 --top-k 50 --top-p 0.9 --seed 3 --max-new 8 2>/dev/null", dir);
    a = run_out(cmd);
    ck_assert_ptr_nonnull(strstr(a, "=== 0: A"));
    ck_assert_ptr_nonnull(strstr(a, "=== 1: B b"));
    snprintf(cmd, sizeof cmd, GENERATE_PATH " --model %s --top-p 2", dir);
    ck_assert_exit2(cmd, "--top-p 2");
    snprintf(cmd, sizeof cmd, GENERATE_PATH " --model %s --bogus 1", dir);
    ck_assert_exit2(cmd, "--bogus");
    snprintf(cmd, sizeof cmd, GENERATE_PATH " --model %s --tokenizer " STAGE_DIR "/reference/gpt2_tokenizer.json", dir);
    ck_assert_exit2(cmd, "vocab_size is 4096");
    snprintf(cmd, sizeof cmd, "rm %s/model.safetensors && " GENERATE_PATH " --model %s", dir, dir);
    ck_assert_exit2(cmd, "model.safetensors");
    ck_assert_exit2(GENERATE_PATH " --prompt x", "--model");
}
END_TEST


/* float32 -> bfloat16 / float16 bits, rounding to nearest even (_Float16: the compiler's IEEE
 * conversion, a different code path from the reader's widening) */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static uint16_t to_f16(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}

/* dir/model.safetensors rewritten: every tensor rounded to 16 bits (bf16 != 0: bfloat16, else
 * float16); the 16-bit file goes to dir16, the rounded values back to dir in float32. */
static void write_half(const char *dir, const char *dir16, int bf16)
{
    char p[4096], q[4096];
    path_join(p, sizeof p, dir, "model.safetensors");
    st_file f;
    st_load(p, &f);
    size_t hcap = 256 + (size_t)f.n * 256, hl = 0, off = 0, total = 0;
    for (int i = 0; i < f.n; i++) {
        size_t n = 1;
        for (int d = 0; d < f.t[i].ndim; d++) n *= f.t[i].shape[d];
        total += n;
    }
    char *hdr = xmalloc(hcap);
    uint16_t *data = xmalloc(total * 2), *w = data;
    hl += (size_t)snprintf(hdr + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < f.n; i++) {
        size_t n = 1;
        for (int d = 0; d < f.t[i].ndim; d++) n *= f.t[i].shape[d];
        float *x = (float *)f.t[i].data;   /* rounded in place: the float32 file gets these values */
        for (size_t k = 0; k < n; k++) {
            *w = bf16 ? to_bf16(x[k]) : to_f16(x[k]);
            uint32_t u = bf16 ? (uint32_t)*w << 16 : 0;
            if (bf16) memcpy(&x[k], &u, 4);
            else { _Float16 h; memcpy(&h, w, 2); x[k] = (float)h; }
            w++;
        }
        hl += (size_t)snprintf(hdr + hl, hcap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", f.t[i].name,
                               bf16 ? "BF16" : "F16");
        for (int d = 0; d < f.t[i].ndim; d++) hl += (size_t)snprintf(hdr + hl, hcap - hl, "%s%zu", d ? "," : "", f.t[i].shape[d]);
        hl += (size_t)snprintf(hdr + hl, hcap - hl, "],\"data_offsets\":[%zu,%zu]}", off, off + 2 * n);
        off += 2 * n;
    }
    hl += (size_t)snprintf(hdr + hl, hcap - hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    mkdir_p(dir16);
    path_join(q, sizeof q, dir16, "model.safetensors");
    FILE *o = fopen(q, "wb");
    ck_assert_ptr_nonnull(o);
    uint64_t h64 = hl;
    ck_assert(fwrite(&h64, 8, 1, o) == 1 && fwrite(hdr, 1, hl, o) == hl && fwrite(data, 2, total, o) == total);
    fclose(o);
    /* the float32 file of the rounded values, under the same names */
    st_tensor *ts = xcalloc((size_t)f.n, sizeof *ts);
    for (int i = 0; i < f.n; i++) ts[i] = f.t[i];
    st_save(p, ts, f.n, "\"format\":\"pt\"");
    free(ts); free(hdr); free(data);
    st_free(&f);
    static const char *same[] = {"config.json", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        char cmd[8400];
        snprintf(cmd, sizeof cmd, "cp %s/%s %s/", dir, same[i], dir16);
        ck_assert_int_eq(system(cmd), 0);
    }
}

START_TEST(test_half_checkpoints)
{
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        char dir[256], dir16[300], cmd[8192];
        th_tmpdir(dir, sizeof dir);
        snprintf(dir16, sizeof dir16, "%s/half", dir);
        write_model_dir(dir, 4096);
        write_half(dir, dir16, bf16);
        snprintf(cmd, sizeof cmd, GENERATE_PATH " --model %s --device cpu --prompt 'The cat' --greedy --max-new 24 --no-eos 2>/dev/null", dir);
        char *a = strdup(run_out(cmd));
        snprintf(cmd, sizeof cmd, GENERATE_PATH " --model %s --device cpu --prompt 'The cat' --greedy --max-new 24 --no-eos 2>/dev/null", dir16);
        /* the 16-bit values widen exactly: the same float32 weights, the same text */
        ck_assert_msg(strcmp(run_out(cmd), a) == 0, "%s checkpoint generates differently", bf16 ? "bf16" : "fp16");
        ck_assert_msg(strlen(a) > 8, "output: %s", a);
        free(a);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("generate");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_distribution);
    tcase_add_test(tc, test_sampler_chi2);
    tcase_add_test(tc, test_greedy_matches_forward);
    tcase_add_test(tc, test_batch_equals_single);
    tcase_add_test(tc, test_eos_and_seed);
    tcase_add_test(tc, test_cli);
    tcase_add_test(tc, test_half_checkpoints);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
