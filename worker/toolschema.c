/* toolschema: MCP tools to Ollama tools and CallToolResults to tool messages.
 *
 * Ollama decodes a tool into Go structs and silently drops every key they lack ($ref, $defs,
 * oneOf, allOf, const, default, minimum, format, ...; reference/mcp-stdio.md §4.1), and some
 * chat templates fail on a property without "type". So a schema is rebuilt, node by node, from
 * the keys Ollama keeps: local $refs are replaced by a copy of their target (siblings win),
 * allOf branches are merged, oneOf becomes anyOf, const becomes a one-value enum, every node gets
 * a type (declared, or inferred from enum, properties, items or anyOf; "string" as a last resort),
 * and the keywords that would be lost are written into the description: "(default: 5;
 * minimum: 1)". Depth and node count are bounded, so a recursive or huge schema ends in a
 * placeholder node instead of a blow-up. Remote $refs are never fetched (2026-07-28 basic §$ref). */
#include "toolschema.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

/* ---- Schemas ---- */

struct conv {
    const json_t *root; /* the whole inputSchema, for "#/..." references */
    int nodes;          /* nodes produced so far */
};

static json_t *convert(struct conv *cx, const json_t *s, int depth);

/* A JSON pointer inside the root ("#", "#/$defs/X", "#/properties/a/items"); NULL when it
 * is not local or leads nowhere. Borrowed. */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    const json_t *cur = root;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1'))
                c = *p++ == '0' ? '~' : '/';
            if (n + 1 >= sizeof tok)
                return NULL;
            tok[n++] = c;
        }
        tok[n] = '\0';
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            cur = (*tok && !*end && i >= 0) ? json_array_get(cur, (size_t)i) : NULL;
        } else
            return NULL;
        if (!cur)
            return NULL;
    }
    return *p ? NULL : cur;
}

static const char *value_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    case JSON_ARRAY: return "array";
    default: return "object";
    }
}

/* Adds the type(s) of t (a type string or array) to the set `types` (an array of strings). */
static void add_types(json_t *types, const json_t *t)
{
    if (json_is_string(t)) {
        size_t i;
        json_t *v;
        json_array_foreach(types, i, v)
            if (json_equal(v, t))
                return;
        json_array_append(types, (json_t *)t);
    } else if (json_is_array(t)) {
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v)
            add_types(types, v);
    }
}

/* A type for a node that declares none. */
static json_t *infer_type(const json_t *out)
{
    json_t *types = json_array();
    const json_t *en = json_object_get(out, "enum");
    if (json_array_size(en)) {
        size_t i;
        json_t *v;
        json_array_foreach(en, i, v) {
            json_t *t = json_string(value_type(v));
            add_types(types, t);
            json_decref(t);
        }
    } else if (json_object_get(out, "properties"))
        json_array_append_new(types, json_string("object"));
    else if (json_object_get(out, "items"))
        json_array_append_new(types, json_string("array"));
    else if (json_array_size(json_object_get(out, "anyOf"))) {
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(out, "anyOf"), i, b)
            add_types(types, json_object_get(b, "type"));
    }
    if (json_array_size(types) == 0)
        json_array_append_new(types, json_string("string"));
    if (json_array_size(types) == 1) {
        json_t *one = json_incref(json_array_get(types, 0));
        json_decref(types);
        return one;
    }
    return types;
}

/* Keywords Ollama drops, kept for the model in the description. */
static const char *const folded[] = {"default", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
                                     "multipleOf", "minLength", "maxLength", "pattern", "format", "minItems",
                                     "maxItems", "uniqueItems", "minProperties", "maxProperties", NULL};

