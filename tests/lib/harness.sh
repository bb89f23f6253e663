# tests/lib/harness.sh: what every integration script sources. It starts real processes (a
# throwaway redis-server on a free port, ollama-sim boxes, workers), stops them all on exit, and
# gives bounded waits and PASS:/FAIL: assertions that tests/run.sh counts.
#
#   . "$(dirname "$0")/../lib/harness.sh"
#   h_redis_start                      # exports TURNQ_REDIS, TURNQ_NAMESPACE; h_cli runs redis-cli
#   h_sim_start gpu1 --latency-ms 5    # sets SIM_URL_gpu1, SIM_LOG_gpu1
#   h_own_port P; h_sim_on_port gpu1 $P  # a sim on a fixed port, to stop and start again
#   h_worker_start gpu1 --slots 2      # worker for machine gpu1 against SIM_URL_gpu1
#   h_wait 20 'condition command'      # polls every 50 ms, at most 20 s; returns 1 on timeout
#   t_ok "name" command...; t_eq "name" expected actual
set -u
H_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case ${TURNQ_BIN:-bin} in /*) H_BIN=$TURNQ_BIN ;; *) H_BIN=$H_ROOT/${TURNQ_BIN:-bin} ;; esac
H_DIR=$(mktemp -d "${TMPDIR:-/tmp}/turnq-test.XXXXXX")
H_PIDS=()
H_FAILS=0
export TURNQ_NAMESPACE="t$$x$RANDOM"
unset TURNQ_MACHINES TURNQ_MACHINE TURNQ_OLLAMA TURNQ_SLOTS TURNQ_ENV_URL TURNQ_ENV_CMD TURNQ_MCP TURNQ_MCP_DENY TURNQ_MCP_WORKDIR

h_cleanup() {
  local rc=$? p
  set +e
  for p in "${H_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${H_PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
  done
  # Under make asan, a process that leaked or misbehaved says so in its log when it exits.
  for f in "$H_DIR"/*.log; do
    [ -f "$f" ] || continue
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
      echo "FAIL: sanitizer report in $(basename "$f")"
      grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -40 | sed 's/^/    /'
      H_FAILS=$((H_FAILS + 1)); rc=1
    fi
  done
  if [ "$H_FAILS" -gt 0 ]; then
    for f in "$H_DIR"/*.log; do [ -f "$f" ] && { echo "---- $f (last 30 lines)"; tail -n 30 "$f"; }; done
  fi
  rm -rf "$H_DIR"
  exit "$rc"
}
trap h_cleanup EXIT
trap 'exit 130' INT TERM

# ---- assertions ----
t_pass() { echo "PASS: $1"; }
t_fail() { echo "FAIL: $1${2:+: $2}"; H_FAILS=$((H_FAILS + 1)); }
t_ok() { local n=$1; shift; if "$@"; then t_pass "$n"; else t_fail "$n" "command failed: $*"; fi; }
t_eq() { if [ "$2" = "$3" ]; then t_pass "$1"; else t_fail "$1" "expected '$2', got '$3'"; fi; }

# h_wait SECONDS 'shell condition': polls the condition every 50 ms for at most SECONDS.
h_wait() {
  local limit=$1 cond=$2 end
  end=$(( $(date +%s%N) / 1000000 + limit * 1000 ))
  while ! eval "$cond" >/dev/null 2>&1; do
    [ $(( $(date +%s%N) / 1000000 )) -ge "$end" ] && return 1
    sleep 0.05
  done
}

# ---- redis ----
h_free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
}

h_redis_start() {
  local try
  for try in 1 2 3 4 5; do
    H_REDIS_PORT=$(h_free_port)
    cat >"$H_DIR/redis.conf" <<CONF
port $H_REDIS_PORT
bind 127.0.0.1
unixsocket $H_DIR/redis.sock
dir $H_DIR
pidfile $H_DIR/redis.pid
save ""
appendonly no
daemonize no
logfile $H_DIR/redis.log
${H_REDIS_EXTRA:-}
CONF
    redis-server "$H_DIR/redis.conf" &
    H_REDIS_PID=$!
    H_PIDS+=("$H_REDIS_PID")
    if h_wait 10 "redis-cli -p $H_REDIS_PORT ping | grep -q PONG"; then
      export TURNQ_REDIS="redis://127.0.0.1:$H_REDIS_PORT/0"
      return 0
    fi
    kill "$H_REDIS_PID" 2>/dev/null
  done
  echo "FAIL: redis-server would not start"; return 1
}

h_cli() { redis-cli -p "$H_REDIS_PORT" "$@"; }

# ---- ollama-sim ----
# h_sim_start NAME [sim flags...]: starts a sim on a free port; sets SIM_URL_NAME, SIM_LOG_NAME.
h_sim_start() {
  local name=$1; shift
  local pf=$H_DIR/sim-$name.port
  "$H_BIN/ollama-sim" --port 0 --port-file "$pf" --log "$H_DIR/sim-$name.jsonl" "$@" \
    >"$H_DIR/sim-$name.log" 2>&1 &
  H_PIDS+=("$!")
  eval "SIM_PID_$name=$!"
  h_wait 10 "[ -s '$pf' ]" || { echo "FAIL: ollama-sim $name did not start"; return 1; }
  eval "SIM_URL_$name=http://127.0.0.1:$(cat "$pf")"
  eval "SIM_LOG_$name=$H_DIR/sim-$name.jsonl"
}

# h_own_port VAR: a free port below the ephemeral range, for a sim that must come back on it.
h_own_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 12000 ))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && continue
    eval "$1=$p"; return
  done
}
# h_sim_on_port NAME PORT [flags]: a sim on a port of our choosing, its log appended to
# $H_DIR/sim-NAME.jsonl (SIM_LOG_NAME), pid in SIM_PID_NAME; started again the same way.
h_sim_on_port() {
  local name=$1 port=$2; shift 2
  rm -f "$H_DIR/sim-$name.port"
  "$H_BIN/ollama-sim" --port "$port" --port-file "$H_DIR/sim-$name.port" --log "$H_DIR/sim-$name.jsonl" "$@" \
    >>"$H_DIR/sim-$name.log" 2>&1 &
  H_PIDS+=("$!")
  eval "SIM_PID_$name=$! SIM_URL_$name=http://127.0.0.1:$port SIM_LOG_$name=$H_DIR/sim-$name.jsonl"
  h_wait 10 "[ -s '$H_DIR/sim-$name.port' ]"
}

# ---- workers ----
# h_worker_start MACHINE [worker flags...]: a worker for MACHINE against SIM_URL_MACHINE.
h_worker_start() {
  local name=$1; shift
  local url; eval "url=\${SIM_URL_$name:-http://127.0.0.1:1}"
  "$H_BIN/worker" --machine "$name" --ollama "$url" "$@" >>"$H_DIR/worker-$name.log" 2>&1 &
  H_PIDS+=("$!")
  eval "WORKER_PID_$name=$!"
}

# Waits until the worker for MACHINE has written its heartbeat.
h_worker_ready() { h_wait "${2:-15}" "[ \"\$(h_cli exists $TURNQ_NAMESPACE:worker:$1)\" = 1 ]"; }

h_disp() { "$H_BIN/dispatcher" "$@"; }
