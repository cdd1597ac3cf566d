/* 07_ssd_mamba2/main.c — chapter 7: Mamba-2 and state space duality.
 *
 * Reads top to bottom in the chapter's order:
 *   §7.2  the duality shown: the scan, the materialized matrix and the chunked algorithm
 *         agree (float64 and float32), and the chunk limits Q = 1 and Q = L
 *   §7.3  the semiseparable matrix M of one head, drawn
 *   §7.4  cost: flops, bytes and measured time of each form against L and N, fitted
 *         slopes, and the chunk size where the chunked algorithm is fastest on this CPU
 *   §7.6  training on CPU: MQAR and induction heads, Mamba-2 at N = 16, 64, 128 against
 *         stage 05's Mamba-1 at N = 16 with (about) the same parameter count
 * plus --dump-vectors / --check (vectors07.h). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "05_selective_s6/mamba.h"
#include "05_selective_s6/tasks.h"
#include "07_ssd_mamba2/mamba2.h"
#include "07_ssd_mamba2/mqar.h"
#include "07_ssd_mamba2/ssd.h"
#include "07_ssd_mamba2/vectors07.h"
#include "common/cli.h"
#include "common/plot.h"
#include "common/rng.h"
#include "common/util.h"

static const char *g_out = "out";

static void outpath(char *buf, size_t len, const char *name) { path_join(buf, len, g_out, name); }

/* =====================================================================================
 * A random SSD problem in float64 (and its float32 copy), as the layer sees it at init */
typedef struct {
    ssd_dims d;
    double *x, *dt, *A, *B, *C, *D;
    float *xf, *dtf, *Af, *Bf, *Cf, *Df;
} problem;

static void problem_make(problem *p, ssd_dims d, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    p->d = d;
    const size_t nx = (size_t)d.batch * d.L * d.H * d.P, nt = (size_t)d.batch * d.L * d.H,
                 nb = (size_t)d.batch * d.L * d.G * d.N;
    p->x = xmalloc_f64(nx), p->dt = xmalloc_f64(nt), p->A = xmalloc_f64((size_t)d.H);
    p->B = xmalloc_f64(nb), p->C = xmalloc_f64(nb), p->D = xmalloc_f64((size_t)d.H);
    rng_fill_normal(&r, p->x, nx, 0, 1);
    for (size_t i = 0; i < nt; i++) p->dt[i] = exp(rng_uniform_range(&r, log(1e-3), log(1e-1)));
    for (int h = 0; h < d.H; h++) p->A[h] = -rng_uniform_range(&r, 1, 16);
    rng_fill_normal(&r, p->B, nb, 0, 1);
    rng_fill_normal(&r, p->C, nb, 0, 1);
    rng_fill_normal(&r, p->D, (size_t)d.H, 0, 1);
    p->xf = xmalloc_f32(nx), p->dtf = xmalloc_f32(nt), p->Af = xmalloc_f32((size_t)d.H);
    p->Bf = xmalloc_f32(nb), p->Cf = xmalloc_f32(nb), p->Df = xmalloc_f32((size_t)d.H);
    /* the float64 problem is the float32 one, widened: both forms see the same numbers */
    for (size_t i = 0; i < nx; i++) p->x[i] = p->xf[i] = (float)p->x[i];
    for (size_t i = 0; i < nt; i++) p->dt[i] = p->dtf[i] = (float)p->dt[i];
    for (size_t i = 0; i < nb; i++) { p->B[i] = p->Bf[i] = (float)p->B[i]; p->C[i] = p->Cf[i] = (float)p->C[i]; }
    for (int h = 0; h < d.H; h++) { p->A[h] = p->Af[h] = (float)p->A[h]; p->D[h] = p->Df[h] = (float)p->D[h]; }
}

static ssd_args_f64 args64(const problem *p) { return (ssd_args_f64){p->d, p->x, p->dt, p->A, p->B, p->C, p->D, NULL}; }
static ssd_args_f32 args32(const problem *p) { return (ssd_args_f32){p->d, p->xf, p->dtf, p->Af, p->Bf, p->Cf, p->Df, NULL}; }

static void problem_free(problem *p)
{
    free(p->x), free(p->dt), free(p->A), free(p->B), free(p->C), free(p->D);
    free(p->xf), free(p->dtf), free(p->Af), free(p->Bf), free(p->Cf), free(p->Df);
}

static size_t ny(const ssd_dims *d) { return (size_t)d->batch * d->L * d->H * d->P; }

static double rel_err_f32(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m / max_abs(b, n);
}

