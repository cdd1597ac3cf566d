/* tests/test_checkpoint.c — checkpoints as Hugging Face writes them, on the CPU: every tensor
 * and the optimizer state survive a write and a read bit for bit, the directory is replaced
 * atomically, and each kind of bad file makes the program exit 2 with one line naming the
 * file and the tensor — before any GPU is touched, so this runs on every machine. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "06_hw_aware_cuda/lm/checkpoint.h"
#include "common/rng.h"
#include "common/safetensors.h"
#include "common/testutil.h"
#include "common/util.h"

typedef struct {
    hf_config cfg;
    mamba_model tab;
    float *w, *mo, *vo;
    char dir[512], ids[600];
} fixture;

static void setup(fixture *f)
{
    hf_config_defaults(&f->cfg);
    f->cfg.vocab_size = 40; f->cfg.hidden_size = 16; f->cfg.num_hidden_layers = 2;
    f->cfg.state_size = 8; f->cfg.time_step_rank = 1; f->cfg.intermediate_size = 32;
    lm_checkpoint_table(&f->cfg, 3, &f->tab);
    const size_t n = f->tab.n_params;
    f->w = xmalloc(n * sizeof(float)); f->mo = xmalloc(n * sizeof(float)); f->vo = xmalloc(n * sizeof(float));
    rng_t r;
    rng_seed(&r, 4);
    for (size_t i = 0; i < n; i++) {
        f->w[i] = (float)f->tab.params[i];
        f->mo[i] = (float)rng_uniform_range(&r, -1e-3, 1e-3);
        f->vo[i] = (float)rng_uniform_range(&r, 0, 1e-6);
    }
    char tmp[256];
    th_tmpdir(tmp, sizeof tmp);
    snprintf(f->dir, sizeof f->dir, "%s/ck", tmp);
    snprintf(f->ids, sizeof f->ids, "%s/ids.npy", tmp);
    const int64_t ids[4] = {1, 2, 3, 4};
    npy_write_or_die(f->ids, NPY_I64, 2, (size_t[]){1, 4}, ids);
}

static void teardown(fixture *f)
{
    free(f->w); free(f->mo); free(f->vo);
    mamba_free(&f->tab);
}

START_TEST(test_write_read_exact)
{
    fixture f;
    setup(&f);
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, f.mo, f.vo, 17);
    f.w[0] += 1;                                     /* a second save replaces the first */
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, f.mo, f.vo, 18);
    const size_t n = f.tab.n_params;
    float *w = xmalloc(n * sizeof(float)), *mo = xmalloc(n * sizeof(float)), *vo = xmalloc(n * sizeof(float));
    int step = -1;
    lm_checkpoint_read(f.dir, &f.tab, w, mo, vo, &step);
    ck_assert_int_eq(step, 18);
    ck_assert(memcmp(w, f.w, n * sizeof(float)) == 0);
    ck_assert(memcmp(mo, f.mo, n * sizeof(float)) == 0);
    ck_assert(memcmp(vo, f.vo, n * sizeof(float)) == 0);
    char p[700];                                     /* no temporary or old directory left */
    snprintf(p, sizeof p, "%s.tmp.%d", f.dir, (int)getpid());
    struct stat sb;
    ck_assert(stat(p, &sb) != 0);
    snprintf(p, sizeof p, "%s.old.%d", f.dir, (int)getpid());
    ck_assert(stat(p, &sb) != 0);
    /* the tied head is stored once, as transformers' save_pretrained does */
    st_file sf;
    snprintf(p, sizeof p, "%s/model.safetensors", f.dir);
    st_load(p, &sf);
    ck_assert_int_eq(sf.n, f.tab.n_tensors);
    char fmt[16];
    ck_assert(st_meta(&sf, "format", fmt, sizeof fmt) == 0 && !strcmp(fmt, "pt"));
    st_free(&sf);
    free(w); free(mo); free(vo);
    teardown(&f);
}
END_TEST

static void logits_exit2(const fixture *f, const char *want)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --logits %s --ids %s --out-npy %s.out.npy", PROG_PATH, f->dir,
             f->ids, f->dir);
    ck_assert_exit2(cmd, want);
}

/* The CPU table (stage 05's model, used by generate --device cpu) takes the RMSNorm epsilon
 * from config.json's layer_norm_epsilon, as the GPU model does: it once fell back to 1e-5. */
