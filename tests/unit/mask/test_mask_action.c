/* cmocka tests of the masking actions and profiles. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngsp_mask_action.h"
#include "ngsp_mask_profile.h"


static char  out[4096];


static const char *
apply_key(const char *spec, const char *in, size_t len,
    const ngsp_mask_key_t *key)
{
    char                 err[256];
    size_t               n;
    ngsp_mask_action_t   a;

    assert_int_equal(ngsp_mask_action_parse(&a, spec, strlen(spec), err,
                                            sizeof(err)), 0);
    assert_true(ngsp_mask_action_out_max(&a, len) < sizeof(out));

    n = ngsp_mask_action_apply(&a, key, (const unsigned char *) in, len,
                               (unsigned char *) out);
    assert_true(n <= ngsp_mask_action_out_max(&a, len));
    out[n] = '\0';

    return out;
}


static const char *
apply(const char *spec, const char *in)
{
    return apply_key(spec, in, strlen(in), NULL);
}


static void
test_keep(void **state)
{
    assert_string_equal(apply("keep_last=4", "001099012345"), "********2345");
    assert_string_equal(apply("keep_first=3", "001099012345"), "001*********");
    assert_string_equal(apply("keep_last=3", "0912345678"), "*******678");
    /* code points, not bytes */
    assert_string_equal(apply("keep_first=2", "Nguyễn"), "Ng****");
    assert_string_equal(apply("keep_last=3", "Nguyễn"), "***yễn");
    assert_string_equal(apply("keep_last=2", "Ánh"), "*nh");
    assert_string_equal(apply("keep_first=1", "Ánh"), "Á**");
    assert_string_equal(apply("keep_last=20", "Ánh"), "Ánh");
    assert_string_equal(apply("keep_last=0", "Ánh"), "***");
    assert_string_equal(apply("keep_first=4", ""), "");
    assert_string_equal(apply("keep_last=20", "abc"), "abc");
    assert_string_equal(apply("keep_first=20", "abc"), "abc");
    assert_string_equal(apply("keep_first=0", "abc"), "***");
    assert_string_equal(apply("keep_last=0", "abc"), "***");
}


static void
test_initials(void **state)
{
    assert_string_equal(apply("initials", "Nguyễn Văn An"), "N. V. A.");
    assert_string_equal(apply("initials", "Lê Thị Ánh"), "L. T. Á.");
    assert_string_equal(apply("initials", "  Phạm   Thị\tNgọc Hân "),
                        "P. T. N. H.");
    assert_string_equal(apply("initials", "Đỗ"), "Đ.");
    assert_string_equal(apply("initials", ""), "");
    assert_string_equal(apply("initials", "   "), "");
}


/*
 * Lengths around the eight-byte steps of keep_* (stars) and initials (the
 * end of a word): against the same done a byte at a time here.
 */
static void
test_word_steps(void **state)
{
    char          in[64], want[256], spec[32], *w;
    size_t        len, k, i, n, b;
    const char   *blank, *mid;
    static const char  *blanks[] = { " ", "\t", "\n", "\v", "\f", "\r", "  " };
    static const char  *mids[] = { "", "\x01", "\x1f", "\xe1\xbb\x85", "!" };

    for (len = 0; len <= 40; len++) {
        memset(in, '7', len);
        in[len] = '\0';

        for (k = 0; k <= 5; k++) {
            snprintf(spec, sizeof(spec), "keep_last=%zu", k);
            n = k < len ? len - k : 0;
            memset(want, '*', n);
            memcpy(want + n, in + n, len - n);
            want[len] = '\0';
            assert_string_equal(apply(spec, in), want);

            snprintf(spec, sizeof(spec), "keep_first=%zu", k);
            n = k < len ? k : len;
            memcpy(want, in, n);
            memset(want + n, '*', len - n);
            want[len] = '\0';
            assert_string_equal(apply(spec, in), want);
        }
    }

    /* two words, the first of 1 to 20 bytes with a byte at each place */
    for (b = 0; b < sizeof(blanks) / sizeof(blanks[0]); b++) {
        blank = blanks[b];

        for (i = 0; i < sizeof(mids) / sizeof(mids[0]); i++) {
            mid = mids[i];

            for (len = 1; len <= 20; len++) {
                for (k = 1; k <= len; k++) {
                    w = in;
                    memset(w, 'a', k);
                    w += k;
                    w += sprintf(w, "%s", mid);
                    memset(w, 'b', len - k);
                    w += len - k;
                    sprintf(w, "%sC", blank);

                    /* control characters are part of a word */
                    assert_string_equal(apply("initials", in), "a. C.");
                }
            }
        }
    }
}


