#!/usr/bin/env bash
# test_submit: `dispatcher submit` against a throwaway Redis (dispatcher/submit.c, disp.c,
# common/job.c, place.c). Covers: every input format (single object, array, JSON Lines,
# defaults+experiments merged key by key, stdin) and exactly what lands in Redis (hash fields,
# queue order, NS:ids order, events); --strategy mod alternation; hash independent of machine
# order; a pin wins; NS:machines as the default list; resubmission is "unchanged"; a changed spec
# is refused; --force on queued vs done; bad inputs exit 2 naming position/field and write
# nothing; --dry-run writes nothing; Redis down exits 3; two concurrent submits of the same ids
# queue each id once.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
. "$(dirname "$0")/../lib/cli.sh"

lrange() { h_cli lrange "$1" 0 -1 | tr '\n' ' ' | sed 's/ $//'; }
zids() { h_cli zrange "$NS:ids" 0 -1 | tr '\n' ' ' | sed 's/ $//'; }
spec() { h_cli hget "$NS:job:$1" spec; }
field() { h_cli hget "$NS:job:$1" "$2"; }
# events: "id:event:machine:turn" per entry, space separated.
events() {
  h_cli --json xrange "$NS:events" - + 2>/dev/null |
    jq -r '.[] | .[1] | "\(.[1]):\(.[3]):\(.[5]):\(.[7])"' | tr '\n' ' ' | sed 's/ $//'
}
has_err() { grep -qE -- "$1" "$T/err"; }

# ---- single object ----
fresh single
echo '{"id": "S1", "model": "qwen3:8b", "turns": ["hello"]}' >"$T/single.json"
run submit --machines gpu1 "$T/single.json"
t_eq "single: exit 0" 0 "$RC"
t_eq "single: line" "S1 -> gpu1 queued" "$(head -n1 "$T/out")"
t_eq "single: summary" "1 experiment: 1 queued, 0 unchanged" "$(tail -n1 "$T/out")"
t_ok "single: warns that gpu1 has no live worker" has_err 'warning: no live worker for gpu1'
t_eq "single: hash fields, no others" "attempts estimate interrupted machine model spec state submitted_at turn" \
  "$(h_cli hkeys "$NS:job:S1" | sort | tr '\n' ' ' | sed 's/ $//')"
t_eq "single: spec canonical" '{"id":"S1","model":"qwen3:8b","turns":["hello"]}' "$(spec S1)"
t_eq "single: state" queued "$(field S1 state)"
t_eq "single: machine" gpu1 "$(field S1 machine)"
t_eq "single: attempts/interrupted/turn" "0 0 0" "$(field S1 attempts) $(field S1 interrupted) $(field S1 turn)"
t_ok "single: submitted_at is ISO with ms" \
  bash -c "[[ '$(field S1 submitted_at)' =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]"
t_eq "single: queue" "S1" "$(lrange "$NS:queue:gpu1")"
t_eq "single: ids" "S1" "$(zids)"
t_eq "single: events" "S1:queued:gpu1:0" "$(events)"
t_eq "single: only the expected keys" 4 "$(nkeys)"

# A live worker (its heartbeat key) silences the warning.
h_cli set "$NS:worker:gpu1" '{"machine":"gpu1"}' EX 30 >/dev/null
echo '{"id": "S2", "model": "qwen3:8b", "turns": ["hello"]}' >"$T/single2.json"
run submit --machines gpu1 "$T/single2.json"
t_eq "single: exit 0 with live worker" 0 "$RC"
t_ok "single: no warning with a live worker" bash -c "! grep -q warning '$T/err'"

# ---- array: queue order, ids order, event order ----
fresh array
cat >"$T/array.json" <<'EOF'
[{"id": "R1", "model": "m", "turns": ["a"]},
 {"id": "R2", "model": "m", "turns": ["a", "b"], "max_actions_per_turn": 3},
 {"id": "R3", "model": "m", "turns": 2, "history": "carry"}]
EOF
run submit --machines gpu1 "$T/array.json"
t_eq "array: exit 0" 0 "$RC"
t_eq "array: lines" "R1 -> gpu1 queued|R2 -> gpu1 queued|R3 -> gpu1 queued|per machine: gpu1: 3|3 experiments: 3 queued, 0 unchanged" \
  "$(tr '\n' '|' <"$T/out" | sed 's/|$//')"
