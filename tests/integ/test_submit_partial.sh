#!/usr/bin/env bash
# test_submit_partial: a submission that another client disturbs while it writes
# (dispatcher/submit.c, the chunked path). 30000 ended experiments are replaced with --force; once
# the submission has begun writing (its first `queued` events appear), the last experiment is put
# back to `queued` by hand, so its chunk's second read no longer agrees with the check. The
# submission must stop at that chunk, exit 1, list exactly what it wrote and what it did not, leave
# the unwritten ones as they were, queue nothing twice, and release its lock. Also: a submission
# that finds the lock held waits for it and then goes on (see test_fault_twodispatchers).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
D=$H_BIN/dispatcher
T=$H_DIR
N=30000

for k in $(seq 1 $N); do echo "{\"id\": \"P$k\", \"model\": \"qwen3:8b\", \"turns\": [\"old\"]}"; done >"$T/old.jsonl"
sed 's/"old"/"new"/' "$T/old.jsonl" >"$T/new.jsonl"
"$D" submit --machines m1,m2 "$T/old.jsonl" >/dev/null 2>&1 || t_fail "first submit"
# Every experiment ended (as if run): a --force submission of other specs replaces them all.
h_cli eval "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  redis.call('HSET', ARGV[1] .. id, 'state', 'done') end
  redis.call('DEL', ARGV[2] .. 'm1', ARGV[2] .. 'm2') return 1" 1 "$NS:ids" "$NS:job:" "$NS:queue:" >/dev/null
ev0=$(h_cli xlen "$NS:events")

"$D" submit --force --machines m1,m2 "$T/new.jsonl" >"$T/out" 2>"$T/err" & sp=$!
# As soon as it writes, the last experiment changes under it (its chunk is written last).
t_ok "the submission begins writing" h_wait 20 "[ \"\$(h_cli xlen '$NS:events')\" -gt $ev0 ] || ! kill -0 $sp 2>/dev/null"
h_cli hset "$NS:job:P$N" state queued >/dev/null
wait "$sp"; rc=$?

written=$(grep -c ' replaced$' "$T/out")
unwritten=$(grep -c ' -> .* not written$' "$T/out")
t_eq "disturbed: exit 1" 1 "$rc"
t_ok "disturbed: it says it stopped part way" grep -q 'submit stopped part way: another client changed the job hash of an experiment of this input while it was written' "$T/err"
t_eq "disturbed: every experiment is listed, written or not" $N $((written + unwritten))
t_ok "disturbed: it wrote some and not the rest ($written written, $unwritten not)" test "$written" -gt 0 -a "$unwritten" -gt 0
t_ok "disturbed: the summary counts them" grep -qx "$N experiments: 0 queued, $written replaced, 0 unchanged, $unwritten not written" "$T/out"
t_eq "disturbed: the experiments listed as written have the new spec" "$written" \
  "$(h_cli eval "local n = 0 for k = 1, tonumber(ARGV[2]) do if string.find(redis.call('HGET', ARGV[1] .. k, 'spec') or '', 'new', 1, true) then n = n + 1 end end return n" 0 "$NS:job:P" $N)"
t_eq "disturbed: the changed one is as the other client left it" "queued" "$(h_cli hget "$NS:job:P$N" state)"
t_eq "disturbed: one queued event per written experiment, none twice" "$written" $(( $(h_cli xlen "$NS:events") - ev0 ))
t_eq "disturbed: the queues hold exactly the written ones" "$written" \
  $(( $(h_cli llen "$NS:queue:m1") + $(h_cli llen "$NS:queue:m2") ))
t_eq "disturbed: the lock is released" 0 "$(h_cli exists "$NS:submitting")"
first_unwritten=$(grep -m1 ' -> .* not written$' "$T/out" | awk '{print $1}')
t_eq "disturbed: the first unwritten one kept its old spec" '["old"]' "$(h_cli hget "$NS:job:$first_unwritten" spec | jq -c .turns)"

# Submitting the same input again adds the rest, as the message says (the disturbed one is now
# queued, not ended, so it stays refused: named, nothing written).
"$D" submit --force --machines m1,m2 "$T/new.jsonl" >"$T/out2" 2>"$T/err2"; rc2=$?
t_eq "again: refused while P$N is queued (exit 2)" 2 "$rc2"
t_ok "again: names it" grep -q "P$N (state queued)" "$T/err2"
[ "$H_FAILS" -eq 0 ]
