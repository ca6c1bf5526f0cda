/* cmocka tests of the quota engine: policies, keys, reply, fields. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngsp_quota.h"


static int
window(const char *s, ngsp_quota_window_t *w)
{
    return ngsp_quota_window_parse(s, strlen(s), w);
}


static void
test_window_parse(void **state)
{
    ngsp_quota_window_t  w;

    assert_int_equal(window("20r/s", &w), 0);
    assert_int_equal(w.unit, NGSP_QUOTA_SEC);
    assert_int_equal(w.limit, 20);
    assert_int_equal(window("1000r/m", &w), 0);
    assert_int_equal(w.unit, NGSP_QUOTA_MIN);
    assert_int_equal(window("7r/h", &w), 0);
    assert_int_equal(w.unit, NGSP_QUOTA_HOUR);
    assert_int_equal(window("50000r/d", &w), 0);
    assert_int_equal(w.unit, NGSP_QUOTA_DAY);
    assert_int_equal(window("1000000000r/mo", &w), 0);
    assert_int_equal(w.unit, NGSP_QUOTA_MONTH);
    assert_int_equal(w.limit, 1000000000);
    assert_int_equal(window("1000000r/s", &w), 0);

    assert_int_equal(window("0r/s", &w), -1);
    assert_int_equal(window("1000001r/s", &w), -1);
    assert_int_equal(window("1000000001r/d", &w), -1);
    assert_int_equal(window("99999999999999999999999r/d", &w), -1);
    assert_int_equal(window("r/s", &w), -1);
    assert_int_equal(window("10", &w), -1);
    assert_int_equal(window("10r/", &w), -1);
    assert_int_equal(window("10r/x", &w), -1);
    assert_int_equal(window("10r/mon", &w), -1);
    assert_int_equal(window("10r/S", &w), -1);
    assert_int_equal(window("-1r/s", &w), -1);
    assert_int_equal(window("10q/s", &w), -1);
    assert_int_equal(window("", &w), -1);
    /* the length is the whole string: no reading past it */
    assert_int_equal(ngsp_quota_window_parse("10r/mo", 5, &w), 0);
    assert_int_equal(w.unit, NGSP_QUOTA_MIN);
}


static void
test_policy(void **state)
{
    char                 err[256];
    ngsp_quota_policy_t  p;

    assert_int_equal(ngsp_quota_policy_init(&p, "standard", 8, err,
                                            sizeof(err)), 0);
    assert_string_equal(p.name, "standard");
    assert_int_equal(ngsp_quota_policy_add(&p, "50000r/d", 8, err,
                                           sizeof(err)), 0);
    assert_int_equal(ngsp_quota_policy_add(&p, "20r/s", 5, err,
                                           sizeof(err)), 0);
    assert_int_equal(ngsp_quota_policy_add(&p, "1000r/m", 7, err,
                                           sizeof(err)), 0);
    /* kept in unit order */
    assert_int_equal(p.nwindows, 3);
    assert_int_equal(p.windows[0].unit, NGSP_QUOTA_SEC);
    assert_int_equal(p.windows[1].unit, NGSP_QUOTA_MIN);
    assert_int_equal(p.windows[2].unit, NGSP_QUOTA_DAY);
    assert_int_equal(p.windows[2].limit, 50000);

    assert_int_equal(ngsp_quota_policy_add(&p, "30r/s", 5, err,
                                           sizeof(err)), -1);
    assert_string_equal(err, "window \"r/s\" given twice");
    assert_int_equal(ngsp_quota_policy_add(&p, "30r/x", 5, err,
                                           sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid window \"30r/x\""));

    assert_int_equal(ngsp_quota_policy_init(&p, "", 0, err, sizeof(err)), -1);
    assert_int_equal(ngsp_quota_policy_init(&p, "a b", 3, err, sizeof(err)),
                     -1);
    assert_int_equal(ngsp_quota_policy_init(&p, "a\"b", 3, err, sizeof(err)),
                     -1);
    assert_int_equal(ngsp_quota_policy_init(&p, "a{b", 3, err, sizeof(err)),
                     -1);
    assert_int_equal(ngsp_quota_policy_init(&p,
        "x123456789012345678901234567890123456789012345678901234567890123",
        65, err, sizeof(err)), -1);
    assert_int_equal(ngsp_quota_policy_init(&p, "gold-1.v2_x", 11, err,
                                            sizeof(err)), 0);
}