# LPUSH enqueues and the right end is the head: the first submitted is first in line.
t_eq "array: queue (left to right)" "R3 R2 R1" "$(lrange "$NS:queue:gpu1")"
t_eq "array: head of the queue is R1" R1 "$(h_cli lindex "$NS:queue:gpu1" -1)"
t_eq "array: ids in input order" "R1 R2 R3" "$(zids)"
t_eq "array: events in order" "R1:queued:gpu1:0 R2:queued:gpu1:0 R3:queued:gpu1:0" "$(events)"
t_eq "array: R2 spec" '{"id":"R2","max_actions_per_turn":3,"model":"m","turns":["a","b"]}' "$(spec R2)"
t_eq "array: R3 spec" '{"history":"carry","id":"R3","model":"m","turns":2}' "$(spec R3)"

# ---- JSON Lines, with an integer id ----
fresh jsonl
printf '%s\n' '{"id": "L1", "model": "m", "turns": ["a"]}' '' '{"id": 7, "model": "m", "turns": ["a"]}' \
  '{"id": "L3", "model": "m", "turns": ["a"]}' >"$T/lines.jsonl"
run submit --machines gpu1 "$T/lines.jsonl"
t_eq "jsonl: exit 0" 0 "$RC"
t_eq "jsonl: ids" "L1 7 L3" "$(zids)"
t_eq "jsonl: integer id keeps its type in the spec" '{"id":7,"model":"m","turns":["a"]}' "$(spec 7)"
t_eq "jsonl: queue" "L3 7 L1" "$(lrange "$NS:queue:gpu1")"

# ---- defaults + experiments: options and params merged key by key ----
fresh defaults
cat >"$T/defaults.json" <<'EOF'
{"defaults": {"model": "qwen3:8b", "turns": ["t1", "t2"], "keep_alive": "30m",
              "options": {"temperature": 0.5, "seed": 1, "num_ctx": 4096},
              "params": {"group": "B", "variant": 1}},
 "experiments": [{"id": "D1", "options": {"seed": 2}, "params": {"variant": 3}},
                 {"id": "D2", "model": "other:1b", "turns": ["only"]}]}
EOF
run submit --machines gpu1 "$T/defaults.json"
t_eq "defaults: exit 0" 0 "$RC"
t_eq "defaults: D1 options merged" '{"num_ctx":4096,"seed":2,"temperature":0.5}' "$(spec D1 | jq -cS .options)"
t_eq "defaults: D1 params merged" '{"group":"B","variant":3}' "$(spec D1 | jq -cS .params)"
t_eq "defaults: D1 model and keep_alive from defaults" "qwen3:8b 30m" "$(spec D1 | jq -r '"\(.model) \(.keep_alive)"')"
t_eq "defaults: D2 replaces model and turns" 'other:1b ["only"]' "$(spec D2 | jq -c -r '"\(.model) \(.turns)"')"
t_eq "defaults: D2 keeps the default options" '{"num_ctx":4096,"seed":1,"temperature":0.5}' "$(spec D2 | jq -cS .options)"
t_eq "defaults: spec keys sorted" '{"id":"D2","keep_alive":"30m","model":"other:1b","options":{"num_ctx":4096,"seed":1,"temperature":0.5},"params":{"group":"B","variant":1},"turns":["only"]}' "$(spec D2)"

# ---- stdin ----
fresh stdin
RC=0
echo '[{"id": "I1", "model": "m", "turns": ["a"]}, {"id": "I2", "model": "m", "turns": ["a"]}]' |
  "$D" submit --machines gpu1 - >"$T/out" 2>"$T/err" || RC=$?
t_eq "stdin: exit 0" 0 "$RC"
t_eq "stdin: queued both" "I2 I1" "$(lrange "$NS:queue:gpu1")"

# ---- --strategy mod: the seed's alternation ----
fresh mod
for k in $(seq 1 12); do echo "{\"id\": \"E$k\", \"model\": \"m\", \"turns\": [\"a\"]}"; done >"$T/twelve.jsonl"
run submit --strategy mod --machines gpu1,gpu2 "$T/twelve.jsonl"
t_eq "mod: exit 0" 0 "$RC"
t_eq "mod: gpu1 gets 1,3,5,...,11 (head first)" "E1 E3 E5 E7 E9 E11" \
  "$(h_cli lrange "$NS:queue:gpu1" 0 -1 | tac | tr '\n' ' ' | sed 's/ $//')"
