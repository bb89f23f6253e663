#!/usr/bin/env bash
# test_watch: `dispatcher watch` (dispatcher/watch.c), black-box with redis-server, two slow
# ollama-sim boxes (300 ms a call) and a worker beside each, two 4-turn experiments per machine.
# Checks:
#  - `watch --once` while experiments run: exit 0, a line per machine (up), the running
#    experiment with "turn K of 4" as the heartbeat has it, the last line "total: D/4 done, ...";
#    written to a pipe, it has no escape codes;
#  - `watch --until-done` (not a terminal): prints lines only when they change (never the same
#    total line twice in a row), exits 0 when all are done, last line "total: 4/4 done";
#    with a failed experiment it exits 1, as wait does;
#  - --sweep FILE counts only that file's experiments; --once prints no redraw note; plain slot
#    lines name their machine ("gpu1 w1: turn 2 of 4, ...");
#  - a frame is one moment: busy slots are the running list's ids, a stale heartbeat's slot of
#    an ended experiment is not shown, a claim not yet in the heartbeat shows as starting (fake
#    machine); an unregistered machine shows only while work waits or runs on it;
#  - SIGINT ends a running watch at once with exit 0;
#  - on a terminal (a pty): the alternate screen and a hidden cursor, a redraw with home and
#    erase codes, and on SIGTERM exit 0 with the terminal restored (cursor shown, screen left);
#  - bad flags exit 2.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
NS=$TURNQ_NAMESPACE
T=$H_DIR
h_sim_start gpu1 --latency-ms 300 --actions 0 || exit 1
h_sim_start gpu2 --latency-ms 300 --actions 0 || exit 1
h_worker_start gpu1
h_worker_start gpu2
h_worker_ready gpu1 && h_worker_ready gpu2 || { t_fail "workers up" "no heartbeat"; exit 1; }

job() { echo "{\"id\":\"$1\",\"model\":\"${3:-qwen3:8b}\",\"turns\":[\"p1\",\"p2\",\"p3\",\"p4\"],\"machine\":\"$2\"}"; }
{ job w1 gpu1; job w2 gpu1; job w3 gpu2; job w4 gpu2; } >"$T/in.jsonl"
h_disp submit "$T/in.jsonl" >/dev/null || { t_fail "submit"; exit 1; }

# A moment when both machines run something at turn 1 or later.
running() { h_disp status --json | jq -e '[.machines[] | select((.current | length) > 0 and .current[0].turn >= 1)] | length == 2' >/dev/null; }
h_wait 15 running || t_fail "both machines run an experiment"
h_disp watch --once >"$T/once.txt" 2>"$T/once.err"
t_eq "watch --once exits 0" 0 $?
h_disp status --json >"$T/status.json"
t_ok "no escape codes when stdout is not a terminal" bash -c "! grep -q \$'\\x1b' '$T/once.txt'"
for m in gpu1 gpu2; do
  t_ok "a line for $m, up" grep -q "^$m: up" "$T/once.txt"
done
# The experiment each machine runs: the one the heartbeat named just before or after the frame.
for m in gpu1 gpu2; do
  ids=$(sed -n "s/^$m \\(w[1-4]\\): turn [1-4] of 4, .*/\\1/p" "$T/once.txt")
  t_ok "$m: the running experiment with turn k of 4" test -n "$ids"
  case $m in gpu1) want='^w[12]$' ;; gpu2) want='^w[34]$' ;; esac
  t_ok "$m: it is one of $m's experiments ($ids)" bash -c "[[ '$ids' =~ $want ]]"
done
t_ok "the last line is done/total" bash -c "tail -n 1 '$T/once.txt' | grep -qE '^total: [0-4]/4 done, 0 failed'"
t_ok "--once: a head line without the redraw note" \
  bash -c "head -n 1 '$T/once.txt' | grep -qE '^turnq watch: namespace $NS, [0-9T:.-]+Z$'"
