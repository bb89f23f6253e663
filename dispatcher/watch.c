/* watch: a live view of the sweep, redrawn every --interval seconds or soon after an event.
 *
 * Each frame shows, per machine: whether its worker is up (and its heartbeat's age), its Ollama
 * version and models, slots busy, queue and running depths, done/failed counts, Ollama's average
 * generation speed (eval_tokens / eval_duration from NS:metrics:MACHINE), and per busy slot the
 * experiment, turn k of n, calls and the tokens per second of its latest committed turn
 * (eval_tokens over the turn's wall time: turn records carry no eval_duration). The last line is
 * the sweep's done/total and a rough ETA: mean committed turn time (from the metrics hashes) x
 * turns remaining (turns of unfinished experiments not yet committed) / parallel slots (those of
 * live workers, at most one per unfinished experiment). It assumes every turn is like the mean
 * and every remaining turn runs, so it is an estimate, not a promise.
 *
 * Reading: the ids (NS:ids, or --sweep FILE's), the state/machine/turn of those never read (all
 * every WATCH_FULL_MS, for retries), which decide the machines shown; then one MULTI/EXEC
 * snapshot of the unfinished ones' states and six reads per machine (heartbeat, last seen, queue
 * and running depths, the running list, the counters), so the lines of one frame agree with each
 * other; then each unfinished one's turn count once from its spec, and one read per busy slot:
 * nothing heavy per frame. Busy slots are the running list's ids; the heartbeat, the worker's own
 * picture a moment old, only adds their turn and calls (read_slots).
 * Waiting: blocking XREADs on NS:events in slices of WATCH_SLICE_MS, so a change redraws within
 * WATCH_MIN_GAP_MS and SIGINT/SIGTERM end the loop promptly (hiredis retries a read that EINTR
 * interrupts, hence the slices). On a terminal the frame is drawn in the alternate screen (ANSI
 * home, erase to end of line, erase below; no curses) and the terminal is restored on exit; when
 * stdout is not a terminal (and with --once), each line is printed only when it changed, with no
 * escape codes, and a slot line names its machine ("gpu1 A1: turn 3 of 4, ...") since it may be
 * printed without its machine's line. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "disp.h"
#include "job.h"
#include "keys.h"
#include "mstats.h"
#include "timefmt.h"
#include "xalloc.h"

#define WATCH_SLICE_MS 250      /* longest single XREAD block: the signal check granularity */
#define WATCH_MIN_GAP_MS 300    /* after an event, redraw no sooner than this after the last frame */
#define WATCH_FULL_MS 30000     /* re-read ended experiments' states this often (retry, --force) */
#define WATCH_SLOTS_MAX 4096    /* running experiments shown per frame */
#define WATCH_ATOMIC_MAX 20000  /* unfinished experiments read inside the frame's MULTI */

static double opt_interval = 2.0;
static bool opt_once, opt_until_done;
static const char *opt_sweep;

static const struct cfg_opt watch_opts[] = {
    {"interval", 0, NULL, CFG_DOUBLE, &opt_interval, 0.2, 3600, "S", "redraw at least every S seconds (default 2)"},
    {"once", 0, NULL, CFG_BOOL, &opt_once, 0, 0, NULL, "print one frame and exit"},
    {"until-done", 0, NULL, CFG_BOOL, &opt_until_done, 0, 0, NULL,
     "exit once every experiment has ended (exit 1 when any failed, as wait does)"},
    {"sweep", 0, NULL, CFG_STR, &opt_sweep, 0, 0, "FILE",
     "count only the experiments of FILE (a submit input) in done/total and the ETA"},
    {NULL},
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Experiments ---- */

struct ent {
    char *id;                          /* owned */
    char state[16];                    /* "" when it has no job hash (not submitted) */
    char machine[JOB_MACHINE_MAX + 1];
    long turn;                         /* last committed turn */
    int nturns;                        /* 0 while unknown */
    char *model;                       /* owned; NULL while unknown */
    bool read;                         /* state read at least once */
};

struct ents {
    struct ent *v;
    size_t n, cap;
};

static void ents_free(struct ents *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->v[i].id);
        free(es->v[i].model);
    }
    free(es->v);
    memset(es, 0, sizeof *es);
}

