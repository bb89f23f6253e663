/* test_grid: parameter grids (common/grid.h) and the numbers they print (common/numfmt.h):
 * expansion order, ids from templates in the file's spelling, default ids (slug + hash, stable
 * and independent of spelling and field order), every refusal with the field it names, and the
 * grid format as one more input of job_list_add_input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/unit.h"
#include "grid.h"
#include "job.h"
#include "numfmt.h"

static char err[ERR_LEN];

/* ---- numfmt ---- */

static const char *real(double x)
{
    static char buf[NUMFMT_LEN];
    return numfmt_real(x, buf);
}

TEST(numfmt_shortest_round_trip)
{
    CHECK_EQ_STR(real(0.2), "0.2");
    CHECK_EQ_STR(real(0.7), "0.7");
    CHECK_EQ_STR(real(1e-3), "0.001");
    CHECK_EQ_STR(real(1.0), "1.0");
    CHECK_EQ_STR(real(100), "100.0");
    CHECK_EQ_STR(real(0.1 + 0.2), "0.30000000000000004");
    CHECK_EQ_STR(real(-0.5), "-0.5");
    CHECK_EQ_STR(real(1e-5), "1e-05");
    CHECK_EQ_STR(real(0.0001), "0.0001");
    CHECK_EQ_STR(real(1e16), "1e+16");
    CHECK_EQ_STR(real(123456789012345.6), "123456789012345.6");
    CHECK_EQ_STR(real(1.5e300), "1.5e+300");
    CHECK_EQ_STR(real(5e-324), "5e-324");
    CHECK_EQ_STR(real(0.0), "0.0");
    CHECK_EQ_STR(real(-0.0), "-0.0");
    CHECK_EQ_STR(real(1.7976931348623157e308), "1.7976931348623157e+308");
    /* every shortest text reads back as the same double */
    double xs[] = {0.1, 2.0 / 3.0, 1e22, 123.456, 9007199254740993.0, 3.14159e-10};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        CHECK_MSG(strtod(real(xs[i]), NULL) == xs[i], "%s does not read back as %.17g", real(xs[i]), xs[i]);
}

TEST(numfmt_dumps_sorted_and_short)
{
    json_t *v = json_loads("{\"b\":[0.2,1,true,null,\"x\\\"y\"],\"a\":{\"z\":1.0,\"y\":0.7}}", 0, NULL);
    REQUIRE(v != NULL);
    char *s = numfmt_dumps(v);
    CHECK_EQ_STR(s, "{\"a\":{\"y\":0.7,\"z\":1.0},\"b\":[0.2,1,true,null,\"x\\\"y\"]}");
    free(s);
    json_decref(v);
}

/* ---- Expansion through job_list_add_input ---- */

/* The fields of a {field: value} object in its order, space-separated. */
static const char *grid_field_order(const json_t *set)
{
    static char out[1024];
    size_t n = 0;
    const char *k;
    json_t *v;
    out[0] = '\0';
    json_object_foreach((json_t *)set, k, v)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? " " : "", k);
    return out;
}

#define BASE "\"base\": {\"model\": \"qwen3:8b\", \"turns\": [\"hi\"], \"options\": {\"seed\": 1}}"

static int add(struct job_list *l, const char *text)
{
    err[0] = '\0';
    return job_list_add_input(l, text, strlen(text), "g.json", err);
}

/* The ids of the list, space-separated. */
static char *ids(const struct job_list *l)
{
    static char out[8192];
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n && n < sizeof out - 200; i++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? " " : "", l->v[i]->id);
    return out;
}

