#ifndef WORKER_CHUNK_H
#define WORKER_CHUNK_H
/* chunk: the one shape of streamed /api/chat line that makes up nearly all of a reply, a token of
 * text, read without building a JSON tree. Ollama writes a line per generated token, byte for
 * byte as
 *
 *   {"model":"M","created_at":"T","message":{"role":"assistant","content":"S"},"done":false}
 *
 * and jansson's loader costs several microseconds for each (a tree, a hash table per object, a
 * character-at-a-time lexer), as much CPU per call as everything else the worker does. Anything
 * else (tool calls, thinking, the done chunk, an error, other spacing or key order), or any doubt
 * (a \u0000, a lone surrogate, a byte that is not UTF-8), is left to jansson, which then accepts
 * or refuses it as before: this path only ever accepts lines jansson would read the same. */
#include <stddef.h>

#include "buf.h"

/* When line[0..len) is exactly a token chunk of that shape with valid JSON strings, appends the
 * decoded content to *content and returns 1. Otherwise returns 0 and leaves *content as it was. */
int chunk_token(const char *line, size_t len, struct buf *content);

#endif
