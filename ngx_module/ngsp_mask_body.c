/*
 * ngsp masking of a response body: a tagged pointer to one of the
 * rewriters.
 */

#include <stdlib.h>
#include <string.h>

#include "ngsp_mask_body.h"


struct ngsp_mask_body_s {
    ngsp_mask_syntax_t        syntax;
    ngsp_mask_status_t        status;
    ngsp_mask_json_t         *json;
    ngsp_mask_xml_t          *xml;
    unsigned                  fed:1;    /* a byte has been fed */

    /* a sniffed body */
    ngsp_mask_stream_conf_t   conf;     /* out: ngsp_mask_body_out() */
    ngsp_mask_out_pt          out;      /* the caller's */
    void                     *data;
    unsigned char            *prefix;   /* blanks (and a BOM) so far */
    size_t                    plen;
    const char               *why;
    unsigned                  sniff:1;  /* made to sniff */
    unsigned                  replay:1; /* feeding the prefix */
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


/* the rewriter's output while sniffed: the prefix is not the input */
static int
ngsp_mask_body_out(void *data, const unsigned char *p, size_t len,
    unsigned flags)
{
    ngsp_mask_body_t  *s = data;

    if (s->replay) {
        flags &= ~NGSP_MASK_OUT_INPUT;
    }

    return s->out(s->data, p, len, flags);
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

    if (syntax == NGSP_MASK_SYNTAX_SNIFF) {
        s->prefix = malloc(NGSP_MASK_SNIFF_MAX);
        if (s->prefix == NULL) {
            free(s);
            return NULL;
        }

        s->sniff = 1;
        s->conf = *conf;
        s->out = conf->out;
        s->data = conf->data;
        s->conf.out = ngsp_mask_body_out;
        s->conf.data = s;

        return s;
    }

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
    free(s->prefix);
    free(s);
}


void
ngsp_mask_body_reset(ngsp_mask_body_t *s)
{
    s->status = NGSP_MASK_OK;
    s->fed = 0;

    if (s->sniff) {
        ngsp_mask_json_free(s->json);
        ngsp_mask_xml_free(s->xml);
        s->json = NULL;
        s->xml = NULL;
        s->syntax = NGSP_MASK_SYNTAX_SNIFF;
        s->plen = 0;
        s->why = NULL;
        s->fed = 0;
        return;
    }

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


static ngsp_mask_status_t
ngsp_mask_body_sniff_failed(ngsp_mask_body_t *s, ngsp_mask_status_t st,
    const char *why)
{
    s->status = st;
    s->why = why;
    return st;
}


/* the body started with part of a BOM only */
static int
ngsp_mask_body_bom_cut(const ngsp_mask_body_t *s)
{
    return s->plen && s->plen < 3 && s->prefix[0] == 0xef;
}


/*
 * Looks for the first byte that is not blank; once found, makes the
 * rewriter it calls for, feeds it the prefix held and returns how many
 * bytes of p it has not seen yet.  (size_t) -1: an error.
 */
static size_t
ngsp_mask_body_sniff(ngsp_mask_body_t *s, const unsigned char *p,
    size_t len)
{
    size_t               i;
    unsigned char        c;
    ngsp_mask_status_t   st;

    for (i = 0; i < len; i++) {
        c = p[i];

        /* a UTF-8 BOM is taken only as the first three bytes */
        if ((s->plen == 0 && c == 0xef)
            || (s->plen == 1 && s->prefix[0] == 0xef && c == 0xbb)
            || (s->plen == 2 && s->prefix[0] == 0xef && c == 0xbf))
        {
            s->prefix[s->plen++] = c;
            continue;
        }

        if (ngsp_mask_body_bom_cut(s)) {
            break;
        }

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (s->plen == NGSP_MASK_SNIFF_MAX) {
                ngsp_mask_body_sniff_failed(s, NGSP_MASK_ERR_VALUE,
                                            "only blanks in the first "
                                            "4096 bytes");
                return (size_t) -1;
            }

            s->prefix[s->plen++] = c;
            continue;
        }

        break;
    }

    if (i == len) {
        return 0;
    }

    c = ngsp_mask_body_bom_cut(s) ? 0 : p[i];

    if (c == '{' || c == '[') {
        s->syntax = NGSP_MASK_SYNTAX_JSON;
        s->json = ngsp_mask_json_new(&s->conf);

    } else if (c == '<') {
        s->syntax = NGSP_MASK_SYNTAX_XML;
        s->xml = ngsp_mask_xml_new(&s->conf);

    } else {
        ngsp_mask_body_sniff_failed(s, NGSP_MASK_ERR_SYNTAX,
                                    "body is neither JSON nor XML");
        return (size_t) -1;
    }

    if (s->json == NULL && s->xml == NULL) {
        s->syntax = NGSP_MASK_SYNTAX_SNIFF;
        ngsp_mask_body_sniff_failed(s, NGSP_MASK_ERR_NOMEM, NULL);
        return (size_t) -1;
    }

    if (s->plen) {
        s->replay = 1;
        st = s->xml ? ngsp_mask_xml_feed(s->xml, s->prefix, s->plen)
                    : ngsp_mask_json_feed(s->json, s->prefix, s->plen);
        s->replay = 0;

        if (st != NGSP_MASK_OK) {
            s->status = st;
            return (size_t) -1;
        }
    }

    return len - i;
}


ngsp_mask_status_t
ngsp_mask_body_feed(ngsp_mask_body_t *s, const unsigned char *p,
    size_t len)
{
    size_t  n;

    s->fed |= (len != 0);

    if (s->syntax == NGSP_MASK_SYNTAX_SNIFF) {
        if (s->status != NGSP_MASK_OK) {
            return s->status;
        }

        n = ngsp_mask_body_sniff(s, p, len);

        if (n == (size_t) -1) {
            return s->status;
        }

        if (n == 0) {
            return NGSP_MASK_OK;
        }

        p += len - n;
        len = n;
    }

    s->status = s->xml ? ngsp_mask_xml_feed(s->xml, p, len)
                       : ngsp_mask_json_feed(s->json, p, len);
    return s->status;
}


ngsp_mask_status_t
ngsp_mask_body_finish(ngsp_mask_body_t *s)
{
    /* an empty body holds no data, whatever its type */
    if (!s->fed) {
        return NGSP_MASK_OK;
    }

    if (s->syntax == NGSP_MASK_SYNTAX_SNIFF) {
        if (s->status != NGSP_MASK_OK) {
            return s->status;
        }

        if (ngsp_mask_body_bom_cut(s)) {
            return ngsp_mask_body_sniff_failed(s, NGSP_MASK_ERR_SYNTAX,
                                               "body is neither JSON nor "
                                               "XML");
        }

        /* nothing but blanks: no data, passed as it came */
        if (s->plen && s->out(s->data, s->prefix, s->plen, 0) != 0) {
            return ngsp_mask_body_sniff_failed(s, NGSP_MASK_ERR_OUTPUT,
                                               NULL);
        }

        return NGSP_MASK_OK;
    }

    s->status = s->xml ? ngsp_mask_xml_finish(s->xml)
                       : ngsp_mask_json_finish(s->json);
    return s->status;
}


size_t
ngsp_mask_body_masked(const ngsp_mask_body_t *s)
{
    if (s->syntax == NGSP_MASK_SYNTAX_SNIFF) {
        return 0;
    }

    return s->xml ? ngsp_mask_xml_masked(s->xml)
                  : ngsp_mask_json_masked(s->json);
}


size_t
ngsp_mask_body_offset(const ngsp_mask_body_t *s)
{
    if (s->syntax == NGSP_MASK_SYNTAX_SNIFF) {
        return s->plen;
    }

    return s->xml ? ngsp_mask_xml_offset(s->xml)
                  : ngsp_mask_json_offset(s->json);
}


const char *
ngsp_mask_body_reason(const ngsp_mask_body_t *s)
{
    if (s->why) {
        return s->why;
    }

    if (s->syntax == NGSP_MASK_SYNTAX_SNIFF) {
        return ngsp_mask_status_text(s->status);
    }

    return s->xml ? ngsp_mask_xml_reason(s->xml)
                  : ngsp_mask_status_text(s->status);
}