static void fold_hints(const json_t *s, json_t *out)
{
    struct buf b = {0};
    for (int i = 0; folded[i]; i++) {
        const json_t *v = json_object_get(s, folded[i]);
        if (!v || (!strcmp(folded[i], "uniqueItems") && !json_is_true(v)))
            continue;
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text)
            continue;
        buf_printf(&b, "%s%s: %.100s%s", b.len ? "; " : "", folded[i], text, strlen(text) > 100 ? "..." : "");
        free(text);
    }
    const char *desc = json_string_value(json_object_get(s, "description"));
    if (!desc)
        desc = json_string_value(json_object_get(s, "title"));
    if (b.len) {
        struct buf d = {0};
        buf_printf(&d, "%s%s(%s)", desc ? desc : "", desc && *desc ? " " : "", buf_head(&b));
        json_object_set_new(out, "description", json_string(buf_head(&d)));
        buf_free(&d);
    } else if (desc)
        json_object_set_new(out, "description", json_string(desc));
    buf_free(&b);
}

static json_t *placeholder(const char *type, const char *why)
{
    return json_pack("{s:s, s:s}", "type", type, "description", why);
}

/* Merges the converted allOf branch `br` into out: missing keys taken, properties and required
 * united. */
static void merge_branch(json_t *out, const json_t *br)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)br, k, v) {
        json_t *have = json_object_get(out, k);
        if (!have)
            json_object_set(out, k, v);
        else if (!strcmp(k, "properties") && json_is_object(have))
            json_object_update_missing(have, v);
        else if (!strcmp(k, "required") && json_is_array(have)) {
            size_t i;
            json_t *r;
            json_array_foreach(v, i, r) {
                size_t j;
                json_t *h;
                bool dup = false;
                json_array_foreach(have, j, h)
                    dup = dup || json_equal(h, r);
                if (!dup)
                    json_array_append(have, r);
            }
        }
    }
}

static json_t *convert(struct conv *cx, const json_t *s, int depth)
{
    if (++cx->nodes > TOOLSCHEMA_MAX_NODES)
        return placeholder("string", "(schema too large)");
    if (depth > TOOLSCHEMA_MAX_DEPTH)
        return placeholder("object", "(recursive)");
    if (!json_is_object(s))
        return json_pack("{s:s}", "type", "string"); /* true, false, or garbage: anything goes */

    const json_t *ref = json_object_get(s, "$ref");
    if (json_is_string(ref)) {
        const json_t *target = resolve_ref(cx->root, json_string_value(ref));
        json_t *merged = json_is_object(target) ? json_deep_copy(target) : json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)s, k, v)
            if (strcmp(k, "$ref"))
                json_object_set(merged, k, v);
        if (!target && !json_object_get(merged, "type") && !json_object_get(merged, "properties"))
            json_object_set_new(merged, "type", json_string("object"));
        json_t *out = convert(cx, merged, depth + 1);
        json_decref(merged);
        return out;
    }

    json_t *out = json_object();
    const json_t *type = json_object_get(s, "type");
    if (json_is_string(type) || (json_is_array(type) && json_array_size(type)))
        json_object_set(out, "type", (json_t *)type);
    fold_hints(s, out);
    const json_t *en = json_object_get(s, "enum");
    if (json_is_array(en))
        json_object_set(out, "enum", (json_t *)en);
    else if (json_object_get(s, "const"))
        json_object_set_new(out, "enum", json_pack("[O]", json_object_get(s, "const")));

    const json_t *items = json_object_get(s, "items");
    if (json_is_array(items))
        items = json_array_get(items, 0); /* a tuple: the first element's schema */
    if (items)
        json_object_set_new(out, "items", convert(cx, items, depth + 1));

    const json_t *props = json_object_get(s, "properties");
    if (json_is_object(props)) {
        json_t *p = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)props, k, v)
            json_object_set_new(p, k, convert(cx, v, depth + 1));
        json_object_set_new(out, "properties", p);
        json_t *req = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(s, "required"), i, r)
            if (json_is_string(r) && json_object_get(p, json_string_value(r)))
                json_array_append(req, r);
        if (json_array_size(req))
            json_object_set_new(out, "required", req);
        else
            json_decref(req);
    }

    /* oneOf says "exactly one"; Ollama knows only anyOf, which is close enough for a model. */
    json_t *any = json_array();
    static const char *const alts[] = {"anyOf", "oneOf"};
    for (int a = 0; a < 2; a++) {
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(s, alts[a]), i, b)
            json_array_append_new(any, convert(cx, b, depth + 1));
    }
    if (json_array_size(any))
        json_object_set_new(out, "anyOf", any);
    else
        json_decref(any);

    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(s, "allOf"), i, b) {
        json_t *br = convert(cx, b, depth + 1);
        merge_branch(out, br);
        json_decref(br);
    }

    if (!json_object_get(out, "type"))
        json_object_set_new(out, "type", infer_type(out));

    /* The order Ollama prints them in, so that converted schemas read alike. */
    json_t *ordered = json_object();
    static const char *const order[] = {"type", "description", "enum", "items", "properties", "required", "anyOf",
                                        NULL};
    for (int k = 0; order[k]; k++)
        if (json_object_get(out, order[k]))
            json_object_set(ordered, order[k], json_object_get(out, order[k]));
    json_decref(out);
    return ordered;
}

