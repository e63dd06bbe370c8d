#!/usr/bin/env bash
# Load generator benchmark: "sonde load" against wrk, k6 and Artillery 2 on
# bench/loadtarget (a minimal Go HTTP server), generator and server pinned to
# separate cores with taskset, same connection count. Prints requests/s of
# each tool and requests per CPU-second of the generator (steadier than
# requests/s on a machine shared with other work), the ratios, sonde's peak
# RSS with 1,000 concurrent virtual users, and how close sonde's p99 is to
# the true p99 of a server that stalls 1 s every 10 s at 1,000 requests/s.
#
#   bench/load.sh [all|throughput|rss|co]
#     CONNS=50 DURATION=10 SERVER_CPU=0 GEN_CPU=1 RUNS=3 PORT=18089
#     K6_VERSION=v1.8.1 ARTILLERY_VERSION=2.0.34 CO_SECONDS=30
#
# Needs go, taskset, wrk (Debian package "wrk"; installed with apt-get when
# missing and running as root) and npm (for Artillery). k6 is built from the
# Go module go.k6.io/k6 into bench/out, Artillery installed with
# "npm install --ignore-scripts" into bench/out (see
# scripts/install-artillery.sh); bench/out is not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
OUT=bench/out
CONNS=${CONNS:-50}
DURATION=${DURATION:-10}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
RUNS=${RUNS:-3}
PORT=${PORT:-18089}
K6_VERSION=${K6_VERSION:-v1.8.1}
CO_SECONDS=${CO_SECONDS:-30}
TARGET="http://127.0.0.1:$PORT"
mkdir -p "$OUT/loadbench"
W="$OUT/loadbench"

go build -o "$OUT/sonde" ./cmd/sonde
go build -o "$OUT/loadtarget" ./bench/loadtarget

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_target() { # extra loadtarget flags
  taskset -c "$SERVER_CPU" "$OUT/loadtarget" -addr "127.0.0.1:$PORT" "$@" 2>/dev/null &
  TARGET_PID=$!
  PIDS+=("$TARGET_PID")
  for _ in $(seq 50); do curl -sf "$TARGET/" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "loadtarget did not start" >&2; exit 1
}
stop_target() { kill "$TARGET_PID" 2>/dev/null || true; wait "$TARGET_PID" 2>/dev/null || true; }

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# requests/s of an Artillery-shaped JSON report: requests over the time
# between the first and last counter.
report_rps() {
  python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["aggregate"]; c=a["counters"]; print("%.0f" % (c["http.requests"]/((a["lastCounterAt"]-a["firstCounterAt"])/1000)))' "$1"
}
# the aggregate http.response_time p99 of a report
report_p99() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["aggregate"]["summaries"]["http.response_time"]["p99"])' "$1"; }

# closed_script N: CONNS virtual users, each sending N GETs back to back over
# a pool of CONNS connections (the shape of wrk -cCONNS).
closed_script() {
  cat <<EOF
config:
  target: "$TARGET"
  http: { pool: $CONNS }
  phases: [ { duration: "100ms", arrivalCount: $CONNS } ]
scenarios:
  - flow:
      - loop:
          - get: { url: "/" }
        count: $1
EOF
}

