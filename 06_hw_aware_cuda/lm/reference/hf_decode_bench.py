#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/hf_decode_bench.py — the baseline of the decode benchmark:
transformers' MambaForCausalLM.generate (greedy, its MambaCache; the pure-PyTorch path, since
the mamba_ssm / causal-conv1d kernels are not installed on the GPU machine) at the 130m shape
with random weights, float32 and bfloat16, batch 1, 8 and 64 after a 16-token prompt, plus the
prefill (one forward without cache) of 2048 tokens. Runs ONLY on the GPU machine.

Time per token comes from a LogitsProcessor that stamps the clock at every step (generate
calls it once per new token); tokens/s = batch x new tokens / wall time of generate. Rows are
appended to the CSV that `generate --bench` writes (same columns; bytes per step computed
with the same formula as generate_gpu.c, in the model's dtype), and the per-step times of
batch 1 to the per-position CSV.

usage: python3 hf_decode_bench.py BENCH_CSV POSITIONS_CSV [STEPS_B1 STEPS STEPS_POS PREFILL]
environment: HF_BATCHES (default "1,8,64"; "" for none); HF_LONG=P (default 0: none): after batch 1, one more
generate at batch 1 from a P-token prompt, STEPS_POS new tokens, its per-step times at positions
P + 1 … (the time per token far into the sequence) and, when PREFILL is 0, its prefill rate (the
wall time from the call to the first token: P tokens of prefill plus one step)
"""
import os
import sys
import time

import torch
from transformers import LogitsProcessor, LogitsProcessorList, MambaConfig, MambaForCausalLM

SHAPE_130M = dict(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, expand=2,
                  conv_kernel=4)


class Stamp(LogitsProcessor):
    def __init__(self):
        self.t = []

    def __call__(self, input_ids, scores):
        torch.cuda.synchronize()
        self.t.append(time.perf_counter())
        return scores


def step_bytes(cfg, B, wbytes):
    """generate_gpu.c's count: matrices in their dtype, small tensors in float32, states r+w."""
    dm, L, N, K, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["state_size"], cfg["conv_kernel"], cfg["vocab_size"]
    D, R = 2 * dm, (dm + 15) // 16
    mats = 2 * D * dm + (R + 2 * N) * D + dm * D
    small = D * R + D + D * K + D + D * N + D + dm
    return L * (mats * wbytes + small * 4) + V * dm * wbytes + dm * 4 + 2 * L * B * D * (N + K - 1) * 4


def bandwidth():
    a = torch.empty(1 << 31, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    best = 1e9
    for _ in range(5):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record(); b.copy_(a); e1.record(); e1.synchronize()
        best = min(best, e0.elapsed_time(e1) * 1e-3)
    del a, b
    return 2 * (1 << 31) / best


def main():
    csv, pos_csv = sys.argv[1:3]
    steps_b1, steps, steps_pos, prefill = (int(x) for x in (sys.argv[3:7] + ["128", "32", "512", "2048"][len(sys.argv[3:7]):]))
    batches = [int(b) for b in os.environ.get("HF_BATCHES", "1,8,64").split(",") if b]   # "": none
    long_prompt = int(os.environ.get("HF_LONG", "0"))
    gpu = torch.cuda.get_device_name(0)
    bw = bandwidth()
    fresh = not os.path.exists(csv)
    out = open(csv, "a")
    if fresh:
        out.write("impl,gpu,dtype,batch,prompt,steps,graph,ms_per_step,tok_per_s,prefill_len,prefill_tok_per_s,"
                  "bytes_per_step,bandwidth_GBps,floor_ms,fraction_of_floor\n")
    pos = open(pos_csv, "a")
    g = torch.Generator(device="cpu").manual_seed(0)
    for dt_name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        m = MambaForCausalLM(MambaConfig(**SHAPE_130M)).to("cuda", dt).eval()
        m.generation_config.eos_token_id = None
        V = SHAPE_130M["vocab_size"]
        with torch.no_grad():
            pf_rate, pf_len = 0.0, prefill
            if prefill > 0:
                x = torch.randint(0, V, (1, prefill), generator=g).cuda()
                m(x[:, :64], use_cache=False)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                m(x, use_cache=False)
                torch.cuda.synchronize()
                pf_rate = prefill / (time.perf_counter() - t0)
                print("transformers %s prefill %d tokens: %.0f tok/s" % (dt_name, prefill, pf_rate), flush=True)
            if long_prompt > 0:   # batch 1 far into the sequence (first: its prefill rate may fill the rows' column)
                x = torch.randint(0, V, (1, long_prompt), generator=g).cuda()
                m.generate(x[:, :64], max_new_tokens=4, do_sample=False, eos_token_id=None, pad_token_id=0)   # warm-up
                st = Stamp()
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                m.generate(x, max_new_tokens=steps_pos, do_sample=False, eos_token_id=None, pad_token_id=0,
                           logits_processor=LogitsProcessorList([st]))
                per = [(b - a) * 1e3 for a, b in zip(st.t, st.t[1:])]
                if prefill == 0:
                    pf_rate, pf_len = long_prompt / (st.t[0] - t0), long_prompt
                print("transformers %s B=1 after a %d-token prompt: %d steps, %.3f ms/step (prompt + first token %.2f s)" % (
                    dt_name, long_prompt, len(per), sum(per) / max(1, len(per)), st.t[0] - t0), flush=True)
                for i, p in enumerate(per):
                    pos.write("transformers,%s,1,%d,%.6f\n" % (dt_name, long_prompt + i + 1, p))
                pos.flush()
            for B in batches:
                S = (steps_pos if dt_name == "bf16" else steps_b1) if B == 1 else steps
                x = torch.randint(0, V, (B, 16), generator=g).cuda()
                m.generate(x, max_new_tokens=4, do_sample=False, eos_token_id=None, pad_token_id=0)
                st = Stamp()
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                y = m.generate(x, max_new_tokens=S, do_sample=False, eos_token_id=None, pad_token_id=0,
                               logits_processor=LogitsProcessorList([st]))
                torch.cuda.synchronize()
                wall = time.perf_counter() - t0
                n = y.shape[1] - 16
                per = [(b - a) * 1e3 for a, b in zip(st.t, st.t[1:])]   # the decode steps (the first includes prefill)
                ms = sum(per) / len(per) if per else wall / n * 1e3
                nbytes = step_bytes(SHAPE_130M, B, 2 if dt_name == "bf16" else 4)
                floor_ms = nbytes / bw * 1e3
                print("transformers %s B=%-3d: %d tokens, %.3f ms/step, %.0f tok/s (wall), floor %.4f ms -> %.4f" % (
                    dt_name, B, n, ms, B * n / wall, floor_ms, floor_ms / ms), flush=True)
                out.write("transformers,%s,%s,%d,16,%d,0,%.6f,%.1f,%d,%.1f,%.0f,%.1f,%.6f,%.4f\n" % (
                    gpu, dt_name, B, n, ms, B * n / wall, pf_len, pf_rate, nbytes, bw / 1e9, floor_ms, floor_ms / ms))
                out.flush()
                if B == 1:
                    for i, p in enumerate(per):
                        pos.write("transformers,%s,1,%d,%.6f\n" % (dt_name, 16 + i + 1, p))
                    pos.flush()
        del m
        torch.cuda.empty_cache()
    out.close()
    pos.close()


if __name__ == "__main__":
    main()
