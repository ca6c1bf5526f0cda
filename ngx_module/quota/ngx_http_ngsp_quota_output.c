/*
 * What a quota decision shows: the RateLimit-Policy, RateLimit and
 * Retry-After fields of the response (a header filter, so that 429s,
 * error pages and proxied responses all carry them), and the variables.
 */

#include "ngx_http_ngsp_quota.h"
#include "ngx_http_ngsp_variables.h"


#define NGX_HTTP_NGSP_QUOTA_FIELD  640


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_str_t  ngx_http_ngsp_quota_status_names[] = {
    ngx_string("off"),
    ngx_string("allowed"),
    ngx_string("rejected"),
    ngx_string("error"),
    ngx_string("dry_run")
};


static ngx_int_t
ngx_http_ngsp_quota_header_filter(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      len;
    ngx_http_ngsp_quota_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_ngsp_quota_get_ctx(r);

    if (ctx == NULL || !ctx->decided) {
        return ngx_http_next_header_filter(r);
    }

    p = ngx_pnalloc(r->pool, 2 * NGX_HTTP_NGSP_QUOTA_FIELD + NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngsp_quota_fmt_policy((char *) p, NGX_HTTP_NGSP_QUOTA_FIELD,
                                ctx->policy->name, &ctx->decision);
    if (len && ngx_http_ngsp_push_header(r, "RateLimit-Policy", p, len)
               == NULL)
    {
        return NGX_ERROR;
    }

    p += NGX_HTTP_NGSP_QUOTA_FIELD;

    len = ngsp_quota_fmt_ratelimit((char *) p, NGX_HTTP_NGSP_QUOTA_FIELD,
                                   ctx->policy->name, &ctx->decision);
    if (len && ngx_http_ngsp_push_header(r, "RateLimit", p, len) == NULL) {
        return NGX_ERROR;
    }

    p += NGX_HTTP_NGSP_QUOTA_FIELD;

    if (ctx->status == NGX_HTTP_NGSP_QUOTA_REJECTED
        && r->headers_out.status >= NGX_HTTP_BAD_REQUEST)
    {
        len = ngx_sprintf(p, "%L", (long long) ctx->decision.retry_after) - p;
        if (ngx_http_ngsp_push_header(r, "Retry-After", p, len) == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


ngx_int_t
ngx_http_ngsp_quota_header_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ngsp_quota_header_filter;

    return NGX_OK;
}


/* --- variables --------------------------------------------------------- */


static ngx_int_t
ngx_http_ngsp_quota_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *s;
    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = ngx_http_ngsp_quota_get_ctx(r);

    s = &ngx_http_ngsp_quota_status_names[ctx ? ctx->status
                                              : NGX_HTTP_NGSP_QUOTA_OFF];

    ngx_http_ngsp_variable_set(v, s->data, s->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_quota_remaining_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    size_t                      len;
    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = ngx_http_ngsp_quota_get_ctx(r);

    if (ctx == NULL || !ctx->decided) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sprintf(p, "%L", (long long)
                      ctx->decision.windows[ctx->decision.tightest].remaining)
          - p;

    ngx_http_ngsp_variable_set(v, p, len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_quota_policy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = ngx_http_ngsp_quota_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_ngsp_variable_set(v, (u_char *) ctx->policy->name,
                               ngx_strlen(ctx->policy->name));

    return NGX_OK;
}


static ngx_http_variable_t  ngx_http_ngsp_quota_vars[] = {

    { ngx_string("ngsp_quota_status"), NULL,
      ngx_http_ngsp_quota_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_quota_remaining"), NULL,
      ngx_http_ngsp_quota_remaining_variable, 0, NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("ngsp_quota_policy"), NULL,
      ngx_http_ngsp_quota_policy_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_ngsp_quota_add_variables(ngx_conf_t *cf)
{
    return ngx_http_ngsp_add_variables(cf, ngx_http_ngsp_quota_vars);
}
