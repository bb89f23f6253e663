#ifndef WORKER_OLLAMA_H
#define WORKER_OLLAMA_H
/* ollama: what the worker learns about its own Ollama for the heartbeat and the results:
 * GET /api/version, then GET /api/tags (model names and digests). */
#include <jansson.h>
#include <stdbool.h>

#include "http.h"

struct ollama_info {
    char version[64];  /* "0.12.6" */
    json_t *models;    /* owned: array of {"name": ..., "digest": ...} */
};

/* Called once: info (a new object the callee owns: free with ollama_info_free) or NULL with err. */
typedef void ollama_probe_fn(struct ollama_info *info, const char *err, void *arg);

/* Asks base_url (e.g. "http://127.0.0.1:11434") for its version and models. cb is never called
 * before this returns. */
void ollama_probe(struct http *http, const char *base_url, ollama_probe_fn *cb, void *arg);

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
