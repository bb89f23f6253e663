/* sentinel: ask Redis Sentinel where the primary is.
 *
 * The configuration half (sentinel_setup) turns --redis, --sentinel, --master and
 * --sentinel-password into one struct redis_addr, so rcmd and rconn see a single address that
 * either names the server or says "ask these sentinels".
 *
 * The lookup half asks the sentinels one after the other, never in parallel: the first answer
 * wins, and a quorum is not ours to compute (the sentinels agreed when they promoted). A sentinel
 * that is down, slow, refuses AUTH or does not know the master name costs at most
 * SENTINEL_TIMEOUT_S before the next is tried. The async query (struct sentinel_query) drives one
 * hiredis async context at a time with a single ev_timer, which is both the per-sentinel timeout
 * and the zero-delay step to the next sentinel, so no callback of ours runs inside the call that
 * started the query and no hiredis callback starts a new connection from within itself. A context
 * we give up on has its data pointer cleared before redisAsyncFree, so the NULL replies hiredis
 * hands its pending commands land nowhere (the rconn.c pattern). */
#include "sentinel.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cfg.h"
#include "xalloc.h"

/* ---- Configuration ---- */

static int parse_port(const char *s, int *out)
{
    char *end;
    if (!*s || strlen(s) > 5)
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

/* "host", "host:port", "[v6]", "[v6]:port". */
static int parse_one(const char *item, char *host, size_t hsize, int *port, char err[ERR_LEN])
{
    const char *h = item, *h_end, *p = NULL;
    if (*item == '[') {
        const char *rb = strchr(item, ']');
        if (!rb || (rb[1] && rb[1] != ':')) {
            set_err(err, "--sentinel: '%s' is not host:port ([v6]:port for IPv6)", item);
            return -1;
        }
        h = item + 1;
        h_end = rb;
        p = rb[1] ? rb + 2 : NULL;
    } else {
        const char *colon = strchr(item, ':');
        if (colon && strchr(colon + 1, ':')) {
            set_err(err, "--sentinel: '%s': write an IPv6 address as [addr]:port", item);
            return -1;
        }
        h_end = colon ? colon : item + strlen(item);
        p = colon ? colon + 1 : NULL;
    }
    if (h_end == h || (size_t)(h_end - h) >= hsize) {
        set_err(err, "--sentinel: '%s' has %s host", item, h_end == h ? "no" : "too long a");
        return -1;
    }
    memcpy(host, h, (size_t)(h_end - h));
    host[h_end - h] = '\0';
    *port = REDIS_SENTINEL_PORT;
    if (p && parse_port(p, port) < 0) {
        set_err(err, "--sentinel: '%s': the port must be a number from 1 to 65535", item);
        return -1;
    }
    return 0;
}

int sentinel_setup(const char *url, const char *sentinels, const char *master, const char *sentinel_pass,
                   struct redis_addr *a, char err[ERR_LEN])
{
    char why[ERR_LEN];
    if (sentinels && !*sentinels)
        sentinels = NULL; /* an empty TURNQ_SENTINEL in a compose file means "not set" */
    if (!sentinels) {
        if (master && *master) {
            set_err(err, "--master: only with --sentinel (the sentinels that know the master by that name)");
            return -1;
        }
        if (sentinel_pass && *sentinel_pass) {
            set_err(err, "--sentinel-password: only with --sentinel");
            return -1;
        }
        if (redisurl_parse(url ? url : REDISURL_DEFAULT, a, why) < 0) {
            set_err(err, "--redis: %s", why);
            return -1;
        }
        return 0;
    }
    if (redisurl_parse_credentials(url ? url : "redis:///0", a, why) < 0) {
        set_err(err, "--redis: %s", why);
        return -1;
    }
    if (a->host[0] || a->path[0]) {
        set_err(err, "--sentinel and --redis: give the primary's address in one of them, not both; with "
                     "--sentinel, --redis carries only credentials and db: redis://[user:password@]/DB");
        return -1;
    }
    if (!master || !*master) {
        set_err(err, "--sentinel needs --master NAME: the name the sentinels monitor the primary under");
        return -1;
    }
    if (strlen(master) >= sizeof a->sentinel.master || strcspn(master, " \t\r\n") != strlen(master)) {
        set_err(err, "--master: '%.64s' is not a master name (no spaces, under %zu bytes)", master,
                sizeof a->sentinel.master);
        return -1;
    }
    snprintf(a->sentinel.master, sizeof a->sentinel.master, "%s", master);
    if (sentinel_pass) {
        if (strlen(sentinel_pass) >= sizeof a->sentinel.pass) {
            set_err(err, "--sentinel-password: longer than %zu bytes", sizeof a->sentinel.pass - 1);
            return -1;
        }
        snprintf(a->sentinel.pass, sizeof a->sentinel.pass, "%s", sentinel_pass);
    }
    char *copy = xstrdup(sentinels);
    const char *items[REDIS_SENTINELS_MAX];
    int n = cfg_split_list(copy, items, REDIS_SENTINELS_MAX, why);
    if (n < 0) {
        set_err(err, "--sentinel: %s", why);
        free(copy);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (parse_one(items[i], a->sentinel.at[i].host, sizeof a->sentinel.at[i].host, &a->sentinel.at[i].port,
                      err) < 0) {
            free(copy);
            return -1;
        }
    }
    a->sentinel.n = n;
    free(copy);
    return 0;
}

void sentinel_list(const struct sentinel_cfg *s, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->n && len < size; i++) {
        const char *h = s->at[i].host;
        int w = snprintf(buf + len, size - len, strchr(h, ':') ? "%s[%s]:%d" : "%s%s:%d", i ? "," : "", h,
                         s->at[i].port);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* ---- Answers ---- */

/* Appends "; sentinel H:P: WHY" to err (the first without the "; "). */
static void note(char err[ERR_LEN], const struct sentinel_cfg *s, int i, const char *why)
{
    size_t len = strlen(err);
    if (len >= ERR_LEN - 1)
        return;
    const char *h = s->at[i].host;
    snprintf(err + len, ERR_LEN - len, strchr(h, ':') ? "%ssentinel [%s]:%d: %s" : "%ssentinel %s:%d: %s",
             len ? "; " : "", h, s->at[i].port, why);
}

/* Checks a get-master-addr-by-name reply. Returns 0 with host and port, or -1 with why. */
static int read_answer(const redisReply *r, const char *master, char *host, int *port, char *why, size_t wsize)
{
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, wsize, "%s", r->str);
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        snprintf(why, wsize, "monitors no master named '%s'", master);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[0]->len == 0 || r->element[0]->len >= 256 ||
        parse_port(r->element[1]->str, port) < 0) {
        snprintf(why, wsize, "answered something that is not [host, port]");
        return -1;
    }
    memcpy(host, r->element[0]->str, r->element[0]->len + 1);
    return 0;
}

