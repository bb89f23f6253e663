#ifndef COMMON_CSV_H
#define COMMON_CSV_H
/* csv: RFC 4180 output. A field holding a comma, a double quote, CR or LF is enclosed in double
 * quotes, each double quote inside doubled ("a ""b"""); any other field is written as it is.
 * Records end with CRLF, as the RFC says (Python's csv module and pandas read it, and a field's
 * own line breaks stay inside its quotes). */
#include <stddef.h>

#include "buf.h"

/* Appends one field (n bytes of s), preceded by a comma unless `first`. */
void csv_field(struct buf *b, const char *s, size_t n, int first);

/* Ends the record: "\r\n". */
void csv_end(struct buf *b);

#endif
