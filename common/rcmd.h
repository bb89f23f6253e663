#ifndef COMMON_RCMD_H
#define COMMON_RCMD_H
/* rcmd: the blocking Redis client of the command-line tools (dispatcher). A CLI does one thing
 * and exits, so it talks to Redis synchronously, as redis-cli does; the worker's event-loop
 * connections live in rconn. This connects with a timeout, sends AUTH and SELECT from the URL,
 * and never writes the password anywhere. */
#include <hiredis/hiredis.h>

#include "err.h"
#include "redisurl.h"

/* Returns a new connected context (free with redisFree), or NULL with err naming the redacted
 * address and the reason ("redis://127.0.0.1:6379/0: Connection refused", "...: AUTH failed:
 * WRONGPASS ..."). timeout_s bounds the connect and every later command. With sentinels in a,
 * the primary is asked from them first and must answer ROLE with "master". */
redisContext *rcmd_connect(const struct redis_addr *a, double timeout_s, char err[ERR_LEN]);

#endif
