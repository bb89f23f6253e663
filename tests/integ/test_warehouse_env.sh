#!/usr/bin/env bash
# The example environment bin/warehouse-env (examples/warehouse/warehouse.c) and the example
# sweep examples/sweep.json. Needs no Redis: it pipes JSON Lines into the environment and reads
# its answers with jq.
# Covers: flags (--help, --days, bad flags); the start answer's tools; turn prompts; tool calls
# that change the state, deterministically (the same input twice gives the same bytes); one
# answer per request line, an {"error"} for every bad line (not JSON, too long, NUL, invalid
# UTF-8, wrong types, out-of-range numbers, unknown item/order/tool/event) and no crash, also
# under mutated input; a start at turn 3 or 5 rebuilding the world that replaying the days before
# gives; {"done":true} past params.days; exit 0 at EOF; sweep.json's structure and its params
# being accepted by the environment without a warning.
# Not `set -e`: every check reports PASS/FAIL and the script goes on (tests/run.sh counts them).
. "$(dirname "$0")/../lib/harness.sh"

ENV=$H_BIN/warehouse-env
SWEEP=$H_ROOT/examples/sweep.json
OUT=$H_DIR/out
LOG=$H_DIR/env.log

if [ ! -x "$ENV" ]; then
  t_fail "warehouse-env is built" "$ENV missing (make bin/warehouse-env)"
  exit 1
fi

# feed [--flags...] -- LINE...: runs the environment on the lines; answers in $OUT, exit code in RC.
feed() {
  local flags=()
  while [ "$1" != -- ]; do flags+=("$1"); shift; done
  shift
  printf '%s\n' "$@" >"$H_DIR/in"
  "$ENV" "${flags[@]}" <"$H_DIR/in" >"$OUT" 2>>"$LOG"
  RC=$?
}
# ans N [jq args...]: answer number N (from 1), through jq (default: the whole answer).
ans() {
  local n=$1; shift
  [ $# -eq 0 ] && set -- .
  sed -n "${n}p" "$OUT" | jq -c "$@"
}
nlines() { wc -l <"$1" | tr -d ' '; }

start() { # start TURN PARAMS
  printf '{"event":"start","experiment":"T1","attempt":1,"turn":%s,"params":%s}' "$1" "$2"
}
turn() { printf '{"event":"turn","experiment":"T1","turn":%s,"params":{}}' "$1"; }
tool() { # tool TURN NAME ARGS
  printf '{"event":"tool","experiment":"T1","turn":%s,"action":1,"id":"call_1","name":"%s","arguments":%s}' \
    "$1" "$2" "$3"
}
END='{"event":"end","experiment":"T1","status":"done"}'
P='{"demand":4,"stock":20,"budget":500,"world_seed":7}'

# ---- flags ----
"$ENV" --help >"$OUT" 2>&1
t_eq "--help exits 0" 0 $?
t_ok "--help names --days" grep -q -- '--days' "$OUT"
"$ENV" --bogus </dev/null >/dev/null 2>"$H_DIR/err"
t_eq "an unknown flag exits 2" 2 $?
t_ok "an unknown flag is named on stderr" grep -q -- '--bogus' "$H_DIR/err"
"$ENV" --days x </dev/null >/dev/null 2>&1
t_eq "--days x exits 2" 2 $?
"$ENV" extra </dev/null >/dev/null 2>&1
t_eq "a positional argument exits 2" 2 $?
"$ENV" </dev/null >"$OUT" 2>>"$LOG"
t_eq "empty input: exit 0" 0 $?
t_eq "empty input: no answer" 0 "$(nlines "$OUT")"

# ---- start and the tools ----
feed -- "$(start 1 "$P")" "$END"
t_eq "start and end: exit 0 at EOF" 0 "$RC"
t_eq "start lists four tools in order" '"check_stock,restock,ship_order,get_report"' \
  "$(ans 1 '[.tools[].function.name] | join(",")')"
t_eq "every tool is in Ollama's format" true "$(ans 1 '[.tools[] | .type == "function"
  and (.function.description | type) == "string" and .function.parameters.type == "object"
  and (.function.parameters.properties | type) == "object"
  and (.function.parameters.required - (.function.parameters.properties | keys) == [])] | all')"
