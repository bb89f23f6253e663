/* test_gate: the pure parts of the consistency gate and of what feeds it: the model table
 * (dispatcher/modeltab.h: name normalisation, lookups in heartbeats, disagreement, merging,
 * the aligned print), the /api/show readers (worker/ollama.h), the per-turn call record
 * (worker/callrec.h: options once or per call, the reload threshold, the first call excluded)
 * and the result's reloads and mixed_digests (worker/result.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../dispatcher/modeltab.h"
#include "../../worker/callrec.h"
#include "../../worker/ollama.h"
#include "../../worker/result.h"
#include "../lib/unit.h"

/* load(text): the shared parser of the unit framework (unit.h JSON_OF). */
#define load(text) JSON_OF(text)

static void check_json_(const char *file, int line, json_t *got, const char *want)
{
    json_t *w = load(want);
    char *g = got ? json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    unit_check(got && json_equal(got, w), file, line, false, "JSON differs: got %s, want %s", g ? g : "NULL", want);
    free(g);
    json_decref(w);
}
#define CHECK_JSON(got, want) check_json_(__FILE__, __LINE__, got, want)

static json_t *hb(const char *version, const char *models)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"machine\":\"x\",\"ollama\":{\"version\":\"%s\",\"models\":%s}}", version, models);
    return load(text);
}

/* ---- modeltab ---- */

TEST(norm_adds_latest_only_without_a_tag)
{
    char out[MODELTAB_NAME_MAX];
    modeltab_norm("qwen3", out, sizeof out);
    CHECK_EQ_STR(out, "qwen3:latest");
    modeltab_norm("qwen3:8b", out, sizeof out);
    CHECK_EQ_STR(out, "qwen3:8b");
    modeltab_norm("host:5000/ns/model", out, sizeof out); /* the colon is the port, not a tag */
    CHECK_EQ_STR(out, "host:5000/ns/model:latest");
    modeltab_norm("ns/model:q4", out, sizeof out);
    CHECK_EQ_STR(out, "ns/model:q4");
}

TEST(digest_lookup_compares_normalised_names)
{
    json_t *h = hb("0.12.6", "[{\"name\":\"llama3:latest\",\"digest\":\"d1\"},{\"name\":\"qwen3:8b\",\"digest\":\"d2\"}]");
    CHECK(modeltab_has_list(h));
    CHECK_EQ_STR(modeltab_digest(h, "llama3"), "d1");
    CHECK_EQ_STR(modeltab_digest(h, "qwen3:8b"), "d2");
    CHECK_EQ_STR(modeltab_digest(h, "Qwen3:8B"), "d2"); /* Ollama matches names whatever their case */
    CHECK(modeltab_digest(h, "qwen3") == NULL);
    CHECK_EQ_STR(modeltab_version(h), "0.12.6");
    json_t *down = load("{\"ollama\":null}");
    CHECK(!modeltab_has_list(down));
    CHECK(!modeltab_has_list(NULL));
    CHECK(modeltab_digest(NULL, "qwen3:8b") == NULL);
    json_decref(h);
    json_decref(down);
}

