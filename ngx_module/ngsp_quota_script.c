/*
 * The Lua script that decides a request in one round trip, and its reply.
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
 */

#include <string.h>

#include <openssl/evp.h>

#include "ngsp_quota.h"


const char  ngsp_quota_script[] =
"-- ngsp quota v3\n"
"if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
"local floor = math.floor\n"
"local function civil(z)\n"
"  z = z + 719468\n"
"  local era = floor(z / 146097)\n"
"  local doe = z - era * 146097\n"
"  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524)\n"
"                     - floor(doe / 146096)) / 365)\n"
"  local y = yoe + era * 400\n"
"  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))\n"
"  local mp = floor((5 * doy + 2) / 153)\n"
"  local d = doy - floor((153 * mp + 2) / 5) + 1\n"
"  local m = mp < 10 and mp + 3 or mp - 9\n"
"  if m <= 2 then y = y + 1 end\n"
"  return y, m, d\n"
"end\n"
"local function days(y, m, d)\n"
"  if m <= 2 then y = y - 1 end\n"
"  local era = floor(y / 400)\n"
"  local yoe = y - era * 400\n"
"  local mp = m > 2 and m - 3 or m + 9\n"
"  local doy = floor((153 * mp + 2) / 5) + d - 1\n"
"  return era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100)\n"
"         + doy - 719468\n"
"end\n"
"local policy, off, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
"if now == 0 then\n"
"  local t = redis.call('TIME')\n"
"  now = t[1] * 1000000 + t[2]\n"
"end\n"
"local n = #KEYS - 1\n"
"local fields = {}\n"
"for i = 1, n do fields[i] = policy .. ':' .. ARGV[2 + 2 * i] end\n"
"local ov = redis.call('HMGET', KEYS[1], unpack(fields))\n"
"local lt = floor(now / 1000000) + off\n"
"local dn, y, m, d\n"
"local allowed, retry = 1, 0\n"
"local out = {1, 0, n}\n"
"for k = 4, 3 + 4 * n do out[k] = 0 end\n"
"local bef, aft, rbef, raft, wkey, wval, wexp = {}, {}, {}, {}, {}, {}, {}\n"
"local keys, cstart, cstop = {}, {}, {}\n"
"for i = 1, n do\n"
"  local unit = ARGV[2 + 2 * i]\n"
"  if unit == 's' or unit == 'm' then\n"
"    keys[i] = KEYS[1 + i]\n"
"  else\n"
"    if not dn then\n"
"      dn = floor(lt / 86400)\n"
"      y, m, d = civil(dn)\n"
"    end\n"
"    local start, stop, id\n"
"    if unit == 'h' then\n"
"      start = lt - lt % 3600\n"
"      stop = start + 3600\n"
"      id = ((y * 100 + m) * 100 + d) * 100 + floor((lt % 86400) / 3600)\n"
"    elseif unit == 'd' then\n"
"      start = dn * 86400\n"
"      stop = start + 86400\n"
"      id = (y * 100 + m) * 100 + d\n"
"    else\n"
"      start = days(y, m, 1) * 86400\n"
"      if m == 12 then stop = days(y + 1, 1, 1) * 86400\n"
"      else stop = days(y, m + 1, 1) * 86400 end\n"
"      id = y * 100 + m\n"
"    end\n"
"    keys[i], cstart[i], cstop[i] = KEYS[1 + i] .. ':' .. id, start, stop\n"
"  end\n"
"end\n"
"local vals = redis.call('MGET', unpack(keys))\n"
"for i = 1, n do\n"
"  local unit, limit = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])\n"
"  local o = tonumber(ov[i])\n"
"  if o and o >= 0 and o == floor(o) then limit = o end\n"
"  local j = 4 * i\n"
"  local ok, rt = false, 0\n"
"  out[j] = limit\n"
"  if unit == 's' or unit == 'm' then\n"
"    local win = (unit == 's') and 1000000 or 60000000\n"
"    out[j + 3] = win / 1000000\n"
"    if limit > 0 then\n"
"      local level, last = 0, now\n"
"      local st = vals[i]\n"
"      if st then\n"
"        local sp = string.find(st, ' ', 1, true)\n"
"        if sp then\n"
"          level = tonumber(string.sub(st, 1, sp - 1)) or 0\n"
"          last = tonumber(string.sub(st, sp + 1)) or now\n"
"        end\n"
"      end\n"
"      local rate = limit / win\n"
"      if last < now then level = level - (now - last) * rate end\n"
"      if level < 0 then level = 0 end\n"
"      bef[i] = floor(limit - level + 1e-9)\n"
"      rbef[i] = floor((level / rate + 999999) / 1000000)\n"
"      if level + 1 <= limit + 1e-9 then\n"
"        ok = true\n"
"        aft[i] = floor(limit - level - 1 + 1e-9)\n"
"        raft[i] = floor(((level + 1) / rate + 999999) / 1000000)\n"
"        wkey[i] = KEYS[1 + i]\n"
"        wval[i] = string.format('%.6f %d', level + 1, now)\n"
"        wexp[i] = floor((level + 1) / rate / 1000) + 1\n"
"      else\n"
"        rt = floor(((level + 1 - limit) / rate + 999999) / 1000000)\n"
"      end\n"
"    else\n"
"      bef[i], rbef[i], rt = 0, out[j + 3], out[j + 3]\n"
"    end\n"
"  else\n"
"    local stop = cstop[i]\n"
"    out[j + 3] = stop - cstart[i]\n"
"    local key = keys[i]\n"
"    local used = tonumber(vals[i]) or 0\n"
"    local reset = floor(((stop - off) * 1000000 - now + 999999) / 1000000)\n"
"    bef[i], rbef[i], raft[i] = limit - used, reset, reset\n"
"    if used + 1 <= limit then\n"
"      ok = true\n"
"      aft[i] = limit - used - 1\n"
"      wkey[i] = key\n"
"      wexp[i] = (used == 0) and (stop - off) or 0\n"
"    else\n"
"      rt = reset\n"
"    end\n"
"  end\n"
"  if bef[i] < 0 then bef[i] = 0 end\n"
"  if not ok then\n"
"    allowed = 0\n"
"    if rt < 1 then rt = 1 end\n"
"    if rt > retry then retry = rt end\n"
"  end\n"
"end\n"
"out[1], out[2] = allowed, retry\n"
"for i = 1, n do\n"
"  local j = 4 * i\n"
"  if allowed == 1 then\n"
"    out[j + 1], out[j + 2] = aft[i], raft[i]\n"
"    if wval[i] then\n"
"      redis.call('SET', wkey[i], wval[i], 'PX', wexp[i])\n"
"    else\n"
"      redis.call('INCR', wkey[i])\n"
"      if wexp[i] > 0 then redis.call('EXPIREAT', wkey[i], wexp[i]) end\n"
"    end\n"
"  else\n"
"    out[j + 1], out[j + 2] = bef[i], rbef[i]\n"
"  end\n"
"end\n"
"return out\n";

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


