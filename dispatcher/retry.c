/* retry: queue failed or cancelled experiments again, each in one Lua script.
 *
 * An experiment keeps its committed turns (NS:turns:ID, NS:transcript:ID): the worker that
 * claims it resumes at its first uncommitted turn, exactly as after an interruption. The error
 * and interruption budgets start afresh (errors 0, interrupted 0), the old result and the
 * `cancel` request are dropped, and the id leaves NS:dead. --from-scratch also drops the
 * committed turns and the transcript and sets turn and attempts to 0, so it starts again at
 * turn 1 (and `started_at` and `machines` are dropped: its result then describes the new run).
 *
 * What can be checked before writing is checked in C (the spec is there and parses, the machine
 * is a machine name): a retried experiment that could only be dead-lettered again is refused.
 * The script re-checks the state and machine; all keys come from keys.h, passed in KEYS. It
 * enqueues with LPUSH, at the back of the machine's queue, as submit does. */
#include <stdlib.h>
#include <string.h>

#include "disp.h"
#include "job.h"
#include "keys.h"
#include "xalloc.h"

#define RETRY_TRIES 10

static bool opt_failed, opt_scratch;

static const struct cfg_opt retry_opts[] = {
    {"failed", 0, NULL, CFG_BOOL, &opt_failed, 0, 0, NULL, "retry every experiment whose state is failed"},
    {"from-scratch", 0, NULL, CFG_BOOL, &opt_scratch, 0, 0, NULL,
     "drop the committed turns too: start again at turn 1 (attempts 0)"},
    {NULL},
};

/* KEYS: 1 job, 2 result, 3 dead, 4 queue:M, 5 events, 6 turns, 7 transcript.
 * ARGV: 1 id, 2 machine (as read), 3 from scratch (1/0), 4 events maxlen.
 * Returns {verdict, detail}: queued (detail: the number of committed turns kept), state (the
 * state, which is neither failed nor cancelled), stale (the machine changed), gone. */
static const char retry_lua[] =
    "local h = redis.call('HMGET', KEYS[1], 'state', 'machine')\n"
    "if not h[1] then return {'gone', ''} end\n"
    "if h[1] ~= 'failed' and h[1] ~= 'cancelled' then return {'state', h[1]} end\n"
    "if (h[2] or '') ~= ARGV[2] then return {'stale', h[2] or ''} end\n"
    "redis.call('HSET', KEYS[1], 'state', 'queued', 'errors', '0', 'interrupted', '0')\n"
    "redis.call('HDEL', KEYS[1], 'cancel', 'error', 'finished_at')\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('LREM', KEYS[3], 0, ARGV[1])\n"
    "if ARGV[3] == '1' then\n"
    "  redis.call('DEL', KEYS[6], KEYS[7])\n"
    "  redis.call('HSET', KEYS[1], 'turn', '0', 'attempts', '0')\n"
    "  redis.call('HDEL', KEYS[1], 'started_at', 'machines')\n"
    "end\n"
    "local n = tostring(redis.call('LLEN', KEYS[6]))\n"
    "redis.call('LPUSH', KEYS[4], ARGV[1])\n"
    "redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'id', ARGV[1], 'event', 'requeued',\n"
    "           'machine', ARGV[2], 'turn', n)\n"
    "return {'queued', n}\n";

/* Retries one id. Returns 0 (adding the machine it was queued on to machines_used), or an exit
 * code after printing. */