TEST(rows_skip_machines_without_a_list_and_flag_missing)
{
    json_t *a = hb("0.12.6", "[{\"name\":\"qwen3:8b\",\"digest\":\"aa\"}]");
    json_t *b = hb("0.13.0", "[{\"name\":\"qwen3:8b\",\"digest\":\"bb\"}]");
    json_t *c = hb("0.12.6", "[]");
    json_t *dead = NULL;
    const char *names[] = {"ga", "gb", "gc", "gd"};
    json_t *hbs[] = {a, b, c, dead};
    json_t *rows = modeltab_rows("qwen3:8b", names, hbs, 4);
    CHECK_JSON(rows, "[{\"machine\":\"ga\",\"model\":\"qwen3:8b\",\"digest\":\"aa\",\"version\":\"0.12.6\"},"
                     "{\"machine\":\"gb\",\"model\":\"qwen3:8b\",\"digest\":\"bb\",\"version\":\"0.13.0\"},"
                     "{\"machine\":\"gc\",\"model\":\"qwen3:8b\",\"digest\":null,\"version\":\"0.12.6\"}]");
    CHECK(modeltab_disagree(rows));
    CHECK(modeltab_versions_differ(rows));
    json_decref(rows);

    const char *same_n[] = {"ga", "gd"};
    json_t *same_h[] = {a, dead};
    rows = modeltab_rows("qwen3:8b", same_n, same_h, 2);
    CHECK(!modeltab_disagree(rows)); /* a machine without a live worker is no disagreement */
    CHECK(!modeltab_versions_differ(rows));
    json_decref(rows);

    const char *miss_n[] = {"gc"};
    json_t *miss_h[] = {c};
    rows = modeltab_rows("qwen3:8b", miss_n, miss_h, 1);
    CHECK(modeltab_disagree(rows)); /* the only machine lacks it */
    json_decref(rows);
    json_t *none = json_array();
    CHECK(!modeltab_disagree(none));
    json_decref(none);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

TEST(merge_sorts_by_model_then_machine_and_dedups)
{
    json_t *into = json_array();
    json_t *r1 = load("[{\"machine\":\"gb\",\"model\":\"q\",\"digest\":\"1\",\"version\":\"v\"},"
                      "{\"machine\":\"ga\",\"model\":\"q\",\"digest\":\"2\",\"version\":\"v\"}]");
    json_t *r2 = load("[{\"machine\":\"ga\",\"model\":\"q\",\"digest\":\"2\",\"version\":\"v\"},"
                      "{\"machine\":\"gc\",\"model\":\"l\",\"digest\":null,\"version\":\"v\"}]");
    modeltab_merge(into, r1);
    modeltab_merge(into, r2);
    json_t *order = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(into, i, r) {
        char k[64];
        snprintf(k, sizeof k, "%s/%s", json_string_value(json_object_get(r, "model")),
                 json_string_value(json_object_get(r, "machine")));
        json_array_append_new(order, json_string(k));
    }
    CHECK_JSON(order, "[\"l/gc\", \"q/ga\", \"q/gb\"]");
    json_decref(order);
    json_decref(into);
    json_decref(r1);
    json_decref(r2);
}

TEST(short_digest_drops_sha256_prefix)
{
    char s[MODELTAB_SHORT + 1];
    modeltab_short("sha256:500a1f067a9f0011aabbcc", s);
    CHECK_EQ_STR(s, "500a1f067a9f");
    modeltab_short("500a1f067a9f0011aabbcc", s);
    CHECK_EQ_STR(s, "500a1f067a9f");
    modeltab_short("abc", s);
    CHECK_EQ_STR(s, "abc");
}

TEST(print_aligns_columns)
{
    json_t *rows = load("[{\"machine\":\"gpu1\",\"model\":\"qwen3:8b\",\"digest\":\"500a1f067a9f0011\",\"version\":\"0.12.6\"},"
                        "{\"machine\":\"a-long-name\",\"model\":\"qwen3:8b\",\"digest\":null,\"version\":null}]");
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    modeltab_print(f, rows, "  ");
    rewind(f);
    char buf[1024] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    CHECK_EQ_STR(buf, "  MACHINE      MODEL     DIGEST        VERSION\n"
                      "  gpu1         qwen3:8b  500a1f067a9f  0.12.6\n"
                      "  a-long-name  qwen3:8b  (missing)     ?\n");
    json_decref(rows);
}

/* ---- /api/show readers ---- */

TEST(parameters_parse_numbers_strings_and_repeats)
{
    json_t *p = ollama_parse_parameters("num_ctx                        8192\n"
                                        "repeat_penalty                 1\n"
                                        "stop                           \"<|im_start|>\"\n"
                                        "stop                           \"<|im_end|>\"\n"
                                        "temperature                    0.6\n"
                                        "mirostat_tau inf\n"
                                        "\n"
                                        "top_k 20");
    CHECK_JSON(p, "{\"num_ctx\": 8192, \"repeat_penalty\": 1, \"stop\": [\"<|im_start|>\", \"<|im_end|>\"],"
                  " \"temperature\": 0.6, \"mirostat_tau\": \"inf\", \"top_k\": 20}");
    json_decref(p);
    p = ollama_parse_parameters(NULL);
    CHECK_JSON(p, "{}");
    json_decref(p);
}

TEST(parameters_are_bounded)
{
    char text[8192] = "";
    size_t len = 0;
    for (int i = 0; i < OLLAMA_MAX_PARAMS + 10; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "p%d %d\n", i, i);
    json_t *p = ollama_parse_parameters(text);
    CHECK_EQ_INT((long long)json_object_size(p), OLLAMA_MAX_PARAMS);
    json_decref(p);
    char big[1024];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char line[1200];
    snprintf(line, sizeof line, "stop %s", big);
    p = ollama_parse_parameters(line);
    CHECK_EQ_INT((long long)strlen(json_string_value(json_object_get(p, "stop"))), OLLAMA_MAX_PARAM_LEN);
    json_decref(p);
}

TEST(show_context_length_prefers_the_architecture)
{
    json_t *s = load("{\"model_info\":{\"general.architecture\":\"qwen3\",\"clip.context_length\":77,"
                     "\"qwen3.context_length\":40960}}");
    CHECK_EQ_INT(ollama_show_context_length(s), 40960);
    json_decref(s);
    s = load("{\"model_info\":{\"llama.context_length\":8192}}");
    CHECK_EQ_INT(ollama_show_context_length(s), 8192);
    json_decref(s);
    s = load("{\"model_info\":{}}");
    CHECK_EQ_INT(ollama_show_context_length(s), -1);
    json_decref(s);
}

/* ---- callrec ---- */

TEST(callrec_same_settings_once_per_turn)
{
    struct callrec *c = callrec_new();
    json_t *opts = load("{\"temperature\": 0.7, \"num_ctx\": 8192}"), *ka = load("\"30m\"");
    callrec_add(c, opts, ka, 3000000000LL, true); /* a cold first call is no reload */
    callrec_add(c, opts, ka, 2000000, false);
    json_t *rec = json_object();
    callrec_annotate(c, rec);
    CHECK_JSON(rec, "{\"options\": {\"temperature\": 0.7, \"num_ctx\": 8192}, \"keep_alive\": \"30m\","
                    " \"load_duration_ms\": 3002, \"reload\": false}");
    CHECK_EQ_INT(callrec_reloads(c), 0);
    json_decref(rec);
    callrec_reset(c);
    callrec_add(c, NULL, NULL, 0, false);
    rec = json_object();
    callrec_annotate(c, rec);
    CHECK_JSON(rec, "{\"options\": {}, \"keep_alive\": null, \"load_duration_ms\": 0, \"reload\": false}");
    json_decref(rec);
    json_decref(opts);
    json_decref(ka);
    callrec_free(c);
}

TEST(callrec_differing_settings_per_call)
{
    struct callrec *c = callrec_new();
    json_t *o1 = load("{\"num_ctx\": 8192}"), *o2 = load("{\"num_ctx\": 8193}");
    callrec_add(c, o1, NULL, 0, true);
    callrec_add(c, o2, NULL, 0, false);
    json_t *rec = json_object();
    callrec_annotate(c, rec);
    CHECK_JSON(rec, "{\"call_settings\": [{\"options\": {\"num_ctx\": 8192}, \"keep_alive\": null},"
                    " {\"options\": {\"num_ctx\": 8193}, \"keep_alive\": null}], \"load_duration_ms\": 0, \"reload\": false}");
    json_decref(rec);
    json_decref(o1);
    json_decref(o2);
    callrec_free(c);
}

TEST(callrec_reload_threshold)
{
    struct callrec *c = callrec_new();
    long long at = (long long)CALLREC_RELOAD_MS * 1000000;
    callrec_add(c, NULL, NULL, at, false);     /* exactly the threshold: not above it */
    callrec_add(c, NULL, NULL, at + 1, false); /* above it, call 2 */
    callrec_add(c, NULL, NULL, 1000000, false);
    callrec_add(c, NULL, NULL, 2 * at, false); /* call 4 */
    CHECK_EQ_INT(callrec_reloads(c), 2);
    json_t *rec = json_object();
    callrec_annotate(c, rec);
    CHECK(json_is_true(json_object_get(rec, "reload")));
    CHECK_JSON(json_object_get(rec, "reload_calls"), "[{\"call\": 2, \"load_duration_ms\": 500}, {\"call\": 4, \"load_duration_ms\": 1000}]");
    json_decref(rec);
    callrec_free(c);
}

/* ---- result ---- */

TEST(result_counts_reloads_and_says_mixed)
{
    char err[ERR_LEN];
    const char spec[] = "{\"id\": \"A1\", \"model\": \"qwen3:8b\", \"turns\": [\"a\", \"b\"]}";
    struct job *j = job_from_text(spec, strlen(spec), err);
    REQUIRE_MSG(j != NULL, "%s", err);
    json_t *turns = load("[{\"turn\": 1, \"calls\": 2, \"actions\": [], \"reload_calls\": [{\"call\": 2, \"load_duration_ms\": 900}]},"
                         " {\"turn\": 2, \"calls\": 3, \"actions\": [], \"reload_calls\": [{\"call\": 1}, {\"call\": 3}]},"
                         " {\"turn\": 3, \"calls\": 1, \"actions\": []}]");
    struct result_in in = {.job = j, .status = "done", .machine = "gpu1", .turns = turns,
                           .mixed_digests = "[{\"machine\":\"gpu1\",\"digest\":\"aa\"}]"};
    json_t *res = result_build(&in);
    CHECK_EQ_INT(json_integer_value(json_object_get(res, "reloads")), 3);
    CHECK(json_is_true(json_object_get(res, "mixed_digests")));
    CHECK_JSON(json_object_get(res, "digests_seen"), "[{\"machine\":\"gpu1\",\"digest\":\"aa\"}]");
    json_decref(res);
    in.mixed_digests = NULL;
    res = result_build(&in);
    CHECK(json_is_false(json_object_get(res, "mixed_digests")));
    CHECK(json_object_get(res, "digests_seen") == NULL);
    json_decref(res);
    json_decref(turns);
    job_free(j);
}

UNIT_MAIN()
