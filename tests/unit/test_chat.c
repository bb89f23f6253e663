/* test_chat: the /api/chat reply accumulator (worker/chat.h) against recorded Ollama streams
 * (reference/ollama-api.md §2): deltas gathered from every chunk, tool calls wherever they come,
 * metrics from the done chunk, errors mid-stream, and tool-call normalisation. */
#include <stdlib.h>
#include <string.h>

#include "../../worker/chat.h"
#include "../lib/unit.h"

/* load(text): the shared parser of the unit framework (unit.h JSON_OF). */
#define load(text) JSON_OF(text)

static void check_json_(const char *file, int line, json_t *got, const char *want)
{
    json_t *w = load(want);
    char *g = got ? json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    unit_check(got && json_equal(got, w), file, line, false, "JSON differs: got %s, want %s", g ? g : "NULL",
               want);
    free(g);
    json_decref(w);
}
#define CHECK_JSON(got, want) check_json_(__FILE__, __LINE__, got, want)

static char *dump(json_t *v) { return json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY); }

/* A qwen3 reply as current Ollama streams it: thinking deltas, content deltas (Go escapes <, >
 * and & as \u003c...; other text is raw UTF-8), the tool call on a done:false chunk of its own,
 * then the done chunk with the metrics. */
static const char recorded[] =
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-12-03T09:00:01.001123456Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"The shelf\"},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-12-03T09:00:01.002123456Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\" is empty \\u0026 bolts \\u003c 5.\"},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-12-03T09:00:01.003123456Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Restocking\"},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-12-03T09:00:01.004123456Z\",\"message\":{\"role\":\"assistant\",\"content\":\" bolts \xe2\x80\x94 caf\xc3\xa9 \xf0\x9f\x94\xa9\\n\"},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-12-03T09:00:01.005123456Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_ab12cd34\",\"function\":{\"index\":0,\"name\":\"restock\",\"arguments\":{\"item\":\"bolts\"}}}]},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-12-03T09:00:01.006123456Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":3244883583,\"load_duration\":2969184542,\"prompt_eval_count\":169,\"prompt_eval_duration\":141656333,\"eval_count\":18,\"eval_duration\":133293625}\n";

static const char want_content[] = "Restocking bolts \xe2\x80\x94 caf\xc3\xa9 \xf0\x9f\x94\xa9\n";
static const char want_thinking[] = "The shelf is empty & bolts < 5.";
static const char want_calls[] =
    "[{\"id\":\"call_ab12cd34\",\"function\":{\"index\":0,\"name\":\"restock\",\"arguments\":{\"item\":\"bolts\"}}}]";

/* Feeds text in pieces cut at the given offsets (ascending, then -1). Returns the stream. */
static struct chat_stream *feed_cuts(const char *text, size_t len, const size_t *cuts, int ncuts, int *rc)
{
    struct chat_stream *cs = chat_stream_new("exp_t1_c1");
    size_t at = 0;
    *rc = 0;
    for (int i = 0; i <= ncuts && *rc == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        *rc = chat_stream_feed(cs, text + at, end - at);
        at = end;
    }
    return cs;
}

static struct chat_stream *feed_whole(const char *text, int *rc)
{
    return feed_cuts(text, strlen(text), NULL, 0, rc);
}

/* Everything the recorded stream must give; returns whether it all held. */
static bool check_recorded_(const char *file, int line, struct chat_stream *cs, int feed_rc, const char *how)
{
    bool ok = unit_check(feed_rc == 0, file, line, false, "%s: feed %d: %s", how, feed_rc, chat_stream_error(cs));
    ok &= unit_check(chat_stream_finish(cs) == 0, file, line, false, "%s: finish: %s", how, chat_stream_error(cs));
    ok &= unit_check(chat_stream_done(cs), file, line, false, "%s: not done", how);
    ok &= unit_eq_str(chat_stream_content(cs), want_content, "content", "want_content", file, line, false);
    ok &= unit_eq_str(chat_stream_thinking(cs), want_thinking, "thinking", "want_thinking", file, line, false);
    ok &= unit_eq_str(chat_stream_done_reason(cs), "stop", "done_reason", "\"stop\"", file, line, false);
    ok &= unit_eq_str(chat_stream_error(cs), "", "error", "\"\"", file, line, false);
    json_t *calls = chat_stream_tool_calls(cs), *w = load(want_calls);
    char *g = dump(calls);
    ok &= unit_check(json_equal(calls, w), file, line, false, "%s: tool calls %s", how, g ? g : "NULL");
    free(g);
    json_decref(w);
    const struct chat_metrics *m = chat_stream_metrics(cs);
    ok &= unit_check(m && m->prompt_eval_count == 169 && m->eval_count == 18 && m->total_duration_ns == 3244883583LL &&
                         m->load_duration_ns == 2969184542LL && m->prompt_eval_duration_ns == 141656333LL &&
                         m->eval_duration_ns == 133293625LL,
                     file, line, false, "%s: metrics wrong", how);
    return ok;
}
#define CHECK_RECORDED(cs, rc, how) check_recorded_(__FILE__, __LINE__, cs, rc, how)

