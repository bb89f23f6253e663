/* metrics: counting into the commit batches, and the --metrics-file writer (see metrics.h).
 *
 * The writer's read is one small Lua script (HGETALL of the metrics hash and the two list
 * lengths) so the file is one consistent snapshot; its gauges (up, slots, busy, Ollama) come from
 * the heartbeat the worker would write now, the same object `dispatcher metrics` reads. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "keys.h"
#include "log.h"
#include "prom.h"
#include "xalloc.h"

/* ---- Counting ---- */

void metrics_call_ok(struct metrics_calls *c, const struct chat_metrics *m)
{
    size_t n, i;
    const double *b = mstats_bounds(MSTATS_H_CALL, &n);
    for (i = 0; i < n && c->last_s > b[i]; i++)
        ;
    c->buckets[i]++;
    c->sum_s += c->last_s;
    c->ok++;
    c->prompt_tokens += m->prompt_eval_count;
    c->eval_tokens += m->eval_count;
    c->eval_ns += m->eval_duration_ns;
}

void metrics_call_failed(struct metrics_calls *c)
{
    size_t n, i;
    const double *b = mstats_bounds(MSTATS_H_CALL, &n);
    for (i = 0; i < n && c->last_s > b[i]; i++)
        ;
    c->buckets[i]++;
    c->sum_s += c->last_s;
    c->error++;
}

static void incr(struct batch *b, const char *key, const char *field, long long by)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", by);
    batch_add_soft(b, "HINCRBY", key, field, v, NULL);
}

static void incr_float(struct batch *b, const char *key, const char *field, double by)
{
    char v[64];
    snprintf(v, sizeof v, "%.6f", by);
    batch_add_soft(b, "HINCRBYFLOAT", key, field, v, NULL);
}

/* The non-cumulative bucket counts of histogram h. */
static void flush_buckets(struct batch *b, const char *key, enum mstats_hist h, const uint64_t *buckets)
{
    size_t n;
    const double *bounds = mstats_bounds(h, &n);
    for (size_t i = 0; i <= n; i++) {
        if (!buckets[i])
            continue;
        char f[64];
        /* The field of bucket i: any value in (bounds[i-1], bounds[i]] names it. */
        mstats_bucket_field(h, i < n ? bounds[i] : bounds[n - 1] * 2, f);
        incr(b, key, f, (long long)buckets[i]);
    }
}

static void flush_calls(struct batch *b, const char *key, struct metrics_calls *c, double now)
{
    double last_s = c->last_s;
    uint64_t turns = 0;
    for (int i = 0; i < MSTATS_STOPS; i++)
        turns += c->stops[i];
    if (turns) {
        flush_buckets(b, key, MSTATS_H_TURN, c->turn_buckets);
        incr_float(b, key, mstats_sum_field(MSTATS_H_TURN), c->turn_sum_s);
        for (int i = 0; i < MSTATS_STOPS; i++)
            if (c->stops[i])
                incr(b, key, mstats_stop_field_at(i), (long long)c->stops[i]);
    }
    if (c->ok + c->error == 0) {
        memset(c, 0, sizeof *c);
        c->last_s = last_s;
        c->flushed_at = now;
        return;
    }
    flush_buckets(b, key, MSTATS_H_CALL, c->buckets);
    incr_float(b, key, mstats_sum_field(MSTATS_H_CALL), c->sum_s);
    if (c->ok)
        incr(b, key, "calls:ok", (long long)c->ok);
    if (c->error)
        incr(b, key, "calls:error", (long long)c->error);
    if (c->prompt_tokens)
        incr(b, key, "prompt_tokens", c->prompt_tokens);
    if (c->eval_tokens)
        incr(b, key, "eval_tokens", c->eval_tokens);
    if (c->eval_ns)
        incr_float(b, key, "eval_seconds", (double)c->eval_ns / 1e9);
    memset(c, 0, sizeof *c);
    c->last_s = last_s;
    c->flushed_at = now;
}

void metrics_add_turn(struct batch *b, const char *ns, const char *machine, struct metrics_calls *c, double turn_s,
                      const char *stop, double now)
{
    size_t n, i;
    const double *bounds = mstats_bounds(MSTATS_H_TURN, &n);
    for (i = 0; i < n && turn_s > bounds[i]; i++)
        ;
    c->turn_buckets[i]++;
    c->turn_sum_s += turn_s;
    int si = mstats_stop_index(stop);
    if (si >= 0)
        c->stops[si]++;
    if (now - c->flushed_at >= METRICS_FLUSH_S)
        flush_calls(b, key_metrics(ns, machine).s, c, now);
}

void metrics_add_end(struct batch *b, const char *ns, const char *machine, struct metrics_calls *c,
                     const char *status)
{
    struct key k = key_metrics(ns, machine);
    if (mstats_outcome_field(status))
        incr(b, k.s, mstats_outcome_field(status), 1);
    flush_calls(b, k.s, c, c->flushed_at);
}

void metrics_add_requeue(struct batch *b, const char *ns, const char *machine, struct metrics_calls *c)
{
    struct key k = key_metrics(ns, machine);
    incr(b, k.s, "requeues", 1);
    flush_calls(b, k.s, c, c->flushed_at);
}