static struct ent *ents_push(struct ents *es, const char *id, size_t len)
{
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 64;
        es->v = xreallocarray(es->v, es->cap, sizeof *es->v);
    }
    struct ent *e = &es->v[es->n++];
    memset(e, 0, sizeof *e);
    e->id = xstrndup(id, len);
    return e;
}

/* The ids of --sweep FILE, with their turn counts and models from the file. */
static int load_sweep(const char *path, struct ents *es)
{
    struct job_list list = {0};
    int rc = disp_read_sweep("watch", path, &list);
    for (size_t i = 0; rc == 0 && i < list.n; i++) {
        struct ent *e = ents_push(es, list.v[i]->id, strlen(list.v[i]->id));
        e->nturns = list.v[i]->nturns;
        e->model = xstrdup(list.v[i]->model);
    }
    job_list_clear(&list);
    return rc;
}

/* Replaces es with the ids of NS:ids, keeping what is known of an id at the same position. */
static int sync_ids(struct disp *d, struct ents *es)
{
    redisReply *r;
    int rc = disp_call(d, &r, "ZRANGE", key_ids(d->ns).s, "0", "-1", NULL);
    if (rc)
        return rc;
    struct ents fresh = {0};
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        size_t at = fresh.n;
        if (at < es->n && strlen(es->v[at].id) == e->len && !memcmp(es->v[at].id, e->str, e->len)) {
            ents_push(&fresh, "", 0);
            free(fresh.v[at].id);
            fresh.v[at] = es->v[at];
            es->v[at].id = NULL;
            es->v[at].model = NULL;
        } else {
            ents_push(&fresh, e->str, e->len);
        }
    }
    freeReplyObject(r);
    ents_free(es);
    *es = fresh;
    return 0;
}

static void ent_set(struct ent *e, const redisReply *r)
{
    redisReply **f = r->type == REDIS_REPLY_ARRAY && r->elements == 3 ? r->element : NULL;
    snprintf(e->state, sizeof e->state, "%s", f && f[0]->type == REDIS_REPLY_STRING ? f[0]->str : "");
    snprintf(e->machine, sizeof e->machine, "%s", f && f[1]->type == REDIS_REPLY_STRING ? f[1]->str : "");
    e->turn = f && f[2]->type == REDIS_REPLY_STRING ? atol(f[2]->str) : 0;
    e->read = true;
}

static void append_ent_read(struct disp *d, const struct ent *e)
{
    disp_appendv(d, "HMGET", key_job(d->ns, e->id).s, "state", "machine", "turn", NULL);
}

/* Reads state, machine and turn of the experiments at idx[0..n), pipelined. */
static int read_ents(struct disp *d, struct ents *es, const size_t *idx, size_t n)
{
    int rc;
    for (size_t base = 0; base < n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < n ? base + DISP_PIPELINE : n;
        for (size_t k = base; k < end; k++)
            append_ent_read(d, &es->v[idx[k]]);
        for (size_t k = base; k < end; k++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                return rc;
            ent_set(&es->v[idx[k]], r);
            freeReplyObject(r);
        }
    }
    return 0;
}

/* The experiments never read yet (all of them when `all`): their machines decide which machines
 * the frame shows, before the snapshot. */
static int read_new(struct disp *d, struct ents *es, bool all)
{
    size_t *idx = xcalloc(es->n + 1, sizeof *idx), n = 0;
    for (size_t i = 0; i < es->n; i++)
        if (all || !es->v[i].read)
            idx[n++] = i;
    int rc = read_ents(d, es, idx, n);
    free(idx);
    return rc;
}

/* Then the turn count and model of unfinished experiments whose spec was not read yet. */
static int read_specs(struct disp *d, struct ents *es)
{
    int rc = 0;
    size_t *idx = xcalloc(es->n + 1, sizeof *idx), n = 0;
    for (size_t i = 0; i < es->n; i++)
        if (es->v[i].state[0] && !disp_state_ended(es->v[i].state) && (!es->v[i].nturns || !es->v[i].model))
            idx[n++] = i;
    for (size_t base = 0; base < n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < n ? base + DISP_PIPELINE : n;
        for (size_t k = base; k < end; k++)
            disp_appendv(d, "HGET", key_job(d->ns, es->v[idx[k]].id).s, "spec", NULL);
        for (size_t k = base; k < end; k++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                goto out;
            struct ent *e = &es->v[idx[k]];
            json_t *spec = r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, 0, NULL) : NULL;
            json_t *turns = json_object_get(spec, "turns");
            e->nturns = json_is_array(turns) ? (int)json_array_size(turns) : (int)json_integer_value(turns);
            const char *model = json_string_value(json_object_get(spec, "model"));
            free(e->model);
            e->model = xstrdup(model ? model : "?");
            json_decref(spec);
            freeReplyObject(r);
        }
    }
