/*
 * ngsp masking actions.  Each works on decoded text and counts Unicode
 * code points; an invalid UTF-8 byte counts as one character and, when
 * kept, is written as U+FFFD so the output is always valid UTF-8.
 */

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

/*
 * HMAC-SHA256 is computed from SHA-256 states precomputed over the key's
 * inner and outer pads (RFC 2104): a copy of two small structs per value.
 * OpenSSL 3's EVP_MAC needs a context duplicated (allocated) per value,
 * which cost more than the whole JSON rewrite of a record; its low-level
 * SHA-256 calls are deprecated in 3.0 but kept, hence the API level.
 */
#define OPENSSL_API_COMPAT  10101
#include <openssl/sha.h>

#include "ngsp_mask_action.h"


struct ngsp_mask_key_s {
    SHA256_CTX   inner;         /* after the key ^ ipad block */
    SHA256_CTX   outer;         /* after the key ^ opad block */
};


static const unsigned char  ngsp_fffd[3] = { 0xef, 0xbf, 0xbd };


ngsp_mask_key_t *
ngsp_mask_key_new(const unsigned char *key, size_t len)
{
    size_t            i;
    ngsp_mask_key_t  *k;
    unsigned char     block[SHA256_CBLOCK], pad[SHA256_CBLOCK];

    k = calloc(1, sizeof(ngsp_mask_key_t));
    if (k == NULL) {
        return NULL;
    }

    memset(block, 0, sizeof(block));

    if (len > SHA256_CBLOCK) {
        SHA256(key, len, block);
    } else {
        memcpy(block, key, len);
    }

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x36;
    }

    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, SHA256_CBLOCK);

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x5c;
    }

    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, SHA256_CBLOCK);

    memset(block, 0, sizeof(block));
    memset(pad, 0, sizeof(pad));

    return k;
}


void
ngsp_mask_key_free(ngsp_mask_key_t *k)
{
    if (k == NULL) {
        return;
    }

    memset(k, 0, sizeof(ngsp_mask_key_t));
    free(k);
}


/* --- parsing -------------------------------------------------------------- */


static const struct {
    const char        *name;
    ngsp_mask_kind_t   kind;
    int                arg;     /* 0 none, 1 number, 2 text */
} ngsp_mask_actions[] = {
    { "pass", NGSP_MASK_PASS, 0 },
    { "remove", NGSP_MASK_REMOVE, 0 },
    { "redact", NGSP_MASK_REDACT, 0 },
    { "keep_first", NGSP_MASK_KEEP_FIRST, 1 },
    { "keep_last", NGSP_MASK_KEEP_LAST, 1 },
    { "initials", NGSP_MASK_INITIALS, 0 },
    { "year", NGSP_MASK_YEAR, 0 },
    { "email", NGSP_MASK_EMAIL, 0 },
    { "hash", NGSP_MASK_HASH, 0 },
    { "replace", NGSP_MASK_REPLACE, 2 },
    { "xml", NGSP_MASK_XML, 0 },
    { NULL, NGSP_MASK_PASS, 0 }
};


/* length of the UTF-8 character at p, 0 if p starts no valid one */
static size_t
ngsp_utf8_len(const unsigned char *p, size_t len)
{
    unsigned char  c = p[0];

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        return (len >= 2 && (p[1] & 0xc0) == 0x80) ? 2 : 0;
    }

    if (c >= 0xe0 && c <= 0xef) {
        if (len < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) {
            return 0;
        }
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)) {
            return 0;       /* overlong, surrogate */
        }
        return 3;
    }

    if (c >= 0xf0 && c <= 0xf4) {
        if (len < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
            || (p[3] & 0xc0) != 0x80)
        {
            return 0;
        }
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)) {
            return 0;
        }
        return 4;
    }

    return 0;
}


static int
ngsp_utf8_valid(const unsigned char *p, size_t len)
{
    size_t  n;

    while (len) {
        n = ngsp_utf8_len(p, len);
        if (n == 0) {
            return 0;
        }
        p += n;
        len -= n;
    }

    return 1;
}


