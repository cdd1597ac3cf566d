/* 04_hippo_s4/s4d_model.c — a deep S4D model with a hand-written backward (chapter §4.4). */
#include "04_hippo_s4/s4d_model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "03_recurrent_conv/recconv.h"
#include "04_hippo_s4/s4.h"
#include "common/rng.h"
#include "common/json.h"
#include "common/safetensors.h"
#include "common/util.h"

/* ---------------------------------------------------------------- the kernel */

static double complex lambda_of(double are, double aim) { return -exp(are) + I * aim; }

void s4d_channel_kernel(int Nh, double log_dt, const double *A_re_log, const double *A_im,
                        const double *B_re, const double *B_im, const double *C_re,
                        const double *C_im, int L, double *K)
{
    double complex *lam = xmalloc(3 * (size_t)Nh * sizeof *lam), *B = lam + Nh, *C = B + Nh;
    for (int n = 0; n < Nh; n++) {
        lam[n] = lambda_of(A_re_log[n], A_im[n]);
        B[n] = B_re[n] + I * B_im[n];
        C[n] = C_re[n] + I * C_im[n];
    }
    s4d_kernel(Nh, lam, B, C, exp(log_dt), DISC_ZOH, L, K); /* (4.14) */
    free(lam);
}

/* dφ/dλ for φ(λ) = (e^{Δλ} - 1)/λ = Δ φ₁(Δλ). Direct formula (Δ e^{Δλ} - φ)/λ loses
 * digits to cancellation when |Δλ| is small; there the series
 * Δ² Σ_{k≥1} k z^{k-1}/(k+1)!  (z = Δλ) is used (|z| < 0.1: 12 terms reach 1e-17). */
static double complex dphi_dlambda(double dt, double complex lam, double complex Ab,
                                   double complex phi)
{
    double complex z = dt * lam;
    if (cabs(z) >= 0.1) return (dt * Ab - phi) / lam;
    double complex s = 0, zp = 1;
    double fact = 2; /* (k+1)! for k = 1 */
    for (int k = 1; k <= 12; k++) {
        s += k * zp / fact;
        zp *= z;
        fact *= k + 2;
    }
    return dt * dt * s;
}

void s4d_channel_kernel_backward(int Nh, double log_dt, const double *A_re_log,
                                 const double *A_im, const double *B_re, const double *B_im,
                                 const double *C_re, const double *C_im, int L,
                                 const double *dK, double *dlog_dt, double *dA_re_log,
                                 double *dA_im, double *dB_re, double *dB_im, double *dC_re,
                                 double *dC_im)
{
    double dt = exp(log_dt), ddt = 0;
    for (int n = 0; n < Nh; n++) {
        double complex lam = lambda_of(A_re_log[n], A_im[n]);
        double complex B = B_re[n] + I * B_im[n], C = C_re[n] + I * C_im[n];
        double complex Ab = cexp(dt * lam), phi = dt * phi1(dt * lam);
        /* (4.16) ℓ = Σ_j dK_j K_j = Re F,  F = 2 Σ_n C_n B_n φ_n G_n,
         * G_n = Σ_j dK_j Ā_n^j,  G1_n = Σ_j j dK_j Ā_n^j  (d Ā^j/dλ = jΔ Ā^j). */
        double complex G = 0, G1 = 0, p = 1;
        for (int j = 0; j < L; j++) {
            G += dK[j] * p;
            G1 += (double)j * dK[j] * p;
            p *= Ab;
        }
        double complex FC = 2 * B * phi * G, FB = 2 * C * phi * G;
        double complex Flam = 2 * C * B * (dphi_dlambda(dt, lam, Ab, phi) * G + phi * dt * G1);
        double complex Fdt = 2 * C * B * (Ab * G + phi * lam * G1); /* dφ/dΔ = e^{Δλ} */
        /* For a real parameter x with p(x) holomorphic-in: dℓ/dx = Re(F_p dp/dx):
         * d/dRe = Re F_p, d/dIm = Re(i F_p) = -Im F_p. */
        dC_re[n] += creal(FC); dC_im[n] += -cimag(FC);
        dB_re[n] += creal(FB); dB_im[n] += -cimag(FB);
        dA_re_log[n] += creal(Flam * -exp(A_re_log[n])); /* Re λ = -exp(A_re_log) */
        dA_im[n] += -cimag(Flam);
        ddt += creal(Fdt);
    }
    *dlog_dt += dt * ddt; /* Δ = exp(log Δ) */
}

