/* worker: parse the configuration, set up signals, run the loop (CONVENTIONS rule 1). */
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "err.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "mcp.h"
#include "mcpset.h"
#include "redisurl.h"
#include "sentinel.h"
#include "version.h"
#include "worker.h"
#include "xalloc.h"

#define DEF_OLLAMA "http://127.0.0.1:11434"
#define DEF_NS "turnq"
#define DEF_SLOTS 1
#define DEF_MAX_ATTEMPTS 3
#define DEF_MAX_INTERRUPTIONS 10
#define DEF_LOAD_TIMEOUT_S 600.0
#define DEF_IDLE_TIMEOUT_S 300.0
#define DEF_ENV_TIMEOUT_S 60.0
#define DEF_GRACE_S 30.0
#define DEF_METRICS_INTERVAL_S 10.0
#define DEF_MCP_TIMEOUT_S 30.0
#define DEF_MCP_START_TIMEOUT_S 120.0

static struct {
    const char *redis, *sentinel, *master, *sentinel_pass, *ns, *machine, *ollama, *env_url, *env_cmd,
        *metrics_file, *mcp_workdir;
    struct cfg_list mcp, mcp_deny;
    long slots, max_attempts, max_interruptions;
    double load_timeout_s, idle_timeout_s, env_timeout_s, grace_s, metrics_interval_s, mcp_timeout_s,
        mcp_start_timeout_s;
    bool exit_when_idle, steal, help, version;
    int verbose;
} opt = {
    .ns = DEF_NS, .ollama = DEF_OLLAMA, .slots = DEF_SLOTS,
    .max_attempts = DEF_MAX_ATTEMPTS, .max_interruptions = DEF_MAX_INTERRUPTIONS, .load_timeout_s = DEF_LOAD_TIMEOUT_S,
    .idle_timeout_s = DEF_IDLE_TIMEOUT_S, .env_timeout_s = DEF_ENV_TIMEOUT_S, .grace_s = DEF_GRACE_S,
    .metrics_interval_s = DEF_METRICS_INTERVAL_S,
    .mcp_timeout_s = DEF_MCP_TIMEOUT_S, .mcp_start_timeout_s = DEF_MCP_START_TIMEOUT_S,
};

