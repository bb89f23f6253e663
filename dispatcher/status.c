/* status: one view of every machine and of the experiments placed on it.
 *
 * The machines are the union of NS:machines (registered workers), --machines and every machine an
 * unfinished experiment's job hash names, sorted by name. Per machine: whether its worker is alive (its heartbeat key
 * NS:worker:M exists) and since when (the heartbeat's started_at; for a dead one the time in
 * NS:lastseen, or "never seen"), the lengths of its queue and running lists, its done, failed and
 * cancelled counts (from the job hashes' state and machine), what each busy slot runs, and the
 * Ollama version and model digests from the heartbeat. Live machines that report different
 * digests for one model name get a WARNING line: their results would not be comparable.
 * A machine without a live worker whose running list is not empty holds claimed experiments that
 * nobody runs: they are listed, with their committed turn, and `dispatcher recover` named. A
 * worker whose breaker is open (its Ollama fails chat calls) says so. A `failed:` section lists
 * up to STATUS_FAILED_SHOWN failed experiments (in submission order) with their attempts,
 * error and interruption counts and error.
 * The totals count the job hashes by state. --json prints the same data as one JSON object. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "disp.h"
#include "keys.h"
#include "modeltab.h"
#include "xalloc.h"

#define STATUS_FAILED_SHOWN 10 /* failed experiments listed in the text */
#define STATUS_HELD_SHOWN 10   /* claimed experiments of a dead machine named in the text */
#define STATUS_RELOADS_SHOWN 10 /* experiments with reloads listed in the text */
#define STATUS_TABLE_MODELS 64  /* models in the mismatch table of the text */

static bool opt_json;

static const struct cfg_opt status_opts[] = {
    {"json", 0, NULL, CFG_BOOL, &opt_json, 0, 0, NULL, "print one JSON object instead of text"},
    {NULL},
};

enum { S_QUEUED, S_RUNNING, S_DONE, S_FAILED, S_CANCELLED, S_OTHER, S_N };

static const char *const state_names[S_N] = {"queued", "running", "done", "failed", "cancelled", "other"};

static int state_index(const char *s)
{
    for (int i = 0; i < S_OTHER; i++)
        if (s && !strcmp(s, state_names[i]))
            return i;
    return S_OTHER;
}

struct mstat {
    bool alive;            /* NS:worker:M exists */
    json_t *hb;            /* the heartbeat, parsed (new ref), NULL when dead or unreadable */
    char *lastseen;        /* NS:lastseen's time, owned, NULL when never seen */
    long long queued;      /* LLEN NS:queue:M */
    long long running;     /* LLEN NS:running:M */
    size_t by_state[S_N];  /* job hashes placed here, by state */
    size_t reload_exps;    /* experiments placed here whose calls reloaded the model mid-experiment */
    long long reload_calls; /* those reloads, summed (the job hashes' reloads fields) */
    struct strvec held;    /* a dead machine's running list (claims nobody runs), oldest last */
    long *held_turn;       /* held.v[i]'s last committed turn */
};

/* A failed experiment, as the failed section shows it. */
struct failed {
    const char *id;        /* borrowed from the id list */
    char *machine, *error; /* owned, NULL when absent */
    long attempts, errors, interrupted;
};

/* ---- Gathering ---- */

static void add_machine(struct strvec *names, const char *m, size_t len)
{
    char buf[128];
    if (len >= sizeof buf)
        return;
    memcpy(buf, m, len);
    buf[len] = '\0';
    if (strvec_find(names, buf) < 0)
        strvec_push(names, buf);
}

/* Reads every job hash's state and machine; tallies the totals and collects the machines. The
 * per-machine tallies are made in a second pass over `jm` once the machine list is final. */
