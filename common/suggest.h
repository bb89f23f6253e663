#ifndef COMMON_SUGGEST_H
#define COMMON_SUGGEST_H
/* suggest: "did you mean ...?" for a misspelt name: the closest of a list of known names. */
#include <stddef.h>

/* The name of `names` (n of them) closest to `word` by edit distance (insertions, deletions,
 * substitutions and swaps of two neighbours, each costing 1), when that distance is at most
 * `max` and no other name is as close; else NULL. Borrowed from names. */
const char *suggest_closest(const char *word, const char *const *names, size_t n, int max);

/* The edit distance between a and b as above, or max + 1 when it is larger than max. */
int suggest_distance(const char *a, const char *b, int max);

#endif