out:
    free(idx);
    return rc;
}

static const struct ent *find_ent(const struct ents *es, const char *id)
{
    for (size_t i = 0; i < es->n; i++)
        if (!strcmp(es->v[i].id, id))
            return &es->v[i];
    return NULL;
}

/* ---- Machines ---- */

struct mach {
    const char *name;          /* borrowed from the name list */
    json_t *hb;                /* the live heartbeat (new ref), NULL when down or unreadable */
    bool up;
    char *lastseen;            /* owned; NULL never seen */
    struct mstats_machine st;  /* counters (metrics hash) and list depths */
    struct strvec claimed;     /* its running list (at most WATCH_SLOTS_MAX), left (newest) first */
    size_t done, failed, cancelled; /* of the watched experiments placed here */
};

struct slot {
    size_t mach;               /* index into the machines */
    char id[JOB_ID_MAX + 1];   /* as text (an integer id too) */
    long long turn, turns, calls;
    double tps;                /* tokens per second of the latest committed turn; < 0 unknown */
};

/* The reads of one machine in the snapshot, in this order. */
enum { MR_WORKER, MR_LASTSEEN, MR_QUEUE, MR_RUNNING_LEN, MR_RUNNING, MR_METRICS, MR_N };

static void append_mach_reads(struct disp *d, const char *name)
{
    char last[24];
    snprintf(last, sizeof last, "%d", WATCH_SLOTS_MAX - 1);
    disp_appendv(d, "GET", key_worker(d->ns, name).s, NULL);
    disp_appendv(d, "HGET", key_lastseen(d->ns).s, name, NULL);
    disp_appendv(d, "LLEN", key_queue(d->ns, name).s, NULL);
    disp_appendv(d, "LLEN", key_running(d->ns, name).s, NULL);
    disp_appendv(d, "LRANGE", key_running(d->ns, name).s, "0", last, NULL);
    disp_appendv(d, "EVAL", MSTATS_READ_LUA, "1", key_metrics(d->ns, name).s, NULL);
}

static void mach_set(struct mach *m, const char *name, redisReply *const *r)
{
    m->name = name;
    mstats_init(&m->st, m->name);
    m->up = r[MR_WORKER]->type == REDIS_REPLY_STRING;
    m->hb = m->up ? json_loadb(r[MR_WORKER]->str, r[MR_WORKER]->len, 0, NULL) : NULL;
    if (m->hb && !json_is_object(m->hb)) {
        json_decref(m->hb);
        m->hb = NULL;
    }
    m->lastseen = r[MR_LASTSEEN]->type == REDIS_REPLY_STRING ? xstrndup(r[MR_LASTSEEN]->str, r[MR_LASTSEEN]->len) : NULL;
    m->st.queue_depth = r[MR_QUEUE]->type == REDIS_REPLY_INTEGER ? r[MR_QUEUE]->integer : 0;
    m->st.running_depth = r[MR_RUNNING_LEN]->type == REDIS_REPLY_INTEGER ? r[MR_RUNNING_LEN]->integer : 0;
    const redisReply *run = r[MR_RUNNING];
    for (size_t k = 0; run->type == REDIS_REPLY_ARRAY && k < run->elements; k++)
        if (run->element[k]->type == REDIS_REPLY_STRING)
            strvec_pushn(&m->claimed, run->element[k]->str, run->element[k]->len);
    const redisReply *mt = r[MR_METRICS];
    for (size_t k = 0; mt->type == REDIS_REPLY_ARRAY && k + 1 < mt->elements; k += 2)
        if (mt->element[k]->type == REDIS_REPLY_STRING && mt->element[k + 1]->type == REDIS_REPLY_STRING)
            mstats_set_field(&m->st, mt->element[k]->str, mt->element[k + 1]->str);
    mstats_set_heartbeat(&m->st, m->hb);
}

