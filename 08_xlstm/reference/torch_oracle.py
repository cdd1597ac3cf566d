#!/usr/bin/env python3
"""08_xlstm/reference/torch_oracle.py — an oracle nobody here wrote the gradients of: the
GPU kernels' outputs and gradients (written by `xlstm --gpu-oracle DIR`, at shapes no test
uses) against PyTorch float64 autograd of the equations as the chapter states them:

  mLSTM, parallel form (8.9): F_t = Σ_{j≤t} log σ(f̃_j), D̃_ts = F_t − F_s + ĩ_s (s ≤ t),
        m_t = max_s D̃_ts, h̃_t = Σ_s e^{D̃_ts−m_t}(q_t·k_s) v_s / max(|Σ_s e^{D̃_ts−m_t} q_t·k_s|, e^{−m_t})
  sLSTM (8.2)–(8.6): pre = W x + R h_{t−1} (R block-diagonal per head), stabilized gates.

Gradients come from torch.autograd (nothing of our hand-written backward). Bounds as in
tests/test_gpu.c: per element δ·M + √(L+d)·ε₃₂·M_κ with δ = 2e-5 + 4e-7·L (fp32 sums of ≤ L
terms), M the gradient with every product in absolute value, M_κ the same with each row scaled
by the condition of its denominator; the bf16 forward per element 2⁻⁷·M + fp32 term; the bf16
tensor-core backward adds 3u·M' (u = 2⁻⁸) to the fp32 bound.
Prints one line per tensor and exits 1 if any fails."""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
failed = []


def load(d, name):
    return torch.from_numpy(np.load(os.path.join(d, name + ".npy")).astype(np.float64)).to(dev)


def report(name, got, ref, bound):
    err = (got - ref).abs().max().item()
    ok = err <= bound and bool(torch.isfinite(got).all())
    print(f"  {name:12s} max err {err:.3e}  max|ref| {ref.abs().max().item():.3e}  bound {bound:.3e}  {'PASS' if ok else 'FAIL'}")
    if not ok:
        failed.append(name)


def mlstm_parallel(q, k, v, ig, fg):
    """(BH, L, d) → h̃ (BH, L, d), float64, differentiable."""
    L = q.shape[1]
    Fc = torch.cumsum(F.logsigmoid(fg), dim=-1)                       # F_t after step t
    D = Fc[:, :, None] - Fc[:, None, :] + ig[:, None, :]
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    D = D.masked_fill(~causal, float("-inf"))
    m = D.max(dim=-1, keepdim=True).values
    P = (q @ k.transpose(1, 2)) * torch.exp(D - m)
    den = P.sum(-1, keepdim=True)
    beta = torch.maximum(den.abs(), torch.exp(-m))
    return (P @ v) / beta, P, m, beta


