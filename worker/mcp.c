/* mcp: one MCP server connection over stdio (reference/mcp-stdio.md §1-§3).
 *
 * The process: posix_spawnp (no shell) with three pipes, its own process group
 * (POSIX_SPAWN_SETPGROUP: npx runs npm exec -> sh -> node, and signalling only the leader would
 * orphan the node server, §1.8), default signal dispositions (the worker ignores SIGPIPE, and an
 * ignored signal survives exec), and its own working directory. stdout is split into lines by an
 * NDJSON framer; stderr is drained into the debug log with a rate and size limit, since a server
 * that blocks on a full stderr pipe stops answering (§1.6). stdin is non-blocking, written from
 * a queue. An ev_child watcher (the default loop) reaps the leader.
 *
 * Messages are classified by shape (§1.1, pitfall 6): with a method and an id, a request from
 * the server (its ids start at 0 and overlap ours, so they are never looked up among ours);
 * with a method alone, a notification; with an id alone, a response to one of our pending
 * requests, matched by our integer id. A line that does not parse is skipped (banners on
 * stdout are common, §1.3), unless it names the id of a pending request, which then fails at
 * once. Every request has a timer: servers drop malformed requests without an answer (§1.2).
 *
 * States: INITIALIZING (initialize sent) -> LISTING (tools/list pages) -> READY -> DEAD (the
 * process died or the connection broke; calls fail at once) ; any -> CLOSING (mcp_close). */
/* pipe2, posix_spawn_file_actions_addchdir_np/addclosefrom_np are GNU extensions. */
#define _GNU_SOURCE
#include "mcp.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "ndjson.h"
#include "version.h"
#include "xalloc.h"

#define MCP_TERM_AFTER_S 2.0      /* stdin closed -> SIGTERM to the group (the SDKs' 2 s) */
#define MCP_KILL_AFTER_S 2.0      /* SIGTERM -> SIGKILL */
#define MCP_EOF_WAIT_S 0.5        /* stdout closed: wait this long for the exit status */
#define MCP_MAX_QUEUED (64u << 20) /* bytes waiting for the server's stdin */
#define MCP_ERR_LINES_PER_S 20    /* stderr lines logged per second */
#define MCP_ERR_LOG_MAX (256u << 10) /* stderr bytes logged per server */
#define MCP_ERR_LINE_MAX 4096     /* a longer stderr line is logged in pieces */

enum mcp_state { MCP_INITIALIZING, MCP_LISTING, MCP_READY, MCP_DEAD, MCP_CLOSING };
enum req_kind { REQ_INIT, REQ_LIST, REQ_CALL };

/* One request of ours waiting for its response. */
struct mcp_call {
    struct mcp *m;
    json_int_t id;
    enum req_kind kind;
    char what[96];          /* "tools/call 'echo'", for messages */
    ev_timer timer;         /* its deadline; at 0 s it delivers err */
    char err[ERR_LEN];      /* a failure known when it was sent */
    mcp_result_fn *cb;      /* REQ_CALL */
    void *arg;
    struct mcp_call *next;
};

struct mcp {
    struct ev_loop *loop;
    char alias[40];
    char log_id[160];
    char cwd[PATH_MAX];
    double timeout_s;          /* each tools/call */
    double start_timeout_s;    /* spawn to tools listed */
    ev_tstamp start_deadline;
    enum mcp_state state;
    pid_t pid;                 /* also the process group id */
    int in_fd, out_fd, err_fd; /* our ends */
    ev_io in_io, out_io, err_io;
    ev_child child;
    ev_timer eof_timer;        /* stdout closed: waiting for the exit status */
    ev_timer death_timer;      /* a failure seen inside an API call, handled from the loop */
    ev_timer term_timer;       /* closing: SIGTERM, then SIGKILL */
    int term_stage;
    ev_idle release_idle;
    struct ndjson *nd;
    struct buf wq;             /* bytes for the server's stdin */
    struct buf errline;        /* the incomplete stderr line */
    ev_tstamp err_window;      /* start of the current second of stderr logging */
    int err_window_lines;
    size_t err_logged;         /* bytes of stderr logged */
    long err_dropped;          /* lines not logged since the last note */
    json_int_t next_id;
    struct mcp_call *pending;
    mcp_ready_fn *ready;       /* until it has been called */
    void *ready_arg;
    json_t *tools;             /* the listing */
    json_t *cursors;           /* cursors seen in this listing (object used as a set) */
    int pages;
    bool relist, relisted;     /* list_changed during the start: list once more */
    char protocol[32];
    char info[160];            /* serverInfo "name version" */
    bool exited;
    char why[ERR_LEN];         /* DEAD: what happened ("exited with status 3") */
    char death_why[ERR_LEN];   /* for death_timer */
    int bad_lines;             /* stdout lines that were not JSON */
    char last_bad[128];
    struct mcp *next_all;
};