static int scan_jobs(struct disp *d, struct strvec *names, struct strvec *job_state, struct strvec *job_machine,
                     struct strvec *job_reloads, size_t totals[S_N], struct strvec *ids_out)
{
    redisReply *r;
    struct strvec ids = {0};
    int rc = disp_all_ids(d, &ids);
    if (rc) {
        strvec_free(&ids);
        return rc;
    }
    for (size_t base = 0; rc == 0 && base < ids.n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < ids.n ? base + DISP_PIPELINE : ids.n;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "HMGET", key_job(d->ns, ids.v[i]).s, "state", "machine", "reloads", NULL);
        for (size_t i = base; i < end; i++) {
            if ((rc = disp_reply(d, &r)))
                break;
            bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
            redisReply *st = ok ? r->element[0] : NULL, *m = ok ? r->element[1] : NULL;
            redisReply *rl = ok ? r->element[2] : NULL;
            strvec_push(job_reloads, rl && rl->type == REDIS_REPLY_STRING ? rl->str : "");
            strvec_push(job_state, st && st->type == REDIS_REPLY_STRING ? st->str : "");
            strvec_push(job_machine, m && m->type == REDIS_REPLY_STRING ? m->str : "");
            totals[state_index(job_state->v[job_state->n - 1])]++;
            /* A machine that is not registered (say, forgotten) is listed while it has work
             * waiting or running, not for the experiments that ended there. */
            if (m && m->type == REDIS_REPLY_STRING && m->len && !disp_state_ended(job_state->v[job_state->n - 1]))
                add_machine(names, m->str, m->len);
            freeReplyObject(r);
        }
    }
    *ids_out = ids;
    return rc;
}

/* For each machine without a live worker: the ids in its running list and their committed turns. */
static int read_held(struct disp *d, const struct strvec *names, struct mstat *ms)
{
    int rc;
    for (size_t i = 0; i < names->n; i++)
        if (!ms[i].alive && ms[i].running > 0)
            disp_appendv(d, "LRANGE", key_running(d->ns, names->v[i]).s, "0", "-1", NULL);
    for (size_t i = 0; i < names->n; i++) {
        if (ms[i].alive || ms[i].running <= 0)
            continue;
        redisReply *r;
        if ((rc = disp_reply(d, &r)))
            return rc;
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++)
            if (r->element[k]->type == REDIS_REPLY_STRING)
                strvec_pushn(&ms[i].held, r->element[k]->str, r->element[k]->len);
        freeReplyObject(r);
    }
    for (size_t i = 0; i < names->n; i++) {
        struct mstat *m = &ms[i];
        if (!m->held.n)
            continue;
        m->held_turn = xcalloc(m->held.n, sizeof *m->held_turn);
        for (size_t k = 0; k < m->held.n; k++)
            disp_appendv(d, "HGET", key_job(d->ns, m->held.v[k]).s, "turn", NULL);
        for (size_t k = 0; k < m->held.n; k++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                return rc;
            m->held_turn[k] = r->type == REDIS_REPLY_STRING ? atol(r->str) : 0;
            freeReplyObject(r);
        }
    }
    return 0;
}

/* Reads the failed experiments' details: the first `limit` of them (all when limit is 0). */
static int read_failed(struct disp *d, const struct strvec *ids, const struct strvec *job_state, size_t limit,
                       struct failed **out, size_t *nout, size_t *total)
{
    size_t n = 0, shown = 0;
    for (size_t i = 0; i < job_state->n; i++)
        n += !strcmp(job_state->v[i], "failed");
    *total = n;
    *out = xcalloc(n + 1, sizeof **out);
    for (size_t i = 0; i < job_state->n && (!limit || shown < limit); i++)
        if (!strcmp(job_state->v[i], "failed"))
            (*out)[shown++].id = ids->v[i];
    *nout = shown;
    int rc;
    for (size_t base = 0; base < shown; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < shown ? base + DISP_PIPELINE : shown;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "HMGET", key_job(d->ns, (*out)[i].id).s, "machine", "attempts", "errors", "interrupted",
                         "error", NULL);
        for (size_t i = base; i < end; i++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                return rc;
            struct failed *f = &(*out)[i];
            redisReply **e = r->type == REDIS_REPLY_ARRAY && r->elements == 5 ? r->element : NULL;
            const char *v[5];
            for (int k = 0; k < 5; k++)
                v[k] = e && e[k]->type == REDIS_REPLY_STRING ? e[k]->str : "";
            f->machine = *v[0] ? xstrdup(v[0]) : NULL;
            f->attempts = atol(v[1]);
            f->errors = atol(v[2]);
            f->interrupted = atol(v[3]);
            f->error = *v[4] ? xstrdup(v[4]) : NULL;
            freeReplyObject(r);
        }
    }
    return 0;
}

