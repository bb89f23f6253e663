#ifndef WORKER_ENV_H
#define WORKER_ENV_H
/* env: the experiment's environment (SPEC "The environment"): the user's simulation, which runs
 * tools and may supply turn prompts. One JSON request, one JSON response, one exchange at a
 * time. Two transports: an HTTP POST per request (--env-url), or a process started once per
 * experiment attempt that speaks JSON Lines on stdin/stdout (--env-cmd; argv split on spaces, no
 * shell; its stderr goes to the worker's log). */
#include <ev.h>
#include <jansson.h>

#include "err.h"
#include "http.h"

struct env;

struct env_cfg {
    const char *url;      /* --env-url, or NULL */
    const char *cmd;      /* --env-cmd, or NULL */
    double timeout_s;     /* longest wait for one response */
};

/* Called once per request: reply is the response object (borrowed for the call) or NULL with err
 * saying why (timeout, the process died, not a JSON object, HTTP status). */
typedef void env_reply_fn(struct env *e, json_t *reply, const char *err, void *arg);

/* Opens the environment for one attempt of experiment `id` (for logs). With --env-cmd this
 * starts the process. Returns NULL with err when it cannot start. */
struct env *env_open(struct ev_loop *loop, struct http *http, const struct env_cfg *cfg, const char *id,
                     char err[ERR_LEN]);

/* Sends one request (borrowed; serialised here). At most one may be outstanding. cb is never
 * called before env_request returns. */
void env_request(struct env *e, json_t *req, env_reply_fn *cb, void *arg);

/* Ends the environment: an outstanding request is dropped without its callback; with --env-cmd,
 * stdin is closed, the process is given a moment to exit, then killed, and reaped. The memory
 * is released once the process is reaped. env_close(NULL) is a no-op. */
void env_close(struct env *e);

/* Ends the environment at once: the process, if any, is killed and reaped before this returns.
 * For shutdown paths where the loop will not run again. env_kill(NULL) is a no-op. */
void env_kill(struct env *e);

#endif
