/*
 * ngsp masking: Content-Type parsing and the media types it names.
 */

#include <string.h>

#include "ngsp_mask_type.h"


/* tchar of RFC 9110, 5.6.2 */
static int
ngsp_mask_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


static size_t
ngsp_mask_token(const unsigned char *p, const unsigned char *last)
{
    const unsigned char  *s = p;

    while (p < last && ngsp_mask_tchar(*p)) {
        p++;
    }

    return p - s;
}


static const unsigned char *
ngsp_mask_ows(const unsigned char *p, const unsigned char *last)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


static int
ngsp_mask_is(const unsigned char *p, size_t len, const char *s)
{
    size_t  i, n = strlen(s);

    if (len != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i])
            != (unsigned char) s[i])
        {
            return 0;
        }
    }

    return 1;
}


/* why a character where a token or separator should be is wrong */
static const char *
ngsp_mask_bad(const unsigned char *p, const unsigned char *last,
    const char *what)
{
    if (memchr(p, ',', last - p) != NULL) {
        return "a list of media types";
    }

    if (p < last && *p == '"') {
        return "a quoted string where a token should be";
    }

    return what;
}


/*
 * "charset" written anywhere but as the name of the one charset
 * parameter: "charset*=utf-7" (RFC 8187), "x=\"; charset=utf-7\"".
 * Python's email and requests read those as the charset.
 */
static void
ngsp_mask_charset_hidden(ngsp_mask_ctype_t *ct, const unsigned char *p,
    size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i + 7 <= len; i++) {
        if (ngsp_mask_is(p + i, 7, "charset")) {
            n++;
        }
    }

    ct->charset_hidden = (n > (ct->charset ? 1 : 0));
}


const char *
ngsp_mask_ctype_parse(const unsigned char *p, size_t len,
    ngsp_mask_ctype_t *ct)
{
    size_t                n;
    unsigned              charset, is_charset;
    const unsigned char  *last, *name, *v;

    memset(ct, 0, sizeof(ngsp_mask_ctype_t));

    last = p + len;
    p = ngsp_mask_ows(p, last);

    if (p < last && *p == '"') {
        return "a quoted media type";
    }

    ct->type = p;

    n = ngsp_mask_token(p, last);
    p += n;

    if (n == 0 || p == last || *p != '/') {
        if (n && (p == last || *p == ';' || *p == ' ' || *p == '\t')) {
            return "no \"/\" in the media type";
        }

        return ngsp_mask_bad(p, last, "a character a media type cannot hold");
    }

    p++;

    n = ngsp_mask_token(p, last);
    p += n;

    if (n == 0) {
        return ngsp_mask_bad(p, last, "no subtype in the media type");
    }

    ct->type_len = p - ct->type;
    charset = 0;

    for ( ;; ) {
        p = ngsp_mask_ows(p, last);

        if (p == last) {
            ngsp_mask_charset_hidden(ct, last - len, len);
            return NULL;
        }

        if (*p != ';') {
            return ngsp_mask_bad(p, last,
                                 "a character a media type cannot hold");
        }

        p = ngsp_mask_ows(p + 1, last);

        /* an empty parameter is allowed: "type/sub;" */
        if (p == last || *p == ';') {
            continue;
        }

        name = p;
        n = ngsp_mask_token(p, last);
        p += n;

        if (n == 0) {
            return ngsp_mask_bad(p, last, "a malformed parameter");
        }

        if (p == last || *p != '=') {
            return ngsp_mask_bad(p, last, "a parameter without a value");
        }

        p++;

        is_charset = ngsp_mask_is(name, n, "charset");

        if (is_charset && charset++) {
            return "two charset parameters";
        }

        if (p < last && *p == '"') {
            v = ++p;

            while (p < last && *p != '"') {
                if (*p == '\\') {
                    /* a quoted-pair: compared as written, never matches */
                    ct->charset_escaped |= is_charset;

                    if (++p == last) {
                        break;
                    }

                } else if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
                    return "a control character in a parameter";
                }

                p++;
            }

            if (p == last) {
                return "an unbalanced quote";
            }

            if (is_charset) {
                ct->charset = v;
                ct->charset_len = p - v;
            }

            p++;

        } else {
            v = p;
            n = ngsp_mask_token(p, last);
            p += n;

            if (n == 0) {
                return ngsp_mask_bad(p, last, "a parameter without a value");
            }

            if (is_charset) {
                ct->charset = v;
                ct->charset_len = n;
            }
        }
    }
}


int
ngsp_mask_ctype_charset_ok(const ngsp_mask_ctype_t *ct)
{
    if (ct->charset == NULL) {
        return !ct->charset_hidden;
    }

    if (ct->charset_escaped || ct->charset_hidden) {
        return 0;
    }

    return ngsp_mask_is(ct->charset, ct->charset_len, "utf-8")
           || ngsp_mask_is(ct->charset, ct->charset_len, "us-ascii");
}


static int
ngsp_mask_suffix(const unsigned char *type, size_t len, const char *s)
{
    size_t  n = strlen(s);

    /* "+json" after a "/" and at least one character of the subtype */
    return len > n + 1 && memchr(type, '/', len - n - 1) != NULL
           && ngsp_mask_is(type + len - n, n, s);
}


ngsp_mask_media_t
ngsp_mask_media(const unsigned char *type, size_t len)
{
    size_t  i;

    static const char  *seq[] = {
        "application/x-ndjson", "application/ndjson",
        "application/jsonl", "application/x-jsonl",
        "application/jsonlines", "application/x-jsonlines",
        "application/json-seq"
    };

    for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        if (ngsp_mask_is(type, len, seq[i])) {
            return NGSP_MASK_MEDIA_SEQ;
        }
    }

    if (ngsp_mask_suffix(type, len, "+json-seq")) {
        return NGSP_MASK_MEDIA_SEQ;
    }

    if (ngsp_mask_is(type, len, "application/json")
        || ngsp_mask_is(type, len, "text/json")
        || ngsp_mask_suffix(type, len, "+json"))
    {
        return NGSP_MASK_MEDIA_JSON;
    }

    if (ngsp_mask_is(type, len, "text/xml")
        || ngsp_mask_is(type, len, "application/xml")
        || ngsp_mask_suffix(type, len, "+xml"))
    {
        return NGSP_MASK_MEDIA_XML;
    }

    return NGSP_MASK_MEDIA_OTHER;
}
