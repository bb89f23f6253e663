/* gen: the deterministic "model". Reading the conversation the way a tool loop builds it:
 * the turn starts at the last user message; every assistant message after it is one call the
 * turn already made (k), every tool message one result. While k < --actions and tools are
 * offered, the reply is one tool call to tools[k mod T] with arguments from its schema
 * (schema.c); otherwise a short text that names how many tool results the turn saw and quotes
 * the last one (cut to 80 bytes on a UTF-8 boundary), or echoes the user's prompt.
 * Tool call ids hash the canonical dump (compact, sorted keys) of the messages, so a replayed
 * conversation gets the same ids and every call of a turn a different one. */
#include "gen.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "schema.h"
#include "xalloc.h"

#define QUOTE_MAX 80

/* ---- Hashing and sizing of JSON without building a string ---- */

struct sink {
    uint64_t h;
    size_t n;
};

static int sink_cb(const char *buffer, size_t size, void *data)
{
    struct sink *s = data;
    s->h = hash_fnv1a(s->h, buffer, size);
    s->n += size;
    return 0;
}

static struct sink json_sink(const json_t *j)
{
    struct sink s = {.h = HASH_SEED};
    if (j)
        json_dump_callback(j, sink_cb, &s, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return s;
}

void gen_call_id(const json_t *messages, int k, char out[14])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    struct sink s = json_sink(messages);
    uint64_t h = hash_mix(s.h ^ (uint64_t)(k + 1) * 0x9e3779b97f4a7c15ULL);
    memcpy(out, "call_", 5);
    for (int i = 0; i < 8; i++) {
        out[5 + i] = alphabet[h % 36];
        h /= 36;
        if (i == 3)
            h = hash_mix(h ^ s.h);
    }
    out[13] = '\0';
}

/* ---- Text ---- */

/* Appends at most max bytes of s to b, never cutting a UTF-8 sequence, "..." when cut. */
static void append_cut(struct buf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        buf_append(b, s, n);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    buf_append(b, s, max);
    buf_puts(b, "...");
}

static void tokenize(struct gen_plan *p)
{
    const char *s = p->text;
    size_t cap = 8;
    p->tokens = xcalloc(cap, sizeof *p->tokens);
    while (*s) {
        const char *start = s;
        while (*s == ' ' || *s == '\n' || *s == '\t')
            s++;
        while (*s && *s != ' ' && *s != '\n' && *s != '\t')
            s++;
        if (p->n_tokens == cap) {
            cap *= 2;
            p->tokens = xreallocarray(p->tokens, cap, sizeof *p->tokens);
        }
        p->tokens[p->n_tokens++] = xstrndup(start, (size_t)(s - start));
    }
}

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void gen_plan_make(const json_t *messages, const json_t *tools, int actions, struct gen_plan *p)
{
    memset(p, 0, sizeof *p);
    size_t n = json_array_size(messages);
    size_t turn_start = 0; /* first message after the last user message */
    for (size_t i = 0; i < n; i++)
        if (strcmp(str_of(json_array_get(messages, i), "role"), "user") == 0)
            turn_start = i + 1;
    int k = 0, results = 0;
    const json_t *last_tool = NULL, *last_user = NULL;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(messages, i);
        const char *role = str_of(m, "role");
        chars +=
            strlen(str_of(m, "content")) + strlen(str_of(m, "thinking")) + strlen(str_of(m, "tool_name"));
        if (json_object_get(m, "tool_calls"))
            chars += json_sink(json_object_get(m, "tool_calls")).n;
        if (strcmp(role, "user") == 0)
            last_user = m;
        if (i < turn_start)
            continue;
        if (strcmp(role, "assistant") == 0)
            k++;
        else if (strcmp(role, "tool") == 0) {
            results++;
            last_tool = m;
        }
    }
    size_t n_tools = json_array_size(tools);
    chars += json_sink(tools && n_tools ? tools : NULL).n;
    long pt = (long)(chars / 4) + 4 * (long)n + 10;
    p->prompt_tokens = pt > 1000000000L ? 1000000000 : (int)pt;

    if (k < actions && n_tools > 0) {
        const json_t *fn = json_object_get(json_array_get(tools, (size_t)k % n_tools), "function");
        const char *name = str_of(fn, "name");
        json_t *args = schema_arguments(json_object_get(fn, "parameters"), k);
        char id[14];
        gen_call_id(messages, k, id);
        p->tool = 1;
        p->tool_call = json_pack("{s:s, s:{s:i, s:s, s:o}}", "id", id, "function", "index", 0, "name", name,
                                 "arguments", args);
        /* what the model "printed": <tool_call>{"name": ..., "arguments": ...}</tool_call> */
        json_t *printed = json_pack("{s:s, s:O}", "name", name, "arguments", args);
        p->eval_tokens = 2 + (int)(json_sink(printed).n / 4);
        json_decref(printed);
        p->text = xstrdup("");
        return;
    }
    struct buf b = {0};
    if (results > 0) {
        buf_printf(&b, "After %d tool call%s, here is my answer. The last tool, %s, returned: ", results,
                   results == 1 ? "" : "s",
                   *str_of(last_tool, "tool_name") ? str_of(last_tool, "tool_name") : "unnamed");
        append_cut(&b, str_of(last_tool, "content"), QUOTE_MAX);
    } else {
        buf_puts(&b, "Here is my answer, with no tool calls needed.");
        if (last_user && *str_of(last_user, "content")) {
            buf_puts(&b, " You said: ");
            append_cut(&b, str_of(last_user, "content"), QUOTE_MAX);
        }
    }
    p->text = xstrdup(buf_head(&b));
    buf_free(&b);
    tokenize(p);
    p->eval_tokens = (int)p->n_tokens;
}

void gen_plan_clear(struct gen_plan *p)
{
    json_decref(p->tool_call);
    for (size_t i = 0; i < p->n_tokens; i++)
        free(p->tokens[i]);
    free(p->tokens);
    free(p->text);
    memset(p, 0, sizeof *p);
}