static const struct cfg_opt opts[] = {
    {"redis", 0, "TURNQ_REDIS", CFG_STR, &opt.redis, 0, 0, "URL", "Redis: redis://[user:pass@]host:port[/db] or unix:///path (default " REDISURL_DEFAULT "); with --sentinel only redis://[user:pass@]/db"},
    {"sentinel", 0, "TURNQ_SENTINEL", CFG_STR, &opt.sentinel, 0, 0, "HOST:PORT,...", "find the Redis primary through these sentinels and follow it after a failover"},
    {"master", 0, "TURNQ_SENTINEL_MASTER", CFG_STR, &opt.master, 0, 0, "NAME", "with --sentinel: the master name the sentinels monitor"},
    {"sentinel-password", 0, "TURNQ_SENTINEL_PASSWORD", CFG_STR, &opt.sentinel_pass, 0, 0, "PASS", "with --sentinel: the sentinels' own requirepass (prefer the variable: argv is public)"},
    {"namespace", 0, "TURNQ_NAMESPACE", CFG_STR, &opt.ns, 0, 0, "NS", "prefix of every key (default " DEF_NS ")"},
    {"machine", 0, "TURNQ_MACHINE", CFG_STR, &opt.machine, 0, 0, "NAME", "this machine's name (default: the host name)"},
    {"ollama", 0, "TURNQ_OLLAMA", CFG_STR, &opt.ollama, 0, 0, "URL", "this machine's Ollama (default " DEF_OLLAMA ")"},
    {"slots", 0, "TURNQ_SLOTS", CFG_INT, &opt.slots, 1, 1024, "N", "experiments at once; match OLLAMA_NUM_PARALLEL (default 1)"},
    {"env-url", 0, "TURNQ_ENV_URL", CFG_STR, &opt.env_url, 0, 0, "URL", "the environment, one HTTP POST per request"},
    {"env-cmd", 0, "TURNQ_ENV_CMD", CFG_STR, &opt.env_cmd, 0, 0, "'PROG ARGS'", "the environment, a JSON Lines process per attempt"},
    {"env-timeout", 0, "TURNQ_ENV_TIMEOUT", CFG_DOUBLE, &opt.env_timeout_s, 0.1, 86400, "S", "longest wait for an environment answer (default 60)"},
    {"mcp", 0, "TURNQ_MCP", CFG_LIST, &opt.mcp, 0, 0, "'[NAME:] PROG ARGS'", "an MCP tool server started per attempt (repeatable; several in one value split by ;)"},
    {"mcp-deny", 0, "TURNQ_MCP_DENY", CFG_LIST, &opt.mcp_deny, 0, 0, "NAME", "hide an MCP tool: NAME or SERVER:NAME (repeatable, comma-separated)"},
    {"mcp-timeout", 0, "TURNQ_MCP_TIMEOUT", CFG_DOUBLE, &opt.mcp_timeout_s, 0.1, 86400, "S", "longest wait for one MCP tool call (default 30)"},
    {"mcp-start-timeout", 0, "TURNQ_MCP_START_TIMEOUT", CFG_DOUBLE, &opt.mcp_start_timeout_s, 0.1, 86400, "S", "longest MCP server start, to its tools listed (default 120)"},
    {"mcp-workdir", 0, "TURNQ_MCP_WORKDIR", CFG_STR, &opt.mcp_workdir, 0, 0, "DIR", "where MCP servers' working directories are made (default $TMPDIR or /tmp)"},
    {"max-attempts", 0, "TURNQ_MAX_ATTEMPTS", CFG_INT, &opt.max_attempts, 1, 1000, "N", "attempts failing on errors before an experiment fails (default 3)"},
    {"max-interruptions", 0, "TURNQ_MAX_INTERRUPTIONS", CFG_INT, &opt.max_interruptions, 0, 100000, "N", "starts cut short by crashes or stops before an experiment fails (default 10)"},
    {"load-timeout", 0, "TURNQ_LOAD_TIMEOUT", CFG_DOUBLE, &opt.load_timeout_s, 0.1, 86400, "S", "wait for a call's first byte, a cold model load (default 600)"},
    {"idle-timeout", 0, "TURNQ_IDLE_TIMEOUT", CFG_DOUBLE, &opt.idle_timeout_s, 0.1, 86400, "S", "longest silence in a streaming call (default 300)"},
    {"grace", 0, "TURNQ_GRACE", CFG_DOUBLE, &opt.grace_s, 0, 86400, "S", "on SIGTERM, wait this long for running turns to end (default 30)"},
    {"metrics-file", 0, "TURNQ_METRICS_FILE", CFG_STR, &opt.metrics_file, 0, 0, "PATH", "keep PATH written with this machine's Prometheus metrics (node_exporter textfile)"},
    {"metrics-interval", 0, "TURNQ_METRICS_INTERVAL", CFG_DOUBLE, &opt.metrics_interval_s, 0.1, 3600, "S", "how often --metrics-file is rewritten (default 10)"},
    {"steal", 0, "TURNQ_STEAL", CFG_BOOL, &opt.steal, 0, 0, NULL, "when idle, take a never-started experiment from another queue: the largest estimate, ties from the longest queue"},
    {"exit-when-idle", 0, NULL, CFG_BOOL, &opt.exit_when_idle, 0, 0, NULL, "exit 0 once the queue and running list are empty"},
    {"verbose", 'v', NULL, CFG_COUNT, &opt.verbose, 0, 0, NULL, "more log (-v info and debug of each step)"},
    {"version", 'V', NULL, CFG_BOOL, &opt.version, 0, 0, NULL, "print the version"},
    {"help", 'h', NULL, CFG_BOOL, &opt.help, 0, 0, NULL, "this help"},
    {NULL},
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f, "usage: worker [options]\n\n"
               "Runs this machine's turnq experiments against its own Ollama: claims them from\n"
               "NS:queue:MACHINE, runs every turn, commits each, writes the result.\n\n"
               "options (flag, then environment variable, then default):\n");
    cfg_print_options(f, opts);
    exit(status);
}

