"""ngsp_jwt_key_request: keys fetched from a JWKS stub through a subrequest,
across 2 workers.  The stub rotates its keys, fails (500), hangs, answers
junk, a private key or 10 MB; each case asserts what the gateway does.
"""

import base64
import json
import os
import re
import signal
import threading
import time

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from harness import Reply

NOW = lambda: int(time.time())  # noqa: E731


def b64(n, size=32):
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(
        b"=").decode()


def jwk(key, kid, private=False):
    """RFC 7518's form: x, y (and d) at the curve's full 32 bytes.  (This
    pyjwt's to_jwk drops leading zero bytes, about one key in 128, and
    the loader refuses such a key, as it should.)"""
    nums = key.private_numbers()
    pub = nums.public_numbers
    j = {"kty": "EC", "crv": "P-256", "x": b64(pub.x), "y": b64(pub.y),
         "kid": kid, "alg": "ES256"}
    if private:
        j["d"] = b64(nums.private_value)
    return j


class Issuer:
    """The stub's JWKS and how it answers: mode ok, 500, hang, junk,
    private, big."""

    def __init__(self):
        self.keys = {}
        self.mode = "ok"
        self.lock = threading.Lock()

    def add(self, kid):
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        return kid

    def token(self, kid, **claims):
        body = {"client_id": "agency-a", "exp": NOW() + 600}
        body.update(claims)
        return pyjwt.encode(body, self.keys[kid], algorithm="ES256",
                            headers={"kid": kid})

    def reply(self, handler):
        mode = self.mode
        if mode == "500":
            return Reply(b"oops\n", 500)
        if mode == "hang":
            time.sleep(3)
            return Reply(b"{}", 200)
        if mode == "junk":
            return Reply(b"<html>maintenance</html>", 200)
        if mode == "private":
            kid = next(iter(self.keys))
            doc = {"keys": [jwk(self.keys[kid], kid, private=True)]}
            return Reply(json.dumps(doc).encode(), 200)
        if mode == "big":
            doc = {"keys": [jwk(k, kid) for kid, k in self.keys.items()],
                   "pad": "x" * (10 * 1024 * 1024)}
            return Reply(json.dumps(doc).encode(), 200)
        doc = {"keys": [jwk(k, kid) for kid, k in self.keys.items()]}
        return Reply(json.dumps(doc).encode(), 200,
                     {"Content-Type": "application/json"})


def site(nginx_factory, upstream, port, params="valid=2s stale=60s "
         "refresh_unknown=2s", files="", timeout="5s"):
    issuer = Issuer()
    upstream.routes["/jwks"] = issuer.reply
    upstream.routes["*"] = Reply(b"app\n")
    n = nginx_factory(f"""
        ngsp_jwt_key_request /_jwks {params};
        ngsp_status_zone ngsp 1m;
        {files}
        server {{
            # reuseport: the kernel spreads new connections over both
            # workers, so a test reaches each of them
            listen 127.0.0.1:{port} reuseport;
            # the fetch is exempt from the server's ngsp_jwt
            ngsp_jwt on;
            location = /_jwks {{
                internal;
                proxy_pass http://127.0.0.1:{upstream.port}/jwks;
                proxy_read_timeout {timeout};
            }}
            location / {{
                add_header X-Status $ngsp_jwt_status always;
                add_header X-Pid $pid always;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
            location = /status {{
                ngsp_jwt off;
                ngsp_status;
            }}
        }}""", ports=[port])
    return n, issuer


def get(port, token, **kw):
    headers = {"Connection": "close"}
    headers.update(kw.pop("headers", {}))
    if token:
        headers["Authorization"] = "Bearer " + token
    return requests.get(f"http://127.0.0.1:{port}/app", headers=headers,
                        timeout=10, **kw)


