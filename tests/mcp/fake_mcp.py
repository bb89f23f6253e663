#!/usr/bin/env python3
"""fake_mcp.py: an MCP server over stdio for the tests (no npm in CI), with ugly cases on purpose.

usage: fake_mcp.py [--name N] [--tools a,b,...] [--page-size N] [--memfile PATH] [--mode M]
                   [--mode-from-experiment] [--pids DIR] [--child]

Speaks JSON-RPC 2.0, one message per line, the legacy MCP handshake (initialize, then
notifications/initialized; tools/list before that is refused, as rmcp does), tools/list in pages of
--page-size (default 2) with nextCursor, tools/call.

--mode M (start behaviour; --mode-from-experiment takes M from TURNQ_EXPERIMENT after its last '-'):
  normal       the default
  oldversion   answers initialize with 2024-11-05
  badversion   answers initialize with 2099-01-01
  initerror    answers initialize with a JSON-RPC error
  noinit       reads everything, answers nothing
  exit         exits with status 5 before reading anything
  banner       writes a non-JSON banner line on stdout first
  stuck        does not exit when stdin closes (only a signal ends it)
  stderrflood  writes 1 MiB to stderr before answering initialize
  nocaps       declares no tools capability (so it has no tools to list)
  loopcursor   tools/list always answers the same nextCursor
Tools (--tools picks and orders them; default: all in this order):
  echo {message}          "echo: MSG | server=.. cwd=.. workdir=.. experiment=.. attempt=.. redis_env=yes|no"
  memory_put {key, value} appends {exp, value} to --memfile (default ./memory.json); "stored VALUE"
  memory_get {key}        the stored entries as JSON
  ranged {opts, label?}   a schema with $defs/$ref, minimum/maximum/default, minLength; echoes its arguments
  dotted.name {}          a name with a dot
  image {}                a text block and a 1234-byte PNG image block
  iserror {}              an isError result
  sampling {}             before answering, sends roots/list (with the call's own id), sampling/createMessage
                          and ping to the client, and reports what came back
  noisy {}                writes 3000 lines to stderr, then answers
  garbage {}              writes a non-JSON line, then a cut JSON line carrying the call's id
  hang {}                 never answers; afterwards the server ignores stdin EOF
  crash {}                exits with status 3 mid-call
  surrogate {}            a text with a lone UTF-16 surrogate escape (x\ud800y), as Node writes
  batch {}                the answer inside a JSON array (a 2025-03-26 batch), after a notification
  huge {}                 a 17 MiB line
--pids DIR: writes DIR/PID = "PGID CWD [CHILD_PID]"; --child also starts `sleep 300` in its group.
"""
import base64
import json
import os
import subprocess
import sys
import time

ARGS = sys.argv[1:]


def opt(name, default=None):
    if name in ARGS:
        i = ARGS.index(name)
        return ARGS[i + 1] if i + 1 < len(ARGS) else default
    return default


NAME = opt("--name", "fake")
MODE = opt("--mode", "normal")
if "--mode-from-experiment" in ARGS:
    MODE = os.environ.get("TURNQ_EXPERIMENT", "").rsplit("-", 1)[-1] or "normal"
PAGE = int(opt("--page-size", "2"))
MEMFILE = opt("--memfile", "memory.json")
KEY = {"type": "string", "enum": ["k"], "description": "the memory key"}

