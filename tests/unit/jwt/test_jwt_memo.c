/* cmocka tests of the per-worker memo of verified tokens. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ngsp_jwt_memo.h"


static void
fill(ngsp_jwt_t *jwt, const char *sub)
{
    memset(jwt, 0, sizeof(*jwt));
    jwt->header = json_pack("{ss}", "alg", "HS256");
    jwt->claims = json_pack("{ss}", "sub", sub);
    jwt->alg = NGSP_ALG_HS256;
}


static void
test_memo_hit_miss_expiry(void **state)
{
    ngsp_jwt_t        jwt, got;
    ngsp_jwt_memo_t  *memo;
    const char       *a = "aaaa.bbbb.cccc", *b = "aaaa.bbbb.cccd";

    memo = ngsp_jwt_memo_new(8);
    assert_non_null(memo);

    assert_int_equal(ngsp_jwt_memo_get(memo, a, strlen(a), 100, &got), 0);

    fill(&jwt, "one");
    ngsp_jwt_memo_put(memo, a, strlen(a), &jwt, 200);
    ngsp_jwt_free(&jwt);        /* the memo holds its own references */

    assert_int_equal(ngsp_jwt_memo_get(memo, a, strlen(a), 199, &got), 1);
    assert_string_equal(json_string_value(json_object_get(got.claims, "sub")),
                        "one");
    assert_int_equal(got.alg, NGSP_ALG_HS256);
    ngsp_jwt_free(&got);

    /* one byte off, or a prefix: a miss, never the other token's claims */
    assert_int_equal(ngsp_jwt_memo_get(memo, b, strlen(b), 150, &got), 0);
    assert_int_equal(ngsp_jwt_memo_get(memo, a, strlen(a) - 1, 150, &got), 0);

    /* not at or after its expiry */
    assert_int_equal(ngsp_jwt_memo_get(memo, a, strlen(a), 200, &got), 0);
    assert_int_equal(ngsp_jwt_memo_get(memo, a, strlen(a), 150, &got), 0);

    ngsp_jwt_memo_free(memo);
}


static void
test_memo_many_tokens(void **state)
{
    int               i, hits;
    char              tok[32];
    ngsp_jwt_t        jwt, got;
    ngsp_jwt_memo_t  *memo;

    memo = ngsp_jwt_memo_new(16);

    for (i = 0; i < 100; i++) {
        snprintf(tok, sizeof(tok), "h.p.sig%03d", i);
        fill(&jwt, tok);
        ngsp_jwt_memo_put(memo, tok, strlen(tok), &jwt, 1000);
        ngsp_jwt_free(&jwt);
    }

    /* slots are shared: whatever is found must be the right token's */
    hits = 0;
    for (i = 0; i < 100; i++) {
        snprintf(tok, sizeof(tok), "h.p.sig%03d", i);
        if (ngsp_jwt_memo_get(memo, tok, strlen(tok), 1, &got)) {
            assert_string_equal(
                json_string_value(json_object_get(got.claims, "sub")), tok);
            ngsp_jwt_free(&got);
            hits++;
        }
    }

    assert_true(hits > 0 && hits <= 16);
    ngsp_jwt_memo_free(memo);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memo_hit_miss_expiry),
        cmocka_unit_test(test_memo_many_tokens),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
