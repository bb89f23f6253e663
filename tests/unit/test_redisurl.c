/* test_redisurl: the Redis address (common/redisurl.h): TCP and unix forms, defaults, user and
 * password, refusals whose messages never carry the password, and the redacted form for logs. */
#include <string.h>

#include "../lib/unit.h"
#include "redisurl.h"

static struct redis_addr a;
static char err[ERR_LEN];

static int parse(const char *url)
{
    memset(&a, 0x5a, sizeof a); /* garbage, to catch fields left unset */
    err[0] = '\0';
    return redisurl_parse(url, &a, err);
}

TEST(host_port_db)
{
    REQUIRE_EQ_INT(parse("redis://cache.local:6380/2"), 0);
    CHECK_EQ_STR(a.host, "cache.local");
    CHECK_EQ_INT(a.port, 6380);
    CHECK_EQ_INT(a.db, 2);
    CHECK_EQ_STR(a.path, "");
    CHECK_EQ_STR(a.user, "");
    CHECK_EQ_STR(a.pass, "");
}

TEST(defaults)
{
    REQUIRE_EQ_INT(parse(REDISURL_DEFAULT), 0);
    CHECK_EQ_STR(a.host, "127.0.0.1");
    CHECK_EQ_INT(a.port, 6379);
    CHECK_EQ_INT(a.db, 0);

    REQUIRE_EQ_INT(parse("redis://redis"), 0);
    CHECK_EQ_STR(a.host, "redis");
    CHECK_EQ_INT(a.port, 6379);
    CHECK_EQ_INT(a.db, 0);
    CHECK_EQ_STR(a.pass, "");

    REQUIRE_EQ_INT(parse("redis://redis:7000"), 0);
    CHECK_EQ_INT(a.port, 7000);
    CHECK_EQ_INT(a.db, 0);

    REQUIRE_EQ_INT(parse("redis://redis/5"), 0);
    CHECK_EQ_INT(a.port, 6379);
    CHECK_EQ_INT(a.db, 5);

    REQUIRE_EQ_INT(parse("redis://redis:1/"), 0);
    CHECK_EQ_INT(a.port, 1);
    CHECK_EQ_INT(a.db, 0);

    REQUIRE_EQ_INT(parse("redis://h:65535/16"), 0); /* any db >= 0 */
    CHECK_EQ_INT(a.port, 65535);
    CHECK_EQ_INT(a.db, 16);
}

TEST(user_and_password)
{
    REQUIRE_EQ_INT(parse("redis://alice:s3cr%t@db.example:6379/1"), 0);
    CHECK_EQ_STR(a.user, "alice");
    CHECK_EQ_STR(a.pass, "s3cr%t");
    CHECK_EQ_STR(a.host, "db.example");
    CHECK_EQ_INT(a.port, 6379);
    CHECK_EQ_INT(a.db, 1);

    REQUIRE_EQ_INT(parse("redis://:hunter2@10.0.0.5"), 0);
    CHECK_EQ_STR(a.user, "");
    CHECK_EQ_STR(a.pass, "hunter2");
    CHECK_EQ_STR(a.host, "10.0.0.5");
    CHECK_EQ_INT(a.port, 6379);
    CHECK_EQ_INT(a.db, 0);
}

TEST(unix_socket)
{
    REQUIRE_EQ_INT(parse("unix:///var/run/redis/redis.sock"), 0);
    CHECK_EQ_STR(a.path, "/var/run/redis/redis.sock");
    CHECK_EQ_STR(a.host, "");
    CHECK_EQ_INT(a.db, 0);
    CHECK_EQ_STR(a.pass, "");
    CHECK_EQ_STR(a.user, "");

    REQUIRE_EQ_INT(parse("unix:///tmp/r.sock?db=3"), 0);
    CHECK_EQ_STR(a.path, "/tmp/r.sock");
    CHECK_EQ_INT(a.db, 3);
}

TEST(bad_urls_refused)
{
    static const char *bad[] = {
        "",
        "127.0.0.1:6379",
        "http://h:6379/0",
        "rediss://h:6379/0",
        "redis://",
        "redis://:6379/0",
        "redis:///0",
        "redis://h:0/0",
        "redis://h:65536/0",
        "redis://h:-1/0",
        "redis://h:abc/0",
        "redis://h:/0",
        "redis://h:63 79/0",
        "redis://h:6379/x",
        "redis://h:6379/-1",
        "redis://h:6379/1x",
        "redis://h:6379/0/1",
        "unix://",
        "unix://relative/path.sock",
        "unix:///tmp/r.sock?db=x",
        "unix:///tmp/r.sock?db=-2",
        "unix:///tmp/r.sock?foo=1",
        "unix:///" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(parse(bad[i]) == -1, "'%s' accepted", bad[i]);
        CHECK_MSG(err[0] != '\0', "'%s': no error text", bad[i]);
    }
}

TEST(errors_never_show_the_password)
{
    static const char *bad[] = {
        "redis://u:hunter2@h:99999/0", "redis://u:hunter2@:6379/0", "redis://:hunter2@h:6379/x",
        "redis://u:hunter2@h:port/0",  "http://u:hunter2@h:6379/0", "redis://u:hunter2@h:6379/-4",
        "redis://:hunter2@",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(parse(bad[i]) == -1, "'%s' accepted", bad[i]);
        CHECK_MSG(err[0] != '\0', "'%s': no error text", bad[i]);
        CHECK_NOT_CONTAINS(err, "hunter2");
    }
}

TEST(redacted)
{
    char buf[512];
    REQUIRE_EQ_INT(parse("redis://user:pw123@host:6379/0"), 0);
    redisurl_redacted(&a, buf, sizeof buf);
    CHECK_EQ_STR(buf, "redis://user:***@host:6379/0");

    REQUIRE_EQ_INT(parse("redis://:pw123@host"), 0);
    redisurl_redacted(&a, buf, sizeof buf);
    CHECK_EQ_STR(buf, "redis://:***@host:6379/0");

    REQUIRE_EQ_INT(parse("redis://host:7000/3"), 0);
    redisurl_redacted(&a, buf, sizeof buf);
    CHECK_EQ_STR(buf, "redis://host:7000/3");

    REQUIRE_EQ_INT(parse("unix:///tmp/r.sock?db=3"), 0);
    redisurl_redacted(&a, buf, sizeof buf);
    CHECK_CONTAINS(buf, "/tmp/r.sock");
    CHECK_CONTAINS(buf, "3");

    /* A small buffer is truncated and terminated, and never shows the password. */
    REQUIRE_EQ_INT(parse("redis://user:pw123@host:6379/0"), 0);
    memset(buf, 'Z', sizeof buf);
    redisurl_redacted(&a, buf, 12);
    CHECK(strlen(buf) < 12);
    CHECK_NOT_CONTAINS(buf, "pw123");
}

UNIT_MAIN()
