#!/usr/bin/env bash
# 05_selective_s6/results/run_long.sh — the longer runs behind results/README.md, as they
# were run: each variant in its own single-threaded process (two at a time on the 2-core
# development machine), then one --resume run per task that loads the three finished
# checkpoints, evaluates them and writes the merged tables and plots. About 2 h of one core
# for the curriculum and copying runs, plus 25 min for the pure L = 256 run.
# Every size is passed explicitly (the demo's defaults are smaller: context 32, warm-up at 32).
#   bash 05_selective_s6/results/run_long.sh [WORKDIR]     (default /tmp/s6-long)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../build/selective_s6
work=${1:-/tmp/s6-long}
make -C "$here/.." -j2 all >/dev/null
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
run() { local dir=$1; shift; mkdir -p "$work/$dir"; "$bin" --out "$work/$dir" "$@" > "$work/$dir.log" 2>&1; }

# Induction heads, the paper's protocol: trained at L = 256 only (S6; 16 000 steps of 8).
run ind_pure_s6 --tasks induction --variants s6 --warmup-steps 0 --steps-induction 16000 --lr 1e-3 --max-log2 16 &
# Induction heads with a warm-up at L = 64: 3 000 steps of 8 at 64, then 3 000 at 256.
for v in s6 lti nogate; do
  run ind_cur_$v --tasks induction --variants $v --warmup-length 64 --warmup-steps 3000 --steps-induction 3000 --max-log2 16
done
wait
# S6 only, 4x longer at L = 256: does the extrapolation limit move?
run ind_cur_s6_12000 --tasks induction --variants s6 --warmup-length 64 --warmup-steps 3000 --steps-induction 12000 --max-log2 16
mkdir -p "$work/ind_cur_all"
cp "$work"/ind_cur_{s6,lti,nogate}/ckpt_* "$work/ind_cur_all/"
run ind_cur_all --tasks induction --variants s6,lti,nogate --resume --warmup-length 64 --warmup-steps 3000 --steps-induction 3000 --max-log2 16

# Selective copying: 4 000 steps of 32 (context 64, K 8, M 8: L 72), at lr 3e-3 and 1e-2.
copy=(--tasks copy --copy-context 64 --copy-tokens 8 --copy-colours 8 --steps-copy 4000)
for lr in 3e-3 1e-2; do
  for v in s6 lti nogate; do run copy_${lr}_$v "${copy[@]}" --variants $v --lr $lr & done
  wait
  mkdir -p "$work/copy_${lr}_all"
  cp "$work"/copy_${lr}_{s6,lti,nogate}/ckpt_* "$work/copy_${lr}_all/"
  run copy_${lr}_all "${copy[@]}" --variants s6,lti,nogate --resume --lr $lr
done
echo "logs and plots in $work/"
