/* disp: the dispatcher's shared context. One synchronous hiredis connection (rcmd) serves a whole
 * subcommand: a CLI does one thing and exits, so blocking calls are the simple, right tool here
 * (the worker's event-loop rules do not apply). Errors are reported once, at this boundary: a NULL
 * reply is a transport failure (exit 3, Redis unreachable), an error reply a runtime failure
 * (exit 1). Pipelines are redisAppendCommandArgv + redisGetReply, which hiredis flushes on the
 * first read. */
#include "disp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "keys.h"
#include "rerror.h"
#include "log.h"
#include "rcmd.h"
#include "sentinel.h"
#include "xalloc.h"

/* ---- String vector ---- */

void strvec_pushn(struct strvec *sv, const char *s, size_t len)
{
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 16;
        sv->v = xreallocarray(sv->v, sv->cap, sizeof *sv->v);
    }
    sv->v[sv->n++] = xstrndup(s, len);
}

void strvec_push(struct strvec *sv, const char *s) { strvec_pushn(sv, s, strlen(s)); }

long strvec_find(const struct strvec *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (!strcmp(sv->v[i], s))
            return (long)i;
    return -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strvec_sort(struct strvec *sv)
{
    if (sv->n > 1)
        qsort(sv->v, sv->n, sizeof *sv->v, cmp_str);
}

void strvec_free(struct strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof *sv);
}

/* ---- Redis command arguments ---- */

void rargs_addb(struct rargs *a, const char *s, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = xreallocarray(a->v, (size_t)a->cap, sizeof *a->v);
        a->len = xreallocarray(a->len, (size_t)a->cap, sizeof *a->len);
    }
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
}

void rargs_add(struct rargs *a, const char *s) { rargs_addb(a, s, strlen(s)); }

void rargs_addc(struct rargs *a, const char *s)
{
    strvec_push(&a->owned, s);
    rargs_add(a, a->owned.v[a->owned.n - 1]);
}

void rargs_addf(struct rargs *a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rargs_addc(a, buf);
}

void rargs_reset(struct rargs *a)
{
    a->n = 0;
    strvec_free(&a->owned);
}

void rargs_free(struct rargs *a)
{
    free(a->v);
    free(a->len);
    strvec_free(&a->owned);
    memset(a, 0, sizeof *a);
}

/* ---- Messages ---- */

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, "dispatcher: %s%s\n", prefix, buf);
}

void disp_errf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void disp_warnf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

/* ---- Setup and connection ---- */

int disp_setup(struct disp *d)
{
    char err[ERR_LEN];
    if (!keys_ns_valid(d->ns)) {
        disp_errf("--namespace/TURNQ_NAMESPACE: '%s' is not a namespace: use 1 to %d of A-Z a-z 0-9 . _ -",
                  d->ns, KEYS_NS_MAX);
        return EXIT_USAGE;
    }
    if (sentinel_setup(d->redis_url, d->sentinel, d->master, d->sentinel_pass, &d->addr, err) < 0) {
        disp_errf("%s", err);
        return EXIT_USAGE;
    }
    d->machines_given = d->machines_opt != NULL;
    if (!d->machines_given)
        return 0;
    char *copy = xstrdup(d->machines_opt);
    const char *items[DISP_MAX_MACHINES];
    int n = cfg_split_list(copy, items, DISP_MAX_MACHINES, err);
    int rc = 0;
    if (n < 0) {
        disp_errf("--machines/TURNQ_MACHINES: %s", err);
        rc = EXIT_USAGE;
        goto out;
    }
    d->weights = xcalloc((size_t)n + 1, sizeof *d->weights);
    for (int i = 0; i < n; i++) {
        /* "gpu1=2": a name, then an optional weight for the placement strategies. */
        char *eq = strchr(items[i], '=');
        double w = 1.0;
        if (eq) {
            *eq = '\0';
            char *end = NULL;
            errno = 0;
            w = strtod(eq + 1, &end);
            if (eq[1] == '\0' || *end != '\0' || errno != 0 || !(w > 0) || w > DISP_MAX_WEIGHT) {
                disp_errf("--machines/TURNQ_MACHINES: '%s=%s': the weight must be a positive number up to %g "
                          "(NAME=WEIGHT, e.g. gpu1=2; default 1)",
                          items[i], eq + 1, DISP_MAX_WEIGHT);
                rc = EXIT_USAGE;
                goto out;
            }
            d->weights_given = true;
        }
        if (!job_machine_valid(items[i])) {
            disp_errf("--machines/TURNQ_MACHINES: '%s' is not a machine name: use 1 to %d of A-Z a-z 0-9 . _ -",
                      items[i], JOB_MACHINE_MAX);
            rc = EXIT_USAGE;
            goto out;
        }
        if (strvec_find(&d->machines_arg, items[i]) >= 0) {
            disp_errf("--machines/TURNQ_MACHINES: '%s' is listed twice", items[i]);
            rc = EXIT_USAGE;
            goto out;
        }
        d->weights[d->machines_arg.n] = w;
        strvec_push(&d->machines_arg, items[i]);
    }
out:
    free(copy);
    return rc;
}

