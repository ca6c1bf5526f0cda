/*
 * The Lua script that decides a request in one round trip, the command
 * that runs it, and its reply.
 *
 * Second and minute windows are GCRA, kept as a leaky bucket (one key
 * holding the level and the microsecond it was measured at, draining at
 * limit per window): a full burst is admitted, then one request every
 * window/limit, so a burst at a window edge never passes twice the rate.
 * The level is in requests, not time, so a changed limit applies at once.
 *
 * Hour, day and month windows are calendar windows in a fixed UTC offset:
 * one counter per window, named by its local date and expiring when the
 * window ends.  Nothing is written unless every window admits the request.
 * Every window's key is read with one MGET: fewer calls, less Redis time.
 *
 * The script runs on every request, and Redis's Lua is slow exactly where
 * text meets numbers (measured with callgrind inside redis-server: about
 * 1500 instructions per tonumber, 3600 per number made a string, 1000 per
 * element of a table reply).  So numbers cross the boundary packed as
 * little-endian doubles with Redis's struct library: the arguments in one
 * string (the offset, the clock, a unit code and limit per window), a
 * bucket's state in 24 bytes, the reply in one string.  Whole numbers up
 * to 2^53 are exact as doubles; limits stop at 10^9, overrides at 10^15.
 *
 * An override is taken only when it is all digits and at most 10^15:
 * tonumber() alone would also read " 5", "0x10" or "1e3".  Any other
 * value is ignored, and the reply says so (its length, for the log): an
 * operator's typo must not pass unnoticed, nor its content be logged.
 *
 * A bucket drains within one window of its last admission, so its key
 * needs to live that long.  Setting a TTL costs Redis about twice a write
 * that keeps it (SET ... PX against SET ... KEEPTTL), so a bucket's TTL is
 * set to two windows and renewed only once a window has passed since it
 * was set (the third double): at any write, at least one window is left.
 *
 * All this takes about 0.75 times the Redis instructions of the text
 * version per decision, and 0.3 times nginx's (no printf-style formatting,
 * one reply object).
 */

#include <string.h>

#include <openssl/evp.h>

#include "ngsp_quota.h"


