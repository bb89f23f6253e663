#!/usr/bin/env bash
# test_worker_start: bin/worker's configuration and start-up, black box (worker/main.c,
# worker/worker.c, common/cfg.c, common/redisurl.c, common/rconn.c). Covers:
#   - bad configuration exits 2 with one stderr line naming the flag (or variable), touching
#     nothing in Redis: --slots, unknown flag, --machine, --redis, --env-url with --env-cmd,
#     --ollama; --help / --version exit 0;
#   - the heartbeat: written soon after start, TTL <= 15 s, the README's JSON fields, renewed;
#     NS:machines and NS:lastseen;
#   - a Redis password never reaches the log (a right one works, a wrong one is retried);
#     unix:// sockets;
#   - boot in any order: a worker started before Redis retries, says so, and serves once
#     redis-server is up; a worker started before its Ollama writes "ollama": null, claims
#     nothing, and runs the job once the sim is up;
#   - --exit-when-idle exits 0 once the queue drains, results written, lease released;
#   - --machine defaults to TURNQ_MACHINE, then the host name.
# The scenarios run side by side (one machine name each) so the script stays well under 45 s.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
W=$H_BIN/worker
T=$H_DIR

hb() { h_cli get "$NS:worker:$1"; }                         # heartbeat JSON of MACHINE
state() { h_cli hget "$NS:job:$1" state; }
llen() { h_cli llen "$1"; }
jqt() { jq -e "$@" >/dev/null 2>&1; }                    # jq -e, quietly, for t_ok
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
job() { echo "{\"id\": \"$1\", \"model\": \"qwen3:8b\", \"turns\": [\"one\", \"two\"]}"; }
# wstart NAME ARGS...: a worker with exactly these flags; log in $T/worker-NAME.log, pid in WPID_NAME.
wstart() {
  local name=$1; shift
  "$W" "$@" >>"$T/worker-$name.log" 2>&1 &
  H_PIDS+=("$!")
  eval "WPID_$name=$!"
}
# start_redis_on PORT NAME [extra conf line]: a second redis-server on a port we chose ourselves.
start_redis_on() {
  local port=$1 name=$2 extra=${3:-}
  cat >"$T/$name.conf" <<CONF
port $port
bind 127.0.0.1
dir $T
save ""
appendonly no
daemonize no
logfile $T/$name.log
$extra
CONF
  redis-server "$T/$name.conf" &
  H_PIDS+=("$!")
}
# own_port VAR: a free port below the ephemeral range (so no outgoing connection takes it before a
# process we start later binds it), never handed out twice.
OWN_PORTS=" "
own_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 12000 ))
    case $OWN_PORTS in *" $p "*) continue ;; esac
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && continue
    OWN_PORTS="$OWN_PORTS$p "
    eval "$1=$p"; return
  done
}
# sim_on_port NAME PORT [flags]: an ollama-sim on a port we chose ourselves.
sim_on_port() {
  local name=$1 port=$2; shift 2
  "$H_BIN/ollama-sim" --port "$port" --port-file "$T/sim-$name.port" --log "$T/sim-$name.jsonl" "$@" \
    >"$T/sim-$name.log" 2>&1 &
  H_PIDS+=("$!")
  h_wait 10 "[ -s '$T/sim-$name.port' ]"
}

