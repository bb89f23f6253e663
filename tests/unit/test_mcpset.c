/* test_mcpset: parsing --mcp and --mcp-deny values (worker/mcpset.h): words split without a
 * shell ('single', "double" with \" and \\, backslash escapes), NAME: aliases and the mcpN
 * default, several servers split by an unquoted ';', and the errors that name what is wrong
 * (cfg unchanged after each). The servers themselves are tested with real processes in
 * tests/integ/test_mcp.sh. */
#include <stdlib.h>
#include <string.h>

#include "../../worker/mcpset.h"
#include "../lib/unit.h"

TEST(words_split_on_whitespace_with_quotes)
{
    struct mcpset_cfg c = {0};
    char err[ERR_LEN];
    REQUIRE(mcpset_cfg_add(&c, "  env  MEMORY_FILE_PATH={workdir}/m.jsonl 'a b' \"c \\\"d\\\" \\\\e\" f\\ g h'i'\"j\" ",
                           err) == 0);
    REQUIRE_EQ_INT(c.n, 1);
    CHECK_EQ_STR(c.servers[0].alias, "mcp1");
    REQUIRE_EQ_INT(c.servers[0].argc, 6);
    CHECK_EQ_STR(c.servers[0].argv[0], "env");
    CHECK_EQ_STR(c.servers[0].argv[1], "MEMORY_FILE_PATH={workdir}/m.jsonl");
    CHECK_EQ_STR(c.servers[0].argv[2], "a b");
    CHECK_EQ_STR(c.servers[0].argv[3], "c \"d\" \\e");
    CHECK_EQ_STR(c.servers[0].argv[4], "f g");
    CHECK_EQ_STR(c.servers[0].argv[5], "hij");
    CHECK(c.servers[0].argv[6] == NULL);
    mcpset_cfg_free(&c);
}

TEST(single_quotes_keep_backslashes_and_shell_characters)
{
    struct mcpset_cfg c = {0};
    char err[ERR_LEN];
    REQUIRE(mcpset_cfg_add(&c, "sh '$(rm -rf /) \\n; `x` | y'", err) == 0);
    REQUIRE_EQ_INT(c.servers[0].argc, 2);
    CHECK_EQ_STR(c.servers[0].argv[1], "$(rm -rf /) \\n; `x` | y");
    mcpset_cfg_free(&c);
}

TEST(alias_and_several_servers_split_by_semicolon)
{
    struct mcpset_cfg c = {0};
    char err[ERR_LEN];
    REQUIRE(mcpset_cfg_add(&c, "memory: npx -y @modelcontextprotocol/server-memory; env 'a;b' \"c;d\" e\\;f ;fs: true x", err)
            == 0);
    REQUIRE_EQ_INT(c.n, 3);
    CHECK_EQ_STR(c.servers[0].alias, "memory");
    CHECK_EQ_INT(c.servers[0].argc, 3);
    CHECK_EQ_STR(c.servers[0].argv[0], "npx");
    CHECK_EQ_STR(c.servers[0].text, "memory: npx -y @modelcontextprotocol/server-memory");
    CHECK_EQ_STR(c.servers[1].alias, "mcp2");
    REQUIRE_EQ_INT(c.servers[1].argc, 4);
    CHECK_EQ_STR(c.servers[1].argv[1], "a;b");
    CHECK_EQ_STR(c.servers[1].argv[2], "c;d");
    CHECK_EQ_STR(c.servers[1].argv[3], "e;f");
    CHECK_EQ_STR(c.servers[2].alias, "fs");
    CHECK_EQ_STR(c.servers[2].argv[0], "true");
    /* A further value appends; its default alias counts from the servers before it. */
    REQUIRE(mcpset_cfg_add(&c, "true", err) == 0);
    CHECK_EQ_STR(c.servers[3].alias, "mcp4");
    mcpset_cfg_free(&c);
}

TEST(errors_name_the_problem_and_change_nothing)
{
    struct mcpset_cfg c = {0};
    char err[ERR_LEN];
    REQUIRE(mcpset_cfg_add(&c, "a: true", err) == 0);
    static const struct {
        const char *value, *want;
    } cases[] = {
        {"python3 'x", "unterminated ' quote"},
        {"python3 \"x", "unterminated \" quote"},
        {"", "no program to run"},
        {"true; ", "no program to run"},
        {"b:", "no program to run"},
        {"a: true", "the server name 'a' is used twice"},
        {"bad.name: true", "the server name 'bad.name:' must be"},
        {"no-such-program-xyz-123 --x", "'no-such-program-xyz-123' is not found on PATH"},
        {"/nonexistent/prog", "'/nonexistent/prog' is not an executable file"},
        {"true; false; no-such-program-xyz-123", "not found on PATH"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        CHECK_MSG(mcpset_cfg_add(&c, cases[i].value, err) < 0, "'%s' accepted", cases[i].value);
        CHECK_MSG(strstr(err, cases[i].want) != NULL, "'%s': error '%s' lacks '%s'", cases[i].value, err, cases[i].want);
        CHECK_MSG(strncmp(err, "--mcp", 5) == 0, "'%s': error '%s' does not name --mcp", cases[i].value, err);
        CHECK_EQ_INT(c.n, 1);
    }
    mcpset_cfg_free(&c);
}

TEST(too_many_words_or_servers)
{
    struct mcpset_cfg c = {0};
    char err[ERR_LEN], big[1024] = "true";
    for (int i = 0; i < MCPSET_MAX_ARGS; i++)
        strcat(big, " x");
    CHECK(mcpset_cfg_add(&c, big, err) < 0);
    CHECK_CONTAINS(err, "more than 64 words");
    for (int i = 0; i < MCPSET_MAX_SERVERS; i++)
        REQUIRE(mcpset_cfg_add(&c, "true", err) == 0);
    CHECK(mcpset_cfg_add(&c, "true", err) < 0);
    CHECK_CONTAINS(err, "more than 16 servers");
    mcpset_cfg_free(&c);
}

TEST(program_with_workdir_is_checked_at_the_attempt)
{
    struct mcpset_cfg c = {0};
    char err[ERR_LEN];
    CHECK(mcpset_cfg_add(&c, "{workdir}/bin/server --x", err) == 0);
    mcpset_cfg_free(&c);
}

TEST(deny_lists)
{
    struct mcpset_cfg c = {0};
    char err[ERR_LEN];
    REQUIRE(mcpset_cfg_deny(&c, "get-env, everything:gzip-file-as-resource", err) == 0);
    REQUIRE(mcpset_cfg_deny(&c, "x", err) == 0);
    REQUIRE_EQ_INT(c.ndeny, 3);
    CHECK_EQ_STR(c.deny[0], "get-env");
    CHECK_EQ_STR(c.deny[1], "everything:gzip-file-as-resource");
    CHECK_EQ_STR(c.deny[2], "x");
    CHECK(mcpset_cfg_deny(&c, " , ", err) < 0);
    CHECK_CONTAINS(err, "no tool name");
    CHECK(mcpset_cfg_deny(&c, "srv:", err) < 0);
    CHECK_CONTAINS(err, "not NAME or SERVER:NAME");
    CHECK_EQ_INT(c.ndeny, 3);
    mcpset_cfg_free(&c);
}

UNIT_MAIN()
