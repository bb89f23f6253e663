/* place: rendezvous hashing and the seed's modulo split. See place.h for the exact hash, which is
 * part of the contract: ids must map to the same machines across versions. */
#include "place.h"

#include <string.h>

uint64_t place_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* splitmix64 finaliser: FNV alone leaves similar inputs with similar high bits. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

uint64_t place_score(const char *machine, const char *id)
{
    char buf[512];
    size_t ml = strlen(machine), il = strlen(id);
    if (ml + il + 1 > sizeof buf) {
        ml = ml > 255 ? 255 : ml;
        il = il > 255 ? 255 : il;
    }
    memcpy(buf, machine, ml);
    buf[ml] = '\n';
    memcpy(buf + ml + 1, id, il);
    return place_hash64(buf, ml + 1 + il);
}

int place_hash(const char *id, const char *const *machines, size_t n)
{
    int best = -1;
    uint64_t best_score = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = place_score(machines[i], id);
        if (best < 0 || s > best_score || (s == best_score && strcmp(machines[i], machines[best]) < 0)) {
            best = (int)i;
            best_score = s;
        }
    }
    return best;
}

int place_mod(size_t k, size_t n)
{
    if (n == 0 || k == 0)
        return -1;
    return (int)((k - 1) % n);
}
