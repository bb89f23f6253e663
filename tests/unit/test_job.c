/* test_job: the job model (common/job.h): validation of every field, the merge of defaults,
 * the canonical form, and the submission input formats with their error positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/unit.h"
#include "job.h"

static char err[ERR_LEN];

/* load(text): the shared parser of the unit framework (unit.h JSON_OF). */
#define load(text) JSON_OF(text)

/* Validates text as one job; the job must hold its own reference (we drop ours at once). */
static struct job *parse(const char *text)
{
    json_t *o = load(text);
    err[0] = '\0';
    struct job *j = job_from_json(o, err);
    json_decref(o);
    return j;
}

#define GOOD(text) good_(__FILE__, __LINE__, text)
static struct job *good_(const char *file, int line, const char *text)
{
    struct job *j = parse(text);
    unit_check(j != NULL, file, line, true, "refused: %s: %s", err, text);
    return j;
}

/* text is refused, and the message contains `field`. */
#define BAD(text, field) bad_(__FILE__, __LINE__, text, field)
static void bad_(const char *file, int line, const char *text, const char *field)
{
    struct job *j = parse(text);
    if (unit_check(j == NULL, file, line, false, "accepted: %s", text))
        unit_check(strstr(err, field) != NULL, file, line, false, "message does not name %s: \"%s\" for %s", field,
                   err, text);
    job_free(j);
}

#define OK_FIELD(extra) job_free(GOOD(BASE(extra)))
#define BASE(extra) "{\"id\":\"B3\",\"model\":\"qwen3:8b\",\"turns\":[\"Day 1\"]" extra "}"

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

/* ---- One job: the example of SPEC ---- */

static const char spec_example[] =
    "{\"id\": \"B3\", \"model\": \"qwen3:8b\", \"system\": \"You manage a small warehouse ...\","
    " \"turns\": [\"Day 1: orders arrived ...\", \"Day 2: ...\"], \"max_actions_per_turn\": 8,"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"restock\", \"description\": \"...\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"item\": {\"type\": \"string\"}},"
    " \"required\": [\"item\"]}}}],"
    " \"options\": {\"temperature\": 0.7, \"seed\": 42, \"num_ctx\": 8192}, \"keep_alive\": \"30m\","
    " \"history\": \"reset\", \"params\": {\"group\": \"B\", \"variant\": 3}, \"machine\": \"gpu2\"}";

TEST(spec_example_parses_into_every_field)
{
    struct job *j = GOOD(spec_example);
    CHECK_EQ_STR(j->id, "B3");
    CHECK(json_is_string(j->id_json));
    CHECK_EQ_STR(j->model, "qwen3:8b");
    CHECK_EQ_STR(j->system, "You manage a small warehouse ...");
    CHECK_EQ_INT(j->nturns, 2);
    REQUIRE(json_is_array(j->turn_prompts));
    CHECK_EQ_STR(json_string_value(json_array_get(j->turn_prompts, 1)), "Day 2: ...");
    CHECK_EQ_INT(j->max_actions, 8);
    CHECK_EQ_INT(j->history, JOB_HISTORY_RESET);
    CHECK(json_is_array(j->tools) && json_array_size(j->tools) == 1);
    CHECK_JSON(j->options, "{\"temperature\":0.7,\"seed\":42,\"num_ctx\":8192}");
    CHECK_JSON(j->keep_alive, "\"30m\"");
    CHECK_JSON(j->params, "{\"group\":\"B\",\"variant\":3}");
    CHECK_EQ_STR(j->machine, "gpu2");
    CHECK(j->spec != NULL && json_is_object(j->spec));
    job_free(j);
    job_free(NULL);
}

TEST(minimal_job_defaults)
{
    struct job *j = GOOD(BASE(""));
    CHECK_EQ_INT(j->max_actions, JOB_DEFAULT_ACTIONS);
    CHECK_EQ_INT(j->max_actions, 8);
    CHECK_EQ_INT(j->history, JOB_HISTORY_RESET);
    CHECK(j->system == NULL);
    CHECK(j->tools == NULL);
    CHECK(j->options == NULL);
    CHECK(j->keep_alive == NULL);
    CHECK(j->params == NULL);
    CHECK(j->machine == NULL);
    CHECK_EQ_INT(j->nturns, 1);
    job_free(j);
}

TEST(not_an_object)
{
    BAD("[1,2]", "");
    BAD("\"B3\"", "");
    BAD("42", "");
}

/* ---- id ---- */

TEST(id_string_and_pattern)
{
    job_free(GOOD("{\"id\":\"a.b_c:d-E9\",\"model\":\"m\",\"turns\":1}"));
    BAD("{\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":\"\",\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":\"a b\",\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":\"a/b\",\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":\"a*\",\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":\"caf\xc3\xa9\",\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":null,\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":true,\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":1.5,\"model\":\"m\",\"turns\":1}", "id");
    BAD("{\"id\":[\"a\"],\"model\":\"m\",\"turns\":1}", "id");
    CHECK(job_id_valid("B3"));
    CHECK(job_id_valid("x:1.2-3_4"));
    CHECK(!job_id_valid(""));
    CHECK(!job_id_valid("a\nb"));
}

