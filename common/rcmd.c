/* rcmd: connect, AUTH, SELECT for the synchronous CLI connection. With sentinels, the primary
 * is looked up first (blocking, SENTINEL_TIMEOUT_S a sentinel) and checked with ROLE. */
#include "rcmd.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "sentinel.h"

redisContext *rcmd_connect(const struct redis_addr *addr, double timeout_s, char err[ERR_LEN])
{
    char where[512];
    struct redis_addr resolved = *addr;
    const struct redis_addr *a = &resolved;
    if (addr->sentinel.n) {
        char why[ERR_LEN], list[512];
        if (sentinel_lookup(&addr->sentinel, timeout_s, resolved.host, &resolved.port, why) < 0) {
            sentinel_list(&addr->sentinel, list, sizeof list);
            set_err(err, "no sentinel of %s named the primary of %s: %s", list, addr->sentinel.master, why);
            return NULL;
        }
    }
    redisurl_redacted(a, where, sizeof where);
    struct timeval tv = {.tv_sec = (time_t)timeout_s, .tv_usec = (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6)};
    redisContext *c = a->path[0] ? redisConnectUnixWithTimeout(a->path, tv)
                                 : redisConnectWithTimeout(a->host, a->port, tv);
    if (c == NULL || c->err) {
        set_err(err, "%s: %s", where, c ? c->errstr : "cannot allocate a connection");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r;
    if (a->pass[0]) {
        r = a->user[0] ? redisCommand(c, "AUTH %s %s", a->user, a->pass) : redisCommand(c, "AUTH %s", a->pass);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            set_err(err, "%s: AUTH failed: %s", where, r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "PING");
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        set_err(err, "%s: %s", where, r ? r->str : c->errstr);
        goto fail;
    }
    freeReplyObject(r);
    if (a->sentinel.n) {
        r = redisCommand(c, "ROLE");
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            set_err(err, "%s: ROLE failed: %s", where, r ? r->str : c->errstr);
            goto fail;
        }
        const char *role = r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING
                               ? r->element[0]->str : "?";
        if (strcmp(role, "master")) {
            set_err(err, "%s: named by the sentinels as the primary of %s but its role is %s (a failover under way?)",
                    where, a->sentinel.master, role);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (a->db) {
        r = redisCommand(c, "SELECT %d", a->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            set_err(err, "%s: SELECT %d failed: %s", where, a->db, r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    return c;
fail:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return NULL;
}
