#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/hf_debug_state.py — the oracle of the GPU language model.

Runs ONLY on the GPU machine (torch + transformers there; never a dependency of `make test`
or of the program). Builds transformers' MambaForCausalLM from a small config with a fixed
seed, runs one batch in FLOAT64 on the CPU (the pure-torch path, `slow_forward`: no CUDA
kernels, no TF32, independent of our GPU), and writes a vector set (manifest.json + .npy,
Hugging Face tensor names) to OUT.

Float64 all the way: transformers' code upcasts on purpose for fp16/bf16 models — the scan
and the logits with `.float()`, RMSNorm and the residual with `.to(torch.float32)` — which
would turn a float64 model's reference into a float32 one (the first run of this script
gave a loss that was exactly a float32 number). While this script runs, those two calls
leave float64 tensors in float64 (keep_float64 below); forward hooks then assert that every
module's output is float64. The model's code is otherwise untouched.

The set:

  inputs   input_ids, targets (batch, L) int64 (targets = the next token; a few are -1, ignored)
           param.<name>   every parameter as transformers initialised it
           train_hparams  [lr, lr_min, weight_decay, beta1, beta2, eps, clip, warmup, steps]
  outputs  logits (batch, L, vocab), loss (mean cross-entropy over the counted targets)
           grad.<name>    d loss / d parameter (the tied embedding gets head + embedding parts)
           adamw_losses   the loss before each of `steps` torch.optim.AdamW steps on the same
                          batch: global-norm clipping (clip_grad_norm_), linear warm-up then
                          cosine to lr_min (common/nn.c's lr_schedule), weight decay on the
                          matrices, conv weight and embedding only (not A_log, D, biases, norms)
  config.json   the model's configuration as transformers writes it

Tolerances are for a float32 implementation against this float64 reference (see TOL below).

usage: python3 hf_debug_state.py OUT [--seed 0]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import MambaConfig, MambaForCausalLM

CONFIG = dict(vocab_size=96, hidden_size=64, state_size=16, num_hidden_layers=2, expand=2,
              conv_kernel=4, time_step_rank="auto", layer_norm_epsilon=1e-5, use_bias=False,
              use_conv_bias=True, tie_word_embeddings=True)
BATCH, L = 2, 64
HP = dict(lr=3e-3, lr_min=3e-4, weight_decay=0.1, beta1=0.9, beta2=0.95, eps=1e-8, clip=1.0,
          warmup=3, steps=10)
NO_DECAY = ("A_log", "D", "bias", "norm.weight", "norm_f.weight")

# Tolerances of a float32 implementation (|got - want| <= atol + rtol |want|, elementwise),
# with atol relative to the tensor's largest magnitude (norm-wise):
#  logits: 2 layers of float32 matmuls (K <= 128) and a 64-step scan: errors ~1e-6 of the
#          largest logit; 1e-5 leaves a 10x margin.
#  loss:   a mean of 128 float32 per-token losses, summed in double: ~1e-7 relative.
#  grads:  the backward chains ~20 float32 ops per layer plus scan atomics in any order;
#          tiny entries (e.g. dA_log of slow states) carry only absolute error, hence the
#          norm-wise atol 1e-4 · max|grad| and rtol 1e-3.
#  adamw_losses: ten AdamW steps amplify gradient rounding only where |g| ~ its own
#          rounding (Adam normalises m/sqrt(v)); the loss moves by < 1e-5 relative.
TOL = dict(logits=(1e-4, 1e-5), loss=(2e-5, 0.0), grad=(1e-3, 1e-4), adamw_losses=(1e-4, 0.0))


def keep_float64():
    """Make Tensor.float() and Tensor.to(float32) no-ops on float64 tensors (see above)."""
    to32, to = torch.Tensor.float, torch.Tensor.to

    def float_(self, *a, **k):
        return self if self.dtype == torch.float64 else to32(self, *a, **k)

    def to_(self, *a, **k):
        if self.dtype == torch.float64:
            a = tuple(torch.float64 if x is torch.float32 else x for x in a)
            if k.get("dtype") is torch.float32:
                k["dtype"] = torch.float64
        return to(self, *a, **k)

    torch.Tensor.float, torch.Tensor.to = float_, to_


def assert_float64_outputs(model):
    def hook(mod, inp, out):
        outs = out if isinstance(out, (tuple, list)) else [getattr(out, "logits", out)]
        for o in outs:
            if torch.is_tensor(o) and o.is_floating_point():
                assert o.dtype == torch.float64, "%s gave %s" % (type(mod).__name__, o.dtype)
    for m in model.modules():
        m.register_forward_hook(hook)


def lr_schedule(step, warmup, total, lr_max, lr_min):
    """common/nn.c's lr_schedule, line for line."""
    if warmup > 0 and step < warmup:
        return lr_max * (step + 1) / warmup
    if step >= total:
        return lr_min
    progress = (step - warmup) / (total - warmup if total - warmup > 0 else 1)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * progress))


