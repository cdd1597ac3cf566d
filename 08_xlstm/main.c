/* 08_xlstm/main.c — chapter 8: xLSTM, exponential gating with a stabilizer, sLSTM and mLSTM.
 *
 * Reads top to bottom in the chapter's order:
 *   §8.1  from LSTM to sLSTM: the stabilizer at pre-activations up to ±80 (plot)
 *   §8.2  mLSTM: recurrent = parallel = chunkwise, and what each costs against L (plot)
 *   §8.3  the blocks and the models compared (parameter counts)
 *   §8.4  parity: state tracking, sLSTM's memory mixing against mLSTM and Mamba
 *   §8.5  MQAR (stage 07's task): associative recall
 *   §8.6  language modelling at equal parameter count: validation loss per second (plot)
 * plus --dump-vectors / --check (vectors08.c). `--full` runs the longer experiments. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "05_selective_s6/mamba.h"
#include "07_ssd_mamba2/mamba2.h"
#include "07_ssd_mamba2/mqar.h"
#include "08_xlstm/mlstm.h"
#include "08_xlstm/slstm.h"
#include "08_xlstm/vectors08.h"
#include "08_xlstm/xlstm.h"
#include "08_xlstm/xtasks.h"
#ifdef HAVE_CUDA
#include "08_xlstm/gpu/xlstm_gpu.h"
#endif
#include "common/cli.h"
#include "common/plot.h"
#include "common/rng.h"
#include "common/util.h"

static const char *g_out = "out";

void openblas_set_num_threads(int n);   /* OpenBLAS's own (cblas.h of the pthread build) */

/* CPU time of this process (all threads): the LM comparison's clock. On a machine shared
 * with other jobs, wall-clock time would measure the other jobs too. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* =====================================================================================
 * One interface over the three model families: xLSTM (this stage), Mamba (stage 05),
 * Mamba-2 (stage 07). Each keeps its own forward, backward and AdamW step. */

enum { NET_XLSTM, NET_MAMBA, NET_MAMBA2 };
typedef struct {
    char name[48];
    int kind;
    xlstm_model x;
    xlstm_opt xo;
    mamba_model mb;
    mamba_opt mo;
    mamba2_model m2;
    mamba2_opt m2o;
} net;

static void net_xlstm(net *n, const char *name, int vocab, int d, int layers, int a, int b,
                      uint64_t seed)
{
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->kind = NET_XLSTM;
    xlstm_config c = {.vocab = vocab, .d_model = d, .n_layer = layers, .ratio_m = a, .ratio_s = b};
    xlstm_init(&n->x, &c, seed);
    xlstm_opt_init(&n->xo, &n->x);
}

static void net_mamba(net *n, const char *name, int vocab, int d, int layers, uint64_t seed)
{
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->kind = NET_MAMBA;
    mamba_config c = {.vocab = vocab, .d_model = d, .n_layer = layers, .d_state = 16};
    mamba_init(&n->mb, &c, seed);
    mamba_opt_init(&n->mo, &n->mb);
}

static void net_mamba2(net *n, const char *name, int vocab, int d, int layers, uint64_t seed)
{
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->kind = NET_MAMBA2;
    mamba2_config c = {.vocab = vocab, .d_model = d, .n_layer = layers, .d_state = 16, .head_dim = 16};
    mamba2_init(&n->m2, &c, seed);
    mamba2_opt_init(&n->m2o, &n->m2);
}

static size_t net_params(const net *n)
{
    return n->kind == NET_XLSTM ? n->x.n_params : n->kind == NET_MAMBA ? n->mb.n_params : n->m2.n_params;
}

static double net_forward(net *n, const int *tok, const int *tgt, int B, int L)
{
    if (n->kind == NET_XLSTM) return xlstm_forward(&n->x, tok, tgt, B, L);
    if (n->kind == NET_MAMBA) return mamba_forward(&n->mb, tok, tgt, B, L, NULL);
    return mamba2_forward(&n->m2, tok, tgt, B, L, NULL);
}

static const real *net_logits(const net *n)
{
    return n->kind == NET_XLSTM ? xlstm_logits(&n->x) : n->kind == NET_MAMBA ? mamba_logits(&n->mb)
                                                                              : mamba2_logits(&n->m2);
}

static int net_vocab(const net *n)
{
    return n->kind == NET_XLSTM ? n->x.cfg.vocab : n->kind == NET_MAMBA ? n->mb.cfg.vocab : n->m2.cfg.vocab;
}

/* zero grads → forward → backward → clip + AdamW; returns the loss */
static double net_train_step(net *n, const int *tok, const int *tgt, int B, int L,
                             const xlstm_train_cfg *tc)
{
    double l;
    if (n->kind == NET_XLSTM) {
        memset(n->x.grads, 0, n->x.n_params * sizeof(real));
        l = xlstm_forward(&n->x, tok, tgt, B, L);
        xlstm_backward(&n->x, tok, tgt);
        xlstm_opt_step(&n->x, &n->xo, tc);
    } else if (n->kind == NET_MAMBA) {
        mamba_train_cfg mc = {tc->lr, tc->lr_min, tc->weight_decay, tc->beta1, tc->beta2, tc->clip, tc->warmup, tc->steps};
        memset(n->mb.grads, 0, n->mb.n_params * sizeof(real));
        l = mamba_forward(&n->mb, tok, tgt, B, L, NULL);
        mamba_backward(&n->mb, tok, tgt);
        mamba_opt_step(&n->mb, &n->mo, &mc);
    } else {
        mamba2_train_cfg mc = {tc->lr, tc->lr_min, tc->weight_decay, tc->beta1, tc->beta2, tc->clip, tc->warmup, tc->steps};
        memset(n->m2.grads, 0, n->m2.n_params * sizeof(real));
        l = mamba2_forward(&n->m2, tok, tgt, B, L, NULL);
        mamba2_backward(&n->m2, tok, tgt);
        mamba2_opt_step(&n->m2, &n->m2o, &mc);
    }
    if (!isfinite(l)) die(1, "%s: training diverged (loss %g)", n->name, l);
    return l;
}

static void net_free(net *n)
{
    if (n->kind == NET_XLSTM) { xlstm_free(&n->x); xlstm_opt_free(&n->xo); }
    else if (n->kind == NET_MAMBA) { mamba_free(&n->mb); mamba_opt_free(&n->mo); }
    else { mamba2_free(&n->m2); mamba2_opt_free(&n->m2o); }
}

/* A batch source: tokens and targets (B, L) for a step (a function of (seed, step)). */
typedef void (*batch_fn)(const void *ctx, long step, int B, int L, int *tok, int *tgt);

