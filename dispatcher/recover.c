/* recover: give the experiments a dead worker had claimed back to a queue.
 *
 * The owner's liveness decides, never a job's age: a machine whose heartbeat key NS:worker:M
 * exists has a worker, and what its running list holds is that worker's (it resumes them itself
 * after a crash and restart), so recover leaves it alone. For a machine without a heartbeat, each
 * id of NS:running:M goes back to a queue, first in line (RPUSH), its state queued and
 * `interrupted` counted when it had started (state running; an id claimed but never marked
 * running was not interrupted). The target is the machine itself, or with --reroute the machine
 * place_hash picks over the live machines (those with a heartbeat; --to narrows them). With
 * --reroute the dead machine's queued experiments move too, to the back of their new queue
 * (LPUSH), in their order. Experiments pinned by their spec's "machine" stay on it: a pin
 * overrides every strategy. A rerouted experiment resumes at its first uncommitted turn on the
 * new machine; the worker adds the machine to the job's `machines`, so the result names both.
 *
 * Rerouting prefers the live machines whose Ollama reports the experiment's model (from their
 * heartbeats), so a move cannot turn into an instant "model not found" failure; when none does,
 * it places over all live machines and says so.
 *
 * Order: the running list's right end is its oldest claim. The claims are put back so that the
 * oldest ends up at the very head of its queue (the next claimed), and they are printed oldest
 * first. Each dead machine is one Lua script, which first re-checks that its heartbeat is still
 * absent (a worker that came up meanwhile keeps everything) and moves only ids still where they
 * were read. Every key comes from keys.h, passed in KEYS. --dry-run prints the same lines and
 * writes nothing. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "disp.h"
#include "job.h"
#include "keys.h"
#include "place.h"
#include "xalloc.h"

static bool opt_reroute, opt_dry_run;
static const char *opt_to;

static const struct cfg_opt recover_opts[] = {
    {"reroute", 0, NULL, CFG_BOOL, &opt_reroute, 0, 0, NULL,
     "move them to live machines (rendezvous hash over those with a heartbeat), queued ones too"},
    {"to", 0, NULL, CFG_STR, &opt_to, 0, 0, "a,b", "with --reroute: only to these machines (each must be live)"},
    {"dry-run", 0, NULL, CFG_BOOL, &opt_dry_run, 0, 0, NULL, "print what would be moved; write nothing"},
    {NULL},
};

/* KEYS: 1 worker:M, 2 running:M, 3 queue:M, 4 events, then per item: its job hash, its target
 * queue. ARGV: 1 events maxlen, then per item: id, target machine, kind (c: claimed, from the
 * running list, goes first in line; q: queued, goes to the back). Returns {'alive'} when the
 * machine has a heartbeat again, else {'ok', verdict per item: moved | ended | gone}. */
static const char recover_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return {'alive'} end\n"
    "local out = {'ok'}\n"
    "local ended = {done = true, failed = true, cancelled = true}\n"
    "for i = 1, (#KEYS - 4) / 2 do\n"
    "  local jk, tq = KEYS[3 + 2 * i], KEYS[4 + 2 * i]\n"
    "  local id, target, kind = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]\n"
    "  local src = kind == 'q' and KEYS[3] or KEYS[2]\n"
    "  local v = 'gone'\n"
    "  if redis.call('LREM', src, 0, id) > 0 then\n"
    "    local h = redis.call('HMGET', jk, 'state', 'turn')\n"
    "    if kind == 'c' and h[1] and ended[h[1]] then\n"
    "      v = 'ended'\n"
    "    else\n"
    "      if kind == 'c' and h[1] == 'running' then redis.call('HINCRBY', jk, 'interrupted', 1) end\n"
    "      if h[1] then\n"
    "        if kind == 'c' then redis.call('HSET', jk, 'state', 'queued') end\n"
    "        redis.call('HSET', jk, 'machine', target)\n"
    "      end\n"
    "      if kind == 'q' then redis.call('LPUSH', tq, id) else redis.call('RPUSH', tq, id) end\n"
    "      redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[1], '*', 'id', id, 'event', 'requeued',\n"
    "                 'machine', target, 'turn', h[2] or '0')\n"
    "      v = 'moved'\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = v\n"
    "end\n"
    "return out\n";

