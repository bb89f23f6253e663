/* log: a tiny leveled logger. Warnings and debug lines carry file:line (beanstalkd twarn). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_INFO;
static const char *log_prog = "turnq";

void log_init(const char *progname)
{
    setvbuf(stderr, NULL, _IOLBF, 0);
    log_prog = progname;
}

void log_write(int level, const char *file, int line, int with_errno, const char *fmt, ...)
{
    int saved = errno;
    static const char lc[] = "EWID";
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    if (level == LOG_WARN || level == LOG_DEBUG || level == LOG_ERROR)
        fprintf(stderr, "%s.%03dZ %s[%d] %c %s%s%s (%s:%d)\n", ts, (int)(tv.tv_usec / 1000), log_prog,
                (int)getpid(), lc[level], msg, with_errno ? ": " : "", with_errno ? strerror(saved) : "",
                file, line);
    else
        fprintf(stderr, "%s.%03dZ %s[%d] %c %s%s%s\n", ts, (int)(tv.tv_usec / 1000), log_prog, (int)getpid(),
                lc[level], msg, with_errno ? ": " : "", with_errno ? strerror(saved) : "");
    errno = saved;
}
