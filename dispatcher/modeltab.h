#ifndef DISPATCHER_MODELTAB_H
#define DISPATCHER_MODELTAB_H
/* modeltab: the table machine x model x digest x version that the consistency gate (gate.c) and
 * status show, built from workers' heartbeats (README "The consistency gate"). Pure: the
 * heartbeats come in parsed, nothing is read here. A row is the JSON object
 * {"machine", "model", "digest" (null: the machine's Ollama lacks the model), "version"}. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define MODELTAB_NAME_MAX 300 /* a model name, ":latest" included */
#define MODELTAB_SHORT 12     /* hex digits of a shortened digest, as `ollama list` shows */

/* The name with ":latest" added when it carries no tag (no ':' after its last '/'), as Ollama
 * and the submit script's norm() compare names. Cut to n - 1 bytes. */
void modeltab_norm(const char *model, char *out, size_t n);

/* Whether the heartbeat reports a model list: a live worker whose Ollama answered. */
bool modeltab_has_list(json_t *hb);

/* The digest hb's Ollama reports for model (names compared normalised), or NULL; borrowed. */
const char *modeltab_digest(json_t *hb, const char *model);

/* The Ollama version hb reports, or NULL; borrowed. */
const char *modeltab_version(json_t *hb);

/* Returns a new array: one row for model per machine i (0 <= i < n) whose hbs[i] has a model
 * list (the others are skipped: no live worker, or Ollama not answering), in the given order.
 * The row's model is the normalised name. */
json_t *modeltab_rows(const char *model, const char *const *machines, json_t *const *hbs, size_t n);

/* Whether rows disagree: a row without the model, or two different digests. */
bool modeltab_disagree(json_t *rows);

/* Whether rows carry two different Ollama versions. */
bool modeltab_versions_differ(json_t *rows);

/* Appends to `into` the rows of `rows` whose machine and model it has no row for, keeping
 * `into` sorted by model, then machine. */
void modeltab_merge(json_t *into, json_t *rows);

/* The first MODELTAB_SHORT hex digits of a digest ("sha256:" dropped), in out. */
void modeltab_short(const char *digest, char out[MODELTAB_SHORT + 1]);

/* Prints rows to f as aligned columns under a header MACHINE MODEL DIGEST VERSION, each line
 * after `indent`; a missing model's digest is "(missing)", an unknown version "?". */
void modeltab_print(FILE *f, json_t *rows, const char *indent);

#endif
