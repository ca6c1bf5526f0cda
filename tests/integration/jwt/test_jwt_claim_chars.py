"""Claims are the caller's text: no $ngsp_* value ever holds a control
character.  An agency claim with one, of another type than a string, or
longer than 256 bytes makes the token invalid (bad_agency); other claim
and header variables carry control characters JSON-escaped.  The
upstream stub reports every header line it received.
"""

import json

import jwt as pyjwt
import pytest
import requests

from harness import Reply, free_port
from test_jwt_core import claims, keys, rs  # noqa: F401 (fixture)

FORWARDED = {
    "X-Agency": "$ngsp_agency",
    "X-Sub": "$ngsp_jwt_claim_sub",
    "X-Iss": "$ngsp_jwt_claim_iss",
    "X-Role": "$ngsp_jwt_claim_role",
    "X-Roles": "$ngsp_jwt_claim_roles",
    "X-Org": "$ngsp_jwt_claim_org",
    "X-Typ": "$ngsp_jwt_header_typ",
}


@pytest.fixture
def site(nginx_factory, upstream, keys):
    seen = []

    def echo(handler):
        seen.append(list(handler.headers.items()))
        return Reply(b"ok")

    upstream.routes["*"] = echo
    port = free_port()
    sets = "".join(f"proxy_set_header {h} {v};\n" for h, v in
                   FORWARDED.items())
    n = nginx_factory(f"""
        ngsp_jwt_key_file {keys.pem(keys.rsa, 'rsa.pem')};
        server {{
            listen 127.0.0.1:{port};
            location / {{
                ngsp_jwt on;
                ngsp_agency_claim client_id azp;
                add_header X-Status $ngsp_jwt_status always;
                add_header X-Agency $ngsp_agency always;
                {sets}
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
        }}""", ports=[port])

    def get(c, headers=None):
        t = rs(keys, c, kid=None, headers=headers)
        r = requests.get(f"http://127.0.0.1:{port}/",
                         headers={"Authorization": "Bearer " + t})
        r.upstream = seen.pop() if seen else None
        return r

    get.nginx = n
    return get


def names(lines):
    return [k.lower() for k, _ in lines]


@pytest.mark.parametrize("agency", [
    "so-tu-phap\r\nX-Agency: so-cong-an",
    "so-tu-phap\nX-Agency: so-cong-an",
    "so-tu-phap\r",
    "so\ttu\tphap",
    "so-tu-phap\x7f",
    "\x1b[31mso-tu-phap",
])
def test_agency_with_a_control_character_is_refused(site, agency):
    r = site(claims(client_id=agency))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_agency")
    assert r.headers["WWW-Authenticate"] == \
        'Bearer realm="ngsp", error="invalid_token"'
    assert "X-Agency" not in r.headers
    assert r.upstream is None
    assert "ngsp: jwt rejected: bad_agency" in site.nginx.log()


def test_agency_injection_never_reaches_upstream(site):
    # the agency is refused even when a later claim would be clean
    r = site(claims(client_id="so-tu-phap\r\nX-Agency: so-cong-an",
                    azp="portal"))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_agency")
    assert r.upstream is None
    r = site(claims(client_id="so-tu-phap"))
    assert r.status_code == 200
    agencies = [v for k, v in r.upstream if k.lower() == "x-agency"]
    assert agencies == ["so-tu-phap"]


@pytest.mark.parametrize("value", [12345, 1.5, True, {"code": "x"},
                                   ["so-tu-phap"], ["a", "b"]])
def test_agency_of_another_type_is_refused(site, value):
    r = site(claims(client_id=value, azp="portal"))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_agency")
    assert r.upstream is None


def test_absent_null_or_empty_agency_tries_the_next_claim(site):
    for first in (None, ""):
        r = site(claims(client_id=first, azp="portal"))
        assert (r.status_code, r.headers["X-Agency"]) == (200, "portal")
    c = claims(azp="portal")
    c["client_id"] = None          # a JSON null
    r = site(c)
    assert (r.status_code, r.headers["X-Agency"]) == (200, "portal")
    r = site(claims(client_id=""))
    assert (r.status_code, r.headers["X-Status"]) == (401, "no_agency")


def test_agency_length(site):
    r = site(claims(client_id="a" * 256))
    assert r.status_code == 200
    assert r.headers["X-Agency"] == "a" * 256
    r = site(claims(client_id="a" * 257))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_agency")
    r = site(claims(client_id="a" * 4000))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_agency")
    # 256 bytes, not characters: "ư" is two
    r = site(claims(client_id="ư" * 128))
    assert r.status_code == 200
    r = site(claims(client_id="ư" * 129))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_agency")


def test_vietnamese_agency_is_kept(site):
    r = site(claims(client_id="Sở Tư pháp"))
    assert r.status_code == 200
    got = [v for k, v in r.upstream if k.lower() == "x-agency"]
    assert [v.encode("latin-1").decode() for v in got] == ["Sở Tư pháp"]


def test_claim_variables_escape_control_characters(site):
    c = claims(sub="u1\r\nX-Injected: sub",
               iss="https://idp\nX-Injected: iss",
               role="officer\r\nX-Role: admin",
               roles=["a\r\nX-Injected: roles", "b\tc", "d\x7f", "e\x01"],
               org={"name": "x\r\ny"})
    r = site(c, headers={"typ": "JWT\r\nX-Injected: typ"})
    assert r.status_code == 200
    got = {}
    for k, v in r.upstream:
        got.setdefault(k.lower(), []).append(v)
    assert "x-injected" not in got
    assert got["x-role"] == ["officer\\r\\nX-Role: admin"]
    assert got["x-sub"] == ["u1\\r\\nX-Injected: sub"]
    assert got["x-iss"] == ["https://idp\\nX-Injected: iss"]
    assert got["x-roles"] == \
        ["a\\r\\nX-Injected: roles,b\\tc,d\\u007f,e\\u0001"]
    assert got["x-org"] == ['{"name":"x\\r\\ny"}']
    assert got["x-typ"] == ["JWT\\r\\nX-Injected: typ"]


def test_clean_claims_are_unchanged(site):
    c = claims(sub="u1", role="officer", roles=["a", "b"],
               org={"name": "Sở \"x\" \\ y"}, iss="https://ngsp.gov.vn")
    r = site(c)
    assert r.status_code == 200
    got = {k.lower(): v.encode("latin-1").decode() for k, v in r.upstream}
    assert got["x-role"] == "officer"
    assert got["x-roles"] == "a,b"
    assert json.loads(got["x-org"]) == {"name": "Sở \"x\" \\ y"}
    assert got["x-iss"] == "https://ngsp.gov.vn"


def test_nul_in_a_claim_is_malformed(site):
    # JSON "\\u0000" is refused when the token is read
    r = site(claims(sub="a\x00b"))
    assert (r.status_code, r.headers["X-Status"]) == (401, "malformed")
    assert r.upstream is None
