#!/usr/bin/env bash
# test_fault_sickbox: a box that fails every chat call must not drain its queue into the dead
# list. Three machines with 3 experiments each (one tool, 3 calls a turn):
#   - s500: every /api/chat call answers 500 (/api/version and /api/tags fine);
#   - sreset: every /api/chat call has its connection reset;
#   - sdown: no Ollama at all at first (connection refused);
# the workers (--max-attempts 2) must open the breaker (heartbeat and log say so) or wait for
# Ollama, count no attempt, dead-letter nothing and keep the queues; then each box comes back
# healthy on its port and every experiment ends done. Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
hb() { h_cli get "$NS:worker:$1"; }
for m in s500 sreset sdown; do
  h_own_port "PORT_$m"
  up=$(echo "$m" | tr a-z A-Z)
  inv_jobs "${up}_" 3 3 "\"tools\": [$INV_TOOL]" | h_disp submit --machines "$m" - >/dev/null 2>&1
done
h_sim_on_port s500 "$PORT_s500" --fail-every 1 --fail-mode 500 || exit 1
h_sim_on_port sreset "$PORT_sreset" --fail-every 1 --fail-mode reset || exit 1
SIM_LOG_sdown=$H_DIR/sim-sdown.jsonl
for m in s500 sreset sdown; do
  eval "inv_wstart $m --machine $m --ollama http://127.0.0.1:\$PORT_$m --max-attempts 2"
done
rounds=0
for m in s500 sreset; do
  up=$(echo "$m" | tr a-z A-Z)
  t_ok "$m: the breaker opens (log)" h_wait 20 "grep -q 'fails every chat call' '$H_DIR/worker-$m.log'"
  t_ok "$m: the heartbeat shows it open" h_wait 10 "[ \"\$(hb $m | jq -r .breaker_open)\" = true ]"
  t_ok "$m: the experiment goes back first in line" \
    h_wait 10 "[ \"\$(inv_state ${up}_1)\" = queued ] && [ \"\$(h_cli lindex $NS:queue:$m -1)\" = ${up}_1 ]"
  t_eq "$m: all 3 still queued, nothing running" "3 0" "$(h_cli llen "$NS:queue:$m") $(h_cli llen "$NS:running:$m")"
  e=$(inv_field "${up}_1" errors); t_eq "$m: no attempt counted" 0 "${e:-0}"
  rounds=$((rounds + 1))
done
t_ok "sdown: the worker waits for its Ollama" h_wait 10 "grep -q 'is not answering' '$H_DIR/worker-sdown.log'"
t_eq "sdown: claims nothing" "3 0" "$(h_cli llen "$NS:queue:sdown") $(h_cli llen "$NS:running:sdown")"
rounds=$((rounds + 1))
t_eq "nothing in the dead list" 0 "$(h_cli llen "$NS:dead")"
t_eq "nothing failed" 0 "$(inv_count failed)"
for m in s500 sreset; do eval "kill -0 \$WPID_$m" && t_pass "$m: worker still running"; done

# ---- the boxes recover ----
for m in s500 sreset; do inv_sim_stop "$m"; eval "h_sim_on_port $m \$PORT_$m" || t_fail "$m back"; done
h_sim_on_port sdown "$PORT_sdown" || t_fail "sdown up"
t_ok "once healthy, everything ends" h_wait 40 inv_ended
t_eq "all 9 done" 9 "$(inv_count done)"
t_eq "still nothing in the dead list" 0 "$(h_cli llen "$NS:dead")"
for m in s500 sreset; do
  t_ok "$m: the log says the box answers again" grep -q 'answers chat calls again' "$H_DIR/worker-$m.log"
  t_eq "$m: breaker closed" false "$(hb "$m" | jq -r .breaker_open)"
done
inv_check sickbox "$rounds" "$SIM_LOG_s500" "$SIM_LOG_sreset" "$SIM_LOG_sdown"
[ "$H_FAILS" -eq 0 ]
