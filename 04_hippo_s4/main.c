/* 04_hippo_s4/main.c — the lesson program of stage 04, in the chapter's order:
 *   §4.1 HiPPO: the LegS/LegT matrices and memory as online function approximation
 *   §4.2 S4: the NPLR form of LegS, the kernel by Cauchy + Woodbury + inverse FFT, its
 *      agreement with the naive kernel (powers of Ā, stage 03) and the timings
 *   §4.3 S4D: diagonal kernels (stage 02's ZOH/bilinear + stage 03's Vandermonde), inits
 *   §4.4 training a deep S4D model in C on a long-memory task (delay by τ)
 * Every number printed here is quoted in chapters/04_hippo_s4.md. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "02_zoh_discretize/zoh.h"
#include "03_recurrent_conv/recconv.h"
#include "04_hippo_s4/hippo.h"
#include "04_hippo_s4/s4.h"
#include "04_hippo_s4/s4d_model.h"
#include "04_hippo_s4/vectors.h"
#include "common/cli.h"
#include "common/plot.h"
#include "common/rng.h"
#include "common/util.h"

static const char *outdir = "out";

static void plot(const char *name)
{
    if (plot_run(STAGE_DIR, name, outdir) == 0) printf("  plot: %s/%s.png\n", outdir, name);
}

static void dat(const char *name, const char *header, size_t n, int nc, const double *const *c)
{
    char path[4096];
    path_join(path, sizeof path, outdir, name);
    dat_write(path, header, n, nc, c);
}

/* A smooth test signal on [0, 1]: 12 random sines up to 16 cycles, sampled at (i+1)/L. */
static void smooth_signal(int L, unsigned long seed, double *f)
{
    rng_t r;
    rng_seed(&r, seed);
    double fr[12], ph[12], a[12];
    for (int k = 0; k < 12; k++) {
        fr[k] = rng_uniform_range(&r, 0.5, 16.0);
        ph[k] = rng_uniform_range(&r, 0, 2 * M_PI);
        a[k] = rng_normal(&r) / sqrt(6.0);
    }
    for (int i = 0; i < L; i++) {
        double t = (i + 1.0) / L, s = 0;
        for (int k = 0; k < 12; k++) s += a[k] * sin(2 * M_PI * fr[k] * t + ph[k]);
        f[i] = s;
    }
}

static double rms_rel(const double *a, const double *b, int n)
{
    double e = 0, s = 0;
    for (int i = 0; i < n; i++) { e += (a[i] - b[i]) * (a[i] - b[i]); s += b[i] * b[i]; }
    return sqrt(e / s);
}

/* ---------------------------------------------------------------- §4.1 HiPPO */