static long
tz(const char *s)
{
    long  off;

    if (ngsp_quota_tz_parse(s, strlen(s), &off) != 0) {
        return 99999;
    }

    return off;
}


static void
test_timezone(void **state)
{
    assert_int_equal(tz("+07:00"), 25200);
    assert_int_equal(tz("+0700"), 25200);
    assert_int_equal(tz("-03:30"), -12600);
    assert_int_equal(tz("+05:45"), 20700);
    assert_int_equal(tz("+14:00"), 50400);
    assert_int_equal(tz("-00:00"), 0);
    assert_int_equal(tz("UTC"), 0);
    assert_int_equal(tz("Z"), 0);
    assert_int_equal(tz("+14:01"), 99999);
    assert_int_equal(tz("+07:60"), 99999);
    assert_int_equal(tz("07:00"), 99999);
    assert_int_equal(tz("+7:00"), 99999);
    assert_int_equal(tz("+07-00"), 99999);
    assert_int_equal(tz("Asia/Ho_Chi_Minh"), 99999);
    assert_int_equal(tz(""), 99999);
}


static void
sha256_hex(const void *data, size_t len, char *out)
{
    size_t         i;
    unsigned int   n;
    unsigned char  md[32];

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++) {
        sprintf(out + 2 * i, "%02x", md[i]);
    }
}


static void
test_tag(void **state)
{
    size_t  n;
    char    tag[NGSP_QUOTA_TAG_MAX + 1], want[80];
    static unsigned char  big[10240];

    n = ngsp_quota_tag((const unsigned char *) "so-tu-phap", 10, tag);
    assert_int_equal(n, 10);
    assert_string_equal(tag, "so-tu-phap");

    n = ngsp_quota_tag((const unsigned char *) "000.00.00.H41", 13, tag);
    assert_string_equal(tag, "000.00.00.H41");

    assert_int_equal(ngsp_quota_tag((const unsigned char *) "", 0, tag), 0);

    /* anything not plain is hashed, so it cannot break the tag */
    const char *hostile[] = { "{so-tu-phap}", "a}b", "a b", "x\r\ny",
                              "~abc", "ngsp:{x}", "\xc4\x90\xe1\xbb\x93ng" };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        n = ngsp_quota_tag((const unsigned char *) hostile[i],
                           strlen(hostile[i]), tag);
        assert_int_equal(n, 65);
        want[0] = '~';
        sha256_hex(hostile[i], strlen(hostile[i]), want + 1);
        assert_string_equal(tag, want);
        assert_null(strpbrk(tag, "{} \r\n"));
    }

    /* binary-safe: a NUL inside counts */
    n = ngsp_quota_tag((const unsigned char *) "a\0b", 3, tag);
    assert_int_equal(n, 65);
    sha256_hex("a\0b", 3, want);
    assert_string_equal(tag + 1, want);

    memset(big, 'A', sizeof(big));
    assert_int_equal(ngsp_quota_tag(big, 64, tag), 64);
    assert_int_equal(ngsp_quota_tag(big, 65, tag), 65);
    assert_int_equal(tag[0], '~');
    assert_int_equal(ngsp_quota_tag(big, sizeof(big), tag), 65);
}


static void
test_keys(void **state)
{
    char  k[NGSP_QUOTA_KEY_MAX];

    assert_int_equal(ngsp_quota_limits_key("so-tu-phap", 10, k),
                     strlen("ngsp:{so-tu-phap}:limits"));
    assert_string_equal(k, "ngsp:{so-tu-phap}:limits");

    assert_int_equal(ngsp_quota_state_key("so-tu-phap", 10, "standard", k),
                     strlen("ngsp:{so-tu-phap}:q:standard"));
    assert_string_equal(k, "ngsp:{so-tu-phap}:q:standard");
    ngsp_quota_state_key("ab", 2, "p", k);
    assert_string_equal(k, "ngsp:{ab}:q:p");
}