static int read_machines(struct disp *d, const struct strvec *names, struct mstat *ms)
{
    int rc;
    for (size_t i = 0; i < names->n; i++) {
        disp_appendv(d, "GET", key_worker(d->ns, names->v[i]).s, NULL);
        disp_appendv(d, "HGET", key_lastseen(d->ns).s, names->v[i], NULL);
        disp_appendv(d, "LLEN", key_queue(d->ns, names->v[i]).s, NULL);
        disp_appendv(d, "LLEN", key_running(d->ns, names->v[i]).s, NULL);
    }
    for (size_t i = 0; i < names->n; i++) {
        redisReply *r[4];
        for (int k = 0; k < 4; k++) {
            if ((rc = disp_reply(d, &r[k]))) {
                while (k--)
                    freeReplyObject(r[k]);
                return rc;
            }
        }
        ms[i].alive = r[0]->type == REDIS_REPLY_STRING;
        if (ms[i].alive)
            ms[i].hb = json_loadb(r[0]->str, r[0]->len, 0, NULL);
        if (ms[i].hb && !json_is_object(ms[i].hb)) {
            json_decref(ms[i].hb);
            ms[i].hb = NULL;
        }
        ms[i].lastseen = r[1]->type == REDIS_REPLY_STRING ? xstrndup(r[1]->str, r[1]->len) : NULL;
        ms[i].queued = r[2]->type == REDIS_REPLY_INTEGER ? r[2]->integer : 0;
        ms[i].running = r[3]->type == REDIS_REPLY_INTEGER ? r[3]->integer : 0;
        for (int k = 0; k < 4; k++)
            freeReplyObject(r[k]);
    }
    return read_held(d, names, ms);
}

/* ---- Digests ---- */

/* Returns a new array of {"model": NAME, "digests": {MACHINE: DIGEST, ...}} for every model name
 * that live machines report with more than one digest. */
static json_t *digest_mismatches(const struct strvec *names, const struct mstat *ms)
{
    json_t *by_model = json_object(); /* name -> {machine: digest} */
    for (size_t i = 0; i < names->n; i++) {
        if (!ms[i].alive || !ms[i].hb)
            continue;
        json_t *models = json_object_get(json_object_get(ms[i].hb, "ollama"), "models");
        size_t k;
        json_t *m;
        json_array_foreach(models, k, m) {
            const char *name = json_string_value(json_object_get(m, "name"));
            const char *digest = json_string_value(json_object_get(m, "digest"));
            if (!name || !digest)
                continue;
            json_t *per = json_object_get(by_model, name);
            if (!per)
                json_object_set_new(by_model, name, per = json_object());
            json_object_set_new(per, names->v[i], json_string(digest));
        }
    }
    json_t *out = json_array();
    const char *name;
    json_t *per;
    json_object_foreach(by_model, name, per) {
        const char *first = NULL, *machine;
        json_t *dg;
        bool differ = false;
        json_object_foreach(per, machine, dg) {
            if (!first)
                first = json_string_value(dg);
            else if (strcmp(first, json_string_value(dg)))
                differ = true;
        }
        if (differ)
            json_array_append_new(out, json_pack("{s:s,s:O}", "model", name, "digests", per));
    }
    json_decref(by_model);
    return out;
}

/* The table status shows (modeltab rows of every live machine that reports models): the rows
 * of each model whose digests differ between the live machines that have it, and, when those
 * machines run different Ollama versions (*versions_differ), of every model they report. */
