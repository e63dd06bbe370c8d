#!/usr/bin/env bash
# Metrics benchmark: sonde against Debian's Prometheus 2.42, same machine,
# same remote write stream, same queries, in the same run.
#
#  1. remote_write ingest: HOURS of SERIES series at a 15s interval (default
#     24h x 10,000 = 57.6M samples) sent to a fresh Prometheus
#     (--web.enable-remote-write-receiver), then to a fresh sonde. Prints
#     each server's CPU seconds per million samples while receiving, and
#     bytes per sample on disk after the servers settled (compactions done)
#     and stopped cleanly.
#  2. PromQL: the query below as a range query over the whole span (step
#     60s), RUNS times against each server in turn; prints the median.
#
#   bench/metrics.sh            SERIES=10000 HOURS=24 RUNS=5
# Needs prometheus (scripts/test-deps.sh installs it). The machine is
# shared: run when `uptime` shows a low load, and compare the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-10000}
HOURS=${HOURS:-24}
RUNS=${RUNS:-5}
QUERY=${QUERY:-'histogram_quantile(0.99, sum by (le, route) (rate(http_server_request_duration_seconds_bucket[5m])))'}
OUT=bench/out/metrics
PROM_PORT=${PROM_PORT:-19090}
SONDE_PORT=${SONDE_PORT:-14390}
mkdir -p "$OUT"

command -v prometheus >/dev/null || scripts/test-deps.sh
go build -o "$OUT/sonde" ./cmd/sonde
go build -o "$OUT/metricsbench" ./bench/metricsbench

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_seconds() { awk -v a="$1" -v b="$2" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}'; }
wait_http() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }
# settle waits until a process used less than 0.05 CPU-seconds in 10s, and
# at most 5 minutes (compactions of the received data).
settle() {
  local pid=$1 a b
  for _ in $(seq 30); do
    a=$(cpu_ticks "$pid"); sleep 10; b=$(cpu_ticks "$pid")
    [ $((b - a)) -le $((TICK / 20)) ] && return 0
  done
}

# Samples are 1.234s past the minute, as a scrape offset would put them
# (on exact query steps, Prometheus 3 and 2.42 would read different
# samples at range boundaries).
END_MS=$(( ($(date +%s) / 60) * 60 * 1000 + 1234 ))
START_MS=$(( END_MS - HOURS * 3600 * 1000 ))
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# Prometheus 2.42.
rm -rf "$OUT/prom" && mkdir -p "$OUT/prom"
echo "global: {}" > "$OUT/prom/prometheus.yml"
prometheus --config.file="$OUT/prom/prometheus.yml" --storage.tsdb.path="$OUT/prom/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver --log.level=warn \
  >"$OUT/prom/log" 2>&1 &
PROM_PID=$!; PIDS+=("$PROM_PID")
wait_http "http://127.0.0.1:$PROM_PORT/-/ready"

# sonde, with every other listener off.
rm -rf "$OUT/sonde-data"
"$OUT/sonde" serve --data-dir "$OUT/sonde-data" --http-addr "127.0.0.1:$SONDE_PORT" --otlp-http-addr "" \
  --otlp-grpc-addr "" --syslog-addr "" --statsd-addr "" --graphite-addr "" --xray-addr "" --log-level warn >"$OUT/sonde.log" 2>&1 &
SONDE_PID=$!; PIDS+=("$SONDE_PID")
wait_http "http://127.0.0.1:$SONDE_PORT/readyz"

ingest() { # name pid url -> sets CPU_<name>, WALL_<name>, SAMPLES
  local name=$1 pid=$2 url=$3 c0 c1 t0 t1
  echo "== ingest into $name ($(uptime | sed 's/.*load/load/'))"
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  "$OUT/metricsbench" send -url "$url" -series "$SERIES" -start "$START_MS" -end "$END_MS" | tee "$OUT/send-$name.txt"
  c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  SAMPLES=$(awk '/samples_sent/ {print $2}' "$OUT/send-$name.txt")
  printf -v "CPU_$name" '%s' "$(cpu_seconds "$c0" "$c1")"
  printf -v "WALL_$name" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')"
  settle "$pid"
}
ingest prom "$PROM_PID" "http://127.0.0.1:$PROM_PORT/api/v1/write"
ingest sonde "$SONDE_PID" "http://127.0.0.1:$SONDE_PORT/api/v1/write"

echo "== PromQL ($(uptime | sed 's/.*load/load/'))"
"$OUT/metricsbench" query -url "http://127.0.0.1:$PROM_PORT" -url "http://127.0.0.1:$SONDE_PORT" -query "$QUERY" \
  -start $((START_MS / 1000)) -end $((END_MS / 1000)) -step 60 -n "$RUNS" | tee "$OUT/query.txt"

kill -TERM "$PROM_PID" "$SONDE_PID"; wait "$PROM_PID" "$SONDE_PID" || true
PIDS=()
BYTES_prom=$(du -sb "$OUT/prom/data" | awk '{print $1}')
BYTES_sonde=$(du -sb "$OUT/sonde-data/metrics" | awk '{print $1}')

Q_prom=$(awk 'NR==1 {print $3}' "$OUT/query.txt")
Q_sonde=$(awk 'NR==2 {print $3}' "$OUT/query.txt")
per_m() { awk -v c="$1" -v n="$SAMPLES" 'BEGIN {printf "%.3f", c / (n / 1e6)}'; }
bps() { awk -v b="$1" -v n="$SAMPLES" 'BEGIN {printf "%.3f", b / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "samples:                 $SAMPLES ($SERIES series x ${HOURS}h at 15s)"
echo "ingest wall:             prometheus ${WALL_prom}s, sonde ${WALL_sonde}s"
echo "server CPU / 1M samples: prometheus $(per_m "$CPU_prom")s, sonde $(per_m "$CPU_sonde")s => ratio $(ratio "$CPU_sonde" "$CPU_prom") (target <= 1.00)"
echo "bytes / sample on disk:  prometheus $(bps "$BYTES_prom"), sonde $(bps "$BYTES_sonde") => ratio $(ratio "$BYTES_sonde" "$BYTES_prom") (target <= 1.05)"
echo "PromQL median:           prometheus ${Q_prom}s, sonde ${Q_sonde}s => ratio $(ratio "$Q_sonde" "$Q_prom") (target <= 1.20)"