/* slots as redis-server 7.0's CLUSTER KEYSLOT gives them */
static void
test_slot(void **state)
{
    size_t         i, n;
    char           tag[NGSP_QUOTA_TAG_MAX + 1], k[NGSP_QUOTA_KEY_MAX];
    unsigned       s;
    unsigned char  big[10000];

    static const struct {
        const char  *key;
        unsigned     slot;
    } known[] = {
        { "123456789", 12739 },             /* CRC16/XMODEM's check: 0x31c3 */
        { "", 0 },
        { "ngsp:{so-tu-phap}:limits", 16372 },
        { "ngsp:{so-tu-phap}:q:std:d:20261202", 16372 },
        { "ngsp:{so-tu-phap}:q:std", 16372 },
        { "foo{}{bar}", 8363 },             /* empty tag: the whole key */
        { "foo{{bar}}zap", 4015 },          /* the tag is "{bar" */
        { "foo{bar}{zap}", 5061 },          /* the first tag only */
        { "{", 4092 },
        { "}{a}", 15495 },
        { "a{b", 13340 },
        { "ngsp:{~9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f0"
          "0a08}:limits", 3092 },
    };

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        assert_int_equal(ngsp_quota_slot(known[i].key, strlen(known[i].key)),
                         known[i].slot);
    }

    /* a hostile agency's keys all share its tag's slot */
    memset(big, '{', sizeof(big));
    big[17] = '}';
    n = ngsp_quota_tag(big, sizeof(big), tag);
    assert_int_equal(n, 65);
    s = ngsp_quota_slot(k, ngsp_quota_limits_key(tag, n, k));
    assert_true(s < NGSP_QUOTA_SLOTS);
    assert_int_equal(ngsp_quota_slot(tag, n), s);
    assert_int_equal(ngsp_quota_slot(k, ngsp_quota_state_key(tag, n, "p", k)),
                     s);
}


static void
test_script(void **state)
{
    char  sha[41];

    assert_int_equal(ngsp_quota_script_sha1(sha), 0);
    assert_int_equal(strlen(sha), 40);
    assert_int_equal(strspn(sha, "0123456789abcdef"), 40);
    assert_int_equal(ngsp_quota_script_len, strlen(ngsp_quota_script));
    /* Redis's clock, never the caller's unless a test passes one */
    assert_non_null(strstr(ngsp_quota_script, "redis.call('TIME')"));
    assert_non_null(strstr(ngsp_quota_script, "HMGET"));
    assert_non_null(strstr(ngsp_quota_script, "-- ngsp quota v8\n"));
}


static void
policy3(ngsp_quota_policy_t *p)
{
    char  err[256];

    ngsp_quota_policy_init(p, "std", 3, err, sizeof(err));
    ngsp_quota_policy_add(p, "20r/s", 5, err, sizeof(err));
    ngsp_quota_policy_add(p, "1000r/m", 7, err, sizeof(err));
    ngsp_quota_policy_add(p, "50000r/d", 8, err, sizeof(err));
}


/* a reply as the script packs it: little-endian doubles */
static size_t
pack(unsigned char *out, const double *v, size_t n)
{
    size_t    i, k;
    uint64_t  u;

    for (i = 0; i < n; i++) {
        memcpy(&u, &v[i], 8);
        for (k = 0; k < 8; k++) {
            out[8 * i + k] = (unsigned char) (u >> (8 * k));
        }
    }

    return 8 * n;
}


/* 2034-05-06 07:08:09.25 at +07:00, in microseconds */
#define NOW  2030486889250000.0
#define TZ   25200


/* a reply of policy3 as the script packs it */
static size_t
reply3(unsigned char *b, double ok, const double *levels,
    const double *limits)
{
    size_t  i;
    double  v[11] = { 84, 0, NOW, 0, 0 };

    v[3] = ok;

    for (i = 0; i < 3; i++) {
        v[5 + 2 * i] = levels[i];
        v[6 + 2 * i] = limits[i];
    }

    return pack(b, v, 11);
}


