#!/usr/bin/env bash
# test_redis_sentinel: a Sentinel failover in the middle of a sweep. A primary and a replica
# (--replicaof), both `appendonly yes`, and three redis-sentinel processes (quorum 2,
# down-after-milliseconds 1000, failover-timeout 3000), all on free ports. A worker (--slots 2)
# and the dispatcher find the primary with --sentinel ... --master NAME only (no host in
# --redis; the ACL user and db come from it). 6 experiments of 5 turns (one tool call a turn,
# 80 ms a call) run; after a few commits the primary is killed with SIGKILL. The sentinels promote
# the replica; the worker's connections (common/rconn.c) and `dispatcher wait` (dispatcher/wait.c)
# ask the sentinels again and reconnect to it; the sweep ends with nothing lost and nothing run
# twice (tests/lib/invariant.sh), read from the new primary. Also: the flag errors (exit 2), no
# sentinel answering (exit 3, each named), and a sentinel password (--sentinel-password, never in
# the output). Prints the failover time and the worker's first commit on the new primary.
# SENTINEL_LAG=1: the replica is frozen and cut off (CLIENT KILL TYPE replica) before the kill,
# so the old primary acknowledges commits the new one never gets: shows the real guarantee of
# async replication (those turns run again; nothing is lost; results stay consistent).
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
command -v redis-sentinel >/dev/null || { echo "FAIL: redis-sentinel not installed (tests/deps.sh)"; exit 1; }
unset TURNQ_REDIS
NS=$TURNQ_NAMESPACE
T=$H_DIR
M=tq
SPW="spw-$RANDOM$RANDOM"
PW="pw-$RANDOM$RANDOM"

# ---- flag errors, before any server ----
RC=0; h_disp --sentinel 127.0.0.1:1 --master m --redis redis://127.0.0.1:6379/0 status >"$T/e1.out" 2>&1 || RC=$?
t_eq "--sentinel with a host in --redis: exit 2" 2 "$RC"
t_ok "--sentinel with a host in --redis: says not both" grep -q 'not both' "$T/e1.out"
RC=0; "$H_BIN/worker" --sentinel 127.0.0.1:1 --master m --redis redis://h:1/0 >"$T/e2.out" 2>&1 || RC=$?
t_eq "worker: --sentinel with a host in --redis: exit 2" 2 "$RC"
RC=0; TURNQ_SENTINEL=127.0.0.1:1 h_disp status >"$T/e3.out" 2>&1 || RC=$?
t_eq "TURNQ_SENTINEL without --master: exit 2" 2 "$RC"
t_ok "TURNQ_SENTINEL without --master: names --master" grep -q -- '--master' "$T/e3.out"
RC=0; "$H_BIN/worker" --master m >"$T/e4.out" 2>&1 || RC=$?
t_eq "worker: --master without --sentinel: exit 2" 2 "$RC"
RC=0; h_disp --sentinel 127.0.0.1:99999 --master m status >"$T/e5.out" 2>&1 || RC=$?
t_eq "--sentinel with a bad port: exit 2" 2 "$RC"

# ---- primary, replica, three sentinels ----
# turnq uses the ACL user turnq; replication and the sentinels use the default user here (they
# need commands turnq's user must not have: PSYNC, REPLICAOF, CONFIG, ...; see the README).
# Ports below the ephemeral range (h_own_port), so no outgoing connection holds one.
ports=()
while [ "${#ports[@]}" -lt 5 ]; do
  h_own_port np; case " ${ports[*]} " in *" $np "*) ;; *) ports+=("$np") ;; esac
done
P1=${ports[0]} P2=${ports[1]}
redis_conf() { # PORT NAME [extra lines]
  mkdir -p "$T/$2"
  printf 'port %s\nbind 127.0.0.1\ndir %s\nsave ""\nappendonly yes\nappendfsync everysec\nlogfile %s\n%s\n' \
    "$1" "$T/$2" "$T/$2.log" "${3:-}" >"$T/$2.conf"
}
redis_conf "$P1" primary "user turnq on >$PW ~$NS:* +@all -@dangerous +role +client|unblock
user default on nopass ~* &* +@all"
redis_conf "$P2" replica "replicaof 127.0.0.1 $P1
user turnq on >$PW ~$NS:* +@all -@dangerous +role +client|unblock
user default on nopass ~* &* +@all"
redis-server "$T/primary.conf" & PID1=$!; H_PIDS+=("$PID1")
redis-server "$T/replica.conf" & PID2=$!; H_PIDS+=("$PID2")
h_wait 10 "redis-cli -p $P1 ping | grep -q PONG" || { t_fail "primary starts"; exit 1; }
h_wait 15 "redis-cli -p $P2 info replication | grep -q 'master_link_status:up'" || { t_fail "replica in sync with the primary"; exit 1; }
SLIST=""
for i in 2 3 4; do
  sp=${ports[$i]}
  mkdir -p "$T/s$i"
  printf 'port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\nrequirepass %s\nsentinel monitor %s 127.0.0.1 %s 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 3000\nsentinel parallel-syncs %s 1\n' \
    "$sp" "$T/s$i" "$T/sentinel$i.log" "$SPW" "$M" "$P1" "$M" "$M" "$M" >"$T/s$i/sentinel.conf"
  redis-sentinel "$T/s$i/sentinel.conf" & H_PIDS+=("$!")
  SLIST=${SLIST:+$SLIST,}127.0.0.1:$sp
