/*
 * ngsp masking, body filter: feeds the streaming rewriter
 * (ngsp_mask_json.c or ngsp_mask_xml.c, by the Content-Type or the
 * body's first bytes: ngsp_mask_body.c) buffer by buffer; long unchanged
 * spans go out as buffers pointing into the upstream's own, rewritten
 * bytes and short spans are copied into small buffers of our own that
 * are recycled; an upstream buffer is released only once all output made
 * from it is sent (see ngx_http_ngsp_mask_release()).  Memory per request
 * is the rewriter's (bounded by ngsp_mask_max_depth and
 * ngsp_mask_max_value) plus buffers in flight.  On any doubt the response
 * is cut short and the reason logged.
 */

#include "ngx_http_ngsp_mask.h"


#define NGX_HTTP_NGSP_MASK_COPY_SIZE   4096

/*
 * A shorter unchanged span is copied: a buffer and a chain link of its
 * own (and an iovec when written) cost more than copying a few hundred
 * bytes, and masked records are cut into many short spans.
 */
#define NGX_HTTP_NGSP_MASK_REF_MIN     256

/*
 * The start of the output, and the response header with it, are held
 * (copied, so no upstream buffer is pinned) until this much is ready, a
 * flush, or the end: a small masked response then goes out in one write
 * with its Content-Length and no chunked framing, as an unmasked one
 * does.
 */
#define NGX_HTTP_NGSP_MASK_HOLD        8192


static ngx_int_t ngx_http_ngsp_mask_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_ngsp_mask_refused(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_ngsp_mask_feed(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *in, ngsp_mask_status_t *st,
    const char **why);
static ngx_int_t ngx_http_ngsp_mask_failed(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *in, ngsp_mask_status_t st,
    const char *why);
static void ngx_http_ngsp_mask_discard(ngx_chain_t *in);
static ngx_chain_t *ngx_http_ngsp_mask_copy_buf(ngx_http_ngsp_mask_ctx_t *ctx);
static ngx_int_t ngx_http_ngsp_mask_release(ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_buf_t *b);
static ngx_int_t ngx_http_ngsp_mask_mark(ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_buf_t *in);
static ngx_int_t ngx_http_ngsp_mask_buf_end(ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_buf_t *b, ngx_uint_t flush, ngsp_mask_status_t *st);
static ngx_int_t ngx_http_ngsp_mask_output(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx);
static void ngx_http_ngsp_mask_recycle(ngx_http_ngsp_mask_ctx_t *ctx);
#if (NGX_DEBUG)
static off_t ngx_http_ngsp_mask_chain_size(ngx_chain_t *cl);
#endif


static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


void
ngx_http_ngsp_mask_body_filter_init(void)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ngsp_mask_body_filter;
}


static ngx_int_t
ngx_http_ngsp_mask_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                  rc;
    const char                *why;
    ngsp_mask_status_t         st;
    ngx_http_ngsp_mask_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ngsp_mask_filter_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->refused) {
        return ngx_http_ngsp_mask_refused(r, in);
    }

    if (ctx->mask == NULL) {
        /* passed, or the error page that replaced a refused response */
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->failed) {
        ngx_http_ngsp_mask_discard(in);
        return NGX_ERROR;
    }

    st = NGSP_MASK_OK;
    why = NULL;

    if (ctx->zs) {
        rc = ngx_http_ngsp_mask_inflate_body(r, ctx, in, &st, &why);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        /* what is left of the input is dropped */
        in = ctx->pending;
        ctx->pending = NULL;

        return ngx_http_ngsp_mask_failed(r, ctx, in, st, why);
    }

    rc = ngx_http_ngsp_mask_feed(r, ctx, in, &st, &why);

    if (rc == NGX_DECLINED) {
        return ngx_http_ngsp_mask_failed(r, ctx, in, st, why);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_ngsp_mask_output(r, ctx);
}


