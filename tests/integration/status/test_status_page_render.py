"""The dashboard rendered by headless Chromium from a status JSON served by
a stub (edge cases nginx is slow or unable to produce on demand: a zero
limit, a full agency table, sections missing, an expiring certificate,
a Redis latency histogram, a failing status URL)."""

import copy
import json
import time

import pytest

from harness import Reply, Upstream
from status_page import (CSP, PAGE, check_agencies, dump_dom, micros_text,
                         quantile_us, screenshot)

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE2 = ("\"><script>document.body.setAttribute('data-pwned','1')"
            "</script><b data-pwned=\"1\">")
BOUNDS = [250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
          1000000]


def win(limit, remaining, reset, updated):
    return {"limit": limit, "remaining": remaining, "reset": reset,
            "updated": updated}


def fixture(now):
    """A status JSON in the schema the status handler serves."""
    t = int(now)
    std = {"windows": [{"unit": "s", "limit": 20, "width": 1},
                       {"unit": "m", "limit": 1000, "width": 60},
                       {"unit": "d", "limit": 50000, "width": 86400}]}

    def agency(requests, jwt, quota):
        return {"requests": requests, "jwt": jwt, "quota": quota}

    def std_use(allowed, rejected, s, m, d):
        return {"allowed": allowed, "rejected": rejected, "error": 0,
                "dry_run": 0,
                "windows": {"s": win(20, s[0], s[1], t - 1),
                            "m": win(1000, m, t + 30, t - 1),
                            "d": win(50000, d, t + 40000, t - 1)}}

    return {
        "version": "0.1.0", "nginx_version": "1.22.1", "generation": 3,
        "load_time": t - 93784, "now": now, "timezone_offset": 25200,
        "zone": {"name": "ngsp", "size": 1048576, "max_agencies": 4,
                 "agencies": 4, "overflow": True},
        "policies": {"standard": std,
                     "closed": {"windows": [{"unit": "d", "limit": 0,
                                             "width": 86400}]}},
        "agencies": {
            # 90% of its minute; its second window refilled long ago
            "so-tu-phap": agency(
                120, {"ok": 118, "expired": 2},
                {"standard": std_use(100, 15, (0, t - 5), 100, 45000)}),
            # nothing allowed: a zero limit counts as full
            "so-y-te": agency(
                7, {"ok": 7},
                {"closed": {"allowed": 0, "rejected": 7, "error": 0,
                            "dry_run": 0,
                            "windows": {"d": win(0, 0, t + 3600, t)}}}),
            HOSTILE: agency(
                5, {"ok": 5},
                {"standard": std_use(5, 0, (15, t + 1), 995, 49995)}),
            HOSTILE2: agency(3, {"ok": 1, "bad_signature": 2}, {}),
            # past max_agencies
            "_other": agency(
                40, {"ok": 40},
                {"standard": std_use(38, 2, (1, t + 1), 500, 49960)}),
            # no verified agency: JWT failures only, no quota
            "_none": agency(9, {"ok": 0, "missing": 6, "expired": 3}, {}),
            # a policy whose minute and day have no decision yet
            "so-moi": {"requests": 1, "jwt": {"ok": 1},
                       "quota": {"standard": {
                           "allowed": 1, "rejected": 0, "error": 0,
                           "dry_run": 0,
                           "windows": {"s": win(20, 19, t + 1, t)}}}},
        },
        "mask": {
            "dancu": {"ok": 40, "pass": 2, "error": 1, "fields": 160,
                      "bytes_in": 52000, "bytes_out": 51000},
            "hotich": {"ok": 0, "pass": 0, "error": 0, "fields": 0,
                       "bytes_in": 0, "bytes_out": 0},
        },
        "redis": None,
        "jwt_cache": None,
        "keys": [
            {"kid": "soon", "kty": "RSA", "algs": ["RS256"], "bits": 2048,
             "source": "/etc/ngsp/soon.pem",
             "not_after": t + 10 * 86400 + 3600},
            {"kid": "later", "kty": "EC", "algs": ["ES256"], "bits": 256,
             "source": "/etc/ngsp/later.pem",
             "not_after": t + 400 * 86400 + 3600},
            {"kid": "gone", "kty": "RSA", "algs": ["RS256", "PS256"],
             "bits": 3072, "source": "/etc/ngsp/gone.pem",
             "not_after": t - 2 * 86400},
            {"kid": None, "kty": "oct", "algs": ["HS256"], "bits": 256,
             "source": "/etc/ngsp/hmac.key", "not_after": None},
        ],
        "overrides_invalid": 2,
    }


