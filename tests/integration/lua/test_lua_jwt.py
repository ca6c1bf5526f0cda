"""resty.ngsp's JWT functions and resty.ngsp.compat.jwt through real nginx
with lua-nginx-module; tokens minted by PyJWT or by hand (the bypasses
PyJWT refuses to make)."""

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lua_site import get, lua_nginx

SECRET = b"s3cret-hmac-key-for-tests-0123456789abcdef"


def b64(data):
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**kw):
    c = {"client_id": "so-tu-phap", "exp": int(time.time()) + 600,
         "iss": "https://idp.example", "aud": "dancu",
         "scope": "openid dancu.read"}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def hs_by_hand(header, payload, secret):
    signing = b64(header) + "." + b64(payload)
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(sig)


JWT_LOC = """
    location /jwt {
        content_by_lua_block {
            local ngsp = require "resty.ngsp"
            ngx.say(cjson.encode({
                status = ngsp.jwt_status(),
                agency = ngsp.agency() or cjson.null,
                claims = ngsp.claims() or cjson.null,
                scope = ngsp.claim("scope") or cjson.null,
                nested = ngsp.claim("realm.roles") or cjson.null,
                absent = ngsp.claim("nope") or cjson.null,
            }))
        }
    }
    location /verify {
        content_by_lua_block {
            local ngsp = require "resty.ngsp"
            local opts = cjson.decode(ngx.var.http_x_opts or "{}")
            local ok, c, why = pcall(ngsp.verify, ngx.var.http_x_token,
                                     opts)
            if not ok then
                ngx.say(cjson.encode({ error = c }))
                return
            end
            ngx.say(cjson.encode({ claims = c or cjson.null,
                                   why = why or cjson.null }))
        }
    }
    location /held {
        content_by_lua_block {
            -- steps in one request, so in one worker: its held claims
            local ngsp = require "resty.ngsp"
            local steps = cjson.decode(ngx.var.http_x_steps)
            local out = {}
            for i, s in ipairs(steps) do
                if s.sleep then
                    ngx.sleep(s.sleep)
                end
                local tok = s.token or ngx.var.http_x_token
                local held = ngsp._held:get(tok) ~= nil
                local c, why = ngsp.verify(tok, s.opts)
                -- as given, before any spoiling below
                out[i] = { held = held, why = why or cjson.null,
                           claims = c and cjson.encode(c) or cjson.null }
                if c and s.spoil then
                    -- what a careless caller does to its claims
                    c.client_id = "spoilt"
                    c.added = true
                    c.aud = nil
                    if c.realm then
                        c.realm.roles[1] = "spoilt"
                        c.realm.extra = 1
                    end
                    out[i].spoilt = cjson.encode(c)
                end
            end
            ngx.say(cjson.encode(out))
        }
    }
    location /turnover {
        client_body_buffer_size 2m;
        client_max_body_size 2m;
        content_by_lua_block {
            -- many tokens through one worker: every one judged right, the
            -- claims held stay bounded, one token used now and then stays
            local ngsp = require "resty.ngsp"
            ngx.req.read_body()
            local toks = cjson.decode(ngx.req.get_body_data())
            local wrong, first = 0, 0
            for i, tok in ipairs(toks) do
                local c = ngsp.verify(tok)
                if not c or c.client_id ~= "so-" .. i then
                    wrong = wrong + 1
                end
                if i % 300 == 0 then
                    c = ngsp.verify(toks[1])
                    if not c or c.client_id ~= "so-1" then
                        wrong = wrong + 1
                    end
                    first = first + 1
                end
            end
            local n, most = ngsp._held.size()
            ngx.say(cjson.encode({
                wrong = wrong, first = first, size = n, most = most,
                held_first = ngsp._held:get(toks[1]) ~= nil,
                held_second = ngsp._held:get(toks[2]) ~= nil,
                held_last = ngsp._held:get(toks[#toks]) ~= nil,
            }))
        }
    }
    location /compat {
        content_by_lua_block {
            local jwt = require "resty.ngsp.compat.jwt"
            local f = io.open(ngx.var.arg_key)
            local key = f:read("*a")
            f:close()
            local spec
            if ngx.var.arg_spec == "scope" then
                spec = { scope = function(v) return v == "x" end }
            elseif ngx.var.arg_spec == "grace" then
                spec = { lifetime_grace_period = 120 }
            elseif ngx.var.arg_spec == "hugegrace" then
                spec = { lifetime_grace_period = 3601 }
            end
            local o = jwt:verify(key, ngx.var.http_x_token, spec)
            local l = jwt.load_jwt(ngx.var.http_x_token)
            ngx.say(cjson.encode({
                verified = o.verified, valid = o.valid, reason = o.reason,
                header = o.header or cjson.null,
                payload = o.payload or cjson.null,
                load_valid = l.valid,
            }))
        }
    }
"""


