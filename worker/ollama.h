#ifndef WORKER_OLLAMA_H
#define WORKER_OLLAMA_H
/* ollama: what the worker learns about its own Ollama for the heartbeat and the results:
 * GET /api/version, GET /api/tags (model names and digests), GET /api/ps (the loaded models and
 * their settings) and POST /api/show once per model digest (trained context length, Modelfile
 * parameters), cached from one probe to the next. */
#include <jansson.h>
#include <stdbool.h>

#include "http.h"

#define OLLAMA_MAX_MODELS 256     /* /api/tags entries kept (the heartbeat's size is bounded) */
#define OLLAMA_MAX_SHOWN 64       /* models whose /api/show settings are fetched and kept */
#define OLLAMA_SHOWS_PER_PROBE 4  /* /api/show calls per probe: a new box's models come over a few beats */
#define OLLAMA_MAX_PARAMS 32      /* Modelfile parameters kept per model */
#define OLLAMA_MAX_PARAM_LEN 256  /* bytes of one parameter value */

struct ollama_info {
    char version[64];  /* "0.12.6" */
    json_t *models;    /* owned: array of {"name", "digest"} plus, once /api/show answered for the
                        * digest, "context_length" (trained: model_info "<arch>.context_length", or
                        * null) and "parameters" (the Modelfile's: {"num_ctx": 8192, "stop": [...]}) */
    json_t *ps;        /* owned: /api/ps "models" reduced to {"name", "digest", "context_length",
                        * "size", "size_vram", "expires_at"} as given (keys absent when Ollama
                        * omits them: context_length before v0.10), or NULL when /api/ps failed */
    json_t *shows;     /* owned: digest -> {"context_length", "parameters"}: the /api/show cache */
};

/* Called once: info (a new object the callee owns: free with ollama_info_free) or NULL with err. */
typedef void ollama_probe_fn(struct ollama_info *info, const char *err, void *arg);

/* Asks base_url (e.g. "http://127.0.0.1:11434") for its version, models and loaded models, and
 * /api/show for the models whose digest `prev` (the previous probe's info, may be NULL; read
 * only now, not kept) has no settings for, at most OLLAMA_SHOWS_PER_PROBE of them. Only
 * /api/version and /api/tags failing fail the probe. cb is never called before this returns.
 * The handle is valid until cb has been called, or ollama_probe_cancel. */
struct ollama_probe;
struct ollama_probe *ollama_probe(struct http *http, const char *base_url, const struct ollama_info *prev,
                                  ollama_probe_fn *cb, void *arg);

/* Stops a probe in flight (a worker shutting down): cb is not called. NULL is a no-op. Not from
 * cb itself. */
void ollama_probe_cancel(struct ollama_probe *p);

/* Parses /api/show's "parameters" text ("num_ctx    8192\nstop    \"<|im_end|>\"") into a new
 * object: numbers as numbers, quoted values unquoted, a repeated name as an array of its values;
 * at most OLLAMA_MAX_PARAMS names, values cut at OLLAMA_MAX_PARAM_LEN bytes. */
json_t *ollama_parse_parameters(const char *text);

/* The trained context length in a /api/show answer: model_info["<general.architecture>.
 * context_length"], else the first "*.context_length" key; -1 when there is none. */
long long ollama_show_context_length(json_t *show);

void ollama_info_free(struct ollama_info *info); /* NULL is a no-op */

/* The digest of `model` in info ("qwen3" matches "qwen3:latest"), or NULL; borrowed. */
const char *ollama_info_digest(const struct ollama_info *info, const char *model);

/* ---- Box health ---- */

/* A health check: one minimal chat call (stream:false, one user message, num_predict 1) with the
 * given model, options (borrowed, may be NULL) and keep_alive (may be NULL), the same options as
 * the experiment's so that the model is not reloaded. cb gets healthy true when Ollama answered
 * 200 with a done reply; err (borrowed) says why not otherwise. Never calls back before it
 * returns. */
struct ollama_health;
typedef void ollama_health_fn(bool healthy, const char *err, void *arg);
struct ollama_health *ollama_health_start(struct http *http, const char *base_url, const char *model,
                                          json_t *options, json_t *keep_alive, double timeout_s,
                                          ollama_health_fn *cb, void *arg);

/* Cancels a check in flight; its cb is not called. NULL is a no-op. */
void ollama_health_cancel(struct ollama_health *hc);

#endif
