/* 06_hw_aware_cuda/lm/train.c — training on a token file (llm.c's format, corpus.h), in the
 * order of the chapter: data (§6.17), the step with gradient accumulation (§6.18), the
 * progress line and validation (§6.19), checkpoints and --resume (§6.20). Also the two small
 * commands the round trip with transformers needs: logits of a checkpoint, and a freshly
 * initialised checkpoint. */
#include "06_hw_aware_cuda/lm/lm.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/checkpoint.h"
#include "06_hw_aware_cuda/lm/corpus.h"
#include "06_hw_aware_cuda/lm/kernels.h"
#include "06_hw_aware_cuda/lm/model.h"
#include "06_hw_aware_cuda/lm/synthetic.h"
#include "common/nn.h"
#include "common/npy.h"
#include "common/rng.h"
#include "common/util.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"

/* ---- §6.17 data: micro-batch k reads batch·L + 1 consecutive tokens at a position that is
 * a function of k alone, so a resumed run reads exactly what the uninterrupted one would. */
typedef struct {
    uint16_t *tok;
    size_t n;
} token_file;

static token_file load_tokens(const char *path, int vocab, size_t need)
{
    token_file f;
    char err[512];
    f.tok = corpus_read_tokens(path, &f.n, err, sizeof err);
    if (!f.tok) die(2, "%s", err);
    if (f.n < need) die(2, "%s: %zu tokens, a batch needs %zu", path, f.n, need);
    for (size_t i = 0; i < f.n; i++)
        if (f.tok[i] >= vocab)
            die(2, "%s: token %u at %zu is outside the model's vocabulary (%d)", path, f.tok[i], i, vocab);
    return f;
}

static void window(const token_file *f, size_t k, int batch, int L, int *x, int *y)
{
    const size_t BL = (size_t)batch * L, nwin = (f->n - 1) / BL;
    const size_t pos = (k % nwin) * BL;
    for (size_t i = 0; i < BL; i++) {
        x[i] = f->tok[pos + i];
        y[i] = f->tok[pos + i + 1];
    }
}

static double validate(lm_model *m, const token_file *val, int batch, int L, int nbatches,
                       int *x, int *y)
{
    const size_t nwin = (val->n - 1) / ((size_t)batch * L);
    if ((size_t)nbatches > nwin) nbatches = (int)nwin;
    double sum = 0;
    for (int j = 0; j < nbatches; j++) {
        window(val, (size_t)j, batch, L, x, y);
        sum += lm_forward(m, x, y, batch, L, 0);
    }
    return sum / nbatches;
}

static void fmt_eta(char *buf, size_t len, double s)
{
    if (s < 0 || !isfinite(s)) s = 0;
    snprintf(buf, len, "%dh%02dm%02ds", (int)(s / 3600), (int)fmod(s / 60, 60), (int)fmod(s, 60));
}

