#!/usr/bin/env bash
# test_fault_simfaults: every ollama-sim fault mode (500, 503, reset, garbage, eof, hang, stall)
# injected on every k-th /api/chat call (k = 3, or 4 for the slow hang and stall), one machine
# per mode, all side by side; a sweep of 3 experiments x 3 turns (one tool, 3 calls a turn) on
# each, workers with --load-timeout 1 --idle-timeout 1 so a hung or stalled stream is given up
# after a second. Every experiment must end done, each turn committed once, no committed turn
# sent again; the faults must really have been injected. Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
MODES="500 503 reset garbage eof hang stall"
logs=()
for m in $MODES; do
  k=3; case $m in hang|stall) k=4 ;; esac
  h_sim_start "f$m" --latency-ms 10 --fail-every "$k" --fail-mode "$m" || exit 1
  inv_jobs "F${m}_" 3 3 "\"tools\": [$INV_TOOL]" | h_disp submit --machines "f$m" - >/dev/null 2>&1
  h_worker_start "f$m" --load-timeout 1 --idle-timeout 1
  eval "logs+=(\"\$SIM_LOG_f$m\")"
done
t_ok "every experiment of every mode ends" h_wait 40 inv_ended
for m in $MODES; do
  eval "log=\$SIM_LOG_f$m"
  t_eq "fault $m: all 3 done" "done done done" \
    "$(for i in 1 2 3; do inv_state "F${m}_$i"; done | tr '\n' ' ' | sed 's/ $//')"
  t_ok "fault $m: the sim injected it ($(jq -c --arg m "$m" 'select(.fault == $m)' "$log" | wc -l) times)" \
    test "$(jq -c --arg m "$m" 'select(.fault == $m)' "$log" | wc -l)" -ge 4
  t_eq "fault $m: no attempt failed for it (the call retries absorbed it)" "0 0 0" \
    "$(for i in 1 2 3; do e=$(inv_field "F${m}_$i" errors); echo "${e:-0}"; done | tr '\n' ' ' | sed 's/ $//')"
done
t_eq "nothing in the dead list" 0 "$(h_cli llen "$NS:dead")"
inv_check simfaults 7 "${logs[@]}"
[ "$H_FAILS" -eq 0 ]