def until(fn, timeout=8.0, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        # a Response is false for a 4xx: only None and False mean "not yet"
        if v is not None and v is not False:
            return v
        time.sleep(step)
    return fn()


def jwks_fetches(upstream):
    return [r for r in upstream.requests if r[1] == "/jwks"]


def status_json(port):
    return requests.get(f"http://127.0.0.1:{port}/status?format=json",
                        timeout=5).json()


def test_first_request_fetches_and_both_workers_verify(nginx_factory,
                                                       upstream, port):
    n, issuer = site(nginx_factory, upstream, port)
    issuer.add("k1")
    tok = issuer.token("k1")

    pids = set()
    for _ in range(20):
        r = get(port, tok)
        assert r.status_code == 200, (r.status_code, r.headers, n.log())
        assert r.headers["X-Status"] == "ok"
        pids.add(r.headers["X-Pid"])
    assert len(pids) == 2, "the requests reached one worker only"

    # one fetch served both workers (valid=2s had not passed)
    assert len(jwks_fetches(upstream)) == 1
    assert 'ngsp: jwks fetched from "/_jwks"' in n.log()

    s = status_json(port)
    fetched = [k for k in s["keys"] if k["source"] == "jwks:/_jwks"]
    assert [k["kid"] for k in fetched] == ["k1"]
    j = s["jwks"]
    assert j["location"] == "/_jwks"
    assert j["generation"] == 1
    assert j["last_result"] == "ok" and j["last_error"] is None
    assert 0 <= j["age"] <= 5 and j["fetched"] <= time.time()

    # a bad signature with a known kid is not an unknown key
    bad = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    r = get(port, bad)
    assert r.status_code == 401 and r.headers["X-Status"] == "bad_signature"


def test_rotation_without_reload(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port,
                     params="valid=3s stale=60s refresh_unknown=2s")
    issuer.add("old")
    old = issuer.token("old")
    assert get(port, old).status_code == 200

    # a key added upstream verifies within refresh_unknown
    issuer.add("new")
    new = issuer.token("new")
    start = time.time()
    r = until(lambda: (lambda r: r if r.status_code == 200 else None)(
        get(port, new)), timeout=6)
    assert r is not None and r.headers["X-Status"] == "ok", n.log()
    assert time.time() - start < 4.5

    # every worker has it now
    for _ in range(10):
        assert get(port, new).status_code == 200

    # a key removed upstream stops verifying after the next refresh, in
    # every worker, whatever the memo or cache held
    del issuer.keys["old"]
    fetches = len(jwks_fetches(upstream))
    ok = until(lambda: get(port, old).status_code == 401
               and len(jwks_fetches(upstream)) > fetches
               and all(get(port, old).status_code == 401 for _ in range(6)),
               timeout=10)
    assert ok, n.log()
    r = get(port, old)
    assert r.headers["X-Status"] == "unknown_key"
    assert get(port, new).status_code == 200


def test_unknown_kid_refresh_is_rate_limited(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port,
                     params="valid=1h stale=2h refresh_unknown=30s")
    issuer.add("k1")

    # no token, or one that is no JWS, needs no keys and fetches none
    r = get(port, None)
    assert r.status_code == 401 and r.headers["X-Status"] == "missing"
    r = get(port, "not-a-token")
    assert r.status_code == 401 and r.headers["X-Status"] == "malformed"
    assert jwks_fetches(upstream) == []

    assert get(port, issuer.token("k1")).status_code == 200
    assert len(jwks_fetches(upstream)) == 1

    # a flood of unknown kids costs no fetch within 30 s
    stranger = Issuer()
    stranger.add("nobody")
    for _ in range(15):
        r = get(port, stranger.token("nobody"))
        assert r.status_code == 401
        assert r.headers["X-Status"] == "unknown_key"
    assert len(jwks_fetches(upstream)) == 1


def test_fetch_carries_nothing_of_the_client(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port)
    issuer.add("k1")
    r = requests.post(f"http://127.0.0.1:{port}/app?secret=arg",
                      data=b"client-body-secret",
                      headers={"Authorization": "Bearer "
                               + issuer.token("k1"),
                               "Cookie": "session=cookie-secret",
                               "X-Forwarded-For": "10.9.9.9",
                               "X-Client": "client-header"}, timeout=10)
    assert r.status_code == 200, n.log()
    f = jwks_fetches(upstream)
    assert len(f) == 1
    method, path, headers = f[0]
    assert method == "GET" and path == "/jwks"
    lower = {k.lower(): v for k, v in headers.items()}
    for h in ("authorization", "cookie", "x-forwarded-for", "x-client",
              "content-length", "transfer-encoding"):
        assert h not in lower, headers
    assert "secret" not in json.dumps(headers)
    # the client's own request still reached the application whole
    app = [x for x in upstream.requests if x[1].startswith("/app")]
    assert app and "Authorization" in app[0][2]


def test_no_keys_at_all_is_keys_unavailable(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port)
    issuer.add("k1")
    issuer.mode = "500"
    r = get(port, issuer.token("k1"))
    assert r.status_code == 401
    assert r.headers["X-Status"] == "keys_unavailable"
    assert "invalid_token" in r.headers["WWW-Authenticate"]
    assert re.search(r'ngsp: jwks fetch from "/_jwks" failed: status: '
                     r'status 500', n.log())

    # the next fetch (after the backoff) brings keys
    issuer.mode = "ok"
    r = until(lambda: (lambda r: r if r.status_code == 200 else None)(
        get(port, issuer.token("k1"))), timeout=6)
    assert r is not None, n.log()


def test_file_keys_and_fetched_keys_together(nginx_factory, upstream, port,
                                            tmp_path):
    local = Issuer()
    local.add("local")
    pem = tmp_path / "local.pem"
    from cryptography.hazmat.primitives import serialization
    pem.write_bytes(local.keys["local"].public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    n, issuer = site(nginx_factory, upstream, port,
                     files=f"ngsp_jwt_key_file {pem} kid=local;")
    issuer.add("remote")
    issuer.mode = "500"

    # the file key verifies while the issuer is down
    assert get(port, local.token("local")).status_code == 200
    r = get(port, issuer.token("remote"))
    assert r.status_code == 401
    assert r.headers["X-Status"] == "keys_unavailable"

    issuer.mode = "ok"
    assert until(lambda: get(port, issuer.token("remote")).status_code
                 == 200, timeout=8), n.log()
    assert get(port, local.token("local")).status_code == 200


def failed_line(n, kind, mark):
    return re.search(r'ngsp: jwks fetch from "/_jwks" failed: ' + kind,
                     n.log()[mark:])


def test_bad_answers_keep_the_last_good_set(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port,
                     params="valid=1s stale=60s refresh_unknown=1s",
                     timeout="1s")
    issuer.add("k1")
    tok = issuer.token("k1")
    assert get(port, tok).status_code == 200

    cases = [("500", r"status: status 500"),
             ("hang", r"timeout: timed out"),
             ("junk", r"junk: not a JWKS"),
             ("private", r'refused: key #1, kid "k1": holds a private key'),
             ("big", r"too_large: answer larger than 1048576 bytes")]

    for mode, line in cases:
        # a good fetch first: the backoff starts again from 1 s
        issuer.mode = "ok"
        gen = status_json(port)["jwks"]["generation"]
        assert until(lambda: get(port, tok).status_code == 200
                     and status_json(port)["jwks"]["generation"] > gen,
                     timeout=8), mode

        issuer.mode = mode
        mark = len(n.log())
        # every request meanwhile verifies with the last good set
        seen = until(lambda: get(port, tok).status_code == 200
                     and failed_line(n, line, mark), timeout=10)
        assert seen, (mode, n.log()[mark:])
        r = get(port, tok)
        assert r.status_code == 200, (mode, r.headers)
        j = status_json(port)["jwks"]
        assert j["last_result"] == line.split(":")[0], (mode, j)
        assert j["last_error"], j

    # nothing private, nor the 10 MB, came into the key set
    kids = [k["kid"] for k in status_json(port)["keys"]]
    assert kids == ["k1"]


def test_stale_set_is_dropped(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port,
                     params="valid=1s stale=3s refresh_unknown=1s")
    issuer.add("k1")
    tok = issuer.token("k1")
    r = get(port, tok)
    assert r.status_code == 200, (r.headers, n.log())
    issuer.mode = "500"
    r = until(lambda: (lambda r: r if r.status_code == 401 else None)(
        get(port, tok)), timeout=10)
    assert r is not None, n.log()
    assert r.headers["X-Status"] == "keys_unavailable", (r.headers, n.log())
    assert "is past stale=, its keys are dropped" in n.log()


def test_directive_errors(nginx_factory, port):
    for conf, text in [
            ("ngsp_jwt_key_request _jwks;", "takes the URI of a location"),
            ("ngsp_jwt_key_request /_jwks valid=abc;", 'invalid "valid=abc"'),
            ("ngsp_jwt_key_request /_jwks valid=10m stale=1m;",
             "stale= is shorter than valid="),
            ("ngsp_jwt_key_request /_jwks foo=1;",
             'invalid parameter "foo=1"'),
            ("ngsp_jwt_key_request /a; ngsp_jwt_key_request /b;",
             "is duplicate")]:
        n = nginx_factory(f"""
            {conf}
            server {{
                listen 127.0.0.1:{port};
                location / {{ ngsp_jwt on; return 204; }}
            }}""", start=False)
        ok, out = n.check()
        assert not ok and text in out, out


def test_others_verify_while_a_fetch_hangs(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port,
                     params="valid=1s stale=60s refresh_unknown=1s",
                     timeout="1s")
    issuer.add("k1")
    tok = issuer.token("k1")
    assert get(port, tok).status_code == 200
    time.sleep(1.2)
    issuer.mode = "hang"

    # this request starts the fetch and waits for it (1 s timeout)
    waited = {}

    def slow():
        t = time.time()
        r = get(port, tok)
        waited["status"] = r.status_code
        waited["pid"] = r.headers["X-Pid"]
        waited["took"] = time.time() - t

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)

    # meanwhile every other request answers at once with the set at hand,
    # also in the worker whose request waits (the worker is not blocked)
    pids = set()
    sent = 0
    while sent < 10 or (t.is_alive() and len(pids) < 2):
        start = time.time()
        r = get(port, tok)
        assert r.status_code == 200
        assert time.time() - start < 0.5
        pids.add(r.headers["X-Pid"])
        sent += 1
    t.join()
    assert waited["pid"] in pids or len(pids) == 2, (waited, pids)
    assert waited["status"] == 200 and waited["took"] >= 0.9, waited
    assert len([f for f in jwks_fetches(upstream)]) == 2


def fetch_hanging(nginx_factory, upstream, port):
    """A site whose first fetch hangs at the stub, started by a request in
    a thread (whose worker a test kills): the site, its issuer, the token,
    the thread."""
    n, issuer = site(nginx_factory, upstream, port,
                     params="valid=1h stale=2h refresh_unknown=1s",
                     timeout="30s")
    issuer.add("k1")
    tok = issuer.token("k1")
    issuer.mode = "hang"

    def first():
        try:
            get(port, tok)
        except requests.RequestException:
            pass                    # its worker is killed under it

    t = threading.Thread(target=first)
    t.start()
    assert until(lambda: len(jwks_fetches(upstream)) == 1, timeout=3)
    return n, issuer, tok, t


def test_fetch_of_a_killed_worker_taken_over(nginx_factory, upstream,
                                             port):
    # the worker fetching dies (SIGKILL, as a crash): its lease is not
    # waited out (60 s) but taken over by the next worker to need keys
    n, issuer, tok, t = fetch_hanging(nginx_factory, upstream, port)
    before = n.worker_pids()
    n.expected.append(r"exited on signal 9")
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    issuer.mode = "ok"
    assert until(lambda: len(n.worker_pids()) == 2
                 and not set(n.worker_pids()) & set(before))
    # well within the lease's 60 s
    assert until(lambda: get(port, tok).status_code == 200, timeout=5)
    assert re.search(r'ngsp: the worker fetching the jwks from "/_jwks" '
                     r'\(pid \d+\) is gone; its fetch is given up', n.log())
    t.join()


def connected_to(pids, port):
    """The pid among pids with a connection established to 127.0.0.1:port
    (read from /proc: the socket's inode, then the fds holding it)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            x = line.split()
            if x[3] == "01" and int(x[2].split(":")[1], 16) == port:
                inodes.add("socket:[%s]" % x[9])
    for pid in pids:
        fds = "/proc/%d/fd" % pid
        for fd in os.listdir(fds):
            try:
                if os.readlink(os.path.join(fds, fd)) in inodes:
                    return pid
            except OSError:
                pass
    return None


def test_fetch_of_a_killed_worker_taken_over_by_the_other(
        nginx_factory, upstream, port):
    # only the worker fetching dies: the one still running takes over
    n, issuer, tok, t = fetch_hanging(nginx_factory, upstream, port)
    pids = n.worker_pids()
    fetching = until(lambda: connected_to(pids, upstream.port), timeout=3)
    assert fetching in pids
    n.expected.append(r"exited on signal 9")
    os.kill(fetching, signal.SIGKILL)
    issuer.mode = "ok"
    # the other worker, or the new one, fetches: well within 60 s
    assert until(lambda: get(port, tok).status_code == 200, timeout=5)
    assert re.search(r'ngsp: the worker fetching the jwks from "/_jwks" '
                     r'\(pid %d\) is gone; its fetch is given up' % fetching,
                     n.log())
    t.join()


def test_reload_keeps_the_fetched_set(nginx_factory, upstream, port):
    n, issuer = site(nginx_factory, upstream, port,
                     params="valid=1h stale=2h refresh_unknown=30s")
    issuer.add("k1")
    assert get(port, issuer.token("k1")).status_code == 200
    issuer.mode = "500"
    n.reload()
    for _ in range(6):
        assert get(port, issuer.token("k1")).status_code == 200
    assert len(jwks_fetches(upstream)) == 1
