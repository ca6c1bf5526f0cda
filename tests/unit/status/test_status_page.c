/*
 * cmocka tests of the dashboard page: the C string is the page's source as
 * it stands (tools/gen-status-page has run), the page loads nothing from
 * elsewhere and writes no markup from data, and its Content-Security-Policy
 * lists the hashes of its script and style.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngsp_status_page.h"


#define PAGE_SOURCE  "../../ngx_module/status/ngsp_status_page.html"


static char *
read_source(size_t *len)
{
    FILE  *f;
    long   n;
    char  *buf;

    f = fopen(PAGE_SOURCE, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot read %s (run from tests/unit)\n",
                PAGE_SOURCE);
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);
    buf[n] = '\0';
    *len = n;

    return buf;
}


static size_t
count(const char *hay, const char *needle)
{
    size_t       n;
    const char  *p;

    n = 0;
    for (p = strcasestr(hay, needle); p; p = strcasestr(p + 1, needle)) {
        n++;
    }

    return n;
}


static void
test_page_is_its_source(void **state)
{
    char    *src;
    size_t   len = 0;

    src = read_source(&len);
    assert_non_null(src);

    if (len != ngsp_status_page_len
        || memcmp(src, ngsp_status_page, len) != 0)
    {
        fprintf(stderr, "ngsp_status_page.c differs from %s: "
                "run tools/gen-status-page\n", PAGE_SOURCE);
        fail();
    }

    /* served by length: no NUL inside, and one after it */
    assert_int_equal(strlen(ngsp_status_page), ngsp_status_page_len);

    free(src);
}


static void
test_page_is_self_contained(void **state)
{
    size_t        i;
    const char   *p;
    regex_t       re;
    regmatch_t    m;

    /* nothing fetched from elsewhere: no URL, no element that loads one */
    static const char  *remote[] = {
        "http:", "https:", "data:", "blob:", "javascript:", "//", "src=", "href", "url(", "@import", "<link",
        "<img", "<iframe", "<frame", "<object", "<embed", "<base", "<form",
        "<svg", "<audio", "<video", "<source"
    };

    /* no markup from data: text goes through textContent and setAttribute
       only, and no string becomes code */
    static const char  *sinks[] = {
        "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
        "createContextualFragment", "DOMParser", "srcdoc", "eval(",
        "Function(", "setTimeout(\"", "import("
    };

    for (i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
        if (strcasestr(ngsp_status_page, remote[i]) != NULL) {
            fprintf(stderr, "the page holds \"%s\"\n", remote[i]);
            fail();
        }
    }

    for (i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++) {
        if (strstr(ngsp_status_page, sinks[i]) != NULL) {
            fprintf(stderr, "the page uses \"%s\"\n", sinks[i]);
            fail();
        }
    }

    /* one script and one style element, both inline */
    assert_int_equal(count(ngsp_status_page, "<script"), 1);
    assert_int_equal(count(ngsp_status_page, "<script>"), 1);
    assert_int_equal(count(ngsp_status_page, "</script"), 1);
    assert_int_equal(count(ngsp_status_page, "<style"), 1);
    assert_int_equal(count(ngsp_status_page, "<style>"), 1);
    assert_int_equal(count(ngsp_status_page, "style="), 0);

    /* no inline event handler in the markup (the policy forbids them) */
    assert_int_equal(regcomp(&re, "[[:space:]]on[a-z]+[[:space:]]*=",
                             REG_EXTENDED | REG_ICASE), 0);
    p = strcasestr(ngsp_status_page, "<script>");
    assert_non_null(p);
    {
        size_t  head = p - ngsp_status_page;
        char   *markup = strndup(ngsp_status_page, head);

        assert_non_null(markup);
        if (regexec(&re, markup, 1, &m, 0) == 0) {
            fprintf(stderr, "event handler attribute at byte %ld\n",
                    (long) m.rm_so);
            fail();
        }
        free(markup);
    }
    regfree(&re);

    /* the JSON is read from the page's own location, whatever its query */
    assert_non_null(strstr(ngsp_status_page,
                           "location.pathname + \"?format=json\""));
}


/* the CSP source of an element's text: 'sha256-<base64 of its digest>' */
static void
element_hash(const char *tag, char *out, size_t size)
{
    char           open[32], close[32];
    const char    *b, *e;
    unsigned char  md[32];
    unsigned int   mdlen;
    unsigned char  b64[64];

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);

    b = strstr(ngsp_status_page, open);
    assert_non_null(b);
    b += strlen(open);
    e = strstr(b, close);
    assert_non_null(e);

    assert_int_equal(EVP_Digest(b, e - b, md, &mdlen, EVP_sha256(), NULL),
                     1);
    assert_int_equal(mdlen, 32);
    assert_int_equal(EVP_EncodeBlock(b64, md, 32), 44);

    snprintf(out, size, "%s-src 'sha256-%s'",
             strcmp(tag, "script") == 0 ? "script" : "style", b64);
}


static void
test_page_policy_pins_script_and_style(void **state)
{
    char         want[128];
    const char  *meta, *end;
    size_t       i;

    static const char  *tags[] = { "script", "style" };
    static const char   meta_open[] =
        "<meta http-equiv=\"Content-Security-Policy\" content=\"";

    meta = strstr(ngsp_status_page, meta_open);
    assert_non_null(meta);
    meta += sizeof(meta_open) - 1;
    end = strchr(meta, '"');
    assert_non_null(end);
    assert_true(end < strstr(ngsp_status_page, "<style>"));

    assert_non_null(strstr(meta, "default-src 'none';"));
    assert_non_null(strstr(meta, "connect-src 'self';"));
    assert_true(strstr(meta, "unsafe") == NULL || strstr(meta, "unsafe")
                > end);

    for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        element_hash(tags[i], want, sizeof(want));
        if (strstr(meta, want) == NULL || strstr(meta, want) > end) {
            fprintf(stderr, "the page's <meta> policy must list: %s\n"
                    "edit %s, then run tools/gen-status-page\n",
                    want, PAGE_SOURCE);
            fail();
        }
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_is_its_source),
        cmocka_unit_test(test_page_is_self_contained),
        cmocka_unit_test(test_page_policy_pins_script_and_style),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
