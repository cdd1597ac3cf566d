/* 08_xlstm/vectors08.c — golden vectors of stage 08: one function, xlstm_outputs, computes
 * every output from the inputs, for --dump-vectors and for --check (any valid shape).
 *
 * The set: an mLSTM head (q, k, v, ĩ, f̃) through the three forms and the parallel form's
 * backward; an sLSTM layer (W x + b, block-diagonal R, both forget gates) forward and
 * BPTT; one LSTM cell step. Stored in `real` (float32 in the program). */
#include "08_xlstm/vectors08.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "08_xlstm/mlstm.h"
#include "08_xlstm/slstm.h"
#include "common/rng.h"
#include "common/util.h"
#include "common/vectors.h"

#define VEC_SEED 8
#define STAGE "08_xlstm"

typedef struct {
    real *q, *k, *v, *ig, *fg, *dh;     /* mLSTM head: (L, d) ×3, (L) ×2, dh (L, d) */
    int32_t *chunk;                     /* (1) */
    real *wx, *R, *dhs;                 /* sLSTM: (Ls, 4, ds), (4, NH, dh, dh), (Ls, ds) */
    real *pre, *c_prev;                 /* LSTM: (4, dl), (dl) */
} xin;

static void inputs_io(vec_set *v, xin *in)
{
    vec_input(v, "q", ELEM_REAL, "L d", &in->q, VEC_OPTIONAL, "mLSTM queries");
    vec_input(v, "k", ELEM_REAL, "L d", &in->k, VEC_OPTIONAL, "mLSTM keys, already scaled by 1/sqrt(d)");
    vec_input(v, "v", ELEM_REAL, "L d", &in->v, VEC_OPTIONAL, "mLSTM values");
    vec_input(v, "ig", ELEM_REAL, "L", &in->ig, VEC_OPTIONAL, "input gate pre-activations i~");
    vec_input(v, "fg", ELEM_REAL, "L", &in->fg, VEC_OPTIONAL, "forget gate pre-activations f~, f = sigmoid(f~)");
    vec_input(v, "chunk", ELEM_I32, "1", &in->chunk, VEC_OPTIONAL, "chunk length of the chunkwise form, >= 1");
    vec_input(v, "dh", ELEM_REAL, "L d", &in->dh, VEC_OPTIONAL, "upstream gradient of the mLSTM output");
    vec_input(v, "wx", ELEM_REAL, "Ls 4 ds", &in->wx, VEC_OPTIONAL,
              "sLSTM W x_t + b for gates i, f, z, o");
    vec_input(v, "R", ELEM_REAL, "4 NH dhd dhd", &in->R, VEC_OPTIONAL,
              "sLSTM recurrent weights, one dh x dh block per gate and head");
    vec_input(v, "dhs", ELEM_REAL, "Ls ds", &in->dhs, VEC_OPTIONAL, "upstream gradient of the sLSTM output");
    vec_input(v, "pre", ELEM_REAL, "4 dl", &in->pre, VEC_OPTIONAL, "LSTM pre-activations i, f, z, o");
    vec_input(v, "c_prev", ELEM_REAL, "dl", &in->c_prev, VEC_OPTIONAL, "LSTM previous cell state");
    if (in->chunk && in->chunk[0] < 1) vec_reject(v, "chunk", "expected >= 1, got %d", in->chunk[0]);
    if (in->R && vec_dim(v, "NH") * vec_dim(v, "dhd") != vec_dim(v, "ds"))
        vec_reject(v, "R", "NH x dh = %zu x %zu must equal ds = %zu of wx", vec_dim(v, "NH"), vec_dim(v, "dhd"),
                   vec_dim(v, "ds"));
}