/* ------------------------------------------------------- the FFT convolution */

void conv_causal_fft_backward(const double *K, const double *x, int L, double D,
                              const double *dy, double *dK, double *dx, double *dD)
{
    /* LAB 4.3 BEGIN: The backward of the FFT convolution (4.17) */
    double *rdy = xmalloc_f64(2 * (size_t)L), *o = rdy + L;
    for (int t = 0; t < L; t++) rdy[t] = dy[L - 1 - t];
    if (dx) { /* (4.17) dx_t = Σ_{s≥t} K_{s-t} dy_s + D dy_t: a convolution in reversed time */
        conv_causal_fft(K, rdy, L, D, o);
        for (int t = 0; t < L; t++) dx[t] += o[L - 1 - t];
    }
    if (dK) { /* dK_j = Σ_t dy_t x_{t-j} */
        conv_causal_fft(x, rdy, L, 0.0, o);
        for (int j = 0; j < L; j++) dK[j] += o[L - 1 - j];
    }
    if (dD) {
        double s = 0;
        for (int t = 0; t < L; t++) s += dy[t] * x[t];
        *dD += s;
    }
    free(rdy);
    /* LAB END */
}

/* ---------------------------------------------------------------- the model */

static const char *const lt_name[LT_N] = {"log_dt", "A_re_log", "A_im", "B_re", "B_im",
                                          "C_re", "C_im", "D", "mixer.weight", "mixer.bias",
                                          "norm.weight", "norm.bias"};

int s4d_tidx(const s4d_model *m, int l, int k) { (void)m; return 2 + l * LT_N + k; }
int s4d_dec_w(const s4d_model *m) { return 2 + m->cfg.nlayers * LT_N; }
double *s4d_param(s4d_model *m, int i) { return m->params + m->t[i].off; }
double *s4d_grad(s4d_model *m, int i) { return m->grads + m->t[i].off; }

