#!/usr/bin/env bash
# Installs Artillery (npm "artillery") for the comparison tests and the load
# benchmark, through scripts/npm-install.sh (pinned, no install scripts,
# idempotent). Prints the path of the artillery executable on its last line.
#
#   scripts/install-artillery.sh            ARTILLERY_VERSION=2.0.34  ARTILLERY_DIR=bench/out/artillery
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(scripts/npm-install.sh "${ARTILLERY_DIR:-bench/out/artillery}" "artillery@${ARTILLERY_VERSION:-2.0.34}")
echo "$DIR/node_modules/.bin/artillery"
