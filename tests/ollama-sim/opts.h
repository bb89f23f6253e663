#ifndef SIM_OPTS_H
#define SIM_OPTS_H
/* opts: ollama-sim's command line (SPEC "bin/ollama-sim"). Defaults live in one initializer
 * (OPTS_DEFAULTS) that usage() prints from, so the help text cannot drift. */
#include <stdio.h>

#include "err.h"

/* The injected failure of --fail-mode (SPEC: 500, 503, reset, garbage, hang, stall, eof). */
enum sim_fault {
    FAULT_NONE = 0,
    FAULT_500,     /* HTTP 500 {"error": ...} */
    FAULT_503,     /* HTTP 503 with Ollama's "server busy" text */
    FAULT_RESET,   /* connection reset before any response */
    FAULT_GARBAGE, /* a 200 whose body is not NDJSON */
    FAULT_HANG,    /* the request is read, no headers are ever sent */
    FAULT_STALL,   /* headers and a chunk or two, then nothing; the connection stays open */
    FAULT_EOF,     /* chunks, then a clean end of the body without the done:true chunk */
};

struct sim_opts {
    int port;              /* TCP port on 127.0.0.1; 0 binds a free one */
    const char *port_file; /* written (atomically) with the bound port, or NULL */
    const char *models;    /* "name[@hexdigest],..." */
    int actions;           /* tool calls per turn before the final answer */
    int latency_ms;        /* per /api/chat call with messages (prompt evaluation) */
    int token_ms;          /* per generated token */
    int load_ms;           /* on a model's (re)load */
    int evict_every;       /* every N-th counted call finds its model evicted (pays load_ms); 0: never */
    int context_length;    /* OLLAMA_CONTEXT_LENGTH: num_ctx when neither request nor Modelfile sets one; 0: 4096 */
    int num_ctx;           /* PARAMETER num_ctx in every model's Modelfile (/api/show); 0: none */
    int parallel;          /* calls served at once; 0 means no limit */
    int fail_every;        /* every N-th counted call fails; 0 means never */
    enum sim_fault fail_mode;
    const char *log_path; /* JSON Lines request log, or NULL */
    const char *version;  /* what /api/version reports */
    int verbose;          /* -v count */
};

#define OPTS_DEFAULT_PORT 11434
#define OPTS_DEFAULT_MODELS "qwen3:8b"
#define OPTS_DEFAULT_ACTIONS 2
#define OPTS_DEFAULT_VERSION "0.12.6"

#define OPTS_DEFAULTS                                                                                        \
    {                                                                                                        \
        .port = OPTS_DEFAULT_PORT, .models = OPTS_DEFAULT_MODELS, .actions = OPTS_DEFAULT_ACTIONS,           \
        .version = OPTS_DEFAULT_VERSION, .fail_mode = FAULT_NONE,                                            \
    }

/* Parses argv into o (which holds the defaults). Strings stay borrowed from argv.
 * Returns 0 to run, 1 when --help was asked (usage already printed to stdout), or -1 with a
 * one-line reason in err. */
int opts_parse(int argc, char **argv, struct sim_opts *o, char err[ERR_LEN]);

/* Prints the help text to f. */
void opts_usage(FILE *f);

/* The --fail-mode spelling of a fault ("503", "reset", ...); "none" for FAULT_NONE. */
const char *opts_fault_name(enum sim_fault f);

#endif
