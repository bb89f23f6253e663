#ifndef SIM_HASH_H
#define SIM_HASH_H
/* hash: the stable 64-bit hashes behind every "deterministic" value of the sim (model digests,
 * tool call ids). Stable across runs and machines, so two sims agree. Not cryptographic. */
#include <stddef.h>
#include <stdint.h>

#define HASH_SEED 0xcbf29ce484222325ULL /* the FNV-1a 64-bit offset basis */

/* FNV-1a over n bytes, continuing from h (start with HASH_SEED). */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n);
/* splitmix64's finaliser: spreads every input bit over the output. */
uint64_t hash_mix(uint64_t x);
/* Writes 2*nwords lowercase hex digits of a hash chain seeded by s, plus a NUL, into out
 * (which holds at least 16*nwords+1 bytes). */
void hash_hex(const char *s, size_t nwords, char *out);

#endif
