/* test_csv: RFC 4180 quoting (common/csv.h). */
#include <string.h>

#include "../lib/unit.h"
#include "csv.h"

static const char *row(const char *const *fields, size_t n)
{
    static struct buf b;
    buf_reset(&b);
    for (size_t i = 0; i < n; i++)
        csv_field(&b, fields[i], strlen(fields[i]), i == 0);
    csv_end(&b);
    return buf_head(&b);
}

TEST(csv_plain_fields_as_they_are)
{
    const char *f[] = {"A1", "done", "", "0.2", "it's fine; really"};
    CHECK_EQ_STR(row(f, 5), "A1,done,,0.2,it's fine; really\r\n");
}

TEST(csv_quotes_comma_quote_and_line_breaks)
{
    const char *f[] = {"a,b", "say \"hi\"", "two\nlines", "cr\rhere", "\"", "x"};
    CHECK_EQ_STR(row(f, 6), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\",\"\"\"\",x\r\n");
}

TEST(csv_bytes_with_nul_length)
{
    struct buf b = {0};
    csv_field(&b, "ab,c", 2, 1); /* only "ab" */
    CHECK_EQ_STR(buf_head(&b), "ab");
    buf_free(&b);
}

UNIT_MAIN()
