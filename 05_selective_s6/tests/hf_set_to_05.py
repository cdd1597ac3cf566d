#!/usr/bin/env python3
"""05_selective_s6/tests/hf_set_to_05.py — stage 06's transformers debug state
(vectors/06_hw_aware_cuda_lm: MambaForCausalLM in float64, written by transformers, not by
us) as a model set for stage 05's --check: parameters under their bare HF names, the
config.json's numbers and booleans as the manifest's config, the tensors stage 05 grades
(input_ids, targets, logits, loss, grad.*) and no others, with no tolerances of their own
(stage 05's apply).

    hf_set_to_05.py SRC DST"""
import json
import os
import sys

import numpy as np

src, dst = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(src, "manifest.json")))
cfg = json.load(open(os.path.join(src, "config.json")))
os.makedirs(dst, exist_ok=True)
tensors = []
for t in m["tensors"]:
    name = t["name"]
    if name.startswith("param."):
        name = name[len("param."):]
    elif not (name in ("input_ids", "targets", "logits", "loss") or name.startswith("grad.")):
        continue                                   # the optimizer's part: stage 06's alone
    a = np.load(os.path.join(src, t["file"]))
    if a.dtype.kind == "i":
        a = a.astype(np.int32)
    np.save(os.path.join(dst, name + ".npy"), a)
    tensors.append({"name": name, "file": name + ".npy", "dtype": str(a.dtype),
                    "shape": list(a.shape), "role": t["role"]})
config = {k: v for k, v in cfg.items() if isinstance(v, (bool, int, float)) and not isinstance(v, str)}
json.dump({"stage": "05_selective_s6", "description": "converted from " + m.get("description", ""),
           "config": config, "tensors": tensors}, open(os.path.join(dst, "manifest.json"), "w"), indent=1)