const char  ngsp_quota_script[] =
"-- ngsp quota v7\n"
"local n = #KEYS - 1\n"
"local a = {struct.unpack(ARGV[2], ARGV[1])}\n"
"local off, now = a[1], a[2]\n"
"if now == 0 then\n"
"  local t = redis.call('TIME')\n"
"  now = t[1] * 1000000 + t[2]\n"
"end\n"
"local lt = (now - now % 1000000) / 1000000 + off\n"
"local keys = {KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]}\n"
"local dn, y, m, d, sd\n"
"for i = 1, n do\n"
"  local u = a[1 + 2 * i]\n"
"  if u > 1 then\n"
"    if not dn then\n"
"      dn = (lt - lt % 86400) / 86400\n"
"      local z = dn + 719468\n"
"      local era = (z - z % 146097) / 146097\n"
"      local doe = z - era * 146097\n"
"      local q = doe - (doe - doe % 1460) / 1460 + (doe - doe % 36524) / 36524\n"
"                - (doe - doe % 146096) / 146096\n"
"      local yoe = (q - q % 365) / 365\n"
"      local doy = doe - (365 * yoe + (yoe - yoe % 4) / 4\n"
"                         - (yoe - yoe % 100) / 100)\n"
"      local b = 5 * doy + 2\n"
"      local mp = (b - b % 153) / 153\n"
"      local c = 153 * mp + 2\n"
"      d = doy - (c - c % 5) / 5 + 1\n"
"      m = mp < 10 and mp + 3 or mp - 9\n"
"      y = yoe + era * 400\n"
"      if m <= 2 then y = y + 1 end\n"
"      sd = string.format('%d', (y * 100 + m) * 100 + d)\n"
"    end\n"
"    if u == 3 then\n"
"      keys[i] = keys[i] .. ':' .. sd\n"
"    elseif u == 2 then\n"
"      local s = lt % 86400\n"
"      keys[i] = keys[i] .. ':' .. sd\n"
"                .. string.format('%02d', (s - s % 3600) / 3600)\n"
"    else\n"
"      keys[i] = keys[i] .. ':' .. string.sub(sd, 1, 6)\n"
"    end\n"
"  end\n"
"end\n"
"local ov = redis.call('HMGET', KEYS[1], unpack(ARGV, 4, 3 + n))\n"
"local vals = redis.call('MGET', unpack(keys, 1, n))\n"
"local retry = 0\n"
"local r = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n"
"           0, 0, 0, 0, 0}\n"
"local ra = {0, 0, 0, 0, 0}\n"
"local wv = {0, 0, 0, 0, 0}\n"
"local ttl = {0, 0, 0, 0, 0}\n"
"for i = 1, n do\n"
"  local u, limit = a[1 + 2 * i], a[2 + 2 * i]\n"
"  local o = ov[i]\n"
"  if o then\n"
"    local v = #o <= 16 and not string.find(o, '%D') and tonumber(o)\n"
"    if v and v <= 1e15 then limit = v else r[2 + 4 * n + i] = #o + 1 end\n"
"  end\n"
"  local j = 4 * i - 1\n"
"  local rem, reset, rt, x\n"
"  if u <= 1 then\n"
"    local win = (u == 0) and 1000000 or 60000000\n"
"    r[j + 3] = win / 1000000\n"
"    if limit > 0 then\n"
"      local level = 0\n"
"      local st = vals[i]\n"
"      local since = now\n"
"      local l, last, set\n"
"      if st and #st == 24 then l, last, set = struct.unpack('<ddd', st) end\n"
"      -- anything else (NaN fails every test) is a fresh bucket\n"
"      if l and l >= 0 and l < 1e16 and last >= 0 and last < 1e17\n"
"         and set >= 0 then\n"
"        level = l\n"
"        if set <= now and now - set < win then since = set end\n"
"        if last < now then level = level - (now - last) * limit / win end\n"
"        if level < 0 then level = 0 end\n"
"      end\n"
"      local step = win / limit\n"
"      x = limit - level + 1e-9\n"
"      rem = x - x % 1\n"
"      x = level * step + 999999\n"
"      reset = (x - x % 1000000) / 1000000\n"
"      if level + 1 <= limit + 1e-9 then\n"
"        x = (level + 1) * step + 999999\n"
"        ra[i] = (x - x % 1000000) / 1000000\n"
"        wv[i] = struct.pack('<ddd', level + 1, now, since)\n"
"        if since == now then ttl[i] = u == 0 and '2000' or '120000' end\n"
"      else\n"
"        x = (level + 1 - limit) * step + 999999\n"
"        rt = (x - x % 1000000) / 1000000\n"
"      end\n"
"    else\n"
"      rem, reset, rt = 0, win / 1000000, win / 1000000\n"
"    end\n"
"  else\n"
"    local start, stop\n"
"    if u == 3 then\n"
"      start = dn * 86400\n"
"      stop = start + 86400\n"
"    elseif u == 2 then\n"
"      start = lt - lt % 3600\n"
"      stop = start + 3600\n"
"    else\n"
"      start = (dn - d + 1) * 86400\n"
"      local ml = 31\n"
"      if m == 2 then\n"
"        ml = (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28\n"
"      elseif m == 4 or m == 6 or m == 9 or m == 11 then\n"
"        ml = 30\n"
"      end\n"
"      stop = start + ml * 86400\n"
"    end\n"
"    r[j + 3] = stop - start\n"
"    local used = 0\n"
"    if vals[i] then used = tonumber(vals[i]) or 0 end\n"
"    rem = limit - used\n"
"    x = (stop - off) * 1000000 - now + 999999\n"
"    reset = (x - x % 1000000) / 1000000\n"
"    if used < limit then\n"
"      ra[i] = reset\n"
"      if used == 0 then wv[i] = stop - off end\n"
"    else\n"
"      rt = reset\n"
"    end\n"
"  end\n"
"  if rem < 0 then rem = 0 end\n"
"  r[j], r[j + 1], r[j + 2] = limit, rem, reset\n"
"  if rt then\n"
"    if rt < 1 then rt = 1 end\n"
"    if rt > retry then retry = rt end\n"
"  end\n"
"end\n"
"if retry == 0 then\n"
"  for i = 1, n do\n"
"    local j = 4 * i - 1\n"
"    r[j + 1], r[j + 2] = r[j + 1] - 1, ra[i]\n"
"    local v = wv[i]\n"
"    if type(v) == 'string' then\n"
"      if ttl[i] == 0 then\n"
"        redis.call('SET', keys[i], v, 'KEEPTTL')\n"
"      else\n"
"        redis.call('SET', keys[i], v, 'PX', ttl[i])\n"
"      end\n"
"    else\n"
"      redis.call('INCR', keys[i])\n"
"      if v > 0 then redis.call('EXPIREAT', keys[i], v) end\n"
"    end\n"
"  end\n"
"else\n"
"  r[1], r[2] = 0, retry\n"
"end\n"
"return struct.pack(ARGV[3], unpack(r, 1, 2 + 5 * n))\n";

