"""ngsp.quota and ngsp.mask counted in ngsp_status_zone at once, as the
C modules' decisions are: quota outcomes and windows under the request's
verified agency (or "_none"), added to the C decisions of the same row;
ngsp.mask calls under their profile with refusals by reason; read back
through the JSON form and Prometheus' own text parser, across 2 workers;
nothing counted without a zone."""

import json
import time

import jwt as pyjwt
import requests
from prometheus_client.parser import text_string_to_metric_families

from lua_site import get, lua_nginx

SECRET = b"status-lua-hmac-secret-0123456789abcdef!"
BODY = '{"SoDinhDanh":"001099012345","HoTen":"Nguyen Van A"}'
MASKED = '{"SoDinhDanh":"********2345","HoTen":"Nguyen Van A"}'

# each case: the arguments of ngsp.mask, written in Lua
MASK_CASES = {
    "ok": 'BODY, "citizen", "application/json"',
    "sniff": 'BODY, "citizen"',
    "unknown": 'BODY, "nope", "application/json"',
    "type": 'BODY, "citizen", "text/html"',
    "charset": 'BODY, "citizen", "application/json; charset=iso-8859-1"',
    "syntax": '"[1,,2]", "citizen", "application/json"',
    "depth": '"[[[[[[[[[[1]]]]]]]]]]", "citizen", "application/json"',
}

LOCATIONS = """
    location /c {
        ngsp_quota std;
        content_by_lua_block { ngx.say("c") }
    }
    location /lua {
        content_by_lua_block {
            local ngsp = require "resty.ngsp"
            local allowed, info, err = ngsp.quota("std", ngx.var.arg_key)
            ngx.say(cjson.encode({ allowed = allowed == nil and cjson.null
                                             or allowed,
                                   info = info or cjson.null,
                                   err = err or cjson.null,
                                   pid = ngx.worker.pid() }))
        }
    }
    location /anon {
        ngsp_jwt off;
        content_by_lua_block {
            local ngsp = require "resty.ngsp"
            local allowed = ngsp.quota("std", "user-1")
            ngx.say(cjson.encode({ allowed = allowed }))
        }
    }
    location /mask {
        ngsp_jwt off;
        ngsp_mask_max_depth 4;
        content_by_lua_block {
            local ngsp = require "resty.ngsp"
            local BODY = '%s'
            local cases = { %s }
            local out, err = ngsp.mask(unpack(cases[ngx.var.arg_case]))
            ngx.say(cjson.encode({ out = out or cjson.null,
                                   err = err or cjson.null,
                                   pid = ngx.worker.pid() }))
        }
    }
""" % (BODY, ", ".join('%s = { %s }' % kv for kv in MASK_CASES.items()))

STATUS = """
    location = /status {
        ngsp_jwt off;
        ngsp_status;
    }
"""


def token(agency):
    return pyjwt.encode({"client_id": agency,
                         "exp": int(time.time()) + 600}, SECRET,
                        algorithm="HS256")


def conf(tmp_path, port, redis_port, zone=True):
    (tmp_path / "hs.secret").write_bytes(SECRET)
    return f"""
        ngsp_jwt_key_file {tmp_path}/hs.secret alg=HS256;
        ngsp_redis 127.0.0.1:{redis_port};
        ngsp_quota_policy std 6r/m 100r/d;
        ngsp_mask_profile citizen {{ SoDinhDanh keep_last=4; }}
        ngsp_mask_profile spare {{ HoTen remove; }}
        {"ngsp_status_zone ngsp 1m;" if zone else ""}
        server {{
            listen 127.0.0.1:{port} reuseport;
            ngsp_jwt on;
            {LOCATIONS}
            {STATUS if zone else ""}
        }}"""


def call(port, path, tok=None):
    r = get(port, path, tok, headers={"Connection": "close"})
    assert r.status_code == 200, r.text
    return r.json()


def status(port):
    r = requests.get(f"http://127.0.0.1:{port}/status?format=json",
                     timeout=10)
    assert r.status_code == 200, r.text
    doc = json.loads(r.content)
    r = requests.get(f"http://127.0.0.1:{port}/status?format=prometheus",
                     timeout=10)
    assert r.status_code == 200, r.text
    samples = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return doc, samples


