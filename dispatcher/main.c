/* dispatcher: the command-line front end of turnq (SPEC "Binaries"). main only parses the
 * configuration and hands over to one subcommand module (submit.c, route.c, status.c, watch.c,
 * metrics.c, results.c, wait.c, cancel.c, retry.c, recover.c, forget.c); the shared context lives in
 * disp.c.
 *
 * Flags may stand before or after the subcommand, so the subcommand is found first by a scan that
 * knows which flags take a value; then the global table and the subcommand's own table are parsed
 * together in one cfg_parse call, which refuses any flag belonging to neither. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "disp.h"
#include "log.h"
#include "redisurl.h"
#include "version.h"
#include "xalloc.h"
#include "xalloc.h"

#define DISP_NS_DEFAULT "turnq"

static struct disp g_disp = {.ns = DISP_NS_DEFAULT};
static bool opt_help, opt_version;

static const struct cfg_opt global_opts[] = {
    {"redis", 0, "TURNQ_REDIS", CFG_STR, &g_disp.redis_url, 0, 0, "URL",
     "redis://[user:password@]host:port[/db] or unix:///path (default " REDISURL_DEFAULT "); "
     "with --sentinel only redis://[user:password@]/db"},
    {"sentinel", 0, "TURNQ_SENTINEL", CFG_STR, &g_disp.sentinel, 0, 0, "HOST:PORT,...",
     "find the Redis primary through these sentinels (each asked in turn)"},
    {"master", 0, "TURNQ_SENTINEL_MASTER", CFG_STR, &g_disp.master, 0, 0, "NAME",
     "with --sentinel: the master name the sentinels monitor"},
    {"sentinel-password", 0, "TURNQ_SENTINEL_PASSWORD", CFG_STR, &g_disp.sentinel_pass, 0, 0, "PASS",
     "with --sentinel: the sentinels' own requirepass (prefer the variable: argv is public)"},
    {"namespace", 0, "TURNQ_NAMESPACE", CFG_STR, &g_disp.ns, 0, 0, "NS",
     "prefix of every key (default " DISP_NS_DEFAULT ")"},
    {"machines", 0, "TURNQ_MACHINES", CFG_STR, &g_disp.machines_opt, 0, 0, "a,b,c",
     "machine names, each optionally NAME=WEIGHT for placement (gpu1=2,gpu2=1; default weight 1; "
     "default list: the set NS:machines that workers register in)"},
    {"verbose", 'v', NULL, CFG_COUNT, &g_disp.verbose, 0, 0, NULL, "log more (repeatable)"},
    {"help", 'h', NULL, CFG_BOOL, &opt_help, 0, 0, NULL, "print this help and exit"},
    {"version", 'V', NULL, CFG_BOOL, &opt_version, 0, 0, NULL, "print the version and exit"},
    {NULL},
};

static const struct disp_cmd *const cmds[] = {&submit_cmd, &route_cmd,   &status_cmd,  &watch_cmd,
                                              &metrics_cmd, &results_cmd, &wait_cmd,    &cancel_cmd,
                                              &retry_cmd,  &recover_cmd, &forget_cmd, NULL};
#define NCMDS_MAX 16 /* room in flag_takes_value's table list */

static const struct disp_cmd *find_cmd(const char *name)
{
    for (int i = 0; cmds[i]; i++)
        if (!strcmp(cmds[i]->name, name))
            return cmds[i];
    return NULL;
}

static void usage(FILE *f, const struct disp_cmd *cmd)
{
    if (cmd) {
        fprintf(f, "Usage: dispatcher %s\n\n%s", cmd->synopsis, cmd->description);
        if (cmd->opts && cmd->opts[0].name) {
            fprintf(f, "\nFlags:\n");
            cfg_print_options(f, cmd->opts);
        }
        fprintf(f, "\nGlobal flags (before or after the subcommand):\n");
        cfg_print_options(f, global_opts);
        return;
    }
    fprintf(f, "Usage: dispatcher [FLAGS] COMMAND [FLAGS] [ARGS]\n\n"
               "Puts turnq experiments on per-machine Redis queues and follows them.\n\nCommands:\n");
    for (int i = 0; cmds[i]; i++)
        fprintf(f, "  %-9s %s\n", cmds[i]->name, cmds[i]->summary);
    fprintf(f, "\nGlobal flags (before or after the subcommand):\n");
    cfg_print_options(f, global_opts);
    fprintf(f, "\nExit codes: 0 success; 1 runtime failure (wait saw a failed experiment or timed out);\n"
               "2 usage or validation error (nothing was changed); 3 Redis cannot be reached or refuses\n"
               "access (wrong password, an ACL user without a permission turnq needs: NOPERM).\n"
               "Run 'dispatcher COMMAND --help' for the flags of one command.\n");
}

