/* suggest: optimal string alignment distance (Levenshtein plus the swap of two neighbouring
 * characters, the commonest typo), on short names only: a row-by-row table, no allocation. */
#include "suggest.h"

#include <stdbool.h>
#include <string.h>

#define SUGGEST_MAX_LEN 64 /* longer words are never suggested for */

static int min3(int a, int b, int c)
{
    int m = a < b ? a : b;
    return m < c ? m : c;
}

int suggest_distance(const char *a, const char *b, int max)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
        return max + 1;
    if ((la > lb ? la - lb : lb - la) > (size_t)max)
        return max + 1;
    /* Three rows of the table: i-2, i-1, i. */
    int rows[3][SUGGEST_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        rows[1][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int *cur = rows[(i + 1) % 3], *prev = rows[i % 3], *prev2 = rows[(i + 2) % 3];
        cur[0] = (int)i;
        int best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
            if (cur[j] < best)
                best = cur[j];
        }
        if (best > max)
            return max + 1;
    }
    int d = rows[(la + 1) % 3][lb];
    return d > max ? max + 1 : d;
}

const char *suggest_closest(const char *word, const char *const *names, size_t n, int max)
{
    const char *best = NULL;
    int bestd = max + 1;
    bool tie = false;
    for (size_t i = 0; i < n; i++) {
        int d = suggest_distance(word, names[i], max);
        if (d < bestd) {
            best = names[i];
            bestd = d;
            tie = false;
        } else if (d == bestd && d <= max) {
            tie = true;
        }
    }
    return bestd <= max && !tie ? best : NULL;
}
