#!/usr/bin/env bash
# make bench: turnq's benchmarks on one box, everything started by tests/lib/harness.sh and
# stopped on exit (a throwaway redis-server, ollama-sim boxes, workers).
#
#   1. scaling     the example sweep (12 experiments) with emulated GPU time on 1, 2 and 4
#                  simulated machines, alike and log-normal lengths, strategies mod, hash,
#                  least-loaded and hash with worker --steal (n/a until built); affinity from
#                  the sims' own request logs
#   2. per-call    a worker (1 and 16 slots) against a zero-latency sim beside bench/baseline.c,
#                  a bare curl client sending the same bodies to the same sim
#   3. submission  100,000 jobs through dispatcher submit beside redis-benchmark's pipelined LPUSH
#   4. footprint   worker peak RSS idle and with 64 busy slots; CPU of an idle worker over 10 s
#
# Every measurement is appended as one JSON object to $TURNQ_BUILD/bench/raw.jsonl; the run's
# inputs, results, sim logs and worker logs stay in $TURNQ_BUILD/bench/runs/. bench/report.py
# then prints the table (targets as PASS/MISS, which never fail the run) and writes
# $TURNQ_BUILD/bench/results.json. The exit status is non-zero only when something could not be
# measured (a run failed or timed out) or an experiment's calls touched two machines.
#
# Knobs (environment): BENCH_MINUTE_MS (10: ms of sim latency per emulated minute),
# BENCH_TURN_MIN (2: emulated minutes per turn, one call), BENCH_ONLY (a space-separated subset
# of: scaling overhead submission footprint), BENCH_SUBMIT_N (100000), BENCH_CALL_TURNS (200),
# BENCH_SEED (42: the log-normal lengths' seed), BENCH_REPS (5: per-call runs of each side,
# interleaved, the best counts; also the number of redis-benchmark LPUSH runs, the best
# counting, beside the submission).
set -u
set -o pipefail
cd "$(dirname "$0")/.."
. tests/lib/harness.sh

: "${TURNQ_BUILD:=build}"
mkdir -p "$TURNQ_BUILD/bench"
B_OUT=$(cd "$TURNQ_BUILD/bench" && pwd)
B_BASELINE=$B_OUT/baseline
B_RUNS=$B_OUT/runs
B_RAW=$B_OUT/raw.jsonl
rm -rf "$B_RUNS"
mkdir -p "$B_RUNS"
: >"$B_RAW"
B_ERRORS=0

MINUTE_MS=${BENCH_MINUTE_MS:-10}
TURN_MIN=${BENCH_TURN_MIN:-2}
TURN_MS=$((MINUTE_MS * TURN_MIN))
SUBMIT_N=${BENCH_SUBMIT_N:-100000}
CALL_EXPS=16
CALL_TURNS=${BENCH_CALL_TURNS:-200}
REPS=${BENCH_REPS:-5}
ONLY=${BENCH_ONLY:-scaling overhead submission footprint}
SWEEP=examples/sweep.json

say() { printf 'bench: %s\n' "$*"; }
rec() { printf '%s\n' "$1" >>"$B_RAW"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
now_ns() { date +%s%N; }
# CPU time of a process in clock ticks (utime + stime, /proc/PID/stat fields 14 and 15; the
# command name in field 2 may hold spaces, so count from the closing parenthesis).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
# Time on CPU in ns (/proc/PID/schedstat, first field): the fine-grained counterpart.
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }
CLK_TCK=$(getconf CLK_TCK)
# ms since the epoch of ISO timestamps, for jq.
JQ_MS='def ms(t): (t | sub("\\.[0-9]+Z$"; "Z") | fromdate) * 1000 + ((t | capture("\\.(?<f>[0-9]+)Z$").f // "0") | tonumber);'

# b_stop PID...: TERM, wait at most 5 s, KILL; and forget them in the harness's list.
b_stop() {
  local p q keep=()
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for q in "${H_PIDS[@]}"; do
    for p in "$@"; do [ "$q" = "$p" ] && continue 2; done
    keep+=("$q")
  done
  H_PIDS=("${keep[@]}")
}

# b_sim NAME [flags...]: a fresh sim (its old port file and log removed first).
b_sim() {
  local name=$1; shift
  rm -f "$H_DIR/sim-$name.port" "$H_DIR/sim-$name.jsonl" "$H_DIR/sim-$name.log"
  h_sim_start "$name" "$@"
}
# b_worker NAME [flags...]: a fresh worker log, then the harness's worker.
b_worker() {
  local name=$1
  : >"$H_DIR/worker-$name.log"
  h_worker_start "$@"
}
pid_of() { eval "echo \${$1_PID_$2:-}"; }

