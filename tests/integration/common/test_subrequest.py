"""ngsp_jwt and ngsp_quota hold for subrequests: auth_request targets and
SSI includes, which nginx runs without its access phase.  A location's
`return` does not answer before the token is checked, and a main request
is counted once, whichever of its parts reaches a counted location."""

import re
import threading
import time

import pytest
import redis as redis_py

from harness import Reply, free_port
from quota_site import SECRET, poll, quota_state, token

PAGE3 = ("p:<!--# include virtual=\"/counted/1\" -->"
         "|<!--# include virtual=\"/counted/2\" -->"
         "|<!--# include virtual=\"/counted/3\" -->:end")


class SubSite:
    def __init__(self, nginx_factory, redis, upstream, tmp_path,
                 policy="std 3r/d", timeout="500ms"):
        self.redis = redis
        self.upstream = upstream
        self.port = free_port()
        secret = tmp_path / "sub.secret"
        secret.write_bytes(SECRET + b"\n")
        up = "http://127.0.0.1:%d" % upstream.port
        self.nginx = nginx_factory(f"""
            ngsp_jwt_key_file {secret} alg=HS256;
            ngsp_redis 127.0.0.1:{redis.port};
            ngsp_redis_timeout {timeout};
            ngsp_quota_policy {policy};
            server {{
                listen 127.0.0.1:{self.port};
                default_type text/html;

                location = /check-return {{
                    internal;
                    ngsp_jwt on;
                    return 204;
                }}
                location = /check-proxy {{
                    internal;
                    ngsp_jwt on;
                    proxy_pass {up}/auth;
                    proxy_pass_request_body off;
                    proxy_set_header Content-Length "";
                }}
                location = /check-quota {{
                    internal;
                    ngsp_jwt on;
                    ngsp_quota std;
                    return 204;
                }}

                location /via-return/ {{
                    auth_request /check-return;
                    proxy_pass {up};
                }}
                location /via-proxy/ {{
                    auth_request /check-proxy;
                    proxy_pass {up};
                }}
                location /via-quota/ {{
                    auth_request /check-quota;
                    add_header X-Quota $ngsp_quota_status always;
                    proxy_pass {up};
                }}
                location /via-quota-any/ {{
                    satisfy any;
                    auth_request /check-quota;
                    proxy_pass {up};
                }}
                location /via-quota-both/ {{
                    auth_request /check-quota;
                    ngsp_quota std;
                    add_header X-Quota $ngsp_quota_status always;
                    proxy_pass {up};
                }}

                location /protected/ {{
                    ngsp_jwt on;
                    proxy_pass {up};
                }}
                location = /protected-return {{
                    ngsp_jwt on;
                    return 200 "RETURNED-SECRET";
                }}
                location /counted/ {{
                    ngsp_jwt on;
                    ngsp_quota std;
                    proxy_pass {up};
                }}

                location = /page {{
                    ssi on;
                    return 200 'page:<!--# include virtual="/protected/a" -->|<!--# include virtual="/protected-return" -->:end';
                }}
                location = /page3 {{
                    ssi on;
                    return 200 '{PAGE3}';
                }}
                location = /page3-counted {{
                    ssi on;
                    ngsp_jwt on;
                    ngsp_quota std;
                    return 200 '{PAGE3}';
                }}
            }}""", ports=[self.port])
        poll(lambda: len(re.findall(r'ngsp: redis "[^"]*" connected',
                                    self.nginx.log())) >= 2)

    def get(self, path, tok=None, agency=None):
        import requests
        h = {}
        if agency is not None:
            tok = token(agency)
        if tok is not None:
            h["Authorization"] = "Bearer " + tok
        return requests.get("http://127.0.0.1:%d%s" % (self.port, path),
                            headers=h, timeout=10)

    def counted(self):
        rc = self.redis.client()
        return sum(quota_state(rc.get(k), ["d"])["counts"][0]
                   for k in rc.keys("ngsp:*"))

    def paths(self):
        return [p for _, p, _ in self.upstream.requests]


@pytest.fixture
def redis(redis_factory):
    return redis_factory()


@pytest.fixture
def site(nginx_factory, redis, upstream, tmp_path):
    upstream.routes["/auth"] = Reply(b"", 200)
    upstream.routes["*"] = Reply(b"PROTECTED-DATA")
    return SubSite(nginx_factory, redis, upstream, tmp_path)


FORGED = token("so-tu-phap")[:-4] + "AAAA"


@pytest.mark.parametrize("via", ["via-return", "via-proxy"])
def test_auth_request_target_checks_the_token(site, via):
    """The auth subrequest's location says `ngsp_jwt on` and then either
    `return 204` or proxies to an auth server that always agrees."""
    r = site.get("/%s/x" % via, agency="so-tu-phap")
    assert (r.status_code, r.text) == (200, "PROTECTED-DATA")

    before = list(site.paths())
    r = site.get("/%s/x" % via)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="ngsp"'

    r = site.get("/%s/x" % via, tok=FORGED)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == \
        'Bearer realm="ngsp", error="invalid_token"'

    # refused before the auth server or the protected upstream is asked
    assert site.paths() == before
    assert "ngsp: jwt rejected: missing" in site.nginx.log()
    assert "ngsp: jwt rejected: bad_signature" in site.nginx.log()


