"""The FFI surface called directly from Lua with NULLs, lengths that lie
and buffers too small: each call answers with its code, never a crash
(the harness fails the test on a worker that died)."""

import time

import jwt as pyjwt

from lua_site import get, lua_nginx

SECRET = b"s3cret-hmac-key-for-tests-0123456789abcdef"

HOSTILE = r"""
location /hostile {
    content_by_lua_block {
        local ffi = require "ffi"
        local base = require "resty.core.base"
        local ngsp = require "resty.ngsp"
        local C = ffi.C
        local r = base.get_request()
        local buf = ffi.new("char[64]")
        local len = ffi.new("size_t[1]")
        local st = ffi.new("int[1]")
        local err = ffi.new("char[64]")
        local HUGE = 2 ^ 50
        local out = {}
        local function put(k, v) out[k] = tonumber(v) end

        put("status_name_neg", C.ngsp_lua_jwt_status_name(-1) == nil and 1)
        put("status_name_big", C.ngsp_lua_jwt_status_name(1000) == nil and 1)
        put("status_null", C.ngsp_lua_jwt_status(nil))
        put("agency_null_r", C.ngsp_lua_jwt_agency(nil, buf, 64, len))
        put("agency_null_len", C.ngsp_lua_jwt_agency(r, buf, 64, nil))
        put("agency_no_buf", C.ngsp_lua_jwt_agency(r, nil, 0, len))
        put("agency_need", len[0])
        put("agency_small", C.ngsp_lua_jwt_agency(r, buf, 3, len))
        put("claims_no_buf", C.ngsp_lua_jwt_claims(r, nil, 0, len))
        put("claims_null_r", C.ngsp_lua_jwt_claims(nil, buf, 64, len))
        put("claim_null_name", C.ngsp_lua_jwt_claim(r, nil, 5, buf, 64, len))
        put("claim_huge_name", C.ngsp_lua_jwt_claim(r, "x", HUGE, buf, 64,
                                                    len))
        put("claim_empty_name", C.ngsp_lua_jwt_claim(r, "x", 0, buf, 64, len))

        local opts = ffi.new("ngsp_lua_verify_opts_t")
        put("verify_null_opts", C.ngsp_lua_jwt_verify(r, "a.b.c", 5, nil,
            buf, 64, len, st, err, 64))
        put("verify_null_status", C.ngsp_lua_jwt_verify(r, "a.b.c", 5, opts,
            buf, 64, len, nil, err, 64))
        put("verify_huge_token", C.ngsp_lua_jwt_verify(r, "a.b.c", HUGE,
            opts, buf, 64, len, st, err, 64))
        put("verify_huge_token_status", st[0])
        put("verify_null_token", C.ngsp_lua_jwt_verify(r, nil, 5, opts,
            buf, 64, len, st, err, 64))
        put("verify_null_token_status", st[0])
        opts.nissuers = 1
        put("verify_null_list", C.ngsp_lua_jwt_verify(r, "a.b.c", 5, opts,
            buf, 64, len, st, nil, 0))
        opts.nissuers = HUGE
        put("verify_huge_list", C.ngsp_lua_jwt_verify(r, "a.b.c", 5, opts,
            buf, 64, len, st, err, 64))
        opts.nissuers = 0
        opts.leeway = -5
        put("verify_neg_leeway", C.ngsp_lua_jwt_verify(r, "a.b.c", 5, opts,
            buf, 64, len, st, err, 64))
        opts.leeway = 0
        local tok = ngx.var.http_x_token
        put("verify_small_buf", C.ngsp_lua_jwt_verify(r, tok, #tok, opts,
            buf, 4, len, st, err, 64))
        put("verify_small_need", len[0])
        put("verify_null_len", C.ngsp_lua_jwt_verify(r, tok, #tok, opts,
            buf, 64, nil, st, err, 64))

        put("check_null_r", C.ngsp_lua_jwt_check(nil, tok, #tok, opts, st,
            err, 64))
        put("check_null_opts", C.ngsp_lua_jwt_check(r, tok, #tok, nil, st,
            err, 64))
        put("check_null_status", C.ngsp_lua_jwt_check(r, tok, #tok, opts,
            nil, err, 64))
        put("check_null_token", C.ngsp_lua_jwt_check(r, nil, 5, opts, st,
            nil, 0))
        put("check_null_token_status", st[0])
        put("check_huge_token", C.ngsp_lua_jwt_check(r, tok, HUGE, opts, st,
            err, 64))
        put("check_huge_token_status", st[0])
        opts.naudiences = 1
        put("check_null_list", C.ngsp_lua_jwt_check(r, tok, #tok, opts, st,
            err, 64))
        opts.naudiences = HUGE
        put("check_huge_list", C.ngsp_lua_jwt_check(r, tok, #tok, opts, st,
            err, 64))
        opts.naudiences = 0
        opts.leeway = 3601
        put("check_big_leeway", C.ngsp_lua_jwt_check(r, tok, #tok, opts, st,
            err, 64))
        opts.leeway = 0
        put("check_ok", C.ngsp_lua_jwt_check(r, tok, #tok, opts, st, err,
            64))
        put("check_ok_status", st[0])

        put("key_null", C.ngsp_lua_key_new(nil, 5, 1, err, 64) == nil and 1)
        put("key_huge", C.ngsp_lua_key_new("x", HUGE, 1, err, 64) == nil
                        and 1)
        put("key_short", C.ngsp_lua_key_new("x", 1, 1, nil, 0) == nil and 1)
        put("key_pem_hmac", C.ngsp_lua_key_new("-----BEGIN PUBLIC KEY-----",
                                               26, 1, err, 64) == nil and 1)
        out.key_pem_hmac_why = ffi.string(err)
        put("key_verify_null", C.ngsp_lua_key_verify(nil, "a", 1, 0, st))
        C.ngsp_lua_key_free(nil)

        put("mask_null_body", C.ngsp_lua_mask(r, "p", 1, nil, 100, nil, 0,
            buf, 64, len, err, 64))
        put("mask_huge_body", C.ngsp_lua_mask(r, "p", 1, "{}", HUGE, nil, 0,
            buf, 64, len, err, 64))
        put("mask_null_buf", C.ngsp_lua_mask(r, "p", 1, "{}", 2, nil, 0,
            nil, 64, len, err, 64))
        put("mask_null_profile", C.ngsp_lua_mask(r, nil, 3, "{}", 2, nil, 0,
            buf, 64, len, err, 64))
        put("mask_null_ctype", C.ngsp_lua_mask(r, "p", 1, "{}", 2, nil, 9,
            buf, 64, len, err, 64))
        put("mask_null_r", C.ngsp_lua_mask(nil, "p", 1, "{}", 2, nil, 0,
            buf, 64, len, err, 64))
        local body = string.rep('{"SoDinhDanh":"001099012345"}', 1)
        put("mask_small", C.ngsp_lua_mask(r, "p", 1, body, #body, nil, 0,
            buf, 4, len, err, 64))
        put("mask_small_need", len[0])
        put("mask_no_buf", C.ngsp_lua_mask(r, "p", 1, body, #body, nil, 0,
            nil, 0, len, err, 64))

        local d = ffi.new("ngsp_lua_quota_decision_t")
        local rc = ffi.new("ngsp_lua_redis_t")
        put("redis_null", C.ngsp_lua_quota_redis(nil, rc))
        put("redis_null_out", C.ngsp_lua_quota_redis(r, nil))
        put("cmd_null_policy", C.ngsp_lua_quota_command(r, nil, 4, "a", 1, 0,
            buf, 64, len))
        put("cmd_unknown_policy", C.ngsp_lua_quota_command(r, "zz", 2, "a",
            1, 0, buf, 64, len))
        put("cmd_null_key", C.ngsp_lua_quota_command(r, "std", 3, nil, 1, 0,
            buf, 64, len))
        put("cmd_huge_key", C.ngsp_lua_quota_command(r, "std", 3, "a", HUGE,
            0, buf, 64, len))
        put("cmd_small", C.ngsp_lua_quota_command(r, "std", 3, "a", 1, 0,
            buf, 64, len))
        put("cmd_small_need", len[0])
        put("cmd_null_buf", C.ngsp_lua_quota_command(r, "std", 3, "a", 1, 0,
            nil, 4096, len))
        put("reply_garbage", C.ngsp_lua_quota_reply(r, "std", 3, "xyz", 3,
            d))
        put("reply_huge", C.ngsp_lua_quota_reply(r, "std", 3, "xyz", HUGE,
            d))
        put("reply_null", C.ngsp_lua_quota_reply(r, "std", 3, nil, 8, d))
        put("reply_null_d", C.ngsp_lua_quota_reply(r, "std", 3, "12345678",
            8, nil))

        -- counting a decision: every bad argument refused before the zone
        -- (none here) is looked at
        local sq = C.ngsp_lua_status_quota
        d.nwindows = 0
        put("sq_null_r", sq(nil, "std", 3, 0, d))
        put("sq_null_policy", sq(r, nil, 3, 0, d))
        put("sq_huge_policy", sq(r, "std", HUGE, 0, d))
        put("sq_empty_policy", sq(r, "std", 0, 0, d))
        put("sq_unknown_policy", sq(r, "zz", 2, 0, d))
        put("sq_neg_outcome", sq(r, "std", 3, -1, d))
        put("sq_big_outcome", sq(r, "std", 3, 3, d))
        put("sq_allowed_no_d", sq(r, "std", 3, 0, nil))
        d.nwindows = 99
        put("sq_many_windows", sq(r, "std", 3, 1, d))
        d.nwindows = -1
        put("sq_neg_windows", sq(r, "std", 3, 1, d))
        d.nwindows = 1
        d.windows[0].unit = ffi.cast("const char *", 8)
        put("sq_wild_unit", sq(r, "std", 3, 0, d))
        d.windows[0].unit = nil
        put("sq_null_unit", sq(r, "std", 3, 0, d))
        d.windows[0].unit = "m"
        put("sq_copied_unit", sq(r, "std", 3, 0, d))
        put("sq_no_zone", sq(r, "std", 3, 2, nil))
        d.nwindows = 0
        put("sq_no_zone_d", sq(r, "std", 3, 0, d))

        -- the Lua API refuses bad arguments with a message
        out.claim_bad = select(2, pcall(ngsp.claim, 5)) and 1
        out.mask_bad = select(2, ngsp.mask(5, "p"))
        out.verify_nontoken = select(2, ngsp.verify(nil))
        ngx.say(cjson.encode(out))
    }
}
"""


