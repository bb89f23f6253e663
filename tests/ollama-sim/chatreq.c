/* chatreq: Ollama's request validation for /api/chat. Ollama binds the body with Go's
 * encoding/json into api.ChatRequest, so a wrong JSON type anywhere is a 400 with Go's text
 * ("json: cannot unmarshal string into Go struct field ChatRequest.messages of type
 * []api.Message"); this module walks the same fields and reproduces those texts. Details kept:
 *   - an empty (or all-blank) body is "missing request body"; only the first JSON value is
 *     read (Go's Decoder ignores what follows); null fields count as absent;
 *   - keep_alive: a number is seconds (negative: forever), a string goes through Go's
 *     time.ParseDuration (gocompat.c), anything else is "Unsupported type: '<go type>'";
 *   - tool_calls[].function.arguments must be an object (null passes); since v0.14 Ollama's
 *     ordered-map parser reports "Value looks like object, but can't find closing '}' symbol";
 *   - options are checked later (chatreq_check_options) because Ollama does it while
 *     scheduling, after the model lookup, and answers 500 there.
 * One addition of ours, asked for by turnq: a message without a role is a 400. */
#include "chatreq.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "gocompat.h"
#include "xalloc.h"

#define DEFAULT_KEEP_ALIVE_S 300.0

static const char *go_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "null";
    }
}

/* reflect.TypeOf for a value json.Unmarshal put into an interface{} */
static const char *go_dynamic_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "map[string]interface {}";
    case JSON_ARRAY: return "[]interface {}";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "float64";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "<nil>";
    }
}

static int type_error(char err[ERR_LEN], const json_t *v, const char *field, const char *gotype)
{
    set_err(err, "json: cannot unmarshal %s into Go struct field %s of type %s", go_kind(v), field, gotype);
    return 400;
}

/* A field that must be a string when present (null is absent). */
static int want_string(const json_t *o, const char *key, const char *field, char err[ERR_LEN])
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_null(v) && !json_is_string(v))
        return type_error(err, v, field, "string");
    return 0;
}

/* Go's encoding/json syntax errors, approximated: jansson points just past the offending token
 * and says what it expected; Go names the offending character and where it stood. */
static int syntax_error(const char *body, size_t len, const json_error_t *je, char err[ERR_LEN])
{
    size_t pos = (size_t)je->position;
    if (json_error_code(je) == json_error_premature_end_of_input || pos == 0 || len == 0) {
        set_err(err, "unexpected EOF");
        return 400;
    }
    unsigned char ch = (unsigned char)body[(pos <= len ? pos : len) - 1];
    const char *t = je->text, *where = "looking for beginning of value";
    if (strstr(t, "string or '}' expected"))
        where = "looking for beginning of object key string";
    else if (strstr(t, "':' expected"))
        where = "after object key";
    else if (strstr(t, "',' or '}' expected"))
        where = "after object key:value pair";
    else if (strstr(t, "',' or ']' expected") || strstr(t, "']' expected"))
        where = "after array element";
    else if (strstr(t, "'}' expected"))
        where = "after object key:value pair";
    if (ch == '\'')
        set_err(err, "invalid character '\\'' %s", where);
    else if (ch >= 0x20 && ch < 0x7f)
        set_err(err, "invalid character '%c' %s", ch, where);
    else
        set_err(err, "invalid character '\\x%02x' %s", ch, where);
    return 400;
}

