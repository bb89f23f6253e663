/* cancel: end experiments that have not ended, each in one Lua script.
 *
 * Per id the job hash and its committed turns are read, and the result a cancelled experiment
 * gets (as the worker would write it: status "cancelled", the committed turns and their totals,
 * error null) is built here in C. The script then re-checks that nothing moved since the read
 * (state, machine, committed turn, number of turn records) and acts:
 *   queued, in its queue          LREM it; state cancelled, finished_at, the result, an event
 *   queued, in the running list   a worker claimed it meanwhile and has not marked it running:
 *                                 HSET cancel 1 (the worker's run sees it as it loads the job)
 *   running, worker alive         HSET cancel 1: the worker finds it with its next heartbeat
 *                                 (within about 5 s) and ends the run cancelled at the next call
 *   running or claimed, machine   no heartbeat: no worker will ever see the flag, so the id is
 *   without a live worker         taken out of the running list and ended here, as when queued
 * When something moved, the script changes nothing and says "stale"; the id is read again and
 * the script re-run (a few times at most). Every key the script touches comes from keys.h and is
 * passed in KEYS. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "disp.h"
#include "keys.h"
#include "timefmt.h"
#include "xalloc.h"

#define CANCEL_TRIES 10 /* re-reads of an id that keeps changing under us */

static bool opt_all;

static const struct cfg_opt cancel_opts[] = {
    {"all", 0, NULL, CFG_BOOL, &opt_all, 0, 0, NULL, "cancel every queued or running experiment of the namespace"},
    {NULL},
};

/* KEYS: 1 job, 2 turns, 3 queue:M, 4 running:M, 5 worker:M, 6 result, 7 events.
 * ARGV: 1 id, 2 state, 3 machine, 4 turn, 5 number of turn records (all as read), 6 the result
 * JSON, 7 finished_at, 8 events maxlen.
 * Returns {verdict, detail}: cancelled (detail queue | orphan | dead), requested, claimed,
 * stale (detail: the current state), gone. */
static const char cancel_lua[] =
    "local h = redis.call('HMGET', KEYS[1], 'state', 'machine', 'turn')\n"
    "if not h[1] then return {'gone', ''} end\n"
    "if h[1] ~= ARGV[2] or (h[2] or '') ~= ARGV[3] or (h[3] or '0') ~= ARGV[4]\n"
    "   or redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[5]) then return {'stale', h[1]} end\n"
    "local function cancel_now(how)\n"
    "  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[7], 'error', '')\n"
    "  redis.call('HDEL', KEYS[1], 'cancel')\n"
    "  redis.call('SET', KEYS[6], ARGV[6])\n"
    "  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*', 'id', ARGV[1], 'event', 'cancelled',\n"
    "             'machine', ARGV[3], 'turn', ARGV[4])\n"
    "  return {'cancelled', how}\n"
    "end\n"
    "local alive = redis.call('EXISTS', KEYS[5]) == 1\n"
    "if h[1] == 'queued' then\n"
    "  if redis.call('LREM', KEYS[3], 0, ARGV[1]) > 0 then return cancel_now('queue') end\n"
    "  if not redis.call('LPOS', KEYS[4], ARGV[1]) then return cancel_now('orphan') end\n"
    "elseif h[1] ~= 'running' then\n"
    "  return {'stale', h[1]}\n"
    "end\n"
    "if alive then\n"
    "  redis.call('HSET', KEYS[1], 'cancel', '1')\n"
    "  return {h[1] == 'queued' and 'claimed' or 'requested', ''}\n"
    "end\n"
    "redis.call('LREM', KEYS[4], 0, ARGV[1])\n"
    "return cancel_now('dead')\n";

/* What cancel reads of one experiment. */
struct jobview {
    redisReply *hash;   /* HGETALL reply (owned) */
    redisReply *turns;  /* LRANGE turns reply (owned) */
    const char *state, *machine, *machines, *turn, *attempts, *started_at, *spec, *mixed; /* in hash; NULL absent */
    size_t spec_len;
};

static void jobview_free(struct jobview *v)
{
    if (v->hash)
        freeReplyObject(v->hash);
    if (v->turns)
        freeReplyObject(v->turns);
    memset(v, 0, sizeof *v);
}

