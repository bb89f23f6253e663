#!/usr/bin/env bash
# test_mcp: MCP tool servers in the worker (--mcp, --mcp-deny, TURNQ_MCP), black-box with real
# processes: redis-server, ollama-sim boxes and workers whose only tools come from
# tests/mcp/fake_mcp.py servers (two per attempt on m1: "norm" and "ugly"; two from TURNQ_MCP,
# split by ';', on m2). The sim calls the offered tools in order (the k-th call of a turn calls
# tool k mod T with arguments from its schema), so the actions of a turn show the tool list the
# model was offered, and their contents show what the servers answered.
# Covers:
#  - tool results in the transcript and the result come from the servers: echo (with the server's
#    cwd = TURNQ_WORKDIR, TURNQ_EXPERIMENT, TURNQ_ATTEMPT, and no TURNQ_REDIS in its
#    environment), memory_put/memory_get in a file under {workdir}, a $ref/$defs schema whose
#    arguments arrive as an object (the $ref was resolved), a dotted name offered as dotted_name
#    and called under its own name, an image block as a placeholder, isError as "ERROR: ...",
#    paginated tools/list (pages of 2), server-to-client requests (roots/list with the call's own
#    id, sampling/createMessage: -32601; ping: {}) answered before the tool result;
#  - collisions: "echo" of both servers offered as norm__echo and ugly__echo, each routed to its
#    server; a job tool "ranged" keeps its name and the server's becomes norm__ranged;
#  - two experiments at once (2 slots) do not see each other's memory (separate workdirs);
#  - ugly cases fail the tool call with a clear message and the experiment still completes: a
#    non-JSON answer, a call that hangs past --mcp-timeout, a server that exits mid-call (and its
#    later calls: "not running"), 3000 stderr lines (drained, rate-limited in the log), a line
#    over 16 MiB (the server is ended); a lone UTF-16 surrogate escape (repaired) and an answer
#    inside a JSON-RPC batch still work;
#  - start failures fail the attempt clearly (--max-attempts 1): a protocol version it does not
#    speak, an initialize error, no answer to initialize (--mcp-start-timeout), an exit at start;
#    a tools/list cursor that repeats; a server without the tools capability offers none;
#    an old protocol version (2024-11-05), a banner on stdout and 1 MiB of stderr before the
#    handshake still work; a server that ignores stdin EOF is ended by SIGTERM to its group;
#  - --mcp-deny NAME and SERVER:NAME hide tools; TURNQ_MCP holds two servers split by ';';
#  - afterwards no server process, no child in their process groups and no workdir is left, and
#    the worker is still up;
#  - with a cached npx @modelcontextprotocol/server-memory (offline), one experiment against it
#    (SKIP otherwise).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR
FAKE=$H_ROOT/tests/mcp/fake_mcp.py
mkdir -p "$T/pids" "$T/wd1" "$T/wd2"

h_sim_start m1 --actions 13 || exit 1
h_sim_start m2 --actions 7 || exit 1
NORM_TOOLS=echo,memory_get,memory_put,ranged,dotted.name,image,iserror,sampling,noisy
h_worker_start m1 -v --slots 2 --max-attempts 1 --mcp-timeout 1 --mcp-start-timeout 3 --mcp-workdir "$T/wd1" \
  --mcp "norm: python3 $FAKE --name norm --tools $NORM_TOOLS --memfile {workdir}/memory.json --mode-from-experiment --pids $T/pids --child" \
  --mcp "ugly: python3 $FAKE --name ugly --tools echo,garbage,hang,crash --pids $T/pids"
TURNQ_MCP="a: python3 $FAKE --name a --tools echo,image,iserror --pids $T/pids; b: python3 '$FAKE' --name \"b\" --tools dotted.name,memory_get --page-size 1 --pids $T/pids;c: python3 $FAKE --name c --tools surrogate,batch,huge --pids $T/pids" \
  TURNQ_MCP_WORKDIR=$T/wd2 h_worker_start m2 --mcp-deny image --mcp-deny b:memory_get
