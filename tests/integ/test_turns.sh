#!/usr/bin/env bash
# test_turns: the tool loop of one turn, black-box (SPEC "A turn" and its worked example), with
# real processes: redis-server, three ollama-sim boxes (--actions 2, 0 and 1000) and a worker
# beside each, no environment.
# Covers:
#  - the worked example calls = min(N+1, M), actions = min(N, M), stop = answer iff N < M:
#    (N=2,M=8) 3/2/answer; (N=2,M=3) 3/2/answer; (N=2,M=2) 2/2/max_actions; (N=2,M=1)
#    1/1/max_actions; (N=0,M=8) and (N=0,M=1) 1/0/answer; no tools offered (absent or [])
#    1/0/answer; a model that never stops calling tools (N=1000): M=3 3/3/max_actions on every
#    turn, M=1 1/1/max_actions;
#  - the same counts in the sims' request logs: /api/chat lines per experiment+turn equal the
#    record's calls, X-Turnq-Turn runs 1..n, every call on the experiment's own box, status 200;
#  - token sums: every turn's prompt_tokens/eval_tokens > 0, totals equal the sums over turns,
#    totals.calls/actions/turns too; NS:turns:ID equals the result's turns; replaying each call's
#    conversation (rebuilt from the transcript) against the stateless sim gives the transcript's
#    assistant messages again and token counts that sum to the turn's;
#  - no environment: every tool call answered with an error as the tool's content, the turn goes
#    on; the transcript (NS:transcript:ID, one JSON array per turn): the user prompt first, each
#    assistant message's tool_calls with id, function.index and object arguments, each followed
#    by its tool messages (role tool, tool_name, tool_call_id = that call's id, string content);
#    tool messages equal the result's actions (name, arguments, content), reply = last answer;
#  - two tools offered: the k-th call of a turn calls tool k mod 2 (the names in actions);
#  - sim arguments from the schema reach the result as objects with every required property;
#  - `turns` as a number with no environment to supply prompts: failed with an error naming the
#    missing prompt, no call made;
#  - a model the box does not have (nope:1b): failed quickly, the error names the model, the id
#    is in NS:dead, no turn committed, `dispatcher wait` exits 1 naming it (after every
#    experiment ended), `dispatcher results` shows it, and the worker runs the next job to done.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR

h_sim_start a2 --actions 2 || exit 1
h_sim_start a0 --actions 0 || exit 1
h_sim_start ainf --actions 1000 || exit 1
for m in a2 a0 ainf; do h_worker_start "$m"; done
for m in a2 a0 ainf; do
  h_worker_ready "$m" 20 || { t_fail "worker $m is up" "no heartbeat after 20 s"; exit 1; }
done
t_pass "three workers are up"

# A tool whose schema asks for one value of each type; a second, simpler one.
PROBE='{"type":"function","function":{"name":"probe","description":"inspect something","parameters":{"type":"object","properties":{"s":{"type":"string"},"n":{"type":"integer"},"f":{"type":"number"},"b":{"type":"boolean"},"l":{"type":"array","items":{"type":"string"}},"o":{"type":"object","properties":{"k":{"type":"integer"}},"required":["k"]},"opt":{"type":"string"}},"required":["s","n","f","b","l","o"]}}}'
OTHER='{"type":"function","function":{"name":"other","description":"something else","parameters":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}}}'
PROMPTS='["first prompt","second prompt","third prompt"]'

# job ID MACHINE M TOOLS [extra jq object]: one JSON line.
job() {
  jq -cn --arg id "$1" --arg m "$2" --argjson max "$3" --argjson tools "$4" --argjson p "$PROMPTS" \
    --argjson extra "${5:-{\}}" \
    '{id: $id, model: "qwen3:8b", system: "You test tools.", turns: $p, max_actions_per_turn: $max,
      machine: $m} + (if $tools == null then {} else {tools: $tools} end) + $extra'
}
{
  job W28 a2 8 "[$PROBE]"
  job W23 a2 3 "[$PROBE]"
  job W22 a2 2 "[$PROBE]"
  job W21 a2 1 "[$PROBE]"
  job W0 a0 8 "[$PROBE]"
  job WNT a2 8 null
  job WNE a2 8 '[]'
  job W0M1 a0 1 "[$PROBE]"
  job WINF ainf 3 "[$PROBE]"
  job WINF1 ainf 1 "[$PROBE]"
  job WTWO a2 8 "[$PROBE,$OTHER]"
  job WTWOINF ainf 5 "[$PROBE,$OTHER]"
  job WNOPE a0 8 "[$PROBE]" '{"model":"nope:1b"}'
  job WAFTER a0 8 "[$PROBE]" '{"turns":["after the failure"]}'
  job WNUM a2 8 "[$PROBE]" '{"turns":2}'
} >"$T/jobs.jsonl"

