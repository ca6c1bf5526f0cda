-- resty.ngsp.quota: one quota decision from Lua, with the module's own
-- command (the script's SHA1, the key layout, the agency's hash tag)
-- sent over a cosocket to the configured ngsp_redis, so that decisions
-- made here and in C draw from the same counters.  On a Redis Cluster it
-- goes to a master the worker's C side talks to, and follows that
-- master's MOVED or ASK once (remembering where MOVED sent each agency).

local ffi = require "ffi"
local base = require "resty.core.base"
local ngsp = require "resty.ngsp"

local C = ffi.C
local ffi_new = ffi.new
local ffi_str = ffi.string
local get_request = base.get_request
local tcp = ngx.socket.tcp
local tonumber = tonumber
local type = type
local sub = string.sub
local byte = string.byte
local match = string.match

local OK, DECLINED, AGAIN = ngsp.OK, ngsp.DECLINED, ngsp.AGAIN

local _M = {}

local redis_c = ffi_new("ngsp_lua_redis_t")
local decision_c = ffi_new("ngsp_lua_quota_decision_t")
local size_ptr = ffi_new("size_t[1]")
local cmd_size = 4096
local cmd_buf = ffi_new("char[?]", cmd_size)

local ASKING = "*1\r\n$6\r\nASKING\r\n"
local KEEPALIVE_MS = 60000
local POOL_SIZE = 32


local function command(r, policy, key, eval)
    local rc = C.ngsp_lua_quota_command(r, policy, #policy, key, #key, eval,
                                        cmd_buf, cmd_size, size_ptr)
    if rc == AGAIN then
        cmd_size = tonumber(size_ptr[0])
        cmd_buf = ffi_new("char[?]", cmd_size)
        rc = C.ngsp_lua_quota_command(r, policy, #policy, key, #key, eval,
                                      cmd_buf, cmd_size, size_ptr)
    end
    if rc ~= OK then
        return nil, rc
    end
    return ffi_str(cmd_buf, size_ptr[0])
end


