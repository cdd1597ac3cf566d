#!/usr/bin/env python3
"""08_xlstm/reference/bench_sdpa.py — the attention baseline of `make bench-gpu`: PyTorch's
scaled_dot_product_attention (causal) at the shapes of xlstm --bench-gpu (B=2, H=8, d=64),
fp32 and bf16, timed with CUDA events (median of 5 after a warm-up). Writes bench_sdpa.csv.
A measuring stick only: never a dependency of the stage."""
import argparse
import os

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="results")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(0)
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for L in (1024, 4096, 16384, 65536):
            q, k, v = (torch.randn(2, 8, L, 64, device=dev, dtype=dtype) for _ in range(3))
            try:
                F.scaled_dot_product_attention(q, k, v, is_causal=True)
                torch.cuda.synchronize()
                ts = []
                for _ in range(5):
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    e0.record()
                    F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    e1.record()
                    torch.cuda.synchronize()
                    ts.append(e0.elapsed_time(e1))
                ms = sorted(ts)[2]
                rows.append(f"sdpa_causal_{str(dtype).split('.')[-1]},2,8,{L},64,0,{ms:.4f}")
            except Exception as e:  # noqa: BLE001 — record what failed (e.g. memory), go on
                rows.append(f"sdpa_causal_{str(dtype).split('.')[-1]},2,8,{L},64,0,failed: {type(e).__name__}")
            del q, k, v
            torch.cuda.empty_cache()
    path = os.path.join(a.out, "bench_sdpa.csv")
    with open(path + ".tmp", "w") as f:
        f.write(f"# {name}, torch {torch.__version__}, CUDA events, median of 5\nkernel,B,H,L,d,chunk,ms\n")
        f.write("\n".join(rows) + "\n")
    os.replace(path + ".tmp", path)
    print(open(path).read())


if __name__ == "__main__":
    main()