static void
test_reply(void **state)
{
    size_t                 len;
    unsigned char          b[8 * 11];
    ngsp_quota_policy_t    p;
    ngsp_quota_decision_t  d;
    double                 lim[] = { 20, 1000, 50000 };
    double                 lv[] = { 0, 994, 49994 };
    double                 v[11];

    policy3(&p);
    assert_true(ngsp_quota_shape(&p) == 84);    /* (1 * 8 + 2) * 8 + 4 */

    /* admitted: remaining and reset after this request */
    len = reply3(b, 1, lv, lim);
    assert_int_equal(ngsp_quota_reply_parse(b, len, &p, TZ, &d), 0);
    assert_int_equal(d.allowed, 1);
    assert_int_equal(d.retry_after, 0);
    assert_int_equal(d.nwindows, 3);
    assert_int_equal(d.windows[0].unit, NGSP_QUOTA_SEC);
    assert_int_equal(d.windows[0].limit, 20);
    assert_int_equal(d.windows[0].remaining, 19);
    assert_int_equal(d.windows[0].reset, 1);        /* 1/20 s, rounded up */
    assert_int_equal(d.windows[0].width, 1);
    assert_int_equal(d.windows[1].remaining, 5);
    assert_int_equal(d.windows[1].reset, 60);       /* 995 x 60 ms: 59.7 */
    assert_int_equal(d.windows[1].width, 60);
    assert_int_equal(d.windows[2].remaining, 5);
    /* the local day ends at 2034-05-07 00:00 +07:00 */
    assert_int_equal(d.windows[2].reset, 2030547600 - 2030486889);
    assert_int_equal(d.windows[2].width, 86400);
    /* 5 left in both m and d: the longer wait wins */
    assert_int_equal(d.tightest, 2);
    assert_int_equal(d.invalid, 0);

    /* a bucket drained part way: whole requests left, time rounded up */
    lv[0] = 2.5;
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 1, lv, lim), &p, TZ,
                                            &d), 0);
    assert_int_equal(d.windows[0].remaining, 16);   /* 17.5: 17, then -1 */
    assert_int_equal(d.windows[0].reset, 1);        /* 3.5 / 20 s */
    lv[0] = 0;

    /* refused by the day window: retry when the day ends, nothing taken */
    lv[2] = 50000;
    len = reply3(b, 0, lv, lim);
    assert_int_equal(ngsp_quota_reply_parse(b, len, &p, TZ, &d), 0);
    assert_int_equal(d.allowed, 0);
    assert_int_equal(d.retry_after, 2030547600 - 2030486889);
    assert_int_equal(d.windows[2].remaining, 0);
    assert_int_equal(d.windows[1].remaining, 6);
    assert_int_equal(d.windows[0].remaining, 20);
    assert_int_equal(d.tightest, 2);

    /* refused by the second window: one request's spacing, at least 1 s */
    lv[2] = 5;
    lv[0] = 19.99;
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 0, lv, lim), &p, TZ,
                                            &d), 0);
    assert_int_equal(d.allowed, 0);
    assert_int_equal(d.retry_after, 1);
    assert_int_equal(d.windows[0].remaining, 0);
    assert_int_equal(d.tightest, 0);

    /* the script's decision and this arithmetic must agree */
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 1, lv, lim), &p, TZ,
                                            &d), -1);
    lv[0] = 0;
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 0, lv, lim), &p, TZ,
                                            &d), -1);

    /* a limit of 0 refuses for a whole window */
    lim[1] = 0;
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 0, lv, lim), &p, TZ,
                                            &d), 0);
    assert_int_equal(d.retry_after, 60);
    assert_int_equal(d.windows[1].remaining, 0);
    assert_int_equal(d.windows[1].reset, 60);
    lim[1] = 1000;

    /* overrides ignored: which windows, and each value's length + 1 */
    lim[0] = -3;
    lim[2] = -1;    /* an empty value */
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 1, lv, lim), &p, TZ,
                                            &d), 0);
    assert_int_equal(d.invalid, 1 | 4);
    assert_int_equal(d.windows[0].ignored, 3);
    assert_int_equal(d.windows[0].limit, 20);       /* the configured one */
    assert_int_equal(d.windows[1].ignored, 0);
    assert_int_equal(d.windows[2].ignored, 1);
    assert_int_equal(d.windows[2].limit, 50000);
    lim[0] = 20;
    lim[2] = 50000;

    /* an override taken is the limit in force */
    lim[1] = 7;
    lv[1] = 0;
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 1, lv, lim), &p, TZ,
                                            &d), 0);
    assert_int_equal(d.windows[1].limit, 7);
    assert_int_equal(d.windows[1].remaining, 6);
    assert_int_equal(d.windows[1].reset, 9);        /* 1 x 60/7 s */
    lim[1] = 1000;

    /* malformed: each refused, never half read */
    len = reply3(b, 1, lv, lim);
    assert_int_equal(ngsp_quota_reply_parse(b, len - 8, &p, TZ, &d), -1);
    assert_int_equal(ngsp_quota_reply_parse(b, len - 1, &p, TZ, &d), -1);
    assert_int_equal(ngsp_quota_reply_parse(b, 0, &p, TZ, &d), -1);

    memcpy(v, (double[]) { 84, 0, NOW, 1, 0, 0, 20, 0, 1000, 0, 50000 },
           sizeof(v));
    assert_int_equal(ngsp_quota_reply_parse(b, pack(b, v, 11), &p, TZ, &d),
                     0);

    {
        static const struct {
            size_t  at;
            double  value;
        } bad[] = {
            { 0, 85 },              /* another policy's shape */
            { 2, -1 },              /* no clock */
            { 2, 0.5 },
            { 2, 1e300 },
            { 3, 2 },               /* neither admitted nor refused */
            { 5, -1 },              /* a negative level */
            { 5, 1e300 },
            { 9, 2.5 },             /* a calendar count in halves */
            { 6, 1.5 },             /* a limit not whole */
            { 6, 1e16 },
        };
        size_t  i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            double  w[11];

            memcpy(w, v, sizeof(w));
            w[bad[i].at] = bad[i].value;
            assert_int_equal(ngsp_quota_reply_parse(b, pack(b, w, 11), &p,
                                                    TZ, &d), -1);
            w[bad[i].at] = 0.0 / 0.0;
            assert_int_equal(ngsp_quota_reply_parse(b, pack(b, w, 11), &p,
                                                    TZ, &d), -1);
        }
    }

    /* the reply of the previous version (17 doubles) is refused */
    memset(b, 0, sizeof(b));
    assert_int_equal(ngsp_quota_reply_parse(b, 8 * 11, &p, TZ, &d), -1);
}


