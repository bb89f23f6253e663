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
 * Reading: the ids (NS:ids, or --sweep FILE's), their state/machine/turn (re-read only while
 * unfinished, and all every WATCH_FULL_MS for retries), each unfinished one's turn count once
 * from its spec, and four reads per machine plus one per busy slot: nothing heavy per frame.
 * Waiting: blocking XREADs on NS:events in slices of WATCH_SLICE_MS, so a change redraws within
 * WATCH_MIN_GAP_MS and SIGINT/SIGTERM end the loop promptly (hiredis retries a read that EINTR
 * interrupts, hence the slices). On a terminal the frame is drawn in the alternate screen (ANSI
 * home, erase to end of line, erase below; no curses) and the terminal is restored on exit; when
 * stdout is not a terminal, each line is printed only when it changed, with no escape codes. */
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

/* Re-reads state, machine and turn of every experiment that may still change (all of them when
 * `all`), then the turn count and model of unfinished ones whose spec was not read yet. */
static int refresh(struct disp *d, struct ents *es, bool all)
{
    int rc;
    size_t *idx = xcalloc(es->n + 1, sizeof *idx), n = 0;
    for (size_t i = 0; i < es->n; i++)
        if (all || !es->v[i].read || !disp_state_ended(es->v[i].state))
            idx[n++] = i;
    for (size_t base = 0; base < n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < n ? base + DISP_PIPELINE : n;
        for (size_t k = base; k < end; k++)
            disp_appendv(d, "HMGET", key_job(d->ns, es->v[idx[k]].id).s, "state", "machine", "turn", NULL);
        for (size_t k = base; k < end; k++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                goto out;
            struct ent *e = &es->v[idx[k]];
            redisReply **f = r->type == REDIS_REPLY_ARRAY && r->elements == 3 ? r->element : NULL;
            snprintf(e->state, sizeof e->state, "%s", f && f[0]->type == REDIS_REPLY_STRING ? f[0]->str : "");
            snprintf(e->machine, sizeof e->machine, "%s", f && f[1]->type == REDIS_REPLY_STRING ? f[1]->str : "");
            e->turn = f && f[2]->type == REDIS_REPLY_STRING ? atol(f[2]->str) : 0;
            e->read = true;
            freeReplyObject(r);
        }
    }
    n = 0;
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
    rc = 0;
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
    size_t done, failed, cancelled; /* of the watched experiments placed here */
};

struct slot {
    size_t mach;               /* index into the machines */
    char id[JOB_ID_MAX + 1];   /* as text (an integer id too) */
    long long turn, turns, calls;
    double tps;                /* tokens per second of the latest committed turn; < 0 unknown */
};

static int read_machines(struct disp *d, const struct strvec *names, struct mach *ms)
{
    int rc;
    for (size_t i = 0; i < names->n; i++) {
        disp_appendv(d, "GET", key_worker(d->ns, names->v[i]).s, NULL);
        disp_appendv(d, "HGET", key_lastseen(d->ns).s, names->v[i], NULL);
        disp_appendv(d, "LLEN", key_queue(d->ns, names->v[i]).s, NULL);
        disp_appendv(d, "LLEN", key_running(d->ns, names->v[i]).s, NULL);
        disp_appendv(d, "EVAL", MSTATS_READ_LUA, "1", key_metrics(d->ns, names->v[i]).s, NULL);
    }
    for (size_t i = 0; i < names->n; i++) {
        redisReply *r[5];
        for (int k = 0; k < 5; k++)
            if ((rc = disp_reply(d, &r[k]))) {
                while (k--)
                    freeReplyObject(r[k]);
                return rc;
            }
        struct mach *m = &ms[i];
        m->name = names->v[i];
        mstats_init(&m->st, m->name);
        m->up = r[0]->type == REDIS_REPLY_STRING;
        m->hb = m->up ? json_loadb(r[0]->str, r[0]->len, 0, NULL) : NULL;
        if (m->hb && !json_is_object(m->hb)) {
            json_decref(m->hb);
            m->hb = NULL;
        }
        m->lastseen = r[1]->type == REDIS_REPLY_STRING ? xstrndup(r[1]->str, r[1]->len) : NULL;
        m->st.queue_depth = r[2]->type == REDIS_REPLY_INTEGER ? r[2]->integer : 0;
        m->st.running_depth = r[3]->type == REDIS_REPLY_INTEGER ? r[3]->integer : 0;
        for (size_t k = 0; r[4]->type == REDIS_REPLY_ARRAY && k + 1 < r[4]->elements; k += 2)
            if (r[4]->element[k]->type == REDIS_REPLY_STRING && r[4]->element[k + 1]->type == REDIS_REPLY_STRING)
                mstats_set_field(&m->st, r[4]->element[k]->str, r[4]->element[k + 1]->str);
        mstats_set_heartbeat(&m->st, m->hb);
        for (int k = 0; k < 5; k++)
            freeReplyObject(r[k]);
    }
    return 0;
}

