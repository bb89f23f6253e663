#!/usr/bin/env bash
# test_ops: operating on experiments: dispatcher cancel, retry, recover and what status shows of
# them (dispatcher/cancel.c, retry.c, recover.c, status.c; the worker's part in worker/run.c and
# worker/worker.c), black box with real processes (redis-server, ollama-sim boxes, workers).
# Covers:
#   - cancel of a queued experiment (no worker): queue entry gone, state cancelled, a result with
#     status cancelled holding its committed turn and totals, a cancelled event; `wait` then
#     counts it ended; cancel --all; cancel of an already cancelled one (exit 0), of a done one
#     and of an unknown id (exit 2, nothing changed); malformed ids and Redis down (exit 3);
#   - cancel of a running experiment (slow sim, many turns): "cancel requested", it ends
#     cancelled within 10 s with its committed turns in the result, and the worker serves the
#     next experiment; cancel of an id claimed by a live worker before it started (the `cancel`
#     field; the worker ends it cancelled when it loads it), and of one claimed by a machine
#     without a live worker (ended at once, out of the running list);
#   - retry of a failed experiment (a model the sim lacks fails it at once; the sim restarted with
#     the model): done; retry --failed; retry of a done one (exit 2, nothing changed); retry keeps
#     the committed turns (an env that exits at turn 3 with --max-attempts 1: records 1..2 kept;
#     the retry resumes at turn 3: records 1..5 once each, no committed turn sent again, the env
#     told turn 3 at start); retry --from-scratch drops the turns;
#   - recover: a machine with a live worker is left alone (also one whose worker was killed but
#     whose heartbeat still lives: the owner's liveness decides); after the heartbeat of a killed
#     worker expires, status lists what its machine holds, `recover` puts it back first in its
#     queue (state queued, interrupted 1, a requeued event), --dry-run writes nothing,
#     `recover --reroute` moves a dead machine's claimed (first in line) and queued (back of the
#     queue) experiments to the live machine, where they finish: result machines lists both,
#     records 1..n once each, each record's machine says where its turn ran, and the sims' logs
#     show the turns before the kill on the first box only and the later ones on the second only;
#   - status: failed section, breaker open, draining (fake heartbeats), --json held/failed;
#   - --help of the three subcommands; usage errors.
# Three namespaces keep the scenarios apart: NS (cancel running, retry), NSC (no workers: cancel
# queued, wait) and NSR (recover: its own set of machines, so the live ones are known).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE NSC=${TURNQ_NAMESPACE}c NSR=${TURNQ_NAMESPACE}r
D=$H_BIN/dispatcher
T=$H_DIR