t_eq "mod: gpu2 gets 2,4,6,...,12 (head first)" "E2 E4 E6 E8 E10 E12" \
  "$(h_cli lrange "$NS:queue:gpu2" 0 -1 | tac | tr '\n' ' ' | sed 's/ $//')"
t_eq "mod: machine field" "gpu1 gpu2 gpu1" "$(field E1 machine) $(field E2 machine) $(field E3 machine)"
t_eq "mod: summary" "12 experiments: 12 queued, 0 unchanged" "$(tail -n1 "$T/out")"

# mod follows the list as given: reversed list, reversed alternation.
fresh mod2
run submit --strategy mod --machines gpu2,gpu1 "$T/twelve.jsonl"
t_eq "mod: order of --machines matters" "gpu2 gpu1" "$(field E1 machine) $(field E2 machine)"

# ---- hash: independent of machine order ----
fresh hash
for k in $(seq 1 40); do echo "{\"id\": \"H$k\", \"model\": \"m\", \"turns\": [\"a\"]}"; done >"$T/forty.jsonl"
run submit --dry-run --machines a,b,c "$T/forty.jsonl"
cp "$T/out" "$T/hash1"
run submit --dry-run --machines c,a,b "$T/forty.jsonl"
t_eq "hash: same placement whatever the order" "$(cat "$T/hash1")" "$(cat "$T/out")"
t_ok "hash: spreads over all three machines" \
  bash -c "for m in a b c; do grep -q \" -> \$m \" '$T/hash1' || exit 1; done"
t_eq "hash: dry run wrote nothing" 0 "$(nkeys)"
run submit --machines b,c,a "$T/forty.jsonl"
t_eq "hash: real placement matches the dry run" \
  "$(sed 's/would be queued/queued/; s/^dry run, nothing written: //' "$T/hash1")" "$(cat "$T/out")"

# ---- a pin wins over every strategy; NS:machines is the default list ----
fresh pin
h_cli sadd "$NS:machines" gpu2 gpu1 >/dev/null
cat >"$T/pin.json" <<'EOF'
[{"id": "P1", "model": "m", "turns": ["a"]},
 {"id": "P2", "model": "m", "turns": ["a"], "machine": "gpu9"},
 {"id": "P3", "model": "m", "turns": ["a"]}]
EOF
run submit --strategy mod "$T/pin.json"
t_eq "pin: exit 0" 0 "$RC"
t_eq "pin: P1 on the first of the sorted NS:machines" gpu1 "$(field P1 machine)"
t_eq "pin: P2 pinned" gpu9 "$(field P2 machine)"
t_eq "pin: P3 by position (k=3)" gpu1 "$(field P3 machine)"
t_eq "pin: gpu9 queue" P2 "$(lrange "$NS:queue:gpu9")"
fresh pin2
run submit --machines gpu1,gpu2 "$T/pin.json"
t_eq "pin: wins under hash too" gpu9 "$(field P2 machine)"
t_ok "pin: warning names the pinned machine" has_err 'no live worker for .*gpu9'

# ---- resubmission: unchanged, nothing added ----
fresh resubmit
run submit --machines gpu1,gpu2 "$T/twelve.jsonl"
len1=$(h_cli llen "$NS:queue:gpu1"); len2=$(h_cli llen "$NS:queue:gpu2"); xl=$(h_cli xlen "$NS:events")
h_cli hset "$NS:job:E1" state done >/dev/null
run submit --machines gpu1,gpu2 "$T/twelve.jsonl"
t_eq "resubmit: exit 0" 0 "$RC"
t_eq "resubmit: summary" "12 experiments: 0 queued, 12 unchanged" "$(tail -n1 "$T/out")"
t_ok "resubmit: line names the state" grep -qE '^E1 -> gpu[12] unchanged \(already submitted, state done\)$' "$T/out"
t_eq "resubmit: queues unchanged" "$len1 $len2" "$(h_cli llen "$NS:queue:gpu1") $(h_cli llen "$NS:queue:gpu2")"
t_eq "resubmit: no new events" "$xl" "$(h_cli xlen "$NS:events")"
# The same jobs written differently (key order, spacing) are the same spec.
for k in $(seq 1 12); do echo "{\"turns\":[\"a\"],   \"model\":\"m\",\"id\":\"E$k\"}"; done >"$T/twelve-b.jsonl"
run submit --machines gpu1,gpu2 "$T/twelve-b.jsonl"
t_eq "resubmit: reordered keys are unchanged" "12 experiments: 0 queued, 12 unchanged" "$(tail -n1 "$T/out")"
# Unchanged ones keep their machine even when the list changed.
run submit --machines gpu3 "$T/twelve.jsonl"
t_eq "resubmit: other machine list, still unchanged" 0 "$RC"
t_eq "resubmit: nothing on gpu3" 0 "$(h_cli llen "$NS:queue:gpu3")"