START_TEST(test_table_reads_norm_eps)
{
    hf_config cfg;
    hf_config_defaults(&cfg);
    cfg.vocab_size = 40; cfg.hidden_size = 16; cfg.num_hidden_layers = 1;
    cfg.state_size = 8; cfg.time_step_rank = 1; cfg.intermediate_size = 32;
    cfg.layer_norm_epsilon = 3e-6;
    mamba_model tab;
    lm_checkpoint_table(&cfg, 3, &tab);
    ck_assert_double_eq(tab.cfg.norm_eps, 3e-6);
    mamba_free(&tab);
}
END_TEST

START_TEST(test_bad_files_exit2)
{
    fixture f;
    setup(&f);
    char p[700], want[700];
    snprintf(p, sizeof p, "%s/model.safetensors", f.dir);
    /* missing file */
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, NULL, NULL, 0);
    unlink(p);
    logits_exit2(&f, "model.safetensors");
    /* truncated file: named */
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, NULL, NULL, 0);
    struct stat sb;
    stat(p, &sb);
    ck_assert(truncate(p, sb.st_size / 2) == 0);
    logits_exit2(&f, p);
    /* a non-finite weight: file and tensor */
    const mamba_tensor *nf = mamba_find(&f.tab, "backbone.norm_f.weight");
    f.w[nf->offset + 3] = NAN;
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, NULL, NULL, 0);
    f.w[nf->offset + 3] = 1;
    logits_exit2(&f, "backbone.norm_f.weight");
    /* a config that does not match the tensors: the first mismatched tensor is named */
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, NULL, NULL, 0);
    hf_config big = f.cfg;
    big.vocab_size = 41;
    snprintf(want, sizeof want, "%s/config.json", f.dir);
    hf_config_write(want, &big);
    logits_exit2(&f, "backbone.embeddings.weight");
    /* a missing tensor */
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, NULL, NULL, 0);
    st_tensor *ts = xcalloc((size_t)f.tab.n_tensors, sizeof *ts);
    int k = 0;
    for (int i = 0; i < f.tab.n_tensors; i++) {
        const mamba_tensor *t = &f.tab.t[i];
        if (!strcmp(t->name, "backbone.layers.1.mixer.A_log")) continue;
        snprintf(ts[k].name, sizeof ts[k].name, "%s", t->name);
        ts[k].dtype = NPY_F32;
        ts[k].ndim = t->ndim;
        memcpy(ts[k].shape, t->shape, sizeof t->shape);
        ts[k++].data = f.w + t->offset;
    }
    st_save(p, ts, k, "\"format\":\"pt\"");
    free(ts);
    logits_exit2(&f, "backbone.layers.1.mixer.A_log");
    /* --resume: a negative second moment in optimizer.safetensors is named */
    f.vo[5] = -1;
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, f.mo, f.vo, 4);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --train %s --resume %s", PROG_PATH, f.ids, f.dir);
    ck_assert_exit2(cmd, "optimizer.v.backbone.embeddings.weight");
    /* --resume without the optimizer file */
    f.vo[5] = 0;
    lm_checkpoint_write(f.dir, &f.cfg, &f.tab, f.w, NULL, NULL, 0);
    ck_assert_exit2(cmd, "optimizer.safetensors");
    teardown(&f);
}
END_TEST

/* the command line: one named line and exit 2 for what the program cannot do */
START_TEST(test_cli_rejects)
{
    ck_assert_exit2(PROG_PATH " --dtype fp16 --check x", "--dtype");
    ck_assert_exit2(PROG_PATH, "nothing to do");
    ck_assert_exit2(PROG_PATH " --logits x", "--ids");
    ck_assert_exit2(PROG_PATH " --init x.json", "--out");
    ck_assert_exit2(PROG_PATH " --check x --val-every 0", "--val-every");
    ck_assert_exit2(PROG_PATH " --check x --bogus 1", "bogus");
    ck_assert_exit2(PROG_PATH " --check x --scan-bwd v8", "--scan-bwd");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lm checkpoints");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_write_read_exact);
    tcase_add_test(tc, test_table_reads_norm_eps);
    tcase_add_test(tc, test_bad_files_exit2);
    tcase_add_test(tc, test_cli_rejects);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
