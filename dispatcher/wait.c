/* wait: block until every experiment in NS:ids has ended (done, failed, cancelled), following
 * NS:events with blocking XREAD rather than a sleeping poll (SPEC "Submitting").
 *
 * Order matters: the stream's last entry id is noted BEFORE the states are read, so a state
 * change between the two reads is still seen as an event afterwards. Each event's id then has its
 * state re-read from its hash (the hash, not the event, is the truth), so wait returns as soon as
 * the event of the last experiment lands, well within 100 ms. The states of all unfinished
 * experiments are re-read as well whenever a read times out, after every batch of events while at
 * most WAIT_RESYNC_SMALL are unfinished (a millisecond's work), and otherwise once a second: a
 * safety net for changes made without an event (by hand, or in a trimmed stretch of the capped
 * stream). An event
 * for an id not yet known (a submission made while waiting) adds that id when it is in NS:ids.
 *
 * With ids named, or --sweep FILE, the set is fixed: those ids only, so a failure left over from
 * an earlier sweep in the namespace does not fail this wait. Each must have been submitted
 * (checked before waiting): an id that never will be would make wait last forever.
 *
 * A lost connection (Redis restarted, or a Sentinel failover) is not the end: wait connects
 * again (to the new primary) for up to WAIT_RECONNECT_S, or until --timeout, and then starts
 * over from step 1 with every state re-read, since the new primary may have lost the last writes
 * the old one acknowledged.
 *
 * The id set is an array plus an open-addressing index (id -> position). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "disp.h"
#include "job.h"
#include "keys.h"
#include "place.h"
#include "xalloc.h"

#define WAIT_BLOCK_MS 1000   /* longest single XREAD block */
#define WAIT_RESYNC_MS 1000  /* full re-read of unfinished states at most this often... */
#define WAIT_RESYNC_SMALL 1000 /* ...unless this few are unfinished: then after every event batch */
#define WAIT_XREAD_COUNT "1000"
#define WAIT_LIST_MAX 20     /* ids named in one message line */
#define WAIT_RECONNECT_S 60  /* after a lost connection, try to get it back this long */

static double opt_timeout = -1; /* seconds; < 0: no timeout */
static const char *opt_sweep;

static const struct cfg_opt wait_opts[] = {
    {"timeout", 0, NULL, CFG_DOUBLE, &opt_timeout, 0, 1e9, "SECONDS",
     "give up after SECONDS, exit 1 naming what has not ended (default: wait as long as it takes)"},
    {"sweep", 0, NULL, CFG_STR, &opt_sweep, 0, 0, "FILE",
     "wait only for the experiments of FILE (any submit input); each must have been submitted"},
    {NULL},
};

struct wset {
    struct strvec ids;
    char **state;   /* state[i]: owned, NULL when the job hash has none */
    size_t state_cap;
    size_t *slot;   /* index: position + 1, 0 empty; cap a power of two */
    size_t cap;
};

enum { C_DONE, C_FAILED, C_CANCELLED, C_RUNNING, C_QUEUED, C_OTHER, C_N };

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- The id set ---- */

static size_t wset_probe(const struct wset *w, const char *id, size_t len, bool *found)
{
    size_t h = (size_t)place_hash64(id, len) & (w->cap - 1);
    while (w->slot[h]) {
        const char *s = w->ids.v[w->slot[h] - 1];
        if (strlen(s) == len && !memcmp(s, id, len)) {
            *found = true;
            return h;
        }
        h = (h + 1) & (w->cap - 1);
    }
    *found = false;
    return h;
}

static long wset_find(const struct wset *w, const char *id, size_t len)
{
    bool found;
    size_t h = wset_probe(w, id, len, &found);
    return found ? (long)w->slot[h] - 1 : -1;
}

static void wset_add(struct wset *w, const char *id, size_t len)
{
    if ((w->ids.n + 1) * 2 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        free(w->slot);
        w->slot = xcalloc(cap, sizeof *w->slot);
        w->cap = cap;
        for (size_t i = 0; i < w->ids.n; i++) {
            bool f;
            w->slot[wset_probe(w, w->ids.v[i], strlen(w->ids.v[i]), &f)] = i + 1;
        }
    }
    bool found;
    size_t h = wset_probe(w, id, len, &found);
    if (found)
        return;
    strvec_pushn(&w->ids, id, len);
    if (w->state_cap < w->ids.cap) {
        w->state_cap = w->ids.cap;
        w->state = xreallocarray(w->state, w->state_cap, sizeof *w->state);
    }
    w->state[w->ids.n - 1] = NULL;
    w->slot[h] = w->ids.n;
}

static void wset_free(struct wset *w)
{
    for (size_t i = 0; i < w->ids.n; i++)
        free(w->state[i]);
    free(w->state);
    free(w->slot);
    strvec_free(&w->ids);
}