TEST(grid_order_first_field_outermost)
{
    struct job_list l = {0};
    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"options.temperature\": [0.2, 0.7], \"params.variant\": [1, 2, 3]},"
                        " \"id\": \"T{options.temperature}-V{params.variant}\"}") == 0, "%s", err);
    CHECK_EQ_INT(l.n, 6);
    CHECK_EQ_STR(ids(&l), "T0.2-V1 T0.2-V2 T0.2-V3 T0.7-V1 T0.7-V2 T0.7-V3");
    /* the base is kept, the fields are set, nested objects merged */
    char *c = job_canonical(l.v[4]);
    CHECK_EQ_STR(c, "{\"id\":\"T0.7-V2\",\"model\":\"qwen3:8b\",\"options\":{\"seed\":1,\"temperature\":0.69999999999999996},"
                    "\"params\":{\"variant\":2},\"turns\":[\"hi\"]}");
    free(c);
    CHECK_EQ_STR(l.v[4]->grid_label, "options.temperature=0.7 params.variant=2");
    char *set = numfmt_dumps(l.v[4]->grid);
    CHECK_EQ_STR(set, "{\"options.temperature\":0.7,\"params.variant\":2}");
    CHECK_EQ_STR(grid_field_order(l.v[4]->grid), "options.temperature params.variant");
    free(set);
    job_list_clear(&l);

    /* the other field order gives the other expansion order */
    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"params.variant\": [1, 2], \"options.temperature\": [0.2, 0.7]},"
                        " \"id\": \"T{options.temperature}-V{params.variant}\"}") == 0, "%s", err);
    CHECK_EQ_STR(ids(&l), "T0.2-V1 T0.7-V1 T0.2-V2 T0.7-V2");
    job_list_clear(&l);
}

TEST(grid_ids_spell_values_as_the_file)
{
    struct job_list l = {0};
    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"options.temperature\": [0.2, 0.7, 1e-3, 1.0, 100, -1.5E2]},"
                        " \"id\": \"t{options.temperature}\"}") == 0, "%s", err);
    CHECK_EQ_STR(ids(&l), "t0.2 t0.7 t1e-3 t1.0 t100 t-1.5E2");
    job_list_clear(&l);
    /* 0.20 is the same number as 0.2 (so not both in one list), but it keeps its spelling */
    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"options.temperature\": [0.20, 2.50e-1]}, \"id\": \"t{options.temperature}\"}") == 0,
                "%s", err);
    CHECK_EQ_STR(ids(&l), "t0.20 t2.50e-1");
    job_list_clear(&l);

    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"model\": [\"qwen3:8b\", \"llama3.2:3b\"], \"params.on\": [true, false],"
                        " \"params.x\": [null]}, \"id\": \"{model}_{params.on}_{params.x}\"}") == 0, "%s", err);
    CHECK_EQ_STR(ids(&l), "qwen3:8b_true_null qwen3:8b_false_null llama3.2:3b_true_null llama3.2:3b_false_null");
    CHECK_EQ_STR(l.v[1]->grid_label, "model=\"qwen3:8b\" params.on=false params.x=null");
    job_list_clear(&l);
}

TEST(grid_default_ids_slug_and_hash)
{
    struct job_list l = {0};
    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"params.variant\": [1, 2], \"options.temperature\": [0.2, 1.0]}}") == 0,
                "%s", err);
    REQUIRE_EQ_INT(l.n, 4);
    /* fields sorted by name in the slug: temperature before variant; values normalised */
    CHECK_MSG(!strncmp(l.v[0]->id, "temperature-0.2_variant-1-", 26), "id %s", l.v[0]->id);
    CHECK_MSG(!strncmp(l.v[1]->id, "temperature-1.0_variant-1-", 26), "id %s", l.v[1]->id);
    CHECK_EQ_INT(strlen(l.v[0]->id), 26 + GRID_HASH_HEX);
    char first[JOB_ID_MAX + 1];
    snprintf(first, sizeof first, "%s", l.v[0]->id);
    /* pinned value: the hash is place_hash64 of "options.temperature=0.2\nparams.variant=1\n" */
    CHECK_EQ_STR(first, "temperature-0.2_variant-1-3face1d8");
    job_list_clear(&l);

    /* the same values spelt otherwise and listed in the other order: the same ids */
    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"options.temperature\": [0.20, 1.00], \"params.variant\": [1, 2]}}") == 0,
                "%s", err);
    CHECK_EQ_STR(l.v[0]->id, first);
    job_list_clear(&l);

    /* strings are sanitised, lists hashed, long values cut */
    json_t *set = json_loads("{\"system\": \"Be terse, please!\", \"turns\": [\"a\", \"b\"],"
                             " \"params.note\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 0, NULL);
    char *id = grid_default_id(set);
    CHECK_MSG(!strncmp(id, "note-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_system-Be_terse_please_turns-", 66), "id %s", id);
    CHECK(job_id_valid(id));
    free(id);
    json_decref(set);
}