class VectorSet:
    def __init__(self, out, seed, description):
        os.makedirs(out, exist_ok=True)
        self.out, self.entries = out, []
        self.manifest = {"stage": "06_hw_aware_cuda_lm", "description": description,
                         "seed": seed,
                         "tolerance_rule": "|got - want| <= atol + rtol * |want| elementwise",
                         "tensors": self.entries}

    def put(self, name, array, role, rtol=0.0, atol=0.0, meaning=""):
        a = np.ascontiguousarray(array)
        np.save(os.path.join(self.out, name + ".npy"), a)
        self.entries.append({"name": name, "file": name + ".npy", "dtype": str(a.dtype),
                             "shape": list(a.shape), "role": role, "rtol": rtol,
                             "atol": float(atol), "meaning": meaning})

    def close(self):
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump(self.manifest, f, indent=1)
            f.write("\n")


def norm_atol(x, rel):
    return rel * float(np.max(np.abs(x))) if x.size else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    keep_float64()
    cfg = MambaConfig(**CONFIG)
    model = MambaForCausalLM(cfg).to(torch.float64)
    assert_float64_outputs(model)
    model.train()
    g = torch.Generator().manual_seed(args.seed + 1)
    seq = torch.randint(0, cfg.vocab_size, (BATCH, L + 1), generator=g)
    input_ids, targets = seq[:, :-1].clone(), seq[:, 1:].clone()
    targets[1, :3] = -1                       # ignored targets: the loss skips them

    def loss_of(logits):
        return F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1),
                               ignore_index=-1)

    named = list(model.named_parameters())   # the tied head is the embedding: listed once
    vs = VectorSet(args.out, args.seed,
                   "transformers %s MambaForCausalLM (float64, CPU, slow_forward path), config %s, "
                   "batch %d x L %d: logits, loss, every gradient, %d AdamW steps"
                   % (transformers.__version__, json.dumps(CONFIG), BATCH, L, HP["steps"]))
    vs.put("input_ids", input_ids.numpy().astype(np.int64), "input", meaning="token ids (batch, L)")
    vs.put("targets", targets.numpy().astype(np.int64), "input",
           meaning="next-token targets (batch, L); -1 = ignored")
    for name, p in named:
        vs.put("param." + name, p.detach().numpy().astype(np.float64), "input",
               meaning="parameter as transformers initialised it (seed %d)" % args.seed)
    vs.put("train_hparams", np.array([HP[k] for k in ("lr", "lr_min", "weight_decay", "beta1",
                                                       "beta2", "eps", "clip", "warmup", "steps")],
                                     dtype=np.float64), "input",
           meaning="lr, lr_min, weight_decay, beta1, beta2, eps, clip, warmup, steps")

    logits = model(input_ids).logits
    assert logits.dtype == torch.float64
    loss = loss_of(logits)
    loss.backward()
    lg = logits.detach().numpy()
    rt, at = TOL["logits"]
    vs.put("logits", lg, "output", rt, norm_atol(lg, at), "logits (batch, L, vocab), float64")
    rt, at = TOL["loss"]
    vs.put("loss", np.array([loss.item()]), "output", rt, at, "mean cross-entropy")
    rt, at = TOL["grad"]
    for name, p in named:
        gr = p.grad.detach().numpy().astype(np.float64)
        vs.put("grad." + name, gr, "output", rt, norm_atol(gr, at), "d loss / d " + name)

    decay = [p for n, p in named if not n.endswith(NO_DECAY)]
    no_decay = [p for n, p in named if n.endswith(NO_DECAY)]
    print("no weight decay:", [n for n, _ in named if n.endswith(NO_DECAY)])
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": HP["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=HP["lr"], betas=(HP["beta1"], HP["beta2"]), eps=HP["eps"])
    losses = []
    for s in range(HP["steps"]):
        if s > 0:
            opt.zero_grad()
            loss = loss_of(model(input_ids).logits)
            loss.backward()
        losses.append(loss.item())
        torch.nn.utils.clip_grad_norm_([p for _, p in named], HP["clip"])
        for grp in opt.param_groups:
            grp["lr"] = lr_schedule(s, HP["warmup"], HP["steps"], HP["lr"], HP["lr_min"])
        opt.step()
    rt, at = TOL["adamw_losses"]
    vs.put("adamw_losses", np.array(losses), "output", rt, at,
           "loss before each AdamW step on the same batch")
    model.config.to_json_file(os.path.join(args.out, "config.json"))
    vs.close()
    print("hf_debug_state: transformers %s torch %s, %d parameters, loss %.12f, adamw losses %s"
          % (transformers.__version__, torch.__version__, sum(p.numel() for _, p in named),
             losses[0], " ".join("%.6f" % x for x in losses)))


if __name__ == "__main__":
    sys.exit(main())