@pytest.fixture
def site(nginx_factory, port, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "rsa.pem").write_bytes(pem)
    (tmp_path / "hs.secret").write_bytes(SECRET)
    http = f"""
        ngsp_jwt_key_file {tmp_path}/rsa.pem alg=RS256 kid=r1;
        ngsp_jwt_key_file {tmp_path}/hs.secret alg=HS256 kid=h1;
        ngsp_jwt_cache 1m;
        server {{
            listen 127.0.0.1:{port};
            ngsp_jwt_issuer https://idp.example;
            large_client_header_buffers 4 64k;
            {JWT_LOC}
        }}"""
    n = lua_nginx(nginx_factory, port, http)
    n.key, n.pem, n.dir = key, pem, tmp_path
    return n


def rs(site, c=None, **kw):
    return pyjwt.encode(c or claims(**kw), site.key, algorithm="RS256",
                        headers={"kid": "r1"})


def hs(c=None, **kw):
    return pyjwt.encode(c or claims(**kw), SECRET, algorithm="HS256",
                        headers={"kid": "h1"})


def test_current_request_as_the_variables(site, port):
    tok = rs(site, realm={"roles": ["a", "b"]})
    j = get(port, "/jwt", tok).json()
    assert j["status"] == "ok"
    assert j["agency"] == "so-tu-phap"
    assert j["claims"]["client_id"] == "so-tu-phap"
    assert j["claims"]["realm"] == {"roles": ["a", "b"]}
    assert j["scope"] == "openid dancu.read"
    assert j["nested"] == "a,b"
    assert j["absent"] is None


def test_current_request_rejections(site, port):
    j = get(port, "/jwt").json()
    assert j == {"status": "missing", "agency": None, "claims": None,
                 "scope": None, "nested": None, "absent": None}
    j = get(port, "/jwt", rs(site, iss="https://evil")).json()
    assert j["status"] == "bad_issuer" and j["agency"] is None
    assert j["claims"] is None
    j = get(port, "/jwt", rs(site, exp=int(time.time()) - 100)).json()
    assert j["status"] == "expired"
    j = get(port, "/jwt", rs(site)[:-4] + "AAAA").json()
    assert j["status"] == "bad_signature"


def verify(port, token, opts=None):
    h = {"X-Token": token}
    if opts is not None:
        h["X-Opts"] = json.dumps(opts)
    return get(port, "/verify", headers=h).json()


def test_verify_any_token(site, port):
    j = verify(port, rs(site))
    assert j["claims"]["client_id"] == "so-tu-phap" and j["why"] is None
    j = verify(port, hs())
    assert j["claims"]["aud"] == "dancu"


def test_verify_options(site, port):
    tok = rs(site)
    ok = {"issuer": "https://idp.example", "audience": ["x", "dancu"],
          "require": ["scope contains dancu.read", "client_id exists"]}
    assert verify(port, tok, ok)["claims"]["client_id"] == "so-tu-phap"
    assert verify(port, tok, {"issuer": "https://other"})["why"] == \
        "bad_issuer"
    assert verify(port, tok, {"audience": "other"})["why"] == "bad_audience"
    assert verify(port, tok, {"require": "scope contains admin"})["why"] == \
        "claim_failed"
    assert verify(port, tok, {"require": ["client_id match ^so-"]})[
        "claims"]["client_id"] == "so-tu-phap"
    assert verify(port, tok, {"require": ["client_id match ^bo-"]})[
        "why"] == "claim_failed"
    late = rs(site, exp=int(time.time()) - 30)
    assert verify(port, late)["why"] == "expired"
    assert verify(port, late, {"leeway": 60})["claims"]["client_id"]


def held(site, port, token, steps):
    h = {"X-Token": token, "X-Steps": json.dumps(steps)}
    j = get(port, "/held", headers=h).json()
    for s in j:
        s["claims"] = s["claims"] and json.loads(s["claims"])
    return j


