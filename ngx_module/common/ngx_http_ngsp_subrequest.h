/*
 * ngsp checks for subrequests, which skip nginx's access phase.
 */

#ifndef NGX_HTTP_NGSP_SUBREQUEST_H
#define NGX_HTTP_NGSP_SUBREQUEST_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* registers the subrequests' check at the front of the rewrite phase */
ngx_int_t ngx_http_ngsp_subrequest_init(ngx_conf_t *cf);

#endif /* NGX_HTTP_NGSP_SUBREQUEST_H */