static void add_tensor(s4d_model *m, const char *name, int ndim, size_t s0, size_t s1,
                       int ssm, int decay)
{
    s4d_tensor *t = &m->t[m->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = s1;
    t->n = ndim == 1 ? s0 : s0 * s1;
    t->off = m->nparams;
    t->ssm = ssm;
    t->decay = decay;
    m->nparams += t->n;
}

void s4d_model_init(s4d_model *m, s4d_config cfg, int init, double dt_min, double dt_max,
                    unsigned long seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    int H = cfg.H, Nh = cfg.Nh;
    m->t = xcalloc(4 + (size_t)cfg.nlayers * LT_N, sizeof *m->t);
    add_tensor(m, "encoder.weight", 2, H, 1, 0, 1);
    add_tensor(m, "encoder.bias", 1, H, 0, 0, 0);
    for (int l = 0; l < cfg.nlayers; l++)
        for (int k = 0; k < LT_N; k++) {
            char name[64];
            snprintf(name, sizeof name, "layers.%d.%s", l, lt_name[k]);
            int two = k >= LT_ARE && k <= LT_CIM;
            add_tensor(m, name, (two || k == LT_W) ? 2 : 1, H, two ? Nh : k == LT_W ? H : 0,
                       k <= LT_AIM, k == LT_W);
        }
    add_tensor(m, "decoder.weight", 2, 1, H, 0, 1);
    add_tensor(m, "decoder.bias", 1, 1, 0, 0, 0);
    m->params = xcalloc(m->nparams, sizeof(double));
    m->grads = xcalloc(m->nparams, sizeof(double));
    m->adam_m = xcalloc(m->nparams, sizeof(double));
    m->adam_v = xcalloc(m->nparams, sizeof(double));

    rng_t r;
    rng_seed(&r, seed);
    rng_fill_uniform(&r, s4d_param(m, S4D_ENC_W), H, -1, 1);
    rng_fill_uniform(&r, s4d_param(m, S4D_ENC_B), H, -1, 1);
    double complex *lam = xmalloc((size_t)Nh * sizeof *lam);
    for (int l = 0; l < cfg.nlayers; l++) {
        double *P[LT_N];
        for (int k = 0; k < LT_N; k++) P[k] = s4d_param(m, s4d_tidx(m, l, k));
        for (int h = 0; h < H; h++) {
            s4d_init(init, Nh, seed * 7919 + 1000 * l + h, lam);
            P[LT_LOGDT][h] = log(dt_min) + rng_uniform(&r) * (log(dt_max) - log(dt_min));
            for (int n = 0; n < Nh; n++) {
                P[LT_ARE][h * Nh + n] = log(-creal(lam[n]));
                P[LT_AIM][h * Nh + n] = cimag(lam[n]);
                P[LT_BRE][h * Nh + n] = 1.0;
                P[LT_BIM][h * Nh + n] = 0.0;
                P[LT_CRE][h * Nh + n] = sqrt(0.5) * rng_normal(&r);
                P[LT_CIM][h * Nh + n] = sqrt(0.5) * rng_normal(&r);
            }
            P[LT_D][h] = rng_normal(&r);
            P[LT_NW][h] = 1.0;
            P[LT_NB][h] = 0.0;
        }
        double a = 1.0 / sqrt(H);
        rng_fill_uniform(&r, P[LT_W], (size_t)H * H, -a, a);
        rng_fill_uniform(&r, P[LT_B], H, -a, a);
    }
    free(lam);
    double a = 1.0 / sqrt(H);
    rng_fill_uniform(&r, s4d_param(m, s4d_dec_w(m)), H, -a, a);
    rng_fill_uniform(&r, s4d_param(m, s4d_dec_w(m) + 1), 1, -a, a);
}

static void free_acts(s4d_model *m)
{
    if (!m->u) return;
    for (int l = 0; l < m->cfg.nlayers; l++) {
        free(m->K[l]); free(m->v[l]); free(m->g[l]); free(m->r[l]);
        free(m->mean[l]); free(m->rstd[l]);
    }
    for (int l = 0; l <= m->cfg.nlayers; l++) free(m->u[l]);
    free(m->u); free(m->K); free(m->v); free(m->g); free(m->r); free(m->mean); free(m->rstd);
    free(m->x); free(m->y);
    m->u = NULL;
}

static void alloc_acts(s4d_model *m, int batch, int L)
{
    if (m->u && m->batch == batch && m->L == L) return;
    free_acts(m);
    int nl = m->cfg.nlayers, H = m->cfg.H;
    size_t T = (size_t)batch * L;
    m->batch = batch; m->L = L; m->T = (int)T;
    m->u = xcalloc(nl + 1, sizeof *m->u);
    m->K = xcalloc(nl, sizeof *m->K); m->v = xcalloc(nl, sizeof *m->v);
    m->g = xcalloc(nl, sizeof *m->g); m->r = xcalloc(nl, sizeof *m->r);
    m->mean = xcalloc(nl, sizeof *m->mean); m->rstd = xcalloc(nl, sizeof *m->rstd);
    for (int l = 0; l <= nl; l++) m->u[l] = xmalloc_f64(T * H);
    for (int l = 0; l < nl; l++) {
        m->K[l] = xmalloc_f64((size_t)H * L);
        m->v[l] = xmalloc_f64(T * H);
        m->g[l] = xmalloc_f64(T * H);
        m->r[l] = xmalloc_f64(T * H);
        m->mean[l] = xmalloc_f64(T);
        m->rstd[l] = xmalloc_f64(T);
    }
    m->x = xmalloc_f64(T);
    m->y = xmalloc_f64(T);
}

void s4d_model_prepare(s4d_model *m, int batch, int L) { alloc_acts(m, batch, L); }

void s4d_model_free(s4d_model *m)
{
    free_acts(m);
    free(m->t); free(m->params); free(m->grads); free(m->adam_m); free(m->adam_v);
    memset(m, 0, sizeof *m);
}

#define LP(k) s4d_param(m, s4d_tidx(m, l, k))
#define LG(k) s4d_grad(m, s4d_tidx(m, l, k))

void s4d_layer_forward(s4d_model *m, int l)
{
    int H = m->cfg.H, Nh = m->cfg.Nh, L = m->L, batch = m->batch, T = m->T;
    const double *u = m->u[l];
    double *K = m->K[l], *v = m->v[l], *g = m->g[l], *r = m->r[l];
    const double *D = LP(LT_D);
#pragma omp parallel for schedule(dynamic)
    for (int h = 0; h < H; h++) {
        s4d_channel_kernel(Nh, LP(LT_LOGDT)[h], LP(LT_ARE) + h * Nh, LP(LT_AIM) + h * Nh,
                           LP(LT_BRE) + h * Nh, LP(LT_BIM) + h * Nh, LP(LT_CRE) + h * Nh,
                           LP(LT_CIM) + h * Nh, L, K + (size_t)h * L);
        double *xin = xmalloc_f64(L);
        for (int b = 0; b < batch; b++) { /* (3.4) v = K ∗ u + D u, channel h */
            for (int t = 0; t < L; t++) xin[t] = u[((size_t)b * L + t) * H + h];
            conv_causal_fft(K + (size_t)h * L, xin, L, D[h], v + ((size_t)b * H + h) * L);
        }
        free(xin);
    }
    for (int b = 0; b < batch; b++) /* (4.15) g = gelu(v), back to (T, H) rows */
        for (int h = 0; h < H; h++)
            for (int t = 0; t < L; t++)
                g[((size_t)b * L + t) * H + h] = gelu(v[((size_t)b * H + h) * L + t]);
    linear_forward(r, g, LP(LT_W), LP(LT_B), T, H, H); /* z = g Wᵀ + b */
    for (size_t i = 0; i < (size_t)T * H; i++) r[i] += u[i]; /* r = u + z */
    layernorm_forward(m->u[l + 1], m->mean[l], m->rstd[l], r, LP(LT_NW), LP(LT_NB), T, H, 1e-5);
}

void s4d_layer_backward(s4d_model *m, int l, const double *dout, double *du)
{
    int H = m->cfg.H, Nh = m->cfg.Nh, L = m->L, batch = m->batch, T = m->T;
    size_t TH = (size_t)T * H;
    const double *u = m->u[l], *K = m->K[l], *v = m->v[l];
    double *dr = xcalloc(TH, sizeof *dr), *dg = xcalloc(TH, sizeof *dg);
    double *dv = xmalloc_f64(TH);
    layernorm_backward(dr, LG(LT_NW), LG(LT_NB), dout, m->r[l], LP(LT_NW), m->mean[l],
                       m->rstd[l], T, H);
    for (size_t i = 0; i < TH; i++) du[i] += dr[i]; /* the residual branch */
    linear_backward(dg, LG(LT_W), LG(LT_B), dr, m->g[l], LP(LT_W), T, H, H);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < L; t++) {
                size_t iv = ((size_t)b * H + h) * L + t;
                dv[iv] = dg[((size_t)b * L + t) * H + h] * gelu_grad(v[iv]);
            }
    double *dD = LG(LT_D);
#pragma omp parallel for schedule(dynamic)
    for (int h = 0; h < H; h++) {
        double *xin = xmalloc_f64(3 * (size_t)L), *dx = xin + L, *dK = dx + L;
        memset(dK, 0, (size_t)L * sizeof *dK);
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < L; t++) { xin[t] = u[((size_t)b * L + t) * H + h]; dx[t] = 0; }
            conv_causal_fft_backward(K + (size_t)h * L, xin, L, LP(LT_D)[h],
                                     dv + ((size_t)b * H + h) * L, dK, dx, &dD[h]);
            for (int t = 0; t < L; t++) du[((size_t)b * L + t) * H + h] += dx[t];
        }
        s4d_channel_kernel_backward(Nh, LP(LT_LOGDT)[h], LP(LT_ARE) + h * Nh, LP(LT_AIM) + h * Nh,
                                    LP(LT_BRE) + h * Nh, LP(LT_BIM) + h * Nh,
                                    LP(LT_CRE) + h * Nh, LP(LT_CIM) + h * Nh, L, dK,
                                    LG(LT_LOGDT) + h, LG(LT_ARE) + h * Nh, LG(LT_AIM) + h * Nh,
                                    LG(LT_BRE) + h * Nh, LG(LT_BIM) + h * Nh,
                                    LG(LT_CRE) + h * Nh, LG(LT_CIM) + h * Nh);
        free(xin);
    }
    free(dr); free(dg); free(dv);
}

