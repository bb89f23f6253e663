#!/usr/bin/env bash
# test_fault_clientkill: CLIENT KILL of the workers' Redis connections, by name
# (turnq-worker-MACHINE-cmd carries everything but the claim, turnq-worker-MACHINE-claim the
# BLMOVE), over and over mid-sweep: ten rounds at random points (after a random number of
# events), each killing the cmd connection, the claim connection or both, of one machine's
# worker or of both. 12 experiments of 8 turns (one tool, 3 calls a turn) on two machines,
# --slots 2. Every experiment still ends done, each turn committed once. Ends with the
# invariant. FAULT_SEED=N replays one run's random choices.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
SEED=${FAULT_SEED:-$(( $$ ^ $(date +%s) ))}
RANDOM=$SEED
echo "seed $SEED (FAULT_SEED=$SEED replays it)"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
for m in c1 c2; do h_sim_start "$m" --latency-ms 30 || exit 1; done
inv_jobs K 12 8 "\"tools\": [$INV_TOOL]" | h_disp submit --strategy mod --machines c1,c2 - >/dev/null 2>&1
for m in c1 c2; do h_worker_start "$m" --slots 2 --max-interruptions 100; done
for m in c1 c2; do h_worker_ready "$m" || t_fail "worker $m up"; done
events() { h_cli xlen "$NS:events" 2>/dev/null || echo 0; }
# kill_named NAME...: CLIENT KILL ID of every connection with one of these names; prints how many.
kill_named() {
  local n=0 id name
  while read -r id name; do
    for want in "$@"; do
      [ "$name" = "$want" ] && h_cli client kill id "$id" >/dev/null && n=$((n + 1))
    done
  done < <(h_cli client list | sed -E 's/^id=([0-9]+) .* name=([^ ]*) .*/\1 \2/')
  echo "$n"
}
ROUNDS=10 killed=0
for i in $(seq 1 "$ROUNDS"); do
  e0=$(events); more=$(( RANDOM % 8 + 1 ))
  h_wait 10 "[ \$(events) -ge $((e0 + more)) ]" || break
  case $(( RANDOM % 2 )) in 0) ms="c1 c2" ;; *) ms="c$(( RANDOM % 2 + 1 ))" ;; esac
  names=()
  for m in $ms; do
    case $(( RANDOM % 3 )) in
      0) names+=("turnq-worker-$m-cmd") ;;
      1) names+=("turnq-worker-$m-claim") ;;
      *) names+=("turnq-worker-$m-cmd" "turnq-worker-$m-claim") ;;
    esac
  done
  n=$(kill_named "${names[@]}")
  killed=$((killed + n))
  echo "round $i: after $more events, killed $n of: ${names[*]}"
done
t_ok "connections were killed ($killed)" test "$killed" -ge "$ROUNDS"
t_ok "the workers noticed" bash -c "cat '$H_DIR'/worker-c*.log | grep -qiE 'lost|reconnect|closed'"
t_ok "everything ends" h_wait 40 inv_ended
t_eq "all 12 done" 12 "$(inv_count done)"
for m in c1 c2; do eval "kill -0 \$WORKER_PID_$m" && t_pass "worker $m still running"; done
for m in c1 c2; do
  t_ok "$m: both connections are back" h_wait 10 \
    "[ \$(h_cli client list | grep -cE 'name=turnq-worker-$m-(cmd|claim) ') = 2 ]"
done
inv_check clientkill "$ROUNDS" "$SIM_LOG_c1" "$SIM_LOG_c2"
[ "$H_FAILS" -eq 0 ]