int disp_connect_quiet(struct disp *d, char err[ERR_LEN])
{
    if (d->c)
        return 0;
    char where[512];
    redisurl_redacted(&d->addr, where, sizeof where);
    log_debug("connecting to %s namespace=%s", where, d->ns);
    d->c = rcmd_connect(&d->addr, DISP_CONNECT_TIMEOUT_S, err);
    return d->c ? 0 : EXIT_REDIS;
}

int disp_connect(struct disp *d)
{
    char err[ERR_LEN];
    int rc = disp_connect_quiet(d, err);
    if (rc)
        disp_errf("cannot reach Redis: %s", err);
    return rc;
}

int disp_reconnect(struct disp *d, double within_s)
{
    if (d->c)
        redisFree(d->c);
    d->c = NULL;
    char err[ERR_LEN] = "";
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        d->c = rcmd_connect(&d->addr, DISP_CONNECT_TIMEOUT_S, err);
        if (d->c)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double spent = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (spent + DISP_RECONNECT_PAUSE_S > within_s)
            break;
        nanosleep(&(struct timespec){.tv_nsec = (long)(DISP_RECONNECT_PAUSE_S * 1e9)}, NULL);
    }
    disp_errf("cannot reach Redis again within %.0f s: %s", within_s, err);
    return EXIT_REDIS;
}

void disp_close(struct disp *d)
{
    if (d->c)
        redisFree(d->c);
    d->c = NULL;
    free(d->pending);
    d->pending = NULL;
    d->pend_head = d->pend_n = d->pend_cap = 0;
    strvec_free(&d->machines_arg);
    free(d->weights);
    d->weights = NULL;
}

double disp_weight(const struct disp *d, const char *machine)
{
    long i = d->machines_given ? strvec_find(&d->machines_arg, machine) : -1;
    return i >= 0 && d->weights ? d->weights[i] : 1.0;
}

/* ---- Commands ---- */

/* Translates a reply (or its absence) into an exit code, printing the reason. */
static int check_reply(struct disp *d, redisReply *r, const char *cmd)
{
    if (r == NULL) {
        disp_errf("lost the connection to Redis during %s: %s", cmd, d->c->errstr[0] ? d->c->errstr : "no reply");
        return EXIT_REDIS;
    }
    if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOPERM", 6)) {
        /* The ACL user may not run this or touch these keys: like a wrong password, a matter of
         * access to Redis, not of the experiments. */
        disp_errf("Redis refused %s: %s (the Redis user lacks a permission turnq needs on namespace %s; "
                  "see the README, \"Redis beyond one box\")", cmd, r->str, d->ns);
        freeReplyObject(r);
        return EXIT_REDIS;
    }
    const char *why = r->type == REDIS_REPLY_ERROR ? rerror_not_now(r->str) : NULL;
    if (why) {
        /* Redis is there but cannot serve now: a matter of the server, like a lost connection. */
        disp_errf("Redis cannot serve %s now: %s (%s)", cmd, r->str, why);
        freeReplyObject(r);
        return EXIT_REDIS;
    }
    if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "WRONGTYPE", 9)) {
        /* Nothing turnq writes makes this: something else keeps its own data under the name. */
        disp_errf("Redis refused %s: %s (a key in namespace %s is not what turnq keeps there: another "
                  "program may use the namespace; look with redis-cli TYPE KEY, or give turnq a "
                  "namespace of its own with --namespace)", cmd, r->str, d->ns);
        freeReplyObject(r);
        return EXIT_RUNTIME;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        disp_errf("Redis refused %s: %s", cmd, r->str);
        freeReplyObject(r);
        return EXIT_RUNTIME;
    }
    return 0;
}

