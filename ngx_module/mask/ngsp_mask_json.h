/*
 * ngsp streaming JSON rewriter: push bytes in, get masked bytes out
 * (through the interface of ngsp_mask_body.h).
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

#include "ngsp_mask_body.h"


/* a JSON rewriter, driven with ngsp_mask_body_feed() and the rest */
ngsp_mask_body_t *ngsp_mask_json_new(const ngsp_mask_stream_conf_t *conf);

#endif /* NGSP_MASK_JSON_H */
