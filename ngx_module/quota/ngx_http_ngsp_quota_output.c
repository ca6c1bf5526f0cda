/*
 * What a quota decision shows: the RateLimit-Policy, RateLimit and
 * Retry-After fields of the response (a header filter, so that 429s,
 * error pages and proxied responses all carry them), and the variables.
 */

#include "ngx_http_ngsp_quota.h"


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
ngx_http_ngsp_quota_push(ngx_http_request_t *r, char *name, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


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
    if (len && ngx_http_ngsp_quota_push(r, "RateLimit-Policy", p, len)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    p += NGX_HTTP_NGSP_QUOTA_FIELD;

    len = ngsp_quota_fmt_ratelimit((char *) p, NGX_HTTP_NGSP_QUOTA_FIELD,
                                   ctx->policy->name, &ctx->decision);
    if (len && ngx_http_ngsp_quota_push(r, "RateLimit", p, len) != NGX_OK) {
        return NGX_ERROR;
    }

    p += NGX_HTTP_NGSP_QUOTA_FIELD;

    if (ctx->status == NGX_HTTP_NGSP_QUOTA_REJECTED
        && r->headers_out.status >= NGX_HTTP_BAD_REQUEST)
    {
        len = ngx_sprintf(p, "%L", (long long) ctx->decision.retry_after) - p;
        if (ngx_http_ngsp_quota_push(r, "Retry-After", p, len) != NGX_OK) {
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
ngx_http_ngsp_quota_value(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_quota_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *s;
    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = ngx_http_ngsp_quota_get_ctx(r);

    s = &ngx_http_ngsp_quota_status_names[ctx ? ctx->status
                                              : NGX_HTTP_NGSP_QUOTA_OFF];

    return ngx_http_ngsp_quota_value(v, s->data, s->len);
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

    return ngx_http_ngsp_quota_value(v, p, len);
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

    return ngx_http_ngsp_quota_value(v, (u_char *) ctx->policy->name,
                                     ngx_strlen(ctx->policy->name));
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
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ngsp_quota_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