double s4d_forward(s4d_model *m, const double *x, const double *target, int batch, int L)
{
    alloc_acts(m, batch, L);
    int H = m->cfg.H, nl = m->cfg.nlayers;
    memcpy(m->x, x, (size_t)m->T * sizeof *x);
    linear_forward(m->u[0], m->x, s4d_param(m, S4D_ENC_W), s4d_param(m, S4D_ENC_B), m->T, 1, H);
    for (int l = 0; l < nl; l++) s4d_layer_forward(m, l);
    int dw = s4d_dec_w(m);
    linear_forward(m->y, m->u[nl], s4d_param(m, dw), s4d_param(m, dw + 1), m->T, H, 1);
    return target ? mse_forward(m->y, target, (size_t)m->T) : 0.0;
}

void s4d_backward(s4d_model *m, const double *target)
{
    int H = m->cfg.H, nl = m->cfg.nlayers, T = m->T, dw = s4d_dec_w(m);
    memset(m->grads, 0, m->nparams * sizeof *m->grads);
    double *dy = xcalloc(T, sizeof *dy);
    double *du = xcalloc((size_t)T * H, sizeof *du), *dprev = xmalloc_f64((size_t)T * H);
    mse_backward(dy, m->y, target, (size_t)T);
    linear_backward(du, s4d_grad(m, dw), s4d_grad(m, dw + 1), dy, m->u[nl], s4d_param(m, dw),
                    T, H, 1);
    for (int l = nl - 1; l >= 0; l--) {
        memset(dprev, 0, (size_t)T * H * sizeof *dprev);
        s4d_layer_backward(m, l, du, dprev);
        double *t = du; du = dprev; dprev = t;
    }
    linear_backward(NULL, s4d_grad(m, S4D_ENC_W), s4d_grad(m, S4D_ENC_B), du, m->x,
                    s4d_param(m, S4D_ENC_W), T, 1, H);
    free(dy); free(du); free(dprev);
}

