/*
 * cmocka tests of the streaming JSON rewriter: rules and selectors through
 * real documents, commas around removed members, allow-list mode, limits,
 * malformed and truncated input (nothing masked leaks), and split
 * invariance over the fixtures (tests/fixtures) and the demo
 * record: every cut point, one byte at a time, random cuts.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "mask_util.h"


#define BASIC  "SoDinhDanh keep_last=4; HoVaTen initials; " \
               "NgayThangNamSinh year; SoDienThoai keep_last=3; " \
               "Email email; DanToc remove; TonGiao remove; " \
               "Cha.SoDinhDanh hash; SoCMND redact;"

#define ALLOW  BASIC " default remove; MaYeuCau pass; QuocTich pass;"


static ngsp_mask_key_t  *key;

static const char  *fixtures[] = {
    "citizen.json", "citizens.json", NULL
};


static int
setup(void **state)
{
    key = ngsp_mask_key_new((const unsigned char *) "unit-test-key", 13);
    return key ? 0 : -1;
}


static int
teardown(void **state)
{
    ngsp_mask_key_free(key);
    return 0;
}


/* masks text with spec; asserts the status; returns the output */
static char *
run(const char *spec, const char *in, ngsp_mask_status_t want)
{
    char                 *out;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *p;

    p = mask_profile(spec);
    out = mask_run(p, key, in, &st);
    ngsp_mask_profile_free(p);

    if (st != want) {
        fail_msg("status %s, wanted %s, for %s", ngsp_mask_status_text(st),
                 ngsp_mask_status_text(want), in);
    }

    return out;
}


static void
expect(const char *spec, const char *in, const char *want)
{
    char  *out;

    out = run(spec, in, NGSP_MASK_OK);
    if (strcmp(out, want) != 0) {
        fail_msg("in:   %s\nout:  %s\nwant: %s", in, out, want);
    }
    free(out);
}


static void
test_actions_in_document(void **state)
{
    expect(BASIC, "{\"SoDinhDanh\":\"001099012345\"}",
           "{\"SoDinhDanh\":\"********2345\"}");
    expect(BASIC, "{\"HoVaTen\": \"Nguyễn Văn An\", \"x\": 1}",
           "{\"HoVaTen\": \"N. V. A.\", \"x\": 1}");
    expect(BASIC, "{\"NgayThangNamSinh\":\"17/05/1990\"}",
           "{\"NgayThangNamSinh\":\"1990\"}");
    expect(BASIC, "{\"Email\":\"an.nguyen@example.vn\"}",
           "{\"Email\":\"a***@example.vn\"}");
    expect(BASIC, "{\"SoCMND\":\"012345678\"}", "{\"SoCMND\":\"***\"}");
    expect("X replace=ẩn \"danh\";", "{\"X\":\"v\"}",
           "{\"X\":\"ẩn \\\"danh\\\"\"}");
}


static void
test_selectors(void **state)
{
    char  *out;

    /* Name at any depth, Parent.Name more specific */
    out = run(BASIC, "{\"a\":{\"b\":{\"SoDinhDanh\":\"001099012345\"}},"
              "\"Cha\":{\"SoDinhDanh\":\"001065001122\"},"
              "\"Me\":{\"SoDinhDanh\":\"001168003344\"}}", NGSP_MASK_OK);
    assert_non_null(strstr(out, "{\"b\":{\"SoDinhDanh\":\"********2345\"}}"));
    assert_non_null(strstr(out, "\"Me\":{\"SoDinhDanh\":\"********3344\"}"));
    assert_null(strstr(out, "001065001122"));
    assert_non_null(strstr(out, "\"Cha\":{\"SoDinhDanh\":\""));
    free(out);

    /* array levels do not count */
    out = run("Cha.SoDinhDanh replace=H;",
              "{\"Cha\":[[{\"SoDinhDanh\":\"1\"}],{\"SoDinhDanh\":\"2\"}],"
              "\"SoDinhDanh\":\"3\"}", NGSP_MASK_OK);
    assert_string_equal(out, "{\"Cha\":[[{\"SoDinhDanh\":\"H\"}],"
                        "{\"SoDinhDanh\":\"H\"}],\"SoDinhDanh\":\"3\"}");
    free(out);

    /* only the enclosing key is the parent */
    expect("Cha.SoDinhDanh replace=H;",
           "{\"Cha\":{\"x\":{\"SoDinhDanh\":\"1\"}}}",
           "{\"Cha\":{\"x\":{\"SoDinhDanh\":\"1\"}}}");

    /* keys compared after decoding escapes */
    expect(BASIC, "{\"So\\u0044inhDanh\":\"001099012345\"}",
           "{\"So\\u0044inhDanh\":\"********2345\"}");
    expect("HoVaT\xc3\xaan redact;", "{\"HoVaT\\u00ean\":\"x\"}",
           "{\"HoVaT\\u00ean\":\"***\"}");
    expect(BASIC, "{\"Dan\\u0054oc\":\"01\",\"a\":1}", "{\"a\":1}");

    /* duplicates are all masked */
    expect(BASIC, "{\"SoDinhDanh\":\"111122223333\",\"SoDinhDanh\":"
           "\"444455556666\"}", "{\"SoDinhDanh\":\"********3333\","
           "\"SoDinhDanh\":\"********6666\"}");
}


