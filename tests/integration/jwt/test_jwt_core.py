"""JWT validation through real nginx; tokens minted by PyJWT.

Each security case asserts the exact rejection: status, WWW-Authenticate
and the reason in $ngsp_jwt_status.
"""

import base64
import json
import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import RSAAlgorithm

from harness import Reply

NOW = lambda: int(time.time())  # noqa: E731
HS_SECRET = b"s3cret-hmac-key-for-tests-0123456789abcdef"


def b64(data):
    if isinstance(data, (dict, list, str)) and not isinstance(data, bytes):
        data = json.dumps(data).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    def __init__(self, d):
        self.dir = d
        self.rsa = rsa.generate_private_key(public_exponent=65537,
                                            key_size=2048)
        self.rsa2 = rsa.generate_private_key(public_exponent=65537,
                                             key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.ec384 = ec.generate_private_key(ec.SECP384R1())
        self.ec521 = ec.generate_private_key(ec.SECP521R1())
        self.ed = ed25519.Ed25519PrivateKey.generate()

    def pem(self, key, name):
        path = self.dir / name
        path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo))
        return path

    def file(self, name, data):
        path = self.dir / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path

    def jwks(self, name, *entries):
        keys = []
        for key, kid, extra in entries:
            j = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            j["kid"] = kid
            j.update(extra)
            keys.append(j)
        return self.file(name, json.dumps({"keys": keys}))


def claims(**kw):
    c = {"client_id": "so-tu-phap", "iat": NOW(), "exp": NOW() + 600,
         "scope": "openid dancu.read"}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


@pytest.fixture
def keys(tmp_path):
    return Keys(tmp_path)


def server(port, upstream, keys_conf, loc_extra="", http_extra=""):
    return f"""
        {keys_conf}
        {http_extra}
        server {{
            listen 127.0.0.1:{port};
            location / {{
                ngsp_jwt on;
                {loc_extra}
                add_header X-Status $ngsp_jwt_status always;
                add_header X-Agency $ngsp_agency always;
                proxy_set_header X-Agency $ngsp_agency;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
            location /open/ {{
                add_header X-Status $ngsp_jwt_status always;
                add_header X-Agency $ngsp_agency always;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
        }}"""


@pytest.fixture
def site(nginx_factory, upstream, port, keys):
    """nginx with an RSA key (kid r1, RS256 pinned), an HMAC secret and an
    EC key; returns a get(token, path) helper."""
    upstream.routes["*"] = Reply(b'{"ok":true}', headers={
        "Content-Type": "application/json"})
    hs = keys.file("hs.secret", HS_SECRET + b"\n")
    conf = f"""
        ngsp_jwt_key_file {keys.pem(keys.rsa, 'rsa.pem')} alg=RS256 kid=r1;
        ngsp_jwt_key_file {hs} alg=HS256 kid=h1;
        ngsp_jwt_key_file {keys.pem(keys.ec, 'ec.pem')} kid=e1;
    """
    n = nginx_factory(server(port, upstream, conf,
                             loc_extra="ngsp_jwt_leeway 5s;"), ports=[port])

    def get(token=None, path="/dancu/1", headers=None, scheme="Bearer"):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"{scheme} {token}"
        return requests.get(f"http://127.0.0.1:{port}{path}", headers=h)

    get.nginx = n
    return get


def rs(keys, c=None, kid="r1", alg="RS256", key=None, headers=None):
    h = {"kid": kid} if kid else {}
    h.update(headers or {})
    return pyjwt.encode(c or claims(), key or keys.rsa, algorithm=alg,
                        headers=h)


def assert_invalid(r, reason):
    assert r.status_code == 401, (r.status_code, r.headers)
    assert r.headers["WWW-Authenticate"] == \
        'Bearer realm="ngsp", error="invalid_token"'
    assert r.headers["X-Status"] == reason


def test_valid_token_reaches_upstream_with_agency(site, keys, upstream):
    r = site(rs(keys))
    assert r.status_code == 200
    assert r.headers["X-Status"] == "ok"
    assert r.headers["X-Agency"] == "so-tu-phap"
    assert upstream.requests[-1][2]["X-Agency"] == "so-tu-phap"


def test_scheme_is_case_insensitive(site, keys):
    assert site(rs(keys), scheme="bearer").status_code == 200
    assert site(rs(keys), scheme="BEARER").status_code == 200