static int retry_one(struct disp *d, const char *id, struct strvec *machines_used)
{
    for (int attempt = 0; attempt < RETRY_TRIES; attempt++) {
        disp_appendv(d, "HMGET", key_job(d->ns, id).s, "state", "machine", "spec", NULL);
        disp_appendv(d, "LLEN", key_turns(d->ns, id).s, NULL);
        redisReply *hm, *ll;
        int rc = disp_reply(d, &hm);
        if (rc) {
            if (disp_reply(d, &ll) == 0)
                freeReplyObject(ll);
            return rc;
        }
        if ((rc = disp_reply(d, &ll))) {
            freeReplyObject(hm);
            return rc;
        }
        redisReply **e = hm->type == REDIS_REPLY_ARRAY && hm->elements == 3 ? hm->element : NULL;
        const char *st = e && e[0]->type == REDIS_REPLY_STRING ? e[0]->str : NULL;
        const char *machine = e && e[1]->type == REDIS_REPLY_STRING ? e[1]->str : "";
        long long committed = ll->type == REDIS_REPLY_INTEGER ? ll->integer : 0;
        char err[ERR_LEN];
        struct job *job = NULL;
        rc = -1;
        if (!st) {
            disp_errf("retry: %s: its job hash has no state (deleted meanwhile?); nothing changed", id);
            rc = EXIT_USAGE;
        } else if (strcmp(st, "failed") && strcmp(st, "cancelled")) {
            if (!strcmp(st, "done"))
                disp_errf("retry: %s is done: only failed or cancelled experiments can be retried (submit --force "
                          "replaces an ended one); nothing changed", id);
            else
                disp_errf("retry: %s is %s on %s: only failed or cancelled experiments can be retried; nothing "
                          "changed", id, st, machine[0] ? machine : "?");
            rc = EXIT_USAGE;
        } else if (e[2]->type != REDIS_REPLY_STRING) {
            disp_errf("retry: %s has no spec (its id reached a queue without being submitted): submit it; nothing "
                      "changed", id);
            rc = EXIT_USAGE;
        } else if (!(job = job_from_text(e[2]->str, e[2]->len, err))) {
            disp_errf("retry: %s: its spec does not parse (%s): submit it again with --force; nothing changed", id,
                      err);
            rc = EXIT_USAGE;
        } else if (!job_machine_valid(machine)) {
            disp_errf("retry: %s: its job hash names no machine ('%s'); nothing changed", id, machine);
            rc = EXIT_USAGE;
        }
        if (rc >= 0) {
            freeReplyObject(hm);
            freeReplyObject(ll);
            job_free(job);
            return rc;
        }
        int nturns = job->nturns;
        job_free(job);
        char m[JOB_MACHINE_MAX + 1];
        snprintf(m, sizeof m, "%s", machine);
        freeReplyObject(hm);
        freeReplyObject(ll);

        struct rargs a = {0};
        rargs_add(&a, "EVAL");
        rargs_add(&a, retry_lua);
        rargs_add(&a, "7");
        rargs_addc(&a, key_job(d->ns, id).s);
        rargs_addc(&a, key_result(d->ns, id).s);
        rargs_addc(&a, key_dead(d->ns).s);
        rargs_addc(&a, key_queue(d->ns, m).s);
        rargs_addc(&a, key_events(d->ns).s);
        rargs_addc(&a, key_turns(d->ns, id).s);
        rargs_addc(&a, key_transcript(d->ns, id).s);
        rargs_add(&a, id);
        rargs_add(&a, m);
        rargs_add(&a, opt_scratch ? "1" : "0");
        rargs_addf(&a, "%d", KEYS_EVENTS_MAXLEN);
        redisReply *r;
        rc = disp_command(d, &a, &r);
        rargs_free(&a);
        if (rc)
            return rc;
        const char *verdict = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->str
                                  ? r->element[0]->str : "";
        const char *detail = verdict[0] && r->element[1]->str ? r->element[1]->str : "";
        rc = -1;
        if (!strcmp(verdict, "queued")) {
            long long kept = atoll(detail);
            printf("%s -> %s queued again ", id, m);
            if (opt_scratch && committed > 0)
                printf("(from scratch: starts at turn 1; %lld committed turn%s dropped)\n", committed,
                       committed == 1 ? "" : "s");
            else if (opt_scratch || kept == 0)
                printf("(starts at turn 1)\n");
            else if (kept >= nturns)
                printf("(all %d turns are committed: it ends done when its worker claims it)\n", nturns);
            else
                printf("(resumes at turn %lld)\n", kept + 1);
            if (strvec_find(machines_used, m) < 0)
                strvec_push(machines_used, m);
            rc = 0;
        } else if (!strcmp(verdict, "state")) {
            disp_errf("retry: %s became %s meanwhile: only failed or cancelled experiments can be retried; nothing "
                      "changed", id, detail);
            rc = EXIT_USAGE;
        } else if (!strcmp(verdict, "gone")) {
            disp_errf("retry: %s: its job hash is gone (deleted meanwhile?); nothing changed", id);
            rc = EXIT_USAGE;
        } else if (strcmp(verdict, "stale")) {
            disp_errf("retry: %s: unexpected reply from the retry script", id);
            rc = EXIT_RUNTIME;
        }
        freeReplyObject(r);
        if (rc >= 0)
            return rc;
    }
    disp_errf("retry: %s keeps changing (read %d times); nothing changed, try again", id, RETRY_TRIES);
    return EXIT_RUNTIME;
}

