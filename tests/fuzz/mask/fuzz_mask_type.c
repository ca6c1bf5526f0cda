/*
 * libFuzzer target for Content-Type parsing and sniffed bodies.  The
 * input is a Content-Type value and a body.  Besides "no crash":
 *
 *   - a value that parses has a media type "token/token" and a charset,
 *     if any, inside the value;
 *   - a sniffed body gives the same status and syntax whether fed whole
 *     or byte by byte, and the same output when it succeeds; when refused
 *     before its syntax is known, nothing of it was output.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mask_util.h"
#include "ngsp_mask_body.h"
#include "ngsp_mask_type.h"


static ngsp_mask_profile_t  *profile;


static ngsp_mask_status_t
run(const uint8_t *p, size_t len, size_t cut, mask_sink_t *sink,
    ngsp_mask_syntax_t *syntax)
{
    size_t                    i, n;
    ngsp_mask_body_t         *s;
    ngsp_mask_status_t        st;
    ngsp_mask_stream_conf_t   conf;

    memset(&conf, 0, sizeof(conf));
    conf.profile = profile;
    conf.max_value = 256;
    conf.out = mask_sink_out;
    conf.data = sink;

    s = ngsp_mask_body_new(NGSP_MASK_SYNTAX_SNIFF, &conf);
    if (s == NULL) {
        abort();
    }

    st = NGSP_MASK_OK;

    for (i = 0; i < len && st == NGSP_MASK_OK; i += n) {
        n = len - i < cut ? len - i : cut;
        st = ngsp_mask_body_feed(s, p + i, n);
    }

    if (st == NGSP_MASK_OK) {
        st = ngsp_mask_body_finish(s);
    }

    *syntax = ngsp_mask_body_syntax_of(s);
    ngsp_mask_body_free(s);

    return st;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               n;
    const uint8_t       *nl;
    mask_sink_t          a, b;
    ngsp_mask_ctype_t    ct;
    ngsp_mask_syntax_t   sa, sb;
    ngsp_mask_status_t   st;

    if (profile == NULL) {
        profile = mask_profile("SoDinhDanh keep_last=4; R remove;");
    }

    /* the Content-Type value up to the first newline, the body after */
    nl = memchr(data, '\n', size);
    n = nl ? (size_t) (nl - data) : size;

    if (ngsp_mask_ctype_parse(data, n, &ct) == NULL) {
        if (ct.type_len < 3 || memchr(ct.type, '/', ct.type_len) == NULL
            || ct.type < data || ct.type + ct.type_len > data + n)
        {
            abort();
        }

        if (ct.charset
            && (ct.charset < data || ct.charset + ct.charset_len > data + n))
        {
            abort();
        }

        (void) ngsp_mask_ctype_charset_ok(&ct);
        (void) ngsp_mask_media(ct.type, ct.type_len);
    }

    if (nl == NULL) {
        return 0;
    }

    data += n + 1;
    size -= n + 1;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));

    st = run(data, size, size ? size : 1, &a, &sa);

    if (run(data, size, 1, &b, &sb) != st || sa != sb) {
        abort();
    }

    if (st == NGSP_MASK_OK
        && (a.len != b.len || (a.len && memcmp(a.buf, b.buf, a.len) != 0)))
    {
        abort();
    }

    if (st != NGSP_MASK_OK && sa == NGSP_MASK_SYNTAX_SNIFF && a.len) {
        abort();
    }

    free(a.buf);
    free(b.buf);

    return 0;
}
