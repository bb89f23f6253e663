#ifndef COMMON_RERROR_H
#define COMMON_RERROR_H
/* rerror: Redis error replies that say "not now" rather than "never" (OOM at maxmemory, a
 * read-only replica, loading, busy with a script, ...), shared by the worker (keep the run as it
 * is and resume later) and the dispatcher (exit 3 saying what to do). */

/* What to do about `err` (a Redis error reply) when Redis cannot serve now, or NULL for any
 * other error. */
const char *rerror_not_now(const char *err);

#endif
