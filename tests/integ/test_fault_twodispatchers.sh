#!/usr/bin/env bash
# test_fault_twodispatchers: two `dispatcher submit` of the same 50-experiment file at the same
# moment, while the workers of machines d1 and d2 already claim. Four rounds (a new 50-id file
# each), then a fifth where the two files hold the same 50 ids with different specs. Each id must
# be queued once (one `queued` event, one entry in NS:ids), the two outputs together say 50
# queued, and it must run once (one attempt, one successful call per turn in the sims' logs). In
# the fifth round one submission wins whole (every spec from the same file) and the other is
# refused with exit 2, writing nothing. Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
for m in d1 d2; do h_sim_start "$m" --latency-ms 5 --actions 0 || exit 1; done
for m in d1 d2; do h_worker_start "$m" --slots 2; done
for m in d1 d2; do h_worker_ready "$m" || t_fail "worker $m up"; done
# twice OUT1 OUT2 FILE1 FILE2: both submits started together; RC1/RC2 their exit codes.
twice() {
  h_disp submit --machines d1,d2 "$3" >"$1" 2>&1 & local p1=$!
  h_disp submit --machines d1,d2 "$4" >"$2" 2>&1 & local p2=$!
  wait "$p1"; RC1=$?; wait "$p2"; RC2=$?
}
queued_of() { grep -hE '^[0-9]+ experiments?: ' "$@" | sed -E 's/.*: ([0-9]+) queued.*/\1/' | awk '{s += $1} END {print s + 0}'; }
for r in 1 2 3 4; do
  f=$H_DIR/sweep$r.jsonl
  for k in $(seq 1 50); do echo "{\"id\": \"R${r}_$k\", \"model\": \"qwen3:8b\", \"turns\": [\"go $r $k\", \"on\"]}"; done >"$f"
  twice "$H_DIR/a$r.out" "$H_DIR/b$r.out" "$f" "$f"
  t_eq "round $r: both submits exit 0" "0 0" "$RC1 $RC2"
  t_eq "round $r: together they queued 50" 50 "$(queued_of "$H_DIR/a$r.out" "$H_DIR/b$r.out")"
done
# ---- the same ids, different specs ----
fa=$H_DIR/conflict-a.jsonl fb=$H_DIR/conflict-b.jsonl
for k in $(seq 1 50); do echo "{\"id\": \"X_$k\", \"model\": \"qwen3:8b\", \"turns\": [\"from a\"]}"; done >"$fa"
for k in $(seq 1 50); do echo "{\"id\": \"X_$k\", \"model\": \"qwen3:8b\", \"turns\": [\"from b\", \"and b\"]}"; done >"$fb"
twice "$H_DIR/xa.out" "$H_DIR/xb.out" "$fa" "$fb"
t_eq "conflict: one exits 0, the other 2" "0 2" "$(printf '%s\n' "$RC1" "$RC2" | sort | tr '\n' ' ' | sed 's/ $//')"
t_eq "conflict: the winner queued all 50" 50 "$(queued_of "$H_DIR/xa.out" "$H_DIR/xb.out")"
specs=$(for k in $(seq 1 50); do h_cli hget "$NS:job:X_$k" spec | jq -r '.turns[0]'; done | sort -u | tr '\n' ' ' | sed 's/ $//')
t_ok "conflict: every spec from one file ($specs)" test "$specs" = "from a" -o "$specs" = "from b"
# ---- the same again, larger than one write transaction (submit writes 100 per transaction), the
# two files in opposite orders (so without the submission lock each would win its first chunks) ----
fa=$H_DIR/big-a.jsonl fb=$H_DIR/big-b.jsonl
for k in $(seq 1 600); do echo "{\"id\": \"Y_$k\", \"model\": \"qwen3:8b\", \"turns\": [\"from a\"]}"; done >"$fa"
for k in $(seq 600 -1 1); do echo "{\"id\": \"Y_$k\", \"model\": \"qwen3:8b\", \"turns\": [\"from b\"]}"; done >"$fb"
twice "$H_DIR/ya.out" "$H_DIR/yb.out" "$fa" "$fb"
t_eq "big conflict: one exits 0, the other 2" "0 2" "$(printf '%s\n' "$RC1" "$RC2" | sort | tr '\n' ' ' | sed 's/ $//')"
t_eq "big conflict: the winner queued all 600" 600 "$(queued_of "$H_DIR/ya.out" "$H_DIR/yb.out")"
specs=$(h_cli --no-raw eval "local t = {} for k = 1, 600 do local s = redis.call('HGET', KEYS[1] .. k, 'spec') t[cjson.decode(s).turns[1]] = true end local o = {} for k in pairs(t) do o[#o + 1] = k end table.sort(o) return table.concat(o, ',')" 1 "$NS:job:Y_" | tr -d '"')
t_ok "big conflict: every spec from one file ($specs)" test "$specs" = "from a" -o "$specs" = "from b"
t_ok "big conflict: the loser says it wrote nothing" grep -qh 'submit refused, nothing written' "$H_DIR/ya.out" "$H_DIR/yb.out"
t_eq "the submission lock is released" 0 "$(h_cli exists "$NS:submitting")"

