#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/scripts/tasks_tables.py DIR — the synthetic tasks' tables (§6.23) from
lm --task's files in DIR: induction_eval.tsv / copy_eval.tsv (task, variant, steps, L, accuracy,
sequences; the last row per variant and length wins) and the --log TSVs <task>_<variant>.tsv
(step, loss, accuracy, ms per step). Prints markdown."""
import csv
import math
import sys

VARIANTS = [("s6", "S6 (Mamba)"), ("lti", "LTI (S4D-Real in the block)"), ("nogate", "S6, no gate")]


def evals(path):
    rows = {}
    try:
        with open(path) as f:
            for r in csv.reader(f, delimiter="\t"):
                if len(r) == 6:
                    rows[(r[1], int(r[3]))] = (int(r[2]), float(r[4]), int(r[5]))
    except FileNotFoundError:
        pass
    return rows


def log(path):
    out = []
    try:
        with open(path) as f:
            for r in csv.reader(f, delimiter="\t"):
                if r and r[0] != "step":
                    out.append((int(r[0]), float(r[1]), float(r[2]), float(r[3])))
    except FileNotFoundError:
        pass
    return out


def main(d):
    for fname, title in (("induction_eval.tsv", "the paper's protocol"),
                         ("curriculum_eval.tsv", "stage 05's curriculum: 3000 steps at L = 64, then 3000 at 256")):
        induction_table(f"{d}/{fname}", title)
    copy_table(d)
    copy_scaled(d)
    copy_cost(d)


def induction_table(path, title):
    ev = evals(path)
    lengths = sorted({L for (_, L) in ev})
    if lengths:
        print(f"Induction heads ({title}; trained at L = 256), accuracy at the last position in %:\n")
        print("| Model | steps | " + " | ".join(f"2^{int(math.log2(L))}" for L in lengths) + " |")
        print("|---|---|" + "---|" * len(lengths))
        for v, name in VARIANTS:
            cells = [ev.get((v, L)) for L in lengths]
            steps = next((c[0] for c in cells if c), None)
            if steps is None:
                continue
            print(f"| {name} | {steps} | " + " | ".join(f"{100 * c[1]:.0f}" if c else "" for c in cells) + " |")
        print("\n(sequences per length: " + ", ".join(
            f"2^{int(math.log2(L))}: {next((ev[(v, L)][2] for v, _ in VARIANTS if (v, L) in ev), '')}"
            for L in lengths) + ")\n")


def copy_rows(d, stem, ce):
    """one table row per variant and evaluation: steps, accuracy, sequences, the last logged loss of {stem}_{v}.tsv"""
    for v, name in VARIANTS:
        for (vv, L), (steps, acc, n) in ce.items():
            if vv == v:
                lg = log(f"{d}/{stem}_{v}.tsv")
                last = f"{lg[-1][1]:.4f} " if lg else ""
                print(f"| {name} | {steps} | {100 * acc:.1f}% | {n} | {last}|")


def copy_table(d):
    ce = evals(f"{d}/copy_eval.tsv")
    if ce:
        print("Selective copying (L = 4096 + 16), accuracy on the 16 answers:\n")
        print("| Model | steps | accuracy | sequences | final logged loss |")
        print("|---|---|---|---|---|")
        copy_rows(d, "copy", ce)
        print()
    for task in ("induction", "curriculum", "copy"):
        for v, name in VARIANTS:
            lg = log(f"{d}/{task}_{v}.tsv")
            if lg:
                ms = [r[3] for r in lg]
                ms.sort()
                print(f"{task} {v}: {lg[-1][0]} steps, median {ms[len(ms) // 2]:.2f} ms/step logged")


def copy_scaled(d):
    """selective copying SCALED (context 256 instead of 4096, lr 1e-3 instead of 1e-4): not the protocol"""
    ce = evals(f"{d}/copy256_eval.tsv")
    if not ce:
        return
    print("Selective copying SCALED — context 256 instead of the paper's 4096, constant lr 1e-3 instead of "
          "1e-4 (batch 64, 16 tokens, 14 colours as the paper); NOT the paper's protocol:\n")
    print("| Model | steps | accuracy on the 16 answers | sequences | last logged loss |")
    print("|---|---|---|---|---|")
    copy_rows(d, "copy256", ce)
    print()


def copy_cost(d):
    """the selective-copying step (batch 64 x 4112) alone, op by op: lm --bench's TSV rows"""
    rows = []
    for v, name in VARIANTS:
        try:
            with open(f"{d}/copy_step_{v}.tsv") as f:
                r = list(csv.DictReader(f, delimiter="\t"))
        except FileNotFoundError:
            continue
        if r:
            rows.append((name, r[-1]))
    if not rows:
        return
    kinds = ["matmul", "scan", "conv1d", "rmsnorm", "classifier", "optimizer", "cast", "other"]
    print("\nSelective copying, one step at the paper's shape (batch 64 x 4112), alone, op by op "
          f"({rows[0][1]['gpu']}): median ms a step, and one profiled step split by kind (ms; each op "
          "waited for, so the split's total is above the step's):\n")
    print("| Model | ms/step | " + " | ".join(kinds) + " | profiled total |")
    print("|---|---|" + "---|" * (len(kinds) + 1))
    for name, r in rows:
        split = [float(r[f"ms_{k}"]) for k in kinds]
        print(f"| {name} | {float(r['ms_step']):.2f} | " + " | ".join(f"{x:.2f}" for x in split)
              + f" | {sum(split):.2f} |")
    print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
