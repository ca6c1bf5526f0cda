/*
 * libFuzzer target for the quota engine.  The first byte picks what the
 * rest is: a policy line ("name 20r/s 1000r/d"), an agency (its hash tag
 * and keys), a time zone, or a script reply (then formatted as fields).
 * Besides "no crash": a tag never holds a brace, space or control byte,
 * and two different agencies never get the same tag.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngsp_quota.h"


static void
fuzz_policy(const char *s, size_t n)
{
    size_t               i, start;
    char                 err[256], buf[640];
    ngsp_quota_policy_t  p;

    for (i = 0; i < n && s[i] != ' '; i++) { /* void */ }

    if (ngsp_quota_policy_init(&p, s, i, err, sizeof(err)) != 0) {
        return;
    }

    while (i < n) {
        start = ++i;
        while (i < n && s[i] != ' ') {
            i++;
        }
        if (ngsp_quota_policy_add(&p, s + start, i - start, err,
                                  sizeof(err)) != 0)
        {
            return;
        }
        if (p.nwindows > NGSP_QUOTA_MAX_WINDOWS) {
            abort();
        }
    }

    for (i = 1; i < p.nwindows; i++) {
        if (p.windows[i - 1].unit >= p.windows[i].unit) {
            abort();
        }
    }

    (void) buf;
}


static void
fuzz_agency(const unsigned char *s, size_t n)
{
    size_t  len, half, i;
    char    a[NGSP_QUOTA_TAG_MAX + 1], b[NGSP_QUOTA_TAG_MAX + 1];
    char    k[NGSP_QUOTA_KEY_MAX];

    len = ngsp_quota_tag(s, n, a);
    if (n && len == 0) {
        abort();
    }

    for (i = 0; i < len; i++) {
        if (a[i] == '{' || a[i] == '}' || a[i] <= ' ' || a[i] > '~') {
            abort();
        }
    }

    if (len) {
        ngsp_quota_limits_key(a, len, k);
        ngsp_quota_state_key(a, len, "p", k);
        if (strchr(k, '{') != strrchr(k, '{') || strchr(k, '}') == NULL) {
            abort();
        }
    }

    /* split in two agencies: equal tags only for equal bytes */
    half = n / 2;
    if (half && ngsp_quota_tag(s, half, a) && ngsp_quota_tag(s + half,
                                                             n - half, b))
    {
        if (strcmp(a, b) == 0
            && (half != n - half || memcmp(s, s + half, half) != 0))
        {
            abort();
        }
    }
}


static void
fuzz_reply(const uint8_t *s, size_t n)
{
    size_t                 i;
    long                   tz;
    char                   buf[640], err[256];
    double                 f, level[NGSP_QUOTA_MAX_WINDOWS],
                           stored[NGSP_QUOTA_MAX_WINDOWS];
    int64_t                measured, lim[NGSP_QUOTA_MAX_WINDOWS];
    unsigned char          v[NGSP_QUOTA_STATE_LEN(NGSP_QUOTA_MAX_WINDOWS)];
    ngsp_quota_policy_t    p;
    ngsp_quota_decision_t  d;

    ngsp_quota_policy_init(&p, "fuzz", 4, err, sizeof(err));
    ngsp_quota_policy_add(&p, "1r/s", 4, err, sizeof(err));
    ngsp_quota_policy_add(&p, "2r/m", 4, err, sizeof(err));
    ngsp_quota_policy_add(&p, "3r/h", 4, err, sizeof(err));
    ngsp_quota_policy_add(&p, "4r/d", 4, err, sizeof(err));
    ngsp_quota_policy_add(&p, "5r/mo", 5, err, sizeof(err));

    tz = n ? ((long) s[0] - 128) * 397 : 0;

    for (i = 0; i < p.nwindows; i++) {
        lim[i] = (int64_t) p.windows[i].limit;
    }

    /* raw bytes as they are: any length, any double, NaN and infinities */
    ngsp_quota_reply_parse(s, n, &p, tz, &d);
    ngsp_quota_state_read(s, n, &p, lim, 1800000000000000, tz, level,
                          stored, &measured);

    /* then small whole numbers, so that well-formed replies come often */
    if (n > sizeof(v) / 8) {
        n = sizeof(v) / 8;
    }

    memset(v, 0, sizeof(v));

    for (i = 0; i < n; i++) {
        f = (double) (s[i] % 2 ? s[i] : s[i] % 3);
        memcpy(v + 8 * i, &f, 8);       /* little-endian hosts only */
    }

    f = ngsp_quota_shape(&p);
    memcpy(v, &f, 8);
    f = 1800000000000000.0 + (n > 2 ? s[2] * 1000003.0 : 0);
    memcpy(v + 16, &f, 8);

    ngsp_quota_state_read(v, sizeof(v), &p, lim, 1800000000000000, tz,
                          level, stored, &measured);

    if (ngsp_quota_reply_parse(v, sizeof(v), &p, tz, &d) != 0) {
        return;
    }

    if (d.tightest >= d.nwindows) {
        abort();
    }

    for (i = 0; i < sizeof(buf); i += 97) {
        ngsp_quota_fmt_policy(buf, i + 1, p.name, &d);
        ngsp_quota_fmt_ratelimit(buf, i + 1, p.name, &d);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long  off;

    if (size == 0) {
        return 0;
    }

    switch (data[0] & 3) {

    case 0:
        fuzz_policy((const char *) data + 1, size - 1);
        break;

    case 1:
        fuzz_agency(data + 1, size - 1);
        break;

    case 2:
        if (ngsp_quota_tz_parse((const char *) data + 1, size - 1, &off) == 0
            && (off > 14 * 3600 || off < -14 * 3600))
        {
            abort();
        }
        break;

    default:
        fuzz_reply(data + 1, size - 1);
        break;
    }

    return 0;
}
