#!/usr/bin/env bash
# test_fault_envfault: an environment (--env-cmd) that misbehaves. A small JSON Lines environment
# written here (python3) answers start, turn and tool requests, and per machine misbehaves:
#   - ecrash: on attempt 1 it exits mid-experiment (at start, at a turn prompt or at a tool
#     call, by experiment), on attempt 2 at a later turn; attempt 3 runs through (--max-attempts 3);
#   - ehang: on attempt 1 it stops answering at a tool call of turn 2 (--env-timeout 1);
#   - ebad: on attempt 1 it answers a tool call with a line that is not JSON;
#   - edoom: one experiment whose environment crashes at turn 2 on every attempt ends failed
#     after 3 attempts, with its committed turns, in NS:dead; the other one on the box ends done.
# Every other experiment ends done, resumed at its first uncommitted turn, its environment told
# so (start's "turn"); no environment process is left behind. Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
ENV=$H_DIR/env.py
cat >"$ENV" <<'PY'
# env.py MODE LOG: answers start {}, turn {}, tool {"content": ...}; misbehaves per MODE.
import json, os, sys, time
mode, log = sys.argv[1], open(sys.argv[2], "a")
attempt, exp, params = 0, "", {}

def misbehaviour(ev, turn):
    if mode == "crash":  # attempt 1: at params.where (start, or turn 2's prompt or tool); attempt 2: turn 3's tool
        if attempt == 1 and ev == params.get("where", "tool") and (ev == "start" or turn == 2):
            return "crash"
        if attempt == 2 and ev == "tool" and turn == 3:
            return "crash"
    if mode == "doom" and params.get("doom") and ev == "tool" and turn == 2:
        return "crash"
    if attempt == 1 and ev == "tool" and turn == 2:
        return {"hang": "hang", "bad": "garbage"}.get(mode)
    return None

for line in sys.stdin:
    req = json.loads(line)
    ev, turn = req["event"], req.get("turn", 0)
    if ev == "start":
        attempt, exp, params = req["attempt"], str(req["experiment"]), req.get("params") or {}
        log.write("%s start attempt %d turn %d\n" % (exp, attempt, turn)); log.flush()
    bad = misbehaviour(ev, turn)
    if bad == "crash":
        os._exit(3)
    if bad == "hang":
        time.sleep(3600)
    if bad == "garbage":
        sys.stdout.write("this is {not json\n")
    elif ev == "tool":
        sys.stdout.write(json.dumps({"content": "ok %s %d %d" % (exp, turn, req["action"])}) + "\n")
    else:
        sys.stdout.write("{}\n")
    sys.stdout.flush()
PY
EL=$H_DIR/env-calls.log
job() { # ID NTURNS PARAMS
  echo "{\"id\": \"$1\", \"model\": \"qwen3:8b\", \"turns\": $(seq 1 "$2" | jq -R . | jq -sc .), \"tools\": [$INV_TOOL], \"params\": $3}"
}
{ job C1 4 '{"where": "start"}'; job C2 4 '{"where": "turn"}'; job C3 4 '{"where": "tool"}'; job C4 4 '{}'; } |
  h_disp submit --machines ecrash - >/dev/null 2>&1
{ job H1 4 '{}'; job H2 4 '{}'; } | h_disp submit --machines ehang - >/dev/null 2>&1
{ job B1 4 '{}'; job B2 4 '{}'; } | h_disp submit --machines ebad - >/dev/null 2>&1
{ job D1 4 '{"doom": true}'; job D2 3 '{}'; } | h_disp submit --machines edoom - >/dev/null 2>&1
logs=()
for m in ecrash:crash ehang:hang ebad:bad edoom:doom; do
  mach=${m%%:*} mode=${m#*:}
  h_sim_start "$mach" --latency-ms 10 || exit 1
  h_worker_start "$mach" --env-cmd "python3 $ENV $mode $EL" --env-timeout 1 --max-attempts 3
  eval "logs+=(\"\$SIM_LOG_$mach\")"
done
t_ok "everything ends" h_wait 40 inv_ended
for id in C1 C2 C3 C4 H1 H2 B1 B2 D2; do
  t_eq "$id done" done "$(inv_state "$id")"
done
for id in C1 C2 C3; do
  t_eq "crash: $id took 3 attempts (2 failed on the environment)" "3 2" "$(inv_field "$id" attempts) $(inv_field "$id" errors)"
done
t_ok "crash: the worker says the environment exited" grep -qiE 'environment.*(exit|closed|died|crash)' "$H_DIR/worker-ecrash.log"
t_ok "crash: C3's third attempt was told to start at turn 3" grep -q '^C3 start attempt 3 turn 3$' "$EL"
t_ok "hang: the worker gave up on the environment after --env-timeout" grep -qiE 'environment.*(time|answer)' "$H_DIR/worker-ehang.log"
t_eq "hang: H1 took 2 attempts" 2 "$(inv_field H1 attempts)"
t_ok "hang: H1's second attempt started at turn 2" grep -q '^H1 start attempt 2 turn 2$' "$EL"
t_eq "bad answer: B1 took 2 attempts" 2 "$(inv_field B1 attempts)"
t_eq "doom: D1 failed" failed "$(inv_state D1)"
t_ok "doom: D1 in NS:dead" bash -c "redis-cli -p $H_REDIS_PORT lrange $NS:dead 0 -1 | grep -qx D1"
t_eq "doom: D1 after 3 attempts" 3 "$(inv_field D1 attempts)"
t_eq "doom: D1's result says failed, with its committed turn 1" "failed [1]" \
  "$(h_cli get "$NS:result:D1" | jq -r '"\(.status) \([.turns[].turn] | tojson)"')"
envprocs() { ps -eo comm=,args= | awk '$1 != "worker"' | grep -F "$ENV" | grep -vc grep; }
t_ok "no environment process left behind (a hung one is killed)" h_wait 5 '[ "$(envprocs)" = 0 ]'
inv_check envfault 9 "${logs[@]}"
[ "$H_FAILS" -eq 0 ]
