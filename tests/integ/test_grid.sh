#!/usr/bin/env bash
# test_grid: parameter grid files through `dispatcher submit` against a throwaway Redis
# (common/grid.c, common/job.c, dispatcher/submit.c). Covers: a 3 x 4 grid gives 12 experiments
# with the template's ids, in expansion order (first field outermost) in NS:ids, numbers spelt as
# the file writes them; the per-machine counts; resubmitting adds nothing and says so; a changed
# base is refused naming the ids and changes nothing; --force is refused while they are queued
# and replaces them (keys reset, queued afresh) once they have ended; --dry-run writes nothing and
# lists what each combination sets; default ids (no template) are slug+hash, the same across
# runs and field orders; bad grids (invalid id from a template, too many combinations, unknown
# field) exit 2, name the problem and write nothing; examples/grid.json expands.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_redis_start || exit 1
. "$(dirname "$0")/../lib/cli.sh"

zids() { h_cli zrange "$NS:ids" 0 -1 | tr '\n' ' ' | sed 's/ $//'; }
spec() { h_cli hget "$NS:job:$1" spec; }
field() { h_cli hget "$NS:job:$1" "$2"; }
has_err() { grep -qE -- "$1" "$T/err"; }
# all_specs: every job hash's spec, one per line, in id order (a fingerprint of the namespace)
all_specs() { for i in $(h_cli zrange "$NS:ids" 0 -1); do spec "$i"; done; }

grid() { # FILE SYSTEM-PROMPT
  cat >"$1" <<JSON
{
  "base": {"model": "qwen3:8b", "system": "$2", "turns": ["Day 1"], "params": {"group": "G"}},
  "grid": {"options.temperature": [0.2, 0.7, 1e-3], "params.variant": [1, 2, 3, 4]},
  "id": "T{options.temperature}-V{params.variant}"
}
JSON
}
grid "$T/g.json" "Be brief."
WANT="T0.2-V1 T0.2-V2 T0.2-V3 T0.2-V4 T0.7-V1 T0.7-V2 T0.7-V3 T0.7-V4 T1e-3-V1 T1e-3-V2 T1e-3-V3 T1e-3-V4"

# ---- dry run first: nothing written, the expansion listed ----
fresh g
run submit --dry-run --machines gpu1,gpu2 "$T/g.json"
t_eq "dry run: exit 0" 0 "$RC"
t_eq "dry run: nothing written" 0 "$(nkeys)"
t_eq "dry run: the ids in expansion order" "$WANT" "$(awk '$2 == "->" {print $1}' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
t_ok "dry run: each line names its machine and what it sets" \
  grep -qE '^T0\.7-V2 -> gpu[12] would be queued with options\.temperature=0\.7 params\.variant=2$' "$T/out"
t_ok "dry run: 1e-3 as the file writes it" grep -qE '^T1e-3-V4 -> gpu[12] would be queued with options\.temperature=1e-3 params\.variant=4$' "$T/out"
t_ok "dry run: per-machine line" grep -qE '^per machine: gpu1: [0-9]+, gpu2: [0-9]+$' "$T/out"
t_eq "dry run: summary" "dry run, nothing written: 12 experiments: 12 would be queued, 0 unchanged" "$(tail -n1 "$T/out")"
dry_place=$(awk '$2 == "->" {print $1, $3}' "$T/out")

# ---- submit: 12 experiments with the template's ids ----
run submit --machines gpu1,gpu2 "$T/g.json"
t_eq "submit: exit 0" 0 "$RC"
t_eq "submit: NS:ids holds the 12 ids in expansion order" "$WANT" "$(zids)"
t_eq "submit: placement as the dry run said" "$dry_place" "$(awk '$2 == "->" {print $1, $3}' "$T/out")"
n1=$(h_cli llen "$NS:queue:gpu1"); n2=$(h_cli llen "$NS:queue:gpu2")
t_eq "submit: per-machine line matches the queues" "per machine: gpu1: $n1, gpu2: $n2" "$(grep '^per machine' "$T/out")"
t_eq "submit: 12 queued in all" 12 $((n1 + n2))
t_eq "submit: summary" "12 experiments: 12 queued, 0 unchanged" "$(tail -n1 "$T/out")"
t_eq "submit: a spec is base + fields" \
  '{"id":"T0.7-V2","model":"qwen3:8b","options":{"temperature":0.69999999999999996},"params":{"group":"G","variant":2},"system":"Be brief.","turns":["Day 1"]}' \
  "$(spec T0.7-V2)"
