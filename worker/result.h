#ifndef WORKER_RESULT_H
#define WORKER_RESULT_H
/* result: the JSON records a run writes (SPEC "The result"): one record per committed turn, and
 * the experiment's result built from them. Pure functions: no I/O. */
#include <jansson.h>
#include <stdint.h>

#include "job.h"

/* Returns a new reference: a committed turn's record. `actions` is borrowed (copied in). */
json_t *result_turn_record(int turn, const char *stop, int calls, const char *reply, json_t *actions,
                           long long prompt_tokens, long long eval_tokens, long long ms, const char *machine);

struct result_in {
    const struct job *job;
    const char *status;         /* "done", "failed", "cancelled" */
    const char *machine;        /* where it ended */
    const char *machines;       /* comma-separated, every machine it ran on */
    const char *placed;         /* the machine it was placed on (another when stolen) */
    int attempts;
    const char *started_at, *finished_at; /* ISO 8601 */
    int64_t duration_ms;
    json_t *turns;              /* borrowed: array of turn records */
    const char *error;          /* NULL when none */
    const char *ollama_version; /* NULL when unknown */
    const char *model_digest;   /* NULL when unknown */
    const char *mixed_digests;  /* the job hash's mixed_digests (JSON text), NULL when absent */
};

/* Returns a new reference: the result object, with totals summed over in->turns, "reloads" (the
 * calls of in->turns that reloaded the model: their "reload_calls") and "mixed_digests" (true,
 * with "digests_seen", the table submit recorded, when in->mixed_digests is set). */
json_t *result_build(const struct result_in *in);

#endif
