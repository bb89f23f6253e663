/* test_sentinel: the Sentinel options (common/sentinel.h sentinel_setup): the sentinel list and
 * its ports, --master required, --redis reduced to credentials and db, the refusals (both a host
 * and sentinels, --master alone, bad ports, too many sentinels), no password in any message, and
 * the redacted form before a primary is known. The lookups themselves are exercised against real
 * sentinels by tests/integ/test_redis_sentinel.sh. */
#include <string.h>

#include "../lib/unit.h"
#include "sentinel.h"

static struct redis_addr a;
static char err[ERR_LEN];

static int setup(const char *url, const char *sentinels, const char *master, const char *pass)
{
    memset(&a, 0x5a, sizeof a);
    err[0] = '\0';
    return sentinel_setup(url, sentinels, master, pass, &a, err);
}

TEST(no_sentinel_is_the_url)
{
    REQUIRE_EQ_INT(setup(NULL, NULL, NULL, NULL), 0);
    CHECK_EQ_STR(a.host, "127.0.0.1");
    CHECK_EQ_INT(a.port, 6379);
    CHECK_EQ_INT(a.sentinel.n, 0);

    REQUIRE_EQ_INT(setup("redis://u:pw@h:7000/3", "", "", NULL), 0); /* empty variables: not set */
    CHECK_EQ_STR(a.host, "h");
    CHECK_EQ_STR(a.user, "u");
    CHECK_EQ_INT(a.db, 3);
    CHECK_EQ_INT(a.sentinel.n, 0);
}

TEST(sentinels_and_master)
{
    REQUIRE_EQ_INT(setup(NULL, "10.0.0.1:26379,s2,[::1]:26380", "mymaster", "spw"), 0);
    CHECK_EQ_INT(a.sentinel.n, 3);
    CHECK_EQ_STR(a.sentinel.at[0].host, "10.0.0.1");
    CHECK_EQ_INT(a.sentinel.at[0].port, 26379);
    CHECK_EQ_STR(a.sentinel.at[1].host, "s2");
    CHECK_EQ_INT(a.sentinel.at[1].port, REDIS_SENTINEL_PORT);
    CHECK_EQ_STR(a.sentinel.at[2].host, "::1");
    CHECK_EQ_INT(a.sentinel.at[2].port, 26380);
    CHECK_EQ_STR(a.sentinel.master, "mymaster");
    CHECK_EQ_STR(a.sentinel.pass, "spw");
    CHECK_EQ_STR(a.host, "");
    CHECK_EQ_INT(a.db, 0);
    char buf[512];
    sentinel_list(&a.sentinel, buf, sizeof buf);
    CHECK_EQ_STR(buf, "10.0.0.1:26379,s2:26379,[::1]:26380");
}

TEST(credentials_and_db_from_the_url)
{
    REQUIRE_EQ_INT(setup("redis://turnq:hunter2@/4", "s1:1", "m", NULL), 0);
    CHECK_EQ_STR(a.user, "turnq");
    CHECK_EQ_STR(a.pass, "hunter2");
    CHECK_EQ_INT(a.db, 4);
    CHECK_EQ_STR(a.host, "");
    char buf[512];
    redisurl_redacted(&a, buf, sizeof buf);
    CHECK_EQ_STR(buf, "redis://turnq:***@/4 via sentinels of m");

    REQUIRE_EQ_INT(setup("redis://:pw@", "s1", "m", NULL), 0);
    CHECK_EQ_STR(a.pass, "pw");
    CHECK_EQ_INT(a.db, 0);
    REQUIRE_EQ_INT(setup("redis:///2", "s1", "m", NULL), 0);
    CHECK_EQ_INT(a.db, 2);
}

TEST(refusals)
{
    struct {
        const char *url, *sentinels, *master, *pass, *says;
    } bad[] = {
        {"redis://h:6379/0", "s1:26379", "m", NULL, "not both"},
        {"redis://u:hunter2@h/0", "s1", "m", NULL, "not both"},
        {"unix:///tmp/r.sock", "s1", "m", NULL, "not both"},
        {NULL, "s1:26379", NULL, NULL, "--master"},
        {NULL, "s1:26379", "", NULL, "--master"},
        {NULL, "s1", "two words", NULL, "--master"},
        {NULL, NULL, "m", NULL, "--master: only with --sentinel"},
        {NULL, NULL, NULL, "hunter2", "--sentinel-password: only with --sentinel"},
        {NULL, "s1:0", "m", NULL, "port"},
        {NULL, "s1:65536", "m", NULL, "port"},
        {NULL, "s1:x", "m", NULL, "port"},
        {NULL, "s1:", "m", NULL, "port"},
        {NULL, ":26379", "m", NULL, "no host"},
        {NULL, "s1,,s2", "m", NULL, "empty item"},
        {NULL, "::1:26379", "m", NULL, "IPv6"},
        {NULL, "[::1", "m", NULL, "host:port"},
        {NULL, "a,b,c,d,e,f,g,h,i", "m", NULL, "too many"},
        {"redis://u:hunter2@/x", "s1", "m", NULL, "--redis"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(setup(bad[i].url, bad[i].sentinels, bad[i].master, bad[i].pass) == -1, "case %zu accepted", i);
        CHECK_CONTAINS(err, bad[i].says);
        CHECK_NOT_CONTAINS(err, "hunter2");
    }
}

UNIT_MAIN()
