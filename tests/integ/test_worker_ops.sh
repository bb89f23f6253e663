#!/usr/bin/env bash
# test_worker_ops: operating the worker, black box (worker/worker.c, worker/run.c, common/rconn.c).
# Covers:
#   - SIGTERM: stops claiming (queued jobs stay queued); the running ones go back first in line
#     (RPUSH) at their next turn boundary with their committed turns, counted in `interrupted`;
#     exits 0, releases its lease; a second SIGTERM exits at once, the interrupted experiment stays
#     in NS:running:MACHINE, and a new worker takes it back and resumes at its first uncommitted
#     turn (records 1..n once each, no committed turn sent again, attempts and interrupted count);
#   - the lease: two workers for one machine against two sims: one holds it, the other logs who,
#     all calls reach one sim; kill -9 of the holder: the other takes over within TTL + one beat,
#     resumes and finishes the queue;
#   - --slots 4 runs 4 experiments at once (heartbeat busy 4, overlapping calls in the sim log);
#   - kill -9 mid-run and restart: resumes, nothing lost, nothing committed sent again;
#   - its Redis connections killed mid-run: the experiments still finish, each turn once;
#   - a lease held by a worker of another host, then by a live process of this host: the worker
#     waits (claims nothing, says who holds it) and takes the machine once the lease is gone;
#   - split brain: the holder frozen (SIGSTOP) past its lease, a second worker takes over, then the
#     first thaws: it must notice, commit nothing, and every turn is still committed once;
#   - chaos: eight kill -9s at varied points (mid-call, mid-turn, between turns), then a final
#     worker: everything done, each turn committed once, committed turns never sent again.
# The scenarios run side by side (one machine each) because the lease waits take ~15-20 s.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
W=$H_BIN/worker
T=$H_DIR

state() { h_cli hget "$NS:job:$1" state; }
field() { h_cli hget "$NS:job:$1" "$2"; }
llen() { h_cli llen "$1"; }
hb() { h_cli get "$NS:worker:$1"; }
jqt() { jq -e "$@" >/dev/null 2>&1; }                    # jq -e, quietly, for t_ok
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
turn_list() { h_cli lrange "$NS:turns:$1" 0 -1 | jq -r .turn | tr '\n' ' ' | sed 's/ $//'; }
chat() { jq -c --arg e "$2" 'select(.path=="/api/chat" and .experiment==$e)' "$1"; } # LOG EXP
all_state() { # STATE ID...: every id is in STATE
  local want=$1 id; shift
  for id in "$@"; do [ "$(state "$id")" = "$want" ] || return 1; done
}
# jobs PREFIX N NTURNS: N jobs PREFIX1..PREFIXN of NTURNS turns, no tools (one call a turn).
jobs() {
  local turns k; turns=$(seq 1 "$3" | sed 's/^/t/' | jq -R . | jq -sc .)
  for k in $(seq 1 "$2"); do echo "{\"id\": \"$1$k\", \"model\": \"qwen3:8b\", \"turns\": $turns}"; done
}
ids() { seq 1 "$2" | sed "s/^/$1/" | tr '\n' ' '; }                   # PREFIX N
# wstart NAME ARGS...: a worker with exactly these flags; log $T/worker-NAME.log, pid WPID_NAME.
wstart() {
  local name=$1; shift
  "$W" "$@" >>"$T/worker-$name.log" 2>&1 &
  H_PIDS+=("$!")
  eval "WPID_$name=$!"
}
# wait_exit PID SECONDS: RC is its exit status, or "alive" if it did not exit in time.
wait_exit() {
  RC=alive
  if h_wait "$2" "! kill -0 $1"; then RC=0; wait "$1" || RC=$?; fi
}
# log_ms FILE REGEX: the log time (ms since the epoch) of the first line matching REGEX.
log_ms() {
  local ts; ts=$(grep -m1 -E -- "$2" "$1" | cut -d' ' -f1)
  [ -n "$ts" ] && date -u -d "$ts" +%s%3N
}
# records_ok ID N: turn records 1..N, once each, in order.
records_ok() { [ "$(turn_list "$1")" = "$(seq 1 "$2" | tr '\n' ' ' | sed 's/ $//')" ]; }
# sent_after LOG ID MS: the turn numbers of ID's calls the sim logged after MS, space separated.
sent_after() { chat "$1" "$2" | jq -r --argjson t "$3" 'select(.ts > $t) | .turn' | sort -un | tr '\n' ' ' | sed 's/ $//'; }
# min_after LOG ID MS: the smallest turn of ID the sim logged after MS (or "none").
min_after() { local s; s=$(sent_after "$@"); [ -n "$s" ] && echo "${s%% *}" || echo none; }
not_resent() { # LOG ID: no committed turn of ID sent again in the sim log (tests/lib/invariant.sh)
  local again; again=$(inv_sent_again "$1" "$2")
  [ -z "$again" ] || { echo "$2: turns sent again after their commit: $again"; return 1; }
}

