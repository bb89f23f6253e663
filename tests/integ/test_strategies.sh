#!/usr/bin/env bash
# test_strategies: the placement strategies of `dispatcher submit --strategy` and the machine
# weights (dispatcher/submit.c, strategy.c, disp.c), against a throwaway Redis; no workers except
# in the end-to-end part. Covers:
#  - least-loaded: 12 alike experiments 6/6 over 2 machines, 3/3/3/3 over 4; existing load
#    (queued and running, a queue entry without an estimate counts 1, one big estimate) is filled
#    around; log-normal estimates balanced within the largest single estimate; longest first
#    (the benchmark's 12 lengths: 34 on the busiest of 4, 68 of 2), pins counted first, each
#    queue largest estimate first (least-loaded and hash; input order without estimates), the
#    output and NS:ids still in input order; resubmitting adds
#    nothing; --dry-run prints what the real run then does and writes nothing; the job hash holds
#    `estimate` and `model`;
#  - two (and four) dispatchers submitting different 50-experiment sets at the same moment end
#    with equal totals, not piled onto one machine;
#  - weights: 2:1 gives 8/4 of 12 with least-loaded and with mod (cycle gpu1, gpu1, gpu2), about
#    2:1 over 3000 ids with hash, where submit agrees with `route`; equal weights change nothing;
#    TURNQ_MACHINES carries weights; bad weights exit 2 and write nothing;
#  - model: with fake heartbeats (SET ... EX 30, ollama.models), two models over two machines
#    stay one machine each, interleaved or in blocks; a model already queued attracts its kind;
#    a machine whose Ollama lacks the model gets none of it; the fair share still splits one big
#    model over both; "llama3" matches "llama3:latest";
#  - a pin wins over every strategy;
#  - every experiment whole on one machine: in exactly one queue, the one its job hash and the
#    output name;
#  - end to end, with ollama-sim boxes and real workers: examples/sweep.json with least-loaded
#    completes, 6/6, each experiment's calls all in its machine's sim log; with model, two boxes
#    serving different models get only their own model's experiments, all done.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
. "$(dirname "$0")/../lib/cli.sh"

qlen() { h_cli llen "$NS:queue:$1"; }
# dist M...: the queue lengths of the machines, space separated.
dist() { local m out=""; for m in "$@"; do out="$out $(qlen "$m")"; done; echo "${out# }"; }
# total M: queued + running on M.
total() { echo $(( $(h_cli llen "$NS:queue:$1") + $(h_cli llen "$NS:running:$1") )); }
# gen N PREFIX [MODEL [EXTRA_JSON]]: N alike experiments as JSON Lines.
gen() {
  local k
  for k in $(seq 1 "$1"); do
    echo "{\"id\": \"$2$k\", \"model\": \"${3:-qwen3:8b}\", \"turns\": [\"go $k\"]${4:+, $4}}"
  done
}
# printed: "ID MACHINE" for each placed line of the last run's output, sorted.
printed() { awk '$2 == "->" && ($4 == "queued" || $4 == "would") {print $1, $3}' "$T/out" | sort; }
# hashed: "ID MACHINE" from the job hashes of every id in NS:ids, sorted.
hashed() {
  h_cli eval "local o = {} for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    o[#o + 1] = id .. ' ' .. (redis.call('HGET', ARGV[1] .. id, 'machine') or '?') end return o" \
    1 "$NS:ids" "$NS:job:" | sort
}
# inqueues: "ID MACHINE" for every entry of every queue and running list of NS, sorted.
inqueues() {
  local k
  for k in $(h_cli --scan --pattern "$NS:queue:*") $(h_cli --scan --pattern "$NS:running:*"); do
    h_cli lrange "$k" 0 -1 | sed "s|\$| ${k##*:}|"
  done | sort
}
# whole NAME: every experiment in exactly one list, the one its job hash names.
whole() {
  local ids; ids=$(h_cli zcard "$NS:ids")
  inqueues >"$T/inq"
  t_eq "$1: every experiment in exactly one queue" "$ids $ids" \
    "$(wc -l <"$T/inq" | tr -d ' ') $(cut -d' ' -f1 "$T/inq" | sort -u | wc -l | tr -d ' ')"
  t_eq "$1: each in the queue its job hash names" "" "$(hashed | diff - "$T/inq" | grep '^[<>]' | head -3)"
}
# by_model: "MODEL:MACHINE,MACHINE" per model of the namespace's jobs, from the job hashes.
by_model() {
  h_cli eval "local o = {} for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local h = redis.call('HMGET', ARGV[1] .. id, 'model', 'machine') o[#o + 1] = h[1] .. ' ' .. h[2] end return o" \
    1 "$NS:ids" "$NS:job:" | sort -u | awk '{m[$1] = m[$1] (m[$1] == "" ? "" : ",") $2} END {for (k in m) print k ":" m[k]}' |
    sort | tr '\n' ' ' | sed 's/ $//'
}
# heartbeat MACHINE MODEL...: a fake live worker for MACHINE whose Ollama has these models.
heartbeat() {
  local m=$1 models="" x; shift
  for x in "$@"; do models="$models${models:+,}{\"name\":\"$x\",\"digest\":\"d$x\"}"; done
  h_cli set "$NS:worker:$m" "{\"machine\":\"$m\",\"slots\":1,\"busy\":0,\"running\":[],\"ollama\":{\"url\":\"http://x\",\"version\":\"0.12.6\",\"models\":[$models]}}" EX 30 >/dev/null
}

