/*
 * $ngsp_agency, $ngsp_jwt_status, $ngsp_jwt_claim_NAME, $ngsp_jwt_header_NAME.
 * Each reads the token as judged under the current location's settings,
 * so they work in any phase (limit_req_zone $ngsp_agency runs before
 * access) and are never cached by nginx: a value read at server level is
 * not the one the final location sees.
 */

#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_variables.h"


static ngx_int_t ngx_http_ngsp_agency_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_ngsp_jwt_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_ngsp_jwt_member_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_HTTP_NGSP_CLAIM   0
#define NGX_HTTP_NGSP_HEADER  1


ngx_http_variable_t  ngx_http_ngsp_jwt_vars[] = {

    { ngx_string("ngsp_agency"), NULL, ngx_http_ngsp_agency_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_jwt_status"), NULL, ngx_http_ngsp_jwt_status_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ngsp_jwt_claim_"), NULL, ngx_http_ngsp_jwt_member_variable,
      NGX_HTTP_NGSP_CLAIM, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("ngsp_jwt_header_"), NULL, ngx_http_ngsp_jwt_member_variable,
      NGX_HTTP_NGSP_HEADER, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_ngsp_agency_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    ctx = ngx_http_ngsp_jwt_eval(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->agency.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_ngsp_variable_set(v, ctx->agency.data, ctx->agency.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_jwt_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char               *name;
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    ctx = ngx_http_ngsp_jwt_eval(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    name = ngsp_jwt_status_name(ctx->status);

    ngx_http_ngsp_variable_set(v, (u_char *) name, ngx_strlen(name));

    return NGX_OK;
}


/* claims and header members of a token that verified; nothing otherwise */
static ngx_int_t
ngx_http_ngsp_jwt_member_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    char                     *text;
    u_char                   *p;
    size_t                    len, prefix;
    json_t                   *obj, *member;
    ngx_str_t                *var;
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    var = (ngx_str_t *) data;
    v->not_found = 1;

    ctx = ngx_http_ngsp_jwt_eval(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->status != NGSP_JWT_OK && ctx->status != NGSP_JWT_CLAIM_FAILED) {
        return NGX_OK;
    }

    /* data is the variable's full name: strip the prefix */
    if (var->len > sizeof("ngsp_jwt_claim_") - 1
        && ngx_strncmp(var->data, "ngsp_jwt_claim_",
                       sizeof("ngsp_jwt_claim_") - 1) == 0)
    {
        prefix = sizeof("ngsp_jwt_claim_") - 1;
        obj = ctx->jwt.claims;

    } else {
        prefix = sizeof("ngsp_jwt_header_") - 1;
        obj = ctx->jwt.header;
    }

    member = ngsp_jwt_claim(obj, (char *) var->data + prefix,
                            var->len - prefix);

    text = ngsp_jwt_claim_text(member, &len);
    if (text == NULL) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(p, text, len);
    free(text);

    ngx_http_ngsp_variable_set(v, p, len);

    return NGX_OK;
}