TEST(id_length_128_ok_129_refused)
{
    char id[JOB_ID_MAX + 2], text[512];
    memset(id, 'a', sizeof id);
    id[128] = '\0';
    snprintf(text, sizeof text, "{\"id\":\"%s\",\"model\":\"m\",\"turns\":1}", id);
    struct job *j = GOOD(text);
    CHECK_EQ_STR(j->id, id);
    job_free(j);
    CHECK(job_id_valid(id));
    id[128] = 'a';
    id[129] = '\0';
    snprintf(text, sizeof text, "{\"id\":\"%s\",\"model\":\"m\",\"turns\":1}", id);
    BAD(text, "id");
    CHECK(!job_id_valid(id));
}

TEST(id_integer_keeps_its_type)
{
    struct job *j = GOOD("{\"id\":42,\"model\":\"m\",\"turns\":1}");
    CHECK_EQ_STR(j->id, "42");
    CHECK(json_is_integer(j->id_json));
    CHECK_EQ_INT(json_integer_value(j->id_json), 42);
    char *c = job_canonical(j);
    CHECK_CONTAINS(c, "\"id\":42");
    free(c);
    job_free(j);

    /* The string "42" is another spec. */
    struct job *a = GOOD("{\"id\":42,\"model\":\"m\",\"turns\":1}");
    struct job *b = GOOD("{\"id\":\"42\",\"model\":\"m\",\"turns\":1}");
    CHECK_EQ_STR(b->id, "42");
    CHECK(json_is_string(b->id_json));
    char *ca = job_canonical(a), *cb = job_canonical(b);
    CHECK(ca && cb && strcmp(ca, cb) != 0);
    free(ca);
    free(cb);
    job_free(a);
    job_free(b);
}

/* ---- model, system ---- */

TEST(model_required_string)
{
    BAD("{\"id\":\"a\",\"turns\":1}", "model");
    BAD("{\"id\":\"a\",\"model\":\"\",\"turns\":1}", "model");
    BAD("{\"id\":\"a\",\"model\":7,\"turns\":1}", "model");
    BAD("{\"id\":\"a\",\"model\":null,\"turns\":1}", "model");
    BAD(BASE(",\"system\":5"), "system");
    BAD(BASE(",\"system\":[\"a\"]"), "system");
}

/* ---- turns ---- */

TEST(turns_list_or_count)
{
    struct job *j = GOOD("{\"id\":\"a\",\"model\":\"m\",\"turns\":[\"one\",\"two\",\"three\"]}");
    CHECK_EQ_INT(j->nturns, 3);
    CHECK(json_is_array(j->turn_prompts));
    job_free(j);
    j = GOOD("{\"id\":\"a\",\"model\":\"m\",\"turns\":5}");
    CHECK_EQ_INT(j->nturns, 5);
    CHECK(j->turn_prompts == NULL);
    job_free(j);
    j = GOOD("{\"id\":\"a\",\"model\":\"m\",\"turns\":1}");
    CHECK_EQ_INT(j->nturns, 1);
    job_free(j);
    j = GOOD("{\"id\":\"a\",\"model\":\"m\",\"turns\":10000}");
    CHECK_EQ_INT(j->nturns, JOB_MAX_TURNS);
    job_free(j);

    BAD("{\"id\":\"a\",\"model\":\"m\"}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":[]}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":0}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":-1}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":10001}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":2.5}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":\"3\"}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":[\"a\",1]}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":[1,2]}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":[\"a\",null]}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":[[\"a\"]]}", "turns");
    BAD("{\"id\":\"a\",\"model\":\"m\",\"turns\":{\"1\":\"a\"}}", "turns");
}

/* ---- max_actions_per_turn ---- */

TEST(max_actions_per_turn)
{
    struct job *j = GOOD(BASE(",\"max_actions_per_turn\":1"));
    CHECK_EQ_INT(j->max_actions, 1);
    job_free(j);
    j = GOOD(BASE(",\"max_actions_per_turn\":64"));
    CHECK_EQ_INT(j->max_actions, 64);
    job_free(j);
    j = GOOD(BASE(",\"max_actions_per_turn\":8"));
    CHECK_EQ_INT(j->max_actions, 8);
    job_free(j);
    BAD(BASE(",\"max_actions_per_turn\":0"), "max_actions_per_turn");
    BAD(BASE(",\"max_actions_per_turn\":65"), "max_actions_per_turn");
    BAD(BASE(",\"max_actions_per_turn\":-1"), "max_actions_per_turn");
    BAD(BASE(",\"max_actions_per_turn\":\"8\""), "max_actions_per_turn");
    BAD(BASE(",\"max_actions_per_turn\":8.5"), "max_actions_per_turn");
    BAD(BASE(",\"max_actions_per_turn\":true"), "max_actions_per_turn");
    BAD(BASE(",\"max_actions_per_turn\":4294967304"), "max_actions_per_turn"); /* 2^32 + 8 */
}

