/*
 * The Lua script that decides a request in one round trip, and the
 * command that runs it.  Its reply is read in ngsp_quota_reply.c.
 *
 * Second and minute windows are GCRA, kept as a leaky bucket (a level in
 * requests, draining at limit per window): a full burst is admitted, then
 * one request every window/limit, so a burst at a window edge never passes
 * twice the rate.  The level is in requests, not time, so a changed limit
 * applies at once.  Hour, day and month windows are calendar windows in a
 * fixed UTC offset, counted from the local edge.  Nothing is written
 * unless every window admits the request.
 *
 * Redis's TIME is the one clock: calendar edges and GCRA are decided by
 * the same clock for every host, whatever the hosts' own clocks say.
 *
 * How many decisions one Redis core holds bounds a shard, so the script is
 * cut to what must happen inside Redis, measured with callgrind inside
 * redis-server (bench/README.md):
 *
 * - One string per agency and policy holds every window's level, the time
 *   they were measured at, the month window's end and when the key
 *   expires: one GET and one SET, whatever the number of windows.  The key
 *   lives until the end of its longest window (calendar windows) or two
 *   windows (GCRA); its TTL is set again only when less than a window is
 *   left, since SET ... PXAT costs Redis about twice SET ... KEEPTTL.
 * - The state written is the reply: the levels before the request, the
 *   limits in force and Redis's clock.  What a client is told (remaining,
 *   reset, retry-after, the window's length) is derived in C from it, where
 *   arithmetic is cheap; the state of a refused request is not written.
 * - Numbers cross the boundary packed as little-endian doubles with
 *   Redis's struct library (Lua spends about 1500 instructions per
 *   tonumber and 3600 per number made a string).  Whole numbers up to 2^53
 *   are exact as doubles; limits stop at 10^9, overrides at 10^15.
 * - Overrides stay in the limits hash that ngspctl writes, read with
 *   HMGET only when the hash EXISTS: an agency without any (most) costs an
 *   integer reply instead of a table of nils.  The state never goes into
 *   that hash: with a per-citizen key it would never expire.
 * - The month's end is worked out on the calendar once a month: a stored
 *   end that is a local midnight less than 28 days ahead is this month's.
 *
 * An override is taken only when it is all digits and at most 10^15:
 * tonumber() alone would also read " 5", "0x10" or "1e3".  Any other value
 * is ignored, and the reply says so (its length, for the log): an
 * operator's typo must not pass unnoticed, nor its content be logged.
 *
 * A state of another policy shape (units changed by a reload), or one the
 * script never writes (NaN fails every test), counts as empty.
 */

#include <string.h>

#include <openssl/evp.h>

#include "ngsp_quota.h"


const char  ngsp_quota_script[] =
"-- ngsp quota v8\n"
"local a = {struct.unpack(ARGV[2], ARGV[1])}\n"
"local off, now, code = a[1], a[2], a[3]\n"
"if now == 0 then\n"
"  local t = redis.call('TIME')\n"
"  now = t[1] * 1000000 + t[2]\n"
"end\n"
"local n = #ARGV - 3\n"
"local ov\n"
"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
"  ov = redis.call('HMGET', KEYS[1], unpack(ARGV, 4, 3 + n))\n"
"end\n"
"local st = redis.call('GET', KEYS[2])\n"
"local s, last, ll\n"
"if st and #st == 40 + 16 * n then\n"
"  s = {struct.unpack(ARGV[3], st)}\n"
"  last = s[3]\n"
"  if s[1] == code and s[4] == 1 and last >= 0 and last < 1e17 then\n"
"    ll = (last - last % 1000000) / 1000000 + off\n"
"  else\n"
"    s = nil\n"
"  end\n"
"end\n"
"-- a key's clock never goes back: after a failover to a Redis whose clock\n"
"-- is behind, the windows counted stay the windows counting\n"
"if s and last > now then now = last end\n"
"local lt = (now - now % 1000000) / 1000000 + off\n"
"-- the state read becomes the reply: one table fewer\n"
"local r = s or {code, 0, now, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}\n"
"r[3] = now\n"
"local ok, need, exp = 1, 0, 0\n"
"for i = 1, n do\n"
"  local u, lim = a[2 + 2 * i], a[3 + 2 * i]\n"
"  local j = 4 + 2 * i\n"
"  r[j + 1] = lim\n"
"  local o = ov and ov[i]\n"
"  if o then\n"
"    local v = #o <= 16 and not string.find(o, '%D') and tonumber(o)\n"
"    if v and v <= 1e15 then\n"
"      lim = v\n"
"      r[j + 1] = v\n"
"    else\n"
"      r[j + 1] = -1 - #o\n"
"    end\n"
"  end\n"
"  local level, e = 0\n"
"  if s then\n"
"    level = s[j]\n"
"    -- what the script never writes (NaN fails every test) counts as 0\n"
"    if level >= 0 and level < 1e16 then level = level + 1 else level = 0 end\n"
"  end\n"
"  if u <= 1 then\n"
"    local win = u == 0 and 1000000 or 60000000\n"
"    if s and last < now then\n"
"      level = level - (now - last) * lim / win\n"
"      if level < 0 then level = 0 end\n"
"    end\n"
"    if level + 1 > lim + 1e-9 then ok = 0 end\n"
"    e = now + win\n"
"    if e + win > exp then exp = e + win end\n"
"  else\n"
"    if u == 2 then\n"
"      e = lt - lt % 3600\n"
"      if s and ll - ll % 3600 ~= e then level = 0 end\n"
"      e = (e + 3600 - off) * 1000000\n"
"    elseif u == 3 then\n"
"      e = lt - lt % 86400\n"
"      if s and ll - ll % 86400 ~= e then level = 0 end\n"
"      e = (e + 86400 - off) * 1000000\n"
"    else\n"
"      e = s and s[5]\n"
"      -- a stored month end, a local midnight at most 28 days ahead, is\n"
"      -- this month's end: the calendar is worked out once a month\n"
"      if not (e and e > now and e - now <= 2419200000000\n"
"              and ((e - e % 1000000) / 1000000 + off) % 86400 == 0) then\n"
"        local dn = (lt - lt % 86400) / 86400\n"
"        local z = dn + 719468\n"
"        local era = (z - z % 146097) / 146097\n"
"        local doe = z - era * 146097\n"
"        local q = doe - (doe - doe % 1460) / 1460\n"
"                  + (doe - doe % 36524) / 36524\n"
"                  - (doe - doe % 146096) / 146096\n"
"        local yoe = (q - q % 365) / 365\n"
"        local doy = doe - (365 * yoe + (yoe - yoe % 4) / 4\n"
"                           - (yoe - yoe % 100) / 100)\n"
"        local b = 5 * doy + 2\n"
"        local mp = (b - b % 153) / 153\n"
"        local c = 153 * mp + 2\n"
"        local d = doy - (c - c % 5) / 5 + 1\n"
"        local m = mp < 10 and mp + 3 or mp - 9\n"
"        local y = yoe + era * 400\n"
"        if m <= 2 then y = y + 1 end\n"
"        local ml = 31\n"
"        if m == 2 then\n"
"          ml = (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28\n"
"        elseif m == 4 or m == 6 or m == 9 or m == 11 then\n"
"          ml = 30\n"
"        end\n"
"        e = ((dn - d + 1 + ml) * 86400 - off) * 1000000\n"
"        if s and s[5] ~= e then level = 0 end\n"
"      end\n"
"      r[5] = e\n"
"    end\n"
"    if level >= lim then ok = 0 end\n"
"    if e > exp then exp = e end\n"
"  end\n"
"  r[j] = level\n"
"  if e > need then need = e end\n"
"end\n"
"if ok == 0 then\n"
"  r[4] = 0\n"
"  return struct.pack(ARGV[3], unpack(r, 1, 5 + 2 * n))\n"
"end\n"
"if s and s[2] >= need then\n"
"  r[2] = s[2]\n"
"  st = struct.pack(ARGV[3], unpack(r, 1, 5 + 2 * n))\n"
"  redis.call('SET', KEYS[2], st, 'KEEPTTL')\n"
"else\n"
"  exp = exp - exp % 1000\n"
"  r[2] = exp\n"
"  st = struct.pack(ARGV[3], unpack(r, 1, 5 + 2 * n))\n"
"  redis.call('SET', KEYS[2], st, 'PXAT', exp / 1000)\n"
"end\n"
"return st\n";

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


