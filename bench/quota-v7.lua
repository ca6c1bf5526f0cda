-- ngsp quota v7
local n = #KEYS - 1
local a = {struct.unpack(ARGV[2], ARGV[1])}
local off, now = a[1], a[2]
if now == 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local lt = (now - now % 1000000) / 1000000 + off
local keys = {KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]}
local dn, y, m, d, sd
for i = 1, n do
  local u = a[1 + 2 * i]
  if u > 1 then
    if not dn then
      dn = (lt - lt % 86400) / 86400
      local z = dn + 719468
      local era = (z - z % 146097) / 146097
      local doe = z - era * 146097
      local q = doe - (doe - doe % 1460) / 1460 + (doe - doe % 36524) / 36524
                - (doe - doe % 146096) / 146096
      local yoe = (q - q % 365) / 365
      local doy = doe - (365 * yoe + (yoe - yoe % 4) / 4
                         - (yoe - yoe % 100) / 100)
      local b = 5 * doy + 2
      local mp = (b - b % 153) / 153
      local c = 153 * mp + 2
      d = doy - (c - c % 5) / 5 + 1
      m = mp < 10 and mp + 3 or mp - 9
      y = yoe + era * 400
      if m <= 2 then y = y + 1 end
      sd = string.format('%d', (y * 100 + m) * 100 + d)
    end
    if u == 3 then
      keys[i] = keys[i] .. ':' .. sd
    elseif u == 2 then
      local s = lt % 86400
      keys[i] = keys[i] .. ':' .. sd
                .. string.format('%02d', (s - s % 3600) / 3600)
    else
      keys[i] = keys[i] .. ':' .. string.sub(sd, 1, 6)
    end
  end
end
local ov = redis.call('HMGET', KEYS[1], unpack(ARGV, 4, 3 + n))
local vals = redis.call('MGET', unpack(keys, 1, n))
local retry = 0
local r = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           0, 0, 0, 0, 0}
local ra = {0, 0, 0, 0, 0}
local wv = {0, 0, 0, 0, 0}
local ttl = {0, 0, 0, 0, 0}
for i = 1, n do
  local u, limit = a[1 + 2 * i], a[2 + 2 * i]
  local o = ov[i]
  if o then
    local v = #o <= 16 and not string.find(o, '%D') and tonumber(o)
    if v and v <= 1e15 then limit = v else r[2 + 4 * n + i] = #o + 1 end
  end
  local j = 4 * i - 1
  local rem, reset, rt, x
  if u <= 1 then
    local win = (u == 0) and 1000000 or 60000000
    r[j + 3] = win / 1000000
    if limit > 0 then
      local level = 0
      local st = vals[i]
      local since = now
      local l, last, set
      if st and #st == 24 then l, last, set = struct.unpack('<ddd', st) end
      -- anything else (NaN fails every test) is a fresh bucket
      if l and l >= 0 and l < 1e16 and last >= 0 and last < 1e17
         and set >= 0 then
        level = l
        if set <= now and now - set < win then since = set end
        if last < now then level = level - (now - last) * limit / win end
        if level < 0 then level = 0 end
      end
      local step = win / limit
      x = limit - level + 1e-9
      rem = x - x % 1
      x = level * step + 999999
      reset = (x - x % 1000000) / 1000000
      if level + 1 <= limit + 1e-9 then
        x = (level + 1) * step + 999999
        ra[i] = (x - x % 1000000) / 1000000
        wv[i] = struct.pack('<ddd', level + 1, now, since)
        if since == now then ttl[i] = u == 0 and '2000' or '120000' end
      else
        x = (level + 1 - limit) * step + 999999
        rt = (x - x % 1000000) / 1000000
      end
    else
      rem, reset, rt = 0, win / 1000000, win / 1000000
    end
  else
    local start, stop
    if u == 3 then
      start = dn * 86400
      stop = start + 86400
    elseif u == 2 then
      start = lt - lt % 3600
      stop = start + 3600
    else
      start = (dn - d + 1) * 86400
      local ml = 31
      if m == 2 then
        ml = (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28
      elseif m == 4 or m == 6 or m == 9 or m == 11 then
        ml = 30
      end
      stop = start + ml * 86400
    end
    r[j + 3] = stop - start
    local used = 0
    if vals[i] then used = tonumber(vals[i]) or 0 end
    rem = limit - used
    x = (stop - off) * 1000000 - now + 999999
    reset = (x - x % 1000000) / 1000000
    if used < limit then
      ra[i] = reset
      if used == 0 then wv[i] = stop - off end
    else
      rt = reset
    end
  end
  if rem < 0 then rem = 0 end
  r[j], r[j + 1], r[j + 2] = limit, rem, reset
  if rt then
    if rt < 1 then rt = 1 end
    if rt > retry then retry = rt end
  end
end
if retry == 0 then
  for i = 1, n do
    local j = 4 * i - 1
    r[j + 1], r[j + 2] = r[j + 1] - 1, ra[i]
    local v = wv[i]
    if type(v) == 'string' then
      if ttl[i] == 0 then
        redis.call('SET', keys[i], v, 'KEEPTTL')
      else
        redis.call('SET', keys[i], v, 'PX', ttl[i])
      end
    else
      redis.call('INCR', keys[i])
      if v > 0 then redis.call('EXPIREAT', keys[i], v) end
    end
  end
else
  r[1], r[2] = 0, retry
end
return struct.pack(ARGV[3], unpack(r, 1, 2 + 5 * n))