/* Accuracy of the argmax over the scored targets of n_batches held-out batches. */
static double net_accuracy(net *n, batch_fn f, const void *ctx, int B, int L, int n_batches,
                           int from_t)
{
    int *tok = xmalloc((size_t)B * L * sizeof(int)), *tgt = xmalloc((size_t)B * L * sizeof(int));
    long hits = 0, scored = 0;
    for (int k = 0; k < n_batches; k++) {
        f(ctx, 1000000000L + k, B, L, tok, tgt);   /* steps never trained on */
        for (int b = 0; b < B; b++)
            for (int t = 0; t < from_t && t < L; t++) tgt[(size_t)b * L + t] = -1;
        net_forward(n, tok, NULL, B, L);
        mqar_score(tgt, (size_t)B * L, net_logits(n), net_vocab(n), &hits, &scored);
    }
    free(tok);
    free(tgt);
    return scored ? (double)hits / scored : 0;
}

/* Train for `steps` steps (or until max_seconds of training time); loss[s] per step.
 * Returns the steps done; *seconds gets the training time. */
static int net_train(net *n, batch_fn f, const void *ctx, int B, int L, const xlstm_train_cfg *tc,
                     double max_seconds, real *loss, double *seconds)
{
    int *tok = xmalloc((size_t)B * L * sizeof(int)), *tgt = xmalloc((size_t)B * L * sizeof(int));
    progress_t pr;
    progress_start(&pr, n->name, tc->steps);
    double t0 = now_seconds();
    int s = 0;
    char extra[48];
    for (; s < tc->steps; s++) {
        f(ctx, s, B, L, tok, tgt);
        loss[s] = (real)net_train_step(n, tok, tgt, B, L, tc);
        snprintf(extra, sizeof extra, "loss %.4f", (double)loss[s]);
        progress_update(&pr, s + 1, extra);
        if (max_seconds > 0 && now_seconds() - t0 > max_seconds) { s++; break; }
    }
    progress_end(&pr);
    *seconds = now_seconds() - t0;
    free(tok);
    free(tgt);
    return s;
}

/* =====================================================================================
 * §8.1 From LSTM to sLSTM: the stabilizer */

static void section_stabilizer(void)
{
    printf("\n§8.1 sLSTM with exponential gates (8.3)-(8.4) and the stabilizer (8.5)-(8.6), %s\n", REAL_NAME);
    /* One unit, R = 0, exponential forget gate. Pre-activations of magnitude s: ĩ = +s on
     * even steps and −s on odd ones, f̃ = +s (the state is kept and multiplied by e^{s}). */
    const int L = 40;
    const double scales[] = {1, 10, 20, 40, 80};
    const int ns = sizeof scales / sizeof *scales;
    slstm_cfg c = {.d = 1, .n_heads = 1, .exp_forget = 1};
    double *t_col = xmalloc_f64(L), *lnu = xmalloc_f64(L), *lns = xmalloc_f64(L), *mcol = xmalloc_f64(L);
    printf("  %-6s %-28s %-28s %s\n", "|pre|", "first non-finite h, (8.4)", "first non-finite h, (8.6)",
           "max |h(8.4) - h(8.6)| where both finite");
    for (int k = 0; k < ns; k++) {
        const double s = scales[k];
        real cu = 0, nu = 0, cs = 0, nsb = 0, ms = -INFINITY, hu, hs, pre[4];
        int bad_u = -1, bad_s = -1;
        double maxd = 0;
        for (int t = 0; t < L; t++) {
            pre[0] = (real)(t % 2 ? -s : s);
            pre[1] = (real)s;
            pre[2] = (real)(t % 3 ? 0.5 : -0.7);   /* z̃ varies: h is a weighted mean of tanh(z̃) */
            pre[3] = 1;
            slstm_step_unstabilized(&c, pre, &cu, &nu, &hu);
            slstm_step(&c, pre, &cs, &nsb, &ms, &hs);
            if (!isfinite(hu) && bad_u < 0) bad_u = t;
            if (!isfinite(hs) && bad_s < 0) bad_s = t;
            if (isfinite(hu) && isfinite(hs)) maxd = fmax(maxd, fabs((double)hu - hs));
            if (k == ns - 1) {   /* the plot: log n of both forms at |pre| = 80 */
                t_col[t] = t + 1;
                lnu[t] = isfinite(nu) ? log((double)nu) : NAN;
                lns[t] = (double)ms + log((double)nsb);   /* log n = m + log n̄ */
                mcol[t] = ms;
            }
        }
        char bu[32], bs[32];
        snprintf(bu, sizeof bu, bad_u < 0 ? "none in %d steps" : "step %d", bad_u < 0 ? L : bad_u + 1);
        snprintf(bs, sizeof bs, bad_s < 0 ? "none in %d steps" : "step %d", bad_s < 0 ? L : bad_s + 1);
        printf("  %-6g %-28s %-28s %.2e\n", s, bu, bs, maxd);
        if (s == 80) {
            summary_add(g_out, "sLSTM |pre|=80: unstabilized first non-finite step", "%d", bad_u + 1);
            summary_add(g_out, "sLSTM |pre|=80: stabilized non-finite steps", "%s", bad_s < 0 ? "none" : "SOME");
        }
    }
    char path[512];
    path_join(path, sizeof path, g_out, "stabilizer.dat");
    const double *cols[] = {t_col, lnu, lns, mcol};
    dat_write(path, "t log_n_unstabilized log_n_stabilized m", (size_t)L, 4, cols);
    plot_run(STAGE_DIR, "stabilizer", g_out);
    printf("  log n_t grows by ~80 per step; %s overflows at log(max) = %.1f, the stabilized\n"
           "  form carries it in m_t and keeps n̄ in (0, 1]: plot out/stabilizer.png\n",
           REAL_NAME, log((double)(sizeof(real) == 4 ? 3.4028234663852886e38 : 1.7976931348623157e308)));
    free(t_col); free(lnu); free(lns); free(mcol);
}

/* =====================================================================================
 * §8.2 mLSTM: three forms of one function */

static real *rand_real(rng_t *r, size_t n, double mean, double sd)
{
    real *x = xmalloc(n * sizeof(real));
    for (size_t i = 0; i < n; i++) x[i] = (real)(mean + sd * rng_normal(r));
    return x;
}

static double rel_diff_real(const real *a, const real *b, size_t n)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return m / s;
}

