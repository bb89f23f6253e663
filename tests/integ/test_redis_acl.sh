#!/usr/bin/env bash
# test_redis_acl: turnq on a Redis with `requirepass` and an ACL user limited to the namespace's
# keys, as the README ("Redis beyond one box") tells users to set it up:
#   ACL SETUSER turnq reset on >PASSWORD ~NS:* +@all -@dangerous +role +client|unblock
# Covers common/redisurl.c (redis://user:password@host:port/db), common/rcmd.c and
# common/rconn.c (AUTH user password), dispatcher/disp.c (NOPERM exits 3):
#   - a worker and the dispatcher, as that user, run a 3-experiment sweep to the end (submit,
#     status, wait, results); Redis's ACL LOG shows no denial: every command and every key the
#     Lua scripts touch is allowed by the recipe;
#   - redis-cli -u redis://turnq:PASSWORD@... reads the keys as the README shows; KEYS (dangerous)
#     is refused, --scan works;
#   - a wrong password: the dispatcher exits 3 naming AUTH/WRONGPASS, the worker logs it and
#     keeps retrying (it never exits over Redis);
#   - a user without the namespace's keys: the dispatcher exits 3 with Redis's NOPERM text, the
#     worker logs NOPERM;
#   - no password (right or wrong) appears in any output or log.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/invariant.sh"
NS=$TURNQ_NAMESPACE
ADMIN="adm-$RANDOM-$$"
PW="pw-$RANDOM$RANDOM-turnq"
BADPW="bad-$RANDOM$RANDOM-guess"
PW2="pw2-$RANDOM$RANDOM-other"
export REDISCLI_AUTH=$ADMIN # the harness's redis-cli calls (and inv_check) as the default user
H_REDIS_EXTRA="requirepass $ADMIN"
h_redis_start || exit 1
unset TURNQ_REDIS
T=$H_DIR
URL="redis://turnq:$PW@127.0.0.1:$H_REDIS_PORT/0"

t_eq "redis: the default user needs the password" "NOAUTH" \
  "$(REDISCLI_AUTH='' redis-cli -p "$H_REDIS_PORT" ping 2>&1 | grep -o NOAUTH | head -1)"
t_eq "ACL SETUSER turnq (the README recipe)" OK \
  "$(h_cli ACL SETUSER turnq reset on ">$PW" "~$NS:*" '+@all' '-@dangerous' '+role' '+client|unblock')"
t_eq "ACL SETUSER other (keys of another namespace only)" OK \
  "$(h_cli ACL SETUSER other reset on ">$PW2" '~elsewhere:*' '+@all' '-@dangerous' '+role' '+client|unblock')"
h_cli ACL LOG RESET >/dev/null

# ---- a sweep as the ACL user ----
h_sim_start a1 --actions 1 --latency-ms 20 || exit 1
TOOL='{"type":"function","function":{"name":"probe","description":"look","parameters":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}}}'
inv_jobs X 3 2 "\"tools\": [$TOOL]" >"$T/jobs.jsonl"
TURNQ_REDIS=$URL h_worker_start a1 --slots 2 --steal
t_ok "worker (user turnq) holds the machine" h_worker_ready a1 15
RC=0; TURNQ_REDIS=$URL h_disp submit --machines a1 "$T/jobs.jsonl" >"$T/submit.out" 2>&1 || RC=$?
t_eq "submit as user turnq exits 0" 0 "$RC"
RC=0; TURNQ_REDIS=$URL h_disp wait --timeout 30 >"$T/wait.out" 2>&1 || RC=$?
t_eq "wait as user turnq exits 0" 0 "$RC"
RC=0; TURNQ_REDIS=$URL h_disp status >"$T/status.out" 2>&1 || RC=$?
t_eq "status as user turnq exits 0" 0 "$RC"
RC=0; TURNQ_REDIS=$URL h_disp results >"$T/results.out" 2>&1 || RC=$?
t_eq "results as user turnq exits 0" 0 "$RC"
t_eq "results: 3 done" 3 "$(jq -r 'select(.status == "done") | .id' "$T/results.out" 2>/dev/null | wc -l)"
inv_check acl 0 "$SIM_LOG_a1" >"$T/inv.out"; t_ok "invariant (nothing lost, nothing run twice)" [ $? -eq 0 ]
grep '^FAIL' "$T/inv.out"
# The operating commands' scripts too: cancel a queued experiment, retry it, recover a machine.
echo '{"id": "Y1", "model": "qwen3:8b", "turns": ["t1"], "machine": "nobox"}' >"$T/pinned.json"
RC=0; TURNQ_REDIS=$URL h_disp submit "$T/pinned.json" >>"$T/submit.out" 2>&1 || RC=$?
t_eq "submit a job pinned to a machine without worker" 0 "$RC"
RC=0; TURNQ_REDIS=$URL h_disp cancel Y1 >"$T/cancel.out" 2>&1 || RC=$?
t_eq "cancel as user turnq exits 0" 0 "$RC"
RC=0; TURNQ_REDIS=$URL h_disp recover --machines nobox >"$T/recover.out" 2>&1 || RC=$?
t_eq "recover as user turnq exits 0" 0 "$RC"
t_eq "ACL LOG: no denial for the recipe's user" 0 "$(h_cli ACL LOG | grep -c .)"
t_ok "CLIENT LIST shows the worker's connections as user turnq" \
  bash -c "redis-cli -p $H_REDIS_PORT client list | grep 'name=turnq-worker-a1-cmd' | grep -q 'user=turnq'"

