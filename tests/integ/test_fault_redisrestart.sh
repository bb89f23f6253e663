#!/usr/bin/env bash
# test_fault_redisrestart: Redis killed (SIGKILL) mid-sweep and started again on the same port
# from the same config and dir, with `appendonly yes` and `appendfsync always`, so what it
# acknowledged survives. 12 experiments of 6 turns (one tool, 3 calls a turn) on two machines,
# --slots 2. Five rounds at random points (after a random number of committed turns), Redis
# down for a random 0-1.5 s each time. The workers reconnect by themselves and everything
# finishes. Ends with the invariant. FAULT_SEED=N replays one run's random choices.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
SEED=${FAULT_SEED:-$(( $$ ^ $(date +%s) ))}
RANDOM=$SEED
echo "seed $SEED (FAULT_SEED=$SEED replays it)"
H_REDIS_EXTRA=$'appendonly yes\nappendfsync always'
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
t_eq "redis: AOF on" "appendonly yes" "$(h_cli config get appendonly | tr '\n' ' ' | sed 's/ $//')"
for m in r1 r2; do h_sim_start "$m" --latency-ms 30 || exit 1; done
inv_jobs A 12 6 "\"tools\": [$INV_TOOL]" | h_disp submit --strategy mod --machines r1,r2 - >/dev/null 2>&1
for m in r1 r2; do h_worker_start "$m" --slots 2 --max-interruptions 100; done
commits() { h_cli xlen "$NS:events" 2>/dev/null || echo 0; }
ROUNDS=5
for i in $(seq 1 "$ROUNDS"); do
  e0=$(commits); more=$(( RANDOM % 12 + 3 ))
  h_wait 20 "[ \$(commits) -ge $((e0 + more)) ]" || t_fail "round $i: progress before the kill"
  kill -9 "$H_REDIS_PID"; wait "$H_REDIS_PID" 2>/dev/null
  down="$(( RANDOM % 2 )).$(( RANDOM % 10 ))"
  [ "$down" = 1.9 ] && down=1.5
  echo "round $i: redis killed after $more more events, down ${down}s"
  sleep "$down"
  t_ok "round $i: redis back on port $H_REDIS_PORT" inv_redis_restart
  t_eq "round $i: the 12 ids survived" 12 "$(h_cli zcard "$NS:ids")"
done
t_ok "the workers reconnected" bash -c "grep -qiE 'lost|reconnect' '$H_DIR'/worker-r1.log"
t_ok "everything ends" h_wait 40 inv_ended
t_eq "all 12 done" 12 "$(inv_count done)"
for m in r1 r2; do eval "kill -0 \$WORKER_PID_$m" && t_pass "worker $m still running"; done
inv_check redisrestart "$ROUNDS" "$SIM_LOG_r1" "$SIM_LOG_r2"
[ "$H_FAILS" -eq 0 ]