static void section_forms(int full)
{
    printf("\n§8.2 mLSTM (8.7): recurrent (8.8), parallel (8.9), chunkwise (8.10)-(8.11), %s, d = 64\n", REAL_NAME);
    printf("  %-6s %-10s %-12s %-12s %-14s %-22s %s\n", "L", "chunk", "t_rec (ms)", "t_par (ms)", "t_chunk (ms)",
           "max|par-rec|/max|h|", "max|chunk-rec|/max|h|");
    const int d = 64, chunk = 64;
    const int Ls_demo[] = {64, 256, 1024, 2048}, Ls_full[] = {64, 256, 1024, 2048, 4096, 8192};
    const int *Ls = full ? Ls_full : Ls_demo;
    const int nL = full ? 6 : 4;
    double *cL = xmalloc_f64(nL), *cr = xmalloc_f64(nL), *cp = xmalloc_f64(nL), *cc = xmalloc_f64(nL);
    double worst = 0;
    for (int i = 0; i < nL; i++) {
        const int L = Ls[i];
        rng_t r;
        rng_seed(&r, 800 + L);
        real *q = rand_real(&r, (size_t)L * d, 0, 1), *k = rand_real(&r, (size_t)L * d, 0, 1 / sqrt(d));
        real *v = rand_real(&r, (size_t)L * d, 0, 1), *ig = rand_real(&r, L, 0, 1), *fg = rand_real(&r, L, 3, 1);
        mlstm_args a = {.L = L, .d_qk = d, .d_v = d, .ld = d, .ldg = 1, .q = q, .k = k, .v = v, .ig = ig, .fg = fg};
        real *h[3];
        double tm[3];
        for (int f = 0; f < 3; f++) {
            h[f] = xmalloc((size_t)L * d * sizeof(real));
            double t0 = now_seconds();
            if (f == 0) mlstm_recurrent(&a, h[f]);
            else if (f == 1) mlstm_parallel(&a, h[f]);
            else mlstm_chunkwise(&a, chunk, h[f]);
            tm[f] = 1e3 * (now_seconds() - t0);
        }
        double ep = rel_diff_real(h[1], h[0], (size_t)L * d), ec = rel_diff_real(h[2], h[0], (size_t)L * d);
        worst = fmax(worst, fmax(ep, ec));
        printf("  %-6d %-10d %-12.2f %-12.2f %-14.2f %-22.2e %.2e\n", L, chunk, tm[0], tm[1], tm[2], ep, ec);
        cL[i] = L; cr[i] = tm[0]; cp[i] = tm[1]; cc[i] = tm[2];
        for (int f = 0; f < 3; f++) free(h[f]);
        free(q); free(k); free(v); free(ig); free(fg);
    }
    summary_add(g_out, "mLSTM forms, worst relative difference (" REAL_NAME ")", "%.1e", worst);
    printf("  (float64, make test: the three forms agree to <= 1e-13 for L up to 1000, chunk 1..L)\n");
    char path[512];
    path_join(path, sizeof path, g_out, "forms_time.dat");
    const double *cols[] = {cL, cr, cp, cc};
    dat_write(path, "L recurrent parallel chunkwise64", (size_t)nL, 4, cols);
    plot_run(STAGE_DIR, "forms_time", g_out);
    free(cL); free(cr); free(cp); free(cc);
}

/* =====================================================================================
 * §8.4 Parity */

static void parity_src(const void *ctx, long step, int B, int L, int *tok, int *tgt)
{
    parity_batch(*(const uint64_t *)ctx, step, B, L, tok, tgt);
}

static void section_parity(int steps)
{
    const int L = 32, B = 16, d = 32;
    printf("\n§8.4 Parity (running parity of a bit string), trained at L = %d for %d steps, d_model %d, 2 blocks\n",
           L, steps, d);
    const uint64_t seed = 11;
    net n[4];
    net_xlstm(&n[0], "xLSTM[0:1] (sLSTM)", PARITY_VOCAB, d, 2, 0, 1, 1);
    net_xlstm(&n[1], "xLSTM[1:0] (mLSTM)", PARITY_VOCAB, d, 2, 1, 0, 1);
    net_mamba(&n[2], "Mamba (stage 05)", PARITY_VOCAB, d, 2, 1);
    net_mamba2(&n[3], "Mamba-2 (stage 07)", PARITY_VOCAB, d, 2, 1);
    xlstm_train_cfg tc = {.lr = 3e-3, .lr_min = 3e-4, .weight_decay = 0.0, .beta1 = 0.9, .beta2 = 0.95,
                          .clip = 1.0, .warmup = 50, .steps = steps};
    real *loss = xmalloc((size_t)4 * steps * sizeof(real));
    double *cs = xmalloc_f64(steps), *cl[4];
    printf("  %-22s %-8s %-8s %-14s %-18s %-18s %s\n", "model", "params", "steps", "train s",
           "acc t<=32", "acc 32<t<=128", "acc 128<t<=256");
    for (int k = 0; k < 4; k++) {
        double secs;
        int done = net_train(&n[k], parity_src, &seed, B, L, &tc, 0, loss + (size_t)k * steps, &secs);
        double a1 = net_accuracy(&n[k], parity_src, &seed, B, L, 8, 0);
        double a2 = net_accuracy(&n[k], parity_src, &seed, 4, 128, 4, L);
        double a3 = net_accuracy(&n[k], parity_src, &seed, 2, 256, 4, 128);
        printf("  %-22s %-8zu %-8d %-14.1f %-18.3f %-18.3f %.3f\n", n[k].name, net_params(&n[k]), done, secs,
               a1, a2, a3);
        char key[96];
        snprintf(key, sizeof key, "parity %.40s: accuracy at L=32 / extrapolated 32<t<=128", n[k].name);
        summary_add(g_out, key, "%.3f / %.3f", a1, a2);
        cl[k] = xmalloc_f64(steps);
        for (int s = 0; s < steps; s++) cl[k][s] = s < done ? loss[(size_t)k * steps + s] : NAN;
        net_free(&n[k]);
    }
    printf("  chance is 0.5. Parity needs the state to flip sign: sLSTM's R h_{t-1} can; a\n"
           "  diagonal recurrence with decays in (0, 1) (mLSTM's f, Mamba's exp(dt A)) cannot.\n");
    for (int s = 0; s < steps; s++) cs[s] = s + 1;
    char path[512];
    path_join(path, sizeof path, g_out, "loss_parity.dat");
    const double *cols[] = {cs, cl[0], cl[1], cl[2], cl[3]};
    dat_write(path, "step slstm mlstm mamba mamba2", (size_t)steps, 5, cols);
    plot_run(STAGE_DIR, "loss_parity", g_out);
    for (int k = 0; k < 4; k++) free(cl[k]);
    free(cs);
    free(loss);
}

/* =====================================================================================
 * §8.5 MQAR (07_ssd_mamba2/mqar.h) */

typedef struct { mqar_cfg c; uint64_t seed; } mqar_ctx;
static void mqar_src(const void *ctx, long step, int B, int L, int *tok, int *tgt)
{
    const mqar_ctx *m = ctx;
    (void)L;
    mqar_batch(&m->c, m->seed, step, B, tok, tgt);
}

