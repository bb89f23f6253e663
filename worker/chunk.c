/* chunk: a token chunk of a streamed /api/chat reply, read in one pass (chunk.h). The decoding
 * follows RFC 8259 and jansson's own rules: strings are valid UTF-8 with no overlong forms, no
 * encoded surrogates and nothing above U+10FFFF; \u escapes pair surrogates; \u0000 is refused by
 * jansson's default flags, so it goes to jansson too. */
#include "chunk.h"

#include <string.h>

static const char pre_model[] = "{\"model\":\"";
static const char pre_created[] = "\",\"created_at\":\"";
static const char pre_content[] = "\",\"message\":{\"role\":\"assistant\",\"content\":\"";
static const char post_content[] = "\"},\"done\":false}";

/* Matches the literal lit at *p, advancing past it. */
static int literal(const char **p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n))
        return 0;
    *p += n;
    return 1;
}

/* Skips a string body of printable ASCII with no escapes (the model name, the timestamp) up to
 * its closing quote, which stays at *p. */
static int plain_ascii(const char **p, const char *end)
{
    const char *s = *p;
    while (s < end && *s != '"') {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return 0;
        s++;
    }
    *p = s;
    return s < end;
}

/* The length of the valid UTF-8 sequence at p (n bytes available), 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0], v, min;
    size_t k;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return k;
}

/* Four hex digits at p (n bytes available) as a number, or -1. */
static long hex4(const char *p, size_t n)
{
    if (n < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = v << 4 | (c - 'A' + 10);
        else
            return -1;
    }
    return v;
}

static void put_utf8(struct buf *out, unsigned long v)
{
    char u[4];
    size_t n;
    if (v < 0x80) {
        u[0] = (char)v, n = 1;
    } else if (v < 0x800) {
        u[0] = (char)(0xc0 | v >> 6), u[1] = (char)(0x80 | (v & 0x3f)), n = 2;
    } else if (v < 0x10000) {
        u[0] = (char)(0xe0 | v >> 12), u[1] = (char)(0x80 | (v >> 6 & 0x3f)), u[2] = (char)(0x80 | (v & 0x3f)), n = 3;
    } else {
        u[0] = (char)(0xf0 | v >> 18), u[1] = (char)(0x80 | (v >> 12 & 0x3f)), u[2] = (char)(0x80 | (v >> 6 & 0x3f));
        u[3] = (char)(0x80 | (v & 0x3f)), n = 4;
    }
    buf_append(out, u, n);
}

/* Decodes a JSON string body at *p into out, up to its closing quote (left at *p). */
static int string_body(const char **p, const char *end, struct buf *out)
{
    const char *s = *p;
    while (s < end) {
        /* a run of bytes that stand for themselves, appended at once */
        const char *run = s;
        while (s < end && *s != '"' && *s != '\\') {
            unsigned char c = (unsigned char)*s;
            if (c < 0x20)
                return 0;
            if (c < 0x80) {
                s++;
                continue;
            }
            size_t k = utf8_len((const unsigned char *)s, (size_t)(end - s));
            if (!k)
                return 0;
            s += k;
        }
        buf_append(out, run, (size_t)(s - run));
        if (s == end)
            return 0;
        if (*s == '"') {
            *p = s;
            return 1;
        }
        if (end - s < 2)
            return 0;
        char e = s[1];
        s += 2;
        switch (e) {
        case '"': case '\\': case '/': buf_append(out, &e, 1); break;
        case 'b': buf_append(out, "\b", 1); break;
        case 'f': buf_append(out, "\f", 1); break;
        case 'n': buf_append(out, "\n", 1); break;
        case 'r': buf_append(out, "\r", 1); break;
        case 't': buf_append(out, "\t", 1); break;
        case 'u': {
            long v = hex4(s, (size_t)(end - s));
            if (v <= 0 || (v >= 0xdc00 && v <= 0xdfff))
                return 0; /* \u0000 (jansson refuses it by default), a lone low surrogate */
            s += 4;
            if (v >= 0xd800 && v <= 0xdbff) {
                long lo = end - s >= 6 && s[0] == '\\' && s[1] == 'u' ? hex4(s + 2, (size_t)(end - s - 2)) : -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return 0;
                v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            }
            put_utf8(out, (unsigned long)v);
            break;
        }
        default:
            return 0;
        }
    }
    return 0;
}

int chunk_token(const char *line, size_t len, struct buf *content)
{
    const char *p = line, *end = line + len;
    if (!literal(&p, end, pre_model, sizeof pre_model - 1) || !plain_ascii(&p, end) ||
        !literal(&p, end, pre_created, sizeof pre_created - 1) || !plain_ascii(&p, end) ||
        !literal(&p, end, pre_content, sizeof pre_content - 1))
        return 0;
    size_t mark = content->len;
    if (string_body(&p, end, content) && literal(&p, end, post_content, sizeof post_content - 1) && p == end)
        return 1;
    buf_truncate(content, mark); /* not the shape after all: as it was */
    return 0;
}
