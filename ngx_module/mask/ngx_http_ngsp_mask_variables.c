/*
 * ngsp masking variables: $ngsp_mask_status (off, ok, pass or error),
 * $ngsp_mask_profile (the profile's name), $ngsp_masked (the number of
 * values masked) and $ngsp_mask_reason (why an error).
 */

#include "ngx_http_ngsp_mask.h"
#include "ngx_http_ngsp_variables.h"


static ngx_int_t ngx_http_ngsp_mask_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


ngx_str_t  ngx_http_ngsp_mask_why_names[] = {
    ngx_null_string,
    ngx_string("profile"),
    ngx_string("interim"),
    ngx_string("type"),
    ngx_string("charset"),
    ngx_string("partial"),
    ngx_string("encoding"),
    ngx_string("compression"),
    ngx_string("syntax"),
    ngx_string("truncated"),
    ngx_string("depth"),
    ngx_string("value"),
    ngx_string("internal")
};


static ngx_http_variable_t  ngx_http_ngsp_mask_vars[] = {

    { ngx_string("ngsp_mask_status"), NULL,
      ngx_http_ngsp_mask_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_mask_profile"), NULL,
      ngx_http_ngsp_mask_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_masked"), NULL,
      ngx_http_ngsp_mask_variable, 2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_mask_reason"), NULL,
      ngx_http_ngsp_mask_variable, 3, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_ngsp_mask_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_str_t                  value;
    ngx_http_ngsp_mask_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ngsp_mask_filter_module);

    switch (data) {

    case 0:     /* $ngsp_mask_status */
        if (ctx == NULL) {
            ngx_str_set(&value, "off");
        } else if (ctx->failed) {
            ngx_str_set(&value, "error");
        } else if (ctx->passed) {
            ngx_str_set(&value, "pass");
        } else {
            ngx_str_set(&value, "ok");
        }
        break;

    case 1:     /* $ngsp_mask_profile */
        if (ctx == NULL) {
            ngx_str_set(&value, "");
        } else {
            value = ctx->profile;
        }
        break;

    case 3:     /* $ngsp_mask_reason */
        if (ctx == NULL || !ctx->failed) {
            ngx_str_set(&value, "");
        } else {
            value = ngx_http_ngsp_mask_why_names[ctx->why];
        }
        break;

    default:    /* $ngsp_masked */
        p = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }
        value.data = p;
        value.len = ngx_sprintf(p, "%uz", (ctx && ctx->mask)
                                          ? ngsp_mask_body_masked(ctx->mask)
                                          : (size_t) 0) - p;
    }

    ngx_http_ngsp_variable_set(v, value.data, value.len);

    return NGX_OK;
}


ngx_int_t
ngx_http_ngsp_mask_add_variables(ngx_conf_t *cf)
{
    return ngx_http_ngsp_add_variables(cf, ngx_http_ngsp_mask_vars);
}