static void section_mqar(int steps)
{
    mqar_ctx mc = {.c = {.vocab = 64, .n_pairs = 8, .n_queries = 8, .L = 64}, .seed = 12};
    mqar_check(&mc.c);
    const int B = 16, d = 32;
    printf("\n§8.5 MQAR (stage 07's task): V = %d, K = %d pairs, L = %d; %d steps, d_model %d, 2 blocks\n",
           mc.c.vocab, mc.c.n_pairs, mc.c.L, steps, d);
    net n[3];
    net_xlstm(&n[0], "xLSTM[1:0] (mLSTM)", mc.c.vocab, d, 2, 1, 0, 2);
    net_xlstm(&n[1], "xLSTM[0:1] (sLSTM)", mc.c.vocab, d, 2, 0, 1, 2);
    net_mamba(&n[2], "Mamba (stage 05)", mc.c.vocab, d, 2, 2);
    xlstm_train_cfg tc = {.lr = 3e-3, .lr_min = 3e-4, .weight_decay = 0.0, .beta1 = 0.9, .beta2 = 0.95,
                          .clip = 1.0, .warmup = 50, .steps = steps};
    real *loss = xmalloc((size_t)steps * sizeof(real));
    printf("  %-22s %-8s %-8s %-10s %s\n", "model", "params", "steps", "train s", "query accuracy (chance 1/32)");
    for (int k = 0; k < 3; k++) {
        double secs;
        int done = net_train(&n[k], mqar_src, &mc, B, mc.c.L, &tc, 0, loss, &secs);
        double acc = net_accuracy(&n[k], mqar_src, &mc, B, mc.c.L, 8, 0);
        printf("  %-22s %-8zu %-8d %-10.1f %.3f\n", n[k].name, net_params(&n[k]), done, secs, acc);
        char key[96];
        snprintf(key, sizeof key, "MQAR K=8 %.40s: query accuracy", n[k].name);
        summary_add(g_out, key, "%.3f", acc);
        net_free(&n[k]);
    }
    free(loss);
}

/* =====================================================================================
 * §8.6 Language modelling at equal parameter count */

typedef struct { const corpus *c; int val; } lm_ctx;
static void lm_src(const void *ctx, long step, int B, int L, int *tok, int *tgt)
{
    const lm_ctx *m = ctx;
    corpus_batch(m->c, m->val, 13, step, B, L, tok, tgt);
}

static double lm_val_loss(net *n, const corpus *c, int B, int L, int nb)
{
    int *tok = xmalloc((size_t)B * L * sizeof(int)), *tgt = xmalloc((size_t)B * L * sizeof(int));
    double s = 0;
    for (int k = 0; k < nb; k++) {
        corpus_batch(c, 1, 13, k, B, L, tok, tgt);
        s += net_forward(n, tok, tgt, B, L);
    }
    free(tok);
    free(tgt);
    return s / nb;
}

/* The d_model whose model has the parameter count closest to `target`. */
static int match_params(int kind, int layers, size_t target)
{
    int best = 8;
    double bestd = INFINITY;
    for (int d = 8; d <= 256; d += 8) {
        net n;
        if (kind == NET_MAMBA) net_mamba(&n, "probe", CORPUS_VOCAB, d, layers, 1);
        else net_mamba2(&n, "probe", CORPUS_VOCAB, d, layers, 1);
        double diff = fabs((double)net_params(&n) - (double)target);
        net_free(&n);
        if (diff < bestd) { bestd = diff; best = d; }
    }
    return best;
}

static void section_lm(double budget, corpus *cp)
{
    corpus c = *cp;
    const int B = 8, L = 64, layers = 8, d = 32, eval_every = budget > 60 ? 50 : 10;
    printf("\n§8.6 Byte-level language modelling: %zu bytes (%s),\n"
           "  %d layers, B = %d, L = %d, each model trained for %.0f CPU-seconds on one thread\n",
           c.n, c.source, layers, B, L, budget);
    net n[4];
    net_xlstm(&n[0], "xLSTM[1:0]", CORPUS_VOCAB, d, layers, 1, 0, 3);
    net_xlstm(&n[1], "xLSTM[7:1]", CORPUS_VOCAB, d, layers, 7, 1, 3);
    const size_t target = net_params(&n[0]);
    net_mamba(&n[2], "Mamba (stage 05)", CORPUS_VOCAB, match_params(NET_MAMBA, layers, target), layers, 3);
    net_mamba2(&n[3], "Mamba-2 (stage 07)", CORPUS_VOCAB, match_params(NET_MAMBA2, layers, target), layers, 3);
    const int max_evals = 4096;
    xlstm_train_cfg tc = {.lr = 2e-3, .lr_min = 2e-4, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95,
                          .clip = 1.0, .warmup = 30, .steps = 1000000};
    double *ts[4], *vs[4];
    size_t ne[4];
    lm_ctx tr = {&c, 0};
    int *tok = xmalloc((size_t)B * L * sizeof(int)), *tgt = xmalloc((size_t)B * L * sizeof(int));
    printf("  %-20s %-8s %-8s %-8s %-12s %-14s %s\n", "model", "d_model", "params", "steps", "tok/CPU-s",
           "val loss", "val bits/byte");
    for (int k = 0; k < 4; k++) {
        ts[k] = xmalloc_f64(max_evals);
        vs[k] = xmalloc_f64(max_evals);
        ne[k] = 0;
        /* a cosine schedule needs a length: estimate it from the first 5 steps' speed */
        double t_train = 0, t0 = cpu_seconds();
        for (int s = 0; s < 5; s++) {
            lm_src(&tr, s, B, L, tok, tgt);
            net_train_step(&n[k], tok, tgt, B, L, &tc);
        }
        double per = (cpu_seconds() - t0) / 5;
        tc.steps = (int)(budget / per) + 5;
        /* restart from scratch with that schedule */
        char name[48];
        snprintf(name, sizeof name, "%.40s", n[k].name);
        int dm = n[k].kind == NET_XLSTM ? n[k].x.cfg.d_model : n[k].kind == NET_MAMBA ? n[k].mb.cfg.d_model : n[k].m2.cfg.d_model;
        int kind = n[k].kind, ra = n[k].kind == NET_XLSTM ? n[k].x.cfg.ratio_m : 0;
        int rb = n[k].kind == NET_XLSTM ? n[k].x.cfg.ratio_s : 0;
        net_free(&n[k]);
        if (kind == NET_XLSTM) net_xlstm(&n[k], name, CORPUS_VOCAB, dm, layers, ra, rb, 3);
        else if (kind == NET_MAMBA) net_mamba(&n[k], name, CORPUS_VOCAB, dm, layers, 3);
        else net_mamba2(&n[k], name, CORPUS_VOCAB, dm, layers, 3);
        t_train = 0;
        int s = 0;
        progress_t pr;
        progress_start(&pr, name, tc.steps);
        for (; s < tc.steps && t_train < budget; s++) {
            if (s % eval_every == 0 && ne[k] < (size_t)max_evals) {
                ts[k][ne[k]] = t_train;
                vs[k][ne[k]++] = lm_val_loss(&n[k], &c, B, L, 4);
            }
            double a = cpu_seconds();
            lm_src(&tr, s, B, L, tok, tgt);
            net_train_step(&n[k], tok, tgt, B, L, &tc);
            t_train += cpu_seconds() - a;
            progress_update(&pr, s + 1, NULL);
        }
        progress_end(&pr);
        double vl = lm_val_loss(&n[k], &c, B, L, 16);
        if (ne[k] < (size_t)max_evals) { ts[k][ne[k]] = t_train; vs[k][ne[k]++] = vl; }
        printf("  %-20s %-8d %-8zu %-8d %-12.0f %-14.4f %.3f\n", name, dm, net_params(&n[k]), s,
               (double)s * B * L / t_train, vl, vl / log(2.0));
        char key[96];
        snprintf(key, sizeof key, "LM %s: val loss after %.0f CPU-s (nats/byte)", name, budget);
        summary_add(g_out, key, "%.4f", vl);
        net_free(&n[k]);
    }
    const double *const bl[4][2] = {{ts[0], vs[0]}, {ts[1], vs[1]}, {ts[2], vs[2]}, {ts[3], vs[3]}};
    const double *const *blocks[4] = {bl[0], bl[1], bl[2], bl[3]};
    char path[512];
    path_join(path, sizeof path, g_out, "lm_val.dat");
    dat_write_blocks(path, "seconds val_loss", 4, ne, 2, blocks);
    plot_run(STAGE_DIR, "lm_val", g_out);
    for (int k = 0; k < 4; k++) { free(ts[k]); free(vs[k]); }
    free(tok);
    free(tgt);
}

