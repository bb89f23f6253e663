#!/usr/bin/env python3
"""bench/gen.py: the generated inputs of make bench (bench/run.sh), all deterministic.

  gen.py sweep SWEEP.json alike|lognormal OUT.json [--estimate]
                                                      the example sweep, turns set per experiment
  gen.py calls SWEEP.json N TURNS PREFIX OUT.jsonl [--tool]
                                                      N jobs of TURNS turns (per-call overhead);
                                                      --tool: with one tool the sim can call
  gen.py small N OUT.jsonl                            N tiny jobs (submission throughput)
  gen.py floor N NS MACHINES OUT.resp                 the writes a submission of `small N` makes, as
                                                      plain Redis commands (the submission's floor)

`sweep` keeps examples/sweep.json as it is (defaults, options, params, ids, order) and only sets
each experiment's `turns` to a list of that many prompts (the sweep's five prompts, cycled), so
an experiment's length is its number of turns. alike: every experiment 8 turns. lognormal:
turns drawn from a log-normal with mean 8 and sigma 0.8 (random.Random(LOGNORMAL_SEED), or
$BENCH_SEED when set: another sweep of unequal lengths), rounded, clamped to 1..40. It prints
the turn counts, comma-separated, on stdout. --estimate
also sets each experiment's "estimate" (its expected work, for least-loaded placement) to its
number of turns: the length a user knows when submitting.
"""
import json
import math
import os
import random
import sys

ALIKE_TURNS = 8
LOGNORMAL_MEAN = 8.0
LOGNORMAL_SIGMA = 0.8
LOGNORMAL_SEED = 42


def prompts_of(sweep):
    p = sweep.get("defaults", {}).get("turns")
    if not isinstance(p, list) or not p:
        p = ["Run the warehouse for one more day."]
    return p


def cycle(prompts, n):
    return [prompts[i % len(prompts)] for i in range(n)]


def cmd_sweep(src, mode, out, estimate=False):
    sweep = json.load(open(src))
    prompts = prompts_of(sweep)
    rng = random.Random(int(os.environ.get("BENCH_SEED", LOGNORMAL_SEED)))
    mu = math.log(LOGNORMAL_MEAN) - LOGNORMAL_SIGMA ** 2 / 2
    counts = []
    for e in sweep["experiments"]:
        if mode == "alike":
            n = ALIKE_TURNS
        elif mode == "lognormal":
            n = max(1, min(40, round(rng.lognormvariate(mu, LOGNORMAL_SIGMA))))
        else:
            sys.exit("gen.py: sweep mode must be alike or lognormal")
        e["turns"] = cycle(prompts, n)
        if estimate:
            e["estimate"] = n
        counts.append(n)
    json.dump(sweep, open(out, "w"), indent=1)
    print(",".join(str(n) for n in counts))


PROBE_TOOL = {"type": "function", "function": {"name": "probe", "description": "Look something up.",
              "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}


def cmd_calls(src, n, turns, prefix, out, tool=False):
    sweep = json.load(open(src))
    base = dict(sweep.get("defaults", {}))
    base.pop("params", None)
    prompts = prompts_of(sweep)
    with open(out, "w") as f:
        for i in range(n):
            job = dict(base)
            job["id"] = "%s%03d" % (prefix, i + 1)
            job["turns"] = cycle(prompts, turns)
            if tool:
                job["tools"] = [PROBE_TOOL]
            f.write(json.dumps(job, separators=(",", ":")) + "\n")


def cmd_small(n, out):
    with open(out, "w") as f:
        for i in range(n):
            f.write('{"id":"s%06d","model":"qwen3:8b","turns":["Day 1: ship what you can."]}\n' % (i + 1))


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for x in args:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)


def cmd_floor(n, ns, machines, out):
    """What dispatcher submit writes for `small N` (README "Placement": per experiment an HSET of
    its job hash and a `queued` event; per 100 a ZADD into NS:ids and an LPUSH per machine), sent
    as plain commands with no reads, no checks and no transactions: no client can write less."""
    ms = machines.split(",")
    with open(out, "wb") as f:
        for c in range(0, n, 100):
            ids = {m: [] for m in ms}
            z = ["ZADD", ns + ":ids"]
            for i in range(c, min(n, c + 100)):
                jid = "s%06d" % (i + 1)
                m = ms[i % len(ms)]
                spec = '{"id":"%s","model":"qwen3:8b","turns":["Day 1: ship what you can."]}' % jid
                f.write(resp("HSET", ns + ":job:" + jid, "spec", spec, "state", "queued", "machine", m,
                             "model", "qwen3:8b", "estimate", "1", "attempts", "0", "interrupted", "0",
                             "turn", "0", "submitted_at", "2026-01-01T00:00:00.000Z"))
                f.write(resp("XADD", ns + ":events", "MAXLEN", "~", "100000", "*", "id", jid, "event", "queued",
                             "machine", m, "turn", "0"))
                z += ["%d" % (1700000000000 + i), jid]
                ids[m].append(jid)
            f.write(resp(*z))
            for m in ms:
                if ids[m]:
                    f.write(resp("LPUSH", ns + ":queue:" + m, *ids[m]))


def main(a):
    if len(a) in (4, 5) and a[0] == "sweep":
        cmd_sweep(a[1], a[2], a[3], a[4:] == ["--estimate"])
    elif len(a) in (6, 7) and a[0] == "calls" and a[6:] in ([], ["--tool"]):
        cmd_calls(a[1], int(a[2]), int(a[3]), a[4], a[5], a[6:] == ["--tool"])
    elif len(a) == 3 and a[0] == "small":
        cmd_small(int(a[1]), a[2])
    elif len(a) == 5 and a[0] == "floor":
        cmd_floor(int(a[1]), a[2], a[3], a[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
