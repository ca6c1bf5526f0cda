"""Quotas under load and under faults: exactness across instances and
workers, Redis stopped, restarted, flushed, slow, killing our connection,
clients leaving while they wait, hostile agency values.  None of them may
crash a worker or log [alert] (the nginx fixture checks error.log)."""

import concurrent.futures
import re
import socket
import threading
import time
import urllib.parse

import pytest
import requests

from harness import Reply
from quota_site import Site, poll, quota_state, token

DEBUG = ("--enable-debug-command", "yes")


@pytest.fixture
def ok_upstream(upstream):
    upstream.routes["*"] = Reply(b'{"ok":true}')
    return upstream


def status(s, path, agency="so-tu-phap", **kw):
    try:
        return s.get(path, agency, **kw).status_code
    except requests.RequestException:
        return None


def test_exact_across_two_instances_and_four_workers(
        nginx_factory, redis_factory, ok_upstream, tmp_path):
    """1000 requests, 50 at a time, over 2 nginx x 2 workers against a
    limit of 200: exactly 200 pass, with one Redis command each."""
    redis = redis_factory()
    sites = [Site(nginx_factory, redis, ok_upstream, tmp_path / str(i),
                  {"/": "ngsp_jwt on; ngsp_quota std;"},
                  policies=["std 200r/d"], timeout="5s")
             for i in range(2)]
    rc = redis.client()
    tok = token("so-tu-phap")
    # every worker connected (and loaded the script) before counting
    for s in sites:
        s.wait_connected()
    rc.config_resetstat()
    local = threading.local()

    def one(i):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        s = sites[i % 2]
        return local.s.get(s.url("/a"), timeout=30,
                           headers={"Authorization": "Bearer " + tok}
                           ).status_code

    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        codes = list(ex.map(one, range(1000)))
    assert codes.count(200) == 200, codes
    assert codes.count(429) == 800
    stats = rc.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1000
    assert "cmdstat_eval" not in stats
    [key] = rc.keys("ngsp:*")
    assert re.fullmatch(rb"ngsp:\{[^{}]+\}:q:std", key)
    assert quota_state(rc.get(key), ["d"])["counts"] == [200]


def debug_sleep(redis, seconds):
    """Starts DEBUG SLEEP in a thread; returns it once Redis is asleep."""
    import redis as redis_py
    th = threading.Thread(target=lambda: redis.client().execute_command(
        "DEBUG", "SLEEP", seconds))
    th.start()

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

    poll(asleep, deadline=5)
    return th


def fault_site(nginx_factory, redis, upstream, tmp_path, timeout="300ms"):
    return Site(nginx_factory, redis, upstream, tmp_path, {
        "/closed/": "ngsp_jwt on; ngsp_quota std;",
        "/open/": "ngsp_jwt on; ngsp_quota std; ngsp_quota_fail open;",
        "/plain/": "ngsp_jwt on;",
    }, policies=["std 100000r/d"], timeout=timeout)


def test_redis_stopped_then_restarted(nginx_factory, redis_factory,
                                      ok_upstream, tmp_path):
    redis = redis_factory()
    s = fault_site(nginx_factory, redis, ok_upstream, tmp_path)
    assert status(s, "/closed/") == 200
    redis.stop()
    # pending and later requests follow the fail policy, quickly
    for _ in range(6):
        t = time.time()
        r = s.get("/closed/", "so-tu-phap")
        assert time.time() - t < 1.5
        assert r.status_code == 503
        assert r.headers["X-Quota"] == "error"
        assert "RateLimit" not in r.headers
        r = s.get("/open/", "so-tu-phap")
        assert r.status_code == 200 and r.headers["X-Quota"] == "error"
        assert status(s, "/plain/") == 200
    # back on the same port: counting resumes, no reload
    redis2 = redis_factory(port=redis.port)
    poll(lambda: status(s, "/closed/") == 200)
    r = s.get("/closed/", "counted")
    assert r.headers["X-Quota"] == "allowed"
    assert redis2.client().keys("ngsp:{counted}:*")
    assert "connection lost" in s.nginx.log() or \
        "cannot connect" in s.nginx.log()