int
ngsp_mask_action_parse(ngsp_mask_action_t *a, const char *spec, size_t len,
    char *err, size_t errlen)
{
    int          i;
    size_t       nlen, n;
    const char  *eq, *arg;

    memset(a, 0, sizeof(ngsp_mask_action_t));

    eq = memchr(spec, '=', len);
    nlen = eq ? (size_t) (eq - spec) : len;

    for (i = 0; ngsp_mask_actions[i].name; i++) {
        if (strlen(ngsp_mask_actions[i].name) == nlen
            && memcmp(ngsp_mask_actions[i].name, spec, nlen) == 0)
        {
            break;
        }
    }

    if (ngsp_mask_actions[i].name == NULL) {
        snprintf(err, errlen, "unknown action \"%.*s\" (pass, remove, "
                 "redact, keep_first=N, keep_last=N, initials, year, email, "
                 "hash, replace=TEXT)", (int) nlen, spec);
        return -1;
    }

    a->kind = ngsp_mask_actions[i].kind;

    if (ngsp_mask_actions[i].arg == 0) {
        if (eq) {
            snprintf(err, errlen, "action \"%s\" takes no argument",
                     ngsp_mask_actions[i].name);
            return -1;
        }
        return 0;
    }

    if (eq == NULL) {
        snprintf(err, errlen, "action \"%s\" needs \"=%s\"",
                 ngsp_mask_actions[i].name,
                 ngsp_mask_actions[i].arg == 1 ? "N" : "TEXT");
        return -1;
    }

    arg = eq + 1;
    n = len - nlen - 1;

    if (ngsp_mask_actions[i].arg == 2) {
        if (!ngsp_utf8_valid((const unsigned char *) arg, n)) {
            snprintf(err, errlen, "replace text is not valid UTF-8");
            return -1;
        }
        a->text = arg;
        a->text_len = n;
        return 0;
    }

    if (n == 0 || n > 6) {
        goto bad_number;
    }

    for (i = 0; (size_t) i < n; i++) {
        if (arg[i] < '0' || arg[i] > '9') {
            goto bad_number;
        }
        a->n = a->n * 10 + (arg[i] - '0');
    }

    return 0;

bad_number:

    snprintf(err, errlen, "invalid number in \"%.*s\"", (int) len, spec);
    return -1;
}


size_t
ngsp_mask_action_out_max(const ngsp_mask_action_t *a, size_t len)
{
    switch (a->kind) {
    case NGSP_MASK_KEEP_FIRST:
    case NGSP_MASK_KEEP_LAST:
    case NGSP_MASK_EMAIL:
        return 3 * len + 4;
    case NGSP_MASK_INITIALS:
        return 4 * len + 4;
    case NGSP_MASK_HASH:
        return 64;
    case NGSP_MASK_REPLACE:
        return a->text_len;
    case NGSP_MASK_PASS:
        return 3 * len;
    default:
        return 4;
    }
}


/* --- applying ------------------------------------------------------------- */


/* copies one character (n bytes at p, 0: invalid byte) as valid UTF-8 */
static unsigned char *
ngsp_put_char(unsigned char *o, const unsigned char *p, size_t n)
{
    if (n == 0) {
        memcpy(o, ngsp_fffd, 3);
        return o + 3;
    }

    /* at most four bytes: a call to memcpy would cost more */
    do {
        *o++ = *p++;
    } while (--n);

    return o;
}


/* the first non-ASCII byte in [p, end), or end; eight bytes at a time */
static const unsigned char *
ngsp_ascii_end(const unsigned char *p, const unsigned char *end)
{
    uint64_t  w;

    while (end - p >= 8) {
        memcpy(&w, p, 8);
        if (w & 0x8080808080808080ull) {
            break;
        }
        p += 8;
    }

    while (p < end && *p < 0x80) {
        p++;
    }

    return p;
}


/*
 * n '*' (identifiers are a dozen bytes: stores of eight that overlap
 * rather than a call)
 */
