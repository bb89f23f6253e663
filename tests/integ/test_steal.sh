#!/usr/bin/env bash
# test_steal: work stealing, `worker --steal` (worker/worker.c's steal script), and the queue
# order submit gives it (dispatcher/submit.c). One thief worker on gpu2 with --exit-when-idle;
# the victims' queues (gpu1, gpu3) have no worker, so every steal is the thief's, one at a time,
# and the order of the `stolen` events is the order of its choices. Covers:
#  - with estimates: each steal takes the never-started, unpinned experiment with the largest
#    estimate among the other queues (across queues: 9, 7, 5, 2, 1); the job hash then says
#    `placed` (where it was queued) and `machine` (the thief), the result `machine`/`placed`, a
#    `stolen` event names the thief; the experiment is done with all its calls on the thief's sim;
#  - never stolen: a pinned experiment (its `machine`), a started one (`attempts` 1, as a requeue
#    after a crash leaves it), one in another state: they stay in their queue, no `placed`, no
#    stolen event, the thief's sim never saw them;
#  - without estimates: the back (last entry) of the longest queue, as before;
#  - the thief's own queue first: its own experiments run before any steal;
#  - three thieves (2 slots each) on one queue of 24 at once: each experiment stolen once, done in
#    one attempt, its calls on exactly one sim, the one its job hash names (the steal is atomic).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS0=$TURNQ_NAMESPACE
T=$H_DIR

fresh() { export TURNQ_NAMESPACE="${NS0}_$1"; NS=$TURNQ_NAMESPACE; }
job() { echo "{\"id\": \"$1\", \"model\": \"qwen3:8b\", \"turns\": [\"go\"]${2:+, $2}}"; }
# stolen: "ID:THIEF" of every stolen event, oldest first.
stolen() {
  h_cli xrange "$NS:events" - + | awk '/^id$/ {getline; id=$0} /^event$/ {getline; ev=$0}
    /^machine$/ {getline; if (ev == "stolen") print id ":" $0}' | tr '\n' ' ' | sed 's/ $//'
}
# claims: the ids in the thief's sim log (first call of each), in order.
claims() { jq -r 'select(.path == "/api/chat") | .experiment' "$SIM_LOG_gpu2" | awk '!s[$0]++' | tr '\n' ' ' | sed 's/ $//'; }
f() { h_cli hget "$NS:job:$1" "$2"; }
# thief: a --steal worker for gpu2 that exits once nothing is left for it; waits for the exit.
thief() {
  "$H_BIN/worker" --machine gpu2 --ollama "$SIM_URL_gpu2" --slots 1 --steal --exit-when-idle \
    >>"$T/worker-gpu2.log" 2>&1 &
  local pid=$!
  H_PIDS+=("$pid")
  if h_wait 20 "! kill -0 $pid"; then RC=0; wait "$pid" || RC=$?; else RC=alive; fi
}

h_sim_start gpu2 --actions 0 || exit 1

# ---- with estimates ----
fresh est
{ job E5 '"estimate": 5'; job E9 '"estimate": 9'; job E2 '"estimate": 2'
  job PIN '"estimate": 50, "machine": "gpu1"'; job STARTED '"estimate": 40'; job DONE '"estimate": 30'; } >"$T/g1.jsonl"
{ job F7 '"estimate": 7'; job F1 '"estimate": 1'; } >"$T/g3.jsonl"
"$H_BIN/dispatcher" submit --machines gpu1 "$T/g1.jsonl" >"$T/s1.out" 2>&1 || echo "FAIL: submit g1: $(cat "$T/s1.out")"
"$H_BIN/dispatcher" submit --machines gpu3 "$T/g3.jsonl" >"$T/s3.out" 2>&1 || echo "FAIL: submit g3: $(cat "$T/s3.out")"
t_eq "submit: the per-machine line sums the estimates" "per machine: gpu1: 6 (estimate 136)" \
  "$(grep '^per machine' "$T/s1.out")"
t_eq "submit: gpu1's queue largest estimate first from the head" "PIN STARTED DONE E9 E5 E2" \
  "$(h_cli lrange "$NS:queue:gpu1" 0 -1 | tac | tr '\n' ' ' | sed 's/ $//')"
# STARTED: as a crashed attempt leaves it (requeued, attempts 1); DONE: a state other than queued.
h_cli hset "$NS:job:STARTED" attempts 1 >/dev/null
h_cli hset "$NS:job:DONE" state cancelled >/dev/null
h_cli sadd "$NS:machines" gpu1 gpu3 >/dev/null
thief
t_eq "with estimates: the thief exits 0 once nothing is left" 0 "$RC"
t_eq "with estimates: stolen largest first, across both queues" "E9:gpu2 F7:gpu2 E5:gpu2 E2:gpu2 F1:gpu2" "$(stolen)"
t_eq "with estimates: the thief's sim saw them in that order" "E9 F7 E5 E2 F1" "$(claims)"
t_eq "with estimates: placed / machine / state in the job hashes" \
  "gpu1/gpu2/done gpu3/gpu2/done gpu1/gpu2/done gpu1/gpu2/done gpu3/gpu2/done" \
  "$(for id in E9 F7 E5 E2 F1; do printf '%s/%s/%s ' "$(f $id placed)" "$(f $id machine)" "$(f $id state)"; done | sed 's/ $//')"
t_eq "with estimates: the result says where it ran and where it was placed" "gpu2 gpu1" \
  "$(h_cli get "$NS:result:E9" | jq -r '"\(.machine) \(.placed)"')"