static void section_hippo(int L, double theta)
{
    printf("\n§1 HiPPO: memory as online function approximation\n");
    double A[16], B[4];
    hippo_legs(4, A, B);
    printf("  HiPPO-LegS, N = 4 (4.3):  A =\n");
    for (int n = 0; n < 4; n++)
        printf("    [%7.4f %7.4f %7.4f %7.4f]   B_%d = %.4f\n", A[n * 4], A[n * 4 + 1],
               A[n * 4 + 2], A[n * 4 + 3], n, B[n]);

    double *f = xmalloc_f64(L), *s = xmalloc_f64(L), *rec[3], *legt = xmalloc_f64(L);
    smooth_signal(L, 11, f);
    /* Sample i is taken at t = (i+1)/L, but both discretizations feed f_i through the
     * whole step (B̄ f_i), a half-step lag: the coefficients describe the signal at the
     * midpoints (i + ½)/L, so that is where the reconstruction is evaluated. */
    for (int i = 0; i < L; i++) s[i] = (i + 0.5) / L;
    int N = 64, at[3] = {L / 4 - 1, L / 2 - 1, L - 1};
    double *coef = xmalloc_f64(3 * (size_t)N), ct[64];
    hippo_online_legs(N, f, L, 3, at, coef);
    for (int k = 0; k < 3; k++) {
        rec[k] = xmalloc_f64(L);
        int n = at[k] + 1;
        hippo_reconstruct_legs(N, coef + k * N, s[at[k]], n, s, rec[k]);
        for (int i = n; i < L; i++) rec[k][i] = NAN;
        printf("  LegS N = %d, t = %.2f: relative RMS error of the whole history %.2e\n", N,
               s[at[k]], rms_rel(rec[k], f, n));
    }
    hippo_online_legt(N, theta, 1.0 / L, f, L, 1, at + 2, ct);
    int w0 = L - (int)lround(theta * L);
    hippo_reconstruct_legt(N, ct, 1.0, theta, L - w0, s + w0, legt + w0);
    for (int i = 0; i < w0; i++) legt[i] = NAN;
    const double *c1[] = {s, f, rec[0], rec[1], rec[2], legt};
    dat("hippo_recon.dat", "t f legs_t1 legs_t2 legs_t3 legt_t3", L, 6, c1);
    plot("hippo_recon");

    /* uniform memory against a sliding window: pointwise error at t = 1 */
    double *eS1 = xmalloc_f64(L), *eT1 = xmalloc_f64(L);
    for (int i = 0; i < L; i++) {
        eS1[i] = fabs(rec[2][i] - f[i]);
        eT1[i] = i < w0 ? NAN : fabs(legt[i] - f[i]);
    }
    const double *cm[] = {s, eS1, eT1};
    dat("hippo_memory.dat", "t abs_err_legs abs_err_legt", L, 3, cm);
    plot("hippo_memory");
    free(eS1); free(eT1);

    int Ns[] = {8, 16, 32, 64, 128, 256}, nN = 6;
    double eN[6], eS[6], eT[6];
    printf("  %5s  %14s  %14s\n", "N", "LegS err [0,1]", "LegT err window");
    for (int k = 0; k < nN; k++) {
        int n = Ns[k];
        double *c = xmalloc_f64(n), *r = xmalloc_f64(L);
        hippo_online_legs(n, f, L, 1, at + 2, c);
        hippo_reconstruct_legs(n, c, 1.0, L, s, r);
        eS[k] = rms_rel(r, f, L);
        hippo_online_legt(n, theta, 1.0 / L, f, L, 1, at + 2, c);
        hippo_reconstruct_legt(n, c, 1.0, theta, L - w0, s + w0, r);
        eT[k] = rms_rel(r, f + w0, L - w0);
        eN[k] = n;
        printf("  %5d  %14.3e  %14.3e\n", n, eS[k], eT[k]);
        free(c); free(r);
    }
    const double *c2[] = {eN, eS, eT};
    dat("hippo_error.dat", "N legs_rel_rms legt_rel_rms", nN, 3, c2);
    plot("hippo_error");
    summary_add(outdir, "HiPPO-LegS recon. rel. RMS error, N=64", "%.2e", eS[3]);
    summary_add(outdir, "HiPPO-LegT recon. rel. RMS error, N=64", "%.2e", eT[3]);

    /* the floor is the discretization's: its order in L, N = 64 */
    printf("  discretization floor (N = 64) against the number of samples L:\n");
    printf("  %6s  %14s  %14s  %22s\n", "L", "LegS err [0,1]", "LegT err window", "LegT at sample times");
    double fl[4], fs[4], ft[4];
    for (int k = 0; k < 4; k++) {
        int Lk = 1000 << k, at_k = Lk - 1, wk = Lk - (int)lround(theta * Lk);
        double *fk = xmalloc_f64(Lk), *sk = xmalloc_f64(Lk), *rk = xmalloc_f64(Lk), ck[64];
        smooth_signal(Lk, 11, fk);
        for (int i = 0; i < Lk; i++) sk[i] = (i + 0.5) / Lk;
        hippo_online_legs(N, fk, Lk, 1, &at_k, ck);
        hippo_reconstruct_legs(N, ck, 1.0, Lk, sk, rk);
        fs[k] = rms_rel(rk, fk, Lk);
        hippo_online_legt(N, theta, 1.0 / Lk, fk, Lk, 1, &at_k, ck);
        hippo_reconstruct_legt(N, ck, 1.0, theta, Lk - wk, sk + wk, rk);
        ft[k] = rms_rel(rk, fk + wk, Lk - wk);
        for (int i = 0; i < Lk; i++) sk[i] = (i + 1.0) / Lk; /* the sample times */
        hippo_reconstruct_legt(N, ck, 1.0, theta, Lk - wk, sk + wk, rk);
        double e_at = rms_rel(rk, fk + wk, Lk - wk);
        fl[k] = Lk;
        printf("  %6d  %14.3e  %14.3e  %22.3e\n", Lk, fs[k], ft[k], e_at);
        free(fk); free(sk); free(rk);
    }
    double oS = -loglog_slope(fl, fs, 4), oT = -loglog_slope(fl, ft, 4);
    printf("  measured order in 1/L: LegS %.2f (first order), LegT %.2f (second order)\n", oS, oT);
    summary_add(outdir, "HiPPO discretization order: LegS, LegT", "%.2f, %.2f", oS, oT);

    printf("  why S4 does not diagonalize A directly: max |eigenvector entry| of LegS\n");
    double gV[4];
    for (int k = 0; k < 4; k++) {
        gV[k] = hippo_legs_eigvec_max(8 << k);
        printf("    N = %3d: %.2e\n", 8 << k, gV[k]);
    }
    summary_add(outdir, "LegS eigenvector max entry, N=64", "%.1e", gV[3]);
    free(f); free(s); free(legt); free(coef);
    for (int k = 0; k < 3; k++) free(rec[k]);
}

