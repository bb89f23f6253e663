#!/usr/bin/env bash
# make demo: a real sweep on a throwaway Redis and two simulated GPU boxes.
#
# Starts redis-server on a free port, two ollama-sim boxes (gpu1, gpu2) with emulated GPU time,
# one worker beside each with the example warehouse environment, submits examples/sweep.json with
# the seed's split (--strategy mod: six experiments a box), waits, prints a table per experiment,
# the makespan next to the sum of experiment times (what one box would take), and the affinity
# proof from the simulators' own request logs. Stops everything it started.
set -eu
cd "$(dirname "$0")/.."
. tests/lib/harness.sh
export TURNQ_NAMESPACE=demo
D=$H_BIN/dispatcher
SIM_FLAGS=(--latency-ms "${DEMO_LATENCY_MS:-60}" --token-ms "${DEMO_TOKEN_MS:-3}" --load-ms 400 --actions 2)

echo "== turnq demo: 12 experiments, 2 simulated GPU boxes"
h_redis_start >/dev/null
echo "redis:   $TURNQ_REDIS (throwaway, in $H_DIR)"
for m in gpu1 gpu2; do
  h_sim_start "$m" "${SIM_FLAGS[@]}"
  eval "echo \"box $m:  ollama-sim at \$SIM_URL_$m (${SIM_FLAGS[*]})\""
  h_worker_start "$m" --env-cmd "$H_BIN/warehouse-env"
done
for m in gpu1 gpu2; do
  h_worker_ready "$m" || { echo "demo: worker $m did not come up; see $H_DIR/worker-$m.log"; tail "$H_DIR/worker-$m.log"; exit 1; }
done
echo "workers: gpu1 and gpu2 up (heartbeats in redis: $TURNQ_NAMESPACE:worker:gpu1, :gpu2)"
echo
echo "\$ dispatcher submit --strategy mod --machines gpu1,gpu2 examples/sweep.json"
"$D" submit --strategy mod --machines gpu1,gpu2 examples/sweep.json
echo
echo "\$ dispatcher wait"
"$D" wait --timeout 300
echo
"$D" status
echo
"$D" results >"$H_DIR/results.jsonl"

echo "== per experiment"
jq -rs '
  (["id","machine","turns","calls","actions","prompt_tok","eval_tok","time_s"] | @tsv),
  (.[] | [.id, .machine, .totals.turns, .totals.calls, .totals.actions, .totals.prompt_tokens,
          .totals.eval_tokens, ((.duration_ms / 100 | round) / 10)] | @tsv)' "$H_DIR/results.jsonl" |
  column -t
echo
jq -rs '
  def ms(t): (t | sub("\\.[0-9]+Z$"; "Z") | fromdate) * 1000 + (t | capture("\\.(?<f>[0-9]+)Z$").f | tonumber);
  (map(.duration_ms) | add) as $sum |
  ((map(ms(.finished_at)) | max) - (map(ms(.started_at)) | min)) as $span |
  "sum of experiment times (one box, run back to back): \($sum / 1000) s",
  "makespan on two boxes:                            \($span / 1000) s  (\(($span / $sum * 100 | round))% of the sum)"
' "$H_DIR/results.jsonl"
echo
echo "== affinity, from the simulators' request logs (every /api/chat call of an experiment on one box)"
ok=1
for id in $(jq -r '.id' "$H_DIR/results.jsonl"); do
  boxes=""
  n=0
  for m in gpu1 gpu2; do
    eval "log=\$SIM_LOG_$m"
    c=$(jq -r --arg id "$id" 'select(.path == "/api/chat" and .experiment == $id) | .experiment' "$log" | wc -l)
    [ "$c" -gt 0 ] && { boxes="$boxes $m"; n=$((n + c)); }
  done
  want=$(jq -r --arg id "$id" 'select(.id == $id) | .machine' "$H_DIR/results.jsonl")
  if [ "$(echo $boxes)" = "$want" ]; then printf '  %-4s %3d calls, all on %s\n' "$id" "$n" "$want"
  else printf '  %-4s calls on:%s (result says %s)  <-- NOT ONE BOX\n' "$id" "$boxes" "$want"; ok=0; fi
done
[ "$ok" = 1 ] && echo "affinity holds: each experiment's calls all went to one box"
echo
for m in gpu1 gpu2; do eval "kill -TERM \$WORKER_PID_$m"; done
for m in gpu1 gpu2; do eval "h_wait 10 '! kill -0 \$WORKER_PID_$m'" || true; done
echo "demo finished; now it stops everything it started, its throwaway Redis (namespace $TURNQ_NAMESPACE) too,"
echo "and removes their files."
echo "(your own sweep: README \"Your own sweep on two boxes in five minutes\"; while one runs, watch it with"
echo " bin/dispatcher watch, or look at a queue with redis-cli lrange turnq:queue:gpu1 0 -1, turnq being the"
echo " default namespace)"
[ "$ok" = 1 ]