t_ok "the last line has an ETA or says why not" bash -c "tail -n 1 '$T/once.txt' | grep -qE 'ETA'"

# --until-done while the rest runs: changed lines only, exit 0, ends 4/4.
timeout 30 "$H_BIN/dispatcher" watch --until-done --interval 0.3 >"$T/until.txt" 2>&1
t_eq "watch --until-done exits 0 when all are done" 0 $?
t_ok "  ... its last line is total: 4/4 done" bash -c "tail -n 1 '$T/until.txt' | grep -q '^total: 4/4 done, 0 failed'"
t_ok "  ... no escape codes" bash -c "! grep -q \$'\\x1b' '$T/until.txt'"
t_eq "  ... no line printed twice in a row (changes only)" "" "$(uniq -d "$T/until.txt")"
t_ok "  ... it showed progress (more than one total line)" test "$(grep -c '^total: ' "$T/until.txt")" -ge 2
t_ok "  ... each slot line names its machine (gpu1 w1: turn k of 4)" grep -qE '^gpu[12] w[1-4]: (turn [1-4] of 4|starting), ' "$T/until.txt"
t_ok "  ... and no slot line without it" bash -c "! grep -qE '^ +w[1-4]:' '$T/until.txt'"

printf '%s\n' "$(job w1 gpu1)" "$(job w3 gpu2)" >"$T/part.jsonl"
t_ok "--sweep FILE counts only its experiments" \
  bash -c "'$H_BIN/dispatcher' watch --once --sweep '$T/part.jsonl' | tail -n 1 | grep -q '^total: 2/2 done'"

# A failed experiment: --until-done exits 1.
job bad gpu2 nosuch:1b >"$T/bad.jsonl"
h_disp submit --allow-mixed-digests "$T/bad.jsonl" >/dev/null
timeout 30 "$H_BIN/dispatcher" watch --until-done --interval 0.3 >"$T/until2.txt" 2>&1
t_eq "watch --until-done exits 1 when one failed" 1 $?
t_ok "  ... its last line says so" bash -c "tail -n 1 '$T/until2.txt' | grep -q '^total: 4/5 done, 1 failed'"

# SIGINT on a running watch: exit 0 soon.
"$H_BIN/dispatcher" watch --interval 5 >"$T/int.txt" 2>&1 &
wp=$!
h_wait 5 "[ -s '$T/int.txt' ]"
kill -INT "$wp"
t_ok "SIGINT ends watch within 2 s" h_wait 2 "! kill -0 $wp 2>/dev/null"
wait "$wp"
t_eq "  ... with exit 0" 0 $?

# On a terminal: a pty.
python3 - "$H_BIN/dispatcher" >"$T/pty.txt" 2>&1 <<'EOF'
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "watch", "--interval", "0.3"])
out, end, killed = b"", time.time() + 5, False
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not killed and out.count(b"\x1b[H") >= 2:
        os.kill(pid, signal.SIGTERM)
        killed = True
_, status = os.waitpid(pid, 0)
print("exit", os.WEXITSTATUS(status) if os.WIFEXITED(status) else "signal")
print("alt", b"\x1b[?1049h\x1b[?25l" in out)
print("redraws", out.count(b"\x1b[H"))
print("erase", b"\x1b[K" in out and b"\x1b[J" in out)
tail = out[out.rfind(b"\x1b[?25h"):] if b"\x1b[?25h" in out else b""
print("restored", tail.startswith(b"\x1b[?25h\x1b[?1049l"))
print("after", b"total: " in tail)
EOF
t_ok "tty: exits 0 on SIGTERM" grep -qx 'exit 0' "$T/pty.txt"
t_ok "tty: alternate screen, cursor hidden" grep -qx 'alt True' "$T/pty.txt"
t_ok "tty: redrawn in place (home, erase line, erase below)" grep -qx 'erase True' "$T/pty.txt"
t_ok "tty: terminal restored on exit (cursor shown, screen left)" grep -qx 'restored True' "$T/pty.txt"
t_ok "tty: the last frame stays on the normal screen" grep -qx 'after True' "$T/pty.txt"

