/* 07_ssd_mamba2/vectors07.c — golden vectors of stage 07 (see vectors07.h): one function
 * per problem computes every output from the inputs, for --dump-vectors and --check. */
#include "07_ssd_mamba2/vectors07.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "07_ssd_mamba2/mamba2.h"
#include "07_ssd_mamba2/ssd.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define VEC_SEED 7

/* ======================= the SSD layer (float64) ======================= */
typedef struct {
    double *x, *dt, *A, *B, *C, *D, *dy;
    int64_t *chunk;
} ssd_inputs;

static void ssd_inputs_io(vec_set *v, ssd_inputs *in)
{
    vec_input(v, "x", ELEM_F64, "batch L H P", &in->x, VEC_OPTIONAL, "input of each head (batch, L, H, P)");
    vec_input(v, "dt", ELEM_F64, "batch L H", &in->dt, VEC_OPTIONAL, "step Delta > 0 per head (batch, L, H)");
    vec_input(v, "A", ELEM_F64, "H", &in->A, VEC_OPTIONAL, "scalar decay rate A_h < 0 per head");
    vec_input(v, "B", ELEM_F64, "batch L G N", &in->B, VEC_OPTIONAL, "input vectors B_t per group (batch, L, G, N)");
    vec_input(v, "C", ELEM_F64, "batch L G N", &in->C, VEC_OPTIONAL, "output vectors C_t per group (batch, L, G, N)");
    vec_input(v, "D", ELEM_F64, "H", &in->D, VEC_OPTIONAL, "skip D_h per head");
    vec_input(v, "chunk", ELEM_I64, "1", &in->chunk, VEC_OPTIONAL, "chunk length Q of the chunk-step outputs");
    vec_input(v, "dy", ELEM_F64, "batch L H P", &in->dy, VEC_OPTIONAL, "upstream gradient of y for the backward outputs");
    const size_t nt = vec_dim(v, "batch") * vec_dim(v, "L") * vec_dim(v, "H");
    for (size_t i = 0; in->dt && i < nt; i++)
        if (!(in->dt[i] > 0)) vec_reject(v, "dt", "dt[%zu]: expected > 0, got %g", i, in->dt[i]);
    for (size_t h = 0; in->A && h < vec_dim(v, "H"); h++)
        if (!(in->A[h] < 0)) vec_reject(v, "A", "A[%zu]: expected < 0, got %g", h, in->A[h]);
    if (in->B && vec_dim(v, "H") % vec_dim(v, "G"))
        vec_reject(v, "B", "groups G = %zu must divide heads H = %zu", vec_dim(v, "G"), vec_dim(v, "H"));
    if (in->chunk && (in->chunk[0] < 1 || in->chunk[0] > (1 << 24)))
        vec_reject(v, "chunk", "expected a chunk length in [1, 2^24], got %lld", (long long)in->chunk[0]);
}

