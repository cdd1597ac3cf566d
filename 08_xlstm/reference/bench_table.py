#!/usr/bin/env python3
"""08_xlstm/reference/bench_table.py — the GPU benchmark's tables: reads OUT/bench_gpu.csv
(xlstm --bench-gpu) and OUT/bench_torch.csv (reference/bench_torch.py, the same run), writes
OUT/bench_gpu_fwd.dat, OUT/bench_gpu_fwdbwd.dat, OUT/bench_gpu_chunk.dat (for plots/bench_gpu.gp)
and OUT/bench_gpu.md (times and ratios at equal batch 2, 8 heads × 64 = 512 channels, L). Standard
library only. A row a run did not reach shows as — (nan in the .dat files)."""
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

    tc_fb = lambda L: g("mlstm_chunkwise_tc", "bf16", "fwd", L, 64) + g("mlstm_chunkwise_tc", "bf16", "bwd", L, 64)  # noqa: E731
    f32_fb = lambda L: g("mlstm_chunkwise", "fp32", "fwd", L, 64) + g("mlstm_chunkwise", "fp32", "bwd", L, 64)  # noqa: E731
    m1_fb = lambda L, dt: g("mamba1_scan_v6", dt, "fwd", L) + g("mamba1_scan_v6", dt, "bwd", L)  # noqa: E731
    ssd_fb = lambda L: g("ours_ssd07_v2", "bf16", "fwd", L, 64) + g("ours_ssd07_v2", "bf16", "bwd", L, 64)  # noqa: E731
    series_fwd = [("mlstm_naive_fp32", lambda L: g("mlstm_naive", "fp32", "fwd", L)),
                  ("mlstm_chunkwise_fp32", lambda L: g("mlstm_chunkwise", "fp32", "fwd", L, 64)),
                  ("mlstm_chunkwise_tc_bf16", lambda L: g("mlstm_chunkwise_tc", "bf16", "fwd", L, 64)),
                  ("torch_mlstm_bf16", lambda L: g("torch_mlstm_chunkwise", "bf16", "fwd", L, 64)),
                  ("sdpa_fp32", lambda L: g("sdpa_causal", "fp32", "fwd", L)),
                  ("sdpa_bf16", lambda L: g("sdpa_causal", "bf16", "fwd", L)),
                  ("mamba1_scan_v6_bf16", lambda L: g("mamba1_scan_v6", "bf16", "fwd", L)),
                  ("ours_ssd07_v2_bf16", lambda L: g("ours_ssd07_v2", "bf16", "fwd", L, 64))]
    series_fb = [("mlstm_chunkwise_fp32", f32_fb),
                 ("mlstm_chunkwise_tc_bf16", tc_fb),
                 ("torch_mlstm_fp32", lambda L: g("torch_mlstm_chunkwise", "fp32", "fwdbwd", L, 64)),
                 ("sdpa_fp32", lambda L: g("sdpa_causal", "fp32", "fwdbwd", L)),
                 ("sdpa_bf16", lambda L: g("sdpa_causal", "bf16", "fwdbwd", L)),
                 ("mamba1_scan_v6_fp32", lambda L: m1_fb(L, "fp32")),
                 ("mamba1_scan_v6_bf16", lambda L: m1_fb(L, "bf16")),
                 ("ours_ssd07_v2_bf16", ssd_fb)]
    chunks = (16, 32, 64, 128)
    with open(os.path.join(out, "bench_gpu_chunk.dat"), "w") as f:
        f.write(f"# {machine}; L 16384, batch 2, 8 heads x 64; ms; from bench_gpu.csv\n")
        f.write("chunk fwd_fp32 fwd_tc_bf16 bwd_fp32 bwd_tc_bf16\n")
        for c in chunks:
            f.write(f"{c} " + " ".join(f"{g(k, dt, pas, 16384, c):.4f}" for k, dt, pas in (
                ("mlstm_chunkwise", "fp32", "fwd"), ("mlstm_chunkwise_tc", "bf16", "fwd"),
                ("mlstm_chunkwise", "fp32", "bwd"), ("mlstm_chunkwise_tc", "bf16", "bwd"))) + "\n")
    for name, series in (("bench_gpu_fwd.dat", series_fwd), ("bench_gpu_fwdbwd.dat", series_fb)):
        with open(os.path.join(out, name), "w") as f:
            f.write(f"# {machine}; batch 2, 8 heads x 64 (Mamba-1: 512 channels, N 16; SSD: N 64); ms; "
                    "from bench_gpu.csv + bench_torch.csv\n")
            f.write("L " + " ".join(s for s, _ in series) + "\n")
            for L in Ls:
                f.write(f"{L} " + " ".join(f"{fn(L):.4f}" for _, fn in series) + "\n")

    def r(a, b):
        return f"{b / a:.2f}×" if a == a and b == b else "—"

    def ms(x):
        return f"{x:.3f}" if x == x else "—"

    md = [f"# GPU benchmark: {machine}", "",
          "One run: `xlstm --bench-gpu` then `reference/bench_torch.py` (kernel/op time by CUDA events, "
          "median of 3). Batch 2, 8 heads × d 64 (= 512 channels for the Mamba-1 scan, state N = 16; "
          "our SSD (stage 07, v2 bf16 tensor cores): 8 heads × 64, N = 64, chunk 64 — a 64×64 state per head "
          "like the mLSTM's), mLSTM chunk 64. Ratio = baseline ms / ours (> 1: ours faster).", "",
          "## Forward", "",
          "| L | ours: mLSTM chunkwise fp32 | ours: mLSTM chunkwise bf16 tensor cores | PyTorch chunkwise mLSTM bf16 | SDPA bf16 (FlashAttention) | Mamba-1 scan v6 bf16 (stage 06) | our SSD v2 bf16 (stage 07) | TC vs FlashAttention | TC vs PyTorch mLSTM | TC vs Mamba-1 | TC vs SSD |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for L in Ls:
        tc = g("mlstm_chunkwise_tc", "bf16", "fwd", L, 64)
        sd, tm, mb = g("sdpa_causal", "bf16", "fwd", L), g("torch_mlstm_chunkwise", "bf16", "fwd", L, 64), g("mamba1_scan_v6", "bf16", "fwd", L)
        ss = g("ours_ssd07_v2", "bf16", "fwd", L, 64)
        md.append(f"| {L} | {ms(g('mlstm_chunkwise', 'fp32', 'fwd', L, 64))} | {ms(tc)} | {ms(tm)} | {ms(sd)} | {ms(mb)} | {ms(ss)} | {r(tc, sd)} | {r(tc, tm)} | {r(tc, mb)} | {r(tc, ss)} |")
    md += ["", "## Backward alone (ours: after a forward that keeps m, den and the chunk states)", "",
           "| L | mLSTM backward fp32 (CUDA cores) | mLSTM backward bf16 tensor cores | TC vs fp32 |", "| --- | --- | --- | --- |"]
    for L in Ls:
        b32, btc = g("mlstm_chunkwise", "fp32", "bwd", L, 64), g("mlstm_chunkwise_tc", "bf16", "bwd", L, 64)
        md.append(f"| {L} | {ms(b32)} | {ms(btc)} | {r(btc, b32)} |")
    md += ["", "## Forward + backward (ours = forward + backward kernels)", "",
           "| L | ours: mLSTM bf16 TC | ours: mLSTM fp32 | SDPA bf16 (FlashAttention) | SDPA fp32 | Mamba-1 scan v6 bf16 | Mamba-1 scan v6 fp32 | our SSD v2 bf16 | PyTorch mLSTM fp32 | TC vs fp32 | TC vs FlashAttention | TC vs Mamba-1 bf16 | TC vs SSD |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for L in Ls:
        o, o32 = tc_fb(L), f32_fb(L)
        s16, s32 = g("sdpa_causal", "bf16", "fwdbwd", L), g("sdpa_causal", "fp32", "fwdbwd", L)
        mb16, mb32, ss, tm = m1_fb(L, "bf16"), m1_fb(L, "fp32"), ssd_fb(L), g("torch_mlstm_chunkwise", "fp32", "fwdbwd", L, 64)
        md.append(f"| {L} | {ms(o)} | {ms(o32)} | {ms(s16)} | {ms(s32)} | {ms(mb16)} | {ms(mb32)} | {ms(ss)} | {ms(tm)} | {r(o, o32)} | {r(o, s16)} | {r(o, mb16)} | {r(o, ss)} |")
    md += ["", "## Chunk size (L = 16 384)", "",
           "| chunk | forward fp32 (ms) | forward bf16 TC (ms) | backward fp32 (ms) | backward bf16 TC (ms) |", "| --- | --- | --- | --- | --- |"]
    for c in chunks:
        md.append(f"| {c} | {ms(g('mlstm_chunkwise', 'fp32', 'fwd', 16384, c))} | {ms(g('mlstm_chunkwise_tc', 'bf16', 'fwd', 16384, c))} | "
                  f"{ms(g('mlstm_chunkwise', 'fp32', 'bwd', 16384, c))} | {ms(g('mlstm_chunkwise_tc', 'bf16', 'bwd', 16384, c))} |")
    md += ["", "## sLSTM (batch 16, 4 heads × 64, fp32)", "", "| L | forward (ms) | backward (ms) | µs per step, forward |", "| --- | --- | --- | --- |"]
    for L in sorted({k[3] for k in ours if k[0] == "slstm_fused"}):
        f_, b_ = t.get(("slstm_fused", "fp32", "fwd", L, 0), float("nan")), t.get(("slstm_fused", "fp32", "bwd", L, 0), float("nan"))
        md.append(f"| {L} | {ms(f_)} | {ms(b_)} | {1000 * f_ / L:.2f} |")
    with open(os.path.join(out, "bench_gpu.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
