#!/usr/bin/env python3
"""deploy_check.py ROOT OUT WORKER_HELP: the parts of tests/integ/test_deploy.sh that read files.

Checks docker/compose.yaml, docker/Dockerfile and docker/systemd/turnq-worker.service for what a
GPU box needs (one PASS:/FAIL: line per check), and writes what the shell part then checks
against the binaries and the Debian archive, into the directory OUT:
  compose.argv, docker.cmd, unit.argv  one argument per line, the program's name first
  compose.env, unit.env                KEY=VALUE lines: the worker's environment as compose would
                                       pass it from docker/.env (turnq.env.example), and as systemd
                                       reads /etc/turnq/worker.env (worker.env.example)
  envnames                             every TURNQ_* name the files mention
  pkgs.build, pkgs.runtime             the Debian packages each Dockerfile stage installs
  unit.exec, unit.rpes                 ExecStart's program; RestartPreventExitStatus's codes
WORKER_HELP is `bin/worker --help` output (for --grace's default)."""
import json, os, re, shlex, subprocess, sys, tempfile

import yaml

root, out, help_file = sys.argv[1], sys.argv[2], sys.argv[3]
D = os.path.join(root, "docker")


def ok(name, cond, why=""):
    print(("PASS: " if cond else "FAIL: ") + name + ("" if cond or not why else ": " + why))
    return cond


def write(name, lines):
    with open(os.path.join(out, name), "w") as f:
        f.write("".join(l + "\n" for l in lines))


def seconds(text):
    """A duration as compose ("1m30s") or systemd ("1min 30s", "45") writes it; None if unreadable."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)\s*", text)
    if not parts or "".join(a + b for a, b in parts) != re.sub(r"\s+", "", text):
        return None
    if any(u not in unit for _, u in parts):
        return None
    return sum(float(n) * unit[u] for n, u in parts)


def env_file(path):
    """(active KEY=VALUE pairs, every TURNQ_* name in the file, commented or not)."""
    active = {}
    text = open(path).read()
    for line in text.splitlines():
        m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
        if m:
            v = m.group(2).strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            active[m.group(1)] = v
    return active, set(re.findall(r"\bTURNQ_[A-Z0-9_]+", text))


def interpolate(value, env):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} and $$ (enough for our file)."""
    def one(m):
        if m.group(0) == "$$":
            return "$"
        name, op, dflt = m.group(1), m.group(2), m.group(3) or ""
        if op == ":-":
            return env.get(name) or dflt
        if op == "-":
            return env.get(name, dflt)
        return env.get(name, "")
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-)([^}]*))?\}", one, value)


grace_default = 30.0
m = re.search(r"--grace S .*\(default ([0-9.]+)\)", open(help_file).read())
if m:
    grace_default = float(m.group(1))


def grace_of(argv):
    for i, a in enumerate(argv):
        if a == "--grace" and i + 1 < len(argv):
            return float(argv[i + 1])
        if a.startswith("--grace="):
            return float(a.split("=", 1)[1])
    return grace_default


MARGIN_S = 5  # stop timeout over --grace: the last Redis writes after the drain
envnames = set()

# ---- compose.yaml ----
cpath = os.path.join(D, "compose.yaml")
ctext = open(cpath).read()
try:
    c = yaml.safe_load(ctext)
    ok("compose.yaml parses as YAML", isinstance(c, dict) and isinstance(c.get("services"), dict))
except yaml.YAMLError as e:
    ok("compose.yaml parses as YAML", False, str(e).replace("\n", " "))
    c = {"services": {}}
svc = c.get("services") or {}


def strings(node):
    """Every string in the parsed file (keys too): what compose interpolates, without comments."""
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in strings(k) + strings(v)]
    if isinstance(node, list):
        return [x for v in node for x in strings(v)]
    return [node] if isinstance(node, str) else []


