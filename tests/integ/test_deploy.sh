#!/usr/bin/env bash
# test_deploy: the deployment files, checked without a Docker engine (docker/Dockerfile,
# docker/compose.yaml, docker/turnq.env.example, docker/systemd/turnq-worker.service,
# docker/systemd/worker.env.example, the Makefile's install target). Covers:
#   - compose.yaml, the Dockerfile and the unit say what a GPU box needs (tests/lib/deploy_check.py:
#     GPU reservation, a healthcheck the ollama image can run, depends_on service_healthy,
#     stop timeouts above --grace, the queue profile's Redis with AOF and a password, bookworm
#     in both stages, tini, a non-root user, the unit's restart and hardening settings);
#   - the redis service's command, run by sh with a stub docker-entrypoint.sh (no Docker
#     engine), refuses an empty REDIS_PASSWORD, the placeholder change-me and the example .env's
#     value, and starts redis-server with AOF, fsync everysec and a generated password; the
#     README's --appendfsync is compose's;
#   - every --flag the files give the worker, and every TURNQ_* they name, is one bin/worker
#     (or bin/dispatcher) has; the compose command with the example .env, and ExecStart with
#     the example worker.env, are accepted by the real binary (it gets past its configuration);
#   - the unit's RestartPreventExitStatus is the code the worker exits with on a bad flag and
#     on a bad TURNQ_* value; `systemd-analyze verify` finds nothing in the unit;
#   - the Debian packages the Dockerfile installs exist (apt-cache; SKIP without apt lists),
#     and the runtime stage's list holds every library the built binaries load;
#   - `make install DESTDIR= PREFIX=/usr/local` puts worker and dispatcher where the unit's
#     ExecStart and the image's PATH expect them.
set -u
. "$(dirname "$0")/../lib/harness.sh"
R=$H_ROOT
T=$H_DIR
W=$H_BIN/worker

# ---- the files themselves ----
"$W" --help >"$T/worker.help" 2>&1
if python3 -c 'import yaml' 2>/dev/null; then
  python3 "$R/tests/lib/deploy_check.py" "$R" "$T" "$T/worker.help" || t_fail "deploy_check.py ran to its end"
else
  echo "SKIP: compose.yaml, Dockerfile and unit checks: python3-yaml is not installed (tests/deps.sh)"
fi

