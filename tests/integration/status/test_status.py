"""ngsp_status_zone and ngsp_status: counters equal what the test sent,
across 2 workers, read back through Prometheus' own text parser and the
JSON form; overflow to _other with hostile names; reload; the handler's
methods, formats and content negotiation."""

import collections
import json
import time

import pytest
import requests

from harness import Reply
from status_site import Site, fixture, token

JSON_CT = {"Content-Type": "application/json; charset=utf-8"}
JWT_WORDS = ["ok", "missing", "malformed", "bad_signature", "expired",
             "not_yet_valid", "bad_issuer", "bad_audience", "unknown_key",
             "alg_not_allowed", "bad_claim", "unsupported_crit",
             "claim_failed", "no_agency", "bad_agency",
             "keys_unavailable"]


@pytest.fixture
def citizen_upstream(upstream):
    upstream.routes["*"] = Reply(fixture("citizen.json"), headers=JSON_CT)
    return upstream


def jwt_token(**kw):
    """A token the /jwt/ location accepts, changed by kw."""
    c = {"iss": "https://idp.example", "aud": "portal",
         "scope": "openid dancu.read"}
    c.update(kw)
    return token(**c)


# what each token gives at /jwt/: (token or None, Authorization, outcome)
def jwt_cases():
    now = int(time.time())
    return [
        (None, None, "missing"),
        (None, "Bearer not.a-token", "malformed"),
        (jwt_token(key=b"another-secret-0123456789abcdef0123456789"), None,
         "bad_signature"),
        (jwt_token(exp=now - 7200), None, "expired"),
        (jwt_token(nbf=now + 7200), None, "not_yet_valid"),
        (jwt_token(iss="https://evil.example"), None, "bad_issuer"),
        (jwt_token(aud="someone-else"), None, "bad_audience"),
        (jwt_token(alg="HS512"), None, "alg_not_allowed"),
        (jwt_token(exp="tomorrow"), None, "bad_claim"),
        (jwt_token(headers={"crit": ["x-ngsp-test"], "x-ngsp-test": 1}),
         None, "unsupported_crit"),
        (jwt_token(scope="openid"), None, "claim_failed"),
        (jwt_token(agency=None), None, "no_agency"),
        (jwt_token(agency=12345), None, "bad_agency"),
        (jwt_token(agency="so-noi-vu"), None, "ok"),
    ]


REASONS = ("profile", "interim", "type", "charset", "partial", "encoding",
           "compression", "syntax", "truncated", "depth", "value",
           "internal")