def test_verify_held_claims_are_judged_on_every_call(site, port):
    tok = rs(site)
    j = held(site, port, tok, [
        {}, {"opts": {"issuer": "https://idp.example"}},
        {"opts": {"issuer": "https://other"}},
        {"opts": {"audience": "other"}},
        {"opts": {"require": "scope contains admin"}},
        {"opts": {"require": ["client_id match ^bo-"]}},
        {"opts": {"require": ["client_id match ^so-"],
                  "audience": ["x", "dancu"]}}])
    assert j[0]["held"] is False and j[0]["claims"]["client_id"]
    assert all(s["held"] for s in j[1:])
    assert [s["why"] for s in j] == [
        None, None, "bad_issuer", "bad_audience", "claim_failed",
        "claim_failed", None]
    assert all(s["claims"] is None for s in j if s["why"])
    assert j[6]["claims"] == j[0]["claims"]


def test_verify_held_claims_of_an_expired_token(site, port):
    # held under a leeway, then judged without one: expired all the same
    late = rs(site, exp=int(time.time()) - 30)
    j = held(site, port, late, [
        {"opts": {"leeway": 60}}, {}, {"opts": {"leeway": 10}},
        {"opts": {"leeway": 60}}])
    assert j[0]["claims"]["client_id"] == "so-tu-phap"
    assert j[1]["held"] and j[2]["held"] and j[3]["held"]
    assert [s["why"] for s in j] == [None, "expired", "expired", None]
    early = rs(site, nbf=int(time.time()) + 30)
    j = held(site, port, early, [{"opts": {"leeway": 60}}, {}])
    assert j[1]["held"] and j[1]["why"] == "not_yet_valid"
    assert j[1]["claims"] is None


def test_verify_held_claims_of_a_token_that_expires(site, port):
    # valid, held, then its exp passes while the worker runs
    exp = int(time.time()) + 2
    tok = rs(site, exp=exp)
    j = held(site, port, tok, [
        {}, {},
        {"sleep": max(exp - time.time(), 0) + 1.2},
        {"opts": {"leeway": 30}}])
    assert j[0]["why"] is None and j[1]["held"] and j[1]["why"] is None
    assert j[2]["why"] == "expired" and j[2]["claims"] is None
    assert j[3]["why"] is None
    assert j[3]["claims"]["client_id"] == "so-tu-phap"


def test_verify_held_claims_cannot_be_spoilt(site, port):
    tok = rs(site, realm={"roles": ["a", "b"]})
    j = held(site, port, tok, [{"spoil": True}, {"spoil": True}, {}])
    assert j[1]["held"] and j[2]["held"]
    spoilt = json.loads(j[0]["spoilt"])
    assert spoilt["client_id"] == "spoilt"
    assert spoilt["realm"] == {"roles": ["spoilt", "b"], "extra": 1}
    for s in j:
        c = s["claims"]
        assert c["client_id"] == "so-tu-phap" and "added" not in c
        assert c["aud"] == "dancu"
        assert c["realm"] == {"roles": ["a", "b"]}


def test_verify_held_claims_stay_with_their_token(site, port):
    a = rs(site, client_id="so-a")
    b = rs(site, client_id="so-b")
    forged = a[:-4] + "AAAA"
    j = held(site, port, a, [
        {}, {"token": b}, {}, {"token": b}, {"token": forged},
        {"token": hs(client_id="so-c")}])
    assert [s["claims"] and s["claims"]["client_id"] for s in j] == [
        "so-a", "so-b", "so-a", "so-b", None, "so-c"]
    assert j[2]["held"] and j[3]["held"] and not j[4]["held"]
    assert j[4]["why"] == "bad_signature"


def test_verify_held_claims_bounded(site, port):
    import requests
    toks = [hs(client_id=f"so-{i}") for i in range(1, 2201)]
    r = requests.post(f"http://127.0.0.1:{port}/turnover",
                      data=json.dumps(toks), timeout=60)
    j = r.json()
    assert j["wrong"] == 0 and j["first"] == 7
    assert j["most"] == 2048 and 1024 < j["size"] <= 2048
    # the first token, used every 300, stays; the second, used once, not
    assert j["held_first"] and j["held_last"] and not j["held_second"]