# ---- least-loaded: alike experiments ----
fresh ll2
gen 12 E >"$T/twelve.jsonl"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/twelve.jsonl"
t_eq "least-loaded 2: exit 0" 0 "$RC"
t_eq "least-loaded 2: 6/6" "6 6" "$(dist gpu1 gpu2)"
t_eq "least-loaded 2: they alternate in input order" "gpu1 gpu2 gpu1 gpu2" "$(awk '$2 == "->" {print $3}' "$T/out" | head -4 | tr '\n' ' ' | sed 's/ $//')"
t_eq "least-loaded 2: printed placement = job hashes" "$(printed)" "$(hashed)"
whole "least-loaded 2"
t_eq "least-loaded 2: job hash holds model and estimate" "qwen3:8b 1" "$(h_cli hget "$NS:job:E1" model) $(h_cli hget "$NS:job:E1" estimate)"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/twelve.jsonl"
t_eq "least-loaded 2: resubmission exit 0" 0 "$RC"
t_eq "least-loaded 2: resubmission all unchanged" "12 experiments: 0 queued, 12 unchanged" "$(tail -n1 "$T/out")"
t_eq "least-loaded 2: resubmission names the same machines" "$(hashed)" \
  "$(awk '$2 == "->" && $4 == "unchanged" {print $1, $3}' "$T/out" | sort)"
t_eq "least-loaded 2: resubmission adds nothing" "6 6" "$(dist gpu1 gpu2)"

fresh ll4
run submit --strategy least-loaded --machines gpu4,gpu2,gpu3,gpu1 "$T/twelve.jsonl"
t_eq "least-loaded 4: exit 0" 0 "$RC"
t_eq "least-loaded 4: 3/3/3/3" "3 3 3 3" "$(dist gpu1 gpu2 gpu3 gpu4)"
whole "least-loaded 4"

# ---- least-loaded: existing load ----
fresh llpre
gen 4 P "qwen3:8b" '"machine": "gpu1"' >"$T/pinned4.jsonl"
run submit --machines gpu1,gpu2 "$T/pinned4.jsonl"
# two of them claimed (as a worker would: queue -> running): still gpu1's load
h_cli lmove "$NS:queue:gpu1" "$NS:running:gpu1" RIGHT LEFT >/dev/null
h_cli lmove "$NS:queue:gpu1" "$NS:running:gpu1" RIGHT LEFT >/dev/null
gen 6 N >"$T/six.jsonl"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/six.jsonl"
t_eq "existing load: exit 0" 0 "$RC"
t_eq "existing load: the first four fill gpu2" "gpu2 gpu2 gpu2 gpu2 gpu1 gpu2" \
  "$(awk '$2 == "->" {print $3}' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