/* Reads, in one MULTI/EXEC, the state of every unfinished experiment and everything the frame
 * shows of each machine, so that one frame is one moment of Redis: a machine's queued and running
 * depths, its done count and its slot lines agree (a pipeline without MULTI lets a worker's
 * commit land between two reads). Beyond WATCH_ATOMIC_MAX unfinished experiments their states
 * are read before the transaction instead, so that one frame never holds Redis for long: then
 * each machine's line still agrees with itself, and done/total may lag by the moment between. */
static int read_snapshot(struct disp *d, struct ents *es, const struct strvec *names, struct mach *ms)
{
    int rc = 0;
    size_t *idx = xcalloc(es->n + 1, sizeof *idx), n = 0;
    for (size_t i = 0; i < es->n; i++)
        if (!disp_state_ended(es->v[i].state))
            idx[n++] = i;
    bool ents_inside = n <= WATCH_ATOMIC_MAX;
    if (!ents_inside && (rc = read_ents(d, es, idx, n)))
        goto out;
    size_t ncmd = (ents_inside ? n : 0) + MR_N * names->n;
    disp_appendv(d, "MULTI", NULL);
    for (size_t k = 0; ents_inside && k < n; k++)
        append_ent_read(d, &es->v[idx[k]]);
    for (size_t i = 0; i < names->n; i++)
        append_mach_reads(d, names->v[i]);
    disp_appendv(d, "EXEC", NULL);
    redisReply *r;
    /* MULTI's +OK, one +QUEUED per command, then EXEC's array of the replies. */
    for (size_t k = 0; k < ncmd + 1; k++) {
        if ((rc = disp_reply(d, &r)))
            goto out; /* watch ends on any error: the rest of the replies need not be read */
        freeReplyObject(r);
    }
    if ((rc = disp_reply(d, &r)))
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != ncmd) {
        disp_errf("watch: the snapshot transaction answered %zu replies for %zu reads", r->type == REDIS_REPLY_ARRAY
                  ? r->elements : 0, ncmd);
        freeReplyObject(r);
        rc = EXIT_RUNTIME;
        goto out;
    }
    size_t at = 0;
    for (size_t k = 0; ents_inside && k < n; k++)
        ent_set(&es->v[idx[k]], r->element[at++]);
    for (size_t i = 0; i < names->n; i++, at += MR_N)
        mach_set(&ms[i], names->v[i], r->element + at);
    freeReplyObject(r);
out:
    free(idx);
    return rc;
}

/* The busy slots of the live machines: the ids of their running lists, as the snapshot has them,
 * in the order of the heartbeat's slots. The heartbeat is the worker's own picture, written at
 * each start and committed turn and when a slot frees, so for a moment after an experiment ends
 * (or after a claim) it can still show the old slot: its turn and calls are used only for ids
 * still in the running list, and an id claimed but not yet in a heartbeat shows as starting.
 * Then the tokens per second of each one's latest committed turn. */