static void
ngsp_stars(unsigned char *o, size_t n)
{
    size_t          i;
    const uint64_t  stars = 0x2a2a2a2a2a2a2a2aull;

    if (n < 8) {
        for (i = 0; i < n; i++) {
            o[i] = '*';
        }
        return;
    }

    for (i = 0; i + 8 < n; i += 8) {
        memcpy(o + i, &stars, 8);
    }

    memcpy(o + n - 8, &stars, 8);
}


static size_t
ngsp_mask_keep(const ngsp_mask_action_t *a, const unsigned char *in,
    size_t len, unsigned char *out)
{
    size_t          total, i, n, first, last;
    unsigned char  *o;
    const unsigned char  *p, *end;

    end = in + len;

    if (ngsp_ascii_end(in, end) == end) {
        /* ASCII, as identifiers and phone numbers are: one byte each */
        if (a->kind == NGSP_MASK_KEEP_FIRST) {
            first = a->n < len ? a->n : len;
            memcpy(out, in, first);
            ngsp_stars(out + first, len - first);

        } else {
            last = a->n < len ? len - a->n : 0;
            ngsp_stars(out, last);
            memcpy(out + last, in + last, len - last);
        }

        return len;
    }

    total = 0;

    for (p = in; p < end; p += n ? n : 1) {
        n = ngsp_utf8_len(p, end - p);
        total++;
    }

    if (a->kind == NGSP_MASK_KEEP_FIRST) {
        first = a->n;
        last = total;
    } else {
        first = 0;
        last = total > a->n ? total - a->n : 0;
    }

    o = out;

    for (p = in, i = 0; p < end; p += n ? n : 1, i++) {
        n = ngsp_utf8_len(p, end - p);

        if (i < first || i >= last) {
            o = ngsp_put_char(o, p, n);
        } else {
            *o++ = '*';
        }
    }

    return o - out;
}


static int
ngsp_is_space(unsigned char c)
{
    /* ' ', '\t', '\n', '\v', '\f', '\r': one range test for most bytes */
    return c <= ' ' && (c == ' ' || (c >= '\t' && c <= '\r'));
}


/*
 * The first byte at or after p that is ' ' or below (a blank, or a control
 * character the caller tells apart), or end: eight bytes at a time.
 */
static const unsigned char *
ngsp_word_end(const unsigned char *p, const unsigned char *end)
{
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t  w, m;

    while (end - p >= 8) {
        memcpy(&w, p, 8);

        /* the high bit of each byte below 0x21, from its borrow; a byte
         * with the high bit set never counts, and the lowest is exact */
        m = (w - 0x2121212121212121ull) & ~w & 0x8080808080808080ull;

        if (m) {
            return p + (__builtin_ctzll(m) >> 3);
        }

        p += 8;
    }
#endif

    while (p < end && *p > ' ') {
        p++;
    }

    return p;
}


static size_t
ngsp_mask_initials(const unsigned char *in, size_t len, unsigned char *out)
{
    size_t          n;
    unsigned char  *o;
    const unsigned char  *p, *end;

    o = out;
    end = in + len;
    p = in;

    for ( ;; ) {
        while (p < end && ngsp_is_space(*p)) {
            p++;
        }

        if (p == end) {
            break;
        }

        if (o != out) {
            *o++ = ' ';
        }

        if (*p < 0x80) {
            *o++ = *p;
        } else {
            n = ngsp_utf8_len(p, end - p);
            o = ngsp_put_char(o, p, n);
        }
        *o++ = '.';

        for ( ;; ) {
            p = ngsp_word_end(p, end);

            if (p == end || ngsp_is_space(*p)) {
                break;
            }

            p++;
        }
    }

    return o - out;
}


/*
 * The year: the first run of exactly four digits ("1990-05-17",
 * "17/05/1990", "1990"), else the first four of a run of eight
 * ("19900517", YYYYMMDD).  Nothing recognisable: "***", never the text.
 */
