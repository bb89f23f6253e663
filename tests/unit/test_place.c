/* test_place: placement (common/place.h). Pins the documented hash (FNV-1a 64 + splitmix64),
 * and checks the properties SPEC "Placement" promises: order independence, even spread, and
 * that adding a machine moves about 1/(N+1) of the ids, all of them to the new machine. */
#include <stdio.h>
#include <string.h>

#include "../lib/unit.h"
#include "place.h"

#define NIDS 10000

/* The header's hash, written again from its comment, so an accidental change is caught. */
static uint64_t ref_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static const char *id_of(int i)
{
    static char buf[8][32];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 32, "exp-%d", i);
    return b;
}

TEST(hash64_golden_values)
{
    /* Golden values computed outside C (Python) from the header's description. */
    CHECK_EQ_U64(place_hash64("a", 1), 0x02c0bdbf481420f8ull);
    CHECK_EQ_U64(place_hash64("", 0), 0xf52a15e9a9b5e89bull);
    CHECK_EQ_U64(place_hash64("foobar", 6), 0x404da9e3b74078c2ull);
    CHECK_EQ_U64(ref_hash64("a", 1), 0x02c0bdbf481420f8ull);
    CHECK_EQ_U64(ref_hash64("", 0), 0xf52a15e9a9b5e89bull);
}

TEST(hash64_matches_reference_on_many_inputs)
{
    char buf[64];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof buf, "gpu%d\nexp-%d", i % 17, i);
        if (!CHECK_EQ_U64(place_hash64(buf, (size_t)n), ref_hash64(buf, (size_t)n)))
            break;
    }
    /* Binary-safe: bytes after a NUL count. */
    CHECK(place_hash64("a\0b", 3) != place_hash64("a", 1));
}

TEST(score_is_hash_of_machine_newline_id)
{
    CHECK_EQ_U64(place_score("gpu1", "B3"), 0x83e1b4e4182687faull);
    CHECK_EQ_U64(place_score("gpu2", "B3"), 0xbfd318a859933c7eull);
    CHECK_EQ_U64(place_score("m", "x"), ref_hash64("m\nx", 3));
}

TEST(hash_picks_highest_score)
{
    const char *m[] = {"gpu1", "gpu2", "gpu3", "box-a", "box.b"};
    for (int i = 0; i < 500; i++) {
        const char *id = id_of(i);
        int best = 0;
        for (int k = 1; k < 5; k++)
            if (place_score(m[k], id) > place_score(m[best], id))
                best = k;
        if (!CHECK_EQ_INT(place_hash(id, m, 5), best))
            break;
    }
}

/* Heap's algorithm over a copy of names; for each permutation, every id lands on the same name. */
static int perm_fail, perm_count;
static void check_perm(const char **v, size_t n, const char *const *orig, size_t no)
{
    perm_count++;
    for (int i = 0; i < 200 && !perm_fail; i++) {
        const char *id = id_of(i);
        const char *want = orig[place_hash(id, orig, no)];
        int got = place_hash(id, v, n);
        if (!CHECK_MSG(got >= 0 && strcmp(v[got], want) == 0, "id %s: %s in one order, %s in another",
                       id, want, got >= 0 ? v[got] : "(-1)"))
            perm_fail = 1;
    }
}
static void permute(const char **v, size_t k, size_t n, const char *const *orig)
{
    if (k == 1) {
        check_perm(v, n, orig, n);
        return;
    }
    permute(v, k - 1, n, orig);
    for (size_t i = 0; i + 1 < k && !perm_fail; i++) {
        size_t j = k % 2 ? 0 : i;
        const char *t = v[j];
        v[j] = v[k - 1], v[k - 1] = t;
        permute(v, k - 1, n, orig);
    }
}

TEST(hash_independent_of_machine_order)
{
    static const char *const lists[][5] = {
        {"gpu1", "gpu2"},
        {"gpu1", "gpu2", "gpu3"},
        {"a", "b", "c", "d"},
        {"gpu1", "gpu10", "gpu2", "gpu20", "x.y-z"},
    };
    static const size_t sizes[] = {2, 3, 4, 5};
    static const int factorial[] = {2, 6, 24, 120};
    for (size_t l = 0; l < 4; l++) {
        const char *v[5];
        memcpy(v, lists[l], sizeof v);
        perm_count = 0;
        permute(v, sizes[l], sizes[l], lists[l]);
        CHECK_EQ_INT(perm_count, perm_fail ? perm_count : factorial[l]);
    }
}

TEST(hash_spreads_evenly)
{
    const char *m[] = {"gpu1", "gpu2", "gpu3", "gpu4", "gpu5", "gpu6", "gpu7", "gpu8"};
    for (size_t n = 1; n <= 8; n++) {
        int count[8] = {0};
        for (int i = 0; i < NIDS; i++) {
            int k = place_hash(id_of(i), m, n);
            REQUIRE_MSG(k >= 0 && (size_t)k < n, "index %d out of 0..%zu", k, n - 1);
            count[k]++;
        }
        double want = (double)NIDS / (double)n;
        for (size_t k = 0; k < n; k++)
            CHECK_MSG(count[k] >= 0.8 * want && count[k] <= 1.2 * want,
                      "%zu machines: %s got %d ids, expected %.0f +-20%%", n, m[k], count[k], want);
    }
}

TEST(adding_a_machine_moves_about_one_in_n_plus_1_all_to_it)
{
    const char *m[] = {"gpu1", "gpu2", "gpu3", "gpu4", "gpu5", "gpu6", "gpu7", "gpu8"};
    for (size_t n = 1; n < 8; n++) {
        /* The new machine goes first in the list, so indices shift: compare names. */
        const char *grown[8];
        grown[0] = m[n];
        for (size_t k = 0; k < n; k++)
            grown[k + 1] = m[k];
        int moved = 0, wrong = 0;
        for (int i = 0; i < NIDS; i++) {
            const char *before = m[place_hash(id_of(i), m, n)];
            const char *after = grown[place_hash(id_of(i), grown, n + 1)];
            if (strcmp(before, after) != 0) {
                moved++;
                wrong += strcmp(after, m[n]) != 0;
            }
        }
        double want = (double)NIDS / (double)(n + 1);
        CHECK_MSG(moved >= 0.8 * want && moved <= 1.2 * want, "%zu -> %zu machines: %d ids moved, expected %.0f +-20%%",
                  n, n + 1, moved, want);
        CHECK_MSG(wrong == 0, "%zu -> %zu machines: %d ids moved between old machines", n, n + 1, wrong);
    }
}

TEST(hash_no_machines)
{
    CHECK_EQ_INT(place_hash("B3", NULL, 0), -1);
    const char *one[] = {"gpu1"};
    CHECK_EQ_INT(place_hash("B3", one, 1), 0);
}

TEST(mod_is_the_seed_split)
{
    for (size_t k = 1; k <= 12; k++)
        CHECK_MSG(place_mod(k, 2) == (k % 2 ? 0 : 1), "k=%zu: got %d", k, place_mod(k, 2));
    CHECK_EQ_INT(place_mod(1, 3), 0);
    CHECK_EQ_INT(place_mod(3, 3), 2);
    CHECK_EQ_INT(place_mod(4, 3), 0);
    CHECK_EQ_INT(place_mod(7, 1), 0);
    CHECK_EQ_INT(place_mod(1, 0), -1);
    CHECK_EQ_INT(place_mod(0, 2), -1);
}

UNIT_MAIN()
