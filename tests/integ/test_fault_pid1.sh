#!/usr/bin/env bash
# test_fault_pid1: the worker as PID 1 of its own PID namespace (as in a container without an
# init), started with `unshare --pid --fork --mount-proc` (util-linux; not as root, inside a user
# namespace too). SKIP: when unshare is not permitted here.
#   - SIGTERM to it (PID 1 ignores signals it has no handler for) with experiments in flight: it
#     exits 0, its running experiments are requeued, the lease is released, and a later worker
#     (an ordinary process) finishes them;
#   - the lease across PID namespaces: an ordinary worker holds machine p2 and runs; a second
#     worker for p2 started as PID 1 of a fresh namespace (same host, same boot) cannot see the
#     holder's pid, and must still wait rather than take the machine from a live worker: no call
#     reaches its sim while the first one runs. Then a worker as PID 1 holds machine p3 and a
#     second one as PID 1 in another namespace starts: it must wait too (its own pid is 1, like
#     the holder's).
# Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
# As root, a PID namespace needs nothing else; otherwise try inside a user namespace.
UNSHARE=(unshare --pid --fork --mount-proc)
if ! why=$("${UNSHARE[@]}" true 2>&1); then
  UNSHARE=(unshare --user --map-root-user --pid --fork --mount-proc)
  if ! why2=$("${UNSHARE[@]}" true 2>&1); then
    echo "SKIP: test_fault_pid1: unshare --pid --fork --mount-proc is not permitted here: $why (with --user --map-root-user: $why2)"
    exit 0
  fi
fi
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
# ns_worker TAG ARGS...: a worker as PID 1 of a new PID namespace. UPID_TAG is the unshare
# process (whose exit status is the worker's), WPID_TAG the worker as seen from here.
ns_worker() {
  local tag=$1 u; shift
  "${UNSHARE[@]}" "$H_BIN/worker" "$@" >>"$H_DIR/worker-$tag.log" 2>&1 &
  u=$!
  H_PIDS+=("$u")
  eval "UPID_$tag=$u"
  h_wait 5 "[ -n \"\$(cat /proc/$u/task/$u/children 2>/dev/null)\" ]"
  eval "WPID_$tag=$(cat "/proc/$u/task/$u/children" 2>/dev/null | tr -d ' ')"
  H_PIDS+=("$(eval "echo \$WPID_$tag")")
}
hb() { h_cli get "$NS:worker:$1"; }
rounds=0

h_sim_start p1 --latency-ms 60 || exit 1
inv_jobs P 6 6 "\"tools\": [$INV_TOOL]" | h_disp submit --machines p1 - >/dev/null 2>&1

# ---- SIGTERM to PID 1 ----
ns_worker a --machine p1 --ollama "$SIM_URL_p1" --slots 2
t_ok "pid1: the worker runs as PID 1 (its heartbeat says pid 1)" h_wait 15 "[ \"\$(hb p1 | jq .pid)\" = 1 ]"
t_ok "pid1: both slots busy" h_wait 15 "[ \"\$(hb p1 | jq .busy)\" = 2 ]"
run_ids=$(h_cli lrange "$NS:running:p1" 0 -1 | tr '\n' ' ')
kill -TERM "$WPID_a"; rounds=$((rounds + 1))
inv_wait_exit "$UPID_a" 15
t_eq "pid1: SIGTERM: the worker (PID 1) exits 0" 0 "$RC"
t_eq "pid1: running list empty" 0 "$(h_cli llen "$NS:running:p1")"
for id in $run_ids; do
  s=$(inv_state "$id"); t_ok "pid1: $id requeued ($s)" test "$s" = queued -o "$s" = done
done
t_eq "pid1: lease released" 0 "$(h_cli exists "$NS:worker:p1")"
t_ok "pid1: it stopped claiming and left" grep -q 'claiming nothing more' "$H_DIR/worker-a.log"
inv_wstart b --machine p1 --ollama "$SIM_URL_p1" --slots 2 --exit-when-idle

# ---- the lease across PID namespaces ----
h_sim_start p2a --latency-ms 60 --actions 0 || exit 1
h_sim_start p2b --latency-ms 60 --actions 0 || exit 1
inv_jobs Q 4 20 | h_disp submit --machines p2 - >/dev/null 2>&1
inv_wstart q1 --machine p2 --ollama "$SIM_URL_p2a"
t_ok "lease: the ordinary worker holds p2 and runs" h_wait 15 "[ \$(inv_chat_lines '$SIM_LOG_p2a') -ge 3 ]"
ns_worker q2 --machine p2 --ollama "$SIM_URL_p2b"; rounds=$((rounds + 1))
t_ok "lease: the PID 1 worker says who holds p2" \
  h_wait 8 "grep -q 'held by another worker (pid $WPID_q1' '$H_DIR/worker-q2.log'"
sleep 1 # a beat of the waiting worker has passed (it beats every 5 s, the first at once)
t_eq "lease: while the holder lives, no call reaches the PID 1 worker's sim" 0 "$(inv_chat_lines "$SIM_LOG_p2b")"
t_eq "lease: the heartbeat is still the holder's" "$WPID_q1" "$(hb p2 | jq .pid)"

h_sim_start p3a --latency-ms 60 --actions 0 || exit 1
h_sim_start p3b --latency-ms 60 --actions 0 || exit 1
inv_jobs R 3 20 | h_disp submit --machines p3 - >/dev/null 2>&1
ns_worker r1 --machine p3 --ollama "$SIM_URL_p3a"
t_ok "lease: a PID 1 worker holds p3 and runs" h_wait 15 "[ \$(inv_chat_lines '$SIM_LOG_p3a') -ge 3 ]"
ns_worker r2 --machine p3 --ollama "$SIM_URL_p3b"; rounds=$((rounds + 1))
t_ok "lease: a second PID 1 worker (another namespace) says who holds p3" \
  h_wait 8 "grep -q 'held by another worker (pid 1 ' '$H_DIR/worker-r2.log'"
sleep 1
t_eq "lease: while the holder lives, no call reaches the second PID 1 worker's sim" 0 "$(inv_chat_lines "$SIM_LOG_p3b")"

# ---- the end: everything finishes (holders stopped cleanly so the waiting ones take over) ----
kill -TERM "$WPID_q1" "$WPID_r1"
inv_wait_exit "$WPID_b" 30
t_eq "pid1: the later worker finishes P and exits 0" 0 "$RC"
t_ok "everything ends" h_wait 40 inv_ended
t_eq "all 13 done" 13 "$(inv_count done)"
kill -TERM "$WPID_q2" "$WPID_r2" 2>/dev/null
inv_check pid1 "$rounds" "$SIM_LOG_p1" "$SIM_LOG_p2a" "$SIM_LOG_p2b" "$SIM_LOG_p3a" "$SIM_LOG_p3b"
[ "$H_FAILS" -eq 0 ]
