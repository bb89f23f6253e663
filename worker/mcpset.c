/* mcpset: the MCP servers of one attempt, and the parsing of their command lines.
 *
 * Names: the offered tool list is job tools, environment tools, then each server's tools in
 * server order and listing order. A server tool keeps its own name (sanitised to
 * [A-Za-z0-9_-], e.g. '.' -> '_') only when no other tool offered has the same; a clash renames
 * every server tool of that name to ALIAS__NAME, so the result does not depend on which server
 * answered first, and the job's and environment's names are never touched. `map` turns an offered
 * name back into (server, the server's own name).
 *
 * The servers' environment is minimal (reference/mcp-stdio.md §1.6: the SDKs inherit only HOME,
 * LOGNAME, PATH, SHELL, TERM, USER): the worker's own variables (TURNQ_REDIS with its password)
 * must not reach a server, some of which hand their whole environment to the model. */
#define _GNU_SOURCE
#include "mcpset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mcp.h"
#include "toolschema.h"
#include "xalloc.h"

extern char **environ;

/* ---- Configuration ---- */

static bool alias_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Splits one server's text [s, end) into words. Returns the count, or -1 with err. */
static int split_words(const char *s, const char *end, char **words, int max, char err[ERR_LEN])
{
    int n = 0;
    const char *p = s;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'))
            p++;
        if (p >= end)
            break;
        if (n == max) {
            set_err(err, "more than %d words", max);
            goto fail;
        }
        struct buf w = {0};
        while (p < end && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'') {
                const char *q = memchr(p + 1, '\'', (size_t)(end - p - 1));
                if (!q) {
                    set_err(err, "unterminated ' quote");
                    buf_free(&w);
                    goto fail;
                }
                buf_append(&w, p + 1, (size_t)(q - p - 1));
                p = q + 1;
            } else if (*p == '"') {
                p++;
                while (p < end && *p != '"') {
                    if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
                        p++;
                    buf_append(&w, p++, 1);
                }
                if (p >= end) {
                    set_err(err, "unterminated \" quote");
                    buf_free(&w);
                    goto fail;
                }
                p++;
            } else if (*p == '\\' && p + 1 < end) {
                buf_append(&w, p + 1, 1);
                p += 2;
            } else
                buf_append(&w, p++, 1);
        }
        words[n++] = xstrdup(buf_head(&w));
        buf_free(&w);
    }
    return n;
fail:
    for (int i = 0; i < n; i++)
        free(words[i]);
    return -1;
}

/* The end of the server text that starts at s: an unquoted ';' or the end of the string. */
static const char *server_end(const char *s)
{
    char q = 0;
    for (const char *p = s; *p; p++) {
        if (q) {
            if (*p == q)
                q = 0;
            else if (q == '"' && *p == '\\' && p[1])
                p++;
        } else if (*p == '\'' || *p == '"')
            q = *p;
        else if (*p == '\\' && p[1])
            p++;
        else if (*p == ';')
            return p;
    }
    return s + strlen(s);
}

