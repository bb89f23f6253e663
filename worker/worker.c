/* worker: lease, heartbeat, claim loop and slots.
 *
 * Two Redis connections (rconn): `blk` only ever carries the claim (BLMOVE queue -> running),
 * because a blocked command holds up every later reply on its connection; `cmd` carries
 * everything else. The lease is the heartbeat key itself: written by a Lua script that sets it
 * only when it is absent or holds our token, so a second worker for the same machine waits, and
 * says who holds the machine, instead of running beside it.
 *
 * Claiming happens only while: the lease is ours, Ollama has answered, we are not draining, a
 * slot is free, and no claim is in flight. Before claiming from the queue, the running list is
 * reconciled: ids there that no slot runs (left by a crash, or a claim whose reply was lost in a
 * disconnect) are taken back first. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "http.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "ollama.h"
#include "rconn.h"
#include "run.h"
#include "timefmt.h"
#include "version.h"
#include "xalloc.h"

#define WORKER_HEARTBEAT_S 5.0    /* how often the lease and heartbeat are renewed */
#define WORKER_LEASE_TTL_S 15     /* SPEC: a TTL of at most 15 s */
#define WORKER_LEASE_MARGIN_S 3   /* calls stop when the last renewal is older than TTL - this */
#define WORKER_CLAIM_BLOCK_S 5    /* BLMOVE timeout; re-issued at once */
#define WORKER_REDIS_REPLY_TIMEOUT_S 10.0
#define WORKER_STEAL_BLOCK_S 0.5  /* --steal: wait on our own queue this long between steal tries */
#define WORKER_STEAL_DEPTH "32"   /* how far from the back of another queue to look */
#define WORKER_BREAKER_MIN_S 2.0  /* health checks of a failing box: first delay, doubling... */
#define WORKER_BREAKER_MAX_S 30.0 /* ...up to this */
#define WORKER_RETAKE_MIN_S 0.25  /* after a run lost Redis or was refused: claim again after this, */
#define WORKER_RETAKE_MAX_S 8.0   /* doubling up to this while Redis keeps refusing; a write resets it */
#define WORKER_PROGRESS_MIN_S 1.0 /* progress beats (a start, a committed turn): at most this often */

/* KEYS: heartbeat, machines, lastseen, then the job hash of each running experiment. ARGV: json,
 * token, ttl, machine, now, then the running ids. Returns {1, "", cancelled ids...} when the lease
 * is ours (the ids whose job hash asks for a cancel), or {0, holder's heartbeat} when another
 * worker holds the machine. */
static const char lease_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local ok, hb = pcall(cjson.decode, cur)\n"
    "  if not ok or type(hb) ~= 'table' or hb.token ~= ARGV[2] then return {0, cur} end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))\n"
    "redis.call('SADD', KEYS[2], ARGV[4])\n"
    "redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])\n"
    "local out = {1, ''}\n"
    "for i = 4, #KEYS do\n"
    "  if redis.call('HGET', KEYS[i], 'cancel') then out[#out + 1] = ARGV[i + 2] end\n"
    "end\n"
    "return out\n";

/* KEYS: heartbeat. ARGV: the exact heartbeat a dead holder left. Deletes it only if unchanged. */
static const char takeover_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end\n"
    "return 0\n";

/* Work stealing (--steal): take one experiment that has never started from another machine's
 * queue. Pinned jobs and started ones are never taken: affinity holds. The script looks at the
 * back of every other queue (the left end, where submissions go; WORKER_STEAL_DEPTH entries) and
 * takes the never-started, unpinned one with the largest `estimate` (1 when absent): an idle
 * machine starts the longest work left, as longest-first list scheduling does, while submit
 * queues each machine's experiments largest first, so what is left to steal at the end of a
 * sweep is short. Ties go to the longer queue (then the smaller name), then to the entry nearest
 * the back, so without estimates it takes the last entry of the longest queue, leaving the head
 * to its own machine. Specs are decoded (for the pin) best candidate first, usually just one.
 * Its own queue first: a submission that filled it since the last LMOVE is claimed here (not a
 * steal), so a thief never takes another's work while it has its own.
 * KEYS: machines set, our running list, events, our queue. ARGV: queue key prefix, job key
 * prefix, our machine, events maxlen, how deep to look. Returns the id or nil. */
static const char steal_script[] =
    "local own = redis.call('LMOVE', KEYS[4], KEYS[2], 'RIGHT', 'LEFT')\n"
    "if own then return own end\n"
    "local c = {}\n"
    "for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if m ~= ARGV[3] then\n"
    "    local q = ARGV[1] .. m\n"
    "    local n = redis.call('LLEN', q)\n"
    "    for k, id in ipairs(n > 0 and redis.call('LRANGE', q, 0, tonumber(ARGV[5]) - 1) or {}) do\n"
    "      local h = redis.call('HMGET', ARGV[2] .. id, 'attempts', 'turn', 'state', 'estimate')\n"
    "      if (h[1] == false or h[1] == '0') and (h[2] == false or h[2] == '0') and h[3] == 'queued' then\n"
    "        local e = tonumber(h[4])\n"
    "        if not e or e <= 0 then e = 1 end\n"
    "        c[#c + 1] = {id = id, m = m, e = e, n = n, k = k}\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    /* Best first; only then the spec, for the pin: one decode in the usual case. */
    "table.sort(c, function(x, y)\n"
    "  if x.e ~= y.e then return x.e > y.e end\n"
    "  if x.n ~= y.n then return x.n > y.n end\n"
    "  if x.m ~= y.m then return x.m < y.m end\n"
    "  return x.k < y.k end)\n"
    "local best, bestm\n"
    "for _, x in ipairs(c) do\n"
    "  local ok, spec = pcall(cjson.decode, redis.call('HGET', ARGV[2] .. x.id, 'spec') or '')\n"
    "  if ok and type(spec) == 'table' and spec.machine == nil then best, bestm = x.id, x.m break end\n"
    "end\n"
    "if not best then return false end\n"
    "local jk = ARGV[2] .. best\n"
    "redis.call('LREM', ARGV[1] .. bestm, 1, best)\n"
    "redis.call('LPUSH', KEYS[2], best)\n"
    "redis.call('HSETNX', jk, 'placed', bestm)\n"
    "redis.call('HSET', jk, 'machine', ARGV[3])\n"
    "redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'id', best, 'event', 'stolen', 'machine', ARGV[3], 'turn', '0')\n"
    "return best\n";

