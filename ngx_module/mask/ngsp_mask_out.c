/*
 * ngsp masking: what every rewriter shares, the parts off the hot path.
 */

#include <stdlib.h>
#include <string.h>

#include "ngsp_mask_out.h"


ngsp_mask_body_t *
ngsp_mask_out_new(const ngsp_mask_ops_t *ops,
    const ngsp_mask_stream_conf_t *conf)
{
    size_t             depth;
    ngsp_mask_body_t  *b;

    depth = conf->max_depth ? conf->max_depth : NGSP_MASK_DEPTH_DEFAULT;

    b = calloc(1, ops->size + depth * ops->frame);
    if (b == NULL) {
        return NULL;
    }

    b->ops = ops;
    b->conf = *conf;
    b->conf.max_depth = depth;

    if (b->conf.max_value == 0) {
        b->conf.max_value = NGSP_MASK_VALUE_DEFAULT;
    }

    b->stage = malloc(NGSP_MASK_STAGE);

    if (b->stage == NULL || (ops->alloc && ops->alloc(b) != 0)) {
        ngsp_mask_body_free(b);
        return NULL;
    }

    ngsp_mask_body_reset(b);

    return b;
}


int
ngsp_mask_out_put_slow(ngsp_mask_body_t *b, const unsigned char *p,
    size_t len)
{
    size_t  n;

    while (len) {
        if (b->staged == NGSP_MASK_STAGE && ngsp_mask_out_flush(b) != 0) {
            return -1;
        }

        n = NGSP_MASK_STAGE - b->staged;
        if (n > len) {
            n = len;
        }

        memcpy(b->stage + b->staged, p, n);
        b->staged += n;
        p += n;
        len -= n;
    }

    return 0;
}


int
ngsp_mask_grow_slow(unsigned char **buf, size_t *cap, size_t need)
{
    size_t          n;
    unsigned char  *nb;

    n = *cap ? *cap : 256;
    while (n < need) {
        n *= 2;
    }

    nb = realloc(*buf, n);
    if (nb == NULL) {
        return -1;
    }

    *buf = nb;
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
