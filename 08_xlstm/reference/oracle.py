#!/usr/bin/python3
"""08_xlstm/reference/oracle.py — an independent NumPy oracle for the xLSTM cells.

Computes, in float64 and in its own way, what 08_xlstm's C code computes, and writes
inputs and outputs as .npy into a directory (default: reference/golden next to this
file). tests/test_oracle.c reads that set and compares the C forms with it.

How it differs from the C code:
  * mLSTM: the definition (8.7) directly, UNstabilized — C_t = f C + i v k^T as a d x d
    matrix per step, h = C q / max(|n.q|, 1) — at gate values where e^{i} cannot
    overflow; and as one masked matrix product H = (D * (Q K^T)) V with the decay matrix
    D = exp(F_t - F_s + i_s) built by broadcasting (no stabilizer, no loops over s).
  * sLSTM: (8.4) unstabilized, the block-diagonal R assembled as a full 4d x d matrix.
  * LSTM: (8.1).
Written by this script with NumPy; regenerate with `make -C 08_xlstm oracle`.

`oracle.py vectors DIR [L d Ls heads dh]` instead writes a golden-vector set in the
stage's format (manifest.json + .npy, float32 inputs) whose outputs NumPy computed, at a
shape of its choosing: `xlstm --check DIR` must pass it (tests/test_vectors.c does).
"""
import json
import os
import sys

import numpy as np


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def mlstm_definition(q, k, v, ig, fg):
    L, d = q.shape
    C = np.zeros((v.shape[1], d))
    n = np.zeros(d)
    h = np.empty_like(v)
    for t in range(L):
        f, i = np.exp(log_sigmoid(fg[t])), np.exp(ig[t])
        C = f * C + i * np.outer(v[t], k[t])
        n = f * n + i * k[t]
        h[t] = C @ q[t] / max(abs(n @ q[t]), 1.0)
    return h


def mlstm_masked_matmul(q, k, v, ig, fg):
    F = np.cumsum(log_sigmoid(fg))
    logD = F[:, None] - F[None, :] + ig[None, :]
    mask = np.tril(np.ones((len(F), len(F)), dtype=bool))
    D = np.where(mask, np.exp(np.where(mask, logD, 0.0)), 0.0)
    P = D * (q @ k.T)
    return (P @ v) / np.maximum(np.abs(P.sum(axis=1)), 1.0)[:, None]


def slstm_unstabilized(wx, R, heads, exp_forget):
    L, four_d = wx.shape
    d = four_d // 4
    dh = d // heads
    Rfull = np.zeros((4 * d, d))          # block-diagonal per gate and head
    for g in range(4):
        for hd in range(heads):
            Rfull[g * d + hd * dh: g * d + (hd + 1) * dh, hd * dh:(hd + 1) * dh] = R[g, hd]
    c = np.zeros(d)
    n = np.zeros(d)
    h = np.zeros(d)
    out = np.empty((L, d))
    for t in range(L):
        pre = wx[t] + Rfull @ h
        ig, fg, zg, og = pre[:d], pre[d:2 * d], pre[2 * d:3 * d], pre[3 * d:]
        i = np.exp(ig)
        f = np.exp(fg) if exp_forget else 1.0 / (1.0 + np.exp(-fg))
        c = f * c + i * np.tanh(zg)
        n = f * n + i
        h = (1.0 / (1.0 + np.exp(-og))) * c / n
        out[t] = h
    return out


def lstm_cell(pre, c_prev):
    d = len(c_prev)
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))
    c = sig(pre[d:2 * d]) * c_prev + sig(pre[:d]) * np.tanh(pre[2 * d:3 * d])
    return c, sig(pre[3 * d:]) * np.tanh(c)


