/*
 * ngsp: helpers for log lines.
 */

#include "ngx_http_ngsp_log.h"


/* the levels a rejection may be logged at (as limit_req_log_level) */
ngx_conf_enum_t  ngx_http_ngsp_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


/*
 * An untrusted value (an agency from a token) made fit for a log line:
 * at most NGX_HTTP_NGSP_LOG_MAX bytes, quotes, backslashes, controls and
 * non-ASCII bytes as \xHH, so a claim cannot forge or break log lines.
 */
ngx_str_t
ngx_http_ngsp_log_escape(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char      *p;
    size_t       n;
    ngx_str_t    out;
    ngx_uint_t   i;

    n = ngx_min(s->len, NGX_HTTP_NGSP_LOG_MAX);

    out.data = ngx_pnalloc(pool, 4 * n + 3);
    if (out.data == NULL) {
        ngx_str_set(&out, "-");
        return out;
    }

    p = out.data;

    for (i = 0; i < n; i++) {
        if (s->data[i] < 0x20 || s->data[i] > 0x7e || s->data[i] == '"'
            || s->data[i] == '\\')
        {
            p = ngx_sprintf(p, "\\x%02xd", s->data[i]);

        } else {
            *p++ = s->data[i];
        }
    }

    if (n < s->len) {
        p = ngx_cpymem(p, "...", 3);
    }

    out.len = p - out.data;

    return out;
}


void
ngx_http_ngsp_conf_error_at(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t line,
    const char *fmt, ...)
{
    u_char           *p;
    va_list           args;
    ngx_conf_file_t   at, *saved;
    u_char            errstr[NGX_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    saved = cf->conf_file;

    if (saved && file->len) {
        at = *saved;
        at.file.name = *file;
        at.line = line;
        cf->conf_file = &at;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - errstr, errstr);

    cf->conf_file = saved;
}
