/*
 * ngsp: personal-data masking of JSON and XML response bodies (issues 4,
 * 5).
 *
 * Request side: with masking on, the upstream is asked for the whole
 * body, unencoded (see ngx_http_ngsp_mask_request_headers()).  Header
 * filter: picks the profile, refuses an interim (1xx) response, decides
 * by Content-Type to mask, pass or refuse (ngx_http_ngsp_mask_type.c),
 * drops Content-Length, weakens the ETag, turns ranges off, takes a
 * gzip/deflate body it still gets for inflating, and has the body read
 * unbuffered so that it never reaches a temp file or a cache unmasked
 * (ngx_http_ngsp_mask_disk.c).  Body filter:
 * feeds the streaming rewriter (ngsp_mask_json.c or ngsp_mask_xml.c, by
 * the Content-Type or the body's first bytes: ngsp_mask_body.c) buffer
 * by buffer;
 * long unchanged spans go out as buffers pointing into the upstream's own,
 * rewritten bytes and short spans are copied into small buffers of our own
 * that are recycled; an upstream buffer is released only once all output
 * made from it is sent (see ngx_http_ngsp_mask_release()); a compressed
 * body is inflated only while little of its output waits for the client
 * (see ngx_http_ngsp_mask_inflate_body()).  Memory per request is the
 * rewriter's (bounded by ngsp_mask_max_depth and
 * ngsp_mask_max_value) plus buffers in flight.  On any doubt the response
 * is cut short and the reason logged.
 */

#include <zlib.h>

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

/*
 * Set in r->buffered while the start is held.  That field is 4 bits; in
 * nginx 1.22 the stock filters use 0x01 (ssi), 0x02 (sub) and 0x04
 * (copy) there.  0x08 is free: the image filter's NGX_HTTP_IMAGE_BUFFERED
 * (also 0x08) goes to r->connection->buffered, another field.  The bit
 * is set while nothing has been sent, and cleared when the first output
 * goes; after that, only while compressed input waits for the client to
 * read what is already sent.
 */
#define NGX_HTTP_NGSP_MASK_BUFFERED    0x08
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

/*
 * The rewriter is made for one response and freed with it.  (Keeping a few
 * per worker and resetting them saved about 4% of the instructions of a
 * masked 2 KB record, but meant changing configuration structures while
 * serving requests, holding buffers grown to max_value between responses,
 * and trusting a reset to forget one agency's record before the next: not
 * worth it.)
 */
typedef struct {
    ngx_http_request_t         *r;
    ngsp_mask_body_t           *mask;      /* NULL: pass (header only) */
    ngx_str_t                   profile;

    ngx_buf_t                  *in;        /* the buffer being fed */
    ngx_chain_t                *copy;      /* being filled, not linked yet */

    ngx_chain_t                *out;
    ngx_chain_t               **last_out;
    ngx_chain_t                *busy;
    ngx_chain_t                *free_ref;  /* buffers without memory */
    ngx_chain_t                *free_copy; /* buffers with memory */

    z_stream                   *zs;        /* gzip or deflate body */
    u_char                     *zbuf;
    ngx_chain_t                *pending;   /* compressed, not read yet */
    size_t                      zout;      /* made of the pending buffer */
    size_t                      zbound;    /* 0: a new buffer */

    size_t                      held;      /* bytes queued before start */

    unsigned                    failed:1;
    unsigned                    passed:1;  /* a type passed on purpose */
    unsigned                    refused:1; /* an error page was sent */
    unsigned                    zdone:1;
    unsigned                    zmore:1;   /* output without more input */
    unsigned                    started:1; /* output has been sent */
    unsigned                    push:1;    /* a flush or the end seen */
    unsigned                    header:1;  /* the header is held */
    unsigned                    done:1;    /* the whole body is queued */
    unsigned                    unbuffered:1; /* by this filter */
} ngx_http_ngsp_mask_ctx_t;


