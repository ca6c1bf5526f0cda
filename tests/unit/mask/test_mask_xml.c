/*
 * cmocka tests of the streaming XML rewriter: selectors on local names
 * and attributes, entities, CDATA, comments, allow-list mode, fail-closed
 * cases, and split invariance over the XML fixtures (tests/fixtures
 * and the demo's record), with libxml2 as the judge of well-formedness.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>

#include "mask_xml_util.h"
#include "ngsp_mask_body.h"


#define BASIC  "SoDinhDanh keep_last=4; SoCMND keep_last=3; " \
               "HoVaTen initials; NgayThangNamSinh year; "       \
               "DanToc remove; TonGiao remove; Cha.SoDinhDanh hash; "
#define ALLOW  BASIC " default remove; GioiTinh pass; QuocTich pass; " \
               "MaYeuCau pass; TonTai pass;"

#define ENV_OPEN  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"             \
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "  \
    "xmlns:dc=\"http://www.mic.gov.vn/dancu/1.0\"><s:Body>"
#define ENV_CLOSE "</s:Body></s:Envelope>"


static ngsp_mask_key_t  *key;

static const char  *fixtures[] = {
    "citizen.soap.xml", "verify.soap.xml", "congdan.soap.xml", NULL
};

/* values no profile above lets out in clear */
static const char  *secrets[] = {
    "001099012345", "012345678", "001065001122", "011122233",
    "001168003344", "011144455", "19900517", "Nguyễn", "Trần Thị",
    "036195004321", "163456789", "036062001234", "Phạm", "19950902",
    NULL
};


static int
setup(void **state)
{
    key = ngsp_mask_key_new((const unsigned char *) "unit-test-key", 13);
    xmlInitParser();
    return key ? 0 : -1;
}


static int
teardown(void **state)
{
    ngsp_mask_key_free(key);
    xmlCleanupParser();
    return 0;
}


/* masks in with spec; asserts the status; returns the output */
static char *
run_full(const char *spec, const char *in, ngsp_mask_status_t want,
    size_t max_depth, size_t max_value, const char **why)
{
    char                  *out;
    ngsp_mask_status_t     st;
    ngsp_mask_profile_t   *prof;

    prof = mask_profile(spec);
    out = xml_run_cuts(prof, key, (const unsigned char *) in, strlen(in),
                       NULL, 0, max_depth, max_value, &st, why, NULL);

    if (st != want) {
        fail_msg("status %d, want %d, for %s -> %s", st, want, in, out);
    }

    if (st == NGSP_MASK_OK && !xml_well_formed(out, strlen(out))) {
        fail_msg("not well formed: %s", out);
    }

    ngsp_mask_profile_free(prof);

    return out;
}


static char *
run(const char *spec, const char *in, ngsp_mask_status_t want)
{
    return run_full(spec, in, want, 0, 0, NULL);
}


/* masks in and compares the whole output */
static void
expect(const char *spec, const char *in, const char *want)
{
    char  *out;

    out = run(spec, in, NGSP_MASK_OK);
    assert_string_equal(out, want);
    free(out);
}


/* fails with the given reason; nothing of secret in the output */
static void
refuse(const char *spec, const char *in, ngsp_mask_status_t want,
    const char *reason, const char *secret)
{
    char        *out;
    const char  *why;

    out = run_full(spec, in, want, 0, 0, &why);
    assert_string_equal(why, reason);

    if (secret && strstr(out, secret)) {
        fail_msg("\"%s\" leaked: %s", secret, out);
    }

    free(out);
}


static void
test_fixture_basic(void **state)
{
    char           *out;
    size_t          len, masked, i;
    unsigned char  *in;
    const char     *p;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *prof;

    in = mask_fixture("citizen.soap.xml", &len);
    assert_non_null(in);
    prof = mask_profile(BASIC);

    out = xml_run_cuts(prof, key, in, len, NULL, 0, 0, 0, &st, NULL,
                       &masked);
    assert_int_equal(st, NGSP_MASK_OK);
    assert_true(xml_well_formed(out, strlen(out)));

    /* the declaration and envelope are untouched */
    assert_memory_equal(out, in, 160);

    assert_non_null(strstr(out,
        "<dc:SoDinhDanh>********2345</dc:SoDinhDanh>"));
    assert_non_null(strstr(out, "<dc:SoCMND>******678</dc:SoCMND>"));
    assert_non_null(strstr(out, "<dc:HoVaTen><dc:Ho>N.</dc:Ho>"
                                "<dc:ChuDem>V.</dc:ChuDem>"
                                "<dc:Ten>A.</dc:Ten></dc:HoVaTen>"));
    assert_non_null(strstr(out, "<dc:Nam>1990</dc:Nam>"
                                "<dc:NgayThangNam>1990</dc:NgayThangNam>"));
    assert_non_null(strstr(out, "<dc:HoVaTen>N. V. B.</dc:HoVaTen>"));
    assert_null(strstr(out, "DanToc"));
    assert_null(strstr(out, "TonGiao"));

    /* the father's number is a pseudonym: 64 hex digits */
    p = strstr(out, "<dc:Cha>");
    assert_non_null(p);
    p = strstr(p, "<dc:SoDinhDanh>");
    assert_non_null(p);
    p += strlen("<dc:SoDinhDanh>");
    for (i = 0; i < 64; i++) {
        assert_true(strchr("0123456789abcdef", p[i]) != NULL);
    }
    assert_memory_equal(p + 64, "</dc:SoDinhDanh>", 16);

    /* entities and CDATA outside masked elements pass untouched */
    assert_non_null(strstr(out, "Láng Hạ &amp; ngách 5"));
    assert_non_null(strstr(out, "<![CDATA[Số 12 ngõ 34 phố Láng Hạ "
                                "<tầng 3>]]>"));

    for (i = 0; secrets[i]; i++) {
        if (i < 8 && strstr(out, secrets[i])) {
            fail_msg("\"%s\" leaked", secrets[i]);
        }
    }

    /* 2 x DanToc/TonGiao, 4 + 4 identifiers, 3 + 3 names, 2 dates */
    assert_int_equal(masked, 2 + 8 + 6 + 2);

    free(out);
    free(in);
    ngsp_mask_profile_free(prof);
}


