"""The sections other parts provide, in both forms, read back through
Prometheus' own text parser and compared with the JSON: each worker's
Redis connection (commands equal the decisions sent, the latency
histogram counts every command, a stopped Redis shows, a restarted one
counts a reconnect), the JWT cache's hits, misses and entries, and the
key set with a certificate's expiry."""

import calendar
import collections
import datetime
import json
import time

import jwt as pyjwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from harness import Reply
from status_site import SECRET, Site, fixture, token

JSON_CT = {"Content-Type": "application/json; charset=utf-8"}
BOUNDS_US = [250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
             250000, 1000000]


def poll(cond, deadline=10.0):
    end = time.time() + deadline
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not met in %.0f s" % deadline)


def value(samples, name, **labels):
    """A sample's value; KeyError when the series is missing."""
    return samples[(name, tuple(sorted(labels.items())))]


def workers(doc):
    return {w["worker"]: w for w in doc["redis"]["workers"]}


def check_redis_forms(s, settled=True):
    """The Prometheus series of each worker equal its JSON, read just
    after; while workers retry a Redis that is down (not settled), their
    failed connects may count in between.  Returns the JSON."""
    samples, families, _ = s.prom()
    doc = s.json()
    assert families["ngsp_redis_latency_seconds"].type == "histogram"
    assert families["ngsp_redis_connects"].type == "counter"
    assert families["ngsp_redis_connected"].type == "gauge"
    for i, w in workers(doc).items():
        wl = str(i)
        assert value(samples, "ngsp_redis_connected", worker=wl) == \
            (1 if w["connected"] else 0)
        for k in ("connects", "reconnects", "timeouts", "errors"):
            v = value(samples, "ngsp_redis_%s_total" % k, worker=wl)
            if settled or k in ("connects", "reconnects"):
                assert v == w[k], k
            else:
                assert v <= w[k], k
        lat = w["latency"]
        assert lat["bounds_us"] == BOUNDS_US
        assert len(lat["counts"]) == len(BOUNDS_US) + 1
        # cumulative buckets in seconds, +Inf last, equal to _count
        run = 0
        for b, c in zip(BOUNDS_US + ["+Inf"], lat["counts"]):
            run += c
            le = "+Inf" if b == "+Inf" else repr(b / 1e6)
            got = [v for (n, l), v in samples.items()
                   if n == "ngsp_redis_latency_seconds_bucket"
                   and dict(l)["worker"] == wl
                   and (dict(l)["le"] == le
                        or (le != "+Inf" and dict(l)["le"] != "+Inf"
                            and float(dict(l)["le"]) == b / 1e6))]
            assert got == [run], (b, got, run)
        assert value(samples, "ngsp_redis_latency_seconds_count",
                     worker=wl) == run == w["commands"]
        assert abs(value(samples, "ngsp_redis_latency_seconds_sum",
                         worker=wl) - lat["sum_us"] / 1e6) < 1e-6
    return doc


