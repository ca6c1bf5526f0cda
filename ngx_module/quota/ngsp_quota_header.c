/*
 * RateLimit-Policy and RateLimit as Structured Field lists
 * (draft-ietf-httpapi-ratelimit-headers-10): one item per window, named
 * "<policy>-<unit>".  Policy names are restricted to characters that need
 * no escaping in an sf-string.
 */

#include <string.h>

#include "ngsp_quota.h"


typedef enum {
    NGSP_QUOTA_FMT_POLICY,
    NGSP_QUOTA_FMT_STATE
} ngsp_quota_fmt_t;


/*
 * Appends to buf what fits; *len past size means it did not fit.  Written
 * by hand: snprintf cost more than the rest of a quota decision in nginx.
 */
static void
ngsp_quota_put(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len + n <= size) {
        memcpy(buf + *len, s, n);
    }

    *len += n;
}


char *
ngsp_quota_dec(char *end, uint64_t v)
{
    do {
        *--end = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    return end;
}


static void
ngsp_quota_put_num(char *buf, size_t size, size_t *len, int64_t v)
{
    char  num[NGSP_QUOTA_DEC_MAX + 1], *q;

    q = ngsp_quota_dec(num + sizeof(num),
                       v < 0 ? 0 - (uint64_t) v : (uint64_t) v);

    if (v < 0) {
        *--q = '-';
    }

    ngsp_quota_put(buf, size, len, q, num + sizeof(num) - q);
}


static size_t
ngsp_quota_fmt(char *buf, size_t size, const char *policy,
    const ngsp_quota_decision_t *d, ngsp_quota_fmt_t what)
{
    size_t                     i, len, plen;
    const char                *unit;
    const ngsp_quota_state_t  *s;

    len = 0;
    plen = strlen(policy);

    for (i = 0; i < d->nwindows; i++) {
        s = &d->windows[i];
        unit = ngsp_quota_unit_name(s->unit);

        if (i) {
            ngsp_quota_put(buf, size, &len, ", ", 2);
        }

        ngsp_quota_put(buf, size, &len, "\"", 1);
        ngsp_quota_put(buf, size, &len, policy, plen);
        ngsp_quota_put(buf, size, &len, "-", 1);
        ngsp_quota_put(buf, size, &len, unit, strlen(unit));

        if (what == NGSP_QUOTA_FMT_POLICY) {
            ngsp_quota_put(buf, size, &len, "\";q=", 4);
            ngsp_quota_put_num(buf, size, &len, s->limit);
            ngsp_quota_put(buf, size, &len, ";w=", 3);
            ngsp_quota_put_num(buf, size, &len, s->width);

        } else {
            ngsp_quota_put(buf, size, &len, "\";r=", 4);
            ngsp_quota_put_num(buf, size, &len, s->remaining);
            ngsp_quota_put(buf, size, &len, ";t=", 3);
            ngsp_quota_put_num(buf, size, &len, s->reset);
        }
    }

    /* room for the NUL too, as snprintf needed; never a cut field */
    if (len >= size) {
        return 0;
    }

    buf[len] = '\0';

    return len;
}


size_t
ngsp_quota_fmt_policy(char *buf, size_t size, const char *policy,
    const ngsp_quota_decision_t *d)
{
    return ngsp_quota_fmt(buf, size, policy, d, NGSP_QUOTA_FMT_POLICY);
}


size_t
ngsp_quota_fmt_ratelimit(char *buf, size_t size, const char *policy,
    const ngsp_quota_decision_t *d)
{
    return ngsp_quota_fmt(buf, size, policy, d, NGSP_QUOTA_FMT_STATE);
}
