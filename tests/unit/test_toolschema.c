/* test_toolschema: MCP tools to Ollama tools (worker/toolschema.h): schemas reduced to what
 * Ollama keeps ($ref/$defs resolved, allOf merged, oneOf -> anyOf, const -> enum, every node
 * typed, dropped keywords folded into descriptions, bounds on recursion), tool names made to fit
 * [A-Za-z0-9_-]{1,64}, and CallToolResults flattened into tool message contents. */
#include <stdlib.h>
#include <string.h>

#include "../../worker/toolschema.h"
#include "../lib/unit.h"

/* load(text): the shared parser of the unit framework (unit.h JSON_OF). */
#define load(text) JSON_OF(text)

/* Checks that got (stolen) equals want, key order included (json_dumps without sorting). */
static void check_json_(const char *file, int line, json_t *got, const char *want)
{
    json_t *w = load(want);
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    char *ws = json_dumps(w, JSON_COMPACT | JSON_ENCODE_ANY);
    unit_check(g && !strcmp(g, ws), file, line, false, "JSON differs:\n  got  %s\n  want %s", g ? g : "NULL", ws);
    free(g);
    free(ws);
    json_decref(w);
    json_decref(got);
}
#define CHECK_JSON(got, want) check_json_(__FILE__, __LINE__, got, want)

static json_t *params(const char *schema)
{
    json_t *s = load(schema);
    json_t *p = toolschema_params(s);
    json_decref(s);
    return p;
}

TEST(params_plain_schema_keeps_properties_drops_schema_keyword)
{
    CHECK_JSON(params("{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\","
                      "\"properties\":{\"query\":{\"type\":\"string\",\"description\":\"The search query\"}},"
                      "\"required\":[\"query\"],\"additionalProperties\":false}"),
               "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":\"The search "
               "query\"}},\"required\":[\"query\"]}");
}

TEST(params_without_properties_or_not_an_object)
{
    CHECK_JSON(params("{\"type\":\"object\"}"), "{\"type\":\"object\",\"properties\":{}}");
    CHECK_JSON(toolschema_params(NULL), "{\"type\":\"object\",\"properties\":{}}");
    CHECK_JSON(params("[1,2]"), "{\"type\":\"object\",\"properties\":{}}");
}

TEST(params_required_only_names_present)
{
    CHECK_JSON(params("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\",\"b\",7]}"),
               "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}");
}

TEST(params_ref_to_defs_inlined_with_siblings_and_defs_dropped)
{
    CHECK_JSON(params("{\"type\":\"object\",\"$defs\":{\"Opts\":{\"type\":\"object\",\"properties\":{\"count\":"
                      "{\"type\":\"integer\",\"minimum\":1,\"maximum\":5,\"default\":2,\"description\":\"how many\"}},"
                      "\"required\":[\"count\"]}},\"properties\":{\"opts\":{\"$ref\":\"#/$defs/Opts\",\"description\":"
                      "\"the options\"}},\"required\":[\"opts\"]}"),
               "{\"type\":\"object\",\"properties\":{\"opts\":{\"type\":\"object\",\"description\":\"the options\","
               "\"properties\":{\"count\":{\"type\":\"integer\",\"description\":\"how many (default: 2; minimum: 1; "
               "maximum: 5)\"}},\"required\":[\"count\"]}},\"required\":[\"opts\"]}");
}

TEST(params_ref_to_definitions_and_properties_pointer)
{
    CHECK_JSON(params("{\"definitions\":{\"Id\":{\"type\":\"string\",\"format\":\"uuid\"}},\"properties\":{"
                      "\"a\":{\"$ref\":\"#/definitions/Id\"},\"b\":{\"$ref\":\"#/properties/a\"},"
                      "\"c\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/Id\"}}}}"),
               "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"description\":\"(format: \\\"uuid\\\")\"},"
               "\"b\":{\"type\":\"string\",\"description\":\"(format: \\\"uuid\\\")\"},"
               "\"c\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"description\":\"(format: \\\"uuid\\\")\"}}}}");
}

TEST(params_remote_or_missing_ref_is_never_fetched)
{
    CHECK_JSON(params("{\"properties\":{\"a\":{\"$ref\":\"https://example.com/schema.json\"},"
                      "\"b\":{\"$ref\":\"#/$defs/Missing\",\"description\":\"x\"}}}"),
               "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\"},\"b\":{\"type\":\"object\","
               "\"description\":\"x\"}}}");
}