static void
test_fixture_allow_list(void **state)
{
    char                 *out;
    size_t                len;
    unsigned char        *in;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *prof;

    in = mask_fixture("citizen.soap.xml", &len);
    assert_non_null(in);
    prof = mask_profile(ALLOW);

    out = xml_run_cuts(prof, key, in, len, NULL, 0, 0, 0, &st, NULL, NULL);
    assert_int_equal(st, NGSP_MASK_OK);
    assert_true(xml_well_formed(out, strlen(out)));

    /* the structure stays, empty Header included */
    assert_non_null(strstr(out, "<soapenv:Header/>"));
    assert_non_null(strstr(out, "<soapenv:Body>"));
    assert_non_null(strstr(out, "<dc:CongdanCollection>"));
    assert_non_null(strstr(out, "<dc:CongDan>\n        <dc:SoDinhDanh>"));
    assert_non_null(strstr(out, "<dc:GioiTinh>1</dc:GioiTinh>"));
    assert_non_null(strstr(out, "<dc:QuocTich>VN</dc:QuocTich>"));
    assert_non_null(strstr(out,
        "<dc:ChuHo><dc:SoDinhDanh>********2345</dc:SoDinhDanh>"
        "<dc:SoCMND>******678</dc:SoCMND>"
        "<dc:HoVaTen>N. V. A.</dc:HoVaTen></dc:ChuHo>"));

    /* unnamed leaves and attributes are gone */
    assert_null(strstr(out, "SoCongDan"));
    assert_null(strstr(out, "ThoiDiemDuLieu"));
    assert_null(strstr(out, "NhomMau"));
    assert_null(strstr(out, "ChiTiet"));
    assert_null(strstr(out, "Láng"));
    assert_null(strstr(out, "SoSoHoKhau"));
    assert_null(strstr(out, "QuanHe"));
    assert_non_null(strstr(out, "<dc:NoiOHienTai></dc:NoiOHienTai>"));

    free(out);
    free(in);
    ngsp_mask_profile_free(prof);
}


static void
test_selectors(void **state)
{
    /* prefixes are ignored, default namespaces too */
    expect("SoDinhDanh keep_last=4;",
           "<a xmlns=\"urn:x\"><SoDinhDanh>001099012345</SoDinhDanh>"
           "<y:SoDinhDanh xmlns:y=\"urn:y\">001099012345</y:SoDinhDanh></a>",
           "<a xmlns=\"urn:x\"><SoDinhDanh>********2345</SoDinhDanh>"
           "<y:SoDinhDanh xmlns:y=\"urn:y\">********2345</y:SoDinhDanh></a>");

    /* Parent.Name beats Name */
    expect("SoDinhDanh keep_last=4; Cha.SoDinhDanh redact;",
           "<r><SoDinhDanh>001099012345</SoDinhDanh>"
           "<Cha><SoDinhDanh>001065001122</SoDinhDanh></Cha>"
           "<Me><SoDinhDanh>001168003344</SoDinhDanh></Me></r>",
           "<r><SoDinhDanh>********2345</SoDinhDanh>"
           "<Cha><SoDinhDanh>***</SoDinhDanh></Cha>"
           "<Me><SoDinhDanh>********3344</SoDinhDanh></Me></r>");

    /* a closer rule inside a masked element wins */
    expect("Cha initials; Cha.QuocTich pass;",
           "<r><Cha><HoVaTen>Nguyễn Văn Bình</HoVaTen>"
           "<QuocTich>VN</QuocTich></Cha></r>",
           "<r><Cha><HoVaTen>N. V. B.</HoVaTen>"
           "<QuocTich>VN</QuocTich></Cha></r>");

    /* duplicates are all masked */
    expect("SoCMND redact;",
           "<r><SoCMND>1</SoCMND><SoCMND>2</SoCMND></r>",
           "<r><SoCMND>***</SoCMND><SoCMND>***</SoCMND></r>");
}


static void
test_actions(void **state)
{
    /* Vietnamese names: characters, not bytes */
    expect("HoVaTen initials; Ten keep_first=1; Email email; X replace=?;",
           "<r><HoVaTen>Nguyễn Thị Ánh</HoVaTen><Ten>Ánh</Ten>"
           "<Email>an.nguyen@example.vn</Email><X>1</X></r>",
           "<r><HoVaTen>N. T. Á.</HoVaTen><Ten>Á**</Ten>"
           "<Email>a***@example.vn</Email><X>?</X></r>");

    /* remove takes the element, redact its content */
    expect("DanToc remove; NgayThangNamSinh redact;",
           "<r><DanToc>01</DanToc><NgayThangNamSinh><Nam>1990</Nam>"
           "</NgayThangNamSinh><GioiTinh>1</GioiTinh></r>",
           "<r><NgayThangNamSinh>***</NgayThangNamSinh>"
           "<GioiTinh>1</GioiTinh></r>");

    /* a string action reaches every text inside; blanks stay */
    expect("NgayThangNamSinh year;",
           "<r><NgayThangNamSinh>\n  <Nam>1990</Nam>\n  "
           "<NgayThangNam>17/05/1990</NgayThangNam>\n</NgayThangNamSinh></r>",
           "<r><NgayThangNamSinh>\n  <Nam>1990</Nam>\n  "
           "<NgayThangNam>1990</NgayThangNam>\n</NgayThangNamSinh></r>");

    /* the hash is the same pseudonym in XML as elsewhere */
    {
        char           *out;
        unsigned char   h[64];
        const ngsp_mask_action_t  a = { NGSP_MASK_HASH, 0, NULL, 0 };

        assert_int_equal(ngsp_mask_action_apply(&a, key,
                             (const unsigned char *) "001065001122", 12, h),
                         64);
        out = run("SoDinhDanh hash;",
                  "<r><SoDinhDanh>001065001122</SoDinhDanh></r>",
                  NGSP_MASK_OK);
        assert_memory_equal(out + strlen("<r><SoDinhDanh>"), h, 64);
        free(out);
    }
}


