#ifndef COMMON_RSCRIPT_H
#define COMMON_RSCRIPT_H
/* rscript: a Lua script run by its SHA-1 (EVALSHA), so that a script of a kilobyte is not sent,
 * hashed and parsed again with every call. When Redis does not have it (restarted, SCRIPT
 * FLUSH, a failover to a replica that never ran it, evicted from the script cache), the call is
 * made once more as EVAL, which loads it again; the callback sees only that second reply.
 *
 * The repeat goes after whatever was sent on the connection meanwhile, so use it for writes
 * that nothing else on the connection must follow (the worker's are: each run waits for its
 * write's reply before the next). */
#include "rconn.h"
#include "sha1.h"

struct rscript {
    const char *body;
    char sha[SHA1_HEX_LEN + 1];
};

/* Names `body` (which must outlive s) by its digest. */
void rscript_init(struct rscript *s, const char *body);

/* EVALSHA s with argv: the number of keys, the keys, the arguments (what follows the script in
 * EVAL); argvlen may be NULL for C strings. The arguments are copied. cb as in rconn_command. */
void rscript_eval(struct rconn *rc, const struct rscript *s, rconn_reply_fn *cb, void *arg, int argc,
                  const char **argv, const size_t *argvlen);

#endif
