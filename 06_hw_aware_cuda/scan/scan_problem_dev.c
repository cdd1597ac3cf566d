/* 06_hw_aware_cuda/scan/scan_problem_dev.c — the scan problem on the device (see
 * scan_problem_dev.h). Built only with CUDA (HAVE_CUDA). */
#ifdef HAVE_CUDA
#include "06_hw_aware_cuda/scan/scan_problem_dev.h"

#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define TRY(call)                              \
    do {                                       \
        int rc_ = (call);                      \
        if (rc_ != SCAN_OK) return rc_;        \
    } while (0)
#define TRY_CUDA(call)                                       \
    do {                                                     \
        if ((call) != cudaSuccess) return SCAN_ECUDA;        \
    } while (0)

static int dalloc(void **p, size_t bytes)
{
    *p = NULL;
    return cudaMalloc(p, bytes ? bytes : 1) == cudaSuccess ? SCAN_OK : SCAN_ECUDA;
}

/* Host reals → device dtype; the host copy becomes the values the device holds. */
static int upload(real *h, size_t n, scan_dtype dt, void **dst)
{
    *dst = NULL;
    if (!h) return SCAN_OK;
    float *f = xmalloc_f32(n), *tmp = NULL;
    for (size_t i = 0; i < n; i++) f[i] = (float)h[i];
    int rc = dalloc((void **)&tmp, n * sizeof(float));
    if (!rc) rc = dalloc(dst, n * scan_dtype_size(dt));
    if (!rc && cudaMemcpy(tmp, f, n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess) rc = SCAN_ECUDA;
    if (!rc) rc = scan_convert(tmp, SCAN_F32, *dst, dt, n);
    if (!rc) rc = scan_convert(*dst, dt, tmp, SCAN_F32, n);
    if (!rc && cudaMemcpy(f, tmp, n * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) rc = SCAN_ECUDA;
    if (!rc)
        for (size_t i = 0; i < n; i++) h[i] = (real)f[i];
    cudaFree(tmp);
    free(f);
    return rc;
}

int scan_download(const void *dev, scan_dtype dt, size_t n, real *host)
{
    float *tmp = NULL, *f = xmalloc_f32(n);
    int rc = dalloc((void **)&tmp, n * sizeof(float));
    if (!rc) rc = scan_convert(dev, dt, tmp, SCAN_F32, n);
    if (!rc && cudaMemcpy(f, tmp, n * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) rc = SCAN_ECUDA;
    if (!rc)
        for (size_t i = 0; i < n; i++) host[i] = (real)f[i];
    cudaFree(tmp);
    free(f);
    return rc;
}

/* Output buffers for the inputs d->p has (and gradients when d->dout is set). */
static int alloc_outputs(scan_dev *d, int flags)
{
    const scan_params *p = &d->p;
    const size_t es = scan_dtype_size(p->dtype), dn = (size_t)p->D * p->N;
    TRY(dalloc(&d->out, d->nx * es));
    TRY(dalloc((void **)&d->last_state, d->nh * 4));
    TRY(dalloc((void **)&d->chunk_states, (size_t)p->batch * p->D * scan_nchunks(p->L) * p->N * 4));
    if (flags & SCAN_DEV_V1) TRY(dalloc(&d->v1_ws, scan_v1_workspace_bytes(p)));
    if (!d->dout) return SCAN_OK;
    scan_grads *g = &d->g;
    TRY(dalloc(&g->du, d->nx * es));
    TRY(dalloc(&g->ddelta, d->nx * es));
    if (p->z) TRY(dalloc(&g->dz, d->nx * es));
    TRY(dalloc((void **)&g->dA, dn * 4));
    TRY(dalloc((void **)&g->dB, d->nbc * 4));
    TRY(dalloc((void **)&g->dC, d->nbc * 4));
    if (p->Dskip) TRY(dalloc((void **)&g->dDskip, (size_t)p->D * 4));
    if (p->delta_bias) TRY(dalloc((void **)&g->ddelta_bias, (size_t)p->D * 4));
    if (p->h0) TRY(dalloc((void **)&g->dh0, d->nh * 4));
    if (scan_version_takes(SCAN_BWD_V6, p->N))
        TRY(dalloc((void **)&d->v6_ws, scan_v6_backward_workspace_bytes(p)));
    return SCAN_OK;
}

static void sizes(scan_dev *d, int batch, int D, int L, int N)
{
    d->nx = (size_t)batch * D * L, d->nbc = (size_t)batch * N * L, d->nh = (size_t)batch * D * N;
}

int scan_dev_upload(scan_dev *d, s6_problem *h, scan_dtype dt, int flags)
{
    memset(d, 0, sizeof *d);
    sizes(d, h->batch, h->D, h->L, h->N);
    const size_t dn = (size_t)h->D * h->N;
    void *u, *delta, *B, *C, *z, *A, *Ds, *bias, *h0;
    TRY(upload(h->u, d->nx, dt, &u));
    TRY(upload(h->delta, d->nx, dt, &delta));
    TRY(upload(h->B, d->nbc, dt, &B));
    TRY(upload(h->C, d->nbc, dt, &C));
    TRY(upload(h->z, d->nx, dt, &z));
    TRY(upload(h->A, dn, SCAN_F32, &A));
    TRY(upload(h->Dskip, (size_t)h->D, SCAN_F32, &Ds));
    TRY(upload(h->delta_bias, (size_t)h->D, SCAN_F32, &bias));
    TRY(upload(h->h0, d->nh, SCAN_F32, &h0));
    TRY(upload(h->dout, d->nx, dt, &d->dout));
    TRY(upload(h->dlast_state, d->nh, SCAN_F32, (void **)&d->dlast_state));
    d->p = (scan_params){.batch = h->batch, .D = h->D, .L = h->L, .N = h->N, .dtype = dt,
                         .u = u, .delta = delta, .A = A, .B = B, .C = C, .Dskip = Ds, .z = z,
                         .delta_bias = bias, .delta_softplus = h->delta_softplus, .h0 = h0};
    TRY(alloc_outputs(d, flags));
    return cudaDeviceSynchronize() == cudaSuccess ? SCAN_OK : SCAN_ECUDA;
}

/* The uniform range of input `name` in S6_TENSORS. */
static const s6_tensor *tensor(const char *name)
{
    for (int k = 0; k < S6_NIN; k++)
        if (!strcmp(S6_TENSORS[k].name, name)) return &S6_TENSORS[k];
    return NULL;
}

static int fill(void **dst, scan_dtype dt, size_t n, uint64_t seed, const char *name)
{
    const s6_tensor *t = tensor(name);
    TRY(dalloc(dst, n * scan_dtype_size(dt)));
    return scan_fill_uniform(*dst, dt, n, seed, (float)t->lo, (float)t->hi);
}

int scan_dev_fill(scan_dev *d, int batch, int D, int L, int N, scan_dtype dt, int with_grads,
                  int flags, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    sizes(d, batch, D, L, N);
    s6_problem par;   /* the per-channel parameters, drawn as the host maker draws them */
    s6_problem_make(&par, seed, 1, D, 1, N, S6P_ALL);
    void *u, *delta, *B, *C, *z, *A, *Ds, *bias;
    int rc = upload(par.A, (size_t)D * N, SCAN_F32, &A);
    if (!rc) rc = upload(par.Dskip, (size_t)D, SCAN_F32, &Ds);
    if (!rc) rc = upload(par.delta_bias, (size_t)D, SCAN_F32, &bias);
    s6_problem_free(&par);
    TRY(rc);
    TRY(fill(&u, dt, d->nx, seed + 1, "u"));
    TRY(fill(&delta, dt, d->nx, seed + 2, "delta"));
    TRY(fill(&z, dt, d->nx, seed + 3, "z"));
    TRY(fill(&B, dt, d->nbc, seed + 4, "B"));
    TRY(fill(&C, dt, d->nbc, seed + 5, "C"));
    if (with_grads) TRY(fill(&d->dout, dt, d->nx, seed + 6, "dout"));
    d->p = (scan_params){.batch = batch, .D = D, .L = L, .N = N, .dtype = dt, .u = u,
                         .delta = delta, .A = A, .B = B, .C = C, .Dskip = Ds, .z = z,
                         .delta_bias = bias, .delta_softplus = 1, .h0 = NULL};
    TRY(alloc_outputs(d, flags));
    return cudaDeviceSynchronize() == cudaSuccess ? SCAN_OK : SCAN_ECUDA;
}

/* Every output buffer with its size in bytes. */
static int outputs(const scan_dev *d, void **buf, size_t *bytes)
{
    const scan_params *p = &d->p;
    const size_t es = scan_dtype_size(p->dtype), dn = (size_t)p->D * p->N;
    const scan_grads *g = &d->g;
    void *b[] = {d->out, d->last_state, d->chunk_states, g->du, g->ddelta, g->dz, g->dA, g->dB,
                 g->dC, g->dDskip, g->ddelta_bias, g->dh0};
    const size_t s[] = {d->nx * es, d->nh * 4,
                        (size_t)p->batch * p->D * scan_nchunks(p->L) * p->N * 4, d->nx * es,
                        d->nx * es, d->nx * es, dn * 4, d->nbc * 4, d->nbc * 4,
                        (size_t)p->D * 4, (size_t)p->D * 4, d->nh * 4};
    memcpy(buf, b, sizeof b);
    memcpy(bytes, s, sizeof s);
    return (int)(sizeof b / sizeof *b);
}

int scan_dev_poison(scan_dev *d, int grads_only)
{
    void *buf[12];
    size_t bytes[12];
    const int n = outputs(d, buf, bytes);
    for (int i = grads_only ? 3 : 0; i < n; i++)   /* out, last_state, chunk_states first */
        if (buf[i]) TRY_CUDA(cudaMemset(buf[i], 0xff, bytes[i]));
    return SCAN_OK;
}

void scan_dev_free(scan_dev *d)
{
    void *buf[12];
    size_t bytes[12];
    const int n = outputs(d, buf, bytes);
    for (int i = 0; i < n; i++) cudaFree(buf[i]);
    const void *in[] = {d->p.u, d->p.delta, d->p.A, d->p.B, d->p.C, d->p.Dskip, d->p.z,
                        d->p.delta_bias, d->p.h0, d->dout, d->dlast_state, d->v1_ws, d->v6_ws,
                        d->v7_ws, d->v7_bwd_ws};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) cudaFree((void *)in[i]);
    memset(d, 0, sizeof *d);
}

int scan_dev_run(scan_dev *d, scan_version v)
{
    const scan_params *p = &d->p;
    switch (v) {
    case SCAN_V1: return scan_v1_forward(p, d->out, d->last_state, d->v1_ws);
    case SCAN_V2: return scan_v2_forward(p, d->out, d->last_state);
    case SCAN_V3: return scan_v3_forward(p, d->out, d->last_state, d->chunk_states);
    case SCAN_V4: return scan_v4_forward(p, d->out, d->last_state, d->chunk_states);
    case SCAN_V5: return scan_v5_forward(p, d->out, d->last_state, d->chunk_states);
    case SCAN_V6: return scan_v6_forward(p, d->out, d->last_state, d->chunk_states);
    case SCAN_BWD_V1: return scan_v1_backward(p, d->dout, d->dlast_state, d->v1_ws, &d->g);
    case SCAN_BWD_FUSED:
        return scan_fused_backward(p, d->dout, d->dlast_state, d->chunk_states, &d->g);
    case SCAN_BWD_V6:
        return scan_v6_backward(p, d->dout, d->dlast_state, d->chunk_states, d->v6_ws, &d->g);
    case SCAN_V7:
        if (!d->v7_ws) TRY(dalloc((void **)&d->v7_ws, scan_v7_forward_workspace_bytes(p)));
        return scan_v7_forward(p, d->out, d->last_state, d->chunk_states, d->v7_ws);
    case SCAN_BWD_V7:
        if (!d->dout) return SCAN_EARGS;
        if (!d->v7_bwd_ws) TRY(dalloc((void **)&d->v7_bwd_ws, scan_v7_backward_workspace_bytes(p)));
        return scan_v7_backward(p, d->dout, d->dlast_state, d->chunk_states, d->v7_bwd_ws, &d->g);
    default: return SCAN_EARGS;
    }
}

const void *scan_dev_output(const scan_dev *d, const s6_tensor *t, scan_dtype *dt)
{
    const scan_grads *g = &d->g;
    const struct { const char *name; const void *dev; int in_dtype; } o[] = {
        {"out", d->out, 1},       {"last_state", d->last_state, 0}, {"du", g->du, 1},
        {"ddelta", g->ddelta, 1}, {"dA", g->dA, 0},                 {"dB", g->dB, 0},
        {"dC", g->dC, 0},         {"dD", g->dDskip, 0},             {"dz", g->dz, 1},
        {"ddelta_bias", g->ddelta_bias, 0}, {"dh0", g->dh0, 0}};
    for (size_t i = 0; i < sizeof o / sizeof *o; i++)
        if (!strcmp(o[i].name, t->name)) {
            *dt = o[i].in_dtype ? d->p.dtype : SCAN_F32;
            return o[i].dev;
        }
    return NULL;
}

int scan_dev_solve(s6_problem *h, scan_version fwd, scan_version bwd)
{
    scan_dev d;
    s6_problem_alloc_outputs(h);
    int rc = scan_dev_upload(&d, h, SCAN_F32, fwd == SCAN_V1 ? SCAN_DEV_V1 : 0);
    if (!rc) rc = scan_dev_poison(&d, 0);
    if (!rc) rc = scan_dev_run(&d, fwd);
    if (!rc && h->dout) rc = scan_dev_run(&d, bwd);
    if (!rc && cudaDeviceSynchronize() != cudaSuccess) rc = SCAN_ECUDA;
    for (int k = S6_NIN; !rc && k < S6_NTENSORS; k++) {
        scan_dtype dt;
        real *host = *s6_slot(h, &S6_TENSORS[k]);
        const void *dev = scan_dev_output(&d, &S6_TENSORS[k], &dt);
        if (host && dev) rc = scan_download(dev, dt, s6_numel(h, &S6_TENSORS[k]), host);
    }
    scan_dev_free(&d);
    return rc;
}
#else
/* Without CUDA this file is empty; ISO C wants at least one declaration. */
typedef int scan_problem_dev_needs_cuda;
#endif