/* ------------------------------------------------------------------- §4.2 S4 */

/* Seconds for the naive kernel (bilinear_dense + powers of Ā) and for S4's. */
static void time_kernels(int N, int L, double dt, int reps, double *t_naive, double *t_s4)
{
    legs_nplr s = nplr_make(N);
    double *C = xmalloc_f64(N), *K = xmalloc_f64(L), *Ab = xmalloc_f64((size_t)N * N), *Bb = xmalloc_f64(N);
    double complex *Ct = xmalloc(N * sizeof *Ct);
    rng_t r;
    rng_seed(&r, 5);
    rng_fill_normal(&r, C, N, 0, 1);
    s4_ctilde(N, s.A, C, s.V, dt, L, Ct);
    double bn = 1e30, bs = 1e30;
    for (int k = 0; k < reps; k++) { /* best of reps: the least disturbed run */
        double t0 = now_seconds();
        bilinear_dense(N, 1, s.A, s.B, dt, Ab, Bb);
        ssm_kernel_dense(N, Ab, Bb, C, L, K);
        double t1 = now_seconds();
        s4_kernel(N, s.Lambda, s.Ptil, s.Ptil, s.Btil, Ct, dt, L, K);
        double t2 = now_seconds();
        if (t1 - t0 < bn) bn = t1 - t0;
        if (t2 - t1 < bs) bs = t2 - t1;
    }
    *t_naive = bn;
    *t_s4 = bs;
    free(C); free(K); free(Ab); free(Bb); free(Ct);
    nplr_free(&s);
}

