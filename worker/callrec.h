#ifndef WORKER_CALLREC_H
#define WORKER_CALLREC_H
/* callrec: what the calls of one turn were sent with (options, keep_alive) and what loading the
 * model cost them, for the turn record (README "Data formats beyond SPEC"). Options and
 * keep_alive are recorded once per turn when every call sent the same (they should: a changed
 * load-time option reloads the model), per call otherwise. A call whose load_duration is above
 * CALLREC_RELOAD_MS, other than the first call of the attempt (which may find the model cold),
 * is a reload mid-experiment: the model was unloaded between two calls (keep_alive expiry,
 * eviction for another model, a changed option) and the KV cache with it. Pure: no I/O. */
#include <jansson.h>
#include <stdbool.h>

#define CALLREC_RELOAD_MS 500 /* load_duration above this on a later call: a reload */

struct callrec;

struct callrec *callrec_new(void);
void callrec_free(struct callrec *c); /* NULL is a no-op */
void callrec_reset(struct callrec *c); /* a new turn */

/* One successful call of the turn: the options and keep_alive it sent (borrowed, NULL when the
 * body had none), its load_duration in nanoseconds, and whether it was the attempt's first. */
void callrec_add(struct callrec *c, json_t *options, json_t *keep_alive, long long load_ns, bool first_of_attempt);

/* Calls of this turn that reloaded the model. */
int callrec_reloads(const struct callrec *c);

/* Adds to a turn record: "options" and "keep_alive" (or "call_settings": [{"options",
 * "keep_alive"}, ...] when the calls differ), "load_duration_ms" (the sum over the calls),
 * "reload" (bool) and, when true, "reload_calls": [{"call": K, "load_duration_ms": N}]. */
void callrec_annotate(const struct callrec *c, json_t *record);

#endif
