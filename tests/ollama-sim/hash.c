/* hash: FNV-1a for feeding bytes, splitmix64's finaliser for mixing, and a hex chain built
 * from both. A model digest is four chained words: w0 = mix(fnv(name)), w(i+1) = mix(w(i) + i+1),
 * printed as 64 hex digits: deterministic from the name, so every sim agrees on it. */
#include "hash.h"

#include <stdio.h>
#include <string.h>

uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t hash_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void hash_hex(const char *s, size_t nwords, char *out)
{
    uint64_t w = hash_mix(hash_fnv1a(HASH_SEED, s, strlen(s)));
    for (size_t i = 0; i < nwords; i++) {
        snprintf(out + 16 * i, 17, "%016llx", (unsigned long long)w);
        w = hash_mix(w + i + 1);
    }
    out[16 * nwords] = '\0';
}
