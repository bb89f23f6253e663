#ifndef COMMON_NDJSON_H
#define COMMON_NDJSON_H
/* NDJSON framing: bytes in, complete lines out. A growable buffer holds the incomplete last
 * line, so lines may be longer than any read (Ollama's Go client allows 8 MB; we allow more). */
#include <stddef.h>

struct ndjson;

/* Called once per complete line, without its "\n" (a trailing "\r" is removed too); empty lines
 * are skipped. `line` is borrowed for the call. Return 0 to go on, -1 to stop the feed. */
typedef int ndjson_line_fn(void *arg, const char *line, size_t len);

/* Returns a new framer (free with ndjson_free). Lines longer than max_line bytes are an error. */
struct ndjson *ndjson_new(size_t max_line, ndjson_line_fn *fn, void *arg);
void ndjson_free(struct ndjson *nd); /* ndjson_free(NULL) is a no-op */

/* Feeds bytes; calls fn for each line completed. Returns 0, or -1 when a line exceeded max_line
 * or fn returned -1 (the framer then refuses further input). */
int ndjson_feed(struct ndjson *nd, const char *buf, size_t len);

/* Bytes of the incomplete last line held (non-zero at EOF means the stream was cut). */
size_t ndjson_pending(const struct ndjson *nd);

/* Whether the framer stopped on a too-long line (as opposed to fn returning -1). */
int ndjson_overflowed(const struct ndjson *nd);

#endif
