#!/usr/bin/env bash
# test_forget: `dispatcher forget MACHINE...` (dispatcher/forget.c), black box with redis-server,
# one ollama-sim and real workers. The story of a new user: a worker run once as gpu3 stays in
# NS:machines after it stopped, and submit without --machines keeps placing experiments there.
# Covers:
#   - forget refuses, exit 2 and nothing changed for any machine named, a machine with a live
#     worker (naming its pid and host), one whose queue holds experiments (pointing to
#     `recover --reroute`), one whose running list holds a claim, and an unknown name (a typo);
#     several machines at once: all refused when one is;
#   - after `recover --reroute` has moved gpu3's experiment to the live gpu1 (where it ends
#     done), forget gpu3: exit 0, out of NS:machines and NS:lastseen, NS:metrics:gpu3 deleted,
#     the job hash of what ran there keeps its machine; the next submit without --machines
#     places everything on gpu1 and warns about no machine; forget again: unknown, exit 2;
#   - usage: no machine, a malformed name (exit 2); Redis down (exit 3); --help.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
D=$H_BIN/dispatcher
T=$H_DIR

run() { RC=0; "$D" "$@" >"$T/out" 2>"$T/err" || RC=$?; }
has_err() { grep -qE -- "$1" "$T/err"; }
# snapshot: everything forget may touch, to check that a refusal changed nothing.
snapshot() {
  { h_cli smembers "$NS:machines" | sort; h_cli hgetall "$NS:lastseen"; h_cli hgetall "$NS:metrics:gpu3";
    h_cli lrange "$NS:queue:gpu3" 0 -1; h_cli lrange "$NS:running:gpu4" 0 -1; } 2>&1
}

h_sim_start gpu1 --actions 0 || exit 1
SIM_URL_gpu3=$SIM_URL_gpu1
h_worker_start gpu1
h_worker_start gpu3
h_worker_ready gpu1 && h_worker_ready gpu3 || { t_fail "workers up" "no heartbeat"; exit 1; }
# gpu3's worker ran once and stopped: its lease is released, its registration stays.
kill -TERM "$WORKER_PID_gpu3"
h_wait 10 "! kill -0 $WORKER_PID_gpu3 2>/dev/null" || t_fail "the gpu3 worker stops on SIGTERM"
t_eq "a stopped worker's machine stays registered" "gpu1 gpu3" "$(h_cli smembers "$NS:machines" | sort | tr '\n' ' ' | sed 's/ $//')"
h_cli hset "$NS:metrics:gpu3" turns_answer 5 >/dev/null  # counters as a worker leaves them

# ---- refusals: nothing changed ----
run forget gpu1
t_eq "a live worker: exit 2" 2 "$RC"
t_ok "a live worker: named, with its pid and host" \
  has_err "forget: gpu1 has a live worker \(pid [0-9]+ on [^)]+\): $NS:worker:gpu1 exists; stop that worker first"
t_ok "a live worker: nothing changed" has_err '^dispatcher: forget: nothing changed$'
t_eq "a live worker: still registered" 1 "$(h_cli sismember "$NS:machines" gpu1)"

# An experiment submitted without --machines lands on gpu3 (hash over gpu1, gpu3): find one.
for k in $(seq 1 40); do
  [ "$("$D" route "x$k")" = "x$k gpu3" ] && { ID=x$k; break; }
done
echo "{\"id\":\"$ID\",\"model\":\"qwen3:8b\",\"turns\":[\"a\"]}" >"$T/one.json"
run submit "$T/one.json"
t_eq "submit without --machines places on the stopped gpu3" "$ID -> gpu3 queued" "$(head -n 1 "$T/out")"
t_ok "  ... with a warning that is easy to miss" has_err 'no live worker.*gpu3|gpu3.*no live worker'
before=$(snapshot)
run forget gpu3
t_eq "a queue with experiments: exit 2" 2 "$RC"
t_ok "a queue with experiments: says what it holds and what to run" \
  has_err "forget: gpu3 still holds 1 queued and 0 claimed experiment \($NS:queue:gpu3, $NS:running:gpu3\): move them to live machines with 'dispatcher recover --reroute' first"
t_eq "a queue with experiments: nothing changed" "$before" "$(snapshot)"