def test_hostile_sizes_and_nulls(nginx_factory, port, tmp_path):
    (tmp_path / "hs.secret").write_bytes(SECRET)
    http = f"""
        ngsp_jwt_key_file {tmp_path}/hs.secret alg=HS256;
        ngsp_mask_profile p {{ SoDinhDanh keep_last=4; }}
        ngsp_redis 127.0.0.1:1;
        ngsp_quota_policy std 10r/m;
        server {{
            listen 127.0.0.1:{port};
            {HOSTILE}
        }}"""
    lua_nginx(nginx_factory, port, http)
    tok = pyjwt.encode({"client_id": "so-noi-vu",
                        "exp": int(time.time()) + 600}, SECRET,
                       algorithm="HS256")
    j = get(port, "/hostile", tok, headers={"X-Token": tok}).json()
    ERR, DECL, AGAIN = -1, -2, -3
    want = {
        "status_name_neg": 1, "status_name_big": 1, "status_null": ERR,
        "agency_null_r": ERR, "agency_null_len": ERR,
        "agency_no_buf": AGAIN, "agency_need": len("so-noi-vu"),
        "agency_small": AGAIN, "claims_no_buf": AGAIN,
        "claims_null_r": ERR, "claim_null_name": ERR,
        "claim_huge_name": ERR, "claim_empty_name": ERR,
        "verify_null_opts": ERR, "verify_null_status": ERR,
        "verify_huge_token": DECL, "verify_huge_token_status": 2,
        "verify_null_token": DECL, "verify_null_token_status": 1,
        "verify_null_list": ERR, "verify_huge_list": ERR,
        "verify_neg_leeway": ERR, "verify_small_buf": AGAIN,
        "verify_null_len": ERR,
        "check_null_r": ERR, "check_null_opts": ERR, "check_null_status": ERR,
        "check_null_token": DECL, "check_null_token_status": 1,
        "check_huge_token": DECL, "check_huge_token_status": 2,
        "check_null_list": ERR, "check_huge_list": ERR,
        "check_big_leeway": ERR, "check_ok": 0, "check_ok_status": 0,
        "key_null": 1, "key_huge": 1, "key_short": 1, "key_pem_hmac": 1,
        "key_verify_null": ERR,
        "mask_null_body": ERR, "mask_huge_body": ERR, "mask_null_buf": ERR,
        "mask_null_profile": ERR, "mask_null_ctype": ERR,
        "mask_null_r": ERR, "mask_small": AGAIN, "mask_no_buf": AGAIN,
        "redis_null": ERR, "redis_null_out": ERR,
        "cmd_null_policy": DECL, "cmd_unknown_policy": DECL,
        "cmd_null_key": ERR, "cmd_huge_key": ERR, "cmd_small": AGAIN,
        "cmd_null_buf": ERR, "reply_garbage": ERR, "reply_huge": ERR,
        "reply_null": ERR, "reply_null_d": ERR,
        "sq_null_r": ERR, "sq_null_policy": ERR, "sq_huge_policy": ERR,
        "sq_empty_policy": ERR, "sq_unknown_policy": ERR,
        "sq_neg_outcome": ERR, "sq_big_outcome": ERR,
        "sq_allowed_no_d": ERR, "sq_many_windows": ERR,
        "sq_neg_windows": ERR, "sq_wild_unit": ERR, "sq_null_unit": ERR,
        "sq_copied_unit": ERR, "sq_no_zone": DECL, "sq_no_zone_d": DECL,
    }
    for k, v in want.items():
        assert j.get(k) == v, (k, j.get(k))
    assert j["verify_small_need"] > 20
    assert j["mask_small_need"] == len('{"SoDinhDanh":"********2345"}')
    assert j["cmd_small_need"] > 64
    assert j["key_pem_hmac_why"] == "a PEM key cannot be an HMAC secret"
    assert j["mask_bad"] == "body is not a string"
    assert j["verify_nontoken"] == "missing"
    assert j["claim_bad"] == 1
