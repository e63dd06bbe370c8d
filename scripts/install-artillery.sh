#!/usr/bin/env bash
# Installs Artillery (npm "artillery") for the comparison tests and the load
# benchmark, without running npm install scripts, into a directory that git
# ignores. Idempotent: a second run with the same version does nothing.
# Prints the path of the artillery executable on its last line.
#
#   scripts/install-artillery.sh            ARTILLERY_VERSION=2.0.34  ARTILLERY_DIR=bench/out/artillery
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${ARTILLERY_VERSION:-2.0.34}
DIR=${ARTILLERY_DIR:-bench/out/artillery}
BIN="$DIR/node_modules/.bin/artillery"
STAMP="$DIR/.installed-$VERSION"

if ! command -v npm >/dev/null 2>&1; then
  echo "install-artillery: npm not found" >&2
  exit 3
fi
if [ -x "$BIN" ] && [ -f "$STAMP" ]; then
  echo "$(cd "$DIR" && pwd)/node_modules/.bin/artillery"
  exit 0
fi
mkdir -p "$DIR"
# A lock keeps concurrent test runs from installing into the same directory.
exec 9>"$DIR/.lock"
flock 9
if [ ! -x "$BIN" ] || [ ! -f "$STAMP" ]; then
  [ -f "$DIR/package.json" ] || echo '{"name":"sonde-artillery","private":true}' > "$DIR/package.json"
  npm install --prefix "$DIR" --ignore-scripts --no-audit --no-fund --loglevel=error "artillery@$VERSION" >&2
  rm -f "$DIR"/.installed-*
  touch "$STAMP"
fi
echo "$(cd "$DIR" && pwd)/node_modules/.bin/artillery"
