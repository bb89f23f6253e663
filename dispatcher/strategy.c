/* strategy: the C side of placement (see strategy.h for the formulas, which are part of the
 * contract: with the same machines and weights an id always maps to the same machine). */
#include "strategy.h"

#include <math.h>
#include <string.h>

#include "place.h"

static const char *const names[] = {
    [STRATEGY_HASH] = "hash",
    [STRATEGY_MOD] = "mod",
    [STRATEGY_LEAST_LOADED] = "least-loaded",
    [STRATEGY_MODEL] = "model",
};

int strategy_parse(const char *name, enum strategy *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) {
            *out = (enum strategy)i;
            return 0;
        }
    return -1;
}

const char *strategy_name(enum strategy s) { return names[s]; }

bool weights_uniform(const double *w, size_t n)
{
    for (size_t i = 1; w && i < n; i++)
        if (w[i] != w[0])
            return false;
    return true;
}

bool weights_whole(const double *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++)
        if (w[i] < 1 || w[i] != floor(w[i]))
            return false;
    return true;
}

double place_unit(uint64_t h)
{
    /* The top 53 bits, as many as a double holds exactly, centred in their interval so that
     * neither 0 nor 1 can come out (ln(u) is then finite and negative). */
    return ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* 2^53 */
}

int place_hash_weighted(const char *id, const char *const *machines, const double *w, size_t n)
{
    if (weights_uniform(w, n))
        return place_hash(id, machines, n);
    int best = -1;
    double best_score = 0;
    for (size_t i = 0; i < n; i++) {
        double s = -w[i] / log(place_unit(place_score(machines[i], id)));
        if (best < 0 || s > best_score || (s == best_score && strcmp(machines[i], machines[best]) < 0)) {
            best = (int)i;
            best_score = s;
        }
    }
    return best;
}

int place_mod_weighted(size_t k, const double *w, size_t n)
{
    if (n == 0 || k == 0)
        return -1;
    if (!w)
        return place_mod(k, n);
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    double pos = fmod((double)(k - 1), total); /* whole numbers: exact below 2^53 */
    for (size_t i = 0; i < n; i++) {
        if (pos < w[i])
            return (int)i;
        pos -= w[i];
    }
    return (int)(n - 1);
}