static ngx_int_t ngx_http_ngsp_mask_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ngsp_mask_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ngsp_mask_commands[] = {

    { ngx_string("ngsp_mask_hash_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_mask_hash_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_profile"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ngsp_mask_profile_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_mask,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_mask_types,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_pass_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_mask_pass_types,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_max_value"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_mask_loc_conf_t, max_value),
      NULL },

    { ngx_string("ngsp_mask_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_mask_loc_conf_t, max_depth),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ngsp_mask_filter_module_ctx = {
    ngx_http_ngsp_mask_add_variables,      /* preconfiguration */
    ngx_http_ngsp_mask_init,               /* postconfiguration */

    ngx_http_ngsp_mask_create_main_conf,   /* create main configuration */
    ngx_http_ngsp_mask_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ngsp_mask_create_loc_conf,    /* create location configuration */
    ngx_http_ngsp_mask_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_ngsp_mask_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_ngsp_mask_filter_module_ctx, /* module context */
    ngx_http_ngsp_mask_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* --- request side --------------------------------------------------------- */

/*
 * What a request header line is to the upstream of a masked location:
 * 1 Accept-Encoding, 2 Range or If-Range, 0 anything else.
 */
static ngx_uint_t
ngx_http_ngsp_mask_header_kind(ngx_table_elt_t *h)
{
    switch (h->key.len) {

    case sizeof("Range") - 1:
        return ngx_strncasecmp(h->key.data, (u_char *) "Range", 5) == 0
               ? 2 : 0;

    case sizeof("If-Range") - 1:
        return ngx_strncasecmp(h->key.data, (u_char *) "If-Range", 8) == 0
               ? 2 : 0;

    case sizeof("Accept-Encoding") - 1:
        return ngx_strncasecmp(h->key.data, (u_char *) "Accept-Encoding",
                               15) == 0
               ? 1 : 0;
    }

    return 0;
}


/*
 * Asks the upstream for the whole body, unencoded.  proxy (fastcgi,
 * uwsgi, grpc, ...) copies every line of r->headers_in.headers, so the
 * upstream gets a list rebuilt without Range and If-Range (a slice of a
 * document cannot be masked, and a 206 would be refused), with the first
 * Accept-Encoding line as "identity" and any other one dropped (nginx
 * 1.22 only looks at the first).  The old list's elements stay in the
 * pool: r->headers_in.accept_encoding, .range and .if_range still point
 * to them, so nginx's gzip compresses the masked output for the client
 * as it asked, and nothing shared with a parent request is changed.
 * Nothing to configure; an explicit proxy_set_header still wins.
 */
static ngx_int_t
ngx_http_ngsp_mask_request_headers(ngx_http_request_t *r)
{
    ngx_uint_t                      i, n, kind, change;
    ngx_list_t                      old;
    ngx_list_part_t                *part;
    ngx_table_elt_t                *h, *nh, *ae;
    ngx_http_ngsp_mask_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_mask_filter_module);

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    n = 0;
    change = 0;
    ae = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        n++;
        kind = ngx_http_ngsp_mask_header_kind(&h[i]);

        if (kind == 1 && ae == NULL) {
            ae = &h[i];

            if (ae->value.len != sizeof("identity") - 1
                || ngx_strncasecmp(ae->value.data, (u_char *) "identity",
                                   ae->value.len) != 0)
            {
                change = 1;
            }

        } else if (kind) {
            change = 1;
        }
    }

    if (!change) {
        return NGX_DECLINED;
    }

    /* made in place: a list's "last" points into the list itself */
    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, n,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        r->headers_in.headers = old;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    part = &old.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (&h[i] != ae && ngx_http_ngsp_mask_header_kind(&h[i])) {
            continue;
        }

        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *nh = h[i];

        if (&h[i] == ae) {
            ngx_str_set(&nh->value, "identity");
        }
    }

    return NGX_DECLINED;
}


/* --- header filter -------------------------------------------------------- */


static int ngx_http_ngsp_mask_out(void *data, const u_char *p,
    size_t len, unsigned flags);


static void
ngx_http_ngsp_mask_cleanup(void *data)
{
    ngx_http_ngsp_mask_ctx_t  *ctx = data;

    if (ctx->mask) {
        ngsp_mask_body_free(ctx->mask);
        ctx->mask = NULL;
    }

    if (ctx->zs) {
        inflateEnd(ctx->zs);
        ctx->zs = NULL;
    }
}


/* 1 gzip or deflate (inflated here), 0 none, -1 something else */
static ngx_int_t
ngx_http_ngsp_mask_encoding(ngx_http_request_t *r)
{
    ngx_str_t        *v;
    ngx_table_elt_t  *ce;

    ce = r->headers_out.content_encoding;

    if (ce == NULL || ce->hash == 0 || ce->value.len == 0) {
        return 0;
    }

    v = &ce->value;

    if ((v->len == 8 && ngx_strncasecmp(v->data, (u_char *) "identity", 8)
         == 0))
    {
        return 0;
    }

    if ((v->len == 4 && ngx_strncasecmp(v->data, (u_char *) "gzip", 4) == 0)
        || (v->len == 6
            && ngx_strncasecmp(v->data, (u_char *) "x-gzip", 6) == 0)
        || (v->len == 7
            && ngx_strncasecmp(v->data, (u_char *) "deflate", 7) == 0))
    {
        return 1;
    }

    return -1;
}


/*
 * Sends an error page instead of the response.  When that page cannot go
 * out at once (limit_rate, a full socket), nginx returns NGX_AGAIN and the
 * content handler goes on sending the original body: the body filter
 * refuses it from then on.
 */
static ngx_int_t
ngx_http_ngsp_mask_refuse(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_int_t status)
{
    ngx_int_t  rc;

    /*
     * nginx's own page, never an error_page redirect: the request is
     * finalized with an error once the page is queued, which would end a
     * redirect (to a proxied page, say) before it answered anything.
     */
    r->error_page = 1;
    r->keepalive = 0;

    /* the body nginx may go on reading must not reach the disk either */
    (void) ngx_http_ngsp_mask_unbuffer(r);

    rc = ngx_http_filter_finalize_request(r,
                                          &ngx_http_ngsp_mask_filter_module,
                                          status);
    ctx->refused = 1;

    return rc;
}


static ngx_int_t
ngx_http_ngsp_mask_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                        enc, rc;
    ngx_str_t                        name;
    ngx_pool_cleanup_t              *cln;
    ngsp_mask_syntax_t               syntax;
    ngsp_mask_stream_conf_t          sc;
    ngx_http_ngsp_mask_ctx_t        *ctx;
    ngx_http_ngsp_mask_profile_t    *prof;
    ngx_http_ngsp_mask_loc_conf_t   *lcf;
    ngx_http_ngsp_mask_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_mask_filter_module);

    if (!lcf->enable
        || ngx_http_get_module_ctx(r, ngx_http_ngsp_mask_filter_module)
        || r->headers_out.status == NGX_HTTP_NO_CONTENT
        || r->headers_out.status == NGX_HTTP_NOT_MODIFIED)
    {
        /* an error page sent instead of a refused body passes here too */
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ngsp_mask_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->r = r;
    ctx->last_out = &ctx->out;
    ngx_http_set_ctx(r, ctx, ngx_http_ngsp_mask_filter_module);

    if (lcf->name) {
        if (ngx_http_complex_value(r, lcf->name, &name) != NGX_OK) {
            return NGX_ERROR;
        }

        if (name.len == 3 && ngx_strncmp(name.data, "off", 3) == 0) {
            ngx_http_set_ctx(r, NULL, ngx_http_ngsp_mask_filter_module);
            return ngx_http_next_header_filter(r);
        }

        mcf = ngx_http_get_module_main_conf(r,
                                            ngx_http_ngsp_mask_filter_module);
        prof = ngx_http_ngsp_mask_find(mcf, &name);

        if (prof == NULL) {
            ctx->failed = 1;
            ctx->profile = name;
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ngsp: mask profile \"%V\" does not exist, "
                          "response refused", &name);
            return ngx_http_ngsp_mask_refuse(r, ctx,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

    } else {
        prof = lcf->profile;
    }

    ctx->profile = prof->name;

    /*
     * nginx 1.22's proxy takes an interim response (100, 103, a 101 the
     * client asked for or not) for the answer, and what follows it,
     * the real response included, for its body: refused.  A 101 is not
     * switched to a tunnel either (the tunnel bypasses the filters).
     */
    if (r->headers_out.status && r->headers_out.status < NGX_HTTP_OK) {
        ctx->failed = 1;

        if (r->upstream) {
            r->upstream->upgrade = 0;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask an interim response (status %ui), "
                      "response refused", r->headers_out.status);
        return ngx_http_ngsp_mask_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY);
    }

    rc = ngx_http_ngsp_mask_decide(r, lcf, &syntax);

    if (rc == NGX_DECLINED) {
        ctx->passed = 1;
        return ngx_http_next_header_filter(r);
    }

    if (rc == NGX_ABORT) {
        ctx->failed = 1;
        return ngx_http_ngsp_mask_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * A slice of a document can itself parse as JSON ("001099012345"
     * cut out of its member) and would pass unmasked: refused.
     */
    if (r->headers_out.status == NGX_HTTP_PARTIAL_CONTENT
        || r->headers_out.content_range)
    {
        ctx->failed = 1;
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask a partial response, refused");
        return ngx_http_ngsp_mask_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY);
    }

    enc = ngx_http_ngsp_mask_encoding(r);

    if (enc < 0) {
        ctx->failed = 1;
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask a body with content encoding "
                      "\"%V\", response refused",
                      &r->headers_out.content_encoding->value);
        return ngx_http_ngsp_mask_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY);
    }

    ctx->unbuffered = ngx_http_ngsp_mask_unbuffer(r);

    /* what reaches the client is neither the upstream's bytes nor length */
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_weak_etag(r);
    r->allow_ranges = 0;

    if (enc == 1) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    /* nginx's own header filter marks HEAD header_only: later than here */
    if (r->header_only || r->method == NGX_HTTP_HEAD) {
        return ngx_http_next_header_filter(r);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ngsp_mask_cleanup;
    cln->data = ctx;

    if (enc == 1) {
        ctx->zs = ngx_pcalloc(r->pool, sizeof(z_stream));
        ctx->zbuf = ngx_palloc(r->pool, NGX_HTTP_NGSP_MASK_ZBUF_SIZE);
        if (ctx->zs == NULL || ctx->zbuf == NULL) {
            return NGX_ERROR;
        }

        /* 32 + 15: a gzip or zlib header, detected */
        if (inflateInit2(ctx->zs, 32 + MAX_WBITS) != Z_OK) {
            ctx->zs = NULL;
            return NGX_ERROR;
        }
    }

    /* the rewriter for the body's syntax (ngx_http_ngsp_mask_decide()) */
    sc.profile = prof->profile;
    sc.key = ((ngx_http_ngsp_mask_main_conf_t *)
              ngx_http_get_module_main_conf(r,
                                    ngx_http_ngsp_mask_filter_module))->key;
    sc.max_depth = lcf->max_depth;
    sc.max_value = lcf->max_value;
    sc.out = ngx_http_ngsp_mask_out;
    sc.data = ctx;

    ctx->mask = ngsp_mask_body_new(syntax, &sc);
    if (ctx->mask == NULL) {
        return NGX_ERROR;
    }

    r->filter_need_in_memory = 1;

    /* sent with the first output (ngx_http_ngsp_mask_send()) */
    ctx->header = 1;
    r->buffered |= NGX_HTTP_NGSP_MASK_BUFFERED;

    return NGX_OK;
}