/* KEYS: heartbeat. ARGV: token. Deletes the heartbeat only if it is ours. */
static const char release_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local ok, hb = pcall(cjson.decode, cur)\n"
    "  if ok and type(hb) == 'table' and hb.token == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "end\n"
    "return 1\n";

struct worker {
    struct ev_loop *loop;
    struct worker_cfg cfg;
    struct rconn *cmd;           /* everything but the claim */
    struct rconn *blk;           /* the claim only */
    struct http *http;
    struct ollama_info *ollama;  /* latest successful discovery, or NULL */
    struct ollama_probe *ollama_probing; /* the probe in flight, or NULL */
    bool ollama_answered_once;   /* a probe has finished (either way): heartbeats may start */
    bool ollama_ok;              /* the latest probe succeeded */
    char token[33];              /* our lease token */
    char id[300];                /* "host:pid" */
    char host[256];
    char boot_id[64];            /* the kernel's boot id: with host, tells that a holder's pid is ours to check */
    char pid_ns[64];             /* our pid namespace ("pid:[4026531836]"): a pid means something only in it */
    char started_at[TIMEFMT_ISO_LEN];
    bool have_lease;
    ev_tstamp lease_renewed;     /* ev_now of the last renewal Redis confirmed */
    bool light_beat;             /* the heartbeat being sent skips the cancel checks */
    ev_tstamp last_beat;         /* ev_now of the last heartbeat sent */
    ev_timer progress_timer;     /* a progress beat held back so beats stay WORKER_PROGRESS_MIN_S apart */
    char holder[160];            /* who holds the machine when we wait, for the log */
    bool claim_inflight;
    enum { CLAIM_OWN, CLAIM_STEAL, CLAIM_BLOCK } claim_next; /* --steal: own queue, others', wait */
    bool reconcile_inflight;
    bool need_reconcile;         /* the running list may hold ids no slot runs */
    bool draining;
    bool quitting;
    struct run **slots;          /* cfg.slots entries, NULL when free */
    char **held;                 /* cfg.slots entries: ids claimed while their previous run still ends */
    int busy;
    ev_timer beat;               /* heartbeat + Ollama probe */
    ev_timer grace;              /* graceful stop: then cut running turns short */
    bool breaker_open;           /* chat calls fail: claim nothing until a health check passes */
    double breaker_backoff_s;    /* next health check delay */
    ev_timer breaker_timer;
    bool retake_waiting;         /* a run could not write (Redis lost or refusing): claim nothing for now */
    double retake_backoff_s;     /* how long the next such wait is */
    ev_timer retake_timer;
    struct ollama_health *probe; /* the breaker's health check in flight */
    char *probe_model;           /* what to check with: the last failing experiment's model... */
    json_t *probe_options;       /* ...options and keep_alive, so the check reloads nothing */
    json_t *probe_keep_alive;
    ev_timer quit_timer;         /* bounded wait for the lease release on exit */
    struct metrics_file *metrics;/* --metrics-file writer, or NULL */
};

static void maybe_claim(struct worker *w);
static void start_run(struct worker *w, const char *id, bool resumed);
static void heartbeat(struct worker *w);

/* ---- Leaving ---- */

static void on_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct worker *w = t->data;
    for (long i = 0; i < w->cfg.slots; i++)
        if (w->slots[i])
            run_abort(w->slots[i]);
}

static void really_quit(struct worker *w)
{
    ev_timer_stop(w->loop, &w->grace);
    ev_timer_stop(w->loop, &w->breaker_timer);
    ev_timer_stop(w->loop, &w->retake_timer);
    ev_timer_stop(w->loop, &w->beat);
    ev_timer_stop(w->loop, &w->progress_timer);
    ev_timer_stop(w->loop, &w->quit_timer);
    ev_break(w->loop, EVBREAK_ALL);
}

static void on_released(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    (void)reply;
    really_quit(arg);
}

static void on_quit_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    really_quit(t->data);
}

static void quit(struct worker *w)
{
    if (w->quitting)
        return;
    w->quitting = true;
    log_info("worker for %s leaving", w->cfg.machine);
    metrics_file_final(w->metrics);
    if (w->have_lease && rconn_ready(w->cmd)) {
        /* Free the machine at once rather than after the TTL, so a restart takes it back now. */
        rconn_command(w->cmd, on_released, w, "EVAL %s 1 %s %s", release_script,
                      key_worker(w->cfg.ns, w->cfg.machine).s, w->token);
        ev_timer_set(&w->quit_timer, 2.0, 0.);
        ev_timer_start(w->loop, &w->quit_timer);
        return;
    }
    really_quit(w);
}

