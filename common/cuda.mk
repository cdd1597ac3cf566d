# common/cuda.mk — where is CUDA, and can this build use it? One answer for every stage
# with CUDA parts (06_hw_aware_cuda, 06_hw_aware_cuda/lm, 08_xlstm). A stage's Makefile
# includes it BEFORE common/common.mk, then tests USE_CUDA to add its .cu objects.
#
# Sets:
#   NVCC            nvcc from PATH or /usr/local/cuda/bin (a make variable of that name wins)
#   CUDA_HOME       the toolkit root as nvcc itself reports it (TOP= in its dry run): nvcc on
#                   PATH may be a wrapper script in /usr/local/bin whose own directory holds
#                   no CUDA headers. The dry run also runs the host compiler once, so it
#                   doubles as the check that nvcc works here. Its stdin is /dev/null: with
#                   stdin closed (as under some CI runners) nvcc fails to "preprocess host
#                   compiler properties".
#   USE_CUDA        1 when the CUDA parts build; else NO_CUDA_REASON says why, in one line
#   NVCCFLAGS       C++17, -O3, sm_90 code, spills reported
#   CUDA_LDLIBS     the static CUDA runtime and what it needs
# common.mk then adds -DHAVE_CUDA and the toolkit's include directory to CFLAGS and
# CUDA_LDLIBS to LDLIBS, or -DNO_CUDA_REASON='"..."' (which the programs and the GPU test
# suites print: common/gpu_suite.h).
#
# Sanitizer builds (SAN=1) never use CUDA: ASan and the CUDA runtime do not mix. NO_CUDA=1
# leaves the CUDA parts out on purpose (make demo without a GPU); common.mk then builds into
# build-nocuda/ so that build/ never mixes objects made with and without CUDA.

NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
NVCC_DRY  := $(if $(NVCC),$(shell $(NVCC) --dryrun -c -x cu /dev/null -o /dev/null </dev/null 2>&1))
CUDA_HOME := $(realpath $(patsubst TOP=%,%,$(filter TOP=%,$(NVCC_DRY))))

ifeq ($(NO_CUDA),1)
NO_CUDA_REASON := built without its CUDA parts (NO_CUDA=1, as make demo does where no GPU is present)
else ifeq ($(SAN),1)
NO_CUDA_REASON := sanitizer build: the CUDA runtime is not linked into ASan binaries
else ifeq ($(NVCC),)
NO_CUDA_REASON := nvcc not found
else ifeq ($(CUDA_HOME),)
NO_CUDA_REASON := nvcc ($(NVCC)) fails its dry run here; run it by hand to see why
else ifeq ($(wildcard $(CUDA_HOME)/include/cuda_runtime_api.h),)
NO_CUDA_REASON := nvcc ($(NVCC)) found but not the CUDA headers (cuda_runtime_api.h) of its toolkit
else
USE_CUDA := 1
endif

# ROOT is common.mk's (deferred: this file is read before it)
NVCCFLAGS    = -std=c++17 -O3 -gencode=arch=compute_90,code=sm_90 -I$(ROOT) -Xptxas -warn-spills
CUDA_LDLIBS := -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lpthread -lstdc++
