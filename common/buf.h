#ifndef COMMON_BUF_H
#define COMMON_BUF_H
/* buf: a growable byte buffer with a read offset, used for socket input/output, for streamed
 * replies and for building text. The bytes in [off, len) are the live content; data is always NUL-terminated
 * at len so text users can treat it as a C string. */
#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t off; /* bytes consumed from the front */
    size_t len; /* bytes written */
    size_t cap; /* allocated size */
};

/* ---- Writing ---- */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops what was written after the first `len` bytes (len at most b->len): an append undone. */
void buf_truncate(struct buf *b, size_t len);

/* ---- Reading ---- */
/* Bytes not yet consumed, and their count. */
static inline const char *buf_head(const struct buf *b)
{
    return b->data ? b->data + b->off : "";
}
static inline size_t buf_avail(const struct buf *b)
{
    return b->len - b->off;
}
/* Marks n bytes as consumed; an emptied buffer rewinds to offset 0. */
void buf_consume(struct buf *b, size_t n);
/* Moves the live bytes to the front so appends reuse the space. */
void buf_compact(struct buf *b);

/* ---- Lifetime ---- */
void buf_reset(struct buf *b); /* empties, keeps the allocation */
void buf_free(struct buf *b);  /* frees the allocation; the buffer is then empty and reusable */

#endif
