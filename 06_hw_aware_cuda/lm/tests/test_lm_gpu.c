/* tests/test_lm_gpu.c — the GPU model's kernels and the whole model against float64 CPU
 * references (built with REAL_F64: common/nn.c's RMSNorm, softmax cross-entropy and AdamW,
 * and stage 05's Mamba LM with the same weights), on fresh random inputs, outputs poisoned
 * before the GPU writes them. Skips with the reason where there is no GPU; `--gpu` (make
 * test-gpu) fails instead.
 *
 * Tolerances: float32 GPU against float64 CPU, norm-wise (max|got − want| / max|want|).
 * One float32 op errs by 6e-8; the kernels chain a few (RMSNorm, softmax, AdamW's update):
 * 1e-5. The whole model (two layers, a 2100-step scan, the backward through all of it)
 * chains hundreds: 1e-4, the bound the debug-state check against transformers uses too. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "common/nn.h"
#include "common/rng.h"
#include "common/testutil.h"
#include "common/util.h"

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "06_hw_aware_cuda/lm/kernels.h"
#include "06_hw_aware_cuda/lm/model.h"
#include "06_hw_aware_cuda/lm/synthetic.h"

static void fill(rng_t *r, double *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform_range(r, lo, hi);
}

/* float32 copies on the device (the CPU reference then uses the same rounded values) */
static float *up(double *h, size_t n)
{
    float *f = xmalloc(n * sizeof(float)), *d;
    for (size_t i = 0; i < n; i++) h[i] = f[i] = (float)h[i];
    LM_CUDA(cudaMalloc((void **)&d, n * sizeof(float)));
    LM_CUDA(cudaMemcpy(d, f, n * sizeof(float), cudaMemcpyHostToDevice));
    free(f);
    return d;
}

static float *poisoned(size_t n)
{
    float *f = xmalloc(n * sizeof(float)), *d;
    th_poison_f32(f, n);
    LM_CUDA(cudaMalloc((void **)&d, n * sizeof(float)));
    LM_CUDA(cudaMemcpy(d, f, n * sizeof(float), cudaMemcpyHostToDevice));
    free(f);
    return d;
}