t_eq "restock requires item and quantity" '["item","quantity"]' \
  "$(ans 1 '.tools[1].function.parameters.required')"
t_eq "end answers {}" '{}' "$(ans 2)"

# ---- a turn's prompt ----
feed -- "$(start 1 "$P")" "$(turn 1)"
t_eq "turn 1 gives a Day 1 prompt" true "$(ans 2 '.prompt | startswith("Day 1.")')"
t_ok "the prompt lists the stock" grep -q 'bolts 20, gears 20, belts 20, motors 20' <(ans 2 .prompt)
t_eq "the prompt lists four open orders (demand 4)" true "$(ans 2 '.prompt | test("Open orders \\(4\\)")')"
feed -- "$(start 1 '{"demand":"high"}')" "$(turn 1)"
t_eq "demand high: six orders on day 1" true "$(ans 2 '.prompt | test("Open orders \\(6\\)")')"
feed -- "$(start 1 "$P")" "$(turn 1)" "$(turn 1)"
t_eq "the same turn twice gives the same prompt" "$(ans 2)" "$(ans 3)"
feed -- "$(start 1 '{"world_seed":8}')" "$(turn 1)"
p8=$(ans 2 .prompt)
feed -- "$(start 1 '{"world_seed":7}')" "$(turn 1)"
t_ok "another world_seed gives other orders" test "$p8" != "$(ans 2 .prompt)"

# ---- tools change the state ----
feed -- "$(start 1 "$P")" "$(turn 1)" "$(tool 1 get_report '{}')"
oid=$(ans 3 -r '.content.open_orders[0].id')
oitem=$(ans 3 -r '.content.open_orders[0].item')
oqty=$(ans 3 '.content.open_orders[0].quantity')
oval=$(ans 3 '.content.open_orders[0].value')
t_eq "get_report: day 1, cash 500" '[1,500]' "$(ans 3 '[.content.day, .content.cash]')"
session=("$(start 1 "$P")" "$(turn 1)"                                 # 1, 2
  "$(tool 1 check_stock '{"item":"bolts"}')"                             # 3
  "$(tool 1 restock '{"item":"bolts","quantity":10}')"                   # 4
  "$(tool 1 check_stock '{"item":" Bolt "}')"                            # 5
  "$(tool 1 ship_order "{\"order_id\":\"$oid\"}")"                       # 6
  "$(tool 1 ship_order "{\"order_id\":\"$oid\"}")"                       # 7
  "$(tool 1 get_report '{}')"                                            # 8
  "$(turn 2)" "$(tool 2 get_report '{}')" "$END")                        # 9, 10, 11
feed -- "${session[@]}"
cp "$OUT" "$H_DIR/session1"
t_eq "session: exit 0" 0 "$RC"
t_eq "session: one answer per request" "${#session[@]}" "$(nlines "$OUT")"
t_eq "check_stock bolts" '{"item":"bolts","stock":20,"incoming":0}' "$(ans 3 '.content | {item, stock, incoming}')"
t_eq "restock 10 bolts costs 10, arrives day 2" '[10,490,2]' \
  "$(ans 4 '[.content.cost, .content.cash, .content.arrives_day]')"
t_eq "check_stock tolerates case, blanks and singular" '[20,10]' "$(ans 5 '[.content.stock, .content.incoming]')"
t_eq "ship_order ships $oid" "[\"$oid\",$oval,$((490 + oval))]" \
  "$(ans 6 '[.content.shipped, .content.revenue, .content.cash]')"
t_eq "a shipped order cannot ship twice" true "$(ans 7 '.error | test("no open order")')"
t_eq "the report shows the shipment" "[3,$((20 - oqty))]" \
  "$(ans 8 --arg i "$oitem" '[(.content.open_orders | length), .content.stock[$i]]')"
t_eq "day 2: the restocked bolts arrived" true \
  "$(jq -s --arg i "$oitem" '.[7].content as $a | .[9].content as $b |
     $b.stock.bolts == $a.stock.bolts + 10 and $b.incoming.bolts == 0 and $b.day == 2' "$OUT")"