/* ---- Slots ---- */

static struct run *running_id(struct worker *w, const char *id)
{
    for (long i = 0; i < w->cfg.slots; i++)
        if (w->slots[i] && !strcmp(run_id(w->slots[i]), id))
            return w->slots[i];
    return NULL;
}

static bool held_id(struct worker *w, const char *id)
{
    for (long i = 0; i < w->cfg.slots; i++)
        if (w->held[i] && !strcmp(w->held[i], id))
            return true;
    return false;
}

/* A requeued experiment can be claimed again (by another slot's BLMOVE) before its previous run
 * has left its slot: hold the id and start it when that run is gone. */
static void hold_id(struct worker *w, const char *id)
{
    for (long i = 0; i < w->cfg.slots; i++)
        if (!w->held[i]) {
            w->held[i] = xstrdup(id);
            w->busy++; /* the held id owns a slot from now on */
            return;
        }
    w->need_reconcile = true; /* cannot happen: busy < slots when claiming */
}

/* A run that could not write (Redis lost, or refusing: OOM, READONLY, BUSY, ...) stays in the
 * running list, and a refused claim claimed nothing. Trying again at once would only be refused
 * again while Redis refuses: a tight loop of restarts, lease renewals and log lines. So the
 * worker claims nothing for a while, doubling the wait while it keeps happening; a start or a
 * turn written (on_progress) resets it. */
static void retake_later(struct worker *w)
{
    if (w->retake_waiting)
        return;
    w->retake_waiting = true;
    ev_timer_set(&w->retake_timer, w->retake_backoff_s, 0.);
    ev_timer_start(w->loop, &w->retake_timer);
    log_info("claiming again in %.2f s (Redis lost or refusing writes)", w->retake_backoff_s);
    w->retake_backoff_s = w->retake_backoff_s * 2 > WORKER_RETAKE_MAX_S ? WORKER_RETAKE_MAX_S : w->retake_backoff_s * 2;
}

static void on_retake_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct worker *w = t->data;
    w->retake_waiting = false;
    maybe_claim(w);
}

static void on_run_done(struct run *r, enum run_outcome outcome, void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < w->cfg.slots; i++)
        if (w->slots[i] == r)
            w->slots[i] = NULL;
    w->busy--;
    char done_id[JOB_ID_MAX + 1];
    snprintf(done_id, sizeof done_id, "%s", run_id(r));
    if (outcome == RUN_ABANDONED) {
        w->need_reconcile = true; /* it is still in the running list: take it back when we can */
        retake_later(w);
    }
    if (outcome == RUN_FENCED && w->have_lease) {
        /* Our writes are refused: the lease expired or another worker took the machine. Claim
         * nothing until the heartbeat holds the lease again. */
        log_error("machine %s: this worker's lease is gone; claiming nothing until it is ours again", w->cfg.machine);
        w->have_lease = false;
        w->need_reconcile = true;
    }
    run_free(r);
    for (long i = 0; i < w->cfg.slots; i++) {
        if (w->held[i] && !strcmp(w->held[i], done_id)) {
            char *id = w->held[i];
            w->held[i] = NULL;
            w->busy--;
            start_run(w, id, false);
            free(id);
        }
    }
    heartbeat(w); /* status shows the slot free at once, not at the next beat */
    if (w->draining && w->busy == 0 && !w->claim_inflight) {
        quit(w);
        return;
    }
    maybe_claim(w);
}

/* The lease lives WORKER_LEASE_TTL_S after its last renewal; trust it only with a margin. */
static bool lease_fresh(void *arg)
{
    struct worker *w = arg;
    ev_now_update(w->loop); /* a process thawed after SIGSTOP must see the time it lost */
    return w->have_lease && ev_now(w->loop) - w->lease_renewed < WORKER_LEASE_TTL_S - WORKER_LEASE_MARGIN_S;
}

/* A start or a committed turn refreshes the heartbeat, so status shows it within a second. These
 * light beats skip the cancel checks, which the timer's beat does every few seconds. On a fast box
 * turns commit hundreds of times a second: one beat per turn would cost more than the turn's own
 * writes, so progress beats are held back to one per WORKER_PROGRESS_MIN_S (the last one is
 * always sent, late by at most that). A start is sent at once. */
static void light_beat(struct worker *w)
{
    w->light_beat = true;
    heartbeat(w);
    w->light_beat = false;
}

static void on_progress_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    light_beat(t->data);
}

static void on_progress(void *arg, bool started)
{
    struct worker *w = arg;
    w->retake_backoff_s = WORKER_RETAKE_MIN_S; /* a start or a turn was written: Redis takes writes again */
    if (ev_is_active(&w->progress_timer) && !started)
        return; /* a beat is already due */
    ev_tstamp wait = w->last_beat + WORKER_PROGRESS_MIN_S - ev_now(w->loop);
    if (wait <= 0 || started) { /* a start shows at once */
        light_beat(w);
        return;
    }
    ev_timer_set(&w->progress_timer, wait, 0.);
    ev_timer_start(w->loop, &w->progress_timer);
}

/* ---- Breaker: a box whose chat calls all fail claims nothing until a health check passes ---- */

static void on_breaker_probe(bool healthy, const char *err, void *arg);

static void breaker_arm(struct worker *w)
{
    ev_timer_set(&w->breaker_timer, w->breaker_backoff_s, 0.);
    ev_timer_start(w->loop, &w->breaker_timer);
    w->breaker_backoff_s = w->breaker_backoff_s * 2 > WORKER_BREAKER_MAX_S ? WORKER_BREAKER_MAX_S
                                                                           : w->breaker_backoff_s * 2;
}