static void ssd_outputs(vec_set *v, const ssd_inputs *in)
{
    const int have = in->x && in->dt && in->A && in->B && in->C && in->D;
    const size_t batch = vec_dim(v, "batch"), L = vec_dim(v, "L"), H = vec_dim(v, "H"), P = vec_dim(v, "P"),
                 G = vec_dim(v, "G"), N = vec_dim(v, "N");
    ssd_args_f64 a = {{(int)batch, (int)L, (int)H, (int)P, (int)G, (int)N}, in->x, in->dt, in->A, in->B, in->C, in->D, NULL};
    const size_t ny = batch * L * H * P, ns = batch * H * P * N;
    /* Tolerance of every forward output: norm-wise 1e-12 (atol 1e-12 · max|y|, as the
     * tests): ≤ L terms per output, each with O(N + P) roundings, damped by the decay. */
    const vec_tol fwd = VEC_TOL_MAX(1e-10, 1e-12, "a sum of <= L decayed terms of O(N+P) roundings each: "
                                                  "~(L_eff + N)·eps of the largest output, allowed 1e-12 norm-wise");
    double *y = have ? xmalloc_f64(ny) : NULL, *hl = have ? xmalloc_f64(ns) : NULL;
    if (have) ssd_scan_f64(&a, y, hl);
    vec_output(v, "y", ELEM_F64, 4, (size_t[]){batch, L, H, P}, y, fwd, "SSD output y (7.3), with D x");
    vec_output(v, "h_last", ELEM_F64, 4, (size_t[]){batch, H, P, N}, hl, fwd, "final state h_L (batch, H, P, N)");
    free(y), free(hl);

    double *M = have && vec_wants(v, "M") ? xmalloc_f64(batch * H * L * L) : NULL;
    for (size_t b = 0; M && b < batch; b++)
        for (size_t h = 0; h < H; h++) ssd_matrix_f64(&a, (int)b, (int)h, M + (b * H + h) * L * L);
    vec_output(v, "M", ELEM_F64, 4, (size_t[]){batch, H, L, L}, M,
               VEC_TOL_MAX(1e-12, 1e-14, "each entry one exp of a running segment sum times a dot product of "
                                         "length N: a few ulps, allowed 1e-12 relative"),
               "the semiseparable matrix M = L o (C B^T) diag(dt) of each (b, h), zero above the diagonal, no D");
    free(M);

    const int chunked = have && in->chunk;
    const int Q = chunked ? (int)in->chunk[0] : 1, nc = chunked ? ssd_nchunks((int)L, Q) : 0;
    double *yd = chunked ? xmalloc_f64(ny) : NULL, *st = chunked ? xmalloc_f64(batch * nc * H * P * N) : NULL,
           *ste = chunked ? xmalloc_f64(batch * nc * H * P * N) : NULL;
    if (chunked) {
        ssd_chunk_diag_f64(&a, Q, yd);
        ssd_chunk_states_f64(&a, Q, st);
        memcpy(ste, st, batch * nc * H * P * N * sizeof(double));
        ssd_state_passing_f64(&a, Q, ste, NULL);
    }
    vec_output(v, "y_diag", ELEM_F64, 4, (size_t[]){batch, L, H, P}, yd, fwd,
               "step 1 (7.6): each chunk of Q as if entered from a zero state, no D");
    vec_output(v, "chunk_states", ELEM_F64, 5, (size_t[]){batch, (size_t)nc, H, P, N}, st, fwd,
               "step 2 (7.7): the state each chunk builds from zero by its end");
    vec_output(v, "chunk_states_entering", ELEM_F64, 5, (size_t[]){batch, (size_t)nc, H, P, N}, ste, fwd,
               "step 3 (7.8): the state entering each chunk (zero for the first)");
    free(yd), free(st), free(ste);

    const int bwd = have && in->dy;
    const size_t nt = batch * L * H, nb = batch * L * G * N;
    ssd_grads_f64 g = {bwd ? xcalloc(ny, 8) : NULL, bwd ? xcalloc(nt, 8) : NULL, bwd ? xcalloc(H, 8) : NULL,
                       bwd ? xcalloc(nb, 8) : NULL, bwd ? xcalloc(nb, 8) : NULL, bwd ? xcalloc(H, 8) : NULL, NULL};
    if (bwd) ssd_backward_f64(&a, in->dy, NULL, &g);
    const vec_tol grad = VEC_TOL_MAX(1e-9, 1e-11, "the reverse recurrence: as the forward, and sums over L "
                                                  "(dA, dD) or over heads (dB, dC): allowed 1e-11 norm-wise");
    vec_output(v, "dx", ELEM_F64, 4, (size_t[]){batch, L, H, P}, g.dx, grad, "d(sum dy*y)/dx");
    vec_output(v, "ddt", ELEM_F64, 3, (size_t[]){batch, L, H}, g.ddt, grad, "d(sum dy*y)/d dt");
    vec_output(v, "dA", ELEM_F64, 1, (size_t[]){H}, g.dA, grad, "d(sum dy*y)/dA");
    vec_output(v, "dB", ELEM_F64, 4, (size_t[]){batch, L, G, N}, g.dB, grad, "d(sum dy*y)/dB");
    vec_output(v, "dC", ELEM_F64, 4, (size_t[]){batch, L, G, N}, g.dC, grad, "d(sum dy*y)/dC");
    vec_output(v, "dD", ELEM_F64, 1, (size_t[]){H}, g.dD, grad, "d(sum dy*y)/dD");
    free(g.dx), free(g.ddt), free(g.dA), free(g.dB), free(g.dC), free(g.dD);
}