static int check_tool_calls(const json_t *tcs, char err[ERR_LEN])
{
    if (!json_is_array(tcs))
        return type_error(err, tcs, "Message.messages.tool_calls", "[]api.ToolCall");
    size_t j;
    const json_t *tc;
    json_array_foreach (tcs, j, tc) {
        if (json_is_null(tc))
            continue;
        if (!json_is_object(tc))
            return type_error(err, tc, "Message.messages.tool_calls", "api.ToolCall");
        if (want_string(tc, "id", "ToolCall.messages.tool_calls.id", err))
            return 400;
        const json_t *fn = json_object_get(tc, "function");
        if (!fn || json_is_null(fn))
            continue;
        if (!json_is_object(fn))
            return type_error(err, fn, "ToolCall.messages.tool_calls.function", "api.ToolCallFunction");
        if (want_string(fn, "name", "ToolCallFunction.messages.tool_calls.function.name", err))
            return 400;
        const json_t *idx = json_object_get(fn, "index");
        if (idx && !json_is_null(idx) && !json_is_integer(idx))
            return type_error(err, idx, "ToolCallFunction.messages.tool_calls.function.index", "int");
        const json_t *args = json_object_get(fn, "arguments");
        if (args && !json_is_null(args) && !json_is_object(args)) {
            set_err(err, "Value looks like object, but can't find closing '}' symbol");
            return 400;
        }
    }
    return 0;
}

static int check_messages(struct chatreq *cr, char err[ERR_LEN])
{
    const json_t *msgs = json_object_get(cr->root, "messages");
    if (!msgs || json_is_null(msgs))
        return 0;
    if (!json_is_array(msgs))
        return type_error(err, msgs, "ChatRequest.messages", "[]api.Message");
    cr->messages = (json_t *)msgs;
    cr->n_messages = (long)json_array_size(msgs);
    size_t i;
    const json_t *m;
    json_array_foreach (msgs, i, m) {
        if (!json_is_object(m))
            return type_error(err, m, "ChatRequest.messages", "api.Message");
        static const char *strs[] = {"role", "content", "thinking", "tool_name", "tool_call_id"};
        for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
            char field[64];
            snprintf(field, sizeof field, "Message.messages.%s", strs[k]);
            if (want_string(m, strs[k], field, err))
                return 400;
        }
        const json_t *images = json_object_get(m, "images");
        if (images && !json_is_null(images) && !json_is_array(images))
            return type_error(err, images, "Message.messages.images", "[]api.ImageData");
        const json_t *tcs = json_object_get(m, "tool_calls");
        if (tcs && !json_is_null(tcs) && check_tool_calls(tcs, err))
            return 400;
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || !*role) {
            set_err(err, "invalid message at index %zu: role is required", i);
            return 400;
        }
    }
    return 0;
}

static int check_tools(struct chatreq *cr, char err[ERR_LEN])
{
    const json_t *tools = json_object_get(cr->root, "tools");
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return type_error(err, tools, "ChatRequest.tools", "api.Tools");
    size_t i;
    const json_t *t;
    json_array_foreach (tools, i, t) {
        if (!json_is_object(t))
            return type_error(err, t, "ChatRequest.tools", "api.Tool");
        if (want_string(t, "type", "Tool.tools.type", err))
            return 400;
        const json_t *fn = json_object_get(t, "function");
        if (fn && !json_is_null(fn)) {
            if (!json_is_object(fn))
                return type_error(err, fn, "Tool.tools.function", "api.ToolFunction");
            if (want_string(fn, "name", "ToolFunction.tools.function.name", err) ||
                want_string(fn, "description", "ToolFunction.tools.function.description", err))
                return 400;
            const json_t *params = json_object_get(fn, "parameters");
            if (params && !json_is_null(params) && !json_is_object(params))
                return type_error(err, params, "ToolFunction.tools.function.parameters",
                                  "api.ToolFunctionParameters");
        }
    }
    cr->tools = (json_t *)tools;
    cr->n_tools = json_array_size(tools);
    return 0;
}

static int check_keep_alive(struct chatreq *cr, char err[ERR_LEN])
{
    const json_t *ka = json_object_get(cr->root, "keep_alive");
    cr->keep_alive_s = DEFAULT_KEEP_ALIVE_S;
    if (!ka || json_is_null(ka))
        return 0;
    cr->has_keep_alive = 1;
    if (json_is_number(ka)) {
        double t = json_number_value(ka);
        cr->keep_alive_s = t < 0 ? INFINITY : t;
        return 0;
    }
    if (json_is_string(ka)) {
        int64_t ns;
        if (gocompat_parse_duration(json_string_value(ka), &ns, err) != 0)
            return 400;
        cr->keep_alive_s = ns < 0 ? INFINITY : (double)ns / 1e9;
        return 0;
    }
    set_err(err, "Unsupported type: '%s'", go_dynamic_type(ka));
    return 400;
}