def test_ssi_include_of_protected_location_checks_the_token(site):
    r = site.get("/page")
    assert r.status_code == 200
    assert r.text.startswith("page:") and r.text.endswith(":end")
    assert "PROTECTED-DATA" not in r.text
    assert "RETURNED-SECRET" not in r.text

    r = site.get("/page", tok=FORGED)
    assert "PROTECTED-DATA" not in r.text
    assert "RETURNED-SECRET" not in r.text
    assert "/a" not in site.paths()

    r = site.get("/page", agency="so-tu-phap")
    assert r.text == "page:PROTECTED-DATA|RETURNED-SECRET:end"


def test_auth_request_target_counts_the_main_request(site, upstream):
    for n in (1, 2, 3):
        r = site.get("/via-quota/x", agency="so-tu-phap")
        assert (r.status_code, r.text) == (200, "PROTECTED-DATA")
        assert r.headers["X-Quota"] == "allowed"
        assert r.headers["RateLimit"].startswith('"std-d";r=%d;' % (3 - n))
        assert site.counted() == n

    # the refusal reaches the client as the quota's own 429, not as the
    # 500 auth_request makes of a subrequest's unexpected status
    seen = len(upstream.requests)
    r = site.get("/via-quota/x", agency="so-tu-phap")
    assert r.status_code == 429
    assert r.headers["X-Quota"] == "rejected"
    assert int(r.headers["Retry-After"]) > 0
    assert len(upstream.requests) == seen
    assert site.counted() == 3
    assert "auth request unexpected status" not in site.nginx.log()

    # a token refused in the subrequest is not counted
    assert site.get("/via-quota/x", tok=FORGED).status_code == 401
    assert site.counted() == 3


def test_auth_request_refusal_under_satisfy_any(site, upstream):
    """Under "satisfy any" the first allowing check ends the access phase;
    the quota still decides after it, so the client gets the quota's own
    status, never auth_request's 500."""
    for _ in range(3):
        assert site.get("/via-quota-any/x", agency="a").status_code == 200
    seen = len(upstream.requests)
    r = site.get("/via-quota-any/x", agency="a")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert len(upstream.requests) == seen
    assert site.counted() == 3
    assert "auth request unexpected status" not in site.nginx.log()


def test_auth_request_and_main_location_count_once(site):
    assert site.get("/via-quota-both/x", tok=FORGED).status_code == 401
    for n in (1, 2, 3):
        r = site.get("/via-quota-both/x", agency="so-tu-phap")
        assert (r.status_code, r.headers["X-Quota"]) == (200, "allowed")
        assert site.counted() == n
    assert site.get("/via-quota-both/x", agency="so-tu-phap").status_code \
        == 429
    assert site.counted() == 3


def test_ssi_includes_of_a_counted_location_count_once(site):
    r = site.get("/page3", agency="so-tu-phap")
    assert r.text == "p:PROTECTED-DATA|PROTECTED-DATA|PROTECTED-DATA:end"
    assert site.counted() == 1

    # the page counts itself: its includes share that count
    r = site.get("/page3-counted", agency="so-tu-phap")
    assert r.text == "p:PROTECTED-DATA|PROTECTED-DATA|PROTECTED-DATA:end"
    assert site.counted() == 2

    # without a token the includes are refused and nothing is counted
    r = site.get("/page3")
    assert r.status_code == 200
    assert "PROTECTED-DATA" not in r.text
    assert site.counted() == 2

    assert "PROTECTED-DATA" in site.get("/page3", agency="so-tu-phap").text
    assert site.counted() == 3

    # over the quota: every include is refused, the page itself is sent
    seen = len(site.upstream.requests)
    r = site.get("/page3", agency="so-tu-phap")
    assert r.status_code == 200
    assert r.text.startswith("p:") and r.text.endswith(":end")
    assert "PROTECTED-DATA" not in r.text
    assert len(site.upstream.requests) == seen
    assert site.counted() == 3
    assert len(re.findall(r"ngsp: quota exceeded: key \"so-tu-phap\"",
                          site.nginx.log())) == 1


def test_subrequests_waiting_on_a_silent_redis_fail_closed(
        nginx_factory, redis_factory, upstream, tmp_path):
    """Three includes wait on one count; the timeout wakes all of them."""
    redis = redis_factory(args=("--enable-debug-command", "yes"))
    upstream.routes["*"] = Reply(b"PROTECTED-DATA")
    site = SubSite(nginx_factory, redis, upstream, tmp_path,
                   policy="std 100r/d", timeout="200ms")
    assert "PROTECTED-DATA" in site.get("/page3", agency="a").text

    sleeper = threading.Thread(target=lambda: redis.client().execute_command(
        "DEBUG", "SLEEP", 2))
    sleeper.start()

    def asleep():
        c = redis_py.Redis(host="127.0.0.1", port=redis.port,
                           socket_timeout=0.05)
        try:
            c.ping()
            return False
        except redis_py.RedisError:
            return True
        finally:
            c.close()

    try:
        poll(asleep, deadline=5)
        mark = len(site.nginx.log())
        t = time.time()
        r = site.get("/page3", agency="a")
        assert time.time() - t < 1.2
        assert r.status_code == 200
        assert r.text.startswith("p:") and r.text.endswith(":end")
        assert "PROTECTED-DATA" not in r.text
        # one count under way for the main request: one timeout
        assert site.nginx.log()[mark:].count(
            "ngsp: quota: redis timed out, failing closed") == 1

        t = time.time()
        r = site.get("/via-quota/x", agency="a")
        assert time.time() - t < 1.2
        assert r.status_code == 503
    finally:
        sleeper.join()
    poll(lambda: site.get("/via-quota/x", agency="a").status_code == 200)
