"""The audit log of conf/ngsp-audit.conf through real nginx: the citizen's
number, in the path or in an argument, plain or percent-encoded, is
logged only as its HMAC under ngsp_mask_hash_key (computed here with
Python's hmac), in the access log and in the error log; the masked body
carries the same pseudonym."""

import hashlib
import hmac
import json
import os
import subprocess

import pytest
import requests

from harness import Reply, free_port
from mask_site import KEY, keyfile, raw_get  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
AUDIT_CONF = os.path.abspath(os.path.join(HERE, "..", "..", "..", "conf",
                                          "ngsp-audit.conf"))

ID = "001099012345"
ID2 = "079203007788"
FIELDS = {"time", "request_id", "agency", "officer", "jwt_status",
          "quota_status", "quota_policy", "mask_status", "mask_profile",
          "masked", "method", "uri", "status", "upstream_status",
          "request_length", "bytes_sent", "body_bytes_sent",
          "request_time", "server", "client"}


def pseudonym(value):
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


def site(prefix, port, up, dead, keyfile, rules_at_http=True):
    rules = """
        ngsp_audit_uri_match "~^/congdan/([0-9]{12})";
        ngsp_audit_uri_match "~^/down/([0-9]{12})";
        ngsp_audit_uri_args soDinhDanh cccd;
    """
    return f"""
        include {AUDIT_CONF};
        ngsp_mask_hash_key {keyfile};
        ngsp_mask_profile citizen {{
            SoDinhDanh  hash;
            default     pass;
        }}
        {rules if rules_at_http else ""}
        server {{
            listen 127.0.0.1:{port};
            access_log {prefix}/audit.log ngsp_audit;
            client_max_body_size 10;
            log_subrequest on;

            location /congdan/ {{
                {"" if rules_at_http else rules}
                ngsp_mask citizen;
                proxy_pass http://127.0.0.1:{up};
            }}
            location /tra-cuu {{
                {"" if rules_at_http else rules}
                ngsp_mask citizen;
                proxy_pass http://127.0.0.1:{up};
            }}
            location /down/ {{
                {"" if rules_at_http else rules}
                proxy_pass http://127.0.0.1:{dead}/api/;
            }}
            location /old/ {{
                {"" if rules_at_http else rules}
                rewrite ^/old/(.*)$ /congdan/$1 last;
            }}
            location /missing/ {{
                {"" if rules_at_http else rules}
                error_page 404 = /not-found;
                return 404;
            }}
            location = /not-found {{
                return 200 "not found\\n";
            }}
            location /mirrored/ {{
                {"" if rules_at_http else rules}
                mirror /mirror;
                proxy_pass http://127.0.0.1:{up};
            }}
            location = /mirror {{
                internal;
                proxy_pass http://127.0.0.1:{dead}/copy$request_uri;
            }}
            location /checked/ {{
                {"" if rules_at_http else rules}
                auth_request /auth;
                proxy_pass http://127.0.0.1:{up};
            }}
            location = /auth {{
                internal;
                proxy_pass http://127.0.0.1:{dead}$request_uri;
            }}
        }}
    """


@pytest.fixture(params=[True, False], ids=["rules-in-http", "rules-in-loc"])
def audited(request, nginx_factory, upstream, keyfile, tmp_path):
    port = free_port()
    dead = free_port()
    record = json.dumps({"SoDinhDanh": ID, "HoVaTen": "Nguyen Van An"})
    upstream.routes["*"] = Reply(record.encode(), headers={
        "Content-Type": "application/json"})
    n = nginx_factory(site(tmp_path, port, upstream.port, dead, keyfile,
                           request.param), ports=[port])
    n.port = port
    n.audit_log = os.path.join(str(tmp_path), "audit.log")
    return n


def records(n):
    # the access log is written when the request ends; stop nginx to be sure
    # every worker has written its lines
    with open(n.audit_log) as f:
        lines = f.read().splitlines()
    out = [json.loads(line) for line in lines]
    for r in out:
        assert set(r) == FIELDS, r
    return out


def assert_nowhere(n, *values):
    with open(n.audit_log, "rb") as f:
        audit = f.read()
    err = n.log().encode()
    for v in values:
        assert v.encode() not in audit, audit
        assert v.encode() not in err, err


