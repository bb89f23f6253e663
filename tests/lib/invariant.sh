# tests/lib/invariant.sh: the fault suite's end-of-scenario check ("nothing lost, nothing run
# twice"), plus the few helpers the tests/integ/test_fault_*.sh scripts share. Source it after
# harness.sh:
#
#   . "$(dirname "$0")/../lib/harness.sh"
#   . "$(dirname "$0")/../lib/invariant.sh"
#   ...the scenario, ending with a bounded wait for everything to end...
#   inv_check kill9 12 "$SIM_LOG_gpu1" "$SIM_LOG_gpu2"
#
# inv_check SCENARIO RUNS SIMLOG... checks, for the namespace $TURNQ_NAMESPACE:
#   - lost: every id in NS:ids has a job hash whose state is done, failed or cancelled
#     (submitted = done + failed + cancelled); "lost" counts the ids for which that is not so;
#   - every NS:queue:* and NS:running:* list is empty (found with SCAN on the namespace prefix);
#   - every done experiment has a result whose turns are numbered 1..n, each once, and equal to
#     NS:turns:ID (the committed records); every experiment's committed records are numbered
#     1..k, each once;
#   - NS:dead lists every failed experiment once, and nothing that is not failed;
#   - run twice: in the simulators' JSON Lines logs, all merged and ordered by ts, no call of a
#     committed turn comes after its commit. A turn's commit time is its `turn` entry in
#     NS:events (the stream id's milliseconds: Redis's clock, and the sims' too, on one host); a
#     call counts as after it when its ts is more than INV_SLACK_MS later (a sim logs ts at the
#     reply, rounded to the ms; Redis floors it). The turn numbers tell too, stream or not: a
#     turn's first call may go out while the previous turn's commit is in flight (the worker's
#     early call) but never earlier, so a call two or more turns below the highest already sent
#     is of a committed turn. "run twice" counts the (experiment, turn) pairs sent again;
#   - every committed turn record is backed by the logs: the successful calls (status 200, fault
#     null) of that (experiment, turn) are at least the record's `calls` (re-running a turn that
#     was not committed is allowed and expected, so more is fine).
# It prints PASS:/FAIL: lines, and one machine-readable line
#   TABLE: <scenario>|<runs>|<experiments>|<lost>|<run twice>
# that tests/fault-table.sh collects. RUNS is what the scenario counts as its rounds of fault
# (kill -9s, pauses, connection kills, ...), for the table.

# The snapshot: one script, so it is read atomically. JSON {ids: [{id, type, state, turns,
# tlen, result}], lists: [{key, len}], dead: [{id, state}], commits: [{id, turn, ms}]}. (cjson prints an empty table as {}: jq copes below.)
INV_SNAPSHOT_LUA='
local ns = ARGV[1]
local ids = redis.call("ZRANGE", ns .. ":ids", 0, -1)
local out = {}
for i, id in ipairs(ids) do
  local jk, tk, rk = ns .. ":job:" .. id, ns .. ":turns:" .. id, ns .. ":result:" .. id
  local e = {id = id, type = redis.call("TYPE", jk).ok, state = "", turns = {}, result = ""}
  if e.type == "hash" then e.state = redis.call("HGET", jk, "state") or "" end
  if redis.call("TYPE", tk).ok == "list" then e.turns = redis.call("LRANGE", tk, 0, -1) end
  e.tlen = #e.turns
  if redis.call("TYPE", rk).ok == "string" then e.result = redis.call("GET", rk) end
  out[i] = e
end
local lists = {}
for _, pat in ipairs({":queue:*", ":running:*"}) do
  local cur = "0"
  repeat
    local r = redis.call("SCAN", cur, "MATCH", ns .. pat, "COUNT", 1000)
    cur = r[1]
    for _, k in ipairs(r[2]) do
      local t = redis.call("TYPE", k).ok
      lists[#lists + 1] = {key = k, type = t, len = (t == "list") and redis.call("LLEN", k) or -1,
                           items = (t == "list") and redis.call("LRANGE", k, 0, 9) or {}}
    end
  until cur == "0"
