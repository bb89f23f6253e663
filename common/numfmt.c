/* numfmt: shortest round-trip numbers and a normalised JSON serialiser (see numfmt.h).
 *
 * The shortest digits come from trying %.{p}e for p = 1..17 significant digits and keeping the
 * first that strtod reads back exactly: 17 always does for an IEEE double, so the loop ends. The
 * digits and exponent are then laid out by hand, because %g would pick exponent notation for
 * 100 at one digit ("1e+02"). */
#include "numfmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

char *numfmt_real(double x, char buf[NUMFMT_LEN])
{
    if (isnan(x))
        return strcpy(buf, "nan");
    if (isinf(x))
        return strcpy(buf, x < 0 ? "-inf" : "inf");
    char tmp[NUMFMT_LEN];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    /* tmp is [-]d[.ddd]e[+-]XX */
    const char *s = tmp;
    bool neg = *s == '-';
    if (neg)
        s++;
    char digits[20];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.' && nd < sizeof digits - 1)
            digits[nd++] = *s;
    int exp = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';

    char *o = buf;
    if (neg)
        *o++ = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -exp - 1; i++)
                *o++ = '0';
            memcpy(o, digits, nd);
            o += nd;
        } else {
            size_t ip = (size_t)exp + 1; /* digits before the point */
            for (size_t i = 0; i < ip; i++)
                *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > ip) {
                memcpy(o, digits + ip, nd - ip);
                o += nd - ip;
            } else {
                *o++ = '0';
            }
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, nd - 1);
            o += nd - 1;
        }
        snprintf(o, (size_t)(buf + NUMFMT_LEN - o), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **numfmt_sorted_keys(const json_t *o)
{
    size_t n = json_object_size(o), k = 0;
    const char **keys = xcalloc(n + 1, sizeof *keys);
    const char *key;
    json_t *e;
    json_object_foreach((json_t *)o, key, e)
        keys[k++] = key;
    qsort(keys, n, sizeof *keys, cmp_str);
    return keys;
}

static void dump(struct buf *b, const json_t *v)
{
    char num[NUMFMT_LEN];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        const char **keys = numfmt_sorted_keys(v);
        buf_puts(b, "{");
        for (size_t i = 0; i < n; i++) {
            json_t *ks = json_string(keys[i]);
            char *kt = json_dumps(ks, JSON_ENCODE_ANY | JSON_COMPACT);
            buf_printf(b, "%s%s:", i ? "," : "", kt ? kt : "\"\"");
            free(kt);
            json_decref(ks);
            dump(b, json_object_get(v, keys[i]));
        }
        buf_puts(b, "}");
        free(keys);
        break;
    }
    case JSON_ARRAY:
        buf_puts(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_puts(b, ",");
            dump(b, json_array_get(v, i));
        }
        buf_puts(b, "]");
        break;
    case JSON_STRING: {
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        buf_puts(b, t ? t : "\"\"");
        free(t);
        break;
    }
    case JSON_INTEGER:
        buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        buf_puts(b, numfmt_real(json_real_value(v), num));
        break;
    case JSON_TRUE:
        buf_puts(b, "true");
        break;
    case JSON_FALSE:
        buf_puts(b, "false");
        break;
    case JSON_NULL:
        buf_puts(b, "null");
        break;
    }
}

char *numfmt_dumps(const json_t *v)
{
    struct buf b = {0};
    dump(&b, v);
    char *out = xstrdup(buf_head(&b));
    buf_free(&b);
    return out;
}