/* ---- history ---- */

TEST(history)
{
    struct job *j = GOOD(BASE(",\"history\":\"reset\""));
    CHECK_EQ_INT(j->history, JOB_HISTORY_RESET);
    job_free(j);
    j = GOOD(BASE(",\"history\":\"carry\""));
    CHECK_EQ_INT(j->history, JOB_HISTORY_CARRY);
    job_free(j);
    BAD(BASE(",\"history\":\"other\""), "history");
    BAD(BASE(",\"history\":\"\""), "history");
    BAD(BASE(",\"history\":\"Reset\""), "history");
    BAD(BASE(",\"history\":1"), "history");
}

/* ---- tools ---- */

#define TOOL(name) "{\"type\":\"function\",\"function\":{\"name\":\"" name "\",\"parameters\":{\"type\":\"object\"}}}"

TEST(tools_shape)
{
    struct job *j = GOOD(BASE(",\"tools\":[]"));
    CHECK(json_is_array(j->tools));
    CHECK_EQ_INT(json_array_size(j->tools), 0);
    job_free(j);
    j = GOOD(BASE(",\"tools\":[" TOOL("restock") "," TOOL("sell") "]"));
    CHECK_EQ_INT(json_array_size(j->tools), 2);
    job_free(j);

    BAD(BASE(",\"tools\":{}"), "tools");
    BAD(BASE(",\"tools\":\"restock\""), "tools");
    BAD(BASE(",\"tools\":[\"restock\"]"), "tools");
    BAD(BASE(",\"tools\":[{\"type\":\"function\"}]"), "tools");
    BAD(BASE(",\"tools\":[{\"type\":\"retrieval\",\"function\":{\"name\":\"x\"}}]"), "tools");
    BAD(BASE(",\"tools\":[{\"type\":\"function\",\"function\":{}}]"), "tools");
    BAD(BASE(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"\"}}]"), "tools");
    BAD(BASE(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":5}}]"), "tools");
    BAD(BASE(",\"tools\":[{\"type\":\"function\",\"function\":\"restock\"}]"), "tools");
}

TEST(tools_names_unique)
{
    BAD(BASE(",\"tools\":[" TOOL("restock") "," TOOL("sell") "," TOOL("restock") "]"), "tools");
    BAD(BASE(",\"tools\":[" TOOL("restock") "," TOOL("sell") "," TOOL("restock") "]"), "restock");
}

static char *job_with_tools(int n)
{
    char *text = malloc(100 + 64 * (size_t)n), *p = text;
    p += sprintf(p, "{\"id\":\"a\",\"model\":\"m\",\"turns\":1,\"tools\":[");
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s{\"type\":\"function\",\"function\":{\"name\":\"t%d\"}}", i ? "," : "", i);
    strcpy(p, "]}");
    return text;
}

TEST(tools_at_most_128)
{
    char *text = job_with_tools(JOB_MAX_TOOLS);
    job_free(GOOD(text));
    free(text);
    text = job_with_tools(JOB_MAX_TOOLS + 1);
    BAD(text, "tools");
    free(text);
}

/* ---- options, keep_alive, params, machine ---- */

TEST(options_object)
{
    OK_FIELD(",\"options\":{}");
    OK_FIELD(",\"options\":{\"temperature\":0.7,\"num_ctx\":8192,\"stop\":[\"x\"]}");
    BAD(BASE(",\"options\":[]"), "options");
    BAD(BASE(",\"options\":\"temperature=0.7\""), "options");
    BAD(BASE(",\"options\":1"), "options");
}

/* Ollama ignores an option it does not know (a typo runs at the default) and answers 500 to one
 * of the wrong type: both are refused at submission. */
TEST(options_names_and_types)
{
    OK_FIELD(",\"options\":{\"num_ctx\":8192.0,\"seed\":-1,\"top_p\":1,\"use_mmap\":false,\"mirostat\":2}");
    BAD(BASE(",\"options\":{\"temprature\":0.3}"), "options.temprature");
    BAD(BASE(",\"options\":{\"temprature\":0.3}"), "did you mean temperature?");
    BAD(BASE(",\"options\":{\"tempreature\":0.3}"), "did you mean temperature?");
    BAD(BASE(",\"options\":{\"num_context\":8192}"), "options.num_context: not an option Ollama knows");
    BAD(BASE(",\"options\":{\"num_ctx\":\"8192\"}"), "options.num_ctx: must be an integer");
    BAD(BASE(",\"options\":{\"num_ctx\":8192.5}"), "options.num_ctx: must be an integer");
    BAD(BASE(",\"options\":{\"temperature\":\"hot\"}"), "options.temperature: must be a number");
    BAD(BASE(",\"options\":{\"use_mmap\":1}"), "options.use_mmap: must be true or false");
    BAD(BASE(",\"options\":{\"stop\":\"\\n\"}"), "options.stop: must be an array of strings");
    BAD(BASE(",\"options\":{\"stop\":[1]}"), "options.stop");
}

