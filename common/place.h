#ifndef COMMON_PLACE_H
#define COMMON_PLACE_H
/* Placement: which machine's queue an experiment goes to (SPEC "Placement").
 *
 * hash: rendezvous (highest-random-weight) hashing. For experiment id X and machine M the score
 * is place_hash64(M "\n" X); the machine with the highest score wins, ties going to the smaller
 * name. The result depends only on the set of names, not on their order, and adding an N+1-th
 * machine moves only the ids whose new top score is the new machine: about 1/(N+1) of them.
 *
 * place_hash64 is 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the
 * bytes, followed by the splitmix64 finaliser (xor-shift 30, * 0xbf58476d1ce4e5b9, xor-shift 27,
 * * 0x94d049bb133111eb, xor-shift 31) so that similar names ("gpu1", "gpu2") spread well. */
#include <stddef.h>
#include <stdint.h>

uint64_t place_hash64(const void *data, size_t len);

/* The rendezvous score of (machine, id). */
uint64_t place_score(const char *machine, const char *id);

/* Returns the index in machines[0..n) of the machine id goes to under `hash`; -1 when n == 0. */
int place_hash(const char *id, const char *const *machines, size_t n);

/* `mod`, the seed's split: the k-th experiment of the input (k from 1) goes to machine
 * (k-1) mod n of the list as given. Returns that index; -1 when n == 0 or k == 0. */
int place_mod(size_t k, size_t n);

#endif
