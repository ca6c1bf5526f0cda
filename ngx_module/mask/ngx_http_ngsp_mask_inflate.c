/*
 * ngsp masking of a gzip or deflate body: inflated on the request's pool
 * a step at a time, each step fed to the rewriter and sent before the
 * next, and only while little of the output waits for the client (see
 * ngx_http_ngsp_mask_inflate_body()).
 */

#include <zlib.h>

#include "ngx_http_ngsp_mask.h"


#define NGX_HTTP_NGSP_MASK_ZBUF_SIZE   16384

/*
 * One upstream buffer may inflate to this many times its size, at least
 * NGX_HTTP_NGSP_MASK_INFLATE_MIN: JSON and XML compress 5-20 times; a
 * deflate bomb reaches 1032.  (Memory is bounded by the back-pressure
 * below; this bounds the work that a few bytes may cause.)
 */
#define NGX_HTTP_NGSP_MASK_INFLATE_RATIO  256
#define NGX_HTTP_NGSP_MASK_INFLATE_MIN    (1024 * 1024)

/*
 * Inflated output is made a step at a time and sent; while more than
 * NGX_HTTP_NGSP_MASK_BUSY of it waits for the client, the compressed
 * input waits too (ngx_http_ngsp_mask_inflate_body()).
 */
#define NGX_HTTP_NGSP_MASK_INFLATE_STEP   (4 * NGX_HTTP_NGSP_MASK_ZBUF_SIZE)
#define NGX_HTTP_NGSP_MASK_BUSY           (4 * NGX_HTTP_NGSP_MASK_ZBUF_SIZE)


static ngsp_mask_status_t ngx_http_ngsp_mask_inflate(
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *b, const char **why);
static size_t ngx_http_ngsp_mask_unsent(ngx_http_ngsp_mask_ctx_t *ctx);
static void *ngx_http_ngsp_mask_inflate_alloc(void *opaque, u_int items,
    u_int size);
static void ngx_http_ngsp_mask_inflate_free(void *opaque, void *address);


ngx_int_t
ngx_http_ngsp_mask_inflate_start(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx)
{
    z_stream  *zs;

    zs = ngx_pcalloc(r->pool, sizeof(z_stream));
    ctx->zbuf = ngx_palloc(r->pool, NGX_HTTP_NGSP_MASK_ZBUF_SIZE);
    if (zs == NULL || ctx->zbuf == NULL) {
        return NGX_ERROR;
    }

    /* zlib's state dies with the request's pool, as gunzip's does */
    zs->zalloc = ngx_http_ngsp_mask_inflate_alloc;
    zs->zfree = ngx_http_ngsp_mask_inflate_free;
    zs->opaque = r;

    /* 32 + 15: a gzip or zlib header, detected */
    if (inflateInit2(zs, 32 + MAX_WBITS) != Z_OK) {
        return NGX_ERROR;
    }

    ctx->zs = zs;

    return NGX_OK;
}


void
ngx_http_ngsp_mask_inflate_end(ngx_http_ngsp_mask_ctx_t *ctx)
{
    if (ctx->zs) {
        inflateEnd(ctx->zs);
        ctx->zs = NULL;
    }
}


static void *
ngx_http_ngsp_mask_inflate_alloc(void *opaque, u_int items, u_int size)
{
    ngx_http_request_t *r = opaque;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp mask: inflate alloc %ud x %ud", items, size);

    return ngx_palloc(r->pool, items * size);
}


static void
ngx_http_ngsp_mask_inflate_free(void *opaque, void *address)
{
    /* the pool frees it with the request */
}


/*
 * Inflates b (from b->pos on) until it is read, or until one step of
 * output is made: the caller sends each step before the next.
 */
static ngsp_mask_status_t
ngx_http_ngsp_mask_inflate(ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *b,
    const char **why)
{
    int                  rc;
    size_t               n, step;
    z_stream            *zs = ctx->zs;
    ngsp_mask_status_t   st;

    if (ctx->zdone) {
        *why = "data after the compressed body";
        return NGSP_MASK_ERR_SYNTAX;
    }

    if (ngx_buf_in_memory(b)) {
        zs->next_in = b->pos;
        zs->avail_in = b->last - b->pos;

    } else {
        zs->next_in = NULL;
        zs->avail_in = 0;
    }

    if (ctx->zbound == 0) {
        ctx->zout = 0;
        ctx->zbound = ngx_max((size_t) NGX_HTTP_NGSP_MASK_INFLATE_MIN,
                              zs->avail_in * NGX_HTTP_NGSP_MASK_INFLATE_RATIO);
    }

    step = 0;

    do {
        zs->next_out = ctx->zbuf;
        zs->avail_out = NGX_HTTP_NGSP_MASK_ZBUF_SIZE;

        rc = inflate(zs, Z_NO_FLUSH);

        if (ngx_buf_in_memory(b)) {
            b->pos = zs->next_in;
        }

        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            *why = "corrupt compressed body";
            return NGSP_MASK_ERR_SYNTAX;
        }

        n = NGX_HTTP_NGSP_MASK_ZBUF_SIZE - zs->avail_out;

        /* a full zbuf: zlib may have more without more input */
        ctx->zmore = (zs->avail_out == 0);

        ctx->zout += n;
        if (ctx->zout > ctx->zbound) {
            *why = "compressed body expands too much";
            return NGSP_MASK_ERR_VALUE;
        }

        if (n) {
            /* spans of zbuf are copied: ctx->in is NULL */
            st = ngsp_mask_body_feed(ctx->mask, ctx->zbuf, n);
            if (st != NGSP_MASK_OK) {
                return st;
            }
        }

        if (rc == Z_STREAM_END) {
            ctx->zdone = 1;
            ctx->zmore = 0;

            if (zs->avail_in) {
                *why = "data after the compressed body";
                return NGSP_MASK_ERR_SYNTAX;
            }

            break;
        }

        if (rc == Z_BUF_ERROR && n == 0) {
            ctx->zmore = 0;
            break;
        }

        step += n;

    } while ((zs->avail_in > 0 || ctx->zmore)
             && step < NGX_HTTP_NGSP_MASK_INFLATE_STEP);

    return NGSP_MASK_OK;
}


