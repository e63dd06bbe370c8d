#!/usr/bin/env bash
# ClickHouse store benchmark on N genlogs lines (default 2,000,000), against
# a fresh ClickHouse server (scripts/clickhouse.sh, zstd on):
#
#  1. baseline: clickhouse-client ... FORMAT JSONEachRow of the file into a
#     table of the same layout as sonde's (MergeTree by day, sorted by hour,
#     service, route, method and time (LAYOUT=time: by time), Nullable typed
#     columns named as the JSON keys);
#  2. sonde: the file posted as NDJSON in batches of 10,000 (bench/loadlogs)
#     to sonde's HTTP ingest (handler, pipeline, store) writing to ClickHouse
#     through its insert buffer, timed until every event is in ClickHouse;
#  3. bytes per line of both tables once merged (OPTIMIZE ... FINAL);
#  4. the six queries of bench/query.sh through sonde's engine and as
#     hand-written ClickHouse SQL (bench/clickhousebench query).
#
#   bench/clickhouse.sh [N]     GENLOGS=dir  CONCURRENCY=4  CH_PORT=port  HTTP_PORT=port
#   STORE_PARAMS='?flush_interval=0'   store URL parameters (this one: no buffer)
#   LAYOUT=time                 both tables sorted by time only (sonde: sort=time);
#                               default endpoint, as sonde sorts access logs
#   CLICKHOUSE_ZSTD_LEVEL=9     zstd level of merged parts (scripts/clickhouse.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000000}
OUT=bench/out
GENLOGS=${GENLOGS:-../shared/bench/genlogs}
CONCURRENCY=${CONCURRENCY:-4}
# Free ports unless given (ClickHouse takes CH_PORT and CH_PORT+1).
free_ports() { # N: a port p such that p .. p+N-1 are free
  python3 - "$1" <<'PY'
import socket, sys
n = int(sys.argv[1])
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    try:
        for q in range(p, p + n):
            t = socket.socket(); t.bind(("127.0.0.1", q)); t.close()
        print(p); break
    except OSError:
        pass
PY
}
LAYOUT=${LAYOUT:-endpoint}
case "$LAYOUT" in
  endpoint) ORDER="(intDiv(ts, 3600000), assumeNotNull(service), assumeNotNull(route), assumeNotNull(method), ts)" ;;
  time) ORDER="ts"
    P=${STORE_PARAMS:-}; [[ "$P" == *\?* ]] && STORE_PARAMS="$P&sort=time" || STORE_PARAMS="?sort=time" ;;
  *) echo "LAYOUT must be endpoint or time" >&2; exit 2 ;;
esac
CH_PORT=${CH_PORT:-$(free_ports 2)}
HTTP_PORT=${HTTP_PORT:-$(free_ports 1)}
mkdir -p "$OUT"

go build -o "$OUT/clickhousebench" ./bench/clickhousebench
go build -o "$OUT/loadlogs" ./bench/loadlogs
LOGS="$OUT/logs-$N.ndjson"
if [ ! -s "$LOGS" ]; then
  go run -C "$GENLOGS" . -n "$N" > "$LOGS.tmp" && mv "$LOGS.tmp" "$LOGS"
fi

CH="$OUT/clickhouse"
scripts/clickhouse.sh stop "$CH" 2>/dev/null || true
rm -rf "$CH"
scripts/clickhouse.sh start "$CH" "$CH_PORT"
SONDE_PID=
cleanup() {
  [ -n "$SONDE_PID" ] && kill "$SONDE_PID" 2>/dev/null || true
  scripts/clickhouse.sh stop "$CH"
}
trap cleanup EXIT
chq() { clickhouse-client --port "$CH_PORT" --query "$1"; }
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CH_PID=$(cat "$CH/n1/pid")
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" -v t="${3:-1}" 'BEGIN {printf "%.2f", (b - a) / t}'; }
bytes_of() { chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '$1' AND table = '$2'"; }

echo "ClickHouse $(chq 'SELECT version()'), $N lines ($(awk -v n="$N" -v f="$(stat -c %s "$LOGS")" 'BEGIN {printf "%.0f", f / n}') B/line raw), layout: $LAYOUT, load: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Baseline.
chq "CREATE DATABASE base"
chq "CREATE TABLE base.logs (
  timestamp Nullable(String), service Nullable(String), level Nullable(String), method Nullable(String),
  route Nullable(String), status Nullable(Int64), latency_ms Nullable(Float64), bytes Nullable(Int64),
  client_ip Nullable(String), user_agent Nullable(String), trace_id Nullable(String), message Nullable(String),
  ts Int64 MATERIALIZED toInt64(parseDateTimeBestEffort(assumeNotNull(timestamp))) * 1000 + toInt64(substring(assumeNotNull(timestamp), 21, 3))
) ENGINE = MergeTree PARTITION BY intDiv(ts, 86400000) ORDER BY $ORDER"
C0=$(cpu "$CH_PID"); T0=$(now)
/usr/bin/time -o "$OUT/client.time" -f "%U %S" \
  clickhouse-client --port "$CH_PORT" --query "INSERT INTO base.logs (timestamp, service, level, method, route, status, latency_ms, bytes, client_ip, user_agent, trace_id, message) FORMAT JSONEachRow" < "$LOGS"