static double *down(const float *d, size_t n)
{
    float *f = xmalloc(n * sizeof(float));
    LM_CUDA(cudaMemcpy(f, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    double *h = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) h[i] = f[i];
    free(f);
    return h;
}

/* norm-wise: fails naming the tensor unless max|got − want| <= tol · max|want| (NaN fails) */
static void close_to(const char *what, const double *got, const double *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(isfinite(got[i]), "%s[%zu] = %g (not written or not finite)", what, i, got[i]);
    const double e = rel_err(got, want, n);
    ck_assert_msg(e <= tol, "%s: norm-wise error %.3e > %.1e", what, e, tol);
}

START_TEST(gpu_rmsnorm)
{
    const int T = 37, C = 200;
    rng_t r;
    rng_seed(&r, 11);
    double *x = xmalloc(T * C * sizeof(double)), *w = xmalloc(C * sizeof(double)),
           *dy = xmalloc(T * C * sizeof(double)), *dx = xmalloc(T * C * sizeof(double)),
           *dw = xmalloc(C * sizeof(double)), *y = xmalloc(T * C * sizeof(double)),
           *rstd = xmalloc(T * sizeof(double));
    fill(&r, x, (size_t)T * C, -2, 2);
    fill(&r, w, C, 0.5, 1.5);
    fill(&r, dy, (size_t)T * C, -1, 1);
    fill(&r, dx, (size_t)T * C, -1, 1);      /* the residual's gradient already there: += */
    fill(&r, dw, C, -1, 1);
    float *gx = up(x, (size_t)T * C), *gw = up(w, C), *gdy = up(dy, (size_t)T * C),
          *gdx = up(dx, (size_t)T * C), *gdw = up(dw, C);
    float *gy = poisoned((size_t)T * C), *grstd = poisoned(T);
    lm_rmsnorm_forward(gy, grstd, gx, gw, T, C, 1e-5f);
    lm_rmsnorm_backward(gdx, gdw, gdy, gx, gw, grstd, T, C);
    rmsnorm_forward(y, rstd, x, w, T, C, 1e-5);
    rmsnorm_backward(dx, dw, dy, x, w, rstd, T, C);
    double *h;
    close_to("rmsnorm y", h = down(gy, (size_t)T * C), y, (size_t)T * C, 1e-5); free(h);
    close_to("rmsnorm rstd", h = down(grstd, T), rstd, T, 1e-5); free(h);
    close_to("rmsnorm dx", h = down(gdx, (size_t)T * C), dx, (size_t)T * C, 1e-5); free(h);
    close_to("rmsnorm dw", h = down(gdw, C), dw, C, 1e-5); free(h);
    cudaFree(gx); cudaFree(gw); cudaFree(gdy); cudaFree(gdx); cudaFree(gdw); cudaFree(gy); cudaFree(grstd);
    free(x); free(w); free(dy); free(dx); free(dw); free(y); free(rstd);
}
END_TEST

START_TEST(gpu_classifier)
{
    const int T = 29, V = 1000;
    rng_t r;
    rng_seed(&r, 12);
    double *lg = xmalloc((size_t)T * V * sizeof(double)), *probs = xmalloc((size_t)T * V * sizeof(double)),
           *dl = xcalloc((size_t)T * V, sizeof(double));
    int *tg = xmalloc(T * sizeof(int)), *gtg;
    fill(&r, lg, (size_t)T * V, -4, 4);
    int counted = 0;
    for (int t = 0; t < T; t++) {
        tg[t] = t == 3 || t == 17 ? -1 : (int)(rng_u64(&r) % V);
        counted += tg[t] >= 0;
    }
    float *glg = up(lg, (size_t)T * V), *gloss = poisoned(T);
    LM_CUDA(cudaMalloc((void **)&gtg, T * sizeof(int)));
    LM_CUDA(cudaMemcpy(gtg, tg, T * sizeof(int), cudaMemcpyHostToDevice));
    lm_classifier(glg, gloss, gtg, T, V, 1.f / counted);
    const double want = softmax_xent_forward(probs, lg, tg, T, V);
    softmax_xent_backward(dl, probs, tg, T, V);
    double *losses = down(gloss, T), got = 0;
    for (int t = 0; t < T; t++) {
        ck_assert(isfinite(losses[t]));
        if (tg[t] < 0) ck_assert(losses[t] == 0);   /* ignored: no loss */
        got += losses[t];
    }
    got /= counted;
    ck_assert_msg(fabs(got - want) <= 1e-6 * want, "loss %.9g vs %.9g", got, want);
    double *h = down(glg, (size_t)T * V);
    close_to("classifier dlogits", h, dl, (size_t)T * V, 1e-5);
    for (int v = 0; v < V; v++) ck_assert(h[3 * V + v] == 0);   /* ignored rows: zero gradient */
    free(h); free(losses);
    cudaFree(glg); cudaFree(gloss); cudaFree(gtg);
    free(lg); free(probs); free(dl); free(tg);
}
END_TEST

/* AdamW against common/nn's float64 update, three steps: the per-tensor kernel (lm_adamw,
 * flat = 0), and the model's one-launch kernel (lm_adamw_flat, flat = 1) on three segments
 * — decaying, not, decaying, ends 300, 650, 1001 (odd sizes) — each against the update of
 * its own slice. The latter's bf16 copy of the weights must be the float32 result rounded
 * to nearest: |p16 − p| ≤ u|p|, u = 2⁻⁸ (bf16 keeps 8 significant bits). */
START_TEST(gpu_adamw)
{
    const int flat = _i;
    const size_t n = 1001, ends[3] = {300, 650, 1001};
    const unsigned char decays[3] = {1, 0, 1};
    rng_t r;
    rng_seed(&r, 13);
    double *p = xmalloc(n * sizeof(double)), *g = xmalloc(n * sizeof(double)),
           *gs = xmalloc(n * sizeof(double)), *m = xcalloc(n, sizeof(double)),
           *v = xcalloc(n, sizeof(double));
    fill(&r, p, n, -1, 1);
    fill(&r, g, n, -1e-2, 1e-2);
    float *gp = up(p, n), *gg = up(g, n), *gm = poisoned(n), *gv = poisoned(n);
    LM_CUDA(cudaMemset(gm, 0, n * sizeof(float)));
    LM_CUDA(cudaMemset(gv, 0, n * sizeof(float)));
    unsigned long long *dend;
    unsigned char *ddec;
    uint16_t *p16;
    const unsigned long long hend[3] = {ends[0], ends[1], ends[2]};
    LM_CUDA(cudaMalloc((void **)&dend, sizeof hend));
    LM_CUDA(cudaMalloc((void **)&ddec, 3));
    LM_CUDA(cudaMalloc((void **)&p16, n * 2));
    LM_CUDA(cudaMemcpy(dend, hend, sizeof hend, cudaMemcpyHostToDevice));
    LM_CUDA(cudaMemcpy(ddec, decays, 3, cudaMemcpyHostToDevice));
    for (size_t i = 0; i < n; i++) gs[i] = 0.5 * g[i];      /* the clipping factor */
    for (int t = 1; t <= 3; t++) {
        if (flat)
            lm_adamw_flat(gp, gm, gv, gg, p16, n, dend, ddec, 3, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f,
                          0.5f, t);
        else
            lm_adamw(gp, gm, gv, gg, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, t);
        for (int k = 0; k < 3; k++) {
            const size_t a = k ? ends[k - 1] : 0;
            const adamw_cfg cfg = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                                   .weight_decay = 0.1};
            adamw_update(p + a, gs + a, m + a, v + a, ends[k] - a, t, &cfg, 1, !flat || decays[k]);
        }
    }
    double *h;
    close_to("adamw p", h = down(gp, n), p, n, 1e-5);
    if (flat) {
        uint16_t *b = xmalloc(n * 2);
        LM_CUDA(cudaMemcpy(b, p16, n * 2, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n; i++) {
            const union { uint32_t u; float f; } c = {.u = (uint32_t)b[i] << 16};
            ck_assert_msg(fabs(c.f - h[i]) <= fabs(h[i]) * 0x1p-8, "p16[%zu] = %g vs p %g", i,
                          c.f, h[i]);
        }
        free(b);
    }
    free(h);
    close_to("adamw m", h = down(gm, n), m, n, 1e-5); free(h);
    close_to("adamw v", h = down(gv, n), v, n, 1e-5); free(h);
    cudaFree(gp); cudaFree(gg); cudaFree(gm); cudaFree(gv); cudaFree(dend); cudaFree(ddec);
    cudaFree(p16);
    free(p); free(g); free(gs); free(m); free(v);
}
END_TEST

/* The whole model against stage 05's CPU model in float64, with the same weights (stage 05's
 * initialisation, then every tensor perturbed so norms, D and A_log are not their neat
 * initial values). Shapes: two layers; a 2100-step sequence (two scan chunks); N = 12 (not a
 * power of two: the v4 forward instead of v6); 3 × 1500 = 4500 tokens (the head in two
 * chunks of LM_HEAD_ROWS = 4096 and 404 tokens). Each shape runs with the default scan
 * backward (v7, deterministic) and again with one that adds with atomics (v6's below 2048
 * steps, the fused one from 2048); where N = 12 (not a power of two) both are the fused one.
 * A third run per shape is bf16 mode (§6.18: the matmuls' operands rounded to bf16, float32
 * accumulation), against the same float64 reference with the bounds of the debug-state
 * check in bf16 (debug_state.c: u = 2⁻⁸, a K-term dot product errs by ~√K·u relative in its
 * worst directions, chained through the backward: 3e-2 norm-wise, 1e-2 for the loss). */
static const struct { int vocab, dm, layers, N, batch, L; } SHAPES[] = {
    {50, 32, 2, 16, 3, 100}, {20, 16, 1, 8, 1, 2100}, {30, 24, 2, 12, 2, 50},
    {40, 16, 1, 16, 3, 1500}};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0] };

