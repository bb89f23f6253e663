/* rerror: the error prefixes Redis uses for "cannot serve now", with advice for a person. */
#include "rerror.h"

#include <string.h>

const char *rerror_not_now(const char *err)
{
    static const struct {
        const char *prefix, *advice;
    } v[] = {
        {"OOM", "Redis is at its maxmemory and refuses writes: free memory or raise maxmemory"},
        {"READONLY", "this Redis is a read-only replica: give --redis the primary, or use --sentinel"},
        {"LOADING", "Redis is loading its data set: try again in a moment"},
        {"BUSY", "Redis is running a long script: try again in a moment"},
        {"MASTERDOWN", "this replica has lost its primary: try again once it is back, or use --sentinel"},
        {"NOREPLICAS", "Redis has too few replicas for its min-replicas-to-write: try again"},
        {"TRYAGAIN", "try again"},
        {"CLUSTERDOWN", "the Redis cluster is down: try again once it is back"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].prefix);
        if (!strncmp(err, v[i].prefix, n) && (err[n] == ' ' || err[n] == '\0'))
            return v[i].advice;
    }
    return NULL;
}
