#!/usr/bin/env bash
# test_sim.sh: bin/ollama-sim against SPEC "bin/ollama-sim" and reference/ollama-api.md, with
# curl and jq only (no Redis). Covers tests/ollama-sim/*.c:
#   - the worked example of SPEC "A turn", replayed the way a client runs a turn (stream, append
#     the assistant message as received, append tool results, call again), with and without tools;
#   - chunk format (tool_calls with id/index, done chunk metrics, created_at), stream:false,
#     determinism, schema-built arguments, --actions 0;
#   - Ollama's strictness: 400s, 404, 405, 500 on option types, 403 on a foreign Host;
#   - preload/unload, /api/ps, /api/show, /api/tags digests across two sims, model name matching;
#   - HTTP: Expect: 100-continue, keep-alive, pipelining, chunked request bodies, HTTP/1.0;
#   - --load-ms, --token-ms, --parallel (via the log's timestamps), every --fail-mode;
#   - the request log's exact keys and header capture, bad flags, SIGTERM.
. "$(dirname "$0")/../lib/harness.sh"

SIM=$H_BIN/ollama-sim
[ -x "$SIM" ] || { t_fail "ollama-sim built" "$SIM missing (make bin/ollama-sim)"; exit 1; }
T=$H_DIR # scratch files

MSGS0='[{"role":"system","content":"You manage a small warehouse."},{"role":"user","content":"Day 1: orders arrived for bolts and nuts."}]'
TOOL_RESTOCK='{"type":"function","function":{"name":"restock","description":"Order more of an item",
  "parameters":{"type":"object","properties":{"item":{"type":"string"},"qty":{"type":"integer"}},"required":["item"]}}}'
TOOL_PRICE='{"type":"function","function":{"name":"set_price","description":"Set a price",
  "parameters":{"type":"object","properties":{"item":{"type":"string"},"price":{"type":"number"}},"required":["item","price"]}}}'

# req MODEL MESSAGES TOOLS [EXTRA-JQ-OBJECT]: a chat request body
req() { jq -nc --arg m "$1" --argjson msgs "$2" --argjson t "$3" --argjson x "${4:-{\}}" \
  '{model:$m, messages:$msgs, options:{temperature:0.7,num_ctx:8192}} + (if ($t|length)>0 then {tools:$t} else {} end) + $x'; }

# post URL PATH BODY [curl args...]: body to $T/body, headers to $T/hdr; prints "CODE CTYPE"
post() {
  local url=$1 path=$2 body=$3; shift 3
  curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code} %{content_type}' "$@" "$url$path" --data-binary "$body"
}