static struct mcp *all_servers; /* every mcp not yet released, for mcp_kill_all */

static void die(struct mcp *m, const char *why);
static void deliver(struct mcp_call *c, json_t *result, const char *err);

/* ---- Releasing ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        log_debug("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* Removes the working directory the set made for this server (turnq-mcp.XXXXXX), and nothing
 * else: the name is checked so that a mistake cannot remove another tree. */
static void remove_cwd(struct mcp *m)
{
    const char *base = strrchr(m->cwd, '/');
    if (!m->cwd[0] || !base || strncmp(base + 1, "turnq-mcp.", 10))
        return;
    nftw(m->cwd, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    m->cwd[0] = '\0';
}

static void free_calls(struct mcp *m)
{
    while (m->pending) {
        struct mcp_call *c = m->pending;
        m->pending = c->next;
        ev_timer_stop(m->loop, &c->timer);
        free(c);
    }
}

static void release(struct mcp *m)
{
    ev_io_stop(m->loop, &m->in_io);
    ev_io_stop(m->loop, &m->out_io);
    ev_io_stop(m->loop, &m->err_io);
    ev_child_stop(m->loop, &m->child);
    ev_timer_stop(m->loop, &m->eof_timer);
    ev_timer_stop(m->loop, &m->death_timer);
    ev_timer_stop(m->loop, &m->term_timer);
    ev_idle_stop(m->loop, &m->release_idle);
    free_calls(m);
    if (m->in_fd >= 0)
        close(m->in_fd);
    if (m->out_fd >= 0)
        close(m->out_fd);
    if (m->err_fd >= 0)
        close(m->err_fd);
    ndjson_free(m->nd);
    buf_free(&m->wq);
    buf_free(&m->errline);
    json_decref(m->tools);
    json_decref(m->cursors);
    for (struct mcp **p = &all_servers; *p; p = &(*p)->next_all)
        if (*p == m) {
            *p = m->next_all;
            break;
        }
    free(m);
}

static void on_release(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    release(w->data);
}

static void close_fds(struct mcp *m)
{
    ev_io_stop(m->loop, &m->in_io);
    ev_io_stop(m->loop, &m->out_io);
    ev_io_stop(m->loop, &m->err_io);
    if (m->in_fd >= 0)
        close(m->in_fd);
    if (m->out_fd >= 0)
        close(m->out_fd);
    if (m->err_fd >= 0)
        close(m->err_fd);
    m->in_fd = m->out_fd = m->err_fd = -1;
    buf_reset(&m->wq);
}

/* ---- Writing ---- */

static void on_in(struct ev_loop *loop, ev_io *w, int revents);

/* Writes what the queue holds, as far as the pipe takes it. Returns -1 when the pipe is broken
 * (errno set). */
static int flush_queue(struct mcp *m)
{
    while (buf_avail(&m->wq)) {
        ssize_t n = write(m->in_fd, buf_head(&m->wq), buf_avail(&m->wq));
        if (n > 0) {
            buf_consume(&m->wq, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            ev_io_start(m->loop, &m->in_io);
            return 0;
        }
        return -1;
    }
    ev_io_stop(m->loop, &m->in_io);
    buf_compact(&m->wq);
    return 0;
}

static void on_death_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct mcp *m = w->data;
    die(m, m->death_why);
}

/* A failure noticed inside an API call: handled from the loop, so that no callback runs before
 * the call returns. */
static void die_later(struct mcp *m, const char *why)
{
    if (ev_is_active(&m->death_timer))
        return;
    snprintf(m->death_why, sizeof m->death_why, "%s", why);
    ev_timer_set(&m->death_timer, 0., 0.);
    ev_timer_start(m->loop, &m->death_timer);
}

static void on_in(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct mcp *m = w->data;
    if (flush_queue(m) < 0) {
        char why[ERR_LEN];
        snprintf(why, sizeof why, "stopped reading its stdin (%s)", strerror(errno));
        die(m, why);
    }
}

/* Queues one message (borrowed) and writes what it can. Returns -1 when it cannot be sent. */
static int send_msg(struct mcp *m, json_t *msg)
{
    if (m->in_fd < 0)
        return -1;
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text)
        return -1;
    size_t len = strlen(text);
    if (buf_avail(&m->wq) + len + 1 > MCP_MAX_QUEUED) {
        free(text);
        die_later(m, "does not read its stdin (64 MiB waiting)");
        return -1;
    }
    buf_append(&m->wq, text, len);
    buf_append(&m->wq, "\n", 1);
    free(text);
    if (flush_queue(m) < 0) {
        char why[ERR_LEN];
        snprintf(why, sizeof why, "stopped reading its stdin (%s)", strerror(errno));
        die_later(m, why);
        return -1;
    }
    return 0;
}

