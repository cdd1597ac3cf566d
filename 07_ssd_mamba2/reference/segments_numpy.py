#!/usr/bin/python3
"""07_ssd_mamba2/reference/segments_numpy.py — v9's two-level state pass (chapter 7.7) in NumPy
float64, at the level of chunks: the pass over chunks (7.8) H_c = e^{A_c} H_{c-1} + S_c and its
adjoint (7.22) G_{c-1} = e^{A_c} G_c + Z_c with (7.24)'s term e^{A_c} <G_c, H_{c-1}>, each cut
into segments of cps chunks walked from 0 (the first forward segment from h0, the last backward
one from dh_last), then the pass over the segments' end states and the completion
H_{c-1} += e^{gamma_c} H_in (k7_states, k9_seg_pass, k9_fix, k7_states_bwd, k9_fix_bwd in
gpu/ssd_v7.cuh), against the plain passes, for every segment length (the last segment short).
Random S_c, Z_c stand for the chunk states (the kernels' tiles add only the products).
Exits 1 above 1e-12. Run: make -C 07_ssd_mamba2 check-chunked-bwd (needs python3-numpy)."""
import sys

import numpy as np

rng = np.random.default_rng(1)
nc, PN = 13, 6                                     # chunks, state entries (P·N flattened)
A = -rng.uniform(0.1, 2, nc)                       # Σ a over each chunk (its log-decay)
S, Z = rng.standard_normal((nc, PN)), rng.standard_normal((nc, PN))
h0, dh_last = rng.standard_normal(PN), rng.standard_normal(PN)

# the plain passes: H[c] enters chunk c, G[c + 1] is the adjoint at chunk c's end
H = np.zeros((nc + 1, PN)); H[0] = h0
for c in range(nc):
    H[c + 1] = np.exp(A[c]) * H[c] + S[c]
G = np.zeros((nc + 1, PN)); G[nc] = dh_last
dcs_end = np.zeros(nc)
for c in range(nc - 1, -1, -1):
    dcs_end[c] = np.exp(A[c]) * G[c + 1] @ H[c]
    G[c] = np.exp(A[c]) * G[c + 1] + Z[c]

worst = 0.0
for cps in range(1, nc + 1):
    nseg = -(-nc // cps)
    chunks = [range(j * cps, min(nc, (j + 1) * cps)) for j in range(nseg)]
    # forward: each segment from 0 (the first from h0); gam[c] = Σ A from its start to chunk c
    Hl, gam, end, dec = np.zeros((nc, PN)), np.zeros(nc), np.zeros((nseg, PN)), np.zeros(nseg)
    for j in range(nseg):
        h, run = (h0.copy() if j == 0 else np.zeros(PN)), 0.0
        for c in chunks[j]:
            Hl[c], gam[c] = h, run
            h, run = np.exp(A[c]) * h + S[c], run + A[c]
        end[j], dec[j] = h, run
    h = np.zeros(PN)                               # k9_seg_pass: end[j] <- the state entering j
    for j in range(nseg):
        end[j], h = h, np.exp(dec[j]) * h + end[j]
    Hf = Hl + np.array([np.exp(gam[c]) * end[c // cps] if c >= cps else np.zeros(PN) for c in range(nc)])
    err = max(np.abs(Hf - H[:nc]).max(), np.abs(h - H[nc]).max()) / np.abs(H).max()
    # backward: each segment from 0 walking right to left (the last from dh_last)
    Gl, gam, end, dec, d2 = np.zeros((nc, PN)), np.zeros(nc), np.zeros((nseg, PN)), np.zeros(nseg), np.zeros(nc)
    for j in range(nseg):
        g, run = (dh_last.copy() if j == nseg - 1 else np.zeros(PN)), 0.0
        for c in reversed(chunks[j]):
            Gl[c], gam[c] = g, run
            d2[c] += np.exp(A[c]) * g @ H[c]
            g, run = np.exp(A[c]) * g + Z[c], run + A[c]
        end[j], dec[j] = g, run
    g = np.zeros(PN)
    for j in range(nseg - 1, -1, -1):
        end[j], g = g, np.exp(dec[j]) * g + end[j]
    for c in range(nc):                            # k9_fix_bwd
        if c // cps < nseg - 1:
            gin = end[c // cps]
            Gl[c] += np.exp(gam[c]) * gin
            d2[c] += np.exp(A[c]) * np.exp(gam[c]) * gin @ H[c]
    err = max(err, np.abs(Gl - G[1:]).max() / np.abs(G).max(), np.abs(g - G[0]).max() / np.abs(G).max(),
              np.abs(d2 - dcs_end).max() / np.abs(dcs_end).max())
    print(f"  {nseg:2d} segments of {cps:2d} chunks: max relative difference {err:.1e}")
    worst = max(worst, err)
print(f"segments: worst {worst:.1e} (bound 1e-12)")
sys.exit(0 if worst <= 1e-12 else 1)