static int jobview_read(struct disp *d, const char *id, struct jobview *v)
{
    memset(v, 0, sizeof *v);
    disp_appendv(d, "HGETALL", key_job(d->ns, id).s, NULL);
    disp_appendv(d, "LRANGE", key_turns(d->ns, id).s, "0", "-1", NULL);
    int rc = disp_reply(d, &v->hash);
    if (rc) {
        redisReply *skip;
        if (disp_reply(d, &skip) == 0)
            freeReplyObject(skip);
        return rc;
    }
    if ((rc = disp_reply(d, &v->turns))) {
        jobview_free(v);
        return rc;
    }
    for (size_t i = 0; v->hash->type == REDIS_REPLY_ARRAY && i + 1 < v->hash->elements; i += 2) {
        const char *k = v->hash->element[i]->str;
        redisReply *val = v->hash->element[i + 1];
        if (!k || val->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k, "state"))
            v->state = val->str;
        else if (!strcmp(k, "machine"))
            v->machine = val->str;
        else if (!strcmp(k, "machines"))
            v->machines = val->str;
        else if (!strcmp(k, "turn"))
            v->turn = val->str;
        else if (!strcmp(k, "attempts"))
            v->attempts = val->str;
        else if (!strcmp(k, "started_at"))
            v->started_at = val->str;
        else if (!strcmp(k, "mixed_digests"))
            v->mixed = val->str;
        else if (!strcmp(k, "spec")) {
            v->spec = val->str;
            v->spec_len = val->len;
        }
    }
    return 0;
}

/* Returns the result JSON text of a cancelled experiment (caller frees), in the worker's field
 * order (worker/result.c): everything from the job hash, its spec and its committed turns. */
static char *cancelled_result(const char *id, const struct jobview *v, const char *finished_at)
{
    json_t *spec = v->spec ? json_loadb(v->spec, v->spec_len, 0, NULL) : NULL;
    json_t *jid = json_object_get(spec, "id");
    json_t *model = json_object_get(spec, "model");
    json_t *params = json_object_get(spec, "params");
    json_t *res = json_object();
    json_object_set_new(res, "id", json_is_integer(jid) ? json_incref(jid) : json_string(id));
    json_object_set_new(res, "status", json_string("cancelled"));
    json_object_set_new(res, "machine", v->machine ? json_string(v->machine) : json_null());
    json_t *machines = json_array();
    if (v->machines && *v->machines) {
        char *copy = xstrdup(v->machines), *save = NULL;
        for (char *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",", &save))
            json_array_append_new(machines, json_string(m));
        free(copy);
    }
    json_object_set_new(res, "machines", machines);
    json_object_set_new(res, "model", json_is_string(model) ? json_incref(model) : json_null());
    json_object_set_new(res, "model_digest", json_null());
    json_object_set_new(res, "ollama_version", json_null());
    json_object_set_new(res, "attempts", json_integer(v->attempts ? atoll(v->attempts) : 0));
    json_object_set_new(res, "started_at", v->started_at && *v->started_at ? json_string(v->started_at) : json_null());
    json_object_set_new(res, "finished_at", json_string(finished_at));
    json_object_set_new(res, "duration_ms", json_integer(0));
    json_object_set_new(res, "params", json_is_object(params) ? json_deep_copy(params) : json_object());
    json_t *turns = json_array();
    json_int_t calls = 0, actions = 0, pt = 0, et = 0, reloads = 0;
    for (size_t i = 0; v->turns->type == REDIS_REPLY_ARRAY && i < v->turns->elements; i++) {
        redisReply *e = v->turns->element[i];
        json_t *rec = e->type == REDIS_REPLY_STRING ? json_loadb(e->str, e->len, 0, NULL) : NULL;
        calls += json_integer_value(json_object_get(rec, "calls"));
        actions += (json_int_t)json_array_size(json_object_get(rec, "actions"));
        pt += json_integer_value(json_object_get(rec, "prompt_tokens"));
        et += json_integer_value(json_object_get(rec, "eval_tokens"));
        reloads += (json_int_t)json_array_size(json_object_get(rec, "reload_calls"));
        json_array_append_new(turns, rec ? rec : json_null());
    }
    json_object_set_new(res, "turns", turns);
    json_object_set_new(res, "totals", json_pack("{s:I, s:I, s:I, s:I, s:I}", "turns", (json_int_t)json_array_size(turns),
                                                 "calls", calls, "actions", actions, "prompt_tokens", pt,
                                                 "eval_tokens", et));
    json_object_set_new(res, "reloads", json_integer(reloads));
    json_object_set_new(res, "mixed_digests", json_boolean(v->mixed != NULL));
    if (v->mixed) {
        json_t *seen = json_loads(v->mixed, 0, NULL);
        json_object_set_new(res, "digests_seen", seen ? seen : json_string(v->mixed));
    }
    json_object_set_new(res, "error", json_null());
    char *text = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(res);
    json_decref(spec);
    return text;
}