def write_vector_set(out, L, d, Ls, heads, dh, chunk):
    """A set of inputs and NumPy outputs that 08_xlstm's --check grades."""
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    ins = {"q": f32(rng.normal(size=(L, d))), "k": f32(rng.normal(size=(L, d)) / np.sqrt(d)),
           "v": f32(rng.normal(size=(L, d))), "ig": f32(rng.normal(0, 2, size=L)),
           "fg": f32(rng.normal(3, 1.5, size=L)), "chunk": np.array([chunk], dtype=np.int32)}
    ds = heads * dh
    ins["wx"] = f32(rng.normal(size=(Ls, 4, ds)) * 0.7)
    ins["R"] = f32(rng.normal(size=(4, heads, dh, dh)) / np.sqrt(dh))
    ins["pre"] = f32(rng.normal(size=(4, 5)))
    ins["c_prev"] = f32(rng.normal(size=5))
    g = {k: v.astype(np.float64) for k, v in ins.items() if k != "chunk"}
    h = mlstm_definition(g["q"], g["k"], g["v"], g["ig"], g["fg"])
    outs = {"h_mlstm_recurrent": h, "h_mlstm_parallel": h, "h_mlstm_chunkwise": h}
    for expf, tag in ((0, "sig"), (1, "exp")):
        outs["h_slstm_" + tag] = slstm_unstabilized(g["wx"].reshape(Ls, 4 * ds), g["R"], heads, expf)
    c, hl = lstm_cell(g["pre"].reshape(-1), g["c_prev"])
    outs["c_lstm"], outs["h_lstm"] = c, hl
    tensors = []
    for name, a in list(ins.items()) + list(outs.items()):
        role = "input" if name in ins else "output"
        if role == "output":
            a = f32(a)
        np.save(os.path.join(out, name + ".npy"), a)
        tensors.append({"name": name, "file": name + ".npy", "dtype": str(a.dtype), "shape": list(a.shape),
                        "role": role, "rtol": 0, "atol": 0, "meaning": "written by NumPy (reference/oracle.py)"})
    # outputs carry no rtol/atol: the stage's own tolerances apply (a manifest may only tighten)
    for t in tensors:
        if t["role"] == "output":
            del t["rtol"], t["atol"]
    man = {"stage": "08_xlstm", "description": f"NumPy oracle set, L={L} d={d} Ls={Ls} heads={heads} dh={dh}",
           "seed": 1234, "tensors": tensors}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print(f"oracle: wrote a NumPy {np.__version__} vector set (L={L}, d={d}, Ls={Ls}, {heads}x{dh}) to {out}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "vectors":
        a = [int(x) for x in sys.argv[3:]] or [33, 5, 17, 3, 2, 7]
        write_vector_set(sys.argv[2], *a)
        return
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(8)
    save = lambda name, a: np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(a, dtype=np.float64))
    for L, d in [(1, 1), (7, 8), (65, 8), (200, 16)]:
        q = rng.normal(size=(L, d))
        k = rng.normal(size=(L, d)) / np.sqrt(d)
        v = rng.normal(size=(L, d))
        ig = rng.normal(size=L)
        fg = rng.normal(3.0, 1.0, size=L)
        h1 = mlstm_definition(q, k, v, ig, fg)
        h2 = mlstm_masked_matmul(q, k, v, ig, fg)
        assert np.max(np.abs(h1 - h2)) <= 1e-11 * np.max(np.abs(h1)), "oracle's two mLSTM forms disagree"
        tag = f"mlstm_L{L}_d{d}"
        for nm, a in [("q", q), ("k", k), ("v", v), ("ig", ig), ("fg", fg), ("h", h1)]:
            save(f"{tag}_{nm}", a)
    for expf in (0, 1):
        L, d, heads = 40, 12, 3
        dh = d // heads
        wx = rng.normal(size=(L, 4 * d))
        wx[:, d:2 * d] *= 0.3 if expf else 1.0   # keep exp(f) moderate: no overflow here
        R = rng.normal(size=(4, heads, dh, dh)) / np.sqrt(dh)
        h = slstm_unstabilized(wx, R, heads, expf)
        tag = f"slstm_exp{expf}"
        for nm, a in [("wx", wx), ("R", R), ("h", h)]:
            save(f"{tag}_{nm}", a)
    pre = rng.normal(size=4 * 6)
    c_prev = rng.normal(size=6)
    c, h = lstm_cell(pre, c_prev)
    for nm, a in [("pre", pre), ("c_prev", c_prev), ("c", c), ("h", h)]:
        save(f"lstm_{nm}", a)
    print(f"oracle: wrote NumPy {np.__version__} golden set to {out}")


if __name__ == "__main__":
    main()
