/* 07_ssd_mamba2/ssd_forms.h — the bodies of the SSD forms, written once for a type T.
 * Included twice by ssd.c: T = double with FN(name) = name##_f64 and the BLAS routines
 * GEMM, GEMV, GER, DOT, SCAL = cblas_d…, then T = float with _f32 and cblas_s….
 * <tgmath.h> makes exp() the precision of T. Not a header to
 * include anywhere else (no include guard on purpose). See ssd.h for the equations. */

#define ARGS FN(ssd_args)
#define GRADS FN(ssd_grads)

/* ---- indexing: x, y (batch, L, H, P); dt (batch, L, H); B, C (batch, L, G, N) ---- */
static inline size_t FN(xi)(const ssd_dims *d, int b, int t, int h)
{
    return (((size_t)b * d->L + t) * d->H + h) * d->P;
}
static inline size_t FN(dti)(const ssd_dims *d, int b, int t, int h)
{
    return ((size_t)b * d->L + t) * d->H + h;
}
static inline size_t FN(bci)(const ssd_dims *d, int b, int t, int h)
{
    return (((size_t)b * d->L + t) * d->G + h / (d->H / d->G)) * d->N;
}
/* states (batch, nchunks, H, P, N) */
static inline size_t FN(sti)(const ssd_dims *d, int nc, int b, int c, int h)
{
    return (((size_t)b * nc + c) * d->H + h) * (size_t)d->P * d->N;
}

static inline T FN(dot)(const T *u, const T *v, int n)
{
    T s = 0;
    for (int i = 0; i < n; i++) s += u[i] * v[i];
    return s;
}

/* (7.1) a_t = Δ_t A_h for t = t0 … t0+n−1 of sequence b, head h */
static void FN(log_decay)(const ARGS *a, int b, int h, int t0, int n, T *out)
{
    for (int i = 0; i < n; i++) out[i] = a->dt[FN(dti)(&a->d, b, t0 + i, h)] * a->A[h];
}

/* (7.5) segment sums: row t is row t−1 plus a_t, so S_ts = a_{s+1} + … + a_t is a
 * running sum in order — exact up to one rounding per term, never cs_t − cs_s. */
void FN(ssd_segsum)(int n, const T *a, T *S)
{
    for (int t = 0; t < n; t++) {
        T *row = S + (size_t)t * n;
        const T *prev = row - n;
        for (int s = 0; s < t; s++) row[s] = prev[s] + a[t];
        row[t] = 0;
        for (int s = t + 1; s < n; s++) row[s] = -INFINITY;
    }
}

/* y_t (P) = D_h x_t, the skip term of (7.3) */
static void FN(skip)(const ARGS *a, int b, int t, int h, T *yt)
{
    const T *xt = a->x + FN(xi)(&a->d, b, t, h);
    const T Dh = a->D ? a->D[h] : 0;
    for (int p = 0; p < a->d.P; p++) yt[p] = Dh * xt[p];
}

/* ---- (1) the recurrence (7.2)–(7.3), state h (P × N) per (b, h) ---- */
void FN(ssd_scan)(const ARGS *a, T *y, T *h_last)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    const int P = d->P, N = d->N;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < d->batch; b++)
        for (int h = 0; h < d->H; h++) {
            T *st = xmalloc((size_t)P * N * sizeof(T));
            for (size_t i = 0; i < (size_t)P * N; i++)
                st[i] = a->h0 ? a->h0[((size_t)b * d->H + h) * P * N + i] : 0;
            for (int t = 0; t < d->L; t++) {
                const T dt = a->dt[FN(dti)(d, b, t, h)], decay = exp(dt * a->A[h]); /* e^{a_t} */
                const T *xt = a->x + FN(xi)(d, b, t, h);
                const T *Bt = a->B + FN(bci)(d, b, t, h), *Ct = a->C + FN(bci)(d, b, t, h);
                T *yt = y + FN(xi)(d, b, t, h);
                FN(skip)(a, b, t, h, yt);
                for (int p = 0; p < P; p++) {
                    T *sp = st + (size_t)p * N;
                    const T u = dt * xt[p];
                    T acc = 0;
                    for (int n = 0; n < N; n++) {
                        sp[n] = decay * sp[n] + u * Bt[n];     /* (7.2) */
                        acc += Ct[n] * sp[n];                  /* (7.3) */
                    }
                    yt[p] += acc;
                }
            }
            if (h_last) memcpy(h_last + ((size_t)b * d->H + h) * P * N, st, (size_t)P * N * sizeof(T));
            free(st);
        }
}