struct item {
    char *id;
    bool claimed;        /* from the running list; else from the queue (--reroute) */
    char *state;         /* the job hash's state, NULL when there is no hash */
    long turn;           /* last committed turn */
    char *model;         /* the spec's model, NULL when unknown */
    bool pinned;         /* the spec pins it to its machine */
    const char *target;  /* borrowed: a machine name */
    const char *verdict; /* the script's answer (static), or NULL before */
};

struct mach {
    const char *name;   /* borrowed */
    bool alive;
    json_t *hb;         /* the heartbeat, when alive (new ref) */
    struct item *items; /* in the script's order: claims newest first, then queued head first */
    size_t n, cap;
    size_t pinned_queued; /* queued, pinned here: not moved */
    bool came_alive;      /* the script found a heartbeat */
};

static void add_item(struct mach *m, const char *id, bool claimed)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->items[i].id, id))
            return; /* listed twice: moved once */
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->items = xreallocarray(m->items, m->cap, sizeof *m->items);
    }
    m->items[m->n++] = (struct item){.id = xstrdup(id), .claimed = claimed};
}

static void mach_free(struct mach *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->items[i].id);
        free(m->items[i].state);
        free(m->items[i].model);
    }
    free(m->items);
    json_decref(m->hb);
}

/* ---- Reading ---- */

/* Reads the heartbeats of names[0..n) into alive/hb. */
static int read_heartbeats(struct disp *d, const struct strvec *names, bool *alive, json_t **hb)
{
    int rc;
    for (size_t i = 0; i < names->n; i++)
        disp_appendv(d, "GET", key_worker(d->ns, names->v[i]).s, NULL);
    for (size_t i = 0; i < names->n; i++) {
        redisReply *r;
        if ((rc = disp_reply(d, &r)))
            return rc;
        alive[i] = r->type == REDIS_REPLY_STRING;
        hb[i] = alive[i] ? json_loadb(r->str, r->len, 0, NULL) : NULL;
        freeReplyObject(r);
    }
    return 0;
}

/* Collects what a dead machine holds: its running list (and its queue with --reroute). */
static int read_lists(struct disp *d, struct mach *m)
{
    redisReply *run, *q = NULL;
    disp_appendv(d, "LRANGE", key_running(d->ns, m->name).s, "0", "-1", NULL);
    if (opt_reroute)
        disp_appendv(d, "LRANGE", key_queue(d->ns, m->name).s, "0", "-1", NULL);
    int rc = disp_reply(d, &run);
    if (rc == 0 && opt_reroute && (rc = disp_reply(d, &q)))
        freeReplyObject(run);
    if (rc)
        return rc;
    /* Claims: left to right is newest to oldest; RPUSHed in that order, the oldest ends up at
     * the head. Queued: the right end is the head; LPUSHed from there, the order is kept. */
    for (size_t i = 0; run->type == REDIS_REPLY_ARRAY && i < run->elements; i++)
        if (run->element[i]->type == REDIS_REPLY_STRING)
            add_item(m, run->element[i]->str, true);
    for (size_t i = q && q->type == REDIS_REPLY_ARRAY ? q->elements : 0; i-- > 0;)
        if (q->element[i]->type == REDIS_REPLY_STRING)
            add_item(m, q->element[i]->str, false);
    freeReplyObject(run);
    if (q)
        freeReplyObject(q);
    return 0;
}

