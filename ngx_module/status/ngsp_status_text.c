/*
 * ngsp status text: escaping and numbers (see ngsp_status_text.h).
 */

#include <string.h>

#include "ngsp_status_text.h"


/*
 * The length of the valid UTF-8 sequence at s (at most len bytes), or 0:
 * no overlong forms, no surrogates, nothing past U+10FFFF.
 */
static size_t
ngsp_status_utf8(const unsigned char *s, size_t len)
{
    size_t    n, i;
    uint32_t  c, min;

    if (s[0] < 0x80) {
        return 1;
    }

    if ((s[0] & 0xe0) == 0xc0) {
        n = 2; c = s[0] & 0x1f; min = 0x80;

    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3; c = s[0] & 0x0f; min = 0x800;

    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4; c = s[0] & 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if (n > len) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    return n;
}


size_t
ngsp_status_json_escape(char *out, const unsigned char *s, size_t len)
{
    static const char  hex[] = "0123456789abcdef";

    char           *p;
    size_t          i, n;
    unsigned char   c;

    p = out;

    for (i = 0; i < len; /* void */) {
        c = s[i];

        if (c >= 0x80) {
            n = ngsp_status_utf8(s + i, len - i);

            if (n == 0) {
                memcpy(p, "\\ufffd", 6);
                p += 6;
                i++;
                continue;
            }

            memcpy(p, s + i, n);
            p += n;
            i += n;
            continue;
        }

        i++;

        switch (c) {
        case '"':  *p++ = '\\'; *p++ = '"'; continue;
        case '\\': *p++ = '\\'; *p++ = '\\'; continue;
        case '\n': *p++ = '\\'; *p++ = 'n'; continue;
        case '\r': *p++ = '\\'; *p++ = 'r'; continue;
        case '\t': *p++ = '\\'; *p++ = 't'; continue;
        case '\b': *p++ = '\\'; *p++ = 'b'; continue;
        case '\f': *p++ = '\\'; *p++ = 'f'; continue;
        }

        if (c < 0x20 || c == 0x7f) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 0xf];
            p += 6;
            continue;
        }

        *p++ = (char) c;
    }

    return p - out;
}


size_t
ngsp_status_prom_escape(char *out, const unsigned char *s, size_t len)
{
    char           *p;
    size_t          i, n;
    unsigned char   c;

    p = out;

    for (i = 0; i < len; /* void */) {
        c = s[i];

        if (c >= 0x80) {
            n = ngsp_status_utf8(s + i, len - i);

            if (n == 0) {
                memcpy(p, "\xef\xbf\xbd", 3);
                p += 3;
                i++;
                continue;
            }

            memcpy(p, s + i, n);
            p += n;
            i += n;
            continue;
        }

        i++;

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char) c;

        } else if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else if (c < 0x20 || c == 0x7f) {
            memcpy(p, "\xef\xbf\xbd", 3);
            p += 3;

        } else {
            *p++ = (char) c;
        }
    }

    return p - out;
}


size_t
ngsp_status_u64(char *out, uint64_t v)
{
    char    buf[NGSP_STATUS_NUM_MAX], *p;
    size_t  n;

    p = buf + sizeof(buf);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    n = buf + sizeof(buf) - p;
    memcpy(out, p, n);

    return n;
}


size_t
ngsp_status_i64(char *out, int64_t v)
{
    if (v < 0) {
        out[0] = '-';
        return 1 + ngsp_status_u64(out + 1, (uint64_t) 0 - (uint64_t) v);
    }

    return ngsp_status_u64(out, (uint64_t) v);
}


size_t
ngsp_status_micro(char *out, int64_t v)
{
    char      *p;
    int        i;
    uint64_t   u, frac;
    char       digits[6];

    p = out;

    if (v < 0) {
        *p++ = '-';
        u = (uint64_t) 0 - (uint64_t) v;

    } else {
        u = (uint64_t) v;
    }

    p += ngsp_status_u64(p, u / 1000000);
    frac = u % 1000000;

    if (frac == 0) {
        return p - out;
    }

    for (i = 5; i >= 0; i--) {
        digits[i] = (char) ('0' + frac % 10);
        frac /= 10;
    }

    for (i = 5; digits[i] == '0'; i--) { /* void */ }

    *p++ = '.';
    memcpy(p, digits, i + 1);
    p += i + 1;

    return p - out;
}
