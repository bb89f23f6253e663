/* run: the life of one experiment attempt, as a state machine.
 *
 *   LOADING    HGETALL the job, LRANGE its committed turns (and transcript for history: carry)
 *   STARTING   mark it running (attempts+1), open the environment, "start" event, offered tools
 *   PROMPTING  "turn" event: the environment may give the prompt or end the experiment
 *   CALLING    one streamed /api/chat call (retried with backoff on transport faults)
 *   TOOLING    the reply's tool calls executed in order, each answered with a tool message
 *   COMMITTING the turn record, transcript, job turn and event in one fenced script (batch.h);
 *              the next turn's early call goes out with it
 *   FINISHING  the result, the final state and the ack (LREM from the running list) in one
 *              fenced script
 *
 * A turn is the unit of commit: nothing of an uncommitted turn is kept, and a committed turn is
 * never sent to Ollama again. If Redis goes away mid-run the attempt is abandoned where it is;
 * the id stays in the running list and the worker resumes it at the first uncommitted turn.
 *
 * Without an environment the next turn's prompt is known before the commit is acknowledged, so
 * its first call is sent as the commit goes out (the early call, send_early); its reply is acted
 * on only once the commit is acknowledged, and dropped with the call if it is not. */
#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "callrec.h"
#include "chat.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "mcpset.h"
#include "rerror.h"
#include "result.h"
#include "timefmt.h"
#include "xalloc.h"

#define RUN_CALL_RETRIES 4       /* retries of one call before the attempt fails */
#define RUN_RETRY_BASE_S 0.25    /* first backoff; doubles, with jitter */
#define RUN_RETRY_MAX_S 8.0

enum run_state { RUN_LOADING, RUN_STARTING, RUN_PROMPTING, RUN_CALLING, RUN_TOOLING, RUN_COMMITTING,
                 RUN_FINISHING, RUN_OVER };

static const char *const state_names[] = {"loading", "starting", "prompting", "calling", "tooling",
                                          "committing", "finishing", "over"};

/* How a call ended, taken from its request, which lives only as long as its on_done. */
struct call_end {
    long status;                   /* HTTP status, 0 without a response */
    bool failed;                   /* a transport failure */
    double elapsed_s;
    char error[ERR_LEN];           /* the transport error, "" if none */
};

struct run {
    struct run_ctx ctx;
    enum run_state state;
    char id[JOB_ID_MAX + 1];
    struct job *job;
    int attempt;                   /* the job's attempts after this start */
    long errors;                   /* attempts that failed on errors before this one */
    long interrupted;              /* starts cut short by a crash or a stop, before this one */
    bool resumed;                  /* taken back from the running list: the last start was cut short */
    bool fix_turn;                 /* the hash's turn disagrees with the committed list: set it */
    int committed;                 /* last committed turn */
    int turn;                      /* the turn being run */
    int total_calls;               /* calls in this attempt */
    bool restart;                  /* resume: restart; drop the committed turns */
    char started_at[TIMEFMT_ISO_LEN]; /* the experiment's first start */
    char machines[1024];           /* every machine it ran on, comma-separated */
    char placed[JOB_MACHINE_MAX + 1]; /* where it was placed, when another machine stole it */
    ev_tstamp since;
    json_t *turn_records;          /* committed turn records */
    json_t *conversation;          /* history carry: the messages of every committed turn */
    json_t *tools;                 /* offered tools: the job's, the environment's, the MCP servers' */
    json_t *env_tools;             /* object: names the environment supplied */
    struct env *env;
    struct mcpset *mcp;            /* the attempt's MCP servers (--mcp), or NULL */
    char final_status[16];
    char final_error[ERR_LEN];
    bool count_error;              /* the final write also counts a failed attempt */
    bool count_interruption;       /* the final write also counts an interruption */

    /* the current turn */
    json_t *messages;              /* what the next call sends */
    json_t *turn_msgs;             /* what this turn added: the transcript entry */
    json_t *actions;
    int calls;
    long long prompt_tokens, eval_tokens;
    ev_tstamp turn_started;
    char *reply;                   /* content of the turn's last reply */
    struct callrec *callrec;       /* the turn's calls: options, keep_alive, loads (reloads) */
    json_t *sent_options;          /* what the call in flight sent (NULL: none) */
    json_t *sent_keep_alive;
    char *mixed_digests;           /* the job hash's mixed_digests (submit --allow-mixed-digests), or NULL */

    bool stopping;                 /* run_stop: requeue at the next turn boundary */
    bool cancelling;               /* run_cancel: end cancelled at the next call boundary */
    char call_error[ERR_LEN];      /* the call's last error, while the box is checked */
    struct ollama_health *health;  /* the box check in flight */

    /* the current call */
    struct http_req *req;
    struct chat_stream *cs;
    int retries;
    ev_timer retry;
    struct metrics_calls mcalls;   /* finished calls, counted with the next write (metrics.h) */

    /* the tool calls being executed */
    json_t *todo;                  /* the reply's tool calls */
    size_t tool_idx;
    ev_tstamp tool_started;

    run_done_fn *done;
    void *done_arg;
    ev_idle finish_idle;           /* calls done outside our own callbacks */
    enum run_outcome outcome;

    /* the next turn's first call, sent while this turn's commit is in flight (send_early) */
    int next_turn;                 /* the turn next_messages and the early call are for (0: none) */
    json_t *next_messages;
    struct http_req *early_req;    /* the early call, in flight */
    struct chat_stream *early_cs;  /* its reply */
    bool early_held;               /* it ended before the commit's answer: early_end says how */
    ev_tstamp early_sent;          /* when it went out: where its turn's time starts */
    struct call_end early_end;
};

static void next_turn(struct run *r);
static void do_call(struct run *r);
static json_t *turn_messages(struct run *r, const char *prompt, json_t *conversation);
static char *call_body(struct run *r, json_t *messages);
static void send_call(struct run *r, const char *body, int turn, int call, struct http_req **req,
                      struct chat_stream **cs);
static void call_ended(struct run *r, const struct call_end *e);
static void drop_prepared(struct run *r);
static void send_early(struct run *r);
static void run_tools(struct run *r);
static void finish(struct run *r, const char *status, const char *error);
static void attempt_failed(struct run *r, const char *error, bool retryable);
static void dead_letter(struct run *r, const char *reason);
static void cancel_io(struct run *r);
static void on_box_checked(bool healthy, const char *err, void *arg);

static void set_state(struct run *r, enum run_state s)
{
    log_debug("job=%s %s -> %s", r->id, state_names[r->state], state_names[s]);
    r->state = s;
}

/* ---- Ending ---- */

