/*
 * ngsp masking of a response body: any rewriter, driven through the body
 * its struct begins with (ngsp_mask_out.h).
 */

#include <stdlib.h>

#include "ngsp_mask_body.h"
#include "ngsp_mask_json.h"
#include "ngsp_mask_out.h"
#include "ngsp_mask_sniff.h"
#include "ngsp_mask_xml.h"


ngsp_mask_body_t *
ngsp_mask_body_new(ngsp_mask_syntax_t syntax,
    const ngsp_mask_stream_conf_t *conf)
{
    switch (syntax) {

    case NGSP_MASK_SYNTAX_XML:
        return ngsp_mask_xml_new(conf);

    case NGSP_MASK_SYNTAX_SNIFF:
        return ngsp_mask_sniff_new(conf);

    default:
        return ngsp_mask_json_new(conf);
    }
}


void
ngsp_mask_body_free(ngsp_mask_body_t *b)
{
    if (b == NULL) {
        return;
    }

    b->ops->free(b);
    free(b->buf);
    free(b->res);
    free(b->pend);
    free(b->stage);
    free(b);
}


void
ngsp_mask_body_reset(ngsp_mask_body_t *b)
{
    b->dflt = ngsp_mask_profile_default(b->conf.profile);
    b->syntax = b->ops->syntax;
    b->fed = 0;
    b->status = NGSP_MASK_OK;
    b->why = NULL;
    b->len = 0;
    b->pend_len = 0;
    b->staged = 0;
    b->offset = 0;
    b->err_offset = 0;
    b->masked = 0;

    b->ops->reset(b);
}


void
ngsp_mask_body_copy_spans(ngsp_mask_body_t *b, size_t max)
{
    b->span_copy = max;
}


ngsp_mask_syntax_t
ngsp_mask_body_syntax_of(const ngsp_mask_body_t *b)
{
    return b->syntax;
}


ngsp_mask_status_t
ngsp_mask_body_feed(ngsp_mask_body_t *b, const unsigned char *p,
    size_t len)
{
    b->fed |= (len != 0);

    return b->ops->feed(b, p, len);
}


ngsp_mask_status_t
ngsp_mask_body_finish(ngsp_mask_body_t *b)
{
    if (!b->fed) {
        return NGSP_MASK_OK;
    }

    return b->ops->finish(b);
}


size_t
ngsp_mask_body_masked(const ngsp_mask_body_t *b)
{
    return b->masked;
}


size_t
ngsp_mask_body_offset(const ngsp_mask_body_t *b)
{
    return b->err_offset;
}


const char *
ngsp_mask_body_reason(const ngsp_mask_body_t *b)
{
    return b->why ? b->why : ngsp_mask_status_text(b->status);
}