# ---- three submits of the same 1500 ids and specs, each file in another order: all exit 0,
# together they queue each id once ----
for k in $(seq 1 1500); do echo "{\"id\": \"Z_$k\", \"model\": \"qwen3:8b\", \"turns\": [\"z\"]}"; done >"$H_DIR/z1.jsonl"
tac "$H_DIR/z1.jsonl" >"$H_DIR/z2.jsonl"
awk 'NR % 2 == 0' "$H_DIR/z1.jsonl" >"$H_DIR/z3.jsonl"; awk 'NR % 2 == 1' "$H_DIR/z1.jsonl" >>"$H_DIR/z3.jsonl"
h_disp submit --machines d1,d2 "$H_DIR/z1.jsonl" >"$H_DIR/z1.out" 2>&1 & z1=$!
h_disp submit --machines d1,d2 "$H_DIR/z2.jsonl" >"$H_DIR/z2.out" 2>&1 & z2=$!
h_disp submit --machines d1,d2 "$H_DIR/z3.jsonl" >"$H_DIR/z3.out" 2>&1 & z3=$!
wait "$z1"; r1=$?; wait "$z2"; r2=$?; wait "$z3"; r3=$?
t_eq "same specs, three orders: all exit 0" "0 0 0" "$r1 $r2 $r3"
t_eq "same specs, three orders: together they queued 1500" 1500 "$(queued_of "$H_DIR/z1.out" "$H_DIR/z2.out" "$H_DIR/z3.out")"

# ---- a submission waits for the lock another one holds, then goes on ----
h_cli set "$NS:submitting" "elsewhere:1 test" PX 1200 >/dev/null
echo '{"id": "L_1", "model": "qwen3:8b", "turns": ["l"]}' >"$H_DIR/l.jsonl"
h_disp submit --machines d1,d2 "$H_DIR/l.jsonl" >"$H_DIR/l.out" 2>&1; rl=$?
t_eq "lock held: the submit waits, then succeeds" 0 "$rl"
t_ok "lock held: it said whom it waited for" grep -q 'waiting for another submission to finish (elsewhere:1 test holds' "$H_DIR/l.out"

t_ok "everything ends" h_wait 40 inv_ended
t_eq "all 2351 done" 2351 "$(inv_count done)"
t_eq "NS:ids holds 2351" 2351 "$(h_cli zcard "$NS:ids")"
t_eq "one queued event per id" "2351 1" "$(h_cli xrange "$NS:events" - + | paste - - - - - - - - - | awk '$5 == "queued" {print $3}' |
  sort | uniq -c | awk '{n++; m[$1]++} END {for (k in m) printf "%d %d\n", n, k}' | sort | tr '\n' ' ' | sed 's/ $//')"
t_eq "every experiment ran one attempt" 1 "$(for id in $(h_cli zrange "$NS:ids" 0 -1); do inv_field "$id" attempts; done | sort -u | tr '\n' ' ' | sed 's/ $//')"
t_eq "one successful call per (experiment, turn) in the sims' logs" 1 \
  "$(cat "$SIM_LOG_d1" "$SIM_LOG_d2" | jq -s -r 'map(select(.path == "/api/chat" and .experiment != null and .status == 200))
     | group_by([.experiment, .turn]) | map(length) | unique | map(tostring) | join(" ")')"
inv_check twodispatchers 8 "$SIM_LOG_d1" "$SIM_LOG_d2"
[ "$H_FAILS" -eq 0 ]
