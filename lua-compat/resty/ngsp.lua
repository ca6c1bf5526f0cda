-- resty.ngsp: ngsp's policies from OpenResty Lua, through LuaJIT's FFI.
--
-- The functions reach the C engines of ngx_http_ngsp_module.so (same key
-- set and cache, same mask profiles, same quota script and counters), so
-- the module must be loaded (load_module) into the nginx that runs this
-- code.  See docs/lua.md.

local ffi = require "ffi"
local base = require "resty.core.base"

local C = ffi.C
local ffi_new = ffi.new
local ffi_str = ffi.string
local get_request = base.get_request
local type = type
local tostring = tostring
local error = error
local next = next

-- table.clone is OpenResty's LuaJIT's; elsewhere a copy by hand
local clone
do
    local ok
    ok, clone = pcall(require, "table.clone")
    if not ok then
        clone = function(t)
            local c = {}
            for k, v in next, t do
                c[k] = v
            end
            return c
        end
    end
end

local ABI = 2

local _M = { _VERSION = "0.1.0", ABI = ABI }


ffi.cdef[[
typedef struct {
    const char                 *data;
    size_t                      len;
} ngsp_lua_str_t;

typedef struct {
    const ngsp_lua_str_t       *issuers;
    size_t                      nissuers;
    const ngsp_lua_str_t       *audiences;
    size_t                      naudiences;
    const ngsp_lua_str_t       *requires;
    size_t                      nrequires;
    long                        leeway;
} ngsp_lua_verify_opts_t;

typedef struct ngsp_lua_key_s  ngsp_lua_key_t;

typedef struct {
    const char                 *host;
    size_t                      host_len;
    int                         port;
    const char                 *password;
    size_t                      password_len;
    int                         db;
    int                         timeout;
    int                         fail_open;
} ngsp_lua_redis_t;

typedef struct {
    const char                 *unit;
    int64_t                     limit;
    int64_t                     remaining;
    int64_t                     reset;
    int64_t                     width;
} ngsp_lua_quota_window_t;

typedef struct {
    int                         allowed;
    int                         nwindows;
    int                         tightest;
    int64_t                     retry_after;
    ngsp_lua_quota_window_t     windows[5];
} ngsp_lua_quota_decision_t;

int ngsp_lua_abi_version(void);
const char *ngsp_lua_jwt_status_name(int status);
int ngsp_lua_jwt_status(ngx_http_request_t *r);
int ngsp_lua_jwt_agency(ngx_http_request_t *r, char *buf, size_t size,
    size_t *len);
int ngsp_lua_jwt_claims(ngx_http_request_t *r, char *buf, size_t size,
    size_t *len);
int ngsp_lua_jwt_claim(ngx_http_request_t *r, const char *name,
    size_t name_len, char *buf, size_t size, size_t *len);
int ngsp_lua_jwt_verify(ngx_http_request_t *r, const char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, char *buf,
    size_t size, size_t *len, int *status, char *err, size_t err_size);
int ngsp_lua_jwt_check(ngx_http_request_t *r, const char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, int *status,
    char *err, size_t err_size);
ngsp_lua_key_t *ngsp_lua_key_new(const char *data, size_t len, int hmac,
    char *err, size_t err_size);
void ngsp_lua_key_free(ngsp_lua_key_t *key);
int ngsp_lua_key_verify(ngsp_lua_key_t *key, const char *token,
    size_t token_len, long leeway, int *status);
int ngsp_lua_mask(ngx_http_request_t *r, const char *profile,
    size_t profile_len, const char *body, size_t body_len,
    const char *ctype, size_t ctype_len, char *buf, size_t size,
    size_t *len, char *err, size_t err_size);
int ngsp_lua_quota_redis(ngx_http_request_t *r, ngsp_lua_redis_t *out);
int ngsp_lua_quota_command(ngx_http_request_t *r, const char *policy,
    size_t policy_len, const char *key, size_t key_len, int eval,
    char *buf, size_t size, size_t *len);
int ngsp_lua_quota_reply(ngx_http_request_t *r, const char *policy,
    size_t policy_len, const char *reply, size_t reply_len,
    ngsp_lua_quota_decision_t *d);
int ngsp_lua_status_quota(ngx_http_request_t *r, const char *policy,
    size_t policy_len, int outcome, const ngsp_lua_quota_decision_t *d);
]]