/* the rest of the error page may still be flushed; never data */
static ngx_int_t
ngx_http_ngsp_mask_refused(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_size(cl->buf)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ngsp: body of a refused response dropped");
            return NGX_ERROR;
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/*
 * Feeds the buffers of in to the rewriter and queues its output:
 * NGX_OK, NGX_DECLINED when the masking failed (*st and *why say why),
 * NGX_ERROR.
 */
static ngx_int_t
ngx_http_ngsp_mask_feed(ngx_http_request_t *r, ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_chain_t *in, ngsp_mask_status_t *st, const char **why)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    flush;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_size(b) && !ngx_buf_in_memory(b)) {
            *why = "body not in memory";
            *st = NGSP_MASK_ERR_OUTPUT;
            return NGX_DECLINED;
        }

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ngsp mask: in %uz bytes",
                           (size_t) (b->last - b->pos));

            ctx->in = b;
            ctx->bytes_in += b->last - b->pos;

            *st = ngsp_mask_body_feed(ctx->mask, b->pos, b->last - b->pos);

            ctx->in = NULL;

            ngx_http_ngsp_mask_close_copy(ctx);

            if (*st != NGSP_MASK_OK) {
                b->pos = b->last;
                return NGX_DECLINED;
            }

            if (ngx_http_ngsp_mask_release(ctx, b) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        flush = ngx_http_ngsp_mask_flush(r, ctx, b);

        /* the header waits for a sniffed body's syntax, flush or not */
        if (b->last_buf || b->last_in_chain
            || (flush && ngsp_mask_body_syntax_of(ctx->mask)
                         != NGSP_MASK_SYNTAX_SNIFF))
        {
            ctx->push = 1;
        }

        if (b->last_buf || b->last_in_chain || flush) {
            rc = ngx_http_ngsp_mask_buf_end(ctx, b, flush, st);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    return NGX_OK;
}


ngx_http_ngsp_mask_why_e
ngx_http_ngsp_mask_why_of(ngsp_mask_status_t st)
{
    switch (st) {

    case NGSP_MASK_ERR_SYNTAX:
        return NGX_HTTP_NGSP_MASK_WHY_SYNTAX;

    case NGSP_MASK_ERR_TRUNCATED:
        return NGX_HTTP_NGSP_MASK_WHY_TRUNCATED;

    case NGSP_MASK_ERR_DEPTH:
        return NGX_HTTP_NGSP_MASK_WHY_DEPTH;

    case NGSP_MASK_ERR_VALUE:
        return NGX_HTTP_NGSP_MASK_WHY_VALUE;

    default:
        return NGX_HTTP_NGSP_MASK_WHY_INTERNAL;
    }
}


/*
 * The masking failed: nothing more goes out.  Before anything is sent
 * the client gets a 502; after, the response is cut short.
 */
static ngx_int_t
ngx_http_ngsp_mask_failed(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *in, ngsp_mask_status_t st,
    const char *why)
{
    ngx_chain_t  *cl;

    ctx->failed = 1;
    r->buffered &= ~NGX_HTTP_NGSP_MASK_BUFFERED;

    if (ctx->why == NGX_HTTP_NGSP_MASK_WHY_NONE) {
        ctx->why = ngx_http_ngsp_mask_why_of(st);
    }

    /* the reason and where, never the data */
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ngsp: masking failed (%s) at byte %uz of the %sbody, "
                  "profile \"%V\"; %s",
                  why ? why : ngsp_mask_body_reason(ctx->mask),
                  ngsp_mask_body_offset(ctx->mask),
                  ctx->zs ? "inflated " : "", &ctx->profile,
                  ctx->header && r == r->main
                  ? "nothing sent yet, answered 502" : "response cut short");

    /* what is queued is dropped */
    for (cl = ctx->out; cl; cl = cl->next) {
        if (cl->buf->shadow) {
            cl->buf->shadow->pos = cl->buf->shadow->last;
        }
    }

    ctx->out = NULL;
    ctx->last_out = &ctx->out;

    ngx_http_ngsp_mask_discard(in);

    if (ctx->header && r == r->main) {
        /*
         * Nothing has been sent, not even the header: the client gets a
         * clear 502 instead of a connection closed on it, as the image
         * filter answers a bad image.  Its page passes this filter as a
         * refused response's does (no rewriter).  (A subrequest's part is
         * just cut: its page would land in the middle of the parent's.)
         */
        ctx->header = 0;
        ngsp_mask_body_free(ctx->mask);
        ctx->mask = NULL;

        return ngx_http_ngsp_mask_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY);
    }

    return NGX_ERROR;
}


/* the input is consumed unread */
static void
ngx_http_ngsp_mask_discard(ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            cl->buf->pos = cl->buf->last;
        }
        cl->buf->file_pos = cl->buf->file_last;
    }
}


/*
 * A buffer without memory, for a span, a shadow or a mark: what
 * ngx_chain_get_free_buf() does, kept here because from a dynamic module
 * that is a call through the PLT, a few per response: 24 more
 * instructions per masked request measured under callgrind.
 */
