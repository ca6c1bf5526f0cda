/*
 * ngsp streaming XML rewriter: push bytes in, get masked bytes out.
 *
 * The XML twin of ngsp_mask_json.h, with the same profiles, actions,
 * configuration, output callback and statuses (ngsp_mask_stream.h).
 * Elements are selected by their local name (a namespace prefix is
 * ignored), attributes by "@" and their local name; the enclosing key
 * of an element is its parent element, that of an attribute the element
 * carrying it.
 *
 *   - Text content is decoded (the five predefined entities, character
 *     references, CDATA; comments inside it do not cut it) before an
 *     action sees it, and written back escaped.
 *   - remove drops the element or attribute; redact makes the content
 *     "***"; an action on an element reaches every text inside it and its
 *     attributes, unless a closer rule says otherwise.  xmlns declarations
 *     are never changed.
 *   - Allow-list mode (default remove): an element no rule names is
 *     removed if it holds text, kept (and filtered) if it holds elements
 *     or nothing; attributes no rule names are removed; whitespace between
 *     elements stays.  The root element is never removed.
 *   - Comments and processing instructions are dropped; the XML
 *     declaration stays (its encoding must be UTF-8).
 *
 * Fail closed, as for JSON: a DOCTYPE or any other markup declaration, an
 * entity other than the predefined ones, malformed markup, a mismatched
 * end tag, truncation, nesting deeper than max_depth, or a name, an
 * undecided start tag, a text node or an attribute value (decoded, passed
 * or not) longer than max_value stops the rewriter; nothing more is
 * emitted.  Passed text is only counted, never held.  Output already
 * handed out never holds a masked value in clear, nor an element or
 * attribute whose fate was still undecided.
 *
 * Memory is fixed by the bounds: one frame per open element, the open
 * element names (each at most max_value bytes), and buffers of at most
 * max_value bytes for the text being masked and an undecided start tag.
 */

#ifndef NGSP_MASK_XML_H
#define NGSP_MASK_XML_H

#include <stddef.h>

#include "ngsp_mask_stream.h"


typedef struct ngsp_mask_xml_s  ngsp_mask_xml_t;


/* the same configuration as every tokenizer's; max_depth: open elements */
typedef ngsp_mask_stream_conf_t  ngsp_mask_xml_conf_t;


/* malloc'ed; NULL when out of memory */
ngsp_mask_xml_t *ngsp_mask_xml_new(const ngsp_mask_xml_conf_t *conf);
void ngsp_mask_xml_free(ngsp_mask_xml_t *x);

/* starts again on a new document with the same configuration */
void ngsp_mask_xml_reset(ngsp_mask_xml_t *x);

/* the bytes of one feed may be any part of the document, even empty */
ngsp_mask_status_t ngsp_mask_xml_feed(ngsp_mask_xml_t *x,
    const unsigned char *p, size_t len);

/* end of input: NGSP_MASK_OK only after the root element has ended */
ngsp_mask_status_t ngsp_mask_xml_finish(ngsp_mask_xml_t *x);

/* values changed (elements and attributes removed, texts rewritten) */
size_t ngsp_mask_xml_masked(const ngsp_mask_xml_t *x);

/* offset of the input byte where an error was found */
size_t ngsp_mask_xml_offset(const ngsp_mask_xml_t *x);

/*
 * The xml action on a JSON string (issue 5): the XML document in[0..len),
 * already decoded from the string, masked whole with conf's profile into
 * *out (grown with realloc up to 4 * max_value + 4096 bytes; *out_len
 * set).  *xp keeps a rewriter between calls: NULL at first, then freed
 * with ngsp_mask_xml_free().  conf's out and data are not used.  On an
 * error nothing in *out is to be used.  *masked gets the values changed.
 */
ngsp_mask_status_t ngsp_mask_xml_string(ngsp_mask_xml_t **xp,
    const ngsp_mask_xml_conf_t *conf, const unsigned char *in, size_t len,
    unsigned char **out, size_t *out_len, size_t *out_cap, size_t *masked);

/*
 * Why the rewriter stopped, finer than the status ("doctype refused",
 * "mismatched end tag", ...): a static string, never input text; "ok"
 * while there is no error.
 */
const char *ngsp_mask_xml_reason(const ngsp_mask_xml_t *x);

#endif /* NGSP_MASK_XML_H */