int lm_train(const lm_train_opts *o)
{
    hf_config cfg;
    char p[1200];
    if (o->resume) {
        path_join(p, sizeof p, o->resume, "config.json");
        hf_config_read(p, &cfg);
    } else if (o->config) {
        hf_config_read(o->config, &cfg);
    } else {
        die(2, "train: give --config config.json or --resume DIR");
    }
    if (o->batch < 1 || o->L < 1 || o->accum < 1 || o->steps < 1)
        die(2, "train: --batch, --seq, --accum and --steps must be >= 1");
    lm_model m;
    lm_build(&m, &cfg, (uint64_t)o->seed);
    if (o->scan_bwd >= 0) m.scan_bwd = o->scan_bwd;
    if (o->resume) lm_load_checkpoint(&m, o->resume, 1);
    lm_set_matmul_bf16(o->bf16);
    const size_t BL = (size_t)o->batch * o->L;
    token_file tr = load_tokens(o->train, cfg.vocab_size, BL + 1);
    token_file va = {0};
    if (o->val) va = load_tokens(o->val, cfg.vocab_size, BL + 1);
    int *x = xmalloc(BL * sizeof(int)), *y = xmalloc(BL * sizeof(int));
    lm_train_cfg tc = {.lr = o->lr, .lr_min = o->lr_min, .weight_decay = o->weight_decay,
                       .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .clip = o->clip,
                       .warmup = o->warmup, .steps = o->steps};
    /* §6.19 MFU: 6 · parameters FLOPs per token (forward 2, backward 4; the scan's own work is
     * small beside the matmuls and not counted) over the nominal peak of the dtype's
     * arithmetic (lm_nominal_peak_tflops): a rate measured here, on a GPU other programs may
     * share, can be below what the training achieves (it printed 122% once) */
    const double peak = lm_nominal_peak_tflops(o->bf16) * 1e12;
    const double flops_per_tok = 6.0 * (double)m.n_params;
    printf("train: %s, %zu parameters, batch %d x L %d x accum %d = %zu tokens/step, %s matmuls "
           "(nominal peak %.1f TFLOP/s%s), %zu train / %zu val tokens, from step %d to %d\n",
           o->train, m.n_params, o->batch, o->L, o->accum, BL * o->accum,
           o->bf16 ? "bf16" : "fp32", peak / 1e12, peak > 0 ? "" : ": not sm_90, no MFU", tr.n,
           va.n, m.step, o->steps);
    FILE *log = NULL;
    if (o->log) {
        log = fopen(o->log, o->resume ? "a" : "w");
        if (!log) die(2, "%s: cannot open for writing", o->log);
        if (!o->resume) fprintf(log, "step\tloss\tval_loss\tlr\tgrad_norm\tms\ttok_per_s\n");
    }
    const double t_start = now_seconds();
    int rc = 0;
    while (m.step < o->steps) {
        /* §6.18 one optimizer step: accum micro-batches, each contributing 1/(T·accum) */
        const double t0 = now_seconds();
        lm_zero_grad(&m);
        double loss = 0;
        for (int a = 0; a < o->accum; a++) {
            window(&tr, (size_t)m.step * o->accum + a, o->batch, o->L, x, y);
            loss += lm_forward(&m, x, y, o->batch, o->L, 1.f / (float)(BL * o->accum)) / o->accum;
            lm_backward(&m);
        }
        const double lr = lr_schedule(m.step, tc.warmup, tc.steps, tc.lr, tc.lr_min);
        const double norm = lm_opt_step(&m, &tc);
        LM_CUDA(cudaDeviceSynchronize());
        const double dt = now_seconds() - t0;
        if (!isfinite(loss)) die(1, "train: loss is %g at step %d", loss, m.step);
        /* §6.19 progress and validation */
        double vloss = NAN;
        if (va.tok && (m.step % o->val_every == 0 || m.step == o->steps))
            vloss = validate(&m, &va, o->batch, o->L, o->val_batches, x, y);
        const double tps = BL * o->accum / dt;
        char eta[32];
        fmt_eta(eta, sizeof eta, dt * (o->steps - m.step));
        printf("step %5d/%d | loss %.4f | val %s | lr %.2e | norm %.3f | %.1f ms | %.0f tok/s | "
               "MFU %.1f%% | ETA %s\n", m.step, o->steps, loss,
               isnan(vloss) ? "   -  " : (snprintf(p, sizeof p, "%.4f", vloss), p), lr, norm,
               dt * 1e3, tps, peak > 0 ? 100 * tps * flops_per_tok / peak : NAN, eta);
        fflush(stdout);
        if (log) {
            /* the loss with 17 digits: a double round-trips, so equal logs mean equal bits */
            fprintf(log, "%d\t%.17g\t%.9g\t%.6g\t%.6g\t%.3f\t%.1f\n", m.step, loss, vloss, lr, norm,
                    dt * 1e3, tps);
            fflush(log);
        }
        /* §6.20 checkpoints */
        const int stop = (o->max_seconds > 0 && now_seconds() - t_start > o->max_seconds) ||
                         (o->stop_at > 0 && m.step >= o->stop_at && m.step < o->steps);
        if (o->out && ((o->save_every > 0 && m.step % o->save_every == 0) ||
                       m.step == o->steps || stop))
            lm_save_checkpoint(&m, o->out, 1);
        if (stop) {
            printf("train: stopped at step %d (--max-seconds %.0f / --stop-at %d)%s\n", m.step,
                   o->max_seconds, o->stop_at, o->out ? ", checkpoint written" : "");
            break;
        }
    }
    if (log) fclose(log);
    free(x); free(y); free(tr.tok); free(va.tok);
    lm_free(&m);
    return rc;
}

