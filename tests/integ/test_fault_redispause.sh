#!/usr/bin/env bash
# test_fault_redispause: Redis paused (SIGSTOP) mid-sweep, then resumed (SIGCONT): first for 12 s
# (beyond the workers' 10 s reply watchdog, within the 15 s lease), then, once the sweep has moved
# on, for 16 s (beyond the lease TTL: every heartbeat key has expired when Redis wakes up). Ollama
# keeps answering meanwhile, so turns finish and their commits wait. 10 experiments of 10 turns
# (one tool, 3 calls a turn) on machines p1 (--slots 2) and p2; p2 has a second, waiting worker
# beside its own sim, which may take the machine when the lease expires, but the two must never
# run side by side (the calls switch from one sim to the other at most once). Everything
# finishes. Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
for m in p1 p2a p2b; do h_sim_start "$m" --latency-ms 30 || exit 1; done
inv_jobs A 6 10 "\"tools\": [$INV_TOOL]" | h_disp submit --machines p1 - >/dev/null 2>&1
inv_jobs B 4 10 "\"tools\": [$INV_TOOL]" | h_disp submit --machines p2 - >/dev/null 2>&1
inv_wstart p1 --machine p1 --ollama "$SIM_URL_p1" --slots 2 --max-interruptions 100
inv_wstart p2a --machine p2 --ollama "$SIM_URL_p2a" --max-interruptions 100
h_wait 10 "[ \"\$(h_cli get $NS:worker:p2 | jq .pid)\" = $WPID_p2a ]"
inv_wstart p2b --machine p2 --ollama "$SIM_URL_p2b" --max-interruptions 100
commits() { h_cli xlen "$NS:events" 2>/dev/null || echo 0; }
switches() {
  { jq -c 'select(.path == "/api/chat" and .experiment != null) | {ts, s: "a"}' "$SIM_LOG_p2a"
    jq -c 'select(.path == "/api/chat" and .experiment != null) | {ts, s: "b"}' "$SIM_LOG_p2b"; } |
    jq -s 'sort_by(.ts) | [.[].s] | . as $s | [range(1; length) | select($s[.] != $s[. - 1])] | length'
}
t_ok "p2: the second worker waits" h_wait 10 "grep -q 'held by another worker' '$H_DIR/worker-p2b.log'"
rounds=0
for secs in 12 16; do
  e0=$(commits)
  t_ok "pause ${secs}s: the sweep moves first" h_wait 20 "[ \$(commits) -ge $((e0 + 10)) ]"
  kill -STOP "$H_REDIS_PID"; rounds=$((rounds + 1))
  p0=$(inv_now_ms)
  sleep "$secs"
  kill -CONT "$H_REDIS_PID"
  echo "redis paused for $(( $(inv_now_ms) - p0 )) ms"
  t_ok "pause ${secs}s: redis answers again" h_wait 5 "h_cli ping | grep -q PONG"
done
t_ok "a worker noticed the silence (reply watchdog)" bash -c "cat '$H_DIR'/worker-p*.log | grep -qiE 'no reply|lost|reconnect'"
t_ok "everything ends" h_wait 40 inv_ended
t_eq "all 10 done" 10 "$(inv_count done)"
s=$(switches)
t_ok "p2: its two workers never ran side by side ($s switches between their sims)" test "$s" -le 1
inv_check redispause "$rounds" "$SIM_LOG_p1" "$SIM_LOG_p2a" "$SIM_LOG_p2b"
[ "$H_FAILS" -eq 0 ]
