/*
 * ngsp masking of a response body: one push interface over the JSON and
 * XML rewriters, so that the body filter drives either without knowing
 * which.  The syntax is chosen from the response's media type
 * (ngsp_mask_type.h), or from the body's first bytes.
 */

#ifndef NGSP_MASK_BODY_H
#define NGSP_MASK_BODY_H

#include <stddef.h>

#include "ngsp_mask_stream.h"


typedef enum {
    NGSP_MASK_SYNTAX_JSON = 0,
    NGSP_MASK_SYNTAX_XML,
    NGSP_MASK_SYNTAX_SNIFF      /* by the first bytes that are not blank */
} ngsp_mask_syntax_t;


/*
 * A sniffed body is read by its first byte that is not blank (space,
 * tab, CR, LF; after a UTF-8 BOM, if any): "{" or "[" starts JSON, "<"
 * XML, anything else is refused (NGSP_MASK_ERR_SYNTAX).  The blanks
 * before it are held, at most this many (more: NGSP_MASK_ERR_VALUE),
 * and then fed to the rewriter chosen; a body that ends blank holds no
 * data and is output as it came.
 */
#define NGSP_MASK_SNIFF_MAX  4096


typedef struct ngsp_mask_body_s  ngsp_mask_body_t;


/*
 * A rewriter of the syntax (or ngsp_mask_json_new(), ngsp_mask_xml_new(),
 * ngsp_mask_sniff_new()); malloc'ed; NULL when out of memory
 */
ngsp_mask_body_t *ngsp_mask_body_new(ngsp_mask_syntax_t syntax,
    const ngsp_mask_stream_conf_t *conf);
void ngsp_mask_body_free(ngsp_mask_body_t *b);

/* starts again on a new document with the same configuration */
void ngsp_mask_body_reset(ngsp_mask_body_t *b);

/* NGSP_MASK_SYNTAX_SNIFF until a sniffed body's syntax is known */
ngsp_mask_syntax_t ngsp_mask_body_syntax_of(const ngsp_mask_body_t *b);

/* the bytes of one feed may be any part of the document, even empty */
ngsp_mask_status_t ngsp_mask_body_feed(ngsp_mask_body_t *b,
    const unsigned char *p, size_t len);

/*
 * end of input: NGSP_MASK_OK only after one complete document, or for an
 * empty body (no byte fed), which holds no data whatever its syntax
 */
ngsp_mask_status_t ngsp_mask_body_finish(ngsp_mask_body_t *b);

/*
 * For a caller that copies every byte it is handed anyway: an input span
 * of up to max bytes that follows the rewriter's own bytes is staged with
 * them, so they come in one callback rather than two.  0 (the default):
 * every span is handed out as a span of the input.  Kept across resets.
 */
void ngsp_mask_body_copy_spans(ngsp_mask_body_t *b, size_t max);

/* values changed (removed, redacted or rewritten) so far */
size_t ngsp_mask_body_masked(const ngsp_mask_body_t *b);

/* offset of the input byte where an error was found */
size_t ngsp_mask_body_offset(const ngsp_mask_body_t *b);

/*
 * Why it stopped, finer than the status where the rewriter knows more
 * ("doctype refused", "mismatched end tag", ...): a static string, never
 * input text; "ok" while there is no error.
 */
const char *ngsp_mask_body_reason(const ngsp_mask_body_t *b);

#endif /* NGSP_MASK_BODY_H */