static void on_finish_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct run *r = w->data;
    ev_idle_stop(loop, w);
    r->done(r, r->outcome, r->done_arg);
}

static void end_run(struct run *r, enum run_outcome outcome)
{
    set_state(r, RUN_OVER);
    r->outcome = outcome;
    drop_prepared(r);
    if (r->env) {
        env_close(r->env);
        r->env = NULL;
    }
    mcpset_close(r->mcp);
    r->mcp = NULL;
    ev_idle_start(r->ctx.loop, &r->finish_idle);
}

/* Redis went away under us: keep everything as it is in Redis and let the worker resume. */
static void abandon(struct run *r, const char *step)
{
    log_warn("job=%s lost Redis while %s; it stays in the running list and resumes at turn %d", r->id, step,
             r->committed + 1);
    cancel_io(r); /* the early call, if the commit was lost */
    end_run(r, RUN_ABANDONED);
}

static bool reply_ok(struct run *r, redisReply *reply, const char *step)
{
    if (reply == NULL) {
        abandon(r, step);
        return false;
    }
    if (batch_fenced(reply)) {
        /* The lease is gone (stop claiming), or only this experiment is no longer ours to write
         * (recovered, cancelled, a newer attempt): either way, stop here without writing. */
        bool lease = strstr(reply->str, "holds the machine") != NULL;
        log_error("job=%s not %s: %s; stopping it here without writing", r->id, step, reply->str + 7);
        cancel_io(r);
        end_run(r, lease ? RUN_FENCED : RUN_ABANDONED);
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR && rerror_not_now(reply->str)) {
        /* Redis cannot serve now (a long script, loading its data, a replica): like a lost
         * connection, keep everything as it is and resume later. */
        log_warn("job=%s Redis cannot serve %s now: %s", r->id, step, reply->str);
        cancel_io(r);
        abandon(r, step);
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Not the connection: the experiment's data (WRONGTYPE: a key of another type, set by
         * hand?). Retrying cannot help: dead-letter it with Redis's words. */
        char why[ERR_LEN];
        snprintf(why, sizeof why, "Redis refused %s: %s", step, reply->str);
        if (r->state == RUN_FINISHING) {
            log_error("job=%s %s; it stays in the running list", r->id, why);
            abandon(r, step);
            return false;
        }
        cancel_io(r);
        dead_letter(r, why);
        return false;
    }
    return true;
}

/* ---- Redis writes: every write is a fenced batch (batch.h) ---- */

/* Sends b behind the fence: the machine's lease, the experiment still in our running list, and,
 * once this run has marked it running, the attempt (a stale attempt must not write). */
static void run_exec(struct run *r, struct batch *b, rconn_reply_fn *cb, void *arg)
{
    batch_exec(b, r->ctx.redis, key_worker(r->ctx.ns, r->ctx.machine).s, r->ctx.token, key_job(r->ctx.ns, r->id).s,
               r->attempt, key_running(r->ctx.ns, r->ctx.machine).s, r->id, cb, arg);
}

static void add_event(struct batch *b, struct run *r, const char *event, int turn)
{
    char t[16], maxlen[16];
    snprintf(t, sizeof t, "%d", turn);
    snprintf(maxlen, sizeof maxlen, "%d", KEYS_EVENTS_MAXLEN);
    batch_add(b, "XADD", key_events(r->ctx.ns).s, "MAXLEN", "~", maxlen, "*", "id", r->id, "event", event,
              "machine", r->ctx.machine, "turn", t, NULL);
}

static void on_acked(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct run *r = arg;
    if (reply_ok(r, reply, "acking"))
        end_run(r, RUN_ENDED);
}

static void write_final(struct run *r)
{
    set_state(r, RUN_FINISHING);
    drop_prepared(r); /* an early call of a turn that will not run (cancelled) */
    const char *status = r->final_status;
    const char *error = r->final_error[0] ? r->final_error : NULL;
    int64_t now = timefmt_now_ms();
    char finished[TIMEFMT_ISO_LEN];
    timefmt_iso(now, finished);
    if (!r->started_at[0])
        timefmt_iso(now, r->started_at);
    struct result_in in = {
        .job = r->job, .status = status, .machine = r->ctx.machine, .machines = r->machines,
        .placed = r->placed[0] ? r->placed : r->ctx.machine,
        .attempts = r->attempt, .started_at = r->started_at, .finished_at = finished,
        .duration_ms = now - timefmt_parse_iso(r->started_at), .turns = r->turn_records, .error = error,
        .ollama_version = *r->ctx.ollama ? (*r->ctx.ollama)->version : NULL,
        .model_digest = ollama_info_digest(*r->ctx.ollama, r->job->model),
        .mixed_digests = r->mixed_digests,
    };
    json_t *res = result_build(&in);
    char *text = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(res);

    const char *ns = r->ctx.ns;
    struct batch *b = batch_new();
    batch_add(b, "SET", key_result(ns, r->id).s, text, NULL);
    batch_add(b, "HSET", key_job(ns, r->id).s, "state", status, "finished_at", finished, "error",
              error ? error : "", NULL);
    if (r->count_error)
        batch_add(b, "HINCRBY", key_job(ns, r->id).s, "errors", "1", NULL);
    if (r->count_interruption)
        batch_add(b, "HINCRBY", key_job(ns, r->id).s, "interrupted", "1", NULL);
    batch_add(b, "LREM", key_running(ns, r->ctx.machine).s, "1", r->id, NULL);
    add_event(b, r, status, r->committed);
    if (!strcmp(status, "failed")) {
        batch_add(b, "LPUSH", key_dead(ns).s, r->id, NULL);
        add_event(b, r, "dead", r->committed);
    }
    metrics_add_end(b, ns, r->ctx.machine, &r->mcalls, status);
    run_exec(r, b, on_acked, r);
    free(text);
    if (error)
        log_warn("job=%s failed after %d turns: %s", r->id, r->committed, error);
    else
        log_info("job=%s %s: %d turns, %d calls this attempt, attempt %d", r->id, status, r->committed,
                 r->total_calls, r->attempt);
}

static void on_env_end(struct env *e, json_t *reply, const char *err, void *arg)
{
    (void)e;
    (void)reply;
    (void)err; /* the answer to "end" is ignored (SPEC) */
    write_final(arg);
}

static void finish(struct run *r, const char *status, const char *error)
{
    snprintf(r->final_status, sizeof r->final_status, "%s", status);
    snprintf(r->final_error, sizeof r->final_error, "%s", error ? error : "");
    if (r->env) {
        json_t *req = json_pack("{s:s, s:O, s:s}", "event", "end", "experiment", r->job->id_json, "status", status);
        env_request(r->env, req, on_env_end, r);
        json_decref(req);
        return;
    }
    write_final(r);
}