TEST(params_recursive_ref_ends_in_a_placeholder)
{
    json_t *p = params("{\"$defs\":{\"Node\":{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#/$defs/Node\"}}}},"
                       "\"properties\":{\"root\":{\"$ref\":\"#/$defs/Node\"}}}");
    char *text = json_dumps(p, JSON_COMPACT);
    CHECK_MSG(strstr(text, "\"(recursive)\"") != NULL, "no placeholder in %.300s", text);
    CHECK_MSG(strstr(text, "$ref") == NULL, "a $ref is left: %.300s", text);
    free(text);
    json_decref(p);
}

TEST(params_exponential_schema_is_bounded)
{
    /* Each level refers to the next twice: 2^30 nodes if expanded naively. */
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"$defs\":{");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"L%d\":{\"properties\":{\"a\":{\"$ref\":\"#/$defs/L%d\"},"
                              "\"b\":{\"$ref\":\"#/$defs/L%d\"}}}", i ? "," : "", i, i + 1, i + 1);
    snprintf(buf + n, sizeof buf - n, ",\"L30\":{\"type\":\"string\"}},\"properties\":{\"x\":{\"$ref\":\"#/$defs/L0\"}}}");
    json_t *p = params(buf);
    char *text = json_dumps(p, JSON_COMPACT);
    CHECK_MSG(strstr(text, "(schema too large)") != NULL, "not cut: %zu bytes", strlen(text));
    CHECK_MSG(strlen(text) < 1000000, "too big: %zu bytes", strlen(text));
    free(text);
    json_decref(p);
}

TEST(params_every_property_gets_a_type)
{
    CHECK_JSON(params("{\"properties\":{\"e\":{\"enum\":[\"a\",\"b\"]},\"n\":{\"enum\":[1,2.5]},"
                      "\"o\":{\"properties\":{\"x\":{}}},\"l\":{\"items\":{\"type\":\"integer\"}},\"any\":true,"
                      "\"c\":{\"const\":3},\"t\":{\"type\":[\"boolean\",\"string\"]}}}"),
               "{\"type\":\"object\",\"properties\":{\"e\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},"
               "\"n\":{\"type\":[\"integer\",\"number\"],\"enum\":[1,2.5]},"
               "\"o\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}}},"
               "\"l\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},\"any\":{\"type\":\"string\"},"
               "\"c\":{\"type\":\"integer\",\"enum\":[3]},\"t\":{\"type\":[\"boolean\",\"string\"]}}}");
}

TEST(params_oneof_becomes_anyof_with_types)
{
    /* Pydantic's Optional[Opts]: anyOf of a $ref and null. */
    CHECK_JSON(params("{\"$defs\":{\"Opts\":{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"string\"}}}},"
                      "\"properties\":{\"o\":{\"anyOf\":[{\"$ref\":\"#/$defs/Opts\"},{\"type\":\"null\"}],\"default\":null},"
                      "\"p\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}}}"),
               "{\"type\":\"object\",\"properties\":{\"o\":{\"type\":[\"object\",\"null\"],\"description\":\"(default: null)\","
               "\"anyOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"string\"}}},{\"type\":\"null\"}]},"
               "\"p\":{\"type\":[\"string\",\"integer\"],\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}}}");
}

TEST(params_allof_branches_merged)
{
    CHECK_JSON(params("{\"$defs\":{\"Base\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}},"
                      "\"required\":[\"id\"]}},\"allOf\":[{\"$ref\":\"#/$defs/Base\"},{\"properties\":{\"n\":"
                      "{\"type\":\"integer\",\"exclusiveMinimum\":0}},\"required\":[\"n\"]}]}"),
               "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\","
               "\"description\":\"(exclusiveMinimum: 0)\"}},\"required\":[\"id\",\"n\"]}");
}

TEST(params_folds_string_and_array_hints)
{
    CHECK_JSON(params("{\"properties\":{\"s\":{\"type\":\"string\",\"title\":\"Label\",\"minLength\":2,\"maxLength\":9,"
                      "\"pattern\":\"^[a-z]+$\"},\"a\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1,"
                      "\"uniqueItems\":true}}}"),
               "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"description\":\"Label (minLength: 2; "
               "maxLength: 9; pattern: \\\"^[a-z]+$\\\")\"},\"a\":{\"type\":\"array\",\"description\":\"(minItems: 1; "
               "uniqueItems: true)\",\"items\":{\"type\":\"string\"}}}}");
}

