/* 06_hw_aware_cuda/lm/checkpoint.c — checkpoints as Hugging Face writes them: a directory with
 * config.json and model.safetensors (float32, HF tensor names, the tied head stored once as
 * the embedding, metadata {"format": "pt"} as transformers requires), plus our
 * optimizer.safetensors (AdamW's m and v per tensor, the step). The directory is written
 * under a temporary name and renamed into place, so a crash leaves the old one or the new
 * one, never a mixture. */
#include "06_hw_aware_cuda/lm/checkpoint.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "06_hw_aware_cuda/lm/kernels.h"
#include "common/safetensors.h"
#include "common/util.h"

static float *to_host(const float *dev, size_t n)
{
    float *h = xmalloc(n * sizeof(float));
    LM_CUDA(cudaMemcpy(h, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

/* st_tensor entries for every table tensor of buf, named prefix + HF name */
static void fill(st_tensor *ts, const lm_model *m, const float *buf, const char *prefix,
                 char (*names)[200])
{
    for (int i = 0; i < m->host.n_tensors; i++) {
        const mamba_tensor *t = &m->host.t[i];
        snprintf(names[i], sizeof names[i], "%s%s", prefix, t->name);
        snprintf(ts[i].name, sizeof ts[i].name, "%s", names[i]);
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

void lm_save_checkpoint(const lm_model *m, const char *dir, int with_optimizer)
{
    char tmp[1100], old[1100], p[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", dir, (int)getpid());
    snprintf(old, sizeof old, "%s.old.%d", dir, (int)getpid());
    rm_dir(tmp);
    mkdir_p(tmp);
    const int nt = m->host.n_tensors;
    st_tensor *ts = xcalloc((size_t)2 * nt, sizeof *ts);
    char (*names)[200] = xcalloc((size_t)2 * nt, sizeof *names);

    path_join(p, sizeof p, tmp, "config.json");
    hf_config_write(p, &m->hf);
    float *w = to_host(m->params, m->n_params);
    fill(ts, m, w, "", names);
    path_join(p, sizeof p, tmp, "model.safetensors");
    st_save(p, ts, nt, "\"format\":\"pt\"");
    free(w);
    if (with_optimizer) {
        float *mo = to_host(m->opt_m, m->n_params), *vo = to_host(m->opt_v, m->n_params);
        fill(ts, m, mo, "optimizer.m.", names);
        fill(ts + nt, m, vo, "optimizer.v.", names + nt);
        char meta[128];
        snprintf(meta, sizeof meta, "\"format\":\"lm-adamw\",\"step\":\"%d\"", m->step);
        path_join(p, sizeof p, tmp, "optimizer.safetensors");
        st_save(p, ts, 2 * nt, meta);
        free(mo);
        free(vo);
    }
    free(ts);
    free(names);
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

void lm_load_checkpoint(lm_model *m, const char *dir, int with_optimizer)
{
    char p[1200], nm[256];
    st_file f;
    path_join(p, sizeof p, dir, "model.safetensors");
    st_load(p, &f);
    float *w = xmalloc(m->n_params * sizeof(float));
    for (int i = 0; i < m->host.n_tensors; i++)
        get(&f, m->host.t[i].name, &m->host.t[i], w + m->host.t[i].offset);
    for (size_t i = 0; i < m->n_params; i++) m->host.params[i] = (real)w[i];
    free(w);
    st_free(&f);
    lm_upload(m);
    if (!with_optimizer) return;
    path_join(p, sizeof p, dir, "optimizer.safetensors");
    st_load(p, &f);
    char step[32];
    if (st_meta(&f, "step", step, sizeof step) != 0) die(2, "%s: no \"step\" in its metadata", p);
    char *end;
    long s = strtol(step, &end, 10);
    if (*end || s < 0 || s > 1000000000) die(2, "%s: step \"%s\" is not a step count", p, step);
    float *mo = xmalloc(m->n_params * sizeof(float)), *vo = xmalloc(m->n_params * sizeof(float));
    for (int i = 0; i < m->host.n_tensors; i++) {
        const mamba_tensor *t = &m->host.t[i];
        snprintf(nm, sizeof nm, "optimizer.m.%s", t->name);
        get(&f, nm, t, mo + t->offset);
        snprintf(nm, sizeof nm, "optimizer.v.%s", t->name);
        get(&f, nm, t, vo + t->offset);
        for (size_t j = 0; j < t->size; j++)
            if (vo[t->offset + j] < 0) die(2, "%s: tensor %s: negative second moment", p, nm);
    }
    LM_CUDA(cudaMemcpy(m->opt_m, mo, m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    LM_CUDA(cudaMemcpy(m->opt_v, vo, m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    free(mo);
    free(vo);
    st_free(&f);
    m->step = (int)s;
}
