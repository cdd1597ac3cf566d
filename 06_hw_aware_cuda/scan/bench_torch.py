#!/usr/bin/env python3
"""06_hw_aware_cuda/scan/bench_torch.py — the PyTorch baselines of the benchmark, measured on
the same GPU in the same `make bench-gpu` run as our kernels.

1. A plain PyTorch selective scan written from the reference formulas (5.1)-(5.6), as
   mamba's selective_scan_ref does it: Ā and B̄u materialized (batch, D, L, N), then a
   Python loop over time. This is the "standard implementation" the paper compares with.
   Its memory grows as batch·D·L·N and its time as L kernel launches, so it runs only up
   to --scan-lmax (forward) and --scan-bwd-lmax (forward + backward).
2. Causal attention through torch.nn.functional.scaled_dot_product_attention
   (FlashAttention backend) in bf16 at the same batch and the same total width as the
   scan: D = heads · head_dim = 32 · 64 = 2048 — the paper compares the scan with
   FlashAttention-2 at head dimension 64.

Writes OUT/torch_baselines.csv and OUT/bench_torch.dat (L, ms of each; NaN = not run)."""
import argparse
import math
import os
import statistics

import torch
import torch.nn.functional as F


def scan_ref(u, delta, A, B, C, Dskip, z, delta_bias):
    """(5.1)-(5.6) with Ā, B̄u materialized and a loop over time."""
    delta = F.softplus(delta + delta_bias[None, :, None])                 # (5.1)
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))            # (5.2)
    deltaBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)              # (5.3)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        h = deltaA[:, :, i] * h + deltaBu[:, :, i]                        # (5.4)
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, i]))              # (5.5)
    y = torch.stack(ys, dim=2) + u * Dskip[None, :, None]
    return y * F.silu(z)                                                  # (5.6)


def timed(fn, reps):
    """Median ms of reps calls after one warm-up, with CUDA events."""
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        ts.append(e0.elapsed_time(e1))
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--D", type=int, default=2048)
    ap.add_argument("--N", type=int, default=16)
    ap.add_argument("--lmin", type=int, default=9)
    ap.add_argument("--lmax", type=int, default=17)
    ap.add_argument("--scan-lmax", type=int, default=13)
    ap.add_argument("--scan-bwd-lmax", type=int, default=10)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_torch.py: no CUDA device")
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device("cuda")
    gpu = torch.cuda.get_device_name(0)
    g = torch.Generator(device=dev).manual_seed(6)
    heads, hd = 32, 64
    rows = []
    print(f"PyTorch {torch.__version__} on {gpu}")
    for lg in range(a.lmin, a.lmax + 1):
        L = 1 << lg
        r = {"L": L}
        reps = 9 if lg <= 12 else 3
        sreps = 3   # the Python-loop scan takes 0.05-3 s a call: fewer repeats
        if lg <= a.scan_lmax:
            b, D, N = a.batch, a.D, a.N
            rnd = lambda *s: torch.rand(*s, device=dev, generator=g) * 2 - 1
            u, dl, z = rnd(b, D, L), rnd(b, D, L), rnd(b, D, L)
            B, C = rnd(b, N, L), rnd(b, N, L)
            A = -(torch.rand(D, N, device=dev, generator=g) * 7.5 + 0.5)
            Ds, bias = rnd(D), rnd(D) * 2 - 4
            with torch.no_grad():
                r["scan_fwd"] = timed(lambda: scan_ref(u, dl, A, B, C, Ds, z, bias), sreps)
            if lg <= a.scan_bwd_lmax:
                ps = [t.clone().requires_grad_() for t in (u, dl, A, B, C, Ds, z, bias)]
                dout = rnd(b, D, L)

                def fb():
                    for p in ps:
                        p.grad = None
                    scan_ref(*ps).backward(dout)
                r["scan_fwdbwd"] = timed(fb, sreps)
            del u, dl, z, B, C
            torch.cuda.empty_cache()
        q, k, v = (torch.randn(a.batch, heads, L, hd, device=dev, dtype=torch.bfloat16,
                               generator=g) for _ in range(3))
        from torch.nn.attention import SDPBackend, sdpa_kernel
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            with torch.no_grad():
                r["sdpa_fwd"] = timed(
                    lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), reps)
            qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
            do = torch.randn_like(q)

            def afb():
                for t in (qq, kk, vv):
                    t.grad = None
                F.scaled_dot_product_attention(qq, kk, vv, is_causal=True).backward(do)
            r["sdpa_fwdbwd"] = timed(afb, reps)
        del q, k, v, qq, kk, vv, do
        torch.cuda.empty_cache()
        rows.append(r)
        print("  L=%-7d " % L + "  ".join(f"{k}={v:.3f}ms" for k, v in r.items() if k != "L"),
              flush=True)
    cols = ["scan_fwd", "scan_fwdbwd", "sdpa_fwd", "sdpa_fwdbwd"]
    tmp = os.path.join(a.out, "torch_baselines.csv.tmp")
    with open(tmp, "w") as f:
        f.write(f"# GPU: {gpu}; PyTorch {torch.__version__}; batch {a.batch}, D {a.D}, N {a.N}; "
                f"scan fp32 (reference formulas, z, D, bias+softplus); SDPA bf16 causal, "
                f"{heads} heads x {hd}\n")
        f.write("L," + ",".join(c + "_ms" for c in cols) + "\n")
        for r in rows:
            f.write(f"{r['L']}," + ",".join(f"{r[c]:.5f}" if c in r else "" for c in cols) + "\n")
    os.replace(tmp, os.path.join(a.out, "torch_baselines.csv"))
    tmp = os.path.join(a.out, "bench_torch.dat.tmp")
    with open(tmp, "w") as f:
        f.write("# L " + " ".join(cols) + "\n")
        for r in rows:
            f.write(f"{r['L']} " + " ".join(f"{r.get(c, math.nan):.6g}" for c in cols) + "\n")
    os.replace(tmp, os.path.join(a.out, "bench_torch.dat"))


if __name__ == "__main__":
    main()
