/* test_ndjson: the NDJSON framer (common/ndjson.h): the same lines whatever the read sizes,
 * CRLF, empty lines, long lines, the max_line bound, a callback that stops, and a cut stream. */
#include <stdlib.h>
#include <string.h>

#include "../lib/unit.h"
#include "ndjson.h"

/* Collects lines, each followed by '\n' (test data holds no '\n' inside a line). */
struct got {
    char *buf;
    size_t len, cap;
    int n;
    int stop_at; /* return -1 on this line number (from 1); 0 never */
};

static int on_line(void *arg, const char *line, size_t len)
{
    struct got *g = arg;
    g->n++;
    if (g->len + len + 2 > g->cap) {
        g->cap = (g->len + len + 2) * 2;
        g->buf = realloc(g->buf, g->cap);
    }
    memcpy(g->buf + g->len, line, len);
    g->len += len;
    g->buf[g->len++] = '\n';
    g->buf[g->len] = '\0';
    return g->n == g->stop_at ? -1 : 0;
}

static const char *got_str(struct got *g) { return g->buf ? g->buf : ""; }

static const char stream[] =
    "{\"model\":\"qwen3:8b\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Hm\"},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"message\":{\"role\":\"assistant\",\"content\":\"caf\xc3\xa9\"},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"message\":{\"role\":\"assistant\",\"content\":\"\\u003cok\\u003e\"},\"done\":false}\n"
    "{\"model\":\"qwen3:8b\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n";

TEST(whole_stream)
{
    struct got g = {0};
    struct ndjson *nd = ndjson_new(1 << 20, on_line, &g);
    REQUIRE(nd != NULL);
    CHECK_EQ_INT(ndjson_feed(nd, stream, strlen(stream)), 0);
    CHECK_EQ_INT(g.n, 4);
    CHECK_EQ_STR(got_str(&g), stream);
    CHECK_EQ_INT(ndjson_pending(nd), 0);
    CHECK_EQ_INT(ndjson_overflowed(nd), 0);
    ndjson_free(nd);
    free(g.buf);
}

TEST(every_split_point_gives_the_same_lines)
{
    size_t n = strlen(stream);
    for (size_t cut = 0; cut <= n; cut++) {
        struct got g = {0};
        struct ndjson *nd = ndjson_new(1 << 20, on_line, &g);
        int r1 = ndjson_feed(nd, stream, cut);
        int r2 = ndjson_feed(nd, stream + cut, n - cut);
        int ok = CHECK_MSG(r1 == 0 && r2 == 0 && g.n == 4 && strcmp(got_str(&g), stream) == 0 &&
                               ndjson_pending(nd) == 0,
                           "cut at %zu: feeds %d/%d, %d lines, pending %zu", cut, r1, r2, g.n, ndjson_pending(nd));
        ndjson_free(nd);
        free(g.buf);
        if (!ok)
            break;
    }
}

TEST(one_byte_at_a_time)
{
    struct got g = {0};
    struct ndjson *nd = ndjson_new(1 << 20, on_line, &g);
    int r = 0;
    for (size_t i = 0; stream[i] && r == 0; i++)
        r = ndjson_feed(nd, stream + i, 1);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_STR(got_str(&g), stream);
    CHECK_EQ_INT(ndjson_pending(nd), 0);
    ndjson_free(nd);
    free(g.buf);
}

TEST(crlf_and_empty_lines)
{
    struct got g = {0};
    struct ndjson *nd = ndjson_new(1024, on_line, &g);
    const char *in = "\n\r\na\r\n\n\nb\n\r\n";
    CHECK_EQ_INT(ndjson_feed(nd, in, strlen(in)), 0);
    CHECK_EQ_STR(got_str(&g), "a\nb\n");
    CHECK_EQ_INT(g.n, 2);
    /* "\r" and "\n" in different feeds. */
    CHECK_EQ_INT(ndjson_feed(nd, "c\r", 2), 0);
    CHECK_EQ_INT(ndjson_feed(nd, "\nd", 2), 0);
    CHECK_EQ_STR(got_str(&g), "a\nb\nc\n");
    CHECK_EQ_INT(ndjson_pending(nd), 1);
    ndjson_free(nd);
    free(g.buf);
}