t_eq "existing load: queued + running end 5/5" "5 5" "$(total gpu1) $(total gpu2)"
whole "existing load"

fresh llraw
h_cli lpush "$NS:queue:gpu1" ghost1 ghost2 ghost3 >/dev/null   # entries without a job hash: 1 each
gen 3 G >"$T/three.jsonl"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/three.jsonl"
t_eq "an entry without an estimate counts 1" "3 3" "$(dist gpu1 gpu2)"

fresh llbig
echo '{"id": "BIG", "model": "qwen3:8b", "turns": ["long"], "estimate": 10, "machine": "gpu1"}' >"$T/big.json"
run submit --machines gpu1,gpu2 "$T/big.json"
gen 10 S >"$T/ten.jsonl"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/ten.jsonl"
t_eq "one estimate of 10 on gpu1: ten unit experiments all on gpu2" "1 10" "$(dist gpu1 gpu2)"
t_eq "the estimate is in the job hash" 10 "$(h_cli hget "$NS:job:BIG" estimate)"

# ---- least-loaded: log-normal estimates ----
fresh llest
awk 'BEGIN { srand(7); for (k = 1; k <= 40; k++) {
  u1 = rand(); u2 = rand(); if (u1 < 1e-9) u1 = 1e-9
  z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2)
  printf "{\"id\": \"L%d\", \"model\": \"qwen3:8b\", \"turns\": [\"t\"], \"estimate\": %.2f}\n", k, exp(1 + 0.8 * z) } }' >"$T/lognormal.jsonl"