def prom_value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_counters_equal_what_was_sent(nginx_factory, tmp_path,
                                      citizen_upstream, redis_factory):
    s = Site(nginx_factory, tmp_path, citizen_upstream, redis_factory())
    body = fixture("citizen.json")

    jwt = collections.Counter()          # (row, outcome) -> requests
    quota = collections.Counter()        # (agency, outcome) -> decisions
    mask = collections.Counter()         # outcome -> responses
    bytes_in = bytes_out = 0

    # three agencies through JWT + quota (3r/m) + masking
    for agency, n in (("so-tu-phap", 5), ("so-y-te", 2),
                      ("ubnd-tinh", 4)):
        for _ in range(n):
            r = s.get("/api/congdan", token(agency))
            jwt[(agency, "ok")] += 1
            q = r.headers["X-Quota"]
            assert q in ("allowed", "rejected"), q
            assert r.status_code == (200 if q == "allowed" else 429)
            quota[(agency, q)] += 1
            m = r.headers["X-Mask"]
            mask[m] += 1
            if r.status_code == 200:
                assert m == "ok"
                bytes_in += len(body)
                bytes_out += len(r.content)
                assert b"001099012345" not in r.content
    # the policy's 3 a minute, whatever worker decided
    assert quota[("so-tu-phap", "allowed")] == 3
    assert quota[("so-tu-phap", "rejected")] == 2
    assert quota[("ubnd-tinh", "rejected")] == 1

    # every JWT outcome that can be provoked, at a JWT-only location
    for tok, auth, outcome in jwt_cases():
        r = s.get("/jwt/x", tok, auth=auth)
        if outcome == "ok":
            assert r.status_code == 200
            jwt[("so-noi-vu", "ok")] += 1
        else:
            assert r.status_code in (401, 403), (outcome, r.status_code)
            jwt[("_none", outcome)] += 1

    # a token refused before the quota at the quota location
    r = s.get("/api/congdan", auth="Bearer x.y.z")
    assert r.status_code == 401
    jwt[("_none", "malformed")] += 1
    mask[r.headers["X-Mask"]] += 1

    # a location without ngsp_jwt counts nothing, even with a token
    s.get("/plain/x", token("so-tu-phap"))

    # both workers served (the listener is reuseport)
    lines = s.log_lines()
    assert len({l[0] for l in lines}) == 2, "one worker served everything"
    fields = sum(int(l[4]) for l in lines if l[3] == "ok")
    assert fields > 0

    samples, families, text = s.prom()
    doc = s.json()

    # JWT outcomes, by agency
    rows = set(doc["agencies"])
    assert rows == {"so-tu-phap", "so-y-te", "ubnd-tinh", "so-noi-vu",
                    "_other", "_none"}
    for row in rows:
        a = doc["agencies"][row]
        assert sorted(a["jwt"]) == sorted(JWT_WORDS)
        for word in JWT_WORDS:
            assert a["jwt"][word] == jwt[(row, word)], (row, word)
            assert prom_value(samples, "ngsp_jwt_requests_total",
                              agency=row, status=word) == jwt[(row, word)]
        assert a["requests"] == sum(v for (r_, _), v in jwt.items()
                                    if r_ == row)

    # quota decisions and the windows' last state
    for agency in ("so-tu-phap", "so-y-te", "ubnd-tinh"):
        q = doc["agencies"][agency]["quota"]
        assert set(q) == {"std"}
        for outcome in ("allowed", "rejected", "error", "dry_run"):
            assert q["std"][outcome] == quota[(agency, outcome)]
            assert prom_value(samples, "ngsp_quota_decisions_total",
                              agency=agency, policy="std",
                              outcome=outcome) == quota[(agency, outcome)]
        m = q["std"]["windows"]["m"]
        assert m["limit"] == 3
        assert prom_value(samples, "ngsp_quota_limit", agency=agency,
                          policy="std", window="m") == 3
        assert m["remaining"] == 3 - min(3, quota[(agency, "allowed")] + 0)
        assert prom_value(samples, "ngsp_quota_remaining", agency=agency,
                          policy="std", window="m") == m["remaining"]
        assert abs(m["updated"] - doc["now"]) < 30
        assert 0 < m["reset"] - m["updated"] <= 60
        reset = prom_value(samples, "ngsp_quota_reset_seconds",
                           agency=agency, policy="std", window="m")
        assert abs(reset - (m["reset"] - doc["now"])) <= 2
        d = q["std"]["windows"]["d"]
        assert d["limit"] == 100
        assert d["remaining"] == 100 - quota[(agency, "allowed")]
    assert doc["agencies"]["so-noi-vu"]["quota"] == {}

    # masking
    c = doc["mask"]["citizen"]
    assert c["ok"] == mask["ok"] == 3 + 2 + 3
    assert c["pass"] == mask["pass"]
    assert c["error"] == mask["error"]
    assert c["bytes_in"] == bytes_in
    assert c["bytes_out"] == bytes_out
    assert c["fields"] == fields
    for k, v in (("ok", c["ok"]), ("pass", c["pass"]),
                 ("error", c["error"])):
        assert prom_value(samples, "ngsp_mask_responses_total",
                          profile="citizen", outcome=k) == v
    assert prom_value(samples, "ngsp_mask_fields_total",
                      profile="citizen") == fields
    assert prom_value(samples, "ngsp_mask_bytes_in_total",
                      profile="citizen") == bytes_in
    assert prom_value(samples, "ngsp_mask_bytes_out_total",
                      profile="citizen") == bytes_out
    assert doc["mask"]["spare"] == {"ok": 0, "pass": 0, "error": 0,
                                    "fields": 0, "bytes_in": 0,
                                    "bytes_out": 0,
                                    "refused": dict.fromkeys(REASONS, 0)}

    # the rest of the document
    assert doc["version"] and doc["nginx_version"]
    assert prom_value(samples, "ngsp_info", version=doc["version"],
                      nginx_version=doc["nginx_version"]) == 1
    assert doc["timezone_offset"] == 7 * 3600
    assert doc["zone"] == {"name": "ngsp", "size": 1048576,
                           "max_agencies": 1000, "agencies": 4,
                           "overflow": False}
    assert prom_value(samples, "ngsp_status_agencies") == 4
    assert prom_value(samples, "ngsp_status_overflow_total") == 0
    assert doc["policies"] == {
        "std": {"windows": [{"unit": "m", "limit": 3, "width": 60},
                            {"unit": "d", "limit": 100, "width": 86400}]},
        "wide": {"windows": [{"unit": "d", "limit": 1000, "width": 86400}]}}
    # types as the text format declares them
    assert families["ngsp_jwt_requests"].type == "counter"
    assert families["ngsp_quota_remaining"].type == "gauge"
    assert "# TYPE ngsp_jwt_requests_total counter" in text
    # no token, no subject ever shows
    assert "eyJ" not in text and "sub" not in json.dumps(doc["agencies"])


