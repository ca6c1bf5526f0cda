/*
 * ngsp masking, request side: with masking on, the upstream is asked for
 * the whole body, unencoded (a precontent phase handler).
 */

#include "ngx_http_ngsp_mask.h"


/*
 * What a request header line is to the upstream of a masked location:
 * 1 Accept-Encoding, 2 Range or If-Range, 0 anything else.
 */
static ngx_uint_t
ngx_http_ngsp_mask_header_kind(ngx_table_elt_t *h)
{
    switch (h->key.len) {

    case sizeof("Range") - 1:
        return ngx_strncasecmp(h->key.data, (u_char *) "Range", 5) == 0
               ? 2 : 0;

    case sizeof("If-Range") - 1:
        return ngx_strncasecmp(h->key.data, (u_char *) "If-Range", 8) == 0
               ? 2 : 0;

    case sizeof("Accept-Encoding") - 1:
        return ngx_strncasecmp(h->key.data, (u_char *) "Accept-Encoding",
                               15) == 0
               ? 1 : 0;
    }

    return 0;
}


/*
 * Asks the upstream for the whole body, unencoded.  proxy (fastcgi,
 * uwsgi, grpc, ...) copies every line of r->headers_in.headers, so the
 * upstream gets a list rebuilt without Range and If-Range (a slice of a
 * document cannot be masked, and a 206 would be refused), with the first
 * Accept-Encoding line as "identity" and any other one dropped (nginx
 * 1.22 only looks at the first).  The old list's elements stay in the
 * pool: r->headers_in.accept_encoding, .range and .if_range still point
 * to them, so nginx's gzip compresses the masked output for the client
 * as it asked, and nothing shared with a parent request is changed.
 * Nothing to configure; an explicit proxy_set_header still wins.
 */
ngx_int_t
ngx_http_ngsp_mask_request_headers(ngx_http_request_t *r)
{
    ngx_uint_t                      i, n, kind, change;
    ngx_list_t                      old;
    ngx_list_part_t                *part;
    ngx_table_elt_t                *h, *nh, *ae;
    ngx_http_ngsp_mask_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_mask_filter_module);

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    n = 0;
    change = 0;
    ae = NULL;

    part = &r->headers_in.headers.part;
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

        n++;
        kind = ngx_http_ngsp_mask_header_kind(&h[i]);

        if (kind == 1 && ae == NULL) {
            ae = &h[i];

            if (ae->value.len != sizeof("identity") - 1
                || ngx_strncasecmp(ae->value.data, (u_char *) "identity",
                                   ae->value.len) != 0)
            {
                change = 1;
            }

        } else if (kind) {
            change = 1;
        }
    }

    if (!change) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp mask: upstream asked for the whole body, "
                   "unencoded");

    /* made in place: a list's "last" points into the list itself */
    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, n,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        r->headers_in.headers = old;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    part = &old.part;
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

        if (&h[i] != ae && ngx_http_ngsp_mask_header_kind(&h[i])) {
            continue;
        }

        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *nh = h[i];

        if (&h[i] == ae) {
            ngx_str_set(&nh->value, "identity");
        }
    }

    return NGX_DECLINED;
}
