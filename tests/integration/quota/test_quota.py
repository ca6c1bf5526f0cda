"""Per-agency quotas in Redis: counting, windows, headers, variables,
overrides, dry run, the order after JWT, and configuration errors."""

import datetime

import pytest

from harness import Reply
from quota_site import Site, pack_state, quota_state, redis_now, token

TZ = 7 * 3600


@pytest.fixture
def redis(redis_factory):
    return redis_factory()


@pytest.fixture
def ok_upstream(upstream):
    upstream.routes["*"] = Reply(b'{"ok":true}')
    return upstream


def site(nginx_factory, redis, upstream, tmp_path, **kw):
    locations = kw.pop("locations", None) or {"/": "ngsp_jwt on; ngsp_quota std;"}
    return Site(nginx_factory, redis, upstream, tmp_path, locations, **kw)


def test_counts_then_rejects_with_fields(nginx_factory, redis, ok_upstream,
                                         tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 3r/d"])
    for left in (2, 1, 0):
        r = s.get("/a", "so-tu-phap")
        assert r.status_code == 200
        assert r.headers["X-Quota"] == "allowed"
        assert r.headers["X-Remaining"] == str(left)
        assert r.headers["X-Policy"] == "std"
        assert r.headers["RateLimit-Policy"] == '"std-d";q=3;w=86400'
        assert r.headers["RateLimit"].startswith('"std-d";r=%d;t=' % left)
        assert "Retry-After" not in r.headers
    seen = len(ok_upstream.requests)
    r = s.get("/a", "so-tu-phap")
    assert r.status_code == 429
    assert r.headers["X-Quota"] == "rejected"
    assert r.headers["X-Remaining"] == "0"
    # the reset is the next local midnight, in seconds
    now = redis_now(redis.client())
    midnight = ((int(now) + TZ) // 86400 + 1) * 86400 - TZ
    t = int(r.headers["RateLimit"].split("t=")[1])
    assert abs(t - (midnight - now)) <= 2
    assert int(r.headers["Retry-After"]) == t
    assert len(ok_upstream.requests) == seen      # never reached upstream
    assert "ngsp: quota exceeded: key \"so-tu-phap\"" in s.nginx.log()
    # another agency has its own quota
    assert s.get("/a", "so-y-te").status_code == 200


def test_several_windows_tightest_and_all_fields(nginx_factory, redis,
                                                ok_upstream, tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 100r/m 4r/h 1000r/d 5000r/mo"])
    r = s.get("/a", "a1")
    assert r.status_code == 200
    pol = r.headers["RateLimit-Policy"].split(", ")
    assert pol[0] == '"std-m";q=100;w=60'
    assert pol[1] == '"std-h";q=4;w=3600'
    assert pol[2] == '"std-d";q=1000;w=86400'
    # the month's real length
    now = redis_now(redis.client())
    loc = datetime.datetime.utcfromtimestamp(int(now) + TZ)
    first = datetime.datetime(loc.year, loc.month, 1)
    nxt = datetime.datetime(loc.year + loc.month // 12, loc.month % 12 + 1, 1)
    assert pol[3] == '"std-mo";q=5000;w=%d' % (nxt - first).total_seconds()
    items = r.headers["RateLimit"].split(", ")
    assert [i.split(";")[0] for i in items] == [
        '"std-m"', '"std-h"', '"std-d"', '"std-mo"']
    assert items[1].startswith('"std-h";r=3;')
    assert r.headers["X-Remaining"] == "3"      # the hourly window is tightest


def test_refused_token_consumes_nothing(nginx_factory, redis, ok_upstream,
                                        tmp_path):
    """The quota runs after JWT (and every other access check)."""
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 2r/d"],
             locations={"/": "ngsp_jwt on; ngsp_quota std;",
                        "/deny/": "ngsp_jwt on; ngsp_quota std; deny all;"})
    rc = redis.client()
    forged = token("so-tu-phap")[:-4] + "AAAA"
    for _ in range(5):
        r = s.get("/a", tok=forged)
        assert r.status_code == 401
        assert r.headers["X-Quota"] == "off"
        assert s.get("/a").status_code == 401
        assert s.get("/deny/a", "so-tu-phap").status_code == 403
    assert rc.keys("ngsp:*") == []
    assert s.get("/a", "so-tu-phap").headers["X-Remaining"] == "1"


def test_rejected_requests_do_not_consume(nginx_factory, redis, ok_upstream,
                                          tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 2r/d 50r/h"])
    rc = redis.client()
    assert s.get("/a", "ag").status_code == 200
    assert s.get("/a", "ag").status_code == 200
    for _ in range(5):
        assert s.get("/a", "ag").status_code == 429
    keys = [k.decode() for k in rc.keys("ngsp:*")]
    assert keys == ["ngsp:{ag}:q:std"]
    # h and d: 2 each, the rejections counted nowhere
    assert quota_state(rc.get(keys[0]), ["h", "d"])["counts"] == [2, 2]


def test_satisfy_any_still_counts(nginx_factory, redis, ok_upstream,
                                  tmp_path):
    """Under "satisfy any" an access check that admits the request ends
    the access phase; the quota decides after it all the same."""
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 2r/d"],
             locations={"/": "satisfy any; allow 127.0.0.1; deny all; "
                             "ngsp_jwt on; ngsp_quota std;"})
    assert s.get("/a", "any").status_code == 200
    assert s.get("/a", "any").status_code == 200
    r = s.get("/a", "any")
    assert r.status_code == 429
    assert r.headers["X-Quota"] == "rejected"
    rc = redis.client()
    assert rc.keys("ngsp:{any}:*") == [b"ngsp:{any}:q:std"]
    assert quota_state(rc.get("ngsp:{any}:q:std"), ["d"])["counts"] == [2]


def test_per_second_window(nginx_factory, redis, ok_upstream, tmp_path):
    """A per-second policy decides on its GCRA bucket with Redis's clock.
    The bucket is seeded so that no decision depends on how fast this
    machine runs; GCRA's timing itself (spacing, retry, the edge burst) is
    proven with a fixed clock in test_quota_script.py."""
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 2r/s"])
    rc = redis.client()
    key = "ngsp:{sec}:q:std"
    now_us = int(redis_now(rc) * 1000000)

    # full, measured a minute ahead: nothing drains, every request waits
    full = pack_state(["s"], now_us + 60000000, [1.0], [2])
    rc.set(key, full, px=60000)
    for _ in range(3):
        r = s.get("/a", "sec")
        assert r.status_code == 429
        assert r.headers["RateLimit"].startswith('"std-s";r=0;')
        assert int(r.headers["Retry-After"]) >= 1
    assert rc.get(key) == full             # rejected: nothing written

    # full, measured 1.5 s ago: drained, a whole burst is back (and the
    # TTL, with less than a window left, is set again to two windows)
    rc.set(key, pack_state(["s"], now_us - 1500000, [1.0], [2],
                           expires=now_us + 500000), px=500)
    t0 = redis_now(rc)
    r = s.get("/a", "sec")
    t1 = redis_now(rc)
    assert r.status_code == 200
    assert r.headers["RateLimit-Policy"] == '"std-s";q=2;w=1'
    assert r.headers["RateLimit"] == '"std-s";r=1;t=1'
    st = quota_state(rc.get(key), ["s"])
    assert st["levels"] == [0.0] and st["counts"] == [1.0]
    assert st["limits"] == [2.0] and st["admitted"] == 1
    # Redis's clock, in microseconds, is the decision's
    assert t0 * 1e6 <= st["measured"] <= t1 * 1e6
    assert st["expires"] == st["measured"] + 2000000 - st["measured"] % 1000
    assert 1500 < rc.pttl(key) <= 2000


def test_daily_hourly_monthly_state_expires_at_the_longest_window(
        nginx_factory, redis, ok_upstream, tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 10r/h 10r/d 10r/mo"])
    rc = redis.client()
    t0 = redis_now(rc)
    r = s.get("/a", "so-tu-phap")
    assert r.status_code == 200
    now = redis_now(rc)
    loc = datetime.datetime.utcfromtimestamp(int(now) + TZ)
    h_end = ((int(now) + TZ) // 3600 + 1) * 3600 - TZ
    d_end = ((int(now) + TZ) // 86400 + 1) * 86400 - TZ
    nxt = datetime.datetime(loc.year + loc.month // 12, loc.month % 12 + 1, 1)
    mo_end = int((nxt - datetime.datetime(1970, 1, 1)).total_seconds()) - TZ
    assert rc.keys("ngsp:*") == [b"ngsp:{so-tu-phap}:q:std"]
    key = "ngsp:{so-tu-phap}:q:std"
    st = quota_state(rc.get(key), ["h", "d", "mo"])
    assert st["counts"] == [1, 1, 1] and st["limits"] == [10, 10, 10]
    assert st["month_end"] == mo_end * 1000000
    assert st["expires"] == mo_end * 1000000
    assert rc.execute_command("PEXPIRETIME", key) == mo_end * 1000
    assert t0 * 1e6 <= st["measured"] <= now * 1e6
    # what nginx tells, derived from the reply: each window's own end,
    # rounded up from Redis's microsecond
    m = int(st["measured"])
    assert r.headers["RateLimit"] == ", ".join(
        '"std-%s";r=9;t=%d' % (u, -((m - end * 1000000) // 1000000))
        for u, end in (("h", h_end), ("d", d_end), ("mo", mo_end)))


def test_timezone_directive(nginx_factory, redis, ok_upstream, tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 10r/d"], http_extra="ngsp_quota_timezone -03:30;")
    rc = redis.client()
    assert s.get("/a", "tz").status_code == 200
    now = redis_now(rc)
    off = -(3 * 3600 + 1800)
    key = "ngsp:{tz}:q:std"
    end = ((int(now) + off) // 86400 + 1) * 86400 - off
    assert rc.execute_command("PEXPIRETIME", key) == end * 1000
    assert quota_state(rc.get(key), ["d"])["expires"] == end * 1000000


def test_overrides_apply_on_next_request_and_are_removed(
        nginx_factory, redis, ok_upstream, tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 2r/d 100r/m"])
    rc = redis.client()
    assert s.get("/a", "so-tu-phap").status_code == 200
    assert s.get("/a", "so-tu-phap").status_code == 200
    assert s.get("/a", "so-tu-phap").status_code == 429
    rc.hset("ngsp:{so-tu-phap}:limits", "std:d", 4)
    r = s.get("/a", "so-tu-phap")
    assert r.status_code == 200
    assert '"std-d";q=4;w=86400' in r.headers["RateLimit-Policy"]
    assert s.get("/a", "so-tu-phap").status_code == 200
    assert s.get("/a", "so-tu-phap").status_code == 429
    # other agencies keep the configured value
    assert '"std-d";q=2;' in s.get("/a", "so-y-te").headers["RateLimit-Policy"]
    # zero blocks the agency; junk is ignored
    rc.hset("ngsp:{so-y-te}:limits", "std:d", 0)
    assert s.get("/a", "so-y-te").status_code == 429
    rc.hset("ngsp:{so-y-te}:limits", "std:d", "lots")
    assert s.get("/a", "so-y-te").status_code == 200
    # a minute override
    rc.hset("ngsp:{so-tu-phap}:limits", "std:m", 7)
    rc.hdel("ngsp:{so-tu-phap}:limits", "std:d")
    r = s.get("/a", "so-tu-phap")
    assert r.status_code == 429
    assert r.headers["RateLimit-Policy"] == \
        '"std-m";q=7;w=60, "std-d";q=2;w=86400'


def test_dry_run_counts_logs_never_rejects(nginx_factory, redis, ok_upstream,
                                           tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 1r/d"],
             locations={"/": "ngsp_jwt on; ngsp_quota std; "
                             "ngsp_quota_dry_run on;"})
    r = s.get("/a", "dry")
    assert (r.status_code, r.headers["X-Quota"]) == (200, "allowed")
    for _ in range(3):
        r = s.get("/a", "dry")
        assert (r.status_code, r.headers["X-Quota"]) == (200, "dry_run")
        assert "Retry-After" not in r.headers
        assert '"std-d";r=0;' in r.headers["RateLimit"]
    assert "ngsp: quota exceeded (dry run)" in s.nginx.log()


def test_status_key_and_inheritance(nginx_factory, redis, ok_upstream,
                                    tmp_path):
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 1r/d", "wide 3r/d"],
             http_extra="ngsp_quota_status 503;",
             locations={
                 "/": "ngsp_jwt on; ngsp_quota std;",
                 "/byhdr/": "ngsp_quota wide key=$http_x_client;",
                 "/free/": "ngsp_jwt on; ngsp_quota off;",
                 "/teapot/": "ngsp_jwt on; ngsp_quota std; "
                             "ngsp_quota_status 418;"})
    assert s.get("/a", "k").status_code == 200
    r = s.get("/a", "k")
    assert r.status_code == 503 and r.headers["X-Quota"] == "rejected"
    assert s.get("/teapot/", "k").status_code == 418
    r = s.get("/free/", "k")
    assert r.status_code == 200 and r.headers["X-Quota"] == "off"
    assert "RateLimit" not in r.headers
    for i in range(3):
        r = s.get("/byhdr/", headers={"X-Client": "c1"})
        assert r.status_code == 200 and r.headers["X-Policy"] == "wide"
    assert s.get("/byhdr/", headers={"X-Client": "c1"}).status_code == 503
    # no key: not counted
    r = s.get("/byhdr/")
    assert r.status_code == 200 and r.headers["X-Quota"] == "off"


def test_error_page_redirect_counts_once(nginx_factory, redis, ok_upstream,
                                         tmp_path):
    """The redirected request passes the access phase again: it must not
    be counted (or refused) twice."""
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 2r/d"],
             locations={"/": "ngsp_jwt on; ngsp_quota std; "
                             "error_page 429 = /over;",
                        "= /over": "ngsp_jwt on; ngsp_quota std;"})
    rc = redis.client()
    assert s.get("/a", "ep").status_code == 200
    assert s.get("/a", "ep").status_code == 200
    r = s.get("/a", "ep")
    assert r.status_code == 200 and r.headers["X-Quota"] == "rejected"
    assert ok_upstream.requests[-1][1] == "/over"
    assert "Retry-After" not in r.headers
    [key] = rc.keys("ngsp:{ep}:q:*")
    assert key == b"ngsp:{ep}:q:std"
    assert quota_state(rc.get(key), ["d"])["counts"] == [2]


def test_refusal_logged_at_error_by_default(nginx_factory, redis,
                                           ok_upstream, tmp_path):
    """With nginx's default error_log level a 429 leaves one line naming
    the agency and the policy, never the token; ngsp_quota_log_level
    lowers it; JWT rejections stay at info."""
    s = site(nginx_factory, redis, ok_upstream, tmp_path,
             policies=["std 1r/d"],
             http_extra="error_log logs/error.log error;",
             locations={"/": "ngsp_jwt on; ngsp_quota std;",
                        "/quiet/": "ngsp_jwt on; ngsp_quota std; "
                                   "ngsp_quota_log_level info;"})
    tok = token("so-tu-phap")
    assert s.get("/a", tok=tok).status_code == 200
    assert s.get("/a", tok=tok).status_code == 429
    lines = [l for l in s.nginx.log().splitlines() if "ngsp: " in l
             and "connected" not in l]
    assert len(lines) == 1, lines
    assert "[error]" in lines[0]
    assert 'ngsp: quota exceeded: key "so-tu-phap", policy "std"' in lines[0]
    assert tok not in s.nginx.log()
    assert tok.split(".")[2] not in s.nginx.log()

    # a JWT rejection: info, below the error_log level
    assert s.get("/a").status_code == 401
    assert s.get("/a", tok=tok[:-4] + "AAAA").status_code == 401

    # the level of a location that asks for info
    assert s.get("/quiet/a", "so-y-te").status_code == 200
    assert s.get("/quiet/a", "so-y-te").status_code == 429
    lines2 = [l for l in s.nginx.log().splitlines() if "ngsp: " in l
              and "connected" not in l]
    assert lines2 == lines


@pytest.mark.parametrize("conf, message", [
    ("ngsp_quota_policy std 10r/x;", 'invalid window "10r/x"'),
    ("ngsp_quota_policy std 0r/s;", 'invalid window "0r/s"'),
    ("ngsp_quota_policy std 1r/s 2r/s;", 'window "r/s" given twice'),
    ("ngsp_quota_policy \"a b\" 1r/s;", "a policy name may only use"),
    ("ngsp_quota_policy std 1r/s; ngsp_quota_policy std 2r/d;",
     'quota policy "std" is defined twice'),
    ("ngsp_quota_policy std 1r/s; ngsp_quota_timezone Asia/Hanoi;",
     'invalid time zone "Asia/Hanoi"'),
    ("ngsp_quota_policy std 1r/s; ngsp_quota_status 200;",
     "must be between 400 and 599"),
])
def test_config_errors(nginx_factory, redis, tmp_path, upstream, conf,
                       message):
    s = Site(nginx_factory, redis, upstream, tmp_path, {"/": ""},
             policies=["base 1r/s"], http_extra=conf, start=False)
    ok, out = s.nginx.check()
    assert not ok
    assert message in out, out
    assert "nginx.conf:" in out


def test_config_zero_timeout_refused(nginx_factory, redis, tmp_path,
                                     upstream):
    s = Site(nginx_factory, redis, upstream, tmp_path,
             {"/": "ngsp_redis_timeout 0;"}, start=False)
    ok, out = s.nginx.check()
    assert not ok
    assert '"ngsp_redis_timeout" directive must be more than 0' in out, out


def test_config_unknown_policy_and_missing_redis(nginx_factory, redis,
                                                 tmp_path, upstream):
    s = Site(nginx_factory, redis, upstream, tmp_path,
             {"/": "ngsp_quota nope;"}, start=False)
    ok, out = s.nginx.check()
    assert not ok
    assert 'unknown quota policy "nope" (defined at http level: "std")' \
        in out, out
    s = Site(nginx_factory, redis, upstream, tmp_path,
             {"/": "ngsp_quota std;"}, redis_line="", start=False)
    ok, out = s.nginx.check()
    assert not ok
    assert '"ngsp_quota std" needs "ngsp_redis' in out, out
    s = Site(nginx_factory, redis, upstream, tmp_path, {"/": ""},
             redis_line="ngsp_redis 127.0.0.1:1 db=x;", start=False)
    ok, out = s.nginx.check()
    assert not ok and 'invalid "db=x"' in out, out
    for bad in ("stall_timeout=0", "stall_timeout=soon"):
        s = Site(nginx_factory, redis, upstream, tmp_path, {"/": ""},
                 redis_line="ngsp_redis 127.0.0.1:1 %s;" % bad, start=False)
        ok, out = s.nginx.check()
        assert not ok and 'invalid "%s"' % bad in out, out


def test_default_key_without_jwt_keys_counts_nothing(nginx_factory, redis,
                                                     ok_upstream, port):
    """No key set at all: $ngsp_agency stays empty, nothing is counted."""
    nginx_factory(f"""
        ngsp_redis 127.0.0.1:{redis.port};
        ngsp_quota_policy std 1r/d;
        server {{
            listen 127.0.0.1:{port};
            location / {{
                ngsp_quota std;
                add_header X-Quota $ngsp_quota_status always;
                proxy_pass http://127.0.0.1:{ok_upstream.port};
            }}
        }}""", ports=[port])
    import requests
    for _ in range(3):
        r = requests.get("http://127.0.0.1:%d/" % port,
                         headers={"Authorization": "Bearer " + token("x")})
        assert r.status_code == 200 and r.headers["X-Quota"] == "off"
    assert redis.client().keys("*") == []
