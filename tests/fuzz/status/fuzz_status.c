/*
 * libFuzzer target for the status engines.  The input is a list of names
 * (a length byte, then that many bytes): each is counted in a small table
 * and escaped for JSON and Prometheus.  Besides "no crash": a name finds
 * its row again, rows never pass the bound, and an escaped name is valid
 * UTF-8 without a raw control byte, quote or backslash left unescaped.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngsp_status_table.h"
#include "ngsp_status_text.h"

#define MAX_ROWS  8


static uint64_t  mem[65536];


/* valid UTF-8, no raw control byte, every '"' escaped */
static void
check(const unsigned char *s, size_t len, int json)
{
    size_t  i, n;

    for (i = 0; i < len; i += n) {
        n = 1;

        if (s[i] < 0x20 || s[i] == 0x7f) {
            abort();
        }

        if (s[i] == '\\') {
            if (i + 1 >= len) {
                abort();
            }
            if (!json && s[i + 1] != '\\' && s[i + 1] != '"'
                && s[i + 1] != 'n')
            {
                abort();
            }
            n = 2;
            continue;
        }

        if (s[i] == '"') {
            abort();
        }

        if (s[i] >= 0x80) {
            if ((s[i] & 0xe0) == 0xc0) {
                n = 2;
            } else if ((s[i] & 0xf0) == 0xe0) {
                n = 3;
            } else if ((s[i] & 0xf8) == 0xf0) {
                n = 4;
            } else {
                abort();
            }
            if (i + n > len) {
                abort();
            }
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                i, n, len;
    uint64_t             *c;
    unsigned char        *out;
    ngsp_status_table_t  *t;

    n = ngsp_status_table_size(MAX_ROWS, 3);
    if (n > sizeof(mem)) {
        abort();
    }

    t = ngsp_status_table_init(mem, n, MAX_ROWS, 3, 1, size);
    out = malloc(NGSP_STATUS_JSON_MAX(256) + 1);

    for (i = 0; i < size; i += len) {
        len = data[i++];
        if (len > size - i) {
            len = size - i;
        }

        c = ngsp_status_table_counters(t, data + i, len);
        ngsp_status_add(&c[0], 1);

        if (ngsp_status_table_counters(t, data + i, len) != c) {
            abort();
        }

        if (len <= 256) {
            check(out, ngsp_status_json_escape((char *) out, data + i, len),
                  1);
            check(out, ngsp_status_prom_escape((char *) out, data + i, len),
                  0);
        }
    }

    if (ngsp_status_table_rows(t) > MAX_ROWS) {
        abort();
    }

    free(out);

    return 0;
}