# ---- changed spec: refused, nothing changed ----
fresh conflict
echo '[{"id": "C1", "model": "m", "turns": ["a"]}, {"id": "C2", "model": "m", "turns": ["a"]}]' >"$T/c.json"
run submit --machines gpu1 "$T/c.json"
spec_before=$(spec C1); xl=$(h_cli xlen "$NS:events")
echo '[{"id": "C1", "model": "m", "turns": ["CHANGED"]}, {"id": "C3", "model": "m", "turns": ["a"]}]' >"$T/c2.json"
run submit --machines gpu1 "$T/c2.json"
t_eq "conflict: exit 2" 2 "$RC"
t_ok "conflict: names the id and its state" has_err 'C1 \(state queued\)'
t_eq "conflict: one line on stderr" 1 "$(wc -l <"$T/err" | tr -d ' ')"
t_eq "conflict: spec unchanged" "$spec_before" "$(spec C1)"
t_eq "conflict: C3 not written either" 0 "$(h_cli exists "$NS:job:C3")"
t_eq "conflict: no new events" "$xl" "$(h_cli xlen "$NS:events")"
t_eq "conflict: queue unchanged" "C2 C1" "$(lrange "$NS:queue:gpu1")"
run submit --dry-run --machines gpu1 "$T/c2.json"
t_eq "conflict: dry run exits 2 too" 2 "$RC"
t_ok "conflict: dry run shows the conflict" grep -q '^C1 -> gpu1 conflict' "$T/out"

# ---- --force: refused on a queued one, replaces a done one ----
run submit --force --machines gpu1 "$T/c2.json"
t_eq "force: queued one refused" 2 "$RC"
t_ok "force: says only ended ones" has_err 'only experiments that have ended'
t_eq "force: spec unchanged" "$spec_before" "$(spec C1)"
h_cli hset "$NS:job:C1" state done attempts 1 turn 1 worker box:1 finished_at 2026-01-01T00:00:00.000Z >/dev/null
h_cli lrem "$NS:queue:gpu1" 0 C1 >/dev/null
h_cli rpush "$NS:turns:C1" '{"turn":1}' >/dev/null
h_cli rpush "$NS:transcript:C1" '[]' >/dev/null
h_cli set "$NS:result:C1" '{"id":"C1","status":"done"}' >/dev/null
h_cli lpush "$NS:dead" C1 >/dev/null
run submit --force --machines gpu1 "$T/c2.json"
t_eq "force: done one replaced, exit 0" 0 "$RC"
t_ok "force: line says replaced" grep -q '^C1 -> gpu1 replaced$' "$T/out"
t_eq "force: summary" "2 experiments: 1 queued, 0 unchanged, 1 replaced" "$(tail -n1 "$T/out")"
t_eq "force: new spec" '{"id":"C1","model":"m","turns":["CHANGED"]}' "$(spec C1)"
t_eq "force: hash rewritten, old fields gone" "attempts estimate interrupted machine model spec state submitted_at turn" \
  "$(h_cli hkeys "$NS:job:C1" | sort | tr '\n' ' ' | sed 's/ $//')"
t_eq "force: state queued, attempts 0" "queued 0" "$(field C1 state) $(field C1 attempts)"
t_eq "force: turns, transcript, result deleted" "0 0 0" \
  "$(h_cli exists "$NS:turns:C1") $(h_cli exists "$NS:transcript:C1") $(h_cli exists "$NS:result:C1")"
t_eq "force: removed from dead" 0 "$(h_cli llen "$NS:dead")"
t_eq "force: queued again" "C3 C1 C2" "$(lrange "$NS:queue:gpu1")"
t_eq "force: queued events for C1 and C3" "C1:queued:gpu1:0 C3:queued:gpu1:0" "$(events | tr ' ' '\n' | tail -n2 | tr '\n' ' ' | sed 's/ $//')"

