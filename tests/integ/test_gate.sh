#!/usr/bin/env bash
# test_gate: the consistency gate (dispatcher/gate.c, modeltab.c; submit.c, status.c) and what
# the worker reports of its Ollama's settings and of model reloads (worker/ollama.c, callrec.c,
# result.c). Four simulated boxes: ga and gb serve qwen3:8b with different digests (and run
# different Ollama versions), gc has ga's qwen3:8b but no llama3:8b, gr evicts its model every
# 2nd call (--evict-every 2 --load-ms 600: a reload mid-experiment).
#   - submit refuses (exit 2, nothing in Redis: no job hashes, no ids, queues empty) when the
#     live workers of the machines disagree on a digest, with the aligned table machine x model
#     x digest x version (digests cut to 12 hex digits); also with --dry-run, under least-loaded
#     (the Lua path), and for a pin on a box that lacks the model;
#   - a model missing on one box refuses, "(missing)" in the table;
#   - same digests pass without a word; a machine without a live worker only warns;
#   - --allow-mixed-digests runs them: the job hash holds the table (mixed_digests, chunked and
#     Lua paths), the result says "mixed_digests": true with digests_seen;
#   - the heartbeat carries ollama.ps (context_length, size_vram, expires_at) and each model's
#     /api/show settings (trained context_length, parameters.num_ctx), /api/show once per digest;
#   - turn records carry options and keep_alive (as sent), load_duration_ms and reload; a reload
#     on a later call is flagged (reload_calls, result reloads 1, job hash reloads) and status
#     shows it, and shows the mismatch table (status --json: mismatch_table, version_mismatch).
# A model that is gone at run time still fails its experiment: test_fault_nomodel, test_turns.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR
DA=$(printf 'a%.0s' $(seq 64)) DB=$(printf 'b%.0s' $(seq 64))
run() { RC=0; h_disp "$@" >"$T/out" 2>"$T/err" || RC=$?; }
has_err() { grep -qE -- "$1" "$T/err"; }
nothing_written() {
  [ "$(h_cli --scan --pattern "$NS:job:*" | wc -l)" -eq 0 ] && [ "$(h_cli exists "$NS:ids")" = 0 ] &&
    [ "$(h_cli --scan --pattern "$NS:queue:*" | wc -l)" -eq 0 ]
}
jobs() { local m=$1 pre=$2 n=$3 extra=${4:-} k; for k in $(seq "$n"); do
  echo "{\"id\": \"$pre$k\", \"model\": \"$m\", \"turns\": [\"t\"]$extra}"; done; }
field() { h_cli hget "$NS:job:$1" "$2"; }
result() { h_cli get "$NS:result:$1"; }

h_sim_start ga --models "qwen3:8b@$DA,llama3:8b" --num-ctx 8192 || exit 1
h_sim_start gb --models "qwen3:8b@$DB,llama3:8b" --version-string 0.13.0 || exit 1
h_sim_start gc --models "qwen3:8b@$DA" || exit 1
h_sim_start gr --models "qwen3:8b@$DA" --load-ms 600 --evict-every 2 || exit 1
for m in ga gb gc gr; do h_worker_start "$m"; done
for m in ga gb gc gr; do h_worker_ready "$m" || { t_fail "worker $m up"; exit 1; }; done
# the first heartbeat may precede the /api/show answers: wait for the settings
t_ok "heartbeat: ga's models carry their /api/show settings" h_wait 10 \
  "h_cli get $NS:worker:ga | jq -e '.ollama.models | length == 2 and all(.context_length != null)'"

# ---- refusals: nothing written ----
jobs qwen3:8b Q 4 >"$T/q4.jsonl"
run submit --machines ga,gb "$T/q4.jsonl"
t_eq "digests differ: exit 2" 2 "$RC"
t_ok "digests differ: names the experiments" has_err "disagree on their model .*: Q1, Q2, Q3, Q4"
t_eq "digests differ: the aligned table, digests cut to 12" \
"  MACHINE  MODEL     DIGEST        VERSION
  ga       qwen3:8b  aaaaaaaaaaaa  0.12.6
  gb       qwen3:8b  bbbbbbbbbbbb  0.13.0" "$(grep -A2 '^  MACHINE' "$T/err")"
