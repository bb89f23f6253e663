/* test_timefmt: ISO 8601 UTC text with milliseconds (common/timefmt.h), both ways. */
#include <string.h>

#include "../lib/unit.h"
#include "timefmt.h"

TEST(iso_golden_values)
{
    char buf[TIMEFMT_ISO_LEN];
    CHECK_EQ_STR(timefmt_iso(0, buf), "1970-01-01T00:00:00.000Z");
    CHECK_EQ_STR(timefmt_iso(1796288400123LL, buf), "2026-12-03T09:00:00.123Z");
    CHECK_EQ_STR(timefmt_iso(951868799999LL, buf), "2000-02-29T23:59:59.999Z");
    CHECK_EQ_STR(timefmt_iso(1005, buf), "1970-01-01T00:00:01.005Z");
    CHECK(timefmt_iso(5, buf) == buf);
}

TEST(round_trip)
{
    static const int64_t ms[] = {0, 1, 999, 1000, 1005, 951868799999LL, 1796288400123LL, 4102444800000LL,
                                 253402300799999LL /* 9999-12-31T23:59:59.999Z */};
    char buf[TIMEFMT_ISO_LEN];
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        CHECK_MSG(timefmt_parse_iso(timefmt_iso(ms[i], buf)) == ms[i], "%lld -> %s -> %lld", (long long)ms[i],
                  buf, (long long)timefmt_parse_iso(buf));
    int64_t now = timefmt_now_ms();
    CHECK(now > 1700000000000LL);
    CHECK_EQ_INT(timefmt_parse_iso(timefmt_iso(now, buf)), now);
}

TEST(parse_without_milliseconds)
{
    CHECK_EQ_INT(timefmt_parse_iso("2026-12-03T09:00:00Z"), 1796288400000LL);
    CHECK_EQ_INT(timefmt_parse_iso("1970-01-01T00:00:00Z"), 0);
    CHECK_EQ_INT(timefmt_parse_iso("2026-12-03T09:00:00.5Z"), 1796288400500LL);
}

TEST(parse_malformed)
{
    static const char *bad[] = {
        "", "x", "2026-12-03", "2026-12-03T09:00", "2026-12-03T09:00:00", "2026-12-03T09:00:00.123",
        "2026-12-03T09:00:00.123Zjunk", "2026-12-03 09:00:00Z", "2026/12/03T09:00:00Z", "2026-12-03T09:00:00+01:00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(timefmt_parse_iso(bad[i]) == -1, "'%s' gave %lld, not -1", bad[i],
                  (long long)timefmt_parse_iso(bad[i]));
}

/* Text that sscanf happens to read but that timefmt_iso never writes, and no user means. */
TEST(parse_out_of_range_or_sloppy_fields)
{
    static const char *bad[] = {
        "2026-13-03T09:00:00Z", "2026-12-32T09:00:00Z", "2026-12-03T25:00:00Z", "2026-12-03T09:61:00Z",
        "2026-02-30T09:00:00Z", "2026-1-3T9:0:0Z", " 2026-12-03T09:00:00Z", "2026-12-03T09:00:00.Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(timefmt_parse_iso(bad[i]) == -1, "'%s' gave %lld, not -1", bad[i],
                  (long long)timefmt_parse_iso(bad[i]));
}

UNIT_MAIN()
