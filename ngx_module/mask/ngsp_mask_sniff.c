/*
 * ngsp masking of a body read by its first bytes: the blanks before the
 * first data byte are held in the body's pend buffer; that byte chooses
 * the rewriter, which is then fed the blanks and everything after them.
 * The chosen rewriter's status, reason and counts are copied out after
 * each call, so the body filter sees one rewriter.
 */

#include <stdlib.h>

#include "ngsp_mask_json.h"
#include "ngsp_mask_out.h"
#include "ngsp_mask_sniff.h"
#include "ngsp_mask_xml.h"


typedef struct {
    ngsp_mask_body_t         body;
    ngsp_mask_body_t        *inner;     /* once the syntax is known */
    ngsp_mask_stream_conf_t  conf;      /* the inner one's: output here */
    unsigned                 replay;    /* feeding the held blanks */
} ngsp_mask_sniff_t;


/* the chosen rewriter's output: the held blanks are not the caller's input */
static int
ngsp_sniff_out(void *data, const unsigned char *p, size_t len,
    unsigned flags)
{
    ngsp_mask_sniff_t  *s = data;

    if (s->replay) {
        flags &= ~NGSP_MASK_OUT_INPUT;
    }

    return s->body.conf.out(s->body.conf.data, p, len, flags);
}


static int
ngsp_sniff_alloc(ngsp_mask_body_t *b)
{
    ngsp_mask_sniff_t  *s = (ngsp_mask_sniff_t *) b;

    b->pend = malloc(NGSP_MASK_SNIFF_MAX);
    if (b->pend == NULL) {
        return -1;
    }

    b->pend_cap = NGSP_MASK_SNIFF_MAX;

    s->conf = b->conf;
    s->conf.out = ngsp_sniff_out;
    s->conf.data = s;

    return 0;
}


static void
ngsp_sniff_free(ngsp_mask_body_t *b)
{
    ngsp_mask_sniff_t  *s = (ngsp_mask_sniff_t *) b;

    ngsp_mask_body_free(s->inner);
    s->inner = NULL;
}


static void
ngsp_sniff_reset(ngsp_mask_body_t *b)
{
    ngsp_sniff_free(b);
}


static ngsp_mask_status_t
ngsp_sniff_fail(ngsp_mask_body_t *b, ngsp_mask_status_t st, const char *why)
{
    b->status = st;
    b->why = why;
    b->err_offset = b->pend_len;

    return st;
}


/* the chosen rewriter's state, as the caller reads it */
static ngsp_mask_status_t
ngsp_sniff_copy(ngsp_mask_body_t *b, ngsp_mask_status_t st)
{
    ngsp_mask_body_t  *in = ((ngsp_mask_sniff_t *) b)->inner;

    b->status = st;
    b->why = in->why;
    b->err_offset = in->err_offset;
    b->masked = in->masked;

    return st;
}


/* the body started with part of a BOM only */
static int
ngsp_sniff_bom_cut(const ngsp_mask_body_t *b)
{
    return b->pend_len && b->pend_len < 3 && b->pend[0] == 0xef;
}


/*
 * Holds blanks (and a BOM) until the first data byte, then makes the
 * rewriter it calls for and feeds it what was held.  Returns how many
 * bytes of p it has not seen yet, or (size_t) -1 on an error.
 */
