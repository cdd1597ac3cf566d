#!/usr/bin/env bash
# 06_hw_aware_cuda/lm/scripts/h200_text.sh — the text side's GPU work (chapter 6, part 3) in one
# call of the lent H200: binaries built on the CPU machine (build/generate, build/lm,
# build/tokenize), Debian libraries from .gpudeps. Each part is time-boxed; logs and CSVs go
# to $OUT/text. PARTS picks what runs (default: all, in this order):
#   selfcheck   the GPU step against the parallel forward (fp32 and bf16 weights, graph and not)
#   hf          greedy / logits equality with transformers (reference/hf_generate.py)
#   bench       decode benchmark: step v3 (one cooperative kernel; bf16 batch 1 over POSITIONS
#               positions), then step v1 (graph of 6 kernels a layer) for the same-run ratio
#   hfbench     transformers' generate (same CSVs)
#   sample      sampling (temperature, top-k, top-p) streamed, and a batch of prompts
#   nfc         the NFC normalizer against tokenizers
#   memcheck    compute-sanitizer on the self-check
#   diag        where transformers' bfloat16 logits error comes from (reference/text_bf16_diag.py)
set -uo pipefail
cd "$(dirname "$0")/.."                          # 06_hw_aware_cuda/lm
R=$OUT/text; mkdir -p $R
source ../../.gpudeps/unpack.sh >/dev/null 2>&1
T0=$(date +%s); BUDGET=${BUDGET:-185}
PARTS=${PARTS:-"selfcheck hf bench hfbench sample nfc memcheck diag"}
has() { [[ " $PARTS " == *" $1 "* ]]; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
step() { echo; echo "=== $* (t=$(( $(date +%s) - T0 )) s)"; }
BIN=${BIN:-build}                                # where the binaries are (a private build: BIN=build-h12)
GEN=$PWD/$BIN/generate; LM=$PWD/$BIN/lm; TOK=$PWD/$BIN/tokenize
W=/tmp/h12; mkdir -p $W
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv | tee $R/gpu.txt
python3 -c "import torch, transformers, tokenizers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__)" | tee -a $R/gpu.txt

if has selfcheck; then step selfcheck
timeout 30 $GEN --self-check configs/fortunes_8x512.json --batch 3 --len 40 2>&1 | tee $R/selfcheck.log
fi

if has bench; then step bench ours
echo "impl,dtype,batch,position,ms_per_token" > $R/decode_positions.csv
rm -f $R/decode_bench.csv
timeout ${BENCH_S:-40} $GEN --bench configs/mamba_130m.json --step 3 --batches 1,8,64 --steps 512 --prefill-len 2048 --positions ${POSITIONS:-65536} \
  --bench-out $R/decode_bench.csv --positions-out $R/decode_positions.csv 2>&1 | tee $R/bench_ours.log
# the step's version 1 (six kernels a layer in a CUDA graph), same shapes, no per-position run
timeout ${BENCH_S:-40} $GEN --bench configs/mamba_130m.json --step 1 --batches 1,8,64 --steps 256 --prefill-len 0 \
  --bench-out $R/decode_bench.csv 2>&1 | tee -a $R/bench_ours.log
fi

if has hf; then step hf equality
GEN_STEP=${GEN_STEP:-3} PYTHONUNBUFFERED=1 timeout $(( $(left) - ${HF_RESERVE:-40} )) python3 reference/hf_generate.py $GEN $LM $TOK $W/hf $R/hf_generate.json 2>&1 \
  | grep -v -i "falling back\|fast path" | tee $R/hf_generate.log
fi

if has hfbench; then step bench transformers
S_POS=${HF_POS:-512}; [ $(left) -lt 60 ] && S_POS=128
PYTHONUNBUFFERED=1 timeout $(( $(left) - ${HFB_RESERVE:-12} )) python3 reference/hf_decode_bench.py $R/decode_bench.csv $R/decode_positions.csv \
  ${HF_STEPS:-64 32} $S_POS ${HF_PREFILL:-2048} 2>&1 | grep -v -i "falling back\|fast path" | tee $R/bench_hf.log
fi

if has sample && [ $(left) -gt 8 ]; then step sample
if [ ! -d $W/hf/m130 ]; then   # a random-init 130m-shape checkpoint with GPT-2's vocabulary
  python3 -c "import torch,shutil,sys; from transformers import MambaConfig as C, MambaForCausalLM as M; torch.manual_seed(1); M(C(vocab_size=50280,hidden_size=768,state_size=16,num_hidden_layers=24,expand=2,conv_kernel=4)).save_pretrained(sys.argv[1]); shutil.copy('reference/gpt2_tokenizer.json', sys.argv[1] + '/tokenizer.json')" $W/hf/m130
fi
if [ -d $W/hf/m130 ]; then
  timeout 8 $GEN --model $W/hf/m130 --prompt "The meaning of life is" --max-new 24 --temperature 0.8 --top-k 40 --top-p 0.9 --seed 3 2>&1 | tee $R/sample.log
  printf 'Hello\nA much longer prompt than the first one, to force its tail\n' > $W/p.txt
  timeout 8 $GEN --model $W/hf/m130 --prompts $W/p.txt --max-new 12 --temperature 1 --seed 4 2>&1 | tee -a $R/sample.log
fi
fi

if has nfc; then step nfc
[ $(left) -gt 10 ] && timeout $(( $(left) - 5 )) python3 reference/check_tokenizer_nfc.py --tokenize $TOK --corpus data/fortunes/val.txt 2>&1 | tee $R/nfc.log
fi

if has memcheck; then step memcheck
[ $(left) -gt 15 ] && timeout $(( $(left) - 3 )) compute-sanitizer --tool memcheck --error-exitcode 1 \
  $GEN --self-check configs/fortunes_8x512.json --batch 2 --len 12 > $R/memcheck.log 2>&1; echo "memcheck rc=$?" | tee -a $R/memcheck.log; tail -4 $R/memcheck.log
fi
if has diag; then step bf16 diagnosis
[ $(left) -gt 15 ] && timeout $(( $(left) - 3 )) python3 reference/text_bf16_diag.py $W 2>&1 | grep -v -i "falling back\|fast path" | tee $R/bf16_diag.log
fi
echo "done at t=$(( $(date +%s) - T0 )) s"
