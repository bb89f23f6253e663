#ifndef WORKER_MCP_H
#define WORKER_MCP_H
/* mcp: one MCP server over stdio, as a client (reference/mcp-stdio.md): spawned without a
 * shell in its own process group and working directory; JSON-RPC 2.0 framed one message per
 * line; the initialize handshake (offering 2025-11-25, accepting the older revisions the SDKs
 * answer with), notifications/initialized and a paginated tools/list; then tools/call requests,
 * each with its own timeout. Requests the server sends us are refused at once (-32601; ping is
 * answered {}), notifications ignored. The server's death (exit, stdout closed, a broken pipe, a
 * line over 16 MiB) fails every pending request at once. Shutdown closes stdin, then signals the
 * process group (SIGTERM after 2 s, SIGKILL 2 s later), reaps the leader and removes the
 * working directory. */
#include <ev.h>
#include <jansson.h>
#include <stdbool.h>

#include "err.h"

#define MCP_PROTOCOL_VERSION "2025-11-25" /* the revision offered */
#define MCP_MAX_LINE (16u << 20)          /* longest message accepted from a server, bytes */
#define MCP_MAX_PAGES 100                 /* tools/list pages per listing */
#define MCP_MAX_TOOLS 1000                /* tools per server */

struct mcp;

struct mcp_spawn {
    const char *alias;       /* the server's short name, for messages */
    const char *log_id;      /* the experiment id, for log lines */
    char *const *argv;       /* argv[0] is searched on PATH; no shell */
    char *const *envp;       /* the whole environment of the server */
    const char *cwd;         /* its working directory; removed (recursively) once it is gone */
    double start_timeout_s;  /* from spawn to the tools listed */
    double timeout_s;        /* each tools/call */
};

/* Called once: with the server's tools (an array of MCP Tool objects, borrowed for the call)
 * when it is ready, or with tools NULL and err saying why it could not start. */
typedef void mcp_ready_fn(struct mcp *m, json_t *tools, const char *err, void *arg);

/* Spawns the server and starts the handshake. Returns NULL with err when it cannot be spawned
 * (the caller then still owns cwd); otherwise the mcp owns cwd and ready is called later, never
 * before mcp_start returns. */
struct mcp *mcp_start(struct ev_loop *loop, const struct mcp_spawn *sp, mcp_ready_fn *ready, void *arg,
                      char err[ERR_LEN]);

/* The protocol revision and "name version" the server reported (valid once ready). */
const char *mcp_protocol(const struct mcp *m);
const char *mcp_server_info(const struct mcp *m);
int mcp_pid(const struct mcp *m);

/* ---- Tool calls ---- */

struct mcp_call;

/* Called once per call: result is the CallToolResult (borrowed for the call), or NULL with err
 * ("MCP server 'x' gave no answer to tools/call 'y' within 30 s", "... exited with status 3").
 * The call handle is invalid once this has run. */
typedef void mcp_result_fn(json_t *result, const char *err, void *arg);

/* Sends tools/call for `tool` with `args` (an object, borrowed; NULL sends {}). The callback is
 * never called before mcp_call returns. */
struct mcp_call *mcp_call(struct mcp *m, const char *tool, json_t *args, mcp_result_fn *cb, void *arg);

/* Drops a call: its callback will not run; the server is told (notifications/cancelled). */
void mcp_call_cancel(struct mcp_call *c);

/* ---- Ending ---- */

/* Shuts the server down as described above; pending requests are dropped without their
 * callbacks. The memory is released once the process is reaped. May be called from inside this
 * server's callbacks (it never frees at once). NULL is a no-op. */
void mcp_close(struct mcp *m);

/* Kills the process group now, reaps the leader, removes the working directory and frees m.
 * For paths where the loop will not run again; not from inside its callbacks. NULL is a no-op. */
void mcp_kill(struct mcp *m);

/* mcp_kill for every server still alive, closing or not: the worker calls it on the way out so
 * that no server outlives it. */
void mcp_kill_all(void);

#endif
