#!/usr/bin/env bash
# Installs chDB (npm "chdb": the ClickHouse engine as a library, a current
# release) for the test that runs sonde's ClickHouse SQL on current
# ClickHouse (Debian only packages 18.16), through scripts/npm-install.sh
# (pinned, no install scripts, idempotent). Prints the directory that holds
# node_modules/chdb on its last line.
#
#   scripts/install-chdb.sh            CHDB_VERSION=3.4.0  CHDB_DIR=bench/out/chdb
# Exit codes: 0 ok; 3 chDB cannot be had here (no node, another platform).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1; then
  echo "install-chdb: node not found" >&2
  exit 3
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-aarch64) ;;
  *) echo "install-chdb: chDB's npm builds cover Linux x86_64 and aarch64 only" >&2; exit 3 ;;
esac
scripts/npm-install.sh "${CHDB_DIR:-bench/out/chdb}" "chdb@${CHDB_VERSION:-3.4.0}"
