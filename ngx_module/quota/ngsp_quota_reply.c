/*
 * The quota script's reply, and its stored state, read.
 *
 * The script (ngsp_quota_script.c) replies with raw levels, the limits in
 * force and Redis's clock; what a client is told is derived here, with
 * the script's own arithmetic on doubles (Lua's numbers), so the C and
 * the Lua paths, which both call this, say exactly the same:
 *
 * - GCRA (s, m): remaining is the whole requests below the limit, reset
 *   when the bucket is empty, retry-after when one more would fit;
 * - calendar (h, d, mo): remaining is the limit less the count, reset and
 *   retry-after the window's local end, in the configured offset.
 *
 * Calendar dates are days since 1970-01-01 turned into a civil date (the
 * proleptic Gregorian calendar), the same algorithm as the script's.
 */

#include <math.h>
#include <string.h>

#include "ngsp_quota.h"


#define NGSP_QUOTA_VALUES  (5 + 2 * NGSP_QUOTA_MAX_WINDOWS)


/* Lua 5.1's a % b: the sign of b, as the script computes it */
static double
ngsp_quota_mod(double a, double b)
{
    return a - floor(a / b) * b;
}


static int64_t
ngsp_quota_fdiv(int64_t a, int64_t b)
{
    return (a - ((a % b) + b) % b) / b;
}


static double
ngsp_quota_le(const unsigned char *p)
{
    int       i;
    double    f;
    uint64_t  u;

    u = 0;

    for (i = 7; i >= 0; i--) {
        u = u << 8 | p[i];
    }

    memcpy(&f, &u, sizeof(f));

    return f;
}


/* whole numbers that a double holds exactly; NaN fails both tests */
static int
ngsp_quota_whole(double f)
{
    return f >= -9007199254740992.0 && f <= 9007199254740992.0
           && f == (double) (int64_t) f;
}


