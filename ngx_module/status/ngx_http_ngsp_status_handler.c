/*
 * ngsp status, the handler of ngsp_status: picks the form (?format=, else
 * the Accept header), makes it in buffers of the request's pool, and
 * sends it uncached.  Also the output helpers both forms write with.
 */

#include "ngx_http_ngsp_status.h"


#define NGX_HTTP_NGSP_STATUS_BUF   32768


typedef enum {
    NGX_HTTP_NGSP_STATUS_PROM = 0,
    NGX_HTTP_NGSP_STATUS_JSON,
    NGX_HTTP_NGSP_STATUS_HTML
} ngx_http_ngsp_status_format_e;


static ngx_int_t ngx_http_ngsp_status_format(ngx_http_request_t *r,
    ngx_http_ngsp_status_format_e *format);
static ngx_uint_t ngx_http_ngsp_status_wants_text(ngx_http_request_t *r);


ngx_int_t
ngx_http_ngsp_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_buf_t                         *b;
    ngx_table_elt_t                   *h;
    ngx_http_ngsp_status_out_t         o;
    ngx_http_ngsp_status_format_e      format;
    ngx_http_ngsp_status_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ngsp_status_format(r, &format) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_status_module);

    ngx_memzero(&o, sizeof(ngx_http_ngsp_status_out_t));
    o.r = r;
    o.last = &o.out;

    switch (format) {

    case NGX_HTTP_NGSP_STATUS_JSON:
        ngx_str_set(&r->headers_out.content_type, "application/json");
        ngx_http_ngsp_status_json(&o, mcf);
        break;

    case NGX_HTTP_NGSP_STATUS_PROM:
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
        ngx_http_ngsp_status_prom(&o, mcf);
        break;

    default: /* NGX_HTTP_NGSP_STATUS_HTML */
        ngx_str_set(&r->headers_out.content_type,
                    "text/html; charset=utf-8");

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pos = (u_char *) ngsp_status_page;
        b->last = b->pos + ngsp_status_page_len;
        b->memory = 1;

        o.out = ngx_alloc_chain_link(r->pool);
        if (o.out == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        o.out->buf = b;
        o.out->next = NULL;
        o.b = b;
        o.size = ngsp_status_page_len;
    }

    if (o.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* live numbers: no cache may keep them */
    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Content-Type-Options");
    ngx_str_set(&h->value, "nosniff");

    /*
     * the page pins its script and style by hash in its own <meta>; the
     * header adds what only a header can: no framing
     */
    if (format == NGX_HTTP_NGSP_STATUS_HTML) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Content-Security-Policy");
        ngx_str_set(&h->value, NGSP_STATUS_PAGE_CSP);
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = o.size;

    if (o.size == 0 || r->header_only || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    o.b->last_buf = (r == r->main) ? 1 : 0;
    o.b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_output_filter(r, o.out);
}


/* NGX_OK and *format, or NGX_DECLINED for a format it has not */
static ngx_int_t
ngx_http_ngsp_status_format(ngx_http_request_t *r,
    ngx_http_ngsp_status_format_e *format)
{
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) != NGX_OK) {
        *format = ngx_http_ngsp_status_wants_text(r)
                  ? NGX_HTTP_NGSP_STATUS_PROM : NGX_HTTP_NGSP_STATUS_HTML;
        return NGX_OK;
    }

    if (value.len == 10 && ngx_strncmp(value.data, "prometheus", 10) == 0) {
        *format = NGX_HTTP_NGSP_STATUS_PROM;

    } else if (value.len == 4 && ngx_strncmp(value.data, "json", 4) == 0) {
        *format = NGX_HTTP_NGSP_STATUS_JSON;

    } else if (value.len == 4 && ngx_strncmp(value.data, "html", 4) == 0) {
        *format = NGX_HTTP_NGSP_STATUS_HTML;

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ngsp: status format unknown, expected prometheus, "
                      "json or html");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A scraper (Prometheus asks for OpenMetrics or text/plain) gets the
 * text format; a browser, or anything else, the page.
 */
static ngx_uint_t
ngx_http_ngsp_status_wants_text(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != 6
            || ngx_strncasecmp(h[i].key.data, (u_char *) "accept", 6) != 0)
        {
            continue;
        }

        if (ngx_strlcasestrn(h[i].value.data,
                             h[i].value.data + h[i].value.len,
                             (u_char *) "text/plain", 10 - 1)
            || ngx_strlcasestrn(h[i].value.data,
                                h[i].value.data + h[i].value.len,
                                (u_char *) "application/openmetrics-text",
                                28 - 1))
        {
            return 1;
        }
    }
}