/* ---- Requests ---- */

static void on_req_timer(struct ev_loop *loop, ev_timer *w, int revents);

/* Sends a request; its callback path is deliver(). timeout_s > 0. */
static struct mcp_call *request(struct mcp *m, enum req_kind kind, const char *method, json_t *params,
                                double timeout_s, const char *what)
{
    struct mcp_call *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->kind = kind;
    c->id = m->next_id++;
    snprintf(c->what, sizeof c->what, "%s", what);
    ev_init(&c->timer, on_req_timer);
    c->timer.data = c;
    c->next = m->pending;
    m->pending = c;
    if (m->state == MCP_DEAD || m->state == MCP_CLOSING) {
        snprintf(c->err, sizeof c->err, "MCP server '%s' is not running (it %.160s)", m->alias,
                 m->why[0] ? m->why : "was closed");
        timeout_s = 0.;
    } else {
        json_t *msg = json_pack("{s:s, s:I, s:s, s:O}", "jsonrpc", "2.0", "id", c->id, "method", method, "params",
                                params);
        if (send_msg(m, msg) < 0 && !c->err[0]) {
            snprintf(c->err, sizeof c->err, "MCP server '%s' could not be sent %s (it stopped reading its stdin)",
                     m->alias, what);
            timeout_s = 0.;
        }
        json_decref(msg);
    }
    ev_timer_set(&c->timer, timeout_s, 0.);
    ev_timer_start(m->loop, &c->timer);
    return c;
}

static void unlink_call(struct mcp_call *c)
{
    struct mcp *m = c->m;
    for (struct mcp_call **p = &m->pending; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    ev_timer_stop(m->loop, &c->timer);
}

static void send_cancelled(struct mcp *m, json_int_t id, const char *reason)
{
    json_t *n = json_pack("{s:s, s:s, s:{s:I, s:s}}", "jsonrpc", "2.0", "method", "notifications/cancelled",
                          "params", "requestId", id, "reason", reason);
    send_msg(m, n);
    json_decref(n);
}

static void on_req_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct mcp_call *c = w->data;
    struct mcp *m = c->m;
    unlink_call(c);
    char err[ERR_LEN * 2];
    if (c->err[0])
        snprintf(err, sizeof err, "%s", c->err);
    else if (c->kind != REQ_CALL)
        snprintf(err, sizeof err, "MCP server '%s' did not finish starting (no answer to %s) within %g s", m->alias,
                 c->what, m->start_timeout_s);
    else {
        char reason[64];
        snprintf(reason, sizeof reason, "no answer within %g s", m->timeout_s);
        send_cancelled(m, c->id, reason);
        int n = snprintf(err, sizeof err, "MCP server '%s' gave no answer to %s within %g s", m->alias, c->what,
                         m->timeout_s);
        if (m->bad_lines && n > 0 && (size_t)n < sizeof err)
            snprintf(err + n, sizeof err - (size_t)n, "; it wrote %d line%s that %s not JSON, the last: '%s'",
                     m->bad_lines, m->bad_lines == 1 ? "" : "s", m->bad_lines == 1 ? "is" : "are", m->last_bad);
    }
    deliver(c, NULL, err);
}

/* ---- Start ---- */

static void start_failed(struct mcp *m, const char *err)
{
    if (m->state != MCP_CLOSING && m->state != MCP_DEAD) {
        m->state = MCP_DEAD;
        snprintf(m->why, sizeof m->why, "failed to start");
    }
    mcp_ready_fn *cb = m->ready;
    m->ready = NULL;
    if (cb)
        cb(m, NULL, err, m->ready_arg);
}

static double start_left(struct mcp *m)
{
    double left = m->start_deadline - ev_now(m->loop);
    return left > 0.001 ? left : 0.001;
}

static void list_page(struct mcp *m, const char *cursor)
{
    json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor) : json_object();
    request(m, REQ_LIST, "tools/list", params, start_left(m), "tools/list");
    json_decref(params);
}

static void become_ready(struct mcp *m)
{
    m->state = MCP_READY;
    mcp_ready_fn *cb = m->ready;
    m->ready = NULL;
    if (cb)
        cb(m, m->tools, NULL, m->ready_arg);
}

