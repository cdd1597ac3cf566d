#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/hf_generate.py — our generation and half-precision checkpoint
loading against transformers' MambaForCausalLM. Runs ONLY on the GPU machine (torch,
transformers, tokenizers; no internet there, so the released checkpoints such as
state-spaces/mamba-130m-hf cannot be fetched: random-init models at their shapes instead).

(a) Greedy continuations. Random-init models saved with save_pretrained (float32), with a
    tokenizer.json beside: the 130m shape (hidden 768, 24 layers, vocab 50280) with GPT-2's
    vocabulary (reference/gpt2_tokenizer.json), and a small one (4 x 128, vocab 4096) with the
    trained corpus vocabulary. Per text prompt: MambaForCausalLM.generate (greedy, 64 new tokens,
    float32, on the GPU, with its cache) against `generate --device gpu --greedy --no-eos
    --max-new 64` run once per prompt and once with all prompts as one batch (prompts of
    different lengths: the batch path forces the longer prompts' tail through the step), and for
    the small model `--device cpu` (stage 05's step). The prompt ids of our tokenizer are checked
    against tokenizers' first. Where ids differ, transformers' float64 logits (CPU) at the first
    differing position say how far apart the two choices are (a float32 near-tie or a bug).
(b) Checkpoints in bfloat16 and float16 (save_pretrained after .to(dtype)) and float32: `lm
    --logits` reads them (16-bit tensors widened exactly to float32; float32 arithmetic) against
    transformers in the same dtype on the GPU. Both are compared with transformers in float64
    (CPU) on the same weights (the 16-bit values widened), r. Bound for |ours - hf_dtype|
    relative to max |hf_dtype|: e_hf + b32, where e_hf = rel(hf_dtype, r) is transformers' own
    error in that dtype (measured) and b32 = max(1e-4, 2 rel(hf_fp32, r)) the float32 bound of
    hf_roundtrip.py (triangle inequality: |ours - hf| <= |ours - r| + |r - hf|).
(c) Our bf16-weight decode (`--dtype bf16`) against transformers' bfloat16 generate: the number
    of identical greedy tokens, reported only (transformers rounds every activation to bf16; we
    keep float32 activations and states, so the paths legitimately part at a near-tie).

usage: python3 hf_generate.py GENERATE LM TOKENIZE WORKDIR RESULTS_JSON
environment: HF_PARTS (default "greedy logits bf16"), HF_PROMPTS_130M (3), HF_MODELS (a name
part: only those models), GEN_STEP (generate's --step on the GPU: the step version under test)
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer
from transformers import MambaConfig, MambaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
LMDIR = os.path.dirname(HERE)
SHAPE_130M = dict(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, expand=2,
                  conv_kernel=4)
SMALL = dict(vocab_size=4096, hidden_size=128, state_size=16, num_hidden_layers=4, expand=2, conv_kernel=4)
PROMPTS = ["The trouble with computers is that",
           "Once upon a time, in a land far away, there lived",
           "Q: What is 12 + 30? A:",
           "Ünïcödé and emoji 🙂 — still text"]
NEW = 64


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def rel_to(a, b, ref):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(ref)))


def save_model(cfg, seed, path, tok_json, dtype=torch.float32):
    torch.manual_seed(seed)
    m = MambaForCausalLM(MambaConfig(**cfg))
    m.to(dtype).save_pretrained(path)
    shutil.copy(tok_json, os.path.join(path, "tokenizer.json"))
    return path


def hf_greedy(path, ids, dtype):
    m = MambaForCausalLM.from_pretrained(path, dtype=dtype).cuda().eval()
    m.generation_config.eos_token_id = None
    out = []
    with torch.no_grad():
        for p in ids:
            x = torch.tensor([p], device="cuda")
            y = m.generate(x, max_new_tokens=NEW, do_sample=False, eos_token_id=None, pad_token_id=0)
            out.append(y[0, len(p):].tolist())
    del m
    torch.cuda.empty_cache()
    return out


def ours_greedy(gen, path, prompts, work, device, batch, dtype="fp32"):
    ids_file = os.path.join(work, "ours_ids.txt")
    runs = [prompts] if batch else [[p] for p in prompts]
    out = []
    for ps in runs:
        pf = os.path.join(work, "prompts.txt")
        with open(pf, "w", encoding="utf-8") as f:
            f.write("\n".join(q.replace("\n", " ") for q in ps))
        # one prompt: --prompt; several: one per line of --prompts
        args = ["--prompt", ps[0]] if len(ps) == 1 else ["--prompts", pf]
        step = ["--step", os.environ["GEN_STEP"]] if device == "gpu" and os.environ.get("GEN_STEP") else []
        r = subprocess.run([gen, "--model", path, *args, *step, "--greedy", "--no-eos", "--vocab-all", "--max-new",
                            str(NEW), "--device", device, "--dtype", dtype, "--ids-out", ids_file],
                           capture_output=True)   # bytes: the streamed text may cut a UTF-8 character
        err = r.stderr.decode("utf-8", "replace").strip()
        if r.returncode != 0:
            raise RuntimeError("generate failed (%d): %s" % (r.returncode, err[-500:]))
        print("   ", err.splitlines()[-1], flush=True)
        with open(ids_file) as f:
            out += [[int(t) for t in line.split()] for line in f.read().splitlines()]
    return out


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def f64_margin(path, prompt_ids, cont, i, ours_tok, hf_tok):
    """transformers float64 logits (CPU) after prompt + cont[:i]: top-1 minus the two choices."""
    m = MambaForCausalLM.from_pretrained(path, dtype=torch.float64).eval()
    with torch.no_grad():
        lg = m(torch.tensor([prompt_ids + cont[:i]])).logits[0, -1].numpy()
    top = float(lg.max())
    return dict(position=i, f64_top=top, f64_gap_ours=top - float(lg[ours_tok]),
                f64_gap_hf=top - float(lg[hf_tok]), f64_scale=float(np.abs(lg).max()))


def check_prompt_ids(tokenize, tok_json, prompts):
    hf = Tokenizer.from_file(tok_json)
    want = [hf.encode(p, add_special_tokens=False).ids for p in prompts]
    if tokenize and os.path.exists(tokenize):
        inp = b"\0".join(p.encode() for p in prompts) + b"\0"
        r = subprocess.run([tokenize, "encode", tok_json, "-", "--nul"], input=inp, capture_output=True, check=True)
        ours = [[int(x) for x in l.split()] for l in r.stdout.decode().split("\n")[:-1]]
        same = sum(o == w for o, w in zip(ours, want))
        print("  prompt ids, our tokenizer vs tokenizers: %d of %d identical" % (same, len(prompts)), flush=True)
    return want


def main():
    gen, lm, tokenize, work, results = sys.argv[1:6]
    parts = os.environ.get("HF_PARTS", "greedy logits bf16").split()
    n130 = int(os.environ.get("HF_PROMPTS_130M", "3"))
    os.makedirs(work, exist_ok=True)
    sys.path.insert(0, HERE)
    from hf_debug_state import keep_float64   # float64 stays float64 inside transformers' forward
    keep_float64()
    res = dict(machine=torch.cuda.get_device_name(0), torch=torch.__version__,
               transformers=transformers.__version__, greedy=[], logits=[], bf16_greedy=[])
    t_start = time.time()
    gpt2 = os.path.join(HERE, "gpt2_tokenizer.json")
    corpus_tok = os.path.join(LMDIR, "corpus_tokenizer.json")
    models = [("130m shape", SHAPE_130M, gpt2, os.path.join(work, "m130")),
              ("small 4x128", SMALL, corpus_tok, os.path.join(work, "small"))]
    ok = True
    # ---- (a) greedy, float32
    only = os.environ.get("HF_MODELS")   # e.g. "130m": only the models whose name holds it
    models = [mm for mm in models if not only or only in mm[0]]
    for name, cfg, tok_json, path in (models if "greedy" in parts else []):
        if not os.path.exists(os.path.join(path, "model.safetensors")):
            save_model(cfg, 1, path, tok_json)
        ids = check_prompt_ids(tokenize, tok_json, PROMPTS)
        prompts = PROMPTS if name == "small 4x128" else PROMPTS[:n130]
        ids = ids[:len(prompts)]
        t0 = time.time()
        hf = hf_greedy(path, ids, torch.float32)
        print("  %s: transformers generate %d x %d tokens in %.1f s" % (name, len(prompts), NEW, time.time() - t0))
        variants = [("gpu", False), ("gpu", True)] + ([("cpu", False)] if name == "small 4x128" else [])
        for device, batch in variants:
            label = "%s, %s%s" % (name, device, ", batched" if batch else "")
            try:
                ours = ours_greedy(gen, path, prompts, work, device, batch)
            except Exception as e:   # noqa: BLE001 — recorded, the other cases still run
                print("  %s: ERROR %s" % (label, e), flush=True)
                res["greedy"].append(dict(case=label, error=str(e)))
                ok = False
                continue
            for k, (o, h) in enumerate(zip(ours, hf)):
                d = first_diff(o, h)
                row = dict(case=label, prompt=k, tokens=len(h), identical=sum(x == y for x, y in zip(o, h)),
                           equal=d is None)
                if d is not None and d < min(len(o), len(h)):
                    row.update(f64_margin(path, ids[k], h, d, o[d], h[d]))
                ok &= d is None
                res["greedy"].append(row)
                print("  greedy %-32s prompt %d: %2d/%d identical%s" % (
                    label, k, row["identical"], len(h),
                    "" if d is None else " (first difference at %d: %s)" % (
                        d, {kk: row[kk] for kk in row if kk.startswith("f64")})), flush=True)
    # ---- (b) logits of float32 / bfloat16 / float16 checkpoints
    g = np.random.default_rng(5)
    for name, cfg, tok_json, path in (models if "logits" in parts else []):
        if not os.path.exists(os.path.join(path, "model.safetensors")):
            save_model(cfg, 1, path, tok_json)
        ids = g.integers(0, min(cfg["vocab_size"], 50257), (1, 32)).astype(np.int64)
        np.save(os.path.join(work, "ids.npy"), ids)
        hf32_err = None
        for dt_name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)):
            p = path if dt is torch.float32 else save_model(cfg, 1, path + "_" + dt_name, tok_json, dt)
            try:
                r = subprocess.run([lm, "--logits", p, "--ids", os.path.join(work, "ids.npy"), "--out-npy",
                                    os.path.join(work, "ours.npy")], capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr.strip()[-400:])
                ours = np.load(os.path.join(work, "ours.npy")).astype(np.float64)
                m = MambaForCausalLM.from_pretrained(p, dtype=dt).cuda().eval()
                with torch.no_grad():
                    hf = m(torch.from_numpy(ids).cuda()).logits.double().cpu().numpy()
                del m
                m = MambaForCausalLM.from_pretrained(p, dtype=torch.float64).eval()
                with torch.no_grad():
                    ref = m(torch.from_numpy(ids)).logits.numpy()
                del m
            except Exception as e:   # noqa: BLE001
                print("  logits %s %s: ERROR %s" % (name, dt_name, e), flush=True)
                res["logits"].append(dict(case=name, dtype=dt_name, error=str(e)))
                ok = False
                continue
            # all three relative to max |r| (the exact answer), so the triangle inequality holds
            e_hf, e_ours, direct = rel(hf, ref), rel(ours, ref), rel_to(ours, hf, ref)
            if dt is torch.float32:
                hf32_err = e_hf
            b32 = max(1e-4, 2 * (hf32_err if hf32_err is not None else e_hf))
            bound = b32 if dt is torch.float32 else e_hf + b32
            passed = direct <= bound and e_ours <= b32
            ok &= passed
            res["logits"].append(dict(case=name, dtype=dt_name, ours_vs_hf=direct, ours_vs_f64=e_ours,
                                      hf_vs_f64=e_hf, bound=bound, float32_bound=b32, passed=passed))
            print("  logits %-12s %-8s |ours-hf|/|f64| %.3e (bound %.2e)  ours vs f64 %.3e (bound %.1e)  "
                  "hf %s vs f64 %.3e  %s" % (name, dt_name, direct, bound, e_ours, b32, dt_name, e_hf,
                                            "PASS" if passed else "FAIL"), flush=True)
    # ---- (c) bf16 weights: ours vs transformers bfloat16 (reported)
    name, cfg, tok_json, path = models[0]
    p16 = path + "_bfloat16"
    if os.path.exists(p16) and "bf16" in parts:
        ids = check_prompt_ids(None, tok_json, PROMPTS[:2])
        try:
            hf = hf_greedy(p16, ids, torch.bfloat16)
            ours = ours_greedy(gen, p16, PROMPTS[:2], work, "gpu", False, "bf16")
            for k, (o, h) in enumerate(zip(ours, hf)):
                d = first_diff(o, h)
                res["bf16_greedy"].append(dict(prompt=k, identical=sum(x == y for x, y in zip(o, h)),
                                               first_difference=d))
                print("  bf16 greedy (reported) prompt %d: %d/%d identical, first difference at %s" % (
                    k, sum(x == y for x, y in zip(o, h)), len(h), d), flush=True)
        except Exception as e:   # noqa: BLE001
            print("  bf16 greedy: ERROR %s" % e, flush=True)
    res["all_passed"] = bool(ok)
    res["seconds"] = time.time() - t_start
    with open(results, "w") as f:
        json.dump(res, f, indent=1)
    print("hf_generate: %s (%.0f s)" % ("ALL PASS" if ok else "SOME FAILED", time.time() - t_start))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