static void
test_entities_cdata(void **state)
{
    /* decoded before the action, escaped after */
    expect("ChiTiet keep_first=12;",
           "<r><ChiTiet>Láng Hạ &amp; ngách 5</ChiTiet></r>",
           "<r><ChiTiet>Láng Hạ &amp; ng*****</ChiTiet></r>");
    expect("ChiTiet keep_last=20;",
           "<r><ChiTiet>Láng Hạ &amp; ngách 5</ChiTiet></r>",
           "<r><ChiTiet>Láng Hạ &amp; ngách 5</ChiTiet></r>");
    expect("ChiTiet keep_first=3;",
           "<r><ChiTiet>&lt;&#x41;&#66;&gt;&quot;&apos;</ChiTiet></r>",
           "<r><ChiTiet>&lt;AB***</ChiTiet></r>");

    /* CDATA is text: decoded, masked, written escaped */
    expect("ChiTiet keep_first=3;",
           "<r><ChiTiet><![CDATA[Số <12> & ]]]]></ChiTiet></r>",
           "<r><ChiTiet>Số *********</ChiTiet></r>");
    expect("ChiTiet keep_last=20;",
           "<r><ChiTiet><![CDATA[Láng Hạ <tầng 3>]]></ChiTiet></r>",
           "<r><ChiTiet>Láng Hạ &lt;tầng 3&gt;</ChiTiet></r>");

    /* one text node across CDATA and comments: masked as a whole */
    expect("SoDinhDanh keep_last=4;",
           "<r><SoDinhDanh>0010<!-- x -->9901<![CDATA[2345]]></SoDinhDanh>"
           "</r>",
           "<r><SoDinhDanh>********2345</SoDinhDanh></r>");

    /* unmasked entities and CDATA pass as they are */
    expect("X remove;",
           "<r>a &amp; b<![CDATA[<c>]]>&#233;</r>",
           "<r>a &amp; b<![CDATA[<c>]]>&#233;</r>");

    /* a masked control-free text stays XML: \r and ]]> are escaped */
    expect("X keep_last=9;",
           "<r><X>&#13;]]&gt;</X></r>",
           "<r><X>&#13;]]&gt;</X></r>");
}


static void
test_attributes(void **state)
{
    expect("CongdanCollection.@SoCongDan redact; @id keep_last=2;",
           "<r><CongdanCollection SoCongDan=\"1\" id='abc&amp;d' x=\"y\">"
           "</CongdanCollection><B SoCongDan=\"2\"/></r>",
           "<r><CongdanCollection SoCongDan=\"***\" id='***&amp;d' "
           "x=\"y\"></CongdanCollection><B SoCongDan=\"2\"/></r>");

    /* removal keeps the tag well formed, blanks and all */
    expect("@a remove; @c remove;",
           "<r a=\"1\"  b = '2'\n c=\"3\"><e c=\"1\"/></r>",
           "<r  b = '2'><e/></r>");

    /* prefixes ignored; xmlns declarations never touched */
    expect("@lang remove; @xmlns remove; default pass;",
           "<r xmlns=\"urn:a\" xmlns:p=\"urn:p\" p:lang=\"vi\" p:k=\"v\"/>",
           "<r xmlns=\"urn:a\" xmlns:p=\"urn:p\" p:k=\"v\"/>");

    /* an element's action reaches its attributes, escaped on the way out */
    expect("X keep_first=1;",
           "<r><X t=\"a&quot;b&#10;c\">ab</X></r>",
           "<r><X t=\"a****\">a*</X></r>");
    expect("@t keep_last=9;",
           "<r t=\"a&quot;'&lt;\tb&#10;\"/>",
           "<r t=\"a&quot;&apos;&lt; b&#10;\"/>");

    /* allow-list: unnamed attributes go, named ones stay */
    expect("default remove; @keep pass;",
           "<r a=\"1\" keep=\"2\"><x b=\"3\"/></r>",
           "<r keep=\"2\"><x/></r>");
}


static void
test_self_closing_and_structure(void **state)
{
    expect("SoDinhDanh remove; X redact;",
           "<r><SoDinhDanh/><X/><Y a=\"1\"/><SoDinhDanh a=\"2\"/></r>",
           "<r><X/><Y a=\"1\"/></r>");

    /* allow-list: empty elements and containers stay, leaves with text go */
    expect("default remove; Keep pass;",
           "<r>\n <H/>\n <B> <C>\n  <L>secret</L>\n  <Keep>ok</Keep>\n </C>"
           "</B>\n <E></E><M>text<Keep>ok</Keep></M>\n</r>",
           "<r>\n <H/>\n <B> <C>\n  \n  <Keep>ok</Keep>\n </C>"
           "</B>\n <E></E>\n</r>");

    /* the root is never removed, only emptied */
    expect("r remove;", "<r a=\"1\"><x>1</x></r>", "<r></r>");
    expect("default remove;", "<r>text<x>1</x> </r>", "<r> </r>");
}


