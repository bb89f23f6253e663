/* unit: runs each registered test in a forked child (own process group, own temporary directory,
 * an alarm() watchdog) and turns its exit status into one PASS/FAIL/SKIP line. The child writes
 * its failure details and any other output into a temporary file that the parent shows, indented,
 * only on failure, so no output of a test can pass for a result line. See unit.h. */
#define _XOPEN_SOURCE 700 /* nftw; before any header */
#include "unit.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNIT_MAX 512
#define UNIT_EXIT_SKIP 77 /* the automake skip code */

static struct unit_test { const char *name; unit_fn *fn; int line; } tests[UNIT_MAX];
static int ntests;
static bool failed; /* the current test has failed a check */
static bool nofork;
static char tmpdir[64];

void unit_register(const char *name, unit_fn *fn, int line)
{
    if (ntests == UNIT_MAX) {
        fprintf(stderr, "unit: more than %d tests\n", UNIT_MAX);
        abort();
    }
    tests[ntests++] = (struct unit_test){name, fn, line};
}

bool unit_check(bool ok, const char *file, int line, bool fatal, const char *fmt, ...)
{
    if (ok)
        return true;
    va_list ap;
    va_start(ap, fmt);
    printf("%s:%d: ", file, line);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    failed = true;
    fflush(stdout);
    if (fatal && !nofork)
        _exit(1);
    if (fatal)
        exit(1);
    return false;
}

bool unit_eq_int(long long a, long long b, const char *ea, const char *eb, const char *file, int line, bool fatal)
{
    return unit_check(a == b, file, line, fatal, "expected %s == %s: %lld vs %lld", ea, eb, a, b);
}

bool unit_eq_u64(uint64_t a, uint64_t b, const char *ea, const char *eb, const char *file, int line, bool fatal)
{
    return unit_check(a == b, file, line, fatal, "expected %s == %s: 0x%016llx vs 0x%016llx", ea, eb,
                      (unsigned long long)a, (unsigned long long)b);
}

bool unit_eq_str(const char *a, const char *b, const char *ea, const char *eb, const char *file, int line, bool fatal)
{
    bool ok = a && b ? strcmp(a, b) == 0 : a == b;
    return unit_check(ok, file, line, fatal, "expected %s == %s: \"%.300s\" vs \"%.300s\"", ea, eb,
                      a ? a : "(null)", b ? b : "(null)");
}

bool unit_contains(const char *s, const char *sub, bool want, const char *es, const char *file, int line, bool fatal)
{
    bool ok = s && (strstr(s, sub) != NULL) == want;
    return unit_check(ok, file, line, fatal, "expected %s to %s \"%s\": \"%.300s\"", es,
                      want ? "contain" : "not contain", sub, s ? s : "(null)");
}

void unit_skip(const char *why)
{
    printf("skipped: %s\n", why);
    fflush(stdout);
    if (!nofork)
        _exit(UNIT_EXIT_SKIP);
}

const char *unit_tmpdir(void) { return tmpdir; }

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Runs one test in a child; returns 0 pass, 1 fail, 2 skip. */
static int run_one(const struct unit_test *t, unsigned timeout_s)
{
    FILE *out = tmpfile();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/unit.XXXXXX");
    if (!out || !mkdtemp(tmpdir)) {
        printf("FAIL: %s (cannot create its temporary file or directory)\n", t->name);
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
        signal(SIGALRM, SIG_DFL);
        if (chdir(tmpdir) != 0)
            _exit(1);
        alarm(timeout_s);
        t->fn();
        exit(failed ? 1 : 0); /* exit, not _exit: LeakSanitizer reports from an atexit hook */
    }
    int st = 0, r = 1;
    if (pid > 0) {
        setpgid(pid, pid); /* both sides, so killpg below cannot miss */
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        killpg(pid, SIGKILL); /* whatever the test left running */
    }
    if (pid < 0)
        printf("FAIL: %s (fork failed)\n", t->name);
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        r = 0, printf("PASS: %s\n", t->name);
    else if (WIFEXITED(st) && WEXITSTATUS(st) == UNIT_EXIT_SKIP)
        r = 2, printf("SKIP: %s\n", t->name);
    else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        printf("FAIL: %s (timed out after %u s)\n", t->name, timeout_s);
    else if (WIFSIGNALED(st))
        printf("FAIL: %s (killed by signal %d: %s)\n", t->name, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WEXITSTATUS(st) != 1)
        printf("FAIL: %s (exit status %d)\n", t->name, WEXITSTATUS(st));
    else
        printf("FAIL: %s\n", t->name);
    if (r != 0) { /* show what the child wrote, indented so it cannot look like a result line */
        char line[4096];
        rewind(out);
        while (fgets(line, sizeof line, out))
            printf("    %s%s", line, strchr(line, '\n') ? "" : "\n");
    }
    fclose(out);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return r;
}

int unit_main(int argc, char **argv)
{
    const char *e = getenv("UNIT_TIMEOUT");
    unsigned timeout_s = e && atoi(e) > 0 ? (unsigned)atoi(e) : 10;
    int n[3] = {0};
    nofork = getenv("UNIT_NOFORK") && *getenv("UNIT_NOFORK") == '1';
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Constructors run in no promised order: sort by line to run tests as written. */
    for (int i = 1; i < ntests; i++)
        for (int k = i; k > 0 && tests[k - 1].line > tests[k].line; k--) {
            struct unit_test x = tests[k];
            tests[k] = tests[k - 1], tests[k - 1] = x;
        }
    for (int i = 0; i < ntests; i++) {
        bool chosen = argc < 2;
        for (int a = 1; a < argc; a++)
            chosen |= strstr(tests[i].name, argv[a]) != NULL;
        if (!chosen)
            continue;
        if (nofork) {
            failed = false;
            tests[i].fn();
            printf("%s: %s\n", failed ? "FAIL" : "PASS", tests[i].name);
            n[failed]++;
        } else {
            n[run_one(&tests[i], timeout_s)]++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", n[0], n[1], n[2]);
    return n[1] ? 1 : 0;
}

json_t *unit_json(const char *text, const char *file, int line)
{
    json_error_t je;
    json_t *o = json_loads(text, JSON_DECODE_ANY, &je);
    unit_check(o != NULL, file, line, true, "test JSON does not parse: %s: %s", je.text, text);
    return o;
}
