/*
 * ngspctl usage AGENCY [POLICY]: each window's limit in force, what is
 * used and left, and when it is fully available again, computed as the
 * quota script and nginx compute them, at Redis's time: the policy's state
 * (one string per agency and policy, ngsp_quota_script.c) read as the
 * script reads it (ngsp_quota_state_read()):
 *
 * - s and m are GCRA buckets, a level in requests draining at limit per
 *   window: decoded into requests and seconds;
 * - h, d and mo count the current local window in the offset of
 *   ngsp_quota_timezone.
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
    char                key[NGSP_QUOTA_KEY_MAX];
} ngspctl_window_t;


/* a calendar window: what is counted in it, when it ends */
static void
ngspctl_count(ngspctl_window_t *w, double used, int64_t now_us, long tz)
{
    int64_t  end_us;

    ngsp_quota_span(w->unit, now_us, tz, &w->width, &end_us);

    w->resets_at = end_us / 1000000;
    w->reset = (end_us - now_us + 999999) / 1000000;

    w->used = used;
    w->remaining = (int64_t) w->limit - (int64_t) used;
    if (w->remaining < 0) {
        w->remaining = 0;
    }

    w->retry = used < (double) w->limit ? 0 : w->reset;
    if (w->retry && w->retry < 1) {
        w->retry = 1;
    }
}


/* a GCRA bucket drained to now: in requests and seconds */
static void
ngspctl_bucket(ngspctl_window_t *w, double level, int64_t now_us)
{
    double  win, step, x;

    win = w->unit == NGSP_QUOTA_SEC ? 1e6 : 6e7;

    w->width = (int64_t) (win / 1e6);
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
    int64_t             measured, limit[NGSP_QUOTA_MAX_WINDOWS];
    redisReply         *ov, *st;
    ngspctl_window_t   *w;
    double              level[NGSP_QUOTA_MAX_WINDOWS];
    double              stored[NGSP_QUOTA_MAX_WINDOWS];
    const char         *argv[2 + NGSP_QUOTA_MAX_WINDOWS];
    size_t              lens[2 + NGSP_QUOTA_MAX_WINDOWS];
    char                limits[NGSP_QUOTA_TAG_MAX + 16];
    char                key[NGSP_QUOTA_KEY_MAX];
    char                fields[NGSP_QUOTA_MAX_WINDOWS][NGSP_QUOTA_NAME_MAX
                                                       + 4];

    n = p->nwindows;

    if (ngsp_quota_state_key(a->tag, a->tag_len, p->name, key) == 0) {
        return ngspctl_error(NGSPCTL_FAIL, "policy name too long");
    }

    for (i = 0; i < n; i++) {
        w = &ws[i];
        memset(w, 0, sizeof(*w));
        w->unit = p->windows[i].unit;
        w->gcra = w->unit <= NGSP_QUOTA_MIN;
        w->configured = p->windows[i].limit;
        memcpy(w->key, key, sizeof(key));

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

    argv[0] = "GET";
    lens[0] = 3;
    argv[1] = key;
    lens[1] = strlen(key);

    st = ngspctl_redis_argv(c, 2, argv, lens);
    if (st == NULL) {
        freeReplyObject(ov);
        return NGSPCTL_FAIL;
    }

    if (ov->type != REDIS_REPLY_ARRAY || ov->elements != n
        || (st->type != REDIS_REPLY_STRING && st->type != REDIS_REPLY_NIL))
    {
        freeReplyObject(ov);
        freeReplyObject(st);
        return ngspctl_error(NGSPCTL_FAIL, "redis %s: unexpected reply to "
                             "HMGET or GET", c->redis);
    }

    for (i = 0; i < n; i++) {
        ngspctl_override(&ws[i], ov->element[i]);
        limit[i] = (int64_t) ws[i].limit;
    }

    if (ngsp_quota_state_read(st->type == REDIS_REPLY_STRING
                              ? (unsigned char *) st->str : NULL,
                              st->type == REDIS_REPLY_STRING ? st->len : 0,
                              p, limit, now_us, c->tz, level, stored,
                              &measured)
        != 0)
    {
        freeReplyObject(ov);
        freeReplyObject(st);
        return ngspctl_error(NGSPCTL_FAIL, "cannot read the state of "
                             "policy \"%s\"", p->name);
    }

    for (i = 0; i < n; i++) {
        w = &ws[i];

        if (w->gcra) {
            if (measured) {
                w->level = stored[i];
                w->measured = (double) measured / 1e6;
            }

            ngspctl_bucket(w, level[i], now_us);

        } else {
            ngspctl_count(w, level[i], now_us, c->tz);
        }
    }

    freeReplyObject(ov);
    freeReplyObject(st);

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
