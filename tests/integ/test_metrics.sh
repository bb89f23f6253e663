#!/usr/bin/env bash
# test_metrics: `dispatcher metrics` and `worker --metrics-file` (common/prom.c, common/mstats.c,
# worker/metrics.c, dispatcher/metrics.c), black-box with redis-server, two ollama-sim boxes and a
# worker beside each. A sweep of 3 experiments per machine (3 turns, a tool, so 2 calls a turn)
# plus one on gpu2 whose model the box lacks (one 404 call, failed). Checks:
#  - `dispatcher metrics` exits 0 and parses (tests/lib/promcheck.py: HELP/TYPE before every
#    metric, one group each, escaped labels, histograms cumulative with +Inf = _count, no label
#    naming experiments, a final newline);
#  - its counters match Redis: experiments done/failed per machine = the job hashes' states,
#    turns = the results' turns, ok calls = the results' calls, one error call on gpu2, turn
#    histogram count = turns; queue depth 0, worker up 1, slots 1, build info present;
#  - the worker's file appears, parses, equals `dispatcher metrics --machines gpu1`, and is
#    replaced atomically (a reader never sees a partial file; its inode changes);
#  - a --metrics-file in a missing directory is a configuration error (exit 2, names it); a
#    directory gone at run time is logged once, and the file written again when it is back;
#    `dispatcher metrics --output` into a missing directory exits 1 naming it;
#  - on SIGTERM the worker writes a final file (worker up 0, counters kept); after a restart the
#    counters go on from Redis (3 + 2 done), in the file too;
#  - a metrics key of the wrong type (set by hand) costs no experiment its commit (done) and
#    `dispatcher metrics` still answers, with that machine's counters at 0.
set -u
. "$(dirname "$0")/../lib/harness.sh"
PC="python3 $H_ROOT/tests/lib/promcheck.py"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR
h_sim_start gpu1 --latency-ms 20 --actions 1 || exit 1
h_sim_start gpu2 --latency-ms 20 --actions 1 || exit 1
mkdir -p "$T/textfile"
PROM=$T/textfile/turnq.prom
h_worker_start gpu1 --metrics-file "$PROM" --metrics-interval 0.2
h_worker_start gpu2
h_worker_ready gpu1 && h_worker_ready gpu2 || { t_fail "workers up" "no heartbeat"; exit 1; }

TOOLS='[{"type":"function","function":{"name":"look","description":"d","parameters":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}}}]'
job() { echo "{\"id\":\"$1\",\"model\":\"${3:-qwen3:8b}\",\"turns\":[\"p1\",\"p2\",\"p3\"],\"tools\":$TOOLS,\"machine\":\"$2\"}"; }
for i in 1 2 3; do job "a$i" gpu1; job "b$i" gpu2; done >"$T/in.jsonl"
# a model the box lacks: the consistency gate would refuse it, so --allow-mixed-digests below
job bad gpu2 nosuch:1b >>"$T/in.jsonl"
h_disp submit --allow-mixed-digests "$T/in.jsonl" >/dev/null || { t_fail "submit"; exit 1; }
h_disp wait --timeout 30 2>"$T/wait.err"
t_eq "the sweep ends with one failure (wait exit 1)" 1 $?

get() { $PC --get "$1" "$2"; }

