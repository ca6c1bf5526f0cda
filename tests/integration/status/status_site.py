"""Shared set-up of the status tests: nginx (2 workers, reuseport so that
requests spread over both) with JWT, quota against a real Redis, masking,
and an ngsp_status location; tokens minted by PyJWT."""

import json
import os
import re
import time

import jwt as pyjwt
import requests
from prometheus_client.parser import text_string_to_metric_families

from harness import free_port, wait_port

SECRET = b"status-tests-hmac-secret-0123456789abcdef"
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "fixtures")

PROFILES = """
    ngsp_mask_profile citizen {
        SoDinhDanh        keep_last=4;
        HoVaTen           initials;
        DanToc            remove;
        TonGiao           remove;
        SoCMND            redact;
        default           pass;
    }
    ngsp_mask_profile spare {
        DanToc            remove;
    }
"""


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def token(agency="so-tu-phap", key=SECRET, alg="HS256", headers=None,
          drop=(), **claims):
    c = {"exp": int(time.time()) + 3600}
    if agency is not None:
        c["client_id"] = agency
    c.update(claims)
    for k in drop:
        c.pop(k, None)
    return pyjwt.encode(c, key, algorithm=alg, headers=headers)


class Site:
    def __init__(self, nginx_factory, tmp_path, upstream, redis=None,
                 zone="ngsp_status_zone ngsp 1m;",
                 policies=("std 3r/m 100r/d", "wide 1000r/d"),
                 workers=2, start=True):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp_path
        secret = tmp_path / "jwt.secret"
        secret.write_bytes(SECRET + b"\n")
        key = tmp_path / "mask.key"
        key.write_bytes(b"k" * 40 + b"\n")
        self.access = tmp_path / "access.log"
        self.port = free_port()
        self.upstream = upstream
        self.redis = redis
        self.zone = zone
        self.policies = policies
        self.secret = secret
        self.key = key
        self.nginx = nginx_factory(self.conf(), workers=workers,
                                   ports=[self.port] if start else (),
                                   start=start)
        if start and redis:
            self.wait_connected(workers)

    def conf(self, zone=None, policies=None):
        zone = self.zone if zone is None else zone
        policies = self.policies if policies is None else policies
        pol = "\n".join("ngsp_quota_policy %s;" % p for p in policies)
        redis = ("ngsp_redis 127.0.0.1:%d;" % self.redis.port
                 if self.redis else "")
        quota = "ngsp_quota std;" if self.redis else ""
        return f"""
            ngsp_jwt_key_file {self.secret} alg=HS256;
            ngsp_mask_hash_key {self.key};
            {redis}
            {pol}
            {PROFILES}
            {zone}
            log_format st '$pid $ngsp_jwt_status $ngsp_quota_status '
                          '$ngsp_mask_status $ngsp_masked';
            server {{
                listen 127.0.0.1:{self.port} reuseport;
                access_log {self.access} st;
                location /api/ {{
                    ngsp_jwt on;
                    {quota}
                    ngsp_mask citizen;
                    add_header X-Quota $ngsp_quota_status always;
                    add_header X-Mask $ngsp_mask_status always;
                    proxy_pass http://127.0.0.1:{self.upstream.port};
                }}
                location /jwt/ {{
                    ngsp_jwt on;
                    ngsp_jwt_issuer https://idp.example;
                    ngsp_jwt_audience portal;
                    ngsp_jwt_require scope contains dancu.read;
                    proxy_pass http://127.0.0.1:{self.upstream.port};
                }}
                location /plain/ {{
                    proxy_pass http://127.0.0.1:{self.upstream.port};
                }}
                location = /status {{
                    ngsp_status;
                    allow 127.0.0.1;
                    deny all;
                }}
            }}"""

    def wait_connected(self, workers=2):
        end = time.time() + 10
        while time.time() < end:
            if len(re.findall(r'ngsp: redis "[^"]*" connected',
                              self.nginx.log())) >= workers:
                return
            time.sleep(0.05)
        raise AssertionError("workers did not connect to Redis")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, tok=None, auth=None, **kw):
        h = kw.pop("headers", {})
        if tok is not None:
            h["Authorization"] = "Bearer " + tok
        if auth is not None:
            h["Authorization"] = auth
        # a connection each: requests spread over the workers
        h.setdefault("Connection", "close")
        return requests.get(self.url(path), headers=h, timeout=10, **kw)

    def status(self, fmt="json", **kw):
        r = requests.get(self.url("/status?format=" + fmt), timeout=10, **kw)
        assert r.status_code == 200, r.text
        return r

    def json(self):
        return json.loads(self.status("json").content)

    def prom(self):
        """{(sample name, sorted labels): value}, families by name."""
        text = self.status("prometheus").text
        samples, families = {}, {}
        for fam in text_string_to_metric_families(text):
            families[fam.name] = fam
            for s in fam.samples:
                k = (s.name, tuple(sorted(s.labels.items())))
                assert k not in samples, "duplicate series %r" % (k,)
                samples[k] = s.value
        return samples, families, text

    def log_lines(self):
        """The access log, once both workers have written what they hold."""
        with open(self.access) as f:
            return [l.split() for l in f.read().splitlines()]

    def reload(self, zone=None, policies=None):
        self.nginx.write(self.conf(zone, policies))
        ok, out = self.nginx.check()
        assert ok, out
        self.nginx.reload()
        wait_port(self.port)
