#ifndef COMMON_REDISURL_H
#define COMMON_REDISURL_H
/* The Redis address: redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N].
 * The password is kept here only to be sent with AUTH; redisurl_redacted() is what gets logged. */
#include <stddef.h>

#include "err.h"

#define REDISURL_DEFAULT "redis://127.0.0.1:6379/0"

struct redis_addr {
    char host[256];  /* TCP host; empty for a unix socket */
    int port;        /* default 6379 */
    char path[108];  /* unix socket path; empty for TCP */
    char user[128];  /* ACL user name, empty for none */
    char pass[256];  /* empty for none; never logged */
    int db;          /* SELECTed after connecting, 0..15 by default config, any >= 0 accepted */
};

/* Parses url into *a. Returns 0, or -1 with err naming what is wrong (never the password). */
int redisurl_parse(const char *url, struct redis_addr *a, char err[ERR_LEN]);

/* Writes the address for logs, the password replaced by "***": "redis://user:***@host:6379/0". */
void redisurl_redacted(const struct redis_addr *a, char *buf, size_t size);

#endif