static void
test_scalars_and_containers(void **state)
{
    /* numbers and booleans under string actions become strings */
    expect(BASIC, "{\"SoDinhDanh\": 1099012345}",
           "{\"SoDinhDanh\": \"******2345\"}");
    expect(BASIC, "{\"SoDinhDanh\":-1.5e+10,\"SoCMND\":12}",
           "{\"SoDinhDanh\":\"****e+10\",\"SoCMND\":\"***\"}");
    expect(BASIC, "{\"SoDinhDanh\":true}", "{\"SoDinhDanh\":\"true\"}");
    expect(BASIC, "{\"SoDinhDanh\":\"\",\"Email\":\"\"}",
           "{\"SoDinhDanh\":\"\",\"Email\":\"***\"}");
    expect(BASIC, "{\"SoDinhDanh\":null,\"SoCMND\":null}",
           "{\"SoDinhDanh\":null,\"SoCMND\":\"***\"}");

    /* remove and redact take containers whole */
    expect(BASIC, "{\"DanToc\":{\"Ma\":\"01\",\"Ten\":[\"Kinh\"]},\"a\":1}",
           "{\"a\":1}");
    expect(BASIC, "{\"SoCMND\":[\"012345678\",{\"x\":1}],\"a\":1}",
           "{\"SoCMND\":\"***\",\"a\":1}");

    /* other actions reach every scalar inside */
    expect(BASIC, "{\"HoVaTen\":{\"Ho\":\"Nguyễn\",\"ChuDem\":\"Văn\","
           "\"Ten\":[\"An\",null]}}", "{\"HoVaTen\":{\"Ho\":\"N.\","
           "\"ChuDem\":\"V.\",\"Ten\":[\"A.\",null]}}");
    expect(BASIC, "{\"NgayThangNamSinh\":{\"Nam\":1990,\"NgayThangNam\":"
           "\"19900517\"}}", "{\"NgayThangNamSinh\":{\"Nam\":\"1990\","
           "\"NgayThangNam\":\"1990\"}}");

    /* a rule on the member itself wins over its container's action */
    expect("Cha redact; X keep_first=1; X.SoDinhDanh replace=h;",
           "{\"X\":{\"SoDinhDanh\":\"12\",\"Ten\":\"Bình\"}}",
           "{\"X\":{\"SoDinhDanh\":\"h\",\"Ten\":\"B***\"}}");

    /* escapes inside masked values: decoded, then re-escaped */
    expect("V keep_first=100;", "{\"V\":\"a\\\"b\\\\c\\n\\u0041\\/\"}",
           "{\"V\":\"a\\\"b\\\\c\\u000aA/\"}");
    expect("V keep_first=100;", "{\"V\":\"\\ud83d\\ude00\\ud800x\\udc00\"}",
           "{\"V\":\"\xf0\x9f\x98\x80\xef\xbf\xbdx\xef\xbf\xbd\"}");
}


static void
test_remove_commas(void **state)
{
    const char  *p = "A remove; B remove;";

    expect(p, "{\"A\":1,\"x\":2}", "{\"x\":2}");
    expect(p, "{\"x\":2,\"A\":1}", "{\"x\":2}");
    expect(p, "{\"x\":1,\"A\":1,\"y\":2}", "{\"x\":1,\"y\":2}");
    expect(p, "{\"A\":1,\"B\":2}", "{}");
    expect(p, "{\"A\":1,\"B\":2,\"x\":3}", "{\"x\":3}");
    expect(p, "{\"x\":3,\"A\":1,\"B\":2}", "{\"x\":3}");
    expect(p, "{ \"A\" : 1 , \"x\" : 2 , \"B\" : [ 1 ] }",
           "{  \"x\" : 2  }");
    expect(p, "[{\"A\":1},{\"B\":{}},{\"A\":[],\"q\":{\"B\":1}}]",
           "[{},{},{\"q\":{}}]");
}


static void
test_allow_list(void **state)
{
    char    *out;
    json_t  *doc;

    expect("default remove; Keep pass; K2 keep_last=1;",
           "{\"a\":1,\"Keep\":\"x\",\"o\":{\"b\":2,\"K2\":\"ab\",\"c\":[1,"
           "\"s\",{\"Keep\":3}]},\"z\":null}",
           "{\"Keep\":\"x\",\"o\":{\"K2\":\"*b\",\"c\":[{\"Keep\":3}]}}");

    /* a rule naming a container keeps it whole */
    expect("default remove; Addr pass;",
           "{\"Addr\":{\"Ma\":\"01\",\"x\":[1,2]},\"y\":1}",
           "{\"Addr\":{\"Ma\":\"01\",\"x\":[1,2]}}");

    /* a top-level scalar becomes null */
    expect("default remove;", "\"001099012345\"", "null");
    expect("default remove;", " 42 ", " null ");
    expect("default remove;", "[1,\"a\",true]", "[]");

    out = run(ALLOW, "{\"DanhSachCongDan\":[{\"SoDinhDanh\":\"001099012345\","
              "\"GioiTinh\":\"1\",\"QuocTich\":\"VN\",\"Cha\":{\"SoDinhDanh\":"
              "\"001065001122\",\"QuocTich\":\"VN\"}}],\"MaYeuCau\":\"m\"}",
              NGSP_MASK_OK);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(json_object_get(doc, "DanhSachCongDan"), 0),
        "SoDinhDanh")), "********2345");
    assert_null(json_object_get(
        json_array_get(json_object_get(doc, "DanhSachCongDan"), 0),
        "GioiTinh"));
    assert_string_equal(json_string_value(json_object_get(doc, "MaYeuCau")),
                        "m");
    assert_null(strstr(out, "001065001122"));
    json_decref(doc);
    free(out);
}


static void
test_limits(void **state)
{
    char                 *out, *big;
    size_t                i;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *p;
    const char           *deep = "{\"a\":[[{\"b\":[1]}]]}";

    p = mask_profile(BASIC);

    /* depth counts every container, removed ones too */
    out = mask_run_cuts(p, key, (const unsigned char *) deep, strlen(deep),
                        NULL, 0, 5, 0, &st, NULL);
    assert_int_equal(st, NGSP_MASK_OK);
    free(out);
    out = mask_run_cuts(p, key, (const unsigned char *) deep, strlen(deep),
                        NULL, 0, 4, 0, &st, NULL);
    assert_int_equal(st, NGSP_MASK_ERR_DEPTH);
    free(out);
    deep = "{\"DanToc\":[[[[[1]]]]]}";
    out = mask_run_cuts(p, key, (const unsigned char *) deep, strlen(deep),
                        NULL, 0, 4, 0, &st, NULL);
    assert_int_equal(st, NGSP_MASK_ERR_DEPTH);
    free(out);

    /* a masked value over max_value fails, a passed one too */
    big = malloc(300);
    strcpy(big, "{\"SoDinhDanh\":\"");
    for (i = strlen(big); i < 280; i++) {
        big[i] = '7';
    }
    strcpy(big + i, "\"}");

    out = mask_run_cuts(p, key, (const unsigned char *) big, strlen(big),
                        NULL, 0, 0, 100, &st, NULL);
    assert_int_equal(st, NGSP_MASK_ERR_VALUE);
    assert_null(strstr(out, "7777"));
    free(out);

    memcpy(big + 2, "Other", 5);    /* {"OtherinhDanh": ... } passes */
    out = mask_run_cuts(p, key, (const unsigned char *) big, strlen(big),
                        NULL, 0, 0, 100, &st, NULL);
    assert_int_equal(st, NGSP_MASK_ERR_VALUE);
    assert_null(strstr(out, "7777"));
    free(out);
    out = mask_run_cuts(p, key, (const unsigned char *) big, strlen(big),
                        NULL, 0, 0, 300, &st, NULL);
    assert_int_equal(st, NGSP_MASK_OK);
    assert_string_equal(out, big);
    free(out);

    free(big);
    ngsp_mask_profile_free(p);
}


/*
 * pre + n times unit + post, the value part (n units) ending in the
 * marker "Z" when tail is set (so a leak of its end shows)
 */
static char *
doc_of(const char *pre, const char *unit, size_t n, int tail,
    const char *post)
{
    char    *d, *w;
    size_t   i;

    d = malloc(strlen(pre) + n * strlen(unit) + strlen(post) + 2);
    w = stpcpy(d, pre);
    for (i = 0; i < n; i++) {
        w = stpcpy(w, unit);
    }
    if (tail) {
        w = stpcpy(w, "Z");
    }
    strcpy(w, post);

    return d;
}


/*
 * doc under spec with max_value 100: status want in one feed, at every
 * single cut point and byte by byte (the count crosses feeds); when
 * rejected, the marker "Z" never comes out; when accepted, the output is
 * the same for every cut.
 */
static void
check_limit(const char *spec, const char *doc, ngsp_mask_status_t want)
{
    char                 *whole, *out;
    size_t                i, len, *cuts;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *p;

    p = mask_profile(spec);
    len = strlen(doc);

    whole = mask_run_cuts(p, key, (const unsigned char *) doc, len, NULL, 0,
                          0, 100, &st, NULL);
    if (st != want) {
        fail_msg("status %s, wanted %s, for %s", ngsp_mask_status_text(st),
                 ngsp_mask_status_text(want), doc);
    }
    assert_null(strchr(whole, 'Z'));

    cuts = malloc((len + 1) * sizeof(size_t));

    for (i = 0; i <= len; i++) {
        cuts[i] = i;
        out = mask_run_cuts(p, key, (const unsigned char *) doc, len,
                            &cuts[i], 1, 0, 100, &st, NULL);
        assert_int_equal(st, want);
        assert_null(strchr(out, 'Z'));
        if (want == NGSP_MASK_OK) {
            assert_string_equal(out, whole);
        }
        free(out);
    }

    out = mask_run_cuts(p, key, (const unsigned char *) doc, len, cuts + 1,
                        len - 1, 0, 100, &st, NULL);
    assert_int_equal(st, want);
    assert_null(strchr(out, 'Z'));
    if (want == NGSP_MASK_OK) {
        assert_string_equal(out, whole);
    }
    free(out);

    free(cuts);
    free(whole);
    ngsp_mask_profile_free(p);
}


/* every key and scalar is bounded by max_value, passed ones included */
typedef struct {
    const char          *head;
    const char          *unit;      /* repeated n times, then extra "a"s */
    size_t               n;
    int                  extra;
    const char          *tail;
    ngsp_mask_status_t   status;
} limit_case_t;


static void
check_limit_cases(const char *spec, const limit_case_t *c, size_t n)
{
    size_t   i;
    char    *d;

    for (i = 0; i < n; i++) {
        d = doc_of(c[i].head, c[i].unit, c[i].n, c[i].extra, c[i].tail);
        check_limit(spec, d, c[i].status);
        free(d);
    }
}