for m in m1 m2; do
  h_worker_ready "$m" 20 || { t_fail "worker $m is up" "no heartbeat after 20 s"; exit 1; }
done
t_pass "two workers with MCP servers are up"

# A bad --mcp is a configuration error (exit 2), naming the problem.
RC=0; "$H_BIN/worker" --mcp "python3 'unterminated" >"$T/bad1.out" 2>&1 || RC=$?
t_eq "--mcp with an unterminated quote: exit 2" 2 "$RC"
t_ok "... naming the quote" grep -q "unterminated ' quote" "$T/bad1.out"
RC=0; "$H_BIN/worker" --mcp "no-such-program-xyz --flag" >"$T/bad2.out" 2>&1 || RC=$?
t_eq "--mcp of a missing program: exit 2" 2 "$RC"
t_ok "... naming it" grep -q "'no-such-program-xyz' is not found on PATH" "$T/bad2.out"
RC=0; "$H_BIN/worker" --mcp "x: true" --mcp "x: true" >"$T/bad3.out" 2>&1 || RC=$?
t_eq "--mcp with a server name twice: exit 2" 2 "$RC"

JOB() { # JOB ID MACHINE TURNS_JSON [TOOLS_JSON]
  jq -cn --arg id "$1" --arg m "$2" --argjson t "$3" --argjson tools "${4:-[]}" \
    '{id: $id, model: "qwen3:8b", machine: $m, turns: $t, max_actions_per_turn: 14}
     + (if ($tools | length) > 0 then {tools: $tools} else {} end)'
}
RANGED_JOB_TOOL='[{"type":"function","function":{"name":"ranged","description":"the job own","parameters":{"type":"object","properties":{}}}}]'
{
  JOB X1 m1 '["t1","t2"]'
  JOB X2 m1 '["t1","t2"]'
  JOB X3 m1 '["t1"]' "$RANGED_JOB_TOOL"
  for mode in oldversion banner stderrflood stuck nocaps badversion initerror noinit exit loopcursor; do JOB "S-$mode" m1 '["t1"]'; done
  JOB D1 m2 '["t1"]'
} >"$T/jobs.jsonl"
RC=0; h_disp submit "$T/jobs.jsonl" >"$T/submit.out" 2>&1 || RC=$?
t_eq "submit: exit 0" 0 "$RC"
RC=0; h_disp wait --timeout 40 >"$T/wait.out" 2>&1 || RC=$?
t_eq "wait: exit 1 (the start failures fail on purpose)" 1 "$RC"
t_ok "wait: ended in time, not by its timeout" bash -c "! grep -q 'timed out' '$T/wait.out'"

res() { h_cli get "$NS:result:$1"; }
state() { h_cli hget "$NS:job:$1" state; }
err() { h_cli hget "$NS:job:$1" error; }
# content ID TURN NAME: the content of the first action of that name in that turn
content() { res "$1" | jq -r --argjson t "$2" --arg n "$3" '[.turns[$t - 1].actions[] | select(.name == $n)][0].content'; }
names() { res "$1" | jq -r --argjson t "$2" '[.turns[$t - 1].actions[].name] | join(" ")'; }

for id in X1 X2 X3 S-oldversion S-banner S-stderrflood S-stuck S-nocaps D1; do
  t_eq "$id: done" done "$(state "$id")"
done

# ---- tools offered and what came back ----
t_eq "X1 turn 1: the offered tools in order (both echo renamed, the dot mapped)" \
  "norm__echo memory_get memory_put ranged dotted_name image iserror sampling noisy ugly__echo garbage hang crash" \
  "$(names X1 1)"
E=$(content X1 1 norm__echo)
t_ok "norm__echo answered by norm, in its workdir = TURNQ_WORKDIR, experiment X1, attempt 1" \
  bash -c "[[ '$E' =~ ^echo:\ message-1\ \|\ server=norm\ cwd=([^ ]+)\ workdir=([^ ]+)\ experiment=X1\ attempt=1\ redis_env=no$ ]] \
    && [ \"\${BASH_REMATCH[1]}\" = \"\${BASH_REMATCH[2]}\" ] && [[ \${BASH_REMATCH[1]} == $T/wd1/turnq-mcp.* ]]"