/* =====================================================================================
 * §7.2 The duality: four forms, one output */
static void section_duality(void)
{
    printf("== §7.2 The duality: scan (7.2-7.3), matrix (7.4-7.5), chunked (7.6-7.9) give one y\n");
    printf("  errors norm-wise against the float64 scan: max|y - y_scan| / max|y_scan|\n");
    printf("  | %5s | %3s | %-10s | %-10s | %-10s | %-10s | %-10s | %-12s |\n", "L", "N", "quadratic",
           "chunk Q=1", "chunk Q=16", "chunk Q=64", "chunk Q=L", "f32 chunk 64");
    printf("  |-------|-----|------------|------------|------------|------------|------------|--------------|\n");
    static const int Ls[] = {63, 64, 65, 1000, 4096}, Ns[] = {16, 128, 16, 64, 16};
    double worst = 0, worst32 = 0;
    for (int k = 0; k < 5; k++) {
        problem p;
        problem_make(&p, (ssd_dims){1, Ls[k], 2, 4, 1, Ns[k]}, 70 + k);
        ssd_args_f64 a = args64(&p);
        ssd_args_f32 af = args32(&p);
        const size_t n = ny(&p.d);
        double *ys = xmalloc_f64(n), *y = xmalloc_f64(n), e[5];
        float *yf = xmalloc_f32(n);
        ssd_scan_f64(&a, ys, NULL);
        ssd_quadratic_f64(&a, y);
        e[0] = rel_err(y, ys, n);
        const int Qs[4] = {1, 16, 64, Ls[k]};
        for (int q = 0; q < 4; q++) {
            ssd_chunked_f64(&a, Qs[q], y, NULL);
            e[q + 1] = rel_err(y, ys, n);
        }
        ssd_chunked_f32(&af, 64, yf, NULL);
        const double e32 = rel_err_f32(yf, ys, n);
        for (int q = 0; q < 5; q++) worst = fmax(worst, e[q]);
        worst32 = fmax(worst32, e32);
        printf("  | %5d | %3d | %10.1e | %10.1e | %10.1e | %10.1e | %10.1e | %12.1e |\n", Ls[k], Ns[k], e[0], e[1],
               e[2], e[3], e[4], e32);
        free(ys), free(y), free(yf);
        problem_free(&p);
    }
    printf("  largest float64 disagreement %.1e (%.0f ulp of 1); float32 %.1e (%.0f ulp)\n", worst,
           worst / 2.220446049250313e-16, worst32, worst32 / 1.1920928955078125e-07);
    summary_add(g_out, "four SSD forms agree (float64, L <= 4096), max rel. error", "%.1e", worst);
    summary_add(g_out, "float32 chunked vs float64 scan, max rel. error", "%.1e", worst32);
}

/* §7.2 the mask L_ts = exp(a_{s+1} + … + a_t) three ways in float32, against float64:
 * running segment sums (ssd_segsum), the difference of cumulative sums, and the ratio of
 * cumulative products; relative errors over the entries L_ts > 1e-30 */
static void section_segsum(void)
{
    const int L = 2048;
    rng_t r;
    rng_seed(&r, 3);
    double *a = xmalloc_f64((size_t)L), *S = xmalloc_f64((size_t)L * L);
    float *af = xmalloc_f32((size_t)L), *Sf = xmalloc_f32((size_t)L * L), *cs = xmalloc_f32((size_t)L),
          *cp = xmalloc_f32((size_t)L);
    for (int k = 0; k < L; k++) af[k] = (float)(-8 * exp(rng_uniform_range(&r, log(1e-3), log(1e-1)))), a[k] = af[k];
    ssd_segsum_f64(L, a, S);
    ssd_segsum_f32(L, af, Sf);
    float c = 0, prod = 1;
    for (int k = 0; k < L; k++) c += af[k], cs[k] = c, prod *= expf(af[k]), cp[k] = prod;
    double e_run = 0, e_cs = 0, e_ratio = 0;
    long n_ratio_bad = 0, n = 0;
    for (int t = 0; t < L; t++)
        for (int s2 = 0; s2 <= t; s2++) {
            const double ref = exp(S[(size_t)t * L + s2]);
            if (ref < 1e-30) continue;
            n++;
            e_run = fmax(e_run, fabs(expf(Sf[(size_t)t * L + s2]) - ref) / ref);
            e_cs = fmax(e_cs, fabs(expf(cs[t] - cs[s2]) - ref) / ref);
            const double q = (double)cp[t] / cp[s2];
            if (!isfinite(q)) n_ratio_bad++;
            else e_ratio = fmax(e_ratio, fabs(q - ref) / ref);
        }
    printf("  the mask L_ts = exp(a_{s+1}+...+a_t) in float32, L = %d, cs_L = %.0f (%ld entries > 1e-30):\n", L, c, n);
    printf("    running segment sums (7.5): max rel. error %.1e\n", e_run);
    printf("    exp(cs_t - cs_s):           max rel. error %.1e\n", e_cs);
    printf("    ratio of products P_t/P_s:  max rel. error %.1e on the finite ones, %ld entries 0/0 or x/0\n", e_ratio,
           n_ratio_bad);
    summary_add(g_out, "float32 mask: running segsum / cumsum difference, max rel. error", "%.1e / %.1e", e_run, e_cs);
    free(a), free(S), free(af), free(Sf), free(cs), free(cp);
}

