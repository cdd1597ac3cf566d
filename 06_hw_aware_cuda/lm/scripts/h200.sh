#!/usr/bin/env bash
# 06_hw_aware_cuda/lm/scripts/h200.sh — everything the GPU model needs a GPU for, in one
# call of the lent H200 (binaries built on the CPU machine, their Debian libraries carried
# in .gpudeps/): the transformers debug state and --check (fp32, bf16), the GPU test suite,
# the checkpoint round trip, a training run in fp32 and bf16 with a resume test, and
# compute-sanitizer memcheck on a short run. Logs and the vector set go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."                          # 06_hw_aware_cuda/lm
R=$OUT/results; mkdir -p $R /tmp/deps
tar xJf .gpudeps/gpudeps.tar.xz -C /tmp/deps
LM="env LD_LIBRARY_PATH=/tmp/deps build/lm"
VEC=../../vectors/06_hw_aware_cuda_lm
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $R/gpu.txt
step() { echo; echo "=== $*"; }

step oracle
PYTHONUNBUFFERED=1 python3 reference/hf_debug_state.py $VEC 2>&1 | grep -v falling | tee $R/hf_debug_state.log
tar czf $OUT/vectors.tgz -C ../.. vectors/06_hw_aware_cuda_lm
step check fp32;  $LM --check $VEC 2>&1 | tee $R/check_fp32.log
step check bf16;  $LM --check $VEC --dtype bf16 2>&1 | tee $R/check_bf16.log
step GPU tests;   LD_LIBRARY_PATH=/tmp/deps build/test_lm_gpu --gpu 2>&1 | tee $R/test_gpu.log
step round trip;  LD_LIBRARY_PATH=/tmp/deps PYTHONUNBUFFERED=1 python3 reference/hf_roundtrip.py "$PWD/build/lm" /tmp/rt $R/roundtrip.json 2>&1 \
                    | grep -v falling | tee $R/roundtrip.log
TR="--train data/fortunes/train.bin --val data/fortunes/val.bin --config configs/fortunes_8x512.json
    --batch 16 --seq 256 --steps ${STEPS:-300} --warmup 30 --lr 2e-3 --lr-min 2e-4 --val-every 25 --val-batches 10"
for dt in fp32 bf16; do
  step train $dt; $LM $TR --dtype $dt --log $R/train_$dt.tsv --out /tmp/ck_$dt 2>&1 | tee $R/train_$dt.log | awk 'NR<=3 || /val [0-9]/'
done
step resume: 40 steps straight vs 20 + 20
RS="--train data/fortunes/train.bin --config configs/fortunes_8x512.json --batch 8 --seq 128 --steps 40 --warmup 5"
$LM $RS --log /tmp/straight.tsv > /dev/null
$LM $RS --log /tmp/resumed.tsv --out /tmp/ck_r --stop-at 20 > /dev/null
$LM $RS --log /tmp/resumed.tsv --resume /tmp/ck_r > /dev/null
cp /tmp/straight.tsv $R/resume_straight.tsv; cp /tmp/resumed.tsv $R/resume_resumed.tsv
if cmp <(cut -f1,2 /tmp/straight.tsv) <(cut -f1,2 /tmp/resumed.tsv); then echo "resume: losses identical bit for bit" | tee $R/resume.txt
else echo "resume: losses differ" | tee $R/resume.txt; paste <(cut -f1,2 /tmp/straight.tsv) <(cut -f2 /tmp/resumed.tsv) | tail -20 | tee -a $R/resume.txt; fi
step memcheck
LD_LIBRARY_PATH=/tmp/deps timeout 300 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 \
  build/lm $RS --steps 3 --val data/fortunes/val.bin --val-batches 1 --out /tmp/ck_m > $R/memcheck.log 2>&1
echo "memcheck rc=$?" | tee -a $R/memcheck.log; tail -3 $R/memcheck.log
tar czf $OUT/results.tgz -C $OUT results