run submit --strategy least-loaded --machines gpu1,gpu2,gpu3 "$T/lognormal.jsonl"
t_eq "estimates: exit 0" 0 "$RC"
sums=$(h_cli eval "local s = {} for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', ARGV[1] .. id, 'machine', 'estimate') s[h[1]] = (s[h[1]] or 0) + tonumber(h[2]) end
  local o = {} for m, v in pairs(s) do o[#o + 1] = m .. ' ' .. string.format('%.2f', v) end return o" 1 "$NS:ids" "$NS:job:" | sort)
emax=$(jq -s 'map(.estimate) | max' "$T/lognormal.jsonl")
spread=$(echo "$sums" | awk '{v[NR] = $2} END {mx = v[1]; mn = v[1]; for (i in v) {if (v[i] > mx) mx = v[i]; if (v[i] < mn) mn = v[i]}; printf "%.2f", mx - mn}')
echo "    estimates: per machine $(echo "$sums" | tr '\n' ' '); spread $spread; largest estimate $emax"
t_eq "estimates: all three machines used" 3 "$(echo "$sums" | wc -l | tr -d ' ')"
t_ok "estimates: sums within the largest single estimate ($spread <= $emax)" \
  awk -v s="$spread" -v e="$emax" 'BEGIN { exit !(s <= e + 0.001) }'
whole "estimates"

# longest first: the log-normal lengths of the benchmark's sweep (bench/gen.py, seed 42). In
# input order the busiest of 4 machines would get 44 of 135; longest first gets 34 (ideal 33.75).
fresh lpt
i=0; for e in 7 4 16 5 3 9 2 23 4 15 19 28; do i=$((i + 1)); echo "{\"id\": \"K$i\", \"model\": \"m\", \"turns\": [\"t\"], \"estimate\": $e}"; done >"$T/bench12.jsonl"
busiest() { # busiest sum of estimates over the machines, from the job hashes
  h_cli eval "local s = {} for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local h = redis.call('HMGET', ARGV[1] .. id, 'machine', 'estimate') s[h[1]] = (s[h[1]] or 0) + tonumber(h[2]) end
    local mx = 0 for _, v in pairs(s) do if v > mx then mx = v end end return tostring(mx)" 1 "$NS:ids" "$NS:job:"
}
run submit --strategy least-loaded --machines gpu1,gpu2,gpu3,gpu4 "$T/bench12.jsonl"
t_eq "longest first, 4 machines: the busiest gets 34 of 135" 34 "$(busiest)"
# Each queue holds its experiments largest estimate first from the head (the right end), ties in
# input order (K2 and K9 are both 4).
# est_order M: the queue of M from its head, as "ID:ESTIMATE"; sorted_desc: the same sorted so.
est_order() { h_cli lrange "$NS:queue:$1" 0 -1 | tac | while read -r id; do echo "$id:$(h_cli hget "$NS:job:$id" estimate)"; done; }
sorted_desc() { sed 's/^K//' | sort -t: -k2,2nr -k1,1n | sed 's/^/K/'; }
# queues_desc M...: 1 when every queue named is largest estimate first (else 0, the queues shown).
queues_desc() {
  local m got ok=1
  for m in "$@"; do
    got=$(est_order "$m")
    [ "$got" = "$(echo "$got" | sorted_desc)" ] || { ok=0; echo "    $m: $got" | tr '\n' ' ' >&2; }
  done
  echo "$ok"
}
t_eq "longest first: each queue largest estimate first (least-loaded)" 1 "$(queues_desc gpu1 gpu2 gpu3 gpu4)"
t_eq "longest first: the output in input order" "$(seq 1 12 | sed 's/^/K/' | tr '\n' ' ')" \
  "$(awk '$2 == "->" {print $1}' "$T/out" | tr '\n' ' ')"
# The chunked path (hash, pins) queues largest estimate first as well; without estimates, input order.
fresh lpthash
run submit --machines gpu1,gpu2 "$T/bench12.jsonl"
t_eq "hash: each queue largest estimate first" 1 "$(queues_desc gpu1 gpu2)"
t_eq "hash: the output in input order" "$(seq 1 12 | sed 's/^/K/' | tr '\n' ' ')" \
  "$(awk '$2 == "->" {print $1}' "$T/out" | tr '\n' ' ')"
t_eq "hash: NS:ids in input order" "$(seq 1 12 | sed 's/^/K/' | tr '\n' ' ')" "$(h_cli zrange "$NS:ids" 0 -1 | tr '\n' ' ')"
fresh lptnone
gen 6 N >"$T/noest.jsonl"
run submit --machines gpu1 "$T/noest.jsonl"
t_eq "no estimates: the queue in input order" "N1 N2 N3 N4 N5 N6" "$(h_cli lrange "$NS:queue:gpu1" 0 -1 | tac | tr '\n' ' ' | sed 's/ $//')"
fresh lpt2
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/bench12.jsonl"
t_eq "longest first, 2 machines: the busiest gets 68 of 135" 68 "$(busiest)"
fresh lptpin
{ echo '{"id": "PIN", "model": "m", "turns": ["t"], "estimate": 1, "machine": "gpu2"}'
  echo '{"id": "A", "model": "m", "turns": ["t"], "estimate": 1}'
  echo '{"id": "B", "model": "m", "turns": ["t"], "estimate": 3}'; } >"$T/lptpin.jsonl"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/lptpin.jsonl"
t_eq "longest first: pins counted first, then B (3) to gpu1, A (1) to gpu2" "PIN gpu2|A gpu2|B gpu1" \
  "$(awk '$2 == "->" {print $1, $3}' "$T/out" | tr '\n' '|' | sed 's/|$//')"

# ---- --dry-run runs the same script ----
fresh lldry
run submit --machines gpu1 "$T/pinned4.jsonl"
keys_before=$(nkeys)
run submit --dry-run --strategy least-loaded --machines gpu1,gpu2 "$T/six.jsonl"
t_eq "dry-run: exit 0" 0 "$RC"
dry=$(printed)
t_eq "dry-run: the first four would fill gpu2" "gpu2 gpu2 gpu2 gpu2 gpu1 gpu2" \
  "$(awk '$2 == "->" {print $3}' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
t_eq "dry-run: nothing written" "4 0 $keys_before" "$(dist gpu1 gpu2) $(nkeys)"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/six.jsonl"
t_eq "dry-run: the real run places the same" "$dry" "$(printed)"

# ---- concurrent dispatchers ----
fresh race
for r in 1 2 3; do
  gen 50 "A${r}_" >"$T/ra$r.jsonl"; gen 50 "B${r}_" >"$T/rb$r.jsonl"
  "$D" submit --strategy least-loaded --machines gpu1,gpu2 "$T/ra$r.jsonl" >"$T/ra$r.out" 2>/dev/null & p1=$!
  "$D" submit --strategy least-loaded --machines gpu1,gpu2 "$T/rb$r.jsonl" >"$T/rb$r.out" 2>/dev/null & p2=$!
  rc1=0; wait $p1 || rc1=$?; rc2=0; wait $p2 || rc2=$?
  t_eq "race round $r: both exit 0" "0 0" "$rc1 $rc2"
  t_eq "race round $r: equal totals (not piled onto one machine)" "$((50 * r)) $((50 * r))" "$(dist gpu1 gpu2)"
done
whole "race"
fresh race4
pids=()
for x in a b c d; do
  gen 50 "F${x}_" >"$T/r4$x.jsonl"
  "$D" submit --strategy least-loaded --machines gpu1,gpu2,gpu3 "$T/r4$x.jsonl" >/dev/null 2>&1 & pids+=($!)
done
rcs=""; for p in "${pids[@]}"; do rc=0; wait "$p" || rc=$?; rcs="$rcs$rc"; done
t_eq "race of four: all exit 0" 0000 "$rcs"
d4=$(dist gpu1 gpu2 gpu3)
t_ok "race of four over three machines: 200 within one of even ($d4)" \
  awk -v d="$d4" 'BEGIN { split(d, v, " "); mx = v[1]; mn = v[1]; s = 0
    for (i = 1; i <= 3; i++) { s += v[i]; if (v[i] > mx) mx = v[i]; if (v[i] < mn) mn = v[i] }
    exit !(s == 200 && mx - mn <= 1) }'
whole "race of four"

# ---- weights ----
fresh wll
run submit --strategy least-loaded --machines gpu1=2,gpu2=1 "$T/twelve.jsonl"
t_eq "weights 2:1 least-loaded: exit 0" 0 "$RC"
t_eq "weights 2:1 least-loaded: 8/4" "8 4" "$(dist gpu1 gpu2)"
fresh wllenv
RC=0; TURNQ_MACHINES=gpu1=2,gpu2 "$D" submit --strategy least-loaded "$T/twelve.jsonl" >"$T/out" 2>"$T/err" || RC=$?
t_eq "weights in TURNQ_MACHINES: 8/4" "0 8 4" "$RC $(dist gpu1 gpu2)"
fresh wmod
run submit --strategy mod --machines gpu1=2,gpu2=1 "$T/twelve.jsonl"
t_eq "weights 2:1 mod: 8/4" "8 4" "$(dist gpu1 gpu2)"
t_eq "weights 2:1 mod: the cycle gpu1, gpu1, gpu2" "gpu1 gpu1 gpu2 gpu1 gpu1 gpu2" \
  "$(awk '$2 == "->" {print $3}' "$T/out" | head -6 | tr '\n' ' ' | sed 's/ $//')"
whole "weights mod"
run submit --strategy mod --machines gpu1=1.5,gpu2 "$T/twelve.jsonl"
t_eq "weights mod: a fractional weight exits 2" 2 "$RC"
t_ok "weights mod: says whole numbers" grep -q 'whole numbers' "$T/err"
fresh whash
seq 1 3000 | sed 's/^/h/' >"$T/ids3000"
"$D" route --machines gpu1=2,gpu2=1 $(cat "$T/ids3000") >"$T/route21"
n1=$(awk '$2 == "gpu1"' "$T/route21" | wc -l | tr -d ' '); n2=$(awk '$2 == "gpu2"' "$T/route21" | wc -l | tr -d ' ')
echo "    weighted hash over 3000 ids: gpu1 $n1, gpu2 $n2"
t_ok "weights 2:1 hash: about 2:1 over 3000 ids ($n1/$n2)" \
  awk -v a="$n1" -v b="$n2" 'BEGIN { exit !(a + b == 3000 && a / b > 1.8 && a / b < 2.25) }'
"$D" route --machines gpu2=1,gpu1=2 $(cat "$T/ids3000") >"$T/route12"
t_eq "weights hash: independent of the order given" "" "$(diff "$T/route21" "$T/route12" | head -2)"
awk '{printf "{\"id\": \"%s\", \"model\": \"m\", \"turns\": [\"t\"]}\n", $1}' "$T/ids3000" >"$T/ids3000.jsonl"
run submit --dry-run --machines gpu1=2,gpu2=1 "$T/ids3000.jsonl"
t_eq "weights hash: submit places as route says" "" "$(diff <(sort "$T/route21") <(printed) | head -2)"
"$D" route --machines gpu1,gpu2 $(cat "$T/ids3000") >"$T/route11"
"$D" route --machines gpu1=3,gpu2=3 $(cat "$T/ids3000") >"$T/route33"
t_eq "weights hash: equal weights place exactly as no weights" "" "$(diff "$T/route11" "$T/route33" | head -2)"
"$D" route --machines gpu1=2,gpu2=1,gpu3=1 $(cat "$T/ids3000") >"$T/route211"
moved=$(paste "$T/route21" "$T/route211" | awk '$2 != $4 && $4 != "gpu3"' | wc -l | tr -d ' ')
t_eq "weights hash: adding gpu3 moves ids only to gpu3" 0 "$moved"
RC=0; TURNQ_MACHINES=gpu1=2,gpu2=1 "$D" route $(head -n 200 "$T/ids3000") >"$T/routeenv" || RC=$?
t_eq "weights hash: TURNQ_MACHINES weights in route" "" "$(diff "$T/routeenv" <(head -n 200 "$T/route21") | head -2)"
fresh wbad
for w in 'gpu1=0' 'gpu1=-1' 'gpu1=abc' 'gpu1=' 'gpu1=2x' 'gpu1=nan' 'gpu1=inf' 'gpu1=2000000'; do
  run submit --strategy least-loaded --machines "$w,gpu2" "$T/twelve.jsonl"
  t_eq "bad weight '$w': exit 2" 2 "$RC"
done
t_ok "bad weight: the message names the item" grep -q "'gpu1=2000000': the weight must be a positive number" "$T/err"
t_eq "bad weights: nothing written" 0 "$(nkeys)"
run submit --strategy nearest --machines gpu1 "$T/twelve.jsonl"
t_eq "bad strategy: exit 2" 2 "$RC"
t_ok "bad strategy: lists the strategies" grep -q "least-loaded or model" "$T/err"

# ---- model ----
mixed() { # N: N experiments alternating qwen3:8b / llama3:8b
  local k
  for k in $(seq 1 "$1"); do
    if [ $((k % 2)) = 1 ]; then m=qwen3:8b; else m=llama3:8b; fi
    echo "{\"id\": \"M$k\", \"model\": \"$m\", \"turns\": [\"t\"]}"
  done
}
fresh model_inter
heartbeat gpu1 qwen3:8b llama3:8b; heartbeat gpu2 qwen3:8b llama3:8b
mixed 12 >"$T/mixed12.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/mixed12.jsonl"
t_eq "model, interleaved: exit 0" 0 "$RC"
t_eq "model, interleaved: each model on one machine" "llama3:8b:gpu2 qwen3:8b:gpu1" "$(by_model)"
t_eq "model, interleaved: 6/6" "6 6" "$(dist gpu1 gpu2)"
whole "model, interleaved"

fresh model_blocks
heartbeat gpu1 qwen3:8b llama3:8b; heartbeat gpu2 qwen3:8b llama3:8b
{ gen 6 Q qwen3:8b; gen 6 L llama3:8b; } >"$T/blocks.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/blocks.jsonl"
t_eq "model, in blocks: each model on one machine" "llama3:8b:gpu2 qwen3:8b:gpu1" "$(by_model)"
t_eq "model, in blocks: 6/6" "6 6" "$(dist gpu1 gpu2)"
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/blocks.jsonl"
t_eq "model, in blocks: resubmitted, unchanged" "12 experiments: 0 queued, 12 unchanged" "$(tail -n1 "$T/out")"
fresh model_blocks_ll
run submit --strategy least-loaded --machines gpu1,gpu2 "$T/blocks.jsonl"
t_eq "least-loaded on the same input mixes the models (for contrast)" "llama3:8b:gpu1,gpu2 qwen3:8b:gpu1,gpu2" "$(by_model)"

fresh model_queued
heartbeat gpu1 qwen3:8b llama3:8b; heartbeat gpu2 qwen3:8b llama3:8b
{ gen 2 ZQ qwen3:8b '"machine": "gpu1"'; gen 2 ZL llama3:8b '"machine": "gpu2"'; } >"$T/queued_pins.jsonl"
run submit --machines gpu1,gpu2 "$T/queued_pins.jsonl"
printf '%s\n' '{"id": "YL1", "model": "llama3:8b", "turns": ["t"]}' '{"id": "YQ1", "model": "qwen3:8b", "turns": ["t"]}' \
  '{"id": "YL2", "model": "llama3:8b", "turns": ["t"]}' '{"id": "YQ2", "model": "qwen3:8b", "turns": ["t"]}' >"$T/lqlq.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/lqlq.jsonl"
t_eq "model: a model already queued attracts its kind (over the tie to gpu1)" "gpu2 gpu1 gpu2 gpu1" \
  "$(awk '$2 == "->" {print $3}' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
gen 4 YY llama3:8b >"$T/llama4.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/llama4.jsonl"
t_eq "model: up to the machine's fair share, then the other machine" "gpu2 gpu2 gpu1 gpu1" \
  "$(awk '$2 == "->" {print $3}' "$T/out" | tr '\n' ' ' | sed 's/ $//')"

fresh model_lacks
heartbeat gpu1 qwen3:8b; heartbeat gpu2 llama3:8b
{ gen 8 Q qwen3:8b; gen 4 L llama3:8b; } >"$T/lacks.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/lacks.jsonl"
t_eq "model: a machine whose Ollama lacks the model gets none of it" "llama3:8b:gpu2 qwen3:8b:gpu1" "$(by_model)"
t_eq "model: even 8/4" "8 4" "$(dist gpu1 gpu2)"

fresh model_share
heartbeat gpu1 qwen3:8b llama3:8b; heartbeat gpu2 qwen3:8b llama3:8b
{ gen 10 Q qwen3:8b; gen 2 L llama3:8b; } >"$T/share.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/share.jsonl"
t_eq "model: the fair share splits a big model over both, 6/6" "6 6" "$(dist gpu1 gpu2)"
t_eq "model: the small model stays on one machine" "llama3:8b:gpu2 qwen3:8b:gpu1,gpu2" "$(by_model)"

fresh model_latest
heartbeat gpu1 qwen3:8b; heartbeat gpu2 llama3:latest
gen 3 T llama3 >"$T/latest.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/latest.jsonl"
t_eq "model: 'llama3' is the heartbeat's 'llama3:latest'" "0 3" "$(dist gpu1 gpu2)"

fresh model_nohb
mixed 12 >"$T/mixed12.jsonl"
run submit --strategy model --machines gpu1,gpu2 "$T/mixed12.jsonl"
t_eq "model without heartbeats: still each model on one machine" "llama3:8b:gpu2 qwen3:8b:gpu1" "$(by_model)"
t_ok "model without heartbeats: warns about the missing workers" grep -q 'no live worker' "$T/err"

# ---- pins win ----
for s in least-loaded model hash mod; do
  fresh "pin_${s/-/_}"
  { gen 6 P qwen3:8b '"machine": "gpu1"'; gen 6 U; echo '{"id": "X", "model": "qwen3:8b", "turns": ["t"], "machine": "gpu9"}'; } >"$T/pins.jsonl"
  run submit --strategy "$s" --machines gpu1,gpu2 "$T/pins.jsonl"
  t_eq "pin wins ($s): exit 0" 0 "$RC"
  t_eq "pin wins ($s): P1..P6 on gpu1, X on gpu9" "gpu1 gpu1 gpu1 gpu1 gpu1 gpu1 gpu9" \
    "$(awk '$2 == "->" && ($1 ~ /^P/ || $1 == "X") {print $3}' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
  whole "pin wins ($s)"
done
t_eq "pin wins (least-loaded): the unpinned six fill gpu2" "6 6" \
  "$(TURNQ_NAMESPACE=${NS0}_pin_least_loaded; NS=$TURNQ_NAMESPACE; dist gpu1 gpu2)"

# ---- end to end: real workers, simulated boxes ----
fresh e2e
for m in gpu1 gpu2; do h_sim_start "$m" --latency-ms 5 || exit 1; done
for m in gpu1 gpu2; do h_worker_start "$m" --slots 2 --env-cmd "$H_BIN/warehouse-env"; done
for m in gpu1 gpu2; do h_worker_ready "$m" || t_fail "e2e: worker $m up"; done
run submit --strategy least-loaded --machines gpu1,gpu2 "$H_ROOT/examples/sweep.json"
t_eq "e2e least-loaded: submit exit 0" 0 "$RC"
t_eq "e2e least-loaded: 6/6" "6 6" "$(awk '$2 == "->" {print $3}' "$T/out" | sort | uniq -c | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
awk '$2 == "->" {print $1, $3}' "$T/out" | sort >"$T/e2e.place"
RC=0; "$D" wait --timeout 120 >/dev/null 2>"$T/wait.err" || RC=$?
t_eq "e2e least-loaded: wait exit 0" 0 "$RC"
"$D" results >"$T/e2e.results"
t_eq "e2e least-loaded: 12 done" "12" "$(jq -r 'select(.status == "done") | .id' "$T/e2e.results" | wc -l | tr -d ' ')"
t_eq "e2e least-loaded: each ran where submit put it" "" \
  "$(jq -r '"\(.id) \(.machine)"' "$T/e2e.results" | sort | diff - "$T/e2e.place" | head -2)"
t_eq "e2e least-loaded: each experiment's calls all in its machine's sim log" "" \
  "$(for m in gpu1 gpu2; do eval "log=\$SIM_LOG_$m"
       jq -r --arg m "$m" 'select(.path == "/api/chat" and .experiment != null) | "\(.experiment) \($m)"' "$log"
     done | sort -u | diff - "$T/e2e.place" | head -2)"

