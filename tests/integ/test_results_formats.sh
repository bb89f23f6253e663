#!/usr/bin/env bash
# test_results_formats: `dispatcher results --format jsonl|csv [--sweep FILE]` and
# `--transcript ID` (dispatcher/results.c, transcript.c, common/csv.c, numfmt.c) on a small real
# sweep: a 4 x 2 grid whose params hold commas, quotes and line breaks, an experiment that fails,
# one that stays queued (pinned to a machine without a worker), one with a long prompt. Checks
# the CSV with Python's csv module (one row per experiment, the fixed columns, param.* columns,
# values exact, CRLF records), with pandas when it is importable (SKIP otherwise), every JSON
# Lines line with Python's json, --sweep (expansion order, grid columns, missing experiments, a
# file edited since it was submitted: rows as they ran and one warning line),
# the default format unchanged, and the transcript (turn headers, roles, tool calls and results,
# the cut of long contents, --full, the final answer, unknown ids).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
h_sim_start gpu1 --actions 1 || exit 1
h_worker_start gpu1
D=$H_BIN/dispatcher
T=$H_DIR
NS=$TURNQ_NAMESPACE
run() { RC=0; "$D" "$@" >"$T/out" 2>"$T/err" || RC=$?; }

cat >"$T/rg.json" <<'JSON'
{
  "base": {"model": "qwen3:8b", "turns": ["Say: a, \"b\"\nc"], "params": {"group": "G"},
           "tools": [{"type": "function", "function": {"name": "restock", "parameters": {"type": "object",
                      "properties": {"item": {"type": "string"}}, "required": ["item"]}}}]},
  "grid": {"params.note": ["plain", "comma, here", "quote \"q\"", "line\nbreak"], "options.temperature": [0.2, 1.0]}
}
JSON
LONG=$(python3 -c 'print("x" * 2500 + "END")')
cat >"$T/extra.json" <<JSON
[{"id": "F1", "model": "qwen3:8b", "turns": 2, "machine": "gpu1", "params": {"note": "fails"}},
 {"id": "Q1", "model": "qwen3:8b", "turns": ["q"], "machine": "gpu9", "params": {"note": "queued", "n": 0.1}},
 {"id": "L1", "model": "qwen3:8b", "turns": ["$LONG"], "machine": "gpu1", "params": {"note": "long"}}]
JSON
python3 - "$T/extra.json" "$T/missing.json" <<'PY'
import json, sys
jobs = json.load(open(sys.argv[1]))
jobs.append({"id": "M1", "model": "qwen3:8b", "turns": ["m"], "params": {"note": "never submitted"}})
json.dump(jobs, open(sys.argv[2], "w"))
PY

run submit --machines gpu1 "$T/rg.json" "$T/extra.json"
t_eq "submit: exit 0" 0 "$RC"
t_eq "submit: 11 experiments" "11 experiments: 11 queued, 0 unchanged" "$(tail -n1 "$T/out")"
ended() {
  local n=0 id
  for id in $(h_cli zrange "$NS:ids" 0 -1); do
    case $(h_cli hget "$NS:job:$id" state) in done|failed) n=$((n + 1)) ;; esac
  done
  echo "$n"
}
t_ok "the 10 runnable experiments end" h_wait 30 '[ "$(ended)" = 10 ]'
GRID_IDS=$(h_cli zrange "$NS:ids" 0 7 | tr '\n' ' ' | sed 's/ $//')

# ---- CSV over every experiment ----
run results --format csv
t_eq "csv: exit 0" 0 "$RC"
cp "$T/out" "$T/all.csv"
t_ok "csv: records end with CRLF" python3 -c '
import sys; b = open(sys.argv[1], "rb").read()
assert b.startswith(b"id,status,") and b.endswith(b"\r\n") and b.count(b"\r\n") >= 12, b[:80]' "$T/all.csv"
t_ok "csv: loads with the csv module, one row per experiment, exact values" python3 - "$T/all.csv" "$GRID_IDS" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
header = list(rows[0].keys())
fixed = "id,status,machine,model,model_digest,attempts,turns,calls,actions,prompt_tokens,eval_tokens,duration_ms,error".split(",")
assert header == fixed + ["param.group", "param.n", "param.note", "param.options.temperature"], header  # the grid field, recorded at submit
assert len(rows) == 11, len(rows)
assert [r["id"] for r in rows[:8]] == sys.argv[2].split(), [r["id"] for r in rows]
by = {r["id"]: r for r in rows}
notes = sorted(r["param.note"] for r in rows[:8])
assert notes == sorted(["plain", "comma, here", 'quote "q"', "line\nbreak"] * 2), notes
for r in rows[:8]:
    assert (r["status"], r["machine"], r["turns"], r["calls"], r["actions"]) == ("done", "gpu1", "1", "2", "1"), r
    assert r["param.group"] == "G" and r["model"] == "qwen3:8b" and len(r["model_digest"]) == 64, r
    assert int(r["prompt_tokens"]) > 0 and r["error"] == "" and r["param.n"] == "", r
