/*
 * ngsp masking: what a masked location does with a response, by its
 * Content-Type (ngsp_mask_type.c parses it).  Fail closed: a body is
 * masked when its type is in ngsp_mask_types, passed untouched only when
 * its type is in ngsp_mask_pass_types, and otherwise read by its first
 * bytes (ngsp_mask_body.c, NGSP_MASK_SYNTAX_SNIFF); a header the masker
 * could misread is refused.
 */

#include "ngx_http_ngsp_mask.h"
#include "ngx_http_ngsp_log.h"


/*
 * The Content-Type lines the upstream sent; *own is 1 when the one the
 * response carries is one of them.  nginx 1.22 keeps the last line in
 * r->headers_out.content_type and all of them in the upstream's list:
 * two lines may name two types, and the client or a cache may read the
 * other one.
 */
static ngx_uint_t
ngx_http_ngsp_mask_upstream_types(ngx_http_request_t *r, ngx_uint_t *own)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    *own = 0;

    if (r->upstream == NULL) {
        return 0;
    }

    n = 0;
    part = &r->upstream->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Content-Type") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Type",
                               sizeof("Content-Type") - 1)
               != 0)
        {
            continue;
        }

        n++;

        if (r->headers_out.content_type.len
            && h[i].value.data == r->headers_out.content_type.data)
        {
            *own = 1;
        }
    }

    return n;
}


static ngx_int_t
ngx_http_ngsp_mask_refuse_type(ngx_http_request_t *r, const char *why,
    ngx_str_t *detail)
{
    ngx_str_t  ct;

    ct = ngx_http_ngsp_log_escape(r->pool, &r->headers_out.content_type);

    if (detail) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask a body with Content-Type \"%V\" "
                      "(%s \"%V\"), response refused", &ct, why, detail);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot mask a body with Content-Type \"%V\" "
                      "(%s), response refused", &ct, why);
    }

    return NGX_ABORT;
}


ngx_int_t
ngx_http_ngsp_mask_decide(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngsp_mask_syntax_t *syntax,
    ngx_http_ngsp_mask_why_e *reason)
{
    ngx_str_t           type, cs;
    ngx_uint_t          n, own;
    const char         *why;
    ngsp_mask_ctype_t   ct;
    ngsp_mask_media_t   media;

    n = ngx_http_ngsp_mask_upstream_types(r, &own);

    if (own && n > 1) {
        *reason = NGX_HTTP_NGSP_MASK_WHY_TYPE;
        return ngx_http_ngsp_mask_refuse_type(r,
                                    "the upstream sent Content-Type twice",
                                    NULL);
    }

    /* no type: read by its first bytes */
    if (r->headers_out.content_type.len == 0) {
        *syntax = NGSP_MASK_SYNTAX_SNIFF;
        return NGX_OK;
    }

    why = ngsp_mask_ctype_parse(r->headers_out.content_type.data,
                                r->headers_out.content_type.len, &ct);
    if (why) {
        *reason = NGX_HTTP_NGSP_MASK_WHY_TYPE;
        return ngx_http_ngsp_mask_refuse_type(r, why, NULL);
    }

    type.data = (u_char *) ct.type;
    type.len = ct.type_len;
    media = ngsp_mask_media(ct.type, ct.type_len);

    if (ngx_http_ngsp_mask_type_in(&type, lcf->types)) {
        goto mask;
    }

    /*
     * An error response nginx makes itself (its own page, an error_page
     * answered here) holds no upstream data: its type passes as before.
     * One from an upstream (an error_page proxied) carries that
     * upstream's Content-Type, or none, or (memcached) default_type: an
     * upstream still connected sends the body, whatever its type says.
     */
    if (r->err_status && !own
        && (r->upstream == NULL || r->upstream->peer.connection == NULL))
    {
        return NGX_DECLINED;
    }

    if (ngx_http_ngsp_mask_type_in(&type, lcf->pass_types)) {
        return NGX_DECLINED;
    }

    /* read by its first bytes whatever it says, unless it says NDJSON */
    media = (media == NGSP_MASK_MEDIA_SEQ) ? media : NGSP_MASK_MEDIA_OTHER;

mask:

    /*
     * The JSON rewriter reads one document: the second record of a
     * stream would fail it mid-response.  Refused while nothing is sent.
     */
    if (media == NGSP_MASK_MEDIA_SEQ) {
        *reason = NGX_HTTP_NGSP_MASK_WHY_TYPE;
        return ngx_http_ngsp_mask_refuse_type(r,
                                    "a stream of JSON texts is not masked",
                                    NULL);
    }

    /* UTF-7 hides "SoDinhDanh" as "So+AEQ-inhDanh" */
    if (ct.charset_hidden) {
        *reason = NGX_HTTP_NGSP_MASK_WHY_TYPE;
        return ngx_http_ngsp_mask_refuse_type(r,
                          "\"charset\" outside the charset parameter", NULL);
    }

    if (!ngsp_mask_ctype_charset_ok(&ct)) {
        cs.data = (u_char *) ct.charset;
        cs.len = ct.charset_len;
        cs = ngx_http_ngsp_log_escape(r->pool, &cs);

        *reason = NGX_HTTP_NGSP_MASK_WHY_CHARSET;
        return ngx_http_ngsp_mask_refuse_type(r, "charset", &cs);
    }

    switch (media) {

    case NGSP_MASK_MEDIA_JSON:
        *syntax = NGSP_MASK_SYNTAX_JSON;
        break;

    case NGSP_MASK_MEDIA_XML:
        *syntax = NGSP_MASK_SYNTAX_XML;
        break;

    default:
        *syntax = NGSP_MASK_SYNTAX_SNIFF;
    }

    return NGX_OK;
}


/*
 * A media type (parsed from Content-Type by ngsp_mask_ctype_parse())
 * against "type/sub", "type/(star)+json"..., any letter case.
 */
ngx_int_t
ngx_http_ngsp_mask_type_in(ngx_str_t *type, ngx_array_t *types)
{
    u_char      *star;
    size_t       len, pre, suf;
    ngx_str_t   *t;
    ngx_uint_t   i;
    u_char       low[256];

    len = type->len;

    if (types == NULL || len == 0 || len > sizeof(low)) {
        return 0;
    }

    ngx_strlow(low, type->data, len);

    t = types->elts;

    for (i = 0; i < types->nelts; i++) {
        star = ngx_strlchr(t[i].data, t[i].data + t[i].len, '*');

        if (star == NULL) {
            if (t[i].len == len && ngx_memcmp(t[i].data, low, len) == 0) {
                return 1;
            }
            continue;
        }

        pre = star - t[i].data;
        suf = t[i].len - pre - 1;

        if (len >= pre + suf
            && ngx_memcmp(t[i].data, low, pre) == 0
            && ngx_memcmp(star + 1, low + len - suf, suf) == 0)
        {
            return 1;
        }
    }

    return 0;
}