/* ---- (2) the materialized semiseparable matrix (7.4)–(7.5) ---- */
void FN(ssd_matrix)(const ARGS *a, int b, int h, T *M)
{
    const ssd_dims *d = &a->d;
    const int L = d->L;
    T *av = xmalloc((size_t)L * sizeof(T));
    FN(log_decay)(a, b, h, 0, L, av);
    FN(ssd_segsum)(L, av, M);                  /* M holds segsum(a) … */
    for (int t = 0; t < L; t++) {
        const T *Ct = a->C + FN(bci)(d, b, t, h);
        T *row = M + (size_t)t * L;
        for (int s = 0; s <= t; s++)           /* … then L ∘ (C Bᵀ) · diag(Δ) */
            row[s] = exp(row[s]) * FN(dot)(Ct, a->B + FN(bci)(d, b, s, h), d->N) *
                     a->dt[FN(dti)(d, b, s, h)];
        for (int s = t + 1; s < L; s++) row[s] = 0;
    }
    free(av);
}

void FN(ssd_quadratic)(const ARGS *a, T *y)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    if (a->h0) die(2, "ssd_quadratic: an initial state h0 is not part of the quadratic form (7.4)");
    const int L = d->L, P = d->P;
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < d->batch; b++)
        for (int h = 0; h < d->H; h++) {
            T *M = xmalloc((size_t)L * L * sizeof(T));
            FN(ssd_matrix)(a, b, h, M);
            for (int t = 0; t < L; t++) {
                T *yt = y + FN(xi)(d, b, t, h);
                FN(skip)(a, b, t, h, yt);
                for (int s = 0; s <= t; s++) {
                    const T m = M[(size_t)t * L + s], *xs = a->x + FN(xi)(d, b, s, h);
                    for (int p = 0; p < P; p++) yt[p] += m * xs[p];
                }
            }
            free(M);
        }
}

/* ---- (3) the chunked algorithm, chunk c covering t0 = cQ … t0+n−1 ---- */
static int FN(chunk_len)(const ssd_dims *d, int Q, int c)
{
    return d->L - c * Q < Q ? d->L - c * Q : Q;
}

static void FN(check_Q)(const char *fn, int Q)
{
    if (Q < 1) die(2, "%s: chunk size Q must be >= 1, got %d", fn, Q);
}

/* (7.6) step 1: y_t = Σ_{s ≤ t in the chunk} exp(segsum)_ts (C_tᵀB_s) Δ_s x_s — the
 * quadratic form on each diagonal block of M (the intra-chunk "attention"), as two
 * matrix products: C Bᵀ (n × n, once per group) and M_h X (n × P, per head). */
void FN(ssd_chunk_diag)(const ARGS *a, int Q, T *y)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    FN(check_Q)("ssd_chunk_diag", Q);
    const int nc = ssd_nchunks(d->L, Q), P = d->P, N = d->N, hpg = d->H / d->G;
    const int q = Q < d->L ? Q : d->L, ldx = d->H * P, ldbc = d->G * N;