static void on_list_reply(struct mcp *m, json_t *result, const char *err)
{
    char why[ERR_LEN];
    if (!result) {
        start_failed(m, err);
        return;
    }
    json_t *tools = json_object_get(result, "tools");
    if (!json_is_array(tools)) {
        snprintf(why, sizeof why, "MCP server '%s' answered tools/list without a tools array", m->alias);
        start_failed(m, why);
        return;
    }
    if (json_array_size(m->tools) + json_array_size(tools) > MCP_MAX_TOOLS) {
        snprintf(why, sizeof why, "MCP server '%s' lists more than %d tools", m->alias, MCP_MAX_TOOLS);
        start_failed(m, why);
        return;
    }
    json_array_extend(m->tools, tools);
    m->pages++;
    const char *next = json_string_value(json_object_get(result, "nextCursor"));
    if (next) {
        if (m->pages >= MCP_MAX_PAGES) {
            snprintf(why, sizeof why, "MCP server '%s' lists its tools over more than %d pages", m->alias,
                     MCP_MAX_PAGES);
            start_failed(m, why);
            return;
        }
        if (json_object_get(m->cursors, next)) {
            snprintf(why, sizeof why, "MCP server '%s' repeats the tools/list cursor '%.60s' (a loop)", m->alias, next);
            start_failed(m, why);
            return;
        }
        json_object_set_new(m->cursors, next, json_true());
        list_page(m, next);
        return;
    }
    if (m->relist && !m->relisted) {
        /* The tools changed while we listed them (server-everything registers some in its
         * oninitialized): list once more, for the settled set. */
        m->relisted = true;
        json_array_clear(m->tools);
        json_object_clear(m->cursors);
        m->pages = 0;
        list_page(m, NULL);
        return;
    }
    become_ready(m);
}

/* The revisions whose tools messages this client reads correctly (§2.3): they differ only in
 * optional fields. 2024-10-07 is the pre-release the SDKs still accept, read as 2024-11-05. */
static const char *const accepted[] = {MCP_PROTOCOL_VERSION, "2025-06-18", "2025-03-26", "2024-11-05", "2024-10-07",
                                       NULL};

static void on_init_reply(struct mcp *m, json_t *result, const char *err)
{
    char why[ERR_LEN];
    if (!result) {
        start_failed(m, err);
        return;
    }
    const char *pv = json_string_value(json_object_get(result, "protocolVersion"));
    if (!pv) {
        snprintf(why, sizeof why, "MCP server '%s' answered initialize without a protocolVersion", m->alias);
        start_failed(m, why);
        return;
    }
    bool ok = false;
    for (int i = 0; accepted[i]; i++)
        ok = ok || !strcmp(pv, accepted[i]);
    if (!ok) {
        snprintf(why, sizeof why, "MCP server '%s' speaks protocol version '%.40s', which this worker does not "
                 "(it offers " MCP_PROTOCOL_VERSION " and accepts 2025-06-18, 2025-03-26, 2024-11-05)", m->alias, pv);
        start_failed(m, why);
        return;
    }
    snprintf(m->protocol, sizeof m->protocol, "%s", pv);
    json_t *si = json_object_get(result, "serverInfo");
    const char *name = json_string_value(json_object_get(si, "name"));
    const char *version = json_string_value(json_object_get(si, "version"));
    snprintf(m->info, sizeof m->info, "%.80s %.40s", name ? name : "?", version ? version : "?");
    json_t *n = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    send_msg(m, n);
    json_decref(n);
    /* A server that declares no tools capability has none to list (server/tools.mdx). */
    if (!json_object_get(json_object_get(result, "capabilities"), "tools")) {
        log_info("job=%s MCP server '%s' declares no tools", m->log_id, m->alias);
        become_ready(m);
        return;
    }
    m->state = MCP_LISTING;
    list_page(m, NULL);
}

/* The end of every request: the callback of its kind, then the request is freed. */
static void deliver(struct mcp_call *c, json_t *result, const char *err)
{
    struct mcp *m = c->m;
    enum req_kind kind = c->kind;
    mcp_result_fn *cb = c->cb;
    void *arg = c->arg;
    free(c);
    if (m->state == MCP_CLOSING)
        return;
    if (kind == REQ_INIT)
        on_init_reply(m, result, err);
    else if (kind == REQ_LIST)
        on_list_reply(m, result, err);
    else if (cb)
        cb(result, err, arg);
}

/* ---- Reading ---- */

