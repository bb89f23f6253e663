#!/usr/bin/env bash
# test_fault_nomodel: a model that is not there.
#   - machine nm: a sweep of 6 where 2 ask for a model the box does not have (nosuch:1b): those
#     fail at once with Ollama's 404 message (one attempt, no retries, in NS:dead), the other 4
#     end done; the breaker stays closed (a missing model is no sick box);
#   - machine gone: the model disappears mid-experiment (the box restarted without it, as after
#     `ollama rm`): the experiment fails with its committed turns kept; the box gets the model
#     back, `dispatcher retry` queues it again and it resumes at its first uncommitted turn to
#     end done; the other experiment on the box (another model) is unaffected.
# Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
in_dead() { h_cli lrange "$NS:dead" 0 -1 | grep -qxF -- "$1"; }
h_sim_start nm --latency-ms 20 || exit 1
{ inv_jobs N 4 3 "\"tools\": [$INV_TOOL]"
  echo '{"id": "X1", "model": "nosuch:1b", "turns": ["a", "b"]}'
  echo '{"id": "X2", "model": "nosuch:1b", "turns": ["a", "b"], "tools": ['"$INV_TOOL"']}'
} | h_disp submit --machines nm - >/dev/null 2>&1
h_worker_start nm
h_own_port PG
h_sim_on_port gone "$PG" --latency-ms 100 --models qwen3:8b,llama3:8b || exit 1
{ inv_jobs G 1 12 | sed 's/qwen3:8b/llama3:8b/'; inv_jobs G 2 3 | tail -n1; } | h_disp submit --machines gone - >/dev/null 2>&1
h_worker_start gone --ollama "$SIM_URL_gone"

# ---- the model disappears mid-experiment ----
t_ok "gone: G1 past turn 2" h_wait 15 "[ \"\$(inv_field G1 turn)\" -ge 2 ] 2>/dev/null"
inv_sim_stop gone
h_sim_on_port gone "$PG" --latency-ms 100 --models qwen3:8b || t_fail "gone: box back without llama3"
t_ok "gone: G1 ends" h_wait 20 "[ \"\$(inv_state G1)\" = failed ]"
k=$(h_cli llen "$NS:turns:G1")
t_ok "gone: G1 failed with its committed turns kept ($k)" test "$k" -ge 2
t_ok "gone: the error names the missing model" bash -c "redis-cli -p $H_REDIS_PORT hget '$NS:job:G1' error | grep -q 'llama3'"
t_ok "gone: G2 (qwen3) still ends done" h_wait 20 "[ \"\$(inv_state G2)\" = done ]"
inv_sim_stop gone
h_sim_on_port gone "$PG" --latency-ms 100 --models qwen3:8b,llama3:8b || t_fail "gone: box back with llama3"
h_disp retry G1 >"$H_DIR/retry.out" 2>&1
t_ok "gone: dispatcher retry G1 says it resumes at turn $((k + 1))" grep -q "resumes at turn $((k + 1))" "$H_DIR/retry.out"
t_ok "gone: G1 done after the retry" h_wait 20 "[ \"\$(inv_state G1)\" = done ]"
t_eq "gone: G1 has 12 turns, 1..12" "$(seq 1 12 | tr '\n' ' ')" "$(h_cli lrange "$NS:turns:G1" 0 -1 | jq -r .turn | tr '\n' ' ')"

# ---- missing from the start ----
t_ok "nm: everything ends" h_wait 20 inv_ended
for id in X1 X2; do
  t_eq "nm: $id failed" failed "$(inv_state "$id")"
  t_ok "nm: $id in NS:dead" in_dead "$id"
  t_ok "nm: $id error carries Ollama's message" bash -c "redis-cli -p $H_REDIS_PORT hget '$NS:job:$id' error | grep -q \"model 'nosuch:1b' not found\""
  t_eq "nm: $id one attempt" 1 "$(inv_field "$id" attempts)"
  n=$(jq -c --arg e "$id" 'select(.path == "/api/chat" and .experiment == $e)' "$SIM_LOG_nm" | wc -l)
  t_ok "nm: $id not retried ($n calls)" test "$n" -le 1
done
t_eq "nm: the other 4 done" "done done done done" "$(for i in 1 2 3 4; do inv_state N$i; done | tr '\n' ' ' | sed 's/ $//')"
t_eq "nm: breaker closed" false "$(h_cli get "$NS:worker:nm" | jq -r .breaker_open)"
t_eq "6 done, 2 failed" "6 2" "$(inv_count done) $(inv_count failed)"
inv_check nomodel 3 "$SIM_LOG_nm" "$SIM_LOG_gone"
[ "$H_FAILS" -eq 0 ]
