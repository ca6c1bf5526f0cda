/*
 * ngsp masking, header filter: picks the profile, refuses an interim
 * (1xx) or partial response, decides by Content-Type to mask, pass or
 * refuse (ngx_http_ngsp_mask_type.c), drops Content-Length, weakens the
 * ETag, turns ranges off, takes a gzip/deflate body it still gets for
 * inflating, and has the body read unbuffered so that it never reaches a
 * temp file or a cache unmasked (ngx_http_ngsp_mask_disk.c).  The header
 * of a masked response is then held until the first output goes
 * (ngx_http_ngsp_mask_send()).
 */

#include "ngx_http_ngsp_mask.h"


static ngx_int_t ngx_http_ngsp_mask_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ngsp_mask_profile(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_http_ngsp_mask_profile_t **prof);
static ngx_int_t ngx_http_ngsp_mask_check(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngx_http_ngsp_mask_ctx_t *ctx,
    ngsp_mask_syntax_t *syntax, ngx_uint_t *inflate);
static ngx_int_t ngx_http_ngsp_mask_encoding(ngx_http_request_t *r);
static ngx_int_t ngx_http_ngsp_mask_start(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_http_ngsp_mask_profile_t *prof, ngsp_mask_syntax_t syntax,
    ngx_uint_t inflate);
static void ngx_http_ngsp_mask_cleanup(void *data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


void
ngx_http_ngsp_mask_header_filter_init(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ngsp_mask_header_filter;
}


/* the held header goes on (ngx_http_ngsp_mask_send()) */
ngx_int_t
ngx_http_ngsp_mask_send_header(ngx_http_request_t *r)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp mask: header released, content length %O",
                   r->headers_out.content_length_n);

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ngsp_mask_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_uint_t                      inflate;
    ngsp_mask_syntax_t              syntax;
    ngx_http_ngsp_mask_ctx_t       *ctx;
    ngx_http_ngsp_mask_profile_t   *prof;
    ngx_http_ngsp_mask_loc_conf_t  *lcf;

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

    rc = ngx_http_ngsp_mask_profile(r, lcf, ctx, &prof);

    if (rc == NGX_DECLINED) {
        ngx_http_set_ctx(r, NULL, ngx_http_ngsp_mask_filter_module);
        return ngx_http_next_header_filter(r);
    }

    if (rc == NGX_ABORT) {
        ctx->failed = 1;
        return ngx_http_ngsp_mask_refuse(r, ctx,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_ngsp_mask_check(r, lcf, ctx, &syntax, &inflate);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp mask: status %ui, profile \"%V\": %s",
                   r->headers_out.status, &ctx->profile,
                   rc == NGX_OK ? "mask" : rc == NGX_DECLINED ? "pass"
                   : rc == NGX_ABORT ? "refuse" : "error");

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

    ctx->unbuffered = ngx_http_ngsp_mask_unbuffer(r);

    /* what reaches the client is neither the upstream's bytes nor length */
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_weak_etag(r);
    r->allow_ranges = 0;

    if (inflate) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    /* nginx's own header filter marks HEAD header_only: later than here */
    if (r->header_only || r->method == NGX_HTTP_HEAD) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_ngsp_mask_start(r, lcf, ctx, prof, syntax, inflate)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* sent with the first output (ngx_http_ngsp_mask_send()) */
    ctx->header = 1;
    r->buffered |= NGX_HTTP_NGSP_MASK_BUFFERED;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp mask: header held");

    return NGX_OK;
}


/*
 * The location's profile, or the one its variable names: NGX_OK with
 * *prof, NGX_DECLINED for the value "off" (not masked), NGX_ABORT for a
 * name no profile has (logged), NGX_ERROR.
 */
static ngx_int_t
ngx_http_ngsp_mask_profile(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_http_ngsp_mask_profile_t **prof)
{
    ngx_str_t                        name;
    ngx_http_ngsp_mask_main_conf_t  *mcf;

    if (lcf->name == NULL) {
        *prof = lcf->profile;
        ctx->profile = lcf->profile->name;
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, lcf->name, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    if (name.len == 3 && ngx_strncmp(name.data, "off", 3) == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ngsp mask: profile \"off\", not masked");

        return NGX_DECLINED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_mask_filter_module);

    *prof = ngx_http_ngsp_mask_find(mcf, &name);
    ctx->profile = name;

    if (*prof == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: mask profile \"%V\" does not exist, "
                      "response refused", &name);
        ctx->why = NGX_HTTP_NGSP_MASK_WHY_PROFILE;
        return NGX_ABORT;
    }

    ctx->profile = (*prof)->name;

    return NGX_OK;
}