/* calendar windows against Python's calendar: lengths and local ends */
static void
test_span(void **state)
{
    size_t   i;
    int64_t  width, end;

    static const struct {
        int64_t            now;
        long               tz;
        ngsp_quota_unit_t  unit;
        int64_t            width, end;
    } known[] = {
        { 2030486889, 25200, NGSP_QUOTA_HOUR, 3600, 2030490000 },
        { 2030486889, 25200, NGSP_QUOTA_DAY, 86400, 2030547600 },
        { 2030486889, 25200, NGSP_QUOTA_MONTH, 31 * 86400, 2032707600 },
        /* leap year: February has 29 days, and 2100 is not one */
        { 1961598600, 25200, NGSP_QUOTA_MONTH, 2505600, 1961686800 },
        { 4107513600, 25200, NGSP_QUOTA_MONTH, 2419200, 4107517200 },
        /* the last second of a year at -03:30 */
        { 1925004599, -12600, NGSP_QUOTA_MONTH, 31 * 86400, 1925004600 },
        { 1925004599, -12600, NGSP_QUOTA_HOUR, 3600, 1925004600 },
        /* +05:45: local hours start at a quarter past */
        { 1901211240, 20700, NGSP_QUOTA_HOUR, 3600, 1901211300 },
        { 1901211240, 20700, NGSP_QUOTA_DAY, 86400, 1901211300 },
        { 1901211300, 20700, NGSP_QUOTA_DAY, 86400, 1901211300 + 86400 },
    };

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        ngsp_quota_span(known[i].unit, known[i].now * 1000000 + 999999,
                        known[i].tz, &width, &end);
        assert_int_equal(width, known[i].width);
        assert_int_equal(end, known[i].end * 1000000);
    }

    ngsp_quota_span(NGSP_QUOTA_MIN, 0, 0, &width, &end);
    assert_int_equal(width, 60);
    assert_int_equal(end, 0);
}


