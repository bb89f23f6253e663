/* chat: accumulate one /api/chat reply from its NDJSON chunks (reference/ollama-api.md §2.2).
 *
 * Where tool calls arrive depends on the Ollama build: in a done:false chunk of their own
 * (Go-template parser), in whichever chunk completes them (built-in parsers), or only in the
 * done:true chunk (llama-server, v0.30+). So every chunk is read for content, thinking and
 * tool_calls, the done chunk too, and reading never stops at the first tool call. */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chunk.h"
#include "ndjson.h"
#include "xalloc.h"

struct chat_stream {
    struct ndjson *nd;
    char *id_prefix;
    struct buf content, thinking;
    json_t *tool_calls;        /* normalised calls, in arrival order */
    bool *args_ok;             /* per call: the model's arguments were an object */
    size_t args_cap;
    bool done;
    char done_reason[32];
    struct chat_metrics m;
    char error[ERR_LEN];
};

/* ---- Tool calls ---- */

json_t *chat_tool_call_normalise(json_t *call, const char *fallback_id, int index, bool *args_ok)
{
    json_t *out = json_is_object(call) ? json_deep_copy(call) : json_object();
    json_t *fn = json_object_get(out, "function");
    if (!json_is_object(fn)) {
        fn = json_object();
        json_object_set_new(out, "function", fn);
    }
    *args_ok = true;
    json_t *args = json_object_get(fn, "arguments");
    if (args == NULL || json_is_null(args)) {
        json_object_set_new(fn, "arguments", json_object());
    } else if (json_is_string(args)) {
        /* Some models and the OpenAI layer give arguments as a JSON string; Ollama's native API
         * wants an object back, or it answers 400. */
        json_t *parsed = json_loads(json_string_value(args), 0, NULL);
        if (json_is_object(parsed)) {
            json_object_set_new(fn, "arguments", parsed);
        } else {
            json_decref(parsed);
            json_object_set_new(fn, "arguments", json_object());
            *args_ok = false;
        }
    } else if (!json_is_object(args)) {
        json_object_set_new(fn, "arguments", json_object());
        *args_ok = false;
    }
    if (!json_is_string(json_object_get(fn, "name")))
        json_object_set_new(fn, "name", json_string(""));
    if (!json_is_integer(json_object_get(fn, "index")))
        json_object_set_new(fn, "index", json_integer(index));
    json_t *id = json_object_get(out, "id");
    if (!json_is_string(id) || !*json_string_value(id))
        json_object_set_new(out, "id", json_string(fallback_id));
    return out;
}

static void add_tool_calls(struct chat_stream *cs, json_t *calls)
{
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        size_t k = json_array_size(cs->tool_calls);
        char id[160];
        snprintf(id, sizeof id, "%s_%zu", cs->id_prefix, k);
        bool ok;
        json_t *n = chat_tool_call_normalise(c, id, (int)k, &ok);
        /* Remember that the model's arguments were unusable: the tool is answered with an error,
         * while the message sent back carries {} as Ollama requires. */
        if (k == cs->args_cap) {
            cs->args_cap = cs->args_cap ? cs->args_cap * 2 : 8;
            cs->args_ok = xreallocarray(cs->args_ok, cs->args_cap, sizeof *cs->args_ok);
        }
        cs->args_ok[k] = ok;
        json_array_append_new(cs->tool_calls, n);
    }
}

/* ---- Chunks ---- */