void s4d_adamw_step(s4d_model *m, const adamw_cfg *cfg, double lr, double ssm_lr_scale,
                    double clip)
{
    if (clip > 0) grad_clip(m->grads, m->nparams, clip);
    adamw_cfg c = *cfg;
    c.lr = lr;
    m->step++;
    for (int i = 0; i < m->ntensors; i++) {
        const s4d_tensor *t = &m->t[i];
        adamw_update(m->params + t->off, m->grads + t->off, m->adam_m + t->off, m->adam_v + t->off, t->n,
                     m->step, &c, t->ssm ? ssm_lr_scale : 1.0, t->decay);
    }
}

/* ------------------------------------------------------------------ the task */

void delay_task_batch(unsigned long seed, int step, int batch, int L, int tau, double fmax,
                      double *x, double *target)
{
    enum { NSINE = 16 };
    rng_t r;
    rng_seed(&r, seed * 1000003ULL + (unsigned long)step);
    for (int b = 0; b < batch; b++) {
        double f[NSINE], ph[NSINE], a[NSINE], var = 0;
        for (int k = 0; k < NSINE; k++) {
            f[k] = fmax * (1.0 - rng_uniform(&r)); /* (0, fmax] */
            ph[k] = 2 * M_PI * rng_uniform(&r);
            a[k] = rng_normal(&r);
            var += 0.5 * a[k] * a[k];
        }
        double sc = 1.0 / sqrt(var);
        double *xb = x + (size_t)b * L, *tb = target + (size_t)b * L;
        for (int t = 0; t < L; t++) {
            double s = 0;
            for (int k = 0; k < NSINE; k++) s += a[k] * sin(2 * M_PI * f[k] * t + ph[k]);
            xb[t] = sc * s;
        }
        for (int t = 0; t < L; t++) tb[t] = t >= tau ? xb[t - tau] : 0.0;
    }
}

/* ------------------------------------------------------------- checkpoints */