/* a stored state read as the script reads it, for ngspctl usage */
static void
test_state_read(void **state)
{
    size_t               len;
    int64_t              measured;
    unsigned char        b[8 * 11];
    ngsp_quota_policy_t  p;
    double               level[3], stored[3];
    int64_t              lim[] = { 20, 1000, 50000 };
    double               v[] = { 84, 0, NOW, 1, 0, 4, 20, 9, 1000,
                                 41, 50000 };

    policy3(&p);

    len = pack(b, v, 11);

    /* half a second later: s drained by 10 (to 0), m by 8.33, d kept */
    assert_int_equal(ngsp_quota_state_read(b, len, &p, lim,
                                           (int64_t) NOW + 500000, TZ,
                                           level, stored, &measured), 0);
    assert_int_equal(measured, (int64_t) NOW);
    assert_true(stored[0] == 5 && stored[1] == 10 && stored[2] == 42);
    assert_true(level[0] == 0 && level[2] == 42);
    assert_true(level[1] == 10 - 500000.0 * 1000 / 60000000);

    assert_int_equal(ngsp_quota_state_read(b, len, &p, lim,
                                           (int64_t) NOW + 100000, TZ,
                                           level, stored, &measured), 0);
    assert_true(level[0] == 3);                 /* 5 - 0.1 s x 20/s */
    assert_true(level[1] == 10 - 100000.0 * 1000 / 60000000);

    /* the next local day is a new window */
    assert_int_equal(ngsp_quota_state_read(b, len, &p, lim,
                                           2030547600000000, TZ,
                                           level, stored, &measured), 0);
    assert_true(level[2] == 0);

    /* what the script would not take is no state */
    v[0] = 85;
    assert_int_equal(ngsp_quota_state_read(b, pack(b, v, 11), &p, lim,
                                           (int64_t) NOW, TZ, level, stored,
                                           &measured), 0);
    assert_true(measured == 0 && stored[2] == 0 && level[2] == 0);
    v[0] = 84;
    v[3] = 0;
    assert_int_equal(ngsp_quota_state_read(b, pack(b, v, 11), &p, lim,
                                           (int64_t) NOW, TZ, level, stored,
                                           &measured), 0);
    assert_true(measured == 0);
    v[3] = 1;
    assert_int_equal(ngsp_quota_state_read(b, len - 8, &p, lim,
                                           (int64_t) NOW, TZ, level, stored,
                                           &measured), 0);
    assert_true(measured == 0);
    assert_int_equal(ngsp_quota_state_read(NULL, 0, &p, lim, (int64_t) NOW,
                                           TZ, level, stored, &measured), 0);
    assert_true(measured == 0 && level[0] == 0);

    /* a garbage level is 0, the others kept */
    v[9] = 0.0 / 0.0;
    assert_int_equal(ngsp_quota_state_read(b, pack(b, v, 11), &p, lim,
                                           (int64_t) NOW, TZ, level, stored,
                                           &measured), 0);
    assert_true(level[2] == 0 && stored[1] == 10);
}