t_ok "digests differ: names --allow-mixed-digests" has_err "allow-mixed-digests"
t_eq "digests differ: nothing on stdout" "" "$(cat "$T/out")"
t_ok "digests differ: nothing in Redis (no job hashes, no ids, queues empty)" nothing_written
run submit --dry-run --machines ga,gb "$T/q4.jsonl"
t_eq "digests differ, --dry-run: exit 2 too" 2 "$RC"
run submit --strategy least-loaded --machines ga,gb "$T/q4.jsonl"
t_eq "digests differ, least-loaded (the script path): exit 2" 2 "$RC"
t_ok "digests differ, least-loaded: nothing in Redis" nothing_written

jobs llama3:8b L 2 >"$T/l2.jsonl"
run submit --machines ga,gc "$T/l2.jsonl"
t_eq "model missing on one box: exit 2" 2 "$RC"
t_ok "model missing: the table says (missing) for gc" has_err "^  gc +llama3:8b +\(missing\) +0\.12\.6$"
t_ok "model missing: ga's row" has_err "^  ga +llama3:8b +[0-9a-f]{12} +0\.12\.6$"
t_ok "model missing: nothing in Redis" nothing_written
run submit --strategy model --machines ga,gc "$T/l2.jsonl"
t_eq "model missing, --strategy model: passes (it places only on ga)" 0 "$RC"
t_eq "model missing, --strategy model: both on ga" "L1 -> ga queued L2 -> ga queued" \
  "$(grep -- ' -> ' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
h_wait 10 "[ \"\$(field L1 state)\" = done ] && [ \"\$(field L2 state)\" = done ]"
echo '{"id": "P1", "model": "llama3", "turns": ["t"], "machine": "gc"}' >"$T/pin.json"
run submit "$T/pin.json"
t_eq "a pin on a box without the model ('llama3' is llama3:latest): exit 2" 2 "$RC"
t_ok "pin: the table names llama3:latest on gc" has_err "^  gc +llama3:latest +\(missing\)"
t_eq "pin: no job hash" 0 "$(h_cli exists "$NS:job:P1")"

# ---- passes ----
run submit --machines ga,gc "$T/q4.jsonl"
t_eq "same digests: exit 0" 0 "$RC"
t_eq "same digests: not a word on stderr" "" "$(cat "$T/err")"
t_eq "same digests: no mixed_digests field" "" "$(field Q1 mixed_digests)"
jobs qwen3:8b Z 2 >"$T/z2.jsonl"
run submit --machines ga,gz "$T/z2.jsonl"
t_eq "a machine without a live worker: exit 0" 0 "$RC"
t_ok "no live worker: a warning names gz" has_err "warning: no live worker for gz"
t_ok "no live worker: no refusal" bash -c "! grep -q refused '$T/err'"
h_cli del "$NS:queue:gz" >/dev/null

# ---- --allow-mixed-digests ----
jobs qwen3:8b M 2 ', "options": {"temperature": 0.2}, "keep_alive": "10m"' >"$T/m2.jsonl"
run submit --allow-mixed-digests --strategy mod --machines ga,gb "$T/m2.jsonl"
t_eq "allowed: exit 0" 0 "$RC"
t_ok "allowed: a warning with the table" bash -c "grep -q 'warning: --allow-mixed-digests: 2 experiments' '$T/err' &&
  grep -Eq '^  gb +qwen3:8b +bbbbbbbbbbbb +0\.13\.0$' '$T/err'"
t_ok "allowed: the job hash holds the table (chunked path)" jq -e --arg a "$DA" --arg b "$DB" \
  '. == [{"machine":"ga","model":"qwen3:8b","digest":$a,"version":"0.12.6"},{"machine":"gb","model":"qwen3:8b","digest":$b,"version":"0.13.0"}]' \
  <<<"$(field M1 mixed_digests)"
jobs qwen3:8b N 1 >"$T/n1.jsonl"
run submit --allow-mixed-digests --strategy least-loaded --machines ga,gb "$T/n1.jsonl"
t_eq "allowed, least-loaded: exit 0" 0 "$RC"
t_ok "allowed, least-loaded: the job hash holds the table (script path)" jq -e 'length == 2' <<<"$(field N1 mixed_digests)"
t_ok "allowed: M1, M2, N1 done" h_wait 10 "for i in M1 M2 N1; do [ \"\$(field \$i state)\" = done ] || exit 1; done"
t_ok "allowed: the results say mixed_digests, with the digests seen" jq -e --arg b "$DB" \
  '.mixed_digests == true and (.digests_seen | length == 2) and .digests_seen[1].digest == $b' <<<"$(result M2)"
t_ok "allowed: M2 ran on gb with gb's digest" jq -e --arg b "$DB" '.machine == "gb" and .model_digest == $b' <<<"$(result M2)"
t_ok "same digests: the result says mixed_digests false, reloads 0" jq -e '.mixed_digests == false and .reloads == 0
  and (has("digests_seen") | not)' <<<"$(result Q1)"

