#!/usr/bin/env python3
"""replay.py URL SPEC RESULT TRANSCRIPT: re-send, to a deterministic ollama-sim, the conversation
each /api/chat call of an experiment must have sent (rebuilt from its transcript as its history
mode says: reset, the system message plus the turn's messages; carry, every earlier entry too)
and check that the sim's replies are the transcript's assistant messages and that their token
counts sum to each turn record's. Prints one line per disagreement, nothing when all agree.
Used by tests/integ/test_turns.sh and test_history.sh."""
import json, sys, urllib.request
url, spec, res, tr = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
carry = spec.get("history") == "carry"
sysmsg = [{"role": "system", "content": spec["system"]}] if spec.get("system") else []
conv, probs = [], []
for t, (entry, rec) in enumerate(zip(tr, res["turns"]), 1):
    msgs = entry if carry else [m for m in entry if m.get("role") != "system"]
    base = conv if carry else sysmsg
    pt = et = 0
    for i, m in enumerate(msgs):
        if m.get("role") != "assistant":
            continue
        body = {"model": spec["model"], "messages": base + msgs[:i], "stream": False}
        for k in ("tools", "options", "keep_alive"):
            if spec.get(k):
                body[k] = spec[k]
        req = urllib.request.Request(url + "/api/chat", json.dumps(body).encode(), {"Content-Type": "application/json"})
        r = json.load(urllib.request.urlopen(req, timeout=10))
        pt += r["prompt_eval_count"]
        et += r["eval_count"]
        want = {k: v for k, v in r["message"].items() if v not in ("", None, [])}
        got = {k: v for k, v in m.items() if v not in ("", None, [])}
        if want != got:
            probs.append("turn %d message %d: %s, the sim replies %s" % (t, i + 1, json.dumps(got), json.dumps(want)))
    if (pt, et) != (rec["prompt_tokens"], rec["eval_tokens"]):
        probs.append("turn %d: record tokens %s/%s, sums of its calls %d/%d" % (t, rec["prompt_tokens"], rec["eval_tokens"], pt, et))
    if carry:
        conv = base + msgs
print("\n".join(probs), end="")