static struct mcp_call *find_call(struct mcp *m, json_int_t id)
{
    for (struct mcp_call *c = m->pending; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* A request from the server: refused at once (a request left unanswered stalls the server's
 * tool call for its own 60 s timeout, §3.11); ping is answered, as the spec requires. */
static void answer_request(struct mcp *m, json_t *msg, const char *method)
{
    json_t *id = json_object_get(msg, "id");
    json_t *reply;
    if (!strcmp(method, "ping"))
        reply = json_pack("{s:s, s:O, s:{}}", "jsonrpc", "2.0", "id", id, "result");
    else {
        log_debug("job=%s MCP server '%s' asked us for %.60s: refused (method not found)", m->log_id, m->alias,
                  method);
        reply = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error", "code", -32601, "message",
                          "Method not found");
    }
    send_msg(m, reply);
    json_decref(reply);
}

static void handle_msg(struct mcp *m, json_t *msg)
{
    if (!json_is_object(msg)) {
        log_debug("job=%s MCP server '%s' wrote a JSON value that is not a message; ignored", m->log_id, m->alias);
        return;
    }
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (method) {
        if (id && !json_is_null(id)) {
            answer_request(m, msg, method);
            return;
        }
        if (!strcmp(method, "notifications/tools/list_changed") && m->state < MCP_READY)
            m->relist = true;
        log_debug("job=%s MCP server '%s' notification %.60s", m->log_id, m->alias, method);
        return;
    }
    struct mcp_call *c = json_is_integer(id) ? find_call(m, json_integer_value(id)) : NULL;
    if (!c) {
        log_debug("job=%s MCP server '%s' sent an unmatched response; ignored", m->log_id, m->alias);
        return;
    }
    unlink_call(c);
    json_t *error = json_object_get(msg, "error");
    json_t *result = json_object_get(msg, "result");
    char err[ERR_LEN * 2];
    if (error) {
        const char *text = json_string_value(json_object_get(error, "message"));
        snprintf(err, sizeof err, "MCP server '%s' answered %s with error %" JSON_INTEGER_FORMAT ": %.160s", m->alias,
                 c->what, json_integer_value(json_object_get(error, "code")), text ? text : "(no message)");
        deliver(c, NULL, err);
    } else if (!result) {
        snprintf(err, sizeof err, "MCP server '%s' answered %s with neither result nor error", m->alias, c->what);
        deliver(c, NULL, err);
    } else
        deliver(c, result, NULL);
}

/* jansson refuses a lone UTF-16 surrogate escape, which Node writes when a JS string was cut
 * inside an emoji (§1.5): such escapes become \ufffd (same length) in a copy. NULL: none. */
static char *repair_surrogates(const char *line, size_t len)
{
    char *copy = NULL;
    for (size_t i = 0; i + 1 < len; i++) {
        if (line[i] != '\\')
            continue;
        if (line[i + 1] != 'u' || i + 6 > len) {
            i++;
            continue;
        }
        char hex[5] = {line[i + 2], line[i + 3], line[i + 4], line[i + 5], 0};
        char *end;
        long v = strtol(hex, &end, 16);
        if (*end) {
            i++;
            continue;
        }
        bool lone = false;
        if (v >= 0xD800 && v <= 0xDBFF) {
            long lo = -1;
            if (i + 12 <= len && line[i + 6] == '\\' && line[i + 7] == 'u') {
                char h2[5] = {line[i + 8], line[i + 9], line[i + 10], line[i + 11], 0};
                lo = strtol(h2, &end, 16);
                if (*end)
                    lo = -1;
            }
            if (lo >= 0xDC00 && lo <= 0xDFFF)
                i += 6; /* a proper pair */
            else
                lone = true;
        } else if (v >= 0xDC00 && v <= 0xDFFF)
            lone = true;
        if (lone) {
            if (!copy) {
                copy = xmalloc(len + 1);
                memcpy(copy, line, len);
                copy[len] = '\0';
            }
            memcpy(copy + i, "\\ufffd", 6);
        }
        i += 5;
    }
    return copy;
}

/* The integer after the first "id": in a line, or -1. */
static json_int_t scan_id(const char *line, size_t len)
{
    for (size_t i = 0; i + 5 < len; i++) {
        if (memcmp(line + i, "\"id\"", 4))
            continue;
        size_t j = i + 4;
        while (j < len && (line[j] == ' ' || line[j] == ':'))
            j++;
        json_int_t v = 0;
        size_t d = j;
        while (j < len && line[j] >= '0' && line[j] <= '9' && j - d < 18)
            v = v * 10 + (line[j++] - '0');
        return j > d ? v : -1;
    }
    return -1;
}

static void bad_line(struct mcp *m, const char *line, size_t len, const char *jerr)
{
    m->bad_lines++;
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < sizeof m->last_bad && n < 100; i++)
        m->last_bad[n++] = (line[i] >= 0x20 && line[i] < 0x7f) ? line[i] : '?';
    m->last_bad[n] = '\0';
    log_debug("job=%s MCP server '%s' wrote a line that is not JSON (%s): %.200s", m->log_id, m->alias, jerr,
              m->last_bad);
    json_int_t id = scan_id(line, len);
    struct mcp_call *c = id >= 0 ? find_call(m, id) : NULL;
    if (!c)
        return;
    char err[ERR_LEN * 2];
    snprintf(err, sizeof err, "MCP server '%s' answered %s with a line that is not JSON (%s): '%.80s%s'", m->alias,
             c->what, jerr, m->last_bad, len > 80 ? "..." : "");
    unlink_call(c);
    deliver(c, NULL, err);
}

