/* rconn: the lifecycle of one hiredis async context on libev.
 *
 * States: DOWN (no context; the reconnect timer is armed) -> [RESOLVING (with --sentinel: the
 * sentinels are asked where the primary is, sentinel.h)] -> CONNECTING (context exists, the
 * connect timer is armed) -> HANDSHAKE (TCP up, AUTH/SELECT/[ROLE]/CLIENT ID sent) -> READY. Any
 * error goes back to DOWN, and every reconnect asks the sentinels again, so a failover is
 * followed by reconnecting. With sentinels, the handshake's ROLE must say "master" (a sentinel's
 * answer can predate a failover), and a READONLY reply (the server was turned into a replica
 * under us) drops the connection to find the new primary. hiredis frees its context after the disconnect callback returns, so that
 * callback forgets ac first (the hiredis README: "avoid stale pointer when callback returns").
 * A command issued while not READY gets its NULL reply from a zero-delay timer, so no callback
 * ever runs before the call that issued it has returned (ev.pod "AVOIDING FINISHING BEFORE
 * RETURNING"). */
#include "rconn.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sentinel.h"
#include "xalloc.h"

#define RCONN_CONNECT_TIMEOUT_S 5.0
#define RCONN_BACKOFF_MIN_S 0.1
#define RCONN_BACKOFF_MAX_S 5.0
/* With sentinels the next attempt asks them again, which is cheap, and a failover completes in
 * seconds: keep retrying at least this often so the new primary is found soon after. */
#define RCONN_BACKOFF_MAX_SENTINEL_S 1.0

enum rconn_state { RCONN_DOWN, RCONN_RESOLVING, RCONN_CONNECTING, RCONN_HANDSHAKE, RCONN_READY };

struct cmd {                 /* privdata of one command */
    struct rconn *rc;
    rconn_reply_fn *cb;
    void *arg;
    struct cmd *next;        /* in the failed list while waiting for delivery */
};

struct rconn {
    struct ev_loop *loop;
    struct redis_addr addr;    /* with sentinels: host and port are the primary last named */
    struct sentinel_query *query; /* RESOLVING: the question to the sentinels */
    char name[64];
    char where[512];           /* redacted address for logs */
    redisAsyncContext *ac;     /* NULL when DOWN */
    enum rconn_state state;
    long long client_id;
    double backoff_s;          /* next reconnect delay */
    int failures;              /* consecutive failed connects, for quieter logs */
    ev_timer reconnect;        /* DOWN: when to connect again */
    ev_timer connect_timeout;  /* CONNECTING/HANDSHAKE: give up */
    ev_timer deliver;          /* zero-delay: hand out queued NULL replies */
    ev_timer watchdog;         /* no reply for reply_timeout_s while commands wait: drop */
    double reply_timeout_s;    /* 0: no watchdog */
    struct cmd *failed;        /* commands issued while not ready, oldest first */
    struct cmd **failed_tail;
    rconn_state_fn *state_fn;
    void *state_arg;
    int in_callback;           /* > 0 while a reply callback runs */
    int pending;               /* commands handed to hiredis and not yet answered */
    bool closing;              /* rconn_free was called */
    bool freeing;              /* really_free has run; rc lives on until pending is 0 */
};

static void start_connect(struct rconn *rc);
static void really_free(struct rconn *rc);
static void maybe_release(struct rconn *rc);

/* ---- Going down ---- */

static void schedule_reconnect(struct rconn *rc, bool was_ready)
{
    rc->state = RCONN_DOWN;
    ev_timer_stop(rc->loop, &rc->connect_timeout);
    ev_timer_set(&rc->reconnect, rc->backoff_s, 0.);
    ev_timer_start(rc->loop, &rc->reconnect);
    double max = rc->addr.sentinel.n ? RCONN_BACKOFF_MAX_SENTINEL_S : RCONN_BACKOFF_MAX_S;
    rc->backoff_s = rc->backoff_s * 2 > max ? (rc->backoff_s > max ? rc->backoff_s : max) : rc->backoff_s * 2;
    if (was_ready && rc->state_fn)
        rc->state_fn(rc, false, rc->state_arg);
}

