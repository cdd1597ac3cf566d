#!/usr/bin/env bash
# common/setup.sh — make sure the Debian packages the project builds with are here.
# Used by `make demo` and `make test`. As root with apt, it installs what is missing;
# otherwise it stops with one line naming the packages to install.
set -u
PKGS="gcc make pkg-config check libsubunit-dev gnuplot-nox libfftw3-dev libopenblas-dev libcjson-dev python3-numpy libpcre2-dev libutf8proc-dev fortunes"
# The book (make docs: pandoc, KaTeX; make test-docs: chromium, and npm for playwright-core) is
# optional: installed when we can, skipped by make test otherwise. npm only where there is none
# (a Node.js from elsewhere brings its own, and Debian's npm would conflict with it).
OPT_PKGS="pandoc libjs-katex chromium fonts-dejavu-core"
command -v npm >/dev/null 2>&1 || OPT_PKGS="$OPT_PKGS npm"
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && PKGS="$PKGS $OPT_PKGS"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >/tmp/ode-to-mamba-setup.log 2>&1 || {
    echo "setup: apt-get failed installing$missing (log: /tmp/ode-to-mamba-setup.log)" >&2; exit 2; }
  exit 0
fi
echo "setup: missing Debian packages:$missing (install them: sudo apt-get install$missing)" >&2
exit 2
