#!/usr/bin/env bash
# test_sweep: whole sweeps through the main path, black-box with real processes: redis-server,
# ollama-sim boxes (--latency-ms 20) and one worker beside each over loopback.
# Covers, for examples/sweep.json on machines gpu1,gpu2, twice in two namespaces:
#   run "hash" (default strategy; workers with --slots 2 and --env-cmd bin/warehouse-env) and
#   run "mod" (--strategy mod; workers with one slot, no environment), each on its own sims:
#  - submit exit 0, 12 lines "ID -> MACHINE queued"; hash placement equals `dispatcher route`,
#    mod placement alternates gpu1, gpu2 in input order;
#  - `dispatcher wait` exits 0; every id's state done, attempts 1, NS:ids holds the 12;
#    NS:queue:* and NS:running:* empty;
#  - `dispatcher results`: 12 lines of JSON in submission order; each result done, error null,
#    turns numbered 1..5 exactly once, totals = sums over turns, params = the merged spec's params,
#    model/version/digest as the box reports, machine = the machine submit printed;
#  - affinity from the sims' own logs: all /api/chat lines of an experiment are in exactly one
#    sim's log, the one result.machine names; per experiment and per turn the lines equal the
#    records' calls; the total equals the sum of totals.calls (no call repeated or lost); all 200;
#  - NS:events: per id exactly queued, claimed, turn 1..5, done, in that order, on its machine;
#  - job hashes: state done, turn 5, attempts 1, no error, worker = HOST:PID of its machine's
#    worker; duration_ms = finished_at - started_at >= the turns' ms >= calls x latency;
#  - slots: two experiments at once per box with --slots 2 (never more), one with --slots 1;
#    `wait` returns soon after the last one ended;
#  - `dispatcher status --json` shows 12 done (per machine and in total), nothing else;
#  - hash run: actions name the environment's tools, contents are the env's answers (no errors).
# And a sweep of our own: 8 jobs as JSON Lines with integer ids (one above 2^32), turns lists of
# 1..3 prompts, tools of our own in the job and no environment: all done, ids stay JSON numbers
# in the results, in `dispatcher results ID` and in NS:result, headers carry them as text; the
# tools alternate by call; the same affinity and count checks.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS0=$TURNQ_NAMESPACE
T=$H_DIR
SWEEP=$H_ROOT/examples/sweep.json
NSA=${NS0}_hash
NSB=${NS0}_mod

# worker_start NS MACHINE SIM [flags...]: a worker for MACHINE in namespace NS against sim SIM.
worker_start() {
  local ns=$1 m=$2 sim=$3 url; shift 3
  eval "url=\$SIM_URL_$sim"
  "$H_BIN/worker" --namespace "$ns" --machine "$m" --ollama "$url" "$@" >>"$H_DIR/worker-$sim.log" 2>&1 &
  H_PIDS+=("$!")
  WPID[$ns:$m]=$!
}
declare -A WPID
for s in a_gpu1 a_gpu2 b_gpu1 b_gpu2; do h_sim_start "$s" --latency-ms 20 || exit 1; done
worker_start "$NSA" gpu1 a_gpu1 --slots 2 --env-cmd "$H_BIN/warehouse-env"
worker_start "$NSA" gpu2 a_gpu2 --slots 2 --env-cmd "$H_BIN/warehouse-env"
worker_start "$NSB" gpu1 b_gpu1
worker_start "$NSB" gpu2 b_gpu2
for k in "$NSA:worker:gpu1" "$NSA:worker:gpu2" "$NSB:worker:gpu1" "$NSB:worker:gpu2"; do
  h_wait 20 "[ \"\$(h_cli exists $k)\" = 1 ]" || { t_fail "worker up: $k" "no heartbeat after 20 s"; exit 1; }
done
t_pass "four workers are up"

D() { "$H_BIN/dispatcher" --namespace "$NS" "$@"; }

# chatlog PREFIX: every /api/chat call of a turn in the sims PREFIXgpu1/2, tagged with its box.
chatlog() {
  local m log
  for m in gpu1 gpu2; do
    eval "log=\$SIM_LOG_$1$m"
    jq -c --arg m "$m" 'select(.path == "/api/chat" and (.messages // 0) > 0) | . + {box: $m}' "$log"
  done
}