# ---- bad inputs: exit 2, a message naming position/field, Redis untouched ----
bad() { # NAME PATTERN FILE-CONTENT [extra args]
  local name=$1 pat=$2 content=$3; shift 3
  fresh "bad_$name"
  printf '%s\n' "$content" >"$T/bad.json"
  run submit --machines gpu1 "$@" "$T/bad.json"
  t_eq "bad $name: exit 2" 2 "$RC"
  t_ok "bad $name: message ($pat)" has_err "$pat"
  t_eq "bad $name: one line on stderr" 1 "$(wc -l <"$T/err" | tr -d ' ')"
  t_eq "bad $name: nothing written" 0 "$(nkeys)"
}
bad json 'bad\.json:2:[0-9]+: ' $'[{"id": "X1", "model": "m", "turns": ["a"]},\n {"id": "X2", "model": }]'
bad missing_model 'experiment 2 \(id X2\): model: is required' \
  '[{"id": "X1", "model": "m", "turns": ["a"]}, {"id": "X2", "turns": ["a"]}]'
bad id_chars "id: 'a b' may only hold" '{"id": "a b", "model": "m", "turns": ["a"]}'
bad actions_0 'max_actions_per_turn: must be an integer from 1 to 64' \
  '{"id": "X", "model": "m", "turns": ["a"], "max_actions_per_turn": 0}'
bad actions_65 'max_actions_per_turn: must be an integer from 1 to 64' \
  '{"id": "X", "model": "m", "turns": ["a"], "max_actions_per_turn": 65}'
bad unknown_field 'temprature: unknown field' '{"id": "X", "model": "m", "turns": ["a"], "temprature": 0.7}'
bad dup_ids 'experiment 3 \(id X1\): id X1 is given twice' \
  $'{"id": "X1", "model": "m", "turns": ["a"]}\n{"id": "X2", "model": "m", "turns": ["a"]}\n{"id": "X1", "model": "m", "turns": ["b"]}'
bad dup_tools "tools\[1\].function.name: 'f' is offered twice" \
  '{"id": "X", "model": "m", "turns": ["a"], "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]}'
bad keep_alive "keep_alive: '300' is not a duration" '{"id": "X", "model": "m", "turns": ["a"], "keep_alive": "300"}'
bad jsonl_line 'bad\.json:3:[0-9]+: ' $'{"id": "X1", "model": "m", "turns": ["a"]}\n{"id": "X2", "model": "m", "turns": ["a"]}\n{"id": "X3", "model": "m", "turns": ["a"],}'
bad turns_empty 'turns: must be a list' '{"id": "X", "model": "m", "turns": []}'
bad empty 'bad\.json: the input is empty' ''
# The second of two inputs is bad: the first is not written either.
fresh bad_second
echo '{"id": "OK1", "model": "m", "turns": ["a"]}' >"$T/ok.json"
echo '{"id": "OK2", "model": "m"}' >"$T/bad2.json"
run submit --machines gpu1 "$T/ok.json" "$T/bad2.json"
t_eq "bad second input: exit 2" 2 "$RC"
t_ok "bad second input: names the file" has_err 'bad2\.json: experiment 1 \(id OK2\): turns: is required'
t_eq "bad second input: nothing written" 0 "$(nkeys)"
# The same id with different specs across two inputs.
echo '{"id": "OK1", "model": "m", "turns": ["other"]}' >"$T/ok2.json"
run submit --machines gpu1 "$T/ok.json" "$T/ok2.json"
t_eq "dup across inputs: exit 2" 2 "$RC"
t_ok "dup across inputs: message" has_err 'given twice'
t_eq "dup across inputs: nothing written" 0 "$(nkeys)"
# Flags.
fresh bad_flags
run submit --machines 'gpu 1' "$T/ok.json"
t_eq "bad machine name: exit 2" 2 "$RC"
t_ok "bad machine name: names --machines" has_err "^dispatcher: --machines/TURNQ_MACHINES: 'gpu 1' is not a machine name"
run submit --machines gpu1,gpu1 "$T/ok.json"
t_eq "duplicate machine: exit 2" 2 "$RC"
t_ok "duplicate machine: message" has_err "'gpu1' is listed twice"
run submit "$T/ok.json"
t_eq "no machines: exit 2" 2 "$RC"
t_ok "no machines: message" has_err 'no machines: pass --machines or start a worker first'
run submit --strategy least --machines gpu1 "$T/ok.json"
t_eq "bad strategy: exit 2" 2 "$RC"
t_ok "bad strategy: names the flag" has_err '^dispatcher: --strategy: must be hash or mod'
run submit --machines gpu1 "$T/missing.json"
t_eq "missing file: exit 2" 2 "$RC"
t_ok "missing file: names it" has_err 'missing\.json: No such file or directory'
run submit --machines gpu1
t_eq "no input: exit 2" 2 "$RC"
run submit --bogus --machines gpu1 "$T/ok.json"
t_eq "unknown flag: exit 2" 2 "$RC"
t_ok "unknown flag: names it" has_err "unknown flag '--bogus'"
t_eq "bad flags: nothing written" 0 "$(nkeys)"

