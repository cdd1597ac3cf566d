#!/usr/bin/env bash
# common/run_tests.sh DIR... — run `make test` and `make test SAN=1` in each directory,
# then print one closing tally line over every Check suite that ran.
set -uo pipefail
log=$(mktemp /tmp/ode-to-mamba-tests.XXXXXX)
trap 'rm -f "$log"' EXIT
rc=0
for san in 0 1; do
  for d in "$@"; do
    label=$d; [ "$san" = 1 ] && label="$d (ASan+UBSan)"
    echo "=== $label"
    make --no-print-directory -C "$d" -j2 test SAN=$san 2>&1 | tee -a "$log" || { rc=1; echo "=== FAILED: $label"; }
  done
done
# Check prints "NN%: Checks: C, Failures: F, Errors: E" per suite.
awk '/^[0-9]+%: Checks: /{ gsub(",", ""); c += $3; f += $5 + $7; n++ }
     END { printf "\nmake test: %d Check suites ran\ntests: %d passed, %d failed\n", n, c - f, f }' "$log"
grep -q "Failures: [1-9]\|Errors: [1-9]" "$log" && rc=1
exit $rc