def check_grads(d, prefix, title, q, k, v, ig, fg, dh, bf16):
    """The backward's five gradients (files prefix + dq …) against float64 autograd at these inputs.
    Per-element bound δ·M + √(L+d)·ε₃₂·M_κ (+ 3u·M' for the bf16 tensor-core backward, u = 2⁻⁸:
    M' is M with dden's |h| replaced by h's magnitude M_h; tests/test_gpu.c derives both)."""
    BH, L, dd = q.shape
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v, ig, fg)]
    h, _, _, _ = mlstm_parallel(*leaves)
    h.backward(dh)
    grads = [t.grad for t in leaves]
    delta = 2e-5 + 4e-7 * L
    print(title)
    with torch.no_grad():
        hh, _, m, beta = mlstm_parallel(q, k, v, ig, fg)
        Fc = torch.cumsum(F.logsigmoid(fg), dim=-1)
        Dm = (Fc[:, :, None] - Fc[:, None, :] + ig[:, None, :]).masked_fill(
            ~torch.ones(L, L, dtype=torch.bool, device=dev).tril(), float("-inf"))
        W = torch.exp(Dm - m)
        Sa = q.abs() @ k.abs().transpose(1, 2)
        kappa = torch.clamp((W * Sa).sum(-1, keepdim=True) / beta, min=1)
        Mh = (W * Sa) @ v.abs() / beta                                   # h with every product in |.|
        ck = math.sqrt(L + dd) * 2.0 ** -24

        def mags(kap, hm):
            dn = kap * dh.abs() / beta
            ddn = kap * (dh.abs() * hm).sum(-1, keepdim=True) / beta
            A = W * (dn @ v.abs().transpose(1, 2) + ddn)
            Mq, Mk = A @ k.abs(), A.transpose(1, 2) @ q.abs()
            Mv = (W * Sa).transpose(1, 2) @ dn
            Mi = (k.abs() * Mk).sum(-1)
            r = Mi + (q.abs() * Mq).sum(-1)
            Mf = torch.flip(torch.cumsum(torch.flip(r, [-1]), -1), [-1]) * torch.sigmoid(-fg)
            return Mq, Mk, Mv, Mi, Mf

        one = torch.ones_like(kappa)
        Ms = [delta * a + ck * b for a, b in zip(mags(one, hh.abs()), mags(kappa, hh.abs()))]
        if bf16:
            Ms = [a + 3 * 2.0 ** -8 * b for a, b in zip(Ms, mags(one, Mh))]
    for (name, ref), bound in zip(zip(("dq", "dk", "dv", "dig", "dfg"), grads), Ms):
        got = load(d, prefix + name)
        err = (got - ref).abs()
        bound = bound + 1e-6 * delta * bound.max()
        ok = bool((err <= bound).all()) and bool(torch.isfinite(got).all())
        print(f"  {name:12s} max err {err.max().item():.3e} = {err.max().item() / ref.abs().max().item():.1e} of max|ref|,"
              f" largest err/bound {(err / bound).max().item():.2f}  {'PASS' if ok else 'FAIL'}")
        if not ok:
            failed.append(prefix + name)
    return h.detach()


def check_mlstm(d):
    q, k, v, ig, fg, dh = (load(d, "mlstm_" + n) for n in ("q", "k", "v", "ig", "fg", "dh"))
    BH, L, dd = q.shape
    h = check_grads(d, "mlstm_", f"mLSTM chunkwise fp32 (GPU) vs PyTorch float64 autograd, BH={BH} L={L} d={dd} "
                    f"chunk=32, device {dev}:", q, k, v, ig, fg, dh, False)
    report("h", load(d, "mlstm_h"), h, (1e-5 + 2e-7 * L) * h.abs().max().item())

    # bf16 tensor-core forward: reference on the same bf16-rounded inputs
    qb, kb, vb = (load(d, "bf16_" + n) for n in ("q", "k", "v"))
    with torch.no_grad():
        hb, P, m, beta = mlstm_parallel(qb, kb, vb, ig, fg)
        Fc = torch.cumsum(F.logsigmoid(fg), dim=-1)
        D = (Fc[:, :, None] - Fc[:, None, :] + ig[:, None, :]).masked_fill(
            ~torch.ones(L, L, dtype=torch.bool, device=dev).tril(), float("-inf"))
        W = torch.exp(D - m)
        Sa = qb.abs() @ kb.abs().transpose(1, 2)                         # Σ_j |q_tj||k_sj|
        M = (W * Sa) @ vb.abs() / beta
    got = load(d, "bf16_h")
    err = (got - hb).abs()
    bound = 2.0 ** -7 * M + (1e-5 + 2e-7 * L) * hb.abs().max()
    ok = bool((err <= bound).all()) and bool(torch.isfinite(got).all())
    print(f"mLSTM chunkwise bf16 tensor cores (GPU) vs PyTorch float64 on the rounded inputs:\n"
          f"  h            max err {err.max().item():.3e} = {err.max().item() / hb.abs().max().item():.2e} of max|h|,"
          f" largest err/bound {(err / bound).max().item():.2f}  {'PASS' if ok else 'FAIL'}")
    if not ok:
        failed.append("bf16 h")
    if os.path.exists(os.path.join(d, "bf16_dq.npy")):
        check_grads(d, "bf16_", "mLSTM chunkwise backward bf16 tensor cores (GPU) vs PyTorch float64 autograd on the "
                    "rounded inputs:", qb, kb, vb, ig, fg, dh, True)
    else:
        print("  (no bf16_dq.npy: a --gpu-oracle dump without the bf16 backward)")


