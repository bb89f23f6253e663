#!/usr/bin/env bash
# test_env: the experiment environment (SPEC "The environment", "A turn": offered tools), black-
# box with real processes: redis-server, three ollama-sim boxes (--actions 2) and a worker beside
# each: "wh" (--slots 2) with --env-cmd bin/warehouse-env (behind a wrapper that records every
# start and copies each request and answer line), "bad" with --env-cmd of a broken bash
# environment and --max-attempts 2, "web" (--slots 2) with --env-url of tests/lib/env_http.py
# (which logs what it receives).
# Covers:
#  - --env-cmd: the tools come from the env's start answer (actions name the first two warehouse
#    tools, in the order offered), their contents are the env's answers (JSON content serialised,
#    never a "no environment" error), the turn prompts are the env's; the env receives start
#    (experiment, attempt 1, turn 1, params), turn N (params), tool (turn, action K from 1, the
#    call id the transcript shows, name, arguments) and end (status), in that order, exactly;
#  - the env is started once per experiment attempt (the wrapper's records, the env's own stderr
#    lines in the worker log) and its process is gone after the experiment;
#  - `turns` as an integer with the env supplying the prompts; {"done": true} ends the experiment
#    early, done;
#  - a job tool named like an env tool: failed at start, the error names the tool, in NS:dead,
#    no /api/chat call, the env told `end` with status failed;
#  - an env that exits on a tool event: requeued, then failed after --max-attempts 2 (attempts 2,
#    two env starts with attempt 1 and 2, events requeued/failed/dead), the env's stderr in the
#    worker log; an env answering a non-JSON line (to a tool event, to start): failed with an
#    error saying so; the worker keeps serving (the next job is done);
#  - --env-url: the same result shape, tool contents from the HTTP env (a calculator string and
#    a per-experiment counter as JSON), integer ids kept as numbers in the env's requests, job
#    tools offered before the env's and routed to the env (its error shown to the model), {}
#    keeps the job's prompts, {"done": true} ends early (also before turn 1: done, no turns, zero
#    totals); the same request-sequence checks; `turns` a number and no prompt from the env:
#    failed; the env offering one name twice: failed naming it (end status failed); a 200 whose
#    body is not JSON: failed with an error saying so after --max-attempts 3 (on a two-slot worker:
#    the requeued id must be run again, not dropped), each attempt a new start (attempt 1..3).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR
mkdir -p "$T/wh"

# ---- the environments ----
cat >"$T/wrap.sh" <<'EOF'
#!/usr/bin/env bash
# wrap.sh DIR PROG ARGS...: records this start, then runs PROG, copying its request lines to
# DIR/PID.req and its answer lines to DIR/PID.resp.
d=$1; shift
echo "$$" >>"$d/starts"
tee -a "$d/$$.req" | "$@" | tee -a "$d/$$.resp"
EOF
cat >"$T/badenv.sh" <<EOF
#!/usr/bin/env bash
# A broken environment. start: {} (a non-JSON line when params.mode is garble_start); tool boom:
# exits 3; tool garble: a non-JSON line; any other tool: {"content":"fine"}; else {}.
while IFS= read -r line; do
  case \$line in
    *'"event":"start"'*)
      printf '%s %s\n' "\$\$" "\$line" >>"$T/bad-starts"
      case \$line in *garble_start*) echo 'this is not JSON' ;; *) echo '{}' ;; esac ;;
    *'"event":"tool"'*)
      case \$line in
        *'"name":"boom"'*) echo "badenv[\$\$]: crashing on boom" >&2; exit 3 ;;
        *'"name":"garble"'*) echo 'garbage {' ;;
        *) echo '{"content":"fine"}' ;;
      esac ;;
    *) echo '{}' ;;
  esac
done
EOF
python3 "$H_ROOT/tests/lib/env_http.py" --port 0 --port-file "$T/envhttp.port" --log "$T/envhttp.jsonl" \
  >"$T/envhttp.log" 2>&1 &
