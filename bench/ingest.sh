#!/usr/bin/env bash
# Ingest benchmark: N genlogs lines (default 2,000,000) posted as NDJSON in
# batches of 10,000 to a fresh sonde server. Prints the server's CPU per line,
# bytes per line on disk once the store has settled (after a clean stop),
# and the server's peak RSS.
#
#   bench/ingest.sh [N]        GENLOGS=dir-of-genlogs  CONCURRENCY=4
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000000}
OUT=bench/out
GENLOGS=${GENLOGS:-../shared/bench/genlogs}
CONCURRENCY=${CONCURRENCY:-4}
PORT=${PORT:-14380}
mkdir -p "$OUT"

go build -o "$OUT/sonde" ./cmd/sonde
go build -o "$OUT/loadlogs" ./bench/loadlogs
LOGS="$OUT/logs-$N.ndjson"
if [ ! -s "$LOGS" ]; then
  go run -C "$GENLOGS" . -n "$N" > "$LOGS.tmp" && mv "$LOGS.tmp" "$LOGS"
fi

DATA="$OUT/data"
rm -rf "$DATA"
"$OUT/sonde" serve --data-dir "$DATA" --http-addr "127.0.0.1:$PORT" --otlp-http-addr "" --otlp-grpc-addr "" --syslog-addr "" \
  --statsd-addr "" --graphite-addr "" --xray-addr "" --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
TICK=$(getconf CLK_TCK)
C0=$(cpu_ticks)
T0=$(date +%s.%N)
"$OUT/loadlogs" -file "$LOGS" -url "http://127.0.0.1:$PORT/api/v1/logs?group=bench" -batch 10000 -c "$CONCURRENCY"
T1=$(date +%s.%N)
C1=$(cpu_ticks)
PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
kill -TERM $PID
wait $PID || true
trap - EXIT
BYTES=$(du -sb "$DATA" | awk '{print $1}')
BYTES_LINE=$(awk -v b="$BYTES" -v n="$N" 'BEGIN {printf "%.1f", b / n}')
CPU=$(awk -v a="$C0" -v b="$C1" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')
WALL=$(awk -v a="$T0" -v b="$T1" 'BEGIN {printf "%.2f", b - a}')
RATE=$(awk -v n="$N" -v c="$CPU" 'BEGIN {printf "%.0f", n / c}')
echo "lines:             $N ($(awk -v n="$N" -v f="$(stat -c %s "$LOGS")" 'BEGIN {printf "%.0f", f / n}') B/line raw)"
echo "ingest wall:       ${WALL}s ($(awk -v n="$N" -v w="$WALL" 'BEGIN {printf "%.0f", n / w}') lines/s)"
echo "server CPU:        ${CPU}s => ${RATE} lines per CPU-second (target >= 200000)"
echo "on disk (settled): $BYTES bytes => ${BYTES_LINE} B/line (target <= 39)"
echo "peak RSS:          $((PEAK_KB / 1024)) MB (target <= 300)"