static void xlstm_outputs(vec_set *v, const xin *in)
{
    const size_t L = vec_dim(v, "L"), d = vec_dim(v, "d"), Ls = vec_dim(v, "Ls"), ds = vec_dim(v, "ds");
    const size_t dl = vec_dim(v, "dl");
    /* float32 sums of up to L terms through exp of cumulative log gates: L·ε₃₂ relative to
     * the output's scale ≈ 4e-6 at L = 64; an independent float64 implementation differs
     * from ours by that rounding only. 1e-4 of max|h| leaves the margin of a longer L. */
    const vec_tol sums = VEC_TOL_MAX(1e-4, 1e-4, "float32 sums over <= L steps: L*eps32 of the scale, "
                                                 "allowed 1e-4 of max|out|");
    const int mh = in->q && in->k && in->v && in->ig && in->fg;
    mlstm_args a = {.L = (int)L, .d_qk = (int)d, .d_v = (int)d, .ld = (int)d, .ldg = 1, .q = in->q, .k = in->k,
                    .v = in->v, .ig = in->ig, .fg = in->fg};
    const size_t n = L * d;
    real *h = mh ? xmalloc(n * sizeof(real)) : NULL;
    if (mh) mlstm_recurrent(&a, h);
    vec_output(v, "h_mlstm_recurrent", ELEM_REAL, 2, (size_t[]){L, d}, h, sums,
               "mLSTM h~_t = C_t q_t / max(|n_t.q_t|, 1), C_t = f C + i v k^T, recurrent form (8.8)");
    if (mh) mlstm_parallel(&a, h);
    vec_output(v, "h_mlstm_parallel", ELEM_REAL, 2, (size_t[]){L, d}, h, sums,
               "the same through the parallel form (8.9): equal to the recurrent one");
    const int mc = mh && in->chunk;
    if (mc) mlstm_chunkwise(&a, in->chunk[0], h);
    vec_output(v, "h_mlstm_chunkwise", ELEM_REAL, 2, (size_t[]){L, d}, mc ? h : NULL, sums,
               "the same through the chunkwise form (8.10)-(8.11) with the given chunk");
    free(h);

    const int mg = mh && in->dh;
    real *g[5] = {0};
    for (int k = 0; k < 5 && mg; k++) g[k] = xcalloc(k < 3 ? n : L, sizeof(real));
    if (mg) {
        mlstm_grads gr = {g[0], g[1], g[2], g[3], g[4]};
        mlstm_parallel_backward(&a, in->dh, &gr);
    }
    const vec_tol grads = VEC_TOL_MAX(1e-3, 1e-4, "float32 backward over <= L^2 terms; 1e-4 of max|grad|, "
                                                  "rtol 1e-3 where a sum cancels");
    const char *gn[5] = {"dq", "dk", "dv", "dig", "dfg"};
    const char *gm[5] = {"gradient of sum(dh * h~) w.r.t. q", "w.r.t. the (scaled) k",
                         "w.r.t. v", "w.r.t. i~ (L)", "w.r.t. f~ (L)"};
    for (int k = 0; k < 5; k++)
        vec_output(v, gn[k], ELEM_REAL, k < 3 ? 2 : 1, k < 3 ? (size_t[]){L, d} : (size_t[]){L}, g[k], grads, gm[k]);
    for (int k = 0; k < 5; k++) free(g[k]);

    /* sLSTM, both forget gates */
    const int sh = in->wx && in->R;
    for (int expf = 0; expf <= 1; expf++) {
        slstm_cfg c = {.d = (int)ds, .n_heads = (int)vec_dim(v, "NH"), .exp_forget = expf};
        real *hs = sh ? xmalloc(Ls * ds * sizeof(real)) : NULL;
        real *cache = sh ? xmalloc(slstm_cache_size(&c, (int)Ls) * sizeof(real)) : NULL;
        if (sh) slstm_forward(&c, (int)Ls, in->wx, in->R, 1, hs, cache);
        char name[32], meaning[200];
        snprintf(name, sizeof name, "h_slstm_%s", expf ? "exp" : "sig");
        snprintf(meaning, sizeof meaning, "sLSTM h_t = o c_t/n_t (8.2)-(8.6), %s forget gate, stabilized (Ls, ds)",
                 expf ? "exponential" : "sigmoid");
        vec_output(v, name, ELEM_REAL, 2, (size_t[]){Ls, ds}, hs,
                   VEC_TOL_MAX(1e-4, 1e-5, "a recurrence of Ls float32 steps through R: Ls*eps32 growth"), meaning);
        const int sg = sh && in->dhs;
        real *dwx = sg ? xcalloc(Ls * 4 * ds, sizeof(real)) : NULL;
        real *dR = sg ? xcalloc(4 * ds * (ds / (c.n_heads ? c.n_heads : 1)), sizeof(real)) : NULL;
        if (sg) slstm_backward(&c, (int)Ls, in->R, hs, cache, in->dhs, dwx, dR);
        snprintf(name, sizeof name, "dwx_slstm_%s", expf ? "exp" : "sig");
        vec_output(v, name, ELEM_REAL, 3, (size_t[]){Ls, 4, ds}, dwx,
                   VEC_TOL_MAX(1e-3, 1e-4, "float32 backpropagation through Ls steps"),
                   "gradient of sum(dhs * h) w.r.t. wx (BPTT)");
        snprintf(name, sizeof name, "dR_slstm_%s", expf ? "exp" : "sig");
        vec_output(v, name, ELEM_REAL, 4,
                   (size_t[]){4, vec_dim(v, "NH"), vec_dim(v, "dhd"), vec_dim(v, "dhd")}, dR,
                   VEC_TOL_MAX(1e-3, 1e-4, "float32 sums over Ls steps of dpre h^T"),
                   "gradient w.r.t. R");
        free(hs); free(cache); free(dwx); free(dR);
    }

    /* LSTM (8.1) */
    const int lh = in->pre && in->c_prev;
    real *c = lh ? xmalloc(dl * sizeof(real)) : NULL, *hl = lh ? xmalloc(dl * sizeof(real)) : NULL;
    if (lh) lstm_cell((int)dl, in->pre, in->c_prev, c, hl);
    const vec_tol pw = VEC_TOL(1e-5, 1e-6, "a few float32 operations per element: ~10 eps32");
    vec_output(v, "c_lstm", ELEM_REAL, 1, (size_t[]){dl}, c, pw, "LSTM c = sigmoid(f~) c_prev + sigmoid(i~) tanh(z~) (8.1)");
    vec_output(v, "h_lstm", ELEM_REAL, 1, (size_t[]){dl}, hl, pw, "LSTM h = sigmoid(o~) tanh(c) (8.1)");
    free(c); free(hl);
}

