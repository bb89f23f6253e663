#!/usr/bin/env bash
# test_script_cache: the worker's fenced writes go as EVALSHA (common/rscript.c) and survive
# Redis losing its script cache, black box with redis-server, one ollama-sim and a worker.
# Covers:
#   - experiments run while SCRIPT FLUSH empties the cache again and again (as a restart, a
#     failover to a replica that never ran the script, or an eviction would): every one ends
#     done with all its turns committed exactly once, and the worker logs no error;
#   - Redis saw EVALSHA (the common case) and answered NOSCRIPT after flushes (each then
#     repeated as EVAL, which loads the script again: the experiments above still ended done).
# The fence itself is the same script either way; the fault suite (test_fault_twoworkers,
# test_fault_redisrestart: a restarted Redis has no scripts) checks what it refuses.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
D=$H_BIN/dispatcher
T=$H_DIR

h_sim_start m1 --actions 1 --latency-ms 10 || exit 1
for i in 1 2 3 4; do
  printf '{"id":"sc%d","model":"qwen3:8b","turns":[%s]}\n' "$i" \
    "$(for k in $(seq 1 20); do printf '"t%d"' "$k"; [ "$k" -lt 20 ] && printf ','; done)"
done >"$T/jobs.jsonl"
h_cli config resetstat >/dev/null
"$D" submit --machines m1 "$T/jobs.jsonl" >/dev/null 2>&1
h_worker_start m1 --slots 2
# Flush the script cache every 20 ms while the experiments run (bounded: 30 s).
flushes=0
end=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -lt "$end" ]; do
  n=$(h_cli eval "return #redis.call('KEYS', KEYS[1])" 1 "$NS:result:*")
  [ "$n" = 4 ] && break
  h_cli script flush >/dev/null && flushes=$((flushes + 1))
  sleep 0.02
done
t_eq "every experiment ended while the script cache was flushed $flushes times" 4 "$n"
for i in 1 2 3 4; do
  t_eq "sc$i: done" done "$(h_cli hget "$NS:job:sc$i" state)"
  t_eq "sc$i: 20 turns committed, once each" "20" "$(h_cli llen "$NS:turns:sc$i")"
done
t_eq "the results say 20 turns each" "20 20 20 20" \
  "$("$D" results 2>/dev/null | jq -r '.totals.turns' | tr '\n' ' ' | sed 's/ $//')"
stats=$(h_cli info commandstats | tr -d '\r')
evalsha=$(awk -F'[:,=]' '/^cmdstat_evalsha:/ {print $3}' <<<"$stats")
noscript=$(h_cli info errorstats | tr -d '\r' | awk -F'[:,=]' '/^errorstat_NOSCRIPT:/ {print $3}')
t_ok "Redis ran the writes as EVALSHA (${evalsha:-0} calls)" test "${evalsha:-0}" -gt 40
t_ok "... and answered NOSCRIPT after flushes (${noscript:-0} times), each repeated as EVAL" test "${noscript:-0}" -gt 0
t_ok "the worker logged no error or warning" \
  bash -c "! grep -E ' [EW] ' '$T/worker-m1.log' | grep -v 'no environment'"
grep -E ' [EW] ' "$T/worker-m1.log" | grep -v 'no environment' | head -3

exit $((H_FAILS > 0))
