-- resty.ngsp.compat.jwt: lua-resty-jwt's verify() and load_jwt(), with
-- the verification done by ngsp's engine.  The key's type pins the
-- algorithm: a PEM public key or certificate verifies RS*, PS*, ES* or
-- EdDSA as the key allows, any other string is an HMAC secret for HS*
-- only.  A PEM text is never an HMAC secret, and "none" (in any case)
-- or a missing "alg" never verifies.  See docs/lua.md for what of
-- lua-resty-jwt's API is covered.

local ffi = require "ffi"
local ngsp = require "resty.ngsp"
local b64 = require "ngx.base64"

local C = ffi.C
local ffi_new = ffi.new
local ffi_gc = ffi.gc
local ffi_str = ffi.string
local decode = ngsp._decode
local status_names = ngsp.status_names
local decode_base64url = b64.decode_base64url
local type = type
local pcall = pcall
local find = string.find
local sub = string.sub
local tostring = tostring

local _M = { _VERSION = "0.1.0" }

local status_ptr = ffi_new("int[1]")
local err_buf = ffi_new("char[256]")

local SUCCESS = "everything is awesome~ :p"


-- parsed keys, by text: PEM parsing is the costly part
local keys = {}
local nkeys = 0
local MAX_KEYS = 64

local function get_key(text)
    local k = keys[text]
    if k then
        return k
    end
    local hmac = find(text, "-----BEGIN ", 1, true) and 0 or 1
    local p = C.ngsp_lua_key_new(text, #text, hmac, err_buf, 256)
    if p == nil then
        return nil, ffi_str(err_buf)
    end
    k = ffi_gc(p, C.ngsp_lua_key_free)
    if nkeys >= MAX_KEYS then
        keys = {}
        nkeys = 0
    end
    keys[text] = k
    nkeys = nkeys + 1
    return k
end


-- lua-resty-jwt is called as jwt:verify(...) and jwt.verify(...) alike
local function args(self, ...)
    if self == _M then
        return ...
    end
    return self, ...
end


local function split(token)
    if type(token) ~= "string" then
        return nil
    end
    local a = find(token, ".", 1, true)
    if not a then
        return nil
    end
    local b = find(token, ".", a + 1, true)
    if not b or find(token, ".", b + 1, true) then
        return nil
    end
    return sub(token, 1, a - 1), sub(token, a + 1, b - 1), sub(token, b + 1)
end


local function load_jwt(token)
    local obj = { valid = false, verified = false }
    local h, p, s = split(token)
    if not h then
        obj.reason = "invalid jwt string"
        return obj
    end
    obj.raw_header = h
    obj.raw_payload = p
    obj.signature = s

    local hj = decode_base64url(h)
    local pj = decode_base64url(p)
    local header = hj and decode(hj)
    local payload = pj and decode(pj)
    if type(header) ~= "table" or type(payload) ~= "table" then
        obj.reason = "invalid jwt string"
        return obj
    end
    obj.header = header
    obj.payload = payload
    obj.valid = true
    obj.reason = SUCCESS
    return obj
end


function _M.load_jwt(...)
    local token = args(...)
    return load_jwt(token)
end


-- claim_spec: lua-resty-jwt's validators (claim -> function(val, claim,
-- jwt_str)), "__jwt" (function(val = the whole object)), and the options
-- lifetime_grace_period, valid_issuers, require_exp_claim,
-- require_nbf_claim
local function check_spec(obj, spec, token)
    for claim, fn in pairs(spec) do
        if type(fn) == "function" then
            local val
            if claim == "__jwt" then
                val = obj
            else
                val = obj.payload[claim]
            end
            local ok, res = pcall(fn, val, claim, token)
            if not ok then
                return false, tostring(res)
            end
            if res == false or res == nil then
                return false, "Claim '" .. claim .. "' ('" .. tostring(val)
                              .. "') returned failure"
            end
        end
    end

    if spec.valid_issuers then
        local iss = obj.payload.iss
        local found = false
        for _, v in ipairs(spec.valid_issuers) do
            if v == iss then
                found = true
                break
            end
        end
        if not found then
            return false, "bad_issuer"
        end
    end

    if spec.require_exp_claim and obj.payload.exp == nil then
        return false, "Missing one of claims - [ exp ]."
    end
    if spec.require_nbf_claim and obj.payload.nbf == nil then
        return false, "Missing one of claims - [ nbf ]."
    end

    return true
end


function _M.verify(...)
    local key, token, spec = args(...)

    local obj = load_jwt(token)
    if not obj.valid then
        return obj
    end

    if type(key) ~= "string" or key == "" then
        obj.reason = "ngsp: no key"
        return obj
    end

    if spec ~= nil and type(spec) ~= "table" then
        obj.reason = "ngsp: claim_spec is not a table"
        return obj
    end

    local leeway = spec and spec.lifetime_grace_period or 0
    if type(leeway) ~= "number" or leeway < 0 or leeway > 3600 then
        obj.reason = "ngsp: bad lifetime_grace_period"
        return obj
    end

    local k, err = get_key(key)
    if not k then
        obj.reason = "ngsp: unusable key: " .. err
        return obj
    end

    local rc = C.ngsp_lua_key_verify(k, token, #token, leeway, status_ptr)
    if rc ~= ngsp.OK then
        obj.reason = status_names[status_ptr[0]] or "error"
        return obj
    end

    if spec then
        local ok, why = check_spec(obj, spec, token)
        if not ok then
            obj.reason = why
            return obj
        end
    end

    obj.verified = true
    obj.reason = SUCCESS
    return obj
end


-- lua-resty-jwt's sign, JWE and certificate retrieval are not covered:
-- ngsp verifies tokens, it does not mint them
function _M.sign()
    error("resty.ngsp.compat.jwt: sign is not covered (ngsp only verifies)",
          2)
end


return _M