# check_run NAME PREFIX RESULTS PLACEMENT: the run-level checks. RESULTS: the run's result lines;
# PLACEMENT: JSON object id-as-text -> machine, from submit's output. Uses $NS.
check_run() {
  local name=$1 prefix=$2 results=$3 place=$4
  chatlog "$prefix" >"$T/chat-$name.jsonl"
  local ids; ids=$(jq -c '[.id | tostring]' "$results" | jq -sc add)
  jq -c --argjson ids "$ids" 'select(.experiment as $e | $ids | index($e))' "$T/chat-$name.jsonl" >"$T/chat-$name.ids.jsonl"
  t_eq "$name: every result done, error null" "" \
    "$(jq -r 'select(.status != "done" or .error != null) | .id' "$results")"
  t_eq "$name: every result's turns numbered 1..n exactly once" "" \
    "$(jq -r 'select([.turns[].turn] != [range(1; (.turns | length) + 1)] or .totals.turns != (.turns | length)) | .id' "$results")"
  t_eq "$name: totals are the sums over turns" "" \
    "$(jq -r 'select(.totals.calls != ([.turns[].calls] | add) or .totals.actions != ([.turns[].actions | length] | add)
      or .totals.prompt_tokens != ([.turns[].prompt_tokens] | add) or .totals.eval_tokens != ([.turns[].eval_tokens] | add)) | .id' "$results")"
  t_eq "$name: result.machine is the machine submit printed, the only one it ran on" "" \
    "$(jq -r --slurpfile p "$place" 'select(.machine != $p[0][.id | tostring] or ((.machines // [.machine]) != [.machine])) | "\(.id) \(.machine)"' "$results")"
  t_eq "$name: attempts 1, model qwen3:8b, version 0.12.6, a hex digest" "" \
    "$(jq -r 'select(.attempts != 1 or .model != "qwen3:8b" or .ollama_version != "0.12.6"
      or ((.model_digest // "") | test("^[0-9a-f]{64}$") | not)) | .id' "$results")"
  t_eq "$name: affinity: each experiment's calls are all in the log of result.machine's sim" "" \
    "$(jq -nr --slurpfile r "$results" --slurpfile c "$T/chat-$name.ids.jsonl" '
      $r[] | (.id | tostring) as $id | ([$c[] | select(.experiment == $id) | .box] | unique) as $boxes
      | select($boxes != [.machine]) | "\($id): calls on \($boxes | join(",")), result says \(.machine)"')"
  t_eq "$name: calls per experiment and turn in the logs equal the records' calls" "" \
    "$(jq -nr --slurpfile r "$results" --slurpfile c "$T/chat-$name.ids.jsonl" '
      $r[] | (.id | tostring) as $id
      | ([$c[] | select(.experiment == $id)] | group_by(.turn) | map({turn: .[0].turn, n: length})) as $seen
      | select($seen != [.turns[] | {turn, n: .calls}]) | "\($id): log \($seen | tojson)"')"
  t_eq "$name: /api/chat calls in the logs = sum of totals.calls (no call repeated or lost)" \
    "$(jq -s 'map(.totals.calls) | add' "$results")" "$(wc -l <"$T/chat-$name.ids.jsonl" | tr -d ' ')"
  t_eq "$name: every call answered 200, none faulted" "" \
    "$(jq -r 'select(.status != 200 or .fault != null) | .experiment' "$T/chat-$name.ids.jsonl")"
  # events: per id "event:machine:turn", in stream order.
  h_cli --json xrange "$NS:events" - + >"$T/events-$name.json"
  t_eq "$name: NS:events: per id queued, claimed, turn 1..n, done, in order, on its machine" "" \
    "$(jq -nr --slurpfile r "$results" --slurpfile e "$T/events-$name.json" '
      [$e[0][] | .[1] | {id: .[1], ev: .[3], m: .[5], t: .[7]}] as $ev
      | $r[] | (.id | tostring) as $id | .machine as $m | (.turns | length) as $n
      | ([$ev[] | select(.id == $id) | "\(.ev):\(.m):\(.t)"]) as $seen
      | (["queued:\($m):0", "claimed:\($m):0"] + [range(1; $n + 1) | "turn:\($m):\(.)"] + ["done:\($m):\($n)"]) as $want
      | select($seen != $want) | "\($id): \($seen | join(" "))"')"
  t_eq "$name: NS:queue:* and NS:running:* are empty" 0 \
    "$( { echo 0; for k in $(h_cli --scan --pattern "$NS:queue:*") $(h_cli --scan --pattern "$NS:running:*"); do h_cli llen "$k"; done; } | paste -sd+ | bc)"
  t_eq "$name: every job hash: state done, turn n, attempts 1, no error, claimed by its machine's worker" "" \
    "$(jq -r '"\(.id) \(.machine) \(.turns | length)"' "$results" | while read -r id m n; do
        got=$(h_cli hmget "$NS:job:$id" state turn attempts error worker | paste -sd' ')
        [[ $got == "done $n 1  "*":${WPID[$NS:$m]}" ]] || echo "$id: $got"; done)"
  t_eq "$name: duration_ms = finished_at - started_at, each turn's ms >= its calls x 20 ms latency" "" \
    "$(jq -r 'def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);
      select(((.finished_at | ms) - (.started_at | ms) - .duration_ms | fabs) > 1
             or any(.turns[]; .ms < .calls * 18) or .duration_ms < ([.turns[].ms] | add)) | .id' "$results")"
}
# max_overlap RESULTS MACHINE: most experiments running at once on MACHINE, from the results.
max_overlap() {
  jq -s --arg m "$2" 'def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);
    [.[] | select(.machine == $m) | [(.started_at | ms), 1], [(.finished_at | ms), -1]] | sort_by(.[0], .[1])
    | reduce .[] as $e ({n: 0, max: 0}; .n += $e[1] | .max = ([.max, .n] | max)) | .max' "$1"
}

