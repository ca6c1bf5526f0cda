/*
 * ngsp masking glue: what crosses its files.  The module, its directives
 * and configuration: ngx_http_ngsp_mask_filter_module.c; the request
 * side: _request.c; the header filter: _header.c; the body filter:
 * _body_filter.c; gzip and deflate bodies: _inflate.c; the variables:
 * _variables.c; the decision by Content-Type: _type.c; buffering and
 * caching kept off the disk: _disk.c.
 */

#ifndef NGX_HTTP_NGSP_MASK_H
#define NGX_HTTP_NGSP_MASK_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngsp_mask_json.h"
#include "ngsp_mask_body.h"
#include "ngsp_mask_type.h"


#define NGX_HTTP_NGSP_MASK_MAX_VALUE   65536
#define NGX_HTTP_NGSP_MASK_MAX_DEPTH   64


typedef struct {
    ngx_str_t                   name;
    ngsp_mask_profile_t        *profile;
    ngx_str_t                   file;       /* where it is named, for */
    ngx_uint_t                  line;       /* messages */
} ngx_http_ngsp_mask_profile_t;


typedef struct {
    ngx_array_t                 profiles;   /* ngx_http_ngsp_mask_profile_t */
    ngsp_mask_key_t            *key;        /* NULL: no hash key */
    ngx_array_t                *masked;     /* ngx_http_ngsp_mask_masked_t */
} ngx_http_ngsp_mask_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;     /* unset, 0: off, 1: on */
    ngx_http_complex_value_t   *name;       /* a variable profile name */
    ngx_http_ngsp_mask_profile_t  *profile; /* a fixed one */
    ngx_array_t                *types;      /* ngx_str_t, may hold a '*' */
    ngx_array_t                *pass_types; /* ngx_str_t, may hold a '*' */
    size_t                      max_value;
    ngx_uint_t                  max_depth;
    u_char                     *file;       /* where the block opens */
    ngx_uint_t                  line;
} ngx_http_ngsp_mask_loc_conf_t;


/* a location (or server) that masks, for checks made once all are merged */
typedef struct {
    void                      **loc_conf;
    ngx_http_ngsp_mask_loc_conf_t  *lcf;
} ngx_http_ngsp_mask_masked_t;


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


/*
 * One response's state.  The rewriter is made for one response and freed
 * with it.  (Keeping a few per worker and resetting them saved about 4%
 * of the instructions of a masked 2 KB record, but meant changing
 * configuration structures while serving requests, holding buffers grown
 * to max_value between responses, and trusting a reset to forget one
 * agency's record before the next: not worth it.)
 */
/*
 * Why a response was refused or cut short: $ngsp_mask_reason, and the
 * status zone's counters.  A short fixed set, so a counter per reason
 * stays bounded; the error log has the details.
 */
typedef enum {
    NGX_HTTP_NGSP_MASK_WHY_NONE = 0,
    NGX_HTTP_NGSP_MASK_WHY_PROFILE,     /* no profile of that name */
    NGX_HTTP_NGSP_MASK_WHY_INTERIM,     /* a 1xx response */
    NGX_HTTP_NGSP_MASK_WHY_TYPE,        /* a Content-Type not masked */
    NGX_HTTP_NGSP_MASK_WHY_CHARSET,     /* a charset other than UTF-8 */
    NGX_HTTP_NGSP_MASK_WHY_PARTIAL,     /* a 206 or Content-Range */
    NGX_HTTP_NGSP_MASK_WHY_ENCODING,    /* not gzip, deflate or identity */
    NGX_HTTP_NGSP_MASK_WHY_COMPRESSION, /* a corrupt or huge gzip body */
    NGX_HTTP_NGSP_MASK_WHY_SYNTAX,      /* a malformed document */
    NGX_HTTP_NGSP_MASK_WHY_TRUNCATED,   /* ended inside a value */
    NGX_HTTP_NGSP_MASK_WHY_DEPTH,       /* deeper than ngsp_mask_max_depth */
    NGX_HTTP_NGSP_MASK_WHY_VALUE,       /* longer than ngsp_mask_max_value */
    NGX_HTTP_NGSP_MASK_WHY_INTERNAL,    /* memory, or a body on disk */
    NGX_HTTP_NGSP_MASK_WHY_N
} ngx_http_ngsp_mask_why_e;

