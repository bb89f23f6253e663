#!/usr/bin/env bash
# test_stop_now: a second SIGTERM ("stop now") while turns' commits wait on a stopped Redis. The
# commits are answered once Redis is back, each run then sends its requeue, and the lease's
# release (sent with the second signal) is answered in the same read: the loop stops with those
# requeues still in flight. Freeing the worker answers them (NULL, from rconn_free) into their
# runs, which must still exist then (before the fix: a heap-use-after-free in abandon, which the
# harness reports under make asan). Covers: the worker exits 0 in time, the experiments stay in
# the running list and a new worker ends them done, and the fault suite's invariant holds.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
h_sim_start a --actions 0 --latency-ms 5 || exit 1
inv_jobs S 2 40 | h_disp submit --machines a - >/dev/null 2>&1
inv_wstart a --machine a --ollama "$SIM_URL_a" -v --slots 2 --grace 30
t_ok "both run" h_wait 15 "[ \"\$(inv_field S1 turn)\" -ge 3 ] && [ \"\$(inv_field S2 turn)\" -ge 3 ]"
kill -STOP "$H_REDIS_PID"
# Redis is stopped: each run's commit waits (and its next turn's early call is answered, held).
h_wait 5 "inv_stalled \"inv_chat_lines '$SIM_LOG_a'\""
kill -TERM "$WPID_a"
t_ok "the first SIGTERM: stopping at the turn boundary" h_wait 5 "grep -q 'stopping: claiming nothing more' '$H_DIR/worker-a.log'"
kill -TERM "$WPID_a"
t_ok "the second SIGTERM: stopping now" h_wait 5 "grep -q 'stopping now' '$H_DIR/worker-a.log'"
kill -CONT "$H_REDIS_PID"
inv_wait_exit "$WPID_a" 15
t_eq "the worker exits 0 once Redis answers" 0 "$RC"
t_eq "both stay running (in the running list) for the next worker" "running running" "$(inv_state S1) $(inv_state S2)"
inv_wstart b --machine a --ollama "$SIM_URL_a" --slots 2 --exit-when-idle
t_ok "a new worker ends both" h_wait 30 inv_ended
t_eq "both done" "done done" "$(inv_state S1) $(inv_state S2)"
inv_check stop-now 1 "$SIM_LOG_a"
[ "$H_FAILS" -eq 0 ]
