/* test_cfg: the option table parser (common/cfg.h): every type, environment then flags, flags
 * around positionals, strict numbers, unknown flags, counted flags, "--", lists. Each test runs
 * in its own child, so setenv here touches no other test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/unit.h"
#include "cfg.h"

static const char *s_redis;
static long s_slots;
static double s_ratio;
static bool s_force;
static int s_verbose;
static struct cfg_list s_mcp;

static const struct cfg_opt opts[] = {
    {"redis", 'r', "UT_REDIS", CFG_STR, &s_redis, 0, 0, "URL", "Redis address"},
    {"slots", 's', "UT_SLOTS", CFG_INT, &s_slots, 1, 1024, "N", "experiments at once"},
    {"ratio", 0, "UT_RATIO", CFG_DOUBLE, &s_ratio, 0, 1, "X", "a fraction"},
    {"force", 'f', "UT_FORCE", CFG_BOOL, &s_force, 0, 0, NULL, "replace ended experiments"},
    {"verbose", 'v', "UT_VERBOSE", CFG_COUNT, &s_verbose, 0, 0, NULL, "more logging"},
    {"mcp", 0, "UT_MCP", CFG_LIST, &s_mcp, 0, 0, "CMD", "an MCP server"},
    {NULL},
};

static char err[ERR_LEN];
static const char *pos[8];
static int npos;

/* Parses a NULL-terminated argument list after a program name, from index 1. */
#define PARSE(...) parse_((const char *[]){"prog", __VA_ARGS__, NULL})
static int parse_(const char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    err[0] = '\0';
    return cfg_parse(opts, argc, (char **)args, 1, pos, 8, &npos, err);
}
#define PARSE0() parse_((const char *[]){"prog", NULL})

static void defaults(void)
{
    s_redis = "redis://127.0.0.1:6379/0";
    s_slots = 1;
    s_ratio = 0.5;
    s_force = false;
    s_verbose = 0;
    memset(&s_mcp, 0, sizeof s_mcp);
    const char *vars[] = {"UT_REDIS", "UT_SLOTS", "UT_RATIO", "UT_FORCE", "UT_VERBOSE", "UT_MCP"};
    for (size_t i = 0; i < 6; i++)
        unsetenv(vars[i]);
}

TEST(defaults_kept_without_env_or_flags)
{
    defaults();
    CHECK_EQ_INT(PARSE0(), 0);
    CHECK_EQ_STR(s_redis, "redis://127.0.0.1:6379/0");
    CHECK_EQ_INT(s_slots, 1);
    CHECK(s_ratio == 0.5);
    CHECK(!s_force);
    CHECK_EQ_INT(s_verbose, 0);
    CHECK_EQ_INT(s_mcp.n, 0);
    CHECK_EQ_INT(npos, 0);
}