static void
test_year(void **state)
{
    assert_string_equal(apply("year", "1990-05-17"), "1990");
    assert_string_equal(apply("year", "17/05/1990"), "1990");
    assert_string_equal(apply("year", "19900517"), "1990");
    assert_string_equal(apply("year", "1990"), "1990");
    assert_string_equal(apply("year", "2003-11-02T00:00:00+07:00"), "2003");
    /* nothing recognisable: never the text itself */
    assert_string_equal(apply("year", "17 May"), "***");
    assert_string_equal(apply("year", "123456"), "***");
    assert_string_equal(apply("year", ""), "***");
}


static void
test_email(void **state)
{
    assert_string_equal(apply("email", "an.nguyen@example.vn"),
                        "a***@example.vn");
    assert_string_equal(apply("email", "ánh@ví-dụ.vn"), "á***@ví-dụ.vn");
    assert_string_equal(apply("email", "a\"b@c@d.vn"), "a***@d.vn");
    assert_string_equal(apply("email", "@example.vn"), "***@example.vn");
    assert_string_equal(apply("email", "no-at-sign"), "***");
}


static void
test_hash(void **state)
{
    size_t            i;
    unsigned int      mlen;
    ngsp_mask_key_t  *key;
    unsigned char     md[32];
    char              hex[65];
    const char       *k = "pseudonym-key-0123456789abcdef!!";

    key = ngsp_mask_key_new((const unsigned char *) k, strlen(k));
    assert_non_null(key);

    /* an independent HMAC for reference */
    HMAC(EVP_sha256(), k, strlen(k), (const unsigned char *) "001065001122",
         12, md, &mlen);
    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }

    assert_string_equal(apply_key("hash", "001065001122", 12, key), hex);
    /* the same value, the same pseudonym; another value, another */
    assert_string_equal(apply_key("hash", "001065001122", 12, key), hex);
    assert_string_not_equal(apply_key("hash", "001065001123", 12, key), hex);

    /* no key: redacted, never the value */
    assert_string_equal(apply_key("hash", "001065001122", 12, NULL), "***");

    ngsp_mask_key_free(key);
}


static void
test_replace_redact(void **state)
{
    assert_string_equal(apply("replace=ẩn", "001099012345"), "ẩn");
    assert_string_equal(apply("replace=", "x"), "");
    assert_string_equal(apply("redact", "Nguyễn Văn An"), "***");
}


static void
test_invalid_utf8_in(void **state)
{
    /* each bad byte is one character; kept ones become U+FFFD */
    assert_string_equal(apply_key("keep_first=2", "\xff\xfe" "ab", 4, NULL),
                        "\xef\xbf\xbd\xef\xbf\xbd" "**");
    assert_string_equal(apply_key("keep_last=1", "ab\xc3", 3, NULL),
                        "**\xef\xbf\xbd");
    assert_string_equal(apply_key("initials", "\xe1\xba x", 4, NULL),
                        "\xef\xbf\xbd. x.");
    /* a surrogate encoded in UTF-8 is not valid */
    assert_string_equal(apply_key("keep_first=1", "\xed\xa0\x80", 3, NULL),
                        "\xef\xbf\xbd**");
}


static void
test_parse_errors(void **state)
{
    char                 err[256];
    ngsp_mask_action_t   a;
    const char          *bad[] = {
        "keep_last", "keep_last=", "keep_last=x", "keep_last=-1",
        "keep_first=1234567", "initials=3", "bogus", "replace",
        "replace=\xff", "", "pass=1", NULL
    };
    int                  i;

    for (i = 0; bad[i]; i++) {
        err[0] = '\0';
        assert_int_equal(ngsp_mask_action_parse(&a, bad[i], strlen(bad[i]),
                                                err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }

    assert_int_equal(ngsp_mask_action_parse(&a, "keep_first=12", 13, err,
                                            sizeof(err)), 0);
    assert_int_equal(a.kind, NGSP_MASK_KEEP_FIRST);
    assert_int_equal(a.n, 12);

    assert_int_equal(ngsp_mask_action_parse(&a, "remove", 6, err,
                                            sizeof(err)), 0);
    assert_int_equal(a.kind, NGSP_MASK_REMOVE);
}


static void
add(ngsp_mask_profile_t *p, const char *sel, const char *spec, int ok)
{
    char                 err[256];
    ngsp_mask_action_t   a;

    assert_int_equal(ngsp_mask_action_parse(&a, spec, strlen(spec), err,
                                            sizeof(err)), 0);
    assert_int_equal(ngsp_mask_profile_add(p, sel, strlen(sel), &a, err,
                                           sizeof(err)), ok ? 0 : -1);
}


static ngsp_mask_name_t
id(ngsp_mask_profile_t *p, const char *name)
{
    return ngsp_mask_profile_name(p, (const unsigned char *) name,
                                  strlen(name));
}


static void
test_profile_selectors(void **state)
{
    ngsp_mask_profile_t       *p;
    const ngsp_mask_action_t  *r;
    char                       name[32];
    int                        i;

    p = ngsp_mask_profile_new();

    add(p, "SoDinhDanh", "keep_last=4", 1);
    add(p, "Cha.SoDinhDanh", "hash", 1);
    add(p, "Me.SoDinhDanh", "replace=me", 1);
    add(p, "DanToc", "remove", 1);
    add(p, "CongdanCollection.@SoCongDan", "redact", 1);

    /* bad selectors, duplicates */
    add(p, "", "pass", 0);
    add(p, ".", "pass", 0);
    add(p, "a.", "pass", 0);
    add(p, ".b", "pass", 0);
    add(p, "a.b.c", "pass", 0);
    add(p, "@", "pass", 0);
    add(p, "a@b", "pass", 0);
    add(p, "@a.b", "pass", 0);
    add(p, "SoDinhDanh", "redact", 0);
    add(p, "Cha.SoDinhDanh", "redact", 0);

    assert_true(ngsp_mask_profile_uses_hash(p));
    assert_int_equal(ngsp_mask_profile_default(p), NGSP_MASK_PASS);
    assert_int_equal(ngsp_mask_profile_max_name(p),
                     strlen("CongdanCollection"));

    assert_int_equal(id(p, "NoSuchKey"), 0);
    assert_int_equal(id(p, ""), 0);
    assert_int_equal(id(p, "SoDinhDanhX"), 0);
    assert_int_equal(id(p, "sodinhdanh"), 0);      /* case matters */
    assert_true(id(p, "Cha") != 0);
    assert_true(id(p, "@SoCongDan") != 0);

    /* Name anywhere */
    r = ngsp_mask_profile_rule(p, 0, id(p, "SoDinhDanh"));
    assert_non_null(r);
    assert_int_equal(r->kind, NGSP_MASK_KEEP_LAST);
    r = ngsp_mask_profile_rule(p, id(p, "ChuHo"), id(p, "SoDinhDanh"));
    assert_int_equal(r->kind, NGSP_MASK_KEEP_LAST);

    /* Parent.Name wins */
    r = ngsp_mask_profile_rule(p, id(p, "Cha"), id(p, "SoDinhDanh"));
    assert_int_equal(r->kind, NGSP_MASK_HASH);
    r = ngsp_mask_profile_rule(p, id(p, "Me"), id(p, "SoDinhDanh"));
    assert_int_equal(r->kind, NGSP_MASK_REPLACE);
    assert_string_equal(r->text, "me");

    /* an attribute only under its parent */
    assert_null(ngsp_mask_profile_rule(p, 0, id(p, "@SoCongDan")));
    r = ngsp_mask_profile_rule(p, id(p, "CongdanCollection"),
                               id(p, "@SoCongDan"));
    assert_int_equal(r->kind, NGSP_MASK_REDACT);

    /* names no rule uses itself */
    assert_null(ngsp_mask_profile_rule(p, 0, id(p, "Cha")));
    assert_null(ngsp_mask_profile_rule(p, 0, 0));

    /* many names: the table grows */
    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "Field%d", i);
        add(p, name, "redact", 1);
    }

    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "Field%d", i);
        r = ngsp_mask_profile_rule(p, 0, id(p, name));
        assert_non_null(r);
        assert_int_equal(r->kind, NGSP_MASK_REDACT);
    }

    r = ngsp_mask_profile_rule(p, id(p, "Cha"), id(p, "SoDinhDanh"));
    assert_int_equal(r->kind, NGSP_MASK_HASH);

    ngsp_mask_profile_set_default(p, NGSP_MASK_REMOVE);
    assert_int_equal(ngsp_mask_profile_default(p), NGSP_MASK_REMOVE);

    ngsp_mask_profile_free(p);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep),
        cmocka_unit_test(test_initials),
        cmocka_unit_test(test_word_steps),
        cmocka_unit_test(test_year),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_replace_redact),
        cmocka_unit_test(test_invalid_utf8_in),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_profile_selectors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
