/*
 * ngsp audit URI: pseudonymising the identifiers of a request URI.
 */

#include <stdlib.h>
#include <string.h>

#include "ngsp_audit_uri.h"


/* a part of the path to replace, in raw and in decoded offsets */
typedef struct {
    size_t   raw_start;
    size_t   raw_end;
    size_t   dec_start;
    size_t   dec_end;
} ngsp_audit_span_t;


static const ngsp_mask_action_t  ngsp_audit_hash_action = {
    NGSP_MASK_HASH, 0, NULL, 0
};


static int
ngsp_audit_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


size_t
ngsp_audit_decode(const unsigned char *in, size_t len, int plus,
    unsigned char *out, size_t *map)
{
    int     hi, lo;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; /* void */) {

        if (map) {
            map[n] = i;
        }

        if (in[i] == '%' && len - i > 2) {
            hi = ngsp_audit_hex(in[i + 1]);
            lo = ngsp_audit_hex(in[i + 2]);

            if (hi >= 0 && lo >= 0) {
                out[n++] = (unsigned char) (hi << 4 | lo);
                i += 3;
                continue;
            }
        }

        out[n++] = (plus && in[i] == '+') ? ' ' : in[i];
        i++;
    }

    if (map) {
        map[n] = len;
    }

    return n;
}


static int
ngsp_audit_name_is(const ngsp_audit_rules_t *rules, const unsigned char *s,
    size_t len)
{
    size_t  i, k;

    for (i = 0; i < rules->nargs; i++) {
        if (rules->args[i].len != len) {
            continue;
        }

        for (k = 0; k < len; k++) {
            unsigned char a = s[k], b = rules->args[i].data[k];

            if (a >= 'A' && a <= 'Z') {
                a |= 0x20;
            }

            if (b >= 'A' && b <= 'Z') {
                b |= 0x20;
            }

            if (a != b) {
                break;
            }
        }

        if (k == len) {
            return 1;
        }
    }

    return 0;
}


static int
ngsp_audit_span_cmp(const void *one, const void *two)
{
    const ngsp_audit_span_t  *a = one, *b = two;

    if (a->raw_start != b->raw_start) {
        return a->raw_start < b->raw_start ? -1 : 1;
    }

    return 0;
}


/* the pseudonym of dec[0..len), kept with the values replaced */
static unsigned char *
ngsp_audit_put(const ngsp_audit_rules_t *rules, ngsp_audit_result_t *res,
    const unsigned char *dec, size_t dec_len, const unsigned char *raw,
    size_t raw_len, ngsp_audit_alloc_pt alloc, void *pool, unsigned char *o)
{
    size_t            n;
    unsigned char    *h;
    ngsp_audit_id_t  *id;

    h = alloc(pool, NGSP_AUDIT_HASH_LEN);
    if (h == NULL) {
        return NULL;
    }

    n = ngsp_mask_action_apply(&ngsp_audit_hash_action, rules->key, dec,
                               dec_len, h);

    id = &res->ids[res->nids++];
    id->dec = dec;
    id->dec_len = dec_len;
    id->raw = raw;
    id->raw_len = raw_len;
    id->hash = h;
    id->hash_len = n;

    memcpy(o, h, n);

    return o + n;
}