static int on_line(void *arg, const char *line, size_t len)
{
    struct mcp *m = arg;
    if (m->state == MCP_CLOSING)
        return -1;
    json_error_t je;
    json_t *msg = json_loadb(line, len, 0, &je);
    if (!msg) {
        char *fixed = repair_surrogates(line, len);
        if (fixed) {
            msg = json_loadb(fixed, len, 0, NULL);
            free(fixed);
        }
    }
    if (!msg) {
        bad_line(m, line, len, je.text);
        return m->state == MCP_CLOSING ? -1 : 0;
    }
    if (json_is_array(msg)) {
        /* A batch (2025-03-26 allowed them): each element on its own. */
        size_t i;
        json_t *e;
        json_array_foreach(msg, i, e) {
            handle_msg(m, e);
            if (m->state == MCP_CLOSING)
                break;
        }
    } else
        handle_msg(m, msg);
    json_decref(msg);
    return m->state == MCP_CLOSING ? -1 : 0;
}

static void on_eof_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    die(w->data, "closed its stdout");
}

static void on_out(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct mcp *m = w->data;
    char buf[65536];
    ssize_t n = read(m->out_fd, buf, sizeof buf);
    if (n > 0) {
        if (ndjson_feed(m->nd, buf, (size_t)n) < 0 && m->state != MCP_CLOSING && ndjson_overflowed(m->nd))
            die(m, "wrote a line over 16 MiB");
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    ev_io_stop(loop, w);
    /* Usually the process has exited: the child watcher's message says how. */
    if (!m->exited) {
        ev_timer_set(&m->eof_timer, MCP_EOF_WAIT_S, 0.);
        ev_timer_start(loop, &m->eof_timer);
    }
}

static void log_err_line(struct mcp *m, const char *s, size_t n)
{
    if (log_level < LOG_DEBUG)
        return;
    ev_tstamp now = ev_now(m->loop);
    if (now - m->err_window >= 1.0) {
        if (m->err_dropped && m->err_logged < MCP_ERR_LOG_MAX)
            log_debug("job=%s MCP server '%s': %ld stderr lines not logged (more than %d a second)", m->log_id,
                      m->alias, m->err_dropped, MCP_ERR_LINES_PER_S);
        m->err_window = now;
        m->err_window_lines = 0;
        if (m->err_logged < MCP_ERR_LOG_MAX)
            m->err_dropped = 0;
    }
    if (m->err_window_lines >= MCP_ERR_LINES_PER_S || m->err_logged >= MCP_ERR_LOG_MAX) {
        if (m->err_logged >= MCP_ERR_LOG_MAX && m->err_dropped == 0)
            log_debug("job=%s MCP server '%s': 256 KiB of stderr logged; the rest is read and dropped", m->log_id,
                      m->alias);
        m->err_dropped++;
        return;
    }
    m->err_window_lines++;
    m->err_logged += n;
    log_debug("job=%s MCP server '%s' stderr: %.*s", m->log_id, m->alias, (int)(n > 500 ? 500 : n), s);
}

static void on_err(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct mcp *m = w->data;
    char buf[65536];
    ssize_t n = read(m->err_fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ev_io_stop(loop, w);
        if (buf_avail(&m->errline))
            log_err_line(m, buf_head(&m->errline), buf_avail(&m->errline));
        buf_reset(&m->errline);
        return;
    }
    const char *p = buf, *end = buf + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t take = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (buf_avail(&m->errline) + take > MCP_ERR_LINE_MAX)
            take = MCP_ERR_LINE_MAX - buf_avail(&m->errline), nl = NULL;
        buf_append(&m->errline, p, take);
        p += take;
        if (nl || buf_avail(&m->errline) >= MCP_ERR_LINE_MAX) {
            log_err_line(m, buf_head(&m->errline), buf_avail(&m->errline));
            buf_reset(&m->errline);
            if (nl)
                p++;
        }
    }
}

/* ---- The process ---- */

