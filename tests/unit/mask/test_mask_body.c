/*
 * ngsp_mask_body: a rewriter reset for a new document (as the nginx glue
 * does with the ones a worker keeps between responses) gives the same
 * output and counts as a new one, for both syntaxes; a sniffed body is
 * read by its first bytes that are not blank, however it is cut.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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


static const struct {
    const char          *in;
    size_t               len;       /* 0: strlen(in) */
    ngsp_mask_status_t   status;
    const char          *out;       /* on NGSP_MASK_OK */
    const char          *why;
} sniffed[] = {
    { "{\"SoDinhDanh\":\"001099012345\"}", 0, NGSP_MASK_OK,
      "{\"SoDinhDanh\":\"********2345\"}", NULL },
    { "  \r\n\t[{\"SoDinhDanh\":\"001099012345\"}]", 0, NGSP_MASK_OK,
      "  \r\n\t[{\"SoDinhDanh\":\"********2345\"}]", NULL },
    { "\n<r><SoDinhDanh>001099012345</SoDinhDanh></r>", 0, NGSP_MASK_OK,
      "\n<r><SoDinhDanh>********2345</SoDinhDanh></r>", NULL },
    { "\xef\xbb\xbf<r><SoDinhDanh>001099012345</SoDinhDanh></r>", 0,
      NGSP_MASK_OK,
      "\xef\xbb\xbf<r><SoDinhDanh>********2345</SoDinhDanh></r>", NULL },
    /* no data: passed as it came */
    { "", 0, NGSP_MASK_OK, "", NULL },
    { " \r\n\t ", 0, NGSP_MASK_OK, " \r\n\t ", NULL },
    { "\xef\xbb\xbf\n", 0, NGSP_MASK_OK, "\xef\xbb\xbf\n", NULL },
    /* neither JSON nor XML */
    { "SoDinhDanh=001099012345", 0, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    { "  \"001099012345\"", 0, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    { "\xff\xfe{\0\"\0", 6, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    { "\0{\0\"", 4, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    { "\xef\xbb{}", 0, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    { "\xef", 0, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    { " \xef\xbb\xbf{}", 0, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    { "--MIME\r\n\r\n<r/>", 0, NGSP_MASK_ERR_SYNTAX, NULL,
      "body is neither JSON nor XML" },
    /* the JSON rewriter reads one document: NDJSON fails on its second */
    { "{\"a\":1}\n{\"SoDinhDanh\":\"001099012345\"}\n", 0,
      NGSP_MASK_ERR_SYNTAX, NULL, NULL },
};


static ngsp_mask_status_t
sniff_run(ngsp_mask_body_t *s, const char *in, size_t len, size_t cut)
{
    size_t              i, n;
    ngsp_mask_status_t  st;

    for (i = 0; i < len; i += n) {
        n = len - i < cut ? len - i : cut;
        st = ngsp_mask_body_feed(s, (const unsigned char *) in + i, n);

        if (st != NGSP_MASK_OK) {
            return st;
        }
    }

    return ngsp_mask_body_finish(s);
}


static void
test_sniff(void **state)
{
    size_t                    i, len, cut;
    mask_sink_t               sink;
    ngsp_mask_body_t         *s;
    ngsp_mask_status_t        st;
    ngsp_mask_profile_t      *prof;
    ngsp_mask_stream_conf_t   conf;

    (void) state;

    prof = mask_profile("SoDinhDanh keep_last=4;");

    memset(&conf, 0, sizeof(conf));
    conf.profile = prof;
    conf.out = mask_sink_out;
    conf.data = &sink;

    for (i = 0; i < sizeof(sniffed) / sizeof(sniffed[0]); i++) {
        len = sniffed[i].len ? sniffed[i].len : strlen(sniffed[i].in);

        for (cut = 1; cut <= len + 1; cut++) {
            memset(&sink, 0, sizeof(sink));

            s = ngsp_mask_body_new(NGSP_MASK_SYNTAX_SNIFF, &conf);
            assert_non_null(s);

            st = sniff_run(s, sniffed[i].in, len, cut);

            if (st != sniffed[i].status) {
                fail_msg("case %zu cut %zu: %s", i, cut,
                         ngsp_mask_body_reason(s));
            }

            if (st == NGSP_MASK_OK) {
                assert_int_equal(sink.len, strlen(sniffed[i].out));
                assert_memory_equal(sink.len ? (char *) sink.buf : "",
                                    sniffed[i].out, sink.len);

            } else if (sniffed[i].why) {
                assert_string_equal(ngsp_mask_body_reason(s),
                                    sniffed[i].why);
                assert_int_equal(sink.len, 0);
                assert_int_equal(ngsp_mask_body_syntax_of(s),
                                 NGSP_MASK_SYNTAX_SNIFF);
            }

            ngsp_mask_body_free(s);
            free(sink.buf);
        }
    }

    ngsp_mask_profile_free(prof);
}


/* the blanks held are output as copies: not spans of the current input */
static void
test_sniff_prefix(void **state)
{
    char                     *big;
    mask_sink_t               sink;
    ngsp_mask_body_t         *s;
    ngsp_mask_profile_t      *prof;
    ngsp_mask_stream_conf_t   conf;

    (void) state;

    prof = mask_profile("SoDinhDanh keep_last=4;");

    memset(&conf, 0, sizeof(conf));
    memset(&sink, 0, sizeof(sink));
    conf.profile = prof;
    conf.out = mask_sink_out;
    conf.data = &sink;

    s = ngsp_mask_body_new(NGSP_MASK_SYNTAX_SNIFF, &conf);
    assert_non_null(s);
    assert_int_equal(ngsp_mask_body_syntax_of(s), NGSP_MASK_SYNTAX_SNIFF);
    assert_int_equal(ngsp_mask_body_feed(s, (const unsigned char *) "\n\n",
                                         2), NGSP_MASK_OK);
    assert_int_equal(sink.len, 0);
    assert_int_equal(ngsp_mask_body_feed(s,
                         (const unsigned char *) "{\"x\":1}", 7),
                     NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_syntax_of(s), NGSP_MASK_SYNTAX_JSON);
    assert_int_equal(ngsp_mask_body_finish(s), NGSP_MASK_OK);
    assert_string_equal((char *) sink.buf, "\n\n{\"x\":1}");
    assert_true(sink.from_input <= 7);
    ngsp_mask_body_free(s);
    free(sink.buf);

    /* at most NGSP_MASK_SNIFF_MAX blanks before the data */
    big = malloc(NGSP_MASK_SNIFF_MAX + 3);
    assert_non_null(big);
    memset(big, ' ', NGSP_MASK_SNIFF_MAX);
    memcpy(big + NGSP_MASK_SNIFF_MAX, "{}", 3);

    memset(&sink, 0, sizeof(sink));
    s = ngsp_mask_body_new(NGSP_MASK_SYNTAX_SNIFF, &conf);
    assert_int_equal(sniff_run(s, big, NGSP_MASK_SNIFF_MAX + 2, 1000),
                     NGSP_MASK_OK);
    assert_int_equal(sink.len, NGSP_MASK_SNIFF_MAX + 2);
    ngsp_mask_body_free(s);
    free(sink.buf);

    big[NGSP_MASK_SNIFF_MAX] = ' ';
    memset(&sink, 0, sizeof(sink));
    s = ngsp_mask_body_new(NGSP_MASK_SYNTAX_SNIFF, &conf);
    assert_int_equal(sniff_run(s, big, NGSP_MASK_SNIFF_MAX + 2, 1000),
                     NGSP_MASK_ERR_VALUE);
    assert_string_equal(ngsp_mask_body_reason(s),
                        "only blanks in the first 4096 bytes");
    assert_int_equal(sink.len, 0);

    /* reset: sniffs again */
    ngsp_mask_body_reset(s);
    assert_int_equal(sniff_run(s, "\t<r/>", 5, 2), NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_syntax_of(s), NGSP_MASK_SYNTAX_XML);
    assert_string_equal((char *) sink.buf, "\t<r/>");
    ngsp_mask_body_free(s);
    free(sink.buf);
    free(big);

    ngsp_mask_profile_free(prof);
}


/* an empty body holds no data, whatever its syntax */
static void
test_empty(void **state)
{
    size_t                    i;
    mask_sink_t               sink;
    ngsp_mask_body_t         *s;
    ngsp_mask_profile_t      *prof;
    ngsp_mask_stream_conf_t   conf;

    (void) state;

    prof = mask_profile("SoDinhDanh keep_last=4;");

    memset(&conf, 0, sizeof(conf));
    memset(&sink, 0, sizeof(sink));
    conf.profile = prof;
    conf.out = mask_sink_out;
    conf.data = &sink;

    for (i = NGSP_MASK_SYNTAX_JSON; i <= NGSP_MASK_SYNTAX_SNIFF; i++) {
        s = ngsp_mask_body_new(i, &conf);
        assert_int_equal(ngsp_mask_body_finish(s), NGSP_MASK_OK);
        assert_int_equal(sink.len, 0);
        ngsp_mask_body_free(s);

        /* a blank one is a truncated document where the syntax is known */
        s = ngsp_mask_body_new(i, &conf);
        assert_int_equal(ngsp_mask_body_feed(s, (const unsigned char *) " ",
                                             1), NGSP_MASK_OK);
        assert_int_equal(ngsp_mask_body_finish(s),
                         i == NGSP_MASK_SYNTAX_SNIFF ? NGSP_MASK_OK
                                                     : NGSP_MASK_ERR_TRUNCATED);
        ngsp_mask_body_free(s);
        sink.len = 0;
    }

    free(sink.buf);
    ngsp_mask_profile_free(prof);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_sniff_prefix),
        cmocka_unit_test(test_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
