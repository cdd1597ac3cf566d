#!/bin/bash
# 07_ssd_mamba2/gpu/run_device.sh — the GPU half of chapter 7 in one session on the GPU machine,
# from the repository root, with binaries built beforehand here (make -C 07_ssd_mamba2
# build/test_ssd_gpu build/libssd07.so) and the git-excluded folders .gpudeps (Check, cJSON,
# OpenBLAS, FFTW as .debs), .official (prebuilt official Mamba-1 scan) and, with TRITON=1,
# .baselines (official Triton SSD) carried. Writes to $OUT (default results/gpu):
#   gpu.txt        the GPU and its clocks         test.log       the GPU Check suite
#   memcheck.log   compute-sanitizer memcheck + racecheck (quick suite)
#   bench.log, bench.csv, bench.md (+ check.json with TRITON=1)     gpu/bench_ssd.py
# About 2 minutes without Triton. TRITON=1 adds the official Triton SSD: its autotuner compiles
# every candidate of every kernel first (measured on the H200 machine: more than 150 s without
# finishing one N, forward and backward), so it is compiled in the background while the tests
# run (warmup.log) and timed only for the N it finished; give such a session 10 minutes.
# BENCH_BUDGET (s, default 80) stops the benchmark from starting new shapes.
set -u
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
source .gpudeps/unpack.sh
cd 07_ssd_mamba2
export PYTHONUNBUFFERED=1 TRITON_CACHE_AUTOTUNING=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,utilization.gpu \
  --format=csv > "$OUT/gpu.txt" 2>&1
if [ "${TRITON:-0}" = 1 ]; then
  python3 gpu/bench_ssd.py --triton-warmup 64,128,16,256 > "$OUT/warmup.log" 2>&1 &
  WP=$!
fi
t0=$(date +%s)
OMP_NUM_THREADS=16 timeout 120 ./build/test_ssd_gpu --gpu > "$OUT/test.log" 2>&1
echo "test rc=$? ($(( $(date +%s) - t0 )) s)"; tail -3 "$OUT/test.log"
t0=$(date +%s)
{ SSD_GPU_QUICK=1 OMP_NUM_THREADS=16 timeout 90 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 ./build/test_ssd_gpu --gpu
  echo "memcheck rc=$?"
  SSD_GPU_QUICK=1 OMP_NUM_THREADS=16 timeout 90 compute-sanitizer --tool racecheck --racecheck-report hazard --error-exitcode 1 ./build/test_ssd_gpu --gpu
  echo "racecheck rc=$?"; } > "$OUT/memcheck.log" 2>&1
grep "rc=\|ERROR SUMMARY\|RACECHECK SUMMARY" "$OUT/memcheck.log"; echo "sanitizers $(( $(date +%s) - t0 )) s"
if [ "${TRITON:-0}" = 1 ]; then
  # until WARMUP_WAIT s more for the warm-up, then stop it so that nothing else uses the GPU
  for _ in $(seq "${WARMUP_WAIT:-300}"); do [ -e /tmp/ssd_triton_ready/N256_bwd ] && break; sleep 1; done
  kill "$WP" 2>/dev/null; wait "$WP" 2>/dev/null
  echo "triton ready: $(ls /tmp/ssd_triton_ready 2>/dev/null | tr '\n' ' ')"
  ARGS="--check first"
else
  ARGS="--no-triton-bench --check none"
fi
timeout $(( ${BENCH_BUDGET:-80} + 120 )) python3 gpu/bench_ssd.py --lib build/libssd07.so --out "$OUT" \
  --budget-s "${BENCH_BUDGET:-80}" --target-ms 100 --qsweep 8192:64 $ARGS > "$OUT/bench.log" 2>&1
echo "bench rc=$?"
tail -40 "$OUT/bench.log"
