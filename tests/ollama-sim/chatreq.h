#ifndef SIM_CHATREQ_H
#define SIM_CHATREQ_H
/* chatreq: a POST /api/chat body, parsed and checked as strictly as Ollama's ChatHandler does,
 * in the same order, with the same status codes and error texts. */
#include <jansson.h>
#include <stddef.h>

#include "err.h"

#define CHATREQ_DEFAULT_CTX 4096 /* the server default num_ctx (Ollama below 23 GiB of VRAM) */

struct chatreq {
    json_t *root;      /* the parsed body; owned (chatreq_clear) */
    const char *model; /* borrowed from root; NULL when absent or not a string */
    json_t *messages;  /* borrowed; NULL when absent or null */
    long n_messages;   /* count, or -1 when messages is absent/invalid (the log's null) */
    json_t *tools;     /* borrowed; NULL when absent */
    size_t n_tools;
    int stream; /* default 1 */
    int has_keep_alive;
    double keep_alive_s; /* INFINITY: forever (a negative keep_alive) */
    int think;           /* think was true or a level */
    int num_ctx;         /* options.num_ctx, or the default (after check_options) */
    char *runner_sig;    /* the load-time options, for reload detection; owned */
};

/* Parses body into cr (zeroed first). Returns 0, or the HTTP status of the failure (400) with
 * Ollama's text in err. cr is filled as far as parsing got (model, n_messages) either way, and
 * must be cleared with chatreq_clear. */
int chatreq_parse(const char *body, size_t len, struct chatreq *cr, char err[ERR_LEN]);

/* Checks the options like Ollama's Options.FromMap (run after the model lookup): 0, or 500
 * with e.g. `option "num_ctx" must be of type integer`. Fills num_ctx and runner_sig; a request
 * without num_ctx gets default_ctx (the Modelfile's, else the server's; 0 means
 * CHATREQ_DEFAULT_CTX). */
int chatreq_check_options(struct chatreq *cr, int default_ctx, char err[ERR_LEN]);

void chatreq_clear(struct chatreq *cr);

#endif