b_fail() { say "ERROR: $*"; B_ERRORS=$((B_ERRORS + 1)); }

# b_wait SECONDS OUT PID...: dispatcher wait --timeout SECONDS (its output in OUT), giving up at
# once when one of the worker PIDs exits meanwhile (a crash), rather than waiting out the timeout.
b_wait() {
  local limit=$1 out=$2 p wp rc; shift 2
  "$H_BIN/dispatcher" wait --timeout "$limit" >"$out" 2>&1 &
  wp=$!
  H_PIDS+=("$wp")
  while kill -0 "$wp" 2>/dev/null; do
    for p in "$@"; do
      if ! kill -0 "$p" 2>/dev/null; then
        b_stop "$wp"
        echo "worker (pid $p) exited while its experiments ran" >>"$out"
        return 1
      fi
    done
    sleep 0.05
  done
  wait "$wp"; rc=$?
  b_stop "$wp"
  return "$rc"
}
# b_drain SECONDS MACHINE PID: until MACHINE's queue and running list are both empty, polling
# every 100 ms (no dispatcher wait here: it reads every turn's event, which costs Redis and the
# two cores a little per call and would be counted against the worker); gives up when the
# worker PID exits or after SECONDS.
b_drain() {
  local limit=$1 m=$2 p=$3 end n
  end=$(( $(now_ms) + limit * 1000 ))
  while :; do
    n=$(h_cli eval "return redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2])" 2 \
          "$TURNQ_NAMESPACE:queue:$m" "$TURNQ_NAMESPACE:running:$m" 2>/dev/null)
    [ "$n" = 0 ] && return 0
    kill -0 "$p" 2>/dev/null || { echo "worker (pid $p) exited"; return 1; }
    [ "$(now_ms)" -ge "$end" ] && { echo "timed out after $limit s ($n experiments left)"; return 1; }
    sleep 0.1
  done
}
# The last line of a worker's log, for error messages.
wlog_tail() { tail -n 1 "$H_DIR/worker-$1.log" 2>/dev/null; }

support_least_loaded=0 support_steal=0 support_estimate=0
"$H_BIN/dispatcher" submit --help 2>&1 | grep -q least-loaded && support_least_loaded=1
# least-loaded may weigh experiments by a job field "estimate": then its runs get the turn counts
# as estimates (what a user knows at submission), the other strategies the same sweep without.
"$H_BIN/dispatcher" submit --help 2>&1 | grep -q estimate && support_estimate=1
"$H_BIN/worker" --help 2>&1 | grep -q -- --steal && support_steal=1
VERSION=$("$H_BIN/worker" --version 2>/dev/null | head -1 | awk '{print $NF}')
rec "$(jq -nc --arg v "$VERSION" --argjson cores "$(nproc)" --argjson minute "$MINUTE_MS" \
  --argjson turn_min "$TURN_MIN" --argjson ll "$support_least_loaded" --argjson steal "$support_steal" \
  --argjson est "$support_estimate" --argjson seed "${BENCH_SEED:-42}" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg redis "$(redis-server --version | awk '{print $3}')" \
  '{kind: "meta", version: $v, cores: $cores, minute_ms: $minute, turn_minutes: $turn_min,
    least_loaded: ($ll == 1), least_loaded_estimates: ($est == 1), steal: ($steal == 1), date: $date, redis: $redis,
    lognormal_seed: $seed}')"

say "turnq $VERSION on $(nproc) cores; results in $B_OUT"
say "least-loaded: $([ $support_least_loaded = 1 ] && echo built || echo 'n/a (not built yet)');" \
    "worker --steal: $([ $support_steal = 1 ] && echo built || echo 'n/a (not built yet)')"
