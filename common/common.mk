# common/common.mk — the build rules every stage shares.
#
# A stage's Makefile sets these, then includes this file:
#   PROG       name of the lesson program, built as $(BUILD)/$(PROG)
#   LIB        this stage's reusable sources (the math later stages call)
#   MAIN       the lesson program's own sources (main.c: CLI, table, plots, vectors)
#   DEPS       sources of earlier stages this stage calls, relative to the repo root
#   TESTS      Check test sources; each becomes $(BUILD)/<basename>
#   TESTS_F64  Check test sources built with `real` = double (gradient checks, float64
#              references): they and everything they link are compiled with -DREAL_F64
#              into $(BUILD)/obj64/ and become $(BUILD)/<basename>
#   STAGE_LDLIBS  extra libraries (optional)
#   REAL       float (default) or double: the `real` type of the trainable stages
#   RUN_ARGS   arguments of `make run` (default --out out)
#   BENCH      arguments of `make bench` (unset: the stage has no benchmark)
#
# Targets: all, run, test, vectors, check-vectors, bench, clean. `make SAN=1 ...`
# builds into build-asan/ with AddressSanitizer + UndefinedBehaviorSanitizer.

ROOT  := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
# STAGE: the stage's path from the root; a nested part (06_hw_aware_cuda/lm) sets it first.
STAGE ?= $(notdir $(CURDIR))
SAN   ?= 0
REAL  ?= float
CC    := gcc

ifeq ($(SAN),1)
BUILD    := build-asan
OPTFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(NO_CUDA)$(if $(filter %/cuda.mk,$(MAKEFILE_LIST)),y),1y)
BUILD    := build-nocuda
OPTFLAGS := -O2 -g
else
BUILD    := build
OPTFLAGS := -O2 -g
endif

ifeq ($(REAL),double)
REALFLAG := -DREAL_F64
endif

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

CFLAGS  := -std=c11 -Wall -Wextra -Werror $(OPTFLAGS) -fopenmp -D_DEFAULT_SOURCE \
           -D_POSIX_C_SOURCE=200809L -I$(ROOT) $(REALFLAG) \
           -DSTAGE_DIR='"$(CURDIR)"' -DROOT_DIR='"$(ROOT)"' -DSTAGE_NAME='"$(STAGE)"'
LDFLAGS := $(OPTFLAGS) -fopenmp
# A stage that included common/cuda.mk first: its CUDA flags and runtime, or the reason it
# has none (the programs and common/gpu_suite.h print NO_CUDA_REASON).
ifeq ($(USE_CUDA),1)
CFLAGS  += -DHAVE_CUDA -I$(CUDA_HOME)/include
STAGE_CUDA_LDLIBS := $(CUDA_LDLIBS)
else ifdef NO_CUDA_REASON
CFLAGS  += -DNO_CUDA_REASON='"$(NO_CUDA_REASON)"'
endif
LDLIBS  := $(STAGE_LDLIBS) $(STAGE_CUDA_LDLIBS) -lcjson -lfftw3 -lopenblas -lm

COMMON_SRCS := $(filter-out common/testutil.c,$(patsubst $(ROOT)/%,%,$(wildcard $(ROOT)/common/*.c)))
LIB_SRCS    := $(addprefix $(STAGE)/,$(LIB)) $(DEPS) $(COMMON_SRCS)
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

obj64 = $(patsubst %.c,$(BUILD)/obj64/%.o,$(1))

PROG_BIN  := $(if $(PROG),$(BUILD)/$(PROG))
TEST_BINS := $(patsubst %.c,$(BUILD)/%,$(notdir $(TESTS) $(TESTS_F64)))
F64_BINS  := $(patsubst %.c,$(BUILD)/%,$(notdir $(TESTS_F64)))

.PHONY: all run test vectors check-vectors bench clean
all: $(PROG_BIN)

# -MMD: each object depends on exactly the headers it includes (the .d files).
$(BUILD)/obj/%.o: $(ROOT)/%.c $(ROOT)/common/common.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj64/%.o: $(ROOT)/%.c $(ROOT)/common/common.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DREAL_F64 $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(if $(PROG),$(PROG_BIN),$(BUILD)/.no-program): $(call obj,$(addprefix $(STAGE)/,$(MAIN)) $(LIB_SRCS))
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Each test links the stage library (not main.c), the test helpers and Check.
# PROG_PATH lets a test run the lesson program to test its CLI and exit codes.
$(BUILD)/test_%: $(BUILD)/obj/$(STAGE)/tests/test_%.o $(call obj,$(LIB_SRCS) common/testutil.c) | $(PROG_BIN)
	$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LDLIBS) -o $@

$(F64_BINS): $(BUILD)/%: $(BUILD)/obj64/$(STAGE)/tests/%.o $(call obj64,$(LIB_SRCS) common/testutil.c) | $(PROG_BIN)
	$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LDLIBS) -o $@

$(BUILD)/obj/$(STAGE)/tests/%.o $(BUILD)/obj64/$(STAGE)/tests/%.o: CFLAGS += -DPROG_PATH='"$(CURDIR)/$(PROG_BIN)"'

# OMP_NUM_THREADS=2: the CI machine has two cores. Check forks each test (CK_FORK);
# its default 4 s per-test timeout is too short under the sanitizers, so allow 5 minutes.
test: $(PROG_BIN) $(TEST_BINS)
	@set -e; for t in $(TEST_BINS); do echo "== $(STAGE): $$t"; \
	  OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 CK_DEFAULT_TIMEOUT=300 ./$$t; done
	@# docs/vectors.md's NumPy example for this stage, graded by --check (none: a note)
	@if [ -n "$(PROG_BIN)" ]; then echo "== $(STAGE): docs/vectors.md example"; \
	  OMP_NUM_THREADS=2 $(ROOT)/common/tests/run_doc_examples.sh $(STAGE) $(PROG_BIN); fi

RUN_ARGS ?= --out out
run: $(PROG_BIN)
	./$(PROG_BIN) $(RUN_ARGS)

vectors: $(PROG_BIN)
	./$(PROG_BIN) --dump-vectors $(ROOT)/vectors/$(STAGE)

check-vectors: $(PROG_BIN)
	./$(PROG_BIN) --check $(ROOT)/vectors/$(STAGE)

# A stage with a benchmark sets BENCH to the program's arguments (e.g. --bench --out out).
bench: $(PROG_BIN)
ifdef BENCH
	./$(PROG_BIN) $(BENCH)
else
	@echo "$(STAGE): no benchmark in this stage"
endif

clean:
	rm -rf build build-asan build-nocuda out

# A stage that included common/cuda.mk lists its CUDA sources in CUDA_SRCS (paths from the
# root): each is compiled by nvcc into $(BUILD)/cu/ (the headers it includes tracked by nvcc's
# -MMD) and CU_OBJS names the objects, for the stage to link where it needs them.
ifeq ($(USE_CUDA),1)
ifneq ($(CUDA_SRCS),)
CU_OBJS := $(patsubst %.cu,$(BUILD)/cu/%.o,$(CUDA_SRCS))
$(BUILD)/cu/%.o: $(ROOT)/%.cu $(ROOT)/common/cuda.mk
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@ </dev/null
endif
endif

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Keep object files between runs (they are intermediates of pattern rules).
.SECONDARY:
