/* cmocka tests of the audit URI engine: identifiers pseudonymised. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audit_util.h"


static const char  key_text[] = "0123456789abcdef0123456789abcdef-audit";

static ngsp_mask_key_t       *key;
static audit_arena_t          arena;
static regex_t                res[4];
static ngsp_audit_pattern_t   pats[4];
static size_t                 npats;
static ngsp_audit_str_t       names[4];
static size_t                 nnames;
static char                   out[1 << 20];


/* HMAC-SHA256 in hex by OpenSSL's HMAC(), independent of the engine */
static const char *
hmac_hex(const char *value, size_t len)
{
    static char     hex[65];
    unsigned int    n, i;
    unsigned char   md[EVP_MAX_MD_SIZE];

    HMAC(EVP_sha256(), key_text, sizeof(key_text) - 1,
         (const unsigned char *) value, len, md, &n);

    for (i = 0; i < n; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }

    return hex;
}


static int
setup(void **state)
{
    key = ngsp_mask_key_new((const unsigned char *) key_text,
                            sizeof(key_text) - 1);
    return key == NULL;
}


static int
teardown(void **state)
{
    ngsp_mask_key_free(key);
    return 0;
}


static void
rules_reset(void)
{
    size_t  i;

    for (i = 0; i < npats; i++) {
        regfree(&res[i]);
    }

    npats = 0;
    nnames = 0;
}


static void
add_pattern(const char *expr)
{
    assert_int_equal(audit_pattern(&pats[npats], &res[npats], expr), 0);
    npats++;
}


static void
add_name(const char *name)
{
    names[nnames].data = (const unsigned char *) name;
    names[nnames].len = strlen(name);
    nnames++;
}


static const char *
run_len(const char *uri, size_t len, ngsp_audit_result_t *r)
{
    ngsp_audit_rules_t   rules;
    ngsp_audit_result_t  local;

    if (r == NULL) {
        r = &local;
    }

    rules.patterns = pats;
    rules.npatterns = npats;
    rules.args = names;
    rules.nargs = nnames;
    rules.key = key;

    assert_int_equal(ngsp_audit_uri(&rules, (const unsigned char *) uri, len,
                                    audit_alloc, &arena, r), 0);
    assert_true(r->len < sizeof(out));
    memcpy(out, r->data, r->len);
    out[r->len] = '\0';

    return out;
}


static const char *
run(const char *uri)
{
    return run_len(uri, strlen(uri), NULL);
}


/* formatted text; two calls in one assertion get two buffers */
static char *
expect(const char *fmt, ...)
{
    static char  buf[2][4096];
    static int   k;
    va_list      ap;

    k ^= 1;

    va_start(ap, fmt);
    vsnprintf(buf[k], sizeof(buf[k]), fmt, ap);
    va_end(ap);

    return buf[k];
}


static void
test_same_digest_as_mask_hash(void **state)
{
    char                 err[64], h[64];
    size_t               n;
    ngsp_mask_action_t   a;

    rules_reset();
    add_pattern("^/congdan/([0-9]{12})");

    assert_int_equal(ngsp_mask_action_parse(&a, "hash", 4, err, sizeof(err)),
                     0);
    n = ngsp_mask_action_apply(&a, key, (const unsigned char *) "001099012345",
                               12, (unsigned char *) h);
    assert_int_equal(n, NGSP_AUDIT_HASH_LEN);

    assert_string_equal(run("/congdan/001099012345"),
                        expect("/congdan/%.64s", h));
    assert_memory_equal(h, hmac_hex("001099012345", 12), 64);
    audit_arena_free(&arena);
}


static void
test_path_capture(void **state)
{
    const char  *h = hmac_hex("001099012345", 12);

    rules_reset();
    add_pattern("^/congdan/([0-9]{12})");

    assert_string_equal(run("/congdan/001099012345/hokhau?x=1"),
                        expect("/congdan/%s/hokhau?x=1", h));
    /* no match: as it is */
    assert_string_equal(run("/other/001099012345"), "/other/001099012345");
    assert_string_equal(run("/congdan/12345"), "/congdan/12345");
    /* the query is not the path */
    assert_string_equal(run("/x?/congdan/001099012345"),
                        "/x?/congdan/001099012345");
    assert_string_equal(run(""), "");
    audit_arena_free(&arena);
}


static void
test_path_percent_encoded(void **state)
{
    char  h[65];

    rules_reset();
    add_pattern("^/congdan/([0-9]{12})");
    strcpy(h, hmac_hex("001099012345", 12));

    /* the encoded number matches and gives the same pseudonym */
    assert_string_equal(run("/congdan/%30%30%31099012345"),
                        expect("/congdan/%s", h));
    assert_string_equal(run("/%63ongdan/0010990123%34%35/a%20b"),
                        expect("/%%63ongdan/%s/a%%20b", h));
    /* a bad escape stays as it is, and stops the match here */
    assert_string_equal(run("/congdan/%3x01099012345"),
                        "/congdan/%3x01099012345");
    assert_string_equal(run("/congdan/00109901234%"),
                        "/congdan/00109901234%");
    audit_arena_free(&arena);
}


static void
test_several_patterns_and_groups(void **state)
{
    char  a[65], b[65], ab[65];

    rules_reset();
    add_pattern("^/congdan/([0-9]{12})");
    add_pattern("/hokhau/([A-Z]+)-([0-9]+)");
    add_pattern("/giayto/(([0-9]{3})[0-9]+)");    /* nested groups */
    add_pattern("/opt/(x)?y");                    /* a group left out */

    strcpy(a, hmac_hex("001099012345", 12));
    strcpy(b, hmac_hex("HK", 2));
    strcpy(ab, hmac_hex("123456", 6));

    assert_string_equal(run("/congdan/001099012345/hokhau/HK-77"),
                        expect("/congdan/%s/hokhau/%s-%s", a, b,
                               hmac_hex("77", 2)));
    /* overlapping captures are one value */
    assert_string_equal(run("/giayto/123456"), expect("/giayto/%s", ab));
    assert_string_equal(run("/opt/y"), "/opt/y");
    audit_arena_free(&arena);
}


static void
test_args(void **state)
{
    char  h[65];

    rules_reset();
    add_name("soDinhDanh");
    add_name("cccd");
    strcpy(h, hmac_hex("001099012345", 12));

    assert_string_equal(run("/tra-cuu?soDinhDanh=001099012345&loai=1"),
                        expect("/tra-cuu?soDinhDanh=%s&loai=1", h));
    /* names without regard to case, like nginx's $arg_ */
    assert_string_equal(run("/t?SODINHDANH=001099012345"),
                        expect("/t?SODINHDANH=%s", h));
    /* every occurrence */
    assert_string_equal(run("/t?cccd=001099012345&x=1&cccd=001099012345"),
                        expect("/t?cccd=%s&x=1&cccd=%s", h, h));
    /* encoded names and values */
    assert_string_equal(run("/t?so%44inh%64anh=%30%301099012345"),
                        expect("/t?so%%44inh%%64anh=%s", h));
    /* '+' is a space, in values and names */
    assert_string_equal(run("/t?cccd=001+099"),
                        expect("/t?cccd=%s", hmac_hex("001 099", 7)));
    assert_string_equal(run("/t?cc+cd=1"), "/t?cc+cd=1");
    /* no value, an empty value, no argument, other arguments */
    assert_string_equal(run("/t?cccd"), "/t?cccd");
    assert_string_equal(run("/t?cccd=&x"), "/t?cccd=&x");
    assert_string_equal(run("/t?"), "/t?");
    assert_string_equal(run("/t?&&cccd=1&&"),
                        expect("/t?&&cccd=%s&&", hmac_hex("1", 1)));
    assert_string_equal(run("/t?cccdx=1&xcccd=2"), "/t?cccdx=1&xcccd=2");
    /* a value holding '=' is taken whole */
    assert_string_equal(run("/t?cccd=a=b"),
                        expect("/t?cccd=%s", hmac_hex("a=b", 3)));
    audit_arena_free(&arena);
}


static void
test_path_and_args(void **state)
{
    char  h[65];

    rules_reset();
    add_pattern("^/congdan/([0-9]+)");
    add_name("cccd");
    strcpy(h, hmac_hex("001099012345", 12));

    assert_string_equal(run("/congdan/001099012345?cccd=001099012345"),
                        expect("/congdan/%s?cccd=%s", h, h));
    audit_arena_free(&arena);
}


static void
test_without_key(void **state)
{
    ngsp_audit_rules_t   rules;
    ngsp_audit_result_t  r;

    rules_reset();
    add_name("cccd");

    rules.patterns = NULL;
    rules.npatterns = 0;
    rules.args = names;
    rules.nargs = nnames;
    rules.key = NULL;

    assert_int_equal(ngsp_audit_uri(&rules,
                                    (const unsigned char *) "/t?cccd=1234",
                                    12, audit_alloc, &arena, &r), 0);
    assert_int_equal(r.len, 11);
    assert_memory_equal(r.data, "/t?cccd=***", 11);
    audit_arena_free(&arena);
}


