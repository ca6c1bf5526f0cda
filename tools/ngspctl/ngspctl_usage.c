/*
 * ngspctl usage AGENCY [POLICY]: each window's limit in force, what is
 * used and left, and when it is fully available again, computed as the
 * quota script computes them (ngsp_quota_script.c), at Redis's time:
 *
 * - s and m are GCRA buckets of three little-endian doubles (the level in
 *   requests, the microsecond it was measured at, when its TTL was set),
 *   draining at limit per window: decoded into requests and seconds;
 * - h, d and mo are counters named after the current local window in the
 *   offset of ngsp_quota_timezone.
 *
 * So what it prints is what nginx's RateLimit fields would say now.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngspctl.h"


typedef struct {
    ngsp_quota_unit_t   unit;
    int                 gcra;
    uint64_t            configured;
    int                 override;       /* 1 taken, -1 ignored, 0 none */
    uint64_t            override_value;
    size_t              ignored_len;
    uint64_t            limit;          /* in force */
    double              used;           /* requests */
    int64_t             remaining;
    int64_t             reset;          /* seconds until fully available */
    int64_t             retry;          /* seconds until one more passes */
    int64_t             width;
    int64_t             resets_at;      /* unix seconds */
    double              level;          /* a bucket as stored */
    double              measured;       /* when, unix seconds; 0: none */
    char                key[NGSP_QUOTA_KEY_MAX + 16];
} ngspctl_window_t;


static int
ngspctl_month_days(int y, int m)
{
    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                 30, 31 };

    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        return 29;
    }

    return days[m - 1];
}