/* room for n more bytes in the current buffer; NULL when out of memory */
static u_char *
ngx_http_ngsp_status_room(ngx_http_ngsp_status_out_t *o, size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (o->failed) {
        return NULL;
    }

    if (o->b && (size_t) (o->b->end - o->b->last) >= n) {
        return o->b->last;
    }

    b = ngx_create_temp_buf(o->r->pool,
                            ngx_max(n, NGX_HTTP_NGSP_STATUS_BUF));
    cl = ngx_alloc_chain_link(o->r->pool);

    if (b == NULL || cl == NULL) {
        o->failed = 1;
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;
    *o->last = cl;
    o->last = &cl->next;
    o->b = b;

    return b->last;
}


static ngx_inline void
ngx_http_ngsp_status_wrote(ngx_http_ngsp_status_out_t *o, size_t n)
{
    o->b->last += n;
    o->size += n;
}


void
ngx_http_ngsp_status_add(ngx_http_ngsp_status_out_t *o, const void *p,
    size_t len)
{
    u_char  *d;

    d = ngx_http_ngsp_status_room(o, len);
    if (d == NULL) {
        return;
    }

    ngx_memcpy(d, p, len);
    ngx_http_ngsp_status_wrote(o, len);
}


void
ngx_http_ngsp_status_u64(ngx_http_ngsp_status_out_t *o, uint64_t v)
{
    u_char  *d;

    d = ngx_http_ngsp_status_room(o, NGSP_STATUS_NUM_MAX);
    if (d == NULL) {
        return;
    }

    ngx_http_ngsp_status_wrote(o, ngsp_status_u64((char *) d, v));
}


void
ngx_http_ngsp_status_i64(ngx_http_ngsp_status_out_t *o, int64_t v)
{
    u_char  *d;

    d = ngx_http_ngsp_status_room(o, NGSP_STATUS_NUM_MAX);
    if (d == NULL) {
        return;
    }

    ngx_http_ngsp_status_wrote(o, ngsp_status_i64((char *) d, v));
}


void
ngx_http_ngsp_status_micro(ngx_http_ngsp_status_out_t *o, int64_t v)
{
    u_char  *d;

    d = ngx_http_ngsp_status_room(o, NGSP_STATUS_NUM_MAX);
    if (d == NULL) {
        return;
    }

    ngx_http_ngsp_status_wrote(o, ngsp_status_micro((char *) d, v));
}


void
ngx_http_ngsp_status_json_str(ngx_http_ngsp_status_out_t *o, const u_char *s,
    size_t len)
{
    u_char  *d;

    d = ngx_http_ngsp_status_room(o, NGSP_STATUS_JSON_MAX(len) + 2);
    if (d == NULL) {
        return;
    }

    d[0] = '"';
    len = 1 + ngsp_status_json_escape((char *) d + 1, s, len);
    d[len++] = '"';

    ngx_http_ngsp_status_wrote(o, len);
}


void
ngx_http_ngsp_status_prom_str(ngx_http_ngsp_status_out_t *o, const u_char *s,
    size_t len)
{
    u_char  *d;

    d = ngx_http_ngsp_status_room(o, NGSP_STATUS_PROM_MAX(len) + 2);
    if (d == NULL) {
        return;
    }

    d[0] = '"';
    len = 1 + ngsp_status_prom_escape((char *) d + 1, s, len);
    d[len++] = '"';

    ngx_http_ngsp_status_wrote(o, len);
}


const char *
ngx_http_ngsp_status_outcome_name(ngx_uint_t i)
{
    static const char  *names[] = { "allowed", "rejected", "error",
                                    "dry_run" };

    return i < NGX_HTTP_NGSP_STATUS_OUTCOMES ? names[i] : "?";
}


const char *
ngx_http_ngsp_status_mask_name(ngx_uint_t i)
{
    static const char  *names[] = { "ok", "pass", "error", "fields",
                                    "bytes_in", "bytes_out" };

    if (i < NGX_HTTP_NGSP_STATUS_MASK_REFUSED) {
        return names[i];
    }

    i -= NGX_HTTP_NGSP_STATUS_MASK_REFUSED - 1;

    return i < NGX_HTTP_NGSP_MASK_WHY_N
           ? (const char *) ngx_http_ngsp_mask_why_names[i].data : "?";
}


ngx_uint_t
ngx_http_ngsp_status_width(ngsp_quota_unit_t unit)
{
    switch (unit) {
    case NGSP_QUOTA_SEC:
        return 1;
    case NGSP_QUOTA_MIN:
        return 60;
    case NGSP_QUOTA_HOUR:
        return 3600;
    case NGSP_QUOTA_DAY:
        return 86400;
    default:
        return 0;
    }
}