# ---- bad configuration: exit 2, one clear line naming the flag, nothing written ----
# bad NAME PATTERN ARGS...: the worker must exit 2 at once with exactly one stderr line matching.
bad() {
  local name=$1 pat=$2 rc=0; shift 2
  timeout 5 "$W" --redis "$TURNQ_REDIS" --ollama http://127.0.0.1:1 "$@" >"$T/out" 2>"$T/err" || rc=$?
  t_eq "config $name: exit 2" 2 "$rc"
  t_eq "config $name: one line on stderr" 1 "$(wc -l <"$T/err" | tr -d ' ')"
  t_ok "config $name: names it ($pat)" grep -qE -- "^worker: .*$pat" "$T/err"
}
bad "slots 0" "--slots" --machine m1 --slots 0
bad "slots abc" "--slots" --machine m1 --slots abc
bad "slots 2x" "--slots" --machine m1 --slots 2x
bad "slots without value" "--slots" --machine m1 --slots
bad "unknown flag" "unknown flag '--bogus'" --machine m1 --bogus
bad "unknown flag, once" "unknown flag '--bogus' \\(see worker --help\\)$" --machine m1 --bogus
bad "unknown flag near one" "unknown flag '--slot'; did you mean --slots\\? \\(see worker --help\\)$" --machine m1 --slot 2
bad "machine with a space" "--machine" --machine 'gpu 1'
bad "machine with a slash" "--machine" --machine 'a/b'
bad "machine of 65 chars" "--machine" --machine "$(printf 'a%.0s' $(seq 1 65))"
bad "redis not a URL" "--redis" --machine m1 --redis http://127.0.0.1:6379
bad "redis bad port" "--redis" --machine m1 --redis redis://127.0.0.1:99999/0
bad "redis bad db" "--redis" --machine m1 --redis redis://127.0.0.1:6379/abc
bad "env-url and env-cmd" "--env-url.*--env-cmd" --machine m1 --env-url http://127.0.0.1:1/ --env-cmd /bin/cat
bad "ollama not http" "--ollama" --machine m1 --ollama ftp://127.0.0.1:11434
bad "ollama without scheme" "--ollama" --machine m1 --ollama 127.0.0.1:11434
rc=0; TURNQ_SLOTS=0 timeout 5 "$W" --machine m1 --redis "$TURNQ_REDIS" >"$T/out" 2>"$T/err" || rc=$?
t_eq "config TURNQ_SLOTS=0: exit 2" 2 "$rc"
t_ok "config TURNQ_SLOTS=0: names the variable" grep -q '^worker: TURNQ_SLOTS' "$T/err"
t_eq "config TURNQ_SLOTS=0: one line on stderr" 1 "$(wc -l <"$T/err" | tr -d ' ')"
# The password in a rejected URL is not echoed either.
rc=0; timeout 5 "$W" --machine m1 --redis 'redis://:s3cret@127.0.0.1:notaport/0' >"$T/out" 2>"$T/err" || rc=$?
t_eq "config bad redis URL with password: exit 2" 2 "$rc"
t_ok "config bad redis URL with password: password not shown" bash -c "! grep -q s3cret '$T/err'"
t_eq "config errors wrote nothing to Redis" 0 "$(h_cli --scan --pattern "$NS:*" | wc -l | tr -d ' ')"

rc=0; "$W" --help >"$T/out" 2>"$T/err" || rc=$?
t_eq "--help: exit 0" 0 "$rc"
t_ok "--help: usage on stdout" grep -q '^usage: worker' "$T/out"
t_ok "--help: lists --exit-when-idle" grep -q -- '--exit-when-idle' "$T/out"
t_eq "--help: nothing on stderr" 0 "$(wc -c <"$T/err" | tr -d ' ')"
rc=0; "$W" --version >"$T/out" 2>&1 || rc=$?
t_eq "--version: exit 0" 0 "$rc"
t_ok "--version: prints it" grep -q '^turnq worker ' "$T/out"

# ---- start everything side by side ----
h_sim_start s1 --actions 0 || exit 1
own_port PL                            # Redis that starts late
own_port PO                            # Ollama that starts late
for try in 1 2 3 4 5; do               # Redis with a password (may retry on another port)
  own_port PP
  start_redis_on "$PP" redis-pw "requirepass s3cret"
  h_wait 5 "REDISCLI_AUTH=s3cret redis-cli -p $PP ping 2>/dev/null | grep -q PONG" && break
  [ "$try" = 5 ] && t_fail "password redis started"
done
pw_cli() { REDISCLI_AUTH=s3cret redis-cli -p "$PP" "$@"; }
late_cli() { redis-cli -p "$PL" "$@"; }

# jobs first: each worker finds its queue filled
job RD1 | h_disp submit --machines ready - >/dev/null 2>&1
job NO1 | h_disp submit --machines noll - >/dev/null 2>&1
for k in 1 2 3; do job "ID$k"; done | h_disp submit --machines idle - >/dev/null 2>&1
job UX1 | h_disp submit --machines unixbox - >/dev/null 2>&1
job EV1 | h_disp submit --machines envbox - >/dev/null 2>&1
job PW1 | h_disp --redis "redis://:s3cret@127.0.0.1:$PP/0" submit --machines pwbox - >/dev/null 2>&1
HOST=$(hostname)