/* the reasons' names, by ngx_http_ngsp_mask_why_e; NONE is "" */
extern ngx_str_t  ngx_http_ngsp_mask_why_names[];


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

    struct z_stream_s          *zs;        /* gzip or deflate body */
    u_char                     *zbuf;
    ngx_chain_t                *pending;   /* compressed, not read yet */
    size_t                      zout;      /* made of the pending buffer */
    size_t                      zbound;    /* 0: a new buffer */

    size_t                      held;      /* bytes queued before start */
    off_t                       bytes_in;  /* of the body, as it came */
    off_t                       bytes_out; /* made by the rewriter */
    ngx_http_ngsp_mask_why_e    why;       /* once failed */

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


extern ngx_module_t  ngx_http_ngsp_mask_filter_module;


/* the profile named name, NULL if none */
ngx_http_ngsp_mask_profile_t *ngx_http_ngsp_mask_find(
    ngx_http_ngsp_mask_main_conf_t *mcf, ngx_str_t *name);

/*
 * Request side (ngx_http_ngsp_mask_request.c): a precontent handler that
 * asks the upstream of a masked location for the whole body, unencoded.
 */
ngx_int_t ngx_http_ngsp_mask_request_headers(ngx_http_request_t *r);

/* 1 if the media type ("type/subtype", any case) is one of types */
ngx_int_t ngx_http_ngsp_mask_type_in(ngx_str_t *type, ngx_array_t *types);

/*
 * What a masked location does with a response, by its status line and
 * header (ngx_http_ngsp_mask_type.c): NGX_OK to mask it with *syntax,
 * NGX_DECLINED to pass it untouched, NGX_ABORT to refuse it (the reason
 * logged, and in *reason), NGX_ERROR.
 */
ngx_int_t ngx_http_ngsp_mask_decide(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngsp_mask_syntax_t *syntax,
    ngx_http_ngsp_mask_why_e *reason);

/* NGX_ERROR if a masked location caches or stores (postconfiguration) */
ngx_int_t ngx_http_ngsp_mask_check_disk(ngx_conf_t *cf);

/* the response the masking takes is read unbuffered, never cached */
ngx_uint_t ngx_http_ngsp_mask_unbuffer(ngx_http_request_t *r);

/* header filter (ngx_http_ngsp_mask_header.c) */
void ngx_http_ngsp_mask_header_filter_init(void);
ngx_int_t ngx_http_ngsp_mask_send_header(ngx_http_request_t *r);
ngx_int_t ngx_http_ngsp_mask_refuse(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_int_t status);

/* body filter, output and sending (ngx_http_ngsp_mask_body_filter.c) */
void ngx_http_ngsp_mask_body_filter_init(void);
int ngx_http_ngsp_mask_out(void *data, const u_char *p, size_t len,
    unsigned flags);
ngx_int_t ngx_http_ngsp_mask_end_buf(ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_buf_t *b, ngx_uint_t flush, ngsp_mask_status_t *st);
ngx_int_t ngx_http_ngsp_mask_send(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx);

/*
 * Small steps of the output that both the body filter and the inflater
 * take on the hot path: inline, as calls between the module's files go
 * through the PLT.
 */

static ngx_inline void
ngx_http_ngsp_mask_append(ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *cl)
{
    cl->next = NULL;
    *ctx->last_out = cl;
    ctx->last_out = &cl->next;
}


/* the copy buffer being filled goes into the output, in order */
static ngx_inline void
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


/*
 * Unbuffered, nginx flags every buffer of upstream data a flush, and
 * flushes once after the header.  When this filter turned the buffering
 * off, those do not end the hold of the start (buffered, nothing would
 * have): only a flush once the upstream is done with (it failed) does.
 */
static ngx_inline ngx_uint_t
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


/*
 * A gzip or deflate body (ngx_http_ngsp_mask_inflate.c): _start makes
 * the inflater on the request's pool, _end frees zlib's state (a pool
 * cleanup), _body feeds the rewriter with what it inflates; NGX_DECLINED
 * from it: the masking failed, *st and *why say why.
 */
ngx_int_t ngx_http_ngsp_mask_inflate_start(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx);
void ngx_http_ngsp_mask_inflate_end(ngx_http_ngsp_mask_ctx_t *ctx);
ngx_int_t ngx_http_ngsp_mask_inflate_body(ngx_http_request_t *r,
    ngx_http_ngsp_mask_ctx_t *ctx, ngx_chain_t *in, ngsp_mask_status_t *st,
    const char **why);

/* the reason of a failure the rewriter reports (also the Lua surface's) */
ngx_http_ngsp_mask_why_e ngx_http_ngsp_mask_why_of(ngsp_mask_status_t st);

/* $ngsp_mask_status, $ngsp_mask_profile, $ngsp_masked */
ngx_int_t ngx_http_ngsp_mask_add_variables(ngx_conf_t *cf);

#endif /* NGX_HTTP_NGSP_MASK_H */