t_eq "day 2: yesterday's activity is in the prompt" true \
  "$(ans 9 '.prompt | test("shipped 1 order for \\$[0-9]+ and spent \\$10 restocking 10 units")')"
feed -- "${session[@]}"
t_ok "the same session twice gives the same bytes" cmp -s "$H_DIR/session1" "$OUT"

# ---- resuming: start at turn F rebuilds the world of replayed days ----
for F in 3 5; do
  lines=("$(start 1 "$P")")
  for d in $(seq 1 "$F"); do lines+=("$(turn "$d")"); done
  lines+=("$(tool "$F" get_report '{}')")
  feed -- "${lines[@]}"
  replay_prompt=$(ans $((F + 1))); replay_report=$(ans $((F + 2)))
  feed -- "$(start "$F" "$P")" "$(turn "$F")" "$(tool "$F" get_report '{}')"
  t_eq "start at turn $F: the prompt of replaying days 1..$((F - 1))" "$replay_prompt" "$(ans 2)"
  t_eq "start at turn $F: the state of replaying days 1..$((F - 1))" "$replay_report" "$(ans 3)"
done
t_eq "by day 5 unshipped orders have expired" true \
  "$(ans 3 '.content.totals.expired > 0 and .content.cash < 500')"
feed -- "$(start 1 "$P")" "$(turn 4)" "$(turn 2)"
want=$(ans 3)
feed -- "$(start 1 "$P")" "$(turn 2)"
t_eq "a turn for a past day rebuilds that day" "$(ans 2)" "$want"

feed -- "$(start 1 "$P")" "$(tool 2 get_report '{}')"
want=$(ans 2)
feed -- "$(start 1 "$P")" "$(turn 2)" "$(tool 2 get_report '{}')"
t_eq "a tool request for a later turn first advances the world" "$(ans 3)" "$want"

# ---- params.days and --days ----
feed -- "$(start 1 '{"days":2}')" "$(turn 2)" "$(turn 3)"
t_eq "params.days 2: day 2 of 2" true "$(ans 2 '.prompt | startswith("Day 2 of 2.")')"
t_eq "params.days 2: turn 3 is done" '{"done":true}' "$(ans 3)"
feed --days 2 -- "$(start 1 '{}')" "$(turn 3)"
t_eq "--days 2: turn 3 is done" '{"done":true}' "$(ans 2)"
feed --days 2 -- "$(start 1 '{"days":0}')" "$(turn 3)"
t_eq "params.days 0 overrides --days" true "$(ans 2 '.prompt | startswith("Day 3.")')"

# ---- bad input: an error answer per line, no crash ----
bad=('not json' '[1,2]' '42' '""' '{}' '{"event":42}' '{"event":"launch"}' '{"event":"turn"}'
  '{"event":"turn","turn":"1"}' '{"event":"turn","turn":0}' '{"event":"turn","turn":-3}'
  '{"event":"turn","turn":1000000000}' '{"event":"turn","turn":1.5}' '{"event":"start","turn":"x"}'
  '{"event":"tool"}' '{"event":"tool","name":7}' "$(tool 1 launch_rocket '{}')"
  "$(tool 1 check_stock '"bolts"')" "$(tool 1 check_stock '[1]')" "$(tool 1 check_stock '{}')"
  "$(tool 1 check_stock '{"item":7}')" "$(tool 1 check_stock '{"item":null}')"
  "$(tool 1 check_stock '{"item":"string"}')" "$(tool 1 check_stock '{"item":"écrous"}')"
  "$(tool 1 restock '{"item":"bolts"}')" "$(tool 1 restock '{"item":"bolts","quantity":"5"}')"
  "$(tool 1 restock '{"item":"bolts","quantity":0}')" "$(tool 1 restock '{"item":"bolts","quantity":1001}')"
  "$(tool 1 restock '{"item":"bolts","quantity":-1}')" "$(tool 1 restock '{"item":"bolts","quantity":2.5}')"
  "$(tool 1 restock '{"item":"bolts","quantity":1e300}')" "$(tool 1 restock '{"item":"bolts","quantity":true}')"
  "$(tool 1 restock '{"item":"bolts","quantity":9223372036854775807}')"
  "$(tool 1 restock '{"quantity":5}')" "$(tool 1 restock '{"item":"motors","quantity":1000}')"
  "$(tool 1 ship_order '{}')" "$(tool 1 ship_order '{"order_id":5}')" "$(tool 1 ship_order '{"order_id":"nope"}')"
  '{"event":"tool","name":"get_report","arguments":' '{"event":"start"} trailing')