# ---- sims and jobs ----
h_sim_start la --latency-ms 100 --actions 0 || exit 1   # lease: worker A's Ollama
h_sim_start lb --latency-ms 100 --actions 0 || exit 1   # lease: worker B's Ollama
h_sim_start ka --latency-ms 100 --actions 0 || exit 1   # kill -9 and restart
h_sim_start da --latency-ms 300 --actions 0 || exit 1   # SIGTERM
h_sim_start sa --latency-ms 300 --actions 0 || exit 1   # --slots 4
h_sim_start ca --latency-ms 100 --actions 0 || exit 1   # Redis connections killed
jobs L 6 6 | h_disp submit --machines lm - >/dev/null 2>&1
jobs K 3 8 | h_disp submit --machines km - >/dev/null 2>&1
jobs D 4 6 | h_disp submit --machines dm - >/dev/null 2>&1
jobs S 6 4 | h_disp submit --machines sm - >/dev/null 2>&1
jobs C 2 10 | h_disp submit --machines cm - >/dev/null 2>&1

wstart la --machine lm --ollama "$SIM_URL_la"
wstart lb --machine lm --ollama "$SIM_URL_lb"
wstart k1 --machine km --ollama "$SIM_URL_ka" --slots 2
wstart d1 --machine dm --ollama "$SIM_URL_da" --slots 2
wstart s1 --machine sm --ollama "$SIM_URL_sa" --slots 4
wstart c1 --machine cm --ollama "$SIM_URL_ca"
# A foreign holder of machine fm (a heartbeat we wrote, EX 15), there before its worker starts.
fake_hb() { # HOST PID BOOT
  jq -nc --arg h "$1" --argjson p "$2" --arg b "$3" '{machine: "fm", token: "feedfacefeedfacefeedfacefeedface",
    pid: $p, host: $h, boot_id: $b, version: "0", started_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z", slots: 1, busy: 0, draining: false, running: [], ollama: null}'
}
h_sim_start fa --actions 0 || exit 1
jobs F 1 2 | h_disp submit --machines fm - >/dev/null 2>&1
h_cli set "$NS:worker:fm" "$(fake_hb otherbox 4242 nope)" EX 15 >/dev/null
wstart f1 --machine fm --ollama "$SIM_URL_fa"
# Split brain: worker za runs Z1 (60 turns); zb waits for the machine.
h_sim_start za --latency-ms 100 --actions 0 || exit 1
h_sim_start zb --latency-ms 100 --actions 0 || exit 1
jobs Z 1 60 | h_disp submit --machines zm - >/dev/null 2>&1
wstart za --machine zm --ollama "$SIM_URL_za"
# Chaos: four experiments with tools (3 calls a turn), slots 2.
h_sim_start xa --latency-ms 30 || exit 1
XTOOL='{"type":"function","function":{"name":"probe","parameters":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}}}'
for k in 1 2 3 4; do
  echo "{\"id\": \"X$k\", \"model\": \"qwen3:8b\", \"turns\": $(seq 1 12 | jq -R . | jq -sc .), \"tools\": [$XTOOL]}"
done | h_disp submit --machines xm - >/dev/null 2>&1

# The events that must hit a running experiment come first, in the order they become ready;
# the checks that wait follow.
# ---- --slots 4 ----
t_ok "slots 4: heartbeat busy reaches 4" h_wait 15 "[ \"\$(hb sm | jq .busy)\" = 4 ]"
HB_S=$(hb sm)
t_eq "slots 4: heartbeat lists 4 distinct experiments" 4 "$(jq '[.running[].id] | unique | length' <<<"$HB_S")"
t_ok "slots 4: each running entry has id, turn, turns, calls, attempt, since" jqt '
  .running | all((.id|type)=="string" and (.turn|type)=="number" and .turns == 4 and (.calls|type)=="number"
                 and .attempt == 1 and (.since|test("^[0-9]{4}-.*Z$")))' <<<"$HB_S"
