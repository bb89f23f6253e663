#!/usr/bin/env bash
# Checks that the Debian packages turnq builds and tests with are installed; installs the missing
# ones with apt-get when run as root (as CI and a fresh box are), else says what to install.
set -eu
# python3-yaml, systemd (systemd-analyze): tests/integ/test_deploy.sh.
pkgs=(build-essential pkg-config libhiredis-dev libev-dev libcurl4-openssl-dev libjansson-dev
      libhttp-parser-dev redis-server redis-tools redis-sentinel curl jq python3 procps bsdextrautils
      python3-yaml python3-pandas systemd)
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
