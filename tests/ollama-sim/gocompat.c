/* gocompat: Go-compatible formats. parse_duration is a transcription of Go's
 * time.ParseDuration grammar, [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ with units ns us µs μs ms s m h,
 * including its three error texts ("invalid duration", "missing unit in duration",
 * "unknown unit ... in duration") and its quoting of the original string. Ollama hands every
 * keep_alive string to it, so `"300"` and `"-1"` fail with exactly these texts (a 400).
 * Overflow is reported as Go does ("invalid duration"). */
#include "gocompat.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void gocompat_quote(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    if (outsz < 3) {
        if (outsz)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        size_t n;
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            n = 2;
        } else if (*p == '\n') {
            memcpy(tmp, "\\n", 2);
            n = 2;
        } else if (*p == '\t') {
            memcpy(tmp, "\\t", 2);
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", *p);
        } else {
            /* printable ASCII and UTF-8 bytes pass through (Go keeps printable runes) */
            tmp[0] = (char)*p;
            n = 1;
        }
        if (o + n + 2 > outsz)
            break;
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void dur_error(char err[ERR_LEN], const char *what, const char *unit, const char *orig)
{
    char qo[160], qu[64];
    gocompat_quote(orig, qo, sizeof qo);
    if (unit) {
        gocompat_quote(unit, qu, sizeof qu);
        set_err(err, "time: unknown unit %s in duration %s", qu, qo);
    } else {
        set_err(err, "time: %s %s", what, qo);
    }
}

static int64_t unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        {"ns", 1LL},           {"us", 1000LL},      {"\xc2\xb5s", 1000LL}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000LL},                                             /* U+03BC Greek small letter mu */
        {"ms", 1000000LL},     {"s", 1000000000LL}, {"m", 60LL * 1000000000LL}, {"h", 3600LL * 1000000000LL},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
            return units[i].ns;
    return 0;
}

int gocompat_parse_duration(const char *orig, int64_t *out_ns, char err[ERR_LEN])
{
    const char *s = orig;
    uint64_t d = 0;
    int neg = 0;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out_ns = 0;
        return 0;
    }
    if (*s == '\0') {
        dur_error(err, "invalid duration", NULL, orig);
        return -1;
    }
    const uint64_t limit = 1ULL << 63;
    while (*s) {
        uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(*s == '.' || (*s >= '0' && *s <= '9'))) {
            dur_error(err, "invalid duration", NULL, orig);
            return -1;
        }
        const char *start = s;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (v > (limit - 1) / 10) { /* leadingInt overflow */
                dur_error(err, "invalid duration", NULL, orig);
                return -1;
            }
            v = v * 10 + (uint64_t)(*s - '0');
            if (v > limit) {
                dur_error(err, "invalid duration", NULL, orig);
                return -1;
            }
        }
        int pre = s != start, post = 0;
        if (*s == '.') {
            s++;
            const char *fs = s;
            int overflow = 0;
            for (; *s >= '0' && *s <= '9'; s++) {
                if (overflow)
                    continue;
                /* Go's leadingFraction: stop accumulating once more digits would overflow */
                uint64_t y = f * 10 + (uint64_t)(*s - '0');
                if (f > (limit - 1) / 10 || y > limit) {
                    overflow = 1;
                    continue;
                }
                f = y;
                scale *= 10;
            }
            post = s != fs;
        }
        if (!pre && !post) {
            dur_error(err, "invalid duration", NULL, orig);
            return -1;
        }
        const char *u = s;
        while (*s && *s != '.' && !(*s >= '0' && *s <= '9'))
            s++;
        if (s == u) {
            dur_error(err, "missing unit in duration", NULL, orig);
            return -1;
        }
        int64_t unit = unit_ns(u, (size_t)(s - u));
        if (unit == 0) {
            char ub[64];
            size_t n = (size_t)(s - u) < sizeof ub - 1 ? (size_t)(s - u) : sizeof ub - 1;
            memcpy(ub, u, n);
            ub[n] = '\0';
            dur_error(err, NULL, ub, orig);
            return -1;
        }
        if (v > limit / (uint64_t)unit) {
            dur_error(err, "invalid duration", NULL, orig);
            return -1;
        }
        v *= (uint64_t)unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > limit) {
                dur_error(err, "invalid duration", NULL, orig);
                return -1;
            }
        }
        d += v;
        if (d > limit) {
            dur_error(err, "invalid duration", NULL, orig);
            return -1;
        }
    }
    if (neg) {
        *out_ns = d == limit ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > limit - 1) {
        dur_error(err, "invalid duration", NULL, orig);
        return -1;
    }
    *out_ns = (int64_t)d;
    return 0;
}

void gocompat_rfc3339nano(const struct timespec *ts, char out[GOCOMPAT_TIME_LEN])
{
    struct tm tm;
    time_t sec = ts->tv_sec;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, GOCOMPAT_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    long ns = ts->tv_nsec;
    if (ns > 0) {
        char frac[24];
        snprintf(frac, sizeof frac, "%09ld", ns % 1000000000L);
        size_t fl = 9;
        while (fl > 0 && frac[fl - 1] == '0')
            fl--;
        frac[fl] = '\0';
        n += (size_t)snprintf(out + n, GOCOMPAT_TIME_LEN - n, ".%s", frac);
    }
    snprintf(out + n, GOCOMPAT_TIME_LEN - n, "Z");
}

void gocompat_rfc3339nano_d(double t, char out[GOCOMPAT_TIME_LEN])
{
    struct timespec ts;
    double sec = floor(t);
    ts.tv_sec = (time_t)sec;
    ts.tv_nsec = (long)((t - sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_nsec = 999999999L;
    if (ts.tv_nsec < 0)
        ts.tv_nsec = 0;
    gocompat_rfc3339nano(&ts, out);
}

void gocompat_now(char out[GOCOMPAT_TIME_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    gocompat_rfc3339nano(&ts, out);
}

void gocompat_http_date(time_t t, char out[GOCOMPAT_TIME_LEN])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, GOCOMPAT_TIME_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
