#!/usr/bin/env bash
# tests/fault-table.sh [N] [NAME-FILTER]: runs every fault scenario (tests/integ/test_fault_*.sh)
# N times (default 1), one after the other, collects the "TABLE: scenario|runs|experiments|lost|
# run twice" line each prints from tests/lib/invariant.sh, and prints a Markdown table: per
# scenario the fault rounds injected (summed over the N script runs), the experiments submitted,
# how many were lost (not ended, or gone) and how many (experiment, turn) pairs were sent to
# Ollama after they had been committed, plus the count of the scenario's other checks that
# failed. Exit 0 when every check of every run passed. Logs of failing runs are kept in
# build/fault-logs/ and named. Uses TURNQ_BIN like tests/run.sh (default bin).
set -u
cd "$(dirname "$0")/.."
export TURNQ_BIN=${TURNQ_BIN:-bin}
N=${1:-1}
filter=${2:-}
case $N in ''|*[!0-9]*) echo "usage: tests/fault-table.sh [RUNS] [NAME-FILTER]" >&2; exit 2 ;; esac
mkdir -p build/fault-logs
logs=$(mktemp -d build/fault-logs/run.XXXXXX)
declare -A RUNS EXPS LOST TWICE FAILS SCRIPTS SKIPPED
num() { case $1 in ''|*[!0-9]*) echo 0 ;; *) echo "$1" ;; esac; }
order=()
t0=$(date +%s)
bad=0
for t in tests/integ/test_fault_*.sh; do
  name=$(basename "$t" .sh); [ -n "$filter" ] && [[ $name != *$filter* ]] && continue
  for i in $(seq 1 "$N"); do
    log=$logs/$name.$i.log
    s0=$(date +%s)
    timeout --kill-after=5 300 bash "$t" >"$log" 2>&1; rc=$?
    f=$(grep -c '^FAIL: ' "$log")
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    skip=$(grep -c '^SKIP: ' "$log")
    printf '%-28s run %d/%d: %3d s, %s\n' "$name" "$i" "$N" $(( $(date +%s) - s0 )) \
      "$([ "$skip" -gt 0 ] && echo skipped || { [ "$f" -eq 0 ] && echo ok || echo "$f FAILED"; })" >&2
    [ "$f" -gt 0 ] && { bad=1; echo "  log kept: $log" >&2; grep '^FAIL: ' "$log" | head -n 5 | sed 's/^/    /' >&2; }
    lines=$(grep '^TABLE: ' "$log" | sed 's/^TABLE: //')
    if [ -z "$lines" ]; then
      key=${name#test_fault_}
      [ -z "${SCRIPTS[$key]:-}" ] && order+=("$key")
      SCRIPTS[$key]=$(( ${SCRIPTS[$key]:-0} + 1 ))
      [ "$skip" -gt 0 ] && SKIPPED[$key]=$(grep -m1 '^SKIP: ' "$log" | sed 's/^SKIP: //')
      FAILS[$key]=$(( ${FAILS[$key]:-0} + f ))
      continue
    fi
    while IFS='|' read -r sc runs exps lost twice; do
      [ -z "${SCRIPTS[$sc]:-}" ] && order+=("$sc")
      SCRIPTS[$sc]=$(( ${SCRIPTS[$sc]:-0} + 1 ))

      RUNS[$sc]=$(( ${RUNS[$sc]:-0} + $(num "$runs") ))
      EXPS[$sc]=$(( ${EXPS[$sc]:-0} + $(num "$exps") ))
      LOST[$sc]=$(( ${LOST[$sc]:-0} + $(num "$lost") ))
      TWICE[$sc]=$(( ${TWICE[$sc]:-0} + $(num "$twice") ))
      FAILS[$sc]=$(( ${FAILS[$sc]:-0} + f ))
    done <<<"$lines"
  done
done

echo "| scenario | runs | experiments | lost | run twice | failed checks |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
tr=0 te=0 tl=0 tt=0 tf=0
for sc in "${order[@]}"; do
  if [ -n "${SKIPPED[$sc]:-}" ] && [ -z "${EXPS[$sc]:-}" ]; then
    echo "| $sc | skipped: ${SKIPPED[$sc]} | | | | |"; continue
  fi
  if [ -z "${EXPS[$sc]:-}" ]; then
    echo "| $sc | no result (the script printed no TABLE line) | | | | ${FAILS[$sc]:-0} |"; continue
  fi
  echo "| $sc | ${RUNS[$sc]} | ${EXPS[$sc]} | ${LOST[$sc]} | ${TWICE[$sc]} | ${FAILS[$sc]} |"
  tr=$((tr + RUNS[$sc])) te=$((te + EXPS[$sc])) tl=$((tl + LOST[$sc])) tt=$((tt + TWICE[$sc])) tf=$((tf + FAILS[$sc]))
done
echo "| **total** | $tr | $te | $tl | $tt | $tf |"
echo
ver=$("$TURNQ_BIN/worker" --version 2>/dev/null | awk '{print $NF}')
echo "\`tests/fault-table.sh${1:+ $1}${2:+ $2}\`: $N run(s) of each script, $(( $(date +%s) - t0 )) s," \
  "turnq ${ver:-?}, $(nproc 2>/dev/null || echo '?') cores, $(date -u +%Y-%m-%d)."
[ "$bad" -eq 0 ] && rm -rf "$logs"
exit "$bad"
