/* route: where each id goes (SPEC "Placement"), read-only. For an id not yet submitted, the
 * machine the `hash` strategy would pick; for one already submitted, the machine it is on (its
 * job hash's `machine`), which may differ from the hash's choice: it was placed by another
 * strategy (mod, least-loaded, model), pinned by its spec, rerouted by recover, or submitted over
 * another machine list. Then the hash's choice follows in parentheses, so the output never passes
 * off a prediction as a placement.
 *
 * With --machines it can do without Redis: when Redis cannot be reached it prints the hash's
 * choice for every id, with one warning that submitted placements were not looked up. Without
 * --machines it reads the registered machines. Weights given with --machines (gpu1=2) make it the
 * weighted rendezvous hash that submit uses (strategy.h). The other strategies depend on the
 * queues at the moment of submission, so route cannot predict them (submit --dry-run shows what
 * they would do now). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disp.h"
#include "job.h"
#include "keys.h"
#include "strategy.h"
#include "xalloc.h"

/* Reads the job hash's machine of each id into where[i] (owned; NULL when not submitted or
 * placed nowhere), and where a --steal worker took it from into placed[i] (NULL when not stolen). */
static int read_where(struct disp *d, const char **ids, int n, char **where, char **placed)
{
    int rc = 0;
    for (int base = 0; base < n; base += DISP_PIPELINE) {
        int end = base + DISP_PIPELINE < n ? base + DISP_PIPELINE : n;
        for (int i = base; i < end; i++)
            disp_appendv(d, "HMGET", key_job(d->ns, ids[i]).s, "machine", "placed", NULL);
        for (int i = base; i < end; i++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                return rc;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
                redisReply *m = r->element[0], *pl = r->element[1];
                if (m->type == REDIS_REPLY_STRING && m->len > 0)
                    where[i] = xstrndup(m->str, m->len);
                if (where[i] && pl->type == REDIS_REPLY_STRING && pl->len > 0 && strcmp(pl->str, where[i]))
                    placed[i] = xstrndup(pl->str, pl->len);
            }
            freeReplyObject(r);
        }
    }
    return 0;
}

static int route_run(struct disp *d, const char **args, int nargs)
{
    if (nargs == 0) {
        disp_errf("route: name at least one experiment id (see route --help)");
        return EXIT_USAGE;
    }
    for (int i = 0; i < nargs; i++) {
        if (!job_id_valid(args[i])) {
            disp_errf("route: '%s' is not an experiment id: use 1 to %d of A-Z a-z 0-9 . _ : -", args[i], JOB_ID_MAX);
            return EXIT_USAGE;
        }
    }
    char **where = xcalloc((size_t)nargs, sizeof *where), **placed = xcalloc((size_t)nargs, sizeof *placed);
    struct strvec machines = {0};
    double *w = NULL;
    int rc = 0;
    char err[ERR_LEN];
    if (d->machines_given && disp_connect_quiet(d, err) != 0) {
        disp_warnf("route: cannot reach Redis (%s): the hash's choice only; where submitted ids are was not "
                   "looked up", err);
    } else if ((rc = disp_connect(d)) || (rc = read_where(d, args, nargs, where, placed))) {
        goto out;
    }
    if ((rc = disp_machines(d, &machines)))
        goto out;
    if (machines.n == 0) {
        for (int i = 0; i < nargs; i++) {
            if (!where[i]) {
                disp_errf("route: no machines to place '%s' on: pass --machines or start a worker first", args[i]);
                rc = EXIT_USAGE;
                goto out;
            }
        }
    }
    w = xcalloc(machines.n + 1, sizeof *w);
    for (size_t i = 0; i < machines.n; i++)
        w[i] = disp_weight(d, machines.v[i]);
    for (int i = 0; i < nargs; i++) {
        const char *hash = machines.n
            ? machines.v[place_hash_weighted(args[i], (const char *const *)machines.v, w, machines.n)] : NULL;
        if (!where[i])
            printf("%s %s\n", args[i], hash);
        else if (placed[i])
            printf("%s %s (submitted to %s, taken by %s's --steal worker)\n", args[i], where[i], placed[i], where[i]);
        else if (!hash)
            printf("%s %s (submitted; no machines for the hash)\n", args[i], where[i]);
        else if (strcmp(where[i], hash))
            printf("%s %s (submitted; hash would give %s)\n", args[i], where[i], hash);
        else
            printf("%s %s (submitted)\n", args[i], where[i]);
    }
out:
    for (int i = 0; i < nargs; i++) {
        free(where[i]);
        free(placed[i]);
    }
    free(where);
    free(placed);
    free(w);
    strvec_free(&machines);
    return rc;
}

const struct disp_cmd route_cmd = {
    .name = "route",
    .synopsis = "route [--machines a,b,c|a=W,b=W] ID...",
    .summary = "print the machine each id is on, or would go to under the hash strategy",
    .description = "Prints \"ID MACHINE\" for each id not yet submitted, as submit --strategy hash would\n"
                   "place it over --machines (default: the set NS:machines), weighted when --machines\n"
                   "gives weights (gpu1=2,gpu2=1). For an id already submitted it prints the machine it\n"
                   "is on: \"ID MACHINE (submitted)\", or \"ID MACHINE (submitted; hash would give OTHER)\"\n"
                   "when it was placed otherwise (mod, pinned, rerouted). Changes nothing. With\n"
                   "--machines and Redis unreachable: the hash's choice only, and a warning.\n"
                   "least-loaded and model depend on the queues at the moment of submission: submit\n"
                   "--dry-run shows what they would do now.\n",
    .opts = NULL,
    .run = route_run,
};