/* =====================================================================================
 * §7.3 The matrix M of one head: lower triangular, decaying away from the diagonal,
 * every block below the diagonal of rank ≤ N */
static void section_matrix(void)
{
    const int L = 48, N = 4;
    problem p;
    problem_make(&p, (ssd_dims){1, L, 1, 1, 1, N}, 5);
    ssd_args_f64 a = args64(&p);
    double *M = xmalloc_f64((size_t)L * L);
    ssd_matrix_f64(&a, 0, 0, M);
    /* heat map data: log10 |M_ts| (−inf above the diagonal: written as NaN, blank) */
    double *ct = xmalloc_f64((size_t)L * L), *cs = xmalloc_f64((size_t)L * L), *cv = xmalloc_f64((size_t)L * L);
    for (int t = 0; t < L; t++)
        for (int s = 0; s < L; s++) {
            const size_t i = (size_t)t * L + s;
            ct[i] = t, cs[i] = s;
            cv[i] = s <= t && M[i] != 0 ? log10(fabs(M[i])) : NAN;
        }
    char path[4096];
    outpath(path, sizeof path, "matrix.dat");
    dat_write(path, "t s log10absM", (size_t)L * L, 3, (const double *const[]){ct, cs, cv});
    plot_run(STAGE_DIR, "matrix", g_out);
    /* rank of the block M[24:48, 0:24] (strictly below the diagonal): Gaussian elimination
     * with full pivoting; pivots below 1e-12 of the largest count as zero */
    const int h = L / 2;
    double *Bk = xmalloc_f64((size_t)h * h), big = 0;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < h; j++) Bk[(size_t)i * h + j] = M[(size_t)(h + i) * L + j], big = fmax(big, fabs(Bk[(size_t)i * h + j]));
    int rank = 0;
    for (int k = 0; k < h; k++) {
        int pi = k, pj = k;
        for (int i = k; i < h; i++)
            for (int j = k; j < h; j++)
                if (fabs(Bk[(size_t)i * h + j]) > fabs(Bk[(size_t)pi * h + pj])) pi = i, pj = j;
        if (fabs(Bk[(size_t)pi * h + pj]) <= 1e-12 * big) break;
        for (int j = 0; j < h; j++) { double t = Bk[(size_t)k * h + j]; Bk[(size_t)k * h + j] = Bk[(size_t)pi * h + j]; Bk[(size_t)pi * h + j] = t; }
        for (int i = 0; i < h; i++) { double t = Bk[(size_t)i * h + k]; Bk[(size_t)i * h + k] = Bk[(size_t)i * h + pj]; Bk[(size_t)i * h + pj] = t; }
        for (int i = k + 1; i < h; i++) {
            const double f = Bk[(size_t)i * h + k] / Bk[(size_t)k * h + k];
            for (int j = k; j < h; j++) Bk[(size_t)i * h + j] -= f * Bk[(size_t)k * h + j];
        }
        rank++;
    }
    printf("\n== §7.3 The semiseparable matrix M (L = %d, N = %d, one head): plot matrix.png\n", L, N);
    printf("  rank of the %d x %d block below the diagonal, M[%d:%d, 0:%d]: %d (N = %d)\n", h, h, h, L, h, rank, N);
    summary_add(g_out, "rank of an off-diagonal 24x24 block of M (N = 4)", "%d", rank);
    free(Bk), free(ct), free(cs), free(cv), free(M);
    problem_free(&p);
}

/* =====================================================================================
 * §7.4 Cost */
/* The fastest of at least `reps` runs, more (up to 25) while they take under 0.3 s in all:
 * on a shared machine the minimum is the run least disturbed by other jobs (a median
 * still carries their preemptions). */