enum outcome { O_CANCELLED, O_REQUESTED, O_ALREADY, O_REFUSED, O_N };

static void committed_phrase(size_t n, char *buf, size_t len)
{
    if (n == 0)
        snprintf(buf, len, "no turn committed");
    else
        snprintf(buf, len, "%zu committed turn%s kept in its result", n, n == 1 ? "" : "s");
}

/* Cancels one id. Returns 0 and sets *out, or an exit code after printing (*out O_REFUSED for
 * an id whose state allows no cancel). */
static int cancel_one(struct disp *d, const char *id, enum outcome *out)
{
    *out = O_REFUSED;
    for (int attempt = 0; attempt < CANCEL_TRIES; attempt++) {
        struct jobview v;
        int rc = jobview_read(d, id, &v);
        if (rc)
            return rc;
        const char *st = v.state ? v.state : "";
        if (!v.hash || v.hash->type != REDIS_REPLY_ARRAY || v.hash->elements == 0) {
            jobview_free(&v);
            disp_errf("cancel: %s: its job hash is gone (deleted meanwhile?); nothing changed", id);
            return EXIT_USAGE;
        }
        if (!strcmp(st, "cancelled")) {
            printf("%s is already cancelled\n", id);
            jobview_free(&v);
            *out = O_ALREADY;
            return 0;
        }
        if (!strcmp(st, "done") || !strcmp(st, "failed")) {
            disp_errf("cancel: %s has already ended (%s): nothing to cancel", id, st);
            jobview_free(&v);
            return EXIT_USAGE;
        }
        if (strcmp(st, "queued") && strcmp(st, "running")) {
            disp_errf("cancel: %s: state '%s' is none a cancel knows (queued, running); nothing changed", id,
                      st[0] ? st : "(none)");
            jobview_free(&v);
            return EXIT_USAGE;
        }
        const char *machine = v.machine ? v.machine : "";
        size_t nturns = v.turns->type == REDIS_REPLY_ARRAY ? v.turns->elements : 0;
        char finished[TIMEFMT_ISO_LEN];
        timefmt_iso(timefmt_now_ms(), finished);
        char *result = cancelled_result(id, &v, finished);

        struct rargs a = {0};
        rargs_add(&a, "EVAL");
        rargs_add(&a, cancel_lua);
        rargs_add(&a, "7");
        rargs_addc(&a, key_job(d->ns, id).s);
        rargs_addc(&a, key_turns(d->ns, id).s);
        rargs_addc(&a, key_queue(d->ns, machine).s);
        rargs_addc(&a, key_running(d->ns, machine).s);
        rargs_addc(&a, key_worker(d->ns, machine).s);
        rargs_addc(&a, key_result(d->ns, id).s);
        rargs_addc(&a, key_events(d->ns).s);
        rargs_add(&a, id);
        rargs_add(&a, st);
        rargs_add(&a, machine);
        rargs_add(&a, v.turn ? v.turn : "0");
        rargs_addf(&a, "%zu", nturns);
        rargs_add(&a, result);
        rargs_add(&a, finished);
        rargs_addf(&a, "%d", KEYS_EVENTS_MAXLEN);
        redisReply *r;
        rc = disp_command(d, &a, &r);
        rargs_free(&a);
        free(result);
        if (rc) {
            jobview_free(&v);
            return rc;
        }
        const char *verdict = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->str
                                  ? r->element[0]->str : "";
        const char *detail = verdict[0] && r->element[1]->str ? r->element[1]->str : "";
        char kept[96];
        committed_phrase(nturns, kept, sizeof kept);
        rc = -1;
        if (!strcmp(verdict, "cancelled")) {
            if (!strcmp(detail, "dead"))
                printf("%s cancelled (was %s on %s, whose worker is down; %s)\n", id,
                       !strcmp(st, "running") ? "running" : "claimed", machine, kept);
            else
                printf("%s cancelled (was queued on %s; %s)\n", id, machine, kept);
            *out = O_CANCELLED;
            rc = 0;
        } else if (!strcmp(verdict, "requested")) {
            printf("%s running on %s: cancel requested; it stops at its next call (the worker sees it within "
                   "about 5 s)\n", id, machine);
            *out = O_REQUESTED;
            rc = 0;
        } else if (!strcmp(verdict, "claimed")) {
            printf("%s was just claimed by %s's worker: cancel requested; it ends cancelled as the worker "
                   "loads it\n", id, machine);
            *out = O_REQUESTED;
            rc = 0;
        } else if (!strcmp(verdict, "gone")) {
            disp_errf("cancel: %s: its job hash is gone (deleted meanwhile?); nothing changed", id);
            rc = EXIT_USAGE;
        } else if (strcmp(verdict, "stale")) {
            disp_errf("cancel: %s: unexpected reply from the cancel script", id);
            rc = EXIT_RUNTIME;
        }
        freeReplyObject(r);
        jobview_free(&v);
        if (rc >= 0)
            return rc;
        /* stale: it moved between the read and the script; read it again. */
    }
    disp_errf("cancel: %s keeps changing (read %d times); nothing changed, try again", id, CANCEL_TRIES);
    return EXIT_RUNTIME;
}