def test_verify_refusals(site, port):
    assert verify(port, "")["why"] == "missing"
    assert verify(port, "abc")["why"] == "malformed"
    assert verify(port, "a" * 20000)["why"] == "malformed"
    assert verify(port, rs(site)[:-4] + "AAAA")["why"] == "bad_signature"
    none = b64({"alg": "none"}) + "." + b64(claims()) + "."
    assert verify(port, none)["why"] == "alg_not_allowed"
    # HS256 signed with the RSA public PEM: no HMAC key is that PEM
    forged = hs_by_hand({"alg": "HS256", "kid": "r1"}, claims(), site.pem)
    assert verify(port, forged)["why"] in ("alg_not_allowed",
                                           "unknown_key")


def test_verify_bad_options_are_errors(site, port):
    tok = rs(site)
    for opts, words in (
            ({"require": "scope bogus x"}, "unknown operator"),
            ({"require": "scope eq"}, "takes exactly one value"),
            ({"require": "scope exists x"}, "takes no value"),
            ({"require": "scope match ("}, "ngsp: pcre2_compile"),
            ({"require": ""}, "empty or bad rule"),
            ({"require": ["x exists"] * 65}, "more than 64"),
            ({"leeway": -1}, "bad leeway"),
            ({"leeway": 3601}, "bad leeway: seconds, 0 to 3600"),
            ({"issuer": 5}, "bad issuer")):
        j = verify(port, tok, opts)
        assert "error" in j, opts
        assert words in j["error"], (opts, j["error"])


def compat(site, port, token, key="rsa.pem", spec=None):
    path = f"/compat?key={site.dir}/{key}"
    if spec:
        path += "&spec=" + spec
    return get(port, path, headers={"X-Token": token}).json()


def test_compat_verifies_like_lua_resty_jwt(site, port):
    j = compat(site, port, rs(site))
    assert j["verified"] is True and j["valid"] is True, j
    assert j["reason"] == "everything is awesome~ :p"
    assert j["header"] == {"alg": "RS256", "kid": "r1", "typ": "JWT"}
    assert j["payload"]["client_id"] == "so-tu-phap"
    j = compat(site, port, hs(), key="hs.secret")
    assert j["verified"] is True


def test_compat_claims_and_lifetime(site, port):
    j = compat(site, port, rs(site), spec="scope")
    assert j["verified"] is False and "returned failure" in j["reason"]
    late = rs(site, exp=int(time.time()) - 60)
    j = compat(site, port, late)
    assert j["verified"] is False and j["reason"] == "expired"
    assert j["valid"] is True and j["load_valid"] is True
    assert compat(site, port, late, spec="grace")["verified"] is True
    j = compat(site, port, late, spec="hugegrace")
    assert j["verified"] is False
    assert j["reason"] == "ngsp: bad lifetime_grace_period"


def test_compat_refuses_hs256_signed_with_the_rsa_pem(site, port):
    forged = hs_by_hand({"alg": "HS256", "typ": "JWT"}, claims(), site.pem)
    j = compat(site, port, forged)
    assert j["verified"] is False
    assert j["reason"] == "alg_not_allowed"
    # the PEM as a secret file has no other reading
    (site.dir / "pem.secret").write_bytes(site.pem)
    j = compat(site, port, forged, key="pem.secret")
    assert j["verified"] is False


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_compat_refuses_alg_none(site, port, alg):
    for sig in ("", b64(b"x")):
        tok = b64({"alg": alg, "typ": "JWT"}) + "." + b64(claims()) + "." \
            + sig
        for key in ("rsa.pem", "hs.secret"):
            j = compat(site, port, tok, key=key)
            assert j["verified"] is False, (alg, key)
            assert j["reason"] in ("alg_not_allowed", "malformed")
    # and an HMAC made with the secret does not save it either
    tok = hs_by_hand({"alg": alg}, claims(), SECRET)
    assert compat(site, port, tok, key="hs.secret")["verified"] is False


def test_compat_refuses_a_token_without_alg(site, port):
    tok = hs_by_hand({"typ": "JWT"}, claims(), SECRET)
    j = compat(site, port, tok, key="hs.secret")
    assert j["verified"] is False
    assert j["reason"] in ("alg_not_allowed", "malformed")
    assert j["valid"] is True


def test_compat_load_jwt_shape(site, port):
    j = compat(site, port, "not-a-jwt")
    assert j["valid"] is False and j["verified"] is False
    assert j["reason"] == "invalid jwt string"
    assert j["load_valid"] is False