/* A job that cannot run at all (no hash, a spec that does not parse): failed and dead-lettered
 * with the reason; a minimal result says so. */
static void dead_letter(struct run *r, const char *reason)
{
    log_error("job=%s cannot run: %s", r->id, reason);
    set_state(r, RUN_FINISHING);
    const char *ns = r->ctx.ns;
    char now[TIMEFMT_ISO_LEN];
    timefmt_iso(timefmt_now_ms(), now);
    json_t *res = json_pack("{s:s, s:s, s:s, s:s}", "id", r->id, "status", "failed", "machine", r->ctx.machine,
                            "error", reason);
    char *text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    /* A job key of another type (set by hand?) is kept aside as NS:job:ID:corrupt, so that the
     * job hash can say what happened. Sent first on the same connection, so it runs first. */
    static const char set_aside[] =
        "local t = redis.call('TYPE', KEYS[1]).ok\n"
        "if t ~= 'hash' and t ~= 'none' then redis.call('RENAME', KEYS[1], KEYS[1] .. ':corrupt') end\n"
        "return t\n";
    rconn_command(r->ctx.redis, NULL, NULL, "EVAL %s 1 %s", set_aside, key_job(ns, r->id).s);
    struct batch *b = batch_new();
    batch_add(b, "HSET", key_job(ns, r->id).s, "state", "failed", "error", reason, "machine", r->ctx.machine,
              "finished_at", now, NULL);
    batch_add(b, "SET", key_result(ns, r->id).s, text, NULL);
    batch_add(b, "LREM", key_running(ns, r->ctx.machine).s, "1", r->id, NULL);
    batch_add(b, "LPUSH", key_dead(ns).s, r->id, NULL);
    add_event(b, r, "failed", 0);
    add_event(b, r, "dead", 0);
    metrics_add_end(b, ns, r->ctx.machine, &r->mcalls, "failed");
    /* The job's keys may be what is broken (a string where a hash should be): fence on the lease
     * only, and let each write fail alone. */
    batch_best_effort(b);
    batch_exec(b, r->ctx.redis, key_worker(ns, r->ctx.machine).s, r->ctx.token, NULL, 0, NULL, NULL, on_acked, r);
    free(text);
}

/* Stops whatever I/O of the attempt is in flight: the call (and an early one), its retry timer,
 * the environment. */
static void cancel_io(struct run *r)
{
    if (r->req) {
        http_cancel(r->req);
        r->req = NULL;
    }
    drop_prepared(r);
    ollama_health_cancel(r->health);
    r->health = NULL;
    ev_timer_stop(r->ctx.loop, &r->retry);
    if (r->env) {
        env_close(r->env);
        r->env = NULL;
    }
    mcpset_close(r->mcp);
    r->mcp = NULL;
}

enum requeue_count {
    REQUEUE_ERROR,       /* the attempt failed on an error: counts in `errors` */
    REQUEUE_INTERRUPTED, /* a stop cut it short: counts in `interrupted` */
    REQUEUE_NOTHING,     /* the box, not the experiment, failed: counts nowhere */
};

/* Puts the experiment back first in line (RPUSH: the head of its queue) to resume at its first
 * uncommitted turn, in one fenced batch with the ack. */
static void requeue(struct run *r, const char *why, enum requeue_count count)
{
    cancel_io(r);
    set_state(r, RUN_FINISHING);
    const char *ns = r->ctx.ns;
    struct batch *b = batch_new();
    if (count == REQUEUE_ERROR)
        batch_add(b, "HINCRBY", key_job(ns, r->id).s, "errors", "1", NULL);
    if (count == REQUEUE_INTERRUPTED && r->attempt > 0)
        batch_add(b, "HINCRBY", key_job(ns, r->id).s, "interrupted", "1", NULL);
    batch_add(b, "HSET", key_job(ns, r->id).s, "state", "queued", NULL);
    if (why)
        batch_add(b, "HSET", key_job(ns, r->id).s, "error", why, NULL);
    batch_add(b, "LREM", key_running(ns, r->ctx.machine).s, "1", r->id, NULL);
    batch_add(b, "RPUSH", key_queue(ns, r->ctx.machine).s, r->id, NULL);
    add_event(b, r, "requeued", r->committed);
    metrics_add_requeue(b, ns, r->ctx.machine, &r->mcalls);
    run_exec(r, b, on_acked, r);
}

/* An attempt failed on an error: back first in line to run again from its first uncommitted
 * turn, unless it has failed max_attempts times (or cannot succeed). */
static void attempt_failed(struct run *r, const char *error, bool retryable)
{
    cancel_io(r);
    if (!retryable || r->errors + 1 >= r->ctx.max_attempts) {
        char why[ERR_LEN];
        if (retryable)
            snprintf(why, sizeof why, "%s (attempt %ld of %ld)", error, r->errors + 1, r->ctx.max_attempts);
        else
            snprintf(why, sizeof why, "%s", error);
        r->count_error = true;
        finish(r, "failed", why);
        return;
    }
    log_warn("job=%s attempt %d failed at turn %d: %s; requeued first in line", r->id, r->attempt, r->turn, error);
    requeue(r, error, REQUEUE_ERROR);
}

/* The stop points: a stop asked for (run_stop) is carried out at the next turn boundary. */
static bool stop_here(struct run *r)
{
    if (!r->stopping)
        return false;
    log_info("job=%s stopping at turn %d (%d committed): requeued first in line", r->id, r->committed + 1,
             r->committed);
    requeue(r, NULL, REQUEUE_INTERRUPTED);
    return true;
}

/* ---- Committing a turn ---- */

static void clear_turn(struct run *r)
{
    json_decref(r->messages);
    json_decref(r->turn_msgs);
    json_decref(r->actions);
    json_decref(r->todo);
    chat_stream_free(r->cs);
    free(r->reply);
    r->messages = r->turn_msgs = r->actions = r->todo = NULL;
    r->cs = NULL;
    r->reply = NULL;
}

struct commit {
    struct run *r;
    json_t *record;
};

static void on_committed(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct commit *c = arg;
    struct run *r = c->r;
    json_t *record = c->record;
    free(c);
    if (!reply_ok(r, reply, "committing a turn")) {
        json_decref(record);
        return;
    }
    r->committed = r->turn;
    json_array_append_new(r->turn_records, record);
    if (r->ctx.on_progress)
        r->ctx.on_progress(r->ctx.progress_arg, false);
    if (r->job->history == JOB_HISTORY_CARRY) {
        json_decref(r->conversation);
        r->conversation = json_incref(r->messages);
    }
    clear_turn(r);
    next_turn(r);
}

