"""$ngsp_mask_reason: why a masked response was refused or cut short, one
word of a short fixed set (so the status zone can count each), and empty
for a response masked, passed or not masked at all."""

import gzip
import json
import time

import pytest

from harness import Reply
from mask_site import fixture, keyfile, raw_get  # noqa: F401
from test_mask_types import RawUpstream, answer

RECORD = fixture("citizen.json")
JSON_CT = {"Content-Type": "application/json"}


@pytest.fixture
def site(nginx_factory, upstream, port, keyfile, tmp_path):
    raw = RawUpstream()
    log = tmp_path / "reason.log"
    n = nginx_factory(f"""
        ngsp_mask_hash_key {keyfile};
        ngsp_mask_profile p {{ SoDinhDanh keep_last=4; default pass; }}
        log_format reason '$uri $ngsp_mask_status [$ngsp_mask_reason]';
        server {{
            listen 127.0.0.1:{port};
            access_log {log} reason;
            location / {{
                ngsp_mask p;
                ngsp_mask_max_depth 8;
                ngsp_mask_max_value 64;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
            location /raw/ {{
                ngsp_mask p;
                proxy_pass http://127.0.0.1:{raw.port};
            }}
            location /var/ {{
                ngsp_mask $arg_p;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
        }}""", ports=[port])
    n.raw = raw
    n.reasons = log
    n.port = port
    yield n
    raw.stop()


def reason(site, path, uri=None):
    raw_get(site.port, path)
    uri = uri or path.split("?")[0]
    for _ in range(50):
        lines = site.reasons.read_text().splitlines() \
            if site.reasons.exists() else []
        for line in lines:
            if line.startswith(uri + " "):
                return line[len(uri) + 1:]
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {uri}")


def gz(data):
    return gzip.compress(data)


CASES = [
    # path, upstream reply, expected "$ngsp_mask_status [$ngsp_mask_reason]"
    ("/ok", Reply(RECORD, headers=JSON_CT), "ok []"),
    ("/sniff", Reply(b"%PDF-1.4", headers={"Content-Type": "image/png"}),
     "error [syntax]"),
    ("/type", Reply(b'{"a":1}\n{"a":2}\n',
                    headers={"Content-Type": "application/x-ndjson"}),
     "error [type]"),
    ("/ctype", Reply(RECORD, headers={"Content-Type": "application"}),
     "error [type]"),
    ("/charset", Reply(RECORD, headers={
        "Content-Type": "application/json; charset=utf-7"}),
     "error [charset]"),
    ("/partial", Reply(b'"001099012345"', status=206, headers=dict(
        JSON_CT, **{"Content-Range": "bytes 28-41/1810"})),
     "error [partial]"),
    ("/encoding", Reply(RECORD, headers=dict(
        JSON_CT, **{"Content-Encoding": "br"})), "error [encoding]"),
    ("/compression", Reply(gz(RECORD)[:40] + b"garbage" * 30, headers=dict(
        JSON_CT, **{"Content-Encoding": "gzip"})), "error [compression]"),
    ("/syntax", Reply(b'{"SoDinhDanh": 001099012345 x}', headers=JSON_CT),
     "error [syntax]"),
    ("/truncated", Reply(b'{"SoDinhDanh": "0010990', headers=JSON_CT),
     "error [truncated]"),
    ("/depth", Reply(b"[" * 20 + b"]" * 20, headers=JSON_CT),
     "error [depth]"),
    ("/value", Reply(b'{"SoDinhDanh": "' + b"1" * 100 + b'"}',
                     headers=JSON_CT), "error [value]"),
]


@pytest.mark.parametrize("path,reply,want", CASES,
                         ids=[c[0] for c in CASES])
def test_reason(site, upstream, path, reply, want):
    upstream.routes[path] = reply
    assert reason(site, path) == want


def test_reason_profile_and_interim(site, upstream):
    upstream.routes["/var/x"] = Reply(RECORD, headers=JSON_CT)
    assert reason(site, "/var/x?p=p", "/var/x") == "ok []"
    assert reason(site, "/var/y?p=nope", "/var/y") == "error [profile]"
    assert reason(site, "/var/z?p=off", "/var/z") == "off []"
    site.raw.routes["/raw/i"] = [b"HTTP/1.1 103 Early Hints\r\n\r\n"
                                 + answer(body=RECORD)]
    assert reason(site, "/raw/i") == "error [interim]"


def test_reason_never_holds_data(site, upstream):
    # the reason is a fixed word, whatever the body held
    upstream.routes["/v"] = Reply(json.dumps(
        {"SoDinhDanh": "001099012345" * 10}).encode(), headers=JSON_CT)
    line = reason(site, "/v")
    assert line == "error [value]"
    assert "0010990" not in site.reasons.read_text()
