/*
 * libFuzzer target for the streaming JSON rewriter.  The first byte picks
 * the profile (default pass or allow-list), whether short spans are staged
 * (ngsp_mask_body_copy_spans()) and how the rest is cut into feeds.
 * Besides "no crash":
 *
 *   - the output is the same for one feed and for the cut feeds;
 *   - when the input is valid JSON (jansson, an independent parser), the
 *     output is valid JSON and UTF-8, unless a limit was hit;
 *   - a key or string longer than max_value (decoded) is refused, whatever
 *     the profile does with it; an input no longer than max_value never
 *     hits that limit;
 *   - nothing the profile masks survives: no member "R" (remove), every
 *     "S" (redact) is "***", every "K" (keep_last=2) has only '*' before
 *     its last two characters (except "S" right under "N": N.S pass).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mask_util.h"


#define MAX_VALUE  256

static ngsp_mask_profile_t  *profiles[2];
static ngsp_mask_key_t      *key;


/* the longest key or string in the tree, in decoded bytes */
static size_t
longest(json_t *v)
{
    size_t       i, n, m;
    json_t      *e;
    const char  *name;

    if (json_is_string(v)) {
        return json_string_length(v);
    }

    m = 0;

    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++) {
            n = longest(json_array_get(v, i));
            m = n > m ? n : m;
        }

    } else if (json_is_object(v)) {
        json_object_foreach(v, name, e) {
            n = strlen(name);
            m = n > m ? n : m;
            n = longest(e);
            m = n > m ? n : m;
        }
    }

    return m;
}


static void
check_tree(json_t *v)
{
    size_t       i, n, cp, k;
    json_t      *m;
    const char  *name, *s;

    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++) {
            check_tree(json_array_get(v, i));
        }
        return;
    }

    if (!json_is_object(v)) {
        return;
    }

    json_object_foreach(v, name, m) {
        if (strcmp(name, "R") == 0) {
            abort();
        }

        if (strcmp(name, "S") == 0
            && !(json_is_string(m) && strcmp(json_string_value(m), "***") == 0))
        {
            abort();
        }

        if (strcmp(name, "K") == 0 && json_is_string(m)) {
            s = json_string_value(m);
            n = json_string_length(m);
            /* code points before the last two must all be '*' */
            for (cp = 0, i = 0; i < n; i++) {
                cp += ((unsigned char) s[i] & 0xc0) != 0x80;
            }
            for (k = 0, i = 0; i < n && k + 2 < cp; i++) {
                if (((unsigned char) s[i] & 0xc0) != 0x80) {
                    if (s[i] != '*') {
                        abort();
                    }
                    k++;
                }
            }
        }

        /* "K" is masked whole; N.S pass and P.K hash are other rules */
        if (strcmp(name, "K") != 0 && strcmp(name, "N") != 0
            && strcmp(name, "P") != 0)
        {
            check_tree(m);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *one, *cut;
    size_t                ncuts, len, cuts[64];
    json_t               *in, *out;
    unsigned              seed;
    const uint8_t        *doc;
    ngsp_mask_status_t    st1, st2;
    ngsp_mask_profile_t  *p;

    if (profiles[0] == NULL) {
        profiles[0] = mask_profile("S redact; R remove; K keep_last=2; "
                                   "P.K hash; H initials; N.S pass;");
        profiles[1] = mask_profile("S redact; R remove; K keep_last=2; "
                                   "A pass; O year; default remove;");
        key = ngsp_mask_key_new((const unsigned char *) "fuzz", 4);
    }

    if (size < 1) {
        return 0;
    }

    p = profiles[data[0] & 1];
    seed = data[0] >> 1;
    doc = data + 1;
    len = size - 1;

    /* in one feed, the rewriter's fast paths; with short spans staged
     * (as for Lua) or not */
    mask_span_copy = (data[0] & 0x80) ? 64 : 0;
    one = mask_run_cuts(p, key, doc, len, NULL, 0, 32, MAX_VALUE, &st1,
                        NULL);
    mask_span_copy = 0;

    ncuts = mask_seeded_cuts(seed, len, cuts, sizeof(cuts) / sizeof(cuts[0]));

    cut = mask_run_cuts(p, key, doc, len, cuts, ncuts, 32, MAX_VALUE, &st2,
                        NULL);

    if (st1 == NGSP_MASK_OK && (st2 != NGSP_MASK_OK || strcmp(one, cut) != 0))
    {
        abort();
    }

    /* nothing in a short input can be too long, split or not */
    if (len <= MAX_VALUE
        && (st1 == NGSP_MASK_ERR_VALUE || st2 == NGSP_MASK_ERR_VALUE))
    {
        abort();
    }

    /* jansson takes a raw NUL for the end of input; JSON never has one */
    in = memchr(doc, 0, len) ? NULL
         : json_loadb((const char *) doc, len,
                      JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    if (in != NULL) {
        /* passed or not, a value over the limit never goes through */
        if (longest(in) > MAX_VALUE
            && (st1 == NGSP_MASK_OK || st2 == NGSP_MASK_OK))
        {
            abort();
        }

        if (st1 == NGSP_MASK_OK) {
            out = json_loads(one, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            if (out == NULL) {
                abort();
            }
            check_tree(out);
            json_decref(out);

        } else if (st1 != NGSP_MASK_ERR_DEPTH && st1 != NGSP_MASK_ERR_VALUE) {
            abort();
        }

        json_decref(in);
    }

    free(one);
    free(cut);

    return 0;
}