static void commit_turn(struct run *r, const char *stop)
{
    set_state(r, RUN_COMMITTING);
    /* Without an environment the next prompt is already known: its call goes out first, so that
     * Ollama works while Redis does. */
    if (!r->env && r->job->turn_prompts && r->turn < r->job->nturns)
        send_early(r);
    long long ms = (long long)((ev_now(r->ctx.loop) - r->turn_started) * 1000);
    json_t *record = result_turn_record(r->turn, stop, r->calls, r->reply, r->actions, r->prompt_tokens,
                                        r->eval_tokens, ms, r->ctx.machine);
    callrec_annotate(r->callrec, record);
    char *rec_text = json_dumps(record, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char *msgs_text = json_dumps(r->turn_msgs, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char t[16];
    snprintf(t, sizeof t, "%d", r->turn);
    const char *ns = r->ctx.ns;
    struct batch *b = batch_new();
    batch_expect_turn(b, r->turn - 1);
    batch_add(b, "RPUSH", key_turns(ns, r->id).s, rec_text, NULL);
    batch_add(b, "RPUSH", key_transcript(ns, r->id).s, msgs_text, NULL);
    batch_add(b, "HSET", key_job(ns, r->id).s, "turn", t, NULL);
    add_event(b, r, "turn", r->turn);
    metrics_add_turn(b, ns, r->ctx.machine, &r->mcalls, (double)ms / 1000.0, stop, ev_now(r->ctx.loop));
    if (callrec_reloads(r->callrec)) {
        /* for dispatcher status: experiments that saw reloads, without reading their turns */
        char n[16];
        snprintf(n, sizeof n, "%d", callrec_reloads(r->callrec));
        batch_add(b, "HINCRBY", key_job(ns, r->id).s, "reloads", n, NULL);
    }
    struct commit *c = xmalloc(sizeof *c);
    c->r = r;
    c->record = record;
    run_exec(r, b, on_committed, c);
    free(rec_text);
    free(msgs_text);
    log_debug("job=%s turn %d committed: %s after %d calls", r->id, r->turn, stop, r->calls);
}

/* ---- Tools ---- */

static bool offered(struct run *r, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(r->tools, i, t) {
        const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (n && !strcmp(n, name))
            return true;
    }
    return false;
}

/* Appends the tool message and the action, then goes on with the next call of the reply. */
static void tool_done(struct run *r, json_t *call, const char *content, bool is_error)
{
    json_t *fn = json_object_get(call, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    json_t *msg = json_pack("{s:s, s:s, s:O, s:s}", "role", "tool", "tool_name", name, "tool_call_id",
                            json_object_get(call, "id"), "content", content);
    json_array_append(r->messages, msg);
    json_array_append_new(r->turn_msgs, msg);
    long long ms = (long long)((ev_now(r->ctx.loop) - r->tool_started) * 1000);
    json_t *action = json_pack("{s:s, s:O, s:s, s:I}", "name", name, "arguments", json_object_get(fn, "arguments"),
                               "content", content, "ms", (json_int_t)ms);
    if (is_error)
        json_object_set_new(action, "error", json_true());
    json_array_append_new(r->actions, action);
    r->tool_idx++;
    run_tools(r);
}

static void tool_error(struct run *r, json_t *call, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void tool_error(struct run *r, json_t *call, const char *fmt, ...)
{
    char text[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s}", "error", text);
    char *content = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    tool_done(r, call, content, true);
    free(content);
}

static void on_mcp_tool(const char *content, bool is_error, void *arg)
{
    struct run *r = arg;
    tool_done(r, json_array_get(r->todo, r->tool_idx), content, is_error);
}

static void on_env_tool(struct env *e, json_t *reply, const char *err, void *arg)
{
    (void)e;
    struct run *r = arg;
    if (!reply) {
        attempt_failed(r, err, true);
        return;
    }
    json_t *call = json_array_get(r->todo, r->tool_idx);
    json_t *content = json_object_get(reply, "content");
    json_t *error = json_object_get(reply, "error");
    if (error) {
        json_t *obj = json_pack("{s:O}", "error", error);
        char *text = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        tool_done(r, call, text, true);
        free(text);
    } else if (json_is_string(content)) {
        tool_done(r, call, json_string_value(content), false);
    } else {
        /* JSON content is serialised into the tool message (SPEC); absent content is "". */
        char *text = content ? json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))
                             : xstrdup("");
        tool_done(r, call, text, false);
        free(text);
    }
}

static void run_tools(struct run *r)
{
    set_state(r, RUN_TOOLING);
    if (r->tool_idx >= json_array_size(r->todo)) {
        if (r->calls >= r->job->max_actions)
            commit_turn(r, "max_actions");
        else
            do_call(r);
        return;
    }
    r->tool_started = ev_now(r->ctx.loop);
    json_t *call = json_array_get(r->todo, r->tool_idx);
    json_t *fn = json_object_get(call, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    if (!chat_stream_tool_call_args_ok(r->cs, r->tool_idx)) {
        tool_error(r, call, "the arguments of tool '%s' are not a JSON object", name);
    } else if (!offered(r, name)) {
        tool_error(r, call, "unknown tool '%s': it is not among the tools offered", name);
    } else if (mcpset_has(r->mcp, name)) {
        mcpset_call(r->mcp, name, json_object_get(fn, "arguments"), on_mcp_tool, r);
    } else if (!r->env) {
        tool_error(r, call, "tool '%s' cannot run: no environment is configured on this worker", name);
    } else {
        /* action K counts the executions of this turn, from 1 */
        json_t *req = json_pack("{s:s, s:O, s:i, s:i, s:O, s:s, s:O}", "event", "tool", "experiment",
                                r->job->id_json, "turn", r->turn, "action",
                                (int)json_array_size(r->actions) + 1, "id", json_object_get(call, "id"), "name",
                                name, "arguments", json_object_get(fn, "arguments"));
        env_request(r->env, req, on_env_tool, r);
        json_decref(req);
    }
}

/* ---- Calls ---- */

static int on_call_data(struct http_req *req, const char *buf, size_t len, void *arg)
{
    struct run *r = arg;
    return chat_stream_feed(req == r->early_req ? r->early_cs : r->cs, buf, len);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    do_call(w->data);
}

static void on_box_checked(bool healthy, const char *err, void *arg)
{
    struct run *r = arg;
    r->health = NULL;
    if (r->ctx.on_box)
        r->ctx.on_box(r->ctx.box_arg, healthy, err, r->job);
    if (healthy) {
        attempt_failed(r, r->call_error, true);
        return;
    }
    char why[ERR_LEN];
    snprintf(why, sizeof why, "Ollama fails every call (%s); requeued without counting an attempt", err);
    log_warn("job=%s %s", r->id, why);
    requeue(r, why, REQUEUE_NOTHING);
}

static void call_failed(struct run *r, const char *error, bool retryable)
{
    metrics_call_failed(&r->mcalls);
    if (!retryable) {
        attempt_failed(r, error, false);
        return;
    }
    if (r->retries >= RUN_CALL_RETRIES) {
        /* Before blaming the experiment, ask whether the box serves any chat at all: a sick box
         * must not drain its queue into the dead list. */
        snprintf(r->call_error, sizeof r->call_error, "%s", error);
        r->health = ollama_health_start(r->ctx.http, r->ctx.ollama_url, r->job->model, r->job->options,
                                        r->job->keep_alive, r->ctx.load_timeout_s, on_box_checked, r);
        return;
    }
    double delay = RUN_RETRY_BASE_S * (double)(1 << r->retries);
    if (delay > RUN_RETRY_MAX_S)
        delay = RUN_RETRY_MAX_S;
    delay *= 0.5 + (double)rand() / RAND_MAX * 0.5; /* jitter: sick boxes are not hit in lockstep */
    r->retries++;
    log_warn("job=%s turn %d call %d: %s; retry %d in %.2f s", r->id, r->turn, r->calls + 1, error, r->retries,
             delay);
    ev_timer_set(&r->retry, delay, 0.);
    ev_timer_start(r->ctx.loop, &r->retry);
}

static void on_call_done(struct http_req *req, void *arg)
{
    struct run *r = arg;
    struct call_end e = {
        .status = http_req_status(req), .failed = http_req_failed(req), .elapsed_s = http_req_elapsed_s(req),
    };
    snprintf(e.error, sizeof e.error, "%s", http_req_error(req));
    if (req == r->early_req) {
        /* The early call ended before the commit was acknowledged: do_call takes it from here,
         * once it is. */
        r->early_req = NULL;
        r->early_end = e;
        r->early_held = true;
        return;
    }
    r->req = NULL;
    call_ended(r, &e);
}

/* What a call's end means: a retry, a failed attempt, tools to run, or the turn's commit. */
static void call_ended(struct run *r, const struct call_end *e)
{
    r->mcalls.last_s = e->elapsed_s;
    long status = e->status;
    const char *cs_err = chat_stream_error(r->cs);
    char err[ERR_LEN];
    if (status >= 400) {
        /* The body was fed to the stream parser: its {"error": ...} is the message. */
        if (!cs_err[0])
            chat_stream_finish(r->cs);
        const char *why = chat_stream_error(r->cs);
        why = strncmp(why, "Ollama: ", 8) ? "(no error message)" : why + 8;
        snprintf(err, sizeof err, "Ollama answered HTTP %ld: %s", status, why);
        /* 400, 403 and 404 cannot get better by retrying: a malformed request, a Host header
         * Ollama refuses, a model that is not there. */
        call_failed(r, err, !(status == 400 || status == 403 || status == 404));
        return;
    }
    if (e->failed) {
        snprintf(err, sizeof err, "%s", cs_err[0] ? cs_err : e->error);
        call_failed(r, err, true);
        return;
    }
    if (chat_stream_finish(r->cs) < 0) {
        call_failed(r, chat_stream_error(r->cs), true);
        return;
    }

    r->calls++;
    r->total_calls++;
    r->retries = 0; /* the budget of retries is per call */
    const struct chat_metrics *m = chat_stream_metrics(r->cs);
    metrics_call_ok(&r->mcalls, m);
    callrec_add(r->callrec, r->sent_options, r->sent_keep_alive, m->load_duration_ns, r->total_calls == 1);
    if (r->total_calls > 1 && m->load_duration_ns > (long long)CALLREC_RELOAD_MS * 1000000)
        log_warn("job=%s turn %d call %d: Ollama reloaded the model mid-experiment (load_duration %lld ms)", r->id,
                 r->turn, r->calls, m->load_duration_ns / 1000000);
    r->prompt_tokens += m->prompt_eval_count;
    r->eval_tokens += m->eval_count;
    free(r->reply);
    r->reply = xstrdup(chat_stream_content(r->cs));
    json_t *msg = chat_stream_message(r->cs);
    json_array_append(r->messages, msg);
    json_array_append_new(r->turn_msgs, msg);
    json_decref(r->todo);
    r->todo = json_incref(chat_stream_tool_calls(r->cs));
    r->tool_idx = 0;
    if (json_array_size(r->todo) == 0) {
        commit_turn(r, "answer");
        return;
    }
    /* A reply's tool calls are always executed, the last call's too (SPEC "A turn"). */
    run_tools(r);
}

static void do_call(struct run *r)
{
    if (r->cancelling) {
        finish(r, "cancelled", NULL);
        return;
    }
    if (r->ctx.lease_fresh && !r->ctx.lease_fresh(r->ctx.lease_arg)) {
        /* Frozen or cut off past the lease: another worker may own the machine now. Stop here
         * without a call or a write; the attempt resumes once the machine is ours again. */
        log_warn("job=%s the lease was not renewed in time: stopping at turn %d without calling Ollama", r->id,
                 r->turn);
        cancel_io(r);
        end_run(r, RUN_FENCED);
        return;
    }
    set_state(r, RUN_CALLING);
    json_decref(r->sent_options);
    json_decref(r->sent_keep_alive);
    r->sent_options = json_incref(r->job->options); /* for the turn record */
    r->sent_keep_alive = json_incref(r->job->keep_alive);
    bool early = r->next_turn == r->turn && r->calls == 0 && (r->early_req || r->early_held);
    r->next_turn = 0;
    if (early) {
        /* Sent by send_early with this very body as the previous commit went out. */
        chat_stream_free(r->cs);
        r->cs = r->early_cs;
        r->early_cs = NULL;
        if (!r->early_held) {
            r->req = r->early_req; /* on_call_done treats it as this call from now on */
            r->early_req = NULL;
            return;
        }
        r->early_held = false;
        call_ended(r, &r->early_end);
        return;
    }
    char *text = call_body(r, r->messages);
    send_call(r, text, r->turn, r->calls + 1, &r->req, &r->cs);
    free(text);
}

/* Sends call number `call` of `turn` with `body`, its handle in *req; its reply is read into a
 * new *cs. */
static void send_call(struct run *r, const char *body, int turn, int call, struct http_req **req,
                      struct chat_stream **cs)
{
    char url[1100], h_exp[200], h_turn[64], prefix[64];
    snprintf(url, sizeof url, "%s/api/chat", r->ctx.ollama_url);
    snprintf(h_exp, sizeof h_exp, "X-Turnq-Experiment: %s", r->id);
    snprintf(h_turn, sizeof h_turn, "X-Turnq-Turn: %d", turn);
    const char *headers[] = {h_exp, h_turn, "Accept: application/x-ndjson", NULL};
    /* Ids for tool calls Ollama sent without one: deterministic per turn and call. */
    snprintf(prefix, sizeof prefix, "call_t%dc%d", turn, call);
    chat_stream_free(*cs);
    *cs = chat_stream_new(prefix);
    struct http_opts o = {
        .url = url, .method = "POST", .body = body, .body_len = strlen(body), .headers = headers,
        .connect_timeout_ms = 5000, .first_byte_timeout_s = r->ctx.load_timeout_s,
        .idle_timeout_s = r->ctx.idle_timeout_s, .on_data = on_call_data, .on_done = on_call_done, .arg = r,
    };
    *req = http_submit(r->ctx.http, &o);
    http_start_now(r->ctx.http); /* on the wire before the caller goes on; may feed *cs already */
}

/* The request body of a call that sends `messages`. */
static char *call_body(struct run *r, json_t *messages)
{
    json_t *body = json_pack("{s:s, s:O, s:b}", "model", r->job->model, "messages", messages, "stream", 1);
    if (json_array_size(r->tools))
        json_object_set(body, "tools", r->tools);
    if (r->job->options)
        json_object_set(body, "options", r->job->options);
    if (r->job->keep_alive)
        json_object_set(body, "keep_alive", r->job->keep_alive);
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(body);
    return text;
}

/* ---- Turns ---- */

/* What a turn's first call sends: the conversation so far (history carry) or the system
 * message, then the prompt as the user message, last. */
static json_t *turn_messages(struct run *r, const char *prompt, json_t *conversation)
{
    json_t *messages = json_array();
    if (r->job->history == JOB_HISTORY_CARRY && conversation)
        json_array_extend(messages, conversation);
    else if (r->job->system)
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "system", "content", r->job->system));
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", prompt));
    return messages;
}

/* Forgets the next turn's prepared messages and drops its early call, in flight or ended. */
static void drop_prepared(struct run *r)
{
    json_decref(r->next_messages);
    r->next_messages = NULL;
    if (r->early_req || r->early_held)
        log_debug("job=%s turn %d: its early call dropped unread", r->id, r->next_turn);
    r->next_turn = 0;
    if (r->early_req) {
        http_cancel(r->early_req);
        r->early_req = NULL;
    }
    chat_stream_free(r->early_cs);
    r->early_cs = NULL;
    r->early_held = false;
}

/* The next turn's first call, sent as this turn's commit goes to Redis. Its reply is acted on
 * only once the commit is acknowledged (do_call, from on_committed); a failed commit, a stop or a
 * cancel drops it unread, so nothing of it is kept and nothing it asks for is run. The commit
 * costs a round trip to Redis; this way Ollama works meanwhile instead of waiting for it. */
static void send_early(struct run *r)
{
    if (r->stopping || r->cancelling)
        return;
    drop_prepared(r);
    int turn = r->turn + 1;
    const char *prompt = json_string_value(json_array_get(r->job->turn_prompts, (size_t)turn - 1));
    if (!prompt)
        return;
    /* on_committed makes this turn's messages the conversation, as used here */
    r->next_messages = turn_messages(r, prompt, r->messages);
    r->next_turn = turn;
    /* As for every call: none once the lease was not renewed in time (do_call says so). */
    if (r->ctx.lease_fresh && !r->ctx.lease_fresh(r->ctx.lease_arg))
        return;
    char *text = call_body(r, r->next_messages);
    r->early_sent = ev_now(r->ctx.loop);
    send_call(r, text, turn, 1, &r->early_req, &r->early_cs);
    free(text);
}

static void begin_turn(struct run *r, const char *prompt)
{
    /* A turn whose first call went out early started then. */
    r->turn_started = r->next_turn == r->turn && (r->early_req || r->early_held) ? r->early_sent : ev_now(r->ctx.loop);
    if (r->next_messages && r->next_turn == r->turn) {
        r->messages = r->next_messages; /* send_early's: the same prompt and conversation */
        r->next_messages = NULL;
    } else {
        drop_prepared(r);
        r->messages = turn_messages(r, prompt, r->conversation);
    }
    json_t *user = json_incref(json_array_get(r->messages, json_array_size(r->messages) - 1));
    r->turn_msgs = json_array();
    /* The first turn of a carried conversation also records the system message, so that the
     * transcript alone rebuilds the whole conversation on resume. */
    if (r->job->history == JOB_HISTORY_CARRY && !r->conversation && r->job->system)
        json_array_append(r->turn_msgs, json_array_get(r->messages, 0));
    json_array_append_new(r->turn_msgs, user);
    r->actions = json_array();
    callrec_reset(r->callrec);
    r->calls = 0;
    r->prompt_tokens = r->eval_tokens = 0;
    r->retries = 0;
    do_call(r);
}

static void on_env_turn(struct env *e, json_t *reply, const char *err, void *arg)
{
    (void)e;
    struct run *r = arg;
    if (!reply) {
        attempt_failed(r, err, true);
        return;
    }
    if (json_is_true(json_object_get(reply, "done"))) {
        log_info("job=%s the environment ended the experiment before turn %d", r->id, r->turn);
        finish(r, "done", NULL);
        return;
    }
    const char *prompt = json_string_value(json_object_get(reply, "prompt"));
    if (prompt) {
        begin_turn(r, prompt);
        return;
    }
    if (r->job->turn_prompts) {
        begin_turn(r, json_string_value(json_array_get(r->job->turn_prompts, (size_t)r->turn - 1)));
        return;
    }
    char why[ERR_LEN];
    snprintf(why, sizeof why, "turn %d has no prompt: `turns` is a number and the environment gave none", r->turn);
    finish(r, "failed", why);
}

static void next_turn(struct run *r)
{
    if (stop_here(r))
        return;
    if (r->cancelling) {
        finish(r, "cancelled", NULL);
        return;
    }
    r->turn = r->committed + 1;
    if (r->turn > r->job->nturns) {
        finish(r, "done", NULL);
        return;
    }
    set_state(r, RUN_PROMPTING);
    if (r->env) {
        json_t *req = json_pack("{s:s, s:O, s:i, s:o}", "event", "turn", "experiment", r->job->id_json, "turn",
                                r->turn, "params", r->job->params ? json_incref(r->job->params) : json_object());
        env_request(r->env, req, on_env_turn, r);
        json_decref(req);
        return;
    }
    if (!r->job->turn_prompts) {
        char why[ERR_LEN];
        snprintf(why, sizeof why, "turn %d has no prompt: `turns` is a number and no environment is configured",
                 r->turn);
        finish(r, "failed", why);
        return;
    }
    begin_turn(r, json_string_value(json_array_get(r->job->turn_prompts, (size_t)r->turn - 1)));
}

/* ---- Starting ---- */

/* The MCP servers failing to start is a machine problem, as the environment's is: the attempt
 * fails and the experiment is requeued (or fails after --max-attempts). */
static void on_mcp_ready(struct mcpset *s, const char *err, void *arg)
{
    struct run *r = arg;
    if (err) {
        attempt_failed(r, err, true);
        return;
    }
    mcpset_offer(s, r->tools);
    next_turn(r);
}

/* After the job's and the environment's tools are known: the MCP servers' come last. */
static void start_mcp(struct run *r)
{
    if (!r->ctx.mcp) {
        next_turn(r);
        return;
    }
    if (stop_here(r))
        return;
    r->mcp = mcpset_open(r->ctx.loop, r->ctx.mcp, r->id, r->attempt, on_mcp_ready, r);
}

static int add_env_tools(struct run *r, json_t *tools, char err[ERR_LEN])
{
    if (!tools)
        return 0;
    if (!json_is_array(tools)) {
        set_err(err, "the environment's start answer: tools must be an array");
        return -1;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *name = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (!name || !*name) {
            set_err(err, "the environment's start answer: tools[%zu] has no function.name", i);
            return -1;
        }
        if (offered(r, name)) {
            set_err(err, "tool '%s' is offered twice (by the job and the environment, or twice by one)", name);
            return -1;
        }
        json_array_append(r->tools, t);
        json_object_set_new(r->env_tools, name, json_true());
    }
    return 0;
}

static void on_env_start(struct env *e, json_t *reply, const char *err, void *arg)
{
    (void)e;
    struct run *r = arg;
    if (!reply) {
        attempt_failed(r, err, true);
        return;
    }
    char why[ERR_LEN];
    if (add_env_tools(r, json_object_get(reply, "tools"), why) < 0) {
        finish(r, "failed", why);
        return;
    }
    start_mcp(r);
}

static void start_env(struct run *r)
{
    if (stop_here(r))
        return;
    r->tools = r->job->tools ? json_deep_copy(r->job->tools) : json_array();
    r->env_tools = json_object();
    if (!r->ctx.env) {
        start_mcp(r);
        return;
    }
    char err[ERR_LEN];
    r->env = env_open(r->ctx.loop, r->ctx.http, r->ctx.env, r->id, err);
    if (!r->env) {
        attempt_failed(r, err, true);
        return;
    }
    json_t *req = json_pack("{s:s, s:O, s:i, s:i, s:o}", "event", "start", "experiment", r->job->id_json, "attempt",
                            r->attempt, "turn", r->committed + 1, "params",
                            r->job->params ? json_incref(r->job->params) : json_object());
    env_request(r->env, req, on_env_start, r);
    json_decref(req);
}

static void on_marked(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct run *r = arg;
    if (!reply_ok(r, reply, "marking it running"))
        return;
    /* EXEC's first answer is HINCRBY attempts. */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_INTEGER)
        r->attempt = (int)reply->element[0]->integer;
    if (r->committed > 0)
        log_info("job=%s resuming at turn %d of %d (attempt %d)", r->id, r->committed + 1, r->job->nturns, r->attempt);
    else
        log_info("job=%s started: %d turns, model %s (attempt %d)%s%s", r->id, r->job->nturns, r->job->model,
                 r->attempt, r->placed[0] && strcmp(r->placed, r->ctx.machine) ? ", stolen from " : "",
                 r->placed[0] && strcmp(r->placed, r->ctx.machine) ? r->placed : "");
    r->turn = r->committed + 1;
    if (r->ctx.on_progress)
        r->ctx.on_progress(r->ctx.progress_arg, true);
    start_env(r);
}

