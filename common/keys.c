/* keys: the Redis key layout of SPEC, built in one place so that tests and tools agree. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

/* Appends s to k at *at, cut at the buffer's end (as snprintf would); memcpy because a large
 * submission builds several keys for each of its experiments. */
static void put(struct key *k, size_t *at, const char *s)
{
    size_t n = strlen(s), room = sizeof k->s - 1 - *at;
    n = n < room ? n : room;
    memcpy(k->s + *at, s, n);
    *at += n;
}

static struct key mk(const char *ns, const char *kind, const char *name)
{
    struct key k;
    size_t at = 0;
    put(&k, &at, ns);
    put(&k, &at, ":");
    put(&k, &at, kind);
    if (name) {
        put(&k, &at, ":");
        put(&k, &at, name);
    }
    k.s[at] = '\0';
    return k;
}

struct key key_ids(const char *ns) { return mk(ns, "ids", NULL); }
struct key key_queue(const char *ns, const char *m) { return mk(ns, "queue", m); }
struct key key_running(const char *ns, const char *m) { return mk(ns, "running", m); }
struct key key_job(const char *ns, const char *id) { return mk(ns, "job", id); }
struct key key_turns(const char *ns, const char *id) { return mk(ns, "turns", id); }
struct key key_transcript(const char *ns, const char *id) { return mk(ns, "transcript", id); }
struct key key_result(const char *ns, const char *id) { return mk(ns, "result", id); }
struct key key_dead(const char *ns) { return mk(ns, "dead", NULL); }
struct key key_worker(const char *ns, const char *m) { return mk(ns, "worker", m); }
struct key key_machines(const char *ns) { return mk(ns, "machines", NULL); }
struct key key_events(const char *ns) { return mk(ns, "events", NULL); }
struct key key_lastseen(const char *ns) { return mk(ns, "lastseen", NULL); }
struct key key_submit_lock(const char *ns) { return mk(ns, "submitting", NULL); }
struct key key_metrics(const char *ns, const char *m) { return mk(ns, "metrics", m); }

int keys_ns_valid(const char *ns)
{
    size_t n = strlen(ns);
    if (n == 0 || n > KEYS_NS_MAX)
        return 0;
    return strspn(ns, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}
