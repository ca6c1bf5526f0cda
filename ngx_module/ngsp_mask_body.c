/*
 * ngsp masking of a response body: a tagged pointer to one of the
 * rewriters.
 */

#include <stdlib.h>
#include <string.h>

#include "ngsp_mask_body.h"


struct ngsp_mask_body_s {
    ngsp_mask_syntax_t   syntax;
    ngsp_mask_status_t   status;
    ngsp_mask_json_t    *json;
    ngsp_mask_xml_t     *xml;
};


static int
ngsp_mask_body_is(const unsigned char *p, size_t len, const char *s)
{
    size_t  i, n = strlen(s);

    if (len != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((p[i] | 0x20) != (unsigned char) s[i]) {
            return 0;
        }
    }

    return 1;
}


ngsp_mask_syntax_t
ngsp_mask_body_syntax(const unsigned char *type, size_t len)
{
    size_t  n;

    /* the whole header value: the media type ends at ";" or a blank */
    while (len && (*type == ' ' || *type == '\t')) {
        type++;
        len--;
    }

    for (n = 0; n < len; n++) {
        if (type[n] == ';' || type[n] == ' ' || type[n] == '\t') {
            break;
        }
    }

    len = n;

    if (ngsp_mask_body_is(type, len, "text/xml")
        || ngsp_mask_body_is(type, len, "application/xml")
        || (len > 4 && memchr(type, '/', len - 4) != NULL
            && ngsp_mask_body_is(type + len - 4, 4, "+xml")))
    {
        return NGSP_MASK_SYNTAX_XML;
    }

    return NGSP_MASK_SYNTAX_JSON;
}


ngsp_mask_body_t *
ngsp_mask_body_new(ngsp_mask_syntax_t syntax,
    const ngsp_mask_stream_conf_t *conf)
{
    ngsp_mask_body_t  *s;

    s = calloc(1, sizeof(ngsp_mask_body_t));
    if (s == NULL) {
        return NULL;
    }

    s->syntax = syntax;

    if (syntax == NGSP_MASK_SYNTAX_XML) {
        s->xml = ngsp_mask_xml_new(conf);

    } else {
        s->json = ngsp_mask_json_new(conf);
    }

    if (s->json == NULL && s->xml == NULL) {
        free(s);
        return NULL;
    }

    return s;
}


void
ngsp_mask_body_free(ngsp_mask_body_t *s)
{
    if (s == NULL) {
        return;
    }

    ngsp_mask_json_free(s->json);
    ngsp_mask_xml_free(s->xml);
    free(s);
}


void
ngsp_mask_body_reset(ngsp_mask_body_t *s)
{
    s->status = NGSP_MASK_OK;

    if (s->xml) {
        ngsp_mask_xml_reset(s->xml);

    } else {
        ngsp_mask_json_reset(s->json);
    }
}


ngsp_mask_syntax_t
ngsp_mask_body_syntax_of(const ngsp_mask_body_t *s)
{
    return s->syntax;
}


ngsp_mask_status_t
ngsp_mask_body_feed(ngsp_mask_body_t *s, const unsigned char *p,
    size_t len)
{
    s->status = s->xml ? ngsp_mask_xml_feed(s->xml, p, len)
                       : ngsp_mask_json_feed(s->json, p, len);
    return s->status;
}


ngsp_mask_status_t
ngsp_mask_body_finish(ngsp_mask_body_t *s)
{
    s->status = s->xml ? ngsp_mask_xml_finish(s->xml)
                       : ngsp_mask_json_finish(s->json);
    return s->status;
}


size_t
ngsp_mask_body_masked(const ngsp_mask_body_t *s)
{
    return s->xml ? ngsp_mask_xml_masked(s->xml)
                  : ngsp_mask_json_masked(s->json);
}


size_t
ngsp_mask_body_offset(const ngsp_mask_body_t *s)
{
    return s->xml ? ngsp_mask_xml_offset(s->xml)
                  : ngsp_mask_json_offset(s->json);
}


const char *
ngsp_mask_body_reason(const ngsp_mask_body_t *s)
{
    return s->xml ? ngsp_mask_xml_reason(s->xml)
                  : ngsp_mask_status_text(s->status);
}
