/* 06_hw_aware_cuda/lm/model.c — the GPU language model: memory layout, forward, backward
 * (side by side, layer by layer), AdamW. Host code; the kernels are in the .cu files named in
 * kernels.h, the scan is part 1's. */
#include "06_hw_aware_cuda/lm/model.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/checkpoint.h"
#include "06_hw_aware_cuda/lm/kernels.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "common/nn.h"
#include "common/util.h"

static void scan_ok(int rc, const char *what)
{
    if (rc == SCAN_OK) return;
    fprintf(stderr, "lm: %s: %s (%s)\n", what, scan_strerror(rc),
            rc == SCAN_ECUDA ? cudaGetErrorString(cudaGetLastError()) : "");
    exit(1);
}

/* §6.21 The time split: with profiling on, every op (each launcher in the .cu files, the
 * scan calls here) is bracketed by events and waited for, its time added to its kind (this serialises the GPU, so a profiled step runs slower than a
 * timed one; the split, not the total, is what it is for). */
static int prof_on;
static double prof_ms[LM_NKINDS];
static cudaEvent_t prof_e0, prof_e1;
static const char *const KIND_NAMES[LM_NKINDS] = {"matmul", "scan", "conv1d", "rmsnorm",
                                                  "classifier", "optimizer", "cast", "other"};

void lm_profile(int on)
{
    if (on && !prof_e0) {
        LM_CUDA(cudaEventCreate(&prof_e0));
        LM_CUDA(cudaEventCreate(&prof_e1));
    }
    prof_on = on;
    memset(prof_ms, 0, sizeof prof_ms);
}
void lm_profile_read(double ms[LM_NKINDS]) { memcpy(ms, prof_ms, sizeof prof_ms); }
const char *lm_kind_name(int k) { return k >= 0 && k < LM_NKINDS ? KIND_NAMES[k] : "?"; }

void lm_prof_begin(void)
{
    if (prof_on) LM_CUDA(cudaEventRecord(prof_e0, 0));
}
void lm_prof_end(int kind)
{
    if (!prof_on) return;
    float ms;
    LM_CUDA(cudaEventRecord(prof_e1, 0));
    LM_CUDA(cudaEventSynchronize(prof_e1));
    LM_CUDA(cudaEventElapsedTime(&ms, prof_e0, prof_e1));
    prof_ms[kind] += ms;
}

