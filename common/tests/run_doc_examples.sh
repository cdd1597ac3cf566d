#!/usr/bin/env bash
# common/tests/run_doc_examples.sh STAGE PROGRAM — docs/vectors.md's NumPy example for
# STAGE, graded by PROGRAM --check, and the grader's refusals (run_doc_examples.py).
# Run by every stage's `make test`; needs a python3 with NumPy (common/setup.sh installs
# Debian's python3-numpy, which is /usr/bin/python3's).
here=$(dirname "$0")
# The stages whose example docs/vectors.md holds: losing one is a failure, not a skip.
REQUIRED="01_ssm_continuous 02_zoh_discretize 03_recurrent_conv 04_hippo_s4 05_selective_s6 06_hw_aware_cuda"
# no example for this stage: nothing to run, and no need for NumPy
if [ "$1" = common ] || ! grep -q "^# doc-example: $1\$" "$here/../../docs/vectors.md"; then
  case " $REQUIRED " in
    *" $1 "*) echo "doc examples: docs/vectors.md lost its example for $1 (a block starting '# doc-example: $1')" >&2
              exit 1 ;;
  esac
  echo "doc examples: docs/vectors.md has no example for $1"
  exit 0
fi
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import numpy' 2>/dev/null; then
    exec "$py" "$here/run_doc_examples.py" "$@"
  fi
done
echo "run_doc_examples: no python3 with NumPy found (install python3-numpy, see common/setup.sh)" >&2
exit 2