static int retry_run(struct disp *d, const char **args, int nargs)
{
    if (opt_failed && nargs) {
        disp_errf("retry: --failed takes no ids (got '%s'); nothing changed", args[0]);
        return EXIT_USAGE;
    }
    if (!opt_failed && nargs == 0) {
        disp_errf("retry: name the experiment ids to retry, or --failed (see retry --help)");
        return EXIT_USAGE;
    }
    struct strvec ids = {0}, used = {0};
    static const char *const failed[] = {"failed", NULL};
    int rc = opt_failed ? disp_ids_in_state(d, failed, &ids) : disp_named_ids(d, "retry", args, nargs, &ids);
    if (rc)
        goto out;
    if (opt_failed && ids.n == 0) {
        printf("retry: nothing to retry: no experiment has failed\n");
        goto out;
    }
    size_t queued = 0, refused = 0;
    for (size_t i = 0; i < ids.n; i++) {
        int one = retry_one(d, ids.v[i], &used);
        if (one == EXIT_REDIS) {
            rc = one;
            goto out;
        }
        if (one) {
            rc = rc ? rc : one;
            refused++;
        } else {
            queued++;
        }
    }
    if (ids.n > 1)
        printf("retry: %zu queued again, %zu refused\n", queued, refused);
    if (used.n) {
        bool *alive = xcalloc(used.n, sizeof *alive);
        int arc = disp_workers_alive(d, &used, alive);
        for (size_t i = 0; arc == 0 && i < used.n; i++)
            if (!alive[i])
                disp_warnf("no live worker for %s (no %s heartbeat): what was queued there waits until one starts",
                           used.v[i], key_worker(d->ns, used.v[i]).s);
        free(alive);
        if (arc == EXIT_REDIS)
            rc = arc;
    }
out:
    strvec_free(&ids);
    strvec_free(&used);
    return rc;
}

const struct disp_cmd retry_cmd = {
    .name = "retry",
    .synopsis = "retry [--from-scratch] ID...|--failed",
    .summary = "queue failed or cancelled experiments again (they resume at their first uncommitted turn)",
    .description =
        "Queues each experiment named (or, with --failed, every failed one) again on its machine, at the\n"
        "back of the queue, each atomically: state queued, errors and interrupted reset to 0, the\n"
        "error, finished_at, cancel request and old result dropped, the id taken out of NS:dead, a\n"
        "`requeued` event. Only failed or cancelled experiments can be retried; for others it is an\n"
        "error naming the state (exit 2, nothing changed for that id).\n"
        "The committed turns are kept: the experiment resumes at its first uncommitted turn, and no\n"
        "committed turn is sent to Ollama again. --from-scratch drops them (and the transcript) and\n"
        "starts again at turn 1 with attempts 0.\n"
        "The ids are checked first: a malformed or unknown id changes nothing at all (exit 2).\n"
        "Prints one line per id: \"A3 -> gpu1 queued again (resumes at turn 4)\".\n",
    .opts = retry_opts,
    .run = retry_run,
};
