#!/usr/bin/env bash
# test_history: what each /api/chat call of a turn sends under `history: reset` and `carry`
# (SPEC "The job": history; "A turn"), black-box with real processes: redis-server, two
# ollama-sim boxes (--actions 2 and --actions 1000) and a worker beside each, no environment.
# The expected message counts come from the sim's --actions N and the job's budget M alone:
# a turn makes calls = min(N+1, M) and actions = min(N, M), each tool-calling reply adds one
# assistant and one tool message, so call j (from 0) of a turn sends BASE + 1 + 2j messages, where
# BASE is the system message (0 or 1) under reset, or the whole conversation so far under carry
# (each turn adds 1 user + calls assistant + actions tool messages).
# Covers:
#  - reset (absent and explicit): the first call of every turn sends 2 messages (system + user),
#    then 4, 6; without a system prompt 1, 3, 5; with the budget spent (M=2) 2, 4 every turn;
#  - carry: the first call of turn k sends all the previous turns' messages plus the new prompt
#    (2, 8, 14 with a system prompt; 1, 7, 13 without; 2, 7, 12 when every turn ends at
#    max_actions, its last call executed; 2, 4, 6 with no tools offered);
#  - the X-Turnq-Turn of each call, calls per turn and the results' counts;
#  - carry transcript: the entries concatenated are the conversation: one system message first
#    (the job's), the user prompts in turn order at the right places, as long as the conversation,
#    the prefix before turn k as long as what turn k's first call sent minus 1, every tool message
#    answering an earlier assistant tool call (same id and name);
#  - reset transcript: each entry holds its turn's prompt once, 1 + calls + actions messages
#    besides any system message;
#  - replaying each call's conversation, rebuilt from the transcript as the history mode says,
#    against the stateless sim gives the same replies (tool call ids hash the whole conversation)
#    and token counts summing to the records': the content sent, not only its length, is right.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR

h_sim_start h2 --actions 2 || exit 1
h_sim_start hinf --actions 1000 || exit 1
for m in h2 hinf; do h_worker_start "$m"; done
for m in h2 hinf; do
  h_worker_ready "$m" 20 || { t_fail "worker $m is up" "no heartbeat after 20 s"; exit 1; }
done
t_pass "two workers are up"
declare -A ACTIONS=([h2]=2 [hinf]=1000)

CALC='{"type":"function","function":{"name":"calc","description":"adds","parameters":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]}}}'
PROMPTS='["turn one","turn two","turn three"]'
SYSTEM="You are tested on history."

# job ID BOX HISTORY(absent|reset|carry) SYSTEM(yes|no) M TOOLS(yes|no)
declare -A J_BOX J_HIST J_SYS J_M J_TOOLS
job() {
  J_BOX[$1]=$2; J_HIST[$1]=$3; J_SYS[$1]=$4; J_M[$1]=$5; J_TOOLS[$1]=$6
  jq -cn --arg id "$1" --arg box "$2" --arg h "$3" --arg sys "$4" --argjson m "$5" --arg tools "$6" \
    --argjson calc "$CALC" --argjson p "$PROMPTS" --arg system "$SYSTEM" \
    '{id: $id, model: "qwen3:8b", turns: $p, max_actions_per_turn: $m, machine: $box}
     + (if $h == "absent" then {} else {history: $h} end)
     + (if $sys == "yes" then {system: $system} else {} end)
     + (if $tools == "yes" then {tools: [$calc]} else {} end)'
}
{
  job HR h2 absent yes 8 yes
  job HRX h2 reset yes 8 yes
  job HRN h2 reset no 8 yes
  job HRM hinf reset yes 2 yes
  job HC h2 carry yes 8 yes
  job HCN h2 carry no 8 yes
  job HCT h2 carry yes 8 no
  job HCM hinf carry yes 2 yes
} >"$T/jobs.jsonl"
IDS="HR HRX HRN HRM HC HCN HCT HCM"

RC=0; h_disp submit "$T/jobs.jsonl" >"$T/submit.out" 2>&1 || RC=$?
t_eq "submit: exit 0" 0 "$RC"
RC=0; h_disp wait --timeout 30 >"$T/wait.out" 2>&1 || RC=$?
t_eq "wait: exit 0" 0 "$RC"

