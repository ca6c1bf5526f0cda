/*
 * ngsp: helpers for log lines.
 */

#ifndef NGX_HTTP_NGSP_LOG_H
#define NGX_HTTP_NGSP_LOG_H

#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_NGSP_LOG_MAX  128      /* bytes of a value shown in logs */


/* info | notice | warn | error, for the *_log_level directives */
extern ngx_conf_enum_t  ngx_http_ngsp_log_levels[];

ngx_str_t ngx_http_ngsp_log_escape(ngx_pool_t *pool, ngx_str_t *s);

#endif /* NGX_HTTP_NGSP_LOG_H */