static json_t *mismatch_table(const struct strvec *names, const struct mstat *ms, bool *versions_differ)
{
    const char **ln = xcalloc(names->n + 1, sizeof *ln);
    json_t **lh = xcalloc(names->n + 1, sizeof *lh);
    size_t k = 0;
    for (size_t i = 0; i < names->n; i++)
        if (ms[i].alive && modeltab_has_list(ms[i].hb)) {
            ln[k] = names->v[i];
            lh[k++] = ms[i].hb;
        }
    json_t *vrows = json_array(), *models = json_object(), *table = json_array();
    for (size_t i = 0; i < k; i++) {
        const char *v = modeltab_version(lh[i]);
        json_array_append_new(vrows, json_pack("{s:o}", "version", v ? json_string(v) : json_null()));
        size_t j;
        json_t *m;
        json_array_foreach(json_object_get(json_object_get(lh[i], "ollama"), "models"), j, m) {
            const char *name = json_string_value(json_object_get(m, "name"));
            char norm[MODELTAB_NAME_MAX];
            if (!name)
                continue;
            modeltab_norm(name, norm, sizeof norm);
            json_object_set_new(models, norm, json_true());
        }
    }
    *versions_differ = modeltab_versions_differ(vrows);
    const char *name;
    json_t *unused;
    json_object_foreach(models, name, unused) {
        json_t *rows = modeltab_rows(name, ln, lh, k);
        json_t *present = json_array();
        size_t j;
        json_t *r;
        json_array_foreach(rows, j, r)
            if (json_is_string(json_object_get(r, "digest")))
                json_array_append(present, r);
        if (*versions_differ || modeltab_disagree(present))
            modeltab_merge(table, rows);
        json_decref(present);
        json_decref(rows);
    }
    json_decref(vrows);
    json_decref(models);
    free(ln);
    free(lh);
    return table;
}

/* Experiments whose job hash counts reloads, in submission order: [{"id", "machine", "reloads"}]. */
static json_t *reload_list(struct disp *d, const struct strvec *ids, const struct strvec *job_machine,
                           const struct strvec *job_reloads, size_t limit, size_t *total)
{
    json_t *out = json_array();
    *total = 0;
    for (size_t i = 0; i < job_reloads->n; i++) {
        long long n = atoll(job_reloads->v[i]);
        if (n <= 0)
            continue;
        if (!limit || *total < limit)
            json_array_append_new(out, json_pack("{s:o, s:o, s:I}", "id", disp_typed_id(d, ids->v[i]), "machine",
                                                 job_machine->v[i][0] ? json_string(job_machine->v[i]) : json_null(),
                                                 "reloads", (json_int_t)n));
        (*total)++;
    }
    return out;
}

/* ---- Output ---- */

/* Text a heartbeat reports comes from elsewhere (Ollama's version, a host name): printed on one
 * line, control characters made spaces (disp_one_line), from a few rotating buffers so that one
 * printf may hold several. */
static const char *clean(const char *s)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ % 8];
    return disp_one_line(s, b, sizeof bufs[0]);
}

static const char *or_q(const char *s) { return s ? clean(s) : "?"; }

static json_t *jstr_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *hb_get(const struct mstat *m, const char *key)
{
    json_t *v = m->hb ? json_object_get(m->hb, key) : NULL;
    return v ? json_incref(v) : json_null();
}