static void mark_running(struct run *r)
{
    if (stop_here(r))
        return;
    set_state(r, RUN_STARTING);
    const char *ns = r->ctx.ns;
    char now[TIMEFMT_ISO_LEN];
    timefmt_iso(timefmt_now_ms(), now);
    if (!r->started_at[0])
        snprintf(r->started_at, sizeof r->started_at, "%s", now);
    /* machines: every machine the experiment ran on, in order, for the result. */
    const char *last = strrchr(r->machines, ',');
    last = last ? last + 1 : r->machines;
    if (strcmp(last, r->ctx.machine)) {
        size_t n = strlen(r->machines);
        snprintf(r->machines + n, sizeof r->machines - n, "%s%s", n ? "," : "", r->ctx.machine);
    }
    struct batch *b = batch_new();
    batch_add(b, "HINCRBY", key_job(ns, r->id).s, "attempts", "1", NULL);
    if (r->resumed)
        batch_add(b, "HINCRBY", key_job(ns, r->id).s, "interrupted", "1", NULL);
    batch_add(b, "HSET", key_job(ns, r->id).s, "state", "running", "worker", r->ctx.worker_id, "machine",
              r->ctx.machine, "machines", r->machines, "started_at", r->started_at, NULL);
    if (r->restart) {
        batch_add(b, "DEL", key_turns(ns, r->id).s, key_transcript(ns, r->id).s, NULL);
        batch_add(b, "HSET", key_job(ns, r->id).s, "turn", "0", NULL);
    } else if (r->fix_turn) {
        char t[16];
        snprintf(t, sizeof t, "%d", r->committed);
        batch_add(b, "HSET", key_job(ns, r->id).s, "turn", t, NULL);
    }
    add_event(b, r, "claimed", r->committed);
    run_exec(r, b, on_marked, r);
}