TEST(tool_definition_and_description_fallbacks)
{
    json_t *t = load("{\"name\":\"search_nodes\",\"description\":\"Search the graph\",\"inputSchema\":{\"type\":\"object\","
                     "\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"]},\"outputSchema\":{}}");
    CHECK_JSON(toolschema_tool(t, "search_nodes"),
               "{\"type\":\"function\",\"function\":{\"name\":\"search_nodes\",\"description\":\"Search the graph\","
               "\"parameters\":{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"]}}}");
    json_decref(t);
    t = load("{\"name\":\"a.b\",\"title\":\"The title\",\"inputSchema\":{\"type\":\"object\"}}");
    CHECK_JSON(toolschema_tool(t, "a_b"), "{\"type\":\"function\",\"function\":{\"name\":\"a_b\",\"description\":"
                                         "\"The title\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}");
    json_decref(t);
    t = load("{\"name\":\"x\",\"annotations\":{\"title\":\"From annotations\"}}");
    CHECK_JSON(toolschema_tool(t, "x"), "{\"type\":\"function\",\"function\":{\"name\":\"x\",\"description\":"
                                       "\"From annotations\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}");
    json_decref(t);
    t = load("{\"name\":\"bare\"}");
    CHECK_JSON(toolschema_tool(t, "srv__bare"), "{\"type\":\"function\",\"function\":{\"name\":\"srv__bare\","
                                               "\"description\":\"bare\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}");
    json_decref(t);
}

/* ---- Names ---- */

TEST(name_ok)
{
    CHECK(toolschema_name_ok("get-tiny_image9"));
    CHECK(!toolschema_name_ok(""));
    CHECK(!toolschema_name_ok("a.b"));
    CHECK(!toolschema_name_ok("a b"));
    char long65[66];
    memset(long65, 'a', 65);
    long65[65] = '\0';
    CHECK(!toolschema_name_ok(long65));
    long65[64] = '\0';
    CHECK(toolschema_name_ok(long65));
}

TEST(name_sanitised_and_prefixed)
{
    char out[TOOLSCHEMA_NAME_MAX + 1];
    toolschema_name(NULL, "create_entities", out);
    CHECK_EQ_STR(out, "create_entities");
    toolschema_name(NULL, "files.read", out);
    CHECK_EQ_STR(out, "files_read");
    toolschema_name("memory", "search", out);
    CHECK_EQ_STR(out, "memory__search");
    toolschema_name("my.srv", "caf\xc3\xa9", out);
    CHECK_EQ_STR(out, "my_srv__caf__");
    toolschema_name(NULL, "", out);
    CHECK_EQ_STR(out, "tool");
}

TEST(name_long_keeps_the_tail_behind_a_hash)
{
    const char *a = "a_very_long_tool_name_from_some_server_that_goes_on_and_on_and_ends_in_read";
    const char *b = "a_very_long_tool_name_from_some_server_that_goes_on_and_on_and_ends_in_write";
    char oa[TOOLSCHEMA_NAME_MAX + 1], ob[TOOLSCHEMA_NAME_MAX + 1], oa2[TOOLSCHEMA_NAME_MAX + 1];
    toolschema_name("srv", a, oa);
    toolschema_name("srv", b, ob);
    toolschema_name("srv", a, oa2);
    CHECK(toolschema_name_ok(oa));
    CHECK(toolschema_name_ok(ob));
    CHECK_EQ_INT((long long)strlen(oa), 64);
    CHECK_EQ_STR(oa, oa2); /* deterministic */
    CHECK(strcmp(oa, ob) != 0);
    CHECK(!strncmp(oa, "srv__", 5));
    CHECK_MSG(strlen(oa) > 8 && !strcmp(oa + strlen(oa) - 7, "in_read"), "tail lost: %s", oa);
    CHECK_MSG(!strcmp(ob + strlen(ob) - 8, "in_write"), "tail lost: %s", ob);
}

/* ---- Results ---- */

static char *result(const char *text, size_t cap, bool *is_error)
{
    json_t *r = load(text);
    char *s = toolschema_result(r, cap, is_error);
    json_decref(r);
    return s;
}

