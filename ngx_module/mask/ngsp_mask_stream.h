/*
 * ngsp masking: what every streaming tokenizer (JSON, XML) shares, so
 * the nginx glue drives them alike: the configuration, the output callback
 * and the statuses.  The push interface itself is ngsp_mask_body.h.
 *
 * A tokenizer keeps, per nesting level, the id of the enclosing key
 * (ngsp_mask_profile_name()) and the action inherited from an enclosing
 * container, asks ngsp_mask_profile_rule(parent, name) at each key, falls
 * back to the inherited action, then to the profile's default, and
 * applies string actions with ngsp_mask_action_apply() on decoded text,
 * writing the result back escaped in its own syntax.
 */

#ifndef NGSP_MASK_STREAM_H
#define NGSP_MASK_STREAM_H

#include <stddef.h>

#include "ngsp_mask_profile.h"


typedef enum {
    NGSP_MASK_OK = 0,
    NGSP_MASK_ERR_SYNTAX,       /* malformed document */
    NGSP_MASK_ERR_TRUNCATED,    /* ended inside a value */
    NGSP_MASK_ERR_DEPTH,        /* deeper than max_depth */
    NGSP_MASK_ERR_VALUE,        /* a key, name, value or text > max_value */
    NGSP_MASK_ERR_OUTPUT,       /* the output callback failed */
    NGSP_MASK_ERR_NOMEM
} ngsp_mask_status_t;


/* the span points into the buffer given to the current feed call */
#define NGSP_MASK_OUT_INPUT  1

/*
 * Output of a tokenizer, in order.  With NGSP_MASK_OUT_INPUT the bytes
 * are a span of the current feed's input (a caller may point to them
 * rather than copy); otherwise they are the tokenizer's scratch, valid
 * during the call only.  Returns 0, or -1 to stop (NGSP_MASK_ERR_OUTPUT).
 */
typedef int (*ngsp_mask_out_pt)(void *data, const unsigned char *p,
    size_t len, unsigned flags);


typedef struct {
    const ngsp_mask_profile_t  *profile;
    const ngsp_mask_key_t      *key;        /* for hash; may be NULL */
    size_t                      max_depth;  /* nesting; 0: 64 */
    size_t                      max_value;  /* bytes; 0: 64k */
    ngsp_mask_out_pt            out;
    void                       *data;
} ngsp_mask_stream_conf_t;


const char *ngsp_mask_status_text(ngsp_mask_status_t st);

#endif /* NGSP_MASK_STREAM_H */
