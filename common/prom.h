#ifndef COMMON_PROM_H
#define COMMON_PROM_H
/* prom: the Prometheus text exposition format, version 0.0.4 (prometheus/docs
 * instrumenting/exposition_formats.md), as a small writer: metric families with their # HELP and
 * # TYPE lines, samples with escaped label values, histograms from per-bucket counts, and an
 * atomic write of the whole text to a file for node_exporter's textfile collector. No I/O but
 * prom_write_file; no knowledge of turnq's metrics (that is mstats). */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* The Content-Type a server of this text must send (Prometheus 3 requires one). */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- Writing ---- */

/* Starts a metric family: appends "# HELP name help" (help escaped) and "# TYPE name type".
 * type is "counter", "gauge", "histogram", "summary" or "untyped". Every sample of the family must
 * follow before the next family starts (the format wants one group per metric). */
void prom_family(struct buf *out, const char *name, const char *type, const char *help);

/* Appends one sample line "name{k="v",...} value". labels: NULL, or a NULL-terminated list of
 * name, value pairs ({"machine", "gpu1", NULL}); values are escaped (\\, \", \n). A label whose
 * value is NULL is left out. Values: integral ones print as integers, NaN and infinities as NaN,
 * +Inf and -Inf. */
void prom_sample(struct buf *out, const char *name, const char *const *labels, double value);

/* Appends a histogram's samples: name_bucket{labels...,le="B"} for each of the n finite,
 * increasing bounds and for le="+Inf", then name_sum and name_count. counts has n + 1 entries and
 * is NOT cumulative: counts[i] observations fell in (bounds[i-1], bounds[i]], counts[n] above the
 * last bound; the buckets written are their running sums, so +Inf equals _count. */
void prom_histogram(struct buf *out, const char *name, const char *const *labels, const double *bounds,
                    const uint64_t *counts, size_t n, double sum);

/* ---- Pieces (exposed for tests and for other writers) ---- */

/* Appends s escaped as a label value: backslash, double quote and newline as \\, \" and \n. */
void prom_escape_label(struct buf *out, const char *s);

/* Appends s escaped as HELP text: backslash and newline as \\ and \n. */
void prom_escape_help(struct buf *out, const char *s);

/* Appends v in the format's float syntax (see prom_sample). */
void prom_value(struct buf *out, double v);

/* ---- Publishing ---- */

/* Writes len bytes of text to path atomically: to "PATH.tmp.PID" in the same directory, then
 * rename(2) over path, so a reader (node_exporter) sees the old file or the new one, never a
 * partial one. The temporary name does not end in .prom, so the collector never reads it.
 * Returns 0, or -1 with err naming the file and the reason (the temporary file is removed). */
int prom_write_file(const char *path, const char *text, size_t len, char err[ERR_LEN]);

#endif