# One frame is one moment: busy slots are the running list's, whatever a heartbeat a moment old
# still says. A fake machine fk whose heartbeat shows X at turn 4 of 4, though X has ended and
# left the running list, and does not show Y, claimed since: X is not shown, Y is starting.
NSF=${NS}_fake
h_cli hset "$NSF:job:X" state done machine fk turn 4 spec '{"id":"X","model":"m","turns":4}' >/dev/null
h_cli hset "$NSF:job:Y" state queued machine fk turn 0 spec '{"id":"Y","model":"m","turns":4}' >/dev/null
h_cli zadd "$NSF:ids" 1 X 2 Y >/dev/null
h_cli sadd "$NSF:machines" fk >/dev/null
h_cli lpush "$NSF:running:fk" Y >/dev/null
h_cli lpush "$NSF:queue:fk" Z1 Z2 >/dev/null
h_cli set "$NSF:worker:fk" '{"machine":"fk","slots":1,"busy":1,"running":[{"id":"X","turn":4,"turns":4,"calls":4}],"ollama":null}' EX 60 >/dev/null
TURNQ_NAMESPACE=$NSF h_disp watch --once >"$T/fake.txt" 2>&1
t_ok "a stale heartbeat: the machine line counts the running list" grep -q '^fk: up, ollama unreachable, 1/1 slots busy; queued 2, running 1, done 1' "$T/fake.txt"
t_ok "  ... the ended experiment has no slot line" bash -c "! grep -q '^fk X:' '$T/fake.txt'"
t_ok "  ... the claimed one shows as starting" grep -q '^fk Y: starting, 0 calls, model m' "$T/fake.txt"
# A machine that is not registered shows while work waits on it, not for what ended there.
h_cli srem "$NSF:machines" fk >/dev/null
h_cli del "$NSF:worker:fk" "$NSF:running:fk" "$NSF:queue:fk" >/dev/null
h_cli hset "$NSF:job:Y" state done >/dev/null
TURNQ_NAMESPACE=$NSF h_disp watch --once >"$T/fake2.txt" 2>&1
t_ok "an unregistered machine with only ended experiments is not shown" bash -c "! grep -q '^fk' '$T/fake2.txt'"
t_ok "  ... they still count in the total" grep -q '^total: 2/2 done' "$T/fake2.txt"

h_disp watch --interval 0 >/dev/null 2>"$T/bad.err"
t_eq "--interval 0 is a usage error (exit 2)" 2 $?
h_disp watch --sweep "$T/nonexistent.json" --once >/dev/null 2>"$T/bad2.err"
t_eq "--sweep of a missing file: exit 2" 2 $?
t_ok "  ... naming it" grep -q "nonexistent.json" "$T/bad2.err"

# What a heartbeat reports comes from elsewhere: a line break in Ollama's version string (or an
# escape code) stays on the machine's one line.
h_sim_start odd --version-string $'0.1\n\033[2J2' || exit 1
h_worker_start odd
h_worker_ready odd || t_fail "odd worker up"
"$H_BIN/dispatcher" watch --once >"$T/odd.txt" 2>&1
t_ok "a version with a line break: one line for the machine" grep -q '^odd: up.*ollama 0\.1 .*2' "$T/odd.txt"
t_ok "  ... and no escape code reaches the output" bash -c "! grep -q \$'\\033' '$T/odd.txt'"
"$H_BIN/dispatcher" status >"$T/odd-status.txt" 2>&1
t_ok "status too: no escape code from a heartbeat" bash -c "! grep -q \$'\\033' '$T/odd-status.txt'"
exit $((H_FAILS > 0))