# ---- kill -9 mid-run, then restart ----
t_ok "kill -9: two experiments running, past turn 1" \
  h_wait 15 "[ \"\$(field K1 turn)\" -ge 1 ] && [ \"\$(field K2 turn)\" -ge 1 ] 2>/dev/null"
kill -9 "$WPID_k1"
kill_km=$(now_ms)
wait "$WPID_k1" 2>/dev/null
K_RUN=$(h_cli lrange "$NS:running:km" 0 -1 | sort | tr '\n' ' ' | sed 's/ $//')
t_eq "kill -9: both stay in the running list" "K1 K2" "$K_RUN"
K_K1=$(llen "$NS:turns:K1"); K_K2=$(llen "$NS:turns:K2")
wstart k2 --machine km --ollama "$SIM_URL_ka" --slots 2

# ---- the lease ----
# Both started at once; whichever holds the lease, the other must wait.
h_wait 15 "[ \"\$(h_cli exists $NS:worker:lm)\" = 1 ]"
hpid=$(hb lm | jq .pid)
if [ "$hpid" = "$WPID_la" ]; then H=la O=lb; else H=lb O=la; fi
eval "HPID=\$WPID_$H OPID=\$WPID_$O HLOG=\$SIM_LOG_$H OLOG=\$SIM_LOG_$O"
t_ok "lease: held by one of the two workers" test "$hpid" = "$HPID"
t_ok "lease: the other logs who holds it" h_wait 10 "grep -q 'held by another worker (pid $HPID' '$T/worker-$O.log'"
t_ok "lease: the holder runs experiments" h_wait 10 "[ \"\$(field L2 turn)\" -ge 1 ] 2>/dev/null"
kill -9 "$HPID"
kill_lm=$(now_ms)
wait "$HPID" 2>/dev/null
t_eq "lease: until the kill, no call reached the other sim" 0 "$(jq -c 'select(.path=="/api/chat")' "$OLOG" | wc -l | tr -d ' ')"
L_RUN=$(h_cli lrange "$NS:running:lm" 0 -1 | tr '\n' ' ' | sed 's/ $//')
t_ok "lease: one experiment was cut short ($L_RUN)" test -n "$L_RUN"
L_ID=${L_RUN%% *}
L_K=$(llen "$NS:turns:$L_ID")

# ---- split brain: freeze the holder ----
t_ok "split brain: Z1 past turn 2" h_wait 15 "[ \"\$(field Z1 turn)\" -ge 2 ] 2>/dev/null"
t_eq "split brain: Z1 still running when frozen" running "$(state Z1)"
wstart zb --machine zm --ollama "$SIM_URL_zb"
t_ok "split brain: the second worker waits" h_wait 10 "grep -q 'held by another worker (pid $WPID_za' '$T/worker-zb.log'"
kill -STOP "$WPID_za"

# ---- Redis connections killed mid-run ----
t_ok "conn drop: C1 past turn 2" h_wait 15 "[ \"\$(field C1 turn)\" -ge 2 ] 2>/dev/null"
for cid in $(h_cli client list | grep 'name=turnq-worker-cm-' | sed -E 's/^id=([0-9]+) .*/\1/'); do
  h_cli client kill id "$cid" >/dev/null
done
t_ok "conn drop: the worker noticed" h_wait 5 "grep -q 'lost' '$T/worker-c1.log'"
# ---- SIGTERM: drain ----
t_ok "drain: both slots busy" h_wait 15 "[ \"\$(hb dm | jq .busy)\" = 2 ]"
kill -TERM "$WPID_d1"
t_ok "drain: heartbeat says draining (or, already done, the lease is released)" h_wait 3 "[ \"\$(hb dm | jq .draining)\" = true ] || [ \"\$(h_cli exists $NS:worker:dm)\" = 0 ]"
wait_exit "$WPID_d1" 15
t_eq "drain: exits 0 once its experiments are requeued" 0 "$RC"
t_eq "drain: the two running ones are queued again" "queued queued" "$(state D1) $(state D2)"
t_eq "drain: ... first in line (the queue's head)" "D1 D2" \
  "$(h_cli lrange "$NS:queue:dm" -2 -1 | sort | tr '\n' ' ' | sed 's/ $//')"
