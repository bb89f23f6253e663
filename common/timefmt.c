/* timefmt: the one place that turns wall-clock time into text and back. */
#include "timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t timefmt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *timefmt_iso(int64_t ms, char *buf)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, TIMEFMT_ISO_LEN, "%s.%03dZ", base, (int)(ms % 1000));
    return buf;
}

int64_t timefmt_parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int msec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                msec = msec * 10 + (*p - '0');
            digits++;
            p++;
        }
        while (digits < 3) {
            msec *= 10;
            digits++;
        }
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + msec;
}