static void
test_comments_pi_decl(void **state)
{
    expect("X remove;",
           "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\n"
           "<!-- 001099012345 --><?pi 001099012345?>\n"
           "<r><!--c--><?x y?>a<!-- - -->b</r>\n<!-- end -->\n",
           "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\n"
           "\n<r>ab</r>\n\n");

    expect("X remove;", "<?xml version=\"1.0\"?><r/>",
           "<?xml version=\"1.0\"?><r/>");

    /* comments inside masked or allow-list text carry no data out */
    expect("default remove; X pass;",
           "<r><X>a<!--1-->b</X><Y><!--2--><Z/></Y></r>",
           "<r><X>ab</X><Y><Z/></Y></r>");
}


static void
test_refusals(void **state)
{
    refuse("X remove;",
           "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>",
           NGSP_MASK_ERR_SYNTAX, "doctype or markup declaration refused",
           NULL);
    refuse("X remove;", "<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>",
           NGSP_MASK_ERR_SYNTAX, "doctype or markup declaration refused",
           NULL);
    refuse("X remove;", "<r>&e;</r>", NGSP_MASK_ERR_SYNTAX,
           "undefined entity or bad character reference", NULL);
    refuse("X remove;", "<r>&#0;</r>", NGSP_MASK_ERR_SYNTAX,
           "undefined entity or bad character reference", NULL);
    refuse("X remove;", "<r>&#x110000;</r>", NGSP_MASK_ERR_SYNTAX,
           "undefined entity or bad character reference", NULL);
    refuse("X remove;", "<r a=\"&lt\"/>", NGSP_MASK_ERR_SYNTAX,
           "malformed reference", NULL);
    refuse("X remove;",
           "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>",
           NGSP_MASK_ERR_SYNTAX, "encoding not utf-8", NULL);
    refuse("X remove;", "\xff\xfe<\0r\0/\0>\0", NGSP_MASK_ERR_SYNTAX,
           "encoding not utf-8", NULL);
    refuse("X remove;", "<r/><?xml version=\"1.0\"?>", NGSP_MASK_ERR_SYNTAX,
           "misplaced xml declaration", NULL);

    /* malformed markup: nothing masked has gone out before the error */
    refuse("SoDinhDanh keep_last=4;",
           "<r><SoDinhDanh>001099012345</SoDinhDanhX></r>",
           NGSP_MASK_ERR_SYNTAX, "mismatched end tag", "0010990");
    refuse("SoDinhDanh keep_last=4;",
           "<r><SoDinhDanh>001099012345</SoDinh></r>",
           NGSP_MASK_ERR_SYNTAX, "mismatched end tag", "0010990");
    refuse("SoDinhDanh keep_last=4;",
           "<r><SoDinhDanh>001099012345<x></SoDinhDanh></r>",
           NGSP_MASK_ERR_SYNTAX, "mismatched end tag", "0010990");
    refuse("SoDinhDanh keep_last=4;", "<r><SoDinhDanh>0010990123",
           NGSP_MASK_ERR_TRUNCATED, "truncated document", "0010");
    refuse("SoDinhDanh keep_last=4;", "<r><SoDinhDanh a='0010990123",
           NGSP_MASK_ERR_TRUNCATED, "truncated document", "0010");
    refuse("default remove;", "<r><x>0010990123",
           NGSP_MASK_ERR_TRUNCATED, "truncated document", "0010");
    refuse("X remove;", " ", NGSP_MASK_ERR_TRUNCATED,
           "truncated document", NULL);
    refuse("X remove;", "<r/><r/>", NGSP_MASK_ERR_SYNTAX,
           "content after the root element", NULL);
    refuse("X remove;", "x<r/>", NGSP_MASK_ERR_SYNTAX,
           "text outside the root element", NULL);
    refuse("X remove;", "<r a=\"1\"b=\"2\"/>", NGSP_MASK_ERR_SYNTAX,
           "malformed start tag", NULL);
    refuse("X remove;", "<r a=\"<\"/>", NGSP_MASK_ERR_SYNTAX,
           "'<' in an attribute value", NULL);
    refuse("X remove;", "<r><</r>", NGSP_MASK_ERR_SYNTAX,
           "malformed markup", NULL);
}


static void
test_limits(void **state)
{
    char        *out, in[4096], *p;
    const char  *why;
    int          i;

    /* depth: 4 open elements allowed, not 5 */
    out = run_full("X remove;", "<a><b><c><d/></c></b></a>", NGSP_MASK_OK,
                   4, 0, NULL);
    free(out);
    out = run_full("X remove;", "<a><b><c><d><e/></d></c></b></a>",
                   NGSP_MASK_ERR_DEPTH, 4, 0, &why);
    assert_string_equal(why, "nesting too deep");
    free(out);

    /* a masked text over max_value: nothing of it goes out */
    out = run_full("X keep_last=4;", "<r><X>0123456789</X></r>",
                   NGSP_MASK_OK, 0, 10, NULL);
    assert_string_equal(out, "<r><X>******6789</X></r>");
    free(out);
    out = run_full("X keep_last=4;", "<r><X>0123456789A</X></r>",
                   NGSP_MASK_ERR_VALUE, 0, 10, &why);
    assert_string_equal(why, "text or name too long");
    assert_null(strstr(out, "0123"));
    free(out);

    /* a long name, and a long undecided start tag in allow-list mode */
    out = run_full("X remove;", "<r><abcdefghijkl/></r>",
                   NGSP_MASK_ERR_VALUE, 0, 10, NULL);
    free(out);
    out = run_full("default remove; @a pass; @b pass;",
                   "<r><x a=\"1\" b=\"2\" c=\"3\">t</x></r>",
                   NGSP_MASK_ERR_VALUE, 0, 10, &why);
    assert_string_equal(why, "start tag too long to hold");
    free(out);

    /* a passed text is bounded too (see test_text_bound) */
    p = in;
    p += sprintf(p, "<r><Y>");
    for (i = 0; i < 100; i++) {
        p += sprintf(p, "0123456789");
    }
    sprintf(p, "</Y></r>");
    out = run_full("X keep_last=4;", in, NGSP_MASK_ERR_VALUE, 0, 10, &why);
    assert_string_equal(why, "text or name too long");
    free(out);
}