def test_redis_per_worker(nginx_factory, tmp_path, upstream, redis_factory):
    upstream.routes["*"] = Reply(fixture("citizen.json"), headers=JSON_CT)
    redis = redis_factory()
    s = Site(nginx_factory, tmp_path, upstream, redis,
             policies=("std 1000r/m",))
    pids = s.nginx.worker_pids()
    assert len(pids) == 2

    before = s.json()["redis"]
    assert before["server"] == "127.0.0.1:%d" % redis.port
    assert {w["pid"] for w in before["workers"]} == set(pids)
    assert all(w["commands"] == 0 for w in before["workers"])

    decided = collections.Counter()      # worker pid -> decisions
    for i in range(24):
        r = s.get("/api/x", token("agency-%d" % (i % 3)))
        assert r.status_code == 200
        assert r.headers["X-Quota"] == "allowed"
        decided[int(r.headers["X-Pid"])] += 1
    assert len(decided) == 2, "one worker served everything"

    doc = check_redis_forms(s)
    ws = workers(doc)
    assert sorted(ws) == [0, 1]
    for w in ws.values():
        assert w["connected"] is True
        assert w["address"] == "127.0.0.1:%d" % redis.port
        assert w["connects"] == 1
        assert (w["reconnects"], w["timeouts"], w["errors"]) == (0, 0, 0)
        # each worker's own decisions, every one a command with a latency
        assert w["commands"] == decided[w["pid"]]
        assert sum(w["latency"]["counts"]) == w["commands"]
        assert w["latency"]["sum_us"] > 0
    assert sum(w["commands"] for w in ws.values()) == 24

    # Redis goes away: each worker sees its connection lost
    redis.stop()
    for _ in range(4):
        r = s.get("/api/x", token("agency-0"))
        assert r.headers["X-Quota"] == "error"
    doc = poll(lambda: (lambda d: d if all(
        not w["connected"] and w["errors"] >= 1
        for w in d["redis"]["workers"]) else None)(s.json()))
    check_redis_forms(s, settled=False)
    for w in workers(doc).values():
        assert w["reconnects"] == 0
        assert w["commands"] == decided[w["pid"]]

    # back on the same port, without a reload: both reconnect
    redis_factory(port=redis.port)
    doc = poll(lambda: (lambda d: d if all(
        w["connected"] and w["reconnects"] == 1
        for w in d["redis"]["workers"]) else None)(s.json()), 15)
    for w in workers(doc).values():
        assert w["connects"] == 2
    for i in range(6):
        r = s.get("/api/x", token("agency-1"))
        assert r.headers["X-Quota"] == "allowed"
        decided[int(r.headers["X-Pid"])] += 1
    doc = check_redis_forms(s)
    for w in workers(doc).values():
        assert w["commands"] == decided[w["pid"]]


def test_no_redis_no_section(nginx_factory, tmp_path, upstream):
    upstream.routes["*"] = Reply(fixture("citizen.json"), headers=JSON_CT)
    s = Site(nginx_factory, tmp_path, upstream)
    assert s.json()["redis"] is None
    _, _, text = s.prom()
    assert "ngsp_redis" not in text


def certificate(path, key, not_after):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ngsp idp")])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def memo_slot(token, slots=1024):
    """The slot of a worker's memo a token takes, as ngsp_jwt_memo.c
    computes it: FNV-1a on the last 64 bytes' words, then a mix."""
    b = token.encode()
    m = (1 << 64) - 1
    h = 1469598103934665603 ^ len(b)
    i = max(len(b) - 64, 0)
    while i + 8 <= len(b):
        h = ((h ^ int.from_bytes(b[i:i + 8], "little")) * 1099511628211) & m
        i += 8
    for c in b[i:]:
        h = ((h ^ c) * 1099511628211) & m
    h ^= h >> 29
    h = (h * 0xbf58476d1ce4e5b9) & m
    h ^= h >> 32
    return h & (slots - 1)


