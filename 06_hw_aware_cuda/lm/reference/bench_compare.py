#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/bench_compare.py — our training throughput against the PyTorch
baselines measured in the same run (scripts/h200.sh PARTS="bench baselines"). Standard
library only: runs anywhere, on the files the run brought back.

Reads RESULTS/bench_lm.tsv (lm --bench with the scan backward chosen by L), optionally
RESULTS/bench_lm_v7.tsv (the same with the deterministic v7 scan backward, bf16),
RESULTS/baselines.tsv (reference/bench_baselines.py) and RESULTS/gpu.txt; writes RESULTS/bench_vs_torch.{csv,json,md} and bench_vs_torch.dat (the
gnuplot data of plots/bench_vs_torch.gp). For each dtype and batch x L: our tok/s, memory in
use and MFU; each baseline's tok/s (or why none: out of memory, not finished within the cap)
and memory; the ratio ours / best baseline that ran, and whether the issue's target holds
(>= 1.5x baseline (b) in bf16, with less peak memory).

usage: python3 bench_compare.py RESULTS [--a-cap SECONDS]   (--a-cap 0: (a) was not run)"""
import csv
import json
import math
import os
import sys

SHAPES = [(8, 2048), (4, 8192), (64, 512)]
IMPLS = {"official-scan": "(b) official scan kernel", "hf-torch": "(a) transformers pure torch"}
TARGET = 1.5


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in csv.DictReader((l for l in f if not l.startswith("#")), delimiter="\t")]


def num(v):
    try:
        x = float(v)
        return x if math.isfinite(x) else None
    except (TypeError, ValueError):
        return None


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: bench_compare.py RESULTS [--a-cap SECONDS]")
    res = sys.argv[1]
    a_cap = sys.argv[sys.argv.index("--a-cap") + 1] if "--a-cap" in sys.argv else "60"
    ours = {(r["dtype"], int(r["batch"]), int(r["L"])): r for r in read_tsv(f"{res}/bench_lm.tsv")}
    ours7 = {(r["dtype"], int(r["batch"]), int(r["L"])): r for r in read_tsv(f"{res}/bench_lm_v7.tsv")}
    base = {}
    for r in read_tsv(f"{res}/baselines.tsv"):
        base[(r["impl"], r["dtype"], int(r["batch"]), int(r["L"]))] = r
    gpu = open(f"{res}/gpu.txt").read().strip().splitlines()[-1] if os.path.exists(f"{res}/gpu.txt") else "?"
    rows = []
    for dt in ("fp32", "bf16"):
        for b, L in SHAPES:
            o = ours.get((dt, b, L))
            row = dict(dtype=dt, batch=b, L=L,
                       ours_tok_s=num(o["tok_per_s"]) if o else None,
                       ours_ms=num(o["ms_step"]) if o else None,
                       ours_mem_gib=num(o["mem_gib"]) if o else None,
                       ours_mfu=num(o["mfu"]) if o else None,
                       ours_scan_bwd=o.get("scan_bwd") if o else None)
            o7 = ours7.get((dt, b, L))
            row.update(v7_tok_s=num(o7["tok_per_s"]) if o7 else None,
                       v7_mem_gib=num(o7["mem_gib"]) if o7 else None)
            best = None
            for impl, tag in (("official-scan", "b"), ("hf-torch", "a")):
                r = base.get((impl, dt, b, L))
                if r is None:
                    status = (f"not finished within the {a_cap} s cap"
                              if impl == "hf-torch" and a_cap != "0" else "not run")
                    tok = mem = peak = None
                else:
                    status, tok = r["status"], num(r["tok_per_s"])
                    mem, peak = num(r["in_use_gib"]), num(r["peak_alloc_gib"])
                    if status == "oom":   # the memory figures are the failed attempt's
                        status, mem, peak = (r.get("note") or "out of memory"), None, None
                row[f"{tag}_status"] = status
                row[f"{tag}_tok_s"] = tok
                row[f"{tag}_in_use_gib"] = mem
                row[f"{tag}_peak_alloc_gib"] = peak
                if tok and (best is None or tok > best[1]):
                    best = (tag, tok)
            row["best_baseline"] = best[0] if best else None
            row["ratio_vs_best"] = (row["ours_tok_s"] / best[1]) if best and row["ours_tok_s"] else None
            row["ratio_vs_b"] = (row["ours_tok_s"] / row["b_tok_s"]) if row["b_tok_s"] and row["ours_tok_s"] else None
            row["v7_ratio_vs_b"] = (row["v7_tok_s"] / row["b_tok_s"]) if row["b_tok_s"] and row["v7_tok_s"] else None
            row["mem_vs_b_in_use"] = (row["ours_mem_gib"] / row["b_in_use_gib"]) if row["b_in_use_gib"] and row["ours_mem_gib"] else None
            row["target_met"] = (row["ratio_vs_b"] >= TARGET and row["mem_vs_b_in_use"] < 1) \
                if dt == "bf16" and row["ratio_vs_b"] and row["mem_vs_b_in_use"] else None
            rows.append(row)

    keys = list(rows[0].keys())
    with open(f"{res}/bench_vs_torch.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else (f"{v:.4g}" if isinstance(v, float) else v)) for k, v in r.items()})
    with open(f"{res}/bench_vs_torch.json", "w") as f:
        json.dump(dict(gpu=gpu, target=f">= {TARGET}x baseline (b) tok/s in bf16 with less memory",
                       rows=rows), f, indent=1)
    with open(f"{res}/bench_vs_torch.dat", "w") as f:
        f.write("# label ours_tok_s b_tok_s a_tok_s ours_mem_gib b_in_use_gib a_in_use_gib (nan: none)\n")
        for r in rows:
            g = lambda k: "nan" if r[k] is None else f"{r[k]:.1f}" if "tok" in k else f"{r[k]:.2f}"
            f.write(f"\"{r['dtype']} {r['batch']}x{r['L']}\" {g('ours_tok_s')} {g('b_tok_s')} "
                    f"{g('a_tok_s')} {g('ours_mem_gib')} {g('b_in_use_gib')} {g('a_in_use_gib')}\n")
    fmt = lambda v, p="{:,.0f}": "—" if v is None else p.format(v)
    with open(f"{res}/bench_vs_torch.md", "w") as f:
        f.write(f"# Training throughput: ours against the PyTorch baselines, same run\n\nGPU: {gpu}. "
                "130m shape (hidden 768, 24 layers, N 16, expand 2, vocab 50280); one step = "
                "forward + backward + clip + AdamW on random tokens; tok/s from the median step. "
                "Memory: device memory in use after the steps (total − free: CUDA context and, for "
                "torch, its cached blocks included); torch's peak allocated in brackets. "
                f"Target (issue 11): ≥ {TARGET}× (b) in bf16 with less memory.\n\n")
        f.write("| dtype | batch × L | ours tok/s (scan bwd) | ours GiB | MFU | ours, v7 bwd tok/s | "
                "(b) official scan tok/s | (b) GiB | (a) pure torch | ours / (b) | v7 / (b) | ours / best | target |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            a = fmt(r["a_tok_s"]) + " tok/s" if r["a_tok_s"] else r["a_status"]
            bm = fmt(r["b_in_use_gib"], "{:.1f}") + (f" ({r['b_peak_alloc_gib']:.1f})" if r["b_peak_alloc_gib"] else "")
            bt = fmt(r["b_tok_s"]) if r["b_tok_s"] else r["b_status"]
            tgt = "—" if r["target_met"] is None else ("met" if r["target_met"] else "missed")
            f.write(f"| {r['dtype']} | {r['batch']} × {r['L']} | {fmt(r['ours_tok_s'])} ({r['ours_scan_bwd'] or '?'}) | "
                    f"{fmt(r['ours_mem_gib'], '{:.1f}')} | {fmt(r['ours_mfu'] and 100 * r['ours_mfu'], '{:.1f}%')} | "
                    f"{fmt(r['v7_tok_s'])} | {bt} | {bm} | {a} | {fmt(r['ratio_vs_b'], '{:.2f}×')} | "
                    f"{fmt(r['v7_ratio_vs_b'], '{:.2f}×')} | {fmt(r['ratio_vs_best'], '{:.2f}×')} | {tgt} |\n")
    print(open(f"{res}/bench_vs_torch.md").read())


if __name__ == "__main__":
    main()
