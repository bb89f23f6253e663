#ifndef COMMON_LOG_H
#define COMMON_LOG_H
/* Logging to stderr, line-buffered, one line per event: "ts pid L message key=value..."
 * (redis serverLogRaw). The macros test the level before evaluating their arguments. */

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level; /* messages above this level are dropped; LOG_INFO by default */

/* Sets up stderr line buffering and the process name shown in each line (borrowed, static). */
void log_init(const char *progname);

void log_write(int level, const char *file, int line, int with_errno, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define log_at(lvl, errno_, ...)                                         \
    do {                                                                 \
        if ((lvl) <= log_level)                                          \
            log_write((lvl), __FILE__, __LINE__, (errno_), __VA_ARGS__); \
    } while (0)

#define log_error(...) log_at(LOG_ERROR, 0, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, 0, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, 0, __VA_ARGS__)
/* Appends ": strerror(errno)", like tmux fatal vs fatalx. */
#define log_errno(...) log_at(LOG_WARN, 1, __VA_ARGS__)

#endif