static double time_form(const problem *p, int form, int Q, int reps)
{
    ssd_args_f64 a = args64(p);
    double *y = xmalloc_f64(ny(&p->d)), best = INFINITY, total = 0;
    for (int r = 0; r < reps || (total < 0.3 && r < 25); r++) {
        const double t0 = now_seconds();
        if (form == 0) ssd_scan_f64(&a, y, NULL);
        else if (form == 1) ssd_quadratic_f64(&a, y);
        else ssd_chunked_f64(&a, Q, y, NULL);
        const double dt = now_seconds() - t0;
        best = fmin(best, dt), total += dt;
    }
    free(y);
    return best;
}

static void section_cost(int full)
{
    char mach[256], path[4096];
    machine_name(mach, sizeof mach);
    /* one core, OpenMP and OpenBLAS: with two threads on a loaded machine every parallel
     * region waits for its slowest thread, and that wait, not the form, is what we'd time */
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    printf("\n== §7.4 Cost of the three forms, float64, one core of %s (fastest of >= 3 runs)\n", mach);
    /* (a) against L at N = 64; (b) against N at L = 1024; batch 1, H = 2 heads of P = 16 */
    const int nL = full ? 6 : 5, NQ = 64;
    const int Ls[6] = {128, 256, 512, 1024, 2048, 4096};
    const int qmax = full ? 4096 : 1024;            /* the O(L²) form stops here in the demo */
    double tl[3][6], fl[3][6], bl[3][6], xl[6];
    printf("  (a) against L (N = 64, H = 2, P = 16; chunked at Q = %d)\n", NQ);
    printf("  | %5s | %-9s %-9s %-9s | %-9s %-9s %-9s | %-9s %-9s %-9s |\n", "L", "scan s", "GF/s", "MB",
           "quad s", "GF/s", "MB", "chunk s", "GF/s", "MB");
    for (int k = 0; k < nL; k++) {
        problem p;
        problem_make(&p, (ssd_dims){1, Ls[k], 2, 16, 1, 64}, 80 + k);
        xl[k] = Ls[k];
        for (int f = 0; f < 3; f++) {
            fl[f][k] = ssd_flops(&p.d, f, NQ);
            bl[f][k] = ssd_bytes(&p.d, f, NQ);
            tl[f][k] = (f == 1 && Ls[k] > qmax) ? NAN : time_form(&p, f, NQ, 3);
        }
        printf("  | %5d |", Ls[k]);
        for (int f = 0; f < 3; f++) printf(" %-9.3g %-9.3g %-9.3g |", tl[f][k], fl[f][k] / tl[f][k] / 1e9, bl[f][k] / 1e6);
        printf("\n");
        problem_free(&p);
    }
    double slope[3];
    for (int f = 0; f < 3; f++) {
        int n = 0;
        double xs[6], ys[6];
        for (int k = 0; k < nL; k++)
            if (isfinite(tl[f][k]) && Ls[k] >= 256) xs[n] = xl[k], ys[n++] = tl[f][k];
        slope[f] = loglog_slope(xs, ys, (size_t)n);
    }
    printf("  fitted slopes of time against L (L >= 256): scan %.2f, quadratic %.2f, chunked %.2f "
           "(flop counts: 1, 2, 1)\n", slope[0], slope[1], slope[2]);
    summary_add(g_out, "time ~ L^k, k for scan / quadratic / chunked", "%.2f / %.2f / %.2f", slope[0], slope[1], slope[2]);
    outpath(path, sizeof path, "cost_L.dat");
    dat_write(path, "L scan quadratic chunked flops_scan flops_quad flops_chunk", (size_t)nL, 7,
              (const double *const[]){xl, tl[0], tl[1], tl[2], fl[0], fl[1], fl[2]});
    plot_run(STAGE_DIR, "cost_L", g_out);

    const int Nn = 5, Nvals[5] = {16, 32, 64, 128, 256}, LN = 1024;
    double tn[3][5], xn[5];
    printf("  (b) against N (L = %d)\n  | %4s | %-10s | %-10s | %-10s |\n", LN, "N", "scan s", "quad s", "chunk s");
    for (int k = 0; k < Nn; k++) {
        problem p;
        problem_make(&p, (ssd_dims){1, LN, 2, 16, 1, Nvals[k]}, 90 + k);
        xn[k] = Nvals[k];
        for (int f = 0; f < 3; f++) tn[f][k] = time_form(&p, f, NQ, 3);
        printf("  | %4d | %-10.3g | %-10.3g | %-10.3g |\n", Nvals[k], tn[0][k], tn[1][k], tn[2][k]);
        problem_free(&p);
    }
    double sn[3];
    for (int f = 0; f < 3; f++) sn[f] = loglog_slope(xn + 1, tn[f] + 1, 4);
    printf("  fitted slopes against N (N >= 32): scan %.2f, quadratic %.2f, chunked %.2f\n", sn[0], sn[1], sn[2]);
    summary_add(g_out, "time ~ N^k, k for scan / quadratic / chunked", "%.2f / %.2f / %.2f", sn[0], sn[1], sn[2]);
    outpath(path, sizeof path, "cost_N.dat");
    dat_write(path, "N scan quadratic chunked", (size_t)Nn, 4, (const double *const[]){xn, tn[0], tn[1], tn[2]});
    plot_run(STAGE_DIR, "cost_N", g_out);

    /* (c) the chunk size: from Q = 1 (the scan, in chunk form) to Q = L (the matrix) */
    const int LQ = 2048;
    problem p;
    problem_make(&p, (ssd_dims){1, LQ, 2, 16, 1, 64}, 99);
    double xq[12], tq[12], fq[12], tscan = time_form(&p, 0, 0, 3);
    int nq = 0, best = 0;
    printf("  (c) chunk size Q (L = %d, N = 64): scan %.3g s\n  | %5s | %-10s | %-10s | %-9s |\n", LQ, tscan, "Q",
           "chunked s", "Gflop", "vs scan");
    for (int Q = 1; Q <= LQ; Q *= 2, nq++) {
        xq[nq] = Q;
        tq[nq] = time_form(&p, 2, Q, 3);
        fq[nq] = ssd_flops(&p.d, 2, Q);
        if (tq[nq] < tq[best]) best = nq;
        printf("  | %5d | %-10.3g | %-10.3g | %-9.2f |\n", Q, tq[nq], fq[nq] / 1e9, tq[nq] / tscan);
    }
    printf("  fastest chunk size on this CPU: Q = %.0f (%.3g s; the scan %.3g s, ratio %.2f)\n", xq[best], tq[best],
           tscan, tq[best] / tscan);
    summary_add(g_out, "fastest chunk size Q on this CPU (L 2048, N 64)", "%.0f", xq[best]);
    summary_add(g_out, "chunked at best Q / scan, time", "%.2f", tq[best] / tscan);
    double *tsc = xmalloc_f64((size_t)nq);
    for (int k = 0; k < nq; k++) tsc[k] = tscan;
    outpath(path, sizeof path, "crossover.dat");
    dat_write(path, "Q chunked scan flops", (size_t)nq, 4, (const double *const[]){xq, tq, tsc, fq});
    plot_run(STAGE_DIR, "crossover", g_out);
    free(tsc);
    problem_free(&p);
    omp_set_num_threads(threads);
}

