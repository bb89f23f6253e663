/* metrics: `dispatcher metrics`, the Prometheus text exposition (0.0.4) of the namespace: per
 * machine (--machines, else the registered ones) its counters from NS:metrics:MACHINE, the
 * lengths of its queue and running lists, and the gauges of its live heartbeat. Four pipelined
 * reads per machine, nothing per experiment: cheap enough for a scrape every few seconds. The
 * metric set and its rendering are common/mstats.c, shared with `worker --metrics-file`. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "disp.h"
#include "keys.h"
#include "mstats.h"
#include "prom.h"
#include "xalloc.h"

static const char *opt_output;

static const struct cfg_opt metrics_opts[] = {
    {"output", 0, NULL, CFG_STR, &opt_output, 0, 0, "PATH",
     "write the text to PATH atomically (a temporary file, then rename) instead of stdout"},
    {NULL},
};

static int read_machine(struct disp *d, struct mstats_machine *m, json_t **hb)
{
    redisReply *r[4];
    int rc = 0;
    for (int k = 0; k < 4; k++) {
        if ((rc = disp_reply(d, &r[k]))) {
            while (k--)
                freeReplyObject(r[k]);
            return rc;
        }
    }
    for (size_t i = 0; r[0]->type == REDIS_REPLY_ARRAY && i + 1 < r[0]->elements; i += 2)
        if (r[0]->element[i]->type == REDIS_REPLY_STRING && r[0]->element[i + 1]->type == REDIS_REPLY_STRING)
            mstats_set_field(m, r[0]->element[i]->str, r[0]->element[i + 1]->str);
    m->queue_depth = r[1]->type == REDIS_REPLY_INTEGER ? r[1]->integer : -1;
    m->running_depth = r[2]->type == REDIS_REPLY_INTEGER ? r[2]->integer : -1;
    *hb = r[3]->type == REDIS_REPLY_STRING ? json_loadb(r[3]->str, r[3]->len, 0, NULL) : NULL;
    if (r[3]->type == REDIS_REPLY_STRING && !json_is_object(*hb)) {
        /* A live key we cannot read: the worker is up, its gauges unknown. */
        json_decref(*hb);
        *hb = json_object();
    }
    mstats_set_heartbeat(m, *hb);
    for (int k = 0; k < 4; k++)
        freeReplyObject(r[k]);
    return 0;
}

static int metrics_run(struct disp *d, const char **args, int nargs)
{
    if (nargs) {
        disp_errf("metrics: unexpected argument '%s' (see metrics --help)", args[0]);
        return EXIT_USAGE;
    }
    int rc = disp_connect(d);
    if (rc)
        return rc;
    struct strvec names = {0};
    if ((rc = disp_machines(d, &names))) {
        strvec_free(&names);
        return rc;
    }
    struct mstats_machine *ms = xcalloc(names.n + 1, sizeof *ms);
    json_t **hbs = xcalloc(names.n + 1, sizeof *hbs);
    for (size_t i = 0; i < names.n; i++) {
        disp_appendv(d, "EVAL", MSTATS_READ_LUA, "1", key_metrics(d->ns, names.v[i]).s, NULL);
        disp_appendv(d, "LLEN", key_queue(d->ns, names.v[i]).s, NULL);
        disp_appendv(d, "LLEN", key_running(d->ns, names.v[i]).s, NULL);
        disp_appendv(d, "GET", key_worker(d->ns, names.v[i]).s, NULL);
    }
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        mstats_init(&ms[i], names.v[i]);
        rc = read_machine(d, &ms[i], &hbs[i]);
    }
    if (rc == 0) {
        struct buf out = {0};
        mstats_render(&out, ms, names.n);
        char err[ERR_LEN];
        if (opt_output) {
            if (prom_write_file(opt_output, buf_head(&out), buf_avail(&out), err) < 0) {
                disp_errf("metrics: --output %s", err);
                rc = EXIT_RUNTIME;
            }
        } else {
            fwrite(buf_head(&out), 1, buf_avail(&out), stdout);
        }
        buf_free(&out);
    }
    for (size_t i = 0; i < names.n; i++)
        json_decref(hbs[i]);
    free(hbs);
    free(ms);
    strvec_free(&names);
    return rc;
}

const struct disp_cmd metrics_cmd = {
    .name = "metrics",
    .synopsis = "metrics [--output PATH]",
    .summary = "print Prometheus metrics (text format 0.0.4) of every machine",
    .description =
        "Prints the Prometheus text exposition (version 0.0.4) of the namespace, labelled by machine\n"
        "(never by experiment): queue and running-list depths, experiments ended by outcome, requeues,\n"
        "turns and /api/chat calls with duration histograms, tokens, worker up, slots and busy slots,\n"
        "Ollama up, breaker, build and model info. The counters are kept in Redis (NS:metrics:MACHINE)\n"
        "by the workers, so they survive worker restarts. The machines are --machines, else the\n"
        "registered ones. --output PATH writes the file atomically, e.g. for node_exporter's textfile\n"
        "collector from a timer on the queue host.\n",
    .opts = metrics_opts,
    .run = metrics_run,
};