-- nginx loads dynamic modules with RTLD_GLOBAL: ffi.C sees ours, or the
-- module is not loaded
do
    local ok, v = pcall(function() return C.ngsp_lua_abi_version() end)
    if not ok then
        error("resty.ngsp: ngx_http_ngsp_module is not loaded into this "
              .. "nginx (load_module modules/ngx_http_ngsp_module.so;)", 2)
    end
    if v ~= ABI then
        error("resty.ngsp: ngx_http_ngsp_module speaks FFI ABI "
              .. tostring(v) .. ", this resty.ngsp speaks " .. ABI
              .. ": install the lua-compat of the same ngsp release", 2)
    end
end


local OK, ERROR, DECLINED, AGAIN = 0, -1, -2, -3
_M.OK, _M.ERROR, _M.DECLINED, _M.AGAIN = OK, ERROR, DECLINED, AGAIN

-- $ngsp_jwt_status words by code
local status_names = {}
do
    local i = 0
    while true do
        local p = C.ngsp_lua_jwt_status_name(i)
        if p == nil then
            break
        end
        status_names[i] = ffi_str(p)
        i = i + 1
    end
end
_M.status_names = status_names


-- one output buffer per worker, grown on need and reused
local buf_size = 4096
local buf = ffi_new("char[?]", buf_size)
local size_ptr = ffi_new("size_t[1]")
local status_ptr = ffi_new("int[1]")
local ERR_SIZE = 256
local err_buf = ffi_new("char[?]", ERR_SIZE)

local function grow(need)
    if need > buf_size then
        buf_size = need
        buf = ffi_new("char[?]", buf_size)
    end
    return buf
end
_M._grow = grow

local function the_request()
    local r = get_request()
    if not r then
        error("no request found", 3)
    end
    return r
end


-- cjson only where a table is asked for
local cjson
local function decode(s)
    if not cjson then
        cjson = require "cjson.safe"
        cjson.decode_max_depth(64)
    end
    return cjson.decode(s)
end
_M._decode = decode


-- calls fn(buf, size) until the buffer is large enough
local function with_buf(fn, ...)
    local rc = fn(buf, buf_size, ...)
    if rc == AGAIN then
        grow(tonumber(size_ptr[0]))
        rc = fn(buf, buf_size, ...)
    end
    if rc == OK then
        return ffi_str(buf, size_ptr[0])
    end
    return nil, rc
end


function _M.jwt_status()
    local rc = C.ngsp_lua_jwt_status(the_request())
    if rc < 0 then
        return nil, "ngsp: jwt evaluation failed"
    end
    return status_names[rc]
end


local function agency(b, size, r)
    return C.ngsp_lua_jwt_agency(r, b, size, size_ptr)
end

function _M.agency()
    local s, rc = with_buf(agency, the_request())
    if s then
        return s
    end
    if rc == DECLINED then
        return nil
    end
    return nil, "ngsp: jwt evaluation failed"
end


local function claims(b, size, r)
    return C.ngsp_lua_jwt_claims(r, b, size, size_ptr)
end

function _M.claims()
    local s, rc = with_buf(claims, the_request())
    if s then
        return decode(s)
    end
    if rc == DECLINED then
        return nil
    end
    return nil, "ngsp: jwt evaluation failed"
end