H_PIDS+=("$!")
h_wait 10 "[ -s '$T/envhttp.port' ]" || { t_fail "env_http.py starts" "no port file"; exit 1; }
ENV_URL="http://127.0.0.1:$(cat "$T/envhttp.port")/"

for m in wh bad web; do h_sim_start "$m" --actions 2 || exit 1; done
h_worker_start wh --slots 2 --env-cmd "bash $T/wrap.sh $T/wh $H_BIN/warehouse-env"
h_worker_start bad --env-cmd "bash $T/badenv.sh" --max-attempts 2
h_worker_start web --slots 2 --max-attempts 3 --env-url "$ENV_URL"
for m in wh bad web; do
  h_worker_ready "$m" 20 || { t_fail "worker $m is up" "no heartbeat after 20 s"; exit 1; }
done
t_pass "three workers are up"

TOOL() { # TOOL NAME [required-integer-property]: a tool definition
  jq -cn --arg n "$1" --arg p "${2:-}" '{type: "function", function: {name: $n, description: "a tool",
    parameters: ({type: "object", properties: {}, required: []}
      + (if $p == "" then {} else {properties: {($p): {type: "integer"}}, required: [$p]} end))}}'
}
WP='{"demand":"low","stock":20,"budget":500,"world_seed":3}'
{
  # on wh: warehouse-env
  jq -cn --argjson p "$WP" '{id: "E1", model: "qwen3:8b", system: "Run the warehouse.", machine: "wh",
    turns: ["job prompt 1", "job prompt 2", "job prompt 3"], params: $p}'
  jq -cn '{id: "E2", model: "qwen3:8b", machine: "wh", turns: 3, params: {demand: 2, world_seed: 5}}'
  jq -cn '{id: "E3", model: "qwen3:8b", machine: "wh", turns: 5, params: {days: 2}}'
  jq -cn --argjson t "$(TOOL check_stock)" '{id: "EDUP", model: "qwen3:8b", machine: "wh", turns: ["x"], tools: [$t]}'
  # on bad: the broken environment
  jq -cn --argjson t "$(TOOL boom)" '{id: "BCRASH", model: "qwen3:8b", machine: "bad", turns: ["x"], tools: [$t]}'
  jq -cn --argjson t "$(TOOL garble)" '{id: "BGARBLE", model: "qwen3:8b", machine: "bad", turns: ["x"], tools: [$t]}'
  jq -cn '{id: "BGSTART", model: "qwen3:8b", machine: "bad", turns: ["x"], params: {mode: "garble_start"}}'
  jq -cn --argjson t "$(TOOL fine)" '{id: "BFINE", model: "qwen3:8b", machine: "bad", turns: ["x", "y"], tools: [$t]}'
  # on web: env_http.py
  jq -cn '{id: 77, model: "qwen3:8b", system: "Count.", machine: "web", turns: 2, params: {x: 1}}'
  jq -cn --argjson t "$(TOOL jobtool n)" '{id: "W2", model: "qwen3:8b", machine: "web",
    turns: ["p1", "p2", "p3"], tools: [$t], params: {prompts: "job"}}'
  jq -cn '{id: "W3", model: "qwen3:8b", machine: "web", turns: 5, params: {stop_after: 2}}'
  jq -cn '{id: "W4", model: "qwen3:8b", machine: "web", turns: 2, params: {prompts: "job"}}'
  jq -cn '{id: "W5", model: "qwen3:8b", machine: "web", turns: 3, params: {stop_after: 0}}'
  jq -cn '{id: "W6", model: "qwen3:8b", machine: "web", turns: ["x"], params: {mode: "dup_tools"}}'
  jq -cn '{id: "W7", model: "qwen3:8b", machine: "web", turns: ["x"], params: {mode: "garble_tool"}}'
} >"$T/jobs.jsonl"

