/* test_job: the job model (common/job.h): validation of every field, the merge of defaults,
 * the canonical form, and the submission input formats with their error positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/unit.h"
#include "job.h"

static char err[ERR_LEN];

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, JSON_DECODE_ANY, &je);
    REQUIRE_MSG(o != NULL, "test JSON does not parse: %s: %s", je.text, text);
    return o;
}

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

TEST(tools_at_most_128)
{
    size_t cap = 200 * 100;
    char *text = malloc(cap), *p = text;
    p += sprintf(p, "{\"id\":\"a\",\"model\":\"m\",\"turns\":1,\"tools\":[");
    for (int i = 0; i < JOB_MAX_TOOLS + 1; i++)
        p += sprintf(p, "%s{\"type\":\"function\",\"function\":{\"name\":\"t%d\"}}", i ? "," : "", i);
    strcpy(p, "]}");
    BAD(text, "tools");
    /* 128 is fine: cut the last tool. */
    char *last = strrstr_last: NULL;
    (void)last;
    free(text);
}

UNIT_MAIN()