# WNOPE's model is missing on the box: the consistency gate would refuse it (test_gate.sh);
# --allow-mixed-digests lets it through to fail at run time.
RC=0; h_disp submit --allow-mixed-digests "$T/jobs.jsonl" >"$T/submit.out" 2>"$T/submit.err" || RC=$?
t_eq "submit: exit 0" 0 "$RC"
t_eq "submit: 15 queued" "15 experiments: 15 queued, 0 unchanged" "$(tail -n1 "$T/submit.out")"
RC=0; h_disp wait --timeout 30 >"$T/wait.out" 2>"$T/wait.err" || RC=$?
t_eq "wait: exit 1 (two experiments failed)" 1 "$RC"
t_ok "wait: names the failed experiment" grep -q 'WNOPE' "$T/wait.out" "$T/wait.err"
t_eq "wait: returned only once every experiment had ended" "" \
  "$(for id in $(h_cli zrange "$NS:ids" 0 -1); do s=$(h_cli hget "$NS:job:$id" state); case $s in done|failed|cancelled) ;; *) echo "$id:$s" ;; esac; done)"

res() { h_cli get "$NS:result:$1"; }
field() { h_cli hget "$NS:job:$1" "$2"; }
# chat LOG: /api/chat lines that are calls of a turn (a preload has "messages": 0 and is none).
chat() { jq -c 'select(.path == "/api/chat" and (.messages // 0) > 0)' "$@"; }

