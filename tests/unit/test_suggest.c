/* test_suggest: the edit distance behind "did you mean ...?" */
#include "suggest.h"
#include "../lib/unit.h"

TEST(distance)
{
    CHECK_EQ_INT(suggest_distance("temperature", "temperature", 2), 0);
    CHECK_EQ_INT(suggest_distance("temprature", "temperature", 2), 1);  /* a deletion */
    CHECK_EQ_INT(suggest_distance("tempreature", "temperature", 2), 1); /* two neighbours swapped */
    CHECK_EQ_INT(suggest_distance("num_cxt", "num_ctx", 2), 1);
    CHECK_EQ_INT(suggest_distance("slot", "slots", 2), 1);
    CHECK_EQ_INT(suggest_distance("", "abc", 2), 3);                     /* beyond max: max + 1 */
    CHECK_EQ_INT(suggest_distance("abc", "xyz", 2), 3);
}

TEST(closest)
{
    const char *const names[] = {"temperature", "top_k", "top_p", "seed"};
    CHECK(suggest_closest("temprature", names, 4, 2) == names[0]);
    CHECK(suggest_closest("top_q", names, 4, 2) == NULL); /* top_k and top_p tie: no suggestion */
    CHECK(suggest_closest("colour", names, 4, 2) == NULL);
    CHECK(suggest_closest("sed", names, 4, 2) == names[3]);
}

UNIT_MAIN()