/* =====================================================================================
 * §7.6 Training on CPU: MQAR and induction heads */

/* One model of either kind behind one interface. */
typedef struct {
    int mamba2;                 /* 1: Mamba-2 (this stage), 0: Mamba-1 (stage 05) */
    mamba_model m1;
    mamba_opt o1;
    mamba2_model m2;
    mamba2_opt o2;
} model;

static size_t model_params(const model *m) { return m->mamba2 ? m->m2.n_params : m->m1.n_params; }

static void model_init(model *m, int mamba2, int vocab, int d_model, int n_layer, int N, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->mamba2 = mamba2;
    if (mamba2) {
        /* heads of P = 16, one group: B and C of size N shared by all heads (as the paper's MQAR models) */
        mamba2_config c = {.vocab = vocab, .d_model = d_model, .n_layer = n_layer, .d_state = N, .head_dim = 16,
                           .n_groups = 1};
        mamba2_init(&m->m2, &c, seed);
        mamba2_opt_init(&m->o2, &m->m2);
    } else {
        mamba_config c = {.vocab = vocab, .d_model = d_model, .n_layer = n_layer, .d_state = N, .kind = MAMBA_S6};
        mamba_init(&m->m1, &c, seed);
        mamba_opt_init(&m->o1, &m->m1);
    }
}

static void model_free(model *m)
{
    if (m->mamba2) mamba2_opt_free(&m->o2), mamba2_free(&m->m2);
    else mamba_opt_free(&m->o1), mamba_free(&m->m1);
}

typedef struct {
    int mqar;                   /* 1: MQAR, 0: induction heads (stage 05's task) */
    mqar_cfg mq;
    task_cfg ind;
} task;

