"""The final location's ngsp_jwt_* settings decide, whatever read the
token earlier (server-level set or if, a location that rewrites, an
error_page or try_files redirect): access and every $ngsp_* value come
from an evaluation under those settings.  Tokens minted by PyJWT.
"""

import pytest
import requests

from harness import Reply, free_port
from test_jwt_core import NOW, claims, keys, rs  # noqa: F401 (fixture)


# every server gets these; the server-level reads differ
LOCATIONS = """
    ngsp_jwt_audience portal;

    location /admin/ {{
        ngsp_jwt on;
        ngsp_jwt_audience admin-api;
        ngsp_jwt_require role eq admin;
        {show}
    }}
    location /agency/ {{
        ngsp_jwt on;
        ngsp_agency_claim agency_code;
        {show}
    }}
    location @agency {{
        ngsp_jwt on;
        ngsp_agency_claim agency_code;
        {show}
    }}
    location /plain/ {{
        ngsp_jwt on;
        {show}
    }}
    location /cookie/ {{
        ngsp_jwt on;
        ngsp_jwt_token $cookie_at;
        {show}
    }}
    location /leeway/ {{
        ngsp_jwt on;
        ngsp_jwt_leeway 60s;
        {show}
    }}
    location /issuer/ {{
        ngsp_jwt on;
        ngsp_jwt_issuer https://ngsp.gov.vn;
        {show}
    }}

    # a location that reads a variable, then moves on
    location /read/ {{
        set $early $ngsp_agency$ngsp_jwt_status;
        rewrite ^/read/(.*)$ /$1 last;
    }}
    location /read-agency/ {{
        ngsp_agency_claim agency_code;
        set $early $ngsp_agency;
        rewrite ^/read-agency/(.*)$ /plain/$1 last;
    }}
    location /ep/ {{
        set $early $ngsp_agency;
        error_page 404 = /agency/from-error-page;
        return 404;
    }}
    location /ep-admin/ {{
        set $early $ngsp_jwt_status;
        error_page 404 = /admin/from-error-page;
        return 404;
    }}
    location /tf/ {{
        set $early $ngsp_agency;
        try_files /no-such-file /agency/from-try-files;
    }}
    location /tf-named/ {{
        set $early $ngsp_agency;
        try_files /no-such-file @agency;
    }}
"""

SHOW = """
        add_header X-Status $ngsp_jwt_status always;
        add_header X-Agency $ngsp_agency always;
        add_header X-Role $ngsp_jwt_claim_role always;
        proxy_set_header X-Agency $ngsp_agency;
        proxy_pass http://127.0.0.1:{up};
"""

SERVER_READS = {
    "plain": "",
    "set": "set $who $ngsp_agency$ngsp_jwt_status$ngsp_jwt_claim_role;",
    "if": 'if ($ngsp_jwt_status = "ok") { set $early yes; }',
    # a map keeps its first value (unless volatile); the reads it makes
    # must not decide for the final location either
    "map": "set $tier $agency_tier;",
}

MAP = """
    map $ngsp_agency $agency_tier {
        default      $ngsp_jwt_status;
        so-tu-phap   gold;
    }
"""



@pytest.fixture
def sites(nginx_factory, upstream, keys):
    """one nginx, a server per kind of server-level read; returns
    get(kind, path, token=None, cookie=None)."""
    upstream.routes["*"] = Reply(b"ok")
    ports = {kind: free_port() for kind in SERVER_READS}
    show = SHOW.format(up=upstream.port)
    servers = "".join(f"""
        server {{
            listen 127.0.0.1:{ports[kind]};
            {read}
            {LOCATIONS.format(show=show)}
        }}""" for kind, read in SERVER_READS.items())
    nginx_factory(f"ngsp_jwt_key_file {keys.pem(keys.rsa, 'rsa.pem')};"
                  + MAP + servers, ports=list(ports.values()))

    def get(kind, path, token=None, cookie=None):
        h = {"Authorization": "Bearer " + token} if token else {}
        c = {"at": cookie} if cookie else {}
        return requests.get(f"http://127.0.0.1:{ports[kind]}{path}",
                            headers=h, cookies=c)

    return get