TEST(recorded_stream_whole)
{
    int rc;
    struct chat_stream *cs = feed_whole(recorded, &rc);
    CHECK_RECORDED(cs, rc, "whole");
    chat_stream_free(cs);
    chat_stream_free(NULL);
}

TEST(recorded_stream_cut_at_every_byte)
{
    size_t n = strlen(recorded);
    for (size_t cut = 0; cut <= n; cut++) {
        int rc;
        struct chat_stream *cs = feed_cuts(recorded, n, &cut, 1, &rc);
        char how[32];
        snprintf(how, sizeof how, "cut at %zu", cut);
        bool ok = CHECK_RECORDED(cs, rc, how);
        chat_stream_free(cs);
        if (!ok)
            break;
    }
}

TEST(recorded_stream_one_byte_at_a_time)
{
    size_t n = strlen(recorded), cuts[sizeof recorded];
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    int rc;
    struct chat_stream *cs = feed_cuts(recorded, n, cuts, (int)n - 1, &rc);
    CHECK_RECORDED(cs, rc, "bytewise");
    chat_stream_free(cs);
}

TEST(tool_calls_on_the_done_chunk)
{
    /* gpt-oss on 0.15 and the v0.30+ llama-server path put the calls on the final chunk. */
    const char *s =
        "{\"model\":\"gpt-oss:20b\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Need weather.\"},\"done\":false}\n"
        "{\"model\":\"gpt-oss:20b\",\"message\":{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":[{\"id\":\"call_zz99yy88\",\"function\":{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},"
        "\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":50,\"eval_count\":9}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    CHECK_EQ_STR(chat_stream_content(cs), "Checking.");
    CHECK_EQ_STR(chat_stream_thinking(cs), "Need weather.");
    CHECK_JSON(chat_stream_tool_calls(cs),
               "[{\"id\":\"call_zz99yy88\",\"function\":{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]");
    CHECK_EQ_INT(chat_stream_metrics(cs)->prompt_eval_count, 50);
    CHECK_EQ_INT(chat_stream_metrics(cs)->eval_count, 9);
    chat_stream_free(cs);
}

TEST(two_calls_in_two_chunks_in_order)
{
    const char *s =
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_1\",\"function\":{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"London\"}}}]},\"done\":false}\n"
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_2\",\"function\":{\"index\":1,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},\"done\":false}\n"
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    CHECK_JSON(chat_stream_tool_calls(cs),
               "[{\"id\":\"call_1\",\"function\":{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"London\"}}},"
               " {\"id\":\"call_2\",\"function\":{\"index\":1,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]");
    chat_stream_free(cs);
}

TEST(calls_without_id_or_index_get_deterministic_ones)
{
    /* Servers before 0.12.10 send neither id nor index; two calls in one chunk, one in another. */
    const char *s =
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"a\",\"arguments\":{}}},{\"function\":{\"name\":\"b\",\"arguments\":{\"x\":1}}}]},\"done\":false}\n"
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"c\",\"arguments\":\"{\\\"y\\\":2}\"}}]},\"done\":true}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    CHECK_JSON(chat_stream_tool_calls(cs),
               "[{\"id\":\"exp_t1_c1_0\",\"function\":{\"index\":0,\"name\":\"a\",\"arguments\":{}}},"
               " {\"id\":\"exp_t1_c1_1\",\"function\":{\"index\":1,\"name\":\"b\",\"arguments\":{\"x\":1}}},"
               " {\"id\":\"exp_t1_c1_2\",\"function\":{\"index\":2,\"name\":\"c\",\"arguments\":{\"y\":2}}}]");
    chat_stream_free(cs);
}

TEST(stream_ending_without_done)
{
    const char *s = "{\"message\":{\"role\":\"assistant\",\"content\":\"word word\"},\"done\":false}\n"
                    "{\"message\":{\"role\":\"assistant\",\"content\":\" word\"},\"done\":false}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(chat_stream_finish(cs), -1);
    CHECK_CONTAINS(chat_stream_error(cs), "without");
    CHECK_CONTAINS(chat_stream_error(cs), "done");
    CHECK(!chat_stream_done(cs));
    CHECK_EQ_STR(chat_stream_content(cs), "word word word"); /* what came is kept */
    chat_stream_free(cs);

    /* Cut in the middle of a line. */
    cs = chat_stream_new("p");
    CHECK_EQ_INT(chat_stream_feed(cs, s, 30), 0);
    CHECK_EQ_INT(chat_stream_finish(cs), -1);
    CHECK(chat_stream_error(cs)[0] != '\0');
    chat_stream_free(cs);

    /* Nothing at all. */
    cs = chat_stream_new("p");
    CHECK_EQ_INT(chat_stream_finish(cs), -1);
    CHECK(chat_stream_error(cs)[0] != '\0');
    chat_stream_free(cs);
}

TEST(error_line_mid_stream)
{
    const char *s = "{\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n"
                    "{\"error\":\"an error was encountered while running the model: CUDA error\"}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_EQ_INT(rc, -1);
    CHECK_CONTAINS(chat_stream_error(cs), "an error was encountered while running the model: CUDA error");
    CHECK_EQ_INT(chat_stream_finish(cs), -1);
    CHECK_CONTAINS(chat_stream_error(cs), "CUDA error"); /* the earlier error stays */
    CHECK_EQ_INT(chat_stream_feed(cs, "{\"done\":true}\n", 14), -1);
    CHECK(!chat_stream_done(cs));
    chat_stream_free(cs);
}

TEST(error_body_without_newline)
{
    /* An HTTP error body: one object, no trailing newline. */
    struct chat_stream *cs = chat_stream_new("p");
    const char *s = "{\"error\":\"model 'nope' not found\"}";
    CHECK_EQ_INT(chat_stream_feed(cs, s, strlen(s)), 0);
    CHECK_EQ_INT(chat_stream_finish(cs), -1);
    CHECK_CONTAINS(chat_stream_error(cs), "model 'nope' not found");
    chat_stream_free(cs);
}

TEST(non_json_lines_refused)
{
    static const char *bad[] = {"garbage\n", "<html>502 Bad Gateway</html>\n", "[1,2]\n", "42\n", "\"done\"\n",
                                "{\"done\":true\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct chat_stream *cs = chat_stream_new("p");
        CHECK_MSG(chat_stream_feed(cs, bad[i], strlen(bad[i])) == -1, "accepted %s", bad[i]);
        CHECK_MSG(chat_stream_error(cs)[0] != '\0', "no error text for %s", bad[i]);
        CHECK_EQ_INT(chat_stream_finish(cs), -1);
        chat_stream_free(cs);
    }
}

TEST(stream_false_single_object)
{
    const char *s =
        "{\"model\":\"llama3.2\",\"created_at\":\"2025-07-07T20:32:53.844124Z\","
        "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hm\","
        "\"tool_calls\":[{\"id\":\"call_x1y2z3w4\",\"function\":{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Tokyo\"}}}]},"
        "\"done\":true,\"done_reason\":\"stop\",\"total_duration\":3244883583,\"load_duration\":2969184542,"
        "\"prompt_eval_count\":169,\"prompt_eval_duration\":141656333,\"eval_count\":18,\"eval_duration\":133293625}";
    for (int nl = 0; nl < 2; nl++) { /* with and without a final newline */
        struct chat_stream *cs = chat_stream_new("p");
        CHECK_EQ_INT(chat_stream_feed(cs, s, strlen(s)), 0);
        if (nl)
            CHECK_EQ_INT(chat_stream_feed(cs, "\n", 1), 0);
        CHECK_MSG(chat_stream_finish(cs) == 0, "finish (newline %d): %s", nl, chat_stream_error(cs));
        CHECK(chat_stream_done(cs));
        CHECK_EQ_STR(chat_stream_thinking(cs), "hm");
        CHECK_EQ_STR(chat_stream_content(cs), "");
        CHECK_EQ_STR(chat_stream_done_reason(cs), "stop");
        CHECK_EQ_INT(json_array_size(chat_stream_tool_calls(cs)), 1);
        CHECK_EQ_INT(chat_stream_metrics(cs)->eval_duration_ns, 133293625);
        chat_stream_free(cs);
    }
}

TEST(missing_metrics_are_zero)
{
    int rc;
    struct chat_stream *cs = feed_whole("{\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"done\":true}\n", &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    const struct chat_metrics *m = chat_stream_metrics(cs);
    REQUIRE(m != NULL);
    CHECK_EQ_INT(m->prompt_eval_count, 0);
    CHECK_EQ_INT(m->eval_count, 0);
    CHECK_EQ_INT(m->total_duration_ns, 0);
    CHECK_EQ_INT(m->load_duration_ns, 0);
    CHECK_EQ_INT(m->prompt_eval_duration_ns, 0);
    CHECK_EQ_INT(m->eval_duration_ns, 0);
    CHECK_EQ_STR(chat_stream_done_reason(cs), "");
    CHECK_EQ_STR(chat_stream_content(cs), "hi");
    CHECK_EQ_STR(chat_stream_thinking(cs), "");
    CHECK_EQ_INT(json_array_size(chat_stream_tool_calls(cs)), 0);
    CHECK(json_is_array(chat_stream_tool_calls(cs)));
    chat_stream_free(cs);

    /* Before any input: empty strings, no calls, zero metrics. */
    cs = chat_stream_new("p");
    CHECK_EQ_STR(chat_stream_content(cs), "");
    CHECK_EQ_STR(chat_stream_thinking(cs), "");
    CHECK_EQ_STR(chat_stream_error(cs), "");
    CHECK(json_is_array(chat_stream_tool_calls(cs)));
    CHECK_EQ_INT(chat_stream_metrics(cs)->eval_count, 0);
    CHECK(!chat_stream_done(cs));
    chat_stream_free(cs);
}

TEST(metrics_from_the_done_chunk_only)
{
    /* A stray count on a done:false chunk is not the reply's. */
    const char *s = "{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false,\"eval_count\":99}\n"
                    "{\"message\":{\"role\":\"assistant\",\"content\":\"b\"},\"done\":true,\"done_reason\":\"length\",\"eval_count\":7}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    CHECK_EQ_INT(chat_stream_metrics(cs)->eval_count, 7);
    CHECK_EQ_STR(chat_stream_done_reason(cs), "length");
    CHECK_EQ_STR(chat_stream_content(cs), "ab"); /* content of the done chunk counts too */
    chat_stream_free(cs);
}

TEST(odd_but_valid_chunks)
{
    /* No message, a message without content, null content, an empty tool_calls list. */
    const char *s = "{\"model\":\"m\",\"done\":false}\n"
                    "{\"message\":{\"role\":\"assistant\"},\"done\":false}\n"
                    "{\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},\"done\":false}\n"
                    "{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"done\":true,\"done_reason\":\"stop\"}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_MSG(rc == 0, "feed: %s", chat_stream_error(cs));
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    CHECK_EQ_STR(chat_stream_content(cs), "ok");
    CHECK_EQ_INT(json_array_size(chat_stream_tool_calls(cs)), 0);
    chat_stream_free(cs);
}

TEST(a_9mb_tool_argument)
{
    size_t big = 9u << 20;
    const char *head = "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_big\","
                       "\"function\":{\"index\":0,\"name\":\"write\",\"arguments\":{\"content\":\"";
    const char *tail = "\"}}}]},\"done\":false}\n{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n";
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + big + tl + 1);
    memcpy(s, head, hl);
    memset(s + hl, 'x', big);
    memcpy(s + hl + big, tail, tl + 1);
    struct chat_stream *cs = chat_stream_new("p");
    int rc = 0;
    size_t len = hl + big + tl;
    for (size_t at = 0; at < len && rc == 0; at += 16384) /* as curl hands it over */
        rc = chat_stream_feed(cs, s + at, len - at < 16384 ? len - at : 16384);
    CHECK_MSG(rc == 0, "feed: %s", chat_stream_error(cs));
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    json_t *call = json_array_get(chat_stream_tool_calls(cs), 0);
    const char *content = json_string_value(json_object_get(json_object_get(json_object_get(call, "function"),
                                                                            "arguments"), "content"));
    CHECK(content && strlen(content) == big);
    chat_stream_free(cs);
    free(s);
}

TEST(line_over_chat_max_line_refused)
{
    size_t chunk = 1u << 20;
    char *buf = malloc(chunk);
    memset(buf, ' ', chunk);
    buf[0] = '{';
    struct chat_stream *cs = chat_stream_new("p");
    int rc = 0;
    size_t fed = 0;
    while (rc == 0 && fed <= CHAT_MAX_LINE + chunk) {
        rc = chat_stream_feed(cs, buf, chunk);
        fed += chunk;
        buf[0] = ' ';
    }
    CHECK_EQ_INT(rc, -1);
    CHECK_MSG(fed > CHAT_MAX_LINE, "refused after only %zu bytes", fed);
    CHECK(chat_stream_error(cs)[0] != '\0');
    chat_stream_free(cs);
    free(buf);
}

TEST(message_shape)
{
    int rc;
    struct chat_stream *cs = feed_whole(recorded, &rc);
    REQUIRE_EQ_INT(chat_stream_finish(cs), 0);
    json_t *m = chat_stream_message(cs);
    REQUIRE(m != NULL);
    json_t *want = json_pack("{s:s, s:s, s:s, s:o}", "role", "assistant", "content", want_content, "thinking",
                             want_thinking, "tool_calls", load(want_calls));
    char *g = dump(m);
    CHECK_MSG(json_equal(m, want), "message %s", g);
    free(g);
    json_decref(want);
    json_decref(m);
    /* A new reference: the stream's own state outlives it. */
    CHECK_EQ_INT(json_array_size(chat_stream_tool_calls(cs)), 1);
    chat_stream_free(cs);

    cs = feed_whole("{\"message\":{\"role\":\"assistant\",\"content\":\"Done for today.\"},\"done\":true}\n", &rc);
    REQUIRE_EQ_INT(chat_stream_finish(cs), 0);
    m = chat_stream_message(cs);
    CHECK_JSON(m, "{\"role\":\"assistant\",\"content\":\"Done for today.\"}");
    json_decref(m);
    chat_stream_free(cs);

    /* Only a tool call: content is there, empty. */
    cs = feed_whole("{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
                    "{\"index\":0,\"name\":\"f\",\"arguments\":{}}}]},\"done\":true}\n",
                    &rc);
    REQUIRE_EQ_INT(chat_stream_finish(cs), 0);
    m = chat_stream_message(cs);
    CHECK_JSON(m, "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
                  "{\"index\":0,\"name\":\"f\",\"arguments\":{}}}]}");
    json_decref(m);
    chat_stream_free(cs);
}

TEST(args_ok_per_call)
{
    const char *s =
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
        "{\"id\":\"c0\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{\"a\":1}}},"
        "{\"id\":\"c1\",\"function\":{\"index\":1,\"name\":\"f\",\"arguments\":\"not json\"}}]},\"done\":false}\n"
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
        "{\"id\":\"c2\",\"function\":{\"index\":2,\"name\":\"f\",\"arguments\":\"{\\\"b\\\":2}\"}},"
        "{\"id\":\"c3\",\"function\":{\"index\":3,\"name\":\"f\",\"arguments\":[1]}}]},\"done\":true}\n";
    int rc;
    struct chat_stream *cs = feed_whole(s, &rc);
    CHECK_EQ_INT(chat_stream_finish(cs), 0);
    CHECK_EQ_INT(json_array_size(chat_stream_tool_calls(cs)), 4);
    CHECK(chat_stream_tool_call_args_ok(cs, 0));
    CHECK(!chat_stream_tool_call_args_ok(cs, 1));
    CHECK(chat_stream_tool_call_args_ok(cs, 2));
    CHECK(!chat_stream_tool_call_args_ok(cs, 3));
    CHECK(!chat_stream_tool_call_args_ok(cs, 4)); /* past the end */
    CHECK_JSON(chat_stream_tool_calls(cs),
               "[{\"id\":\"c0\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{\"a\":1}}},"
               " {\"id\":\"c1\",\"function\":{\"index\":1,\"name\":\"f\",\"arguments\":{}}},"
               " {\"id\":\"c2\",\"function\":{\"index\":2,\"name\":\"f\",\"arguments\":{\"b\":2}}},"
               " {\"id\":\"c3\",\"function\":{\"index\":3,\"name\":\"f\",\"arguments\":{}}}]");
    chat_stream_free(cs);
}

/* ---- chat_tool_call_normalise ---- */

/* Normalises call text; checks the result and args_ok, and that the input did not change. */
#define NORM(in, want, ok) norm_(__FILE__, __LINE__, in, want, ok)
static void norm_(const char *file, int line, const char *in, const char *want, bool want_ok)
{
    json_t *call = load(in);
    char *before = dump(call);
    bool args_ok = !want_ok;
    json_t *got = chat_tool_call_normalise(call, "fb_id", 3, &args_ok);
    check_json_(file, line, got, want);
    unit_check(args_ok == want_ok, file, line, false, "args_ok %d, want %d for %s", args_ok, want_ok, in);
    char *after = dump(call);
    unit_check(strcmp(before, after) == 0, file, line, false, "input changed: %s -> %s", before, after);
    free(before), free(after);
    json_decref(got);
    json_decref(call);
}

TEST(normalise_object_arguments_kept)
{
    NORM("{\"id\":\"call_1\",\"function\":{\"index\":0,\"name\":\"restock\",\"arguments\":{\"item\":\"bolts\",\"n\":[1,{\"a\":null}]}}}",
         "{\"id\":\"call_1\",\"function\":{\"index\":0,\"name\":\"restock\",\"arguments\":{\"item\":\"bolts\",\"n\":[1,{\"a\":null}]}}}",
         true);
}

TEST(normalise_string_arguments_parsed)
{
    NORM("{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1,\\\"b\\\":\\\"x\\\"}\"}}",
         "{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{\"a\":1,\"b\":\"x\"}}}", true);
    NORM("{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":\" {} \"}}",
         "{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{}}}", true);
}

TEST(normalise_null_or_missing_arguments)
{
    NORM("{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":null}}",
         "{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{}}}", true);
    NORM("{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\"}}",
         "{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{}}}", true);
}