HOSTILE = ['a"quoted"', "back\\slash\\", "</script><b>", "Sở Tư pháp",
           "tab-free {x=\"1\"}", "_none", "sixth", "seventh"]


def test_overflow_and_hostile_names(nginx_factory, tmp_path,
                                    citizen_upstream):
    s = Site(nginx_factory, tmp_path, citizen_upstream,
             zone="ngsp_status_zone ngsp 1m max_agencies=4;")
    sent = collections.Counter()
    for i, name in enumerate(HOSTILE):
        for _ in range(i + 1):
            r = s.get("/api/x", token(name))
            assert r.status_code == 200
            sent[name] += 1
    # a newline is refused by the JWT glue: counted, but as no agency
    r = s.get("/api/x", token("line\nbreak"))
    assert r.status_code == 401

    samples, _, text = s.prom()
    doc = s.json()
    # the first four names have rows of their own, "_none" from a token
    # is reserved and counts as _other, and so do names past the bound
    own = HOSTILE[:4]
    past = sent["tab-free {x=\"1\"}"] + sent["sixth"] + sent["seventh"]
    other = past + sent["_none"]
    assert doc["zone"]["agencies"] == 4
    assert doc["zone"]["overflow"] is True
    assert set(doc["agencies"]) == set(own) | {"_other", "_none"}
    for n in own:
        assert doc["agencies"][n]["jwt"]["ok"] == sent[n]
        assert prom_value(samples, "ngsp_jwt_requests_total", agency=n,
                          status="ok") == sent[n]
    assert doc["agencies"]["_other"]["jwt"]["ok"] == other
    assert prom_value(samples, "ngsp_jwt_requests_total", agency="_other",
                      status="ok") == other
    assert doc["agencies"]["_none"]["jwt"]["bad_agency"] == 1
    assert prom_value(samples, "ngsp_status_overflow_total") == past
    # escaped in the text, never raw
    assert 'agency="a\\"quoted\\""' in text
    assert 'agency="back\\\\slash\\\\"' in text
    assert "line" not in text
    raw = s.status("json").content
    assert b'"a\\"quoted\\""' in raw and b'"back\\\\slash\\\\"' in raw


def test_reload_keeps_counters_unless_the_layout_changes(
        nginx_factory, tmp_path, citizen_upstream):
    s = Site(nginx_factory, tmp_path, citizen_upstream)
    for _ in range(3):
        assert s.get("/api/x", token("so-tu-phap")).status_code == 200
    gen = s.json()["generation"]
    s.reload()
    doc = s.json()
    assert doc["generation"] == gen + 1
    assert doc["agencies"]["so-tu-phap"]["jwt"]["ok"] == 3
    assert doc["mask"]["citizen"]["ok"] == 3
    assert s.get("/api/x", token("so-tu-phap")).status_code == 200
    samples, _, _ = s.prom()
    assert prom_value(samples, "ngsp_jwt_requests_total",
                      agency="so-tu-phap", status="ok") == 4
    # another policy: the counters start again
    s.reload(policies=("std 3r/m 100r/d", "wide 1000r/d", "more 5r/s"))
    doc = s.json()
    assert "so-tu-phap" not in doc["agencies"]
    assert doc["generation"] == 1
    assert set(doc["policies"]) == {"std", "wide", "more"}
    assert s.get("/api/x", token("so-tu-phap")).status_code == 200
    assert s.json()["agencies"]["so-tu-phap"]["jwt"]["ok"] == 1