static void die_config(const char *msg)
{
    fprintf(stderr, "worker: %s\n", msg);
    exit(EXIT_USAGE);
}

/* The environment program must exist now: a typo would otherwise fail every experiment of the
 * queue, one after the other. */
static int check_program(const char *cmd, char err[ERR_LEN])
{
    char prog[1024];
    size_t n = strcspn(cmd + strspn(cmd, " \t"), " \t");
    const char *start = cmd + strspn(cmd, " \t");
    if (n == 0 || n >= sizeof prog) {
        set_err(err, "--env-cmd: no program to run");
        return -1;
    }
    memcpy(prog, start, n);
    prog[n] = '\0';
    if (strchr(prog, '/')) {
        if (access(prog, X_OK) == 0)
            return 0;
        set_err(err, "--env-cmd: '%s' is not an executable file", prog);
        return -1;
    }
    const char *path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        char full[2048];
        snprintf(full, sizeof full, "%.*s/%s", (int)len, path, prog);
        if (len && access(full, X_OK) == 0)
            return 0;
        path += len + (path[len] == ':');
    }
    set_err(err, "--env-cmd: '%s' is not found on PATH", prog);
    return -1;
}

/* The directory of --metrics-file must exist and be writable now: the file is replaced by a
 * rename from a temporary file beside it. */
static int check_dir(const char *path, char err[ERR_LEN])
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) < 0) {
        set_err(err, "--metrics-file: directory '%s' is not writable: %s", dir, strerror(errno));
        return -1;
    }
    if (slash && !slash[1]) {
        set_err(err, "--metrics-file: '%s' names a directory, not a file", path);
        return -1;
    }
    return 0;
}

static struct worker *the_worker;

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    static int count;
    log_info("signal %d", w->signum);
    worker_stop(the_worker, ++count > 1);
}

