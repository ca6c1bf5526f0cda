/* cmocka tests of the status text: escaping of hostile names and numbers. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ngsp_status_text.h"


static char  out[4096];


static const char *
json(const char *s, size_t len)
{
    out[ngsp_status_json_escape(out, (const unsigned char *) s, len)] = 0;
    return out;
}


static const char *
prom(const char *s, size_t len)
{
    out[ngsp_status_prom_escape(out, (const unsigned char *) s, len)] = 0;
    return out;
}

#define J(s)  json(s, sizeof(s) - 1)
#define P(s)  prom(s, sizeof(s) - 1)


static void
test_json(void **state)
{
    assert_string_equal(J("so-tu-phap"), "so-tu-phap");
    assert_string_equal(J("a\"b\\c"), "a\\\"b\\\\c");
    assert_string_equal(J("a\nb\rc\td\be\ff"), "a\\nb\\rc\\td\\be\\ff");
    assert_string_equal(J("\x01\x1f\x7f"), "\\u0001\\u001f\\u007f");
    assert_string_equal(J("a\0b"), "a\\u0000b");
    assert_string_equal(J("</script>"), "</script>");
    /* valid UTF-8 is kept */
    assert_string_equal(J("S\xe1\xbb\x9f T\xc6\xb0 ph\xc3\xa1p"),
                        "S\xe1\xbb\x9f T\xc6\xb0 ph\xc3\xa1p");
    assert_string_equal(J("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
    /* invalid UTF-8 is replaced, byte by byte */
    assert_string_equal(J("\xff"), "\\ufffd");
    assert_string_equal(J("a\xc3"), "a\\ufffd");
    assert_string_equal(J("\xc0\xaf"), "\\ufffd\\ufffd");          /* overlong */
    assert_string_equal(J("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd"); /* surrogate */
    assert_string_equal(J("\xf4\x90\x80\x80"),
                        "\\ufffd\\ufffd\\ufffd\\ufffd");          /* > 10FFFF */
    assert_string_equal(J("\xe1\xbb"), "\\ufffd\\ufffd");
}


static void
test_prom(void **state)
{
    assert_string_equal(P("so-tu-phap"), "so-tu-phap");
    assert_string_equal(P("a\"b\\c"), "a\\\"b\\\\c");
    assert_string_equal(P("a\nb"), "a\\nb");
    /* no escape exists for these: replaced, never raw */
    assert_string_equal(P("a\rb\tc\x01\x7f"),
                        "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(P("a\0b"), "a\xef\xbf\xbd" "b");
    assert_string_equal(P("\xff" "x"), "\xef\xbf\xbd" "x");
    assert_string_equal(P("S\xe1\xbb\x9f"), "S\xe1\xbb\x9f");
    assert_string_equal(P("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
}


/* the worst case fits the room the header promises */
static void
test_bounds(void **state)
{
    size_t         i;
    unsigned char  in[256];

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (i & 1) ? 0x01 : 0xff;
    }

    assert_true(ngsp_status_json_escape(out, in, sizeof(in))
                <= NGSP_STATUS_JSON_MAX(sizeof(in)));
    assert_true(ngsp_status_prom_escape(out, in, sizeof(in))
                <= NGSP_STATUS_PROM_MAX(sizeof(in)));

    memset(in, 0, sizeof(in));
    assert_int_equal(ngsp_status_json_escape(out, in, sizeof(in)),
                     NGSP_STATUS_JSON_MAX(sizeof(in)));
}


static const char *
num(size_t n)
{
    out[n] = 0;
    return out;
}


static void
test_numbers(void **state)
{
    assert_string_equal(num(ngsp_status_u64(out, 0)), "0");
    assert_string_equal(num(ngsp_status_u64(out, 18446744073709551615ULL)),
                        "18446744073709551615");
    assert_string_equal(num(ngsp_status_i64(out, -5)), "-5");
    assert_string_equal(num(ngsp_status_i64(out, INT64_MIN)),
                        "-9223372036854775808");
    assert_string_equal(num(ngsp_status_micro(out, 0)), "0");
    assert_string_equal(num(ngsp_status_micro(out, 250)), "0.00025");
    assert_string_equal(num(ngsp_status_micro(out, 1500000)), "1.5");
    assert_string_equal(num(ngsp_status_micro(out, 1000000)), "1");
    assert_string_equal(num(ngsp_status_micro(out, 1764650123456000)),
                        "1764650123.456");
    assert_string_equal(num(ngsp_status_micro(out, -1)), "-0.000001");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_prom),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_numbers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
