/*
 * ngsp masking variables: $ngsp_mask_status (off, ok, pass or error),
 * $ngsp_mask_profile (the profile's name) and $ngsp_masked (the number of
 * values masked).
 */

#include "ngx_http_ngsp_mask.h"
#include "ngx_http_ngsp_variables.h"


static ngx_int_t ngx_http_ngsp_mask_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_ngsp_mask_vars[] = {

    { ngx_string("ngsp_mask_status"), NULL,
      ngx_http_ngsp_mask_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_mask_profile"), NULL,
      ngx_http_ngsp_mask_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_masked"), NULL,
      ngx_http_ngsp_mask_variable, 2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


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


ngx_int_t
ngx_http_ngsp_mask_add_variables(ngx_conf_t *cf)
{
    return ngx_http_ngsp_add_variables(cf, ngx_http_ngsp_mask_vars);
}
