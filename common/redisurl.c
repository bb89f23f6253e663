/* redisurl: parse the Redis address users give in --redis / TURNQ_REDIS. */
#include "redisurl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_int(const char *s, size_t n, int min, int max, int *out)
{
    if (n == 0 || n > 9)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int copy(char *dst, size_t size, const char *s, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int parse_unix(const char *rest, struct redis_addr *a, char err[ERR_LEN])
{
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen == 0 || rest[0] != '/') {
        set_err(err, "redis URL: unix:// needs an absolute socket path, e.g. unix:///run/redis.sock");
        return -1;
    }
    if (copy(a->path, sizeof a->path, rest, plen) < 0) {
        set_err(err, "redis URL: socket path is longer than %zu bytes", sizeof a->path - 1);
        return -1;
    }
    if (q) {
        if (strncmp(q + 1, "db=", 3) || parse_int(q + 4, strlen(q + 4), 0, 1000000, &a->db) < 0) {
            set_err(err, "redis URL: after the socket path only ?db=N is understood");
            return -1;
        }
    }
    return 0;
}

static int parse(const char *url, struct redis_addr *a, bool host_optional, char err[ERR_LEN])
{
    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (!strncmp(url, "unix://", 7))
        return parse_unix(url + 7, a, err);
    if (strncmp(url, "redis://", 8)) {
        set_err(err, "redis URL: must start with redis:// or unix:// (e.g. redis://127.0.0.1:6379/0)");
        return -1;
    }
    const char *p = url + 8;
    /* The last '@' ends the credentials: a password may hold '@' or '/', a host neither. */
    const char *at = strrchr(p, '@');
    const char *slash;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (copy(a->user, sizeof a->user, p, (size_t)(colon - p)) < 0 ||
                copy(a->pass, sizeof a->pass, colon + 1, (size_t)(at - colon - 1)) < 0) {
                set_err(err, "redis URL: user name or password too long");
                return -1;
            }
        } else if (copy(a->pass, sizeof a->pass, p, (size_t)(at - p)) < 0) {
            /* redis://password@host, as redis-cli -u accepts */
            set_err(err, "redis URL: password too long");
            return -1;
        }
        p = at + 1;
    }
    slash = strchr(p, '/');
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    const char *hp_end = p + hostport;
    const char *host = p, *host_end = hp_end, *port = NULL;
    if (*p == '[') { /* [::1]:6379 */
        const char *rb = memchr(p, ']', hostport);
        if (!rb) {
            set_err(err, "redis URL: unclosed '[' in host");
            return -1;
        }
        host = p + 1;
        host_end = rb;
        if (rb + 1 < hp_end) {
            if (rb[1] != ':') {
                set_err(err, "redis URL: expected ':' after ']'");
                return -1;
            }
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', hostport);
        if (colon) {
            host_end = colon;
            port = colon + 1;
        }
    }
    if (hostport == 0 && host_optional)
        goto db;
    if (host_end == host) {
        set_err(err, "redis URL: no host (e.g. redis://127.0.0.1:6379/0)");
        return -1;
    }
    if (copy(a->host, sizeof a->host, host, (size_t)(host_end - host)) < 0) {
        set_err(err, "redis URL: host name too long");
        return -1;
    }
    if (port && parse_int(port, (size_t)(hp_end - port), 1, 65535, &a->port) < 0) {
        set_err(err, "redis URL: port must be a number from 1 to 65535");
        return -1;
    }
db:
    if (slash && slash[1]) {
        if (parse_int(slash + 1, strlen(slash + 1), 0, 1000000, &a->db) < 0) {
            set_err(err, "redis URL: the database after '/' must be a number, e.g. /0");
            return -1;
        }
    }
    return 0;
}

int redisurl_parse(const char *url, struct redis_addr *a, char err[ERR_LEN])
{
    return parse(url, a, false, err);
}

int redisurl_parse_credentials(const char *url, struct redis_addr *a, char err[ERR_LEN])
{
    return parse(url, a, true, err);
}

void redisurl_redacted(const struct redis_addr *a, char *buf, size_t size)
{
    const char *auth = a->pass[0] ? ":***@" : (a->user[0] ? "@" : "");
    if (!a->path[0] && !a->host[0] && a->sentinel.n)
        snprintf(buf, size, "redis://%s%s/%d via sentinels of %s", a->user, auth, a->db, a->sentinel.master);
    else if (a->path[0] && a->db)
        snprintf(buf, size, "unix://%s?db=%d", a->path, a->db);
    else if (a->path[0])
        snprintf(buf, size, "unix://%s", a->path);
    else if (strchr(a->host, ':'))
        snprintf(buf, size, "redis://%s%s[%s]:%d/%d", a->user, auth, a->host, a->port, a->db);
    else
        snprintf(buf, size, "redis://%s%s%s:%d/%d", a->user, auth, a->host, a->port, a->db);
}