static void
test_command(void **state)
{
    size_t               len;
    ngsp_quota_policy_t  p, one;
    char                 sha[41], err[256], name[64];
    char                 tag[NGSP_QUOTA_TAG_MAX + 1];
    unsigned char        buf[NGSP_QUOTA_CMD_MAX], *big;
    const char          *head = "*11\r\n$7\r\nEVALSHA\r\n$40\r\n";
    const char          *keys = "$1\r\n2\r\n$24\r\nngsp:{so-tu-phap}:limits\r\n"
                                "$23\r\nngsp:{so-tu-phap}:q:std\r\n"
                                "$72\r\n";
    const char          *tail = "\r\n$10\r\n<ddddddddd\r\n"
                                "$12\r\n<ddddddddddd\r\n"
                                "$5\r\nstd:s\r\n$5\r\nstd:m\r\n$5\r\nstd:d\r\n";
    unsigned char        blob[72];
    double               args[] = { 25200, 0, 84, 0, 20, 1, 1000, 3,
                                    50000 };

    policy3(&p);
    assert_int_equal(ngsp_quota_script_sha1(sha), 0);

    len = ngsp_quota_command(buf, sizeof(buf), sha, "so-tu-phap", 10, &p,
                             25200);
    assert_true(len > 0);
    assert_memory_equal(buf, head, strlen(head));
    assert_memory_equal(buf + strlen(head), sha, 40);
    assert_memory_equal(buf + strlen(head) + 42, keys, strlen(keys));
    pack(blob, args, 9);
    assert_memory_equal(buf + strlen(head) + 42 + strlen(keys), blob, 72);
    assert_int_equal(len, strlen(head) + 42 + strlen(keys) + 72
                          + strlen(tail));
    assert_memory_equal(buf + len - strlen(tail), tail, strlen(tail));

    /* too small a buffer: nothing, never a cut command */
    assert_int_equal(ngsp_quota_command(buf, sizeof(buf) - 1, sha,
                                        "so-tu-phap", 10, &p, 25200), 0);
    assert_int_equal(ngsp_quota_command(buf, sizeof(buf), sha, "x", 0, &p,
                                        25200), 0);

    /* the count of arguments for one and for five windows */
    ngsp_quota_policy_init(&one, "o", 1, err, sizeof(err));
    ngsp_quota_policy_add(&one, "5r/d", 4, err, sizeof(err));
    assert_true(ngsp_quota_command(buf, sizeof(buf), sha, "a", 1, &one, 0));
    assert_memory_equal(buf, "*9\r\n", 4);
    ngsp_quota_policy_add(&one, "5r/s", 4, err, sizeof(err));
    ngsp_quota_policy_add(&one, "5r/m", 4, err, sizeof(err));
    ngsp_quota_policy_add(&one, "5r/h", 4, err, sizeof(err));
    ngsp_quota_policy_add(&one, "5r/mo", 5, err, sizeof(err));
    assert_true(ngsp_quota_command(buf, sizeof(buf), sha, "a", 1, &one, 0));
    assert_memory_equal(buf, "*13\r\n", 5);

    /* the largest: a hashed tag, a 64-character name, five windows */
    memset(name, 'p', 64);
    ngsp_quota_policy_init(&one, name, 64, err, sizeof(err));
    ngsp_quota_policy_add(&one, "1000000r/s", 10, err, sizeof(err));
    ngsp_quota_policy_add(&one, "1000000000r/m", 13, err, sizeof(err));
    ngsp_quota_policy_add(&one, "1000000000r/h", 13, err, sizeof(err));
    ngsp_quota_policy_add(&one, "1000000000r/d", 13, err, sizeof(err));
    ngsp_quota_policy_add(&one, "1000000000r/mo", 14, err, sizeof(err));
    assert_int_equal(one.nwindows, 5);
    assert_int_equal(ngsp_quota_tag((const unsigned char *) "{x} y", 5, tag),
                     NGSP_QUOTA_TAG_MAX);
    len = ngsp_quota_command(buf, sizeof(buf), sha, tag, NGSP_QUOTA_TAG_MAX,
                             &one, -50400);
    assert_true(len > 0 && len <= sizeof(buf));
    assert_memory_equal(buf, "*13\r\n", 5);

    /* EVAL carries the script itself */
    big = malloc(NGSP_QUOTA_CMD_MAX + ngsp_quota_script_len);
    assert_non_null(big);
    assert_int_equal(ngsp_quota_command(big, sizeof(buf), NULL, "so-tu-phap",
                                        10, &p, 25200), 0);
    len = ngsp_quota_command(big, NGSP_QUOTA_CMD_MAX + ngsp_quota_script_len,
                             NULL, "so-tu-phap", 10, &p, 25200);
    assert_true(len > ngsp_quota_script_len);
    assert_memory_equal(big, "*11\r\n$4\r\nEVAL\r\n$", 15);
    assert_memory_equal(big + len - strlen(tail), tail, strlen(tail));
    free(big);
}


static void
test_fields(void **state)
{
    char                   buf[640];
    unsigned char          b[8 * 11];
    ngsp_quota_policy_t    p;
    ngsp_quota_decision_t  d;
    double                 lim[] = { 20, 1000, 50000 };
    double                 lv[] = { 0, 0, 49876 };

    policy3(&p);
    /* an offset that puts the local day's end 3599.75 s ahead */
    assert_int_equal(ngsp_quota_reply_parse(b, reply3(b, 1, lv, lim), &p,
                                            -4089, &d), 0);
    assert_int_equal(d.windows[2].reset, 3600);

    assert_true(ngsp_quota_fmt_policy(buf, sizeof(buf), "std", &d) > 0);
    assert_string_equal(buf, "\"std-s\";q=20;w=1, \"std-m\";q=1000;w=60, "
                             "\"std-d\";q=50000;w=86400");
    assert_true(ngsp_quota_fmt_ratelimit(buf, sizeof(buf), "std", &d) > 0);
    assert_string_equal(buf, "\"std-s\";r=19;t=1, \"std-m\";r=999;t=1, "
                             "\"std-d\";r=123;t=3600");

    /* too small: nothing, never a cut field */
    assert_int_equal(ngsp_quota_fmt_policy(buf, 20, "std", &d), 0);
    assert_int_equal(ngsp_quota_fmt_ratelimit(buf, 1, "std", &d), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_parse),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_tag),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_slot),
        cmocka_unit_test(test_script),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_span),
        cmocka_unit_test(test_state_read),
        cmocka_unit_test(test_command),
        cmocka_unit_test(test_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
