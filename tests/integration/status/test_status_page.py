"""The dashboard served by nginx's ngsp_status, rendered by headless
Chromium: after known traffic (JWT failures, quota refusals, masking, a
hostile agency name, an agency past max_agencies), the numbers the page
shows equal the JSON nginx serves right after, agencies worst first."""

import json
import re
import time

import pytest
import requests

from harness import Reply
from mask_site import fixture as record
from quota_site import SECRET, poll, token
from status_page import (PAGE, check_agencies, dump_dom, micros_text,
                         quantile_us, screenshot)

HOSTILE = "<img src=x onerror=alert(1)>"
JSON_CT = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture
def site(nginx_factory, redis_factory, upstream, tmp_path, port):
    redis = redis_factory()
    upstream.routes["*"] = Reply(record("citizen.json"), headers=JSON_CT)
    secret = tmp_path / "hmac.secret"
    secret.write_bytes(SECRET + b"\n")
    hash_key = tmp_path / "pseudonym.key"
    hash_key.write_bytes(b"k" * 40 + b"\n")
    up = "http://127.0.0.1:%d" % upstream.port
    nginx = nginx_factory(f"""
        ngsp_jwt_key_file {secret} alg=HS256;
        ngsp_redis 127.0.0.1:{redis.port};
        ngsp_redis_timeout 2s;
        ngsp_quota_policy std 4r/h 50r/d;
        ngsp_quota_policy wide 100r/h;
        ngsp_status_zone ngsp 1m max_agencies=3;
        ngsp_mask_hash_key {hash_key};
        ngsp_mask_profile dancu {{
            SoDinhDanh  keep_last=4;
            HoVaTen     initials;
            DanToc      remove;
            TonGiao     remove;
        }}
        server {{
            listen 127.0.0.1:{port};
            location /api/ {{
                ngsp_jwt on;
                ngsp_quota std;
                proxy_pass {up};
            }}
            location /wide/ {{
                ngsp_jwt on;
                ngsp_quota wide;
                proxy_pass {up};
            }}
            location /dancu/ {{
                ngsp_jwt on;
                ngsp_mask dancu;
                proxy_pass {up};
            }}
            location = /status {{
                ngsp_status;
            }}
        }}""", ports=[port])
    # every worker has connected, so no decision is a fail-policy one
    poll(lambda: len(re.findall(r'ngsp: redis "[^"]*" connected',
                                nginx.log())) >= 2)
    return nginx, port


def send(port, path, agency=None, tok=None):
    h = {}
    if agency is not None:
        tok = token(agency)
    if tok is not None:
        h["Authorization"] = "Bearer " + tok
    return requests.get("http://127.0.0.1:%d%s" % (port, path), headers=h,
                        timeout=10).status_code