static void
test_long_uri(void **state)
{
    size_t               i, n;
    char                *uri, *exp, *p, *q;
    ngsp_audit_result_t  r;

    rules_reset();
    add_name("c");

    /* "/l?c=1&c=1&...": every value grows 64 times */
    n = 10000;
    uri = malloc(3 + 4 * n);
    exp = malloc(3 + 67 * n);
    assert_non_null(uri);
    assert_non_null(exp);

    strcpy(uri, "/l?");
    strcpy(exp, "/l?");
    q = uri + 3;
    p = exp + 3;

    for (i = 0; i < n; i++) {
        q += sprintf(q, "%sc=1", i ? "&" : "");
        p += sprintf(p, "%sc=%s", i ? "&" : "", hmac_hex("1", 1));
    }

    run_len(uri, strlen(uri), &r);
    assert_int_equal(r.nids, n);
    assert_int_equal(r.len, strlen(exp));
    assert_memory_equal(r.data, exp, r.len);

    free(uri);
    free(exp);
    audit_arena_free(&arena);
}


static void
test_scrub(void **state)
{
    char                 h[65], k[65];
    size_t               n;
    unsigned char       *s;
    ngsp_audit_result_t  r;
    const char          *up;

    rules_reset();
    add_pattern("^/congdan/([0-9]{12})");
    add_name("cccd");
    strcpy(h, hmac_hex("001099012345", 12));
    strcpy(k, hmac_hex("0010", 4));

    run("/congdan/%30%301099012345?cccd=0010");
    assert_string_equal(out, expect("/congdan/%s?cccd=%s", h, k));

    r.data = NULL;
    run_len("/congdan/%30%301099012345?cccd=0010",
            strlen("/congdan/%30%301099012345?cccd=0010"), &r);
    assert_int_equal(r.nids, 2);

    /* the URI sent upstream, decoded or raw, under another prefix */
    up = "/api/v1/001099012345?x=%30%301099012345&cccd=0010&y=0010";
    assert_int_equal(ngsp_audit_scrub(r.ids, r.nids,
                                      (const unsigned char *) up, strlen(up),
                                      audit_alloc, &arena, &s, &n), 0);
    /* the longest value wins where a shorter one also starts */
    assert_string_equal(expect("%.*s", (int) n, s),
                        expect("/api/v1/%s?x=%s&cccd=%s&y=%s", h, h, k, k));

    assert_int_equal(ngsp_audit_scrub(r.ids, r.nids,
                                      (const unsigned char *) "", 0,
                                      audit_alloc, &arena, &s, &n), 0);
    assert_int_equal(n, 0);

    /* a short value never cuts into a pseudonym already there */
    rules_reset();
    add_name("c");
    run_len("/p?c=1", 6, &r);
    assert_int_equal(ngsp_audit_scrub(r.ids, r.nids, r.data, r.len,
                                      audit_alloc, &arena, &s, &n), 0);
    strcpy(k, hmac_hex("1", 1));
    assert_string_equal(expect("%.*s", (int) n, s),
                        expect("/p?c=%s", k));
    assert_int_equal(ngsp_audit_scrub(r.ids, r.nids,
                                      (const unsigned char *) "/1/x1", 5,
                                      audit_alloc, &arena, &s, &n), 0);
    assert_string_equal(expect("%.*s", (int) n, s),
                        expect("/%s/x%s", k, k));
    audit_arena_free(&arena);
}


static void
test_decode(void **state)
{
    size_t          n, map[16];
    unsigned char   o[16];

    n = ngsp_audit_decode((const unsigned char *) "a%41+%2", 7, 1, o, map);
    assert_int_equal(n, 5);
    assert_memory_equal(o, "aA %2", 5);
    assert_int_equal(map[0], 0);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[2], 4);
    assert_int_equal(map[3], 5);
    assert_int_equal(map[5], 7);

    n = ngsp_audit_decode((const unsigned char *) "a+%00", 5, 0, o, NULL);
    assert_int_equal(n, 3);
    assert_memory_equal(o, "a+\0", 3);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_digest_as_mask_hash),
        cmocka_unit_test(test_path_capture),
        cmocka_unit_test(test_path_percent_encoded),
        cmocka_unit_test(test_several_patterns_and_groups),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_path_and_args),
        cmocka_unit_test(test_without_key),
        cmocka_unit_test(test_long_uri),
        cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_decode),
    };

    int rc = cmocka_run_group_tests(tests, setup, teardown);

    rules_reset();

    return rc;
}
