#!/usr/bin/env bash
# Starts and stops throw-away ClickHouse servers for the tests and the
# benchmark: loopback only, ports of the caller's choice, data in DIR.
#
#   scripts/clickhouse.sh start DIR PORT [PORT2]   one server, or two
#   scripts/clickhouse.sh stop DIR                 stops what start started in DIR
#   scripts/clickhouse.sh install                  installs clickhouse-server if missing
#                                                  (through scripts/test-deps.sh)
#
# Each server listens on 127.0.0.1 with the native protocol on its PORT and
# HTTP on PORT+1 (nothing else), keeps everything under DIR/nN, compresses
# merged parts with zstd, and knows two clusters:
#   sonde_one    one shard: the first server
#   sonde_two    two shards: the first and the second server (when started)
# CLICKHOUSE_ZSTD_LEVEL sets the zstd level of merged parts (default 9).
# Exit codes: 0 ok; 3 clickhouse-server is missing and cannot be installed
# here (no apt-get, not root); 1 anything else.
set -euo pipefail

die() { echo "clickhouse.sh: $*" >&2; exit 1; }

# install installs clickhouse-server and clickhouse-client through the
# project's package installer when they are missing.
install() {
  command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1 && return 0
  "$(dirname "$0")/test-deps.sh" >&2 || die "scripts/test-deps.sh failed"
  if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1; then
    echo "clickhouse.sh: clickhouse-server is not installed and cannot be installed here (needs apt-get as root)" >&2
    exit 3
  fi
}

# config NODE_DIR PORT CLUSTER_XML
config() {
  local d=$1 port=$2 clusters=$3
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/log"
  cat > "$d/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$d/log/server.log</log>
    <errorlog>$d/log/error.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$port</tcp_port>
  <http_port>$((port + 1))</http_port>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <users_config>$d/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <mlock_executable>false</mlock_executable>
  <remote_servers>
$clusters
  </remote_servers>
  <!-- Fresh parts keep the fast default (lz4); merged parts of 10 MB and
       more are compressed again with zstd. -->
  <compression>
    <case>
      <min_part_size>10000000</min_part_size>
      <min_part_size_ratio>0</min_part_size_ratio>
      <method>zstd</method>
      <level>${CLICKHOUSE_ZSTD_LEVEL:-9}</level>
    </case>
  </compression>
</yandex>
EOF
  cat > "$d/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <use_uncompressed_cache>0</use_uncompressed_cache>
      <load_balancing>in_order</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
    </default>
  </quotas>
</yandex>
EOF
}

shard() { printf '      <shard><replica><host>127.0.0.1</host><port>%s</port></replica></shard>\n' "$1"; }

start() {
  local dir=$1; shift
  [ $# -ge 1 ] && [ $# -le 2 ] || die "usage: start DIR PORT [PORT2]"
  install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local clusters
  clusters="    <sonde_one>
$(shard "$1")
    </sonde_one>"
  if [ $# -eq 2 ]; then
    clusters="$clusters
    <sonde_two>
$(shard "$1")
$(shard "$2")
    </sonde_two>"
  fi
  local n=0 port
  for port in "$@"; do
    n=$((n + 1))
    local d="$dir/n$n"
    config "$d" "$port" "$clusters"
    # Not --daemon: the server stays a child of this shell's session so that
    # its output goes to the log, and its pid is what we record.
    nohup clickhouse-server --config-file="$d/config.xml" >"$d/log/stdout.log" 2>&1 </dev/null &
    echo $! > "$d/pid"
  done
  n=0
  for port in "$@"; do
    n=$((n + 1))
    local d="$dir/n$n" ok=0
    for _ in $(seq 300); do
      if clickhouse-client --host 127.0.0.1 --port "$port" --query "SELECT 1" >/dev/null 2>&1; then ok=1; break; fi
      if ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then break; fi
      sleep 0.1
    done
    if [ $ok != 1 ]; then
      echo "clickhouse.sh: server $n on port $port did not start; its logs:" >&2
      tail -n 30 "$d/log/stdout.log" "$d/log/error.log" >&2 2>/dev/null || true
      stop "$dir"
      exit 1
    fi
  done
}

# stop asks every server to stop, gives them two seconds together (18.16
# waits for idle client connections before it exits), then kills them.
stop() {
  local dir=$1 pidf pid pids=()
  for pidf in "$dir"/n*/pid; do
    [ -f "$pidf" ] || continue
    pid=$(cat "$pidf")
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$pidf"
  done
  for _ in $(seq 20); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}

case "${1:-}" in
  start) shift; [ $# -ge 2 ] || die "usage: start DIR PORT [PORT2]"; start "$@" ;;
  stop) [ $# -eq 2 ] || die "usage: stop DIR"; stop "$2" ;;
  install) install ;;
  *) die "usage: $0 start DIR PORT [PORT2] | stop DIR | install" ;;
esac