/*
 * head, n bytes of fill, tail, where the text or value that holds the
 * fill has "extra" more bytes (decoded) before it and none after: with
 * max_value n + extra it passes, with one less it fails as too long, at
 * every cut point and two cuts apart, and the byte over the limit ('Z',
 * the last of the fill) never goes out.
 */
static void
bound_case(const char *spec, const char *head, const char *fill, size_t n,
    const char *tail, size_t extra)
{
    char                 *doc, *out, *whole;
    size_t                hl, len, i, c, cuts[2], max;
    const char           *why;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *prof;

    hl = strlen(head);
    len = hl + n + strlen(tail);
    doc = malloc(len + 1);
    memcpy(doc, head, hl);
    for (i = 0; i < n; i++) {
        doc[hl + i] = fill[i % strlen(fill)];
    }
    doc[hl + n - 1] = 'Z';
    strcpy(doc + hl + n, tail);

    prof = mask_profile(spec);
    max = n + extra;

    /* exactly max_value: accepted */
    whole = xml_run_cuts(prof, key, (unsigned char *) doc, len, NULL, 0, 0, max,
                         &st, NULL, NULL);
    if (st != NGSP_MASK_OK) {
        fail_msg("%s: refused at max_value %zu", doc, max);
    }

    for (c = 0; c <= len; c++) {
        cuts[0] = c;
        cuts[1] = c + 2 < len ? c + 2 : len;

        out = xml_run_cuts(prof, key, (unsigned char *) doc, len, cuts, 2, 0,
                           max, &st, NULL, NULL);
        if (st != NGSP_MASK_OK || strcmp(out, whole) != 0) {
            fail_msg("%s: cut at %zu differs at max_value %zu", doc, c, max);
        }
        free(out);

        /* one byte over: refused, and the byte over never goes out */
        out = xml_run_cuts(prof, key, (unsigned char *) doc, len, cuts, 2, 0,
                           max - 1, &st, &why, NULL);
        if (st != NGSP_MASK_ERR_VALUE
            || strcmp(why, "text or name too long") != 0)
        {
            fail_msg("%s: cut at %zu: %d %s at max_value %zu", doc, c, st,
                     why, max - 1);
        }
        if (strchr(out, 'Z')) {
            fail_msg("%s: cut at %zu lets out %s", doc, c, out);
        }
        free(out);
    }

    free(whole);
    free(doc);
    ngsp_mask_profile_free(prof);
}


/* every text node and attribute value is bounded, passed or not */
static void
test_text_bound(void **state)
{
    /* passed text, and text under an action or a removed element */
    bound_case("X keep_last=4;", "<r><Y>", "0123456789", 40, "</Y></r>", 0);
    bound_case("X keep_last=4;", "<r><X>", "0123456789", 40, "</X></r>", 0);
    bound_case("X remove;", "<r><X>", "0123456789", 40, "</X></r>", 0);
    bound_case("default remove;", "<r><X>", "0123456789", 40, "</X></r>", 0);

    /* whitespace between elements is text too */
    bound_case("X remove;", "<r><a/>", " \n\t", 30, "<b/></r>", 0);
    bound_case("default remove;", "<r>", " \n", 30, "<y/></r>", 0);

    /* CDATA counts its content, with the text around it; a comment inside
     * the text neither cuts it nor counts */
    bound_case("X keep_last=4;", "<r><Y>ab<![CDATA[", "]0<&", 33,
               "]]></Y></r>", 2);
    bound_case("X keep_last=4;", "<r><Y>ab<!-- 0123456789 -->cd<![CDATA[",
               "xyz", 33, "]]></Y></r>", 4);

    /* references count as the UTF-8 bytes they stand for: 1, 1, 2, 3 */
    bound_case("X keep_last=4;", "<r><Y>&amp;&lt;&#233;&#x20AC;", "uvw",
               20, "</Y></r>", 7);

    /* attribute values: passed, masked, removed, and xmlns */
    bound_case("X keep_last=4;", "<r><Y a=\"", "0123456789", 40,
               "\"/></r>", 0);
    bound_case("@a keep_last=4;", "<r><Y a='", "0123\"56789", 40,
               "'/></r>", 0);
    bound_case("@a remove;", "<r><Y b=\"1\" a=\"&quot;", "0123", 41,
               "\"/></r>", 1);
    bound_case("X remove;", "<r xmlns:x=\"urn:", "abc", 40, "\"/>", 4);
}