t_eq "submit: 1e-3 is the number 0.001" 0.001 "$(spec T1e-3-V1 | jq -r .options.temperature)"
t_eq "submit: the job hash records the combination's fields" '{"options.temperature":0.69999999999999996,"params.variant":2}' \
  "$(field T0.7-V2 grid)"
hdr=$(h_disp results --format csv | head -1 | tr -d '\r' | tr ',' '\n')
t_ok "results csv without --sweep: a column per grid field" grep -qx param.options.temperature <<<"$hdr"

# ---- resubmitting adds nothing, and says so ----
keys_before=$(nkeys); xl=$(h_cli xlen "$NS:events"); specs_before=$(all_specs)
run submit --machines gpu1,gpu2 "$T/g.json"
t_eq "resubmit: exit 0" 0 "$RC"
t_ok "resubmit: says nothing is new" grep -qx 'nothing new: all 12 experiments were already submitted with the same spec' "$T/out"
t_eq "resubmit: summary" "12 experiments: 0 queued, 12 unchanged" "$(tail -n1 "$T/out")"
t_eq "resubmit: no new keys" "$keys_before" "$(nkeys)"
t_eq "resubmit: no new events" "$xl" "$(h_cli xlen "$NS:events")"
t_eq "resubmit: queues as they were" "$n1 $n2" "$(h_cli llen "$NS:queue:gpu1") $(h_cli llen "$NS:queue:gpu2")"

# ---- a changed base: refused, nothing changed ----
grid "$T/g2.json" "Be verbose."
run submit --machines gpu1,gpu2 "$T/g2.json"
t_eq "changed: exit 2" 2 "$RC"
t_ok "changed: names the ids and their state" has_err '12 experiments already submitted with a different spec: T0\.2-V1 \(state queued\), T0\.2-V2 \(state queued\)'
t_eq "changed: specs unchanged" "$specs_before" "$(all_specs)"
t_eq "changed: no new events" "$xl" "$(h_cli xlen "$NS:events")"
t_eq "changed: nothing on stdout" 0 "$(wc -c <"$T/out" | tr -d ' ')"

# ---- --force while queued: still refused, naming them ----
run submit --force --machines gpu1,gpu2 "$T/g2.json"
t_eq "force on queued: exit 2" 2 "$RC"
t_ok "force on queued: names them, only ended ones may be replaced" \
  has_err 'T0\.2-V1 \(state queued\).*--force replaces only experiments that have ended'
t_eq "force on queued: specs unchanged" "$specs_before" "$(all_specs)"

# ---- end them (as a worker would: out of the queue, state, turns, transcript, result) ----
for id in $WANT; do
  m=$(field "$id" machine)
  h_cli lrem "$NS:queue:$m" 0 "$id" >/dev/null
  h_cli hset "$NS:job:$id" state done attempts 1 turn 1 worker box:1 started_at 2026-01-01T00:00:00.000Z \
    finished_at 2026-01-01T00:00:01.000Z machines "$m" >/dev/null
  h_cli rpush "$NS:turns:$id" '{"turn":1}' >/dev/null
  h_cli rpush "$NS:transcript:$id" '[]' >/dev/null
  h_cli set "$NS:result:$id" "{\"id\":\"$id\",\"status\":\"done\"}" >/dev/null
done
h_cli hset "$NS:job:T0.2-V3" state failed error boom >/dev/null
h_cli lpush "$NS:dead" T0.2-V3 >/dev/null
h_cli hset "$NS:job:T0.7-V1" state cancelled >/dev/null

# ---- --force on ended ones: replaced and queued afresh ----
run submit --force --machines gpu1,gpu2 "$T/g2.json"
t_eq "force on ended: exit 0" 0 "$RC"
t_eq "force on ended: 12 replaced" "12 experiments: 0 queued, 0 unchanged, 12 replaced" "$(tail -n1 "$T/out")"
t_ok "force on ended: line says replaced" grep -qE '^T0\.2-V3 -> gpu[12] replaced$' "$T/out"
t_eq "force on ended: the new spec" "Be verbose." "$(spec T0.2-V3 | jq -r .system)"
t_eq "force on ended: hash reset" "attempts estimate grid interrupted machine model spec state submitted_at turn" \
  "$(h_cli hkeys "$NS:job:T0.2-V3" | sort | tr '\n' ' ' | sed 's/ $//')"
t_eq "force on ended: queued, 0 attempts, turn 0" "queued 0 0" \
  "$(field T0.7-V1 state) $(field T0.7-V1 attempts) $(field T0.7-V1 turn)"
gone=0
for id in $WANT; do
  gone=$((gone + $(h_cli exists "$NS:turns:$id" "$NS:transcript:$id" "$NS:result:$id")))
