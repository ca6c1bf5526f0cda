#include "ngsp_b64url.h"


static const signed char  ngsp_b64url_val[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};

static const char  ngsp_b64url_chr[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


long
ngsp_b64url_decode(unsigned char *dst, const char *src, size_t len)
{
    int             v;
    size_t          i;
    unsigned long   acc;
    unsigned char  *d;
    unsigned int    bits;

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngsp_b64url_val[(unsigned char) src[i]];
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (unsigned long) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (unsigned char) (acc >> bits);
            acc &= (1UL << bits) - 1;
        }
    }

    /* leftover bits must be zero: one encoding per byte string */
    if (acc != 0) {
        return -1;
    }

    return (long) (d - dst);
}


size_t
ngsp_b64url_encode(char *dst, const unsigned char *src, size_t len)
{
    char    *d;
    size_t   i;

    d = dst;

    for (i = 0; i + 2 < len; i += 3) {
        *d++ = ngsp_b64url_chr[src[i] >> 2];
        *d++ = ngsp_b64url_chr[((src[i] & 0x03) << 4) | (src[i + 1] >> 4)];
        *d++ = ngsp_b64url_chr[((src[i + 1] & 0x0f) << 2) | (src[i + 2] >> 6)];
        *d++ = ngsp_b64url_chr[src[i + 2] & 0x3f];
    }

    if (len - i == 1) {
        *d++ = ngsp_b64url_chr[src[i] >> 2];
        *d++ = ngsp_b64url_chr[(src[i] & 0x03) << 4];

    } else if (len - i == 2) {
        *d++ = ngsp_b64url_chr[src[i] >> 2];
        *d++ = ngsp_b64url_chr[((src[i] & 0x03) << 4) | (src[i + 1] >> 4)];
        *d++ = ngsp_b64url_chr[(src[i + 1] & 0x0f) << 2];
    }

    return (size_t) (d - dst);
}