t0=$(now_ms)
wstart ready --machine ready --ollama "$SIM_URL_s1"
wstart late --machine late --ollama "$SIM_URL_s1" --redis "redis://127.0.0.1:$PL/0"
wstart noll --machine noll --ollama "http://127.0.0.1:$PO"
wstart idle --machine idle --ollama "$SIM_URL_s1" --exit-when-idle
wstart pwbox --machine pwbox --ollama "$SIM_URL_s1" --redis "redis://:s3cret@127.0.0.1:$PP/0" -v
wstart badpw --machine badpw --ollama "$SIM_URL_s1" --redis "redis://:wr0ngpw@127.0.0.1:$PP/0" -v
wstart unixbox --machine unixbox --ollama "$SIM_URL_s1" --redis "unix://$H_DIR/redis.sock"
TURNQ_MACHINE=envbox wstart envbox --ollama "$SIM_URL_s1"
if [[ $HOST =~ ^[A-Za-z0-9._-]{1,64}$ ]]; then
  wstart host --ollama "$SIM_URL_s1"
fi

# ---- the heartbeat ----
h_worker_ready ready 15
ready_ms=$(( $(now_ms) - t0 ))
t_ok "heartbeat: written within 3 s of start (took ${ready_ms} ms)" test "$ready_ms" -le 3000
ttl=$(h_cli ttl "$NS:worker:ready")
t_ok "heartbeat: TTL is set and at most 15 s (got $ttl)" bash -c "[ $ttl -gt 0 ] && [ $ttl -le 15 ]"
H=$(hb ready)
t_ok "heartbeat: is JSON with every README field" jqt '
  (.machine|type)=="string" and (.token|type)=="string" and (.pid|type)=="number" and
  (.host|type)=="string" and (.version|type)=="string" and (.started_at|type)=="string" and
  (.updated_at|type)=="string" and (.slots|type)=="number" and (.busy|type)=="number" and
  (.draining|type)=="boolean" and (.running|type)=="array" and (.ollama|type)=="object"' <<<"$H"
t_eq "heartbeat: machine, pid, slots, draining" "ready $WPID_ready 1 false" \
  "$(jq -r '"\(.machine) \(.pid) \(.slots) \(.draining)"' <<<"$H")"
t_eq "heartbeat: host is the host name" "$HOST" "$(jq -r .host <<<"$H")"
t_ok "heartbeat: started_at/updated_at are ISO with ms" jqt '
  [.started_at, .updated_at] | all(test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))' <<<"$H"
t_eq "heartbeat: ollama url and version" "$SIM_URL_s1 0.12.6" "$(jq -r '"\(.ollama.url) \(.ollama.version)"' <<<"$H")"
t_ok "heartbeat: models with name and hex digest" jqt '
  .ollama.models | length == 1 and .[0].name == "qwen3:8b" and (.[0].digest | test("^[0-9a-f]{64}$"))' <<<"$H"
t_ok "NS:machines holds the machine" bash -c "[ \"\$(redis-cli -p $H_REDIS_PORT sismember '$NS:machines' ready)\" = 1 ]"
t_ok "NS:lastseen has it, ISO time" bash -c "[[ \$(redis-cli -p $H_REDIS_PORT hget '$NS:lastseen' ready) =~ ^[0-9]{4}-.*Z\$ ]]"
t_ok "ready: its job ran" h_wait 10 "[ \"\$(state RD1)\" = done ]"

# ---- a worker started before its Ollama ----
h_worker_ready noll 15
H=$(hb noll)
t_eq 'no Ollama: heartbeat says "ollama": null' null "$(jq -c .ollama <<<"$H")"
t_ok "no Ollama: the log says it is not answering" grep -q "not answering" "$T/worker-noll.log"
t_ok "no environment: the log warns that tool calls have nothing to run them" \
  grep -q "no environment and no MCP server (--env-cmd, --env-url, --mcp)" "$T/worker-noll.log"