static int cancel_run(struct disp *d, const char **args, int nargs)
{
    if (opt_all && nargs) {
        disp_errf("cancel: --all takes no ids (got '%s'); nothing changed", args[0]);
        return EXIT_USAGE;
    }
    if (!opt_all && nargs == 0) {
        disp_errf("cancel: name the experiment ids to cancel, or --all (see cancel --help)");
        return EXIT_USAGE;
    }
    struct strvec ids = {0};
    static const char *const live[] = {"queued", "running", NULL};
    int rc = opt_all ? disp_ids_in_state(d, live, &ids) : disp_named_ids(d, "cancel", args, nargs, &ids);
    if (rc)
        goto out;
    if (opt_all && ids.n == 0) {
        printf("cancel: nothing to cancel: no experiment is queued or running\n");
        goto out;
    }
    size_t count[O_N] = {0};
    for (size_t i = 0; i < ids.n; i++) {
        enum outcome o;
        int one = cancel_one(d, ids.v[i], &o);
        if (one == EXIT_REDIS) {
            rc = one;
            goto out;
        }
        if (one) {
            rc = rc ? rc : one;
            count[O_REFUSED]++;
        } else {
            count[o]++;
        }
    }
    if (ids.n > 1)
        printf("cancel: %zu cancelled, %zu cancel requested, %zu already cancelled, %zu refused\n", count[O_CANCELLED],
               count[O_REQUESTED], count[O_ALREADY], count[O_REFUSED]);
out:
    strvec_free(&ids);
    return rc;
}

const struct disp_cmd cancel_cmd = {
    .name = "cancel",
    .synopsis = "cancel ID...|--all",
    .summary = "cancel queued or running experiments",
    .description =
        "Cancels each experiment named (or, with --all, every queued or running one), each atomically:\n"
        "  queued     taken out of its queue and ended at once: state cancelled, a result with status\n"
        "             \"cancelled\" holding its committed turns, a `cancelled` event;\n"
        "  running    its worker is asked to stop (the job hash's `cancel` field); it sees that with\n"
        "             its next heartbeat, within about 5 s, ends the run at its next call and writes\n"
        "             the result with the committed turns. On a machine without a live worker it is\n"
        "             ended at once, as a queued one;\n"
        "  cancelled  says so (exit 0); done or failed: an error, nothing changed (exit 2).\n"
        "The ids are checked first: a malformed or unknown id changes nothing at all (exit 2). Then\n"
        "each id is acted on as its state allows; one that cannot be cancelled makes the exit code 2.\n"
        "Prints one line per id (\"B3 running on gpu2: cancel requested; ...\"). `dispatcher retry`\n"
        "queues a cancelled experiment again.\n",
    .opts = cancel_opts,
    .run = cancel_run,
};