/* ---- Blocking lookup ---- */

int sentinel_lookup(const struct sentinel_cfg *s, double timeout_s, char *host, int *port, char err[ERR_LEN])
{
    err[0] = '\0';
    if (timeout_s > SENTINEL_TIMEOUT_S)
        timeout_s = SENTINEL_TIMEOUT_S;
    struct timeval tv = {.tv_sec = (time_t)timeout_s,
                         .tv_usec = (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6)};
    for (int i = 0; i < s->n; i++) {
        char why[ERR_LEN];
        redisContext *c = redisConnectWithTimeout(s->at[i].host, s->at[i].port, tv);
        if (!c || c->err) {
            note(err, s, i, c ? c->errstr : "cannot allocate a connection");
            redisFree(c);
            continue;
        }
        redisSetTimeout(c, tv);
        redisReply *r = NULL;
        if (s->pass[0]) {
            r = redisCommand(c, "AUTH %s", s->pass);
            if (!r || r->type == REDIS_REPLY_ERROR) {
                snprintf(why, sizeof why, "AUTH failed: %s", r ? r->str : c->errstr);
                note(err, s, i, why);
                freeReplyObject(r);
                redisFree(c);
                continue;
            }
            freeReplyObject(r);
        }
        r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", s->master);
        int ok = r ? read_answer(r, s->master, host, port, why, sizeof why) : -1;
        if (!r)
            snprintf(why, sizeof why, "%s", c->errstr[0] ? c->errstr : "no answer");
        freeReplyObject(r);
        redisFree(c);
        if (ok == 0)
            return 0;
        note(err, s, i, why);
    }
    return -1;
}

/* ---- Lookup on the loop ---- */

struct sentinel_query {
    struct ev_loop *loop;
    const struct sentinel_cfg *s; /* borrowed */
    sentinel_fn *cb;
    void *arg;
    int next;                     /* the sentinel to try next */
    int cur;                      /* the one being asked, while ac is set */
    redisAsyncContext *ac;        /* NULL between attempts */
    ev_timer timer;               /* ac set: the attempt's timeout; else: step to the next */
    char err[ERR_LEN];            /* what each sentinel said so far */
};