int
ngsp_quota_reply_parse(const long long *v, size_t n,
    const ngsp_quota_policy_t *p, ngsp_quota_decision_t *d)
{
    size_t               i;
    const long long     *w;
    ngsp_quota_state_t  *s, *t;

    memset(d, 0, sizeof(*d));

    if (n < 3 || (v[0] != 0 && v[0] != 1) || v[1] < 0
        || v[2] != (long long) p->nwindows || n != 3 + 4 * p->nwindows)
    {
        return -1;
    }

    d->allowed = (int) v[0];
    d->retry_after = v[1];
    d->nwindows = p->nwindows;

    for (i = 0; i < p->nwindows; i++) {
        w = v + 3 + 4 * i;

        if (w[0] < 0 || w[1] < 0 || w[2] < 0 || w[3] <= 0) {
            return -1;
        }

        s = &d->windows[i];
        s->unit = p->windows[i].unit;
        s->limit = w[0];
        s->remaining = w[1];
        s->reset = w[2];
        s->width = w[3];

        /* the tightest: least remaining, then the longest wait */
        t = &d->windows[d->tightest];
        if (s->remaining < t->remaining
            || (s->remaining == t->remaining && s->reset > t->reset))
        {
            d->tightest = i;
        }
    }

    if (!d->allowed && d->retry_after == 0) {
        d->retry_after = 1;
    }

    return 0;
}
