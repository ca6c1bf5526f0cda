/*
 * ngsp checks for subrequests (auth_request, SSI includes, mirror).
 * nginx runs no access handler for a subrequest, so the JWT check and
 * the quota run for it first thing in its rewrite phase instead, ahead
 * of the location's rewrite directives: "ngsp_jwt on; return 204;" in an
 * auth_request target cannot answer unchecked.
 */

#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_quota.h"
#include "ngx_http_ngsp_subrequest.h"


static ngx_int_t
ngx_http_ngsp_subrequest_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    /* the JWKS fetch carries no token and is counted by no quota */
    if (r == r->main || ngx_http_ngsp_jwks_is_fetch(r)) {
        return NGX_DECLINED;
    }

    rc = ngx_http_ngsp_handler(r);

    if (rc != NGX_OK && rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_ngsp_quota_subrequest(r);
}


/*
 * The phase engine runs a phase's handlers last-registered first, and
 * this module's postconfiguration comes after ngx_http_rewrite_module's:
 * this handler runs before "return", "rewrite" and "set".
 */
ngx_int_t
ngx_http_ngsp_subrequest_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_subrequest_handler;

    return NGX_OK;
}