static ngx_inline ngx_chain_t *
ngx_http_ngsp_mask_link(ngx_http_ngsp_mask_ctx_t *ctx)
{
    ngx_chain_t  *cl;

    if (ctx->free_ref) {
        cl = ctx->free_ref;
        ctx->free_ref = cl->next;
        cl->next = NULL;
        return cl;
    }

    cl = ngx_alloc_chain_link(ctx->r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = ngx_calloc_buf(ctx->r->pool);
    if (cl->buf == NULL) {
        return NULL;
    }

    cl->next = NULL;

    return cl;
}


/* output of the rewriter */
int
ngx_http_ngsp_mask_out(void *data, const u_char *p, size_t len,
    unsigned flags)
{
    ngx_http_ngsp_mask_ctx_t  *ctx = data;

    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ctx->bytes_out += len;

    if (!ctx->started) {
        ctx->held += len;

    } else if ((flags & NGSP_MASK_OUT_INPUT) && ctx->in
               && len >= NGX_HTTP_NGSP_MASK_REF_MIN)
    {
        /* a span of the upstream's buffer: pointed to, not copied */
        ngx_http_ngsp_mask_close_copy(ctx);

        cl = ngx_http_ngsp_mask_link(ctx);
        if (cl == NULL) {
            return -1;
        }

        b = cl->buf;
        ngx_memzero(b, sizeof(ngx_buf_t));
        b->memory = 1;
        b->pos = (u_char *) p;
        b->last = (u_char *) p + len;
        b->tag = (ngx_buf_tag_t) &ngx_http_ngsp_mask_filter_module;

        ngx_http_ngsp_mask_append(ctx, cl);

        return 0;
    }

    /* most calls: a few bytes that fit the copy buffer being filled */
    if (ctx->copy
        && (size_t) (ctx->copy->buf->end - ctx->copy->buf->last) >= len)
    {
        b = ctx->copy->buf;
        b->last = ngx_cpymem(b->last, p, len);
        return 0;
    }

    while (len) {
        if (ctx->copy == NULL || ctx->copy->buf->last == ctx->copy->buf->end)
        {
            ngx_http_ngsp_mask_close_copy(ctx);

            ctx->copy = ngx_http_ngsp_mask_copy_buf(ctx);
            if (ctx->copy == NULL) {
                return -1;
            }
        }

        b = ctx->copy->buf;
        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, p, n);
        p += n;
        len -= n;
    }

    return 0;
}


/*
 * An empty buffer of NGX_HTTP_NGSP_MASK_COPY_SIZE to copy into.  Spare
 * ones are kept apart from the buffers without memory (ctx->free_ref,
 * spans and marks, ngx_http_ngsp_mask_link()): one free list
 * as ngx_chain_update_chains() keeps would hand a copy a buffer without
 * memory, and 4 KB would be allocated again for each of the many spans
 * of a masked record.
 */
static ngx_chain_t *
ngx_http_ngsp_mask_copy_buf(ngx_http_ngsp_mask_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (ctx->free_copy) {
        cl = ctx->free_copy;
        ctx->free_copy = cl->next;
        cl->next = NULL;
        b = cl->buf;

    } else {
        cl = ngx_alloc_chain_link(ctx->r->pool);
        if (cl == NULL) {
            return NULL;
        }

        b = ngx_create_temp_buf(ctx->r->pool, NGX_HTTP_NGSP_MASK_COPY_SIZE);
        if (b == NULL) {
            return NULL;
        }

        cl->buf = b;
        cl->next = NULL;
    }

    b->pos = b->start;
    b->last = b->start;
    b->flush = 0;
    b->last_buf = 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_ngsp_mask_filter_module;

    return cl;
}


/*
 * b is handed back to its owner (the upstream's buffers, the event pipe)
 * only when all output made from it so far (spans pointing into it and
 * copies alike) has been sent: through the shadow of an empty buffer put
 * after that output, as the sub filter does.  So a slow client holds the
 * upstream back instead of the worker buffering the whole response.
 * Before the first output goes out (the start is held, bounded by
 * NGX_HTTP_NGSP_MASK_HOLD) nothing is pinned: it could wait for buffers
 * that only this release would free.
 */
static ngx_int_t
ngx_http_ngsp_mask_release(ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *b)
{
    ngx_buf_t    *sb;
    ngx_chain_t  *cl;

    if (!ctx->started) {
        b->pos = b->last;
        return NGX_OK;
    }

    cl = ngx_http_ngsp_mask_link(ctx);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    sb = cl->buf;
    ngx_memzero(sb, sizeof(ngx_buf_t));
    sb->sync = 1;
    sb->tag = (ngx_buf_tag_t) &ngx_http_ngsp_mask_filter_module;

    ngx_http_ngsp_mask_append(ctx, cl);

    sb->shadow = b;
    sb->recycled = b->recycled;

    return NGX_OK;
}