TEST(every_type_from_flags)
{
    defaults();
    CHECK_EQ_INT(PARSE("--redis", "redis://h:1/2", "--slots", "3", "--ratio", "0.25", "--force", "-v", "--mcp",
                       "a b", "--mcp", "c"),
                 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_STR(s_redis, "redis://h:1/2");
    CHECK_EQ_INT(s_slots, 3);
    CHECK(s_ratio == 0.25);
    CHECK(s_force);
    CHECK_EQ_INT(s_verbose, 1);
    REQUIRE_EQ_INT(s_mcp.n, 2);
    CHECK_EQ_STR(s_mcp.v[0], "a b");
    CHECK_EQ_STR(s_mcp.v[1], "c");
}

TEST(every_type_from_env)
{
    defaults();
    setenv("UT_REDIS", "unix:///tmp/r.sock", 1);
    setenv("UT_SLOTS", "4", 1);
    setenv("UT_RATIO", "1", 1);
    setenv("UT_FORCE", "yes", 1);
    setenv("UT_VERBOSE", "2", 1);
    setenv("UT_MCP", "prog --x", 1);
    CHECK_EQ_INT(PARSE0(), 0);
    CHECK_EQ_STR(s_redis, "unix:///tmp/r.sock");
    CHECK_EQ_INT(s_slots, 4);
    CHECK(s_ratio == 1.0);
    CHECK(s_force);
    CHECK_EQ_INT(s_verbose, 2);
    REQUIRE_EQ_INT(s_mcp.n, 1);
    CHECK_EQ_STR(s_mcp.v[0], "prog --x");

    setenv("UT_FORCE", "false", 1);
    CHECK_EQ_INT(PARSE0(), 0);
    CHECK(!s_force);
}

TEST(flags_override_env)
{
    defaults();
    setenv("UT_REDIS", "redis://env:1/0", 1);
    setenv("UT_SLOTS", "4", 1);
    CHECK_EQ_INT(PARSE("--slots", "7"), 0);
    CHECK_EQ_INT(s_slots, 7);
    CHECK_EQ_STR(s_redis, "redis://env:1/0");
    CHECK_EQ_INT(PARSE("--redis=redis://flag:2/0"), 0);
    CHECK_EQ_STR(s_redis, "redis://flag:2/0");
}

TEST(list_flags_replace_env_rather_than_append)
{
    defaults();
    setenv("UT_MCP", "from-env", 1);
    CHECK_EQ_INT(PARSE("--mcp", "a", "--mcp", "b"), 0);
    REQUIRE_EQ_INT(s_mcp.n, 2);
    CHECK_EQ_STR(s_mcp.v[0], "a");
    CHECK_EQ_STR(s_mcp.v[1], "b");
}

/* Each layer replaces the one below: defaults, then the environment, then flags. */
TEST(list_env_replaces_default)
{
    defaults();
    s_mcp.v[0] = "default-server";
    s_mcp.n = 1;
    setenv("UT_MCP", "from-env", 1);
    CHECK_EQ_INT(PARSE0(), 0);
    REQUIRE_EQ_INT(s_mcp.n, 1);
    CHECK_EQ_STR(s_mcp.v[0], "from-env");
}

TEST(flags_after_positionals)
{
    defaults();
    CHECK_EQ_INT(PARSE("submit", "--slots", "2", "f.json", "-", "--force"), 0);
    REQUIRE_EQ_INT(npos, 3);
    CHECK_EQ_STR(pos[0], "submit");
    CHECK_EQ_STR(pos[1], "f.json");
    CHECK_EQ_STR(pos[2], "-"); /* "-" (stdin) is an argument, not a flag */
    CHECK_EQ_INT(s_slots, 2);
    CHECK(s_force);
}

TEST(value_forms)
{
    defaults();
    CHECK_EQ_INT(PARSE("--slots=5"), 0);
    CHECK_EQ_INT(s_slots, 5);
    CHECK_EQ_INT(PARSE("--slots", "6"), 0);
    CHECK_EQ_INT(s_slots, 6);
    CHECK_EQ_INT(PARSE("-s", "8"), 0);
    CHECK_EQ_INT(s_slots, 8);
    CHECK_EQ_INT(PARSE("-s9"), 0);
    CHECK_EQ_INT(s_slots, 9);
    CHECK_EQ_INT(PARSE("--redis=redis://a:1/0?x=y"), 0); /* only the first '=' splits */
    CHECK_EQ_STR(s_redis, "redis://a:1/0?x=y");
    CHECK_EQ_INT(PARSE("--redis", "--slots"), 0); /* a value may look like a flag */
    CHECK_EQ_STR(s_redis, "--slots");
}

TEST(bad_integers_refused_naming_the_flag)
{
    static const char *bad[] = {"12x", "x", "", "0", "1025", "-3", "99999999999999999999", "1.5", "3 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        defaults();
        int r = PARSE("--slots", bad[i]);
        CHECK_MSG(r == -1, "--slots '%s' accepted", bad[i]);
        CHECK_CONTAINS(err, "--slots");
        CHECK_EQ_INT(s_slots, 1);
    }
    defaults();
    CHECK_EQ_INT(PARSE("--slots=12x"), -1);
    CHECK_CONTAINS(err, "--slots");
    CHECK_CONTAINS(err, "12x");
    CHECK_EQ_INT(PARSE("-s", "0"), -1);
    CHECK_CONTAINS(err, "-s");
    CHECK_EQ_INT(PARSE("--slots", "1024"), 0);
    CHECK_EQ_INT(s_slots, 1024);
}

TEST(bad_env_refused_naming_the_variable)
{
    defaults();
    setenv("UT_SLOTS", "12x", 1);
    CHECK_EQ_INT(PARSE0(), -1);
    CHECK_CONTAINS(err, "UT_SLOTS");
    defaults();
    setenv("UT_FORCE", "maybe", 1);
    CHECK_EQ_INT(PARSE0(), -1);
    CHECK_CONTAINS(err, "UT_FORCE");
}

/* A count from the environment is a number too ("parsing is strict"). */
TEST(bad_env_count_refused)
{
    defaults();
    setenv("UT_VERBOSE", "lots", 1);
    CHECK_EQ_INT(PARSE0(), -1);
    CHECK_CONTAINS(err, "UT_VERBOSE");
}

TEST(bad_doubles_refused)
{
    static const char *bad[] = {"abc", "0.5x", "nan", "inf", "2", "-0.1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        defaults();
        CHECK_MSG(PARSE("--ratio", bad[i]) == -1, "--ratio '%s' accepted", bad[i]);
        CHECK_CONTAINS(err, "--ratio");
    }
}

TEST(unknown_flags_refused)
{
    defaults();
    CHECK_EQ_INT(PARSE("--nope"), -1);
    CHECK_CONTAINS(err, "--nope");
    CHECK_EQ_INT(PARSE("--nope=3"), -1);
    CHECK_CONTAINS(err, "--nope");
    CHECK_EQ_INT(PARSE("-q"), -1);
    CHECK_CONTAINS(err, "-q");
    CHECK_EQ_INT(PARSE("--slot", "2"), -1); /* no prefix matching */
    CHECK_CONTAINS(err, "--slot");
}

TEST(unknown_flag_suggests_the_closest)
{
    defaults();
    CHECK_EQ_INT(PARSE("--slot", "2"), -1);
    CHECK_EQ_STR(err, "unknown flag '--slot'; did you mean --slots?");
    CHECK_EQ_INT(PARSE("--sltos=2"), -1); /* two neighbours swapped: one edit */
    CHECK_EQ_STR(err, "unknown flag '--sltos'; did you mean --slots?");
    CHECK_EQ_INT(PARSE("--vrebos"), -1); /* two edits away */
    CHECK_CONTAINS(err, "did you mean --verbose?");
    CHECK_EQ_INT(PARSE("--frc"), -1);
    CHECK_CONTAINS(err, "did you mean --force?");
    /* Three edits or more: no suggestion, and never a pointer to the help (the caller adds it). */
    CHECK_EQ_INT(PARSE("--bogus"), -1);
    CHECK_EQ_STR(err, "unknown flag '--bogus'");
    CHECK_EQ_INT(PARSE("--s"), -1);
    CHECK_EQ_STR(err, "unknown flag '--s'");
    CHECK_EQ_INT(PARSE("-q"), -1);
    CHECK_EQ_STR(err, "unknown flag '-q'");
    CHECK_EQ_INT(PARSE("-vq"), -1);
    CHECK_EQ_STR(err, "unknown flag '-q' in '-vq'");
    CHECK_EQ_INT(PARSE("--a-very-long-flag-name-that-is-longer-than-sixty-four-characters-for-sure"), -1);
    CHECK_CONTAINS(err, "unknown flag");
}

TEST(missing_value_and_unwanted_value)
{
    defaults();
    CHECK_EQ_INT(PARSE("--slots"), -1);
    CHECK_CONTAINS(err, "--slots");
    CHECK_EQ_INT(PARSE("--force=1"), -1);
    CHECK_CONTAINS(err, "--force");
}

TEST(counted_flags)
{
    defaults();
    CHECK_EQ_INT(PARSE("-vv"), 0);
    CHECK_EQ_INT(s_verbose, 2);
    defaults();
    CHECK_EQ_INT(PARSE("-v", "x", "--verbose", "-vv"), 0);
    CHECK_EQ_INT(s_verbose, 4);
    defaults();
    CHECK_EQ_INT(PARSE("-vf"), 0);
    CHECK_EQ_INT(s_verbose, 1);
    CHECK(s_force);
    CHECK_EQ_INT(PARSE("-vq"), -1);
    CHECK_CONTAINS(err, "-q");
}

TEST(double_dash_ends_flags)
{
    defaults();
    CHECK_EQ_INT(PARSE("a", "--", "--slots", "x", "-v"), 0);
    REQUIRE_EQ_INT(npos, 4);
    CHECK_EQ_STR(pos[0], "a");
    CHECK_EQ_STR(pos[1], "--slots");
    CHECK_EQ_STR(pos[2], "x");
    CHECK_EQ_STR(pos[3], "-v");
    CHECK_EQ_INT(s_slots, 1);
    CHECK_EQ_INT(s_verbose, 0);
}

TEST(too_many_positionals)
{
    defaults();
    CHECK_EQ_INT(PARSE("1", "2", "3", "4", "5", "6", "7", "8", "9"), -1);
    CHECK_CONTAINS(err, "9");
}

TEST(first_skips_leading_arguments)
{
    defaults();
    const char *args[] = {"dispatcher", "submit", "--slots", "3", "f.json", NULL};
    CHECK_EQ_INT(cfg_parse(opts, 5, (char **)args, 2, pos, 8, &npos, err), 0);
    REQUIRE_EQ_INT(npos, 1);
    CHECK_EQ_STR(pos[0], "f.json");
    CHECK_EQ_INT(s_slots, 3);
}

TEST(split_list)
{
    const char *items[4];
    char s1[] = "gpu1,gpu2,gpu3";
    CHECK_EQ_INT(cfg_split_list(s1, items, 4, err), 3);
    CHECK_EQ_STR(items[0], "gpu1");
    CHECK_EQ_STR(items[1], "gpu2");
    CHECK_EQ_STR(items[2], "gpu3");
    char s2[] = "one";
    CHECK_EQ_INT(cfg_split_list(s2, items, 4, err), 1);
    CHECK_EQ_STR(items[0], "one");
    static const char *bad[] = {"", ",", "a,,b", ",a", "a,", "a,b,c,d,e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s", bad[i]);
        err[0] = '\0';
        CHECK_MSG(cfg_split_list(buf, items, 4, err) == -1, "'%s' accepted", bad[i]);
        CHECK_MSG(err[0] != '\0', "'%s': no error text", bad[i]);
    }
}

TEST(print_options)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_print_options(f, opts);
    fclose(f);
    CHECK_CONTAINS(text, "--redis URL");
    CHECK_CONTAINS(text, "-r");
    CHECK_CONTAINS(text, "Redis address");
    CHECK_CONTAINS(text, "--force");
    /* The header's format: "  --name METAVAR, -s   help  [env NAME]". */
    CHECK_CONTAINS(text, "[env UT_REDIS]");
    free(text);
}

UNIT_MAIN()