static void on_transcript(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct run *r = arg;
    if (!reply_ok(r, reply, "loading the transcript"))
        return;
    r->conversation = json_array();
    for (size_t i = 0; i < reply->elements && i < (size_t)r->committed; i++) {
        json_t *msgs = json_loadb(reply->element[i]->str, reply->element[i]->len, 0, NULL);
        if (json_is_array(msgs))
            json_array_extend(r->conversation, msgs);
        json_decref(msgs);
    }
    mark_running(r);
}

static void on_turns(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct run *r = arg;
    if (!reply_ok(r, reply, "loading committed turns"))
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        json_t *rec = json_loadb(reply->element[i]->str, reply->element[i]->len, 0, NULL);
        json_array_append_new(r->turn_records, rec ? rec : json_null());
    }
    /* The list is the checkpoint; the hash's turn field follows it in the same MULTI. */
    if ((int)reply->elements != r->committed) {
        log_warn("job=%s job hash says turn %d, but %zu turns are committed; going by the turns", r->id, r->committed,
                 reply->elements);
        r->committed = (int)reply->elements;
        r->fix_turn = true;
    }
    if (r->restart && r->committed > 0) {
        log_info("job=%s resume: restart: dropping %d committed turns", r->id, r->committed);
        json_array_clear(r->turn_records);
        r->committed = 0;
    } else
        r->restart = false;
    if (r->cancelling) {
        log_info("job=%s was cancelled before it started here", r->id);
        finish(r, "cancelled", NULL);
        return;
    }
    if (r->resumed && r->interrupted + 1 > r->ctx.max_interruptions) {
        char why[ERR_LEN];
        snprintf(why, sizeof why, "interrupted %ld times (crashes or stops of its worker), more than "
                 "--max-interruptions %ld: an experiment that keeps killing its worker?", r->interrupted + 1,
                 r->ctx.max_interruptions);
        r->count_interruption = true;
        finish(r, "failed", why);
        return;
    }
    if (r->job->history == JOB_HISTORY_CARRY && r->committed > 0) {
        rconn_command(r->ctx.redis, on_transcript, r, "LRANGE %s 0 -1", key_transcript(r->ctx.ns, r->id).s);
        return;
    }
    mark_running(r);
}

