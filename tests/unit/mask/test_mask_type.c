/* cmocka tests of Content-Type parsing and the media types it names. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ngsp_mask_type.h"


static const struct {
    const char  *in;
    const char  *why;       /* NULL: parses */
    const char  *type;
    const char  *charset;   /* NULL: none */
    int          charset_ok;
} cases[] = {
    { "application/json", NULL, "application/json", NULL, 1 },
    { "Application/JSON", NULL, "Application/JSON", NULL, 1 },
    { " \tapplication/json ", NULL, "application/json", NULL, 1 },
    { "application/json;", NULL, "application/json", NULL, 1 },
    { "application/json ; ;charset=utf-8", NULL, "application/json",
      "utf-8", 1 },
    { "application/json; charset=UTF-8", NULL, "application/json", "UTF-8",
      1 },
    { "application/json; charset=\"utf-8\"", NULL, "application/json",
      "utf-8", 1 },
    { "text/plain; charset=US-ASCII", NULL, "text/plain", "US-ASCII", 1 },
    { "application/json; charset=utf-7", NULL, "application/json", "utf-7",
      0 },
    { "application/json; charset=\"UTF-16\"", NULL, "application/json",
      "UTF-16", 0 },
    { "application/json; charset=utf8", NULL, "application/json", "utf8",
      0 },
    { "application/json; charset=\"utf\\-8\"", NULL, "application/json",
      "utf\\-8", 0 },
    { "application/json; charset=\"\"", NULL, "application/json", "", 0 },
    { "application/soap+xml; charset=utf-8; action=\"urn:a;b,c\"", NULL,
      "application/soap+xml", "utf-8", 1 },
    { "multipart/related; boundary=MIME; type=\"application/xop+xml\"",
      NULL, "multipart/related", NULL, 1 },
    { "application/json; v=2", NULL, "application/json", NULL, 1 },
    /* "charset" elsewhere: a lenient client may take it for the charset */
    { "application/json; charset*=UTF-7", NULL, "application/json", NULL,
      0 },
    { "application/json; charset*=utf-8''utf-7", NULL, "application/json",
      NULL, 0 },
    { "application/json; charset=utf-8; x=\"; charset=utf-7\"", NULL,
      "application/json", "utf-8", 0 },
    { "application/json; x=\"a;CHARSET=utf-7\"", NULL, "application/json",
      NULL, 0 },
    { "application/json; xcharset=utf-7", NULL, "application/json", NULL,
      0 },
    { "application/json; CHARSET=utf-16", NULL, "application/json",
      "utf-16", 0 },

    { "", "a character a media type cannot hold", NULL, NULL, 0 },
    { "application", "no \"/\" in the media type", NULL, NULL, 0 },
    { "application json", "no \"/\" in the media type", NULL, NULL, 0 },
    { "application/", "no subtype in the media type", NULL, NULL, 0 },
    { "/json", "a character a media type cannot hold", NULL, NULL, 0 },
    { "application/json, text/plain", "a list of media types", NULL, NULL,
      0 },
    { "application/json; charset=utf-8, text/plain",
      "a list of media types", NULL, NULL, 0 },
    { "\"application/json\"", "a quoted media type", NULL, NULL, 0 },
    { "application/\"json\"", "a quoted string where a token should be",
      NULL, NULL, 0 },
    { "application/js{on}", "a character a media type cannot hold", NULL,
      NULL, 0 },
    { "application/json x", "a character a media type cannot hold", NULL,
      NULL, 0 },
    { "application/j\xc3\xa9son", "a character a media type cannot hold",
      NULL, NULL, 0 },
    { "application/json; charset", "a parameter without a value", NULL,
      NULL, 0 },
    { "application/json; charset=", "a parameter without a value", NULL,
      NULL, 0 },
    { "application/json; =utf-8", "a malformed parameter", NULL, NULL, 0 },
    { "application/json; charset=\"utf-8", "an unbalanced quote", NULL,
      NULL, 0 },
    { "application/json; charset=\"utf-8\\\"", "an unbalanced quote", NULL,
      NULL, 0 },
    { "application/json; charset=\"utf-8\"x",
      "a character a media type cannot hold", NULL, NULL, 0 },
    { "application/json; charset=utf-8; charset=utf-7",
      "two charset parameters", NULL, NULL, 0 },
    { "application/json; x=\"a\x01\"", "a control character in a parameter",
      NULL, NULL, 0 },
};


static void
test_parse(void **state)
{
    size_t              i;
    const char         *why;
    ngsp_mask_ctype_t   ct;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = ngsp_mask_ctype_parse((const unsigned char *) cases[i].in,
                                    strlen(cases[i].in), &ct);

        if (cases[i].why) {
            if (why == NULL || strcmp(why, cases[i].why) != 0) {
                fail_msg("\"%s\": \"%s\", expected \"%s\"", cases[i].in,
                         why ? why : "(parsed)", cases[i].why);
            }
            continue;
        }

        if (why) {
            fail_msg("\"%s\": %s", cases[i].in, why);
        }

        assert_int_equal(ct.type_len, strlen(cases[i].type));
        assert_memory_equal(ct.type, cases[i].type, ct.type_len);

        if (cases[i].charset) {
            assert_non_null(ct.charset);
            assert_int_equal(ct.charset_len, strlen(cases[i].charset));
            assert_memory_equal(ct.charset, cases[i].charset,
                                ct.charset_len);

        } else {
            assert_null(ct.charset);
        }

        if (ngsp_mask_ctype_charset_ok(&ct) != cases[i].charset_ok) {
            fail_msg("\"%s\": charset_ok %d", cases[i].in,
                     !cases[i].charset_ok);
        }
    }
}


static void
test_media(void **state)
{
    size_t  i;

    static const struct {
        const char         *type;
        ngsp_mask_media_t   media;
    } media[] = {
        { "application/json", NGSP_MASK_MEDIA_JSON },
        { "TEXT/JSON", NGSP_MASK_MEDIA_JSON },
        { "application/problem+json", NGSP_MASK_MEDIA_JSON },
        { "application/vnd.dancu+JSON", NGSP_MASK_MEDIA_JSON },
        { "text/xml", NGSP_MASK_MEDIA_XML },
        { "application/xml", NGSP_MASK_MEDIA_XML },
        { "application/soap+xml", NGSP_MASK_MEDIA_XML },
        { "application/x-ndjson", NGSP_MASK_MEDIA_SEQ },
        { "application/jsonl", NGSP_MASK_MEDIA_SEQ },
        { "application/json-seq", NGSP_MASK_MEDIA_SEQ },
        { "application/geo+json-seq", NGSP_MASK_MEDIA_SEQ },
        { "text/plain", NGSP_MASK_MEDIA_OTHER },
        { "text/html", NGSP_MASK_MEDIA_OTHER },
        { "application/octet-stream", NGSP_MASK_MEDIA_OTHER },
        { "multipart/related", NGSP_MASK_MEDIA_OTHER },
        { "+json", NGSP_MASK_MEDIA_OTHER },
        { "a/+json", NGSP_MASK_MEDIA_OTHER },
        { "application/jsonx", NGSP_MASK_MEDIA_OTHER },
    };

    (void) state;

    for (i = 0; i < sizeof(media) / sizeof(media[0]); i++) {
        if (ngsp_mask_media((const unsigned char *) media[i].type,
                            strlen(media[i].type))
            != media[i].media)
        {
            fail_msg("\"%s\"", media[i].type);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_media),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
