#!/usr/bin/env bash
# test_fault_twoworkers: two workers started at once for one machine, each beside its own sim
# (so the sims' logs tell which one ran what). Four machines side by side, 3 experiments each
# (z: 2 of 12 turns; one tool, 3 calls a turn):
#   - r: the pair just runs: one holds the lease, the other waits; every call reaches one sim;
#   - k: the holder is killed with kill -9 mid-sweep: the other takes over (the holder's pid is
#     gone on this host) and finishes; the killed one is started again and waits;
#   - t: the holder gets SIGTERM mid-sweep: it requeues and releases the lease, the other takes
#     over;
#   - z: split brain: the holder is frozen (SIGSTOP) past its 15 s lease while a turn is half
#     done; the other takes the machine and commits two more turns of each experiment the first
#     was running; then the first is thawed (SIGCONT): it must notice before it sends anything
#     more to Ollama (those turns are committed now), and commit nothing.
# (z's sims take 150 ms a call, so the freeze lands between two calls of a turn.)
# Per machine the merged sim logs may switch from one sim to the other once per handover and
# never more (two workers never run side by side). Ends with the invariant.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
hb_pid() { h_cli get "$NS:worker:$1" | jq -r .pid 2>/dev/null; }
# switches MACHINE: how often the merged calls of MACHINE's two sims change from one to the other.
switches() {
  local la lb; eval "la=\$SIM_LOG_${1}a lb=\$SIM_LOG_${1}b"
  { jq -c 'select(.path == "/api/chat" and .experiment != null) | {ts, s: "a"}' "$la"
    jq -c 'select(.path == "/api/chat" and .experiment != null) | {ts, s: "b"}' "$lb"; } |
    jq -s 'sort_by(.ts) | [.[].s] | . as $s | [range(1; length) | select($s[.] != $s[. - 1])] | length'
}
pair() { # MACHINE JOBS TURNS [worker flags]: two sims, the jobs, two workers started together
  local m=$1 n=$2 turns=$3; shift 3
  local lat=40; [ "$m" = z ] && lat=150
  h_sim_start "${m}a" --latency-ms $lat || exit 1
  h_sim_start "${m}b" --latency-ms $lat || exit 1
  inv_jobs "$(echo "$m" | tr a-z A-Z)" "$n" "$turns" "\"tools\": [$INV_TOOL]" |
    h_disp submit --machines "$m" - >/dev/null 2>&1
  eval "inv_wstart ${m}a --machine $m --ollama \$SIM_URL_${m}a --max-interruptions 100 $*"
  eval "inv_wstart ${m}b --machine $m --ollama \$SIM_URL_${m}b --max-interruptions 100 $*"
}
# holder MACHINE: sets H (a or b, the holder) and O (the other one).
holder() {
  local p a; p=$(hb_pid "$1"); eval "a=\$WPID_${1}a"
  if [ "$p" = "$a" ]; then H=a O=b; else H=b O=a; fi
}
pair z 2 12 --slots 2
pair r 3 8
pair k 3 10
pair t 3 10
for m in z r k t; do
  t_ok "$m: one of the two holds the lease" h_wait 15 "[ \"\$(hb_pid $m)\" = \"\$WPID_${m}a\" ] || [ \"\$(hb_pid $m)\" = \"\$WPID_${m}b\" ]"
done
rounds=0

# ---- z: freeze the holder past its lease ----
holder z; ZH=$H; ZO=$O; eval "zpid=\$WPID_z$ZH zlogo=\$SIM_LOG_z$ZO"
# Frozen just after the first call of a turn was answered (a tool call): its second call is in
# flight, and after the thaw the turn would go on with a third.
t_ok "z: the holder is in the middle of a turn (its first call answered, the second sent)" \
  h_wait 15 "[ \$(inv_chat_lines \$SIM_LOG_z$ZH) -ge 4 ] && tail -n1 \$SIM_LOG_z$ZH | grep -q '\"messages\":1,'"