int lm_logits(const char *dir, const char *ids_path, const char *out_path, int bf16)
{
    hf_config cfg;
    char p[1200];
    path_join(p, sizeof p, dir, "config.json");
    hf_config_read(p, &cfg);
    lm_model m;
    lm_build(&m, &cfg, 1);
    lm_load_checkpoint(&m, dir, 0);
    lm_set_matmul_bf16(bf16);
    npy_array ids;
    npy_read_or_die(ids_path, &ids);
    if (ids.ndim != 2) die(2, "%s: token ids must be (batch, L), got %d dimensions", ids_path, ids.ndim);
    double *v = npy_to_f64(&ids);
    const int batch = (int)ids.shape[0], L = (int)ids.shape[1];
    int *tok = xmalloc(ids.size * sizeof(int));
    for (size_t i = 0; i < ids.size; i++) tok[i] = (int)v[i];
    lm_forward(&m, tok, NULL, batch, L, 0);
    const size_t n = ids.size * (size_t)m.V;
    float *lg = xmalloc(n * sizeof(float));
    lm_get_logits(&m, lg);
    npy_write_or_die(out_path, NPY_F32, 3, (size_t[]){(size_t)batch, (size_t)L, (size_t)m.V}, lg);
    printf("logits: %s (%d x %d tokens, vocab %d) -> %s\n", dir, batch, L, m.V, out_path);
    free(lg); free(tok); free(v);
    npy_free(&ids);
    lm_free(&m);
    return 0;
}

int lm_init_checkpoint(const char *config, const char *dir, int seed)
{
    hf_config cfg;
    hf_config_read(config, &cfg);
    lm_model m;
    lm_build(&m, &cfg, (uint64_t)seed);
    lm_save_checkpoint(&m, dir, 0);
    printf("init: %s (seed %d, %zu parameters) -> %s\n", config, seed, m.n_params, dir);
    lm_free(&m);
    return 0;
}

/* ---- §6.21 the benchmark: training steps at one shape on random tokens (fixed seed):
 * the median of `steps` timed steps, tokens/s, MFU against the bf16 tensor-core rate
 * measured in the same run, device memory in use, and one profiled step's time split. */