#pragma omp parallel
    {
        T *av = xmalloc((size_t)q * sizeof(T)), *S = xmalloc((size_t)q * q * sizeof(T));
        T *CB = xmalloc((size_t)q * q * sizeof(T));
#pragma omp for collapse(3) schedule(static)
        for (int b = 0; b < d->batch; b++)
            for (int c = 0; c < nc; c++)
                for (int g = 0; g < d->G; g++) {
                    const int t0 = c * Q, n = FN(chunk_len)(d, Q, c);
                    const T *Cc = a->C + FN(bci)(d, b, t0, g * hpg), *Bc = a->B + FN(bci)(d, b, t0, g * hpg);
                    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, N, 1, Cc, ldbc, Bc, ldbc, 0, CB, n);
                    for (int h = g * hpg; h < (g + 1) * hpg; h++) {
                        FN(log_decay)(a, b, h, t0, n, av);
                        FN(ssd_segsum)(n, av, S);           /* S becomes M_h of the chunk */
                        for (int t = 0; t < n; t++)
                            for (int s = 0; s < n; s++)
                                S[(size_t)t * n + s] = s <= t ? exp(S[(size_t)t * n + s]) * CB[(size_t)t * n + s] *
                                                                    a->dt[FN(dti)(d, b, t0 + s, h)]
                                                              : 0;
                        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, P, n, 1, S, n,
                             a->x + FN(xi)(d, b, t0, h), ldx, 0, y + FN(xi)(d, b, t0, h), ldx);
                    }
                }
        free(CB);
        free(S);
        free(av);
    }
}

/* (7.7) step 2: the state chunk c reaches from zero, S_c = Σ_s e^{a_{s+1}+…+a_end} Δ_s x_s B_sᵀ
 * (P × N) = (w ⊙ X)ᵀ B, one matrix product; the decay to the chunk's end w_s is a running
 * sum from the end backwards. */
void FN(ssd_chunk_states)(const ARGS *a, int Q, T *states)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    FN(check_Q)("ssd_chunk_states", Q);
    const int nc = ssd_nchunks(d->L, Q), P = d->P, N = d->N;
    const int q = Q < d->L ? Q : d->L;
#pragma omp parallel
    {
        T *Xw = xmalloc((size_t)q * P * sizeof(T));
#pragma omp for collapse(3) schedule(static)
        for (int b = 0; b < d->batch; b++)
            for (int c = 0; c < nc; c++)
                for (int h = 0; h < d->H; h++) {
                    const int t0 = c * Q, n = FN(chunk_len)(d, Q, c);
                    T r = 0;                                 /* a_{s+1} + … + a_{end} */
                    for (int s = n - 1; s >= 0; s--) {
                        const size_t k = FN(dti)(d, b, t0 + s, h);
                        const T w = exp(r) * a->dt[k], *xs = a->x + FN(xi)(d, b, t0 + s, h);
                        r += a->dt[k] * a->A[h];
                        for (int p = 0; p < P; p++) Xw[(size_t)s * P + p] = w * xs[p];
                    }
                    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, P, N, n, 1, Xw, P,
                         a->B + FN(bci)(d, b, t0, h), d->G * N, 0, states + FN(sti)(d, nc, b, c, h), N);
                }
        free(Xw);
    }
}

/* (7.8) step 3: H_c = e^{Σ_{k∈c} a_k} H_{c−1} + S_c over chunks (a scan of nchunks steps,
 * from H_{−1} = h0); states[c] is replaced by the state ENTERING chunk c, H_{c−1}. */
void FN(ssd_state_passing)(const ARGS *a, int Q, T *states, T *h_last)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    FN(check_Q)("ssd_state_passing", Q);
    const int nc = ssd_nchunks(d->L, Q);
    const size_t PN = (size_t)d->P * d->N;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < d->batch; b++)
        for (int h = 0; h < d->H; h++) {
            T *carry = xmalloc(PN * sizeof(T));
            for (size_t i = 0; i < PN; i++) carry[i] = a->h0 ? a->h0[((size_t)b * d->H + h) * PN + i] : 0;
            for (int c = 0; c < nc; c++) {
                const int t0 = c * Q, n = FN(chunk_len)(d, Q, c);
                T total = 0;
                for (int s = 0; s < n; s++) total += a->dt[FN(dti)(d, b, t0 + s, h)] * a->A[h];
                const T decay = exp(total);
                T *Sc = states + FN(sti)(d, nc, b, c, h);
                for (size_t i = 0; i < PN; i++) {
                    const T s_c = Sc[i];
                    Sc[i] = carry[i];
                    carry[i] = decay * carry[i] + s_c;
                }
            }
            if (h_last) memcpy(h_last + ((size_t)b * d->H + h) * PN, carry, PN * sizeof(T));
            free(carry);
        }
}