/* Reads each item's state, turn and spec (for the pin and the model). */
static int read_items(struct disp *d, struct mach *m)
{
    int rc;
    for (size_t base = 0; base < m->n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < m->n ? base + DISP_PIPELINE : m->n;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "HMGET", key_job(d->ns, m->items[i].id).s, "state", "turn", "spec", NULL);
        for (size_t i = base; i < end; i++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r))) {
                while (++i < end)
                    if (disp_reply(d, &r) == 0)
                        freeReplyObject(r);
                return rc;
            }
            struct item *it = &m->items[i];
            redisReply **e = r->type == REDIS_REPLY_ARRAY && r->elements == 3 ? r->element : NULL;
            if (e && e[0]->type == REDIS_REPLY_STRING)
                it->state = xstrdup(e[0]->str);
            if (e && e[1]->type == REDIS_REPLY_STRING)
                it->turn = atol(e[1]->str);
            json_t *spec = e && e[2]->type == REDIS_REPLY_STRING ? json_loadb(e[2]->str, e[2]->len, 0, NULL) : NULL;
            const char *model = json_string_value(json_object_get(spec, "model"));
            it->model = model ? xstrdup(model) : NULL;
            it->pinned = json_is_string(json_object_get(spec, "machine"));
            json_decref(spec);
            freeReplyObject(r);
        }
    }
    return 0;
}

/* ---- Placement ---- */

/* Whether a heartbeat's Ollama lists the model ("qwen3" is "qwen3:latest", as Ollama has it). */
static bool hb_has_model(json_t *hb, const char *model)
{
    size_t k, ml = strlen(model);
    json_t *mo;
    bool untagged = !strchr(model, ':');
    json_array_foreach(json_object_get(json_object_get(hb, "ollama"), "models"), k, mo) {
        const char *name = json_string_value(json_object_get(mo, "name"));
        if (!name)
            continue;
        if (!strcmp(name, model) || (untagged && !strncmp(name, model, ml) && !strcmp(name + ml, ":latest")) ||
            (!strchr(name, ':') && !strncmp(model, name, strlen(name)) && !strcmp(model + strlen(name), ":latest")))
            return true;
    }
    return false;
}

/* Picks the item's target among the live machines live[0..nlive) (heartbeats hb). */
static const char *reroute_target(const struct item *it, const char *const *live, json_t *const *hb, size_t nlive,
                                  struct strvec *warned)
{
    const char **fit = xcalloc(nlive + 1, sizeof *fit);
    size_t nfit = 0;
    for (size_t i = 0; it->model && i < nlive; i++)
        if (hb_has_model(hb[i], it->model))
            fit[nfit++] = live[i];
    const char *target;
    if (nfit) {
        target = fit[place_hash(it->id, fit, nfit)];
    } else {
        if (it->model && strvec_find(warned, it->model) < 0) {
            strvec_push(warned, it->model);
            disp_warnf("recover: no live machine reports model %s: its experiments are placed over all live machines",
                       it->model);
        }
        target = live[place_hash(it->id, live, nlive)];
    }
    free(fit);
    return target;
}

/* ---- Writing ---- */

static int run_script(struct disp *d, struct mach *m)
{
    struct rargs a = {0};
    rargs_add(&a, "EVAL");
    rargs_add(&a, recover_lua);
    rargs_addf(&a, "%zu", 4 + 2 * m->n);
    rargs_addc(&a, key_worker(d->ns, m->name).s);
    rargs_addc(&a, key_running(d->ns, m->name).s);
    rargs_addc(&a, key_queue(d->ns, m->name).s);
    rargs_addc(&a, key_events(d->ns).s);
    for (size_t i = 0; i < m->n; i++) {
        rargs_addc(&a, key_job(d->ns, m->items[i].id).s);
        rargs_addc(&a, key_queue(d->ns, m->items[i].target).s);
    }
    rargs_addf(&a, "%d", KEYS_EVENTS_MAXLEN);
    for (size_t i = 0; i < m->n; i++) {
        rargs_add(&a, m->items[i].id);
        rargs_add(&a, m->items[i].target);
        rargs_add(&a, m->items[i].claimed ? "c" : "q");
    }
    redisReply *r;
    int rc = disp_command(d, &a, &r);
    rargs_free(&a);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->str &&
        !strcmp(r->element[0]->str, "alive")) {
        m->came_alive = true;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == m->n + 1) {
        for (size_t i = 0; i < m->n; i++) {
            const char *v = r->element[i + 1]->str ? r->element[i + 1]->str : "";
            m->items[i].verdict = !strcmp(v, "moved") ? "moved" : !strcmp(v, "ended") ? "ended" : "gone";
        }
    } else {
        disp_errf("recover: %s: unexpected reply from the recover script", m->name);
        rc = EXIT_RUNTIME;
    }
    freeReplyObject(r);
    return rc;
}

