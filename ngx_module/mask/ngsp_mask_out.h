/*
 * ngsp masking: what every rewriter shares, internal to the engines (the
 * callers see ngsp_mask_body.h).
 *
 * A rewriter's struct begins with a ngsp_mask_body_t: its syntax's
 * operations, the configuration, the status, the value buffers and the
 * output side.  ngsp_mask_body.c drives any rewriter through it.
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

#include "ngsp_mask_body.h"


#define NGSP_MASK_STAGE          4096
#define NGSP_MASK_DEPTH_DEFAULT  64
#define NGSP_MASK_VALUE_DEFAULT  65536


typedef struct {
    ngsp_mask_syntax_t          syntax;
    size_t                      size;       /* of the rewriter's struct */
    size_t                      frame;      /* of one nesting level */

    /* the rewriter's own memory beyond the body, or NULL; -1: no memory */
    int                       (*alloc)(ngsp_mask_body_t *b);
    void                      (*free)(ngsp_mask_body_t *b);
    /* the rewriter's own state, for a new document */
    void                      (*reset)(ngsp_mask_body_t *b);
    ngsp_mask_status_t        (*feed)(ngsp_mask_body_t *b,
                                  const unsigned char *p, size_t len);
    ngsp_mask_status_t        (*finish)(ngsp_mask_body_t *b);
} ngsp_mask_ops_t;


struct ngsp_mask_body_s {
    const ngsp_mask_ops_t      *ops;
    ngsp_mask_syntax_t          syntax;     /* known so far */
    unsigned                    fed;        /* a byte has been fed */
    ngsp_mask_stream_conf_t     conf;       /* the defaults filled in */
    ngsp_mask_kind_t            dflt;       /* the profile's default */
    ngsp_mask_status_t          status;
    const char                 *why;        /* finer than status, or NULL */

    unsigned char              *buf;        /* decoded key, value or text */
    size_t                      len;
    size_t                      buf_cap;
    unsigned char              *res;        /* action output */
    size_t                      res_cap;
    unsigned char              *pend;       /* bytes held back */
    size_t                      pend_len;
    size_t                      pend_cap;

    unsigned char              *stage;      /* NGSP_MASK_STAGE bytes */
    size_t                      staged;
    size_t                      span_copy;  /* ngsp_mask_body_copy_spans() */

    size_t                      offset;     /* of the current feed */
    size_t                      err_offset;
    size_t                      masked;     /* values changed */
};


/*
 * A rewriter: ops->size bytes (zeroed) that begin with the body, then
 * max_depth frames of ops->frame bytes; NULL when out of memory.
 */
ngsp_mask_body_t *ngsp_mask_out_new(const ngsp_mask_ops_t *ops,
    const ngsp_mask_stream_conf_t *conf);

/* the part of ngsp_mask_out_put() that flushes a full stage */
int ngsp_mask_out_put_slow(ngsp_mask_body_t *b, const unsigned char *p,
    size_t len);

/* the part of ngsp_mask_grow() that reallocates */
int ngsp_mask_grow_slow(unsigned char **buf, size_t *cap, size_t need);

/* the UTF-8 bytes of code point cp (at most 0x10ffff) into u[0..4) */
size_t ngsp_mask_utf8(unsigned char *u, unsigned cp);


static inline int
ngsp_mask_out_flush(ngsp_mask_body_t *b)
{
    size_t  n = b->staged;

    if (n == 0) {
        return 0;
    }

    b->staged = 0;

    return b->conf.out(b->conf.data, b->stage, n, 0);
}


/* the rewriter's own bytes, staged */
static inline int
ngsp_mask_out_put(ngsp_mask_body_t *b, const void *data, size_t len)
{
    if (len <= NGSP_MASK_STAGE - b->staged) {
        memcpy(b->stage + b->staged, data, len);
        b->staged += len;
        return 0;
    }

    return ngsp_mask_out_put_slow(b, data, len);
}


/*
 * n bytes, a few dozen at most, without a call: fixed-size copies (one
 * move each) that overlap rather than a loop over the tail.
 */
static inline void
ngsp_mask_copy_short(unsigned char *d, const unsigned char *s, size_t n)
{
    size_t  i;

    if (n >= 16) {
        for (i = 0; i + 16 < n; i += 16) {
            memcpy(d + i, s + i, 16);
        }
        memcpy(d + n - 16, s + n - 16, 16);

    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);

    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);

    } else {
        for (i = 0; i < n; i++) {
            d[i] = s[i];
        }
    }
}


/* input bytes [from, to), after whatever is staged */
static inline int
ngsp_mask_out_span(ngsp_mask_body_t *b, const unsigned char *from,
    const unsigned char *to)
{
    size_t  n;

    if (from == NULL || to <= from) {
        return 0;
    }

    n = to - from;

    if (n <= b->span_copy && b->staged && n <= NGSP_MASK_STAGE - b->staged)
    {
        /* a short span after the rewriter's own bytes, for a caller
         * that copies anyway: staged too, one callback rather than two */
        ngsp_mask_copy_short(b->stage + b->staged, from, n);
        b->staged += n;
        return 0;
    }

    if (ngsp_mask_out_flush(b) != 0) {
        return -1;
    }

    return b->conf.out(b->conf.data, from, n, NGSP_MASK_OUT_INPUT);
}


/* a feed of size bytes ends: what is staged goes out */
static inline int
ngsp_mask_out_feed_end(ngsp_mask_body_t *b, size_t size)
{
    if (ngsp_mask_out_flush(b) != 0) {
        return -1;
    }

    b->offset += size;

    return 0;
}


/*
 * The rewriter stops at byte at of the current feed (an output error when
 * no other was set); nothing more goes out.
 */
static inline void
ngsp_mask_out_stop(ngsp_mask_body_t *b, size_t at)
{
    if (b->status == NGSP_MASK_OK) {
        b->status = NGSP_MASK_ERR_OUTPUT;
    }

    b->err_offset = b->offset + at;
    b->staged = 0;
}


/* makes *buf hold need bytes, doubling from 256; -1 when out of memory */
static inline int
ngsp_mask_grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap && *buf != NULL) {
        return 0;
    }

    return ngsp_mask_grow_slow(buf, cap, need);
}


/* n bytes at p after the *len of *buf, growing it; -1: out of memory */
static inline int
ngsp_mask_append(unsigned char **buf, size_t *len, size_t *cap,
    const unsigned char *p, size_t n)
{
    if (ngsp_mask_grow(buf, cap, *len + n) != 0) {
        return -1;
    }

    memcpy(*buf + *len, p, n);
    *len += n;

    return 0;
}

#endif /* NGSP_MASK_OUT_H */