kill -STOP "$zpid"; rounds=$((rounds + 1))
frozen_ms=$(inv_now_ms)
# What it was running, and the turns committed then: the other worker must get two turns further
# with each before the thaw, so whatever the frozen one still sends is a turn committed since.
ZRUN=$(h_cli lrange "$NS:running:z" 0 -1 | tr '\n' ' ')
ZCOND=true
for id in $ZRUN; do ZCOND="$ZCOND && [ \"\$(inv_field $id turn)\" -ge $(( $(inv_field "$id" turn) + 2 )) ]"; done

# ---- k: kill -9 the holder; t: SIGTERM the holder (both mid-sweep, at once) ----
holder k; eval "kh=$H kpid=\$WPID_k$H kother=\$WPID_k$O"
holder t; eval "tpid=\$WPID_t$H tother=\$WPID_t$O"
t_ok "k, t: both holders run" \
  h_wait 15 "[ \"\$(inv_field K1 turn)\" -ge 1 ] && [ \"\$(inv_field T1 turn)\" -ge 1 ] 2>/dev/null"
kill -9 "$kpid"; kill -TERM "$tpid"; rounds=$((rounds + 2))
wait "$kpid" 2>/dev/null
t_ok "k: the other takes over within a beat" h_wait 8 "[ \"\$(hb_pid k)\" = $kother ]"
eval "inv_wstart k$kh --machine k --ollama \$SIM_URL_k$kh --max-interruptions 100"
inv_wait_exit "$tpid" 10
t_eq "t: the holder exits 0" 0 "$RC"
t_ok "t: the other takes over within a beat" h_wait 8 "[ \"\$(hb_pid t)\" = $tother ]"
t_ok "k: the restarted one waits, saying who holds k" h_wait 8 "grep -q 'held by another worker (pid $kother' '$H_DIR/worker-k$kh.log'"

# ---- r: nothing happens; the one that waits never runs anything ----
t_ok "r: all done" h_wait 20 "[ \"\$(inv_state R1)\$(inv_state R2)\$(inv_state R3)\" = donedonedone ]"
holder r
t_eq "r: every call reached the holder's sim" 0 "$(switches r)"
eval "rlogo=\$SIM_LOG_r$O"
t_eq "r: none reached the other's" 0 "$(inv_chat_lines "$rlogo")"

# ---- z, continued: the other takes the machine and commits; then thaw the frozen one ----
t_ok "z: the other worker takes the machine once the lease expires" \
  h_wait 25 "[ \"\$(hb_pid z)\" = \"\$WPID_z$ZO\" ]"
t_ok "z: and commits two more turns of what the frozen one ran ($ZRUN)" h_wait 15 "$ZCOND"
kill -CONT "$zpid"
echo "z: frozen for $(( $(inv_now_ms) - frozen_ms )) ms"
t_ok "z: the thawed worker notices it lost the machine" \
  h_wait 10 "grep -qE 'lease is gone|lost the lease|another worker holds' '$H_DIR/worker-z$ZH.log'"

t_ok "everything ends" h_wait 40 inv_ended
if [ -n "${FAULT_DEBUG:-}" ]; then
  echo "---- frozen worker z$ZH after the freeze at $frozen_ms"; cat "$H_DIR/worker-z$ZH.log" | tail -n 25
  eval "zl=\$SIM_LOG_z$ZH"; echo "---- its sim after the freeze"; jq -c --argjson t "$frozen_ms" 'select(.ts > $t - 200)' "$zl" | tail -n 8
fi
t_eq "all 11 done" 11 "$(inv_count done)"
for m in k t z; do
  t_eq "$m: the calls switch from one sim to the other once (one handover), never back" 1 "$(switches "$m")"
done
logs=(); for m in z r k t; do eval "logs+=(\"\$SIM_LOG_${m}a\" \"\$SIM_LOG_${m}b\")"; done
inv_check twoworkers "$rounds" "${logs[@]}"
[ "$H_FAILS" -eq 0 ]