static void section_s4(int N, int L, double dt, int bench)
{
    printf("\n§2 S4: normal plus low rank, Cauchy kernel, Woodbury, inverse FFT\n");
    double t0 = now_seconds();
    legs_nplr s = nplr_make(N);
    double tn = now_seconds() - t0;
    double *Ar = xmalloc_f64((size_t)N * N);
    double im = nplr_reconstruct(N, s.Lambda, s.V, s.Ptil, s.Ptil, Ar);
    double nerr = max_abs_diff(Ar, s.A, (size_t)N * N) / max_abs(s.A, (size_t)N * N);
    printf("  NPLR of LegS, N = %d (%.3f s): max|A - V(Λ - P̃P̃ᴴ)Vᴴ| / max|A| = %.2e, max|Im| = %.1e\n",
           N, tn, nerr, im);
    printf("  Re Λ: all -1/2 (normal part -½I + S); Im Λ in [%.3f, %.3f]\n", cimag(s.Lambda[N - 1]),
           cimag(s.Lambda[0]));
    summary_add(outdir, "NPLR reconstruction rel. error, N=64", "%.2e", nerr);

    double *C = xmalloc_f64(N), *Ks4 = xmalloc_f64(L), *Kn = xmalloc_f64(L);
    double *Ab = xmalloc_f64((size_t)N * N), *Bb = xmalloc_f64(N);
    double complex *Ct = xmalloc(N * sizeof *Ct);
    rng_t r;
    rng_seed(&r, 5);
    rng_fill_normal(&r, C, N, 0, 1);
    s4_ctilde(N, s.A, C, s.V, dt, L, Ct);
    s4_kernel(N, s.Lambda, s.Ptil, s.Ptil, s.Btil, Ct, dt, L, Ks4);
    bilinear_dense(N, 1, s.A, s.B, dt, Ab, Bb);
    ssm_kernel_dense(N, Ab, Bb, C, L, Kn);
    double kerr = rel_err(Ks4, Kn, L);
    printf("  S4 kernel vs naive (powers of Ā, stage 03), N = %d, L = %d, Δ = %g: rel. error %.2e\n",
           N, L, dt, kerr);
    summary_add(outdir, "S4 kernel vs naive, N=64 L=4096 (rel.)", "%.2e", kerr);
    double *j = xmalloc_f64(L), *d = xmalloc_f64(L);
    for (int i = 0; i < L; i++) { j[i] = i; d[i] = fabs(Ks4[i] - Kn[i]); }
    const double *c1[] = {j, Ks4, Kn, d};
    dat("s4_kernel.dat", "j K_s4 K_naive abs_diff", L, 4, c1);
    plot("s4_kernel");

    /* timings against L (N fixed) and N (L fixed); best of `reps` */
    int reps = bench ? 5 : 3;
    int Ls[] = {256, 1024, 4096, 16384, 65536}, nL = bench ? 5 : 4;
    int Ns[] = {16, 32, 64, 128, 256, 512}, nN = bench ? 6 : 5;
    double xL[5], aL[5], bL[5], xN[6], aN[6], bN[6];
    printf("  timings (best of %d; naive = bilinear_dense + powers of Ā; S4 = Cauchy + Woodbury + iFFT):\n", reps);
    printf("  %6s %6s %12s %12s %8s\n", "N", "L", "naive [s]", "S4 [s]", "ratio");
    for (int k = 0; k < nL; k++) {
        time_kernels(N, Ls[k], dt, reps, &aL[k], &bL[k]);
        xL[k] = Ls[k];
        printf("  %6d %6d %12.3e %12.3e %8.1f\n", N, Ls[k], aL[k], bL[k], aL[k] / bL[k]);
    }
    for (int k = 0; k < nN; k++) {
        time_kernels(Ns[k], L, dt, reps, &aN[k], &bN[k]);
        xN[k] = Ns[k];
        printf("  %6d %6d %12.3e %12.3e %8.1f\n", Ns[k], L, aN[k], bN[k], aN[k] / bN[k]);
    }
    const double *cL[] = {xL, aL, bL}, *cN[] = {xN, aN, bN};
    dat("s4_timing_L.dat", "L naive_s s4_s", nL, 3, cL);
    dat("s4_timing_N.dat", "N naive_s s4_s", nN, 3, cN);
    plot("s4_timing");
    summary_add(outdir, "S4 kernel speed-up over naive, N=256 L=4096", "%.1fx", aN[4] / bN[4]);
    if (bench) {
        char path[4096], tmp[4200], mach[256];
        machine_name(mach, sizeof mach);
        path_join(path, sizeof path, outdir, "s4_timing.csv");
        FILE *fp = atomic_fopen(path, tmp, sizeof tmp);
        fprintf(fp, "# machine: %s; best of %d runs\nN,L,naive_s,s4_s,ratio\n", mach, reps);
        for (int k = 0; k < nL; k++) fprintf(fp, "%d,%d,%.6e,%.6e,%.3f\n", N, Ls[k], aL[k], bL[k], aL[k] / bL[k]);
        for (int k = 0; k < nN; k++) fprintf(fp, "%d,%d,%.6e,%.6e,%.3f\n", Ns[k], L, aN[k], bN[k], aN[k] / bN[k]);
        atomic_fclose(fp, tmp, path);
        printf("  bench: %s\n", path);
    }
    free(Ar); free(C); free(Ks4); free(Kn); free(Ab); free(Bb); free(Ct); free(j); free(d);
    nplr_free(&s);
}

/* ------------------------------------------------------------------ §4.3 S4D */

