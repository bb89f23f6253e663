#!/usr/bin/env python3
"""env_http.py: a tiny deterministic turnq environment over HTTP (worker --env-url), for the
integration tests (tests/integ/test_env.sh). Python 3 standard library only.

One process serves POSTs of the environment protocol (SPEC "The environment") on 127.0.0.1 and
keeps per-experiment state (keyed by the experiment id as JSON, so 42 and "42" differ):

  start -> {"tools": [calc, counter_add]}; [calc, calc] when params.mode == "dup_tools"
  turn  -> {"prompt": "Turn N of experiment ID: ..."}; {} when params.prompts == "job" (the job's
           prompt is used); {"done": true} when N > params.stop_after
  tool  -> calc {a, b}: {"content": "a+b=SUM"} (a string)
           counter_add {n}: adds n to the experiment's counter; {"content": {"counter": C,
           "calls": K}} (JSON, which the worker serialises into the tool message)
           any other name: {"error": "no tool NAME here"}
           when params.mode was "garble_tool" at start: a 200 whose body is not JSON
  end   -> {"ok": true}

Every request is logged, with the answer, as one JSON line {"req": ..., "resp": ...} to --log.
The bound port is written to --port-file (and printed on stdout) once listening.

usage: env_http.py [--port P] [--port-file FILE] --log FILE
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOLS = [
    {"type": "function", "function": {
        "name": "calc", "description": "Adds two integers.",
        "parameters": {"type": "object",
                       "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                       "required": ["a", "b"]}}},
    {"type": "function", "function": {
        "name": "counter_add", "description": "Adds n to this experiment's counter.",
        "parameters": {"type": "object",
                       "properties": {"n": {"type": "integer"}},
                       "required": ["n"]}}},
]

GARBLE = b"this is not JSON {"  # an answer body that is not JSON

LOCK = threading.Lock()
STATE = {}   # experiment id (as JSON text) -> {"counter": int, "calls": int}
LOG = None


def answer(req):
    ev = req.get("event")
    key = json.dumps(req.get("experiment"), sort_keys=True)
    if ev == "start":
        mode = (req.get("params") or {}).get("mode")
        STATE[key] = {"counter": 0, "calls": 0, "mode": mode}
        if mode == "dup_tools":
            return {"tools": [TOOLS[0], TOOLS[0]]}
        return {"tools": TOOLS}
    st = STATE.setdefault(key, {"counter": 0, "calls": 0})
    if ev == "turn":
        params = req.get("params") or {}
        n = req.get("turn")
        stop = params.get("stop_after")
        if isinstance(stop, int) and isinstance(n, int) and n > stop:
            return {"done": True}
        if params.get("prompts") == "job":
            return {}
        return {"prompt": "Turn %s of experiment %s: the counter is %d." % (n, req.get("experiment"), st["counter"])}
    if ev == "tool":
        if st.get("mode") == "garble_tool":
            return GARBLE
        name = req.get("name")
        args = req.get("arguments")
        if not isinstance(args, dict):
            return {"error": "arguments must be an object"}
        if name == "calc":
            a, b = args.get("a"), args.get("b")
            if not isinstance(a, int) or not isinstance(b, int):
                return {"error": "calc needs integers a and b"}
            return {"content": "%d+%d=%d" % (a, b, a + b)}
        if name == "counter_add":
            n = args.get("n")
            if not isinstance(n, int):
                return {"error": "counter_add needs an integer n"}
            st["counter"] += n
            st["calls"] += 1
            return {"content": {"counter": st["counter"], "calls": st["calls"]}}
        return {"error": "no tool %s here" % name}
    if ev == "end":
        return {"ok": True}
    return {"error": "unknown event %r" % ev}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        status = 200
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            req, resp, status = None, {"error": "bad request: %s" % e}, 400
        else:
            with LOCK:
                resp = answer(req)
                logged = resp.decode() if isinstance(resp, bytes) else resp
                LOG.write(json.dumps({"req": req, "resp": logged}, sort_keys=True) + "\n")
                LOG.flush()
        out = resp if isinstance(resp, bytes) else json.dumps(resp).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description="deterministic turnq HTTP environment for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    global LOG
    LOG = open(a.log, "a", encoding="utf-8")
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(a.port_file + ".tmp", a.port_file)
    print(port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