static void print_json(struct disp *d, const struct strvec *names, const struct mstat *ms, const size_t totals[S_N],
                       size_t nids, json_t *mismatch, json_t *table, bool versions_differ, json_t *reloads,
                       const struct failed *fl, size_t nfl)
{
    json_t *root = json_object(), *arr = json_array();
    size_t alive = 0;
    json_object_set_new(root, "namespace", json_string(d->ns));
    for (size_t i = 0; i < names->n; i++) {
        const struct mstat *m = &ms[i];
        alive += m->alive;
        json_t *o = json_object();
        json_object_set_new(o, "machine", json_string(names->v[i]));
        json_object_set_new(o, "alive", json_boolean(m->alive));
        json_t *since = m->alive ? json_object_get(m->hb, "started_at") : NULL;
        json_object_set_new(o, "since", since ? json_incref(since) : m->alive ? json_null() : jstr_or_null(m->lastseen));
        json_object_set_new(o, "last_seen", m->alive && json_object_get(m->hb, "updated_at")
                                                ? hb_get(m, "updated_at") : jstr_or_null(m->lastseen));
        static const char *const hb_keys[] = {"pid", "host", "version", "slots", "busy", "draining", NULL};
        for (int k = 0; hb_keys[k]; k++)
            json_object_set_new(o, hb_keys[k], hb_get(m, hb_keys[k]));
        json_object_set_new(o, "queued", json_integer(m->queued));
        json_object_set_new(o, "running", json_integer(m->running));
        json_object_set_new(o, "done", json_integer((json_int_t)m->by_state[S_DONE]));
        json_object_set_new(o, "failed", json_integer((json_int_t)m->by_state[S_FAILED]));
        json_object_set_new(o, "cancelled", json_integer((json_int_t)m->by_state[S_CANCELLED]));
        json_t *cur = m->hb ? json_object_get(m->hb, "running") : NULL;
        json_object_set_new(o, "current", json_is_array(cur) ? json_incref(cur) : json_array());
        json_object_set_new(o, "ollama", hb_get(m, "ollama"));
        json_object_set_new(o, "breaker_open", hb_get(m, "breaker_open"));
        json_t *held = json_array();
        for (size_t k = 0; k < m->held.n; k++)
            json_array_append_new(held, disp_typed_id(d, m->held.v[k]));
        json_object_set_new(o, "held", held);
        json_object_set_new(o, "reloads", json_pack("{s:I, s:I}", "experiments", (json_int_t)m->reload_exps, "calls",
                                                    (json_int_t)m->reload_calls));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "machines", arr);
    json_t *t = json_object();
    json_object_set_new(t, "machines", json_integer((json_int_t)names->n));
    json_object_set_new(t, "alive", json_integer((json_int_t)alive));
    json_object_set_new(t, "experiments", json_integer((json_int_t)nids));
    for (int s = 0; s < S_N; s++)
        json_object_set_new(t, state_names[s], json_integer((json_int_t)totals[s]));
    json_object_set_new(root, "totals", t);
    json_object_set(root, "digest_mismatches", mismatch);
    json_object_set(root, "mismatch_table", table);
    json_object_set_new(root, "version_mismatch", json_boolean(versions_differ));
    json_object_set(root, "reloads", reloads);
    json_t *failed = json_array();
    for (size_t i = 0; i < nfl; i++)
        json_array_append_new(failed, json_pack("{s:o, s:o, s:I, s:I, s:I, s:o}", "id", disp_typed_id(d, fl[i].id),
                                                "machine", jstr_or_null(fl[i].machine), "attempts",
                                                (json_int_t)fl[i].attempts, "errors", (json_int_t)fl[i].errors,
                                                "interrupted", (json_int_t)fl[i].interrupted, "error",
                                                jstr_or_null(fl[i].error)));
    json_object_set_new(root, "failed", failed);
    char *s = json_dumps(root, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(root);
}

static const char *hb_str(const struct mstat *m, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(m->hb, key));
    return s ? clean(s) : dflt;
}

static void print_held(const struct mstat *m)
{
    printf("  holds %zu claimed experiment%s: ", m->held.n, m->held.n == 1 ? "" : "s");
    /* Oldest claim first: the right end of the running list. */
    for (size_t k = 0; k < m->held.n && k < STATUS_HELD_SHOWN; k++) {
        size_t at = m->held.n - 1 - k;
        printf("%s%s (turn %ld)", k ? ", " : "", m->held.v[at], m->held_turn ? m->held_turn[at] : 0);
    }
    if (m->held.n > STATUS_HELD_SHOWN)
        printf(", and %zu more", m->held.n - STATUS_HELD_SHOWN);
    printf("; run 'dispatcher recover'\n");
}