/* Frees the context on purpose (timeout, watchdog, handshake error). */
static void kill_context(struct rconn *rc)
{
    redisAsyncContext *ac = rc->ac;
    if (!ac)
        return;
    rc->ac = NULL;
    ac->data = NULL; /* our disconnect callback then ignores it */
    redisAsyncFree(ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (!rc)
        return;
    rc->ac = NULL;
    ev_timer_stop(rc->loop, &rc->watchdog);
    log_warn("redis %s: connection to %s lost%s%s", rc->name, rc->where, status == REDIS_OK ? "" : ": ",
             status == REDIS_OK ? "" : ac->errstr);
    schedule_reconnect(rc, rc->state == RCONN_READY);
}

static void on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rconn *rc = w->data;
    log_warn("redis %s: no answer from %s within %.0f s; retrying in %.1f s", rc->name, rc->where,
             RCONN_CONNECT_TIMEOUT_S, rc->backoff_s);
    kill_context(rc);
    schedule_reconnect(rc, false);
}

/* ---- Coming up ---- */

static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = ac->data;
    redisReply *reply = r;
    const char *step = privdata;
    if (!rc || !reply)
        return; /* the disconnect path handles it */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* A wrong password or db is a configuration error; keep retrying slowly so a box can boot
         * before Redis is configured, but say exactly what is wrong. */
        log_error("redis %s: %s failed on %s: %s", rc->name, step, rc->where, reply->str);
        rc->backoff_s = RCONN_BACKOFF_MAX_S;
        kill_context(rc);
        schedule_reconnect(rc, false);
        return;
    }
    if (!strcmp(step, "ROLE")) {
        const char *role = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                                   reply->element[0]->type == REDIS_REPLY_STRING
                               ? reply->element[0]->str : "?";
        if (strcmp(role, "master")) {
            log_warn("redis %s: %s is not the primary of %s (its role is %s): asking the sentinels again", rc->name,
                     rc->where, rc->addr.sentinel.master, role);
            kill_context(rc);
            schedule_reconnect(rc, false);
        }
        return;
    }
    if (strcmp(step, "CLIENT ID"))
        return;
    rc->client_id = reply->integer;
    rc->state = RCONN_READY;
    rc->backoff_s = RCONN_BACKOFF_MIN_S;
    ev_timer_stop(rc->loop, &rc->connect_timeout);
    if (rc->failures)
        log_info("redis %s: connected to %s", rc->name, rc->where);
    else
        log_debug("redis %s: connected to %s", rc->name, rc->where);
    rc->failures = 0;
    if (rc->state_fn)
        rc->state_fn(rc, true, rc->state_arg);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct rconn *rc = ac->data;
    if (!rc)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback and calls no disconnect callback. */
        rc->ac = NULL;
        if (rc->failures++ == 0 || rc->failures % 12 == 0)
            log_warn("redis %s: cannot connect to %s: %s; retrying (backoff up to %.0f s)", rc->name, rc->where,
                     ac->errstr, rc->addr.sentinel.n ? RCONN_BACKOFF_MAX_SENTINEL_S : RCONN_BACKOFF_MAX_S);
        schedule_reconnect(rc, false);
        return;
    }
    rc->state = RCONN_HANDSHAKE;
    if (rc->addr.pass[0]) {
        if (rc->addr.user[0])
            redisAsyncCommand(ac, on_handshake_reply, (void *)"AUTH", "AUTH %s %s", rc->addr.user, rc->addr.pass);
        else
            redisAsyncCommand(ac, on_handshake_reply, (void *)"AUTH", "AUTH %s", rc->addr.pass);
    }
    if (rc->addr.db)
        redisAsyncCommand(ac, on_handshake_reply, (void *)"SELECT", "SELECT %d", rc->addr.db);
    if (rc->addr.sentinel.n)
        redisAsyncCommand(ac, on_handshake_reply, (void *)"ROLE", "ROLE");
    redisAsyncCommand(ac, on_handshake_reply, (void *)"CLIENT SETNAME", "CLIENT SETNAME turnq-%s", rc->name);
    redisAsyncCommand(ac, on_handshake_reply, (void *)"CLIENT ID", "CLIENT ID");
}

