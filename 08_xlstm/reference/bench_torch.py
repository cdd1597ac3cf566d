#!/usr/bin/env python3
"""08_xlstm/reference/bench_torch.py — the PyTorch baselines of `make bench-gpu`, at the
shapes of `xlstm --bench-gpu` (batch 2, 8 heads of 64): causal scaled_dot_product_attention
(FlashAttention in bf16), a chunkwise mLSTM written in PyTorch (the same algorithm (8.10)–(8.11)
as ours: batched matmuls inside chunks, a Python loop over chunks for the state; fp32 and
up to --torch-max-L only), our own SSD (stage 07's libssd07.so, its v2: bf16 tensor cores, 8
heads of 64, N = 64, chunk 64: 'fwd' and 'bwd' separately) and, when asked for with --ssd-Ls
(.baselines/mamba_ssm_triton), the official Mamba-2 SSD Triton kernel mamba_chunk_scan_combined
(chunk 256; its autotuning takes minutes). Forward ('fwd') and forward + backward ('fwdbwd') by
CUDA events, median of 3 after a warm-up. Rows are appended to
bench_torch.csv as they are measured, so a run cut short keeps what it measured.
A measuring stick only: never a dependency of the stage."""
import argparse
import importlib.util
import math
import os
import sys
import time

import torch
import torch.nn.functional as F


def _stage06_timed():
    """Stage 06's benchmark timer (median of reps after a warm-up, CUDA events): one definition."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "06_hw_aware_cuda", "scan", "bench_torch.py")
    spec = importlib.util.spec_from_file_location("scan_bench_torch", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.timed


_timed06 = _stage06_timed()


def _stage07_lib(path):
    """Stage 07's own SSD on the GPU (libssd07.so through 07's ctypes wrapper, one definition)."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    spec = importlib.util.spec_from_file_location("ssd07_bench", os.path.join(root, "07_ssd_mamba2", "gpu", "bench_ssd.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.torch = torch                     # 07's script imports torch inside its main()
    return mod.Lib(path if os.path.isabs(path) else os.path.join(root, path))


def timed(fn, reps=3):
    return _timed06(fn, reps)


