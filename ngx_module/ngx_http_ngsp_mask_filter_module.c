/*
 * ngsp: personal-data masking body filter (issues 4, 5).  Placeholder module
 * so the shared object carries its final set of modules; no directives yet.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


static ngx_http_module_t  ngx_http_ngsp_mask_filter_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


ngx_module_t  ngx_http_ngsp_mask_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_ngsp_mask_filter_module_ctx,
    NULL,
    NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};