class Stub:
    """Serves the page at /status and the JSON at /status?format=json."""

    def __init__(self, data):
        self.data = data
        self.status = 200
        with open(PAGE, "rb") as f:
            self.page = f.read()
        self.up = Upstream({"/status": self.reply}).start()
        self.json_queries = []

    def reply(self, handler):
        query = handler.path.partition("?")[2]
        if query == "format=json" or query.startswith("format=json&"):
            self.json_queries.append(handler.path)
            if self.status != 200:
                return Reply(b"{}", self.status,
                             {"Content-Type": "application/json"})
            return Reply(json.dumps(self.data).encode(), 200,
                         {"Content-Type": "application/json",
                          "Cache-Control": "no-store"})
        return Reply(self.page, 200,
                     {"Content-Type": "text/html; charset=utf-8",
                      "Content-Security-Policy": CSP,
                      "X-Content-Type-Options": "nosniff",
                      "Cache-Control": "no-store"})

    def url(self, query="format=html"):
        return "http://127.0.0.1:%d/status?%s" % (self.up.port, query)

    def stop(self):
        self.up.stop()


@pytest.fixture
def stub():
    s = Stub(fixture(time.time()))
    yield s
    s.stop()


def test_agencies_worst_first_with_numbers_as_text(stub, tmp_path):
    dom = dump_dom(tmp_path, stub.url("format=html&agency=x&format=json"))
    body = dom.one("body")
    assert body.attrs["data-state"] == "ok", body.attrs
    # the JSON is read from the page's own path, its query left out
    assert stub.json_queries and \
        set(stub.json_queries) == {"/status?format=json"}

    rows = check_agencies(dom, stub.data)
    order = [r.attrs["data-agency"] for r in rows]
    # zero limit (100%), then _other (95% of s), so-tu-phap (90% of m; its
    # full second window has refilled), the hostile one (25% of s), ...
    assert order[:4] == ["so-y-te", "_other", "so-tu-phap", HOSTILE]
    assert order[4] == "so-moi"
    # ... then those without a decision, most refusals first
    assert order[5:] == ["_none", HOSTILE2]

    zero = rows[0].one(data_policy="closed", data_window="d")
    assert "zero" in zero.classes() and "lvl-full" in zero.classes()
    assert zero.field("pct") == "no request allowed"
    stale = rows[2].one(data_policy="standard", data_window="s")
    assert "stale" in stale.classes()
    assert stale.field("reset").startswith("refilled ")
    # a configured window with no decision yet says so
    fresh = rows[4]
    assert fresh.one(data_policy="standard", data_window="s").value(
        "used") == 1
    for unit in ("m", "d"):
        w = fresh.one(data_policy="standard", data_window=unit)
        assert "nodata" in w.classes()
        assert "no decision yet" in w.text()
    assert "agencies past max_agencies" in rows[1].text()
    assert "no verified agency" in rows[5].text()
    assert rows[6].value("refusals") == 2


def test_hostile_agency_names_render_as_text(stub, tmp_path):
    dom = dump_dom(tmp_path, stub.url())
    names = [n.text() for n in dom.all(data_field="name")]
    assert HOSTILE in names and HOSTILE2 in names
    # no element came out of the names, no script of theirs ran
    assert not dom.all("img") and not dom.all("b")
    assert len(dom.all("script")) == 1
    assert not [n for n in dom.walk() if "data-pwned" in n.attrs]
    row = dom.one("tr", data_agency=HOSTILE)
    assert row.field("name") == HOSTILE


def test_header_zone_keys_mask_and_missing_sections(stub, tmp_path):
    dom = dump_dom(tmp_path, stub.url())
    d = stub.data
    assert dom.field("version") == d["version"]
    assert dom.field("nginx_version") == d["nginx_version"]
    assert dom.field("generation") == str(d["generation"])
    up = dom.one(data_field="uptime")
    assert int(up.attrs["data-value"]) == int(d["now"] - d["load_time"])
    assert up.text() == "1d 2h 3m"
    assert dom.field("updated").endswith(" +07:00")

    zone = dom.one(id="zone")
    assert zone.value("zone_agencies") == d["zone"]["agencies"]
    assert zone.value("zone_max_agencies") == d["zone"]["max_agencies"]
    overflow = dom.one(id="overflow")
    assert "hidden" not in overflow.attrs
    assert "under _other" in overflow.field("overflow")

    # missing sections say so
    assert dom.field("redis_none") == "no ngsp_redis configured"
    assert dom.field("jwt_cache_none") == "no token cache"
    assert dom.one(id="jwt").value("overrides_invalid") == 2

    keys = dom.one(id="keys").all("tr", **{})[1:]
    assert [k.field("kid") for k in keys] == ["soon", "later", "gone", "-"]
    assert keys[0].value("days") == 10 and "soon" in keys[0].classes()
    assert keys[1].value("days") == 400 and not keys[1].classes()
    assert keys[2].value("days") == -2 and "expired" in keys[2].classes()
    assert keys[3].field("not_after") == "not a certificate"
    assert keys[2].field("algs") == "RS256, PS256"
    assert keys[0].field("source") == "/etc/ngsp/soon.pem"

    for name, m in d["mask"].items():
        row = dom.one("tr", data_profile=name)
        for f in ("ok", "pass", "error", "fields", "bytes_in", "bytes_out"):
            assert row.value(f) == m[f], (name, f)
    # large figures are grouped for reading
    assert dom.one("tr", data_profile="dancu").field("bytes_in") == "52 000"