def prom(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_lua_quota_counts_with_c_in_one_row(nginx_factory, redis_factory,
                                            port, tmp_path):
    redis = redis_factory()
    lua_nginx(nginx_factory, port, conf(tmp_path, port, redis.port),
              workers=2)
    tok = token("so-tu-phap")
    pids = set()
    seen = {"allowed": 0, "rejected": 0}
    # C, Lua, C, Lua, ...: 6 allowed in all, then refusals by both
    for i in range(10):
        if i % 2 == 0:
            r = get(port, "/c", tok, headers={"Connection": "close"})
            seen["allowed" if r.status_code == 200 else "rejected"] += 1
        else:
            j = call(port, "/lua", tok)
            pids.add(j["pid"])
            seen["allowed" if j["allowed"] else "rejected"] += 1
    assert seen == {"allowed": 6, "rejected": 4}
    # a Lua decision without a verified agency: "_none"
    for _ in range(3):
        assert call(port, "/anon")["allowed"] is True
    # another agency, Lua only, spread over both workers
    for _ in range(12):
        pids.add(call(port, "/lua", token("so-y-te"))["pid"])
    assert len(pids) == 2, "one worker served everything"

    doc, samples = status(port)
    want = {"so-tu-phap": {"allowed": 6, "rejected": 4},
            "so-y-te": {"allowed": 6, "rejected": 6},
            "_none": {"allowed": 3, "rejected": 0}}
    for agency, counts in want.items():
        q = doc["agencies"][agency]["quota"]["std"]
        for outcome in ("allowed", "rejected", "error", "dry_run"):
            n = counts.get(outcome, 0)
            assert q[outcome] == n, (agency, outcome, q)
            assert prom(samples, "ngsp_quota_decisions_total", agency=agency,
                        policy="std", outcome=outcome) == n
        # the windows' last state, as the last decision saw it
        m, d = q["windows"]["m"], q["windows"]["d"]
        assert m["limit"] == 6 and d["limit"] == 100
        assert m["remaining"] == 6 - counts["allowed"]
        assert d["remaining"] == 100 - counts["allowed"]
        assert abs(m["updated"] - doc["now"]) < 30
        assert 0 < m["reset"] - m["updated"] <= 60
        assert prom(samples, "ngsp_quota_limit", agency=agency,
                    policy="std", window="m") == 6
        assert prom(samples, "ngsp_quota_remaining", agency=agency,
                    policy="std", window="d") == d["remaining"]
    # the JWT outcomes stay the C module's: one per request judged
    assert doc["agencies"]["so-y-te"]["jwt"]["ok"] == 12
    assert doc["agencies"]["so-tu-phap"]["jwt"]["ok"] == 10

    # Redis gone, fail closed (the default): each Lua decision an error
    redis.stop()
    for _ in range(3):
        j = call(port, "/lua", tok)
        assert j["allowed"] is False and j["info"] is None
        assert "redis" in j["err"]
    assert call(port, "/anon")["allowed"] is False
    doc, samples = status(port)
    q = doc["agencies"]["so-tu-phap"]["quota"]["std"]
    assert (q["allowed"], q["rejected"], q["error"]) == (6, 4, 3)
    assert prom(samples, "ngsp_quota_decisions_total", agency="so-tu-phap",
                policy="std", outcome="error") == 3
    assert doc["agencies"]["_none"]["quota"]["std"]["error"] == 1
    # the windows keep the last state the counters gave
    assert q["windows"]["m"]["remaining"] == 0


def test_lua_mask_counts_per_profile(nginx_factory, redis_factory, port,
                                     tmp_path):
    redis = redis_factory()
    lua_nginx(nginx_factory, port, conf(tmp_path, port, redis.port),
              workers=2)
    pids = set()
    runs = {"ok": 5, "sniff": 3, "unknown": 2, "type": 2, "charset": 1,
            "syntax": 2, "depth": 1}
    for case, n in runs.items():
        for _ in range(n):
            j = call(port, "/mask?case=" + case)
            pids.add(j["pid"])
            if case in ("ok", "sniff"):
                assert j["out"] == MASKED, j
            else:
                assert j["out"] is None and j["err"], j
    assert len(pids) == 2, "one worker served everything"

    doc, samples = status(port)
    c = doc["mask"]["citizen"]
    oks = runs["ok"] + runs["sniff"]
    assert c["ok"] == oks and c["pass"] == 0
    assert c["error"] == runs["type"] + runs["charset"] + runs["syntax"] \
        + runs["depth"]
    assert c["refused"]["type"] == runs["type"]
    assert c["refused"]["charset"] == runs["charset"]
    assert c["refused"]["syntax"] == runs["syntax"]
    assert c["refused"]["depth"] == runs["depth"]
    assert c["refused"]["profile"] == 0
    assert c["fields"] == oks
    # bytes in: the bodies the masking read (not those refused before)
    assert c["bytes_in"] == oks * len(BODY) + runs["syntax"] * len("[1,,2]") \
        + runs["depth"] * len("[[[[[[[[[[1]]]]]]]]]]")
    assert c["bytes_out"] == oks * len(MASKED)
    u = doc["mask"]["_unknown"]
    assert u["error"] == runs["unknown"]
    assert u["refused"]["profile"] == runs["unknown"]
    assert u["bytes_in"] == 0 and u["ok"] == 0
    assert doc["mask"]["spare"]["ok"] == 0
    assert doc["mask"]["spare"]["error"] == 0

    assert prom(samples, "ngsp_mask_responses_total", profile="citizen",
                outcome="ok") == oks
    assert prom(samples, "ngsp_mask_responses_total", profile="citizen",
                outcome="error") == c["error"]
    for reason in ("type", "charset", "syntax", "depth"):
        assert prom(samples, "ngsp_mask_refused_total", profile="citizen",
                    reason=reason) == runs[reason]
    assert prom(samples, "ngsp_mask_refused_total", profile="_unknown",
                reason="profile") == runs["unknown"]
    assert prom(samples, "ngsp_mask_fields_total", profile="citizen") == oks
    assert prom(samples, "ngsp_mask_bytes_out_total",
                profile="citizen") == c["bytes_out"]
    # masking counts no agency and no quota decision
    assert all(a["quota"] == {} for a in doc["agencies"].values())


def test_lua_mask_grown_buffer_counts_once(nginx_factory, redis_factory,
                                           port, tmp_path):
    """A body that outgrows the first buffer is masked twice by the FFI
    (AGAIN, then again with room): it counts once."""
    redis = redis_factory()
    http = conf(tmp_path, port, redis.port).replace(
        "ngsp_mask_profile spare { HoTen remove; }",
        "ngsp_mask_profile long { SoDinhDanh replace=%s; }" % ("x" * 40))
    http = http.replace("location /mask {", """location /long {
            content_by_lua_block {
                local ngsp = require "resty.ngsp"
                local body = string.rep('{"SoDinhDanh":"1"}', 200)
                local out = ngsp.mask("[" .. body:gsub("}{", "},{") .. "]",
                                      "long", "application/json")
                ngx.say(cjson.encode({ n = out and #out or cjson.null }))
            }
        }
        location /mask {""").replace("location /long {", """location /long {
            ngsp_jwt off;""")
    lua_nginx(nginx_factory, port, http, workers=2)
    n = [call(port, "/long")["n"] for _ in range(3)]
    # the output outgrows the body by more than the first buffer's slack
    assert n[0] and n[0] > 200 * 20 + 1024 * 2, n
    doc, _ = status(port)
    assert doc["mask"]["long"]["ok"] == 3
    assert doc["mask"]["long"]["fields"] == 3 * 200
    assert doc["mask"]["long"]["bytes_out"] == sum(n)


def test_nothing_counted_without_a_zone(nginx_factory, redis_factory, port,
                                        tmp_path):
    redis = redis_factory()
    lua_nginx(nginx_factory, port,
              conf(tmp_path, port, redis.port, zone=False), workers=2)
    j = call(port, "/lua", token("so-tu-phap"))
    assert j["allowed"] is True
    assert call(port, "/anon")["allowed"] is True
    assert call(port, "/mask?case=ok")["out"] == MASKED
    assert call(port, "/mask?case=unknown")["err"] == "unknown profile"
    redis.stop()
    assert call(port, "/lua", token("so-tu-phap"))["allowed"] is False


def test_hostile_status_calls_with_a_zone(nginx_factory, redis_factory, port,
                                         tmp_path):
    """ngsp_lua_status_quota called directly with a zone: refusals count
    nothing; a window of another unit than the policy's is skipped."""
    redis = redis_factory()
    hostile = """location /hostile {
            content_by_lua_block {
                local ffi = require "ffi"
                local base = require "resty.core.base"
                local C = ffi.C
                local r = base.get_request()
                local d = ffi.new("ngsp_lua_quota_decision_t")
                local out = {}
                d.nwindows = 1
                d.windows[0].unit = ffi.cast("const char *", 16)
                out.wild = C.ngsp_lua_status_quota(r, "std", 3, 0, d)
                d.windows[0].unit = "m"
                out.copied = C.ngsp_lua_status_quota(r, "std", 3, 0, d)
                d.windows[0].limit = -5
                out.negative = C.ngsp_lua_status_quota(r, "std", 3, 0, d)
                d.nwindows = 6
                out.many = C.ngsp_lua_status_quota(r, "std", 3, 1, d)
                out.outcome = C.ngsp_lua_status_quota(r, "std", 3, 3, nil)
                out.error = C.ngsp_lua_status_quota(r, "std", 3, 2, nil)
                ngx.say(cjson.encode(out))
            }
        }
        location /mask {"""
    http = conf(tmp_path, port, redis.port).replace("location /mask {",
                                                    hostile)
    lua_nginx(nginx_factory, port, http, workers=2)
    j = call(port, "/hostile", token("so-noi-vu"))
    assert j == {"wild": -1, "copied": -1, "negative": -1, "many": -1,
                 "outcome": -1, "error": 0}
    doc, _ = status(port)
    q = doc["agencies"]["so-noi-vu"]["quota"]["std"]
    assert (q["allowed"], q["rejected"], q["error"]) == (0, 0, 1)
    # no window state was written by the refused calls
    assert q.get("windows", {}) == {}
