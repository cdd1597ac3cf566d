/* tests/test_hf_config.c — config.json of MambaForCausalLM: transformers' defaults, the
 * fields a real checkpoint writes, "auto" time_step_rank, a write/read round trip, and one
 * named line for every kind of bad file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/hf_config.h"
#include "common/testutil.h"

START_TEST(test_defaults_are_mambaconfig)
{
    hf_config c;
    char err[256];
    ck_assert_int_eq(hf_config_parse("{}", "config.json", &c, err, sizeof err), 0);
    /* MambaConfig() in transformers: these exact values */
    ck_assert_int_eq(c.vocab_size, 50280);
    ck_assert_int_eq(c.hidden_size, 768);
    ck_assert_int_eq(c.state_size, 16);
    ck_assert_int_eq(c.num_hidden_layers, 32);
    ck_assert_int_eq(c.expand, 2);
    ck_assert_int_eq(c.conv_kernel, 4);
    ck_assert_int_eq(c.time_step_rank, 48);          /* "auto" = ⌈768/16⌉ */
    ck_assert_int_eq(c.intermediate_size, 1536);
    ck_assert(c.layer_norm_epsilon == 1e-5);
    ck_assert(c.use_conv_bias && !c.use_bias && c.tie_word_embeddings && c.residual_in_fp32);
    ck_assert(c.time_step_min == 1e-3 && c.time_step_max == 0.1 && c.time_step_floor == 1e-4);
    ck_assert_str_eq(c.hidden_act, "silu");
}
END_TEST

/* The config.json of state-spaces/mamba-130m-hf as it is published (fields abridged to the
 * ones it has), with time_step_rank written out as an integer. */
START_TEST(test_real_checkpoint_fields)
{
    const char *text =
        "{\"architectures\": [\"MambaForCausalLM\"], \"bos_token_id\": 0, \"conv_kernel\": 4,"
        " \"eos_token_id\": 0, \"expand\": 2, \"hidden_act\": \"silu\", \"hidden_size\": 768,"
        " \"initializer_range\": 0.1, \"intermediate_size\": 1536, \"layer_norm_epsilon\": 1e-05,"
        " \"model_type\": \"mamba\", \"n_layer\": 24, \"num_hidden_layers\": 24,"
        " \"pad_token_id\": 0, \"rescale_prenorm_residual\": false, \"residual_in_fp32\": true,"
        " \"state_size\": 16, \"time_step_floor\": 0.0001, \"time_step_init_scheme\": \"random\","
        " \"time_step_max\": 0.1, \"time_step_min\": 0.001, \"time_step_rank\": 48,"
        " \"time_step_scale\": 1.0, \"torch_dtype\": \"float32\", \"transformers_version\": \"4.39.0.dev0\","
        " \"use_bias\": false, \"use_cache\": true, \"use_conv_bias\": true, \"vocab_size\": 50280}";
    hf_config c;
    char err[256];
    ck_assert_int_eq(hf_config_parse(text, "config.json", &c, err, sizeof err), 0);
    ck_assert_int_eq(c.num_hidden_layers, 24);
    ck_assert_int_eq(c.time_step_rank, 48);
    ck_assert_int_eq(c.vocab_size, 50280);
}
END_TEST

/* the text of key's value in a JSON file's text ("" if absent) */
static const char *value_of(const char *text, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(text, k);
    if (!p) return "";
    p += strlen(k);
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

START_TEST(test_write_read_round_trip)
{
    char dir[256], path[512];
    th_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    hf_config a, b;
    hf_config_defaults(&a);
    a.vocab_size = 97; a.hidden_size = 40; a.num_hidden_layers = 3; a.state_size = 8;
    a.time_step_rank = 7; a.intermediate_size = 80; a.layer_norm_epsilon = 3e-6;
    a.use_conv_bias = 0;
    hf_config_write(path, &a);
    hf_config_read(path, &b);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);   /* every field, the doubles exactly */
    /* transformers rejects "time_step_scale": 1 (an int where a float is declared): the
     * H200 round trip failed on exactly that; floats are written with a decimal point */
    FILE *f = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    ck_assert(!strncmp(value_of(text, "time_step_scale"), "1.0,", 4));
    ck_assert(!strncmp(value_of(text, "layer_norm_epsilon"), "3e-06,", 6));
    ck_assert(!strncmp(value_of(text, "time_step_max"), "0.1,", 4));
}
END_TEST

/* Each bad file: parse fails with a line naming the file and the field. */
START_TEST(test_bad_configs_named)
{
    static const struct { const char *text, *want; } bad[] = {
        {"{\"hidden_size\": -3}", "hidden_size"},
        {"{\"hidden_size\": 7.5}", "hidden_size"},
        {"{\"state_size\": \"16\"}", "state_size"},
        {"{\"vocab_size\": 1}", "vocab_size"},
        {"{\"use_bias\": true}", "use_bias"},
        {"{\"use_conv_bias\": 1}", "use_conv_bias"},
        {"{\"tie_word_embeddings\": false}", "tie_word_embeddings"},
        {"{\"hidden_act\": \"gelu\"}", "hidden_act"},
        {"{\"model_type\": \"mamba2\"}", "model_type"},
        {"{\"intermediate_size\": 100}", "intermediate_size"},
        {"{\"time_step_rank\": \"big\"}", "time_step_rank"},
        {"{\"time_step_min\": 0.5, \"time_step_max\": 0.1}", "time_step_min"},
        {"{\"layer_norm_epsilon\": null, \"expand\": 0}", "expand"},
        {"[1, 2]", "JSON object"},
        {"{\"hidden_size\": 64", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hf_config c;
        char err[256] = "";
        ck_assert_msg(hf_config_parse(bad[i].text, "dir/config.json", &c, err, sizeof err) == -1,
                      "accepted %s", bad[i].text);
        ck_assert_msg(strstr(err, "dir/config.json") && strstr(err, bad[i].want),
                      "%s -> \"%s\" (wanted the file and \"%s\")", bad[i].text, err, bad[i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hf_config");
    TCase *tc = tcase_create("config.json");
    tcase_add_test(tc, test_defaults_are_mambaconfig);
    tcase_add_test(tc, test_real_checkpoint_fields);
    tcase_add_test(tc, test_write_read_round_trip);
    tcase_add_test(tc, test_bad_configs_named);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
