/* 06_hw_aware_cuda/lm/generate_gpu.c — generation on the GPU: prefill through the training
 * forward, then the step of decode.cu captured in a CUDA graph (see generate_gpu.h, §G.4). */
#include "06_hw_aware_cuda/lm/generate_gpu.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "06_hw_aware_cuda/lm/decode.h"
#include "06_hw_aware_cuda/lm/kernels.h"
#include "06_hw_aware_cuda/scan/scan_gpu.h"
#include "common/rng.h"
#include "common/util.h"

static void *dalloc(size_t bytes)
{
    void *p = NULL;
    LM_CUDA(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

#define ST(d) ((cudaStream_t)(d)->stream)

/* The step's kernels in order (§G.4); captured once into the graph, or launched directly. */
static void step_kernels(gpu_decoder *d)
{
    const lm_model *m = d->m;
    const int B = d->B, dm = m->dm, D = m->D, N = m->N, R = m->R, K = m->K, V = m->V;
    const int nx = R + 2 * N;
    void *s = d->stream;
    if (d->version == 3) {   /* one launch (decode.cu §G.5) */
        LM_CUDA((cudaError_t)dec_step3((const dec3_args *)d->step3, s));
        return;
    }
    dec_embed(d->x, d->w_emb, d->bf16, d->tok, B, dm, s);                           /* (6.8) */
    if (d->version == 2) {   /* four kernels a layer */
        for (int l = 0; l < m->n_layer; l++) {
            const struct lm_layer *p = &m->layer[l];
            float *conv = d->conv + (size_t)l * B * D * (K - 1);
            dec_norm_gemv(d->xz, 2 * D, d->w_in2[l], d->bf16, d->x, dm, B, 2 * D, m->eps, D, d->u, conv,
                          p->conv_w, p->conv_b, K, s);                      /* (6.9), (6.12), (6.11) */
            dec_gemv(d->dbc, nx, d->w_x[l], d->bf16, d->u, D, B, nx, D, 0.f, s);
            dec_ssm_step(d->y, d->ssm + (size_t)l * B * D * N, d->u, d->dbc, nx, d->xz, 2 * D,
                         p->dt_proj_w, p->dt_proj_b, p->A_log, p->Dskip, B, D, N, R, s);
            dec_gemv(d->x, dm, d->w_out[l], d->bf16, d->y, D, B, dm, D, 1.f, s);   /* residual */
        }
        dec_norm_gemv(d->logits, V, d->w_head2, d->bf16, d->x, dm, B, V, m->eps, 0, NULL, NULL, NULL, NULL, K, s);
        dec_argmax(d->tok, d->logits, V, B, d->Vs, s);
        return;
    }
    for (int l = 0; l < m->n_layer; l++) {
        const struct lm_layer *p = &m->layer[l];
        dec_rmsnorm(d->hn, d->x, p->norm_w, B, dm, m->eps, s);                      /* (6.9) */
        dec_gemv(d->xz, 2 * D, d->w_in[l], d->bf16, d->hn, dm, B, 2 * D, dm, 0.f, s);
        dec_conv_step(d->u, d->conv + (size_t)l * B * D * (K - 1), d->xz, 2 * D, p->conv_w,
                      p->conv_b, B, D, K, s);                                       /* (6.11) */
        dec_gemv(d->dbc, nx, d->w_x[l], d->bf16, d->u, D, B, nx, D, 0.f, s);
        dec_ssm_step(d->y, d->ssm + (size_t)l * B * D * N, d->u, d->dbc, nx, d->xz, 2 * D,
                     p->dt_proj_w, p->dt_proj_b, p->A_log, p->Dskip, B, D, N, R, s);
        dec_gemv(d->x, dm, d->w_out[l], d->bf16, d->y, D, B, dm, D, 1.f, s);       /* residual */
    }
    dec_rmsnorm(d->hn, d->x, m->norm_f_w, B, dm, m->eps, s);
    dec_gemv(d->logits, V, d->w_emb, d->bf16, d->hn, dm, B, V, dm, 0.f, s);         /* (6.14) */
    dec_argmax(d->tok, d->logits, V, B, d->Vs, s);
}

void gpu_decoder_init(gpu_decoder *d, lm_model *m, int B, int bf16, int Vs, int use_graph)
{
    gpu_decoder_init_v(d, m, B, bf16, Vs, use_graph, 1);
}

void gpu_decoder_init_v(gpu_decoder *d, lm_model *m, int B, int bf16, int Vs, int use_graph, int version)
{
    memset(d, 0, sizeof *d);
    if (version == 0)   /* auto: the one-kernel step at batch 1, where it can run (bf16 on the H200,
                         * results/text_h200.md: 2.08x version 1 at batch 1, but 0.89x at batch 8
                         * and 0.44x at 64) */
        version = B == 1 && dec_step3_supported(m->dm, m->D, m->K) ? 3 : 1;
    d->version = version == 2 || version == 3 ? version : 1;
    d->m = m;
    d->B = B;
    d->bf16 = bf16;
    d->Vs = Vs > 0 && Vs < m->V ? Vs : m->V;
    d->use_graph = version == 3 ? 0 : use_graph;   /* version 3 is one launch already */
    use_graph = d->use_graph;
    d->prefill_bf16 = bf16;
    const int nl = m->n_layer, dm = m->dm, D = m->D, N = m->N, R = m->R, K = m->K, V = m->V;
    cudaStream_t st;
    LM_CUDA(cudaStreamCreate(&st));   /* blocking: ordered after the prefill's default-stream work */
    d->stream = st;
    d->w_in = xmalloc((size_t)nl * sizeof *d->w_in);
    d->w_x = xmalloc((size_t)nl * sizeof *d->w_x);
    d->w_out = xmalloc((size_t)nl * sizeof *d->w_out);
    const size_t n_in = (size_t)2 * D * dm, n_x = (size_t)(R + 2 * N) * D, n_out = (size_t)dm * D,
                 n_emb = (size_t)V * dm;
    if (bf16) {   /* the four matrices of every layer and the embedding, rounded once */
        const size_t per = n_in + n_x + n_out, total = (size_t)nl * per + n_emb;
        uint16_t *w = dalloc(total * sizeof(uint16_t));
        d->wbf16 = w;
        for (int l = 0; l < nl; l++) {
            uint16_t *q = w + (size_t)l * per;
            dec_to_bf16(q, m->layer[l].in_proj_w, n_in, st);
            dec_to_bf16(q + n_in, m->layer[l].x_proj_w, n_x, st);
            dec_to_bf16(q + n_in + n_x, m->layer[l].out_proj_w, n_out, st);
            d->w_in[l] = q; d->w_x[l] = q + n_in; d->w_out[l] = q + n_in + n_x;
        }
        dec_to_bf16(w + (size_t)nl * per, m->emb, n_emb, st);
        d->w_emb = w + (size_t)nl * per;
    } else {
        for (int l = 0; l < nl; l++) {
            d->w_in[l] = m->layer[l].in_proj_w;
            d->w_x[l] = m->layer[l].x_proj_w;
            d->w_out[l] = m->layer[l].out_proj_w;
        }
        d->w_emb = m->emb;
    }
    if (d->version >= 2) {   /* the RMSNorm weights folded into in_proj and the head */
        const size_t es = bf16 ? 2 : 4, per = n_in * es;
        char *w = dalloc((size_t)nl * per + n_emb * es);
        d->wscaled = w;
        d->w_in2 = xmalloc((size_t)nl * sizeof *d->w_in2);
        for (int l = 0; l < nl; l++) {
            dec_scale_cols(w + (size_t)l * per, bf16, m->layer[l].in_proj_w, m->layer[l].norm_w, (size_t)2 * D, dm, st);
            d->w_in2[l] = w + (size_t)l * per;
        }
        dec_scale_cols(w + (size_t)nl * per, bf16, m->emb, m->norm_f_w, (size_t)V, dm, st);
        d->w_head2 = w + (size_t)nl * per;
    }
    d->conv = dalloc((size_t)nl * B * D * (K - 1) * sizeof(float));
    d->ssm = dalloc((size_t)nl * B * D * N * sizeof(float));
    d->x = dalloc((size_t)2 * B * dm * sizeof(float));   /* step 3's two-barrier layout alternates two */
    d->hn = dalloc((size_t)B * dm * sizeof(float));
    d->xz = dalloc((size_t)B * 2 * D * sizeof(float));
    d->u = dalloc((size_t)B * D * sizeof(float));
    d->dbc = dalloc((size_t)B * (R + 2 * N) * sizeof(float));
    d->y = dalloc((size_t)B * D * sizeof(float));
    d->logits = dalloc((size_t)B * V * sizeof(float));
    d->tok = dalloc((size_t)B * sizeof(int));
    LM_CUDA(cudaMallocHost((void **)&d->tok_h, (size_t)B * sizeof(int)));
    LM_CUDA(cudaMallocHost((void **)&d->logits_h, (size_t)B * V * sizeof(float)));
    LM_CUDA(cudaMemsetAsync(d->conv, 0, (size_t)nl * B * D * (K - 1) * sizeof(float), st));
    LM_CUDA(cudaMemsetAsync(d->ssm, 0, (size_t)nl * B * D * N * sizeof(float), st));
    LM_CUDA(cudaMemsetAsync(d->tok, 0, (size_t)B * sizeof(int), st));
    if (d->version == 3) {   /* the persistent kernel's arguments: per-layer pointers on the device */
        dec3_layer *hl = xmalloc((size_t)nl * sizeof *hl);
        for (int l = 0; l < nl; l++) {
            const struct lm_layer *p = &m->layer[l];
            /* its matmuls read 8 weights at a time with 16-byte loads */
            if (((uintptr_t)d->w_in2[l] | (uintptr_t)d->w_x[l] | (uintptr_t)d->w_out[l]) % 16)
                die(2, "generate: step 3 needs 16-byte aligned weight matrices (layer %d is not)", l);
            hl[l] = (dec3_layer){.w_in = d->w_in2[l], .w_x = d->w_x[l], .w_out = d->w_out[l], .conv_w = p->conv_w,
                                 .conv_b = p->conv_b, .dt_w = p->dt_proj_w, .dt_b = p->dt_proj_b, .A_log = p->A_log,
                                 .Dskip = p->Dskip, .conv = d->conv + (size_t)l * B * D * (K - 1),
                                 .ssm = d->ssm + (size_t)l * B * D * N};
        }
        d->layers3 = dalloc((size_t)nl * sizeof *hl);
        d->best3 = dalloc((size_t)B * sizeof(unsigned long long) + sizeof(unsigned));
        LM_CUDA(cudaMemsetAsync(d->best3, 0, (size_t)B * sizeof(unsigned long long) + sizeof(unsigned), st));
        dec3_args *a = xcalloc(1, sizeof *a);
        *a = (dec3_args){.layer = d->layers3, .emb = d->w_emb, .w_head = d->w_head2, .x = d->x, .xz = d->xz,
                         .u = d->u, .dbc = d->dbc, .y = d->y, .logits = d->logits, .tok = d->tok,
                         .best = d->best3, .arrived = (unsigned *)((unsigned long long *)d->best3 + B),
                         .n_layer = nl, .B = B, .dm = dm, .D = D, .N = N, .R = R, .K = K, .V = V, .Vs = d->Vs,
                         .eps = m->eps};
        dec_step3_setup(a, bf16);
        if (a->two) {   /* W_outᵀ per layer: a block's channels are rows of it */
            const size_t es = bf16 ? 2 : 4;
            d->w_outT = dalloc((size_t)nl * n_out * es);
            for (int l = 0; l < nl; l++) {
                hl[l].w_outT = (char *)d->w_outT + (size_t)l * n_out * es;
                dec_transpose((void *)hl[l].w_outT, d->w_out[l], dm, D, bf16, st);
            }
            a->x2 = d->x + (size_t)B * dm;
        }
        LM_CUDA(cudaMemcpy(d->layers3, hl, (size_t)nl * sizeof *hl, cudaMemcpyHostToDevice));
        free(hl);
        if (a->fuse) {
            d->xpart3 = dalloc((size_t)a->grid * B * (R + 2 * N) * sizeof(float));
            LM_CUDA(cudaMemset(d->xpart3, 0, (size_t)a->grid * B * (R + 2 * N) * sizeof(float)));   /* two: sums start at 0 */
            a->xpart = d->xpart3;
        }
        if (a->flagbar) {
            d->flags3 = dalloc((size_t)a->grid * sizeof(unsigned long long));
            LM_CUDA(cudaMemset(d->flags3, 0, (size_t)a->grid * sizeof(unsigned long long)));
            a->flags = d->flags3;
        }
        d->step3 = a;
    }
    /* One step's traffic (what a memory-bound step must move): every weight once — the
     * matrices in their dtype, the small per-channel tensors in float32 — and every state
     * read and written. The activations (a few B·D floats per layer) are left out. */
    const double ws = bf16 ? 2 : 4;
    const double small = (double)D * R + D + (double)D * K + D + (double)D * N + D + dm;
    d->bytes_weights = nl * ((double)(n_in + n_x + n_out) * ws + small * 4) + (double)n_emb * ws + dm * 4.0;
    d->bytes_state = 2.0 * nl * B * D * (N + K - 1) * 4.0;
    /* one plain step first: every kernel is loaded (lazily, at its first launch) before any
     * capture, and the scratch is touched; the prefill overwrites the states it changed */
    step_kernels(d);
    LM_CUDA(cudaMemsetAsync(d->conv, 0, (size_t)nl * B * D * (K - 1) * sizeof(float), st));
    LM_CUDA(cudaMemsetAsync(d->ssm, 0, (size_t)nl * B * D * N * sizeof(float), st));
    LM_CUDA(cudaMemsetAsync(d->tok, 0, (size_t)B * sizeof(int), st));
    if (use_graph) {
        cudaGraph_t g;
        cudaGraphExec_t e;
        LM_CUDA(cudaStreamSynchronize(st));
        LM_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
        step_kernels(d);
        LM_CUDA(cudaStreamEndCapture(st, &g));
        LM_CUDA(cudaGraphInstantiate(&e, g, 0));
        d->graph = g;
        d->exec = e;
    }
    LM_CUDA(cudaStreamSynchronize(st));
}

void gpu_decoder_free(gpu_decoder *d)
{
    if (d->exec) cudaGraphExecDestroy((cudaGraphExec_t)d->exec);
    if (d->graph) cudaGraphDestroy((cudaGraph_t)d->graph);
    if (d->ev) cudaEventDestroy((cudaEvent_t)d->ev);
    cudaFree(d->w_outT);
    cudaFree(d->layers3); cudaFree(d->best3); cudaFree(d->xpart3); cudaFree(d->flags3); free(d->step3);
    cudaFree(d->wbf16); cudaFree(d->wscaled); free(d->w_in2); cudaFree(d->conv); cudaFree(d->ssm); cudaFree(d->x); cudaFree(d->hn);
    cudaFree(d->xz); cudaFree(d->u); cudaFree(d->dbc); cudaFree(d->y); cudaFree(d->logits);
    cudaFree(d->tok);
    cudaFreeHost(d->tok_h);
    cudaFreeHost(d->logits_h);
    cudaStreamDestroy(ST(d));
    free(d->w_in); free(d->w_x); free(d->w_out);
    memset(d, 0, sizeof *d);
}

void gpu_prefill(gpu_decoder *d, const int *tokens, int L)
{
    lm_model *m = d->m;
    const int B = d->B, D = m->D, N = m->N, V = m->V;
    lm_set_matmul_bf16(d->prefill_bf16);   /* bf16 tensor cores for the prefill's matmuls */
    lm_forward(m, tokens, NULL, B, L, 0);
    lm_set_matmul_bf16(0);
    const size_t DL = (size_t)B * D * L;
    const int nch = scan_nchunks(L);
    for (int l = 0; l < m->n_layer; l++)
        dec_from_prefill(d->conv + (size_t)l * B * D * (m->K - 1), d->ssm + (size_t)l * B * D * N,
                         m->a.xin + (size_t)l * DL, m->a.chunk + (size_t)l * B * D * nch * N, B, D, N,
                         m->K, L, nch, d->stream);
    /* the logits of each sequence's last position (row b·L + L − 1 of the forward's) */
    for (int b = 0; b < B; b++)
        LM_CUDA(cudaMemcpyAsync(d->logits + (size_t)b * V, m->a.logits + ((size_t)b * L + L - 1) * V,
                                (size_t)V * sizeof(float), cudaMemcpyDeviceToDevice, ST(d)));
    dec_argmax(d->tok, d->logits, V, B, d->Vs, d->stream);
}

void gpu_step(gpu_decoder *d)
{
    if (d->exec) LM_CUDA(cudaGraphLaunch((cudaGraphExec_t)d->exec, ST(d)));
    else step_kernels(d);
}

void gpu_fetch(gpu_decoder *d, int logits)
{
    LM_CUDA(cudaMemcpyAsync(d->tok_h, d->tok, (size_t)d->B * sizeof(int), cudaMemcpyDeviceToHost, ST(d)));
    if (logits)
        LM_CUDA(cudaMemcpyAsync(d->logits_h, d->logits, (size_t)d->B * d->m->V * sizeof(float),
                                cudaMemcpyDeviceToHost, ST(d)));
    LM_CUDA(cudaStreamSynchronize(ST(d)));
}

/* Greedy decoding with the GPU one step ahead of the host: step t's tokens are copied to the
 * host, and step t + 1 — whose input is that same greedy choice, already on the GPU — is queued
 * behind the copy before the host waits for the copy alone. The host's turn-around (wake-up,
 * emitting the token, the next launch) then overlaps the GPU's next step instead of idling it.
 * GEN_SYNC=1 turns it off (to measure what it is worth). */
static int run_ahead(void)
{
    const char *e = getenv("GEN_SYNC");
    return !(e && *e == '1');
}

static void fetch_and_step_ahead(gpu_decoder *d)
{
    if (!d->ev) LM_CUDA(cudaEventCreateWithFlags((cudaEvent_t *)&d->ev, cudaEventDisableTiming));
    LM_CUDA(cudaMemcpyAsync(d->tok_h, d->tok, (size_t)d->B * sizeof(int), cudaMemcpyDeviceToHost, ST(d)));
    LM_CUDA(cudaEventRecord((cudaEvent_t)d->ev, ST(d)));
    gpu_step(d);   /* ordered after the copy on the stream: it overwrites d->tok */
    LM_CUDA(cudaEventSynchronize((cudaEvent_t)d->ev));
}

void gpu_set_tokens(gpu_decoder *d, const int *tok)
{
    memcpy(d->tok_h, tok, (size_t)d->B * sizeof(int));
    LM_CUDA(cudaMemcpyAsync(d->tok, d->tok_h, (size_t)d->B * sizeof(int), cudaMemcpyHostToDevice, ST(d)));
}

/* =====================================================================================
 * gen_generate's loop on the GPU. The prompts' common length Lmin is prefilled in parallel;
 * a longer prompt's remaining tokens are fed by the step (forced), as the CPU path does. */
void gpu_generate(gpu_decoder *d, const int32_t *const *prompts, const int *plen, const gen_opts *o,
                  int32_t *out, int *n_out, gen_emit_fn emit, void *ctx)
{
    const int B = d->B, V = d->m->V, start = o->eos >= 0 ? o->eos : 0;
    const int sampling = o->temperature > 0;
    const char *hs = getenv("GEN_HOST_SAMPLE");
    const int host_sample = sampling && hs && *hs == '1';   /* (G.2) on the host: gen_sample on copied logits */
    unsigned long long draw = 0;   /* the GPU sampler's counter: one per step */
    int *len = xmalloc((size_t)B * sizeof *len), *done = xcalloc((size_t)B, sizeof *done);
    int *next = xmalloc((size_t)B * sizeof *next);
    int Lmin = 1 << 30, Lmax = 0, ahead = 0;   /* ahead: this position's step is already queued */
    for (int b = 0; b < B; b++) {
        len[b] = plen[b] > 0 ? plen[b] : 1;
        Lmin = len[b] < Lmin ? len[b] : Lmin;
        Lmax = len[b] > Lmax ? len[b] : Lmax;
        n_out[b] = 0;
        done[b] = o->max_new <= 0;
    }
    int *pre = xmalloc((size_t)B * Lmin * sizeof *pre);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Lmin; t++) pre[(size_t)b * Lmin + t] = plen[b] > 0 ? prompts[b][t] : start;
    gen_scratch sc;
    gen_scratch_init(&sc, d->Vs);
    real *row = xmalloc((size_t)V * sizeof *row);
    rng_t rng;
    rng_seed(&rng, o->seed);
    gpu_prefill(d, pre, Lmin);
    if (sampling && !host_sample)
        dec_sample(d->tok, d->logits, V, B, d->Vs, (float)o->temperature, o->top_k, (float)o->top_p, o->seed, draw++, NULL,
                   d->stream);
    gpu_fetch(d, host_sample);
    /* invariant: the GPU holds the logits after `pos` tokens of every sequence */
    for (int pos = Lmin;; pos++) {
        int active = 0, upload = 0;
        for (int b = 0; b < B; b++) {
            next[b] = d->tok_h[b];                 /* the greedy choice, already on the GPU */
            if (pos < len[b]) { next[b] = prompts[b][pos]; upload = 1; continue; }  /* (G.1) */
            if (done[b]) continue;                 /* idle: fed whatever, discarded */
            if (host_sample) {                     /* (G.2) on the host (else drawn on the GPU: in tok_h) */
                const float *lg = d->logits_h + (size_t)b * V;
                for (int v = 0; v < d->Vs; v++) row[v] = (real)lg[v];
                next[b] = gen_sample(row, d->Vs, o->temperature, o->top_k, o->top_p, &rng, &sc);
                upload = 1;
            }
            out[(size_t)b * o->max_new + n_out[b]++] = next[b];
            if (emit) emit(b, next[b], ctx);
            if (next[b] == o->eos || n_out[b] == o->max_new) done[b] = 1;
        }
        for (int b = 0; b < B; b++) active += !done[b] || pos + 1 < len[b];
        if (!active) break;
        if (upload) gpu_set_tokens(d, next);      /* never while ahead: no prompt left, no sampling */
        if (!ahead) gpu_step(d);                   /* (G.3) */
        if (sampling && !host_sample)              /* (G.2) on the GPU: into d->tok, the next step's input */
            dec_sample(d->tok, d->logits, V, B, d->Vs, (float)o->temperature, o->top_k, (float)o->top_p, o->seed, draw++,
                       NULL, d->stream);
        /* the next step needs nothing from the host when no prompt token is left to force and
         * the choice is greedy: queue it now (a step past the end is harmless) */
        ahead = !sampling && pos + 1 >= Lmax && run_ahead();
        if (ahead) fetch_and_step_ahead(d);
        else gpu_fetch(d, host_sample);
    }
    gen_scratch_free(&sc);
    free(row); free(pre); free(next); free(len); free(done);
}

/* =====================================================================================
 * The benchmark and the self-check */

static void read_config(const char *path, hf_config *h) { hf_config_read(path, h); }

/* The achievable HBM bandwidth: a 2 GiB device-to-device copy (read + write), best of 5. */
static double measure_bandwidth(void)
{
    const size_t n = (size_t)1 << 31;
    void *a = dalloc(n), *b = dalloc(n);
    cudaEvent_t e0, e1;
    LM_CUDA(cudaEventCreate(&e0));
    LM_CUDA(cudaEventCreate(&e1));
    LM_CUDA(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
    float best = 1e30f;
    for (int i = 0; i < 5; i++) {
        float ms;
        LM_CUDA(cudaEventRecord(e0, 0));
        LM_CUDA(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
        LM_CUDA(cudaEventRecord(e1, 0));
        LM_CUDA(cudaEventSynchronize(e1));
        LM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        best = ms < best ? ms : best;
    }
    cudaEventDestroy(e0); cudaEventDestroy(e1);
    cudaFree(a); cudaFree(b);
    return 2.0 * (double)n / (best * 1e-3);
}

static void csv_row(const char *csv, const char *line)
{
    FILE *f = fopen(csv, "r");
    const int fresh = !f;
    if (f) fclose(f);
    f = fopen(csv, "a");
    if (!f) die(2, "%s: cannot open for appending", csv);
    if (fresh)
        fprintf(f, "impl,gpu,dtype,batch,prompt,steps,graph,ms_per_step,tok_per_s,prefill_len,prefill_tok_per_s,"
                   "bytes_per_step,bandwidth_GBps,floor_ms,fraction_of_floor\n");
    fputs(line, f);
    fclose(f);
}

static const char *impl_name(int version) { return version == 3 ? "ours-v3" : version == 2 ? "ours-v2" : "ours"; }

/* One decode measurement: prompt of P random tokens prefilled, 8 warm-up steps, S timed
 * steps as generate runs them (graph, tokens back to the host, wait; the next step queued before
 * the wait unless GEN_SYNC=1, as in gpu_generate's greedy loop). Returns ms per step. */
static double bench_decode(lm_model *m, int B, int P, int S, int bf16, int graph, FILE *pf, gpu_decoder *dd,
                           int version)
{
    gpu_decoder d;
    gpu_decoder_init_v(&d, m, B, bf16, 0, graph, version);
    int *pre = xmalloc((size_t)B * P * sizeof *pre);
    rng_t rng;
    rng_seed(&rng, 7);
    for (size_t i = 0; i < (size_t)B * P; i++) pre[i] = (int)(rng_uniform(&rng) * (m->V - 1));
    gpu_prefill(&d, pre, P);
    gpu_fetch(&d, 0);
    for (int i = 0; i < 8; i++) { gpu_step(&d); gpu_fetch(&d, 0); }
    const int W = 256;   /* positions per entry of the per-position file */
    const int ahead = run_ahead();   /* as gpu_generate's greedy loop runs them */
    double t0 = now_seconds(), tw = t0;
    if (ahead) gpu_step(&d);
    for (int s = 1; s <= S; s++) {
        if (!ahead) gpu_step(&d);
        if (ahead && s < S) fetch_and_step_ahead(&d);
        else gpu_fetch(&d, 0);
        if (pf && s % W == 0) {
            const double t = now_seconds();
            fprintf(pf, "%s,%s,%d,%d,%.6f\n", impl_name(version), bf16 ? "bf16" : "fp32", B, P + 8 + s,
                    (t - tw) / W * 1e3);
            fflush(pf);   /* a run cut short by a time limit keeps what it measured */
            tw = t;
        }
    }
    const double ms = (now_seconds() - t0) / S * 1e3;
    *dd = d;   /* the caller reads the byte counts, then frees */
    free(pre);
    return ms;
}

/* Prefill rate: B sequences of L random tokens through gpu_prefill, best of 3 after a first run. */
static double bench_prefill(lm_model *m, int B, int L, int bf16)
{
    gpu_decoder d;
    gpu_decoder_init(&d, m, B, bf16, 0, 0);
    int *pre = xmalloc((size_t)B * L * sizeof *pre);
    rng_t rng;
    rng_seed(&rng, 9);
    for (size_t i = 0; i < (size_t)B * L; i++) pre[i] = (int)(rng_uniform(&rng) * (m->V - 1));
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        const double t0 = now_seconds();
        gpu_prefill(&d, pre, L);
        gpu_fetch(&d, 0);
        const double t = now_seconds() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(pre);
    gpu_decoder_free(&d);
    return (double)B * L / best;
}

static int cmp_double(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* (G.2) at batch 1 over V logits (T 0.8, top-k 40, top-p 0.9): the GPU sampler (dec_sample, one
 * launch and the token back) against the host's gen_sample on logits copied back, as generate
 * ran it before (copy of the row + gen_sample), median of 21 */
static void bench_sampler(int V)
{
    float *lg = xmalloc((size_t)V * sizeof *lg);
    rng_t rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < V; i++) lg[i] = (float)(2.5 * rng_normal(&rng));
    float *lg_d = dalloc((size_t)V * sizeof *lg_d);
    int *tok_d = dalloc(sizeof *tok_d), tok;
    LM_CUDA(cudaMemcpy(lg_d, lg, (size_t)V * sizeof *lg, cudaMemcpyHostToDevice));
    real *row = xmalloc((size_t)V * sizeof *row);
    gen_scratch sc;
    gen_scratch_init(&sc, V);
    double tg[21], th[21];
    for (int r = 0; r < 21; r++) {
        double t0 = now_seconds();
        dec_sample(tok_d, lg_d, 0, 1, V, 0.8f, 40, 0.9f, 1, (unsigned long long)r, NULL, NULL);
        LM_CUDA(cudaMemcpy(&tok, tok_d, sizeof tok, cudaMemcpyDeviceToHost));
        tg[r] = now_seconds() - t0;
        t0 = now_seconds();
        LM_CUDA(cudaMemcpy(lg, lg_d, (size_t)V * sizeof *lg, cudaMemcpyDeviceToHost));
        for (int i = 0; i < V; i++) row[i] = (real)lg[i];
        tok = gen_sample(row, V, 0.8, 40, 0.9, &rng, &sc);
        th[r] = now_seconds() - t0;
    }
    qsort(tg, 21, sizeof *tg, cmp_double);
    qsort(th, 21, sizeof *th, cmp_double);
    printf("sampling one token over %d logits (T 0.8, top-k 40, top-p 0.9), median of 21: GPU sampler %.1f us, "
           "host (copy + gen_sample) %.1f us\n", V, tg[10] * 1e6, th[10] * 1e6);
    fflush(stdout);
    gen_scratch_free(&sc);
    free(lg); free(row);
    cudaFree(lg_d); cudaFree(tok_d);
}

/* Where a version-3 step's time goes: one step with timestamps (dec_step3_profile), per phase
 * averaged over the layers: work (the previous barrier's release to the last block's arrival
 * at this one) and the barrier (that arrival to block 0's release). */
static void print_profile3(gpu_decoder *d, int bf16)
{
    const int nl = d->m->n_layer, ns = 4 * nl + 2;
    unsigned long long *t = xmalloc((size_t)ns * 2 * sizeof *t);
    const dec3_args *a = d->step3;
    unsigned long long *f = xmalloc((size_t)a->grid * DEC3_MARKS * 2 * sizeof *f);
    dec_step3_profile(a, t, f, d->stream);
    static const char *name[4] = {"in_proj+conv", "x_proj", "scan step", "out_proj"};
    double work[4] = {0}, wait[4] = {0};
    for (int l = 0; l < nl; l++)
        for (int ph = 0; ph < 4; ph++) {
            const int i = 1 + 4 * l + ph;
            work[ph] += (double)(t[2 * i] - t[2 * (i - 1) + 1]) / nl;
            wait[ph] += (double)(t[2 * i + 1] - t[2 * i]) / nl;
        }
    const double head = (double)(t[2 * (ns - 1)] - t[2 * (ns - 2) + 1]), total = (double)(t[2 * (ns - 1)] - t[0]);
    printf("    v3 %s B=%d%s%s%s%s%s%s%s head rows/warp %d, head L2 prefetch %d MB; profile of one step (ns, %%globaltimer), per layer:",
           bf16 ? "bf16" : "fp32", d->B, a->prefetch ? "" : " (L2 prefetch OFF)", a->fuse ? " (x_proj fused into phase 1)" : "",
           a->flagbar ? " (flag barrier)" : "", a->smemw ? " (W_in/W_out staged in shared memory)" : "",
           a->two ? " (TWO barriers a layer: phase 4 = scan + out_proj atomics)" : a->scan_pre ? " (scan operands staged)" : "",
           a->nbt1 ? " (one-sequence kernel)" : "", a->split ? " (copies issued inside the barrier)" : "",
           a->head_ru, a->head_pf);
    for (int ph = 0; ph < 4; ph++) printf(" %s %.0f + barrier %.0f;", name[ph], work[ph], wait[ph]);
    printf(" head %.0f; kernel %.1f us\n", head, total / 1e3);
    /* the fine profile of layer n_layer / 2: per mark, over the blocks that reached it, the time
     * since the block's previous mark (median and max, ns of %globaltimer and SM cycles), and when
     * the blocks got there (first, median, last) after block 0's start of the layer */
    static const char *mk[DEC3_MARKS] = {"start", "x loaded", "rstd", "W_in ready", "in_proj+conv", "x_proj share",
                                         "copies issued", "barrier 1", "xpart sums", "scan step", "barrier 3",
                                         "y loaded", "out_proj", "copies issued", "barrier 4"};
    const unsigned long long base = f[0];
    double *dt = xmalloc((size_t)a->grid * 3 * sizeof *dt), *dc = dt + a->grid, *at = dc + a->grid;
    printf("      fine profile, layer %d (%d blocks): mark: dt median/max ns | cycles median/max | reached first/median/last ns\n",
           d->m->n_layer / 2, a->grid);
    for (int c = 1; c < DEC3_MARKS; c++) {
        int n = 0;
        for (int b = 0; b < a->grid; b++) {
            const unsigned long long *p = f + 2 * ((size_t)b * DEC3_MARKS);
            if (!p[2 * c] || !p[2 * (c - 1)]) continue;   /* a block without rows there skips the mark */
            dt[n] = (double)(long long)(p[2 * c] - p[2 * (c - 1)]);
            dc[n] = (double)(long long)(p[2 * c + 1] - p[2 * (c - 1) + 1]);
            at[n] = (double)(long long)(p[2 * c] - base);
            n++;
        }
        if (!n) continue;
        qsort(dt, (size_t)n, sizeof *dt, cmp_double);
        qsort(dc, (size_t)n, sizeof *dc, cmp_double);
        qsort(at, (size_t)n, sizeof *at, cmp_double);
        printf("      %2d %-14s %6.0f %6.0f | %6.0f %6.0f | %6.0f %6.0f %6.0f  (%d blocks)\n", c, mk[c], dt[n / 2], dt[n - 1],
               dc[n / 2], dc[n - 1], at[0], at[n / 2], at[n - 1], n);
    }
    fflush(stdout);
    free(dt);
    free(f);
    free(t);
}

int gpu_decode_bench(const char *config, const int *batches, int nb, int S, int prefill_len, int positions,
                     const char *csv, const char *pos_csv, int version)
{
    hf_config h;
    read_config(config, &h);
    lm_model m;
    lm_build(&m, &h, 1);
    if (version == 0) version = dec_step3_supported(m.dm, m.D, m.K) ? 3 : 1;   /* one version for all batch sizes */
    const double bw = measure_bandwidth();
    struct cudaDeviceProp prop;
    LM_CUDA(cudaGetDeviceProperties(&prop, 0));
    FILE *pf = NULL;
    if (pos_csv) {
        pf = fopen(pos_csv, "a");
        if (!pf) die(2, "%s: cannot open for appending", pos_csv);
    }
    printf("decode benchmark on %s, %s: measured copy bandwidth %.0f GB/s\n", prop.name, config, bw / 1e9);
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        const double pf_rate = prefill_len > 0 ? bench_prefill(&m, 1, prefill_len, bf16) : 0;
        printf("%s prefill of %d tokens (batch 1): %.0f tok/s\n", bf16 ? "bf16" : "fp32", prefill_len, pf_rate);
        for (int i = 0; i < nb; i++)
            for (int graph = version == 3 ? 0 : 1; graph >= (batches[i] == 1 || version == 3 ? 0 : 1); graph--) {
                const int B = batches[i], P = 16;
                const int steps = B == 1 && (graph || version == 3) && bf16 && positions > S ? positions : S;
                gpu_decoder d;
                const double ms = bench_decode(&m, B, P, steps, bf16, graph, steps > S ? pf : NULL, &d, version);
                const double bytes = d.bytes_weights + d.bytes_state, floor_ms = bytes / bw * 1e3;
                if (version == 3) print_profile3(&d, bf16);
                gpu_decoder_free(&d);
                printf("  v%d %s B=%-3d %s: %.4f ms/step, %9.0f tok/s; %.1f MB/step, floor %.4f ms -> %.2f of the floor\n",
                       version, bf16 ? "bf16" : "fp32", B, version == 3 ? "1 launch" : graph ? "graph" : "plain", ms, B * 1e3 / ms, bytes / 1e6,
                       floor_ms, floor_ms / ms);
                fflush(stdout);   /* piped to a log: a run cut short keeps its lines */
                if (csv) {
                    char line[1024];
                    snprintf(line, sizeof line, "%s,%s,%s,%d,%d,%d,%d,%.6f,%.1f,%d,%.1f,%.0f,%.1f,%.6f,%.4f\n",
                             impl_name(version), prop.name, bf16 ? "bf16" : "fp32", B, P, steps, graph, ms, B * 1e3 / ms, prefill_len,
                             pf_rate, bytes, bw / 1e9, floor_ms, floor_ms / ms);
                    csv_row(csv, line);
                }
            }
    }
    if (pf) fclose(pf);
    if (version == 3) bench_sampler(m.V);
    lm_free(&m);
    return 0;
}

/* max |a − b| over max |b| */
static double max_rel_f32(const float *a, const float *b, size_t n)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0 ? e / s : e;
}

int gpu_decode_selfcheck(const char *config, int B, int L, int bf16, int version)
{
    hf_config h;
    read_config(config, &h);
    lm_model m;
    lm_build(&m, &h, 11);
    {   /* norm weights 1/2, 1 or 2 (not the initial ones): RMSNorm's weight is exercised, and
         * version 2's W·diag(w) stays exact in bf16 */
        rng_t rw;
        rng_seed(&rw, 5);
        for (int l = 0; l <= m.n_layer; l++) {
            real *w = l < m.n_layer ? m.host.layer[l].norm_w : m.host.norm_f_w;
            for (int c = 0; c < m.dm; c++) w[c] = (real)ldexp(1.0, (int)(rng_uniform(&rw) * 3) - 1);
        }
        lm_upload(&m);
    }
    if (bf16) {   /* weights made bf16-exact, so the float32 forward sees the same values */
        for (size_t i = 0; i < m.n_params; i++) {
            float f = (float)m.host.params[i];
            uint32_t u;
            memcpy(&u, &f, 4);
            u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;   /* round to nearest even */
            memcpy(&f, &u, 4);
            m.host.params[i] = (real)f;
        }
        lm_upload(&m);
    }
    const int V = m.V;
    int *tok = xmalloc((size_t)B * L * sizeof *tok);
    rng_t rng;
    rng_seed(&rng, 3);
    for (size_t i = 0; i < (size_t)B * L; i++) tok[i] = (int)(rng_uniform(&rng) * (V - 1));
    /* the parallel forward's logits at every position: the reference */
    lm_forward(&m, tok, NULL, B, L, 0);
    float *ref = xmalloc((size_t)B * L * V * sizeof *ref);
    lm_get_logits(&m, ref);
    /* prefill P tokens, then step through the rest with the prompt's tokens forced */
    const double bound = 1e-4;
    int fails = 0;
    const int prefills[2] = {1, L / 3 > 1 ? L / 3 : 2};
    for (int graph = 0; graph <= (version == 3 ? 0 : 1); graph++)   /* version 3: one launch, no graph */
        for (int pi = 0; pi < 2; pi++) {
            const int P = prefills[pi];
            gpu_decoder d;
            gpu_decoder_init_v(&d, &m, B, bf16, 0, graph, version);
            d.prefill_bf16 = 0;   /* float32 arithmetic on both sides: the bound is float32's */
            int *pre = xmalloc((size_t)B * P * sizeof *pre), *next = xmalloc((size_t)B * sizeof *next);
            for (int b = 0; b < B; b++) memcpy(pre + (size_t)b * P, tok + (size_t)b * L, (size_t)P * sizeof *pre);
            gpu_prefill(&d, pre, P);
            double worst = 0;
            int greedy_ok = 1;
            for (int t = P - 1; t < L; t++) {
                if (t >= P) {
                    for (int b = 0; b < B; b++) next[b] = tok[(size_t)b * L + t];
                    gpu_set_tokens(&d, next);
                    gpu_step(&d);
                }
                gpu_fetch(&d, 1);
                for (int b = 0; b < B; b++) {
                    const float *r = ref + ((size_t)b * L + t) * V, *g = d.logits_h + (size_t)b * V;
                    worst = fmax(worst, max_rel_f32(g, r, (size_t)V));
                    /* the GPU's argmax must be a maximum of its own logits */
                    for (int v = 0; v < V; v++)
                        if (g[v] > g[d.tok_h[b]]) greedy_ok = 0;
                }
            }
            const int ok = worst <= bound && greedy_ok;
            fails += !ok;
            printf("decode self-check v%d %s, B=%d, L=%d, prefill %d then %d steps%s: max|step - forward|/max|forward| "
                   "= %.3e (bound %.0e), argmax %s  %s\n", version, bf16 ? "bf16 weights" : "fp32", B, L, P, L - P,
                   version == 3 ? " (one cooperative launch)" : graph ? " (CUDA graph)" : " (plain launches)", worst, bound, greedy_ok ? "ok" : "WRONG",
                   ok ? "PASS" : "FAIL");
            free(pre); free(next);
            gpu_decoder_free(&d);
        }
    free(ref); free(tok);
    lm_free(&m);
    return fails ? 1 : 0;
}

/* dec_sample (the GPU's (G.2)) against gen_sample's distribution (generate.c, float64 on the host)
 * on one row of V random logits (a few exact ties among them), for several (T, k, p):
 *   the kept set: the tokens whose key is ≥ the GPU's smallest kept key must be exactly the
 *   tokens gen_distribution gives a nonzero probability;
 *   the draws: n rows drawing from the same logits (ld = 0), R counters; every draw in the kept
 *   set, and Pearson's χ² of the counts against n·p (bins of expected count < 5 pooled) below
 *   df + 6·√(2 df) — a 6σ bound of the χ² distribution's normal approximation: a seed that
 *   fails is a wrong distribution, not bad luck;
 *   the seed: the same (seed, counter) draws the same tokens again. */
int gpu_sample_check(int V)
{
    const int Vs = V - 3, n = 2048, R = 25;
    float *lg = xmalloc((size_t)V * sizeof *lg);
    rng_t rng;
    rng_seed(&rng, 21);
    for (int i = 0; i < V; i++) lg[i] = (float)(2.5 * rng_normal(&rng));
    for (int i = 0; i < 40; i++) lg[(i * 7919 + 13) % Vs] = lg[(i * 104729 + 5) % Vs];   /* ties */
    float *lg_d = dalloc((size_t)V * sizeof *lg_d);
    int *tok_d = dalloc((size_t)n * sizeof *tok_d);
    unsigned long long *dbg_d = dalloc(4 * sizeof *dbg_d);
    LM_CUDA(cudaMemcpy(lg_d, lg, (size_t)V * sizeof *lg, cudaMemcpyHostToDevice));
    real *row = xmalloc((size_t)Vs * sizeof *row);
    for (int i = 0; i < Vs; i++) row[i] = (real)lg[i];
    double *prob = xmalloc((size_t)Vs * sizeof *prob), *cnt = xmalloc((size_t)Vs * sizeof *cnt);
    int *tok = xmalloc((size_t)n * sizeof *tok), *tok2 = xmalloc((size_t)n * sizeof *tok2);
    gen_scratch sc;
    gen_scratch_init(&sc, Vs);
    static const struct { double T; int k; double p; } cs[] = {
        {1.0, 0, 1.0}, {0.7, 40, 1.0}, {1.0, 0, 0.9}, {0.8, 50, 0.95}, {1.3, 1, 1.0}, {1.0, 0, 1e-6},
        {1.0, 2000, 0.5}, {2.0, 0, 0.99}};
    int fails = 0;
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        gen_distribution(row, Vs, cs[c].T, cs[c].k, cs[c].p, &sc, prob);
        /* the kept set */
        dec_sample(tok_d, lg_d, 0, 1, Vs, (float)cs[c].T, cs[c].k, (float)cs[c].p, 5, 0, dbg_d, NULL);
        unsigned long long dbg[4];
        LM_CUDA(cudaMemcpy(dbg, dbg_d, sizeof dbg, cudaMemcpyDeviceToHost));
        int kept = 0, set_diff = 0;
        for (int i = 0; i < Vs; i++) {
            uint32_t u;
            memcpy(&u, &lg[i], 4);
            u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);   /* argmax_key (decode.cu) */
            const unsigned long long key = ((unsigned long long)u << 32) | (0xffffffffu - (unsigned)i);
            const int in = key >= dbg[0];
            kept += in;
            set_diff += in != (prob[i] > 0);
        }
        /* the draws */
        memset(cnt, 0, (size_t)Vs * sizeof *cnt);
        int outside = 0, repro = 1;
        for (int r = 0; r < R; r++) {
            dec_sample(tok_d, lg_d, 0, n, Vs, (float)cs[c].T, cs[c].k, (float)cs[c].p, 77, (unsigned long long)r, NULL, NULL);
            LM_CUDA(cudaMemcpy(tok, tok_d, (size_t)n * sizeof *tok, cudaMemcpyDeviceToHost));
            for (int b = 0; b < n; b++) {
                if (tok[b] < 0 || tok[b] >= Vs || prob[tok[b]] == 0) { outside++; continue; }
                cnt[tok[b]] += 1;
            }
            if (r == 0) {   /* the same seed and counter again: the same tokens */
                dec_sample(tok_d, lg_d, 0, n, Vs, (float)cs[c].T, cs[c].k, (float)cs[c].p, 77, 0, NULL, NULL);
                LM_CUDA(cudaMemcpy(tok2, tok_d, (size_t)n * sizeof *tok2, cudaMemcpyDeviceToHost));
                repro = !memcmp(tok, tok2, (size_t)n * sizeof *tok);
            }
        }
        const double N = (double)n * R;
        double chi2 = 0, pool_e = 0, pool_o = 0, tv = 0;
        int df = -1;
        for (int i = 0; i < Vs; i++) {
            if (prob[i] == 0) continue;
            const double e = N * prob[i];
            tv += fabs(cnt[i] / N - prob[i]);
            if (e >= 5) { chi2 += (cnt[i] - e) * (cnt[i] - e) / e; df++; }
            else { pool_e += e; pool_o += cnt[i]; }
        }
        if (pool_e >= 5) { chi2 += (pool_o - pool_e) * (pool_o - pool_e) / pool_e; df++; }
        const double bound = df > 0 ? df + 6 * sqrt(2.0 * df) : 0;
        const int ok = set_diff == 0 && outside == 0 && repro && (df <= 0 || chi2 <= bound);
        fails += !ok;
        printf("sample check T=%.2f k=%d p=%g: kept %d (host %d differ), %.0f draws, outside the kept set %d, "
               "chi2 %.1f (df %d, bound %.1f), total variation %.4f, same seed same draws %s  %s\n",
               cs[c].T, cs[c].k, cs[c].p, kept, set_diff, N, outside, chi2, df, bound, 0.5 * tv, repro ? "yes" : "NO",
               ok ? "PASS" : "FAIL");
        fflush(stdout);   /* a run cut short by a time limit keeps its lines */
    }
    gen_scratch_free(&sc);
    free(lg); free(row); free(prob); free(cnt); free(tok); free(tok2);
    cudaFree(lg_d); cudaFree(tok_d); cudaFree(dbg_d);
    return fails ? 1 : 0;
}