# ---- flags and variables against the binaries ----
"$H_BIN/dispatcher" --help >"$T/disp.help" 2>&1
for c in $(sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' "$T/disp.help"); do
  "$H_BIN/dispatcher" "$c" --help >>"$T/disp.help" 2>&1
done
known_flags=$(grep -o -- '--[a-z][a-z-]*' "$T/worker.help" | sort -u)
known_envs=$(cat "$T/worker.help" "$T/disp.help" | grep -o '\[env TURNQ_[A-Z0-9_]*\]' | tr -d '[]' | sed 's/^env //' | sort -u)

# flags_known NAME ARGV-FILE: every --flag in the file is one of the worker's.
flags_known() {
  local bad=() a
  [ -s "$2" ] || { t_fail "$1" "no command found"; return; }
  while IFS= read -r a; do
    case $a in --*) grep -qx -- "${a%%=*}" <<<"$known_flags" || bad+=("$a") ;; esac
  done <"$2"
  if [ ${#bad[@]} -eq 0 ]; then t_pass "$1"; else t_fail "$1" "bin/worker has no ${bad[*]}"; fi
}
if [ -s "$T/compose.argv" ]; then
  t_eq "compose: the worker command runs the image's worker" worker "$(head -n1 "$T/compose.argv")"
  flags_known "compose: every flag of the worker command is a bin/worker flag" "$T/compose.argv"
  t_ok "Dockerfile: CMD runs worker or dispatcher (installed in /usr/local/bin)" \
    grep -qxE 'worker|dispatcher' <(head -n1 "$T/docker.cmd")
  flags_known "Dockerfile: every flag of CMD is a bin/worker flag" "$T/docker.cmd"
  flags_known "unit: every flag of ExecStart is a bin/worker flag" "$T/unit.argv"
  bad=$(comm -23 "$T/envnames" <(echo "$known_envs"))
  t_eq "every TURNQ_* in compose.yaml and the env examples is a variable bin/worker or bin/dispatcher reads" "" "$bad"
fi

# accepted NAME ENV-FILE ARGS...: runs bin/worker with exactly that environment (plus PATH, where
# the image and the unit find the example environment program) and arguments, until it logs its
# start line (the whole configuration was accepted) or exits (rejected: its message is shown). It
# is killed then: the addresses in the examples need not answer.
accepted() {
  local name=$1 envf=$2 log=$T/accepted.$RANDOM.log envs=() l pid
  shift 2
  while IFS= read -r l; do envs+=("$l"); done <"$envf"
  env -i PATH="$H_BIN:/usr/bin:/bin" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} "${envs[@]}" "$W" "$@" >"$log" 2>&1 &
  pid=$!
  H_PIDS+=("$pid")
  h_wait 10 "grep -q 'I turnq worker ' '$log' || ! kill -0 $pid"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if grep -q 'I turnq worker ' "$log"; then t_pass "$name"; return 0; fi
  t_fail "$name" "bin/worker refused it: $(head -n 2 "$log" | tr '\n' ' ')"
  return 1
}
if [ -s "$T/compose.argv" ]; then
  accepted "compose: bin/worker accepts the worker command with turnq.env.example's values" \
    "$T/compose.env" $(tail -n +2 "$T/compose.argv")
  accepted "unit: bin/worker accepts ExecStart with worker.env.example's values" \
    "$T/unit.env" $(tail -n +2 "$T/unit.argv")
  # The check above can fail: the same run with one unknown flag, or one bad value, is refused.
  (accepted "control" "$T/compose.env" --no-such-flag) | grep -q '^FAIL: control: bin/worker refused it: worker: unknown flag' \
    && t_pass "the acceptance check sees an unknown flag" || t_fail "the acceptance check sees an unknown flag"
  (echo TURNQ_SLOTS=many | cat "$T/unit.env" - >"$T/bad.env"; accepted "control" "$T/bad.env") | grep -q '^FAIL: control: .*TURNQ_SLOTS: must be' \
    && t_pass "the acceptance check sees a bad TURNQ_* value" || t_fail "the acceptance check sees a bad TURNQ_* value"
fi

# ---- exit codes vs RestartPreventExitStatus ----
timeout 10 "$W" --no-such-flag >"$T/badflag.log" 2>&1; rc_flag=$?
TURNQ_SLOTS=0 timeout 10 "$W" >"$T/badenv.log" 2>&1; rc_env=$?
t_ok "worker: a bad flag is refused as an unknown flag" grep -q "unknown flag '--no-such-flag'" "$T/badflag.log"
t_eq "worker: a bad flag and a bad TURNQ_* value exit with the same code" "$rc_flag" "$rc_env"
# compose passes TURNQ_REDIS and TURNQ_MACHINE empty when .env lacks them: a configuration error.
for v in TURNQ_REDIS TURNQ_MACHINE; do
  if [ -s "$T/compose.env" ]; then
    mapfile -t envs < <(grep -v "^$v=" "$T/compose.env")
    env -i PATH="$H_BIN:/usr/bin:/bin" "${envs[@]}" "$v=" timeout 10 "$W" >"$T/empty.log" 2>&1
    t_eq "compose: an empty $v stops the worker with exit 2" "2" "$?"
  fi
done
if [ -s "$T/unit.rpes" ]; then
  t_ok "unit: RestartPreventExitStatus holds the worker's exit code for a bad flag ($rc_flag)" grep -qx "$rc_flag" "$T/unit.rpes"
fi

# ---- systemd-analyze ----
UNIT=$R/docker/systemd/turnq-worker.service
if command -v systemd-analyze >/dev/null; then
  # verify wants ExecStart's program to exist: the same unit, run from the built binary.
  mkdir -p "$T/unit" "$T/unitbad"
  sed "s|^ExecStart=/usr/local/bin/worker|ExecStart=$W|" "$UNIT" >"$T/unit/turnq-worker.service"
  out=$(systemd-analyze verify "$T/unit/turnq-worker.service" 2>&1); rc=$?
  t_eq "unit: systemd-analyze verify is clean" "0:" "$rc:$out"
  # A typo is what verify reports (so the clean run above means something).
  sed 's/^Restart=on-failure/Restart=on-failur/' "$T/unit/turnq-worker.service" >"$T/unitbad/turnq-worker.service"
  t_ok "unit: systemd-analyze verify reports a typo" \
    grep -q 'Failed to parse' <(systemd-analyze verify "$T/unitbad/turnq-worker.service" 2>&1)
  if sec=$(systemd-analyze security --offline=true "$T/unit/turnq-worker.service" 2>/dev/null | grep 'Overall exposure level'); then
    t_ok "unit: systemd-analyze security rates it OK or SAFE (${sec##*: })" grep -qE ' (OK|SAFE)' <<<"$sec"
  else
    echo "SKIP: systemd-analyze security --offline: not supported here"
  fi
else
  echo "SKIP: systemd-analyze verify: systemd-analyze is not installed (Debian package systemd)"
fi

# ---- Debian packages of the Dockerfile ----
if [ ! -s "$T/pkgs.build" ]; then
  :
elif ! command -v apt-cache >/dev/null || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  echo "SKIP: Dockerfile packages in the archive: no apt lists here (run apt-get update)"
else
  # One apt-cache call (each reads every list): the packages it finds, against those asked for.
  apt-cache show --no-all-versions $(cat "$T/pkgs.build" "$T/pkgs.runtime") 2>/dev/null \
    | sed -n 's/^Package: //p' | sort -u >"$T/pkgs.found"
  missing=$(sort -u "$T/pkgs.build" "$T/pkgs.runtime" | comm -23 - "$T/pkgs.found" | tr '\n' ' ')
  t_eq "Dockerfile: every package it installs is in the Debian archive" "" "$missing"
fi
# The runtime stage's list is complete: the package of every library the binaries load directly.
if command -v readelf >/dev/null && command -v dpkg >/dev/null && [ -s "$T/pkgs.runtime" ]; then
  if readelf -d "$W" | grep -qE 'NEEDED.*lib(a|ub|t)san'; then
    echo "SKIP: runtime libraries of the Dockerfile: $W is a sanitizer build"
  else
    lack=()
    for b in worker dispatcher warehouse-env; do
      for lib in $(readelf -d "$H_BIN/$b" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
        path=$(ldd "$H_BIN/$b" | awk -v l="$lib" '$1 == l { print $3 }')
        pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null)
        pkg=${pkg%%:*}
        [ "$pkg" = libc6 ] && continue # in every Debian image
        grep -qx "$pkg" "$T/pkgs.runtime" || lack+=("$b:$lib(${pkg:-no package})")
      done
    done
    t_eq "Dockerfile: the runtime stage installs every library bin/worker, bin/dispatcher, bin/warehouse-env load" "" "${lack[*]:-}"
  fi
fi

# ---- make install ----
# -o: use the binaries as built, never rebuild them from a test.
make -s -C "$R" -o "$H_BIN/worker" -o "$H_BIN/dispatcher" install BIN="$H_BIN" DESTDIR="$T/root" PREFIX=/usr/local \
  >"$T/install.log" 2>&1 || t_fail "make install" "$(tail -n 3 "$T/install.log")"
exe=$(cat "$T/unit.exec" 2>/dev/null || echo /usr/local/bin/worker)
t_ok "make install DESTDIR PREFIX=/usr/local puts worker where the unit's ExecStart is ($exe)" test -x "$T/root$exe"
t_ok "make install DESTDIR PREFIX=/usr/local puts dispatcher in the same directory" test -x "$T/root${exe%/*}/dispatcher"
[ "$H_FAILS" -eq 0 ]