static int task_len(const task *t) { return t->mqar ? t->mq.L : t->ind.L; }
static int task_vocab(const task *t) { return t->mqar ? t->mq.vocab : t->ind.vocab; }
static void task_make(const task *t, uint64_t seed, long step, int B, int *tok, int *tgt)
{
    if (t->mqar) mqar_batch(&t->mq, seed, step, B, tok, tgt);
    else task_batch(&t->ind, t->ind.L, seed, step, B, tok, tgt);
}

/* AdamW, warm-up then cosine; returns the mean loss of the last 10% of steps */
static double train(model *m, const task *t, int steps, int B, double lr, double *loss)
{
    const int L = task_len(t);
    int *tok = xmalloc(sizeof(int) * B * L), *tgt = xmalloc(sizeof(int) * B * L);
    mamba_train_cfg tc1 = {.lr = lr, .lr_min = lr / 10, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95,
                           .clip = 1.0, .warmup = steps / 10, .steps = steps};
    mamba2_train_cfg tc2 = {.lr = lr, .lr_min = lr / 10, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95,
                            .clip = 1.0, .warmup = steps / 10, .steps = steps};
    double tail = 0;
    for (int s = 0; s < steps; s++) {
        task_make(t, 99, s, B, tok, tgt);
        double l;
        if (m->mamba2) {
            memset(m->m2.grads, 0, m->m2.n_params * sizeof(real));
            l = mamba2_forward(&m->m2, tok, tgt, B, L, NULL);
            mamba2_backward(&m->m2, tok, tgt);
            mamba2_opt_step(&m->m2, &m->o2, &tc2);
        } else {
            memset(m->m1.grads, 0, m->m1.n_params * sizeof(real));
            l = mamba_forward(&m->m1, tok, tgt, B, L, NULL);
            mamba_backward(&m->m1, tok, tgt);
            mamba_opt_step(&m->m1, &m->o1, &tc1);
        }
        if (!isfinite(l)) die(1, "training diverged: loss %g at step %d", l, s);
        loss[s] = l;
        if (s >= steps - steps / 10 - 1) tail += l;
    }
    free(tok), free(tgt);
    return tail / (steps / 10 + 1);
}

/* accuracy at the scored positions of nb held-out batches (steps never trained on) */
static double accuracy(model *m, const task *t, int nb, int B)
{
    const int L = task_len(t), V = task_vocab(t);
    int *tok = xmalloc(sizeof(int) * B * L), *tgt = xmalloc(sizeof(int) * B * L);
    long hits = 0, scored = 0;
    for (int k = 0; k < nb; k++) {
        task_make(t, 99, 1000000000L + k, B, tok, tgt);
        const real *lg;
        if (m->mamba2) mamba2_forward(&m->m2, tok, NULL, B, L, NULL), lg = mamba2_logits(&m->m2);
        else mamba_forward(&m->m1, tok, NULL, B, L, NULL), lg = mamba_logits(&m->m1);
        mqar_score(tgt, (size_t)B * L, lg, V, &hits, &scored);
    }
    free(tok), free(tgt);
    return (double)hits / scored;
}

/* The Mamba-1 width whose parameter count is closest to `target` (d_model multiple of 4). */
static int mamba1_width_for(int vocab, int n_layer, size_t target)
{
    int best = 4;
    size_t bestd = (size_t)-1;
    for (int dm = 4; dm <= 512; dm += 4) {
        mamba_config c = {.vocab = vocab, .d_model = dm, .n_layer = n_layer, .d_state = 16, .kind = MAMBA_S6};
        mamba_model m;
        mamba_init(&m, &c, 1);
        const size_t np = m.n_params, d = np > target ? np - target : target - np;
        mamba_free(&m);
        if (d < bestd) bestd = d, best = dm;
        if (np > target) break;               /* the count grows with d_model */
    }
    return best;
}

typedef struct { int steps, B, d_model; double lr; } budget;

static int g_use_task[2] = {1, 1};          /* --tasks: MQAR, induction heads */
static int g_use_model[4] = {1, 1, 1, 1};   /* --models: m2_16, m2_64, m2_128, m1 */
static const char *MODEL_KEY[4] = {"m2_16", "m2_64", "m2_128", "m1"};

static void parse_list(const char *flag, const char *s, const char *const *keys, int n, int *use)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (int i = 0; i < n; i++) use[i] = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int k = 0;
        while (k < n && strcmp(tok, keys[k])) k++;
        if (k == n) die(2, "--%s: unknown entry '%s'", flag, tok);
        use[k] = 1;
    }
}