static bool program_found(const char *prog)
{
    if (strstr(prog, "{workdir}"))
        return true; /* known only at the attempt */
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%.*s/%s", (int)len, path, prog);
        if (len && access(full, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

static void server_free(struct mcpset_server *sv)
{
    for (int i = 0; i < sv->argc; i++)
        free(sv->argv[i]);
    free(sv->text);
    memset(sv, 0, sizeof *sv);
}

static int add_one(struct mcpset_cfg *cfg, const char *s, const char *end, int added, char err[ERR_LEN])
{
    char why[ERR_LEN];
    int pos = cfg->n + added;
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n') && !(end - 1 > s && end[-2] == '\\'))
        end--;
    char text[300];
    snprintf(text, sizeof text, "%.*s", (int)(end - s) > 280 ? 280 : (int)(end - s), s);
    if (pos >= MCPSET_MAX_SERVERS) {
        set_err(err, "--mcp: more than %d servers", MCPSET_MAX_SERVERS);
        return -1;
    }
    struct mcpset_server *sv = &cfg->servers[pos];
    memset(sv, 0, sizeof *sv);
    int n = split_words(s, end, sv->argv, MCPSET_MAX_ARGS, why);
    if (n < 0) {
        set_err(err, "--mcp '%s': %s", text, why);
        return -1;
    }
    sv->argc = n;
    /* "NAME: PROG ARGS": the first word ending in ':' names the server. */
    size_t l0 = n ? strlen(sv->argv[0]) : 0;
    if (n && l0 >= 2 && sv->argv[0][l0 - 1] == ':') {
        bool ok = l0 - 1 <= MCPSET_ALIAS_MAX;
        for (size_t i = 0; ok && i + 1 < l0; i++)
            ok = alias_char(sv->argv[0][i]);
        if (!ok) {
            set_err(err, "--mcp '%s': the server name '%s' must be 1 to %d of A-Z a-z 0-9 _ -", text, sv->argv[0],
                     MCPSET_ALIAS_MAX);
            server_free(sv);
            return -1;
        }
        snprintf(sv->alias, sizeof sv->alias, "%.*s", (int)(l0 - 1), sv->argv[0]);
        free(sv->argv[0]);
        memmove(sv->argv, sv->argv + 1, (size_t)n * sizeof *sv->argv);
        sv->argc = --n;
    } else
        snprintf(sv->alias, sizeof sv->alias, "mcp%d", pos + 1);
    sv->argv[n] = NULL;
    if (n == 0) {
        set_err(err, "--mcp '%s': no program to run", text);
        server_free(sv);
        return -1;
    }
    for (int i = 0; i < pos; i++)
        if (!strcmp(cfg->servers[i].alias, sv->alias)) {
            set_err(err, "--mcp '%s': the server name '%s' is used twice", text, sv->alias);
            server_free(sv);
            return -1;
        }
    if (!program_found(sv->argv[0])) {
        set_err(err, "--mcp '%s': '%s' is %s", text, sv->argv[0],
                 strchr(sv->argv[0], '/') ? "not an executable file" : "not found on PATH");
        server_free(sv);
        return -1;
    }
    sv->text = xstrdup(text);
    return 0;
}

int mcpset_cfg_add(struct mcpset_cfg *cfg, const char *value, char err[ERR_LEN])
{
    int added = 0;
    const char *s = value;
    for (;;) {
        const char *end = server_end(s);
        if (add_one(cfg, s, end, added, err) < 0) {
            for (int i = 0; i < added; i++)
                server_free(&cfg->servers[cfg->n + i]);
            return -1;
        }
        added++;
        if (!*end)
            break;
        s = end + 1;
    }
    cfg->n += added;
    return 0;
}

int mcpset_cfg_deny(struct mcpset_cfg *cfg, const char *value, char err[ERR_LEN])
{
    char *copy = xstrdup(value);
    const char *items[MCPSET_MAX_DENY];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        if (cfg->ndeny + n >= MCPSET_MAX_DENY) {
            set_err(err, "--mcp-deny: more than %d names", MCPSET_MAX_DENY);
            free(copy);
            return -1;
        }
        if (strlen(t) > 200 || t[0] == ':' || t[strlen(t) - 1] == ':') {
            set_err(err, "--mcp-deny: '%.200s' is not NAME or SERVER:NAME", t);
            free(copy);
            return -1;
        }
        items[n++] = t;
    }
    if (n == 0) {
        set_err(err, "--mcp-deny: no tool name given");
        free(copy);
        return -1;
    }
    for (int i = 0; i < n; i++)
        cfg->deny[cfg->ndeny++] = xstrdup(items[i]);
    free(copy);
    return 0;
}

void mcpset_cfg_free(struct mcpset_cfg *cfg)
{
    for (int i = 0; i < cfg->n; i++)
        server_free(&cfg->servers[i]);
    for (int i = 0; i < cfg->ndeny; i++)
        free(cfg->deny[i]);
    cfg->n = cfg->ndeny = 0;
}

/* ---- One attempt ---- */

struct srv {
    struct mcpset *set;
    int idx;
    struct mcp *m;
    json_t *tools;  /* the server's listing, once ready */
};

struct mcpset {
    struct ev_loop *loop;
    const struct mcpset_cfg *cfg;
    char log_id[160];
    struct srv srv[MCPSET_MAX_SERVERS];
    int nready;
    bool done;                 /* ready has been called */
    mcpset_ready_fn *ready;
    void *ready_arg;
    ev_idle fail_idle;         /* a failure at open, delivered from the loop */
    char fail_err[ERR_LEN * 2];
    json_t *map;               /* offered name -> [server index, the server's name] */
    struct mcp_call *call;     /* the call in flight */
    mcpset_call_fn *call_cb;
    void *call_arg;
};

/* Error texts quote what servers sent, cut to a length that may split a UTF-8 character; they
 * end up in JSON (tool messages, results), which must be valid UTF-8. */
static void valid_utf8(char *s)
{
    json_t *probe = json_string(s);
    if (probe) {
        json_decref(probe);
        return;
    }
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            *s = '?';
}

static void report(struct mcpset *s, const char *err)
{
    if (s->done)
        return;
    s->done = true;
    char text[ERR_LEN * 2];
    if (err) {
        snprintf(text, sizeof text, "%s", err);
        valid_utf8(text);
    }
    s->ready(s, err ? text : NULL, s->ready_arg);
}

static void on_fail_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    ev_idle_stop(loop, w);
    struct mcpset *s = w->data;
    report(s, s->fail_err[0] ? s->fail_err : NULL);
}

static void on_server_ready(struct mcp *m, json_t *tools, const char *err, void *arg)
{
    struct srv *sv = arg;
    struct mcpset *s = sv->set;
    if (s->done)
        return;
    if (!tools) {
        report(s, err);
        return;
    }
    sv->tools = json_deep_copy(tools);
    log_debug("job=%s MCP server '%s' ready: %s, protocol %s, %zu tools", s->log_id,
              s->cfg->servers[sv->idx].alias, mcp_server_info(m), mcp_protocol(m), json_array_size(tools));
    if (++s->nready == s->cfg->n)
        report(s, NULL);
}

/* A copy of the word with every "{workdir}" replaced by dir. */
static char *subst(const char *word, const char *dir)
{
    struct buf b = {0};
    const char *p = word, *q;
    while ((q = strstr(p, "{workdir}"))) {
        buf_append(&b, p, (size_t)(q - p));
        buf_puts(&b, dir);
        p = q + 9;
    }
    buf_puts(&b, p);
    char *out = xstrdup(buf_head(&b));
    buf_free(&b);
    return out;
}

/* Passed through from the worker's environment; everything else stays out (see the top). */
static const char *const inherited[] = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL",
                                        "LC_CTYPE", "TZ", "TMPDIR", "http_proxy", "https_proxy", "no_proxy",
                                        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", NULL};

static char **build_env(const char *experiment, int attempt, const char *dir)
{
    int n = 0;
    char **env = xcalloc(sizeof inherited / sizeof *inherited + 4, sizeof *env);
    for (int i = 0; inherited[i]; i++) {
        const char *v = getenv(inherited[i]);
        if (v)
            env[n++] = xasprintf("%s=%s", inherited[i], v);
    }
    env[n++] = xasprintf("TURNQ_EXPERIMENT=%s", experiment);
    env[n++] = xasprintf("TURNQ_ATTEMPT=%d", attempt);
    env[n++] = xasprintf("TURNQ_WORKDIR=%s", dir);
    env[n] = NULL;
    return env;
}

static void free_strv(char **v)
{
    for (int i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

struct mcpset *mcpset_open(struct ev_loop *loop, const struct mcpset_cfg *cfg, const char *experiment, int attempt,
                           mcpset_ready_fn *ready, void *arg)
{
    struct mcpset *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    snprintf(s->log_id, sizeof s->log_id, "%s", experiment);
    s->ready = ready;
    s->ready_arg = arg;
    s->map = json_object();
    ev_idle_init(&s->fail_idle, on_fail_idle);
    s->fail_idle.data = s;
    const char *base = cfg->workdir ? cfg->workdir : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 0; i < cfg->n; i++) {
        const struct mcpset_server *c = &cfg->servers[i];
        struct srv *sv = &s->srv[i];
        sv->set = s;
        sv->idx = i;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/turnq-mcp.XXXXXX", base);
        if (!mkdtemp(dir)) {
            snprintf(s->fail_err, sizeof s->fail_err, "MCP server '%s': cannot make a working directory in %s: %s",
                     c->alias, base, strerror(errno));
            break;
        }
        char **argv = xcalloc((size_t)c->argc + 1, sizeof *argv);
        for (int k = 0; k < c->argc; k++)
            argv[k] = subst(c->argv[k], dir);
        char **envp = build_env(experiment, attempt, dir);
        struct mcp_spawn sp = {
            .alias = c->alias, .log_id = s->log_id, .argv = argv, .envp = envp, .cwd = dir,
            .start_timeout_s = cfg->start_timeout_s, .timeout_s = cfg->timeout_s,
        };
        char err[ERR_LEN];
        sv->m = mcp_start(loop, &sp, on_server_ready, sv, err);
        free_strv(argv);
        free_strv(envp);
        if (!sv->m) {
            rmdir(dir);
            snprintf(s->fail_err, sizeof s->fail_err, "%s", err);
            break;
        }
    }
    if (s->fail_err[0])
        ev_idle_start(loop, &s->fail_idle);
    else if (cfg->n == 0)
        ev_idle_start(loop, &s->fail_idle); /* nothing to start: ready at once (fail_err empty) */
    return s;
}

static bool denied(const struct mcpset_cfg *cfg, const char *alias, const char *name)
{
    for (int i = 0; i < cfg->ndeny; i++) {
        const char *d = cfg->deny[i];
        const char *colon = strchr(d, ':');
        if (!colon ? !strcmp(d, name)
                   : (strlen(alias) == (size_t)(colon - d) && !strncmp(d, alias, (size_t)(colon - d)) &&
                      !strcmp(colon + 1, name)))
            return true;
    }
    return false;
}

/* Makes `name` unused in `taken` by putting a counter at its end. */
static void make_unique(char name[TOOLSCHEMA_NAME_MAX + 1], const json_t *taken)
{
    char base[TOOLSCHEMA_NAME_MAX + 1];
    snprintf(base, sizeof base, "%s", name);
    for (int k = 2; json_object_get(taken, name) && k < 100000; k++) {
        char suffix[16];
        int sl = snprintf(suffix, sizeof suffix, "_%d", k);
        int keep = (int)strlen(base);
        if (keep + sl > TOOLSCHEMA_NAME_MAX)
            keep = TOOLSCHEMA_NAME_MAX - sl;
        snprintf(name, TOOLSCHEMA_NAME_MAX + 1, "%.*s%s", keep, base, suffix);
    }
}

void mcpset_offer(struct mcpset *s, json_t *tools)
{
    json_t *taken = json_object();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (n)
            json_object_set_new(taken, n, json_true());
    }
    /* How many server tools want each (sanitised) name. */
    json_t *wanted = json_object();
    for (int k = 0; k < s->cfg->n; k++) {
        json_array_foreach(s->srv[k].tools, i, t) {
            const char *name = json_string_value(json_object_get(t, "name"));
            if (!name)
                continue;
            char plain[TOOLSCHEMA_NAME_MAX + 1];
            toolschema_name(NULL, name, plain);
            json_object_set_new(wanted, plain, json_integer(json_integer_value(json_object_get(wanted, plain)) + 1));
        }
    }
    for (int k = 0; k < s->cfg->n; k++) {
        const char *alias = s->cfg->servers[k].alias;
        struct buf names = {0};
        int offered = 0;
        json_array_foreach(s->srv[k].tools, i, t) {
            const char *name = json_string_value(json_object_get(t, "name"));
            if (!name || !*name) {
                log_warn("job=%s MCP server '%s' lists a tool without a name; left out", s->log_id, alias);
                continue;
            }
            const char *task = json_string_value(json_object_get(json_object_get(t, "execution"), "taskSupport"));
            if (task && !strcmp(task, "required")) {
                log_debug("job=%s MCP server '%s' tool '%s' needs task augmentation; left out", s->log_id, alias,
                          name);
                continue;
            }
            if (denied(s->cfg, alias, name)) {
                log_debug("job=%s MCP server '%s' tool '%s' denied (--mcp-deny)", s->log_id, alias, name);
                continue;
            }
            char off[TOOLSCHEMA_NAME_MAX + 1];
            toolschema_name(NULL, name, off);
            if (json_integer_value(json_object_get(wanted, off)) > 1 || json_object_get(taken, off))
                toolschema_name(alias, name, off);
            make_unique(off, taken);
            json_object_set_new(taken, off, json_true());
            json_object_set_new(s->map, off, json_pack("[i, s]", k, name));
            json_array_append_new(tools, toolschema_tool(t, off));
            offered++;
            if (names.len < 600) {
                if (strcmp(off, name))
                    buf_printf(&names, "%s%s (its %s)", names.len ? ", " : "", off, name);
                else
                    buf_printf(&names, "%s%s", names.len ? ", " : "", off);
            }
        }
        log_info("job=%s MCP server '%s' (%s, protocol %s, pid %d): %d tools offered%s%s", s->log_id, alias,
                 mcp_server_info(s->srv[k].m), mcp_protocol(s->srv[k].m), mcp_pid(s->srv[k].m), offered,
                 offered ? ": " : "", buf_head(&names));
        buf_free(&names);
    }
    json_decref(wanted);
    json_decref(taken);
}

bool mcpset_has(const struct mcpset *s, const char *name)
{
    return s && name && json_object_get(s->map, name) != NULL;
}

static void on_call_result(json_t *result, const char *err, void *arg)
{
    struct mcpset *s = arg;
    s->call = NULL;
    bool is_error = true;
    char *content;
    if (result)
        content = toolschema_result(result, TOOLSCHEMA_RESULT_MAX, &is_error);
    else {
        content = xasprintf("ERROR: %s", err);
        valid_utf8(content);
    }
    s->call_cb(content, is_error, s->call_arg);
    free(content);
}

void mcpset_call(struct mcpset *s, const char *name, json_t *args, mcpset_call_fn *cb, void *arg)
{
    json_t *e = json_object_get(s->map, name);
    int k = (int)json_integer_value(json_array_get(e, 0));
    s->call_cb = cb;
    s->call_arg = arg;
    s->call = mcp_call(s->srv[k].m, json_string_value(json_array_get(e, 1)), args, on_call_result, s);
}

static void set_free(struct mcpset *s, bool now)
{
    ev_idle_stop(s->loop, &s->fail_idle);
    if (s->call)
        mcp_call_cancel(s->call);
    for (int i = 0; i < s->cfg->n; i++) {
        if (now)
            mcp_kill(s->srv[i].m);
        else
            mcp_close(s->srv[i].m);
        json_decref(s->srv[i].tools);
    }
    json_decref(s->map);
    free(s);
}

void mcpset_close(struct mcpset *s)
{
    if (s)
        set_free(s, false);
}

void mcpset_kill(struct mcpset *s)
{
    if (s)
        set_free(s, true);
}