# assistant NDJSON-FILE: the assistant message a client accumulates from a stream
assistant() {
  jq -s -c '{role:"assistant", content:(map(.message.content // "") | add),
             tool_calls:[.[].message.tool_calls // [] | .[]]} | if (.tool_calls|length)==0 then del(.tool_calls) else . end' "$1"
}

# run_turn URL TOOLS M [HEADER-TURN]: one turn as a worker runs it; prints "calls actions stop"
# and leaves the final reply in $T/reply, the conversation in $T/conv.json
run_turn() {
  local url=$1 tools=$2 m=$3 turn=${4:-1} msgs=$MSGS0 calls=0 actions=0 stop=max_actions asst n
  while [ "$calls" -lt "$m" ]; do
    curl -sS -N -H "X-Turnq-Experiment: B3" -H "X-Turnq-Turn: $turn" "$url/api/chat" \
      --data-binary "$(req qwen3:8b "$msgs" "$tools")" >"$T/turn.ndjson"
    calls=$((calls + 1))
    asst=$(assistant "$T/turn.ndjson")
    msgs=$(jq -c --argjson a "$asst" '. + [$a]' <<<"$msgs")
    n=$(jq '.tool_calls // [] | length' <<<"$asst")
    if [ "$n" -eq 0 ]; then stop=answer; jq -r .content <<<"$asst" >"$T/reply"; break; fi
    msgs=$(jq -c --argjson a "$asst" '. + [$a.tool_calls[] | {role:"tool", tool_name:.function.name,
      tool_call_id:.id, content:("ok: restocked " + (.function.arguments.item // "?"))}]' <<<"$msgs")
    actions=$((actions + n))
  done
  echo "$msgs" >"$T/conv.json"
  echo "$calls $actions $stop"
}

# jqt ARGS...: jq -e quietly, for t_ok
jqt() { jq -e "$@" >/dev/null 2>&1; }
log_of() { eval "echo \$SIM_LOG_$1"; }
url_of() { eval "echo \$SIM_URL_$1"; }
chat_lines() { jq -c 'select(.path=="/api/chat")' "$(log_of "$1")"; }

h_sim_start a || exit 1
h_sim_start b || exit 1
A=$SIM_URL_a

# ---- basics ----
t_eq "port file holds the bound port" "$(cat "$H_DIR/sim-a.port")" "${A##*:}"
t_eq "GET / says Ollama is running" "Ollama is running" "$(curl -sS "$A/")"
out=$(curl -sS -I "$A/")
t_ok "HEAD / is 200 with Content-Length 17" grep -qi '^content-length: 17' <<<"$out"
t_eq "/api/version default" '{"version":"0.12.6"}' "$(curl -sS "$A/api/version")"
h_sim_start ver --version-string 0.99.1 || exit 1
t_eq "--version-string" "0.99.1" "$(curl -sS "$SIM_URL_ver/api/version" | jq -r .version)"

# ---- the worked example (SPEC "A turn") ----
t_eq "N=2 M=8, one tool: 3 calls, 2 actions, answer" "3 2 answer" "$(run_turn "$A" "[$TOOL_RESTOCK]" 8)"
t_ok "the answer mentions the two tool results" grep -q "After 2 tool calls" "$T/reply"
t_ok "the answer quotes the last tool result" grep -q "ok: restocked" "$T/reply"
t_eq "the conversation: system user asst tool asst tool asst" "system user assistant tool assistant tool assistant" \
  "$(jq -r '[.[].role] | join(" ")' "$T/conv.json")"
t_eq "each tool call calls restock" "restock restock" "$(jq -r '[.[] | .tool_calls[]?.function.name] | join(" ")' "$T/conv.json")"
t_eq "tool call ids differ within a turn" 2 "$(jq '[.[] | .tool_calls[]?.id] | unique | length' "$T/conv.json")"
t_eq "N=2 M=2: 2 calls, 2 actions, max_actions" "2 2 max_actions" "$(run_turn "$A" "[$TOOL_RESTOCK]" 2)"
t_eq "no tools: 1 call, 0 actions, answer" "1 0 answer" "$(run_turn "$A" "[]" 8)"
t_eq "two tools: call k uses tool k mod T" "restock set_price" \
  "$(run_turn "$A" "[$TOOL_RESTOCK,$TOOL_PRICE]" 8 >/dev/null; jq -r '[.[] | .tool_calls[]?.function.name] | join(" ")' "$T/conv.json")"
t_eq "the log names experiment and turn" '"B3" 1' "$(chat_lines a | tail -n 1 | jq -r '"\(.experiment|tojson) \(.turn)"')"

# ---- chunk format ----
code=$(post "$A" /api/chat "$(req qwen3:8b "$MSGS0" "[$TOOL_RESTOCK]")")
t_eq "stream: 200 application/x-ndjson" "200 application/x-ndjson" "$code"
t_ok "stream: Transfer-Encoding chunked" grep -qi '^transfer-encoding: chunked' "$T/hdr"
cp "$T/body" "$T/tool.ndjson"
t_eq "tool reply: one tool chunk then the done chunk" "false true" "$(jq -r .done "$T/tool.ndjson" | xargs)"
t_ok "tool chunk: id call_[a-z0-9]{8}, index 0, content empty" \
  jqt -s '[.[] | select(.done==false)] | length==1 and (.[0].message | (.tool_calls[0].id|test("^call_[a-z0-9]{8}$")) and .tool_calls[0].function.index==0 and .content=="" and .role=="assistant")' "$T/tool.ndjson"
t_ok "tool chunk: arguments an object with the required item" \
  jqt -s '.[0].message.tool_calls[0].function.arguments | (type=="object") and (.item|type=="string") and (has("qty")|not)' "$T/tool.ndjson"
t_ok "done chunk: stop and every metric > 0" jqt -s '.[-1] | .done_reason=="stop" and .total_duration>0 and
  .load_duration>0 and .prompt_eval_count>0 and .prompt_eval_duration>0 and .eval_count>0 and .eval_duration>0' "$T/tool.ndjson"
t_ok "every chunk: model, created_at RFC3339 nanoseconds, assistant message" jqt '.model=="qwen3:8b" and
  (.created_at|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$")) and .message.role=="assistant"' "$T/tool.ndjson"
post "$A" /api/chat "$(req qwen3:8b "$MSGS0" "[]")" >/dev/null
t_ok "text reply: several content chunks before done" jqt -s '(map(select(.done==false and (.message.content|length)>0))|length) >= 3' "$T/body"
t_eq "text reply: eval_count = tokens streamed" "$(jq -s 'map(select(.done==false))|length' "$T/body")" "$(jq -s '.[-1].eval_count' "$T/body")"
post "$A" /api/chat "$(req qwen3:8b "$MSGS0" "[$TOOL_RESTOCK]")" >/dev/null
t_eq "deterministic: the same request gets the same tool call" "$(jq -c 'select(.done==false).message.tool_calls' "$T/tool.ndjson")" \
  "$(jq -c 'select(.done==false).message.tool_calls' "$T/body")"
post "$SIM_URL_b" /api/chat "$(req qwen3:8b "$MSGS0" "[$TOOL_RESTOCK]")" >/dev/null
t_eq "deterministic: another sim gives the same tool call" "$(jq -c 'select(.done==false).message.tool_calls' "$T/tool.ndjson")" \
  "$(jq -c 'select(.done==false).message.tool_calls' "$T/body")"
t_eq "prompt_eval_count is deterministic" "$(jq 'select(.done).prompt_eval_count' "$T/tool.ndjson")" "$(jq 'select(.done).prompt_eval_count' "$T/body")"

code=$(post "$A" /api/chat "$(req qwen3:8b "$MSGS0" "[$TOOL_RESTOCK]" '{"stream":false}')")
t_eq "stream:false: 200 application/json" "200 application/json; charset=utf-8" "$code"
t_ok "stream:false: one object with the tool call and metrics" jqt -s 'length==1 and .[0].done==true and .[0].done_reason=="stop"
  and (.[0].message.tool_calls|length)==1 and .[0].message.content=="" and .[0].eval_count>0' "$T/body"
post "$A" /api/chat "$(req qwen3:8b "$MSGS0" "[]" '{"stream":false}')" >/dev/null
t_ok "stream:false text: the whole content in one object" jqt '.done and (.message.content|startswith("Here is my answer")) and (.message|has("tool_calls")|not)' "$T/body"
post "$A" /api/chat "$(req QWEN3:8b "$MSGS0" "[]" '{"stream":false}')" >/dev/null
t_eq "the reply names the model as requested" "QWEN3:8b" "$(jq -r .model "$T/body")"

SCHEMA_TOOL='{"type":"function","function":{"name":"everything","parameters":{"type":"object",
  "required":["s","i","n","b","a","o","e","opt_in"],
  "properties":{"s":{"type":"string"},"i":{"type":"integer","minimum":3},"n":{"type":"number"},"b":{"type":"boolean"},
   "a":{"type":"array","items":{"type":"integer"}},"o":{"type":"object","required":["x"],"properties":{"x":{"type":"string"},"y":{"type":"integer"}}},
   "e":{"type":"string","enum":["red","green"]},"opt_in":{"type":["boolean","null"]},"skip":{"type":"string"}}}}}'
post "$A" /api/chat "$(req qwen3:8b "$MSGS0" "[$SCHEMA_TOOL]" '{"stream":false}')" >/dev/null
t_ok "schema: every required property with a value of its type" jqt '.message.tool_calls[0].function.arguments |
  (.s|type=="string") and .i==3 and (.n|type=="number") and .b==true and (.a|length==1 and (.[0]|type=="number"))
  and (.o|.x|type=="string") and (.o|has("y")|not) and .e=="red" and .opt_in==true and (has("skip")|not)' "$T/body"
h_sim_start a0 --actions 0 || exit 1
t_eq "--actions 0 answers at once" "1 0 answer" "$(run_turn "$SIM_URL_a0" "[$TOOL_RESTOCK]" 8)"

# ---- errors, as strict as Ollama ----
err_case() { # name expected-code expected-error body [curl args...]
  local name=$1 want=$2 text=$3 body=$4; shift 4
  local code; code=$(post "$A" /api/chat "$body" "$@")
  t_eq "$name: status" "$want application/json; charset=utf-8" "$code"
  if [ -n "$text" ]; then t_eq "$name: text" "$text" "$(jq -r .error "$T/body")"
  else t_ok "$name: has an error text" jqt '.error|type=="string" and length>0' "$T/body"; fi
}
code=$(curl -sS -o "$T/body" -w '%{http_code}' -X POST "$A/api/chat")
t_eq "empty body: 400 missing request body" "400 missing request body" "$code $(jq -r .error "$T/body")"
err_case "malformed JSON" 400 "" '{"model":"qwen3:8b","messages":['
err_case "missing model" 400 "model is required" '{"messages":[{"role":"user","content":"hi"}]}'
err_case "unknown model" 404 "model 'nope:1b' not found" '{"model":"nope:1b","messages":[{"role":"user","content":"hi"}]}'
err_case "string tool arguments" 400 "Value looks like object, but can't find closing '}' symbol" \
  '{"model":"qwen3:8b","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}]}'
err_case 'keep_alive "300"' 400 'time: missing unit in duration "300"' '{"model":"qwen3:8b","messages":[],"keep_alive":"300"}'
err_case 'keep_alive "-1"' 400 'time: missing unit in duration "-1"' '{"model":"qwen3:8b","messages":[],"keep_alive":"-1"}'
err_case "num_ctx as a string" 500 'option "num_ctx" must be of type integer' \
  '{"model":"qwen3:8b","messages":[{"role":"user","content":"hi"}],"options":{"num_ctx":"8192"}}'
err_case "messages not an array" 400 "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message" \
  '{"model":"qwen3:8b","messages":"hi"}'
err_case "a message without role" 400 "" '{"model":"qwen3:8b","messages":[{"content":"hi"}]}'
err_case "think on a model without thinking" 400 '"qwen3:8b" does not support thinking' \
  '{"model":"qwen3:8b","think":true,"messages":[{"role":"user","content":"hi"}]}'
code=$(post "$A" /api/chat '{"model":"qwen3:8b","messages":[],"keep_alive":"30m"}')
t_eq 'keep_alive "30m" is fine' 200 "${code%% *}"
code=$(curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$A/api/chat")
t_eq "GET /api/chat: 405 method not allowed" "405 405 method not allowed" "$code $(cat "$T/body")"
t_ok "405 carries Allow: POST" grep -qi '^allow: POST' "$T/hdr"
t_eq "unknown path: 404 page not found" "404 404 page not found" "$(curl -sS -o "$T/body" -w '%{http_code}' "$A/api/nope") $(cat "$T/body")"
host_code() { curl -sS -o "$T/body" -w '%{http_code} %{size_download}' -H "Host: $1" "$A/api/version"; }
t_eq "foreign Host: 403, empty body" "403 0" "$(host_code evil.example.com)"
t_eq "Host localhost:11434 allowed" "200 20" "$(host_code localhost:11434)"
t_eq "Host 127.0.0.1 allowed" "200 20" "$(host_code 127.0.0.1)"
t_eq "Host [::1] allowed" "200 20" "$(host_code '[::1]')"
t_eq "Host [::1]:8080 allowed" "200 20" "$(host_code '[::1]:8080')"
t_eq "Host gpu1.local allowed" "200 20" "$(host_code gpu1.local)"
t_eq "Host box.internal:80 allowed" "200 20" "$(host_code box.internal:80)"
t_eq "HTTP/1.1 without Host: 400" 400 "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Host:' "$A/api/version")"

# ---- models: tags, show, ps, preload ----
DA=$(curl -sS "$A/api/tags" | jq -r '.models[0].digest')
t_ok "/api/tags digest: 64 hex digits" grep -Eq '^[0-9a-f]{64}$' <<<"$DA"
t_eq "/api/tags digests agree across two sims" "$DA" "$(curl -sS "$SIM_URL_b/api/tags" | jq -r '.models[0].digest')"
t_ok "/api/tags entry fields" jqt '.models[0] | .name=="qwen3:8b" and .model=="qwen3:8b" and (.modified_at|type=="string")
  and .size>0 and .details.format=="gguf" and .details.family=="qwen3" and .details.parameter_size=="8B"
  and (.details.quantization_level|length>0) and .details.context_length==40960' <(curl -sS "$A/api/tags")
HEX=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
h_sim_start m --models "qwen3,llama3.2:3b@$HEX" || exit 1
M=$SIM_URL_m
t_eq "--models: names with :latest, in order" "qwen3:latest llama3.2:3b" "$(curl -sS "$M/api/tags" | jq -r '[.models[].name]|join(" ")')"
t_eq "--models: an explicit digest" "$HEX" "$(curl -sS "$M/api/tags" | jq -r '.models[1].digest')"
for name in qwen3 qwen3:latest QWEN3 registry.ollama.ai/library/qwen3:latest; do
  t_eq "model name '$name' matches qwen3:latest" 200 "$(post "$M" /api/chat "$(req "$name" "$MSGS0" "[]" '{"stream":false}')" | cut -d' ' -f1)"
done
t_eq "llama3.2 (no tag) does not match llama3.2:3b" 404 "$(post "$M" /api/chat "$(req llama3.2 "$MSGS0" "[]")" | cut -d' ' -f1)"
post "$A" /api/show '{"model":"qwen3:8b"}' >/dev/null
t_ok "/api/show: capabilities, model_info, details, template" jqt '(.capabilities|index("tools")!=null and index("completion")!=null)
  and .model_info["qwen3.context_length"]==40960 and .model_info["general.architecture"]=="qwen3"
  and .details.family=="qwen3" and (.template|length>0) and (.parameters|length>0)' "$T/body"
t_eq "/api/show unknown: 404" "404 model 'nope' not found" "$(post "$A" /api/show '{"model":"nope"}' | cut -d' ' -f1) $(jq -r .error "$T/body")"
t_eq "/api/show without model: 400" "400 model is required" "$(post "$A" /api/show '{}' | cut -d' ' -f1) $(jq -r .error "$T/body")"

h_sim_start p || exit 1
P=$SIM_URL_p
t_eq "/api/ps before any call: empty" 0 "$(curl -sS "$P/api/ps" | jq '.models|length')"
code=$(post "$P" /api/chat '{"model":"qwen3:8b","messages":[],"options":{"num_ctx":16384}}')
t_eq "preload: one application/json object" "200 application/json; charset=utf-8" "$code"
t_ok "preload: done_reason load" jqt '.done==true and .done_reason=="load" and .message.role=="assistant" and .model=="qwen3:8b"' "$T/body"
t_ok "/api/ps after preload: the model, its context_length and expiry" jqt '.models|length==1 and .[0].name=="qwen3:8b" and
  .[0].context_length==16384 and .[0].size_vram==.[0].size and (.[0].expires_at|type=="string") and (.[0].digest|length==64)' <(curl -sS "$P/api/ps")
post "$P" /api/chat '{"model":"qwen3:8b","keep_alive":0}' >/dev/null
t_ok "keep_alive 0 without messages: done_reason unload" jqt '.done==true and .done_reason=="unload"' "$T/body"
t_eq "/api/ps after unload: empty" 0 "$(curl -sS "$P/api/ps" | jq '.models|length')"
t_eq "the log counts preload messages as 0, absent as null" "0 null" "$(chat_lines p | jq -r .messages | xargs)"

# ---- HTTP behaviour ----
big=$(jq -nc --arg s "$(head -c 3000 /dev/zero | tr '\0' x)" '{model:"qwen3:8b",stream:false,messages:[{role:"system",content:$s},{role:"user",content:"hi"}]}')
out=$(curl -sS -v -H 'Expect: 100-continue' "$A/api/chat" --data-binary "$big" 2>&1)
t_ok "Expect: 100-continue answered with 100 Continue" grep -q '< HTTP/1.1 100 Continue' <<<"$out"
t_ok "Expect: 100-continue then 200" grep -q '< HTTP/1.1 200 OK' <<<"$out"
out=$(curl -sS -v -H 'Expect: 100-continue' "$A/api/nope" --data-binary "$big" 2>&1)
t_ok "Expect on a refused request: 404 without 100 Continue" bash -c '! grep -q "100 Continue" <<<"$1" && grep -q "< HTTP/1.1 404" <<<"$1"' _ "$out"
out=$(curl -sS -v "$A/api/version" "$A/api/tags" 2>&1)
t_ok "keep-alive: a second request reuses the connection" grep -qi 're-using existing connection' <<<"$out"
code=$(curl -sS -o "$T/body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' "$A/api/chat" --data-binary "$big")
t_eq "chunked request body accepted" "200 true" "$code $(jq .done "$T/body")"
code=$(curl -sS -0 -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$A/api/chat" --data-binary "$(req qwen3:8b "$MSGS0" "[]")")
t_eq "HTTP/1.0: streamed reply" "200 true" "$code $(jq -s '.[-1].done' "$T/body")"
t_ok "HTTP/1.0: no chunked encoding, Connection: close" bash -c '! grep -qi "^transfer-encoding" "$1" && grep -qi "^connection: close" "$1"' _ "$T/hdr"
out=$(curl -sS -v -H 'Connection: close' "$A/api/version" "$A/api/version" 2>&1)
t_ok "Connection: close honoured" bash -c '! grep -qi "re-using existing connection" <<<"$1" && grep -qi "^< connection: close" <<<"$1"' _ "$out"

h_sim_start slow --latency-ms 300 || exit 1
SP=${SIM_URL_slow##*:}
chatreq=$(req qwen3:8b "$MSGS0" "[]" '{"stream":false}')
exec 3<>"/dev/tcp/127.0.0.1/$SP"
printf 'POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%sGET /api/version HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' \
  "${#chatreq}" "$chatreq" >&3
timeout 10 cat <&3 >"$T/pipe"
exec 3<&- 3>&-
t_eq "pipelining: three responses" 3 "$(grep -o 'HTTP/1.1 200 OK' "$T/pipe" | wc -l)"
t_eq "pipelining: in request order" "chat version running" "$(grep -o -E '"done_reason":"stop"|"version":"0.12.6"|Ollama is running' "$T/pipe" |
  sed -e 's/.*done_reason.*/chat/' -e 's/.*version.*/version/' -e 's/Ollama is running/running/' | xargs)"

h_sim_start load --load-ms 300 || exit 1
LD=$SIM_URL_load
ld() { post "$LD" /api/chat "$(req qwen3:8b "$MSGS0" "[]" "{\"stream\":false,\"options\":{\"num_ctx\":$1}}")" >/dev/null; jq .load_duration "$T/body"; }
t_ok "--load-ms: the first call pays the load" test "$(ld 8192)" -ge 280000000
t_ok "--load-ms: a warm call does not" test "$(ld 8192)" -lt 100000000
t_ok "--load-ms: another num_ctx reloads" test "$(ld 4096)" -ge 280000000

h_sim_start tok --token-ms 40 || exit 1
post "$SIM_URL_tok" /api/chat "$(req qwen3:8b "$MSGS0" "[]")" >/dev/null
t_ok "--token-ms: eval_duration >= eval_count x 40 ms" jqt -s '.[-1] | .eval_duration >= .eval_count * 38000000' "$T/body"
t_ok "--token-ms: chunk times spaced out" jqt -s 'map(select(.done==false).created_at) | length>=3 and (.[0] != .[-1])' "$T/body"

# --parallel 1: two concurrent slow calls are served one after the other
par_gap() { # sim-name: ms between the two /api/chat log lines
  local u; u=$(url_of "$1")
  curl -sS -o /dev/null "$u/api/chat" --data-binary "$chatreq" & local p1=$!
  curl -sS -o /dev/null "$u/api/chat" --data-binary "$chatreq" & local p2=$!
  wait "$p1" "$p2"
  chat_lines "$1" | jq -s '[.[].ts] | sort | .[1] - .[0]'
}
h_sim_start par1 --parallel 1 --latency-ms 400 || exit 1
h_sim_start parn --latency-ms 400 || exit 1
t_ok "--parallel 1: the second call ends >= 350 ms after the first" test "$(par_gap par1)" -ge 350
t_ok "no --parallel: the two calls end together" test "$(par_gap parn)" -lt 300

# ---- faults ----
fault_sim() { h_sim_start "$1" --fail-every "${3:-1}" --fail-mode "$2"; }
fault_sim f500 500 || exit 1
code=$(post "$SIM_URL_f500" /api/chat "$(req qwen3:8b "$MSGS0" "[]")")
t_eq "fault 500: status" "500 application/json; charset=utf-8" "$code"
t_ok "fault 500: an error text" jqt '.error|length>0' "$T/body"

fault_sim f503 503 2 || exit 1
F=$SIM_URL_f503
codes=""
for body in "$(req qwen3:8b "$MSGS0" "[]")" '{"model":"qwen3:8b","messages":[]}' "$(req qwen3:8b "$MSGS0" "[]")" \
            "$(req qwen3:8b "$MSGS0" "[]")" "$(req qwen3:8b "$MSGS0" "[]")"; do
  codes="$codes $(post "$F" /api/chat "$body" | cut -d' ' -f1)"
done
t_eq "fault 503 every 2nd call; a preload does not count" "200 200 503 200 503" "$(xargs <<<"$codes")"
t_eq "fault 503: Ollama's busy text" "server busy, please try again.  maximum pending requests exceeded" "$(jq -r .error "$T/body")"
t_eq "fault 503: the log names the fault" "null null 503 null 503" "$(chat_lines f503 | jq -r .fault | xargs)"

fault_sim freset reset || exit 1
curl -sS -o /dev/null "$SIM_URL_freset/api/chat" --data-binary "$(req qwen3:8b "$MSGS0" "[]")" 2>/dev/null; rc=$?
t_ok "fault reset: the connection is reset (curl 52/56)" test "$rc" -eq 56 -o "$rc" -eq 52
t_eq "fault reset: logged without a status" "null reset" "$(chat_lines freset | jq -r '"\(.status) \(.fault)"')"

fault_sim fgarb garbage || exit 1
code=$(post "$SIM_URL_fgarb" /api/chat "$(req qwen3:8b "$MSGS0" "[]")")
t_eq "fault garbage: 200" 200 "${code%% *}"
t_ok "fault garbage: the body is not NDJSON" bash -c '! jq -e . "$1" >/dev/null 2>&1' _ "$T/body"

fault_sim fhang hang 2 || exit 1
H=$SIM_URL_fhang
post "$H" /api/chat "$(req qwen3:8b "$MSGS0" "[]")" >/dev/null
code=$(post "$H" /api/chat "$(req qwen3:8b "$MSGS0" "[]")" -m 1 2>/dev/null); rc=$?
t_eq "fault hang: no headers ever (curl times out)" "28 000" "$rc ${code%% *}"
t_ok "fault hang: logged with fault hang" h_wait 5 "chat_lines fhang | jq -e 'select(.fault==\"hang\" and .status==null)'"
h_sim_start fhang1 --fail-every 2 --fail-mode hang --parallel 1 || exit 1
post "$SIM_URL_fhang1" /api/chat "$chatreq" >/dev/null
post "$SIM_URL_fhang1" /api/chat "$chatreq" -m 1 >/dev/null 2>&1
t_eq "fault hang: the slot frees when the client leaves" 200 "$(post "$SIM_URL_fhang1" /api/chat "$chatreq" -m 5 | cut -d' ' -f1)"
t_eq "fault hang: the abandoned call is logged once" "200 null 200" "$(chat_lines fhang1 | jq -r .status | xargs)"

fault_sim fstall stall || exit 1
curl -sS -N -m 1 -o "$T/body" -D "$T/hdr" "$SIM_URL_fstall/api/chat" --data-binary "$(req qwen3:8b "$MSGS0" "[]")" 2>/dev/null; rc=$?
t_eq "fault stall: curl times out" 28 "$rc"
t_ok "fault stall: headers were sent" grep -q '^HTTP/1.1 200' "$T/hdr"
t_ok "fault stall: one or two chunks, no done" jqt -s 'length>=1 and length<=2 and all(.done==false)' "$T/body"
curl -sS -m 1 -o "$T/body" "$SIM_URL_fstall/api/chat" --data-binary "$chatreq" 2>/dev/null; rc=$?
t_eq "fault stall, stream:false: curl times out mid-body" 28 "$rc"

fault_sim feof eof || exit 1
curl -sS -o "$T/body" "$SIM_URL_feof/api/chat" --data-binary "$(req qwen3:8b "$MSGS0" "[$TOOL_RESTOCK]")"; rc=$?
t_eq "fault eof: the body ends cleanly" 0 "$rc"
t_ok "fault eof: chunks but no done:true" jqt -s 'length>=1 and all(.done==false)' "$T/body"
curl -sS -o "$T/body" "$SIM_URL_feof/api/chat" --data-binary "$chatreq"
t_ok "fault eof, stream:false: done:false, no metrics" jqt '.done==false and (has("eval_count")|not)' "$T/body"

# ---- the request log ----
t_eq "log: exactly the SPEC keys on every line" '["experiment","fault","messages","method","model","path","status","ts","turn"]' \
  "$(cat "$H_DIR"/sim-*.jsonl | jq -c 'keys' | sort -u)"
curl -sS -o /dev/null -H 'X-Turnq-Experiment: 42' -H 'X-Turnq-Turn: abc' "$A/api/chat" --data-binary "$chatreq"
t_eq "log: a non-integer turn is null" '"42" null' "$(chat_lines a | tail -n 1 | jq -r '"\(.experiment|tojson) \(.turn)"')"
t_ok "log: ts is ms since the epoch" jqt -s 'all(.ts > 1600000000000 and .ts < 4102444800000)' "$(log_of a)"
t_ok "log: non-chat requests too" jqt -s 'any(.path=="/api/tags" and .method=="GET" and .status==200 and .model==null)' "$(log_of a)"

# ---- flags and signals ----
bad_flag() { local err rc; err=$("$SIM" "$@" 2>&1 >/dev/null); rc=$?; echo "$rc $(wc -l <<<"$err")"; }
t_eq "unknown flag: exit 2, one line" "2 1" "$(bad_flag --bogus)"
t_eq "--port abc: exit 2, one line" "2 1" "$(bad_flag --port abc)"
t_eq "--fail-mode nope: exit 2" "2 1" "$(bad_flag --fail-every 2 --fail-mode nope)"
t_eq "--fail-every without --fail-mode: exit 2" "2 1" "$(bad_flag --fail-every 2)"
t_eq "--version-string not UTF-8: exit 2" "2 1" "$(bad_flag --version-string $'\xff')"
t_eq "--models with a bad digest: exit 2" "2 1" "$(bad_flag --models 'qwen3@xyz')"
t_eq "--evict-every 0: exit 2" "2 1" "$(bad_flag --evict-every 0)"
t_eq "--context-length x: exit 2" "2 1" "$(bad_flag --context-length x)"
t_eq "--num-ctx 0: exit 2" "2 1" "$(bad_flag --num-ctx 0)"

# ---- settings: --context-length (the server default), --num-ctx (the Modelfile's) ----
h_sim_start cl --context-length 16384 || exit 1
post "$SIM_URL_cl" /api/chat '{"model":"qwen3:8b","messages":[]}' >/dev/null
t_eq "--context-length: a load without num_ctx gets it (/api/ps)" 16384 "$(curl -sS "$SIM_URL_cl/api/ps" | jq '.models[0].context_length')"
h_sim_start nc --num-ctx 2048 --context-length 16384 || exit 1
post "$SIM_URL_nc" /api/show '{"model":"qwen3:8b"}' >/dev/null
t_ok "--num-ctx: /api/show's parameters and Modelfile carry it" jqt '(.parameters | startswith("num_ctx                        2048\n"))
  and (.modelfile | contains("PARAMETER num_ctx 2048\n"))' "$T/body"
post "$SIM_URL_nc" /api/chat '{"model":"qwen3:8b","messages":[]}' >/dev/null
t_eq "--num-ctx: the Modelfile's num_ctx wins over --context-length" 2048 "$(curl -sS "$SIM_URL_nc/api/ps" | jq '.models[0].context_length')"
post "$SIM_URL_nc" /api/chat '{"model":"qwen3:8b","messages":[],"options":{"num_ctx":4096}}' >/dev/null
t_eq "--num-ctx: the request's num_ctx wins over both" 4096 "$(curl -sS "$SIM_URL_nc/api/ps" | jq '.models[0].context_length')"

# ---- --evict-every: the model is loaded again on every N-th call ----
h_sim_start ev --evict-every 2 --load-ms 300 || exit 1
ld() { post "$SIM_URL_ev" /api/chat '{"model":"qwen3:8b","stream":false,"messages":[{"role":"user","content":"hi"}]}' >/dev/null
  jq '.load_duration >= 300000000' "$T/body"; }
t_eq "--evict-every 2: calls 1 (cold) and 2, 4 (evicted) pay --load-ms, 3 does not" "true true false true" "$(ld) $(ld) $(ld) $(ld)"
t_ok "--help: exit 0, usage on stdout" bash -c '"$1" --help | grep -q -- --fail-mode' _ "$SIM"
h_sim_start term --latency-ms 5000 || exit 1
curl -sS -o /dev/null -m 10 "$SIM_URL_term/api/chat" --data-binary "$chatreq" 2>/dev/null &
h_wait 5 "grep -q . '$H_DIR/sim-term.log'"
t0=$(date +%s%N)
kill -TERM "$SIM_PID_term"
wait "$SIM_PID_term"; rc=$?
t_eq "SIGTERM with a call in flight: exit 0" 0 "$rc"
t_ok "SIGTERM: exits promptly (< 1 s)" test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000

[ "$H_FAILS" -eq 0 ]