def test_path_and_argument_are_pseudonymised(audited):
    """By path and by argument, plain and percent-encoded, repeated and
    in another case: the audit record holds the HMAC, never the number;
    the masked body carries the same HMAC."""
    h, h2 = pseudonym(ID), pseudonym(ID2)
    base = "http://127.0.0.1:%d" % audited.port

    r = requests.get(base + "/congdan/" + ID)
    assert r.status_code == 200
    assert r.json()["SoDinhDanh"] == h
    head, body = raw_get(audited.port, "/congdan/%30%30%31099012345?x=1")
    assert " 200 " in head.splitlines()[0]
    r = requests.get(base + "/tra-cuu?soDinhDanh=%s&loai=2" % ID)
    assert r.status_code == 200
    raw_get(audited.port, "/tra-cuu?so%%44inhDanh=%s&cccd=%s&cccd=%s"
            % ("%30%30%31099012345", ID2, ID))
    raw_get(audited.port, "/tra-cuu?SODINHDANH=%s&soDinhDanh&cccd=" % ID)
    raw_get(audited.port, "/tra-cuu?")
    raw_get(audited.port, "/tra-cuu?cccd=079+203")
    audited.stop()

    uris = [r["uri"] for r in records(audited)]
    assert uris == [
        "/congdan/" + h,
        "/congdan/%s?x=1" % h,
        "/tra-cuu?soDinhDanh=%s&loai=2" % h,
        "/tra-cuu?so%%44inhDanh=%s&cccd=%s&cccd=%s" % (h, h2, h),
        "/tra-cuu?SODINHDANH=%s&soDinhDanh&cccd=" % h,
        "/tra-cuu?",
        "/tra-cuu?cccd=%s" % pseudonym("079 203"),
    ]
    assert_nowhere(audited, ID, ID2, "%30%30%31099012345")


def test_record_fields(audited):
    """Each line is one JSON object with the documented fields."""
    requests.get("http://127.0.0.1:%d/congdan/%s" % (audited.port, ID),
                 headers={"X-Request-Id": "ignored"})
    audited.stop()
    (rec,) = records(audited)
    assert rec["method"] == "GET"
    assert rec["status"] == "200"
    assert rec["upstream_status"] == "200"
    assert rec["mask_status"] == "ok"
    assert rec["mask_profile"] == "citizen"
    assert int(rec["masked"]) == 1
    assert rec["jwt_status"] == "missing"
    assert rec["quota_status"] == "off"
    assert len(rec["request_id"]) == 32
    assert int(rec["bytes_sent"]) > int(rec["body_bytes_sent"]) > 0
    assert rec["time"][:2] == "20" and "T" in rec["time"]


def test_error_log_shows_the_pseudonym(audited):
    """An upstream that is down and a body too large: nginx's error-log
    lines show the request line and the upstream URI pseudonymised."""
    h = pseudonym(ID)
    base = "http://127.0.0.1:%d" % audited.port

    assert requests.get(base + "/down/%s?cccd=%s" % (ID, ID)).status_code \
        == 502
    assert requests.post(base + "/congdan/" + ID,
                         data=b"x" * 100).status_code == 413
    assert requests.get(base + "/down/x?soDinhDanh=%s" % ID).status_code \
        == 502
    audited.stop()

    log = audited.log()
    lines = [l for l in log.splitlines() if "connect() failed" in l]
    assert len(lines) >= 2, log
    assert ('request: "GET /down/%s?cccd=%s HTTP/1.1"' % (ID, h)) not in log
    # the upstream URI's path (/api/...) matches no pattern: the value
    # the client's URI had there is replaced all the same
    assert 'request: "GET /down/%s?cccd=%s HTTP/1.1"' % (h, h) in log, log
    assert 'upstream: "http://127.0.0.1:' in lines[0]
    assert "/api/%s?cccd=%s" % (h, h) in lines[0], lines[0]
    assert ('request: "GET /down/x?soDinhDanh=%s HTTP/1.1"' % h) in log, log
    big = [l for l in log.splitlines() if "too large body" in l]
    assert big and 'request: "POST /congdan/%s HTTP/1.1"' % h in big[0], log
    assert_nowhere(audited, ID)