/* (7.9) step 4: y_t += e^{a_{t0}+…+a_t} H_{c−1} C_t — what the state entering the chunk
 * contributes (the off-diagonal blocks of M, through rank N): Y += (w ⊙ C) H_{c−1}ᵀ.
 * The first chunk is skipped when it starts from h0 = 0 (it would add exact zeros). */
void FN(ssd_chunk_output)(const ARGS *a, int Q, const T *states, T *y)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    FN(check_Q)("ssd_chunk_output", Q);
    const int nc = ssd_nchunks(d->L, Q), P = d->P, N = d->N;
    const int q = Q < d->L ? Q : d->L;
#pragma omp parallel
    {
        T *Cw = xmalloc((size_t)q * N * sizeof(T));
#pragma omp for collapse(3) schedule(static)
        for (int b = 0; b < d->batch; b++)
            for (int c = 0; c < nc; c++)
                for (int h = 0; h < d->H; h++) {
                    if (c == 0 && !a->h0) continue;
                    const int t0 = c * Q, n = FN(chunk_len)(d, Q, c);
                    T r = 0;                                 /* a_{t0} + … + a_t */
                    for (int t = 0; t < n; t++) {
                        r += a->dt[FN(dti)(d, b, t0 + t, h)] * a->A[h];
                        const T w = exp(r), *Ct = a->C + FN(bci)(d, b, t0 + t, h);
                        for (int k = 0; k < N; k++) Cw[(size_t)t * N + k] = w * Ct[k];
                    }
                    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, n, P, N, 1, Cw, N,
                         states + FN(sti)(d, nc, b, c, h), N, 1, y + FN(xi)(d, b, t0, h), d->H * P);
                }
        free(Cw);
    }
}

/* ---- (4) steps 1–4 composed, any chunk size ---- */
void FN(ssd_chunked)(const ARGS *a, int Q, T *y, T *h_last)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    FN(check_Q)("ssd_chunked", Q);
    const int nc = ssd_nchunks(d->L, Q);
    T *states = xmalloc((size_t)d->batch * nc * d->H * d->P * d->N * sizeof(T));
    FN(ssd_chunk_diag)(a, Q, y);                 /* (7.6) */
    FN(ssd_chunk_states)(a, Q, states);          /* (7.7) */
    FN(ssd_state_passing)(a, Q, states, h_last); /* (7.8) */
    FN(ssd_chunk_output)(a, Q, states, y);       /* (7.9) */
    if (a->D) {                                  /* + D x (7.3) */
#pragma omp parallel for collapse(2) schedule(static)
        for (int b = 0; b < d->batch; b++)
            for (int t = 0; t < d->L; t++)
                for (int h = 0; h < d->H; h++) {
                    const size_t i = FN(xi)(d, b, t, h);
                    for (int p = 0; p < d->P; p++) y[i + p] += a->D[h] * a->x[i + p];
                }
    }
    free(states);
}

/* ---- backward: the reverse recurrence ----
 * With G_t = ∂loss/∂h_t (P × N), from (7.2)–(7.3):
 *   (7.19) G_t  = dh_last [t = L−1] + dy_t C_tᵀ + e^{a_{t+1}} G_{t+1}
 *   (7.20) dC_t = h_tᵀ dy_t,  dD_h = Σ_t x_t·dy_t,  dx_t = D_h dy_t + Δ_t G_t B_t,
 *          dB_t = Δ_t G_tᵀ x_t
 *   (7.21) da_t = e^{a_t} ⟨G_t, h_{t−1}⟩,  dΔ_t = A_h da_t + x_tᵀ G_t B_t,  dA_h = Σ_t Δ_t da_t
 * The forward states are recomputed and kept ((L+1)·P·N per head). Work is split over
 * (b, group) so dB, dC (shared by a group's heads) have one writer; dA, dD are summed
 * per sequence first, then over the batch. */
