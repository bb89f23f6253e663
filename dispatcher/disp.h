#ifndef DISPATCHER_DISP_H
#define DISPATCHER_DISP_H
/* disp: what every dispatcher subcommand shares: the configuration (Redis address, namespace,
 * machine list), the synchronous Redis connection, and small helpers to build command argument
 * vectors and read replies. A subcommand returns an exit code (err.h EXIT_*); the helpers here
 * print the one error line themselves and hand back the code to return. */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cfg.h"
#include "err.h"
#include "redisurl.h"

#define DISP_CONNECT_TIMEOUT_S 5.0 /* connect and per-command timeout (XREAD blocks at most 1 s) */
#define DISP_RECONNECT_PAUSE_S 0.25 /* between connect attempts after a lost connection */
#define DISP_MAX_MACHINES 1024
#define DISP_PIPELINE 1000         /* commands appended before replies are read back */
#define DISP_MAX_WEIGHT 1e6        /* --machines gpu1=W: 0 < W <= this */

/* ---- String vector ---- */

struct strvec {
    char **v;      /* owned strings */
    size_t n, cap;
};

void strvec_push(struct strvec *sv, const char *s);                 /* copies s */
void strvec_pushn(struct strvec *sv, const char *s, size_t len);    /* copies len bytes */
long strvec_find(const struct strvec *sv, const char *s);          /* index, or -1 */
void strvec_sort(struct strvec *sv);                                /* strcmp order */
void strvec_free(struct strvec *sv);                                /* frees all; reusable */

/* ---- Redis command arguments ---- */

/* An argument vector for redisCommandArgv / redisAppendCommandArgv. Arguments added with
 * rargs_add / rargs_addb are borrowed (must outlive the send); rargs_addc and rargs_addf copy. */
struct rargs {
    const char **v;
    size_t *len;
    int n, cap;
    struct strvec owned;
};