void s4d_save(const s4d_model *m, const char *path, const char *extra_meta)
{
    int n = m->ntensors;
    st_tensor *ts = xcalloc(3 * (size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        const s4d_tensor *t = &m->t[i];
        const double *src[3] = {m->params, m->adam_m, m->adam_v};
        const char *pre[3] = {"", "adam_m.", "adam_v."};
        for (int k = 0; k < 3; k++) {
            st_tensor *s = &ts[k * n + i];
            snprintf(s->name, sizeof s->name, "%s%s", pre[k], t->name);
            s->dtype = NPY_F64;
            s->ndim = t->ndim;
            s->shape[0] = t->shape[0];
            s->shape[1] = t->shape[1];
            s->data = src[k] + t->off;
        }
    }
    char meta[1024];
    snprintf(meta, sizeof meta, "\"step\":\"%d\",\"H\":\"%d\",\"Nh\":\"%d\",\"nlayers\":\"%d\"%s%s",
             m->step, m->cfg.H, m->cfg.Nh, m->cfg.nlayers, extra_meta ? "," : "",
             extra_meta ? extra_meta : "");
    st_save(path, ts, 3 * n, meta);
    free(ts);
}

static int meta_int(const st_file *f, const char *path, const char *key)
{
    char buf[64], *end;
    if (st_meta(f, key, buf, sizeof buf) != 0)
        die(EXIT_BAD_INPUT, "%s: checkpoint metadata has no \"%s\"", path, key);
    long v = strtol(buf, &end, 10);
    if (*end || end == buf || v < 0 || v > 1000000000)
        die(EXIT_BAD_INPUT, "%s: checkpoint metadata \"%s\" is not a count: \"%s\"", path, key, buf);
    return (int)v;
}

/* A checkpoint is checked whole against this model and run before any of it is used
 * (exit 2 naming the file and the tensor or key): sizes from its metadata, every weight
 * finite with |θ| <= S4D_CKPT_MAX (far past anything training makes: a larger one is a
 * corrupt or forged file), Adam's m finite and v finite and >= 0, the step a count, the
 * run's own metadata pairs (run_meta, as written by s4d_save; NULL: none) equal, and
 * no tensor beyond these. */
#define S4D_CKPT_MAX 1e6
void s4d_load_run(s4d_model *m, const char *path, const char *run_meta)
{
    st_file *f = xmalloc(sizeof *f);
    st_load(path, f);
    int H = meta_int(f, path, "H"), Nh = meta_int(f, path, "Nh"), nl = meta_int(f, path, "nlayers");
    if (H != m->cfg.H || Nh != m->cfg.Nh || nl != m->cfg.nlayers)
        die(EXIT_BAD_INPUT, "%s: checkpoint is for H=%d Nh=%d layers=%d, the model has H=%d Nh=%d layers=%d",
            path, H, Nh, nl, m->cfg.H, m->cfg.Nh, m->cfg.nlayers);
    if (run_meta) {
        char text[1200];
        snprintf(text, sizeof text, "{%s}", run_meta);
        jparser p = {text, NULL};
        jval *want = jparse(&p, 0);
        for (int k = 0; want && k < want->n; k++)
            if (want->items[k]->t == J_STR) st_meta_expect(f, want->keys[k], want->items[k]->str);
        jfree(want);
    }
    for (int i = 0; i < m->ntensors; i++) {
        const s4d_tensor *t = &m->t[i];
        double *dst[3] = {m->params, m->adam_m, m->adam_v};
        const char *pre[3] = {"", "adam_m.", "adam_v."};
        const double lo[3] = {-S4D_CKPT_MAX, -DBL_MAX, 0}, hi[3] = {S4D_CKPT_MAX, DBL_MAX, DBL_MAX};
        for (int k = 0; k < 3; k++) {
            char name[160];
            snprintf(name, sizeof name, "%s%s", pre[k], t->name);
            const double *src = st_get_range(f, name, NPY_F64, t->ndim, t->shape, lo[k], hi[k]);
            memcpy(dst[k] + t->off, src, t->n * sizeof *src);
        }
    }
    m->step = meta_int(f, path, "step");
    st_done(f);
    st_free(f);
    free(f);
}

void s4d_load(s4d_model *m, const char *path) { s4d_load_run(m, path, NULL); }
