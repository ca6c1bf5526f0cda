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
 *
 * Redis's Lua is slow at the small things (measured inside redis-server:
 * about 0.2 us per tonumber, 0.7 us per number made a string, 1 us to
 * grow an 11-slot table, all garbage collected later), and the script runs
 * on every request: so no closures, the reply table built at full size,
 * values after admission derived from those before it, and strings made
 * only for the keys and values Redis needs.
 */

#include <string.h>

#include <openssl/evp.h>

#include "ngsp_quota.h"


const char  ngsp_quota_script[] =
"-- ngsp quota v4\n"
"if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
"local floor, tonumber = math.floor, tonumber\n"
"local policy, off, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
"if now == 0 then\n"
"  local t = redis.call('TIME')\n"
"  now = t[1] * 1000000 + t[2]\n"
"end\n"
"local n = #KEYS - 1\n"
"local lt = floor(now / 1000000) + off\n"
"local keys, fields = {}, {}\n"
"local dn, y, m, d\n"
"for i = 1, n do\n"
"  local unit = ARGV[2 + 2 * i]\n"
"  fields[i] = policy .. ':' .. unit\n"
"  if unit == 's' or unit == 'm' then\n"
"    keys[i] = KEYS[1 + i]\n"
"  else\n"
"    if not dn then\n"
"      dn = floor(lt / 86400)\n"
"      local z = dn + 719468\n"
"      local era = floor(z / 146097)\n"
"      local doe = z - era * 146097\n"
"      local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524)\n"
"                         - floor(doe / 146096)) / 365)\n"
"      local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))\n"
"      local mp = floor((5 * doy + 2) / 153)\n"
"      d = doy - floor((153 * mp + 2) / 5) + 1\n"
"      m = mp < 10 and mp + 3 or mp - 9\n"
"      y = yoe + era * 400\n"
"      if m <= 2 then y = y + 1 end\n"
"    end\n"
"    if unit == 'd' then\n"
"      keys[i] = KEYS[1 + i] .. ':' .. ((y * 100 + m) * 100 + d)\n"
"    elseif unit == 'h' then\n"
"      local id = ((y * 100 + m) * 100 + d) * 100\n"
"      keys[i] = KEYS[1 + i] .. ':' .. (id + floor(lt % 86400 / 3600))\n"
"    else\n"
"      keys[i] = KEYS[1 + i] .. ':' .. (y * 100 + m)\n"
"    end\n"
"  end\n"
"end\n"
"local ov = redis.call('HMGET', KEYS[1], unpack(fields))\n"
"local vals = redis.call('MGET', unpack(keys))\n"
"local allowed, retry = 1, 0\n"
"local out = {1, 0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n"
"             0, 0, 0}\n"
"out[4 + 4 * n] = nil\n"
"local ra, wv = {}, {}\n"
"for i = 1, n do\n"
"  local unit, limit = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])\n"
"  local o = ov[i]\n"
"  if o then\n"
"    o = tonumber(o)\n"
"    if o and o >= 0 and o == floor(o) then limit = o end\n"
"  end\n"
"  local j = 4 * i\n"
"  local rem, reset, rt\n"
"  out[j] = limit\n"
"  if unit == 's' or unit == 'm' then\n"
"    local win = (unit == 's') and 1000000 or 60000000\n"
"    out[j + 3] = win / 1000000\n"
"    if limit > 0 then\n"
"      local level = 0\n"
"      local st = vals[i]\n"
"      if st then\n"
"        local sp = string.find(st, ' ', 1, true)\n"
"        if sp then\n"
"          local last = tonumber(string.sub(st, sp + 1)) or now\n"
"          level = tonumber(string.sub(st, 1, sp - 1)) or 0\n"
"          if last < now then level = level - (now - last) * limit / win end\n"
"          if level < 0 then level = 0 end\n"
"        end\n"
"      end\n"
"      local step = win / limit\n"
"      rem = floor(limit - level + 1e-9)\n"
"      reset = floor((level * step + 999999) / 1000000)\n"
"      if level + 1 <= limit + 1e-9 then\n"
"        ra[i] = floor(((level + 1) * step + 999999) / 1000000)\n"
"        wv[i] = string.format('%.6f %d', level + 1, now)\n"
"        -- the key lives until the bucket has drained\n"
"        ra[n + i] = floor((level + 1) * step / 1000) + 1\n"
"      else\n"
"        rt = floor(((level + 1 - limit) * step + 999999) / 1000000)\n"
"      end\n"
"    else\n"
"      rem, reset, rt = 0, win / 1000000, win / 1000000\n"
"    end\n"
"  else\n"
"    local start, stop\n"
"    if unit == 'd' then\n"
"      start = dn * 86400\n"
"      stop = start + 86400\n"
"    elseif unit == 'h' then\n"
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
"    out[j + 3] = stop - start\n"
"    local used = tonumber(vals[i]) or 0\n"
"    rem = limit - used\n"
"    reset = floor(((stop - off) * 1000000 - now + 999999) / 1000000)\n"
"    if used + 1 <= limit then\n"
"      ra[i] = reset\n"
"      wv[i] = (used == 0) and (stop - off) or 0\n"
"    else\n"
"      rt = reset\n"
"    end\n"
"  end\n"
"  if rem < 0 then rem = 0 end\n"
"  out[j + 1], out[j + 2] = rem, reset\n"
"  if rt then\n"
"    allowed = 0\n"
"    if rt < 1 then rt = 1 end\n"
"    if rt > retry then retry = rt end\n"
"  end\n"
"end\n"
"out[1], out[2] = allowed, retry\n"
"if allowed == 1 then\n"
"  for i = 1, n do\n"
"    local j = 4 * i\n"
"    out[j + 1], out[j + 2] = out[j + 1] - 1, ra[i]\n"
"    local v = wv[i]\n"
"    if type(v) == 'string' then\n"
"      redis.call('SET', keys[i], v, 'PX', ra[n + i])\n"
"    else\n"
"      redis.call('INCR', keys[i])\n"
"      if v > 0 then redis.call('EXPIREAT', keys[i], v) end\n"
"    end\n"
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
