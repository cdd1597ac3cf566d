#!/usr/bin/env python3
"""07_ssd_mamba2/reference/hf_mamba2_debug_state.py -- a debug state of Hugging Face's
Mamba2ForCausalLM, as a vector set our program grades (`ssd_mamba2 --check DIR`).

Builds a small Mamba2ForCausalLM with transformers (random weights, moved off their init),
runs one batch in float64 on the CPU -- off CUDA, transformers takes its pure-PyTorch path
(Mamba2Mixer.torch_forward) -- and writes:

  inputs   config (the sizes), input_ids, targets (labels shifted left, -1 = ignored,
           i.e. the per-position targets of our loss), every parameter under its HF name
  outputs  logits, loss, grad.<name> for every parameter (lm_head is tied to the
           embedding, so it has no tensor of its own)

in the layout of docs/vectors.md (manifest.json + .npy). Needs torch and transformers,
which exist on the GPU machine only; run there as

    python3 07_ssd_mamba2/reference/hf_mamba2_debug_state.py OUTDIR

float64: transformers' norms upcast to float32 (meant for half precision inputs), which in
a float64 run is a DOWNcast, and so do `.float()` calls and residual_in_fp32. The script
sets residual_in_fp32=False and, while the model runs, lets the modeling module's
`torch.float32` and Tensor.float() mean float64; it also measures how far the unpatched
run is (printed, and stored in the manifest's description).
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import Mamba2Config, Mamba2ForCausalLM
import transformers.models.mamba2.modeling_mamba2 as mm

OUT = sys.argv[1] if len(sys.argv) > 1 else "hf_mamba2"
VOCAB, D_MODEL, N_LAYER, N, P, G, K, EXPAND, CHUNK = 64, 32, 2, 16, 8, 2, 4, 2, 16
BATCH, L = 2, 40   # L not a multiple of the chunk: HF pads, we run a short last chunk


class _Float64Torch:
    """torch, except that float32 is float64 (for the modeling module only)."""
    float32 = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


def build():
    torch.manual_seed(7)
    cfg = Mamba2Config(vocab_size=VOCAB, hidden_size=D_MODEL, num_hidden_layers=N_LAYER,
                       state_size=N, head_dim=P, num_heads=EXPAND * D_MODEL // P, n_groups=G,
                       conv_kernel=K, expand=EXPAND, chunk_size=CHUNK, use_bias=False,
                       use_conv_bias=True, residual_in_fp32=False, tie_word_embeddings=True,
                       layer_norm_epsilon=1e-5, use_cache=False)
    model = Mamba2ForCausalLM(cfg).double().eval()
    with torch.no_grad():       # move every parameter off its init (D = 1, norms = 1, ...)
        for name, p in model.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
    return cfg, model


def norm_group_of(model):
    """The gated norm's group size in this transformers version: read it if the module
    says, else find it by trying both rules on random input."""
    norm = model.backbone.layers[0].mixer.norm
    di = norm.weight.shape[0]
    gs = getattr(norm, "group_size", None)
    if gs is not None:
        return int(gs)
    y = torch.randn(3, di, dtype=torch.float64)
    z = torch.randn(3, di, dtype=torch.float64)
    with torch.no_grad():
        got = norm(y, z)
        v = y * torch.nn.functional.silu(z)
        for gsz in (di, di // G):
            vg = v.view(3, di // gsz, gsz)
            ref = (vg * torch.rsqrt(vg.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)).view(3, di) * norm.weight
            if torch.allclose(got, ref, rtol=1e-5, atol=1e-6):
                return gsz
    raise SystemExit("hf_mamba2_debug_state: the gated norm matches neither rule")


def run(model, ids, labels, patched):
    keep_torch, keep_float = mm.torch, torch.Tensor.float
    if patched:
        mm.torch = _Float64Torch()
        torch.Tensor.float = lambda self, *a, **k: self.to(torch.float64)
    try:
        model.zero_grad(set_to_none=True)
        out = model(input_ids=ids, labels=labels, use_cache=False)
        out.loss.backward()
    finally:
        mm.torch, torch.Tensor.float = keep_torch, keep_float
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return out.logits.detach().clone(), out.loss.detach().clone(), grads


def main():
    cfg, model = build()
    gsz = norm_group_of(model)
    g = torch.Generator().manual_seed(8)
    ids = torch.randint(0, VOCAB, (BATCH, L), generator=g)
    logits, loss, grads = run(model, ids, ids, patched=True)
    logits32, loss32, grads32 = run(model, ids, ids, patched=False)
    dev = max(float((logits - logits32).abs().max() / logits.abs().max()),
              max(float((grads[n] - grads32[n]).abs().max() / (grads[n].abs().max() + 1e-300)) for n in grads))
    print(f"hf_mamba2_debug_state: transformers {transformers.__version__}, torch {torch.__version__}, "
          f"norm group {gsz}; loss {loss.item():.15g}; unpatched (float32 inside) deviates {dev:.2e} (rel. to max)")
    # HF shifts inside the loss: position t predicts ids[t+1]; ours scores each position's
    # own target, so targets[t] = ids[t+1] and the last position is ignored (-1).
    targets = torch.full_like(ids, -1)
    targets[:, :-1] = ids[:, 1:]
    os.makedirs(OUT, exist_ok=True)
    tensors = []

    def put(name, arr, role, rtol, atol, meaning):
        arr = np.ascontiguousarray(arr)
        np.save(os.path.join(OUT, name + ".npy"), arr)
        entry = {"name": name, "file": name + ".npy", "dtype": str(arr.dtype), "shape": list(arr.shape),
                 "role": role, "rtol": rtol, "atol": atol, "meaning": meaning}
        if role == "output":      # graded at the grader's own tolerances (see the description)
            del entry["rtol"], entry["atol"]
        tensors.append(entry)

    H = EXPAND * D_MODEL // P
    put("config", np.array([VOCAB, D_MODEL, N_LAYER, N, P, G, K, EXPAND, CHUNK, gsz], dtype=np.int64), "input", 0, 0,
        "vocab, d_model, n_layer, d_state N, head_dim P, n_groups G, d_conv K, expand, chunk_size, norm group size")
    put("input_ids", ids.numpy().astype(np.int64), "input", 0, 0, "tokens (batch, L)")
    put("targets", targets.numpy().astype(np.int64), "input", 0, 0,
        "per-position targets (batch, L): input_ids shifted left, -1 at the end (HF's labels = input_ids)")
    params = dict(model.named_parameters())
    for n, p in params.items():
        put(n, p.detach().numpy(), "input", 0, 0, "parameter " + n)
    # Outputs carry no tolerances: a manifest may only tighten a grader's own, and the
    # grader's precision decides (our float32 program and our float64 build grade the same
    # set, each at its own eps; see the description).
    put("logits", logits.numpy(), "output", None, None, f"logits (batch, L, vocab), H = {H} heads")
    put("loss", np.array([loss.item()]), "output", None, None, "mean cross-entropy over the scored positions")
    for n, gr in grads.items():
        put("grad." + n, gr.numpy(), "output", None, None, "d loss / d " + n)
    manifest = {"stage": "07_ssd_mamba2",
                "description": (f"debug state of transformers' Mamba2ForCausalLM (transformers {transformers.__version__}, "
                                f"torch {torch.__version__}, torch_forward path, float64 on CPU; written by "
                                f"reference/hf_mamba2_debug_state.py). Unpatched float32 casts inside HF would "
                                f"deviate {dev:.2e} relative to each tensor's max. Outputs carry no rtol/atol: "
                                f"each grader applies its own stage tolerances (float64 build: 1e3 eps for "
                                f"logits/loss, 1e4 eps of each gradient's max; float32 program: the same in "
                                f"float32 eps)."),
                "seed": 7,
                "tolerance_rule": "|got - want| <= atol + rtol * |want| elementwise",
                "tensors": tensors}
    with open(os.path.join(OUT, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(os.path.join(OUT, "manifest.json.tmp"), os.path.join(OUT, "manifest.json"))
    print(f"hf_mamba2_debug_state: wrote {len(tensors)} tensors to {OUT}")


if __name__ == "__main__":
    main()
