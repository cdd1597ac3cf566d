#!/bin/sh
# 07_ssd_mamba2/results/run_full.sh — the longer training runs whose logs and tables are in
# this folder: MQAR (vocabulary 64, 8 pairs, L 64) and induction heads (vocabulary 16, L 64),
# 1200 steps of 16 at lr 1e-2 (--full), each task in two processes of one thread (the four
# models are independent; two processes share two cores). Run from the stage folder after make.
set -e
cd "$(dirname "$0")/.."
B=build/ssd_mamba2
for task in mqar induction; do
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $B --sections train --tasks $task --full --models m2_16,m2_64 --out results/$task-a > results/$task-a.log 2>&1 &
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $B --sections train --tasks $task --full --models m2_128,m1 --out results/$task-b > results/$task-b.log 2>&1 &
  wait
done
