/* test_chunk: the token-chunk fast path (worker/chunk.h) against jansson, its reference: every
 * line it accepts, jansson reads as the same chunk with the same content; every token chunk with
 * a well-formed content string (escapes, surrogate pairs, raw UTF-8 of every length) it accepts;
 * and on random and mutated lines it never accepts what jansson refuses or reads otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/chunk.h"
#include "../lib/unit.h"

#define PRE "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-12-03T09:00:01.001123456Z\",\"message\":{\"role\":\"assistant\",\"content\":\""
#define POST "\"},\"done\":false}"

/* What jansson makes of the line: 1 and the content when it is exactly a token chunk (an object
 * with model, created_at, done false and a message of role assistant and a string content, and
 * nothing else), 0 otherwise. */
static int reference(const char *line, size_t len, char **content, size_t *clen)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *m = json_object_get(o, "message");
    int ok = json_is_object(o) && json_object_size(o) == 4 && json_is_string(json_object_get(o, "model")) &&
             json_is_string(json_object_get(o, "created_at")) && json_is_false(json_object_get(o, "done")) &&
             json_is_object(m) && json_object_size(m) == 2 &&
             json_is_string(json_object_get(m, "role")) &&
             !strcmp(json_string_value(json_object_get(m, "role")), "assistant") &&
             json_is_string(json_object_get(m, "content"));
    if (ok) {
        json_t *c = json_object_get(m, "content");
        *clen = json_string_length(c);
        *content = malloc(*clen + 1);
        memcpy(*content, json_string_value(c), *clen + 1);
    }
    json_decref(o);
    return ok;
}

/* The fast path on line, checked against the reference. want: 1 must accept, 0 must not,
 * -1 either (but if it accepts, jansson must agree on the content). */
static int check_line(const char *line, size_t len, int want, const char *what)
{
    struct buf b = {0};
    buf_puts(&b, "before|");
    int got = chunk_token(line, len, &b);
    char *rc = NULL;
    size_t rlen = 0;
    int ref = reference(line, len, &rc, &rlen);
    if (want >= 0)
        CHECK_MSG(got == want, "%s: chunk_token gave %d, want %d", what, got, want);
    if (got) {
        CHECK_MSG(ref, "%s: accepted a line jansson does not read as a token chunk", what);
        CHECK_MSG(ref && b.len == 7 + rlen && !memcmp(b.data + 7, rc, rlen),
                  "%s: content differs from jansson's (%zu vs %zu bytes)", what, b.len - 7, rlen);
    } else {
        CHECK_MSG(b.len == 7 && !strcmp(b.data, "before|"), "%s: refused, yet the content changed", what);
    }
    free(rc);
    buf_free(&b);
    return got;
}

static int check_content(const char *content, int want, const char *what)
{
    char line[4096];
    int n = snprintf(line, sizeof line, "%s%s%s", PRE, content, POST);
    return check_line(line, (size_t)n, want, what);
}

TEST(token_chunks_are_read_as_jansson_reads_them)
{
    check_content("Here", 1, "a word");
    check_content("", 1, "empty");
    check_content(" is my answer, with no tool calls needed.", 1, "a sentence");
    check_content("a\\nb\\tc\\rd\\\\e\\\"f\\/g\\bh\\fi", 1, "every short escape");
    check_content("\\u003cb\\u003e \\u0026 \\u2028", 1, "Go's HTML escapes");
    check_content("\\u00e9\\u00C9", 1, "two-byte escapes, either case");
    check_content("\\ud83d\\udd29", 1, "a surrogate pair");
    check_content("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x94\xa9 \xf4\x8f\xbf\xbf", 1, "raw UTF-8 of every length");
    check_content("\\u0001", 1, "an escaped control character");
}

