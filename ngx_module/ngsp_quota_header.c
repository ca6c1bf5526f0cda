/*
 * RateLimit-Policy and RateLimit as Structured Field lists
 * (draft-ietf-httpapi-ratelimit-headers-10): one item per window, named
 * "<policy>-<unit>".  Policy names are restricted to characters that need
 * no escaping in an sf-string.
 */

#include <stdio.h>

#include "ngsp_quota.h"


typedef enum {
    NGSP_QUOTA_FMT_POLICY,
    NGSP_QUOTA_FMT_STATE
} ngsp_quota_fmt_t;


static size_t
ngsp_quota_fmt(char *buf, size_t size, const char *policy,
    const ngsp_quota_decision_t *d, ngsp_quota_fmt_t what)
{
    int                        n;
    size_t                     i, len;
    const ngsp_quota_state_t  *s;

    len = 0;

    for (i = 0; i < d->nwindows; i++) {
        s = &d->windows[i];

        if (what == NGSP_QUOTA_FMT_POLICY) {
            n = snprintf(buf + len, size - len, "%s\"%s-%s\";q=%lld;w=%lld",
                         i ? ", " : "", policy, ngsp_quota_unit_name(s->unit),
                         (long long) s->limit, (long long) s->width);

        } else {
            n = snprintf(buf + len, size - len, "%s\"%s-%s\";r=%lld;t=%lld",
                         i ? ", " : "", policy, ngsp_quota_unit_name(s->unit),
                         (long long) s->remaining, (long long) s->reset);
        }

        if (n < 0 || (size_t) n >= size - len) {
            return 0;
        }

        len += n;
    }

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
