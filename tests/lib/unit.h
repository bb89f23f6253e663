#ifndef TESTS_LIB_UNIT_H
#define TESTS_LIB_UNIT_H
/* unit: the in-tree unit-test framework (CONVENTIONS rule 14, beanstalkd's ct in miniature).
 *
 *     #include "../lib/unit.h"
 *     TEST(id_accepts_integer) { CHECK_EQ_STR(j->id, "42"); ... }
 *     UNIT_MAIN()
 *
 * TEST(name) defines a plain function and registers it (a constructor, run before main); tests
 * run in the order they are written. Each runs in a forked child, in its own process group and a
 * fresh temporary working directory, under an alarm() watchdog (UNIT_TIMEOUT seconds, default
 * 10), so a crash or a hang fails that test only. The child's stdout and stderr are kept and shown
 * (indented) only when the test fails. The parent prints exactly one line per test:
 * "PASS: name", "FAIL: name (reason)" followed by indented details, or "SKIP: name", then
 * "N passed, N failed, N skipped", and exits 1 when any test failed.
 *
 * Arguments select tests by substring of their names. UNIT_NOFORK=1 runs them in-process, for
 * a debugger (the first fatal failure then ends the run).
 *
 * CHECK_* record "file:line: message" and let the test go on; REQUIRE_* end it at once. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef void unit_fn(void);

void unit_register(const char *name, unit_fn *fn, int line);
int unit_main(int argc, char **argv);

#define TEST(name)                                                               \
    static void name(void);                                                      \
    __attribute__((constructor)) static void unit_reg_##name(void)               \
    {                                                                            \
        unit_register(#name, name, __LINE__);                                    \
    }                                                                            \
    static void name(void)

#define UNIT_MAIN()                                                              \
    int main(int argc, char **argv) { return unit_main(argc, argv); }

/* The reporting functions behind the macros. `fatal` ends the test on failure. Each returns ok. */
bool unit_check(bool ok, const char *file, int line, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
bool unit_eq_int(long long a, long long b, const char *ea, const char *eb, const char *file,
                 int line, bool fatal);
bool unit_eq_u64(uint64_t a, uint64_t b, const char *ea, const char *eb, const char *file,
                 int line, bool fatal);
bool unit_eq_str(const char *a, const char *b, const char *ea, const char *eb, const char *file,
                 int line, bool fatal);
bool unit_contains(const char *s, const char *sub, bool want, const char *es, const char *file,
                   int line, bool fatal);
void unit_skip(const char *why); /* ends the test as SKIP */
const char *unit_tmpdir(void);   /* the test's own temporary directory (also its cwd) */

#define UNIT_CHECK_(c, fatal) unit_check(!!(c), __FILE__, __LINE__, fatal, "expected %s", #c)
#define CHECK(c) UNIT_CHECK_(c, false)
#define REQUIRE(c) UNIT_CHECK_(c, true)
/* A check with its own message: CHECK_MSG(n == 3, "n is %d", n). */
#define CHECK_MSG(c, ...) unit_check(!!(c), __FILE__, __LINE__, false, __VA_ARGS__)
#define REQUIRE_MSG(c, ...) unit_check(!!(c), __FILE__, __LINE__, true, __VA_ARGS__)

#define CHECK_EQ_INT(a, b) unit_eq_int((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__, false)
#define REQUIRE_EQ_INT(a, b) unit_eq_int((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__, true)
#define CHECK_EQ_U64(a, b) unit_eq_u64((a), (b), #a, #b, __FILE__, __LINE__, false)
#define CHECK_EQ_STR(a, b) unit_eq_str((a), (b), #a, #b, __FILE__, __LINE__, false)
#define REQUIRE_EQ_STR(a, b) unit_eq_str((a), (b), #a, #b, __FILE__, __LINE__, true)
/* s (may be NULL: a failure) contains / does not contain sub. */
/* A new reference: the JSON text (any value), parsed; the test ends (REQUIRE) when it does not
 * parse, naming where. */
json_t *unit_json(const char *text, const char *file, int line);
#define JSON_OF(text) unit_json((text), __FILE__, __LINE__)

#define CHECK_CONTAINS(s, sub) unit_contains((s), (sub), true, #s, __FILE__, __LINE__, false)
#define CHECK_NOT_CONTAINS(s, sub) unit_contains((s), (sub), false, #s, __FILE__, __LINE__, false)

#endif