h_redis_start >/dev/null || { b_fail "redis-server would not start"; exit 1; }
REDIS_PID=$H_REDIS_PID
say "redis: $TURNQ_REDIS (throwaway, pid $REDIS_PID)"

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------------------------------------
# 1. Scaling
# ---------------------------------------------------------------------------------------------
# scale_run DIST STRATEGY N: N sims (one call at a time, --latency-ms TURN_MS, --actions 0 so a
# turn is one call), a 1-slot worker beside each, the generated sweep submitted, waited for.
scale_run() {
  local dist=$1 strat=$2 n=$3
  local dir=$B_RUNS/scale-$dist-$strat-$n
  local sub=$strat wflags=(--slots 1) ms=() m ok=1 err="" t0 t1
  mkdir -p "$dir"
  [ "$strat" = hash+steal ] && { sub=hash; wflags+=(--steal); }
  export TURNQ_NAMESPACE=bench.$dist.${strat/+/-}.$n
  for i in $(seq 1 "$n"); do ms+=("m$i"); done
  local list; list=$(IFS=,; echo "${ms[*]}")
  for m in "${ms[@]}"; do
    b_sim "$m" --latency-ms "$TURN_MS" --parallel 1 --actions 0 || { ok=0; err="sim $m did not start"; }
    b_worker "$m" "${wflags[@]}"
  done
  for m in "${ms[@]}"; do
    [ "$ok" = 1 ] && { h_worker_ready "$m" 15 || { ok=0; err="worker $m did not come up"; }; }
  done
  if [ "$ok" = 1 ]; then
    t0=$(now_ms)
    local input=$B_RUNS/sweep-$dist.json
    # least-loaded places by the estimates; submit queues each machine's experiments largest
    # estimate first and a --steal worker takes the largest never-started one: both get them.
    case $strat in least-loaded | hash+steal)
      [ -f "$B_RUNS/sweep-$dist-estimate.json" ] && input=$B_RUNS/sweep-$dist-estimate.json ;;
    esac
    if ! "$H_BIN/dispatcher" submit --strategy "$sub" --machines "$list" "$input" \
         >"$dir/submit.out" 2>&1; then ok=0; err="submit failed: $(tail -1 "$dir/submit.out")"; fi
  fi
  local wpids=()
  for m in "${ms[@]}"; do wpids+=("$(pid_of WORKER "$m")"); done
  if [ "$ok" = 1 ]; then
    if ! b_wait 120 "$dir/wait.out" "${wpids[@]}"; then
      ok=0; err="wait failed: $(tail -1 "$dir/wait.out")"
      for m in "${ms[@]}"; do kill -0 "$(pid_of WORKER "$m")" 2>/dev/null || err="$err; worker $m: $(wlog_tail "$m")"; done
    fi
    t1=$(now_ms)
    "$H_BIN/dispatcher" results >"$dir/results.jsonl" 2>>"$dir/wait.out"
  fi
  b_stop "${wpids[@]}"
  local pids=()
  for m in "${ms[@]}"; do pids+=("$(pid_of SIM "$m")"); done
  b_stop "${pids[@]}"
  for m in "${ms[@]}"; do
    cp "$H_DIR/sim-$m.jsonl" "$dir/sim-$m.jsonl" 2>/dev/null
    cp "$H_DIR/worker-$m.log" "$dir/worker-$m.log" 2>/dev/null
  done
  if [ "$ok" = 1 ]; then
    local span
    span=$(jq -rs "$JQ_MS"' (map(ms(.finished_at)) | max) - (map(ms(.started_at)) | min)' "$dir/results.jsonl")
    say "  $dist $strat on $n: makespan $(awk -v s="$span" 'BEGIN{printf "%.3f", s/1000}') s" \
        "($(awk -v s="$span" -v m="$MINUTE_MS" 'BEGIN{printf "%.0f", s/m}') emulated min; wall to wait's return $((t1 - t0)) ms)"
    rec "$(jq -nc --arg d "$dist" --arg s "$strat" --argjson n "$n" --arg dir "$dir" --argjson wall "$((t1 - t0))" \
      '{kind: "scaling", dist: $d, strategy: $s, machines: $n, status: "ok", dir: $dir, wall_ms: $wall}')"
  else
    b_fail "scaling $dist $strat on $n: $err (logs in $dir)"
    rec "$(jq -nc --arg d "$dist" --arg s "$strat" --argjson n "$n" --arg dir "$dir" --arg e "$err" \
      '{kind: "scaling", dist: $d, strategy: $s, machines: $n, status: "error", error: $e, dir: $dir}')"
  fi
}