feed -- "$(start 1 "$P")" "$(turn 1)" "${bad[@]}"
t_eq "bad input: exit 0" 0 "$RC"
t_eq "bad input: one answer per line" $((${#bad[@]} + 2)) "$(nlines "$OUT")"
t_eq "bad input: every answer is an error" "${#bad[@]}" \
  "$(tail -n +3 "$OUT" | jq -s '[.[] | select(keys == ["error"] and (.error | type) == "string")] | length')"
t_ok "an unknown item lists the known items" grep -q "unknown item 'string'; known items: bolts, gears, belts, motors" "$OUT"
t_ok "an unknown order lists the open orders" grep -q "no open order 'nope'; open orders: O1-1" "$OUT"
t_ok "an unknown tool is named" grep -q "unknown tool 'launch_rocket'" "$OUT"
t_ok "no cash, no restock" grep -q 'not enough cash' "$OUT"
feed -- "$(start 1 "$P")" "$(turn 1)" "${bad[@]}" "$(tool 1 get_report '{}')"
after_bad=$(ans $((${#bad[@]} + 3)))
feed -- "$(start 1 "$P")" "$(turn 1)" "$(tool 1 get_report '{}')"
t_eq "bad input did not change the state" "$(ans 3)" "$after_bad"

# Raw bytes: NUL, invalid UTF-8, CRLF, a 2 MiB line, deep nesting, then a good request.
{
  printf '{"event":"tu\0rn","turn":1}\n'
  printf '\xff\xfe{"event"\n'
  printf '{"event":"tool","name":"check_stock","arguments":{"item":"\xc3\x28"}}\n'
  printf '%s\r\n' "$(turn 1)"
  head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a'; printf '\n'
  head -c 100000 /dev/zero | tr '\0' '['; printf '\n'
  printf '%s\n' "$(tool 1 check_stock '{"item":"gears"}')"
  printf '%s' "$(turn 1)"   # no final newline
} >"$H_DIR/raw"
"$ENV" <"$H_DIR/raw" >"$OUT" 2>>"$LOG"
t_eq "raw bytes: exit 0" 0 $?
t_eq "raw bytes: one answer per line" 8 "$(nlines "$OUT")"
t_eq "raw bytes: NUL, invalid UTF-8 are errors" '[true,true,true]' \
  "$(head -n 3 "$OUT" | jq -sc 'map(has("error"))')"
t_eq "raw bytes: a CRLF line is understood" true "$(ans 4 '.prompt | startswith("Day 1.")')"
t_eq "raw bytes: the 2 MiB line is refused" true "$(ans 5 '.error | test("longer than")')"
t_eq "raw bytes: deep nesting is refused" true "$(ans 6 'has("error")')"
t_eq "raw bytes: the environment still answers" '"gears"' "$(ans 7 .content.item)"
t_eq "raw bytes: a last line without newline is answered" true "$(ans 8 'has("prompt")')"

# Mutated requests (deterministic: awk's srand seed): never a crash, always one JSON answer.
printf '%s\n' "${session[@]}" "${bad[@]}" >"$H_DIR/seed"
awk 'BEGIN { srand(42); chars = "{}[]\":,0123456789-.eE abtnul\\" }
     { lines[NR] = $0 }
     END { for (i = 0; i < 3000; i++) {
             s = lines[1 + int(rand() * NR)]; n = 1 + int(rand() * 4)
             for (k = 0; k < n; k++) {
               p = 1 + int(rand() * length(s)); c = substr(chars, 1 + int(rand() * length(chars)), 1)
               r = rand()
               if (r < 0.4) s = substr(s, 1, p - 1) c substr(s, p + 1)
               else if (r < 0.7) s = substr(s, 1, p - 1) substr(s, p + 1)
               else s = substr(s, 1, p) c substr(s, p + 1)
             }
             print s } }' "$H_DIR/seed" >"$H_DIR/fuzz"
"$ENV" <"$H_DIR/fuzz" >"$OUT" 2>>"$LOG"
t_eq "mutated input: exit 0" 0 $?
t_eq "mutated input: one answer per line" "$(nlines "$H_DIR/fuzz")" "$(nlines "$OUT")"
t_eq "mutated input: every answer is one known JSON object" "$(nlines "$OUT")" \
  "$(jq -s '[.[] | select(type == "object" and ((keys - ["content","error","prompt","tools","done"]) == [])
            and (keys | length) <= 1)] | length' "$OUT")"

# ---- examples/sweep.json ----
t_eq "sweep.json is JSON" 0 "$(jq . "$SWEEP" >/dev/null 2>&1; echo $?)"
t_eq "sweep: 12 ids in order" '["A1","A2","A3","B1","B2","B3","B4","B5","B6","C1","C2","C3"]' \
  "$(jq -c '[.experiments[].id]' "$SWEEP")"
t_eq "sweep: only {defaults, experiments}" '["defaults","experiments"]' "$(jq -c 'keys' "$SWEEP")"
t_eq "sweep: only the job fields of SPEC" '[]' "$(jq -c '[.defaults, .experiments[] | keys[]] | unique
  - ["id","model","system","turns","max_actions_per_turn","tools","options","keep_alive","history","params","machine"]' "$SWEEP")"
t_eq "sweep: no tools (the environment supplies them)" false "$(jq '[.. | objects | has("tools")] | any' "$SWEEP")"
t_eq "sweep: each id's params name its group and variant" true "$(jq '[.experiments[] |
  .params.group == .id[0:1] and .params.variant == (.id[1:] | tonumber)] | all' "$SWEEP")"
t_eq "sweep: the defaults" true "$(jq '.defaults | .model == "qwen3:8b" and (.system | length) > 0
  and .max_actions_per_turn == 8 and .keep_alive == "30m" and .history == "reset"
  and (.options | (.temperature | type) == "number" and (.seed | type) == "number" and .num_ctx == 8192)
  and (.params | type) == "object"' "$SWEEP")"
t_eq "sweep: 4-5 day prompts, each starting Day N:" true "$(jq '.defaults.turns | length >= 4 and length <= 5
  and ([to_entries[] | .key as $k | .value | startswith("Day \($k + 1):")] | all)' "$SWEEP")"
t_eq "sweep: temperature is set per group" '[0.2,0.2,0.2,0.7,0.7,0.7,0.7,0.7,0.7,1,1,1]' \
  "$(jq -c '.defaults as $d | [.experiments[] | ($d.options + (.options // {})).temperature]' "$SWEEP")"
# Every experiment's merged params are accepted by the environment without a warning.
jq -c '.defaults.params as $p | .experiments[] |
  {event: "start", experiment: .id, attempt: 1, turn: 1, params: ($p + .params)},
  {event: "turn", experiment: .id, turn: 1, params: ($p + .params)}' "$SWEEP" >"$H_DIR/in"
"$ENV" <"$H_DIR/in" >"$OUT" 2>"$H_DIR/sweep.log"
t_eq "sweep: the environment starts every experiment" 24 "$(jq -s '[.[] | select(has("tools") or has("prompt"))] | length' "$OUT")"
t_eq "sweep: no params warning" 0 "$(grep -c 'params\.' "$H_DIR/sweep.log")"
t_eq "sweep: group B's stock is the day-1 stock" '[5,5,20,20,50,50]' \
  "$(jq -sc '[.[] | .prompt // empty | capture("bolts (?<n>[0-9]+),").n | tonumber][3:9]' "$OUT")"

exit $((H_FAILS > 0))