/* One model (stage 05's variant kind / no_gate) against stage 05's CPU model: logits, loss,
 * every parameter's gradient; the buffers the scans write poisoned (NaN bytes) before the
 * training pass, so what they read must have been written in it. LTI also runs its backward
 * twice: its sums over the batch are in a fixed order, so the bits must agree. */
static void vs_stage05(int kind, int no_gate, int vocab, int dm, int layers, int N, int B, int L,
                       int seed, int scan_bwd, int bf16)
{
    const double tol = bf16 ? 3e-2 : 1e-4, loss_tol = bf16 ? 1e-2 : 1e-5;
    hf_config hf;
    hf_config_defaults(&hf);
    hf.vocab_size = vocab; hf.hidden_size = dm; hf.num_hidden_layers = layers; hf.state_size = N;
    hf.time_step_rank = (hf.hidden_size + 15) / 16;
    hf.intermediate_size = 2 * hf.hidden_size;
    const int T = B * L, V = vocab;
    lm_model g;
    lm_build_variant(&g, &hf, 100 + seed, kind, no_gate);
    g.scan_bwd = scan_bwd;
    mamba_model *cpu = &g.host;
    ck_assert_int_eq(cpu->cfg.kind, kind);
    ck_assert_int_eq(cpu->cfg.no_gate, no_gate);
    rng_t r;
    rng_seed(&r, 200 + seed);
    for (size_t i = 0; i < cpu->n_params; i++)
        cpu->params[i] = (float)(cpu->params[i] * (1 + 0.2 * rng_uniform_range(&r, -1, 1)) +
                                 0.01 * rng_uniform_range(&r, -1, 1));
    lm_upload(&g);
    int *tok = xmalloc(T * sizeof(int)), *tg = xmalloc(T * sizeof(int)), counted = 0;
    for (int t = 0; t < T; t++) {
        tok[t] = (int)(rng_u64(&r) % V);
        tg[t] = t % 13 == 5 ? -1 : (int)(rng_u64(&r) % V);
        counted += tg[t] >= 0;
    }
    double *lc = xmalloc((size_t)T * V * sizeof(double));
    const double want = mamba_forward(cpu, tok, tg, B, L, lc);
    memset(cpu->grads, 0, cpu->n_params * sizeof(real));
    mamba_backward(cpu, tok, tg);

    lm_set_matmul_bf16(bf16);
    lm_forward(&g, tok, NULL, B, L, 0);
    float *lf = xmalloc((size_t)T * V * sizeof(float));
    lm_get_logits(&g, lf);
    double *ld = xmalloc((size_t)T * V * sizeof(double));
    for (size_t i = 0; i < (size_t)T * V; i++) ld[i] = lf[i];
    close_to("logits", ld, lc, (size_t)T * V, tol);
    const size_t DL = (size_t)B * g.D * L;
    LM_CUDA(cudaMemset(g.a.y, 0xff, DL * sizeof(float)));
    LM_CUDA(cudaMemset(g.a.du, 0xff, DL * sizeof(float)));
    if (!no_gate) LM_CUDA(cudaMemset(g.a.dz, 0xff, DL * sizeof(float)));
    if (kind == MAMBA_LTI) {
        LM_CUDA(cudaMemset(g.a.lti_ck, 0xff,
                           g.n_layer * lm_lti_checkpoint_floats(B, g.D, L, g.N) * sizeof(float)));
        LM_CUDA(cudaMemset(g.a.lti_ws, 0xff, lm_lti_workspace_floats(B, g.D, g.N) * sizeof(float)));
    }
    lm_zero_grad(&g);
    const double got = lm_forward(&g, tok, tg, B, L, 1.f / counted);
    ck_assert_msg(fabs(got - want) <= loss_tol * want, "loss %.9g vs stage 05 %.9g", got, want);
    lm_backward(&g);
    double *gg = down(g.grads, g.n_params);
    for (int i = 0; i < cpu->n_tensors; i++) {
        const mamba_tensor *t = &cpu->t[i];
        const double e = rel_err(gg + t->offset, cpu->grads + t->offset, t->size);
        printf("  %-10s L=%d N=%d %-5s %s %-44s %.2e\n", lm_variant_label(kind, no_gate), L, N,
               kind == MAMBA_LTI ? "lti" : lm_scan_bwd_label(g.scan_bwd_used),
               bf16 ? "bf16" : "fp32", t->name, e);
        close_to(t->name, gg + t->offset, cpu->grads + t->offset, t->size, tol);
    }
    if (kind == MAMBA_LTI) {
        lm_zero_grad(&g);
        lm_forward(&g, tok, tg, B, L, 1.f / counted);
        lm_backward(&g);
        double *g2 = down(g.grads, g.n_params);
        ck_assert_msg(memcmp(gg, g2, g.n_params * sizeof(double)) == 0,
                      "LTI: two backward passes of the same batch differ");
        free(g2);
    }
    lm_set_matmul_bf16(0);
    free(gg); free(ld); free(lf); free(lc); free(tok); free(tg);
    lm_free(&g);
}