# submit_run NAME ARGS...: submits; writes the placement (id -> machine) to $T/place-NAME.json.
submit_run() {
  local name=$1; shift
  RC=0; D submit "$@" >"$T/submit-$name.out" 2>"$T/submit-$name.err" || RC=$?
  t_eq "$name: submit exit 0" 0 "$RC"
  grep -E '^[^ ]+ -> [^ ]+ queued$' "$T/submit-$name.out" |
    jq -Rn '[inputs | split(" ") | {key: .[0], value: .[2]}] | from_entries' >"$T/place-$name.json"
}

# ======== run "hash": examples/sweep.json, default strategy, with the warehouse environment ========
NS=$NSA
IDS=$(jq -r '.experiments[].id' "$SWEEP")
submit_run hash --machines gpu1,gpu2 "$SWEEP"
t_eq "hash: 12 placement lines" 12 "$(jq length "$T/place-hash.json")"
t_eq "hash: summary" "12 experiments: 12 queued, 0 unchanged" "$(tail -n1 "$T/submit-hash.out")"
# route after the submission names where each one is: "(submitted)", the hash's choice too.
D route --machines gpu1,gpu2 $IDS >"$T/route-hash.out"
t_eq "hash: route says each is submitted where the hash puts it" 12 "$(grep -c ' (submitted)$' "$T/route-hash.out")"
t_eq "hash: placement equals dispatcher route" \
  "$(sed 's/ (submitted)$//' "$T/route-hash.out")" "$(jq -r 'to_entries[] | "\(.key) \(.value)"' "$T/place-hash.json")"
RC=0; D wait --timeout 30 >"$T/wait-hash.out" 2>&1 || RC=$?
wait_end=$(date +%s%3N)
t_eq "hash: dispatcher wait exits 0" 0 "$RC"
RC=0; D results >"$T/results-hash.jsonl" 2>"$T/results-hash.err" || RC=$?
t_eq "hash: dispatcher results exit 0" 0 "$RC"
t_eq "hash: dispatcher results prints 12 lines" 12 "$(wc -l <"$T/results-hash.jsonl" | tr -d ' ')"
t_eq "hash: every line is one JSON object" 12 "$(jq -c 'objects' "$T/results-hash.jsonl" 2>/dev/null | wc -l | tr -d ' ')"
t_eq "hash: results in submission order" "$(echo $IDS)" "$(jq -r .id "$T/results-hash.jsonl" | paste -sd' ')"
t_eq "hash: NS:ids holds the 12" "$(echo $IDS | tr ' ' '\n' | sort | paste -sd' ')" "$(h_cli zrange "$NS:ids" 0 -1 | sort | paste -sd' ')"
t_eq "hash: every experiment has 5 turns" "" "$(jq -r 'select((.turns | length) != 5) | .id' "$T/results-hash.jsonl")"
t_eq "hash: params are the merged spec's params" "" \
  "$(while read -r line; do id=$(jq -r .id <<<"$line")
     [ "$(jq -cS .params <<<"$line")" = "$(h_cli hget "$NS:job:$id" spec | jq -cS '.params')" ] || echo "$id"; done <"$T/results-hash.jsonl")"