/* =====================================================================================
 * §8.3 the models (parameter counts), printed before the experiments use them */

static void section_models(void)
{
    printf("\n§8.3 Blocks: mLSTM (pre up-projection x%d, conv %d, learnable skip), sLSTM (post up-projection\n"
           "  gated MLP x4/3); xLSTM[a:b] places round(n*b/(a+b)) sLSTM blocks evenly, the last block one.\n",
           2, 4);
    const struct { int a, b; } rs[] = {{1, 0}, {7, 1}, {1, 1}, {0, 1}};
    for (size_t k = 0; k < 4; k++) {
        xlstm_model m;
        xlstm_config c = {.vocab = CORPUS_VOCAB, .d_model = 32, .n_layer = 8, .ratio_m = rs[k].a, .ratio_s = rs[k].b};
        xlstm_init(&m, &c, 1);
        char pat[16];
        for (int l = 0; l < 8; l++) pat[l] = m.cfg.is_slstm[l] ? 's' : 'm';
        pat[8] = 0;
        printf("  xLSTM[%d:%d], 8 blocks d=32: %-10s %zu parameters\n", rs[k].a, rs[k].b, pat, m.n_params);
        xlstm_free(&m);
    }
}

/* =====================================================================================
 * --bench-gpu: the GPU kernels' time (median of 3, kernels only, CUDA events) → CSV, with
 * stage 06's Mamba-1 scan (v6 forward and backward) at equal (batch, channels = heads × head
 * dim, L) in the same run. reference/bench_torch.py adds PyTorch and the official SSD.
 * --gpu-oracle DIR: inputs, outputs and gradients of the GPU kernels at shapes no test uses,
 * as .npy, for reference/torch_oracle.py (PyTorch float64 autograd). */

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "common/npy.h"

static double median3(double a, double b, double c)
{
    return fmax(fmin(a, b), fmin(fmax(a, b), c));
}