# Checks the structure of a transcript against the result. Input: {tr: [entries], res: result,
# prompts: [...]}; output: a list of problems (empty when all is well).
JQ_TRANSCRIPT='
def entry_problems($i; $prompt; $rec):
  [ .[] | select(.role != "system") ] as $m
  | "turn \($i + 1): " as $p
  | (if ($m | length) == 0 or $m[0].role != "user" then [$p + "the first message is not the user prompt"]
     elif $m[0].content != $prompt then [$p + "user content \($m[0].content | tojson) is not \($prompt | tojson)"]
     else [] end)
  + (reduce $m[1:][] as $x ({pend: [], errs: [], tools: [], asst: [], calls: []};
      if $x.role == "assistant" then
        (if (.pend | length) > 0 then .errs += [$p + "assistant message while tool answers are missing"] else . end)
        | .asst += [$x]
        | .pend = ($x.tool_calls // [])
        | .calls += ($x.tool_calls // [])
        | .errs += [ ($x.tool_calls // [])[]
                     | select((.id | type) != "string" or (.id | length) == 0
                              or (.function.index | type) != "number"
                              or (.function.arguments | type) != "object"
                              or (.function.name | type) != "string")
                     | $p + "malformed tool call \(tojson)" ]
      elif $x.role == "tool" then
        if (.pend | length) == 0 then .errs += [$p + "a tool message answers no call: \($x | tojson)"]
        else .pend[0] as $c
          | (if $x.tool_call_id != $c.id then .errs += [$p + "tool_call_id \($x.tool_call_id | tojson) is not the call id \($c.id | tojson)"] else . end)
          | (if $x.tool_name != $c.function.name then .errs += [$p + "tool_name \($x.tool_name | tojson) is not \($c.function.name | tojson)"] else . end)
          | (if ($x.content | type) != "string" then .errs += [$p + "tool content is not a string"] else . end)
          | .tools += [$x] | .pend = .pend[1:]
        end
      else .errs += [$p + "unexpected role \($x.role | tojson)"] end)
    | .errs
      + (if (.pend | length) > 0 then [$p + "\(.pend | length) tool calls unanswered"] else [] end)
      + (if (.asst | length) != $rec.calls then [$p + "\(.asst | length) assistant messages, the record says \($rec.calls) calls"] else [] end)
      + (if [.tools[].content] != [$rec.actions[].content] then [$p + "tool contents differ from the actions"] else [] end)
      + (if [.calls[].function.name] != [$rec.actions[].name] then [$p + "tool call names differ from the actions"] else [] end)
      + (if [.calls[].function.arguments] != [$rec.actions[].arguments] then [$p + "tool call arguments differ from the actions"] else [] end)
      + (if $rec.stop == "answer" and ((.asst[-1].tool_calls // []) | length) > 0 then [$p + "stop answer but the last reply calls tools"] else [] end)
      + (if $rec.stop == "answer" and .asst[-1].content != $rec.reply then [$p + "reply is not the last answer"] else [] end)
      + (if $rec.stop == "max_actions" and $m[-1].role != "tool" then [$p + "stop max_actions but the turn does not end with the last call executed"] else [] end));
. as $in
| if ($in.tr | length) != ($in.res.turns | length) then ["\($in.tr | length) transcript entries for \($in.res.turns | length) turns"]
  else [ range(0; $in.tr | length) as $i | $in.tr[$i] | entry_problems($i; $in.prompts[$i]; $in.res.turns[$i]) ] | add // []
  end'
transcript_problems() { # ID PROMPTS-JSON
  h_cli lrange "$NS:transcript:$1" 0 -1 | jq -s . >"$T/tr.json"
  jq -n --slurpfile tr "$T/tr.json" --argjson res "$(res "$1")" --argjson prompts "$2" \
    "{tr: \$tr[0], res: \$res, prompts: \$prompts} | $JQ_TRANSCRIPT | .[]" -r
}

# check ID BOX TURNS CALLS ACTIONS STOP [PROMPTS]: one experiment against the worked example.
check() {
  local id=$1 box=$2 n=$3 calls=$4 actions=$5 stop=$6 prompts=${7:-$PROMPTS} r log m
  r=$(res "$id")
  t_eq "$id: state done" done "$(field "$id" state)"
  t_eq "$id: result status done, error null" "done null" "$(jq -r '"\(.status) \(.error)"' <<<"$r")"
  t_eq "$id: turns numbered 1..$n" "$(seq -s, 1 "$n")" "$(jq -r '[.turns[].turn] | join(",")' <<<"$r")"
  t_eq "$id: every turn calls=$calls actions=$actions stop=$stop" \
    "$(for _ in $(seq 1 "$n"); do echo "$calls $actions $stop"; done)" \
    "$(jq -r '.turns[] | "\(.calls) \(.actions | length) \(.stop)"' <<<"$r")"
  t_eq "$id: totals" "$n $((n * calls)) $((n * actions))" \
    "$(jq -r '"\(.totals.turns) \(.totals.calls) \(.totals.actions)"' <<<"$r")"
  t_eq "$id: every turn has prompt_tokens > 0 and eval_tokens > 0" "" \
    "$(jq -r '.turns[] | select((.prompt_tokens | type) != "number" or .prompt_tokens <= 0 or (.eval_tokens | type) != "number" or .eval_tokens <= 0) | .turn' <<<"$r")"
  t_eq "$id: token totals are the sums over turns" true \
    "$(jq '.totals.prompt_tokens == ([.turns[].prompt_tokens] | add) and .totals.eval_tokens == ([.turns[].eval_tokens] | add)' <<<"$r")"
  t_eq "$id: NS:turns equals the result's turns" true \
    "$(h_cli lrange "$NS:turns:$id" 0 -1 | jq -s --argjson r "$r" '. == $r.turns')"
  t_eq "$id: machine and attempts" "$box 1" "$(jq -r '"\(.machine) \(.attempts)"' <<<"$r")"
  eval "log=\$SIM_LOG_$box"
  t_eq "$id: sim log: calls per X-Turnq-Turn equal the records' calls" \
    "$(jq -c '[.turns[] | {turn, n: .calls}]' <<<"$r")" \
    "$(chat "$log" | jq -sc --arg id "$id" '[.[] | select(.experiment == $id)] | group_by(.turn) | map({turn: .[0].turn, n: length})')"
  t_eq "$id: sim log: every call answered 200 for the job's model" "" \
    "$(chat "$log" | jq -r --arg id "$id" 'select(.experiment == $id and (.status != 200 or .model != "qwen3:8b")) | .status')"
  for m in a2 a0 ainf; do
    [ "$m" = "$box" ] && continue
    eval "log=\$SIM_LOG_$m"
    t_eq "$id: no call on box $m" 0 "$(jq -c --arg id "$id" 'select(.experiment == $id)' "$log" | wc -l | tr -d ' ')"
  done
  t_eq "$id: transcript matches the result" "" "$(transcript_problems "$id" "$prompts")"
}

check W28 a2 3 3 2 answer
check W23 a2 3 3 2 answer
check W22 a2 3 2 2 max_actions
check W21 a2 3 1 1 max_actions
check W0 a0 3 1 0 answer
check W0M1 a0 3 1 0 answer
check WNT a2 3 1 0 answer
check WNE a2 3 1 0 answer
check WINF ainf 3 3 3 max_actions
check WINF1 ainf 3 1 1 max_actions
check WTWO a2 3 3 2 answer
check WTWOINF ainf 3 5 5 max_actions
check WAFTER a0 1 1 0 answer '["after the failure"]'

# ---- replay: every call's tokens and reply, recomputed from the deterministic sim ----
# The sim is stateless and deterministic: POSTing the conversation a call sent (rebuilt from the
# transcript: the system message, then the turn's messages up to that assistant reply) with the
# job's tools returns that call's reply and token counts again. So the record's prompt_tokens and
# eval_tokens must be the sums of the replayed calls, and each assistant message in the
# transcript must be the reply as the sim gave it.
replay() { # ID BOX
  local url; eval "url=\$SIM_URL_$2"
  h_cli hget "$NS:job:$1" spec >"$T/rp-spec.json"; res "$1" >"$T/rp-res.json"
  h_cli lrange "$NS:transcript:$1" 0 -1 | jq -s . >"$T/rp-tr.json"
  python3 "$H_ROOT/tests/lib/replay.py" "$url" "$T/rp-spec.json" "$T/rp-res.json" "$T/rp-tr.json" 2>&1
}
for spec in W28:a2 W22:a2 W21:a2 W0:a0 WNT:a2 WINF:ainf WTWO:a2 WTWOINF:ainf; do
  id=${spec%%:*} box=${spec#*:}
  t_eq "$id: replayed calls: the sim's replies are the transcript's, their tokens sum to the record's" "" "$(replay "$id" "$box")"
done

# ---- no environment: tool calls answered with an error, the turn goes on ----
r=$(res W28)
t_eq "no env: every action's content is a string naming an error" "" \
  "$(jq -r '.turns[].actions[] | select((.content | type) != "string" or (.content | test("error"; "i") | not)) | .content' <<<"$r")"
t_eq "no env: the turn goes on after the errors (3 calls, answer)" "3 answer" "$(jq -r '"\(.turns[0].calls) \(.turns[0].stop)"' <<<"$r")"
t_eq "no env: the model saw the tool error (the sim quotes the last tool result)" true \
  "$(jq '.turns[0].reply | test("error"; "i")' <<<"$r")"
t_eq "one tool: every action calls it" "probe" "$(jq -r '[.turns[].actions[].name] | unique | join(",")' <<<"$r")"
t_eq "arguments: objects with every required property, typed as the schema says" "" \
  "$(jq -r '.turns[].actions[].arguments
    | select((type != "object") or ((.s | type) != "string") or ((.n | type) != "number") or ((.f | type) != "number")
             or ((.b | type) != "boolean") or ((.l | type) != "array") or ((.o | type) != "object") or ((.o.k | type) != "number"))
    | tojson' <<<"$r")"
t_eq "assistant tool calls carry function.index" "" \
  "$(h_cli lrange "$NS:transcript:W28" 0 -1 | jq -r '.[] | select(.role == "assistant") | (.tool_calls // [])[] | select(.function | has("index") | not) | tojson')"

# ---- two tools: the k-th call of the turn calls tool k mod 2 ----
t_eq "two tools (N=2): each turn calls probe then other" \
  "probe,other probe,other probe,other" "$(res WTWO | jq -r '[.turns[] | [.actions[].name] | join(",")] | join(" ")')"
t_eq "two tools (N=1000, M=5): names alternate from tool 0" \
  "probe,other,probe,other,probe probe,other,probe,other,probe probe,other,probe,other,probe" \
  "$(res WTWOINF | jq -r '[.turns[] | [.actions[].name] | join(",")] | join(" ")')"
t_eq "two tools: the other tool's arguments follow its schema" "" \
  "$(res WTWO | jq -r '.turns[].actions[] | select(.name == "other" and ((.arguments.x | type) != "number")) | tojson')"

# ---- a model the box does not have ----
r=$(res WNOPE)
t_eq "nope:1b: state failed" failed "$(field WNOPE state)"
t_eq "nope:1b: result status failed" failed "$(jq -r .status <<<"$r")"
t_ok "nope:1b: the result's error names the model" grep -q 'nope:1b' <<<"$(jq -r .error <<<"$r")"
t_ok "nope:1b: the job hash's error names the model" grep -q 'nope:1b' <<<"$(field WNOPE error)"
t_eq "nope:1b: in NS:dead" 1 "$(h_cli lrange "$NS:dead" 0 -1 | grep -cx WNOPE)"
t_eq "dead: nope:1b and WNUM" "WNOPE WNUM" "$(h_cli lrange "$NS:dead" 0 -1 | sort | paste -sd' ')"
t_eq "nope:1b: no turn committed" "0 0" "$(h_cli llen "$NS:turns:WNOPE") $(field WNOPE turn)"
iso_ms() { python3 -c 'import sys,datetime; print(int(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()*1000))' "$1"; }
el=$(( $(iso_ms "$(field WNOPE finished_at)") - $(iso_ms "$(field WNOPE submitted_at)") ))
t_ok "nope:1b: failed quickly (${el} ms after submission, limit 3000)" test "$el" -lt 3000
t_ok "nope:1b: the box answered 404 for it" \
  test "$(jq -c 'select(.path == "/api/chat" and .experiment == "WNOPE" and .status == 404 and .model == "nope:1b")' "$SIM_LOG_a0" | wc -l)" -ge 1
t_eq "nope:1b: events queued, claimed, failed, dead" "queued claimed failed dead" \
  "$(h_cli --json xrange "$NS:events" - + | jq -r '[.[] | .[1] | select(.[1] == "WNOPE") | .[3]] | join(" ")')"
t_eq "nope:1b: dispatcher results shows it failed with the error" "failed true" \
  "$(h_disp results WNOPE | jq -r '"\(.status) \(.error | contains("nope:1b"))"')"
t_eq "after the failure: the worker ran the next job (WAFTER done)" done "$(field WAFTER state)"
t_eq "after the failure: a2/a0/ainf workers all still alive" "1 1 1" \
  "$(for m in a2 a0 ainf; do eval "kill -0 \$WORKER_PID_$m 2>/dev/null && printf 1 || printf 0"; done | sed 's/./& /g; s/ $//')"
# ---- turns as a number, no environment to supply the prompts ----
t_eq "turns: 2 without an environment: failed, not hanging" "failed failed" \
  "$(field WNUM state) $(res WNUM | jq -r .status)"
t_ok "turns: 2 without an environment: the error says there is no prompt ($(field WNUM error))" \
  grep -qi 'prompt' <<<"$(field WNUM error)"
t_eq "turns: 2 without an environment: no call made" 0 \
  "$(jq -c 'select(.path == "/api/chat" and .experiment == "WNUM")' "$SIM_LOG_a2" | wc -l | tr -d ' ')"
t_eq "every action has a number ms >= 0" "" \
  "$(for id in W28 W22 WINF WTWO; do res "$id" | jq -r '.turns[].actions[] | select((.ms | type) != "number" or .ms < 0) | .name'; done)"

t_eq "queues and running lists are empty" 0 \
  "$(for m in a2 a0 ainf; do h_cli llen "$NS:queue:$m"; h_cli llen "$NS:running:$m"; done | paste -sd+ | bc)"

[ "$H_FAILS" -eq 0 ]