void rargs_add(struct rargs *a, const char *s);
void rargs_addb(struct rargs *a, const char *s, size_t len);
void rargs_addc(struct rargs *a, const char *s);
void rargs_addf(struct rargs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rargs_reset(struct rargs *a); /* empties the vector, frees copies; reusable */
void rargs_free(struct rargs *a);

/* ---- The context ---- */

struct disp {
    /* configuration; strings borrowed from argv or environ */
    const char *redis_url;     /* NULL when not given */
    const char *sentinel;      /* --sentinel list, or NULL */
    const char *master;        /* --master */
    const char *sentinel_pass; /* --sentinel-password */
    const char *ns;
    const char *machines_opt; /* --machines / TURNQ_MACHINES as given, NULL when unset */
    int verbose;              /* -v count */

    /* derived by disp_setup */
    struct redis_addr addr;
    struct strvec machines_arg; /* --machines, validated, in the order given (names only) */
    double *weights;            /* parallel to machines_arg: the NAME=W weight, 1 when not given */
    bool weights_given;         /* some item of --machines carried "=W" */
    bool machines_given;

    redisContext *c; /* NULL until disp_connect */
    /* what each pipelined command still waiting for its reply was ("LLEN ns:queue:gpu1"), so
     * that an error names the command and its key: a FIFO, disp_append to disp_reply */
    char (*pending)[96];
    size_t pend_head, pend_n, pend_cap;
};

/* Prints "dispatcher: MESSAGE" as one line on stderr. */
void disp_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "dispatcher: warning: MESSAGE" as one line on stderr. */
void disp_warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Validates the namespace, the Redis URL and --machines (names, each optionally "=WEIGHT", a
 * positive number up to DISP_MAX_WEIGHT). Returns 0, or EXIT_USAGE after printing the reason.
 * Touches no network. */
int disp_setup(struct disp *d);

/* Connects (AUTH, SELECT). Returns 0, or EXIT_REDIS after printing the (password-free) reason. */
int disp_connect(struct disp *d);

/* The same without printing: returns 0, or EXIT_REDIS with the (password-free) reason in err.
 * For a command that can do without Redis (route --machines). */
int disp_connect_quiet(struct disp *d, char err[ERR_LEN]);

/* Drops the connection and connects again (with sentinels: to the primary they name now),
 * retrying every DISP_RECONNECT_PAUSE_S for at most within_s seconds. For the long-running
 * subcommands (wait) that outlive a Redis restart or a failover. Returns 0, or EXIT_REDIS after
 * printing the last reason. */
int disp_reconnect(struct disp *d, double within_s);

void disp_close(struct disp *d); /* closes the connection, frees what disp_setup made */

/* Sends one command and reads its reply. Returns 0 with *out a new reply (caller
 * freeReplyObject's it), or an exit code after printing: EXIT_REDIS when the connection failed,
 * EXIT_RUNTIME when Redis answered with an error. */
int disp_command(struct disp *d, const struct rargs *a, redisReply **out);

/* The same with the arguments as NULL-terminated strings: disp_call(d, &r, "LLEN", key, NULL). */
int disp_call(struct disp *d, redisReply **out, const char *arg0, ...) __attribute__((sentinel));

/* Pipelining: append any number of commands, then read their replies in order with
 * disp_reply (same return convention as disp_command). */
void disp_append(struct disp *d, const struct rargs *a);
void disp_appendv(struct disp *d, const char *arg0, ...) __attribute__((sentinel));
int disp_reply(struct disp *d, redisReply **out);

/* The machine list: --machines when given, else the members of NS:machines sorted by name.
 * Returns 0 (out may be empty) or an exit code after printing. */
int disp_machines(struct disp *d, struct strvec *out);

/* Appends every id of NS:ids, in submission order, to out. Returns 0 or an exit code. */
int disp_all_ids(struct disp *d, struct strvec *out);

/* The id of NS:events' newest entry into last (size n; "0-0" when the stream is empty), for
 * XREAD to follow what comes after it. Returns 0 or an exit code after printing. */
int disp_events_tail(struct disp *d, char *last, size_t n);

/* The weight --machines gives `machine` ("gpu1=2"), 1 when it names none or is not given. */
double disp_weight(const struct disp *d, const char *machine);

/* Appends the members of NS:machines, sorted by name (names that are not machine names are
 * skipped with a warning). Returns 0 or an exit code after printing. */
int disp_registered_machines(struct disp *d, struct strvec *out);

/* Sets alive[i] to whether NS:worker:machines[i] exists (one pipelined EXISTS each). */
int disp_workers_alive(struct disp *d, const struct strvec *machines, bool *alive);

/* Reads a whole stream (a file, or stdin when path is "-"). Returns a new buffer (caller frees)
 * with its length in *len and a NUL after it, or NULL with errno set. */
char *disp_read_all(const char *path, size_t *len);

/* ---- Sweep files (--sweep FILE) ---- */

struct job;
struct job_list;

/* Reads FILE (any submit input; "-" is stdin; a grid file is expanded as submit does) and appends
 * its jobs to list. `cmd` prefixes the messages ("results: --sweep f.json: No such file ...").
 * Returns 0, or EXIT_USAGE after printing. Touches no network. */
int disp_read_sweep(const char *cmd, const char *path, struct job_list *list);

/* A count of ids and the first DISP_IDLIST_SHOWN of them as "A1, A2, A3", for one message line. */
#define DISP_IDLIST_SHOWN 5
struct disp_idlist {
    size_t n;        /* ids added */
    char text[1024]; /* the first ones, comma-separated */
    size_t len;
};
void disp_idlist_add(struct disp_idlist *l, const char *id);       /* copies id */
const char *disp_idlist_text(struct disp_idlist *l);               /* "A1, A2, ..." (borrowed) */

/* Adds j's id to `changed` when `spec` (the job hash's spec field, len bytes; NULL when the id
 * was never submitted) is not j's canonical text: the comparison submit makes before it refuses
 * a changed spec. */
void disp_spec_check(struct disp_idlist *changed, const struct job *j, const char *spec, size_t len);
/* Prints, when `changed` holds any, one warning line naming how many of FILE's experiments
 * differ from what was submitted under their ids, and the first few. */
void disp_spec_warn(struct disp_idlist *changed, const char *cmd, const char *path);

/* true for the states in which an experiment has ended: done, failed, cancelled. */
bool disp_state_ended(const char *state);

/* ---- Ids named on the command line (cancel, retry) ---- */

/* Checks the ids a command is to act on, before anything is changed: each must be an experiment
 * id (else one error line naming it, EXIT_USAGE) and must have been submitted (its job hash
 * exists; else one line per unknown id, EXIT_USAGE). Duplicates are dropped; the order is kept.
 * `cmd` prefixes the messages. Connects. Returns 0 with the ids appended to out, or an exit code
 * after printing. */
int disp_named_ids(struct disp *d, const char *cmd, const char **args, int nargs, struct strvec *out);

/* Appends, in submission order (NS:ids), the ids whose job hash's state is one of `states`
 * (a NULL-terminated list). Returns 0 or an exit code after printing. */
int disp_ids_in_state(struct disp *d, const char *const *states, struct strvec *out);

/* Returns a new JSON value: the id with the JSON type its spec gives it (42 stays a number).
 * Only an id that could be an integer ("42", "-7") costs a read of its spec; on any failure the
 * id is returned as a string. */
json_t *disp_typed_id(struct disp *d, const char *id);

/* Copies s into buf (size n) on one line: control characters become spaces, and text beyond
 * n - 1 bytes is cut with "...". Returns buf. For error texts quoted in one-line output. */
char *disp_one_line(const char *s, char *buf, size_t n);

/* ---- Subcommands ---- */

/* One subcommand: main.c parses the global flags together with `opts`, then calls run with the
 * positional arguments after the subcommand's name. */
struct disp_cmd {
    const char *name;
    const char *synopsis;       /* "submit [--strategy hash|mod] [--dry-run] [--force] FILE...|-" */
    const char *summary;        /* one line for the global --help */
    const char *description;    /* the subcommand's --help text, newline-terminated lines */
    const struct cfg_opt *opts; /* its own flags (name NULL ends the table) */
    int (*run)(struct disp *d, const char **args, int nargs); /* returns an EXIT_* code */
};

extern const struct disp_cmd submit_cmd;  /* submit.c */
extern const struct disp_cmd route_cmd;   /* route.c */
extern const struct disp_cmd status_cmd;  /* status.c */
extern const struct disp_cmd results_cmd; /* results.c */
extern const struct disp_cmd wait_cmd;    /* wait.c */
extern const struct disp_cmd cancel_cmd;  /* cancel.c */
extern const struct disp_cmd retry_cmd;   /* retry.c */
extern const struct disp_cmd recover_cmd; /* recover.c */
extern const struct disp_cmd metrics_cmd; /* metrics.c */
extern const struct disp_cmd watch_cmd;   /* watch.c */
extern const struct disp_cmd forget_cmd;  /* forget.c */

#endif