static void
test_value_limit(void **state)
{
    size_t        i;
    const char   *spec[] = {
        BASIC,                               /* no rule names "x" */
        "x pass;",
        "default remove; x pass;",           /* allow-list, named */
        "default remove;",                   /* allow-list, removed */
        NULL
    };
    const limit_case_t  member[] = {
        /* a string: 100 bytes pass whole, 101 are refused */
        { "{\"a\":1,\"x\":\"", "a", 100, 0, "\",\"b\":2}", NGSP_MASK_OK },
        { "{\"a\":1,\"x\":\"", "a", 100, 1, "\",\"b\":2}",
          NGSP_MASK_ERR_VALUE },
        /* decoded bytes: each \u00e9 is two (300 written, 100 decoded) */
        { "[{\"x\":\"", "\\u00e9", 50, 0, "\"}]", NGSP_MASK_OK },
        { "[{\"x\":\"", "\\u00e9", 50, 1, "\"}]", NGSP_MASK_ERR_VALUE },
        /* a number */
        { "{\"x\":", "9", 100, 0, ",\"b\":2}", NGSP_MASK_OK },
        { "{\"x\":", "9", 101, 0, ",\"b\":2}", NGSP_MASK_ERR_VALUE },
        { "{\"x\":[-0.", "1", 97, 0, "]}", NGSP_MASK_OK },
        { "{\"x\":[-0.", "1", 98, 0, "]}", NGSP_MASK_ERR_VALUE },
        /* a key, whatever its value */
        { "{\"a\":1,\"", "k", 100, 0, "\":2}", NGSP_MASK_OK },
        { "{\"a\":1,\"", "k", 100, 1, "\":2}", NGSP_MASK_ERR_VALUE },
    };
    /* at top level: a string, and a number that ends with the input */
    const limit_case_t  top[] = {
        { "\"", "a", 100, 0, "\"", NGSP_MASK_OK },
        { "\"", "a", 100, 1, "\"", NGSP_MASK_ERR_VALUE },
        { "", "5", 100, 0, "", NGSP_MASK_OK },
        { "", "5", 101, 0, "", NGSP_MASK_ERR_VALUE },
    };
    /* inside a removed container too */
    const limit_case_t  removed[] = {
        { "{\"DanToc\":[\"", "a", 100, 1, "\"],\"b\":2}",
          NGSP_MASK_ERR_VALUE },
    };

    for (i = 0; spec[i]; i++) {
        check_limit_cases(spec[i], member,
                          sizeof(member) / sizeof(member[0]));
    }

    check_limit_cases("", top, sizeof(top) / sizeof(top[0]));
    check_limit_cases(BASIC, removed, 1);
}


/* a marker under masked keys must never come out, whatever the input */
#define MARK  "987654321098"

static void
test_malformed(void **state)
{
    int                   i;
    char                 *out;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *p;
    const char           *bad[] = {
        " ", "{", "[", "{\"SoDinhDanh\"", "{\"SoDinhDanh\":",
        "{\"SoDinhDanh\":\"" MARK, "{\"SoDinhDanh\":\"" MARK "\"",
        "{\"SoDinhDanh\":\"" MARK "\",", "{\"SoDinhDanh\":" MARK,
        "{\"SoDinhDanh\":\"" MARK "\"}}", "{\"SoDinhDanh\":\"" MARK "\"]",
        "{\"SoDinhDanh\" \"" MARK "\"}", "{\"SoDinhDanh\":'" MARK "'}",
        "{\"SoDinhDanh\":\"" MARK "\" \"x\"}", "{SoDinhDanh:\"" MARK "\"}",
        "{\"SoDinhDanh\":\"" MARK "\",}",
        "{\"SoDinhDanh\":[\"" MARK "\",]}",
        "{\"SoDinhDanh\":\"12\x01" MARK "\"}",
        "{\"SoDinhDanh\":\"12\\x" MARK "\"}",
        "{\"SoDinhDanh\":\"12\\u12G4" MARK "\"}",
        "{\"SoDinhDanh\":01" MARK "}", "{\"SoDinhDanh\":1." MARK "x}",
        "{\"SoDinhDanh\":tru" MARK "}", "{\"SoDinhDanh\":nul}",
        "{\"a\":1}{\"SoDinhDanh\":\"" MARK "\"}",
        "{\"a\":1} x", "{\"DanToc\":\"" MARK "\"", "{\"DanToc\":[\"" MARK,
        "{\"HoVaTen\":{\"Ho\":\"" MARK, "{\"SoDinhDanh\":-}",
        "{\"SoDinhDanh\":1e}", "[1,2", "{\"a\":[1,2}", "{\"a\" 1}",
        "{\"a\":1 \"b\":2}", "[1 2]", "{,}", "[,1]", "{\"a\":}",
        "\"\\ud800", "{\"SoCMND\":{\"x\":\"" MARK "\"", NULL
    };

    p = mask_profile(BASIC " Ho keep_first=0;");

    for (i = 0; bad[i]; i++) {
        out = mask_run_cuts(p, key, (const unsigned char *) bad[i],
                            strlen(bad[i]), NULL, 0, 0, 0, &st, NULL);
        if (st == NGSP_MASK_OK) {
            fail_msg("accepted: %s", bad[i]);
        }
        if (strstr(out, MARK) || strstr(out, "98765")) {
            fail_msg("leaked from %s: %s", bad[i], out);
        }
        free(out);

        /* byte by byte too */
        out = mask_run_every(p, key, (const unsigned char *) bad[i],
                             strlen(bad[i]), 1, &st);
        assert_int_not_equal(st, NGSP_MASK_OK);
        if (strstr(out, "98765")) {
            fail_msg("leaked from %s byte by byte: %s", bad[i], out);
        }
        free(out);
    }

    ngsp_mask_profile_free(p);
}


