# ode-to-mamba — top-level Makefile.
#   make demo     build and run every stage (quick defaults), write its plots, print one summary table
#   make experiments  the long runs behind the stages' committed results/ (hours)
#   make test     every stage's Check suites, normal and under ASan + UBSan
#   make bench    every stage's benchmark (CSV + plot, the machine named)
#   make vectors  regenerate the golden vectors in vectors/
#   make test-gpu / bench-gpu   the CUDA stage on a GPU machine
#   make fuzz     libFuzzer on every file reader, FUZZ_SECONDS each (default 60; needs clang)
#   make check-tags  the chapters' equation and § numbers against the code's tags
#   make docs     the HTML book in docs/book/ (pandoc + KaTeX, offline); make test-docs reads it
#                 in headless Chromium; make labs writes the course labs to labs/, make test-labs
#                 proves their autograder can tell a solved lab from an unsolved one
#   make clean
STAGES := $(patsubst %/Makefile,%,$(sort $(wildcard [0-9][0-9]_*/Makefile)))
MAKEFLAGS += --no-print-directory

.PHONY: demo experiments test test-asan bench vectors test-gpu bench-gpu fuzz clean deps $(STAGES) \
        check-tags docs test-docs test-docs-if-present labs test-labs

deps:
	@bash common/setup.sh

# make demo: each stage's quick defaults (every table and plot of the lesson, at smaller sizes
# and budgets); tools/run_demo.py prints the summary and each stage's wall and CPU seconds.
demo: deps
	@python3 tools/run_demo.py $(STAGES)

# make experiments: the long runs behind each stage's committed results/ (hours on 2 cores;
# each stage's README and results/README.md say how long). A stage without long runs says so.
experiments: deps
	@set -e; for s in $(STAGES); do \
	  if grep -q '^experiments:' $$s/Makefile; then echo "=== $$s"; $(MAKE) -C $$s experiments; \
	  else echo "=== $$s: no long runs (its demo is the whole lesson)"; fi; done

test: deps
	@rc=0; python3 tools/check_tags.py || rc=1; $(MAKE) test-docs-if-present || rc=1; \
	 $(MAKE) test-labs || rc=1; bash common/run_tests.sh common $(STAGES) 06_hw_aware_cuda/lm || rc=1; exit $$rc

check-tags:
	@python3 tools/check_tags.py

docs: deps
	@python3 tools/book/build.py

test-docs: deps
	@bash tools/book/test_docs.sh

# make test reads the book in a browser only where pandoc, KaTeX and Chromium are installed,
# and does not run the stages' demos to draw missing plots (minutes on 2 cores): those pages
# show a red "plot not built" box, counted as skipped; `make test-docs` draws them first.
test-docs-if-present:
	@if command -v pandoc >/dev/null && [ -f /usr/share/javascript/katex/katex.min.js ] && \
	    [ -x /usr/bin/chromium ] && command -v npm >/dev/null; then BOOK_MISSING_PLOTS=placeholder bash tools/book/test_docs.sh; \
	 else echo "test-docs: SKIPPED (needs pandoc, libjs-katex, chromium and npm: sudo apt-get install pandoc libjs-katex chromium npm)"; fi

labs:
	@python3 tools/labs/labs.py generate

test-labs:
	@python3 tools/labs/labs.py test $(LABS_STAGES)

test-asan: deps
	@set -e; for s in common $(STAGES) 06_hw_aware_cuda/lm; do echo "=== $$s (ASan+UBSan)"; $(MAKE) -C $$s -j2 test SAN=1; done

bench: deps
	@set -e; for s in $(STAGES); do $(MAKE) -C $$s bench; done

vectors: deps
	@set -e; for s in $(STAGES); do $(MAKE) -C $$s -j2 vectors; done

test-gpu bench-gpu: deps
	@$(MAKE) -C 06_hw_aware_cuda $@
	@if [ $@ = test-gpu ]; then $(MAKE) -C 06_hw_aware_cuda/lm test-gpu check-hf; fi

bench-gpu-lm: deps
	@$(MAKE) -C 06_hw_aware_cuda/lm $@

FUZZ_SECONDS ?= 60
fuzz:
	@$(MAKE) -C common/fuzz fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

clean:
	@for s in common $(STAGES); do $(MAKE) -C $$s clean; done