done
scli() { REDISCLI_AUTH=$SPW redis-cli -p "${ports[2]}" "$@"; }
h_wait 20 "scli sentinel ckquorum $M | grep -q 'OK 3 usable' && [ \"\$(scli sentinel replicas $M | grep -c '^name')\" -ge 1 ]" ||
  { t_fail "three sentinels see each other and the replica (ckquorum)"; exit 1; }

export TURNQ_SENTINEL=$SLIST TURNQ_SENTINEL_MASTER=$M TURNQ_SENTINEL_PASSWORD=$SPW
export TURNQ_REDIS="redis://turnq:$PW@/0"
H_REDIS_PORT=$P1 # h_cli and the invariant read the primary

# ---- errors with sentinels that do not answer ----
RC=0; TURNQ_SENTINEL=127.0.0.1:1,127.0.0.1:2 h_disp status >"$T/e6.out" 2>&1 || RC=$?
t_eq "no sentinel answers: exit 3" 3 "$RC"
t_ok "no sentinel answers: each is named" bash -c "grep -q 'sentinel 127.0.0.1:1:' '$T/e6.out' && grep -q 'sentinel 127.0.0.1:2:' '$T/e6.out'"
RC=0; TURNQ_SENTINEL_PASSWORD=wrong-$SPW h_disp status >"$T/e7.out" 2>&1 || RC=$?
t_eq "a wrong sentinel password: exit 3" 3 "$RC"
t_ok "a wrong sentinel password: AUTH failed is said" grep -q 'AUTH failed' "$T/e7.out"
RC=0; TURNQ_SENTINEL_MASTER=nosuch h_disp status >"$T/e8.out" 2>&1 || RC=$?
t_eq "an unknown master name: exit 3" 3 "$RC"
t_ok "an unknown master name: said" grep -q "no master named 'nosuch'" "$T/e8.out"
RC=0; TURNQ_SENTINEL="127.0.0.1:1,$SLIST" h_disp status >"$T/status0.out" 2>&1 || RC=$?
t_eq "a dead first sentinel is skipped: status exits 0" 0 "$RC"
# A sentinel that accepts and never answers costs SENTINEL_TIMEOUT_S (1 s), then the next is asked:
# blocking (dispatcher) and on the loop (a worker that exits when its queue is empty).
h_own_port BH
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(60)' "$BH" & H_PIDS+=("$!")
h_wait 5 "(exec 3<>/dev/tcp/127.0.0.1/$BH) 2>/dev/null" || t_fail "the silent sentinel listens"
s0=$(inv_now_ms)
RC=0; TURNQ_SENTINEL="127.0.0.1:$BH,$SLIST" h_disp status >"$T/status-bh.out" 2>&1 || RC=$?
t_eq "a silent first sentinel is skipped after its timeout: status exits 0" 0 "$RC"
el=$(( $(inv_now_ms) - s0 )); t_ok "...within 1 to 4 s ($el ms)" [ "$el" -ge 900 ] && [ "$el" -lt 4000 ]
# ---- the sweep ----
h_sim_start f1 --actions 1 --latency-ms 80 || exit 1
RC=0; TURNQ_SENTINEL="127.0.0.1:$BH,$SLIST" timeout 20 "$H_BIN/worker" --machine bh --ollama "$SIM_URL_f1" \
  --exit-when-idle >"$T/worker-bh.log" 2>&1 || RC=$?
t_eq "worker with a silent first sentinel: finds the primary, exits idle (0)" 0 "$RC"
t_ok "worker with a silent first sentinel: names it" grep -q "sentinel 127.0.0.1:$BH: no answer within 1.0 s" "$T/worker-bh.log"