if want scaling; then
  say "1. scaling: 12 experiments of $SWEEP, 1 emulated minute = $MINUTE_MS ms of sim latency," \
      "a turn = one call of $TURN_MIN min (--latency-ms $TURN_MS --parallel 1 --actions 0), 1 slot per worker"
  for dist in alike lognormal; do
    lens=$(python3 bench/gen.py sweep "$SWEEP" "$dist" "$B_RUNS/sweep-$dist.json") ||
      { b_fail "bench/gen.py sweep $dist failed"; continue; }
    say " $dist lengths (turns): $lens"
    if [ "$support_estimate" = 1 ]; then
      python3 bench/gen.py sweep "$SWEEP" "$dist" "$B_RUNS/sweep-$dist-estimate.json" --estimate >/dev/null ||
        b_fail "bench/gen.py sweep $dist --estimate failed"
    fi
    rec "$(jq -nc --arg d "$dist" --arg l "$lens" '{kind: "lengths", dist: $d, turns: ($l | split(",") | map(tonumber))}')"
    if [ "$dist" = alike ] && [ -x "$B_BASELINE" ]; then
      # A turn's floor: a bare client's call against the same sim settings.
      b_sim floor --latency-ms "$TURN_MS" --parallel 1 --actions 0
      python3 bench/gen.py calls "$SWEEP" 1 8 floor "$B_RUNS/floor-job.jsonl"
      fl=$(timeout 60 "$B_BASELINE" --url "$SIM_URL_floor" --job "$B_RUNS/floor-job.jsonl" --concurrency 1 --calls 50 \
             2>"$B_RUNS/floor.err") || b_fail "baseline at --latency-ms $TURN_MS failed: $(tail -1 "$B_RUNS/floor.err")"
      b_stop "$(pid_of SIM floor)"
      [ -n "$fl" ] && rec "$(jq -c '{kind: "turn_floor", ms_per_call: (.seconds * 1000 / .calls), calls: .calls}' <<<"$fl")"
    fi
    for strat in mod hash least-loaded hash+steal; do
      supported=1
      [ "$strat" = least-loaded ] && [ "$support_least_loaded" = 0 ] && supported=0
      [ "$strat" = hash+steal ] && [ "$support_steal" = 0 ] && supported=0
      for n in 1 2 4; do
        if [ "$supported" = 0 ]; then
          rec "$(jq -nc --arg d "$dist" --arg s "$strat" --argjson n "$n" \
            '{kind: "scaling", dist: $d, strategy: $s, machines: $n, status: "n/a"}')"
          continue
        fi
        scale_run "$dist" "$strat" "$n"
      done
      [ "$supported" = 0 ] && say "  $dist $strat: n/a (not built yet)"
    done
  done
fi