end
local dead = redis.call("LRANGE", ns .. ":dead", 0, -1)
local dstate = {}
for i, id in ipairs(dead) do
  local jk = ns .. ":job:" .. id
  dstate[i] = {id = id, state = (redis.call("TYPE", jk).ok == "hash") and (redis.call("HGET", jk, "state") or "") or ""}
end
local commits = {}
for _, e in ipairs(redis.call("XRANGE", ns .. ":events", "-", "+")) do
  local f, m = e[2], {}
  for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
  if m.event == "turn" then
    commits[#commits + 1] = {id = m.id, turn = tonumber(m.turn), ms = tonumber(string.match(e[1], "^(%d+)"))}
  end
end
return cjson.encode({ids = out, lists = lists, dead = dstate, commits = commits})
'

inv_check() {
  local scen=$1 runs=$2; shift 2
  local ns=$TURNQ_NAMESPACE snap
  snap=$(redis-cli -p "$H_REDIS_PORT" --raw eval "$INV_SNAPSHOT_LUA" 0 "$ns" 2>&1)
  if ! jq -e . >/dev/null 2>&1 <<<"$snap"; then
    t_fail "$scen: invariant: read the namespace from Redis" "$snap"
    echo "TABLE: $scen|$runs|?|?|?"
    return 1
  fi
  printf '%s' "$snap" >"$H_DIR/inv-snapshot.json"
  # ---- lost ----
  local n counts lost
  n=$(jq '.ids | if type == "array" then length else 0 end' <<<"$snap")
  counts=$(jq -r '(.ids | if type == "array" then . else [] end) as $i
    | [($i | map(select(.type == "hash" and .state == "done")) | length),
       ($i | map(select(.type == "hash" and .state == "failed")) | length),
       ($i | map(select(.type == "hash" and .state == "cancelled")) | length)] | join(" ")' <<<"$snap")
  local d fl c; read -r d fl c <<<"$counts"
  lost=$((n - d - fl - c))
  t_eq "$scen: invariant: submitted $n = done $d + failed $fl + cancelled $c (lost $lost)" 0 "$lost"
  if [ "$lost" -gt 0 ]; then
    echo "  not ended: $(jq -r '.ids | if type == "array" then . else [] end
      | map(select(.type != "hash" or ([.state] | inside(["done","failed","cancelled"]) | not)))
      | .[:20] | map("\(.id)=\(if .type == "hash" then .state else "no hash (\(.type))" end)") | join(" ")' <<<"$snap")"
  fi
  # ---- queues and running lists ----
  local busy
  busy=$(jq -r '.lists | if type == "array" then . else [] end | map(select(.len != 0))
    | map("\(.key) (\(.type), \(.len)): \(.items | if type == "array" then join(",") else "" end)") | join("; ")' <<<"$snap")
  t_eq "$scen: invariant: every $ns:queue:* and $ns:running:* empty" "" "$busy"
  # ---- results of done experiments ----
  local badres
  badres=$(jq -r '.ids | if type == "array" then . else [] end | map(select(.state == "done")) | map(
      . as $e
      | (($e.turns | if type == "array" then . else [] end) | map(fromjson? // "bad")) as $recs
      | (try ($e.result | fromjson) catch null) as $r
      | if $r == null then "\($e.id): no result"
        elif ($r.status != "done") then "\($e.id): result status \($r.status)"
        elif ($r.turns | type) != "array" or ($r.turns | length) == 0 then "\($e.id): result without turns"
        elif ([$r.turns[].turn] != [range(1; ($r.turns | length) + 1)]) then "\($e.id): result turns \([$r.turns[].turn])"
        elif ($r.turns != $recs) then "\($e.id): result turns differ from NS:turns:\($e.id) (\($recs | length) records)"
        else empty end) | .[:10] | join("; ")' <<<"$snap")
  t_eq "$scen: invariant: every done result has turns 1..n once each, equal to NS:turns" "" "$badres"
  local badrec
  badrec=$(jq -r '.ids | if type == "array" then . else [] end | map(
      (.turns | if type == "array" then . else [] end | map(fromjson? | .turn)) as $t
      | select($t != [range(1; ($t | length) + 1)]) | "\(.id) (\(.state)): \($t)") | .[:10] | join("; ")' <<<"$snap")
  t_eq "$scen: invariant: every experiment's committed records numbered 1..k once each" "" "$badrec"
  # ---- NS:dead: the failed ones, and only failed ones ----
  local baddead
  baddead=$(jq -r '(.dead | if type == "array" then . else [] end) as $d
      | ($d | map(.id)) as $dids
      | ((.ids | if type == "array" then . else [] end) | map(select(.state == "failed" and ((.id as $i | $dids | index($i)) == null)))
         | map("\(.id) failed but not in NS:dead"))
        + ($d | map(select(.state != "failed")) | map("\(.id) in NS:dead but \(.state)"))
        + ($dids | group_by(.) | map(select(length > 1)) | map("\(.[0]) in NS:dead \(length) times"))
      | .[:10] | join("; ")' <<<"$snap")
  t_eq "$scen: invariant: NS:dead lists every failed experiment once, and only failed ones" "" "$baddead"
  # ---- the simulators' logs ----
  local logs=() l
  for l in "$@"; do [ -f "$l" ] && logs+=("$l"); done
  if [ "$#" -gt 0 ] && [ "${#logs[@]}" -ne "$#" ]; then
    t_fail "$scen: invariant: every sim log given exists" "$*"
  fi
  local calls="$H_DIR/inv-calls.json"
  if [ "${#logs[@]}" -gt 0 ]; then
    cat "${logs[@]}" | jq -c 'select(.path == "/api/chat" and .experiment != null and .turn != null
                                      and (.messages // 0) > 0)
                              | {ts, e: (.experiment | tostring), t: .turn, ok: (.status == 200 and .fault == null)}' |
      jq -s 'sort_by(.ts, .t)' >"$calls"
  else
    echo '[]' >"$calls"
  fi
  local twice again
  printf '%s' "$snap" | jq -c '.commits' >"$H_DIR/inv-commits.json"
  again=$(inv_again "$calls" "$H_DIR/inv-commits.json")
  twice=$(jq '[.[] | "\(.e):\(.t)"] | unique | length' <<<"$again")
  t_eq "$scen: invariant: no committed turn sent to Ollama again (${#logs[@]} sim logs)" 0 "$twice"
  if [ "$twice" -gt 0 ]; then
    echo "  sent again: $(jq -r 'map("\(.e) turn \(.t) \(.why)") | .[:10] | join("; ")' <<<"$again")"
  fi
  local unbacked
  unbacked=$(jq -r --slurpfile c "$calls" '
      ($c[0] | map(select(.ok)) | group_by([.e, .t]) | map({key: "\(.[0].e)\u0000\(.[0].t)", value: length})
       | from_entries) as $ok
      | .ids | if type == "array" then . else [] end | map(. as $e
          | ($e.turns | if type == "array" then . else [] end)[] | (fromjson? // {}) as $r
          | ($ok["\($e.id)\u0000\($r.turn)"] // 0) as $got
          | select($got < ($r.calls // 0)) | "\($e.id) turn \($r.turn): \($got) ok calls < \($r.calls)")
      | .[:10] | join("; ")' <<<"$snap")
  if [ "${#logs[@]}" -gt 0 ]; then
    t_eq "$scen: invariant: each committed turn's calls are in the sim logs (ok calls >= record calls)" "" "$unbacked"
  fi
  echo "TABLE: $scen|$runs|$n|$lost|$twice"
  [ "$lost" -eq 0 ] && [ -z "$busy" ] && [ -z "$badres" ] && [ -z "$badrec" ] && [ -z "$baddead" ] && [ "$twice" -eq 0 ] && [ -z "$unbacked" ]
}

# inv_again CALLS COMMITS: the calls of committed turns sent again, as a JSON array of {e, t,
# why}. CALLS: a file with a JSON array of {ts, e, t} in ts order; COMMITS: a file with a JSON
# array of {id, turn, ms} (NS:events' `turn` entries), or null. Per experiment, a call counts
# when it comes more than INV_SLACK_MS after its turn's commit, or two or more turns below the
# highest already sent (see inv_check).
inv_again() {
  jq -c --slurpfile cm "$2" --argjson slack "${INV_SLACK_MS:-2}" '
      ($cm[0] | if type == "array" then . else [] end | group_by([.id, .turn])
       | map({key: "\(.[0].id)\u0000\(.[0].turn)", value: (map(.ms) | min)}) | from_entries) as $at
      | group_by(.e) | map(. as $c | reduce $c[] as $x ({max: 0, back: []};
        $at["\($x.e)\u0000\($x.t)"] as $done
        | if $x.t <= .max - 2 then .back += [{e: $x.e, t: $x.t, why: "after turn \(.max) at \($x.ts)"}]
          elif $done != null and $x.ts > $done + $slack then .back += [{e: $x.e, t: $x.t, why: "at \($x.ts), committed at \($done)"}]
          else . end | .max = ([.max, $x.t] | max)) | .back) | add // []' "$1"
}

# inv_commits: the committed turns of $TURNQ_NAMESPACE as a JSON array of {id, turn, ms} (the
# `turn` entries of NS:events, ms from the stream id); fails when the stream cannot be read.
inv_commits() {
  local out
  out=$(redis-cli -p "$H_REDIS_PORT" --json xrange "$TURNQ_NAMESPACE:events" - + 2>/dev/null |
    jq -c '[.[] | (.[0] | split("-")[0] | tonumber) as $ms | (.[1] | . as $f | [range(0; length; 2) | {key: $f[.], value: $f[. + 1]}]
            | from_entries) | select(.event == "turn") | {id, turn: (.turn | tonumber), ms: $ms}]' 2>/dev/null) &&
    [ -n "$out" ] && printf '%s\n' "$out"
}

# inv_sent_again LOG ID: the turns of experiment ID (in $TURNQ_NAMESPACE) that the sim log LOG
# shows sent again after they were committed, space separated; empty when none.
inv_sent_again() {
  local d; d=$(mktemp -d "$H_DIR/again.XXXXXX")
  jq -c --arg id "$2" 'select(.path == "/api/chat" and .experiment == $id and .turn != null and (.messages // 0) > 0)
                       | {ts, e: .experiment, t: .turn}' "$1" | jq -s 'sort_by(.ts, .t)' >"$d/calls.json"
  if ! inv_commits >"$d/commits.json"; then
    # Only the turn-number rule is left then: say so rather than check less in silence.
    echo "inv_sent_again: could not read $TURNQ_NAMESPACE:events; only calls two turns back are caught" >&2
    echo null >"$d/commits.json"
  fi
  inv_again "$d/calls.json" "$d/commits.json" | jq -r '[.[].t] | unique | map(tostring) | join(" ")'
}

# inv_stalled COMMAND: true once COMMAND's output has stayed the same for 5 polls in a row (a
# poll being one call of this, as h_wait makes every 50 ms): `h_wait 5 "inv_stalled CMD"` waits
# until nothing moves any more. State in $H_DIR; the first call after a change starts afresh.
inv_stalled() {
  local n; n=$(eval "$1")
  if [ "$n" = "$(cat "$H_DIR/stalled.last" 2>/dev/null)" ]; then echo x >>"$H_DIR/stalled.same"; else : >"$H_DIR/stalled.same"; fi
  printf '%s\n' "$n" >"$H_DIR/stalled.last"
  [ "$(wc -l <"$H_DIR/stalled.same")" -ge 5 ]
}

# ---- helpers shared by the fault scripts ----

inv_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
inv_state() { h_cli hget "$TURNQ_NAMESPACE:job:$1" state; }
inv_field() { h_cli hget "$TURNQ_NAMESPACE:job:$1" "$2"; }
# inv_ended: every id in NS:ids is in a terminal state (the scenario's final bounded wait).
inv_ended() {
  [ "$(redis-cli -p "$H_REDIS_PORT" --raw eval '
    local n = 0
    for _, id in ipairs(redis.call("ZRANGE", ARGV[1] .. ":ids", 0, -1)) do
      local s = redis.call("HGET", ARGV[1] .. ":job:" .. id, "state")
      if s ~= "done" and s ~= "failed" and s ~= "cancelled" then n = n + 1 end
    end
    return n' 0 "$TURNQ_NAMESPACE" 2>/dev/null)" = 0 ]
}
# inv_count STATE: how many ids of NS:ids are in STATE.
inv_count() {
  redis-cli -p "$H_REDIS_PORT" --raw eval '
    local n = 0
    for _, id in ipairs(redis.call("ZRANGE", ARGV[1] .. ":ids", 0, -1)) do
      if redis.call("HGET", ARGV[1] .. ":job:" .. id, "state") == ARGV[2] then n = n + 1 end
    end
    return n' 0 "$TURNQ_NAMESPACE" "$1" 2>/dev/null
}
# inv_chat_lines LOG...: how many /api/chat calls of experiments the sims have logged.
inv_chat_lines() { cat "$@" 2>/dev/null | grep -c '"path":"/api/chat".*"experiment":"' ; }
# inv_jobs PREFIX N NTURNS [extra JSON members]: N jobs PREFIX1..PREFIXN of NTURNS prompts each.
inv_jobs() {
  local turns k; turns=$(seq 1 "$3" | sed 's/^/t/' | jq -R . | jq -sc .)
  for k in $(seq 1 "$2"); do echo "{\"id\": \"$1$k\", \"model\": \"qwen3:8b\", \"turns\": $turns${4:+, $4}}"; done
}
INV_TOOL='{"type":"function","function":{"name":"probe","description":"look","parameters":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}}}'
# inv_wstart TAG ARGS...: a worker with exactly these flags, log $H_DIR/worker-TAG.log, pid in
# WPID_TAG (also in H_PIDS, so the harness stops it).
inv_wstart() {
  local tag=$1; shift
  "$H_BIN/worker" "$@" >>"$H_DIR/worker-$tag.log" 2>&1 &
  H_PIDS+=("$!")
  eval "WPID_$tag=$!"
}
# inv_wait_exit PID SECONDS: sets RC to its exit status, or "alive" if it did not exit in time.
inv_wait_exit() {
  RC=alive
  if h_wait "$2" "! kill -0 $1"; then RC=0; wait "$1" 2>/dev/null || RC=$?; fi
}
# inv_redis_restart: the throwaway redis-server started again from $H_DIR/redis.conf, on the same
# port, dir and AOF (after it was killed). Updates H_REDIS_PID.
inv_redis_restart() {
  redis-server "$H_DIR/redis.conf" &
  H_REDIS_PID=$!
  H_PIDS+=("$H_REDIS_PID")
  h_wait 15 "redis-cli -p $H_REDIS_PORT ping | grep -q PONG"
}
# inv_sim_stop NAME: stops that sim and waits until it is gone.
inv_sim_stop() {
  local p; eval "p=\$SIM_PID_$1"
  kill "$p" 2>/dev/null
  h_wait 10 "! kill -0 $p 2>/dev/null"
}