run() { RC=0; "$D" "$@" >"$T/out" 2>"$T/err" || RC=$?; }   # output in $T/out, $T/err; status in RC
out_has() { grep -qE -- "$1" "$T/out"; }
err_has() { grep -qE -- "$1" "$T/err"; }
state() { h_cli hget "${2:-$NS}:job:$1" state; }
field() { h_cli hget "${3:-$NS}:job:$1" "$2"; }
result() { h_cli get "${2:-$NS}:result:$1"; }
turn_list() { h_cli lrange "${2:-$NS}:turns:$1" 0 -1 | jq -r .turn | tr '\n' ' ' | sed 's/ $//'; }
seq_list() { seq "$1" "$2" | tr '\n' ' ' | sed 's/ $//'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# chat_turns SIMLOG ID: the turn of each /api/chat call of ID with messages (no preload), in order.
chat_turns() { jq -r --arg e "$2" 'select(.path=="/api/chat" and .experiment==$e and (.messages // 0) > 0) | .turn' "$1" |
  tr '\n' ' ' | sed 's/ $//'; }
iso_ms() { date -u -d "$1" +%s%3N; }
jqt() { jq -e "$@" >/dev/null; }                                          # jq -e, quietly, for t_ok
alive() { [ "$(h_cli exists "$1:worker:$2")" = 1 ]; }                       # NS MACHINE
snapshot() { h_cli hgetall "${2:-$NS}:job:$1" | paste - - | sort; result "$1" "${2:-$NS}"; }
# job ID NTURNS [MODEL]: one experiment without tools (one call a turn).
job() { jq -nc --arg id "$1" --argjson n "$2" --arg m "${3:-qwen3:8b}" \
  '{id: $id, model: $m, turns: [range(1; $n + 1) | "turn \(.)"]}'; }

# ---- --help and usage ----
for sub in cancel retry recover; do
  run "$sub" --help
  t_ok "help $sub: exit 0, usage on stdout" bash -c "[ $RC = 0 ] && grep -q '^Usage: dispatcher $sub' '$T/out'"
done
run cancel
t_eq "cancel without ids: exit 2" 2 "$RC"
run retry --failed A1
t_eq "retry --failed with ids: exit 2" 2 "$RC"
run recover A1
t_eq "recover with an argument: exit 2" 2 "$RC"
run recover --to gpu1
t_eq "recover --to without --reroute: exit 2" 2 "$RC"
run --redis redis://127.0.0.1:1/0 cancel A1
t_eq "cancel with Redis down: exit 3" 3 "$RC"

# ---- the boxes ----
h_sim_start cr --latency-ms 200 --actions 0 || exit 1   # cancel a running experiment
h_sim_start fm --actions 0 || exit 1                     # retry: a model it lacks, then has
h_sim_start em --actions 0 --latency-ms 30 || exit 1     # retry: an env that exits at turn 3 once
h_sim_start cz --actions 0 || exit 1                     # cancel between claim and start
for m in ra rb rc rd; do h_sim_start "$m" --latency-ms 150 --actions 0 || exit 1; done  # recover

cat >"$T/flaky.sh" <<EOF
#!/usr/bin/env bash
# An environment that exits at its first turn-3 event (once: a marker file remembers), else {}.
while IFS= read -r line; do
  ev=\$(jq -r .event <<<"\$line"); turn=\$(jq -r '.turn // 0' <<<"\$line")
  [ "\$ev" = start ] && echo "\$line" >>"$T/em-starts"
  if [ "\$ev" = turn ] && [ "\$turn" = 3 ] && [ ! -e "$T/em-failed" ]; then touch "$T/em-failed"; exit 1; fi
  echo '{}'
done
EOF

h_worker_start ra --namespace "$NSR"
h_worker_start rb --namespace "$NSR"
h_worker_start rc --namespace "$NSR"
h_worker_start rd --namespace "$NSR"
h_worker_start cr
h_worker_start fm --max-attempts 1
h_worker_start em --max-attempts 1 --env-cmd "bash $T/flaky.sh"
for m in ra rb rc rd; do h_wait 20 "alive $NSR $m" || { t_fail "worker $m is up" "no heartbeat"; exit 1; }; done
for m in cr fm em; do h_wait 20 "alive $NS $m" || { t_fail "worker $m is up" "no heartbeat"; exit 1; }; done
t_pass "seven workers are up"

{ job K1 12; } | h_disp --namespace "$NSR" submit --machines ra - >/dev/null 2>&1
{ job K3 12; job K4 3; } | h_disp --namespace "$NSR" submit --machines rc - >/dev/null 2>&1
{ job K5 12; } | h_disp --namespace "$NSR" submit --machines rd - >/dev/null 2>&1
{ job R1 200; job R2 2; } | h_disp submit --machines cr - >/dev/null 2>&1
# a model the live box lacks: past the consistency gate with --allow-mixed-digests, to fail at run time
{ job F1 2 nope:1b; job F2 2 nope:1b; } | h_disp submit --allow-mixed-digests --machines fm - >/dev/null 2>&1
{ job E1 5; } | h_disp submit --machines em - >/dev/null 2>&1

# ---- recover, part 1: kill -9 two workers mid-experiment ----
t_ok "recover: K1, K3 and K5 past turn 2" h_wait 15 "[ \"\$(field K1 turn $NSR)\" -ge 2 ] &&
  [ \"\$(field K3 turn $NSR)\" -ge 2 ] && [ \"\$(field K5 turn $NSR)\" -ge 2 ] 2>/dev/null"
{ kill -9 "$WORKER_PID_ra" "$WORKER_PID_rc" "$WORKER_PID_rd"; wait "$WORKER_PID_ra" "$WORKER_PID_rc" "$WORKER_PID_rd"; } 2>/dev/null
t_eq "recover: K1 and K3 stay claimed by their dead workers" "K1 K3" \
  "$(h_cli lrange "$NSR:running:ra" 0 -1) $(h_cli lrange "$NSR:running:rc" 0 -1)"
run --namespace "$NSR" recover
t_eq "recover while the killed workers' heartbeats live: exit 0" 0 "$RC"
t_ok "recover: a live heartbeat means the worker owns its experiments" \
  out_has "^ra: worker alive \(pid $WORKER_PID_ra on [^)]+\): its running experiments are its own$"
t_eq "recover: nothing moved while the heartbeats live" "K1 K3 running" \
  "$(h_cli lrange "$NSR:running:ra" 0 -1) $(h_cli lrange "$NSR:running:rc" 0 -1) $(state K1 "$NSR")"

# ---- cancel a running experiment ----
t_ok "cancel running: R1 past turn 2" h_wait 15 "[ \"\$(field R1 turn)\" -ge 2 ] 2>/dev/null"
run recover --machines cr
t_ok "recover on a live machine: says so" out_has "^cr: worker alive \(pid $WORKER_PID_cr on "
t_eq "recover on a live machine: R1 still claimed and running" "R1 running" \
  "$(h_cli lrange "$NS:running:cr" 0 -1) $(state R1)"
run cancel R1
cancel_ms=$(now_ms)
t_eq "cancel running: exit 0" 0 "$RC"
t_eq "cancel running: the line" \
  "R1 running on cr: cancel requested; it stops at its next call (the worker sees it within about 5 s)" "$(cat "$T/out")"
t_eq "cancel running: the cancel field is set" 1 "$(field R1 cancel)"

# ---- cancel queued (namespace NSC: no worker) ----
{ job C1 3; job C2 2; job C3 2; job C4 1; } | h_disp --namespace "$NSC" submit --machines cq - >/dev/null 2>&1
# C1 as after an interruption: one committed turn.
h_cli rpush "$NSC:turns:C1" '{"turn":1,"stop":"answer","calls":2,"reply":"r","actions":[{"name":"t","arguments":{},"content":"ok","ms":1}],"prompt_tokens":10,"eval_tokens":4,"ms":5,"machine":"cq"}' >/dev/null
h_cli hset "$NSC:job:C1" turn 1 attempts 1 machines cq started_at 2026-01-01T00:00:00.000Z >/dev/null
xlen0=$(h_cli xlen "$NSC:events")
run --namespace "$NSC" cancel C1
t_eq "cancel queued: exit 0" 0 "$RC"
t_eq "cancel queued: the line" "C1 cancelled (was queued on cq; 1 committed turn kept in its result)" "$(cat "$T/out")"
t_eq "cancel queued: out of the queue, state cancelled" "C4 C3 C2 cancelled" \
  "$(h_cli lrange "$NSC:queue:cq" 0 -1 | tr '\n' ' ')$(state C1 "$NSC")"
t_ok "cancel queued: finished_at is ISO 8601 UTC with ms" \
  bash -c "[[ '$(field C1 finished_at "$NSC")' =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]"
R=$(result C1 "$NSC")
t_ok "cancel queued: the result" jqt --arg f "$(field C1 finished_at "$NSC")" '
  .id == "C1" and .status == "cancelled" and .machine == "cq" and .machines == ["cq"] and .model == "qwen3:8b"
  and .model_digest == null and .ollama_version == null and .attempts == 1
  and .started_at == "2026-01-01T00:00:00.000Z" and .finished_at == $f and .duration_ms == 0 and .params == {}
  and ([.turns[].turn] == [1]) and .totals == {turns: 1, calls: 2, actions: 1, prompt_tokens: 10, eval_tokens: 4}
  and .error == null' <<<"$R"
t_ok "cancel queued: the result's keys in the worker's order" jqt '[keys_unsorted[]] == ["id","status","machine",
  "machines","model","model_digest","ollama_version","attempts","started_at","finished_at","duration_ms","params",
  "turns","totals","reloads","mixed_digests","error"]' <<<"$R"
t_eq "cancel queued: one cancelled event" "$((xlen0 + 1)) C1 cancelled cq 1" \
  "$(h_cli xlen "$NSC:events") $(h_cli --raw xrevrange "$NSC:events" + - COUNT 1 | sed -n '3p;5p;7p;9p' | tr '\n' ' ' | sed 's/ $//')"
run --namespace "$NSC" cancel C1
t_eq "cancel again: exit 0, says so" "0 C1 is already cancelled" "$RC $(cat "$T/out")"
S0=$(snapshot C2 "$NSC")
run --namespace "$NSC" cancel C2 NOPE9
t_eq "cancel with an unknown id: exit 2" 2 "$RC"
t_ok "cancel with an unknown id: names it" err_has "cancel: NOPE9: unknown experiment id"
t_eq "cancel with an unknown id: nothing changed (C2 still queued)" "$S0" "$(snapshot C2 "$NSC")"
run --namespace "$NSC" cancel 'bad id!'
t_ok "cancel a malformed id: exit 2, named" bash -c "[ $RC = 2 ] && grep -q \"'bad id!' is not an experiment id\" '$T/err'"
# retry --from-scratch of the cancelled C1 (no worker: look at what it wrote).
run --namespace "$NSC" retry --from-scratch C1
t_eq "retry --from-scratch: the line" "C1 -> cq queued again (from scratch: starts at turn 1; 1 committed turn dropped)" \
  "$(cat "$T/out")"
t_eq "retry --from-scratch: queued at the back, turns and result gone, turn 0, attempts 0" "C1 queued 0 0 0 0" \
  "$(h_cli lindex "$NSC:queue:cq" 0) $(state C1 "$NSC") $(h_cli exists "$NSC:turns:C1") $(h_cli exists "$NSC:result:C1") $(field C1 turn "$NSC") $(field C1 attempts "$NSC")"
run --namespace "$NSC" cancel --all
t_eq "cancel --all: exit 0" 0 "$RC"
t_ok "cancel --all: every queued one, and a summary" out_has "^cancel: 4 cancelled, 0 cancel requested"
t_eq "cancel --all: the queue is empty" 0 "$(h_cli llen "$NSC:queue:cq")"
run --namespace "$NSC" wait --timeout 5
t_eq "wait after cancels: exit 0" 0 "$RC"
t_ok "wait counts them ended" err_has "all 4 experiments ended: 0 done, 0 failed, 4 cancelled"

# ---- cancel between claim and start; cancel on a machine without a worker ----
{ job Z1 3; } | h_disp submit --machines cz - >/dev/null 2>&1
{ job Z2 3; } | h_disp submit --machines czd - >/dev/null 2>&1
h_cli lmove "$NS:queue:cz" "$NS:running:cz" RIGHT LEFT >/dev/null   # a claim...
h_cli lmove "$NS:queue:czd" "$NS:running:czd" RIGHT LEFT >/dev/null
h_cli set "$NS:worker:cz" '{"machine":"cz","pid":1,"host":"elsewhere"}' EX 15 >/dev/null  # ...by a live worker
run cancel Z1
t_ok "cancel claimed: cancel requested" out_has "^Z1 was just claimed by cz's worker: cancel requested"
t_eq "cancel claimed: still claimed, state queued, cancel field" "Z1 queued 1" \
  "$(h_cli lrange "$NS:running:cz" 0 -1) $(state Z1) $(field Z1 cancel)"
h_cli del "$NS:worker:cz" >/dev/null
h_worker_start cz
t_ok "cancel claimed: the worker ends it cancelled as it loads it" h_wait 15 "[ \"\$(state Z1)\" = cancelled ]"
t_ok "cancel claimed: its result says cancelled, no chat call" bash -c \
  "[ \"\$(redis-cli -p $H_REDIS_PORT get $NS:result:Z1 | jq -r .status)\" = cancelled ] && [ -z \"$(chat_turns "$SIM_LOG_cz" Z1)\" ]"
run cancel Z2
t_eq "cancel claimed by a dead machine: ended at once" "Z2 cancelled (was claimed on czd, whose worker is down; no turn committed)" \
  "$(cat "$T/out")"
t_eq "cancel claimed by a dead machine: out of the running list" "0 cancelled" \
  "$(h_cli llen "$NS:running:czd") $(state Z2)"

# ---- cancel running: the outcome ----
t_ok "cancel running: R1 ends cancelled" h_wait 10 "[ \"\$(state R1)\" = cancelled ]"
t_ok "cancel running: within 10 s of the cancel" [ $(( $(iso_ms "$(field R1 finished_at)") - cancel_ms )) -le 10000 ]
R=$(result R1)
K=$(field R1 turn)
t_ok "cancel running: the result keeps its committed turns ($K)" jqt --argjson k "$K" '
  .status == "cancelled" and .error == null and ([.turns[].turn] == [range(1; $k + 1)]) and .totals.turns == $k
  and $k >= 2 and $k < 200' <<<"$R"
t_eq "cancel running: records 1..$K once each" "$(seq_list 1 "$K")" "$(turn_list R1)"
t_ok "cancel running: the worker serves the next experiment (R2 done)" h_wait 10 "[ \"\$(state R2)\" = done ]"
t_eq "cancel running: no call of R1 after R2 started" "" \
  "$(jq -r --argjson t "$(jq -r 'select(.path=="/api/chat" and .experiment=="R2") | .ts' "$SIM_LOG_cr" | head -1)" \
     'select(.path=="/api/chat" and .experiment=="R1" and .ts > $t) | .turn' "$SIM_LOG_cr")"
S0=$(snapshot R2)
run cancel R2
t_eq "cancel done: exit 2" 2 "$RC"
t_ok "cancel done: says why" err_has "R2 has already ended \(done\): nothing to cancel"
t_eq "cancel done: nothing changed" "$S0" "$(snapshot R2)"
run retry R2
t_eq "retry done: exit 2" 2 "$RC"
t_ok "retry done: names the state" err_has "R2 is done: only failed or cancelled"
t_eq "retry done: nothing changed" "$S0" "$(snapshot R2)"
run retry NOPE9
t_eq "retry unknown: exit 2" 2 "$RC"

# ---- retry a failed experiment ----
t_ok "retry: F1, F2 fail at once (model missing)" h_wait 15 "[ \"\$(state F1)\" = failed ] && [ \"\$(state F2)\" = failed ]"
t_ok "retry: F1 is in NS:dead" bash -c "redis-cli -p $H_REDIS_PORT lrange $NS:dead 0 -1 | grep -qx F1"
t_ok "retry: E1 fails at turn 3 (its env exits)" h_wait 15 "[ \"\$(state E1)\" = failed ]"
t_eq "retry: E1's committed turns 1..2 kept" "1 2" "$(turn_list E1)"
run status
t_ok "status: a failed section" out_has "^failed:$"
t_ok "status: F1 on fm after 1 attempt, with its error" \
  out_has "^  F1 on fm after 1 attempt \(errors 1, interrupted 0\): .*nope"
run status --json
t_ok "status --json: failed entries" jqt '[.failed[] | select(.id == "F1")][0] |
  .machine == "fm" and .attempts == 1 and .errors == 1 and .interrupted == 0 and (.error | test("nope"))' "$T/out"
# The sim comes back with the model, on the same port.
FM_PORT=${SIM_URL_fm##*:}
kill "$SIM_PID_fm"; wait "$SIM_PID_fm" 2>/dev/null
rm -f "$T/fm2.port"
"$H_BIN/ollama-sim" --port "$FM_PORT" --port-file "$T/fm2.port" --log "$SIM_LOG_fm" --actions 0 \
  --models qwen3:8b,nope:1b >"$T/sim-fm2.log" 2>&1 &
H_PIDS+=("$!")
h_wait 10 "[ -s '$T/fm2.port' ]" || t_fail "the fm sim restarts on port $FM_PORT"
run retry F1
t_eq "retry F1: exit 0" 0 "$RC"
t_eq "retry F1: the line" "F1 -> fm queued again (starts at turn 1)" "$(cat "$T/out")"
# (F1 may already be claimed again: only what the run does not change is checked here.)
t_eq "retry F1: out of NS:dead, errors and interrupted 0, a requeued event" "0 0 0 1" \
  "$(h_cli lrange "$NS:dead" 0 -1 | grep -cx F1) $(field F1 errors) $(field F1 interrupted) $(h_cli --raw xrange "$NS:events" - + |
     paste - - - - - - - - - | awk '$3 == "F1" && $5 == "requeued" && $7 == "fm"' | wc -l | tr -d ' ')"
t_ok "retry F1: done" h_wait 15 "[ \"\$(state F1)\" = done ]"
run retry --failed
t_eq "retry --failed: exit 0" 0 "$RC"
t_ok "retry --failed: F2 from turn 1" out_has "^F2 -> fm queued again \(starts at turn 1\)$"
t_ok "retry --failed: E1 resumes at turn 3" out_has "^E1 -> em queued again \(resumes at turn 3\)$"
t_ok "retry --failed: a summary" out_has "^retry: 2 queued again, 0 refused$"
t_ok "retry: F2 and E1 done" h_wait 15 "[ \"\$(state F2)\" = done ] && [ \"\$(state E1)\" = done ]"
t_eq "retry: E1 records 1..5 once each" "1 2 3 4 5" "$(turn_list E1)"
t_eq "retry: E1's turns each sent once (none committed sent again)" "1 2 3 4 5" "$(chat_turns "$SIM_LOG_em" E1)"
t_eq "retry: the env's second start is at turn 3" 3 "$(sed -n 2p "$T/em-starts" | jq .turn)"
t_ok "retry: E1's result: done, 5 turns" jqt '.status == "done" and .totals.turns == 5 and .error == null' <<<"$(result E1)"

# ---- fake heartbeats: breaker, draining ----
h_cli set "$NSC:worker:gb" '{"machine":"gb","pid":9,"host":"hb","version":"0","started_at":"2026-01-01T00:00:00.000Z","slots":1,"busy":0,"draining":true,"breaker_open":true,"running":[],"ollama":null}' EX 15 >/dev/null
run --namespace "$NSC" --machines gb status
t_ok "status: breaker open" out_has "^  breaker open: Ollama fails chat calls"
t_ok "status: draining" out_has "^gb: up since .*, draining$"
run --namespace "$NSC" --machines gb status --json
t_ok "status --json: breaker_open true, held []" jqt '.machines[] | select(.machine == "gb") |
  .breaker_open == true and .held == []' "$T/out"

# ---- recover, part 2: the heartbeats expire ----
t_ok "recover: the killed workers' heartbeats expire" h_wait 20 "! alive $NSR ra && ! alive $NSR rc && ! alive $NSR rd"
K1T=$(field K1 turn "$NSR") K3T=$(field K3 turn "$NSR") K5T=$(field K5 turn "$NSR")
run --namespace "$NSR" status
t_ok "status: the dead machine's held experiment" \
  out_has "^  holds 1 claimed experiment: K1 \(turn $K1T\); run 'dispatcher recover'$"
run --namespace "$NSR" status --json
t_ok "status --json: held" jqt '[.machines[] | {(.machine): .held}] | add | .ra == ["K1"] and .rc == ["K3"] and .rd == ["K5"] and .rb == []' "$T/out"
run --namespace "$NSR" cancel K5
t_eq "cancel running on a dead machine: ended at once" \
  "K5 cancelled (was running on rd, whose worker is down; $K5T committed turns kept in its result)" "$(cat "$T/out")"
t_eq "cancel running on a dead machine: out of the running list, no cancel field" "0 cancelled 0" \
  "$(h_cli llen "$NSR:running:rd") $(state K5 "$NSR") $(h_cli hexists "$NSR:job:K5" cancel)"
t_ok "cancel running on a dead machine: the result has its $K5T turns" jqt --argjson k "$K5T" \
  '.status == "cancelled" and ([.turns[].turn] == [range(1; $k + 1)]) and .machines == ["rd"]' <<<"$(result K5 "$NSR")"
xlen0=$(h_cli xlen "$NSR:events")
run --namespace "$NSR" --machines ra recover
t_eq "recover ra: exit 0" 0 "$RC"
t_ok "recover ra: the line" out_has "^K1 \(running on ra, turn $K1T committed\) -> ra, first in line$"
t_eq "recover ra: K1 first in ra's queue, out of its running list" "K1 0" \
  "$(h_cli lindex "$NSR:queue:ra" -1) $(h_cli llen "$NSR:running:ra")"
t_eq "recover ra: state queued, interrupted 1, machine ra" "queued 1 ra" \
  "$(state K1 "$NSR") $(field K1 interrupted "$NSR") $(field K1 machine "$NSR")"
t_eq "recover ra: a requeued event" "$((xlen0 + 1)) K1 requeued ra $K1T" \
  "$(h_cli xlen "$NSR:events") $(h_cli --raw xrevrange "$NSR:events" + - COUNT 1 | sed -n '3p;5p;7p;9p' | tr '\n' ' ' | sed 's/ $//')"
S0="$(h_cli lrange "$NSR:running:rc" 0 -1) $(h_cli lrange "$NSR:queue:rc" 0 -1) $(snapshot K3 "$NSR")"
run --namespace "$NSR" --machines rc recover --reroute --dry-run
t_ok "recover --dry-run: says what it would do" \
  out_has "^dry run: K3 \(running on rc, turn $K3T committed\) -> rb, first in line$"
t_eq "recover --dry-run: nothing written" "$S0" \
  "$(h_cli lrange "$NSR:running:rc" 0 -1) $(h_cli lrange "$NSR:queue:rc" 0 -1) $(snapshot K3 "$NSR")"
run --namespace "$NSR" --machines rc recover --reroute
t_eq "recover --reroute: exit 0" 0 "$RC"
t_ok "recover --reroute: K3 to rb, first in line" out_has "^K3 \(running on rc, turn $K3T committed\) -> rb, first in line$"
t_ok "recover --reroute: K4 (queued) to the back of rb's queue" out_has "^K4 \(queued on rc\) -> rb, back of the queue$"
t_eq "recover --reroute: rc's lists are empty" "0 0" "$(h_cli llen "$NSR:running:rc") $(h_cli llen "$NSR:queue:rc")"
run --namespace "$NSR" recover --reroute
t_ok "recover --reroute: K1, queued on dead ra, moves to rb too" out_has "^K1 \(queued on ra\) -> rb, back of the queue$"
t_ok "recover --reroute: rb's own worker is left alone" out_has "^rb: worker alive"
t_ok "recover --reroute: rd holds nothing now" out_has "^rd: no live worker, and nothing claimed or queued$"
t_ok "recover --reroute: K3, K4, K1 done" h_wait 20 \
  "[ \"\$(state K3 $NSR)\" = done ] && [ \"\$(state K4 $NSR)\" = done ] && [ \"\$(state K1 $NSR)\" = done ]"
for pair in "K3 rc $K3T" "K1 ra $K1T"; do
  set -- $pair; id=$1 dead=$2 c=$3
  t_eq "reroute $id: result machines [$dead, rb], machine rb" "[\"$dead\",\"rb\"] rb" \
    "$(result "$id" "$NSR" | jq -c .machines) $(result "$id" "$NSR" | jq -r .machine)"
  t_eq "reroute $id: records 1..12 once each" "$(seq_list 1 12)" "$(turn_list "$id" "$NSR")"
  t_ok "reroute $id: turns 1..$c ran on $dead, the rest on rb" jqt --argjson c "$c" --arg d "$dead" \
    '[.turns[] | .machine == (if .turn <= $c then $d else "rb" end)] | all' <<<"$(result "$id" "$NSR")"
  t_eq "reroute $id: rb's sim saw only turns $((c + 1))..12" "$(seq_list $((c + 1)) 12)" \
    "$(chat_turns "$(eval echo \$SIM_LOG_rb)" "$id")"
  top=$(chat_turns "$(eval echo \$SIM_LOG_$dead)" "$id" | tr ' ' '\n' | sort -n | tail -1)
  t_ok "reroute $id: $dead's sim saw turns up to $((c + 1)) only (saw $top)" [ "$top" -le $((c + 1)) ]
done
t_ok "reroute: K1 attempts count both starts" bash -c "[ \"$(field K1 attempts "$NSR")\" = 2 ]"
run --namespace "$NSR" recover --reroute
t_ok "recover again: nothing to move" out_has "^recover: 0 moved"

# ---- recover with nowhere to go (namespace NSX: no worker at all) ----
NSX=${NS}x
{ job X1 2; job X2 2; } | h_disp --namespace "$NSX" submit --machines dx - >/dev/null 2>&1
h_cli lmove "$NSX:queue:dx" "$NSX:running:dx" RIGHT LEFT >/dev/null   # X1 claimed, never started
S0="$(h_cli lrange "$NSX:running:dx" 0 -1) $(h_cli lrange "$NSX:queue:dx" 0 -1) $(snapshot X1 "$NSX")"
run --namespace "$NSX" --machines dx recover --reroute
t_eq "recover --reroute, no live machine: exit 2" 2 "$RC"
t_ok "recover --reroute, no live machine: says so" err_has "no live machine to reroute to"
t_eq "recover --reroute, no live machine: nothing changed" "$S0" \
  "$(h_cli lrange "$NSX:running:dx" 0 -1) $(h_cli lrange "$NSX:queue:dx" 0 -1) $(snapshot X1 "$NSX")"
run --namespace "$NSX" --machines dx recover
t_ok "recover a claim never started: first in line" out_has "^X1 \(claimed by dx, not started\) -> dx, first in line$"
t_eq "recover a claim never started: head of the queue, not counted as interrupted" "X1 0 queued" \
  "$(h_cli lindex "$NSX:queue:dx" -1) $(field X1 interrupted "$NSX") $(state X1 "$NSX")"

# ---- everything in NS has ended ----
run wait --timeout 10
t_eq "wait: all ended, none failed" 0 "$RC"
t_ok "wait: the counts" err_has "all 7 experiments ended: 4 done, 0 failed, 3 cancelled"
