#!/usr/bin/env python3
"""05_selective_s6/tests/subset_set.py — copy part of a vector set: the tensors whose names start
with one of the given prefixes, with the manifest's config changed or dropped.

    subset_set.py SRC DST PREFIX... [--set KEY=VALUE]... [--drop KEY]..."""
import argparse
import json
import os
import shutil

ap = argparse.ArgumentParser()
ap.add_argument("src")
ap.add_argument("dst")
ap.add_argument("prefix", nargs="+")
ap.add_argument("--set", action="append", default=[])
ap.add_argument("--drop", action="append", default=[])
a = ap.parse_args()
m = json.load(open(os.path.join(a.src, "manifest.json")))
m["tensors"] = [t for t in m["tensors"] if any(t["name"].startswith(p) for p in a.prefix)]
os.makedirs(a.dst, exist_ok=True)
for t in m["tensors"]:
    shutil.copy(os.path.join(a.src, t["file"]), os.path.join(a.dst, t["file"]))
cfg = m.setdefault("config", {})
for kv in a.set:
    k, v = kv.split("=")
    cfg[k] = float(v)
for k in a.drop:
    cfg.pop(k, None)
json.dump(m, open(os.path.join(a.dst, "manifest.json"), "w"), indent=1)
