/* route: where each id would go under the `hash` strategy (SPEC "Placement"), read-only. With
 * --machines it needs no Redis at all; otherwise it reads the registered machines. */
#include <stdio.h>

#include "disp.h"
#include "job.h"
#include "place.h"

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
    for (int i = 0; rc == 0 && i < nargs; i++)
        printf("%s %s\n", args[i], machines.v[place_hash(args[i], (const char *const *)machines.v, machines.n)]);
    strvec_free(&machines);
    return rc;
}

const struct disp_cmd route_cmd = {
    .name = "route",
    .synopsis = "route [--machines a,b,c] ID...",
    .summary = "print the machine each id goes to under the hash strategy",
    .description = "Prints \"ID MACHINE\" for each id, as submit --strategy hash would place it over\n"
                   "--machines (default: the set NS:machines). Changes nothing.\n",
    .opts = NULL,
    .run = route_run,
};
