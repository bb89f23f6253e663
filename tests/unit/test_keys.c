/* test_keys: the Redis key names (common/keys.h) are SPEC "Redis key layout", exactly. */
#include <string.h>

#include "../lib/unit.h"
#include "job.h"
#include "keys.h"

TEST(spec_key_layout)
{
    CHECK_EQ_STR(key_ids("turnq").s, "turnq:ids");
    CHECK_EQ_STR(key_queue("turnq", "gpu1").s, "turnq:queue:gpu1");
    CHECK_EQ_STR(key_running("turnq", "gpu1").s, "turnq:running:gpu1");
    CHECK_EQ_STR(key_job("turnq", "B3").s, "turnq:job:B3");
    CHECK_EQ_STR(key_turns("turnq", "B3").s, "turnq:turns:B3");
    CHECK_EQ_STR(key_result("turnq", "B3").s, "turnq:result:B3");
    CHECK_EQ_STR(key_dead("turnq").s, "turnq:dead");
    CHECK_EQ_STR(key_worker("turnq", "gpu2").s, "turnq:worker:gpu2");
    CHECK_EQ_STR(key_machines("turnq").s, "turnq:machines");
    CHECK_EQ_STR(key_events("turnq").s, "turnq:events");
    /* Additions beyond the SPEC table. */
    CHECK_EQ_STR(key_transcript("t1", "42").s, "t1:transcript:42");
    CHECK_EQ_STR(key_lastseen("t1").s, "t1:lastseen");
    CHECK_EQ_STR(key_metrics("t1", "gpu1").s, "t1:metrics:gpu1");
}

TEST(longest_names_fit)
{
    char ns[KEYS_NS_MAX + 1], id[JOB_ID_MAX + 1], m[JOB_MACHINE_MAX + 1], want[KEYS_MAX * 2];
    memset(ns, 'n', KEYS_NS_MAX), ns[KEYS_NS_MAX] = '\0';
    memset(id, 'i', JOB_ID_MAX), id[JOB_ID_MAX] = '\0';
    memset(m, 'm', JOB_MACHINE_MAX), m[JOB_MACHINE_MAX] = '\0';
    snprintf(want, sizeof want, "%s:transcript:%s", ns, id);
    CHECK_EQ_STR(key_transcript(ns, id).s, want);
    snprintf(want, sizeof want, "%s:running:%s", ns, m);
    CHECK_EQ_STR(key_running(ns, m).s, want);
}

TEST(namespace_valid)
{
    char ns[KEYS_NS_MAX + 2];
    CHECK(keys_ns_valid("turnq"));
    CHECK(keys_ns_valid("t123x4567"));
    CHECK(keys_ns_valid("a.b_c-D"));
    CHECK(!keys_ns_valid(""));
    CHECK(!keys_ns_valid("a:b")); /* ':' separates key parts */
    CHECK(!keys_ns_valid("a b"));
    CHECK(!keys_ns_valid("a*"));
    memset(ns, 'n', sizeof ns);
    ns[KEYS_NS_MAX] = '\0';
    CHECK(keys_ns_valid(ns));
    ns[KEYS_NS_MAX] = 'n';
    ns[KEYS_NS_MAX + 1] = '\0';
    CHECK(!keys_ns_valid(ns));
}

UNIT_MAIN()