# ---- --dry-run ----
fresh dry
run submit --dry-run --strategy mod --machines gpu1,gpu2 "$T/twelve.jsonl"
t_eq "dry-run: exit 0" 0 "$RC"
t_eq "dry-run: placement line" "E2 -> gpu2 would be queued" "$(sed -n 2p "$T/out")"
t_eq "dry-run: summary" "dry run, nothing written: 12 experiments: 12 would be queued, 0 unchanged" "$(tail -n1 "$T/out")"
t_eq "dry-run: nothing written" 0 "$(nkeys)"
# flags may also stand before the subcommand
RC=0; "$D" --machines gpu1,gpu2 --strategy mod submit --dry-run "$T/twelve.jsonl" >"$T/out2" 2>/dev/null || RC=$?
t_eq "dry-run: flags before the subcommand" "$(cat "$T/out")" "$(cat "$T/out2")"

# ---- Redis down ----
fresh down
port=$(h_free_port)
run --redis "redis://:s3cret@127.0.0.1:$port/0" submit --machines gpu1 "$T/ok.json"
t_eq "redis down: exit 3" 3 "$RC"
t_ok "redis down: says so" has_err 'cannot reach Redis'
t_ok "redis down: password not shown" bash -c "! grep -q s3cret '$T/err'"
run --redis "redis://127.0.0.1:$port/0" submit "$T/ok.json"
t_eq "redis down (machines from Redis): exit 3" 3 "$RC"
run --redis "redis://127.0.0.1:$port/0" submit --machines gpu1 "$T/bad2.json"
t_eq "redis down but bad input: exit 2 (validated first)" 2 "$RC"

# ---- two concurrent submits of the same 50 ids ----
fresh race
for k in $(seq 1 50); do echo "{\"id\": \"Z$k\", \"model\": \"m\", \"turns\": [\"a\"]}"; done >"$T/fifty.jsonl"
"$D" submit --machines gpu1,gpu2,gpu3 "$T/fifty.jsonl" >"$T/race1" 2>/dev/null & p1=$!
"$D" submit --machines gpu1,gpu2,gpu3 "$T/fifty.jsonl" >"$T/race2" 2>/dev/null & p2=$!
rc1=0; wait $p1 || rc1=$?
rc2=0; wait $p2 || rc2=$?
t_eq "race: both exit 0" "0 0" "$rc1 $rc2"
total=0; for m in gpu1 gpu2 gpu3; do total=$((total + $(h_cli llen "$NS:queue:$m"))); done
t_eq "race: 50 entries over the queues" 50 "$total"
t_eq "race: each id queued exactly once" 50 \
  "$(for m in gpu1 gpu2 gpu3; do h_cli lrange "$NS:queue:$m" 0 -1; done | sort -u | wc -l | tr -d ' ')"
t_eq "race: 50 queued events" 50 "$(h_cli xlen "$NS:events")"
t_eq "race: 50 ids" 50 "$(h_cli zcard "$NS:ids")"
q1=$(tail -n1 "$T/race1" | sed -E 's/.*: ([0-9]+) queued.*/\1/'); q2=$(tail -n1 "$T/race2" | sed -E 's/.*: ([0-9]+) queued.*/\1/')
t_eq "race: the two summaries add up to 50 queued" 50 "$((q1 + q2))"

[ "$H_FAILS" -eq 0 ]
