#!/usr/bin/env python3
"""05_selective_s6/tests/scan_numpy.py — an independent NumPy (float64) selective scan, forward
and backward, written from the equations (5.1)-(5.6) of chapter 5 and mamba_ssm's
selective_scan_ref, sharing no code with the C stages. It writes a vector set at a shape the
project never uses (batch 3, D 5, L 257, N 7 by default) for `--check` to grade:

    scan_numpy.py OUT [--stage 05_selective_s6] [--batch 3 --D 5 --L 257 --N 7] [--seed 1]
                      [--garbage] [--float32]

--garbage writes wrong outputs and a manifest that asks for atol 1e308: --check must still
fail them (a manifest may only tighten the stage's tolerances). --float32 stores the outputs
(computed in float64) as float32, as a float32 implementation would hand them in."""
import argparse
import json
import os

import numpy as np


def softplus(v):
    return np.where(v > 20, v, np.log1p(np.exp(np.minimum(v, 20))))


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def scan(u, delta, A, B, C, D, z, delta_bias, h0, dout, dlast, delta_softplus=True):
    """Forward and backward of out = (C·h + D u)·silu(z), h_t = e^{Δ_t A} h_{t-1} + Δ_t B_t u_t."""
    b, d, L = u.shape
    v = delta + delta_bias[None, :, None]
    dt = softplus(v) if delta_softplus else v                       # (5.1)
    hs = np.empty((L + 1, b, d, A.shape[1]))
    hs[0] = h0
    for t in range(L):                                              # (5.2)-(5.4)
        a = np.exp(dt[:, :, t, None] * A[None])
        hs[t + 1] = a * hs[t] + dt[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
    y = np.einsum("lbdn,bnl->bdl", hs[1:], C) + D[None, :, None] * u  # (5.5)
    out = y * z * sigmoid(z)                                        # (5.6)

    # backward, by hand: through the gate, the readout, then the state adjoint g_t = dL/dh_t
    s = sigmoid(z)
    dz = dout * y * (s * (1 + z * (1 - s)))
    dy = dout * z * s
    dD = np.einsum("bdl,bdl->d", dy, u)
    du = dy * D[None, :, None]
    dC = np.einsum("bdl,lbdn->bnl", dy, hs[1:])
    ddt = np.zeros_like(dt)
    dA = np.zeros_like(A)
    dB = np.zeros_like(B)
    g = dlast.copy()
    for t in range(L - 1, -1, -1):
        g = g + dy[:, :, t, None] * C[:, None, :, t]                # from y_t
        a = np.exp(dt[:, :, t, None] * A[None])
        bu = B[:, None, :, t] * u[:, :, t, None]
        ddt[:, :, t] = (g * (hs[t] * a * A[None] + bu)).sum(-1)
        dA += (g * hs[t] * a * dt[:, :, t, None]).sum(0)
        dB[:, :, t] = (g * dt[:, :, t, None] * u[:, :, t, None]).sum(1)
        du[:, :, t] += (g * dt[:, :, t, None] * B[:, None, :, t]).sum(-1)
        g = g * a                                                   # to h_{t-1}
    ddelta = ddt * (sigmoid(v) if delta_softplus else 1.0)
    return {"out": out, "last_state": hs[L], "du": du, "ddelta": ddelta, "dA": dA, "dB": dB,
            "dC": dC, "dD": dD, "dz": dz, "ddelta_bias": ddelta.sum((0, 2)), "dh0": g}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--stage", default="05_selective_s6")
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--D", type=int, default=5)
    ap.add_argument("--L", type=int, default=257)
    ap.add_argument("--N", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--float32", action="store_true")
    a = ap.parse_args()
    r = np.random.default_rng(a.seed)
    b, d, L, N = a.batch, a.D, a.L, a.N
    x = {"u": r.normal(size=(b, d, L)), "delta": r.uniform(-1, 1, (b, d, L)),
         "A": -np.exp(r.uniform(-1, 2, (d, N))), "B": r.normal(size=(b, N, L)),
         "C": r.normal(size=(b, N, L)), "D": r.normal(size=d), "z": r.normal(size=(b, d, L)),
         "delta_bias": np.log(np.expm1(np.exp(r.uniform(np.log(1e-3), np.log(0.1), d)))),
         "h0": r.normal(size=(b, d, N)), "dout": r.normal(size=(b, d, L)),
         "dlast_state": r.normal(size=(b, d, N))}
    y = scan(x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"], x["delta_bias"],
             x["h0"], x["dout"], x["dlast_state"])
    if a.garbage:
        y = {k: r.normal(size=v.shape) for k, v in y.items()}
    os.makedirs(a.out, exist_ok=True)
    tensors = []
    for role, group in (("input", x), ("output", y)):
        for k, v in group.items():
            name = "scan." + k
            dtype = np.float32 if role == "output" and a.float32 else np.float64
            np.save(os.path.join(a.out, name + ".npy"), np.ascontiguousarray(v, dtype=dtype))
            e = {"name": name, "file": name + ".npy", "dtype": np.dtype(dtype).name,
                 "shape": list(v.shape), "role": role}
            if role == "output" and a.garbage:
                e.update(rtol=1e308, atol=1e308)
            tensors.append(e)
    manifest = {"stage": a.stage, "description": "independent NumPy float64 selective scan",
                "seed": a.seed, "config": {"delta_softplus": True}, "tensors": tensors}
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