def test_methods_formats_and_negotiation(nginx_factory, tmp_path,
                                         citizen_upstream):
    s = Site(nginx_factory, tmp_path, citizen_upstream)
    url = s.url("/status")

    r = requests.post(url, data=b"x", timeout=10)
    assert r.status_code == 405
    r = requests.request("DELETE", url, timeout=10)
    assert r.status_code == 405
    r = requests.get(url + "?format=xml", timeout=10)
    assert r.status_code == 400
    r = requests.get(url + "?format=", timeout=10)
    assert r.status_code == 400

    def ct(headers=None, q=""):
        r = requests.get(url + q, headers=headers or {}, timeout=10)
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "no-store"
        return r.headers["Content-Type"], r

    prom = "text/plain; version=0.0.4; charset=utf-8"
    assert ct({"Accept": "text/plain"})[0] == prom
    # what Prometheus itself sends
    assert ct({"Accept": "application/openmetrics-text;version=1.0.0,"
                         "application/openmetrics-text;version=0.0.1;"
                         "q=0.75,text/plain;version=0.0.4;q=0.5,"
                         "*/*;q=0.1"})[0] == prom
    assert ct({"Accept": "application/openmetrics-text"})[0] == prom
    html, r = ct({"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert html == "text/html; charset=utf-8"
    assert b"<html" in r.content.lower()
    assert ct({"Accept": "*/*"})[0] == html
    assert ct({"Accept": "text/plain"}, "?format=json")[0] == \
        "application/json"
    assert ct({"Accept": "text/plain"}, "?format=html")[0] == html
    assert ct(None, "?format=prometheus")[0] == prom

    # the page is constant: its length exactly; the JSON's "now" may
    # gain or lose a digit between two requests
    r = requests.head(url + "?format=html", timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == \
        len(requests.get(url + "?format=html", timeout=10).content)
    r = requests.head(url + "?format=json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    assert abs(int(r.headers["Content-Length"]) - len(requests.get(
        url + "?format=json", timeout=10).content)) <= 8
    assert r.content == b""


def check(nginx_factory, tmp_path, http):
    n = nginx_factory(http, start=False)
    return n.check()


@pytest.mark.parametrize("directive, message", [
    ("ngsp_status_zone ngsp 1m max_agencies=0;",
     'invalid max_agencies "0" of ngsp_status_zone, expected 1 to 1000000'),
    ("ngsp_status_zone ngsp 1m max_agencies=ten;",
     'invalid max_agencies "ten" of ngsp_status_zone'),
    ("ngsp_status_zone ngsp 1m agencies=10;",
     'invalid parameter "agencies=10" of ngsp_status_zone, '
     'expected max_agencies=N'),
    ("ngsp_status_zone ngsp lots;",
     'invalid ngsp_status_zone size "lots"'),
    ("ngsp_status_zone ngsp 1m; ngsp_status_zone other 1m;",
     '"ngsp_status_zone" directive is duplicate'),
    ("ngsp_status_zone ngsp;",
     'invalid number of arguments in "ngsp_status_zone"'),
])
def test_zone_config_errors(nginx_factory, tmp_path, directive, message):
    ok, out = check(nginx_factory, tmp_path, directive)
    assert not ok
    assert message in out, out
    assert "nginx.conf:" in out


def test_status_needs_a_zone_and_a_location(nginx_factory, tmp_path, port):
    ok, out = check(nginx_factory, tmp_path, f"""
        server {{ listen 127.0.0.1:{port};
                  location /s {{ ngsp_status; }} }}""")
    assert not ok
    assert "ngsp_status needs an ngsp_status_zone at http level" in out
    ok, out = check(nginx_factory, tmp_path, f"""
        ngsp_status_zone ngsp 1m;
        server {{ listen 127.0.0.1:{port}; ngsp_status; }}""")
    assert not ok
    assert '"ngsp_status" directive is not allowed here' in out
    ok, out = check(nginx_factory, tmp_path, f"""
        server {{ listen 127.0.0.1:{port};
                  ngsp_status_zone ngsp 1m; }}""")
    assert not ok
    assert '"ngsp_status_zone" directive is not allowed here' in out


def test_zone_too_small_names_the_minimum(nginx_factory, tmp_path,
                                          citizen_upstream):
    s = Site(nginx_factory, tmp_path, citizen_upstream,
             zone="ngsp_status_zone ngsp 64k max_agencies=1000;",
             start=False)
    ok, out = s.nginx.check()
    assert not ok
    assert ('ngsp_status_zone "ngsp" of 65536 bytes is too small for '
            'max_agencies=1000') in out, out
    need = int(out.split("needs at least ")[1].split(" ")[0])
    assert need > 1000 * 256
    assert "nginx.conf:" in out
    # the minimum it names is enough: nginx starts and counts
    s.nginx.write(s.conf(zone="ngsp_status_zone ngsp %d max_agencies=1000;"
                         % need))
    s.nginx.start([s.port])
    assert s.get("/api/x", token("so-tu-phap")).status_code == 200
    assert s.json()["agencies"]["so-tu-phap"]["jwt"]["ok"] == 1
    # one byte less is refused
    s.nginx.write(s.conf(zone="ngsp_status_zone ngsp %d max_agencies=1000;"
                         % (need - 1)))
    ok, out = s.nginx.check()
    assert not ok and "needs at least %d bytes" % need in out