T1=$(now); C1=$(cpu "$CH_PID")
BASE_WALL=$(secs "$T0" "$T1")
BASE_CH_CPU=$(secs "$C0" "$C1" "$TICK")
BASE_CLIENT_CPU=$(awk '{printf "%.2f", $1 + $2}' "$OUT/client.time")

# 2. sonde.
rm -rf "$OUT/clickhouse-buffer"
"$OUT/clickhousebench" serve -addr "127.0.0.1:$HTTP_PORT" -store "clickhouse://127.0.0.1:$CH_PORT/sonde${STORE_PARAMS:-}" -buffer "$OUT/clickhouse-buffer" &
SONDE_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break; sleep 0.1; done
C0=$(cpu "$CH_PID"); S0=$(cpu "$SONDE_PID"); T0=$(now)
"$OUT/loadlogs" -file "$LOGS" -url "http://127.0.0.1:$HTTP_PORT/api/v1/logs?group=bench" -batch 10000 -c "$CONCURRENCY" >/dev/null
ACKED=$(now)
curl -sf -X POST "http://127.0.0.1:$HTTP_PORT/sync" >/dev/null
T1=$(now); C1=$(cpu "$CH_PID"); S1=$(cpu "$SONDE_PID")
kill -TERM "$SONDE_PID"; wait "$SONDE_PID" || true; SONDE_PID=
SONDE_WALL=$(secs "$T0" "$T1")
SONDE_CH_CPU=$(secs "$C0" "$C1" "$TICK")
SONDE_CPU=$(secs "$S0" "$S1" "$TICK")
TABLE=$(chq "SELECT tbl FROM sonde._groups WHERE name = 'bench' LIMIT 1")

# 3. Size once merged.
chq "OPTIMIZE TABLE base.logs FINAL"
chq "OPTIMIZE TABLE sonde.\`$TABLE\` FINAL"
BASE_BYTES=$(bytes_of base logs)
SONDE_BYTES=$(bytes_of sonde "$TABLE")
STORED=$(chq "SELECT count() FROM sonde.\`$TABLE\`")

rate() { awk -v n="$N" -v w="$1" 'BEGIN {printf "%.0f", n / w}'; }
echo
echo "ingest                        wall s   lines/s   ClickHouse CPU s   client CPU s"
printf "clickhouse-client JSONEachRow %7s %9s %18s %14s\n" "$BASE_WALL" "$(rate "$BASE_WALL")" "$BASE_CH_CPU" "$BASE_CLIENT_CPU (clickhouse-client)"
printf "sonde HTTP NDJSON             %7s %9s %18s %14s\n" "$SONDE_WALL" "$(rate "$SONDE_WALL")" "$SONDE_CH_CPU" "$SONDE_CPU (sonde)"
echo "sonde: last batch acknowledged after $(secs "$T0" "$ACKED") s, all of it in ClickHouse after $SONDE_WALL s"
echo "sonde / client rate:          $(awk -v a="$BASE_WALL" -v b="$SONDE_WALL" 'BEGIN {printf "%.0f%%", 100 * a / b}') (target >= 80%)"
echo "CPU per line (all processes): client $(awk -v a="$BASE_CH_CPU" -v b="$BASE_CLIENT_CPU" -v n="$N" 'BEGIN {printf "%.1f", 1e6 * (a + b) / n}') us, sonde $(awk -v a="$SONDE_CH_CPU" -v b="$SONDE_CPU" -v n="$N" 'BEGIN {printf "%.1f", 1e6 * (a + b) / n}') us"
echo "events stored by sonde:       $STORED"
echo "bytes per line, merged:       sonde $(awk -v b="$SONDE_BYTES" -v n="$N" 'BEGIN {printf "%.1f", b / n}') (target <= 32), client table $(awk -v b="$BASE_BYTES" -v n="$N" 'BEGIN {printf "%.1f", b / n}')"
echo
# 4. Queries.
"$OUT/clickhousebench" query -store "clickhouse://127.0.0.1:$CH_PORT/sonde" -group bench