json_t *toolschema_params(const json_t *input_schema)
{
    struct conv cx = {.root = input_schema};
    json_t *conv = json_is_object(input_schema) ? convert(&cx, input_schema, 0) : json_object();
    json_t *props = json_object_get(conv, "properties");
    json_t *out = json_pack("{s:s, s:o}", "type", "object", "properties",
                            json_is_object(props) ? json_incref(props) : json_object());
    json_t *req = json_object_get(conv, "required");
    if (json_array_size(req))
        json_object_set(out, "required", req);
    json_decref(conv);
    return out;
}

json_t *toolschema_tool(const json_t *tool, const char *name)
{
    const char *desc = json_string_value(json_object_get(tool, "description"));
    if (!desc || !*desc)
        desc = json_string_value(json_object_get(tool, "title"));
    if (!desc || !*desc)
        desc = json_string_value(json_object_get(json_object_get(tool, "annotations"), "title"));
    if (!desc || !*desc)
        desc = json_string_value(json_object_get(tool, "name"));
    json_t *fn = json_pack("{s:s, s:s, s:o}", "name", name, "description", desc ? desc : name, "parameters",
                           toolschema_params(json_object_get(tool, "inputSchema")));
    return json_pack("{s:s, s:o}", "type", "function", "function", fn);
}

/* ---- Names ---- */

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool toolschema_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TOOLSCHEMA_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)name[i]))
            return false;
    return true;
}