def test_jwt_cache_and_keys(nginx_factory, tmp_path, port, upstream):
    upstream.routes["/x"] = Reply(b"{}", headers=JSON_CT)
    secret = tmp_path / "hs.secret"
    secret.write_bytes(SECRET + b"\n")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    expiry = datetime.datetime(2031, 5, 17, 8, 30, 0)
    certificate(tmp_path / "idp.pem", ec_key, expiry)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))

    nginx_factory(f"""
        ngsp_jwt_key_file {secret} alg=HS256;
        ngsp_jwt_key_file {tmp_path}/idp.pem kid=idp-2031;
        ngsp_jwt_key_file {tmp_path}/rsa.pem kid=r1 alg=RS256,PS256;
        ngsp_status_zone ngsp 1m;
        server {{
            listen 127.0.0.1:{port} reuseport;
            location / {{
                ngsp_jwt on;
                add_header X-Pid $pid always;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
            location = /status {{ ngsp_status; }}
        }}""", ports=[port])

    def get(tok):
        r = requests.get("http://127.0.0.1:%d/x" % port, timeout=10,
                         headers={"Authorization": "Bearer " + tok,
                                  "Connection": "close"})
        assert r.status_code == 200, r.text
        return int(r.headers["X-Pid"])

    def forms():
        base = "http://127.0.0.1:%d/status?format=" % port
        doc = json.loads(requests.get(base + "json", timeout=10).content)
        samples = {}
        for fam in text_string_to_metric_families(
                requests.get(base + "prometheus", timeout=10).text):
            for smp in fam.samples:
                k = (smp.name, tuple(sorted(smp.labels.items())))
                assert k not in samples, k
                samples[k] = smp.value
        return doc, samples

    doc, samples = forms()
    assert doc["jwt_cache"] == {"hits": 0, "misses": 0, "entries": 0}

    # tokens each seen first by one worker (a miss, then an entry), then
    # again: a worker that has not met it yet finds it in the cache, the
    # one that has finds it in its own memo
    toks = [pyjwt_rs(rsa_key, "r1", "PS256")]
    while len(toks) < 2:
        t = pyjwt_es256(ec_key, "idp-2031")     # its signature is random
        if memo_slot(t) != memo_slot(toks[0]):
            toks.append(t)
    i = 0
    while len(toks) < 12:
        # tokens that share a slot of a worker's memo would evict each
        # other there and count a hit more: one token a slot
        t = token("so-tu-phap", jti="t%d" % i)
        if memo_slot(t) not in {memo_slot(x) for x in toks}:
            toks.append(t)
        i += 1
    served = collections.defaultdict(set)
    for _ in range(3):
        for t in toks:
            served[t].add(get(t))
    hits = sum(len(p) - 1 for p in served.values())
    assert hits > 0, "one worker served everything"

    doc, samples = forms()
    assert doc["jwt_cache"] == {"hits": hits, "misses": len(toks),
                                "entries": len(toks)}
    assert value(samples, "ngsp_jwt_cache_hits_total") == hits
    assert value(samples, "ngsp_jwt_cache_misses_total") == len(toks)
    assert value(samples, "ngsp_jwt_cache_entries") == len(toks)

    # the key set, in the order loaded
    assert doc["keys"] == [
        {"kid": None, "kty": "oct", "algs": ["HS256"],
         "bits": 8 * len(SECRET), "source": str(secret), "not_after": None},
        {"kid": "idp-2031", "kty": "EC", "algs": ["ES256"], "bits": 256,
         "source": "%s/idp.pem" % tmp_path,
         "not_after": int(expiry.replace(
             tzinfo=datetime.timezone.utc).timestamp())},
        {"kid": "r1", "kty": "RSA", "algs": ["RS256", "PS256"],
         "bits": 2048, "source": "%s/rsa.pem" % tmp_path,
         "not_after": None},
    ]
    info = {dict(l)["alg"]: dict(l) for (name, l), v in samples.items()
            if name == "ngsp_key_info" and v == 1}
    assert sorted(info) == ["ES256", "HS256", "PS256", "RS256"]
    for k in doc["keys"]:
        for alg in k["algs"]:
            assert info[alg] == {"kid": k["kid"] or "", "kty": k["kty"],
                                 "alg": alg, "source": k["source"]}
    not_after = {dict(l)["kid"]: v for (name, l), v in samples.items()
                 if name == "ngsp_key_not_after_seconds"}
    assert not_after == {"idp-2031": doc["keys"][1]["not_after"]}
    assert value(samples, "ngsp_key_not_after_seconds", kid="idp-2031",
                 source="%s/idp.pem" % tmp_path) == \
        calendar.timegm(expiry.timetuple())


def test_no_jwt_cache(nginx_factory, tmp_path, port):
    secret = tmp_path / "hs.secret"
    secret.write_bytes(SECRET + b"\n")
    nginx_factory(f"""
        ngsp_jwt_key_file {secret} alg=HS256;
        ngsp_jwt_cache off;
        ngsp_status_zone ngsp 1m;
        server {{
            listen 127.0.0.1:{port};
            location = /status {{ ngsp_status; }}
        }}""", ports=[port])
    base = "http://127.0.0.1:%d/status?format=" % port
    doc = json.loads(requests.get(base + "json", timeout=10).content)
    assert doc["jwt_cache"] is None
    assert doc["redis"] is None
    assert [k["kty"] for k in doc["keys"]] == ["oct"]
    text = requests.get(base + "prometheus", timeout=10).text
    assert "ngsp_jwt_cache" not in text
    assert 'ngsp_key_info{kid="",kty="oct",alg="HS256",source="%s"} 1' \
        % secret in text


def pyjwt_es256(key, kid):
    return pyjwt.encode({"client_id": "so-y-te",
                         "exp": int(time.time()) + 3600},
                        key, algorithm="ES256", headers={"kid": kid})


def pyjwt_rs(key, kid, alg):
    return pyjwt.encode({"client_id": "so-noi-vu",
                         "exp": int(time.time()) + 3600},
                        key, algorithm=alg, headers={"kid": kid})