void FN(ssd_backward)(const ARGS *a, const T *dy, const T *dh_last, GRADS *g)
{
    const ssd_dims *d = &a->d;
    ssd_check_dims(d);
    const int L = d->L, P = d->P, N = d->N, hpg = d->H / d->G;
    const size_t PN = (size_t)P * N;
    T *dA_b = xcalloc((size_t)d->batch * d->H, sizeof(T)), *dD_b = xcalloc((size_t)d->batch * d->H, sizeof(T));
#pragma omp parallel
    {
        T *hs = xmalloc((size_t)(L + 1) * PN * sizeof(T)), *G = xmalloc(PN * sizeof(T));
        T *gB = xmalloc((size_t)P * sizeof(T));
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < d->batch; b++)
            for (int gi = 0; gi < d->G; gi++)
                for (int h = gi * hpg; h < (gi + 1) * hpg; h++) {
                    const size_t bh = ((size_t)b * d->H + h) * PN;
                    for (size_t i = 0; i < PN; i++) hs[i] = a->h0 ? a->h0[bh + i] : 0;
                    for (int t = 0; t < L; t++) {                 /* recompute h_t (7.2) */
                        const T dt = a->dt[FN(dti)(d, b, t, h)];
                        T *hn = hs + (size_t)(t + 1) * PN;
                        memcpy(hn, hn - PN, PN * sizeof(T));
                        SCAL((int)PN, exp(dt * a->A[h]), hn, 1);
                        GER(CblasRowMajor, P, N, dt, a->x + FN(xi)(d, b, t, h), 1, a->B + FN(bci)(d, b, t, h), 1, hn, N);
                    }
                    for (size_t i = 0; i < PN; i++) G[i] = dh_last ? dh_last[bh + i] : 0;
                    T dA_acc = 0, dD_acc = 0;
                    for (int t = L - 1; t >= 0; t--) {
                        const size_t k = FN(dti)(d, b, t, h), xo = FN(xi)(d, b, t, h), bo = FN(bci)(d, b, t, h);
                        const T dt = a->dt[k], decay = exp(dt * a->A[h]);
                        const T *xt = a->x + xo, *Bt = a->B + bo, *Ct = a->C + bo, *dyt = dy + xo;
                        const T *ht = hs + (size_t)(t + 1) * PN, *hp = hs + (size_t)t * PN;
                        GER(CblasRowMajor, P, N, 1, dyt, 1, Ct, 1, G, N);                  /* (7.19) G += dy Cᵀ */
                        if (g->dC) GEMV(CblasRowMajor, CblasTrans, P, N, 1, ht, N, dyt, 1, 1, g->dC + bo, 1); /* (7.20) */
                        if (g->dB) GEMV(CblasRowMajor, CblasTrans, P, N, dt, G, N, xt, 1, 1, g->dB + bo, 1);
                        GEMV(CblasRowMajor, CblasNoTrans, P, N, 1, G, N, Bt, 1, 0, gB, 1);  /* G B_t */
                        const T gh = DOT((int)PN, G, 1, hp, 1);                            /* ⟨G_t, h_{t−1}⟩ */
                        T gxB = 0;
                        for (int p = 0; p < P; p++) {
                            gxB += xt[p] * gB[p];
                            dD_acc += xt[p] * dyt[p];
                            if (g->dx) g->dx[xo + p] += (a->D ? a->D[h] : 0) * dyt[p] + dt * gB[p];
                        }
                        const T da = decay * gh;                                      /* (7.21) */
                        if (g->ddt) g->ddt[k] += a->A[h] * da + gxB;
                        dA_acc += dt * da;
                        SCAL((int)PN, decay, G, 1);                                   /* to G_{t−1} */
                    }
                    if (g->dh0)
                        for (size_t i = 0; i < PN; i++) g->dh0[bh + i] += G[i];
                    dA_b[(size_t)b * d->H + h] = dA_acc;
                    dD_b[(size_t)b * d->H + h] = dD_acc;
                }
        free(gB);
        free(G);
        free(hs);
    }
    for (int b = 0; b < d->batch; b++)
        for (int h = 0; h < d->H; h++) {
            if (g->dA) g->dA[h] += dA_b[(size_t)b * d->H + h];
            if (g->dD) g->dD[h] += dD_b[(size_t)b * d->H + h];
        }
    free(dD_b);
    free(dA_b);
}

#undef ARGS
#undef GRADS
