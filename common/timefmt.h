#ifndef COMMON_TIMEFMT_H
#define COMMON_TIMEFMT_H
/* Wall-clock time as turnq stores it: milliseconds since the epoch, and ISO 8601 UTC text with
 * milliseconds ("2026-12-03T09:00:00.123Z"). */
#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_ISO_LEN 32

int64_t timefmt_now_ms(void);

/* Writes ms as ISO 8601 UTC into buf (at least TIMEFMT_ISO_LEN bytes); returns buf. */
char *timefmt_iso(int64_t ms, char *buf);

/* Parses what timefmt_iso writes (also without milliseconds). Returns ms, or -1 when malformed. */
int64_t timefmt_parse_iso(const char *s);

#endif