static void *dmalloc(size_t bytes)
{
    void *p = NULL;
    LM_CUDA(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

/* =====================================================================================
 * §6.12 Parameters: stage 05's table, one flat device buffer */

void lm_build(lm_model *m, const hf_config *cfg, uint64_t seed)
{
    lm_build_variant(m, cfg, seed, MAMBA_S6, 0);
}

void lm_build_variant(lm_model *m, const hf_config *cfg, uint64_t seed, int kind, int no_gate)
{
    memset(m, 0, sizeof *m);
    m->hf = *cfg;
    m->kind = kind;
    m->no_gate = no_gate;
    if (kind == MAMBA_LTI && (cfg->state_size > 32 || (cfg->state_size & (cfg->state_size - 1))))
        die(2, "config: state_size %d: the LTI variant needs a power of two <= 32", cfg->state_size);
    lm_checkpoint_table_variant(cfg, seed, kind, no_gate, &m->host);
    const mamba_config *c = &m->host.cfg;
    m->n_layer = c->n_layer; m->dm = c->d_model; m->D = c->d_inner; m->N = c->d_state;
    m->R = c->dt_rank; m->K = c->d_conv; m->V = c->vocab;
    m->eps = (float)cfg->layer_norm_epsilon;
    m->n_params = m->host.n_params;
    const char *sb = getenv("LM_SCAN_BWD");
    if (sb && *sb && (m->scan_bwd = lm_scan_bwd_find(sb)) < 0)
        die(2, "LM_SCAN_BWD: expected auto, fused, v6 or v7, got \"%s\"", sb);
    m->params = dmalloc(m->n_params * sizeof(float));
    m->grads = dmalloc(m->n_params * sizeof(float));
    m->opt_m = dmalloc(m->n_params * sizeof(float));
    m->opt_v = dmalloc(m->n_params * sizeof(float));
    LM_CUDA(cudaMemset(m->grads, 0, m->n_params * sizeof(float)));
    LM_CUDA(cudaMemset(m->opt_m, 0, m->n_params * sizeof(float)));
    LM_CUDA(cudaMemset(m->opt_v, 0, m->n_params * sizeof(float)));
    m->A = dmalloc((size_t)m->n_layer * m->D * m->N * sizeof(float));
    m->opt_sc = dmalloc(sizeof *m->opt_sc);
    m->partials = dmalloc(((size_t)m->host.n_tensors * LM_NORM_BLOCKS > LM_OPT_NORM_BLOCKS
                               ? (size_t)m->host.n_tensors * LM_NORM_BLOCKS : LM_OPT_NORM_BLOCKS) *
                          sizeof(float));
    /* the same offsets as the host table, now into the device buffers */
#define DEV(base, hp) ((hp) ? (base) + ((hp) - m->host.params) : NULL)
    m->layer = xcalloc((size_t)m->n_layer, sizeof *m->layer);
    m->glayer = xcalloc((size_t)m->n_layer, sizeof *m->glayer);
    for (int l = 0; l < m->n_layer; l++) {
        const struct mamba_layer_params *h = &m->host.layer[l];
        const real *hp[] = {h->norm_w, h->in_proj_w, h->conv_w, h->conv_b, h->x_proj_w,
                            h->dt_proj_w, h->dt_proj_b, h->A_log, h->D, h->out_proj_w,
                            h->B, h->C};
        float **p = (float **)&m->layer[l], **g = (float **)&m->glayer[l];
        for (size_t k = 0; k < sizeof hp / sizeof hp[0]; k++) {
            p[k] = DEV(m->params, hp[k]);
            g[k] = DEV(m->grads, hp[k]);
        }
    }
    m->emb = DEV(m->params, m->host.emb);
    m->gemb = DEV(m->grads, m->host.emb);
    m->norm_f_w = DEV(m->params, m->host.norm_f_w);
    m->gnorm_f_w = DEV(m->grads, m->host.norm_f_w);
#undef DEV
    lm_upload(m);
}

void lm_upload(lm_model *m)
{
    float *f = xmalloc(m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_params; i++) f[i] = (float)m->host.params[i];
    LM_CUDA(cudaMemcpy(m->params, f, m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    m->wbf16_valid = 0;
    free(f);
}

void lm_download(lm_model *m)
{
    float *f = xmalloc(m->n_params * sizeof(float));
    LM_CUDA(cudaMemcpy(f, m->params, m->n_params * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < m->n_params; i++) m->host.params[i] = (real)f[i];
    free(f);
}

void lm_zero_grad(lm_model *m)
{
    LM_CUDA(cudaMemsetAsync(m->grads, 0, m->n_params * sizeof(float), lm_get_stream()));
}

/* =====================================================================================
 * §6.13 Activations: one allocation, carved in the order of model.h */

/* the carving of the last acts_alloc, for lm_memory_report */
#define LM_MAX_PARTS 48
static struct { const char *name; size_t n; } mem_parts[LM_MAX_PARTS];
static size_t mem_nparts;

/* The scan backward (LM_SCAN_BWD_AUTO resolved: v7; v6 and v7 need N a power of two, else
 * the fused one). */
static int scan_bwd_kind(const lm_model *m)
{
    const int pow2 = m->N > 0 && (m->N & (m->N - 1)) == 0;
    if (!pow2 || m->scan_bwd == LM_SCAN_BWD_FUSED) return LM_SCAN_BWD_FUSED;
    return m->scan_bwd == LM_SCAN_BWD_AUTO ? LM_SCAN_BWD_V7 : m->scan_bwd;
}

/* The logits buffer holds `rows` tokens (reallocated when a forward asks for another
 * number); in bf16 training the head's gradient has a bf16 buffer of (at least) as many. */
static void logits_alloc(lm_model *m, int rows, int need_dl)
{
    if (m->logits_rows != rows || (need_dl && m->dl_rows < rows)) {
        if (m->graph) die(1, "lm: the model's training step is a CUDA graph: its logits buffer cannot change");
    }
    if (m->logits_rows != rows) {
        if (m->a.logits) LM_CUDA(cudaFree(m->a.logits));
        m->a.logits = dmalloc((size_t)rows * m->V * sizeof(float));
        m->logits_rows = rows;
    }
    if (need_dl && m->dl_rows < rows) {
        if (m->a.o_dl) LM_CUDA(cudaFree(m->a.o_dl));
        m->a.o_dl = dmalloc((size_t)rows * m->V * 2);
        m->dl_rows = rows;
    }
}

/* The embedding backward's segments: a token with n > LM_EMB_SEG positions has
 * ⌈n/LM_EMB_SEG⌉ < 2n/LM_EMB_SEG of them, so a batch of T tokens has fewer than this many */
static size_t emb_max_segments(size_t T) { return 2 * T / LM_EMB_SEG + 2; }

/* The batch's int arrays, one block on the device and its mirror on the host (stage_batch
 * fills the mirror, one copy moves it): tokens, targets (T each), the embedding backward's
 * order, rows (T each), starts, segs (T + 1 each), seg_lo, seg_hi (emb_max_segments each)
 * and the counts {distinct tokens, segments} */
static size_t batch_ints(size_t T) { return 6 * T + 2 + 2 * emb_max_segments(T) + 2; }

static void acts_alloc(lm_model *m, int batch, int L, int op_bf16)
{
    if (m->batch == batch && m->L == L && m->op_bf16 == op_bf16) return;
    if (m->graph)
        die(1, "lm: the model's training step is a CUDA graph at batch %d x L %d: it cannot run "
            "batch %d x L %d (evaluate a copy)", m->batch, m->L, batch, L);
    m->op_bf16 = op_bf16;
    if (m->act_base) LM_CUDA(cudaFree(m->act_base));
    if (m->scan_ws) LM_CUDA(cudaFree(m->scan_ws));
    m->scan_ws = NULL;
    m->scan_ws_bytes = 0;
    const size_t T = (size_t)batch * L, nl = (size_t)m->n_layer, dm = (size_t)m->dm;
    const size_t DL = (size_t)batch * m->D * L, RL = (size_t)batch * m->R * L,
                 NL = (size_t)batch * m->N * L;
    const size_t nch = (size_t)scan_nchunks(L);
    /* §6.23 what a variant does not have is not allocated: no z without the gate; LTI has no
     * δ_low, B, C per token, no chunk states, but its own kept states and workspace */
    const int lti = m->kind == MAMBA_LTI, gate = !m->no_gate;
    const size_t ZL = gate ? DL : 0, RLs = lti ? 0 : RL, NLs = lti ? 0 : NL;
    const size_t lti_ck = lti ? nl * lm_lti_checkpoint_floats(batch, m->D, L, m->N) : 0;
    const size_t lti_ws = lti ? lm_lti_workspace_floats(batch, m->D, m->N) : 0;
    /* the staged operands in floats' worth of bytes: bf16 halves them */
#define OPN(n) (op_bf16 ? ((n) + 1) / 2 : (n))
    lm_acts *a = &m->a;
    float *o_hn, *o_dx, *o_u, *o_dtl, *o_p, *o_big, *y_op;
    /* kept per layer for the backward; then one layer's worth (recomputed or gradients) */
    struct { float **p; size_t n; const char *name; } parts[] = {
        {&a->x, (nl + 1) * T * dm, "x (n_layer+1, T, d_model)"},
        {&a->rstd, (nl + 1) * T, "rstd (n_layer+1, T)"},
        {&a->xin, nl * DL, "xin (n_layer, batch, D, L)"}, {&a->z, nl * ZL, "z (n_layer, batch, D, L)"},
        {&y_op, OPN(nl * DL), "y (n_layer, D, T), in the operand type"},
        {&a->y, DL, "y (batch, D, L), the scan's output, one layer"}, {&a->dtl, nl * RLs, "dtl (n_layer, batch, R, L)"},
        {&a->Bm, nl * NLs, "B (n_layer, batch, N, L)"}, {&a->Cm, nl * NLs, "C (n_layer, batch, N, L)"},
        {&a->chunk, lti ? 0 : nl * batch * m->D * nch * m->N, "chunk states (n_layer, batch, D, nchunks, N)"},
        {&a->lti_ck, lti_ck, "LTI kept states (n_layer, batch, D, N, L/32)"},
        {&a->lti_ws, lti_ws, "LTI backward sums (batch, D, 3N + 2)"},
        {&a->hn, op_bf16 ? 0 : T * dm, "hn (T, d_model), recomputed (float32 mode)"}, {&a->u, DL, "u (batch, D, L), recomputed"},
        {&a->delta, DL, "delta (batch, D, L), recomputed"},
        {&a->hf, op_bf16 ? 0 : T * dm, "hf (T, d_model) (float32 mode)"}, {&a->losses, T, "losses (T)"},
        {&a->emb_part, emb_max_segments(T) * dm, "embedding backward segment sums"},
        {&a->norm_ws, lm_rmsnorm_workspace_floats((int)T, (int)dm), "RMSNorm dw partial sums"},
        {&a->conv_ws, lm_conv1d_workspace_floats(batch, m->D, L, m->K), "conv1d dw partial sums"},
        {&a->dx, T * dm, "dx (T, d_model)"}, {&a->dhn, T * dm, "dhn (T, d_model)"},
        {&a->dy, DL, "dy"}, {&a->du, DL, "du"}, {&a->ddelta, DL, "ddelta"}, {&a->dz, ZL, "dz"},
{&a->g, DL, "g (conv backward)"},
        {&a->ddtl, RLs, "ddtl"}, {&a->dB, NLs, "dB"}, {&a->dC, NLs, "dC"},
        {&a->dA, (size_t)m->D * m->N, "dA"}, {&a->dDskip, (size_t)m->D, "dD"},
        {&a->ddt_b, (size_t)m->D, "d dt bias"},
        {&o_hn, op_bf16 ? OPN(T * dm) : 0, "operand hn / hf (T, d_model), bf16"},
        {&o_dx, op_bf16 ? OPN(T * dm) : 0, "operand dx (T, d_model), bf16"},
        {&o_u, OPN(DL), "operand u (D, T)"}, {&o_dtl, OPN(RLs), "operand dtl (R, T)"},
        {&o_p, OPN(RLs + 2 * NLs), "operand [ddtl; dB; dC] (R+2N, T)"},
        {&o_big, OPN(2 * DL), "operand ddelta, [dxin; dz] (2D, T)"},
    };
#undef OPN
    const size_t nparts = sizeof parts / sizeof parts[0];
    mem_nparts = 0;
    for (size_t i = 0; i < nparts && i < LM_MAX_PARTS; i++, mem_nparts++) {
        mem_parts[i].name = parts[i].name;
        mem_parts[i].n = parts[i].n * sizeof(float);
    }
    size_t total = 0;
    for (size_t i = 0; i < nparts; i++) total += (parts[i].n + 63) / 64 * 64;  /* 256-byte aligned */
    total += batch_ints(T);                  /* the int arrays (batch_ints): ints and floats are 4 bytes */
    float *base = dmalloc(total * sizeof(float));
    m->act_base = base;
    for (size_t i = 0; i < nparts; i++) {
        *parts[i].p = base;
        base += (parts[i].n + 63) / 64 * 64;
    }
    a->tokens = (int *)base;
    a->targets = a->tokens + T;
    a->emb_order = a->targets + T;
    a->emb_rows = a->emb_order + T;
    a->emb_starts = a->emb_rows + T;
    a->emb_segs = a->emb_starts + T + 1;
    a->emb_seg_lo = a->emb_segs + T + 1;
    a->emb_seg_hi = a->emb_seg_lo + emb_max_segments(T);
    a->emb_counts = a->emb_seg_hi + emb_max_segments(T);
    free(m->ints_h);
    m->ints_h = xcalloc(batch_ints(T), sizeof(int));
    a->o_hn = o_hn; a->o_dx = o_dx; a->o_u = o_u; a->o_dtl = o_dtl; a->o_p = o_p; a->o_big = o_big;
    a->y_op = y_op;
    if (op_bf16) a->hn = a->hf = NULL;   /* bf16: RMSNorm writes the bf16 operand only */
    m->batch = batch;
    m->L = L;
    m->scan_bwd_used = scan_bwd_kind(m);
    if (lti) return;                               /* the LTI scan has its own workspace */
    scan_params sp = {.batch = batch, .D = m->D, .L = L, .N = m->N};
    if (m->scan_bwd_used == LM_SCAN_BWD_V6) m->scan_ws_bytes = scan_v6_backward_workspace_bytes(&sp);
    if (m->scan_bwd_used == LM_SCAN_BWD_V7) m->scan_ws_bytes = scan_v7_backward_workspace_bytes(&sp);
    if (m->scan_ws_bytes) m->scan_ws = dmalloc(m->scan_ws_bytes);
}

double lm_memory_report(const lm_model *m, const char *prefix)
{
    const double G = 1024.0 * 1024 * 1024, pb = (double)m->n_params * sizeof(float);
    const double lg = ((double)m->logits_rows * sizeof(float) + (double)m->dl_rows * 2) * m->V;
    double total = 4 * pb + lg + (double)m->scan_ws_bytes;
    for (size_t i = 0; i < mem_nparts; i++) total += (double)mem_parts[i].n;
    if (!prefix) return total / G;
    printf("%smem\tparameters, gradients, AdamW m and v (4 x %zu floats)\t%.3f\n", prefix,
           m->n_params, 4 * pb / G);
    for (size_t i = 0; i < mem_nparts; i++)
        printf("%smem\t%s\t%.3f\n", prefix, mem_parts[i].name, (double)mem_parts[i].n / G);
    printf("%smem\tlogits (%d rows, V), bf16 gradient (%d rows, V)\t%.3f\n", prefix,
           m->logits_rows, m->dl_rows, lg / G);
    printf("%smem\tscan %s backward workspace\t%.3f\n", prefix, lm_scan_bwd_label(m->scan_bwd_used),
           (double)m->scan_ws_bytes / G);
    printf("%smem\ttotal allocated by the model\t%.3f\n", prefix, total / G);
    return total / G;
}

/* §6.18 The operands' side of the matmuls. W: a weight as the matmuls read it (the bf16
 * mirror in bf16 mode); norm_op: an RMSNorm output as an operand; off: an operand pointer n
 * elements on. */
static const void *W(const lm_model *m, const float *p)
{
    return m->op_bf16 ? (const void *)((const uint16_t *)m->wbf16 + (p - m->params)) : p;
}
/* RMSNorm of x as a matmul operand: into y (float32), or in bf16 mode straight into the
 * bf16 operand buffer (y then unused) */
static const void *norm_op(lm_model *m, float *y, float *rstd, const float *x, const float *w,
                           int T)
{
    if (!m->op_bf16) {
        lm_rmsnorm_forward(y, rstd, x, w, T, m->dm, m->eps);
        return y;
    }
    lm_rmsnorm_forward_bf16(m->a.o_hn, rstd, x, w, T, m->dm, m->eps);
    return m->a.o_hn;
}
static const void *off(const lm_model *m, const void *p, size_t n)
{
    return (const char *)p + n * (m->op_bf16 ? 2 : 4);
}

/* per-layer slices of the activation arrays */
static float *at(float *base, int l, size_t per_layer) { return base + (size_t)l * per_layer; }

static scan_params scan_args(const lm_model *m, int l)
{
    const lm_acts *a = &m->a;
    const size_t DL = (size_t)m->batch * m->D * m->L, NL = (size_t)m->batch * m->N * m->L;
    const struct lm_layer *p = &m->layer[l];
    return (scan_params){.batch = m->batch, .D = m->D, .L = m->L, .N = m->N, .dtype = SCAN_F32,
                         .u = a->u, .delta = a->delta,
                         .A = m->A + (size_t)l * m->D * m->N, .B = at(a->Bm, l, NL),
                         .C = at(a->Cm, l, NL), .Dskip = p->Dskip,
                         .z = m->no_gate ? NULL : at(a->z, l, DL),
                         .delta_bias = p->dt_proj_b, .delta_softplus = 1, .h0 = NULL};
}

/* The batch on the host, laid out as the device's int block (batch_ints): tokens checked
 * against the vocabulary, targets (−1 where none), and the embedding backward's schedule —
 * the positions sorted by token (a counting sort, stable), the distinct tokens, where each
 * one's positions start, and the segments of the tokens with more than LM_EMB_SEG positions. */
static void stage_batch(lm_model *m, const int *tokens, const int *targets, int T, int *h)
{
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= m->V)
            die(2, "token %d at position %d outside the vocabulary [0, %d)", tokens[t], t, m->V);
    const size_t MS = emb_max_segments((size_t)T);
    int *tok = h, *tg = tok + T, *order = tg + T, *rows = order + T, *starts = rows + T,
        *segs = starts + T + 1, *lo = segs + T + 1, *hi = lo + MS, *counts = hi + MS;
    memcpy(tok, tokens, (size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) tg[t] = targets ? targets[t] : -1;
    int *count = xcalloc((size_t)m->V + 1, sizeof(int));
    for (int t = 0; t < T; t++) count[tokens[t] + 1]++;
    int U = 0;
    for (int v = 0; v < m->V; v++) {
        if (count[v + 1]) { rows[U] = v; starts[U] = count[v]; U++; }
        count[v + 1] += count[v];                /* count[v]: where token v's positions begin */
    }
    starts[U] = T;
    for (int t = 0; t < T; t++) order[count[tokens[t]]++] = t;
    int ns = 0;
    for (int j = 0; j < U; j++) {
        segs[j] = ns;
        if (starts[j + 1] - starts[j] > LM_EMB_SEG)
            for (int k = starts[j]; k < starts[j + 1]; k += LM_EMB_SEG, ns++) {
                lo[ns] = k;
                hi[ns] = k + LM_EMB_SEG < starts[j + 1] ? k + LM_EMB_SEG : starts[j + 1];
            }
    }
    segs[U] = ns;
    counts[0] = U;
    counts[1] = ns;
    m->a.emb_unique = U;
    m->a.emb_nseg = ns;
    free(count);
}

/* The mean loss over the counted positions (targets >= 0), added in double in order */
static double mean_loss(const float *losses, const int *tg, int T)
{
    double sum = 0;
    int counted = 0;
    for (int t = 0; t < T; t++)
        if (tg[t] >= 0) { sum += losses[t]; counted++; }
    return counted ? sum / counted : 0;
}

/* =====================================================================================
 * §6.14 Forward */

/* The forward's device work on the batch already on the device (the int block): what a
 * captured step replays. with_targets: the classifier and, with dscale ≠ 0, the head's
 * backward. */
static void forward_device(lm_model *m, int with_targets, float dscale)
{
    const int ob = m->op_bf16;
    lm_acts *a = &m->a;
    const int batch = m->batch, L = m->L;
    const int T = batch * L, dm = m->dm, D = m->D, N = m->N, R = m->R;
    const size_t Tdm = (size_t)T * dm, DL = (size_t)batch * D * L, RL = (size_t)batch * R * L,
                 NL = (size_t)batch * N * L;
    const size_t nch = (size_t)scan_nchunks(L);
    const int gate = !m->no_gate, lti = m->kind == MAMBA_LTI;
    const size_t ck_per = lti ? lm_lti_checkpoint_floats(batch, D, L, N) : 0;
    for (int l = 0; l < m->n_layer; l++)
        lm_neg_exp(m->A + (size_t)l * D * N, m->layer[l].A_log, (size_t)D * N);
    if (ob && !m->wbf16_valid) {   /* the bf16 mirror of the weights (AdamW keeps it equal) */
        if (!m->wbf16) m->wbf16 = dmalloc(m->n_params * 2);
        lm_stage_bf16(m->wbf16, m->params, m->n_params);
        m->wbf16_valid = 1;
    }

    lm_embedding_forward(a->x, m->emb, a->tokens, T, dm);                          /* (6.8) */
    for (int l = 0; l < m->n_layer; l++) {
        const struct lm_layer *p = &m->layer[l];
        float *x = at(a->x, l, Tdm), *hn = a->hn;
        float *xin = at(a->xin, l, DL), *z = gate ? at(a->z, l, DL) : NULL, *u = a->u;
        float *dtl = at(a->dtl, l, RL), *Bm = at(a->Bm, l, NL), *Cm = at(a->Cm, l, NL);
        float *delta = a->delta, *y = a->y;
        /* (6.9), in bf16 mode written straight as the bf16 operand (§6.18) */
        const void *h_op = norm_op(m, hn, at(a->rstd, l, T), x, p->norm_w, T);
        /* (6.12) in_proj: x_b = W_x-part · h_bᵀ (D × L) and z_b likewise, per sequence b */
        lm_gemm(0, 1, D, L, dm, W(m, p->in_proj_w), dm, 0, h_op, dm, (long long)L * dm, xin, L,
                (long long)D * L, batch, 1, 0, ob);
        if (gate)
            lm_gemm(0, 1, D, L, dm, W(m, p->in_proj_w + (size_t)D * dm), dm, 0, h_op, dm,
                    (long long)L * dm, z, L, (long long)D * L, batch, 1, 0, ob);
        /* (6.11) u for the scan, and u as (D, T) for x_proj: its three row blocks write
         * δ_low, B, C per sequence straight into the scan's layout; dt_proj on δ_low (R, T) */
        lm_conv1d_silu_forward_ct(u, a->o_u, ob, xin, p->conv_w, p->conv_b, batch, D, L, m->K);
        if (lti) {   /* §6.23 Δ, B, C fixed in time: no x_proj, no dt_proj */
            lm_lti_scan_forward(y, at(a->lti_ck, l, ck_per), u, z, m->A + (size_t)l * D * N, p->B,
                                p->C, p->Dskip, p->dt_proj_b, batch, D, L, N);
        } else {
            lm_gemm(0, 0, R, L, D, W(m, p->x_proj_w), D, 0, a->o_u, T, L, dtl, L, (long long)R * L,
                    batch, 1, 0, ob);
            lm_gemm(0, 0, N, L, D, W(m, p->x_proj_w + (size_t)R * D), D, 0, a->o_u, T, L, Bm, L,
                    (long long)N * L, batch, 1, 0, ob);
            lm_gemm(0, 0, N, L, D, W(m, p->x_proj_w + (size_t)(R + N) * D), D, 0, a->o_u, T, L, Cm, L,
                    (long long)N * L, batch, 1, 0, ob);
            lm_stage_regroup(a->o_dtl, ob, dtl, batch, R, L, 0);
            lm_gemm(0, 0, D, L, R, W(m, p->dt_proj_w), R, 0, a->o_dtl, T, L, delta, L,
                    (long long)D * L, batch, 1, 0, ob);
            /* the selective scan, part 1's fastest forward (its bias + softplus inside) */
            scan_params sp = scan_args(m, l);
            float *chunk = at(a->chunk, l, (size_t)batch * D * nch * N);
            lm_prof_begin();
            if ((N & (N - 1)) == 0) scan_ok(scan_v6_forward(&sp, y, NULL, chunk), "scan v6 forward");
            else scan_ok(scan_v4_forward(&sp, y, NULL, chunk), "scan v4 forward");
            lm_prof_end(LM_K_SCAN);
        }
        /* out_proj with the residual: x_{l+1} = x_l + y_bᵀ W_outᵀ (β = 1 on a copy of x_l) */
        float *xn = at(a->x, l + 1, Tdm);
        lm_prof_begin();
        LM_CUDA(cudaMemcpyAsync(xn, x, Tdm * sizeof(float), cudaMemcpyDeviceToDevice,
                                lm_get_stream()));
        lm_prof_end(LM_K_OTHER);
        /* ... ONE matmul over all tokens: x_{l+1} (T × d_model) += Yᵀ (T × D) W_outᵀ, Y as
         * (D, T) in the operand type, which is what the backward keeps of y (its weight
         * gradient's operand; the scan's backward does not read y) */
        const void *y_op = off(m, a->y_op, (size_t)l * DL);
        lm_stage_regroup((void *)y_op, ob, y, batch, D, L, 0);
        lm_gemm(1, 1, T, dm, D, y_op, T, 0, W(m, p->out_proj_w), D, 0, xn, dm, 0, 1, 1, 1, ob);
    }
    const void *hf_op = norm_op(m, a->hf, at(a->rstd, m->n_layer, T), at(a->x, m->n_layer, Tdm),
                                m->norm_f_w, T);
    /* §6.14 the tied head in chunks of LM_HEAD_ROWS tokens: a chunk's logits ℓ = h_f Eᵀ, its
     * losses, and in training at once its backward — the classifier leaves dℓ in place of ℓ,
     * then dE += dℓᵀ h_f and dh_f = dℓ E — so no (T, V) array is ever held (6.1 GiB at
     * 32 768 tokens of a 50 280 vocabulary). Without targets all T rows are kept, to be read. */
    const int V = m->V, rows = with_targets && T > LM_HEAD_ROWS ? LM_HEAD_ROWS : T;
    logits_alloc(m, rows, ob && with_targets && dscale != 0);
    for (int t0 = 0; t0 < T; t0 += rows) {
        const int n = T - t0 < rows ? T - t0 : rows;
        const void *hf = off(m, hf_op, (size_t)t0 * dm);
        lm_gemm(0, 1, n, V, dm, hf, dm, 0, W(m, m->emb), dm, 0, a->logits, V, 0, 1, 1, 0, ob);
        if (!with_targets) break;
        /* (6.14) dℓ in place of ℓ, or (bf16) into the bf16 buffer the matmuls read */
        if (ob && dscale != 0)
            lm_classifier_bf16(a->logits, a->losses + t0, a->targets + t0, n, V, dscale, a->o_dl);
        else
            lm_classifier(a->logits, a->losses + t0, a->targets + t0, n, V, dscale);
        if (dscale == 0) continue;
        const void *dl = ob ? a->o_dl : (const void *)a->logits;
        lm_gemm(1, 0, V, dm, n, dl, V, 0, hf, dm, 0, m->gemb, dm, 0, 1, 1, 1, ob);
        lm_gemm(0, 0, n, dm, V, dl, V, 0, W(m, m->emb), dm, 0, a->dhn + (size_t)t0 * dm, dm, 0, 1,
                1, 0, ob);
    }
}

double lm_forward(lm_model *m, const int *tokens, const int *targets, int batch, int L,
                  float dscale)
{
    acts_alloc(m, batch, L, lm_matmul_bf16());   /* §6.18 the operands' type, here and in the backward */
    const int T = batch * L;
    stage_batch(m, tokens, targets, T, m->ints_h);
    LM_CUDA(cudaMemcpy(m->a.tokens, m->ints_h, batch_ints((size_t)T) * sizeof(int),
                       cudaMemcpyHostToDevice));
    forward_device(m, targets != NULL, dscale);
    if (!targets) return 0;
    float *losses = xmalloc((size_t)T * sizeof(float));
    LM_CUDA(cudaMemcpy(losses, m->a.losses, (size_t)T * sizeof(float), cudaMemcpyDeviceToHost));
    const double loss = mean_loss(losses, m->ints_h + T, T);
    free(losses);
    return loss;
}

void lm_get_logits(const lm_model *m, float *out)
{
    LM_CUDA(cudaMemcpy(out, m->a.logits, (size_t)m->batch * m->L * m->V * sizeof(float),
                       cudaMemcpyDeviceToHost));
}

/* =====================================================================================
 * §6.15 Backward: the forward's steps in reverse, each op's backward beside the forward's
 * call above. Weight gradients accumulate (β = 1), each in one matmul over all tokens. */

void lm_backward(lm_model *m)
{
    lm_acts *a = &m->a;
    const int batch = m->batch, L = m->L, T = batch * L, dm = m->dm, D = m->D, N = m->N,
              R = m->R, ob = m->op_bf16;
    const size_t Tdm = (size_t)T * dm, DL = (size_t)batch * D * L, RL = (size_t)batch * R * L;
    const size_t nch = (size_t)scan_nchunks(L);
    const int gate = !m->no_gate, lti = m->kind == MAMBA_LTI, P = gate ? 2 * D : D;
    const size_t ck_per = lti ? lm_lti_checkpoint_floats(batch, D, L, N) : 0;
    /* the head's backward ran in the forward (dE accumulated, dh_f left in dhn): norm_f's
     * backward into dx (zeroed) */
    LM_CUDA(cudaMemsetAsync(a->dx, 0, Tdm * sizeof(float), lm_get_stream()));
    lm_rmsnorm_backward_to(a->dx, ob ? a->o_dx : NULL, m->gnorm_f_w, a->dhn,
                           at(a->x, m->n_layer, Tdm), m->norm_f_w, at(a->rstd, m->n_layer, T), T, dm,
                           a->norm_ws);
    for (int l = m->n_layer - 1; l >= 0; l--) {
        const struct lm_layer *p = &m->layer[l];
        const struct lm_layer *gp = &m->glayer[l];
        float *hn = a->hn, *xin = at(a->xin, l, DL), *u = a->u;
        float *dtl = at(a->dtl, l, RL);
        const void *y_op = off(m, a->y_op, (size_t)l * DL);
        /* §6.13 recompute what the forward did not keep: h = RMSNorm(x_l) (its rstd again,
         * bit for bit), u = SiLU(conv1d(xin)), δ = dt_proj(δ_low) — the same kernels on the
         * same inputs, so the same values as in the forward; and their staged operands */
        const void *h_op = norm_op(m, hn, at(a->rstd, l, T), at(a->x, l, Tdm), p->norm_w, T);
        lm_conv1d_silu_forward_ct(u, a->o_u, ob, xin, p->conv_w, p->conv_b, batch, D, L, m->K);
        if (!lti) {
            lm_stage_regroup(a->o_dtl, ob, dtl, batch, R, L, 0);
            lm_gemm(0, 0, D, L, R, W(m, p->dt_proj_w), R, 0, a->o_dtl, T, L, a->delta, L,
                    (long long)D * L, batch, 1, 0, ob);
        }
        /* §6.15 Each weight gradient is ONE matmul over the T = batch·L tokens, its operands
         * in the (C, T) layout; the data gradients are per sequence, as in the forward.
         * out_proj: dy_b = W_outᵀ dx_bᵀ;  dW_out (d_model × D) += dxᵀ Yᵀ */
        const void *dx_op = ob ? a->o_dx : (const void *)a->dx;   /* bf16: the norm's backward wrote it */
        lm_gemm(1, 1, D, L, dm, W(m, p->out_proj_w), D, 0, dx_op, dm, (long long)L * dm, a->dy, L,
                (long long)D * L, batch, 1, 0, ob);
        lm_gemm(1, 1, dm, D, T, dx_op, dm, 0, y_op, T, 0, gp->out_proj_w, D, 0, 1, 1, 1, ob);
        /* the scan's backward (part 1): du, dδ, dz, dB, dC overwritten; dA, dD, d bias into
         * per-layer scratch, then added to the parameter gradients */
        float *z = gate ? at(a->z, l, DL) : NULL;
        if (lti) {   /* §6.23 the LTI scan's backward adds into the parameter gradients itself */
            lm_lti_scan_backward(a->du, gate ? a->dz : NULL, gp->A_log, gp->B, gp->C, gp->Dskip,
                                 gp->dt_proj_b, a->lti_ws, a->dy, at(a->lti_ck, l, ck_per), u, z,
                                 m->A + (size_t)l * D * N, p->B, p->C, p->Dskip, p->dt_proj_b,
                                 batch, D, L, N);
        } else {
            scan_params sp = scan_args(m, l);
            scan_grads sg = {.du = a->du, .ddelta = a->ddelta, .dz = z ? a->dz : NULL, .dA = a->dA,
                             .dB = a->dB, .dC = a->dC, .dDskip = a->dDskip, .ddelta_bias = a->ddt_b,
                             .dh0 = NULL};
            const float *chunk = at(a->chunk, l, (size_t)batch * D * nch * N);
            lm_prof_begin();
            if (m->scan_bwd_used == LM_SCAN_BWD_V7)
                scan_ok(scan_v7_backward(&sp, a->dy, NULL, chunk, m->scan_ws, &sg), "scan v7 backward");
            else if (m->scan_bwd_used == LM_SCAN_BWD_V6)
                scan_ok(scan_v6_backward(&sp, a->dy, NULL, chunk, m->scan_ws, &sg), "scan v6 backward");
            else
                scan_ok(scan_fused_backward(&sp, a->dy, NULL, chunk, &sg), "scan backward");
            lm_prof_end(LM_K_SCAN);
            lm_dA_log_accumulate(gp->A_log, a->dA, m->A + (size_t)l * D * N, (size_t)D * N);
            lm_add(gp->Dskip, a->dDskip, (size_t)D);
            lm_add(gp->dt_proj_b, a->ddt_b, (size_t)D);
            /* dt_proj: dδ_low_b = W_dtᵀ dδ_b;  dW_dt (D × R) += dδ δ_lowᵀ */
            lm_stage_regroup(a->o_big, ob, a->ddelta, batch, D, L, 0);
            lm_gemm(1, 0, R, L, D, W(m, p->dt_proj_w), R, 0, a->o_big, T, L, a->ddtl, L,
                    (long long)R * L, batch, 1, 0, ob);
            lm_gemm(0, 1, D, R, T, a->o_big, T, 0, a->o_dtl, T, 0, gp->dt_proj_w, R, 0, 1, 1, 1, ob);
            /* x_proj with P = [dδ_low; dB; dC] ((R + 2N) × T): du_b += W_xᵀ P_b;  dW_x += P Uᵀ */
            lm_stage_regroup(a->o_p, ob, a->ddtl, batch, R, L, 0);
            lm_stage_regroup(a->o_p, ob, a->dB, batch, N, L, R);
            lm_stage_regroup(a->o_p, ob, a->dC, batch, N, L, R + N);
            lm_gemm(1, 0, D, L, R + 2 * N, W(m, p->x_proj_w), D, 0, a->o_p, T, L, a->du, L,
                    (long long)D * L, batch, 1, 1, ob);
            lm_gemm(0, 1, R + 2 * N, D, T, a->o_p, T, 0, a->o_u, T, 0, gp->x_proj_w, D, 0, 1, 1, 1, ob);
        }
        /* conv1d + SiLU, its dx written straight into rows 0 … D−1 of in_proj's operand
         * P = [dx; dz] (2D × T): dh (T × d_model) = Pᵀ W_in;  dW_in += P h */
        lm_conv1d_silu_backward_ct(NULL, a->o_big, ob, gp->conv_w, gp->conv_b, a->g, a->du, xin,
                                   p->conv_w, p->conv_b, batch, D, L, m->K, a->conv_ws);
        if (gate) lm_stage_regroup(a->o_big, ob, a->dz, batch, D, L, D);
        lm_gemm(1, 0, T, dm, P, a->o_big, T, 0, W(m, p->in_proj_w), dm, 0, a->dhn, dm, 0, 1, 1,
                0, ob);
        lm_gemm(0, 0, P, dm, T, a->o_big, T, 0, h_op, dm, 0, gp->in_proj_w, dm, 0, 1, 1, 1, ob);
        /* RMSNorm: dx += its backward (the residual's gradient passes through) */
        lm_rmsnorm_backward_to(a->dx, ob && l > 0 ? a->o_dx : NULL, gp->norm_w, a->dhn,
                               at(a->x, l, Tdm), p->norm_w, at(a->rstd, l, T), T, dm, a->norm_ws);
    }
    /* §6.24 in a captured step the batch's counts are read on the device, the grids their bounds */
    if (m->graph)
        lm_embedding_backward(m->gemb, a->dx, a->emb_order, a->emb_rows, a->emb_starts,
                              a->emb_segs, a->emb_seg_lo, a->emb_seg_hi, a->emb_part,
                              m->V < T ? m->V : T, (int)emb_max_segments((size_t)T), dm,
                              a->emb_counts);
    else
        lm_embedding_backward(m->gemb, a->dx, a->emb_order, a->emb_rows, a->emb_starts,
                              a->emb_segs, a->emb_seg_lo, a->emb_seg_hi, a->emb_part,
                              a->emb_unique, a->emb_nseg, dm, NULL);
}

/* =====================================================================================
 * §6.16 The optimizer: global-norm clipping (as torch.nn.utils.clip_grad_norm_), then AdamW
 * at lr_schedule's rate (warm-up, cosine), no decay where the table says so. */

/* AdamW's decay segments: the table's tensors in offset order (they tile the buffer), runs
 * of equal decay merged */
static void opt_segments(lm_model *m)
{
    const int nt = m->host.n_tensors;
    int *ord = xmalloc((size_t)nt * sizeof(int));
    for (int i = 0; i < nt; i++) ord[i] = i;
    for (int i = 1; i < nt; i++)               /* insertion sort by offset (already near) */
        for (int j = i; j > 0 && m->host.t[ord[j]].offset < m->host.t[ord[j - 1]].offset; j--) {
            const int k = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = k;
        }
    unsigned long long *end = xmalloc((size_t)nt * sizeof *end);
    unsigned char *dec = xmalloc((size_t)nt);
    size_t at_ = 0;
    int ns = 0;
    for (int i = 0; i < nt; i++) {
        const mamba_tensor *t = &m->host.t[ord[i]];
        if (t->offset != at_) die(1, "lm: parameter table not contiguous at %s", t->name);
        at_ += t->size;
        if (ns > 0 && dec[ns - 1] == (t->decay != 0)) end[ns - 1] = at_;
        else { end[ns] = at_; dec[ns] = t->decay != 0; ns++; }
    }
    if (at_ != m->n_params) die(1, "lm: parameter table covers %zu of %zu", at_, m->n_params);
    m->seg_end = dmalloc((size_t)ns * sizeof *end);
    m->seg_decay = dmalloc((size_t)ns);
    LM_CUDA(cudaMemcpy(m->seg_end, end, (size_t)ns * sizeof *end, cudaMemcpyHostToDevice));
    LM_CUDA(cudaMemcpy(m->seg_decay, dec, (size_t)ns, cudaMemcpyHostToDevice));
    m->nseg = ns;
    free(ord); free(end); free(dec);
}

/* The step's host values (learning rate at the schedule, bias corrections) for step m->step+1 */
static void opt_values(const lm_model *m, const lm_train_cfg *tc, lm_opt_scalars *s)
{
    memset(s, 0, sizeof *s);
    const double lr = lr_schedule(m->step, tc->warmup, tc->steps, tc->lr, tc->lr_min);
    lm_opt_bias(s, lr, (float)tc->beta1, (float)tc->beta2, m->step + 1);
}

/* The device part: Σ g² as LM_OPT_NORM_BLOCKS fixed partial sums, the norm and clipping
 * factor from them (in double, in block order: the same norm on every run), and one AdamW
 * launch over all parameters, the bf16 mirror (where there is one) updated with them */
static void opt_device(lm_model *m, const lm_train_cfg *tc)
{
    lm_sumsq_partials_n(m->partials, m->grads, m->n_params, LM_OPT_NORM_BLOCKS);
    lm_clip_scale(m->opt_sc, m->partials, LM_OPT_NORM_BLOCKS, tc->clip);
    lm_adamw_flat_dev(m->params, m->opt_m, m->opt_v, m->grads, m->wbf16, m->n_params, m->seg_end,
                      m->seg_decay, m->nseg, (float)tc->beta1, (float)tc->beta2, (float)tc->eps,
                      (float)tc->weight_decay, m->opt_sc);
}

double lm_opt_step(lm_model *m, const lm_train_cfg *tc)
{
    if (!m->seg_end) opt_segments(m);
    lm_opt_scalars s;
    opt_values(m, tc, &s);
    LM_CUDA(cudaMemcpy(m->opt_sc, &s, sizeof s, cudaMemcpyHostToDevice));
    opt_device(m, tc);
    m->step++;
    m->wbf16_valid = m->wbf16 != NULL;
    LM_CUDA(cudaMemcpy(&s, m->opt_sc, sizeof s, cudaMemcpyDeviceToHost));
    return s.norm;
}

/* =====================================================================================
 * §6.24 The training step as one CUDA graph. The task model's step (2 layers, d_model 64,
 * 2048 tokens) is ~100 launches of kernels that run for a few microseconds each, and a few
 * synchronous copies: launch-bound. Captured once and replayed, its launches cost the GPU
 * ~1 µs each and the host one call. What changes from step to step is data in fixed
 * places: the batch's int block (copied from pinned memory by the graph's first node), the
 * optimizer's values (lm_opt_scalars: lr and bias corrections from the host, the clipping
 * factor computed on the device), the embedding backward's counts (read on the device,
 * its grids their bounds). Every kernel is the ungraphed step's, with the same arguments:
 * the same bits (tests/test_lm_gpu.c). */
struct lm_step_graph {
    lm_model *m;
    lm_train_cfg tc;
    int T;
    cudaGraphExec_t exec;
    cudaStream_t stream;         /* the replays' (non-blocking: other models' run beside) */
    int *ints_h;                 /* pinned: the batch's int block (stage_batch) */
    lm_opt_scalars *sc_h;        /* pinned: the step's optimizer values */
    float *losses_h;             /* pinned: the step's per-token losses, copied back */
    void *cublas_ws;             /* its own cuBLAS workspace */
    int pending;                 /* launched, not yet waited for */
};

lm_step_graph *lm_graph_build(lm_model *m, const int *tokens, const int *targets, int batch,
                              int L, float dscale, const lm_train_cfg *tc)
{
    if (m->graph) die(1, "lm: the model already has a step graph");
    if (!m->seg_end) opt_segments(m);
    /* one ungraphed forward and backward of the first batch (the parameters do not change):
     * every buffer the step uses — activations, logits, cuBLAS's handle, the bf16 mirror — is
     * made before the capture, which must not allocate */
    lm_zero_grad(m);
    lm_forward(m, tokens, targets, batch, L, dscale);
    lm_backward(m);
    LM_CUDA(cudaDeviceSynchronize());
    lm_step_graph *g = xcalloc(1, sizeof *g);
    g->m = m;
    g->tc = *tc;
    g->T = batch * L;
    const size_t ni = batch_ints((size_t)g->T);
    LM_CUDA(cudaMallocHost((void **)&g->ints_h, ni * sizeof(int)));
    memcpy(g->ints_h, m->ints_h, ni * sizeof(int));
    LM_CUDA(cudaMallocHost((void **)&g->sc_h, sizeof *g->sc_h));
    memset(g->sc_h, 0, sizeof *g->sc_h);
    LM_CUDA(cudaMallocHost((void **)&g->losses_h, (size_t)g->T * sizeof(float)));
    LM_CUDA(cudaMalloc(&g->cublas_ws, LM_CUBLAS_WS));
    LM_CUDA(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    /* the capture: on the per-thread stream (part 1's scan kernels run there; kernels.h) */
    const cudaStream_t cs = cudaStreamPerThread;
    m->graph = g;
    lm_set_stream(cs);
    lm_matmul_set_workspace(g->cublas_ws);
    cudaGraph_t graph;
    LM_CUDA(cudaStreamBeginCapture(cs, cudaStreamCaptureModeRelaxed));
    LM_CUDA(cudaMemcpyAsync(m->a.tokens, g->ints_h, ni * sizeof(int), cudaMemcpyHostToDevice, cs));
    LM_CUDA(cudaMemcpyAsync(m->opt_sc, g->sc_h, sizeof *g->sc_h, cudaMemcpyHostToDevice, cs));
    lm_zero_grad(m);
    forward_device(m, 1, dscale);
    lm_backward(m);
    opt_device(m, tc);
    LM_CUDA(cudaMemcpyAsync(g->losses_h, m->a.losses, (size_t)g->T * sizeof(float),
                            cudaMemcpyDeviceToHost, cs));
    LM_CUDA(cudaStreamEndCapture(cs, &graph));
    lm_set_stream(NULL);
    lm_matmul_set_workspace(NULL);
    LM_CUDA(cudaGraphInstantiate(&g->exec, graph, 0));
    LM_CUDA(cudaGraphDestroy(graph));
    return g;
}

void lm_graph_launch(lm_step_graph *g, const int *tokens, const int *targets)
{
    lm_model *m = g->m;
    if (g->pending) die(1, "lm: a step graph launched again before lm_graph_wait");
    stage_batch(m, tokens, targets, g->T, g->ints_h);
    opt_values(m, &g->tc, g->sc_h);
    LM_CUDA(cudaGraphLaunch(g->exec, g->stream));
    m->step++;
    m->wbf16_valid = m->wbf16 != NULL;
    g->pending = 1;
}

double lm_graph_wait(lm_step_graph *g)
{
    LM_CUDA(cudaStreamSynchronize(g->stream));
    g->pending = 0;
    return mean_loss(g->losses_h, g->ints_h + g->T, g->T);
}

void lm_graph_free(lm_step_graph *g)
{
    if (!g) return;
    if (g->pending) lm_graph_wait(g);
    cudaGraphExecDestroy(g->exec);
    cudaStreamDestroy(g->stream);
    cudaFreeHost(g->ints_h);
    cudaFreeHost(g->sc_h);
    cudaFreeHost(g->losses_h);
    cudaFree(g->cublas_ws);
    g->m->graph = NULL;
    free(g);
}

void lm_free(lm_model *m)
{
    lm_graph_free(m->graph);
    free(m->ints_h);
    cudaFree(m->opt_sc);
    cudaFree(m->params); cudaFree(m->grads); cudaFree(m->opt_m); cudaFree(m->opt_v);
    cudaFree(m->A); cudaFree(m->partials);
    if (m->seg_end) { cudaFree(m->seg_end); cudaFree(m->seg_decay); }
    if (m->act_base) cudaFree(m->act_base);
    if (m->a.logits) cudaFree(m->a.logits);
    if (m->scan_ws) cudaFree(m->scan_ws);
    if (m->a.o_dl) cudaFree(m->a.o_dl);
    if (m->wbf16) cudaFree(m->wbf16);
    free(m->layer); free(m->glayer);
    mamba_free(&m->host);
    lm_rmsnorm_release();
    lm_conv1d_release();
    lm_matmul_destroy();     /* the cuBLAS handle (made again by the next matmul, if any) */
    memset(m, 0, sizeof *m);
}

/* =====================================================================================
 * §6.20 Checkpoints: the device buffers through checkpoint.c's files */

static float *to_host(const float *dev, size_t n)
{
    float *h = xmalloc(n * sizeof(float));
    LM_CUDA(cudaMemcpy(h, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

void lm_save_checkpoint(const lm_model *m, const char *dir, int with_optimizer)
{
    if (m->kind != MAMBA_S6 || m->no_gate)
        die(2, "%s: the %s variant is not a Hugging Face model: no checkpoint written", dir,
            m->kind == MAMBA_LTI ? "LTI" : "no-gate");
    float *w = to_host(m->params, m->n_params);
    float *mo = with_optimizer ? to_host(m->opt_m, m->n_params) : NULL;
    float *vo = with_optimizer ? to_host(m->opt_v, m->n_params) : NULL;
    lm_checkpoint_write(dir, &m->hf, &m->host, w, mo, vo, m->step);
    free(w); free(mo); free(vo);
}

void lm_load_checkpoint(lm_model *m, const char *dir, int with_optimizer)
{
    float *w = xmalloc(m->n_params * sizeof(float));
    float *mo = with_optimizer ? xmalloc(m->n_params * sizeof(float)) : NULL;
    float *vo = with_optimizer ? xmalloc(m->n_params * sizeof(float)) : NULL;
    int step = 0;
    lm_checkpoint_read(dir, &m->host, w, mo, vo, &step);
    for (size_t i = 0; i < m->n_params; i++) m->host.params[i] = (real)w[i];
    lm_upload(m);
    if (with_optimizer) {
        LM_CUDA(cudaMemcpy(m->opt_m, mo, m->n_params * sizeof(float), cudaMemcpyHostToDevice));
        LM_CUDA(cudaMemcpy(m->opt_v, vo, m->n_params * sizeof(float), cudaMemcpyHostToDevice));
        m->step = step;
    }
    free(w); free(mo); free(vo);
}
