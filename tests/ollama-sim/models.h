#ifndef SIM_MODELS_H
#define SIM_MODELS_H
/* models: the sim's installed models (--models) with Ollama's name matching, their derived
 * metadata and digests, and their load state (what /api/ps shows, what --load-ms charges). */
#include <jansson.h>
#include <stddef.h>

#include "err.h"

struct models;
struct model;

/* ---- Registry ---- */
/* Parses "name[@hexdigest],..." (a name without a tag means :latest). Returns a new registry
 * (caller frees with models_free) or NULL with the reason in err. */
struct models *models_new(const char *spec, char err[ERR_LEN]);
void models_free(struct models *ms); /* NULL is a no-op */

/* Checks a requested name the way Ollama parses it: 0 when valid, -1 when it is not a valid
 * model name. */
int models_name_valid(const char *name);
/* The installed model a requested name means ("qwen3" is "qwen3:latest", case-insensitive,
 * "registry.ollama.ai/library/" optional), or NULL. Borrowed, valid until models_free. */
struct model *models_find(struct models *ms, const char *name);
/* The canonical name ("qwen3:8b") and 64-hex digest of a model; borrowed. */
const char *models_name(const struct model *m);
const char *models_digest(const struct model *m);
/* The number of installed models and the i-th, in --models order. */
size_t models_count(const struct models *ms);
struct model *models_at(struct models *ms, size_t i);

/* ---- Load state (times are libev's: seconds since the epoch) ---- */
/* Starts a call on m: sig names the runner options it needs, ctx its num_ctx, keep_alive_s
 * how long the model stays after the call (INFINITY: forever). When m is not loaded, has
 * expired or was loaded with another sig, a load of load_s seconds starts now (a load already
 * in progress for the same sig is shared). Returns when the model is ready (>= now). Every
 * acquire is paired with one models_release. */
double models_acquire(struct model *m, const char *sig, int ctx, double keep_alive_s, double now,
                      double load_s);
/* Ends a call: the keep-alive clock restarts from now. */
void models_release(struct model *m, double now);
/* keep_alive 0 with no messages: expire m now (at once when no call is using it). */
void models_unload(struct model *m, double now);
/* Another model needed the memory: m is unloaded now unless a call is using it (Ollama never
 * unloads a runner with requests in flight); its keep_alive is kept for the next load. */
void models_evict(struct model *m, double now);

/* ---- JSON views (new references, caller decrefs) ---- */
json_t *models_tags_json(struct models *ms);           /* GET /api/tags */
json_t *models_ps_json(struct models *ms, double now); /* GET /api/ps */
/* POST /api/show; num_ctx > 0 adds PARAMETER num_ctx to the Modelfile and parameters. */
json_t *models_show_json(const struct model *m, int num_ctx);

#endif