check_run hash a_ "$T/results-hash.jsonl" "$T/place-hash.json"
last=$(jq -rs 'def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber); map(.finished_at | ms) | max' "$T/results-hash.jsonl")
t_ok "hash: wait returned soon after the last experiment ended ($((wait_end - last)) ms; SPEC 100, allowed 1000)" \
  test $((wait_end - last)) -lt 1000
t_eq "hash: --slots 2: two experiments at once on each box, never more" "2 2" \
  "$(max_overlap "$T/results-hash.jsonl" gpu1) $(max_overlap "$T/results-hash.jsonl" gpu2)"
t_eq "hash: the calls spread over both boxes" "gpu1 gpu2" "$(jq -r .machine "$T/results-hash.jsonl" | sort -u | paste -sd' ')"
t_eq "hash: actions name the environment's tools" "check_stock restock" \
  "$(jq -r '.turns[].actions[].name' "$T/results-hash.jsonl" | sort -u | paste -sd' ')"
t_eq "hash: no action is an error of a missing environment" "" \
  "$(jq -r '.turns[].actions[] | select(.content | test("no environment")) | .name' "$T/results-hash.jsonl")"
t_ok "hash: check_stock answers are the env's stock records" \
  test "$(jq -c '.turns[].actions[] | select(.name == "check_stock") | .content | fromjson | select(has("stock") and has("unit_cost"))' "$T/results-hash.jsonl" | wc -l)" -eq 60
RC=0; D status --json >"$T/status-hash.json" 2>/dev/null || RC=$?
t_eq "hash: status --json exit 0" 0 "$RC"
t_eq "hash: status --json totals: 12 experiments, 12 done, nothing else" "12 12 0 0 0 0" \
  "$(jq -r '.totals | "\(.experiments) \(.done) \(.queued) \(.running) \(.failed) \(.cancelled)"' "$T/status-hash.json")"
t_eq "hash: status --json per machine: done adds up to 12" 12 "$(jq '[.machines[].done] | add' "$T/status-hash.json")"
t_eq "hash: status --json per machine matches the results" \
  "$(jq -r .machine "$T/results-hash.jsonl" | sort | uniq -c | awk '{print $2 ":" $1}' | paste -sd' ')" \
  "$(jq -r '.machines[] | select(.done > 0) | "\(.machine):\(.done)"' "$T/status-hash.json" | sort | paste -sd' ')"

# ======== run "mod": the same sweep, --strategy mod, another namespace, no environment ========
NS=$NSB
submit_run mod --strategy mod --machines gpu1,gpu2 "$SWEEP"
t_eq "mod: placement alternates gpu1, gpu2 in input order" \
  "$(k=0; for id in $IDS; do [ $((k % 2)) = 0 ] && m=gpu1 || m=gpu2; echo "$id $m"; k=$((k + 1)); done)" \
  "$(jq -r 'to_entries[] | "\(.key) \(.value)"' "$T/place-mod.json")"
RC=0; D wait --timeout 30 >"$T/wait-mod.out" 2>&1 || RC=$?
t_eq "mod: dispatcher wait exits 0" 0 "$RC"
D results >"$T/results-mod.jsonl" 2>/dev/null
t_eq "mod: dispatcher results prints 12 lines of JSON" "12 12" \
  "$(wc -l <"$T/results-mod.jsonl" | tr -d ' ') $(jq -c objects "$T/results-mod.jsonl" 2>/dev/null | wc -l | tr -d ' ')"
check_run mod b_ "$T/results-mod.jsonl" "$T/place-mod.json"
t_eq "mod: --slots 1: one experiment at a time on each box" "1 1" \
  "$(max_overlap "$T/results-mod.jsonl" gpu1) $(max_overlap "$T/results-mod.jsonl" gpu2)"
t_eq "mod: no tools offered: every turn 1 call, answer" "" \
  "$(jq -r 'select(any(.turns[]; .calls != 1 or .stop != "answer" or (.actions | length) != 0)) | .id' "$T/results-mod.jsonl")"
