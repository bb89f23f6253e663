#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H
/* worker: the daemon beside one Ollama host. It holds its machine's lease (the heartbeat key),
 * claims experiments from its machine's queue into its running list with one atomic BLMOVE on a
 * connection of their own, runs up to `slots` of them at once, and keeps Redis told what it is
 * doing. It waits for Redis and Ollama rather than exiting, so a box can boot in any order. */
#include <ev.h>
#include <stdbool.h>

#include "env.h"
#include "mcpset.h"
#include "redisurl.h"

struct worker_cfg {
    struct redis_addr redis;
    const char *ns;
    const char *machine;
    const char *ollama_url;      /* the worker's own Ollama; jobs cannot change it */
    long slots;                  /* experiments at once */
    struct env_cfg env;          /* env.url / env.cmd NULL: no environment */
    const struct mcpset_cfg *mcp;/* MCP servers per attempt (borrowed); NULL or none: no MCP */
    bool exit_when_idle;         /* exit 0 once the queue and running list are empty */
    bool steal;                  /* idle: take never-started experiments from other queues */
    long max_attempts;           /* attempts failing on errors before an experiment fails */
    long max_interruptions;      /* starts cut short (crash, stop) before an experiment fails */
    double load_timeout_s;       /* first byte of a call */
    double idle_timeout_s;       /* silence once a call streams */
    double grace_s;              /* graceful stop: longest wait for running turns to end */
    const char *metrics_file;    /* NULL, or the Prometheus textfile to keep written */
    double metrics_interval_s;   /* how often it is written */
};

struct worker;

/* Returns a new worker on loop, already connecting; cfg is copied (its strings borrowed). */
struct worker *worker_new(struct ev_loop *loop, const struct worker_cfg *cfg);

/* From a signal: the first asks for a graceful stop: claim nothing more; each running experiment
 * goes back first in line (RPUSH) with its committed turns at its next turn boundary, or when
 * grace_s has passed, cutting its turn short; then leave the loop. `now` (a second signal) leaves
 * at once, keeping what is committed: the running list holds the rest for the next start. */
void worker_stop(struct worker *w, bool now);

void worker_free(struct worker *w); /* NULL is a no-op */

#endif
