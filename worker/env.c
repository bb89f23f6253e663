/* env: the two environment transports behind one request/response interface.
 *
 * --env-cmd: posix_spawnp (no shell, no fork of our address space) with stdin and stdout pipes;
 * stdout is read by an ev_io into an NDJSON framer, one line being one response. The process is
 * reaped by an ev_child watcher (the default loop), so a crash is noticed at once and fails the
 * outstanding request. An env outlives env_close until its process has been reaped.
 * --env-url: one HTTP POST per request through the worker's curl engine, with a total timeout. */
/* pipe2 and posix_spawn_file_actions_addclosefrom_np (glibc 2.34) are GNU extensions. */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "ndjson.h"
#include "xalloc.h"

#define ENV_MAX_LINE (16u << 20)
#define ENV_MAX_ARGS 64
#define ENV_KILL_AFTER_S 2.0

extern char **environ;

struct env {
    struct ev_loop *loop;
    struct http *http;
    struct env_cfg cfg;
    char id[160];
    /* the outstanding request */
    env_reply_fn *cb;
    void *cb_arg;
    ev_timer timeout;        /* response deadline; also delivers early failures */
    char pending_err[ERR_LEN];
    json_t *pending_reply;   /* a reply read, to deliver outside the io callback */
    ev_idle deliver;
    /* --env-url */
    struct http_req *req;
    /* --env-cmd */
    pid_t pid;
    int in_fd, out_fd;       /* our ends: write requests, read responses */
    ev_io out_io;
    ev_child child;
    ev_timer kill_timer;
    ev_timer eof_timer;      /* stdout closed: wait a moment for the exit status */
    struct ndjson *nd;
    bool exited;
    bool stdout_closed;
    char exit_msg[ERR_LEN];  /* how the process ended */
    bool closed;             /* env_close was called */
};

static void env_release(struct env *e)
{
    ev_timer_stop(e->loop, &e->timeout);
    ev_timer_stop(e->loop, &e->kill_timer);
    ev_timer_stop(e->loop, &e->eof_timer);
    ev_idle_stop(e->loop, &e->deliver);
    ev_io_stop(e->loop, &e->out_io);
    ev_child_stop(e->loop, &e->child);
    if (e->in_fd >= 0)
        close(e->in_fd);
    if (e->out_fd >= 0)
        close(e->out_fd);
    ndjson_free(e->nd);
    json_decref(e->pending_reply);
    free(e);
}

/* ---- Delivering the response ---- */

static void deliver(struct env *e, json_t *reply, const char *err)
{
    env_reply_fn *cb = e->cb;
    void *arg = e->cb_arg;
    e->cb = NULL;
    ev_timer_stop(e->loop, &e->timeout);
    if (cb)
        cb(e, reply, err, arg);
}

static void on_deliver(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct env *e = w->data;
    ev_idle_stop(loop, w);
    json_t *reply = e->pending_reply;
    e->pending_reply = NULL;
    char err[ERR_LEN];
    snprintf(err, sizeof err, "%s", e->pending_err);
    e->pending_err[0] = '\0';
    deliver(e, reply, reply ? NULL : err);
    json_decref(reply);
}

/* Queue a result; delivered from an idle watcher so that no callback runs inside our own
 * io/child callbacks or before env_request returns. */
static void deliver_later(struct env *e, json_t *reply, const char *err)
{
    if (!e->cb || e->pending_reply || e->pending_err[0]) {
        json_decref(reply);
        return;
    }
    e->pending_reply = reply;
    if (!reply)
        snprintf(e->pending_err, sizeof e->pending_err, "%s", err);
    ev_idle_start(e->loop, &e->deliver);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct env *e = w->data;
    char err[ERR_LEN];
    snprintf(err, sizeof err, "environment gave no answer within %.0f s", e->cfg.timeout_s);
    if (e->req) {
        http_cancel(e->req);
        e->req = NULL;
    }
    deliver(e, NULL, err);
}

/* ---- --env-cmd ---- */