START_TEST(gpu_model_vs_stage05)
{
    const int atomics = _i / NSHAPES == 1, bf16 = _i / NSHAPES == 2;
    _i %= NSHAPES;
    const int scan_bwd = !atomics ? LM_SCAN_BWD_AUTO
                         : SHAPES[_i].L < SCAN_CHUNK ? LM_SCAN_BWD_V6 : LM_SCAN_BWD_FUSED;
    vs_stage05(MAMBA_S6, 0, SHAPES[_i].vocab, SHAPES[_i].dm, SHAPES[_i].layers, SHAPES[_i].N,
               SHAPES[_i].batch, SHAPES[_i].L, _i, scan_bwd, bf16);
}
END_TEST

/* §6.23 The variants of the synthetic tasks against stage 05's CPU variants (the same table,
 * weights and float64 reference; stage 05 checks its variants against finite differences):
 * LTI (its own scan, scan_lti.cu), S6 without the gate, LTI without the gate; float32, the
 * bound of the whole model above (1e-4: the LTI scan chains as many float32 steps as S6's).
 * Shapes: N = 16 and 8 (LTI needs a power of two <= 32), L = 100 (not a multiple of the
 * LTI's 32-step blocks), and L = 2100 (66 blocks) at d_inner 32. The last row is S6 with a
 * vocabulary of 3: ~470 positions per token, so the embedding's backward sums each token in
 * segments of LM_EMB_SEG = 256 positions, as for selective copying's noise token. */