/* --- body filter ---------------------------------------------------------- */


static ngx_chain_t *
ngx_http_ngsp_mask_link(ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t **free)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (*free) {
        cl = *free;
        *free = cl->next;
        cl->next = NULL;
        return cl;
    }

    cl = ngx_alloc_chain_link(ctx->r->pool);
    if (cl == NULL) {
        return NULL;
    }

    b = ngx_calloc_buf(ctx->r->pool);
    if (b == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


static void
ngx_http_ngsp_mask_append(ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *cl)
{
    cl->next = NULL;
    *ctx->last_out = cl;
    ctx->last_out = &cl->next;
}


/* the copy buffer being filled goes into the output, in order */
static void
ngx_http_ngsp_mask_close_copy(ngx_http_ngsp_mask_ctx_t *ctx)
{
    ngx_chain_t  *cl = ctx->copy;

    if (cl == NULL) {
        return;
    }

    ctx->copy = NULL;

    if (cl->buf->last == cl->buf->pos) {
        cl->next = ctx->free_copy;
        ctx->free_copy = cl;
        return;
    }

    ngx_http_ngsp_mask_append(ctx, cl);
}


/* output of the rewriter */
static int
ngx_http_ngsp_mask_out(void *data, const u_char *p, size_t len,
    unsigned flags)
{
    ngx_http_ngsp_mask_ctx_t  *ctx = data;

    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (!ctx->started) {
        ctx->held += len;

    } else if ((flags & NGSP_MASK_OUT_INPUT) && ctx->in
               && len >= NGX_HTTP_NGSP_MASK_REF_MIN)
    {
        /* a span of the upstream's buffer: pointed to, not copied */
        ngx_http_ngsp_mask_close_copy(ctx);

        cl = ngx_http_ngsp_mask_link(ctx, &ctx->free_ref);
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

            if (ctx->free_copy) {
                cl = ctx->free_copy;
                ctx->free_copy = cl->next;
                cl->next = NULL;
                b = cl->buf;

            } else {
                cl = ngx_alloc_chain_link(ctx->r->pool);
                if (cl == NULL) {
                    return -1;
                }

                b = ngx_create_temp_buf(ctx->r->pool,
                                        NGX_HTTP_NGSP_MASK_COPY_SIZE);
                if (b == NULL) {
                    return -1;
                }

                cl->buf = b;
                cl->next = NULL;
            }

            b->pos = b->start;
            b->last = b->start;
            b->flush = 0;
            b->last_buf = 0;
            b->tag = (ngx_buf_tag_t) &ngx_http_ngsp_mask_filter_module;
            ctx->copy = cl;
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

    cl = ngx_http_ngsp_mask_link(ctx, &ctx->free_ref);
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
 * Unbuffered, nginx flags every buffer of upstream data a flush, and
 * flushes once after the header.  When this filter turned the buffering
 * off, those do not end the hold of the start (buffered, nothing would
 * have): only a flush once the upstream is done with (it failed) does.
 */
static ngx_uint_t
ngx_http_ngsp_mask_flush(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *b)
{
    if (!b->flush) {
        return 0;
    }

    if (ctx->started || !ctx->unbuffered) {
        return 1;
    }

    return r->upstream == NULL || r->upstream->peer.connection == NULL;
}


/* a buffer without data that carries flags (last_buf, flush) */
static ngx_int_t
ngx_http_ngsp_mask_mark(ngx_http_ngsp_mask_ctx_t *ctx, ngx_buf_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_http_ngsp_mask_link(ctx, &ctx->free_ref);
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


static ngx_int_t ngx_http_ngsp_mask_send(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx);


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
static ngx_int_t
ngx_http_ngsp_mask_inflate_body(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *in, ngsp_mask_status_t *st,
    const char **why)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    flush;
    ngx_chain_t  *cl;

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
                    return rc;
                }
            }

            *st = ngx_http_ngsp_mask_inflate(ctx, b, why);
            ngx_http_ngsp_mask_close_copy(ctx);

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

        if (b->last_buf || b->last_in_chain) {
            if (!ctx->zdone) {
                *why = "truncated compressed body";
                *st = NGSP_MASK_ERR_TRUNCATED;
                return NGX_DECLINED;
            }

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


static ngx_int_t
ngx_http_ngsp_mask_send(ngx_http_request_t *r, ngx_http_ngsp_mask_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (ctx->out == NULL && ctx->busy == NULL) {
        return NGX_OK;
    }

    if (!ctx->started) {
        if (!ctx->push && ctx->held < NGX_HTTP_NGSP_MASK_HOLD) {
            r->buffered |= NGX_HTTP_NGSP_MASK_BUFFERED;
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

            rc = ngx_http_next_header_filter(r);

            if (rc == NGX_ERROR || rc > NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    rc = ngx_http_next_body_filter(r, ctx->out);

    if (ctx->busy == NULL) {
        ctx->busy = ctx->out;

    } else {
        for (cl = ctx->busy; cl->next; cl = cl->next) { /* void */ }
        cl->next = ctx->out;
    }

    ctx->out = NULL;
    ctx->last_out = &ctx->out;

    /* what was sent frees our buffers and, through shadow, upstream's */
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

    return rc;
}


static ngx_int_t
ngx_http_ngsp_mask_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                  rc;
    const char                *why;
    ngx_buf_t                 *b;
    ngx_uint_t                 flush;
    ngx_chain_t               *cl;
    ngsp_mask_status_t         st;
    ngx_http_ngsp_mask_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ngsp_mask_filter_module);

    if (ctx && ctx->refused) {
        /* the rest of the error page may still be flushed; never data */
        for (cl = in; cl; cl = cl->next) {
            if (ngx_buf_size(cl->buf)) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "ngsp: body of a refused response dropped");
                return NGX_ERROR;
            }
        }

        return ngx_http_next_body_filter(r, in);
    }

    if (ctx == NULL || (ctx->mask == NULL && !ctx->failed)) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->failed) {
        if (ctx->mask == NULL) {
            /* the error page that replaced a refused response */
            return ngx_http_next_body_filter(r, in);
        }

        goto discard;
    }

    st = NGSP_MASK_OK;
    why = NULL;

    if (ctx->zs) {
        rc = ngx_http_ngsp_mask_inflate_body(r, ctx, in, &st, &why);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        /* what is left of the input is dropped below */
        in = ctx->pending;
        ctx->pending = NULL;

        goto failed;
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_size(b) && !ngx_buf_in_memory(b)) {
            why = "body not in memory";
            st = NGSP_MASK_ERR_OUTPUT;
            goto failed;
        }

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            ctx->in = b;

            st = ngsp_mask_body_feed(ctx->mask, b->pos, b->last - b->pos);

            ctx->in = NULL;

            ngx_http_ngsp_mask_close_copy(ctx);

            if (st != NGSP_MASK_OK) {
                b->pos = b->last;
                goto failed;
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

        if (b->last_buf || b->last_in_chain) {
            st = ngsp_mask_body_finish(ctx->mask);
            ngx_http_ngsp_mask_close_copy(ctx);

            if (st != NGSP_MASK_OK) {
                goto failed;
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
    }

    return ngx_http_ngsp_mask_send(r, ctx);

failed:

    ctx->failed = 1;
    r->buffered &= ~NGX_HTTP_NGSP_MASK_BUFFERED;

    /* the reason and where, never the data */
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ngsp: masking failed (%s) at byte %uz of the %sbody, "
                  "profile \"%V\"; %s",
                  why ? why : ngsp_mask_body_reason(ctx->mask),
                  ngsp_mask_body_offset(ctx->mask),
                  ctx->zs ? "inflated " : "", &ctx->profile,
                  ctx->header && r == r->main
                  ? "nothing sent yet, answered 502" : "response cut short");

    /* nothing more goes out: what is queued is dropped */
    for (cl = ctx->out; cl; cl = cl->next) {
        if (cl->buf->shadow) {
            cl->buf->shadow->pos = cl->buf->shadow->last;
        }
    }

    ctx->out = NULL;
    ctx->last_out = &ctx->out;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            cl->buf->pos = cl->buf->last;
        }
        cl->buf->file_pos = cl->buf->file_last;
    }

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

discard:

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            cl->buf->pos = cl->buf->last;
        }
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_ERROR;
}