static int on_line(void *arg, const char *line, size_t len)
{
    struct env *e = arg;
    json_error_t jerr;
    json_t *reply = json_loadb(line, len, 0, &jerr);
    if (!json_is_object(reply)) {
        json_decref(reply);
        char err[ERR_LEN];
        snprintf(err, sizeof err, "environment answered a line that is not a JSON object: %.*s%s",
                 (int)(len > 80 ? 80 : len), line, len > 80 ? "..." : "");
        deliver_later(e, NULL, err);
        return 0;
    }
    if (!e->cb) {
        log_warn("job=%s environment wrote a line nobody asked for; ignored", e->id);
        json_decref(reply);
        return 0;
    }
    deliver_later(e, reply, NULL);
    return 0;
}

static void on_out(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct env *e = w->data;
    char buf[65536];
    ssize_t n = read(e->out_fd, buf, sizeof buf);
    if (n > 0) {
        if (ndjson_feed(e->nd, buf, (size_t)n) < 0)
            deliver_later(e, NULL, "environment wrote a line over 16 MiB");
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    ev_io_stop(loop, w);
    /* Usually the process has exited: wait briefly for the child watcher, whose message says
     * how (status or signal); say only "closed its stdout" if it is still alive. */
    e->stdout_closed = true;
    if (e->exited)
        deliver_later(e, NULL, e->exit_msg);
    else {
        ev_timer_set(&e->eof_timer, 1.0, 0.);
        ev_timer_start(loop, &e->eof_timer);
    }
}

static void on_eof_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct env *e = w->data;
    deliver_later(e, NULL, "environment closed its stdout (the process is still running)");
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct env *e = w->data;
    ev_child_stop(loop, w);
    e->exited = true;
    int st = w->rstatus;
    if (e->closed) {
        env_release(e);
        return;
    }
    if (WIFSIGNALED(st))
        snprintf(e->exit_msg, sizeof e->exit_msg, "environment process (%s) died of signal %d", e->cfg.cmd,
                 WTERMSIG(st));
    else
        snprintf(e->exit_msg, sizeof e->exit_msg, "environment process (%s) exited with status %d", e->cfg.cmd,
                 WEXITSTATUS(st));
    log_warn("job=%s %s", e->id, e->exit_msg);
    ev_timer_stop(loop, &e->eof_timer);
    deliver_later(e, NULL, e->exit_msg);
}

static void on_kill_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct env *e = w->data;
    if (!e->exited) {
        log_warn("job=%s environment did not exit after its stdin closed; killing pid %d", e->id, (int)e->pid);
        kill(e->pid, SIGKILL);
    }
}