/* a calendar window: its key's date, where it ends, its length */
static void
ngspctl_calendar(ngspctl_window_t *w, int64_t now_us, long tz)
{
    size_t     len;
    int64_t    lt, start, stop, dn;
    time_t     t;
    struct tm  tm;

    lt = now_us / 1000000 + tz;
    dn = lt / 86400;
    t = (time_t) lt;
    gmtime_r(&t, &tm);

    len = strlen(w->key);

    if (w->unit == NGSP_QUOTA_HOUR) {
        start = lt - lt % 3600;
        stop = start + 3600;
        snprintf(w->key + len, sizeof(w->key) - len, ":%04d%02d%02d%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);

    } else if (w->unit == NGSP_QUOTA_DAY) {
        start = dn * 86400;
        stop = start + 86400;
        snprintf(w->key + len, sizeof(w->key) - len, ":%04d%02d%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);

    } else {
        start = (dn - tm.tm_mday + 1) * 86400;
        stop = start + 86400 * (int64_t) ngspctl_month_days(
                                              tm.tm_year + 1900,
                                              tm.tm_mon + 1);
        snprintf(w->key + len, sizeof(w->key) - len, ":%04d%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1);
    }

    w->width = stop - start;
    w->resets_at = stop - tz;
    w->reset = ((stop - tz) * 1000000 - now_us + 999999) / 1000000;
}


static void
ngspctl_count(ngspctl_window_t *w, redisReply *v)
{
    char     *end;
    int64_t   used;

    used = 0;

    if (v->type == REDIS_REPLY_STRING) {
        used = strtoll(v->str, &end, 10);
        if (*end || used < 0) {
            used = 0;
        }
    }

    w->used = (double) used;
    w->remaining = (int64_t) w->limit - used;
    if (w->remaining < 0) {
        w->remaining = 0;
    }

    w->retry = used < (int64_t) w->limit ? 0 : w->reset;
    if (w->retry && w->retry < 1) {
        w->retry = 1;
    }
}


static double
ngspctl_le_double(const unsigned char *p)
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


/* a GCRA bucket as the script reads it: anything malformed is empty */
static void
ngspctl_bucket(ngspctl_window_t *w, redisReply *v, int64_t now_us)
{
    double  win, now, level, last, set, step, x;

    win = w->unit == NGSP_QUOTA_SEC ? 1e6 : 6e7;
    now = (double) now_us;

    w->width = (int64_t) (win / 1e6);

    level = 0;

    if (v->type == REDIS_REPLY_STRING && v->len == 24) {
        w->level = ngspctl_le_double((unsigned char *) v->str);
        last = ngspctl_le_double((unsigned char *) v->str + 8);
        set = ngspctl_le_double((unsigned char *) v->str + 16);

        if (w->level >= 0 && w->level < 1e16 && last >= 0 && last < 1e17
            && set >= 0)
        {
            w->measured = last / 1e6;
            level = w->level;

            if (last < now) {
                level -= (now - last) * (double) w->limit / win;
            }

            if (level < 0) {
                level = 0;
            }
        }
    }

    w->used = level;

    if (w->limit == 0) {
        w->remaining = 0;
        w->reset = (int64_t) (win / 1e6);
        w->retry = w->reset;

    } else {
        step = win / (double) w->limit;
        x = (double) w->limit - level + 1e-9;
        w->remaining = x > 0 ? (int64_t) floor(x) : 0;
        w->reset = (int64_t) floor((level * step + 999999) / 1e6);

        if (level + 1 <= (double) w->limit + 1e-9) {
            w->retry = 0;

        } else {
            w->retry = (int64_t) floor(((level + 1 - (double) w->limit)
                                        * step + 999999) / 1e6);
            if (w->retry < 1) {
                w->retry = 1;
            }
        }
    }

    w->resets_at = now_us / 1000000 + w->reset;
}


static void
ngspctl_override(ngspctl_window_t *w, redisReply *o)
{
    uint64_t  v;

    w->limit = w->configured;

    if (o->type != REDIS_REPLY_STRING) {
        return;
    }

    /* the script's own rule: digits only, at most 10^15 */
    if (strlen(o->str) == o->len && ngspctl_parse_limit(o->str, &v) == 0) {
        w->override = 1;
        w->override_value = v;
        w->limit = v;

    } else {
        w->override = -1;
        w->ignored_len = o->len;
    }
}


static int
ngspctl_policy_read(ngspctl_t *c, const ngspctl_agency_t *a,
    const ngsp_quota_policy_t *p, int64_t now_us, ngspctl_window_t *ws)
{
    size_t              i, n;
    redisReply         *ov, *vals;
    ngspctl_window_t   *w;
    const char         *argv[2 + NGSP_QUOTA_MAX_WINDOWS];
    size_t              lens[2 + NGSP_QUOTA_MAX_WINDOWS];
    char                limits[NGSP_QUOTA_TAG_MAX + 16];
    char                fields[NGSP_QUOTA_MAX_WINDOWS][NGSP_QUOTA_NAME_MAX
                                                       + 4];

    n = p->nwindows;

    for (i = 0; i < n; i++) {
        w = &ws[i];
        memset(w, 0, sizeof(*w));
        w->unit = p->windows[i].unit;
        w->gcra = w->unit <= NGSP_QUOTA_MIN;
        w->configured = p->windows[i].limit;
        ngsp_quota_window_key(a->tag, a->tag_len, p->name, w->unit, w->key);

        if (!w->gcra) {
            ngspctl_calendar(w, now_us, c->tz);
        }

        snprintf(fields[i], sizeof(fields[i]), "%s:%s", p->name,
                 ngsp_quota_unit_name(w->unit));
    }

    argv[0] = "HMGET";
    lens[0] = 5;
    argv[1] = limits;
    lens[1] = ngsp_quota_limits_key(a->tag, a->tag_len, limits);

    for (i = 0; i < n; i++) {
        argv[2 + i] = fields[i];
        lens[2 + i] = strlen(fields[i]);
    }

    ov = ngspctl_redis_argv(c, (int) (2 + n), argv, lens);
    if (ov == NULL) {
        return NGSPCTL_FAIL;
    }

    argv[0] = "MGET";
    lens[0] = 4;

    for (i = 0; i < n; i++) {
        argv[1 + i] = ws[i].key;
        lens[1 + i] = strlen(ws[i].key);
    }

    vals = ngspctl_redis_argv(c, (int) (1 + n), argv, lens);
    if (vals == NULL) {
        freeReplyObject(ov);
        return NGSPCTL_FAIL;
    }

    if (ov->type != REDIS_REPLY_ARRAY || ov->elements != n
        || vals->type != REDIS_REPLY_ARRAY || vals->elements != n)
    {
        freeReplyObject(ov);
        freeReplyObject(vals);
        return ngspctl_error(NGSPCTL_FAIL, "redis %s: unexpected reply to "
                             "HMGET or MGET", c->redis);
    }

    for (i = 0; i < n; i++) {
        ngspctl_override(&ws[i], ov->element[i]);

        if (ws[i].gcra) {
            ngspctl_bucket(&ws[i], vals->element[i], now_us);

        } else {
            ngspctl_count(&ws[i], vals->element[i]);
        }
    }

    freeReplyObject(ov);
    freeReplyObject(vals);

    return 0;
}


static json_t *
ngspctl_window_json(ngspctl_t *c, const ngsp_quota_policy_t *p,
    const ngspctl_window_t *w)
{
    char     at[64];
    json_t  *j;

    ngspctl_local_time(w->resets_at, c->tz, at, sizeof(at));

    j = json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:I, "
                  "s:I, s:s, s:s}",
                  "window", "",
                  "unit", ngsp_quota_unit_name(w->unit),
                  "limit", (json_int_t) w->limit,
                  "configured", (json_int_t) w->configured,
                  "override", w->override > 0
                              ? json_integer((json_int_t) w->override_value)
                              : json_null(),
                  "override_ignored", w->override < 0
                              ? json_pack("{s:I}", "length",
                                          (json_int_t) w->ignored_len)
                              : json_null(),
                  "used", w->gcra ? json_real(round(w->used * 1000) / 1000)
                                  : json_integer((json_int_t) w->used),
                  "remaining", (json_int_t) w->remaining,
                  "reset", (json_int_t) w->reset,
                  "retry_after", (json_int_t) w->retry,
                  "width", (json_int_t) w->width,
                  "resets_at", (json_int_t) w->resets_at,
                  "resets_at_local", at,
                  "key", w->key);

    if (j == NULL) {
        return NULL;
    }

    json_object_set_new(j, "window", json_sprintf("%s-%s", p->name,
                                        ngsp_quota_unit_name(w->unit)));

    if (w->gcra) {
        json_object_set_new(j, "bucket", w->measured > 0
                            ? json_pack("{s:f, s:f}", "level", w->level,
                                        "measured_at", w->measured)
                            : json_null());
    }

    return j;
}


static void
ngspctl_window_text(ngspctl_t *c, const ngsp_quota_policy_t *p,
    const ngspctl_window_t *w)
{
    char  name[NGSP_QUOTA_NAME_MAX + 8], at[64], used[32];

    snprintf(name, sizeof(name), "%s-%s", p->name,
             ngsp_quota_unit_name(w->unit));
    ngspctl_local_time(w->resets_at, c->tz, at, sizeof(at));

    if (w->gcra) {
        snprintf(used, sizeof(used), "%.2f", w->used);

    } else {
        snprintf(used, sizeof(used), "%lld", (long long) w->used);
    }

    printf("  %-16s %16llu %16s %16lld %10llds  %s", name,
           (unsigned long long) w->limit, used, (long long) w->remaining,
           (long long) w->reset, at);

    if (w->override > 0) {
        printf("  override (configured %llu)",
               (unsigned long long) w->configured);

    } else if (w->override < 0) {
        printf("  override ignored: not a whole number from 0 to 10^15 "
               "(%zu bytes)", w->ignored_len);
    }

    if (w->retry) {
        printf("  next request in %llds", (long long) w->retry);
    }

    putchar('\n');
}


int
ngspctl_usage(ngspctl_t *c, int argc, char **argv)
{
    int                         rc;
    size_t                      i, k, from, to;
    int64_t                     now_us;
    json_t                     *j, *pols, *wins;
    ngspctl_agency_t            a;
    ngspctl_window_t            ws[NGSP_QUOTA_MAX_WINDOWS];
    const ngsp_quota_policy_t  *one;
    char                        now[64];

    rc = ngspctl_agency(argv[0], &a);
    if (rc != 0) {
        return rc;
    }

    rc = ngspctl_need_status(c, "usage");
    if (rc != 0) {
        return rc;
    }

    from = 0;
    to = c->npolicies;

    if (argc == 2) {
        one = ngspctl_policy(c, argv[1]);
        if (one == NULL) {
            return ngspctl_error(NGSPCTL_USAGE, "no policy \"%s\" in nginx's "
                                 "status", argv[1]);
        }
        from = one - c->policies;
        to = from + 1;

    } else if (c->npolicies == 0) {
        return ngspctl_error(NGSPCTL_FAIL, "nginx's status lists no quota "
                             "policy");
    }

    rc = ngspctl_redis_connect(c);
    if (rc != 0) {
        return rc;
    }

    rc = ngspctl_redis_time(c, &now_us);
    if (rc != 0) {
        return rc;
    }

    j = NULL;
    pols = NULL;

    if (c->json) {
        j = ngspctl_json_agency(&a);
        pols = json_object();
        if (j == NULL || pols == NULL) {
            json_decref(j);
            json_decref(pols);
            return ngspctl_error(NGSPCTL_FAIL, "out of memory");
        }
        json_object_set_new(j, "now", json_real((double) now_us / 1e6));
        json_object_set_new(j, "timezone_offset", json_integer(c->tz));
        json_object_set_new(j, "policies", pols);

    } else {
        ngspctl_local_time(now_us / 1000000, c->tz, now, sizeof(now));
        fputs("agency \"", stdout);
        ngspctl_print_escaped(a.name, a.len);
        printf("\", keys ngsp:{%s}:*, at %s (Redis's clock)\n", a.tag, now);
    }

    for (i = from; i < to; i++) {
        rc = ngspctl_policy_read(c, &a, &c->policies[i], now_us, ws);
        if (rc != 0) {
            json_decref(j);
            return rc;
        }

        if (c->json) {
            wins = json_array();
            json_object_set_new(pols, c->policies[i].name,
                                json_pack("{s:o}", "windows", wins));

            for (k = 0; k < c->policies[i].nwindows; k++) {
                json_array_append_new(wins, ngspctl_window_json(
                                                c, &c->policies[i], &ws[k]));
            }

            continue;
        }

        printf("\npolicy %s\n  %-16s %16s %16s %16s %11s  %s\n",
               c->policies[i].name, "window", "limit", "used", "left",
               "resets in", "resets at");

        for (k = 0; k < c->policies[i].nwindows; k++) {
            ngspctl_window_text(c, &c->policies[i], &ws[k]);
        }
    }

    return c->json ? ngspctl_json_print(j) : NGSPCTL_OK;
}
