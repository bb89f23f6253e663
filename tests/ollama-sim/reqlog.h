#ifndef SIM_REQLOG_H
#define SIM_REQLOG_H
/* reqlog: the --log file, one JSON object per request (SPEC "bin/ollama-sim"), with exactly the
 * keys ts, method, path, status, model, messages, experiment, turn, fault. */
#include <stdint.h>

#include "err.h"

struct reqlog;

/* One line's values. NULL strings and negative numbers are written as JSON null. */
struct reqlog_entry {
    double ts;              /* seconds since the epoch (libev time); written as ms */
    const char *method;     /* "POST" */
    const char *path;       /* "/api/chat", without the query */
    int status;             /* HTTP status sent; < 0 when none was (reset, hang) */
    const char *model;      /* the request's "model", or NULL */
    long messages;          /* number of messages, or < 0 */
    const char *experiment; /* X-Turnq-Experiment, or NULL */
    const char *turn;       /* X-Turnq-Turn as received; written as an integer or null */
    const char *fault;      /* the fault injected, or NULL */
};

/* Opens path for appending. Returns a new log (free with reqlog_free) or NULL with the reason
 * in err. A NULL path gives a log that writes nothing. */
struct reqlog *reqlog_open(const char *path, char err[ERR_LEN]);
void reqlog_free(struct reqlog *l); /* NULL is a no-op */

/* Writes one line and flushes it, so tests can read the log while the sim runs. */
void reqlog_write(struct reqlog *l, const struct reqlog_entry *e);

#endif