int lm_bench(const lm_train_opts *o, const char *csv)
{
    hf_config cfg;
    if (!o->config) die(2, "bench: give --config config.json");
    hf_config_read(o->config, &cfg);
    lm_model m;
    lm_build_variant(&m, &cfg, (uint64_t)o->seed, o->kind, o->no_gate);
    if (o->scan_bwd >= 0) m.scan_bwd = o->scan_bwd;
    lm_set_matmul_bf16(o->bf16);
    const size_t BL = (size_t)o->batch * o->L;
    int *x = xmalloc(BL * sizeof(int)), *y = xmalloc(BL * sizeof(int));
    rng_t r;
    rng_seed(&r, 42);
    for (size_t i = 0; i < BL; i++) {
        x[i] = (int)(rng_u64(&r) % (uint64_t)cfg.vocab_size);
        y[i] = (int)(rng_u64(&r) % (uint64_t)cfg.vocab_size);
    }
    lm_train_cfg tc = {.lr = 1e-4, .lr_min = 1e-5, .weight_decay = 0.1, .beta1 = 0.9,
                       .beta2 = 0.95, .eps = 1e-8, .clip = 1.0, .warmup = 1, .steps = 1000};
    const double peak = lm_measure_bf16_peak_tflops();
    const int nsteps = o->steps < 3 ? 3 : o->steps > 50 ? 50 : o->steps;
    double ms[50];
    for (int s = -2; s < nsteps; s++) {
        LM_CUDA(cudaDeviceSynchronize());
        const double t0 = now_seconds();
        lm_zero_grad(&m);
        lm_forward(&m, x, y, o->batch, o->L, 1.f / (float)BL);
        lm_backward(&m);
        lm_opt_step(&m, &tc);
        LM_CUDA(cudaDeviceSynchronize());
        if (s >= 0) ms[s] = (now_seconds() - t0) * 1e3;
    }
    for (int i = 0; i < nsteps; i++)
        for (int j = i + 1; j < nsteps; j++)
            if (ms[j] < ms[i]) { double t = ms[i]; ms[i] = ms[j]; ms[j] = t; }
    const double med = ms[nsteps / 2], tps = BL / (med * 1e-3);
    size_t freeb, total;
    LM_CUDA(cudaMemGetInfo(&freeb, &total));
    const double mem_gib = (double)(total - freeb) / (1 << 30);
    /* §6.13 where the memory goes: every buffer the model holds (cudaMemGetInfo's figure
     * adds the CUDA context and cuBLAS's workspace) */
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s\t%d\t%d\t", o->bf16 ? "bf16" : "fp32", o->batch, o->L);
    const double model_gib = lm_memory_report(&m, prefix);
    const char *bwd_name = lm_scan_bwd_label(m.scan_bwd_used);
    const double mfu = tps * 6.0 * (double)m.n_params / (peak * 1e12);
    double split[LM_NKINDS];
    lm_profile(1);
    lm_zero_grad(&m);
    lm_forward(&m, x, y, o->batch, o->L, 1.f / (float)BL);
    lm_backward(&m);
    lm_opt_step(&m, &tc);
    lm_profile_read(split);
    lm_profile(0);
    double sum = 0;
    for (int k = 0; k < LM_NKINDS; k++) sum += split[k];
    char gpu[256];
    scan_gpu_name(gpu, sizeof gpu);
    printf("bench %s %s%s%s batch %d x L %d: %.1f ms/step (median of %d), %.0f tok/s, MFU %.1f%% of "
           "bf16 %.0f TFLOP/s, %.1f GiB in use (%.1f GiB the model's buffers), scan backward %s; "
           "profiled step %.1f ms:", o->bf16 ? "bf16" : "fp32", o->config,
           o->kind != MAMBA_S6 || o->no_gate ? ", variant " : "",
           o->kind != MAMBA_S6 || o->no_gate ? lm_variant_label(o->kind, o->no_gate) : "", o->batch,
           o->L, med, nsteps, tps, 100 * mfu, peak, mem_gib, model_gib,
           m.kind == MAMBA_LTI ? "lti" : bwd_name, sum);
    for (int k = 0; k < LM_NKINDS; k++) printf(" %s %.1f", lm_kind_name(k), split[k]);
    printf("\n");
    if (csv) {
        FILE *f = fopen(csv, "a");
        if (!f) die(2, "%s: cannot open for appending", csv);
        if (ftell(f) == 0) {
            fprintf(f, "gpu\tdtype\tbatch\tL\tms_step\ttok_per_s\tmfu\tbf16_peak_tflops\tmem_gib");
            for (int k = 0; k < LM_NKINDS; k++) fprintf(f, "\tms_%s", lm_kind_name(k));
            fprintf(f, "\tmodel_gib\tscan_bwd\n");
        }
        fprintf(f, "%s\t%s\t%d\t%d\t%.3f\t%.1f\t%.4f\t%.1f\t%.2f", gpu, o->bf16 ? "bf16" : "fp32",
                o->batch, o->L, med, tps, mfu, peak, mem_gib);
        for (int k = 0; k < LM_NKINDS; k++) fprintf(f, "\t%.3f", split[k]);
        fprintf(f, "\t%.2f\t%s\n", model_gib, bwd_name);
        fclose(f);
    }
    free(x); free(y);
    lm_free(&m);
    return 0;
}