t_eq "drain: ... behind them D3 D4 as they were" "D4 D3" "$(h_cli lrange "$NS:queue:dm" 0 1 | tr '\n' ' ' | sed 's/ $//')"
for d in D1 D2; do
  k=$(llen "$NS:turns:$d")
  t_ok "drain: $d keeps its committed turns 1..$k, stopped before the end" bash -c "[ $k -lt 6 ]"
  t_ok "drain: $d records contiguous" records_ok "$d" "$k"
  t_eq "drain: $d interrupted 1" 1 "$(field "$d" interrupted)"
done
t_eq "drain: the queued ones never started" "0 0" "$(field D3 attempts) $(field D4 attempts)"
t_eq "drain: running list empty" 0 "$(llen "$NS:running:dm")"
t_eq "drain: lease released on exit" 0 "$(h_cli exists "$NS:worker:dm")"
t_ok "drain: the log says it stops claiming" grep -q 'claiming nothing more' "$T/worker-d1.log"

# ---- SIGTERM twice: stop now ----
S=$(h_cli lindex "$NS:queue:dm" -1) # the head: the next worker takes it first
wstart d2 --machine dm --ollama "$SIM_URL_da"
K0=$(llen "$NS:turns:$S")
t_ok "stop now: the next worker takes $S, first in line" h_wait 15 "[ \"\$(field $S turn)\" -gt $K0 ] 2>/dev/null"
kill -TERM "$WPID_d2"
# (two signals sent back to back may merge into one: the second waits until the first is seen)
t_ok "stop now: the first SIGTERM starts a drain" h_wait 3 "grep -q 'claiming nothing more' '$T/worker-d2.log'"
kill -TERM "$WPID_d2"
stop_ms=$(now_ms)
wait_exit "$WPID_d2" 2
t_ok "stop now: a second SIGTERM exits at once (status $RC)" test "$RC" != alive
K_S=$(llen "$NS:turns:$S")
t_ok "stop now: $S was cut short (turn $K_S of 6)" test "$K_S" -lt 6
t_eq "stop now: $S stays in the running list" "$S" "$(h_cli lrange "$NS:running:dm" 0 -1 | tr '\n' ' ' | sed 's/ $//')"
t_eq "stop now: $S not finished, D4 still queued" "running queued" "$(state "$S") $(state D4)"
t_eq "stop now: lease released on exit" 0 "$(h_cli exists "$NS:worker:dm")"
I_S=$(field "$S" interrupted)
A_S=$(field "$S" attempts)
wstart d3 --machine dm --ollama "$SIM_URL_da" --exit-when-idle

# ---- chaos: kill -9 at varied points ----
# Round i: a worker runs until the sim has answered i%4+1 more calls, then dies by kill -9.
xlines() { jq -c 'select(.path=="/api/chat")' "$SIM_LOG_xa" 2>/dev/null | wc -l | tr -d ' '; }
for i in 1 2 3 4 5 6 7 8; do
  n0=$(xlines)
  wstart x$i --machine xm --ollama "$SIM_URL_xa" --slots 2 --max-interruptions 100
  h_wait 10 "[ \$(xlines) -ge $((n0 + i % 4 + 1)) ]" || t_fail "chaos: round $i made progress"
  eval "kill -9 \$WPID_x$i; wait \$WPID_x$i 2>/dev/null"
done
wstart xend --machine xm --ollama "$SIM_URL_xa" --slots 2 --max-interruptions 100 --exit-when-idle
wait_exit "$WPID_xend" 25
t_eq "chaos: the last worker exits 0 once all is done" 0 "$RC"
t_ok "chaos: all four done" all_state done X1 X2 X3 X4
ok=1; for id in X1 X2 X3 X4; do records_ok "$id" 12 || ok=0; done
t_eq "chaos: every experiment's records 1..12 once each" 1 "$ok"
ok=1; for id in X1 X2 X3 X4; do not_resent "$SIM_LOG_xa" "$id" || ok=0; done
t_eq "chaos: no committed turn was sent again" 1 "$ok"
t_eq "chaos: each turn's record has its 3 calls" 3 \
  "$(for id in X1 X2 X3 X4; do h_cli lrange "$NS:turns:$id" 0 -1; done | jq -s 'map(.calls) | unique | if length == 1 then .[0] else . end')"
t_eq "chaos: transcripts hold one entry per turn" "12 12 12 12" \
  "$(for id in X1 X2 X3 X4; do llen "$NS:transcript:$id"; done | tr '\n' ' ' | sed 's/ $//')"
