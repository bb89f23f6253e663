/* err: the one formatter behind every caller-owned error buffer. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

void set_err(char *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERR_LEN, fmt, ap);
    va_end(ap);
}