def slstm_forward(wx, R, exp_forget):
    """wx (B, L, 4, D), R (4, NH, dh, dh) → h (B, L, D), float64, differentiable."""
    B, L, _, D = wx.shape
    NH, dh = R.shape[1], R.shape[2]
    h = wx.new_zeros(B, D)
    c = wx.new_zeros(B, D)
    n = wx.new_zeros(B, D)
    m = wx.new_full((B, D), float("-inf"))
    hs = []
    for t in range(L):
        rec = torch.einsum("ghrk,bhk->bghr", R, h.view(B, NH, dh)).reshape(B, 4, D)
        pre = wx[:, t] + rec
        i_t, f_t, z_t, o_t = pre.unbind(1)
        logf = f_t if exp_forget else F.logsigmoid(f_t)
        m_new = torch.maximum(logf + m, i_t)
        ip = torch.exp(i_t - m_new)
        fp = torch.exp(logf + m - m_new)
        c = fp * c + ip * torch.tanh(z_t)
        n = fp * n + ip
        m = m_new
        h = torch.sigmoid(o_t) * c / n
        hs.append(h)
    return torch.stack(hs, 1)


def check_slstm(d):
    for pf, expf in (("slstm_sig", 0), ("slstm_exp", 1)):
        wx, R, dy = (load(d, f"{pf}_{n}") for n in ("wx", "R", "dh"))
        B, L, _, D = wx.shape
        dh = R.shape[2]
        wl, Rl = wx.clone().requires_grad_(True), R.clone().requires_grad_(True)
        h = slstm_forward(wl, Rl, expf)
        h.backward(dy)
        print(f"sLSTM fused (GPU) vs PyTorch float64 autograd, B={B} L={L} {R.shape[1]}x{dh}, "
              f"{'exponential' if expf else 'sigmoid'} forget gate:")
        dfw = 1e-5 + 2e-7 * L * (1 + dh / 8.0)
        report("h", load(d, f"{pf}_h"), h.detach(), dfw * h.abs().max().item())
        report("dwx", load(d, f"{pf}_dwx"), wl.grad, 2 * dfw * wl.grad.abs().max().item())
        # dR = Σ_{b,t} dpre_t h_{t−1}ᵀ per head: bound from the magnitudes of its terms
        NH = R.shape[1]
        hp = torch.cat([h.new_zeros(B, 1, D), h.detach()[:, :-1]], 1).view(B, L, NH, dh).abs()
        dp = wl.grad.view(B, L, 4, NH, dh).abs()
        absR = torch.einsum("blghr,blhk->ghrk", dp, hp)
        # … plus what every dpre_t inherits from dwx's bound (2·dfw·max|dwx|), times Σ_{b,t}|h_{t−1}|
        hsum = hp.sum((0, 1))                                            # (NH, dh): over b, t, per k
        bR = 2 * dfw * (absR + wl.grad.abs().max() * hsum[None, :, None, :]) + 1e-30
        got = load(d, f"{pf}_dR")
        err = (got - Rl.grad).abs()
        ok = bool((err <= bR).all())
        print(f"  {'dR':12s} max err {err.max().item():.3e}  max|ref| {Rl.grad.abs().max().item():.3e}  "
              f"largest err/bound {(err / bR).max().item():.2f}  {'PASS' if ok else 'FAIL'}")
        if not ok:
            failed.append(pf + " dR")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    a = ap.parse_args()
    print(f"torch {torch.__version__}; {torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'CPU'}")
    check_mlstm(a.dir)
    check_slstm(a.dir)
    print("torch oracle:", "FAIL " + ", ".join(failed) if failed else "all PASS")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