/* ---- The textfile ---- */

/* KEYS: metrics hash, queue, running list. One snapshot of the three. */
static const char read_script[] =
    "local h = {}\n"
    "if redis.call('TYPE', KEYS[1]).ok == 'hash' then h = redis.call('HGETALL', KEYS[1]) end\n"
    "return {h, redis.call('LLEN', KEYS[2]), redis.call('LLEN', KEYS[3])}\n";

struct metrics_file {
    struct ev_loop *loop;
    struct rconn *redis;
    const char *ns, *machine, *path;
    metrics_heartbeat_fn *hb_fn;
    void *hb_arg;
    ev_timer tick;
    bool reading;          /* a read is in flight */
    bool final;            /* leaving: the next written file says the worker is down */
    bool final_written;
    bool have_snap;        /* snap holds a successful read */
    struct mstats_machine snap; /* counters and list lengths of the last read */
    bool warned;           /* a failure was logged; log the recovery once */
};

static void write_file(struct metrics_file *mf)
{
    json_t *hb = mf->final ? NULL : mf->hb_fn(mf->hb_arg);
    struct mstats_machine m = mf->snap;
    m.machine = mf->machine;
    mstats_set_heartbeat(&m, hb);
    if (mf->final)
        m.busy = 0;
    struct buf out = {0};
    mstats_render(&out, &m, 1);
    char err[ERR_LEN];
    if (prom_write_file(mf->path, buf_head(&out), buf_avail(&out), err) < 0) {
        if (!mf->warned)
            log_warn("--metrics-file: %s; retrying every write", err);
        mf->warned = true;
    } else if (mf->warned) {
        log_info("--metrics-file: %s written again", mf->path);
        mf->warned = false;
    }
    buf_free(&out);
    json_decref(hb);
    if (mf->final)
        mf->final_written = true;
}

static void on_read(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct metrics_file *mf = arg;
    mf->reading = false;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY) {
        /* Redis away (the file keeps its last version; its mtime tells it is stale) or the key
         * is of another type. */
        if (reply && !mf->warned) {
            log_warn("--metrics-file: reading %s failed: %s", key_metrics(mf->ns, mf->machine).s,
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
            mf->warned = true;
        }
        return;
    }
    struct mstats_machine m;
    mstats_init(&m, mf->machine);
    redisReply *h = reply->element[0];
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && h->element[i + 1]->type == REDIS_REPLY_STRING)
            mstats_set_field(&m, h->element[i]->str, h->element[i + 1]->str);
    m.queue_depth = reply->element[1]->type == REDIS_REPLY_INTEGER ? reply->element[1]->integer : -1;
    m.running_depth = reply->element[2]->type == REDIS_REPLY_INTEGER ? reply->element[2]->integer : -1;
    mf->snap = m;
    mf->have_snap = true;
    write_file(mf);
}

static void start_read(struct metrics_file *mf)
{
    if (mf->reading || !rconn_ready(mf->redis))
        return;
    mf->reading = true;
    char k_m[KEYS_MAX], k_q[KEYS_MAX], k_r[KEYS_MAX];
    snprintf(k_m, sizeof k_m, "%s", key_metrics(mf->ns, mf->machine).s);
    snprintf(k_q, sizeof k_q, "%s", key_queue(mf->ns, mf->machine).s);
    snprintf(k_r, sizeof k_r, "%s", key_running(mf->ns, mf->machine).s);
    const char *argv[] = {"EVAL", read_script, "3", k_m, k_q, k_r};
    rconn_command_argv(mf->redis, on_read, mf, 6, argv, NULL);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    start_read(t->data);
}

struct metrics_file *metrics_file_new(struct ev_loop *loop, struct rconn *redis, const char *ns, const char *machine,
                                      const char *path, double interval_s, metrics_heartbeat_fn *hb, void *hb_arg)
{
    struct metrics_file *mf = xcalloc(1, sizeof *mf);
    mf->loop = loop;
    mf->redis = redis;
    mf->ns = ns;
    mf->machine = machine;
    mf->path = path;
    mf->hb_fn = hb;
    mf->hb_arg = hb_arg;
    mstats_init(&mf->snap, machine);
    ev_timer_init(&mf->tick, on_tick, interval_s, interval_s);
    mf->tick.data = mf;
    ev_timer_start(loop, &mf->tick);
    /* The timer alone must not keep a leaving worker's loop alive. */
    ev_unref(loop);
    return mf;
}

void metrics_file_final(struct metrics_file *mf)
{
    if (!mf || mf->final)
        return;
    if (ev_is_active(&mf->tick)) {
        ev_ref(mf->loop);
        ev_timer_stop(mf->loop, &mf->tick);
    }
    mf->final = true;
    /* A read in flight delivers first (one connection, in order) and writes the final file. */
    start_read(mf);
}

void metrics_file_free(struct metrics_file *mf)
{
    if (!mf)
        return;
    if (ev_is_active(&mf->tick)) {
        ev_ref(mf->loop);
        ev_timer_stop(mf->loop, &mf->tick);
    }
    if (!mf->final_written && mf->have_snap) {
        mf->final = true;
        write_file(mf);
    }
    free(mf);
}