TEST(grid_default_id_bounded)
{
    /* 32 fields with long string values: the slug is cut, the id stays valid */
    char text[8192] = "{";
    size_t n = 1;
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"params.k%02d\": \"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\"",
                              i ? "," : "", i);
    snprintf(text + n, sizeof text - n, "}");
    json_t *set = json_loads(text, 0, NULL);
    REQUIRE(set != NULL);
    char *id = grid_default_id(set);
    CHECK_EQ_INT(strlen(id), JOB_ID_MAX);
    CHECK(job_id_valid(id));
    free(id);
    json_decref(set);
}

TEST(grid_nested_params_path)
{
    struct job_list l = {0};
    REQUIRE_MSG(add(&l, "{\"base\": {\"model\": \"m\", \"turns\": 2, \"params\": {\"w\": {\"a\": 1}, \"g\": \"A\"}},"
                        " \"grid\": {\"params.w.b\": [1, 2], \"max_actions_per_turn\": [4]}, \"id\": \"x{params.w.b}\"}") == 0,
                "%s", err);
    char *c = job_canonical(l.v[1]);
    CHECK_EQ_STR(c, "{\"id\":\"x2\",\"max_actions_per_turn\":4,\"model\":\"m\",\"params\":{\"g\":\"A\",\"w\":{\"a\":1,\"b\":2}},"
                    "\"turns\":2}");
    free(c);
    json_t *v = grid_get_path(l.v[1]->spec, "params.w.b");
    CHECK(json_integer_value(v) == 2);
    CHECK(grid_get_path(l.v[1]->spec, "params.w.zz") == NULL);
    CHECK(grid_get_path(l.v[1]->spec, "model.x") == NULL);
    job_list_clear(&l);
}

/* text is refused; the message contains want; the list is unchanged */
#define REFUSED(text, want) refused_(__FILE__, __LINE__, text, want)
static void refused_(const char *file, int line, const char *text, const char *want)
{
    struct job_list l = {0};
    int rc = add(&l, text);
    if (unit_check(rc < 0, file, line, false, "accepted: %s", text))
        unit_check(strstr(err, want) != NULL, file, line, false, "message \"%s\" does not say \"%s\"", err, want);
    unit_check(l.n == 0, file, line, false, "%zu jobs left in the list", l.n);
    job_list_clear(&l);
}

TEST(grid_refusals_name_the_field)
{
    REFUSED("{\"grid\": {\"model\": [\"a\"]}}", "base: is required");
    REFUSED("{" BASE "}", "grid: is required");
    REFUSED("{" BASE ", \"grid\": {}}", "grid: must be a non-empty object");
    REFUSED("{" BASE ", \"grid\": {\"options.temperature\": []}}", "grid.options.temperature: must be a non-empty array");
    REFUSED("{" BASE ", \"grid\": {\"options.temperature\": 0.2}}", "grid.options.temperature: must be a non-empty array");
    REFUSED("{" BASE ", \"grid\": {\"temperature\": [0.2]}}", "grid.temperature: unknown field 'temperature'");
    REFUSED("{" BASE ", \"grid\": {\"model.name\": [\"a\"]}}", "grid.model.name: model takes no sub-field");
    REFUSED("{" BASE ", \"grid\": {\"id\": [\"a\"]}}", "grid.id: the ids come from");
    REFUSED("{" BASE ", \"grid\": {\"options..x\": [1]}}", "grid.options..x: empty part");
    REFUSED("{" BASE ", \"grid\": {\"options.\": [1]}}", "empty part");
    REFUSED("{" BASE ", \"grid\": {\"options\": [{}], \"options.seed\": [1]}}", "one is inside the other");
    REFUSED("{" BASE ", \"grid\": {\"options.seed.x\": [1]}}", "base.options.seed is not an object");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1, 2, 1]}}", "grid.options.seed: the value 1 is listed twice");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}, \"extra\": 1}", "extra: unknown top-level field of a grid file");
    REFUSED("{\"base\": {\"id\": \"x\", \"model\": \"m\", \"turns\": 1}, \"grid\": {\"options.seed\": [1]}}", "base.id:");
    REFUSED("{\"base\": {\"modle\": \"m\", \"turns\": 1}, \"grid\": {\"options.seed\": [1]}}", "base.modle: unknown field");
    REFUSED("{\"base\": [], \"grid\": {\"options.seed\": [1]}}", "base: must be a job object");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1], \"options.seed\": [2]}}", "duplicate object key near '\"options.seed\"'");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}, \"grid\": {\"options.seed\": [2]}}", "duplicate object key near '\"grid\"'");
    /* a bad value is the job's error, with the combination */
    REFUSED("{" BASE ", \"grid\": {\"max_actions_per_turn\": [8, 100]}}",
            "g.json: grid combination 2 (max_actions_per_turn=100): max_actions_per_turn: must be an integer from 1 to 64");
    /* templates */
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}, \"id\": 7}", "id: must be a template string");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}, \"id\": \"s{seed}\"}", "id: {seed} in the template 's{seed}' is not a grid field");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}, \"id\": \"s{options.seed\"}", "is not closed");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}, \"id\": \"s}\"}", "has no '{'");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}, \"id\": \"s{}\"}", "names no grid field");
    REFUSED("{" BASE ", \"grid\": {\"turns\": [[\"a\"], [\"b\"]]}, \"id\": \"t{turns}\"}", "is a list or an object");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1e+3]}, \"id\": \"s{options.seed}\"}",
            "id template 's{options.seed}' gives 's1e+3' for combination 1 (options.seed=1e+3)");
    REFUSED("{" BASE ", \"grid\": {\"system\": [\"be terse\"]}, \"id\": \"s-{system}\"}",
            "gives 's-be terse' for combination 1");
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1, 2], \"params.v\": [1, 2]}, \"id\": \"s{options.seed}\"}",
            "combinations (options.seed=1 params.v=1) and (options.seed=1 params.v=2) both get the id s1: the id template "
            "must tell every combination apart");
    /* JSON Lines of grids */
    REFUSED("{" BASE ", \"grid\": {\"options.seed\": [1]}}\n{" BASE ", \"grid\": {\"options.seed\": [2]}}",
            "holds one JSON document, not JSON Lines");
}