def test_missing_token_has_no_error_code(site):
    r = site()
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="ngsp"'
    assert r.headers["X-Status"] == "missing"
    r = site(headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401
    assert r.headers["X-Status"] == "missing"


@pytest.mark.parametrize("alg", ["none", "NONE", "None", "nOnE"])
def test_alg_none_in_any_case(site, alg):
    head = b64({"alg": alg, "kid": "r1"})
    body = b64(claims())
    # the algorithm is judged before the signature: empty or not, refused
    assert_invalid(site(f"{head}.{body}."), "alg_not_allowed")
    assert_invalid(site(f"{head}.{body}.{b64(b'sig')}"), "alg_not_allowed")


def test_hs256_signed_with_rsa_public_pem_is_refused(site, keys):
    pem = (keys.dir / "rsa.pem").read_bytes()
    head = b64({"alg": "HS256", "kid": "r1"})
    body = b64(claims())
    import hashlib
    import hmac
    sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert_invalid(site(f"{head}.{body}.{b64(sig)}"), "alg_not_allowed")
    # and without kid: no HMAC key accepts it either
    head = b64({"alg": "HS256"})
    sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert_invalid(site(f"{head}.{body}.{b64(sig)}"), "bad_signature")


def test_alg_outside_directive_pin(site, keys):
    # the RSA key is pinned to RS256
    assert_invalid(site(rs(keys, alg="PS256")), "alg_not_allowed")
    assert_invalid(site(rs(keys, alg="RS512")), "alg_not_allowed")


def test_kid_naming_no_key_never_falls_back(site, keys):
    assert_invalid(site(rs(keys, kid="nope")), "unknown_key")
    # signed with the RSA key but naming the EC key's kid
    assert_invalid(site(rs(keys, kid="e1")), "alg_not_allowed")


def test_token_without_kid_tries_fitting_keys(site, keys):
    assert site(rs(keys, kid=None)).status_code == 200
    t = pyjwt.encode(claims(), HS_SECRET, algorithm="HS256")
    assert site(t).status_code == 200
    t = pyjwt.encode(claims(), keys.ec, algorithm="ES256")
    assert site(t).status_code == 200
    t = pyjwt.encode(claims(), keys.rsa2, algorithm="RS256")
    assert_invalid(site(t), "bad_signature")


def test_exp_nbf_with_leeway(site, keys):
    assert site(rs(keys, claims(exp=NOW() - 2))).status_code == 200
    assert_invalid(site(rs(keys, claims(exp=NOW() - 20))), "expired")
    assert site(rs(keys, claims(nbf=NOW() + 2))).status_code == 200
    assert_invalid(site(rs(keys, claims(nbf=NOW() + 60))), "not_yet_valid")


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_time_claims_must_be_numbers(site, keys, name):
    c = claims()
    c[name] = str(NOW() + 600)
    assert_invalid(site(rs(keys, c)), "bad_claim")


def test_unknown_crit_fails(site, keys):
    t = rs(keys, headers={"crit": ["x-ngsp"], "x-ngsp": 1})
    assert_invalid(site(t), "unsupported_crit")


def test_at_jwt_typ_is_accepted(site, keys):
    assert site(rs(keys, headers={"typ": "at+jwt"})).status_code == 200


@pytest.mark.parametrize("token,reason", [
    ("abc", "malformed"),
    ("a.b", "malformed"),
    ("a.b.c.d", "malformed"),
    ("..", "malformed"),
    ("eyJhbGciOiJSUzI1NiJ9.e30=.c2ln", "malformed"),       # padding
    ("eyJhbGciOiJSUzI1NiJ9.e30", "malformed"),             # truncated
    ("eyJhbGciOiJSUzI1NiJ9.e30.", "malformed"),            # empty signature
    ("eyJhbGciOiJSUzI1NiJ9.W10.c2ln", "malformed"),        # claims: array
    ("WyJhbGciXQ.e30.c2ln", "malformed"),                  # header: array
    ("eyJhbGciOiJSUzI1NiJ9.e30.c2ln!", "malformed"),       # stray byte
    ("eyJhbGciOiJSUzI1NiJ9.e30.c2ln.eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
     "malformed"),                                         # two tokens
])
def test_malformed_tokens(site, token, reason):
    assert_invalid(site(token), reason)


def test_duplicate_members_fail(site, keys):
    good = rs(keys)
    h, p, s = good.split(".")
    dup_head = b64(b'{"alg":"RS256","kid":"r1","alg":"none"}')
    assert_invalid(site(f"{dup_head}.{p}.{s}"), "malformed")
    dup_body = b64(b'{"client_id":"a","client_id":"b"}')
    assert_invalid(site(f"{h}.{dup_body}.{s}"), "malformed")


def test_flipped_signature_fails(site, keys):
    h, p, s = rs(keys).split(".")
    s = ("A" if s[5] != "A" else "B").join([s[:5], s[6:]])
    assert_invalid(site(f"{h}.{p}.{s}"), "bad_signature")


def test_oversized_token_is_refused_without_alert(site, keys):
    r = site("a" * 20000)
    assert r.status_code in (400, 401, 431, 494)


def test_token_never_logged(site, keys):
    good = rs(keys)
    site(good)
    site(rs(keys, claims(exp=NOW() - 100)))
    log = site.nginx.log()
    assert "ngsp: jwt rejected: expired" in log
    for part in good.split("."):
        assert part not in log


def test_no_agency_claim(site, keys):
    assert_invalid(site(rs(keys, claims(client_id=None))), "no_agency")
    r = site(rs(keys, claims(client_id=None, azp="portal-b")))
    assert r.status_code == 200
    assert r.headers["X-Agency"] == "portal-b"


def test_variables_without_enforcement(site, keys):
    r = site(rs(keys), path="/open/x")
    assert r.status_code == 200
    assert r.headers["X-Agency"] == "so-tu-phap"
    r = site(rs(keys, kid="nope"), path="/open/x")
    assert r.status_code == 200
    assert r.headers["X-Status"] == "unknown_key"
    assert "X-Agency" not in r.headers


ALGS = [("HS256", None), ("HS384", None), ("HS512", None),
        ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
        ("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"),
        ("ES256", "ec"), ("ES384", "ec384"), ("ES512", "ec521"),
        ("EdDSA", "ed")]


def test_every_algorithm(nginx_factory, upstream, port, keys):
    upstream.routes["*"] = Reply(b"ok")
    secret = b"x" * 64
    conf = f"""
        ngsp_jwt_key_file {keys.file('hs', secret)} alg=HS256,HS384,HS512;
        ngsp_jwt_key_file {keys.pem(keys.rsa, 'rsa.pem')};
        ngsp_jwt_key_file {keys.pem(keys.ec, 'ec.pem')};
        ngsp_jwt_key_file {keys.pem(keys.ec384, 'ec384.pem')};
        ngsp_jwt_key_file {keys.pem(keys.ec521, 'ec521.pem')};
        ngsp_jwt_key_file {keys.pem(keys.ed, 'ed.pem')};
    """
    nginx_factory(server(port, upstream, conf), ports=[port])
    for alg, name in ALGS:
        key = secret if name is None else getattr(keys, name)
        t = pyjwt.encode(claims(), key, algorithm=alg)
        r = requests.get(f"http://127.0.0.1:{port}/",
                         headers={"Authorization": "Bearer " + t})
        assert r.status_code == 200, alg
        h, p, s = t.split(".")
        s = s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB")
        r = requests.get(f"http://127.0.0.1:{port}/",
                         headers={"Authorization": f"Bearer {h}.{p}.{s}"})
        assert r.status_code == 401, alg
        assert r.headers["X-Status"] in ("bad_signature", "malformed"), alg


def test_jwk_alg_pins_and_typeless_jwk(nginx_factory, upstream, port, keys):
    upstream.routes["*"] = Reply(b"ok")
    jwks = keys.jwks("k.jwks", (keys.rsa, "pinned", {"alg": "PS256"}),
                     (keys.rsa2, "free", {}))
    nginx_factory(server(port, upstream, f"ngsp_jwt_key_file {jwks};"),
                  ports=[port])

    def get(t):
        return requests.get(f"http://127.0.0.1:{port}/",
                            headers={"Authorization": "Bearer " + t})

    assert get(rs(keys, kid="pinned", alg="PS256")).status_code == 200
    assert_invalid(get(rs(keys, kid="pinned", alg="RS256")),
                   "alg_not_allowed")
    # a JWK without alg allows only its own type's algorithms
    assert get(rs(keys, kid="free", alg="RS384", key=keys.rsa2)) \
        .status_code == 200
    head = b64({"alg": "HS256", "kid": "free"})
    assert_invalid(get(f"{head}.{b64(claims())}.{b64(b'x' * 32)}"),
                   "alg_not_allowed")


def test_issuer_audience_require(nginx_factory, upstream, port, keys):
    upstream.routes["*"] = Reply(b"ok")
    extra = """
        ngsp_jwt_issuer https://lgsp.example.gov.vn https://ngsp.gov.vn;
        ngsp_jwt_audience resident-api;
        ngsp_jwt_require scope contains dancu.read;
        ngsp_jwt_require realm_access.roles contains officer;
        ngsp_jwt_require level in 2 3;
        ngsp_jwt_require client_id match ^so-;
        ngsp_jwt_realm "LGSP \\"demo\\"";
    """
    conf = f"ngsp_jwt_key_file {keys.pem(keys.rsa, 'rsa.pem')};"
    n = nginx_factory(server(port, upstream, conf, loc_extra=extra),
                      ports=[port])

    def get(**kw):
        c = claims(iss="https://ngsp.gov.vn", aud=["x", "resident-api"],
                   realm_access={"roles": ["officer"]}, level=2)
        c.update(kw)
        c = {k: v for k, v in c.items() if v is not None}
        return requests.get(f"http://127.0.0.1:{port}/", headers={
            "Authorization": "Bearer " + rs(keys, c, kid=None)})

    assert get().status_code == 200
    r = get(iss="https://evil")
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_issuer")
    assert get(iss=None).headers["X-Status"] == "bad_issuer"
    assert get(aud="other").headers["X-Status"] == "bad_audience"
    assert get(aud=None).headers["X-Status"] == "bad_audience"
    for kw in ({"scope": "openid dancu.readwrite"},
               {"realm_access": {"roles": ["citizen"]}},
               {"level": 5}, {"client_id": "portal-so"}):
        r = get(**kw)
        assert r.status_code == 403, kw
        assert r.headers["X-Status"] == "claim_failed"
        assert r.headers["WWW-Authenticate"] == \
            'Bearer realm="LGSP \\"demo\\"", error="insufficient_scope"'

    # the agency is the caller's text: escaped in the log
    r = get(client_id='so-x"forged \\ line', scope="openid")
    assert r.status_code == 403
    assert 'agency "so-x\\x22forged \\x5c line"' in n.log()
    # and one with a new line is no agency at all
    r = get(client_id='so-x"\nforged line', scope="openid")
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_agency")
    assert "\nforged line" not in n.log()


def test_token_from_cookie_or_argument(nginx_factory, upstream, port, keys):
    upstream.routes["*"] = Reply(b"ok")
    conf = f"ngsp_jwt_key_file {keys.pem(keys.rsa, 'rsa.pem')};"
    nginx_factory(server(port, upstream, conf,
                         loc_extra="ngsp_jwt_token $cookie_at$arg_t;"),
                  ports=[port])
    t = rs(keys, kid=None)
    url = f"http://127.0.0.1:{port}/"
    assert requests.get(url, cookies={"at": t}).status_code == 200
    assert requests.get(url + "?t=" + t).status_code == 200
    r = requests.get(url, headers={"Authorization": "Bearer " + t})
    assert (r.status_code, r.headers["X-Status"]) == (401, "missing")


def test_cached_token_not_accepted_after_exp(site, keys):
    t = rs(keys, claims(exp=NOW() + 2))
    for _ in range(5):
        assert site(t).status_code == 200
    time.sleep(8)    # past exp and the 5 s leeway
    assert_invalid(site(t), "expired")


def test_reload_with_rotated_jwks(nginx_factory, upstream, port, keys):
    upstream.routes["*"] = Reply(b"ok")
    jwks = keys.jwks("k.jwks", (keys.rsa, "old", {}), (keys.rsa2, "new", {}))
    n = nginx_factory(server(port, upstream, f"ngsp_jwt_key_file {jwks};"),
                      ports=[port])
    url = f"http://127.0.0.1:{port}/"
    old = rs(keys, kid="old")
    new = rs(keys, kid="new", key=keys.rsa2)
    for _ in range(4):          # cached in both workers
        assert requests.get(url, headers={
            "Authorization": "Bearer " + old}).status_code == 200
    keys.jwks("k.jwks", (keys.rsa2, "new", {}))
    n.reload()
    r = requests.get(url, headers={"Authorization": "Bearer " + old})
    assert (r.status_code, r.headers["X-Status"]) == (401, "unknown_key")
    # the same key material under another kid is not trusted from cache
    keys.jwks("k.jwks", (keys.rsa, "renamed", {}))
    n.reload()
    r = requests.get(url, headers={"Authorization": "Bearer " + old})
    assert r.headers["X-Status"] == "unknown_key"
    r = requests.get(url, headers={"Authorization": "Bearer " + new})
    assert r.headers["X-Status"] == "unknown_key"


def test_variables_in_earlier_phases(nginx_factory, upstream, port, keys):
    upstream.routes["*"] = Reply(b"ok")
    conf = f"""
        ngsp_jwt_key_file {keys.pem(keys.rsa, 'rsa.pem')};
        limit_req_zone $ngsp_agency zone=per_agency:1m rate=1r/m;
    """
    nginx_factory(server(port, upstream, conf,
                         loc_extra="limit_req zone=per_agency;"),
                  ports=[port])
    url = f"http://127.0.0.1:{port}/"

    def get(agency):
        t = rs(keys, claims(client_id=agency), kid=None)
        return requests.get(url, headers={"Authorization": "Bearer " + t})

    assert get("a").status_code == 200
    assert get("a").status_code == 503    # limit_req, keyed by the agency
    assert get("b").status_code == 200


@pytest.mark.parametrize("content,reason", [
    ("", "empty"),
    ("not a key", "neither a JWKS"),
    ('{"keys": [}', "not valid JSON"),
    ('{"keys": []}', "no signature verification key"),
    ("short", None),
])
def test_bad_key_file_stops_nginx_t(nginx_factory, upstream, port, keys,
                                    content, reason):
    path = keys.file("bad.key", content)
    algs = " alg=HS256" if content == "short" else ""
    n = nginx_factory(server(port, upstream,
                             f"ngsp_jwt_key_file {path}{algs};"),
                      start=False)
    ok, out = n.check()
    assert not ok
    assert f'cannot load key file "{path}"' in out
    assert (reason or "too short") in out
    assert "nginx.conf:" in out


def test_private_key_and_weak_keys_refused(nginx_factory, upstream, port,
                                           keys):
    priv = keys.file("priv.pem", keys.rsa.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for path, why in ((priv, "private key"),
                      (keys.pem(small, "small.pem"), "too short"),
                      (keys.pem(keys.rsa, "r.pem"), "does not fit")):
        algs = " alg=ES256" if why == "does not fit" else ""
        n = nginx_factory(server(port, upstream,
                                 f"ngsp_jwt_key_file {path}{algs};"),
                          start=False)
        ok, out = n.check()
        assert not ok and why in out, out


def test_jwt_on_without_keys_is_a_config_error(nginx_factory, upstream,
                                               port):
    n = nginx_factory(server(port, upstream, ""), start=False)
    ok, out = n.check()
    assert not ok
    assert "ngsp_jwt_key_file" in out


def private_jwk(key, kid):
    from jwt.algorithms import ECAlgorithm
    alg = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    j = json.loads(alg.to_jwk(key))
    assert "d" in j
    if alg is ECAlgorithm:
        # RFC 7518's full length: this pyjwt drops leading zero bytes
        nums = key.private_numbers()
        for name, v in (("x", nums.public_numbers.x),
                        ("y", nums.public_numbers.y),
                        ("d", nums.private_value)):
            j[name] = base64.urlsafe_b64encode(v.to_bytes(32, "big")).rstrip(
                b"=").decode()
    j["kid"] = kid
    return j


@pytest.mark.parametrize("which", ["rsa", "ec", "jwks"])
def test_private_jwk_refused(nginx_factory, upstream, port, keys, which):
    if which == "jwks":
        pub = json.loads(RSAAlgorithm.to_jwk(keys.rsa.public_key()))
        pub["kid"] = "pub"
        priv = private_jwk(keys.rsa2, "leaked")
        path = keys.file("mixed.jwks", json.dumps({"keys": [pub, priv]}))
        named = 'key #2, kid "leaked": holds a private key'
    else:
        key = keys.rsa if which == "rsa" else keys.ec
        priv = private_jwk(key, which + "1")
        path = keys.file("priv.jwk", json.dumps(priv))
        named = f'JWK, kid "{which}1": holds a private key (member "d")'
    n = nginx_factory(server(port, upstream, f"ngsp_jwt_key_file {path};"),
                      start=False)
    ok, out = n.check()
    assert not ok, out
    assert f'cannot load key file "{path}"' in out
    assert named in out
    assert "nginx.conf:" in out
    assert priv["d"] not in out


def test_public_jwk_and_oct_jwk_accepted(nginx_factory, upstream, port,
                                         keys):
    pub = json.loads(RSAAlgorithm.to_jwk(keys.rsa.public_key()))
    pub["kid"] = "pub"
    oct_ = {"kty": "oct", "kid": "h1", "alg": "HS256",
            "k": b64(HS_SECRET)}
    path = keys.file("ok.jwks", json.dumps({"keys": [pub, oct_]}))
    nginx_factory(server(port, upstream, f"ngsp_jwt_key_file {path};"),
                  ports=[port])
    upstream.routes["*"] = Reply(b"ok")
    t = pyjwt.encode(claims(), HS_SECRET, algorithm="HS256",
                     headers={"kid": "h1"})
    r = requests.get(f"http://127.0.0.1:{port}/",
                     headers={"Authorization": "Bearer " + t})
    assert r.status_code == 200
