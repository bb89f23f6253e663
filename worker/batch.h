#ifndef WORKER_BATCH_H
#define WORKER_BATCH_H
/* batch: Redis commands applied all or nothing by one Lua script, behind a fence. The fence is
 * the machine's lease (the heartbeat key must hold our token) and, optionally, the experiment's
 * attempt (its job hash's `attempts` must still be ours) and its place in our running list, so a
 * worker that lost its lease, a stale attempt abandoned in a Redis outage, or an experiment that
 * `dispatcher recover` or `cancel` took away can neither commit nor ack. A fenced batch answers
 * the error "FENCED ...", and nothing of it is written. */
#include <stdbool.h>

#include "rconn.h"

struct batch;

/* Returns a new, empty batch (free with batch_free, or hand it to batch_exec). */
struct batch *batch_new(void);
void batch_free(struct batch *b); /* NULL is a no-op */

/* Lets each command fail on its own (a key of the wrong type, say) without stopping the others:
 * for dead-lettering entries whose data is broken. */
void batch_best_effort(struct batch *b);

/* Requires the job hash's `turn` to be `turn` (with a job_key fence): a commit of turn N needs
 * N-1, so a delayed commit from an abandoned attempt cannot slip in twice. */
void batch_expect_turn(struct batch *b, int turn);

/* Appends one command; the arguments (C strings, NULL-terminated list) are copied. */
void batch_add(struct batch *b, const char *arg, ...) __attribute__((sentinel));

/* Appends a soft command: one whose failure (a key of the wrong type) neither stops the batch
 * nor fails it; its error is only its own element of the reply. For bookkeeping that must never
 * cost an experiment its commit: the metrics counters. Append it after the commands whose
 * replies the caller reads by position. */
void batch_add_soft(struct batch *b, const char *arg, ...) __attribute__((sentinel));

/* Sends the batch as one EVAL and frees it. heartbeat_key/token: the lease to check. job_key and
 * attempt: when job_key is non-NULL, the job hash's `attempts` field must equal attempt (when
 * attempt > 0) and, when running_key is non-NULL, `id` must be in that list. The
 * reply (to cb) is the array of the commands' replies, an error reply "FENCED ..." when the
 * fence failed, or NULL when Redis was lost. */
void batch_exec(struct batch *b, struct rconn *rc, const char *heartbeat_key, const char *token,
                const char *job_key, int attempt, const char *running_key, const char *id, rconn_reply_fn *cb,
                void *arg);

/* Whether reply is the fence's refusal. */
bool batch_fenced(const redisReply *reply);

#endif