static void on_hash(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct run *r = arg;
    if (!reply_ok(r, reply, "loading the job"))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        dead_letter(r, "no job hash for this id (was it pushed onto the queue by hand?)");
        return;
    }
    const char *spec = NULL, *state = "";
    size_t spec_len = 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *k = reply->element[i]->str;
        redisReply *v = reply->element[i + 1];
        if (!strcmp(k, "spec")) {
            spec = v->str;
            spec_len = v->len;
        } else if (!strcmp(k, "state"))
            state = v->str;
        else if (!strcmp(k, "turn"))
            r->committed = atoi(v->str);
        else if (!strcmp(k, "errors"))
            r->errors = atol(v->str);
        else if (!strcmp(k, "interrupted"))
            r->interrupted = atol(v->str);
        else if (!strcmp(k, "cancel"))
            r->cancelling = true; /* cancelled between the claim and now */
        else if (!strcmp(k, "started_at"))
            snprintf(r->started_at, sizeof r->started_at, "%s", v->str);
        else if (!strcmp(k, "machines"))
            snprintf(r->machines, sizeof r->machines, "%s", v->str);
        else if (!strcmp(k, "placed"))
            snprintf(r->placed, sizeof r->placed, "%s", v->str);
        else if (!strcmp(k, "mixed_digests") && v->str && !r->mixed_digests)
            r->mixed_digests = xstrdup(v->str);
    }
    if (!spec) {
        dead_letter(r, "the job hash has no spec");
        return;
    }
    char err[ERR_LEN], why[ERR_LEN + 32];
    r->job = job_from_text(spec, spec_len, err);
    if (!r->job) {
        snprintf(why, sizeof why, "the spec does not parse: %s", err);
        dead_letter(r, why);
        return;
    }
    if (!strcmp(state, "done") || !strcmp(state, "failed") || !strcmp(state, "cancelled")) {
        log_warn("job=%s was claimed but has already ended (%s); dropping it from the running list", r->id, state);
        struct batch *b = batch_new();
        batch_add(b, "LREM", key_running(r->ctx.ns, r->ctx.machine).s, "1", r->id, NULL);
        run_exec(r, b, on_acked, r);
        return;
    }
    r->restart = r->job->resume_restart;
    rconn_command(r->ctx.redis, on_turns, r, "LRANGE %s 0 -1", key_turns(r->ctx.ns, r->id).s);
}

