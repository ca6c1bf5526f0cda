/*
 * ngsp: variables and response header fields, shared by the modules.
 */

#ifndef NGX_HTTP_NGSP_VARIABLES_H
#define NGX_HTTP_NGSP_VARIABLES_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* adds each variable of a table ended by ngx_http_null_variable */
ngx_int_t ngx_http_ngsp_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/* a found value, read again on every use (the modules' are per request) */
void ngx_http_ngsp_variable_set(ngx_http_variable_value_t *v, u_char *data,
    size_t len);

/* appends "name: value" to the response's header fields; NULL on error */
ngx_table_elt_t *ngx_http_ngsp_push_header(ngx_http_request_t *r,
    char *name, u_char *value, size_t len);

#endif /* NGX_HTTP_NGSP_VARIABLES_H */