D status --json >"$T/status-mod.json" 2>/dev/null
t_eq "mod: status --json: 12 done, 6 per machine" "12 12 gpu1:6 gpu2:6" \
  "$(jq -r '"\(.totals.experiments) \(.totals.done) \([.machines[] | select(.done > 0) | "\(.machine):\(.done)"] | sort | join(" "))"' "$T/status-mod.json")"
t_eq "no worker logged an error during the two sweeps" "" \
  "$(grep -hE '^[^ ]+ worker\[[0-9]+\] E ' "$T"/worker-*.log)"
t_eq "the hash run is untouched by the mod run" 12 "$(NS=$NSA D status --json 2>/dev/null | jq .totals.done)"

# ======== our own sweep: integer ids, own tools, no environment (namespace of run "mod") ========
LOOKUP='{"type":"function","function":{"name":"lookup","description":"looks a key up","parameters":{"type":"object","properties":{"key":{"type":"string"}},"required":["key"]}}}'
ADD='{"type":"function","function":{"name":"add","description":"adds","parameters":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]}}}'
OWN_IDS="42 7 1 1000 12345678901 3 5 8"
k=0
for id in $OWN_IDS; do
  n=$((k % 3 + 1)); k=$((k + 1))
  jq -cn --argjson id "$id" --argjson n "$n" --argjson t1 "$LOOKUP" --argjson t2 "$ADD" \
    '{id: $id, model: "qwen3:8b", system: "Own sweep.", turns: [range(1; $n + 1) | "prompt \(.) of \($id)"],
      max_actions_per_turn: 4, tools: [$t1, $t2], params: {k: $id, n: $n}}'
done >"$T/own.jsonl"
submit_run own --machines gpu1,gpu2 "$T/own.jsonl"
t_eq "own: 8 queued" "8 experiments: 8 queued, 0 unchanged" "$(tail -n1 "$T/submit-own.out")"
RC=0; D wait --timeout 30 >"$T/wait-own.out" 2>&1 || RC=$?
t_eq "own: dispatcher wait exits 0" 0 "$RC"
D results $OWN_IDS >"$T/results-own.jsonl" 2>"$T/results-own.err"
t_eq "own: dispatcher results ID... prints 8 lines" 8 "$(wc -l <"$T/results-own.jsonl" | tr -d ' ')"
t_eq "own: ids stay JSON numbers, in the order named" "$(for id in $OWN_IDS; do echo "number:$id"; done | paste -sd' ')" \
  "$(jq -r '"\(.id | type):\(.id)"' "$T/results-own.jsonl" | paste -sd' ')"
t_eq "own: NS:result:ID text holds the id as a number" "" \
  "$(for id in $OWN_IDS; do h_cli get "$NS:result:$id" | grep -qE "\"id\":$id[,}]" || echo "$id"; done)"
t_eq "own: dispatcher results (all) shows the 20 of this namespace, the integer ids as numbers" "20 8" \
  "$(D results | jq -s '"\(length) \([.[] | select(.id | type == "number")] | length)"' -r)"
t_eq "own: turns lists of 1..3 prompts ran as given" "$(k=0; for id in $OWN_IDS; do echo "$id:$((k % 3 + 1))"; k=$((k + 1)); done)" \
  "$(jq -r '"\(.id):\(.turns | length)"' "$T/results-own.jsonl")"
t_eq "own: params echoed" "" "$(jq -r 'select(.params.k != .id) | .id' "$T/results-own.jsonl")"
t_eq "own: each turn calls lookup then add (the k-th call calls tool k mod 2), 3 calls, answer" "" \
  "$(jq -r 'select(any(.turns[]; ([.actions[].name] != ["lookup", "add"]) or .calls != 3 or .stop != "answer")) | .id' "$T/results-own.jsonl")"
t_eq "own: without an environment every action is answered with an error" "" \
  "$(jq -r '.turns[].actions[] | select((.content | type) != "string" or (.content | test("error"; "i") | not)) | .name' "$T/results-own.jsonl")"
# The events carry the ids as text; the checks above compare them as text.
check_run own b_ "$T/results-own.jsonl" "$T/place-own.json"
t_eq "own: the sims saw X-Turnq-Experiment 12345678901 exactly" 1 \
  "$(jq -r 'select(.experiment == "12345678901") | .experiment' "$T/chat-own.ids.jsonl" | sort -u | wc -l | tr -d ' ')"

[ "$H_FAILS" -eq 0 ]