res() { h_cli get "$NS:result:$1"; }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }

# expected ID: "k:c1,c2,...;" per turn, the message counts of each call, from --actions and M.
expected() {
  local id=$1 n m calls actions base conv k j out=""
  n=${ACTIONS[${J_BOX[$id]}]}; m=${J_M[$id]}
  if [ "${J_TOOLS[$id]}" = yes ]; then calls=$(min $((n + 1)) "$m"); actions=$(min "$n" "$m")
  else calls=1; actions=0; fi
  conv=0; [ "${J_SYS[$id]}" = yes ] && conv=1
  local sys=$conv
  for k in 1 2 3; do
    if [ "${J_HIST[$id]}" = carry ]; then base=$conv; else base=$sys; fi
    out+="$k:"
    for j in $(seq 0 $((calls - 1))); do out+="$((base + 1 + 2 * j)),"; done
    out="${out%,};"
    conv=$((conv + 1 + calls + actions))
  done
  echo "$out"
  EXP_CALLS=$calls EXP_ACTIONS=$actions EXP_CONV=$conv
}
# observed ID: the same from the sim's request log.
observed() {
  local log; eval "log=\$SIM_LOG_${J_BOX[$1]}"
  jq -sr --arg id "$1" '[.[] | select(.path == "/api/chat" and .experiment == $id and (.messages // 0) > 0)]
    | group_by(.turn) | map("\(.[0].turn):\([.[].messages | tostring] | join(","));") | join("")' "$log"
}

for id in $IDS; do
  want=$(expected "$id")
  expected "$id" >/dev/null # sets EXP_* in this shell
  t_eq "$id (${J_HIST[$id]}, system ${J_SYS[$id]}, M=${J_M[$id]}, tools ${J_TOOLS[$id]}): messages sent by each call" \
    "$want" "$(observed "$id")"
  r=$(res "$id")
  t_eq "$id: done, 3 turns of $EXP_CALLS calls and $EXP_ACTIONS actions" \
    "done 3 $EXP_CALLS,$EXP_CALLS,$EXP_CALLS $EXP_ACTIONS,$EXP_ACTIONS,$EXP_ACTIONS" \
    "$(jq -r '"\(.status) \(.turns | length) \([.turns[].calls] | map(tostring) | join(",")) \([.turns[].actions | length] | map(tostring) | join(","))"' <<<"$r")"
  h_cli lrange "$NS:transcript:$id" 0 -1 | jq -s . >"$T/tr-$id.json"
  t_eq "$id: 3 transcript entries" 3 "$(jq length "$T/tr-$id.json")"
done

# The first call of every turn under reset: system + user.
for id in HR HRX HRM; do
  t_eq "$id: reset: the first call of every turn sends 2 messages" "2 2 2" \
    "$(observed "$id" | tr ';' '\n' | sed -n 's/^[0-9]*:\([0-9]*\).*/\1/p' | paste -sd' ')"
done
t_eq "HRN: reset without a system prompt: the first call sends 1 message" "1 1 1" \
  "$(observed HRN | tr ';' '\n' | sed -n 's/^[0-9]*:\([0-9]*\).*/\1/p' | paste -sd' ')"
t_eq "HR and HRX: absent history is reset" "$(observed HRX)" "$(observed HR)"

# ---- reset transcripts ----
for id in HR HRN HRM; do
  expected "$id" >/dev/null
  t_eq "$id: each entry: its prompt once, then $EXP_CALLS assistant and $EXP_ACTIONS tool messages" \
    "$(jq -rn --argjson p "$PROMPTS" --arg c "$EXP_CALLS" --arg a "$EXP_ACTIONS" '$p[] | "\(.) \($c) \($a)"')" \
    "$(jq -r '.[] | [.[] | select(.role != "system")] as $m
      | "\([$m[] | select(.role == "user") | .content] | join("|")) \([$m[] | select(.role == "assistant")] | length) \([$m[] | select(.role == "tool")] | length)"' "$T/tr-$id.json")"
  t_eq "$id: each entry starts with its user prompt (after any system message)" "user user user" \
    "$(jq -r '[.[] | [.[] | select(.role != "system")][0].role] | join(" ")' "$T/tr-$id.json")"
