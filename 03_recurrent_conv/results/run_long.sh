#!/usr/bin/env bash
# 03_recurrent_conv/results/run_long.sh — the full timing sweep chapter 3 quotes in §3.6-§3.7
# (`--bench`: L = 2^6 ... 2^20, 7 repeats, each method until one call takes 2 s; generation of
# 2^16 tokens), which the quick demo (`make run`: to 2^18, 3 repeats, 2^14 tokens) shortens.
# About a minute on the 2-core development machine (66 s at load ~1). The program's output goes to bench.log,
# headed by the machine, the time and the load average; the CSVs and plots next to this file.
#   bash 03_recurrent_conv/results/run_long.sh [WORKDIR]     (default /tmp/rc-long)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../build/recurrent_conv
work=${1:-/tmp/rc-long}
make -C "$here/.." -j2 all >/dev/null
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mkdir -p "$work"
{ echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $cpu ($(nproc --all) cores), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# recurrent_conv --bench --out $work"
  "$bin" --bench --out "$work" 2>/dev/null
  echo "# finished $(date -u '+%H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$here/bench.log"
for f in scaling.csv scaling.png crossover.png generation.csv generation.png; do cp "$work/$f" "$here/"; done
echo "bench.log, CSVs and plots in $here/"