static int read_slots(struct disp *d, const struct strvec *names, const struct mach *ms, struct slot *sl, size_t *nsl)
{
    size_t n = 0;
    for (size_t i = 0; i < names->n; i++) {
        if (!ms[i].up || !ms[i].hb)
            continue; /* a dead worker's claims run nowhere: the machine line shows the count */
        size_t first = n;
        size_t k;
        json_t *run;
        json_array_foreach(json_object_get(ms[i].hb, "running"), k, run) {
            json_t *idv = json_object_get(run, "id");
            char id[JOB_ID_MAX + 1];
            if (json_is_string(idv))
                snprintf(id, sizeof id, "%s", json_string_value(idv));
            else if (json_is_integer(idv)) /* an integer id (SPEC: ids keep their JSON type) */
                snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, json_integer_value(idv));
            else
                continue;
            if (n >= WATCH_SLOTS_MAX || strvec_find(&ms[i].claimed, id) < 0)
                continue;
            sl[n] = (struct slot){.mach = i, .turn = json_integer_value(json_object_get(run, "turn")),
                                  .turns = json_integer_value(json_object_get(run, "turns")),
                                  .calls = json_integer_value(json_object_get(run, "calls")), .tps = -1};
            snprintf(sl[n].id, sizeof sl[n].id, "%s", id);
            n++;
        }
        /* Claimed, not in the heartbeat yet: oldest claim (the right end) first. */
        for (size_t c = ms[i].claimed.n; c-- > 0 && n < WATCH_SLOTS_MAX;) {
            bool shown = false;
            for (size_t j = first; j < n && !shown; j++)
                shown = !strcmp(sl[j].id, ms[i].claimed.v[c]);
            if (shown)
                continue;
            sl[n] = (struct slot){.mach = i, .tps = -1};
            snprintf(sl[n].id, sizeof sl[n].id, "%s", ms[i].claimed.v[c]);
            n++;
        }
    }
    for (size_t k = 0; k < n; k++)
        disp_appendv(d, "LINDEX", key_turns(d->ns, sl[k].id).s, "-1", NULL);
    for (size_t k = 0; k < n; k++) {
        redisReply *r;
        int rc = disp_reply(d, &r);
        if (rc)
            return rc;
        json_t *rec = r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, 0, NULL) : NULL;
        json_int_t et = json_integer_value(json_object_get(rec, "eval_tokens"));
        json_int_t ms_ = json_integer_value(json_object_get(rec, "ms"));
        if (rec && ms_ > 0)
            sl[k].tps = (double)et * 1000.0 / (double)ms_;
        json_decref(rec);
        freeReplyObject(r);
    }
    *nsl = n;
    return 0;
}

/* ---- A frame: lines, each with a key (for the changed-lines output) ---- */

struct frame {
    struct strvec keys, lines;
    size_t total, done, failed, cancelled; /* of the watched experiments */
};

static void frame_add(struct frame *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void frame_add(struct frame *f, const char *key, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    strvec_push(&f->keys, key);
    strvec_push(&f->lines, line);
}

static void fmt_duration(double s, char *out, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, n, "%lds", t);
}

/* live: a terminal or --once, where ages and times may show; the changed-lines output leaves
 * them out so that a line is printed again only when something real changed. screen: the frame
 * is drawn on a terminal, where a slot line sits under its machine's; otherwise each slot line
 * names its machine, since it is printed alone when it changes. */