TOOLS = {
    "echo": {"description": "Echo a message", "inputSchema": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {"message": {"type": "string", "description": "what to echo"}}, "required": ["message"]}},
    "memory_put": {"description": "Store a value", "inputSchema": {
        "type": "object", "properties": {"key": KEY, "value": {"type": "string"}}, "required": ["key", "value"]}},
    "memory_get": {"description": "Read the stored values", "inputSchema": {
        "type": "object", "properties": {"key": KEY}, "required": ["key"]}},
    "ranged": {"description": "Takes options by reference", "inputSchema": {
        "type": "object",
        "$defs": {"Opts": {"type": "object", "properties": {
            "count": {"type": "integer", "minimum": 1, "maximum": 5, "default": 2, "description": "how many"}},
            "required": ["count"]}},
        "properties": {"opts": {"$ref": "#/$defs/Opts"}, "label": {"type": "string", "minLength": 2}},
        "required": ["opts"], "additionalProperties": False}},
    "dotted.name": {"title": "A dotted name", "inputSchema": {"type": "object"}},
    "image": {"description": "Returns an image", "inputSchema": {"type": "object", "properties": {}}},
    "iserror": {"description": "Always fails", "inputSchema": {"type": "object", "properties": {}}},
    "sampling": {"description": "Asks the client things", "inputSchema": {"type": "object", "properties": {}}},
    "noisy": {"description": "Logs a lot", "inputSchema": {"type": "object", "properties": {}}},
    "garbage": {"description": "Answers garbage", "inputSchema": {"type": "object", "properties": {}}},
    "hang": {"description": "Never answers", "inputSchema": {"type": "object", "properties": {}}},
    "crash": {"description": "Exits mid-call", "inputSchema": {"type": "object", "properties": {}}},
    "surrogate": {"description": "A broken string", "inputSchema": {"type": "object", "properties": {}}},
    "batch": {"description": "Answers in a batch", "inputSchema": {"type": "object", "properties": {}}},
    "huge": {"description": "Answers 17 MiB", "inputSchema": {"type": "object", "properties": {}}},
}
ORDER = opt("--tools", ",".join(t for t in TOOLS if t not in ("surrogate", "batch", "huge"))).split(",")

initialized = False
hung = False


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def reply(mid, result):
    out({"result": result, "jsonrpc": "2.0", "id": mid})  # result first, as the SDK servers write


def error(mid, code, message):
    out({"jsonrpc": "2.0", "id": mid, "error": {"code": code, "message": message}})


def text(t, is_error=False):
    r = {"content": [{"type": "text", "text": t}]}
    if is_error:
        r["isError"] = True
    return r


def read_line():
    line = sys.stdin.readline()
    if not line:
        if hung or MODE == "stuck":
            time.sleep(600)  # ignores EOF, like server-everything with a timer running
        sys.exit(0)
    return line


