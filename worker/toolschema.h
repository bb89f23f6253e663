#ifndef WORKER_TOOLSCHEMA_H
#define WORKER_TOOLSCHEMA_H
/* toolschema: the mapping between MCP tools and Ollama tools, both ways, as pure functions:
 * an MCP Tool (name, description, inputSchema) becomes an Ollama tool definition whose schema
 * keeps only what Ollama's Go structs keep (type, description, enum, properties, required,
 * items, anyOf; reference/mcp-stdio.md §4.1): local $refs resolved, every property typed,
 * ranges, defaults and formats folded into the description; tool names made to fit
 * [A-Za-z0-9_-]{1,64}; and a CallToolResult flattened into the tool message's content. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TOOLSCHEMA_NAME_MAX 64          /* offered tool names: at most this many characters */
#define TOOLSCHEMA_RESULT_MAX (64u << 10) /* default cap of one tool message's content, bytes */
#define TOOLSCHEMA_MAX_DEPTH 32         /* $ref and nesting depth before "(recursive)" */
#define TOOLSCHEMA_MAX_NODES 5000       /* schema nodes produced per tool before giving up */

/* ---- Schemas ---- */

/* Converts an MCP inputSchema (borrowed; may be NULL or not an object) into Ollama `parameters`:
 * always {"type":"object","properties":{...}} plus "required" (only names present in
 * properties). Returns a new reference. */
json_t *toolschema_params(const json_t *input_schema);

/* The Ollama tool {"type":"function","function":{"name","description","parameters"}} for the
 * MCP tool `tool` (borrowed), offered under `name`. The description falls back to title,
 * annotations.title, then the name. Returns a new reference. */
json_t *toolschema_tool(const json_t *tool, const char *name);

/* ---- Names ---- */

/* Whether name is 1..64 characters of [A-Za-z0-9_-]. */
bool toolschema_name_ok(const char *name);

/* Writes into out the offered name for an MCP tool `name` of the server `prefix` (NULL: no
 * prefix; otherwise "PREFIX__NAME"): characters outside [A-Za-z0-9_-] become '_'; a result
 * over 64 characters keeps the prefix and the tail of the name behind an 8-hex-digit hash of the
 * whole, since the tail is what tells similar names apart. Deterministic. */
void toolschema_name(const char *prefix, const char *name, char out[TOOLSCHEMA_NAME_MAX + 1]);

/* ---- Results ---- */

/* Flattens a CallToolResult (borrowed) into the text of the tool message: the text blocks
 * joined with newlines, other blocks as short placeholders ("[image: image/png, 1234 bytes]"),
 * structuredContent only when no block gave text, "ERROR: " in front when isError is true. A
 * result that is not an object with a content array gives an explanation and *is_error. Longer
 * than cap bytes: the head and the tail, cut on UTF-8 boundaries, around a note of how much was
 * left out. Returns a new string (caller frees); *is_error says whether it reports an error. */
char *toolschema_result(const json_t *result, size_t cap, bool *is_error);

#endif