/* The busy slots of the live machines, and the tokens per second of each one's latest turn. */
static int read_slots(struct disp *d, const struct strvec *names, const struct mach *ms, struct slot *sl, size_t *nsl)
{
    size_t n = 0;
    for (size_t i = 0; i < names->n; i++) {
        size_t k;
        json_t *run;
        json_array_foreach(json_object_get(ms[i].hb, "running"), k, run) {
            json_t *idv = json_object_get(run, "id");
            if (n >= WATCH_SLOTS_MAX || !(json_is_string(idv) || json_is_integer(idv)))
                continue;
            sl[n] = (struct slot){.mach = i, .turn = json_integer_value(json_object_get(run, "turn")),
                                  .turns = json_integer_value(json_object_get(run, "turns")),
                                  .calls = json_integer_value(json_object_get(run, "calls")), .tps = -1};
            if (json_is_string(idv))
                snprintf(sl[n].id, sizeof sl[n].id, "%s", json_string_value(idv));
            else /* an integer id (SPEC: ids keep their JSON type) */
                snprintf(sl[n].id, sizeof sl[n].id, "%" JSON_INTEGER_FORMAT, json_integer_value(idv));
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
 * them out so that a line is printed again only when something real changed. */
static void build_frame(struct disp *d, const struct ents *es, const struct strvec *names, struct mach *ms,
                        const struct slot *sl, size_t nsl, bool live, struct frame *f)
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
            snprintf(head, sizeof head, "%s: up%s, ollama %s%s%s, %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
                     " slots busy%s%s", m->name, age,
                     json_is_object(ol) ? json_string_value(json_object_get(ol, "version")) ?: "?" : "unreachable",
                     models[0] ? " " : "", models, json_integer_value(json_object_get(m->hb, "busy")),
                     json_integer_value(json_object_get(m->hb, "slots")),
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
            frame_add(f, skey, "  %s: %s, %lld calls, model %s%s", sl[k].id, turn, sl[k].calls,
                      e && e->model ? e->model : "?", tps);
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

static int frame_read(struct disp *d, struct ents *es, bool full, bool live, struct frame *f)
{
    int rc;
    if (!opt_sweep && (rc = sync_ids(d, es)))
        return rc;
    if ((rc = refresh(d, es, full)))
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
    for (size_t i = 0; i < es->n; i++)
        if (es->v[i].machine[0] && strvec_find(&names, es->v[i].machine) < 0)
            strvec_push(&names, es->v[i].machine);
    strvec_sort(&names);
    ms = xcalloc(names.n + 1, sizeof *ms);
    if ((rc = read_machines(d, &names, ms)))
        goto out;
    sl = xcalloc(WATCH_SLOTS_MAX, sizeof *sl);
    if ((rc = read_slots(d, &names, ms, sl, &nsl)))
        goto out;
    build_frame(d, es, &names, ms, sl, nsl, live, f);
out:
    for (size_t i = 0; ms && i < names.n; i++) {
        json_decref(ms[i].hb);
        free(ms[i].lastseen);
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
    char last[64] = "0-0";
    redisReply *r;
    if ((rc = disp_call(d, &r, "XREVRANGE", key_events(d->ns).s, "+", "-", "COUNT", "1", NULL)))
        goto out;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements >= 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(last, sizeof last, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);

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
        if ((rc = frame_read(d, &es, full || first, tty || opt_once, &f))) {
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