NORM_CWD=$(sed -E 's/.* cwd=([^ ]+) .*/\1/' <<<"$E")
U=$(content X1 1 ugly__echo)
t_ok "ugly__echo answered by ugly, in another workdir" \
  bash -c "[[ '$U' == *'server=ugly cwd=$T/wd1/turnq-mcp.'* ]] && [[ '$U' != *'cwd=$NORM_CWD '* ]]"
t_eq "memory_get, turn 1: empty" "memory: []" "$(content X1 1 memory_get)"
t_eq "memory_put stored" "stored value-3" "$(content X1 1 memory_put)"
t_ok "ranged: the \$ref was resolved (opts came as an object with an integer count)" \
  bash -c "res X1 >/dev/null; [[ \"\$(printf '%s' '$(content X1 1 ranged)')\" =~ ^ranged:\ \\{\\\"opts\\\":\ \\{\\\"count\\\":\ [0-9]+\\}\\}$ ]]"
t_eq "dotted_name called as dotted.name" "dotted" "$(content X1 1 dotted_name)"
t_eq "image: a placeholder, no base64" "$(printf 'an image:\n[image: image/png, 1234 bytes]')" "$(content X1 1 image)"
t_eq "iserror: shown as an error" "ERROR: it failed on purpose" "$(content X1 1 iserror)"
t_eq "iserror: the action is marked error" true "$(res X1 | jq '[.turns[0].actions[] | select(.name == "iserror")][0].error')"
t_eq "sampling: the server's requests were refused (-32601), ping answered {}, before the result" \
  "ping: result {}; roots/list: error -32601; sampling/createMessage: error -32601" "$(content X1 1 sampling)"
t_eq "noisy: answered after 3000 stderr lines" "noisy: done" "$(content X1 1 noisy)"
G=$(content X1 1 garbage)
t_ok "garbage: a clear error naming the non-JSON answer" \
  bash -c "[[ \"\$1\" == \"ERROR: MCP server 'ugly' answered tools/call 'garbage' with a line that is not JSON\"* ]]" _ "$G"
starts() { [[ $1 == "$2"* ]]; } # starts STRING PREFIX
t_ok "hang: timed out after --mcp-timeout, naming the non-JSON lines seen" starts "$(content X1 1 hang)" \
  "ERROR: MCP server 'ugly' gave no answer to tools/call 'hang' within 1 s; it wrote 2 lines that are not JSON, the last: "
t_eq "crash: the exit reported" "ERROR: MCP server 'ugly' exited with status 3 during tools/call 'crash'" "$(content X1 1 crash)"
t_eq "after the crash: its tools say it is not running" \
  "ERROR: MCP server 'ugly' is not running (it exited with status 3)" "$(content X1 2 ugly__echo)"
t_eq "the transcript's tool messages are the same contents" "$(res X1 | jq -c '[.turns[0].actions[].content]')" \
  "$(h_cli lindex "$NS:transcript:X1" 0 | jq -c '[.[] | select(.role == "tool") | .content]')"
t_eq "the transcript's tool messages carry the offered names" "$(names X1 1)" \
  "$(h_cli lindex "$NS:transcript:X1" 0 | jq -r '[.[] | select(.role == "tool") | .tool_name] | join(" ")')"

# ---- isolation ----
t_eq "X1 turn 2 sees only its own memory" 'memory: [{"exp": "X1", "value": "value-3"}]' "$(content X1 2 memory_get)"
t_eq "X2 turn 2 sees only its own memory" 'memory: [{"exp": "X2", "value": "value-3"}]' "$(content X2 2 memory_get)"
t_ok "X1 and X2 ran at the same time (2 slots)" bash -c "[[ '$(res X1 | jq -r .started_at)' < '$(res X2 | jq -r .finished_at)' \
  && '$(res X2 | jq -r .started_at)' < '$(res X1 | jq -r .finished_at)' ]]"

# ---- a job tool named like a server tool ----
t_eq "X3: the job's ranged keeps its name, the server's is norm__ranged" \
  "ranged norm__echo memory_get memory_put norm__ranged dotted_name image iserror sampling noisy ugly__echo garbage hang" "$(names X3 1)"