TEST(result_text_blocks_joined)
{
    bool err;
    char *s = result("{\"content\":[{\"type\":\"text\",\"text\":\"one\"},{\"type\":\"text\",\"text\":\"two\"}]}", 1000, &err);
    CHECK_EQ_STR(s, "one\ntwo");
    CHECK(!err);
    free(s);
}

TEST(result_is_error_marked)
{
    bool err;
    char *s = result("{\"content\":[{\"type\":\"text\",\"text\":\"MCP error -32602: Tool nope not found\"}],\"isError\":true}",
                     1000, &err);
    CHECK_EQ_STR(s, "ERROR: MCP error -32602: Tool nope not found");
    CHECK(err);
    free(s);
}

TEST(result_binary_blocks_are_placeholders)
{
    bool err;
    /* "aGVsbG8=" is "hello": 5 bytes. */
    char *s = result("{\"content\":[{\"type\":\"text\",\"text\":\"Here:\"},{\"type\":\"image\",\"data\":\"aGVsbG8=\","
                     "\"mimeType\":\"image/png\"},{\"type\":\"audio\",\"data\":\"aGVsbG8\",\"mimeType\":\"audio/wav\"},"
                     "{\"type\":\"resource_link\",\"uri\":\"demo://r/1\",\"name\":\"Blob 1\"},{\"type\":\"resource\","
                     "\"resource\":{\"uri\":\"file:///a.txt\",\"text\":\"inside\"}},{\"type\":\"resource\",\"resource\":"
                     "{\"uri\":\"file:///b.bin\",\"blob\":\"aGVsbG8=\"}},{\"type\":\"hologram\"}]}", 10000, &err);
    CHECK_EQ_STR(s, "Here:\n[image: image/png, 5 bytes]\n[audio: audio/wav, 5 bytes]\n[resource link Blob 1: demo://r/1]\n"
                    "[resource file:///a.txt]\ninside\n[binary resource file:///b.bin, 5 bytes]\n[hologram content omitted]");
    CHECK(!err);
    free(s);
}

TEST(result_structured_content_only_without_text)
{
    bool err;
    char *s = result("{\"content\":[{\"type\":\"text\",\"text\":\"{\\\"t\\\":1}\"}],\"structuredContent\":{\"t\":1}}", 1000, &err);
    CHECK_EQ_STR(s, "{\"t\":1}");
    free(s);
    s = result("{\"content\":[],\"structuredContent\":{\"t\":2}}", 1000, &err);
    CHECK_EQ_STR(s, "{\"t\":2}");
    free(s);
    s = result("{\"content\":[]}", 1000, &err);
    CHECK_EQ_STR(s, "");
    CHECK(!err);
    free(s);
}

TEST(result_user_only_blocks_dropped)
{
    bool err;
    char *s = result("{\"content\":[{\"type\":\"text\",\"text\":\"for you\",\"annotations\":{\"audience\":[\"user\"]}},"
                     "{\"type\":\"text\",\"text\":\"for the model\",\"annotations\":{\"audience\":[\"assistant\",\"user\"]}}]}",
                     1000, &err);
    CHECK_EQ_STR(s, "for the model");
    free(s);
}

TEST(result_not_a_result_is_an_error)
{
    bool err;
    char *s = result("{\"tools\":[]}", 1000, &err);
    CHECK(err);
    CHECK_CONTAINS(s, "without a content array");
    free(s);
    s = result("[1]", 1000, &err);
    CHECK(err);
    free(s);
}

TEST(result_capped_head_and_tail_on_utf8_boundaries)
{
    /* 3000 copies of "é" (2 bytes each) plus a marked end. */
    char *big = malloc(6100);
    size_t n = 0;
    for (int i = 0; i < 3000; i++) {
        big[n++] = '\xc3';
        big[n++] = '\xa9';
    }
    memcpy(big + n, "THE END", 8);
    json_t *r = json_pack("{s:[{s:s, s:s}]}", "content", "type", "text", "text", big);
    REQUIRE(r != NULL);
    bool err;
    char *s = toolschema_result(r, 1000, &err);
    CHECK_MSG(strlen(s) <= 1000, "%zu bytes", strlen(s));
    CHECK_CONTAINS(s, "bytes omitted by the worker");
    CHECK_MSG(!strcmp(s + strlen(s) - 7, "THE END"), "tail lost");
    json_t *valid = json_string(s); /* NULL if a cut split a character */
    CHECK(valid != NULL);
    json_decref(valid);
    free(s);
    json_decref(r);
    free(big);
}

UNIT_MAIN()
