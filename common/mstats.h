#ifndef COMMON_MSTATS_H
#define COMMON_MSTATS_H
/* mstats: turnq's metric set, shared by the worker (which counts) and both exposition writers
 * (`dispatcher metrics`, `worker --metrics-file`), so that names, buckets and Redis fields agree.
 *
 * Counters live in the hash NS:metrics:MACHINE (key_metrics), incremented by the worker inside
 * the fenced batch that commits a turn, requeues or ends an experiment, so they survive worker
 * restarts and count exactly what was committed. Fields (all HINCRBY / HINCRBYFLOAT):
 *   experiments:done|failed|cancelled   experiments that ended on this machine
 *   requeues                            attempts put back in the queue (errors, stops, a sick box)
 *   turns:answer|max_actions            committed turns, by how they stopped
 *   turn_seconds:le:B, turn_seconds:sum committed turns' wall time: one count per turn in the
 *                                       bucket of its upper bound B ("+Inf" above the last)
 *   call_seconds:le:B, call_seconds:sum /api/chat calls' wall time, likewise
 *   calls:ok|error                      /api/chat calls by outcome
 *   prompt_tokens, eval_tokens          tokens of the calls that succeeded
 *   eval_seconds                        Ollama's eval_duration summed over those calls
 * Bucket fields are NOT cumulative (one HINCRBY per observation); the writers sum them. Gauges
 * (queue depth, up, slots) are read live: the queue and running lists and the heartbeat. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define MSTATS_BUCKETS_MAX 16

/* EVAL this with one key, the metrics hash: its HGETALL, or an empty array when the key holds
 * another type (set by hand?), so that a broken key costs the readers its counters, not the
 * whole exposition. */
#define MSTATS_READ_LUA \
    "if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {} end\nreturn redis.call('HGETALL', KEYS[1])\n"

enum mstats_hist { MSTATS_H_TURN, MSTATS_H_CALL, MSTATS_H_N };
enum mstats_outcome { MSTATS_DONE, MSTATS_FAILED, MSTATS_CANCELLED, MSTATS_OUTCOMES };
enum mstats_stop { MSTATS_STOP_ANSWER, MSTATS_STOP_MAX_ACTIONS, MSTATS_STOPS };

struct mstats_histo {
    uint64_t counts[MSTATS_BUCKETS_MAX + 1]; /* per bucket, not cumulative; [n] above the last bound */
    double sum;                              /* seconds */
};

/* One machine's view: counters from its metrics hash, gauges from its lists and heartbeat. */
struct mstats_machine {
    const char *machine;                     /* borrowed */
    uint64_t experiments[MSTATS_OUTCOMES];
    uint64_t requeues;
    uint64_t turns[MSTATS_STOPS];
    uint64_t calls_ok, calls_error;
    uint64_t prompt_tokens, eval_tokens;
    double eval_seconds;
    struct mstats_histo histo[MSTATS_H_N];
    long long queue_depth, running_depth;    /* list lengths; < 0: unknown, not written */
    bool up;                                 /* a live heartbeat */
    long long slots, busy;                   /* from the heartbeat, when up */
    bool ollama_up, breaker_open;            /* from the heartbeat, when up */
    const char *version, *ollama_version;    /* borrowed from the heartbeat; NULL unknown */
    json_t *models;                          /* borrowed: the heartbeat's [{name, digest}], or NULL */
};

/* ---- Buckets and fields (for the worker's increments) ---- */

/* The finite upper bounds of histogram h (increasing), and their number in *n. */
const double *mstats_bounds(enum mstats_hist h, size_t *n);

/* Writes into out (size at least 64) the hash field that counts an observation of `seconds` in
 * histogram h: "turn_seconds:le:2.5", ..., "turn_seconds:le:+Inf". */
void mstats_bucket_field(enum mstats_hist h, double seconds, char out[64]);
const char *mstats_sum_field(enum mstats_hist h);      /* "turn_seconds:sum" */
const char *mstats_outcome_field(const char *status);  /* "experiments:done", ...; NULL for others */
const char *mstats_stop_field(const char *stop);
int mstats_stop_index(const char *stop);               /* 0..MSTATS_STOPS-1; -1 for others */
const char *mstats_stop_field_at(int i);               /* the field of stop index i */       /* "turns:answer", ...; NULL for others */

/* ---- Reading ---- */

/* Initialises m for `machine` (borrowed): counters 0, gauges unknown, down. */
void mstats_init(struct mstats_machine *m, const char *machine);

/* Applies one field of the metrics hash; unknown fields and values that are not numbers are
 * ignored (a field added by a newer worker is no error). */
void mstats_set_field(struct mstats_machine *m, const char *field, const char *value);

/* Takes the gauges of a live heartbeat (hb borrowed, must outlive m): up, slots, busy,
 * version, Ollama's version and models, breaker. hb NULL: the worker is down. */
void mstats_set_heartbeat(struct mstats_machine *m, json_t *hb);

/* ---- Writing ---- */

/* Appends the exposition (Prometheus text 0.0.4) of n machines: each metric family once, with
 * one sample set per machine, labelled machine="NAME" (never by experiment). Ends with \n. */
void mstats_render(struct buf *out, const struct mstats_machine *ms, size_t n);

#endif