static void
test_zero_copy(void **state)
{
    size_t                   len;
    char                    *out;
    unsigned char           *in;
    mask_sink_t              sink;
    ngsp_mask_body_t        *x;
    ngsp_mask_profile_t     *prof;
    ngsp_mask_stream_conf_t  conf;

    in = mask_fixture("citizen.soap.xml", &len);
    assert_non_null(in);
    prof = mask_profile(BASIC);

    memset(&sink, 0, sizeof(sink));
    conf.profile = prof;
    conf.key = key;
    conf.max_depth = 0;
    conf.max_value = 0;
    conf.out = mask_sink_out;
    conf.data = &sink;

    x = ngsp_mask_xml_new(&conf);
    assert_int_equal(ngsp_mask_body_feed(x, in, len), NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_finish(x), NGSP_MASK_OK);

    /* almost everything is forwarded from the input, not copied */
    assert_true(sink.from_input * 10 > sink.len * 9);

    /* a reset starts a new document */
    out = (char *) sink.buf;
    memset(&sink, 0, sizeof(sink));
    ngsp_mask_body_reset(x);
    assert_int_equal(ngsp_mask_body_feed(x, in, len), NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_finish(x), NGSP_MASK_OK);
    assert_string_equal((char *) sink.buf, out);

    ngsp_mask_body_free(x);
    free(out);
    free(sink.buf);
    free(in);
    ngsp_mask_profile_free(prof);
}


/*
 * Every cut point, every two cut points near each other, one byte at a
 * time and random cuts: the same output and status as in one piece.
 */
static void
test_split_invariance(void **state)
{
    int                   f, s, r;
    char                 *whole, *out;
    size_t                len, n, m, cuts[16], k, i;
    unsigned char        *data;
    ngsp_mask_status_t    st0, st;
    ngsp_mask_profile_t  *prof;
    static const char    *specs[] = {
        BASIC, ALLOW,
        "CongDan redact; @SoCongDan remove; Body.X pass;",
        "HoVaTen remove; ChiTiet keep_first=2; default remove; "
        "CongDan pass; CongdanCollection.@SoCongDan keep_last=1;",
        NULL
    };

    srand(5);

    for (f = 0; fixtures[f]; f++) {
        data = mask_fixture(fixtures[f], &len);
        assert_non_null(data);

        for (s = 0; specs[s]; s++) {
            prof = mask_profile(specs[s]);

            whole = xml_run_cuts(prof, key, data, len, NULL, 0, 0, 0, &st0,
                                 NULL, NULL);
            assert_int_equal(st0, NGSP_MASK_OK);
            assert_true(xml_well_formed(whole, strlen(whole)));

            for (i = 0; s < 2 && secrets[i]; i++) {
                if (strstr(whole, secrets[i])
                    && !(s == 1 && strcmp(secrets[i], "012345678") == 0))
                {
                    fail_msg("%s/%d leaks \"%s\"", fixtures[f], s,
                             secrets[i]);
                }
            }

            for (n = 0; n <= len; n++) {
                out = xml_run_cuts(prof, key, data, len, &n, 1, 0, 0, &st,
                                   NULL, NULL);
                if (st != st0 || strcmp(out, whole) != 0) {
                    fail_msg("%s/%d cut at %zu differs", fixtures[f], s, n);
                }
                free(out);

                for (m = n + 1; m <= len && m < n + 12; m++) {
                    cuts[0] = n;
                    cuts[1] = m;
                    out = xml_run_cuts(prof, key, data, len, cuts, 2, 0, 0,
                                       &st, NULL, NULL);
                    if (st != st0 || strcmp(out, whole) != 0) {
                        fail_msg("%s/%d cuts at %zu, %zu differ",
                                 fixtures[f], s, n, m);
                    }
                    free(out);
                }
            }

            out = xml_run_every(prof, key, data, len, 1, &st);
            assert_int_equal(st, st0);
            assert_string_equal(out, whole);
            free(out);

            for (r = 0; r < 200; r++) {
                k = 1 + rand() % 15;
                cuts[0] = rand() % (len + 1);
                for (i = 1; i < k; i++) {
                    cuts[i] = cuts[i - 1] + rand() % (len / k + 1);
                    if (cuts[i] > len) {
                        cuts[i] = len;
                    }
                }

                out = xml_run_cuts(prof, key, data, len, cuts, k, 0, 0, &st,
                                   NULL, NULL);
                if (st != st0 || strcmp(out, whole) != 0) {
                    fail_msg("%s/%d random cuts differ", fixtures[f], s);
                }
                free(out);
            }

            free(whole);
            ngsp_mask_profile_free(prof);
        }

        free(data);
    }
}


/* truncation at every point fails, and never lets a masked value out */
static void
test_truncation_everywhere(void **state)
{
    char                 *out;
    size_t                len, n, i;
    unsigned char        *data;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *prof;

    data = mask_fixture("citizen.soap.xml", &len);
    assert_non_null(data);
    prof = mask_profile(ALLOW);

    /* the last bytes are a newline after the root's end */
    while (data[len - 1] == '\n') {
        len--;
    }

    /* from one byte: the empty body holds no data and passes */
    for (n = 1; n < len; n++) {
        out = xml_run_every(prof, key, data, n, 1 + n % 7, &st);
        if (st != NGSP_MASK_ERR_TRUNCATED) {
            fail_msg("cut at %zu: status %d", n, st);
        }

        for (i = 0; secrets[i]; i++) {
            if (strcmp(secrets[i], "012345678") != 0
                && strstr(out, secrets[i]))
            {
                fail_msg("cut at %zu leaks \"%s\"", n, secrets[i]);
            }
        }

        free(out);
    }

    free(data);
    ngsp_mask_profile_free(prof);
}


static int
failing_out(void *data, const unsigned char *p, size_t len, unsigned flags)
{
    size_t  *budget = data;

    if (len > *budget) {
        return -1;
    }

    *budget -= len;
    return 0;
}


