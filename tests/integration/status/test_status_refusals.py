"""The status zone counts why masked responses were refused
($ngsp_mask_reason's words) and the quota overrides nginx ignored, alike
in JSON and Prometheus, across 2 workers."""

import collections
import time

from harness import Reply
from status_site import Site, fixture, token

JSON_CT = {"Content-Type": "application/json"}
RECORD = fixture("citizen.json")


def wait_logged(site, n):
    # the log phase counts; the access log line follows it
    end = time.time() + 5
    while time.time() < end:
        if len(site.log_lines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("requests not logged")


def test_refusals_counted_by_reason(nginx_factory, tmp_path, upstream):
    upstream.routes["/api/charset"] = Reply(RECORD, headers={
        "Content-Type": "application/json; charset=iso-8859-1"})
    upstream.routes["/api/syntax"] = Reply(b'{"SoDinhDanh": 0010 x}',
                                           headers=JSON_CT)
    upstream.routes["/api/encoding"] = Reply(RECORD, headers=dict(
        JSON_CT, **{"Content-Encoding": "br"}))
    upstream.routes["/api/ok"] = Reply(RECORD, headers=JSON_CT)
    s = Site(nginx_factory, tmp_path, upstream)

    sent = collections.Counter()
    for path, n in (("charset", 3), ("syntax", 2), ("encoding", 1),
                    ("ok", 2)):
        for _ in range(n):
            r = s.get("/api/" + path, token("so-tu-phap"))
            assert r.status_code == (200 if path == "ok" else 502)
            sent[path] += 1
    wait_logged(s, sum(sent.values()))

    c = s.json()["mask"]["citizen"]
    assert c["ok"] == 2 and c["error"] == 6
    refused = {k: v for k, v in c["refused"].items() if v}
    assert refused == {"charset": 3, "syntax": 2, "encoding": 1}
    assert sum(c["refused"].values()) == c["error"]

    samples, families, text = s.prom()
    assert families["ngsp_mask_refused"].type == "counter"
    for reason, n in c["refused"].items():
        assert samples[("ngsp_mask_refused_total",
                        (("profile", "citizen"), ("reason", reason)))] == n
    # the row of a profile never used stays all zero
    assert not any(s.json()["mask"]["spare"]["refused"].values())


def test_ignored_overrides_counted(nginx_factory, tmp_path, upstream,
                                   redis_factory):
    upstream.routes["*"] = Reply(RECORD, headers=JSON_CT)
    redis = redis_factory()
    s = Site(nginx_factory, tmp_path, upstream, redis,
             policies=("std 100r/m 1000r/d",))
    assert s.json()["overrides_invalid"] == 0

    r = redis.client()
    r.hset("ngsp:{so-tu-phap}:limits", mapping={"std:m": "abc",
                                                "std:d": "-1"})
    for _ in range(3):
        assert s.get("/api/x", token("so-tu-phap")).status_code == 200
    # a valid override is no error
    r.hset("ngsp:{so-y-te}:limits", "std:m", "5")
    assert s.get("/api/x", token("so-y-te")).status_code == 200
    wait_logged(s, 4)

    # two ignored values on each of three decisions
    assert s.json()["overrides_invalid"] == 6
    samples, families, _ = s.prom()
    assert families["ngsp_overrides_invalid"].type == "counter"
    assert samples[("ngsp_overrides_invalid_total", ())] == 6
