#!/usr/bin/env bash
# test_redis_refuses: a Redis that refuses writes (OOM: maxmemory reached with noeviction) while
# experiments run, black box with redis-server, one ollama-sim and a worker (worker/worker.c,
# retake_later). Covers:
#   - the worker does not spin: the runs whose commits are refused stay in the running list and
#     the worker claims again after a wait that doubles (0.25, 0.5, 1 s, ... up to 8 s), so
#     after three such waits it has logged a few dozen lines, not thousands;
#   - the dispatcher meanwhile: submit exits 3 saying Redis cannot serve now and what to do,
#     writing nothing; status still reads;
#   - once Redis takes writes again, every experiment ends done with each of its turns committed
#     exactly once.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
D=$H_BIN/dispatcher
T=$H_DIR
LOG=$T/worker-m1.log

h_sim_start m1 --actions 0 --latency-ms 20 || exit 1
for i in 1 2 3 4; do
  printf '{"id":"oom%d","model":"qwen3:8b","turns":[%s]}\n' "$i" \
    "$(for k in $(seq 1 30); do printf '"t%d"' "$k"; [ "$k" -lt 30 ] && printf ','; done)"
done >"$T/jobs.jsonl"
"$D" submit --machines m1 "$T/jobs.jsonl" >/dev/null 2>&1
h_worker_start m1 --slots 2
t_ok "the experiments start" h_wait 15 "[ \"\$(h_cli llen $NS:turns:oom1)\" -ge 2 ]"

# Redis refuses every write from now on (used memory is far above 1 byte).
h_cli config set maxmemory 1 >/dev/null
before=$(wc -l <"$LOG")
t_ok "a refused write is logged" h_wait 10 "grep -q 'OOM' '$LOG'"
t_ok "the worker waits longer each time Redis refuses (1 s, the third wait)" \
  h_wait 15 "grep -q 'claiming again in 1.00 s' '$LOG'"
during=$(( $(wc -l <"$LOG") - before ))
t_ok "... and logs little meanwhile ($during lines)" test "$during" -lt 60
t_eq "nothing is lost meanwhile: 4 experiments queued or running" 4 \
  "$(( $(h_cli llen "$NS:queue:m1") + $(h_cli llen "$NS:running:m1") ))"

# The dispatcher meanwhile: a submission is refused whole with what to do, exit 3 (Redis cannot
# serve), nothing written; a read-only view still works.
echo '{"id":"late1","model":"qwen3:8b","turns":["a"]}' >"$T/late.json"
rc=0; "$D" submit --machines m1 "$T/late.json" >"$T/out" 2>"$T/err" || rc=$?
t_eq "submit while Redis refuses writes: exit 3" 3 "$rc"
t_ok "... says Redis cannot serve now, and what to do" \
  grep -q "Redis cannot serve .* now: OOM .*(Redis is at its maxmemory and refuses writes: free memory or raise maxmemory)" "$T/err"
t_eq "... nothing written" 0 "$(h_cli exists "$NS:job:late1")"
rc=0; "$D" status >"$T/out" 2>"$T/err" || rc=$?
t_eq "status while Redis refuses writes: exit 0" 0 "$rc"

h_cli config set maxmemory 0 >/dev/null
t_ok "once Redis takes writes, every experiment ends" \
  h_wait 60 "[ \"\$(h_cli eval \"return #redis.call('KEYS', KEYS[1])\" 1 '$NS:result:*')\" = 4 ]"
for i in 1 2 3 4; do
  t_eq "oom$i: done" done "$(h_cli hget "$NS:job:oom$i" state)"
  t_eq "oom$i: 30 turns committed, once each" 30 "$(h_cli llen "$NS:turns:oom$i")"
  t_eq "oom$i: the turn records are 1..30 in order" "$(seq 1 30 | paste -sd,)" \
    "$(h_cli lrange "$NS:turns:oom$i" 0 -1 | jq -r .turn | paste -sd,)"
done
exit $((H_FAILS > 0))