/* --- variables ------------------------------------------------------------ */


static ngx_int_t
ngx_http_ngsp_mask_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_http_ngsp_mask_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ngsp_mask_filter_module);

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case 0:     /* $ngsp_mask_status */
        if (ctx == NULL) {
            ngx_str_set(v, "off");
        } else if (ctx->failed) {
            ngx_str_set(v, "error");
        } else if (ctx->passed) {
            ngx_str_set(v, "pass");
        } else {
            ngx_str_set(v, "ok");
        }
        return NGX_OK;

    case 1:     /* $ngsp_mask_profile */
        if (ctx == NULL) {
            v->len = 0;
            v->data = (u_char *) "";
        } else {
            v->len = ctx->profile.len;
            v->data = ctx->profile.data;
        }
        return NGX_OK;

    default:    /* $ngsp_masked */
        p = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }
        v->data = p;
        v->len = ngx_sprintf(p, "%uz", (ctx && ctx->mask)
                                       ? ngsp_mask_body_masked(ctx->mask)
                                       : (size_t) 0) - p;
        return NGX_OK;
    }
}


static ngx_int_t
ngx_http_ngsp_mask_add_variables(ngx_conf_t *cf)
{
    ngx_uint_t            i;
    ngx_http_variable_t  *var;
    static ngx_str_t      names[] = {
        ngx_string("ngsp_mask_status"),
        ngx_string("ngsp_mask_profile"),
        ngx_string("ngsp_masked")
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        var = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = ngx_http_ngsp_mask_variable;
        var->data = i;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_mask_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_ngsp_mask_check_disk(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_mask_request_headers;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ngsp_mask_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ngsp_mask_body_filter;

    return NGX_OK;
}