int main(int argc, char **argv)
{
    log_init("worker");
    /* jansson's allocations too: out of memory is one clear abort, never a NULL dereferenced. */
    json_set_alloc_funcs(xmalloc, free);
    char err[ERR_LEN];
    const char *pos[1];
    int npos;
    if (cfg_parse(opts, argc, argv, 1, pos, 0, &npos, err) < 0) {
        fprintf(stderr, "worker: %s (see worker --help)\n", err);
        return EXIT_USAGE;
    }
    if (opt.help)
        usage(EXIT_OK);
    if (opt.version) {
        printf("turnq worker %s\n", TURNQ_VERSION);
        return EXIT_OK;
    }
    log_level = LOG_INFO + opt.verbose > LOG_DEBUG ? LOG_DEBUG : LOG_INFO + opt.verbose;
    if (getenv("LOG_LEVEL") && !strcmp(getenv("LOG_LEVEL"), "debug"))
        log_level = LOG_DEBUG;

    struct worker_cfg cfg = {
        .ns = opt.ns, .ollama_url = opt.ollama, .slots = opt.slots, .exit_when_idle = opt.exit_when_idle, .steal = opt.steal,
        .max_attempts = opt.max_attempts, .max_interruptions = opt.max_interruptions, .load_timeout_s = opt.load_timeout_s,
        .idle_timeout_s = opt.idle_timeout_s, .grace_s = opt.grace_s,
        .metrics_file = opt.metrics_file && *opt.metrics_file ? opt.metrics_file : NULL,
        .metrics_interval_s = opt.metrics_interval_s,
        .env = {.url = opt.env_url, .cmd = opt.env_cmd, .timeout_s = opt.env_timeout_s},
    };
    if (sentinel_setup(opt.redis, opt.sentinel, opt.master, opt.sentinel_pass, &cfg.redis, err) < 0)
        die_config(err);
    if (!keys_ns_valid(opt.ns))
        die_config("--namespace: letters, digits and . _ - only (1 to 64)");
    static char host[256];
    if (!opt.machine) {
        gethostname(host, sizeof host - 1);
        opt.machine = host;
    }
    if (!job_machine_valid(opt.machine)) {
        snprintf(err, sizeof err, "--machine: '%s' is not a machine name: letters, digits and . _ - (1 to 64)",
                 opt.machine);
        die_config(err);
    }
    cfg.machine = opt.machine;
    if (strncmp(opt.ollama, "http://", 7) && strncmp(opt.ollama, "https://", 8))
        die_config("--ollama: must be an http:// or https:// URL, e.g. http://127.0.0.1:11434");
    if (opt.env_url && opt.env_cmd)
        die_config("--env-url and --env-cmd: give one environment, not both");
    if (opt.env_url && strncmp(opt.env_url, "http://", 7) && strncmp(opt.env_url, "https://", 8))
        die_config("--env-url: must be an http:// or https:// URL");
    if (opt.env_cmd && check_program(opt.env_cmd, err) < 0)
        die_config(err);
    if (opt.metrics_file && *opt.metrics_file && check_dir(opt.metrics_file, err) < 0)
        die_config(err);
    static struct mcpset_cfg mcp_cfg;
    mcp_cfg.timeout_s = opt.mcp_timeout_s;
    mcp_cfg.start_timeout_s = opt.mcp_start_timeout_s;
    mcp_cfg.workdir = opt.mcp_workdir;
    for (int i = 0; i < opt.mcp.n; i++)
        if (mcpset_cfg_add(&mcp_cfg, opt.mcp.v[i], err) < 0)
            die_config(err);
    for (int i = 0; i < opt.mcp_deny.n; i++)
        if (mcpset_cfg_deny(&mcp_cfg, opt.mcp_deny.v[i], err) < 0)
            die_config(err);
    if (opt.mcp_workdir && access(opt.mcp_workdir, W_OK | X_OK) < 0) {
        snprintf(err, sizeof err, "--mcp-workdir: '%.180s' is not a directory this worker can write", opt.mcp_workdir);
        die_config(err);
    }
    cfg.mcp = &mcp_cfg;

    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_default_loop(0);
    char where[512];
    redisurl_redacted(&cfg.redis, where, sizeof where);
    log_info("turnq worker %s: machine %s, redis %s, namespace %s, ollama %s, slots %ld, environment %s%s",
             TURNQ_VERSION, cfg.machine, where, cfg.ns, cfg.ollama_url, cfg.slots,
             opt.env_url ? opt.env_url : opt.env_cmd ? opt.env_cmd : "none",
             opt.exit_when_idle ? ", exit when idle" : "");

    if (!opt.env_url && !opt.env_cmd && mcp_cfg.n == 0)
        log_warn("no environment and no MCP server (--env-cmd, --env-url, --mcp): only the jobs' own tools are "
                 "offered, and a call of one is answered \"no environment is configured on this worker\"");
    for (int i = 0; i < mcp_cfg.n; i++)
        log_info("MCP server '%s' per attempt: %s (call timeout %g s, start timeout %g s)", mcp_cfg.servers[i].alias,
                 mcp_cfg.servers[i].text, mcp_cfg.timeout_s, mcp_cfg.start_timeout_s);

    the_worker = worker_new(loop, &cfg);
    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    /* Signal watchers alone do not keep the loop alive (ev.pod). */
    ev_unref(loop);
    ev_unref(loop);
    ev_run(loop, 0);
    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &sigint);
    ev_signal_stop(loop, &sigterm);
    worker_free(the_worker);
    /* Servers of ended attempts still shutting down must not outlive the worker. */
    mcp_kill_all();
    mcpset_cfg_free(&mcp_cfg);
    ev_loop_destroy(loop);
    log_info("worker stopped");
    return EXIT_OK;
}