# ---- redis-cli as the ACL user (the README's inspection recipes) ----
RC=0; out=$(redis-cli -u "$URL" --no-auth-warning lrange "$NS:turns:X1" 0 -1 2>&1) || RC=$?
t_eq "redis-cli -u as user turnq: lrange works" 2 "$(grep -c '"turn"' <<<"$out")"
t_eq "redis-cli -u as user turnq: hget works" done "$(REDISCLI_AUTH='' redis-cli -u "$URL" --no-auth-warning hget "$NS:job:X2" state)"
t_eq "redis-cli as user turnq: --user/--pass work too" done \
  "$(REDISCLI_AUTH=$PW redis-cli -p "$H_REDIS_PORT" --user turnq hget "$NS:job:X3" state 2>/dev/null)"
t_ok "redis-cli as user turnq: KEYS is refused (dangerous)" \
  bash -c "REDISCLI_AUTH='' redis-cli -u '$URL' --no-auth-warning keys '$NS:*' 2>&1 | grep -q NOPERM"
t_ok "redis-cli as user turnq: --scan lists the namespace" \
  bash -c "REDISCLI_AUTH='' redis-cli -u '$URL' --no-auth-warning --scan --pattern '$NS:job:*' | grep -q '$NS:job:X1'"
t_ok "redis-cli as user turnq: another namespace's keys are refused" \
  bash -c "REDISCLI_AUTH='' redis-cli -u '$URL' --no-auth-warning get other:x 2>&1 | grep -q NOPERM"

# ---- a wrong password ----
BADURL="redis://turnq:$BADPW@127.0.0.1:$H_REDIS_PORT/0"
RC=0; TURNQ_REDIS=$BADURL h_disp status >"$T/bad-status.out" 2>"$T/bad-status.err" || RC=$?
t_eq "wrong password: status exits 3" 3 "$RC"
t_ok "wrong password: the error names AUTH and WRONGPASS" grep -q 'AUTH failed: WRONGPASS' "$T/bad-status.err"
t_ok "wrong password: the error shows the redacted address" grep -q "redis://turnq:\*\*\*@127.0.0.1:$H_REDIS_PORT/0" "$T/bad-status.err"
RC=0; h_disp --redis "$BADURL" submit --machines a1 "$T/jobs.jsonl" >"$T/bad-submit.out" 2>&1 || RC=$?
t_eq "wrong password: submit (flag form) exits 3" 3 "$RC"
"$H_BIN/worker" --machine bad1 --ollama "$SIM_URL_a1" --redis "$BADURL" >"$T/worker-badpw.log" 2>&1 &
BADW=$!; H_PIDS+=("$BADW")
t_ok "wrong password: the worker logs AUTH failed with WRONGPASS" \
  h_wait 10 "grep -q 'AUTH failed.*WRONGPASS' '$T/worker-badpw.log'"
t_ok "wrong password: the worker keeps retrying (does not exit)" kill -0 "$BADW"
kill "$BADW"; h_wait 5 "! kill -0 $BADW"

# ---- a user without the namespace's keys ----
OTHER="redis://other:$PW2@127.0.0.1:$H_REDIS_PORT/0"
RC=0; TURNQ_REDIS=$OTHER h_disp status >"$T/noperm-status.out" 2>"$T/noperm-status.err" || RC=$?
t_eq "no permission on the namespace: status exits 3" 3 "$RC"
t_ok "no permission: Redis's NOPERM text is surfaced" grep -q 'NOPERM' "$T/noperm-status.err"
t_ok "no permission: the error names the namespace" grep -q "namespace $NS" "$T/noperm-status.err"
RC=0; TURNQ_REDIS=$OTHER h_disp submit --machines a1 "$T/jobs.jsonl" >"$T/noperm-submit.out" 2>"$T/noperm-submit.err" || RC=$?
t_eq "no permission: submit exits 3" 3 "$RC"
t_ok "no permission: submit says NOPERM" grep -q NOPERM "$T/noperm-submit.err"
"$H_BIN/worker" --machine np1 --ollama "$SIM_URL_a1" --redis "$OTHER" >"$T/worker-noperm.log" 2>&1 &
NPW=$!; H_PIDS+=("$NPW")
t_ok "no permission: the worker logs NOPERM" h_wait 10 "grep -q 'NOPERM' '$T/worker-noperm.log'"
t_eq "no permission: the worker wrote nothing in the namespace" 0 "$(h_cli exists "$NS:worker:np1")"
kill "$NPW"; h_wait 5 "! kill -0 $NPW"

# ---- no password anywhere ----
leaks=$(grep -l -e "$PW" -e "$BADPW" -e "$PW2" "$T"/*.log "$T"/*.out "$T"/*.err 2>/dev/null | xargs -r -n1 basename | tr '\n' ' ')
t_eq "no password in any output or log" "" "$leaks"
[ "$H_FAILS" -eq 0 ]
