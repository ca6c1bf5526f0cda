/*
 * ngsp streaming JSON rewriter: push bytes in, get masked bytes out.
 *
 * A state machine over the bytes as they arrive; it never holds the whole
 * body.  Memory is fixed at creation: one frame per nesting level (up to
 * max_depth) and one value buffer (max_value bytes) for the decoded key or
 * the value under a string action.  Spans that need no change are handed
 * out as pointers into the caller's input (NGSP_MASK_OUT_INPUT), so a
 * caller can forward them without copying; everything else comes from the
 * engine's own scratch and is valid during the callback only.
 *
 * Fail closed: on malformed or truncated input, nesting beyond max_depth
 * or a key or scalar value longer than max_value (decoded bytes: a string
 * after its escapes are decoded, a number or literal as written; passed
 * values are counted as they stream, never held), the rewriter stops,
 * emits nothing more (not even the rest of the current feed), and reports
 * why.  Output already handed out never holds a masked value in clear, nor
 * a member whose fate was still undecided.
 */

#ifndef NGSP_MASK_JSON_H
#define NGSP_MASK_JSON_H

#include <stddef.h>

#include "ngsp_mask_stream.h"


typedef struct ngsp_mask_json_s  ngsp_mask_json_t;


/* the same configuration as every tokenizer's (ngsp_mask_stream.h) */
typedef ngsp_mask_stream_conf_t  ngsp_mask_json_conf_t;


/* malloc'ed; NULL when out of memory */
ngsp_mask_json_t *ngsp_mask_json_new(const ngsp_mask_json_conf_t *conf);
void ngsp_mask_json_free(ngsp_mask_json_t *j);

/* starts again on a new document with the same configuration */
void ngsp_mask_json_reset(ngsp_mask_json_t *j);

/* the bytes of one feed may be any part of the document, even empty */
ngsp_mask_status_t ngsp_mask_json_feed(ngsp_mask_json_t *j,
    const unsigned char *p, size_t len);

/* end of input: NGSP_MASK_OK only after one complete JSON value */
ngsp_mask_status_t ngsp_mask_json_finish(ngsp_mask_json_t *j);

/* values changed (removed, redacted or rewritten) so far */
size_t ngsp_mask_json_masked(const ngsp_mask_json_t *j);

/* offset of the input byte where an error was found */
size_t ngsp_mask_json_offset(const ngsp_mask_json_t *j);

#endif /* NGSP_MASK_JSON_H */