local function claim(b, size, r, name)
    return C.ngsp_lua_jwt_claim(r, name, #name, b, size, size_ptr)
end

function _M.claim(name)
    if type(name) ~= "string" or name == "" then
        error("bad claim name", 2)
    end
    local s, rc = with_buf(claim, the_request(), name)
    if s then
        return s
    end
    if rc == DECLINED then
        return nil
    end
    return nil, "bad claim name"
end


-- opts: issuer, audience (a string or a list), leeway (seconds), require
-- (a rule or a list of rules, words as ngsp_jwt_require's)
local MAX_LIST = 64
local opts_c = ffi_new("ngsp_lua_verify_opts_t")
local iss_c = ffi_new("ngsp_lua_str_t[?]", MAX_LIST)
local aud_c = ffi_new("ngsp_lua_str_t[?]", MAX_LIST)
local req_c = ffi_new("ngsp_lua_str_t[?]", MAX_LIST)
opts_c.issuers = iss_c
opts_c.audiences = aud_c
opts_c.requires = req_c

-- The strings each array points at, kept here: they stay alive while
-- pointed at, and a call with the options of the last one writes no
-- cdata (strings are interned, so equal strings are the same string).
local iss_in, aud_in, req_in = {}, {}, {}
local n_in = { nissuers = 0, naudiences = 0, nrequires = 0, leeway = 0 }

local function set(arr, into, i, s)
    if into[i] ~= s then
        arr[i - 1].data = s
        arr[i - 1].len = #s
        into[i] = s
    end
end

local function set_n(field, n)
    if n_in[field] ~= n then
        opts_c[field] = n
        n_in[field] = n
    end
end

-- strings past the list's new length are let go (C reads only n of them)
local function trim(into, n)
    for i = #into, n + 1, -1 do
        into[i] = nil
    end
end

local function fill(arr, into, field, v, what)
    if v == nil then
        trim(into, 0)
        set_n(field, 0)
        return
    end
    if type(v) == "string" then
        set(arr, into, 1, v)
        trim(into, 1)
        set_n(field, 1)
        return
    end
    if type(v) ~= "table" then
        error("bad " .. what .. ": a string or a list of strings", 3)
    end
    local n = #v
    if n > MAX_LIST then
        error("bad " .. what .. ": more than " .. MAX_LIST, 3)
    end
    for i = 1, n do
        local s = v[i]
        if type(s) ~= "string" then
            error("bad " .. what .. ": a string or a list of strings", 3)
        end
        set(arr, into, i, s)
    end
    trim(into, n)
    set_n(field, n)
end

-- The claims of tokens verified here, decoded once per token and worker:
-- the C side still judges the token on every call (signature through its
-- memo and cache, exp, nbf, issuer, audience, rules), and a held table is
-- given out only when that judgement is ok, so a held entry needs no
-- expiry of its own.  Two plain tables of up to CLAIMS_HELD tokens each:
-- when the newer fills, the older is dropped and a token found there
-- moves to the newer.  This bounds the memory as an LRU list does, at
-- the cost of one table lookup a call instead of a list's upkeep.
local CLAIMS_HELD = 1024
local NO_OPTS = {}
local held_new, held_old, held_n = {}, {}, 0

local function held_put(token, h)
    if held_n >= CLAIMS_HELD then
        held_old, held_new, held_n = held_new, {}, 0
    end
    held_new[token] = h
    held_n = held_n + 1
end

local function held_get(token)
    local h = held_new[token]
    if h == nil then
        h = held_old[token]
        if h ~= nil then
            held_old[token] = nil
            held_put(token, h)
        end
    end
    return h
end

-- for tests and bench/lua.sh
_M._held = {
    get = function(_, token) return held_get(token) end,
    delete = function(_, token)
        held_new[token], held_old[token] = nil, nil
    end,
    size = function()
        local n = 0
        for _ in next, held_new do n = n + 1 end
        for _ in next, held_old do n = n + 1 end
        return n, CLAIMS_HELD * 2
    end,
}

-- A fresh copy for each caller, nested objects and arrays included, so no
-- caller's edit reaches the next one.  The copy is a plain table (pairs,
-- # and cjson.encode see it whole), which a read-only proxy is not.
local function deep(t)
    local c = clone(t)
    for k, v in next, t do
        if type(v) == "table" then
            c[k] = deep(v)
        end
    end
    return c
end

-- h: the decoded claims and the list of their keys that hold tables
local function hand_out(h)
    local c = clone(h[1])
    local nested = h[2]
    if nested then
        local t = h[1]
        for i = 1, #nested do
            local k = nested[i]
            c[k] = deep(t[k])
        end
    end
    return c
end

local function hold(token, t)
    local nested
    for k, v in next, t do
        if type(v) == "table" then
            nested = nested or {}
            nested[#nested + 1] = k
        end
    end

    local h = { t, nested or false }
    held_put(token, h)
    return h
end

function _M.verify(token, opts)
    if type(token) ~= "string" then
        return nil, "missing"
    end
    if opts == nil then
        opts = NO_OPTS
    elseif type(opts) ~= "table" then
        error("bad opts: a table", 2)
    end

    local leeway = opts.leeway or 0
    if type(leeway) ~= "number" or leeway < 0 or leeway > 3600 then
        error("bad leeway: seconds, 0 to 3600", 2)
    end

    fill(iss_c, iss_in, "nissuers", opts.issuer, "issuer")
    fill(aud_c, aud_in, "naudiences", opts.audience, "audience")
    fill(req_c, req_in, "nrequires", opts.require, "require")
    set_n("leeway", leeway)

    local r = the_request()
    local h = held_get(token)
    local rc

    if h then
        rc = C.ngsp_lua_jwt_check(r, token, #token, opts_c, status_ptr,
                                  err_buf, ERR_SIZE)
    else
        rc = C.ngsp_lua_jwt_verify(r, token, #token, opts_c, buf, buf_size,
                                   size_ptr, status_ptr, err_buf, ERR_SIZE)
        if rc == AGAIN then
            grow(tonumber(size_ptr[0]))
            rc = C.ngsp_lua_jwt_verify(r, token, #token, opts_c, buf,
                                       buf_size, size_ptr, status_ptr,
                                       err_buf, ERR_SIZE)
        end
        if rc == OK then
            local t, err = decode(ffi_str(buf, size_ptr[0]))
            if type(t) ~= "table" then
                return nil, err or "malformed"
            end
            h = hold(token, t)
        end
    end

    if rc == OK then
        return hand_out(h)
    end
    if rc == DECLINED then
        return nil, status_names[status_ptr[0]] or "error"
    end
    error("ngsp.verify: " .. ffi_str(err_buf), 2)
end


-- body: a JSON or XML text; content_type: its media type, or nil to read
-- it by the first bytes.  The masked text, or nil and why.
function _M.mask(body, profile, content_type)
    if type(body) ~= "string" then
        return nil, "body is not a string"
    end
    if type(profile) ~= "string" or profile == "" then
        return nil, "unknown profile"
    end
    local ctype_len = 0
    if content_type ~= nil then
        if type(content_type) ~= "string" then
            return nil, "content_type is not a string"
        end
        ctype_len = #content_type
    end

    -- masking rarely makes a body longer by much: one call, mostly
    local body_len = #body
    if buf_size < body_len + 1024 then
        grow(body_len + 1024)
    end

    local r = the_request()
    local rc = C.ngsp_lua_mask(r, profile, #profile, body, body_len,
                               content_type, ctype_len, buf, buf_size,
                               size_ptr, err_buf, ERR_SIZE)
    if rc == AGAIN then
        grow(tonumber(size_ptr[0]))
        rc = C.ngsp_lua_mask(r, profile, #profile, body, body_len,
                             content_type, ctype_len, buf, buf_size,
                             size_ptr, err_buf, ERR_SIZE)
    end
    if rc == OK then
        return ffi_str(buf, size_ptr[0])
    end
    if rc == ERROR then
        return nil, "ngsp: " .. ffi_str(err_buf)
    end
    return nil, ffi_str(err_buf)
end


function _M.quota(policy, key)
    return require("resty.ngsp.quota").decide(policy, key)
end


return _M