def test_dashboard_shows_what_nginx_counted(site, tmp_path):
    nginx, port = site
    sent = {}       # agency row -> [requests, refusals]

    def count(row, status):
        s = sent.setdefault(row, [0, 0])
        s[0] += 1
        s[1] += status in (401, 429)

    # the std policy allows 4 an hour: 2 of these 6 are refused
    for _ in range(6):
        count("so-tu-phap", send(port, "/api/a", "so-tu-phap"))
    for _ in range(2):
        assert send(port, "/dancu/r", "so-tu-phap") == 200
        count("so-tu-phap", 200)
    for _ in range(2):
        count("so-y-te", send(port, "/api/b", "so-y-te"))
    for _ in range(3):
        count("so-y-te", send(port, "/wide/c", "so-y-te"))
    for _ in range(3):
        count(HOSTILE, send(port, "/api/d", HOSTILE))
    # the table holds 3 agencies: the fourth counts under _other
    for _ in range(3):
        count("_other", send(port, "/api/e", "so-ngoai-vu"))
    # no verified agency: no token, a bad signature, an expired token
    count("_none", send(port, "/api/f"))
    count("_none", send(port, "/api/f", tok=token("x")[:-4] + "AAAA"))
    count("_none", send(port, "/api/f",
                        tok=token("x", exp=int(time.time()) - 600)))
    assert sent["so-tu-phap"][1] == 2 and sent["_other"][1] == 0
    assert sent["_none"] == [3, 3]

    url = "http://127.0.0.1:%d/status" % port
    page = requests.get(url + "?format=html", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    with open(PAGE, "rb") as f:
        assert page.content == f.read()
    # a browser asking for nothing in particular gets the page too
    assert requests.get(url, headers={"Accept": "text/html"},
                        timeout=10).content == page.content

    dom = dump_dom(tmp_path, url + "?format=html&agency=so-y-te")
    data = requests.get(url + "?format=json", timeout=10).json()
    assert dom.one("body").attrs["data-state"] == "ok", \
        "the page did not render (its script blocked, or the JSON failed)"

    # the JSON holds what was sent ...
    for row, (n, refused) in sent.items():
        a = data["agencies"][row]
        assert a["requests"] == n, row
        fails = sum(v for k, v in a["jwt"].items() if k != "ok")
        rejected = sum(q["rejected"] for q in a.get("quota", {}).values())
        assert fails + rejected == refused, row
    assert data["zone"]["overflow"] is True

    # ... and the page shows the JSON, worst first
    rows = check_agencies(dom, data)
    order = [r.attrs["data-agency"] for r in rows]
    assert order[0] == "so-tu-phap"          # 4 of 4 an hour: 100%
    assert order[-1] == "_none"              # no quota at all
    assert set(order) == set(sent)

    # the hostile name is text, and nothing of it ran
    names = [n.text() for n in dom.all(data_field="name")]
    assert HOSTILE in names
    assert not dom.all("img")
    assert len(dom.all("script")) == 1

    # header, masking, Redis, JWT cache and keys as in the JSON
    assert dom.field("version") == data["version"]
    assert dom.field("nginx_version") == data["nginx_version"]
    zone = dom.one(id="zone")
    assert zone.value("zone_agencies") == data["zone"]["agencies"]
    assert zone.value("zone_max_agencies") == 3
    assert "hidden" not in dom.one(id="overflow").attrs

    assert data["mask"]["dancu"]["ok"] == 2
    for name, m in data["mask"].items():
        row = dom.one("tr", data_profile=name)
        for f in ("ok", "pass", "error", "fields", "bytes_in", "bytes_out"):
            assert row.value(f) == m[f], (name, f)

    check_providers(dom, data)

    shot = screenshot(tmp_path, url, "status-page.png")
    print(json.dumps({"screenshot": shot}))


def check_providers(dom, data):
    """Redis, the JWT cache and the keys as in the JSON (or, for a section
    the JSON has not, the page says so)."""
    redis = data.get("redis")
    if redis is None:
        assert dom.field("redis_none") == "no ngsp_redis configured"
    else:
        assert len(redis["workers"]) == 2
        for w in redis["workers"]:
            row = dom.one("tr", data_worker=str(w["worker"]))
            for f in ("pid", "connects", "reconnects", "timeouts", "errors",
                      "commands"):
                assert row.value(f) == w[f], (w["worker"], f)
            assert row.field("connected") == \
                ("yes" if w["connected"] else "no")
            for f, q in (("p50", 0.5), ("p99", 0.99)):
                assert row.field(f) == \
                    micros_text(quantile_us(w["latency"], q))
        # one decision per request past the JWT check, at least
        assert sum(w["commands"] for w in redis["workers"]) >= 17

    cache = data.get("jwt_cache")
    if cache is None:
        assert dom.field("jwt_cache_none") == "no token cache"
    else:
        jwt = dom.one(id="jwt")
        for f in ("hits", "misses", "entries"):
            assert jwt.value(f) == cache[f], f

    keys = dom.one(id="keys").all("tr")[1:]
    assert len(keys) == len(data.get("keys") or [])
    for row, k in zip(keys, data.get("keys") or []):
        assert row.field("source") == k["source"]
        assert row.field("kty") == k["kty"]


def test_json_has_the_provider_sections(site):
    nginx, port = site
    data = requests.get("http://127.0.0.1:%d/status?format=json" % port,
                        timeout=10).json()
    assert data["redis"]["workers"] and len(data["keys"]) == 1
    assert data["jwt_cache"] is not None
