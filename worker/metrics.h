#ifndef WORKER_METRICS_H
#define WORKER_METRICS_H
/* metrics: the worker's side of turnq's metrics (the metric set is common/mstats.h).
 *
 * Counting: a run keeps its finished /api/chat calls in a struct metrics_calls, and the HINCRBYs
 * of a committed turn, an ending, a requeue (and the calls so far) go into the same fenced batch
 * that writes them, as soft commands (batch_add_soft), so the counters in NS:metrics:MACHINE
 * move exactly when the write commits, and a broken metrics key never costs an experiment.
 * Calls of an attempt that ends without any write (Redis lost, fenced) are not counted.
 *
 * Publishing: with --metrics-file the worker reads its counters and lists back from Redis every
 * interval and writes the same exposition `dispatcher metrics` prints for its machine, atomically
 * (prom_write_file), for node_exporter's textfile collector. */
#include <ev.h>
#include <jansson.h>
#include <stdint.h>

#include "batch.h"
#include "chat.h"
#include "mstats.h"
#include "rconn.h"

/* ---- Counting (run.c) ---- */

struct metrics_calls {
    double last_s;                                /* wall time of the call that just finished */
    uint64_t buckets[MSTATS_BUCKETS_MAX + 1];     /* per call_seconds bucket, since the last flush */
    double sum_s;
    uint64_t ok, error;
    long long prompt_tokens, eval_tokens, eval_ns; /* of the calls that succeeded */
};

/* The call that set c->last_s succeeded with metrics m / failed. */
void metrics_call_ok(struct metrics_calls *c, const struct chat_metrics *m);
void metrics_call_failed(struct metrics_calls *c);

/* Append to b the soft HINCRBYs of: a committed turn (its wall time and stop: "answer" or
 * "max_actions"); an experiment ending with `status` (done, failed, cancelled); a requeue. Each
 * also moves the calls counted in c into b and clears c. */
void metrics_add_turn(struct batch *b, const char *ns, const char *machine, struct metrics_calls *c, double turn_s,
                      const char *stop);
void metrics_add_end(struct batch *b, const char *ns, const char *machine, struct metrics_calls *c,
                     const char *status);
void metrics_add_requeue(struct batch *b, const char *ns, const char *machine, struct metrics_calls *c);

/* ---- The textfile (worker.c) ---- */

struct metrics_file;

/* Returns a new reference: the worker's heartbeat object as it would write it now, or NULL when
 * it is not up (no lease, or leaving). */
typedef json_t *metrics_heartbeat_fn(void *arg);

/* Returns a new writer of `path` every interval_s (the first write after the first read), using
 * redis (borrowed: must outlive the writer until metrics_file_free) for the counters and lists;
 * ns, machine, path borrowed. */
struct metrics_file *metrics_file_new(struct ev_loop *loop, struct rconn *redis, const char *ns, const char *machine,
                                      const char *path, double interval_s, metrics_heartbeat_fn *hb, void *hb_arg);

/* The worker is leaving: stop the timer and read the counters once more; when the reply comes,
 * the final file is written (worker down: turnq_worker_up 0). */
void metrics_file_final(struct metrics_file *mf);

/* Writes the final file if metrics_file_final's read did not (Redis gone: the last counters
 * read), then frees. Call after the Redis connection is freed. NULL is a no-op. */
void metrics_file_free(struct metrics_file *mf);

#endif
