"""Overrides that are not a whole number from 0 to 10^15: the policy's
limit applies, each is counted, and each key and field is logged at warn
at most once a minute across the workers, by its length only."""

import re

import pytest

from harness import Reply
from quota_site import Site

POLICY = "std 50r/s 30r/m 20r/h 40r/d 100r/mo"
CONFIGURED = {"s": 50, "m": 30, "h": 20, "d": 40, "mo": 100}
# one bad value per window; " 5" would have been read by Lua's tonumber
BAD = {"s": b"-1", "m": b"1.5", "h": b"abc", "d": b"1e16", "mo": b" 5"}

LINE = re.compile(r"\[warn\] .*ngsp: quota: override ignored \(not a whole "
                  r"number from 0 to 10\^15\): key (\S+|\(configured, \d+ "
                  r"bytes\)), field \"([^\"]+)\", a value of (\d+) bytes; "
                  r"the configured limit applies \(logged once a minute per "
                  r"key and field; (\d+) ignored since start\)")


@pytest.fixture
def site(nginx_factory, redis_factory, upstream, tmp_path):
    upstream.routes["*"] = Reply(b'{"ok":true}')
    return Site(nginx_factory, redis_factory(), upstream, tmp_path,
                {"/": "ngsp_jwt on; ngsp_quota std; "
                      "add_header X-Pid $pid always;",
                 "/k/": "ngsp_quota std key=$http_x_citizen; "
                        "add_header X-Pid $pid always;"},
                policies=[POLICY])


def lines(s):
    return LINE.findall(s.nginx.log())


def policy_limits(r):
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'"std-(\w+)";q=(\d+)', r.headers["RateLimit-Policy"])}


def test_invalid_overrides_ignored_counted_logged_once(site):
    rc = site.redis.client()
    for unit, value in BAD.items():
        rc.hset("ngsp:{ag-bad}:limits", "std:" + unit, value)

    # fresh connections until both workers have decided some requests
    pids, n = set(), 0
    while len(pids) < 2 or n < 4:
        r = site.get("/a", "ag-bad", headers={"Connection": "close"})
        n += 1
        assert r.status_code == 200
        assert policy_limits(r) == CONFIGURED
        assert ('"std-h";r=%d;' % (20 - n)) in r.headers["RateLimit"]
        pids.add(r.headers["X-Pid"])
        assert n < 30, "one worker took every connection"

    got = lines(site)
    assert sorted((k, f, int(ln)) for k, f, ln, _ in got) == sorted(
        ('"ag-bad"', "std:" + u, len(v)) for u, v in BAD.items())
    # every value's content stays out of the log
    assert "1e16" not in site.nginx.log() and "abc" not in site.nginx.log()

    # each occurrence counts: another key's first line gives the total
    rc.hset("ngsp:{ag-two}:limits", "std:d", "x")
    assert site.get("/a", "ag-two").status_code == 200
    got = lines(site)
    assert len(got) == 6
    assert got[-1][:3] == ('"ag-two"', "std:d", "1")
    assert int(got[-1][3]) == 5 * n + 1


def test_override_valid_again_is_taken(site):
    rc = site.redis.client()
    rc.hset("ngsp:{ag-fix}:limits", "std:d", "1.5")
    assert policy_limits(site.get("/a", "ag-fix"))["d"] == 40
    rc.hset("ngsp:{ag-fix}:limits", "std:d", "2")
    r = site.get("/a", "ag-fix")
    assert policy_limits(r)["d"] == 2
    assert site.get("/a", "ag-fix").status_code == 429
    assert len(lines(site)) == 1


def test_configured_key_logged_by_length(site):
    """A key= value may be a citizen's number: neither it nor its tag
    reaches the log, only its length."""
    citizen = "001099012345"
    site.redis.client().hset("ngsp:{%s}:limits" % citizen, "std:m", "-5")
    r = site.get("/k/a", headers={"X-Citizen": citizen})
    assert r.status_code == 200 and policy_limits(r)["m"] == 30
    got = lines(site)
    assert [g[:3] for g in got] == [("(configured, 12 bytes)", "std:m", "2")]
    assert citizen not in site.nginx.log()