local function resp(...)
    local args = { ... }
    local out = { "*", #args, "\r\n" }
    for i = 1, #args do
        local a = args[i]
        out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
    end
    return table.concat(out)
end


-- one reply: a bulk string, or nil, the error's text and whether Redis
-- said it (the connection is still in step)
local function read_reply(sock)
    local line, err = sock:receive("*l")
    if not line then
        return nil, err
    end
    local c = byte(line, 1)
    if c == 36 then                                     -- '$'
        local n = tonumber(sub(line, 2))
        if not n or n < 0 or n > 4096 then
            return nil, "unexpected reply"
        end
        local data
        data, err = sock:receive(n + 2)
        if not data then
            return nil, err
        end
        return sub(data, 1, n)
    elseif c == 43 then                                 -- '+'
        return sub(line, 2)
    elseif c == 45 then                                 -- '-'
        return nil, sub(line, 2), true
    end
    return nil, "unexpected reply"
end


-- the status zone's outcomes, as the C quota module's decisions count
local ALLOWED, REJECTED, ERROR = 0, 1, 2


local function fail(r, policy, open, why)
    ngx.log(ngx.ERR, "ngsp: quota: ", why,
            open and ", let through (ngsp_quota_fail open)"
                  or ", refused (ngsp_quota_fail closed)")
    C.ngsp_lua_status_quota(r, policy, #policy, ERROR, nil)
    return open, nil, why
end


-- A Redis Cluster's masters by agency tag, learned from MOVED: a
-- decision goes straight to the master of its slot; bounded, as tags
-- come from requests.
local masters = {}
local nmasters = 0
local MASTERS_MAX = 4096


local function remember(tag, host, port)
    if not masters[tag] then
        if nmasters >= MASTERS_MAX then
            masters = {}
            nmasters = 0
        end
        nmasters = nmasters + 1
    end
    masters[tag] = { host, port }
end


local function forget(tag)
    if masters[tag] then
        masters[tag] = nil
        nmasters = nmasters - 1
    end
end


-- cmd (after ASKING when asking) to host:port, and its reply: the reply,
-- or nil, why, whether the connection failed, and the error Redis said
local function exchange(r, policy, key, cmd, host, port, asking)
    local db = redis_c.db
    local t = redis_c.timeout

    local sock = tcp()
    sock:settimeouts(t, t, t)

    local ok, err
    if port == 0 then
        ok, err = sock:connect("unix:" .. host, {
            pool = "ngsp:unix:" .. host .. ":" .. db,
            pool_size = POOL_SIZE })
    else
        ok, err = sock:connect(host, port, {
            pool = "ngsp:" .. host .. ":" .. port .. ":" .. db,
            pool_size = POOL_SIZE })
    end
    if not ok then
        return nil, "redis connection failed: " .. err, true
    end

    -- a new connection authenticates and selects, as the C side does
    if sock:getreusedtimes() == 0 then
        local pre = ""
        if redis_c.password_len > 0 then
            pre = resp("AUTH", ffi_str(redis_c.password,
                                       redis_c.password_len))
        end
        if db ~= 0 then
            pre = pre .. resp("SELECT", tostring(db))
        end
        if pre ~= "" then
            ok, err = sock:send(pre)
            if ok and redis_c.password_len > 0 then
                ok, err = read_reply(sock)
            end
            if ok and db ~= 0 then
                ok, err = read_reply(sock)
            end
            if not ok then
                sock:close()
                return nil, "redis refused AUTH or SELECT: " .. tostring(err)
            end
        end
    end

    -- ASKING holds for the next command only: both in one write
    local said
    ok, err = sock:send(asking and ASKING .. cmd or cmd)
    if ok and asking then
        ok, err = read_reply(sock)
    end
    local reply
    if ok then
        reply, err, said = read_reply(sock)
    end

    -- a restarted Redis or SCRIPT FLUSH: the script itself, once
    if not reply and said and sub(err, 1, 8) == "NOSCRIPT" then
        cmd = command(r, policy, key, 1)
        ok, err = sock:send(asking and ASKING .. cmd or cmd)
        if ok and asking then
            ok, err = read_reply(sock)
        end
        if ok then
            reply, err, said = read_reply(sock)
        end
    end

    if not reply then
        sock:close()
        return nil, "redis error: " .. tostring(err), not ok,
               said and err or nil
    end

    sock:setkeepalive(KEEPALIVE_MS, POOL_SIZE)

    return reply
end


-- allowed, { retry_after, tightest, windows = { {unit, limit, remaining,
-- reset, width}, ... } }; on a Redis error: what ngsp_quota_fail says,
-- nil, why.  key: the agency of the current request when nil.
function _M.decide(policy, key)
    if type(policy) ~= "string" or policy == "" then
        return nil, nil, "unknown policy"
    end

    local r = get_request()
    if not r then
        error("no request found", 2)
    end

    if key == nil then
        key = ngsp.agency()
        if not key then
            return nil, nil, "no agency"
        end
    end
    if type(key) ~= "string" or key == "" then
        return nil, nil, "bad key"
    end

    if C.ngsp_lua_quota_redis(r, redis_c) ~= OK then
        return nil, nil, "no ngsp_redis configured"
    end

    local open = redis_c.fail_open == 1
    local cmd, rc = command(r, policy, key, 0)
    if not cmd then
        if rc == DECLINED then
            return nil, nil, "unknown policy"
        end
        return nil, nil, "bad key"
    end

    -- Sentinel: no master known to this worker now
    if redis_c.host_len == 0 then
        return fail(r, policy, open, "no redis master known")
    end

    local host = ffi_str(redis_c.host, redis_c.host_len)
    local port = redis_c.port

    -- a Redis Cluster: the master this agency's slot was last MOVED to
    local tag = match(cmd, "ngsp:{([^}]*)}")
    local known = tag and masters[tag]
    if known then
        host, port = known[1], known[2]
    end

    local reply, err, down, said = exchange(r, policy, key, cmd, host, port)

    if down and known then
        -- that master is gone (a failover): ask the module's next time
        forget(tag)
    end

    -- another master serves the slot: there, once
    local redirect, rhost, rport
    if said then
        redirect, rhost, rport = match(said, "^(%u+) %d+ (.*):(%d+)$")
    end
    if redirect == "MOVED" or redirect == "ASK" then
        if rhost == "" then
            rhost = host
        end
        rport = tonumber(rport)
        if redirect == "MOVED" and tag then
            remember(tag, rhost, rport)
        end
        reply, err = exchange(r, policy, key, cmd, rhost, rport,
                              redirect == "ASK")
    end

    if not reply then
        return fail(r, policy, open, err)
    end

    if C.ngsp_lua_quota_reply(r, policy, #policy, reply, #reply, decision_c)
       ~= OK
    then
        return fail(r, policy, open, "unexpected redis reply")
    end

    local d = decision_c
    -- counted at once in ngsp_status_zone, if any, under the agency
    C.ngsp_lua_status_quota(r, policy, #policy,
                            d.allowed == 1 and ALLOWED or REJECTED, d)

    local windows = {}
    for i = 0, d.nwindows - 1 do
        local w = d.windows[i]
        windows[i + 1] = {
            unit = ffi_str(w.unit),
            limit = tonumber(w.limit),
            remaining = tonumber(w.remaining),
            reset = tonumber(w.reset),
            width = tonumber(w.width),
        }
    end

    return d.allowed == 1, {
        retry_after = tonumber(d.retry_after),
        tightest = d.tightest + 1,
        windows = windows,
    }
end


return _M