/*
 * After the data of b: at the end of the body, the rewriter finishes and
 * the end is marked; at a flush, the flush.  NGX_DECLINED: the masking
 * failed, *st says why.
 */
static ngx_int_t
ngx_http_ngsp_mask_buf_end(ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *b,
    ngx_uint_t flush, ngsp_mask_status_t *st)
{
    if (b->last_buf || b->last_in_chain) {
        *st = ngsp_mask_body_finish(ctx->mask);
        ngx_http_ngsp_mask_close_copy(ctx);

        if (*st != NGSP_MASK_OK) {
            return NGX_DECLINED;
        }

        if (ngx_http_ngsp_mask_mark(ctx, b) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->done = 1;

    } else if (flush) {
        if (ngx_http_ngsp_mask_mark(ctx, b) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a buffer without data that carries flags (last_buf, flush) */
static ngx_int_t
ngx_http_ngsp_mask_mark(ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_http_ngsp_mask_link(ctx);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;
    ngx_memzero(b, sizeof(ngx_buf_t));
    b->sync = 1;
    b->flush = in->flush;
    b->last_buf = in->last_buf;
    b->last_in_chain = in->last_in_chain;
    b->tag = (ngx_buf_tag_t) &ngx_http_ngsp_mask_filter_module;

    ngx_http_ngsp_mask_append(ctx, cl);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_mask_output(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    if (ctx->out == NULL && ctx->busy == NULL) {
        return NGX_OK;
    }

    if (!ctx->started) {
        if (!ctx->push && ctx->held < NGX_HTTP_NGSP_MASK_HOLD) {
            r->buffered |= NGX_HTTP_NGSP_MASK_BUFFERED;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ngsp mask: start held, %uz bytes", ctx->held);
            return NGX_OK;
        }

        ctx->started = 1;
        r->buffered &= ~NGX_HTTP_NGSP_MASK_BUFFERED;

        if (ctx->header) {
            ctx->header = 0;

            if (ctx->done) {
                /* all of it is here: no chunked framing */
                r->headers_out.content_length_n = ctx->held;
            }

            rc = ngx_http_ngsp_mask_send_header(r);

            if (rc == NGX_ERROR || rc > NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp mask: out %O bytes%s",
                   ngx_http_ngsp_mask_chain_size(ctx->out),
                   ctx->done ? ", the last" : "");

    rc = ngx_http_next_body_filter(r, ctx->out);

    if (ctx->busy == NULL) {
        ctx->busy = ctx->out;

    } else {
        for (cl = ctx->busy; cl->next; cl = cl->next) { /* void */ }
        cl->next = ctx->out;
    }

    ctx->out = NULL;
    ctx->last_out = &ctx->out;

    ngx_http_ngsp_mask_recycle(ctx);

    return rc;
}


/*
 * What was sent frees our buffers and, through shadow, the upstream's:
 * the busy walk of ngx_http_sub_output(), into two free lists (see
 * ngx_http_ngsp_mask_copy_buf()).
 */
static void
ngx_http_ngsp_mask_recycle(ngx_http_ngsp_mask_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    while (ctx->busy) {
        cl = ctx->busy;
        b = cl->buf;

        if (ngx_buf_size(b) != 0) {
            break;
        }

#if (NGX_HAVE_WRITE_ZEROCOPY)
        if (b->zerocopy_busy) {
            break;
        }
#endif

        if (b->shadow) {
            b->shadow->pos = b->shadow->last;
            b->shadow = NULL;
        }

        ctx->busy = cl->next;

        if (b->temporary) {
            cl->next = ctx->free_copy;
            ctx->free_copy = cl;

        } else {
            cl->next = ctx->free_ref;
            ctx->free_ref = cl;
        }
    }
}


/*
 * The same steps for the inflater.  The body filter calls the static
 * ones: a call between the module's files goes through the PLT.
 */
ngx_int_t
ngx_http_ngsp_mask_end_buf(ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *b,
    ngx_uint_t flush, ngsp_mask_status_t *st)
{
    return ngx_http_ngsp_mask_buf_end(ctx, b, flush, st);
}


ngx_int_t
ngx_http_ngsp_mask_send(ngx_http_request_t *r, ngx_http_ngsp_mask_ctx_t *ctx)
{
    return ngx_http_ngsp_mask_output(r, ctx);
}


#if (NGX_DEBUG)

static off_t
ngx_http_ngsp_mask_chain_size(ngx_chain_t *cl)
{
    off_t  size;

    for (size = 0; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    return size;
}

#endif
