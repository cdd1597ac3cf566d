#!/usr/bin/env bash
# tools/book/test_docs.sh — make test-docs: the book built and read in headless Chromium.
#   1. excerpts: a chapter naming a function or LAB marker that does not exist must stop the
#      build (and one that exists must come out verbatim);
#   2. make docs (draws any plot that is missing: runs the stage's demo);
#   3. tools/book/test_book.js in Debian's chromium via playwright-core (installed from npm
#      into .book-node/, git-ignored; no browser is downloaded): KaTeX errors, images, links,
#      console errors, a screenshot per page in docs/book-test/.
set -uo pipefail
cd "$(dirname "$0")/../.."
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "test-docs: chromium is not installed ($CHROMIUM): sudo apt-get install chromium" >&2; exit 2
fi
command -v node >/dev/null && command -v npm >/dev/null || { echo "test-docs: node and npm are needed" >&2; exit 2; }
fail=0
tmp=$(mktemp -d /tmp/test-docs.XXXXXX); trap 'rm -rf "$tmp"' EXIT
excerpt() {  # excerpt ATTRS -> runs the filter on a one-block document, output in $tmp/out.html
  printf '```{.c %s}\n```\n' "$1" > "$tmp/x.md"
  BOOK_ROOT=$PWD BOOK_OUT=$tmp pandoc "$tmp/x.md" -t html5 --lua-filter tools/book/book.lua -o "$tmp/out.html" 2>"$tmp/err"
}
if excerpt 'include="03_recurrent_conv/recconv.c" function="no_such_function"'; then
  echo "FAIL excerpt: a missing function did not stop the build"; fail=1
elif ! grep -q "no definition of function no_such_function" "$tmp/err"; then
  echo "FAIL excerpt: the error does not name the missing function: $(cat "$tmp/err")"; fail=1
else echo "excerpt: a missing function stops the build: $(cat "$tmp/err")"; fi
if excerpt 'include="03_recurrent_conv/recconv.c" lab="99.9"'; then
  echo "FAIL excerpt: a missing LAB marker did not stop the build"; fail=1
else echo "excerpt: a missing LAB marker stops the build: $(cat "$tmp/err")"; fi
if ! excerpt 'include="03_recurrent_conv/recconv.c" function="ssm_step_diag"' ||
   ! grep -q "ssm_step_diag" "$tmp/out.html" || ! grep -q "return" "$tmp/out.html"; then
  echo "FAIL excerpt: ssm_step_diag was not included: $(cat "$tmp/err")"; fail=1
else echo "excerpt: ssm_step_diag comes out of recconv.c"; fi

# a course's book (--hide-labs) shows a lab's region as a comment, never its solution
if ! BOOK_HIDE_LABS=1 excerpt 'include="03_recurrent_conv/recconv.c" function="conv_fft_with"' ||
   grep -q "fftw_execute" "$tmp/out.html" || ! grep -q "yours to write" "$tmp/out.html"; then
  echo "FAIL excerpt: with BOOK_HIDE_LABS=1 the excerpt still shows lab 3.3's solution: $(cat "$tmp/err")"; fail=1
else echo "excerpt: --hide-labs shows lab 3.3 as 'yours to write', not its code"; fi

python3 tools/book/build.py || { echo "test-docs: make docs failed"; exit 1; }

PW=.book-node/node_modules/playwright-core
if [ ! -d "$PW" ]; then
  echo "test-docs: installing playwright-core (npm, into .book-node/; the browser is Debian's chromium)"
  # --prefix moves npm's global config to .book-node/etc/npmrc, so a CA file the machine's
  # global npmrc names (a TLS-inspecting proxy's) would be lost: ask for it first, pass it on.
  ca=$(npm config get cafile 2>/dev/null); cafile=()
  [ -n "$ca" ] && [ -f "$ca" ] && cafile=(--cafile "$ca")
  npm install --prefix .book-node "${cafile[@]}" --no-audit --no-fund --silent playwright-core@1.65.1 >/dev/null ||
    { echo "test-docs: npm install playwright-core failed" >&2; exit 2; }
fi
CHROMIUM=$CHROMIUM NODE_PATH=$PWD/.book-node/node_modules node tools/book/test_book.js docs/book docs/book-test || fail=1
exit $fail
