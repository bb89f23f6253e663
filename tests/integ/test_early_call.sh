#!/usr/bin/env bash
# test_early_call: without an environment the worker sends a turn's first call as the previous
# turn's commit goes to Redis (worker/run.c, send_early), and acts on its reply only once that
# commit is acknowledged. Black box with redis-server, ollama-sim and a worker. Covers:
#   - the call really goes out before the commit lands: with Redis stopped (SIGSTOP) mid-run, the
#     sim answers a call of the next turn while the previous turn's commit waits; once Redis is
#     back the reply it held is the one used: every turn has exactly one call in the sim's log and
#     in its record, and each turn's record times it from when its call went out;
#   - a commit that fails drops the early call unread: with the experiment's attempt changed
#     under the worker (as a newer attempt would), the next commit is fenced, the early call of
#     the turn after it is dropped, the experiment resumes at the uncommitted turn and ends done
#     with every turn once and one call each;
#   - an environment turns it off (its prompt comes from the environment): no call goes out
#     before the previous turn is committed;
#   - the fault suite's invariant, which allows exactly this one turn of overlap, holds.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR

jobs() { # ID TURNS [extra members]
  printf '{"id":"%s","model":"qwen3:8b","turns":[%s]%s}\n' "$1" \
    "$(seq 1 "$2" | sed 's/.*/"t&"/' | paste -sd,)" "${3:+, $3}"
}
# commits ID: "turn ms" per committed turn, from NS:events (the stream id's ms).
commits() { inv_commits | jq -r --arg id "$1" '.[] | select(.id == $id) | "\(.turn) \(.ms)"'; }
# calls LOG ID: "turn ts" per /api/chat call of ID, in the order logged.
calls() { jq -r --arg id "$1" 'select(.path == "/api/chat" and .experiment == $id and (.messages // 0) > 0) | "\(.turn) \(.ts)"' "$2"; }
# early LOG ID: how many turns had their call answered before the previous turn was committed.
early() {
  awk 'NR == FNR {c[$1] = $2; next} ($1 - 1) in c && $2 < c[$1 - 1] {n++} END {print n + 0}' \
    <(commits "$2") <(calls "$2" "$1")
}

# ---- a held reply, used once the commit lands ----
h_sim_start a --actions 0 --latency-ms 20 || exit 1
jobs E1 60 | h_disp submit --machines a - >/dev/null
h_worker_start a -v
t_ok "E1 runs" h_wait 15 "[ \"\$(h_cli hget $NS:job:E1 turn)\" -ge 5 ]"
n0=$(calls E1 "$SIM_LOG_a" | wc -l)
kill -STOP "$H_REDIS_PID"
# Redis is stopped: the commit in flight waits, and the next turn's call is answered meanwhile;
# then nothing moves (the reply is held).
h_wait 5 "inv_stalled \"calls E1 '$SIM_LOG_a' | wc -l\""
n1=$(calls E1 "$SIM_LOG_a" | wc -l)
kill -CONT "$H_REDIS_PID"
t_ok "while Redis was stopped, the sim answered a call ($n0 -> $n1 calls)" test "$n1" -gt "$n0"
t_ok "E1 ends" h_wait 20 "[ \"\$(h_cli hget $NS:job:E1 state)\" = done ]"
t_ok "a turn's call was answered before the previous turn was committed ($(early "$SIM_LOG_a" E1) turns)" \
  test "$(early "$SIM_LOG_a" E1)" -ge 1
t_eq "E1: one call per turn in the sim's log: the held reply was used, nothing sent twice" \
  "60 60" "$(calls E1 "$SIM_LOG_a" | wc -l) $(calls E1 "$SIM_LOG_a" | cut -d' ' -f1 | sort -u | wc -l)"
res=$(h_cli get "$NS:result:E1")
t_eq "E1: 60 turn records of one call each" "60 60" \
  "$(jq -r '"\(.turns | length) \([.turns[] | select(.calls == 1)] | length)"' <<<"$res")"
t_eq "E1: no turn record counts less time than there was between its call and its commit (ms >= 0, sum <= duration)" "true" \
  "$(jq -r '([.turns[].ms] | min >= 0) and (([.turns[].ms] | add) <= .duration_ms)' <<<"$res")"
inv_check early 1 "$SIM_LOG_a"

# ---- a failed commit drops the early call ----
h_cli del "$NS:events" >/dev/null
jobs F1 40 | h_disp submit --machines a - >/dev/null
t_ok "F1 runs" h_wait 15 "[ \"\$(h_cli hget $NS:job:F1 turn)\" -ge 5 ]"
# kill -STOP keeps the worker from writing while its attempt changes under it
kill -STOP "$WORKER_PID_a"
att=$(h_cli hget "$NS:job:F1" attempts)
h_cli hset "$NS:job:F1" attempts 99 >/dev/null
kill -CONT "$WORKER_PID_a"
t_ok "the next commit is fenced" h_wait 10 "grep -q 'job=F1 not committing a turn: .*newer attempt' '$T/worker-a.log'"
t_ok "F1 resumes and ends done" h_wait 30 "[ \"\$(h_cli hget $NS:job:F1 state)\" = done ]"
res=$(h_cli get "$NS:result:F1")
t_eq "F1: 40 turn records, numbered 1..40, of one call each" "40 true 40" \
  "$(jq -r '"\(.turns | length) \([.turns[].turn] == [range(1; 41)]) \([.turns[] | select(.calls == 1)] | length)"' <<<"$res")"
t_eq "F1: attempts $att, then 99 by hand, then the resume" 100 "$(h_cli hget "$NS:job:F1" attempts)"
t_ok "F1: the worker says the early call was dropped unread" \
  grep -q 'job=F1 turn [0-9]*: its early call dropped unread' "$T/worker-a.log"
inv_check early-fenced 1 "$SIM_LOG_a"
h_cli hset "$NS:job:F1" state done >/dev/null

# ---- an environment: no early call ----
h_sim_start b --actions 0 || exit 1
h_worker_start b --env-cmd "$H_BIN/warehouse-env"
jobs G1 30 | h_disp submit --machines b - >/dev/null
t_ok "G1 (with an environment) ends done" h_wait 30 "[ \"\$(h_cli hget $NS:job:G1 state)\" = done ]"
t_eq "G1: no call went out before the previous turn was committed" 0 "$(early "$SIM_LOG_b" G1)"
t_eq "G1: 30 calls, one per turn" 30 "$(calls G1 "$SIM_LOG_b" | wc -l)"
[ "$H_FAILS" -eq 0 ]
