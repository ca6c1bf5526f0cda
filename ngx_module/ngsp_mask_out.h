/*
 * ngsp masking: the output side every rewriter shares (internal to the
 * engines; callers see ngsp_mask_stream.h only).
 *
 * A rewriter hands out two kinds of bytes, in order: spans of the current
 * feed's input, which a caller may point to, and its own bytes (masked
 * values, escapes, held-back stretches), which it gathers in a fixed stage
 * so that the callback runs once per stage rather than once per piece.  A
 * span goes out after whatever is staged, to keep the order.
 *
 * The helpers called per value are inline; growth past the fast case and
 * everything run once per rewriter live in ngsp_mask_out.c.
 */

#ifndef NGSP_MASK_OUT_H
#define NGSP_MASK_OUT_H

#include <stddef.h>
#include <string.h>

#include "ngsp_mask_stream.h"


#define NGSP_MASK_STAGE          4096
#define NGSP_MASK_DEPTH_DEFAULT  64
#define NGSP_MASK_VALUE_DEFAULT  65536


typedef struct {
    ngsp_mask_out_pt    out;
    void               *data;
    unsigned char      *stage;      /* NGSP_MASK_STAGE bytes */
    size_t              staged;
    size_t              offset;     /* of the current feed in the input */
    size_t              err_offset;
    size_t              masked;     /* values changed */
} ngsp_mask_out_t;


/*
 * conf copied into *dst with the defaults filled in, and o made ready to
 * stage for conf's callback; -1 when out of memory (then free o anyway)
 */
int ngsp_mask_out_init(ngsp_mask_out_t *o, ngsp_mask_stream_conf_t *dst,
    const ngsp_mask_stream_conf_t *conf);
void ngsp_mask_out_free(ngsp_mask_out_t *o);

/* the part of ngsp_mask_out_put() that flushes a full stage */
int ngsp_mask_out_put_slow(ngsp_mask_out_t *o, const unsigned char *p,
    size_t len);

/* the part of ngsp_mask_grow() that reallocates */
int ngsp_mask_grow_slow(unsigned char **b, size_t *cap, size_t need);

/* the UTF-8 bytes of code point cp (at most 0x10ffff) into u[0..4) */
size_t ngsp_mask_utf8(unsigned char *u, unsigned cp);


static inline int
ngsp_mask_out_flush(ngsp_mask_out_t *o)
{
    size_t  n = o->staged;

    if (n == 0) {
        return 0;
    }

    o->staged = 0;

    return o->out(o->data, o->stage, n, 0);
}


/* a new document: nothing staged, nothing counted */
static inline void
ngsp_mask_out_reset(ngsp_mask_out_t *o)
{
    o->staged = 0;
    o->offset = 0;
    o->err_offset = 0;
    o->masked = 0;
}


/* a feed of size bytes ends: what is staged goes out */
static inline int
ngsp_mask_out_feed_end(ngsp_mask_out_t *o, size_t size)
{
    if (ngsp_mask_out_flush(o) != 0) {
        return -1;
    }

    o->offset += size;

    return 0;
}


/* the rewriter stops at byte at of the current feed; nothing more goes out */
static inline void
ngsp_mask_out_stop(ngsp_mask_out_t *o, size_t at)
{
    o->err_offset = o->offset + at;
    o->staged = 0;
}


/* the rewriter's own bytes, staged */
static inline int
ngsp_mask_out_put(ngsp_mask_out_t *o, const void *data, size_t len)
{
    if (len <= NGSP_MASK_STAGE - o->staged) {
        memcpy(o->stage + o->staged, data, len);
        o->staged += len;
        return 0;
    }

    return ngsp_mask_out_put_slow(o, data, len);
}


/* input bytes [from, to), after whatever is staged */
static inline int
ngsp_mask_out_span(ngsp_mask_out_t *o, const unsigned char *from,
    const unsigned char *to)
{
    if (from == NULL || to <= from) {
        return 0;
    }

    if (ngsp_mask_out_flush(o) != 0) {
        return -1;
    }

    return o->out(o->data, from, to - from, NGSP_MASK_OUT_INPUT);
}


/* makes *b hold need bytes, doubling from 256; -1 when out of memory */
static inline int
ngsp_mask_grow(unsigned char **b, size_t *cap, size_t need)
{
    if (need <= *cap && *b != NULL) {
        return 0;
    }

    return ngsp_mask_grow_slow(b, cap, need);
}

#endif /* NGSP_MASK_OUT_H */
