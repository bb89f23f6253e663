#ifndef COMMON_REDISURL_H
#define COMMON_REDISURL_H
/* The Redis address: redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N], or, with
 * --sentinel, the sentinels that name the primary (sentinel.h) plus the URL's credentials and db.
 * Passwords are kept here only to be sent with AUTH; redisurl_redacted() is what gets logged. */
#include <stddef.h>

#include "err.h"

#define REDISURL_DEFAULT "redis://127.0.0.1:6379/0"
#define REDIS_SENTINELS_MAX 8
#define REDIS_SENTINEL_PORT 26379

/* Where to ask for the primary (--sentinel, --master, --sentinel-password). */
struct sentinel_cfg {
    int n;                 /* sentinels listed; 0: no Sentinel, the URL's host is the server */
    struct {
        char host[256];
        int port;          /* default REDIS_SENTINEL_PORT */
    } at[REDIS_SENTINELS_MAX];
    char master[128];      /* the name the sentinels monitor the primary under */
    char pass[256];        /* the sentinels' own requirepass; empty for none; never logged */
};

struct redis_addr {
    char host[256];  /* TCP host; empty for a unix socket */
    int port;        /* default 6379 */
    char path[108];  /* unix socket path; empty for TCP */
    char user[128];  /* ACL user name, empty for none */
    char pass[256];  /* empty for none; never logged */
    int db;          /* SELECTed after connecting, 0..15 by default config, any >= 0 accepted */
    struct sentinel_cfg sentinel; /* n > 0: host and port are found through the sentinels */
};

/* Parses url into *a. Returns 0, or -1 with err naming what is wrong (never the password). */
int redisurl_parse(const char *url, struct redis_addr *a, char err[ERR_LEN]);

/* The same, except that the host may be left out, as with --sentinel, where the sentinels name
 * the primary: "redis://user:password@/2" carries only the credentials and the database. A host,
 * when given, is parsed as usual (the caller decides whether one is allowed). */
int redisurl_parse_credentials(const char *url, struct redis_addr *a, char err[ERR_LEN]);

/* Writes the address for logs, the password replaced by "***": "redis://user:***@host:6379/0".
 * With sentinels and no host resolved yet: "redis://user:***@/0 via sentinels of mymaster". */
void redisurl_redacted(const struct redis_addr *a, char *buf, size_t size);

#endif