TEST(grid_size_bounded)
{
    /* 100 x 100 x 11 = 110000 combinations */
    char text[16384];
    size_t n = (size_t)snprintf(text, sizeof text, "{" BASE ", \"grid\": {");
    const char *fields[] = {"params.a", "params.b", "params.c"};
    int sizes[] = {100, 100, 11};
    for (int f = 0; f < 3; f++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"%s\": [", f ? ", " : "", fields[f]);
        for (int i = 0; i < sizes[f]; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s%d", i ? "," : "", i);
        n += (size_t)snprintf(text + n, sizeof text - n, "]");
    }
    snprintf(text + n, sizeof text - n, "}}");
    REFUSED(text, "grid: 100 x 100 x 11 combinations is more than the limit of 100000");
}

/* A small file whose values are large: 10 system prompts of 20 kB times 10000 variants would be
 * 100000 jobs of 20 kB (2 GB); refused from the sizes alone, before any job is made. */
TEST(grid_expanded_size_bounded_by_its_values)
{
    size_t cap = 300000, n = 0;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    n += (size_t)snprintf(text + n, cap - n, "{" BASE ", \"grid\": {\"system\": [");
    for (int i = 0; i < 10; i++) {
        n += (size_t)snprintf(text + n, cap - n, "%s\"%d", i ? "," : "", i);
        memset(text + n, 'x', 20000);
        n += 20000;
        n += (size_t)snprintf(text + n, cap - n, "\"");
    }
    n += (size_t)snprintf(text + n, cap - n, "], \"params.x\": [");
    for (int i = 0; i < 10000; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s%d", i ? "," : "", i);
    snprintf(text + n, cap - n, "]}}");
    REFUSED(text, "grid: 100000 combinations make 1914 MiB of jobs (the base and each combination's values), more "
                  "than the limit of 64 MiB");
    free(text);
}

TEST(grid_mixed_with_other_inputs)
{
    struct job_list l = {0};
    REQUIRE_MSG(add(&l, "{\"id\": \"s1\", \"model\": \"m\", \"turns\": 1}") == 0, "%s", err);
    REQUIRE_MSG(add(&l, "{" BASE ", \"grid\": {\"options.seed\": [1, 2]}, \"id\": \"g{options.seed}\"}") == 0, "%s", err);
    CHECK_EQ_STR(ids(&l), "s1 g1 g2");
    job_list_clear(&l);
}

UNIT_MAIN()