def redis_section():
    return {"server": "127.0.0.1:6379", "workers": [
        {"worker": 0, "pid": 1234, "connected": True,
         "address": "127.0.0.1:6379", "connects": 2, "reconnects": 1,
         "timeouts": 3, "errors": 4, "commands": 120,
         "latency": {"bounds_us": BOUNDS,
                     "counts": [10, 80, 20, 8, 2, 0, 0, 0, 0, 0, 0, 0],
                     "sum_us": 54321}},
        {"worker": 1, "pid": 1235, "connected": False, "address": "",
         "connects": 0, "reconnects": 0, "timeouts": 0, "errors": 7,
         "commands": 0,
         "latency": {"bounds_us": BOUNDS, "counts": [0] * 12, "sum_us": 0}},
        {"worker": 2, "pid": 1236, "connected": True,
         "address": "127.0.0.1:6379", "connects": 1, "reconnects": 0,
         "timeouts": 0, "errors": 0, "commands": 10,
         "latency": {"bounds_us": BOUNDS,
                     "counts": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 5],
                     "sum_us": 9000000}},
    ]}


def test_redis_latency_and_jwt_cache(stub, tmp_path):
    d = stub.data
    d["redis"] = redis_section()
    d["jwt_cache"] = {"hits": 100, "misses": 20, "entries": 20}
    dom = dump_dom(tmp_path, stub.url())
    assert dom.field("redis_server") == "127.0.0.1:6379"
    for w in d["redis"]["workers"]:
        row = dom.one("tr", data_worker=str(w["worker"]))
        for f in ("pid", "connects", "reconnects", "timeouts", "errors",
                  "commands"):
            assert row.value(f) == w[f], (w["worker"], f)
        assert row.field("connected") == ("yes" if w["connected"] else "no")
        for f, q in (("p50", 0.5), ("p99", 0.99)):
            assert row.field(f) == micros_text(quantile_us(w["latency"], q))
    # worker 0: the 60th of 120 samples is the 50th of the 80 in
    # (250, 500] us; the 118.8th is 0.8 into the 2 in (2.5, 5] ms
    assert dom.one("tr", data_worker="0").field("p50") == "406 \u00b5s"
    assert dom.one("tr", data_worker="0").field("p99") == "3.5 ms"
    assert dom.one("tr", data_worker="1").field("p50") == "-"
    assert dom.one("tr", data_worker="2").field("p99") == "> 1.00 s"

    jwt = dom.one(id="jwt")
    assert jwt.value("hits") == 100 and jwt.value("misses") == 20
    assert jwt.value("entries") == 20
    assert jwt.field("hit_ratio") == "83.3%"


def test_redis_cluster_nodes_in_place_of_the_address(stub, tmp_path):
    """A cluster's worker shows the masters it talks to (as text)."""
    d = stub.data
    d["redis"] = redis_section()
    d["redis"]["workers"][0]["nodes"] = ["10.0.0.5:7000", "10.0.0.6:7000"]
    d["redis"]["workers"][2]["nodes"] = ["<b>x</b>"]
    dom = dump_dom(tmp_path, stub.url())
    assert dom.one("tr", data_worker="0").field("address") \
        == "10.0.0.5:7000 10.0.0.6:7000"
    assert dom.one("tr", data_worker="1").field("address") == ""
    assert dom.one("tr", data_worker="2").field("address") == "<b>x</b>"


def test_failing_status_url_is_shown(stub, tmp_path):
    stub.status = 503
    dom = dump_dom(tmp_path, stub.url())
    assert dom.one("body").attrs["data-state"] == "error"
    err = dom.one(id="error")
    assert "hidden" not in err.attrs and "HTTP 503" in err.text()


def test_screenshot(stub, tmp_path):
    stub.data["redis"] = redis_section()
    stub.data["jwt_cache"] = {"hits": 100, "misses": 20, "entries": 20}
    path = screenshot(tmp_path, stub.url(), "status-page-stub.png")
    assert path.endswith(".png")


def test_empty_status(stub, tmp_path):
    d = copy.deepcopy(stub.data)
    for k in ("zone", "redis", "jwt_cache", "keys", "mask", "policies"):
        d.pop(k)
    d["agencies"] = {}
    stub.data = d
    dom = dump_dom(tmp_path, stub.url())
    assert dom.one("body").attrs["data-state"] == "ok"
    assert not dom.one(id="agency-rows").all("tr")
    assert "hidden" not in dom.one(id="agencies-empty").attrs
    assert "no status zone" in dom.one(id="zone").text()
    assert "no keys listed" in dom.one(id="keys").text()
    assert "no masked responses" in dom.one(id="mask").text()


def test_refreshes_at_the_interval_chosen(stub, tmp_path):
    # virtual time: 5.5 s at 1 s a refresh read the JSON 6 times; at the
    # default 5 s, twice
    dump_dom(tmp_path, stub.url("format=html&refresh=1"), budget_ms=5500)
    fast = len(stub.json_queries)
    del stub.json_queries[:]
    dump_dom(tmp_path, stub.url("format=html"), budget_ms=5500)
    slow = len(stub.json_queries)
    assert fast >= 5 and slow == 2, (fast, slow)
