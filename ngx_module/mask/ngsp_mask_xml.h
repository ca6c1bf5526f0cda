/*
 * ngsp streaming XML rewriter: push bytes in, get masked bytes out.
 *
 * The XML twin of ngsp_mask_json.h, with the same profiles, actions,
 * configuration, output callback and statuses (ngsp_mask_stream.h), and
 * the same interface (ngsp_mask_body.h); ngsp_mask_body_reason() tells
 * why it stopped.
 *
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

#include "ngsp_mask_body.h"


/*
 * An XML rewriter, driven with ngsp_mask_body_feed() and the rest;
 * max_depth bounds the open elements.
 */
ngsp_mask_body_t *ngsp_mask_xml_new(const ngsp_mask_stream_conf_t *conf);

/*
 * The xml action on a JSON string: the XML document in[0..len),
 * already decoded from the string, masked whole with conf's profile into
 * *out (grown with realloc up to 4 * max_value + 4096 bytes; *out_len
 * set).  *xp keeps a rewriter between calls: NULL at first, then freed
 * with ngsp_mask_body_free().  conf's out and data are not used.  On an
 * error nothing in *out is to be used.  *masked gets the values changed.
 */
ngsp_mask_status_t ngsp_mask_xml_string(ngsp_mask_body_t **xp,
    const ngsp_mask_stream_conf_t *conf, const unsigned char *in, size_t len,
    unsigned char **out, size_t *out_len, size_t *out_cap, size_t *masked);

#endif /* NGSP_MASK_XML_H */