const size_t  ngsp_quota_script_len = sizeof(ngsp_quota_script) - 1;


int
ngsp_quota_script_sha1(char *out)
{
    size_t             i;
    unsigned int       n;
    unsigned char      md[EVP_MAX_MD_SIZE];
    static const char  hex[] = "0123456789abcdef";

    if (EVP_Digest(ngsp_quota_script, sizeof(ngsp_quota_script) - 1, md, &n,
                   EVP_sha1(), NULL) != 1 || n != 20)
    {
        return -1;
    }

    for (i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }

    out[40] = '\0';

    return 0;
}


/* a RESP count line: "*<n>\r\n" (an array) or "$<n>\r\n" (a string) */
static unsigned char *
ngsp_quota_count(unsigned char *p, char type, size_t n)
{
    char  num[NGSP_QUOTA_DEC_MAX], *q;

    q = ngsp_quota_dec(num + sizeof(num), n);

    *p++ = (unsigned char) type;
    memcpy(p, q, num + sizeof(num) - q);
    p += num + sizeof(num) - q;
    *p++ = '\r';
    *p++ = '\n';

    return p;
}


static unsigned char *
ngsp_quota_arg(unsigned char *p, const void *data, size_t len)
{
    p = ngsp_quota_count(p, '$', len);
    memcpy(p, data, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';

    return p;
}


static unsigned char *
ngsp_quota_double(unsigned char *p, double v)
{
    int       i;
    uint64_t  u;

    memcpy(&u, &v, sizeof(u));

    for (i = 0; i < 8; i++) {
        *p++ = (unsigned char) (u >> (8 * i));
    }

    return p;
}


size_t
ngsp_quota_command(unsigned char *buf, size_t size, const char *sha1,
    const char *tag, size_t tag_len, const ngsp_quota_policy_t *p, long tz)
{
    size_t          i, n, len;
    const char     *unit;
    unsigned char  *q, *b, blob[8 * (2 + 2 * NGSP_QUOTA_MAX_WINDOWS)];
    char            key[NGSP_QUOTA_KEY_MAX];
    char            fmt[3 + 5 * NGSP_QUOTA_MAX_WINDOWS];

    n = p->nwindows;

    if (n == 0 || n > NGSP_QUOTA_MAX_WINDOWS || tag_len == 0
        || tag_len > NGSP_QUOTA_TAG_MAX)
    {
        return 0;
    }

    if (size < NGSP_QUOTA_CMD_MAX + (sha1 ? 0 : ngsp_quota_script_len)) {
        return 0;
    }

    /* EVALSHA, sha1, numkeys, 1 + n keys, 3 + n arguments: 9 to 17 */
    q = ngsp_quota_count(buf, '*', 7 + 2 * n);

    if (sha1) {
        q = ngsp_quota_arg(q, "EVALSHA", 7);
        q = ngsp_quota_arg(q, sha1, 40);

    } else {
        q = ngsp_quota_arg(q, "EVAL", 4);
        q = ngsp_quota_arg(q, ngsp_quota_script, ngsp_quota_script_len);
    }

    key[0] = (char) ('0' + (n + 1));
    q = ngsp_quota_arg(q, key, 1);

    q = ngsp_quota_arg(q, key, ngsp_quota_limits_key(tag, tag_len, key));

    for (i = 0; i < n; i++) {
        q = ngsp_quota_arg(q, key, ngsp_quota_window_key(tag, tag_len,
                                                         p->name,
                                                         p->windows[i].unit,
                                                         key));
    }

    /* ARGV[1]: offset, clock (0: Redis's), then unit and limit */
    b = ngsp_quota_double(blob, (double) tz);
    b = ngsp_quota_double(b, 0);

    for (i = 0; i < n; i++) {
        b = ngsp_quota_double(b, (double) p->windows[i].unit);
        b = ngsp_quota_double(b, (double) p->windows[i].limit);
    }

    q = ngsp_quota_arg(q, blob, b - blob);

    /* ARGV[2], ARGV[3]: how to unpack the arguments and pack the reply */
    fmt[0] = '<';
    memset(fmt + 1, 'd', 2 + 5 * n);
    q = ngsp_quota_arg(q, fmt, 3 + 2 * n);
    q = ngsp_quota_arg(q, fmt, 3 + 5 * n);

    /* ARGV[4...]: the override field of each window, "<policy>:<unit>" */
    for (i = 0; i < n; i++) {
        unit = ngsp_quota_unit_name(p->windows[i].unit);
        len = strlen(p->name);
        memcpy(key, p->name, len);
        key[len++] = ':';
        memcpy(key + len, unit, strlen(unit));
        q = ngsp_quota_arg(q, key, len + strlen(unit));
    }

    return q - buf;
}


static int
ngsp_quota_get(const unsigned char *p, int64_t *v)
{
    int       i;
    double    f;
    uint64_t  u;

    u = 0;

    for (i = 7; i >= 0; i--) {
        u = u << 8 | p[i];
    }

    memcpy(&f, &u, sizeof(f));

    /* whole numbers that a double holds exactly; NaN fails both tests */
    if (!(f >= -9007199254740992.0 && f <= 9007199254740992.0)
        || f != (double) (int64_t) f)
    {
        return -1;
    }

    *v = (int64_t) f;

    return 0;
}


int
ngsp_quota_reply_parse(const unsigned char *s, size_t len,
    const ngsp_quota_policy_t *p, ngsp_quota_decision_t *d)
{
    size_t               i, k;
    int64_t              v[2 + 5 * NGSP_QUOTA_MAX_WINDOWS], *w;
    ngsp_quota_state_t  *st, *t;

    memset(d, 0, sizeof(*d));

    if (p->nwindows > NGSP_QUOTA_MAX_WINDOWS
        || len != 8 * (2 + 5 * p->nwindows))
    {
        return -1;
    }

    for (k = 0; k < len / 8; k++) {
        if (ngsp_quota_get(s + 8 * k, &v[k]) != 0) {
            return -1;
        }
    }

    if ((v[0] != 0 && v[0] != 1) || v[1] < 0) {
        return -1;
    }

    d->allowed = (int) v[0];
    d->retry_after = v[1];
    d->nwindows = p->nwindows;

    for (i = 0; i < p->nwindows; i++) {
        w = v + 2 + 4 * i;

        if (w[0] < 0 || w[1] < 0 || w[2] < 0 || w[3] <= 0
            || v[2 + 4 * p->nwindows + i] < 0)
        {
            return -1;
        }

        st = &d->windows[i];
        st->ignored = v[2 + 4 * p->nwindows + i];

        if (st->ignored) {
            d->invalid |= 1u << i;
        }

        st->unit = p->windows[i].unit;
        st->limit = w[0];
        st->remaining = w[1];
        st->reset = w[2];
        st->width = w[3];

        /* the tightest: least remaining, then the longest wait */
        t = &d->windows[d->tightest];
        if (st->remaining < t->remaining
            || (st->remaining == t->remaining && st->reset > t->reset))
        {
            d->tightest = i;
        }
    }

    if (!d->allowed && d->retry_after == 0) {
        d->retry_after = 1;
    }

    return 0;
}