/* no prefix of a document leaks what the full one masks */
static void
test_truncated_prefixes(void **state)
{
    int                   f;
    char                 *out;
    size_t                len, n;
    unsigned char        *data;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *p;
    const char           *secrets[] = {
        "0010990", "0010650", "0011680", "0011920", "0792030", "0520700",
        "0521720", "012345678", "Nguyễn Văn", "an.nguyen", "1990-05",
        "Phạm Thị", "han.pham", "0912345", "0987000", NULL
    };
    int                   i;

    p = mask_profile(BASIC);

    for (f = 0; fixtures[f]; f++) {
        data = mask_fixture(fixtures[f], &len);
        assert_non_null(data);

        for (n = 0; n < len; n++) {
            out = mask_run_cuts(p, key, data, n, NULL, 0, 0, 0, &st, NULL);
            if (st == NGSP_MASK_OK) {
                /*
                 * only the complete document, maybe less trailing blanks,
                 * or the empty body, which holds no data
                 */
                assert_true(n > len - 3 || (n == 0 && *out == '\0'));
            }
            for (i = 0; secrets[i]; i++) {
                if (strstr(out, secrets[i])) {
                    fail_msg("%s cut at %zu leaks \"%s\"", fixtures[f], n,
                             secrets[i]);
                }
            }
            free(out);
        }

        free(data);
    }

    ngsp_mask_profile_free(p);
}


static int
utf8_ok(const char *s)
{
    json_t  *j;

    /* jansson checks UTF-8 on strings; wrap the text as one */
    j = json_string(s);
    if (j == NULL) {
        return 0;
    }
    json_decref(j);
    return 1;
}


static void
check_splits(const char *spec, const char *name)
{
    char                 *whole, *out;
    size_t                len, i, k, ncuts, *cuts;
    json_t               *doc;
    unsigned char        *data;
    mask_sink_t           stats, copied;
    json_error_t          jerr;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *p;
    static const size_t   pieces[] = { 1, 2, 3, 7, 64, 1000 };

    p = mask_profile(spec);
    data = mask_fixture(name, &len);
    assert_non_null(data);

    whole = mask_run_cuts(p, key, data, len, NULL, 0, 0, 0, &st, &stats);
    assert_int_equal(st, NGSP_MASK_OK);

    doc = json_loads(whole, 0, &jerr);
    if (doc == NULL) {
        fail_msg("%s: output is not JSON (%s): %s", name, jerr.text, whole);
    }
    json_decref(doc);
    assert_true(utf8_ok(whole));

    /* unchanged spans come from the input, not copies */
    assert_true(stats.from_input > stats.len / 2);

    /* short spans staged, as for Lua: the same bytes, fewer calls */
    mask_span_copy = 64;
    out = mask_run_cuts(p, key, data, len, NULL, 0, 0, 0, &st, &copied);
    mask_span_copy = 0;
    assert_int_equal(st, NGSP_MASK_OK);
    assert_string_equal(out, whole);
    assert_true(copied.calls <= stats.calls);
    assert_true(copied.from_input <= stats.from_input);
    free(out);

    /* every single cut point */
    for (i = 0; i <= len; i++) {
        out = mask_run_cuts(p, key, data, len, &i, 1, 0, 0, &st, NULL);
        assert_int_equal(st, NGSP_MASK_OK);
        if (strcmp(out, whole) != 0) {
            fail_msg("%s cut at %zu differs:\n%s\n%s", name, i, out, whole);
        }
        free(out);
    }

    /* one byte at a time, and in 2, 3, 7, 64 byte pieces */
    for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
        out = mask_run_every(p, key, data, len, pieces[k], &st);
        assert_int_equal(st, NGSP_MASK_OK);
        assert_string_equal(out, whole);
        free(out);
    }

    /* random cuts */
    cuts = malloc((len + 1) * sizeof(size_t));
    srandom(4);

    for (k = 0; k < 300; k++) {
        ncuts = 0;
        for (i = 1; i < len; i++) {
            if (random() % 23 == 0) {
                cuts[ncuts++] = i;
            }
        }

        out = mask_run_cuts(p, key, data, len, cuts, ncuts, 0, 0, &st, NULL);
        assert_int_equal(st, NGSP_MASK_OK);
        assert_string_equal(out, whole);
        free(out);
    }

    free(cuts);
    free(whole);
    free(data);
    ngsp_mask_profile_free(p);
}


