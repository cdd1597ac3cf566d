#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/text_bf16_diag.py — where the bf16 row of hf_generate.py's
logits check comes from. Round 1 printed "hf bfloat16 vs f64 1.114": transformers' own bfloat16
forward 111 % (of max |logit|) away from the float64 forward on the same (widened) weights, while
ours (float32 arithmetic on the same bf16 weights) was 2.3e-4 away. Either transformers' bf16
arithmetic really is that far off on this random-init model, or the comparison is not between
the same weights. This script separates the two, on the GPU machine only:
  1. the weights transformers holds after from_pretrained(dtype=bfloat16) against the file's;
  2. the same bf16-loaded model cast to float32 (weights unchanged, float32 arithmetic);
  3. bfloat16 arithmetic, and each layer's hidden state against float64 (where the error grows).
usage: python3 text_bf16_diag.py WORKDIR
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import MambaConfig, MambaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE_130M = dict(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, expand=2,
                  conv_kernel=4)


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main():
    work = sys.argv[1]
    sys.path.insert(0, HERE)
    from hf_debug_state import keep_float64   # as hf_generate.py: float64 stays float64 in the forward
    keep_float64()
    path = os.path.join(work, "m130_bfloat16_diag")
    torch.manual_seed(1)
    MambaForCausalLM(MambaConfig(**SHAPE_130M)).to(torch.bfloat16).save_pretrained(path)
    n = int(os.environ.get("DIAG_TOKENS", "32"))   # hf_generate.py's check uses 32
    ids = torch.from_numpy(np.random.default_rng(5).integers(0, 50257, (1, n)).astype(np.int64))
    file_w = load_file(os.path.join(path, "model.safetensors"))
    m16 = MambaForCausalLM.from_pretrained(path, dtype=torch.bfloat16).cuda().eval()
    sd = m16.state_dict()
    worst, names = 0.0, []
    for k, v in file_w.items():
        if k not in sd:
            names.append(k + " (missing)")
            continue
        d = float((sd[k].float().cpu() - v.float()).abs().max())
        if d > 0:
            names.append("%s %.3g" % (k, d))
        worst = max(worst, d)
    dtypes = sorted({str(v.dtype) for v in sd.values()})
    print("1. weights loaded vs file: max |diff| %.3g over %d tensors; dtypes held %s; differing: %s"
          % (worst, len(file_w), dtypes, names[:6] or "none"), flush=True)
    with torch.no_grad():   # the GPU forwards first (the float64 one on the CPU is the slow part)
        o16 = m16(ids.cuda(), output_hidden_states=True)
        l16, h16 = o16.logits.double().cpu().numpy(), [h.double().cpu().numpy() for h in o16.hidden_states]
        m32 = m16.float()
        l32 = m32(ids.cuda()).logits.double().cpu().numpy()
    print("   bf16 arithmetic vs float32 arithmetic on the same weights (both transformers, GPU): %.3e"
          % rel(l16, l32), flush=True)
    m64 = MambaForCausalLM.from_pretrained(path, dtype=torch.float64).eval()
    with torch.no_grad():
        o64 = m64(ids, output_hidden_states=True)
        ref, h64 = o64.logits.numpy(), [h.numpy() for h in o64.hidden_states]
    print("2. bf16 weights, float32 arithmetic (transformers, GPU) vs float64: %.3e" % rel(l32, ref), flush=True)
    print("3. bf16 weights, bfloat16 arithmetic (transformers, GPU) vs float64: %.3e; max |logit| f64 %.3g bf16 %.3g"
          % (rel(l16, ref), np.abs(ref).max(), np.abs(l16).max()), flush=True)
    print("   hidden states, bf16 vs f64, relative to max |f64| of that layer:",
          " ".join("%d:%.2g" % (i, rel(a, b)) for i, (a, b) in enumerate(zip(h16, h64))), flush=True)
    print("   argmax over the %d positions, bf16 vs f64: %d equal"
          % (n, int((l16[0].argmax(-1) == ref[0].argmax(-1)).sum())), flush=True)


if __name__ == "__main__":
    main()