cvals = "\n".join(strings(c))
ol, wk, rd = svc.get("ollama") or {}, svc.get("worker") or {}, svc.get("redis") or {}
ok("compose: services ollama, worker and redis", bool(ol) and bool(wk) and bool(rd), "have %s" % sorted(svc))
ok("compose: ollama and worker start with a plain `up` (no profile)", not ol.get("profiles") and not wk.get("profiles"))
ok("compose: redis is in the queue profile", rd.get("profiles") == ["queue"], "profiles %s" % rd.get("profiles"))
ok("compose: no ${VAR:?} (compose interpolates inactive profiles too)", not re.search(r"\$\{[A-Za-z0-9_]+:?\?", cvals))
ok("compose: ollama runs the official ollama/ollama image", re.fullmatch(r"ollama/ollama(:.*)?", str(ol.get("image", ""))),
   "image %s" % ol.get("image"))
devs = (((ol.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
ok("compose: ollama reserves NVIDIA GPUs (deploy.resources.reservations.devices)",
   any(d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or []) for d in devs), "devices %s" % devs)
vols = [str(v) for v in ol.get("volumes") or []]
ok("compose: ollama keeps its models in a named volume at /root/.ollama",
   any(v.endswith(":/root/.ollama") and v.split(":")[0] in (c.get("volumes") or {}) for v in vols), "volumes %s" % vols)
hc = (ol.get("healthcheck") or {}).get("test")
hcs = " ".join(hc) if isinstance(hc, list) else str(hc or "")
ok("compose: ollama's healthcheck uses no curl or wget (the image has neither)",
   bool(hc) and not re.search(r"\b(curl|wget)\b", hcs), "test %s" % hc)
ok("compose: ollama's healthcheck runs what the image has (ollama, or bash for /dev/tcp)",
   isinstance(hc, list) and hc[0] in ("CMD", "CMD-SHELL") and
   (hc[1:2] == ["ollama"] or ("/dev/tcp" in hcs and "bash" in hcs)), "test %s" % hc)
dep = (wk.get("depends_on") or {})
ok("compose: worker depends_on ollama with condition service_healthy",
   isinstance(dep, dict) and (dep.get("ollama") or {}).get("condition") == "service_healthy", "depends_on %s" % dep)
cmd = wk.get("command")
ok("compose: worker command is exec form and runs worker", isinstance(cmd, list) and cmd[:1] == ["worker"], "command %s" % cmd)
cmd = [str(a) for a in cmd] if isinstance(cmd, list) else shlex.split(str(cmd or ""))
url = cmd[cmd.index("--ollama") + 1] if "--ollama" in cmd[:-1] else ""
m = re.fullmatch(r"http://([A-Za-z0-9_.-]+):(\d+)/?", url)
ok("compose: worker's --ollama is the ollama service's port 11434", bool(m) and m.group(1) == "ollama" and m.group(2) == "11434",
   "--ollama '%s'" % url)
g, sg = grace_of(cmd), seconds(wk.get("stop_grace_period", "10s"))
ok("compose: worker's stop_grace_period >= its --grace + %d s" % MARGIN_S, sg is not None and sg >= g + MARGIN_S,
   "stop_grace_period %s, --grace %g" % (wk.get("stop_grace_period"), g))
ok("compose: worker has a restart policy", str(wk.get("restart", "no")).split(":")[0] in ("always", "unless-stopped", "on-failure"),
   "restart %s" % wk.get("restart"))
ok("compose: worker does not add init: true (the image's entrypoint is tini)", not wk.get("init"))
wenv = wk.get("environment") or {}
if isinstance(wenv, list):
    wenv = dict((e.split("=", 1) + [None])[:2] for e in wenv)
def var_of(v):
    m = re.search(r"\$\{(\w+)", str(v or ""))
    return m.group(1) if m else None


sv, ov = var_of(wenv.get("TURNQ_SLOTS")), var_of((ol.get("environment") or {}).get("OLLAMA_NUM_PARALLEL"))
ok("compose: worker's TURNQ_SLOTS and ollama's OLLAMA_NUM_PARALLEL come from one variable", sv is not None and sv == ov,
   "TURNQ_SLOTS from %s, OLLAMA_NUM_PARALLEL from %s" % (sv, ov))
ok("compose: redis runs the official redis image", re.fullmatch(r"redis(:.*)?", str(rd.get("image", ""))), "image %s" % rd.get("image"))
rcmd = " ".join(str(a) for a in rd.get("command")) if isinstance(rd.get("command"), list) else str(rd.get("command", ""))
ok("compose: redis has AOF on (--appendonly yes)", "--appendonly yes" in rcmd, rcmd)
m = re.search(r"--requirepass\s+(\S+)", rcmd)
ok("compose: redis has a password (--requirepass) from a variable, not written in the file",
   bool(m) and "$" in m.group(1), m.group(1) if m else rcmd)


def redis_start(password):
    """Runs the redis service's command as compose would with REDIS_PASSWORD=password: interpolated,
    with the service's environment, the image's docker-entrypoint.sh replaced by a stub that
    records its arguments. (returncode, stderr, the arguments redis-server got or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        stub, rec = os.path.join(tmp, "docker-entrypoint.sh"), os.path.join(tmp, "argv")
        with open(stub, "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$@" >%s\n' % shlex.quote(rec))
        os.chmod(stub, 0o755)
        renv = rd.get("environment") or {}
        if isinstance(renv, list):
            renv = dict((e.split("=", 1) + [""])[:2] for e in renv)
        env = {k: interpolate(str(v or ""), {"REDIS_PASSWORD": password}) for k, v in renv.items()}
        env["PATH"] = tmp + ":/usr/bin:/bin"
        argv = [interpolate(str(a), {}) for a in rd.get("command") or []]
        try:
            p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            return -1, str(e), None
        got = open(rec).read().splitlines() if os.path.exists(rec) else None
        return p.returncode, p.stderr.strip(), got


eact, enames = env_file(os.path.join(D, "turnq.env.example"))
good = "3f9c2a7d41e8b06c5a9e2d7f1b4c8e03a6d5f2b9c1e7a4d8"
for what, pw in (("an empty password", ""), ("the example's placeholder change-me", "change-me"),
                 ("turnq.env.example's REDIS_PASSWORD as shipped (%r)" % eact.get("REDIS_PASSWORD", ""),
                  eact.get("REDIS_PASSWORD", ""))):
    rc, err, got = redis_start(pw)
    ok("compose: redis refuses to start with %s (exit non-zero, a message naming REDIS_PASSWORD, no redis-server)" % what,
       rc > 0 and got is None and "REDIS_PASSWORD" in err, "exit %s, stderr %r, redis-server got %s" % (rc, err, got))
rc, err, got = redis_start(good)
ok("compose: redis starts with a generated password: redis-server --appendonly yes --appendfsync everysec --requirepass it",
   rc == 0 and got is not None and got[:1] == ["redis-server"] and
   " ".join(got[1:]) == "--appendonly yes --appendfsync everysec --requirepass " + good,
   "exit %s, stderr %r, redis-server got %s" % (rc, err, got))
# The README's redis-server lines give the same fsync policy as compose (README "Persistence").
rtext = open(os.path.join(root, "README.md")).read()
fs = sorted(set(re.findall(r"--appendfsync (\w+)", rtext)))
m = re.search(r"--appendfsync (\w+)", rcmd)
ok("README: every --appendfsync it gives is compose's (%s)" % (m.group(1) if m else "none"),
   bool(m) and fs == [m.group(1)], "README has %s" % fs)
rvols = [str(v) for v in rd.get("volumes") or []]
ok("compose: redis keeps its data in a named volume at /data",
   any(v.endswith(":/data") and v.split(":")[0] in (c.get("volumes") or {}) for v in rvols), "volumes %s" % rvols)
rhc = (rd.get("healthcheck") or {}).get("test")
ok("compose: redis has a healthcheck (redis-cli ping)", "redis-cli" in " ".join(rhc or []) and "ping" in " ".join(rhc or []),
   "test %s" % rhc)
# Every variable the file reads is explained in the example .env.
etext = open(os.path.join(D, "turnq.env.example")).read()
used = sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", cvals)) | {k for k, v in wenv.items() if v is None})
missing = [v for v in used if not re.search(r"^#?\s*%s=" % v, etext, re.M)]
ok("compose: every variable it reads is in turnq.env.example", not missing, "missing %s" % missing)
envnames |= enames | {k for k in wenv if k.startswith("TURNQ_")}
resolved = {}
for k, v in wenv.items():
    if v is None:
        if k in eact:
            resolved[k] = eact[k]
    else:
        resolved[k] = interpolate(str(v), eact)
write("compose.argv", cmd)
write("compose.env", ["%s=%s" % kv for kv in sorted(resolved.items())])

# ---- Dockerfile ----
lines, cur = [], ""
for raw in open(os.path.join(D, "Dockerfile")).read().splitlines():
    if not cur and (raw.lstrip().startswith("#") or not raw.strip()):
        continue
    if raw.rstrip().endswith("\\"):
        cur += raw.rstrip()[:-1] + " "
        continue
    lines.append(cur + raw)
    cur = ""
stages, cmd, entry, user, run = [], None, None, None, []
for l in lines:
    word, _, rest = l.strip().partition(" ")
    word = word.upper()
    if word == "FROM":
        stages.append({"from": rest.split()[0], "pkgs": [], "runs": []})
    elif word == "RUN" and stages:
        stages[-1]["runs"].append(rest)
        for seg in re.split(r"&&|;|\|\|", rest):
            t = seg.split()
            if t[:2] == ["apt-get", "install"]:
                stages[-1]["pkgs"] += [p for p in t[2:] if not p.startswith("-")]
    elif word == "CMD":
        cmd = rest
    elif word == "ENTRYPOINT":
        entry = rest
    elif word == "USER":
        user = rest.strip()
ok("Dockerfile: two stages, both debian:bookworm-slim (hiredis 0.14)",
   [s["from"] for s in stages] == ["debian:bookworm-slim"] * 2, "FROM %s" % [s["from"] for s in stages])
bpk = stages[0]["pkgs"] if stages else []
rpk = stages[-1]["pkgs"] if len(stages) > 1 else []
need_b = ["libhiredis-dev", "libev-dev", "libcurl4-openssl-dev", "libjansson-dev", "make", "pkg-config"]
ok("Dockerfile: the build stage installs the -dev packages, make and pkg-config",
   all(p in bpk for p in need_b) and ("gcc" in bpk or "build-essential" in bpk), "installs %s" % bpk)
brun = " ".join(stages[0]["runs"]) if stages else ""
ok("Dockerfile: the build stage makes bin/worker and bin/dispatcher and installs them in /usr/local/bin",
   "bin/worker" in brun and "bin/dispatcher" in brun and re.search(r"make install\b.*PREFIX=/usr/local", brun) is not None, brun)
need_r = ["libhiredis0.14", "libev4", "libcurl4", "libjansson4", "ca-certificates", "tini"]
ok("Dockerfile: the runtime stage installs the shared libraries and tini", all(p in rpk for p in need_r), "installs %s" % rpk)
ok("Dockerfile: the runtime stage installs no compiler or -dev package",
   not [p for p in rpk if p.endswith("-dev") or p in ("gcc", "make", "build-essential")], "installs %s" % rpk)
try:
    entry_v, cmd_v = json.loads(entry or "null"), json.loads(cmd or "null")
except ValueError:
    entry_v = cmd_v = None
ok("Dockerfile: ENTRYPOINT is exec form with tini as PID 1",
   isinstance(entry_v, list) and entry_v[:1] in (["tini"], ["/usr/bin/tini"]) and entry_v[1:] == ["--"], "ENTRYPOINT %s" % entry)
ok("Dockerfile: CMD is exec form", isinstance(cmd_v, list) and bool(cmd_v), "CMD %s" % cmd)
ok("Dockerfile: runs as a non-root USER", bool(user) and user.split(":")[0] not in ("root", "0"), "USER %s" % user)
write("pkgs.build", bpk)
write("pkgs.runtime", rpk)
write("docker.cmd", [str(a) for a in cmd_v] if isinstance(cmd_v, list) else [])

# ---- systemd unit ----
unit, section = {}, None
for raw in open(os.path.join(D, "systemd", "turnq-worker.service")).read().splitlines():
    l = raw.strip()
    if not l or l[0] in "#;":
        continue
    if l.startswith("["):
        section = l.strip("[]")
        continue
    k, _, v = l.partition("=")
    unit.setdefault((section, k.strip()), []).append(v.strip())


def u(sec, key):
    return " ".join(unit.get((sec, key), []))


ex = shlex.split(u("Service", "ExecStart"))
ok("unit: ExecStart runs /usr/local/bin/worker (where `make install` puts it)", ex[:1] == ["/usr/local/bin/worker"], "ExecStart %s" % ex)
ok("unit: Wants= and After= ollama.service", "ollama.service" in u("Unit", "Wants").split() and
   "ollama.service" in u("Unit", "After").split())
ok("unit: no Requires=/BindsTo= on ollama (its restarts would stop the worker)",
   "ollama.service" not in (u("Unit", "Requires") + " " + u("Unit", "BindsTo")).split())
ok("unit: Restart=on-failure", u("Service", "Restart") == "on-failure", u("Service", "Restart"))
rpes = u("Service", "RestartPreventExitStatus").split()
ok("unit: RestartPreventExitStatus= is set", bool(rpes))
g, ts = grace_of(ex), seconds(u("Service", "TimeoutStopSec") or "90s")
ok("unit: TimeoutStopSec >= the worker's --grace + %d s" % MARGIN_S, ts is not None and ts >= g + MARGIN_S,
   "TimeoutStopSec %s, --grace %g" % (u("Service", "TimeoutStopSec"), g))
ok("unit: SIGTERM to the worker first (KillMode mixed or control-group, KillSignal SIGTERM)",
   u("Service", "KillMode") in ("", "mixed", "control-group") and u("Service", "KillSignal") in ("", "SIGTERM", "TERM", "15"))
ok("unit: EnvironmentFile=-/etc/turnq/worker.env", "-/etc/turnq/worker.env" in unit.get(("Service", "EnvironmentFile"), []))
ok("unit: DynamicUser=yes with NoNewPrivileges, ProtectSystem=strict, ProtectHome, PrivateTmp",
   u("Service", "DynamicUser") == "yes" and u("Service", "NoNewPrivileges") == "yes" and
   u("Service", "ProtectSystem") == "strict" and u("Service", "ProtectHome") in ("yes", "read-only", "tmpfs") and
   u("Service", "PrivateTmp") == "yes")
ok("unit: RestrictAddressFamilies allows IPv4, IPv6 and unix:// Redis only",
   sorted(u("Service", "RestrictAddressFamilies").split()) == ["AF_INET", "AF_INET6", "AF_UNIX"], u("Service", "RestrictAddressFamilies"))
write("unit.argv", ex)
write("unit.exec", ex[:1])
write("unit.rpes", rpes)
uact, unames = env_file(os.path.join(D, "systemd", "worker.env.example"))
envnames |= unames | set(re.findall(r"\bTURNQ_[A-Z0-9_]+", u("Service", "Environment")))
write("unit.env", ["%s=%s" % kv for kv in sorted(uact.items()) if kv[0].startswith("TURNQ_")])
write("envnames", sorted(envnames))