static long long metric(json_t *chunk, const char *key)
{
    json_t *v = json_object_get(chunk, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static int over_reply_cap(struct chat_stream *cs)
{
    if (cs->content.len + cs->thinking.len <= CHAT_MAX_REPLY)
        return 0;
    snprintf(cs->error, sizeof cs->error, "the reply is over %u bytes (set num_predict?)", CHAT_MAX_REPLY);
    return 1;
}

static int on_line(void *arg, const char *line, size_t len)
{
    struct chat_stream *cs = arg;
    /* Nearly every line is one token of text: read those without a JSON tree (chunk.h). */
    if (chunk_token(line, len, &cs->content))
        return over_reply_cap(cs) ? -1 : 0;
    json_error_t jerr;
    json_t *chunk = json_loadb(line, len, 0, &jerr);
    if (!json_is_object(chunk)) {
        snprintf(cs->error, sizeof cs->error, "Ollama sent a line that is not a JSON object (%.*s%s)",
                 (int)(len > 60 ? 60 : len), line, len > 60 ? "..." : "");
        json_decref(chunk);
        return -1;
    }
    json_t *err = json_object_get(chunk, "error");
    if (err) {
        snprintf(cs->error, sizeof cs->error, "Ollama: %s",
                 json_is_string(err) ? json_string_value(err) : "error without a message");
        json_decref(chunk);
        return -1;
    }
    json_t *msg = json_object_get(chunk, "message");
    const char *s;
    if ((s = json_string_value(json_object_get(msg, "content"))))
        buf_puts(&cs->content, s);
    if ((s = json_string_value(json_object_get(msg, "thinking"))))
        buf_puts(&cs->thinking, s);
    json_t *calls = json_object_get(msg, "tool_calls");
    if (json_is_array(calls))
        add_tool_calls(cs, calls);
    if (over_reply_cap(cs)) {
        json_decref(chunk);
        return -1;
    }
    if (json_array_size(cs->tool_calls) > CHAT_MAX_TOOL_CALLS) {
        snprintf(cs->error, sizeof cs->error, "the reply has more than %d tool calls", CHAT_MAX_TOOL_CALLS);
        json_decref(chunk);
        return -1;
    }
    if (json_is_true(json_object_get(chunk, "done"))) {
        cs->done = true;
        snprintf(cs->done_reason, sizeof cs->done_reason, "%s",
                 json_string_value(json_object_get(chunk, "done_reason")) ?: "");
        cs->m.prompt_eval_count = metric(chunk, "prompt_eval_count");
        cs->m.eval_count = metric(chunk, "eval_count");
        cs->m.total_duration_ns = metric(chunk, "total_duration");
        cs->m.load_duration_ns = metric(chunk, "load_duration");
        cs->m.prompt_eval_duration_ns = metric(chunk, "prompt_eval_duration");
        cs->m.eval_duration_ns = metric(chunk, "eval_duration");
    }
    json_decref(chunk);
    return 0;
}

/* ---- API ---- */

struct chat_stream *chat_stream_new(const char *id_prefix)
{
    struct chat_stream *cs = xcalloc(1, sizeof *cs);
    cs->nd = ndjson_new(CHAT_MAX_LINE, on_line, cs);
    cs->id_prefix = xstrdup(id_prefix);
    cs->tool_calls = json_array();
    return cs;
}

void chat_stream_free(struct chat_stream *cs)
{
    if (!cs)
        return;
    ndjson_free(cs->nd);
    free(cs->id_prefix);
    buf_free(&cs->content);
    buf_free(&cs->thinking);
    json_decref(cs->tool_calls);
    free(cs->args_ok);
    free(cs);
}

int chat_stream_feed(struct chat_stream *cs, const char *buf, size_t len)
{
    if (cs->error[0])
        return -1;
    if (ndjson_feed(cs->nd, buf, len) < 0) {
        if (ndjson_overflowed(cs->nd))
            snprintf(cs->error, sizeof cs->error, "Ollama sent a line over %u bytes", CHAT_MAX_LINE);
        return -1;
    }
    return 0;
}

int chat_stream_finish(struct chat_stream *cs)
{
    if (cs->error[0])
        return -1;
    if (ndjson_pending(cs->nd)) {
        /* A last line without "\n": a stream:false body, or a cut stream. */
        if (ndjson_feed(cs->nd, "\n", 1) < 0)
            return -1;
    }
    if (!cs->done) {
        snprintf(cs->error, sizeof cs->error, "the stream ended without a done chunk (output truncated)");
        return -1;
    }
    return 0;
}

const char *chat_stream_error(const struct chat_stream *cs) { return cs->error; }
bool chat_stream_done(const struct chat_stream *cs) { return cs->done; }
const char *chat_stream_done_reason(const struct chat_stream *cs) { return cs->done_reason; }
const struct chat_metrics *chat_stream_metrics(const struct chat_stream *cs) { return &cs->m; }
const char *chat_stream_content(const struct chat_stream *cs) { return buf_head(&cs->content); }
const char *chat_stream_thinking(const struct chat_stream *cs) { return buf_head(&cs->thinking); }
json_t *chat_stream_tool_calls(const struct chat_stream *cs) { return cs->tool_calls; }

bool chat_stream_tool_call_args_ok(const struct chat_stream *cs, size_t k)
{
    return k < json_array_size(cs->tool_calls) && cs->args_ok[k];
}

json_t *chat_stream_message(const struct chat_stream *cs)
{
    json_t *m = json_pack("{s:s, s:s}", "role", "assistant", "content", buf_head(&cs->content));
    if (cs->thinking.len)
        json_object_set_new(m, "thinking", json_string(buf_head(&cs->thinking)));
    if (json_array_size(cs->tool_calls))
        json_object_set_new(m, "tool_calls", json_deep_copy(cs->tool_calls));
    return m;
}
