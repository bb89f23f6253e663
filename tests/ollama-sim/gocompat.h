#ifndef SIM_GOCOMPAT_H
#define SIM_GOCOMPAT_H
/* gocompat: the few Go standard-library text formats Ollama's wire output is made of, reproduced
 * so the sim's bytes and error texts match a real server: time.ParseDuration (keep_alive),
 * strconv-style quoting (%q in error texts), time.Time's RFC3339Nano JSON form and the HTTP Date. */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* ---- Durations ---- */
/* Parses s like Go's time.ParseDuration ("5m", "1h30m", "-1m", "0"). On success stores the
 * value in nanoseconds (saturated) and returns 0; on failure writes Go's exact error text
 * (e.g. `time: missing unit in duration "300"`) into err and returns -1. */
int gocompat_parse_duration(const char *s, int64_t *out_ns, char err[ERR_LEN]);

/* ---- Quoting ---- */
/* Writes s as Go's %q would (double quotes, backslash escapes) into out, truncating to fit
 * outsz (always NUL-terminated). */
void gocompat_quote(const char *s, char *out, size_t outsz);

/* ---- Time stamps ---- */
#define GOCOMPAT_TIME_LEN 40
/* RFC3339 with nanoseconds in UTC, trailing zeros of the fraction trimmed, as Go's
 * time.Time.MarshalJSON writes a UTC time ("2025-07-07T20:32:53.844124Z"). */
void gocompat_rfc3339nano(const struct timespec *ts, char out[GOCOMPAT_TIME_LEN]);
/* The same for a time given as seconds since the epoch (a double, as libev keeps time). */
void gocompat_rfc3339nano_d(double t, char out[GOCOMPAT_TIME_LEN]);
/* The current wall-clock time. */
void gocompat_now(char out[GOCOMPAT_TIME_LEN]);
/* An HTTP Date header value ("Wed, 03 Dec 2025 09:00:00 GMT") for time t. */
void gocompat_http_date(time_t t, char out[GOCOMPAT_TIME_LEN]);

#endif