# A machine without a worker whose running list holds a claim.
h_cli sadd "$NS:machines" gpu4 >/dev/null
h_cli lpush "$NS:running:gpu4" y1 >/dev/null
before=$(snapshot)
run forget gpu4
t_eq "a running list with a claim: exit 2" 2 "$RC"
t_ok "a running list with a claim: named" has_err 'forget: gpu4 still holds 0 queued and 1 claimed experiment'
run forget gpu3 gpu4 gpu9 gpu1
t_eq "several, all refused: exit 2" 2 "$RC"
t_eq "several: one line per refusal, then nothing changed" 5 "$(wc -l <"$T/err" | tr -d ' ')"
t_ok "several: the unknown one is named as such" has_err "forget: gpu9 is not a machine of namespace $NS"
t_eq "several: nothing changed" "$before" "$(snapshot)"
h_cli del "$NS:running:gpu4" >/dev/null
run forget gpu4 gpu9
t_eq "one fine, one unknown: exit 2" 2 "$RC"
t_eq "one fine, one unknown: the fine one is not forgotten either" 1 "$(h_cli sismember "$NS:machines" gpu4)"

# ---- the advice works: recover --reroute, then forget ----
run recover --reroute
t_eq "recover --reroute: exit 0" 0 "$RC"
t_ok "recover --reroute: moved the experiment to gpu1" grep -q "^$ID (queued on gpu3) -> gpu1" "$T/out"
t_ok "it ends done on gpu1" h_wait 15 "[ \"\$(h_cli hget $NS:job:$ID state)\" = done ]"
run forget gpu3 gpu4
t_eq "forget: exit 0" 0 "$RC"
t_ok "forget: one line per machine" bash -c "grep -qE '^gpu3 forgotten \\(last seen [0-9T:.-]+Z; out of $NS:machines and $NS:lastseen, $NS:metrics:gpu3 deleted\\)$' '$T/out' && grep -q '^gpu4 forgotten (never seen;' '$T/out'"
t_eq "forget: out of NS:machines" "gpu1" "$(h_cli smembers "$NS:machines" | tr '\n' ' ' | sed 's/ $//')"
t_eq "forget: out of NS:lastseen" 0 "$(h_cli hexists "$NS:lastseen" gpu3)"
t_eq "forget: its counters deleted" 0 "$(h_cli exists "$NS:metrics:gpu3")"
t_eq "forget: gpu1's counters kept" 1 "$(h_cli exists "$NS:metrics:gpu1")"
t_eq "forget: history kept (the job hash's machine)" gpu1 "$(h_cli hget "$NS:job:$ID" machine)"
# An experiment that ended on gpu3 (as one would have before it was retired) lists it no more.
h_cli hset "$NS:job:ended3" state done machine gpu3 >/dev/null; h_cli zadd "$NS:ids" 0 ended3 >/dev/null
run status
t_ok "status after forget: gpu3 not listed" bash -c "! grep -q '^gpu3' '$T/out'"
h_cli del "$NS:job:ended3" >/dev/null; h_cli zrem "$NS:ids" ended3 >/dev/null
for k in $(seq 1 8); do echo "{\"id\":\"z$k\",\"model\":\"qwen3:8b\",\"turns\":[\"a\"]}"; done >"$T/eight.jsonl"
run submit "$T/eight.jsonl"
t_eq "submit after forget: everything on the live machine" 8 "$(grep -c ' -> gpu1 queued$' "$T/out")"
t_ok "submit after forget: no warning about gpu3" bash -c "! grep -q gpu3 '$T/err'"
run forget gpu3
t_eq "forget again: unknown, exit 2" 2 "$RC"

# ---- usage ----
run forget
t_eq "no machine: exit 2" 2 "$RC"
t_ok "no machine: says so" has_err 'forget: name at least one machine'
run forget 'gpu 1'
t_eq "a malformed name: exit 2" 2 "$RC"
t_ok "a malformed name: named" has_err "forget: 'gpu 1' is not a machine name"
run forget --help
t_eq "--help: exit 0" 0 "$RC"
t_ok "--help: usage" grep -q '^Usage: dispatcher forget MACHINE' "$T/out"
run --redis "redis://127.0.0.1:$(h_free_port)/0" forget gpu3
t_eq "Redis down: exit 3" 3 "$RC"
exit $((H_FAILS > 0))
