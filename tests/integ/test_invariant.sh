#!/usr/bin/env bash
# test_invariant: the fault suite's "nothing run twice" check (tests/lib/invariant.sh) on
# histories written by hand, so that it is known to catch what it is for and to let through what
# the worker may do:
#   - allowed: a turn's early call sent while the previous commit was in flight, that commit
#     failing, the previous turn sent again and then committed (a turn one back, before its commit);
#   - caught: a call of a turn after its commit (one turn back, or the same turn);
#   - caught: a call two turns below the highest already sent, with or without NS:events.
# Each case is one experiment of three committed turns in a namespace of its own; the sim log is
# written line by line as ollama-sim writes it.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
T=$H_DIR

# history NS "TURN@MS ..." "COMMITTED_TURN@MS ..." [noevents]: the keys of a done experiment E1
# whose turns 1..3 were committed at those ms (NS:events ids), and its sim log (calls at MS).
history() {
  local ns=$1 calls=$2 commits=$3 c t ms
  h_cli zadd "$ns:ids" 1 E1 >/dev/null
  h_cli hset "$ns:job:E1" state done turn 3 >/dev/null
  h_cli rpush "$ns:turns:E1" '{"turn":1,"calls":1}' '{"turn":2,"calls":1}' '{"turn":3,"calls":1}' >/dev/null
  h_cli set "$ns:result:E1" '{"id":"E1","status":"done","turns":[{"turn":1,"calls":1},{"turn":2,"calls":1},{"turn":3,"calls":1}]}' >/dev/null
  if [ "${4:-}" != noevents ]; then
    for c in $commits; do
      t=${c%@*} ms=${c#*@}
      h_cli xadd "$ns:events" "$ms-0" id E1 event turn machine m1 turn "$t" >/dev/null
    done
  fi
  : >"$T/sim-$ns.jsonl"
  for c in $calls; do
    t=${c%@*} ms=${c#*@}
    printf '{"ts":%s,"method":"POST","path":"/api/chat","status":200,"model":"qwen3:8b","messages":2,"experiment":"E1","turn":%s,"fault":null}\n' \
      "$ms" "$t" >>"$T/sim-$ns.jsonl"
  done
}
# sent_again NS: the count the invariant reports for "no committed turn sent to Ollama again".
sent_again() {
  TURNQ_NAMESPACE=$1 inv_check "$1" 0 "$T/sim-$1.jsonl" >"$T/inv-$1.out" 2>&1
  grep -o 'TABLE: .*' "$T/inv-$1.out" | awk -F'|' '{print $5}'
}

history early "1@900 2@950 1@1200 2@1350 3@2500" "1@1300 2@2000 3@3000"
t_eq "an early call, its commit failed, the turn before sent again: allowed" 0 "$(sent_again early)"
t_ok "  ...and every other part of the invariant holds on that history" grep -q '^PASS: early: invariant: every done result' "$T/inv-early.out"

history oneback "1@900 2@950 1@1200 2@1350 3@2500" "1@1000 2@2000 3@3000"
t_eq "a turn sent again one back, after its commit: caught" 1 "$(sent_again oneback)"
t_ok "  ...and named" grep -q 'E1 turn 1 at 1200, committed at 1000' "$T/inv-oneback.out"

history same "1@900 2@1100 2@2100 3@2500" "1@1000 2@2000 3@3000"
t_eq "a turn sent again after its own commit, as the highest turn: caught" 1 "$(sent_again same)"

history twoback "1@900 2@1100 3@2100 1@2200" "1@1000 2@2000 3@3000"
t_eq "a turn sent two below the highest: caught" 1 "$(sent_again twoback)"

history twobackne "1@900 2@1100 3@2100 1@2200" "" noevents
t_eq "a turn sent two below the highest, without NS:events: caught" 1 "$(sent_again twobackne)"

history slack "1@1001 2@1500 3@2500" "1@1000 2@2000 3@3000"
t_eq "a call logged within INV_SLACK_MS of its commit (ms rounding): allowed" 0 "$(sent_again slack)"
[ "$H_FAILS" -eq 0 ]