/*
 * A gzip or deflate body.  Its output is copied, so an input buffer goes
 * back to its owner as soon as zlib has read it; instead, while more than
 * NGX_HTTP_NGSP_MASK_BUSY of the output waits for the client, the rest of
 * the input waits in ctx->pending (its owner reads no further: unbuffered,
 * nginx reads the upstream again once its buffer is consumed) and the
 * filter goes on when the writer calls it again.  A stalled client so
 * costs about what it costs for an unencoded body.  NGX_DECLINED: the
 * masking failed, *st and *why say why.
 */
ngx_int_t
ngx_http_ngsp_mask_inflate_body(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *in, ngsp_mask_status_t *st,
    const char **why)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    flush;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            ctx->bytes_in += cl->buf->last - cl->buf->pos;
        }
    }

    if (in && ngx_chain_add_copy(r->pool, &ctx->pending, in) != NGX_OK) {
        return NGX_ERROR;
    }

    while (ctx->pending) {
        b = ctx->pending->buf;

        if (ngx_buf_size(b) && !ngx_buf_in_memory(b)) {
            *why = "body not in memory";
            *st = NGSP_MASK_ERR_OUTPUT;
            return NGX_DECLINED;
        }

        if ((ngx_buf_in_memory(b) && b->last > b->pos) || ctx->zmore) {

            if (ctx->started
                && ngx_http_ngsp_mask_unsent(ctx) > NGX_HTTP_NGSP_MASK_BUSY)
            {
                rc = ngx_http_ngsp_mask_send(r, ctx);

                if (rc == NGX_ERROR) {
                    return NGX_ERROR;
                }

                if (ngx_http_ngsp_mask_unsent(ctx)
                    > NGX_HTTP_NGSP_MASK_BUSY)
                {
                    /* the input waits: the request is not done */
                    r->buffered |= NGX_HTTP_NGSP_MASK_BUFFERED;

                    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                                   "ngsp mask: compressed input waits, "
                                   "%uz bytes unsent",
                                   ngx_http_ngsp_mask_unsent(ctx));
                    return rc;
                }
            }

            *st = ngx_http_ngsp_mask_inflate(ctx, b, why);
            ngx_http_ngsp_mask_close_copy(ctx);

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ngsp mask: inflated %uz bytes, %uz left in",
                           ctx->zout, (size_t) ctx->zs->avail_in);

            if (*st != NGSP_MASK_OK) {
                return NGX_DECLINED;
            }

            if (ngx_http_ngsp_mask_send(r, ctx) == NGX_ERROR) {
                return NGX_ERROR;
            }

            continue;
        }

        /* b is read, and zlib has given all it could */

        flush = ngx_http_ngsp_mask_flush(r, ctx, b);

        if (b->last_buf || b->last_in_chain || flush) {
            ctx->push = 1;
        }

        if ((b->last_buf || b->last_in_chain) && !ctx->zdone) {
            *why = "truncated compressed body";
            *st = NGSP_MASK_ERR_TRUNCATED;
            return NGX_DECLINED;
        }

        if (b->last_buf || b->last_in_chain || flush) {
            rc = ngx_http_ngsp_mask_end_buf(ctx, b, flush, st);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        cl = ctx->pending;
        ctx->pending = cl->next;
        ngx_free_chain(r->pool, cl);

        ctx->zbound = 0;
    }

    if (ctx->started) {
        r->buffered &= ~NGX_HTTP_NGSP_MASK_BUFFERED;
    }

    return ngx_http_ngsp_mask_send(r, ctx);
}


/* bytes given to the next filters and not sent yet */
static size_t
ngx_http_ngsp_mask_unsent(ngx_http_ngsp_mask_ctx_t *ctx)
{
    size_t        size;
    ngx_chain_t  *cl;

    size = 0;

    for (cl = ctx->busy; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            size += cl->buf->last - cl->buf->pos;
        }
    }

    return size;
}