TEST(line_is_binary_safe)
{
    struct got g = {0};
    struct ndjson *nd = ndjson_new(1024, on_line, &g);
    CHECK_EQ_INT(ndjson_feed(nd, "a\0b\n", 4), 0);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(g.len, 4); /* "a\0b" and our '\n' */
    ndjson_free(nd);
    free(g.buf);
}

TEST(line_over_8mb_accepted)
{
    size_t big = 9u << 20, chunk = 65536;
    struct got g = {0};
    struct ndjson *nd = ndjson_new(64u << 20, on_line, &g);
    char *buf = malloc(chunk);
    memset(buf, 'x', chunk);
    int r = 0;
    for (size_t done = 0; done < big && r == 0; done += chunk)
        r = ndjson_feed(nd, buf, chunk);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(ndjson_pending(nd), big);
    CHECK_EQ_INT(ndjson_feed(nd, "\nnext\n", 6), 0);
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_INT(g.len, big + 1 + 5);
    CHECK(g.buf && g.buf[0] == 'x' && g.buf[big - 1] == 'x' && g.buf[big] == '\n');
    CHECK_EQ_INT(ndjson_overflowed(nd), 0);
    ndjson_free(nd);
    free(buf);
    free(g.buf);
}

TEST(line_of_exactly_max_line_accepted)
{
    struct got g = {0};
    struct ndjson *nd = ndjson_new(16, on_line, &g);
    CHECK_EQ_INT(ndjson_feed(nd, "0123456789abcdef\n", 17), 0);
    CHECK_EQ_INT(g.n, 1);
    ndjson_free(nd);
    free(g.buf);
}

TEST(line_over_max_line_refused)
{
    struct got g = {0};
    struct ndjson *nd = ndjson_new(16, on_line, &g);
    CHECK_EQ_INT(ndjson_feed(nd, "ok\n0123456789", 13), 0);
    /* The bound holds before the newline comes: memory must not grow without one. */
    CHECK_EQ_INT(ndjson_feed(nd, "0123456789", 10), -1);
    CHECK(ndjson_overflowed(nd));
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(ndjson_feed(nd, "\nafter\n", 7), -1);
    CHECK_EQ_INT(g.n, 1);
    ndjson_free(nd);
    free(g.buf);

    struct got g2 = {0};
    nd = ndjson_new(16, on_line, &g2);
    CHECK_EQ_INT(ndjson_feed(nd, "0123456789abcdefg\n", 18), -1); /* 17 bytes, newline in the same feed */
    CHECK(ndjson_overflowed(nd));
    CHECK_EQ_INT(g2.n, 0);
    ndjson_free(nd);
    free(g2.buf);
}

TEST(callback_stop)
{
    struct got g = {.stop_at = 2};
    struct ndjson *nd = ndjson_new(1024, on_line, &g);
    CHECK_EQ_INT(ndjson_feed(nd, "a\nb\nc\n", 6), -1);
    CHECK_EQ_STR(got_str(&g), "a\nb\n");
    CHECK_EQ_INT(ndjson_overflowed(nd), 0);
    CHECK_EQ_INT(ndjson_feed(nd, "d\n", 2), -1);
    CHECK_EQ_INT(g.n, 2);
    ndjson_free(nd);
    free(g.buf);
}

TEST(pending_reports_a_cut_stream)
{
    struct got g = {0};
    struct ndjson *nd = ndjson_new(1024, on_line, &g);
    CHECK_EQ_INT(ndjson_pending(nd), 0);
    CHECK_EQ_INT(ndjson_feed(nd, "{\"a\":1}\n{\"b\"", 12), 0);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(ndjson_pending(nd), 4);
    CHECK_EQ_INT(ndjson_feed(nd, ":2}\n", 4), 0);
    CHECK_EQ_INT(ndjson_pending(nd), 0);
    CHECK_EQ_STR(got_str(&g), "{\"a\":1}\n{\"b\":2}\n");
    CHECK_EQ_INT(ndjson_feed(nd, "", 0), 0);
    ndjson_free(nd);
    ndjson_free(NULL);
    free(g.buf);
}

UNIT_MAIN()