static void fail_all(struct mcp *m)
{
    while (m->pending && m->state != MCP_CLOSING) {
        struct mcp_call *c = m->pending;
        unlink_call(c);
        char err[ERR_LEN * 2];
        snprintf(err, sizeof err, "MCP server '%s' %s during %s", m->alias, m->why, c->what);
        deliver(c, NULL, err);
    }
}

/* The connection is over: the process died or can no longer be talked to. Every pending
 * request fails now (pitfall 4: not at its timeout), later ones at once. */
static void die(struct mcp *m, const char *why)
{
    if (m->state == MCP_DEAD || m->state == MCP_CLOSING)
        return;
    bool starting = m->state < MCP_READY;
    m->state = MCP_DEAD;
    snprintf(m->why, sizeof m->why, "%s", why);
    log_warn("job=%s MCP server '%s' (pid %d) %s", m->log_id, m->alias, (int)m->pid, why);
    if (!m->exited)
        kill(-m->pid, SIGKILL); /* unusable now; the child watcher reaps it */
    ev_io_stop(m->loop, &m->in_io);
    if (m->in_fd >= 0)
        close(m->in_fd);
    m->in_fd = -1;
    buf_reset(&m->wq);
    ev_timer_stop(m->loop, &m->eof_timer);
    fail_all(m);
    if (starting && m->ready && m->state != MCP_CLOSING) {
        char err[ERR_LEN * 2];
        snprintf(err, sizeof err, "MCP server '%s' %s while starting", m->alias, why);
        start_failed(m, err);
    }
}

static void finish_close(struct mcp *m)
{
    /* Whatever the leader left in its group (npx's node, a helper) goes with it. */
    kill(-m->pid, SIGKILL);
    remove_cwd(m);
    ev_idle_start(m->loop, &m->release_idle);
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct mcp *m = w->data;
    ev_child_stop(loop, w);
    m->exited = true;
    int st = w->rstatus;
    char why[ERR_LEN];
    if (WIFSIGNALED(st))
        snprintf(why, sizeof why, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(st));
    if (m->state == MCP_CLOSING) {
        ev_timer_stop(loop, &m->term_timer);
        log_debug("job=%s MCP server '%s' (pid %d) %s", m->log_id, m->alias, (int)m->pid, why);
        finish_close(m);
        return;
    }
    kill(-m->pid, SIGKILL);
    die(m, why);
}

static void on_term_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct mcp *m = w->data;
    if (m->term_stage++ == 0) {
        log_info("job=%s MCP server '%s' (pid %d) did not exit within %.0f s of its stdin closing: SIGTERM to its "
                 "process group", m->log_id, m->alias, (int)m->pid, MCP_TERM_AFTER_S);
        kill(-m->pid, SIGTERM);
        ev_timer_set(w, MCP_KILL_AFTER_S, 0.);
        ev_timer_start(loop, w);
    } else {
        log_warn("job=%s MCP server '%s' (pid %d) outlived SIGTERM by %.0f s: SIGKILL to its process group", m->log_id,
                 m->alias, (int)m->pid, MCP_KILL_AFTER_S);
        kill(-m->pid, SIGKILL);
    }
}

static int spawn(struct mcp *m, const struct mcp_spawn *sp, char err[ERR_LEN])
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
        set_err(err, "MCP server '%s': pipe: %s", m->alias, strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (out[i] >= 0)
                close(out[i]);
            if (er[i] >= 0)
                close(er[i]);
        }
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, er[1], 2);
    posix_spawn_file_actions_addchdir_np(&fa, sp->cwd);
    /* The worker's Redis and Ollama sockets must not leak into the server. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t def, none;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGQUIT);
    posix_spawnattr_setsigdefault(&at, &def);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    int rc = posix_spawnp(&m->pid, sp->argv[0], &fa, &at, sp->argv, sp->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in[0]);
    close(out[1]);
    close(er[1]);
    if (rc != 0) {
        set_err(err, "MCP server '%s': cannot start '%s' in %s: %s", m->alias, sp->argv[0], sp->cwd, strerror(rc));
        close(in[1]);
        close(out[0]);
        close(er[0]);
        return -1;
    }
    m->in_fd = in[1];
    m->out_fd = out[0];
    m->err_fd = er[0];
    for (int i = 0; i < 3; i++) {
        int fd = i == 0 ? m->in_fd : i == 1 ? m->out_fd : m->err_fd;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return 0;
}

/* ---- API ---- */