done

# ---- carry transcripts: the entries concatenated are the conversation ----
for id in HC HCN HCT HCM; do
  expected "$id" >/dev/null
  f=$T/tr-$id.json
  t_eq "$id: the concatenation is as long as the conversation ($EXP_CONV messages)" "$EXP_CONV" "$(jq 'add | length' "$f")"
  if [ "${J_SYS[$id]}" = yes ]; then
    t_eq "$id: it starts with the job's system message, and holds only that one" "system|$SYSTEM|1" \
      "$(jq -r 'add | "\(.[0].role)|\(.[0].content)|\([.[] | select(.role == "system")] | length)"' "$f")"
  else
    t_eq "$id: no system message anywhere" 0 "$(jq 'add | [.[] | select(.role == "system")] | length' "$f")"
  fi
  t_eq "$id: the user prompts in turn order" "$(jq -r '.[]' <<<"$PROMPTS" | paste -sd'|')" \
    "$(jq -r 'add | [.[] | select(.role == "user") | .content] | join("|")' "$f")"
  # What turn k's first call sent = the conversation before turn k + the new prompt (the system
  # message, part of the conversation from the start, is recorded with turn 1).
  t_eq "$id: turn k's first call sent the entries before k plus its prompt" \
    "$(observed "$id" | tr ';' '\n' | sed -n 's/^[0-9]*:\([0-9]*\).*/\1/p' | paste -sd' ')" \
    "$(jq -r '. as $e | [range(0; length) as $k | ($e[0:$k] | add // [] | length) + 1
      + (if $k == 0 then ([$e[0][] | select(.role == "system")] | length) else 0 end)] | map(tostring) | join(" ")' "$f")"
  t_eq "$id: the user prompt of turn k stands right after the conversation before k" "" \
    "$(jq -r '. as $e | range(0; length) as $k | (($e[0:$k] | add // [] | length) + (if $k == 0 then ([$e[0][] | select(.role == "system")] | length) else 0 end)) as $at
      | (add)[$at] | select(.role != "user") | "turn \($k + 1): message \($at) is \(.role)"' "$f")"
  t_eq "$id: every tool message answers an earlier call of the conversation (id and name)" "" \
    "$(jq -r 'add | reduce .[] as $m ({calls: {}, errs: []};
        if $m.role == "assistant" then .calls += ([($m.tool_calls // [])[] | {key: .id, value: .function.name}] | from_entries)
        elif $m.role == "tool" then (if .calls[$m.tool_call_id] == $m.tool_name then . else .errs += ["\($m.tool_call_id) \($m.tool_name)"] end)
        else . end) | .errs[]' "$f")"
done
# ---- replay: what each call sent, checked through the deterministic sim ----
# The sim is stateless: POSTing the conversation a call must have sent (for carry: every earlier
# entry of the transcript plus this turn's messages up to the reply; for reset: the system
# message plus this turn's) returns the same reply (tool call ids hash the whole conversation
# sent) and token counts (from its size) that must sum to the turn's record.
replay() { # ID BOX
  local url; eval "url=\$SIM_URL_$2"
  h_cli hget "$NS:job:$1" spec >"$T/rp-spec.json"; res "$1" >"$T/rp-res.json"
  h_cli lrange "$NS:transcript:$1" 0 -1 | jq -s . >"$T/rp-tr.json"
  python3 "$H_ROOT/tests/lib/replay.py" "$url" "$T/rp-spec.json" "$T/rp-res.json" "$T/rp-tr.json" 2>&1
}
for id in $IDS; do
  t_eq "$id: replayed calls give the transcript's replies and the record's token sums" "" "$(replay "$id" "${J_BOX[$id]}")"
done

t_eq "HCM: carry with max_actions: every turn but the first starts after a tool message" "tool tool" \
  "$(jq -r '[.[0:2][] | .[-1].role] | join(" ")' "$T/tr-HCM.json")"

[ "$H_FAILS" -eq 0 ]