t_ok "X3: the job's ranged goes to the (absent) environment, not to the server" \
  bash -c "[[ \"\$(printf '%s' '$(content X3 1 ranged)')\" == *'no environment is configured'* ]]"
t_ok "X3: norm__ranged goes to the server" bash -c "[[ '$(content X3 1 norm__ranged | cut -c1-8)' == 'ranged: ' ]]"

# ---- start modes ----
t_ok "an old protocol version (2024-11-05) works" bash -c "[[ '$(content S-oldversion 1 norm__echo | cut -c1-20)' == 'echo: message-1 | se' ]]"
t_ok "... and the log names it" grep -q "job=S-oldversion MCP server 'norm' (fake-norm 1.0, protocol 2024-11-05" "$T/worker-m1.log"
t_ok "a banner on stdout before the handshake: still works" bash -c "[[ '$(content S-banner 1 norm__echo | cut -c1-6)' == 'echo: ' ]]"
t_ok "1 MiB of stderr before the handshake: still works" bash -c "[[ '$(content S-stderrflood 1 norm__echo | cut -c1-6)' == 'echo: ' ]]"
t_eq "a version it does not speak: failed" failed "$(state S-badversion)"
t_ok "... saying so" starts "$(err S-badversion)" "MCP server 'norm' speaks protocol version '2099-01-01', which this worker does not"
t_eq "an initialize error: failed" failed "$(state S-initerror)"
t_ok "... with the server's words" starts "$(err S-initerror)" "MCP server 'norm' answered initialize with error -32602: Unsupported protocol version"
t_eq "no answer to initialize: failed" failed "$(state S-noinit)"
t_ok "... at the start timeout" starts "$(err S-noinit)" "MCP server 'norm' did not finish starting (no answer to initialize) within 3 s"
t_eq "an exit at start: failed" failed "$(state S-exit)"
t_ok "... with its status" starts "$(err S-exit)" "MCP server 'norm' exited with status 5 during initialize"
t_eq "a repeated tools/list cursor: failed" failed "$(state S-loopcursor)"
t_ok "... naming the loop" starts "$(err S-loopcursor)" "MCP server 'norm' repeats the tools/list cursor 'page-0' (a loop)"
t_eq "no tools capability: no tools of that server; the other's echo no longer collides" "echo garbage hang crash" \
  "$(names S-nocaps 1 | cut -d' ' -f1-4)"
t_eq "start failures never called Ollama" 0 "$(jq -c 'select(.path == "/api/chat" and (.experiment // "" | startswith("S-")) and (.experiment | test("badversion|initerror|noinit|exit|loopcursor")))' "$SIM_LOG_m1" | wc -l | tr -d ' ')"

# ---- deny, TURNQ_MCP ----
t_eq "D1: image and b:memory_get hidden; the 7th call wraps to the first of 6 tools" \
  "echo iserror dotted_name surrogate batch huge echo" "$(names D1 1)"
t_eq "D1: a lone surrogate escape repaired to U+FFFD" "$(printf 'x\xef\xbf\xbdy')" "$(content D1 1 surrogate)"
t_eq "D1: an answer inside a batch" "in a batch" "$(content D1 1 batch)"
t_eq "D1: a line over 16 MiB ends the server and fails the call" \
  "ERROR: MCP server 'c' wrote a line over 16 MiB during tools/call 'huge'" "$(content D1 1 huge)"
t_ok "D1: a's echo answered" starts "$(content D1 1 echo)" "echo: message-1 | server=a "
t_eq "D1: b's dotted.name answered" dotted "$(content D1 1 dotted_name)"