static void build_frame(struct disp *d, const struct ents *es, const struct strvec *names, struct mach *ms,
                        const struct slot *sl, size_t nsl, bool live, bool screen, struct frame *f)
{
    int64_t now = timefmt_now_ms();
    for (size_t i = 0; i < es->n; i++) {
        const struct ent *e = &es->v[i];
        long at = e->machine[0] ? strvec_find(names, e->machine) : -1;
        bool done = !strcmp(e->state, "done"), failed = !strcmp(e->state, "failed");
        bool cancelled = !strcmp(e->state, "cancelled");
        f->done += done;
        f->failed += failed;
        f->cancelled += cancelled;
        if (at >= 0) {
            ms[at].done += done;
            ms[at].failed += failed;
            ms[at].cancelled += cancelled;
        }
    }
    f->total = es->n;
    if (live) {
        char ts[TIMEFMT_ISO_LEN];
        timefmt_iso(now, ts);
        if (opt_once)
            frame_add(f, "head", "turnq watch: namespace %s, %s", d->ns, ts);
        else
            frame_add(f, "head", "turnq watch: namespace %s, %s (every %gs; Ctrl-C quits)", d->ns, ts, opt_interval);
    }
    double sum_s = 0, parallel = 0;
    uint64_t nturns = 0;
    for (size_t i = 0; i < names->n; i++) {
        struct mach *m = &ms[i];
        char key[128], head[512], gen[64] = "";
        snprintf(key, sizeof key, "m:%s", m->name);
        sum_s += m->st.histo[MSTATS_H_TURN].sum;
        for (int k = 0; k < MSTATS_STOPS; k++)
            nturns += m->st.turns[k];
        if (m->st.eval_seconds > 0)
            snprintf(gen, sizeof gen, ", generating %.1f tok/s", (double)m->st.eval_tokens / m->st.eval_seconds);
        size_t busy = 0; /* the running list's ids (read_slots), not the heartbeat's count */
        for (size_t k = 0; k < nsl; k++)
            busy += sl[k].mach == i;
        if (m->up && m->hb) {
            parallel += (double)json_integer_value(json_object_get(m->hb, "slots"));
            char age[64] = "";
            int64_t beat = timefmt_parse_iso(json_string_value(json_object_get(m->hb, "updated_at")) ?: "");
            if (live && beat > 0)
                snprintf(age, sizeof age, " (beat %.1fs ago)", (double)(now - beat) / 1000.0);
            json_t *ol = json_object_get(m->hb, "ollama");
            char models[256] = "";
            size_t k, len = 0;
            json_t *mo;
            json_array_foreach(json_object_get(ol, "models"), k, mo) {
                if (len < sizeof models - 1)
                    len += (size_t)snprintf(models + len, sizeof models - len, "%s%s", k ? "," : "",
                                            json_string_value(json_object_get(mo, "name")) ?: "?");
            }
            /* What a heartbeat reports is text from elsewhere (Ollama's version, model names):
             * one line, control characters made spaces, so it cannot break the screen. */
            char ver[64], mods[sizeof models];
            disp_one_line(json_is_object(ol) ? json_string_value(json_object_get(ol, "version")) ?: "?" : "unreachable",
                          ver, sizeof ver);
            disp_one_line(models, mods, sizeof mods);
            snprintf(head, sizeof head, "%s: up%s, ollama %s%s%s, %zu/%" JSON_INTEGER_FORMAT
                     " slots busy%s%s", m->name, age, ver,
                     mods[0] ? " " : "", mods, busy, json_integer_value(json_object_get(m->hb, "slots")),
                     json_is_true(json_object_get(m->hb, "draining")) ? ", draining" : "",
                     json_is_true(json_object_get(m->hb, "breaker_open")) ? ", BREAKER OPEN" : "");
        } else if (m->up) {
            snprintf(head, sizeof head, "%s: up (heartbeat unreadable)", m->name);
        } else {
            snprintf(head, sizeof head, "%s: DOWN%s%s", m->name, m->lastseen ? ", last seen " : ", never seen",
                     m->lastseen ? m->lastseen : "");
        }
        frame_add(f, key, "%s; queued %lld, running %lld, done %zu, failed %zu%s", head, m->st.queue_depth,
                  m->st.running_depth, m->done, m->failed, gen);
        for (size_t k = 0; k < nsl; k++) {
            if (sl[k].mach != i)
                continue;
            const struct ent *e = find_ent(es, sl[k].id);
            char skey[256], tps[48] = "", turn[64];
            snprintf(skey, sizeof skey, "s:%s:%s", m->name, sl[k].id);
            if (sl[k].tps >= 0)
                snprintf(tps, sizeof tps, ", last turn %.1f tok/s", sl[k].tps);
            if (sl[k].turn <= 0)
                snprintf(turn, sizeof turn, "starting");
            else
                snprintf(turn, sizeof turn, "turn %lld of %lld", sl[k].turn, sl[k].turns);
            frame_add(f, skey, "%s%s%s: %s, %lld calls, model %s%s", screen ? "  " : m->name, screen ? "" : " ",
                      sl[k].id, turn, sl[k].calls, e && e->model ? e->model : "?", tps);
        }
    }
    /* ETA: see the top of the file. */
    size_t unfinished = 0, queued = 0, running = 0;
    long long left = 0;
    for (size_t i = 0; i < es->n; i++) {
        const struct ent *e = &es->v[i];
        if (disp_state_ended(e->state))
            continue;
        unfinished++;
        queued += !strcmp(e->state, "queued") || !e->state[0];
        running += !strcmp(e->state, "running");
        if (e->nturns > e->turn)
            left += e->nturns - e->turn;
    }
    if (parallel > (double)unfinished)
        parallel = (double)unfinished;
    char eta[192];
    if (unfinished == 0)
        snprintf(eta, sizeof eta, "all ended");
    else if (nturns == 0)
        snprintf(eta, sizeof eta, "ETA unknown (no turn committed yet)");
    else if (parallel <= 0)
        snprintf(eta, sizeof eta, "ETA unknown (no live worker)");
    else {
        double mean = sum_s / (double)nturns, s = mean * (double)left / parallel;
        char d1[32], d2[32];
        /* Rounded in the changed-lines output, so that it does not print a line per second. */
        fmt_duration(live ? s : ceil(s / 10) * 10, d1, sizeof d1);
        if (mean < 60)
            snprintf(d2, sizeof d2, "%.2fs", mean);
        else
            fmt_duration(mean, d2, sizeof d2);
        snprintf(eta, sizeof eta, "ETA ~%s (%lld turn%s left, mean turn %s, %g slot%s)", d1, left, left == 1 ? "" : "s",
                 d2, parallel, parallel == 1 ? "" : "s");
    }
    frame_add(f, "total", "total: %zu/%zu done, %zu failed, %zu cancelled, %zu running, %zu queued; %s", f->done,
              f->total, f->failed, f->cancelled, running, queued, eta);
}