static void on_breaker_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct worker *w = t->data;
    w->probe = ollama_health_start(w->http, w->cfg.ollama_url, w->probe_model, w->probe_options,
                                   w->probe_keep_alive, w->cfg.load_timeout_s, on_breaker_probe, w);
}

static void on_box(void *arg, bool healthy, const char *err, const struct job *job)
{
    struct worker *w = arg;
    if (healthy && w->breaker_open) {
        log_info("Ollama at %s answers chat calls again: claiming", w->cfg.ollama_url);
        w->breaker_open = false;
        ev_timer_stop(w->loop, &w->breaker_timer);
        ollama_health_cancel(w->probe);
        w->probe = NULL;
        heartbeat(w);
        maybe_claim(w);
    } else if (!healthy && !w->breaker_open) {
        log_error("Ollama at %s fails every chat call (%s): claiming nothing; checking it with backoff",
                  w->cfg.ollama_url, err);
        w->breaker_open = true;
        free(w->probe_model);
        json_decref(w->probe_options);
        json_decref(w->probe_keep_alive);
        w->probe_model = xstrdup(job->model);
        w->probe_options = job->options ? json_deep_copy(job->options) : NULL;
        w->probe_keep_alive = job->keep_alive ? json_deep_copy(job->keep_alive) : NULL;
        w->breaker_backoff_s = WORKER_BREAKER_MIN_S;
        breaker_arm(w);
        heartbeat(w);
    }
}

static void on_breaker_probe(bool healthy, const char *err, void *arg)
{
    struct worker *w = arg;
    w->probe = NULL;
    if (healthy) {
        struct job dummy = {.model = w->probe_model};
        on_box(w, true, "", &dummy);
        return;
    }
    log_warn("Ollama at %s still fails chat calls (%s); next check in %.0f s", w->cfg.ollama_url, err,
             w->breaker_backoff_s);
    breaker_arm(w);
}

static void start_run(struct worker *w, const char *id, bool resumed)
{
    struct run_ctx ctx = {
        .loop = w->loop, .redis = w->cmd, .http = w->http, .ns = w->cfg.ns, .machine = w->cfg.machine,
        .worker_id = w->id, .token = w->token, .ollama_url = w->cfg.ollama_url,
        .env = (w->cfg.env.url || w->cfg.env.cmd) ? &w->cfg.env : NULL, .ollama = &w->ollama,
        .mcp = (w->cfg.mcp && w->cfg.mcp->n) ? w->cfg.mcp : NULL,
        .max_attempts = w->cfg.max_attempts, .max_interruptions = w->cfg.max_interruptions, .load_timeout_s = w->cfg.load_timeout_s,
        .idle_timeout_s = w->cfg.idle_timeout_s, .on_progress = on_progress, .progress_arg = w,
        .on_box = on_box, .box_arg = w, .lease_fresh = lease_fresh, .lease_arg = w,
    };
    for (long i = 0; i < w->cfg.slots; i++) {
        if (!w->slots[i]) {
            w->busy++;
            w->slots[i] = run_start(&ctx, id, resumed, on_run_done, w);
            return;
        }
    }
    /* Only called with a free slot. */
    log_error("job=%s claimed without a free slot; it stays in the running list", id);
    w->need_reconcile = true;
}

/* ---- Claiming ---- */

/* An entry that is no valid id (pushed by hand: too long, odd characters) cannot have a job: it
 * goes to the dead list as it is, with a job hash saying why, and the worker goes on. */
static void poison_id(struct worker *w, const char *raw)
{
    size_t n = strlen(raw);
    log_error("queue entry '%.40s%s' (%zu bytes) is not a valid experiment id: dead-lettered", raw,
              n > 40 ? "..." : "", n);
    char *jobkey = xasprintf("%s:job:%s", w->cfg.ns, raw);
    char maxlen[16];
    snprintf(maxlen, sizeof maxlen, "%d", KEYS_EVENTS_MAXLEN);
    struct batch *b = batch_new();
    batch_add(b, "LREM", key_running(w->cfg.ns, w->cfg.machine).s, "1", raw, NULL);
    batch_add(b, "LPUSH", key_dead(w->cfg.ns).s, raw, NULL);
    batch_add(b, "HSET", jobkey, "state", "failed", "machine", w->cfg.machine, "error",
              "not a valid experiment id: [A-Za-z0-9._:-]{1,128} (pushed onto the queue by hand?)", NULL);
    batch_add(b, "XADD", key_events(w->cfg.ns).s, "MAXLEN", "~", maxlen, "*", "id", raw, "event", "dead",
              "machine", w->cfg.machine, "turn", "0", NULL);
    /* Fenced on the entry still being in the running list: should the script be repeated as EVAL
     * (rscript.h) after a reconcile sent meanwhile saw the entry again, the second poisoning
     * finds it gone and writes nothing, rather than dead-lettering it twice. */
    char running[KEYS_MAX];
    snprintf(running, sizeof running, "%s", key_running(w->cfg.ns, w->cfg.machine).s);
    batch_exec(b, w->cmd, key_worker(w->cfg.ns, w->cfg.machine).s, w->token, jobkey, 0, running, raw, NULL, NULL);
    free(jobkey);
}

static bool idle_exit_check(struct worker *w);