t_eq "with estimates: route says where it was submitted and who took it" \
  "E9 gpu2 (submitted to gpu1, taken by gpu2's --steal worker)" "$("$H_BIN/dispatcher" route E9)"
t_ok "with estimates: the thief's log says where it stole from" \
  grep -q "job=E9 started: 1 turns, model qwen3:8b (attempt 1), stolen from gpu1" "$T/worker-gpu2.log"
t_eq "never stolen: pinned, started, not queued stay in gpu1's queue" "PIN STARTED DONE" \
  "$(h_cli lrange "$NS:queue:gpu1" 0 -1 | tac | tr '\n' ' ' | sed 's/ $//')"
t_eq "never stolen: no placed, machine still gpu1" "-/gpu1 -/gpu1 -/gpu1" \
  "$(for id in PIN STARTED DONE; do printf '%s/%s ' "$(f $id placed | sed 's/^$/-/')" "$(f $id machine)"; done | sed 's/ $//')"
t_eq "never stolen: gpu3's queue empty, the thief's running list empty" "0 0" \
  "$(h_cli llen "$NS:queue:gpu3") $(h_cli llen "$NS:running:gpu2")"

# ---- without estimates: the back of the longest queue ----
fresh noest
{ job N1; job N2; job N3; } >"$T/n1.jsonl"
job M1 >"$T/n3.jsonl"
"$H_BIN/dispatcher" submit --machines gpu1 "$T/n1.jsonl" >/dev/null 2>&1
"$H_BIN/dispatcher" submit --machines gpu3 "$T/n3.jsonl" >/dev/null 2>&1
h_cli sadd "$NS:machines" gpu1 gpu3 >/dev/null
: >"$SIM_LOG_gpu2"
thief
t_eq "no estimates: the thief exits 0" 0 "$RC"
t_eq "no estimates: first the back of the longest queue (N3), then N2" "N3:gpu2 N2:gpu2" \
  "$(stolen | cut -d' ' -f1-2)"
t_eq "no estimates: all four stolen, all done" "4 done done done done" \
  "$(stolen | wc -w | tr -d ' ') $(for id in N1 N2 N3 M1; do f $id state; done | tr '\n' ' ' | sed 's/ $//')"

# ---- its own queue first ----
fresh own
{ job O1 '"estimate": 1'; job O2 '"estimate": 1'; } >"$T/o2.jsonl"
job BIG '"estimate": 100' >"$T/o1.jsonl"
"$H_BIN/dispatcher" submit --machines gpu2 "$T/o2.jsonl" >/dev/null 2>&1
"$H_BIN/dispatcher" submit --machines gpu1 "$T/o1.jsonl" >/dev/null 2>&1
h_cli sadd "$NS:machines" gpu1 >/dev/null
: >"$SIM_LOG_gpu2"
thief
t_eq "own queue first: its own two, then the steal" "O1 O2 BIG" "$(claims)"
t_eq "own queue first: only BIG was stolen" "BIG:gpu2" "$(stolen)"

# ---- three thieves at once: each experiment stolen once, run on one machine ----
fresh race
for k in $(seq 1 24); do job "R$k" "\"estimate\": $(( (k * 7) % 5 + 1 ))"; done >"$T/race.jsonl"
"$H_BIN/dispatcher" submit --machines gpu1 "$T/race.jsonl" >/dev/null 2>&1
h_cli sadd "$NS:machines" gpu1 >/dev/null
h_sim_start gpu4 --actions 0 --latency-ms 5 || exit 1
h_sim_start gpu5 --actions 0 --latency-ms 5 || exit 1
: >"$SIM_LOG_gpu2"
tpids=()
for m in gpu2 gpu4 gpu5; do
  eval "url=\$SIM_URL_$m"
  "$H_BIN/worker" --machine "$m" --ollama "$url" --slots 2 --steal --exit-when-idle >>"$T/worker-$m.log" 2>&1 &
  H_PIDS+=("$!"); tpids+=("$!")
done
t_ok "race: the three thieves exit once all is taken" h_wait 20 "! kill -0 ${tpids[0]} && ! kill -0 ${tpids[1]} && ! kill -0 ${tpids[2]}"
t_eq "race: 24 stolen events, 24 distinct ids" "24 24" \
  "$(stolen | wc -w | tr -d ' ') $(stolen | tr ' ' '\n' | cut -d: -f1 | sort -u | wc -l | tr -d ' ')"
t_eq "race: all done, each in one attempt" "24" \
  "$(for k in $(seq 1 24); do echo "$(f "R$k" state)/$(f "R$k" attempts)"; done | grep -c '^done/1$')"
t_eq "race: each experiment's calls on exactly one sim, the one its job hash names" "" \
  "$(for m in gpu2 gpu4 gpu5; do eval "log=\$SIM_LOG_$m"; jq -r --arg m "$m" 'select(.path == "/api/chat") | "\(.experiment) \($m)"' "$log"; done |
     sort -u | awk '{n[$1]++; m[$1] = $2} END {for (k in n) if (n[k] != 1) print k}'
     for k in $(seq 1 24); do m=$(f "R$k" machine); eval "log=\$SIM_LOG_$m"; jq -se --arg e "R$k" 'any(.[]; .experiment == $e)' "$log" >/dev/null || echo "R$k"; done)"
t_eq "race: gpu1's queue empty, no running list left" "0 0 0 0" \
  "$(h_cli llen "$NS:queue:gpu1") $(h_cli llen "$NS:running:gpu2") $(h_cli llen "$NS:running:gpu4") $(h_cli llen "$NS:running:gpu5")"

exit "$H_FAILS"
