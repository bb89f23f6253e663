#ifndef COMMON_SENTINEL_H
#define COMMON_SENTINEL_H
/* sentinel: finding the Redis primary through Redis Sentinel (--sentinel host:port,...
 * --master NAME). Each sentinel is asked in turn, with a short timeout of its own,
 * "SENTINEL get-master-addr-by-name NAME"; the first one that names an address wins. The caller
 * then connects there and checks with ROLE that it really is the primary (a sentinel's view can
 * lag a failover). Two forms: a blocking lookup for the command-line tools (rcmd) and one on the
 * libev loop for the worker's connections (rconn), which must not stall running experiments.
 *
 * The sentinels' password (--sentinel-password) is sent with AUTH and never logged. */
#include <ev.h>
#include <stdbool.h>

#include "err.h"
#include "redisurl.h"

#define SENTINEL_TIMEOUT_S 1.0 /* per sentinel: connect, AUTH and the question */

/* Builds the Redis address from the options every binary shares. url: --redis/TURNQ_REDIS, or
 * NULL when not given; sentinels: "host:port,host:port" (port default 26379, [v6]:port), or NULL;
 * master and sentinel_pass likewise. Without sentinels the URL (default REDISURL_DEFAULT) is the
 * server and --master/--sentinel-password are refused. With them, --master is required and the
 * URL may only carry credentials and a database (redis://user:password@/DB): a host there too is
 * refused, as two answers to "where is the primary". Returns 0, or -1 with err naming the flag
 * and what is wrong (never a password). */
int sentinel_setup(const char *url, const char *sentinels, const char *master, const char *sentinel_pass,
                   struct redis_addr *a, char err[ERR_LEN]);

/* Writes "127.0.0.1:26379,127.0.0.1:26380" (the sentinels as configured) into buf. */
void sentinel_list(const struct sentinel_cfg *s, char *buf, size_t size);

/* Blocking: asks each sentinel in turn (at most timeout_s each). Returns 0 with the primary's
 * address in host (room for 256) and *port, or -1 with err saying what each sentinel answered. */
int sentinel_lookup(const struct sentinel_cfg *s, double timeout_s, char *host, int *port, char err[ERR_LEN]);

/* On the loop: the same, without blocking. cb runs exactly once, never before
 * sentinel_query_start returns: ok with host and port, or !ok (host NULL). err says what each
 * sentinel asked before the answer said ("" when the first one answered). The query frees itself
 * after cb. s is borrowed and must outlive the query. */
typedef void sentinel_fn(bool ok, const char *host, int port, const char *err, void *arg);
struct sentinel_query;
struct sentinel_query *sentinel_query_start(struct ev_loop *loop, const struct sentinel_cfg *s, sentinel_fn *cb,
                                            void *arg);

/* Stops a query whose cb has not run yet; cb will not run. NULL is a no-op. Not from inside cb. */
void sentinel_query_cancel(struct sentinel_query *q);

#endif
