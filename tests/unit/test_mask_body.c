/*
 * ngsp_mask_body: a rewriter reset for a new document (as the nginx glue
 * does with the ones a worker keeps between responses) gives the same
 * output and counts as a new one, for both syntaxes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* the sink and profile helpers; the header's other ones are unused here */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "mask_util.h"
#include "ngsp_mask_body.h"


static const struct {
    ngsp_mask_syntax_t   syntax;
    const char          *in;
    const char          *out;
} docs[] = {
    { NGSP_MASK_SYNTAX_JSON,
      "{\"SoDinhDanh\":\"001099012345\",\"DanToc\":\"Kinh\",\"x\":[1,{}]}",
      "{\"SoDinhDanh\":\"********2345\",\"x\":[1,{}]}" },
    { NGSP_MASK_SYNTAX_XML,
      "<r><SoDinhDanh>001099012345</SoDinhDanh><DanToc>Kinh</DanToc></r>",
      "<r><SoDinhDanh>********2345</SoDinhDanh></r>" },
};


static void
run(ngsp_mask_body_t *s, mask_sink_t *sink, const char *in, size_t len,
    ngsp_mask_status_t finish)
{
    sink->len = 0;

    if (sink->buf) {
        sink->buf[0] = '\0';
    }

    assert_int_equal(ngsp_mask_body_feed(s, (const unsigned char *) in, len),
                     NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_finish(s), finish);
}


static void
test_reset(void **state)
{
    size_t                    i, n;
    mask_sink_t               sink;
    ngsp_mask_body_t         *s;
    ngsp_mask_profile_t      *prof;
    ngsp_mask_stream_conf_t   conf;

    (void) state;

    prof = mask_profile("SoDinhDanh keep_last=4; DanToc remove;");

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        memset(&sink, 0, sizeof(sink));
        memset(&conf, 0, sizeof(conf));
        conf.profile = prof;
        conf.out = mask_sink_out;
        conf.data = &sink;

        s = ngsp_mask_body_new(docs[i].syntax, &conf);
        assert_non_null(s);

        /* a document that ended well, then one cut short, then again */
        for (n = 0; n < 3; n++) {
            if (n) {
                ngsp_mask_body_reset(s);
            }

            if (n == 1) {
                run(s, &sink, docs[i].in, 20, NGSP_MASK_ERR_TRUNCATED);
                continue;
            }

            run(s, &sink, docs[i].in, strlen(docs[i].in), NGSP_MASK_OK);
            assert_string_equal((char *) sink.buf, docs[i].out);
            assert_int_equal(ngsp_mask_body_masked(s), 2);
            assert_string_equal(ngsp_mask_body_reason(s), "ok");
        }

        ngsp_mask_body_free(s);
        free(sink.buf);
    }

    ngsp_mask_profile_free(prof);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
