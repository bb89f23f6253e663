#!/usr/bin/env bash
# test_fault_sigterm: SIGTERM to a worker with experiments in flight, then a restart, over and
# over until the sweep is done. 10 experiments of 6 turns (one tool, 3 calls a turn) on machine
# m1, --slots 2, a sim with 60 ms a call. Rounds:
#   - drain: SIGTERM while both slots run: the worker exits 0 once both are requeued at their
#     turn boundary (running list empty, both queued, first in line);
#   - grace over: SIGTERM with --grace 0.2 while a slow turn runs (0.8 s calls on a second sim): the
#     turn is cut short, the worker exits 0 and the experiment is requeued;
#   - stop now: two SIGTERMs: the worker exits at once, what ran stays in the running list, and
#     the next worker takes it back;
# each followed by a fresh worker. Then one worker runs the rest. Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
h_sim_start m1 --latency-ms 60 || exit 1
h_sim_start slow --latency-ms 800 || exit 1
inv_jobs S 10 6 "\"tools\": [$INV_TOOL]" | h_disp submit --machines m1 - >/dev/null 2>&1
inv_jobs G 1 2 "\"tools\": [$INV_TOOL]" | h_disp submit --machines slow - >/dev/null 2>&1
hb_busy() { h_cli get "$NS:worker:$1" | jq -r .busy 2>/dev/null; }
W=(--machine m1 --ollama "$SIM_URL_m1" --slots 2 --max-interruptions 100)
rounds=0

# ---- drain rounds ----
for i in 1 2 3; do
  inv_wstart d$i "${W[@]}"
  eval "p=\$WPID_d$i"
  t_ok "drain $i: both slots busy" h_wait 15 "[ \"\$(hb_busy m1)\" = 2 ]"
  sleep "0.$(( RANDOM % 3 ))$(( RANDOM % 10 ))"
  run_ids=$(h_cli lrange "$NS:running:m1" 0 -1 | sort | tr '\n' ' ')
  kill -TERM "$p"; rounds=$((rounds + 1))
  inv_wait_exit "$p" 15
  t_eq "drain $i: exits 0" 0 "$RC"
  t_eq "drain $i: running list empty" 0 "$(h_cli llen "$NS:running:m1")"
  for id in $run_ids; do
    s=$(inv_state "$id")
    t_ok "drain $i: $id requeued or done ($s)" test "$s" = queued -o "$s" = done
  done
  t_eq "drain $i: lease released" 0 "$(h_cli exists "$NS:worker:m1")"
done

# ---- grace over: the running turn is cut short ----
inv_wstart g1 --machine slow --ollama "$SIM_URL_slow" --grace 0.2
t_ok "grace: G1 is calling" h_wait 15 "[ \"\$(inv_state G1)\" = running ] && [ \$(inv_chat_lines '$SIM_LOG_slow') -ge 1 ]"
kill -TERM "$WPID_g1"; rounds=$((rounds + 1))
inv_wait_exit "$WPID_g1" 10
t_eq "grace: exits 0" 0 "$RC"
t_eq "grace: G1 requeued, not in the running list" "queued 0" "$(inv_state G1) $(h_cli llen "$NS:running:slow")"
t_ok "grace: the log says the turn was cut short" grep -q 'grace period over' "$H_DIR/worker-g1.log"
inv_wstart g2 --machine slow --ollama "$SIM_URL_slow" --exit-when-idle

# ---- stop now: two signals ----
inv_wstart n1 "${W[@]}"
t_ok "stop now: both slots busy" h_wait 15 "[ \"\$(hb_busy m1)\" = 2 ]"
kill -TERM "$WPID_n1"
t_ok "stop now: the first SIGTERM starts a drain" h_wait 3 "grep -q 'claiming nothing more' '$H_DIR/worker-n1.log'"
kill -TERM "$WPID_n1"; rounds=$((rounds + 1))
inv_wait_exit "$WPID_n1" 3
t_ok "stop now: the second SIGTERM exits at once ($RC)" test "$RC" != alive
# (the drain may have finished a run between the two signals; what is left stays claimed)
t_eq "stop now: lease released" 0 "$(h_cli exists "$NS:worker:m1")"

# ---- the rest ----
inv_wstart end "${W[@]}" --exit-when-idle
inv_wait_exit "$WPID_end" 40
t_eq "the last worker exits 0 when all is done" 0 "$RC"
inv_wait_exit "$WPID_g2" 20
t_eq "G1's last worker exits 0 when done" 0 "$RC"
t_ok "everything ends" h_wait 10 inv_ended
t_eq "all 11 done" 11 "$(inv_count done)"
t_ok "the stop-now worker's experiments were taken back" grep -q 'found in the running list' "$H_DIR/worker-end.log"
inv_check sigterm "$rounds" "$SIM_LOG_m1" "$SIM_LOG_slow"
[ "$H_FAILS" -eq 0 ]
