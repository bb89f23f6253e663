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

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int64_t timefmt_parse_iso(const char *s)
{
    /* Exactly YYYY-MM-DDTHH:MM:SS[.fff...]Z, as timefmt_iso writes it. */
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), min = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0 ||
        min > 59 || sec < 0 || sec > 60)
        return -1;
    const char *p = s + 19;
    int msec = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n == 0)
            return -1;
        for (int i = 0; i < 3; i++)
            msec = msec * 10 + (i < n ? p[i] - '0' : 0);
        p += n;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hour, .tm_min = min,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    /* timegm normalises 30 February into March: refuse what does not round-trip. */
    if (tm.tm_mday != day || tm.tm_mon != mon - 1)
        return -1;
    return (int64_t)t * 1000 + msec;
}
