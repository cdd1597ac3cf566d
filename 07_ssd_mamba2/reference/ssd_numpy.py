#!/usr/bin/python3
"""07_ssd_mamba2/reference/ssd_numpy.py -- an independent oracle for the SSD layer.

Draws its own inputs with NumPy's generator and computes y straight from the
definition (chapter 7, (7.1)-(7.3) unrolled):

    y_t = sum_{s<=t} C_t^T ( prod_{k=s+1..t} exp(dt_k A_h) ) B_s dt_s x_s + D_h x_t

with the decay as a PRODUCT of exponentials (np.prod), one (t, s) pair at a time --
a different formula from every C form (running segment sums, chunks, the scan).
The final state h_L = sum_s (prod_{k=s+1..L-1} exp(dt_k A_h)) dt_s x_s B_s^T too.
Writes inputs and outputs as .npy into the directory given (default: golden/ next to
this script); tests/test_ssd.c reads them. Needs python3-numpy only.

    python3 ssd_numpy.py [OUTDIR]
"""
import json
import os
import sys

import numpy as np


def ssd_definition(x, dt, A, B, C, D):
    batch, L, H, P = x.shape
    G = B.shape[2]
    hpg = H // G
    y = np.zeros_like(x)
    h_last = np.zeros((batch, H, P, B.shape[3]))
    for b in range(batch):
        for h in range(H):
            g = h // hpg
            e = np.exp(dt[b, :, h] * A[h])          # e^{a_k}, one per step
            for t in range(L):
                acc = D[h] * x[b, t, h]
                for s in range(t + 1):
                    decay = np.prod(e[s + 1:t + 1])   # empty product = 1
                    acc = acc + (C[b, t, g] @ B[b, s, g]) * decay * dt[b, s, h] * x[b, s, h]
                y[b, t, h] = acc
            for s in range(L):
                decay = np.prod(e[s + 1:L])
                h_last[b, h] += decay * dt[b, s, h] * np.outer(x[b, s, h], B[b, s, g])
    return y, h_last


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20260702)
    batch, L, H, P, G, N = 2, 100, 4, 3, 2, 5
    x = rng.standard_normal((batch, L, H, P))
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), (batch, L, H)))   # as mamba's dt init
    A = -rng.uniform(0.5, 16.0, H)                                           # A = -exp(A_log)
    B = rng.standard_normal((batch, L, G, N))
    C = rng.standard_normal((batch, L, G, N))
    D = rng.standard_normal(H)
    y, h_last = ssd_definition(x, dt, A, B, C, D)
    tensors = []
    meaning = dict(x="input (batch, L, H, P)", dt="step Delta > 0 (batch, L, H)", A="decay rate A_h < 0 (H)",
                   B="input vectors (batch, L, G, N)", C="output vectors (batch, L, G, N)", D="skip (H)",
                   y="y_t from the definition, products of exponentials (batch, L, H, P)",
                   h_last="final state from the definition (batch, H, P, N)")
    for name, arr in dict(x=x, dt=dt, A=A, B=B, C=C, D=D, y=y, h_last=h_last).items():
        np.save(os.path.join(out, name + ".npy"), arr)
        tensors.append({"name": name, "file": name + ".npy", "dtype": "float64", "shape": list(arr.shape),
                        "role": "output" if name in ("y", "h_last") else "input", "meaning": meaning[name]})
    # a vector set in the layout of docs/vectors.md, so `ssd_mamba2 --check` grades it (its
    # outputs carry no tolerances: the grader's own apply)
    manifest = {"stage": "07_ssd_mamba2", "seed": 20260702,
                "description": "written by NumPy (reference/ssd_numpy.py): the SSD layer's output and final state "
                               "from the definition, decays multiplied pair by pair",
                "tensors": tensors}
    with open(os.path.join(out, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(os.path.join(out, "manifest.json.tmp"), os.path.join(out, "manifest.json"))
    print(f"ssd_numpy: wrote x dt A B C D y h_last to {out} (batch {batch}, L {L}, H {H}, P {P}, G {G}, N {N})")


if __name__ == "__main__":
    main()