done
t_eq "force on ended: no turns, transcript or result left" 0 "$gone"
t_eq "force on ended: out of the dead list" 0 "$(h_cli llen "$NS:dead")"
t_eq "force on ended: all 12 queued again" 12 $(( $(h_cli llen "$NS:queue:gpu1") + $(h_cli llen "$NS:queue:gpu2") ))
t_eq "force on ended: still the same 12 ids" "$WANT" "$(h_cli zrange "$NS:ids" 0 -1 | tr '\n' ' ' | sed 's/ $//')"

# ---- default ids: slug + hash, stable across runs and field orders ----
cat >"$T/d1.json" <<'JSON'
{"base": {"model": "m", "turns": ["a"]},
 "grid": {"options.temperature": [0.2, 1.0], "params.variant": [1, 2, 3]}}
JSON
cat >"$T/d2.json" <<'JSON'
{"grid": {"params.variant": [1, 2, 3], "options.temperature": [0.20, 1.00]},
 "base": {"turns": ["a"], "model": "m"}}
JSON
fresh d1
run submit --machines gpu1 "$T/d1.json"
t_eq "default ids: exit 0" 0 "$RC"
ids1=$(zids)
t_ok "default ids: slug of sorted fields, then 8 hex" \
  bash -c "[[ '$ids1' =~ ^temperature-0\.2_variant-1-[0-9a-f]{8}\ temperature-0\.2_variant-2-[0-9a-f]{8} ]]"
t_ok "default ids: the documented example" grep -q '^temperature-0.2_variant-1-3face1d8 -> gpu1 queued$' "$T/out"
fresh d1again
run submit --machines gpu1 "$T/d1.json"
t_eq "default ids: the same in another run" "$ids1" "$(zids)"
fresh d2
run submit --machines gpu1 "$T/d2.json"
t_eq "default ids: same set when fields are listed in another order and spelt 0.20" \
  "$(echo "$ids1" | tr ' ' '\n' | sort)" "$(zids | tr ' ' '\n' | sort)"

# ---- bad grids: exit 2, named, nothing written ----
bad() { # NAME PATTERN CONTENT
  fresh "bad_$1"
  printf '%s\n' "$3" >"$T/bad.json"
  run submit --machines gpu1 "$T/bad.json"
  t_eq "bad $1: exit 2" 2 "$RC"
  t_ok "bad $1: message ($2)" has_err "$2"
  t_eq "bad $1: one line on stderr" 1 "$(wc -l <"$T/err" | tr -d ' ')"
  t_eq "bad $1: nothing written" 0 "$(nkeys)"
}
bad template "bad\.json: id template 'S\{system\}' gives 'Sbe brief' for combination 2 \(system=\"be brief\"\)" \
  '{"base": {"model": "m", "turns": ["a"]}, "grid": {"system": ["terse", "be brief"]}, "id": "S{system}"}'
bad collide "both get the id X1: the id template must tell every combination apart" \
  '{"base": {"model": "m", "turns": ["a"]}, "grid": {"options.seed": [1], "params.v": [1, 2]}, "id": "X{options.seed}"}'
bad field "bad\.json: grid\.temprature: unknown field 'temprature'" \
  '{"base": {"model": "m", "turns": ["a"]}, "grid": {"temprature": [0.2]}}'
bad value "bad\.json: grid combination 2 \(max_actions_per_turn=99\): max_actions_per_turn: must be an integer from 1 to 64" \
  '{"base": {"model": "m", "turns": ["a"]}, "grid": {"max_actions_per_turn": [8, 99]}}'
big=$(python3 -c 'import json; print(json.dumps({"base": {"model": "m", "turns": ["a"]}, "grid": {"params.a": list(range(400)), "params.b": list(range(300))}}))')
bad option "bad\.json: grid combination 1 \(options\.temprature=0\.1\): options\.temprature: not an option Ollama knows \(did you mean temperature\?\)" \
  '{"base": {"model": "m", "turns": ["a"]}, "grid": {"options.temprature": [0.1, 0.2]}}'
bad size "grid: 400 x 300 combinations is more than the limit of 100000" "$big"

# ---- the example ----
fresh example
run submit --dry-run --machines gpu1,gpu2 "$H_ROOT/examples/grid.json"
t_eq "example: dry run exit 0" 0 "$RC"
t_eq "example: 12 combinations" "dry run, nothing written: 12 experiments: 12 would be queued, 0 unchanged" "$(tail -n1 "$T/out")"
t_ok "example: ids from its template" grep -q '^W-T0.7-medium -> ' "$T/out"

[ "$H_FAILS" -eq 0 ]
