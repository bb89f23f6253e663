/* rscript: EVALSHA, and EVAL once when Redis answers NOSCRIPT. */
#include "rscript.h"

#include <string.h>

#include "xalloc.h"

struct call {
    const struct rscript *s;
    rconn_reply_fn *cb;
    void *arg;
    bool again;         /* this is the EVAL after a NOSCRIPT */
    int argc;           /* 2 + the caller's: EVAL[SHA] and the script or its name first */
    const char **argv;
    size_t *lens;
    char *copy;         /* the caller's arguments, back to back */
};

static void send_call(struct rconn *rc, struct call *c);

static void on_reply(struct rconn *rc, redisReply *reply, void *arg)
{
    struct call *c = arg;
    if (!c->again && reply && reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "NOSCRIPT", 8)) {
        c->again = true;
        send_call(rc, c);
        return;
    }
    if (c->cb)
        c->cb(rc, reply, c->arg);
    free(c->copy);
    free(c->argv);
    free(c->lens);
    free(c);
}

static void send_call(struct rconn *rc, struct call *c)
{
    c->argv[0] = c->again ? "EVAL" : "EVALSHA";
    c->argv[1] = c->again ? c->s->body : c->s->sha;
    c->lens[0] = strlen(c->argv[0]);
    c->lens[1] = strlen(c->argv[1]);
    rconn_command_argv(rc, on_reply, c, c->argc, c->argv, c->lens);
}

void rscript_init(struct rscript *s, const char *body)
{
    s->body = body;
    sha1_hex(body, strlen(body), s->sha);
}

void rscript_eval(struct rconn *rc, const struct rscript *s, rconn_reply_fn *cb, void *arg, int argc,
                  const char **argv, const size_t *argvlen)
{
    struct call *c = xcalloc(1, sizeof *c);
    c->s = s;
    c->cb = cb;
    c->arg = arg;
    c->argc = argc + 2;
    c->argv = xcalloc((size_t)c->argc, sizeof *c->argv);
    c->lens = xcalloc((size_t)c->argc, sizeof *c->lens);
    size_t total = 0;
    for (int i = 0; i < argc; i++) {
        c->lens[i + 2] = argvlen ? argvlen[i] : strlen(argv[i]);
        total += c->lens[i + 2];
    }
    c->copy = xmalloc(total ? total : 1);
    char *p = c->copy;
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], c->lens[i + 2]);
        c->argv[i + 2] = p;
        p += c->lens[i + 2];
    }
    send_call(rc, c);
}