# ---- dispatcher metrics ----
h_disp metrics >"$T/m.txt"
t_eq "dispatcher metrics exits 0" 0 $?
t_ok "dispatcher metrics output parses (promcheck)" $PC "$T/m.txt"
h_disp results >"$T/results.jsonl"
for m in gpu1 gpu2; do
  for st in done failed; do
    want=0
    for id in $(h_cli zrange "$NS:ids" 0 -1); do
      [ "$(h_cli hget "$NS:job:$id" machine)" = "$m" ] && [ "$(h_cli hget "$NS:job:$id" state)" = "$st" ] && want=$((want + 1))
    done
    t_eq "$m: experiments_total{outcome=$st} = job hashes $st there" "$want" \
      "$(get "$T/m.txt" "turnq_experiments_total{machine=\"$m\",outcome=\"$st\"}")"
  done
  turns=$(jq -s --arg m "$m" '[.[] | select(.machine == $m) | .turns | length] | add // 0' "$T/results.jsonl")
  calls=$(jq -s --arg m "$m" '[.[] | select(.machine == $m) | .totals.calls // 0] | add // 0' "$T/results.jsonl")
  got=$(( $(get "$T/m.txt" "turnq_turns_total{machine=\"$m\",stop=\"answer\"}") + \
          $(get "$T/m.txt" "turnq_turns_total{machine=\"$m\",stop=\"max_actions\"}") ))
  t_eq "$m: turns_total = the results' turns" "$turns" "$got"
  t_eq "$m: turn histogram count = turns" "$turns" \
    "$(get "$T/m.txt" "turnq_turn_duration_seconds_count{machine=\"$m\"}")"
  t_eq "$m: ok chat requests = the results' calls" "$calls" \
    "$(get "$T/m.txt" "turnq_chat_requests_total{machine=\"$m\",outcome=\"ok\"}")"
  t_eq "$m: queue depth 0" 0 "$(get "$T/m.txt" "turnq_queue_depth{machine=\"$m\"}")"
  t_eq "$m: worker up" 1 "$(get "$T/m.txt" "turnq_worker_up{machine=\"$m\"}")"
  t_eq "$m: slots 1" 1 "$(get "$T/m.txt" "turnq_worker_slots{machine=\"$m\"}")"
done
t_eq "gpu2: the 404 call counts as an error" 1 "$(get "$T/m.txt" 'turnq_chat_requests_total{machine="gpu2",outcome="error"}')"
t_eq "gpu1: no error calls" 0 "$(get "$T/m.txt" 'turnq_chat_requests_total{machine="gpu1",outcome="error"}')"
t_ok "build info names the version and Ollama's" grep -q '^turnq_build_info{machine="gpu1",version="[^"]*",ollama_version="0\.' "$T/m.txt"
t_ok "no sample is labelled by experiment id" bash -c "! grep -E '\"(a[123]|b[123]|bad)\"' '$T/m.txt'"

# ---- the worker's textfile ----
t_ok "--metrics-file appears" h_wait 10 "[ -s '$PROM' ]"
t_ok "--metrics-file parses (promcheck)" $PC "$PROM"
t_ok "--metrics-file equals dispatcher metrics --machines gpu1" \
  h_wait 10 "diff -q <(h_disp metrics --machines gpu1) '$PROM'"
python3 - "$PROM" >"$T/atomic.txt" <<'EOF'
import os, sys, time
# Inode numbers are reused once a replaced file is gone: count the changes between reads.
path, changes, last, reads, partial = sys.argv[1], 0, None, 0, 0
end = time.time() + 1.5
while time.time() < end:
    time.sleep(0.0005)
    try:
        with open(path, 'rb') as f:
            ino = os.fstat(f.fileno()).st_ino
            changes += last is not None and ino != last
            last = ino
            data = f.read()
    except FileNotFoundError:
        partial += 1
        continue
    reads += 1
    if not data.endswith(b'\n') or b'# TYPE turnq_model_info gauge\n' not in data or b'turnq_queue_depth' not in data:
        partial += 1
print(reads, partial, changes)
EOF
read -r reads partial inodes <"$T/atomic.txt"
t_eq "readers never see a partial or missing file ($reads reads)" 0 "$partial"
t_ok "the file is replaced, not rewritten in place ($inodes replacements seen in 1.5 s)" test "$inodes" -ge 3
t_eq "no temporary file is left beside it" "turnq.prom" "$(ls "$T/textfile")"

h_disp metrics --output "$T/nodir/x.prom" >/dev/null 2>"$T/out.err"
t_eq "dispatcher metrics --output into a missing directory: exit 1" 1 $?
t_ok "  ... naming the file" grep -q "nodir/x.prom" "$T/out.err"
# The directory goes away under a running worker: it says so once, goes on, and writes again.
mv "$T/textfile" "$T/textfile.away"
t_ok "a failing --metrics-file write is logged" \
  h_wait 10 "grep -q -- '--metrics-file: .*textfile/turnq.prom.tmp.*No such file' '$T/worker-gpu1.log'"