# ---- logs: stderr drained, bounded; SIGTERM for the one that ignores EOF ----
t_ok "the servers' stderr reaches the debug log" grep -q "MCP server 'norm' stderr: noisy line 0 " "$T/worker-m1.log"
N=$(grep -c "job=X1 MCP server 'norm' stderr: noisy line" "$T/worker-m1.log")
t_ok "... rate-limited ($N of X1's 3000 noisy lines logged)" test "$N" -le 60
t_ok "... saying how many were not logged" grep -q "stderr lines not logged" "$T/worker-m1.log"
h_wait 10 "grep -q \"job=S-stuck MCP server 'norm' .* did not exit within 2 s of its stdin closing: SIGTERM to its process group\" '$T/worker-m1.log'"
t_ok "a server that ignores stdin EOF gets SIGTERM (group)" grep -q "job=S-stuck MCP server 'norm' .*SIGTERM to its process group" "$T/worker-m1.log"

# ---- nothing left behind ----
gone() {
  local f pid pg cwd child
  for f in "$T"/pids/*; do
    pid=$(basename "$f"); read -r pg cwd child <"$f"
    kill -0 "$pid" 2>/dev/null && return 1
    [ -n "$child" ] && kill -0 "$child" 2>/dev/null && return 1
    pgrep -g "$pg" >/dev/null && return 1
    [ -e "$cwd" ] && return 1
  done
  return 0
}
t_eq "every server was started (norm+ugly for 11 on m1, less the 4 start failures' early ends; a+b on m2)" \
  yes "$( [ "$(ls "$T/pids" | wc -l)" -ge 18 ] && echo yes || echo "no: $(ls "$T/pids" | wc -l)")"
h_wait 10 gone
t_ok "no server process, no process in their groups, no workdir left" gone
t_eq "the workdir bases are empty" "" "$(ls -A "$T/wd1" "$T/wd2" | grep -v '^/\|^$' || true)"
t_ok "worker m1 still up" kill -0 "$WORKER_PID_m1"
t_ok "worker m1 still beats" test "$(h_cli exists "$NS:worker:m1")" = 1

# ---- the real npm reference server, when npx has it cached (never in CI: no network) ----
if command -v npx >/dev/null && HOME=$HOME npm_config_offline=true timeout 20 npx -y @modelcontextprotocol/server-memory </dev/null >/dev/null 2>&1; then
  h_sim_start m3 --actions 9 --latency-ms 100 || exit 1
  h_worker_start m3 --mcp-timeout 20 --slots 2 \
    --mcp "memory: env npm_config_offline=true MEMORY_FILE_PATH={workdir}/memory.jsonl npx -y @modelcontextprotocol/server-memory"
  h_worker_ready m3 20 || t_fail "worker m3 is up"
  { JOB N1 m3 '["remember"]'; JOB N2 m3 '["remember"]'; } | h_disp submit - >/dev/null 2>&1
  h_wait 60 "[ \"\$(state N1)\" = done ] || [ \"\$(state N1)\" = failed ]"
  h_wait 60 "[ \"\$(state N2)\" = done ] || [ \"\$(state N2)\" = failed ]"
  t_eq "npx server-memory: done" "done done" "$(state N1) $(state N2)"
  t_ok "npx server-memory: N1 and N2 ran at the same time" test "$(h_cli get "$NS:result:N1" | jq -r .started_at)" \< \
    "$(h_cli get "$NS:result:N2" | jq -r .finished_at)" -a "$(h_cli get "$NS:result:N2" | jq -r .started_at)" \< \
    "$(h_cli get "$NS:result:N1" | jq -r .finished_at)"
  # Both create the same entity: with one shared memory file, the second would get [] (it exists).
  t_ok "npx server-memory: each experiment's create_entities made the entity in its own memory" \
    test "$(content N1 1 create_entities)" != "[]" -a "$(content N2 1 create_entities)" != "[]"
  t_eq "npx server-memory: its 9 tools called" \
    "create_entities create_relations add_observations delete_entities delete_observations delete_relations read_graph search_nodes open_nodes" \
    "$(names N1 1)"
  t_ok "npx server-memory: read_graph shows the entity create_entities made" \
    bash -c "[[ \"\$(printf '%s' \"\$1\")\" == *'\"name\": \"name-1\"'* ]]" _ "$(content N1 1 read_graph)"
else
  echo "SKIP: npx @modelcontextprotocol/server-memory is not cached (offline)"
fi
exit 0