static const struct { int kind, no_gate, vocab, dm, layers, N, batch, L; } VARIANTS[] = {
    {MAMBA_LTI, 0, 50, 32, 2, 16, 3, 100}, {MAMBA_S6, 1, 50, 32, 2, 16, 3, 100},
    {MAMBA_LTI, 1, 30, 24, 2, 8, 2, 100},  {MAMBA_LTI, 0, 20, 16, 1, 16, 1, 2100},
    {MAMBA_S6, 1, 20, 16, 1, 8, 2, 2100}, {MAMBA_S6, 0, 3, 16, 1, 8, 2, 700}};
enum { NVARIANTS = sizeof VARIANTS / sizeof VARIANTS[0] };

START_TEST(gpu_variant_vs_stage05)
{
    vs_stage05(VARIANTS[_i].kind, VARIANTS[_i].no_gate, VARIANTS[_i].vocab, VARIANTS[_i].dm,
               VARIANTS[_i].layers, VARIANTS[_i].N, VARIANTS[_i].batch, VARIANTS[_i].L, 200 + _i,
               LM_SCAN_BWD_AUTO, 0);
}
END_TEST

/* §6.20 The bit-exact resume needs the same gradients on every run: with the v7 scan
 * backward (fixed-order sums) two backward passes over the same batch must give the same
 * bits, every parameter. The atomics of the fused and v6 backwards are shown, not asserted
 * (they may or may not differ on a given run). 130m-like widths at a small depth, so many
 * blocks add into each dB, dC entry. */
