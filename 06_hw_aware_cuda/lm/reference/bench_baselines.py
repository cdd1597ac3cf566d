#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/bench_baselines.py — the PyTorch baselines of `lm --bench`,
measured on the same GPU in the same run (scripts/h200.sh, PARTS=bench).

Runs ONLY on the GPU machine (torch + transformers there; never a dependency of `make test`).
One training step = forward + backward + clip_grad_norm_(1.0) + torch.optim.AdamW (the
hyperparameters of lm --bench: lr 1e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1) on
random tokens, at the 130m shape (configs/mamba_130m.json: hidden 768, 24 layers, N 16,
expand 2, vocab 50280), fp32 or bf16 autocast (torch.autocast(dtype=bfloat16): the matmuls
and conv1d in bf16, parameters and optimizer in fp32 — what a new user writes).

  (a) "hf-torch": transformers' MambaForCausalLM as it comes. With no mamba_ssm and no
      causal_conv1d installed (as on the GPU machine) it runs its pure-torch path,
      `slow_forward`: Ā and B̄u materialised as (batch, D, L, N) and a Python loop over L.
  (b) "official-scan": the same model, each MambaMixer's forward replaced by
      official_mixer_forward below: the same torch ops as transformers' CUDA path
      (in_proj, conv1d, SiLU, x_proj, dt_proj, out_proj), with the selective scan done by
      the official mamba_ssm CUDA extension (selective_scan_cuda's fwd/bwd, built from
      mamba_ssm's csrc/selective_scan and passed as --official DIR holding load_official.py)
      through a torch.autograd.Function. causal_conv1d's kernel is NOT available there, so
      the conv is torch's F.conv1d (cuDNN), as transformers does when causal_conv1d is
      missing; mamba_ssm's fully fused mamba_inner_fn (conv + x_proj + scan + out_proj in
      one Function, recomputing in the backward) is not used either. --compile wraps the
      model in torch.compile (not run so far: its compile time did not fit the device
      budget; its rows are named impl+compile).

For each (implementation, dtype, batch x L): median ms of --steps timed steps after --warmup
(default 2) untimed steps (CUDA synchronised around each), tokens/s, torch's peak allocated memory and
the device memory in use after the steps (cudaMemGetInfo: total - free, the CUDA context and
torch's cached blocks included — the figure `lm --bench` reports for itself). A run that
raises torch.cuda.OutOfMemoryError is recorded as status=oom with the time until the error.

(a) is slow (the issue measured 73 tok/s at 1 x 2048): it runs in a child process of its own
(--only-a) that h200.sh kills after a fixed time; rows the child did not write are reported
by bench_compare.py as "not finished within the cap".

usage: python3 bench_baselines.py --config configs/mamba_130m.json --official DIR --out CSV
         [--impl official-scan|hf-torch] [--shapes 8x2048,4x8192,64x512] [--dtypes fp32,bf16]
         [--steps 5] [--warmup 2]
"""
import argparse
import os
import statistics
import sys
import time
import types

import torch  # before the official extension: it links against torch's libraries
import torch.nn.functional as F

FIELDS = ["impl", "dtype", "batch", "L", "status", "ms_step", "tok_per_s", "peak_alloc_gib",
          "in_use_gib", "steps", "note"]


def load_official(path):
    sys.path.insert(0, path)
    from load_official import ss  # noqa: E402  (after torch, as the extension needs)
    return ss


class OfficialScan(torch.autograd.Function):
    """y = selective_scan(u, δ, A, B, C, D, z, δ_bias, softplus) by the official kernel:
    its fwd returns (out, x, out_z) — out before the gate, x the chunk states, out_z the
    gated output; its bwd takes out and x back (as mamba_ssm's SelectiveScanFn does)."""
    ss = None

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias):
        dt = u.dtype
        u, delta, z = u.contiguous(), delta.to(dt).contiguous(), z.to(dt).contiguous()
        B = B.to(dt).unsqueeze(1).contiguous()     # (batch, 1 group, N, L)
        C = C.to(dt).unsqueeze(1).contiguous()
        out, x, out_z = OfficialScan.ss.fwd(u, delta, A, B, C, D, z, delta_bias, True)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, x, out)
        return out_z

    @staticmethod
    def backward(ctx, dout):
        u, delta, A, B, C, D, z, delta_bias, x, out = ctx.saved_tensors
        r = OfficialScan.ss.bwd(u, delta, A, B, C, D, z, delta_bias,
                                dout.to(u.dtype).contiguous(), x, out, None, True, False)
        du, ddelta, dA, dB, dC, dD, ddelta_bias, dz = r[:8]
        return du, ddelta, dA, dB.squeeze(1), dC.squeeze(1), dD, dz, ddelta_bias


