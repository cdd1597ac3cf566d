/* 06_hw_aware_cuda/lm/checkpoint.c — checkpoints as Hugging Face writes them (host side, no
 * GPU: the model's save and load in model.c move the buffers to and from the device): a directory with
 * config.json and model.safetensors (float32, HF tensor names, the tied head stored once as
 * the embedding, metadata {"format": "pt"} as transformers requires), plus our
 * optimizer.safetensors (AdamW's m and v per tensor, the step). The directory is written
 * under a temporary name and renamed into place, so a crash leaves the old one or the new
 * one, never a mixture. */
#include "06_hw_aware_cuda/lm/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safetensors.h"
#include "common/util.h"

/* st_tensor entries for every table tensor of buf, named prefix + HF name */
static void fill(st_tensor *ts, const mamba_model *tab, const float *buf, const char *prefix)
{
    for (int i = 0; i < tab->n_tensors; i++) {
        const mamba_tensor *t = &tab->t[i];
        snprintf(ts[i].name, sizeof ts[i].name, "%s%s", prefix, t->name);
        ts[i].dtype = NPY_F32;
        ts[i].ndim = t->ndim;
        for (int k = 0; k < t->ndim; k++) ts[i].shape[k] = t->shape[k];
        ts[i].data = buf + t->offset;
    }
}

static void rm_dir(const char *dir)
{
    static const char *files[] = {"config.json", "model.safetensors", "optimizer.safetensors"};
    char p[1200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path_join(p, sizeof p, dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

void lm_checkpoint_write(const char *dir, const hf_config *hf, const mamba_model *tab,
                         const float *w, const float *mo, const float *vo, int step)
{
    char tmp[1100], old[1100], p[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", dir, (int)getpid());
    snprintf(old, sizeof old, "%s.old.%d", dir, (int)getpid());
    rm_dir(tmp);
    mkdir_p(tmp);
    const int nt = tab->n_tensors;
    st_tensor *ts = xcalloc((size_t)2 * nt, sizeof *ts);
    path_join(p, sizeof p, tmp, "config.json");
    hf_config_write(p, hf);
    fill(ts, tab, w, "");
    path_join(p, sizeof p, tmp, "model.safetensors");
    st_save(p, ts, nt, "\"format\":\"pt\"");
    if (mo && vo) {
        fill(ts, tab, mo, "optimizer.m.");
        fill(ts + nt, tab, vo, "optimizer.v.");
        char meta[128];
        snprintf(meta, sizeof meta, "\"format\":\"lm-adamw\",\"step\":\"%d\"", step);
        path_join(p, sizeof p, tmp, "optimizer.safetensors");
        st_save(p, ts, 2 * nt, meta);
    }
    free(ts);
    /* swap: the old directory aside, the new one in, the old one removed */
    struct stat sb;
    const int had = stat(dir, &sb) == 0;
    if (had && rename(dir, old) != 0) die(2, "%s: cannot move the old checkpoint aside", dir);
    if (rename(tmp, dir) != 0) die(2, "%s: cannot rename %s into place", dir, tmp);
    if (had) rm_dir(old);
}

/* Copy tensor `name` of f (float32, the table's shape; exit 2 naming file and tensor
 * otherwise, or on a non-finite value) into dst. */
static void get(const st_file *f, const char *name, const mamba_tensor *t, float *dst)
{
    const float *src = st_get(f, name, NPY_F32, t->ndim, t->shape);
    for (size_t j = 0; j < t->size; j++) {
        if (!isfinite(src[j]))
            die(2, "%s: tensor %s: element %zu is not finite", f->path, name, j);
        dst[j] = src[j];
    }
}

void lm_checkpoint_read(const char *dir, const mamba_model *tab, float *w, float *mo, float *vo,
                        int *step)
{
    char p[1200], nm[256];
    st_file f;
    path_join(p, sizeof p, dir, "model.safetensors");
    st_load(p, &f);
    for (int i = 0; i < tab->n_tensors; i++)
        get(&f, tab->t[i].name, &tab->t[i], w + tab->t[i].offset);
    st_free(&f);
    if (!mo || !vo) return;
    path_join(p, sizeof p, dir, "optimizer.safetensors");
    st_load(p, &f);
    char sv[32];
    if (st_meta(&f, "step", sv, sizeof sv) != 0) die(2, "%s: no \"step\" in its metadata", p);
    char *end;
    const long s = strtol(sv, &end, 10);
    if (*end || end == sv || s < 0 || s > 1000000000) die(2, "%s: step \"%s\" is not a step count", p, sv);
    for (int i = 0; i < tab->n_tensors; i++) {
        const mamba_tensor *t = &tab->t[i];
        snprintf(nm, sizeof nm, "optimizer.m.%s", t->name);
        get(&f, nm, t, mo + t->offset);
        snprintf(nm, sizeof nm, "optimizer.v.%s", t->name);
        get(&f, nm, t, vo + t->offset);
        for (size_t j = 0; j < t->size; j++)
            if (vo[t->offset + j] < 0) die(2, "%s: tensor %s: negative second moment", p, nm);
    }
    st_free(&f);
    *step = (int)s;
}

void lm_checkpoint_table(const hf_config *cfg, uint64_t seed, mamba_model *tab)
{
    lm_checkpoint_table_variant(cfg, seed, MAMBA_S6, 0, tab);
}

void lm_checkpoint_table_variant(const hf_config *cfg, uint64_t seed, int kind, int no_gate,
                                 mamba_model *tab)
{
    if (!cfg->use_conv_bias)
        die(2, "config: use_conv_bias false is not supported (the conv bias is always there)");
    mamba_config mc = {.vocab = cfg->vocab_size, .d_model = cfg->hidden_size,
                       .n_layer = cfg->num_hidden_layers, .d_state = cfg->state_size,
                       .d_conv = cfg->conv_kernel, .expand = cfg->expand,
                       .dt_rank = cfg->time_step_rank, .norm_eps = cfg->layer_norm_epsilon,
                       .kind = kind, .no_gate = no_gate};
    mamba_init(tab, &mc, seed);
}

void lm_checkpoint_check(const char *dir, int with_optimizer)
{
    char p[1200];
    hf_config cfg;
    path_join(p, sizeof p, dir, "config.json");
    hf_config_read(p, &cfg);
    mamba_model tab;
    lm_checkpoint_table(&cfg, 1, &tab);
    float *w = xmalloc(tab.n_params * sizeof(float));
    float *mo = with_optimizer ? xmalloc(tab.n_params * sizeof(float)) : NULL;
    float *vo = with_optimizer ? xmalloc(tab.n_params * sizeof(float)) : NULL;
    int step = 0;
    lm_checkpoint_read(dir, &tab, w, mo, vo, &step);
    free(w); free(mo); free(vo);
    mamba_free(&tab);
}