/* ---- Output ---- */

struct tally {
    size_t claimed, queued, ended, gone;
};

static void print_item(const struct mach *m, const struct item *it, struct tally *t)
{
    const char *pre = opt_dry_run ? "dry run: " : "";
    const char *v = opt_dry_run ? (it->claimed && disp_state_ended(it->state) ? "ended" : "moved") : it->verdict;
    if (!v)
        return;
    if (!strcmp(v, "gone")) {
        printf("%s left %s's %s meanwhile: not moved\n", it->id, m->name, it->claimed ? "running list" : "queue");
        t->gone++;
        return;
    }
    if (!strcmp(v, "ended")) {
        printf("%s%s (already %s) %s from %s's running list\n", pre, it->id, it->state,
               opt_dry_run ? "would be dropped" : "dropped", m->name);
        t->ended++;
        return;
    }
    char from[160];
    if (!it->claimed)
        snprintf(from, sizeof from, "queued on %s", m->name);
    else if (!it->state)
        snprintf(from, sizeof from, "claimed by %s, no job hash", m->name);
    else if (!strcmp(it->state, "running") && it->turn > 0)
        snprintf(from, sizeof from, "running on %s, turn %ld committed", m->name, it->turn);
    else if (!strcmp(it->state, "running"))
        snprintf(from, sizeof from, "running on %s, no turn committed", m->name);
    else
        snprintf(from, sizeof from, "claimed by %s, not started", m->name);
    printf("%s%s (%s) -> %s, %s%s%s\n", pre, it->id, from, it->target, it->claimed ? "first in line" : "back of the queue",
           opt_reroute && it->pinned ? ", pinned to " : "", opt_reroute && it->pinned ? m->name : "");
    if (it->claimed)
        t->claimed++;
    else
        t->queued++;
}

/* Prints a machine's moves, oldest claim first, then the queued ones from the head. */
static void print_mach(const struct mach *m, struct tally *t)
{
    if (m->came_alive) {
        printf("%s: a worker came up meanwhile: its running experiments are its own; nothing moved\n", m->name);
        return;
    }
    size_t nclaimed = 0;
    while (nclaimed < m->n && m->items[nclaimed].claimed)
        nclaimed++;
    for (size_t i = nclaimed; i-- > 0;)
        print_item(m, &m->items[i], t);
    for (size_t i = nclaimed; i < m->n; i++)
        print_item(m, &m->items[i], t);
    if (m->pinned_queued)
        printf("%s: %zu queued experiment%s pinned to %s stay%s in its queue\n", m->name, m->pinned_queued,
               m->pinned_queued == 1 ? "" : "s", m->name, m->pinned_queued == 1 ? "s" : "");
    if (m->n == 0 && m->pinned_queued == 0)
        printf("%s: no live worker, and nothing %s\n", m->name, opt_reroute ? "claimed or queued" : "claimed");
}

/* ---- Subcommand ---- */