inv_jobs F 6 5 "\"tools\": [$INV_TOOL]" >"$T/jobs.jsonl"
TURNQ_SENTINEL="127.0.0.1:1,$SLIST" h_worker_start f1 --slots 2 # a dead first sentinel, asked at every reconnect
t_ok "worker (via sentinels) holds the machine" h_worker_ready f1 15
t_ok "worker log names the primary the sentinels gave" grep -q "name 127.0.0.1:$P1 as the primary of $M" "$H_DIR/worker-f1.log"
RC=0; h_disp submit --machines f1 "$T/jobs.jsonl" >"$T/submit.out" 2>&1 || RC=$?
t_eq "submit via sentinels exits 0" 0 "$RC"
h_disp wait --timeout 40 >"$T/wait.out" 2>"$T/wait.err" & WAITPID=$!
turns() { redis-cli -p "$1" --raw eval "
  local n = 0
  for _, id in ipairs(redis.call('ZRANGE', ARGV[1] .. ':ids', 0, -1)) do
    n = n + redis.call('LLEN', ARGV[1] .. ':turns:' .. id) end
  return n" 0 "$NS" 2>/dev/null || echo 0; }
t_ok "some turns committed before the kill" h_wait 20 "[ \$(turns $P1) -ge 5 ]"
before=$(turns $P1)
sleep 0.0$((RANDOM % 10)) # a random point within a turn
if [ -n "${SENTINEL_LAG:-}" ]; then
  # The replica falls behind (frozen) while the primary acknowledges commits, then the primary
  # dies: the writes acknowledged in between are lost with it (async replication).
  kill -STOP "$PID2"; redis-cli -p "$P1" client kill type replica >/dev/null; h_wait 10 "[ \$(turns $P1) -ge $((before + 4)) ]"; before=$(turns $P1)
  kill -9 "$PID1"; kill -CONT "$PID2"
fi
t0=$(inv_now_ms)
kill -9 "$PID1" 2>/dev/null; wait "$PID1" 2>/dev/null
echo "killed the primary (port $P1) after $before committed turns"
t_ok "the sentinels promote the replica" h_wait 20 "scli sentinel get-master-addr-by-name $M | grep -qx $P2"
t1=$(inv_now_ms)
H_REDIS_PORT=$P2
t_ok "the worker reconnects to the new primary" h_wait 15 "grep -q 'name 127.0.0.1:$P2 as the primary' '$H_DIR/worker-f1.log'"
t_ok "turns are committed on the new primary" h_wait 15 "[ \$(turns $P2) -gt $before ]"
t2=$(inv_now_ms)
echo "failover: the sentinels named the new primary $((t1 - t0)) ms after the kill; the worker committed there after $((t2 - t0)) ms"
inv_wait_exit "$WAITPID" 40
t_eq "dispatcher wait (across the failover) exits 0" 0 "$RC"
t_ok "dispatcher wait reconnected" grep -q 'connected again' "$T/wait.err"
t_ok "everything ends" h_wait 20 inv_ended
t_eq "all 6 done" 6 "$(inv_count done)"
echo "interrupted starts: $(for k in 1 2 3 4 5 6; do printf '%s ' "$(inv_field F$k interrupted)"; done)"
if [ -z "${SENTINEL_LAG:-}" ]; then
  inv_check sentinel 1 "$SIM_LOG_f1"
else
  # Writes the old primary acknowledged after the replica fell behind are gone: their turns are
  # run again (from the last turn the new primary has), and nothing else may differ.
  f0=$H_FAILS; inv_check sentinel-lag 1 "$SIM_LOG_f1" >"$T/inv.out"; H_FAILS=$f0
  sed 's/^FAIL: \(.*no committed turn sent to Ollama again\)/EXPECTED (lag): \1/' "$T/inv.out"
  t_eq "lag: every invariant but 'no committed turn sent again' holds" "" \
    "$(grep '^FAIL' "$T/inv.out" | grep -v 'no committed turn sent to Ollama again')"
fi
RC=0; h_disp results >"$T/results.out" 2>&1 || RC=$?
t_eq "results via sentinels exit 0" 0 "$RC"
t_eq "results: 6 done" 6 "$(jq -r 'select(.status == "done") | .id' "$T/results.out" 2>/dev/null | wc -l)"
RC=0; h_disp --sentinel "$SLIST" --master "$M" --redis "redis://turnq:$PW@/0" status >"$T/status1.out" 2>&1 || RC=$?
t_eq "status via the flags exits 0 on the new primary" 0 "$RC"
t_ok "the worker is still running" kill -0 "$WORKER_PID_f1"
leaks=$(grep -l -e "$PW" -e "$SPW" "$T"/*.out "$T"/*.err "$T"/worker-*.log 2>/dev/null | xargs -r -n1 basename | tr '\n' ' ')
t_eq "no password (Redis's or the sentinels') in any output or log" "" "$leaks"
[ -n "${SHOWLOG:-}" ] && cat "$H_DIR/worker-f1.log" "$T/wait.err"
[ "$H_FAILS" -eq 0 ]