struct mcp *mcp_start(struct ev_loop *loop, const struct mcp_spawn *sp, mcp_ready_fn *ready, void *arg,
                      char err[ERR_LEN])
{
    struct mcp *m = xcalloc(1, sizeof *m);
    m->loop = loop;
    snprintf(m->alias, sizeof m->alias, "%s", sp->alias);
    snprintf(m->log_id, sizeof m->log_id, "%s", sp->log_id ? sp->log_id : "-");
    m->in_fd = m->out_fd = m->err_fd = -1;
    m->timeout_s = sp->timeout_s;
    m->start_timeout_s = sp->start_timeout_s;
    m->next_id = 1;
    m->ready = ready;
    m->ready_arg = arg;
    m->tools = json_array();
    m->cursors = json_object();
    ev_io_init(&m->in_io, on_in, -1, EV_WRITE);
    ev_init(&m->eof_timer, on_eof_timer);
    ev_init(&m->death_timer, on_death_timer);
    ev_init(&m->term_timer, on_term_timer);
    ev_idle_init(&m->release_idle, on_release);
    m->in_io.data = m->out_io.data = m->err_io.data = m->child.data = m->eof_timer.data = m->death_timer.data =
        m->term_timer.data = m->release_idle.data = m;
    if (spawn(m, sp, err) < 0) {
        json_decref(m->tools);
        json_decref(m->cursors);
        free(m);
        return NULL;
    }
    snprintf(m->cwd, sizeof m->cwd, "%s", sp->cwd);
    m->next_all = all_servers;
    all_servers = m;
    m->nd = ndjson_new(MCP_MAX_LINE, on_line, m);
    ev_io_set(&m->in_io, m->in_fd, EV_WRITE);
    ev_io_init(&m->out_io, on_out, m->out_fd, EV_READ);
    ev_io_init(&m->err_io, on_err, m->err_fd, EV_READ);
    ev_io_start(loop, &m->out_io);
    ev_io_start(loop, &m->err_io);
    ev_child_init(&m->child, on_child, m->pid, 0);
    ev_child_start(loop, &m->child);
    m->err_window = ev_now(loop);
    m->start_deadline = ev_now(loop) + sp->start_timeout_s;
    log_debug("job=%s MCP server '%s' started: pid %d in %s", m->log_id, m->alias, (int)m->pid, m->cwd);
    /* The pipe holds what we write before the server listens, so initialize goes out now. */
    json_t *params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", MCP_PROTOCOL_VERSION, "capabilities",
                               "clientInfo", "name", "turnq-worker", "version", TURNQ_VERSION);
    request(m, REQ_INIT, "initialize", params, sp->start_timeout_s, "initialize");
    json_decref(params);
    return m;
}

const char *mcp_protocol(const struct mcp *m) { return m->protocol; }
const char *mcp_server_info(const struct mcp *m) { return m->info; }
int mcp_pid(const struct mcp *m) { return (int)m->pid; }

struct mcp_call *mcp_call(struct mcp *m, const char *tool, json_t *args, mcp_result_fn *cb, void *arg)
{
    char what[96];
    snprintf(what, sizeof what, "tools/call '%.70s'", tool);
    json_t *a = json_is_object(args) ? json_incref(args) : json_object();
    json_t *params = json_pack("{s:s, s:o}", "name", tool, "arguments", a);
    struct mcp_call *c = request(m, REQ_CALL, "tools/call", params, m->timeout_s, what);
    json_decref(params);
    c->cb = cb;
    c->arg = arg;
    return c;
}

void mcp_call_cancel(struct mcp_call *c)
{
    if (!c)
        return;
    struct mcp *m = c->m;
    unlink_call(c);
    if (m->state == MCP_READY)
        send_cancelled(m, c->id, "cancelled by the worker");
    free(c);
}

void mcp_close(struct mcp *m)
{
    if (!m || m->state == MCP_CLOSING)
        return;
    m->state = MCP_CLOSING;
    m->ready = NULL;
    free_calls(m);
    ev_timer_stop(m->loop, &m->eof_timer);
    ev_timer_stop(m->loop, &m->death_timer);
    /* EOF on stdin asks the server to end (the spec's first step); our read ends close too, so
     * a server still writing gets EPIPE rather than blocking. */
    close_fds(m);
    if (m->exited) {
        finish_close(m);
        return;
    }
    m->term_stage = 0;
    ev_timer_set(&m->term_timer, MCP_TERM_AFTER_S, 0.);
    ev_timer_start(m->loop, &m->term_timer);
}

void mcp_kill(struct mcp *m)
{
    if (!m)
        return;
    kill(-m->pid, SIGKILL);
    if (!m->exited) {
        ev_child_stop(m->loop, &m->child);
        /* libev's SIGCHLD handler may have reaped it already (ECHILD then). */
        while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        m->exited = true;
    }
    remove_cwd(m);
    release(m);
}

void mcp_kill_all(void)
{
    while (all_servers)
        mcp_kill(all_servers);
}
