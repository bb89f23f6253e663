#!/usr/bin/env bash
# test_worker_faults: the worker against a sick Ollama and bad queue entries, black box
# (worker/run.c, worker/chat.c, common/http.c). Covers:
#   - every sim fault mode (500, 503, reset, garbage, eof, hang, stall) on every 3rd call: the
#     experiment still ends done, each turn committed once, and the sim log shows no committed
#     turn sent again (per turn, the successful calls equal the record's calls; no call of a turn
#     after its commit, tests/lib/invariant.sh inv_sent_again);
#   - a box where every 2nd call fails but every retry succeeds: still done (a flaky box that
#     always recovers must not fail experiments);
#   - a box failing every chat call (500 on every /api/chat, /api/version fine): a sick box must
#     never drain its queue into the dead list: the breaker opens (heartbeat and log say so), the
#     experiment goes back first in line without an attempt counted, nothing more is claimed; once
#     the box is healthy again (the sim restarted without faults) the experiment ends done;
#   - poison queue entries (no hash, a spec that is not JSON, a hash without spec, a spec that is
#     not a job, an over-long id): each ends failed in NS:dead with a reason, leaves the running
#     list, and the worker goes on to serve a good job; a done id pushed again is not re-run;
#   - an unknown model: failed at once with Ollama's message, no retries;
#   - Ollama restarted mid-run (down for longer than one attempt's retries, --max-attempts 1): an
#     unreachable Ollama says nothing about the experiment, which must resume once it is back.
# Every scenario has its own machine, sim and worker, all side by side.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR

state() { h_cli hget "$NS:job:$1" state; }
field() { h_cli hget "$NS:job:$1" "$2"; }
llen() { h_cli llen "$1"; }
ended() { local s; s=$(state "$1"); [ "$s" = done ] || [ "$s" = failed ]; }
turn_list() { h_cli lrange "$NS:turns:$1" 0 -1 | jq -r .turn | tr '\n' ' ' | sed 's/ $//'; }
in_dead() { h_cli lrange "$NS:dead" 0 -1 | grep -qxF -- "$1"; }
chat() { jq -c --arg e "$2" 'select(.path=="/api/chat" and .experiment==$e)' "$1"; } # LOG EXP
TOOL='{"type":"function","function":{"name":"probe","description":"look",
       "parameters":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}}}'