static size_t
ngsp_sniff_scan(ngsp_mask_body_t *b, const unsigned char *p, size_t len)
{
    size_t              i;
    unsigned char       c;
    ngsp_mask_status_t  st;
    ngsp_mask_sniff_t  *s = (ngsp_mask_sniff_t *) b;

    for (i = 0; i < len; i++) {
        c = p[i];

        /* a UTF-8 BOM is taken only as the first three bytes */
        if ((b->pend_len == 0 && c == 0xef)
            || (b->pend_len == 1 && b->pend[0] == 0xef && c == 0xbb)
            || (b->pend_len == 2 && b->pend[0] == 0xef && c == 0xbf))
        {
            b->pend[b->pend_len++] = c;
            continue;
        }

        if (ngsp_sniff_bom_cut(b)) {
            break;
        }

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (b->pend_len == NGSP_MASK_SNIFF_MAX) {
                ngsp_sniff_fail(b, NGSP_MASK_ERR_VALUE,
                                "only blanks in the first 4096 bytes");
                return (size_t) -1;
            }

            b->pend[b->pend_len++] = c;
            continue;
        }

        break;
    }

    if (i == len) {
        return 0;
    }

    c = ngsp_sniff_bom_cut(b) ? 0 : p[i];

    if (c == '{' || c == '[') {
        s->inner = ngsp_mask_json_new(&s->conf);

    } else if (c == '<') {
        s->inner = ngsp_mask_xml_new(&s->conf);

    } else {
        ngsp_sniff_fail(b, NGSP_MASK_ERR_SYNTAX,
                        "body is neither JSON nor XML");
        return (size_t) -1;
    }

    if (s->inner == NULL) {
        ngsp_sniff_fail(b, NGSP_MASK_ERR_NOMEM, NULL);
        return (size_t) -1;
    }

    b->syntax = s->inner->ops->syntax;
    s->inner->span_copy = b->span_copy;

    if (b->pend_len) {
        s->replay = 1;
        st = ngsp_mask_body_feed(s->inner, b->pend, b->pend_len);
        s->replay = 0;

        if (st != NGSP_MASK_OK) {
            ngsp_sniff_copy(b, st);
            return (size_t) -1;
        }
    }

    return len - i;
}


static ngsp_mask_status_t
ngsp_sniff_feed(ngsp_mask_body_t *b, const unsigned char *p, size_t len)
{
    size_t              n;
    ngsp_mask_sniff_t  *s = (ngsp_mask_sniff_t *) b;

    if (b->status != NGSP_MASK_OK) {
        return b->status;
    }

    if (s->inner == NULL) {
        n = ngsp_sniff_scan(b, p, len);

        if (n == (size_t) -1) {
            return b->status;
        }

        if (n == 0) {
            return NGSP_MASK_OK;
        }

        p += len - n;
        len = n;
    }

    return ngsp_sniff_copy(b, ngsp_mask_body_feed(s->inner, p, len));
}


static ngsp_mask_status_t
ngsp_sniff_finish(ngsp_mask_body_t *b)
{
    ngsp_mask_sniff_t  *s = (ngsp_mask_sniff_t *) b;

    if (b->status != NGSP_MASK_OK) {
        return b->status;
    }

    if (s->inner) {
        return ngsp_sniff_copy(b, ngsp_mask_body_finish(s->inner));
    }

    if (ngsp_sniff_bom_cut(b)) {
        return ngsp_sniff_fail(b, NGSP_MASK_ERR_SYNTAX,
                               "body is neither JSON nor XML");
    }

    /* nothing but blanks: no data, output as it came */
    if (b->pend_len
        && b->conf.out(b->conf.data, b->pend, b->pend_len, 0) != 0)
    {
        return ngsp_sniff_fail(b, NGSP_MASK_ERR_OUTPUT, NULL);
    }

    return NGSP_MASK_OK;
}


static const ngsp_mask_ops_t  ngsp_sniff_ops = {
    .syntax = NGSP_MASK_SYNTAX_SNIFF,
    .size = sizeof(ngsp_mask_sniff_t),
    .frame = 0,
    .alloc = ngsp_sniff_alloc,
    .free = ngsp_sniff_free,
    .reset = ngsp_sniff_reset,
    .feed = ngsp_sniff_feed,
    .finish = ngsp_sniff_finish
};


ngsp_mask_body_t *
ngsp_mask_sniff_new(const ngsp_mask_stream_conf_t *conf)
{
    return ngsp_mask_out_new(&ngsp_sniff_ops, conf);
}