static void ssd_inputs_make(vec_set *v, ssd_inputs *in)
{
    const size_t batch = 2, L = 70, H = 4, P = 3, G = 2, N = 5;
    vec_dim_set(v, "batch", batch), vec_dim_set(v, "L", L), vec_dim_set(v, "H", H);
    vec_dim_set(v, "P", P), vec_dim_set(v, "G", G), vec_dim_set(v, "N", N);
    rng_t r;
    rng_seed(&r, VEC_SEED);
    const size_t nx = batch * L * H * P, nt = batch * L * H, nb = batch * L * G * N;
    in->x = xmalloc_f64(nx), in->dt = xmalloc_f64(nt), in->A = xmalloc_f64(H), in->B = xmalloc_f64(nb);
    in->C = xmalloc_f64(nb), in->D = xmalloc_f64(H), in->dy = xmalloc_f64(nx), in->chunk = xmalloc(sizeof(int64_t));
    rng_fill_normal(&r, in->x, nx, 0, 1);
    for (size_t i = 0; i < nt; i++) in->dt[i] = exp(rng_uniform_range(&r, log(1e-3), log(1e-1)));
    for (size_t h = 0; h < H; h++) in->A[h] = -rng_uniform_range(&r, 1, 16);
    rng_fill_normal(&r, in->B, nb, 0, 1);
    rng_fill_normal(&r, in->C, nb, 0, 1);
    rng_fill_normal(&r, in->D, H, 0, 1);
    rng_fill_normal(&r, in->dy, nx, 0, 1);
    in->chunk[0] = 16;   /* 70 = 4·16 + 6: a short last chunk */
}

/* ======================= the Mamba-2 language model (`real`) ======================= */
typedef struct {
    int64_t *config;
    int32_t *ids, *tgt;
    mamba2_model m;
    int have;
} lm_inputs;

static void lm_config(const int64_t *c, mamba2_config *cfg)
{
    *cfg = (mamba2_config){.vocab = (int)c[0], .d_model = (int)c[1], .n_layer = (int)c[2], .d_state = (int)c[3],
                           .head_dim = (int)c[4], .n_groups = (int)c[5], .d_conv = (int)c[6], .expand = (int)c[7],
                           .chunk = (int)c[8], .norm_group = (int)c[9]};
}

static void lm_inputs_io(vec_set *v, lm_inputs *in, int dumping)
{
    vec_input(v, "config", ELEM_I64, "10", &in->config, VEC_OPTIONAL,
              "vocab, d_model, n_layer, d_state N, head_dim P, n_groups G, d_conv K, expand, chunk, norm group size");
    if (!in->config) return;
    if (!dumping) {
        for (int i = 0; i < 10; i++)
            if (in->config[i] < 1 || in->config[i] > 65536)
                vec_reject(v, "config", "entry %d: expected in [1, 65536], got %lld", i, (long long)in->config[i]);
        mamba2_config cfg;
        lm_config(in->config, &cfg);
        mamba2_init(&in->m, &cfg, 1);     /* exit 2 naming the field if inconsistent */
    }
    vec_input(v, "input_ids", ELEM_I32, "lm_batch lm_L", &in->ids, VEC_REQUIRED, "tokens (batch, L)");
    vec_input(v, "targets", ELEM_I32, "lm_batch lm_L", &in->tgt, VEC_REQUIRED,
              "target of each position (batch, L), -1 = not scored");
    const size_t n = vec_dim(v, "lm_batch") * vec_dim(v, "lm_L");
    const int V = in->m.cfg.vocab;
    for (size_t i = 0; i < n; i++) {
        if (in->ids[i] < 0 || in->ids[i] >= V) vec_reject(v, "input_ids", "entry %zu: %d outside [0, %d)", i, in->ids[i], V);
        if (in->tgt[i] < -1 || in->tgt[i] >= V) vec_reject(v, "targets", "entry %zu: %d outside [-1, %d)", i, in->tgt[i], V);
    }
    for (int i = 0; i < in->m.n_tensors; i++) {
        const mamba2_tensor *t = &in->m.t[i];
        char pattern[96];
        if (t->ndim == 1) snprintf(pattern, sizeof pattern, "%zu", t->shape[0]);
        else if (t->ndim == 2) snprintf(pattern, sizeof pattern, "%zu %zu", t->shape[0], t->shape[1]);
        else snprintf(pattern, sizeof pattern, "%zu %zu %zu", t->shape[0], t->shape[1], t->shape[2]);
        real *p = mamba2_param(&in->m, t), *data = p;
        vec_input(v, t->name, ELEM_REAL, pattern, &data, VEC_REQUIRED, "parameter (Hugging Face Mamba2ForCausalLM name)");
        if (!dumping) memcpy(p, data, t->size * sizeof(real)), free(data);
    }
    in->have = 1;
}