# cpu FILE CMD...: runs CMD with its stdout in FILE and prints the CPU
# seconds (user + system) it used.
cpu() {
  local out=$1; shift
  local TIMEFORMAT='%U %S'
  { time "$@" > "$out" 2>/dev/null; } 2>&1 | awk '{printf "%.3f", $1 + $2}'
}
# per_cpu REQUESTS CPU_SECONDS: requests per CPU-second
per_cpu() { awk -v n="$1" -v c="$2" 'BEGIN {printf "%.0f", n / c}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2:]: d=d[k]
print(d)' "$@"; }

throughput() {
  if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else echo "wrk missing (apt-get install wrk)" >&2; exit 1; fi
  fi
  if [ ! -x "$OUT/k6" ]; then
    GOBIN="$(pwd)/$OUT" go install "go.k6.io/k6@$K6_VERSION"
  fi
  ARTILLERY=$(scripts/install-artillery.sh | tail -1)
  start_target
  echo "== throughput: $CONNS connections, ${DURATION}s, server on CPU $SERVER_CPU, generator on CPU $GEN_CPU, $RUNS runs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "   (req/s, and requests per CPU-second of the generator, which other load on the machine disturbs less)"
  local wrk_all=() sonde_all=() k6_all=() wrk_eff=() sonde_eff=() k6_eff=() c w n
  cat > "$W/k6.js" <<EOF
import http from 'k6/http';
export const options = { vus: $CONNS, duration: '${DURATION}s', summaryTrendStats: ['p(99)'] };
export default function () { http.get('$TARGET/'); }
EOF
  for i in $(seq "$RUNS"); do
    c=$(cpu "$W/wrk.out" taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$TARGET/")
    w=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$W/wrk.out")
    n=$(awk '/requests in/ {print $1}' "$W/wrk.out")
    wrk_all+=("$w"); wrk_eff+=("$(per_cpu "$n" "$c")")
    # sonde: as many requests as wrk did in DURATION, so the runs last as long
    closed_script $(( w * DURATION / CONNS )) > "$W/closed.yml"
    c=$(cpu /dev/null taskset -c "$GEN_CPU" "$OUT/sonde" load -q "$W/closed.yml" -o "$W/sonde.json")
    sonde_all+=("$(report_rps "$W/sonde.json")")
    sonde_eff+=("$(per_cpu "$(json_get "$W/sonde.json" aggregate counters http.requests)" "$c")")
    c=$(cpu /dev/null taskset -c "$GEN_CPU" "$OUT/k6" run -q --summary-export "$W/k6.json" "$W/k6.js")
    k6_all+=("$(printf '%.0f' "$(json_get "$W/k6.json" metrics http_reqs rate)")")
    k6_eff+=("$(per_cpu "$(json_get "$W/k6.json" metrics http_reqs count)" "$c")")
    echo "   run $i: wrk ${w} req/s (${wrk_eff[-1]}/CPU-s), sonde ${sonde_all[-1]} req/s (${sonde_eff[-1]}/CPU-s), k6 ${k6_all[-1]} req/s (${k6_eff[-1]}/CPU-s)"
  done
  # Artillery is much slower: the same script with fewer requests per user
  # (20,000 in all), run by both.
  closed_script $(( 20000 / CONNS )) > "$W/closed-artillery.yml"
  c=$(ARTILLERY_DISABLE_TELEMETRY=true cpu /dev/null taskset -c "$GEN_CPU" "$ARTILLERY" run -o "$W/artillery.json" "$W/closed-artillery.yml")
  local art art_eff sonde_small sonde_small_eff
  art=$(report_rps "$W/artillery.json")
  art_eff=$(per_cpu "$(json_get "$W/artillery.json" aggregate counters http.requests)" "$c")
  c=$(cpu /dev/null taskset -c "$GEN_CPU" "$OUT/sonde" load -q "$W/closed-artillery.yml" -o "$W/sonde-small.json")
  sonde_small=$(report_rps "$W/sonde-small.json")
  sonde_small_eff=$(per_cpu "$(json_get "$W/sonde-small.json" aggregate counters http.requests)" "$c")
  stop_target
  local wrk_m sonde_m k6_m wrk_e sonde_e k6_e
  wrk_m=$(printf '%s\n' "${wrk_all[@]}" | median)
  sonde_m=$(printf '%s\n' "${sonde_all[@]}" | median)
  k6_m=$(printf '%s\n' "${k6_all[@]}" | median)
  wrk_e=$(printf '%s\n' "${wrk_eff[@]}" | median)
  sonde_e=$(printf '%s\n' "${sonde_eff[@]}" | median)
  k6_e=$(printf '%s\n' "${k6_eff[@]}" | median)
  echo "wrk:        $wrk_m req/s, $wrk_e req/CPU-s (medians)"
  echo "sonde load: $sonde_m req/s, $sonde_e req/CPU-s => $(ratio "$sonde_m" "$wrk_m")x wrk by req/s, $(ratio "$sonde_e" "$wrk_e")x by req/CPU-s (target >= 0.8)"
  echo "k6:         $k6_m req/s, $k6_e req/CPU-s => sonde $(ratio "$sonde_m" "$k6_m")x k6 by req/s, $(ratio "$sonde_e" "$k6_e")x by req/CPU-s (target >= 3)"
  echo "artillery:  $art req/s, $art_eff req/CPU-s; sonde on the same 20,000-request script: $sonde_small req/s, $sonde_small_eff req/CPU-s"
  echo "            => sonde $(ratio "$sonde_small" "$art")x artillery by req/s ($(ratio "$sonde_m" "$art")x with sonde's median above), $(ratio "$sonde_small_eff" "$art_eff")x by req/CPU-s (target >= 20)"
}

rss() {
  start_target
  # 100 arrivals/s for 20 s, each user sending one request a second for
  # 10 s: 1,000 concurrent virtual users from t=10 s to t=20 s.
  cat > "$W/rss.yml" <<EOF
config:
  target: "$TARGET"
  phases: [ { duration: 20, arrivalRate: 100 } ]
scenarios:
  - flow:
      - loop:
          - get: { url: "/" }
          - think: 1
        count: 10
EOF
  echo "== RSS at 1,000 concurrent virtual users (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  taskset -c "$GEN_CPU" "$OUT/sonde" load -q "$W/rss.yml" -o "$W/rss.json" >/dev/null &
  local pid=$! peak=0 active=0
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
    sleep 0.2
  done
  wait "$pid" || true
  stop_target
  created=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["aggregate"]["counters"]["vusers.created"])' "$W/rss.json")
  echo "virtual users: $created created, 1,000 concurrent at peak; peak RSS $((peak / 1024)) MB (target <= 100)"
}

co() {
  # 1,000 requests/s over CONNS connections for CO_SECONDS (a multiple of
  # 10), server stalling 1 s every 10 s. 10% of the requests are intended
  # during a stall and wait for its end: the k-th percentile of the true
  # latency is 1000 * (1 - (1 - k) * 10) ms, 900 ms for the p99.
  start_target -stall-every 10s -stall-for 1s
  cat > "$W/co.yml" <<EOF
config:
  target: "$TARGET"
  http: { pool: $CONNS }
  phases: [ { duration: $CO_SECONDS, arrivalRate: 1000 } ]
scenarios:
  - flow:
      - get: { url: "/" }
EOF
  echo "== coordinated omission: 1,000 req/s, ${CO_SECONDS}s, server stalls 1 s every 10 s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  taskset -c "$GEN_CPU" "$OUT/sonde" load -q "$W/co.yml" -o "$W/co.json" > "$W/co.out"
  stop_target
  p99=$(report_p99 "$W/co.json")
  svc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["aggregate"]["summaries"]["http.service_time"]["p99"])' "$W/co.json")
  late=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["aggregate"]["counters"].get("vusers.late", 0))' "$W/co.json")
  true_p99=900
  echo "reported p99 (corrected): $p99 ms; true p99 from the schedule: $true_p99 ms => error $(awk -v a="$p99" -v b="$true_p99" 'BEGIN {printf "%+.1f%%", (a-b)/b*100}') (target within 10%)"
  echo "service-time p99 (what a CO-blind tool reports): $svc ms; late arrivals: $late"
}

case "$WHAT" in
  all) throughput; rss; co ;;
  throughput) throughput ;;
  rss) rss ;;
  co) co ;;
  *) echo "usage: bench/load.sh [all|throughput|rss|co]" >&2; exit 2 ;;
esac
