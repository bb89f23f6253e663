#ifndef COMMON_KEYS_H
#define COMMON_KEYS_H
/* Every Redis key name turnq uses, in one place (SPEC "Redis key layout"). Each function returns
 * the key by value in a small struct, so call sites need no buffer and no free:
 *     redisCommand(c, "LLEN %s", key_queue(ns, "gpu1").s);
 * A namespace is at most KEYS_NS_MAX bytes, an id JOB_ID_MAX, a machine JOB_MACHINE_MAX. */

#define KEYS_NS_MAX 64
#define KEYS_MAX 256

struct key {
    char s[KEYS_MAX];
};

struct key key_ids(const char *ns);                         /* zset: every id, by submit ms */
struct key key_queue(const char *ns, const char *machine);  /* list: waiting (head = right end) */
struct key key_running(const char *ns, const char *machine);/* list: claimed by the worker */
struct key key_job(const char *ns, const char *id);         /* hash: spec, state, machine, ... */
struct key key_turns(const char *ns, const char *id);       /* list: committed turn records */
struct key key_transcript(const char *ns, const char *id);  /* list: each turn's new messages */
struct key key_result(const char *ns, const char *id);      /* string: the result JSON */
struct key key_dead(const char *ns);                        /* list: failed ids, newest first */
struct key key_worker(const char *ns, const char *machine); /* string+TTL: heartbeat and lease */
struct key key_machines(const char *ns);                    /* set: registered machine names */
struct key key_events(const char *ns);                      /* stream: state changes, turns */
struct key key_lastseen(const char *ns);                    /* hash: machine -> last heartbeat time */
struct key key_submit_lock(const char *ns);                 /* string, PX: a submission is writing */
struct key key_metrics(const char *ns, const char *machine);/* hash: the machine's counters (mstats.h) */

/* The stream is capped (XADD MAXLEN ~) so a long-lived namespace does not grow without bound. */
#define KEYS_EVENTS_MAXLEN 100000

/* true when ns is a valid namespace: [A-Za-z0-9._-]{1,64}. */
int keys_ns_valid(const char *ns);

#endif