def test_outage_logged_a_line_a_second_per_worker(
        nginx_factory, redis_factory, ok_upstream, tmp_path):
    redis = redis_factory()
    s = fault_site(nginx_factory, redis, ok_upstream, tmp_path)
    assert status(s, "/closed/") == 200
    redis.stop()
    close = {"Connection": "close"}     # new connections: both workers
    for i in range(150):
        closed = i % 2 == 0
        r = s.get("/closed/" if closed else "/open/", "so-tu-phap",
                  headers=close)
        assert r.status_code == (503 if closed else 200)
    time.sleep(1.1)
    assert s.get("/closed/", "so-tu-phap", headers=close).status_code == 503
    assert s.get("/open/", "so-tu-phap", headers=close).status_code == 200
    lines = re.findall(r"^(\S+ \S+) \[error\] (\d+)#\d+: .*ngsp: quota: "
                       r"(.*?), failing (closed|open)(?:; (\d+) more failed "
                       r"so since the last such line)?", s.nginx.log(), re.M)
    # at most one line a second per worker and way of failing: a burst
    # of failing open hides no failing closed
    seen = [(t, pid, way) for t, pid, _, way, _ in lines]
    assert len(seen) == len(set(seen)), lines
    assert {way for *_, way, _ in lines} == {"closed", "open"}
    assert len(lines) < 40, lines
    # the failures not written are counted in the next line of the same
    # worker and way (a worker that fails no more keeps its last count)
    for way in ("closed", "open"):
        mine = [n for *_, w, n in lines if w == way]
        counted = sum(1 + int(n or 0) for n in mine)
        assert len(mine) < counted <= 76, (way, lines)
    # (a worker may learn of the loss by sending on the dead connection)
    assert {why for _, _, why, _, _ in lines} <= {
        "redis not connected", "redis connection failed"}, lines


def test_outage_failures_all_in_the_log_once_redis_answers(
        nginx_factory, redis_factory, ok_upstream, tmp_path):
    # one worker: every failure is written or counted, and the count kept
    # from the log is written with the first decision after the outage
    redis = redis_factory()
    s = Site(nginx_factory, redis, ok_upstream, tmp_path, {
        "/closed/": "ngsp_jwt on; ngsp_quota std;",
        "/open/": "ngsp_jwt on; ngsp_quota std; ngsp_quota_fail open;",
    }, policies=["std 100000r/d"], timeout="300ms", workers=1)
    assert status(s, "/closed/") == 200
    redis.stop()
    for i in range(60):
        closed = i % 3 != 0
        r = s.get("/closed/" if closed else "/open/", "so-tu-phap")
        assert r.status_code == (503 if closed else 200)
    failed = {"closed": 40, "open": 20}
    redis_factory(port=redis.port)
    end = time.time() + 10
    while s.get("/closed/", "so-tu-phap").status_code == 503:
        failed["closed"] += 1            # not reconnected yet
        assert time.time() < end
        time.sleep(0.05)
    log = s.nginx.log()
    for way, n in failed.items():
        written = re.findall(r"ngsp: quota: redis [a-z ]+, failing %s"
                             r"(?:; (\d+) more failed so since the last "
                             r"such line)?," % way, log)
        kept = re.findall(r"ngsp: quota: decided again; (\d+) more failed "
                          r"%s since the last such line," % way, log)
        assert written and len(kept) <= 1, log
        assert sum(1 + int(c or 0) for c in written) + \
            sum(int(c) for c in kept) == n, (way, written, kept)
    assert "decided again" in log


def test_script_flush(nginx_factory, redis_factory, ok_upstream, tmp_path):
    redis = redis_factory()
    s = fault_site(nginx_factory, redis, ok_upstream, tmp_path)
    rc = redis.client()
    s.wait_connected()
    assert status(s, "/closed/", "f") == 200
    rc.script_flush()
    rc.config_resetstat()
    for _ in range(4):
        r = s.get("/closed/", "f")
        assert r.status_code == 200 and r.headers["X-Quota"] == "allowed"
    [key] = rc.keys("ngsp:{f}:q:*")
    assert quota_state(rc.get(key), ["d"])["counts"] == [5]
    assert rc.info("commandstats")["cmdstat_eval"]["calls"] >= 1


def test_slow_redis_decides_within_timeout(nginx_factory, redis_factory,
                                           ok_upstream, tmp_path):
    redis = redis_factory(args=DEBUG)
    s = fault_site(nginx_factory, redis, ok_upstream, tmp_path,
                   timeout="200ms")
    assert status(s, "/closed/") == 200
    sleeper = debug_sleep(redis, 3)
    asleep_until = time.time() + 2.8      # with a margin before it wakes
    rounds = 0
    try:
        while rounds < 4 and time.time() < asleep_until - 1.2:
            t = time.time()
            assert status(s, "/closed/") == 503
            assert time.time() - t < 1.0
            t = time.time()
            assert status(s, "/open/") == 200
            assert time.time() - t < 1.0
            # a location without quota keeps its speed
            t = time.time()
            assert status(s, "/plain/") == 200
            assert time.time() - t < 0.5
            rounds += 1
    finally:
        sleeper.join()
    assert rounds >= 1
    poll(lambda: status(s, "/closed/") == 200)
    assert "ngsp: quota: redis timed out, failing closed" in s.nginx.log()
    # 3 s asleep is within the default stall_timeout (5s): not dropped
    assert "no reply for" not in s.nginx.log()


