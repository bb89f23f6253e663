/* sha1: FIPS 180 test vectors, the block-boundary lengths, and agreement with Redis's own
 * script names (SCRIPT LOAD "return 1"). */
#include <string.h>

#include "../../common/sha1.h"
#include "../lib/unit.h"

static void check(const char *in, size_t len, const char *want)
{
    char out[SHA1_HEX_LEN + 1];
    sha1_hex(in, len, out);
    CHECK_EQ_STR(out, want);
}

TEST(sha1_fips_vectors)
{
    check("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: two tail blocks */
    check(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(sha1_block_boundaries)
{
    char a[1000];
    memset(a, 'a', sizeof a);
    check(a, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    check(a, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    check(a, 1000, "291e9a6c66994949b57ba5e650361e98fc36b1ba");
}

TEST(sha1_names_scripts_as_redis_does)
{
    check("return 1", 8, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

UNIT_MAIN()
