/*
 * ngsp masking of a body whose media type names no syntax: the first
 * bytes that are not blank choose the JSON or the XML rewriter (see
 * NGSP_MASK_SYNTAX_SNIFF in ngsp_mask_body.h).
 */

#ifndef NGSP_MASK_SNIFF_H
#define NGSP_MASK_SNIFF_H

#include "ngsp_mask_body.h"


/* a sniffing rewriter, driven with ngsp_mask_body_feed() and the rest */
ngsp_mask_body_t *ngsp_mask_sniff_new(const ngsp_mask_stream_conf_t *conf);

#endif /* NGSP_MASK_SNIFF_H */