double
ngsp_quota_shape(const ngsp_quota_policy_t *p)
{
    size_t  i;
    double  shape;

    /* a digit per window in base 8: the unit code + 1 */
    shape = 0;

    for (i = 0; i < p->nwindows; i++) {
        shape = shape * 8 + (double) p->windows[i].unit + 1;
    }

    return shape;
}


size_t
ngsp_quota_command(unsigned char *buf, size_t size, const char *sha1,
    const char *tag, size_t tag_len, const ngsp_quota_policy_t *p, long tz)
{
    size_t          i, n, len;
    const char     *unit;
    unsigned char  *q, *b, blob[8 * (3 + 2 * NGSP_QUOTA_MAX_WINDOWS)];
    char            key[NGSP_QUOTA_KEY_MAX];
    char            fmt[6 + 2 * NGSP_QUOTA_MAX_WINDOWS];

    n = p->nwindows;

    if (n == 0 || n > NGSP_QUOTA_MAX_WINDOWS || tag_len == 0
        || tag_len > NGSP_QUOTA_TAG_MAX)
    {
        return 0;
    }

    if (size < NGSP_QUOTA_CMD_MAX + (sha1 ? 0 : ngsp_quota_script_len)) {
        return 0;
    }

    /* EVALSHA, sha1, numkeys, 2 keys, 3 + n arguments: 9 to 13 */
    q = ngsp_quota_count(buf, '*', 8 + n);

    if (sha1) {
        q = ngsp_quota_arg(q, "EVALSHA", 7);
        q = ngsp_quota_arg(q, sha1, 40);

    } else {
        q = ngsp_quota_arg(q, "EVAL", 4);
        q = ngsp_quota_arg(q, ngsp_quota_script, ngsp_quota_script_len);
    }

    q = ngsp_quota_arg(q, "2", 1);
    q = ngsp_quota_arg(q, key, ngsp_quota_limits_key(tag, tag_len, key));

    len = ngsp_quota_state_key(tag, tag_len, p->name, key);
    if (len == 0) {
        return 0;
    }

    q = ngsp_quota_arg(q, key, len);

    /* ARGV[1]: offset, clock (0: Redis's), shape, then unit and limit */
    b = ngsp_quota_double(blob, (double) tz);
    b = ngsp_quota_double(b, 0);
    b = ngsp_quota_double(b, ngsp_quota_shape(p));

    for (i = 0; i < n; i++) {
        b = ngsp_quota_double(b, (double) p->windows[i].unit);
        b = ngsp_quota_double(b, (double) p->windows[i].limit);
    }

    q = ngsp_quota_arg(q, blob, b - blob);

    /* ARGV[2], ARGV[3]: how to unpack the arguments, and the state */
    fmt[0] = '<';
    memset(fmt + 1, 'd', 5 + 2 * n);
    q = ngsp_quota_arg(q, fmt, 4 + 2 * n);
    q = ngsp_quota_arg(q, fmt, 6 + 2 * n);

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