int disp_command(struct disp *d, const struct rargs *a, redisReply **out)
{
    *out = redisCommandArgv(d->c, a->n, a->v, a->len);
    int rc = check_reply(d, *out, a->n ? a->v[0] : "?");
    if (rc)
        *out = NULL;
    return rc;
}

static void collect(struct rargs *a, const char *arg0, va_list ap)
{
    for (const char *s = arg0; s; s = va_arg(ap, const char *))
        rargs_add(a, s);
}

int disp_call(struct disp *d, redisReply **out, const char *arg0, ...)
{
    struct rargs a = {0};
    va_list ap;
    va_start(ap, arg0);
    collect(&a, arg0, ap);
    va_end(ap);
    int rc = disp_command(d, &a, out);
    rargs_free(&a);
    return rc;
}

/* The pending FIFO: "CMD FIRST-ARG" of each appended command, in order. */
static void pend_push(struct disp *d, const struct rargs *a)
{
    if (d->pend_n == d->pend_cap) {
        size_t cap = d->pend_cap ? d->pend_cap * 2 : 64;
        char(*v)[96] = xreallocarray(NULL, cap, sizeof *v);
        for (size_t i = 0; i < d->pend_n; i++)
            memcpy(v[i], d->pending[(d->pend_head + i) % d->pend_cap], sizeof *v);
        free(d->pending);
        d->pending = v;
        d->pend_cap = cap;
        d->pend_head = 0;
    }
    /* memcpy, not snprintf: a submission appends hundreds of thousands of commands */
    char *slot = d->pending[(d->pend_head + d->pend_n) % d->pend_cap];
    size_t l0 = a->n ? (a->len[0] < 40 ? a->len[0] : 40) : 0, l1 = a->n > 1 ? (a->len[1] < 50 ? a->len[1] : 50) : 0;
    memcpy(slot, a->n ? a->v[0] : "", l0);
    slot[l0] = ' ';
    memcpy(slot + l0 + 1, a->n > 1 ? a->v[1] : "", l1);
    slot[l0 + (l1 ? 1 + l1 : 0)] = '\0';
    d->pend_n++;
}

static const char *pend_pop(struct disp *d, char buf[96])
{
    if (!d->pend_n)
        return "a pipelined command";
    memcpy(buf, d->pending[d->pend_head], 96);
    d->pend_head = (d->pend_head + 1) % d->pend_cap;
    d->pend_n--;
    return buf;
}

/* Appends the decimal digits of v to out; returns the new end. */
static char *put_num(char *out, size_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        *out++ = tmp[--n];
    return out;
}

void disp_append(struct disp *d, const struct rargs *a)
{
    pend_push(d, a);
    /* The command in RESP, formatted here: hiredis's own formatting (sdscatfmt) cost a
     * submission more than parsing its input. */
    size_t len = 16;
    for (int i = 0; i < a->n; i++)
        len += a->len[i] + 32;
    char *buf = xmalloc(len), *o = buf;
    *o++ = '*';
    o = put_num(o, (size_t)a->n);
    *o++ = '\r';
    *o++ = '\n';
    for (int i = 0; i < a->n; i++) {
        *o++ = '$';
        o = put_num(o, a->len[i]);
        *o++ = '\r';
        *o++ = '\n';
        memcpy(o, a->v[i], a->len[i]);
        o += a->len[i];
        *o++ = '\r';
        *o++ = '\n';
    }
    /* Appending only fails on allocation, which our allocator policy treats as fatal anyway;
     * a failure would surface as a NULL reply in disp_reply. */
    (void)redisAppendFormattedCommand(d->c, buf, (size_t)(o - buf));
    free(buf);
}

void disp_appendv(struct disp *d, const char *arg0, ...)
{
    struct rargs a = {0};
    va_list ap;
    va_start(ap, arg0);
    collect(&a, arg0, ap);
    va_end(ap);
    disp_append(d, &a);
    rargs_free(&a);
}