static uint32_t fnv1a(uint32_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void toolschema_name(const char *prefix, const char *name, char out[TOOLSCHEMA_NAME_MAX + 1])
{
    struct buf head = {0}, body = {0};
    if (prefix && *prefix) {
        for (const char *p = prefix; *p && head.len < 24; p++)
            buf_append(&head, name_char((unsigned char)*p) ? p : "_", 1);
        buf_puts(&head, "__");
    }
    for (const char *p = name; *p; p++)
        buf_append(&body, name_char((unsigned char)*p) ? p : "_", 1);
    if (body.len == 0)
        buf_puts(&body, "tool");
    if (head.len + body.len <= TOOLSCHEMA_NAME_MAX) {
        snprintf(out, TOOLSCHEMA_NAME_MAX + 1, "%s%s", buf_head(&head), buf_head(&body));
    } else {
        uint32_t h = fnv1a(fnv1a(2166136261u, prefix ? prefix : ""), "\n");
        h = fnv1a(h, name);
        size_t room = TOOLSCHEMA_NAME_MAX - head.len - 9; /* "%08x_" */
        snprintf(out, TOOLSCHEMA_NAME_MAX + 1, "%s%08x_%s", buf_head(&head), (unsigned)h,
                 buf_head(&body) + body.len - room);
    }
    buf_free(&head);
    buf_free(&body);
}

/* ---- Results ---- */

/* The decoded size of base64 text. */
static size_t b64_bytes(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (*s != '=' && *s != '\n' && *s != '\r' && *s != ' ')
            n++;
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

static void add_block(struct buf *b, const json_t *blk, bool *text_seen)
{
    const char *type = json_string_value(json_object_get(blk, "type"));
    const char *sep = b->len ? "\n" : "";
    if (!type) {
        buf_printf(b, "%s[content block without a type omitted]", sep);
        return;
    }
    if (!strcmp(type, "text")) {
        const json_t *t = json_object_get(blk, "text");
        buf_puts(b, sep);
        buf_append(b, json_string_value(t) ? json_string_value(t) : "", json_string_length(t));
        *text_seen = true;
    } else if (!strcmp(type, "image") || !strcmp(type, "audio")) {
        const char *mime = json_string_value(json_object_get(blk, "mimeType"));
        const char *data = json_string_value(json_object_get(blk, "data"));
        buf_printf(b, "%s[%s: %s, %zu bytes]", sep, type, mime ? mime : "unknown type", data ? b64_bytes(data) : 0);
    } else if (!strcmp(type, "resource_link")) {
        const char *name = json_string_value(json_object_get(blk, "name"));
        const char *uri = json_string_value(json_object_get(blk, "uri"));
        buf_printf(b, "%s[resource link %s: %s]", sep, name ? name : "", uri ? uri : "");
    } else if (!strcmp(type, "resource")) {
        const json_t *res = json_object_get(blk, "resource");
        const char *uri = json_string_value(json_object_get(res, "uri"));
        const json_t *text = json_object_get(res, "text");
        const char *blob = json_string_value(json_object_get(res, "blob"));
        if (json_is_string(text)) {
            buf_printf(b, "%s[resource %s]\n", sep, uri ? uri : "");
            buf_append(b, json_string_value(text), json_string_length(text));
            *text_seen = true;
        } else
            buf_printf(b, "%s[binary resource %s, %zu bytes]", sep, uri ? uri : "", blob ? b64_bytes(blob) : 0);
    } else
        buf_printf(b, "%s[%.40s content omitted]", sep, type);
}

/* A copy of s cut to at most cap bytes: head and tail kept on UTF-8 boundaries. */
static char *cap_text(const char *s, size_t len, size_t cap)
{
    if (len <= cap)
        return xstrdup(s);
    char note[96];
    size_t room = cap > 200 ? cap - 96 : 104;
    size_t head = room * 2 / 3, tail = room - head;
    while (head > 0 && ((unsigned char)s[head] & 0xC0) == 0x80)
        head--;
    size_t tstart = len - tail;
    while (tstart < len && ((unsigned char)s[tstart] & 0xC0) == 0x80)
        tstart++;
    snprintf(note, sizeof note, "\n[... %zu bytes omitted by the worker ...]\n", tstart - head);
    struct buf b = {0};
    buf_append(&b, s, head);
    buf_puts(&b, note);
    buf_append(&b, s + tstart, len - tstart);
    char *out = xstrdup(buf_head(&b));
    buf_free(&b);
    return out;
}

char *toolschema_result(const json_t *result, size_t cap, bool *is_error)
{
    *is_error = false;
    const json_t *content = json_object_get(result, "content");
    if (!json_is_object(result) || !json_is_array(content)) {
        *is_error = true;
        return xstrdup("ERROR: the MCP server answered a tool result without a content array");
    }
    struct buf b = {0};
    if (json_is_true(json_object_get(result, "isError"))) {
        *is_error = true;
        buf_puts(&b, "ERROR: ");
    }
    bool text_seen = false;
    size_t i;
    json_t *blk;
    struct buf body = {0};
    json_array_foreach(content, i, blk) {
        /* Blocks meant for the user alone are not the model's to read. */
        const json_t *aud = json_object_get(json_object_get(blk, "annotations"), "audience");
        const char *who = json_string_value(json_array_get(aud, 0));
        if (json_array_size(aud) == 1 && who && !strcmp(who, "user"))
            continue;
        add_block(&body, blk, &text_seen);
    }
    const json_t *sc = json_object_get(result, "structuredContent");
    if (!text_seen && sc) {
        /* By the spec structuredContent repeats a text block; use it only when none came. */
        char *t = json_dumps(sc, JSON_COMPACT | JSON_ENCODE_ANY);
        if (t) {
            if (body.len)
                buf_puts(&body, "\n");
            buf_puts(&body, t);
            free(t);
        }
    }
    buf_append(&b, buf_head(&body), buf_avail(&body));
    buf_free(&body);
    char *out = cap_text(buf_head(&b), buf_avail(&b), cap);
    buf_free(&b);
    return out;
}