static void
test_split_invariance(void **state)
{
    int  f;

    for (f = 0; fixtures[f]; f++) {
        check_splits(BASIC, fixtures[f]);
        check_splits(ALLOW, fixtures[f]);
        check_splits("HoVaTen remove; NoiThuongTru redact; Cha remove;"
                     " Me.HoVaTen initials;", fixtures[f]);
    }

    check_splits(BASIC, "congdan.json");
    check_splits(ALLOW, "congdan.json");
}


/*
 * The document of test_fast_path_edges(): a pretty-printed object whose
 * members take the rewriter's member path (a plain member, each kind of
 * rule, a nested object, the first member of one) with s in every key or
 * value that it reads whole.
 */
static char *
edge_doc(const char *s)
{
    char    *doc;
    size_t   n;

    n = 16 * strlen(s) + 512;
    doc = malloc(n);
    assert_non_null(doc);

    snprintf(doc, n,
             "{\n"
             "  \"MaYeuCau\": \"%s\",\n"
             "  \"K%s\": \"v\",\n"
             "  \"SoDinhDanh\": \"%s\",\n"
             "  \"HoVaTen\": \"%s\",\n"
             "  \"DanToc\": \"%s\",\n"
             "  \"SoCMND\": \"%s\",\n"
             "  \"ChuHo\": {\n"
             "    \"HoVaTen\": \"%s\",\n"
             "    \"x%s\": \"%s\"\n"
             "  },\n"
             "  \"Cha\": {\n"
             "    \"x\": \"%s\",\n"
             "    \"SoDinhDanh\": \"%s\"\n"
             "  }\n"
             "}\n", s, s, s, s, s, s, s, s, s, s, s);

    return doc;
}


/*
 * The member path reads keys and values sixteen bytes at a time: a quote
 * (escaped), a backslash escape, a raw control character or a UTF-8
 * character at each offset across two such blocks, then the document cut
 * everywhere.  The output is that of one byte at a time (which never
 * takes that path), and valid JSON with the rules applied.
 */
static void
test_fast_path_edges(void **state)
{
    char                 *doc, *whole, *out, s[64];
    size_t                k, e, len, i;
    json_t               *j;
    ngsp_mask_status_t    st, st1;
    ngsp_mask_profile_t  *p;
    static const char    *edges[] = {
        "\\\"", "\\\\", "\\n", "\\u00e9", "\xe1\xbb\x85", "\xc3\xa9",
        "\xf0\x9f\x98\x80", "\x01", "\x1f", "\t", NULL
    };

    p = mask_profile(BASIC);

    for (e = 0; edges[e]; e++) {
        for (k = 0; k <= 33; k++) {
            memset(s, 'a', k);
            strcpy(s + k, edges[e]);
            strcat(s, "bc");

            doc = edge_doc(s);
            len = strlen(doc);

            whole = mask_run_cuts(p, key, (unsigned char *) doc, len, NULL,
                                  0, 0, 0, &st, NULL);
            out = mask_run_every(p, key, (unsigned char *) doc, len, 1,
                                 &st1);
            assert_int_equal(st, st1);

            if ((unsigned char) edges[e][0] < 0x20) {
                /* a raw control character in a string */
                assert_int_equal(st, NGSP_MASK_ERR_SYNTAX);
                free(whole);
                free(out);
                free(doc);
                continue;
            }

            assert_int_equal(st, NGSP_MASK_OK);
            assert_string_equal(whole, out);
            free(out);

            /* short spans staged */
            mask_span_copy = 64;
            out = mask_run_cuts(p, key, (unsigned char *) doc, len, NULL, 0,
                                0, 0, &st, NULL);
            mask_span_copy = 0;
            assert_int_equal(st, NGSP_MASK_OK);
            assert_string_equal(whole, out);
            free(out);

            j = json_loads(whole, 0, NULL);
            assert_non_null(j);
            assert_null(json_object_get(j, "DanToc"));
            assert_string_equal(json_string_value(json_object_get(j,
                                "SoCMND")), "***");
            assert_non_null(json_object_get(j, "MaYeuCau"));
            assert_int_equal(strlen(json_string_value(json_object_get(
                json_object_get(j, "Cha"), "SoDinhDanh"))), 64);
            json_decref(j);

            for (i = 1; i < len; i++) {
                out = mask_run_cuts(p, key, (unsigned char *) doc, len, &i,
                                    1, 0, 0, &st, NULL);
                assert_int_equal(st, NGSP_MASK_OK);
                assert_string_equal(out, whole);
                free(out);
            }

            free(whole);
            free(doc);
        }
    }

    ngsp_mask_profile_free(p);
}


