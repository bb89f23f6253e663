#ifndef WORKER_RUN_H
#define WORKER_RUN_H
/* run: one attempt of one experiment on this worker, from claim to ack: load the job and its
 * committed turns, open the environment, run each remaining turn (up to max_actions_per_turn
 * /api/chat calls, executing tool calls in between), commit each turn, and write the result.
 * An explicit state machine driven by Redis, curl and environment callbacks. */
#include <ev.h>
#include <jansson.h>
#include <stdbool.h>

#include "env.h"
#include "http.h"
#include "job.h"
#include "mcpset.h"
#include "ollama.h"
#include "rconn.h"

struct run;

/* What a run borrows from its worker; everything must outlive the run. */
struct run_ctx {
    struct ev_loop *loop;
    struct rconn *redis;              /* the command connection */
    struct http *http;
    const char *ns;
    const char *machine;
    const char *worker_id;            /* "host:pid" */
    const char *token;                /* the machine's lease token: every write is fenced by it */
    const char *ollama_url;           /* the worker's own; nothing in a job changes it */
    const struct env_cfg *env;        /* NULL: no environment */
    const struct mcpset_cfg *mcp;     /* NULL: no MCP servers */
    struct ollama_info *const *ollama;/* the worker's latest discovery (may point to NULL) */
    long max_attempts;                /* attempts that may fail on errors before "failed" */
    long max_interruptions;           /* starts cut short by crashes or stops before "failed" */
    double load_timeout_s;            /* first byte of a call (a cold model load) */
    double idle_timeout_s;            /* silence once a call's stream flows */
    void (*on_progress)(void *arg, bool started); /* after a start (started) and each committed turn: heartbeat */
    void *progress_arg;
    /* After a box check (a call kept failing): healthy or not, and the job checked with. */
    void (*on_box)(void *arg, bool healthy, const char *err, const struct job *job);
    void *box_arg;
    /* Whether the machine's lease was renewed recently enough to be sure it is still ours: checked
     * before every call to Ollama, so a worker frozen past its lease sends nothing more. */
    bool (*lease_fresh)(void *arg);
    void *lease_arg;
};

enum run_outcome {
    RUN_ENDED,      /* the experiment reached done/failed/cancelled, or was requeued; acked */
    RUN_ABANDONED,  /* Redis was lost mid-way: the id stays in the running list for a restart */
    RUN_FENCED,     /* the lease or the attempt was no longer ours: nothing was written */
};

typedef void run_done_fn(struct run *r, enum run_outcome outcome, void *arg);

/* Starts running experiment `id`, just claimed into this machine's running list (resumed: taken
 * back from that list, so its previous start was cut short and counts in `interrupted`). done is
 * called once, never before run_start returns; the run may be freed (run_free) inside done. */
struct run *run_start(const struct run_ctx *ctx, const char *id, bool resumed, run_done_fn *done, void *arg);
void run_free(struct run *r); /* NULL is a no-op; cancels whatever is in flight */
/* Kills the attempt's environment process and MCP servers at once (the worker is going away and
 * the loop will not run again); the run stays valid for its Redis callbacks. NULL is a no-op. */
void run_kill_procs(struct run *r);

/* ---- Stopping ---- */

/* Graceful stop: at the next turn boundary the experiment goes back first in line with its
 * committed turns (counted in `interrupted`). */
void run_stop(struct run *r);

/* The grace period is over: a turn in progress is cut short now (its calls dropped) and the
 * experiment requeued likewise. */
void run_abort(struct run *r);

/* The experiment was cancelled (dispatcher cancel): it ends `cancelled` at the next call. */
void run_cancel(struct run *r);

/* ---- For the heartbeat ---- */
const char *run_id(const struct run *r);
/* Its final write (ack or requeue) is in flight or done: the id may already be claimable again. */
bool run_ending(const struct run *r);
json_t *run_id_json(const struct run *r); /* new reference: the id with its JSON type (42 stays a number) */
int run_turn(const struct run *r);      /* turn being run (0 while loading) */
int run_turns(const struct run *r);     /* the job's number of turns (0 while loading) */
int run_calls(const struct run *r);     /* /api/chat calls made in this attempt */
int run_attempt(const struct run *r);
double run_since(const struct run *r);  /* ev_now when the run started */

#endif