/* ---- Reading states ---- */

/* Re-reads the state of the experiments at positions idx[0..n) (pipelined HGET). */
static int refresh(struct disp *d, struct wset *w, const size_t *idx, size_t n)
{
    int rc;
    for (size_t base = 0; base < n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < n ? base + DISP_PIPELINE : n;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "HGET", key_job(d->ns, w->ids.v[idx[i]]).s, "state", NULL);
        for (size_t i = base; i < end; i++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                return rc;
            free(w->state[idx[i]]);
            w->state[idx[i]] = r->type == REDIS_REPLY_STRING ? xstrndup(r->str, r->len) : NULL;
            freeReplyObject(r);
        }
    }
    return 0;
}

static int refresh_unfinished(struct disp *d, struct wset *w)
{
    size_t *idx = xcalloc(w->ids.n + 1, sizeof *idx), n = 0;
    for (size_t i = 0; i < w->ids.n; i++)
        if (!disp_state_ended(w->state[i]))
            idx[n++] = i;
    int rc = refresh(d, w, idx, n);
    free(idx);
    return rc;
}

static void count_states(const struct wset *w, size_t c[C_N])
{
    memset(c, 0, C_N * sizeof *c);
    for (size_t i = 0; i < w->ids.n; i++) {
        const char *s = w->state[i] ? w->state[i] : "";
        c[!strcmp(s, "done") ? C_DONE : !strcmp(s, "failed") ? C_FAILED : !strcmp(s, "cancelled") ? C_CANCELLED
          : !strcmp(s, "running") ? C_RUNNING : !strcmp(s, "queued") ? C_QUEUED : C_OTHER]++;
    }
}

/* Handles one XREAD reply: advances *last and re-reads the state of every id the events name
 * (adding ids submitted meanwhile, unless the set is fixed: named ids or --sweep). */
static int apply_events(struct disp *d, struct wset *w, bool fixed, redisReply *r, char *last, size_t last_size)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return 0;
    redisReply *stream = r->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2 || stream->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    redisReply *entries = stream->element[1];
    size_t *idx = xcalloc(entries->elements + 1, sizeof *idx), n = 0;
    struct strvec fresh = {0};
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(last, last_size, "%s", e->element[0]->str);
        redisReply *f = e->element[1];
        for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
            redisReply *name = f->element[k], *val = f->element[k + 1];
            if (name->type != REDIS_REPLY_STRING || strcmp(name->str, "id") || val->type != REDIS_REPLY_STRING)
                continue;
            long at = wset_find(w, val->str, val->len);
            if (at >= 0)
                idx[n++] = (size_t)at;
            else if (!fixed && strvec_find(&fresh, val->str) < 0)
                strvec_pushn(&fresh, val->str, val->len);
        }
    }
    int rc = refresh(d, w, idx, n);
    /* Ids seen for the first time: kept only if they were submitted (are in NS:ids). */
    for (size_t i = 0; rc == 0 && i < fresh.n; i++) {
        redisReply *s;
        if ((rc = disp_call(d, &s, "ZSCORE", key_ids(d->ns).s, fresh.v[i], NULL)))
            break;
        if (s->type == REDIS_REPLY_STRING) {
            wset_add(w, fresh.v[i], strlen(fresh.v[i]));
            size_t at = w->ids.n - 1;
            rc = refresh(d, w, &at, 1);
        }
        freeReplyObject(s);
    }
    strvec_free(&fresh);
    free(idx);
    return rc;
}

/* ---- Reporting ---- */

static void progress(const struct wset *w, bool tty, bool final)
{
    static char prev[256];
    if (!tty)
        return;
    size_t c[C_N];
    count_states(w, c);
    char line[256];
    snprintf(line, sizeof line, "wait: %zu/%zu ended (%zu done, %zu failed, %zu cancelled), %zu running, %zu queued",
             c[C_DONE] + c[C_FAILED] + c[C_CANCELLED], w->ids.n, c[C_DONE], c[C_FAILED], c[C_CANCELLED],
             c[C_RUNNING], c[C_QUEUED]);
    if (strcmp(line, prev))
        fprintf(stderr, "\r%s\033[K", line);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
    snprintf(prev, sizeof prev, "%s", line);
}

/* Names the failed experiments, one line each, with their machine and error. */
static int report_failed(struct disp *d, const struct wset *w)
{
    int rc = 0;
    for (size_t i = 0; i < w->ids.n; i++) {
        if (!w->state[i] || strcmp(w->state[i], "failed"))
            continue;
        redisReply *r;
        if ((rc = disp_call(d, &r, "HMGET", key_job(d->ns, w->ids.v[i]).s, "machine", "error", NULL)))
            return rc;
        const char *m = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING
                            ? r->element[0]->str : "?";
        const char *e = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING
                            && r->element[1]->len ? r->element[1]->str : "(no error recorded)";
        fprintf(stderr, "dispatcher: wait: failed: %s on %s: %s\n", w->ids.v[i], m, e);
        freeReplyObject(r);
    }
    return rc;
}

