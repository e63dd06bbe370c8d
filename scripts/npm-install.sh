#!/usr/bin/env bash
# Installs one npm package at a pinned version into DIR (which git ignores),
# without running npm install scripts. Idempotent: a second run with the
# same version does nothing; a lock keeps concurrent test runs from
# installing into the same directory. Prints DIR's absolute path.
#
#   scripts/npm-install.sh DIR PACKAGE@VERSION
# Exit codes: 0 ok; 3 npm is not installed; 1 anything else.
set -euo pipefail
DIR=$1
SPEC=$2
STAMP="$DIR/.installed-${SPEC//\//_}"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm-install: npm not found" >&2
  exit 3
fi
if [ -f "$STAMP" ]; then
  echo "$(cd "$DIR" && pwd)"
  exit 0
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [ ! -f "$STAMP" ]; then
  [ -f "$DIR/package.json" ] || echo '{"name":"sonde-test-tools","private":true}' > "$DIR/package.json"
  npm install --prefix "$DIR" --ignore-scripts --no-audit --no-fund --loglevel=error "$SPEC" >&2
  rm -f "$DIR"/.installed-*
  touch "$STAMP"
fi
echo "$(cd "$DIR" && pwd)"
