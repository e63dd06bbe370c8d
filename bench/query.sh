#!/usr/bin/env bash
# Query benchmark: the six queries of the query-language issue on N genlogs
# lines (default 2,000,000), hot median of 5 runs (RUNS=n for more), through
# sonde's engine and as hand-written SQL on sonde's tables, alternating, with
# the ratios to both and to VictoriaLogs v1.26 (47, 533, 240, 45, 89, 17 ms
# measured on this machine type). Builds the store with bench/ingest.sh
# first unless REUSE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000000}
if [ "${REUSE:-0}" != 1 ] || [ ! -d bench/out/data/events ]; then
  bench/ingest.sh "$N"
fi
go run ./bench/querybench -dir bench/out/data/events -group bench -runs "${RUNS:-5}"