static void section_s4d(void)
{
    printf("\n§3 S4D: diagonal state matrices, kernels by Vandermonde (stage 03)\n");
    enum { NH = 32, LK = 1024 };
    double dt = 0.01;
    double *cols[1 + S4D_NINIT], *er[S4D_NINIT], *ei[S4D_NINIT];
    double *j = xmalloc_f64(LK), *Kb = xmalloc_f64(LK);
    double complex lam[NH], B[NH], C[NH];
    for (int n = 0; n < NH; n++) { B[n] = 1; C[n] = 1.0 / NH; }
    for (int i = 0; i < LK; i++) j[i] = i * dt;
    cols[0] = j;
    printf("  %-7s %12s %12s %18s\n", "init", "max Re λ", "max |Im λ|", "|K_zoh - K_bil|/|K|");
    for (int k = 0; k < S4D_NINIT; k++) {
        s4d_init(k, NH, 3, lam);
        cols[k + 1] = xmalloc_f64(LK);
        s4d_kernel(NH, lam, B, C, dt, DISC_ZOH, LK, cols[k + 1]);
        s4d_kernel(NH, lam, B, C, dt, DISC_BILINEAR, LK, Kb);
        er[k] = xmalloc_f64(NH); ei[k] = xmalloc_f64(NH);
        double mr = -1e30, mi = 0;
        for (int n = 0; n < NH; n++) {
            er[k][n] = creal(lam[n]); ei[k][n] = cimag(lam[n]);
            if (er[k][n] > mr) mr = er[k][n];
            if (fabs(ei[k][n]) > mi) mi = fabs(ei[k][n]);
        }
        double e = rel_err(Kb, cols[k + 1], LK);
        printf("  %-7s %12.3f %12.2f %18.2e\n", s4d_init_name[k], mr, mi, e);
    }
    dat("s4d_kernels.dat", "t legs lin inv real random", LK, 1 + S4D_NINIT, (const double *const *)cols);
    plot("s4d_kernels");
    size_t rows[S4D_NINIT];
    const double *const *blocks[S4D_NINIT];
    const double *bc[S4D_NINIT][2];
    for (int k = 0; k < S4D_NINIT; k++) {
        rows[k] = NH;
        bc[k][0] = er[k]; bc[k][1] = ei[k];
        blocks[k] = bc[k];
    }
    char path[4096];
    path_join(path, sizeof path, outdir, "s4d_eigs.dat");
    dat_write_blocks(path, "re im (blocks: legs lin inv real random)", S4D_NINIT, rows, 2, blocks);
    plot("s4d_eigs");
    for (int k = 0; k < S4D_NINIT; k++) { free(cols[k + 1]); free(er[k]); free(ei[k]); }
    free(j); free(Kb);
}

/* ------------------------------------------------------------- §4.4 training */

typedef struct {
    int steps, L, tau, H, Nh, layers, batch, seed, stop_at, ckpt_every;
    double lr, ssm_lr_scale, wd, fmax, clip;
    const char *inits, *resume;
} train_opts;