static int spawn_cmd(struct env *e, char err[ERR_LEN])
{
    char *copy = xstrdup(e->cfg.cmd);
    char *argv[ENV_MAX_ARGS + 1];
    int argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (argc == ENV_MAX_ARGS) {
            set_err(err, "--env-cmd: more than %d arguments", ENV_MAX_ARGS);
            free(copy);
            return -1;
        }
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    if (argc == 0) {
        set_err(err, "--env-cmd: empty command");
        free(copy);
        return -1;
    }
    int in_pipe[2], out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0) {
        set_err(err, "--env-cmd: pipe: %s", strerror(errno));
        free(copy);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    /* The worker's Redis and Ollama sockets must not leak into the user's program. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    int rc = posix_spawnp(&e->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (rc != 0) {
        set_err(err, "--env-cmd: cannot start '%s': %s", argv[0], strerror(rc));
        close(in_pipe[1]);
        close(out_pipe[0]);
        free(copy);
        return -1;
    }
    free(copy);
    e->in_fd = in_pipe[1];
    e->out_fd = out_pipe[0];
    fcntl(e->out_fd, F_SETFL, fcntl(e->out_fd, F_GETFL) | O_NONBLOCK);
    e->nd = ndjson_new(ENV_MAX_LINE, on_line, e);
    ev_io_init(&e->out_io, on_out, e->out_fd, EV_READ);
    e->out_io.data = e;
    ev_io_start(e->loop, &e->out_io);
    ev_child_init(&e->child, on_child, e->pid, 0);
    e->child.data = e;
    ev_child_start(e->loop, &e->child);
    log_debug("job=%s environment started: pid %d", e->id, (int)e->pid);
    return 0;
}

/* Writes the whole line; the pipe is blocking on our side and requests are small next to the
 * pipe buffer, so this does not stall the loop in practice. */
static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- --env-url ---- */

static void on_http_done(struct http_req *req, void *arg)
{
    struct env *e = arg;
    e->req = NULL;
    char err[ERR_LEN];
    if (http_req_failed(req)) {
        snprintf(err, sizeof err, "environment %s: %s", e->cfg.url, http_req_error(req));
        deliver(e, NULL, err);
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    if (http_req_status(req) != 200) {
        snprintf(err, sizeof err, "environment %s answered HTTP %ld: %.100s", e->cfg.url, http_req_status(req), body);
        deliver(e, NULL, err);
        return;
    }
    json_t *reply = json_loadb(body, len, 0, NULL);
    if (!json_is_object(reply)) {
        json_decref(reply);
        snprintf(err, sizeof err, "environment %s answered something that is not a JSON object", e->cfg.url);
        deliver(e, NULL, err);
        return;
    }
    deliver(e, reply, NULL);
    json_decref(reply);
}

/* ---- API ---- */

struct env *env_open(struct ev_loop *loop, struct http *http, const struct env_cfg *cfg, const char *id,
                     char err[ERR_LEN])
{
    struct env *e = xcalloc(1, sizeof *e);
    e->loop = loop;
    e->http = http;
    e->cfg = *cfg;
    e->in_fd = e->out_fd = -1;
    snprintf(e->id, sizeof e->id, "%s", id);
    ev_init(&e->timeout, on_timeout);
    ev_init(&e->kill_timer, on_kill_timer);
    ev_init(&e->eof_timer, on_eof_timer);
    e->eof_timer.data = e;
    ev_idle_init(&e->deliver, on_deliver);
    e->timeout.data = e->kill_timer.data = e->deliver.data = e;
    if (cfg->cmd && spawn_cmd(e, err) < 0) {
        env_release(e);
        return NULL;
    }
    return e;
}

void env_request(struct env *e, json_t *req, env_reply_fn *cb, void *arg)
{
    e->cb = cb;
    e->cb_arg = arg;
    ev_timer_set(&e->timeout, e->cfg.timeout_s, 0.);
    ev_timer_start(e->loop, &e->timeout);
    char *text = json_dumps(req, JSON_COMPACT);
    if (e->cfg.cmd) {
        if (e->exited || write_all(e->in_fd, text, strlen(text)) < 0 || write_all(e->in_fd, "\n", 1) < 0)
            deliver_later(e, NULL, "environment process is not reading its stdin (it exited?)");
    } else {
        const char *headers[] = {"Accept: application/json", NULL};
        struct http_opts o = {
            .url = e->cfg.url, .method = "POST", .body = text, .body_len = strlen(text),
            .headers = headers, .connect_timeout_ms = 5000, .total_timeout_s = e->cfg.timeout_s,
            .max_body = ENV_MAX_LINE, .on_done = on_http_done, .arg = e,
        };
        e->req = http_submit(e->http, &o);
    }
    free(text);
}

void env_close(struct env *e)
{
    if (!e)
        return;
    e->cb = NULL;
    e->closed = true;
    if (e->req) {
        http_cancel(e->req);
        e->req = NULL;
    }
    ev_timer_stop(e->loop, &e->timeout);
    ev_idle_stop(e->loop, &e->deliver);
    if (!e->cfg.cmd || e->exited) {
        env_release(e);
        return;
    }
    /* EOF on stdin asks the process to end; the kill timer makes sure it does. */
    ev_io_stop(e->loop, &e->out_io);
    close(e->in_fd);
    e->in_fd = -1;
    ev_timer_set(&e->kill_timer, ENV_KILL_AFTER_S, 0.);
    ev_timer_start(e->loop, &e->kill_timer);
}

void env_kill(struct env *e)
{
    if (!e)
        return;
    if (e->req)
        http_cancel(e->req);
    if (e->cfg.cmd && !e->exited) {
        kill(e->pid, SIGKILL);
        waitpid(e->pid, NULL, 0);
    }
    env_release(e);
}