static void
test_fixture_values(void **state)
{
    char                 *out;
    size_t                len;
    json_t               *doc, *cd;
    unsigned char        *data;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *p;

    p = mask_profile(BASIC);
    data = mask_fixture("citizen.json", &len);
    assert_non_null(data);
    out = mask_run_cuts(p, key, data, len, NULL, 0, 0, 0, &st, NULL);
    assert_int_equal(st, NGSP_MASK_OK);

    doc = json_loads(out, 0, NULL);
    cd = json_object_get(doc, "CongDan");
    assert_string_equal(json_string_value(json_object_get(cd, "SoDinhDanh")),
                        "********2345");
    assert_string_equal(json_string_value(json_object_get(cd, "HoVaTen")),
                        "N. V. A.");
    assert_string_equal(json_string_value(
        json_object_get(cd, "NgayThangNamSinh")), "1990");
    assert_string_equal(json_string_value(json_object_get(cd, "Email")),
                        "a***@example.vn");
    assert_string_equal(json_string_value(
        json_object_get(cd, "SoDienThoai")), "*******678");
    assert_null(json_object_get(cd, "DanToc"));
    assert_null(json_object_get(cd, "TonGiao"));
    assert_int_equal(strlen(json_string_value(json_object_get(
        json_object_get(cd, "Cha"), "SoDinhDanh"))), 64);
    assert_string_equal(json_string_value(json_object_get(
        json_object_get(cd, "VoChong"), "HoVaTen")), "L. T. Á.");
    assert_string_equal(json_string_value(json_object_get(cd, "QuocTich")),
                        "VN");

    json_decref(doc);
    free(out);
    free(data);
    ngsp_mask_profile_free(p);
}


static void
test_reset_and_count(void **state)
{
    mask_sink_t              sink;
    ngsp_mask_body_t        *j;
    ngsp_mask_profile_t     *p;
    ngsp_mask_stream_conf_t  conf = { 0 };
    const char             *doc = "{\"SoDinhDanh\":\"1\",\"DanToc\":2,"
                                  "\"SoCMND\":[1],\"x\":3}";

    memset(&sink, 0, sizeof(sink));
    p = mask_profile(BASIC);
    conf.profile = p;
    conf.out = mask_sink_out;
    conf.data = &sink;

    j = ngsp_mask_json_new(&conf);
    assert_int_equal(ngsp_mask_body_feed(j, (const unsigned char *) "{x", 2),
                     NGSP_MASK_ERR_SYNTAX);
    assert_int_equal(ngsp_mask_body_offset(j), 1);
    /* stays failed */
    assert_int_equal(ngsp_mask_body_feed(j, (const unsigned char *) "}", 1),
                     NGSP_MASK_ERR_SYNTAX);

    ngsp_mask_body_reset(j);
    sink.len = 0;
    assert_int_equal(ngsp_mask_body_feed(j, (const unsigned char *) doc,
                                         strlen(doc)), NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_finish(j), NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_masked(j), 3);
    assert_memory_equal(sink.buf, "{\"SoDinhDanh\":\"1\",\"SoCMND\":\"***\","
                        "\"x\":3}", sink.len);

    ngsp_mask_body_free(j);
    free(sink.buf);
    ngsp_mask_profile_free(p);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions_in_document),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_scalars_and_containers),
        cmocka_unit_test(test_remove_commas),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_value_limit),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_split_invariance),
        cmocka_unit_test(test_fast_path_edges),
        cmocka_unit_test(test_fixture_values),
        cmocka_unit_test(test_reset_and_count),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