static void print_failed(const struct failed *fl, size_t nfl, size_t total)
{
    if (!total)
        return;
    printf("failed:\n");
    for (size_t i = 0; i < nfl; i++) {
        char err[512];
        printf("  %s on %s after %ld attempt%s (errors %ld, interrupted %ld): %s\n", fl[i].id,
               fl[i].machine ? fl[i].machine : "?", fl[i].attempts, fl[i].attempts == 1 ? "" : "s", fl[i].errors,
               fl[i].interrupted, fl[i].error ? disp_one_line(fl[i].error, err, sizeof err) : "(no error recorded)");
    }
    if (total > nfl)
        printf("  ... and %zu more (dispatcher results shows every one)\n", total - nfl);
}

static void print_reloads(json_t *reloads, size_t total)
{
    if (!total)
        return;
    printf("reloads (Ollama reloaded the model between two calls of an experiment; README \"The consistency gate\"):\n");
    size_t i;
    json_t *r;
    json_array_foreach(reloads, i, r) {
        char *id = json_dumps(json_object_get(r, "id"), JSON_ENCODE_ANY);
        const char *idtext = json_is_string(json_object_get(r, "id")) ? json_string_value(json_object_get(r, "id")) : id;
        json_int_t n = json_integer_value(json_object_get(r, "reloads"));
        printf("  %s on %s: %" JSON_INTEGER_FORMAT " reload%s\n", idtext, or_q(json_string_value(json_object_get(r, "machine"))),
               n, n == 1 ? "" : "s");
        free(id);
    }
    if (total > json_array_size(reloads))
        printf("  ... and %zu more (status --json lists every one)\n", total - json_array_size(reloads));
}

static void print_table(json_t *table, bool versions_differ)
{
    if (!json_array_size(table))
        return;
    if (versions_differ)
        printf("WARNING: live machines run different Ollama versions%s:\n",
               json_array_size(table) > STATUS_TABLE_MODELS ? " (first rows)" : "");
    else
        printf("WARNING: live machines disagree on model digests:\n");
    json_t *shown = json_array();
    for (size_t i = 0; i < json_array_size(table) && i < STATUS_TABLE_MODELS; i++)
        json_array_append(shown, json_array_get(table, i));
    modeltab_print(stdout, shown, "  ");
    json_decref(shown);
    if (json_array_size(table) > STATUS_TABLE_MODELS)
        printf("  ... and %zu more rows (status --json has the whole table)\n", json_array_size(table) - STATUS_TABLE_MODELS);
}