fresh e2emodel
h_sim_start ma --latency-ms 5 --models qwen3:8b || exit 1
h_sim_start mb --latency-ms 5 --models llama3:8b || exit 1
for m in ma mb; do h_worker_start "$m" --slots 2; done
for m in ma mb; do h_worker_ready "$m" || t_fail "e2e model: worker $m up"; done
h_wait 10 "h_cli get $NS:worker:mb | grep -q llama3" || t_fail "e2e model: mb's heartbeat lists its models"
mixed 8 >"$T/mixed8.jsonl"
run submit --strategy model --machines ma,mb "$T/mixed8.jsonl"
t_eq "e2e model: submit exit 0" 0 "$RC"
t_eq "e2e model: each model on the box that serves it" "llama3:8b:mb qwen3:8b:ma" "$(by_model)"
RC=0; "$D" wait --timeout 60 >/dev/null 2>"$T/wait.err" || RC=$?
t_eq "e2e model: wait exit 0 (no experiment met a missing model)" 0 "$RC"
t_eq "e2e model: 8 done" 8 "$("$D" results | jq -r 'select(.status == "done") | .id' | wc -l | tr -d ' ')"
t_eq "e2e model: no 404 in the sims' logs" 0 "$(cat "$SIM_LOG_ma" "$SIM_LOG_mb" | jq -r 'select(.status == 404)' | wc -l | tr -d ' ')"

[ "$H_FAILS" -eq 0 ]