TEST(doubtful_strings_are_left_to_jansson)
{
    check_content("\\u0000", 0, "\\u0000 (jansson refuses it by default)");
    check_content("\\ud83d", 0, "a lone high surrogate");
    check_content("\\ud83dx", 0, "a high surrogate followed by text");
    check_content("\\udd29", 0, "a lone low surrogate");
    check_content("\\ud83d\\u0041", 0, "a high surrogate followed by a non-surrogate");
    check_content("\\u12", 0, "a short \\u escape");
    check_content("\\u12g4", 0, "a \\u escape that is not hex");
    check_content("\\x", 0, "an unknown escape");
    check_content("a\tb", 0, "a raw tab (a control character)");
    check_content("\xc3", 0, "a cut UTF-8 sequence");
    check_content("\xc0\xaf", 0, "an overlong form");
    check_content("\xe0\x80\xaf", 0, "an overlong three-byte form");
    check_content("\xed\xa0\x80", 0, "an encoded surrogate");
    check_content("\xf4\x90\x80\x80", 0, "above U+10FFFF");
    check_content("\xff", 0, "a byte that is never UTF-8");
    check_content("\\", 0, "a backslash at the end");
}

TEST(other_shapes_are_left_to_jansson)
{
    static const char *const lines[] = {
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":true}",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"x\"},\"done\":false}",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[]},\"done\":false}",
        "{\"model\":\"qwen3:8b\", \"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false} ",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}\r",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}}",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false,\"x\":1}",
        "{\"model\":\"q\\u0077en\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}",
        "{\"model\":\"qw\xc3\xa9n\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"user\",\"content\":\"x\"},\"done\":false}",
        "{\"error\":\"model 'x' not found\"}",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":fals",
        "{\"model\":\"qwen3:8b\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":\"x",
        "{\"model\":\"qwen3:8b",
        "",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        char what[32];
        snprintf(what, sizeof what, "line %zu", i);
        check_line(lines[i], strlen(lines[i]), 0, what);
    }
    /* Plain ASCII model and timestamp of any value are fine; an empty one too. */
    const char *ok = "{\"model\":\"\",\"created_at\":\"\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}";
    check_line(ok, strlen(ok), 1, "empty model and timestamp");
}

/* A small deterministic generator (xorshift), so a failure is repeatable. */
static unsigned long long rng = 88172645463325252ull;
static unsigned next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

TEST(random_contents_agree_with_jansson)
{
    /* pieces that make up contents: valid and invalid escapes and bytes */
    static const char *const pieces[] = {"a", " ", "\\n", "\\\"", "\\\\", "\\u003c", "\\u00e9", "\\ud83d\\udd29",
                                         "\\ud83d", "\\udd29", "\\u0000", "\\u", "\\q", "\xc3\xa9", "\xe2\x80\x94",
                                         "\xf0\x9f\x94\xa9", "\xc3", "\x80", "\xed\xa0\x80", "\x01", "\"", "\\",
                                         "}", "\\/"};
    size_t np = sizeof pieces / sizeof *pieces;
    int accepted = 0, rounds = 20000;
    for (int round = 0; round < rounds; round++) {
        char content[512] = "";
        int k = (int)(next() % 8);
        for (int i = 0; i < k; i++)
            strcat(content, pieces[next() % np]);
        char what[600];
        snprintf(what, sizeof what, "round %d, content [%s]", round, content);
        accepted += check_content(content, -1, what);
    }
    /* both sides of the path were taken, many times */
    CHECK_MSG(accepted > rounds / 10 && accepted < rounds * 9 / 10, "%d of %d accepted", accepted, rounds);
}

TEST(mutated_lines_agree_with_jansson)
{
    const char *base = PRE "Restocking bolts \\u0026 nuts \xe2\x80\x94 ok" POST;
    size_t n = strlen(base);
    char line[1024];
    for (int round = 0; round < 20000; round++) {
        memcpy(line, base, n);
        size_t len = n;
        int edits = 1 + (int)(next() % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = next() % len;
            unsigned op = next() % 3;
            if (op == 0) { /* change a byte */
                line[at] = (char)(next() & 0xff);
            } else if (op == 1) { /* drop one */
                memmove(line + at, line + at + 1, len - at - 1);
                len--;
            } else if (len < sizeof line - 1) { /* add one */
                memmove(line + at + 1, line + at, len - at);
                line[at] = (char)(next() & 0xff);
                len++;
            }
        }
        char what[64];
        snprintf(what, sizeof what, "mutation round %d", round);
        check_line(line, len, -1, what);
    }
}

UNIT_MAIN()
