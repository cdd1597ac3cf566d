/* 06_hw_aware_cuda/lm/hf_config.c — config.json of MambaForCausalLM, through cJSON. */
#include "06_hw_aware_cuda/lm/hf_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void hf_config_defaults(hf_config *c)
{
    *c = (hf_config){
        .vocab_size = 50280, .hidden_size = 768, .state_size = 16, .num_hidden_layers = 32,
        .expand = 2, .conv_kernel = 4, .time_step_rank = 0,
        .layer_norm_epsilon = 1e-5, .initializer_range = 0.1,
        .time_step_scale = 1.0, .time_step_min = 1e-3, .time_step_max = 0.1,
        .time_step_floor = 1e-4,
        .use_bias = 0, .use_conv_bias = 1, .residual_in_fp32 = 1,
        .rescale_prenorm_residual = 0, .tie_word_embeddings = 1,
        .pad_token_id = 0, .bos_token_id = 0, .eos_token_id = 0,
    };
    snprintf(c->hidden_act, sizeof c->hidden_act, "silu");
    snprintf(c->time_step_init_scheme, sizeof c->time_step_init_scheme, "random");
}

/* One line "path: field: problem" into err; returns -1 so callers can `return fail(...)`. */
static int fail(char *err, size_t len, const char *path, const char *fmt, ...)
{
    va_list ap;
    int k = snprintf(err, len, "%s: ", path);
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < len) vsnprintf(err + k, len - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

/* An integer field in [lo, hi]; absent or JSON null keeps *v. */
static int get_int(const cJSON *o, const char *key, int lo, int hi, int *v, const char *path,
                   char *err, size_t len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return 0;
    double x = it->valuedouble;
    if (!cJSON_IsNumber(it) || x != floor(x) || x < lo || x > hi)
        return fail(err, len, path, "%s: expected an integer in [%d, %d]", key, lo, hi);
    *v = (int)x;
    return 0;
}

static int get_num(const cJSON *o, const char *key, double lo, double hi, double *v,
                   const char *path, char *err, size_t len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < lo ||
        it->valuedouble > hi)
        return fail(err, len, path, "%s: expected a number in [%g, %g]", key, lo, hi);
    *v = it->valuedouble;
    return 0;
}

static int get_bool(const cJSON *o, const char *key, int *v, const char *path, char *err,
                    size_t len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsBool(it)) return fail(err, len, path, "%s: expected true or false", key);
    *v = cJSON_IsTrue(it);
    return 0;
}

static int get_str(const cJSON *o, const char *key, char *v, size_t cap, const char *path,
                   char *err, size_t len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsString(it) || strlen(it->valuestring) >= cap)
        return fail(err, len, path, "%s: expected a string of < %zu bytes", key, cap);
    snprintf(v, cap, "%s", it->valuestring);
    return 0;
}