t_eq "no Ollama: job still queued, nothing claimed" "1 0 queued" \
  "$(llen "$NS:queue:noll") $(llen "$NS:running:noll") $(state NO1)"

# ---- a worker started before Redis ----
t_ok "no Redis: the log says it cannot connect and retries" \
  h_wait 10 "grep -q 'cannot connect to redis://127.0.0.1:$PL/0.*retrying' '$T/worker-late.log'"
t_ok "no Redis: the worker is still running" kill -0 "$WPID_late"
start_redis_on "$PL" redis-late
h_wait 10 "redis-cli -p $PL ping | grep -q PONG" || t_fail "late redis started"
t_ok "no Redis: heartbeat once Redis is up" h_wait 15 "[ \"\$(late_cli exists $NS:worker:late)\" = 1 ]"
job LT1 | h_disp --redis "redis://127.0.0.1:$PL/0" submit --machines late - >/dev/null 2>&1
t_ok "no Redis: then serves a job" h_wait 15 "[ \"\$(late_cli hget $NS:job:LT1 state)\" = done ]"
t_eq "no Redis: both turns committed" 2 "$(late_cli llen "$NS:turns:LT1")"

# ---- password ----
t_ok "password: worker holds its machine" h_wait 15 "[ \"\$(pw_cli exists $NS:worker:pwbox)\" = 1 ]"
t_ok "password: job done" h_wait 15 "[ \"\$(pw_cli hget $NS:job:PW1 state)\" = done ]"
t_ok "password: never in the worker log (-v)" bash -c "! grep -q s3cret '$T/worker-pwbox.log'"
t_ok "password: log shows it redacted" grep -q 'redis://:\*\*\*@127.0.0.1' "$T/worker-pwbox.log"
t_ok "password: not in the heartbeat" bash -c "! REDISCLI_AUTH=s3cret redis-cli -p $PP get '$NS:worker:pwbox' | grep -q s3cret"
t_ok "wrong password: the log says AUTH failed" h_wait 10 "grep -q 'AUTH failed' '$T/worker-badpw.log'"
t_ok "wrong password: never in the log" bash -c "! grep -q wr0ngpw '$T/worker-badpw.log'"
t_ok "wrong password: worker keeps running" kill -0 "$WPID_badpw"
t_eq "wrong password: no heartbeat" 0 "$(pw_cli exists "$NS:worker:badpw")"

# ---- unix socket, TURNQ_MACHINE ----
t_ok "unix://: job done over the socket" h_wait 15 "[ \"\$(state UX1)\" = done ]"
t_ok "TURNQ_MACHINE: names the machine; its job done" h_wait 15 "[ \"\$(state EV1)\" = done ]"
t_eq "TURNQ_MACHINE: heartbeat under that name" envbox "$(hb envbox | jq -r .machine)"

# ---- --machine defaults to the host name ----
if [[ $HOST =~ ^[A-Za-z0-9._-]{1,64}$ ]]; then
  t_ok "default machine: heartbeat under the host name '$HOST'" h_worker_ready "$HOST" 15
  t_eq "default machine: registered in NS:machines" 1 "$(h_cli sismember "$NS:machines" "$HOST")"
  job HN1 | h_disp submit --machines "$HOST" - >/dev/null 2>&1
  t_ok "default machine: serves its queue" h_wait 15 "[ \"\$(state HN1)\" = done ]"
  t_eq "default machine: job hash names it" "$HOST" "$(h_cli hget "$NS:job:HN1" machine)"
else
  echo "SKIP: default machine: host name '$HOST' is not a valid machine name"
fi

# ---- --exit-when-idle ----
rc=alive
if h_wait 20 "! kill -0 $WPID_idle"; then rc=0; wait "$WPID_idle" || rc=$?; fi
t_eq "exit-when-idle: exits 0 after the queue drains" 0 "$rc"
t_eq "exit-when-idle: all three done" "done done done" "$(state ID1) $(state ID2) $(state ID3)"
t_eq "exit-when-idle: results written" "done done done" \
  "$(for k in 1 2 3; do h_cli get "$NS:result:ID$k" | jq -r .status; done | tr '\n' ' ' | sed 's/ $//')"