static void frame_free(struct frame *f)
{
    strvec_free(&f->keys);
    strvec_free(&f->lines);
}

/* ---- Output ---- */

static int term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void draw_tty(const struct frame *f)
{
    int cols = term_cols();
    fputs("\033[H", stdout);
    for (size_t i = 0; i < f->lines.n; i++)
        printf("%.*s\033[K\n", cols, f->lines.v[i]);
    fputs("\033[J", stdout);
    fflush(stdout);
}

/* Prints the lines that are new or changed since `prev` (whose keys and lines it then takes). */
static void draw_changes(struct frame *f, struct frame *prev)
{
    for (size_t i = 0; i < f->lines.n; i++) {
        long at = strvec_find(&prev->keys, f->keys.v[i]);
        if (at >= 0 && !strcmp(prev->lines.v[at], f->lines.v[i]))
            continue;
        puts(f->lines.v[i]);
    }
    fflush(stdout);
}

/* ---- One frame ---- */

/* live: ages and times may show (a terminal, or --once); screen: drawn on a terminal (else the
 * plain changed-lines output, whose slot lines name their machine). */
static int frame_read(struct disp *d, struct ents *es, bool full, bool live, bool screen, struct frame *f)
{
    int rc;
    if (!opt_sweep && (rc = sync_ids(d, es)))
        return rc;
    if ((rc = read_new(d, es, full)))
        return rc;
    struct strvec names = {0};
    struct mach *ms = NULL;
    struct slot *sl = NULL;
    size_t nsl = 0;
    if ((rc = disp_registered_machines(d, &names)))
        goto out;
    for (size_t i = 0; i < d->machines_arg.n; i++)
        if (strvec_find(&names, d->machines_arg.v[i]) < 0)
            strvec_push(&names, d->machines_arg.v[i]);
    /* A machine that is not registered (never, or no more: dispatcher forget) shows while
     * experiments wait or run on it, not for the ones that ended there. */
    for (size_t i = 0; i < es->n; i++)
        if (es->v[i].machine[0] && !disp_state_ended(es->v[i].state) && strvec_find(&names, es->v[i].machine) < 0)
            strvec_push(&names, es->v[i].machine);
    strvec_sort(&names);
    ms = xcalloc(names.n + 1, sizeof *ms);
    if ((rc = read_snapshot(d, es, &names, ms)))
        goto out;
    if ((rc = read_specs(d, es)))
        goto out;
    sl = xcalloc(WATCH_SLOTS_MAX, sizeof *sl);
    if ((rc = read_slots(d, &names, ms, sl, &nsl)))
        goto out;
    build_frame(d, es, &names, ms, sl, nsl, live, screen, f);
out:
    for (size_t i = 0; ms && i < names.n; i++) {
        json_decref(ms[i].hb);
        free(ms[i].lastseen);
        strvec_free(&ms[i].claimed);
    }
    free(ms);
    free(sl);
    strvec_free(&names);
    return rc;
}

/* Waits until the next frame is due: the interval has passed since `drawn`, or an event came
 * and WATCH_MIN_GAP_MS has passed. *last is the stream position. */
