"""ngspctl against a real Redis and a running nginx: what it reads matches
the RateLimit fields nginx returns, what it writes nginx applies on the
next request, and every bad input is refused with a clear message."""

import hashlib
import http.server
import json
import os
import pty
import re
import shutil
import subprocess
import threading

import pytest

from harness import BUILD, Reply, free_port
from quota_site import Site, pack_state, token

NGSPCTL = os.path.join(BUILD, "ngspctl")
TZ = 7 * 3600
POLICIES = {"std": [("m", 10), ("h", 5), ("d", 20), ("mo", 100)],
            "fast": [("s", 50), ("d", 1000)]}
MAN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs",
                   "ngspctl.1")


def policy_lines():
    return ["%s %s" % (name, " ".join("%dr/%s" % (lim, u) for u, lim in ws))
            for name, ws in POLICIES.items()]


def status_json(policies=POLICIES, tz=TZ):
    """The status JSON's quota part, as the status module's schema has it."""
    width = {"s": 1, "m": 60, "h": 3600, "d": 86400, "mo": 2592000}
    return {"version": "0.1.0", "timezone_offset": tz,
            "policies": {name: {"windows": [
                {"unit": u, "limit": lim, "width": width.get(u, 1)}
                for u, lim in ws]} for name, ws in policies.items()},
            "agencies": {}, "overrides_invalid": 0}


