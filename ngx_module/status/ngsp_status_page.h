/*
 * The HTML dashboard: one self-contained page (inline style and script,
 * nothing fetched but the status JSON of its own location), generated
 * from ngsp_status_page.html by tools/gen-status-page.
 */

#ifndef NGSP_STATUS_PAGE_H
#define NGSP_STATUS_PAGE_H

#include <stddef.h>


extern const char    ngsp_status_page[];
extern const size_t  ngsp_status_page_len;   /* without the final NUL */

/*
 * The Content-Security-Policy to send with the page.  The page carries a
 * stricter one of its own in a <meta> (its script and style pinned by
 * hash), which a header cannot hold without following every edit;
 * frame-ancestors works only in a header.
 */
#define NGSP_STATUS_PAGE_CSP                                                 \
    "default-src 'none'; script-src 'unsafe-inline'; "                       \
    "style-src 'unsafe-inline'; connect-src 'self'; img-src 'none'; "        \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

#endif /* NGSP_STATUS_PAGE_H */
