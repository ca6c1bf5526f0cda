/*
 * ngsp masking: the output side every rewriter shares, the parts off the
 * hot path.
 */

#include <stdlib.h>
#include <string.h>

#include "ngsp_mask_out.h"


int
ngsp_mask_out_init(ngsp_mask_out_t *o, ngsp_mask_stream_conf_t *dst,
    const ngsp_mask_stream_conf_t *conf)
{
    *dst = *conf;

    if (dst->max_depth == 0) {
        dst->max_depth = NGSP_MASK_DEPTH_DEFAULT;
    }

    if (dst->max_value == 0) {
        dst->max_value = NGSP_MASK_VALUE_DEFAULT;
    }

    o->out = conf->out;
    o->data = conf->data;
    o->staged = 0;
    o->stage = malloc(NGSP_MASK_STAGE);

    return o->stage ? 0 : -1;
}


void
ngsp_mask_out_free(ngsp_mask_out_t *o)
{
    free(o->stage);
    o->stage = NULL;
}


int
ngsp_mask_out_put_slow(ngsp_mask_out_t *o, const unsigned char *p,
    size_t len)
{
    size_t  n;

    while (len) {
        if (o->staged == NGSP_MASK_STAGE && ngsp_mask_out_flush(o) != 0) {
            return -1;
        }

        n = NGSP_MASK_STAGE - o->staged;
        if (n > len) {
            n = len;
        }

        memcpy(o->stage + o->staged, p, n);
        o->staged += n;
        p += n;
        len -= n;
    }

    return 0;
}


int
ngsp_mask_grow_slow(unsigned char **b, size_t *cap, size_t need)
{
    size_t          n;
    unsigned char  *nb;

    n = *cap ? *cap : 256;
    while (n < need) {
        n *= 2;
    }

    nb = realloc(*b, n);
    if (nb == NULL) {
        return -1;
    }

    *b = nb;
    *cap = n;

    return 0;
}


size_t
ngsp_mask_utf8(unsigned char *u, unsigned cp)
{
    if (cp < 0x80) {
        u[0] = cp;
        return 1;
    }

    if (cp < 0x800) {
        u[0] = 0xc0 | (cp >> 6);
        u[1] = 0x80 | (cp & 0x3f);
        return 2;
    }

    if (cp < 0x10000) {
        u[0] = 0xe0 | (cp >> 12);
        u[1] = 0x80 | ((cp >> 6) & 0x3f);
        u[2] = 0x80 | (cp & 0x3f);
        return 3;
    }

    u[0] = 0xf0 | (cp >> 18);
    u[1] = 0x80 | ((cp >> 12) & 0x3f);
    u[2] = 0x80 | ((cp >> 6) & 0x3f);
    u[3] = 0x80 | (cp & 0x3f);

    return 4;
}