f = by["F1"]
assert f["status"] == "failed" and "no prompt" in f["error"] and f["turns"] == "0", f
q = by["Q1"]
assert (q["status"], q["machine"], q["turns"], q["model_digest"], q["param.n"]) == ("queued", "gpu9", "", "", "0.1"), q
assert by["L1"]["status"] == "done", by["L1"]
PY

# pandas comes from Debian's python3-pandas (tests/deps.sh), in the system's python3, which may
# not be the first python3 on PATH; skip loudly when neither has it.
PD_PY=
for py in python3 /usr/bin/python3; do
  "$py" -c 'import pandas' 2>/dev/null && { PD_PY=$py; break; }
done
if [ -n "$PD_PY" ]; then
  t_ok "csv: pandas reads it, params as columns" "$PD_PY" - "$T/all.csv" <<'PY'
import sys, pandas as pd
df = pd.read_csv(sys.argv[1], keep_default_na=False)
assert df.shape[0] == 11 and "param.note" in df.columns, df.shape
assert set(df["status"]) == {"done", "failed", "queued"}, set(df["status"])
assert (df["param.note"] == "line\nbreak").sum() == 2
PY
else
  echo "SKIP: csv: pandas reads it (pandas is not installed)"
fi

# ---- CSV of a sweep file: its experiments in its order, its grid fields as columns ----
run results --format csv --sweep "$T/rg.json"
t_eq "csv sweep: exit 0" 0 "$RC"
t_ok "csv sweep: the grid's 8 in expansion order, param.options.temperature" python3 - "$T/out" "$GRID_IDS" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert [r["id"] for r in rows] == sys.argv[2].split(), [r["id"] for r in rows]
assert list(rows[0].keys())[13:] == ["param.group", "param.note", "param.options.temperature"], list(rows[0].keys())
assert [r["param.options.temperature"] for r in rows] == ["0.2", "1.0"] * 4, [r["param.options.temperature"] for r in rows]
assert [r["param.note"] for r in rows[::2]] == ["plain", "comma, here", 'quote "q"', "line\nbreak"]
PY
run results --format csv --sweep "$T/missing.json"
t_ok "csv sweep: failed, queued and never-submitted experiments" python3 - "$T/out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert [(r["id"], r["status"]) for r in rows] == [("F1", "failed"), ("Q1", "queued"), ("L1", "done"), ("M1", "missing")], rows
m = rows[3]
assert (m["machine"], m["model"], m["param.note"], m["attempts"]) == ("", "qwen3:8b", "never submitted", ""), m
PY

# ---- JSON Lines ----
run results --format jsonl
t_eq "jsonl: exit 0" 0 "$RC"
t_ok "jsonl: every line parses, one per experiment, each with a status" python3 - "$T/out" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "no newline after the last record"
recs = [json.loads(l) for l in lines[:-1]]
assert len(recs) == 11, len(recs)
st = {r["id"]: r["status"] for r in recs}
assert st["F1"] == "failed" and st["Q1"] == "queued" and st["L1"] == "done", st
q = [r for r in recs if r["id"] == "Q1"][0]
assert q == {"id": "Q1", "status": "queued", "machine": "gpu9", "model": "qwen3:8b", "attempts": 0,
             "params": {"note": "queued", "n": 0.1}, "error": None}, q
done = [r for r in recs if r["status"] == "done"]
assert all(r["totals"]["calls"] >= 1 and r["turns"] for r in done)
PY
t_ok "jsonl: jq reads it too" bash -c "jq -e -s 'length == 11' '$T/out' >/dev/null"
run results --format jsonl --sweep "$T/missing.json"
t_eq "jsonl sweep: the missing one" '{"id":"M1","status":"missing","machine":null,"model":"qwen3:8b","attempts":null,"params":{"note":"never submitted"},"error":null}' \
  "$(tail -n1 "$T/out")"

# ---- a sweep file edited since it was submitted: the rows as they ran, one warning ----
t_eq "jsonl sweep: the file as submitted: no warning" "" "$(cat "$T/err")"
cp "$T/out" "$T/missing.jsonl"
python3 - "$T/missing.json" "$T/edited.json" <<'PY'
import json, sys
jobs = json.load(open(sys.argv[1]))
for j in jobs:
    if j["id"] in ("Q1", "L1"):
        j["params"]["note"] += " (edited)"