int disp_reply(struct disp *d, redisReply **out)
{
    void *r = NULL;
    if (redisGetReply(d->c, &r) != REDIS_OK)
        r = NULL;
    *out = r;
    char what[96];
    int rc = check_reply(d, *out, pend_pop(d, what));
    if (rc)
        *out = NULL;
    return rc;
}

/* ---- Machines ---- */

int disp_machines(struct disp *d, struct strvec *out)
{
    if (d->machines_given) {
        for (size_t i = 0; i < d->machines_arg.n; i++)
            strvec_push(out, d->machines_arg.v[i]);
        return 0;
    }
    return disp_registered_machines(d, out);
}

int disp_registered_machines(struct disp *d, struct strvec *out)
{
    int rc = disp_connect(d);
    if (rc)
        return rc;
    redisReply *r;
    if ((rc = disp_call(d, &r, "SMEMBERS", key_machines(d->ns).s, NULL)))
        return rc;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        /* A name a worker could not have registered is skipped, so placement never
         * builds a key from garbage. */
        if (e->type == REDIS_REPLY_STRING && job_machine_valid(e->str))
            strvec_push(out, e->str);
        else if (e->type == REDIS_REPLY_STRING)
            disp_warnf("%s holds '%s', which is not a machine name; ignored", key_machines(d->ns).s, e->str);
    }
    freeReplyObject(r);
    strvec_sort(out);
    return 0;
}

int disp_workers_alive(struct disp *d, const struct strvec *machines, bool *alive)
{
    int rc = disp_connect(d);
    if (rc)
        return rc;
    for (size_t i = 0; i < machines->n; i++)
        disp_appendv(d, "EXISTS", key_worker(d->ns, machines->v[i]).s, NULL);
    for (size_t i = 0; i < machines->n; i++) {
        redisReply *r;
        if ((rc = disp_reply(d, &r)))
            return rc;
        alive[i] = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        freeReplyObject(r);
    }
    return 0;
}

/* ---- Misc ---- */

char *disp_read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (cap - n < 2) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    int saved = errno;
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        errno = saved ? saved : EIO;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- Sweep files (--sweep FILE of results, wait, watch) ---- */

int disp_read_sweep(const char *cmd, const char *path, struct job_list *list)
{
    size_t len;
    char *text = disp_read_all(path, &len);
    if (!text) {
        disp_errf("%s: --sweep %s: %s", cmd, path, strerror(errno));
        return EXIT_USAGE;
    }
    char err[ERR_LEN];
    int rc = job_list_add_input(list, text, len, !strcmp(path, "-") ? "stdin" : path, err);
    free(text);
    if (rc < 0) {
        disp_errf("%s: --sweep %s", cmd, err);
        return EXIT_USAGE;
    }
    return 0;
}

void disp_idlist_add(struct disp_idlist *l, const char *id)
{
    if (l->n++ < DISP_IDLIST_SHOWN && l->len < sizeof l->text - JOB_ID_MAX - 4)
        l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s%s", l->n > 1 ? ", " : "", id);
}

const char *disp_idlist_text(struct disp_idlist *l)
{
    if (l->n > DISP_IDLIST_SHOWN && l->len < sizeof l->text - 8)
        snprintf(l->text + l->len, sizeof l->text - l->len, ", ...");
    return l->text;
}

void disp_spec_check(struct disp_idlist *changed, const struct job *j, const char *spec, size_t len)
{
    /* The comparison submit makes (submit.c decide): the stored spec is the canonical text. */
    const char *canon = job_canonical_text(j);
    if (spec && (strlen(canon) != len || memcmp(canon, spec, len)))
        disp_idlist_add(changed, j->id);
}

void disp_spec_warn(struct disp_idlist *changed, const char *cmd, const char *path)
{
    if (!changed->n)
        return;
    disp_warnf("%s: --sweep %s: %zu experiment%s of the file differ%s from the spec submitted under %s id%s (%s): "
               "what is shown ran with the submitted spec (submit --force replaces ended ones)",
               cmd, path, changed->n, changed->n == 1 ? "" : "s", changed->n == 1 ? "s" : "",
               changed->n == 1 ? "its" : "their", changed->n == 1 ? "" : "s", disp_idlist_text(changed));
}

bool disp_state_ended(const char *state)
{
    return state && (!strcmp(state, "done") || !strcmp(state, "failed") || !strcmp(state, "cancelled"));
}