static void lm_outputs(vec_set *v, lm_inputs *in)
{
    mamba2_model *m = &in->m;
    const size_t B = vec_dim(v, "lm_batch"), L = vec_dim(v, "lm_L"), V = in->have ? (size_t)m->cfg.vocab : 0;
    real *logits = in->have ? xmalloc(B * L * V * sizeof(real)) : NULL, loss = 0;
    if (in->have) {
        int *ids = xmalloc(B * L * sizeof(int)), *tgt = xmalloc(B * L * sizeof(int));
        for (size_t i = 0; i < B * L; i++) ids[i] = in->ids[i], tgt[i] = in->tgt[i];
        memset(m->grads, 0, m->n_params * sizeof(real));
        loss = (real)mamba2_forward(m, ids, tgt, (int)B, (int)L, logits);
        mamba2_backward(m, ids, tgt);
        free(ids), free(tgt);
    }
    /* `real` is float in the program, double in the float64 test build: tolerances in
     * units of its epsilon. Two layers, sums over d_model, N, P and L of O(1) terms:
     * ~1e2·eps of the largest logit; gradients add the backward's sums (~1e3·eps). */
    vec_output(v, "logits", ELEM_REAL, 3, (size_t[]){B, L, V}, logits,
               VEC_TOL_MAX(1e3 * REAL_EPS, 1e3 * REAL_EPS, "sums of O(d_model + N + L) terms through two "
                                                            "layers: ~1e2 eps of the largest logit, allowed 1e3 eps"),
               "logits (batch, L, vocab), head tied to the embedding");
    vec_output(v, "loss", ELEM_REAL, 1, (size_t[]){1}, in->have ? &loss : NULL,
               VEC_TOL(1e3 * REAL_EPS, 0, "a mean of log-softmax values of the logits: their error"),
               "mean cross-entropy over the scored positions");
    for (int i = 0; in->config && i < m->n_tensors; i++) {
        const mamba2_tensor *t = &m->t[i];
        char name[128], meaning[160];
        snprintf(name, sizeof name, "grad.%s", t->name);
        snprintf(meaning, sizeof meaning, "d loss / d %s", t->name);
        vec_output(v, name, ELEM_REAL, t->ndim, t->shape, in->have ? mamba2_grad(m, t) : NULL,
                   VEC_TOL_MAX(1e4 * REAL_EPS, 1e4 * REAL_EPS, "the backward sums over batch, L and the "
                                                              "layer's widths: ~1e3 eps of the tensor's largest entry, allowed 1e4"),
                   meaning);
    }
    free(logits);
}

/* The seeded LM: 2 layers, 2 groups, norm per group, chunk 8 over L = 20; parameters
 * moved off their init (as the HF script does) so no gradient hides behind D = 1. */
static void lm_inputs_make(vec_set *v, lm_inputs *in)
{
    in->config = xmalloc(10 * sizeof(int64_t));
    const int64_t c[10] = {32, 16, 2, 8, 8, 2, 4, 2, 8, 16};
    memcpy(in->config, c, sizeof c);
    mamba2_config cfg;
    lm_config(in->config, &cfg);
    mamba2_init(&in->m, &cfg, VEC_SEED);
    rng_t r;
    rng_seed(&r, VEC_SEED + 1);
    for (size_t i = 0; i < in->m.n_params; i++) in->m.params[i] += (real)(0.1 * rng_normal(&r));
    const size_t B = 2, L = 20;
    vec_dim_set(v, "lm_batch", B), vec_dim_set(v, "lm_L", L);
    in->ids = xmalloc(B * L * sizeof(int32_t)), in->tgt = xmalloc(B * L * sizeof(int32_t));
    for (size_t i = 0; i < B * L; i++) in->ids[i] = (int32_t)rng_below(&r, 32);
    for (size_t i = 0; i < B * L; i++) in->tgt[i] = (i % L == L - 1) ? -1 : in->ids[i + 1];
}

int ssd07_vectors(const char *dir, int dumping)
{
    vec_set *v = dumping ? vec_set_dump(dir, "07_ssd_mamba2",
                                        "The SSD layer (scan, matrix M, the chunked algorithm's steps, backward) on a "
                                        "random problem of 4 heads in 2 groups, L = 70 in chunks of 16; and a 2-layer "
                                        "Mamba-2 LM with Hugging Face tensor names: logits, loss, every gradient", VEC_SEED)
                         : vec_set_check(dir, "07_ssd_mamba2");
    ssd_inputs si = {0};
    lm_inputs li = {0};
    if (dumping) ssd_inputs_make(v, &si), lm_inputs_make(v, &li);
    ssd_inputs_io(v, &si);
    ssd_outputs(v, &si);
    lm_inputs_io(v, &li, dumping);
    lm_outputs(v, &li);
    free(si.x), free(si.dt), free(si.A), free(si.B), free(si.C), free(si.D), free(si.dy), free(si.chunk);
    free(li.config), free(li.ids), free(li.tgt);
    if (li.m.params) mamba2_free(&li.m);
    if (dumping) printf("vectors written to %s\n", dir);
    return vec_set_close(v);
}
