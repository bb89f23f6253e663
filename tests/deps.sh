#!/usr/bin/env bash
# Checks that the Debian packages turnq builds and tests with are installed; installs the missing
# ones with apt-get when run as root (as CI and a fresh box are), else says what to install.
set -eu
# Usage: tests/deps.sh [demo]. `make demo` needs the build and what demo.sh runs; `make test`
# (no argument) also what the tests run: redis-sentinel (test_redis_sentinel), python3-yaml and
# systemd's systemd-analyze (test_deploy), python3-pandas (test_results_formats).
pkgs=(build-essential pkg-config libhiredis-dev libev-dev libcurl4-openssl-dev libjansson-dev
      libhttp-parser-dev redis-server redis-tools curl jq python3 procps bsdextrautils)
[ "${1:-}" = demo ] || pkgs+=(redis-sentinel python3-yaml python3-pandas systemd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