/* an output callback that fails stops the rewriter for good */
static void
test_output_failure(void **state)
{
    size_t                   budget;
    ngsp_mask_body_t        *x;
    ngsp_mask_profile_t     *prof;
    ngsp_mask_stream_conf_t  conf;
    static const char        doc[] = "<r><X>0123456789</X><Y>abc</Y></r>";

    prof = mask_profile("X keep_last=2;");
    conf.profile = prof;
    conf.key = NULL;
    conf.max_depth = 0;
    conf.max_value = 0;
    conf.out = failing_out;
    conf.data = &budget;

    x = ngsp_mask_xml_new(&conf);
    assert_string_equal(ngsp_mask_body_reason(x), "ok");

    budget = 8;
    assert_int_equal(ngsp_mask_body_feed(x, (const unsigned char *) doc,
                                        sizeof(doc) - 1),
                     NGSP_MASK_ERR_OUTPUT);
    assert_string_equal(ngsp_mask_body_reason(x), "output failed");

    /* stays failed, whatever comes */
    budget = 1000;
    assert_int_equal(ngsp_mask_body_feed(x, (const unsigned char *) "<", 1),
                     NGSP_MASK_ERR_OUTPUT);
    assert_int_equal(ngsp_mask_body_finish(x), NGSP_MASK_ERR_OUTPUT);

    /* a reset starts over */
    ngsp_mask_body_reset(x);
    assert_int_equal(ngsp_mask_body_feed(x, (const unsigned char *) doc,
                                        sizeof(doc) - 1), NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_finish(x), NGSP_MASK_OK);
    assert_int_equal(budget, 1000 - (sizeof(doc) - 1));
    assert_int_equal(ngsp_mask_body_masked(x), 1);

    ngsp_mask_body_free(x);
    ngsp_mask_profile_free(prof);
}


static size_t  heap_base, heap_peak, sunk;


static int
peak_out(void *data, const unsigned char *p, size_t len, unsigned flags)
{
    size_t  used = mallinfo2().uordblks;

    if (used > heap_peak) {
        heap_peak = used;
    }

    sunk += len;
    return 0;
}


/* a large collection goes through in a fixed amount of memory */
static void
test_bounded_memory(void **state)
{
    int                      s;
    char                    *doc, *d;
    size_t                   len, flen, i, n, rec_len;
    unsigned char           *fix;
    const char              *rec, *rec_end;
    ngsp_mask_body_t        *x;
    ngsp_mask_profile_t     *prof;
    ngsp_mask_stream_conf_t  conf;
    static const char       *specs[] = { BASIC, ALLOW, NULL };

    fix = mask_fixture("citizen.soap.xml", &flen);
    assert_non_null(fix);
    rec = strstr((char *) fix, "      <dc:CongDan>");
    rec_end = strstr((char *) fix, "</dc:CongDan>\n") + 14;
    rec_len = rec_end - rec;

    /* about 8 MB: 3400 records */
    doc = malloc(flen + 3400 * rec_len);
    d = doc;
    memcpy(d, fix, rec - (char *) fix);
    d += rec - (char *) fix;
    for (i = 0; i < 3400; i++) {
        memcpy(d, rec, rec_len);
        d += rec_len;
    }
    memcpy(d, rec_end, (char *) fix + flen - rec_end);
    d += (char *) fix + flen - rec_end;
    len = d - doc;

    for (s = 0; specs[s]; s++) {
        prof = mask_profile(specs[s]);
        conf.profile = prof;
        conf.key = key;
        conf.max_depth = 0;
        conf.max_value = 0;
        conf.out = peak_out;
        conf.data = NULL;

        heap_base = mallinfo2().uordblks;
        heap_peak = heap_base;
        sunk = 0;

        x = ngsp_mask_xml_new(&conf);
        for (i = 0; i < len; i += n) {
            n = len - i < 8192 ? len - i : 8192;
            assert_int_equal(ngsp_mask_body_feed(x, (unsigned char *) doc + i,
                                                n), NGSP_MASK_OK);
        }
        assert_int_equal(ngsp_mask_body_finish(x), NGSP_MASK_OK);
        ngsp_mask_body_free(x);

        assert_true(sunk > len / 2);
        /* the rewriter's buffers, never the document */
        if (heap_peak - heap_base > 64 * 1024) {
            fail_msg("%s: %zu bytes in use", specs[s],
                     heap_peak - heap_base);
        }

        ngsp_mask_profile_free(prof);
    }

    free(doc);
    free(fix);
}


/* a whole document in memory, as the xml action of JSON uses it */
static void
test_string(void **state)
{
    size_t                   n, cap, masked;
    unsigned char           *out;
    ngsp_mask_body_t        *x;
    ngsp_mask_profile_t     *prof;
    ngsp_mask_stream_conf_t  conf;
    static const char      doc[] =
        "<r><SoDinhDanh>001099012345</SoDinhDanh><DanToc>01</DanToc></r>";

    prof = mask_profile("SoDinhDanh keep_last=4; DanToc remove;");
    conf.profile = prof;
    conf.key = NULL;
    conf.max_depth = 0;
    conf.max_value = 16;
    conf.out = NULL;
    conf.data = NULL;

    x = NULL;
    out = NULL;
    cap = 0;

    assert_int_equal(ngsp_mask_xml_string(&x, &conf,
                         (const unsigned char *) doc, sizeof(doc) - 1,
                         &out, &n, &cap, &masked), NGSP_MASK_OK);
    assert_non_null(x);
    assert_int_equal(masked, 2);
    assert_memory_equal(out, "<r><SoDinhDanh>********2345</SoDinhDanh></r>",
                        n);

    /* the rewriter is reused; an error leaves nothing to use */
    assert_int_equal(ngsp_mask_xml_string(&x, &conf,
                         (const unsigned char *) doc, 20,
                         &out, &n, &cap, &masked), NGSP_MASK_ERR_TRUNCATED);
    assert_string_equal(ngsp_mask_body_reason(x), "truncated document");

    assert_int_equal(ngsp_mask_xml_string(&x, &conf,
                         (const unsigned char *) "<r>x</r>", 8,
                         &out, &n, &cap, &masked), NGSP_MASK_OK);
    assert_memory_equal(out, "<r>x</r>", n);

    ngsp_mask_body_free(x);
    free(out);
    ngsp_mask_profile_free(prof);
}