static void connect_to(struct rconn *rc)
{
    redisAsyncContext *ac = rc->addr.path[0] ? redisAsyncConnectUnix(rc->addr.path)
                                             : redisAsyncConnect(rc->addr.host, rc->addr.port);
    if (ac == NULL || ac->err) {
        if (rc->failures++ == 0 || rc->failures % 12 == 0)
            log_warn("redis %s: cannot connect to %s: %s; retrying", rc->name, rc->where,
                     ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(rc, false);
        return;
    }
    ac->data = rc;
    redisLibevAttach(rc->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rc->ac = ac;
    rc->state = RCONN_CONNECTING;
    ev_timer_set(&rc->connect_timeout, RCONN_CONNECT_TIMEOUT_S, 0.);
    ev_timer_start(rc->loop, &rc->connect_timeout);
}

static void on_resolved(bool ok, const char *host, int port, const char *err, void *arg)
{
    struct rconn *rc = arg;
    rc->query = NULL;
    if (!ok) {
        if (rc->failures++ == 0 || rc->failures % 12 == 0) {
            char list[512];
            sentinel_list(&rc->addr.sentinel, list, sizeof list);
            log_warn("redis %s: no sentinel of %s named the primary of %s: %s; retrying (backoff up to %.0f s)",
                     rc->name, list, rc->addr.sentinel.master, err, RCONN_BACKOFF_MAX_SENTINEL_S);
        }
        schedule_reconnect(rc, false);
        return;
    }
    bool moved = strcmp(rc->addr.host, host) || rc->addr.port != port;
    snprintf(rc->addr.host, sizeof rc->addr.host, "%s", host);
    rc->addr.port = port;
    redisurl_redacted(&rc->addr, rc->where, sizeof rc->where);
    if (moved || err[0])
        log_info("redis %s: the sentinels name %s:%d as the primary of %s%s%s%s", rc->name, host, port,
                 rc->addr.sentinel.master, err[0] ? " (before that: " : "", err, err[0] ? ")" : "");
    connect_to(rc);
}

/* Connects to the server, or, with sentinels, first asks them where the primary is now. */
static void start_connect(struct rconn *rc)
{
    if (!rc->addr.sentinel.n) {
        connect_to(rc);
        return;
    }
    rc->state = RCONN_RESOLVING;
    rc->query = sentinel_query_start(rc->loop, &rc->addr.sentinel, on_resolved, rc);
}

static void on_reconnect(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    start_connect(w->data);
}

/* ---- Commands ---- */

static void run_cb(struct cmd *c, redisReply *reply)
{
    struct rconn *rc = c->rc;
    if (c->cb) {
        rc->in_callback++;
        c->cb(rc, reply, c->arg);
        rc->in_callback--;
    }
    free(c);
    maybe_release(rc);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct cmd *c = privdata;
    struct rconn *rc = c->rc;
    redisReply *reply = r;
    rc->pending--;
    if (reply && reply->type == REDIS_REPLY_ERROR && rc->addr.sentinel.n && rc->ac && !rc->closing &&
        !strncmp(reply->str, "READONLY", 8)) {
        /* A failover demoted this server while we were connected: find the new primary. The
         * drop frees the context after this callback (hiredis defers it); the reply stays valid. */
        log_warn("redis %s: %s is read-only now (demoted by a failover?): asking the sentinels again", rc->name,
                 rc->where);
        rconn_drop(rc);
    }
    /* Progress: re-arm the watchdog while commands still wait, else stop it (ev.pod method 2). */
    if (rc->reply_timeout_s > 0 && !rc->freeing) {
        if (rc->pending > 0)
            ev_timer_again(rc->loop, &rc->watchdog);
        else
            ev_timer_stop(rc->loop, &rc->watchdog);
    }
    run_cb(c, reply);
}

static void on_deliver(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rconn *rc = w->data;
    struct cmd *list = rc->failed;
    rc->failed = NULL;
    rc->failed_tail = &rc->failed;
    rc->in_callback++; /* keep rc alive across the whole list */
    while (list) {
        struct cmd *c = list;
        list = c->next;
        run_cb(c, NULL);
    }
    rc->in_callback--;
    maybe_release(rc);
}

static void fail_later(struct rconn *rc, struct cmd *c)
{
    c->next = NULL;
    *rc->failed_tail = c;
    rc->failed_tail = &c->next;
    if (!ev_is_active(&rc->deliver)) {
        ev_timer_set(&rc->deliver, 0., 0.);
        ev_timer_start(rc->loop, &rc->deliver);
    }
}

static void sent(struct rconn *rc)
{
    if (rc->pending++ == 0 && rc->reply_timeout_s > 0)
        ev_timer_again(rc->loop, &rc->watchdog);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rconn *rc = w->data;
    ev_timer_stop(rc->loop, w);
    log_warn("redis %s: no reply from %s for %.0f s with %d commands waiting (paused or partitioned?)",
             rc->name, rc->where, rc->reply_timeout_s, rc->pending);
    rconn_drop(rc);
}

void rconn_set_reply_timeout(struct rconn *rc, double seconds)
{
    rc->reply_timeout_s = seconds;
    rc->watchdog.repeat = seconds;
    if (seconds <= 0)
        ev_timer_stop(rc->loop, &rc->watchdog);
}

static struct cmd *new_cmd(struct rconn *rc, rconn_reply_fn *cb, void *arg)
{
    struct cmd *c = xcalloc(1, sizeof *c);
    c->rc = rc;
    c->cb = cb;
    c->arg = arg;
    return c;
}

void rconn_command(struct rconn *rc, rconn_reply_fn *cb, void *arg, const char *fmt, ...)
{
    struct cmd *c = new_cmd(rc, cb, arg);
    if (rc->state != RCONN_READY || rc->closing) {
        fail_later(rc, c);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int rv = redisvAsyncCommand(rc->ac, on_reply, c, fmt, ap);
    va_end(ap);
    if (rv != REDIS_OK)
        fail_later(rc, c);
    else
        sent(rc);
}

void rconn_command_argv(struct rconn *rc, rconn_reply_fn *cb, void *arg, int argc, const char **argv,
                        const size_t *argvlen)
{
    struct cmd *c = new_cmd(rc, cb, arg);
    if (rc->state != RCONN_READY || rc->closing ||
        redisAsyncCommandArgv(rc->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK)
        fail_later(rc, c);
    else
        sent(rc);
}

/* ---- Lifecycle ---- */

struct rconn *rconn_new(struct ev_loop *loop, const struct redis_addr *addr, const char *name,
                        rconn_state_fn *state_fn, void *arg)
{
    struct rconn *rc = xcalloc(1, sizeof *rc);
    rc->loop = loop;
    rc->addr = *addr;
    snprintf(rc->name, sizeof rc->name, "%s", name);
    redisurl_redacted(addr, rc->where, sizeof rc->where);
    rc->backoff_s = RCONN_BACKOFF_MIN_S;
    rc->state_fn = state_fn;
    rc->state_arg = arg;
    rc->failed_tail = &rc->failed;
    ev_init(&rc->reconnect, on_reconnect);
    ev_init(&rc->connect_timeout, on_connect_timeout);
    ev_init(&rc->deliver, on_deliver);
    ev_init(&rc->watchdog, on_watchdog);
    rc->reconnect.data = rc->connect_timeout.data = rc->deliver.data = rc->watchdog.data = rc;
    start_connect(rc);
    return rc;
}

bool rconn_ready(const struct rconn *rc) { return rc->state == RCONN_READY && !rc->closing; }
long long rconn_client_id(const struct rconn *rc) { return rc->client_id; }

void rconn_drop(struct rconn *rc)
{
    if (!rc->ac)
        return;
    log_warn("redis %s: dropping the connection to %s", rc->name, rc->where);
    /* Pending callbacks get NULL from inside redisAsyncFree; they may issue new commands, which
     * then fail later because the state is no longer READY. */
    bool was_ready = rc->state == RCONN_READY;
    rc->state = RCONN_DOWN;
    ev_timer_stop(rc->loop, &rc->watchdog);
    kill_context(rc);
    schedule_reconnect(rc, was_ready);
}

/* Frees rc once nothing can call back into it: after rconn_free, outside every callback, and
 * once hiredis has answered (with NULL) every command it holds. redisAsyncFree called from inside
 * a hiredis callback is deferred by hiredis itself, hence the pending count. */
static void maybe_release(struct rconn *rc)
{
    if (!rc->closing || rc->in_callback)
        return;
    if (!rc->freeing)
        really_free(rc);
    else if (rc->pending == 0)
        free(rc);
}

static void really_free(struct rconn *rc)
{
    rc->freeing = true;
    ev_timer_stop(rc->loop, &rc->reconnect);
    ev_timer_stop(rc->loop, &rc->connect_timeout);
    ev_timer_stop(rc->loop, &rc->deliver);
    ev_timer_stop(rc->loop, &rc->watchdog);
    sentinel_query_cancel(rc->query);
    rc->query = NULL;
    rc->in_callback++;
    struct cmd *list = rc->failed;
    rc->failed = NULL;
    while (list) {
        struct cmd *c = list;
        list = c->next;
        if (c->cb)
            c->cb(rc, NULL, c->arg);
        free(c);
    }
    kill_context(rc);
    rc->in_callback--;
    if (rc->pending == 0)
        free(rc);
}

void rconn_free(struct rconn *rc)
{
    if (!rc || rc->closing)
        return;
    rc->closing = true;
    maybe_release(rc);
}