class BlackHole:
    """A 'Redis' that accepts connections and reads, never answers: a
    failed-over address or a firewall dropping the flow."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.conns.append(c)        # held open, read by nobody

    def close(self):
        self.stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


def test_silent_redis_connection_is_dropped_and_reopened(
        nginx_factory, ok_upstream, tmp_path):
    """Replies owed and nothing heard for stall_timeout: the worker drops
    the connection and connects again, instead of making every request
    wait out its timeout for as long as TCP retransmits."""
    hole = BlackHole()
    try:
        s = Site(nginx_factory, None, ok_upstream, tmp_path, {
            "/closed/": "ngsp_jwt on; ngsp_quota std;",
            "/open/": "ngsp_jwt on; ngsp_quota std; ngsp_quota_fail open;",
        }, policies=["std 100000r/d"], timeout="200ms", workers=1,
            redis_line="ngsp_redis 127.0.0.1:%d stall_timeout=1s;"
            % hole.port)
        end = time.time() + 2.6
        while time.time() < end:
            t = time.time()
            assert status(s, "/closed/") == 503
            assert status(s, "/open/") == 200
            assert time.time() - t < 1.0
        log = s.nginx.log()
        assert re.search(r'ngsp: redis "127\.0\.0\.1:%d": no reply for '
                         r'1000ms, reconnecting' % hole.port, log), log
        assert hole.accepted >= 2
        assert len(re.findall(r'ngsp: redis "[^"]*" connected', log)) >= 2
    finally:
        hole.close()


def test_client_kill_of_worker_connections(nginx_factory, redis_factory,
                                           ok_upstream, tmp_path):
    redis = redis_factory()
    s = fault_site(nginx_factory, redis, ok_upstream, tmp_path)
    rc = redis.client()
    poll(lambda: len(rc.client_list()) >= 3)      # two workers and us
    assert status(s, "/closed/") == 200
    for _ in range(3):
        killed = rc.execute_command("CLIENT", "KILL", "TYPE", "normal",
                                    "SKIPME", "yes")
        assert killed >= 1
        # whatever the next few get, nginx reconnects by itself
        for _ in range(4):
            assert status(s, "/closed/") in (200, 503)
        poll(lambda: status(s, "/closed/") == 200)
    assert "connection lost" in s.nginx.log()


def test_clients_that_leave_while_waiting(nginx_factory, redis_factory,
                                          ok_upstream, tmp_path):
    redis = redis_factory(args=DEBUG)
    s = fault_site(nginx_factory, redis, ok_upstream, tmp_path,
                   timeout="3s")
    assert status(s, "/closed/") == 200
    sleeper = debug_sleep(redis, 1.5)
    tok = token("gone")
    socks = []
    for i in range(30):
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(("GET /closed/%d HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % (i, tok)).encode())
        socks.append(c)
    time.sleep(0.3)
    for c in socks:
        c.close()
    sleeper.join()
    # the replies came to requests that are gone; nginx serves on
    poll(lambda: status(s, "/closed/") == 200)
    poll(lambda: "client prematurely closed connection" in s.nginx.log())


HOSTILE = [
    "{so-tu-phap}",
    "so-tu-phap}:limits",
    "{",
    "}",
    "a b",
    "x\r\ny",
    "ngsp:{x}:q",
    "~" + "0" * 64,
    "\u0110\u1ed3ng Nai",
    "A" * 10240,
    "A" * 10239,
    "so-tu-phap",
]


# no agency (a control character, more than 256 bytes: bad_agency), these
# reach the quota as a key= value taken from the decoded URI ((?s): the dot
# matches CR and LF too)
VIA_KEY = {"x\r\ny", "A" * 10240, "A" * 10239}


def test_hostile_agency_values(nginx_factory, redis_factory, ok_upstream,
                               tmp_path):
    redis = redis_factory()
    s = Site(nginx_factory, redis, ok_upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;",
              "~ (?s)^/k/(.*)$": "ngsp_quota std key=$1;"},
             policies=["std 1r/d"],
             http_extra="large_client_header_buffers 4 32k;")
    rc = redis.client()

    def get(a):
        if a in VIA_KEY:
            return s.get("/k/" + urllib.parse.quote(a, safe=""))
        return s.get("/a", a)

    for a in VIA_KEY:
        assert s.get("/a", a).status_code == 401, a
    for a in HOSTILE:
        assert get(a).status_code == 200, a
    for a in HOSTILE:
        assert get(a).status_code == 429, a
    keys = [k.decode("latin-1") for k in rc.keys("*")]
    assert len(keys) == len(HOSTILE)     # no two agencies share a counter
    tags = set()
    for k in keys:
        m = re.fullmatch(r"ngsp:\{([^{}]*)\}:q:std", k)
        assert m, k
        tag = m.group(1)
        assert tag == "so-tu-phap" or re.fullmatch(r"~[0-9a-f]{64}", tag)
        tags.add(tag)
    assert len(tags) == len(HOSTILE)
    # a key= value may be personal: only its length is logged
    log = s.nginx.log()
    assert "key (configured, 4 bytes)" in log
    assert "x\r\ny" not in log and "x\\x0" not in log
    # an agency with characters to escape is logged escaped
    assert 'key "a b"' in log and 'key "{so-tu-phap}"' in log


def test_configured_key_never_logged(nginx_factory, redis_factory,
                                     ok_upstream, tmp_path):
    """key= may count by a citizen's number: the refusal names its
    length, never the value, at any level."""
    redis = redis_factory()
    s = Site(nginx_factory, redis, ok_upstream, tmp_path,
             {"~ ^/congdan/([0-9]+)$": "ngsp_quota std key=$1;"},
             policies=["std 1r/d"])
    assert s.get("/congdan/001099012345").status_code == 200
    assert s.get("/congdan/001099012345").status_code == 429
    log = s.nginx.log()
    assert "ngsp: quota exceeded: key (configured, 12 bytes)" in log
    assert "001099012345" not in log.replace(
        "/congdan/001099012345", "")


def test_password_and_db_survive_reconnects(nginx_factory, redis_factory,
                                            ok_upstream, tmp_path):
    redis = redis_factory(password="s3cret pass")
    s = Site(nginx_factory, redis, ok_upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;"}, policies=["std 100r/d"],
             redis_line='ngsp_redis 127.0.0.1:%d "password=s3cret pass" '
                        'db=3;' % redis.port)
    rc = redis.client()
    assert status(s, "/") == 200
    rc.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    poll(lambda: status(s, "/") == 200)
    assert rc.keys("*") == []            # nothing in db 0
    rc.execute_command("SELECT", 3)
    [key] = rc.keys("ngsp:*")
    assert quota_state(rc.get(key), ["d"])["counts"][0] >= 2


def test_wrong_password_fails_by_policy(nginx_factory, redis_factory,
                                        ok_upstream, tmp_path):
    redis = redis_factory(password="right")
    s = Site(nginx_factory, redis, ok_upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;",
              "/open/": "ngsp_jwt on; ngsp_quota std; ngsp_quota_fail open;"},
             redis_line="ngsp_redis 127.0.0.1:%d password=wrong;"
                        % redis.port)
    assert status(s, "/") == 503
    assert status(s, "/open/") == 200
    poll(lambda: "AUTH refused" in s.nginx.log())


def test_reload_keeps_counting(nginx_factory, redis_factory, ok_upstream,
                               tmp_path):
    redis = redis_factory()
    s = Site(nginx_factory, redis, ok_upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;"}, policies=["std 3r/d"])
    assert status(s, "/") == 200
    old = s.nginx.worker_pids()
    s.nginx.write(s.http.replace("std 3r/d", "std 2r/d"))
    s.nginx.reload()
    poll(lambda: not set(old) & set(s.nginx.worker_pids()))
    r = s.get("/", "so-tu-phap")
    assert r.status_code == 200
    assert r.headers["RateLimit-Policy"] == '"std-d";q=2;w=86400'
    assert status(s, "/") == 429


def test_unix_socket(nginx_factory, redis_factory, ok_upstream, tmp_path):
    sock = tmp_path / "redis.sock"
    redis = redis_factory(args=("--unixsocket", str(sock)))
    s = Site(nginx_factory, redis, ok_upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;"}, policies=["std 1r/d"],
             redis_line="ngsp_redis unix:%s;" % sock)
    assert status(s, "/") == 200
    assert status(s, "/") == 429


def test_fail_closed_holds_after_an_internal_redirect(
        nginx_factory, redis_factory, ok_upstream, tmp_path):
    """A request that reaches the quota location by an internal redirect
    (try_files here; error_page, index and named locations alike) and whose
    Redis command then times out is refused, not let through."""
    import signal
    redis = redis_factory()
    s = Site(nginx_factory, redis, ok_upstream, tmp_path, {
        "/closed/": "ngsp_jwt on; ngsp_quota std;",
        "/via/": "try_files /nonexistent /closed/x;",
    }, policies=["std 100000r/d"], timeout="300ms")
    assert status(s, "/via/") == 200
    redis.proc.send_signal(signal.SIGSTOP)      # connected, but silent
    try:
        for path in ("/via/", "/closed/"):
            r = s.get(path, "so-tu-phap")
            assert (r.status_code, r.headers["X-Quota"]) == (503, "error")
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    poll(lambda: status(s, "/via/") == 200)
