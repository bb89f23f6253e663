#!/usr/bin/env bash
# test_fault_kill9: kill -9 of a worker at random points of a sweep, many times over, then a
# restart. The 12 experiments of examples/sweep.json, their five days made eight (the warehouse
# environment, 3 calls a turn), on two machines (--strategy mod), two slots each. Twelve rounds: a worker (alternately
# gpu1's and gpu2's) is killed with SIGKILL at a random point (after a random number of further
# calls reached its sim, or a random delay after its start: during its start, mid-call, mid-tool,
# between turns, mid-commit) and started again at once. Then both run to the end. Ends with the
# invariant (tests/lib/invariant.sh): nothing lost, nothing run twice. FAULT_SEED=N replays one
# run's random choices.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
SEED=${FAULT_SEED:-$(( $$ ^ $(date +%s) ))}
RANDOM=$SEED
echo "seed $SEED (FAULT_SEED=$SEED replays it)"
h_redis_start || exit 1
ROUNDS=12
WFLAGS=(--slots 2 --env-cmd "$H_BIN/warehouse-env" --max-interruptions 100)
for m in gpu1 gpu2; do h_sim_start "$m" --latency-ms 60 || exit 1; done
jq '.defaults.turns += .defaults.turns[0:3]' "$H_ROOT/examples/sweep.json" >"$H_DIR/sweep.json"
h_disp submit --strategy mod --machines gpu1,gpu2 "$H_DIR/sweep.json" >"$H_DIR/submit.out" 2>&1
t_eq "submit: 12 queued" "12 experiments: 12 queued, 0 unchanged" "$(tail -n1 "$H_DIR/submit.out")"
start() { # MACHINE: (re)start its worker
  local m=$1 url; eval "url=\$SIM_URL_$m"
  inv_wstart "$m" --machine "$m" --ollama "$url" "${WFLAGS[@]}"
}
start gpu1; start gpu2

kills=0; T0=$(inv_now_ms)
for i in $(seq 1 "$ROUNDS"); do
  m=gpu$(( i % 2 + 1 )); eval "log=\$SIM_LOG_$m pid=\$WPID_$m"
  inv_ended && break
  if [ $(( RANDOM % 3 )) -eq 0 ]; then
    sleep "0.$(( RANDOM % 10 ))$(( RANDOM % 10 ))"          # 0 to 0.99 s after its start
    how="after a delay"
  else
    n0=$(inv_chat_lines "$log"); more=$(( RANDOM % 6 + 1 ))
    h_wait 10 "[ \$(inv_chat_lines '$log') -ge $((n0 + more)) ] || ! [ \"\$(h_cli llen $TURNQ_NAMESPACE:queue:$m)\$(h_cli llen $TURNQ_NAMESPACE:running:$m)\" != 00 ]"
    sleep "0.0$(( RANDOM % 10 ))"                             # mid-call, mid-tool or mid-commit
    how="after $more calls"
  fi
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null
  echo "round $i ($(( $(inv_now_ms) - T0 )) ms): kill -9 of $m's worker $how"
  start "$m"
done
t_ok "kill -9: $kills workers killed at random points" test "$kills" -ge 10

t_ok "after the last restart, all 12 end" h_wait 40 inv_ended
t_eq "all 12 done" 12 "$(inv_count done)"
t_ok "some experiments were interrupted and resumed" \
  test "$(for id in $(h_cli zrange "$TURNQ_NAMESPACE:ids" 0 -1); do inv_field "$id" interrupted; done | awk '{s += $1} END {print s + 0}')" -ge 1
t_ok "the workers took back what the killed ones held" \
  bash -c "cat '$H_DIR'/worker-gpu*.log | grep -q 'found in the running list'"
inv_check kill9 "$kills" "$SIM_LOG_gpu1" "$SIM_LOG_gpu2"
[ "$H_FAILS" -eq 0 ]