mv "$T/textfile.away" "$T/textfile"
t_ok "  ... and the worker writes it again once it can" h_wait 10 "grep -q -- '--metrics-file: .* written again' '$T/worker-gpu1.log'"
t_eq "  ... logged once, not at every write" 1 "$(grep -c -- '--metrics-file: .*No such file' "$T/worker-gpu1.log")"
t_ok "  ... the worker is still up" kill -0 "$WORKER_PID_gpu1"

"$H_BIN/worker" --machine x --metrics-file "$T/nodir/turnq.prom" --ollama http://127.0.0.1:1 >"$T/bad.out" 2>&1
t_eq "--metrics-file in a missing directory: exit 2" 2 $?
t_ok "  ... naming the directory" grep -q "nodir' is not writable" "$T/bad.out"

# ---- stop, final file, restart: the counters survive ----
kill -TERM "$WORKER_PID_gpu1"
t_ok "worker gpu1 stops on SIGTERM" h_wait 10 "! kill -0 $WORKER_PID_gpu1 2>/dev/null"
t_eq "the final file says the worker is down" 0 "$(get "$PROM" 'turnq_worker_up{machine="gpu1"}')"
t_eq "the final file keeps the counters" 3 "$(get "$PROM" 'turnq_experiments_total{machine="gpu1",outcome="done"}')"
t_ok "the final file parses" $PC "$PROM"
h_worker_start gpu1 --metrics-file "$PROM" --metrics-interval 0.2
h_worker_ready gpu1 || t_fail "worker gpu1 restarts"
{ job c1 gpu1; job c2 gpu1; } >"$T/in2.jsonl"
h_disp submit "$T/in2.jsonl" >/dev/null && h_disp wait --timeout 30 2>/dev/null
h_disp metrics >"$T/m2.txt"
t_eq "after a restart, done on gpu1 goes on from Redis: 3 + 2" 5 \
  "$(get "$T/m2.txt" 'turnq_experiments_total{machine="gpu1",outcome="done"}')"
t_ok "  ... and the restarted worker's file says so" \
  h_wait 10 "[ \"\$($PC --get '$PROM' 'turnq_experiments_total{machine=\"gpu1\",outcome=\"done\"}')\" = 5 ]"
t_eq "  ... with the worker up again" 1 "$(get "$PROM" 'turnq_worker_up{machine="gpu1"}')"

# ---- a metrics key of the wrong type ----
h_cli set "$NS:metrics:gpu2" "not a hash" >/dev/null
job d1 gpu2 >"$T/in3.jsonl"
h_disp submit "$T/in3.jsonl" >/dev/null && h_disp wait --timeout 30 2>/dev/null
t_eq "a broken metrics key costs no experiment: d1 done" done "$(h_cli hget "$NS:job:d1" state)"
t_eq "  ... its turns all committed" 3 "$(h_cli hget "$NS:job:d1" turn)"
h_disp metrics >"$T/m3.txt"
t_eq "  ... dispatcher metrics still exits 0" 0 $?
t_ok "  ... and parses" $PC "$T/m3.txt"
t_eq "  ... gpu2's counters read as 0" 0 "$(get "$T/m3.txt" 'turnq_experiments_total{machine="gpu2",outcome="done"}')"
t_eq "  ... gpu1's are intact" 5 "$(get "$T/m3.txt" 'turnq_experiments_total{machine="gpu1",outcome="done"}')"
t_eq "  ... the key is left as it was" "not a hash" "$(h_cli get "$NS:metrics:gpu2")"

# ---- the checker itself rejects what it must ----
printf 'x_total 1\n' >"$T/bad1.prom"
printf '# HELP h H\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' >"$T/bad2.prom"
printf '# HELP g G\n# TYPE g gauge\ng{id="A1"} 1\n' >"$T/bad3.prom"
for f in bad1 bad2 bad3; do
  t_ok "promcheck refuses $f (no TYPE / not cumulative / an id label)" bash -c "! $PC '$T/$f.prom' 2>/dev/null"
done
exit $((H_FAILS > 0))
