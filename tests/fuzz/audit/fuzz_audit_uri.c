/*
 * libFuzzer target for the audit URI engine.  The input is a request URI
 * pseudonymised under fixed rules (the path pattern "^/c/([0-9]+)", the
 * arguments "id" and "cccd").  Besides "no crash":
 *
 *   - the output keeps the query's shape: as many '&';
 *   - every argument named by the rules (decoded, without regard to
 *     case) with a value has a pseudonym as its value: 64 hex digits,
 *     and every value replaced is such a pseudonym;
 *   - scrubbing the output with its values keeps every pseudonym whole,
 *     and with nothing replaced leaves the text as it is.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_util.h"


static ngsp_mask_key_t       *key;
static regex_t                re;
static ngsp_audit_pattern_t   pat;
static ngsp_audit_str_t       names[2] = {
    { (const unsigned char *) "id", 2 },
    { (const unsigned char *) "cccd", 4 },
};


static int
is_hash(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len != NGSP_AUDIT_HASH_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


static int
named(const unsigned char *s, size_t len)
{
    size_t          i, k, n;
    unsigned char  *d;
    int             hit = 0;

    d = malloc(len + 1);
    n = ngsp_audit_decode(s, len, 1, d, NULL);

    for (i = 0; i < 2; i++) {
        if (names[i].len != n) {
            continue;
        }

        for (k = 0; k < n; k++) {
            unsigned char c = d[k];

            if (c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            if (c != names[i].data[k]) {
                break;
            }
        }

        hit |= (k == n);
    }

    free(d);

    return hit;
}


/* the '&'-separated arguments after the first '?' */
static size_t
count(const unsigned char *s, size_t len, unsigned char c)
{
    size_t                n = 0;
    const unsigned char  *q = memchr(s, '?', len), *p;

    if (q == NULL) {
        return (size_t) -1;
    }

    for (p = q + 1; p < s + len; p++) {
        n += (*p == c);
    }

    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                i, n;
    unsigned char        *s;
    audit_arena_t         arena = { 0 };
    ngsp_audit_rules_t    rules;
    ngsp_audit_result_t   r;
    const unsigned char  *q, *a, *amp, *eq, *end;

    if (key == NULL) {
        key = ngsp_mask_key_new((const unsigned char *)
                                "fuzz-key-fuzz-key-fuzz-key-fuzz-key", 35);
        if (audit_pattern(&pat, &re, "^/c/([0-9]+)") != 0) {
            abort();
        }
    }

    rules.patterns = &pat;
    rules.npatterns = 1;
    rules.args = names;
    rules.nargs = 2;
    rules.key = key;

    if (ngsp_audit_uri(&rules, data, size, audit_alloc, &arena, &r) != 0) {
        abort();
    }

    if (count(data, size, '&') != count(r.data, r.len, '&')) {
        abort();
    }

    q = memchr(r.data, '?', r.len);

    if (q) {
        end = r.data + r.len;

        for (a = q + 1; a <= end; a = amp + 1) {
            amp = memchr(a, '&', end - a);
            amp = amp ? amp : end;
            eq = memchr(a, '=', amp - a);

            if (eq && eq + 1 < amp && named(a, eq - a)
                && !is_hash(eq + 1, amp - eq - 1))
            {
                abort();
            }
        }
    }

    /* values are replaced by hex digits only */
    for (n = 0; n < r.nids; n++) {
        if (!is_hash(r.ids[n].hash, r.ids[n].hash_len)) {
            abort();
        }
    }

    if (ngsp_audit_scrub(r.ids, r.nids, r.data, r.len, audit_alloc, &arena,
                         &s, &n)
        != 0)
    {
        abort();
    }

    /* pseudonyms stay whole whatever the values */
    for (i = 0; i < r.nids; i++) {
        if (memmem(s, n, r.ids[i].hash, r.ids[i].hash_len) == NULL) {
            abort();
        }
    }

    if (r.nids == 0 && (n != r.len || memcmp(s, r.data, n) != 0)) {
        abort();
    }

    audit_arena_free(&arena);

    return 0;
}
