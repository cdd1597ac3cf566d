#!/usr/bin/env bash
# 06_hw_aware_cuda/lm/scripts/h200.sh — everything the GPU model needs a GPU for, in one
# call of the lent H200 (binaries built on the CPU machine, their Debian libraries carried
# in the repository's .gpudeps/, unpacked by its unpack.sh). BIN: the folder holding lm and
# test_lm_gpu (default build); DATA: the folder holding the corpus's train.bin and val.bin
# (default data/fortunes); OFFICIAL: the folder holding load_official.py and the official
# selective-scan extension it loads (the baselines); A_CAP: seconds the pure-torch baseline
# may run in all (default 60). PARTS picks what runs (default: all):
#   oracle    transformers' debug state -> vectors/06_hw_aware_cuda_lm (and $OUT/vectors.tgz)
#   check     lm --check on the set, fp32 and bf16
#   tests     the GPU test suite (kernels and whole model vs float64 CPU)
#   roundtrip checkpoints both ways with transformers (reference/hf_roundtrip.py)
#   train     300 steps on the fortunes corpus, fp32 and bf16 (loss curves)
#   resume    40 steps straight (twice: the run-to-run spread) vs 20 + resume + 20, with the
#             scan backward RESUME_BWD (default v7: the deterministic one)
#   atomic    --check (fp32, bf16) and the bf16 bench rows with the atomic scan backwards (v6
#             below 2048 steps, fused from 2048) beside the default v7
#   bench     training throughput at the 130m shape, 3 batch x L shapes, fp32 and bf16, every
#             buffer's memory (bench_mem.tsv), and the fused scan backward at 64 x 512
#   baselines the PyTorch baselines at the same shapes and dtypes (reference/bench_baselines.py):
#             the model with the official scan kernel, then transformers' pure-torch path
#   memcheck  compute-sanitizer memcheck on a 3-step training run
# Logs go to /tmp/lm_results, packed as $OUT/results.tgz after every part (so a run cut
# short still returns what it finished; $OUT returns at most 8 files).
set -uo pipefail
cd "$(dirname "$0")/.."                          # 06_hw_aware_cuda/lm
PARTS=${PARTS:-"oracle check tests atomic roundtrip train resume bench baselines memcheck"}
BIN=${BIN:-build}; DATA=${DATA:-data/fortunes}; A_CAP=${A_CAP:-60}
R=/tmp/lm_results; mkdir -p $R
source ../../.gpudeps/unpack.sh
LM=$BIN/lm
VEC=../../vectors/06_hw_aware_cuda_lm
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $R/gpu.txt
has() { [[ " $PARTS " == *" $1 "* ]]; }
step() { tar czf $OUT/results.tgz -C /tmp lm_results; echo; echo "=== $*"; }

if has oracle; then
  step oracle
  PYTHONUNBUFFERED=1 python3 reference/hf_debug_state.py $VEC 2>&1 | grep -v falling | tee $R/hf_debug_state.log
  tar czf $OUT/vectors.tgz -C ../.. vectors/06_hw_aware_cuda_lm
fi
if has check; then
  step check fp32;  $LM --check $VEC 2>&1 | tee $R/check_fp32.log | tail -3
  step check bf16;  $LM --check $VEC --dtype bf16 2>&1 | tee $R/check_bf16.log | tail -3
  if [ -n "${STOP_ON_FAIL:-}" ] && ! grep -q " 0 failed" $R/check_fp32.log; then
    echo "check fp32 failed: stopping (STOP_ON_FAIL)"; step end; exit 1; fi
fi
if has tests; then
  step GPU tests;   $BIN/test_lm_gpu --gpu 2>&1 | tee $R/test_gpu.log | tail -3
fi
if has atomic; then
  step check with the atomic scan backwards
  LM_SCAN_BWD=v6 $LM --check $VEC 2>&1 | tee $R/check_fp32_v6.log | tail -2
  LM_SCAN_BWD=fused $LM --check $VEC --dtype bf16 2>&1 | tee $R/check_bf16_fused.log | tail -2
  for s in "8 2048 fused" "4 8192 fused" "64 512 v6"; do set -- $s
    $LM --bench --config configs/mamba_130m.json --batch $1 --seq $2 --steps 3 --dtype bf16 --scan-bwd $3 \
      --bench-out $R/bench_lm_atomic.tsv 2>&1 | tee -a $R/bench_lm_atomic.log | grep -v mem
  done
fi
if has roundtrip; then
  step round trip
  PYTHONUNBUFFERED=1 python3 reference/hf_roundtrip.py "$PWD/$LM" /tmp/rt \
    $R/roundtrip.json 2>&1 | grep -v falling | tee $R/roundtrip.log