/* Whether the flag `a` (as written in argv) takes a value in any table, so the scan for the
 * subcommand can step over that value. */
static bool flag_takes_value(const char *a)
{
    const struct cfg_opt *tables[NCMDS_MAX + 1];
    int nt = 0;
    tables[nt++] = global_opts;
    for (int i = 0; cmds[i] && nt < NCMDS_MAX + 1; i++)
        if (cmds[i]->opts)
            tables[nt++] = cmds[i]->opts;
    for (int t = 0; t < nt; t++) {
        for (const struct cfg_opt *o = tables[t]; o->name; o++) {
            bool valued = o->type != CFG_BOOL && o->type != CFG_COUNT;
            if (a[1] == '-') {
                if (!strchr(a, '=') && !strcmp(a + 2, o->name))
                    return valued;
            } else if (o->short_name && a[1] == o->short_name) {
                return valued && a[2] == '\0';
            }
        }
    }
    return false;
}

static int find_subcommand(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            return i + 1 < argc ? i + 1 : -1;
        if (a[0] != '-' || a[1] == '\0')
            return i;
        if (flag_takes_value(a))
            i++;
    }
    return -1;
}

/* Returns a new table (caller frees): the global flags followed by extra's. */
static struct cfg_opt *merge_opts(const struct cfg_opt *extra)
{
    size_t ng = 0, ne = 0;
    while (global_opts[ng].name)
        ng++;
    while (extra && extra[ne].name)
        ne++;
    struct cfg_opt *all = xcalloc(ng + ne + 1, sizeof *all);
    memcpy(all, global_opts, ng * sizeof *all);
    if (ne)
        memcpy(all + ng, extra, ne * sizeof *all);
    return all;
}

int main(int argc, char **argv)
{
    log_init("dispatcher");
    /* jansson's allocations too: out of memory is one clear abort, never a NULL dereferenced. */
    json_set_alloc_funcs(xmalloc, free);
    /* A Redis server that closes the socket must give an error reply, not kill us silently. */
    signal(SIGPIPE, SIG_IGN);

    int at = find_subcommand(argc, argv);
    const struct disp_cmd *cmd = at > 0 ? find_cmd(argv[at]) : NULL;
    struct cfg_opt *opts = merge_opts(cmd ? cmd->opts : NULL);
    const char **pos = xcalloc((size_t)argc + 1, sizeof *pos);
    int npos = 0, rc;
    char err[ERR_LEN];

    if (cfg_parse(opts, argc, argv, 1, pos, argc, &npos, err) < 0) {
        /* cfg's message names the flag (and the closest one); where to look is ours to say. */
        disp_errf("%s (see dispatcher%s%s --help)", err, cmd ? " " : "", cmd ? cmd->name : "");
        rc = EXIT_USAGE;
        goto out;
    }
    if (opt_version) {
        printf("dispatcher %s\n", TURNQ_VERSION);
        rc = EXIT_OK;
        goto out;
    }
    if (opt_help) {
        usage(stdout, cmd);
        rc = EXIT_OK;
        goto out;
    }
    if (npos == 0) {
        disp_errf("no command given (see dispatcher --help)");
        rc = EXIT_USAGE;
        goto out;
    }
    if (!cmd) {
        char names[256] = "";
        for (int i = 0, len = 0; cmds[i] && len < (int)sizeof names; i++)
            len += snprintf(names + len, sizeof names - (size_t)len, "%s%s", i ? ", " : "", cmds[i]->name);
        disp_errf("unknown command '%s' (commands: %s; see --help)", pos[0], names);
        rc = EXIT_USAGE;
        goto out;
    }
    log_level = LOG_WARN + g_disp.verbose > LOG_DEBUG ? LOG_DEBUG : LOG_WARN + g_disp.verbose;
    /* An empty TURNQ_MACHINES (compose files often set it to "") means "not set". */
    if (g_disp.machines_opt && !*g_disp.machines_opt)
        g_disp.machines_opt = NULL;
    if ((rc = disp_setup(&g_disp)) == 0)
        rc = cmd->run(&g_disp, pos + 1, npos - 1);
    disp_close(&g_disp);
out:
    if (fflush(stdout) != 0 && rc == EXIT_OK)
        rc = EXIT_RUNTIME; /* e.g. stdout closed early: the output is incomplete */
    free(pos);
    free(opts);
    return rc;
}