static void section_train(const budget *bmq, const budget *bind, int full, int pairs)
{
    const int n_layer = 2, NS[3] = {16, 64, 128};
    task tasks[2] = {{.mqar = 1, .mq = {.vocab = 64, .n_pairs = pairs, .L = 64}},
                     {.mqar = 0, .ind = {.kind = TASK_INDUCTION, .L = 64, .vocab = 16}}};
    mqar_check(&tasks[0].mq);
    const budget *bu[2] = {bmq, bind};
    const char *tname[2] = {"MQAR", "induction heads"};
    double acc[2][4] = {{NAN, NAN, NAN, NAN}, {NAN, NAN, NAN, NAN}}, fin[2][4];
    size_t np[2][4];
    int width[2][4];
    char path[4096];
    printf("\n== §7.6 Training on CPU: Mamba-2 (N = 16, 64, 128) against Mamba-1 (N = 16), 2 layers\n");
    printf("  MQAR: vocab %d, %d key-value pairs, L = %d (chance %.1f%%); induction heads: vocab %d, L = %d "
           "(chance %.1f%%)\n", tasks[0].mq.vocab, tasks[0].mq.n_pairs, tasks[0].mq.L, 100.0 / mqar_n_values(&tasks[0].mq),
           tasks[1].ind.vocab, tasks[1].ind.L, 100.0 / (tasks[1].ind.vocab - 2));
    for (int k = 0; k < 2; k++) {
        if (!g_use_task[k]) continue;
        const task *t = &tasks[k];
        const budget *b = bu[k];
        double *loss[4];
        /* Mamba-1's width matched to the Mamba-2 N = 64 model's parameter count */
        model ref;
        model_init(&ref, 1, task_vocab(t), b->d_model, n_layer, 64, 1);
        const int w1 = mamba1_width_for(task_vocab(t), n_layer, model_params(&ref));
        model_free(&ref);
        for (int v = 0; v < 4; v++) {
            model m;
            const int m2 = v < 3;
            width[k][v] = m2 ? b->d_model : w1;
            model_init(&m, m2, task_vocab(t), width[k][v], n_layer, m2 ? NS[v] : 16, 1234);
            np[k][v] = model_params(&m);
            loss[v] = xmalloc_f64((size_t)b->steps);
            if (!g_use_model[v]) {                    /* not asked for: a blank curve */
                for (int s2 = 0; s2 < b->steps; s2++) loss[v][s2] = NAN;
                model_free(&m);
                continue;
            }
            const double t0 = now_seconds();
            fin[k][v] = train(&m, t, b->steps, b->B, b->lr, loss[v]);
            acc[k][v] = accuracy(&m, t, 8, 32);
            printf("  %-16s %-9s N=%-3d d_model %-3d %6zu params: %d steps of %d in %5.1f s, final loss %.3f, "
                   "accuracy %5.1f%%\n", tname[k], m2 ? "Mamba-2" : "Mamba-1", m2 ? NS[v] : 16, width[k][v], np[k][v],
                   b->steps, b->B, now_seconds() - t0, fin[k][v], 100 * acc[k][v]);
            model_free(&m);
        }
        double *xs = xmalloc_f64((size_t)b->steps);
        for (int s = 0; s < b->steps; s++) xs[s] = s + 1;
        outpath(path, sizeof path, k == 0 ? "loss_mqar.dat" : "loss_induction.dat");
        dat_write(path, "step mamba2_N16 mamba2_N64 mamba2_N128 mamba1_N16", (size_t)b->steps, 5,
                  (const double *const[]){xs, loss[0], loss[1], loss[2], loss[3]});
        plot_run(STAGE_DIR, k == 0 ? "loss_mqar" : "loss_induction", g_out);
        free(xs);
        for (int v = 0; v < 4; v++) free(loss[v]);
    }
    printf("\n  Accuracy against state size (held-out batches; %s)\n", full ? "--full" : "short demo runs");
    printf("  | %-22s | %-8s | %-16s | %-16s |\n", "model", "params", "MQAR", "induction heads");
    printf("  |------------------------|----------|------------------|------------------|\n");
    for (int v = 0; v < 4; v++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s N=%d", v < 3 ? "Mamba-2" : "Mamba-1", v < 3 ? NS[v] : 16);
        char a0[32] = "-", a1[32] = "-";           /* "-": not trained in this run */
        if (isfinite(acc[0][v])) snprintf(a0, sizeof a0, "%.1f%%", 100 * acc[0][v]);
        if (isfinite(acc[1][v])) snprintf(a1, sizeof a1, "%.1f%%", 100 * acc[1][v]);
        printf("  | %-22s | %8zu | %16s | %16s |\n", nm, np[g_use_task[0] ? 0 : 1][v], a0, a1);
        char metric[128];
        snprintf(metric, sizeof metric, "%s accuracy MQAR / induction", nm);
        summary_add(g_out, metric, "%s / %s", a0, a1);
    }
}

