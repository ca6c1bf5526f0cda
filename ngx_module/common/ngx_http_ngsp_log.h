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

/*
 * ngx_conf_log_error() at a directive read earlier (file and line kept
 * when it was read), for checks that can only run once the block is read
 */
void ngx_http_ngsp_conf_error_at(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t line, const char *fmt, ...);

#endif /* NGX_HTTP_NGSP_LOG_H */
