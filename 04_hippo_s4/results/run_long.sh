#!/usr/bin/env bash
# 04_hippo_s4/results/run_long.sh — the longer runs behind results/README.md and the tables of
# chapter 4.4 and 4.2 that the quick demo (`make run`: three inits, 200 steps) does not repeat:
#   - the delay task (τ = 256) with all five inits, 300 steps, for seeds 1, 2 and 3;
#   - the longer delay τ = 1000 (L 2048, batch 4, 400 steps) for legs, lin and random;
#   - `--bench`: S4 against the naive kernel to L = 65536 and N = 512 (s4_timing.csv).
# Each in its own single-threaded process (OMP_NUM_THREADS=1), two at a time; about 6 min of
# one core on the 2-core development machine. Logs, curves and plots land next to this file.
#   bash 04_hippo_s4/results/run_long.sh [WORKDIR]     (default /tmp/s4-long)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../build/hippo_s4
work=${1:-/tmp/s4-long}
make -C "$here/.." -j2 all >/dev/null
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
run() {   # run NAME FLAGS...: the program's stdout to NAME.log, headed by where and when it ran
    local name=$1; shift
    mkdir -p "$work/$name"
    { echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $cpu ($(nproc --all) cores), load $(cut -d' ' -f1-3 /proc/loadavg)"
      echo "# hippo_s4 --out $work/$name $*"
      "$bin" --out "$work/$name" "$@" 2>/dev/null; } > "$here/$name.log"
}
run tau256_seed1 --train-only --steps 300 --seed 1 --inits legs,lin,inv,real,random &
run tau256_seed2 --train-only --steps 300 --seed 2 --inits legs,lin,inv,real,random
wait
run tau256_seed3 --train-only --steps 300 --seed 3 --inits legs,lin,inv,real,random &
run tau1000 --train-only --train-L 2048 --tau 1000 --batch 4 --steps 400 --inits legs,lin,random
wait
run bench --bench
for name in tau256_seed1 tau1000; do
    cp "$work/$name/train_curves.png" "$here/train_curves_$name.png"
    for f in "$work/$name"/train_curve_*.dat; do cp "$f" "$here/${name}_$(basename "$f")"; done
done
cp "$work/bench/s4_timing.csv" "$work/bench/s4_timing.png" "$here/"
echo "logs, curves and plots in $here/"
