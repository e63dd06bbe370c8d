#!/usr/bin/env bash
# Installs the Debian packages that the tests run against (real servers and
# tools, not fakes). Idempotent: packages already installed are left alone,
# and nothing is done when everything is there.
#
# When a package is missing it is installed with
#   apt-get install -y --no-install-recommends PKG...
# if we are root (CI runs as root with CI=true). Otherwise the missing
# packages are listed and the script exits 0 locally (tests that need them
# then skip with a reason) or 1 under CI=true (tests must not skip there).
#
#   scripts/test-deps.sh            # install what is missing
#   scripts/test-deps.sh --check    # only report, install nothing
#
# To add a package: append "package:command" to PACKAGES below; the command
# is what the tests look for on PATH (it proves the install worked).
set -euo pipefail

PACKAGES=(
  "prometheus:prometheus" # Prometheus 2.42: metrics compliance, remote_write, benchmarks
  "clickhouse-server:clickhouse-server" # ClickHouse 18.16: the clickhouse event store (scripts/clickhouse.sh starts it)
  "clickhouse-client:clickhouse-client" # its client: the store tests and bench/clickhouse.sh
)

check_only=false
[ "${1:-}" = "--check" ] && check_only=true

missing=()
for entry in "${PACKAGES[@]}"; do
  pkg=${entry%%:*}
  cmd=${entry#*:}
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" && command -v "$cmd" >/dev/null 2>&1; then
    echo "test-deps: $pkg already installed ($(command -v "$cmd"))"
  else
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "test-deps: missing: ${missing[*]}"
if $check_only; then
  exit 1
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: cannot install (need root and apt-get); run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# A package list older than a day (or none) may not know the packages.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  echo "test-deps: apt-get update"
  apt-get update -qq
fi
echo "test-deps: apt-get install -y --no-install-recommends ${missing[*]}"
# Debian's service packages try to start their daemon on install; tests start
# their own instances, so keep the system one from starting where possible.
policy_added=false
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  policy_added=true
fi
status=0
apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
$policy_added && rm -f /usr/sbin/policy-rc.d
if [ $status -ne 0 ]; then
  echo "test-deps: apt-get install failed with status $status" >&2
  exit $status
fi
for entry in "${PACKAGES[@]}"; do
  cmd=${entry#*:}
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "test-deps: ${entry%%:*} installed but $cmd is not on PATH" >&2
    exit 1
  fi
done
echo "test-deps: installed ${missing[*]}"