# ---------------------------------------------------------------------------------------------
# 2. Per-call overhead
# ---------------------------------------------------------------------------------------------
# Two shapes of turn: one call (--actions 0: the per-turn commit on every call, the worst case),
# and eight (the default max_actions_per_turn: seven tool calls, which no environment runs, then
# the answer), as an agent's turns usually go; the same number of calls either way.
if want overhead; then
  if [ ! -x "$B_BASELINE" ]; then
    b_fail "$B_BASELINE is missing: run make bench (it builds it from bench/baseline.c)"
  else
  for per in 1 8; do
    turns=$((CALL_TURNS / per)) tool=
    [ "$per" -gt 1 ] && tool=--tool
    say "2. per-call overhead, $per call(s) per turn: $CALL_EXPS experiments x $turns turns, zero-latency sim" \
        "(--actions $((per - 1))), worker vs bench/baseline, best of $REPS reps"
    dir=$B_RUNS/overhead-$per
    mkdir -p "$dir"
    b_sim ovh --actions $((per - 1)) || b_fail "sim ovh did not start"
    SIM_PID=$(pid_of SIM ovh)
    python3 bench/gen.py calls "$SWEEP" 1 "$turns" base "$dir/job.jsonl" $tool
    for slots in 1 16; do
      export TURNQ_NAMESPACE=bench.calls.$per.$slots
      b_worker ovh --slots "$slots"
      WPID=$(pid_of WORKER ovh)
      if ! h_worker_ready ovh 15; then b_fail "overhead worker ($slots slots) did not come up"; b_stop "$WPID"; continue; fi
      for rep in $(seq 1 "$REPS"); do
        pre=p$per.w$slots.r$rep.
        python3 bench/gen.py calls "$SWEEP" "$CALL_EXPS" "$turns" "$pre" "$dir/jobs-$slots-$rep.jsonl" $tool
        h_cli config resetstat >/dev/null
        w0=$(cpu_ns "$WPID"); r0=$(cpu_ns "$REDIS_PID"); s0=$(cpu_ns "$SIM_PID")
        "$H_BIN/dispatcher" submit --machines ovh "$dir/jobs-$slots-$rep.jsonl" >"$dir/submit-$slots-$rep.out" 2>&1 &&
          b_drain 120 ovh "$WPID" >"$dir/wait-$slots-$rep.out" 2>&1 ||
          { b_fail "overhead worker run ($slots slots, rep $rep) failed: $(tail -1 "$dir/wait-$slots-$rep.out" 2>/dev/null); worker: $(wlog_tail ovh)"; }
        w1=$(cpu_ns "$WPID"); r1=$(cpu_ns "$REDIS_PID"); s1=$(cpu_ns "$SIM_PID")
        rss=$(status_kb "$WPID" VmRSS); hwm=$(status_kb "$WPID" VmHWM)
        # What Redis did for the worker meanwhile: {command: [calls, usec]}.
        cmdstats=$(h_cli info commandstats | tr -d '\r' | awk -F'[:,=]' '/^cmdstat_/ {sub("cmdstat_", "", $1); print $1, $3, $5}' |
                   jq -Rsc 'split("\n") | map(select(length > 0) | split(" ")) | map({key: .[0], value: [(.[1] | tonumber), (.[2] | tonumber)]}) | from_entries')
        [ -n "$cmdstats" ] || cmdstats='{}'
        "$H_BIN/dispatcher" results >"$dir/results-$slots-$rep.jsonl" 2>/dev/null
        wstats=$(jq -cs --arg p "$pre" "$JQ_MS"' map(select((.id | tostring) | startswith($p))) | {n: length, done: (map(select(.status == "done")) | length)} +
                   (map(select(.started_at and .finished_at)) | {calls: (map(.totals.calls) | add // 0),
                   ms: ((map(ms(.finished_at)) | max // 0) - (map(ms(.started_at)) | min // 0))})' "$dir/results-$slots-$rep.jsonl")
        logcalls=$(jq -c --arg p "$pre" 'select(.path == "/api/chat" and .status == 200 and (.messages // 0) > 0
                     and ((.experiment // "") | startswith($p)))' "$H_DIR/sim-ovh.jsonl" | wc -l)
        calls=$(jq -r .calls <<<"$wstats")
        [ "${calls:-0}" -gt 0 ] 2>/dev/null || calls=$((CALL_EXPS * CALL_TURNS))
        b0=$(cpu_ns "$SIM_PID")
        bstats=$(timeout 120 "$B_BASELINE" --url "$SIM_URL_ovh" --job "$dir/job.jsonl" --concurrency "$slots" \
                   --calls "$calls" --experiment-prefix "b$per.$slots.r$rep" 2>"$dir/baseline-$slots-$rep.err") ||
          b_fail "baseline ($slots streams, rep $rep) failed: $(tail -1 "$dir/baseline-$slots-$rep.err")"
        b1=$(cpu_ns "$SIM_PID")
        [ -n "$bstats" ] || bstats='{}'
        rec "$(jq -nc --argjson slots "$slots" --argjson rep "$rep" --argjson w "$wstats" --argjson b "$bstats" \
          --argjson logcalls "$logcalls" --argjson wcpu "$((w1 - w0))" --argjson rcpu "$((r1 - r0))" \
          --argjson scpu "$((s1 - s0))" --argjson bscpu "$((b1 - b0))" --argjson rss "${rss:-0}" --argjson hwm "${hwm:-0}" \
          --argjson cs "$cmdstats" \
          '{kind: "overhead", per_turn: '"$per"', slots: $slots, rep: $rep, worker: ($w + {log_calls: $logcalls, cpu_worker_ns: $wcpu,
             cpu_redis_ns: $rcpu, cpu_sim_ns: $scpu, rss_kb: $rss, hwm_kb: $hwm, redis_commands: $cs}),
             baseline: ($b + {cpu_sim_ns: $bscpu})}')"
        say "  $slots slot(s), rep $rep: worker $(jq -r '"\(.calls) calls in \(.ms) ms"' <<<"$wstats")" \
            "(sim log: $logcalls), VmRSS ${rss:-?} kB; baseline $(jq -r '"\(.calls) calls in \(.seconds * 1000 | round) ms, \(.connects) connections"' <<<"$bstats" 2>/dev/null)"
      done
      b_stop "$WPID"
      cp "$H_DIR/worker-ovh.log" "$dir/worker-$slots.log" 2>/dev/null
    done
    b_stop "$SIM_PID"
  done
  fi
fi

# ---------------------------------------------------------------------------------------------
# 3. Submission
# ---------------------------------------------------------------------------------------------
if want submission; then
  say "3. submission: $SUBMIT_N jobs through dispatcher submit (4 machines, hash) vs redis-benchmark -t lpush -n 100000 -P 64"
  dir=$B_RUNS/submission
  mkdir -p "$dir"
  python3 bench/gen.py small "$SUBMIT_N" "$dir/jobs.jsonl"
  # The baseline's best of $REPS runs: like the other side, what the server can do when nothing
  # else on the two cores gets in the way.
  lpush=
  for _ in $(seq 1 "$REPS"); do
    lp_out=$(timeout 120 redis-benchmark -p "$H_REDIS_PORT" -t lpush -n 100000 -P 64 -q 2>&1 | tr '\r' '\n')
    r=$(grep -o 'LPUSH: [0-9.]* requests per second' <<<"$lp_out" | tail -1 | awk '{print $2}')
    [ -n "$r" ] || { b_fail "redis-benchmark gave no LPUSH rate: $(tail -2 <<<"$lp_out")"; break; }
    lpush=$(awk -v a="${lpush:-0}" -v b="$r" 'BEGIN {print (b > a ? b : a)}')
  done
  h_cli del mylist >/dev/null
  # What SPEC's key layout costs Redis per experiment, measured like LPUSH (pipelined, best of
  # $REPS): its job hash (an HSET of the fields submit writes, as gen.py floor has them) and its
  # `queued` event (an XADD), each to keys of their own; the ZADD and LPUSH, shared by 100
  # experiments, cost little beside them. 1 / (1/HSET + 1/XADD) is the most jobs per second any
  # submission under this layout can reach.
  best_rate() { # COMMAND...: redis-benchmark's best requests/s for it over $REPS runs
    local best= r o
    for _ in $(seq 1 "$REPS"); do
      o=$(timeout 120 redis-benchmark -p "$H_REDIS_PORT" -n 100000 -P 64 -q -r 100000000 "$@" 2>&1 | tr '\r' '\n')
      r=$(grep -o '[0-9.]* requests per second' <<<"$o" | tail -1 | awk '{print $1}')
      [ -n "$r" ] || { b_fail "redis-benchmark $1 gave no rate: $(tail -1 <<<"$o")"; return; }
      best=$(awk -v a="${best:-0}" -v b="$r" 'BEGIN {print (b > a ? b : a)}')
    done
    echo "$best"
  }
  hset_rate=$(best_rate HSET bench.ceiling:job:__rand_int__ spec '{"id":"s000001","model":"qwen3:8b","turns":["Day 1: ship what you can."]}' \
    state queued machine m1 model qwen3:8b estimate 1 attempts 0 interrupted 0 turn 0 submitted_at 2026-01-01T00:00:00.000Z)
  xadd_rate=$(best_rate XADD bench.ceiling:events MAXLEN '~' 100000 '*' id s000001 event queued machine m1 turn 0)
  h_cli flushall >/dev/null
  export TURNQ_NAMESPACE=bench.submit
  # What Redis spends on the submission: every command's time (commandstats), and the longest
  # single command (the slow log over 1 ms): while one command runs, every other client waits.
  h_cli config resetstat >/dev/null
  h_cli config set slowlog-log-slower-than 1000 >/dev/null
  h_cli slowlog reset >/dev/null
  t0=$(now_ns)
  "$H_BIN/dispatcher" submit --machines m1,m2,m3,m4 "$dir/jobs.jsonl" >"$dir/submit.out" 2>"$dir/submit.err" &
  DPID=$!
  H_PIDS+=("$DPID")
  # Poll its peak RSS while it runs (VmHWM only grows, so the last reading is its peak but for
  # the last 50 ms); give up after 300 s.
  dhwm=0 dcpu=0 deadline=$(( $(now_ms) + 300000 ))
  while kill -0 "$DPID" 2>/dev/null; do
    h=$(status_kb "$DPID" VmHWM); [ -n "$h" ] && [ "$h" -gt "$dhwm" ] && dhwm=$h
    c=$(cpu_ticks "$DPID"); [ -n "$c" ] && dcpu=$c
    [ "$(now_ms)" -gt "$deadline" ] && { b_fail "dispatcher submit still running after 300 s"; kill -KILL "$DPID"; }
    sleep 0.05
  done
  wait "$DPID"; rc=$?
  t1=$(now_ns)
  b_stop "$DPID"
  rus=$(h_cli info commandstats | tr -d '\r' | awk -F'[:,=]' '/^cmdstat_/ && $1 != "cmdstat_config|resetstat" {s += $5} END {print s + 0}')
  slow_n=$(h_cli slowlog len)
  slow_max=$(h_cli --json slowlog get 128 | jq '[.[] | .[2]] | max // 0')
  h_cli config set slowlog-log-slower-than 10000 >/dev/null
  queued=0
  for m in m1 m2 m3 m4; do queued=$((queued + $(h_cli llen "$TURNQ_NAMESPACE:queue:$m"))); done
  per=$(for m in m1 m2 m3 m4; do h_cli llen "$TURNQ_NAMESPACE:queue:$m"; done | paste -sd,)
  [ "$rc" = 0 ] || b_fail "dispatcher submit exited $rc: $(tail -1 "$dir/submit.err")"
  [ "$queued" = "$SUBMIT_N" ] || b_fail "after submit, $queued of $SUBMIT_N jobs are queued"
  ms=$(( (t1 - t0) / 1000000 ))
  say "  dispatcher submit: $SUBMIT_N jobs in $ms ms (queues $per); redis-benchmark LPUSH: ${lpush:-?} per s"
  # The floor: the same writes as plain pipelined commands (gen.py floor), with redis-cli --pipe.
  python3 bench/gen.py floor "$SUBMIT_N" bench.floor m1,m2,m3,m4 "$dir/floor.resp"
  f0=$(now_ns)
  fl_out=$(timeout 120 redis-cli -p "$H_REDIS_PORT" --pipe <"$dir/floor.resp" 2>&1 | tail -1)
  f1=$(now_ns)
  fms=$(( (f1 - f0) / 1000000 ))
  grep -q 'errors: 0' <<<"$fl_out" || b_fail "the floor's redis-cli --pipe: $fl_out"
  say "  the same writes, plain and pipelined (redis-cli --pipe): $fms ms"
  rec "$(jq -nc --argjson n "$SUBMIT_N" --argjson ms "$ms" --argjson lpush "${lpush:-null}" --argjson lpruns "$REPS" --argjson rc "$rc" \
    --argjson q "$queued" --arg per "$per" --argjson rus "${rus:-0}" --argjson sn "${slow_n:-0}" --argjson sm "${slow_max:-0}" \
    --argjson hwm "$dhwm" --argjson fms "$fms" --argjson hset "${hset_rate:-null}" --argjson xadd "${xadd_rate:-null}" \
    --argjson dcpu "$(awk -v t="$dcpu" -v k="$CLK_TCK" 'BEGIN{printf "%.2f", t / k}')" \
    '{kind: "submission", jobs: $n, ms: $ms, lpush_per_s: $lpush, lpush_runs: $lpruns, exit: $rc, queued: $q,
      per_machine: ($per | split(",") | map(tonumber)), redis_us: $rus, slow_commands: $sn, slowest_us: $sm,
      floor_ms: $fms, hset_per_s: $hset, xadd_per_s: $xadd, dispatcher_hwm_kb: $hwm, dispatcher_cpu_s: $dcpu}')"
  h_cli flushall >/dev/null
fi

# ---------------------------------------------------------------------------------------------
# 4. Footprint
# ---------------------------------------------------------------------------------------------
if want footprint; then
  say "4. footprint: a 64-slot worker idle (VmHWM, CPU over 10 s), then 64 slots busy on a slow sim (--latency-ms 2000)"
  dir=$B_RUNS/footprint
  mkdir -p "$dir"
  b_sim slow --latency-ms 2000 --actions 0 || b_fail "sim slow did not start"
  export TURNQ_NAMESPACE=bench.footprint
  b_worker slow --slots 64 --grace 1
  FPID=$(pid_of WORKER slow)
  SPID=""
  if [ "$support_steal" = 1 ]; then
    # An idle --steal worker beside it (its own namespace: nothing to steal), measured over the same 10 s.
    SIM_URL_slowsteal=$SIM_URL_slow
    TURNQ_NAMESPACE=bench.footprint-steal b_worker slowsteal --slots 64 --steal --grace 1
    SPID=$(pid_of WORKER slowsteal)
  fi
  if h_worker_ready slow 15 && { [ -z "$SPID" ] || TURNQ_NAMESPACE=bench.footprint-steal h_worker_ready slowsteal 15; }; then
    sleep 1
    idle_hwm=$(status_kb "$FPID" VmHWM); idle_anon=$(status_kb "$FPID" RssAnon)
    c0=$(cpu_ticks "$FPID"); n0=$(cpu_ns "$FPID"); t0=$(now_ns)
    [ -n "$SPID" ] && { sc0=$(cpu_ticks "$SPID"); sn0=$(cpu_ns "$SPID"); }
    sleep 10
    c1=$(cpu_ticks "$FPID"); n1=$(cpu_ns "$FPID"); t1=$(now_ns)
    [ -n "$SPID" ] && { sc1=$(cpu_ticks "$SPID"); sn1=$(cpu_ns "$SPID"); }
    steal_json=null
    if [ -n "$SPID" ]; then
      steal_json=$(jq -nc --argjson t "$((sc1 - sc0))" --argjson ns "$((sn1 - sn0))" '{ticks: $t, cpu_ns: $ns}')
      b_stop "$SPID"
      cp "$H_DIR/worker-slowsteal.log" "$dir/worker-steal.log" 2>/dev/null
    fi
    python3 bench/gen.py calls "$SWEEP" 80 2 fp. "$dir/jobs.jsonl"
    "$H_BIN/dispatcher" submit --machines slow "$dir/jobs.jsonl" >"$dir/submit.out" 2>&1 || b_fail "footprint submit failed"
    t2=$(now_ms)
    busy_ok=0 end=$(( t2 + 30000 ))
    while [ "$(now_ms)" -lt "$end" ] && kill -0 "$FPID" 2>/dev/null; do
      [ "$(h_cli get "$TURNQ_NAMESPACE:worker:slow" | jq .busy 2>/dev/null)" = 64 ] && { busy_ok=1; break; }
      sleep 0.05
    done
    if [ "$busy_ok" = 1 ]; then
      busy_after=$(( $(now_ms) - t2 ))
      sleep 1 # the 64 calls are in flight (2 s each)
    elif kill -0 "$FPID" 2>/dev/null; then
      b_fail "the heartbeat never said busy 64 within 30 s"
    else
      b_fail "the 64-slot worker exited: $(wlog_tail slow)"
    fi
    busy_hwm=$(status_kb "$FPID" VmHWM); busy_anon=$(status_kb "$FPID" RssAnon)
    : "${busy_hwm:=0}" "${busy_anon:=0}" "${idle_hwm:=0}" "${idle_anon:=0}"
    say "  idle: VmHWM $idle_hwm kB, CPU $((c1 - c0)) ticks / $(( (n1 - n0) / 1000 )) us over $(( (t1 - t0) / 1000000 )) ms;" \
        "64 busy: VmHWM $busy_hwm kB (busy 64 after ${busy_after:-?} ms)"
    rec "$(jq -nc --argjson ih "$idle_hwm" --argjson ia "${idle_anon:-0}" --argjson bh "$busy_hwm" --argjson ba "${busy_anon:-0}" \
      --argjson ticks "$((c1 - c0))" --argjson cns "$((n1 - n0))" --argjson wall "$(( (t1 - t0) / 1000000 ))" \
      --argjson tck "$CLK_TCK" --argjson busy_ok "$busy_ok" --argjson steal "$steal_json" \
      '{kind: "footprint", idle_hwm_kb: $ih, idle_anon_kb: $ia, busy_hwm_kb: $bh, busy_anon_kb: $ba,
        busy_reached: ($busy_ok == 1), idle_ticks: $ticks, idle_cpu_ns: $cns, idle_wall_ms: $wall, clk_tck: $tck,
        steal_idle: $steal}')"
  else
    b_fail "footprint worker did not come up"
  fi
  b_stop "$FPID"
  b_stop "$(pid_of SIM slow)"
  cp "$H_DIR/worker-slow.log" "$dir/worker.log" 2>/dev/null
fi

# ---------------------------------------------------------------------------------------------
say "report"
python3 bench/report.py "$B_RAW" "$B_OUT/results.json" || B_ERRORS=$((B_ERRORS + 1))
if [ "$B_ERRORS" -gt 0 ]; then
  say "$B_ERRORS error(s): see above and the logs under $B_RUNS"
  exit 1
fi
exit 0
