#ifndef DISPATCHER_STRATEGY_H
#define DISPATCHER_STRATEGY_H
/* strategy: the placement strategies of `dispatcher submit --strategy` (README "Placement").
 *
 * hash and mod are decided here, in C, from the id and the input position alone. least-loaded
 * and model depend on what is already queued and running, so they are decided inside the submit
 * script (submit.c), atomically with the writes; this module only names them.
 *
 * Weights (--machines gpu1=2,gpu2=1, default 1):
 *   hash: weighted rendezvous hashing. For machine M of weight w and id X, with
 *         h = place_score(M, X) (common/place.h) and u = ((h >> 11) + 0.5) / 2^53, a number in
 *         (0, 1), the score is -w / ln(u); the highest score wins, ties to the smaller name. A
 *         machine then receives a share w / sum(w) of the ids, and changing one machine's
 *         weight or adding one moves only ids to or from that machine. When every weight is
 *         equal the plain place_hash is used, so unweighted placement is exactly what it was.
 *   mod:  each machine is repeated w times, in the order given, in the cycle the k-th
 *         experiment indexes ((k-1) mod sum(w)); the weights must then be whole numbers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum strategy { STRATEGY_HASH, STRATEGY_MOD, STRATEGY_LEAST_LOADED, STRATEGY_MODEL };

/* Parses a --strategy value. Returns 0, or -1 when it names no strategy. */
int strategy_parse(const char *name, enum strategy *out);
const char *strategy_name(enum strategy s);

/* true when all n weights are equal (or n < 2): weights then change nothing. */
bool weights_uniform(const double *w, size_t n);

/* true when every weight is a whole number (what weighted mod needs). */
bool weights_whole(const double *w, size_t n);

/* A 64-bit hash mapped to (0, 1): ((h >> 11) + 0.5) / 2^53. */
double place_unit(uint64_t h);

/* Weighted rendezvous hashing (above). w may be NULL (all 1). Returns the index in
 * machines[0..n), or -1 when n == 0. */
int place_hash_weighted(const char *id, const char *const *machines, const double *w, size_t n);

/* Weighted mod: the k-th experiment (k from 1) of the input. w (NULL: all 1) must hold whole
 * numbers >= 1. Returns the index in [0, n), or -1 when n == 0 or k == 0. */
int place_mod_weighted(size_t k, const double *w, size_t n);

#endif