# job ID NTURNS [extra JSON members]: NTURNS turns, one tool (so 3 calls a turn with --actions 2)
job() {
  local turns; turns=$(seq 1 "$2" | jq -R . | jq -sc .)
  echo "{\"id\": \"$1\", \"model\": \"qwen3:8b\", \"turns\": $turns, \"tools\": [$TOOL]${3:+, $3}}"
}
# no_resend NAME LOG ID: the log never re-sends a committed turn.
no_resend() {
  local name=$1 log=$2 id=$3 got want
  # successful calls (200, no fault) per turn, as "turn:count"
  got=$(chat "$log" "$id" | jq -s -r 'map(select(.status==200 and .fault==null)) | group_by(.turn)
         | map("\(.[0].turn):\(length)") | join(" ")')
  want=$(h_cli lrange "$NS:turns:$id" 0 -1 | jq -s -r 'map("\(.turn):\(.calls)") | join(" ")')
  t_eq "$name: successful calls per turn = committed calls" "$want" "$got"
  t_eq "$name: no committed turn sent again in the sim log (tests/lib/invariant.sh)" "" "$(inv_sent_again "$log" "$id")"
}

# ---- start everything ----
h_own_port PR
h_sim_on_port rst "$PR" --latency-ms 100 --actions 0 || t_fail "restartable sim started"
echo "{\"id\": \"RS1\", \"model\": \"qwen3:8b\", \"turns\": $(seq 1 40 | jq -R . | jq -sc .)}" |
  h_disp submit --machines rst - >/dev/null 2>&1
h_worker_start rst --ollama "http://127.0.0.1:$PR" --max-attempts 1
MODES="500 503 reset garbage eof hang stall"
for m in $MODES; do
  h_sim_start "f$m" --fail-every 3 --fail-mode "$m" || exit 1
  job "F$m" 3 | h_disp submit --machines "f$m" - >/dev/null 2>&1
  h_worker_start "f$m" --load-timeout 1 --idle-timeout 1
done
h_sim_start flaky --fail-every 2 --fail-mode 500 --actions 6 || exit 1
job FL1 1 '"max_actions_per_turn": 8' | h_disp submit --machines flaky - >/dev/null 2>&1
h_worker_start flaky
h_own_port PF
h_sim_on_port fall "$PF" --fail-every 1 --fail-mode 500 || t_fail "always-500 sim started"
job FA1 2 | h_disp submit --machines fall - >/dev/null 2>&1
job FA2 1 | h_disp submit --machines fall - >/dev/null 2>&1
h_worker_start fall --ollama "http://127.0.0.1:$PF" --max-attempts 2
h_sim_start nomod || exit 1
echo '{"id": "NM1", "model": "nosuch:1b", "turns": ["a", "b"]}' | h_disp submit --machines nomod - >/dev/null 2>&1
job NM2 1 | h_disp submit --machines nomod - >/dev/null 2>&1
h_worker_start nomod

# Poison entries go in before the worker starts, the good job last (so it runs after them all).
h_sim_start poison || exit 1
LONG=$(printf 'P%.0s' $(seq 1 200))
h_cli lpush "$NS:queue:poison" nosuchid >/dev/null
h_cli hset "$NS:job:notjson" spec 'this is {not json' state queued machine poison >/dev/null
h_cli lpush "$NS:queue:poison" notjson >/dev/null
h_cli hset "$NS:job:nospec" state queued machine poison >/dev/null
h_cli lpush "$NS:queue:poison" nospec >/dev/null
h_cli hset "$NS:job:notajob" spec '{"id":"notajob","turns":["a"]}' state queued machine poison >/dev/null
h_cli lpush "$NS:queue:poison" notajob >/dev/null
h_cli lpush "$NS:queue:poison" "$LONG" >/dev/null
job GOOD 2 | h_disp submit --machines poison - >/dev/null 2>&1
h_worker_start poison

# ---- Ollama restarted mid-run: take it down now, bring it back at the end ----
t_ok "ollama restart: RS1 past turn 2" h_wait 15 "[ \"\$(field RS1 turn)\" -ge 2 ] 2>/dev/null"
kill -TERM "$SIM_PID_rst"
down_ms=$(( $(date +%s%N) / 1000000 ))
K_RS=$(h_cli lrange "$NS:turns:RS1" 0 -1 | wc -l | tr -d ' ')

# ---- fault modes: done, each turn once, nothing committed sent again ----
for m in $MODES; do
  id=F$m; eval "log=\$SIM_LOG_f$m"
  t_ok "fault $m: experiment ends" h_wait 30 "ended $id"
  t_eq "fault $m: done" done "$(state "$id")"
  t_eq "fault $m: turn records 1..3 once each" "1 2 3" "$(turn_list "$id")"
  t_eq "fault $m: result status done, no error" "done null" \
    "$(h_cli get "$NS:result:$id" | jq -r '"\(.status) \(.error)"')"
  t_ok "fault $m: the sim did inject faults" \
    test "$(chat "$log" "$id" | jq -s --arg m "$m" 'map(select(.fault==$m)) | length')" -ge 2
  no_resend "fault $m" "$log" "$id"
  # (a reset of a reused keep-alive connection is retried inside libcurl, unlogged: not checked)
  [ "$m" = reset ] || t_ok "fault $m: the worker logged the retries" grep -q "job=$id turn .* retry" "$T/worker-f$m.log"
  t_eq "fault $m: running list empty" 0 "$(llen "$NS:running:f$m")"
done

# ---- a flaky box whose every retry succeeds ----
t_ok "flaky: experiment ends" h_wait 40 "ended FL1"
t_eq "flaky (every 2nd call fails, every retry works): done" done "$(state FL1)"
t_eq "flaky: one attempt was enough" 1 "$(field FL1 attempts)"
t_eq "flaky: turn 1 committed with 7 calls" "1:7" \
  "$(h_cli lrange "$NS:turns:FL1" 0 -1 | jq -r '"\(.turn):\(.calls)"' | tr '\n' ' ' | sed 's/ $//')"

# ---- a box that fails every chat call ----
t_ok "always 500: the breaker opens (log)" h_wait 30 "grep -q 'fails every chat call' '$T/worker-fall.log'"
t_ok "always 500: the heartbeat shows the breaker open" \
  h_wait 10 "[ \"\$(h_cli get $NS:worker:fall | jq -r .breaker_open)\" = true ]"
t_ok "always 500: FA1 back in its queue, first in line" \
  h_wait 10 "[ \"\$(state FA1)\" = queued ] && [ \"\$(h_cli lindex $NS:queue:fall -1)\" = FA1 ]"
e=$(field FA1 errors); t_eq "always 500: no attempt counted against FA1" 0 "${e:-0}"
t_ok "always 500: not in NS:dead" bash -c "! redis-cli -p $H_REDIS_PORT lrange '$NS:dead' 0 -1 | grep -qxF FA1"
t_eq "always 500: FA2 never claimed (queue keeps both)" "2 0" "$(llen "$NS:queue:fall") $(llen "$NS:running:fall")"
t_ok "always 500: the job hash says why" bash -c "redis-cli -p $H_REDIS_PORT hget '$NS:job:FA1' error | grep -q 'fails every call'"
t_ok "always 500: worker still running" kill -0 "$WORKER_PID_fall"
# The box recovers: the sim restarted on the same port without faults.
eval "kill \$SIM_PID_fall"
h_wait 10 "! kill -0 \$SIM_PID_fall 2>/dev/null"
h_sim_on_port fall "$PF" || t_fail "always-500 sim back healthy"
t_ok "always 500: once healthy, FA1 and FA2 end" h_wait 40 "ended FA1 && ended FA2"
t_eq "always 500: both done" "done done" "$(state FA1) $(state FA2)"
t_eq "always 500: FA1 records 1..2 once each" "1 2" "$(turn_list FA1)"
t_ok "always 500: the log says the box answers again" grep -q 'answers chat calls again' "$T/worker-fall.log"
t_eq "always 500: breaker closed" false "$(h_cli get "$NS:worker:fall" | jq -r .breaker_open)"

# ---- unknown model ----
t_ok "unknown model: ends" h_wait 15 "ended NM1"
t_eq "unknown model: failed" failed "$(state NM1)"
t_ok "unknown model: in NS:dead" in_dead NM1
t_ok "unknown model: error carries Ollama's message" \
  bash -c "redis-cli -p $H_REDIS_PORT hget '$NS:job:NM1' error | grep -q \"model 'nosuch:1b' not found\""
t_ok "unknown model: error names the 404" bash -c "redis-cli -p $H_REDIS_PORT hget '$NS:job:NM1' error | grep -q 404"
t_eq "unknown model: one attempt" 1 "$(field NM1 attempts)"
n=$(chat "$SIM_LOG_nomod" NM1 | wc -l | tr -d ' ')
t_ok "unknown model: no retries (got $n /api/chat calls)" test "$n" -le 2
t_eq "unknown model: result says failed" failed "$(h_cli get "$NS:result:NM1" | jq -r .status)"
t_ok "unknown model: the next job still runs" h_wait 15 "[ \"\$(state NM2)\" = done ]"

# ---- poison entries ----
t_ok "poison: the good job after them is done" h_wait 15 "[ \"\$(state GOOD)\" = done ]"
for id in nosuchid notjson nospec notajob; do
  t_eq "poison $id: failed" failed "$(state "$id")"
  t_ok "poison $id: in NS:dead" in_dead "$id"
  t_ok "poison $id: reason in its job hash" test -n "$(field "$id" error)"
  t_eq "poison $id: result says failed" failed "$(h_cli get "$NS:result:$id" | jq -r .status 2>/dev/null)"
done
t_ok "poison nosuchid: a hash was created, naming the problem" bash -c \
  "redis-cli -p $H_REDIS_PORT hget '$NS:job:nosuchid' error | grep -qi 'no job hash'"
t_ok "poison notjson: reason says the spec does not parse" bash -c \
  "redis-cli -p $H_REDIS_PORT hget '$NS:job:notjson' error | grep -qi 'spec'"
t_ok "poison notajob: reason names the missing field" bash -c \
  "redis-cli -p $H_REDIS_PORT hget '$NS:job:notajob' error | grep -q 'model'"
long_dead() { in_dead "$LONG"; }
t_ok "poison over-long id (200 chars): listed in NS:dead as itself" long_dead
t_eq "poison over-long id (200 chars): failed, under its own key" failed "$(state "$LONG")"
t_eq "poison: running list empty (nothing stuck there)" 0 "$(llen "$NS:running:poison")"
t_eq "poison: queue empty" 0 "$(llen "$NS:queue:poison")"
t_eq "poison: no /api/chat call for any of them" 0 \
  "$(jq -c 'select(.path=="/api/chat" and .experiment!="GOOD")' "$SIM_LOG_poison" | wc -l | tr -d ' ')"
t_ok "poison: worker still running" kill -0 "$WORKER_PID_poison"

# A done experiment pushed onto the queue again is dropped, not run again.
calls0=$(chat "$SIM_LOG_poison" GOOD | wc -l | tr -d ' ')
h_cli lpush "$NS:queue:poison" GOOD >/dev/null
job AFTER 1 | h_disp submit --machines poison - >/dev/null 2>&1
t_ok "re-pushed done id: the job behind it runs" h_wait 15 "[ \"\$(state AFTER)\" = done ]"
t_eq "re-pushed done id: still done, turns unchanged" "done 1 2" "$(state GOOD) $(turn_list GOOD)"
t_eq "re-pushed done id: no new /api/chat call" "$calls0" "$(chat "$SIM_LOG_poison" GOOD | wc -l | tr -d ' ')"
t_eq "re-pushed done id: not left in the running list or queue" "0 0" \
  "$(h_cli lrange "$NS:running:poison" 0 -1 | grep -cxF GOOD) $(h_cli lrange "$NS:queue:poison" 0 -1 | grep -cxF GOOD)"

# ---- Ollama restarted, continued ----
# Down long enough: the worker's probe has seen it gone and one more beat has passed (> 5 s, more
# than one attempt's retries with backoff).
t_ok "ollama restart: heartbeat says the Ollama is gone" h_wait 10 "[ \"\$(h_cli get $NS:worker:rst | jq -c .ollama)\" = null ]"
u0=$(h_cli get "$NS:worker:rst" | jq -r .updated_at)
h_wait 8 "[ \"\$(h_cli get $NS:worker:rst | jq -r .updated_at)\" != '$u0' ]"
h_sim_on_port rst "$PR" --latency-ms 100 --actions 0 || t_fail "restartable sim back"
t_ok "ollama restart: RS1 ends" h_wait 20 "ended RS1"
t_eq "ollama restart: RS1 done, not failed by the outage" done "$(state RS1)"
t_eq "ollama restart: RS1 records 1..40 once each" "$(seq 1 40 | tr '\n' ' ' | sed 's/ $//')" "$(turn_list RS1)"
t_eq "ollama restart: resumed at its first uncommitted turn" "$((K_RS + 1))" \
  "$(chat "$T/sim-rst.jsonl" RS1 | jq -s --argjson t "$down_ms" 'map(select(.ts > $t) | .turn) | min')"

# No worker died along the way.
for m in $(printf "f%s " $MODES) flaky fall nomod poison rst; do
  eval "p=\$WORKER_PID_$m"
  t_ok "worker $m still running" kill -0 "$p"
done

[ "$H_FAILS" -eq 0 ]
