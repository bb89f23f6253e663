#ifndef COMMON_XALLOC_H
#define COMMON_XALLOC_H
/* Allocation that never returns NULL: on failure it logs and aborts (tmux xmalloc.c).
 * A worker under Docker or systemd that runs out of memory is restarted; that is easier to
 * reason about than hundreds of untested NULL branches. */
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);                   /* the passed pointer is no longer valid */
void *xreallocarray(void *ptr, size_t nmemb, size_t size); /* with tmux's overflow check */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a new string, caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