RC=0; h_disp submit "$T/jobs.jsonl" >"$T/submit.out" 2>&1 || RC=$?
t_eq "submit: exit 0" 0 "$RC"
RC=0; h_disp wait --timeout 15 >"$T/wait.out" 2>&1 || RC=$?
t_eq "wait: exit 1 (some failed on purpose)" 1 "$RC"
t_ok "wait: ended in time, not by its timeout" bash -c "! grep -q 'timed out' '$T/wait.out'"

res() { h_cli get "$NS:result:$1"; }
field() { h_cli hget "$NS:job:$1" "$2"; }
spec() { h_cli hget "$NS:job:$1" spec; }
chat_calls() { # BOX ID: /api/chat calls of the experiment in the box's log
  local log; eval "log=\$SIM_LOG_$1"
  jq -c --arg id "$2" 'select(.path == "/api/chat" and .experiment == $id and (.messages // 0) > 0)' "$log" | wc -l | tr -d ' '
}
events() { h_cli --json xrange "$NS:events" - + | jq -r --arg id "$1" '[.[] | .[1] | select(.[1] == $id) | .[3]] | join(" ")'; }
in_dead() { h_cli lrange "$NS:dead" 0 -1 | grep -cx "$1"; }

# The request sequence an environment must have seen for one experiment, and its answers used.
# Input {reqs, resps, res, tr, job, early}; output: a list of problems.
JQ_ENV='
def want:
  . as $in | $in.job.id as $id | ($in.job.params // {}) as $params | $in.res.turns as $turns
  | [{event: "start", experiment: $id, attempt: 1, turn: 1, params: $params}]
    + [range(0; $turns | length) as $t
        | ([$in.tr[$t][] | select(.role == "tool") | .tool_call_id]) as $ids
        | ([{event: "turn", experiment: $id, turn: ($t + 1), params: $params}]
           + [$turns[$t].actions | to_entries[] | {event: "tool", experiment: $id, turn: ($t + 1),
               action: (.key + 1), id: $ids[.key], name: .value.name, arguments: .value.arguments}])
        | .[]]
    + (if $in.early then [{event: "turn", experiment: $id, turn: (($turns | length) + 1), params: $params}] else [] end)
    + [{event: "end", experiment: $id, status: $in.res.status}];
def project($w): with_entries(select(.key as $k | $w | has($k)));
. as $in | want as $want
| (if ($in.reqs | length) != ($want | length)
   then ["\($in.reqs | length) requests, expected \($want | length): \([$in.reqs[].event] | join(","))"] else [] end)
+ [range(0; [($in.reqs | length), ($want | length)] | min) as $i
   | $in.reqs[$i] as $q | $want[$i] as $w
   | select(($q | project($w)) != $w)
   | "request \($i + 1): \($q | tojson), expected \($w | tojson)"]
+ (if ($in.resps | length) != ($in.reqs | length) then ["\($in.resps | length) answers for \($in.reqs | length) requests"] else [] end)
+ [range(0; $in.reqs | length) as $i | $in.reqs[$i] as $q | $in.resps[$i] as $a
   | if $q.event == "turn" and $q.turn <= ($in.res.turns | length) then
       ([$in.tr[$q.turn - 1][] | select(.role == "user")][0].content) as $u
       | (if ($a.prompt | type) == "string" then $a.prompt
          elif ($in.job.turns | type) == "array" then $in.job.turns[$q.turn - 1] else null end) as $p
       | select($u != $p) | "turn \($q.turn): the user prompt \($u | tojson) is not \($p | tojson)"
     elif $q.event == "tool" then
       ($in.res.turns[$q.turn - 1].actions[$q.action - 1].content) as $c
       | "turn \($q.turn) action \($q.action): content \($c | tojson)" as $what
       | if ($a | has("error")) then
           select(($c | type) != "string" or ($c | contains($a.error) | not)) | "\($what) does not show the error \($a.error | tojson)"
         elif ($a.content | type) == "string" then select($c != $a.content) | "\($what) is not \($a.content | tojson)"
         else select((try ($c | fromjson) catch "unparsable") != $a.content) | "\($what) is not \($a.content | tojson) serialised"
         end
     else empty end]'
# env_problems ID REQS-FILE RESPS-FILE EARLY(true|false)
env_problems() {
  h_cli lrange "$NS:transcript:$1" 0 -1 | jq -s . >"$T/tr.json"
  jq -nr --slurpfile q "$2" --slurpfile a "$3" --argjson res "$(res "$1")" --slurpfile tr "$T/tr.json" \
    --argjson job "$(spec "$1")" --argjson early "$4" \
    "{reqs: \$q[0], resps: \$a[0], res: \$res, tr: \$tr[0], job: \$job, early: \$early} | $JQ_ENV | .[]"
}

# ======== --env-cmd: warehouse-env ========
printf '%s\n' '{"event":"start","experiment":"x","attempt":1,"turn":1,"params":{}}' | "$H_BIN/warehouse-env" 2>/dev/null |
  jq -r '[.tools[].function.name] | join(" ")' >"$T/wh-tools"
t_eq "warehouse-env offers its four tools" "check_stock restock ship_order get_report" "$(cat "$T/wh-tools")"
# wh_files ID: the wrapper's request/answer files of the process that ran ID (one per attempt).
wh_pids() { for f in "$T"/wh/*.req; do head -n1 "$f" | jq -e --arg id "$1" '.experiment == $id' >/dev/null && basename "$f" .req; done; }

for id in E1 E2 E3; do
  r=$(res "$id")
  case $id in E3) n=2 early=true ;; *) n=3 early=false ;; esac
  t_eq "$id: done, $n turns, error null" "done $n null" "$(jq -r '"\(.status) \(.turns | length) \(.error)"' <<<"$r")"
  t_eq "$id: every turn: 3 calls, actions check_stock then restock (the env's tools in order), answer" "" \
    "$(jq -r '.turns[] | select(.calls != 3 or .stop != "answer" or ([.actions[].name] != ["check_stock", "restock"])) | .turn' <<<"$r")"
  t_eq "$id: no action reports a missing environment or an unknown tool" "" \
    "$(jq -r '.turns[].actions[] | select(.content | test("no environment|unknown tool")) | .content' <<<"$r")"
  t_eq "$id: sim log calls equal the result's" "$(jq .totals.calls <<<"$r")" "$(chat_calls wh "$id")"
  pids=$(wh_pids "$id")
  t_eq "$id: one env process (one attempt)" "1 1" "$(echo "$pids" | grep -c .) $(field "$id" attempts)"
  p=$(echo "$pids" | head -n1)
  jq -s . "$T/wh/$p.req" >"$T/q.json"; jq -s . "$T/wh/$p.resp" >"$T/a.json"
  t_eq "$id: the env saw start, turn, tool..., end in order with ids and params; its answers were used" "" \
    "$(env_problems "$id" "$T/q.json" "$T/a.json" "$early")"
done
t_eq "E1: the tool contents are the env's (check_stock's JSON answer, serialised)" true \
  "$(res E1 | jq '[.turns[].actions[] | select(.name == "check_stock") | .content | fromjson | has("stock")] | all')"
t_eq "E1: the env's prompts replaced the job's" "Day 1 Day 2 Day 3" \
  "$(h_cli lrange "$NS:transcript:E1" 0 -1 | jq -r '[.[] | select(.role == "user")][0].content | capture("^(?<d>Day [0-9]+)").d' | paste -sd' ')"
t_eq "E2: turns: 3 with the env's prompts: 3 turns done" "done 3" "$(res E2 | jq -r '"\(.status) \(.totals.turns)"')"
t_eq "E3: {\"done\": true} before turn 3 ends it done with 2 turns" "done 2 done" \
  "$(res E3 | jq -r '"\(.status) \(.totals.turns)"') $(field E3 state)"

r=$(res EDUP)
t_eq "EDUP: a job tool named like an env tool: failed" "failed failed" "$(field EDUP state) $(jq -r .status <<<"$r")"
t_ok "EDUP: the error names the tool ($(jq -r .error <<<"$r"))" grep -q "check_stock" <<<"$(jq -r .error <<<"$r")"
t_eq "EDUP: in NS:dead" 1 "$(in_dead EDUP)"
t_eq "EDUP: no /api/chat call, no turn" "0 0" "$(chat_calls wh EDUP) $(h_cli llen "$NS:turns:EDUP")"
p=$(wh_pids EDUP | head -n1)
t_eq "EDUP: the env saw start, then end with status failed" "start end:failed" \
  "$(jq -r '.event + (if .status then ":" + .status else "" end)' "$T/wh/$p.req" | paste -sd' ')"

starts=$(wc -l <"$T/wh/starts" | tr -d ' ')
att=0; for id in E1 E2 E3 EDUP; do att=$((att + $(field "$id" attempts))); done
t_eq "wh: the env was started once per experiment attempt" "$att" "$starts"
t_eq "wh: the env's stderr is in the worker log: one 'start' line per attempt" "E1:1 E2:1 E3:1 EDUP:1" \
  "$(for id in E1 E2 E3 EDUP; do printf '%s:%s ' "$id" "$(grep -c "warehouse-env\[[0-9]*\] I experiment=$id start" "$T/worker-wh.log")"; done | sed 's/ $//')"
t_ok "wh: every env process has exited after its experiment" \
  h_wait 5 "for p in \$(cat '$T/wh/starts'); do kill -0 \$p 2>/dev/null && exit 1; done; true"

# ======== --env-cmd: a broken environment ========
r=$(res BCRASH)
t_eq "BCRASH: an env exiting on a tool event: failed" "failed failed" "$(field BCRASH state) $(jq -r .status <<<"$r")"
t_eq "BCRASH: after --max-attempts 2 attempts" 2 "$(field BCRASH attempts)"
t_ok "BCRASH: the error says the environment went away ($(jq -r .error <<<"$r"))" \
  grep -qiE 'environment.*(exit|closed|died|status)' <<<"$(jq -r .error <<<"$r")"
t_eq "BCRASH: in NS:dead" 1 "$(in_dead BCRASH)"
t_eq "BCRASH: events queued, claimed, requeued, claimed, failed, dead" "queued claimed requeued claimed failed dead" "$(events BCRASH)"
t_eq "BCRASH: the env was started once per attempt (attempt 1, then 2)" "1 2" \
  "$(grep '"BCRASH"' "$T/bad-starts" | cut -d' ' -f2- | jq -r .attempt | paste -sd' ')"
t_eq "BCRASH: the env's stderr reached the worker log, once per attempt" 2 "$(grep -c 'badenv\[[0-9]*\]: crashing on boom' "$T/worker-bad.log")"
t_eq "BCRASH: no turn committed" 0 "$(h_cli llen "$NS:turns:BCRASH")"
for id in BGARBLE BGSTART; do
  r=$(res "$id")
  t_eq "$id: an env answering a non-JSON line: failed, in NS:dead" "failed failed 1" \
    "$(field "$id" state) $(jq -r .status <<<"$r") $(in_dead "$id")"
  t_ok "$id: a clear error naming JSON ($(jq -r .error <<<"$r"))" grep -q 'JSON' <<<"$(jq -r .error <<<"$r")"
done
t_eq "BGSTART: no /api/chat call (it failed at start)" 0 "$(chat_calls bad BGSTART)"
t_eq "BFINE: the worker kept serving: the next job is done, 2 turns" "done 2" "$(res BFINE | jq -r '"\(.status) \(.totals.turns)"')"
t_eq "BFINE: its tool contents are the env's" "fine" "$(res BFINE | jq -r '[.turns[].actions[].content] | unique | join(",")')"
t_ok "bad: the worker is still running" kill -0 "$WORKER_PID_bad"
att=0; for id in BCRASH BGARBLE BGSTART BFINE; do att=$((att + $(field "$id" attempts))); done
t_eq "bad: the env was started once per experiment attempt" "$att" "$(wc -l <"$T/bad-starts" | tr -d ' ')"
t_ok "bad: every env process has exited" \
  h_wait 5 "for p in \$(cut -d' ' -f1 '$T/bad-starts'); do kill -0 \$p 2>/dev/null && exit 1; done; true"

# ======== --env-url: env_http.py ========
# http_exchange ID-JSON: the env's log lines for that experiment (its id with its JSON type).
http_exchange() {
  jq -c --argjson id "$1" 'select(.req.experiment == $id)' "$T/envhttp.jsonl" >"$T/ex.jsonl"
  jq -s 'map(.req)' "$T/ex.jsonl" >"$T/q.json"; jq -s 'map(.resp)' "$T/ex.jsonl" >"$T/a.json"
}
r=$(res 77)
t_eq "77: done, 2 turns, id a number" "done 2 number" "$(jq -r '"\(.status) \(.turns | length) \(.id | type)"' <<<"$r")"
t_eq "77: actions calc then counter_add (the env's tools), 3 calls, answer" "" \
  "$(jq -r '.turns[] | select(.calls != 3 or .stop != "answer" or ([.actions[].name] != ["calc", "counter_add"])) | .turn' <<<"$r")"
t_eq "77: calc contents are the env's string a+b=sum" "" \
  "$(jq -r '.turns[].actions[] | select(.name == "calc") | select(.content != "\(.arguments.a)+\(.arguments.b)=\(.arguments.a + .arguments.b)") | .content' <<<"$r")"
t_eq "77: counter_add contents are the env's JSON, counting per experiment" "" \
  "$(jq -r '[.turns[].actions[] | select(.name == "counter_add")] | . as $a
    | range(0; length) as $i | ([$a[0:$i + 1][].arguments.n] | add) as $sum
    | select(($a[$i].content | fromjson) != {counter: $sum, calls: ($i + 1)}) | $a[$i].content' <<<"$r")"
http_exchange 77
t_eq "77: the HTTP env got a number as the experiment id, never text" 0 \
  "$(jq -c 'select(.req.experiment == "77")' "$T/envhttp.jsonl" | wc -l | tr -d ' ')"
t_eq "77: the env saw start, turn, tool..., end in order with ids and params; its answers were used" "" \
  "$(env_problems 77 "$T/q.json" "$T/a.json" false)"
t_eq "77: the result has the same shape as a warehouse one (result, turn and action keys)" \
  "$(res E1 | jq -c '[keys, (.turns[0] | keys), (.turns[0].actions[0] | keys)]')" \
  "$(jq -c '[keys, (.turns[0] | keys), (.turns[0].actions[0] | keys)]' <<<"$r")"
t_eq "77: sim log calls equal the result's" "$(jq .totals.calls <<<"$r")" "$(chat_calls web 77)"

r=$(res W2)
t_eq "W2: done, 3 turns" "done 3" "$(jq -r '"\(.status) \(.turns | length)"' <<<"$r")"
t_eq "W2: the job's tool is offered first, then the env's: actions jobtool, calc" "" \
  "$(jq -r '.turns[] | select([.actions[].name] != ["jobtool", "calc"]) | .turn' <<<"$r")"
t_eq "W2: the job's tool call went to the env; its error is the tool's content" "" \
  "$(jq -r '.turns[].actions[] | select(.name == "jobtool" and (.content | contains("no tool jobtool here") | not)) | .content' <<<"$r")"
http_exchange '"W2"'
t_eq "W2: {} from the env keeps the job's prompts; the request sequence" "" "$(env_problems W2 "$T/q.json" "$T/a.json" false)"
t_eq "W2: the transcript's prompts are the job's" "p1 p2 p3" \
  "$(h_cli lrange "$NS:transcript:W2" 0 -1 | jq -r '[.[] | select(.role == "user")][0].content' | paste -sd' ')"

r=$(res W3)
t_eq "W3: {\"done\": true} over HTTP ends it done after 2 of 5 turns" "done 2" "$(jq -r '"\(.status) \(.turns | length)"' <<<"$r")"
http_exchange '"W3"'
t_eq "W3: the request sequence, up to the refused turn 3 and end" "" "$(env_problems W3 "$T/q.json" "$T/a.json" true)"
t_eq "W3: its counter started from 0 (per-experiment state)" 1 \
  "$(jq -r '[.turns[].actions[] | select(.name == "counter_add")][0].content | fromjson | .calls' <<<"$r")"

t_eq "W4: turns: 2 and the env gives no prompt ({}): failed, the error says so" "failed 1" \
  "$(field W4 state) $(field W4 error | grep -ci 'prompt')"
r=$(res W5)
t_eq "W5: {\"done\": true} before turn 1: done with no turns, zero totals" \
  'done [] {"turns":0,"calls":0,"actions":0,"prompt_tokens":0,"eval_tokens":0}' \
  "$(jq -c -r '"\(.status) \(.turns | tojson) \(.totals | {turns, calls, actions, prompt_tokens, eval_tokens} | tojson)"' <<<"$r")"
http_exchange '"W5"'
t_eq "W5: the env saw start, turn 1, end" "" "$(env_problems W5 "$T/q.json" "$T/a.json" true)"
t_eq "W5: no /api/chat call" 0 "$(chat_calls web W5)"
r=$(res W6)
t_eq "W6: the env offering one tool name twice: failed, in NS:dead" "failed failed 1" \
  "$(field W6 state) $(jq -r .status <<<"$r") $(in_dead W6)"
t_ok "W6: the error names the tool ($(jq -r .error <<<"$r"))" grep -q "calc" <<<"$(jq -r .error <<<"$r")"
t_eq "W6: no /api/chat call" 0 "$(chat_calls web W6)"
t_eq "W6: the env saw start, then end with status failed" "start end:failed" \
  "$(jq -r 'select(.req.experiment == "W6") | .req | .event + (if .status then ":" + .status else "" end)' "$T/envhttp.jsonl" | paste -sd' ')"
r=$(res W7)
t_eq "W7: the HTTP env answering a body that is not JSON: failed, in NS:dead" "failed failed 1" \
  "$(field W7 state) $(jq -r .status <<<"$r") $(in_dead W7)"
t_ok "W7: a clear error naming JSON ($(jq -r .error <<<"$r"))" grep -q 'JSON' <<<"$(jq -r .error <<<"$r")"
t_eq "W7: a requeued attempt runs again on the two-slot worker, up to --max-attempts 3" 3 "$(field W7 attempts)"
t_eq "W7: every attempt started the env anew, with its attempt number" "$(seq -s' ' 1 "$(field W7 attempts)")" \
  "$(jq -r 'select(.req.experiment == "W7" and .req.event == "start") | .req.attempt' "$T/envhttp.jsonl" | paste -sd' ')"
t_ok "web: the worker is still running" kill -0 "$WORKER_PID_web"

t_eq "queues and running lists are empty" 0 \
  "$( { echo 0; for m in wh bad web; do h_cli llen "$NS:queue:$m"; h_cli llen "$NS:running:$m"; done; } | paste -sd+ | bc)"
t_eq "dead: exactly the failed ones" "BCRASH BGARBLE BGSTART EDUP W4 W6 W7" \
  "$(h_cli lrange "$NS:dead" 0 -1 | sort -u | paste -sd' ')"

[ "$H_FAILS" -eq 0 ]