int hf_config_parse(const char *text, const char *path, hf_config *c, char *err, size_t len)
{
    hf_config_defaults(c);
    cJSON *o = cJSON_Parse(text);
    if (!o) return fail(err, len, path, "not valid JSON (near byte %td)",
                        cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : (ptrdiff_t)0);
    int rc = -1;
    if (!cJSON_IsObject(o)) { fail(err, len, path, "expected a JSON object"); goto out; }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "model_type");
    if (mt && !(cJSON_IsString(mt) && strcmp(mt->valuestring, "mamba") == 0)) {
        fail(err, len, path, "model_type: expected \"mamba\" (Mamba-2 and others are not this model)");
        goto out;
    }
    if (get_int(o, "vocab_size", 2, 1 << 24, &c->vocab_size, path, err, len) ||
        get_int(o, "hidden_size", 1, 65536, &c->hidden_size, path, err, len) ||
        get_int(o, "state_size", 1, 64, &c->state_size, path, err, len) ||
        get_int(o, "num_hidden_layers", 1, 256, &c->num_hidden_layers, path, err, len) ||
        get_int(o, "expand", 1, 16, &c->expand, path, err, len) ||
        get_int(o, "conv_kernel", 1, 16, &c->conv_kernel, path, err, len) ||
        get_num(o, "layer_norm_epsilon", 0, 1, &c->layer_norm_epsilon, path, err, len) ||
        get_num(o, "initializer_range", 0, 1e3, &c->initializer_range, path, err, len) ||
        get_num(o, "time_step_scale", 0, 1e3, &c->time_step_scale, path, err, len) ||
        get_num(o, "time_step_min", 0, 1e3, &c->time_step_min, path, err, len) ||
        get_num(o, "time_step_max", 0, 1e3, &c->time_step_max, path, err, len) ||
        get_num(o, "time_step_floor", 0, 1e3, &c->time_step_floor, path, err, len) ||
        get_bool(o, "use_bias", &c->use_bias, path, err, len) ||
        get_bool(o, "use_conv_bias", &c->use_conv_bias, path, err, len) ||
        get_bool(o, "residual_in_fp32", &c->residual_in_fp32, path, err, len) ||
        get_bool(o, "rescale_prenorm_residual", &c->rescale_prenorm_residual, path, err, len) ||
        get_bool(o, "tie_word_embeddings", &c->tie_word_embeddings, path, err, len) ||
        get_int(o, "pad_token_id", -1, 1 << 24, &c->pad_token_id, path, err, len) ||
        get_int(o, "bos_token_id", -1, 1 << 24, &c->bos_token_id, path, err, len) ||
        get_int(o, "eos_token_id", -1, 1 << 24, &c->eos_token_id, path, err, len) ||
        get_str(o, "hidden_act", c->hidden_act, sizeof c->hidden_act, path, err, len) ||
        get_str(o, "time_step_init_scheme", c->time_step_init_scheme,
                sizeof c->time_step_init_scheme, path, err, len))
        goto out;
    /* time_step_rank: "auto" (⌈hidden/16⌉, as MambaConfig) or an integer */
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "time_step_rank");
    c->time_step_rank = (c->hidden_size + 15) / 16;
    if (r && !(cJSON_IsString(r) && strcmp(r->valuestring, "auto") == 0) &&
        get_int(o, "time_step_rank", 1, 65536, &c->time_step_rank, path, err, len))
        goto out;
    c->intermediate_size = c->expand * c->hidden_size;
    int inter = c->intermediate_size;
    if (get_int(o, "intermediate_size", 1, 1 << 20, &inter, path, err, len)) goto out;
    if (inter != c->intermediate_size) {
        fail(err, len, path, "intermediate_size: %d, but expand * hidden_size = %d", inter,
             c->intermediate_size);
        goto out;
    }
    if (c->time_step_min > c->time_step_max) {
        fail(err, len, path, "time_step_min %g > time_step_max %g", c->time_step_min,
             c->time_step_max);
        goto out;
    }
    /* what the GPU model does not implement: refuse by name */
    if (strcmp(c->hidden_act, "silu") != 0) {
        fail(err, len, path, "hidden_act: \"%s\" not supported (only \"silu\")", c->hidden_act);
        goto out;
    }
    if (c->use_bias) {
        fail(err, len, path, "use_bias: true not supported (in_proj/out_proj without bias only)");
        goto out;
    }
    if (!c->tie_word_embeddings) {
        fail(err, len, path, "tie_word_embeddings: false not supported (the head is the embedding)");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

void hf_config_read(const char *path, hf_config *c)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(2, "%s: cannot open", path);
    char *text = xmalloc(1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    int big = !feof(f);
    fclose(f);
    if (big) die(2, "%s: larger than 1 MiB, not a config.json", path);
    text[n] = 0;
    char err[512];
    if (hf_config_parse(text, path, c, err, sizeof err)) die(2, "%s", err);
    free(text);
}

/* A float field as transformers' strict config classes want it: always with a decimal point
 * or exponent ("1.0", not "1", which they reject as an int), in the fewest digits that read
 * back to the same double. */
static void add_float(cJSON *o, const char *key, double v)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
    cJSON_AddRawToObject(o, key, buf);
}

void hf_config_write(const char *path, const hf_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("MambaForCausalLM"));
    cJSON_AddStringToObject(o, "model_type", "mamba");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "state_size", c->state_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(o, "expand", c->expand);
    cJSON_AddNumberToObject(o, "conv_kernel", c->conv_kernel);
    cJSON_AddNumberToObject(o, "time_step_rank", c->time_step_rank);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    add_float(o, "layer_norm_epsilon", c->layer_norm_epsilon);
    add_float(o, "initializer_range", c->initializer_range);
    add_float(o, "time_step_scale", c->time_step_scale);
    add_float(o, "time_step_min", c->time_step_min);
    add_float(o, "time_step_max", c->time_step_max);
    add_float(o, "time_step_floor", c->time_step_floor);
    cJSON_AddStringToObject(o, "time_step_init_scheme", c->time_step_init_scheme);
    cJSON_AddStringToObject(o, "hidden_act", c->hidden_act);
    cJSON_AddBoolToObject(o, "use_bias", c->use_bias);
    cJSON_AddBoolToObject(o, "use_conv_bias", c->use_conv_bias);
    cJSON_AddBoolToObject(o, "residual_in_fp32", c->residual_in_fp32);
    cJSON_AddBoolToObject(o, "rescale_prenorm_residual", c->rescale_prenorm_residual);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddBoolToObject(o, "use_cache", 1);
    cJSON_AddNumberToObject(o, "pad_token_id", c->pad_token_id);
    cJSON_AddNumberToObject(o, "bos_token_id", c->bos_token_id);
    cJSON_AddNumberToObject(o, "eos_token_id", c->eos_token_id);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) die(2, "%s: cannot format the configuration", path);
    char tmp[600];
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    fputs(text, f);
    fputc('\n', f);
    atomic_fclose(f, tmp, path);
    cJSON_free(text);
}
