/*
 * Helpers shared by the XML masking unit tests, fuzzer and bench: a run
 * of the XML rewriter over an input cut at given points, collecting the
 * output (profiles and the sink come from mask_util.h).
 */

#ifndef MASK_XML_UTIL_H
#define MASK_XML_UTIL_H

/* mask_util.h also holds the JSON runs, unused here */
#pragma GCC diagnostic ignored "-Wunused-function"

#include "mask_util.h"
#include "ngsp_mask_xml.h"

#ifdef MASK_XML_LIBXML2
#include <libxml/parser.h>


/* libxml2's verdict, namespaces included; no network, no entities */
static int
xml_well_formed(const char *p, size_t len)
{
    int               ok;
    xmlDocPtr         doc;
    xmlParserCtxtPtr  ctxt;

    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        abort();
    }

    doc = xmlCtxtReadMemory(ctxt, p, (int) len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR
                            | XML_PARSE_NOWARNING);
    ok = doc != NULL && ctxt->wellFormed && ctxt->nsWellFormed;

    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);

    return ok;
}

#endif


/*
 * Masks in[0..len) fed in pieces: cuts[] are ascending cut offsets
 * (ncuts of them).  Returns the output (malloc'ed, NUL-terminated) and
 * the status of the run; *why and *masked (if not NULL) get the reason
 * and the count of values masked.
 */
static char *
xml_run_cuts(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_depth, size_t max_value, ngsp_mask_status_t *st,
    const char **why, size_t *masked)
{
    size_t                   i, from, to;
    mask_sink_t              sink;
    mask_pieces_t            ps = { NULL, 0 };
    ngsp_mask_body_t        *x;
    ngsp_mask_stream_conf_t  conf;

    memset(&sink, 0, sizeof(sink));
    mask_sink_out(&sink, (const unsigned char *) "", 0, 0);
    sink.calls = 0;

    conf.profile = prof;
    conf.key = key;
    conf.max_depth = max_depth;
    conf.max_value = max_value;
    conf.out = mask_sink_out;
    conf.data = &sink;

    x = ngsp_mask_xml_new(&conf);
    if (x == NULL) {
        abort();
    }

    *st = NGSP_MASK_OK;
    from = 0;

    for (i = 0; i <= ncuts && *st == NGSP_MASK_OK; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        *st = ngsp_mask_body_feed(x, mask_piece(&ps, in + from, to - from),
                                 to - from);
        from = to;
    }

    if (*st == NGSP_MASK_OK) {
        *st = ngsp_mask_body_finish(x);
    }

    if (why) {
        *why = ngsp_mask_body_reason(x);
    }

    if (masked) {
        *masked = ngsp_mask_body_masked(x);
    }

    ngsp_mask_body_free(x);
    mask_pieces_free(&ps);

    return (char *) sink.buf;
}


/* in one piece, default limits */
static char *
xml_run(const ngsp_mask_profile_t *prof, const char *in,
    ngsp_mask_status_t *st)
{
    return xml_run_cuts(prof, NULL, (const unsigned char *) in, strlen(in),
                        NULL, 0, 0, 0, st, NULL, NULL);
}


/* in pieces of n bytes */
static char *
xml_run_every(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, size_t n, ngsp_mask_status_t *st)
{
    char    *out;
    size_t   i, k, *cuts;

    cuts = malloc((len / n + 1) * sizeof(size_t));
    for (i = n, k = 0; i < len; i += n) {
        cuts[k++] = i;
    }

    out = xml_run_cuts(prof, key, in, len, cuts, k, 0, 0, st, NULL, NULL);
    free(cuts);

    return out;
}

#endif /* MASK_XML_UTIL_H */