/* ---- Ids named on the command line ---- */

int disp_named_ids(struct disp *d, const char *cmd, const char **args, int nargs, struct strvec *out)
{
    struct strvec ids = {0};
    int rc = 0;
    for (int i = 0; i < nargs; i++) {
        if (!job_id_valid(args[i])) {
            disp_errf("%s: '%s' is not an experiment id: use 1 to %d of A-Z a-z 0-9 . _ : -; nothing changed", cmd,
                      args[i], JOB_ID_MAX);
            rc = EXIT_USAGE;
            goto out;
        }
        if (strvec_find(&ids, args[i]) < 0)
            strvec_push(&ids, args[i]);
    }
    if ((rc = disp_connect(d)))
        goto out;
    size_t unknown = 0;
    for (size_t base = 0; base < ids.n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < ids.n ? base + DISP_PIPELINE : ids.n;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "EXISTS", key_job(d->ns, ids.v[i]).s, NULL);
        for (size_t i = base; i < end; i++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                goto out;
            bool known = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
            freeReplyObject(r);
            if (!known && unknown++ < 20)
                disp_errf("%s: %s: unknown experiment id (no %s): it was never submitted", cmd, ids.v[i],
                          key_job(d->ns, ids.v[i]).s);
        }
    }
    if (unknown) {
        if (unknown > 20)
            disp_errf("%s: ... and %zu more unknown ids", cmd, unknown - 20);
        disp_errf("%s: nothing changed (%zu unknown id%s)", cmd, unknown, unknown > 1 ? "s" : "");
        rc = EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++)
        strvec_push(out, ids.v[i]);
out:
    strvec_free(&ids);
    return rc;
}

int disp_events_tail(struct disp *d, char *last, size_t n)
{
    redisReply *r;
    snprintf(last, n, "0-0");
    int rc = disp_call(d, &r, "XREVRANGE", key_events(d->ns).s, "+", "-", "COUNT", "1", NULL);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements >= 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(last, n, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    return 0;
}

int disp_all_ids(struct disp *d, struct strvec *out)
{
    redisReply *r;
    int rc = disp_call(d, &r, "ZRANGE", key_ids(d->ns).s, "0", "-1", NULL);
    if (rc)
        return rc;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            strvec_pushn(out, r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    return 0;
}

int disp_ids_in_state(struct disp *d, const char *const *states, struct strvec *out)
{
    redisReply *r;
    struct strvec ids = {0};
    int rc = disp_connect(d);
    if (rc || (rc = disp_all_ids(d, &ids))) {
        strvec_free(&ids);
        return rc;
    }
    for (size_t base = 0; rc == 0 && base < ids.n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < ids.n ? base + DISP_PIPELINE : ids.n;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "HGET", key_job(d->ns, ids.v[i]).s, "state", NULL);
        for (size_t i = base; i < end; i++) {
            if ((rc = disp_reply(d, &r)))
                break;
            for (size_t k = 0; r->type == REDIS_REPLY_STRING && states[k]; k++)
                if (!strcmp(r->str, states[k])) {
                    strvec_push(out, ids.v[i]);
                    break;
                }
            freeReplyObject(r);
        }
    }
    strvec_free(&ids);
    return rc;
}

json_t *disp_typed_id(struct disp *d, const char *id)
{
    const char *p = id + (id[0] == '-');
    if (!*p || strspn(p, "0123456789") != strlen(p) || !d->c)
        return json_string(id);
    redisReply *r;
    if (disp_call(d, &r, "HGET", key_job(d->ns, id).s, "spec", NULL))
        return json_string(id);
    json_t *out = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        json_t *spec = json_loadb(r->str, r->len, 0, NULL);
        json_t *v = json_object_get(spec, "id");
        if (json_is_integer(v))
            out = json_incref(v);
        json_decref(spec);
    }
    freeReplyObject(r);
    return out ? out : json_string(id);
}

char *disp_one_line(const char *s, char *buf, size_t n)
{
    size_t len = strlen(s), k = 0;
    for (; k < len && k + 1 < n; k++)
        buf[k] = (unsigned char)s[k] < 0x20 || s[k] == 0x7f ? ' ' : s[k];
    buf[k] = '\0';
    if (k < len && n > 4)
        memcpy(buf + n - 4, "...", 4);
    return buf;
}
