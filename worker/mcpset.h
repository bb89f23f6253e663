#ifndef WORKER_MCPSET_H
#define WORKER_MCPSET_H
/* mcpset: the MCP servers of one experiment attempt (--mcp), as one source of tools. Opening a
 * set starts every configured server, each in a fresh working directory of its own
 * (BASE/turnq-mcp.XXXXXX, "{workdir}" in its command line) with TURNQ_EXPERIMENT,
 * TURNQ_ATTEMPT and TURNQ_WORKDIR in a minimal environment; once all have listed their tools,
 * the set offers them next to the job's and the environment's, renamed where names collide, and
 * routes each call of an offered name to the server that has it. Closing the set shuts every
 * server down (mcp.h) and removes the working directories once they are gone.
 *
 * The configuration side parses --mcp values: "[NAME:] PROG ARGS", words split on whitespace
 * without a shell ('single' and "double" quotes group, a backslash escapes the next character,
 * \" and \\ inside double quotes), several servers in one value separated by an unquoted ';'. */
#include <ev.h>
#include <jansson.h>
#include <stdbool.h>

#include "err.h"

#define MCPSET_MAX_SERVERS 16
#define MCPSET_MAX_ARGS 64
#define MCPSET_ALIAS_MAX 16
#define MCPSET_MAX_DENY 64

/* ---- Configuration ---- */

struct mcpset_server {
    char alias[MCPSET_ALIAS_MAX + 1]; /* NAME:, or mcpN (its position from 1) */
    char *argv[MCPSET_MAX_ARGS + 1];  /* owned; NULL-terminated; may hold "{workdir}" */
    int argc;
    char *text;                       /* owned: the command as given, for logs */
};

struct mcpset_cfg {
    struct mcpset_server servers[MCPSET_MAX_SERVERS];
    int n;
    char *deny[MCPSET_MAX_DENY];      /* owned: NAME or ALIAS:NAME */
    int ndeny;
    double timeout_s;                 /* each tools/call */
    double start_timeout_s;           /* a server's spawn to its tools listed */
    const char *workdir;              /* base of the working directories; NULL: $TMPDIR, else /tmp */
};

/* Adds the server(s) of one --mcp value (a TURNQ_MCP value may hold several, split by ';').
 * The program must exist now (on PATH, or an executable path), unless it contains {workdir}.
 * Returns 0, or -1 with err naming the problem (an unterminated quote, an empty command, a
 * duplicate NAME, too many servers or words, a program not found); cfg is then unchanged. */
int mcpset_cfg_add(struct mcpset_cfg *cfg, const char *value, char err[ERR_LEN]);

/* Adds the tool names of one --mcp-deny value (comma-separated; NAME hides that tool of every
 * server, ALIAS:NAME of one). Returns 0, or -1 with err. */
int mcpset_cfg_deny(struct mcpset_cfg *cfg, const char *value, char err[ERR_LEN]);

void mcpset_cfg_free(struct mcpset_cfg *cfg); /* frees what the adds allocated */

/* ---- One attempt's servers ---- */

struct mcpset;

/* Called once: err NULL when every server is ready, else why the first one failed. */
typedef void mcpset_ready_fn(struct mcpset *s, const char *err, void *arg);

/* Starts the servers of cfg (borrowed; must outlive the set) for attempt `attempt` of experiment
 * `experiment` (its id as text; also used in log lines). Never NULL; ready is called later,
 * never before mcpset_open returns. */
struct mcpset *mcpset_open(struct ev_loop *loop, const struct mcpset_cfg *cfg, const char *experiment, int attempt,
                           mcpset_ready_fn *ready, void *arg);

/* Once ready: appends the servers' tools, as Ollama tool definitions, to `tools` (the array of
 * the tools already offered: the job's and the environment's, whose names are kept). A tool keeps
 * its name when that is valid and unique among everything offered; otherwise it is offered as
 * ALIAS__NAME (see toolschema_name), made unique. Denied tools and tools that need task
 * augmentation are left out. */
void mcpset_offer(struct mcpset *s, json_t *tools);

/* Whether `name` is an offered name of one of the set's tools. NULL set: false. */
bool mcpset_has(const struct mcpset *s, const char *name);

/* Called once per call with the tool message's content (borrowed for the call) and whether it
 * reports an error (an isError result, a timeout, a dead server...). */
typedef void mcpset_call_fn(const char *content, bool is_error, void *arg);

/* Calls the offered tool `name` (mcpset_has must be true) with args (borrowed). One call at a
 * time. cb is never called before mcpset_call returns. */
void mcpset_call(struct mcpset *s, const char *name, json_t *args, mcpset_call_fn *cb, void *arg);

/* Ends the set: a call in flight is dropped without its callback; each server is shut down in
 * the background and its working directory removed once it is gone. NULL is a no-op. May be
 * called from inside the set's callbacks. */
void mcpset_close(struct mcpset *s);

/* Ends the set at once: every server killed and reaped, directories removed. For paths where the
 * loop will not run again. NULL is a no-op. */
void mcpset_kill(struct mcpset *s);

#endif
