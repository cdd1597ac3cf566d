"""common/tests/run_doc_examples.py STAGE PROGRAM — run docs/vectors.md's NumPy example
for STAGE against its --check, and check that the grader cannot be fooled.

The examples are the fenced ```python blocks of docs/vectors.md whose first line is
`# doc-example: NAME`: the block named `common` (helpers) is prepended to the stage's
block, so what runs here is exactly what the reader copies. The example writes a set
computed by NumPy from the inputs alone, at sizes the project never uses, into $SET and
grades it with $PROG --check. Then, on copies of that set:
  wrong      one output element off by 1e-6 relative        -> exit 1, that output FAILs
  loosened   every output garbage, every tolerance 1e308    -> exit 1, every output FAILs
  nan        a NaN in one output                             -> exit 1
  subset     the inputs and one output                       -> exit 0, the rest skipped
  no output  the inputs only                                 -> exit 2, one line on stderr
Exits 0 when all of that holds, 1 otherwise; 0 with a note when STAGE has no example."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "docs", "vectors.md")
TALLY = re.compile(r"^(\d+) passed, (\d+) failed(, (\d+) skipped)?$")


def examples():
    """{name: code} of the marked blocks of docs/vectors.md."""
    text = open(DOC, encoding="utf-8").read()
    found = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        first = block.split("\n", 1)[0]
        m = re.match(r"# doc-example: (\S+)\s*$", first)
        if m:
            found[m.group(1)] = block
    return found


def check(prog, directory):
    """Run --check; returns (exit code, stdout, stderr)."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.run([prog, "--check", directory], capture_output=True, text=True, env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


def tally(stdout):
    lines = stdout.strip().splitlines()
    return TALLY.match(lines[-1]) if lines else None


def rewrite(src, dst, keep=None, edit=None):
    """Copy set src to dst, keeping the tensors keep(entry) accepts and applying
    edit(entry, array) -> array to each kept one (the manifest follows)."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    manifest = json.load(open(os.path.join(src, "manifest.json")))
    kept = []
    for e in manifest["tensors"]:
        if keep and not keep(e):
            continue
        a = np.load(os.path.join(src, e["file"]))
        if edit:
            a = edit(e, a)
        np.save(os.path.join(dst, e["file"]), a)
        kept.append(e)
    manifest["tensors"] = kept
    json.dump(manifest, open(os.path.join(dst, "manifest.json"), "w"), indent=1)


def main():
    stage, prog = sys.argv[1], os.path.abspath(sys.argv[2])
    blocks = examples()
    if stage not in blocks or stage == "common":   # "common" is the helpers' block
        print(f"doc examples: docs/vectors.md has no example for {stage}")
        return 0
    problems = []
    work = tempfile.mkdtemp(prefix="ode_to_mamba_doc_")
    try:
        script = os.path.join(work, "example.py")
        with open(script, "w") as f:
            f.write(blocks.get("common", "") + "\n" + blocks[stage])
        good = os.path.join(work, "set")
        env = dict(os.environ, PROG=prog, SET=good, ASAN_OPTIONS="detect_leaks=0")
        p = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env, cwd=work, timeout=900)
        t = tally(p.stdout)
        if p.returncode != 0 or not t or t.group(2) != "0" or int(t.group(1)) < 1:
            print(p.stdout[-3000:], p.stderr[-3000:])
            problems.append(f"the documented example exited {p.returncode} (want 0 with every output passing)")
            raise StopIteration
        outputs = [e["name"] for e in json.load(open(os.path.join(good, "manifest.json")))["tensors"]
                   if e["role"] == "output"]
        print(f"doc example {stage}: {t.group(0)} ({len(outputs)} outputs written by NumPy)")

        def expect(label, directory, code, test=None):
            rc, out, err = check(prog, directory)
            why = None
            if rc != code:
                why = f"exit {rc}, want {code}"
            elif test:
                why = test(out, err)
            print(f"  {label:10s} exit {rc}: {'as expected' if not why else 'WRONG: ' + why}")
            if why:
                print(out[-2000:], err[-2000:])
                problems.append(f"{label}: {why}")

        first = outputs[0]
        rng = np.random.default_rng(1)

        def wrong(e, a):
            if e["name"] == first:   # far beyond a float64 (float32) implementation's rounding
                a = a.copy()
                rel = 1e-6 if a.dtype == np.float64 else 1e-2
                a.flat[0] += rel * (abs(a.flat[0]) + np.max(np.abs(a)) + 1e-300)
            return a
        rewrite(good, os.path.join(work, "wrong"), edit=wrong)
        expect("wrong", os.path.join(work, "wrong"), 1,
               lambda out, err: None if re.search(rf"^FAIL {re.escape(first)}\s", out, re.M) else f"no FAIL line for {first}")

        def garbage(e, a):
            if e["role"] == "output":
                e["rtol"] = e["atol"] = 1e308
                return rng.standard_normal(a.shape).astype(a.dtype) * 1e3
            return a
        rewrite(good, os.path.join(work, "loosened"), edit=garbage)
        expect("loosened", os.path.join(work, "loosened"), 1,
               lambda out, err: None if tally(out) and int(tally(out).group(2)) == len(outputs)
               else f"want {len(outputs)} failed: {tally(out).group(0) if tally(out) else 'no tally'}")

        def nan(e, a):
            if e["name"] == first:
                a = a.astype(a.dtype, copy=True)
                a.flat[-1] = np.nan
            return a
        rewrite(good, os.path.join(work, "nan"), edit=nan)
        expect("nan", os.path.join(work, "nan"), 1)

        rewrite(good, os.path.join(work, "subset"), keep=lambda e: e["role"] == "input" or e["name"] == first)
        expect("subset", os.path.join(work, "subset"), 0,
               lambda out, err: None if tally(out) and tally(out).group(1) == "1" and tally(out).group(3)
               and "not in this set" in out else "want '1 passed, 0 failed, N skipped' and 'not in this set'")

        rewrite(good, os.path.join(work, "none"), keep=lambda e: e["role"] == "input")
        expect("no output", os.path.join(work, "none"), 2,
               lambda out, err: None if err.count("\n") == 1 and "none of this stage's outputs" in err
               else f"want one line naming the problem, got: {err!r}")
    except StopIteration:
        pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        print(f"doc examples {stage}: FAILED: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