static int parse_to(struct strvec *to)
{
    char err[ERR_LEN];
    const char *items[DISP_MAX_MACHINES];
    char *copy = xstrdup(opt_to);
    int n = cfg_split_list(copy, items, DISP_MAX_MACHINES, err), rc = 0;
    if (n < 0) {
        disp_errf("--to: %s", err);
        rc = EXIT_USAGE;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!job_machine_valid(items[i])) {
            disp_errf("--to: '%s' is not a machine name: use 1 to %d of A-Z a-z 0-9 . _ -", items[i], JOB_MACHINE_MAX);
            rc = EXIT_USAGE;
        } else if (strvec_find(to, items[i]) < 0) {
            strvec_push(to, items[i]);
        }
    }
    free(copy);
    return rc;
}

static int recover_run(struct disp *d, const char **args, int nargs)
{
    if (nargs) {
        disp_errf("recover: unexpected argument '%s' (it takes no ids; --machines names the machines to recover)",
                  args[0]);
        return EXIT_USAGE;
    }
    if (opt_to && !opt_reroute) {
        disp_errf("--to: only with --reroute");
        return EXIT_USAGE;
    }
    struct strvec to = {0}, targets = {0}, names = {0}, warned = {0};
    struct mach *ms = NULL;
    bool *alive = NULL;
    json_t **hb = NULL;
    int rc = opt_to ? parse_to(&to) : 0;
    if (rc || (rc = disp_connect(d)))
        goto out;
    if ((rc = disp_machines(d, &names)))
        goto out;
    if (names.n == 0) {
        printf("recover: no machines (none registered in %s; --machines names some)\n", key_machines(d->ns).s);
        goto out;
    }
    /* Every machine whose liveness matters: the ones to recover and the candidate targets. */
    if (to.n) {
        for (size_t i = 0; i < to.n; i++)
            strvec_push(&targets, to.v[i]);
    } else if (opt_reroute && (rc = disp_registered_machines(d, &targets))) {
        goto out;
    }
    for (size_t i = 0; i < names.n; i++)
        if (strvec_find(&targets, names.v[i]) < 0)
            strvec_push(&targets, names.v[i]);
    strvec_sort(&targets);
    alive = xcalloc(targets.n + 1, sizeof *alive);
    hb = xcalloc(targets.n + 1, sizeof *hb);
    if ((rc = read_heartbeats(d, &targets, alive, hb)))
        goto out;
    const char **live = xcalloc(targets.n + 1, sizeof *live);
    json_t **live_hb = xcalloc(targets.n + 1, sizeof *live_hb);
    size_t nlive = 0;
    for (size_t i = 0; i < targets.n; i++) {
        if (to.n && strvec_find(&to, targets.v[i]) < 0)
            continue;
        if (!alive[i] && to.n) {
            disp_errf("--to: %s has no live worker (no %s heartbeat); nothing changed", targets.v[i],
                      key_worker(d->ns, targets.v[i]).s);
            rc = EXIT_USAGE;
        }
        if (alive[i]) {
            live[nlive] = targets.v[i];
            live_hb[nlive++] = hb[i];
        }
    }

    ms = xcalloc(names.n, sizeof *ms);
    size_t nalive = 0, ndead = 0;
    bool need_live = false;
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        struct mach *m = &ms[i];
        long at = strvec_find(&targets, names.v[i]);
        m->name = names.v[i];
        m->alive = alive[at];
        m->hb = hb[at] ? json_incref(hb[at]) : NULL;
        if (m->alive) {
            nalive++;
            continue;
        }
        ndead++;
        if ((rc = read_lists(d, m)) || (rc = read_items(d, m)))
            break;
        /* A pinned queued experiment is not moved; drop it from the list. */
        size_t k = 0;
        for (size_t j = 0; j < m->n; j++) {
            struct item *it = &m->items[j];
            if (!it->claimed && it->pinned) {
                m->pinned_queued++;
                free(it->id);
                free(it->state);
                free(it->model);
                continue;
            }
            m->items[k++] = *it;
        }
        m->n = k;
        for (size_t j = 0; j < m->n; j++)
            need_live = need_live || (opt_reroute && !m->items[j].pinned);
    }
    if (rc)
        goto out_live;
    if (need_live && nlive == 0) {
        disp_errf("recover: no live machine to reroute to (no worker heartbeat on %s); nothing changed",
                  to.n ? "any --to machine" : "any registered machine");
        rc = EXIT_USAGE;
        goto out_live;
    }
    for (size_t i = 0; i < names.n; i++) {
        struct mach *m = &ms[i];
        for (size_t j = 0; !m->alive && j < m->n; j++) {
            struct item *it = &m->items[j];
            it->target = opt_reroute && !it->pinned ? reroute_target(it, live, live_hb, nlive, &warned) : m->name;
        }
    }

    struct tally t = {0};
    for (size_t i = 0; i < names.n; i++) {
        struct mach *m = &ms[i];
        if (m->alive) {
            printf("%s: worker alive (pid %" JSON_INTEGER_FORMAT " on %s): its running experiments are its own\n",
                   m->name, json_integer_value(json_object_get(m->hb, "pid")),
                   json_string_value(json_object_get(m->hb, "host")) ? json_string_value(json_object_get(m->hb, "host"))
                                                                      : "?");
            continue;
        }
        if (!opt_dry_run && m->n && (rc = run_script(d, m)))
            goto out_live;
        print_mach(m, &t);
    }
    printf("recover: %s%zu moved (%zu claimed, first in line; %zu queued, to the back of another queue)",
           opt_dry_run ? "dry run, nothing written: would have " : "", t.claimed + t.queued, t.claimed, t.queued);
    if (t.ended)
        printf(", %zu dropped (already ended)", t.ended);
    if (t.gone)
        printf(", %zu left meanwhile", t.gone);
    printf("; %zu machine%s without a live worker, %zu alive (left alone)\n", ndead, ndead == 1 ? "" : "s", nalive);
