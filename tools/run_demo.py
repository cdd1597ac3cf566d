#!/usr/bin/env python3
"""tools/run_demo.py — what `make demo` runs: build and run every stage's lesson program in
order (`make -C NN_name all`, then `make -C NN_name run`), then print the stages' headline
numbers (their out/summary.tsv) and how long each stage took: wall-clock seconds and CPU
seconds (user + system of everything it ran, from the kernel's accounting of the children),
with the load average, since on a shared machine wall time says more about the neighbours
than about the program.

    python3 tools/run_demo.py STAGE...      (make demo passes every NN_name/ with a Makefile)

A stage that fails stops the demo with its exit status, as `set -e` did.

Where no GPU is present (no working `nvidia-smi -L`), the stages are built with NO_CUDA=1: their
CUDA kernels could not run here, and compiling them is most of a 2-core demo's time (~150 s of
214 s of build CPU measured at a51d6ac). Those builds go to build-nocuda/, so a later `make test`
still compiles and links every kernel in build/. DEMO_CUDA=1 builds them anyway.
"""
import os
import resource
import shutil
import subprocess
import sys
import time


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def print_times(times):
    print("\n=== seconds per stage (CPU = user + system of all its processes; build: make all)")
    print(f"{'stage':<20} {'build wall':>10} {'build CPU':>10} {'run wall':>10} {'run CPU':>10}")
    for s, bw, bc, rw, rc in times:
        print(f"{s:<20} {bw:10.1f} {bc:10.1f} {rw:10.1f} {rc:10.1f}")
    print(f"{'total':<20} {sum(t[1] for t in times):10.1f} {sum(t[2] for t in times):10.1f} "
          f"{sum(t[3] for t in times):10.1f} {sum(t[4] for t in times):10.1f}")


def gpu_present():
    if os.environ.get("DEMO_CUDA") == "1":
        return True
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.call([smi, "-L"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL) == 0


def main(stages):
    times = []
    flags = [] if gpu_present() else ["NO_CUDA=1"]
    if flags:
        print("=== no GPU here: the CUDA kernels are not built for the demo (NO_CUDA=1; "
              "DEMO_CUDA=1 builds them)", flush=True)
    t_start, c_start = time.monotonic(), cpu_seconds()
    for s in stages:
        print(f"=== {s}", flush=True)
        row = [s]
        for target in (["-j2", "all"], ["run"]):
            t0, c0 = time.monotonic(), cpu_seconds()
            rc = subprocess.call(["make", "--no-print-directory", "-C", s] + flags + target)
            if rc:
                print_times(times)
                print(f"make demo: {s}: make {' '.join(target)} failed (exit {rc})", file=sys.stderr)
                sys.exit(rc)
            row += [time.monotonic() - t0, cpu_seconds() - c0]
        times.append(row)
    wall, cpu = time.monotonic() - t_start, cpu_seconds() - c_start

    print(f"\n=== summary (make demo: {wall:.0f} s wall, {cpu:.0f} s of CPU, {os.cpu_count()} cores, "
          f"load average {' '.join(open('/proc/loadavg').read().split()[:3])} at the end)")
    for s in stages:
        path = os.path.join(s, "out", "summary.tsv")
        if not os.path.exists(path):
            continue
        for line in open(path, encoding="utf-8", errors="replace"):
            f = line.rstrip("\n").split("\t")
            if len(f) >= 3:
                print(f"{f[0]:<20} {f[1]:<52} {f[2]}")
    print_times(times)


if __name__ == "__main__":
    main(sys.argv[1:])
