/* forget: take retired machines out of the namespace. A worker registers its machine in
 * NS:machines on every heartbeat and never takes it out (a worker that stops means to come back),
 * so a box that ran once, or a worker started with the wrong --machine (the host name by
 * default), stays a placement target of every later `submit` without --machines. forget removes
 * what names the machine as a place: its member of NS:machines, its field of NS:lastseen and its
 * counters NS:metrics:MACHINE (the counters of a machine that is gone are noise in `metrics`).
 * The `machine` fields of job hashes and results stay: they are history, where experiments ran.
 *
 * It refuses (nothing changed for any machine named) while a machine has a live worker (its
 * heartbeat key exists: the worker would register it again at its next beat) or experiments in
 * its queue or running list (they would be stranded: no submit, status or recover would look for
 * them; `recover --reroute` moves them to live machines first). The check and the deletes are
 * one Lua script over all the machines named, so a worker that starts at that moment either
 * registers before it (forget refuses) or after (its machine is registered again, as it should
 * be, since it is live). A name that is nowhere (not registered, never seen, no counters) is
 * refused too: it is most likely a typo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disp.h"
#include "job.h"
#include "keys.h"
#include "xalloc.h"

/* KEYS: 1 machines, 2 lastseen, then per machine: worker, queue, running, metrics. ARGV: the
 * machine names. Returns {'refused', name, reason, detail1, detail2, ...} (reason: 'alive' with
 * the heartbeat text; 'holds' with the queue and running lengths; 'unknown'), one group of five
 * per machine refused, when any is; else {'ok', per machine: the lastseen time or ''}. */
static const char forget_lua[] =
    "local refused = {'refused'}\n"
    "for i, m in ipairs(ARGV) do\n"
    "  local w, q, r, mk = KEYS[4 * i - 1], KEYS[4 * i], KEYS[4 * i + 1], KEYS[4 * i + 2]\n"
    "  local hb = redis.call('GET', w)\n"
    "  local nq, nr = redis.call('LLEN', q), redis.call('LLEN', r)\n"
    "  if hb then\n"
    "    for _, v in ipairs({m, 'alive', hb, '', ''}) do refused[#refused + 1] = v end\n"
    "  elseif nq > 0 or nr > 0 then\n"
    "    for _, v in ipairs({m, 'holds', tostring(nq), tostring(nr), ''}) do refused[#refused + 1] = v end\n"
    "  elseif redis.call('SISMEMBER', KEYS[1], m) == 0 and redis.call('HEXISTS', KEYS[2], m) == 0\n"
    "         and redis.call('EXISTS', mk) == 0 then\n"
    "    for _, v in ipairs({m, 'unknown', '', '', ''}) do refused[#refused + 1] = v end\n"
    "  end\n"
    "end\n"
    "if #refused > 1 then return refused end\n"
    "local out = {'ok'}\n"
    "for i, m in ipairs(ARGV) do\n"
    "  out[#out + 1] = redis.call('HGET', KEYS[2], m) or ''\n"
    "  redis.call('SREM', KEYS[1], m)\n"
    "  redis.call('HDEL', KEYS[2], m)\n"
    "  redis.call('DEL', KEYS[4 * i + 2])\n"
    "end\n"
    "return out\n";

static const char *str_at(const redisReply *r, size_t i)
{
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
}

/* One line per machine refused, naming why and what to do. */
static void print_refusals(struct disp *d, const redisReply *r)
{
    for (size_t i = 1; i + 5 <= r->elements; i += 5) {
        const char *m = str_at(r, i), *why = str_at(r, i + 1);
        if (!strcmp(why, "alive")) {
            json_t *hb = json_loads(str_at(r, i + 2), 0, NULL);
            json_t *pid = json_object_get(hb, "pid");
            const char *host = json_string_value(json_object_get(hb, "host"));
            char who[160] = "";
            if (json_is_integer(pid) && host)
                snprintf(who, sizeof who, " (pid %" JSON_INTEGER_FORMAT " on %s)", json_integer_value(pid), host);
            disp_errf("forget: %s has a live worker%s: %s exists; stop that worker first (it registers the "
                      "machine again at every heartbeat)", m, who, key_worker(d->ns, m).s);
            json_decref(hb);
        } else if (!strcmp(why, "holds")) {
            long nq = atol(str_at(r, i + 2)), nr = atol(str_at(r, i + 3));
            disp_errf("forget: %s still holds %ld queued and %ld claimed experiment%s (%s, %s): move them to live "
                      "machines with 'dispatcher recover --reroute' first (experiments pinned to %s stay on it: "
                      "cancel them, or start its worker to run them)",
                      m, nq, nr, nq + nr == 1 ? "" : "s", key_queue(d->ns, m).s, key_running(d->ns, m).s, m);
        } else {
            disp_errf("forget: %s is not a machine of namespace %s: not in %s, never seen, no counters", m, d->ns,
                      key_machines(d->ns).s);
        }
    }
}