def load_mem():
    try:
        with open(MEMFILE) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def call_tool(mid, name, args):
    global hung
    exp = os.environ.get("TURNQ_EXPERIMENT", "")
    if name == "echo":
        return text("echo: %s | server=%s cwd=%s workdir=%s experiment=%s attempt=%s redis_env=%s" % (
            args.get("message"), NAME, os.getcwd(), os.environ.get("TURNQ_WORKDIR"), exp,
            os.environ.get("TURNQ_ATTEMPT"), "yes" if "TURNQ_REDIS" in os.environ else "no"))
    if name == "memory_put":
        mem = load_mem()
        mem.append({"exp": exp, "value": args.get("value")})
        with open(MEMFILE + ".tmp", "w") as f:
            json.dump(mem, f)
        os.rename(MEMFILE + ".tmp", MEMFILE)
        return text("stored %s" % args.get("value"))
    if name == "memory_get":
        return text("memory: " + json.dumps(load_mem(), sort_keys=True))
    if name == "ranged":
        return text("ranged: " + json.dumps(args, sort_keys=True))
    if name == "dotted.name":
        return text("dotted")
    if name == "image":
        png = base64.b64encode(b"\x89PNG" + b"x" * 1230).decode()
        return {"content": [{"type": "text", "text": "an image:"},
                            {"type": "image", "data": png, "mimeType": "image/png"}]}
    if name == "iserror":
        return text("it failed on purpose", True)
    if name == "sampling":
        asks = {mid: "roots/list", 900001: "sampling/createMessage", "p1": "ping"}
        out({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "asking"}})
        out({"jsonrpc": "2.0", "id": mid, "method": "roots/list"})
        out({"jsonrpc": "2.0", "id": 900001, "method": "sampling/createMessage",
             "params": {"messages": [], "maxTokens": 10}})
        out({"jsonrpc": "2.0", "id": "p1", "method": "ping"})
        got = {}
        while len(got) < len(asks):
            m = json.loads(read_line())
            if "method" in m or m.get("id") not in asks:
                continue
            got[asks[m["id"]]] = ("error %d" % m["error"]["code"]) if "error" in m else \
                "result " + json.dumps(m.get("result"))
        return text("; ".join("%s: %s" % (k, got[k]) for k in sorted(got)))
    if name == "noisy":
        for i in range(3000):
            sys.stderr.write("noisy line %d %s\n" % (i, "n" * 80))
        sys.stderr.flush()
        return text("noisy: done")
    if name == "garbage":
        sys.stdout.write("this is not JSON\n")
        sys.stdout.write('{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"cut\n' % mid)
        sys.stdout.flush()
        return None
    if name == "hang":
        hung = True
        return None
    if name == "surrogate":
        sys.stdout.write('{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"x\\ud800y"}]}}\n' % mid)
        sys.stdout.flush()
        return None
    if name == "batch":
        out([{"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "b"}},
             {"jsonrpc": "2.0", "id": mid, "result": text("in a batch")}])
        return None
    if name == "huge":
        sys.stdout.write('{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"' % mid)
        sys.stdout.write("a" * (17 << 20) + '"}]}}\n')
        sys.stdout.flush()
        return None
    if name == "crash":
        sys.stderr.write("fake_mcp %s: crashing on purpose\n" % NAME)
        os._exit(3)
    return text("unknown tool %s" % name, True)


def main():
    global initialized
    if opt("--pids"):
        child = ""
        if "--child" in ARGS:
            child = str(subprocess.Popen(["sleep", "300"]).pid)
        with open(os.path.join(opt("--pids"), str(os.getpid())), "w") as f:
            f.write("%d %s %s\n" % (os.getpgid(0), os.getcwd(), child))
    sys.stderr.write("fake_mcp %s: mode %s, pid %d\n" % (NAME, MODE, os.getpid()))
    sys.stderr.flush()
    if MODE == "exit":
        sys.stderr.write("fake_mcp %s: exiting at start on purpose\n" % NAME)
        sys.exit(5)
    if MODE == "banner":
        sys.stdout.write("Fake MCP server %s running on stdio (a banner on stdout)\n" % NAME)
        sys.stdout.flush()
    while True:
        line = read_line()
        try:
            msg = json.loads(line)
        except ValueError:
            continue  # dropped without an answer, as the SDK servers do
        method, mid = msg.get("method"), msg.get("id")
        if MODE == "noinit":
            continue
        if method == "initialize":
            if MODE == "stderrflood":
                for i in range(10000):
                    sys.stderr.write("flood %d %s\n" % (i, "f" * 95))
                sys.stderr.flush()
            if MODE == "initerror":
                error(mid, -32602, "Unsupported protocol version")
                continue
            version = {"oldversion": "2024-11-05", "badversion": "2099-01-01"}.get(
                MODE, msg["params"]["protocolVersion"])
            caps = {} if MODE == "nocaps" else {"tools": {"listChanged": True}}
            reply(mid, {"protocolVersion": version, "capabilities": caps,
                        "serverInfo": {"name": "fake-" + NAME, "version": "1.0"}})
        elif method == "notifications/initialized":
            initialized = True
        elif method == "tools/list":
            if not initialized:
                error(mid, -32002, "tools/list before notifications/initialized")
                continue
            start = int((msg.get("params") or {}).get("cursor", "page-0").split("-")[1])
            names = ORDER[start:start + PAGE]
            res = {"tools": [dict(TOOLS[n], name=n) for n in names]}
            if start + PAGE < len(ORDER):
                res["nextCursor"] = "page-%d" % (start + PAGE)
            if MODE == "loopcursor":
                res["nextCursor"] = "page-0"
            reply(mid, res)
        elif method == "tools/call":
            r = call_tool(mid, msg["params"]["name"], msg["params"].get("arguments") or {})
            if r is not None:
                reply(mid, r)
        elif method == "ping":
            reply(mid, {})
        elif mid is not None and method:
            error(mid, -32601, "Method not found")


main()