# ---- turn records: options and keep_alive as sent ----
t_ok "turn record: options and keep_alive once per turn" jq -e '.turns[0] | .options == {"temperature": 0.2}
  and .keep_alive == "10m" and (has("call_settings") | not) and .reload == false and (.load_duration_ms | type == "number")' \
  <<<"$(result M1)"
t_ok "turn record without options: {} and null" jq -e '.turns[0] | .options == {} and .keep_alive == null' <<<"$(result Q1)"

# ---- heartbeat settings ----
H=$(h_cli get "$NS:worker:ga")
t_ok "heartbeat: trained context_length and the Modelfile's num_ctx from /api/show" jq -e '
  .ollama.models[] | select(.name == "qwen3:8b") | .context_length == 40960 and .parameters.num_ctx == 8192
  and .parameters.temperature == 0.6 and (.parameters.stop | length == 2)' <<<"$H"
# ps is probed with every 5 s beat, and a change is sent at once: M1's model shows within one
PS_OK='.ollama.ps | map(select(.name == "qwen3:8b")) | length == 1 and .[0].digest == $a and .[0].context_length == 8192
  and .[0].size_vram == .[0].size and (.[0].expires_at | test("^20[0-9]{2}-"))'
t_ok "heartbeat: ollama.ps lists the loaded model as /api/ps gives it" h_wait 7 \
  "h_cli get $NS:worker:ga | jq -e --arg a $DA '$PS_OK'"
t_eq "heartbeat: /api/show once per model digest, not every beat" 2 \
  "$(jq -c 'select(.path == "/api/show")' "$SIM_LOG_ga" | wc -l | tr -d ' ')"

# ---- a reload mid-experiment ----
TOOL='{"type": "function", "function": {"name": "probe", "parameters": {"type": "object", "properties": {}}}}'
echo "{\"id\": \"R1\", \"model\": \"qwen3:8b\", \"turns\": [\"t\"], \"tools\": [$TOOL]}" >"$T/r1.json"
run submit --machines gr "$T/r1.json"
t_eq "reload: submitted" 0 "$RC"
t_ok "reload: R1 done" h_wait 10 "[ \"\$(field R1 state)\" = done ]"
t_ok "reload: the turn record flags the second call (the first, cold, is no reload)" jq -e '.turns[0]
  | .calls == 3 and .reload == true and (.reload_calls | length == 1) and .reload_calls[0].call == 2
  and .reload_calls[0].load_duration_ms >= 500 and .load_duration_ms >= 1000' <<<"$(result R1)"
t_ok "reload: the result counts it" jq -e '.reloads == 1' <<<"$(result R1)"
t_eq "reload: the job hash counts it" 1 "$(field R1 reloads)"
t_ok "reload: the worker logs it" grep -q 'job=R1 .*reloaded the model mid-experiment' "$T/worker-gr.log"

# ---- status ----
run status
t_eq "status: exit 0" 0 "$RC"
t_ok "status: gr's reload count" grep -q '^  reloads: 1 mid-experiment model reload in 1 experiment$' "$T/out"
t_ok "status: the reloads section" grep -q '^  R1 on gr: 1 reload$' "$T/out"
t_ok "status: the version warning and the table" bash -c "grep -q '^WARNING: live machines run different Ollama versions' '$T/out' &&
  grep -Eq '^  gb +qwen3:8b +bbbbbbbbbbbb +0\.13\.0$' '$T/out' && grep -Eq '^  gc +llama3:8b +\(missing\) +0\.12\.6$' '$T/out'"
t_ok "status: the digest WARNING line as before" grep -q '^WARNING: model qwen3:8b has different digests on live machines' "$T/out"
run status --json
t_ok "status --json: mismatch_table, version_mismatch, reloads" jq -e '.version_mismatch == true
  and (.mismatch_table | map(select(.machine == "gb" and .model == "qwen3:8b")) | length == 1)
  and .reloads == [{"id": "R1", "machine": "gr", "reloads": 1}]
  and (.machines[] | select(.machine == "gr") | .reloads == {"experiments": 1, "calls": 1})
  and (.machines[] | select(.machine == "ga") | .reloads == {"experiments": 0, "calls": 0})' "$T/out"
t_ok "status --json: digest_mismatches as before" jq -e '.digest_mismatches | map(.model) == ["qwen3:8b"]' "$T/out"

[ "$H_FAILS" -eq 0 ]