static void section_train(const train_opts *o)
{
    printf("\n§4 training a deep S4D model in C: reproduce the input delayed by τ = %d\n", o->tau);
    printf("  L = %d, band-limited input (fmax %.4g cycles/step), H = %d, Nh = %d, %d layers, batch %d,\n"
           "  %d steps, AdamW lr %g (Λ, Δ: ×%g, no weight decay), wd %g, clip %g, seed %d\n",
           o->L, o->fmax, o->H, o->Nh, o->layers, o->batch, o->steps, o->lr, o->ssm_lr_scale, o->wd,
           o->clip, o->seed);
    char list[256];
    snprintf(list, sizeof list, "%s", o->inits);
    int kinds[S4D_NINIT], nk = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) kinds[nk++] = s4d_init_parse(tok);
    for (int k = 0; k < S4D_NINIT; k++) { /* curves of an earlier run must not join the plot */
        char path[4096], name[64];
        snprintf(name, sizeof name, "train_curve_%s.dat", s4d_init_name[k]);
        path_join(path, sizeof path, outdir, name);
        remove(path);
    }
    size_t T = (size_t)o->batch * o->L;
    double *x = xmalloc_f64(T), *tg = xmalloc_f64(T), *ex = xmalloc_f64(T), *et = xmalloc_f64(T);
    delay_task_batch(o->seed, 1000000, o->batch, o->L, o->tau, o->fmax, ex, et); /* held out */
    double base = 0;
    for (size_t i = 0; i < T; i++) base += et[i] * et[i];
    base /= T; /* the loss of predicting 0 */
    double *curve_x[S4D_NINIT], *curve_y[S4D_NINIT];
    size_t rows[S4D_NINIT];
    double fin[S4D_NINIT], ev[S4D_NINIT], secs[S4D_NINIT];
    adamw_cfg cfg = {o->lr, 0.9, 0.999, 1e-8, o->wd};
    for (int k = 0; k < nk; k++) {
        s4d_model m;
        s4d_config mc = {o->H, o->Nh, o->layers};
        s4d_model_init(&m, mc, kinds[k], 1e-3, 1e-1, (unsigned long)o->seed);
        char path[4096], name[64], meta[256];
        snprintf(name, sizeof name, "ckpt_%s.safetensors", s4d_init_name[kinds[k]]);
        path_join(path, sizeof path, outdir, name);
        snprintf(meta, sizeof meta, "\"init\":\"%s\",\"seed\":\"%d\",\"tau\":\"%d\",\"L\":\"%d\"",
                 s4d_init_name[kinds[k]], o->seed, o->tau, o->L);
        if (o->resume) {   /* the checkpoint must be this run's: same init, seed, task, sizes */
            s4d_load_run(&m, o->resume, meta);
            if (m.step > o->steps)
                die(EXIT_BAD_INPUT, "%s: checkpoint is at step %d, past --steps %d", o->resume, m.step, o->steps);
            printf("  resumed from %s at step %d\n", o->resume, m.step);
        }
        int s0 = m.step, n = o->steps > s0 ? o->steps - s0 : 0;
        curve_x[k] = xmalloc_f64(n + 1); curve_y[k] = xmalloc_f64(n + 1);
        rows[k] = n;
        if (o->stop_at > 0 && o->stop_at < o->steps && o->stop_at > s0) n = o->stop_at - s0;
        progress_t pb;
        char label[64], extra[64];
        snprintf(label, sizeof label, "train %s", s4d_init_name[kinds[k]]);
        progress_start(&pb, label, n);
        double t0 = now_seconds(), tail = 0;
        int ntail = 0;
        for (int i = 0; i < n; i++) {
            int step = s0 + i;
            delay_task_batch(o->seed, step, o->batch, o->L, o->tau, o->fmax, x, tg);
            double loss = s4d_forward(&m, x, tg, o->batch, o->L);
            if (!isfinite(loss)) die(1, "training %s: loss is %g at step %d", label, loss, step);
            s4d_backward(&m, tg);
            s4d_adamw_step(&m, &cfg, lr_schedule(step, o->steps / 20, o->steps, o->lr, 0.01 * o->lr),
                           o->ssm_lr_scale, o->clip);
            curve_x[k][i] = step;
            curve_y[k][i] = loss / base;
            if (i >= n - 10) { tail += loss; ntail++; }
            snprintf(extra, sizeof extra, "loss %.4f", loss);
            progress_update(&pb, i + 1, extra);
            if (m.step % o->ckpt_every == 0) s4d_save(&m, path, meta); /* resumable */
        }
        progress_end(&pb);
        secs[k] = now_seconds() - t0;
        fin[k] = ntail ? tail / ntail : NAN;
        ev[k] = s4d_forward(&m, ex, et, o->batch, o->L);
        s4d_save(&m, path, meta);
        printf("  %-7s step %4d: train loss (last 10) %.4f, held-out MSE %.4f = %.3f of predicting 0 (%.1f s) → %s\n",
               s4d_init_name[kinds[k]], m.step, fin[k], ev[k], ev[k] / base, secs[k], path);
        s4d_model_free(&m);
    }
    printf("\n  | init    | held-out MSE | MSE / MSE(0) | train loss | seed |\n");
    for (int k = 0; k < nk; k++) {
        printf("  | %-7s | %12.4f | %12.3f | %10.4f | %4d |\n", s4d_init_name[kinds[k]], ev[k],
               ev[k] / base, fin[k], o->seed);
        char met[96];
        snprintf(met, sizeof met, "delay task held-out MSE/MSE(0), init %s", s4d_init_name[kinds[k]]);
        summary_add(outdir, met, "%.3f", ev[k] / base);
    }
    for (int k = 0; k < nk; k++) { /* one file per init: the plot's key names them */
        char name[64];
        snprintf(name, sizeof name, "train_curve_%s.dat", s4d_init_name[kinds[k]]);
        const double *cc[] = {curve_x[k], curve_y[k]};
        dat(name, "step loss_over_mse0", rows[k], 2, cc);
    }
    plot("train_curves");
    for (int k = 0; k < nk; k++) { free(curve_x[k]); free(curve_y[k]); }
    free(x); free(tg); free(ex); free(et);
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    const char *dump = NULL, *check = NULL;
    int bench = 0, hippo_L = 4000, N = 64, L = 4096, train_only = 0;
    double dt = 0.01, theta = 0.25;
    /* The quick demo's training: three inits (one HiPPO, the two that fail for different
     * reasons), 200 steps; results/run_long.sh runs all five for 300 steps and three seeds. */
    train_opts t = {200, 1024, 256, 16, 16, 2, 8, 1, 0, 100, 0.01, 0.1, 0.01, 1.0 / 32, 1.0,
                    "legs,real,random", NULL};
    cli_opt opts[] = {
        {"out", CLI_STRING, &outdir, "output directory (default out)"},
        {"dump-vectors", CLI_STRING, &dump, "write the golden vectors to DIR and exit"},
        {"check", CLI_STRING, &check, "recompute the vectors in DIR; exit 0 if all pass, 1 if not"},
        {"bench", CLI_FLAG, &bench, "time the S4 and naive kernels (larger sizes, CSV) and exit"},
        {"hippo-L", CLI_INT, &hippo_L, "samples of the HiPPO test signal, 64..100000 (default 4000)"},
        {"theta", CLI_DOUBLE, &theta, "LegT window, fraction of the signal in (0, 1] (default 0.25)"},
        {"N", CLI_INT, &N, "S4 state size for the kernel check, 2..1024 (default 64)"},
        {"L", CLI_INT, &L, "S4 kernel length for the check, 2..65536 (default 4096)"},
        {"dt", CLI_DOUBLE, &dt, "S4 step Δ for the check, in (0, 10] (default 0.01)"},
        {"train-only", CLI_FLAG, &train_only, "skip §1-§3, only train"},
        {"steps", CLI_INT, &t.steps, "training steps per init, 1..10000000 (default 200)"},
        {"train-L", CLI_INT, &t.L, "training sequence length, 2..1048576 (default 1024)"},
        {"tau", CLI_INT, &t.tau, "delay τ of the task, 0..train-L - 1 (default 256)"},
        {"fmax", CLI_DOUBLE, &t.fmax, "input bandwidth, cycles per step in (0, 0.5] (default 1/32)"},
        {"H", CLI_INT, &t.H, "channels, 1..4096 (default 16)"},
        {"Nh", CLI_INT, &t.Nh, "complex modes per channel, 1..4096 (default 16)"},
        {"layers", CLI_INT, &t.layers, "S4D layers, 1..64 (default 2)"},
        {"batch", CLI_INT, &t.batch, "batch size, 1..4096 (default 8; batch × train-L × H × layers is capped: 4 GiB of activations)"},
        {"lr", CLI_DOUBLE, &t.lr, "AdamW learning rate in (0, 10) (default 0.01)"},
        {"ssm-lr-scale", CLI_DOUBLE, &t.ssm_lr_scale, "learning-rate factor for Λ and Δ in [0, 10] (default 0.1)"},
        {"wd", CLI_DOUBLE, &t.wd, "weight decay of the linear weights in [0, 1) (default 0.01)"},
        {"clip", CLI_DOUBLE, &t.clip, "gradient-norm clip >= 0, 0 = off (default 1)"},
        {"seed", CLI_INT, &t.seed, "seed of the model and the data, 0..2147483647 (default 1)"},
        {"inits", CLI_STRING, &t.inits, "comma-separated inits of legs,lin,inv,real,random (default legs,real,random)"},
        {"resume", CLI_STRING, &t.resume, "continue training from this checkpoint (one init; same --steps)"},
        {"stop-at", CLI_INT, &t.stop_at, "stop after this step, as if interrupted, >= 0 (0 = run to --steps)"},
        {"ckpt-every", CLI_INT, &t.ckpt_every, "write the checkpoint every this many steps, >= 1 (default 100)"},
        {0}};
    cli_parse(argc, argv,
              "Stage 04: HiPPO memory, the S4 kernel (NPLR, Cauchy, Woodbury), S4D, and a deep "
              "S4D model trained in C on a long-memory task.", opts);
    /* work bounds: §4.1's online updates cost N² per sample (N up to 256) and its plot has
     * hippo-L points; the naive kernel of §4.2 costs N² L, its timing sweep 512² L */
    if (hippo_L < 64 || hippo_L > 100000) die(EXIT_BAD_INPUT, "--hippo-L: expected 64..100000, got %d", hippo_L);
    if (!(theta > 0 && theta <= 1)) die(EXIT_BAD_INPUT, "--theta: expected a fraction in (0, 1], got %g", theta);
    if (N < 2 || N > 1024) die(EXIT_BAD_INPUT, "--N: expected 2..1024, got %d", N);
    if (L < 2 || L > (1 << 16)) die(EXIT_BAD_INPUT, "--L: expected 2..65536, got %d", L);
    if (!(dt > 0 && dt <= 10)) die(EXIT_BAD_INPUT, "--dt: expected a step in (0, 10], got %g", dt);
    if (t.steps < 1 || t.steps > 10000000) die(EXIT_BAD_INPUT, "--steps: expected 1..10000000, got %d", t.steps);
    if (t.L < 2 || t.L > (1 << 20)) die(EXIT_BAD_INPUT, "--train-L: expected 2..1048576, got %d", t.L);
    if (t.tau < 0 || t.tau >= t.L) die(EXIT_BAD_INPUT, "--tau: expected 0 <= tau < train-L = %d, got %d", t.L, t.tau);
    if (!(t.fmax > 0 && t.fmax <= 0.5)) die(EXIT_BAD_INPUT, "--fmax: expected (0, 0.5] cycles per step, got %g", t.fmax);
    if (t.H < 1 || t.H > 4096) die(EXIT_BAD_INPUT, "--H: expected 1..4096, got %d", t.H);
    if (t.Nh < 1 || t.Nh > 4096) die(EXIT_BAD_INPUT, "--Nh: expected 1..4096, got %d", t.Nh);
    if (t.layers < 1 || t.layers > 64) die(EXIT_BAD_INPUT, "--layers: expected 1..64, got %d", t.layers);
    if (t.batch < 1 || t.batch > 4096) die(EXIT_BAD_INPUT, "--batch: expected 1..4096, got %d", t.batch);
    {   /* the model keeps ~4 (batch, L, H) arrays per layer and its backward ~6 more (s4d_model.c) */
        double gib = (4.0 * t.layers + 6) * t.batch * (double)t.L * t.H * sizeof(double) / (1u << 30);
        if (gib > 4)
            die(EXIT_BAD_INPUT, "--batch %d, --train-L %d, --H %d, --layers %d: the activations would take %.1f GiB, "
                "over the 4 GiB limit", t.batch, t.L, t.H, t.layers, gib);
    }
    if (!(t.lr > 0 && t.lr < 10)) die(EXIT_BAD_INPUT, "--lr: expected (0, 10), got %g", t.lr);
    if (!(t.ssm_lr_scale >= 0 && t.ssm_lr_scale <= 10)) die(EXIT_BAD_INPUT, "--ssm-lr-scale: expected [0, 10], got %g", t.ssm_lr_scale);
    if (!(t.wd >= 0 && t.wd < 1)) die(EXIT_BAD_INPUT, "--wd: expected [0, 1), got %g", t.wd);
    if (!(t.clip >= 0)) die(EXIT_BAD_INPUT, "--clip: expected >= 0, got %g", t.clip);
    if (t.stop_at < 0) die(EXIT_BAD_INPUT, "--stop-at: expected >= 0, got %d", t.stop_at);
    if (t.ckpt_every < 1) die(EXIT_BAD_INPUT, "--ckpt-every: expected >= 1, got %d", t.ckpt_every);
    if (t.seed < 0) die(EXIT_BAD_INPUT, "--seed: expected >= 0, got %d", t.seed);
    {
        char list[256];
        if (strlen(t.inits) >= sizeof list) die(EXIT_BAD_INPUT, "--inits: too long");
        snprintf(list, sizeof list, "%s", t.inits);
        int n = 0;
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","), n++)
            if (s4d_init_parse(tok) < 0)
                die(EXIT_BAD_INPUT, "--inits: unknown init \"%s\" (expected legs, lin, inv, real or random)", tok);
        if (n < 1 || n > S4D_NINIT) die(EXIT_BAD_INPUT, "--inits: expected 1..%d names, got %d", S4D_NINIT, n);
        if (t.resume && n != 1) die(EXIT_BAD_INPUT, "--resume: expected exactly one name in --inits, got %d", n);
    }
    if (dump) return hippo_vectors(dump, 1);
    if (check) return hippo_vectors(check, 0);

    mkdir_p(outdir);
    double t0 = now_seconds();
    if (bench) {
        section_s4(N, L, dt, 1);
        return 0;
    }
    summary_reset(outdir);
    if (!train_only) {
        section_hippo(hippo_L, theta);
        section_s4(N, L, dt, 0);
        section_s4d();
    }
    section_train(&t);
    printf("\nstage 04 done in %.1f s; plots and data in %s/\n", now_seconds() - t0, outdir);
    return 0;
}