jobs[-1]["params"]["note"] += " (edited, never submitted either)"
json.dump(jobs, open(sys.argv[2], "w"))
PY
run results --format jsonl --sweep "$T/edited.json"
t_eq "edited sweep: exit 0" 0 "$RC"
t_eq "edited sweep: the submitted rows as they ran" "$(head -n 3 "$T/missing.jsonl")" "$(head -n 3 "$T/out")"
t_eq "edited sweep: one warning line naming how many and which" \
  "dispatcher: warning: results: --sweep $T/edited.json: 2 experiments of the file differ from the spec submitted under their ids (Q1, L1): what is shown ran with the submitted spec (submit --force replaces ended ones)" \
  "$(cat "$T/err")"
run results --format csv --sweep "$T/edited.json"
t_ok "edited sweep, csv: the same warning" grep -q 'warning: results: .* 2 experiments of the file differ' "$T/err"
run results --sweep "$T/edited.json"
t_ok "edited sweep, default format: the same warning" grep -q 'warning: results: .* 2 experiments of the file differ' "$T/err"

# ---- the default format is as it was ----
run results Q1 F1
t_eq "default: a queued one" '{"id":"Q1","state":"queued"}' "$(head -n1 "$T/out")"
t_eq "default: an ended one is its result" failed "$(tail -n1 "$T/out" | jq -r .status)"

# ---- transcript ----
first=${GRID_IDS%% *}
run results --transcript "$first"
t_eq "transcript: exit 0" 0 "$RC"
t_ok "transcript: header" grep -qE "^experiment $first: done on gpu1 \(model qwen3:8b, 1 of 1 turn committed, 1 attempt\)$" "$T/out"
t_ok "transcript: turn line" grep -qE '^-- turn 1 \(answer\): 2 calls, 1 action, [0-9]+ prompt \+ [0-9]+ eval tokens, [0-9.]+ s, on gpu1$' "$T/out"
t_ok "transcript: the prompt, its second line indented" \
  bash -c "grep -qx 'user: Say: a, \"b\"' '$T/out' && grep -qx '    c' '$T/out'"
t_ok "transcript: the tool call with its arguments" grep -qE '^assistant calls restock \(call id [^)]+\): \{"item":"[^"]+"\}$' "$T/out"
t_ok "transcript: the tool result" grep -qE "^tool restock \(call id [^)]+\): .*no environment" "$T/out"
t_ok "transcript: the model's answer" grep -qE '^assistant: After 1 tool call, here is my answer' "$T/out"
t_ok "transcript: the final answer" grep -qE '^== final answer \(turn 1\): After 1 tool call' "$T/out"

run results --transcript L1
t_ok "transcript: a long content is cut, with a note" grep -qE '^    \[\.\.\. 50[0-9] more bytes cut; --full prints everything\]$' "$T/out"
t_ok "transcript: ... and the cut part is not printed" bash -c "! grep -q 'xEND' '$T/out'"
run results --transcript L1 --full
t_ok "transcript --full: all of it" bash -c "grep -q 'x\{2500\}END' '$T/out' && ! grep -q 'more bytes cut' '$T/out'"

run results --transcript F1
t_ok "transcript: a failed one says so" bash -c "grep -q '^error: .*no prompt' '$T/out' && grep -qx '== failed, no final answer' '$T/out'"
run results --transcript Q1
t_ok "transcript: a queued one" bash -c "grep -qx '(no committed turns yet)' '$T/out' && grep -qx '== queued: not ended yet' '$T/out'"

# ---- usage errors: exit 2, one line, nothing on stdout ----
usage() { # NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  run results "$@"
  t_eq "usage $name: exit 2" 2 "$RC"
  t_ok "usage $name: message" grep -qE -- "$pat" "$T/err"
  t_eq "usage $name: nothing printed" 0 "$(wc -c <"$T/out" | tr -d ' ')"
}
usage format "--format: must be jsonl or csv, not 'xml'" --format xml
usage both "name ids or give --sweep FILE, not both" --sweep "$T/rg.json" Q1
usage nofile "^dispatcher: results: --sweep $T/nope.json: No such file" --sweep "$T/nope.json"
usage unknown-transcript "unknown experiment id NOPE" --transcript NOPE
usage transcript-and-ids "results --transcript ID prints one experiment" --transcript Q1 F1
usage unknown-id "unknown experiment id NOPE" --format csv NOPE

[ "$H_FAILS" -eq 0 ]