static void report_unfinished(const struct wset *w, size_t total_unfinished)
{
    char list[2048] = "";
    size_t len = 0, listed = 0;
    for (size_t i = 0; i < w->ids.n && listed < WAIT_LIST_MAX && len < sizeof list - 200; i++) {
        if (disp_state_ended(w->state[i]))
            continue;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (%s)", listed ? ", " : "", w->ids.v[i],
                                w->state[i] ? w->state[i] : "no job hash");
        listed++;
    }
    if (total_unfinished > listed)
        snprintf(list + len, sizeof list - len, " and %zu more", total_unfinished - listed);
    disp_errf("wait: timed out after %gs: %zu of %zu experiment%s not ended: %s", opt_timeout, total_unfinished,
              w->ids.n, w->ids.n == 1 ? "" : "s", list);
}

/* ---- Subcommand ---- */

/* The ids of the --sweep file, each checked to have been submitted (its job hash exists): a
 * file with ids never submitted is an error naming them, since waiting for them could last
 * forever; spec differences are warned about, as results --sweep does. */
static int sweep_ids(struct disp *d, struct strvec *out)
{
    struct job_list list = {0};
    struct disp_idlist missing = {0}, changed = {0};
    int rc = disp_read_sweep("wait", opt_sweep, &list);
    if (rc == 0)
        rc = disp_connect(d);
    for (size_t base = 0; rc == 0 && base < list.n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < list.n ? base + DISP_PIPELINE : list.n;
        for (size_t i = base; i < end; i++) {
            disp_appendv(d, "HGET", key_job(d->ns, list.v[i]->id).s, "spec", NULL);
            /* A hash without a spec (dead-lettered unparseable) still counts as submitted. */
            disp_appendv(d, "EXISTS", key_job(d->ns, list.v[i]->id).s, NULL);
        }
        for (size_t i = base; i < end; i++) {
            redisReply *sp, *ex;
            if ((rc = disp_reply(d, &sp)))
                break;
            if ((rc = disp_reply(d, &ex))) {
                freeReplyObject(sp);
                break;
            }
            bool has_spec = sp->type == REDIS_REPLY_STRING;
            disp_spec_check(&changed, list.v[i], has_spec ? sp->str : NULL, has_spec ? sp->len : 0);
            if (!(ex->type == REDIS_REPLY_INTEGER && ex->integer > 0))
                disp_idlist_add(&missing, list.v[i]->id);
            freeReplyObject(sp);
            freeReplyObject(ex);
            strvec_push(out, list.v[i]->id);
        }
    }
    if (rc == 0 && missing.n) {
        disp_errf("wait: --sweep %s: %zu of its %zu experiment%s %s never submitted (%s): submit the file first",
                  opt_sweep, missing.n, list.n, list.n == 1 ? "" : "s", missing.n == 1 ? "was" : "were",
                  disp_idlist_text(&missing));
        rc = EXIT_USAGE;
    }
    if (rc == 0)
        disp_spec_warn(&changed, "wait", opt_sweep);
    job_list_clear(&list);
    return rc;
}

