#!/usr/bin/env python3
"""08_xlstm/reference/bench_table.py — the GPU benchmark's tables: reads OUT/bench_gpu.csv
(xlstm --bench-gpu) and OUT/bench_torch.csv (reference/bench_torch.py, the same run), writes
OUT/bench_gpu_fwd.dat and OUT/bench_gpu_fwdbwd.dat (for plots/bench_gpu.gp) and OUT/bench_gpu.md
(times and ratios at equal batch 2, 8 heads × 64 = 512 channels, L). Standard library only."""
import csv
import os
import sys


def load(path):
    rows, machine = {}, ""
    with open(path) as f:
        lines = f.read().splitlines()
    machine = lines[0].lstrip("# ").split(", kernel")[0].split(", torch")[0] if lines and lines[0].startswith("#") else ""
    for r in csv.DictReader(x for x in lines if not x.startswith("#")):
        try:
            rows[(r["kernel"], r["dtype"], r["pass"], int(r["L"]), int(r["chunk"]))] = float(r["ms"])
        except ValueError:
            pass                                  # "failed: ..." rows
    return rows, machine


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "results"
    ours, machine = load(os.path.join(out, "bench_gpu.csv"))
    torch_rows, _ = load(os.path.join(out, "bench_torch.csv"))
    t = {**ours, **torch_rows}
    Ls = sorted({k[3] for k in ours if k[0] == "mlstm_chunkwise"})

    def g(kernel, dt, pas, L, chunk=0):
        return t.get((kernel, dt, pas, L, chunk), float("nan"))

    series_fwd = [("mlstm_naive_fp32", lambda L: g("mlstm_naive", "fp32", "fwd", L)),
                  ("mlstm_chunkwise_fp32", lambda L: g("mlstm_chunkwise", "fp32", "fwd", L, 64)),
                  ("mlstm_chunkwise_tc_bf16", lambda L: g("mlstm_chunkwise_tc", "bf16", "fwd", L, 64)),
                  ("torch_mlstm_bf16", lambda L: g("torch_mlstm_chunkwise", "bf16", "fwd", L, 64)),
                  ("sdpa_fp32", lambda L: g("sdpa_causal", "fp32", "fwd", L)),
                  ("sdpa_bf16", lambda L: g("sdpa_causal", "bf16", "fwd", L)),
                  ("mamba1_scan_v6_bf16", lambda L: g("mamba1_scan_v6", "bf16", "fwd", L))]
    series_fb = [("mlstm_chunkwise_fp32", lambda L: g("mlstm_chunkwise", "fp32", "fwd", L, 64) + g("mlstm_chunkwise", "fp32", "bwd", L, 64)),
                 ("torch_mlstm_fp32", lambda L: g("torch_mlstm_chunkwise", "fp32", "fwdbwd", L, 64)),
                 ("sdpa_fp32", lambda L: g("sdpa_causal", "fp32", "fwdbwd", L)),
                 ("sdpa_bf16", lambda L: g("sdpa_causal", "bf16", "fwdbwd", L)),
                 ("mamba1_scan_v6_fp32", lambda L: g("mamba1_scan_v6", "fp32", "fwd", L) + g("mamba1_scan_v6", "fp32", "bwd", L)),
                 ("slstm_fused_fp32", lambda L: float("nan"))]
    for name, series in (("bench_gpu_fwd.dat", series_fwd), ("bench_gpu_fwdbwd.dat", series_fb[:-1])):
        with open(os.path.join(out, name), "w") as f:
            f.write(f"# {machine}; batch 2, 8 heads x 64 (Mamba-1: 512 channels, N 16); ms; from bench_gpu.csv + bench_torch.csv\n")
            f.write("L " + " ".join(s for s, _ in series) + "\n")
            for L in Ls:
                f.write(f"{L} " + " ".join(f"{fn(L):.4f}" for _, fn in series) + "\n")

    def r(a, b):
        return f"{b / a:.2f}×" if a == a and b == b else "—"

    md = [f"# GPU benchmark: {machine}", "",
          "One run: `xlstm --bench-gpu` then `reference/bench_torch.py` (kernel/op time by CUDA events, "
          "median of 3). Batch 2, 8 heads × d 64 (= 512 channels for the Mamba-1 scan, state N = 16), "
          "chunk 64. Ratio = baseline ms / ours (> 1: ours faster).", "",
          "## Forward", "",
          "| L | ours: mLSTM chunkwise fp32 | ours: mLSTM chunkwise bf16 tensor cores | PyTorch chunkwise mLSTM bf16 | SDPA bf16 (FlashAttention) | Mamba-1 scan v6 bf16 (stage 06) | TC vs FlashAttention | TC vs PyTorch mLSTM | TC vs Mamba-1 |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for L in Ls:
        tc = g("mlstm_chunkwise_tc", "bf16", "fwd", L, 64)
        sd, tm, mb = g("sdpa_causal", "bf16", "fwd", L), g("torch_mlstm_chunkwise", "bf16", "fwd", L, 64), g("mamba1_scan_v6", "bf16", "fwd", L)
        md.append(f"| {L} | {g('mlstm_chunkwise', 'fp32', 'fwd', L, 64):.3f} | {tc:.3f} | {tm:.3f} | {sd:.3f} | {mb:.3f} | {r(tc, sd)} | {r(tc, tm)} | {r(tc, mb)} |")
    md += ["", "## Forward + backward (fp32; ours = forward + backward kernels)", "",
           "| L | ours: mLSTM chunkwise fp32 | PyTorch chunkwise mLSTM fp32 | SDPA fp32 | SDPA bf16 | Mamba-1 scan v6 fp32 | vs PyTorch mLSTM | vs SDPA fp32 | vs SDPA bf16 | vs Mamba-1 |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for L in Ls:
        o = g("mlstm_chunkwise", "fp32", "fwd", L, 64) + g("mlstm_chunkwise", "fp32", "bwd", L, 64)
        tm, s32, s16 = g("torch_mlstm_chunkwise", "fp32", "fwdbwd", L, 64), g("sdpa_causal", "fp32", "fwdbwd", L), g("sdpa_causal", "bf16", "fwdbwd", L)
        mb = g("mamba1_scan_v6", "fp32", "fwd", L) + g("mamba1_scan_v6", "fp32", "bwd", L)
        md.append(f"| {L} | {o:.3f} | {tm:.3f} | {s32:.3f} | {s16:.3f} | {mb:.3f} | {r(o, tm)} | {r(o, s32)} | {r(o, s16)} | {r(o, mb)} |")
    md += ["", "## Chunk size (forward, L = 16 384)", "", "| chunk | fp32 (ms) | bf16 tensor cores (ms) |", "| --- | --- | --- |"]
    for c in (16, 32, 64, 128):
        md.append(f"| {c} | {g('mlstm_chunkwise', 'fp32', 'fwd', 16384, c):.3f} | {g('mlstm_chunkwise_tc', 'bf16', 'fwd', 16384, c):.3f} |".replace("nan", "—"))
    md += ["", "## sLSTM (batch 16, 4 heads × 64, fp32)", "", "| L | forward (ms) | backward (ms) | µs per step, forward |", "| --- | --- | --- | --- |"]
    for L in sorted({k[3] for k in ours if k[0] == "slstm_fused"}):
        f_, b_ = t[("slstm_fused", "fp32", "fwd", L, 0)], t[("slstm_fused", "fp32", "bwd", L, 0)]
        md.append(f"| {L} | {f_:.3f} | {b_:.3f} | {1000 * f_ / L:.2f} |")
    with open(os.path.join(out, "bench_gpu.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
