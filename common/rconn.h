#ifndef COMMON_RCONN_H
#define COMMON_RCONN_H
/* rconn: one hiredis async connection on the libev loop, kept alive for the life of the process.
 * It connects (with a connect timeout of its own: hiredis 0.14 has none), sends AUTH and SELECT
 * from the URL, reports when it is ready and when it drops, and reconnects forever with capped
 * exponential backoff. The worker holds two: a "blocking" one for the claim (BLMOVE) and a
 * "command" one for everything else, because replies on one connection come in order and a
 * blocked BLMOVE would hold up every later reply (CONVENTIONS rule 7).
 *
 * With sentinels in the address (sentinel.h), every connect first asks them where the primary
 * is, checks ROLE, and a lost connection or a READONLY reply makes it ask again.
 *
 * This and sentinel.c are the only modules that include <hiredis/async.h>; callers see
 * redisReply only. */
#include <ev.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "redisurl.h"

struct rconn;

/* A reply callback runs exactly once. reply == NULL means the command never got an answer (not
 * connected, connection lost, or rconn_free): a transport error, to be told apart from
 * reply->type == REDIS_REPLY_ERROR, a command error. The reply is borrowed for the call. */
typedef void rconn_reply_fn(struct rconn *rc, redisReply *reply, void *arg);

/* Called with up = true each time the connection becomes ready (after AUTH/SELECT), and with
 * up = false each time a ready connection is lost. */
typedef void rconn_state_fn(struct rconn *rc, bool up, void *arg);

/* Returns a new connection that starts connecting at once; never NULL. `name` (copied) appears in
 * logs and as CLIENT SETNAME. */
struct rconn *rconn_new(struct ev_loop *loop, const struct redis_addr *addr, const char *name,
                        rconn_state_fn *state_fn, void *arg);

/* Closes the connection. Commands still pending get their callback with reply NULL, from inside
 * this call; those callbacks must not use rc. May be called from a reply callback (the free is
 * then deferred until it returns). rconn_free(NULL) is a no-op. */
void rconn_free(struct rconn *rc);

bool rconn_ready(const struct rconn *rc);

/* The server's CLIENT ID of this connection (valid while ready), for CLIENT UNBLOCK. */
long long rconn_client_id(const struct rconn *rc);

/* Sends a command (hiredis format: use %s for short names, %b for payloads). cb may be NULL.
 * When the connection is not ready, cb is called later with NULL, never before this returns. */
void rconn_command(struct rconn *rc, rconn_reply_fn *cb, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same with an argument vector (argvlen may be NULL for C strings). */
void rconn_command_argv(struct rconn *rc, rconn_reply_fn *cb, void *arg, int argc, const char **argv,
                        const size_t *argvlen);

/* hiredis 0.14 has no command timeout: this arms our own. When commands wait and no reply comes
 * for `seconds` (a paused or partitioned Redis), the connection is dropped and their callbacks get
 * NULL. On the claim connection it must exceed the BLMOVE block time. 0 turns it off (default). */
void rconn_set_reply_timeout(struct rconn *rc, double seconds);

/* Drops the connection now (a watchdog decided it is stuck); pending callbacks get NULL and it
 * reconnects with backoff. */
void rconn_drop(struct rconn *rc);

#endif