/* the xml action: a JSON string holding a SOAP document */
static void
test_xml_action_in_json(void **state)
{
    char                 *out, *cut;
    size_t                n, len;
    ngsp_mask_status_t    st;
    ngsp_mask_profile_t  *prof;
    static const char     in[] =
        "{\"KetQua\":\"<?xml version=\\\"1.0\\\"?><r><SoDinhDanh>"
        "001099012345</SoDinhDanh><DanToc>01</DanToc>"
        "<ChiTiet>L\\u00e1ng &amp; 5</ChiTiet></r>\","
        "\"SoDinhDanh\":\"001099012345\",\"Khac\":\"<r/>\",\"N\":null}";
    static const char     want[] =
        "{\"KetQua\":\"<?xml version=\\\"1.0\\\"?><r><SoDinhDanh>"
        "********2345</SoDinhDanh>"
        "<ChiTiet>Lá******</ChiTiet></r>\","
        "\"SoDinhDanh\":\"********2345\",\"Khac\":\"<r/>\",\"N\":null}";

    prof = mask_profile("KetQua xml; N xml; SoDinhDanh keep_last=4; "
                        "DanToc remove; ChiTiet keep_first=2;");

    out = mask_run(prof, key, in, &st);
    assert_int_equal(st, NGSP_MASK_OK);
    assert_string_equal(out, want);

    /* the same however the JSON is cut */
    len = strlen(in);
    for (n = 0; n <= len; n++) {
        cut = mask_run_cuts(prof, key, (const unsigned char *) in, len, &n,
                            1, 0, 0, &st, NULL);
        assert_int_equal(st, NGSP_MASK_OK);
        assert_string_equal(cut, want);
        free(cut);
    }

    free(out);

    /* a string that is not XML fails the response, nothing leaks */
    out = mask_run(prof, key, "{\"A\":1,\"KetQua\":\"<r><SoDinhDanh>"
                   "001099012345</SoDinhDanh>\"}", &st);
    assert_int_equal(st, NGSP_MASK_ERR_TRUNCATED);
    assert_null(strstr(out, "0010990"));
    free(out);

    out = mask_run(prof, key, "{\"KetQua\":\"<!DOCTYPE r><r/>\"}", &st);
    assert_int_equal(st, NGSP_MASK_ERR_SYNTAX);
    free(out);

    ngsp_mask_profile_free(prof);

    /* inside an XML document the action has nothing to parse: "***" */
    expect("X xml;", "<r><X>a</X><X a=\"1\"/></r>",
           "<r><X>***</X><X a=\"***\"/></r>");
}


/* the filter's one interface over both rewriters */
static void
test_body(void **state)
{
    mask_sink_t              sink;
    ngsp_mask_body_t        *s;
    ngsp_mask_profile_t     *prof;
    ngsp_mask_stream_conf_t  conf;

    prof = mask_profile("SoDinhDanh keep_last=4;");
    memset(&sink, 0, sizeof(sink));
    conf.profile = prof;
    conf.key = key;
    conf.max_depth = 0;
    conf.max_value = 0;
    conf.out = mask_sink_out;
    conf.data = &sink;

    s = ngsp_mask_body_new(NGSP_MASK_SYNTAX_XML, &conf);
    assert_int_equal(ngsp_mask_body_syntax_of(s), NGSP_MASK_SYNTAX_XML);
    assert_int_equal(ngsp_mask_body_feed(s,
        (const unsigned char *) "<r><SoDinhDanh>001099012345</SoDinhDanh>",
        40), NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_finish(s), NGSP_MASK_ERR_TRUNCATED);
    assert_string_equal(ngsp_mask_body_reason(s), "truncated document");
    assert_int_equal(ngsp_mask_body_masked(s), 1);
    assert_int_equal(ngsp_mask_body_offset(s), 40);
    assert_string_equal((char *) sink.buf,
                        "<r><SoDinhDanh>********2345</SoDinhDanh>");
    ngsp_mask_body_free(s);

    free(sink.buf);
    memset(&sink, 0, sizeof(sink));

    s = ngsp_mask_body_new(NGSP_MASK_SYNTAX_JSON, &conf);
    assert_int_equal(ngsp_mask_body_feed(s,
        (const unsigned char *) "{\"SoDinhDanh\":\"001099012345\"}", 29),
        NGSP_MASK_OK);
    assert_int_equal(ngsp_mask_body_finish(s), NGSP_MASK_OK);
    assert_string_equal(ngsp_mask_body_reason(s), "ok");
    assert_int_equal(ngsp_mask_body_masked(s), 1);
    assert_string_equal((char *) sink.buf,
                        "{\"SoDinhDanh\":\"********2345\"}");
    ngsp_mask_body_free(s);

    free(sink.buf);
    ngsp_mask_profile_free(prof);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_fixture_basic),
        cmocka_unit_test(test_fixture_allow_list),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_entities_cdata),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_self_closing_and_structure),
        cmocka_unit_test(test_comments_pi_decl),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_text_bound),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_split_invariance),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_output_failure),
        cmocka_unit_test(test_bounded_memory),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_xml_action_in_json),
        cmocka_unit_test(test_body),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