static void on_claim(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct worker *w = arg;
    w->claim_inflight = false;
    if (reply == NULL) {
        /* The reply was lost with the connection: an id may have moved into the running list
         * without our knowing. Reconcile before the next claim. */
        w->need_reconcile = true;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        log_error("claim refused by Redis: %s", reply->str);
        retake_later(w); /* not again at once: it would be refused again, as fast as Redis answers */
    } else if (reply->type == REDIS_REPLY_STRING) {
        w->claim_next = CLAIM_OWN;
        struct run *prev = running_id(w, reply->str);
        if (!job_id_valid(reply->str))
            poison_id(w, reply->str);
        else if (prev && run_ending(prev))
            hold_id(w, reply->str);
        else if (prev || held_id(w, reply->str))
            log_warn("job=%s claimed twice; already running here", reply->str);
        else
            start_run(w, reply->str, false);
    } else if (reply->type == REDIS_REPLY_NIL && w->cfg.steal) {
        /* Own queue empty: try the others'; nothing there either: wait on our own a while. */
        bool stole_nothing = w->claim_next == CLAIM_STEAL;
        w->claim_next = w->claim_next == CLAIM_OWN ? CLAIM_STEAL : w->claim_next == CLAIM_STEAL ? CLAIM_BLOCK : CLAIM_OWN;
        if (stole_nothing && w->cfg.exit_when_idle && idle_exit_check(w))
            return;
    } else if (reply->type == REDIS_REPLY_NIL && w->cfg.exit_when_idle && idle_exit_check(w)) {
        return;
    }
    if (w->draining && w->busy == 0) {
        quit(w);
        return;
    }
    maybe_claim(w);
}

static bool idle_exit_check(struct worker *w)
{
    if (w->busy > 0 || w->need_reconcile)
        return false;
    log_info("queue %s is empty and nothing runs: exiting (--exit-when-idle)",
             key_queue(w->cfg.ns, w->cfg.machine).s);
    quit(w);
    return true;
}

static void on_reconcile(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct worker *w = arg;
    w->reconcile_inflight = false;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply)
            log_error("reading the running list failed: %s", reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        return; /* retried on the next heartbeat or reconnect */
    }
    bool more = false;
    /* Oldest claims are at the right end (LPUSH side is the left): take them back first. */
    for (size_t i = reply->elements; i-- > 0;) {
        const char *id = reply->element[i]->str;
        if (!id || running_id(w, id) || held_id(w, id))
            continue;
        if (!job_id_valid(id)) {
            poison_id(w, id);
            continue;
        }
        if (w->busy >= w->cfg.slots || w->draining) {
            more = true;
            continue;
        }
        log_info("job=%s found in the running list with no slot running it: taking it back", id);
        start_run(w, id, true);
    }
    w->need_reconcile = more;
    maybe_claim(w);
}

static void maybe_claim(struct worker *w)
{
    if (!w->have_lease || !w->ollama_ok || w->breaker_open || w->retake_waiting || w->draining || w->quitting)
        return;
    if (w->claim_inflight || w->reconcile_inflight || w->busy >= w->cfg.slots)
        return;
    if (w->need_reconcile) {
        if (!rconn_ready(w->cmd))
            return;
        w->reconcile_inflight = true;
        rconn_command(w->cmd, on_reconcile, w, "LRANGE %s 0 -1", key_running(w->cfg.ns, w->cfg.machine).s);
        return;
    }
    if (!rconn_ready(w->blk))
        return;
    w->claim_inflight = true;
    /* Copies: a key_*() result is a temporary, gone at the end of its full expression. */
    char q[KEYS_MAX], running[KEYS_MAX];
    snprintf(q, sizeof q, "%s", key_queue(w->cfg.ns, w->cfg.machine).s);
    snprintf(running, sizeof running, "%s", key_running(w->cfg.ns, w->cfg.machine).s);
    /* The right end of the queue is its head (SPEC); LEFT on the running list keeps the oldest
     * claim at its right end. */
    if (w->cfg.steal && w->claim_next == CLAIM_STEAL) {
        char machines[KEYS_MAX], events[KEYS_MAX], qprefix[KEYS_MAX], jprefix[KEYS_MAX], maxlen[16];
        snprintf(machines, sizeof machines, "%s", key_machines(w->cfg.ns).s);
        snprintf(events, sizeof events, "%s", key_events(w->cfg.ns).s);
        snprintf(qprefix, sizeof qprefix, "%s", key_queue(w->cfg.ns, "").s);
        snprintf(jprefix, sizeof jprefix, "%s", key_job(w->cfg.ns, "").s);
        snprintf(maxlen, sizeof maxlen, "%d", KEYS_EVENTS_MAXLEN);
        const char *argv[] = {"EVAL", steal_script, "4", machines, running, events, q, qprefix, jprefix,
                              w->cfg.machine, maxlen, WORKER_STEAL_DEPTH};
        rconn_command_argv(w->blk, on_claim, w, 12, argv, NULL);
    } else if (w->cfg.exit_when_idle || (w->cfg.steal && w->claim_next == CLAIM_OWN))
        rconn_command(w->blk, on_claim, w, "LMOVE %s %s RIGHT LEFT", q, running);
    else
        rconn_command(w->blk, on_claim, w, "BLMOVE %s %s RIGHT LEFT %g", q, running,
                      w->cfg.steal ? WORKER_STEAL_BLOCK_S : (double)WORKER_CLAIM_BLOCK_S);
}

/* ---- Connections ---- */

static void on_cmd_state(struct rconn *rc, bool up, void *arg)
{
    (void)rc;
    struct worker *w = arg;
    if (up) {
        w->need_reconcile = true;
        heartbeat(w);
        /* The claim connection may have come back first, when the reconcile could not be sent:
         * send it now rather than at the next beat (a failover resumes a second sooner). */
        maybe_claim(w);
    }
}