t_eq "exit-when-idle: queue and running list empty" "0 0" "$(llen "$NS:queue:idle") $(llen "$NS:running:idle")"
t_eq "exit-when-idle: lease released on exit" 0 "$(h_cli exists "$NS:worker:idle")"
t_ok "exit-when-idle: says why it left" grep -q 'exit-when-idle' "$T/worker-idle.log"
# With nothing queued at all it leaves at once too.
wstart idle2 --machine idle2 --ollama "$SIM_URL_s1" --exit-when-idle
rc=alive
if h_wait 12 "! kill -0 $WPID_idle2"; then rc=0; wait "$WPID_idle2" || rc=$?; fi
t_eq "exit-when-idle: empty queue, exits 0" 0 "$rc"

# ---- the worker that waited for its Ollama ----
# One more beat while Ollama is still down: still nothing claimed.
u0=$(hb noll | jq -r .updated_at)
t_ok "no Ollama: heartbeat renewed while waiting" h_wait 8 "[ \"\$(hb noll | jq -r .updated_at)\" != '$u0' ]"
t_eq "no Ollama: after another beat, still nothing claimed" "1 0 queued" \
  "$(llen "$NS:queue:noll") $(llen "$NS:running:noll") $(state NO1)"
t_eq "no Ollama: no turn was committed" 0 "$(llen "$NS:turns:NO1")"
sim_on_port late "$PO" --actions 0 || t_fail "late sim started"
t_ok "late Ollama: job runs once the sim is up" h_wait 15 "[ \"\$(state NO1)\" = done ]"
t_ok "late Ollama: heartbeat now reports it" h_wait 8 "[ \"\$(hb noll | jq -r .ollama.version)\" = 0.12.6 ]"
t_ok "late Ollama: the log says it answers" grep -q "answers: version 0.12.6" "$T/worker-noll.log"
t_eq "late Ollama: the calls reached the late sim" 2 \
  "$(jq -c 'select(.path=="/api/chat" and .experiment=="NO1")' "$T/sim-late.jsonl" | wc -l | tr -d ' ')"

# An integer id keeps its JSON type through the worker.
echo '{"id": 42, "model": "qwen3:8b", "turns": ["one"]}' | h_disp submit --machines ready - >/dev/null 2>&1
t_ok "integer id: done" h_wait 10 "[ \"\$(state 42)\" = done ]"
t_eq "integer id: the result keeps the number" 'number 42' "$(h_cli get "$NS:result:42" | jq -r '"\(.id|type) \(.id)"')"

# An Ollama that accepts the connection and never answers: the worker is stopped while its probe
# waits (under make asan, the probe in flight must not leak: ollama_probe_cancel).
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    held.append(s.accept())
    open(sys.argv[2], "a").write("accepted\n")' "$T/hung.port" "$T/hung.accepted" &
H_PIDS+=("$!")
h_wait 5 "[ -s '$T/hung.port' ]" || t_fail "the silent listener started"
wstart hungbox --machine hungbox --ollama "http://127.0.0.1:$(cat "$T/hung.port")"
t_ok "silent Ollama: the worker's probe is waiting on it" h_wait 10 "[ -s '$T/hung.accepted' ]"

# Everything started is still alive (nothing crashed along the way), and each leaves on SIGTERM:
# idle in its claim, waiting for Redis, refused by Redis, waiting for Ollama's first answer.
for n in ready late noll pwbox badpw unixbox envbox hungbox; do
  eval "p=\$WPID_$n"
  t_ok "worker $n still running" kill -0 "$p"
  kill -TERM "$p"
done
for n in ready late noll pwbox badpw unixbox envbox hungbox; do
  eval "p=\$WPID_$n"
  rc=alive
  if h_wait 3 "! kill -0 $p"; then rc=0; wait "$p" || rc=$?; fi
  t_eq "worker $n: SIGTERM when idle exits 0 within 3 s" 0 "$rc"
done
t_eq "SIGTERM: the idle workers released their leases" "0 0 0" \
  "$(h_cli exists "$NS:worker:ready") $(h_cli exists "$NS:worker:noll") $(h_cli exists "$NS:worker:unixbox")"
t_eq "SIGTERM: password box released its lease" 0 "$(pw_cli exists "$NS:worker:pwbox")"

[ "$H_FAILS" -eq 0 ]