def mlstm_chunkwise_torch(q, k, v, ig, fg, c):
    """q, k, v (B, H, L, d) in their dtype; ig, fg (B, H, L) float32; L a multiple of c."""
    B, H, L, d = q.shape
    NC = L // c
    q, k, v = (t.reshape(B, H, NC, c, d) for t in (q, k, v))
    ig = ig.reshape(B, H, NC, c)
    b = torch.cumsum(F.logsigmoid(fg).reshape(B, H, NC, c), -1)        # within-chunk log decay
    a = b[..., -1:] - b + ig                                            # to the chunk's end
    ml = a.max(-1).values
    w = torch.exp(a - ml[..., None])
    Cl = torch.einsum("bhnc,bhncd,bhnce->bhnde", w, v.float(), k.float())   # (d_v, d_k)
    nl = torch.einsum("bhnc,bhnce->bhne", w, k.float())
    bc = b[..., -1]
    C = q.new_zeros(B, H, d, d, dtype=torch.float32)
    n = q.new_zeros(B, H, d, dtype=torch.float32)
    m = q.new_full((B, H), -1e30, dtype=torch.float32)
    Cs, ns, ms = [], [], []
    for j in range(NC):                                                 # (8.11) over chunks
        Cs.append(C); ns.append(n); ms.append(m)
        mn = torch.maximum(bc[..., j] + m, ml[..., j])
        al, be = torch.exp(bc[..., j] + m - mn), torch.exp(ml[..., j] - mn)
        C = al[..., None, None] * C + be[..., None, None] * Cl[:, :, j]
        n = al[..., None] * n + be[..., None] * nl[:, :, j]
        m = mn
    Cp, npv, mp = torch.stack(Cs, 2), torch.stack(ns, 2), torch.stack(ms, 2)
    D = b[..., :, None] - b[..., None, :] + ig[..., None, :]
    causal = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    D = D.masked_fill(~causal, float("-inf"))
    inter = b + mp[..., None]
    mt = torch.maximum(D.max(-1).values, inter)
    P = (q @ k.transpose(-1, -2)).float() * torch.exp(D - mt[..., None])
    g = torch.exp(inter - mt)
    qf = q.float()
    num = (P.to(q.dtype) @ v).float() + g[..., None] * (qf @ Cp.transpose(-1, -2))
    den = P.sum(-1) + g * (qf * npv[:, :, :, None, :]).sum(-1)
    h = num / torch.maximum(den.abs(), torch.exp(-mt))[..., None]
    return h.reshape(B, H, L, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="results")
    ap.add_argument("--Ls", default="1024,4096,16384,65536")
    ap.add_argument("--ssd-Ls", default="", help="the official Triton SSD at these L (autotunes for minutes: off by default)")
    ap.add_argument("--ssd-path", default=".baselines/mamba_ssm_triton")
    ap.add_argument("--torch-max-L", type=int, default=16384,
                    help="the PyTorch chunkwise mLSTM and fp32 SDPA only up to this L (their 64K runs take ~10 s)")
    ap.add_argument("--ours-ssd", default="07_ssd_mamba2/build/libssd07.so",
                    help="stage 07's GPU SSD library (v2: bf16 tensor cores), '' to skip")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device("cuda")
    path = os.path.join(a.out, "bench_torch.csv")
    f = open(path, "w")
    f.write(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA events, median of 3 after a warm-up\n"
            "kernel,dtype,pass,B,H,L,d,N,chunk,ms\n")

    def row(kernel, dt, pas, L, ms, N=0, chunk=0, H=8):
        f.write(f"{kernel},{dt},{pas},2,{H},{L},64,{N},{chunk},{ms if isinstance(ms, str) else f'{ms:.4f}'}\n")
        f.flush()

    B, H, d = 2, 8, 64
    try:   # SDPA picks FlashAttention first where it applies: say whether it applies here (bf16, causal, d 64)
        from torch.nn.attention import SDPBackend, sdpa_kernel
        qt = torch.randn(B, H, 1024, d, device=dev, dtype=torch.bfloat16)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            F.scaled_dot_product_attention(qt, qt, qt, is_causal=True)
        print("bench_torch: SDPA's FlashAttention backend runs these bf16 shapes (SDPA tries it first)", flush=True)
    except Exception as e:  # noqa: BLE001
        print(f"bench_torch: SDPA's FlashAttention backend does NOT run here ({type(e).__name__}: {e})", flush=True)
    ssd07 = None
    if a.ours_ssd:
        try:
            ssd07 = _stage07_lib(a.ours_ssd)
        except Exception as e:  # noqa: BLE001 — say why it is missing, go on
            print(f"bench_torch: stage 07's SSD library not loaded ({type(e).__name__}: {e}); skipped", flush=True)
    for L in [int(x) for x in a.Ls.split(",") if x]:
        if ssd07 is not None:     # (batch, L, heads, head dim) = ours; N = 64: a 64×64 state per head, as the mLSTM's
            try:
                N = 64
                x = torch.randn(B, L, H, d, device=dev).to(torch.bfloat16)
                dt = torch.exp(torch.empty(B, L, H, device=dev).uniform_(math.log(1e-3), math.log(1e-1)))
                A = -torch.empty(H, device=dev).uniform_(0.5, 16)
                Bm, Cm = (torch.randn(B, L, 1, N, device=dev).to(torch.bfloat16) for _ in range(2))
                dy = torch.randn(B, L, H, d, device=dev).to(torch.bfloat16)
                sf, sb = ssd07.ssd(1, x, dt, A, Bm, Cm, None, 64)    # 1 = SSD_GPU_V2
                row("ours_ssd07_v2", "bf16", "fwd", L, timed(sf), N=N, chunk=64)
                row("ours_ssd07_v2", "bf16", "bwd", L, timed(lambda: sb(dy)), N=N, chunk=64)
                del x, dt, A, Bm, Cm, dy
            except Exception as e:  # noqa: BLE001
                row("ours_ssd07_v2", "bf16", "fwd", L, f"failed: {type(e).__name__}: {str(e)[:60]}".replace(",", ";"))
        for dtype, dn in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
            if dtype == torch.float32 and L > a.torch_max_L:
                continue
            q, k, v = (torch.randn(B, H, L, d, device=dev, dtype=dtype, requires_grad=True) for _ in range(3))
            dh = torch.randn(B, H, L, d, device=dev, dtype=dtype)
            ig = torch.randn(B, H, L, device=dev, requires_grad=True)
            fg = (3 + torch.randn(B, H, L, device=dev)).requires_grad_(True)
            for name, fwd in (("sdpa_causal", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
                              ("torch_mlstm_chunkwise", lambda: mlstm_chunkwise_torch(q, k / math.sqrt(d), v, ig, fg, 64))):
                if "mlstm" in name and L > a.torch_max_L:
                    continue
                try:
                    with torch.no_grad():
                        row(name, dn, "fwd", L, timed(fwd), chunk=64 if "mlstm" in name else 0)
                    row(name, dn, "fwdbwd", L, timed(lambda: fwd().backward(dh.to(torch.float32) if "mlstm" in name else dh)),
                        chunk=64 if "mlstm" in name else 0)
                except Exception as e:  # noqa: BLE001 — record what failed (e.g. memory), go on
                    row(name, dn, "fwd", L, f"failed: {type(e).__name__}")
                torch.cuda.empty_cache()
            del q, k, v, dh, ig, fg
            torch.cuda.empty_cache()
        print(f"bench_torch: L = {L} done", flush=True)

    sys.path.insert(0, a.ssd_path)
    try:
        if not a.ssd_Ls:
            raise ImportError("not asked for (--ssd-Ls empty)")
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except Exception as e:  # noqa: BLE001
        print(f"bench_torch: official SSD not importable ({type(e).__name__}: {e}); skipped")
        mamba_chunk_scan_combined = None
    ssd_Ls = [int(x) for x in a.ssd_Ls.split(",") if x]
    if mamba_chunk_scan_combined is not None and ssd_Ls:
        N, cs = 64, 256
        for L in ssd_Ls:
            t0 = time.time()
            x = torch.randn(B, L, H, d, device=dev, dtype=torch.bfloat16, requires_grad=True)
            dt = (torch.rand(B, L, H, device=dev) * 0.1).requires_grad_(True)
            A = (-torch.rand(H, device=dev) - 0.5).requires_grad_(True)
            Bm, Cm = (torch.randn(B, L, 1, N, device=dev, dtype=torch.bfloat16, requires_grad=True) for _ in range(2))
            dy = torch.randn(B, L, H, d, device=dev, dtype=torch.bfloat16)
            fwd = lambda: mamba_chunk_scan_combined(x, dt, A, Bm, Cm, cs)  # noqa: E731
            with torch.no_grad():
                row("official_ssd_triton", "bf16", "fwd", L, timed(fwd), N=N, chunk=cs)
            row("official_ssd_triton", "bf16", "fwdbwd", L, timed(lambda: fwd().backward(dy)), N=N, chunk=cs)
            print(f"bench_torch: SSD L = {L} done ({time.time() - t0:.0f} s incl. autotune)", flush=True)
    f.close()
    print(open(path).read())


if __name__ == "__main__":
    main()