static int wait_run(struct disp *d, const char **args, int nargs)
{
    if (opt_sweep && nargs) {
        disp_errf("wait: name ids or give --sweep FILE, not both");
        return EXIT_USAGE;
    }
    /* The set to wait for: fixed (named ids, the sweep's) or every id of NS:ids, growing. */
    struct strvec fixed_ids = {0};
    bool fixed = opt_sweep || nargs;
    int rc = 0;
    if (opt_sweep)
        rc = sweep_ids(d, &fixed_ids);
    else if (nargs)
        rc = disp_named_ids(d, "wait", args, nargs, &fixed_ids);
    if (rc == 0)
        rc = disp_connect(d);
    if (rc) {
        strvec_free(&fixed_ids);
        return rc;
    }
    struct wset w = {0};
    redisReply *r;
    bool tty = isatty(STDERR_FILENO);
    int64_t start = mono_ms();
    int64_t deadline = opt_timeout >= 0 ? start + (int64_t)(opt_timeout * 1000.0) : -1;

    char last[64];
resync:
    /* 1. the stream position first, 2. then the states (see the top of the file). */
    if ((rc = disp_events_tail(d, last, sizeof last)))
        goto out;

    if (fixed) {
        for (size_t i = 0; i < fixed_ids.n; i++)
            wset_add(&w, fixed_ids.v[i], strlen(fixed_ids.v[i]));
    } else {
        if ((rc = disp_call(d, &r, "ZRANGE", key_ids(d->ns).s, "0", "-1", NULL)))
            goto out;
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                wset_add(&w, r->element[i]->str, r->element[i]->len);
        freeReplyObject(r);
    }
    if (w.ids.n == 0) {
        if (opt_sweep)
            fprintf(stderr, "dispatcher: wait: --sweep %s holds no experiments: nothing to wait for\n", opt_sweep);
        else
            fprintf(stderr, "dispatcher: wait: no experiments in %s: nothing to wait for\n", key_ids(d->ns).s);
        goto out;
    }
    if ((rc = refresh_unfinished(d, &w)))
        goto out;
    int64_t last_full = mono_ms();

    size_t c[C_N];
    for (;;) {
        count_states(&w, c);
        progress(&w, tty, false);
        if (c[C_DONE] + c[C_FAILED] + c[C_CANCELLED] == w.ids.n)
            break;
        int64_t now = mono_ms(), block = WAIT_BLOCK_MS;
        if (deadline >= 0) {
            if (now >= deadline) {
                progress(&w, tty, true);
                report_unfinished(&w, w.ids.n - c[C_DONE] - c[C_FAILED] - c[C_CANCELLED]);
                rc = report_failed(d, &w);
                rc = rc ? rc : EXIT_RUNTIME;
                goto out;
            }
            if (deadline - now < block)
                block = deadline - now;
        }
        char block_s[24];
        snprintf(block_s, sizeof block_s, "%lld", (long long)(block > 0 ? block : 1));
        if ((rc = disp_call(d, &r, "XREAD", "COUNT", WAIT_XREAD_COUNT, "BLOCK", block_s, "STREAMS",
                            key_events(d->ns).s, last, NULL)))
            goto out;
        bool timed_out = r->type == REDIS_REPLY_NIL;
        rc = apply_events(d, &w, fixed, r, last, sizeof last);
        freeReplyObject(r);
        if (rc)
            goto out;
        size_t unfinished = w.ids.n - c[C_DONE] - c[C_FAILED] - c[C_CANCELLED];
        if (timed_out || unfinished <= WAIT_RESYNC_SMALL || mono_ms() - last_full >= WAIT_RESYNC_MS) {
            if ((rc = refresh_unfinished(d, &w)))
                goto out;
            last_full = mono_ms();
        }
    }
    progress(&w, tty, true);
    fprintf(stderr, "dispatcher: wait: all %zu experiment%s ended: %zu done, %zu failed, %zu cancelled\n", w.ids.n,
            w.ids.n == 1 ? "" : "s", c[C_DONE], c[C_FAILED], c[C_CANCELLED]);
    if (c[C_FAILED]) {
        rc = report_failed(d, &w);
        rc = rc ? rc : EXIT_RUNTIME;
    }
out:
    if (rc == EXIT_REDIS && d->c && d->c->err) {
        /* The connection broke (a NOPERM, also EXIT_REDIS, leaves it intact: no point retrying). */
        double within = WAIT_RECONNECT_S;
        if (deadline >= 0)
            within = (double)(deadline - mono_ms()) / 1000.0;
        if (within > 0) {
            fprintf(stderr, "dispatcher: wait: reconnecting to Redis (up to %.0f s)\n", within);
            if ((rc = disp_reconnect(d, within)) == 0) {
                fprintf(stderr, "dispatcher: wait: connected again; re-reading every state\n");
                for (size_t i = 0; i < w.ids.n; i++) {
                    free(w.state[i]);
                    w.state[i] = NULL;
                }
                goto resync;
            }
        }
    }
    wset_free(&w);
    strvec_free(&fixed_ids);
    return rc;
}

const struct disp_cmd wait_cmd = {
    .name = "wait",
    .synopsis = "wait [--timeout SECONDS] [--sweep FILE | ID...]",
    .summary = "block until every submitted experiment (or those named) has ended",
    .description =
        "Follows NS:events until every experiment in NS:ids is done, failed or cancelled, and returns\n"
        "within 100 ms of the last one ending. With ids, or --sweep FILE (any submit input), only\n"
        "those count: an earlier sweep's failure does not fail this one. Each must have been\n"
        "submitted (else exit 2, naming them; nothing is waited for); a --sweep file whose specs\n"
        "differ from what was submitted under its ids gets a warning, as in results --sweep.\n"
        "Exit 0 when all ended and none failed; 1 when any\n"
        "failed (each is named with its error) or the timeout passed (what has not ended is named).\n"
        "Shows progress on stderr when it is a terminal. A lost Redis connection (a restart, a\n"
        "Sentinel failover) is retried for up to 60 s (or until --timeout), then every state re-read.\n",
    .opts = wait_opts,
    .run = wait_run,
};
