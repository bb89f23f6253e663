/* batch: one EVALSHA (rscript.h) of a small interpreter script: check the fence, then run each command.
 * ARGV is: token, attempt ("" for no attempt check), the experiment id (for the running-list
 * check), "1" for best effort, the job's expected `turn` ("" for none), then per command its
 * argument count and arguments. Scripts are atomic in Redis, so the fence and the writes cannot be separated. */
#include "batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rscript.h"
#include "xalloc.h"

static const char fence_script[] =
    "local hb = redis.call('GET', KEYS[1])\n"
    "if not hb then return redis.error_reply('FENCED this worker no longer holds the machine (lease expired)') end\n"
    /* The worker writes "token" second in its heartbeat: a plain search of the head is enough,
     * and much cheaper than decoding a heartbeat that lists every running experiment. */
    "if not string.find(string.sub(hb, 1, 256), '\"token\":\"' .. ARGV[1] .. '\"', 1, true) then\n"
    "  return redis.error_reply('FENCED another worker holds the machine') end\n"
    "local job = KEYS[2] and (ARGV[2] ~= '' or ARGV[5] ~= '') and redis.call('HMGET', KEYS[2], 'attempts', 'turn')\n"
    "if job and ARGV[2] ~= '' and job[1] ~= ARGV[2] then\n"
    "  return redis.error_reply('FENCED a newer attempt of this experiment has started') end\n"
    "if KEYS[3] and not redis.call('LPOS', KEYS[3], ARGV[3]) then\n"
    "  return redis.error_reply('FENCED the experiment is no longer in this machine\\'s running list (recovered or cancelled)') end\n"
    "if job and ARGV[5] ~= '' and (job[2] or '0') ~= ARGV[5] then\n"
    "  return redis.error_reply('FENCED the experiment is not at the turn this write expects') end\n"
    "local call = ARGV[4] == '1' and redis.pcall or redis.call\n"
    "local out, i = {}, 6\n"
    "while i <= #ARGV do\n"
    "  local n, c = tonumber(ARGV[i]), call\n"
    /* A negative count: a soft command (batch_add_soft), whose failure is its own. */
    "  if n < 0 then n, c = -n, redis.pcall end\n"
    "  out[#out + 1] = c(unpack(ARGV, i + 1, i + n))\n"
    "  i = i + n + 1\n"
    "end\n"
    "return out\n";

struct batch {
    char **argv;  /* the script's ARGV after the fence's: count, args, count, args ... */
    int argc, cap;
    bool best_effort; /* each command may fail (redis.pcall) without undoing the others */
    char expect_turn[16]; /* "" or the job hash's `turn` the write requires */
};

struct batch *batch_new(void)
{
    return xcalloc(1, sizeof(struct batch));
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->argc; i++)
        free(b->argv[i]);
    free(b->argv);
    free(b);
}

static void push(struct batch *b, char *s)
{
    if (b->argc == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        b->argv = xreallocarray(b->argv, (size_t)b->cap, sizeof *b->argv);
    }
    b->argv[b->argc++] = s;
}

void batch_best_effort(struct batch *b)
{
    b->best_effort = true;
}

void batch_expect_turn(struct batch *b, int turn)
{
    snprintf(b->expect_turn, sizeof b->expect_turn, "%d", turn);
}

static void add_v(struct batch *b, bool soft, const char *arg, va_list ap)
{
    int count_at = b->argc;
    push(b, NULL); /* the count, filled in below */
    int n = 0;
    for (const char *a = arg; a; a = va_arg(ap, const char *)) {
        push(b, xstrdup(a));
        n++;
    }
    b->argv[count_at] = xasprintf("%d", soft ? -n : n);
}

void batch_add(struct batch *b, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    add_v(b, false, arg, ap);
    va_end(ap);
}

void batch_add_soft(struct batch *b, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    add_v(b, true, arg, ap);
    va_end(ap);
}

void batch_exec(struct batch *b, struct rconn *rc, const char *heartbeat_key, const char *token,
                const char *job_key, int attempt, const char *running_key, const char *id, rconn_reply_fn *cb,
                void *arg)
{
    if (!job_key)
        running_key = NULL; /* the running-list check comes with the job check */
    static struct rscript fence;
    if (!fence.body)
        rscript_init(&fence, fence_script);
    int argc = 9 + b->argc; /* numkeys, 3 keys, token attempt id mode turn, the commands */
    const char **argv = xcalloc((size_t)argc, sizeof *argv);
    char attempt_s[16] = "";
    if (job_key && attempt > 0)
        snprintf(attempt_s, sizeof attempt_s, "%d", attempt);
    int k = 0;
    argv[k++] = running_key ? "3" : job_key ? "2" : "1";
    argv[k++] = heartbeat_key;
    if (job_key)
        argv[k++] = job_key;
    if (running_key)
        argv[k++] = running_key;
    argv[k++] = token;
    argv[k++] = attempt_s;
    argv[k++] = id ? id : "";
    argv[k++] = b->best_effort ? "1" : "0";
    argv[k++] = job_key ? b->expect_turn : "";
    for (int i = 0; i < b->argc; i++)
        argv[k++] = b->argv[i];
    rscript_eval(rc, &fence, cb, arg, k, argv, NULL);
    free(argv);
    batch_free(b);
}

bool batch_fenced(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "FENCED", 6);
}
