#ifndef COMMON_ERR_H
#define COMMON_ERR_H
/* Error text and exit codes shared by every binary (CONVENTIONS rule 4). */

/* Callers own a char err[ERR_LEN]; fallible functions return 0/-1 and write the reason there. */
#define ERR_LEN 256

/* Writes a formatted message into err (which may be NULL). */
void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit codes (SPEC "Binaries"). The worker exits EXIT_USAGE on a configuration error, which its
 * systemd unit treats as "do not restart". */
enum {
    EXIT_OK = 0,      /* success */
    EXIT_RUNTIME = 1, /* wait saw a failed experiment or timed out; other runtime failure */
    EXIT_USAGE = 2,   /* usage or validation error: nothing was changed */
    EXIT_REDIS = 3,   /* the dispatcher cannot reach Redis, or Redis refuses access (AUTH, NOPERM) */
};

#endif