class StatusServer:
    """A stand-in for nginx's status location: serves a JSON document (or
    any body and status) on loopback."""

    def __init__(self, body, status=200):
        self.body, self.status = body, status
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.paths.append(self.path)
                b = outer.body if isinstance(outer.body, bytes) else \
                    json.dumps(outer.body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

        self.paths = []
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/status" % self.srv.server_port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def status():
    s = StatusServer(status_json())
    yield s
    s.stop()


@pytest.fixture
def site(nginx_factory, redis_factory, upstream, tmp_path):
    upstream.routes["*"] = Reply(b'{"ok":true}')
    return Site(nginx_factory, redis_factory(), upstream, tmp_path,
                {"/": "ngsp_jwt on; ngsp_quota std;",
                 "/fast/": "ngsp_jwt on; ngsp_quota fast;",
                 "/k/": "ngsp_quota std key=$http_x_agency;"},
                policies=policy_lines())


def run(*args, redis=None, env=None, stdin=subprocess.DEVNULL, timeout=30):
    e = {k: v for k, v in os.environ.items() if k != "NGSP_REDIS_PASSWORD"}
    e.update(env or {})
    cmd = [NGSPCTL] + (["--redis", "127.0.0.1:%d" % redis.port]
                       if redis else []) + list(args)
    return subprocess.run(cmd, capture_output=True, env=e, stdin=stdin,
                          timeout=timeout)


def ok(*args, **kw):
    p = run(*args, **kw)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr == b""
    return p.stdout.decode()


def ok_json(*args, **kw):
    return json.loads(ok("--json", *args, **kw))


def refused(code, message, *args, **kw):
    p = run(*args, **kw)
    err = p.stderr.decode()
    assert p.returncode == code, (p.returncode, err)
    assert err.startswith("ngspctl: ") and message in err, err
    assert p.stdout == b""
    return err


def fields(value):
    """A RateLimit / RateLimit-Policy field: {name: {param: int}}."""
    out = {}
    for item in value.split(", "):
        name, *params = item.split(";")
        out[name.strip('"')] = {k: int(v) for k, v in
                                (p.split("=") for p in params)}
    return out


def tag(agency):
    b = agency.encode()
    if re.fullmatch(rb"[A-Za-z0-9._-]{1,64}", b):
        return agency
    return "~" + hashlib.sha256(b).hexdigest()


# --- reading ---------------------------------------------------------------

def test_usage_matches_ratelimit_fields(site, status):
    r = None
    for _ in range(3):
        r = site.get("/a", "so-tu-phap")
        assert r.status_code == 200
    pol, left = fields(r.headers["RateLimit-Policy"]), \
        fields(r.headers["RateLimit"])
    u = ok_json("--status", status.url, "usage", "so-tu-phap", "std",
                redis=site.redis)
    assert status.paths == ["/status?format=json"]
    assert (u["agency"], u["tag"], u["timezone_offset"]) == \
        ("so-tu-phap", "so-tu-phap", TZ)
    ws = u["policies"]["std"]["windows"]
    assert [w["window"] for w in ws] == list(pol)
    for w in ws:
        name = w["window"]
        assert w["limit"] == pol[name]["q"] == w["configured"]
        assert w["width"] == pol[name]["w"]
        assert w["remaining"] == left[name]["r"]
        assert abs(w["reset"] - left[name]["t"]) <= 1
        assert w["override"] is None and w["override_ignored"] is None
    # calendar counters: 3 used, expiring at the local window's end; every
    # window of the policy in one state key
    d = ws[2]
    assert d["used"] == 3 and d["key"] == "ngsp:{so-tu-phap}:q:std"
    assert {w["key"] for w in ws} == {"ngsp:{so-tu-phap}:q:std"}
    assert abs(u["now"] + d["reset"] - d["resets_at"]) <= 1
    assert (d["resets_at"] + TZ) % 86400 == 0         # local midnight
    assert d["resets_at_local"].endswith("00:00:00 +07:00")

    # the text form says the same
    text = ok("--status", status.url, "usage", "so-tu-phap",
              redis=site.redis)
    assert 'agency "so-tu-phap", keys ngsp:{so-tu-phap}:*' in text
    assert "policy std" in text and "policy fast" in text
    for w in ws:
        row = re.search(r"^  %s +(\d+) +(\S+) +(\d+) +(\d+)s  (.*)$"
                        % w["window"], text, re.M)
        assert row, text
        assert int(row.group(1)) == w["limit"]
        assert int(row.group(3)) == w["remaining"]
        assert abs(int(row.group(4)) - w["reset"]) <= 1


def test_usage_decodes_gcra_bucket(site, status):
    """A per-second bucket in requests and seconds, as the script drains
    it: 4 requests at 50r/s leave about 4 in the bucket."""
    for _ in range(4):
        r = site.get("/fast/a", "ag-fast")
    left = fields(r.headers["RateLimit"])
    u = ok_json("--status", status.url, "usage", "ag-fast", "fast",
                redis=site.redis)
    s = u["policies"]["fast"]["windows"][0]
    assert s["window"] == "fast-s" and s["width"] == 1 and s["limit"] == 50
    b = s["bucket"]
    assert 0 < b["level"] <= 4 and 0 <= u["now"] - b["measured_at"] < 5
    # drained at 50 per second since it was measured
    assert s["used"] == pytest.approx(
        max(0, b["level"] - (u["now"] - b["measured_at"]) * 50), abs=0.002)
    assert s["remaining"] >= left["fast-s"]["r"]
    assert s["reset"] in (0, 1) and s["retry_after"] == 0
    d = u["policies"]["fast"]["windows"][1]
    assert (d["used"], d["remaining"]) == (4, left["fast-d"]["r"])

    # a full bucket, measured 10 s ahead (so it does not drain meanwhile):
    # 60 requests at 50r/s are 1.2 s of traffic, one more passes in 1 s
    rc = site.redis.client()
    sec, usec = rc.time()
    ahead = (sec + 10) * 1e6 + usec
    rc.set("ngsp:{ag-fast}:q:fast",
           pack_state(["s", "d"], ahead, [59, 3], [50, 1000]), px=60000)
    u = ok_json("--status", status.url, "usage", "ag-fast", "fast",
                redis=site.redis)
    s = u["policies"]["fast"]["windows"][0]
    assert (s["used"], s["remaining"], s["reset"], s["retry_after"]) == \
        (60, 0, 2, 1)
    assert s["bucket"] == {"level": 60, "measured_at": ahead / 1e6}
    d = u["policies"]["fast"]["windows"][1]
    assert (d["used"], d["remaining"]) == (4, 996)
    r = site.get("/fast/a", "ag-fast")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert fields(r.headers["RateLimit"])["fast-s"] == {"r": 0, "t": 2}


# --- overrides ---------------------------------------------------------------

def test_set_takes_effect_on_next_request_and_unset_removes_it(site,
                                                                status):
    assert site.get("/a", "so-y-te").status_code == 200
    out = ok("--status", status.url, "set", "so-y-te", "std:d", "2",
             redis=site.redis)
    assert "std:d = 2" in out and "ngsp:{so-y-te}:limits" in out
    assert site.redis.client().hget("ngsp:{so-y-te}:limits", "std:d") == b"2"
    r = site.get("/a", "so-y-te")
    assert r.status_code == 200
    assert fields(r.headers["RateLimit-Policy"])["std-d"]["q"] == 2
    assert fields(r.headers["RateLimit"])["std-d"]["r"] == 0
    r = site.get("/a", "so-y-te")
    assert r.status_code == 429
    u = ok_json("--status", status.url, "usage", "so-y-te", "std",
                redis=site.redis)
    d = u["policies"]["std"]["windows"][2]
    assert (d["limit"], d["configured"], d["override"], d["remaining"]) == \
        (2, 20, 2, 0)
    assert d["retry_after"] == d["reset"] > 0

    # 0 refuses every request; unset gives the configuration back
    j = ok_json("set", "so-y-te", "std:m", "0", redis=site.redis)
    assert (j["field"], j["limit"], j["tag"]) == ("std:m", 0, "so-y-te")
    assert ok_json("unset", "so-y-te", "std:d", redis=site.redis)[
        "removed"] is True
    r = site.get("/a", "so-y-te")
    assert r.status_code == 429
    assert fields(r.headers["RateLimit-Policy"])["std-m"]["q"] == 0
    ok("unset", "so-y-te", "std:m", redis=site.redis)
    r = site.get("/a", "so-y-te")
    assert r.status_code == 200
    assert fields(r.headers["RateLimit-Policy"])["std-d"]["q"] == 20
    out = ok("unset", "so-y-te", "std:m", redis=site.redis)
    assert "no override std:m" in out
    assert site.redis.client().exists("ngsp:{so-y-te}:limits") == 0


def test_overrides_lists_every_agency_with_scan(site, status):
    rc = site.redis.client()
    pipe = rc.pipeline(transaction=False)
    for i in range(5000):                      # SCAN pages through these
        pipe.set("ngsp:{filler%d}:q:std:d:20300101" % i, 1)
    pipe.execute()
    ok("set", "a1", "std:d", "100", redis=site.redis)
    ok("set", "a1", "std:m", "7", redis=site.redis)
    ok("set", "a2", "fast:s", "9", redis=site.redis)
    rc.hset("ngsp:{a3}:limits", "std:h", "1.5")       # written by hand
    rc.hset("ngsp:{a3}:limits", "std:s", "4")         # std has no r/s
    rc.config_resetstat()

    got = ok_json("--status", status.url, "overrides", redis=site.redis)
    rows = [(o["tag"], o["field"], o["limit"], o["ignored_length"],
             o["in_nginx"]) for o in got["overrides"]]
    assert sorted(rows) == [("a1", "std:d", 100, None, True),
                            ("a1", "std:m", 7, None, True),
                            ("a2", "fast:s", 9, None, True),
                            ("a3", "std:h", None, 3, True),
                            ("a3", "std:s", 4, None, False)]
    stats = rc.info("commandstats")
    assert stats["cmdstat_scan"]["calls"] >= 3
    assert "cmdstat_keys" not in stats

    one = ok_json("overrides", "a1", redis=site.redis)
    assert one["agency"] == "a1"
    assert sorted((o["field"], o["limit"]) for o in one["overrides"]) == \
        [("std:d", 100), ("std:m", 7)]
    text = ok("--status", status.url, "overrides", redis=site.redis)
    assert re.search(r"^a3 +std:h +ignored by nginx: not a whole number "
                     r"from 0 to 10\^15 \(3 bytes\)$", text, re.M)
    assert re.search(r"^a3 +std:s +4  \(no such window", text, re.M)


# --- reset -------------------------------------------------------------------

def counters(rc, t):
    return sorted(k.decode() for k in rc.scan_iter("ngsp:{%s}:q:*" % t))


def test_reset_with_yes_clears_counters_and_keeps_overrides(site, status):
    rc = site.redis.client()
    for _ in range(3):
        site.get("/a", "so-gd")
        site.get("/fast/a", "so-gd")
    ok("set", "so-gd", "std:d", "4", redis=site.redis)
    assert counters(rc, "so-gd") == ["ngsp:{so-gd}:q:fast",
                                     "ngsp:{so-gd}:q:std"]
    # what an older version left per window, during a rolling upgrade
    old = ["ngsp:{so-gd}:q:fast:s", "ngsp:{so-gd}:q:std:d:20261202",
           "ngsp:{so-gd}:q:std:mo:202612"]
    for k in old:
        rc.set(k, 1)
    rc.set("ngsp:{so-gdx}:q:fast", 1)             # another agency's
    assert len(counters(rc, "so-gd")) == 5

    # without a terminal and without --yes: refused, nothing deleted
    refused(2, "--yes", "reset", "so-gd", redis=site.redis)
    assert len(counters(rc, "so-gd")) == 5

    j = ok_json("--status", status.url, "--yes", "reset", "so-gd", "fast",
                redis=site.redis)
    assert (j["deleted"], j["policy"]) == (2, "fast")
    assert counters(rc, "so-gd") == ["ngsp:{so-gd}:q:std"] + old[1:]
    out = ok("--yes", "reset", "so-gd", redis=site.redis)
    assert '"so-gd": 3 counters deleted' in out
    assert counters(rc, "so-gd") == []
    assert rc.get("ngsp:{so-gdx}:q:fast") == b"1"
    assert rc.hget("ngsp:{so-gd}:limits", "std:d") == b"4"
    u = ok_json("--status", status.url, "usage", "so-gd", "std",
                redis=site.redis)
    assert [w["remaining"] for w in u["policies"]["std"]["windows"]] == \
        [10, 5, 4, 100]
    r = site.get("/a", "so-gd")
    assert fields(r.headers["RateLimit"])["std-d"]["r"] == 3


def tty_run(args, answer, redis):
    """ngspctl with a terminal on stdin; answer typed at the prompt."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([NGSPCTL, "--redis", "127.0.0.1:%d" % redis.port]
                             + args, stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        os.write(master, answer)
        out, err = p.communicate(timeout=20)
        return p.returncode, out.decode(), err.decode()
    finally:
        os.close(master)
        os.close(slave)


def test_reset_asks_on_a_terminal(site):
    rc = site.redis.client()
    site.get("/a", "so-tc")
    rc.set("ngsp:{so-tc}:q:std:h:2026120212", 1)     # an older version's
    code, out, err = tty_run(["reset", "so-tc"], b"n\n", site.redis)
    assert (code, out) == (1, "")
    assert 'Reset 2 counters of agency "so-tc"? [y/N]' in err
    assert "ngspctl: nothing reset" in err
    assert len(counters(rc, "so-tc")) == 2
    code, out, err = tty_run(["reset", "so-tc", "std"], b"y\n", site.redis)
    assert code == 0 and "2 counters deleted" in out, err
    assert counters(rc, "so-tc") == []


# --- hostile agencies ----------------------------------------------------------

def test_hostile_agency_maps_to_the_modules_tag(site, status):
    """Spaces, Vietnamese, braces, 300 bytes: ngspctl's tag is the one the
    module uses (the same engine code), and an override reaches it."""
    agency = "Sở Tư pháp {tỉnh} " + "x" * 300
    agency = agency.encode()[:300].decode("utf-8", "ignore")
    t = tag(agency)
    assert t.startswith("~") and len(t) == 65
    ok("set", agency, "std:d", "3", redis=site.redis)
    assert site.redis.client().hget("ngsp:{%s}:limits" % t, "std:d") == b"3"
    r = site.get("/k/a", headers={"X-Agency": agency.encode()})
    assert r.status_code == 200
    assert fields(r.headers["RateLimit-Policy"])["std-d"]["q"] == 3
    u = ok_json("--status", status.url, "usage", agency, "std",
                redis=site.redis)
    assert (u["agency"], u["tag"]) == (agency, t)
    assert u["policies"]["std"]["windows"][2]["used"] == 1
    assert u["policies"]["std"]["windows"][2]["remaining"] == \
        fields(r.headers["RateLimit"])["std-d"]["r"]

    # a token's agency with blanks and unicode, through the JWT
    jwt_agency = "Sở Y tế  Hà Nội"
    ok("set", jwt_agency, "std:h", "1", redis=site.redis)
    assert site.get("/a", jwt_agency).status_code == 200
    assert site.get("/a", jwt_agency).status_code == 429
    assert site.redis.client().exists("ngsp:{%s}:limits" % tag(jwt_agency))

    # control bytes are escaped in text, never sent to the terminal raw
    out = ok("--status", status.url, "usage", "a\x1b[31mb", "std",
             redis=site.redis)
    assert "\x1b" not in out and 'agency "a\\x1b[31mb"' in out


# --- failures ----------------------------------------------------------------

def test_password_from_env_or_file_never_an_argument(redis_factory,
                                                     tmp_path):
    secret = "s3cret-Pw"
    r = redis_factory(password=secret)
    out = ok_json("set", "a", "std:d", "5", redis=r,
                  env={"NGSP_REDIS_PASSWORD": secret})
    assert out["limit"] == 5
    f = tmp_path / "pw"
    f.write_text(secret + "\n")
    assert ok_json("overrides", "a", "--password-file", str(f),
                   redis=r)["overrides"][0]["limit"] == 5

    err = refused(1, "AUTH refused", "overrides", redis=r,
                  env={"NGSP_REDIS_PASSWORD": "wrong-one"})
    assert "wrong-one" not in err
    refused(1, "NOAUTH", "overrides", redis=r)
    for arg in (["--password", secret], ["--password=" + secret]):
        err = refused(2, "--password is refused", *arg, "overrides", redis=r)
        assert secret not in err
    refused(2, "cannot read the password file", "--password-file",
            str(tmp_path / "none"), "overrides", redis=r)
    (tmp_path / "empty").write_text("\n")
    refused(2, "is empty", "--password-file", str(tmp_path / "empty"),
            "overrides", redis=r)


def test_redis_and_status_down(redis_factory, status):
    r = redis_factory()
    down = free_port()
    refused(1, "redis 127.0.0.1:%d: Connection refused" % down,
            "--redis", "127.0.0.1:%d" % down, "overrides")
    refused(1, "redis unix:/nonexistent/redis.sock:", "--redis",
            "unix:/nonexistent/redis.sock", "overrides")
    refused(1, "status http://127.0.0.1:%d/st: " % down, "--status",
            "http://127.0.0.1:%d/st" % down, "usage", "a", redis=r)
    status.status = 404
    refused(1, "answered 404", "--status", status.url, "usage", "a",
            redis=r)
    status.status, status.body = 200, b"<html>dashboard</html>"
    refused(1, "not JSON", "--status", status.url, "usage", "a", redis=r)
    status.body = {"version": "0.1.0"}
    refused(1, 'no "policies"', "--status", status.url, "usage", "a",
            redis=r)
    status.body = status_json({"p": [("x", 5)]})
    refused(1, 'policy "p": window 1', "--status", status.url, "usage", "a",
            redis=r)
    # a password in the URL is not shown
    err = refused(1, "status http://127.0.0.1:%d/st" % down, "--status",
                  "http://u:hidden@127.0.0.1:%d/st" % down, "usage", "a",
                  redis=r)
    assert "hidden" not in err
    refused(2, "usage needs --status URL", "usage", "a", redis=r)


@pytest.mark.parametrize("value", [
    "-1", "+1", " 5", "5 ", "1.5", "1e3", "0x10", "", "1000000000000001",
    "99999999999999999999", "abc", "1,000", "\uff11", "5\n"])
def test_every_invalid_value_refused(redis_factory, value):
    r = redis_factory()
    err = refused(2, "invalid limit", "set", "a", "std:d", value, redis=r)
    assert "a whole number from 0 to 1000000000000000" in err
    assert r.client().keys("*") == []


def test_limits_at_the_edges_accepted(redis_factory):
    r = redis_factory()
    for value, stored in (("0", b"0"), ("1000000000000000",
                                        b"1000000000000000"), ("007", b"7")):
        ok("set", "a", "std:d", value, redis=r)
        assert r.client().hget("ngsp:{a}:limits", "std:d") == stored


@pytest.mark.parametrize("args,message", [
    (["set", "a", "std", "5"], "give POLICY:UNIT"),
    (["set", "a", "std:x", "5"], 'invalid unit "x"'),
    (["set", "a", "std:", "5"], 'invalid unit ""'),
    (["set", "a", "std:D", "5"], 'invalid unit "D"'),
    (["set", "a", ":d", "5"], "invalid policy name"),
    (["set", "a", "st d:d", "5"], "invalid policy name"),
    (["set", "a", "p" * 65 + ":d", "5"], "invalid policy name"),
    (["set", "", "std:d", "5"], "an empty agency"),
    (["unset", "a", "std:q"], 'invalid unit "q"'),
    (["reset", "a", "b{c}", "--yes"], "invalid policy name"),
    (["set", "a", "std:d"], "usage: ngspctl set AGENCY POLICY:UNIT N"),
    (["usage"], "usage: ngspctl usage AGENCY [POLICY]"),
    (["overrides", "a", "b"], "usage: ngspctl overrides [AGENCY]"),
    (["frobnicate"], 'unknown command "frobnicate"'),
    (["--db", "x", "overrides"], 'invalid --db "x"'),
    (["--db", "70000", "overrides"], 'invalid --db "70000"'),
    (["--db", "-1", "overrides"], 'invalid --db "-1"'),
    (["--timezone", "Asia/Saigon", "overrides"], 'invalid --timezone'),
    (["--redis", "redis://h:1", "overrides"], 'invalid --redis'),
    (["--redis", "h:0", "overrides"], 'invalid --redis'),
    (["--redis", "h:99999", "overrides"], 'invalid --redis'),
    (["--redis", "::1:6379", "overrides"], 'invalid --redis'),
    (["--redis", "unix:", "overrides"], 'invalid --redis'),
    (["--redis"], "--redis needs a value"),
    (["--nope"], 'unknown option "--nope"'),
])
def test_bad_command_lines_refused(args, message):
    refused(2, message, *args)


def test_status_validates_policy_and_window(redis_factory, status):
    r = redis_factory()
    refused(2, 'no policy "nope" in nginx\'s status', "--status", status.url,
            "set", "a", "nope:d", "5", redis=r)
    refused(2, 'policy "std" has no r/s window', "--status", status.url,
            "set", "a", "std:s", "5", redis=r)
    refused(2, 'no policy "nope"', "--status", status.url, "usage", "a",
            "nope", redis=r)
    refused(2, 'no policy "nope"', "--status", status.url, "--yes", "reset",
            "a", "nope", redis=r)
    assert r.client().keys("*") == []
    # the status's offset decides; another --timezone is said to be ignored
    p = run("--status", status.url, "--timezone", "+05:00", "usage", "a",
            "std", "--json", redis=r)
    assert p.returncode == 0
    assert b"--timezone +05:00 ignored: nginx's status says +07:00" in \
        p.stderr
    assert json.loads(p.stdout)["timezone_offset"] == TZ


# --- help and man page ------------------------------------------------------

def test_help_version_and_man_page():
    h = ok("--help")
    assert ok("--version").strip() == "ngspctl 0.1.0"
    commands = re.findall(r"^  (usage|set|unset|overrides|reset) ", h, re.M)
    options = re.findall(r"^  (--[a-z-]+)", h, re.M)
    assert len(commands) == 5 and len(options) == 9
    if shutil.which("man"):
        text = subprocess.run(["man", "-l", MAN], capture_output=True,
                              env=dict(os.environ, MANPAGER="cat",
                                       PAGER="cat", MANWIDTH="100"),
                              check=True).stdout.decode()
    else:
        text = subprocess.run(["groff", "-man", "-Tutf8", MAN],
                              capture_output=True, check=True).stdout.decode()
    text = re.sub(r".\x08", "", text)
    text = text.replace("\u2010", "-").replace("\u2212", "-")
    assert "NGSPCTL(1)" in text
    for c in commands:
        assert re.search(r"^\s+%s\b" % c, text, re.M), c
    for o in options:
        assert o in text, o
    for word in ("NGSP_REDIS_PASSWORD", "EXIT STATUS", "ngsp:{"):
        assert word in text


# --- nginx's own status ------------------------------------------------------

def test_usage_with_nginx_status(nginx_factory, redis_factory, upstream,
                                 tmp_path):
    """The real ngsp_status location: ngspctl takes its policies and time
    zone from it, and what it prints matches the RateLimit fields."""
    upstream.routes["*"] = Reply(b'{"ok":true}')
    sport = free_port()
    s = Site(nginx_factory, redis_factory(), upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;"},
             policies=["std 10r/m 30r/d", "other 5r/h"],
             http_extra="""ngsp_quota_timezone +05:30;
                 ngsp_status_zone ngsp 1m;
                 server {
                     listen 127.0.0.1:%d;
                     location /ngsp_status { ngsp_status; }
                 }""" % sport)
    url = "http://127.0.0.1:%d/ngsp_status" % sport
    for _ in range(2):
        r = s.get("/a", "so-tu-phap")
    pol, left = fields(r.headers["RateLimit-Policy"]), \
        fields(r.headers["RateLimit"])
    u = ok_json("--status", url, "usage", "so-tu-phap", redis=s.redis)
    assert u["timezone_offset"] == 5 * 3600 + 1800
    assert sorted(u["policies"]) == ["other", "std"]
    ws = u["policies"]["std"]["windows"]
    assert [w["window"] for w in ws] == list(pol) == ["std-m", "std-d"]
    for w in ws:
        assert (w["limit"], w["width"]) == (pol[w["window"]]["q"],
                                            pol[w["window"]]["w"])
        assert w["remaining"] == left[w["window"]]["r"]
        assert abs(w["reset"] - left[w["window"]]["t"]) <= 1
    assert ws[1]["resets_at_local"].endswith("00:00:00 +05:30")
    refused(2, 'policy "other" has no r/d window', "--status", url, "set",
            "so-tu-phap", "other:d", "5", redis=s.redis)
