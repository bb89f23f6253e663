/* ollama-sim: a deterministic stand-in for an Ollama GPU box (SPEC "bin/ollama-sim"), used by
 * turnq's tests, demo and benchmarks. main only wires the parts, as beanstalkd's main does:
 * flags (opts.c), the model registry (models.c), the request log (reqlog.c), the chat engine
 * (chat.c), the route table (router.c) and the HTTP server (httpd.c), on one libev loop.
 * SIGTERM and SIGINT end the loop at once (no drain: a GPU box going away is what tests want);
 * everything is then freed so valgrind and ASan runs stay clean.
 * Exit codes: 0 after a signal, 1 when it cannot listen or write --port-file, 2 on bad flags. */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "err.h"
#include "httpd.h"
#include "log.h"
#include "models.h"
#include "opts.h"
#include "reqlog.h"
#include "router.h"
#include "xalloc.h"

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    log_info("signal %d: exiting", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

/* Writes the port to path via a temporary file and rename, so a reader never sees a partial
 * number. 0 or -1 with the reason in err. */
static int write_port_file(const char *path, int port, char err[ERR_LEN])
{
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%d\n", port) > 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        set_err(err, "--port-file %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_opts o = OPTS_DEFAULTS;
    char err[ERR_LEN];
    log_init("ollama-sim");
    int rc = opts_parse(argc, argv, &o, err);
    if (rc == 1)
        return EXIT_OK;
    if (rc != 0) {
        fprintf(stderr, "ollama-sim: %s\n", err);
        return EXIT_USAGE;
    }
    if (o.verbose)
        log_level = LOG_DEBUG;
    struct models *models = models_new(o.models, err);
    if (!models) {
        fprintf(stderr, "ollama-sim: %s\n", err);
        return EXIT_USAGE;
    }
    struct reqlog *rlog = reqlog_open(o.log_path, err);
    if (!rlog) {
        fprintf(stderr, "ollama-sim: %s\n", err);
        models_free(models);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_default_loop(0);
    struct chat *chat = chat_new(loop, &o, models, rlog);
    struct router *router = router_new(loop, o.version, o.num_ctx, models, chat, rlog);
    struct httpd_handler h = {
        .on_headers = router_on_headers,
        .on_request = router_on_request,
        .on_reject = router_on_reject,
        .ud = router,
    };
    int status = EXIT_OK;
    struct httpd *srv = httpd_new(loop, o.port, &h, err);
    if (!srv || (o.port_file && write_port_file(o.port_file, httpd_port(srv), err) != 0)) {
        fprintf(stderr, "ollama-sim: %s\n", err);
        status = EXIT_RUNTIME;
        goto out;
    }
    ev_signal sigterm, sigint;
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(loop, &sigterm);
    ev_signal_start(loop, &sigint);
    ev_unref(loop), ev_unref(loop); /* the signal watchers alone do not keep the loop alive */
    log_info("listening on 127.0.0.1:%d version=%s models=%s actions=%d latency_ms=%d token_ms=%d "
             "load_ms=%d evict_every=%d context_length=%d num_ctx=%d parallel=%d fail_every=%d fail_mode=%s log=%s",
             httpd_port(srv), o.version, o.models, o.actions, o.latency_ms, o.token_ms, o.load_ms, o.evict_every, o.context_length, o.num_ctx, o.parallel,
             o.fail_every, opts_fault_name(o.fail_mode), o.log_path ? o.log_path : "-");
    ev_run(loop, 0);
    ev_ref(loop), ev_ref(loop);
    ev_signal_stop(loop, &sigterm);
    ev_signal_stop(loop, &sigint);
out:
    httpd_free(srv); /* cancels open requests: their calls end through on_cancel */
    router_free(router);
    chat_free(chat);
    reqlog_free(rlog);
    models_free(models);
    ev_loop_destroy(loop);
    return status;
}
