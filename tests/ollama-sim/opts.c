/* opts: strict flag parsing for ollama-sim. getopt_long drives it with its own messages turned
 * off (opterr = 0) so every mistake becomes one line naming the flag; numbers go through one
 * bounded strtol helper. Semantic checks that need more than one flag (--fail-every needs
 * --fail-mode) are made after the loop. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DELAY_MS (24 * 3600 * 1000)

static const char *fault_names[] = {
    [FAULT_NONE] = "none",       [FAULT_500] = "500",   [FAULT_503] = "503",     [FAULT_RESET] = "reset",
    [FAULT_GARBAGE] = "garbage", [FAULT_HANG] = "hang", [FAULT_STALL] = "stall", [FAULT_EOF] = "eof",
};

const char *opts_fault_name(enum sim_fault f)
{
    return fault_names[f];
}

void opts_usage(FILE *f)
{
    fprintf(f,
            "usage: ollama-sim [flags]\n"
            "A deterministic emulator of the Ollama HTTP API on 127.0.0.1 (turnq's stand-in GPU box).\n"
            "\n"
            "  --port P             TCP port (default %d; 0 binds a free port)\n"
            "  --port-file FILE     write the bound port there once listening\n"
            "  --models LIST        name[@hexdigest],... (default %s); no tag means :latest\n"
            "  --actions N          tool calls per turn before the answer (default %d)\n"
            "  --latency-ms N       delay per /api/chat call (default 0)\n"
            "  --token-ms N         delay per generated token (default 0)\n"
            "  --load-ms N          delay on a model's first call or reload (default 0)\n"
            "  --evict-every N      every N-th /api/chat call with messages finds its model evicted\n"
            "                       (as when another model needed the memory): it loads again\n"
            "  --context-length N   OLLAMA_CONTEXT_LENGTH: num_ctx of a load when neither the request\n"
            "                       nor the Modelfile sets one (default 4096)\n"
            "  --num-ctx N          PARAMETER num_ctx N in every model's Modelfile (/api/show)\n"
            "  --parallel N         calls served at once, the rest wait FIFO (default: no limit)\n"
            "  --fail-every N       fail every N-th /api/chat call that has messages\n"
            "  --fail-mode M        500 | 503 | reset | garbage | hang | stall | eof\n"
            "  --log FILE           append one JSON line per request\n"
            "  --version-string V   what /api/version reports (default %s)\n"
            "  -v                   more logging on stderr (repeatable)\n"
            "  -h, --help           this text\n",
            OPTS_DEFAULT_PORT, OPTS_DEFAULT_MODELS, OPTS_DEFAULT_ACTIONS, OPTS_DEFAULT_VERSION);
}

/* Parses a decimal integer in [min, max]; 0 or -1 with a reason naming the flag. */
static int parse_int(const char *flag, const char *s, long min, long max, int *out, char err[ERR_LEN])
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE || s[0] == ' ' || s[0] == '+') {
        set_err(err, "--%s: '%s' is not an integer", flag, s);
        return -1;
    }
    if (v < min || v > max) {
        set_err(err, "--%s: %ld is out of range %ld..%ld", flag, v, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_fault(const char *s, enum sim_fault *out, char err[ERR_LEN])
{
    for (int i = FAULT_500; i <= FAULT_EOF; i++) {
        if (strcmp(s, fault_names[i]) == 0) {
            *out = (enum sim_fault)i;
            return 0;
        }
    }
    set_err(err, "--fail-mode: '%s' is not one of 500, 503, reset, garbage, hang, stall, eof", s);
    return -1;
}

enum {
    O_PORT = 256,
    O_PORT_FILE,
    O_MODELS,
    O_ACTIONS,
    O_LATENCY,
    O_TOKEN,
    O_LOAD,
    O_EVICT,
    O_CTXLEN,
    O_NUMCTX,
    O_PARALLEL,
    O_FAIL_EVERY,
    O_FAIL_MODE,
    O_LOG,
    O_VERSION
};

int opts_parse(int argc, char **argv, struct sim_opts *o, char err[ERR_LEN])
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"port-file", required_argument, NULL, O_PORT_FILE},
        {"models", required_argument, NULL, O_MODELS},
        {"actions", required_argument, NULL, O_ACTIONS},
        {"latency-ms", required_argument, NULL, O_LATENCY},
        {"token-ms", required_argument, NULL, O_TOKEN},
        {"load-ms", required_argument, NULL, O_LOAD},
        {"evict-every", required_argument, NULL, O_EVICT},
        {"context-length", required_argument, NULL, O_CTXLEN},
        {"num-ctx", required_argument, NULL, O_NUMCTX},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"fail-every", required_argument, NULL, O_FAIL_EVERY},
        {"fail-mode", required_argument, NULL, O_FAIL_MODE},
        {"log", required_argument, NULL, O_LOG},
        {"version-string", required_argument, NULL, O_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int have_mode = 0, have_every = 0;
    opterr = 0;
    optind = 1;
    for (;;) {
        int prev = optind;
        int c = getopt_long(argc, argv, ":hv", longopts, NULL);
        if (c == -1)
            break;
        int rc = 0;
        switch (c) {
        case O_PORT: rc = parse_int("port", optarg, 0, 65535, &o->port, err); break;
        case O_PORT_FILE: o->port_file = optarg; break;
        case O_MODELS: o->models = optarg; break;
        case O_ACTIONS: rc = parse_int("actions", optarg, 0, 1000000, &o->actions, err); break;
        case O_LATENCY: rc = parse_int("latency-ms", optarg, 0, MAX_DELAY_MS, &o->latency_ms, err); break;
        case O_TOKEN: rc = parse_int("token-ms", optarg, 0, MAX_DELAY_MS, &o->token_ms, err); break;
        case O_LOAD: rc = parse_int("load-ms", optarg, 0, MAX_DELAY_MS, &o->load_ms, err); break;
        case O_EVICT: rc = parse_int("evict-every", optarg, 1, INT_MAX, &o->evict_every, err); break;
        case O_CTXLEN: rc = parse_int("context-length", optarg, 1, 1 << 30, &o->context_length, err); break;
        case O_NUMCTX: rc = parse_int("num-ctx", optarg, 1, 1 << 30, &o->num_ctx, err); break;
        case O_PARALLEL: rc = parse_int("parallel", optarg, 1, 1000000, &o->parallel, err); break;
        case O_FAIL_EVERY:
            rc = parse_int("fail-every", optarg, 1, INT_MAX, &o->fail_every, err);
            have_every = 1;
            break;
        case O_FAIL_MODE:
            rc = parse_fault(optarg, &o->fail_mode, err);
            have_mode = 1;
            break;
        case O_LOG: o->log_path = optarg; break;
        case O_VERSION: o->version = optarg; break;
        case 'v': o->verbose++; break;
        case 'h': opts_usage(stdout); return 1;
        case ':': set_err(err, "%s needs a value", argv[prev]); return -1;
        default:
            if (optopt && optopt < 256)
                set_err(err, "unknown flag -%c (see --help)", optopt);
            else
                set_err(err, "unknown flag %s (see --help)", argv[prev]);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    if (optind < argc) {
        set_err(err, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (have_every && !have_mode) {
        set_err(err, "--fail-every needs --fail-mode");
        return -1;
    }
    if (have_mode && !have_every) {
        set_err(err, "--fail-mode needs --fail-every");
        return -1;
    }
    if (o->version[0] == '\0') {
        set_err(err, "--version-string: must not be empty");
        return -1;
    }
    json_t *v = json_string(o->version); /* NULL when not UTF-8: JSON could not carry it */
    if (!v) {
        set_err(err, "--version-string: must be UTF-8 text");
        return -1;
    }
    json_decref(v);
    return 0;
}