static int forget_run(struct disp *d, const char **args, int nargs)
{
    if (nargs == 0) {
        disp_errf("forget: name at least one machine (see forget --help)");
        return EXIT_USAGE;
    }
    struct strvec names = {0};
    int rc = 0;
    for (int i = 0; i < nargs; i++) {
        if (!job_machine_valid(args[i])) {
            disp_errf("forget: '%s' is not a machine name: use 1 to %d of A-Z a-z 0-9 . _ -; nothing changed", args[i],
                      JOB_MACHINE_MAX);
            rc = EXIT_USAGE;
            goto out;
        }
        if (strvec_find(&names, args[i]) < 0)
            strvec_push(&names, args[i]);
    }
    if (names.n > DISP_MAX_MACHINES) {
        disp_errf("forget: at most %d machines at once; nothing changed", DISP_MAX_MACHINES);
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = disp_connect(d)))
        goto out;
    struct rargs a = {0};
    rargs_add(&a, "EVAL");
    rargs_add(&a, forget_lua);
    rargs_addf(&a, "%zu", 2 + 4 * names.n);
    rargs_addc(&a, key_machines(d->ns).s);
    rargs_addc(&a, key_lastseen(d->ns).s);
    for (size_t i = 0; i < names.n; i++) {
        rargs_addc(&a, key_worker(d->ns, names.v[i]).s);
        rargs_addc(&a, key_queue(d->ns, names.v[i]).s);
        rargs_addc(&a, key_running(d->ns, names.v[i]).s);
        rargs_addc(&a, key_metrics(d->ns, names.v[i]).s);
    }
    for (size_t i = 0; i < names.n; i++)
        rargs_add(&a, names.v[i]);
    redisReply *r;
    rc = disp_command(d, &a, &r);
    rargs_free(&a);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        disp_errf("forget: unexpected reply from the forget script");
        rc = EXIT_RUNTIME;
    } else if (!strcmp(str_at(r, 0), "refused")) {
        print_refusals(d, r);
        disp_errf("forget: nothing changed");
        rc = EXIT_USAGE;
    } else {
        for (size_t i = 0; i < names.n; i++) {
            const char *seen = str_at(r, i + 1);
            printf("%s forgotten (%s%s; out of %s and %s, %s deleted)\n", names.v[i], *seen ? "last seen " : "never seen",
                   seen, key_machines(d->ns).s, key_lastseen(d->ns).s, key_metrics(d->ns, names.v[i]).s);
        }
    }
    freeReplyObject(r);
out:
    strvec_free(&names);
    return rc;
}

const struct disp_cmd forget_cmd = {
    .name = "forget",
    .synopsis = "forget MACHINE...",
    .summary = "take retired machines out of the namespace (placement, status, metrics)",
    .description =
        "Removes each machine from NS:machines (the placement targets of submit without --machines)\n"
        "and NS:lastseen, and deletes its counters NS:metrics:MACHINE. The machine fields of job\n"
        "hashes and results stay (where experiments ran). Refused, with nothing changed for any\n"
        "machine named (exit 2), while a machine has a live worker (NS:worker:MACHINE exists: stop it\n"
        "first), holds experiments in its queue or running list (move them with 'dispatcher recover\n"
        "--reroute' first), or is not known at all (a typo). Check and deletes are one Lua script, so\n"
        "a worker starting meanwhile is either refused for or registers its machine again after.\n",
    .opts = NULL,
    .run = forget_run,
};