static void on_blk_state(struct rconn *rc, bool up, void *arg)
{
    (void)rc;
    struct worker *w = arg;
    if (up)
        maybe_claim(w);
}

/* ---- Heartbeat and lease ---- */

static char *heartbeat_json(struct worker *w)
{
    char now[TIMEFMT_ISO_LEN];
    timefmt_iso(timefmt_now_ms(), now);
    json_t *running = json_array();
    for (long i = 0; i < w->cfg.slots; i++) {
        struct run *r = w->slots[i];
        if (!r)
            continue;
        char since[TIMEFMT_ISO_LEN];
        timefmt_iso(timefmt_now_ms() - (int64_t)((ev_now(w->loop) - run_since(r)) * 1000), since);
        json_array_append_new(running, json_pack("{s:o, s:i, s:i, s:i, s:i, s:s}", "id", run_id_json(r), "turn",
                                                 run_turn(r), "turns", run_turns(r), "calls", run_calls(r),
                                                 "attempt", run_attempt(r), "since", since));
    }
    json_t *ollama = json_null();
    if (w->ollama_ok && w->ollama)
        ollama = json_pack("{s:s, s:s, s:O, s:O}", "url", w->cfg.ollama_url, "version", w->ollama->version, "models",
                           w->ollama->models, "ps", w->ollama->ps ? w->ollama->ps : json_null());
    json_t *hb = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:b, s:b, s:o, s:o}", "machine",
                           w->cfg.machine, "token", w->token, "pid", (int)getpid(), "host", w->host, "boot_id",
                           w->boot_id, "pid_ns", w->pid_ns, "version",
                           TURNQ_VERSION, "started_at", w->started_at, "updated_at", now, "slots",
                           (int)w->cfg.slots, "busy", w->busy, "draining", w->draining, "breaker_open",
                           w->breaker_open, "running", running,
                           "ollama", ollama);
    char *text = json_dumps(hb, JSON_COMPACT);
    json_decref(hb);
    return text;
}

/* Whether a heartbeat was left by a worker of our host, boot and pid namespace whose process is
 * gone (its pid is ours after a container restart, or no process has it). In another pid
 * namespace its pid says nothing to us. */