START_TEST(gpu_model_deterministic)
{
    hf_config hf;
    hf_config_defaults(&hf);
    hf.vocab_size = 256; hf.hidden_size = 256; hf.num_hidden_layers = 2; hf.state_size = 16;
    hf.time_step_rank = 16; hf.intermediate_size = 512;
    const int B = 4, L = 512, T = B * L;
    int *tok = xmalloc(T * sizeof(int)), *tg = xmalloc(T * sizeof(int));
    rng_t r;
    rng_seed(&r, 7);
    for (int t = 0; t < T; t++) {
        tok[t] = (int)(rng_u64(&r) % 256);
        tg[t] = (int)(rng_u64(&r) % 256);
    }
    /* the three backwards in float32, then v7 in bf16 mode (its staged operands and
     * one-matmul weight gradients must be as deterministic) */
    for (int kind = LM_SCAN_BWD_FUSED; kind <= LM_SCAN_BWD_V7 + 1; kind++) {
        const int bf16 = kind > LM_SCAN_BWD_V7;
        lm_model g;
        lm_build(&g, &hf, 5);
        g.scan_bwd = bf16 ? LM_SCAN_BWD_V7 : kind;
        lm_set_matmul_bf16(bf16);
        float *run[2];
        for (int k = 0; k < 2; k++) {
            lm_zero_grad(&g);
            lm_forward(&g, tok, tg, B, L, 1.f / T);
            lm_backward(&g);
            run[k] = xmalloc(g.n_params * sizeof(float));
            ck_assert_int_eq(cudaMemcpy(run[k], g.grads, g.n_params * sizeof(float),
                                        cudaMemcpyDeviceToHost), cudaSuccess);
        }
        size_t ndiff = 0;
        for (size_t i = 0; i < g.n_params; i++) ndiff += memcmp(run[0] + i, run[1] + i, 4) != 0;
        printf("  determinism: scan backward %-5s %s two runs differ in %zu of %zu gradient entries\n",
               lm_scan_bwd_label(g.scan_bwd), bf16 ? "bf16" : "fp32", ndiff, g.n_params);
        lm_set_matmul_bf16(0);
        if (g.scan_bwd == LM_SCAN_BWD_V7)
            ck_assert_msg(ndiff == 0, "v7 backward: %zu gradient entries differ between two runs", ndiff);
        free(run[0]); free(run[1]);
        lm_free(&g);
    }
    free(tok); free(tg);
}
END_TEST

/* §6.24 The training step captured as a CUDA graph against the ungraphed step: the task
 * model of §6.23 (vocab 16, d_model 64, 2 layers, N 16, batch 8 × L 256), S6, LTI and no-gate
 * trained side by side, each from the same weights both ways over the same batches (a
 * learning rate with warm-up and a cosine, so its value changes every step; clipping on).
 * The batches make token 0 take ~half the positions (~1000 > LM_EMB_SEG: the embedding
 * backward's segments, whose counts the graph reads on the device) and change every step.
 * The three graphs run AT ONCE, each on its stream, as lm --task runs them. Every step's
 * loss and, at the end, the weights and both AdamW moments must be the same bits. _i = 1:
 * S6 in bf16 mode (its bf16 mirror of the weights is updated by the captured AdamW). */
