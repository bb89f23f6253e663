#ifndef WORKER_METRICS_H
#define WORKER_METRICS_H
/* metrics: the worker's side of turnq's metrics (the metric set is common/mstats.h).
 *
 * Counting: a run keeps its finished /api/chat calls and committed turns in a struct
 * metrics_calls, and their HINCRBYs go into a fenced batch that writes them, as soft commands
 * (batch_add_soft), so the counters in NS:metrics:MACHINE move only when that write commits, and
 * a broken metrics key never costs an experiment. A turn's commit carries them when
 * METRICS_FLUSH_S have passed since the run's last flush (on a fast box turns commit hundreds of
 * times a second, and nine HINCRBYs each would cost more than the commit itself); an ending and a
 * requeue always do. What an attempt counted since its last flush is lost when it ends without
 * any write (Redis lost, fenced).
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

#define METRICS_FLUSH_S 1.0

struct metrics_calls {
    double flushed_at;                            /* ev_now of the last flush (0: never) */
    uint64_t turn_buckets[MSTATS_BUCKETS_MAX + 1]; /* per turn_seconds bucket, since the last flush */
    double turn_sum_s;
    uint64_t stops[MSTATS_STOPS];                 /* committed turns per stop (mstats_stop_index) */
    double last_s;                                /* wall time of the call that just finished */
    uint64_t buckets[MSTATS_BUCKETS_MAX + 1];     /* per call_seconds bucket, since the last flush */
    double sum_s;
    uint64_t ok, error;
    long long prompt_tokens, eval_tokens, eval_ns; /* of the calls that succeeded */
};

/* The call that set c->last_s succeeded with metrics m / failed. */
void metrics_call_ok(struct metrics_calls *c, const struct chat_metrics *m);
void metrics_call_failed(struct metrics_calls *c);

/* Counts a committed turn (its wall time and stop: "answer" or "max_actions") in c, and appends
 * to b the soft HINCRBYs of everything c holds when METRICS_FLUSH_S have passed since its last
 * flush at `now` (ev_now). metrics_add_end and metrics_add_requeue count an experiment ending
 * with `status` (done, failed, cancelled) or a requeue, and always flush. A flush clears c. */
void metrics_add_turn(struct batch *b, const char *ns, const char *machine, struct metrics_calls *c, double turn_s,
                      const char *stop, double now);
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