/* ---- API ---- */

struct run *run_start(const struct run_ctx *ctx, const char *id, bool resumed, run_done_fn *done, void *arg)
{
    struct run *r = xcalloc(1, sizeof *r);
    r->ctx = *ctx;
    r->resumed = resumed;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->done = done;
    r->done_arg = arg;
    r->since = ev_now(ctx->loop);
    r->turn_records = json_array();
    r->callrec = callrec_new();
    ev_init(&r->retry, on_retry);
    r->retry.data = r;
    ev_idle_init(&r->finish_idle, on_finish_idle);
    r->finish_idle.data = r;
    set_state(r, RUN_LOADING);
    rconn_command(ctx->redis, on_hash, r, "HGETALL %s", key_job(ctx->ns, id).s);
    return r;
}

void run_free(struct run *r)
{
    if (!r)
        return;
    if (r->req)
        http_cancel(r->req);
    ollama_health_cancel(r->health);
    ev_timer_stop(r->ctx.loop, &r->retry);
    ev_idle_stop(r->ctx.loop, &r->finish_idle);
    drop_prepared(r);
    env_kill(r->env);
    mcpset_kill(r->mcp);
    clear_turn(r);
    json_decref(r->turn_records);
    json_decref(r->conversation);
    json_decref(r->tools);
    json_decref(r->env_tools);
    job_free(r->job);
    callrec_free(r->callrec);
    json_decref(r->sent_options);
    json_decref(r->sent_keep_alive);
    free(r->mixed_digests);
    free(r);
}

void run_kill_procs(struct run *r)
{
    if (!r)
        return;
    env_kill(r->env);
    r->env = NULL;
    mcpset_kill(r->mcp);
    r->mcp = NULL;
}

void run_stop(struct run *r)
{
    r->stopping = true;
}

void run_abort(struct run *r)
{
    r->stopping = true;
    /* Waiting on Ollama or the environment: stop now. Waiting on Redis: the reply's continuation
     * reaches a stop point (or the end) by itself. */
    if (r->state == RUN_CALLING || r->state == RUN_TOOLING || r->state == RUN_PROMPTING ||
        (r->state == RUN_STARTING && (r->env || r->mcp))) {
        log_info("job=%s grace period over: turn %d cut short, requeued first in line", r->id, r->turn);
        requeue(r, NULL, REQUEUE_INTERRUPTED);
    }
}

void run_cancel(struct run *r)
{
    if (!r->cancelling)
        log_info("job=%s cancelled: stopping at the next call", r->id);
    r->cancelling = true;
}

const char *run_id(const struct run *r) { return r->id; }
bool run_ending(const struct run *r) { return r->state == RUN_FINISHING || r->state == RUN_OVER; }

json_t *run_id_json(const struct run *r)
{
    return r->job ? json_incref(r->job->id_json) : json_string(r->id);
}
int run_turn(const struct run *r) { return r->turn; }
int run_turns(const struct run *r) { return r->job ? r->job->nturns : 0; }
int run_calls(const struct run *r) { return r->total_calls; }
int run_attempt(const struct run *r) { return r->attempt; }
double run_since(const struct run *r) { return r->since; }