static size_t
ngsp_mask_year(const unsigned char *in, size_t len, unsigned char *out)
{
    size_t                i, start;
    const unsigned char  *eight;

    eight = NULL;
    i = 0;

    while (i < len) {
        if (in[i] < '0' || in[i] > '9') {
            i++;
            continue;
        }

        start = i;
        while (i < len && in[i] >= '0' && in[i] <= '9') {
            i++;
        }

        if (i - start == 4) {
            memcpy(out, in + start, 4);
            return 4;
        }

        if (i - start == 8 && eight == NULL) {
            eight = in + start;
        }
    }

    if (eight) {
        memcpy(out, eight, 4);
        return 4;
    }

    memcpy(out, "***", 3);
    return 3;
}


/* the first character of the local part, "***", then @domain */
static size_t
ngsp_mask_email(const unsigned char *in, size_t len, unsigned char *out)
{
    size_t                n;
    unsigned char        *o;
    const unsigned char  *at, *p, *end;

    at = NULL;
    end = in + len;

    for (p = in; p < end; p++) {
        if (*p == '@') {
            at = p;
        }
    }

    o = out;

    if (at == NULL) {
        memcpy(o, "***", 3);
        return 3;
    }

    if (at > in) {
        o = ngsp_put_char(o, in, ngsp_utf8_len(in, at - in));
    }

    memcpy(o, "***", 3);
    o += 3;

    for (p = at; p < end; p += n ? n : 1) {
        n = ngsp_utf8_len(p, end - p);
        o = ngsp_put_char(o, p, n);
    }

    return o - out;
}


/* the two hex digits of each byte value, filled once */
static unsigned char  ngsp_hex2[512];


static size_t
ngsp_mask_hash(const ngsp_mask_key_t *key, const unsigned char *in,
    size_t len, unsigned char *out)
{
    size_t          i;
    SHA256_CTX      c;
    unsigned char   md[SHA256_DIGEST_LENGTH];
    static const char  hex[] = "0123456789abcdef";

    if (key == NULL) {
        /* never the value: a pseudonym we cannot compute is redacted */
        memcpy(out, "***", 3);
        return 3;
    }

    c = key->inner;
    SHA256_Update(&c, in, len);
    SHA256_Final(md, &c);

    c = key->outer;
    SHA256_Update(&c, md, sizeof(md));
    SHA256_Final(md, &c);

    if (ngsp_hex2[0] == 0) {
        for (i = 0; i < 256; i++) {
            ngsp_hex2[2 * i] = hex[i >> 4];
            ngsp_hex2[2 * i + 1] = hex[i & 0xf];
        }
    }

    /* a two-byte copy per byte of the digest */
    for (i = 0; i < 32; i++) {
        memcpy(out + 2 * i, ngsp_hex2 + 2 * md[i], 2);
    }

    memset(&c, 0, sizeof(c));

    return 64;
}


size_t
ngsp_mask_action_apply(const ngsp_mask_action_t *a,
    const ngsp_mask_key_t *key, const unsigned char *in, size_t len,
    unsigned char *out)
{
    switch (a->kind) {

    case NGSP_MASK_KEEP_FIRST:
    case NGSP_MASK_KEEP_LAST:
        return ngsp_mask_keep(a, in, len, out);

    case NGSP_MASK_INITIALS:
        return ngsp_mask_initials(in, len, out);

    case NGSP_MASK_YEAR:
        return ngsp_mask_year(in, len, out);

    case NGSP_MASK_EMAIL:
        return ngsp_mask_email(in, len, out);

    case NGSP_MASK_HASH:
        return ngsp_mask_hash(key, in, len, out);

    case NGSP_MASK_REPLACE:
        memcpy(out, a->text, a->text_len);
        return a->text_len;

    case NGSP_MASK_PASS:
        {
        /* as is, made valid UTF-8 */
        size_t                n;
        unsigned char        *o = out;
        const unsigned char  *p, *end = in + len;

        for (p = in; p < end; p += n ? n : 1) {
            n = ngsp_utf8_len(p, end - p);
            o = ngsp_put_char(o, p, n);
        }

        return o - out;
        }

    default:
        memcpy(out, "***", 3);
        return 3;
    }
}