def official_mixer_forward(self, hidden_states, *args, **kwargs):
    """transformers' MambaMixer for training (no cache), the scan by the official kernel."""
    L = hidden_states.shape[1]
    xz = self.in_proj(hidden_states).transpose(1, 2)               # (batch, 2D, L)
    x, z = xz.chunk(2, dim=1)
    x = self.act(self.conv1d(x)[..., :L])                          # causal: K-1 left pad
    dbc = self.x_proj(x.transpose(1, 2))                           # (batch, L, R + 2N)
    dt, B, C = torch.split(dbc, [self.time_step_rank, self.ssm_state_size,
                                 self.ssm_state_size], dim=-1)
    delta = F.linear(dt, self.dt_proj.weight).transpose(1, 2)      # bias goes to the scan
    A = -torch.exp(self.A_log.float())
    y = OfficialScan.apply(x, delta, A, B.transpose(1, 2), C.transpose(1, 2), self.D.float(),
                           z, self.dt_proj.bias.float())
    return self.out_proj(y.transpose(1, 2))


def build(config_path, impl, ss):
    from transformers import MambaConfig, MambaForCausalLM
    import json
    with open(config_path) as f:
        cfg = json.load(f)
    cfg.pop("architectures", None)
    cfg.pop("model_type", None)
    torch.manual_seed(0)
    model = MambaForCausalLM(MambaConfig(**cfg, use_cache=False)).cuda().train()
    if impl == "official-scan":
        OfficialScan.ss = ss
        for layer in model.backbone.layers:
            layer.mixer.forward = types.MethodType(official_mixer_forward, layer.mixer)
    return model, cfg["vocab_size"]


def one_config(model, vocab, impl, dtype, batch, L, steps, warmup, out):
    gen = torch.Generator(device="cuda").manual_seed(42)
    ids = torch.randint(0, vocab, (batch, L), device="cuda", generator=gen)
    labels = torch.randint(0, vocab, (batch, L), device="cuda", generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8,
                            weight_decay=0.1)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    use_bf16 = dtype == "bf16"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    row = dict(impl=impl, dtype=dtype, batch=batch, L=L, steps=0, note="")
    times = []
    t_start = time.perf_counter()
    try:
        for s in range(-warmup, steps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            if s >= 0:
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        row.update(status="ok", ms_step=f"{med * 1e3:.3f}", tok_per_s=f"{batch * L / med:.1f}",
                   steps=len(times))
    except torch.cuda.OutOfMemoryError:
        row.update(status="oom", ms_step="nan", tok_per_s="nan",
                   note=f"out of memory after {time.perf_counter() - t_start:.1f} s")
    free, total = torch.cuda.mem_get_info()
    row.update(peak_alloc_gib=f"{torch.cuda.max_memory_allocated() / 2**30:.2f}",
               in_use_gib=f"{(total - free) / 2**30:.2f}")
    del opt
    model.zero_grad(set_to_none=True)
    torch.cuda.empty_cache()
    line = "\t".join(str(row.get(k, "")) for k in FIELDS)
    print(line, flush=True)
    new = not os.path.exists(out) or os.path.getsize(out) == 0
    with open(out, "a") as f:
        if new:
            f.write("\t".join(FIELDS) + "\n")
        f.write(line + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--official", required=True, help="folder holding load_official.py")
    ap.add_argument("--out", required=True, help="TSV to append rows to")
    ap.add_argument("--impl", default="official-scan", choices=["official-scan", "hf-torch"])
    ap.add_argument("--shapes", default="8x2048,4x8192,64x512")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before them")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the model (the warm-up steps then include compiling)")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False   # fp32 means fp32, as in lm --bench
    torch.backends.cudnn.allow_tf32 = False
    ss = load_official(a.official) if a.impl == "official-scan" else None
    import transformers
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__} transformers "
          f"{transformers.__version__} impl {a.impl}", flush=True)
    model, vocab = build(a.config, a.impl, ss)
    if a.compile:
        model = torch.compile(model)
    for shape in a.shapes.split(","):          # shape outer: a capped run covers both dtypes
        b, L = (int(v) for v in shape.split("x"))
        for dtype in a.dtypes.split(","):
            one_config(model, vocab, a.impl + ("+compile" if a.compile else ""), dtype, b, L,
                       a.steps, a.warmup, a.out)


if __name__ == "__main__":
    main()