def test_redirects_and_subrequests_log_the_original_uri(audited):
    """A rewrite into another location, an error_page into a location
    without rules, a mirror and an auth_request subrequest: the records
    and error lines carry the client's URI, pseudonymised."""
    h = pseudonym(ID)
    base = "http://127.0.0.1:%d" % audited.port

    assert requests.get(base + "/old/" + ID).status_code == 200
    assert requests.get(base + "/missing/?cccd=" + ID).text == "not found\n"
    assert requests.get(base + "/mirrored/?cccd=" + ID).status_code == 200
    assert requests.get(base + "/checked/?cccd=" + ID).status_code == 500
    audited.stop()

    uris = [r["uri"] for r in records(audited)]
    # /old/ matches no pattern: the value found in the URI the rewrite
    # made is replaced in the client's URI
    assert uris[0] == "/old/%s" % h
    assert "/missing/?cccd=%s" % h in uris
    assert "/mirrored/?cccd=%s" % h in uris
    # the subrequest's own record (log_subrequest on) too
    assert uris.count("/checked/?cccd=%s" % h) == 2, uris
    log = audited.log()
    sub = [l for l in log.splitlines() if 'subrequest: "/mirror"' in l]
    assert sub, log
    assert 'request: "GET /mirrored/?cccd=%s HTTP/1.1"' % h in sub[0]
    assert "/copy/mirrored/?cccd=%s" % h in sub[0], sub[0]
    auth = [l for l in log.splitlines() if 'subrequest: "/auth"' in l]
    assert auth and "/checked/?cccd=%s" % h in auth[0], log
    assert_nowhere(audited, ID)


def test_rewrite_into_a_pattern_location(nginx_factory, keyfile, tmp_path):
    """The rules of the location a rewrite leaves apply as well as those
    of the one it enters; and /old/ has none here, /congdan/ has them."""
    port = free_port()
    n = nginx_factory(f"""
        include {AUDIT_CONF};
        ngsp_mask_hash_key {keyfile};
        server {{
            listen 127.0.0.1:{port};
            access_log {tmp_path}/audit.log ngsp_audit;
            location /old/ {{
                rewrite ^/old/(.*)$ /congdan/$1 last;
            }}
            location /congdan/ {{
                ngsp_audit_uri_match "~/([0-9]{{12}})$";
                return 200 "ok\\n";
            }}
        }}
    """, ports=[port])
    requests.get("http://127.0.0.1:%d/old/%s" % (port, ID))
    n.stop()
    with open(tmp_path / "audit.log") as f:
        (line,) = f.read().splitlines()
    assert json.loads(line)["uri"] == "/old/" + pseudonym(ID)


def test_without_rules_the_uri_is_as_it_is(nginx_factory, tmp_path):
    port = free_port()
    n = nginx_factory(f"""
        include {AUDIT_CONF};
        server {{
            listen 127.0.0.1:{port};
            access_log {tmp_path}/audit.log ngsp_audit;
            location / {{ return 200 "ok\\n"; }}
        }}
    """, ports=[port])
    requests.get("http://127.0.0.1:%d/a%%20b?c=d" % port)
    n.stop()
    with open(tmp_path / "audit.log") as f:
        (line,) = f.read().splitlines()
    assert json.loads(line)["uri"] == "/a%20b?c=d"


def test_error_log_off_keeps_nginx_lines(nginx_factory, keyfile, tmp_path):
    """ngsp_audit_error_log off: nginx's own request line, as it was."""
    port, dead = free_port(), free_port()
    n = nginx_factory(f"""
        ngsp_mask_hash_key {keyfile};
        ngsp_audit_uri_args cccd;
        ngsp_audit_error_log off;
        server {{
            listen 127.0.0.1:{port};
            location / {{ proxy_pass http://127.0.0.1:{dead}; }}
        }}
    """, ports=[port])
    requests.get("http://127.0.0.1:%d/x?cccd=1234" % port)
    n.stop()
    assert 'request: "GET /x?cccd=1234 HTTP/1.1"' in n.log()


def test_http2_request_line(nginx_factory, keyfile, tmp_path):
    """HTTP/2 builds its request line apart from the URI: it is rebuilt
    from the method, the pseudonymised URI and the protocol."""
    port, dead = free_port(), free_port()
    n = nginx_factory(f"""
        ngsp_mask_hash_key {keyfile};
        ngsp_audit_uri_args cccd;
        server {{
            listen 127.0.0.1:{port} http2;
            location / {{ proxy_pass http://127.0.0.1:{dead}; }}
        }}
    """, ports=[port])
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "--http2-prior-knowledge",
                        "http://127.0.0.1:%d/x?cccd=%s" % (port, ID)],
                       capture_output=True, text=True)
    assert p.stdout == "502"
    n.stop()
    log = n.log()
    assert 'request: "GET /x?cccd=%s HTTP/2.0"' % pseudonym(ID) in log, log
    assert ID not in log