t_eq "chaos: running list and queue empty" "0 0" "$(llen "$NS:running:xm") $(llen "$NS:queue:xm")"

# ---- a foreign lease ----
t_ok "foreign lease: the worker says who holds the machine" \
  h_wait 10 "grep -q 'held by another worker (pid 4242 on otherbox' '$T/worker-f1.log'"
t_eq "foreign lease: nothing claimed while it lives" "1 0 queued" \
  "$(llen "$NS:queue:fm") $(llen "$NS:running:fm") $(state F1)"
# Now a live process of this very host and boot (this shell) holds it: not to be taken as dead.
BOOT=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
h_cli set "$NS:worker:fm" "$(fake_hb "$(hostname)" $$ "$BOOT")" EX 15 >/dev/null
t_ok "foreign lease: a live holder of this host is waited for too" \
  h_wait 10 "grep -q 'held by another worker (pid $$ on $(hostname)' '$T/worker-f1.log'"
t_eq "foreign lease: still nothing claimed" "1 0 queued" "$(llen "$NS:queue:fm") $(llen "$NS:running:fm") $(state F1)"
t_eq "foreign lease: the holder's heartbeat is untouched" feedfacefeedfacefeedfacefeedface \
  "$(hb fm | jq -r .token)"
t_eq "foreign lease: no call reached the sim" 0 "$(jq -c 'select(.path=="/api/chat")' "$SIM_LOG_fa" | wc -l | tr -d ' ')"
h_cli del "$NS:worker:fm" >/dev/null   # the holder is gone (its TTL ran out)
t_ok "foreign lease: taken once it is gone, job done" h_wait 12 "[ \"\$(state F1)\" = done ]"
t_eq "foreign lease: the heartbeat is now the worker's" "$WPID_f1" "$(hb fm | jq .pid)"

# ---- --slots 4, continued ----
t_ok "slots 4: all six done" h_wait 15 "all_state done $(ids S 6)"
t_eq "slots 4: calls of 4 experiments overlapped in the sim" 4 "$(jq -s '
  [.[] | select(.path=="/api/chat")] as $c
  | [$c[] as $x | [$c[] | select(.ts >= $x.ts and .ts < $x.ts + 300) | .experiment] | unique | length] | max' \
  "$SIM_LOG_sa")"
ok=1; for id in $(ids S 6); do records_ok "$id" 4 || ok=0; done
t_eq "slots 4: every experiment's records 1..4 once each" 1 "$ok"

# ---- Redis connections killed, continued ----
t_ok "conn drop: both experiments done" h_wait 20 "all_state done C1 C2"
t_ok "conn drop: C1 records 1..10 once each" records_ok C1 10
t_ok "conn drop: C2 records 1..10 once each" records_ok C2 10
t_ok "conn drop: C1's committed turns never sent again" not_resent "$SIM_LOG_ca" C1
t_eq "conn drop: running list empty" 0 "$(llen "$NS:running:cm")"
t_ok "conn drop: worker still running" kill -0 "$WPID_c1"

# ---- stop now, continued: the new worker resumes the interrupted one ----
t_ok "stop now: the last worker empties the queue" h_wait 40 "! kill -0 $WPID_d3"
t_ok "stop now: it took $S back from the running list" grep -q "job=$S found in the running list" "$T/worker-d3.log"
t_eq "stop now: all four done" "done done done done" "$(state D1) $(state D2) $(state D3) $(state D4)"
for d in D1 D2 D3 D4; do t_ok "stop now: $d records 1..6 once each" records_ok "$d" 6; done
t_eq "stop now: $S resumed at its first uncommitted turn" "$((K_S + 1))" "$(min_after "$SIM_LOG_da" "$S" "$stop_ms")"
for d in D1 D2 D3 D4; do t_ok "stop now: $d's committed turns never sent again" not_resent "$SIM_LOG_da" "$d"; done
t_eq "stop now: $S attempts and interrupted each one more" "$((A_S + 1)) $((I_S + 1))" "$(field "$S" attempts) $(field "$S" interrupted)"

# ---- split brain, continued: thaw the frozen holder once the other has taken over ----
t_ok "split brain: the second worker takes over after the lease ran out" \
  h_wait 25 "grep -q 'holding machine zm' '$T/worker-zb.log'"