/* =====================================================================================
 * Main */
int main(int argc, char **argv)
{
    const char *out = "out", *dump = NULL, *check = NULL, *sections = "all";
    int full = 0, mq_steps = 0, ind_steps = 0, d_model = 0, pairs = 8;
    const char *tasks = "mqar,induction", *models = "m2_16,m2_64,m2_128,m1";
    double lr = 0;
    cli_opt opts[] = {
        {"out", CLI_STRING, &out, "output directory (default out)"},
        {"dump-vectors", CLI_STRING, &dump, "write the golden vectors to DIR and exit"},
        {"check", CLI_STRING, &check, "recompute the vectors in DIR (ours, or transformers' debug state); exit 1 on a mismatch"},
        {"sections", CLI_STRING, &sections, "all | duality | cost | train (default all)"},
        {"full", CLI_FLAG, &full, "longer training (1200 steps of 16) and the cost sweep up to L 4096"},
        {"steps-mqar", CLI_INT, &mq_steps, "training steps on MQAR (default 80; 1200 with --full)"},
        {"steps-induction", CLI_INT, &ind_steps, "training steps on induction heads (default 60; 1200 with --full)"},
        {"mqar-pairs", CLI_INT, &pairs, "MQAR key-value pairs K (default 8; vocabulary 64, L 64)"},
        {"tasks", CLI_STRING, &tasks, "which of mqar,induction to train (default both)"},
        {"models", CLI_STRING, &models, "which of m2_16,m2_64,m2_128,m1 to train (default all)"},
        {"d-model", CLI_INT, &d_model, "Mamba-2 width for the tasks (default 32)"},
        {"lr", CLI_DOUBLE, &lr, "peak learning rate (default 1e-2)"},
        {0}};
    cli_parse(argc, argv, "chapter 7: Mamba-2 and state space duality", opts);
    if (mq_steps < 0 || mq_steps > 10000000) die(2, "--steps-mqar must be in [1, 1e7], got %d", mq_steps);
    if (ind_steps < 0 || ind_steps > 10000000) die(2, "--steps-induction must be in [1, 1e7], got %d", ind_steps);
    if (d_model < 0 || d_model > 1024 || d_model % 16) die(2, "--d-model must be a multiple of 16 in [16, 1024], got %d", d_model);
    if (lr < 0 || lr > 1) die(2, "--lr must be in (0, 1], got %g", lr);
    if (pairs < 1 || pairs > 16) die(2, "--mqar-pairs must be in [1, 16] (vocabulary 64, L 64), got %d", pairs);
    static const char *const TASK_KEY[2] = {"mqar", "induction"};
    parse_list("tasks", tasks, TASK_KEY, 2, g_use_task);
    parse_list("models", models, MODEL_KEY, 4, g_use_model);
    const int all = !strcmp(sections, "all");
    if (!all && strcmp(sections, "duality") && strcmp(sections, "cost") && strcmp(sections, "train"))
        die(2, "--sections must be all, duality, cost or train, got '%s'", sections);
    if (check) return ssd07_vectors(check, 0);
    if (dump) return ssd07_vectors(dump, 1);
    g_out = out;
    mkdir_p(out);
    summary_reset(out);
    const double t0 = now_seconds();
    if (all || !strcmp(sections, "duality")) section_duality(), section_segsum(), section_matrix();
    if (all || !strcmp(sections, "cost")) section_cost(full);
    if (all || !strcmp(sections, "train")) {
        /* the demo's defaults are a preview that keeps `make run` near 40 s of CPU; the
         * chapter's table is --full (make experiments, results/) */
        budget bmq = {mq_steps ? mq_steps : full ? 1200 : 80, 16, d_model ? d_model : 32, lr ? lr : 1e-2};
        budget bind = {ind_steps ? ind_steps : full ? 1200 : 60, 16, bmq.d_model, bmq.lr};
        section_train(&bmq, &bind, full, pairs);
    }
    printf("\nplots and data in %s/ (%.0f s)\n", out, now_seconds() - t0);
    return 0;
}