TEST(normalise_bad_arguments)
{
    static const char *bad[] = {"\"not json\"", "\"[1,2]\"", "\"42\"", "\"{\\\"a\\\":\"", "\"\"", "[1,2]", "5",
                                "true", "\"{} {}\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char in[256];
        snprintf(in, sizeof in, "{\"id\":\"c\",\"function\":{\"index\":1,\"name\":\"f\",\"arguments\":%s}}", bad[i]);
        NORM(in, "{\"id\":\"c\",\"function\":{\"index\":1,\"name\":\"f\",\"arguments\":{}}}", false);
    }
}

TEST(normalise_id_index_name_fallbacks)
{
    NORM("{\"function\":{\"name\":\"f\",\"arguments\":{}}}",
         "{\"id\":\"fb_id\",\"function\":{\"index\":3,\"name\":\"f\",\"arguments\":{}}}", true);
    NORM("{\"id\":\"\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{}}}",
         "{\"id\":\"fb_id\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{}}}", true);
    NORM("{\"id\":\"keep\",\"function\":{\"index\":7,\"arguments\":{}}}",
         "{\"id\":\"keep\",\"function\":{\"index\":7,\"name\":\"\",\"arguments\":{}}}", true);
    NORM("{}", "{\"id\":\"fb_id\",\"function\":{\"index\":3,\"name\":\"\",\"arguments\":{}}}", true);
}

TEST(normalise_other_keys_kept)
{
    NORM("{\"id\":\"c\",\"type\":\"function\",\"extra\":{\"k\":1},"
         "\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":\"{}\",\"description\":\"d\"}}",
         "{\"id\":\"c\",\"type\":\"function\",\"extra\":{\"k\":1},"
         "\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{},\"description\":\"d\"}}",
         true);
}

TEST(normalise_result_independent_of_input)
{
    json_t *call = load("{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{\"a\":1}}}");
    bool ok;
    json_t *got = chat_tool_call_normalise(call, "fb", 0, &ok);
    REQUIRE(got != NULL);
    json_object_set_new(json_object_get(got, "function"), "name", json_string("changed"));
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(call, "function"), "name")), "f");
    json_decref(got);
    json_decref(call);
}

UNIT_MAIN()