/*
 * What to do with the response, as ngx_http_ngsp_mask_decide() answers;
 * a response it would mask is refused (NGX_ABORT, the reason logged)
 * when interim, partial, or encoded otherwise than gzip or deflate.
 * *inflate: the body is to be inflated.
 */
static ngx_int_t
ngx_http_ngsp_mask_check(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngx_http_ngsp_mask_ctx_t *ctx,
    ngsp_mask_syntax_t *syntax, ngx_uint_t *inflate)
{
    ngx_int_t  rc, enc;

    *inflate = 0;

    /*
     * nginx 1.22's proxy takes an interim response (100, 103, a 101 the
     * client asked for or not) for the answer, and what follows it,
     * the real response included, for its body: refused.  A 101 is not
     * switched to a tunnel either (the tunnel bypasses the filters).
     */
    if (r->headers_out.status && r->headers_out.status < NGX_HTTP_OK) {
        if (r->upstream) {
            r->upstream->upgrade = 0;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask an interim response (status %ui), "
                      "response refused", r->headers_out.status);
        ctx->why = NGX_HTTP_NGSP_MASK_WHY_INTERIM;
        return NGX_ABORT;
    }

    rc = ngx_http_ngsp_mask_decide(r, lcf, syntax, &ctx->why);

    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * A slice of a document can itself parse as JSON ("001099012345"
     * cut out of its member) and would pass unmasked: refused.
     */
    if (r->headers_out.status == NGX_HTTP_PARTIAL_CONTENT
        || r->headers_out.content_range)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask a partial response, refused");
        ctx->why = NGX_HTTP_NGSP_MASK_WHY_PARTIAL;
        return NGX_ABORT;
    }

    enc = ngx_http_ngsp_mask_encoding(r);

    if (enc < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask a body with content encoding "
                      "\"%V\", response refused",
                      &r->headers_out.content_encoding->value);
        ctx->why = NGX_HTTP_NGSP_MASK_WHY_ENCODING;
        return NGX_ABORT;
    }

    *inflate = enc;

    return NGX_OK;
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


/* the rewriter for the body's syntax, and the inflater if need be */
static ngx_int_t
ngx_http_ngsp_mask_start(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngx_http_ngsp_mask_ctx_t *ctx,
    ngx_http_ngsp_mask_profile_t *prof, ngsp_mask_syntax_t syntax,
    ngx_uint_t inflate)
{
    ngx_pool_cleanup_t              *cln;
    ngsp_mask_stream_conf_t          sc;
    ngx_http_ngsp_mask_main_conf_t  *mcf;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ngsp_mask_cleanup;
    cln->data = ctx;

    if (inflate && ngx_http_ngsp_mask_inflate_start(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_mask_filter_module);

    sc.profile = prof->profile;
    sc.key = mcf->key;
    sc.max_depth = lcf->max_depth;
    sc.max_value = lcf->max_value;
    sc.out = ngx_http_ngsp_mask_out;
    sc.data = ctx;

    ctx->mask = ngsp_mask_body_new(syntax, &sc);
    if (ctx->mask == NULL) {
        return NGX_ERROR;
    }

    r->filter_need_in_memory = 1;

    return NGX_OK;
}


static void
ngx_http_ngsp_mask_cleanup(void *data)
{
    ngx_http_ngsp_mask_ctx_t  *ctx = data;

    if (ctx->mask) {
        ngsp_mask_body_free(ctx->mask);
        ctx->mask = NULL;
    }

    if (ctx->zs) {
        ngx_http_ngsp_mask_inflate_end(ctx);
    }
}


/*
 * Sends an error page instead of the response.  When that page cannot go
 * out at once (limit_rate, a full socket), nginx returns NGX_AGAIN and the
 * content handler goes on sending the original body: the body filter
 * refuses it from then on.
 */
ngx_int_t
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
