/* route: where each id would go under the `hash` strategy (SPEC "Placement"), read-only. With
 * --machines it needs no Redis at all; otherwise it reads the registered machines. Weights given
 * with --machines (gpu1=2) make it the weighted rendezvous hash that submit uses (strategy.h).
 * The other strategies depend on the queues at the moment of submission, so route cannot
 * predict them (submit --dry-run shows what they would do now). */
#include <stdio.h>
#include <stdlib.h>

#include "disp.h"
#include "job.h"
#include "strategy.h"
#include "xalloc.h"

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
    struct strvec machines = {0};
    int rc = disp_machines(d, &machines);
    if (rc == 0 && machines.n == 0) {
        disp_errf("no machines: pass --machines or start a worker first");
        rc = EXIT_USAGE;
    }
    double *w = xcalloc(machines.n + 1, sizeof *w);
    for (size_t i = 0; i < machines.n; i++)
        w[i] = disp_weight(d, machines.v[i]);
    for (int i = 0; rc == 0 && i < nargs; i++)
        printf("%s %s\n", args[i],
               machines.v[place_hash_weighted(args[i], (const char *const *)machines.v, w, machines.n)]);
    free(w);
    strvec_free(&machines);
    return rc;
}

const struct disp_cmd route_cmd = {
    .name = "route",
    .synopsis = "route [--machines a,b,c|a=W,b=W] ID...",
    .summary = "print the machine each id goes to under the hash strategy",
    .description = "Prints \"ID MACHINE\" for each id, as submit --strategy hash would place it over\n"
                   "--machines (default: the set NS:machines), weighted when --machines gives weights\n"
                   "(gpu1=2,gpu2=1). Changes nothing. least-loaded and model depend on the queues at the\n"
                   "moment of submission: submit --dry-run shows what they would do now.\n",
    .opts = NULL,
    .run = route_run,
};