#define BENCH_CK(x)                                                                                  \
    do {                                                                                             \
        if ((x) != cudaSuccess) die(1, "--bench-gpu: %s failed: %s", #x, cudaGetErrorString(x));   \
    } while (0)
#define SCAN_CK(x)                                                                                   \
    do {                                                                                             \
        int rc_ = (x);                                                                               \
        if (rc_) die(1, "--bench-gpu: %s: %s (%s)", #x, scan_strerror(rc_),                          \
                     cudaGetErrorString(cudaGetLastError()));                                        \
    } while (0)

/* Stage 06's scan, v6 forward and its backward, on device-filled inputs: u, B, C, dout in
 * [−1, 1), Δ in [0.005, 0.1), A in [−2, −0.5) (no z, D, bias); kernel time by CUDA events. */
static void bench_scan(FILE *f, int batch, int D, int L, int N, scan_dtype dt)
{
    const size_t nx = (size_t)batch * D * L, nb = (size_t)batch * N * L, es = scan_dtype_size(dt);
    void *u, *delta, *Bm, *Cm, *out, *dout, *du, *ddelta;
    float *A, *cs, *dA, *dB, *dC, *ws;
    scan_params p = {.batch = batch, .D = D, .L = L, .N = N, .dtype = dt};
    const size_t ncs = (size_t)batch * D * scan_nchunks(L) * N;
    BENCH_CK(cudaMalloc(&u, nx * es)); BENCH_CK(cudaMalloc(&delta, nx * es));
    BENCH_CK(cudaMalloc(&Bm, nb * es)); BENCH_CK(cudaMalloc(&Cm, nb * es));
    BENCH_CK(cudaMalloc(&out, nx * es)); BENCH_CK(cudaMalloc(&dout, nx * es));
    BENCH_CK(cudaMalloc(&du, nx * es)); BENCH_CK(cudaMalloc(&ddelta, nx * es));
    BENCH_CK(cudaMalloc((void **)&A, (size_t)D * N * 4)); BENCH_CK(cudaMalloc((void **)&dA, (size_t)D * N * 4));
    BENCH_CK(cudaMalloc((void **)&dB, nb * 4)); BENCH_CK(cudaMalloc((void **)&dC, nb * 4));
    BENCH_CK(cudaMalloc((void **)&cs, ncs * 4));
    SCAN_CK(scan_fill_uniform(u, dt, nx, 1, -1.f, 1.f));
    SCAN_CK(scan_fill_uniform(delta, dt, nx, 2, 0.005f, 0.1f));
    SCAN_CK(scan_fill_uniform(Bm, dt, nb, 3, -1.f, 1.f));
    SCAN_CK(scan_fill_uniform(Cm, dt, nb, 4, -1.f, 1.f));
    SCAN_CK(scan_fill_uniform(dout, dt, nx, 5, -1.f, 1.f));
    SCAN_CK(scan_fill_uniform(A, SCAN_F32, (size_t)D * N, 6, -2.f, -0.5f));
    p.u = u; p.delta = delta; p.A = A; p.B = Bm; p.C = Cm;
    const size_t wsb = scan_v6_backward_workspace_bytes(&p);
    BENCH_CK(cudaMalloc((void **)&ws, wsb ? wsb : 4));
    scan_grads g = {.du = du, .ddelta = ddelta, .dA = dA, .dB = dB, .dC = dC};
    cudaEvent_t e0, e1;
    BENCH_CK(cudaEventCreate(&e0));
    BENCH_CK(cudaEventCreate(&e1));
    double tf[3], tb[3];
    SCAN_CK(scan_v6_forward(&p, out, NULL, cs));   /* warm-up */
    for (int pass = 0; pass < 2; pass++)
        for (int r = 0; r < 3; r++) {
            BENCH_CK(cudaEventRecord(e0, 0));
            if (pass == 0) SCAN_CK(scan_v6_forward(&p, out, NULL, cs));
            else SCAN_CK(scan_v6_backward(&p, dout, NULL, cs, ws, &g));
            BENCH_CK(cudaEventRecord(e1, 0));
            BENCH_CK(cudaEventSynchronize(e1));
            float ms = 0;
            BENCH_CK(cudaEventElapsedTime(&ms, e0, e1));
            (pass ? tb : tf)[r] = ms;
        }
    const char *dn = scan_dtype_name(dt);
    fprintf(f, "mamba1_scan_v6,%s,fwd,%d,1,%d,%d,%d,0,%.4f\n", dn, batch, L, D, N, median3(tf[0], tf[1], tf[2]));
    fprintf(f, "mamba1_scan_v6,%s,bwd,%d,1,%d,%d,%d,0,%.4f\n", dn, batch, L, D, N, median3(tb[0], tb[1], tb[2]));
    cudaEventDestroy(e0); cudaEventDestroy(e1);
    cudaFree(u); cudaFree(delta); cudaFree(Bm); cudaFree(Cm); cudaFree(out); cudaFree(dout); cudaFree(du);
    cudaFree(ddelta); cudaFree(A); cudaFree(dA); cudaFree(dB); cudaFree(dC); cudaFree(cs); cudaFree(ws);
}

static int bench_gpu(void)
{
    char why[256], gpu[256];
    if (!scan_gpu_available(why, sizeof why)) die(2, "--bench-gpu: no GPU: %s", why);
    scan_gpu_name(gpu, sizeof gpu);
    mkdir_p(g_out);
    char path[512], tmp[600];
    path_join(path, sizeof path, g_out, "bench_gpu.csv");
    FILE *f = atomic_fopen(path, tmp, sizeof tmp);
    fprintf(f, "# %s, kernel time only (CUDA events), median of 3; mLSTM: B x H heads of d; "
               "Mamba-1 scan: batch B, D = H*d channels, state N\n"
               "kernel,dtype,pass,B,H,L,d,N,chunk,ms\n", gpu);
    const int B = 2, H = 8, d = 64;
    const int Ls[] = {1024, 4096, 16384, 65536};
    /* XLSTM_BENCH_L=L: that length only, one run, no sLSTM (a short workload to profile, ncu) */
    const char *only = getenv("XLSTM_BENCH_L");
    const int L_only = only ? atoi(only) : 0;
    if (only && (L_only < 1 || L_only > 1 << 20)) die(2, "XLSTM_BENCH_L: need a length in [1, 2^20], got '%s'", only);
    xgpu_bench_reps(only ? 1 : 3);     /* the chunkwise kernels: median of 3 runs on one upload */
    for (int li = 0; li < (only ? 1 : 4); li++) {
        const int L = only ? L_only : Ls[li];
        const size_t n = (size_t)B * H * L * d, ng = (size_t)B * H * L;
        rng_t r;
        rng_seed(&r, 77);
        float *q = xmalloc_f32(n), *k = xmalloc_f32(n), *v = xmalloc_f32(n), *h = xmalloc_f32(n);
        float *ig = xmalloc_f32(ng), *fg = xmalloc_f32(ng), *dh = xmalloc_f32(n);
        float *g5 = xmalloc_f32(3 * n + 2 * ng);
        rng_fill_normal_f32(&r, q, n, 0, 1);
        rng_fill_normal_f32(&r, k, n, 0, 0.125f);
        rng_fill_normal_f32(&r, v, n, 0, 1);
        rng_fill_normal_f32(&r, dh, n, 0, 1);
        rng_fill_normal_f32(&r, ig, ng, 0, 1);
        rng_fill_normal_f32(&r, fg, ng, 3, 1);
        double t[3];
        if (L <= 4096) {
            for (int k3 = 0; k3 < 3; k3++) t[k3] = xgpu_mlstm_naive(B * H, L, d, q, k, v, ig, fg, h);
            fprintf(f, "mlstm_naive,fp32,fwd,%d,%d,%d,%d,0,0,%.4f\n", B, H, L, d, median3(t[0], t[1], t[2]));
        }
        const int chunks[] = {16, 32, 64, 128};
        for (int ci = 0; ci < 4; ci++) {
            if (L != 16384 && chunks[ci] != 64) continue;
            fprintf(f, "mlstm_chunkwise,fp32,fwd,%d,%d,%d,%d,0,%d,%.4f\n", B, H, L, d, chunks[ci],
                    xgpu_mlstm_chunkwise(B * H, L, d, chunks[ci], q, k, v, ig, fg, h));
            if (chunks[ci] == 128) continue;
            fprintf(f, "mlstm_chunkwise_tc,bf16,fwd,%d,%d,%d,%d,0,%d,%.4f\n", B, H, L, d, chunks[ci],
                    xgpu_mlstm_chunkwise_bf16(B * H, L, d, chunks[ci], q, k, v, ig, fg, h));
        }
        /* the backwards (kernel time of the backward alone; its forward, which keeps m, den and
         * the states, is timed apart): fp32 and tensor cores at chunk 64, every chunk at 16 384 */
        for (int ci = 0; ci < 4; ci++) {
            if (L != 16384 && chunks[ci] != 64) continue;
            for (int tc = 0; tc <= 1; tc++) {
                if (tc && chunks[ci] == 128) continue;
                const double ms = (tc ? xgpu_mlstm_chunkwise_bf16_backward : xgpu_mlstm_chunkwise_backward)(
                    B * H, L, d, chunks[ci], q, k, v, ig, fg, dh, NULL, g5, g5 + n, g5 + 2 * n, g5 + 3 * n,
                    g5 + 3 * n + ng, NULL);
                fprintf(f, "%s,%s,bwd,%d,%d,%d,%d,0,%d,%.4f\n", tc ? "mlstm_chunkwise_tc" : "mlstm_chunkwise",
                        tc ? "bf16" : "fp32", B, H, L, d, chunks[ci], ms);
            }
        }
        free(q); free(k); free(v); free(h); free(ig); free(fg); free(dh); free(g5);
        bench_scan(f, B, H * d, L, 16, SCAN_F32);
        bench_scan(f, B, H * d, L, 16, SCAN_BF16);
        fflush(f);
        printf("bench-gpu: mLSTM and Mamba-1 scan at L = %d done\n", L);
    }
    for (int L = 1024; L <= 4096 && !only; L *= 4) {   /* sLSTM: batch 16, 4 heads of 64 */
        const int Bs = 16, NH = 4, dh = 64;
        const size_t nw = (size_t)Bs * L * 4 * NH * dh, nh = (size_t)Bs * L * NH * dh;
        rng_t r;
        rng_seed(&r, 78);
        float *wx = xmalloc_f32(nw), *R = xmalloc_f32((size_t)4 * NH * dh * dh), *dy = xmalloc_f32(nh);
        float *h = xmalloc_f32(nh), *gw = xmalloc_f32(nw), *gR = xmalloc_f32((size_t)4 * NH * dh * dh);
        rng_fill_normal_f32(&r, wx, nw, 0, 1);
        rng_fill_normal_f32(&r, R, (size_t)4 * NH * dh * dh, 0, 0.125f);
        rng_fill_normal_f32(&r, dy, nh, 0, 1);
        double t[3], tf[3];
        for (int k3 = 0; k3 < 3; k3++) t[k3] = xgpu_slstm_fused(Bs, L, NH, dh, 0, wx, R, h);
        fprintf(f, "slstm_fused,fp32,fwd,%d,%d,%d,%d,0,0,%.4f\n", Bs, NH, L, dh, median3(t[0], t[1], t[2]));
        for (int k3 = 0; k3 < 3; k3++) t[k3] = xgpu_slstm_backward(Bs, L, NH, dh, 0, wx, R, dy, NULL, gw, gR, &tf[k3]);
        fprintf(f, "slstm_fused,fp32,bwd,%d,%d,%d,%d,0,0,%.4f\n", Bs, NH, L, dh, median3(t[0], t[1], t[2]));
        free(wx); free(R); free(dy); free(h); free(gw); free(gR);
    }
    atomic_fclose(f, tmp, path);
    printf("bench-gpu: %s written (%s)\n", path, gpu);
    return 0;
}

static void save_f32(const char *dir, const char *name, const float *x, int ndim, const size_t *shape)
{
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    if (npy_write(path, NPY_F32, ndim, shape, x, err, sizeof err)) die(1, "--gpu-oracle: %s", err);
}

/* shapes no test uses; gates spread so that the stabilizer works */
static int gpu_oracle(const char *dir)
{
    char why[256];
    if (!scan_gpu_available(why, sizeof why)) die(2, "--gpu-oracle: no GPU: %s", why);
    mkdir_p(dir);
    rng_t r;
    rng_seed(&r, 4242);
    {   /* mLSTM: chunkwise fp32 forward + backward, and the bf16 tensor-core forward + backward */
        const int BH = 3, L = 333, d = 48, chunk = 32;
        const size_t n = (size_t)BH * L * d, ng = (size_t)BH * L, sh[3] = {BH, L, d}, sg[2] = {BH, L};
        float *q = xmalloc_f32(n), *k = xmalloc_f32(n), *v = xmalloc_f32(n), *dh = xmalloc_f32(n);
        float *ig = xmalloc_f32(ng), *fg = xmalloc_f32(ng), *h = xmalloc_f32(n), *g5 = xmalloc_f32(3 * n + 2 * ng);
        rng_fill_normal_f32(&r, q, n, 0, 1);
        rng_fill_normal_f32(&r, k, n, 0, (float)(1 / sqrt(d)));
        rng_fill_normal_f32(&r, v, n, 0, 1);
        rng_fill_normal_f32(&r, dh, n, 0, 1);
        rng_fill_normal_f32(&r, ig, ng, 0, 4);
        rng_fill_normal_f32(&r, fg, ng, 2, 2);
        xgpu_mlstm_chunkwise_backward(BH, L, d, chunk, q, k, v, ig, fg, dh, h, g5, g5 + n, g5 + 2 * n, g5 + 3 * n,
                                      g5 + 3 * n + ng, NULL);
        save_f32(dir, "mlstm_q", q, 3, sh); save_f32(dir, "mlstm_k", k, 3, sh); save_f32(dir, "mlstm_v", v, 3, sh);
        save_f32(dir, "mlstm_ig", ig, 2, sg); save_f32(dir, "mlstm_fg", fg, 2, sg); save_f32(dir, "mlstm_dh", dh, 3, sh);
        save_f32(dir, "mlstm_h", h, 3, sh); save_f32(dir, "mlstm_dq", g5, 3, sh); save_f32(dir, "mlstm_dk", g5 + n, 3, sh);
        save_f32(dir, "mlstm_dv", g5 + 2 * n, 3, sh); save_f32(dir, "mlstm_dig", g5 + 3 * n, 2, sg);
        save_f32(dir, "mlstm_dfg", g5 + 3 * n + ng, 2, sg);
        xgpu_round_bf16(q, n);
        xgpu_round_bf16(k, n);
        xgpu_round_bf16(v, n);
        xgpu_mlstm_chunkwise_bf16(BH, L, d, chunk, q, k, v, ig, fg, h);
        save_f32(dir, "bf16_q", q, 3, sh); save_f32(dir, "bf16_k", k, 3, sh); save_f32(dir, "bf16_v", v, 3, sh);
        save_f32(dir, "bf16_h", h, 3, sh);
        xgpu_mlstm_chunkwise_bf16_backward(BH, L, d, chunk, q, k, v, ig, fg, dh, NULL, g5, g5 + n, g5 + 2 * n,
                                           g5 + 3 * n, g5 + 3 * n + ng, NULL);
        save_f32(dir, "bf16_dq", g5, 3, sh); save_f32(dir, "bf16_dk", g5 + n, 3, sh);
        save_f32(dir, "bf16_dv", g5 + 2 * n, 3, sh); save_f32(dir, "bf16_dig", g5 + 3 * n, 2, sg);
        save_f32(dir, "bf16_dfg", g5 + 3 * n + ng, 2, sg);
        free(q); free(k); free(v); free(dh); free(ig); free(fg); free(h); free(g5);
    }
    for (int expf = 0; expf <= 1; expf++) {   /* sLSTM forward + BPTT, both forget gates */
        const int B = 2, L = 123, NH = 3, dh = 24, D = NH * dh;
        const size_t nw = (size_t)B * L * 4 * D, nh = (size_t)B * L * D, nr = (size_t)4 * NH * dh * dh;
        const size_t sw[4] = {B, L, 4, D}, shh[3] = {B, L, D}, sr[4] = {4, NH, dh, dh};
        float *wx = xmalloc_f32(nw), *R = xmalloc_f32(nr), *dy = xmalloc_f32(nh), *h = xmalloc_f32(nh);
        float *gw = xmalloc_f32(nw), *gR = xmalloc_f32(nr);
        rng_fill_normal_f32(&r, wx, nw, 0, 1.5f);
        rng_fill_normal_f32(&r, R, nr, 0, (float)(1 / sqrt(dh)));
        rng_fill_normal_f32(&r, dy, nh, 0, 1);
        xgpu_slstm_backward(B, L, NH, dh, expf, wx, R, dy, h, gw, gR, NULL);
        const char *pf = expf ? "slstm_exp" : "slstm_sig";
        char nm[64];
        snprintf(nm, sizeof nm, "%s_wx", pf); save_f32(dir, nm, wx, 4, sw);
        snprintf(nm, sizeof nm, "%s_R", pf); save_f32(dir, nm, R, 4, sr);
        snprintf(nm, sizeof nm, "%s_dh", pf); save_f32(dir, nm, dy, 3, shh);
        snprintf(nm, sizeof nm, "%s_h", pf); save_f32(dir, nm, h, 3, shh);
        snprintf(nm, sizeof nm, "%s_dwx", pf); save_f32(dir, nm, gw, 4, sw);
        snprintf(nm, sizeof nm, "%s_dR", pf); save_f32(dir, nm, gR, 4, sr);
        free(wx); free(R); free(dy); free(h); free(gw); free(gR);
    }
    printf("gpu-oracle: the GPU's inputs, outputs and gradients written to %s/\n", dir);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    const char *dump = NULL, *check = NULL;
    const char *corpus_paths = "/usr/share/common-licenses/GPL-3:/usr/share/common-licenses/LGPL-2.1:"
                               "/usr/share/common-licenses/Apache-2.0:/usr/share/common-licenses/MPL-2.0:"
                               "/usr/share/common-licenses/GFDL-1.3";
    const char *gpu_oracle_dir = NULL;
    int full = 0, skip_train = 0, parity_steps = 0, mqar_steps = 0, bench = 0;
    double lm_seconds = 0;
    const char *tasks = "parity,mqar,lm";
    cli_opt opts[] = {
        {"out", CLI_STRING, &g_out, "output directory (default out)"},
        {"full", CLI_FLAG, &full, "the longer experiments (minutes to an hour)"},
        {"no-train", CLI_FLAG, &skip_train, "only §8.1-§8.3 (no training)"},
        {"corpus", CLI_STRING, &corpus_paths, "text files for §8.6, separated by ':'"},
        {"tasks", CLI_STRING, &tasks, "which of parity,mqar,lm to run (default all)"},
        {"parity-steps", CLI_INT, &parity_steps, "training steps of §8.4 (default 80, --full 3000)"},
        {"mqar-steps", CLI_INT, &mqar_steps, "training steps of §8.5 (default 60, --full 3000)"},
        {"lm-seconds", CLI_DOUBLE, &lm_seconds, "CPU-seconds per model in §8.6 (default 1.5, --full 120)"},
        {"bench-gpu", CLI_FLAG, &bench, "time the GPU kernels, write OUT/bench_gpu.csv and exit"},
        {"gpu-oracle", CLI_STRING, &gpu_oracle_dir, "write the GPU kernels' inputs/outputs/gradients to DIR (for reference/torch_oracle.py) and exit"},
        {"dump-vectors", CLI_STRING, &dump, "write the golden vectors to DIR and exit"},
        {"check", CLI_STRING, &check, "check the golden vectors in DIR and exit (0 pass, 1 fail, 2 bad input)"},
        {0}};
    cli_parse(argc, argv, "chapter 8: xLSTM (sLSTM, mLSTM) on the CPU", opts);
    if (parity_steps < 0 || parity_steps > 1000000) die(2, "--parity-steps must be in [1, 1e6], got %d", parity_steps);
    if (mqar_steps < 0 || mqar_steps > 1000000) die(2, "--mqar-steps must be in [1, 1e6], got %d", mqar_steps);
    if (lm_seconds < 0 || lm_seconds > 1e6) die(2, "--lm-seconds must be in (0, 1e6], got %g", lm_seconds);
    if (!parity_steps) parity_steps = full ? 3000 : 80;     /* the demo: a smoke test (make experiments) */
    if (!mqar_steps) mqar_steps = full ? 3000 : 60;
    if (lm_seconds == 0) lm_seconds = full ? 120 : 1.5;
    int want[3] = {0, 0, 0};
    {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", tasks);
        for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
            if (!strcmp(t, "parity")) want[0] = 1;
            else if (!strcmp(t, "mqar")) want[1] = 1;
            else if (!strcmp(t, "lm")) want[2] = 1;
            else die(2, "--tasks: unknown task '%s' (expected parity, mqar, lm)", t);
        }
    }
    if (bench) {
#ifdef HAVE_CUDA
        return bench_gpu();
#else
        die(2, "--bench-gpu: this build has no CUDA (%s)", NO_CUDA_REASON);
#endif
    }
    if (gpu_oracle_dir) {
#ifdef HAVE_CUDA
        return gpu_oracle(gpu_oracle_dir);
#else
        die(2, "--gpu-oracle: this build has no CUDA (%s)", NO_CUDA_REASON);
#endif
    }
    if (dump) return xlstm_vectors(dump, 1);
    if (check) return xlstm_vectors(check, 0);
    corpus text;
    if (!skip_train && want[2]) corpus_load(&text, corpus_paths, 0.1, 20000);   /* bad paths exit 2 now, not later */
    mkdir_p(g_out);
    summary_reset(g_out);
    double t0 = now_seconds();
    section_stabilizer();
    section_forms(full);
    section_models();
    if (!skip_train) {
        /* The models of §8.4-§8.6 are small: one thread each. Threads would mostly wait at
         * barriers (and spin for a long time on a machine shared with other jobs), and
         * §8.6's CPU-time clock then measures the work itself. */
        omp_set_num_threads(1);
        openblas_set_num_threads(1);
        if (want[0]) section_parity(parity_steps);
        if (want[1]) section_mqar(mqar_steps);
        if (want[2]) {
            section_lm(lm_seconds, &text);
            corpus_free(&text);
        }
    }
    printf("\nxlstm: done in %.0f s; tables above, plots and summary.tsv in %s/\n", now_seconds() - t0, g_out);
    return 0;
}
