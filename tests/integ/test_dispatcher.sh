#!/usr/bin/env bash
# test_dispatcher: the dispatcher's read and follow commands against a throwaway Redis, with the
# worker's part played by redis-cli (dispatcher/route.c, results.c, wait.c, status.c, main.c).
# Covers: route is stable and order-independent and writes nothing; for a submitted id it names
# where it is (and the hash's choice when different); with --machines it works without Redis; results for unended jobs
# (typed ids, submission order), for ended ones (the stored result on one line), unknown ids;
# wait --timeout on a queued job; wait returning promptly after the last event; wait exit 1 on
# a failure; wait --sweep FILE and wait ID... (only those ids; never-submitted ids exit 2; an
# edited file warns); wait with nothing submitted; status text and --json shape with fake heartbeats
# (alive, down since lastseen, never seen, digest mismatch); --help of every subcommand;
# -V; Redis down.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
. "$(dirname "$0")/../lib/cli.sh"

has_err() { grep -qE -- "$1" "$T/err"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# ended ID STATE [ERROR]: what a worker does when an experiment ends.
ended() {
  h_cli hset "$NS:job:$1" state "$2" ${3:+error "$3"} >/dev/null
  h_cli xadd "$NS:events" '*' id "$1" event "$2" machine gpu1 turn 1 >/dev/null
}
xread_blocked() { h_cli client list | grep -q 'cmd=xread'; }

# ---- --help, -V ----
for sub in submit route status results wait; do
  run "$sub" --help
  t_eq "help $sub: exit 0" 0 "$RC"
  t_ok "help $sub: usage on stdout" grep -q "^Usage: dispatcher $sub" "$T/out"
  t_eq "help $sub: nothing on stderr" "" "$(cat "$T/err")"
done
run --help
t_eq "help: exit 0" 0 "$RC"
t_ok "help: lists the commands" bash -c "grep -q '^  submit' '$T/out' && grep -q '^  wait' '$T/out'"
run --help submit
t_ok "help: before the subcommand too" grep -q '^Usage: dispatcher submit' "$T/out"
run -V
t_eq "version: exit 0" 0 "$RC"
t_ok "version: prints it" grep -qE '^dispatcher [^ ]+$' "$T/out"
run
t_eq "no command: exit 2" 2 "$RC"
run frobnicate
t_eq "unknown command: exit 2" 2 "$RC"
t_ok "unknown command: named" has_err "unknown command 'frobnicate'"
run submit --forse x.json
t_eq "unknown flag: exit 2" 2 "$RC"
t_eq "unknown flag: one line, the closest flag, the help once" \
  "dispatcher: unknown flag '--forse'; did you mean --force? (see dispatcher submit --help)" "$(cat "$T/err")"
run --bogus
t_eq "unknown flag, no command: no suggestion" "dispatcher: unknown flag '--bogus' (see dispatcher --help)" "$(cat "$T/err")"

# ---- route ----
fresh route
run route --machines gpu1,gpu2,gpu3 A1 A2 B7 42
t_eq "route: exit 0" 0 "$RC"
t_ok "route: ID MACHINE lines" bash -c "[ \$(grep -cE '^(A1|A2|B7|42) gpu[123]$' '$T/out') = 4 ]"
cp "$T/out" "$T/route1"
run route A1 A2 B7 42 --machines gpu3,gpu1,gpu2
t_eq "route: independent of machine order" "$(cat "$T/route1")" "$(cat "$T/out")"
run --machines gpu1,gpu2,gpu3 route A1 A2 B7 42
t_eq "route: flags before the subcommand" "$(cat "$T/route1")" "$(cat "$T/out")"
h_cli sadd "$NS:machines" gpu2 gpu3 gpu1 >/dev/null
run route A1 A2 B7 42
t_eq "route: machines from NS:machines" "$(cat "$T/route1")" "$(cat "$T/out")"
t_eq "route: wrote nothing" 1 "$(nkeys)"
# route and submit agree
echo '[{"id":"A1","model":"m","turns":["a"]},{"id":"A2","model":"m","turns":["a"]},{"id":"B7","model":"m","turns":["a"]},{"id":42,"model":"m","turns":["a"]}]' >"$T/route.json"
run submit --dry-run --machines gpu1,gpu2,gpu3 "$T/route.json"
t_eq "route: agrees with submit" "$(cat "$T/route1")" "$(sed -n '1,4s/ -> / /; 1,4s/ would be queued//p' "$T/out")"
run route --machines gpu1 'bad id'
t_eq "route: bad id exit 2" 2 "$RC"
# A submitted id: where it is, and what the hash would say when that differs. A1 is pinned to a
# machine the hash does not pick; A2 goes where the hash puts it; B7 and 42 stay unsubmitted.
h1=$(awk '$1 == "A1" {print $2}' "$T/route1"); h2=$(awk '$1 == "A2" {print $2}' "$T/route1")
pin=gpu1; [ "$h1" = gpu1 ] && pin=gpu2
printf '{"id":"A1","model":"m","turns":["a"],"machine":"%s"}\n{"id":"A2","model":"m","turns":["a"]}\n' "$pin" >"$T/route2.jsonl"
run submit --machines gpu1,gpu2,gpu3 "$T/route2.jsonl"
run route A1 A2 B7 42
t_eq "route: exit 0 with submitted ids" 0 "$RC"
t_eq "route: a submitted id placed elsewhere: where it is, and the hash's choice" \
  "A1 $pin (submitted; hash would give $h1)" "$(sed -n 1p "$T/out")"
t_eq "route: a submitted id where the hash put it" "A2 $h2 (submitted)" "$(sed -n 2p "$T/out")"
t_eq "route: ids not submitted: the plain hash lines" "$(sed -n 3,4p "$T/route1")" "$(sed -n 3,4p "$T/out")"
# --machines without Redis: the hash's choice, and one warning.
run --redis "redis://127.0.0.1:$(h_free_port)/0" route --machines gpu1,gpu2,gpu3 A1 A2 B7 42
t_eq "route --machines, Redis down: exit 0" 0 "$RC"
t_eq "route --machines, Redis down: the hash's choice" "$(cat "$T/route1")" "$(cat "$T/out")"
t_ok "route --machines, Redis down: one warning" bash -c "[ \$(wc -l <'$T/err') = 1 ] && grep -q 'warning: route: cannot reach Redis' '$T/err'"
fresh route_none
run route A1
t_eq "route: no machines exit 2" 2 "$RC"
# No machine registered, but the id is submitted (pinned): where it is.
echo '{"id":"P1","model":"m","turns":["a"],"machine":"gpu5"}' >"$T/route3.json"
run submit "$T/route3.json"
run route P1
t_eq "route: no machines, a submitted id: exit 0" 0 "$RC"
t_eq "route: no machines, a submitted id: where it is" "P1 gpu5 (submitted; no machines for the hash)" "$(cat "$T/out")"

# ---- results ----
fresh results
cat >"$T/res.json" <<'EOF'
[{"id": "R1", "model": "m", "turns": ["a"]},
 {"id": 42, "model": "m", "turns": ["a"], "params": {"v": 0.7}},
 {"id": "R3", "model": "m", "turns": ["a"]}]
EOF
run submit --machines gpu1 "$T/res.json"
run results
t_eq "results: exit 0" 0 "$RC"
t_eq "results: unended lines, submission order, typed ids" \
  '{"id":"R1","state":"queued"}|{"id":42,"state":"queued"}|{"id":"R3","state":"queued"}' \
  "$(tr '\n' '|' <"$T/out" | sed 's/|$//')"
h_cli hset "$NS:job:R3" state running >/dev/null
h_cli hset "$NS:job:42" state done >/dev/null
h_cli set "$NS:result:42" $'{\n  "id": 42,\n  "status": "done",\n  "machine": "gpu1",\n  "params": {"v": 0.7},\n  "turns": [], "note": "a  b\\n"\n}' >/dev/null
run results
t_eq "results: ended one is its result on one line (numbers as stored)" \
  '{"id":"R1","state":"queued"}|{"id":42,"status":"done","machine":"gpu1","params":{"v":0.7},"turns":[],"note":"a  b\n"}|{"id":"R3","state":"running"}' \
  "$(tr '\n' '|' <"$T/out" | sed 's/|$//')"
t_ok "results: every line is JSON" bash -c "jq -e . '$T/out' >/dev/null"
run results R3 42
t_eq "results: named ids, in the order named" '{"id":"R3","state":"running"}|{"id":42,"status":"done","machine":"gpu1","params":{"v":0.7},"turns":[],"note":"a  b\n"}' \
  "$(tr '\n' '|' <"$T/out" | sed 's/|$//')"
run results R1 NOPE
t_eq "results: unknown id exit 2" 2 "$RC"
t_ok "results: unknown id named" has_err 'unknown experiment id NOPE'
t_eq "results: unknown id prints nothing" "" "$(cat "$T/out")"
h_cli hset "$NS:job:R1" state cancelled >/dev/null
run results R1
t_eq "results: ended without a result" '{"id":"R1","state":"cancelled"}' "$(cat "$T/out")"
h_cli hset "$NS:job:R1" state failed error "ollama: 500" >/dev/null
run results R1
t_eq "results: failed without a result carries the error" '{"id":"R1","state":"failed","error":"ollama: 500"}' "$(cat "$T/out")"

# ---- wait ----
fresh wait_timeout
echo '{"id": "W1", "model": "m", "turns": ["a"]}' >"$T/w1.json"
run submit --machines gpu1 "$T/w1.json"
t0=$(now_ms)
run wait --timeout 1
t1=$(now_ms)
t_eq "wait --timeout: exit 1" 1 "$RC"
t_ok "wait --timeout: names the unfinished one and its state" has_err 'timed out after 1s: 1 of 1 experiment not ended: W1 \(queued\)'
t_ok "wait --timeout: took about 1 s ($((t1 - t0)) ms)" test $((t1 - t0)) -ge 900 -a $((t1 - t0)) -lt 3000

fresh wait_prompt
for k in 1 2 3; do echo "{\"id\": \"P$k\", \"model\": \"m\", \"turns\": [\"a\"]}"; done >"$T/p.jsonl"
run submit --machines gpu1 "$T/p.jsonl"
"$D" wait --timeout 20 >"$T/wout" 2>"$T/werr" & wpid=$!
t_ok "wait: blocks in XREAD" h_wait 5 xread_blocked
ended P1 done
ended P2 cancelled
t_ok "wait: still waiting for P3" kill -0 "$wpid"
h_cli hset "$NS:job:P3" state done >/dev/null
t0=$(now_ms)
h_cli xadd "$NS:events" '*' id P3 event done machine gpu1 turn 1 >/dev/null
h_wait 5 "! kill -0 $wpid"
t1=$(now_ms)
wrc=0; wait "$wpid" || wrc=$?
t_eq "wait: exit 0 when all ended, none failed" 0 "$wrc"
t_ok "wait: returned promptly after the last event ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 1000
t_ok "wait: summary at the end" grep -q 'all 3 experiments ended: 2 done, 0 failed, 1 cancelled' "$T/werr"

# States changed by hand, one event for the lot: still prompt.
fresh wait_bulk
run submit --machines gpu1 "$T/p.jsonl"
"$D" wait --timeout 20 >/dev/null 2>"$T/werr" & wpid=$!
h_wait 5 xread_blocked
for k in 1 2 3; do h_cli hset "$NS:job:P$k" state done >/dev/null; done
t0=$(now_ms)
h_cli xadd "$NS:events" '*' id P1 event done machine gpu1 turn 1 >/dev/null
h_wait 5 "! kill -0 $wpid"
t1=$(now_ms)
wrc=0; wait "$wpid" || wrc=$?
t_eq "wait (one event for all): exit 0" 0 "$wrc"
t_ok "wait (one event for all): prompt ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 1000

fresh wait_failed
run submit --machines gpu1 "$T/p.jsonl"
"$D" wait >/dev/null 2>"$T/werr" & wpid=$!
h_wait 5 xread_blocked
ended P1 done
ended P2 failed "ollama returned 500 three times"
ended P3 done
h_wait 5 "! kill -0 $wpid"
wrc=0; wait "$wpid" || wrc=$?
t_eq "wait: exit 1 when one failed" 1 "$wrc"
t_ok "wait: names the failed one with its error" grep -q 'failed: P2 on gpu1: ollama returned 500 three times' "$T/werr"
t_ok "wait: summary counts the failure" grep -q 'all 3 experiments ended: 2 done, 1 failed, 0 cancelled' "$T/werr"

# A later sweep in the same namespace: wait --sweep FILE and wait ID... count only its ids, so
# P2's failure above does not fail them.
for k in 1 2; do echo "{\"id\": \"Q$k\", \"model\": \"m\", \"turns\": [\"a\"]}"; done >"$T/q.jsonl"
run submit --machines gpu1 "$T/q.jsonl"
"$D" wait --sweep "$T/q.jsonl" --timeout 20 >/dev/null 2>"$T/werr" & wpid=$!
h_wait 5 xread_blocked
ended Q1 done
# An id submitted meanwhile is not added to a fixed set.
echo '{"id": "Q9", "model": "m", "turns": ["a"]}' >"$T/q9.json"
run submit --machines gpu1 "$T/q9.json"
ended Q2 done
h_wait 5 "! kill -0 $wpid"
wrc=0; wait "$wpid" || wrc=$?
t_eq "wait --sweep: exit 0: only its experiments count" 0 "$wrc"
t_ok "wait --sweep: its summary" grep -q 'all 2 experiments ended: 2 done, 0 failed, 0 cancelled' "$T/werr"
run wait Q1 Q2 --timeout 5
t_eq "wait ID...: exit 0 when those ended" 0 "$RC"
run wait Q1 P2 --timeout 5
t_eq "wait ID...: exit 1 when one of them failed" 1 "$RC"
t_ok "wait ID...: names it" has_err 'failed: P2 on gpu1'
run wait Q9 --timeout 0.5
t_eq "wait ID...: one still queued: exit 1 at the timeout" 1 "$RC"
t_ok "wait ID...: names it" has_err 'not ended: Q9 \(queued\)'
# Ids never submitted: exit 2 before waiting, naming them.
{ cat "$T/q.jsonl"; echo '{"id": "N1", "model": "m", "turns": ["a"]}'; echo '{"id": "N2", "model": "m", "turns": ["a"]}'; } >"$T/qn.jsonl"
run wait --sweep "$T/qn.jsonl" --timeout 5
t_eq "wait --sweep with ids never submitted: exit 2" 2 "$RC"
t_eq "wait --sweep with ids never submitted: one line naming them" \
  "dispatcher: wait: --sweep $T/qn.jsonl: 2 of its 4 experiments were never submitted (N1, N2): submit the file first" "$(cat "$T/err")"
run wait Q1 N1 --timeout 5
t_eq "wait ID... never submitted: exit 2" 2 "$RC"
t_ok "wait ID... never submitted: named" has_err 'wait: N1: unknown experiment id'
run wait --sweep "$T/q.jsonl" Q1
t_eq "wait --sweep and ids: exit 2" 2 "$RC"
run wait --sweep "$T/nope.jsonl"
t_eq "wait --sweep of a missing file: exit 2" 2 "$RC"
t_ok "wait --sweep of a missing file: named" has_err "wait: --sweep $T/nope.jsonl: No such file"
# The file edited since it was submitted: a warning, as results --sweep gives.
sed 's/"turns": \["a"\]/"turns": ["edited"]/' "$T/q.jsonl" >"$T/q-edited.jsonl"
run wait --sweep "$T/q-edited.jsonl" --timeout 5
t_eq "wait --sweep, edited file: exit 0 (what ran ended)" 0 "$RC"
t_ok "wait --sweep, edited file: one warning naming them" \
  has_err "warning: wait: --sweep $T/q-edited.jsonl: 2 experiments of the file differ from the spec submitted under their ids \(Q1, Q2\)"

fresh wait_already
run submit --machines gpu1 "$T/p.jsonl"
for k in 1 2 3; do h_cli hset "$NS:job:P$k" state done >/dev/null; done
run wait --timeout 5
t_eq "wait: all already ended, exit 0" 0 "$RC"

fresh wait_empty
run wait
t_eq "wait: nothing submitted, exit 0" 0 "$RC"
t_ok "wait: nothing submitted, says so" has_err 'nothing to wait for'

# ---- status ----
fresh status
cat >"$T/st.json" <<'EOF'
[{"id": "S1", "model": "qwen3:8b", "turns": ["a", "b", "c"], "machine": "gpu1"},
 {"id": "S2", "model": "qwen3:8b", "turns": ["a"], "machine": "gpu1"},
 {"id": "S3", "model": "qwen3:8b", "turns": ["a"], "machine": "gpu2"},
 {"id": "S4", "model": "qwen3:8b", "turns": ["a"], "machine": "gpu3"},
 {"id": "S5", "model": "qwen3:8b", "turns": ["a"], "machine": "gpu1"}]
EOF
run submit "$T/st.json"
# The worker's part: S1 claimed and running on gpu1, S2 done, S3 failed.
h_cli lrem "$NS:queue:gpu1" 0 S1 >/dev/null; h_cli lpush "$NS:running:gpu1" S1 >/dev/null
h_cli hset "$NS:job:S1" state running >/dev/null
h_cli lrem "$NS:queue:gpu1" 0 S2 >/dev/null; h_cli hset "$NS:job:S2" state done >/dev/null
h_cli lrem "$NS:queue:gpu2" 0 S3 >/dev/null; h_cli hset "$NS:job:S3" state failed >/dev/null
h_cli sadd "$NS:machines" gpu1 gpu2 gpu4 >/dev/null
h_cli set "$NS:worker:gpu1" '{"machine":"gpu1","token":"t1","pid":4242,"host":"box1","version":"0.1.0","started_at":"2026-12-03T09:00:00.000Z","updated_at":"2026-12-03T09:05:00.000Z","slots":2,"busy":1,"draining":false,"running":[{"id":"S1","turn":2,"turns":3,"calls":5,"attempt":1,"since":"2026-12-03T09:04:10.000Z"}],"ollama":{"url":"http://127.0.0.1:11434","version":"0.12.6","models":[{"name":"qwen3:8b","digest":"500a1f067a9f0011"},{"name":"llama3:8b","digest":"aaaa"}]}}' EX 30 >/dev/null
h_cli set "$NS:worker:gpu2" '{"machine":"gpu2","token":"t2","pid":7,"host":"box2","version":"0.1.0","started_at":"2026-12-03T08:00:00.000Z","updated_at":"2026-12-03T09:05:00.000Z","slots":1,"busy":0,"draining":false,"running":[],"ollama":{"url":"http://127.0.0.1:11434","version":"0.12.6","models":[{"name":"qwen3:8b","digest":"77777777aaaa0022"},{"name":"llama3:8b","digest":"aaaa"}]}}' EX 30 >/dev/null
h_cli hset "$NS:lastseen" gpu3 2026-12-02T10:00:00.000Z gpu1 2026-12-03T09:05:00.000Z >/dev/null
run status --json
t_eq "status --json: exit 0" 0 "$RC"
J=$T/out
jqv() { jq -c "$1" "$J"; }
t_eq "status --json: one JSON object" object "$(jq -r type "$J")"
t_eq "status --json: machines, sorted union" '["gpu1","gpu2","gpu3","gpu4"]' "$(jqv '[.machines[].machine]')"
t_eq "status --json: alive flags" '[true,true,false,false]' "$(jqv '[.machines[].alive]')"
t_eq "status --json: gpu1 since/pid/host" '["2026-12-03T09:00:00.000Z",4242,"box1"]' "$(jqv '.machines[0] | [.since,.pid,.host]')"
t_eq "status --json: gpu1 counts" '[1,1,1,0,0]' "$(jqv '.machines[0] | [.queued,.running,.done,.failed,.cancelled]')"
t_eq "status --json: gpu2 counts" '[0,0,0,1,0]' "$(jqv '.machines[1] | [.queued,.running,.done,.failed,.cancelled]')"
t_eq "status --json: gpu1 slot" '[{"id":"S1","turn":2,"turns":3,"calls":5}]' "$(jqv '[.machines[0].current[] | {id,turn,turns,calls}]')"
t_eq "status --json: gpu1 ollama" '"0.12.6"' "$(jqv '.machines[0].ollama.version')"
t_eq "status --json: gpu1 models" '[{"name":"qwen3:8b","digest":"500a1f067a9f0011"},{"name":"llama3:8b","digest":"aaaa"}]' "$(jqv '.machines[0].ollama.models')"
t_eq "status --json: gpu3 down since lastseen" '[false,"2026-12-02T10:00:00.000Z",1]' "$(jqv '.machines[2] | [.alive,.since,.queued]')"
t_eq "status --json: gpu4 never seen" '[false,null,null]' "$(jqv '.machines[3] | [.alive,.since,.ollama]')"
t_eq "status --json: totals" '{"machines":4,"alive":2,"experiments":5,"queued":2,"running":1,"done":1,"failed":1,"cancelled":0}' \
  "$(jqv '.totals | {machines,alive,experiments,queued,running,done,failed,cancelled}')"
t_eq "status --json: digest mismatch for qwen3:8b only" '[{"model":"qwen3:8b","digests":{"gpu1":"500a1f067a9f0011","gpu2":"77777777aaaa0022"}}]' \
  "$(jqv '.digest_mismatches')"
run status
t_eq "status: exit 0" 0 "$RC"
t_ok "status: gpu1 up since, pid on host" grep -q '^gpu1: up since 2026-12-03T09:00:00.000Z (pid 4242 on box1' "$T/out"
t_ok "status: gpu1 slot line" grep -q 'running S1: turn 2 of 3, 5 calls' "$T/out"
t_ok "status: gpu1 ollama line" grep -q 'ollama 0.12.6: qwen3:8b 500a1f067a9f, llama3:8b aaaa' "$T/out"
t_ok "status: gpu3 down since" grep -q '^gpu3: down since 2026-12-02T10:00:00.000Z' "$T/out"
t_ok "status: gpu4 never seen" grep -q '^gpu4: down, never seen' "$T/out"
t_ok "status: WARNING line" grep -q '^WARNING: model qwen3:8b has different digests on live machines: gpu1 500a1f067a9f, gpu2 77777777aaaa' "$T/out"
t_ok "status: no warning for the agreeing model" bash -c "! grep -q 'WARNING: model llama3' '$T/out'"
t_ok "status: totals line" grep -q '^total: 4 machines (2 up), 5 experiments: 2 queued, 1 running, 1 done, 1 failed, 0 cancelled$' "$T/out"
run status --machines gpu7
t_ok "status: --machines adds a machine" grep -q '^gpu7: down, never seen' "$T/out"
# A dead worker's machine no longer counts its heartbeat's digests.
h_cli del "$NS:worker:gpu2" >/dev/null
run status --json
t_eq "status --json: no mismatch once gpu2 is down" '[]' "$(jqv '.digest_mismatches')"

# ---- Redis down ----
port=$(h_free_port)
# A key of the wrong type (set by hand): the error names the command and the key.
fresh wrongtype
h_cli sadd "$NS:machines" gpu1 >/dev/null
h_cli set "$NS:queue:gpu1" oops >/dev/null
for sub in status metrics; do
  run $sub
  t_eq "wrong type: $sub exits 1" 1 "$RC"
  t_ok "wrong type: $sub names the key" grep -q "Redis refused LLEN $NS:queue:gpu1: WRONGTYPE" "$T/err"
  t_ok "wrong type: $sub says what to do" grep -q "look with redis-cli TYPE KEY, or give turnq a namespace of its own with --namespace" "$T/err"
done

for sub in status results wait "route A1"; do
  # shellcheck disable=SC2086
  run --redis "redis://127.0.0.1:$port/0" $sub
  t_eq "redis down: $sub exits 3" 3 "$RC"
done
t_ok "redis down: one clear line" bash -c "[ \$(wc -l <'$T/err') = 1 ] && grep -q 'cannot reach Redis: redis://127.0.0.1:$port/0' '$T/err'"

[ "$H_FAILS" -eq 0 ]