t_ok "split brain: and runs Z1 on its own sim" h_wait 10 "[ \$(jq -c 'select(.path==\"/api/chat\")' '$SIM_LOG_zb' | wc -l) -ge 2 ]"
kill -CONT "$WPID_za"
cont_ms=$(now_ms)
t_ok "split brain: the thawed worker notices it lost the machine" h_wait 10 "grep -q 'lost the lease on machine zm' '$T/worker-za.log'"
t_ok "split brain: Z1 done" h_wait 25 "[ \"\$(state Z1)\" = done ]"
t_ok "split brain: Z1 records 1..60 once each" records_ok Z1 60
t_eq "split brain: the thawed worker sent at most its one call in flight" "" \
  "$(chat "$SIM_LOG_za" Z1 | jq -r --argjson t "$((cont_ms + 1000))" 'select(.ts > $t) | .turn')"
t_ok "split brain: Z1's committed turns never sent again on the new holder's sim" not_resent "$SIM_LOG_zb" Z1
t_eq "split brain: the heartbeat stays the new holder's" "$WPID_zb" "$(hb zm | jq .pid)"
t_ok "split brain: the thawed worker is still alive (waiting)" kill -0 "$WPID_za"
t_eq "split brain: running list and queue empty" "0 0" "$(llen "$NS:running:zm") $(llen "$NS:queue:zm")"

# ---- the lease, continued: the other worker takes over ----
t_ok "lease: the other worker takes the machine" h_wait 25 "grep -q 'holding machine lm' '$T/worker-$O.log'"
took=$(( $(log_ms "$T/worker-$O.log" 'holding machine lm') - kill_lm ))
t_ok "lease: taken over within TTL 15 s + one 5 s beat (took ${took} ms)" test "$took" -le 21000
t_ok "lease: the queue finishes" h_wait 15 "all_state done $(ids L 6)"
ok=1; for id in $(ids L 6); do records_ok "$id" 6 || ok=0; done
t_eq "lease: every experiment's records 1..6 once each" 1 "$ok"
t_eq "lease: $L_ID resumed at its first uncommitted turn on the new holder" "$((L_K + 1))" \
  "$(chat "$OLOG" "$L_ID" | jq -s 'map(.turn) | min')"
t_eq "lease: after the kill, nothing more reached the dead holder's sim" "" "$(sent_after "$HLOG" "$L_ID" "$((kill_lm + 50))")"
t_eq "lease: $L_ID attempts 2" 2 "$(field "$L_ID" attempts)"
t_eq "lease: running list and queue empty" "0 0" "$(llen "$NS:running:lm") $(llen "$NS:queue:lm")"
t_eq "lease: the heartbeat is the new holder's" "$OPID" "$(hb lm | jq .pid)"

# ---- kill -9, continued: the restarted worker resumes ----
t_ok "kill -9: the restarted worker took K1 back from the running list" grep -q 'job=K1 found in the running list' "$T/worker-k2.log"
t_ok "kill -9: and K2" grep -q 'job=K2 found in the running list' "$T/worker-k2.log"
t_ok "kill -9: all three done after the restart" h_wait 25 "all_state done K1 K2 K3"
ok=1; for id in K1 K2 K3; do records_ok "$id" 8 || ok=0; done
t_eq "kill -9: every experiment's records 1..8 once each" 1 "$ok"
t_eq "kill -9: K1 resumed at its first uncommitted turn" "$((K_K1 + 1))" "$(min_after "$SIM_LOG_ka" K1 "$kill_km")"
t_eq "kill -9: K2 resumed at its first uncommitted turn" "$((K_K2 + 1))" "$(min_after "$SIM_LOG_ka" K2 "$kill_km")"
t_ok "kill -9: K1's committed turns never sent again" not_resent "$SIM_LOG_ka" K1
t_ok "kill -9: K2's committed turns never sent again" not_resent "$SIM_LOG_ka" K2
t_eq "kill -9: K1 attempts 2, interrupted 1" "2 1" "$(field K1 attempts) $(field K1 interrupted)"
t_eq "kill -9: K3 ran once, never interrupted" "1 0" "$(field K3 attempts) $(field K3 interrupted)"
t_eq "kill -9: results say done" "done done done" \
  "$(for id in K1 K2 K3; do h_cli get "$NS:result:$id" | jq -r .status; done | tr '\n' ' ' | sed 's/ $//')"
t_eq "kill -9: running list empty" 0 "$(llen "$NS:running:km")"

[ "$H_FAILS" -eq 0 ]