out_live:
    free(live);
    free(live_hb);
out:
    for (size_t i = 0; ms && i < names.n; i++)
        mach_free(&ms[i]);
    free(ms);
    for (size_t i = 0; hb && i < targets.n; i++)
        json_decref(hb[i]);
    free(hb);
    free(alive);
    strvec_free(&to);
    strvec_free(&targets);
    strvec_free(&names);
    strvec_free(&warned);
    return rc;
}

const struct disp_cmd recover_cmd = {
    .name = "recover",
    .synopsis = "recover [--reroute [--to a,b]] [--machines a,b] [--dry-run]",
    .summary = "put the experiments a dead worker had claimed back in a queue (optionally on live machines)",
    .description =
        "For each machine (NS:machines, or --machines): if its worker is alive (its heartbeat key\n"
        "NS:worker:MACHINE exists), nothing is touched: its running experiments are its own, whatever\n"
        "their age. Otherwise every experiment in its running list goes back first in line in a\n"
        "queue, state queued, `interrupted` counted (oldest claim first): the machine's own queue, or\n"
        "with --reroute the live machine the rendezvous hash picks among those whose Ollama has the\n"
        "experiment's model (all live machines when none has it; --to narrows the choice). With\n"
        "--reroute the dead machine's queued experiments move too, to the back of their new queue, in\n"
        "their order. Experiments pinned by their spec's \"machine\" stay on it. A moved experiment\n"
        "resumes at its first uncommitted turn; its result lists every machine it ran on.\n"
        "Each machine is one atomic script that re-checks the heartbeat is still absent.\n"
        "Prints one line per experiment moved (\"A1 (running on gpu2, turn 3 committed) -> gpu1, first\n"
        "in line\") and a summary; --dry-run prints the same and writes nothing. With --reroute and no\n"
        "live machine: exit 2, nothing changed.\n",
    .opts = recover_opts,
    .run = recover_run,
};
