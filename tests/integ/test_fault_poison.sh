#!/usr/bin/env bash
# test_fault_poison: poison entries pushed onto a queue with redis-cli, before and during a sweep
# of 6 good experiments (4 turns, one tool) on machine px, --slots 2:
#   ids that are no valid id (200 characters, a space, a newline, empty, a glob), an id without a
#   job hash, hashes whose spec is not JSON, missing, not a job (no model), a job whose
#   max_actions_per_turn is out of range, a spec whose "id" names another (submitted!)
#   experiment; and duplicates: a queued id pushed again, a running id pushed again while it
#   runs, a done id pushed again.
# Each poison entry ends failed in NS:dead with a reason (or, for a done id, is dropped; the
# impostor may also run as itself); none stays in the queue or the running list; none reaches
# Ollama; the worker keeps serving; every good experiment runs once and ends done, untouched by
# the spec that named it. On a second machine py, keys of the wrong type (Redis answers
# WRONGTYPE): a job key that is a string, and a valid job whose NS:turns key is a string, then a
# good experiment: the worker must fail them and go on serving. Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
Q=$NS:queue:px
in_dead() { h_cli lrange "$NS:dead" 0 -1 | grep -qxF -- "$1"; }
h_sim_start px --latency-ms 30 || exit 1
inv_jobs G 6 4 "\"tools\": [$INV_TOOL]" | h_disp submit --machines px - >/dev/null 2>&1
h_cli del "$Q" >/dev/null   # the good ones go back in below, behind the poison
LONG=$(printf 'P%.0s' $(seq 1 200))
GOODSPEC=$(h_cli hget "$NS:job:G1" spec)
push() { h_cli lpush "$Q" "$1" >/dev/null; }
push "$LONG"; push "bad id"; push $'new\nline'; push ""; push "glob*[x]"
push nohash
h_cli hset "$NS:job:notjson" spec 'this is {not json' state queued machine px >/dev/null; push notjson
h_cli hset "$NS:job:nospec" state queued machine px >/dev/null; push nospec
h_cli hset "$NS:job:nomodel" spec '{"id":"nomodel","turns":["a"]}' state queued machine px >/dev/null; push nomodel
h_cli hset "$NS:job:badmax" spec "$(jq -c '.id = "badmax" | .max_actions_per_turn = 1000' <<<"$GOODSPEC")" \
  state queued machine px >/dev/null; push badmax
h_cli hset "$NS:job:impostor" spec "$(jq -c '.id = "G3"' <<<"$GOODSPEC")" state queued machine px >/dev/null; push impostor
POISON_DEAD="notjson nospec nomodel badmax nohash"
# The good ones, G1 pushed twice (a duplicate of a queued id).
for k in 1 2 3 4 5 6; do push "G$k"; done
push G1
h_worker_start px --slots 2 --max-attempts 2
# ---- py: keys of the wrong type ----
h_sim_start py --latency-ms 30 || exit 1
h_cli set "$NS:job:strjob" "i am a string" >/dev/null
h_cli lpush "$NS:queue:py" strjob >/dev/null
h_cli hset "$NS:job:wrongturns" spec "$(jq -c '.id = "wrongturns"' <<<"$GOODSPEC")" state queued machine py >/dev/null
h_cli set "$NS:turns:wrongturns" "i am a string" >/dev/null
h_cli lpush "$NS:queue:py" wrongturns >/dev/null
inv_jobs Y 1 2 | h_disp submit --machines py - >/dev/null 2>&1
h_worker_start py
t_ok "a good experiment runs" h_wait 15 "[ \"\$(h_cli lrange $NS:running:px 0 -1 | grep -c '^G')\" -ge 1 ]"
RUNNING=$(h_cli lrange "$NS:running:px" 0 -1 | grep '^G' | head -n1)
push "$RUNNING"   # a duplicate of a running id
t_ok "every good experiment ends" h_wait 30 "[ \"\$(for k in 1 2 3 4 5 6; do inv_state G\$k; done | sort -u)\" = done ]"
t_ok "the queue drains" h_wait 10 "[ \"\$(h_cli llen $Q)\" = 0 ] && [ \"\$(h_cli llen $NS:running:px)\" = 0 ]"
t_eq "all 6 good ones done" "6" "$(for k in 1 2 3 4 5 6; do inv_state G$k; done | grep -c done)"
D1=$(jq -c 'select(.path == "/api/chat" and .experiment == "G1")' "$SIM_LOG_px" | wc -l)
push G1           # a done id pushed again
h_disp submit --machines px - >/dev/null 2>&1 <<<'{"id": "AFTER", "model": "qwen3:8b", "turns": ["x"]}'
t_ok "the worker still serves after the done id" h_wait 15 "[ \"\$(inv_state AFTER)\" = done ]"
t_eq "the done id pushed again: no new call" "$D1" "$(jq -c 'select(.path == "/api/chat" and .experiment == "G1")' "$SIM_LOG_px" | wc -l)"
for id in $POISON_DEAD; do
  t_ok "poison $id: in NS:dead" in_dead "$id"
done
for id in notjson nospec nomodel badmax nohash; do
  t_eq "poison $id: failed" failed "$(inv_state "$id")"
  t_ok "poison $id: a reason in its job hash" test -n "$(inv_field "$id" error)"
done
for id in "$LONG" "bad id" $'new\nline' "" "glob*[x]"; do
  t_ok "poison id '$(printf %q "${id:0:20}")': in NS:dead as itself" in_dead "$id"
done
t_eq "poison: none reached Ollama" 0 "$(jq -c 'select(.path == "/api/chat" and .experiment != null and (.experiment | test("^(G[0-9]|AFTER|impostor)$") | not))' "$SIM_LOG_px" | wc -l)"
s=$(inv_state impostor)
t_ok "impostor: failed, or run as itself ($s)" test "$s" = failed -o "$s" = done
t_eq "impostor: G3 ran once, its records 1..4" "1 2 3 4" "$(h_cli lrange "$NS:turns:G3" 0 -1 | jq -r .turn | tr '\n' ' ' | sed 's/ $//')"
t_eq "impostor: G3 attempts 1" 1 "$(inv_field G3 attempts)"
t_eq "duplicates: G1 and $RUNNING ran one attempt each" "1 1" "$(inv_field G1 attempts) $(inv_field "$RUNNING" attempts)"
t_ok "the worker is still running" kill -0 "$WORKER_PID_px"
# ---- py ----
t_ok "py: the good experiment behind the WRONGTYPE entries ends done" h_wait 10 "[ \"\$(inv_state Y1)\" = done ]"
t_eq "py: the queue and running list drain" "0 0" "$(h_cli llen "$NS:queue:py") $(h_cli llen "$NS:running:py")"
for id in strjob wrongturns; do
  t_ok "py: $id in NS:dead" in_dead "$id"
done
n=$(grep -c . "$H_DIR/worker-py.log")
t_ok "py: the worker's log stays small ($n lines)" test "$n" -lt 200
kill -9 "$WORKER_PID_py" 2>/dev/null   # (when it spins, it must not slow the rest of the suite)
inv_check poison 17 "$SIM_LOG_px" "$SIM_LOG_py"
[ "$H_FAILS" -eq 0 ]