int
ngsp_audit_uri(const ngsp_audit_rules_t *rules, const unsigned char *uri,
    size_t len, ngsp_audit_alloc_pt alloc, void *pool,
    ngsp_audit_result_t *res)
{
    int                   *caps, rc, g;
    size_t                 plen, dlen, i, k, nspans, maxspans, nargs, n;
    size_t                *map, maxcaps;
    unsigned char         *dec, *o, *vdec;
    const unsigned char   *q, *end, *a, *amp, *eq, *p;
    ngsp_audit_span_t     *spans, *s, *last;

    memset(res, 0, sizeof(ngsp_audit_result_t));

    q = memchr(uri, '?', len);
    plen = q ? (size_t) (q - uri) : len;
    end = uri + len;

    /* every value replaced grows by at most a pseudonym */
    maxcaps = 0;
    maxspans = 0;

    for (i = 0; i < rules->npatterns; i++) {
        maxspans += rules->patterns[i].captures;
        if (rules->patterns[i].captures > maxcaps) {
            maxcaps = rules->patterns[i].captures;
        }
    }

    nargs = 0;

    if (q && rules->nargs) {
        for (p = q + 1; p < end; p++) {
            nargs += (*p == '&');
        }

        nargs++;
    }

    res->ids = alloc(pool, (maxspans + nargs + 1) * sizeof(ngsp_audit_id_t));
    o = alloc(pool, len + (maxspans + nargs) * NGSP_AUDIT_HASH_LEN + 1);

    if (res->ids == NULL || o == NULL) {
        return -1;
    }

    res->data = o;

    /* the path: decoded once, matched by each pattern */

    nspans = 0;
    spans = NULL;
    dec = NULL;
    map = NULL;

    if (rules->npatterns) {
        dec = alloc(pool, plen + 1);
        map = alloc(pool, (plen + 1) * sizeof(size_t));
        caps = alloc(pool, 2 * (maxcaps + 1) * sizeof(int));
        spans = alloc(pool, (maxspans + 1) * sizeof(ngsp_audit_span_t));

        if (dec == NULL || map == NULL || caps == NULL || spans == NULL) {
            return -1;
        }

        dlen = ngsp_audit_decode(uri, plen, 0, dec, map);

        for (i = 0; i < rules->npatterns; i++) {
            const ngsp_audit_pattern_t  *pt = &rules->patterns[i];

            rc = pt->match(pt->re, dec, dlen, caps, pt->captures + 1);
            if (rc < 0) {
                return -1;
            }

            for (g = 1; g < rc && (size_t) g <= pt->captures; g++) {
                if (caps[2 * g] < 0 || caps[2 * g + 1] <= caps[2 * g]
                    || (size_t) caps[2 * g + 1] > dlen)
                {
                    continue;
                }

                s = &spans[nspans++];
                s->dec_start = caps[2 * g];
                s->dec_end = caps[2 * g + 1];
                s->raw_start = map[s->dec_start];
                s->raw_end = map[s->dec_end];
            }
        }

        qsort(spans, nspans, sizeof(ngsp_audit_span_t), ngsp_audit_span_cmp);

        /* overlapping captures are one value */
        k = 0;
        for (i = 0; i < nspans; i++) {
            last = k ? &spans[k - 1] : NULL;

            if (last && spans[i].raw_start < last->raw_end) {
                if (spans[i].raw_end > last->raw_end) {
                    last->raw_end = spans[i].raw_end;
                    last->dec_end = spans[i].dec_end;
                }
                continue;
            }

            spans[k++] = spans[i];
        }

        nspans = k;
    }

    p = uri;

    for (i = 0; i < nspans; i++) {
        s = &spans[i];

        memcpy(o, p, uri + s->raw_start - p);
        o += uri + s->raw_start - p;

        o = ngsp_audit_put(rules, res, dec + s->dec_start,
                           s->dec_end - s->dec_start, uri + s->raw_start,
                           s->raw_end - s->raw_start, alloc, pool, o);
        if (o == NULL) {
            return -1;
        }

        p = uri + s->raw_end;
    }

    memcpy(o, p, uri + plen - p);
    o += uri + plen - p;

    if (q == NULL) {
        res->len = o - res->data;
        return 0;
    }

    /* the query: each argument by its decoded name */

    *o++ = '?';

    for (a = q + 1; a <= end; a = amp + 1) {
        amp = memchr(a, '&', end - a);
        if (amp == NULL) {
            amp = end;
        }

        eq = rules->nargs ? memchr(a, '=', amp - a) : NULL;

        if (eq && eq + 1 < amp) {
            vdec = alloc(pool, amp - a);
            if (vdec == NULL) {
                return -1;
            }

            n = ngsp_audit_decode(a, eq - a, 1, vdec, NULL);

            if (ngsp_audit_name_is(rules, vdec, n)) {
                memcpy(o, a, eq + 1 - a);
                o += eq + 1 - a;

                n = ngsp_audit_decode(eq + 1, amp - eq - 1, 1, vdec, NULL);

                o = ngsp_audit_put(rules, res, vdec, n, eq + 1,
                                   amp - eq - 1, alloc, pool, o);
                if (o == NULL) {
                    return -1;
                }

                goto next;
            }
        }

        memcpy(o, a, amp - a);
        o += amp - a;

    next:

        if (amp < end) {
            *o++ = '&';
        }
    }

    res->len = o - res->data;

    return 0;
}


/* the pseudonym of ids that starts s[0..len): its index, or nids */
static size_t
ngsp_audit_hash_at(const ngsp_audit_id_t *ids, size_t nids,
    const unsigned char *s, size_t len)
{
    size_t  k;

    for (k = 0; k < nids; k++) {
        if (ids[k].hash_len <= len
            && memcmp(s, ids[k].hash, ids[k].hash_len) == 0)
        {
            return k;
        }
    }

    return nids;
}


/*
 * What starts s[0..len): a pseudonym, which stays as it is, or else the
 * longest value that does not run into a pseudonym (so a short value
 * never cuts into one).  Its index, or nids.
 */
static size_t
ngsp_audit_find(const ngsp_audit_id_t *ids, size_t nids,
    const unsigned char *s, size_t len, size_t *found)
{
    size_t                  j, k, n, best;
    const ngsp_audit_id_t  *id;
    const unsigned char    *text[2];
    size_t                  tlen[2];

    k = ngsp_audit_hash_at(ids, nids, s, len);

    if (k < nids) {
        *found = ids[k].hash_len;
        return k;
    }

    best = nids;
    *found = 0;

    for (k = 0; k < nids; k++) {
        id = &ids[k];

        text[0] = id->dec;
        tlen[0] = id->dec_len;
        text[1] = id->raw;
        tlen[1] = id->raw_len;

        for (n = 0; n < 2; n++) {
            if (tlen[n] <= *found || tlen[n] > len
                || memcmp(s, text[n], tlen[n]) != 0)
            {
                continue;
            }

            for (j = 1; j < tlen[n]; j++) {
                if (ngsp_audit_hash_at(ids, nids, s + j, len - j) < nids) {
                    break;
                }
            }

            if (j == tlen[n]) {
                best = k;
                *found = tlen[n];
            }
        }
    }

    return best;
}


int
ngsp_audit_scrub(const ngsp_audit_id_t *ids, size_t nids,
    const unsigned char *s, size_t len, ngsp_audit_alloc_pt alloc, void *pool,
    unsigned char **out, size_t *out_len)
{
    int             pass;
    size_t          i, k, n, size;
    unsigned char  *o;

    o = NULL;
    size = 0;

    /* the first pass measures, the second writes */
    for (pass = 0; pass < 2; pass++) {
        n = 0;

        for (i = 0; i < len; /* void */) {
            k = ngsp_audit_find(ids, nids, s + i, len - i, &size);

            if (size) {
                if (o) {
                    memcpy(o + n, ids[k].hash, ids[k].hash_len);
                }

                n += ids[k].hash_len;
                i += size;
                continue;
            }

            if (o) {
                o[n] = s[i];
            }

            n++;
            i++;
        }

        if (pass == 0) {
            o = alloc(pool, n + 1);
            if (o == NULL) {
                return -1;
            }
        }
    }

    *out = o;
    *out_len = n;

    return 0;
}