fi
if has train; then
  TR="--train $DATA/train.bin --val $DATA/val.bin --config configs/fortunes_8x512.json
      --batch 16 --seq 256 --steps 300 --warmup 30 --lr 2e-3 --lr-min 2e-4 --val-every 25 --val-batches 10"
  for dt in fp32 bf16; do
    step train $dt; $LM $TR --dtype $dt --log $R/train_$dt.tsv --out /tmp/ck_$dt 2>&1 | tee $R/train_$dt.log | awk 'NR<=2 || /step +300/'
  done
fi
if has resume; then
  step resume: 40 steps straight, twice, vs 20 + resume + 20
  RS="--train $DATA/train.bin --config configs/fortunes_8x512.json --batch 8 --seq 128 --steps 40 --warmup 5
      --scan-bwd ${RESUME_BWD:-v7}"
  $LM $RS --log $R/resume_straight.tsv --out /tmp/ck_straight > /dev/null
  $LM $RS --log $R/resume_straight2.tsv --out /tmp/ck_straight2 > /dev/null
  $LM $RS --log $R/resume_resumed.tsv --out /tmp/ck_r --stop-at 20 > /dev/null
  $LM $RS --log $R/resume_resumed.tsv --resume /tmp/ck_r --out /tmp/ck_resumed > /dev/null
  { for f in straight2 resumed; do
      if cmp -s <(cut -f1,2 $R/resume_straight.tsv) <(cut -f1,2 $R/resume_$f.tsv); then echo "$f: losses identical to the straight run (17 digits: the same doubles)"
      else echo "$f: losses differ from the straight run; largest |difference|:"
        paste <(cut -f2 $R/resume_straight.tsv) <(cut -f2 $R/resume_$f.tsv) | awk 'NR>1{d=$1-$2; if(d<0)d=-d; if(d>m)m=d} END{print "  " m}'; fi
      for k in model optimizer; do
        if cmp -s /tmp/ck_straight/$k.safetensors /tmp/ck_$f/$k.safetensors; then echo "  $k.safetensors after step 40: identical bytes"
        else echo "  $k.safetensors after step 40: DIFFERENT bytes"; fi
      done
    done; } | tee $R/resume.txt
fi
if has bench; then
  step bench 130m shape
  rm -f $R/bench_lm.tsv
  for dt in fp32 bf16; do for s in "8 2048" "4 8192" "64 512"; do set -- $s
    $LM --bench --config configs/mamba_130m.json --batch $1 --seq $2 --steps 5 --dtype $dt --bench-out $R/bench_lm.tsv 2>&1 | tee -a $R/bench_lm.log
  done; done
  step bench: the fused scan backward at 64 x 512 bf16, for the choice of backward
  $LM --bench --config configs/mamba_130m.json --batch 64 --seq 512 --steps 3 --dtype bf16 --scan-bwd fused \
    --bench-out $R/bench_lm_fused512.tsv 2>&1 | tee -a $R/bench_lm.log
  grep -P '\tmem\t' $R/bench_lm.log > $R/bench_mem.tsv
fi
if has baselines; then
  step baselines: the official scan kernel in the same model
  PYTHONUNBUFFERED=1 python3 reference/bench_baselines.py --config configs/mamba_130m.json \
    --official "$OFFICIAL" --impl official-scan --out $R/baselines.tsv 2>&1 | grep -v Warning | tee $R/baselines.log
  step baselines: transformers pure-torch path, at most $A_CAP s in all
  PYTHONUNBUFFERED=1 timeout -s KILL $A_CAP python3 reference/bench_baselines.py --config configs/mamba_130m.json \
    --official "$OFFICIAL" --impl hf-torch --steps 1 --warmup 0 --shapes 64x512,8x2048,4x8192 \
    --out $R/baselines.tsv 2>&1 | grep -v Warning | tee -a $R/baselines.log
  echo "hf-torch exit: ${PIPESTATUS[0]} (137: killed at the cap of $A_CAP s)" | tee -a $R/baselines.log
fi
if has memcheck; then
  step memcheck
  timeout ${MEMCHECK_CAP:-300} compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 \
    $LM --train $DATA/train.bin --val $DATA/val.bin --config configs/fortunes_8x512.json \
    --batch 8 --seq 128 --steps 3 --val-batches 1 --out /tmp/ck_m > $R/memcheck.log 2>&1
  echo "memcheck rc=$?" | tee -a $R/memcheck.log; tail -3 $R/memcheck.log
fi
tar czf $OUT/results.tgz -C /tmp lm_results