static int check_think(struct chatreq *cr, char err[ERR_LEN])
{
    const json_t *t = json_object_get(cr->root, "think");
    if (!t || json_is_null(t))
        return 0;
    if (json_is_boolean(t)) {
        cr->think = json_is_true(t);
        return 0;
    }
    if (json_is_string(t)) {
        const char *s = json_string_value(t);
        if (!strcmp(s, "high") || !strcmp(s, "medium") || !strcmp(s, "low") || !strcmp(s, "max")) {
            cr->think = 1;
            return 0;
        }
        char q[128];
        gocompat_quote(s, q, sizeof q);
        set_err(err,
                "invalid think value: %s (must be \"high\", \"medium\", \"low\", \"max\", true, or false)",
                q);
        return 400;
    }
    set_err(err,
            "think must be a boolean or string (\"high\", \"medium\", \"low\", \"max\", true, or false)");
    return 400;
}

int chatreq_parse(const char *body, size_t len, struct chatreq *cr, char err[ERR_LEN])
{
    memset(cr, 0, sizeof *cr);
    cr->n_messages = -1;
    cr->stream = 1;
    cr->keep_alive_s = DEFAULT_KEEP_ALIVE_S;
    size_t blank = 0;
    while (blank < len &&
           (body[blank] == ' ' || body[blank] == '\n' || body[blank] == '\r' || body[blank] == '\t'))
        blank++;
    if (blank == len) {
        set_err(err, "missing request body");
        return 400;
    }
    json_error_t je;
    cr->root = json_loadb(body, len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
    if (!cr->root)
        return syntax_error(body, len, &je, err);
    if (json_is_null(cr->root)) {
        json_decref(cr->root);
        cr->root = json_object(); /* Go: decoding null into a struct changes nothing */
    }
    if (!json_is_object(cr->root)) {
        set_err(err, "json: cannot unmarshal %s into Go value of type api.ChatRequest", go_kind(cr->root));
        return 400;
    }
    const json_t *model = json_object_get(cr->root, "model");
    if (json_is_string(model))
        cr->model = json_string_value(model);
    if (want_string(cr->root, "model", "ChatRequest.model", err))
        return 400;
    const json_t *msgs = json_object_get(cr->root, "messages");
    if (json_is_array(msgs))
        cr->n_messages = (long)json_array_size(msgs);
    else if (!msgs || json_is_null(msgs))
        cr->n_messages = -1;
    int rc;
    if ((rc = check_messages(cr, err)))
        return rc;
    const json_t *stream = json_object_get(cr->root, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream))
        return type_error(err, stream, "ChatRequest.stream", "bool");
    if (json_is_false(stream))
        cr->stream = 0;
    if ((rc = check_keep_alive(cr, err)) || (rc = check_think(cr, err)) || (rc = check_tools(cr, err)))
        return rc;
    const json_t *opts = json_object_get(cr->root, "options");
    if (opts && !json_is_null(opts) && !json_is_object(opts))
        return type_error(err, opts, "ChatRequest.options", "map[string]interface {}");
    const json_t *lp = json_object_get(cr->root, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_boolean(lp))
        return type_error(err, lp, "ChatRequest.logprobs", "bool");
    const json_t *tlp = json_object_get(cr->root, "top_logprobs");
    if (tlp && !json_is_null(tlp)) {
        if (!json_is_integer(tlp))
            return type_error(err, tlp, "ChatRequest.top_logprobs", "int");
        if (json_integer_value(tlp) < 0 || json_integer_value(tlp) > 20) {
            set_err(err, "top_logprobs must be between 0 and 20");
            return 400;
        }
    }
    return 0;
}