void
ngsp_quota_span(ngsp_quota_unit_t unit, int64_t now_us, long tz,
    int64_t *width, int64_t *end_us)
{
    int64_t  lt, dn, z, era, doe, yoe, doy, mp, d, m, y, ml, start, stop;

    if (unit == NGSP_QUOTA_SEC || unit == NGSP_QUOTA_MIN) {
        *width = unit == NGSP_QUOTA_SEC ? 1 : 60;
        *end_us = 0;
        return;
    }

    lt = ngsp_quota_fdiv(now_us, 1000000) + tz;
    dn = ngsp_quota_fdiv(lt, 86400);

    if (unit == NGSP_QUOTA_HOUR) {
        start = ngsp_quota_fdiv(lt, 3600) * 3600;
        stop = start + 3600;

    } else if (unit == NGSP_QUOTA_DAY) {
        start = dn * 86400;
        stop = start + 86400;

    } else {
        z = dn + 719468;
        era = ngsp_quota_fdiv(z, 146097);
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        d = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        y = yoe + era * 400 + (m <= 2);

        if (m == 2) {
            ml = (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;

        } else if (m == 4 || m == 6 || m == 9 || m == 11) {
            ml = 30;

        } else {
            ml = 31;
        }

        start = (dn - d + 1) * 86400;
        stop = start + ml * 86400;
    }

    *width = stop - start;
    *end_us = (stop - tz) * 1000000;
}


int
ngsp_quota_reply_parse(const unsigned char *s, size_t len,
    const ngsp_quota_policy_t *p, long tz, ngsp_quota_decision_t *d)
{
    int                  admit;
    size_t               i, k, n;
    double               v[NGSP_QUOTA_VALUES], now, level, limit, win,
                         step, x, rem, reset, ra, rt, retry;
    int64_t              width, end_us;
    ngsp_quota_state_t  *st, *t;
    double               after[NGSP_QUOTA_MAX_WINDOWS];

    memset(d, 0, sizeof(*d));

    n = p->nwindows;

    if (n == 0 || n > NGSP_QUOTA_MAX_WINDOWS
        || len != NGSP_QUOTA_STATE_LEN(n))
    {
        return -1;
    }

    for (k = 0; k < len / 8; k++) {
        v[k] = ngsp_quota_le(s + 8 * k);
    }

    now = v[2];

    if (v[0] != ngsp_quota_shape(p) || (v[3] != 0 && v[3] != 1)
        || !ngsp_quota_whole(now) || now < 0 || now >= 1e17)
    {
        return -1;
    }

    admit = 1;
    retry = 0;
    d->nwindows = n;

    for (i = 0; i < n; i++) {
        st = &d->windows[i];
        st->unit = p->windows[i].unit;

        level = v[5 + 2 * i];
        limit = v[6 + 2 * i];

        /* a level is at most 10^16 + 1 */
        if (!(level >= 0 && level <= 1e17) || !ngsp_quota_whole(limit)
            || limit > 1e15)
        {
            return -1;
        }

        if (limit < 0) {
            /* an override ignored: the configured limit applies */
            st->ignored = (int64_t) -limit;
            d->invalid |= 1u << i;
            limit = (double) p->windows[i].limit;
        }

        ra = 0;
        rt = 0;

        if (st->unit == NGSP_QUOTA_SEC || st->unit == NGSP_QUOTA_MIN) {
            win = st->unit == NGSP_QUOTA_SEC ? 1000000 : 60000000;
            width = (int64_t) (win / 1000000);

            if (limit > 0) {
                step = win / limit;
                x = limit - level + 1e-9;
                rem = x - ngsp_quota_mod(x, 1);
                x = level * step + 999999;
                reset = (x - ngsp_quota_mod(x, 1000000)) / 1000000;

                if (level + 1 <= limit + 1e-9) {
                    x = (level + 1) * step + 999999;
                    ra = (x - ngsp_quota_mod(x, 1000000)) / 1000000;

                } else {
                    x = (level + 1 - limit) * step + 999999;
                    rt = (x - ngsp_quota_mod(x, 1000000)) / 1000000;
                    admit = 0;
                }

            } else {
                rem = 0;
                reset = (double) width;
                rt = (double) width;
                admit = 0;
            }

        } else {
            if (!ngsp_quota_whole(level)) {
                return -1;
            }

            ngsp_quota_span(st->unit, (int64_t) now, tz, &width, &end_us);

            rem = limit - level;
            x = (double) end_us - now + 999999;
            reset = (x - ngsp_quota_mod(x, 1000000)) / 1000000;

            if (level < limit) {
                ra = reset;

            } else {
                rt = reset;
                admit = 0;
            }
        }

        if (rem < 0) {
            rem = 0;
        }

        if (rt != 0) {
            if (rt < 1) {
                rt = 1;
            }

            if (rt > retry) {
                retry = rt;
            }
        }

        st->limit = (int64_t) limit;
        st->remaining = (int64_t) rem;
        st->reset = (int64_t) reset;
        st->width = width;
        after[i] = ra;
    }

    /* the script and this arithmetic must agree on the decision */
    if (admit != (v[3] == 1)) {
        return -1;
    }

    d->allowed = admit;
    d->retry_after = admit ? 0 : (int64_t) retry;

    for (i = 0; i < n; i++) {
        st = &d->windows[i];

        if (admit) {
            st->remaining--;
            st->reset = (int64_t) after[i];
        }

        /* the tightest: least remaining, then the longest wait */
        t = &d->windows[d->tightest];
        if (st->remaining < t->remaining
            || (st->remaining == t->remaining && st->reset > t->reset))
        {
            d->tightest = i;
        }
    }

    return 0;
}


int
ngsp_quota_state_read(const unsigned char *st, size_t len,
    const ngsp_quota_policy_t *p, const int64_t *limit, int64_t now_us,
    long tz, double *level, double *stored, int64_t *measured_us)
{
    size_t   i, k, n;
    double   v[NGSP_QUOTA_VALUES], last, now, l, win;
    int64_t  width, end_now, end_then;

    n = p->nwindows;

    if (n == 0 || n > NGSP_QUOTA_MAX_WINDOWS || now_us < 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        level[i] = 0;
        stored[i] = 0;
    }

    *measured_us = 0;

    if (st == NULL || len != NGSP_QUOTA_STATE_LEN(n)) {
        return 0;
    }

    for (k = 0; k < len / 8; k++) {
        v[k] = ngsp_quota_le(st + 8 * k);
    }

    last = v[2];
    now = (double) now_us;

    /* the script's own tests: anything else is no state */
    if (v[0] != ngsp_quota_shape(p) || v[3] != 1
        || !(last >= 0 && last < 1e17))
    {
        return 0;
    }

    *measured_us = (int64_t) last;

    for (i = 0; i < n; i++) {
        l = v[5 + 2 * i];
        l = (l >= 0 && l < 1e16) ? l + 1 : 0;
        stored[i] = l;

        if (p->windows[i].unit <= NGSP_QUOTA_MIN) {
            win = p->windows[i].unit == NGSP_QUOTA_SEC ? 1000000 : 60000000;

            if (last < now) {
                l = l - (now - last) * (double) limit[i] / win;
                if (l < 0) {
                    l = 0;
                }
            }

        } else {
            ngsp_quota_span(p->windows[i].unit, now_us, tz, &width,
                            &end_now);

            if (p->windows[i].unit == NGSP_QUOTA_MONTH) {
                end_then = v[4] == (double) end_now ? end_now : -1;

            } else {
                ngsp_quota_span(p->windows[i].unit, (int64_t) last, tz,
                                &width, &end_then);
            }

            if (end_then != end_now) {
                l = 0;
            }
        }

        level[i] = l;
    }

    return 0;
}
