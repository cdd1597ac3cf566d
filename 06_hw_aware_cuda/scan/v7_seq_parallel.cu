/* 06_hw_aware_cuda/scan/v7_seq_parallel.cu — version 7: the forward parallel over the sequence
 * too (chapter 6, §V.1).
 *
 * Why: v6 runs one block per (batch element, 32 channels). At batch 8, D 2048 that is 512
 * blocks of 128 threads, about four per SM of the H200's 132; at batch 1 it is 64 blocks and
 * most SMs have nothing to do, however long L is (the issue measured v6 1.2–2.4× slower than
 * the official kernel there). The scan is associative (6.4), so time can be cut too:
 *   1. walk:    every segment but the last, from zero: its end state h^loc and ΣΔ;
 *   2. combine: per (batch, channel, state), the true start state of each segment,
 *               h_start(k+1) = 2^{A·log₂e·ΣΔ_k}·h_start(k) + h^loc_k, from h0;
 *   3. v6 over all segments at once, each from its true start state.
 * Pass 1 costs one more exponential per element of the segments it walks, so segments are
 * only worth it when v6's grid leaves the GPU short of blocks: the count is chosen from
 * (batch, D, L, N), the SM count and v6's occupancy (v7_shape), and v7 is v6 itself (one
 * pass) when the grid is already half a wave or more.
 * Same interface as v6 plus a workspace (scan_v7_forward_workspace_bytes); N a power of two
 * ≤ 64; any dtype; the same chunk states (the fused, v6 and v7 backwards take them). */
#include <stdlib.h>

#include "06_hw_aware_cuda/scan/seq_segments.cuh"

namespace {
constexpr int V6_CPB = 32;   /* v6's channels per block */
/* the least segment length SCAN_V7_SEG_MIN takes (v7_shape), which sizes the workspace */
constexpr int SEG_MIN_FWD_LEAST = 64;
}

/* The segment count and length v7 uses for p (1: v6 alone). W = the v6 blocks the GPU holds at
 * once (SMs × blocks per SM, from the occupancy calculator: 4 × 132 at N = 16, 1 × 132 at
 * N = 64). Measured on the H200 (chapter 6, §V.1, results/vs_official_first_h200.json, its
 * "sweep"): the walk costs about what v6 costs per element, so cutting pays only when v6's grid
 * is under half a wave — then two full waves of pass-3 blocks (nseg = ⌊2W / blocks⌋) were the
 * fastest count,
 * and counts that leave a partial last wave were slower than fewer segments. */
static void v7_shape(const scan_params *p, int *nseg, int *seg_len)
{
    const size_t blocks = (size_t)p->batch * ((p->D + V6_CPB - 1) / V6_CPB);
    const int per_sm = scan_v6_blocks_per_sm(p);   /* an error code (bad N, dtype) as 1 */
    const size_t W = (size_t)seg_sm_count() * (per_sm > 0 ? per_sm : 1);
    const size_t want = blocks * 2 >= W ? blocks : 2 * W / blocks * blocks;
    int k = seg_count(p->L, blocks, want, "SCAN_V7_SEGS"), min_len = SEG_MIN;
    /* capped at L / 256 with at least 4 segments: shorter ones, down to SEG_MIN_FWD steps (two
     * segments were slower than none in the sweeps, so the cap stays where it cuts less);
     * SCAN_V7_SEG_MIN (a multiple of v6's 32-step tile, 64 … 256) moves that floor, to measure
     * it (chapter 6 §V.3: batch 1, D 1024, L 2048 runs 16 segments of 128 steps) */
    if (k >= 4 && k == (p->L + SEG_MIN - 1) / SEG_MIN) {
        const char *e = getenv("SCAN_V7_SEG_MIN");
        const int m = e ? atoi(e) : 0;
        min_len = m >= SEG_MIN_FWD_LEAST && m <= SEG_MIN && m % 32 == 0 ? m : SEG_MIN_FWD;
        k = seg_count(p->L, blocks, want, "SCAN_V7_SEGS", min_len);
    }
    int len = seg_length(p->L, k, min_len);
    k = (p->L + len - 1) / len;
    *nseg = k;
    *seg_len = k > 1 ? len : p->L;
}

extern "C" size_t scan_v7_forward_workspace_bytes(const scan_params *p)
{
    /* h_loc, h_start (N each) and ΣΔ per (batch, channel, segment), for the most segments */
    const size_t most = (size_t)(p->L + SEG_MIN_FWD_LEAST - 1) / SEG_MIN_FWD_LEAST;
    return (size_t)p->batch * p->D * most * (2 * (size_t)p->N + 1) * sizeof(float);
}

template <typename T, int N>
static int v7_launch(const scan_params *p, void *out, float *h_last, float *chunk_states,
                     float *ws)
{
    int nseg, seg_len;
    v7_shape(p, &nseg, &seg_len);
    if (nseg == 1) return scan_v6_segments(p, out, h_last, chunk_states, p->L, 1, nullptr);
    const size_t rows = (size_t)p->batch * p->D * nseg;
    seg_ws w = {};
    w.nseg = nseg;
    w.seg_len = seg_len;
    w.h_loc = ws;
    w.h_start = ws + rows * N;
    w.sum_dt = ws + 2 * rows * N;
    int rc = seg_prepass<T, N, false>(p, nullptr, nullptr, w);
    if (rc) return rc;
    return scan_v6_segments(p, out, h_last, chunk_states, seg_len, nseg, w.h_start);
}

extern "C" int scan_v7_forward(const scan_params *p, void *out, float *h_last, float *chunk_states,
                               float *workspace)
{
    int rc = scan_check_params(p);
    if (rc) return rc;
    if (!out) return SCAN_EARGS;
    int nseg, seg_len;
    v7_shape(p, &nseg, &seg_len);
    if (nseg > 1 && !workspace) return SCAN_EARGS;
    SCAN_DISPATCH_T(p->dtype, TC, {
        SCAN_DISPATCH_N(p->N, NC, return v7_launch<TC, NC>(p, out, h_last, chunk_states, workspace));
    });
    return SCAN_OK;
}

extern "C" int scan_v7_segments(const scan_params *p)
{
    int nseg, seg_len;
    v7_shape(p, &nseg, &seg_len);
    return nseg;
}
