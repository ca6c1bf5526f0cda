"""Shared set-up of the quota tests: nginx with an HMAC key, a Redis and a
stub upstream; tokens minted by PyJWT for any agency."""

import re
import struct
import time

import jwt as pyjwt
import requests

SECRET = b"quota-tests-hmac-secret-0123456789abcdef"


def token(agency, **extra):
    claims = {"client_id": agency, "exp": int(time.time()) + 3600}
    claims.update(extra)
    return pyjwt.encode(claims, SECRET, algorithm="HS256")


def redis_now(rc):
    sec, usec = rc.time()
    return sec + usec / 1e6


def poll(fn, deadline=10.0, step=0.05):
    """Calls fn until it returns something true, or fails at the deadline."""
    end = time.time() + deadline
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("condition not met in %.1fs (last: %r)"
                         % (deadline, last))


class Site:
    """One nginx in front of the upstream, quota locations inside."""

    def __init__(self, nginx_factory, redis, upstream, tmp_path, locations,
                 http_extra="", policies=None, redis_line=None, workers=2,
                 timeout="500ms", start=True):
        self.redis = redis
        self.port = None
        tmp_path.mkdir(parents=True, exist_ok=True)
        secret = tmp_path / "quota.secret"
        secret.write_bytes(SECRET + b"\n")
        from harness import free_port
        self.port = free_port()
        policies = policies or ["std 5r/d"]
        pol = "\n".join("ngsp_quota_policy %s;" % p for p in policies)
        if redis_line is None:
            redis_line = "ngsp_redis 127.0.0.1:%d;" % redis.port
        locs = "\n".join(
            """location %s {
                   %s
                   add_header X-Quota $ngsp_quota_status always;
                   add_header X-Remaining $ngsp_quota_remaining always;
                   add_header X-Policy $ngsp_quota_policy always;
                   proxy_pass http://127.0.0.1:%d;
               }""" % (path, body, upstream.port)
            for path, body in locations.items())
        self.http = f"""
            ngsp_jwt_key_file {secret} alg=HS256;
            {redis_line}
            ngsp_redis_timeout {timeout};
            {pol}
            {http_extra}
            server {{
                listen 127.0.0.1:{self.port};
                {locs}
            }}"""
        self.nginx = nginx_factory(self.http, workers=workers,
                                   ports=[self.port] if start else (),
                                   start=start)
        self.session = requests.Session()
        # a slow (sanitizer) start must not turn the first requests into
        # fail-policy answers
        if start and redis_line and "ngsp_quota " in locs:
            self.wait_connected(workers)

    def wait_connected(self, workers=2):
        """Every worker has connected to Redis (and loaded the script)."""
        poll(lambda: len(re.findall(r'ngsp: redis "[^"]*" connected',
                                    self.nginx.log())) >= workers)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, agency=None, tok=None, session=None, **kw):
        h = kw.pop("headers", {})
        if tok is None and agency is not None:
            tok = token(agency)
        if tok is not None:
            h["Authorization"] = "Bearer " + tok
        return (session or self.session).get(self.url(path), headers=h,
                                             timeout=kw.pop("timeout", 10),
                                             **kw)


def quota_state(raw, units=None):
    """A policy's state as the quota script stores it (one string per
    agency and policy, ngsp_quota_script.c): little-endian doubles, the
    policy's shape, when the key expires and when the state was measured
    (microseconds), 1 (admitted), the month window's end, then per window
    the level before the last admitted request and the limit in force.
    "counts" are the levels after it: what each window holds."""
    assert raw is not None and len(raw) % 8 == 0 and len(raw) >= 56
    n = (len(raw) // 8 - 5) // 2
    assert len(raw) == 8 * (5 + 2 * n)
    v = struct.unpack("<%dd" % (5 + 2 * n), raw)
    if units is not None:
        assert v[0] == quota_shape(units)
    return dict(shape=v[0], expires=v[1], measured=v[2], admitted=v[3],
                month_end=v[4], levels=[v[5 + 2 * i] for i in range(n)],
                counts=[v[5 + 2 * i] + 1 for i in range(n)],
                limits=[v[6 + 2 * i] for i in range(n)])


UNITS = ["s", "m", "h", "d", "mo"]


def quota_shape(units):
    """The policy's units as the script names them: a base-8 digit per
    window, its unit code + 1 (units sorted as nginx sorts them)."""
    shape = 0
    for u in units:
        shape = shape * 8 + UNITS.index(u) + 1
    return shape


def pack_state(units, measured, levels, limits, expires=0, month_end=0):
    """A state as the script would have written it after an admission."""
    nums = [quota_shape(units), expires, measured, 1, month_end]
    for lv, lim in zip(levels, limits):
        nums += [lv, lim]
    return struct.pack("<%dd" % len(nums), *nums)
