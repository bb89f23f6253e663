/* rerror: which Redis errors say "not now", matched on the whole first word. */
#include <stddef.h>

#include "../../common/rerror.h"
#include "../lib/unit.h"

TEST(rerror_not_now_errors_have_advice)
{
    CHECK(rerror_not_now("OOM command not allowed when used memory > 'maxmemory'.") != NULL);
    CHECK(rerror_not_now("READONLY You can't write against a read only replica.") != NULL);
    CHECK(rerror_not_now("BUSY Redis is busy running a script.") != NULL);
    CHECK(rerror_not_now("LOADING Redis is loading the dataset in memory") != NULL);
    CHECK(rerror_not_now("MASTERDOWN Link with MASTER is down") != NULL);
}

TEST(rerror_other_errors_are_not)
{
    CHECK(rerror_not_now("WRONGTYPE Operation against a key holding the wrong kind of value") == NULL);
    CHECK(rerror_not_now("NOPERM this user has no permissions") == NULL);
    CHECK(rerror_not_now("BUSYGROUP Consumer Group name already exists") == NULL);
    CHECK(rerror_not_now("ERR unknown command") == NULL);
    CHECK(rerror_not_now("") == NULL);
}

UNIT_MAIN()
