#!/usr/bin/python3
"""07_ssd_mamba2/reference/chunked_backward_numpy.py — the chunked backward (7.22)-(7.24) of
chapter 7.7, transcribed loop by loop in NumPy float64 (chunks of Q, the chunk-end state
adjoint G_c, the intra-chunk pairs T_ts, the running-sum adjoints), against central
differences of the plain recurrence (7.2)-(7.3). This is the derivation the GPU kernels
(gpu/ssd_gpu.cu: k_pass_bwd, k_bwd_s, k_bwd_t, k_bwd_fin) implement, checked before they
were written. One head, one sequence (the kernels add only indexing). Prints the largest
relative difference per input; exits 1 above 1e-7.
Run: make -C 07_ssd_mamba2 check-chunked-bwd (needs python3-numpy)."""
import sys

import numpy as np

rng = np.random.default_rng(1)
L, P, N, Q = 11, 3, 4, 4          # three chunks, the last one short
x = rng.standard_normal((L, P))
B = rng.standard_normal((L, N))
C = rng.standard_normal((L, N))
dt = rng.uniform(0.1, 1, L)
A, D = -0.7, 0.3
h0 = rng.standard_normal((P, N))
dy = rng.standard_normal((L, P))  # the loss is sum(dy * y) + sum(dh_last * h_last)
dh_last = rng.standard_normal((P, N))


def recurrence(x, B, C, dt, A, h0):
    """(7.2)-(7.3): the reference whose central differences the backward must match"""
    h, y = h0.copy(), np.zeros((L, P))
    for t in range(L):
        h = np.exp(dt[t] * A) * h + dt[t] * np.outer(x[t], B[t])
        y[t] = h @ C[t] + D * x[t]
    return y, h


def loss(x, B, C, dt, A, h0):
    y, h = recurrence(x, B, C, dt, A, h0)
    return (dy * y).sum() + (dh_last * h).sum()


nc = (L + Q - 1) // Q
def first(c): return c * Q
def last(c): return min(L, (c + 1) * Q) - 1
def steps(c): return range(first(c), last(c) + 1)


# ---- the forward quantities the backward reads ----
cs = np.zeros(L)                                   # running sum of a_t = dt_t A inside each chunk
for c in range(nc):
    r = 0.0
    for t in steps(c):
        r += dt[t] * A
        cs[t] = r
S = [sum(np.exp(cs[last(c)] - cs[s]) * dt[s] * np.outer(x[s], B[s]) for s in steps(c))
     for c in range(nc)]                           # (7.7) the state chunk c builds from zero
H, carry = [], h0.copy()                           # (7.8) H[c]: the state ENTERING chunk c
for c in range(nc):
    H.append(carry.copy())
    carry = np.exp(cs[last(c)]) * carry + S[c]

# ---- (7.22) the reverse pass over chunks: G[c] = d loss / d(state at the END of chunk c) ----
Z = [sum(np.exp(cs[t]) * np.outer(dy[t], C[t]) for t in steps(c)) for c in range(nc)]
G, g, dcs_end = [None] * nc, dh_last.copy(), np.zeros(nc)
for c in reversed(range(nc)):
    decay = np.exp(cs[last(c)])
    G[c] = g.copy()
    dcs_end[c] += decay * (g * H[c]).sum()         # the passing term of (7.24)
    g = decay * g + Z[c]
dh0 = g

# ---- (7.23), (7.24) inside each chunk ----
dx, dB, dC = np.zeros((L, P)), np.zeros((L, N)), np.zeros((L, N))
ddt_direct, dcs = np.zeros(L), np.zeros(L)
for c in range(nc):
    ce = cs[last(c)]
    for s in steps(c):                             # the source row s (k_bwd_s)
        colsum = 0.0
        for t in range(s, last(c) + 1):
            E, CB, DYX = np.exp(cs[t] - cs[s]), C[t] @ B[s], dy[t] @ x[s]
            dx[s] += dt[s] * E * CB * dy[t]
            dB[s] += E * DYX * dt[s] * C[t]
            dC[t] += E * DYX * dt[s] * B[s]
            colsum += E * CB * DYX                 # T_ts / dt_s
            dcs[t] += E * CB * DYX * dt[s]         # + T_ts at t
        BG = G[c] @ B[s]                           # the chunk-end state's adjoint, row s
        ed = np.exp(ce - cs[s])
        V = ed * dt[s] * (x[s] @ BG)
        dx[s] += ed * dt[s] * BG + D * dy[s]
        dB[s] += ed * dt[s] * (x[s] @ G[c])
        ddt_direct[s] = colsum + ed * (x[s] @ BG)
        dcs[s] += -dt[s] * colsum - V              # - sum_t T_ts - V_s at s
        dcs_end[c] += V
    for t in steps(c):                             # the target row t (k_bwd_t): the entering state
        dC_state = np.exp(cs[t]) * (dy[t] @ H[c])
        dC[t] += dC_state
        dcs[t] += C[t] @ dC_state                  # U_t

# ---- da_k = sum over t >= k in the chunk of d/dcs_t, then dt and A (k_bwd_fin) ----
ddt, dA = np.zeros(L), 0.0
for c in range(nc):
    acc = dcs_end[c]
    for t in reversed(steps(c)):
        acc += dcs[t]
        ddt[t] = ddt_direct[t] + A * acc
        dA += dt[t] * acc


def central(name, arr, ana, eps=1e-6):
    """max |analytic - central difference| / max |central difference| for input `name`"""
    args = dict(x=x, B=B, C=C, dt=dt, A=A, h0=h0)
    arr = np.asarray(arr, dtype=float)
    num = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        up, dn = arr.copy(), arr.copy()
        up[idx] += eps
        dn[idx] -= eps
        num[idx] = (loss(**{**args, name: up if arr.ndim else float(up)})
                    - loss(**{**args, name: dn if arr.ndim else float(dn)})) / (2 * eps)
    e = np.max(np.abs(num - ana)) / max(1e-12, np.max(np.abs(num)))
    print(f"d{name:3s} max|chunked - central difference| / max|central difference| = {e:.1e}")
    return e


worst = max(central("x", x, dx), central("B", B, dB), central("C", C, dC), central("dt", dt, ddt),
            central("A", A, dA), central("h0", h0, dh0))
# float64 central differences with eps 1e-6: truncation ~eps^2 = 1e-12, rounding ~1e-16/eps = 1e-10
sys.exit(0 if worst < 1e-7 else 1)
