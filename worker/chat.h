#ifndef WORKER_CHAT_H
#define WORKER_CHAT_H
/* One /api/chat call's reply, accumulated from Ollama's streamed NDJSON (reference/ollama-api.md
 * §2.2): content, thinking and tool_calls are gathered from every chunk, the done chunk too; the
 * metrics come from the done chunk; a line with an "error" key fails the call. Works the same
 * for a stream:false body (one JSON object). No I/O here: bytes in, a reply out. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define CHAT_MAX_LINE (64u << 20)  /* one NDJSON line; Ollama's Go client allows 8 MB */
#define CHAT_MAX_REPLY (16u << 20) /* content + thinking of one reply: a model that never stops */
#define CHAT_MAX_TOOL_CALLS 64     /* tool calls in one reply */

struct chat_stream;

struct chat_metrics {                /* all from the done chunk; a missing key is 0 */
    long long prompt_eval_count;     /* tokens */
    long long eval_count;            /* tokens */
    long long total_duration_ns;
    long long load_duration_ns;
    long long prompt_eval_duration_ns;
    long long eval_duration_ns;
};

/* Returns a new accumulator; free with chat_stream_free. `id_prefix` (copied) seeds the ids
 * synthesised for tool calls that arrive without one: "<id_prefix>_<k>" for the k-th call (k from
 * 0) of this reply, so ids are deterministic for an experiment, turn and call. */
struct chat_stream *chat_stream_new(const char *id_prefix);
void chat_stream_free(struct chat_stream *cs); /* NULL is a no-op */

/* Feeds response bytes. Returns 0, or -1 once the stream is bad: a line that is not a JSON
 * object, a line with "error" (Ollama's in-stream error), a line over CHAT_MAX_LINE, a reply over
 * CHAT_MAX_REPLY bytes or CHAT_MAX_TOOL_CALLS calls. The reason is then in chat_stream_error(). */
int chat_stream_feed(struct chat_stream *cs, const char *buf, size_t len);

/* Call at the end of the body. Returns 0 when a done chunk was seen, -1 otherwise ("stream ended
 * without done", or the earlier error). */
int chat_stream_finish(struct chat_stream *cs);

const char *chat_stream_error(const struct chat_stream *cs); /* "" when none; borrowed */
bool chat_stream_done(const struct chat_stream *cs);
const char *chat_stream_done_reason(const struct chat_stream *cs); /* "" when absent */
const struct chat_metrics *chat_stream_metrics(const struct chat_stream *cs);
const char *chat_stream_content(const struct chat_stream *cs);      /* borrowed, never NULL */
const char *chat_stream_thinking(const struct chat_stream *cs);     /* borrowed, never NULL */

/* The tool calls gathered, normalised (chat_tool_call_normalise); borrowed, an array (maybe
 * empty). */
json_t *chat_stream_tool_calls(const struct chat_stream *cs);

/* Whether the k-th tool call's arguments were usable (an object, or a string holding one); when
 * false the call carries {} and the tool is answered with an error. */
bool chat_stream_tool_call_args_ok(const struct chat_stream *cs, size_t k);

/* Returns a new reference: the assistant message to append to the conversation, as received:
 * {"role":"assistant","content":..., "thinking":... (when non-empty), "tool_calls":[...] (when
 * any)}. */
json_t *chat_stream_message(const struct chat_stream *cs);

/* ---- Tool calls ---- */

/* Returns a new reference: `call` normalised to the shape Ollama requires when it is sent back:
 * {"id": STRING, "function": {"index": INT, "name": STRING, "arguments": OBJECT}}. Other keys of
 * call and of function are kept. Arguments given as a JSON string are parsed; null or missing
 * become {}. A missing or empty id becomes fallback_id; a missing index becomes `index`.
 * *args_ok is set false when the arguments were neither an object nor a string holding one (they
 * are then sent back as {} and the tool is answered with an error); a missing name becomes "". */
json_t *chat_tool_call_normalise(json_t *call, const char *fallback_id, int index, bool *args_ok);

#endif