/* Ollama's Options fields by JSON name and Go kind (api/types.go, v0.12). */
enum opt_kind { OPT_INT, OPT_FLOAT, OPT_BOOL, OPT_STRINGS };
static const struct {
    const char *name;
    enum opt_kind kind;
    int runner; /* a load-time (Runner) option: a change reloads the model */
} known_opts[] = {
    {"num_keep", OPT_INT, 0},
    {"seed", OPT_INT, 0},
    {"num_predict", OPT_INT, 0},
    {"top_k", OPT_INT, 0},
    {"top_p", OPT_FLOAT, 0},
    {"min_p", OPT_FLOAT, 0},
    {"typical_p", OPT_FLOAT, 0},
    {"repeat_last_n", OPT_INT, 0},
    {"temperature", OPT_FLOAT, 0},
    {"repeat_penalty", OPT_FLOAT, 0},
    {"presence_penalty", OPT_FLOAT, 0},
    {"frequency_penalty", OPT_FLOAT, 0},
    {"stop", OPT_STRINGS, 0},
    {"num_ctx", OPT_INT, 1},
    {"num_batch", OPT_INT, 1},
    {"num_gpu", OPT_INT, 1},
    {"main_gpu", OPT_INT, 1},
    {"use_mmap", OPT_BOOL, 1},
    {"num_thread", OPT_INT, 1},
};

int chatreq_check_options(struct chatreq *cr, int default_ctx, char err[ERR_LEN])
{
    const json_t *opts = json_object_get(cr->root, "options");
    long long runner_vals[sizeof known_opts / sizeof known_opts[0]];
    int runner_set[sizeof known_opts / sizeof known_opts[0]];
    memset(runner_set, 0, sizeof runner_set);
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)opts, key, v) {
        if (json_is_null(v))
            continue;
        for (size_t i = 0; i < sizeof known_opts / sizeof known_opts[0]; i++) {
            if (strcmp(key, known_opts[i].name) != 0)
                continue;
            switch (known_opts[i].kind) {
            case OPT_INT:
                if (!json_is_number(v)) {
                    set_err(err, "option \"%s\" must be of type integer", key);
                    return 500;
                }
                runner_vals[i] = (long long)json_number_value(v); /* Go: int64(float64) */
                runner_set[i] = 1;
                break;
            case OPT_FLOAT:
                if (!json_is_number(v)) {
                    set_err(err, "option \"%s\" must be of type float32", key);
                    return 500;
                }
                break;
            case OPT_BOOL:
                if (!json_is_boolean(v)) {
                    set_err(err, "option \"%s\" must be of type boolean", key);
                    return 500;
                }
                runner_vals[i] = json_is_true(v);
                runner_set[i] = 1;
                break;
            case OPT_STRINGS: {
                if (!json_is_array(v)) {
                    set_err(err, "option \"%s\" must be of type array", key);
                    return 500;
                }
                size_t j;
                const json_t *e;
                json_array_foreach (v, j, e)
                    if (!json_is_string(e)) {
                        set_err(err, "option \"%s\" must be of an array of strings", key);
                        return 500;
                    }
                break;
            }
            }
        }
    }
    /* The runner signature: every load-time option, defaults spelled out (an absent num_ctx
     * is the default, the Modelfile's or the server's, so it matches an explicit one of the same
     * value as in Ollama). */
    struct buf sig = {0};
    for (size_t i = 0; i < sizeof known_opts / sizeof known_opts[0]; i++) {
        if (!known_opts[i].runner)
            continue;
        if (strcmp(known_opts[i].name, "num_ctx") == 0) {
            long long n = runner_set[i] && runner_vals[i] > 0 ? runner_vals[i] : default_ctx > 0 ? default_ctx : CHATREQ_DEFAULT_CTX;
            cr->num_ctx = n > (1 << 30) ? (1 << 30) : (int)n;
            buf_printf(&sig, "num_ctx=%d;", cr->num_ctx);
        } else if (runner_set[i]) {
            buf_printf(&sig, "%s=%lld;", known_opts[i].name, runner_vals[i]);
        }
    }
    free(cr->runner_sig);
    cr->runner_sig = xstrdup(buf_head(&sig));
    buf_free(&sig);
    return 0;
}

void chatreq_clear(struct chatreq *cr)
{
    json_decref(cr->root);
    free(cr->runner_sig);
    memset(cr, 0, sizeof *cr);
}
