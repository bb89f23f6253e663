/* csv: RFC 4180 fields and records (see csv.h). */
#include "csv.h"

#include <string.h>

void csv_field(struct buf *b, const char *s, size_t n, int first)
{
    if (!first)
        buf_puts(b, ",");
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        buf_append(b, s, n);
        return;
    }
    buf_puts(b, "\"");
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            buf_append(b, s + from, i + 1 - from); /* up to and with the quote ... */
            buf_puts(b, "\"");                     /* ... and once more */
            from = i + 1;
        }
    }
    buf_append(b, s + from, n - from);
    buf_puts(b, "\"");
}

void csv_end(struct buf *b)
{
    buf_puts(b, "\r\n");
}