static void drop_ac(struct sentinel_query *q)
{
    redisAsyncContext *ac = q->ac;
    if (!ac)
        return;
    q->ac = NULL;
    ac->data = NULL; /* every callback hiredis still makes for it is then ignored */
    redisAsyncFree(ac);
}

static void finish(struct sentinel_query *q, const char *host, int port)
{
    ev_timer_stop(q->loop, &q->timer);
    drop_ac(q);
    q->cb(host != NULL, host, port, q->err, q->arg);
    free(q);
}

/* This attempt failed: note why and step to the next sentinel from the timer, outside hiredis. */
static void attempt_failed(struct sentinel_query *q, const char *why)
{
    note(q->err, q->s, q->cur, why);
    drop_ac(q);
    ev_timer_stop(q->loop, &q->timer);
    ev_timer_set(&q->timer, 0., 0.);
    ev_timer_start(q->loop, &q->timer);
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)privdata;
    struct sentinel_query *q = ac->data;
    redisReply *reply = r;
    if (!q || !reply || reply->type != REDIS_REPLY_ERROR)
        return; /* success; or a lost connection, which on_disconnect reports */
    char why[ERR_LEN];
    snprintf(why, sizeof why, "AUTH failed: %s", reply->str);
    attempt_failed(q, why);
}

static void on_answer(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)privdata;
    struct sentinel_query *q = ac->data;
    redisReply *reply = r;
    if (!q || !reply)
        return;
    char host[256], why[ERR_LEN];
    int port;
    if (read_answer(reply, q->s->master, host, &port, why, sizeof why) < 0) {
        /* After a failed AUTH the question fails too (NOAUTH); that attempt is already noted. */
        attempt_failed(q, why);
        return;
    }
    finish(q, host, port);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct sentinel_query *q = ac->data;
    if (!q || status == REDIS_OK)
        return;
    /* hiredis frees the context after this callback returns. */
    q->ac = NULL;
    ac->data = NULL;
    attempt_failed(q, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct sentinel_query *q = ac->data;
    if (!q)
        return;
    q->ac = NULL; /* hiredis frees it after this returns */
    ((redisAsyncContext *)ac)->data = NULL;
    attempt_failed(q, ac->errstr[0] ? ac->errstr : "closed the connection");
}

/* Starts asking sentinel i. Returns 0 when the attempt is under way, -1 (noted) when it failed
 * at once. */
static int begin(struct sentinel_query *q, int i)
{
    q->cur = i;
    redisAsyncContext *ac = redisAsyncConnect(q->s->at[i].host, q->s->at[i].port);
    if (!ac || ac->err) {
        note(q->err, q->s, i, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return -1;
    }
    ac->data = q;
    redisLibevAttach(q->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    q->ac = ac;
    if (q->s->pass[0])
        redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", q->s->pass);
    redisAsyncCommand(ac, on_answer, NULL, "SENTINEL get-master-addr-by-name %s", q->s->master);
    ev_timer_set(&q->timer, SENTINEL_TIMEOUT_S, 0.);
    ev_timer_start(q->loop, &q->timer);
    return 0;
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct sentinel_query *q = t->data;
    if (q->ac) {
        char why[64];
        snprintf(why, sizeof why, "no answer within %.1f s", SENTINEL_TIMEOUT_S);
        note(q->err, q->s, q->cur, why);
        drop_ac(q);
    }
    while (q->next < q->s->n)
        if (begin(q, q->next++) == 0)
            return;
    finish(q, NULL, 0);
}

struct sentinel_query *sentinel_query_start(struct ev_loop *loop, const struct sentinel_cfg *s, sentinel_fn *cb,
                                            void *arg)
{
    struct sentinel_query *q = xcalloc(1, sizeof *q);
    q->loop = loop;
    q->s = s;
    q->cb = cb;
    q->arg = arg;
    ev_timer_init(&q->timer, on_timer, 0., 0.);
    q->timer.data = q;
    ev_timer_start(loop, &q->timer); /* the first attempt starts from the loop, not from here */
    return q;
}

void sentinel_query_cancel(struct sentinel_query *q)
{
    if (!q)
        return;
    ev_timer_stop(q->loop, &q->timer);
    drop_ac(q);
    free(q);
}