TEST(keep_alive_number_or_go_duration)
{
    static const char *good[] = {"\"30m\"", "\"1h30m\"", "\"0\"", "\"-1m\"", "\"1.5h\"", "\"300s\"", "\"500ms\"",
                                 "300", "-1", "0", "1.5", "1800"};
    static const char *bad[] = {"\"300\"", "\"-1\"", "\"5 m\"", "\"\"", "\"30 m\"", "\"m\"", "\"1d\"",
                                "true", "[]", "{}"};
    char text[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(text, sizeof text, BASE(",\"keep_alive\":%s"), good[i]);
        struct job *j = parse(text);
        CHECK_MSG(j != NULL, "keep_alive %s refused: %s", good[i], err);
        if (j)
            CHECK(json_is_number(j->keep_alive) || json_is_string(j->keep_alive));
        job_free(j);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, BASE(",\"keep_alive\":%s"), bad[i]);
        BAD(text, "keep_alive");
    }
}

TEST(duration_valid_is_go_parse_duration)
{
    static const char *good[] = {"30m", "1h30m", "0", "-1m", "1.5h", "+5m", "-0", "1ns", "1us", "1\xc2\xb5s",
                                 "1\xce\xbcs", "2h45m30.5s", ".5s", "5.s", "10ms", "1h0m0s", "0s"};
    static const char *bad[] = {"300", "-1", "5 m", "", "m", "1x", "1h 30m", "-", "+", ".s", "1h30", "h1",
                                "1d", "00", " 5m", "5m ", "1.2.3s", "--1m", "1M", "1H"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_MSG(job_duration_valid(good[i]), "'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(!job_duration_valid(bad[i]), "'%s' accepted", bad[i]);
}

TEST(params_object)
{
    OK_FIELD(",\"params\":{}");
    OK_FIELD(",\"params\":{\"group\":\"B\",\"variant\":3,\"nested\":{\"a\":[1,2]}}");
    BAD(BASE(",\"params\":[1]"), "params");
    BAD(BASE(",\"params\":\"B\""), "params");
}

TEST(machine_pattern)
{
    char m[JOB_MACHINE_MAX + 2], text[256];
    OK_FIELD(",\"machine\":\"gpu2\"");
    OK_FIELD(",\"machine\":\"box-1.lab_a\"");
    BAD(BASE(",\"machine\":\"gpu 2\""), "machine");
    BAD(BASE(",\"machine\":\"gpu:2\""), "machine"); /* ':' is allowed in ids, not machines */
    BAD(BASE(",\"machine\":\"\""), "machine");
    BAD(BASE(",\"machine\":2"), "machine");
    memset(m, 'g', sizeof m);
    m[64] = '\0';
    snprintf(text, sizeof text, BASE(",\"machine\":\"%s\""), m);
    job_free(GOOD(text));
    CHECK(job_machine_valid(m));
    m[64] = 'g';
    m[65] = '\0';
    snprintf(text, sizeof text, BASE(",\"machine\":\"%s\""), m);
    BAD(text, "machine");
    CHECK(!job_machine_valid(m));
    CHECK(job_machine_valid("gpu1"));
    CHECK(!job_machine_valid("gpu:1"));
}

/* "resume" is an addition of job.h beyond SPEC "The job". */
TEST(resume_continue_or_restart)
{
    struct job *j = GOOD(BASE(",\"resume\":\"restart\""));
    CHECK(j->resume_restart);
    job_free(j);
    j = GOOD(BASE(",\"resume\":\"continue\""));
    CHECK(!j->resume_restart);
    job_free(j);
    j = GOOD(BASE(""));
    CHECK(!j->resume_restart);
    job_free(j);
    BAD(BASE(",\"resume\":\"again\""), "resume");
    BAD(BASE(",\"resume\":true"), "resume");
}

TEST(unknown_field_refused_with_its_name)
{
    BAD(BASE(",\"maxActionsPerTurn\":8"), "maxActionsPerTurn");
    BAD(BASE(",\"temperature\":0.7"), "temperature");
    BAD(BASE(",\"sytem\":\"x\""), "sytem: unknown field; did you mean system?");
    BAD(BASE(",\"histroy\":\"carry\""), "did you mean history?");
}

TEST(spec_of_1_mib_refused)
{
    size_t big = JOB_MAX_BYTES;
    char *text = malloc(big + 200);
    int n = sprintf(text, "{\"id\":\"a\",\"model\":\"m\",\"turns\":1,\"system\":\"");
    memset(text + n, 'x', big);
    strcpy(text + n + big, "\"}");
    BAD(text, "");
    /* Just under the limit is fine. */
    n = sprintf(text, "{\"id\":\"a\",\"model\":\"m\",\"turns\":1,\"system\":\"");
    memset(text + n, 'x', big - 1000);
    strcpy(text + n + big - 1000, "\"}");
    job_free(GOOD(text));
    free(text);
}

TEST(from_text)
{
    struct job *j = job_from_text(spec_example, strlen(spec_example), err);
    REQUIRE_MSG(j != NULL, "refused: %s", err);
    CHECK_EQ_STR(j->id, "B3");
    job_free(j);
    /* The length counts: what follows is not read. */
    const char *t = "{\"id\":\"a\",\"model\":\"m\",\"turns\":1}garbage";
    j = job_from_text(t, strlen(t) - 7, err);
    CHECK_MSG(j != NULL, "refused: %s", err);
    job_free(j);
    err[0] = '\0';
    CHECK(job_from_text("{\"id\":", 6, err) == NULL);
    CHECK(err[0] != '\0');
    err[0] = '\0';
    t = "{\"id\":\"a\",\"model\":\"m\",\"turns\":0}";
    CHECK(job_from_text(t, strlen(t), err) == NULL);
    CHECK_CONTAINS(err, "turns");
}

/* ---- canonical form ---- */

TEST(canonical_same_content_same_text)
{
    struct job *a = GOOD("{\"id\":\"B3\",\"model\":\"m\",\"turns\":[\"a\",\"b\"],\"options\":{\"seed\":1,\"temperature\":0.7}}");
    struct job *b = GOOD("{ \"options\" : { \"temperature\" : 0.7 , \"seed\" : 1 } ,\n\t\"turns\": [\"a\", \"b\"],"
                         " \"model\": \"m\", \"id\": \"B3\" }");
    /* 0.69999999999999996 is the same double as 0.7 (SPEC: equal as JSON values). */
    struct job *c = GOOD("{\"id\":\"B3\",\"model\":\"m\",\"turns\":[\"a\",\"b\"],"
                         "\"options\":{\"seed\":1,\"temperature\":0.69999999999999996}}");
    char *ca = job_canonical(a), *cb = job_canonical(b), *cc = job_canonical(c);
    REQUIRE(ca && cb && cc);
    CHECK_EQ_STR(ca, cb);
    CHECK_EQ_STR(ca, cc);
    CHECK(strchr(ca, ' ') == NULL && strchr(ca, '\n') == NULL); /* compact */
    CHECK(strstr(ca, "\"id\"") < strstr(ca, "\"model\"") && strstr(ca, "\"model\"") < strstr(ca, "\"options\""));
    /* Canonical text parses back to the same value. */
    json_t *back = load(ca);
    CHECK(json_equal(back, a->spec));
    json_decref(back);
    free(ca), free(cb), free(cc);
    job_free(a), job_free(b), job_free(c);
}

TEST(canonical_differs_for_different_values)
{
    static const char *variants[] = {
        "{\"id\":\"B3\",\"model\":\"m\",\"turns\":[\"a\",\"b\"],\"options\":{\"seed\":1}}",
        "{\"id\":\"B3\",\"model\":\"m\",\"turns\":[\"a\",\"b\"],\"options\":{\"seed\":2}}",
        "{\"id\":\"B3\",\"model\":\"m\",\"turns\":[\"b\",\"a\"],\"options\":{\"seed\":1}}",
        "{\"id\":\"B3\",\"model\":\"m2\",\"turns\":[\"a\",\"b\"],\"options\":{\"seed\":1}}",
        "{\"id\":\"B4\",\"model\":\"m\",\"turns\":[\"a\",\"b\"],\"options\":{\"seed\":1}}",
        "{\"id\":\"B3\",\"model\":\"m\",\"turns\":[\"a\",\"b\"],\"options\":{\"seed\":1},\"history\":\"carry\"}",
    };
    char *c[6];
    for (int i = 0; i < 6; i++) {
        struct job *j = GOOD(variants[i]);
        c[i] = job_canonical(j);
        job_free(j);
    }
    for (int i = 0; i < 6; i++)
        for (int k = i + 1; k < 6; k++)
            CHECK_MSG(c[i] && c[k] && strcmp(c[i], c[k]) != 0, "variants %d and %d have one canonical text", i, k);
    for (int i = 0; i < 6; i++)
        free(c[i]);
}

/* ---- merge ---- */

TEST(merge_options_and_params_key_by_key)
{
    json_t *d = load("{\"model\":\"qwen3:8b\",\"turns\":[\"x\"],\"system\":\"S\","
                     "\"options\":{\"temperature\":0.7,\"seed\":1},\"params\":{\"group\":\"A\",\"x\":1},"
                     "\"tools\":[" TOOL("a") "]}");
    json_t *e = load("{\"id\":\"e1\",\"turns\":3,\"options\":{\"seed\":2},\"params\":{\"variant\":3},"
                     "\"tools\":[" TOOL("b") "]}");
    char *d0 = dump(d), *e0 = dump(e);
    json_t *m = job_merge(d, e);
    CHECK_JSON(m, "{\"id\":\"e1\",\"model\":\"qwen3:8b\",\"turns\":3,\"system\":\"S\","
                  "\"options\":{\"temperature\":0.7,\"seed\":2},\"params\":{\"group\":\"A\",\"x\":1,\"variant\":3},"
                  "\"tools\":[" TOOL("b") "]}");
    char *d1 = dump(d), *e1 = dump(e);
    CHECK_EQ_STR(d1, d0);
    CHECK_EQ_STR(e1, e0);
    /* A second merge over the same defaults sees them unchanged. */
    json_t *e2 = load("{\"id\":\"e2\"}");
    json_t *m2 = job_merge(d, e2);
    CHECK_JSON(m2, "{\"id\":\"e2\",\"model\":\"qwen3:8b\",\"turns\":[\"x\"],\"system\":\"S\","
                   "\"options\":{\"temperature\":0.7,\"seed\":1},\"params\":{\"group\":\"A\",\"x\":1},"
                   "\"tools\":[" TOOL("a") "]}");
    free(d0), free(e0), free(d1), free(e1);
    json_decref(m), json_decref(m2), json_decref(d), json_decref(e), json_decref(e2);
}

/* Beyond the header's words: a merged result shares no object with its inputs, so changing
 * one job's spec cannot change another's. */
TEST(merge_result_shares_no_object_with_inputs)
{
    json_t *d = load("{\"model\":\"m\",\"options\":{\"seed\":1},\"params\":{\"g\":1}}");
    json_t *e = load("{\"id\":\"a\",\"params\":{\"v\":1}}");
    char *d0 = dump(d), *e0 = dump(e);
    json_t *m = job_merge(d, e);
    json_object_set_new(json_object_get(m, "options"), "num_ctx", json_integer(4096));
    json_object_set_new(json_object_get(m, "params"), "y", json_integer(1));
    char *d1 = dump(d), *e1 = dump(e);
    CHECK_EQ_STR(d1, d0);
    CHECK_EQ_STR(e1, e0);
    free(d0), free(e0), free(d1), free(e1);
    json_decref(m), json_decref(d), json_decref(e);
}

TEST(merge_one_side_only)
{
    json_t *d = load("{\"model\":\"m\"}");
    json_t *e = load("{\"id\":\"a\",\"options\":{\"seed\":1}}");
    json_t *m = job_merge(d, e);
    CHECK_JSON(m, "{\"model\":\"m\",\"id\":\"a\",\"options\":{\"seed\":1}}");
    json_decref(m);
    json_t *d2 = load("{\"model\":\"m\",\"params\":{\"g\":1}}");
    json_t *e2 = load("{\"id\":\"a\",\"model\":\"other\"}");
    m = job_merge(d2, e2);
    CHECK_JSON(m, "{\"model\":\"other\",\"id\":\"a\",\"params\":{\"g\":1}}");
    json_decref(m);
    json_decref(d), json_decref(e), json_decref(d2), json_decref(e2);
}

/* ---- submission input ---- */

static struct job_list list;

static int add(const char *text, const char *source)
{
    err[0] = '\0';
    return job_list_add_input(&list, text, strlen(text), source, err);
}

#define J(id, extra) "{\"id\":\"" id "\",\"model\":\"m\",\"turns\":[\"t\"]" extra "}"

static void check_ids_(const char *file, int line, const char *want)
{
    char got[1024] = "";
    for (size_t i = 0; i < list.n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "", list.v[i]->id);
    unit_check(strcmp(got, want) == 0, file, line, false, "list ids \"%s\", want \"%s\"", got, want);
}
#define CHECK_IDS(want) check_ids_(__FILE__, __LINE__, want)

TEST(input_single_object)
{
    CHECK_EQ_INT(add(J("a", ""), "f.json"), 0);
    CHECK_IDS("a");
    CHECK_EQ_INT(add("\n  " J("b", "") "  \n", "f.json"), 0);
    CHECK_IDS("a,b");
    /* Pretty-printed over several lines: one object, not JSON Lines. */
    CHECK_EQ_INT(add("{\n  \"id\": \"c\",\n  \"model\": \"m\",\n  \"turns\": 2\n}\n", "f.json"), 0);
    CHECK_IDS("a,b,c");
    job_list_clear(&list);
    CHECK_EQ_INT(list.n, 0);
}

TEST(input_array)
{
    CHECK_EQ_INT(add("[" J("a", "") "," J("b", "") ",\n" J("c", "") "]", "f.json"), 0);
    CHECK_IDS("a,b,c");
    CHECK_EQ_INT(add("[\n  {\"id\": \"d\",\n   \"model\": \"m\", \"turns\": 1},\n  {\"id\": 7, \"model\": \"m\", \"turns\": 1}\n]\n",
                     "f.json"),
                 0);
    CHECK_IDS("a,b,c,d,7");
    job_list_clear(&list);
}

TEST(input_json_lines)
{
    CHECK_EQ_INT(add(J("a", "") "\n\n" J("b", "") "\r\n   \n" J("c", "") "\n", "f.jsonl"), 0);
    CHECK_IDS("a,b,c");
    CHECK_EQ_INT(add(J("d", "") "\n" J("e", ""), "f.jsonl"), 0); /* no final newline */
    CHECK_IDS("a,b,c,d,e");
    job_list_clear(&list);
}

TEST(input_defaults_and_experiments)
{
    const char *in = "{\"defaults\": {\"model\": \"qwen3:8b\", \"turns\": [\"t\"], \"max_actions_per_turn\": 4,"
                     " \"options\": {\"temperature\": 0.7, \"seed\": 1}, \"params\": {\"group\": \"A\"}},"
                     " \"experiments\": [{\"id\": \"A1\", \"options\": {\"seed\": 2}, \"params\": {\"v\": 1}},"
                     " {\"id\": \"A2\", \"model\": \"llama3.2\", \"turns\": 2}]}";
    REQUIRE_MSG(add(in, "sweep.json") == 0, "refused: %s", err);
    CHECK_IDS("A1,A2");
    REQUIRE_EQ_INT(list.n, 2);
    struct job *a1 = list.v[0], *a2 = list.v[1];
    CHECK_EQ_STR(a1->model, "qwen3:8b");
    CHECK_EQ_INT(a1->max_actions, 4);
    CHECK_JSON(a1->options, "{\"temperature\":0.7,\"seed\":2}");
    CHECK_JSON(a1->params, "{\"group\":\"A\",\"v\":1}");
    CHECK_EQ_STR(a2->model, "llama3.2");
    CHECK_EQ_INT(a2->nturns, 2);
    CHECK_JSON(a2->options, "{\"temperature\":0.7,\"seed\":1}");
    job_list_clear(&list);
}

TEST(input_bad_job_reports_experiment_and_id)
{
    CHECK_EQ_INT(add(J("keep", ""), "first.json"), 0);
    CHECK_EQ_INT(add("[" J("B1", "") "," J("B2", ",\"max_actions_per_turn\":0") "," J("B3", "") "]", "sweep.json"), -1);
    CHECK_CONTAINS(err, "sweep.json: experiment 2 (id B2): ");
    CHECK_CONTAINS(err, "max_actions_per_turn");
    CHECK_IDS("keep");

    CHECK_EQ_INT(add(J("L1", "") "\n" J("L2", "") "\n" J("L3", ",\"history\":\"other\"") "\n", "f.jsonl"), -1);
    /* The header's form is "SOURCE: experiment K (id X): reason"; "SOURCE:LINE: ..." for JSON Lines
     * says more and is accepted too. */
    CHECK_MSG(strncmp(err, "f.jsonl: experiment 3 (id L3): ", 31) == 0 ||
                  strncmp(err, "f.jsonl:3: experiment 3 (id L3): ", 33) == 0,
              "\"%s\"", err);
    CHECK_CONTAINS(err, "history");
    CHECK_IDS("keep");

    CHECK_EQ_INT(add(J("S1", ",\"bogus\":1"), "-"), -1);
    CHECK_CONTAINS(err, "-: experiment 1 (id S1): ");
    CHECK_CONTAINS(err, "bogus");

    const char *in = "{\"defaults\": {\"model\": \"m\", \"turns\": 1},"
                     " \"experiments\": [{\"id\": \"D1\"}, {\"id\": \"D2\", \"turns\": 0}]}";
    CHECK_EQ_INT(add(in, "d.json"), -1);
    CHECK_CONTAINS(err, "d.json: experiment 2 (id D2): ");
    CHECK_CONTAINS(err, "turns");
    CHECK_IDS("keep");

    CHECK_EQ_INT(add("[{\"id\": 42, \"model\": \"m\"}]", "n.json"), -1);
    CHECK_CONTAINS(err, "n.json: experiment 1 (id 42): ");
    CHECK_IDS("keep");
    job_list_clear(&list);
}

TEST(input_bad_json_reports_line_and_column)
{
    CHECK_EQ_INT(add("{\n  \"id\": \"a\",\n  \"model\": ,\n  \"turns\": 1\n}\n", "p.json"), -1);
    CHECK_CONTAINS(err, "p.json:3:");
    CHECK_MSG(strncmp(err, "p.json:3:", 9) == 0 && err[9] >= '0' && err[9] <= '9', "not SOURCE:LINE:COL: \"%s\"",
              err);

    CHECK_EQ_INT(add(J("a", "") "\n" J("b", "") "\n{\"id\": \"c\", \"model\": }\n", "f.jsonl"), -1);
    CHECK_MSG(strncmp(err, "f.jsonl:3:", 10) == 0 && err[10] >= '0' && err[10] <= '9',
              "not SOURCE:LINE:COL: \"%s\"", err);
    CHECK_EQ_INT(list.n, 0);

    CHECK_EQ_INT(add("[" J("a", "") ",\n" J("b", "") ",\n]", "arr.json"), -1);
    CHECK_CONTAINS(err, "arr.json:3:");

    CHECK_EQ_INT(add("", "empty.json"), -1);
    CHECK_CONTAINS(err, "empty.json");
    CHECK_EQ_INT(add("42", "num.json"), -1);
    CHECK_CONTAINS(err, "num.json");
    CHECK_EQ_INT(add("{\"defaults\": {}, \"experiments\": 3}", "d.json"), -1);
    CHECK_CONTAINS(err, "experiments");
    CHECK_EQ_INT(list.n, 0);
}

TEST(input_identical_job_added_once)
{
    CHECK_EQ_INT(add("[" J("a", "") "," J("b", "") "," J("a", "") "]", "f.json"), 0);
    CHECK_IDS("a,b");
    /* Again in another input, and with other key order and spacing: the same spec. */
    CHECK_EQ_INT(add("{ \"turns\": [\"t\"], \"model\": \"m\", \"id\": \"a\" }", "g.json"), 0);
    CHECK_IDS("a,b");
    job_list_clear(&list);
}

/* A key given twice in one object: JSON leaves it open which one counts (jansson keeps the last,
 * other readers the first), so the input is refused, naming where. */
TEST(input_duplicate_keys_refused)
{
    CHECK_EQ_INT(add("{\"id\": \"d\", \"model\": \"m\", \"model\": \"n\", \"turns\": 1}", "d.json"), -1);
    CHECK_CONTAINS(err, "d.json:1:");
    CHECK_CONTAINS(err, "duplicate object key");
    CHECK_EQ_INT(add(J("a", "") "\n" "{\"id\": \"b\", \"model\": \"m\", \"turns\": 1, \"turns\": 2}\n", "l.jsonl"),
                 -1);
    CHECK_CONTAINS(err, "l.jsonl:2:");
    CHECK_EQ_INT(list.n, 0);
}

TEST(input_same_id_other_spec_refused)
{
    CHECK_EQ_INT(add("[" J("a", "") "," J("a", ",\"history\":\"carry\"") "]", "f.json"), -1);
    CHECK_CONTAINS(err, "f.json");
    CHECK_CONTAINS(err, "a");
    CHECK_EQ_INT(list.n, 0);

    CHECK_EQ_INT(add("[" J("a", "") "," J("b", "") "]", "one.json"), 0);
    struct job *first = list.v[0];
    CHECK_EQ_INT(add("[" J("c", "") "," J("a", ",\"turns\":[\"other\"]") "]", "two.json"), -1);
    CHECK_CONTAINS(err, "two.json");
    CHECK_IDS("a,b"); /* c is not added either */
    CHECK(list.v[0] == first);
    CHECK_EQ_STR(list.v[0]->id, "a");

    /* The integer 42 and the string "42" are one id (one Redis key) with two specs. */
    CHECK_EQ_INT(add("{\"id\": 42, \"model\": \"m\", \"turns\": 1}", "n.json"), 0);
    CHECK_EQ_INT(add("{\"id\": \"42\", \"model\": \"m\", \"turns\": 1}", "s.json"), -1);
    CHECK_IDS("a,b,42");
    job_list_clear(&list);
}

TEST(input_size_limit_is_per_job)
{
    size_t big = JOB_MAX_BYTES + 10;
    char *text = malloc(big + 200);
    int n = sprintf(text, "{\"id\":\"huge\",\"model\":\"m\",\"turns\":1,\"system\":\"");
    memset(text + n, 'x', big);
    strcpy(text + n + big, "\"}");
    CHECK_EQ_INT(add(text, "big.json"), -1);
    CHECK_CONTAINS(err, "big.json: experiment 1 (id huge): ");
    free(text);
    CHECK_EQ_INT(list.n, 0);

    /* 3000 jobs of about 1 KB: an input of 3 MB, each job well under the limit. */
    text = malloc(3000 * 1200 + 16);
    char *p = text;
    char pad[1001];
    memset(pad, 'y', 1000);
    pad[1000] = '\0';
    for (int i = 0; i < 3000; i++)
        p += sprintf(p, "{\"id\":\"j%d\",\"model\":\"m\",\"turns\":1,\"system\":\"%s\"}\n", i, pad);
    CHECK_MSG(add(text, "many.jsonl") == 0, "refused: %s", err);
    CHECK_EQ_INT(list.n, 3000);
    free(text);
    job_list_clear(&list);
}

UNIT_MAIN()
