/*
 * Quota policies ("standard 20r/s 1000r/m 50000r/d") and the time zone
 * of calendar windows.
 */

#include <stdio.h>
#include <string.h>

#include "ngsp_quota.h"


/* GCRA spaces requests by at least 1 us: no more per second than that */
#define NGSP_QUOTA_LIMIT_MAX  1000000000ULL


static const char  *ngsp_quota_units[] = { "s", "m", "h", "d", "mo" };


const char *
ngsp_quota_unit_name(ngsp_quota_unit_t unit)
{
    return (unsigned) unit <= NGSP_QUOTA_MONTH ? ngsp_quota_units[unit] : "?";
}


int
ngsp_quota_window_parse(const char *s, size_t len, ngsp_quota_window_t *w)
{
    size_t    i;
    uint64_t  n;

    n = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        n = n * 10 + (s[i] - '0');
        if (n > NGSP_QUOTA_LIMIT_MAX) {
            return -1;
        }
    }

    if (i == 0 || n == 0 || len - i < 3 || s[i] != 'r' || s[i + 1] != '/') {
        return -1;
    }

    s += i + 2;
    len -= i + 2;

    for (i = 0; i <= NGSP_QUOTA_MONTH; i++) {
        if (strlen(ngsp_quota_units[i]) == len
            && memcmp(ngsp_quota_units[i], s, len) == 0)
        {
            break;
        }
    }

    if (i > NGSP_QUOTA_MONTH) {
        return -1;
    }

    if (i == NGSP_QUOTA_SEC && n > 1000000) {
        return -1;
    }

    w->unit = (ngsp_quota_unit_t) i;
    w->limit = n;

    return 0;
}


static int
ngsp_quota_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}


int
ngsp_quota_policy_init(ngsp_quota_policy_t *p, const char *name,
    size_t name_len, char *err, size_t errlen)
{
    size_t  i;

    memset(p, 0, sizeof(*p));

    /* the name goes into Redis keys, hash fields and header strings */
    if (name_len == 0 || name_len > NGSP_QUOTA_NAME_MAX) {
        snprintf(err, errlen, "a policy name has 1 to %d characters",
                 NGSP_QUOTA_NAME_MAX);
        return -1;
    }

    for (i = 0; i < name_len; i++) {
        if (!ngsp_quota_name_char(name[i])) {
            snprintf(err, errlen, "a policy name may only use letters, "
                     "digits, \"_\", \".\" and \"-\"");
            return -1;
        }
    }

    memcpy(p->name, name, name_len);
    p->name[name_len] = '\0';

    return 0;
}


int
ngsp_quota_policy_add(ngsp_quota_policy_t *p, const char *s, size_t len,
    char *err, size_t errlen)
{
    size_t               i, j;
    ngsp_quota_window_t  w;

    if (ngsp_quota_window_parse(s, len, &w) != 0) {
        snprintf(err, errlen, "invalid window \"%.*s\" (N r/s, r/m, r/h, "
                 "r/d or r/mo, with 1 <= N <= 1000000000, at most "
                 "1000000r/s)", (int) (len > 64 ? 64 : len), s);
        return -1;
    }

    for (i = 0; i < p->nwindows; i++) {
        if (p->windows[i].unit == w.unit) {
            snprintf(err, errlen, "window \"r/%s\" given twice",
                     ngsp_quota_unit_name(w.unit));
            return -1;
        }

        if (p->windows[i].unit > w.unit) {
            break;
        }
    }

    for (j = p->nwindows; j > i; j--) {
        p->windows[j] = p->windows[j - 1];
    }

    p->windows[i] = w;
    p->nwindows++;

    return 0;
}


static int
ngsp_quota_digits(const char *s, size_t n, long *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        *v = *v * 10 + (s[i] - '0');
    }

    return 0;
}


int
ngsp_quota_tz_parse(const char *s, size_t len, long *offset)
{
    long  h, m, sign;

    if ((len == 3 && memcmp(s, "UTC", 3) == 0)
        || (len == 1 && s[0] == 'Z'))
    {
        *offset = 0;
        return 0;
    }

    if (len != 6 && len != 5) {
        return -1;
    }

    if (s[0] != '+' && s[0] != '-') {
        return -1;
    }

    sign = (s[0] == '-') ? -1 : 1;

    if (ngsp_quota_digits(s + 1, 2, &h) != 0) {
        return -1;
    }

    if (len == 6) {
        if (s[3] != ':' || ngsp_quota_digits(s + 4, 2, &m) != 0) {
            return -1;
        }

    } else if (ngsp_quota_digits(s + 3, 2, &m) != 0) {
        return -1;
    }

    if (m > 59 || h * 3600 + m * 60 > NGSP_QUOTA_TZ_MAX) {
        return -1;
    }

    *offset = sign * (h * 3600 + m * 60);

    return 0;
}