static real *rnd(rng_t *r, size_t n, double mean, double sd)
{
    real *x = xmalloc(n * sizeof(real));
    for (size_t i = 0; i < n; i++) x[i] = (real)(mean + sd * rng_normal(r));
    return x;
}

static void inputs_make(vec_set *v, xin *in)
{
    const size_t L = 64, d = 8, Ls = 24, NH = 2, dhd = 3, ds = NH * dhd, dl = 5;
    vec_dim_set(v, "L", L), vec_dim_set(v, "d", d), vec_dim_set(v, "Ls", Ls), vec_dim_set(v, "ds", ds);
    vec_dim_set(v, "NH", NH), vec_dim_set(v, "dhd", dhd), vec_dim_set(v, "dl", dl);
    rng_t r;
    rng_seed(&r, VEC_SEED);
    in->q = rnd(&r, L * d, 0, 1);
    in->k = rnd(&r, L * d, 0, 1 / sqrt((double)d));
    in->v = rnd(&r, L * d, 0, 1);
    in->ig = rnd(&r, L, 0, 2);
    in->fg = rnd(&r, L, 3, 1.5);
    in->dh = rnd(&r, L * d, 0, 1);
    in->chunk = xmalloc(sizeof(int32_t));
    in->chunk[0] = 16;
    in->wx = rnd(&r, Ls * 4 * ds, 0, 1);
    in->R = rnd(&r, 4 * NH * dhd * dhd, 0, 1 / sqrt((double)dhd));
    in->dhs = rnd(&r, Ls * ds, 0, 1);
    in->pre = rnd(&r, 4 * dl, 0, 1);
    in->c_prev = rnd(&r, dl, 0, 1);
}

int xlstm_vectors(const char *dir, int dumping)
{
    vec_set *v = dumping ? vec_set_dump(dir, STAGE,
                                        "xLSTM cells: one mLSTM head (L=64, d=8) through the recurrent, parallel "
                                        "and chunkwise forms and the parallel form's backward; an sLSTM layer "
                                        "(Ls=24, 2 heads of 3) with sigmoid and exponential forget gates, forward "
                                        "and BPTT; one LSTM step", VEC_SEED)
                         : vec_set_check(dir, STAGE);
    xin in = {0};
    if (dumping) inputs_make(v, &in);
    inputs_io(v, &in);
    xlstm_outputs(v, &in);
    free(in.q); free(in.k); free(in.v); free(in.ig); free(in.fg); free(in.dh); free(in.chunk);
    free(in.wx); free(in.R); free(in.dhs); free(in.pre); free(in.c_prev);
    if (dumping) printf("vectors written to %s\n", dir);
    return vec_set_close(v);
}