static bool holder_is_dead(struct worker *w, json_t *hb)
{
    const char *host = json_string_value(json_object_get(hb, "host"));
    const char *boot = json_string_value(json_object_get(hb, "boot_id"));
    const char *pidns = json_string_value(json_object_get(hb, "pid_ns"));
    json_int_t pid = json_integer_value(json_object_get(hb, "pid"));
    if (!host || !boot || !pidns || !w->boot_id[0] || !w->pid_ns[0] || strcmp(host, w->host) ||
        strcmp(boot, w->boot_id) || strcmp(pidns, w->pid_ns) || pid <= 0)
        return false;
    if (pid == getpid())
        return true;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* metrics_heartbeat_fn: the gauges of the --metrics-file are those of our heartbeat. */
static json_t *metrics_heartbeat(void *arg)
{
    struct worker *w = arg;
    if (!w->have_lease || w->quitting)
        return NULL;
    char *text = heartbeat_json(w);
    json_t *hb = json_loads(text, 0, NULL);
    free(text);
    return hb;
}

static void on_takeover(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    (void)reply;
    heartbeat(arg); /* try for the lease again at once */
}

static void on_lease(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct worker *w = arg;
    if (reply == NULL)
        return; /* reconnecting; the next beat retries */
    if (reply->type == REDIS_REPLY_ERROR || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        log_error("renewing the lease failed: %s", reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply");
        return;
    }
    bool ours = reply->element[0]->integer == 1;
    if (ours)
        w->lease_renewed = ev_now(w->loop);
    /* Experiments cancelled with `dispatcher cancel` while running here. */
    for (size_t i = 2; ours && i < reply->elements; i++)
        for (long s = 0; s < w->cfg.slots; s++)
            if (w->slots[s] && reply->element[i]->str && !strcmp(run_id(w->slots[s]), reply->element[i]->str))
                run_cancel(w->slots[s]);
    if (ours && !w->have_lease) {
        log_info("holding machine %s (lease %s, TTL %d s); claiming from %s%s", w->cfg.machine,
                 key_worker(w->cfg.ns, w->cfg.machine).s, WORKER_LEASE_TTL_S, key_queue(w->cfg.ns, w->cfg.machine).s,
                 w->ollama_ok ? "" : " once Ollama answers");
        w->have_lease = true;
        w->need_reconcile = true;
        w->holder[0] = '\0';
        maybe_claim(w);
    } else if (!ours) {
        json_t *hb = json_loads(reply->element[1]->str ? reply->element[1]->str : "", 0, NULL);
        if (holder_is_dead(w, hb)) {
            /* A worker of this same host and boot that no longer runs (kill -9, a crash, the
             * container restarted): take the machine back now rather than after the TTL. */
            log_info("machine %s was held by pid %lld of this host, which is gone: taking the machine back",
                     w->cfg.machine, (long long)json_integer_value(json_object_get(hb, "pid")));
            /* A copy: a key_*() result is a temporary, gone at the end of its initializer. */
            char hbkey[KEYS_MAX];
            snprintf(hbkey, sizeof hbkey, "%s", key_worker(w->cfg.ns, w->cfg.machine).s);
            const char *argv[] = {"EVAL", takeover_script, "1", hbkey, reply->element[1]->str};
            rconn_command_argv(w->cmd, on_takeover, w, 5, argv, NULL);
            json_decref(hb);
            return;
        }
        char holder[160];
        snprintf(holder, sizeof holder, "pid %lld on %s since %s",
                 (long long)json_integer_value(json_object_get(hb, "pid")),
                 json_string_value(json_object_get(hb, "host")) ?: "?",
                 json_string_value(json_object_get(hb, "started_at")) ?: "?");
        json_decref(hb);
        if (w->have_lease)
            log_error("lost the lease on machine %s to %s: claiming nothing more", w->cfg.machine, holder);
        else if (strcmp(holder, w->holder))
            log_warn("machine %s is held by another worker (%s); waiting for its lease to end", w->cfg.machine,
                     holder);
        snprintf(w->holder, sizeof w->holder, "%s", holder);
        w->have_lease = false;
    }
}

static void heartbeat(struct worker *w)
{
    if (!w->ollama_answered_once || !rconn_ready(w->cmd) || w->quitting)
        return;
    /* Any beat carries the latest progress: a held-back progress beat is no longer needed. */
    ev_timer_stop(w->loop, &w->progress_timer);
    w->last_beat = ev_now(w->loop);
    char *json = heartbeat_json(w);
    char ttl[16], now[TIMEFMT_ISO_LEN];
    snprintf(ttl, sizeof ttl, "%d", WORKER_LEASE_TTL_S);
    timefmt_iso(timefmt_now_ms(), now);
    char k_hb[KEYS_MAX], k_machines[KEYS_MAX], k_seen[KEYS_MAX];
    snprintf(k_hb, sizeof k_hb, "%s", key_worker(w->cfg.ns, w->cfg.machine).s);
    snprintf(k_machines, sizeof k_machines, "%s", key_machines(w->cfg.ns).s);
    snprintf(k_seen, sizeof k_seen, "%s", key_lastseen(w->cfg.ns).s);
    /* EVAL script numkeys 3 keys + job keys, then 5 args + running ids. */
    const char *argv[11 + 2 * 1024];
    struct key jobkeys[1024];
    int nrun = 0;
    for (long i = 0; i < w->cfg.slots && nrun < 1024 && !w->light_beat; i++)
        if (w->slots[i])
            jobkeys[nrun++] = key_job(w->cfg.ns, run_id(w->slots[i]));
    char numkeys[16];
    snprintf(numkeys, sizeof numkeys, "%d", 3 + nrun);
    int k = 0;
    argv[k++] = "EVAL";
    argv[k++] = lease_script;
    argv[k++] = numkeys;
    argv[k++] = k_hb;
    argv[k++] = k_machines;
    argv[k++] = k_seen;
    for (int i = 0; i < nrun; i++)
        argv[k++] = jobkeys[i].s;
    argv[k++] = json;
    argv[k++] = w->token;
    argv[k++] = ttl;
    argv[k++] = w->cfg.machine;
    argv[k++] = now;
    for (long i = 0, n = 0; i < w->cfg.slots && n < nrun; i++)
        if (w->slots[i]) {
            argv[k++] = run_id(w->slots[i]);
            n++;
        }
    rconn_command_argv(w->cmd, on_lease, w, k, argv, NULL);
    free(json);
}

static void on_probe(struct ollama_info *info, const char *err, void *arg)
{
    struct worker *w = arg;
    w->ollama_probing = NULL; /* freed once this returns */
    bool first = !w->ollama_answered_once, changed = false;
    w->ollama_answered_once = true;
    if (!info) {
        if (w->ollama_ok || first)
            log_warn("Ollama at %s is not answering (%s); waiting for it, claiming nothing", w->cfg.ollama_url, err);
        w->ollama_ok = false;
    } else {
        if (!w->ollama_ok)
            log_info("Ollama at %s answers: version %s, %zu models", w->cfg.ollama_url, info->version,
                     json_array_size(info->models));
        /* The beat that started this probe went out with the previous answer: a change (a model
         * pulled, loaded or unloaded) goes out now rather than a beat later. */
        changed = w->ollama && (!json_equal(w->ollama->models, info->models) ||
                                !json_equal(w->ollama->ps ? w->ollama->ps : json_null(), info->ps ? info->ps : json_null()));
        ollama_info_free(w->ollama);
        w->ollama = info;
        /* Ollama came back: check chat at once rather than at the breaker's next backoff. */
        if (!w->ollama_ok && w->breaker_open && !w->probe) {
            ev_timer_stop(w->loop, &w->breaker_timer);
            w->breaker_backoff_s = WORKER_BREAKER_MIN_S;
            ev_timer_set(&w->breaker_timer, 0., 0.);
            ev_timer_start(w->loop, &w->breaker_timer);
        }
        w->ollama_ok = true;
    }
    if (first || changed)
        heartbeat(w);
    maybe_claim(w);
}

static void on_beat(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct worker *w = t->data;
    if (!w->ollama_probing)
        w->ollama_probing = ollama_probe(w->http, w->cfg.ollama_url, w->ollama, on_probe, w);
    heartbeat(w);
    maybe_claim(w);
}

/* ---- API ---- */

static void make_token(char out[33])
{
    unsigned char raw[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(raw, 1, sizeof raw, f) != sizeof raw) {
        /* Uniqueness, not secrecy, is what the token needs. */
        srand((unsigned)(getpid() ^ timefmt_now_ms()));
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)rand();
    }
    if (f)
        fclose(f);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

struct worker *worker_new(struct ev_loop *loop, const struct worker_cfg *cfg)
{
    struct worker *w = xcalloc(1, sizeof *w);
    w->loop = loop;
    w->cfg = *cfg;
    w->slots = xcalloc((size_t)cfg->slots, sizeof *w->slots);
    w->held = xcalloc((size_t)cfg->slots, sizeof *w->held);
    make_token(w->token);
    gethostname(w->host, sizeof w->host - 1);
    ssize_t nl = readlink("/proc/self/ns/pid", w->pid_ns, sizeof w->pid_ns - 1);
    w->pid_ns[nl > 0 ? nl : 0] = '\0';
    FILE *bf = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (bf) {
        if (fgets(w->boot_id, sizeof w->boot_id, bf))
            w->boot_id[strcspn(w->boot_id, "\n")] = '\0';
        fclose(bf);
    }
    snprintf(w->id, sizeof w->id, "%s:%d", w->host, (int)getpid());
    timefmt_iso(timefmt_now_ms(), w->started_at);
    srand((unsigned)(getpid() ^ timefmt_now_ms()));
    w->http = http_new(loop);
    char name[128];
    snprintf(name, sizeof name, "worker-%s-cmd", cfg->machine);
    w->cmd = rconn_new(loop, &cfg->redis, name, on_cmd_state, w);
    snprintf(name, sizeof name, "worker-%s-claim", cfg->machine);
    w->blk = rconn_new(loop, &cfg->redis, name, on_blk_state, w);
    rconn_set_reply_timeout(w->cmd, WORKER_REDIS_REPLY_TIMEOUT_S);
    rconn_set_reply_timeout(w->blk, WORKER_CLAIM_BLOCK_S + WORKER_REDIS_REPLY_TIMEOUT_S);
    ev_init(&w->beat, on_beat);
    ev_init(&w->progress_timer, on_progress_timer);
    w->progress_timer.data = w;
    w->beat.repeat = WORKER_HEARTBEAT_S;
    w->beat.data = w;
    ev_init(&w->quit_timer, on_quit_timer);
    w->quit_timer.data = w;
    ev_init(&w->grace, on_grace);
    w->grace.data = w;
    ev_init(&w->breaker_timer, on_breaker_timer);
    w->breaker_timer.data = w;
    ev_init(&w->retake_timer, on_retake_timer);
    w->retake_timer.data = w;
    w->retake_backoff_s = WORKER_RETAKE_MIN_S;
    if (cfg->metrics_file)
        w->metrics = metrics_file_new(loop, w->cmd, cfg->ns, cfg->machine, cfg->metrics_file, cfg->metrics_interval_s,
                                      metrics_heartbeat, w);
    /* First probe at once, then every beat. Feed after ev_timer_again, which clears a pending
     * event of its watcher. */
    ev_timer_again(loop, &w->beat);
    ev_feed_event(loop, &w->beat, EV_TIMER);
    return w;
}

void worker_stop(struct worker *w, bool now)
{
    if (now || w->draining) {
        log_warn("stopping now: %d experiments left in the running list resume at their next "
                 "uncommitted turn on restart", w->busy);
        /* Release the lease on the way out (bounded wait), so status shows the worker gone and a
         * restart takes the machine at once. */
        w->quitting = false;
        w->draining = true;
        quit(w);
        return;
    }
    w->draining = true;
    log_info("stopping: claiming nothing more; %d running experiments go back first in line at their next turn "
             "boundary, or in %.0f s (--grace); signal again to stop now", w->busy, w->cfg.grace_s);
    for (long i = 0; i < w->cfg.slots; i++)
        if (w->slots[i])
            run_stop(w->slots[i]);
    ev_timer_set(&w->grace, w->cfg.grace_s, 0.);
    ev_timer_start(w->loop, &w->grace);
    heartbeat(w);
    if (w->claim_inflight) {
        /* BLMOVE is blocked on its own connection: CLIENT UNBLOCK from the other one makes it
         * answer nil now (or the id it just moved, which then runs). */
        if (rconn_ready(w->cmd))
            rconn_command(w->cmd, NULL, NULL, "CLIENT UNBLOCK %lld", rconn_client_id(w->blk));
        else
            rconn_drop(w->blk);
        return;
    }
    if (w->busy == 0)
        quit(w);
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    ev_timer_stop(w->loop, &w->beat);
    ev_timer_stop(w->loop, &w->quit_timer);
    ev_timer_stop(w->loop, &w->grace);
    ev_timer_stop(w->loop, &w->breaker_timer);
    ev_timer_stop(w->loop, &w->retake_timer);
    ollama_health_cancel(w->probe);
    free(w->probe_model);
    json_decref(w->probe_options);
    json_decref(w->probe_keep_alive);
    /* Writes still in flight (a commit, a requeue: "stop now" leaves them) are answered NULL
     * from rconn_free, into their runs, which must still be there; their processes end first,
     * as no loop runs any more to see them out. */
    for (long i = 0; i < w->cfg.slots; i++)
        run_kill_procs(w->slots[i]);
    rconn_free(w->blk);
    rconn_free(w->cmd);
    for (long i = 0; i < w->cfg.slots; i++)
        run_free(w->slots[i]);
    metrics_file_free(w->metrics); /* after the connection: its pending read has been answered */
    ollama_probe_cancel(w->ollama_probing); /* stopped while asking Ollama */
    http_free(w->http);
    ollama_info_free(w->ollama);
    for (long i = 0; i < w->cfg.slots; i++)
        free(w->held[i]);
    free(w->held);
    free(w->slots);
    free(w);
}