static int wait_next(struct disp *d, int64_t drawn, char *last, size_t last_size)
{
    int64_t due = drawn + (int64_t)(opt_interval * 1000.0);
    while (!stop_signal) {
        int64_t now = mono_ms();
        if (now >= due)
            return 0;
        int64_t block = due - now < WATCH_SLICE_MS ? due - now : WATCH_SLICE_MS;
        char block_s[24];
        snprintf(block_s, sizeof block_s, "%lld", (long long)(block > 0 ? block : 1));
        redisReply *r;
        int rc = disp_call(d, &r, "XREAD", "COUNT", "100", "BLOCK", block_s, "STREAMS", key_events(d->ns).s, last,
                           NULL);
        if (rc)
            return rc;
        bool got = false;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
            r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
            redisReply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements; i++) {
                redisReply *e = entries->element[i];
                if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 && e->element[0]->type == REDIS_REPLY_STRING) {
                    snprintf(last, last_size, "%s", e->element[0]->str);
                    got = true;
                }
            }
        }
        freeReplyObject(r);
        if (got) {
            /* Something changed: redraw soon, but not once per event of a busy sweep. */
            int64_t soon = drawn + WATCH_MIN_GAP_MS - mono_ms();
            if (soon > 0) {
                struct timespec ts = {.tv_sec = soon / 1000, .tv_nsec = soon % 1000 * 1000000};
                nanosleep(&ts, NULL); /* a signal cuts it short: the loop then sees stop_signal */
            }
            return 0;
        }
    }
    return 0;
}

static int watch_run(struct disp *d, const char **args, int nargs)
{
    if (nargs) {
        disp_errf("watch: unexpected argument '%s' (see watch --help)", args[0]);
        return EXIT_USAGE;
    }
    struct ents es = {0};
    int rc;
    if (opt_sweep && (rc = load_sweep(opt_sweep, &es))) {
        ents_free(&es);
        return rc;
    }
    if ((rc = disp_connect(d))) {
        ents_free(&es);
        return rc;
    }
    bool tty = isatty(STDOUT_FILENO) && !opt_once;
    struct sigaction sa = {.sa_handler = on_stop_signal}; /* no SA_RESTART: sleeps end at once */
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    /* The stream position first, so that a change made while the first frame is read is an
     * event afterwards. */
    char last[64];
    if ((rc = disp_events_tail(d, last, sizeof last)))
        goto out;

    if (tty)
        fputs("\033[?1049h\033[?25l", stdout); /* alternate screen, cursor hidden */
    struct frame prev = {0};
    int64_t last_full = mono_ms();
    bool first = true;
    while (!stop_signal) {
        struct frame f = {0};
        bool full = mono_ms() - last_full >= WATCH_FULL_MS;
        if (full)
            last_full = mono_ms();
        if ((rc = frame_read(d, &es, full || first, tty || opt_once, tty, &f))) {
            frame_free(&f);
            break;
        }
        first = false;
        int64_t drawn = mono_ms();
        if (tty)
            draw_tty(&f);
        else
            draw_changes(&f, &prev);
        bool all_ended = f.done + f.failed + f.cancelled == f.total;
        size_t failed = f.failed;
        frame_free(&prev);
        prev = f;
        if (opt_once)
            break;
        if (opt_until_done && all_ended) {
            rc = failed ? EXIT_RUNTIME : EXIT_OK;
            break;
        }
        if ((rc = wait_next(d, drawn, last, sizeof last)))
            break;
    }
    if (tty) {
        fputs("\033[?25h\033[?1049l", stdout); /* the terminal as it was */
        /* The last frame stays readable after the alternate screen is gone. */
        for (size_t i = 0; i < prev.lines.n; i++)
            puts(prev.lines.v[i]);
    }
    fflush(stdout);
    frame_free(&prev);
out:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    ents_free(&es);
    return rc;
}

const struct disp_cmd watch_cmd = {
    .name = "watch",
    .synopsis = "watch [--interval S] [--once] [--until-done] [--sweep FILE]",
    .summary = "a live view: each machine, what each slot runs, done/total and an ETA",
    .description =
        "Redraws every --interval seconds (default 2), or soon after an event on NS:events: per\n"
        "machine its worker (up, heartbeat age, Ollama and models, busy slots, queue and running\n"
        "depths, done and failed, Ollama's generation speed), per busy slot the experiment, turn k of n,\n"
        "calls and the tokens per second of its latest turn; last, done/total and a rough ETA (mean\n"
        "turn time x turns left / parallel slots). On a terminal it draws a screen (Ctrl-C restores\n"
        "the terminal and exits 0); otherwise it prints each line when it changes, without escape\n"
        "codes. --once prints one frame; --until-done exits when every experiment has ended (1 when\n"
        "any failed); --sweep FILE counts only that submit input's experiments.\n",
    .opts = watch_opts,
    .run = watch_run,
};
