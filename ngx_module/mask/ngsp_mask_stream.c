/*
 * ngsp masking: what the streaming tokenizers share.
 */

#include "ngsp_mask_stream.h"


const char *
ngsp_mask_status_text(ngsp_mask_status_t st)
{
    switch (st) {
    case NGSP_MASK_OK:
        return "ok";
    case NGSP_MASK_ERR_SYNTAX:
        return "malformed body";
    case NGSP_MASK_ERR_TRUNCATED:
        return "truncated body";
    case NGSP_MASK_ERR_DEPTH:
        return "nesting too deep";
    case NGSP_MASK_ERR_VALUE:
        return "value too long";
    case NGSP_MASK_ERR_OUTPUT:
        return "output failed";
    case NGSP_MASK_ERR_NOMEM:
        return "out of memory";
    }

    return "unknown";
}