START_TEST(gpu_graph_step)
{
    const int bf16 = _i == 1, nv = bf16 ? 1 : 3, B = 8, L = 256, T = B * L, K = 7;
    const int kinds[3][2] = {{MAMBA_S6, 0}, {MAMBA_LTI, 0}, {MAMBA_S6, 1}};
    hf_config hf;
    hf_config_defaults(&hf);
    hf.vocab_size = 16; hf.hidden_size = 64; hf.num_hidden_layers = 2; hf.state_size = 16;
    hf.time_step_rank = 4; hf.intermediate_size = 128;
    const lm_train_cfg tc = {.lr = 3e-3, .lr_min = 3e-4, .weight_decay = 0.1, .beta1 = 0.9,
                             .beta2 = 0.999, .eps = 1e-8, .clip = 0.5, .warmup = 3, .steps = K};
    lm_set_matmul_bf16(bf16);
    lm_model plain[3], graphed[3];
    lm_step_graph *g[3] = {NULL, NULL, NULL};
    int *tok = xmalloc(T * sizeof(int)), *tg = xmalloc(T * sizeof(int));
    rng_t r;
    rng_seed(&r, 77);
    for (int v = 0; v < nv; v++) {
        lm_build_variant(&plain[v], &hf, 31 + v, kinds[v][0], kinds[v][1]);
        lm_build_variant(&graphed[v], &hf, 31 + v, kinds[v][0], kinds[v][1]);
    }
    int counted = 0;
    for (int k = 0; k < K; k++) {
        counted = 0;
        for (int t = 0; t < T; t++) {
            tok[t] = rng_u64(&r) % 2 ? 0 : (int)(rng_u64(&r) % 16);
            tg[t] = t % 7 == 3 ? -1 : (int)(rng_u64(&r) % 16);
            counted += tg[t] >= 0;
        }
        double want[3], got[3];
        for (int v = 0; v < nv; v++) {
            lm_zero_grad(&plain[v]);
            want[v] = lm_forward(&plain[v], tok, tg, B, L, 1.f / counted);
            lm_backward(&plain[v]);
            lm_opt_step(&plain[v], &tc);
        }
        for (int v = 0; v < nv; v++) {
            if (k == 0) g[v] = lm_graph_build(&graphed[v], tok, tg, B, L, 1.f / counted, &tc);
            lm_graph_launch(g[v], tok, tg);
        }
        for (int v = 0; v < nv; v++) got[v] = lm_graph_wait(g[v]);
        for (int v = 0; v < nv; v++) {
            printf("  graph %-6s %s step %d: loss %.17g ungraphed %.17g\n",
                   lm_variant_label(kinds[v][0], kinds[v][1]), bf16 ? "bf16" : "fp32", k + 1, got[v],
                   want[v]);
            ck_assert_msg(memcmp(&got[v], &want[v], sizeof(double)) == 0,
                          "%s step %d: graphed loss %.17g, ungraphed %.17g",
                          lm_variant_label(kinds[v][0], kinds[v][1]), k + 1, got[v], want[v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        ck_assert_int_eq(graphed[v].step, K);
        float *bufs[3][2] = {{plain[v].params, graphed[v].params},
                             {plain[v].opt_m, graphed[v].opt_m},
                             {plain[v].opt_v, graphed[v].opt_v}};
        const size_t n = plain[v].n_params;
        for (int b = 0; b < 3; b++) {
            double *x = down(bufs[b][0], n), *y = down(bufs[b][1], n);
            size_t ndiff = 0;
            for (size_t i = 0; i < n; i++) ndiff += memcmp(&x[i], &y[i], sizeof(double)) != 0;
            ck_assert_msg(ndiff == 0, "%s: %zu of %zu %s differ after %d steps",
                          lm_variant_label(kinds[v][0], kinds[v][1]), ndiff, n,
                          b == 0 ? "weights" : b == 1 ? "AdamW m" : "AdamW v", K);
            free(x); free(y);
        }
        lm_free(&graphed[v]);
        lm_free(&plain[v]);
    }
    lm_set_matmul_bf16(0);
    free(tok); free(tg);
}
END_TEST

static Suite *gpu_suite(void)
{
    Suite *s = suite_create("lm (GPU)");
    TCase *tc = tcase_create("kernels and model");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, gpu_rmsnorm);
    tcase_add_test(tc, gpu_classifier);
    tcase_add_loop_test(tc, gpu_adamw, 0, 2);
    tcase_add_loop_test(tc, gpu_model_vs_stage05, 0, 3 * NSHAPES);
    tcase_add_test(tc, gpu_model_deterministic);
    tcase_add_loop_test(tc, gpu_variant_vs_stage05, 0, NVARIANTS);
    suite_add_tcase(s, tc);
    /* §6.24 its own case, so a round can run it alone first (CK_RUN_CASE=graph) */
    TCase *tg = tcase_create("graph");
    tcase_set_timeout(tg, 600);
    tcase_add_loop_test(tg, gpu_graph_step, 0, 2);
    suite_add_tcase(s, tg);
    return s;
}
#endif

int main(int argc, char **argv)
{
    const int required = argc > 1 && strcmp(argv[1], "--gpu") == 0;
    return TH_GPU_SUITE("lm GPU suite", required, scan_gpu_available, scan_gpu_name, gpu_suite);
}