def portal(keys, **kw):
    """audience portal, agency so-tu-phap / AG-01, no role"""
    return rs(keys, claims(aud="portal", agency_code="AG-01", **kw),
              kid=None)


def admin(keys, **kw):
    return rs(keys, claims(aud="admin-api", role="admin", **kw), kid=None)


KINDS = list(SERVER_READS)


@pytest.mark.parametrize("kind", KINDS)
def test_admin_location_judges_with_its_own_rules(sites, keys, kind):
    # wrong audience and no role: the server level would accept it
    r = sites(kind, "/admin/x", portal(keys))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_audience")
    assert "X-Agency" not in r.headers
    # right audience, no role
    r = sites(kind, "/admin/x",
              rs(keys, claims(aud="admin-api"), kid=None))
    assert (r.status_code, r.headers["X-Status"]) == (403, "claim_failed")
    # the server level refuses this one (audience), the location takes it
    r = sites(kind, "/admin/x", admin(keys))
    assert (r.status_code, r.headers["X-Status"]) == (200, "ok")
    assert r.headers["X-Role"] == "admin"


@pytest.mark.parametrize("kind", KINDS)
def test_agency_claim_of_the_final_location(sites, keys, upstream, kind):
    r = sites(kind, "/agency/x", portal(keys))
    assert r.status_code == 200
    assert r.headers["X-Agency"] == "AG-01"
    assert upstream.requests[-1][2]["X-Agency"] == "AG-01"
    r = sites(kind, "/plain/x", portal(keys))
    assert r.headers["X-Agency"] == "so-tu-phap"
    assert upstream.requests[-1][2]["X-Agency"] == "so-tu-phap"


@pytest.mark.parametrize("kind", KINDS)
def test_token_source_leeway_issuer_of_the_final_location(sites, keys,
                                                          kind):
    # the Authorization header holds junk; the location reads the cookie
    r = sites(kind, "/cookie/x", token="junk", cookie=portal(keys))
    assert (r.status_code, r.headers["X-Status"]) == (200, "ok")
    assert r.headers["X-Agency"] == "so-tu-phap"
    # expired 10 s ago: only the location's leeway admits it
    t = portal(keys, exp=NOW() - 10)
    r = sites(kind, "/leeway/x", t)
    assert (r.status_code, r.headers["X-Status"]) == (200, "ok")
    r = sites(kind, "/plain/x", t)
    assert (r.status_code, r.headers["X-Status"]) == (401, "expired")
    # only the location requires an issuer
    r = sites(kind, "/issuer/x", portal(keys))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_issuer")
    r = sites(kind, "/issuer/x", portal(keys, iss="https://ngsp.gov.vn"))
    assert r.status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_rewrite_last_after_a_read(sites, keys, upstream, kind):
    r = sites(kind, "/read/admin/x", portal(keys))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_audience")
    r = sites(kind, "/read/admin/x", admin(keys))
    assert (r.status_code, r.headers["X-Status"]) == (200, "ok")
    r = sites(kind, "/read/agency/x", portal(keys))
    assert r.headers["X-Agency"] == "AG-01"
    assert upstream.requests[-1][2]["X-Agency"] == "AG-01"
    # read under agency_code, answered under client_id
    r = sites(kind, "/read-agency/x", portal(keys))
    assert r.headers["X-Agency"] == "so-tu-phap"
    assert upstream.requests[-1][2]["X-Agency"] == "so-tu-phap"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/ep/x", "/tf/x", "/tf-named/x"])
def test_redirects_after_a_read(sites, keys, upstream, kind, path):
    r = sites(kind, path, portal(keys))
    assert r.status_code == 200
    assert r.headers["X-Agency"] == "AG-01"
    assert upstream.requests[-1][2]["X-Agency"] == "AG-01"


@pytest.mark.parametrize("kind", KINDS)
def test_error_page_into_a_stricter_location(sites, keys, kind):
    r = sites(kind, "/ep-admin/x", portal(keys))
    assert (r.status_code, r.headers["X-Status"]) == (401, "bad_audience")
    r = sites(kind, "/ep-admin/x", admin(keys))
    assert (r.status_code, r.headers["X-Status"]) == (200, "ok")
