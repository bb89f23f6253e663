#!/usr/bin/env bash
# The test runner behind `make test`: runs every unit test binary, then every integration script,
# each with a bounded time, and counts their "PASS: name" / "FAIL: name" / "SKIP: name" lines.
# A program that exits non-zero (or times out) without printing a FAIL line counts as one failure.
# Usage: tests/run.sh [unit|integ] [NAME-FILTER]
# Ends with the line "N passed, N failed, N skipped". Logs of failing scripts are kept in
# build/test-logs/run.*/ and their paths printed.
set -u
cd "$(dirname "$0")/.."
export TURNQ_BIN=${TURNQ_BIN:-bin} TURNQ_BUILD=${TURNQ_BUILD:-build}
what=${1:-all}
filter=${2:-}
# A directory per run, so that two runs in one tree do not wipe each other's logs; removed when
# everything passed.
mkdir -p "$TURNQ_BUILD/test-logs"
logs=$(mktemp -d "$TURNQ_BUILD/test-logs/run.XXXXXX")
pass=0 fail=0 skip=0
failed=()

run_one() { # name timeout cmd...
  local name=$1 limit=$2; shift 2
  local log=$logs/$name.log rc
  timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1; rc=$?
  local p f s
  p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    [ "$rc" -eq 124 ] && echo "FAIL: $name timed out after ${limit}s" >>"$log" \
                      || echo "FAIL: $name exited $rc" >>"$log"
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  grep -E '^(FAIL|SKIP): ' "$log" | sed "s|^|  $name: |"
  if [ "$f" -gt 0 ]; then failed+=("$log"); printf '%-28s %3d passed, %d FAILED\n' "$name" "$p" "$f"
  else printf '%-28s %3d passed\n' "$name" "$p"; fi
}

if [ "$what" = all ] || [ "$what" = unit ]; then
  for t in "$TURNQ_BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t"); [ -n "$filter" ] && [[ $n != *$filter* ]] && continue
    run_one "$n" 120 "$t"
  done
fi
if [ "$what" = all ] || [ "$what" = integ ]; then
  for t in tests/integ/test_*.sh; do
    [ -f "$t" ] || continue
    n=$(basename "$t" .sh); [ -n "$filter" ] && [[ $n != *$filter* ]] && continue
    run_one "$n" 300 bash "$t"
  done
fi
for l in "${failed[@]}"; do echo "log kept: $l"; done
[ "$fail" -eq 0 ] && rm -rf "$logs"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
