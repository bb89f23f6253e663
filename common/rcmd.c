/* rcmd: connect, AUTH, SELECT for the synchronous CLI connection. */
#include "rcmd.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

redisContext *rcmd_connect(const struct redis_addr *a, double timeout_s, char err[ERR_LEN])
{
    char where[512];
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