static void print_text(const struct strvec *names, const struct mstat *ms, const size_t totals[S_N], size_t nids,
                       json_t *mismatch, json_t *table, bool versions_differ, json_t *reloads, size_t nreloads,
                       const struct failed *fl, size_t nfl, size_t nfailed)
{
    size_t alive = 0;
    for (size_t i = 0; i < names->n; i++) {
        const struct mstat *m = &ms[i];
        const char *name = names->v[i];
        alive += m->alive;
        if (m->alive && m->hb) {
            printf("%s: up since %s (pid %" JSON_INTEGER_FORMAT " on %s, worker %s), %" JSON_INTEGER_FORMAT
                   " of %" JSON_INTEGER_FORMAT " slots busy%s\n",
                   name, hb_str(m, "started_at", "?"), json_integer_value(json_object_get(m->hb, "pid")),
                   hb_str(m, "host", "?"), hb_str(m, "version", "?"), json_integer_value(json_object_get(m->hb, "busy")),
                   json_integer_value(json_object_get(m->hb, "slots")),
                   json_is_true(json_object_get(m->hb, "draining")) ? ", draining" : "");
        } else if (m->alive) {
            printf("%s: up (heartbeat unreadable)\n", name);
        } else if (m->lastseen) {
            printf("%s: down since %s (last heartbeat)\n", name, m->lastseen);
        } else {
            printf("%s: down, never seen\n", name);
        }
        printf("  queued %lld, running %lld, done %zu, failed %zu, cancelled %zu\n", m->queued, m->running,
               m->by_state[S_DONE], m->by_state[S_FAILED], m->by_state[S_CANCELLED]);
        if (m->held.n)
            print_held(m);
        if (m->reload_exps)
            printf("  reloads: %lld mid-experiment model reload%s in %zu experiment%s\n", m->reload_calls,
                   m->reload_calls == 1 ? "" : "s", m->reload_exps, m->reload_exps == 1 ? "" : "s");
        if (!m->alive || !m->hb)
            continue;
        if (json_is_true(json_object_get(m->hb, "breaker_open")))
            printf("  breaker open: Ollama fails chat calls; claiming nothing until a health check passes\n");
        json_t *ol = json_object_get(m->hb, "ollama");
        if (!json_is_object(ol)) {
            printf("  ollama unreachable\n");
        } else {
            printf("  ollama %s:", or_q(json_string_value(json_object_get(ol, "version"))));
            size_t k;
            json_t *mo;
            json_t *models = json_object_get(ol, "models");
            json_array_foreach(models, k, mo) {
                const char *dg = json_string_value(json_object_get(mo, "digest"));
                printf("%s %s %.12s", k ? "," : "", or_q(json_string_value(json_object_get(mo, "name"))), or_q(dg));
            }
            printf("%s\n", json_array_size(models) ? "" : " no models");
        }
        size_t k;
        json_t *run;
        json_array_foreach(json_object_get(m->hb, "running"), k, run) {
            /* A slot's entry is written when it claims; before the spec is read, turn and turns
             * are 0: say "starting" rather than "turn 0 of 0". */
            json_int_t turn = json_integer_value(json_object_get(run, "turn"));
            json_int_t turns = json_integer_value(json_object_get(run, "turns"));
            printf("  running %s: ", or_q(json_string_value(json_object_get(run, "id"))));
            if (turn <= 0)
                printf("starting");
            else if (turns <= 0)
                printf("turn %" JSON_INTEGER_FORMAT, turn);
            else
                printf("turn %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT, turn, turns);
            printf(", %" JSON_INTEGER_FORMAT " calls\n", json_integer_value(json_object_get(run, "calls")));
        }
    }
    size_t k;
    json_t *mm;
    json_array_foreach(mismatch, k, mm) {
        printf("WARNING: model %s has different digests on live machines:", json_string_value(json_object_get(mm, "model")));
        const char *machine;
        json_t *dg;
        int first = 1;
        json_object_foreach(json_object_get(mm, "digests"), machine, dg) {
            printf("%s %s %.12s", first ? "" : ",", machine, json_string_value(dg));
            first = 0;
        }
        printf("\n");
    }
    print_table(table, versions_differ);
    print_reloads(reloads, nreloads);
    print_failed(fl, nfl, nfailed);
    printf("total: %zu machine%s (%zu up), %zu experiment%s: %zu queued, %zu running, %zu done, %zu failed, %zu "
           "cancelled\n",
           names->n, names->n == 1 ? "" : "s", alive, nids, nids == 1 ? "" : "s", totals[S_QUEUED], totals[S_RUNNING],
           totals[S_DONE], totals[S_FAILED], totals[S_CANCELLED]);
}

/* ---- Subcommand ---- */

static int status_run(struct disp *d, const char **args, int nargs)
{
    if (nargs) {
        disp_errf("status: unexpected argument '%s' (see status --help)", args[0]);
        return EXIT_USAGE;
    }
    int rc = disp_connect(d);
    if (rc)
        return rc;
    struct strvec names = {0}, job_state = {0}, job_machine = {0}, job_reloads = {0}, ids = {0};
    size_t totals[S_N] = {0}, nfl = 0, nfailed = 0;
    struct mstat *ms = NULL;
    struct failed *fl = NULL;
    json_t *mismatch = NULL, *table = NULL, *reloads = NULL;
    bool versions_differ = false;
    size_t nreloads = 0;

    if ((rc = disp_registered_machines(d, &names)))
        goto out;
    for (size_t i = 0; i < d->machines_arg.n; i++)
        if (strvec_find(&names, d->machines_arg.v[i]) < 0)
            strvec_push(&names, d->machines_arg.v[i]);
    if ((rc = scan_jobs(d, &names, &job_state, &job_machine, &job_reloads, totals, &ids)))
        goto out;
    strvec_sort(&names);

    ms = xcalloc(names.n + 1, sizeof *ms);
    for (size_t i = 0; i < job_state.n; i++) {
        long at = job_machine.v[i][0] ? strvec_find(&names, job_machine.v[i]) : -1;
        if (at >= 0)
            ms[at].by_state[state_index(job_state.v[i])]++;
        long long nrel = atoll(job_reloads.v[i]);
        if (at >= 0 && nrel > 0) {
            ms[at].reload_exps++;
            ms[at].reload_calls += nrel;
        }
    }
    if ((rc = read_machines(d, &names, ms)))
        goto out;
    if ((rc = read_failed(d, &ids, &job_state, opt_json ? 0 : STATUS_FAILED_SHOWN, &fl, &nfl, &nfailed)))
        goto out;
    mismatch = digest_mismatches(&names, ms);
    table = mismatch_table(&names, ms, &versions_differ);
    reloads = reload_list(d, &ids, &job_machine, &job_reloads, opt_json ? 0 : STATUS_RELOADS_SHOWN, &nreloads);
    if (opt_json)
        print_json(d, &names, ms, totals, job_state.n, mismatch, table, versions_differ, reloads, fl, nfl);
    else
        print_text(&names, ms, totals, job_state.n, mismatch, table, versions_differ, reloads, nreloads, fl, nfl,
                   nfailed);
out:
    for (size_t i = 0; ms && i < names.n; i++) {
        json_decref(ms[i].hb);
        free(ms[i].lastseen);
        strvec_free(&ms[i].held);
        free(ms[i].held_turn);
    }
    free(ms);
    for (size_t i = 0; fl && i < nfl; i++) {
        free(fl[i].machine);
        free(fl[i].error);
    }
    free(fl);
    strvec_free(&ids);
    json_decref(mismatch);
    json_decref(table);
    json_decref(reloads);
    strvec_free(&job_reloads);
    strvec_free(&names);
    strvec_free(&job_state);
    strvec_free(&job_machine);
    return rc;
}

const struct disp_cmd status_cmd = {
    .name = "status",
    .synopsis = "status [--json]",
    .summary = "show every machine's worker, queues, counts, running experiments and Ollama models",
    .description =
        "For every machine (registered in NS:machines, named with --machines, or with experiments queued\n"
        "or running there):\n"
        "whether its worker is alive and since when, the lengths of its queue and running lists, its\n"
        "done, failed and cancelled counts, what each busy slot runs and at which turn, and Ollama's\n"
        "version and model digests from the heartbeat, and whether its breaker is open (Ollama fails chat\n"
        "calls). A machine without a live worker that still holds claimed experiments lists them (run\n"
        "'dispatcher recover'). A WARNING line names models whose digests differ between live machines.\n"
        "A failed: section lists up to 10 failed experiments with their attempts and error. The last\n"
        "line totals the experiments by state. --json adds per machine \"held\" and \"breaker_open\",\n"
        "and a top-level \"failed\" array.\n"
        "Mismatches: when live machines report different digests for a model, or run different Ollama\n"
        "versions, the table machine x model x digest x version; reloads: the experiments whose calls\n"
        "saw Ollama reload the model mid-experiment (a count per machine, and a list).\n",
    .opts = status_opts,
    .run = status_run,
};
